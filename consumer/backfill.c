/*
 * `ltvstream backfill`: the stage over a bounded stretch of the input topics,
 * into a namespace of its own, stopping by itself when done.
 *
 * A backfill is not a different program: it is the same run loop with a
 * start (run.start.ms), an end (run.stop.at.end, run.stop.at.ms) pinned in
 * Redis on first assignment (run.stop.pin), and its own consumer group.
 * Because it is the same code over the same events, its state and rows
 * equal a live run's, and because its offsets are in Redis like a live
 * run's, the live stage started on the same namespace afterwards continues
 * exactly where the backfill stopped (the cutover).
 */
#include "cli.h"
#include "log.h"
#include "stage.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void bf_usage(FILE *fp) {
    fprintf(fp,
            "Usage: ltvstream backfill --namespace NS [--from WHEN] [--to WHEN]\n"
            "                          [--output-prefix P] [--group G] [--lifecycle]\n"
            "                          [--no-progress]\n"
            "                          [-c file] [-X key=value]... [-b brokers]\n\n"
            "Rebuilds namespace NS in Redis from the input topics and stops by itself.\n"
            "  --from WHEN   start of partitions NS has not seen yet: 'beginning' (default),\n"
            "                ms since the epoch, YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS][zone]\n"
            "                (no zone: tz.offset); by Kafka message timestamp\n"
            "  --to WHEN     'end' (default: the end offsets when the backfill first starts),\n"
            "                or a time as above: messages before it are included\n"
            "  --output-prefix P  publish rows to P<topic> (e.g. backfill. -> backfill.ltv.f2_rate)\n"
            "  --lifecycle   produce the lifecycle triggers history fires (default: they are\n"
            "                recorded as fired in NS, not produced: rebuilding a namespace\n"
            "                must not message customers again)\n"
            "  --group G     consumer group (default ltvstream-backfill-NS)\n"
            "  --no-progress no progress line on stderr\n"
            "End offsets are pinned in Redis the first time, so an interrupted backfill is\n"
            "resumed by running the same command again. Afterwards `ltvstream run` with\n"
            "-X namespace=NS continues live from exactly where the backfill stopped.\n");
}

typedef struct bf_s {
    const char *ns;
    int64_t t0_us;
    int tty;
    int shown;
} bf_t;

static void fmt_eta(double secs, char *out, size_t n) {
    if (secs < 0 || secs > 360000) {
        snprintf(out, n, "--:--");
        return;
    }
    long s = (long)(secs + 0.5);
    if (s >= 3600)
        snprintf(out, n, "%ld:%02ld:%02ld", s / 3600, s / 60 % 60, s % 60);
    else
        snprintf(out, n, "%ld:%02ld", s / 60, s % 60);
}

/* One progress report: in place on a terminal, a plain line otherwise (a
 * log collector gets lines, not carriage returns). */
static void bf_progress(ltv_stage_t *st, void *opaque) {
    bf_t *bf = opaque;
    ltv_stage_stats_t s;
    ltv_stage_stats(st, &s);
    int64_t done, total;
    ltv_stage_progress(st, &done, &total);
    double secs = (double)(ltv_mono_us() - bf->t0_us) / 1e6;
    double rate = secs > 0 ? (double)s.consumed / secs : 0;
    double frac = total > 0 ? (double)done / (double)total : 0;
    char eta[32];
    double orate = secs > 0 ? (double)done / secs : 0;
    fmt_eta(orate > 0 ? (double)(total - done) / orate : -1, eta, sizeof(eta));
    fprintf(stderr, "%sbackfill %s: %llu events, %.0f events/s, %5.1f%% of offsets, ETA %s%s",
            bf->tty ? "\r" : "", bf->ns, (unsigned long long)s.consumed, rate, 100.0 * frac, eta,
            bf->tty ? "   " : "\n");
    fflush(stderr);
    bf->shown = 1;
}

typedef struct bf_opts_s {
    const char *ns, *from, *to, *prefix, *group;
    int progress;
    int lifecycle;
} bf_opts_t;

/* Our long options, then the -c/-X/-b ones the stage parses. */
static int bf_args(int argc, char **argv, bf_opts_t *o, ltv_conf_t *conf) {
    const ltv_cli_opt_t opts[] = {{"--namespace", &o->ns, NULL, 0},
                                  {"--from", &o->from, NULL, 0},
                                  {"--to", &o->to, NULL, 0},
                                  {"--output-prefix", &o->prefix, NULL, 0},
                                  {"--group", &o->group, NULL, 0},
                                  {"--no-progress", NULL, &o->progress, 0},
                                  {"--lifecycle", NULL, &o->lifecycle, 1},
                                  {NULL, NULL, NULL, 0}};
    int rc = ltv_cli_parse("backfill", argc, argv, opts, bf_usage, conf);
    if (rc)
        return rc;
    if (!o->ns || !*o->ns) {
        fprintf(stderr, "ltvstream backfill: --namespace is required (a backfill never writes "
                        "into a namespace by default)\n");
        return 2;
    }
    return 0;
}

