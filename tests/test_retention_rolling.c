/*
 * Rolling retention-mix rows (SPEC §5.2, agg "retention_mix", dims "7d"
 * and "30d"; the daily row has dim ""): the row of day t covers days
 * t-w+1 .. t.
 *
 *   - distinct customers (visitors) are counted once per window however
 *     many orders (visits) they have in it: a per-customer contribution;
 *   - additive fields (orders, new/returning orders, revenue, new/returning
 *     revenue, new_customers, visits, new_visitors, the 3-day revisits)
 *     are sums of the daily rows over the window, derived from the daily
 *     deltas by the batch;
 *   - rendered returning_customers = customers - new_customers and
 *     returning_visitors = visitors - new_visitors for rolling rows;
 *   - a daily row is shown at once, a rolling row from the start of its day;
 *   - the maturity stage by orders per day (SPEC §1).
 *
 * Day d below is T0 + d days (day 0 = 2024-05-01, day 3 = 2024-05-04 ...).
 */
#include "tc_helpers.h"

#define RM "retention_mix"

/* aggregators/agg_retention_mix.c (no header declares it). */
void ltv_maturity(double orders_per_day, const char **stage, double *share);

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

static ltv_event_t order(const char *cust, const char *oid, int64_t ts, int64_t amount) {
    return mk_purchase(cust, oid, oid, LTV_PT_ORDER, ts, amount, NULL, NULL);
}

#define V(ds, d, dim, field) tc_val(t.aggs, (ds), RM, DAY0 + (d), (dim), (field))

/* The example of the brief: one customer, orders on days 1 and 3. */
static void test_distinct_customer_once_per_window(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_customer_t *a = ltv_customer_new(LTV_ENT_CUSTOMER, "A", 1);
    ltv_deltas_t *acc = ltv_deltas_new();

    tracker_apply(&t, a, order("A", "a1", at(1, 10, 0), 1000));
    tc_acc_add(acc, t.ds);
    /* One order day (1): 7d rows 1..7, 30d rows 1..30. */
    assert_int_equal(V(t.ds, 0, "7d", "customers"), 0);
    assert_int_equal(V(t.ds, 1, "7d", "customers"), 1);
    assert_int_equal(V(t.ds, 7, "7d", "customers"), 1);
    assert_int_equal(V(t.ds, 8, "7d", "customers"), 0);
    assert_int_equal(V(t.ds, 30, "30d", "customers"), 1);
    assert_int_equal(V(t.ds, 31, "30d", "customers"), 0);

    tracker_apply(&t, a, order("A", "a2", at(3, 10, 0), 500));
    tc_acc_add(acc, t.ds);
    /* The second order day (3) adds the customer only to windows that did
     * not hold day 1: 7d rows 8 and 9 (windows 2..8, 3..9), 30d rows 31, 32. */
    for (int d = -2; d <= 40; d++) {
        assert_int_equal(V(t.ds, d, "7d", "customers"), d == 8 || d == 9);
        assert_int_equal(V(t.ds, d, "30d", "customers"), d == 31 || d == 32);
    }
    /* Accumulated: day 5 (window -1..5) holds both orders, one customer;
     * day 9 (3..9) one; day 10 (4..10) none. */
    assert_int_equal(V(acc, 0, "7d", "customers"), 0);
    assert_int_equal(V(acc, 1, "7d", "customers"), 1);
    assert_int_equal(V(acc, 3, "7d", "customers"), 1);
    assert_int_equal(V(acc, 5, "7d", "customers"), 1);
    assert_int_equal(V(acc, 9, "7d", "customers"), 1);
    assert_int_equal(V(acc, 10, "7d", "customers"), 0);
    /* 30d: rows 1..32 (window of 32: 3..32); 33 (4..33) none. */
    assert_int_equal(V(acc, 32, "30d", "customers"), 1);
    assert_int_equal(V(acc, 33, "30d", "customers"), 0);
    /* The daily rows: one customer on day 1 and on day 3. */
    assert_int_equal(V(acc, 1, "", "customers"), 1);
    assert_int_equal(V(acc, 2, "", "customers"), 0);
    assert_int_equal(V(acc, 3, "", "customers"), 1);

    /* A late order on day 2, between the two: every window with day 2 holds
     * day 1 or day 3 already, so no rolling customer count changes. */
    tracker_apply(&t, a, order("A", "a0", at(2, 10, 0), 700));
    for (int d = -2; d <= 40; d++) {
        assert_int_equal(V(t.ds, d, "7d", "customers"), 0);
        assert_int_equal(V(t.ds, d, "30d", "customers"), 0);
    }
    assert_int_equal(V(t.ds, 2, "", "customers"), 1);

    ltv_deltas_destroy(acc);
    ltv_customer_destroy(a);
    tracker_free(&t);
}

