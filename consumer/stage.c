/*
 * The run loop.
 *
 *   poll messages into a batch (up to batch.max.events or batch.max.ms)
 *     decode each; bad ones go to the dead-letter topic at once
 *   load the batch's unknown customers from Redis, fencing on its offsets
 *   apply the events to customer state, diff the aggregate contributions
 *   wait until the batch's dead letters are acknowledged by the broker
 *   commit state + deltas + offsets in one MULTI/EXEC
 *   emit the changed rows; their delivery clears them from the emission queue
 *
 * Offsets live in Redis next to the state they produced, so partition
 * assignment seeks to them and Kafka's own committed offsets only serve lag
 * monitoring. Whenever a batch cannot be committed (Redis failure, or
 * another instance took a partition over), the batch and the whole cache
 * are dropped and every assigned partition is re-positioned at its offset
 * in Redis: the events are processed again from the last committed point,
 * so nothing is lost and nothing is counted twice.
 */
#include "stage.h"
#include "batch.h"
#include "clock.h"
#include "customer_rfm.h"
#include "rfm.h"
#include "cache.h"
#include "emit.h"
#include "log.h"
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

typedef struct emitbuf_s {
    ltv_out_t *outs;
    ltv_emit_item_t *items;
    ltv_buf_t *members;
    int n, cap;
} emitbuf_t;

typedef struct part_s {
    const char *topic; /* conf-owned */
    ltv_ev_kind_t kind;
    int32_t partition;
    int assigned;
    int64_t stored_next; /* next offset as stored in Redis; -1 none */
    int64_t max_ts;      /* highest event time committed; INT64_MIN none */
    int64_t low, end;    /* watermarks at assignment, for run.stop.at.end */
    int in_batch;
    int64_t batch_next, batch_max_ts;
    int64_t rfm_day;     /* purchases partitions: clock day customers were scored at */
    int64_t tick_to;     /* this flush re-scores up to this day; INT64_MIN: no */
} part_t;

struct ltv_stage_s {
    const ltv_conf_t *conf;
    rd_kafka_t *rk;
    ltv_schemas_t *schemas;
    ltv_decoder_t *dec;
    ltv_aggs_t *aggs;
    ltv_store_t *store;
    ltv_emitter_t *em;
    ltv_cache_t *cache;
    ltv_batch_t *batch;
    part_t *parts;
    int nparts, capparts;
    uint32_t seq;
    char instance[24];
    volatile sig_atomic_t *stop;
    int need_reposition; /* set after a failed batch */
    int assigned_once;
    int64_t clock;          /* the watermark: monotonic, INT64_MIN while unknown */
    int64_t committed_wm;   /* the watermark of the last commit */
    int64_t clock_read_us;  /* when ltv:clock was last read */
    ltv_clockpos_t *pos;    /* every partition's position, as last read */
    int npos;
    emitbuf_t eb;
    ltv_stage_stats_t stats;
    ltv_batch_stats_t bstats;
};

static void stage_sleep_ms(ltv_stage_t *st, int ms) {
    while (ms > 0 && !(st->stop && *st->stop)) {
        int step = ms > 50 ? 50 : ms;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static part_t *part_get(ltv_stage_t *st, const char *topic, int32_t partition, int create) {
    for (int i = 0; i < st->nparts; i++)
        if (st->parts[i].partition == partition && !strcmp(st->parts[i].topic, topic))
            return &st->parts[i];
    if (!create)
        return NULL;
    if (st->nparts == st->capparts) {
        st->capparts = st->capparts ? st->capparts * 2 : 64;
        st->parts = ltv_realloc(st->parts, sizeof(*st->parts) * (size_t)st->capparts);
    }
    part_t *p = &st->parts[st->nparts++];
    memset(p, 0, sizeof(*p));
    int purchases = !strcmp(topic, st->conf->topic_purchases);
    p->topic = purchases ? st->conf->topic_purchases : st->conf->topic_visits;
    p->kind = purchases ? LTV_EV_PURCHASE : LTV_EV_VISIT;
    p->partition = partition;
    p->stored_next = -1;
    p->max_ts = INT64_MIN;
    p->rfm_day = p->tick_to = INT64_MIN;
    return p;
}

/* Our position for partition p in the shared clock, as of the batch. */
static void part_pos(ltv_stage_t *st, const part_t *p, int at_end, ltv_clockpos_t *out) {
    memset(out, 0, sizeof(*out));
    snprintf(out->name, sizeof(out->name), "%s:%d", p->topic, (int)p->partition);
    out->maxts = p->max_ts;
    if (p->in_batch && p->batch_max_ts > out->maxts)
        out->maxts = p->batch_max_ts;
    out->active_ms = ltv_now_ms();
    out->at_end = at_end;
    (void)st;
}

/* Recomputes the watermark from the shared positions, with this
 * instance's in-batch progress on top. It never goes back. */
static void clock_update(ltv_stage_t *st) {
    ltv_clockpos_t *pos = ltv_calloc((size_t)(st->npos + st->nparts + 1), sizeof(*pos));
    int n = st->npos;
    memcpy(pos, st->pos, sizeof(*pos) * (size_t)st->npos);
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->in_batch)
            continue;
        ltv_clockpos_t mine;
        part_pos(st, p, 0, &mine);
        int k = 0;
        while (k < n && strcmp(pos[k].name, mine.name))
            k++;
        if (k == n)
            n++;
        pos[k] = mine;
    }
    int64_t wm = ltv_clock_watermark(pos, n, ltv_now_ms(), st->conf->idle_timeout_ms,
                                     st->conf->allowed_lateness_ms);
    free(pos);
    if (wm > st->clock)
        st->clock = wm;
}

