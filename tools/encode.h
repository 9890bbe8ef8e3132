/*
 * Encodes events as Avro in any of the three framings: what the generator,
 * the tests and the benchmark produce. The writer schema defaults to ours
 * but can be any record schema: fields it shares with ours are filled from
 * the event, others get a neutral value (null branch, zero, empty), which
 * is how tests produce evolved writer schemas.
 */
#ifndef LTV_ENCODE_H
#define LTV_ENCODE_H

#include <stdint.h>

#include "conf.h"
#include "event.h"
#include "util.h"

typedef struct ltv_encoder_s ltv_encoder_t;

/* framing: LTV_FRAMING_CONFLUENT (schema_id is written), _SINGLE_OBJECT
 * (fingerprint of the writer schema) or _PLAIN. writer_json NULL: our schema
 * for `kind`. */
ltv_encoder_t *ltv_encoder_new(ltv_ev_kind_t kind, ltv_framing_t framing, int32_t schema_id,
                               const char *writer_json, char *errstr, size_t errstr_size);
void ltv_encoder_destroy(ltv_encoder_t *enc);

/* Appends the framed record to out (after resetting it). */
int ltv_encode(ltv_encoder_t *enc, const ltv_event_t *ev, ltv_buf_t *out);

#endif
