/*
 * The stage's final output rows equal an independent recomputation.
 *
 * A generated stream (duplicates, late events, cancellations, refunds,
 * malformed messages) is produced to the embedded broker, and the generator
 * also dumps every valid, non-duplicate event as text. The stage consumes
 * the stream to its end; tests/oracle.py recomputes, from the dump alone and
 * from the definitions (not the stage's code), every row of every output
 * topic: F2 cohorts, rolling F2, retention mix (1d, 7d, 30d), RFM segment
 * counts per day and each customer's current RFM scores. Every field the
 * oracle computed must match the newest row of the same key; rows the oracle
 * does not have must be empty (all counts zero: customers moved away). The
 * rates in the rows must be their counts' quotients, and the final flags
 * and the final watermark must be the ones the clock implies.
 *
 * As of a time: a backfill --to T into its own namespace and topics must
 * give the rows the oracle computes from only the events that arrived
 * before T (the dump gives each event's arrival, the message timestamp).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gen.h"
#include "harness.h"
#include "util.h"

static h_env_t *H;
static char dump_path[400], expected_path[400];

#define NS "oracle"

static const char *const topics[] = {"ltv.f2_rate", "ltv.f2_rolling", "ltv.retention_mix",
                                     "ltv.rfm_segments", "ltv.customer_rfm"};
#define NTOPICS ((int)(sizeof(topics) / sizeof(topics[0])))

static int setup(void **state) {
    /* 40 partitions per topic: the stage holds 80 partitions, more than its
     * first allocation of 64, so assignment must survive its parts array
     * growing (it once kept pointers across that). */
    H = h_start(40, 0);
    snprintf(dump_path, sizeof(dump_path), "%s/events.txt", H->dir);
    snprintf(expected_path, sizeof(expected_path), "%s/expected.jsonl", H->dir);
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o); /* default duplicate, late, cancel, refund and bad rates */
    o.brokers = H->mock->bootstraps;
    o.customers = 4000;
    o.days = 90;
    o.seed = 20250101;
    o.quiet = 1;
    o.kafka_ts = 1; /* message timestamps = arrival times: backfill --to cuts by them */
    o.schema_dir = NULL; /* the harness wrote ids 1 and 2 */
    o.dump = fopen(dump_path, "w");
    if (!o.dump)
        fail_msg("cannot write %s", dump_path);
    char err[256];
    ltv_gen_stats_t gs;
    int rc = ltv_gen_run(&o, &gs, err, sizeof(err));
    fclose(o.dump);
    if (rc)
        fail_msg("gen: %s", err);
    assert_int_equal(h_input_end(H), gs.total);
    /* The stream has what it should have. */
    assert_true(gs.duplicates > 0 && gs.late > 0 && gs.cancels > 0 && gs.refunds > 0 &&
                gs.bad > 0);
    return 0;
}

static int teardown(void **state) {
    h_stop(H);
    return 0;
}

/* ---- the oracle's rows ------------------------------------------------------- */

typedef enum { V_INT, V_STR, V_BOOL } vkind_t;

typedef struct field_s {
    char *name;
    char *text; /* integer digits, string contents, "true"/"false" */
    vkind_t kind;
} field_t;

typedef struct erow_s {
    char *topic;
    char *key;
    field_t *f;
    int nf;
} erow_t;

typedef struct expected_s {
    erow_t *rows;
    int n, cap;
} expected_t;

/* A flat JSON object as json.dumps writes it: "name":value pairs with
 * strings (no escapes), integers and booleans. */
