/*
 * The run loop.
 *
 *   poll messages into a batch (up to batch.max.events or batch.max.ms)
 *     decode each; bad ones go to the dead-letter topic at once; one whose
 *     writer schema the Schema Registry could not be asked for ends the
 *     batch before it (stage_registry.c: commit, seek back, back off)
 *   load the batch's unknown customers from Redis, fencing on its offsets
 *   apply the events to customer state, diff the aggregate contributions
 *   wait until the batch's dead letters are acknowledged by the broker
 *   commit state + deltas + offsets in one MULTI/EXEC
 *   emit the changed rows; their delivery clears them from the emission queue
 *
 * (stage_commit.c: load, apply and commit, pipelined across batches;
 * stage_positions.c: offsets and assignment; stage_emit.c: emission.)
 *
 * Offsets live in Redis next to the state they produced, so partition
 * assignment seeks to them and Kafka's own committed offsets only serve lag
 * monitoring. Whenever a batch cannot be committed (Redis failure, or
 * another instance took a partition over), the batch and the whole cache
 * are dropped and every assigned partition is re-positioned at its offset
 * in Redis: the events are processed again from the last committed point,
 * so nothing is lost and nothing is counted twice.
 */
#include "stage_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int64_t ltv_stage_watermark(ltv_stage_t *st) { return st->clock; }

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

/* The message is read: the batch moves its partition past it. */
static void take(ltv_stage_t *st, part_t *p, const rd_kafka_message_t *m) {
    st->stats.consumed_topic[p->kind - LTV_EV_PURCHASE]++;
    if (!p->in_batch) {
        p->in_batch = 1;
        p->batch_next = p->stored_next;
        p->batch_max_ts = INT64_MIN;
    }
    p->batch_next = m->offset + 1;
    if (!st->stats.first_msg_us)
        st->stats.first_msg_us = ltv_mono_us();
}

/* Returns 1 when the message cannot be decoded now (the Schema Registry
 * gave no answer for its writer schema): it is left unread, and the batch
 * must end before it (stage_registry_wait). */
static int handle_message(ltv_stage_t *st, rd_kafka_message_t *m) {
    part_t *p = stage_part_of(st, m);
    if (!p || !p->assigned)
        return 0; /* left over from a revoked assignment */
    if (st->conf->start_ms >= 0 || st->conf->stop_at_ms >= 0) {
        switch (stage_time_cut(st, p, m)) {
        case 1: return 0; /* past the run's end: not read */
        case 2:           /* before the run's start: read past */
            take(st, p, m);
            st->stats.skipped++;
            return 0;
        default: break;
        }
    }

    char detail[512];
    ltv_event_t *ev = ltv_batch_add(st->batch, m->partition);
    ltv_reason_t r = ltv_decode(st->dec, p->kind, m->payload, m->len, ev,
                                ltv_batch_arena(st->batch), detail, sizeof(detail));
    if (r == LTV_R_RETRY) {
        /* Not the message's fault: it is neither applied nor
         * dead-lettered, and its offset is not passed. */
        ltv_batch_unadd(st->batch);
        st->stats.registry_retries++;
        if (!st->registry_outage)
            ltv_err("%s; %s [%d] waits at offset %lld, retrying with backoff", detail,
                    rd_kafka_topic_name(m->rkt), (int)m->partition, (long long)m->offset);
        else
            ltv_dbg("%s; retrying", detail);
        st->registry_outage = 1;
        return 1;
    }
    take(st, p, m);
    if (r == LTV_OK)
        r = ltv_event_validate(ev, ltv_now_ms(), st->conf->max_future_skew_ms, detail,
                               sizeof(detail));
    if (r != LTV_OK) {
        ltv_batch_unadd(st->batch);
        dead_letter(st, m, r, detail);
        return 0;
    }
    ltv_batch_note_uncached(st->batch, ev);
    if (ev->ts > p->batch_max_ts)
        p->batch_max_ts = ev->ts;
    /* Late: behind the watermark. Still applied in full; counted. (Ad
     * spend is about a past day by nature; it is not on the clock.) */
    if (st->clock != INT64_MIN && ev->ts < st->clock && p->kind != LTV_EV_AD_SPEND)
        st->stats.late++;
    return 0;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque) {
    ltv_stage_t *st = opaque;
    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        ltv_info("assigned %d partitions", parts->cnt);
        /* A failed assignment leaves us without partitions; the next
         * rebalance (or repositioning) tries again. */
        if (stage_assign_from_redis(st, parts))
            rd_kafka_assign(rk, NULL);
        stage_publish(st);
        return;
    }
    /* Revoked or lost. Finish the batch while we still own the partitions;
     * if they were lost, the commit's fencing decides. */
    ltv_info("%s %d partitions", rd_kafka_assignment_lost(rk) ? "lost" : "revoked", parts->cnt);
    stage_flush(st, 0);
    stage_complete(st);
    stage_batch_reset(st);
    for (int i = 0; i < parts->cnt; i++) {
        part_t *p = stage_part(st, parts->elems[i].topic, parts->elems[i].partition, 0);
        if (p)
            p->assigned = p->eof_seen = 0;
        ltv_cache_drop_partition(st->cache, parts->elems[i].partition);
    }
    rd_kafka_assign(rk, NULL);
    st->need_reposition = 0;
    stage_lc_reset(st);
    stage_publish(st);
}

