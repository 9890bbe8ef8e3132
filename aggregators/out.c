#include "out.h"
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ltv_out_init(ltv_out_t *o) {
    o->tombstone = 0;
    o->tombstone_version = 0;
    ltv_buf_init(&o->key);
    o->hdr_name = NULL;
    ltv_buf_init(&o->hdr_value);
    /* A row's strings (a customer id, a channel) fit in well under
     * 1 KiB; bigger ones get a chunk of their own. */
    ltv_arena_init(&o->strs, 1024);
    o->n = 0;
}

void ltv_out_free(ltv_out_t *o) {
    ltv_buf_free(&o->key);
    ltv_buf_free(&o->hdr_value);
    ltv_arena_free(&o->strs);
    o->n = 0;
}

void ltv_out_reset(ltv_out_t *o) {
    o->tombstone = 0;
    o->tombstone_version = 0;
    ltv_buf_reset(&o->key);
    o->hdr_name = NULL;
    ltv_buf_reset(&o->hdr_value);
    ltv_arena_reset(&o->strs);
    o->n = 0;
}

static ltv_ofield_t *add(ltv_out_t *o, const char *name, ltv_oftype_t t) {
    if (o->n == LTV_OUT_MAX_FIELDS) {
        fprintf(stderr, "ltvstream: output row has more than %d fields\n", LTV_OUT_MAX_FIELDS);
        abort();
    }
    ltv_ofield_t *f = &o->f[o->n++];
    memset(f, 0, sizeof(*f));
    f->name = name;
    f->name_len = (uint32_t)strlen(name);
    f->type = t;
    return f;
}

static void set_str(ltv_out_t *o, ltv_ofield_t *f, const char *v) {
    ltv_str_t s = ltv_arena_str(&o->strs, v, strlen(v));
    f->s = s.p;
    f->s_len = (uint32_t)s.n;
}

void ltv_out_str(ltv_out_t *o, const char *name, const char *v) {
    set_str(o, add(o, name, LTV_OF_STR), v ? v : "");
}

void ltv_out_str_null(ltv_out_t *o, const char *name, const char *v) {
    ltv_ofield_t *f = add(o, name, LTV_OF_STR_NULL);
    f->null = v == NULL;
    if (v)
        set_str(o, f, v);
}

void ltv_out_i64(ltv_out_t *o, const char *name, int64_t v) { add(o, name, LTV_OF_I64)->i = v; }

void ltv_out_rate(ltv_out_t *o, const char *name, int64_t num, int64_t den) {
    ltv_ofield_t *f = add(o, name, LTV_OF_RATE);
    f->null = den == 0;
    f->d = den ? (double)num / (double)den : 0;
}

void ltv_out_f64(ltv_out_t *o, const char *name, double v) { add(o, name, LTV_OF_F64)->d = v; }
void ltv_out_bool(ltv_out_t *o, const char *name, int v) { add(o, name, LTV_OF_BOOL)->i = !!v; }
void ltv_out_ts(ltv_out_t *o, const char *name, int64_t ts) { add(o, name, LTV_OF_TS)->i = ts; }

void ltv_out_ts_null(ltv_out_t *o, const char *name, int64_t ts) {
    ltv_ofield_t *f = add(o, name, LTV_OF_TS_NULL);
    f->null = ts == INT64_MIN;
    f->i = ts;
}

void ltv_out_i64_null(ltv_out_t *o, const char *name, int64_t v, int null) {
    ltv_ofield_t *f = add(o, name, LTV_OF_I64_NULL);
    f->null = null != 0;
    f->i = v;
}

/* Room for any value but a string: a timestamp (26 bytes quoted), a long
 * (20), "false", or a rate as ltv_json_fixed6 writes it (16). */
#define VALUE_MAX 32

/* Every output row passes here, most of them lifecycle triggers and
 * acquisition rows, so the row's size is bounded first and the fields are
 * then written straight into the buffer: no growth checks, no printf. */
