/*
 * Decoding: detects the framing of one Kafka message (Confluent wire format,
 * Avro single-object encoding, plain Avro binary), finds the writer schema,
 * resolves it against our reader schema with Avro-C's resolver and fills an
 * ltv_event_t. Then validates the event. Never crashes on bad bytes: every
 * failure is a reason code for the dead-letter topic.
 */
#ifndef LTV_DECODE_H
#define LTV_DECODE_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "event.h"
#include "schema_store.h"
#include "util.h"

/* Why a message could not be used. The names (ltv_reason_name) appear in
 * the DLQ header `ltv.reason` and the metric label `reason`. */
typedef enum {
    /* Not a dead letter: the writer schema could not be had right now
     * (the Schema Registry gave no answer). Decode the message again
     * later; nothing about it is known to be wrong. */
    LTV_R_RETRY = -1,
    LTV_OK = 0,
    LTV_R_TRUNCATED,         /* too short for its framing */
    LTV_R_BAD_MAGIC,         /* no known framing */
    LTV_R_UNKNOWN_SCHEMA_ID, /* Confluent id not found */
    LTV_R_UNKNOWN_FINGERPRINT,
    LTV_R_INCOMPATIBLE_SCHEMA, /* writer schema cannot be resolved to ours */
    LTV_R_AVRO_DECODE,         /* bytes do not decode with the writer schema */
    LTV_R_MISSING_CUSTOMER_ID,
    LTV_R_MISSING_ORDER_ID,
    LTV_R_MISSING_EVENT_ID, /* a refund without event_id */
    LTV_R_NEGATIVE_AMOUNT,
    LTV_R_FUTURE_TIMESTAMP,
    LTV_R_BAD_TIMESTAMP, /* zero or negative */
    LTV_R__COUNT
} ltv_reason_t;

const char *ltv_reason_name(ltv_reason_t r);

typedef struct ltv_decoder_s ltv_decoder_t;

/* The decoder borrows `schemas` (which must outlive it) and adds our reader
 * schemas to it so single-object messages written with them resolve. */
ltv_decoder_t *ltv_decoder_new(const ltv_conf_t *conf, ltv_schemas_t *schemas, char *errstr,
                               size_t errstr_size);
void ltv_decoder_destroy(ltv_decoder_t *d);

/* Decodes one message of the given kind into ev; strings are copied into
 * arena. On failure returns the reason and fills errstr with detail;
 * LTV_R_RETRY only with a Schema Registry set on the schema store. */
ltv_reason_t ltv_decode(ltv_decoder_t *d, ltv_ev_kind_t kind, const void *buf, size_t len,
                        ltv_event_t *ev, ltv_arena_t *arena, char *errstr, size_t errstr_size);

/* Checks an event's values: ids present, amount non-negative, timestamp
 * positive and not more than max_future_skew_ms past now_ms. */
ltv_reason_t ltv_event_validate(const ltv_event_t *ev, int64_t now_ms,
                                int64_t max_future_skew_ms, char *errstr, size_t errstr_size);

/* Reader schemas compiled into the binary (from schemas/). */
const char *ltv_reader_schema_json(ltv_ev_kind_t kind);

#endif