/* Reads every partition's position from Redis (all instances'). */
static int clock_read(ltv_stage_t *st) {
    char err[512];
    ltv_clockpos_t *pos;
    int n;
    int64_t floor_wm;
    if (ltv_store_read_clock(st->store, &pos, &n, &floor_wm, err, sizeof(err)) != LTV_STORE_OK) {
        ltv_warn("reading the clock: %s", err);
        return -1;
    }
    free(st->pos);
    st->pos = pos;
    st->npos = n;
    st->clock_read_us = ltv_mono_us();
    if (floor_wm > st->clock)
        st->clock = floor_wm;
    clock_update(st);
    return 0;
}

int64_t ltv_stage_watermark(ltv_stage_t *st) { return st->clock; }

/* ---- Redis connection ------------------------------------------------------ */

/* Blocks until Redis answers (or stop): a stage without its state store can
 * only wait. Backoff doubles from 100 ms to 5 s. */
static int redis_ensure(ltv_stage_t *st) {
    int backoff = 100;
    int logged = 0;
    while (!(st->stop && *st->stop)) {
        char err[512];
        if (ltv_store_connect(st->store, err, sizeof(err)) == LTV_STORE_OK) {
            if (logged)
                ltv_info("redis: connected again");
            return 0;
        }
        if (!logged++)
            ltv_err("%s; retrying with backoff", err);
        stage_sleep_ms(st, backoff);
        backoff = backoff * 2 > 5000 ? 5000 : backoff * 2;
    }
    return -1;
}

/* Reads the stored offsets of the given parts, retrying through outages. */
static int read_offsets(ltv_stage_t *st, part_t **ps, int n) {
    ltv_offset_t *offs = ltv_calloc((size_t)(n ? n : 1), sizeof(*offs));
    for (int i = 0; i < n; i++) {
        offs[i].topic = ps[i]->topic;
        offs[i].partition = ps[i]->partition;
    }
    int rc = -1;
    while (redis_ensure(st) == 0) {
        char err[512];
        if (ltv_store_read_offsets(st->store, offs, n, err, sizeof(err)) == LTV_STORE_OK) {
            for (int i = 0; i < n; i++) {
                ps[i]->stored_next = offs[i].next_offset;
                ps[i]->max_ts = offs[i].max_ts;
                ps[i]->rfm_day = offs[i].rfm_day;
            }
            rc = 0;
            break;
        }
        ltv_err("reading offsets: %s", err);
        ltv_store_disconnect(st->store);
    }
    free(offs);
    return rc;
}

/* ---- positions ------------------------------------------------------------------ */

/* Assigns `list` with each partition positioned at its offset in Redis (or
 * the beginning for a partition the namespace has never seen). */
