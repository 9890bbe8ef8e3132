/*
 * A customer's purchases are ordered by event time, not by arrival
 * (SPEC §3): the F ordinals, the acquisition channel and every derived
 * field follow the earliest active orders however late an event arrives;
 * dirty bits name exactly the stored fields that changed; the stored order
 * record round-trips and loading keeps the sort.
 */
#include "unit_fixtures.h"

#define ORDER_BITS                                                                             \
    (LTV_D_N | LTV_D_FIRST_TS | LTV_D_SECOND_TS | LTV_D_LAST_TS | LTV_D_MONETARY |             \
     LTV_D_CHANNEL | LTV_D_CAMPAIGN | LTV_D_ORDERS)
#define VISIT_BITS                                                                             \
    (LTV_D_VISITS | LTV_D_FIRST_VISIT | LTV_D_LAST_VISIT | LTV_D_VISIT_DAYS | LTV_D_RECENT_VISITS)

/* A late purchase earlier than the first becomes F1; the old first becomes F2. */
static void test_late_earlier_purchase_becomes_first(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    int facets;

    /* o-b at 2024-05-11T12:00Z = T0 + 10 d + 12 h
     *      = 1714521600000 + 864000000 + 43200000 = 1715428800000 */
    assert_int_equal(apply_tz(c, ev_order("o-b", T0 + 10 * DAY_MS + 12 * HOUR_MS, 1000, "google",
                                          "spring"), 0, &facets),
                     LTV_APPLIED);
    assert_int_equal(facets, LTV_FACET_ORDERS);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[0], INT64_C(1715428800000));
    assert_int_equal(c->fts[1], 0);
    assert_int_equal(c->last_ts, INT64_C(1715428800000));
    assert_int_equal(c->monetary, 1000);
    assert_string_equal(c->channel, "google");
    assert_string_equal(c->campaign, "spring");

    ltv_customer_clear_dirty(c);
    /* o-a at 2024-05-01T12:00Z = 1714521600000 + 43200000 = 1714564800000, arrives late. */
    assert_int_equal(apply(c, ev_order("o-a", T0 + 12 * HOUR_MS, 500, "meta", NULL)), LTV_APPLIED);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->fts[0], INT64_C(1714564800000)); /* o-a is F1 now */
    assert_int_equal(c->fts[1], INT64_C(1715428800000)); /* o-b became F2 */
    assert_int_equal(c->fts[2], 0);
    assert_int_equal(c->last_ts, INT64_C(1715428800000)); /* latest is still o-b */
    assert_int_equal(c->monetary, 1500);                  /* 1000 + 500 */
    assert_string_equal(c->channel, "meta");              /* attribution of the new first */
    assert_null(c->campaign);                             /* o-a had no campaign */
    assert_string_equal(ltv_customer_active(c, 0)->order_id, "o-a");
    assert_string_equal(ltv_customer_active(c, 1)->order_id, "o-b");
    assert_null(ltv_customer_active(c, 2));

    /* Everything but last_ts changed. */
    assert_int_equal(c->dirty, LTV_D_N | LTV_D_FIRST_TS | LTV_D_SECOND_TS | LTV_D_MONETARY |
                                   LTV_D_CHANNEL | LTV_D_CAMPAIGN | LTV_D_ORDERS);
    ltv_customer_destroy(c);
}

/* Two orders at the same ts: the smaller order id is first, whatever arrives first. */
static void test_ts_tie_broken_by_order_id(void **state) {
    (void)state;
    int64_t ts = T0 + 9 * HOUR_MS; /* 1714521600000 + 32400000 = 1714554000000 */
    for (int arrival = 0; arrival < 2; arrival++) {
        ltv_customer_t *c = new_customer();
        if (arrival == 0) {
            assert_int_equal(apply(c, ev_order("o-2", ts, 200, "mail", "b")), LTV_APPLIED);
            assert_int_equal(apply(c, ev_order("o-1", ts, 100, "line", "a")), LTV_APPLIED);
        } else {
            assert_int_equal(apply(c, ev_order("o-1", ts, 100, "line", "a")), LTV_APPLIED);
            assert_int_equal(apply(c, ev_order("o-2", ts, 200, "mail", "b")), LTV_APPLIED);
        }
        assert_int_equal(c->n, 2);
        assert_string_equal(ltv_customer_active(c, 0)->order_id, "o-1");
        assert_string_equal(ltv_customer_active(c, 1)->order_id, "o-2");
        assert_string_equal(c->channel, "line"); /* o-1's */
        assert_string_equal(c->campaign, "a");
        assert_int_equal(c->fts[0], INT64_C(1714554000000));
        assert_int_equal(c->fts[1], INT64_C(1714554000000));
        assert_int_equal(c->monetary, 300); /* 100 + 200 */
        ltv_customer_destroy(c);
    }
}

