/*
 * SPEC §4 "exactly-once effect across rebalances": live stages of one
 * consumer group and namespace gain and lose partitions while they
 * process, and the result is exactly that of one run without faults.
 *
 * 1. A second instance joins mid-stream (the stream grows while both
 *    consume) and later leaves (SIGTERM) while events keep coming: the
 *    first takes its partitions back. No event is lost or counted twice:
 *    the Redis state and the newest output rows equal the reference's,
 *    and every lifecycle trigger is in ltv.lifecycle once (first and
 *    second purchases the same as the reference's).
 *
 * 2. A zombie: of two busy instances, one is SIGSTOPped beyond the group
 *    session timeout (6 s): the group gives its partitions to the other,
 *    which carries on from the offsets in Redis. SIGCONT: the zombie wakes
 *    up with a batch of events the other has since processed, and must not
 *    commit it. A poll loop watches every partition's stored offset all
 *    along: it never goes back. The zombie's log shows it found out (its
 *    batch fenced, or its partitions lost). The result equals the
 *    reference's.
 *
 * Live stages stopped by SIGTERM leave the live clock; a run.stop.at.end
 * stage drains each namespace before comparing (see it_two_instances.c).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "harness.h"

static h_env_t *H;
static int64_t total;

static int setup(void **state) {
    (void)state;
    H = h_start(8, 0);
    total = h_gen(H, 1500, 30, 41);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

/* The partition count of the last "assigned N partitions" line of a
 * stage's log (-1: none yet). */
static int last_assigned(pid_t pid) {
    char *s = h_slurp(h_stage_log(pid));
    int n = -1;
    for (const char *p = s; p && (p = strstr(p, "assigned ")); p++)
        if (p == s || p[-1] == ' ')
            sscanf(p, "assigned %d partitions", &n);
    free(s);
    return n;
}

static void wait_assigned(pid_t pid, int n, const char *what) {
    int64_t deadline = ltv_mono_us() + 60 * 1000000LL;
    while (last_assigned(pid) != n) {
        if (ltv_mono_us() > deadline)
            fail_msg("%s: not assigned %d partitions (last: %d; log %s)", what, n,
                     last_assigned(pid), h_stage_log(pid));
        h_sleep_ms(20);
    }
}

/* Whether the log of a stage contains `what` after its first `from` bytes. */
static int log_contains_after(pid_t pid, size_t from, const char *what) {
    char *s = h_slurp(h_stage_log(pid));
    int r = s && strlen(s) > from && strstr(s + from, what) != NULL;
    free(s);
    return r;
}

static size_t log_size(pid_t pid) {
    char *s = h_slurp(h_stage_log(pid));
    size_t n = s ? strlen(s) : 0;
    free(s);
    return n;
}

static int64_t log_consumed(pid_t pid) {
    char *s = h_slurp(h_stage_log(pid));
    const char *p = s ? strstr(s, "stopped: consumed ") : NULL;
    int64_t v = p ? strtoll(p + strlen("stopped: consumed "), NULL, 10) : -1;
    free(s);
    return v;
}

static void sigterm_exit_0(pid_t pid) {
    kill(pid, SIGTERM);
    int rc = h_stage_wait(pid, 30000);
    if (rc != 0)
        fail_msg("stage exited with %d after SIGTERM (log %s)", rc, h_stage_log(pid));
}

/* Drains ns, brings the reference namespace (one stage, no faults) to the
 * end of the input, compares. */
static void assert_equals_reference(const char *ns, const char *const *x) {
    h_stage_drain(H, ns, x);
    /* The reference runs once; later calls compare with what it stored. */
    char *a = h_stored_offsets(H, "ref") == total ? h_dump_ns(H, "ref")
                                                   : h_reference_run(H, "ref", total);
    assert_true(strlen(a) > 10000);
    assert_int_equal(h_stored_offsets(H, ns), total);
    char *b = h_dump_ns(H, ns);
    h_assert_same_dump(H, a, b, "state");
    free(a);
    free(b);
    h_assert_same_tables(H, "ref", ns, 0);
}

/* ---- 1. join and leave -------------------------------------------------------- */

