/*
 * A bounds check of Avro binary data against its writer schema, run before
 * Avro-C decodes it. Avro-C trusts the lengths in the data: a corrupt or
 * hostile varint makes it allocate whatever the bytes say (gigabytes, or
 * 2^64) before noticing the data is short. Walking the schema once and
 * checking every length, count, enum symbol and union branch against what
 * is actually there is cheap, and turns such input into a clean error.
 */
#ifndef LTV_AVRO_CHECK_H
#define LTV_AVRO_CHECK_H

#include <stddef.h>
#include <stdint.h>
#include <avro.h>

/* Returns 0 when buf holds exactly one datum of `schema` (no bytes left
 * over); otherwise -1 with errstr saying what is wrong and where. */
int ltv_avro_check(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                   size_t errstr_size);

/* Where one top-level field of a record lies in the data: [off, end), and
 * for a union the branch taken (-1 otherwise); off is after the branch
 * index. */
typedef struct ltv_avro_span_s {
    uint32_t off, end;
    int32_t branch;
} ltv_avro_span_t;

/* A writer schema compiled once for the check below: every event is
 * checked against one of a few schemas, and asking Avro-C for a record's
 * fields and a union's branches (hash lookups) cost more than the check.
 * The schema must outlive the plan. */
typedef struct ltv_avro_plan_s ltv_avro_plan_t;
ltv_avro_plan_t *ltv_avro_plan_new(avro_schema_t schema);
void ltv_avro_plan_destroy(ltv_avro_plan_t *pl);

/* As ltv_avro_check, with the same errors, and for a record schema also
 * filling spans[i] for its first nspans fields. */
int ltv_avro_plan_check_spans(const ltv_avro_plan_t *pl, const void *buf, size_t len,
                              ltv_avro_span_t *spans, int nspans, char *errstr,
                              size_t errstr_size);

#endif
