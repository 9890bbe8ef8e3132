/*
 * Exactly-once across kill -9: a stage killed mid-stream (twice) and
 * restarted ends with exactly the Redis state and output rows of a run
 * that was never interrupted, over a generated stream with duplicates,
 * late events, cancellations, refunds and bad messages. The interrupted
 * run also uses much smaller batches, so batch boundaries differ too.
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

static h_env_t *H;
static int64_t total;

static int setup(void **state) {
    H = h_start(8, 0);
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    o.brokers = H->mock->bootstraps;
    o.customers = 3000;
    o.days = 60;
    o.seed = 7;
    o.quiet = 1;
    o.schema_dir = NULL; /* the harness wrote ids 1 and 2 */
    char err[256];
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&o, &gs, err, sizeof(err)))
        fail_msg("gen: %s", err);
    total = h_input_end(H);
    assert_int_equal(total, gs.total);
    return 0;
}

static int teardown(void **state) {
    h_stop(H);
    return 0;
}

static void kill9_mid_stream_equals_clean_run(void **state) {
    const char *clean_x[] = {"topic.f2_rate=clean.f2", "topic.retention_mix=clean.mix",
                             "topic.dlq=clean.dlq", NULL};
    h_stage_run_to_end(H, "clean", clean_x);
    assert_int_equal(h_stored_offsets(H, "clean"), total);

    const char *crash_x[] = {"topic.f2_rate=crash.f2", "topic.retention_mix=crash.mix",
                             "topic.dlq=crash.dlq", "batch.max.events=97", NULL};
    pid_t pid = h_stage_start(H, "crash", crash_x);
    h_wait_stored(H, "crash", total / 4, 120000);
    kill(pid, SIGKILL);
    h_stage_wait(pid, 10000);
    int64_t at_kill = h_stored_offsets(H, "crash");
    assert_true(at_kill < total); /* really mid-stream */

    pid = h_stage_start(H, "crash", crash_x);
    h_wait_stored(H, "crash", at_kill + total / 4, 120000);
    kill(pid, SIGKILL);
    h_stage_wait(pid, 10000);
    assert_true(h_stored_offsets(H, "crash") < total);

    const char *crash_end[] = {"topic.f2_rate=crash.f2", "topic.retention_mix=crash.mix",
                               "topic.dlq=crash.dlq", "batch.max.events=97", NULL};
    h_stage_run_to_end(H, "crash", crash_end);
    assert_int_equal(h_stored_offsets(H, "crash"), total);

    char *a = h_dump_ns(H, "clean");
    char *b = h_dump_ns(H, "crash");
    assert_true(strlen(a) > 1000);
    h_assert_same_dump(H, a, b, "state");
    free(a);
    free(b);

    /* The newest row per key agrees too (rows committed but not emitted
     * before a kill are re-emitted from the emission queue on restart). */
    h_assert_same_table(H, "clean.f2", "crash.f2");
    h_assert_same_table(H, "clean.mix", "crash.mix");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(kill9_mid_stream_equals_clean_run),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
