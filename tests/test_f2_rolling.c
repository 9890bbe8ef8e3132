/*
 * Rolling F2 rows (SPEC §5.1 "Rolling F2 rate", agg "f2_rolling", topic
 * ltv.f2_rolling): the row of day t and channel ch holds, per horizon H,
 * the sums of cohort_size and f2_within_{H}d over the cohorts of days
 * t-H-W+1 .. t-H (the last W cohorts whose horizon ended by day t).
 *
 * They are derived from the batch's f2_cohort deltas (ltv_aggs_derive): a
 * cohort row's delta on day D with cohort_size x and f2_within_{H}d y adds
 * x and y to the rolling rows t = D+H .. D+H+W-1 of the same channel, and
 * nothing else. Expected rows and dates are worked out by hand in the
 * comments (T0 = 2024-05-01 = day DAY0, unit_fixtures.h).
 */
#include "tc_helpers.h"

#define F2 "f2_cohort"
#define ROLL "f2_rolling"

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

/* Adds a cohort-row delta (day, dim): cohort_size x, f2_within_30d y30,
 * f2_within_90d y90. */
static void cohort_delta(tracker_t *t, ltv_deltas_t *ds, const char *day, const char *dim,
                         int64_t x, int64_t y30, int64_t y90) {
    ltv_agg_t *a = ltv_aggs_find(t->aggs, F2);
    const char *idim = ltv_intern(t->aggs, dim, strlen(dim));
    ltv_deltas_add_field(ds, a, day_num(day), idim, field_index(a, "cohort_size"), x);
    ltv_deltas_add_field(ds, a, day_num(day), idim, field_index(a, "f2_within_30d"), y30);
    ltv_deltas_add_field(ds, a, day_num(day), idim, field_index(a, "f2_within_90d"), y90);
}

#define RV(ds, day, dim, field) tc_val(t.aggs, (ds), ROLL, (day), (dim), (field))

/* The hand-computed calendar the tests below rely on. */
static void test_calendar_anchors(void **state) {
    (void)state;
    /* May has 31 days: 05-01 + 30 = 05-31; + 29 more = 06-29. */
    assert_int_equal(day_num("2024-05-31"), DAY0 + 30);
    assert_int_equal(day_num("2024-06-29"), DAY0 + 59);
    /* 05-01 + 61 = 07-01 (May 31 d, June 30 d); + 29 = 07-30 = DAY0 + 90. */
    assert_int_equal(day_num("2024-07-30"), DAY0 + 90);
    /* 07-30 + 29 = 08-28 (July has 31 days: 07-31 is +1, 08-28 is +29). */
    assert_int_equal(day_num("2024-08-28"), DAY0 + 119);
    /* 05-01 + 45 = 06-15 (05-01 + 31 = 06-01, + 14). */
    assert_int_equal(day_num("2024-06-15"), DAY0 + 45);
}

/* A cohort delta on D = 2024-05-01 (channel google): x = 3, y30 = 2,
 * y90 = 1, default W = 30. */
