/*
 * Observability end to end (SPEC §6): the real stage with its HTTP
 * endpoint on a free loopback port, scraped by a minimal HTTP/1.0 client
 * (plain sockets, tests/harness.c) while it runs.
 *
 *   /healthz answers 200 from the start; /readyz turns 200 once the
 *   consumer has partitions and Redis answers.
 *   /metrics counts exactly the events produced (consumed by topic,
 *   applied), every assigned partition's lag drops to 0 once committed,
 *   the watermark and partition positions appear, the latency histograms
 *   are consistent (+Inf bucket = _count).
 *   A message with an unknown Confluent schema id is dead-lettered and
 *   counted under reason="unknown_schema_id".
 *   redis-server stopped: /readyz 503 naming Redis, redis_up 0, while
 *   /healthz stays 200 (waiting for Redis is not being stuck); Redis back:
 *   /readyz 200 again. SIGTERM: exit 0. `ltvstream healthcheck` (the
 *   container HEALTHCHECK) exits 0 or 1 with /healthz and /readyz, and 1
 *   once the stage is gone.
 *
 * Every wait polls with a deadline; nothing sleeps to synchronise.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"
#include "http_get.h"

#define NS "obs"
#define DEADLINE_S 60

static h_env_t *H;
static pid_t stage = -1;
static int port;

static int http_status(const char *path, char **body) { return h_http_status(port, path, body); }
static double sample(const char *text, const char *series) { return h_metric_sample(text, series); }

/* `ltvstream healthcheck` against the stage, as a container HEALTHCHECK
 * runs it: its exit status (0 on 200). flag: NULL or "--ready". */
static int healthcheck(const char *flag) {
    char portx[64];
    snprintf(portx, sizeof(portx), "metrics.port=%d", port);
    pid_t pid = fork();
    if (pid == 0) {
        int fd = open("/dev/null", O_WRONLY);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(LTV_BINARY, LTV_BINARY, "healthcheck", "-X", portx, "-X", "metrics.bind=127.0.0.1",
              flag, (char *)NULL);
        _exit(127);
    }
    int st = 0;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st))
        return -1;
    return WEXITSTATUS(st);
}


/* Number of samples of a family (lines starting "name{"). */
static int count_series(const char *text, const char *name, double *max) {
    int k = 0;
    size_t n = strlen(name);
    *max = -1;
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (strncmp(p, name, n) || p[n] != '{')
            continue;
        const char *v = strchr(p, ' ');
        double x = v ? strtod(v + 1, NULL) : NAN;
        if (x > *max)
            *max = x;
        k++;
    }
    return k;
}

static char *scrape(void) {
    char *body = NULL;
    if (http_status("/metrics", &body) != 200) {
        free(body);
        return NULL;
    }
    return body;
}

static int64_t deadline_us(void) { return ltv_mono_us() + (int64_t)DEADLINE_S * 1000000; }

static void give_up(const char *what, const char *last) {
    fprintf(stderr, "last answer:\n%s\n", last ? last : "(none)");
    fail_msg("timed out waiting for %s (stage logs in %s; LTV_KEEP_TEST_DIR=1 keeps them)",
             what, H->dir);
}

/* Between polls: a stage that died fails the test at once. */
static void poll_pause(void) {
    int st;
    if (stage > 0 && waitpid(stage, &st, WNOHANG) == stage) {
        stage = -1;
        fail_msg("the stage exited (status %d) while the test waited (logs in %s; "
                 "LTV_KEEP_TEST_DIR=1 keeps them)",
                 st, H->dir);
    }
    struct timespec ts = {0, 20 * 1000000L};
    nanosleep(&ts, NULL);
}

/* Polls `path` until it answers `want` (and its body contains `needle`). */
static void wait_status(const char *path, int want, const char *needle) {
    int64_t end = deadline_us();
    char *body = NULL;
    for (;;) {
        free(body);
        body = NULL;
        int s = http_status(path, &body);
        if (s == want && (!needle || (body && strstr(body, needle))))
            break;
        if (ltv_mono_us() > end) {
            char what[128];
            snprintf(what, sizeof(what), "%s to answer %d", path, want);
            give_up(what, body);
        }
        poll_pause();
    }
    free(body);
}

/* Polls /metrics until the sample `series` equals want; returns the scrape. */
static char *wait_sample(const char *series, double want) {
    int64_t end = deadline_us();
    char *text = NULL;
    for (;;) {
        free(text);
        text = scrape();
        if (text && sample(text, series) == want)
            return text;
        if (ltv_mono_us() > end)
            give_up(series, text);
        poll_pause();
    }
}

/* ---- the test -------------------------------------------------------------------- */

static int setup(void **state) {
    (void)state;
    H = h_start(2, 1); /* AOF: Redis keeps its state across the stop below */
    port = ltv_free_port();
    static char portx[64];
    snprintf(portx, sizeof(portx), "metrics.port=%d", port);
    static const char *x[4];
    x[0] = portx;
    x[1] = "metrics.bind=127.0.0.1";
    x[2] = "batch.max.ms=20";
    x[3] = NULL;
    stage = h_stage_start(H, NS, x);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    if (stage > 0) {
        kill(stage, SIGKILL);
        h_stage_wait(stage, 10000);
    }
    h_stop(H);
    return 0;
}

