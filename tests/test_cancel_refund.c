/*
 * Cancellations and refunds (SPEC §3): a cancelled order no longer counts
 * for frequency, cohorts or revenue (the F ordinals re-sequence); a refund
 * reduces monetary, never below zero per order; a cancel or refund may
 * arrive before its order.
 */
#include "unit_fixtures.h"

static void test_cancel_voids_order(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, "meta", NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o3", T0 + 2 * DAY_MS, 200, "mail", NULL)), LTV_APPLIED);
    assert_int_equal(c->n, 3);
    assert_int_equal(c->monetary, 1700); /* 1000 + 500 + 200 */

    /* Cancel the middle order: o3 becomes F2. */
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_cancel("o2", T0 + 3 * DAY_MS), 0, &facets), LTV_APPLIED);
    assert_int_equal(facets, LTV_FACET_ORDERS);
    assert_int_equal(c->n, 2);
    assert_int_equal(c->fts[0], INT64_C(1714521600000)); /* T0 */
    assert_int_equal(c->fts[1], INT64_C(1714694400000)); /* T0 + 2d, was o2's T0 + 1d */
    assert_int_equal(c->fts[2], 0);
    assert_int_equal(c->last_ts, INT64_C(1714694400000));
    assert_int_equal(c->monetary, 1200); /* 1700 - 500 */
    assert_string_equal(c->channel, "google");
    assert_int_equal(c->norders, 3); /* the record is kept, cancelled */
    assert_int_equal(ltv_customer_find_order(c, "o2", 2)->cancelled, 1);

    /* Cancel the last order: last_ts falls back to o1. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_cancel("o3", T0 + 3 * DAY_MS)), LTV_APPLIED);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[1], 0);
    assert_int_equal(c->last_ts, INT64_C(1714521600000));
    assert_int_equal(c->monetary, 1000);
    assert_int_equal(c->dirty,
                     LTV_D_N | LTV_D_SECOND_TS | LTV_D_LAST_TS | LTV_D_MONETARY | LTV_D_ORDERS);
    ltv_customer_destroy(c);
}

static void test_cancel_first_order_makes_second_first(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", "g1")), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, "meta", "m1")), LTV_APPLIED);
    ltv_customer_clear_dirty(c);

    assert_int_equal(apply(c, ev_cancel("o1", T0 + 2 * DAY_MS)), LTV_APPLIED);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[0], INT64_C(1714608000000)); /* o2: T0 + 1d */
    assert_int_equal(c->fts[1], 0);
    assert_int_equal(c->last_ts, INT64_C(1714608000000)); /* unchanged */
    assert_int_equal(c->monetary, 500);
    assert_string_equal(c->channel, "meta");
    assert_string_equal(c->campaign, "m1");
    assert_string_equal(ltv_customer_active(c, 0)->order_id, "o2");
    assert_null(ltv_customer_active(c, 1));
    assert_int_equal(c->dirty, LTV_D_N | LTV_D_FIRST_TS | LTV_D_SECOND_TS | LTV_D_MONETARY |
                                   LTV_D_CHANNEL | LTV_D_CAMPAIGN | LTV_D_ORDERS);

    /* Cancelling the only remaining order leaves no purchase at all. */
    assert_int_equal(apply(c, ev_cancel("o2", T0 + 2 * DAY_MS)), LTV_APPLIED);
    assert_int_equal(c->n, 0);
    assert_int_equal(c->fts[0], 0);
    assert_int_equal(c->last_ts, 0);
    assert_int_equal(c->monetary, 0);
    assert_null(c->channel);
    assert_null(c->campaign);
    assert_null(ltv_customer_active(c, 0));
    ltv_customer_destroy(c);
}

static void test_partial_refund_reduces_monetary_only(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    ltv_customer_clear_dirty(c);
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_refund("o1", "r1", T0 + DAY_MS, 300), 0, &facets),
                     LTV_APPLIED);
    assert_int_equal(facets, LTV_FACET_ORDERS);
    assert_int_equal(c->monetary, 700); /* 1000 - 300 */
    assert_int_equal(c->n, 1);          /* a refunded order still counts as a purchase */
    assert_int_equal(c->fts[0], T0);
    /* The refund's own ts does not move last purchase time. */
    assert_int_equal(c->last_ts, T0);
    assert_int_equal(c->dirty, LTV_D_MONETARY | LTV_D_ORDERS);
    assert_int_equal(ltv_order_net(&c->orders[0]), 700);
    ltv_customer_destroy(c);
}

static void test_over_refund_clamps_net_at_zero(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, NULL, NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0, 800)), LTV_APPLIED);
    assert_int_equal(c->monetary, 700); /* (1000 - 800) + 500 */
    assert_int_equal(apply(c, ev_refund("o1", "r2", T0, 800)), LTV_APPLIED);
    assert_int_equal(c->orders[0].refunded, 1600);
    /* o1 net = max(0, 1000 - 1600) = 0, not -600: the excess does not eat o2. */
    assert_int_equal(ltv_order_net(&c->orders[0]), 0);
    assert_int_equal(c->monetary, 500);
    assert_int_equal(c->n, 2);
    /* Exactly the amount: net 0 too. */
    assert_int_equal(apply(c, ev_refund("o2", "r3", T0, 500)), LTV_APPLIED);
    assert_int_equal(c->monetary, 0);
    ltv_customer_destroy(c);
}

