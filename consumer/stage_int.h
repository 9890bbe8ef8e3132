/*
 * The stage's internals, shared by its files:
 *
 *   stage.c            messages, rebalances, lifecycle, the run loop
 *   stage_positions.c  Redis connection, stored offsets, partition assignment
 *   stage_commit.c     the clock, recency ticks, and each batch's way into
 *                      Redis: load, apply, commit (pipelined across batches)
 *   stage_emit.c       rendering committed rows and producing them
 *   stage_metrics.c    publishing metrics and the heartbeat; idle Redis check
 *   stage_lifecycle.c  lifecycle timers, trigger emission and re-emission
 *   stage_registry.c   the Schema Registry: output schemas registered at
 *                      start, waiting out an unreachable registry
 */
#ifndef LTV_STAGE_INT_H
#define LTV_STAGE_INT_H

#include "batch.h"
#include "cache.h"
#include "clock.h"
#include "decode.h"
#include "emit.h"
#include "lifecycle.h"
#include "metrics.h"
#include "registry.h"
#include "stage.h"
#include "store.h"

#include <librdkafka/rdkafka.h>

/* A commit's rows, each rendered into the one scratch field list, encoded
 * straight away into the scratch record and copied into the batch's
 * arena, where the items point until they are produced. */
typedef struct emitbuf_s {
    ltv_out_t out;       /* scratch row (initialised on first use) */
    ltv_emit_rec_t rec;  /* scratch encoding */
    int out_ready;
    ltv_emit_item_t *items;
    ltv_arena_t bytes;   /* the items' members, keys, values and headers */
    int n, cap;
} emitbuf_t;

typedef struct part_s {
    const char *topic; /* conf-owned */
    ltv_ev_kind_t kind;
    int32_t partition;
    int assigned;
    int64_t stored_next; /* next offset in Redis (or in the commit in flight); -1 none */
    int64_t confirmed_next; /* next offset Redis last confirmed holding (read, or a
                             * commit's reply); -1 none */
    int64_t max_ts;      /* highest event time committed; INT64_MIN none */
    int64_t low, end;    /* run.stop.at.end: first offset and end offset of the run */
    int64_t progress_from; /* position at assignment, for progress reports */
    int64_t assigned_ms;   /* wall clock of the assignment: idleness of a silent partition */
    int eof_seen;          /* reached its end since assignment */
    int in_batch;
    int64_t batch_next, batch_max_ts;
    int64_t rfm_day;     /* purchases partitions: clock day customers were scored at */
    int64_t tick_to;     /* this flush re-scores up to this day; INT64_MIN: no */
    int lc_fence;        /* this flush writes customers whose lifecycle timer fell due */
    int tick_span;       /* days of candidates the next tick reads at most (0: all) */
    /* The first pass (rfm_day unknown), bounded like the ticks: the next
     * last-purchase day it scores (INT64_MIN: from the start), the clock
     * day it began at (INT64_MIN: none under way), and whether this flush
     * scores a slice of it. */
    int64_t first_from, first_start;
    int first_fence;
} part_t;

