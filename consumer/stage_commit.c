/*
 * Each batch's way into Redis, and the clock.
 *
 *   load     WATCH the batch's offset keys and check they hold what we
 *            last wrote; HGETALL the customers not in the cache; also clear
 *            delivered batches from the emission queue and read the clock.
 *   apply    events to customer state, contributions to row deltas.
 *   commit   one MULTI/EXEC: customers, deltas, offsets, clock, scripts.
 *
 * Pipelined across batches: a batch's commit is sent and not waited for;
 * the next batch is polled and decoded while Redis executes it; the next
 * load is sent before the commit's replies are read (the connection keeps
 * the order, so the new WATCH follows the old EXEC). Part state (offsets,
 * tick days) is advanced when a commit is sent; if the commit turns out to
 * have failed, the batch being built is dropped too and every partition is
 * re-positioned from Redis, as after any failed batch.
 */
#include "stage_int.h"
#include "log.h"
#include "rfm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int stage_batch_has_work(ltv_stage_t *st) {
    for (int i = 0; i < st->nparts; i++)
        if (st->parts[i].in_batch)
            return 1;
    return 0;
}

void stage_batch_reset(ltv_stage_t *st) {
    for (int i = 0; i < st->nparts; i++)
        st->parts[i].in_batch = 0;
    ltv_batch_begin(st->batch, ++st->seq);
}

/* The commit in flight's clock positions (owned; NULL: none). */
static void inflight_cpos_set(ltv_stage_t *st, ltv_clockpos_t *cpos, int ncpos) {
    free(st->inflight_cpos);
    st->inflight_cpos = cpos;
    st->inflight_ncpos = ncpos;
}

static void batch_failed(ltv_stage_t *st, ltv_store_res_t res, const char *err) {
    if (res == LTV_STORE_FENCED) {
        st->stats.fenced++;
        ltv_warn("batch discarded: %s; re-reading positions from Redis", err);
    } else {
        st->stats.redis_errors++;
        ltv_err("batch discarded: %s; will resume from the offsets in Redis", err);
    }
    /* Replies may still be pending on the connection (a load sent behind a
     * commit): a fresh connection is the only clean state. */
    ltv_store_disconnect(st->store);
    if (st->inflight) {
        st->inflight = 0;
        stage_emit_discard(st);
        if (st->inflight_kofs)
            rd_kafka_topic_partition_list_destroy(st->inflight_kofs);
        st->inflight_kofs = NULL;
    }
    inflight_cpos_set(st, NULL, 0);
    stage_batch_reset(st);
    stage_lc_reset(st);
    st->need_reposition = 1;
}

/* ---- clock ----------------------------------------------------------------------- */

/* Puts p into pos[0..*n) by name, replacing that partition's entry or
 * appending (room for it is the caller's). */
static void pos_put(ltv_clockpos_t *pos, int *n, const ltv_clockpos_t *p) {
    int k = 0;
    while (k < *n && strcmp(pos[k].name, p->name))
        k++;
    if (k == *n)
        (*n)++;
    pos[k] = *p;
}

/* Our position for partition p in the shared clock, as of the batch. */
static void part_pos(const part_t *p, int at_end, ltv_clockpos_t *out) {
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s:%d", p->topic, (int)p->partition);
    out->maxts = p->max_ts;
    if (p->in_batch && p->batch_max_ts > out->maxts)
        out->maxts = p->batch_max_ts;
    out->active_ms = ltv_now_ms();
    out->at_end = at_end;
}

/* Recomputes the watermark from the shared positions, with this
 * instance's in-batch progress on top. It never goes back. */
