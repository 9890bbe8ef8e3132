/*
 * Lifecycle triggers (aggregators/lifecycle.c) through the batch, the way
 * the stage drives them: events applied in arrival order, timers settled at
 * each batch's watermark, recency ticks re-scoring customers at the clock's
 * day. Every expected trigger, due time and day count is worked out by hand
 * in the comments from the fixture times (T0 = 2024-05-01T00:00Z, day 19844,
 * unit_fixtures.h), with the default configuration: follow-ups on days 3, 7,
 * 14, 30; revisit after 50 hours; sign-up after 7 days; R edges 14, 30, 60,
 * 120 days.
 */
#include "tc_helpers.h"
#include "lifecycle.h"

typedef struct fx_s {
    tracker_t t;
    ltv_cache_t *cache;
    ltv_batch_t *b;
    ltv_lifecycle_t *lc;
    uint32_t seq;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof(*f));
    tc_tracker_init(&f->t, NULL);
    f->cache = ltv_cache_new(0, 0);
    f->b = ltv_batch_new(f->t.aggs, f->cache, 0);
    f->lc = ltv_lifecycle_new(f->t.conf, ltv_aggs_rfm(f->t.aggs));
    ltv_batch_set_lifecycle(f->b, f->lc);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    ltv_batch_destroy(f->b);
    ltv_lifecycle_destroy(f->lc);
    ltv_cache_destroy(f->cache);
    tracker_free(&f->t);
    free(f);
    return 0;
}

/* One batch: events (partition 0), customers whose timer fell due (`due`,
 * NULL-terminated) and customers re-scored by a recency tick (`tick`),
 * at watermark wm and clock day `day` (INT64_MIN: no scoring). Returns the
 * number of triggers fired (ltv_lifecycle_fired holds them until the next
 * batch). */
static int run(fx_t *f, const ltv_event_t *evs, int n, const char *const *due,
               const char *const *tick, int64_t wm, int64_t day) {
    ltv_batch_begin(f->b, ++f->seq);
    for (int i = 0; i < n; i++)
        *ltv_batch_add(f->b, 0) = evs[i];
    for (int i = 0; due && due[i]; i++)
        ltv_batch_lc_due(f->b, due[i], strlen(due[i]), 0);
    for (int i = 0; tick && tick[i]; i++)
        ltv_batch_rescore(f->b, tick[i], strlen(tick[i]), 0);
    ltv_batch_set_clock_day(f->b, day);
    ltv_load_t *loads = NULL;
    int nloads = ltv_batch_loads(f->b, &loads);
    for (int i = 0; i < nloads; i++)
        loads[i].out = NULL; /* not in the store: new */
    ltv_batch_loaded(f->b);
    ltv_batch_set_watermark(f->b, wm);
    ltv_batch_stats_t st;
    memset(&st, 0, sizeof(st));
    ltv_batch_apply(f->b, &st);
    ltv_batch_committed(f->b);
    char *const *m;
    return ltv_lifecycle_fired(f->lc, &m);
}

static ltv_customer_t *cust(fx_t *f, const char *id) {
    ltv_centry_t *e = ltv_cache_get(f->cache, LTV_ENT_CUSTOMER, id, strlen(id));
    assert_non_null(e);
    assert_non_null(e->c);
    return e->c;
}

/* The i-th trigger of the last batch has this customer, occasion, event
 * time and days since the first purchase (INT64_MIN: null). */
static void expect(fx_t *f, int i, const char *customer, const char *occasion, int64_t at,
                   int64_t days) {
    char *const *m;
    int n = ltv_lifecycle_fired(f->lc, &m);
    assert_true(i < n);
    char *copy = strdup(m[i]);
    ltv_trigger_t t;
    assert_int_equal(ltv_trigger_decode(copy, &t), 0);
    ltv_buf_t occ;
    ltv_buf_init(&occ);
    ltv_trigger_occasion(&t, &occ);
    assert_string_equal(t.customer, customer);
    assert_string_equal(occ.p, occasion);
    if (t.at != at)
        fail_msg("%s: at %lld, want %lld", occasion, (long long)t.at, (long long)at);
    if (t.days != days)
        fail_msg("%s: days %lld, want %lld", occasion, (long long)t.days, (long long)days);
    ltv_buf_free(&occ);
    free(copy);
}

