/*
 * F2 cohort rows (SPEC §5.1, agg "f2_cohort"): a customer belongs to the
 * cohort of the day of their first active purchase, in the all-channels row
 * (dim "") and in the row of the first purchase's channel ("(none)" when
 * absent); f2/f3/f4 counts and f2_within_{H}d follow the earliest active
 * orders, so late and cancelled orders move customers between rows.
 *
 * Deltas are computed the way the batch does it: contribution after minus
 * contribution before (tracker_apply in unit_fixtures.h). Expected values
 * are worked out by hand next to each assertion.
 */
#include "unit_fixtures.h"

#define F2 "f2_cohort"

/* UTC instant T0 + d days + h hours + m minutes (T0 = 2024-05-01T00:00:00Z). */
static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

static void test_new_customer_joins_cohort_all_and_channel(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    /* 2024-05-01T10:00Z, channel google. */
    assert_int_equal(tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "google", NULL)),
                     LTV_APPLIED);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "cohort_size"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "cohort_size"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_count"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_30d"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "(none)", "cohort_size"), 0);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 2);

    /* Without a channel the customer goes to the "(none)" channel row. */
    ltv_customer_t *d = ltv_customer_new(LTV_ENT_CUSTOMER, "c2", 2);
    tracker_apply(&t, d, ev_order("o9", at(1, 0, 0), 10, NULL, NULL));
    assert_int_equal(td(&t, F2, "2024-05-02", "", "cohort_size"), 1);
    assert_int_equal(td(&t, F2, "2024-05-02", "(none)", "cohort_size"), 1);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 2);

    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_second_purchase_10_days_later(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "google", NULL));
    /* 2024-05-11T09:00Z: day 05-11 - day 05-01 = 10 <= 30 and <= 90. */
    tracker_apply(&t, c, ev_order("o2", at(10, 9, 0), 500, "meta", NULL));
    const char *dims[] = {"", "google"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(td(&t, F2, "2024-05-01", dims[k], "cohort_size"), 0);
        assert_int_equal(td(&t, F2, "2024-05-01", dims[k], "f2_count"), 1);
        assert_int_equal(td(&t, F2, "2024-05-01", dims[k], "f2_within_30d"), 1);
        assert_int_equal(td(&t, F2, "2024-05-01", dims[k], "f2_within_90d"), 1);
        assert_int_equal(td(&t, F2, "2024-05-01", dims[k], "f3_count"), 0);
    }
    /* The second order's channel is irrelevant: attribution is the first's. */
    assert_int_equal(td(&t, F2, "2024-05-01", "meta", "f2_count"), 0);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 2);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_second_purchase_45_days_later(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "google", NULL));
    /* 2024-05-01 + 45 d = 2024-06-15 (May 1 + 30 = May 31, + 15 = June 15):
     * 45 > 30, 45 <= 90. */
    tracker_apply(&t, c, ev_order("o2", at(45, 10, 0), 500, NULL, NULL));
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_30d"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_90d"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "f2_within_30d"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "f2_within_90d"), 1);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* The horizon is counted in days: day D + 30 is in, day D + 31 is out. */
static void test_horizon_boundary_in_days(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    /* First purchase late on 05-01 (23:00Z); second at 2024-05-31T23:59Z:
     * day difference 30 (May 1 -> May 31), although 30 d 59 min have passed. */
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 23, 0), 1, "x", NULL));
    tracker_apply(&t, c, ev_order("o2", at(30, 23, 59), 1, "x", NULL));
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_30d"), 1);
    /* Second at 2024-06-01T00:00Z: day difference 31, only 25 h later than the
     * previous case. */
    ltv_customer_t *d = ltv_customer_new(LTV_ENT_CUSTOMER, "c2", 2);
    tracker_apply(&t, d, ev_order("o1", at(0, 0, 0), 1, "x", NULL));
    tracker_apply(&t, d, ev_order("o2", at(31, 0, 0), 1, "x", NULL));
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_30d"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_90d"), 1);
    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_late_earlier_purchase_moves_cohort(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    /* First seen order: 2024-05-10T12:00Z, google. */
    tracker_apply(&t, c, ev_order("o1", at(9, 12, 0), 1000, "google", NULL));
    assert_int_equal(td(&t, F2, "2024-05-10", "", "cohort_size"), 1);

    /* A late order from 2024-05-03T08:00Z, meta: the customer's first purchase
     * is now 05-03 (meta), and o1 (05-10) is their second: 10 - 3 = 7 days. */
    tracker_apply(&t, c, ev_order("o0", at(2, 8, 0), 300, "meta", NULL));
    assert_int_equal(td(&t, F2, "2024-05-10", "", "cohort_size"), -1);
    assert_int_equal(td(&t, F2, "2024-05-10", "google", "cohort_size"), -1);
    assert_int_equal(td(&t, F2, "2024-05-10", "", "f2_count"), 0);
    const char *dims[] = {"", "meta"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(td(&t, F2, "2024-05-03", dims[k], "cohort_size"), 1);
        assert_int_equal(td(&t, F2, "2024-05-03", dims[k], "f2_count"), 1);
        assert_int_equal(td(&t, F2, "2024-05-03", dims[k], "f2_within_30d"), 1);
        assert_int_equal(td(&t, F2, "2024-05-03", dims[k], "f2_within_90d"), 1);
        assert_int_equal(td(&t, F2, "2024-05-03", dims[k], "f3_count"), 0);
    }
    assert_int_equal(td(&t, F2, "2024-05-03", "google", "cohort_size"), 0);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 4);
    /* Over all rows, the customer is still counted once. */
    assert_int_equal(field_total(t.aggs, t.ds, F2, "cohort_size"), 0);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_cancelled_first_order_moves_then_removes(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "google", NULL));
    tracker_apply(&t, c, ev_order("o2", at(19, 10, 0), 500, "meta", NULL)); /* 05-20 */

    /* Cancel o1: out of 05-01 (cohort, f2, within 30 (19 <= 30), within 90),
     * into 05-20/meta as an F1-only customer. */
    tracker_apply(&t, c, ev_cancel("o1", at(20, 0, 0)));
    const char *old_dims[] = {"", "google"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(td(&t, F2, "2024-05-01", old_dims[k], "cohort_size"), -1);
        assert_int_equal(td(&t, F2, "2024-05-01", old_dims[k], "f2_count"), -1);
        assert_int_equal(td(&t, F2, "2024-05-01", old_dims[k], "f2_within_30d"), -1);
        assert_int_equal(td(&t, F2, "2024-05-01", old_dims[k], "f2_within_90d"), -1);
    }
    const char *new_dims[] = {"", "meta"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(td(&t, F2, "2024-05-20", new_dims[k], "cohort_size"), 1);
        assert_int_equal(td(&t, F2, "2024-05-20", new_dims[k], "f2_count"), 0);
    }
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 4);

    /* Cancel the only remaining order: the customer leaves every cohort. */
    tracker_apply(&t, c, ev_cancel("o2", at(21, 0, 0)));
    assert_int_equal(td(&t, F2, "2024-05-20", "", "cohort_size"), -1);
    assert_int_equal(td(&t, F2, "2024-05-20", "meta", "cohort_size"), -1);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 2);

    /* ... and contributes nothing any more. */
    ltv_contribs_t cs;
    ltv_contribs_init(&cs);
    ltv_aggs_contribute(t.aggs, c, LTV_FACET_ORDERS, &cs);
    assert_int_equal(cs.n, 0);
    ltv_contribs_free(&cs);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* 2024-05-01T15:30Z is 2024-05-02T00:30 in +09:00. */