static int parse_line(const char *s, erow_t *r) {
    memset(r, 0, sizeof(*r));
    int cap = 0;
    if (*s++ != '{')
        return -1;
    while (*s && *s != '}') {
        if (*s == ',')
            s++;
        if (*s++ != '"')
            return -1;
        const char *ne = strchr(s, '"');
        if (!ne || ne[1] != ':')
            return -1;
        char *name = ltv_strndup(s, (size_t)(ne - s));
        s = ne + 2;
        char *text;
        vkind_t kind;
        if (*s == '"') {
            const char *ve = strchr(s + 1, '"');
            if (!ve) {
                free(name);
                return -1;
            }
            text = ltv_strndup(s + 1, (size_t)(ve - s - 1));
            kind = V_STR;
            s = ve + 1;
        } else {
            const char *ve = s;
            while (*ve && *ve != ',' && *ve != '}')
                ve++;
            text = ltv_strndup(s, (size_t)(ve - s));
            kind = (!strcmp(text, "true") || !strcmp(text, "false")) ? V_BOOL : V_INT;
            s = ve;
        }
        if (!strcmp(name, "topic")) {
            r->topic = text;
            free(name);
        } else if (!strcmp(name, "key")) {
            r->key = text;
            free(name);
        } else {
            if (r->nf == cap) {
                cap = cap ? cap * 2 : 16;
                r->f = ltv_realloc(r->f, sizeof(*r->f) * (size_t)cap);
            }
            r->f[r->nf].name = name;
            r->f[r->nf].text = text;
            r->f[r->nf].kind = kind;
            r->nf++;
        }
    }
    return r->topic && r->key ? 0 : -1;
}

static void expected_load(expected_t *e, const char *path) {
    memset(e, 0, sizeof(*e));
    FILE *fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot read %s", path);
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, fp)) > 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            line[--len] = '\0';
        if (!len)
            continue;
        if (e->n == e->cap) {
            e->cap = e->cap ? e->cap * 2 : 1024;
            e->rows = ltv_realloc(e->rows, sizeof(*e->rows) * (size_t)e->cap);
        }
        if (parse_line(line, &e->rows[e->n]))
            fail_msg("oracle wrote a line this test cannot read: %s", line);
        e->n++;
    }
    free(line);
    fclose(fp);
}

static void expected_free(expected_t *e) {
    for (int i = 0; i < e->n; i++) {
        erow_t *r = &e->rows[i];
        for (int k = 0; k < r->nf; k++) {
            free(r->f[k].name);
            free(r->f[k].text);
        }
        free(r->f);
        free(r->topic);
        free(r->key);
    }
    free(e->rows);
}

static const field_t *efield(const erow_t *r, const char *name) {
    for (int k = 0; k < r->nf; k++)
        if (!strcmp(r->f[k].name, name))
            return &r->f[k];
    return NULL;
}

/* ---- comparing ----------------------------------------------------------------- */

#define SHOW_MAX 20

typedef struct report_s {
    int64_t mismatches;
    int shown;
} report_t;

static void mismatch(report_t *rep, const char *topic, const char *key, const char *field,
                     const char *want, const char *got) {
    rep->mismatches++;
    if (rep->shown++ < SHOW_MAX)
        fprintf(stderr, "  MISMATCH %s key=%s field=%s expected=%s got=%s\n", topic, key, field,
                want, got);
}

static int get(const char *json, const char *name, char *out, size_t n) {
    return ltv_json_field(json, name, out, n);
}

static int64_t get_i64(const char *json, const char *name, int *ok) {
    char tmp[64];
    if (get(json, name, tmp, sizeof(tmp))) {
        *ok = 0;
        return 0;
    }
    char *end;
    long long v = strtoll(tmp, &end, 10);
    *ok = end != tmp && !*end;
    return v;
}

/* rate = num / den as the stage prints it ("%.6f"; null when den is 0). */
static void check_rate(report_t *rep, const char *topic, const char *key, const char *json,
                       const char *rate, const char *num, const char *den, int64_t *checked) {
    int ok1, ok2;
    int64_t n = get_i64(json, num, &ok1), d = get_i64(json, den, &ok2);
    char got[64], want[64];
    if (!ok1 || !ok2 || get(json, rate, got, sizeof(got))) {
        mismatch(rep, topic, key, rate, "(rate and its counts present)", "(missing)");
        return;
    }
    if (d == 0)
        snprintf(want, sizeof(want), "null");
    else
        snprintf(want, sizeof(want), "%.6f", (double)n / (double)d);
    if (strcmp(want, got))
        mismatch(rep, topic, key, rate, want, got);
    (*checked)++;
}

