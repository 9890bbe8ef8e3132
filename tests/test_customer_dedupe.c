/*
 * Idempotence of customer state (SPEC §3, §4): the same order id counts
 * once, a cancel or a refund with the same event id applies once, refunds
 * with different event ids all apply, and a re-sent visit is dropped while
 * its id is among the last LTV_RECENT_VISITS (8) visit ids of the customer.
 */
#include "unit_fixtures.h"

static void test_same_order_twice_counts_once(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    ltv_customer_clear_dirty(c);
    /* Re-delivered, even with other values: the first delivery wins. */
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_order("o1", T0 + DAY_MS, 9999, "meta", "x"), 0, &facets),
                     LTV_DUPLICATE);
    assert_int_equal(facets, 0);
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_DUPLICATE);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->norders, 1);
    assert_int_equal(c->monetary, 1000);
    assert_int_equal(c->fts[0], T0);
    assert_string_equal(c->channel, "google");
    assert_int_equal(c->dirty, 0);
    ltv_customer_destroy(c);
}

static void test_duplicate_cancel(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_cancel("o2", T0 + 2 * DAY_MS)), LTV_APPLIED);
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_cancel("o2", T0 + 3 * DAY_MS)), LTV_DUPLICATE);
    assert_int_equal(c->dirty, 0);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->monetary, 1000); /* o2's 500 is gone, once */
    ltv_customer_destroy(c);
}

static void test_duplicate_refund_same_event_id(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_APPLIED);
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_DUPLICATE);
    assert_int_equal(c->dirty, 0);
    assert_int_equal(c->orders[0].refunded, 300);
    assert_int_equal(c->monetary, 700); /* 1000 - 300, once */
    assert_string_equal(c->orders[0].refund_ids, "r1\x1e"); /* each id ends with \x1e */
    ltv_customer_destroy(c);
}

static void test_refunds_with_different_event_ids_both_apply(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, NULL, NULL)), LTV_APPLIED);
    /* Same order, same amount, different event ids: two partial refunds. */
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r2", T0 + DAY_MS, 300)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r3", T0 + DAY_MS, 100)), LTV_APPLIED);
    assert_int_equal(c->orders[0].refunded, 700); /* 300 + 300 + 100 */
    assert_int_equal(c->monetary, 300);           /* 1000 - 700 */
    assert_string_equal(c->orders[0].refund_ids, "r1\x1er2\x1er3\x1e");
    /* Each of them is still de-duplicated, also the one in the middle. */
    assert_int_equal(apply(c, ev_refund("o1", "r2", T0 + DAY_MS, 300)), LTV_DUPLICATE);
    assert_int_equal(apply(c, ev_refund("o1", "r3", T0 + DAY_MS, 100)), LTV_DUPLICATE);
    /* An id that is a prefix of a stored one is a different id. */
    assert_int_equal(apply(c, ev_refund("o1", "r", T0 + DAY_MS, 50)), LTV_APPLIED);
    assert_int_equal(c->monetary, 250); /* 300 - 50 */
    ltv_customer_destroy(c);
}

/* Refund ids survive the stored encoding: a refund re-delivered after a
 * restart (state reloaded from Redis) is still a duplicate. */
static void test_refund_dedupe_survives_reload(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0, 100)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r2", T0, 200)), LTV_APPLIED);
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_order_encode(&c->orders[0], &b);

    ltv_customer_t *r = new_customer();
    ltv_order_t o;
    assert_int_equal(ltv_order_decode(&o, "o1", 2, b.p, b.n), 0);
    ltv_customer_load_order(r, &o);
    ltv_customer_derive(r);
    ltv_customer_clear_dirty(r);
    assert_int_equal(r->monetary, 700); /* 1000 - 100 - 200 */
    assert_int_equal(apply(r, ev_refund("o1", "r1", T0, 100)), LTV_DUPLICATE);
    assert_int_equal(apply(r, ev_refund("o1", "r2", T0, 200)), LTV_DUPLICATE);
    assert_int_equal(apply(r, ev_order("o1", T0, 1000, NULL, NULL)), LTV_DUPLICATE);
    assert_int_equal(r->monetary, 700);
    ltv_buf_free(&b);
    ltv_customer_destroy(r);
    ltv_customer_destroy(c);
}

