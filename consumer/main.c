/*
 * ltvstream: one binary, several subcommands.
 *
 *   ltvstream run     [-c file] [-X key=value]... [-b brokers]   the stage
 *   ltvstream broker  [-p partitions]                             embedded Kafka broker
 *   ltvstream gen     -b brokers [options]                        event generator
 *   ltvstream backfill --namespace NS [options]                   rebuild a namespace
 *   ltvstream reemit [--namespace NS] [options]                   publish its rows again
 *   ltvstream ns list | drop --namespace NS [options]             namespaces in Redis
 *   ltvstream demo                                                everything, end to end
 *   ltvstream healthcheck [-c file] [--ready]                     probe /healthz or /readyz
 *   ltvstream topics create [-c file] [-b brokers] [options]      create the topics
 *   ltvstream table [-c file] [-b brokers] [--last] <topic>       an output topic as a table
 *   ltvstream -X list                                             configuration keys
 */
#include "cli.h"
#include "conf.h"
#include "decode.h"
#include "gen.h"
#include "log.h"
#include "agg.h"
#include "metrics_http.h"
#include "outschema.h"
#include "stage.h"
#include "tools.h"
#include "topics_admin.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <librdkafka/rdkafka.h>

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

volatile sig_atomic_t *ltv_cli_catch_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    /* A Redis that dies under us must be an error we retry, not the end
     * of the process: hiredis writes to its socket with write(2), which
     * raises SIGPIPE once the server is gone (librdkafka protects its own
     * sockets). Found by tests/it_redis_outage.c. */
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    return &stop_flag;
}

static void usage(FILE *fp) {
    fprintf(fp,
            "ltvstream %s: repeat-purchase metrics (F2, retention mix, RFM) from Kafka, "
            "state in Redis\n\n"
            "Usage: ltvstream <command> [options]\n\n"
            "Commands:\n"
            "  run      run the stage: -c <properties file>, -X key=value, -b <brokers>\n"
            "  broker   start the embedded Kafka-protocol broker (librdkafka mock cluster)\n"
            "  gen      produce synthetic events (ltvstream gen --help)\n"
            "  backfill rebuild a namespace from the input topics between two times, then stop\n"
            "           (ltvstream backfill --help)\n"
            "  customer print what a namespace holds for customers: [-c/-X ...] [--visitor] "
            "<id>...\n"
            "  reemit   publish the current rows of a namespace again, from Redis, e.g. to\n"
            "           rebuild an output topic (ltvstream reemit --help)\n"
            "  ns       list the namespaces in Redis, or drop one (ltvstream ns --help)\n"
            "  demo     embedded broker + private Redis + generator + stage, prints the metrics\n"
            "  schemas  print the Avro schemas of the output topics (-d <dir>: write <row>.avsc)\n"
            "  topics   create the input, dead-letter and (compacted) output topics\n"
            "           (ltvstream topics create --help)\n"
            "  table    print an output topic as a table, newest version per key\n"
            "           (ltvstream table -c <file> | -b <brokers> <topic>)\n"
            "  healthcheck  GET the stage's /healthz (--ready: /readyz) with the same -c/-X;\n"
            "           exit 0 on 200 (a container HEALTHCHECK without curl)\n\n"
            "  -X list  print every configuration key\n"
            "  --version\n",
            LTV_VERSION);
}

/* Parses -c/-X/-b into conf. Returns 0, or 2 after printing the error. */
int ltv_cli_parse_conf(int argc, char **argv, ltv_conf_t *conf) {
    char err[512];
    int c;
    optind = 1;
    while ((c = getopt(argc, argv, "c:X:b:h")) != -1) {
        switch (c) {
        case 'c':
            if (ltv_conf_load_file(conf, optarg, err, sizeof(err)) != LTV_CONF_OK) {
                fprintf(stderr, "ltvstream: %s\n", err);
                return 2;
            }
            break;
        case 'X':
            if (!strcmp(optarg, "list")) {
                ltv_conf_list(stdout);
                exit(0);
            }
            if (ltv_conf_set_pair(conf, optarg, err, sizeof(err)) != LTV_CONF_OK) {
                fprintf(stderr, "ltvstream: %s\n", err);
                return 2;
            }
            break;
        case 'b':
            if (ltv_conf_set(conf, "kafka.bootstrap.servers", optarg, err, sizeof(err))) {
                fprintf(stderr, "ltvstream: %s\n", err);
                return 2;
            }
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "ltvstream: unexpected argument \"%s\"\n", argv[optind]);
        return 2;
    }
    return 0;
}