static void check_rates(report_t *rep, const char *topic, const char *key, const char *json,
                        int64_t *checked) {
    if (!strcmp(topic, "ltv.f2_rate")) {
        check_rate(rep, topic, key, json, "f2_rate", "f2_count", "cohort_size", checked);
        check_rate(rep, topic, key, json, "f2_rate_30d", "f2_within_30d", "cohort_size", checked);
        check_rate(rep, topic, key, json, "f2_rate_90d", "f2_within_90d", "cohort_size", checked);
        check_rate(rep, topic, key, json, "f3_given_f2", "f3_count", "f2_count", checked);
        check_rate(rep, topic, key, json, "f4_given_f3", "f4_count", "f3_count", checked);
    } else if (!strcmp(topic, "ltv.f2_rolling")) {
        check_rate(rep, topic, key, json, "rolling_f2_rate_30d", "f2_within_30d", "cohorts_30d",
                   checked);
        check_rate(rep, topic, key, json, "rolling_f2_rate_90d", "f2_within_90d", "cohorts_90d",
                   checked);
    } else if (!strcmp(topic, "ltv.retention_mix")) {
        check_rate(rep, topic, key, json, "returning_order_share", "returning_orders", "orders",
                   checked);
        check_rate(rep, topic, key, json, "returning_revenue_share", "returning_revenue",
                   "revenue", checked);
        check_rate(rep, topic, key, json, "returning_customer_share", "returning_customers",
                   "customers", checked);
        check_rate(rep, topic, key, json, "new_visitor_revisit_rate_3d",
                   "new_visitors_revisited_3d", "new_visitors", checked);
        /* orders per day over the window, and the maturity stage it gives */
        const char *bar = strchr(key, '|');
        int days = bar ? atoi(bar + 1) : 0;
        int ok;
        int64_t orders = get_i64(json, "orders", &ok);
        char got[64], want[64], stage[32];
        if (days <= 0 || !ok || get(json, "orders_per_day", got, sizeof(got)) ||
            get(json, "maturity_stage", stage, sizeof(stage))) {
            mismatch(rep, topic, key, "orders_per_day", "(present)", "(missing)");
            return;
        }
        double per_day = (double)orders / days;
        snprintf(want, sizeof(want), "%.6f", per_day);
        if (strcmp(want, got))
            mismatch(rep, topic, key, "orders_per_day", want, got);
        const char *ws = per_day <= 0 ? "launch" : per_day < 1 ? "traction"
                       : per_day < 5 ? "consistent" : per_day <= 10 ? "established" : "mature";
        if (strcmp(ws, stage))
            mismatch(rep, topic, key, "maturity_stage", ws, stage);
        (*checked)++;
    }
}

/* Compares one topic, read as `prefix``topic`; returns the number of rows
 * compared. */
