/*
 * Recency ticks are bounded per batch (rfm.tick.max.customers): when the
 * clock jumps many days at once, the customers whose recency crossed an
 * edge are re-scored over several batches, none re-scoring more than the
 * bound, and the result is the one an unbounded stage reaches in one.
 *
 * The fixture. One partition per input topic, allowed.lateness.ms=0 and
 * watermark.idle.timeout.ms=0. Phase 1: customers C0..C9, C<i> buying once
 * (3000 minor units) on day D+i, and a visit on D+9; a run to the end
 * scores them at the clock's day D+9. Phase 2: customer Z buys on D+200
 * (and a visit then); a second run to the end moves the clock from D+9 to
 * D+200 in its first batch.
 *
 * Worked out by hand, with the default edges (rfm.r.days 14,30,60,120):
 *   - C<i> crosses an edge on days L+15, L+31, L+61 and L+121 (L = D+i),
 *     all after D+9 and by D+130 < D+200: 40 crossings on 40 distinct
 *     days, so 40 re-scores in either run.
 *   - With rfm.tick.max.customers=1, no batch re-scores more than 1.
 *   - At D+200 every C<i> has recency 200-i > 120: R=1, F=1 (one order),
 *     M=1 (3000 < 5000), segment lost (lost:1:1), R=1 since L+121. Each is
 *     re-scored at the clock's day, so phase 2 emits exactly one new
 *     ltv.customer_rfm record per C<i>, in the bounded run too: its later
 *     crossings find the scores already there and change nothing.
 *   - Z, and Y (an order on D+200 too): R=5 (0 days), F=1: new_customer.
 * Both namespaces end with the same state and the same output tables.
 * Phase 3 (below) bounds a partition's first pass the same way.
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

static const char *const ids[10] = {"C0", "C1", "C2", "C3", "C4",
                                    "C5", "C6", "C7", "C8", "C9"};

static const char *const topics_unb[] = {H_X_TOPICS("unb"), NULL};
static const char *const topics_bnd[] = {H_X_TOPICS("bnd"), NULL};

/* Runs ns ("unb" or "bnd") to the end of the input with the given bound. */
static void run(const char *ns, const char *limit, const char *stats_path) {
    char lim[64], stats[600];
    snprintf(lim, sizeof(lim), "rfm.tick.max.customers=%s", limit);
    snprintf(stats, sizeof(stats), "run.stats.file=%s", stats_path);
    const char *x[24] = {"allowed.lateness.ms=0", "watermark.idle.timeout.ms=0", lim, stats};
    int n = 4;
    for (const char *const *t = strcmp(ns, "unb") ? topics_bnd : topics_unb; *t; t++)
        x[n++] = *t;
    x[n] = NULL;
    h_stage_run_to_end(H, ns, x);
}

/* Records per key in topic (all versions). */
static int records_of(const char *topic, const char *key) {
    h_msg_t *m;
    int n = h_read_topic(H, topic, &m), c = 0;
    for (int i = 0; i < n; i++)
        c += m[i].key && !strcmp(m[i].key, key);
    h_msgs_free(m, n);
    return c;
}

static void newest(const char *topic, const char *key, const char *field, char *out,
                   size_t n) {
    ltv_table_t t;
    h_read_table(H, topic, &t);
    const ltv_table_row_t *r = ltv_table_get(&t, key);
    if (!r || ltv_json_field(r->json, field, out, n))
        fail_msg("%s: no %s for %s", topic, field, key);
    ltv_table_free(&t);
}

/* The day ns's purchases partition has scored its customers at. */
static void assert_rfm_day(const char *ns, int64_t day) {
    char key[64], want[32];
    snprintf(key, sizeof(key), "%s:off:ltv.purchases:0", ns);
    snprintf(want, sizeof(want), "%lld", (long long)day);
    char *d = h_hget(H, key, "rfm_day");
    assert_non_null(d);
    assert_string_equal(d, want);
    free(d);
}