static int assign_from_redis(ltv_stage_t *st, rd_kafka_topic_partition_list_t *list) {
    part_t **ps = ltv_calloc((size_t)(list->cnt ? list->cnt : 1), sizeof(*ps));
    for (int i = 0; i < list->cnt; i++) {
        ps[i] = part_get(st, list->elems[i].topic, list->elems[i].partition, 1);
        ps[i]->in_batch = 0;
    }
    if (read_offsets(st, ps, list->cnt)) {
        free(ps);
        return -1;
    }
    for (int i = 0; i < list->cnt; i++) {
        list->elems[i].offset =
            ps[i]->stored_next >= 0 ? ps[i]->stored_next : RD_KAFKA_OFFSET_BEGINNING;
        ps[i]->assigned = 1;
        if (st->conf->stop_at_end) {
            int64_t lo = 0, hi = 0;
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_query_watermark_offsets(st->rk, ps[i]->topic, ps[i]->partition,
                                                         &lo, &hi, 5000)) &&
                   !(st->stop && *st->stop))
                ltv_warn("watermarks of %s [%d]: %s; retrying", ps[i]->topic,
                         (int)ps[i]->partition, rd_kafka_err2str(e));
            ps[i]->low = lo;
            ps[i]->end = hi;
        }
        ltv_dbg("assign %s [%d] at %lld", ps[i]->topic, (int)ps[i]->partition,
                (long long)list->elems[i].offset);
    }
    free(ps);
    rd_kafka_resp_err_t e = rd_kafka_assign(st->rk, list);
    if (e) {
        ltv_err("assign: %s", rd_kafka_err2str(e));
        return -1;
    }
    st->assigned_once = 1;
    return 0;
}

/* After a failed batch: every assigned partition goes back to Redis's
 * offset, and the cache, now possibly ahead of Redis, is emptied. */
static void reposition(ltv_stage_t *st) {
    ltv_cache_clear(st->cache);
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(st->rk, &cur) || !cur)
        return;
    if (cur->cnt)
        assign_from_redis(st, cur);
    rd_kafka_topic_partition_list_destroy(cur);
    st->need_reposition = 0;
}

/* ---- batches -------------------------------------------------------------------- */

static void batch_reset(ltv_stage_t *st) {
    for (int i = 0; i < st->nparts; i++)
        st->parts[i].in_batch = 0;
    ltv_batch_begin(st->batch, ++st->seq);
}

static int batch_has_work(ltv_stage_t *st) {
    for (int i = 0; i < st->nparts; i++)
        if (st->parts[i].in_batch)
            return 1;
    return 0;
}

static void batch_failed(ltv_stage_t *st, ltv_store_res_t res, const char *err) {
    if (res == LTV_STORE_FENCED) {
        st->stats.fenced++;
        ltv_warn("batch discarded: %s; re-reading positions from Redis", err);
    } else {
        st->stats.redis_errors++;
        ltv_err("batch discarded: %s; will resume from the offsets in Redis", err);
        ltv_store_disconnect(st->store);
    }
    batch_reset(st);
    st->need_reposition = 1;
}

/* ---- emission ----------------------------------------------------------------- */

/* The rows a commit emits, rendered into reusable buffers and produced in
 * one go under the batch's token. */
static ltv_out_t *eb_add(ltv_stage_t *st, const char *topic, const char *member, size_t mlen) {
    emitbuf_t *eb = &st->eb;
    if (eb->n == eb->cap) {
        int ncap = eb->cap ? eb->cap * 2 : 256;
        eb->outs = ltv_realloc(eb->outs, sizeof(*eb->outs) * (size_t)ncap);
        eb->items = ltv_realloc(eb->items, sizeof(*eb->items) * (size_t)ncap);
        eb->members = ltv_realloc(eb->members, sizeof(*eb->members) * (size_t)ncap);
        for (int i = eb->cap; i < ncap; i++) {
            ltv_out_init(&eb->outs[i]);
            ltv_buf_init(&eb->members[i]);
        }
        eb->cap = ncap;
    }
    ltv_out_t *o = &eb->outs[eb->n];
    ltv_out_reset(o);
    ltv_buf_reset(&eb->members[eb->n]);
    ltv_buf_append(&eb->members[eb->n], member, mlen);
    eb->items[eb->n].topic = topic;
    eb->n++;
    return o;
}

static void eb_row(ltv_stage_t *st, const ltv_row_t *row) {
    ltv_buf_t rid;
    ltv_buf_init(&rid);
    ltv_rowid_format(&row->id, &rid);
    ltv_out_t *o = eb_add(st, row->id.agg->topic, rid.p, rid.n);
    ltv_buf_free(&rid);
    ltv_emit_info_t info = {st->clock};
    row->id.agg->cls->render(row->id.agg, row, &info, o);
}

