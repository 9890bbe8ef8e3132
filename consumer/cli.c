/*
 * Command-line pieces shared by the subcommands that take their own long
 * options next to the stage's -c/-X/-b (backfill, reemit, ns).
 */
#include "cli.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int split(const char *cmd, int argc, char **argv, const ltv_cli_opt_t *opts,
                 void (*usage)(FILE *), char **rest, int *nrest) {
    *nrest = 0;
    rest[(*nrest)++] = argv[0];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const ltv_cli_opt_t *o = opts;
        while (o->name && strcmp(o->name, a))
            o++;
        if (o->name && o->value) {
            if (i + 1 >= argc) {
                fprintf(stderr, "ltvstream %s: %s needs a value\n", cmd, a);
                return 2;
            }
            *o->value = argv[++i];
        } else if (o->name) {
            *o->flag = o->set;
        } else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            exit(0);
        } else if (!strncmp(a, "--", 2)) {
            fprintf(stderr, "ltvstream %s: unknown option %s\n", cmd, a);
            return 2;
        } else {
            rest[(*nrest)++] = argv[i];
        }
    }
    rest[*nrest] = NULL;
    return 0;
}

int ltv_cli_parse(const char *cmd, int argc, char **argv, const ltv_cli_opt_t *opts,
                  void (*usage)(FILE *), ltv_conf_t *conf) {
    char **rest = ltv_calloc((size_t)argc + 1, sizeof(char *));
    int nrest, rc = split(cmd, argc, argv, opts, usage, rest, &nrest);
    if (!rc)
        rc = ltv_cli_parse_conf(nrest, rest, conf);
    free(rest);
    return rc;
}

int ltv_cli_int(const char *cmd, const char *opt, const char *val, long long lo, long long hi,
                long long dflt, long long *out) {
    char *end;
    *out = val ? strtoll(val, &end, 10) : dflt;
    if (val && (end == val || *end || *out < lo || *out > hi)) {
        fprintf(stderr, "ltvstream %s: %s takes an integer from %lld to %lld\n", cmd, opt, lo,
                hi);
        return 2;
    }
    return 0;
}

int ltv_cli_set(const char *cmd, ltv_conf_t *conf, const char *key, const char *val) {
    char err[512];
    if (ltv_conf_set(conf, key, val, err, sizeof(err)) != LTV_CONF_OK) {
        fprintf(stderr, "ltvstream %s: %s\n", cmd, err);
        return 2;
    }
    return 0;
}

int ltv_cli_output_prefix(const char *cmd, ltv_conf_t *conf, const char *prefix) {
    if (!prefix || !*prefix)
        return 0;
    struct {
        const char *key, *cur;
    } topics[] = {{"topic.f2_rate", conf->topic_f2_rate},
                  {"topic.f2_rolling", conf->topic_f2_rolling},
                  {"topic.retention_mix", conf->topic_retention_mix},
                  {"topic.customer_rfm", conf->topic_customer_rfm},
                  {"topic.rfm_segments", conf->topic_rfm_segments},
                  {"topic.lifecycle", conf->topic_lifecycle},
                  {"topic.acquisition", conf->topic_acquisition},
                  {"topic.dlq", conf->topic_dlq}};
    for (size_t i = 0; i < sizeof(topics) / sizeof(topics[0]); i++) {
        char v[512];
        if (!topics[i].cur[0])
            continue; /* turned off: a prefix must not turn it on as "P" */
        snprintf(v, sizeof(v), "%s%s", prefix, topics[i].cur);
        int rc = ltv_cli_set(cmd, conf, topics[i].key, v);
        if (rc)
            return rc;
    }
    return 0;
}