static void test_day_boundary_in_plus_0900(void **state) {
    (void)state;
    tracker_t jst, utc;
    tracker_init(&jst, "+09:00", NULL);
    tracker_init(&utc, NULL, NULL);
    assert_int_equal(jst.conf->tz_offset_ms, TZ_JST); /* 9 * 3600000 = 32400000 */

    ltv_customer_t *a = new_customer(), *b = new_customer();
    tracker_apply(&jst, a, ev_order("o1", at(0, 15, 30), 1, "google", NULL));
    tracker_apply(&utc, b, ev_order("o1", at(0, 15, 30), 1, "google", NULL));
    assert_int_equal(delta_of(jst.aggs, jst.ds, F2, "2024-05-02", "", "cohort_size"), 1);
    assert_int_equal(delta_of(jst.aggs, jst.ds, F2, "2024-05-01", "", "cohort_size"), 0);
    assert_int_equal(delta_of(utc.aggs, utc.ds, F2, "2024-05-01", "", "cohort_size"), 1);
    assert_int_equal(delta_of(utc.aggs, utc.ds, F2, "2024-05-02", "", "cohort_size"), 0);

    /* Second purchase 2024-06-01T14:59Z = 23:59 on 06-01 in +09:00.
     * +09:00: 06-01 - 05-02 = 30 days -> within 30.
     * UTC:    06-01 - 05-01 = 31 days -> not within 30. */
    tracker_apply(&jst, a, ev_order("o2", at(31, 14, 59), 1, NULL, NULL));
    tracker_apply(&utc, b, ev_order("o2", at(31, 14, 59), 1, NULL, NULL));
    assert_int_equal(delta_of(jst.aggs, jst.ds, F2, "2024-05-02", "", "f2_within_30d"), 1);
    assert_int_equal(delta_of(utc.aggs, utc.ds, F2, "2024-05-01", "", "f2_within_30d"), 0);
    assert_int_equal(delta_of(utc.aggs, utc.ds, F2, "2024-05-01", "", "f2_count"), 1);

    /* 14:59Z on 05-01 is still 05-01 (23:59) in +09:00. */
    ltv_customer_t *e = ltv_customer_new(LTV_ENT_CUSTOMER, "c3", 2);
    tracker_apply(&jst, e, ev_order("o1", at(0, 14, 59), 1, "google", NULL));
    assert_int_equal(delta_of(jst.aggs, jst.ds, F2, "2024-05-01", "google", "cohort_size"), 1);

    ltv_customer_destroy(e);
    ltv_customer_destroy(a);
    ltv_customer_destroy(b);
    tracker_free(&jst);
    tracker_free(&utc);
}

