/*
 * The Schema Registry client's pure parts (consumer/registry.c), no I/O:
 * base URLs checked and normalised, request URLs built (subjects
 * percent-encoded), the registration body, and above all the
 * classification of answers, which decides between "dead-letter the event"
 * and "wait and retry": only a registry's own definitive answers (the
 * schema; 404 with error_code 40403; a schema that is not Avro; 409/422 to
 * a registration) are definitive, everything else (5xx, refused
 * credentials, a proxy's error page, a 200 that is not the registry's JSON)
 * is retried. Expected values are written out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "registry.h"

static void assert_base(const char *url, const char *want) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    char err[256] = "";
    assert_int_equal(ltv_registry_base(url, &b, err, sizeof(err)), 0);
    ltv_buf_putc(&b, '\0');
    assert_string_equal(b.p, want);
    ltv_buf_free(&b);
}

static void assert_bad_base(const char *url, const char *needle) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    char err[256] = "";
    assert_int_equal(ltv_registry_base(url, &b, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "schema.registry.url"));
    assert_non_null(strstr(err, needle));
    ltv_buf_free(&b);
}

static void test_base_urls(void **state) {
    (void)state;
    assert_base("http://registry:8081", "http://registry:8081");
    assert_base("http://registry:8081/", "http://registry:8081");
    assert_base("https://sr.example.com/prefix//", "https://sr.example.com/prefix");
    assert_base("http://user:pw@127.0.0.1:1", "http://user:pw@127.0.0.1:1");
    assert_bad_base("", "not an http");
    assert_bad_base("registry:8081", "not an http");
    assert_bad_base("ftp://registry", "not an http");
    assert_bad_base("http://", "not an http");
    assert_bad_base("https:///path", "not an http");
    assert_bad_base("http://a:8081,http://b:8081", "one URL");
    assert_bad_base("http://a:8081 http://b:8081", "one URL");
}

static void test_request_urls(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_registry_url_schema("http://r:8081", 7, &b);
    ltv_buf_putc(&b, '\0');
    assert_string_equal(b.p, "http://r:8081/schemas/ids/7");
    ltv_buf_reset(&b);
    ltv_registry_url_schema("http://r:8081/p", INT32_MAX, &b);
    ltv_buf_putc(&b, '\0');
    assert_string_equal(b.p, "http://r:8081/p/schemas/ids/2147483647");
    ltv_buf_reset(&b);
    ltv_registry_url_register("http://r:8081", "ltv.f2_rate-value", &b);
    ltv_buf_putc(&b, '\0');
    assert_string_equal(b.p, "http://r:8081/subjects/ltv.f2_rate-value/versions");
    ltv_buf_reset(&b);
    /* Not a Kafka topic name, but nothing may leak into the path. */
    ltv_registry_url_register("http://r", "a b/c%d?\xc3\xa9", &b);
    ltv_buf_putc(&b, '\0');
    assert_string_equal(b.p, "http://r/subjects/a%20b%2Fc%25d%3F%C3%A9/versions");
    ltv_buf_free(&b);
}

static void test_register_body(void **state) {
    (void)state;
    char *s = ltv_registry_register_body("{\"type\":\"record\",\"name\":\"R\",\"doc\":\"a\\nb\"}");
    assert_non_null(s);
    /* The schema text as one JSON string: quotes and the backslash of its
     * own escape escaped again. */
    assert_string_equal(
        s, "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"R\\\",\\\"doc\\\":"
           "\\\"a\\\\nb\\\"}\"}");
    free(s);
    s = ltv_registry_register_body("\"bad \xff utf-8\"");
    assert_null(s);
}

/* ---- GET /schemas/ids/{id} --------------------------------------------------------- */

static ltv_reg_res_t get(long status, const char *body, char **schema, char *err, size_t n) {
    return ltv_registry_parse_schema(status, body, body ? strlen(body) : 0, schema, err, n);
}

static void test_schema_found(void **state) {
    (void)state;
    char *schema = NULL;
    char err[256] = "";
    assert_int_equal(
        get(200, "{\"schema\":\"{\\\"type\\\":\\\"record\\\",\\\"name\\\":\\\"P\\\",\\\"fields\\\""
                 ":[]}\"}",
            &schema, err, sizeof(err)),
        LTV_REG_OK);
    assert_string_equal(schema, "{\"type\":\"record\",\"name\":\"P\",\"fields\":[]}");
    free(schema);
    /* schemaType AVRO (newer registries may say it) and empty references. */
    assert_int_equal(get(200, "{\"schemaType\":\"AVRO\",\"references\":[],\"schema\":\"\\\"long\\\"\"}",
                         &schema, err, sizeof(err)),
                     LTV_REG_OK);
    assert_string_equal(schema, "\"long\"");
    free(schema);
}

