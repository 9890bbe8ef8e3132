/*
 * SIGTERM while a batch is still being read: the stage commits what it has
 * read before it exits (SPEC §6: "finish and persist the current batch").
 *
 * batch.max.ms is a minute, so the batch stays open after the input is
 * read. Five orders and then one message that is no Avro at all go to the
 * purchases partition; the stage logs (at debug level) the dead letter of
 * the last one when it reads it, so once that line is in its log the
 * batch holds all six messages. SIGTERM then: the stage exits 0 and Redis
 * holds next offset 6 for the partition, every message consumed also
 * committed. It used to exit 0 with nothing committed: after the signal
 * every flush stopped at the Redis connection check, before sending
 * anything (tests/it_graceful_shutdown.c caught it now and then, when
 * the signal came while the stage was reading).
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define NS "sob"

static void batch_read_before_sigterm_is_committed(void **state) {
    (void)state;
    h_env_t *H = h_start(1, 0);
    static const char *const x[] = {"batch.max.ms=60000", "log.level=7", NULL};
    pid_t stage = h_stage_start(H, NS, x);

    static char ids[5][3][16];
    ltv_event_t evs[5];
    for (int i = 0; i < 5; i++) {
        snprintf(ids[i][0], sizeof(ids[i][0]), "e%d", i);
        snprintf(ids[i][1], sizeof(ids[i][1]), "c%d", i);
        snprintf(ids[i][2], sizeof(ids[i][2]), "o%d", i);
        evs[i] = h_order(ids[i][0], ids[i][1], ids[i][2], "2025-03-01T10:00:00", 1000, "email",
                         NULL);
    }
    h_produce(H, evs, 5);
    h_produce_raw(H, "ltv.purchases", "c9", "not avro", 8);

    int64_t deadline = ltv_mono_us() + 60 * INT64_C(1000000);
    while (!h_log_contains(stage, "dead letter ltv.purchases [0] @5")) {
        if (ltv_mono_us() > deadline)
            fail_msg("the stage did not read the sixth message within 60 s (log %s)",
                     h_stage_log(stage));
        h_sleep_ms(20);
    }
    /* Read, and not committed yet: the batch waits for more. */
    assert_int_equal(h_stored_offsets(H, NS), 0);

    kill(stage, SIGTERM);
    assert_int_equal(h_stage_wait(stage, 30000), 0);
    assert_int_equal(h_hget_i64(H, NS ":off:ltv.purchases:0", "next"), 6);
    assert_int_equal(h_stored_offsets(H, NS), 6);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batch_read_before_sigterm_is_committed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