/* Customer c1: first order 2024-05-01 10:00 (T0+10h), second order on day
 * 5, 2024-05-06 09:00 (T0+5d+9h). The follow-ups fall due at T0+10h plus 3,
 * 7, 14, 30 days: 2024-05-04 10:00 (before the second order: fires),
 * 2024-05-08 10:00, 05-15 10:00, 05-31 10:00 (after it: settled silently). */
static void test_second_purchase_on_day_5_stops_the_day_7_followup(void **state) {
    fx_t *f = *state;
    const char *c1[] = {"c1", NULL};
    ltv_event_t o1 = ev_order("o1", T0 + 10 * HOUR_MS, 5000, "google", "brand");
    ltv_event_t o2 = ev_order("o2", T0 + 5 * DAY_MS + 9 * HOUR_MS, 3000, "meta", "video");

    assert_int_equal(run(f, &o1, 1, NULL, NULL, T0 + 12 * HOUR_MS, INT64_MIN), 1);
    expect(f, 0, "c1", "first_purchase", T0 + 10 * HOUR_MS, 0);
    assert_int_equal(cust(f, "c1")->lc_due, T0 + 3 * DAY_MS + 10 * HOUR_MS);

    /* The watermark passes 2024-05-04 10:00 by an hour: day 3 fires. */
    assert_int_equal(run(f, NULL, 0, c1, NULL, T0 + 3 * DAY_MS + 11 * HOUR_MS, INT64_MIN), 1);
    expect(f, 0, "c1", "f2_followup_due:3", T0 + 3 * DAY_MS + 10 * HOUR_MS, 3);
    assert_int_equal(cust(f, "c1")->lc_due, T0 + 7 * DAY_MS + 10 * HOUR_MS);

    /* The second order: F2 after 19849 - 19844 = 5 days. */
    assert_int_equal(run(f, &o2, 1, NULL, NULL, T0 + 5 * DAY_MS + 12 * HOUR_MS, INT64_MIN), 1);
    expect(f, 0, "c1", "second_purchase", T0 + 5 * DAY_MS + 9 * HOUR_MS, 5);

    /* Day 7 falls due: the customer bought before it, nothing is sent. */
    assert_int_equal(run(f, NULL, 0, c1, NULL, T0 + 8 * DAY_MS, INT64_MIN), 0);
    assert_int_equal(cust(f, "c1")->lc_f2_day, 7);
    assert_int_equal(cust(f, "c1")->lc_due, T0 + 14 * DAY_MS + 10 * HOUR_MS);
    /* Days 14 and 30 likewise; then nothing is scheduled. */
    assert_int_equal(run(f, NULL, 0, c1, NULL, T0 + 31 * DAY_MS, INT64_MIN), 0);
    assert_int_equal(cust(f, "c1")->lc_f2_day, 30);
    assert_int_equal(cust(f, "c1")->lc_due, 0);
    /* Settled occasions never fire again, whatever is replayed. */
    assert_int_equal(run(f, &o1, 1, c1, NULL, T0 + 40 * DAY_MS, INT64_MIN), 0);
}

/* The same customer learnt about all at once, late (a backfill whose
 * watermark is already at 2024-05-09): first and second purchase fire as
 * the orders are applied, and the timers judge each due time by event
 * time, so day 3 still fires (the second order came after it) and day 7
 * does not, exactly as in the live run above. */
static void test_followups_judged_in_event_time(void **state) {
    fx_t *f = *state;
    ltv_event_t ev[] = {
        mk_purchase("c2", "o1", "o1", LTV_PT_ORDER, T0 + 10 * HOUR_MS, 5000, "google", "brand"),
        mk_purchase("c2", "o2", "o2", LTV_PT_ORDER, T0 + 5 * DAY_MS + 9 * HOUR_MS, 3000, "meta",
                    "video"),
    };
    assert_int_equal(run(f, ev, 2, NULL, NULL, T0 + 8 * DAY_MS, INT64_MIN), 3);
    expect(f, 0, "c2", "first_purchase", T0 + 10 * HOUR_MS, 0);
    expect(f, 1, "c2", "second_purchase", T0 + 5 * DAY_MS + 9 * HOUR_MS, 5);
    expect(f, 2, "c2", "f2_followup_due:3", T0 + 3 * DAY_MS + 10 * HOUR_MS, 3);
    assert_int_equal(cust(f, "c2")->lc_f2_day, 7);
}

