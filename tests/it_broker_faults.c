/*
 * SPEC §6 "Broker down: keep retrying; no duplicates when it returns", and
 * the other broker-side failures a stage meets, injected with the mock
 * cluster's fault API into runs over a generated stream. Each faulty run
 * ends with exactly the Redis state of a run without faults and the same
 * newest output row per key:
 *
 * 1. every broker down twice mid-stream: 3 s (inside the group session
 *    timeout of 6 s), then 8 s (beyond it: the group drops the member, the
 *    stage loses its partitions and gets them back from Redis's offsets);
 * 2. Produce requests failing: retriable errors the client retries, a
 *    dropped connection, and errors that fail deliveries (rows the stage
 *    must re-emit from its emission queue, dead letters it must
 *    re-produce); the emission queue is empty at the end;
 * 3. the group coordinator moved to another broker twice while a live
 *    stage consumes a growing stream, with OffsetCommit requests failing on
 *    each new coordinator.
 *
 * The mock cluster has three brokers; input partitions are spread over
 * them.
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
#include <librdkafka/rdkafka.h>

#include "harness.h"

static h_env_t *H;
static int64_t total;
static char *clean_dump;

static int setup(void **state) {
    (void)state;
    H = h_start_n(8, 0, 3);
    total = h_gen(H, 1500, 45, 23);
    clean_dump = h_reference_run(H, "clean", total);
    print_message("stream of %lld messages\n", (long long)total);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    free(clean_dump);
    h_stop(H);
    return 0;
}

static void assert_equals_clean(const char *ns) {
    char *d = h_dump_ns(H, ns);
    h_assert_same_dump(H, clean_dump, d, "state");
    free(d);
    h_assert_same_tables(H, "clean", ns, 0);
}

static void wait_exit_0(pid_t pid) {
    int rc = h_stage_wait(pid, 120000);
    if (rc != 0)
        fail_msg("stage exited with %d (log %s)", rc, h_stage_log(pid));
}

static int64_t emitq_len(const char *ns) {
    char key[64];
    snprintf(key, sizeof(key), "%s:emitq", ns);
    redisReply *r = redisCommand(H->rc, "HLEN %s", key);
    assert_non_null(r);
    int64_t n = r->integer;
    freeReplyObject(r);
    return n;
}

/* ---- 1. brokers down ------------------------------------------------------------ */

static void brokers_down_mid_stream(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("down"), "batch.max.events=97",
                                    "run.stop.at.end=true", NULL};
    pid_t pid = h_stage_start(H, "down", x);
    rd_kafka_mock_cluster_t *mc = H->mock->mc;
    static const int down_ms[] = {3000, 8000};
    for (int k = 0; k < 2; k++) {
        int64_t at = h_wait_stored(H, "down", total * (k + 1) / 4, 120000);
        assert_int_equal(rd_kafka_mock_broker_set_down(mc, -1), 0);
        /* The fault's duration (not a wait for anything). While it lasts
         * the stage may finish what it had fetched, but not more. */
        h_sleep_ms(down_ms[k]);
        int64_t during = h_stored_offsets(H, "down");
        h_assert_alive(pid, "ended early");
        assert_int_equal(rd_kafka_mock_broker_set_up(mc, -1), 0);
        print_message("brokers down %d ms at %lld of %lld offsets (%lld when they came back)\n",
                      down_ms[k], (long long)at, (long long)total, (long long)during);
        assert_true(during < total);
    }
    wait_exit_0(pid);
    assert_int_equal(h_stored_offsets(H, "down"), total);
    /* The long outage cost the stage its group membership. */
    if (!h_log_contains(pid, "lost") && !h_log_contains(pid, "revoked"))
        fail_msg("no rebalance after the 8 s outage (log %s)", h_stage_log(pid));
    assert_equals_clean("down");
}

/* ---- 2. Produce errors ------------------------------------------------------------ */

static void produce_errors_on_outputs(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("prod"), "batch.max.events=200",
                                    "run.stop.at.end=true", NULL};
    rd_kafka_mock_cluster_t *mc = H->mock->mc;
    /* Every broker's next Produce requests fail: whichever leads the
     * partitions the first rows and dead letters go to. */
    for (int b = 1; b <= 3; b++)
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, b, 0 /* Produce */, 8,
                             RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION, 0,
                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 200,
                             RD_KAFKA_RESP_ERR__TRANSPORT, 0,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0,
                             RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS, 0,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0,
                             RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE, 0,
                             RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED, 0),
                         0);
    pid_t pid = h_stage_start(H, "prod", x);
    wait_exit_0(pid);
    for (int b = 1; b <= 3; b++) {
        size_t left = 99;
        assert_int_equal(rd_kafka_mock_broker_error_stack_cnt(mc, b, 0, &left), 0);
        if (left != 0)
            fail_msg("broker %d still has %zu Produce errors queued: the stage never hit them",
                     b, left);
    }
    assert_int_equal(h_stored_offsets(H, "prod"), total);
    /* Deliveries did fail, and were made good. */
    if (!h_log_contains(pid, "row delivery to prod."))
        fail_msg("no failed row delivery (log %s)", h_stage_log(pid));
    assert_int_equal(emitq_len("prod"), 0);
    /* Redis never failed: no batch had a reason to be discarded. */
    if (h_log_contains(pid, "batch discarded"))
        fail_msg("a batch was discarded (log %s)", h_stage_log(pid));
    assert_equals_clean("prod");
    /* Re-emitted rows carry current values and versions: the last record
     * of every key is its newest, and no version ever went back. */
    assert_int_equal(h_assert_same_tables(H, "clean", "prod", 1), 0);
}

