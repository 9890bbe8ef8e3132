/*
 * `ltvstream backfill` over a generated stream (duplicates, late events,
 * cancellations, refunds, malformed messages):
 *
 *  - identical to live: a backfill with small batches, killed with SIGKILL
 *    mid-way and run again (it resumes), ends with exactly the Redis state
 *    and the latest output rows of a live run over the same events;
 *  - as-of: a backfill --to T reads exactly the messages whose timestamp is
 *    before T (the generator stamps messages with their arrival time) and
 *    stops there by itself;
 *  - cutover: after a backfill to the end, more events arrive; the live
 *    stage started on the backfill's namespace continues from the stored
 *    offsets, and the result equals one live run over all events.
 */
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

#include "gen.h"
#include "harness.h"
#include "util.h"

static h_env_t *H;
static int64_t total;

static void gen(int seed, int customers, const char *start_day) {
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    o.brokers = H->mock->bootstraps;
    o.customers = customers;
    o.days = 40;
    o.seed = (uint64_t)seed;
    o.quiet = 1;
    o.kafka_ts = 1;
    o.schema_dir = NULL; /* the harness wrote ids 1 and 2 */
    if (start_day) {
        assert_int_equal(ltv_day_parse(start_day, &o.start_ms), 0);
        o.start_ms *= LTV_DAY_MS;
    }
    char err[256];
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&o, &gs, err, sizeof(err)))
        fail_msg("gen: %s", err);
}

static int setup(void **state) {
    (void)state;
    H = h_start(4, 0);
    gen(11, 2000, NULL); /* 2025-01-01 .. 2025-02-09 */
    total = h_input_end(H);
    assert_true(total > 5000);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

static int run_backfill(const char *ns, const char *to, const char *const *x) {
    const char *cmd[] = {"backfill", "--namespace", ns, "--no-progress",
                         to ? "--to" : NULL, to, NULL};
    pid_t pid = h_cmd_start(H, cmd, ns, x);
    return h_stage_wait(pid, 120000);
}

static void backfill_equals_live(void **state) {
    (void)state;
    const char *live_x[] = {"topic.f2_rate=live.f2", "topic.retention_mix=live.mix",
                            "topic.rfm_segments=live.rfm", "topic.dlq=live.dlq", NULL};
    h_stage_run_to_end(H, "live", live_x);
    assert_int_equal(h_stored_offsets(H, "live"), total);

    /* Small batches, cut by either bound (97 events, 31 of customers not
     * cached), and a SIGKILL a third of the way. */
    const char *bf_x[] = {"topic.f2_rate=bf.f2", "topic.retention_mix=bf.mix",
                          "topic.rfm_segments=bf.rfm", "topic.dlq=bf.dlq",
                          "batch.max.events=97", "batch.max.uncached=31", NULL};
    const char *cmd[] = {"backfill", "--namespace", "bf", "--no-progress", NULL};
    pid_t pid = h_cmd_start(H, cmd, "bf", bf_x);
    h_wait_stored(H, "bf", total / 3, 120000);
    kill(pid, SIGKILL);
    h_stage_wait(pid, 10000);
    assert_true(h_stored_offsets(H, "bf") < total); /* really mid-way */
    /* Run again: it resumes from Redis and stops by itself at the pinned
     * end offsets, exit 0. */
    assert_int_equal(run_backfill("bf", NULL, bf_x), 0);
    assert_int_equal(h_stored_offsets(H, "bf"), total);

    char *a = h_dump_ns(H, "live");
    char *b = h_dump_ns(H, "bf");
    assert_true(strlen(a) > 1000);
    h_assert_same_dump(H, a, b, "live vs backfill state");
    free(a);
    free(b);
    h_assert_same_table(H, "live.f2", "bf.f2");
    h_assert_same_table(H, "live.mix", "bf.mix");
    h_assert_same_table(H, "live.rfm", "bf.rfm");
}

/* Messages of the input topics with a timestamp before t, counted
 * independently of the stage by reading the topics. */
static int64_t messages_before(int64_t t) {
    int64_t n = 0, seen = 0;
    const char *topics[] = {"ltv.purchases", "ltv.visits"};
    for (int k = 0; k < 2; k++) {
        h_msg_t *m;
        int nm = h_read_topic(H, topics[k], &m);
        for (int i = 0; i < nm; i++)
            n += m[i].timestamp < t;
        seen += nm;
        h_msgs_free(m, nm);
    }
    assert_int_equal(seen, total);
    return n;
}

static void backfill_to_time_stops_there(void **state) {
    (void)state;
    /* 2025-01-21T00:00 in the default zone (UTC): about half the stream. */
    int64_t t = h_ts("2025-01-21T00:00:00Z");
    int64_t want = messages_before(t);
    assert_true(want > total / 4 && want < total * 3 / 4);
    assert_int_equal(run_backfill("asof", "2025-01-21T00:00:00Z", NULL), 0);
    assert_int_equal(h_stored_offsets(H, "asof"), want);
    /* No purchase at or after T is in the state: every customer's last
     * purchase is before T. */
    char **keys;
    int nkeys = h_customer_keys(H, "asof", &keys);
    assert_true(nkeys > 100);
    for (int i = 0; i < nkeys; i++) {
        int64_t last = h_hget_i64(H, keys[i], "last_purchase_ts");
        assert_true(last < t);
        free(keys[i]);
    }
    free(keys);
}

static void cutover_continues_live(void **state) {
    (void)state;
    const char *x[] = {"topic.f2_rate=cut.f2", "topic.dlq=cut.dlq", NULL};
    assert_int_equal(run_backfill("cut", NULL, x), 0);
    assert_int_equal(h_stored_offsets(H, "cut"), total);

    /* More events arrive after the backfill. */
    gen(12, 500, "2025-02-05");
    int64_t all = h_input_end(H);
    assert_true(all > total);

    /* The live stage on the backfilled namespace, and a reference live run
     * over everything from scratch. */
    h_stage_run_to_end(H, "cut", x);
    const char *ref_x[] = {"topic.f2_rate=ref.f2", "topic.dlq=ref.dlq", NULL};
    h_stage_run_to_end(H, "ref", ref_x);
    assert_int_equal(h_stored_offsets(H, "cut"), all);
    assert_int_equal(h_stored_offsets(H, "ref"), all);
    char *a = h_dump_ns(H, "ref");
    char *b = h_dump_ns(H, "cut");
    h_assert_same_dump(H, a, b, "one live run vs backfill + live");
    free(a);
    free(b);
    h_assert_same_table(H, "ref.f2", "cut.f2");
    total = all;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(backfill_equals_live),
        cmocka_unit_test(backfill_to_time_stops_there),
        cmocka_unit_test(cutover_continues_live),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
