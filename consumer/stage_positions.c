/*
 * Where each partition stands: its offset in Redis, read at assignment and
 * after a failed batch, is where consumption resumes. Kafka's committed
 * offsets only serve lag monitoring.
 */
#include "stage_int.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

void stage_sleep_ms(ltv_stage_t *st, int ms) {
    while (ms > 0 && !(st->stop && *st->stop)) {
        stage_heartbeat(st);
        int step = ms > 50 ? 50 : ms;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

part_t *stage_part(ltv_stage_t *st, const char *topic, int32_t partition, int create) {
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
    if (!strcmp(topic, st->conf->topic_purchases)) {
        p->topic = st->conf->topic_purchases;
        p->kind = LTV_EV_PURCHASE;
    } else if (st->conf->topic_ad_spend[0] && !strcmp(topic, st->conf->topic_ad_spend)) {
        p->topic = st->conf->topic_ad_spend;
        p->kind = LTV_EV_AD_SPEND;
    } else {
        p->topic = st->conf->topic_visits;
        p->kind = LTV_EV_VISIT;
    }
    p->partition = partition;
    p->stored_next = p->confirmed_next = -1;
    p->max_ts = INT64_MIN;
    p->rfm_day = p->tick_to = INT64_MIN;
    p->first_from = p->first_start = INT64_MIN;
    int k = p->kind - LTV_EV_PURCHASE;
    if (partition >= 0) {
        if (partition >= st->npidx[k]) {
            int n = partition + 1 > 2 * st->npidx[k] ? partition + 1 : 2 * st->npidx[k];
            st->pidx[k] = ltv_realloc(st->pidx[k], sizeof(int) * (size_t)n);
            for (int i = st->npidx[k]; i < n; i++)
                st->pidx[k][i] = -1;
            st->npidx[k] = n;
        }
        st->pidx[k][partition] = (int)(p - st->parts);
    }
    return p;
}

part_t *stage_part_of(ltv_stage_t *st, const rd_kafka_message_t *m) {
    /* The topic handle of a topic is stable, so after one name comparison
     * a message's part is two array lookups. */
    int k;
    if (m->rkt == st->rkt_of[0])
        k = 0;
    else if (m->rkt == st->rkt_of[1])
        k = 1;
    else if (m->rkt == st->rkt_of[2])
        k = 2;
    else {
        const char *name = rd_kafka_topic_name(m->rkt);
        if (!strcmp(name, st->conf->topic_purchases))
            k = 0;
        else if (!strcmp(name, st->conf->topic_visits))
            k = 1;
        else if (st->conf->topic_ad_spend[0] && !strcmp(name, st->conf->topic_ad_spend))
            k = 2;
        else
            return NULL;
        /* Cache the handle only while holding a reference to it: a freed
         * handle's address could be reused by another topic. */
        rd_kafka_topic_t *ref = rd_kafka_topic_new(st->rk, name, NULL);
        if (ref == m->rkt && !st->rkt_of[k])
            st->rkt_of[k] = ref; /* reference owned by st */
        else if (ref)
            rd_kafka_topic_destroy(ref);
    }
    if (m->partition < 0 || m->partition >= st->npidx[k] || st->pidx[k][m->partition] < 0)
        return NULL;
    return &st->parts[st->pidx[k][m->partition]];
}

/* Blocks until Redis answers (or stop): a stage without its state store can
 * only wait. Backoff doubles from 100 ms to 5 s. */
int stage_redis_ensure(ltv_stage_t *st) {
    /* Connected is connected, stopping or not. Checking the stop flag
     * first made every flush after SIGTERM fail here, before anything was
     * sent: the batch being read when the signal came was consumed but
     * never committed, and the stage still exited 0 (SPEC §6: finish and
     * persist the current batch; tests/it_sigterm_open_batch.c). Only the
     * retrying is cut short by a stop. */
    if (ltv_store_connected(st->store))
        return 0;
    int backoff = 100;
    int logged = 0;
    while (!(st->stop && *st->stop)) {
        char err[512];
        if (ltv_store_connect(st->store, err, sizeof(err)) == LTV_STORE_OK) {
            if (logged)
                ltv_info("redis: connected again");
            /* A new connection after a lost one: the server may have
             * restarted with less than it acknowledged (stage_flush
             * verifies the offsets before anything else). */
            if (st->redis_connected_once)
                st->redis_reconnected = 1;
            st->redis_connected_once = 1;
            return 0;
        }
        st->stats.redis_errors++;
        if (!logged++)
            ltv_err("%s; retrying with backoff", err);
        stage_publish(st); /* /readyz: Redis unreachable */
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
    while (stage_redis_ensure(st) == 0) {
        char err[512];
        if (ltv_store_read_offsets(st->store, offs, n, err, sizeof(err)) == LTV_STORE_OK) {
            for (int i = 0; i < n; i++) {
                /* Offsets only move forward: behind what Redis confirmed
                 * means it lost acknowledged writes (a restart from an
                 * older snapshot or AOF, or empty; a failover to a replica
                 * that lagged). Its state and offsets are still consistent
                 * with each other (one MULTI/EXEC per batch), so consuming
                 * again from its offsets rebuilds exactly what was lost;
                 * nothing is counted twice. Said loudly: the outputs are
                 * re-emitted as the replay goes. */
                if (offs[i].next_offset < ps[i]->confirmed_next) {
                    st->stats.offsets_went_back++;
                    ltv_err("%s [%d]: the offset stored in Redis went back from %lld to %lld: "
                            "Redis lost writes it had acknowledged (restarted from an older "
                            "snapshot, or empty); replaying from %s",
                            ps[i]->topic, (int)ps[i]->partition,
                            (long long)ps[i]->confirmed_next, (long long)offs[i].next_offset,
                            offs[i].next_offset >= 0 ? "there"
                                                     : "the earliest offset the topic retains");
                }
                ps[i]->stored_next = ps[i]->confirmed_next = offs[i].next_offset;
                ps[i]->max_ts = offs[i].max_ts;
                ps[i]->rfm_day = offs[i].rfm_day;
                /* A first pass starts again from what Redis holds: slices
                 * of a failed batch were not scored. */
                ps[i]->first_from = ps[i]->first_start = INT64_MIN;
            }
            rc = 0;
            break;
        }
        st->stats.redis_errors++;
        ltv_err("reading offsets: %s", err);
        ltv_store_disconnect(st->store);
    }
    free(offs);
    return rc;
}

/* The end offsets of a bounded run, pinned: the first choice in this
 * namespace is the one every instance and restart uses. (run.stop.at.ms
 * cuts a partition further, at its first message after that time, as the
 * messages arrive: see stage_time_cut().) */
static int bounded_ends(ltv_stage_t *st, part_t **ps, int n) {
    ltv_offset_t *offs = ltv_calloc((size_t)(n ? n : 1), sizeof(*offs));
    for (int i = 0; i < n; i++) {
        offs[i].topic = ps[i]->topic;
        offs[i].partition = ps[i]->partition;
        offs[i].next_offset = ps[i]->end;
    }
    int rc = -1;
    while (stage_redis_ensure(st) == 0) {
        char err[512];
        if (ltv_store_pin_ends(st->store, offs, n, err, sizeof(err)) == LTV_STORE_OK) {
            for (int i = 0; i < n; i++)
                ps[i]->end = offs[i].next_offset;
            rc = 0;
            break;
        }
        ltv_err("pinning end offsets: %s", err);
        ltv_store_disconnect(st->store);
    }
    free(offs);
    return rc;
}

/* Assigns `list` with each partition positioned at its offset in Redis (or
 * the beginning for a partition the namespace has never seen). */
int stage_assign_from_redis(ltv_stage_t *st, rd_kafka_topic_partition_list_t *list) {
    /* Creating a part may move the parts array, so every part is created
     * before any pointer into the array is kept. */
    for (int i = 0; i < list->cnt; i++)
        stage_part(st, list->elems[i].topic, list->elems[i].partition, 1);
    part_t **ps = ltv_calloc((size_t)(list->cnt ? list->cnt : 1), sizeof(*ps));
    for (int i = 0; i < list->cnt; i++) {
        ps[i] = stage_part(st, list->elems[i].topic, list->elems[i].partition, 0);
        ps[i]->in_batch = 0;
    }
    if (read_offsets(st, ps, list->cnt)) {
        free(ps);
        return -1;
    }
    for (int i = 0; i < list->cnt; i++) {
        list->elems[i].offset =
            ps[i]->stored_next >= 0 ? ps[i]->stored_next : RD_KAFKA_OFFSET_BEGINNING;
        if (!ps[i]->assigned)
            ps[i]->assigned_ms = ltv_now_ms();
        ps[i]->assigned = 1;
        if (st->conf->stop_at_end) {
            int64_t lo = 0, hi = 0;
            rd_kafka_resp_err_t e;
            while ((e = rd_kafka_query_watermark_offsets(st->rk, ps[i]->topic, ps[i]->partition,
                                                         &lo, &hi, 5000)) &&
                   !(st->stop && *st->stop)) {
                stage_heartbeat(st);
                ltv_warn("watermarks of %s [%d]: %s; retrying", ps[i]->topic,
                         (int)ps[i]->partition, rd_kafka_err2str(e));
            }
            ps[i]->low = lo;
            ps[i]->end = hi;
        }
        ps[i]->progress_from = ps[i]->stored_next >= 0 ? ps[i]->stored_next : ps[i]->low;
        ltv_dbg("assign %s [%d] at %lld", ps[i]->topic, (int)ps[i]->partition,
                (long long)list->elems[i].offset);
    }
    if (st->conf->stop_at_end && st->conf->stop_pin && bounded_ends(st, ps, list->cnt)) {
        free(ps);
        return -1;
    }
    free(ps);
    rd_kafka_resp_err_t e = rd_kafka_assign(st->rk, list);
    if (e) {
        ltv_err("assign: %s", rd_kafka_err2str(e));
        return -1;
    }
    st->assigned_once = 1;
    stage_lc_reset(st);
    return 0;
}

int stage_verify_offsets(ltv_stage_t *st) {
    int n = 0;
    for (int i = 0; i < st->nparts; i++)
        n += st->parts[i].assigned;
    if (!n)
        return 0;
    ltv_offset_t *offs = ltv_calloc((size_t)n, sizeof(*offs));
    part_t **ps = ltv_calloc((size_t)n, sizeof(*ps));
    for (int i = 0, k = 0; i < st->nparts; i++) {
        if (!st->parts[i].assigned)
            continue;
        ps[k] = &st->parts[i];
        offs[k].topic = ps[k]->topic;
        offs[k].partition = ps[k]->partition;
        k++;
    }
    char err[512];
    int rc = 0;
    if (ltv_store_read_offsets(st->store, offs, n, err, sizeof(err)) != LTV_STORE_OK) {
        ltv_warn("verifying offsets: %s", err);
        rc = -1;
    } else {
        for (int k = 0; k < n && !rc; k++)
            rc = offs[k].next_offset != ps[k]->confirmed_next;
    }
    free(offs);
    free(ps);
    return rc;
}

/* After a failed batch: every assigned partition goes back to Redis's
 * offset, and the cache, now possibly ahead of Redis, is emptied. */
void stage_reposition(ltv_stage_t *st) {
    ltv_cache_clear(st->cache);
    rd_kafka_topic_partition_list_t *cur = NULL;
    if (rd_kafka_assignment(st->rk, &cur) || !cur)
        return;
    if (cur->cnt)
        stage_assign_from_redis(st, cur);
    rd_kafka_topic_partition_list_destroy(cur);
    st->need_reposition = 0;
}

/* Bounds by message time (run.start.ms, run.stop.at.ms), applied as the
 * messages arrive rather than by asking the broker for offsets by time:
 * that works with any broker (the embedded one cannot look offsets up by
 * time) and gives the same cut, the first message after the time. With
 * CreateTime set by producers (when the event happened, as trackers do),
 * --to T rebuilds the state as it was known at T.
 * Returns 0 to process m, 1 if m is past the end (the partition is done
 * and paused), 2 if m is before the start (its offset is consumed, the
 * event not applied). */
int stage_time_cut(ltv_stage_t *st, part_t *p, const rd_kafka_message_t *m) {
    int64_t ts = rd_kafka_message_timestamp(m, NULL);
    if (st->conf->stop_at_end && st->conf->stop_at_ms >= 0) {
        if (m->offset >= p->end)
            return 1;
        if (ts > st->conf->stop_at_ms) {
            p->end = m->offset;
            rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(1);
            rd_kafka_topic_partition_list_add(l, p->topic, p->partition);
            rd_kafka_pause_partitions(st->rk, l);
            rd_kafka_topic_partition_list_destroy(l);
            ltv_dbg("%s [%d] ends at offset %lld (message time %lld)", p->topic,
                    (int)p->partition, (long long)m->offset, (long long)ts);
            return 1;
        }
    }
    if (st->conf->start_ms >= 0 && ts >= 0 && ts < st->conf->start_ms)
        return 2;
    return 0;
}
