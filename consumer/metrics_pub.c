/*
 * The board between the run loop and the HTTP thread.
 *
 * Why a snapshot under a mutex rather than atomic counters: the run loop's
 * counters are bumped per message and stay plain integers (no atomic
 * read-modify-write on the hot path); the per-partition series change
 * shape at every rebalance, which a fixed set of atomics cannot follow; and
 * a scrape sees one moment of the stage (consumed >= applied + dead
 * letters, histogram buckets that add up to their count), which loads of
 * independent atomics would not give. The run loop publishes once per turn
 * (once per batch, or every batch.max.ms when idle): a copy of a few
 * kilobytes under a lock that is held only for copies, never for
 * rendering or network I/O, so a slow scraper cannot hold the loop up.
 *
 * The heartbeat is one atomic on its own, so the loop's waits (Redis
 * outage backoff, dead letters not yet acknowledged) can show they are
 * alive without building a snapshot.
 */
#include "metrics.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct ltv_metrics_s {
    pthread_mutex_t lock;
    ltv_metrics_snap_t snap; /* guarded by lock */
    int published;           /* guarded by lock */
    _Atomic int64_t beat_us; /* monotonic time of the last heartbeat */
    int64_t stall_us;
};

ltv_metrics_t *ltv_metrics_new(int64_t stall_ms) {
    ltv_metrics_t *m = ltv_calloc(1, sizeof(*m));
    pthread_mutex_init(&m->lock, NULL);
    m->snap.watermark_ms = INT64_MIN;
    atomic_init(&m->beat_us, ltv_mono_us());
    m->stall_us = stall_ms * 1000;
    return m;
}

void ltv_metrics_destroy(ltv_metrics_t *m) {
    if (!m)
        return;
    pthread_mutex_destroy(&m->lock);
    ltv_metrics_snap_free(&m->snap);
    free(m);
}

void ltv_metrics_heartbeat(ltv_metrics_t *m, int64_t now_us) {
    atomic_store_explicit(&m->beat_us, now_us, memory_order_relaxed);
}

/* Copies src into dst, keeping dst's parts array. */
static void snap_copy(ltv_metrics_snap_t *dst, const ltv_metrics_snap_t *src) {
    ltv_metrics_part_t *parts = dst->parts;
    int cap = dst->capparts;
    *dst = *src;
    dst->parts = parts;
    dst->capparts = cap;
    ltv_metrics_snap_reserve(dst, src->nparts);
    if (src->nparts)
        memcpy(dst->parts, src->parts, sizeof(*src->parts) * (size_t)src->nparts);
}

void ltv_metrics_publish(ltv_metrics_t *m, const ltv_metrics_snap_t *s, int64_t now_us) {
    pthread_mutex_lock(&m->lock);
    snap_copy(&m->snap, s);
    m->published = 1;
    pthread_mutex_unlock(&m->lock);
    ltv_metrics_heartbeat(m, now_us);
}

int ltv_metrics_read(ltv_metrics_t *m, ltv_metrics_snap_t *out) {
    pthread_mutex_lock(&m->lock);
    int published = m->published;
    if (published)
        snap_copy(out, &m->snap);
    pthread_mutex_unlock(&m->lock);
    return published ? 0 : -1;
}

void ltv_metrics_health(ltv_metrics_t *m, int64_t now_us, ltv_health_t *out) {
    memset(out, 0, sizeof(*out));
    int64_t beat = atomic_load_explicit(&m->beat_us, memory_order_relaxed);
    out->since_beat_ms = now_us > beat ? (now_us - beat) / 1000 : 0;
    out->live = now_us - beat <= m->stall_us;
    pthread_mutex_lock(&m->lock);
    out->published = m->published;
    out->assigned = m->snap.assigned;
    out->redis_up = m->snap.redis_up;
    out->registry_down = m->snap.stats.registry_state == LTV_REGISTRY_DOWN;
    pthread_mutex_unlock(&m->lock);
    out->ready = out->live && out->published && out->assigned > 0 && out->redis_up &&
                 !out->registry_down;
}