/* A cancelled first order followed by another: the customer is greeted
 * once. Events in one batch are seen one by one, in arrival order. */
static void test_first_purchase_fires_once(void **state) {
    fx_t *f = *state;
    ltv_event_t ev[] = {
        mk_purchase("c3", "o1", "o1", LTV_PT_ORDER, T0, 5000, NULL, NULL),
        mk_purchase("c3", "o1c", "o1", LTV_PT_CANCEL, T0 + HOUR_MS, 0, NULL, NULL),
        mk_purchase("c3", "o2", "o2", LTV_PT_ORDER, T0 + 2 * HOUR_MS, 4000, NULL, NULL),
    };
    assert_int_equal(run(f, ev, 3, NULL, NULL, INT64_MIN, INT64_MIN), 1);
    expect(f, 0, "c3", "first_purchase", T0, 0);
    /* n is 1 again, the first purchase now o2; follow-ups still count from
     * the first order placed, o1 at T0: day 3 falls due at T0+3d. */
    assert_int_equal(cust(f, "c3")->lc_due, T0 + 3 * DAY_MS);
}

/* An order at T0 cancelled a day later. Whether the cancellation is known
 * when the day-3 follow-up (T0+3d) falls due decides whether it fires (an
 * event later than the watermark cannot take back a trigger sent), but not
 * the state left behind: both customers end with day 3 settled and day 7
 * (T0+7d) next. */
static void test_state_independent_of_when_a_cancel_arrives(void **state) {
    fx_t *f = *state;
    const char *d1[] = {"d1", NULL}, *d2[] = {"d2", NULL};
    ltv_event_t o1 = mk_purchase("d1", "o1", "o1", LTV_PT_ORDER, T0, 5000, NULL, NULL);
    ltv_event_t c1 = mk_purchase("d1", "o1c", "o1", LTV_PT_CANCEL, T0 + DAY_MS, 0, NULL, NULL);
    ltv_event_t both[] = {
        mk_purchase("d2", "o1", "o1", LTV_PT_ORDER, T0, 5000, NULL, NULL),
        mk_purchase("d2", "o1c", "o1", LTV_PT_CANCEL, T0 + DAY_MS, 0, NULL, NULL),
    };
    /* d1: the cancel arrives after the day-3 follow-up was sent. */
    assert_int_equal(run(f, &o1, 1, NULL, NULL, T0 + HOUR_MS, INT64_MIN), 1);
    assert_int_equal(run(f, NULL, 0, d1, NULL, T0 + 4 * DAY_MS, INT64_MIN), 1);
    expect(f, 0, "d1", "f2_followup_due:3", T0 + 3 * DAY_MS, 3);
    assert_int_equal(run(f, &c1, 1, NULL, NULL, T0 + 4 * DAY_MS + HOUR_MS, INT64_MIN), 0);
    /* d2: known cancelled before: day 3 settles without firing. */
    assert_int_equal(run(f, both, 2, NULL, NULL, T0 + HOUR_MS, INT64_MIN), 1);
    expect(f, 0, "d2", "first_purchase", T0, 0);
    assert_int_equal(run(f, NULL, 0, d2, NULL, T0 + 4 * DAY_MS + HOUR_MS, INT64_MIN), 0);
    const ltv_customer_t *a = cust(f, "d1"), *b = cust(f, "d2");
    assert_int_equal(a->lc_done, b->lc_done);
    assert_int_equal(a->lc_f2_day, 3);
    assert_int_equal(b->lc_f2_day, 3);
    assert_int_equal(a->lc_due, T0 + 7 * DAY_MS);
    assert_int_equal(b->lc_due, T0 + 7 * DAY_MS);
}