static void clock_update(ltv_stage_t *st) {
    /* A partition we were assigned but have not heard from yet holds the
     * clock back, exactly like one that is behind: its first messages may be
     * from the beginning of time. Without this, the first batch to reach
     * Redis (say, a small purchases partition read to its end in one fetch)
     * would set the watermark for everyone, and every later event of the
     * other partitions would be late and rows final too early. It stops
     * holding when it delivers anything, goes idle, or (bounded run) has
     * nothing to deliver. */
    int64_t now = ltv_now_ms();
    /* Without partitions (at start, before the assignment) the shared
     * positions say nothing about the partitions that have none yet (never
     * committed): the watermark stays at what commits used (the floor read
     * with the positions). Computed from the positions alone it ran ahead of
     * those partitions after a restart, and their events were late. */
    int assigned = 0;
    for (int i = 0; i < st->nparts; i++)
        assigned |= st->parts[i].assigned && st->parts[i].kind != LTV_EV_AD_SPEND;
    if (!assigned)
        return;
    for (int i = 0; i < st->nparts; i++) {
        const part_t *p = &st->parts[i];
        /* Heard from: an event time, any message at all (a partition whose
         * messages were all dead letters has delivered, too), or its end
         * (caught up: what it gets later is new, or late like any late
         * event). */
        if (!p->assigned || p->max_ts != INT64_MIN || p->in_batch || p->stored_next >= 0 ||
            p->eof_seen || p->kind == LTV_EV_AD_SPEND)
            continue;
        if (st->conf->idle_timeout_ms > 0 && now - p->assigned_ms > st->conf->idle_timeout_ms)
            continue;
        if (st->conf->stop_at_end && p->low >= p->end)
            continue;
        return;
    }
    ltv_clockpos_t *pos = ltv_calloc((size_t)(st->npos + st->nparts + 1), sizeof(*pos));
    int n = st->npos;
    memcpy(pos, st->pos, sizeof(*pos) * (size_t)st->npos);
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->in_batch || p->kind == LTV_EV_AD_SPEND)
            continue;
        ltv_clockpos_t mine;
        part_pos(p, 0, &mine);
        pos_put(pos, &n, &mine);
    }
    int64_t wm = ltv_clock_watermark(pos, n, ltv_now_ms(), st->conf->idle_timeout_ms,
                                     st->conf->allowed_lateness_ms);
    free(pos);
    if (wm > st->clock)
        st->clock = wm;
}

/* The positions a commit wrote, taken as the shared ones once it is in
 * (complete; a failed commit's never are): st->pos is otherwise what the
 * last load read, from before this commit.
 * Without this a stage that goes quiet right after a batch computes its
 * clock without that batch's partitions until the next load, which only
 * new data brings: a partition heard from after the last data batch (its
 * end reached later than another's first message) left the watermark
 * where it was, and rows unfinalized, on a quiet stream. */
static void clock_merge(ltv_stage_t *st, const ltv_clockpos_t *cpos, int ncpos) {
    if (!ncpos)
        return;
    st->pos = ltv_realloc(st->pos, sizeof(*st->pos) * (size_t)(st->npos + ncpos));
    for (int i = 0; i < ncpos; i++)
        pos_put(st->pos, &st->npos, &cpos[i]);
}


static void clock_set(ltv_stage_t *st, ltv_clockpos_t *pos, int n, int64_t floor_wm) {
    free(st->pos);
    st->pos = pos;
    st->npos = n;
    if (floor_wm > st->clock)
        st->clock = floor_wm;
}

int stage_clock_read(ltv_stage_t *st) {
    char err[512];
    ltv_clockpos_t *pos;
    int n;
    int64_t floor_wm;
    if (ltv_store_read_clock(st->store, &pos, &n, &floor_wm, err, sizeof(err)) != LTV_STORE_OK) {
        st->stats.redis_errors++;
        ltv_warn("reading the clock: %s", err);
        return -1;
    }
    clock_set(st, pos, n, floor_wm);
    clock_update(st);
    return 0;
}

/* ---- recency ticks -------------------------------------------------------------- */

/* Purchases partitions whose customers were scored at an earlier clock day
 * get tick_to = the clock's day. The invariant: every customer of partition
 * p holds scores valid at rfm_day(p). A partition without a day gets one
 * once the clock is known; its customers applied while the clock was
 * unknown hold no scores yet, so a first pass scores every customer the
 * partition has (once per partition in a namespace's life), in slices
 * (query_ticks), and only its last slice gives the partition its day. */