static void test_cohort_delta_spreads_over_w_rows(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_deltas_t *ds = ltv_deltas_new();
    cohort_delta(&t, ds, "2024-05-01", "google", 3, 2, 1);
    /* f2_count also changed; it does not feed the rolling rows. */
    ltv_agg_t *f2 = ltv_aggs_find(t.aggs, F2);
    ltv_deltas_add_field(ds, f2, DAY0, ltv_intern(t.aggs, "google", 6),
                         field_index(f2, "f2_count"), 5);
    ltv_aggs_derive(t.aggs, ds);

    /* 30d horizon: t = D+30 .. D+59 = 2024-05-31 .. 2024-06-29. */
    assert_int_equal(RV(ds, day_num("2024-05-30"), "google", "cohorts_30d"), 0);
    assert_int_equal(RV(ds, day_num("2024-05-31"), "google", "cohorts_30d"), 3);
    assert_int_equal(RV(ds, day_num("2024-05-31"), "google", "f2_within_30d"), 2);
    assert_int_equal(RV(ds, day_num("2024-06-15"), "google", "cohorts_30d"), 3);
    assert_int_equal(RV(ds, day_num("2024-06-29"), "google", "cohorts_30d"), 3);
    assert_int_equal(RV(ds, day_num("2024-06-29"), "google", "f2_within_30d"), 2);
    assert_int_equal(RV(ds, day_num("2024-06-30"), "google", "cohorts_30d"), 0);
    assert_int_equal(RV(ds, day_num("2024-06-30"), "google", "f2_within_30d"), 0);
    /* 90d horizon: t = D+90 .. D+119 = 2024-07-30 .. 2024-08-28. */
    assert_int_equal(RV(ds, day_num("2024-07-29"), "google", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, day_num("2024-07-30"), "google", "cohorts_90d"), 3);
    assert_int_equal(RV(ds, day_num("2024-07-30"), "google", "f2_within_90d"), 1);
    assert_int_equal(RV(ds, day_num("2024-08-28"), "google", "cohorts_90d"), 3);
    assert_int_equal(RV(ds, day_num("2024-08-28"), "google", "f2_within_90d"), 1);
    assert_int_equal(RV(ds, day_num("2024-08-29"), "google", "cohorts_90d"), 0);

    /* Every day from D-10 to D+150, each field: in range or zero. */
    for (int64_t d = DAY0 - 10; d <= DAY0 + 150; d++) {
        int in30 = d >= DAY0 + 30 && d <= DAY0 + 59;
        int in90 = d >= DAY0 + 90 && d <= DAY0 + 119;
        assert_int_equal(RV(ds, d, "google", "cohorts_30d"), in30 ? 3 : 0);
        assert_int_equal(RV(ds, d, "google", "f2_within_30d"), in30 ? 2 : 0);
        assert_int_equal(RV(ds, d, "google", "cohorts_90d"), in90 ? 3 : 0);
        assert_int_equal(RV(ds, d, "google", "f2_within_90d"), in90 ? 1 : 0);
        /* Same dimension as the base row only. */
        assert_int_equal(RV(ds, d, "", "cohorts_30d"), 0);
        assert_int_equal(RV(ds, d, "", "cohorts_90d"), 0);
    }
    /* 30 + 30 rows (the ranges do not overlap), nothing else. */
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, "google"), 60);
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, NULL), 60);
    /* The base row itself is untouched by deriving. */
    assert_int_equal(tc_val(t.aggs, ds, F2, DAY0, "google", "cohort_size"), 3);
    assert_int_equal(tc_val(t.aggs, ds, F2, DAY0, "google", "f2_count"), 5);
    /* Cohort rows do not feed other aggregators. */
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, "retention_mix", NULL), 0);

    ltv_deltas_destroy(ds);
    tracker_free(&t);
}