/* First visits at 2024-05-01 09:00 (T0+9h): revisit_due falls due 50 hours
 * later, 2024-05-03 11:00 (T0+59h).
 *   v1 never comes back: fires, at T0+59h, no purchase (days null).
 *   v2 comes back 2024-05-03 08:00 (T0+56h), a later day before the due
 *      time: does not fire.
 *   v3 comes back the same day (T0+15h, not a return) and 2024-05-03 12:00
 *      (T0+60h, after the due time): fires.
 *   v4's visits arrive in reverse: 2024-05-03 10:00 first, then the first
 *      visit: the return at T0+58h is before T0+59h, does not fire. */
static void test_revisit_due(void **state) {
    fx_t *f = *state;
    ltv_event_t ev[] = {
        mk_visit("v1", "vis-1", "v1-a", T0 + 9 * HOUR_MS),
        mk_visit("v2", "vis-2", "v2-a", T0 + 9 * HOUR_MS),
        mk_visit("v2", "vis-2", "v2-b", T0 + 56 * HOUR_MS),
        mk_visit("v3", "vis-3", "v3-a", T0 + 9 * HOUR_MS),
        mk_visit("v3", "vis-3", "v3-b", T0 + 15 * HOUR_MS),
        mk_visit("v3", "vis-3", "v3-c", T0 + 60 * HOUR_MS),
        mk_visit("v4", "vis-4", "v4-b", T0 + 58 * HOUR_MS),
        mk_visit("v4", "vis-4", "v4-a", T0 + 9 * HOUR_MS),
    };
    /* Nothing due yet at T0+20h: */
    assert_int_equal(run(f, ev, 8, NULL, NULL, T0 + 20 * HOUR_MS, INT64_MIN), 0);
    assert_int_equal(cust(f, "v1")->lc_due, T0 + 59 * HOUR_MS);
    assert_int_equal(cust(f, "v4")->lc_due, T0 + 59 * HOUR_MS);
    assert_int_equal(cust(f, "v4")->lc_revisit_ts, T0 + 58 * HOUR_MS);
    const char *due[] = {"v1", "v2", "v3", "v4", NULL};
    assert_int_equal(run(f, NULL, 0, due, NULL, T0 + 59 * HOUR_MS, INT64_MIN), 2);
    expect(f, 0, "v1", "revisit_due", T0 + 59 * HOUR_MS, INT64_MIN);
    expect(f, 1, "v3", "revisit_due", T0 + 59 * HOUR_MS, INT64_MIN);
    for (int i = 0; due[i]; i++)
        assert_int_equal(cust(f, due[i])->lc_due, 0);
}

/* Sign-ups at T0 (2024-05-01 00:00): due T0 + 7 days. s1 never buys:
 * fires at T0+7d, with the watermark exactly there. s2 buys on day 6:
 * does not fire. s3 bought on day 8, after the due time: fires. */
static void test_signup_no_purchase(void **state) {
    fx_t *f = *state;
    ltv_event_t ev[] = {
        mk_visit("s1", "vis-s1", "s1-a", T0),
        mk_visit("s2", "vis-s2", "s2-a", T0),
        mk_purchase("s2", "s2-o", "s2-o", LTV_PT_ORDER, T0 + 6 * DAY_MS, 1000, NULL, NULL),
        mk_visit("s3", "vis-s3", "s3-a", T0),
        mk_purchase("s3", "s3-o", "s3-o", LTV_PT_ORDER, T0 + 8 * DAY_MS, 1000, NULL, NULL),
    };
    ev[0].signup = ev[1].signup = ev[3].signup = 1;
    /* first_purchase of s2 and s3 only; the revisits (T0+50h) have not come
     * due at T0+1h. */
    assert_int_equal(run(f, ev, 5, NULL, NULL, T0 + HOUR_MS, INT64_MIN), 2);
    /* At T0+7d: revisit_due (due T0+50h) for all three, none came back;
     * sign-up for s1 and s3, in customer order of the batch (due list),
     * each customer's revisit before its sign-up. */
    const char *due[] = {"s1", "s2", "s3", NULL};
    assert_int_equal(run(f, NULL, 0, due, NULL, T0 + 7 * DAY_MS, INT64_MIN), 5);
    expect(f, 0, "s1", "revisit_due", T0 + 50 * HOUR_MS, INT64_MIN);
    expect(f, 1, "s1", "signup_no_purchase", T0 + 7 * DAY_MS, INT64_MIN);
    /* s2's first purchase (day 6) came after T0+50h: none by then, days null. */
    expect(f, 2, "s2", "revisit_due", T0 + 50 * HOUR_MS, INT64_MIN);
    expect(f, 3, "s3", "revisit_due", T0 + 50 * HOUR_MS, INT64_MIN);
    expect(f, 4, "s3", "signup_no_purchase", T0 + 7 * DAY_MS, INT64_MIN);
}

