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

static void print_rolling(const ltv_table_t *t) {
    printf("\nRolling F2 rate (all channels; cohorts of the trailing 30 days whose horizon "
           "matured), every 7th day\n");
    printf("%-12s %-25s %9s %10s   %-25s %9s %10s\n", "day", "30d-horizon cohorts", "new",
           "F2 in 30d", "90d-horizon cohorts", "new", "F2 in 90d");
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        const char *j = t->rows[i].json;
        char ch[64], day[16], a1[16], a2[16], b1[16], b2[16];
        ltv_json_field(j, "channel", ch, sizeof(ch));
        if (strcmp(ch, "all") || ltv_json_field_i64(j, "cohorts_30d") == 0)
            continue;
        if (k++ % 7)
            continue;
        ltv_json_field(j, "day", day, sizeof(day));
        ltv_json_field(j, "cohort_from_30d", a1, sizeof(a1));
        ltv_json_field(j, "cohort_to_30d", a2, sizeof(a2));
        ltv_json_field(j, "cohort_from_90d", b1, sizeof(b1));
        ltv_json_field(j, "cohort_to_90d", b2, sizeof(b2));
        char w1[32], w2[32];
        snprintf(w1, sizeof(w1), "%s..%s", a1 + 5, a2 + 5);
        snprintf(w2, sizeof(w2), "%s..%s", b1 + 5, b2 + 5);
        double r30 = ltv_json_field_f(j, "rolling_f2_rate_30d");
        double r90 = ltv_json_field_f(j, "rolling_f2_rate_90d");
        char s30[16] = "-", s90[16] = "-";
        if (r30 >= 0)
            snprintf(s30, sizeof(s30), "%.1f%%", 100 * r30);
        if (r90 >= 0)
            snprintf(s90, sizeof(s90), "%.1f%%", 100 * r90);
        printf("%-12s %-25s %9lld %10s   %-25s %9lld %10s\n", day, w1,
               (long long)ltv_json_field_i64(j, "cohorts_30d"), s30, w2,
               (long long)ltv_json_field_i64(j, "cohorts_90d"), s90);
    }
}

static const char *segs[] = {"champions", "loyal", "potential_loyalist", "new_customer",
                             "promising", "need_attention", "about_to_sleep", "cant_lose",
                             "at_risk", "lost", "hibernating"};

static void print_rfm(const ltv_table_t *segt, const ltv_table_t *cust) {
    if (!segt->n)
        return;
    const char *last = segt->rows[segt->n - 1].json;
    char day[16], fin[8];
    ltv_json_field(last, "day", day, sizeof(day));
    ltv_json_field(last, "final", fin, sizeof(fin));
    int64_t total = ltv_json_field_i64(last, "customers");
    printf("\nRFM segments as of %s (%lld customers; final: %s)\n", day, (long long)total, fin);
    for (size_t i = 0; i < sizeof(segs) / sizeof(segs[0]); i++) {
        int64_t v = ltv_json_field_i64(last, segs[i]);
        int bar = total ? (int)(60 * v / total) : 0;
        printf("  %-20s %6lld %5.1f%%  ", segs[i], (long long)v,
               total ? 100.0 * (double)v / (double)total : 0.0);
        for (int k = 0; k < bar; k++)
            putchar('#');
        putchar('\n');
    }
    if (segt->n > 30) {
        const char *month = segt->rows[segt->n - 31].json;
        ltv_json_field(month, "day", day, sizeof(day));
        printf("  (30 days earlier, %s: champions %lld, new_customer %lld, at_risk %lld, "
               "lost %lld)\n",
               day, (long long)ltv_json_field_i64(month, "champions"),
               (long long)ltv_json_field_i64(month, "new_customer"),
               (long long)ltv_json_field_i64(month, "at_risk"),
               (long long)ltv_json_field_i64(month, "lost"));
    }
    printf("\nltv.customer_rfm: %d customers; a few of them:\n", cust->n);
    for (int i = 0; i < cust->n && i < 4; i++)
        printf("  %s\n", cust->rows[i * (cust->n / 4)].json);
}