/* Four orders arriving newest first: every arrival re-sequences F1..F4. */
static void test_four_orders_in_reverse_arrival(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    /* o4 = T0+3d, o3 = T0+2d, o2 = T0+1d, o1 = T0 (all at 00:00Z).
     * T0+1d = 1714608000000, T0+2d = 1714694400000, T0+3d = 1714780800000. */
    assert_int_equal(apply(c, ev_order("o4", T0 + 3 * DAY_MS, 40, "c4", NULL)), LTV_APPLIED);
    assert_int_equal(c->fts[0], INT64_C(1714780800000));
    assert_int_equal(c->fts[1], 0);

    assert_int_equal(apply(c, ev_order("o3", T0 + 2 * DAY_MS, 30, "c3", NULL)), LTV_APPLIED);
    assert_int_equal(c->fts[0], INT64_C(1714694400000));
    assert_int_equal(c->fts[1], INT64_C(1714780800000));
    assert_int_equal(c->fts[2], 0);

    assert_int_equal(apply(c, ev_order("o2", T0 + 1 * DAY_MS, 20, "c2", NULL)), LTV_APPLIED);
    assert_int_equal(c->fts[0], INT64_C(1714608000000));
    assert_int_equal(c->fts[1], INT64_C(1714694400000));
    assert_int_equal(c->fts[2], INT64_C(1714780800000));
    assert_int_equal(c->fts[3], 0);

    assert_int_equal(apply(c, ev_order("o1", T0, 10, "c1", NULL)), LTV_APPLIED);
    assert_int_equal(c->n, 4);
    assert_int_equal(c->fts[0], INT64_C(1714521600000));
    assert_int_equal(c->fts[1], INT64_C(1714608000000));
    assert_int_equal(c->fts[2], INT64_C(1714694400000));
    assert_int_equal(c->fts[3], INT64_C(1714780800000));
    assert_int_equal(c->last_ts, INT64_C(1714780800000));
    assert_int_equal(c->monetary, 100); /* 10 + 20 + 30 + 40 */
    assert_string_equal(c->channel, "c1");
    const char *want[] = {"o1", "o2", "o3", "o4"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(c->orders[i].order_id, want[i]);
        assert_string_equal(ltv_customer_active(c, i)->order_id, want[i]);
    }

    /* A fifth order, the latest: only F1..F4 are kept, so fts do not move. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_order("o5", T0 + 4 * DAY_MS, 50, "c5", NULL)), LTV_APPLIED);
    assert_int_equal(c->n, 5);
    assert_int_equal(c->fts[0], INT64_C(1714521600000));
    assert_int_equal(c->fts[3], INT64_C(1714780800000));
    assert_int_equal(c->last_ts, INT64_C(1714867200000)); /* T0+4d = 1714521600000 + 345600000 */
    assert_int_equal(c->monetary, 150);                   /* 100 + 50 */
    assert_int_equal(c->dirty, LTV_D_N | LTV_D_LAST_TS | LTV_D_MONETARY | LTV_D_ORDERS);
    ltv_customer_destroy(c);
}

