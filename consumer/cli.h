/*
 * The command line shared by the subcommands that run the stage.
 */
#ifndef LTV_CLI_H
#define LTV_CLI_H

#include <signal.h>
#include <stdio.h>

#include "conf.h"

/* Parses -c <file>, -X key=value and -b <brokers> into conf (optind reset).
 * Returns 0, or 2 after printing the error. -X list and -h print and exit. */
int ltv_cli_parse_conf(int argc, char **argv, ltv_conf_t *conf);

/* SIGINT/SIGTERM set the returned flag (the stage's stop flag); SIGPIPE is
 * ignored. For the subcommands that run the stage. */
volatile sig_atomic_t *ltv_cli_catch_signals(void);

/* A subcommand's own long option: one taking a value (stored in *value)
 * or a flag (*flag = set). Arrays end with a {NULL} entry. */
typedef struct ltv_cli_opt_s {
    const char *name; /* "--namespace" */
    const char **value;
    int *flag;
    int set;
} ltv_cli_opt_t;

/* Parses a subcommand's arguments (argv[0] the subcommand): the options of
 * `opts`, then -c/-X/-b and nothing else into conf (ltv_cli_parse_conf).
 * --help/-h prints usage and exits. Returns 0, or 2 after printing the
 * error. */
int ltv_cli_parse(const char *cmd, int argc, char **argv, const ltv_cli_opt_t *opts,
                  void (*usage)(FILE *), ltv_conf_t *conf);

/* The integer value of option opt (dflt when val is NULL) into *out, which
 * must lie in [lo, hi]: 0, or 2 after printing the error. */
int ltv_cli_int(const char *cmd, const char *opt, const char *val, long long lo, long long hi,
                long long dflt, long long *out);

/* ltv_conf_set, printing the error as `ltvstream <cmd>: ...`: 0 or 2. */
int ltv_cli_set(const char *cmd, ltv_conf_t *conf, const char *key, const char *val);

/* --output-prefix P: every output topic (and the dead-letter topic)
 * becomes P<topic>. 0, or 2 after printing the error. */
int ltv_cli_output_prefix(const char *cmd, ltv_conf_t *conf, const char *prefix);

/* `ltvstream backfill ...` (consumer/backfill.c). */
int ltv_backfill_main(int argc, char **argv);
/* `ltvstream reemit ...` (consumer/reemit.c). */
int ltv_reemit_main(int argc, char **argv);
/* `ltvstream ns list|drop ...` (consumer/ns_admin.c). */
int ltv_ns_main(int argc, char **argv);

/* `ltvstream customer ...` (consumer/inspect.c). */
int ltv_customer_main(int argc, char **argv);

/* `ltvstream healthcheck ...` (consumer/healthcheck.c), and the address it
 * probes for a given metrics.bind. */
int ltv_healthcheck_main(int argc, char **argv);
const char *ltv_healthcheck_host(const char *bind);

#endif
