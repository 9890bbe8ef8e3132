/*
 * SPEC §4 scale-out and determinism: two stage processes in one consumer
 * group and one namespace split the partitions of a generated stream and,
 * sharing Redis, end with exactly the Redis state and the output tables of
 * one stage that processed the same stream alone.
 *
 * The pair runs live: both instances are started on the empty input topics
 * and the stream is produced only once each of them holds its half of the
 * partitions, so both really process events concurrently (each instance's
 * "stopped: consumed N" log line is checked). When Redis holds the input's
 * end offsets for the pair's namespace, both get SIGTERM and must exit 0.
 *
 * Why a third stage ends the pair run. A stage stopped by SIGTERM leaves
 * the clock where the live run had it: the watermark is the minimum, over
 * partitions that are not idle, of their highest event time, minus the
 * allowed lateness (one day by default). The single run was started with
 * run.stop.at.end=true, so it marked every partition as read to its end,
 * which makes the watermark the maximum over partitions (clock.h): the
 * clock of "everything there is has been seen". Until the pair's partitions
 * are marked the same way, the two namespaces legitimately stand at
 * different clocks, and every clock-dependent output differs: rfm_segments
 * rows exist only up to the clock's day, rolling windows (f2_rolling,
 * retention_mix 7d/30d) ending after the clock are withheld, customers'
 * recency scores have decayed to different days. A third stage with
 * run.stop.at.end=true in the same namespace and group reads nothing new,
 * marks the partitions read to the end and lets the final clock tick
 * happen, which is what a deployment does when it drains a finite input.
 * (A live pair would get there by itself once its partitions count as
 * idle, watermark.idle.timeout.ms = 60 s after the input went quiet: too
 * long for a test.)
 * The pre-tick difference is itself checked (pair_clock_before_drain) so
 * that the reason for the third stage stays documented by a test.
 *
 * Then: the Redis dumps are equal, every output table is equal
 * (h_assert_same_table, newest row per key without version/watermark/
 * final), and two narrower customer_rfm checks locate a difference there
 * (see customer_rfm_scores_equal). Last, every version of every row the
 * pair emitted is read back: two instances write the same rows, and a
 * reader keeping the newest version must never see a row's watermark go
 * back or a final row turn non-final (pair_versions_monotonic).
 */
#include <glob.h>
#include <setjmp.h>
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

#include "gen.h"
#include "harness.h"

static h_env_t *H;
static int64_t total;
static int64_t pair_wm_before_drain, single_wm;

static const char *const single_x[] = {H_X_TOPICS("single"), NULL};
/* The pair: one namespace "pair" and, through the harness, one consumer
 * group "pair" (h_stage_start sets kafka.group.id to the namespace; it is
 * repeated here to make the shared group explicit). Smaller batches than
 * the single run, so batch boundaries differ too. */
static const char *const pair_x[] = {H_X_TOPICS("pair"), "kafka.group.id=pair",
                                     "batch.max.events=500", NULL};

/* The log files of the stages started so far for namespace ns, in start
 * order (the harness names them <ns>.<seq>.log). */
static int stage_logs(const char *ns, char paths[][512], int max) {
    char pat[512];
    snprintf(pat, sizeof(pat), "%s/%s.*.log", H->dir, ns);
    glob_t g;
    int n = 0;
    if (glob(pat, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc && n < max; i++)
            snprintf(paths[n++], 512, "%s", g.gl_pathv[i]);
        globfree(&g);
    }
    return n;
}

static int log_contains(const char *path, const char *what) {
    char *s = h_slurp(path);
    int r = s && strstr(s, what) != NULL;
    free(s);
    return r;
}

/* "stopped: consumed N" of a stage's log, or -1. */
static int64_t log_consumed(const char *path) {
    char *s = h_slurp(path);
    int64_t v = -1;
    const char *p = s ? strstr(s, "stopped: consumed ") : NULL;
    if (p)
        v = strtoll(p + strlen("stopped: consumed "), NULL, 10);
    free(s);
    return v;
}

static int64_t stored_watermark(const char *ns) {
    char key[128];
    snprintf(key, sizeof(key), "%s:clock", ns);
    return h_hget_i64(H, key, "watermark");
}

