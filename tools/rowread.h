/*
 * Reading the output topics back as tables: consume a topic from the
 * beginning to its end and keep, per key, the row with the highest
 * version. This is what a BI consumer does, and what the demo and the
 * tests use to check the emitted rows. A tombstone (null value) deletes its
 * key; one with a "version" header is the row's version at its deletion,
 * ordered with the others like a row.
 */
#ifndef LTV_ROWREAD_H
#define LTV_ROWREAD_H

#include <stdint.h>
#include <stddef.h>
#include <librdkafka/rdkafka.h>

typedef struct ltv_table_row_s {
    char *key;
    char *json;
    int64_t version;
} ltv_table_row_t;

typedef struct ltv_table_s {
    ltv_table_row_t *rows;
    int n, cap;
    int64_t messages; /* messages read, all versions */
    int64_t regressions; /* ltv_table_read_last: records with a lower version than an
                          * earlier record of their key */
} ltv_table_t;

/* Calls cb for every message of `topic` from the beginning to its end
 * offsets as of the call (per partition in offset order). Returns 0; 1 if
 * the topic does not exist; -1 on other errors or after timeout_ms, with
 * errstr filled. */
int ltv_topic_read(const char *brokers, const char *topic, int timeout_ms,
                   void (*cb)(const rd_kafka_message_t *m, void *opaque), void *opaque,
                   char *errstr, size_t errstr_size);

/* The same with a client configured by kc (taken over, destroyed here):
 * bootstrap servers and security as the caller's; and partition p read
 * from offset from[p] for p < nfrom (from may be NULL). */
int ltv_topic_read_from(rd_kafka_conf_t *kc, const char *topic, const int64_t *from, int nfrom,
                        int timeout_ms, void (*cb)(const rd_kafka_message_t *m, void *opaque),
                        void *opaque, char *errstr, size_t errstr_size);

/* Reads `topic` to its end offsets as of the call. Rows sorted by key. */
int ltv_table_read(const char *brokers, const char *topic, ltv_table_t *t, char *errstr,
                   size_t errstr_size);
/* The same, keeping each key's last record whatever its version: what log
 * compaction keeps. Differs from ltv_table_read only where versions went
 * back (after Redis lost acknowledged writes; see README). */
int ltv_table_read_last(const char *brokers, const char *topic, ltv_table_t *t, char *errstr,
                        size_t errstr_size);
void ltv_table_free(ltv_table_t *t);
const ltv_table_row_t *ltv_table_get(const ltv_table_t *t, const char *key);

/* Value of a top-level field of a flat JSON object, as text (strings
 * unquoted, without unescaping). Returns 0, or -1 if absent. */
int ltv_json_field(const char *json, const char *name, char *out, size_t outsz);
int64_t ltv_json_field_i64(const char *json, const char *name);
double ltv_json_field_f(const char *json, const char *name);

#endif