static void log_cb(const rd_kafka_t *rk, int level, const char *fac, const char *buf) {
    ltv_log(level <= 3 ? LTV_LOG_ERROR : level <= 4 ? LTV_LOG_WARN : level <= 6 ? LTV_LOG_INFO
                                                                                : LTV_LOG_DEBUG,
            "kafka %s: %s", fac, buf);
}

/* Every assigned partition read up to the offset a run.stop.at.end run
 * ends at. With open 0, written to Redis (or in the commit in flight) and
 * nothing in the open batch: the run may end. With open 1, the open batch
 * counts too: nothing more will come, so the batch need not wait out
 * batch.max.ms. */
static int ends_reached(ltv_stage_t *st, int open) {
    int any = 0;
    for (int i = 0; i < st->nparts; i++) {
        part_t *p = &st->parts[i];
        if (!p->assigned)
            continue;
        any = 1;
        if (p->in_batch && !open)
            return 0;
        int64_t pos = p->in_batch ? p->batch_next : p->stored_next >= 0 ? p->stored_next : p->low;
        if (pos < p->end)
            return 0;
    }
    return any;
}

static int at_end(ltv_stage_t *st) { return ends_reached(st, 0); }
static int read_to_end(ltv_stage_t *st) { return ends_reached(st, 1); }

/* A bounded run whose commits at its end keep failing (Redis refusing
 * them) reads again after a backoff doubling up to 5 s, not ten times a
 * second with an error logged each time. */
