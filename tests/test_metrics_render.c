/*
 * Prometheus text rendering (consumer/metrics.c) of a small hand-made
 * snapshot, against text written out by hand: family order, HELP/TYPE
 * lines, label sets, counters per topic and per dead-letter reason, gauges
 * left out while unknown, Unix-second timestamps, and histograms with
 * cumulative buckets (an observation equal to a bound counts in that
 * bucket), +Inf, _sum and _count. Observations are powers of two so the
 * sums are exact. Also the board (consumer/metrics_pub.c): what a reader
 * copies out, and liveness/readiness as the heartbeat ages.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "metrics.h"

static const double small_bounds[] = {0.001, 0.01, 0.1};
static const double flush_bounds[] = {0.25, 1};
static const double events_bounds[] = {10, 100000};

static void fixture(ltv_metrics_snap_t *s, ltv_metrics_part_t *parts) {
    memset(s, 0, sizeof(*s));
    s->version = "1.2.3";
    s->topics[0] = "in.p";
    s->topics[1] = "in.v";
    ltv_stage_stats_t *st = &s->stats;
    st->consumed_topic[0] = 5;
    st->consumed_topic[1] = 3;
    st->consumed = 8;
    st->applied = 6;
    st->duplicates = 1;
    st->dlq[LTV_R_BAD_MAGIC] = 1;
    st->late = 2;
    st->batches = 3;
    st->redis_errors = 4;
    st->rows_emitted = 9;
    st->triggers[LTV_TRG_FIRST_PURCHASE] = 4;
    st->triggers[LTV_TRG_F2_FOLLOWUP] = 2;
    st->triggers[LTV_TRG_SEGMENT_CHANGED] = 1;
    st->triggers_suppressed = 3;
    st->registry_retries = 5;
    st->registry_requests = 12;
    st->registry_state = LTV_REGISTRY_UP;
    ltv_hist_init(&st->redis_load, small_bounds, 3);
    ltv_hist_observe(&st->redis_load, 0.0009765625); /* 2^-10: le 0.001 */
    ltv_hist_observe(&st->redis_load, 0.0078125);    /* 2^-7: le 0.01 */
    ltv_hist_observe(&st->redis_load, 0.0078125);
    ltv_hist_observe(&st->redis_load, 0.5);          /* above every bound */
    ltv_hist_init(&st->redis_ping, small_bounds, 3);  /* nothing observed */
    ltv_hist_init(&st->batch_flush, flush_bounds, 2);
    ltv_hist_observe(&st->batch_flush, 0.25);         /* on the bound: le 0.25 */
    ltv_hist_observe(&st->batch_flush, 2);
    ltv_hist_init(&st->batch_events, events_bounds, 2);
    ltv_hist_observe(&st->batch_events, 7);           /* le 10 */
    ltv_hist_observe(&st->batch_events, 10);          /* on the bound: le 10 */
    ltv_hist_observe(&st->batch_events, 400000);      /* above every bound */
    s->watermark_ms = INT64_C(1736503200500);
    s->assigned = 2;
    s->redis_up = 1;
    parts[0] = (ltv_metrics_part_t){"in.p", 0, 7, INT64_C(1736503200000)};
    parts[1] = (ltv_metrics_part_t){"in.v", 1, -1, INT64_MIN}; /* nothing known yet */
    s->parts = parts;
    s->nparts = 2;
}

