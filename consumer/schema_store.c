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

struct ltv_schemas_s {
    entry_t *e;
    int n, cap;
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
