/*
 * The stage: consume -> decode -> apply -> commit -> emit, in batches.
 * See stage.c for the loop and its failure handling.
 */
#ifndef LTV_STAGE_H
#define LTV_STAGE_H

#include <signal.h>
#include <stdint.h>

#include "conf.h"
#include "decode.h"
#include "hist.h"
#include "lifecycle.h"

typedef struct ltv_stage_s ltv_stage_t;

enum { LTV_REGISTRY_NONE = 0, LTV_REGISTRY_UP, LTV_REGISTRY_DOWN };

typedef struct ltv_stage_stats_s {
    uint64_t consumed;          /* messages read from input topics (the sum of:) */
    uint64_t consumed_topic[3]; /* ... from the purchases, the visits, the ad spend topic */
    uint64_t applied;           /* events that changed state */
    uint64_t duplicates;        /* events already applied */
    uint64_t dlq[LTV_R__COUNT]; /* dead-lettered, by reason */
    uint64_t batches;           /* committed batches (with events or recency re-scores) */
    uint64_t fenced;            /* batches discarded: another owner */
    uint64_t redis_errors;      /* Redis failures: discarded batches, failed
                                 * connection attempts, reads and pings */
    uint64_t offsets_went_back; /* partitions found behind what Redis had acknowledged */
    uint64_t rows_emitted;
    uint64_t misrouted;
    uint64_t late;              /* events older than the watermark when processed */
    uint64_t skipped;           /* messages before run.start.ms, read past */
    uint64_t finalized;         /* rows re-emitted because they became final */
    uint64_t triggers[LTV_TRG__N]; /* lifecycle triggers produced, by type */
    uint64_t triggers_suppressed;  /* fired with lifecycle.emit=false: recorded, not produced */
    uint64_t redis_commands;
    /* Recency ticks: customers re-scored because the clock moved (a
     * customer crossing two edges in one tick counts twice), and the most
     * in one batch (bounded by rfm.tick.max.customers). */
    uint64_t rescored;
    uint64_t rescored_max_batch;
    /* The largest batch committed, in events and in events of customers
     * not cached when polled (bounded by batch.max.events and
     * batch.max.uncached). */
    uint64_t batch_events_max;
    uint64_t batch_uncached_max;
    /* Where the time goes, in microseconds summed over batches. */
    int64_t us_poll;     /* polling and decoding */
    int64_t us_fetch;    /* of which waiting in the consumer's queue (part of us_poll) */
    int64_t us_complete; /* waiting for the previous commit's result, emitting its rows */
    int64_t us_load;     /* the load round trip */
    int64_t us_apply;    /* applying events, contributions, deltas */
    int64_t us_commit;   /* building and sending the commit */
    int64_t us_emit;     /* rendering and producing rows (part of us_complete) */
    int64_t first_msg_us;       /* monotonic time of the first message consumed; 0 none */
    int64_t last_commit_us;     /* monotonic time of the last commit with events or re-scores */
    uint64_t cache_evictions;
    /* Schema Registry: messages deferred and output registrations retried
     * because it gave no answer (each waits out a backoff), and requests. */
    uint64_t registry_retries;
    uint64_t registry_requests;
    int registry_state; /* LTV_REGISTRY_NONE (not configured), _UP, _DOWN (its last
                         * request got no answer) */
    /* Latencies in seconds. A load round trip: from sending a batch's load
     * to its replies read (the previous batch's commit executes ahead of it
     * on the connection). A ping: an idle stage's check that Redis is
     * still there. A flush: stage_flush of a batch with events, from its
     * load to its commit sent. */
    ltv_hist_t redis_load, redis_ping, batch_flush;
    ltv_hist_t batch_events; /* events per batch committed (in Redis), batches with events */
} ltv_stage_stats_t;

/* The stage borrows conf, which must outlive it. */
ltv_stage_t *ltv_stage_new(const ltv_conf_t *conf, char *errstr, size_t errstr_size);
void ltv_stage_destroy(ltv_stage_t *st);

/* Runs until *stop becomes non-zero (or, with run.stop.at.end, until every
 * assigned partition is consumed up to its end offset at assignment).
 * Returns 0 on a clean stop. */
int ltv_stage_run(ltv_stage_t *st, volatile sig_atomic_t *stop);

void ltv_stage_stats(ltv_stage_t *st, ltv_stage_stats_t *out);

/* Calls cb from the run loop (between batches) at most every every_ms. */
void ltv_stage_set_tick(ltv_stage_t *st, int every_ms, void (*cb)(ltv_stage_t *, void *),
                        void *opaque);

/* With run.stop.at.end: 1 once the run stopped because every assigned
 * partition was consumed to its end. */
int ltv_stage_reached_end(const ltv_stage_t *st);

/* With run.stop.at.end: offsets committed since assignment and offsets to
 * commit in all, over the assigned partitions. */
void ltv_stage_progress(ltv_stage_t *st, int64_t *done, int64_t *total);

/* The stage's current watermark (event time, ms; INT64_MIN while unknown). */
int64_t ltv_stage_watermark(ltv_stage_t *st);

/* Publishes the stage's metrics and heartbeat on a board (metrics.h) from
 * now on: once per turn of the run loop, and while it waits for Redis. The
 * board must outlive the stage's run. */
struct ltv_metrics_s;
void ltv_stage_set_metrics(ltv_stage_t *st, struct ltv_metrics_s *board);

#endif
