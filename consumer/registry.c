#include "registry.h"

#include <ctype.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <curl/curl.h>
#include <jansson.h>

/* A registry answer larger than this is not a schema: the transfer is cut
 * rather than letting a misdirected URL fill the memory. */
#define MAX_BODY (16u << 20)

struct ltv_registry_s {
    CURL *h;
    char *base;
    struct curl_slist *hdr_get, *hdr_post;
    ltv_buf_t body;
    int overflow;
    char curl_err[CURL_ERROR_SIZE];
    ltv_registry_stats_t st;
};

/* ---- URLs ------------------------------------------------------------------------ */

int ltv_registry_base(const char *url, ltv_buf_t *out, char *errstr, size_t errstr_size) {
    const char *host = NULL;
    if (!strncmp(url, "http://", 7))
        host = url + 7;
    else if (!strncmp(url, "https://", 8))
        host = url + 8;
    if (!host || !*host || *host == '/') {
        /* The value is not repeated: it may carry credentials. */
        ltv_errf(errstr, errstr_size,
                 "schema.registry.url: not an http:// or https:// URL with a host");
        return -1;
    }
    /* Confluent's clients take a comma-separated list; one URL here (a
     * load balancer or a Kubernetes Service in front of the instances),
     * said at start rather than failing at the first lookup. */
    for (const char *p = url; *p; p++) {
        if (*p == ',' || isspace((unsigned char)*p)) {
            ltv_errf(errstr, errstr_size,
                     "schema.registry.url: one URL expected (put several registry instances "
                     "behind one address)");
            return -1;
        }
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    ltv_buf_append(out, url, n);
    return 0;
}

void ltv_registry_url_schema(const char *base, int32_t id, ltv_buf_t *out) {
    ltv_buf_printf(out, "%s/schemas/ids/%ld", base, (long)id);
}

void ltv_registry_url_register(const char *base, const char *subject, ltv_buf_t *out) {
    ltv_buf_printf(out, "%s/subjects/", base);
    /* Topic names are [a-zA-Z0-9._-], all unreserved in a URL; anything
     * else is escaped so a subject can never change the path. */
    for (const unsigned char *p = (const unsigned char *)subject; *p; p++) {
        if (isalnum(*p) || *p == '.' || *p == '_' || *p == '-' || *p == '~')
            ltv_buf_putc(out, (char)*p);
        else
            ltv_buf_printf(out, "%%%02X", *p);
    }
    ltv_buf_puts(out, "/versions");
}

char *ltv_registry_register_body(const char *schema_json) {
    json_t *j = json_pack("{s:s}", "schema", schema_json);
    if (!j)
        return NULL; /* not valid UTF-8 */
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* ---- answers --------------------------------------------------------------------- */

/* The registry's error_code, or 0 when the body is not its error JSON. */
static long long error_code(json_t *j) {
    json_t *c = json_object_get(j, "error_code");
    return json_is_integer(c) ? json_integer_value(c) : 0;
}

/* "HTTP 503: <message>" plus a hint for answers that point at the
 * configuration rather than at an outage. */
static void describe(long status, json_t *j, char *errstr, size_t errstr_size) {
    json_t *m = json_object_get(j, "message");
    const char *msg = json_is_string(m) ? json_string_value(m) : NULL;
    const char *hint = "";
    if (status == 401 || status == 403)
        hint = " (check schema.registry.basic.auth.user.info)";
    else if (status == 404 || (status >= 200 && status < 300))
        hint = " (not a Schema Registry answer: check schema.registry.url)";
    ltv_errf(errstr, errstr_size, "HTTP %ld%s%s%s", status, msg ? ": " : "", msg ? msg : "",
             hint);
}

static json_t *load(const char *body, size_t len) {
    json_error_t je;
    return body && len ? json_loadb(body, len, 0, &je) : NULL;
}

ltv_reg_res_t ltv_registry_parse_schema(long status, const char *body, size_t len,
                                        char **schema_json, char *errstr, size_t errstr_size) {
    *schema_json = NULL;
    json_t *j = load(body, len);
    ltv_reg_res_t res = LTV_REG_UNAVAILABLE;
    json_t *s = json_object_get(j, "schema");
    if (status == 200 && json_is_string(s)) {
        /* No schemaType means Avro (the registry omits it for Avro). */
        json_t *t = json_object_get(j, "schemaType");
        json_t *refs = json_object_get(j, "references");
        if (t && !(json_is_string(t) && !strcmp(json_string_value(t), "AVRO"))) {
            ltv_errf(errstr, errstr_size, "a %s schema, not Avro",
                     json_is_string(t) ? json_string_value(t) : "non-Avro");
            res = LTV_REG_REJECTED;
        } else if (json_array_size(refs) > 0) {
            ltv_errf(errstr, errstr_size, "the schema references other subjects' schemas, which "
                                          "are not supported");
            res = LTV_REG_REJECTED;
        } else {
            *schema_json = ltv_strdup(json_string_value(s));
            res = LTV_REG_OK;
        }
    } else if (status == 404 && error_code(j) == 40403) {
        ltv_errf(errstr, errstr_size, "the Schema Registry has no such schema (40403)");
        res = LTV_REG_NOT_FOUND;
    } else {
        /* Everything else is not an answer about this id: an outage, a
         * proxy's error page, refused credentials. Retried; dead-lettering
         * events because of it would lose them for a passing cause. */
        describe(status, j, errstr, errstr_size);
    }
    json_decref(j);
    return res;
}

ltv_reg_res_t ltv_registry_parse_register(long status, const char *body, size_t len,
                                          int32_t *id, char *errstr, size_t errstr_size) {
    json_t *j = load(body, len);
    ltv_reg_res_t res = LTV_REG_UNAVAILABLE;
    json_t *v = json_object_get(j, "id");
    if (status >= 200 && status < 300 && json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= INT32_MAX) {
        *id = (int32_t)json_integer_value(v);
        res = LTV_REG_OK;
    } else if (status == 409 || status == 422) {
        /* 409: incompatible with the subject's earlier versions under its
         * compatibility rule; 422: not a valid schema. Retrying cannot
         * change either. */
        describe(status, j, errstr, errstr_size);
        res = LTV_REG_REJECTED;
    } else {
        describe(status, j, errstr, errstr_size);
    }
    json_decref(j);
    return res;
}

/* ---- HTTP ------------------------------------------------------------------------ */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;

static void curl_init(void) { curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT); }

static size_t on_body(char *p, size_t size, size_t n, void *opaque) {
    ltv_registry_t *r = opaque;
    size_t len = size * n;
    if (r->body.n + len > MAX_BODY) {
        r->overflow = 1;
        return 0; /* aborts the transfer */
    }
    ltv_buf_append(&r->body, p, len);
    return len;
}

ltv_registry_t *ltv_registry_new(const char *url, const char *user_info, int64_t timeout_ms,
                                 char *errstr, size_t errstr_size) {
    ltv_buf_t base;
    ltv_buf_init(&base);
    if (ltv_registry_base(url, &base, errstr, errstr_size)) {
        ltv_buf_free(&base);
        return NULL;
    }
    pthread_once(&curl_once, curl_init);
    ltv_registry_t *r = ltv_calloc(1, sizeof(*r));
    r->base = base.p;
    r->st.up = 1;
    ltv_buf_init(&r->body);
    if (curl_init_rc != CURLE_OK || !(r->h = curl_easy_init())) {
        ltv_errf(errstr, errstr_size, "schema registry: libcurl cannot start");
        goto err;
    }
    static const char accept[] = "Accept: application/vnd.schemaregistry.v1+json, "
                                 "application/json";
    r->hdr_get = curl_slist_append(NULL, accept);
    r->hdr_post = curl_slist_append(NULL, accept);
    r->hdr_post = curl_slist_append(r->hdr_post,
                                    "Content-Type: application/vnd.schemaregistry.v1+json");
    CURL *h = r->h;
    /* No signals: a timeout must not need SIGALRM in a process with
     * librdkafka's threads. One handle, reused: the connection stays open
     * between lookups. */
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_POSTREDIR, (long)CURL_REDIR_POST_ALL);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
    curl_easy_setopt(h, CURLOPT_USERAGENT, "ltvstream/" LTV_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->curl_err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
    if (user_info && *user_info) {
        if (!strchr(user_info, ':')) {
            ltv_errf(errstr, errstr_size,
                     "schema.registry.basic.auth.user.info: \"user:password\" expected");
            goto err;
        }
        /* Sent to the configured host only: libcurl drops credentials on a
         * redirect to another host. */
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERPWD, user_info);
    }
    return r;

err:
    ltv_registry_destroy(r);
    return NULL;
}

