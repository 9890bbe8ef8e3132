#include "outschema.h"
#include "customer_rfm.h"
#include "lifecycle.h"
#include "schema_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <avro.h>

static void camel(const char *snake, char *out, size_t n) {
    size_t k = 0;
    int up = 1;
    for (const char *p = snake; *p && k + 1 < n; p++) {
        if (*p == '_') {
            up = 1;
            continue;
        }
        out[k++] = up ? (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p) : *p;
        up = 0;
    }
    out[k] = '\0';
}

static void add_schema(ltv_outschema_t **out, int *n, const char *row_type, const char *topic,
                       const ltv_out_t *sample, const char *doc, int events) {
    *out = ltv_realloc(*out, sizeof(**out) * (size_t)(*n + 1));
    char name[64];
    camel(row_type, name, sizeof(name));
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_out_avro_schema(sample, name, "ltvstream.v1.out", doc, &b);
    (*out)[*n].row_type = row_type;
    (*out)[*n].topic = topic;
    (*out)[*n].json = b.p;
    (*out)[*n].events = events;
    (*n)++;
}

int ltv_outschemas(ltv_aggs_t *aggs, const ltv_conf_t *conf, ltv_outschema_t **out) {
    *out = NULL;
    int n = 0;
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_emit_info_t info = {0};
    for (int i = 0; i < ltv_aggs_count(aggs); i++) {
        ltv_agg_t *a = ltv_aggs_get(aggs, i);
        if (a->cls->internal || !a->cls->render)
            continue;
        ltv_row_t row;
        memset(&row, 0, sizeof(row));
        row.id.agg = a;
        row.id.dim = ltv_intern(aggs, "", 0);
        ltv_out_reset(&o);
        a->cls->render(a, &row, &info, &o);
        /* Not a fixed buffer: cutting a long topic name there could split
         * a UTF-8 sequence, and the schema would not be valid JSON. */
        ltv_buf_t doc;
        ltv_buf_init(&doc);
        ltv_buf_printf(&doc, "ltvstream %s row (topic %s), keyed by its identity.",
                       a->cls->name, a->topic);
        add_schema(out, &n, a->cls->name, a->topic, &o, doc.p, 0);
        ltv_buf_free(&doc);
    }
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, "sample", 6);
    c->rfm_seg = 0; /* a customer with a segment: tombstones have no schema */
    c->rfm_r = 5;
    ltv_out_reset(&o);
    ltv_customer_rfm_render(aggs, c, &info, conf->tz_offset_ms, &o);
    add_schema(out, &n, "customer_rfm", conf->topic_customer_rfm, &o,
               "ltvstream current RFM scores of one customer, keyed by customer id.", 0);
    ltv_customer_destroy(c);
    if (conf->topic_lifecycle[0]) {
        ltv_trigger_t t;
        memset(&t, 0, sizeof(t));
        t.customer = "sample";
        ltv_out_reset(&o);
        ltv_trigger_render(&t, 0, &o);
        add_schema(out, &n, "lifecycle", conf->topic_lifecycle, &o,
                   "ltvstream lifecycle trigger for follow-up messaging, keyed by customer id: "
                   "one record per customer and occasion (trigger_id).",
                   1);
    }
    ltv_out_free(&o);
    return n;
}

void ltv_outschemas_free(ltv_outschema_t *s, int n) {
    for (int i = 0; i < n; i++)
        free(s[i].json);
    free(s);
}

struct ltv_avro_out_s {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    int32_t id;
    char *wbuf;
    size_t wcap;
    avro_writer_t w;
};

ltv_avro_out_t *ltv_avro_out_new(const char *schema_json, int32_t schema_id, char *errstr,
                                 size_t errstr_size) {
    ltv_avro_out_t *ao = ltv_calloc(1, sizeof(*ao));
    ao->id = schema_id;
    ao->schema = ltv_avro_parse(schema_json, errstr, errstr_size);
    if (!ao->schema)
        goto err;
    ao->iface = avro_generic_class_from_schema(ao->schema);
    if (!ao->iface || avro_generic_value_new(ao->iface, &ao->value)) {
        snprintf(errstr, errstr_size, "avro: %s", avro_strerror());
        goto err;
    }
    ao->wcap = 4096;
    ao->wbuf = ltv_malloc(ao->wcap);
    ao->w = avro_writer_memory(ao->wbuf, (int64_t)ao->wcap);
    return ao;
err:
    ltv_avro_out_destroy(ao);
    return NULL;
}