/* BUG (see report): the schema makes event_id a string, and nothing rejects
 * an empty one, but refund_seen() stops at once on an empty stored id list
 * entry (while (*p)), so a refund re-delivered with event_id "" is applied
 * again every time (exactly-once broken: monetary and revenue drop twice). */
static void test_refund_with_empty_event_id_redelivered_is_duplicate(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    apply(c, ev_order("o1", T0, 1000, NULL, NULL));
    ltv_apply_res_t r1 = apply(c, ev_refund("o1", "", T0, 300));
    ltv_apply_res_t r2 = apply(c, ev_refund("o1", "", T0, 300)); /* re-delivery */
    int64_t monetary = c->monetary;
    ltv_customer_destroy(c); /* before asserting: the known failure does not leak */
    assert_int_equal(r1, LTV_APPLIED);
    assert_int_equal(r2, LTV_DUPLICATE);
    assert_int_equal(monetary, 700); /* 1000 - 300, once */
}

/* BUG (see report): refund_add() stores the event id with control
 * characters replaced by '_' (clean_dup), but refund_seen() compares the raw
 * id, so a refund whose event id holds a control character is never found
 * again and a re-delivery is applied twice. */
static void test_refund_with_control_char_event_id_redelivered_is_duplicate(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    apply(c, ev_order("o1", T0, 1000, NULL, NULL));
    ltv_apply_res_t r1 = apply(c, ev_refund("o1", "r\t1", T0, 300));
    ltv_apply_res_t r2 = apply(c, ev_refund("o1", "r\t1", T0, 300)); /* re-delivery */
    int64_t monetary = c->monetary;
    ltv_customer_destroy(c);
    assert_int_equal(r1, LTV_APPLIED);
    assert_int_equal(r2, LTV_DUPLICATE);
    assert_int_equal(monetary, 700);
}

/* Visit ids v<start>..v<start+count-1>, one minute apart from `ts`. */
static void visits(ltv_customer_t *c, int start, int count, int64_t ts) {
    static const char *ids[] = {"v0", "v1", "v2", "v3", "v4",  "v5",  "v6",
                                "v7", "v8", "v9", "v10", "v11", "v12"};
    for (int i = start; i < start + count; i++)
        assert_int_equal(apply(c, ev_visit(ids[i], ts + i * MIN_MS)), LTV_APPLIED);
}

/* v1, then 7 other visits: v1 is the 8th newest id, still remembered. */
static void test_visit_resent_within_last_8_is_dropped(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    visits(c, 1, 8, T0); /* v1..v8 */
    assert_int_equal(c->visits, 8);
    ltv_customer_clear_dirty(c);
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_visit("v1", T0 + 2 * DAY_MS), 0, &facets), LTV_DUPLICATE);
    assert_int_equal(facets, 0);
    assert_int_equal(c->visits, 8);
    assert_int_equal(c->nvdays, 1); /* the re-send's other day was not added */
    assert_int_equal(c->last_visit_ts, T0 + 8 * MIN_MS);
    assert_int_equal(c->dirty, 0);
    /* The newest one too. */
    assert_int_equal(apply(c, ev_visit("v8", T0 + 8 * MIN_MS)), LTV_DUPLICATE);
    ltv_customer_destroy(c);
}

/* Exactly 8 other visits push v1 out of the window: a re-send is counted again. */
static void test_visit_resent_after_8_others_is_counted_again(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    visits(c, 1, 9, T0); /* v1, then v2..v9 */
    assert_int_equal(apply(c, ev_visit("v1", T0 + MIN_MS)), LTV_APPLIED);
    assert_int_equal(c->visits, 10); /* 9 + the re-send */
    ltv_customer_destroy(c);
}