static int compare_topic(const expected_t *e, const char *topic, const char *prefix,
                         report_t *rep, int64_t *rates_checked, char *max_wm, size_t max_wm_sz) {
    ltv_table_t t;
    char read_as[256];
    snprintf(read_as, sizeof(read_as), "%s%s", prefix, topic);
    h_read_table(H, read_as, &t);
    int64_t before = rep->mismatches;
    int nexp = 0, matched = 0, extra_empty = 0;
    const erow_t *proto = NULL; /* the topic's fields, for rows the oracle lacks */
    for (int i = 0; i < e->n; i++) {
        const erow_t *r = &e->rows[i];
        if (strcmp(r->topic, topic))
            continue;
        nexp++;
        if (!proto)
            proto = r;
        const ltv_table_row_t *row = ltv_table_get(&t, r->key);
        if (!row) {
            mismatch(rep, topic, r->key, "(row)", "present", "missing");
            continue;
        }
        matched++;
        for (int k = 0; k < r->nf; k++) {
            const field_t *f = &r->f[k];
            char got[128];
            if (get(row->json, f->name, got, sizeof(got))) {
                mismatch(rep, topic, r->key, f->name, f->text, "(absent)");
                continue;
            }
            int same;
            if (f->kind == V_INT) {
                char *end;
                long long g = strtoll(got, &end, 10);
                same = end != got && !*end && g == strtoll(f->text, NULL, 10);
            } else {
                same = !strcmp(got, f->text);
            }
            if (!same)
                mismatch(rep, topic, r->key, f->name, f->text, got);
        }
    }
    /* Rows the oracle does not have: all their counts must be zero. */
    for (int i = 0; i < t.n; i++) {
        const ltv_table_row_t *row = &t.rows[i];
        char wm[64];
        if (!get(row->json, "watermark", wm, sizeof(wm)) && strcmp(wm, "null") &&
            strcmp(wm, max_wm) > 0)
            snprintf(max_wm, max_wm_sz, "%s", wm);
        check_rates(rep, topic, row->key, row->json, rates_checked);
        int known = 0;
        for (int k = 0; k < e->n && !known; k++)
            known = !strcmp(e->rows[k].topic, topic) && !strcmp(e->rows[k].key, row->key);
        if (known)
            continue;
        int empty = 1;
        for (int k = 0; proto && k < proto->nf; k++) {
            if (proto->f[k].kind != V_INT)
                continue;
            int ok;
            int64_t v = get_i64(row->json, proto->f[k].name, &ok);
            if (ok && v != 0) {
                empty = 0;
                char got[32];
                snprintf(got, sizeof(got), "%lld", (long long)v);
                mismatch(rep, topic, row->key, proto->f[k].name, "0 (row not expected)", got);
            }
        }
        extra_empty += empty;
    }
    fprintf(stderr,
            "%-24s expected rows %5d, stage rows %5d (newest of %lld messages), matched %5d, "
            "extra empty rows %3d, mismatches %lld\n",
            read_as, nexp, t.n, (long long)t.messages, matched, extra_empty,
            (long long)(rep->mismatches - before));
    ltv_table_free(&t);
    return nexp;
}

static int count_rows(const expected_t *e, const char *topic, const char *key_suffix) {
    int n = 0;
    for (int i = 0; i < e->n; i++) {
        if (strcmp(e->rows[i].topic, topic))
            continue;
        size_t kl = strlen(e->rows[i].key), sl = key_suffix ? strlen(key_suffix) : 0;
        if (!key_suffix || (kl >= sl && !strcmp(e->rows[i].key + kl - sl, key_suffix)))
            n++;
    }
    return n;
}

/* Runs the oracle over the dump (args: "" or "--to T") into path. */
static void oracle_run(const char *args, const char *path, expected_t *e) {
    char cmd[1600];
    snprintf(cmd, sizeof(cmd), "python3 '%s/tests/oracle.py' %s '%s' > '%s'", LTV_SOURCE_DIR,
             args, dump_path, path);
    if (system(cmd) != 0)
        fail_msg("oracle failed: %s", cmd);
    expected_load(e, path);
    assert_true(e->n > 0 && !strcmp(e->rows[0].topic, "_meta"));
}

static int64_t meta_i64(const expected_t *e, const char *name) {
    const field_t *f = efield(&e->rows[0], name);
    assert_non_null(f);
    return strtoll(f->text, NULL, 10);
}

/* Every output topic, read under `prefix`, against the oracle's rows; fails
 * the test on any difference. */
static void compare_all(expected_t *e, const char *prefix, const char *path) {
    const field_t *clk = efield(&e->rows[0], "clock_day");
    assert_non_null(clk);
    char want_wm[64];
    ltv_ts_format(meta_i64(e, "watermark_ms"), want_wm);
    fprintf(stderr, "oracle: %d rows, clock day %s, watermark %s\n", e->n - 1, clk->text,
            want_wm);
    report_t rep = {0, 0};
    int64_t rates = 0;
    char max_wm[64] = "";
    for (int i = 0; i < NTOPICS; i++)
        compare_topic(e, topics[i], prefix, &rep, &rates, max_wm, sizeof(max_wm));
    fprintf(stderr, "rates checked: %lld\n", (long long)rates);
    /* The rows that turned final at the end carry the final watermark. */
    if (strcmp(max_wm, want_wm))
        mismatch(&rep, "(all)", "-", "watermark (newest)", want_wm, max_wm);
    if (rep.mismatches) {
        if (rep.shown > SHOW_MAX)
            fprintf(stderr, "  ... %lld mismatches in all (first %d shown)\n",
                    (long long)rep.mismatches, SHOW_MAX);
        fprintf(stderr, "dump: %s, expected rows: %s (LTV_KEEP_TEST_DIR=1 keeps them)\n",
                dump_path, path);
        fail_msg("%lld fields differ from the oracle", (long long)rep.mismatches);
    }
}