static void eb_customer(ltv_stage_t *st, const ltv_customer_t *c) {
    char m[512];
    int n = snprintf(m, sizeof(m), "c|%s", c->id);
    ltv_out_t *o = eb_add(st, st->conf->topic_customer_rfm, m,
                          (size_t)(n < (int)sizeof(m) ? n : (int)sizeof(m) - 1));
    ltv_emit_info_t info = {st->clock};
    ltv_customer_rfm_render(st->aggs, c, &info, st->conf->tz_offset_ms, o);
}

static void eb_send(ltv_stage_t *st, const char *token) {
    emitbuf_t *eb = &st->eb;
    for (int i = 0; i < eb->n; i++) {
        eb->items[i].out = &eb->outs[i];
        eb->items[i].member = eb->members[i].p;
    }
    char err[512];
    if (eb->n && ltv_emitter_send(st->em, token, eb->items, eb->n, err, sizeof(err)))
        ltv_err("emitting rows: %s (they stay queued and are re-emitted)", err);
    st->stats.rows_emitted += (uint64_t)eb->n;
    eb->n = 0;
}

static void eb_free(emitbuf_t *eb) {
    for (int i = 0; i < eb->cap; i++) {
        ltv_out_free(&eb->outs[i]);
        ltv_buf_free(&eb->members[i]);
    }
    free(eb->outs);
    free(eb->items);
    free(eb->members);
}

/* Emits queued members again with their current values, under the queue
 * field (token) that holds them. */
static void reemit_members(ltv_stage_t *st, const char *token, char *const *members, int n) {
    char err[512];
    for (int i = 0; i < n; i++) {
        const char *member = members[i];
        if (!strncmp(member, "c|", 2)) {
            ltv_customer_t *c = NULL;
            if (ltv_store_get_customer(st->store, LTV_ENT_CUSTOMER, member + 2, &c, err,
                                       sizeof(err)) != LTV_STORE_OK) {
                ltv_warn("re-emit %s: %s", member, err);
                continue;
            }
            if (c) {
                eb_customer(st, c);
                ltv_customer_destroy(c);
            }
            continue;
        }
        ltv_row_t row;
        memset(&row, 0, sizeof(row));
        if (ltv_rowid_parse(st->aggs, member, strlen(member), &row.id)) {
            ltv_warn("emission queue entry %s names no known row; left alone", member);
            continue;
        }
        if (ltv_store_read_row(st->store, &row, err, sizeof(err)) != LTV_STORE_OK) {
            ltv_warn("re-emit %s: %s", member, err);
            continue;
        }
        eb_row(st, &row);
    }
    eb_send(st, token);
}

static void send_acks(ltv_stage_t *st) {
    ltv_emitter_poll(st->em, 0);
    ltv_ack_t *acks;
    int n = ltv_emitter_take_acks(st->em, &acks);
    const char **tokens = ltv_calloc((size_t)(n ? n : 1), sizeof(char *));
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (acks[i].failed)
            /* Emit them again: their queue entry is still there. */
            reemit_members(st, acks[i].token, acks[i].members, acks[i].nmembers);
        else
            tokens[nt++] = acks[i].token;
    }
    char err[512];
    if (nt && ltv_store_ack(st->store, tokens, nt, err, sizeof(err)) != LTV_STORE_OK)
        /* Harmless: the rows stay queued and are re-emitted at the next
         * start, as the same versioned upserts. */
        ltv_warn("clearing the emission queue: %s", err);
    free(tokens);
    ltv_acks_free(acks, n);
}

/* Commits the batch (or, with no batch, just the clock's effects) and emits
 * what changed. at_end marks the batch's partitions as read to the end. */