static void test_f3_f4_counts(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 1, 0), 1, "google", NULL)); /* 05-01 */
    tracker_apply(&t, c, ev_order("o2", at(1, 1, 0), 1, NULL, NULL));     /* 05-02 */
    tracker_apply(&t, c, ev_order("o3", at(2, 1, 0), 1, NULL, NULL));     /* 05-03 */
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f3_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "f3_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_count"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f4_count"), 0);
    tracker_apply(&t, c, ev_order("o4", at(3, 1, 0), 1, NULL, NULL)); /* 05-04 */
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f4_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "f4_count"), 1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f3_count"), 0);
    /* A fifth purchase changes no F2 row: counts stop at F4. */
    tracker_apply(&t, c, ev_order("o5", at(4, 1, 0), 1, NULL, NULL));
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 0);
    /* Cancelling o2: 4 active orders remain, F2 is now o3 (2 days, still within):
     * nothing changes. */
    tracker_apply(&t, c, ev_cancel("o2", at(5, 0, 0)));
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 0);
    /* Cancelling o3 as well: 3 active orders, f4 -1. */
    tracker_apply(&t, c, ev_cancel("o3", at(5, 0, 0)));
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f4_count"), -1);
    assert_int_equal(td(&t, F2, "2024-05-01", "google", "f4_count"), -1);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f3_count"), 0);
    assert_int_equal(nonzero_rows(t.aggs, t.ds, F2), 2);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

static void test_configured_horizons(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, "7,30");
    ltv_agg_t *a = ltv_aggs_find(t.aggs, F2);
    /* cohort_size, f2_count, f3_count, f4_count + 2 horizons. */
    assert_int_equal(a->nfields, 6);
    assert_string_equal(a->fields[4], "f2_within_7d");
    assert_string_equal(a->fields[5], "f2_within_30d");
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 0, 0), 1, NULL, NULL));
    tracker_apply(&t, c, ev_order("o2", at(10, 0, 0), 1, NULL, NULL)); /* 10 > 7, 10 <= 30 */
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_7d"), 0);
    assert_int_equal(td(&t, F2, "2024-05-01", "", "f2_within_30d"), 1);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* BUG (see report): a first order whose channel is the empty string (a
 * present but empty utm_source) is interned to the same dim as the
 * all-channels row, so the customer is counted twice in the all row and
 * the cohort's size is inflated. The all row must count each customer once. */
static void test_empty_channel_counts_customer_once_in_all_row(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "", NULL));
    int64_t all_row = td(&t, F2, "2024-05-01", "", "cohort_size");
    int64_t total = field_total(t.aggs, t.ds, F2, "cohort_size");
    /* Freed before asserting, so the known failure does not leak. */
    ltv_customer_destroy(c);
    tracker_free(&t);
    assert_int_equal(all_row, 1);
    /* Exactly one channel row (whatever its name) counts the customer too:
     * total over all rows = 1 (all row) + 1 (channel row). */
    assert_int_equal(total, 2);
}

static void render_row(tracker_t *t, const char *day, const char *dim, const int64_t *v, int nv,
                       int64_t watermark, ltv_buf_t *key, ltv_buf_t *val) {
    ltv_agg_t *a = ltv_aggs_find(t->aggs, F2);
    ltv_row_t row;
    memset(&row, 0, sizeof(row));
    row.id.agg = a;
    row.id.day = day_num(day);
    row.id.dim = ltv_intern(t->aggs, dim, strlen(dim));
    for (int i = 0; i < nv; i++)
        row.v[i] = v[i];
    row.version = 7;
    ltv_emit_info_t info = {.watermark = watermark};
    fx_render(a, &row, &info, key, val);
}

