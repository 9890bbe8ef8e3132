/*
 * SPEC §5.3 "recency decays without events": customer A buys once, on day
 * D = 2025-03-01; afterwards only other customers' purchases and visits
 * move the event-time clock, to D+20 and then to D+40. A's RFM scores,
 * segment and ltv.customer_rfm row must follow the clock although A sends
 * nothing more, and ltv.rfm_segments must count A in the right segment on
 * every day.
 *
 * The clock. One partition per input topic, allowed.lateness.ms=0 and
 * watermark.idle.timeout.ms=0 (a partition never counts as idle), so the
 * watermark is exactly min(highest purchase ts, highest visit ts) and every
 * step below produces a purchase and a visit at the same time. The stage
 * runs live; each step waits (polling, no fixed sleeps) until Redis holds
 * the input's end offsets, the stored watermark is the step's time and the
 * emission queue is empty (every row of the step confirmed delivered).
 *
 * The expected scores, from the default edges (rfm.r.days 14,30,60,120;
 * rfm.f.edges 1,2,3,5; rfm.m.edges 5000,20000,50000,100000; segments
 * new_customer:5:1, promising:4:1, about_to_sleep:3:1-2, hibernating:1-2:1-2
 * for F=1):
 *   A: one order of 5000 -> F = 1 + #{edges < 1} = 1, M = 1 + #{edges <= 5000} = 2
 *   clock day D     recency  0 <= 14 -> R 5 -> new_customer
 *   clock day D+20  recency 20 <= 30 -> R 4 -> promising
 *   clock day D+40  recency 40 <= 60 -> R 3 -> about_to_sleep
 * rfm_segments of day t counts a one-order customer who bought on day L as
 * new_customer for t-L <= 14, promising for 15..30, about_to_sleep for
 * 31..60: A is new_customer on D..D+14 and promising from D+15.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <cmocka.h>

#include "harness.h"

#define NS "rec"

static h_env_t *H;
static pid_t stage;
static int64_t produced; /* messages produced so far */
static int64_t D;        /* day number of 2025-03-01 */

static const char *const stage_x[] = {"allowed.lateness.ms=0", "watermark.idle.timeout.ms=0",
                                      NULL};

/* Produces evs and waits until the stage has committed them, the clock
 * stands at `wm` and every row is delivered. */
static void step(const ltv_event_t *evs, int n, const char *wm_iso) {
    h_produce(H, evs, n);
    produced += n;
    assert_int_equal(h_input_end(H), produced);
    char what[64];
    snprintf(what, sizeof(what), "step to %s", wm_iso);
    h_wait_settled(H, NS, produced, h_ts(wm_iso), 30000, what);
}

static int setup(void **state) {
    (void)state;
    H = h_start(1, 0);
    ltv_day_parse("2025-03-01", &D);
    stage = h_stage_start(H, NS, stage_x);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    kill(stage, SIGTERM);
    int rc = h_stage_wait(stage, 30000);
    h_stop(H);
    if (rc != 0) {
        fprintf(stderr, "stage exited with %d on SIGTERM\n", rc);
        return -1;
    }
    return 0;
}

/* ---- reading back ---------------------------------------------------------------- */

typedef struct arow_s {
    char r[8], seg[40], since[16];
    int64_t version, monetary;
} arow_t;

/* The newest ltv.customer_rfm row of a customer. */
static arow_t customer_row(const char *cust) {
    ltv_table_t t;
    h_read_table(H, "ltv.customer_rfm", &t);
    const ltv_table_row_t *r = ltv_table_get(&t, cust);
    if (!r)
        fail_msg("no ltv.customer_rfm row for %s", cust);
    arow_t a;
    memset(&a, 0, sizeof(a));
    ltv_json_field(r->json, "r_score", a.r, sizeof(a.r));
    ltv_json_field(r->json, "segment", a.seg, sizeof(a.seg));
    ltv_json_field(r->json, "r_score_since", a.since, sizeof(a.since));
    a.version = r->version;
    a.monetary = ltv_json_field_i64(r->json, "monetary");
    ltv_table_free(&t);
    return a;
}