/* Dirty bits are set for the fields that changed and only those. */
static void test_dirty_bits_only_for_changed_fields(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(c->dirty, 0);

    /* First order without attribution: channel/campaign stay NULL, so no bits for them;
     * no second purchase, so no SECOND_TS. */
    assert_int_equal(apply(c, ev_order("o1", T0 + 5 * DAY_MS, 700, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(c->dirty,
                     LTV_D_N | LTV_D_FIRST_TS | LTV_D_LAST_TS | LTV_D_MONETARY | LTV_D_ORDERS);
    assert_int_equal(c->orders[0].dirty, 1);

    /* A later order of amount 0: n, second_ts, last_ts change; monetary stays 700. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(c->orders[0].dirty, 0);
    assert_int_equal(apply(c, ev_order("o2", T0 + 6 * DAY_MS, 0, "google", "x")), LTV_APPLIED);
    assert_int_equal(c->dirty, LTV_D_N | LTV_D_SECOND_TS | LTV_D_LAST_TS | LTV_D_ORDERS);
    assert_int_equal(c->monetary, 700);
    assert_null(c->channel); /* still o1's */
    /* Only the changed order record is dirty. */
    assert_string_equal(c->orders[0].order_id, "o1");
    assert_int_equal(c->orders[0].dirty, 0);
    assert_int_equal(c->orders[1].dirty, 1);

    /* A late, earlier order with the same (absent) attribution as the old first:
     * first and second ts move, channel/campaign do not; last_ts stays T0+6d. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_order("o0", T0 + 1 * DAY_MS, 300, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(c->dirty, LTV_D_N | LTV_D_FIRST_TS | LTV_D_SECOND_TS | LTV_D_MONETARY |
                                   LTV_D_ORDERS);
    assert_int_equal(c->monetary, 1000); /* 700 + 0 + 300 */

    /* A duplicate changes nothing. */
    ltv_customer_clear_dirty(c);
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_order("o0", T0 + 1 * DAY_MS, 300, NULL, NULL), 0, &facets),
                     LTV_DUPLICATE);
    assert_int_equal(facets, 0);
    assert_int_equal(c->dirty, 0);
    for (int i = 0; i < c->norders; i++)
        assert_int_equal(c->orders[i].dirty, 0);

    /* A visit touches only visit fields. */
    assert_int_equal(apply_tz(c, ev_visit("v1", T0 + 2 * DAY_MS), 0, &facets), LTV_APPLIED);
    assert_int_equal(facets, LTV_FACET_VISITS);
    assert_int_equal(c->dirty, VISIT_BITS);
    assert_int_equal(c->dirty & ORDER_BITS, 0);

    /* A second visit on the same day, later: no new visit day, no new first visit. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_visit("v2", T0 + 2 * DAY_MS + HOUR_MS)), LTV_APPLIED);
    assert_int_equal(c->dirty, LTV_D_VISITS | LTV_D_LAST_VISIT | LTV_D_RECENT_VISITS);
    assert_int_equal(c->visits, 2);
    assert_int_equal(c->nvdays, 1);
    ltv_customer_destroy(c);
}

/* A first order replaced by a same-channel earlier one: CHANNEL stays clean. */
static void test_same_channel_new_first_keeps_channel_clean(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o2", T0 + 2 * DAY_MS, 100, "google", "cpc")), LTV_APPLIED);
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_order("o1", T0, 100, "google", "cpc")), LTV_APPLIED);
    assert_int_equal(c->dirty & (LTV_D_CHANNEL | LTV_D_CAMPAIGN), 0);
    assert_true(c->dirty & LTV_D_FIRST_TS);
    /* The pointer follows the new first order even though the value is equal. */
    assert_ptr_equal(c->channel, ltv_customer_active(c, 0)->channel);
    assert_string_equal(ltv_customer_active(c, 0)->order_id, "o1");
    ltv_customer_destroy(c);
}

static void free_order(ltv_order_t *o) {
    free(o->order_id);
    free(o->channel);
    free(o->campaign);
    free(o->refund_ids);
}