/* KNOWN LIMITATION (documented, by design of LTV_RECENT_VISITS = 8): visit
 * de-duplication remembers only the last 8 visit ids, so a visit re-sent
 * after 9 other visits of the same customer is counted a second time. The
 * tracker re-sends within seconds in practice; this test pins the window so
 * a change to it is deliberate. */
static void test_visit_resent_after_9_others_counted_again_known_limitation(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    visits(c, 1, 10, T0); /* v1, then 9 others v2..v10 */
    int64_t first = c->first_visit_ts;
    assert_int_equal(apply(c, ev_visit("v1", T0 + MIN_MS)), LTV_APPLIED);
    assert_int_equal(c->visits, 11); /* 10 + 1: v1 counted twice */
    assert_int_equal(c->first_visit_ts, first);
    /* The re-sent id is remembered again from now on. */
    assert_int_equal(apply(c, ev_visit("v1", T0 + MIN_MS)), LTV_DUPLICATE);
    ltv_customer_destroy(c);
}

static void test_visit_days_distinct_and_sorted(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    /* Days (UTC): T0+3d, T0, T0+3d again (other visit), T0+1d. */
    assert_int_equal(apply(c, ev_visit("a", T0 + 3 * DAY_MS + HOUR_MS)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_visit("b", T0 + 5 * HOUR_MS)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_visit("c", T0 + 3 * DAY_MS + 2 * HOUR_MS)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_visit("d", T0 + DAY_MS)), LTV_APPLIED);
    assert_int_equal(c->visits, 4);
    assert_int_equal(c->nvdays, 3);
    assert_int_equal(c->vdays[0], 19844); /* DAY0 */
    assert_int_equal(c->vdays[1], 19845);
    assert_int_equal(c->vdays[2], 19847);
    assert_int_equal(c->first_visit_ts, T0 + 5 * HOUR_MS);
    assert_int_equal(c->last_visit_ts, T0 + 3 * DAY_MS + 2 * HOUR_MS);

    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_visit_days_encode(c, &b);
    /* 3 base64url digits a day: 19844 = 4*4096 + 54*64 + 4 -> "E" "2" "E";
     * 19845 -> "E2F"; 19847 -> "E2H". */
    assert_string_equal(b.p, "E2EE2FE2H");
    ltv_customer_t *r = new_customer();
    /* Decoding sorts and de-duplicates; it sets no dirty bit. */
    assert_int_equal(ltv_visit_days_decode(r, "E2HE2EE2FE2E", 12), 0);
    assert_int_equal(r->nvdays, 3);
    assert_int_equal(r->vdays[0], 19844);
    assert_int_equal(r->vdays[2], 19847);
    assert_int_equal(r->dirty, 0);
    assert_true(ltv_customer_has_visit_day(r, 19845));
    assert_false(ltv_customer_has_visit_day(r, 19846));
    assert_int_equal(ltv_visit_days_decode(r, "E2", 2), -1);  /* not 3 digits a day */
    assert_int_equal(ltv_visit_days_decode(r, "E2!", 3), -1); /* not base64url */
    ltv_buf_free(&b);
    ltv_customer_destroy(r);
    ltv_customer_destroy(c);
}

/* The 48-bit hash of an id as 8 base64url digits, written independently of
 * the encoder. */
static void b64_48(const char *id, char out[9]) {
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    uint64_t h = ltv_hash(id, strlen(id)) & 0xFFFFFFFFFFFFULL;
    for (int k = 7; k >= 0; k--) {
        out[k] = a[h % 64];
        h /= 64;
    }
    out[8] = '\0';
}