static int bf_set(ltv_conf_t *conf, const char *key, const char *val) {
    return ltv_cli_set("backfill", conf, key, val);
}

/* Applies the backfill's settings over whatever -c/-X said. */
static int bf_configure(ltv_conf_t *conf, const bf_opts_t *o) {
    char v[512];
    int rc = bf_set(conf, "namespace", o->ns);
    if (o->group)
        snprintf(v, sizeof(v), "%s", o->group);
    else
        snprintf(v, sizeof(v), "ltvstream-backfill-%s", o->ns);
    rc = rc ? rc : bf_set(conf, "kafka.consumer.group.id", v);
    rc = rc ? rc : bf_set(conf, "run.stop.at.end", "true");
    rc = rc ? rc : bf_set(conf, "run.stop.pin", "true");
    /* The triggers of history were sent by the live deployment when they
     * happened. Recorded as fired, they are not fired again when the live
     * stage continues on the rebuilt namespace. */
    if (!o->lifecycle)
        rc = rc ? rc : bf_set(conf, "lifecycle.emit", "false");
    if (rc)
        return rc;
    const char *when[2] = {o->from, o->to};
    const char *key[2] = {"run.start.ms", "run.stop.at.ms"};
    const char *none[2] = {"beginning", "end"};
    for (int k = 0; k < 2; k++) {
        if (!when[k] || !strcmp(when[k], none[k]))
            continue;
        int64_t ms;
        if (ltv_time_parse(when[k], conf->tz_offset_ms, &ms) || ms < 0) {
            fprintf(stderr, "ltvstream backfill: %s: cannot read \"%s\" as a time\n",
                    k ? "--to" : "--from", when[k]);
            return 2;
        }
        /* --to T includes messages before T: the stage stops after the
         * last message at or before run.stop.at.ms. */
        snprintf(v, sizeof(v), "%lld", (long long)(k ? ms - 1 : ms));
        if ((rc = bf_set(conf, key[k], v)))
            return rc;
    }
    return ltv_cli_output_prefix("backfill", conf, o->prefix);
}

int ltv_backfill_main(int argc, char **argv) {
    bf_opts_t o = {.progress = 1};
    ltv_conf_t *conf = ltv_conf_new();
    int rc = bf_args(argc, argv, &o, conf);
    if (!rc)
        rc = bf_configure(conf, &o);
    if (rc) {
        ltv_conf_destroy(conf);
        return rc;
    }
    ltv_log_setup((int)conf->log_level, conf->log_json);
    bf_t bf = {.ns = o.ns, .t0_us = ltv_mono_us(), .tty = isatty(2)};
    char err[512];
    ltv_stage_t *st = ltv_stage_new(conf, err, sizeof(err));
    if (!st) {
        fprintf(stderr, "ltvstream backfill: %s\n", err);
        ltv_conf_destroy(conf);
        return 2;
    }
    volatile sig_atomic_t *stop = ltv_cli_catch_signals();
    if (o.progress)
        ltv_stage_set_tick(st, bf.tty ? 250 : 2000, bf_progress, &bf);
    rc = ltv_stage_run(st, stop);
    if (o.progress && bf.shown && bf.tty)
        fputc('\n', stderr);
    ltv_stage_stats_t s;
    ltv_stage_stats(st, &s);
    uint64_t dlq = 0;
    for (int i = 0; i < LTV_R__COUNT; i++)
        dlq += s.dlq[i];
    double secs = (double)(ltv_mono_us() - bf.t0_us) / 1e6;
    int complete = !rc && !*stop && ltv_stage_reached_end(st);
    printf("backfill %s %s: %llu events, %llu applied, %llu dead-lettered, %llu late, "
           "%.1f s, %.0f events/s\n",
           o.ns, complete ? "done" : "interrupted", (unsigned long long)s.consumed,
           (unsigned long long)s.applied, (unsigned long long)dlq, (unsigned long long)s.late,
           secs, secs > 0 ? (double)s.consumed / secs : 0.0);
    if (complete)
        printf("namespace %s is at the backfill's end offsets; continue live with "
               "`ltvstream run -X namespace=%s ...`\n",
               o.ns, o.ns);
    else
        printf("run the same command again to resume (offsets and end offsets are in Redis)\n");
    ltv_stage_destroy(st);
    ltv_conf_destroy(conf);
    return complete ? 0 : 1;
}