static void assert_hash(const char *key, const char *field, const char *want) {
    char *v = h_hget(H, key, field);
    if (!v || strcmp(v, want))
        fail_msg("%s %s is %s, want %s", key, field, v ? v : "(none)", want);
    free(v);
}

/* The segment a one-order customer is counted in on day t (default
 * edges, F = 1), or NULL before the order. */
static const char *seg_of(int64_t order_day, int64_t t) {
    if (t < order_day)
        return NULL;
    int64_t since = t - order_day;
    return since <= 14 ? "new_customer"
           : since <= 30 ? "promising"
           : since <= 60 ? "about_to_sleep"
           : since <= 120 ? "hibernating"
                          : "lost";
}

/* Every rfm_segments row of days D .. clock_day equals the counts worked
 * out from the customers' order days; no row exists after the clock's
 * day. */
static void check_segments(const int64_t *order_days, int ncust, int64_t clock_day) {
    static const char *const segs[] = {"champions", "loyal", "potential_loyalist",
                                       "new_customer", "promising", "need_attention",
                                       "about_to_sleep", "cant_lose", "at_risk",
                                       "lost", "hibernating"};
    ltv_table_t t;
    h_read_table(H, "ltv.rfm_segments", &t);
    for (int64_t d = D; d <= clock_day; d++) {
        char day[16];
        ltv_day_format(d, day);
        const ltv_table_row_t *r = ltv_table_get(&t, day);
        if (!r)
            fail_msg("no rfm_segments row for %s (clock day D+%lld)", day,
                     (long long)(clock_day - D));
        int64_t total = 0;
        for (size_t s = 0; s < sizeof(segs) / sizeof(segs[0]); s++) {
            int64_t want = 0;
            for (int c = 0; c < ncust; c++) {
                const char *g = seg_of(order_days[c], d);
                want += g && !strcmp(g, segs[s]);
            }
            total += want;
            int64_t got = ltv_json_field_i64(r->json, segs[s]);
            if (got != want)
                fail_msg("rfm_segments %s (D+%lld): %s = %lld, want %lld; row %s", day,
                         (long long)(d - D), segs[s], (long long)got, (long long)want, r->json);
        }
        assert_int_equal(ltv_json_field_i64(r->json, "customers"), total);
    }
    char next[16];
    ltv_day_format(clock_day + 1, next);
    if (ltv_table_get(&t, next))
        fail_msg("rfm_segments row for %s, after the clock's day", next);
    ltv_table_free(&t);
}

/* ---- the story ------------------------------------------------------------------- */

static arow_t a0, a20;

static void day_d_new_customer(void **state) {
    (void)state;
    ltv_event_t ev[] = {
        h_order("a-1", "A", "oa-1", "2025-03-01T10:00:00", 5000, "email", "welcome"),
        /* s: a second one-order customer, for the stale-row check at the end */
        h_order("s-1", "S", "os-1", "2025-03-01T09:00:00", 3000, "google", NULL),
        h_visit("v-0", "V0", "vis-0", "2025-03-01T10:00:00"),
    };
    step(ev, 3, "2025-03-01T10:00:00");
    a0 = customer_row("A");
    assert_string_equal(a0.r, "5");
    assert_string_equal(a0.seg, "new_customer");
    assert_string_equal(a0.since, "2025-03-01"); /* R=5 from the purchase day */
    assert_true(a0.version >= 1);
    assert_hash(NS ":c:{A}", "r", "5");
    assert_hash(NS ":c:{A}", "segment", "new_customer");
    assert_int_equal(h_hget_i64(H, NS ":c:{A}", "rfm_version"), a0.version);
    int64_t days[] = {D, D};
    check_segments(days, 2, D);
}

