/*
 * Retention-mix rows (SPEC §5.2, agg "retention_mix"): per day, orders and
 * net revenue split into new (the customer's first active order) and
 * returning; distinct buying customers split into new (the day is their
 * first-purchase day) and returning; distinct visitors split into new
 * (their first visit day) and returning, with the 3-day revisit of new
 * visitors; page views (visits) counted once per applied visit event.
 */
#include "unit_fixtures.h"

#define RM "retention_mix"

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

/* Adds c's whole contribution to `total` (sum over customers = the rows). */
static void accumulate(tracker_t *t, ltv_deltas_t *total, const ltv_customer_t *c) {
    ltv_contribs_t none, cs;
    ltv_contribs_init(&none);
    ltv_contribs_init(&cs);
    ltv_aggs_contribute(t->aggs, c, LTV_FACET_ORDERS | LTV_FACET_VISITS, &cs);
    ltv_deltas_diff(total, &none, &cs);
    ltv_contribs_free(&cs);
    ltv_contribs_free(&none);
}

static ltv_customer_t *cust(const char *id) {
    return ltv_customer_new(LTV_ENT_CUSTOMER, id, strlen(id));
}

static void test_orders_revenue_customers_new_vs_returning(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_deltas_t *total = ltv_deltas_new();

    /* A: first purchase a1 on 05-01 (1000), a2 the same day (500). */
    ltv_customer_t *a = cust("A");
    apply(a, ev_order("a1", at(0, 10, 0), 1000, NULL, NULL));
    apply(a, ev_order("a2", at(0, 15, 0), 500, NULL, NULL));
    /* B: first purchase b1 on 04-20 (T0 - 11 d, 2000), b2 on 05-01 (3000). */
    ltv_customer_t *b = cust("B");
    apply(b, ev_order("b1", at(-11, 12, 0), 2000, NULL, NULL));
    apply(b, ev_order("b2", at(0, 12, 0), 3000, NULL, NULL));
    /* C: one order on 05-01 (700), refunded 200: net 500. */
    ltv_customer_t *c = cust("C");
    apply(c, ev_order("c1", at(0, 9, 0), 700, NULL, NULL));
    apply(c, ev_refund("c1", "r1", at(2, 0, 0), 200));

    accumulate(&t, total, a);
    accumulate(&t, total, b);
    accumulate(&t, total, c);

    const char *d = "2024-05-01";
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "orders"), 4);           /* a1 a2 b2 c1 */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "new_orders"), 2);       /* a1 c1 */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "returning_orders"), 2); /* a2 b2 */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "revenue"), 5000); /* 1000+500+3000+500 */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "new_revenue"), 1500);       /* 1000+500 */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "returning_revenue"), 3500); /* 500+3000 */
    /* Two orders of A on one day count one customer. */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "customers"), 3);       /* A B C */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "new_customers"), 2);   /* A C */
    assert_int_equal(delta_of(t.aggs, total, RM, d, "", "returning_customers"), 1); /* B */
    /* 04-20: B's first purchase. */
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-04-20", "", "orders"), 1);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-04-20", "", "new_revenue"), 2000);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-04-20", "", "new_customers"), 1);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-04-20", "", "returning_customers"), 0);
    /* No visits, no visitors. */
    assert_int_equal(field_total(t.aggs, total, RM, "visitors"), 0);

    /* Render the 05-01 row from these values: the shares, by hand. */
    ltv_agg_t *rm = ltv_aggs_find(t.aggs, RM);
    ltv_row_t row;
    memset(&row, 0, sizeof(row));
    row.id.agg = rm;
    row.id.day = day_num(d);
    row.id.dim = ltv_intern(t.aggs, "", 0);
    for (int i = 0; i < ltv_deltas_count(total); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(total, i);
        if (r->id.agg == rm && r->id.day == row.id.day && r->id.dim == row.id.dim)
            memcpy(row.v, r->d, sizeof(row.v));
    }
    row.version = 3;
    ltv_emit_info_t info = {.watermark = INT64_MIN};
    ltv_buf_t key, val;
    ltv_buf_init(&key);
    ltv_buf_init(&val);
    fx_render(rm, &row, &info, &key, &val);
    assert_string_equal(key.p, "2024-05-01|1d"); /* the daily window */
    assert_non_null(strstr(val.p, "\"returning_order_share\":0.500000"));    /* 2 / 4 */
    assert_non_null(strstr(val.p, "\"returning_revenue_share\":0.700000"));  /* 3500 / 5000 */
    assert_non_null(strstr(val.p, "\"returning_customer_share\":0.333333")); /* 1 / 3 */
    assert_non_null(strstr(val.p, "\"new_visitor_revisit_rate_3d\":null"));  /* 0 new visitors */
    assert_non_null(strstr(val.p, "\"orders\":4,"));
    assert_non_null(strstr(val.p, "\"revenue\":5000,"));
    ltv_buf_free(&key);
    ltv_buf_free(&val);

    ltv_customer_destroy(a);
    ltv_customer_destroy(b);
    ltv_customer_destroy(c);
    ltv_deltas_destroy(total);
    tracker_free(&t);
}

