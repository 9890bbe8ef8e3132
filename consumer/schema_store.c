#include "schema_store.h"
#include "log.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct entry_s {
    int32_t id;          /* -1 when only known by fingerprint */
    uint64_t fp;
    avro_schema_t schema;
} entry_t;

/* An id the registry answered about without a usable schema. */
typedef struct miss_s {
    int32_t id;
    ltv_schema_res_t res;  /* LTV_SCHEMA_UNKNOWN or LTV_SCHEMA_UNUSABLE */
    int64_t until_us;      /* UNKNOWN: ask again after this (monotonic) */
    char why[200];
} miss_t;

/* "Not found" is asked again after this long: an id that a registry
 * replica has not replicated yet will be found, while a stream of
 * messages with one bad id costs one request a minute, not one each. */
#define MISS_TTL_US (60 * 1000000LL)
/* Garbage in Confluent framing carries random ids: the misses kept are
 * bounded (the oldest goes). */
#define MISS_MAX 1024

struct ltv_schemas_s {
    entry_t *e;
    int n, cap;
    ltv_registry_t *reg;
    miss_t *miss;
    int nmiss, capmiss;
};

/* ---- CRC-64-AVRO ------------------------------------------------------ */

#define CRC64_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc_table[256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void) {
    for (int i = 0; i < 256; i++) {
        uint64_t fp = (uint64_t)i;
        for (int j = 0; j < 8; j++)
            fp = (fp >> 1) ^ (CRC64_EMPTY & (0 - (fp & 1)));
        crc_table[i] = fp;
    }
}

uint64_t ltv_crc64_avro(const void *p, size_t n) {
    pthread_once(&crc_once, crc_init);
    const unsigned char *s = p;
    uint64_t fp = CRC64_EMPTY;
    for (size_t i = 0; i < n; i++)
        fp = (fp >> 8) ^ crc_table[(fp ^ s[i]) & 0xff];
    return fp;
}

/* ---- Parsing Canonical Form -------------------------------------------- */

typedef struct canon_s {
    ltv_buf_t *out;
    const char **seen; /* full names already written: later uses are by name */
    int nseen, capseen;
} canon_t;

static void put_json_str(ltv_buf_t *b, const char *s) {
    ltv_buf_putc(b, '"');
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            ltv_buf_putc(b, '\\');
            ltv_buf_putc(b, (char)c);
        } else if (c < 0x20) {
            ltv_buf_printf(b, "\\u%04x", c);
        } else {
            ltv_buf_putc(b, (char)c);
        }
    }
    ltv_buf_putc(b, '"');
}

static void full_name(avro_schema_t s, ltv_buf_t *b) {
    const char *name = avro_schema_name(s);
    const char *ns = avro_schema_namespace(s);
    ltv_buf_reset(b);
    if (ns && *ns && !strchr(name, '.')) {
        ltv_buf_puts(b, ns);
        ltv_buf_putc(b, '.');
    }
    ltv_buf_puts(b, name);
}

static int canon_seen(canon_t *c, const char *name) {
    for (int i = 0; i < c->nseen; i++)
        if (!strcmp(c->seen[i], name))
            return 1;
    return 0;
}