static int flush(ltv_stage_t *st, int at_end) {
    int work = batch_has_work(st);
    if (redis_ensure(st))
        return -1;
    char err[512];
    /* The watermark this commit renders and finalizes with. */
    if (ltv_mono_us() - st->clock_read_us > 200000)
        clock_read(st);
    clock_update(st);
    int64_t clock_day =
        st->clock != INT64_MIN ? ltv_day_of(st->clock, st->conf->tz_offset_ms) : INT64_MIN;
    /* Recency ticks: purchases partitions whose customers were scored at an
     * earlier clock day. The invariant: every customer of partition p holds
     * scores valid at rfm_day(p). A partition without a day gets one as soon
     * as the clock is known, without a tick: no customer of it can have been
     * scored before (scoring and setting the day commit together). */
    int ticks = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        p->tick_to = INT64_MIN;
        if (!p->assigned || p->kind != LTV_EV_PURCHASE || clock_day == INT64_MIN)
            continue;
        if (p->rfm_day == INT64_MIN || clock_day > p->rfm_day) {
            p->tick_to = clock_day;
            ticks++;
        }
    }
    if (!work && !ticks && !at_end && st->clock == st->committed_wm)
        return 0;

    /* Who crossed an R edge between the last tick and now: last purchase
     * day L with rfm_day - edge <= L <= clock_day - edge - 1. */
    ltv_batch_set_clock_day(st->batch, clock_day);
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(st->aggs);
    int rescore = 0;
    for (int i = 0; ticks && i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (p->tick_to == INT64_MIN || p->rfm_day == INT64_MIN)
            continue;
        int64_t lo[LTV_RFM_EDGES], hi[LTV_RFM_EDGES];
        for (int e = 0; e < LTV_RFM_EDGES; e++) {
            lo[e] = p->rfm_day - rc->r_days[e];
            hi[e] = p->tick_to - rc->r_days[e] - 1;
        }
        char **ids;
        int nids;
        if (ltv_store_rfm_range(st->store, p->partition, lo, hi, LTV_RFM_EDGES, &ids, &nids, err,
                                sizeof(err)) != LTV_STORE_OK) {
            batch_failed(st, LTV_STORE_ERR, err);
            return -1;
        }
        for (int k = 0; k < nids; k++) {
            ltv_batch_rescore(st->batch, ids[k], strlen(ids[k]), p->partition);
            free(ids[k]);
        }
        free(ids);
        rescore += nids;
    }

    /* 1. Load, fenced on the offsets we believe are stored. */
    ltv_offset_t *offs = ltv_calloc((size_t)(st->nparts ? st->nparts : 1), sizeof(*offs));
    ltv_offset_t *fence = ltv_calloc((size_t)(st->nparts ? st->nparts : 1), sizeof(*fence));
    ltv_offset_t *rdays = ltv_calloc((size_t)(st->nparts ? st->nparts : 1), sizeof(*rdays));
    ltv_clockpos_t *cpos = ltv_calloc((size_t)(st->nparts ? st->nparts : 1), sizeof(*cpos));
    int noffs = 0, ncpos = 0, nfence = 0, nrdays = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (p->in_batch) {
            offs[noffs].topic = p->topic;
            offs[noffs].partition = p->partition;
            offs[noffs].next_offset = p->stored_next;
            noffs++;
        }
        if (p->in_batch || p->tick_to != INT64_MIN) {
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
        if (p->assigned && (p->in_batch || at_end) &&
            (p->max_ts != INT64_MIN || (p->in_batch && p->batch_max_ts != INT64_MIN)))
            part_pos(st, p, at_end, &cpos[ncpos++]);
    }
    ltv_store_res_t res = LTV_STORE_OK;
    work = work || rescore || nfence;
    if (work) {
        ltv_load_t *loads;
        int nloads = ltv_batch_loads(st->batch, &loads);
        res = ltv_store_load(st->store, fence, nfence, NULL, loads, nloads, err, sizeof(err));
        free(fence);
        fence = NULL;
        if (res != LTV_STORE_OK) {
            free(offs);
            free(cpos);
            free(rdays);
            batch_failed(st, res, err);
            return -1;
        }
        ltv_batch_loaded(st->batch);

        /* 2. Apply. */
        ltv_batch_apply(st->batch, &st->bstats);

        /* 3. Dead letters must be safely in their topic before the offsets
         * move past them. */
        while (ltv_emitter_dlq_wait(st->em, 5000)) {
            ltv_err("dead-letter messages not yet acknowledged; holding the batch");
            if (st->stop && *st->stop) {
                free(offs);
                free(cpos);
                free(rdays);
                batch_failed(st, LTV_STORE_ERR, "stopping with unacknowledged dead letters");
                return -1;
            }
        }
    }

    /* 4. Commit. */
    for (int i = 0, k = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->in_batch)
            continue;
        offs[k].next_offset = p->batch_next;
        offs[k].max_ts = p->batch_max_ts > p->max_ts ? p->batch_max_ts : p->max_ts;
        k++;
    }
    ltv_customer_t **dirty = NULL;
    int ndirty = work ? ltv_batch_dirty(st->batch, &dirty) : 0;
    char token[64];
    snprintf(token, sizeof(token), "%s:%u", st->instance, st->seq);
    ltv_commit_t c = {
        .customers = dirty,
        .ncust = ndirty,
        .deltas = work ? ltv_batch_deltas(st->batch) : NULL,
        .offsets = offs,
        .noffsets = noffs,
        .clock = cpos,
        .nclock = ncpos,
        .token = token,
        .watermark = st->clock,
        .finalize_limit = 2000,
        .clock_day = clock_day,
        .rfm_days = rdays,
        .nrfm_days = nrdays,
    };
    ltv_row_t *rows = NULL;
    int nrows = 0;
    res = ltv_store_commit(st->store, &c, &rows, &nrows, err, sizeof(err));
    free(cpos);
    free(fence);
    free(rdays);
    if (res != LTV_STORE_OK) {
        free(offs);
        batch_failed(st, res, err);
        return -1;
    }
    for (int i = 0; i < st->nparts; i++)
        if (st->parts[i].tick_to != INT64_MIN)
            st->parts[i].rfm_day = st->parts[i].tick_to;
    st->committed_wm = st->clock;
    if (work) {
        ltv_batch_committed(st->batch);
        st->stats.batches++;
        if (noffs)
            st->stats.last_commit_us = ltv_mono_us();
    }

    /* 5. Positions and emission. */
    rd_kafka_topic_partition_list_t *kofs = rd_kafka_topic_partition_list_new(noffs ? noffs : 1);
    for (int i = 0, k = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->in_batch)
            continue;
        p->stored_next = offs[k].next_offset;
        p->max_ts = offs[k].max_ts;
        p->in_batch = 0;
        rd_kafka_topic_partition_list_add(kofs, p->topic, p->partition)->offset = p->stored_next;
        k++;
    }
    free(offs);
    /* Kafka's committed offsets are for lag monitoring only. */
    if (noffs)
        rd_kafka_offsets_store(st->rk, kofs);
    rd_kafka_topic_partition_list_destroy(kofs);

    for (int i = 0; i < nrows; i++)
        eb_row(st, &rows[i]);
    free(rows);
    if (work) {
        ltv_customer_t **ch;
        int nch = ltv_batch_rfm_changed(st->batch, &ch);
        for (int i = 0; i < nch; i++)
            eb_customer(st, ch[i]);
    }
    eb_send(st, token);

    ltv_batch_begin(st->batch, ++st->seq);
    ltv_cache_evict(st->cache, st->seq);
    return 0;
}