static const char expected[] =
    "# HELP ltvstream_info Build information; always 1.\n"
    "# TYPE ltvstream_info gauge\n"
    "ltvstream_info{version=\"1.2.3\"} 1\n"
    "# HELP ltvstream_events_consumed_total Messages read from the input topics, good or bad.\n"
    "# TYPE ltvstream_events_consumed_total counter\n"
    "ltvstream_events_consumed_total{topic=\"in.p\"} 5\n"
    "ltvstream_events_consumed_total{topic=\"in.v\"} 3\n"
    "# HELP ltvstream_events_applied_total Events that changed customer state.\n"
    "# TYPE ltvstream_events_applied_total counter\n"
    "ltvstream_events_applied_total 6\n"
    "# HELP ltvstream_events_duplicate_total Events already applied before (re-delivered "
    "orders, cancels, refunds, page views).\n"
    "# TYPE ltvstream_events_duplicate_total counter\n"
    "ltvstream_events_duplicate_total 1\n"
    "# HELP ltvstream_events_dead_lettered_total Messages sent to the dead-letter topic, by "
    "reason (the ltv.reason header).\n"
    "# TYPE ltvstream_events_dead_lettered_total counter\n"
    "ltvstream_events_dead_lettered_total{reason=\"truncated\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"bad_magic\"} 1\n"
    "ltvstream_events_dead_lettered_total{reason=\"unknown_schema_id\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"unknown_fingerprint\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"incompatible_schema\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"avro_decode\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"missing_customer_id\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"missing_order_id\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"missing_event_id\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"negative_amount\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"future_timestamp\"} 0\n"
    "ltvstream_events_dead_lettered_total{reason=\"bad_timestamp\"} 0\n"
    "# HELP ltvstream_events_late_total Events older than the watermark when processed "
    "(still applied).\n"
    "# TYPE ltvstream_events_late_total counter\n"
    "ltvstream_events_late_total 2\n"
    "# HELP ltvstream_batches_committed_total Batches of events committed to Redis in one "
    "transaction.\n"
    "# TYPE ltvstream_batches_committed_total counter\n"
    "ltvstream_batches_committed_total 3\n"
    "# HELP ltvstream_batches_fenced_total Batches discarded because another instance had "
    "taken a partition over.\n"
    "# TYPE ltvstream_batches_fenced_total counter\n"
    "ltvstream_batches_fenced_total 0\n"
    "# HELP ltvstream_redis_errors_total Redis failures: discarded batches, failed connection "
    "attempts, reads and pings.\n"
    "# TYPE ltvstream_redis_errors_total counter\n"
    "ltvstream_redis_errors_total 4\n"
    "# HELP ltvstream_rows_emitted_total Output rows produced to the output topics.\n"
    "# TYPE ltvstream_rows_emitted_total counter\n"
    "ltvstream_rows_emitted_total 9\n"
    "# HELP ltvstream_events_misrouted_total Events of a customer seen on another partition "
    "number (input topics not co-partitioned).\n"
    "# TYPE ltvstream_events_misrouted_total counter\n"
    "ltvstream_events_misrouted_total 0\n"
    "# HELP ltvstream_cache_evictions_total Customers evicted from the in-memory cache.\n"
    "# TYPE ltvstream_cache_evictions_total counter\n"
    "ltvstream_cache_evictions_total 0\n"
    "# HELP ltvstream_lifecycle_triggers_total Lifecycle triggers produced to the lifecycle "
    "topic, by trigger type.\n"
    "# TYPE ltvstream_lifecycle_triggers_total counter\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"first_purchase\"} 4\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"second_purchase\"} 0\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"f2_followup_due\"} 2\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"revisit_due\"} 0\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"signup_no_purchase\"} 0\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"segment_changed\"} 1\n"
    "ltvstream_lifecycle_triggers_total{trigger=\"lapsed\"} 0\n"
    "# HELP ltvstream_lifecycle_triggers_suppressed_total Lifecycle triggers recorded as fired "
    "but not produced (lifecycle.emit=false).\n"
    "# TYPE ltvstream_lifecycle_triggers_suppressed_total counter\n"
    "ltvstream_lifecycle_triggers_suppressed_total 3\n"
    "# HELP ltvstream_schema_registry_retries_total Messages deferred and output schema "
    "registrations retried because the Schema Registry gave no answer (unreachable, timeout, "
    "5xx); each waits out a backoff.\n"
    "# TYPE ltvstream_schema_registry_retries_total counter\n"
    "ltvstream_schema_registry_retries_total 5\n"
    "# HELP ltvstream_schema_registry_requests_total HTTP requests sent to the Schema Registry "
    "(each schema id is fetched once).\n"
    "# TYPE ltvstream_schema_registry_requests_total counter\n"
    "ltvstream_schema_registry_requests_total 12\n"
    "# HELP ltvstream_assigned_partitions Input partitions assigned to this instance.\n"
    "# TYPE ltvstream_assigned_partitions gauge\n"
    "ltvstream_assigned_partitions 2\n"
    "# HELP ltvstream_redis_up 1 when the stage's Redis connection works, else 0.\n"
    "# TYPE ltvstream_redis_up gauge\n"
    "ltvstream_redis_up 1\n"
    "# HELP ltvstream_schema_registry_up 1 when the Schema Registry's last answer was "
    "definitive, 0 when it gave none (absent without a registry).\n"
    "# TYPE ltvstream_schema_registry_up gauge\n"
    "ltvstream_schema_registry_up 1\n"
    "# HELP ltvstream_watermark_timestamp_seconds The stage's event-time watermark, Unix time "
    "(absent while unknown).\n"
    "# TYPE ltvstream_watermark_timestamp_seconds gauge\n"
    "ltvstream_watermark_timestamp_seconds 1736503200.5\n"
    "# HELP ltvstream_partition_lag Messages behind: the partition's high watermark minus the "
    "next offset to process.\n"
    "# TYPE ltvstream_partition_lag gauge\n"
    "ltvstream_partition_lag{topic=\"in.p\",partition=\"0\"} 7\n"
    "# HELP ltvstream_partition_position_timestamp_seconds Highest event time committed from "
    "the partition, Unix time (absent while none).\n"
    "# TYPE ltvstream_partition_position_timestamp_seconds gauge\n"
    "ltvstream_partition_position_timestamp_seconds{topic=\"in.p\",partition=\"0\"} "
    "1736503200\n"
    "# HELP ltvstream_redis_roundtrip_seconds Redis round trips: op=load, a batch's load "
    "(the previous commit executes ahead of it); op=ping, an idle stage's check.\n"
    "# TYPE ltvstream_redis_roundtrip_seconds histogram\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"load\",le=\"0.001\"} 1\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"load\",le=\"0.01\"} 3\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"load\",le=\"0.1\"} 3\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"load\",le=\"+Inf\"} 4\n"
    "ltvstream_redis_roundtrip_seconds_sum{op=\"load\"} 0.5166015625\n"
    "ltvstream_redis_roundtrip_seconds_count{op=\"load\"} 4\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"ping\",le=\"0.001\"} 0\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"ping\",le=\"0.01\"} 0\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"ping\",le=\"0.1\"} 0\n"
    "ltvstream_redis_roundtrip_seconds_bucket{op=\"ping\",le=\"+Inf\"} 0\n"
    "ltvstream_redis_roundtrip_seconds_sum{op=\"ping\"} 0\n"
    "ltvstream_redis_roundtrip_seconds_count{op=\"ping\"} 0\n"
    "# HELP ltvstream_batch_flush_seconds Flushing a batch: load round trip, applying its "
    "events, sending its commit.\n"
    "# TYPE ltvstream_batch_flush_seconds histogram\n"
    "ltvstream_batch_flush_seconds_bucket{le=\"0.25\"} 1\n"
    "ltvstream_batch_flush_seconds_bucket{le=\"1\"} 1\n"
    "ltvstream_batch_flush_seconds_bucket{le=\"+Inf\"} 2\n"
    "ltvstream_batch_flush_seconds_sum 2.25\n"
    "ltvstream_batch_flush_seconds_count 2\n"
    "# HELP ltvstream_batch_events Events per batch committed: batches at batch.max.events or "
    "batch.max.uncached are catching up; a live stream's close at batch.max.ms.\n"
    "# TYPE ltvstream_batch_events histogram\n"
    "ltvstream_batch_events_bucket{le=\"10\"} 2\n"
    "ltvstream_batch_events_bucket{le=\"100000\"} 2\n"
    "ltvstream_batch_events_bucket{le=\"+Inf\"} 3\n"
    "ltvstream_batch_events_sum 400017\n"
    "ltvstream_batch_events_count 3\n";