/* ---- 3. coordinator moves, OffsetCommit errors ---------------------------------- */

/* Kafka's committed offsets of group ns, summed over the input partitions. */
static int64_t kafka_committed(const char *ns) {
    char tmp[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", H->mock->bootstraps, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "group.id", ns, tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * H->partitions);
    for (int p = 0; p < H->partitions; p++) {
        rd_kafka_topic_partition_list_add(l, "ltv.purchases", p);
        rd_kafka_topic_partition_list_add(l, "ltv.visits", p);
    }
    assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
    int64_t sum = 0;
    for (int i = 0; i < l->cnt; i++)
        if (l->elems[i].offset > 0)
            sum += l->elems[i].offset;
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
    return sum;
}

/* Waits until broker b has used up its queued errors for ApiKey. */
static void wait_errors_used(int32_t b, int16_t api, const char *what) {
    int64_t deadline = ltv_mono_us() + 60 * 1000000LL;
    size_t left = 1;
    while (rd_kafka_mock_broker_error_stack_cnt(H->mock->mc, b, api, &left) == 0 && left) {
        if (ltv_mono_us() > deadline)
            fail_msg("broker %d still has %zu %s errors queued: the stage never sent it one",
                     (int)b, left, what);
        h_sleep_ms(20);
    }
}

/* The stream grows while a live stage consumes it: two more periods are
 * produced, each after the coordinator moved (so the faults surely land
 * between events the stage processes). The generator numbers orders and
 * visits per customer from 0 in each period, so many events of the later
 * periods repeat ids of earlier ones and count as duplicates: the same for
 * both runs. The reference run reads the whole input at the end. (The mock
 * keeps a group's state cluster-wide, so a move redirects the member's
 * requests without a rebalance.) */
static void coordinator_moves_and_commit_errors(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("coord"), "batch.max.events=97",
                                    "kafka.auto.commit.interval.ms=200", NULL};
    rd_kafka_mock_cluster_t *mc = H->mock->mc;
    assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", "coord", 1), 0);
    pid_t pid = h_stage_start(H, "coord", x);
    int64_t end = total;
    for (int k = 0; k < 2; k++) {
        int32_t to = 2 + k;
        h_wait_stored(H, "coord", end, 120000);
        assert_int_equal(rd_kafka_mock_coordinator_set(mc, "group", "coord", to), 0);
        /* The member finds the new coordinator when the old one answers a
         * heartbeat with NOT_COORDINATOR. A no-op entry on the new one's
         * Heartbeat error stack shows when it has: its commits from then
         * on go there. (An idle consumer commits nothing, so waiting for
         * the commits' errors before producing could wait forever.) */
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, to, 12 /* Heartbeat */, 1, RD_KAFKA_RESP_ERR_NO_ERROR, 0),
                         0);
        wait_errors_used(to, 12, "Heartbeat");
        /* The new coordinator fails the first commits it gets. */
        assert_int_equal(rd_kafka_mock_broker_push_request_error_rtts(
                             mc, to, 8 /* OffsetCommit */, 4,
                             RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS, 0,
                             RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT, 100,
                             RD_KAFKA_RESP_ERR_NOT_COORDINATOR, 0,
                             RD_KAFKA_RESP_ERR_OFFSET_METADATA_TOO_LARGE, 0),
                         0);
        end = h_gen_from(H, 600, 45 + 5 * k, 5, 31 + (uint64_t)k);
        h_wait_stored(H, "coord", end, 120000);
        wait_errors_used(to, 8, "OffsetCommit");
        h_assert_alive(pid, "ended early");
        print_message("group coordinator moved to broker %d; the stage stored all %lld offsets "
                      "and its commits met the new coordinator's errors\n",
                      (int)to, (long long)end);
    }
    kill(pid, SIGTERM);
    assert_int_equal(h_stage_wait(pid, 30000), 0);
    /* Kafka's committed offsets (lag monitoring only) never claim more than
     * Redis holds. They may claim less: after commits failed on a moved
     * coordinator, librdkafka 2.0.2 was seen to leave some partitions'
     * committed offsets behind the stored ones, also through the close
     * (about one run in three), so an idle partition can show a small lag. */
    int64_t committed = kafka_committed("coord");
    print_message("Kafka's committed offsets of group coord: %lld of %lld\n",
                  (long long)committed, (long long)end);
    assert_true(committed > 0 && committed <= end);

    /* Drain (see it_two_instances.c), then the reference over the whole
     * input. */
    h_stage_drain(H, "coord", x);
    char *a = h_reference_run(H, "clean3", end);
    assert_int_equal(h_stored_offsets(H, "coord"), end);
    char *b = h_dump_ns(H, "coord");
    h_assert_same_dump(H, a, b, "state");
    free(a);
    free(b);
    h_assert_same_tables(H, "clean3", "coord", 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(brokers_down_mid_stream),
        cmocka_unit_test(produce_errors_on_outputs),
        cmocka_unit_test(coordinator_moves_and_commit_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