static void bounded_catch_up_equals_unbounded(void **state) {
    (void)state;
    H = h_start(1, 0);
    int64_t D;
    ltv_day_parse("2025-03-01", &D);

    /* Phase 1. */
    char iso[10][32], eid[10][16], oid[10][16];
    ltv_event_t ev[11];
    for (int i = 0; i < 10; i++) {
        snprintf(iso[i], sizeof(iso[i]), "2025-03-%02dT10:00:00", 1 + i);
        snprintf(eid[i], sizeof(eid[i]), "e-%d", i);
        snprintf(oid[i], sizeof(oid[i]), "o-%d", i);
        ev[i] = h_order(eid[i], ids[i], oid[i], iso[i], 3000, "email", NULL);
    }
    ev[10] = h_visit("v-1", "C9", "vis-9", "2025-03-10T10:00:00");
    h_produce(H, ev, 11);
    char sp[4][512];
    const char *ns[2] = {"unb", "bnd"};
    for (int k = 0; k < 2; k++) {
        snprintf(sp[k], sizeof(sp[k]), "%s/%s.1.stats.json", H->dir, ns[k]);
        run(ns[k], k ? "1" : "0", sp[k]);
    }
    int before[2][10];
    for (int k = 0; k < 2; k++) {
        char topic[64];
        snprintf(topic, sizeof(topic), "%s.customer_rfm", ns[k]);
        for (int i = 0; i < 10; i++) {
            before[k][i] = records_of(topic, ids[i]);
            assert_true(before[k][i] >= 1);
        }
    }

    /* Phase 2: D+200 is 2025-09-17. */
    ltv_event_t ev2[] = {h_order("e-z", "Z", "o-z", "2025-09-17T10:00:00", 3000, "email", NULL),
                         h_visit("v-z", "Z", "vis-z", "2025-09-17T10:00:00"),
                         h_order("e-y", "Y", "o-y", "2025-09-17T11:00:00", 3000, "email", NULL)};
    h_produce(H, ev2, (int)(sizeof(ev2) / sizeof(ev2[0])));
    for (int k = 0; k < 2; k++) {
        snprintf(sp[2 + k], sizeof(sp[2 + k]), "%s/%s.2.stats.json", H->dir, ns[k]);
        run(ns[k], k ? "1" : "0", sp[2 + k]);
    }
    assert_int_equal(h_stat_i64(sp[2], "rescored"), 40);
    assert_int_equal(h_stat_i64(sp[3], "rescored"), 40);
    assert_int_equal(h_stat_i64(sp[3], "rescored_max_batch"), 1);

    for (int k = 0; k < 2; k++) {
        char topic[64], key[32], v[64], since[16];
        snprintf(topic, sizeof(topic), "%s.customer_rfm", ns[k]);
        for (int i = 0; i < 10; i++) {
            snprintf(key, sizeof(key), "%s:c:{%s}", ns[k], ids[i]);
            char *r = h_hget(H, key, "r"), *seg = h_hget(H, key, "segment");
            assert_non_null(r);
            assert_non_null(seg);
            assert_string_equal(r, "1");
            assert_string_equal(seg, "lost");
            free(r);
            free(seg);
            assert_int_equal(records_of(topic, ids[i]) - before[k][i], 1);
            newest(topic, ids[i], "r_score", v, sizeof(v));
            assert_string_equal(v, "1");
            newest(topic, ids[i], "segment", v, sizeof(v));
            assert_string_equal(v, "lost");
            newest(topic, ids[i], "r_score_since", v, sizeof(v));
            ltv_day_format(D + i + 121, since);
            assert_string_equal(v, since);
        }
        newest(topic, "Z", "segment", v, sizeof(v));
        assert_string_equal(v, "new_customer");
    }

    char *a = h_dump_ns(H, "unb");
    char *b = h_dump_ns(H, "bnd");
    h_assert_same_dump(H, a, b, "state");
    free(a);
    free(b);
    h_assert_same_tables(H, "unb", "bnd", 0);

    /* Phase 3: the purchases partition's rfm_day removed, as in a namespace
     * whose customers were applied before its clock was known. The next run
     * (no new events) makes a first pass over all 12 customers: unbounded
     * in one batch; with the bound of 1, one last-purchase day per batch,
     * so one customer a batch for C0..C9 and both of D+200's, Z and Y, in
     * one (a day is never split). Each is re-scored at D+200 to the scores
     * it has, and rfm_day comes back as D+200's day in both. */
    for (int k = 0; k < 2; k++) {
        assert_rfm_day(ns[k], D + 200);
        char key[64];
        snprintf(key, sizeof(key), "%s:off:ltv.purchases:0", ns[k]);
        redisReply *r = redisCommand(H->rc, "HDEL %s rfm_day", key);
        assert_non_null(r);
        assert_int_equal(r->integer, 1);
        freeReplyObject(r);
    }
    for (int k = 0; k < 2; k++) {
        char sp3[512];
        snprintf(sp3, sizeof(sp3), "%s/%s.3.stats.json", H->dir, ns[k]);
        run(ns[k], k ? "1" : "0", sp3);
        assert_int_equal(h_stat_i64(sp3, "rescored"), 12);
        assert_int_equal(h_stat_i64(sp3, "rescored_max_batch"), k ? 2 : 12);
        assert_rfm_day(ns[k], D + 200);
    }
    a = h_dump_ns(H, "unb");
    b = h_dump_ns(H, "bnd");
    h_assert_same_dump(H, a, b, "state after the first passes");
    free(a);
    free(b);
    h_assert_same_tables(H, "unb", "bnd", 0);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bounded_catch_up_equals_unbounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
