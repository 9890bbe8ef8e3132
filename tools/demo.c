/*
 * `ltvstream demo`: the whole pipeline on one machine, with nothing to set
 * up: the embedded broker, a private redis-server on a free port, a few
 * months of generated events, the stage until it has consumed them all,
 * and the resulting metrics read back from the output topics the way a BI
 * tool would read them.
 */
#include "conf.h"
#include "devenv.h"
#include "gen.h"
#include "log.h"
#include "rowread.h"
#include "stage.h"
#include "tools.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int set(ltv_conf_t *conf, const char *k, const char *v) {
    char err[256];
    if (ltv_conf_set(conf, k, v, err, sizeof(err)) != LTV_CONF_OK) {
        fprintf(stderr, "demo: %s\n", err);
        return -1;
    }
    return 0;
}

static void print_f2(const ltv_table_t *t) {
    printf("\nF2 conversion by weekly cohort (first-purchase week, all channels)\n");
    printf("%-12s %8s %8s %8s %10s %10s %8s\n", "cohort week", "new", "F2", "F3", "F2 rate",
           "F2 in 30d", "final");
    /* Daily cohort rows are summed into weeks for a readable table; counts
     * add up, rates are recomputed from the sums. */
    int64_t wk = INT64_MIN, size = 0, f2 = 0, f3 = 0, w30 = 0;
    int allfinal = 1;
    char wkname[16] = "";
    for (int i = 0; i <= t->n; i++) {
        int64_t day = 0;
        char ch[64] = "", d[16] = "";
        if (i < t->n) {
            ltv_json_field(t->rows[i].json, "channel", ch, sizeof(ch));
            if (strcmp(ch, "all"))
                continue;
            ltv_json_field(t->rows[i].json, "cohort_day", d, sizeof(d));
            ltv_day_parse(d, &day);
        }
        int64_t w = i < t->n ? (day + 3) / 7 : INT64_MAX; /* weeks start on Monday */
        if (w != wk && wk != INT64_MIN && size) {
            printf("%-12s %8lld %8lld %8lld %9.1f%% %9.1f%% %8s\n", wkname, (long long)size,
                   (long long)f2, (long long)f3, 100.0 * (double)f2 / (double)size,
                   100.0 * (double)w30 / (double)size, allfinal ? "yes" : "no");
            size = f2 = f3 = w30 = 0;
            allfinal = 1;
        }
        if (i == t->n)
            break;
        if (w != wk) {
            ltv_day_format(w * 7 - 3, wkname);
            wk = w;
        }
        size += ltv_json_field_i64(t->rows[i].json, "cohort_size");
        f2 += ltv_json_field_i64(t->rows[i].json, "f2_count");
        f3 += ltv_json_field_i64(t->rows[i].json, "f3_count");
        w30 += ltv_json_field_i64(t->rows[i].json, "f2_within_30d");
        char fin[8];
        ltv_json_field(t->rows[i].json, "final", fin, sizeof(fin));
        allfinal &= !strcmp(fin, "true");
    }

    printf("\nF2 conversion by acquisition channel (all cohorts)\n");
    printf("%-12s %8s %8s %10s %10s\n", "channel", "new", "F2", "F2 rate", "F2 in 30d");
    const char *seen[64];
    int nseen = 0;
    for (int i = 0; i < t->n; i++) {
        char ch[64];
        ltv_json_field(t->rows[i].json, "channel", ch, sizeof(ch));
        if (!strcmp(ch, "all"))
            continue;
        int dup = 0;
        for (int k = 0; k < nseen; k++)
            dup |= !strcmp(seen[k], ch);
        if (dup || nseen == 64)
            continue;
        seen[nseen++] = strdup(ch);
    }
    for (int k = 0; k < nseen; k++) {
        int64_t s = 0, f = 0, w = 0;
        for (int i = 0; i < t->n; i++) {
            char ch[64];
            ltv_json_field(t->rows[i].json, "channel", ch, sizeof(ch));
            if (strcmp(ch, seen[k]))
                continue;
            s += ltv_json_field_i64(t->rows[i].json, "cohort_size");
            f += ltv_json_field_i64(t->rows[i].json, "f2_count");
            w += ltv_json_field_i64(t->rows[i].json, "f2_within_30d");
        }
        printf("%-12s %8lld %8lld %9.1f%% %9.1f%%\n", seen[k], (long long)s, (long long)f,
               s ? 100.0 * (double)f / (double)s : 0.0, s ? 100.0 * (double)w / (double)s : 0.0);
        free((void *)seen[k]);
    }
}