/* f2.rolling.window.days = 7: the same delta reaches 7 rows per horizon. */
static void test_window_of_7_days(void **state) {
    (void)state;
    tracker_t t;
    const char *conf[] = {"f2.rolling.window.days=7", NULL};
    tc_tracker_init(&t, conf);
    ltv_deltas_t *ds = ltv_deltas_new();
    cohort_delta(&t, ds, "2024-05-01", "(none)", 4, 1, 3);
    ltv_aggs_derive(t.aggs, ds);
    /* 30d: D+30 .. D+36 = 2024-05-31 .. 2024-06-06. */
    assert_int_equal(RV(ds, day_num("2024-05-30"), "(none)", "cohorts_30d"), 0);
    assert_int_equal(RV(ds, day_num("2024-05-31"), "(none)", "cohorts_30d"), 4);
    assert_int_equal(RV(ds, day_num("2024-06-06"), "(none)", "cohorts_30d"), 4);
    assert_int_equal(RV(ds, day_num("2024-06-06"), "(none)", "f2_within_30d"), 1);
    assert_int_equal(RV(ds, day_num("2024-06-07"), "(none)", "cohorts_30d"), 0);
    /* 90d: D+90 .. D+96 = 2024-07-30 .. 2024-08-05 (07-31 is +1, 08-05 is +6). */
    assert_int_equal(RV(ds, day_num("2024-07-29"), "(none)", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, day_num("2024-07-30"), "(none)", "cohorts_90d"), 4);
    assert_int_equal(RV(ds, day_num("2024-08-05"), "(none)", "cohorts_90d"), 4);
    assert_int_equal(RV(ds, day_num("2024-08-05"), "(none)", "f2_within_90d"), 3);
    assert_int_equal(RV(ds, day_num("2024-08-06"), "(none)", "cohorts_90d"), 0);
    for (int64_t d = DAY0; d <= DAY0 + 120; d++) {
        int in30 = d >= DAY0 + 30 && d <= DAY0 + 36;
        int in90 = d >= DAY0 + 90 && d <= DAY0 + 96;
        assert_int_equal(RV(ds, d, "(none)", "cohorts_30d"), in30 ? 4 : 0);
        assert_int_equal(RV(ds, d, "(none)", "f2_within_30d"), in30 ? 1 : 0);
        assert_int_equal(RV(ds, d, "(none)", "cohorts_90d"), in90 ? 4 : 0);
        assert_int_equal(RV(ds, d, "(none)", "f2_within_90d"), in90 ? 3 : 0);
    }
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, NULL), 14); /* 7 + 7 */
    ltv_deltas_destroy(ds);
    tracker_free(&t);
}

/* Only cohort_size and f2_within_{H}d matter, and per horizon. */
static void test_only_relevant_fields_derive(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_agg_t *f2 = ltv_aggs_find(t.aggs, F2);
    ltv_agg_t *roll = ltv_aggs_find(t.aggs, ROLL);
    const char *all = ltv_intern(t.aggs, "", 0);
    ltv_deltas_t *ds = ltv_deltas_new();
    /* f2_count, f3_count, f4_count only: no rolling row at all. */
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "f2_count"), 1);
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "f3_count"), 1);
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "f4_count"), -1);
    ltv_aggs_derive(t.aggs, ds);
    for (int i = 0; i < ltv_deltas_count(ds); i++)
        assert_ptr_not_equal(ltv_deltas_get(ds, i)->id.agg, roll);

    /* A second purchase 45 days after the first: f2_within_90d only (not 30d).
     * Only the 30 rows of the 90d horizon change, and only their 90d fields. */
    ltv_deltas_reset(ds);
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "f2_within_90d"), 1);
    ltv_aggs_derive(t.aggs, ds);
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, NULL), 30);
    assert_int_equal(RV(ds, DAY0 + 90, "", "f2_within_90d"), 1);
    assert_int_equal(RV(ds, DAY0 + 90, "", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, DAY0 + 45, "", "f2_within_30d"), 0);

    /* A cohort row whose changes cancel out (a customer left and re-joined it
     * in one batch) is not a base. */
    ltv_deltas_reset(ds);
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "cohort_size"), 1);
    ltv_deltas_add_field(ds, f2, DAY0, all, field_index(f2, "cohort_size"), -1);
    ltv_aggs_derive(t.aggs, ds);
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, NULL), 0);
    ltv_deltas_destroy(ds);
    tracker_free(&t);
}

/* Through the batch: the rolling rows follow the cohort rows, also when a
 * late earlier purchase moves the customer to another cohort and channel. */