static void test_schema_definitive_misses(void **state) {
    (void)state;
    char *schema = NULL;
    char err[256] = "";
    assert_int_equal(get(404, "{\"error_code\":40403,\"message\":\"Schema 7 not found\"}", &schema,
                         err, sizeof(err)),
                     LTV_REG_NOT_FOUND);
    assert_null(schema);
    assert_non_null(strstr(err, "40403"));
    assert_int_equal(get(200, "{\"schemaType\":\"PROTOBUF\",\"schema\":\"syntax = \\\"proto3\\\";\"}",
                         &schema, err, sizeof(err)),
                     LTV_REG_REJECTED);
    assert_null(schema);
    assert_non_null(strstr(err, "PROTOBUF"));
    assert_int_equal(get(200, "{\"schemaType\":\"JSON\",\"schema\":\"{}\"}", &schema, err,
                         sizeof(err)),
                     LTV_REG_REJECTED);
    assert_int_equal(get(200,
                         "{\"schema\":\"\\\"x.Y\\\"\",\"references\":[{\"name\":\"x.Y\","
                         "\"subject\":\"y\",\"version\":1}]}",
                         &schema, err, sizeof(err)),
                     LTV_REG_REJECTED);
    assert_non_null(strstr(err, "references"));
}

static void test_schema_no_answer(void **state) {
    (void)state;
    char *schema = NULL;
    char err[256] = "";
    /* The registry itself failing. */
    assert_int_equal(get(500, "{\"error_code\":50001,\"message\":\"Error in the backend data store\"}",
                         &schema, err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_string_equal(err, "HTTP 500: Error in the backend data store");
    assert_int_equal(get(503, NULL, &schema, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_string_equal(err, "HTTP 503");
    assert_int_equal(get(429, "{}", &schema, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    /* Not about the id: the subject-not-found code, a proxy's 404 page. */
    assert_int_equal(get(404, "{\"error_code\":40401,\"message\":\"Subject not found.\"}", &schema,
                         err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_int_equal(get(404, "<html>Not Found</html>", &schema, err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_string_equal(err, "HTTP 404 (not a Schema Registry answer: check schema.registry.url)");
    /* Refused credentials: a configuration error, never a reason to drop
     * events. */
    assert_int_equal(get(401, "{\"error_code\":401,\"message\":\"Unauthorized\"}", &schema, err,
                         sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_string_equal(err,
                        "HTTP 401: Unauthorized (check schema.registry.basic.auth.user.info)");
    assert_int_equal(get(403, NULL, &schema, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    /* A 200 that is not the registry's JSON. */
    assert_int_equal(get(200, "<html>captive portal</html>", &schema, err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_non_null(strstr(err, "check schema.registry.url"));
    assert_int_equal(get(200, "{\"schema\":5}", &schema, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(get(200, "{\"schema\":\"trunc", &schema, err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_int_equal(get(200, "", &schema, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_null(schema);
}

/* ---- POST /subjects/{subject}/versions --------------------------------------------- */

static ltv_reg_res_t reg(long status, const char *body, int32_t *id, char *err, size_t n) {
    return ltv_registry_parse_register(status, body, body ? strlen(body) : 0, id, err, n);
}

static void test_register_answers(void **state) {
    (void)state;
    int32_t id = -1;
    char err[256] = "";
    assert_int_equal(reg(200, "{\"id\":1001}", &id, err, sizeof(err)), LTV_REG_OK);
    assert_int_equal(id, 1001);
    assert_int_equal(reg(200, "{\"id\":2147483647}", &id, err, sizeof(err)), LTV_REG_OK);
    assert_int_equal(id, INT32_MAX);
    id = -1;
    assert_int_equal(reg(200, "{\"id\":2147483648}", &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(reg(200, "{\"id\":-3}", &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(reg(200, "{\"id\":\"7\"}", &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(reg(200, "{}", &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(id, -1);
    /* Refusals that no retry can change. */
    assert_int_equal(reg(409,
                         "{\"error_code\":409,\"message\":\"Schema being registered is "
                         "incompatible with an earlier schema\"}",
                         &id, err, sizeof(err)),
                     LTV_REG_REJECTED);
    assert_string_equal(
        err, "HTTP 409: Schema being registered is incompatible with an earlier schema");
    assert_int_equal(reg(422, "{\"error_code\":42201,\"message\":\"Invalid schema\"}", &id, err,
                         sizeof(err)),
                     LTV_REG_REJECTED);
    /* The rest: try again. */
    assert_int_equal(reg(500, NULL, &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(reg(502, "<html>Bad Gateway</html>", &id, err, sizeof(err)),
                     LTV_REG_UNAVAILABLE);
    assert_int_equal(reg(401, NULL, &id, err, sizeof(err)), LTV_REG_UNAVAILABLE);
    assert_int_equal(id, -1);
}

/* ---- the handle: what is refused at start ------------------------------------------ */

static void test_new_refuses(void **state) {
    (void)state;
    char err[256] = "";
    assert_null(ltv_registry_new("registry:8081", NULL, 1000, err, sizeof(err)));
    assert_non_null(strstr(err, "schema.registry.url"));
    assert_null(ltv_registry_new("http://r:8081", "no-colon", 1000, err, sizeof(err)));
    assert_non_null(strstr(err, "schema.registry.basic.auth.user.info"));
    assert_null(strstr(err, "no-colon")); /* a secret is not repeated in a log line */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base_urls),
        cmocka_unit_test(test_request_urls),
        cmocka_unit_test(test_register_body),
        cmocka_unit_test(test_schema_found),
        cmocka_unit_test(test_schema_definitive_misses),
        cmocka_unit_test(test_schema_no_answer),
        cmocka_unit_test(test_register_answers),
        cmocka_unit_test(test_new_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
