/*
 * A batch ends exactly at batch.max.uncached events of customers not in
 * the cache, or at batch.max.events events, whichever comes first, and
 * where batches end does not change the result.
 *
 * The fixture, one partition per input topic, all produced before the
 * stages start (a backlog): 25 customers C00..C24 buy once, then each of
 * them buys again, then 25 new customers D00..D24 buy once. 75 events.
 *
 * Worked out by hand:
 *   - "unc": batch.max.uncached=25, batch.max.events=1000. Batch 1 takes
 *     C's 25 first orders, none cached: 25 uncached, the bound. Batch 2
 *     takes C's second orders (the C's were loaded into the cache by
 *     batch 1: 0 uncached), then the 25 D orders: 25 uncached, the bound.
 *     Largest batch: 50 events, 25 uncached. (With the bound checked only
 *     between takes, the first take held all 75 messages, every one
 *     uncached.)
 *   - "evt": batch.max.events=20, batch.max.uncached=1000. Batches of 20,
 *     20, 20, 15; the first holds 20 uncached (nobody is cached yet).
 *   - "one": both bounds above 75: the whole backlog in batches as the
 *     broker hands it over; the reference. Its last batch, like "evt"'s
 *     batch of 15, ends when the input is read to its end, well before
 *     batch.max.ms (30 s).
 *   - Each C ends with frequency 2, each D with 1, in every namespace, and
 *     the three namespaces hold the same state and the same rows in every
 *     table three days fill.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static h_env_t *H;

static const char *const topics_unc[] = {H_X_TOPICS("unc"), NULL};
static const char *const topics_evt[] = {H_X_TOPICS("evt"), NULL};
static const char *const topics_one[] = {H_X_TOPICS("one"), NULL};

static void run(const char *ns, const char *const *topics, const char *events,
                const char *uncached, const char *stats_path) {
    char ev[64], unc[64], stats[600];
    snprintf(ev, sizeof(ev), "batch.max.events=%s", events);
    snprintf(unc, sizeof(unc), "batch.max.uncached=%s", uncached);
    snprintf(stats, sizeof(stats), "run.stats.file=%s", stats_path);
    /* A long batch.max.ms: the size bounds, or the end of the input, not
     * time, end these batches. */
    const char *x[24] = {ev, unc, stats, "batch.max.ms=30000"};
    int n = 4;
    for (const char *const *t = topics; *t; t++)
        x[n++] = *t;
    x[n] = NULL;
    h_stage_run_to_end(H, ns, x);
}

static int64_t frequency_of(const ltv_table_t *t, const char *customer) {
    char v[32];
    const ltv_table_row_t *r = ltv_table_get(t, customer);
    if (!r || ltv_json_field(r->json, "frequency", v, sizeof(v)))
        fail_msg("no frequency for %s", customer);
    return atoll(v);
}

static void batches_end_at_either_bound(void **state) {
    (void)state;
    H = h_start(1, 0);
    char c[25][8], d[25][8], eid[75][16], oid[75][16], iso[75][32];
    ltv_event_t ev[75];
    for (int i = 0; i < 25; i++) {
        snprintf(c[i], sizeof(c[i]), "C%02d", i);
        snprintf(d[i], sizeof(d[i]), "D%02d", i);
    }
    for (int k = 0; k < 75; k++) {
        const char *cust = k < 50 ? c[k % 25] : d[k - 50];
        snprintf(eid[k], sizeof(eid[k]), "e-%d", k);
        snprintf(oid[k], sizeof(oid[k]), "o-%d", k);
        snprintf(iso[k], sizeof(iso[k]), "2025-03-%02dT10:%02d:00", 1 + k / 25, k % 25);
        ev[k] = h_order(eid[k], cust, oid[k], iso[k], 3000, "email", NULL);
    }
    h_produce(H, ev, 75);

    char sp[3][512];
    snprintf(sp[0], sizeof(sp[0]), "%s/unc.stats.json", H->dir);
    snprintf(sp[1], sizeof(sp[1]), "%s/evt.stats.json", H->dir);
    snprintf(sp[2], sizeof(sp[2]), "%s/one.stats.json", H->dir);
    run("unc", topics_unc, "1000", "25", sp[0]);
    run("evt", topics_evt, "20", "1000", sp[1]);
    run("one", topics_one, "1000", "1000", sp[2]);

    for (int k = 0; k < 3; k++) {
        assert_int_equal(h_stat_i64(sp[k], "consumed"), 75);
        assert_int_equal(h_stat_i64(sp[k], "applied"), 75);
    }
    assert_int_equal(h_stat_i64(sp[0], "batch_events_max"), 50);
    assert_int_equal(h_stat_i64(sp[0], "batch_uncached_max"), 25);
    assert_int_equal(h_stat_i64(sp[1], "batch_events_max"), 20);
    assert_int_equal(h_stat_i64(sp[1], "batch_uncached_max"), 20);
    /* A batch that reaches neither bound ends when the input is read to
     * its end offsets, not 30 s (batch.max.ms) after it began: "one" read
     * all 75 events so, and "evt" its last 15. "seconds" runs from the
     * first message to the last commit. */
    assert_true(h_stat_i64(sp[1], "seconds") < 10);
    assert_true(h_stat_i64(sp[2], "seconds") < 10);

    static const char *const ns[3] = {"unc", "evt", "one"};
    for (int k = 0; k < 3; k++) {
        char topic[64];
        snprintf(topic, sizeof(topic), "%s.customer_rfm", ns[k]);
        ltv_table_t t;
        h_read_table(H, topic, &t);
        for (int i = 0; i < 25; i++) {
            assert_int_equal(frequency_of(&t, c[i]), 2);
            assert_int_equal(frequency_of(&t, d[i]), 1);
        }
        ltv_table_free(&t);
    }
    char *ref = h_dump_ns(H, "one");
    for (int k = 0; k < 2; k++) {
        char *dump = h_dump_ns(H, ns[k]);
        h_assert_same_dump(H, ref, dump, ns[k]);
        free(dump);
        /* The tables these three days fill (the rolling ones need
         * matured cohorts). */
        static const char *const rows[] = {"customer_rfm", "retention_mix", "rfm_segments",
                                           "f2_rate", "acquisition"};
        for (size_t r = 0; r < sizeof(rows) / sizeof(rows[0]); r++) {
            char a[64], b[64];
            snprintf(a, sizeof(a), "one.%s", rows[r]);
            snprintf(b, sizeof(b), "%s.%s", ns[k], rows[r]);
            h_assert_same_table(H, a, b);
        }
    }
    free(ref);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(batches_end_at_either_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
