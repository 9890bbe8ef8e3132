/*
 * The Avro schemas of the output topics, generated from the renderers (a
 * sample row of each type gives the field list and types), and the Avro
 * encoding of rows in Confluent wire format.
 */
#ifndef LTV_OUTSCHEMA_H
#define LTV_OUTSCHEMA_H

#include <stdint.h>

#include "agg.h"
#include "out.h"

typedef struct ltv_outschema_s {
    const char *row_type; /* "f2_cohort", ..., "customer_rfm" */
    const char *topic;
    char *json;           /* the schema */
    /* A stream of events keyed by customer (lifecycle triggers), not a
     * table of rows: its topic must not be compacted, and `reemit` has no
     * rows of it to publish. */
    int events;
} ltv_outschema_t;

/* One schema per emitted row type, for the current configuration. Free with
 * ltv_outschemas_free. */
int ltv_outschemas(ltv_aggs_t *aggs, const ltv_conf_t *conf, ltv_outschema_t **out);
void ltv_outschemas_free(ltv_outschema_t *s, int n);

/* Avro encoder for one output topic. */
typedef struct ltv_avro_out_s ltv_avro_out_t;
ltv_avro_out_t *ltv_avro_out_new(const char *schema_json, int32_t schema_id, char *errstr,
                                 size_t errstr_size);
void ltv_avro_out_destroy(ltv_avro_out_t *ao);
/* The id written in the header (registered after the encoder was made). */
void ltv_avro_out_set_id(ltv_avro_out_t *ao, int32_t schema_id);
/* 0x00, the 4-byte schema id, the Avro record. Fails while the id is
 * unknown (negative). */
int ltv_avro_out_encode(ltv_avro_out_t *ao, const ltv_out_t *row, ltv_buf_t *out, char *errstr,
                        size_t errstr_size);

/* Parses "topic:id,topic:id" and returns the id for topic, or -1. */
int32_t ltv_schema_id_for(const char *mapping, const char *topic);

#endif