#define HAS(buf, s) assert_non_null(strstr((buf).p, (s)))
#define HASNT(buf, s) assert_null(strstr((buf).p, (s)))

static void test_render_rates_key_and_final(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_agg_t *a = ltv_aggs_find(t.aggs, F2);
    int fc = field_index(a, "cohort_size"), f2 = field_index(a, "f2_count"),
        f3 = field_index(a, "f3_count"), f4 = field_index(a, "f4_count"),
        w30 = field_index(a, "f2_within_30d"), w90 = field_index(a, "f2_within_90d");
    int64_t v[LTV_ROW_MAX_FIELDS] = {0};
    v[fc] = 4;
    v[f2] = 2;
    v[f3] = 1;
    v[f4] = 0;
    v[w30] = 1;
    v[w90] = 2;
    ltv_buf_t key, val;
    ltv_buf_init(&key);
    ltv_buf_init(&val);

    /* Day 2024-05-01 ends 2024-05-02T00:00Z; + 90 d = 2024-07-31T00:00Z
     * (May 2 + 30 = Jun 1, + 30 = Jul 1, + 30 = Jul 31); + 30 d = 2024-06-01T00:00Z.
     * In ms: end = T0 + 1 d, end + 90 d = T0 + 91 d, end + 30 d = T0 + 31 d. */
    render_row(&t, "2024-05-01", "google", v, LTV_ROW_MAX_FIELDS, T0 + 91 * DAY_MS - 1, &key,
               &val);
    assert_string_equal(key.p, "2024-05-01|google");
    assert_true(val.p[0] == '{' && val.p[val.n - 1] == '}');
    HAS(val, "\"cohort_day\":\"2024-05-01\"");
    HAS(val, "\"channel\":\"google\"");
    HAS(val, "\"window_start\":\"2024-05-01T00:00:00.000Z\"");
    HAS(val, "\"window_end\":\"2024-05-02T00:00:00.000Z\"");
    HAS(val, "\"cohort_size\":4");
    HAS(val, "\"f2_count\":2");
    HAS(val, "\"f2_rate\":0.500000");      /* 2 / 4 */
    HAS(val, "\"f2_rate_30d\":0.250000");  /* 1 / 4 */
    HAS(val, "\"f2_rate_90d\":0.500000");  /* 2 / 4 */
    HAS(val, "\"f3_given_f2\":0.500000");  /* 1 / 2 */
    HAS(val, "\"f4_given_f3\":0.000000");  /* 0 / 1 */
    HAS(val, "\"watermark\":\"2024-07-30T23:59:59.999Z\"");
    HAS(val, "\"f2_rate_30d_final\":true"); /* wm >= T0 + 31 d */
    HAS(val, "\"f2_rate_90d_final\":false");
    HAS(val, "\"final\":false"); /* 1 ms short of end + 90 d */
    HAS(val, "\"version\":7");

    /* Just past end of day + 90 days: final. */
    render_row(&t, "2024-05-01", "google", v, LTV_ROW_MAX_FIELDS, T0 + 91 * DAY_MS + 1, &key,
               &val);
    HAS(val, "\"f2_rate_90d_final\":true");
    HAS(val, "\"final\":true");
    HASNT(val, "\"final\":false");

    /* Before the 30-day horizon passed: nothing final. */
    render_row(&t, "2024-05-01", "google", v, LTV_ROW_MAX_FIELDS, T0 + 31 * DAY_MS - 1, &key,
               &val);
    HAS(val, "\"f2_rate_30d_final\":false");
    HAS(val, "\"final\":false");

    /* The all-channels row of an empty cohort: rates are null. */
    int64_t zero[LTV_ROW_MAX_FIELDS] = {0};
    render_row(&t, "2024-05-01", "", zero, LTV_ROW_MAX_FIELDS, INT64_MIN, &key, &val);
    assert_string_equal(key.p, "2024-05-01|all");
    HAS(val, "\"channel\":\"all\"");
    HAS(val, "\"f2_rate\":null");
    HAS(val, "\"f2_rate_30d\":null");
    HAS(val, "\"f3_given_f2\":null");
    HAS(val, "\"watermark\":null"); /* unknown clock */
    HAS(val, "\"final\":false");

    ltv_buf_free(&key);
    ltv_buf_free(&val);
    tracker_free(&t);
}