/* ltv.lifecycle is a stream of events, not a table: counted by trigger,
 * with the first record of each kind as an example. */
typedef struct lc_tally_s {
    int64_t n[16];
    char *example[16];
    char names[16][32];
    int ntypes;
} lc_tally_t;

static void lc_msg(const rd_kafka_message_t *m, void *opaque) {
    lc_tally_t *t = opaque;
    if (!m->payload)
        return;
    char *json = ltv_strndup(m->payload, m->len);
    char trig[32];
    if (ltv_json_field(json, "trigger", trig, sizeof(trig))) {
        free(json);
        return;
    }
    int k = 0;
    while (k < t->ntypes && strcmp(t->names[k], trig))
        k++;
    if (k == t->ntypes && t->ntypes < 16)
        snprintf(t->names[t->ntypes++], sizeof(t->names[0]), "%s", trig);
    if (k < 16) {
        t->n[k]++;
        if (!t->example[k]) {
            t->example[k] = json;
            return;
        }
    }
    free(json);
}

static int print_lifecycle(const char *brokers, char *err, size_t errsz) {
    lc_tally_t t;
    memset(&t, 0, sizeof(t));
    if (ltv_topic_read(brokers, "ltv.lifecycle", 60000, lc_msg, &t, err, errsz) < 0)
        return -1;
    printf("\nLifecycle triggers (ltv.lifecycle, keyed by customer; one record per customer and "
           "occasion)\n");
    for (int k = 0; k < t.ntypes; k++)
        printf("  %-20s %7lld\n", t.names[k], (long long)t.n[k]);
    printf("the first of each, as a step-mail tool receives them:\n");
    for (int k = 0; k < t.ntypes; k++) {
        printf("  %s\n", t.example[k]);
        free(t.example[k]);
    }
    return 0;
}

