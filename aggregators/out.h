/*
 * An output row as a typed field list. Renderers fill it; the emitter
 * encodes it as JSON or Avro; the Avro output schemas are generated from
 * it too (`ltvstream schemas`), so the two formats and the schema files
 * cannot drift apart. A field's type never depends on its value.
 */
#ifndef LTV_OUT_H
#define LTV_OUT_H

#include <stdint.h>
#include "util.h"

#define LTV_OUT_MAX_FIELDS 80

typedef enum {
    LTV_OF_STR,       /* string */
    LTV_OF_STR_NULL,  /* string or null */
    LTV_OF_I64,       /* long */
    LTV_OF_RATE,      /* double or null (null when the denominator is 0) */
    LTV_OF_F64,       /* double */
    LTV_OF_BOOL,      /* boolean */
    LTV_OF_TS_NULL,   /* timestamp-millis or null; JSON: ISO-8601 string */
    LTV_OF_TS,        /* timestamp-millis; JSON: ISO-8601 string */
    LTV_OF_I64_NULL,  /* long or null */
} ltv_oftype_t;

typedef struct ltv_ofield_s {
    const char *name;
    ltv_oftype_t type;
    int null;
    int64_t i;
    double d;
    const char *s;
    uint32_t name_len, s_len; /* strlen of name and s */
} ltv_ofield_t;

typedef struct ltv_out_s {
    int tombstone; /* produce the key with a null value: the row is deleted */
    int64_t tombstone_version; /* the deletion's row version (header "version") */
    ltv_buf_t key;
    /* One optional message header (NULL name: none), for records that are
     * events rather than upserts: what identifies them without decoding
     * the value (lifecycle.c). */
    const char *hdr_name;
    ltv_buf_t hdr_value;
    ltv_ofield_t f[LTV_OUT_MAX_FIELDS];
    int n;
    ltv_arena_t strs; /* string values */
} ltv_out_t;

void ltv_out_init(ltv_out_t *o);
void ltv_out_free(ltv_out_t *o);
void ltv_out_reset(ltv_out_t *o);

/* Names are not copied: each must outlive the record (a literal, or a
 * name an aggregator made once, like ltv_agg_hnames). String values are
 * copied. */
void ltv_out_str(ltv_out_t *o, const char *name, const char *v);
void ltv_out_str_null(ltv_out_t *o, const char *name, const char *v); /* v NULL: null */
void ltv_out_i64(ltv_out_t *o, const char *name, int64_t v);
void ltv_out_rate(ltv_out_t *o, const char *name, int64_t num, int64_t den);
void ltv_out_f64(ltv_out_t *o, const char *name, double v);
void ltv_out_bool(ltv_out_t *o, const char *name, int v);
void ltv_out_ts(ltv_out_t *o, const char *name, int64_t ts_ms);
void ltv_out_ts_null(ltv_out_t *o, const char *name, int64_t ts_ms); /* INT64_MIN: null */
void ltv_out_i64_null(ltv_out_t *o, const char *name, int64_t v, int null);

/* {"name":value,...}; rates with 6 decimals. */
void ltv_out_json(const ltv_out_t *o, ltv_buf_t *out);

/* The Avro record schema of rows shaped like o. */
void ltv_out_avro_schema(const ltv_out_t *o, const char *name, const char *ns, const char *doc,
                         ltv_buf_t *out);

#endif