/* Fails at the first differing line, showing both. */
static void assert_same_text(const char *got, const char *want) {
    int line = 1;
    const char *g = got, *w = want;
    while (*g || *w) {
        size_t gl = strcspn(g, "\n"), wl = strcspn(w, "\n");
        if (gl != wl || strncmp(g, w, gl)) {
            fail_msg("line %d differs:\n  got:  %.*s\n  want: %.*s", line, (int)gl, g, (int)wl,
                     w);
        }
        g += gl + (g[gl] ? 1 : 0);
        w += wl + (w[wl] ? 1 : 0);
        line++;
    }
    assert_string_equal(got, want); /* also the final newline */
}

static void test_render_fixture(void **state) {
    (void)state;
    ltv_metrics_snap_t s;
    ltv_metrics_part_t parts[2];
    fixture(&s, parts);
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_metrics_render(&s, &b);
    assert_same_text(b.p, expected);
    ltv_buf_free(&b);
}

static int has_line(const char *text, const char *line) {
    size_t n = strlen(line);
    for (const char *p = text; (p = strstr(p, line)); p++)
        if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
            return 1;
    return 0;
}

/* No visits topic: no consumed series for it. Unknown watermark, no
 * Schema Registry: the family is announced, no sample. Label values are
 * escaped. */