/* Daily rows summed per channel and campaign over the whole period. */
static void print_acquisition(const ltv_table_t *t) {
    printf("\nAcquisition economics by channel and campaign (all acquisition days; amounts in "
           "currency units)\n");
    printf("%-10s %-11s %6s %10s %8s %7s %9s %12s %8s %-9s\n", "channel", "campaign", "new",
           "cost", "CPO", "F2 rate", "F2-CPO", "rev/customer", "CLV:CAC", "vs 3:1");
    char seen[64][128];
    int nseen = 0;
    for (int i = 0; i < t->n; i++) {
        char win[8], ch[64], camp[60], key[128];
        ltv_json_field(t->rows[i].json, "window", win, sizeof(win));
        if (strcmp(win, "1d"))
            continue;
        ltv_json_field(t->rows[i].json, "channel", ch, sizeof(ch));
        ltv_json_field(t->rows[i].json, "campaign", camp, sizeof(camp));
        snprintf(key, sizeof(key), "%s|%s", ch, camp);
        int dup = 0;
        for (int k = 0; k < nseen; k++)
            dup |= !strcmp(seen[k], key);
        if (!dup && nseen < 64)
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", key);
    }
    for (int k = 0; k < nseen; k++) {
        int64_t n = 0, cost = 0, f2 = 0, rev = 0;
        for (int i = 0; i < t->n; i++) {
            const char *j = t->rows[i].json;
            char win[8], ch[64], camp[60], key[128];
            ltv_json_field(j, "window", win, sizeof(win));
            ltv_json_field(j, "channel", ch, sizeof(ch));
            ltv_json_field(j, "campaign", camp, sizeof(camp));
            snprintf(key, sizeof(key), "%s|%s", ch, camp);
            if (strcmp(win, "1d") || strcmp(key, seen[k]))
                continue;
            n += ltv_json_field_i64(j, "new_customers");
            cost += ltv_json_field_i64(j, "cost");
            f2 += ltv_json_field_i64(j, "f2_count");
            rev += ltv_json_field_i64(j, "revenue");
        }
        char *bar = strchr(seen[k], '|');
        *bar = '\0';
        char cpo[16] = "-", f2cpo[16] = "-", ratio[16] = "-", rating[16] = "";
        if (cost && n)
            snprintf(cpo, sizeof(cpo), "%.2f", (double)cost / (double)n / 100.0);
        if (cost && f2)
            snprintf(f2cpo, sizeof(f2cpo), "%.2f", (double)cost / (double)f2 / 100.0);
        if (cost) {
            snprintf(ratio, sizeof(ratio), "%.1f:1", (double)rev / (double)cost);
            snprintf(rating, sizeof(rating), "%s",
                     rev >= 3 * cost ? "healthy" : rev > cost ? "marginal" : "losing");
        }
        printf("%-10s %-11s %6lld %10.2f %8s %6.1f%% %9s %12.2f %8s %-9s\n", seen[k], bar + 1,
               (long long)n, (double)cost / 100.0, cpo, n ? 100.0 * (double)f2 / (double)n : 0.0,
               f2cpo, n ? (double)rev / (double)n / 100.0 : 0.0, ratio, rating);
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
    ltv_table_t f2 = {0}, mix = {0}, roll = {0}, segt = {0}, cust = {0}, acq = {0};

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
    ltv_mock_topic(mock, "ltv.ad_spend", 4);
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
    go.topic_ad_spend = "ltv.ad_spend";
    go.quiet = 1;
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&go, &gs, err, sizeof(err)))
        goto done;
    printf("generated:         %lld messages over %d days (%lld orders, %lld cancels, %lld "
           "refunds, %lld visits, %lld duplicates, %lld late, %lld malformed), and %lld "
           "daily ad spend records\n",
           (long long)gs.total, days, (long long)gs.orders, (long long)gs.cancels,
           (long long)gs.refunds, (long long)gs.visits, (long long)gs.duplicates,
           (long long)gs.late, (long long)gs.bad, (long long)gs.ad_spend);

    conf = ltv_conf_new();
    char port[16];
    snprintf(port, sizeof(port), "%d", redis->port);
    if (set(conf, "kafka.bootstrap.servers", mock->bootstraps) || set(conf, "redis.port", port) ||
        set(conf, "schema.dir", tmpdir) || set(conf, "run.stop.at.end", "true") ||
        set(conf, "namespace", "demo") || set(conf, "kafka.log_level", "3") ||
        set(conf, "topic.ad_spend", "ltv.ad_spend"))
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
        ltv_table_read(mock->bootstraps, "ltv.retention_mix", &mix, err, sizeof(err)) ||
        ltv_table_read(mock->bootstraps, "ltv.f2_rolling", &roll, err, sizeof(err)) ||
        ltv_table_read(mock->bootstraps, "ltv.rfm_segments", &segt, err, sizeof(err)) ||
        ltv_table_read(mock->bootstraps, "ltv.customer_rfm", &cust, err, sizeof(err)) ||
        ltv_table_read(mock->bootstraps, "ltv.acquisition", &acq, err, sizeof(err)))
        goto done;
    printf("output topics:     rows (versions): ltv.f2_rate %d (%lld), ltv.f2_rolling %d (%lld), "
           "ltv.retention_mix %d (%lld), ltv.rfm_segments %d (%lld), ltv.customer_rfm %d (%lld)\n",
           f2.n, (long long)f2.messages, roll.n, (long long)roll.messages, mix.n,
           (long long)mix.messages, segt.n, (long long)segt.messages, cust.n,
           (long long)cust.messages);
    print_f2(&f2);
    print_rolling(&roll);
    print_mix(&mix);
    print_rfm(&segt, &cust);
    print_acquisition(&acq);
    if (print_lifecycle(mock->bootstraps, err, sizeof(err)))
        goto done;
    if (f2.n)
        printf("\nexample ltv.f2_rate row:\n  key %s\n  %s\n", f2.rows[f2.n / 2].key,
               f2.rows[f2.n / 2].json);
    rc = 0;

done:
    if (rc)
        fprintf(stderr, "demo: %s\n", err);
    ltv_table_free(&f2);
    ltv_table_free(&mix);
    ltv_table_free(&roll);
    ltv_table_free(&segt);
    ltv_table_free(&cust);
    ltv_table_free(&acq);
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