static int cmd_run(int argc, char **argv) {
    ltv_conf_t *conf = ltv_conf_new();
    int rc = ltv_cli_parse_conf(argc, argv, conf);
    if (rc) {
        ltv_conf_destroy(conf);
        return rc;
    }
    ltv_log_setup((int)conf->log_level, conf->log_json);
    char err[512];
    ltv_stage_t *st = ltv_stage_new(conf, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "ltvstream: %s\n", err);
        ltv_conf_destroy(conf);
        return 2;
    }
    /* The endpoint is up before the stage connects anywhere, so probes get
     * answers (live, not ready) from the start. A port that cannot be bound
     * stops the stage: running unobserved is worse than not starting. */
    ltv_metrics_t *board = NULL;
    ltv_metrics_http_t *http = NULL;
    if (conf->metrics_port) {
        board = ltv_metrics_new(conf->metrics_stall_ms);
        http = ltv_metrics_http_start(conf->metrics_bind, (int)conf->metrics_port, board, err,
                                      sizeof(err));
        if (!http) {
            fprintf(stderr, "ltvstream: %s\n", err);
            ltv_metrics_destroy(board);
            ltv_stage_destroy(st);
            ltv_conf_destroy(conf);
            return 2;
        }
        ltv_stage_set_metrics(st, board);
    }
    rc = ltv_stage_run(st, ltv_cli_catch_signals());
    ltv_stage_stats_t s;
    ltv_stage_stats(st, &s);
    uint64_t dlq = 0;
    for (int i = 0; i < LTV_R__COUNT; i++)
        dlq += s.dlq[i];
    ltv_info("stopped: consumed %llu, applied %llu, duplicates %llu, dead-lettered %llu, "
             "batches %llu, rows emitted %llu",
             (unsigned long long)s.consumed, (unsigned long long)s.applied,
             (unsigned long long)s.duplicates, (unsigned long long)dlq,
             (unsigned long long)s.batches, (unsigned long long)s.rows_emitted);
    if (conf->stats_file[0]) {
        FILE *fp = fopen(conf->stats_file, "w");
        if (fp) {
            double secs = s.first_msg_us && s.last_commit_us > s.first_msg_us
                              ? (double)(s.last_commit_us - s.first_msg_us) / 1e6
                              : 0;
            /* The monotonic times too (one clock for the whole machine):
             * a benchmark running several instances measures from the
             * first instance's first message to the last one's commit. */
            fprintf(fp,
                    "{\"consumed\":%llu,\"applied\":%llu,\"duplicates\":%llu,"
                    "\"dead_lettered\":%llu,\"late\":%llu,\"batches\":%llu,"
                    "\"rows_emitted\":%llu,\"redis_commands\":%llu,\"fenced\":%llu,"
                    "\"redis_errors\":%llu,\"offsets_went_back\":%llu,"
                    "\"schema_registry_retries\":%llu,\"rescored\":%llu,"
                    "\"rescored_max_batch\":%llu,\"batch_events_max\":%llu,"
                    "\"batch_uncached_max\":%llu,\"seconds\":%.6f,"
                    "\"first_msg_mono_us\":%lld,\"last_commit_mono_us\":%lld,"
                    "\"events_per_second\":%.1f,\"phase_seconds\":{\"poll\":%.3f,"
                    "\"fetch\":%.3f,\"complete\":%.3f,\"emit\":%.3f,\"load\":%.3f,\"apply\":%.3f,"
                    "\"commit\":%.3f},",
                    (unsigned long long)s.consumed, (unsigned long long)s.applied,
                    (unsigned long long)s.duplicates, (unsigned long long)dlq,
                    (unsigned long long)s.late, (unsigned long long)s.batches,
                    (unsigned long long)s.rows_emitted, (unsigned long long)s.redis_commands,
                    (unsigned long long)s.fenced, (unsigned long long)s.redis_errors,
                    (unsigned long long)s.offsets_went_back,
                    (unsigned long long)s.registry_retries, (unsigned long long)s.rescored,
                    (unsigned long long)s.rescored_max_batch,
                    (unsigned long long)s.batch_events_max,
                    (unsigned long long)s.batch_uncached_max, secs, (long long)s.first_msg_us,
                    (long long)s.last_commit_us,
                    secs > 0 ? (double)s.consumed / secs : 0.0, (double)s.us_poll / 1e6,
                    (double)s.us_fetch / 1e6,
                    (double)s.us_complete / 1e6, (double)s.us_emit / 1e6, (double)s.us_load / 1e6,
                    (double)s.us_apply / 1e6, (double)s.us_commit / 1e6);
            /* Dead letters by reason: every reason, zeros too, so every
             * file has the same members. */
            fputs("\"dead_lettered_by_reason\":{", fp);
            for (int i = LTV_OK + 1; i < LTV_R__COUNT; i++)
                fprintf(fp, "%s\"%s\":%llu", i > LTV_OK + 1 ? "," : "",
                        ltv_reason_name((ltv_reason_t)i), (unsigned long long)s.dlq[i]);
            /* Lifecycle triggers produced, by type, and those suppressed. */
            fputs("},\"lifecycle_triggers\":{", fp);
            for (int t = 0; t < LTV_TRG__N; t++)
                fprintf(fp, "%s\"%s\":%llu", t ? "," : "", ltv_trigger_name(t),
                        (unsigned long long)s.triggers[t]);
            fprintf(fp, "},\"lifecycle_suppressed\":%llu}\n",
                    (unsigned long long)s.triggers_suppressed);
            fclose(fp);
        } else {
            ltv_err("cannot write %s", conf->stats_file);
        }
    }
    ltv_metrics_http_stop(http);
    ltv_stage_destroy(st);
    ltv_metrics_destroy(board);
    ltv_conf_destroy(conf);
    return rc ? 1 : 0;
}