static void test_batch_derives_and_corrects(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    tc_pipe_t p;
    tc_pipe_init(&p, &t);
    ltv_deltas_t *acc = ltv_deltas_new();

    /* Batch 1: o1 on 05-01 (google), o2 on 05-11: cohort 05-01, F2 within 10 days. */
    ltv_event_t b1[2] = {ev_order("o1", at(0, 10, 0), 1000, "google", NULL),
                         ev_order("o2", at(10, 10, 0), 500, NULL, NULL)};
    ltv_deltas_t *ds = tc_pipe_run(&p, b1, 2, acc);
    const char *dims[2] = {"", "google"};
    for (int k = 0; k < 2; k++) {
        /* 30d rows 05-31 .. 06-29, 90d rows 07-30 .. 08-28. */
        assert_int_equal(RV(ds, day_num("2024-05-30"), dims[k], "cohorts_30d"), 0);
        assert_int_equal(RV(ds, day_num("2024-05-31"), dims[k], "cohorts_30d"), 1);
        assert_int_equal(RV(ds, day_num("2024-05-31"), dims[k], "f2_within_30d"), 1);
        assert_int_equal(RV(ds, day_num("2024-06-29"), dims[k], "f2_within_30d"), 1);
        assert_int_equal(RV(ds, day_num("2024-06-30"), dims[k], "cohorts_30d"), 0);
        assert_int_equal(RV(ds, day_num("2024-07-30"), dims[k], "cohorts_90d"), 1);
        assert_int_equal(RV(ds, day_num("2024-08-28"), dims[k], "f2_within_90d"), 1);
        assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, dims[k]), 60);
    }
    assert_int_equal(tc_nonzero_rows(t.aggs, ds, ROLL, NULL), 120);

    /* Batch 2: a late o0 on 04-25 (meta). The customer's cohort is now 04-25,
     * channel meta, F2 = o1 six days later. 04-25 + 30 = 05-25 (April has 30
     * days: 04-30 is +5, 05-01 +6, 05-25 +30); + 29 = 06-23.
     *   all:    +1 on 05-25 .. 06-23, -1 on 05-31 .. 06-29:
     *           net +1 on 05-25 .. 05-30, 0 on 05-31 .. 06-23, -1 on 06-24 .. 06-29
     *   meta:   +1 on 05-25 .. 06-23
     *   google: -1 on 05-31 .. 06-29
     * 90d: 04-25 + 90 = 07-24 (six days before 07-30); + 29 = 08-22. */
    ltv_event_t b2[1] = {ev_order("o0", at(-6, 9, 0), 300, "meta", NULL)};
    ds = tc_pipe_run(&p, b2, 1, acc);
    for (int64_t d = day_num("2024-05-20"); d <= day_num("2024-07-05"); d++) {
        int64_t want_all = d >= day_num("2024-05-25") && d <= day_num("2024-05-30")   ? 1
                           : d >= day_num("2024-06-24") && d <= day_num("2024-06-29") ? -1
                                                                                      : 0;
        int64_t want_meta = d >= day_num("2024-05-25") && d <= day_num("2024-06-23") ? 1 : 0;
        int64_t want_google = d >= day_num("2024-05-31") && d <= day_num("2024-06-29") ? -1 : 0;
        assert_int_equal(RV(ds, d, "", "cohorts_30d"), want_all);
        assert_int_equal(RV(ds, d, "", "f2_within_30d"), want_all);
        assert_int_equal(RV(ds, d, "meta", "cohorts_30d"), want_meta);
        assert_int_equal(RV(ds, d, "meta", "f2_within_30d"), want_meta);
        assert_int_equal(RV(ds, d, "google", "cohorts_30d"), want_google);
        assert_int_equal(RV(ds, d, "google", "f2_within_30d"), want_google);
    }
    assert_int_equal(RV(ds, day_num("2024-07-23"), "", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, day_num("2024-07-24"), "", "cohorts_90d"), 1);
    assert_int_equal(RV(ds, day_num("2024-07-29"), "", "f2_within_90d"), 1);
    assert_int_equal(RV(ds, day_num("2024-07-30"), "", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, day_num("2024-08-22"), "", "cohorts_90d"), 0);
    assert_int_equal(RV(ds, day_num("2024-08-23"), "", "cohorts_90d"), -1);
    assert_int_equal(RV(ds, day_num("2024-08-28"), "", "f2_within_90d"), -1);
    assert_int_equal(RV(ds, day_num("2024-08-29"), "", "cohorts_90d"), 0);

    /* Both batches together: the rows of a from-scratch computation of the
     * final state (cohort 04-25 meta): all and meta 1 on 05-25 .. 06-23,
     * google 0 everywhere. */
    for (int64_t d = day_num("2024-05-20"); d <= day_num("2024-07-05"); d++) {
        int64_t want = d >= day_num("2024-05-25") && d <= day_num("2024-06-23") ? 1 : 0;
        assert_int_equal(RV(acc, d, "", "cohorts_30d"), want);
        assert_int_equal(RV(acc, d, "meta", "cohorts_30d"), want);
        assert_int_equal(RV(acc, d, "google", "cohorts_30d"), 0);
    }
    ltv_deltas_destroy(acc);
    tc_pipe_free(&p);
    tracker_free(&t);
}