static void test_render_absent_and_escaped(void **state) {
    (void)state;
    ltv_metrics_snap_t s;
    ltv_metrics_part_t parts[2];
    fixture(&s, parts);
    s.topics[1] = "";
    s.watermark_ms = INT64_MIN;
    s.version = "a\"b\\c\nd";
    s.redis_up = 0;
    s.stats.registry_state = LTV_REGISTRY_NONE;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_metrics_render(&s, &b);
    assert_true(has_line(b.p, "ltvstream_info{version=\"a\\\"b\\\\c\\nd\"} 1"));
    assert_true(has_line(b.p, "ltvstream_events_consumed_total{topic=\"in.p\"} 5"));
    assert_null(strstr(b.p, "topic=\"in.v\""));
    assert_null(strstr(b.p, "topic=\"\""));
    assert_true(has_line(b.p, "# TYPE ltvstream_watermark_timestamp_seconds gauge"));
    assert_null(strstr(b.p, "\nltvstream_watermark_timestamp_seconds "));
    assert_true(has_line(b.p, "ltvstream_redis_up 0"));
    assert_true(has_line(b.p, "# TYPE ltvstream_schema_registry_up gauge"));
    assert_null(strstr(b.p, "\nltvstream_schema_registry_up "));
    s.stats.registry_state = LTV_REGISTRY_DOWN;
    ltv_buf_reset(&b);
    ltv_metrics_render(&s, &b);
    assert_true(has_line(b.p, "ltvstream_schema_registry_up 0"));
    ltv_buf_free(&b);
}