static int flush_batch(ltv_stage_t *st) { return flush(st, 0); }

/* ---- messages ---------------------------------------------------------------- */

static void dead_letter(ltv_stage_t *st, const rd_kafka_message_t *m, ltv_reason_t r,
                        const char *detail) {
    char err[256];
    st->stats.dlq[r]++;
    ltv_dbg("dead letter %s [%d] @%lld: %s: %s", rd_kafka_topic_name(m->rkt), (int)m->partition,
            (long long)m->offset, ltv_reason_name(r), detail);
    if (ltv_emitter_dlq(st->em, m, ltv_reason_name(r), detail, err, sizeof(err)))
        ltv_err("%s (will retry before the batch commits)", err);
}

static void handle_message(ltv_stage_t *st, rd_kafka_message_t *m) {
    const char *topic = rd_kafka_topic_name(m->rkt);
    part_t *p = part_get(st, topic, m->partition, 0);
    if (!p || !p->assigned)
        return; /* left over from a revoked assignment */
    st->stats.consumed++;
    if (!p->in_batch) {
        p->in_batch = 1;
        p->batch_next = p->stored_next;
        p->batch_max_ts = INT64_MIN;
    }
    p->batch_next = m->offset + 1;
    if (!st->stats.first_msg_us)
        st->stats.first_msg_us = ltv_mono_us();

    char detail[512];
    ltv_event_t *ev = ltv_batch_add(st->batch, m->partition);
    ltv_reason_t r = ltv_decode(st->dec, p->kind, m->payload, m->len, ev,
                                ltv_batch_arena(st->batch), detail, sizeof(detail));
    if (r == LTV_OK)
        r = ltv_event_validate(ev, ltv_now_ms(), st->conf->max_future_skew_ms, detail,
                               sizeof(detail));
    if (r != LTV_OK) {
        ltv_batch_unadd(st->batch);
        dead_letter(st, m, r, detail);
        return;
    }
    if (ev->ts > p->batch_max_ts)
        p->batch_max_ts = ev->ts;
    /* Late: behind the watermark. Still applied in full; counted. */
    if (st->clock != INT64_MIN && ev->ts < st->clock)
        st->stats.late++;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    ltv_stage_t *st = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ltv_info("assigned %d partitions", parts->cnt);
        /* A failed assignment leaves us without partitions; the next
         * rebalance (or repositioning) tries again. */
        if (assign_from_redis(st, parts))
            rd_kafka_assign(rk, NULL);
        return;
    }
    /* Revoked or lost. Finish the batch while we still own the partitions;
     * if they were lost, the commit's fencing decides. */
    ltv_info("%s %d partitions", rd_kafka_assignment_lost(rk) ? "lost" : "revoked", parts->cnt);
    flush_batch(st);
    batch_reset(st);
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p = part_get(st, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (p)
            p->assigned = 0;
        ltv_cache_drop_partition(st->cache, parts->elems[i].partition);
    }
    rd_kafka_assign(rk, NULL);
    st->need_reposition = 0;
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    ltv_log(level <= 3 ? LTV_LOG_ERROR : level <= 4 ? LTV_LOG_WARN : level <= 6 ? LTV_LOG_INFO
                                                                                : LTV_LOG_DEBUG,
            "kafka %s: %s", fac, buf);
}