/* The rendered rate of day t = 2024-06-15 over cohorts [t-H-W+1, t-H]. */
static void test_render_rate_over_matured_cohorts(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_deltas_t *ds = ltv_deltas_new();
    /* H = 30, W = 30: t-30 = 05-16, t-59 = 04-17 (05-16 - 15 = 05-01, - 14 = 04-17).
     * H = 90: t-90 = 03-17 (06-15 -> 05-31 is 15, -> 04-30 is 46, -> 03-31 is
     * 76, -> 03-17 is 90), t-119 = 02-17 (03-17 - 17 = 02-29, 2024 is a leap
     * year, - 12 = 02-17).
     * Cohorts (all channels): x = cohort_size, y30, y90. */
    cohort_delta(&t, ds, "2024-04-16", "", 100, 100, 100); /* just before the 30d window */
    cohort_delta(&t, ds, "2024-04-17", "", 4, 1, 1);       /* first day in */
    cohort_delta(&t, ds, "2024-05-01", "", 6, 3, 5);
    cohort_delta(&t, ds, "2024-05-16", "", 10, 4, 9);   /* last day in */
    cohort_delta(&t, ds, "2024-05-17", "", 50, 0, 0);   /* just after */
    cohort_delta(&t, ds, "2024-02-16", "", 1000, 0, 1000); /* just before the 90d window */
    cohort_delta(&t, ds, "2024-02-17", "", 2, 0, 0);       /* first day in */
    cohort_delta(&t, ds, "2024-03-17", "", 8, 8, 6);       /* last day in */
    cohort_delta(&t, ds, "2024-03-18", "", 70, 0, 70);     /* just after */
    ltv_aggs_derive(t.aggs, ds);

    int64_t day = day_num("2024-06-15");
    ltv_row_t row = tc_row(t.aggs, ds, ROLL, day, "");
    row.version = 7;
    ltv_agg_t *roll = ltv_aggs_find(t.aggs, ROLL);
    ltv_out_t o;
    ltv_out_init(&o);
    /* Watermark one ms before the end of 06-15 (06-16T00:00Z = T0 + 46 d). */
    tc_render(roll, &row, T0 + 46 * DAY_MS - 1, &o);
    assert_string_equal(tc_key(&o), "2024-06-15|all");
    tc_expect_str(&o, "day", "2024-06-15");
    tc_expect_str(&o, "channel", "all");
    tc_expect_i64(&o, "window_start", T0 + 45 * DAY_MS);
    tc_expect_i64(&o, "window_end", T0 + 46 * DAY_MS);
    tc_expect_i64(&o, "window_days", 30);
    tc_expect_str(&o, "cohort_from_30d", "2024-04-17");
    tc_expect_str(&o, "cohort_to_30d", "2024-05-16");
    /* 4 + 6 + 10 = 20 customers, 1 + 3 + 4 = 8 second purchases: 8/20 = 0.4. */
    tc_expect_i64(&o, "cohorts_30d", 20);
    tc_expect_i64(&o, "f2_within_30d", 8);
    tc_expect_f64(&o, "rolling_f2_rate_30d", 0.4);
    tc_expect_str(&o, "cohort_from_90d", "2024-02-17");
    tc_expect_str(&o, "cohort_to_90d", "2024-03-17");
    /* 2 + 8 = 10 customers, 0 + 6 = 6: 0.6. */
    tc_expect_i64(&o, "cohorts_90d", 10);
    tc_expect_i64(&o, "f2_within_90d", 6);
    tc_expect_f64(&o, "rolling_f2_rate_90d", 0.6);
    tc_expect_i64(&o, "watermark", T0 + 46 * DAY_MS - 1);
    tc_expect_i64(&o, "final", 0);
    tc_expect_i64(&o, "version", 7);
    /* Final once the watermark reaches the end of day t. */
    tc_render(roll, &row, T0 + 46 * DAY_MS, &o);
    tc_expect_i64(&o, "final", 1);
    /* Unknown clock: watermark null, not final. */
    tc_render(roll, &row, INT64_MIN, &o);
    tc_expect_null(&o, "watermark");
    tc_expect_i64(&o, "final", 0);

    /* A day without matured cohorts: rates null (0 / 0), counts 0.
     * 2024-04-01: its 30d window is 02-02 .. 03-02 and holds 02-16 and 02-17
     * (1000 + 2 customers, y30 = 0 + 0): rate 0 / 1002 = 0, not null; its 90d
     * window (2023-12-04 .. 2024-01-02) is empty: null. */
    row = tc_row(t.aggs, ds, ROLL, day_num("2024-04-01"), "");
    tc_render(roll, &row, INT64_MIN, &o);
    tc_expect_str(&o, "cohort_from_30d", "2024-02-02");
    tc_expect_str(&o, "cohort_to_30d", "2024-03-02");
    tc_expect_i64(&o, "cohorts_30d", 1002);
    tc_expect_f64(&o, "rolling_f2_rate_30d", 0.0);
    tc_expect_str(&o, "cohort_from_90d", "2023-12-04");
    tc_expect_str(&o, "cohort_to_90d", "2024-01-02");
    tc_expect_i64(&o, "cohorts_90d", 0);
    tc_expect_null(&o, "rolling_f2_rate_90d");

    ltv_out_free(&o);
    ltv_deltas_destroy(ds);
    tracker_free(&t);
}

