/*
 * A bounded run (run.stop.at.end, what `ltvstream backfill` runs) ends
 * only when Redis holds everything it read: when its commits fail, also
 * the last one, it reads again from what Redis has and finishes once
 * Redis takes its writes again, with the state of a run without faults.
 *
 * The fault: Redis's default user loses EXEC (an ACL rule), so every
 * batch's transaction is refused (EXECABORT ... NOPERM) while reads and
 * plain writes still work. The stage, started against it, logs "batch
 * discarded" three times and is still running; then EXEC is allowed
 * again. Before the fix, a run whose
 * commit failed after it had read to the end offsets exited 0 at once
 * (a backfill reported "done") with its last batch missing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "harness.h"

static h_env_t *H;

/* A long batch.max.ms: a batch ends when the input is read to its end,
 * so each attempt commits everything at once, after the end offsets are
 * reached (where the old stage gave up), however slowly the broker hands
 * the messages over. */
static const char *const run_nox[] = {H_X_TOPICS("nox"), "run.stop.at.end=true",
                                      "batch.max.ms=60000", NULL};

static void acl(const char *rule) {
    redisReply *r = redisCommand(H->rc, "ACL SETUSER default %s", rule);
    if (!r || r->type != REDIS_REPLY_STATUS)
        fail_msg("ACL SETUSER default %s failed", rule);
    freeReplyObject(r);
}

/* "batch discarded" lines in the stage's log so far. */
static int discarded(pid_t pid) {
    char *log = h_slurp(h_stage_log(pid));
    int n = 0;
    for (const char *p = log; p && (p = strstr(p, "batch discarded")); p++)
        n++;
    free(log);
    return n;
}

static void run_ends_when_redis_has_everything(void **state) {
    (void)state;
    H = h_start(2, 0);
    int64_t total = h_gen(H, 40, 90, 7);
    char *ref = h_reference_run(H, "ref", total);

    acl("-exec");
    pid_t pid = h_stage_start(H, "nox", run_nox);
    /* Three refused commits: at least one of them after the stage had
     * read to the end offsets (each retry reads everything again), where
     * the old stage exited. It must still be running. */
    int seen = 0;
    for (int i = 0; i < 3000 && seen < 3; i++) { /* up to 60 s */
        seen = discarded(pid);
        if (seen < 3) {
            h_assert_alive(pid, "while its commits were refused");
            h_sleep_ms(20);
        }
    }
    if (seen < 3)
        fail_msg("%d commits failed in 60 s", seen);
    h_assert_alive(pid, "after its commits were refused");
    acl("+exec");
    assert_int_equal(h_stage_wait(pid, 120000), 0);

    assert_int_equal(h_stored_offsets(H, "nox"), total);
    char *dump = h_dump_ns(H, "nox");
    h_assert_same_dump(H, ref, dump, "state after the refused commits");
    free(dump);
    free(ref);
    h_assert_same_tables(H, "ref", "nox", 0);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(run_ends_when_redis_has_everything),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