void ltv_out_json(const ltv_out_t *o, ltv_buf_t *out) {
    size_t bound = 2;
    for (int i = 0; i < o->n; i++) {
        const ltv_ofield_t *f = &o->f[i];
        bound += LTV_JSON_QUOTED_MAX(f->name_len) + 2 + VALUE_MAX;
        if (f->s)
            bound += LTV_JSON_QUOTED_MAX(f->s_len);
    }
    ltv_buf_reset(out);
    ltv_buf_reserve(out, bound);
    char *p = out->p;
    *p++ = '{';
    for (int i = 0; i < o->n; i++) {
        const ltv_ofield_t *f = &o->f[i];
        if (i)
            *p++ = ',';
        /* Names are ours, and Avro field names too ([A-Za-z_][A-Za-z0-9_]*,
         * ltv_out_avro_schema writes them as they are): nothing to escape. */
        *p++ = '"';
        memcpy(p, f->name, f->name_len);
        p += f->name_len;
        *p++ = '"';
        *p++ = ':';
        int null = f->null || ((f->type == LTV_OF_TS || f->type == LTV_OF_TS_NULL) &&
                               f->i == INT64_MIN);
        if (null) {
            memcpy(p, "null", 4);
            p += 4;
            continue;
        }
        switch (f->type) {
        case LTV_OF_STR:
        case LTV_OF_STR_NULL: p = ltv_json_put_quoted(p, f->s, f->s_len); break;
        case LTV_OF_I64:
        case LTV_OF_I64_NULL: p += ltv_fmt_i64(f->i, p); break;
        case LTV_OF_RATE:
        case LTV_OF_F64: {
            int n = ltv_json_fixed6(f->d, p);
            if (n >= 0) {
                p += n;
                break;
            }
            /* A magnitude printf may spell in hundreds of digits. */
            out->n = (size_t)(p - out->p);
            ltv_buf_printf(out, "%.6f", f->d);
            ltv_buf_reserve(out, bound);
            p = out->p + out->n;
            break;
        }
        case LTV_OF_BOOL:
            memcpy(p, f->i ? "true" : "false", f->i ? 4 : 5);
            p += f->i ? 4 : 5;
            break;
        case LTV_OF_TS:
        case LTV_OF_TS_NULL:
            p = ltv_json_put_ts(p, f->i);
            break;
        }
    }
    *p++ = '}';
    *p = '\0';
    out->n = (size_t)(p - out->p);
}

static const char *avro_type(ltv_oftype_t t) {
    switch (t) {
    case LTV_OF_STR: return "\"string\"";
    case LTV_OF_STR_NULL: return "[\"null\",\"string\"]";
    case LTV_OF_I64: return "\"long\"";
    case LTV_OF_I64_NULL: return "[\"null\",\"long\"]";
    case LTV_OF_RATE: return "[\"null\",\"double\"]";
    case LTV_OF_F64: return "\"double\"";
    case LTV_OF_BOOL: return "\"boolean\"";
    case LTV_OF_TS: return "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}";
    case LTV_OF_TS_NULL:
        return "[\"null\",{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}]";
    }
    return "\"null\"";
}

void ltv_out_avro_schema(const ltv_out_t *o, const char *name, const char *ns, const char *doc,
                         ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_printf(out, "{\n  \"type\": \"record\",\n  \"name\": \"%s\",\n  \"namespace\": \"%s\",\n",
                   name, ns);
    if (doc) {
        ltv_buf_puts(out, "  \"doc\": ");
        ltv_json_quote(out, doc, strlen(doc));
        ltv_buf_puts(out, ",\n");
    }
    ltv_buf_puts(out, "  \"fields\": [\n");
    for (int i = 0; i < o->n; i++) {
        const ltv_ofield_t *f = &o->f[i];
        int nullable = f->type == LTV_OF_STR_NULL || f->type == LTV_OF_RATE ||
                       f->type == LTV_OF_TS_NULL || f->type == LTV_OF_I64_NULL;
        ltv_buf_printf(out, "    {\"name\": \"%s\", \"type\": %s%s}%s\n", f->name,
                       avro_type(f->type), nullable ? ", \"default\": null" : "",
                       i + 1 < o->n ? "," : "");
    }
    ltv_buf_puts(out, "  ]\n}\n");
}
