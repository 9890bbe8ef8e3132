/*
 * Acquisition economics end to end (README "Acquisition economics"): ad
 * spend read from its own topic (keyed by campaign, single-object
 * encoding, one record restated), purchases attributed to campaigns, and
 * the ltv.acquisition rows a BI tool reads, against values worked out by
 * hand. Default configuration: horizons 30 and 90 days, window 30 days,
 * allowed lateness one day, UTC.
 *
 *   google / brand spends 200.00 on 2025-01-02, restated to 240.00, and
 *   50.00 on 2025-01-03 (cents: 20000 -> 24000, 5000).
 *   c1 buys 30.00 on 01-02 (google / brand) and 40.00 on 01-05 (meta);
 *   c2 buys 50.00 on 01-02 (google / brand); c3 buys 10.00 on 01-03
 *   (google / brand). c9's order on 2025-05-01 moves the watermark past
 *   every horizon (it ends at 2025-04-30, after 01-03 + 1 + 90 days).
 *
 * 2025-01-02 | 1d | google | brand: cost 24000 (the restated value), 2 new
 * customers, 1 second purchase (c1, 3 days later: within 30 and 90),
 * revenue 3000 + 4000 + 5000 = 12000 (all within 30 days); CPO 24000 / 2
 * = 12000; F2 rate 0.5; F2-CPO 24000 / 1 = 24000; CLV:CAC 12000 / 24000 =
 * 0.5: "losing"; final.
 * 2025-01-03 | 30d | google | brand (2024-12-05 .. 2025-01-03): cost
 * 29000, 3 new, F2 1, revenue within 90 days 13000; CPO 29000 / 3; F2-CPO
 * 29000.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static h_env_t *H;

static void expect_field(const ltv_table_row_t *r, const char *name, const char *want) {
    char v[128];
    if (ltv_json_field(r->json, name, v, sizeof(v)))
        fail_msg("row %s has no %s", r->key, name);
    if (strcmp(v, want))
        fail_msg("row %s: %s is %s, want %s", r->key, name, v, want);
}

static void rows_by_hand(void **state) {
    (void)state;
    H = h_start(2, 0);
    assert_int_equal(ltv_mock_topic(H->mock, "ltv.ad_spend", 2), 0);
    ltv_event_t ev[] = {
        h_spend("google", "brand", "2025-01-02", 20000),
        h_order("e1", "c1", "o1", "2025-01-02T10:00:00Z", 3000, "google", "brand"),
        h_order("e2", "c2", "o2", "2025-01-02T11:00:00Z", 5000, "google", "brand"),
        h_spend("google", "brand", "2025-01-03", 5000),
        h_order("e3", "c3", "o3", "2025-01-03T09:00:00Z", 1000, "google", "brand"),
        h_spend("google", "brand", "2025-01-02", 24000),
        h_order("e4", "c1", "o4", "2025-01-05T10:00:00Z", 4000, "meta", NULL),
        h_order("e9", "c9", "o9", "2025-05-01T00:00:00Z", 1000, "organic", NULL),
    };
    h_produce(H, ev, (int)(sizeof(ev) / sizeof(ev[0])));
    const char *x[] = {"topic.ad_spend=ltv.ad_spend", NULL};
    h_stage_run_to_end(H, "acq", x);
    assert_int_equal(h_stored_offsets(H, "acq"), 5); /* purchases and visits only */

    ltv_table_t t;
    h_read_table(H, "ltv.acquisition", &t);
    const ltv_table_row_t *r = ltv_table_get(&t, "2025-01-02|1d|google|brand");
    assert_non_null(r);
    print_message("%s %s\n", r->key, r->json);
    expect_field(r, "cost", "24000");
    expect_field(r, "new_customers", "2");
    expect_field(r, "f2_count", "1");
    expect_field(r, "f2_within_30d", "1");
    expect_field(r, "revenue", "12000");
    expect_field(r, "revenue_within_30d", "12000");
    expect_field(r, "cpo", "12000.000000");
    expect_field(r, "f2_rate", "0.500000");
    expect_field(r, "f2_cpo", "24000.000000");
    expect_field(r, "clv_cac", "0.500000");
    expect_field(r, "clv_cac_rating", "losing");
    expect_field(r, "final", "true");

    r = ltv_table_get(&t, "2025-01-03|30d|google|brand");
    assert_non_null(r);
    expect_field(r, "window_start", "2024-12-05T00:00:00.000Z");
    expect_field(r, "cost", "29000");
    expect_field(r, "new_customers", "3");
    expect_field(r, "f2_count", "1");
    expect_field(r, "revenue", "null");
    expect_field(r, "revenue_within_90d", "13000");
    expect_field(r, "cpo", "9666.666667");
    expect_field(r, "f2_cpo", "29000.000000");
    ltv_table_free(&t);

    /* The ad spend was read: its offsets are stored with the others. */
    int64_t spent = 0;
    for (int p = 0; p < 2; p++) {
        char key[128];
        snprintf(key, sizeof(key), "acq:off:ltv.ad_spend:%d", p);
        int64_t v = h_hget_i64(H, key, "next");
        spent += v > 0 ? v : 0;
    }
    assert_int_equal(spent, 3);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rows_by_hand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