static void print_mix(const ltv_table_t *t) {
    printf("\nRetention mix by week (new vs returning)\n");
    printf("%-12s %8s %8s %8s %10s %12s %10s %9s\n", "week", "orders", "new", "return",
           "ret.share", "revenue", "rev.share", "visitors");
    int64_t wk = INT64_MIN;
    int64_t o = 0, no = 0, ro = 0, rev = 0, rrev = 0, vis = 0;
    char wkname[16] = "";
    for (int i = 0; i <= t->n; i++) {
        int64_t day = 0;
        if (i < t->n) {
            char d[16], win[8];
            ltv_json_field(t->rows[i].json, "window", win, sizeof(win));
            if (strcmp(win, "1d"))
                continue; /* weekly sums of the daily rows */
            ltv_json_field(t->rows[i].json, "day", d, sizeof(d));
            ltv_day_parse(d, &day);
        }
        int64_t w = i < t->n ? (day + 3) / 7 : INT64_MAX;
        if (w != wk && wk != INT64_MIN) {
            printf("%-12s %8lld %8lld %8lld %9.1f%% %12.2f %9.1f%% %9lld\n", wkname,
                   (long long)o, (long long)no, (long long)ro,
                   o ? 100.0 * (double)ro / (double)o : 0.0, (double)rev / 100.0,
                   rev ? 100.0 * (double)rrev / (double)rev : 0.0, (long long)vis);
            o = no = ro = rev = rrev = vis = 0;
        }
        if (i == t->n)
            break;
        if (w != wk) {
            ltv_day_format(w * 7 - 3, wkname);
            wk = w;
        }
        const char *j = t->rows[i].json;
        o += ltv_json_field_i64(j, "orders");
        no += ltv_json_field_i64(j, "new_orders");
        ro += ltv_json_field_i64(j, "returning_orders");
        rev += ltv_json_field_i64(j, "revenue");
        rrev += ltv_json_field_i64(j, "returning_revenue");
        vis += ltv_json_field_i64(j, "visitors");
    }
}