static void endpoints_follow_the_stage(void **state) {
    (void)state;
    /* Alive from the start; ready once assigned (the group join takes a
     * few seconds on the embedded broker). */
    wait_status("/healthz", 200, "ok");
    wait_status("/readyz", 200, "redis up");
    /* The container HEALTHCHECK's command agrees. */
    assert_int_equal(healthcheck(NULL), 0);
    assert_int_equal(healthcheck("--ready"), 0);

    ltv_event_t evs[] = {
        h_order("e1", "c1", "o1", "2025-01-10T10:00:00Z", 1200, "ads", NULL),
        h_order("e2", "c2", "o2", "2025-01-10T11:00:00Z", 800, "seo", NULL),
        h_order("e3", "c3", "o3", "2025-01-11T09:00:00Z", 500, "ads", NULL),
        h_order("e4", "c1", "o4", "2025-01-12T09:00:00Z", 700, "ads", NULL),
        h_order("e5", "c4", "o5", "2025-01-12T10:00:00Z", 300, "mail", NULL),
        h_order("e6", "c5", "o6", "2025-01-13T10:00:00Z", 900, "seo", NULL),
        h_visit("v1", "c1", "vis1", "2025-01-10T09:50:00Z"),
        h_visit("v2", "c2", "vis2", "2025-01-10T10:50:00Z"),
        h_visit("v3", NULL, "vis3", "2025-01-11T08:00:00Z"),
        h_visit("v4", "c6", "vis4", "2025-01-13T12:00:00Z"),
    };
    h_produce(H, evs, 10);

    char *m = wait_sample("ltvstream_events_applied_total", 10);
    assert_true(sample(m, "ltvstream_events_consumed_total{topic=\"ltv.purchases\"}") == 6);
    assert_true(sample(m, "ltvstream_events_consumed_total{topic=\"ltv.visits\"}") == 4);
    assert_true(sample(m, "ltvstream_events_dead_lettered_total{reason=\"unknown_schema_id\"}") ==
                0);
    assert_true(sample(m, "ltvstream_info{version=\"" LTV_VERSION "\"}") == 1);
    assert_true(sample(m, "ltvstream_assigned_partitions") == 4);
    assert_true(sample(m, "ltvstream_redis_up") == 1);
    free(m);

    /* Committed: every partition's lag reaches 0, and the clock shows. */
    int64_t end = deadline_us();
    for (;;) {
        m = scrape();
        double max_lag, max_pos;
        int nlag = m ? count_series(m, "ltvstream_partition_lag", &max_lag) : 0;
        int npos = m ? count_series(m, "ltvstream_partition_position_timestamp_seconds", &max_pos)
                     : 0;
        if (nlag == 4 && max_lag == 0 && npos == 4 &&
            max_pos == (double)h_ts("2025-01-13T12:00:00Z") / 1000 &&
            sample(m, "ltvstream_batches_committed_total") >= 1)
            break;
        if (ltv_mono_us() > end)
            give_up("lag 0 and positions on all 4 partitions", m);
        free(m);
        poll_pause();
    }
    assert_false(isnan(sample(m, "ltvstream_watermark_timestamp_seconds")));
    /* Histograms: at least one batch flushed and loaded; +Inf = count. */
    double n = sample(m, "ltvstream_batch_flush_seconds_count");
    assert_true(n >= 1);
    assert_true(sample(m, "ltvstream_batch_flush_seconds_bucket{le=\"+Inf\"}") == n);
    n = sample(m, "ltvstream_redis_roundtrip_seconds_count{op=\"load\"}");
    assert_true(n >= 1);
    assert_true(sample(m, "ltvstream_redis_roundtrip_seconds_bucket{op=\"load\",le=\"+Inf\"}") ==
                n);
    assert_true(sample(m, "ltvstream_redis_roundtrip_seconds_sum{op=\"load\"}") > 0);
    free(m);

    /* The exposition's content type is the one Prometheus expects. */
    h_http_res_t r = h_http_get(port, "/metrics");
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.headers, "text/plain; version=0.0.4"));
    h_http_free(&r);
    assert_int_equal(http_status("/nope", NULL), 404);

    /* A bad message: Confluent framing, schema id 999 (only 1 and 2 exist). */
    static const unsigned char bad[] = {0x00, 0x00, 0x00, 0x03, 0xE7, 0x02, 'x'};
    h_produce_raw(H, "ltv.purchases", "c1", bad, sizeof(bad));
    m = wait_sample("ltvstream_events_dead_lettered_total{reason=\"unknown_schema_id\"}", 1);
    assert_true(sample(m, "ltvstream_events_consumed_total{topic=\"ltv.purchases\"}") == 7);
    assert_true(sample(m, "ltvstream_events_applied_total") == 10);
    free(m);
    wait_status("/readyz", 200, NULL);

    /* Redis goes away: not ready, but alive. */
    ltv_redis_kill(H->redis, SIGTERM);
    wait_status("/readyz", 503, "redis unreachable");
    assert_int_equal(http_status("/healthz", NULL), 200);
    assert_int_equal(healthcheck("--ready"), 1);
    assert_int_equal(healthcheck(NULL), 0);
    m = wait_sample("ltvstream_redis_up", 0);
    free(m);
    /* Failed reconnection attempts count (the first failure may have been
     * an acknowledgement or a ping). */
    int64_t end2 = deadline_us();
    for (;;) {
        m = scrape();
        if (m && sample(m, "ltvstream_redis_errors_total") >= 2)
            break;
        if (ltv_mono_us() > end2)
            give_up("ltvstream_redis_errors_total >= 2", m);
        free(m);
        poll_pause();
    }
    free(m);

    /* And comes back. */
    char err[256];
    if (ltv_redis_restart(H->redis, 1, err, sizeof(err)))
        fail_msg("redis restart: %s", err);
    wait_status("/readyz", 200, "redis up");

    kill(stage, SIGTERM);
    int rc = h_stage_wait(stage, 30000);
    stage = -1;
    assert_int_equal(rc, 0);
    /* Nothing listens any more: unhealthy, not hanging. */
    assert_int_equal(healthcheck(NULL), 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(endpoints_follow_the_stage, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
