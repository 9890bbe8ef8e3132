/*
 * ltvstream: one binary, several subcommands.
 *
 *   ltvstream run     [-c file] [-X key=value]... [-b brokers]   the stage
 *   ltvstream broker  [-p partitions]                             embedded Kafka broker
 *   ltvstream gen     -b brokers [options]                        event generator
 *   ltvstream demo                                                everything, end to end
 *   ltvstream -X list                                             configuration keys
 */
#include "conf.h"
#include "gen.h"
#include "log.h"
#include "stage.h"
#include "tools.h"

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

static void usage(FILE *fp) {
    fprintf(fp,
            "ltvstream %s: repeat-purchase metrics (F2, retention mix, RFM) from Kafka, "
            "state in Redis\n\n"
            "Usage: ltvstream <command> [options]\n\n"
            "Commands:\n"
            "  run      run the stage: -c <properties file>, -X key=value, -b <brokers>\n"
            "  broker   start the embedded Kafka-protocol broker (librdkafka mock cluster)\n"
            "  gen      produce synthetic events (ltvstream gen --help)\n"
            "  demo     embedded broker + private Redis + generator + stage, prints the metrics\n\n"
            "  -X list  print every configuration key\n"
            "  --version\n",
            LTV_VERSION);
}

/* Parses -c/-X/-b into conf. Returns 0, or 2 after printing the error. */
static int parse_conf(int argc, char **argv, ltv_conf_t *conf) {
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
    int rc = parse_conf(argc, argv, conf);
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
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    rc = ltv_stage_run(st, &stop_flag);
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
    ltv_stage_destroy(st);
    ltv_conf_destroy(conf);
    return rc ? 1 : 0;
}

int main(int argc, char **argv) {
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
    if (!strcmp(cmd, "broker"))
        return ltv_broker_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "gen"))
        return ltv_gen_main(argc - 1, argv + 1);
    if (!strcmp(cmd, "demo"))
        return ltv_demo_main(argc - 1, argv + 1);
    fprintf(stderr, "ltvstream: unknown command \"%s\"\n\n", cmd);
    usage(stderr);
    return 2;
}
