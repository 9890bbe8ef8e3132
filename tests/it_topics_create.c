/*
 * `ltvstream topics create` against the embedded broker. librdkafka
 * 2.0.2's mock cluster answers metadata but has no CreateTopics (nor
 * DescribeConfigs), so what can be run here is everything around the
 * creation: topics that exist are found with their partition counts and
 * left alone (a re-run of a deployment's init job succeeds without
 * creating anything), input topics that are not co-partitioned fail the
 * command, and a topic the cluster cannot create fails it within the
 * timeout, naming the topic. The configs each topic is created with are
 * asserted by tests/test_topics_plan.c; the creation itself runs in
 * docker-compose.yml's init job against a real broker.
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

static h_env_t *H;

static int setup(void **state) {
    (void)state;
    H = h_start(4, 0); /* ltv.purchases and ltv.visits with 4 partitions */
    ltv_mock_topic(H->mock, "ltv.dlq", 5);
    static const char *outs[] = {"ltv.f2_rate",      "ltv.f2_rolling",   "ltv.retention_mix",
                                 "ltv.rfm_segments", "ltv.customer_rfm", "ltv.acquisition",
                                 "ltv.lifecycle"};
    for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
        ltv_mock_topic(H->mock, outs[i], 2);
    ltv_mock_topic(H->mock, "visits.3", 3);
    /* Keyed by campaign: any partition count is fine. */
    ltv_mock_topic(H->mock, "ltv.ad_spend", 1);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

/* Runs `ltvstream topics create <args>` with the harness's broker and the
 * given -X settings; returns its exit status and, in *log, its output. */
static int topics_create(const char *const *args, const char *const *x, char **log) {
    const char *cmd[12] = {"topics", "create"};
    int n = 2;
    for (int i = 0; args && args[i] && n < 11; i++)
        cmd[n++] = args[i];
    cmd[n] = NULL;
    pid_t pid = h_cmd_start(H, cmd, "topics", x);
    int rc = h_stage_wait(pid, 60000);
    *log = h_slurp(h_stage_log(pid));
    assert_non_null(*log);
    return rc;
}

#define assert_contains(hay, needle)                                                              \
    do {                                                                                          \
        if (!strstr((hay), (needle)))                                                             \
            fail_msg("output does not contain \"%s\":\n%s", (needle), (hay));                    \
    } while (0)

static void existing_topics_are_found_and_left_alone(void **state) {
    (void)state;
    char *log;
    static const char *args[] = {"--partitions", "4", "--timeout-ms", "10000", NULL};
    static const char *x[] = {"topic.ad_spend=ltv.ad_spend", NULL};
    int64_t t0 = ltv_mono_us();
    assert_int_equal(topics_create(args, x, &log), 0);
    /* Nothing to create: no CreateTopics round (which the mock would time
     * out), so it is quick. */
    assert_true(ltv_mono_us() - t0 < 5000000);
    assert_contains(log, "ltv.purchases            input        exists     4 partitions");
    assert_contains(log, "ltv.visits               input        exists     4 partitions");
    assert_contains(log, "ltv.dlq                  dead letters exists     5 partitions");
    assert_contains(log, "ltv.f2_rate              output       exists     2 partitions");
    assert_contains(log, "ltv.f2_rolling           output       exists     2 partitions");
    assert_contains(log, "ltv.retention_mix        output       exists     2 partitions");
    assert_contains(log, "ltv.rfm_segments         output       exists     2 partitions");
    assert_contains(log, "ltv.customer_rfm         output       exists     2 partitions");
    assert_contains(log, "ltv.ad_spend             input        exists     1 partitions");
    assert_contains(log, "ltv.acquisition          output       exists     2 partitions");
    assert_contains(log, "ltv.lifecycle            events       exists     2 partitions");
    free(log);
}

static void inputs_not_copartitioned_fail(void **state) {
    (void)state;
    char *log;
    static const char *x[] = {"topic.visits=visits.3", NULL};
    assert_int_equal(topics_create(NULL, x, &log), 1);
    assert_contains(log, "visits.3                 input        exists     3 partitions");
    assert_contains(log, "input topics ltv.purchases (4 partitions) and visits.3 (3 partitions) "
                         "are not co-partitioned");
    free(log);
}

static void a_topic_that_cannot_be_created_fails_in_time(void **state) {
    (void)state;
    char *log;
    static const char *args[] = {"--timeout-ms", "3000", NULL};
    static const char *x[] = {"topic.dlq=dlq.new", NULL};
    int64_t t0 = ltv_mono_us();
    assert_int_equal(topics_create(args, x, &log), 1);
    assert_true(ltv_mono_us() - t0 < 15000000);
    /* The missing topic with the settings it was to be created with; the
     * others as they are. */
    assert_contains(log, "dlq.new                  dead letters MISSING    3 partitions  "
                         "cleanup.policy=delete retention.ms=1209600000");
    assert_contains(log, "ltv.f2_rate              output       exists     2 partitions");
    assert_contains(log, "creating topics:");
    free(log);
}

static void bad_options_are_refused(void **state) {
    (void)state;
    char *log;
    static const char *args[] = {"--partitions", "0", NULL};
    assert_int_equal(topics_create(args, NULL, &log), 2);
    assert_contains(log, "--partitions needs a positive integer");
    free(log);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(existing_topics_are_found_and_left_alone),
        cmocka_unit_test(inputs_not_copartitioned_fail),
        cmocka_unit_test(a_topic_that_cannot_be_created_fails_in_time),
        cmocka_unit_test(bad_options_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
