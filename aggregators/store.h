/*
 * Redis: where per-customer state, aggregate rows and input offsets live.
 *
 * One batch costs two round trips:
 *
 *  1. load:   WATCH the offset keys of the batch's partitions, read the
 *             offsets back, HMGET the customers not in the cache (one
 *             command per bucket of customers).
 *  2. commit: MULTI, every changed customer (one HSET per bucket), the
 *             aggregate deltas (HINCRBY) with a version bump and a read-back
 *             of every changed row, the rows' entries in the emission queue,
 *             the partitions' next offsets and highest event times, EXEC.
 *
 * The offsets and the state changes they produced are therefore written
 * atomically: after a crash the stage resumes exactly after the last
 * committed batch. The WATCH fences a stale instance (paused past its
 * session timeout, its partitions given to another): if anyone moved an
 * offset since we last wrote it, the check at load or the EXEC fails and
 * the batch is discarded instead of being counted twice.
 *
 * Key layout (namespace "ltv"):
 *   ltv:cs:<bucket>             hash: "c:<customer_id>" (or "v:<visitor_id>"
 *                               for an anonymous visitor, "s:<day>\x1f
 *                               <channel>\x1f<campaign>" for a day's ad
 *                               spend) -> the entity's compact value
 *                               (customer_codec.c); 256 buckets by a hash
 *                               of the id
 *   ltv:row:<agg>|<day>|<dim>   hash: one output row's counters + version
 *   ltv:off:<topic>:<partition> hash: next offset, highest ts
 *   ltv:emitq                   hash: batch token -> the rows it committed
 *                               whose delivery to Kafka is not yet
 *                               confirmed, one a line ("<token>/f" and
 *                               "<token>/r": rows its scripts changed)
 *   ltv:finalq                  zset: "<row>#<k>" by the watermark at which
 *                               the row's k-th `final` flag turns true
 *   ltv:clock                   hash: "<topic>:<partition>" -> event-time
 *                               position (see clock.h)
 *   ltv:rfmz:<partition>        zset: customer id by last purchase day, to
 *                               find whose recency crossed an edge
 *   ltv:rfm                     hash: days the rfm_segments running sums
 *                               cover (min, mat)
 *   ltv:lcz:<partition>         zset: customer id by the due time of its next
 *                               lifecycle occasion (lifecycle.h)
 *   ltv:lifecycle               hash: triggers committed for emission, by
 *                               type, and "suppressed" (lifecycle.emit=false)
 *   ltv:meta                    hash: layout version; marks the namespace
 *                               as existing (written on connect)
 *
 * ltv_store_key_kind knows each of these forms (`ltvstream ns` attributes
 * and drops keys by it): a new kind of key goes there too.
 *
 * Rows also hold `wm`, the watermark their current version was emitted
 * with ("" none; absent while withheld), and customers `rfm_wm`, the same
 * for their customer_rfm row: a re-emission renders the same record.
 */
#ifndef LTV_STORE_H
#define LTV_STORE_H

#include <stdint.h>
#include <stddef.h>

#include "agg.h"
#include "clock.h"
#include "conf.h"
#include "customer.h"
#include "util.h"

typedef enum {
    LTV_STORE_OK = 0,
    LTV_STORE_FENCED = 1,  /* offsets moved under us: another instance owns a partition */
    LTV_STORE_ERR = -1,    /* connection or server error: retry after reconnecting */
} ltv_store_res_t;

typedef struct ltv_store_s ltv_store_t;

/* A partition's stored position. next_offset -1: nothing stored yet. */
typedef struct ltv_offset_s {
    const char *topic;
    int32_t partition;
    int64_t next_offset;
    int64_t max_ts;
    int64_t rfm_day; /* clock day the partition's customers were last re-scored; INT64_MIN none */
} ltv_offset_t;

