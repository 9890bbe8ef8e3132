/*
 * The stage's side of observability: the snapshot it publishes on the
 * metrics board (its own counters, the partitions it owns, the clock), the
 * heartbeat, and an idle check of Redis. All of it runs on the run loop's
 * thread, which owns every number read here; the board is the only thing
 * shared with the HTTP thread.
 */
#include "stage_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

void ltv_stage_set_metrics(ltv_stage_t *st, ltv_metrics_t *board) {
    st->metrics = board;
    stage_publish(st);
}

void stage_heartbeat(ltv_stage_t *st) {
    if (st->metrics)
        ltv_metrics_heartbeat(st->metrics, ltv_mono_us());
}

static int part_cmp(const void *a, const void *b) {
    const ltv_metrics_part_t *x = a, *y = b;
    int c = strcmp(x->topic, y->topic);
    if (c)
        return c;
    return (x->partition > y->partition) - (x->partition < y->partition);
}

/* Messages the partition is behind: its high watermark (as of librdkafka's
 * last fetch response, no broker call) minus the next offset committed to
 * Redis (where a restart would resume; also what Kafka's committed offsets
 * show), or minus the low watermark for a partition never committed. */
static int64_t part_lag(ltv_stage_t *st, const part_t *p) {
    int64_t lo = -1, hi = -1;
    if (rd_kafka_get_watermark_offsets(st->rk, p->topic, p->partition, &lo, &hi) ||
        hi < 0)
        return -1;
    int64_t next = p->stored_next >= 0 ? p->stored_next : lo;
    if (next < 0)
        return -1;
    return hi > next ? hi - next : 0;
}

void stage_publish(ltv_stage_t *st) {
    if (!st->metrics)
        return;
    ltv_metrics_snap_t *s = &st->msnap;
    s->version = LTV_VERSION;
    s->topics[0] = st->conf->topic_purchases;
    s->topics[1] = st->conf->topic_visits;
    s->topics[2] = st->conf->topic_ad_spend;
    ltv_stage_stats(st, &s->stats);
    s->watermark_ms = st->clock;
    s->redis_up = ltv_store_connected(st->store);
    ltv_metrics_snap_reserve(s, st->nparts);
    int n = 0;
    for (int i = 0; i < st->nparts; i++) {
        const part_t *p = &st->parts[i];
        if (!p->assigned)
            continue;
        ltv_metrics_part_t *mp = &s->parts[n++];
        mp->topic = p->topic;
        mp->partition = p->partition;
        mp->lag = part_lag(st, p);
        mp->position_ms = p->max_ts;
    }
    s->nparts = s->assigned = n;
    if (n > 1)
        qsort(s->parts, (size_t)n, sizeof(*s->parts), part_cmp);
    ltv_metrics_publish(st->metrics, s, ltv_mono_us());
}

void stage_idle_check(ltv_stage_t *st) {
    if (!st->metrics || st->inflight || ltv_store_commit_pending(st->store) ||
        !ltv_store_connected(st->store))
        return;
    int64_t t0 = ltv_mono_us();
    if (t0 - st->last_ping_us < 1000000)
        return;
    st->last_ping_us = t0;
    char err[512];
    if (ltv_store_ping(st->store, err, sizeof(err)) != LTV_STORE_OK) {
        st->stats.redis_errors++;
        ltv_err("%s; waiting for Redis", err);
        /* The next flush reconnects, with backoff, before anything else. */
        ltv_store_disconnect(st->store);
        return;
    }
    ltv_hist_observe(&st->stats.redis_ping, (double)(ltv_mono_us() - t0) / 1e6);
}