static int setup(void **state) {
    (void)state;
    H = h_start(8, 0);

    /* 1. The pair, on empty input: wait until each instance holds its half
     * (range assignment: 4 partitions of each of the 2 topics). */
    pid_t a = h_stage_start(H, "pair", pair_x);
    pid_t b = h_stage_start(H, "pair", pair_x);
    char logs[4][512];
    int64_t deadline = ltv_mono_us() + 60 * 1000000LL;
    for (;;) {
        int n = stage_logs("pair", logs, 4);
        if (n == 2 && log_contains(logs[0], "assigned 8 partitions") &&
            log_contains(logs[1], "assigned 8 partitions"))
            break;
        if (ltv_mono_us() > deadline)
            fail_msg("the two stages did not each get 8 partitions (logs in %s)", H->dir);
        h_sleep_ms(50);
    }

    /* 2. The stream, produced while the pair consumes it. */
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    o.brokers = H->mock->bootstraps;
    o.customers = 3000;
    o.days = 60;
    o.seed = 11;
    o.quiet = 1;
    o.schema_dir = NULL; /* the harness wrote ids 1 and 2 */
    char err[256];
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&o, &gs, err, sizeof(err)))
        fail_msg("gen: %s", err);
    total = h_input_end(H);
    assert_int_equal(total, gs.total);

    /* 3. Until Redis holds the end offsets of every input partition. */
    deadline = ltv_mono_us() + 120 * 1000000LL;
    while (h_stored_offsets(H, "pair") < total) {
        if (ltv_mono_us() > deadline)
            fail_msg("pair stuck at %lld of %lld offsets (logs in %s)",
                     (long long)h_stored_offsets(H, "pair"), (long long)total, H->dir);
        h_sleep_ms(20);
    }
    assert_int_equal(h_stored_offsets(H, "pair"), total);

    /* 4. Graceful shutdown of both: SIGTERM, exit 0. */
    kill(a, SIGTERM);
    kill(b, SIGTERM);
    int ra = h_stage_wait(a, 30000), rb = h_stage_wait(b, 30000);
    if (ra != 0 || rb != 0)
        fail_msg("SIGTERM: the pair exited with %d and %d, not 0 (logs in %s)", ra, rb, H->dir);
    pair_wm_before_drain = stored_watermark("pair");

    /* 5. The reference: one stage, alone, to the end. */
    h_stage_run_to_end(H, "single", single_x);
    assert_int_equal(h_stored_offsets(H, "single"), total);
    single_wm = stored_watermark("single");

    /* 6. Drain the pair's namespace: see the comment at the top. */
    h_stage_run_to_end(H, "pair", pair_x);
    assert_int_equal(h_stored_offsets(H, "pair"), total);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

static void both_instances_processed_events(void **state) {
    (void)state;
    char logs[4][512];
    int n = stage_logs("pair", logs, 4);
    assert_int_equal(n, 3); /* the pair and the draining stage */
    int64_t ca = log_consumed(logs[0]), cb = log_consumed(logs[1]);
    print_message("pair: instance A consumed %lld, instance B %lld of %lld messages\n",
                  (long long)ca, (long long)cb, (long long)total);
    assert_true(ca > 0);
    assert_true(cb > 0);
    /* Each consumed about its half; together at least everything (a
     * rebalance may make a partition's uncommitted tail be read twice). */
    assert_true(ca + cb >= total);
}

static void pair_clock_before_drain(void **state) {
    (void)state;
    /* The live pair stopped by SIGTERM stands at the minimum over
     * partitions; the single run, having marked all partitions read to the
     * end, at the maximum. Both minus the default lateness of one day. */
    print_message("watermark: pair after SIGTERM %lld, single %lld\n",
                  (long long)pair_wm_before_drain, (long long)single_wm);
    assert_true(pair_wm_before_drain != INT64_MIN);
    assert_true(pair_wm_before_drain <= single_wm);
    /* After the draining stage both namespaces stand at the same clock. */
    assert_int_equal(stored_watermark("pair"), single_wm);
}

static void same_redis_state(void **state) {
    (void)state;
    char *a = h_dump_ns(H, "single");
    char *b = h_dump_ns(H, "pair");
    assert_true(strlen(a) > 10000);
    h_assert_same_dump(H, a, b, "state");
    free(a);
    free(b);
}

static void same_table(const char *name) {
    char ta[128], tb[128];
    snprintf(ta, sizeof(ta), "single.%s", name);
    snprintf(tb, sizeof(tb), "pair.%s", name);
    h_assert_same_table(H, ta, tb);
}

static void same_f2_rate(void **state) { (void)state; same_table("f2_rate"); }
static void same_f2_rolling(void **state) { (void)state; same_table("f2_rolling"); }
static void same_retention_mix(void **state) { (void)state; same_table("retention_mix"); }
static void same_rfm_segments(void **state) { (void)state; same_table("rfm_segments"); }
static void same_customer_rfm(void **state) { (void)state; same_table("customer_rfm"); }