/* ts US amount US refunded US flags US channel US campaign US refund_ids. */
static void test_order_encode_decode_round_trip(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);

    /* Seen, not cancelled, channel present, campaign present but empty, two refunds. */
    ltv_order_t o = {0};
    o.order_id = "ord-1";
    o.channel = "google";
    o.campaign = "";
    o.refund_ids = "r1\x1er2";
    o.ts = INT64_C(1714564800000);
    o.amount = 12345;
    o.refunded = 345;
    o.seen = 1;
    ltv_order_encode(&o, &b);
    static const char want1[] = "1714564800000\x1f"
                                "12345\x1f"
                                "345\x1f"
                                "o-\x1f"
                                "google\x1f"
                                "\x1f"
                                "r1\x1er2";
    assert_int_equal(b.n, sizeof(want1) - 1);
    assert_memory_equal(b.p, want1, sizeof(want1) - 1);

    ltv_order_t d;
    assert_int_equal(ltv_order_decode(&d, "ord-1", 5, b.p, b.n), 0);
    assert_string_equal(d.order_id, "ord-1");
    assert_int_equal(d.ts, INT64_C(1714564800000));
    assert_int_equal(d.amount, 12345);
    assert_int_equal(d.refunded, 345);
    assert_int_equal(d.seen, 1);
    assert_int_equal(d.cancelled, 0);
    assert_int_equal(d.dirty, 0);
    assert_string_equal(d.channel, "google");
    assert_non_null(d.campaign); /* empty, not absent */
    assert_string_equal(d.campaign, "");
    assert_string_equal(d.refund_ids, "r1\x1er2");
    assert_int_equal(ltv_order_net(&d), 12000); /* 12345 - 345 */
    free_order(&d);

    /* Known only from a cancel: not seen, cancelled, absent attribution, no refunds. */
    ltv_order_t o2 = {0};
    o2.order_id = "ord-2";
    o2.cancelled = 1;
    ltv_order_encode(&o2, &b);
    static const char want2[] = "0\x1f"
                                "0\x1f"
                                "0\x1f"
                                "-c\x1f"
                                "\x01\x1f"
                                "\x01\x1f";
    assert_int_equal(b.n, sizeof(want2) - 1);
    assert_memory_equal(b.p, want2, sizeof(want2) - 1);
    assert_int_equal(ltv_order_decode(&d, "ord-2", 5, b.p, b.n), 0);
    assert_int_equal(d.seen, 0);
    assert_int_equal(d.cancelled, 1);
    assert_null(d.channel);
    assert_null(d.campaign);
    assert_null(d.refund_ids);
    assert_string_equal(d.order_id, "ord-2");
    free_order(&d);

    /* Empty channel, absent campaign (the mirror image), negative refunded kept as is. */
    ltv_order_t o3 = {0};
    o3.order_id = "x";
    o3.channel = "";
    o3.ts = 1;
    o3.amount = 2;
    o3.refunded = 3; /* over-refund: stored as is, net clamps */
    o3.seen = 1;
    o3.cancelled = 1;
    ltv_order_encode(&o3, &b);
    assert_int_equal(ltv_order_decode(&d, "x", 1, b.p, b.n), 0);
    assert_non_null(d.channel);
    assert_string_equal(d.channel, "");
    assert_null(d.campaign);
    assert_int_equal(d.seen, 1);
    assert_int_equal(d.cancelled, 1);
    assert_int_equal(ltv_order_net(&d), 0); /* max(0, 2 - 3) */
    free_order(&d);

    ltv_buf_free(&b);
}

static void test_order_decode_rejects_malformed(void **state) {
    (void)state;
    ltv_order_t d;
    static const char six_fields[] = "1\x1f"
                                     "2\x1f"
                                     "3\x1f"
                                     "o-\x1f"
                                     "a\x1f"
                                     "b"; /* refund_ids missing */
    assert_int_equal(ltv_order_decode(&d, "o", 1, six_fields, sizeof(six_fields) - 1), -1);
    static const char bad_num[] = "1x\x1f"
                                  "2\x1f"
                                  "3\x1f"
                                  "o-\x1f"
                                  "a\x1f"
                                  "b\x1f";
    assert_int_equal(ltv_order_decode(&d, "o", 1, bad_num, sizeof(bad_num) - 1), -1);
    static const char bad_flags[] = "1\x1f"
                                    "2\x1f"
                                    "3\x1f"
                                    "o\x1f"
                                    "a\x1f"
                                    "b\x1f";
    assert_int_equal(ltv_order_decode(&d, "o", 1, bad_flags, sizeof(bad_flags) - 1), -1);
    assert_int_equal(ltv_order_decode(&d, "o", 1, "", 0), -1);
}