static int canon_walk(canon_t *c, avro_schema_t s) {
    ltv_buf_t *b = c->out;
    switch (avro_typeof(s)) {
    case AVRO_STRING: ltv_buf_puts(b, "\"string\""); return 0;
    case AVRO_BYTES: ltv_buf_puts(b, "\"bytes\""); return 0;
    case AVRO_INT32: ltv_buf_puts(b, "\"int\""); return 0;
    case AVRO_INT64: ltv_buf_puts(b, "\"long\""); return 0;
    case AVRO_FLOAT: ltv_buf_puts(b, "\"float\""); return 0;
    case AVRO_DOUBLE: ltv_buf_puts(b, "\"double\""); return 0;
    case AVRO_BOOLEAN: ltv_buf_puts(b, "\"boolean\""); return 0;
    case AVRO_NULL: ltv_buf_puts(b, "\"null\""); return 0;
    case AVRO_LINK: return canon_walk(c, avro_schema_link_target(s));
    case AVRO_ARRAY:
        ltv_buf_puts(b, "{\"type\":\"array\",\"items\":");
        if (canon_walk(c, avro_schema_array_items(s)))
            return -1;
        ltv_buf_putc(b, '}');
        return 0;
    case AVRO_MAP:
        ltv_buf_puts(b, "{\"type\":\"map\",\"values\":");
        if (canon_walk(c, avro_schema_map_values(s)))
            return -1;
        ltv_buf_putc(b, '}');
        return 0;
    case AVRO_UNION: {
        ltv_buf_putc(b, '[');
        size_t n = avro_schema_union_size(s);
        for (size_t i = 0; i < n; i++) {
            if (i)
                ltv_buf_putc(b, ',');
            if (canon_walk(c, avro_schema_union_branch(s, (int)i)))
                return -1;
        }
        ltv_buf_putc(b, ']');
        return 0;
    }
    case AVRO_RECORD:
    case AVRO_ENUM:
    case AVRO_FIXED: {
        ltv_buf_t fn;
        ltv_buf_init(&fn);
        full_name(s, &fn);
        if (canon_seen(c, fn.p)) {
            put_json_str(b, fn.p);
            ltv_buf_free(&fn);
            return 0;
        }
        if (c->nseen == c->capseen) {
            c->capseen = c->capseen ? c->capseen * 2 : 8;
            c->seen = ltv_realloc(c->seen, sizeof(*c->seen) * (size_t)c->capseen);
        }
        c->seen[c->nseen++] = fn.p; /* now owned by c->seen */
        ltv_buf_puts(b, "{\"name\":");
        put_json_str(b, fn.p);
        if (avro_typeof(s) == AVRO_RECORD) {
            ltv_buf_puts(b, ",\"type\":\"record\",\"fields\":[");
            size_t n = avro_schema_record_size(s);
            for (size_t i = 0; i < n; i++) {
                if (i)
                    ltv_buf_putc(b, ',');
                ltv_buf_puts(b, "{\"name\":");
                put_json_str(b, avro_schema_record_field_name(s, (int)i));
                ltv_buf_puts(b, ",\"type\":");
                if (canon_walk(c, avro_schema_record_field_get_by_index(s, (int)i)))
                    return -1;
                ltv_buf_putc(b, '}');
            }
            ltv_buf_puts(b, "]}");
        } else if (avro_typeof(s) == AVRO_ENUM) {
            ltv_buf_puts(b, ",\"type\":\"enum\",\"symbols\":[");
            int n = avro_schema_enum_number_of_symbols(s);
            for (int i = 0; i < n; i++) {
                if (i)
                    ltv_buf_putc(b, ',');
                put_json_str(b, avro_schema_enum_get(s, i));
            }
            ltv_buf_puts(b, "]}");
        } else {
            ltv_buf_printf(b, ",\"type\":\"fixed\",\"size\":%lld}",
                           (long long)avro_schema_fixed_size(s));
        }
        return 0;
    }
    default:
        return -1;
    }
}

int ltv_avro_canonical(avro_schema_t schema, ltv_buf_t *out) {
    canon_t c = {out, NULL, 0, 0};
    ltv_buf_reset(out);
    int r = canon_walk(&c, schema);
    for (int i = 0; i < c.nseen; i++)
        free((void *)c.seen[i]);
    free(c.seen);
    return r;
}

uint64_t ltv_avro_fingerprint(avro_schema_t schema) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_avro_canonical(schema, &b);
    uint64_t fp = ltv_crc64_avro(b.p, b.n);
    ltv_buf_free(&b);
    return fp;
}

/* ---- parsing ----------------------------------------------------------- */

avro_schema_t ltv_avro_parse(const char *json, char *errstr, size_t errstr_size) {
    avro_schema_t s = NULL;
    if (avro_schema_from_json_length(json, strlen(json), &s)) {
        snprintf(errstr, errstr_size, "invalid Avro schema: %s", avro_strerror());
        return NULL;
    }
    return s;
}

avro_schema_t ltv_avro_parse_file(const char *path, char *errstr, size_t errstr_size) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        snprintf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return NULL;
    }
    ltv_buf_t b;
    ltv_buf_init(&b);
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        ltv_buf_append(&b, tmp, r);
    fclose(fp);
    char inner[256];
    avro_schema_t s = ltv_avro_parse(b.p ? b.p : "", inner, sizeof(inner));
    if (!s)
        snprintf(errstr, errstr_size, "%s: %s", path, inner);
    ltv_buf_free(&b);
    return s;
}

/* ---- store ------------------------------------------------------------- */

static void store_put(ltv_schemas_t *s, int32_t id, avro_schema_t schema) {
    uint64_t fp = ltv_avro_fingerprint(schema);
    for (int i = 0; i < s->n; i++) {
        if (s->e[i].fp == fp && (id < 0 || s->e[i].id == id)) {
            avro_schema_decref(schema);
            return;
        }
    }
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->e = ltv_realloc(s->e, sizeof(*s->e) * (size_t)s->cap);
    }
    s->e[s->n].id = id;
    s->e[s->n].fp = fp;
    s->e[s->n].schema = schema; /* reference now owned by the store */
    s->n++;
}