static void test_recent_visits_encode_decode_round_trip(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_t *c = new_customer();

    ltv_recent_visits_encode(c, &b);
    assert_int_equal(b.n, 0); /* nothing remembered yet */

    assert_int_equal(apply(c, ev_visit("p1", T0)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_visit("p2", T0 + MIN_MS)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_visit("p3", T0 + 2 * MIN_MS)), LTV_APPLIED);
    ltv_recent_visits_encode(c, &b);
    assert_int_equal(b.n, 24); /* 3 hashes * 8 base64url digits */
    /* Newest first: the first 8 digits are p3's hash. */
    char d[9];
    b64_48("p3", d);
    assert_memory_equal(b.p, d, 8);
    b64_48("p1", d);
    assert_memory_equal(b.p + 16, d, 8);

    ltv_customer_t *r = new_customer();
    assert_int_equal(ltv_recent_visits_decode(r, b.p, b.n), 0);
    assert_memory_equal(r->recent_visits, c->recent_visits, sizeof(c->recent_visits));
    /* The reloaded window still catches the re-sends and lets new ids through. */
    assert_int_equal(apply(r, ev_visit("p2", T0 + MIN_MS)), LTV_DUPLICATE);
    assert_int_equal(apply(r, ev_visit("p1", T0)), LTV_DUPLICATE);
    assert_int_equal(apply(r, ev_visit("p4", T0 + 3 * MIN_MS)), LTV_APPLIED);
    assert_int_equal(r->visits, 1);

    /* A full window (8 ids = 64 digits, the most a compact Redis hash value
     * holds) round-trips too. */
    for (int i = 0; i < 6; i++) {
        static const char *more[] = {"q1", "q2", "q3", "q4", "q5", "q6"};
        assert_int_equal(apply(c, ev_visit(more[i], T0 + (10 + i) * MIN_MS)), LTV_APPLIED);
    }
    ltv_recent_visits_encode(c, &b);
    assert_int_equal(b.n, 64);
    ltv_customer_t *r2 = new_customer();
    assert_int_equal(ltv_recent_visits_decode(r2, b.p, b.n), 0);
    assert_memory_equal(r2->recent_visits, c->recent_visits, sizeof(c->recent_visits));
    /* 9 visits total: p1 (the oldest) fell out, p2 is the oldest kept. */
    assert_int_equal(apply(r2, ev_visit("p2", T0)), LTV_DUPLICATE);
    assert_int_equal(apply(r2, ev_visit("p1", T0)), LTV_APPLIED);

    /* Malformed: not a multiple of 8, more than 8 ids, a non-base64url digit. */
    assert_int_equal(ltv_recent_visits_decode(r2, "ABCDEFG", 7), -1);
    char big[8 * 9 + 1];
    memset(big, 'A', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(ltv_recent_visits_decode(r2, big, sizeof(big) - 1), -1);
    assert_int_equal(ltv_recent_visits_decode(r2, "ABCDEFG!", 8), -1);

    ltv_buf_free(&b);
    ltv_customer_destroy(r2);
    ltv_customer_destroy(r);
    ltv_customer_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_order_twice_counts_once),
        cmocka_unit_test(test_duplicate_cancel),
        cmocka_unit_test(test_duplicate_refund_same_event_id),
        cmocka_unit_test(test_refunds_with_different_event_ids_both_apply),
        cmocka_unit_test(test_refund_dedupe_survives_reload),
        cmocka_unit_test(test_refund_with_empty_event_id_redelivered_is_duplicate),
        cmocka_unit_test(test_refund_with_control_char_event_id_redelivered_is_duplicate),
        cmocka_unit_test(test_visit_resent_within_last_8_is_dropped),
        cmocka_unit_test(test_visit_resent_after_8_others_is_counted_again),
        cmocka_unit_test(test_visit_resent_after_9_others_counted_again_known_limitation),
        cmocka_unit_test(test_visit_days_distinct_and_sorted),
        cmocka_unit_test(test_recent_visits_encode_decode_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