/* The fixture below, in one batch (so the additive fields are derived):
 *   A: visits on days 0 and 2; orders a1 day 1 (1000), a2 day 3 (500)
 *   B: orders b1 day 3 (2000), b2 day 12 (300)
 *   V (anonymous): two page views on day 2, one on day 20
 * Daily rows, by hand:
 *   day 0:  visits 1, visitors 1, new_visitors 1, revisited_3d 1 (A back on day 2)
 *   day 1:  orders 1 (new), revenue 1000 (new), customers 1 (new)
 *   day 2:  visits 3, visitors 2, new_visitors 1 (V), returning_visitors 1 (A)
 *           (V's next visit day is 20: 18 > 3, not revisited)
 *   day 3:  orders 2 (b1 new, a2 returning), revenue 2500 (2000 new, 500
 *           returning), customers 2 (B new, A returning)
 *   day 12: orders 1 (returning), revenue 300, customers 1 (returning)
 *   day 20: visits 1, visitors 1 (returning) */
static ltv_deltas_t *run_fixture(tracker_t *t, tc_pipe_t *p) {
    ltv_event_t evs[] = {
        mk_visit("A", "vA", "A-v0", at(0, 9, 0)),
        order("A", "a1", at(1, 10, 0), 1000),
        mk_visit("A", "vA", "A-v2", at(2, 9, 0)),
        order("A", "a2", at(3, 10, 0), 500),
        order("B", "b1", at(3, 12, 0), 2000),
        order("B", "b2", at(12, 12, 0), 300),
        mk_visit(NULL, "anonV", "V-1", at(2, 8, 0)),
        mk_visit(NULL, "anonV", "V-2", at(2, 20, 0)),
        mk_visit(NULL, "anonV", "V-3", at(20, 8, 0)),
    };
    tc_pipe_init(p, t);
    ltv_deltas_t *acc = ltv_deltas_new();
    tc_pipe_run(p, evs, (int)(sizeof(evs) / sizeof(evs[0])), acc);
    return acc;
}

static void test_daily_rows_of_fixture(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    assert_int_equal(V(acc, 0, "", "visits"), 1);
    assert_int_equal(V(acc, 0, "", "new_visitors_revisited_3d"), 1);
    assert_int_equal(V(acc, 1, "", "new_orders"), 1);
    assert_int_equal(V(acc, 2, "", "visits"), 3);
    assert_int_equal(V(acc, 2, "", "visitors"), 2);
    assert_int_equal(V(acc, 2, "", "new_visitors"), 1);
    assert_int_equal(V(acc, 2, "", "returning_visitors"), 1);
    assert_int_equal(V(acc, 2, "", "new_visitors_revisited_3d"), 0);
    assert_int_equal(V(acc, 3, "", "orders"), 2);
    assert_int_equal(V(acc, 3, "", "revenue"), 2500);
    assert_int_equal(V(acc, 3, "", "new_customers"), 1);
    assert_int_equal(V(acc, 3, "", "returning_customers"), 1);
    assert_int_equal(V(acc, 12, "", "returning_revenue"), 300);
    assert_int_equal(V(acc, 20, "", "returning_visitors"), 1);
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

typedef struct want_s {
    int day;
    int64_t orders, new_orders, ret_orders, revenue, new_rev, ret_rev;
    int64_t customers, new_customers;
    int64_t visits, visitors, new_visitors, revisited;
} want_t;

static void check_want(tracker_t *tp, const ltv_deltas_t *acc, const char *dim, const want_t *w) {
    tracker_t t = *tp;
    const char *f[] = {"orders",    "new_orders",    "returning_orders",
                       "revenue",   "new_revenue",   "returning_revenue",
                       "customers", "new_customers", "visits",
                       "visitors",  "new_visitors",  "new_visitors_revisited_3d"};
    const int64_t v[] = {w->orders,    w->new_orders,    w->ret_orders, w->revenue,
                         w->new_rev,   w->ret_rev,       w->customers,  w->new_customers,
                         w->visits,    w->visitors,      w->new_visitors, w->revisited};
    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        int64_t got = V(acc, w->day, dim, f[i]);
        if (got != v[i])
            fail_msg("%s row of day %d: %s = %lld, want %lld", dim, w->day, f[i], (long long)got,
                     (long long)v[i]);
    }
}