void ltv_avro_out_destroy(ltv_avro_out_t *ao) {
    if (!ao)
        return;
    if (ao->w)
        avro_writer_free(ao->w);
    free(ao->wbuf);
    if (ao->iface) {
        avro_value_decref(&ao->value);
        avro_value_iface_decref(ao->iface);
    }
    if (ao->schema)
        avro_schema_decref(ao->schema);
    free(ao);
}

void ltv_avro_out_set_id(ltv_avro_out_t *ao, int32_t schema_id) { ao->id = schema_id; }

static int set_value(avro_value_t *v, const ltv_ofield_t *f) {
    switch (f->type) {
    case LTV_OF_STR:
    case LTV_OF_STR_NULL: return avro_value_set_string_len(v, f->s, strlen(f->s) + 1);
    case LTV_OF_I64:
    case LTV_OF_I64_NULL:
    case LTV_OF_TS:
    case LTV_OF_TS_NULL: return avro_value_set_long(v, f->i);
    case LTV_OF_RATE:
    case LTV_OF_F64: return avro_value_set_double(v, f->d);
    case LTV_OF_BOOL: return avro_value_set_boolean(v, (int)f->i);
    }
    return -1;
}

int ltv_avro_out_encode(ltv_avro_out_t *ao, const ltv_out_t *row, ltv_buf_t *out, char *errstr,
                        size_t errstr_size) {
    if (ao->id < 0) {
        snprintf(errstr, errstr_size, "output schema not registered yet");
        return -1;
    }
    for (int i = 0; i < row->n; i++) {
        const ltv_ofield_t *f = &row->f[i];
        avro_value_t v, br;
        if (avro_value_get_by_name(&ao->value, f->name, &v, NULL)) {
            snprintf(errstr, errstr_size, "output schema lacks field %s", f->name);
            return -1;
        }
        int rc;
        if (avro_value_get_type(&v) == AVRO_UNION) {
            /* Generated unions are ["null", T]. */
            if (f->null)
                rc = avro_value_set_branch(&v, 0, &br) || avro_value_set_null(&br);
            else
                rc = avro_value_set_branch(&v, 1, &br) || set_value(&br, f);
        } else {
            rc = f->null ? -1 : set_value(&v, f);
        }
        if (rc) {
            snprintf(errstr, errstr_size, "output field %s does not fit its schema", f->name);
            return -1;
        }
    }
    size_t need = 0;
    if (avro_value_sizeof(&ao->value, &need))
        return -1;
    if (need > ao->wcap) {
        ao->wcap = need * 2;
        ao->wbuf = ltv_realloc(ao->wbuf, ao->wcap);
    }
    avro_writer_memory_set_dest(ao->w, ao->wbuf, (int64_t)ao->wcap);
    if (avro_value_write(ao->w, &ao->value)) {
        snprintf(errstr, errstr_size, "avro write: %s", avro_strerror());
        return -1;
    }
    unsigned char h[5] = {0, (unsigned char)(ao->id >> 24), (unsigned char)(ao->id >> 16),
                          (unsigned char)(ao->id >> 8), (unsigned char)ao->id};
    ltv_buf_reset(out);
    ltv_buf_append(out, h, 5);
    ltv_buf_append(out, ao->wbuf, (size_t)avro_writer_tell(ao->w));
    return 0;
}

int32_t ltv_schema_id_for(const char *mapping, const char *topic) {
    size_t tl = strlen(topic);
    const char *s = mapping;
    while (s && *s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *colon = NULL;
        for (const char *q = s + len; q > s; q--)
            if (q[-1] == ':') {
                colon = q - 1;
                break;
            }
        if (colon && (size_t)(colon - s) == tl && !strncmp(s, topic, tl)) {
            /* The whole rest of the entry must be the number. */
            char *end;
            long v = strtol(colon + 1, &end, 10);
            if (end == colon + 1 || end != s + len || v < 0 || v > INT32_MAX)
                return -1;
            return (int32_t)v;
        }
        s = e ? e + 1 : NULL;
    }
    return -1;
}