/* A customer to load: key parts in, customer out (NULL if absent). */
typedef struct ltv_load_s {
    ltv_entity_t kind;
    const char *id;
    size_t idlen;
    ltv_customer_t *out; /* new customer, owned by the caller */
} ltv_load_t;

ltv_store_t *ltv_store_new(const ltv_conf_t *conf, ltv_aggs_t *aggs);
void ltv_store_destroy(ltv_store_t *st);

/* (Re)connects, selects the db, loads scripts. Cheap when connected. */
ltv_store_res_t ltv_store_connect(ltv_store_t *st, char *errstr, size_t errstr_size);
void ltv_store_disconnect(ltv_store_t *st);
int ltv_store_connected(const ltv_store_t *st);

/* PING: is Redis still there? Nothing may be pending on the connection. */
ltv_store_res_t ltv_store_ping(ltv_store_t *st, char *errstr, size_t errstr_size);

/* Reads stored offsets (next_offset, max_ts) of the given partitions. */
ltv_store_res_t ltv_store_read_offsets(ltv_store_t *st, ltv_offset_t *offs, int n, char *errstr,
                                       size_t errstr_size);

/* Pins the end offsets of a bounded run: offs[i].next_offset is the
 * candidate in and the pinned end out (the first candidate ever stored for
 * that partition in this namespace wins). */
ltv_store_res_t ltv_store_pin_ends(ltv_store_t *st, ltv_offset_t *offs, int n, char *errstr,
                                   size_t errstr_size);

/* Round trip 1. fence[i].next_offset holds what we expect to be stored; on
 * a mismatch returns LTV_STORE_FENCED and sets fenced[i] = 1 for the
 * partitions that moved (fenced may be NULL). Loaded customers have no
 * dirty bits. */
ltv_store_res_t ltv_store_load(ltv_store_t *st, const ltv_offset_t *fence, int nfence,
                               int *fenced, ltv_load_t *loads, int nloads, char *errstr,
                               size_t errstr_size);

/* What one batch commits (round trip 2). */
typedef struct ltv_commit_s {
    ltv_customer_t *const *customers; /* their dirty fields are written */
    int ncust;
    const ltv_deltas_t *deltas;       /* rows with a non-zero delta are updated */
    const ltv_offset_t *offsets;      /* next offsets of the batch's partitions */
    int noffsets;
    const ltv_clockpos_t *clock;      /* event-time positions to publish */
    int nclock;
    const char *token;                /* the batch, in the emission queue */
    int64_t watermark;                /* rows final at or before it are re-emitted */
    int finalize_limit;               /* at most this many per commit */
    int64_t clock_day;                /* rfm_segments are materialized up to this day */
    const ltv_offset_t *rfm_days;     /* partitions re-scored up to their rfm_day */
    int nrfm_days;
    /* Lifecycle triggers fired by the batch ("t|..." members), queued for
     * emission with the batch, after the line of the lifecycle topic's low
     * marks ("L|..."); and how many were fired without being emitted. */
    const char *const *lc_members;
    int nlc_members;
    const char *lc_low;
    int lc_suppressed;
    /* Partitions whose lifecycle timers to poll up to `watermark`. */
    const int32_t *lc_polls;
    int nlc_polls;
} ltv_commit_t;

/* The halves of the load round trip, so a batch's load can be sent before
 * the previous batch's commit replies are read (the connection keeps the
 * order). The request must stay valid until ltv_store_load_recv. It can
 * also carry emission-queue acknowledgements and a read of the clock. */
typedef struct ltv_load_req_s {
    const ltv_offset_t *fence;
    int nfence;
    ltv_load_t *loads;
    int nloads;
    const char *const *acks; /* tokens of delivered batches */
    int nacks;
    int read_clock;
} ltv_load_req_t;

ltv_store_res_t ltv_store_load_send(ltv_store_t *st, const ltv_load_req_t *q, char *errstr,
                                    size_t errstr_size);