/* Revenue belongs to the order's day: a refund days later corrects that day. */
static void test_refund_lowers_revenue_on_order_day(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, NULL, NULL));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "revenue"), 1000);
    /* Refund on 05-05. */
    tracker_apply(&t, c, ev_refund("o1", "r1", at(4, 10, 0), 300));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "revenue"), -300);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_revenue"), -300);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "orders"), 0);
    assert_int_equal(td(&t, RM, "2024-05-05", "", "revenue"), 0);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, RM), 1);
    /* Over-refund: revenue stops at 0 (1000 - 300 - 900 < 0 -> 0): -700 more. */
    tracker_apply(&t, c, ev_refund("o1", "r2", at(5, 0, 0), 900));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "revenue"), -700);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* A late order earlier than the first flips the old first from new to returning. */
static void test_late_earlier_order_flips_new_to_returning(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(9, 10, 0), 1000, NULL, NULL)); /* 05-10 */
    assert_int_equal(td(&t, RM, "2024-05-10", "", "new_orders"), 1);
    assert_int_equal(td(&t, RM, "2024-05-10", "", "new_customers"), 1);

    tracker_apply(&t, c, ev_order("o0", at(2, 10, 0), 400, NULL, NULL)); /* 05-03, late */
    const char *d10 = "2024-05-10", *d3 = "2024-05-03";
    assert_int_equal(td(&t, RM, d10, "", "orders"), 0);
    assert_int_equal(td(&t, RM, d10, "", "revenue"), 0);
    assert_int_equal(td(&t, RM, d10, "", "new_orders"), -1);
    assert_int_equal(td(&t, RM, d10, "", "returning_orders"), 1);
    assert_int_equal(td(&t, RM, d10, "", "new_revenue"), -1000);
    assert_int_equal(td(&t, RM, d10, "", "returning_revenue"), 1000);
    assert_int_equal(td(&t, RM, d10, "", "customers"), 0);
    assert_int_equal(td(&t, RM, d10, "", "new_customers"), -1);
    assert_int_equal(td(&t, RM, d10, "", "returning_customers"), 1);
    assert_int_equal(td(&t, RM, d3, "", "orders"), 1);
    assert_int_equal(td(&t, RM, d3, "", "new_orders"), 1);
    assert_int_equal(td(&t, RM, d3, "", "revenue"), 400);
    assert_int_equal(td(&t, RM, d3, "", "new_revenue"), 400);
    assert_int_equal(td(&t, RM, d3, "", "customers"), 1);
    assert_int_equal(td(&t, RM, d3, "", "new_customers"), 1);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, RM), 2);

    /* Cancelling o0 flips o1 back to new. */
    tracker_apply(&t, c, ev_cancel("o0", at(11, 0, 0)));
    assert_int_equal(td(&t, RM, d10, "", "new_orders"), 1);
    assert_int_equal(td(&t, RM, d10, "", "returning_orders"), -1);
    assert_int_equal(td(&t, RM, d10, "", "new_customers"), 1);
    assert_int_equal(td(&t, RM, d3, "", "orders"), -1);
    assert_int_equal(td(&t, RM, d3, "", "revenue"), -400);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_visitors_new_returning_and_3_day_revisit(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_deltas_t *total = ltv_deltas_new();

    /* X: two visits on 05-01, one on 05-04 (first day + 3: counts as a revisit). */
    ltv_customer_t *x = cust("X");
    apply(x, ev_visit("x1", at(0, 10, 0)));
    apply(x, ev_visit("x2", at(0, 11, 0)));
    apply(x, ev_visit("x3", at(3, 23, 0)));
    /* Y: visits on 05-01 and 05-05 (first day + 4: not a 3-day revisit). */
    ltv_customer_t *y = cust("Y");
    apply(y, ev_visit("y1", at(0, 0, 0)));
    apply(y, ev_visit("y2", at(4, 0, 0)));
    accumulate(&t, total, x);
    accumulate(&t, total, y);

    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-01", "", "visitors"), 2); /* X Y */
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-01", "", "new_visitors"), 2);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-01", "", "returning_visitors"), 0);
    /* Only X came back within 3 days: 05-04 - 05-01 = 3 <= 3; Y: 4 > 3. */
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-01", "", "new_visitors_revisited_3d"),
                     1);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-04", "", "visitors"), 1);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-04", "", "returning_visitors"), 1);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-04", "", "new_visitors"), 0);
    assert_int_equal(delta_of(t.aggs, total, RM, "2024-05-05", "", "returning_visitors"), 1);
    assert_int_equal(field_total(t.aggs, total, RM, "new_visitors_revisited_3d"), 1);
    /* The state-based contribution never counts page views; on_event does. */
    assert_int_equal(field_total(t.aggs, total, RM, "visits"), 0);
    /* No F2 row from visits. */
    assert_int_equal(nonzero_rows(t.aggs, total, "f2_cohort"), 0);

    /* Delta of the revisit: a new visitor's second visit day 2 days later. */
    ltv_customer_t *z = cust("Z");
    tracker_apply(&t, z, ev_visit("z1", at(0, 5, 0)));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors"), 1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors_revisited_3d"), 0);
    tracker_apply(&t, z, ev_visit("z2", at(2, 5, 0)));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors_revisited_3d"), 1);
    assert_int_equal(td(&t, RM, "2024-05-03", "", "returning_visitors"), 1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors"), 0);

    /* A late visit on 04-30 makes 04-30 Z's first visit day: 05-01 turns
     * returning and loses the revisit; 04-30 gets the new visitor and the
     * revisit (05-01 - 04-30 = 1 <= 3). */
    tracker_apply(&t, z, ev_visit("z0", at(-1, 5, 0)));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors"), -1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "returning_visitors"), 1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_visitors_revisited_3d"), -1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "visitors"), 0);
    assert_int_equal(td(&t, RM, "2024-04-30", "", "visitors"), 1);
    assert_int_equal(td(&t, RM, "2024-04-30", "", "new_visitors"), 1);
    assert_int_equal(td(&t, RM, "2024-04-30", "", "new_visitors_revisited_3d"), 1);
    assert_int_equal(td(&t, RM, "2024-05-03", "", "returning_visitors"), 0);

    ltv_customer_destroy(x);
    ltv_customer_destroy(y);
    ltv_customer_destroy(z);
    ltv_deltas_destroy(total);
    tracker_free(&t);
}