static int at_end(ltv_stage_t *st) {
    int any = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->assigned)
            continue;
        any = 1;
        int64_t pos = p->stored_next >= 0 ? p->stored_next : p->low;
        if (pos < p->end || p->in_batch)
            return 0;
    }
    return any;
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void make_instance_id(char *out, size_t n) {
    unsigned char r[8] = {0};
    int fd = open("/dev/urandom", O_RDONLY);
    if (fd >= 0) {
        if (read(fd, r, sizeof(r)) != (ssize_t)sizeof(r))
            memset(r, 0, sizeof(r));
        close(fd);
    }
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | r[i];
    v ^= (uint64_t)ltv_now_ms() ^ ((uint64_t)getpid() << 32);
    snprintf(out, n, "%016llx", (unsigned long long)v);
}

ltv_stage_t *ltv_stage_new(const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    ltv_stage_t *st = ltv_calloc(1, sizeof(*st));
    st->conf = conf;
    make_instance_id(st->instance, sizeof(st->instance));

    st->schemas = ltv_schemas_new(conf->schema_dir, errstr, errstr_size);
    if (!st->schemas)
        goto err;
    st->dec = ltv_decoder_new(conf, st->schemas, errstr, errstr_size);
    if (!st->dec)
        goto err;
    st->aggs = ltv_aggs_new(conf, errstr, errstr_size);
    if (!st->aggs)
        goto err;
    st->store = ltv_store_new(conf, st->aggs);
    st->cache = ltv_cache_new((size_t)conf->cache_max_customers);
    st->batch = ltv_batch_new(st->aggs, st->cache, conf->tz_offset_ms);
    st->em = ltv_emitter_new(conf, st->aggs, errstr, errstr_size);
    if (!st->em)
        goto err;

    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char tmp[512];
    /* Defaults a user may override with kafka.* properties. Range
     * assignment gives partition N of both input topics to the same
     * instance, which owning customers by partition relies on. */
    static const char *defaults[][2] = {
        {"group.id", "ltvstream"},
        {"enable.auto.commit", "true"},
        {"auto.offset.reset", "earliest"},
        {"partition.assignment.strategy", "range"},
        {"enable.partition.eof", "false"},
    };
    for (size_t i = 0; i < sizeof(defaults) / sizeof(defaults[0]); i++)
        rd_kafka_conf_set(kc, defaults[i][0], defaults[i][1], tmp, sizeof(tmp));
    if (ltv_kafka_conf_apply(conf, 1, kc, errstr, errstr_size)) {
        rd_kafka_conf_destroy(kc);
        goto err;
    }
    /* Offsets are stored only after their batch is in Redis. */
    if (rd_kafka_conf_set(kc, "enable.auto.offset.store", "false", tmp, sizeof(tmp))) {
        snprintf(errstr, errstr_size, "%s", tmp);
        rd_kafka_conf_destroy(kc);
        goto err;
    }
    rd_kafka_conf_set_rebalance_cb(kc, rebalance_cb);
    rd_kafka_conf_set_log_cb(kc, log_cb);
    rd_kafka_conf_set_opaque(kc, st);
    st->rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    if (!st->rk) {
        snprintf(errstr, errstr_size, "consumer: %s", tmp);
        rd_kafka_conf_destroy(kc);
        goto err;
    }
    kc = NULL; /* now owned by st->rk */
    rd_kafka_poll_set_consumer(st->rk);
    ltv_batch_begin(st->batch, ++st->seq);
    st->clock = st->committed_wm = INT64_MIN;
    return st;

err:
    ltv_stage_destroy(st);
    return NULL;
}

