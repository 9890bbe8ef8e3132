/*
 * Acquisition rows (aggregators/agg_acquisition.c) from a small shop,
 * through the batch as the stage runs it, the rows accumulated from the
 * deltas and rendered. Default configuration: horizons 30 and 90 days,
 * rolling window 30 days, days in UTC. D0 = 2024-05-01 (T0, DAY0).
 *
 * google / brand spent 300.00 on D0 and 100.00 on D0+1 (cents: 30000,
 * 10000) and acquired on D0:
 *   A  50.00 on D0, 40.00 on D0+10, 60.00 on D0+40
 *   B  80.00 on D0, 20.00 on D0+50
 *   C  30.00 on D0
 * and on D0+1:
 *   E  20.00
 * email / welcome spent 10.00 on D0 and acquired G: 20.00 on D0, 20.00 on
 * D0+5. F came through meta / video (no spend reported).
 *
 * Row D0 | 1d | google | brand, by hand:
 *   new_customers 3; f2_count 2 (A, B); f2_within_30d 1 (A: day 10;
 *   B's second is day 50); f2_within_90d 2
 *   revenue 150 + 100 + 30 = 280.00 (28000); within 30 days A 90 + B 80 +
 *   C 30 = 200.00 (20000); within 90 days 280.00 (28000)
 *   CPO = 30000 / 3 = 10000; F2 rate = 2/3; F2-CPO = CPO / F2 rate =
 *   10000 / (2/3) = 15000 (= 30000 / 2); revenue per customer 28000 / 3;
 *   CLV:CAC = 28000 / 30000 = 0.933333 (to date and 90d), 30d: 20000 /
 *   30000 = 0.666667; below 1:1: "losing".
 * Row D0 | 1d | email | welcome: cost 1000, new 1, F2 1; CPO 1000, F2-CPO
 *   1000; revenue 4000: CLV:CAC 4:1, "healthy".
 * Row D0+1 | 30d | google | brand (days D0-28 .. D0+1): cost 40000, new 4,
 *   F2 2, f2_within_30d 1, f2_within_90d 2, revenue within 30 days 22000,
 *   within 90 days 30000, no revenue to date (daily rows only); CPO 10000,
 *   F2 rate 0.5, F2-CPO 20000, CLV:CAC 90d 0.75.
 */
#include "tc_helpers.h"

static ltv_event_t spend(const char *channel, const char *campaign, int64_t day_ms,
                         int64_t cost) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_AD_SPEND;
    ev.ts = day_ms;
    ev.amount = cost;
    ev.currency = ltv_str_c("USD");
    ev.channel = ltv_str_c(channel);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

static ltv_event_t order(const char *cust, const char *oid, int64_t ts, int64_t amount,
                         const char *channel, const char *campaign) {
    return mk_purchase(cust, oid, oid, LTV_PT_ORDER, ts, amount, channel, campaign);
}

typedef struct fx_s {
    tracker_t t;
    tc_pipe_t p;
    ltv_deltas_t *acc;
    ltv_out_t o;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof(*f));
    tc_tracker_init(&f->t, NULL);
    tc_pipe_init(&f->p, &f->t);
    f->acc = ltv_deltas_new();
    ltv_out_init(&f->o);
    const int64_t H = HOUR_MS, D = DAY_MS;
    ltv_event_t evs[] = {
        spend("google", "brand", T0, 30000),
        spend("google", "brand", T0 + D, 10000),
        spend("email", "welcome", T0, 1000),
        order("A", "a1", T0 + 10 * H, 5000, "google", "brand"),
        order("B", "b1", T0 + 12 * H, 8000, "google", "brand"),
        order("C", "c1", T0 + 15 * H, 3000, "google", "brand"),
        order("F", "f1", T0 + 16 * H, 1000, "meta", "video"),
        order("G", "g1", T0 + 17 * H, 2000, "email", "welcome"),
        order("E", "e1", T0 + D + 9 * H, 2000, "google", "brand"),
        order("G", "g2", T0 + 5 * D, 2000, "organic", NULL),
        order("A", "a2", T0 + 10 * D, 4000, "meta", NULL),
        order("A", "a3", T0 + 40 * D, 6000, "google", "brand"),
        order("B", "b2", T0 + 50 * D, 2000, "email", NULL),
    };
    /* In two batches, to show the rows are sums whatever the batching. */
    tc_pipe_run(&f->p, evs, 6, f->acc);
    tc_pipe_run(&f->p, evs + 6, (int)(sizeof(evs) / sizeof(evs[0])) - 6, f->acc);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    ltv_out_free(&f->o);
    ltv_deltas_destroy(f->acc);
    tc_pipe_free(&f->p);
    tracker_free(&f->t);
    free(f);
    return 0;
}