ltv_schemas_t *ltv_schemas_new(const char *dir, char *errstr, size_t errstr_size) {
    ltv_schemas_t *s = ltv_calloc(1, sizeof(*s));
    if (!dir || !*dir)
        return s;
    DIR *d = opendir(dir);
    if (!d) {
        snprintf(errstr, errstr_size, "schema.dir %s: %s", dir, strerror(errno));
        goto err;
    }
    struct dirent *de;
    while ((de = readdir(d))) {
        char *end;
        long id = strtol(de->d_name, &end, 10);
        if (end == de->d_name || strcmp(end, ".avsc") || id < 0 || id > INT32_MAX)
            continue;
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        avro_schema_t sc = ltv_avro_parse_file(path, errstr, errstr_size);
        if (!sc) {
            closedir(d);
            goto err;
        }
        store_put(s, (int32_t)id, sc);
    }
    closedir(d);
    return s;

err:
    ltv_schemas_destroy(s);
    return NULL;
}

void ltv_schemas_destroy(ltv_schemas_t *s) {
    if (!s)
        return;
    for (int i = 0; i < s->n; i++)
        avro_schema_decref(s->e[i].schema);
    free(s->e);
    free(s->miss);
    free(s);
}

void ltv_schemas_add(ltv_schemas_t *s, avro_schema_t schema) {
    store_put(s, -1, avro_schema_incref(schema));
}

avro_schema_t ltv_schemas_by_id(ltv_schemas_t *s, int32_t id) {
    if (id < 0) /* -1 marks schemas known only by fingerprint */
        return NULL;
    for (int i = 0; i < s->n; i++)
        if (s->e[i].id == id)
            return s->e[i].schema;
    return NULL;
}

avro_schema_t ltv_schemas_by_fingerprint(ltv_schemas_t *s, uint64_t fp) {
    for (int i = 0; i < s->n; i++)
        if (s->e[i].fp == fp)
            return s->e[i].schema;
    return NULL;
}

void ltv_schemas_set_registry(ltv_schemas_t *s, ltv_registry_t *reg) { s->reg = reg; }

static void miss_put(ltv_schemas_t *s, int32_t id, ltv_schema_res_t res, const char *why) {
    int i = 0;
    while (i < s->nmiss && s->miss[i].id != id)
        i++;
    if (i == MISS_MAX) { /* full: the oldest goes */
        memmove(s->miss, s->miss + 1, sizeof(*s->miss) * (MISS_MAX - 1));
        i = MISS_MAX - 1;
    } else if (i == s->nmiss) {
        if (s->nmiss == s->capmiss) {
            s->capmiss = s->capmiss ? s->capmiss * 2 : 8;
            s->miss = ltv_realloc(s->miss, sizeof(*s->miss) * (size_t)s->capmiss);
        }
        s->nmiss++;
    }
    miss_t *m = &s->miss[i];
    m->id = id;
    m->res = res;
    m->until_us = res == LTV_SCHEMA_UNKNOWN ? ltv_mono_us() + MISS_TTL_US : INT64_MAX;
    snprintf(m->why, sizeof(m->why), "%s", why);
}

ltv_schema_res_t ltv_schemas_lookup_id(ltv_schemas_t *s, int32_t id, avro_schema_t *out,
                                       char *errstr, size_t errstr_size) {
    *out = ltv_schemas_by_id(s, id);
    if (*out)
        return LTV_SCHEMA_FOUND;
    if (!s->reg || id < 0) {
        snprintf(errstr, errstr_size, "schema id %d is not known", (int)id);
        return LTV_SCHEMA_UNKNOWN;
    }
    for (int i = 0; i < s->nmiss; i++) {
        if (s->miss[i].id == id && ltv_mono_us() < s->miss[i].until_us) {
            snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, s->miss[i].why);
            return s->miss[i].res;
        }
    }
    char *json = NULL;
    char why[512];
    switch (ltv_registry_get_schema(s->reg, id, &json, why, sizeof(why))) {
    case LTV_REG_OK: break;
    case LTV_REG_NOT_FOUND:
        miss_put(s, id, LTV_SCHEMA_UNKNOWN, why);
        snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, why);
        return LTV_SCHEMA_UNKNOWN;
    case LTV_REG_REJECTED:
        miss_put(s, id, LTV_SCHEMA_UNUSABLE, why);
        snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, why);
        return LTV_SCHEMA_UNUSABLE;
    default:
        snprintf(errstr, errstr_size, "schema id %d: %s", (int)id, why);
        return LTV_SCHEMA_UNAVAILABLE;
    }
    avro_schema_t sc = ltv_avro_parse(json, why, sizeof(why));
    free(json);
    if (!sc) {
        /* The registry's schema for an id never changes: not asked again. */
        miss_put(s, id, LTV_SCHEMA_UNUSABLE, why);
        snprintf(errstr, errstr_size, "schema id %d from the schema registry: %s", (int)id, why);
        return LTV_SCHEMA_UNUSABLE;
    }
    store_put(s, id, sc);
    *out = ltv_schemas_by_id(s, id);
    return LTV_SCHEMA_FOUND;
}