int ltv_demo_main(int argc, char **argv) {
    int customers = 4000, days = 120;
    static const struct option lo[] = {{"customers", 1, 0, 'C'}, {"days", 1, 0, 'D'},
                                       {"help", 0, 0, 'h'},      {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'C')
            customers = atoi(optarg);
        else if (c == 'D')
            days = atoi(optarg);
        else {
            fprintf(stderr, "Usage: ltvstream demo [--customers N] [--days N]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    int rc = 1;
    char err[512];
    char tmpdir[] = "/tmp/ltvstream-demo-XXXXXX";
    ltv_mock_t *mock = NULL;
    ltv_redis_t *redis = NULL;
    ltv_conf_t *conf = NULL;
    ltv_stage_t *st = NULL;
    ltv_table_t f2 = {0}, mix = {0};

    ltv_log_setup(LTV_LOG_WARN, 0);
    if (!mkdtemp(tmpdir)) {
        perror("demo: mkdtemp");
        return 1;
    }
    printf("== ltvstream demo ==\n");
    mock = ltv_mock_start(1, err, sizeof(err));
    if (!mock)
        goto done;
    ltv_mock_topic(mock, "ltv.purchases", 16);
    ltv_mock_topic(mock, "ltv.visits", 16);
    printf("embedded broker:   %s\n", mock->bootstraps);
    redis = ltv_redis_start(NULL, 0, 0, err, sizeof(err));
    if (!redis)
        goto done;
    printf("private redis:     127.0.0.1:%d\n", redis->port);

    ltv_gen_opts_t go;
    ltv_gen_defaults(&go);
    go.brokers = mock->bootstraps;
    go.customers = customers;
    go.days = days;
    go.schema_dir = tmpdir;
    go.quiet = 1;
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&go, &gs, err, sizeof(err)))
        goto done;
    printf("generated:         %lld messages over %d days (%lld orders, %lld cancels, %lld "
           "refunds, %lld visits, %lld duplicates, %lld late, %lld malformed)\n",
           (long long)gs.total, days, (long long)gs.orders, (long long)gs.cancels,
           (long long)gs.refunds, (long long)gs.visits, (long long)gs.duplicates,
           (long long)gs.late, (long long)gs.bad);

    conf = ltv_conf_new();
    char port[16];
    snprintf(port, sizeof(port), "%d", redis->port);
    if (set(conf, "kafka.bootstrap.servers", mock->bootstraps) || set(conf, "redis.port", port) ||
        set(conf, "schema.dir", tmpdir) || set(conf, "run.stop.at.end", "true") ||
        set(conf, "namespace", "demo") || set(conf, "kafka.log_level", "3"))
        goto done;
    st = ltv_stage_new(conf, err, sizeof(err));
    if (!st)
        goto done;
    volatile sig_atomic_t stop = 0;
    int64_t t0 = ltv_mono_us();
    if (ltv_stage_run(st, &stop)) {
        snprintf(err, sizeof(err), "stage failed");
        goto done;
    }
    double secs = (double)(ltv_mono_us() - t0) / 1e6;
    ltv_stage_stats_t s;
    ltv_stage_stats(st, &s);
    uint64_t dlq = 0;
    for (int i = 0; i < LTV_R__COUNT; i++)
        dlq += s.dlq[i];
    printf("stage:             consumed %llu messages in %.1f s: %llu applied, %llu "
           "duplicates dropped, %llu dead-lettered, %llu batches, %llu rows emitted\n",
           (unsigned long long)s.consumed, secs, (unsigned long long)s.applied,
           (unsigned long long)s.duplicates, (unsigned long long)dlq,
           (unsigned long long)s.batches, (unsigned long long)s.rows_emitted);
    if (dlq) {
        printf("dead letters:     ");
        for (int i = 1; i < LTV_R__COUNT; i++)
            if (s.dlq[i])
                printf(" %s=%llu", ltv_reason_name((ltv_reason_t)i), (unsigned long long)s.dlq[i]);
        printf("\n");
    }

    if (ltv_table_read(mock->bootstraps, "ltv.f2_rate", &f2, err, sizeof(err)) ||
        ltv_table_read(mock->bootstraps, "ltv.retention_mix", &mix, err, sizeof(err)))
        goto done;
    printf("output topics:     ltv.f2_rate %d rows (%lld versions), ltv.retention_mix %d rows "
           "(%lld versions)\n",
           f2.n, (long long)f2.messages, mix.n, (long long)mix.messages);
    print_f2(&f2);
    print_mix(&mix);
    if (f2.n)
        printf("\nexample ltv.f2_rate row:\n  key %s\n  %s\n", f2.rows[f2.n / 2].key,
               f2.rows[f2.n / 2].json);
    rc = 0;

done:
    if (rc)
        fprintf(stderr, "demo: %s\n", err);
    ltv_table_free(&f2);
    ltv_table_free(&mix);
    ltv_stage_destroy(st);
    ltv_conf_destroy(conf);
    ltv_redis_stop(redis);
    ltv_mock_stop(mock);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "demo: could not remove %s\n", tmpdir);
    return rc;
}