static int plan_ticks(ltv_stage_t *st, int64_t clock_day, int *need_query) {
    int ticks = 0;
    *need_query = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        p->tick_to = INT64_MIN;
        p->first_fence = 0;
        if (!p->assigned || p->kind != LTV_EV_PURCHASE || clock_day == INT64_MIN)
            continue;
        if (p->rfm_day == INT64_MIN || clock_day > p->rfm_day) {
            p->tick_to = clock_day;
            ticks++;
            *need_query = 1;
        }
    }
    return ticks;
}

/* Who crossed an R edge between the last tick and now: last purchase day L
 * with rfm_day - edge <= L <= tick_to - edge - 1, for each edge; that
 * customer's score changes on day L + edge + 1.
 *
 * The work is bounded: a clock that jumps many days at once (a partition
 * heard from late, an idle topic timing out, a replay) would otherwise
 * re-score most customers in one batch, holding all of them and their rows
 * in memory together. Each partition gets a share of
 * rfm.tick.max.customers and ticks only as far as the days whose crossings
 * fit in it (one day at least), lowering tick_to; the next flush goes on
 * from there. Scores move only on the days re-scored, so a customer not
 * yet reached shows its previous scores a few batches longer; the
 * rfm_segments counts do not depend on ticks at all (agg_rfm_segments.c).
 * Candidates are read for tick_span days ahead (0: all days to the clock),
 * a window that shrinks to what fitted when the share is exceeded and
 * doubles again while everything read fits, so a long catch-up does not
 * read far more than it uses.
 *
 * A partition's first pass (no rfm_day: every customer it has) is bounded
 * the same way, in slices of whole last-purchase days read in day order,
 * at most share + 1 candidates a flush (first_from). Unbounded, it held
 * every customer the partition had gathered before the clock was known in
 * one batch: 300,000 in a benchmark run. Its rfm_day is written when the
 * last slice is, as the day the pass began: customers scored in earlier
 * slices may have crossed edges since, and the ticks from that day on
 * catch them. */