/* `ltvstream schemas [-X ...] [-d dir]`: the output schemas for the given
 * configuration (horizons and segment names change the fields). */
static int cmd_schemas(int argc, char **argv) {
    const char *dir = NULL;
    char **args = ltv_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (!strcmp(argv[i], "-d") && i + 1 < argc)
            dir = argv[++i];
        else
            args[n++] = argv[i];
    }
    ltv_conf_t *conf = ltv_conf_new();
    int rc = ltv_cli_parse_conf(n, args, conf);
    free(args);
    char err[512];
    ltv_aggs_t *aggs = rc ? NULL : ltv_aggs_new(conf, err, sizeof(err));
    if (!rc && !aggs) {
        fprintf(stderr, "ltvstream: %s\n", err);
        rc = 2;
    }
    if (aggs) {
        ltv_outschema_t *s;
        int k = ltv_outschemas(aggs, conf, &s);
        for (int i = 0; i < k; i++) {
            if (!dir) {
                printf("// topic %s\n%s\n", s[i].topic, s[i].json);
                continue;
            }
            char path[1024];
            snprintf(path, sizeof(path), "%s/%s.avsc", dir, s[i].row_type);
            FILE *fp = fopen(path, "w");
            if (!fp) {
                fprintf(stderr, "ltvstream: cannot write %s\n", path);
                rc = 1;
                continue;
            }
            fputs(s[i].json, fp);
            fclose(fp);
            fprintf(stderr, "wrote %s (topic %s)\n", path, s[i].topic);
        }
        ltv_outschemas_free(s, k);
        ltv_aggs_destroy(aggs);
    }
    ltv_conf_destroy(conf);
    return rc;
}

#ifdef LTV_JEMALLOC
/* jemalloc's options, read when it starts (MALLOC_CONF in the environment
 * is applied after these, so it still wins). Two arenas, as for glibc
 * below, and freed pages returned within a second: with jemalloc's
 * defaults (4 arenas per core, 10 s decay) the worst-case benchmark
 * peaked at 1527 MiB, with these at 1275 MiB, and the realistic one at
 * 726 and 647 MiB, at the same rates (bench/ltvbench). */
const char *malloc_conf = "narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0";
#endif

int main(int argc, char **argv) {
    /* For a build with glibc's malloc (cmake -DLTV_JEMALLOC=OFF; jemalloc
     * ignores this): librdkafka allocates messages on its broker threads
     * and the stage frees them on its own; glibc then gives each thread an
     * arena of its own and memory freed across arenas is rarely returned,
     * so a 2M-event backlog left 3 GiB resident with under 500 MiB in use
     * (bench/ltvbench, worst case; massif for the live heap). Two arenas
     * keep the peak near what is actually used. MALLOC_ARENA_MAX in the
     * environment still wins. */
    if (!getenv("MALLOC_ARENA_MAX"))
        mallopt(M_ARENA_MAX, 2);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
        printf("ltvstream %s (librdkafka %s)\n", LTV_VERSION, rd_kafka_version_str());
        return 0;
    }
    if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(cmd, "-X") && argc > 2 && !strcmp(argv[2], "list")) {
        ltv_conf_list(stdout);
        return 0;
    }
    if (!strcmp(cmd, "run"))
        return cmd_run(argc - 1, argv + 1);
    if (!strcmp(cmd, "customer"))
        return ltv_customer_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "backfill"))
        return ltv_backfill_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "reemit"))
        return ltv_reemit_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "ns"))
        return ltv_ns_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "broker"))
        return ltv_broker_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gen"))
        return ltv_gen_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo"))
        return ltv_demo_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "schemas"))
        return cmd_schemas(argc - 1, argv + 1);
    if (!strcmp(cmd, "table"))
        return ltv_table_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "topics"))
        return ltv_topics_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "healthcheck"))
        return ltv_healthcheck_main(argc - 1, argv + 1);
    fprintf(stderr, "ltvstream: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
