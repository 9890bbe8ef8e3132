/*
 * One batch of decoded events on its way into customer state and aggregate
 * deltas:
 *
 *   ltv_batch_add        the decoder fills events in arrival order
 *   ltv_batch_loads      customers not in the cache, to read from Redis
 *   ltv_batch_loaded     hands the loaded customers to the cache
 *   ltv_batch_apply      applies every event; for each customer it touches,
 *                        the contribution to every affected row is taken
 *                        before its first event and after its last, and
 *                        the difference goes into the batch's deltas
 *   ltv_batch_dirty      the customers to write back
 *   ltv_batch_committed  state is in Redis: clear dirty marks
 *
 * If the batch cannot be committed, the caller clears the cache: the
 * customers in it are then ahead of Redis.
 */
#ifndef LTV_BATCH_H
#define LTV_BATCH_H

#include <stdint.h>

#include "agg.h"
#include "cache.h"
#include "customer.h"
#include "event.h"
#include "store.h"

typedef struct ltv_batch_s ltv_batch_t;

typedef struct ltv_batch_stats_s {
    uint64_t applied;
    uint64_t duplicates;
    uint64_t misrouted; /* customer seen on two partition numbers */
    uint64_t rfm_changes;
} ltv_batch_stats_t;

ltv_batch_t *ltv_batch_new(ltv_aggs_t *aggs, ltv_cache_t *cache, int64_t tz_offset_ms);
void ltv_batch_destroy(ltv_batch_t *b);

/* Starts a new batch (discarding any previous one). */
void ltv_batch_begin(ltv_batch_t *b, uint32_t seq);
/* A slot for the next event; its strings must be allocated in the arena. */
ltv_event_t *ltv_batch_add(ltv_batch_t *b, int32_t partition);
/* Gives the slot back (the event did not decode). */
void ltv_batch_unadd(ltv_batch_t *b);
ltv_arena_t *ltv_batch_arena(ltv_batch_t *b);
int ltv_batch_count(const ltv_batch_t *b);
/* Counts the event just added if its customer (or visitor) is not in the
 * cache; ltv_batch_uncached returns the count since ltv_batch_begin. An
 * entity seen twice counts twice: a bound, not a distinct count. */
void ltv_batch_note_uncached(ltv_batch_t *b, const ltv_event_t *ev);
int ltv_batch_uncached(const ltv_batch_t *b);

/* The clock's day the batch scores RFM at (INT64_MIN: unknown, no scoring). */
void ltv_batch_set_clock_day(ltv_batch_t *b, int64_t day);
/* Adds a customer to re-score without an event (recency crossed an edge). */
void ltv_batch_rescore(ltv_batch_t *b, const char *id, size_t idlen, int32_t partition);
/* Re-scores asked for in this batch. */
int ltv_batch_rescore_count(const ltv_batch_t *b);

/* Lifecycle triggers (lifecycle.h): the hooks are called while applying
 * (lc may be NULL or off); timers fall due up to `watermark`. A customer
 * added with ltv_batch_lc_due has a timer due and is settled and written
 * back to the timers even if nothing else changes. */
struct ltv_lifecycle_s;
void ltv_batch_set_lifecycle(ltv_batch_t *b, struct ltv_lifecycle_s *lc);
void ltv_batch_set_watermark(ltv_batch_t *b, int64_t watermark);
void ltv_batch_lc_due(ltv_batch_t *b, const char *id, size_t idlen, int32_t partition);

/* Returns the customers that must be read from the store (valid until
 * ltv_batch_loaded). */
int ltv_batch_loads(ltv_batch_t *b, ltv_load_t **loads);
/* Takes the load results (customers absent from the store start empty). */
void ltv_batch_loaded(ltv_batch_t *b);

void ltv_batch_apply(ltv_batch_t *b, ltv_batch_stats_t *stats);

/* Customers whose RFM scores or segment changed in the batch. */
int ltv_batch_rfm_changed(ltv_batch_t *b, ltv_customer_t ***out);

/* Touched customers with changes to write, and the batch's row deltas. */
int ltv_batch_dirty(ltv_batch_t *b, ltv_customer_t ***out);
ltv_deltas_t *ltv_batch_deltas(ltv_batch_t *b);
void ltv_batch_committed(ltv_batch_t *b);

#endif