static int cmp_hit_day(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

/* One slice of a first pass from the candidates read for it (day order,
 * at most share + 1 when bounded): whole days only, and at least one, so a
 * day with more customers than the share is read again in full. Frees the
 * hits' ids. */
static int first_slice(ltv_stage_t *st, part_t *p, ltv_rfm_hit_t *hits, int n, int bounded,
                       int64_t share, char *err, size_t errsz) {
    int take = n;              /* hits[0..take) are scored */
    int64_t next = INT64_MIN;  /* first_from after this slice; INT64_MIN: the pass is done */
    ltv_rfm_hit_t *day = NULL; /* a whole day read again */
    int nday = 0;
    if (bounded && n > share) {
        int64_t cut = hits[share].day;
        take = 0;
        while (take < n && hits[take].day < cut)
            take++;
        next = cut;
        if (!take) {
            ltv_rfm_range_t r = {p->partition, cut, cut, 0};
            if (ltv_store_rfm_ranges(st->store, &r, 1, &day, &nday, err, errsz) !=
                LTV_STORE_OK) {
                for (int k = 0; k < n; k++)
                    free(hits[k].id);
                return -1;
            }
            next = cut + 1;
        }
    }
    for (int k = 0; k < take; k++)
        ltv_batch_rescore(st->batch, hits[k].id, strlen(hits[k].id), p->partition);
    for (int k = 0; k < nday; k++) {
        ltv_batch_rescore(st->batch, day[k].id, strlen(day[k].id), p->partition);
        free(day[k].id);
    }
    free(day);
    for (int k = 0; k < n; k++)
        free(hits[k].id);
    if (next == INT64_MIN) {
        /* The last slice: rfm_day becomes the day the pass began. */
        p->tick_to = p->first_start;
        p->first_from = p->first_start = INT64_MIN;
    } else {
        p->first_from = next;
        p->tick_to = INT64_MIN; /* no rfm_day yet */
        p->first_fence = 1;     /* but its customers are written */
    }
    return 0;
}

static int query_ticks(ltv_stage_t *st, char *err, size_t errsz) {
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(st->aggs);
    ltv_rfm_range_t *ranges =
        ltv_calloc((size_t)(st->nparts ? st->nparts : 1) * LTV_RFM_EDGES, sizeof(*ranges));
    int *first = ltv_calloc((size_t)(st->nparts ? st->nparts : 1) + 1, sizeof(int));
    int nranges = 0, nticking = 0;
    for (int i = 0; i < st->nparts; i++)
        nticking += st->parts[i].tick_to != INT64_MIN;
    int bounded = st->conf->rfm_tick_max_customers > 0;
    int64_t share = st->conf->rfm_tick_max_customers / (nticking ? nticking : 1);
    if (share < 1)
        share = 1;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        first[i] = nranges;
        if (p->tick_to == INT64_MIN)
            continue;
        if (p->rfm_day == INT64_MIN) { /* first pass: everyone, a slice at a time */
            if (p->first_start == INT64_MIN)
                p->first_start = p->tick_to;
            ranges[nranges++] = (ltv_rfm_range_t){p->partition, p->first_from, INT64_MAX,
                                                  bounded ? share + 1 : 0};
            continue;
        }
        int64_t to = p->tick_to;
        if (p->tick_span > 0 && to - p->rfm_day > p->tick_span)
            to = p->rfm_day + p->tick_span;
        for (int e = 0; e < LTV_RFM_EDGES; e++)
            ranges[nranges++] = (ltv_rfm_range_t){p->partition, p->rfm_day - rc->r_days[e],
                                                  to - rc->r_days[e] - 1, 0};
    }
    first[st->nparts] = nranges;
    int rescore0 = ltv_batch_rescore_count(st->batch); /* lifecycle timers may have added some */
    ltv_rfm_hit_t *hits;
    int nhits;
    if (ltv_store_rfm_ranges(st->store, ranges, nranges, &hits, &nhits, err, errsz) !=
        LTV_STORE_OK) {
        free(ranges);
        free(first);
        return -1;
    }
    int64_t *cross = ltv_malloc(sizeof(int64_t) * (size_t)(nhits ? nhits : 1));
    /* Hits come range by range, so a partition's are consecutive. */
    for (int i = 0, h = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        int h0 = h;
        while (h < nhits && hits[h].range < first[i + 1])
            h++;
        if (p->tick_to == INT64_MIN)
            continue;
        if (p->rfm_day == INT64_MIN) {
            if (first_slice(st, p, hits + h0, h - h0, bounded, share, err, errsz)) {
                for (int k = h; k < nhits; k++)
                    free(hits[k].id);
                free(cross);
                free(hits);
                free(ranges);
                free(first);
                return -1;
            }
            continue;
        }
        int64_t to = p->tick_to;
        if (st->conf->rfm_tick_max_customers > 0) {
            int64_t window_to =
                p->tick_span > 0 && to - p->rfm_day > p->tick_span ? p->rfm_day + p->tick_span : to;
            int n = 0;
            for (int k = h0; k < h; k++) {
                int e = hits[k].range - first[i];
                cross[n++] = hits[k].day + rc->r_days[e] + 1;
            }
            qsort(cross, (size_t)n, sizeof(*cross), cmp_hit_day);
            /* The last day whose crossings, with all before it, fit. */
            to = p->rfm_day + 1;
            for (int k = 0; k < n && k < share; k++)
                if (k + 1 == n || cross[k + 1] > cross[k])
                    to = cross[k] > to ? cross[k] : to;
            if (n <= share)
                to = window_to;
            if (to > window_to)
                to = window_to;
            if (to == window_to && to < p->tick_to)
                p->tick_span = p->tick_span < 256 ? p->tick_span * 2 : 0;
            else if (to < window_to)
                p->tick_span = (int)(to - p->rfm_day);
            p->tick_to = to;
        }
        for (int k = h0; k < h; k++) {
            int e = hits[k].range - first[i];
            if (hits[k].day + rc->r_days[e] + 1 <= to)
                ltv_batch_rescore(st->batch, hits[k].id, strlen(hits[k].id), p->partition);
            free(hits[k].id);
        }
    }
    uint64_t nres = (uint64_t)(ltv_batch_rescore_count(st->batch) - rescore0);
    st->stats.rescored += nres;
    if (nres > st->stats.rescored_max_batch)
        st->stats.rescored_max_batch = nres;
    free(cross);
    free(hits);
    free(ranges);
    free(first);
    return 0;
}