/* Renders row (day, dim) of the accumulated values, watermark wm. */
static const ltv_out_t *row(fx_t *f, int64_t day, const char *dim, int64_t wm) {
    ltv_row_t r = tc_row(f->t.aggs, f->acc, "acquisition", day, dim);
    tc_render(r.id.agg, &r, wm, &f->o);
    return &f->o;
}

static void test_daily_row_by_hand(void **state) {
    fx_t *f = *state;
    const ltv_out_t *o = row(f, DAY0, "google\x1f" "brand", T0 + 60 * DAY_MS);
    assert_string_equal(tc_key(&f->o), "2024-05-01|1d|google|brand");
    tc_expect_str(o, "window", "1d");
    tc_expect_str(o, "channel", "google");
    tc_expect_str(o, "campaign", "brand");
    tc_expect_i64(o, "cost", 30000);
    tc_expect_i64(o, "new_customers", 3);
    tc_expect_i64(o, "f2_count", 2);
    tc_expect_i64(o, "f2_within_30d", 1);
    tc_expect_i64(o, "f2_within_90d", 2);
    const ltv_ofield_t *rev = tc_field(o, "revenue");
    assert_false(rev->null);
    assert_int_equal(rev->i, 28000);
    tc_expect_i64(o, "revenue_within_30d", 20000);
    tc_expect_i64(o, "revenue_within_90d", 28000);
    tc_expect_f64(o, "cpo", 10000.0);
    tc_expect_f64(o, "f2_rate", 2.0 / 3.0);
    tc_expect_f64(o, "f2_rate_30d", 1.0 / 3.0);
    tc_expect_f64(o, "f2_cpo", 15000.0);
    tc_expect_f64(o, "revenue_per_customer", 28000.0 / 3.0);
    tc_expect_f64(o, "revenue_per_customer_30d", 20000.0 / 3.0);
    tc_expect_f64(o, "clv_cac", 28000.0 / 30000.0);
    tc_expect_f64(o, "clv_cac_30d", 20000.0 / 30000.0);
    tc_expect_f64(o, "clv_cac_90d", 28000.0 / 30000.0);
    tc_expect_str(o, "clv_cac_rating", "losing");
    /* The 90-day horizon of D0 ends with D0+90 (2024-07-30): the watermark
     * of 2024-06-30 is before it. */
    tc_expect_i64(o, "final", 0);
    row(f, DAY0, "google\x1f" "brand", T0 + 91 * DAY_MS);
    tc_expect_i64(&f->o, "final", 1);
}

static void test_healthy_campaign_and_unpaid_channel(void **state) {
    fx_t *f = *state;
    const ltv_out_t *o = row(f, DAY0, "email\x1f" "welcome", T0 + 60 * DAY_MS);
    tc_expect_i64(o, "cost", 1000);
    tc_expect_i64(o, "new_customers", 1);
    tc_expect_i64(o, "f2_count", 1);
    tc_expect_f64(o, "cpo", 1000.0);
    tc_expect_f64(o, "f2_cpo", 1000.0);
    tc_expect_f64(o, "clv_cac_90d", 4.0);
    tc_expect_str(o, "clv_cac_rating", "healthy");
    /* meta / video: a customer, no spend: no CPO, no rating. */
    o = row(f, DAY0, "meta\x1f" "video", T0 + 60 * DAY_MS);
    tc_expect_i64(o, "new_customers", 1);
    tc_expect_i64(o, "cost", 0);
    tc_expect_f64(o, "cpo", 0.0);
    tc_expect_null(o, "f2_cpo");
    tc_expect_null(o, "clv_cac");
    tc_expect_null(o, "clv_cac_rating");
}

