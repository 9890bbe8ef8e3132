/*
 * SPEC §6 "SIGTERM: stop fetching, finish and persist the current batch,
 * flush the producer, exit 0 well inside Kubernetes' default 30 s grace
 * period", and a restart that continues exactly.
 *
 * 1. SIGTERM while the stage works through a backlog: it exits 0, fast
 *    (measured, asserted under 30 s); every message it consumed is
 *    committed to Redis (its stored offsets equal its consumed count: the
 *    batch in progress was persisted, none was left half-done); the
 *    emission queue is empty (every row delivered, the producer flushed);
 *    the consumer group's committed offsets equal Redis's (the consumer
 *    closed). A restart then ends with exactly the state and output rows
 *    of a run without the stop.
 *
 * 2. SIGTERM while every broker is down: the rows cannot be delivered and
 *    the group cannot be left, yet the stage exits 0 inside the grace
 *    period; the rows stay queued in Redis; a batch holding dead letters
 *    the brokers could not take is not committed (read again later); a
 *    restart (brokers back) ends equal to the run without the stop.
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

#include "harness.h"

static h_env_t *H;
static int64_t total;
static char *clean_dump;

static int setup(void **state) {
    (void)state;
    H = h_start(8, 0);
    total = h_gen(H, 1500, 45, 53);
    clean_dump = h_reference_run(H, "clean", total);
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

/* SIGTERM, then the time until the process is gone; fails unless it
 * exited 0 within 30 s. */
static double sigterm_seconds(pid_t pid) {
    int64_t t0 = ltv_mono_us();
    kill(pid, SIGTERM);
    int rc = h_stage_wait(pid, 60000);
    double s = (double)(ltv_mono_us() - t0) / 1e6;
    if (rc != 0)
        fail_msg("after SIGTERM the stage exited with %d in %.1f s (log %s)", rc, s,
                 h_stage_log(pid));
    if (s >= 30.0)
        fail_msg("the stage took %.1f s to exit after SIGTERM (log %s)", s, h_stage_log(pid));
    return s;
}

static int64_t log_consumed(pid_t pid) {
    char *s = h_slurp(h_stage_log(pid));
    const char *p = s ? strstr(s, "stopped: consumed ") : NULL;
    int64_t v = p ? strtoll(p + strlen("stopped: consumed "), NULL, 10) : -1;
    free(s);
    return v;
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

/* Kafka's committed offsets of group ns equal the next offsets in Redis,
 * partition by partition. */
static void assert_kafka_committed_equals_redis(const char *ns) {
    char tmp[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", H->mock->bootstraps, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "group.id", ns, tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    assert_non_null(rk);
    static const char *const topics[] = {"ltv.purchases", "ltv.visits"};
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * H->partitions);
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < H->partitions; p++)
            rd_kafka_topic_partition_list_add(l, topics[t], p);
    assert_int_equal(rd_kafka_committed(rk, l, 10000), 0);
    for (int i = 0; i < l->cnt; i++) {
        char key[128];
        snprintf(key, sizeof(key), "%s:off:%s:%d", ns, l->elems[i].topic,
                 (int)l->elems[i].partition);
        int64_t redis = h_hget_i64(H, key, "next");
        int64_t kafka = l->elems[i].offset;
        if (redis == INT64_MIN && kafka < 0)
            continue; /* nothing consumed there */
        if (redis != kafka)
            fail_msg("%s [%d]: Kafka's committed offset %lld, Redis's %lld", l->elems[i].topic,
                     (int)l->elems[i].partition, (long long)kafka, (long long)redis);
    }
    rd_kafka_topic_partition_list_destroy(l);
    rd_kafka_destroy(rk);
}

static void sigterm_under_load(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("term"), "batch.max.events=97", NULL};
    pid_t pid = h_stage_start(H, "term", x);
    h_wait_stored(H, "term", total / 3, 120000);
    double s = sigterm_seconds(pid);
    int64_t stored = h_stored_offsets(H, "term");
    print_message("SIGTERM under load: exit 0 after %.2f s, at %lld of %lld offsets\n", s,
                  (long long)stored, (long long)total);
    assert_true(stored < total); /* really mid-stream */
    /* Everything consumed was committed (one instance, no rebalance: each
     * message was consumed once). */
    assert_int_equal(log_consumed(pid), stored);
    assert_int_equal(emitq_len("term"), 0);
    assert_kafka_committed_equals_redis("term");

    h_stage_run_to_end(H, "term", x);
    assert_int_equal(h_stored_offsets(H, "term"), total);
    assert_equals_clean("term");
}

static void sigterm_with_brokers_down(void **state) {
    (void)state;
    static const char *const x[] = {H_X_TOPICS("down"), "batch.max.events=97", NULL};
    pid_t pid = h_stage_start(H, "down", x);
    h_wait_stored(H, "down", total / 3, 120000);
    rd_kafka_mock_broker_set_down(H->mock->mc, -1);
    double s = sigterm_seconds(pid);
    rd_kafka_mock_broker_set_up(H->mock->mc, -1);
    int64_t stored = h_stored_offsets(H, "down");
    print_message("SIGTERM with every broker down: exit 0 after %.2f s, at %lld of %lld "
                  "offsets, %lld batches' rows left queued in Redis\n",
                  s, (long long)stored, (long long)total, (long long)emitq_len("down"));
    assert_true(stored < total);
    /* The batch in progress is committed unless it holds dead letters the
     * brokers could not take: then it cannot be (the offsets must not pass
     * them), and it is read again after the restart. */
    int64_t consumed = log_consumed(pid);
    if (consumed != stored) {
        assert_true(consumed > stored);
        if (!h_log_contains(pid, "stopping with unacknowledged dead letters"))
            fail_msg("consumed %lld, committed %lld, and no batch held by dead letters (log %s)",
                     (long long)consumed, (long long)stored, h_stage_log(pid));
    }

    h_stage_run_to_end(H, "down", x);
    assert_int_equal(h_stored_offsets(H, "down"), total);
    assert_int_equal(emitq_len("down"), 0);
    assert_equals_clean("down");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigterm_under_load),
        cmocka_unit_test(sigterm_with_brokers_down),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