int stage_ticks_pending(ltv_stage_t *st) {
    if (st->clock == INT64_MIN)
        return 0;
    int64_t day = ltv_day_of(st->clock, st->conf->tz_offset_ms);
    for (int i = 0; i < st->nparts; i++) {
        const part_t *p = &st->parts[i];
        if (p->assigned && p->kind == LTV_EV_PURCHASE && p->rfm_day != INT64_MIN &&
            p->rfm_day < day)
            return 1;
        if (p->assigned && p->kind == LTV_EV_PURCHASE && p->rfm_day == INT64_MIN &&
            p->first_start != INT64_MIN)
            return 1; /* a first pass under way */
    }
    return 0;
}

/* ---- commits -------------------------------------------------------------------- */

static int complete(ltv_stage_t *st);

int stage_complete(ltv_stage_t *st) {
    if (!st->inflight)
        return 0;
    int64_t t0 = ltv_mono_us();
    int rc = complete(st);
    st->stats.us_complete += ltv_mono_us() - t0;
    return rc;
}

static int complete(ltv_stage_t *st) {
    char err[512];
    ltv_row_t *rows = NULL;
    int nrows = 0;
    int64_t wm;
    ltv_store_res_t res = ltv_store_commit_recv(st->store, &rows, &nrows, &wm, err, sizeof(err));
    if (res != LTV_STORE_OK) {
        batch_failed(st, res, err);
        return -1;
    }
    /* Another instance may have moved the shared watermark further. The
     * commit's rows show the watermark its transaction left, exactly: that
     * value only grows from one transaction to the next. When it left none
     * (no instance has a clock yet) the rows show none, even if our clock
     * has moved since the commit was sent: a value that never reached Redis
     * could be followed by another instance's rows without it. */
    if (wm > st->clock)
        st->clock = wm;
    st->inflight = 0;
    clock_merge(st, st->inflight_cpos, st->inflight_ncpos);
    inflight_cpos_set(st, NULL, 0);
    st->finalize_more = ltv_store_finalize_more(st->store);
    stage_lc_completed(st);
    if (st->inflight_work) {
        st->stats.batches++;
        st->stats.last_commit_us = ltv_mono_us();
    }
    if (st->inflight_nev > 0) {
        /* Counted once in Redis: a failed commit's events come again. */
        ltv_hist_observe(&st->stats.batch_events, (double)st->inflight_nev);
        if ((uint64_t)st->inflight_nev > st->stats.batch_events_max)
            st->stats.batch_events_max = (uint64_t)st->inflight_nev;
        if ((uint64_t)st->inflight_nunc > st->stats.batch_uncached_max)
            st->stats.batch_uncached_max = (uint64_t)st->inflight_nunc;
    }
    /* Redis holds what the commit wrote (nothing newer has been sent). */
    for (int i = 0; i < st->nparts; i++)
        st->parts[i].confirmed_next = st->parts[i].stored_next;
    /* Kafka's committed offsets are for lag monitoring only. */
    if (st->inflight_kofs) {
        rd_kafka_offsets_store(st->rk, st->inflight_kofs);
        rd_kafka_topic_partition_list_destroy(st->inflight_kofs);
        st->inflight_kofs = NULL;
    }
    /* Customer rows were rendered when the commit was sent (the batch has
     * moved on since); the aggregate rows come from its replies. */
    int64_t t0 = ltv_mono_us();
    for (int i = 0; i < nrows; i++)
        stage_emit_row(st, &rows[i], wm);
    free(rows);
    stage_emit_send(st, st->inflight_token);
    st->stats.us_emit += ltv_mono_us() - t0;
    return 0;
}

