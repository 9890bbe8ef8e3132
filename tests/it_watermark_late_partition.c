/*
 * A partition heard from only after the last batch with data still moves
 * the watermark, with no further event.
 *
 * An assigned partition that has delivered nothing yet holds the clock
 * back (consumer/stage_commit.c, clock_update): its first messages may be
 * older than anything seen. Here the visits partition is led by a broker
 * that answers slowly, so one order on the purchases partition is
 * committed while visits has not reached its end: the stored watermark
 * stays unknown. When the visits partition then reports its end, the
 * watermark must become the order's time (allowed.lateness.ms=0, no idle
 * timeout), although no event follows. CI once caught the stage leaving
 * it unknown for good: the clock was computed from the positions read
 * before the order's commit, which did not include it.
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
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include "harness.h"

#define NS "wlp"

static void end_of_slow_partition_moves_watermark(void **state) {
    (void)state;
    h_env_t *H = h_start_n(1, 0, 2);
    rd_kafka_mock_cluster_t *mc = H->mock->mc;
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "ltv.purchases", 0, 1), 0);
    assert_int_equal(rd_kafka_mock_partition_set_leader(mc, "ltv.visits", 0, 2), 0);
    /* Every answer of broker 2 (the visits partition's fetches among
     * them) takes 3 s: the order's batch is committed long before. */
    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 2, 3000), 0);

    ltv_event_t ev = h_order("e-A", "A", "o-A", "2025-03-01T10:00:00", 4000, "email", NULL);
    h_produce(H, &ev, 1);
    static const char *const x[] = {"allowed.lateness.ms=0", "watermark.idle.timeout.ms=0",
                                    NULL};
    pid_t stage = h_stage_start(H, NS, x);

    h_wait_stored(H, NS, 1, 60000);
    /* The scenario: the order is committed while the visits partition
     * still holds the clock. */
    assert_true(h_hget_i64(H, NS ":clock", "watermark") == INT64_MIN);

    assert_int_equal(rd_kafka_mock_broker_set_rtt(mc, 2, 0), 0);
    h_wait_settled(H, NS, 1, h_ts("2025-03-01T10:00:00"), 60000,
                   "visits partition reached its end");

    kill(stage, SIGTERM);
    assert_int_equal(h_stage_wait(stage, 30000), 0);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(end_of_slow_partition_moves_watermark),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
