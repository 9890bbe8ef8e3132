/*
 * Rows become final, and are re-emitted with a higher version, when the
 * watermark passes their milestones, without any event for those rows
 * (SPEC §5: "final (true once the watermark passed the row's end plus
 * allowed lateness)"; README: f2_rate_{H}d_final once the watermark passes
 * the end of day D + H, the cohort row final with the longest horizon, a
 * daily retention row 3 days after its end for revisits).
 *
 * One purchase by A on day D = 2025-03-01; then other customers' first
 * purchases on other days move the clock (allowed.lateness.ms=0, one
 * partition, no visits: the watermark is exactly the highest purchase ts):
 *
 *   clock          retention D|1d   cohort D|all
 *   D 10:00        final=false      final=false, 30d_final=false, 90d_final=false
 *   D+5 10:00      final=true       unchanged (no milestone passed, no event)
 *   D+32 10:00                      30d_final=true (end of D + 30 d = D+31 00:00), final=false
 *   D+92 10:00                      90d_final=true, final=true (D+91 00:00)
 *
 * Finally every version of every output row is read back (a small consumer
 * below, not the newest-per-key table reader): per key, versions are
 * unique, their watermark never decreases and a final row never becomes
 * non-final again.
 */
#include <setjmp.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"

#define NS "fin"

static h_env_t *H;
static pid_t stage;
static int64_t produced;

static char metrics_port[40];
static const char *stage_x[] = {"allowed.lateness.ms=0", "watermark.idle.timeout.ms=0",
                                "metrics.bind=127.0.0.1", metrics_port, NULL};

/* Produces one order and waits until it is committed, the stored watermark
 * is its time and every emitted row is confirmed delivered. */
static void order_at(const char *cust, const char *iso) {
    char *eid = malloc(64), *oid = malloc(64);
    snprintf(eid, 64, "e-%s", cust);
    snprintf(oid, 64, "o-%s", cust);
    ltv_event_t ev = h_order(eid, cust, oid, iso, 4000, "email", NULL);
    h_produce(H, &ev, 1);
    free(eid);
    free(oid);
    produced++;
    char what[64];
    snprintf(what, sizeof(what), "order at %s", iso);
    h_wait_settled(H, NS, produced, h_ts(iso), 30000, what);
}

/* Until the stage has had a fetch answer for both (empty) input
 * partitions, which is when it learns their end: a partition not heard
 * from holds the clock back (consumer/stage_commit.c). The first order
 * must find the clock free, or its rows go out before the watermark is
 * known (watermark null) and the first step's assertions do not hold; its
 * end is queued before any later answer, so it is read first. The
 * metrics endpoint shows a partition's lag once an answer has come. */
static void wait_partitions_heard(int port) {
    static const char *const series[] = {
        "ltvstream_partition_lag{topic=\"ltv.purchases\",partition=\"0\"}",
        "ltvstream_partition_lag{topic=\"ltv.visits\",partition=\"0\"}"};
    int64_t deadline = ltv_mono_us() + 60 * INT64_C(1000000);
    for (;;) {
        char *body = NULL;
        int ok = h_http_status(port, "/metrics", &body) == 200 && body &&
                 !isnan(h_metric_sample(body, series[0])) &&
                 !isnan(h_metric_sample(body, series[1]));
        free(body);
        if (ok)
            return;
        if (ltv_mono_us() > deadline)
            fail_msg("the stage had no fetch answer for its partitions within 60 s");
        h_sleep_ms(20);
    }
}

static int setup(void **state) {
    (void)state;
    H = h_start(1, 0);
    int port = ltv_free_port();
    snprintf(metrics_port, sizeof(metrics_port), "metrics.port=%d", port);
    stage = h_stage_start(H, NS, stage_x);
    wait_partitions_heard(port);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kill(stage, SIGTERM);
    int rc = h_stage_wait(stage, 30000);
    h_stop(H);
    if (rc != 0) {
        fprintf(stderr, "stage exited with %d on SIGTERM\n", rc);
        return -1;
    }
    return 0;
}