static void test_rolling_7d_rows_by_hand(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    /* day: orders new ret, revenue new ret, customers new, visits visitors new revisited */
    static const want_t w7[] = {
        /* window -6..0: A's first visit. */
        {0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1},
        /* -5..1: + a1. */
        {1, 1, 1, 0, 1000, 1000, 0, 1, 1, 1, 1, 1, 1},
        /* -3..3: days 0..3 all in: 3 orders (a1, b1 new; a2 returning),
         * 3500 = 1000 + 2000 new + 500 returning; customers A, B both new in
         * the window; visits 1 + 3, visitors A, V both new in it. */
        {3, 3, 2, 1, 3500, 3000, 500, 2, 2, 4, 2, 2, 1},
        /* -1..5 and 0..6: the same. */
        {5, 3, 2, 1, 3500, 3000, 500, 2, 2, 4, 2, 2, 1},
        {6, 3, 2, 1, 3500, 3000, 500, 2, 2, 4, 2, 2, 1},
        /* 1..7: day 0 out: A's first visit (and its revisit) leave; A still
         * visited on day 2, as a returning visitor. */
        {7, 3, 2, 1, 3500, 3000, 500, 2, 2, 3, 2, 1, 0},
        /* 2..8: day 1 out: a1 and A's newness leave; A still buys on day 3. */
        {8, 2, 1, 1, 2500, 2000, 500, 2, 1, 3, 2, 1, 0},
        /* 3..9: day 2 out: no visits. */
        {9, 2, 1, 1, 2500, 2000, 500, 2, 1, 0, 0, 0, 0},
        /* 4..10: nothing. */
        {10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        /* 6..12: b2. */
        {12, 1, 0, 1, 300, 0, 300, 1, 0, 0, 0, 0, 0},
        /* 12..18: b2; 13..19: nothing. */
        {18, 1, 0, 1, 300, 0, 300, 1, 0, 0, 0, 0, 0},
        {19, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
        /* 14..20 and 20..26: V's returning visit; 21..27: nothing. */
        {20, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
        {26, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
        {27, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(w7) / sizeof(w7[0]); i++)
        check_want(&t, acc, "7d", &w7[i]);
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

static void test_rolling_30d_rows_by_hand(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    static const want_t w30[] = {
        /* 0..29: everything: orders a1 a2 b1 b2 (a1, b1 new), revenue
         * 1000 + 500 + 2000 + 300 = 3800 (3000 new, 800 returning); visits
         * 1 + 3 + 1 = 5, visitors A and V, both new. */
        {29, 4, 2, 2, 3800, 3000, 800, 2, 2, 5, 2, 2, 1},
        /* 1..30: day 0 out: A's first visit. */
        {30, 4, 2, 2, 3800, 3000, 800, 2, 2, 4, 2, 1, 0},
        /* 2..31: a1 out (A no longer new; still buys on day 3). */
        {31, 3, 1, 2, 2800, 2000, 800, 2, 1, 4, 2, 1, 0},
        /* 3..32: day 2 out: only V's day-20 visit, returning. */
        {32, 3, 1, 2, 2800, 2000, 800, 2, 1, 1, 1, 0, 0},
        /* 4..33: day 3 out: b2 only. */
        {33, 1, 0, 1, 300, 0, 300, 1, 0, 1, 1, 0, 0},
        /* 12..41: b2 and V's visit; 13..42: V's visit; 21..50: nothing. */
        {41, 1, 0, 1, 300, 0, 300, 1, 0, 1, 1, 0, 0},
        {42, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
        {49, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0, 0},
        {50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
    };
    for (size_t i = 0; i < sizeof(w30) / sizeof(w30[0]); i++)
        check_want(&t, acc, "30d", &w30[i]);
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

/* Every additive field of every rolling row equals the sum of the daily
 * rows over its window (the definition, checked on all days around the
 * fixture). */
static void test_additive_fields_are_window_sums(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    const char *additive[] = {"orders",        "new_orders",   "returning_orders",
                              "revenue",       "new_revenue",  "returning_revenue",
                              "new_customers", "visits",       "new_visitors",
                              "new_visitors_revisited_3d"};
    const char *dims[] = {"7d", "30d"};
    const int w[] = {7, 30};
    for (int k = 0; k < 2; k++)
        for (int d = -5; d <= 60; d++)
            for (size_t f = 0; f < sizeof(additive) / sizeof(additive[0]); f++) {
                int64_t sum = 0;
                for (int e = d - w[k] + 1; e <= d; e++)
                    sum += V(acc, e, "", additive[f]);
                if (V(acc, d, dims[k], additive[f]) != sum)
                    fail_msg("%s row of day %d: %s = %lld, window sum %lld", dims[k], d,
                             additive[f], (long long)V(acc, d, dims[k], additive[f]),
                             (long long)sum);
            }
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

/* A cancelled first order, in a later batch: A becomes new on day 3; the
 * rolling rows are corrected by the batch's deltas. */
static void test_late_cancel_corrects_rolling_rows(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    ltv_event_t cancel = mk_purchase("A", "a1-cancel", "a1", LTV_PT_CANCEL, at(4, 0, 0), 0, NULL,
                                     NULL);
    ltv_deltas_t *ds = tc_pipe_run(&p, &cancel, 1, acc);
    /* Daily: day 1 loses a1 (new, 1000) and A; on day 3 a2 becomes A's first
     * order: new_orders +1, returning_orders -1, new_revenue +500,
     * returning_revenue -500, new_customers +1, returning_customers -1. */
    assert_int_equal(V(ds, 1, "", "orders"), -1);
    assert_int_equal(V(ds, 1, "", "new_customers"), -1);
    assert_int_equal(V(ds, 3, "", "new_orders"), 1);
    assert_int_equal(V(ds, 3, "", "returning_orders"), -1);
    assert_int_equal(V(ds, 3, "", "new_revenue"), 500);
    assert_int_equal(V(ds, 3, "", "returning_revenue"), -500);
    /* 7d orders: -1 on rows 1..7 (windows holding day 1). */
    for (int d = -1; d <= 12; d++)
        assert_int_equal(V(ds, d, "7d", "orders"), d >= 1 && d <= 7 ? -1 : 0);
    /* 7d new_customers: -1 on 1..7, +1 on 3..9: -1 on 1, 2; +1 on 8, 9. */
    for (int d = -1; d <= 12; d++)
        assert_int_equal(V(ds, d, "7d", "new_customers"),
                         d == 1 || d == 2 ? -1 : d == 8 || d == 9 ? 1 : 0);
    /* 7d distinct customers: A's order days {1, 3} -> {3}: windows 1..9 ->
     * 3..9, so -1 on rows 1 and 2 only. */
    for (int d = -1; d <= 12; d++)
        assert_int_equal(V(ds, d, "7d", "customers"), d == 1 || d == 2 ? -1 : 0);
    /* Accumulated, row 8 (window 2..8): customers A and B, both new now. */
    assert_int_equal(V(acc, 8, "7d", "customers"), 2);
    assert_int_equal(V(acc, 8, "7d", "new_customers"), 2);
    assert_int_equal(V(acc, 8, "7d", "new_orders"), 2);
    assert_int_equal(V(acc, 8, "7d", "returning_orders"), 0);
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

static void test_render_rolling_rows(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    ltv_deltas_t *acc = run_fixture(&t, &p);
    ltv_agg_t *rm = ltv_aggs_find(t.aggs, RM);
    ltv_out_t o;
    ltv_out_init(&o);

    /* 7d row of day 3 (2024-05-04), window -3..3. */
    ltv_row_t row = tc_row(t.aggs, acc, RM, DAY0 + 3, "7d");
    row.version = 4;
    tc_render(rm, &row, INT64_MIN, &o);
    assert_string_equal(tc_key(&o), "2024-05-04|7d");
    tc_expect_str(&o, "day", "2024-05-04");
    tc_expect_str(&o, "window", "7d");
    /* End: start of 05-05 = T0 + 4 d; start: 7 days earlier = T0 - 3 d. */
    tc_expect_i64(&o, "window_end", T0 + 4 * DAY_MS);
    tc_expect_i64(&o, "window_start", T0 - 3 * DAY_MS);
    tc_expect_i64(&o, "customers", 2);
    tc_expect_i64(&o, "new_customers", 2);
    tc_expect_i64(&o, "returning_customers", 0); /* 2 - 2 */
    tc_expect_i64(&o, "visitors", 2);
    tc_expect_i64(&o, "new_visitors", 2);
    tc_expect_i64(&o, "returning_visitors", 0); /* 2 - 2 */
    tc_expect_f64(&o, "returning_order_share", 1.0 / 3.0);        /* 1 / 3 */
    tc_expect_f64(&o, "returning_revenue_share", 500.0 / 3500.0); /* 1 / 7 */
    tc_expect_f64(&o, "returning_customer_share", 0.0);           /* 0 / 2 */
    tc_expect_f64(&o, "new_visitor_revisit_rate_3d", 0.5);        /* 1 / 2 */
    tc_expect_f64(&o, "orders_per_day", 3.0 / 7.0);
    tc_expect_str(&o, "maturity_stage", "traction"); /* 0.43 < 1 a day */
    tc_expect_f64(&o, "suggested_retention_share", 0.15);
    tc_expect_i64(&o, "version", 4);

    /* 7d row of day 8 (window 2..8): customers A, B, new B: returning 1;
     * visitors A, V, new V: returning 1. */
    row = tc_row(t.aggs, acc, RM, DAY0 + 8, "7d");
    tc_render(rm, &row, INT64_MIN, &o);
    tc_expect_i64(&o, "returning_customers", 1);
    tc_expect_i64(&o, "returning_visitors", 1);
    tc_expect_f64(&o, "returning_customer_share", 0.5);

    /* The stored returning_* fields of a rolling row are not used (they are
     * not additive over days; the store has no value for them). */
    row = tc_row(t.aggs, NULL, RM, DAY0 + 8, "30d");
    row.v[field_index(rm, "customers")] = 5;
    row.v[field_index(rm, "new_customers")] = 2;
    row.v[field_index(rm, "returning_customers")] = 999;
    row.v[field_index(rm, "visitors")] = 7;
    row.v[field_index(rm, "new_visitors")] = 3;
    row.v[field_index(rm, "returning_visitors")] = -4;
    row.v[field_index(rm, "orders")] = 45;
    tc_render(rm, &row, INT64_MIN, &o);
    assert_string_equal(tc_key(&o), "2024-05-09|30d");
    tc_expect_i64(&o, "returning_customers", 3); /* 5 - 2 */
    tc_expect_i64(&o, "returning_visitors", 4);  /* 7 - 3 */
    /* 45 orders over 30 days: 1.5 a day: consistent, 30 %. */
    tc_expect_f64(&o, "orders_per_day", 1.5);
    tc_expect_str(&o, "maturity_stage", "consistent");
    tc_expect_f64(&o, "suggested_retention_share", 0.30);
    /* window 30 days: start of 05-10 (T0 + 9 d) minus 30 d. */
    tc_expect_i64(&o, "window_end", T0 + 9 * DAY_MS);
    tc_expect_i64(&o, "window_start", T0 - 21 * DAY_MS);

    /* The daily row of day 3 keeps its own counts. */
    row = tc_row(t.aggs, acc, RM, DAY0 + 3, "");
    tc_render(rm, &row, INT64_MIN, &o);
    assert_string_equal(tc_key(&o), "2024-05-04|1d");
    tc_expect_str(&o, "window", "1d");
    tc_expect_i64(&o, "window_start", T0 + 3 * DAY_MS);
    tc_expect_i64(&o, "window_end", T0 + 4 * DAY_MS);
    tc_expect_i64(&o, "customers", 2);
    tc_expect_i64(&o, "returning_customers", 1);
    tc_expect_f64(&o, "orders_per_day", 2.0);
    tc_expect_str(&o, "maturity_stage", "consistent");

    ltv_out_free(&o);
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

static void test_visible_from_and_final(void **state) {
    (void)state;
    const char *zones[2] = {NULL, "tz.offset=+09:00"};
    /* 2024-05-04 starts at T0 + 3 d in UTC, 9 h earlier in +09:00. */
    const int64_t start[2] = {T0 + 3 * DAY_MS, T0 + 3 * DAY_MS - 9 * HOUR_MS};
    for (int z = 0; z < 2; z++) {
        tracker_t t;
        const char *conf[] = {zones[z], NULL};
        tc_tracker_init(&t, zones[z] ? conf : NULL);
        ltv_agg_t *rm = ltv_aggs_find(t.aggs, RM);
        assert_non_null(rm->cls->visible_from);
        const char *dims[3] = {"", "7d", "30d"};
        for (int k = 0; k < 3; k++) {
            ltv_rowid_t id = {rm, DAY0 + 3, ltv_intern(t.aggs, dims[k], strlen(dims[k]))};
            int64_t vis = rm->cls->visible_from(rm, &id);
            /* Daily: shown at once; rolling: from the start of its day. */
            if (k == 0)
                assert_true(vis == INT64_MIN);
            else
                assert_true(vis == start[z]);
            /* Final 3 days after the end of the day (revisits of the
             * window's new visitors settle then). */
            int64_t ms[LTV_MAX_MILESTONES];
            assert_int_equal(rm->cls->milestones(rm, &id, ms), 1);
            assert_true(ms[0] == start[z] + DAY_MS + 3 * DAY_MS);
            ltv_row_t row = tc_row(t.aggs, NULL, RM, DAY0 + 3, dims[k]);
            ltv_out_t o;
            ltv_out_init(&o);
            tc_render(rm, &row, start[z] + 4 * DAY_MS - 1, &o);
            tc_expect_i64(&o, "final", 0);
            tc_render(rm, &row, start[z] + 4 * DAY_MS, &o);
            tc_expect_i64(&o, "final", 1);
            ltv_out_free(&o);
        }
        tracker_free(&t);
    }
}

static void test_maturity_stages(void **state) {
    (void)state;
    static const struct {
        double per_day;
        const char *stage;
        double share;
    } c[] = {
        {0.0, "launch", 0.0},          /* no sales */
        {1.0 / 30.0, "traction", 0.15}, /* one order in a month */
        {0.5, "traction", 0.15},
        {0.999, "traction", 0.15},
        {1.0, "consistent", 0.30},      /* one a day */
        {1.5, "consistent", 0.30},
        {4.999, "consistent", 0.30},
        {5.0, "established", 0.50},
        {10.0, "established", 0.50},    /* about ten a day */
        {10.001, "mature", 0.60},       /* more than ten a day */
        {250.0, "mature", 0.60},
    };
    for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
        const char *stage = NULL;
        double share = -1;
        ltv_maturity(c[i].per_day, &stage, &share);
        if (!stage || strcmp(stage, c[i].stage) || share != c[i].share)
            fail_msg("%.4f orders/day: %s %.2f, want %s %.2f", c[i].per_day,
                     stage ? stage : "(null)", share, c[i].stage, c[i].share);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_distinct_customer_once_per_window),
        cmocka_unit_test(test_daily_rows_of_fixture),
        cmocka_unit_test(test_rolling_7d_rows_by_hand),
        cmocka_unit_test(test_rolling_30d_rows_by_hand),
        cmocka_unit_test(test_additive_fields_are_window_sums),
        cmocka_unit_test(test_late_cancel_corrects_rolling_rows),
        cmocka_unit_test(test_render_rolling_rows),
        cmocka_unit_test(test_visible_from_and_final),
        cmocka_unit_test(test_maturity_stages),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