static void load_encoded(ltv_customer_t *c, const char *id, const char *v) {
    ltv_order_t o;
    assert_int_equal(ltv_order_decode(&o, id, strlen(id), v, strlen(v)), 0);
    ltv_customer_load_order(c, &o);
}

/* Orders read from the store in any order end up sorted; then derive gives F1..F3. */
static void test_load_order_keeps_sort(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    /* o3 = T0+2d = 1714694400000, o1 = T0 = 1714521600000, o2 = T0+1d = 1714608000000;
     * o0 is known only from a cancel (not seen): it sorts last. */
    load_encoded(c, "o3", "1714694400000\x1f" "300\x1f" "0\x1f" "o-\x1f" "c3\x1f" "\x01\x1f");
    load_encoded(c, "o0", "0\x1f" "0\x1f" "0\x1f" "-c\x1f" "\x01\x1f" "\x01\x1f");
    load_encoded(c, "o1", "1714521600000\x1f" "100\x1f" "40\x1f" "o-\x1f" "c1\x1f" "k1\x1f" "r9");
    load_encoded(c, "o2", "1714608000000\x1f" "200\x1f" "0\x1f" "o-\x1f" "\x01\x1f" "\x01\x1f");
    assert_int_equal(c->norders, 4);
    const char *want[] = {"o1", "o2", "o3", "o0"};
    for (int i = 0; i < 4; i++) {
        assert_string_equal(c->orders[i].order_id, want[i]);
        assert_int_equal(c->orders[i].dirty, 0);
    }
    assert_int_equal(c->dirty, 0); /* loading sets no dirty bits */

    ltv_customer_derive(c);
    ltv_customer_clear_dirty(c);
    assert_int_equal(c->n, 3);
    assert_int_equal(c->fts[0], INT64_C(1714521600000));
    assert_int_equal(c->fts[1], INT64_C(1714608000000));
    assert_int_equal(c->fts[2], INT64_C(1714694400000));
    assert_int_equal(c->last_ts, INT64_C(1714694400000));
    assert_int_equal(c->monetary, 560); /* (100 - 40) + 200 + 300 */
    assert_string_equal(c->channel, "c1");
    assert_string_equal(c->campaign, "k1");

    /* The loaded refund id still de-duplicates; the loaded cancel too. */
    assert_int_equal(apply(c, ev_refund("o1", "r9", T0, 40)), LTV_DUPLICATE);
    assert_int_equal(apply(c, ev_cancel("o0", T0)), LTV_DUPLICATE);

    /* Applying on loaded state keeps the sort: an order 1 h before o1 becomes F1. */
    assert_int_equal(apply(c, ev_order("oz", T0 - HOUR_MS, 5, "z", NULL)), LTV_APPLIED);
    assert_string_equal(c->orders[0].order_id, "oz");
    assert_string_equal(c->orders[4].order_id, "o0");
    assert_int_equal(c->n, 4);
    assert_int_equal(c->fts[0], INT64_C(1714518000000)); /* 1714521600000 - 3600000 */
    assert_int_equal(c->fts[3], INT64_C(1714694400000));
    assert_string_equal(c->channel, "z");
    ltv_customer_destroy(c);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_late_earlier_purchase_becomes_first),
        cmocka_unit_test(test_ts_tie_broken_by_order_id),
        cmocka_unit_test(test_four_orders_in_reverse_arrival),
        cmocka_unit_test(test_dirty_bits_only_for_changed_fields),
        cmocka_unit_test(test_same_channel_new_first_keeps_channel_clean),
        cmocka_unit_test(test_order_encode_decode_round_trip),
        cmocka_unit_test(test_order_decode_rejects_malformed),
        cmocka_unit_test(test_load_order_keeps_sort),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