typedef struct rowv_s {
    int64_t version;
    char final[8], f30[8], f90[8], wm[40];
    int64_t cohort_size;
} rowv_t;

static rowv_t newest(const char *topic, const char *key) {
    ltv_table_t t;
    h_read_table(H, topic, &t);
    const ltv_table_row_t *r = ltv_table_get(&t, key);
    if (!r)
        fail_msg("no %s row %s", topic, key);
    rowv_t v;
    memset(&v, 0, sizeof(v));
    v.version = r->version;
    ltv_json_field(r->json, "final", v.final, sizeof(v.final));
    ltv_json_field(r->json, "f2_rate_30d_final", v.f30, sizeof(v.f30));
    ltv_json_field(r->json, "f2_rate_90d_final", v.f90, sizeof(v.f90));
    ltv_json_field(r->json, "watermark", v.wm, sizeof(v.wm));
    v.cohort_size = ltv_json_field_i64(r->json, "cohort_size");
    ltv_table_free(&t);
    return v;
}

static rowv_t c0, c0ch, r0;

static void purchase_on_day_d(void **state) {
    (void)state;
    order_at("A", "2025-03-01T10:00:00");
    c0 = newest("ltv.f2_rate", "2025-03-01|all");
    assert_int_equal(c0.cohort_size, 1);
    assert_string_equal(c0.final, "false");
    assert_string_equal(c0.f30, "false");
    assert_string_equal(c0.f90, "false");
    assert_string_equal(c0.wm, "2025-03-01T10:00:00.000Z");
    c0ch = newest("ltv.f2_rate", "2025-03-01|email");
    assert_string_equal(c0ch.final, "false");
    r0 = newest("ltv.retention_mix", "2025-03-01|1d");
    assert_string_equal(r0.final, "false");
}

static void retention_row_final_after_three_days(void **state) {
    (void)state;
    order_at("B", "2025-03-06T10:00:00");
    rowv_t r = newest("ltv.retention_mix", "2025-03-01|1d");
    assert_string_equal(r.final, "true");
    assert_true(r.version > r0.version);
    assert_string_equal(r.wm, "2025-03-06T10:00:00.000Z");
    /* The cohort row has no milestone before D+31 and saw no event. */
    rowv_t c = newest("ltv.f2_rate", "2025-03-01|all");
    assert_int_equal(c.version, c0.version);
    assert_string_equal(c.final, "false");
    r0 = r;
}

static rowv_t c30;

static void f2_rate_30d_final_after_d31(void **state) {
    (void)state;
    order_at("C", "2025-04-02T10:00:00");
    c30 = newest("ltv.f2_rate", "2025-03-01|all");
    assert_true(c30.version > c0.version);
    assert_int_equal(c30.cohort_size, 1);
    assert_string_equal(c30.f30, "true");
    assert_string_equal(c30.f90, "false");
    assert_string_equal(c30.final, "false");
    assert_string_equal(c30.wm, "2025-04-02T10:00:00.000Z");
    rowv_t ch = newest("ltv.f2_rate", "2025-03-01|email");
    assert_true(ch.version > c0ch.version);
    assert_string_equal(ch.f30, "true");
    assert_string_equal(ch.final, "false");
    c0ch = ch;
    /* Nothing new for the retention row. */
    assert_int_equal(newest("ltv.retention_mix", "2025-03-01|1d").version, r0.version);
}

static void cohort_row_final_after_d91(void **state) {
    (void)state;
    order_at("E", "2025-06-01T10:00:00"); /* D+92 */
    rowv_t c = newest("ltv.f2_rate", "2025-03-01|all");
    assert_true(c.version > c30.version);
    assert_int_equal(c.cohort_size, 1);
    assert_string_equal(c.f30, "true");
    assert_string_equal(c.f90, "true");
    assert_string_equal(c.final, "true");
    assert_string_equal(c.wm, "2025-06-01T10:00:00.000Z");
    rowv_t ch = newest("ltv.f2_rate", "2025-03-01|email");
    assert_true(ch.version > c0ch.version);
    assert_string_equal(ch.final, "true");
    /* A's purchase state never changed. */
    assert_int_equal(h_hget_i64(H, NS ":c:{A}", "purchase_count"), 1);
}