/* One order on day D0 = 2024-05-01, scored at clock day D0: R 5 (0 days),
 * F 1 (1 exceeds no edge of 1,2,3,5): new_customer, customer_rfm version 1.
 * A recency tick at D0+15: 15 days > 14, R 4: promising (4:1), version 2,
 * segment_changed new_customer -> promising, at the day R 4 began, D0 + 14
 * + 1 = 2024-05-16 (T0+15d). A tick at D0+121 (121 > 120: R 1): lost
 * (1:1), version 3: segment_changed promising -> lost (the segments in
 * between were never reported) and lapsed, both at D0 + 120 + 1 (T0+121d). */
static void test_segment_changed_and_lapsed_from_recency_ticks(void **state) {
    fx_t *f = *state;
    const char *c[] = {"r1", NULL};
    ltv_event_t o = mk_purchase("r1", "o1", "o1", LTV_PT_ORDER, T0 + 10 * HOUR_MS, 1000, NULL,
                                NULL);
    assert_int_equal(run(f, &o, 1, NULL, NULL, INT64_MIN, DAY0), 1);
    expect(f, 0, "r1", "first_purchase", T0 + 10 * HOUR_MS, 0);
    assert_int_equal(cust(f, "r1")->rfm_version, 1);

    assert_int_equal(run(f, NULL, 0, NULL, c, INT64_MIN, DAY0 + 15), 1);
    expect(f, 0, "r1", "segment_changed:2", T0 + 15 * DAY_MS, 15);
    char *const *m;
    ltv_lifecycle_fired(f->lc, &m);
    char *copy = strdup(m[0]);
    ltv_trigger_t t;
    assert_int_equal(ltv_trigger_decode(copy, &t), 0);
    assert_string_equal(t.from, "new_customer");
    assert_string_equal(t.to, "promising");
    free(copy);

    /* A tick that crosses no edge changes nothing. */
    assert_int_equal(run(f, NULL, 0, NULL, c, INT64_MIN, DAY0 + 20), 0);

    assert_int_equal(run(f, NULL, 0, NULL, c, INT64_MIN, DAY0 + 121), 2);
    expect(f, 0, "r1", "segment_changed:3", T0 + 121 * DAY_MS, 121);
    expect(f, 1, "r1", "lapsed:3", T0 + 121 * DAY_MS, 121);
    ltv_lifecycle_fired(f->lc, &m);
    copy = strdup(m[0]);
    assert_int_equal(ltv_trigger_decode(copy, &t), 0);
    assert_string_equal(t.from, "promising");
    assert_string_equal(t.to, "lost");
    free(copy);
}