static int flush(ltv_stage_t *st, int at_end);

int stage_flush(ltv_stage_t *st, int at_end) {
    /* Only flushes of batches with events are timed: an idle turn of the
     * loop would fill the histogram with nothing. */
    int work = stage_batch_has_work(st);
    int64_t t0 = ltv_mono_us();
    int rc = flush(st, at_end);
    if (work && rc == 0)
        ltv_hist_observe(&st->stats.batch_flush, (double)(ltv_mono_us() - t0) / 1e6);
    return rc;
}

static int flush(ltv_stage_t *st, int at_end) {
    if (st->inflight && !ltv_store_connected(st->store)) {
        batch_failed(st, LTV_STORE_ERR, "the connection closed with a commit in flight");
        return -1;
    }
    if (stage_redis_ensure(st))
        return -1;
    /* After a reconnect, before anything is built on what we believe is in
     * Redis: if it lost data (see read_offsets), the batch being built
     * starts from offsets it no longer has, and partitions with nothing
     * more to read would never find out through the fencing at load. */
    if (st->redis_reconnected) {
        int v = stage_verify_offsets(st);
        if (v < 0)
            return -1;
        st->redis_reconnected = 0;
        if (v > 0) {
            stage_batch_reset(st);
            st->need_reposition = 1;
            return -1;
        }
    }
    char err[512];
    int work = stage_batch_has_work(st);
    clock_update(st);
    int64_t clock_day =
        st->clock != INT64_MIN ? ltv_day_of(st->clock, st->conf->tz_offset_ms) : INT64_MIN;
    int need_query;
    int ticks = plan_ticks(st, clock_day, &need_query);

    /* What needs a reply before the load goes out: recency candidates, and
     * re-emitting rows whose delivery failed. Both are rare. */
    if (need_query || ltv_emitter_has_failed(st->em)) {
        if (stage_complete(st))
            return -1;
    }
    char **acks;
    int nacks = stage_take_acks(st, &acks);
    /* A commit finalizes a bounded number of rows (finalize_limit): when
     * the last one reached it, more may be due, and they must not wait
     * for the next event. */
    if (!work && !ticks && !at_end && st->clock == st->committed_wm && !stage_lc_pending(st) &&
        !st->finalize_more) {
        /* Nothing to commit: let the commit in flight finish, and clear
         * delivered batches from the queue. */
        int rc = stage_complete(st);
        if (!rc && nacks && ltv_store_ack(st->store, (const char *const *)acks, nacks, err,
                                          sizeof(err)) != LTV_STORE_OK) {
            st->stats.redis_errors++;
            ltv_warn("clearing the emission queue: %s", err);
        }
        for (int i = 0; i < nacks; i++)
            free(acks[i]);
        free(acks);
        /* Idle, nothing sent to Redis: once a second, check it still holds
         * our offsets. This is also how an idle stage notices that Redis
         * went away (the read fails and the next flush reconnects) and
         * came back with less. */
        if (!rc && ltv_mono_us() - st->verified_us > 1000000) {
            st->verified_us = ltv_mono_us();
            if (stage_verify_offsets(st) > 0) {
                st->need_reposition = 1;
                return -1;
            }
        }
        return rc;
    }
    ltv_batch_set_clock_day(st->batch, clock_day);
    if (need_query && query_ticks(st, err, sizeof(err))) {
        for (int i = 0; i < nacks; i++)
            free(acks[i]);
        free(acks);
        batch_failed(st, LTV_STORE_ERR, err);
        return -1;
    }

    stage_lc_plan(st);

    /* 1. Load: fenced on the offsets we believe are stored (or will be,
     * once the commit in flight is in). */
    size_t np = (size_t)(st->nparts ? st->nparts : 1);
    ltv_offset_t *offs = ltv_calloc(np, sizeof(*offs));
    ltv_offset_t *fence = ltv_calloc(np, sizeof(*fence));
    ltv_offset_t *rdays = ltv_calloc(np, sizeof(*rdays));
    ltv_clockpos_t *cpos = ltv_calloc(np, sizeof(*cpos));
    int noffs = 0, ncpos = 0, nfence = 0, nrdays = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (p->in_batch || p->tick_to != INT64_MIN || p->lc_fence || p->first_fence) {
            fence[nfence].topic = p->topic;
            fence[nfence].partition = p->partition;
            fence[nfence].next_offset = p->stored_next;
            nfence++;
        }
        if (p->tick_to != INT64_MIN) {
            rdays[nrdays].topic = p->topic;
            rdays[nrdays].partition = p->partition;
            rdays[nrdays].rfm_day = p->tick_to;
            nrdays++;
        }
        if (p->in_batch) {
            offs[noffs].topic = p->topic;
            offs[noffs].partition = p->partition;
            offs[noffs].next_offset = p->batch_next;
            offs[noffs].max_ts = p->batch_max_ts > p->max_ts ? p->batch_max_ts : p->max_ts;
            noffs++;
        }
        /* Ad spend is not on the clock: it reports past days, a day late
         * by nature, and would hold every watermark back by as much. */
        if (p->assigned && (p->in_batch || at_end) && p->kind != LTV_EV_AD_SPEND &&
            (p->max_ts != INT64_MIN || (p->in_batch && p->batch_max_ts != INT64_MIN)))
            part_pos(p, at_end, &cpos[ncpos++]);
    }
    ltv_load_t *loads;
    int nloads = ltv_batch_loads(st->batch, &loads);
    ltv_load_req_t q = {.fence = fence,
                        .nfence = nfence,
                        .loads = loads,
                        .nloads = nloads,
                        .acks = (const char *const *)acks,
                        .nacks = nacks,
                        .read_clock = 1};
    int64_t tsend = ltv_mono_us(), emit0 = st->stats.us_emit;
    ltv_store_res_t res = ltv_store_load_send(st->store, &q, err, sizeof(err));
    /* The previous commit's replies come first on the connection. */
    if (res == LTV_STORE_OK && stage_complete(st))
        res = LTV_STORE_ERR, snprintf(err, sizeof(err), "the previous commit failed");
    ltv_clockpos_t *pos = NULL;
    int npos = 0;
    int64_t floor_wm = INT64_MIN;
    int64_t t0 = ltv_mono_us();
    if (res == LTV_STORE_OK)
        res = ltv_store_load_recv(st->store, &q, NULL, &pos, &npos, &floor_wm, err, sizeof(err));
    int64_t t1 = ltv_mono_us();
    st->stats.us_load += t1 - t0;
    /* The round trip: Redis executing the previous commit (ahead on the
     * connection) and this load, less our own emission work meanwhile. */
    if (res == LTV_STORE_OK)
        ltv_hist_observe(&st->stats.redis_load,
                         (double)(t1 - tsend - (st->stats.us_emit - emit0)) / 1e6);
    for (int i = 0; i < nacks; i++)
        free(acks[i]);
    free(acks);
    if (res != LTV_STORE_OK) {
        free(pos);
        free(offs);
        free(fence);
        free(rdays);
        free(cpos);
        if (st->need_reposition)
            return -1; /* stage_complete already failed the batch */
        batch_failed(st, res, err);
        return -1;
    }
    clock_set(st, pos, npos, floor_wm);
    clock_update(st);
    ltv_batch_loaded(st->batch);
    ltv_batch_set_watermark(st->batch, st->clock);

    /* 2. Apply. */
    ltv_batch_apply(st->batch, &st->bstats);
    int64_t t2 = ltv_mono_us();
    st->stats.us_apply += t2 - t1;

    /* 3. Dead letters must be safely in their topic before the offsets move
     * past them. Waited for in half seconds, logged every 5 s. A stopping
     * stage still persists its batch if they are acknowledged within the
     * shutdown's delivery budget (shutdown.deliver.timeout.ms, shared with
     * the producer's final flush): giving up after the first half second
     * left a batch consumed but not committed whenever an acknowledgement
     * was slow (tests/it_graceful_shutdown.c under a loaded machine); with
     * the brokers down the batch is still given up, inside the budget. */
    for (int waits = 0; work && ltv_emitter_dlq_wait(st->em, 500); waits++) {
        stage_heartbeat(st); /* waiting for the broker, not stuck */
        if (waits % 10 == 9)
            ltv_err("dead-letter messages not yet acknowledged; holding the batch");
        if (st->stop && *st->stop) {
            int64_t now = ltv_mono_us();
            if (!st->stop_deadline_us)
                st->stop_deadline_us = now + st->conf->shutdown_deliver_ms * 1000;
            if (now < st->stop_deadline_us)
                continue;
            free(offs);
            free(fence);
            free(rdays);
            free(cpos);
            batch_failed(st, LTV_STORE_ERR, "stopping with unacknowledged dead letters");
            return -1;
        }
    }

    /* 4. Commit, sent and not waited for. The customer rows it emits show
     * our clock, stored with them so a re-emission is the same record. */
    ltv_customer_t **ch;
    int nch = ltv_batch_rfm_changed(st->batch, &ch);
    for (int i = 0; i < nch; i++) {
        ch[i]->rfm_wm = st->clock;
        ch[i]->has_rfm_wm = 1;
    }
    ltv_customer_t **dirty = NULL;
    int ndirty = ltv_batch_dirty(st->batch, &dirty);
    snprintf(st->inflight_token, sizeof(st->inflight_token), "%s:%u", st->instance, st->seq);
    ltv_commit_t c = {
        .customers = dirty,
        .ncust = ndirty,
        .deltas = ltv_batch_deltas(st->batch),
        .offsets = offs,
        .noffsets = noffs,
        .clock = cpos,
        .nclock = ncpos,
        .token = st->inflight_token,
        .watermark = st->clock,
        .finalize_limit = 2000,
        .clock_day = clock_day,
        .rfm_days = rdays,
        .nrfm_days = nrdays,
    };
    stage_lc_commit(st, &c, dirty, ndirty);
    res = ltv_store_commit_send(st->store, &c, err, sizeof(err));
    free(fence);
    free(rdays);
    if (res != LTV_STORE_OK) {
        free(cpos);
        free(offs);
        batch_failed(st, res, err);
        return -1;
    }
    /* Taken as the shared positions once the commit is in (complete). */
    inflight_cpos_set(st, cpos, ncpos);
    st->stats.us_commit += ltv_mono_us() - t2;
    st->inflight = 1;
    /* Recency re-scores count as work: bounded per batch, they can go on
     * after the last event, and a run is not done before they are (its
     * rows are emitted). */
    st->inflight_work = work || ticks;
    st->committed_wm = st->clock;
    st->inflight_nev = ltv_batch_count(st->batch);
    st->inflight_nunc = ltv_batch_uncached(st->batch);

    /* What the commit will have written, assumed from now on. */
    st->inflight_kofs = noffs ? rd_kafka_topic_partition_list_new(noffs) : NULL;
    for (int i = 0, k = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (p->tick_to != INT64_MIN)
            p->rfm_day = p->tick_to;
        if (!p->in_batch)
            continue;
        p->stored_next = offs[k].next_offset;
        p->max_ts = offs[k].max_ts;
        p->in_batch = 0;
        rd_kafka_topic_partition_list_add(st->inflight_kofs, p->topic, p->partition)->offset =
            p->stored_next;
        k++;
    }
    free(offs);

    /* The customer rows, rendered now: the batch is reused next. */
    for (int i = 0; i < nch; i++)
        stage_emit_customer(st, ch[i]);
    stage_lc_sent(st);
    ltv_batch_committed(st->batch);
    ltv_batch_begin(st->batch, ++st->seq);
    /* Evicting now is safe: an evicted customer's write is already on the
     * connection, ahead of any load that would read it back. */
    ltv_cache_evict(st->cache, st->seq);
    return 0;
}