/* same_customer_rfm compares whole rows: every field of a customer_rfm row
 * is a function of the customer's state (r_score_since rather than a
 * recency in days, which would depend on the clock at emission), and a
 * customer whose orders were all cancelled leaves the table through a
 * tombstone, so both runs end with the same table.
 *
 * Two narrower views of customer_rfm locate a difference if there is one.
 * Rows of customers without any active purchase (segment null) are left
 * out of them. */
static int no_purchase_row(const char *json) { return strstr(json, "\"segment\":null") != NULL; }

/* 1. The scores and the segment are the same in both runs. */
static void customer_rfm_scores_equal(void **state) {
    (void)state;
    ltv_table_t t[2];
    h_read_table(H, "single.customer_rfm", &t[0]);
    h_read_table(H, "pair.customer_rfm", &t[1]);
    ltv_buf_t b[2];
    int snapshot = 0;
    static const char *const keep[] = {"segment", "r_score", "f_score", "m_score"};
    for (int k = 0; k < 2; k++) {
        ltv_buf_init(&b[k]);
        for (int i = 0; i < t[k].n; i++) {
            const char *j = t[k].rows[i].json;
            if (no_purchase_row(j))
                continue;
            ltv_buf_puts(&b[k], t[k].rows[i].key);
            for (size_t f = 0; f < sizeof(keep) / sizeof(keep[0]); f++) {
                char v[64];
                ltv_json_field(j, keep[f], v, sizeof(v));
                ltv_buf_printf(&b[k], " %s=%s", keep[f], v);
            }
            ltv_buf_putc(&b[k], '\n');
            if (k == 0) {
                const ltv_table_row_t *o = ltv_table_get(&t[1], t[0].rows[i].key);
                char r0[16], r1[16];
                if (o && !ltv_json_field(j, "r_score_since", r0, sizeof(r0)) &&
                    !ltv_json_field(o->json, "r_score_since", r1, sizeof(r1)))
                    snapshot += strcmp(r0, r1) != 0;
            }
        }
    }
    print_message("customer_rfm: %d of %d newest rows differ between the runs in "
                  "r_score_since\n",
                  snapshot, t[0].n);
    h_assert_same_dump(H, b[0].p ? b[0].p : "", b[1].p ? b[1].p : "", "customer_rfm-scores");
    ltv_buf_free(&b[0]);
    ltv_buf_free(&b[1]);
    ltv_table_free(&t[0]);
    ltv_table_free(&t[1]);
}

/* 2. The newest row of each customer shows the customer's current
 * purchase facts, as kept in Redis: frequency, monetary, first and last
 * purchase time, first channel, and the scores. */
static int rows_current(const char *ns, const char *topic) {
    ltv_table_t t;
    h_read_table(H, topic, &t);
    int stale = 0;
    for (int i = 0; i < t.n; i++) {
        const char *j = t.rows[i].json;
        if (no_purchase_row(j))
            continue;
        char key[256];
        snprintf(key, sizeof(key), "%s:c:{%s}", ns, t.rows[i].key);
        char want[1024], got[1024], ts1[40], ts2[40], v[64];
        ltv_ts_format(h_hget_i64(H, key, "first_purchase_ts"), ts1);
        ltv_ts_format(h_hget_i64(H, key, "last_purchase_ts"), ts2);
        char *ch = h_hget(H, key, "first_channel");
        char *seg = h_hget(H, key, "segment");
        snprintf(want, sizeof(want), "f=%lld m=%lld first=%s last=%s ch=%s seg=%s r=%lld",
                 (long long)h_hget_i64(H, key, "purchase_count"),
                 (long long)h_hget_i64(H, key, "monetary"), ts1, ts2, ch ? ch : "", seg ? seg : "",
                 (long long)h_hget_i64(H, key, "r"));
        free(ch);
        free(seg);
        int n = snprintf(got, sizeof(got), "f=%lld m=%lld",
                         (long long)ltv_json_field_i64(j, "frequency"),
                         (long long)ltv_json_field_i64(j, "monetary"));
        ltv_json_field(j, "first_purchase_ts", v, sizeof(v));
        n += snprintf(got + n, sizeof(got) - (size_t)n, " first=%s", v);
        ltv_json_field(j, "last_purchase_ts", v, sizeof(v));
        n += snprintf(got + n, sizeof(got) - (size_t)n, " last=%s", v);
        ltv_json_field(j, "first_channel", v, sizeof(v));
        n += snprintf(got + n, sizeof(got) - (size_t)n, " ch=%s", v);
        ltv_json_field(j, "segment", v, sizeof(v));
        n += snprintf(got + n, sizeof(got) - (size_t)n, " seg=%s r=%lld", v,
                      (long long)ltv_json_field_i64(j, "r_score"));
        if (strcmp(want, got)) {
            if (stale < 3)
                fprintf(stderr, "  %s %s: newest row %s, Redis %s\n", topic, t.rows[i].key, got,
                        want);
            stale++;
        }
    }
    if (stale)
        fprintf(stderr, "  %s: %d of %d newest rows are stale\n", topic, stale, t.n);
    ltv_table_free(&t);
    return stale;
}