/* ---- every version --------------------------------------------------------------- */



static int by_key_version(const void *a, const void *b) {
    const h_msg_t *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    int64_t vx = ltv_json_field_i64(x->val, "version"), vy = ltv_json_field_i64(y->val, "version");
    if (vx != vy)
        return vx < vy ? -1 : 1;
    return x->offset < y->offset ? -1 : x->offset > y->offset;
}

static void versions_of(const char *topic, int *nkeys_out, int *nmsgs_out) {
    h_msg_t *v;
    int n = h_read_topic(H, topic, &v);
    qsort(v, (size_t)n, sizeof(*v), by_key_version);
    int nkeys = n ? 1 : 0;
    for (int i = 1; i < n; i++) {
        if (strcmp(v[i].key, v[i - 1].key)) {
            nkeys++;
            continue;
        }
        int64_t v0 = ltv_json_field_i64(v[i - 1].val, "version");
        int64_t v1 = ltv_json_field_i64(v[i].val, "version");
        char w0[40] = "", w1[40] = "", f0[8] = "", f1[8] = "";
        ltv_json_field(v[i - 1].val, "watermark", w0, sizeof(w0));
        ltv_json_field(v[i].val, "watermark", w1, sizeof(w1));
        ltv_json_field(v[i - 1].val, "final", f0, sizeof(f0));
        ltv_json_field(v[i].val, "final", f1, sizeof(f1));
        if (v0 == v1 && strcmp(v[i - 1].val, v[i].val))
            fail_msg("%s %s: two different rows with version %lld:\n  %s\n  %s", topic, v[i].key,
                     (long long)v1, v[i - 1].val, v[i].val);
        /* ISO-8601 UTC strings compare as times; null (no clock yet) is
         * before every time. */
        int back = !strcmp(w1, "null") ? strcmp(w0, "null") != 0
                                       : strcmp(w0, "null") && strcmp(w1, w0) < 0;
        if (back)
            fail_msg("%s %s: version %lld has watermark %s, older than version %lld's %s",
                     topic, v[i].key, (long long)v1, w1, (long long)v0, w0);
        if (!strcmp(f0, "true") && !strcmp(f1, "false"))
            fail_msg("%s %s: version %lld is not final, version %lld was", topic, v[i].key,
                     (long long)v1, (long long)v0);
    }
    *nkeys_out = nkeys;
    *nmsgs_out = n;
    for (int i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].val);
    }
    free(v);
}

static void every_version_watermark_never_decreases(void **state) {
    (void)state;
    const char *topics[] = {"ltv.f2_rate", "ltv.f2_rolling", "ltv.retention_mix",
                            "ltv.rfm_segments", "ltv.customer_rfm"};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        int nkeys, nmsgs;
        versions_of(topics[i], &nkeys, &nmsgs);
        print_message("%s: %d keys, %d versions\n", topics[i], nkeys, nmsgs);
        if (i != 1) /* no cohort matures into a rolling window here */
            assert_true(nmsgs > nkeys);
    }
    /* The D cohort row: in log order its versions strictly increase, and
     * it was emitted once per milestone passed plus once for A's order. */
    h_msg_t *v;
    int n = h_read_topic(H, "ltv.f2_rate", &v);
    int64_t last = 0;
    int seen = 0;
    for (int i = 0; i < n; i++) {
        if (!strcmp(v[i].key, "2025-03-01|all")) {
            int64_t ver = ltv_json_field_i64(v[i].val, "version");
            assert_true(ver > last);
            last = ver;
            seen++;
        }
        free(v[i].key);
        free(v[i].val);
    }
    free(v);
    assert_int_equal(seen, 3);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(purchase_on_day_d),
        cmocka_unit_test(retention_row_final_after_three_days),
        cmocka_unit_test(f2_rate_30d_final_after_d31),
        cmocka_unit_test(cohort_row_final_after_d91),
        cmocka_unit_test(every_version_watermark_never_decreases),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