void ltv_registry_destroy(ltv_registry_t *r) {
    if (!r)
        return;
    if (r->h)
        curl_easy_cleanup(r->h);
    curl_slist_free_all(r->hdr_get);
    curl_slist_free_all(r->hdr_post);
    ltv_buf_free(&r->body);
    free(r->base);
    free(r);
}

/* One request; the body ends up in r->body (NUL-terminated). Returns the
 * HTTP status, or -1 with errstr when there was no HTTP answer. */
static long perform(ltv_registry_t *r, const char *url, const char *post, char *errstr,
                    size_t errstr_size) {
    CURL *h = r->h;
    ltv_buf_reset(&r->body);
    r->overflow = 0;
    r->curl_err[0] = '\0';
    curl_easy_setopt(h, CURLOPT_URL, url);
    if (post) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, post);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(post));
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdr_post);
    } else {
        curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->hdr_get);
    }
    r->st.requests++;
    CURLcode rc = curl_easy_perform(h);
    ltv_buf_putc(&r->body, '\0');
    r->body.n--;
    if (rc != CURLE_OK) {
        ltv_errf(errstr, errstr_size, "%s",
                 r->overflow ? "answer too large"
                             : r->curl_err[0] ? r->curl_err : curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

/* One request to `url` (GET, or POST of `post`) and its answer classified
 * (parse_register with a POST, parse_schema with a GET); counted, and the
 * detail prefixed with the method and path only, as the base URL may carry
 * credentials (user:password@host). */
static ltv_reg_res_t exchange(ltv_registry_t *r, const char *url, const char *post,
                              char **schema_json, int32_t *id, char *errstr,
                              size_t errstr_size) {
    char inner[512];
    long status = perform(r, url, post, inner, sizeof(inner));
    ltv_reg_res_t res;
    if (status < 0)
        res = LTV_REG_UNAVAILABLE;
    else if (post)
        res = ltv_registry_parse_register(status, r->body.p, r->body.n, id, inner,
                                          sizeof(inner));
    else
        res = ltv_registry_parse_schema(status, r->body.p, r->body.n, schema_json, inner,
                                        sizeof(inner));
    if (res == LTV_REG_UNAVAILABLE)
        r->st.unavailable++;
    r->st.up = res != LTV_REG_UNAVAILABLE;
    if (res != LTV_REG_OK)
        ltv_errf(errstr, errstr_size, "schema registry %s %s: %s", post ? "POST" : "GET",
                 url + strlen(r->base), inner);
    return res;
}

ltv_reg_res_t ltv_registry_get_schema(ltv_registry_t *r, int32_t id, char **schema_json,
                                      char *errstr, size_t errstr_size) {
    *schema_json = NULL;
    ltv_buf_t url;
    ltv_buf_init(&url);
    ltv_registry_url_schema(r->base, id, &url);
    ltv_reg_res_t res = exchange(r, url.p, NULL, schema_json, NULL, errstr, errstr_size);
    ltv_buf_free(&url);
    return res;
}

ltv_reg_res_t ltv_registry_register(ltv_registry_t *r, const char *subject,
                                    const char *schema_json, int32_t *id, char *errstr,
                                    size_t errstr_size) {
    char *body = ltv_registry_register_body(schema_json);
    if (!body) {
        ltv_errf(errstr, errstr_size, "schema of subject %s is not valid UTF-8", subject);
        return LTV_REG_REJECTED;
    }
    ltv_buf_t url;
    ltv_buf_init(&url);
    ltv_registry_url_register(r->base, subject, &url);
    ltv_reg_res_t res = exchange(r, url.p, body, NULL, id, errstr, errstr_size);
    ltv_buf_free(&url);
    free(body);
    return res;
}

void ltv_registry_stats(const ltv_registry_t *r, ltv_registry_stats_t *out) { *out = r->st; }