static void customer_rfm_rows_current(void **state) {
    (void)state;
    int stale = rows_current("single", "single.customer_rfm");
    stale += rows_current("pair", "pair.customer_rfm");
    if (stale)
        fail_msg("%d newest customer_rfm rows disagree with the customer's state in Redis", stale);
}

/* ---- every version, not only the newest --------------------------------------- */




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

/* Across the versions of each key: the watermark never decreases and a row
 * that was final stays final. Returns the number of violations (printing
 * the first few). */
static int check_versions(const char *topic, int *unfinal_out) {
    h_msg_t *v;
    int n = h_read_topic(H, topic, &v);
    qsort(v, (size_t)n, sizeof(*v), by_key_version);
    int bad = 0, nunfinal = 0;
    for (int i = 1; i < n; i++) {
        if (strcmp(v[i].key, v[i - 1].key))
            continue;
        char w0[40] = "", w1[40] = "", f0[8] = "", f1[8] = "";
        ltv_json_field(v[i - 1].val, "watermark", w0, sizeof(w0));
        ltv_json_field(v[i].val, "watermark", w1, sizeof(w1));
        ltv_json_field(v[i - 1].val, "final", f0, sizeof(f0));
        ltv_json_field(v[i].val, "final", f1, sizeof(f1));
        /* ISO-8601 UTC strings compare as times; null is before all. */
        int wm_back = strcmp(w1, "null") ? (strcmp(w0, "null") && strcmp(w1, w0) < 0)
                                          : strcmp(w0, "null") != 0;
        int unfinal = !strcmp(f0, "true") && !strcmp(f1, "false");
        nunfinal += unfinal;
        if (wm_back || unfinal) {
            if ((unfinal && nunfinal <= 2) || (!unfinal && bad - nunfinal < 2))
                fprintf(stderr,
                        "  %s key %s: version %lld (watermark %s, final %s) after version %lld "
                        "(watermark %s, final %s)\n",
                        topic, v[i].key, (long long)ltv_json_field_i64(v[i].val, "version"), w1,
                        f1, (long long)ltv_json_field_i64(v[i - 1].val, "version"), w0, f0);
            bad++;
        }
    }
    h_msgs_free(v, n);
    if (bad)
        fprintf(stderr, "  %s: %d of %d messages go back (%d of them un-final a final row)\n",
                topic, bad, n, nunfinal);
    *unfinal_out += nunfinal;
    return bad;
}

static void pair_versions_monotonic(void **state) {
    (void)state;
    /* Two instances write the same rows (a cohort row gathers customers
     * of every partition); a reader keeping the newest version must never
     * see the clock go back or a final row become non-final. */
    const char *names[] = {"f2_rate", "f2_rolling", "retention_mix", "rfm_segments",
                           "customer_rfm"};
    int bad = 0, unfinal = 0;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char t[128];
        snprintf(t, sizeof(t), "pair.%s", names[i]);
        bad += check_versions(t, &unfinal);
    }
    if (bad)
        fail_msg("%d row versions carry an older watermark than an earlier version of the same "
                 "row (%d turn a final row non-final)",
                 bad, unfinal);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(both_instances_processed_events),
        cmocka_unit_test(pair_clock_before_drain),
        cmocka_unit_test(same_redis_state),
        cmocka_unit_test(same_f2_rate),
        cmocka_unit_test(same_f2_rolling),
        cmocka_unit_test(same_retention_mix),
        cmocka_unit_test(same_rfm_segments),
        cmocka_unit_test(same_customer_rfm),
        cmocka_unit_test(customer_rfm_scores_equal),
        cmocka_unit_test(customer_rfm_rows_current),
        cmocka_unit_test(pair_versions_monotonic),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