/* visits: +1 per applied visit event, on the event's day (zone-cut). */
static void test_visits_counted_per_event_via_on_event(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, "+09:00", NULL);
    ltv_agg_t *rm = ltv_aggs_find(t.aggs, RM);
    int fv = field_index(rm, "visits");
    ltv_customer_t *c = new_customer();
    ltv_contribs_t cs;
    ltv_contribs_init(&cs);
    ltv_deltas_t *ds = ltv_deltas_new();

    /* Two page views on 2024-05-02 in +09:00 (15:30Z and 20:00Z on 05-01 UTC). */
    ltv_event_t v1 = ev_visit("v1", at(0, 15, 30));
    ltv_event_t v2 = ev_visit("v2", at(0, 20, 0));
    assert_int_equal(apply_tz(c, v1, TZ_JST, NULL), LTV_APPLIED);
    ltv_aggs_on_event(t.aggs, c, &v1, &cs);
    assert_int_equal(cs.n, 1);
    assert_ptr_equal(cs.v[0].row.agg, rm);
    assert_int_equal(cs.v[0].row.day, day_num("2024-05-02"));
    assert_ptr_equal(cs.v[0].row.dim, ltv_intern(t.aggs, "", 0));
    assert_int_equal(cs.v[0].field, fv);
    assert_int_equal(cs.v[0].value, 1);
    assert_int_equal(apply_tz(c, v2, TZ_JST, NULL), LTV_APPLIED);
    ltv_aggs_on_event(t.aggs, c, &v2, &cs);
    assert_int_equal(cs.n, 2);
    for (int i = 0; i < cs.n; i++)
        ltv_deltas_add(ds, &cs.v[i], +1);
    assert_int_equal(delta_of(t.aggs, ds, RM, "2024-05-02", "", "visits"), 2);
    assert_int_equal(delta_of(t.aggs, ds, RM, "2024-05-01", "", "visits"), 0);
    /* ... but one visitor-day. */
    assert_int_equal(c->nvdays, 1);
    assert_int_equal(c->vdays[0], 19845); /* 2024-05-02 = DAY0 + 1 */

    /* A purchase adds no page view. */
    ltv_contribs_reset(&cs);
    ltv_event_t o = ev_order("o1", at(0, 16, 0), 100, NULL, NULL);
    ltv_aggs_on_event(t.aggs, c, &o, &cs);
    assert_int_equal(cs.n, 0);

    ltv_contribs_free(&cs);
    ltv_deltas_destroy(ds);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* Orders are cut into days in the configured zone too. */
static void test_order_day_in_plus_0900(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, "+09:00", NULL);
    ltv_customer_t *c = new_customer();
    /* 2024-05-01T14:59Z = 05-01 23:59 JST; 2024-05-01T15:00Z = 05-02 00:00 JST. */
    tracker_apply(&t, c, ev_order("o1", at(0, 14, 59), 100, NULL, NULL));
    assert_int_equal(td(&t, RM, "2024-05-01", "", "new_orders"), 1);
    tracker_apply(&t, c, ev_order("o2", at(0, 15, 0), 200, NULL, NULL));
    assert_int_equal(td(&t, RM, "2024-05-02", "", "returning_orders"), 1);
    assert_int_equal(td(&t, RM, "2024-05-02", "", "returning_customers"), 1);
    assert_int_equal(td(&t, RM, "2024-05-01", "", "orders"), 0);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_orders_revenue_customers_new_vs_returning),
        cmocka_unit_test(test_refund_lowers_revenue_on_order_day),
        cmocka_unit_test(test_late_earlier_order_flips_new_to_returning),
        cmocka_unit_test(test_visitors_new_returning_and_3_day_revisit),
        cmocka_unit_test(test_visits_counted_per_event_via_on_event),
        cmocka_unit_test(test_order_day_in_plus_0900),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