/* The record a step-mail tool reads, written out by hand. */
static void test_render(void **state) {
    (void)state;
    char member[] = "t|f2_followup_due\x1f" "7\x1f" "1715162400000\x1f" "7\x1f" "1\x1f"
                    "1714557600000\x1f\x01\x1f\x01\x1f" "google\x1f\x01\x1f" "c|1";
    ltv_trigger_t t;
    assert_int_equal(ltv_trigger_type_of(member), LTV_TRG_F2_FOLLOWUP);
    assert_int_equal(ltv_trigger_decode(member, &t), 0);
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_trigger_render(&t, INT64_C(1715166000000), &o);
    ltv_buf_t json;
    ltv_buf_init(&json);
    ltv_out_json(&o, &json);
    /* 1714557600000 = T0 + 10h = 2024-05-01T10:00:00Z; + 7 days =
     * 1715162400000 (2024-05-08T10:00:00Z); the watermark an hour later. */
    assert_string_equal(json.p,
                        "{\"customer_id\":\"c|1\",\"trigger\":\"f2_followup_due\","
                        "\"occasion\":\"f2_followup_due:7\",\"trigger_id\":\"c|1|f2_followup_due:7\","
                        "\"at\":\"2024-05-08T10:00:00.000Z\",\"days_since_first_purchase\":7,"
                        "\"purchase_count\":1,\"first_purchase_ts\":\"2024-05-01T10:00:00.000Z\","
                        "\"segment_from\":null,\"segment_to\":null,\"first_channel\":\"google\","
                        "\"first_campaign\":null,\"watermark\":\"2024-05-08T11:00:00.000Z\"}");
    assert_string_equal(tc_key(&o), "c|1");
    assert_string_equal(o.hdr_name, "occasion");
    assert_int_equal(o.hdr_value.n, strlen("f2_followup_due:7"));
    assert_memory_equal(o.hdr_value.p, "f2_followup_due:7", o.hdr_value.n);
    ltv_buf_free(&json);
    ltv_out_free(&o);
}

/* A customer stored before lifecycle triggers existed (its value has no
 * lifecycle section: test_customer_codec) has its past occasions settled
 * silently: bought once 200 days before the watermark, never again. From
 * then on it is tracked: its value keeps the section. */
static void test_untracked_customer_settles_silently(void **state) {
    fx_t *f = *state;
    ltv_customer_t *old = ltv_customer_new(LTV_ENT_CUSTOMER, "u", 1);
    ltv_event_t o = mk_purchase("u", "o1", "o1", LTV_PT_ORDER, T0 - 200 * DAY_MS, 1000, NULL, NULL);
    apply(old, o);
    ltv_customer_t *u = stored_and_read(old, NULL);
    assert_non_null(u);
    assert_int_equal(u->lc_kept, 0);
    assert_int_equal(u->lc_done, LTV_LC_UNTRACKED);
    ltv_lifecycle_settle(f->lc, u, T0, 0);
    char *const *m;
    assert_int_equal(ltv_lifecycle_fired(f->lc, &m), 0);
    assert_int_equal(u->lc_f2_day, 30);
    assert_int_equal(u->lc_done, LTV_LC_FIRST);
    assert_int_equal(u->lc_due, 0);
    assert_true(u->dirty & LTV_D_LIFECYCLE);
    assert_int_equal(u->lc_kept, 1);
    ltv_customer_destroy(u);
    ltv_customer_destroy(old);
}

/* A customer first seen while triggers are on gets its lifecycle section
 * written even when nothing is settled or due (only a cancel so far):
 * read back, it is tracked, as it was in the cache. */
static void test_new_customer_is_kept_without_occasions(void **state) {
    fx_t *f = *state;
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, "k", 1);
    apply(c, mk_purchase("k", "x1", "o1", LTV_PT_CANCEL, T0, 0, NULL, NULL));
    ltv_customer_clear_dirty(c);
    ltv_lifecycle_settle(f->lc, c, T0, 0);
    assert_int_equal(c->lc_done, 0);
    assert_int_equal(c->lc_due, 0);
    assert_true(c->dirty & LTV_D_LIFECYCLE);
    assert_int_equal(c->lc_kept, 1);
    ltv_customer_t *d = stored_and_read(c, NULL);
    assert_non_null(d);
    assert_int_equal(d->lc_kept, 1);
    assert_int_equal(d->lc_done, 0); /* tracked: not LTV_LC_UNTRACKED */
    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_second_purchase_on_day_5_stops_the_day_7_followup,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_followups_judged_in_event_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_first_purchase_fires_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_independent_of_when_a_cancel_arrives, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_revisit_due, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signup_no_purchase, setup, teardown),
        cmocka_unit_test_setup_teardown(test_segment_changed_and_lapsed_from_recency_ticks,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_render, setup, teardown),
        cmocka_unit_test_setup_teardown(test_untracked_customer_settles_silently, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_customer_is_kept_without_occasions, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