static void test_hist_buckets(void **state) {
    (void)state;
    ltv_hist_t h;
    ltv_hist_init(&h, small_bounds, 3);
    ltv_hist_observe(&h, 0);      /* le 0.001 */
    ltv_hist_observe(&h, 0.001);  /* le 0.001: equal to the bound */
    ltv_hist_observe(&h, 0.0011); /* le 0.01 */
    ltv_hist_observe(&h, 0.1);    /* le 0.1 */
    ltv_hist_observe(&h, 7);      /* +Inf */
    assert_int_equal(h.counts[0], 2);
    assert_int_equal(h.counts[1], 1);
    assert_int_equal(h.counts[2], 1);
    assert_int_equal(h.counts[3], 1);
    assert_int_equal(h.count, 5);
    /* The stage's bounds fit and ascend. */
    assert_true(ltv_hist_redis_nbounds <= LTV_HIST_MAX_BOUNDS);
    assert_true(ltv_hist_batch_nbounds <= LTV_HIST_MAX_BOUNDS);
    for (int i = 1; i < ltv_hist_redis_nbounds; i++)
        assert_true(ltv_hist_redis_bounds[i] > ltv_hist_redis_bounds[i - 1]);
    for (int i = 1; i < ltv_hist_batch_nbounds; i++)
        assert_true(ltv_hist_batch_bounds[i] > ltv_hist_batch_bounds[i - 1]);
}

/* The board: nothing to read before the first publication; a reader gets
 * a copy (its own parts array); liveness follows the heartbeat's age;
 * readiness also needs partitions, Redis and an answering Schema
 * Registry (when there is one). */
static void test_board(void **state) {
    (void)state;
    const int64_t S = 1000000; /* one second in microseconds */
    ltv_metrics_t *m = ltv_metrics_new(1000);
    ltv_metrics_snap_t out;
    memset(&out, 0, sizeof(out));
    assert_int_equal(ltv_metrics_read(m, &out), -1);

    ltv_health_t h;
    ltv_metrics_heartbeat(m, 10 * S);
    ltv_metrics_health(m, 10 * S + S / 2, &h);
    assert_true(h.live);
    assert_false(h.ready); /* nothing published */

    ltv_metrics_snap_t s;
    ltv_metrics_part_t parts[2];
    fixture(&s, parts);
    ltv_metrics_publish(m, &s, 20 * S);
    parts[0].lag = 99; /* the board holds a copy, not the caller's array */
    assert_int_equal(ltv_metrics_read(m, &out), 0);
    assert_int_equal(out.nparts, 2);
    assert_ptr_not_equal(out.parts, parts);
    assert_int_equal(out.parts[0].lag, 7);
    assert_int_equal(out.stats.redis_load.count, 4);

    ltv_metrics_health(m, 21 * S, &h); /* exactly stall_ms after the beat */
    assert_true(h.live);
    assert_true(h.ready);
    assert_int_equal(h.assigned, 2);
    ltv_metrics_health(m, 21 * S + 1, &h);
    assert_false(h.live);
    assert_false(h.ready);
    assert_int_equal(h.since_beat_ms, 1000);

    s.redis_up = 0;
    ltv_metrics_publish(m, &s, 30 * S);
    ltv_metrics_health(m, 30 * S, &h);
    assert_true(h.live);
    assert_false(h.ready);
    s.redis_up = 1;
    s.stats.registry_state = LTV_REGISTRY_DOWN;
    ltv_metrics_publish(m, &s, 35 * S);
    ltv_metrics_health(m, 35 * S, &h);
    assert_true(h.live);
    assert_true(h.registry_down);
    assert_false(h.ready);
    s.stats.registry_state = LTV_REGISTRY_NONE;
    ltv_metrics_publish(m, &s, 36 * S);
    ltv_metrics_health(m, 36 * S, &h);
    assert_false(h.registry_down);
    assert_true(h.ready);
    s.assigned = 0;
    s.nparts = 0;
    ltv_metrics_publish(m, &s, 40 * S);
    ltv_metrics_health(m, 40 * S, &h);
    assert_false(h.ready);
    assert_int_equal(ltv_metrics_read(m, &out), 0);
    assert_int_equal(out.nparts, 0);

    ltv_metrics_snap_free(&out);
    ltv_metrics_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_render_fixture),
        cmocka_unit_test(test_render_absent_and_escaped),
        cmocka_unit_test(test_hist_buckets),
        cmocka_unit_test(test_board),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
