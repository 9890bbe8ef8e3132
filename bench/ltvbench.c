/*
 * ltvbench: how fast is the stage, end to end, on this machine?
 *
 * One run starts the embedded broker (in this process) and a private
 * redis-server (AOF, fsync every second), generates a workload into
 * 64-partition input topics, and then measures, each at least 3 times:
 *
 *   raw consume   a consume-only pass over the same topics with the same
 *                 consumer settings: the ceiling.
 *   stage         `ltvstream run` as a child process in a fresh namespace,
 *                 run.stop.at.end=true; its own clock from the first event
 *                 consumed to the last batch's state and offsets committed
 *                 to Redis, every aggregate emitted (it flushes the producer
 *                 before exiting).
 *
 * With --instances N, N stage processes share the partitions in one
 * consumer group, measured from the first one's first event to the last
 * one's last commit.
 *
 * It reports events/s (min/median/max), stage/raw ratio, Redis commands
 * per event (Redis's own count), CPU seconds per million events (stage
 * process, redis-server, and this process while the stage runs: the
 * embedded broker) and the stage's peak RSS. It checks that every
 * produced event was consumed (the mock broker silently keeps only 5 MiB
 * per partition). The last line is one machine-readable summary.
 */
#include "devenv.h"
#include "gen.h"
#include "rowread.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#define MAXRUNS 9

typedef struct stat3_s {
    double v[MAXRUNS];
    int n;
} stat3_t;

static int dcmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double med(stat3_t *s) {
    double t[MAXRUNS];
    memcpy(t, s->v, sizeof(double) * (size_t)s->n);
    qsort(t, (size_t)s->n, sizeof(double), dcmp);
    return s->n ? t[s->n / 2] : 0;
}
static double smin(stat3_t *s) {
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] < m ? s->v[i] : m;
    return m;
}
static double smax(stat3_t *s) {
    double m = s->n ? s->v[0] : 0;
    for (int i = 1; i < s->n; i++)
        m = s->v[i] > m ? s->v[i] : m;
    return m;
}

/* The raw consume pass prefetches without limit, as the ceiling. The stage
 * runs with its own defaults (stage.c: a prefetch bounded by bytes, which
 * avoids librdkafka 2.0.2's stall, #2879): what a deployment gets. */
static const char *consumer_props[][2] = {
    {"queued.min.messages", "10000000"},
    {"queued.max.messages.kbytes", "2097151"},
    {"fetch.message.max.bytes", "8388608"},
};