struct ltv_stage_s {
    const ltv_conf_t *conf;
    rd_kafka_t *rk;
    ltv_schemas_t *schemas;
    ltv_registry_t *registry; /* NULL: no Schema Registry configured */
    ltv_decoder_t *dec;
    ltv_aggs_t *aggs;
    ltv_store_t *store;
    ltv_emitter_t *em;
    ltv_cache_t *cache;
    ltv_batch_t *batch;
    part_t *parts;
    int nparts, capparts;
    /* Per-message lookup of a message's part: by topic handle (purchases,
     * visits) and partition number, an index into parts (-1: none). */
    rd_kafka_topic_t *rkt_of[3]; /* references held by the stage */
    int *pidx[3];
    int npidx[3];
    rd_kafka_queue_t *cq; /* the consumer queue, polled in bulk */
    void (*tick_cb)(ltv_stage_t *st, void *opaque);
    void *tick_opaque;
    int64_t tick_every_us, tick_last_us;
    int reached_end; /* run.stop.at.end: stopped because everything was consumed */
    uint32_t seq;
    char instance[24];
    volatile sig_atomic_t *stop;
    /* When a stopping stage's delivery budget (shutdown.deliver.timeout.ms,
     * counted from its first wait for dead letters) runs out; 0: not set. */
    int64_t stop_deadline_us;
    int need_reposition; /* set after a failed batch */
    int registry_wait;   /* a message was deferred: the Schema Registry gave no answer */
    int registry_outage; /* ... and no request has succeeded since */
    int registry_backoff_ms;
    int redis_connected_once;
    int redis_reconnected;   /* a new connection since the offsets were last verified */
    int64_t verified_us;     /* when an idle stage last verified its offsets */
    int assigned_once;
    int close_abandoned; /* shutdown gave up leaving the group */
    int64_t clock;        /* the watermark: monotonic, INT64_MIN while unknown */
    int64_t committed_wm; /* the watermark of the last commit */
    ltv_clockpos_t *pos;  /* every partition's position, as last read */
    int npos;
    emitbuf_t eb;
    /* The commit in flight: sent, result not read yet. */
    int inflight, inflight_work;
    int inflight_nev, inflight_nunc; /* the commit in flight's events, and of them not cached */
    int end_backoff_ms; /* run.stop.at.end: wait before reading again after a failed end */
    int finalize_more; /* the last commit finalized all it was allowed to */
    int emit_closed;   /* shutdown gave up on undelivered rows: no re-emission */
    char inflight_token[64];
    rd_kafka_topic_partition_list_t *inflight_kofs;
    ltv_clockpos_t *inflight_cpos; /* the clock positions it writes */
    int inflight_ncpos;
    ltv_stage_stats_t stats;
    ltv_batch_stats_t bstats;
    /* Observability: the board (NULL: metrics off), the snapshot built
     * for it (kept so its array is reused) and the last idle ping. */
    ltv_metrics_t *metrics;
    ltv_metrics_snap_t msnap;
    int64_t last_ping_us;
    /* Lifecycle triggers (stage_lifecycle.c): per partition number, when
     * its next timer falls due as far as known; customers found due by the
     * last polls; this commit's polls; the topic's low marks. */
    ltv_lifecycle_t *lc;
    int64_t *lc_next;
    int nlc_next;
    ltv_lc_poll_t *lc_due;
    int nlc_due;
    int32_t *lc_polls;
    int nlc_polls;
    ltv_buf_t lc_low;
};

/* stage_positions.c */
void stage_sleep_ms(ltv_stage_t *st, int ms);
part_t *stage_part(ltv_stage_t *st, const char *topic, int32_t partition, int create);
/* The part a message belongs to, or NULL (not assigned here). */
part_t *stage_part_of(ltv_stage_t *st, const rd_kafka_message_t *m);
int stage_redis_ensure(ltv_stage_t *st);
/* run.start.ms / run.stop.at.ms for message m: 0 process, 1 past the end,
 * 2 before the start. */
int stage_time_cut(ltv_stage_t *st, part_t *p, const rd_kafka_message_t *m);
int stage_assign_from_redis(ltv_stage_t *st, rd_kafka_topic_partition_list_t *list);
void stage_reposition(ltv_stage_t *st);
/* Whether Redis still holds the offsets this instance last committed for
 * its assigned partitions (nothing may be in flight): 0 yes, 1 no (the
 * caller repositions), -1 Redis did not answer. */
int stage_verify_offsets(ltv_stage_t *st);

/* stage_commit.c */
int stage_batch_has_work(ltv_stage_t *st);
void stage_batch_reset(ltv_stage_t *st);
/* Sends the batch's commit (or, with no batch, the clock's effects)
 * without waiting for it; at_end marks the partitions read to the end. */
int stage_flush(ltv_stage_t *st, int at_end);
/* Waits for the commit in flight, if any, and emits its rows. */
int stage_complete(ltv_stage_t *st);
/* Whether some purchases partition is still re-scored at an earlier day
 * than the clock's (recency ticks are bounded per flush). */