static void end_retry(ltv_stage_t *st) {
    st->end_backoff_ms = st->end_backoff_ms ? st->end_backoff_ms * 2 : 100;
    if (st->end_backoff_ms > 5000)
        st->end_backoff_ms = 5000;
    stage_sleep_ms(st, st->end_backoff_ms);
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
    if (conf->registry_url[0]) {
        st->registry = ltv_registry_new(conf->registry_url, conf->registry_user_info,
                                        conf->registry_timeout_ms, errstr, errstr_size);
        if (!st->registry)
            goto err;
        ltv_schemas_set_registry(st->schemas, st->registry);
    }
    st->dec = ltv_decoder_new(conf, st->schemas, errstr, errstr_size);
    if (!st->dec)
        goto err;
    st->aggs = ltv_aggs_new(conf, errstr, errstr_size);
    if (!st->aggs)
        goto err;
    st->store = ltv_store_new(conf, st->aggs);
    st->cache = ltv_cache_new((size_t)conf->cache_max_customers,
                              (size_t)conf->cache_max_mb << 20);
    st->batch = ltv_batch_new(st->aggs, st->cache, conf->tz_offset_ms);
    stage_lc_init(st);
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
        /* End-of-partition events tell the clock that a partition which
         * has delivered nothing is caught up rather than behind. */
        {"enable.partition.eof", "true"},
        /* Prefetch bounded by bytes, not messages. librdkafka 2.0.2 stops
         * fetching at either limit and resumes only on its next wakeup, up
         * to a second later (upstream #2879): the default message limit
         * (100000, well under a second of catch-up) left the stage idle,
         * while a 16 MiB queue holds about a second of small Avro events
         * and keeps the prefetch of a backlog out of the stage's memory
         * (bench/: 476 MiB peak instead of over 1 GiB, same rate). */
        {"queued.min.messages", "10000000"},
        {"queued.max.messages.kbytes", "16384"},
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
    st->cq = rd_kafka_queue_get_consumer(st->rk);
    ltv_batch_begin(st->batch, ++st->seq);
    st->clock = st->committed_wm = INT64_MIN;
    ltv_hist_init(&st->stats.redis_load, ltv_hist_redis_bounds, ltv_hist_redis_nbounds);
    ltv_hist_init(&st->stats.redis_ping, ltv_hist_redis_bounds, ltv_hist_redis_nbounds);
    ltv_hist_init(&st->stats.batch_flush, ltv_hist_batch_bounds, ltv_hist_batch_nbounds);
    ltv_hist_init(&st->stats.batch_events, ltv_hist_batch_events_bounds,
                  ltv_hist_batch_events_nbounds);
    return st;

err:
    ltv_stage_destroy(st);
    return NULL;
}

void ltv_stage_destroy(ltv_stage_t *st) {
    if (!st)
        return;
    if (st->cq)
        rd_kafka_queue_destroy(st->cq);
    for (int k = 0; k < 3; k++)
        if (st->rkt_of[k])
            rd_kafka_topic_destroy(st->rkt_of[k]);
    if (st->rk)
        rd_kafka_destroy_flags(st->rk,
                               st->close_abandoned ? RD_KAFKA_DESTROY_F_NO_CONSUMER_CLOSE : 0);
    ltv_emitter_destroy(st->em);
    ltv_batch_destroy(st->batch);
    if (st->lc)
        stage_lc_free(st);
    ltv_cache_destroy(st->cache);
    ltv_store_destroy(st->store);
    ltv_aggs_destroy(st->aggs);
    ltv_decoder_destroy(st->dec);
    ltv_schemas_destroy(st->schemas);
    ltv_registry_destroy(st->registry);
    free(st->parts);
    for (int k = 0; k < 3; k++)
        free(st->pidx[k]);
    free(st->pos);
    stage_emit_free(st);
    ltv_metrics_snap_free(&st->msnap);
    if (st->inflight_kofs)
        rd_kafka_topic_partition_list_destroy(st->inflight_kofs);
    free(st->inflight_cpos);
    free(st);
}