static double raw_consume(const char *brokers, int partitions, int64_t expected, int run) {
    char tmp[256], group[64];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", brokers, tmp, sizeof(tmp));
    snprintf(group, sizeof(group), "raw-%d", run);
    rd_kafka_conf_set(kc, "group.id", group, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", tmp, sizeof(tmp));
    for (size_t i = 0; i < sizeof(consumer_props) / sizeof(consumer_props[0]); i++)
        rd_kafka_conf_set(kc, consumer_props[i][0], consumer_props[i][1], tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    rd_kafka_poll_set_consumer(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(2 * partitions);
    for (int p = 0; p < partitions; p++) {
        rd_kafka_topic_partition_list_add(l, "ltv.purchases", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_topic_partition_list_add(l, "ltv.visits", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    }
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int64_t n = 0, t0 = 0, t1 = 0, deadline = ltv_mono_us() + 600 * 1000000LL;
    volatile uint64_t sink = 0;
    while (n < expected && ltv_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 100);
        if (!m)
            continue;
        if (!m->err) {
            if (!n)
                t0 = ltv_mono_us();
            n++;
            sink += m->len; /* touch the message as the stage would */
            t1 = ltv_mono_us();
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (n != expected) {
        fprintf(stderr, "raw consume read %lld of %lld messages: the broker dropped data\n",
                (long long)n, (long long)expected);
        exit(1);
    }
    (void)sink;
    return (double)n / ((double)(t1 - t0) / 1e6);
}

static int redis_info_i64(redisContext *rc, const char *section, const char *field,
                          double *out) {
    redisReply *r = redisCommand(rc, "INFO %s", section);
    if (!r || r->type != REDIS_REPLY_STRING) {
        if (r)
            freeReplyObject(r);
        return -1;
    }
    char pat[64];
    snprintf(pat, sizeof(pat), "%s:", field);
    const char *p = strstr(r->str, pat);
    *out = p ? strtod(p + strlen(pat), NULL) : 0;
    freeReplyObject(r);
    return 0;
}

typedef struct stage_run_s {
    double eps, seconds, cpu, redis_cpu, broker_cpu, cmds_per_event, rss_mib;
    long long consumed;
} stage_run_t;

/* How many stage processes one measurement runs, in one consumer group
 * and namespace (--instances): they share the partitions as a deployment's
 * replicas do, and the measurement spans the first instance's first event
 * to the last instance's last commit. */
static int bench_instances = 1;

#define MAXINST 8

static int run_stage(const char *binary, const char *brokers, int port, int run,
                     const char *const *extra, redisContext *rc, int64_t expected, int partitions,
                     stage_run_t *out) {
    char ns[32], statsf[MAXINST][64], portx[32], nsx[64], groupx[64], statsx[MAXINST][96],
        metricsx[MAXINST][32];
    int ninst = bench_instances;
    snprintf(ns, sizeof(ns), "b%d", run);
    snprintf(portx, sizeof(portx), "redis.port=%d", port);
    snprintf(nsx, sizeof(nsx), "namespace=%s", ns);
    snprintf(groupx, sizeof(groupx), "kafka.group.id=%s", ns);

    double cmd0, cmd1, cu0, cs0, cu1, cs1;
    redis_info_i64(rc, "stats", "total_commands_processed", &cmd0);
    redis_info_i64(rc, "cpu", "used_cpu_user", &cu0);
    redis_info_i64(rc, "cpu", "used_cpu_sys", &cs0);
    /* While the stage runs, this process only runs the embedded broker: its
     * CPU is the broker's share of the two cores. */
    struct rusage self0, self1;
    getrusage(RUSAGE_SELF, &self0);
    pid_t pids[MAXINST];
    for (int k = 0; k < ninst; k++) {
        snprintf(statsf[k], sizeof(statsf[k]), "/tmp/ltvbench-%d-%d-%d.json", (int)getpid(), run,
                 k);
        snprintf(statsx[k], sizeof(statsx[k]), "run.stats.file=%s", statsf[k]);
        /* Metrics on, as deployed, but on a free port: other processes on
         * the machine may hold the default one. */
        snprintf(metricsx[k], sizeof(metricsx[k]), "metrics.port=%d", ltv_free_port());
        const char *argv[80];
        int n = 0;
        argv[n++] = binary;
        argv[n++] = "run";
        argv[n++] = "-b";
        argv[n++] = brokers;
        const char *fixed[] = {portx,         nsx,
                               groupx,        statsx[k],
                               metricsx[k],   "metrics.bind=127.0.0.1",
                               "run.stop.at.end=true", "log.level=4",
                               "kafka.log_level=3", NULL};
        for (int i = 0; fixed[i]; i++) {
            argv[n++] = "-X";
            argv[n++] = fixed[i];
        }
        for (int i = 0; extra && extra[i] && n < 76; i++) {
            argv[n++] = "-X";
            argv[n++] = extra[i];
        }
        argv[n] = NULL;
        pids[k] = fork();
        if (pids[k] == 0) {
            execv(binary, (char *const *)argv);
            _exit(127);
        }
        if (pids[k] < 0)
            fprintf(stderr, "fork: %s\n", strerror(errno));
    }
    int failed = 0;
    memset(out, 0, sizeof(*out));
    for (int k = 0; k < ninst; k++) {
        int status = 0;
        struct rusage ru;
        if (pids[k] < 0 || wait4(pids[k], &status, 0, &ru) != pids[k] || !WIFEXITED(status) ||
            WEXITSTATUS(status)) {
            fprintf(stderr, "stage run %d instance %d failed (status %d)\n", run, k + 1, status);
            failed = 1;
            continue;
        }
        out->cpu += (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
        if ((double)ru.ru_maxrss / 1024.0 > out->rss_mib)
            out->rss_mib = (double)ru.ru_maxrss / 1024.0; /* the largest instance's */
    }
    if (failed)
        goto err;
    redis_info_i64(rc, "stats", "total_commands_processed", &cmd1);
    redis_info_i64(rc, "cpu", "used_cpu_user", &cu1);
    redis_info_i64(rc, "cpu", "used_cpu_sys", &cs1);
    getrusage(RUSAGE_SELF, &self1);

    long long first = 0, last = 0;
    for (int k = 0; k < ninst; k++) {
        FILE *fp = fopen(statsf[k], "r");
        char buf[8192] = "";
        if (!fp || !fgets(buf, sizeof(buf), fp)) {
            fprintf(stderr, "stage run %d instance %d wrote no stats\n", run, k + 1);
            if (fp)
                fclose(fp);
            goto err;
        }
        fclose(fp);
        const char *ph = strstr(buf, "\"phase_seconds\"");
        if (ph && getenv("LTVBENCH_PHASES"))
            printf("  stage phases: %.*s\n", (int)strcspn(ph, "}") + 1, ph);
        if (getenv("LTVBENCH_STATS")) /* the stage's whole run.stats.file */
            printf("  stage stats: %s", buf);
        out->consumed += ltv_json_field_i64(buf, "consumed");
        long long f = ltv_json_field_i64(buf, "first_msg_mono_us"), l = ltv_json_field_i64(buf, "last_commit_mono_us");
        if (f && (!first || f < first))
            first = f;
        if (l > last)
            last = l;
    }
    out->seconds = first && last > first ? (double)(last - first) / 1e6 : 0;
    /* One instance consumes every event once. Several may read some twice:
     * a partition handed over in a rebalance is read again from its last
     * committed offset (the transaction fences the duplicate write). */
    if (ninst == 1 ? out->consumed != expected : out->consumed < expected) {
        fprintf(stderr, "stage consumed %lld of %lld events\n", out->consumed, (long long)expected);
        goto err;
    }
    /* And what Redis holds: the next offsets stored for every input
     * partition add up to every event produced (re-reads after a
     * rebalance could otherwise hide events the broker dropped). */
    long long stored = 0;
    static const char *const inputs[] = {"ltv.purchases", "ltv.visits"};
    for (int t = 0; t < 2; t++) {
        for (int p = 0; p < partitions; p++) {
            redisReply *r = redisCommand(rc, "HGET %s:off:%s:%d next", ns, inputs[t], p);
            if (r && r->type == REDIS_REPLY_STRING)
                stored += atoll(r->str);
            if (r)
                freeReplyObject(r);
        }
    }
    if (stored != expected) {
        fprintf(stderr, "stage stored offsets for %lld of %lld events\n", stored,
                (long long)expected);
        goto err;
    }
    if (ninst > 1)
        printf("  %d instances consumed %lld messages for %lld events\n", ninst, out->consumed,
               (long long)expected);
    out->eps = out->seconds > 0 ? (double)expected / out->seconds : 0;
    out->redis_cpu = (cu1 - cu0) + (cs1 - cs0);
    out->broker_cpu = (double)(self1.ru_utime.tv_sec - self0.ru_utime.tv_sec) +
                      (double)(self1.ru_stime.tv_sec - self0.ru_stime.tv_sec) +
                      (double)(self1.ru_utime.tv_usec - self0.ru_utime.tv_usec) / 1e6 +
                      (double)(self1.ru_stime.tv_usec - self0.ru_stime.tv_usec) / 1e6;
    out->cmds_per_event = (cmd1 - cmd0) / (double)expected;
    if (getenv("LTVBENCH_COMMANDSTATS")) {
        /* Where Redis's time goes, per command (including those run by scripts). */
        redisReply *cs = redisCommand(rc, "INFO commandstats");
        if (cs && cs->type == REDIS_REPLY_STRING)
            printf("%s\n", cs->str);
        if (cs)
            freeReplyObject(cs);
    }
    redisReply *r = redisCommand(rc, "CONFIG RESETSTAT");
    if (r)
        freeReplyObject(r);
    r = redisCommand(rc, "FLUSHALL");
    if (r)
        freeReplyObject(r);
    for (int k = 0; k < ninst; k++)
        unlink(statsf[k]);
    return 0;

err:
    for (int k = 0; k < ninst; k++)
        unlink(statsf[k]);
    return -1;
}

typedef struct result_s {
    const char *name;
    int64_t customers, events;
    int partitions;
    stat3_t raw, eps, cpu_per_m, redis_cpu_per_m, broker_cpu_per_m, cmds, rss;
} result_t;

/* The span of event time the workload covers. Recency decay re-scores a
 * customer each time the clock crosses one of its R edges, so that work grows
 * with calendar days crossed, not with events: a year compressed into a few
 * seconds (a backfill) does a year of ticks. */
static int bench_days = 365;

static int workload(const char *binary, const char *name, int worst, int64_t customers,
                    int64_t events, int partitions, int runs, const char *const *extra,
                    result_t *res) {
    char err[512];
    memset(res, 0, sizeof(*res));
    res->name = name;
    res->customers = customers;
    res->partitions = partitions;
    ltv_mock_t *mock = ltv_mock_start(1, err, sizeof(err));
    if (!mock) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    ltv_mock_topic(mock, "ltv.purchases", partitions);
    ltv_mock_topic(mock, "ltv.visits", partitions);
    ltv_redis_t *redis = ltv_redis_start(NULL, 0, 1, err, sizeof(err));
    if (!redis) {
        fprintf(stderr, "%s\n", err);
        ltv_mock_stop(mock);
        return -1;
    }
    char sdir[] = "/tmp/ltvbench-schemas-XXXXXX";
    if (!mkdtemp(sdir))
        return -1;
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    o.brokers = mock->bootstraps;
    o.customers = customers;
    o.events = events;
    o.worst_case = worst;
    o.bad_rate = 0;
    o.quiet = 1;
    o.schema_dir = sdir;
    o.days = bench_days;
    ltv_gen_stats_t gs;
    int64_t g0 = ltv_mono_us();
    if (ltv_gen_run(&o, &gs, err, sizeof(err))) {
        fprintf(stderr, "gen: %s\n", err);
        return -1;
    }
    res->events = gs.total;
    printf("\n== %s: %lld events (%lld purchases, %lld visits, %lld duplicates, %lld late) over "
           "%lld customers and %d days, %d partitions per topic (generated in %.1f s)\n",
           name, (long long)gs.total, (long long)gs.purchases, (long long)gs.visits,
           (long long)gs.duplicates, (long long)gs.late, (long long)customers, bench_days,
           partitions,
           (double)(ltv_mono_us() - g0) / 1e6);
    fflush(stdout);

    for (int r = 0; r < runs; r++)
        res->raw.v[res->raw.n++] = raw_consume(mock->bootstraps, partitions, gs.total, r);
    struct timeval tv = {10, 0};
    redisContext *rc = redisConnectWithTimeout("127.0.0.1", redis->port, tv);
    char sdx[300];
    snprintf(sdx, sizeof(sdx), "schema.dir=%s", sdir);
    const char *x[40];
    int nx = 0;
    x[nx++] = sdx;
    for (int i = 0; extra && extra[i] && nx < 38; i++)
        x[nx++] = extra[i];
    x[nx] = NULL;
    int rc_ = 0;
    for (int r = 0; r < runs; r++) {
        stage_run_t sr;
        if (run_stage(binary, mock->bootstraps, redis->port, r, x, rc, gs.total, partitions,
                      &sr)) {
            rc_ = -1;
            break;
        }
        res->eps.v[res->eps.n++] = sr.eps;
        res->cpu_per_m.v[res->cpu_per_m.n++] = sr.cpu / ((double)gs.total / 1e6);
        res->redis_cpu_per_m.v[res->redis_cpu_per_m.n++] = sr.redis_cpu / ((double)gs.total / 1e6);
        res->broker_cpu_per_m.v[res->broker_cpu_per_m.n++] =
            sr.broker_cpu / ((double)gs.total / 1e6);
        res->cmds.v[res->cmds.n++] = sr.cmds_per_event;
        res->rss.v[res->rss.n++] = sr.rss_mib;
        printf("  run %d: raw %.0f msgs/s, stage %.0f events/s in %.2f s, %.3f Redis "
               "commands/event, CPU %.2f s (stage) + %.2f s (redis) + %.2f s (broker), peak RSS "
               "%.0f MiB\n",
               r + 1, res->raw.v[r], sr.eps, sr.seconds, sr.cmds_per_event, sr.cpu,
               sr.redis_cpu, sr.broker_cpu, sr.rss_mib);
        fflush(stdout);
    }
    redisFree(rc);
    ltv_redis_stop(redis);
    ltv_mock_stop(mock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", sdir);
    if (system(cmd)) {
    }
    if (rc_)
        return -1;
    printf("  raw consume      min %9.0f  median %9.0f  max %9.0f msgs/s\n", smin(&res->raw),
           med(&res->raw), smax(&res->raw));
    printf("  stage            min %9.0f  median %9.0f  max %9.0f events/s\n", smin(&res->eps),
           med(&res->eps), smax(&res->eps));
    printf("  stage / raw      median %.3f\n", med(&res->eps) / med(&res->raw));
    printf("  Redis commands/event median %.3f; CPU s per million events: stage %.2f, redis "
           "%.2f, broker %.2f; stage peak RSS median %.0f MiB\n",
           med(&res->cmds), med(&res->cpu_per_m), med(&res->redis_cpu_per_m),
           med(&res->broker_cpu_per_m), med(&res->rss));
    fflush(stdout);
    return 0;
}

static void json_result(ltv_buf_t *b, result_t *r) {
    ltv_buf_printf(b,
                   "{\"workload\":\"%s\",\"customers\":%lld,\"events\":%lld,\"days\":%d,"
                   "\"partitions\":%d,\"instances\":%d,"
                   "\"raw_msgs_per_s\":{\"min\":%.0f,\"median\":%.0f,\"max\":%.0f},"
                   "\"stage_events_per_s\":{\"min\":%.0f,\"median\":%.0f,\"max\":%.0f},"
                   "\"ratio\":%.3f,\"redis_commands_per_event\":%.3f,"
                   "\"cpu_s_per_million\":{\"stage\":%.2f,\"redis\":%.2f,\"broker\":%.2f},"
                   "\"peak_rss_mib\":%.0f}",
                   r->name, (long long)r->customers, (long long)r->events, bench_days, r->partitions,
                   bench_instances, smin(&r->raw),
                   med(&r->raw), smax(&r->raw), smin(&r->eps), med(&r->eps), smax(&r->eps),
                   med(&r->eps) / med(&r->raw), med(&r->cmds), med(&r->cpu_per_m),
                   med(&r->redis_cpu_per_m), med(&r->broker_cpu_per_m), med(&r->rss));
}

int main(int argc, char **argv) {
    const char *binary = LTV_BINARY;
    int runs = 3, partitions = 64, scaling = 0;
    int64_t events = 2000000, customers = 1000000;
    const char *only = NULL;
    const char *extra[32];
    int nextra = 0;
    static const struct option lo[] = {{"runs", 1, 0, 'r'},     {"events", 1, 0, 'e'},
                                       {"customers", 1, 0, 'c'}, {"partitions", 1, 0, 'p'},
                                       {"workload", 1, 0, 'w'},  {"scaling", 0, 0, 's'},
                                       {"binary", 1, 0, 'b'},    {"help", 0, 0, 'h'},
                                       {"days", 1, 0, 'd'},      {"instances", 1, 0, 'i'},
                                       {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "X:h", lo, NULL)) != -1) {
        switch (c) {
        case 'r': runs = atoi(optarg); break;
        case 'e': events = atoll(optarg); break;
        case 'c': customers = atoll(optarg); break;
        case 'p': partitions = atoi(optarg); break;
        case 'w': only = optarg; break;
        case 's': scaling = 1; break;
        case 'b': binary = optarg; break;
        case 'd': bench_days = atoi(optarg) > 0 ? atoi(optarg) : 365; break;
        case 'i':
            bench_instances = atoi(optarg);
            if (bench_instances < 1 || bench_instances > MAXINST) {
                fprintf(stderr, "--instances: 1 to %d\n", MAXINST);
                return 2;
            }
            break;
        case 'X':
            if (nextra < 30)
                extra[nextra++] = optarg;
            break;
        default:
            fprintf(stderr,
                    "Usage: ltvbench [--workload realistic|worst] [--events N] [--customers N] "
                    "[--runs N] [--partitions N] [--days N] [--instances N] [--scaling] "
                    "[-X stage.key=value]...\n");
            return c == 'h' ? 0 : 2;
        }
    }
    extra[nextra] = NULL;
    if (runs < 1 || runs > MAXRUNS)
        runs = 3;
    signal(SIGPIPE, SIG_IGN);
    printf("ltvbench: %d runs per measurement, %d stage instance%s; machine: %ld cores\n", runs,
           bench_instances, bench_instances > 1 ? "s" : "", sysconf(_SC_NPROCESSORS_ONLN));
    result_t res[8];
    int nres = 0;
    if (!only || !strcmp(only, "realistic")) {
        if (workload(binary, "realistic", 0, customers, events, partitions, runs, extra,
                     &res[nres]) == 0)
            nres++;
        else
            return 1;
    }
    if (!only || !strcmp(only, "worst")) {
        if (workload(binary, "worst", 1, events, events, partitions, runs, extra, &res[nres]) == 0)
            nres++;
        else
            return 1;
    }
    if (scaling) {
        int64_t sizes[] = {100000, 1000000, 5000000};
        for (int i = 0; i < 3; i++) {
            char *nm = ltv_malloc(32);
            snprintf(nm, 32, "realistic-%lldk", (long long)(sizes[i] / 1000));
            if (workload(binary, nm, 0, sizes[i], events, partitions, runs, extra, &res[nres]) == 0)
                nres++;
        }
    }
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_puts(&b, "BENCH {\"results\":[");
    for (int i = 0; i < nres; i++) {
        if (i)
            ltv_buf_putc(&b, ',');
        json_result(&b, &res[i]);
    }
    ltv_buf_puts(&b, "]}");
    printf("\n%s\n", b.p);
    ltv_buf_free(&b);
    return 0;
}