int stage_ticks_pending(ltv_stage_t *st);
/* Reads every partition's position (nothing may be in flight). */
int stage_clock_read(ltv_stage_t *st);

/* stage_metrics.c */
/* Publishes a snapshot on the board (metrics on; cheap enough per batch). */
void stage_publish(ltv_stage_t *st);
/* Shows that the run loop is alive while it waits. */
void stage_heartbeat(ltv_stage_t *st);
/* With nothing in flight and metrics on, PINGs Redis at most once a
 * second, so an idle stage notices (and /readyz reports) an outage. */
void stage_idle_check(ltv_stage_t *st);

/* stage_lifecycle.c */
void stage_lc_init(ltv_stage_t *st);
void stage_lc_free(ltv_stage_t *st);
/* At run start: tracks the lifecycle topic's offsets for re-emission. */
void stage_lc_start(ltv_stage_t *st);
/* Forgets what is known of the timers (assignment changed, batch failed). */
void stage_lc_reset(ltv_stage_t *st);
/* Whether a flush has lifecycle work even without events: customers found
 * due, or a partition whose timers may be due and are not being polled. */
int stage_lc_pending(ltv_stage_t *st);
/* Before the batch's loads: the customers found due join it. */
void stage_lc_plan(ltv_stage_t *st);
/* Fills the commit's triggers and polls (dirty: the batch's customers). */
void stage_lc_commit(ltv_stage_t *st, ltv_commit_t *c, ltv_customer_t *const *dirty, int ndirty);
/* After the commit was sent: renders its triggers into the emission. */
void stage_lc_sent(ltv_stage_t *st);
/* After a commit completed: takes its polls. */
void stage_lc_completed(ltv_stage_t *st);
/* End of a bounded run: settles every timer due at the final watermark. */
int stage_lc_drain(ltv_stage_t *st); /* -1: a commit failed */
/* Re-emission of a queue entry's trigger members ("t|...", with its "L|"
 * low marks): only those not found in the topic; *unread counts an entry
 * whose delivery could not be checked (not sent, left queued). */
void stage_lc_reemit(ltv_stage_t *st, char *const *members, int n, int *unread);

/* stage_registry.c */
/* Registers the output schemas that have no id yet, retrying while the
 * registry is unreachable: 0 done, 1 stopped, -1 refused (the stage
 * cannot run). */
int stage_registry_register_outputs(ltv_stage_t *st);
/* After a message was deferred (LTV_R_RETRY): completes the batch read
 * before it, moves every assigned partition back to its committed offset
 * (the deferred message and what was fetched after it are read again) and
 * backs off. */
void stage_registry_wait(ltv_stage_t *st);
/* Once a turn: notices the end of an outage. */
void stage_registry_turn(ltv_stage_t *st);

/* stage_emit.c */
/* The scratch field list to render the next row into (reset). */
ltv_out_t *stage_emit_out(ltv_stage_t *st);
/* Adds the row rendered into stage_emit_out to the emission being built,
 * encoded for topic; topic NULL: a member carried with the batch, producing
 * nothing (the scratch list is not read). */
void stage_emit_add(ltv_stage_t *st, const char *topic, const char *member, size_t mlen);
/* Renders a row with the given watermark (its commit's shared one). */
void stage_emit_row(ltv_stage_t *st, const ltv_row_t *row, int64_t watermark);
void stage_emit_customer(ltv_stage_t *st, const ltv_customer_t *c);
void stage_emit_send(ltv_stage_t *st, const char *token);
void stage_emit_discard(ltv_stage_t *st);
void stage_emit_free(ltv_stage_t *st);
/* Emits queued members again with their current values (reads Redis:
 * nothing may be in flight). */
void stage_reemit(ltv_stage_t *st, const char *token, char *const *members, int n);
void stage_reemit_queue(ltv_stage_t *st);
/* Takes the delivered batches' tokens (re-emitting failed ones first, which
 * needs nothing in flight); free each and the array. */
int stage_take_acks(ltv_stage_t *st, char ***tokens);

#endif