static void second_instance_joins_and_leaves(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("join"), "batch.max.events=97", NULL};
    pid_t a = h_stage_start(H, "join", x);
    h_wait_stored(H, "join", total / 4, 120000);
    pid_t b = h_stage_start(H, "join", x);
    /* Range assignment: 4 partitions of each input topic each. */
    wait_assigned(a, 8, "first instance after the join");
    wait_assigned(b, 8, "second instance");
    /* More events while both hold half the partitions. */
    total = h_gen_from(H, 800, 30, 6, 42);
    h_wait_stored(H, "join", total, 120000);
    /* The second leaves; events keep coming while the first takes its
     * partitions back. */
    sigterm_exit_0(b);
    total = h_gen_from(H, 800, 36, 6, 43);
    wait_assigned(a, 16, "first instance after the leave");
    h_wait_stored(H, "join", total, 120000);
    sigterm_exit_0(a);
    int64_t ca = log_consumed(a), cb = log_consumed(b);
    print_message("instance A consumed %lld, instance B %lld of %lld messages\n", (long long)ca,
                  (long long)cb, (long long)total);
    assert_true(ca > 0 && cb > 0);
    assert_true(ca + cb >= total);
    assert_equals_reference("join", x);
    /* Lifecycle triggers: each customer|occasion once, and the same first
     * and second purchases as the reference's (timed occasions depend on
     * where the watermark stood when a late event came, which differs
     * between runs: see h_lifecycle_pairs). */
    char **all, **got, **want;
    int nall = h_lifecycle_pairs(H, "join.lifecycle", 0, &all);
    assert_true(nall > 100);
    for (int i = 1; i < nall; i++)
        if (!strcmp(all[i], all[i - 1]))
            fail_msg("join.lifecycle: %s twice", all[i]);
    int ng = h_lifecycle_pairs(H, "join.lifecycle", 1, &got);
    int nw = h_lifecycle_pairs(H, "ref.lifecycle", 1, &want);
    assert_true(nw > 100);
    for (int i = 0; i < ng && i < nw; i++)
        if (strcmp(got[i], want[i]))
            fail_msg("join.lifecycle differs from the reference's at %s (reference: %s)", got[i],
                     want[i]);
    assert_int_equal(ng, nw);
    h_strs_free(all, nall);
    h_strs_free(got, ng);
    h_strs_free(want, nw);
}

/* ---- 2. a zombie ----------------------------------------------------------------- */

/* Every partition's stored offset, read one by one; fails the test if one
 * is lower than the last one seen. */
static int64_t seen[2][64];

static void check_offsets_monotonic(const char *ns) {
    static const char *const topics[] = {"ltv.purchases", "ltv.visits"};
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < H->partitions; p++) {
            char key[128];
            snprintf(key, sizeof(key), "%s:off:%s:%d", ns, topics[t], p);
            int64_t v = h_hget_i64(H, key, "next");
            if (v == INT64_MIN)
                v = -1;
            if (v < seen[t][p])
                fail_msg("%s [%d]: the stored offset went back from %lld to %lld", topics[t], p,
                         (long long)seen[t][p], (long long)v);
            seen[t][p] = v;
        }
}

static void poll_monotonic_for(const char *ns, int ms) {
    int64_t until = ltv_mono_us() + (int64_t)ms * 1000;
    while (ltv_mono_us() < until) {
        check_offsets_monotonic(ns);
        h_sleep_ms(2);
    }
}

static void zombie_never_moves_offsets_back(void **state) {
    (void)state;
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < 64; p++)
            seen[t][p] = -1;
    static const char *const x[] = {H_X_TOPICS("zomb"), "batch.max.events=97", NULL};
    pid_t a = h_stage_start(H, "zomb", x);
    pid_t b = h_stage_start(H, "zomb", x);
    wait_assigned(a, 8, "instance A");
    wait_assigned(b, 8, "instance B");
    /* Both busy with the whole input as their backlog: stop A in the
     * middle of it. */
    int64_t deadline = ltv_mono_us() + 120 * 1000000LL;
    while (h_stored_offsets(H, "zomb") < total / 5) {
        check_offsets_monotonic("zomb");
        if (ltv_mono_us() > deadline)
            fail_msg("no progress (logs in %s)", H->dir);
        h_sleep_ms(2);
    }
    kill(a, SIGSTOP);
    int64_t at_stop = h_stored_offsets(H, "zomb");
    /* The group drops A after its session timeout; B takes everything and
     * processes A's share from the offsets in Redis, to the end. */
    deadline = ltv_mono_us() + 120 * 1000000LL;
    while (last_assigned(b) != 16 || h_stored_offsets(H, "zomb") < total) {
        check_offsets_monotonic("zomb");
        if (ltv_mono_us() > deadline)
            fail_msg("B did not take over and finish (B assigned %d, stored %lld of %lld; logs "
                     "in %s)",
                     last_assigned(b), (long long)h_stored_offsets(H, "zomb"), (long long)total,
                     H->dir);
        h_sleep_ms(2);
    }
    print_message("A stopped at %lld of %lld offsets; B took over and finished\n",
                  (long long)at_stop, (long long)total);
    /* Wake the zombie, keep watching while it finds out. */
    size_t before = log_size(a);
    kill(a, SIGCONT);
    deadline = ltv_mono_us() + 60 * 1000000LL;
    while (!log_contains_after(a, before, "lost ") && !log_contains_after(a, before, "revoked ")) {
        check_offsets_monotonic("zomb");
        if (ltv_mono_us() > deadline)
            fail_msg("the zombie never learned it lost its partitions (log %s)",
                     h_stage_log(a));
        h_sleep_ms(2);
    }
    poll_monotonic_for("zomb", 1000);
    int fenced = log_contains_after(a, before, "batch discarded");
    print_message("the zombie %s\n", fenced ? "had a batch fenced (discarded) and lost its "
                                              "partitions"
                                            : "lost its partitions before it could commit");
    assert_int_equal(h_stored_offsets(H, "zomb"), total);
    sigterm_exit_0(a);
    sigterm_exit_0(b);
    assert_equals_reference("zomb", x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(second_instance_joins_and_leaves),
        cmocka_unit_test(zombie_never_moves_offsets_back),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