/* pos/npos/floor_wm receive the clock when q->read_clock (free(*pos)). */
ltv_store_res_t ltv_store_load_recv(ltv_store_t *st, const ltv_load_req_t *q, int *fenced,
                                    ltv_clockpos_t **pos, int *npos, int64_t *floor_wm,
                                    char *errstr, size_t errstr_size);

/* Round trip 2. The rows to emit (updated ones, read back after their
 * change; and rows whose `final` flag the watermark has just turned) are
 * returned in rows_out (free() it). */
ltv_store_res_t ltv_store_commit(ltv_store_t *st, const ltv_commit_t *c, ltv_row_t **rows_out,
                                 int *nrows_out, char *errstr, size_t errstr_size);

/* A lifecycle timer poll's result: the partition's customers due at the
 * commit's watermark, and when the next one falls due after it (INT64_MAX:
 * nothing scheduled; INT64_MIN: more were due than returned, poll again). */
typedef struct ltv_lc_poll_s {
    int32_t partition;
    int64_t next;
    char **ids;
    int nids;
} ltv_lc_poll_t;

/* The polls of the commits completed since the last call (free with
 * ltv_lc_polls_free). */
int ltv_store_take_lc_polls(ltv_store_t *st, ltv_lc_poll_t **out);
void ltv_lc_polls_free(ltv_lc_poll_t *p, int n);

/* Recency candidates: the customers of a partition whose last purchase
 * day lies in [lo, hi], in day order; the first `limit` of them (0: all). */
typedef struct ltv_rfm_range_s {
    int32_t partition;
    int64_t lo, hi;
    int64_t limit;
} ltv_rfm_range_t;

typedef struct ltv_rfm_hit_s {
    char *id;       /* free() it */
    int range;      /* index of the range that found it */
    int64_t day;    /* last purchase day */
} ltv_rfm_hit_t;

/* All ranges in one pipelined round trip. Free each hit's id and the
 * array with free(). */
ltv_store_res_t ltv_store_rfm_ranges(ltv_store_t *st, const ltv_rfm_range_t *ranges,
                                     int nranges, ltv_rfm_hit_t **hits, int *nhits,
                                     char *errstr, size_t errstr_size);

/* The halves of ltv_store_commit: send it, do other work, read the result. */
ltv_store_res_t ltv_store_commit_send(ltv_store_t *st, const ltv_commit_t *c, char *errstr,
                                      size_t errstr_size);
int ltv_store_commit_pending(const ltv_store_t *st);
/* wm_out: the shared watermark after this commit (the rows are to be
 * rendered with it), INT64_MIN if unknown. */
ltv_store_res_t ltv_store_commit_recv(ltv_store_t *st, ltv_row_t **rows_out, int *nrows_out,
                                      int64_t *wm_out, char *errstr, size_t errstr_size);
/* 1 when the last commit received finalized as many rows as its
 * finalize_limit allowed: more may be due at its watermark already. */
int ltv_store_finalize_more(const ltv_store_t *st);

/* Every partition's event-time position (free() *out), and the highest
 * watermark any commit has used (INT64_MIN: none): the clock never goes
 * back, not even across restarts. */
ltv_store_res_t ltv_store_read_clock(ltv_store_t *st, ltv_clockpos_t **out, int *n,
                                     int64_t *watermark, char *errstr, size_t errstr_size);

/* Removes delivered batches (by token) from the emission queue. */
ltv_store_res_t ltv_store_ack(ltv_store_t *st, const char *const *tokens, int n, char *errstr,
                              size_t errstr_size);

/* Reads the emission queue: members (row ids, "c|<customer>") and the queue
 * field holding each (free each, and the arrays, with free()). */
ltv_store_res_t ltv_store_read_emitq(ltv_store_t *st, char ***members, char ***tokens, int *n,
                                     char *errstr, size_t errstr_size);

/* Reads one row's current values. Returns LTV_STORE_OK; row->version 0 when
 * the row does not exist. */