static void test_cancel_before_order(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, "meta", NULL)), LTV_APPLIED);
    /* The cancel of o1 arrives before o1 itself. */
    int facets = -1;
    assert_int_equal(apply_tz(c, ev_cancel("o1", T0 + 2 * DAY_MS), 0, &facets), LTV_APPLIED);
    assert_int_equal(facets, LTV_FACET_ORDERS);
    assert_int_equal(c->norders, 2);
    ltv_order_t *o1 = ltv_customer_find_order(c, "o1", 2);
    assert_non_null(o1);
    assert_int_equal(o1->seen, 0);
    assert_int_equal(o1->cancelled, 1);
    assert_int_equal(o1->ts, 0);
    /* Not seen yet: sorts after the seen orders. */
    assert_string_equal(c->orders[0].order_id, "o2");
    assert_string_equal(c->orders[1].order_id, "o1");
    assert_int_equal(c->n, 1);
    assert_int_equal(c->monetary, 500);

    /* o1 arrives, earlier than o2: it is not a duplicate, and it does not count. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    o1 = ltv_customer_find_order(c, "o1", 2);
    assert_int_equal(o1->seen, 1);
    assert_int_equal(o1->cancelled, 1);
    assert_int_equal(o1->ts, T0);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[0], T0 + DAY_MS); /* o2 stays first */
    assert_int_equal(c->monetary, 500);
    assert_string_equal(c->channel, "meta");
    /* Only the order record changed, no derived field. */
    assert_int_equal(c->dirty, LTV_D_ORDERS);
    assert_int_equal(o1->dirty, 1);

    /* Now it is a duplicate both ways. */
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_DUPLICATE);
    assert_int_equal(apply(c, ev_cancel("o1", T0)), LTV_DUPLICATE);
    ltv_customer_destroy(c);
}

static void test_refund_before_order(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_APPLIED);
    assert_int_equal(c->n, 0);
    assert_int_equal(c->monetary, 0);
    assert_int_equal(c->norders, 1);
    assert_int_equal(c->orders[0].seen, 0);
    assert_int_equal(c->orders[0].refunded, 300);

    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[0], T0);
    assert_int_equal(c->monetary, 700); /* 1000 - 300 booked before the order came */
    assert_string_equal(c->channel, "google");
    /* The early refund still de-duplicates. */
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_DUPLICATE);
    assert_int_equal(c->monetary, 700);
    ltv_customer_destroy(c);
}

static void test_refund_then_cancel(void **state) {
    (void)state;
    ltv_customer_t *c = new_customer();
    assert_int_equal(apply(c, ev_order("o1", T0, 1000, "google", NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 400, "meta", NULL)), LTV_APPLIED);
    assert_int_equal(apply(c, ev_refund("o1", "r1", T0 + DAY_MS, 300)), LTV_APPLIED);
    assert_int_equal(c->monetary, 1100); /* (1000 - 300) + 400 */
    assert_int_equal(apply(c, ev_cancel("o1", T0 + 2 * DAY_MS)), LTV_APPLIED);
    assert_int_equal(c->monetary, 400); /* o1 no longer counts, refunded or not */
    assert_int_equal(c->n, 1);
    assert_int_equal(c->fts[0], T0 + DAY_MS);
    assert_string_equal(c->channel, "meta");
    /* A further refund of the cancelled order is recorded but changes no total. */
    ltv_customer_clear_dirty(c);
    assert_int_equal(apply(c, ev_refund("o1", "r2", T0 + 3 * DAY_MS, 100)), LTV_APPLIED);
    assert_int_equal(c->monetary, 400);
    assert_int_equal(c->dirty, LTV_D_ORDERS);
    ltv_customer_destroy(c);
}

/* The final state does not depend on the arrival order of an order, its
 * refund and its cancel (all 6 permutations), next to another order. */
static void test_order_refund_cancel_any_arrival_order(void **state) {
    (void)state;
    static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
                                    {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
    for (int p = 0; p < 6; p++) {
        for (int with_cancel = 0; with_cancel < 2; with_cancel++) {
            ltv_customer_t *c = new_customer();
            assert_int_equal(apply(c, ev_order("o2", T0 + DAY_MS, 500, "meta", NULL)),
                             LTV_APPLIED);
            for (int k = 0; k < 3; k++) {
                ltv_event_t ev;
                switch (perms[p][k]) {
                case 0: ev = ev_order("o1", T0, 1000, "google", NULL); break;
                case 1: ev = ev_refund("o1", "r1", T0 + 2 * DAY_MS, 300); break;
                default:
                    if (!with_cancel)
                        continue;
                    ev = ev_cancel("o1", T0 + 3 * DAY_MS);
                    break;
                }
                assert_int_equal(apply(c, ev), LTV_APPLIED);
            }
            if (with_cancel) {
                assert_int_equal(c->n, 1);
                assert_int_equal(c->monetary, 500);
                assert_int_equal(c->fts[0], T0 + DAY_MS);
                assert_string_equal(c->channel, "meta");
            } else {
                assert_int_equal(c->n, 2);
                assert_int_equal(c->monetary, 1200); /* (1000 - 300) + 500 */
                assert_int_equal(c->fts[0], T0);
                assert_int_equal(c->fts[1], T0 + DAY_MS);
                assert_string_equal(c->channel, "google");
            }
            assert_string_equal(c->orders[0].order_id, "o1"); /* seen, earliest */
            ltv_customer_destroy(c);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cancel_voids_order),
        cmocka_unit_test(test_cancel_first_order_makes_second_first),
        cmocka_unit_test(test_partial_refund_reduces_monetary_only),
        cmocka_unit_test(test_over_refund_clamps_net_at_zero),
        cmocka_unit_test(test_cancel_before_order),
        cmocka_unit_test(test_refund_before_order),
        cmocka_unit_test(test_refund_then_cancel),
        cmocka_unit_test(test_order_refund_cancel_any_arrival_order),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