void ltv_stage_destroy(ltv_stage_t *st) {
    if (!st)
        return;
    if (st->rk)
        rd_kafka_destroy(st->rk);
    ltv_emitter_destroy(st->em);
    ltv_batch_destroy(st->batch);
    ltv_cache_destroy(st->cache);
    ltv_store_destroy(st->store);
    ltv_aggs_destroy(st->aggs);
    ltv_decoder_destroy(st->dec);
    ltv_schemas_destroy(st->schemas);
    free(st->parts);
    free(st->pos);
    eb_free(&st->eb);
    free(st);
}

/* Rows that were committed but whose delivery was never confirmed (the
 * previous process died first) are emitted again with their current
 * values. */
static void reemit_queue(ltv_stage_t *st) {
    char **members, **tokens;
    int n;
    char err[512];
    if (ltv_store_read_emitq(st->store, &members, &tokens, &n, err, sizeof(err)) !=
        LTV_STORE_OK) {
        ltv_warn("reading the emission queue: %s", err);
        return;
    }
    if (n)
        ltv_info("re-emitting %d rows committed before the last stop", n);
    /* Members of one queue entry are consecutive: re-emit each entry as one
     * batch, so its acknowledgement clears it only when all are delivered. */
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(tokens[j], tokens[i]))
            j++;
        reemit_members(st, tokens[i], members + i, j - i);
        i = j;
    }
    for (int i = 0; i < n; i++) {
        free(members[i]);
        free(tokens[i]);
    }
    free(members);
    free(tokens);
}

int ltv_stage_run(ltv_stage_t *st, volatile sig_atomic_t *stop) {
    st->stop = stop;
    if (redis_ensure(st))
        return 0;
    clock_read(st);
    st->committed_wm = st->clock;
    reemit_queue(st);

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, st->conf->topic_purchases, RD_KAFKA_PARTITION_UA);
    if (st->conf->topic_visits[0])
        rd_kafka_topic_partition_list_add(topics, st->conf->topic_visits, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(st->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        ltv_err("subscribe: %s", rd_kafka_err2str(e));
        return -1;
    }
    ltv_info("stage %s running: namespace %s, topics %s %s", st->instance,
             st->conf->namespace_, st->conf->topic_purchases, st->conf->topic_visits);

    while (!*stop) {
        int64_t deadline = ltv_mono_us() + st->conf->batch_max_ms * 1000;
        while (!*stop && ltv_batch_count(st->batch) < st->conf->batch_max_events) {
            int64_t left = (deadline - ltv_mono_us()) / 1000;
            if (left <= 0)
                break;
            rd_kafka_message_t *m = rd_kafka_consumer_poll(st->rk, (int)(left > 100 ? 100 : left));
            if (!m) {
                if (!batch_has_work(st) && st->conf->stop_at_end && st->assigned_once &&
                    at_end(st))
                    break;
                continue;
            }
            if (m->err) {
                if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                    ltv_warn("consumer: %s", rd_kafka_message_errstr(m));
            } else {
                handle_message(st, m);
            }
            rd_kafka_message_destroy(m);
        }
        /* Commits the batch, or on a quiet stream lets the clock finalize
         * rows (an idle partition stops holding it back). */
        flush_batch(st);
        if (st->need_reposition && redis_ensure(st) == 0)
            reposition(st);
        send_acks(st);
        if (st->conf->stop_at_end && st->assigned_once && at_end(st)) {
            ltv_info("all assigned partitions consumed to their end offsets");
            /* Read to the end: our partitions no longer hold the clock
             * back, exactly as if they had gone idle in a live run. */
            flush(st, 1);
            clock_read(st);
            flush(st, 0);
            break;
        }
    }

    /* Shutdown: finish the batch, flush the producer, leave the group. */
    flush_batch(st);
    if (ltv_emitter_flush(st->em, 10000))
        ltv_warn("producer flush timed out; undelivered rows stay queued in Redis");
    send_acks(st);
    rd_kafka_consumer_close(st->rk);
    st->stats.redis_commands = ltv_store_commands(st->store);
    return 0;
}

void ltv_stage_stats(ltv_stage_t *st, ltv_stage_stats_t *out) {
    *out = st->stats;
    out->applied = st->bstats.applied;
    out->duplicates = st->bstats.duplicates;
    out->misrouted = st->bstats.misrouted;
    out->redis_commands = ltv_store_commands(st->store);
    out->cache_evictions = ltv_cache_evictions(st->cache);
}
