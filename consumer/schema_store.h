/*
 * Writer schemas, found by Confluent schema id (a directory of <id>.avsc
 * files) or by the CRC-64-AVRO fingerprint of their Parsing Canonical Form
 * (Avro single-object encoding). Schemas are parsed once and cached.
 */
#ifndef LTV_SCHEMA_STORE_H
#define LTV_SCHEMA_STORE_H

#include <stdint.h>
#include <stddef.h>
#include <avro.h>

#include "util.h"

typedef struct ltv_schemas_s ltv_schemas_t;

/* dir may be NULL or "" (no id lookups). Every <id>.avsc in it is parsed at
 * start and indexed by fingerprint too, so a bad file fails loudly early. */
ltv_schemas_t *ltv_schemas_new(const char *dir, char *errstr, size_t errstr_size);
void ltv_schemas_destroy(ltv_schemas_t *s);

/* Indexes a schema by fingerprint (the store takes a reference). */
void ltv_schemas_add(ltv_schemas_t *s, avro_schema_t schema);

/* Borrowed references, valid until ltv_schemas_destroy; NULL if unknown. */
avro_schema_t ltv_schemas_by_id(ltv_schemas_t *s, int32_t id);
avro_schema_t ltv_schemas_by_fingerprint(ltv_schemas_t *s, uint64_t fp);

/* Parsing Canonical Form (Avro specification) of a schema. */
int ltv_avro_canonical(avro_schema_t schema, ltv_buf_t *out);
uint64_t ltv_crc64_avro(const void *p, size_t n);
uint64_t ltv_avro_fingerprint(avro_schema_t schema);

/* Parses a schema from a JSON string or file; errstr names the cause. */
avro_schema_t ltv_avro_parse(const char *json, char *errstr, size_t errstr_size);
avro_schema_t ltv_avro_parse_file(const char *path, char *errstr, size_t errstr_size);

#endif