/* In +09:00 the cohort day 2024-05-02 starts at 2024-05-01T15:00Z. */
static void test_render_window_in_plus_0900(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, "+09:00", NULL);
    int64_t v[LTV_ROW_MAX_FIELDS] = {0};
    v[0] = 3; /* cohort_size */
    v[1] = 1; /* f2_count */
    ltv_buf_t key, val;
    ltv_buf_init(&key);
    ltv_buf_init(&val);
    render_row(&t, "2024-05-02", "(none)", v, LTV_ROW_MAX_FIELDS, INT64_MIN, &key, &val);
    assert_string_equal(key.p, "2024-05-02|(none)");
    HAS(val, "\"window_start\":\"2024-05-01T15:00:00.000Z\"");
    HAS(val, "\"window_end\":\"2024-05-02T15:00:00.000Z\"");
    HAS(val, "\"f2_rate\":0.333333"); /* 1 / 3 = 0.3333333... */
    /* End 2024-05-02T15:00Z + 90 d = 2024-07-31T15:00Z = T0 + 91 d + 15 h. */
    render_row(&t, "2024-05-02", "(none)", v, LTV_ROW_MAX_FIELDS,
               T0 + 91 * DAY_MS + 15 * HOUR_MS - 1, &key, &val);
    HAS(val, "\"final\":false");
    render_row(&t, "2024-05-02", "(none)", v, LTV_ROW_MAX_FIELDS,
               T0 + 91 * DAY_MS + 15 * HOUR_MS + 1, &key, &val);
    HAS(val, "\"final\":true");
    ltv_buf_free(&key);
    ltv_buf_free(&val);
    tracker_free(&t);
}

/* BUG (see report): output topics are upserts keyed by row identity (log
 * compaction), but the all-channels row is keyed "<day>|all", which is also
 * the key of the row of a customer acquired through a channel literally
 * named "all" (utm_source=all): one overwrites the other on a compacted
 * topic. Two different rows must have different keys. The channel row is
 * taken from a real contribution, so the test holds whether the fix is made
 * in the contribution (escaping the dim) or in the rendering. */
static void test_render_key_of_channel_named_all_differs_from_all_row(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    ltv_customer_t *c = new_customer();
    tracker_apply(&t, c, ev_order("o1", at(0, 10, 0), 1000, "all", NULL));
    ltv_agg_t *a = ltv_aggs_find(t.aggs, F2);
    const char *all_dim = ltv_intern(t.aggs, "", 0);
    const ltv_delta_row_t *all_row = NULL, *chan_row = NULL;
    for (int i = 0; i < ltv_deltas_count(t.ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(t.ds, i);
        if (r->id.agg != a || !ltv_delta_row_nonzero(r))
            continue;
        if (r->id.dim == all_dim)
            all_row = r;
        else
            chan_row = r;
    }
    char all_key[64] = "", chan_key[64] = "";
    ltv_buf_t key, val;
    ltv_buf_init(&key);
    ltv_buf_init(&val);
    ltv_emit_info_t info = {.watermark = INT64_MIN};
    ltv_row_t row;
    if (all_row) {
        memset(&row, 0, sizeof(row));
        row.id = all_row->id;
        fx_render(a, &row, &info, &key, &val);
        snprintf(all_key, sizeof(all_key), "%s", key.p);
    }
    if (chan_row) {
        memset(&row, 0, sizeof(row));
        row.id = chan_row->id;
        fx_render(a, &row, &info, &key, &val);
        snprintf(chan_key, sizeof(chan_key), "%s", key.p);
    }
    int have_all = all_row != NULL, have_chan = chan_row != NULL;
    /* Freed before asserting, so the known failure does not leak. */
    ltv_buf_free(&key);
    ltv_buf_free(&val);
    ltv_customer_destroy(c);
    tracker_free(&t);
    assert_true(have_all);
    assert_true(have_chan);
    assert_string_equal(all_key, "2024-05-01|all");
    assert_string_not_equal(all_key, chan_key);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_customer_joins_cohort_all_and_channel),
        cmocka_unit_test(test_second_purchase_10_days_later),
        cmocka_unit_test(test_second_purchase_45_days_later),
        cmocka_unit_test(test_horizon_boundary_in_days),
        cmocka_unit_test(test_late_earlier_purchase_moves_cohort),
        cmocka_unit_test(test_cancelled_first_order_moves_then_removes),
        cmocka_unit_test(test_day_boundary_in_plus_0900),
        cmocka_unit_test(test_f3_f4_counts),
        cmocka_unit_test(test_configured_horizons),
        cmocka_unit_test(test_render_rates_key_and_final),
        cmocka_unit_test(test_render_window_in_plus_0900),
        cmocka_unit_test(test_empty_channel_counts_customer_once_in_all_row),
        cmocka_unit_test(test_render_key_of_channel_named_all_differs_from_all_row),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