ltv_store_res_t ltv_store_read_row(ltv_store_t *st, ltv_row_t *row, char *errstr,
                                   size_t errstr_size);
/* The same for n rows, in one pipelined round trip; each HGETALL gives one
 * transaction's values, version and recorded watermark together. */
ltv_store_res_t ltv_store_read_rows(ltv_store_t *st, ltv_row_t *rows, int n, char *errstr,
                                    size_t errstr_size);

/* Loads one customer by key parts (NULL *out when absent); for tools and tests. */
ltv_store_res_t ltv_store_get_customer(ltv_store_t *st, ltv_entity_t kind, const char *id,
                                       ltv_customer_t **out, char *errstr, size_t errstr_size);

/* Where a customer's value lives: key "<ns>:cs:<bucket>" and field
 * "c:<id>" ("v:<id>" for a visitor, "s:<id>" for an ad spend entity: the
 * field's first character is the ltv_entity_t); either output may be NULL. */
#define LTV_CUSTOMER_BUCKETS 256
int ltv_store_customer_bucket(const char *id, size_t idlen);
void ltv_store_customer_loc(const char *ns, ltv_entity_t kind, const char *id, size_t idlen,
                            ltv_buf_t *key, ltv_buf_t *field);

/* Opens a connection to the configured Redis (AUTH, SELECT done), for
 * tools that work on keys themselves; NULL with errstr filled. */
struct redisContext;
struct redisContext *ltv_redis_open(const ltv_conf_t *conf, char *errstr, size_t errstr_size);

/* The Redis client name of connections to namespace ns ("ltvstream:<ns>",
 * characters Redis refuses written %XX): `ns drop` sees stages in use by it. */
void ltv_store_client_name(const char *ns, ltv_buf_t *out);

/* From now on, connecting fails when the namespace does not exist (has no
 * <ns>:meta) instead of creating it: for tools that only read one. */
void ltv_store_require_existing(ltv_store_t *st);

/* SCAN MATCH pattern of every key of namespace ns ("<ns>:*", glob
 * characters of ns escaped). Keys of a longer namespace starting with
 * "<ns>:" match too: see ltv_store_key_kind. */
void ltv_store_match_pattern(const char *ns, ltv_buf_t *out);

/* One SCAN step over the namespace's keys: *cursor in (0 to start) and out
 * (0 when done); the keys found, without the "<ns>:" prefix (free each and
 * the array). A key may come more than once. */
ltv_store_res_t ltv_store_scan(ltv_store_t *st, uint64_t *cursor, int count, char ***keys,
                               int *n, char *errstr, size_t errstr_size);

/* The ids of the customers (or visitors, or spend entities) in a bucket key ("cs:<n>", as
 * ltv_store_scan returns it); free each and the array. */
ltv_store_res_t ltv_store_bucket_ids(ltv_store_t *st, const char *bucket, ltv_entity_t kind,
                                     char ***ids, int *n, char *errstr, size_t errstr_size);

/* What a key of a namespace is, from its name without "<ns>:" (the layout
 * above). UNKNOWN: not a key this layout writes (it may belong to another
 * namespace whose name starts with "<ns>:"). */
typedef enum {
    LTV_KEY_UNKNOWN = -1,
    LTV_KEY_CUSTOMER, /* a bucket of customers and visitors ("cs:<n>") */
    LTV_KEY_VISITOR,  /* never a key: ns_admin counts the visitors of buckets here */
    LTV_KEY_ROW,
    LTV_KEY_OFFSET,
    LTV_KEY_STAGE, /* the stage's bookkeeping: emitq, finalq, clock, rfmz:*, rfm, runend,
                    * lcz:*, lifecycle */
    LTV_KEY_META,
} ltv_key_kind_t;
ltv_key_kind_t ltv_store_key_kind(const char *suffix, size_t n);

/* Number of Redis commands sent since creation (for the benchmark). */
uint64_t ltv_store_commands(const ltv_store_t *st);

#endif
