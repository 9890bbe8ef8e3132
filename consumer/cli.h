/*
 * The command line shared by the subcommands that run the stage.
 */
#ifndef LTV_CLI_H
#define LTV_CLI_H

#include <signal.h>

#include "conf.h"

/* Parses -c <file>, -X key=value and -b <brokers> into conf (optind reset).
 * Returns 0, or 2 after printing the error. -X list and -h print and exit. */
int ltv_cli_parse_conf(int argc, char **argv, ltv_conf_t *conf);

/* SIGINT/SIGTERM set the returned flag (the stage's stop flag); SIGPIPE is
 * ignored. For the subcommands that run the stage. */
volatile sig_atomic_t *ltv_cli_catch_signals(void);

/* `ltvstream backfill ...` (consumer/backfill.c). */
int ltv_backfill_main(int argc, char **argv);

/* `ltvstream customer ...` (consumer/inspect.c). */
int ltv_customer_main(int argc, char **argv);

/* `ltvstream healthcheck ...` (consumer/healthcheck.c), and the address it
 * probes for a given metrics.bind. */
int ltv_healthcheck_main(int argc, char **argv);
const char *ltv_healthcheck_host(const char *bind);

#endif