static void test_rolling_row_by_hand(void **state) {
    fx_t *f = *state;
    const ltv_out_t *o = row(f, DAY0 + 1, "30d\x1f" "google\x1f" "brand", T0 + 60 * DAY_MS);
    assert_string_equal(tc_key(&f->o), "2024-05-02|30d|google|brand");
    /* 2024-05-02 - 29 days = 2024-04-03 00:00Z = T0 - 28 days. */
    tc_expect_i64(o, "window_start", T0 - 28 * DAY_MS);
    tc_expect_i64(o, "window_end", T0 + 2 * DAY_MS);
    tc_expect_i64(o, "cost", 40000);
    tc_expect_i64(o, "new_customers", 4);
    tc_expect_i64(o, "f2_count", 2);
    tc_expect_i64(o, "f2_within_30d", 1);
    tc_expect_i64(o, "f2_within_90d", 2);
    tc_expect_null(o, "revenue");
    tc_expect_i64(o, "revenue_within_30d", 22000);
    tc_expect_i64(o, "revenue_within_90d", 30000);
    tc_expect_f64(o, "cpo", 10000.0);
    tc_expect_f64(o, "f2_rate", 0.5);
    tc_expect_f64(o, "f2_cpo", 20000.0);
    tc_expect_f64(o, "clv_cac_90d", 0.75);
    tc_expect_null(o, "clv_cac");
    /* The window of D0+29 still holds D0, the one of D0+30 no longer. */
    tc_expect_i64(row(f, DAY0 + 29, "30d\x1f" "google\x1f" "brand", 0), "new_customers", 4);
    tc_expect_i64(row(f, DAY0 + 30, "30d\x1f" "google\x1f" "brand", 0), "new_customers", 1);
    tc_expect_i64(row(f, DAY0 + 31, "30d\x1f" "google\x1f" "brand", 0), "new_customers", 0);
}

/* A restated cost replaces the old one (the row moves by the difference);
 * the same record again changes nothing. */
static void test_restated_spend(void **state) {
    fx_t *f = *state;
    ltv_event_t ev = spend("google", "brand", T0, 36000);
    ltv_deltas_t *d = tc_pipe_run(&f->p, &ev, 1, f->acc);
    assert_int_equal(tc_val(f->t.aggs, d, "acquisition", DAY0, "google\x1f" "brand", "cost"),
                     6000);
    tc_expect_f64(row(f, DAY0, "google\x1f" "brand", 0), "cpo", 12000.0);
    ltv_batch_begin(f->p.b, ++f->p.seq);
    *ltv_batch_add(f->p.b, 0) = ev;
    ltv_load_t *loads;
    assert_int_equal(ltv_batch_loads(f->p.b, &loads), 0); /* cached */
    ltv_batch_loaded(f->p.b);
    ltv_batch_stats_t st;
    memset(&st, 0, sizeof(st));
    ltv_batch_apply(f->p.b, &st);
    assert_int_equal(st.duplicates, 1);
    assert_int_equal(tc_nonzero_rows(f->t.aggs, ltv_batch_deltas(f->p.b), "acquisition", NULL), 0);
    ltv_batch_committed(f->p.b);
}

/* A late earlier order moves its customer to another acquisition row: C's
 * order on D0-1 through meta / video makes C a meta customer of D0-1. */
static void test_late_first_order_moves_the_customer(void **state) {
    fx_t *f = *state;
    ltv_event_t ev = order("C", "c0", T0 - DAY_MS, 1000, "meta", "video");
    ltv_deltas_t *d = tc_pipe_run(&f->p, &ev, 1, f->acc);
    assert_int_equal(
        tc_val(f->t.aggs, d, "acquisition", DAY0, "google\x1f" "brand", "new_customers"), -1);
    assert_int_equal(
        tc_val(f->t.aggs, d, "acquisition", DAY0 - 1, "meta\x1f" "video", "new_customers"), 1);
    /* C's D0 order is now its second, a day after the first. */
    assert_int_equal(tc_val(f->t.aggs, d, "acquisition", DAY0 - 1, "meta\x1f" "video", "f2_count"),
                     1);
    tc_expect_f64(row(f, DAY0, "google\x1f" "brand", 0), "cpo", 15000.0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_daily_row_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_healthy_campaign_and_unpaid_channel, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rolling_row_by_hand, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restated_spend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_late_first_order_moves_the_customer, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