static void final_rows_equal_oracle(void **state) {
    int64_t t0 = ltv_mono_us();
    /* Small batches: the clock moves through the stream, so late events
     * correct rows already emitted (and final), recency ticks happen
     * mid-stream and rolling rows are withheld, then released. */
    const char *x[] = {"batch.max.events=300", NULL};
    h_stage_run_to_end(H, NS, x);
    assert_int_equal(h_stored_offsets(H, NS), h_input_end(H));
    int64_t t1 = ltv_mono_us();

    expected_t e;
    oracle_run("", expected_path, &e);
    int64_t t2 = ltv_mono_us();

    /* The stream is rich enough for every kind of row to matter. */
    assert_true(count_rows(&e, "ltv.f2_rate", "|all") >= 60);
    assert_true(count_rows(&e, "ltv.f2_rate", NULL) >= 300);
    assert_true(count_rows(&e, "ltv.f2_rolling", NULL) >= 100);
    assert_true(count_rows(&e, "ltv.retention_mix", "|30d") >= 60);
    assert_true(count_rows(&e, "ltv.rfm_segments", NULL) >= 60);
    assert_true(count_rows(&e, "ltv.customer_rfm", NULL) >= 1000);

    compare_all(&e, "", expected_path);
    fprintf(stderr, "times: stage %.1f s, oracle %.1f s, compare %.1f s\n",
            (double)(t1 - t0) / 1e6, (double)(t2 - t1) / 1e6,
            (double)(ltv_mono_us() - t2) / 1e6);
    expected_free(&e);
}

/* A backfill --to T holds the rows as they were known at T: equal to the
 * oracle over only the events that arrived before T (message timestamps are
 * arrival times), not to the full stream's. */
static void asof_backfill_rows_equal_oracle_cut(void **state) {
    (void)state;
    const char *iso = "2025-02-15T00:00:00Z";
    int64_t t = h_ts(iso);
    const char *cmd[] = {"backfill",      "--namespace", "asof", "--no-progress", "--to", iso,
                         "--output-prefix", "asof.",     NULL};
    const char *x[] = {"batch.max.events=300", NULL};
    pid_t pid = h_cmd_start(H, cmd, "asof", x);
    assert_int_equal(h_stage_wait(pid, 120000), 0);

    char args[64], path[400];
    snprintf(args, sizeof(args), "--to %lld", (long long)t);
    snprintf(path, sizeof(path), "%s/expected-asof.jsonl", H->dir);
    expected_t e, full;
    oracle_run(args, path, &e);
    expected_load(&full, expected_path);
    /* A real cut: late data is after T, the clock before it, and the rows
     * (cohorts, segments) differ from the full stream's. */
    assert_true(meta_i64(&e, "max_ts") < t);
    assert_true(meta_i64(&e, "watermark_ms") < meta_i64(&full, "watermark_ms"));
    assert_true(count_rows(&e, "ltv.f2_rate", "|all") >= 30);
    assert_true(count_rows(&e, "ltv.rfm_segments", NULL) >= 30);
    assert_true(count_rows(&e, "ltv.customer_rfm", NULL) >= 500);
    assert_true(count_rows(&e, "ltv.f2_rate", NULL) < count_rows(&full, "ltv.f2_rate", NULL));
    expected_free(&full);

    compare_all(&e, "asof.", path);
    expected_free(&e);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(final_rows_equal_oracle),
        cmocka_unit_test(asof_backfill_rows_equal_oracle_cut),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