int ltv_stage_run(ltv_stage_t *st, volatile sig_atomic_t *stop) {
    st->stop = stop;
    /* Before anything can be emitted (the queue re-emitted just below). */
    int reg = stage_registry_register_outputs(st);
    if (reg)
        return reg > 0 ? 0 : -1;
    if (stage_redis_ensure(st))
        return 0;
    stage_clock_read(st);
    st->committed_wm = st->clock;
    stage_lc_start(st);
    stage_reemit_queue(st);

    rd_kafka_topic_partition_list_t *topics = rd_kafka_topic_partition_list_new(3);
    rd_kafka_topic_partition_list_add(topics, st->conf->topic_purchases, RD_KAFKA_PARTITION_UA);
    if (st->conf->topic_visits[0])
        rd_kafka_topic_partition_list_add(topics, st->conf->topic_visits, RD_KAFKA_PARTITION_UA);
    if (st->conf->topic_ad_spend[0])
        rd_kafka_topic_partition_list_add(topics, st->conf->topic_ad_spend, RD_KAFKA_PARTITION_UA);
    rd_kafka_resp_err_t e = rd_kafka_subscribe(st->rk, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (e) {
        ltv_err("subscribe: %s", rd_kafka_err2str(e));
        return -1;
    }
    ltv_info("stage %s running: namespace %s, topics %s %s %s", st->instance,
             st->conf->namespace_, st->conf->topic_purchases, st->conf->topic_visits,
             st->conf->topic_ad_spend);

    while (!*stop) {
        int64_t tpoll = ltv_mono_us();
        int64_t deadline = tpoll + st->conf->batch_max_ms * 1000;
        /* A batch ends at batch.max.ms, or at either size bound: events
         * (bigger batches coalesce more: in bench/'s realistic workload 0.6
         * Redis commands per event with batches of 50000 events, 0.34 with
         * these defaults) or events of customers not in the cache, whose
         * state and rows a batch holds until it commits (bench/'s worst
         * case, every event a new customer, peaked at 1.2-1.3 GiB with
         * batches of 50000 events, 1.4-1.5 GiB with 100000 and 2.1 GiB
         * with 400000). */
        while (!*stop && ltv_batch_count(st->batch) < st->conf->batch_max_events &&
               ltv_batch_uncached(st->batch) < st->conf->batch_max_uncached) {
            stage_heartbeat(st);
            int64_t left = (deadline - ltv_mono_us()) / 1000;
            if (left <= 0)
                break;
            /* Messages in bulk: one queue operation for many, instead of
             * one per message. */
            rd_kafka_message_t *ms[1024];
            size_t want = (size_t)(st->conf->batch_max_events - ltv_batch_count(st->batch));
            /* A message adds at most one event, and at most one not
             * cached: taking no more than either bound has left keeps both
             * exact. */
            size_t unc = (size_t)(st->conf->batch_max_uncached - ltv_batch_uncached(st->batch));
            if (want > unc)
                want = unc;
            if (want > sizeof(ms) / sizeof(ms[0]))
                want = sizeof(ms) / sizeof(ms[0]);
            /* What is queued, at once; and only when nothing is, a wait for
             * the first message. A batch call with a timeout waits until all
             * `want` messages are there (librdkafka's documented contract),
             * so with fewer queued the stage sat on the messages it had
             * until more came or the wait ended, instead of decoding them
             * while the rest arrive. */
            ssize_t got = rd_kafka_consume_batch_queue(st->cq, 0, ms, want);
            if (got <= 0) {
                int64_t tq = ltv_mono_us();
                got = rd_kafka_consume_batch_queue(st->cq, (int)(left > 100 ? 100 : left), ms, 1);
                st->stats.us_fetch += ltv_mono_us() - tq;
            }
            if (got <= 0) {
                if (st->conf->stop_at_end && st->assigned_once && read_to_end(st))
                    break;
                continue;
            }
            for (ssize_t i = 0; i < got; i++) {
                rd_kafka_message_t *m = ms[i];
                if (st->registry_wait) {
                    /* Fetched after a deferred message: read again after
                     * the rewind, in order. */
                } else if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
                    part_t *p = stage_part_of(st, m);
                    if (p && p->assigned)
                        p->eof_seen = 1;
                } else if (m->err) {
                    ltv_warn("consumer: %s", rd_kafka_message_errstr(m));
                } else {
                    st->registry_wait = handle_message(st, m);
                }
                rd_kafka_message_destroy(m);
            }
            if (st->registry_wait)
                break;
        }
        st->stats.us_poll += ltv_mono_us() - tpoll;
        /* Sends the batch's commit, or on a quiet stream lets the clock
         * finalize rows (an idle partition stops holding it back). */
        stage_flush(st, 0);
        if (st->registry_wait)
            stage_registry_wait(st);
        stage_registry_turn(st);
        if (st->need_reposition && stage_redis_ensure(st) == 0)
            stage_reposition(st);
        stage_idle_check(st);
        stage_publish(st);
        if (st->tick_cb && ltv_mono_us() - st->tick_last_us >= st->tick_every_us) {
            st->tick_last_us = ltv_mono_us();
            st->tick_cb(st, st->tick_opaque);
        }
        if (st->conf->stop_at_end && st->assigned_once && at_end(st)) {
            /* at_end counts the commit in flight as written: the end is
             * reached once Redis has it. When it fails, the partitions are
             * read again from what Redis holds (a backfill must not report
             * done with its last batch missing). */
            if (stage_complete(st) || st->need_reposition) {
                end_retry(st);
                continue;
            }
            ltv_info("all assigned partitions consumed to their end offsets");
            st->reached_end = 1;
            /* Read to the end: our partitions no longer hold the clock
             * back, exactly as if they had gone idle in a live run. */
            int failed = stage_flush(st, 1) != 0;
            failed |= stage_complete(st) != 0;
            if ((failed || st->need_reposition) && !*stop) {
                st->reached_end = 0;
                end_retry(st);
                continue;
            }
            stage_clock_read(st);
            failed = stage_flush(st, 0) != 0;
            /* Recency ticks and finalization are bounded per flush
             * (stage_commit.c): a bounded run ends with them caught up to
             * the clock, as a live stage would be a few batches later. */
            while (!failed && !*stop && !st->need_reposition) {
                if (stage_complete(st)) {
                    failed = 1;
                    break;
                }
                if (!(stage_ticks_pending(st) || st->finalize_more))
                    break;
                failed = stage_flush(st, 0) != 0;
            }
            if (!failed && stage_lc_drain(st))
                failed = 1;
            if ((failed || st->need_reposition) && !*stop) {
                /* A step after the end offsets failed (a commit, or Redis
                 * unreachable): read again from what Redis holds, and end
                 * when it has everything, ticks and timers included. */
                ltv_warn("a commit after the end offsets failed; reading again from Redis");
                st->reached_end = 0;
                end_retry(st);
                continue;
            }
            break;
        }
    }

    /* Shutdown: finish the batch, flush the producer, clear what was
     * delivered from the queue, leave the group. Rows whose delivery
     * failed are emitted again and the producer flushed again, within
     * shutdown.deliver.timeout.ms (10 s) in all: a single flush left them
     * to the next start (the queue in Redis keeps them), so the topics
     * could end without the rows of the last batches
     * (tests/it_broker_faults.c). */
    stage_flush(st, 0);
    stage_complete(st);
    /* The end holds only if these last commits are in Redis too. */
    if (st->need_reposition || st->inflight)
        st->reached_end = 0;
    int64_t deadline = st->stop_deadline_us ? st->stop_deadline_us
                                            : ltv_mono_us() + st->conf->shutdown_deliver_ms * 1000;
    for (;;) {
        int64_t left_ms = (deadline - ltv_mono_us()) / 1000;
        int flushed = ltv_emitter_flush(st->em, left_ms > 0 ? (int)left_ms : 0) == 0;
        int failed = ltv_emitter_has_failed(st->em);
        char **acks;
        int nacks = stage_take_acks(st, &acks); /* re-emits the failed ones */
        char err[512];
        if (nacks &&
            ltv_store_ack(st->store, (const char *const *)acks, nacks, err, sizeof(err))) {
            st->stats.redis_errors++;
            ltv_warn("clearing the emission queue: %s", err);
        }
        for (int i = 0; i < nacks; i++)
            free(acks[i]);
        free(acks);
        if (flushed && !failed)
            break;
        if (ltv_mono_us() >= deadline) {
            ltv_warn("rows still undelivered at shutdown; they stay queued in Redis and are "
                     "emitted again at the next start");
            /* Or destroying the producer waits for them once more. */
            ltv_emitter_purge(st->em);
            st->emit_closed = 1;
            break;
        }
        ltv_emitter_poll(st->em, 100); /* a produce refused at once: back off */
    }
    /* Leave the group within shutdown.leave.timeout.ms (5 s). With the
     * brokers unreachable the close would wait up to session.timeout.ms
     * (45 s by default) on top of the rows' 10 s, past Kubernetes' 30 s
     * grace period (measured by
     * tests/it_graceful_shutdown.c); Kafka's committed offsets only serve
     * lag monitoring, and the group drops a member that did not leave when
     * its session times out. */
    rd_kafka_queue_t *closeq = rd_kafka_queue_new(st->rk);
    rd_kafka_error_t *cerr = rd_kafka_consumer_close_queue(st->rk, closeq);
    if (cerr) {
        ltv_warn("closing the consumer: %s", rd_kafka_error_string(cerr));
        rd_kafka_error_destroy(cerr);
        st->close_abandoned = 1;
    } else {
        int64_t close_deadline = ltv_mono_us() + st->conf->shutdown_leave_ms * 1000;
        while (!rd_kafka_consumer_closed(st->rk) && ltv_mono_us() < close_deadline) {
            /* The close's revocation comes as an event on this queue. */
            rd_kafka_event_t *ev = rd_kafka_queue_poll(closeq, 100);
            if (ev && rd_kafka_event_type(ev) == RD_KAFKA_EVENT_REBALANCE)
                rebalance_cb(st->rk, rd_kafka_event_error(ev),
                             rd_kafka_event_topic_partition_list(ev), st);
            if (ev)
                rd_kafka_event_destroy(ev);
        }
        if (!rd_kafka_consumer_closed(st->rk)) {
            ltv_warn("the consumer did not close within %lld ms (brokers unreachable?); "
                     "exiting without leaving the group",
                     (long long)st->conf->shutdown_leave_ms);
            st->close_abandoned = 1;
        }
    }
    rd_kafka_queue_destroy(closeq);
    st->stats.redis_commands = ltv_store_commands(st->store);
    return 0;
}

