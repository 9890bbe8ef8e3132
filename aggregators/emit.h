/*
 * Emission: committed rows go to their output topics as upserts keyed by
 * row identity, and bad input goes to the dead-letter topic. Delivery is
 * tracked per batch: once every row of a batch is acknowledged by the
 * broker, the batch's token is handed back so the stage can clear the
 * rows from the store's emission queue. Until then the queue remembers
 * them, and a restarted stage re-emits them; rows are versioned upserts,
 * so emitting one twice is harmless.
 */
#ifndef LTV_EMIT_H
#define LTV_EMIT_H

#include <stdint.h>
#include <librdkafka/rdkafka.h>

#include "agg.h"
#include "conf.h"

typedef struct ltv_emitter_s ltv_emitter_t;

/* Rows of one batch, all delivered: clear them from the emission queue.
 * members are the queue's field names (see ltv_emitq_member): one
 * allocation, the strings following the array, freed by ltv_acks_free. */
typedef struct ltv_ack_s {
    char *token;
    char **members;
    int nmembers;
    int failed; /* some row could not be delivered: re-emit instead of ack */
} ltv_ack_t;

/* Creates the producer. `conf` is consulted for kafka.* / kafka.producer.*
 * properties and the DLQ topic. */
ltv_emitter_t *ltv_emitter_new(const ltv_conf_t *conf, ltv_aggs_t *aggs, char *errstr,
                               size_t errstr_size);
void ltv_emitter_destroy(ltv_emitter_t *em);
rd_kafka_t *ltv_emitter_handle(ltv_emitter_t *em);

/* Avro output: the output topics (0 with JSON output). Topic i's name, its
 * schema (both borrowed) and its schema id: -1 while still to be
 * registered (a Schema Registry is configured and output.avro.schema.ids
 * does not list the topic). Every id must be set before rows are sent. */
int ltv_emitter_avro_count(const ltv_emitter_t *em);
void ltv_emitter_avro_topic(const ltv_emitter_t *em, int i, const char **topic,
                            const char **schema_json, int32_t *id);
void ltv_emitter_avro_set_id(ltv_emitter_t *em, int i, int32_t id);

/* One output row, encoded for its topic (ltv_emitter_encode), and the
 * member naming it in the emission queue (row id, "c|<customer>", "t|..."
 * a lifecycle trigger). An item without a topic produces nothing: its
 * member only travels with the batch (to its acknowledgement or
 * re-emission). Rows are encoded when they are rendered, so a batch holds
 * each as the bytes it will send (a few hundred) rather than as a field
 * list (a few KiB): a recency tick can emit a row for most of a
 * partition's customers in one batch. */
typedef enum {
    LTV_EMIT_VALUE,       /* key and value */
    LTV_EMIT_TOMBSTONE,   /* key, null value, header "version" */
    LTV_EMIT_UNENCODABLE, /* encoding failed: the batch counts as not delivered */
} ltv_emit_kind_t;

typedef struct ltv_emit_item_s {
    const char *topic;
    const char *member;
    ltv_emit_kind_t kind;
    const char *key;
    size_t keylen;
    const char *val;
    size_t vallen;
    int64_t tombstone_version;
    const char *hdr_name; /* NULL: no header of the row's own (ltv_out_t.hdr_name) */
    const char *hdr_val;
    size_t hdr_len;
} ltv_emit_item_t;

/* The bytes of one encoded record, owned by the caller and reused from
 * batch to batch: an item points into them until it is sent. */
typedef struct ltv_emit_rec_s {
    ltv_buf_t key, val, hdr;
} ltv_emit_rec_t;

void ltv_emit_rec_init(ltv_emit_rec_t *rec);
void ltv_emit_rec_free(ltv_emit_rec_t *rec);

/* Encodes rendered row o for topic into rec (key, value or tombstone,
 * the row's own header) and fills *it to point into rec; it->member is
 * the caller's. Returns 0, or -1 with errstr filled (no Avro encoder for
 * the topic, a row its schema cannot hold) and it->kind
 * LTV_EMIT_UNENCODABLE. */
int ltv_emitter_encode(ltv_emitter_t *em, const char *topic, const ltv_out_t *o,
                       ltv_emit_rec_t *rec, ltv_emit_item_t *it, char *errstr,
                       size_t errstr_size);

/* Produces a committed batch's rows, tracked under its emission-queue
 * token: when all are delivered the token comes back as an ack. */
int ltv_emitter_send(ltv_emitter_t *em, const char *token, const ltv_emit_item_t *items, int n,
                     char *errstr, size_t errstr_size);

/* Sends one bad message to the dead-letter topic, unchanged, with headers
 * ltv.reason, ltv.detail, ltv.source.topic, ltv.source.partition,
 * ltv.source.offset and ltv.time. */
int ltv_emitter_dlq(ltv_emitter_t *em, const rd_kafka_message_t *src, const char *reason,
                    const char *detail, char *errstr, size_t errstr_size);

/* Waits until every dead-letter message produced so far is acknowledged,
 * re-producing the ones that failed. Returns 0, or -1 if not all were
 * delivered within timeout_ms (the caller must then not commit past them). */
int ltv_emitter_dlq_wait(ltv_emitter_t *em, int timeout_ms);

/* Serves delivery reports. */
void ltv_emitter_poll(ltv_emitter_t *em, int timeout_ms);

/* Takes the batches whose rows are all delivered (or failed). The caller
 * frees them with ltv_acks_free. */
int ltv_emitter_take_acks(ltv_emitter_t *em, ltv_ack_t **acks);
void ltv_acks_free(ltv_ack_t *acks, int n);
/* Whether some finished batch had a failed delivery (to re-emit). */
int ltv_emitter_has_failed(ltv_emitter_t *em);

/* Rows produced but not yet acknowledged. */
int ltv_emitter_outstanding(ltv_emitter_t *em);

/* Waits for all outstanding messages. Returns 0 when none are left. */
int ltv_emitter_flush(ltv_emitter_t *em, int timeout_ms);
/* Drops every message not delivered yet, queued or in flight, so that
 * destroying the emitter does not wait for them: for a shutdown out of
 * time (their rows stay in the emission queue in Redis). */
void ltv_emitter_purge(ltv_emitter_t *em);

typedef struct ltv_emit_stats_s {
    uint64_t rows_produced;
    uint64_t rows_delivered;
    uint64_t rows_failed;
    uint64_t dlq_produced;
    uint64_t dlq_delivered;
    uint64_t dlq_failed;
} ltv_emit_stats_t;

void ltv_emitter_stats(ltv_emitter_t *em, ltv_emit_stats_t *out);

/* Tracks the delivered offsets of `topic` from now on, starting from its
 * high watermarks (asked for once, up to timeout_ms): a record produced
 * later lands at or above them. */
void ltv_emitter_track(ltv_emitter_t *em, const char *topic, int timeout_ms);
/* "L|<partition>:<offset>,..." of the tracked topic (partitions at 0 left
 * out). */
void ltv_emitter_low_marks(ltv_emitter_t *em, ltv_buf_t *out);

/* Applies the kafka.* (role 0) and role-specific properties to a librdkafka
 * conf. role: 1 consumer, 2 producer. */
int ltv_kafka_conf_apply(const ltv_conf_t *conf, int role, rd_kafka_conf_t *kc, char *errstr,
                         size_t errstr_size);

#endif
