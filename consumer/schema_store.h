/*
 * Writer schemas, found by Confluent schema id (a directory of <id>.avsc
 * files, then a Schema Registry when one is set) or by the CRC-64-AVRO
 * fingerprint of their Parsing Canonical Form (Avro single-object
 * encoding). Schemas are parsed once and cached: an id is fetched from the
 * registry at most once.
 */
#ifndef LTV_SCHEMA_STORE_H
#define LTV_SCHEMA_STORE_H

#include <stdint.h>
#include <stddef.h>
#include <avro.h>

#include "registry.h"
#include "util.h"

typedef struct ltv_schemas_s ltv_schemas_t;

/* dir may be NULL or "" (no id lookups). Every <id>.avsc in it is parsed at
 * start and indexed by fingerprint too, so a bad file fails loudly early. */
ltv_schemas_t *ltv_schemas_new(const char *dir, char *errstr, size_t errstr_size);
void ltv_schemas_destroy(ltv_schemas_t *s);

/* Indexes a schema by fingerprint (the store takes a reference). */
void ltv_schemas_add(ltv_schemas_t *s, avro_schema_t schema);

/* Ids not in the directory are looked up in `reg` (borrowed; must outlive
 * the store). NULL: the directory only (offline). */
void ltv_schemas_set_registry(ltv_schemas_t *s, ltv_registry_t *reg);

typedef enum {
    LTV_SCHEMA_FOUND = 0,
    LTV_SCHEMA_UNKNOWN,     /* definitive: no schema has this id */
    LTV_SCHEMA_UNUSABLE,    /* definitive: the id's schema is not Avro or does not parse */
    LTV_SCHEMA_UNAVAILABLE, /* the registry gave no answer: ask again later */
} ltv_schema_res_t;

/* The writer schema of Confluent id `id` (borrowed, valid until
 * ltv_schemas_destroy): from the directory or what was fetched before,
 * else from the registry. Definitive answers are remembered: a schema for
 * good (ids never change), "unknown" for a minute (an id a lagging
 * registry replica does not know yet may appear). errstr says why not. */
ltv_schema_res_t ltv_schemas_lookup_id(ltv_schemas_t *s, int32_t id, avro_schema_t *out,
                                       char *errstr, size_t errstr_size);

/* Borrowed references, valid until ltv_schemas_destroy; NULL if unknown
 * (what is in the store: no registry request). */
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
