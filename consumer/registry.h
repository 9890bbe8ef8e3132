/*
 * A Confluent Schema Registry client: writer schemas fetched by id
 * (GET /schemas/ids/{id}) and output schemas registered under a subject
 * (POST /subjects/{subject}/versions), over libcurl (redirects, TLS and
 * basic authentication come with it), answers parsed with jansson (which
 * Avro-C itself is built on).
 *
 * Every answer is classified: a definitive one (the schema, "not found",
 * "refused") or none at all (the registry could not be reached, timed
 * out, answered 5xx, or answered something that is not a registry's
 * answer). The stage retries the second kind and never dead-letters an
 * event for it. No caching here: the schema store (schema_store.c)
 * remembers what it was told.
 */
#ifndef LTV_REGISTRY_H
#define LTV_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum {
    LTV_REG_OK = 0,
    LTV_REG_UNAVAILABLE, /* no definitive answer: try again later */
    LTV_REG_NOT_FOUND,   /* definitive: no schema with this id (error_code 40403) */
    LTV_REG_REJECTED,    /* definitive: the schema is not Avro, or registration was refused
                          * (409 incompatible, 422 invalid) */
} ltv_reg_res_t;

typedef struct ltv_registry_s ltv_registry_t;

/* url: one base URL, http:// or https:// (a path prefix is kept);
 * user_info: "user:password" for basic authentication, or NULL/"";
 * timeout_ms: for one whole request. Fails on a URL that cannot work. */
ltv_registry_t *ltv_registry_new(const char *url, const char *user_info, int64_t timeout_ms,
                                 char *errstr, size_t errstr_size);
void ltv_registry_destroy(ltv_registry_t *r);

/* The schema text of writer schema `id` (caller frees *schema_json). */
ltv_reg_res_t ltv_registry_get_schema(ltv_registry_t *r, int32_t id, char **schema_json,
                                      char *errstr, size_t errstr_size);

/* Registers an Avro schema under `subject` (or finds it registered there)
 * and returns its id. */
ltv_reg_res_t ltv_registry_register(ltv_registry_t *r, const char *subject,
                                    const char *schema_json, int32_t *id, char *errstr,
                                    size_t errstr_size);

typedef struct ltv_registry_stats_s {
    uint64_t requests;    /* HTTP requests sent */
    uint64_t unavailable; /* ... that gave no definitive answer */
    int up;               /* the last request got a definitive answer (1 before any) */
} ltv_registry_stats_t;

void ltv_registry_stats(const ltv_registry_t *r, ltv_registry_stats_t *out);

/* ---- pure parts, exposed for tests/test_registry_parse.c ------------------------ */

/* Checks a base URL (http or https, a host, no list) and appends it to out
 * without trailing slashes. */
int ltv_registry_base(const char *url, ltv_buf_t *out, char *errstr, size_t errstr_size);
/* {base}/schemas/ids/{id} */
void ltv_registry_url_schema(const char *base, int32_t id, ltv_buf_t *out);
/* {base}/subjects/{subject, percent-encoded}/versions */
void ltv_registry_url_register(const char *base, const char *subject, ltv_buf_t *out);
/* The body of a registration: {"schema":"<the schema as a JSON string>"}. */
char *ltv_registry_register_body(const char *schema_json);

/* Classifies the answer to GET /schemas/ids/{id}: status and body. On
 * LTV_REG_OK *schema_json is the schema text (caller frees). */
ltv_reg_res_t ltv_registry_parse_schema(long status, const char *body, size_t len,
                                        char **schema_json, char *errstr, size_t errstr_size);
/* Classifies the answer to POST /subjects/{subject}/versions. */
ltv_reg_res_t ltv_registry_parse_register(long status, const char *body, size_t len,
                                          int32_t *id, char *errstr, size_t errstr_size);

#endif
