/*
 * `ltvstream topics create ...`: the command line of consumer/topics_admin.c
 * (a file of its own, so the unit tests link the admin code without the
 * command-line parser of the binary).
 */
#include "cli.h"
#include "topics_admin.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *fp) {
    fprintf(fp,
            "Usage: ltvstream topics create [-c file] [-X key=value]... [-b brokers]\n"
            "           [--partitions N] [--output-partitions N] [--replication-factor R]\n"
            "           [--input-retention-ms MS] [--timeout-ms MS] [--dry-run]\n"
            "Creates the topics of the configuration that do not exist yet:\n"
            "  input topics (topic.purchases, topic.visits): --partitions (12), cleanup.policy=delete\n"
            "    (retention.ms=--input-retention-ms, else the broker's default)\n"
            "  dead letters (topic.dlq): --output-partitions (3), delete, retention 14 days\n"
            "  outputs (topic.f2_rate, ...): --output-partitions (3), cleanup.policy=compact,\n"
            "    segment.ms=1h, min.compaction.lag.ms=1h, delete.retention.ms=1d\n"
            "Replication factor: --replication-factor, else min(3, brokers). Existing topics are\n"
            "left as they are; exits 0 when every topic exists and the input topics have equal\n"
            "partition counts (co-partitioned), 1 otherwise. --dry-run prints the plan only.\n");
}

int ltv_topics_main(int argc, char **argv) {
    if (argc < 2 || strcmp(argv[1], "create")) {
        usage(argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? stdout
                                                                                   : stderr);
        return argc >= 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) ? 0 : 2;
    }
    ltv_topics_opts_t o;
    ltv_topics_opts_defaults(&o);
    /* Our long options are taken out; -c/-X/-b go to the stage's parser,
     * so a deployment's properties file names the topics and the
     * cluster's security settings once for both. */
    char **args = ltv_calloc((size_t)argc, sizeof(char *));
    int n = 0;
    args[n++] = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *num = !strcmp(a, "--partitions")           ? &o.partitions
                   : !strcmp(a, "--output-partitions")  ? &o.output_partitions
                   : !strcmp(a, "--replication-factor") ? &o.replication_factor
                   : !strcmp(a, "--timeout-ms")         ? &o.timeout_ms
                                                        : NULL;
        if (num || !strcmp(a, "--input-retention-ms")) {
            char *end = NULL;
            long long x = v ? strtoll(v, &end, 10) : 0;
            if (!v || !*v || *end || x < (num ? 1 : -1) || x > 1000000000000LL ||
                (num && x > 1000000)) {
                fprintf(stderr, "ltvstream topics: %s needs %s\n", a,
                        num ? "a positive integer" : "milliseconds (-1: forever)");
                free(args);
                return 2;
            }
            if (num)
                *num = (int)x;
            else
                o.input_retention_ms = v;
            i++;
        } else if (!strcmp(a, "--dry-run")) {
            o.dry_run = 1;
        } else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            free(args);
            return 0;
        } else {
            args[n++] = argv[i];
        }
    }
    ltv_conf_t *conf = ltv_conf_new();
    int rc = ltv_cli_parse_conf(n, args, conf);
    free(args);
    if (!rc)
        rc = ltv_topics_create(conf, &o);
    ltv_conf_destroy(conf);
    return rc;
}
