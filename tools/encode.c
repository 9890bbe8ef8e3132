#include "encode.h"
#include "decode.h"
#include "schema_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <avro.h>

struct ltv_encoder_s {
    ltv_ev_kind_t kind;
    ltv_framing_t framing;
    int32_t schema_id;
    uint64_t fp;
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    avro_writer_t w;
    char *wbuf;
    size_t wcap;
};

ltv_encoder_t *ltv_encoder_new(ltv_ev_kind_t kind, ltv_framing_t framing, int32_t schema_id,
                               const char *writer_json, char *errstr, size_t errstr_size) {
    ltv_encoder_t *enc = ltv_calloc(1, sizeof(*enc));
    enc->kind = kind;
    enc->framing = framing;
    enc->schema_id = schema_id;
    enc->schema =
        ltv_avro_parse(writer_json ? writer_json : ltv_reader_schema_json(kind), errstr, errstr_size);
    if (!enc->schema)
        goto err;
    enc->fp = ltv_avro_fingerprint(enc->schema);
    enc->iface = avro_generic_class_from_schema(enc->schema);
    if (!enc->iface || avro_generic_value_new(enc->iface, &enc->value)) {
        snprintf(errstr, errstr_size, "avro: %s", avro_strerror());
        goto err;
    }
    enc->wcap = 4096;
    enc->wbuf = ltv_malloc(enc->wcap);
    enc->w = avro_writer_memory(enc->wbuf, (int64_t)enc->wcap);
    return enc;
err:
    ltv_encoder_destroy(enc);
    return NULL;
}

void ltv_encoder_destroy(ltv_encoder_t *enc) {
    if (!enc)
        return;
    if (enc->w)
        avro_writer_free(enc->w);
    free(enc->wbuf);
    if (enc->iface) {
        avro_value_decref(&enc->value);
        avro_value_iface_decref(enc->iface);
    }
    if (enc->schema)
        avro_schema_decref(enc->schema);
    free(enc);
}

/* Sets a value from a string slice (absent -> null branch), an integer, or
 * a neutral value when the event has nothing for this field. */
static int set_field(avro_value_t *f, const ltv_str_t *s, const int64_t *i, int is_enum) {
    avro_type_t t = avro_value_get_type(f);
    if (t == AVRO_UNION) {
        avro_schema_t us = avro_value_get_schema(f);
        int want_null = (!s || !s->p) && !i;
        size_t n = avro_schema_union_size(us);
        for (size_t k = 0; k < n; k++) {
            avro_schema_t b = avro_schema_union_branch(us, (int)k);
            int is_null = avro_typeof(b) == AVRO_NULL;
            if (is_null == want_null) {
                avro_value_t br;
                if (avro_value_set_branch(f, (int)k, &br))
                    return -1;
                if (is_null)
                    return avro_value_set_null(&br);
                return set_field(&br, s, i, is_enum);
            }
        }
        avro_value_t br;
        if (avro_value_set_branch(f, 0, &br))
            return -1;
        return set_field(&br, NULL, NULL, 0);
    }
    switch (t) {
    case AVRO_STRING:
        if (s && s->p)
            return avro_value_set_string_len(f, s->p, s->n + 1);
        return avro_value_set_string_len(f, "", 1);
    case AVRO_INT64: return avro_value_set_long(f, i ? *i : 0);
    case AVRO_INT32: return avro_value_set_int(f, i ? (int32_t)*i : 0);
    case AVRO_ENUM: {
        /* By symbol name: a writer schema may order the symbols differently. */
        static const char *sym[] = {"order", "cancel", "refund"};
        int k = 0;
        if (i && is_enum && *i >= 0 && *i < 3) {
            k = avro_schema_enum_get_by_name(avro_value_get_schema(f), sym[*i]);
            if (k < 0)
                k = (int)*i;
        }
        return avro_value_set_enum(f, k);
    }
    case AVRO_NULL: return avro_value_set_null(f);
    /* Avro-C cannot write a bytes value that was never set. */
    case AVRO_BYTES: return avro_value_set_bytes(f, (void *)"", 0);
    case AVRO_BOOLEAN: return avro_value_set_boolean(f, i ? *i != 0 : 0);
    case AVRO_DOUBLE: return avro_value_set_double(f, 0);
    case AVRO_FLOAT: return avro_value_set_float(f, 0);
    default: return 0; /* records, arrays, maps: left as constructed */
    }
}

int ltv_encode(ltv_encoder_t *enc, const ltv_event_t *ev, ltv_buf_t *out) {
    size_t n = avro_schema_record_size(enc->schema);
    /* An ad spend's day is the calendar day (UTC) of its ts. */
    int64_t ptype = ev->ptype, signup = ev->signup, day = ltv_day_of(ev->ts, 0);
    for (size_t k = 0; k < n; k++) {
        const char *name = avro_schema_record_field_name(enc->schema, (int)k);
        avro_value_t f;
        if (avro_value_get_by_index(&enc->value, k, &f, NULL))
            return -1;
        const ltv_str_t *s = NULL;
        const int64_t *i = NULL;
        int is_enum = 0;
        if (!strcmp(name, "event_id"))
            s = &ev->event_id;
        else if (!strcmp(name, "customer_id"))
            s = &ev->customer_id;
        else if (!strcmp(name, "order_id"))
            s = &ev->order_id;
        else if (!strcmp(name, "type")) {
            i = &ptype;
            is_enum = 1;
        } else if (!strcmp(name, "ts"))
            i = &ev->ts;
        else if (!strcmp(name, "amount") || !strcmp(name, "cost"))
            i = &ev->amount;
        else if (!strcmp(name, "day"))
            i = &day;
        else if (!strcmp(name, "currency"))
            s = &ev->currency;
        else if (!strcmp(name, "channel") || !strcmp(name, "utm_source"))
            s = &ev->channel;
        else if (!strcmp(name, "campaign") || !strcmp(name, "utm_campaign"))
            s = &ev->campaign;
        else if (!strcmp(name, "visitor_id"))
            s = &ev->visitor_id;
        else if (!strcmp(name, "page"))
            s = &ev->page;
        else if (!strcmp(name, "signup"))
            i = &signup;
        if (set_field(&f, s, i, is_enum))
            return -1;
    }
    size_t need = 0;
    if (avro_value_sizeof(&enc->value, &need))
        return -1;
    if (need > enc->wcap) {
        enc->wcap = need * 2;
        enc->wbuf = ltv_realloc(enc->wbuf, enc->wcap);
    }
    avro_writer_memory_set_dest(enc->w, enc->wbuf, (int64_t)enc->wcap);
    if (avro_value_write(enc->w, &enc->value))
        return -1;
    size_t len = (size_t)avro_writer_tell(enc->w);

    ltv_buf_reset(out);
    if (enc->framing == LTV_FRAMING_CONFLUENT) {
        unsigned char h[5] = {0, (unsigned char)(enc->schema_id >> 24),
                              (unsigned char)(enc->schema_id >> 16),
                              (unsigned char)(enc->schema_id >> 8), (unsigned char)enc->schema_id};
        ltv_buf_append(out, h, 5);
    } else if (enc->framing == LTV_FRAMING_SINGLE_OBJECT) {
        unsigned char h[10] = {0xC3, 0x01};
        for (int k = 0; k < 8; k++)
            h[2 + k] = (unsigned char)(enc->fp >> (8 * k));
        ltv_buf_append(out, h, 10);
    }
    ltv_buf_append(out, enc->wbuf, len);
    return 0;
}