static void day_d20_promising_without_event(void **state) {
    (void)state;
    ltv_event_t ev[] = {
        h_order("b-1", "B", "ob-1", "2025-03-21T10:00:00", 7000, "meta", NULL),
        h_visit("v-b", "B", "vis-b", "2025-03-21T10:00:00"),
    };
    step(ev, 2, "2025-03-21T10:00:00");
    a20 = customer_row("A");
    assert_string_equal(a20.r, "4");
    assert_string_equal(a20.seg, "promising");
    /* R=4 once recency exceeds 14 days: 03-01 + 15 = 03-16 */
    assert_string_equal(a20.since, "2025-03-16");
    assert_true(a20.version > a0.version);
    /* A's state in Redis moved too; its purchases did not. */
    assert_hash(NS ":c:{A}", "r", "4");
    assert_hash(NS ":c:{A}", "segment", "promising");
    assert_int_equal(h_hget_i64(H, NS ":c:{A}", "purchase_count"), 1);
    assert_int_equal(h_hget_i64(H, NS ":c:{A}", "rfm_version"), a20.version);
    /* A: new_customer D..D+14, promising D+15..D+20; B new on D+20. */
    int64_t days[] = {D, D, D + 20};
    check_segments(days, 3, D + 20);
}

static void day_d40_about_to_sleep_without_event(void **state) {
    (void)state;
    ltv_event_t ev[] = {
        h_order("c-1", "C", "oc-1", "2025-04-10T10:00:00", 2000, "organic", NULL),
        h_visit("v-c", "C", "vis-c", "2025-04-10T10:00:00"),
    };
    step(ev, 2, "2025-04-10T10:00:00");
    arow_t a40 = customer_row("A");
    assert_string_equal(a40.r, "3");
    assert_string_equal(a40.seg, "about_to_sleep");
    /* R=3 once recency exceeds 30 days: 03-01 + 31 = 04-01 */
    assert_string_equal(a40.since, "2025-04-01");
    assert_true(a40.version > a20.version);
    assert_hash(NS ":c:{A}", "r", "3");
    assert_hash(NS ":c:{A}", "segment", "about_to_sleep");
    assert_int_equal(h_hget_i64(H, NS ":c:{A}", "rfm_version"), a40.version);
    /* B decayed too: promising from D+35. */
    arow_t b = customer_row("B");
    assert_string_equal(b.seg, "promising");
    assert_string_equal(b.since, "2025-04-05"); /* 03-21 + 15 */
    int64_t days[] = {D, D, D + 20, D + 40};
    check_segments(days, 4, D + 40);
}

/* The customer_rfm row also carries monetary (and frequency, first/last
 * purchase, first channel). A refund that leaves every score as it was
 * must still not leave the newest row showing the old monetary. S bought
 * for 3000 (M 1); a refund of 1000 leaves 2000 (M 1). */
static void refund_keeps_customer_row_current(void **state) {
    (void)state;
    ltv_event_t ev[] = {
        h_refund("s-r1", "S", "os-1", "2025-04-10T12:00:00", 1000),
    };
    step(ev, 1, "2025-04-10T10:00:00");
    assert_int_equal(h_hget_i64(H, NS ":c:{S}", "monetary"), 2000);
    arow_t s = customer_row("S");
    assert_string_equal(s.seg, "about_to_sleep");
    if (s.monetary != 2000)
        fail_msg("newest ltv.customer_rfm row of S shows monetary %lld, the customer has 2000 "
                 "after the refund (row version %lld not re-emitted: no score changed)",
                 (long long)s.monetary, (long long)s.version);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(day_d_new_customer),
        cmocka_unit_test(day_d20_promising_without_event),
        cmocka_unit_test(day_d40_about_to_sleep_without_event),
        cmocka_unit_test(refund_keeps_customer_row_current),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