/* W = 7: the window of 2024-06-15 is cohorts 05-10 .. 05-16 (H = 30) and
 * 03-11 .. 03-17 (H = 90). */
static void test_render_rate_window_7(void **state) {
    (void)state;
    tracker_t t;
    const char *conf[] = {"f2.rolling.window.days=7", NULL};
    tc_tracker_init(&t, conf);
    ltv_deltas_t *ds = ltv_deltas_new();
    cohort_delta(&t, ds, "2024-05-09", "google", 7, 7, 7); /* t-37: out */
    cohort_delta(&t, ds, "2024-05-10", "google", 5, 1, 0); /* t-36: in */
    cohort_delta(&t, ds, "2024-05-16", "google", 10, 4, 4); /* t-30: in */
    cohort_delta(&t, ds, "2024-05-17", "google", 3, 3, 3); /* t-29: out */
    cohort_delta(&t, ds, "2024-03-10", "google", 9, 0, 9); /* t-97: out */
    cohort_delta(&t, ds, "2024-03-11", "google", 1, 0, 1); /* t-96: in */
    cohort_delta(&t, ds, "2024-03-17", "google", 3, 0, 2); /* t-90: in */
    /* Also a cohort on another channel, same days: not in google's row. */
    cohort_delta(&t, ds, "2024-05-16", "meta", 100, 100, 100);
    ltv_aggs_derive(t.aggs, ds);

    ltv_row_t row = tc_row(t.aggs, ds, ROLL, day_num("2024-06-15"), "google");
    ltv_agg_t *roll = ltv_aggs_find(t.aggs, ROLL);
    ltv_out_t o;
    ltv_out_init(&o);
    tc_render(roll, &row, INT64_MIN, &o);
    assert_string_equal(tc_key(&o), "2024-06-15|google");
    tc_expect_i64(&o, "window_days", 7);
    tc_expect_str(&o, "cohort_from_30d", "2024-05-10");
    tc_expect_str(&o, "cohort_to_30d", "2024-05-16");
    /* 5 + 10 = 15, 1 + 4 = 5: 1/3. */
    tc_expect_i64(&o, "cohorts_30d", 15);
    tc_expect_i64(&o, "f2_within_30d", 5);
    tc_expect_f64(&o, "rolling_f2_rate_30d", 1.0 / 3.0);
    tc_expect_str(&o, "cohort_from_90d", "2024-03-11");
    tc_expect_str(&o, "cohort_to_90d", "2024-03-17");
    /* 1 + 3 = 4, 1 + 2 = 3: 0.75. */
    tc_expect_i64(&o, "cohorts_90d", 4);
    tc_expect_i64(&o, "f2_within_90d", 3);
    tc_expect_f64(&o, "rolling_f2_rate_90d", 0.75);
    ltv_out_free(&o);
    ltv_deltas_destroy(ds);
    tracker_free(&t);
}