void ltv_stage_set_tick(ltv_stage_t *st, int every_ms, void (*cb)(ltv_stage_t *, void *),
                        void *opaque) {
    st->tick_cb = cb;
    st->tick_opaque = opaque;
    st->tick_every_us = (int64_t)every_ms * 1000;
    st->tick_last_us = ltv_mono_us();
}

int ltv_stage_reached_end(const ltv_stage_t *st) { return st->reached_end; }

void ltv_stage_progress(ltv_stage_t *st, int64_t *done, int64_t *total) {
    *done = *total = 0;
    for (int i = 0; i < st->nparts; i++) {
        const part_t *p = &st->parts[i];
        if (!p->assigned || p->end < p->progress_from)
            continue;
        int64_t pos = p->stored_next >= 0 ? p->stored_next : p->progress_from;
        if (pos > p->end)
            pos = p->end;
        *total += p->end - p->progress_from;
        *done += pos > p->progress_from ? pos - p->progress_from : 0;
    }
}

void ltv_stage_stats(ltv_stage_t *st, ltv_stage_stats_t *out) {
    *out = st->stats;
    out->consumed =
        st->stats.consumed_topic[0] + st->stats.consumed_topic[1] + st->stats.consumed_topic[2];
    out->applied = st->bstats.applied;
    out->duplicates = st->bstats.duplicates;
    out->misrouted = st->bstats.misrouted;
    out->redis_commands = ltv_store_commands(st->store);
    out->cache_evictions = ltv_cache_evictions(st->cache);
    if (st->registry) {
        ltv_registry_stats_t rs;
        ltv_registry_stats(st->registry, &rs);
        out->registry_requests = rs.requests;
        out->registry_state = rs.up ? LTV_REGISTRY_UP : LTV_REGISTRY_DOWN;
    }
}