/* A rolling row is shown from the start of its day t and final after its
 * end; days are cut in tz.offset. */
static void test_visible_from_and_milestones(void **state) {
    (void)state;
    const char *zones[2] = {NULL, "tz.offset=+09:00"};
    /* 2024-06-15 starts at T0 + 45 d in UTC, 9 h earlier in +09:00. */
    const int64_t start[2] = {T0 + 45 * DAY_MS, T0 + 45 * DAY_MS - 9 * HOUR_MS};
    for (int z = 0; z < 2; z++) {
        tracker_t t;
        const char *conf[] = {zones[z], NULL};
        tc_tracker_init(&t, zones[z] ? conf : NULL);
        ltv_agg_t *roll = ltv_aggs_find(t.aggs, ROLL);
        ltv_rowid_t id = {roll, day_num("2024-06-15"), ltv_intern(t.aggs, "", 0)};
        assert_non_null(roll->cls->visible_from);
        assert_true(roll->cls->visible_from(roll, &id) == start[z]);
        int64_t ms[LTV_MAX_MILESTONES];
        assert_int_equal(roll->cls->milestones(roll, &id, ms), 1);
        assert_true(ms[0] == start[z] + DAY_MS);
        /* The rendered window and final flag agree. */
        ltv_row_t row = tc_row(t.aggs, NULL, ROLL, id.day, "");
        ltv_out_t o;
        ltv_out_init(&o);
        tc_render(roll, &row, start[z] + DAY_MS - 1, &o);
        tc_expect_i64(&o, "window_start", start[z]);
        tc_expect_i64(&o, "window_end", start[z] + DAY_MS);
        tc_expect_i64(&o, "final", 0);
        tc_render(roll, &row, start[z] + DAY_MS, &o);
        tc_expect_i64(&o, "final", 1);
        ltv_out_free(&o);
        tracker_free(&t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_anchors),
        cmocka_unit_test(test_cohort_delta_spreads_over_w_rows),
        cmocka_unit_test(test_window_of_7_days),
        cmocka_unit_test(test_only_relevant_fields_derive),
        cmocka_unit_test(test_batch_derives_and_corrects),
        cmocka_unit_test(test_render_rate_over_matured_cohorts),
        cmocka_unit_test(test_render_rate_window_7),
        cmocka_unit_test(test_visible_from_and_milestones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
