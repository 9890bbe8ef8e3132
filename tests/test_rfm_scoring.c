/*
 * RFM (SPEC §5.3, aggregators/rfm.c): configuration (rfm.r.days,
 * rfm.f.edges, rfm.m.edges, rfm.segments) with errors naming the key; the
 * R, F, M scores at their edges; the default segment map written out by
 * hand from the rule list in consumer/conf.c (first match wins); a
 * customer's scores at a clock day; the segment timeline (as of the end of
 * each day, judged by the orders up to that day); and the rfm_delta row
 * contributions built from it, whose running sums count every customer in
 * exactly one segment on every day from its first purchase on.
 *
 * Day numbers are DAY0 + n (DAY0 = 2024-05-01, unit_fixtures.h); "day 100"
 * below is DAY0 + 100.
 */
#include "tc_helpers.h"

#include "rfm.h"

#define DELTA "rfm_delta"

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

/* ---- configuration ----------------------------------------------------------- */

static void test_defaults(void **state) {
    (void)state;
    char err[512] = "";
    ltv_conf_t *conf = ltv_conf_new();
    ltv_rfm_conf_t rc;
    assert_int_equal(ltv_rfm_conf_parse(&rc, conf, err, sizeof(err)), 0);
    const int64_t r[4] = {14, 30, 60, 120}, f[4] = {1, 2, 3, 5},
                  m[4] = {5000, 20000, 50000, 100000};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(rc.r_days[i], r[i]);
        assert_int_equal(rc.f_edges[i], f[i]);
        assert_int_equal(rc.m_edges[i], m[i]);
    }
    /* The eleven names of SPEC §5.3, in the order of their first rule. */
    static const char *names[11] = {"champions",      "loyal",          "potential_loyalist",
                                    "new_customer",   "promising",      "need_attention",
                                    "about_to_sleep", "cant_lose",      "at_risk",
                                    "lost",           "hibernating"};
    assert_int_equal(rc.nseg, 11);
    for (int i = 0; i < 11; i++)
        assert_string_equal(rc.names[i], names[i]);

    /* The stage's aggregators parse the same. */
    ltv_aggs_t *aggs = ltv_aggs_new(conf, err, sizeof(err));
    assert_non_null(aggs);
    assert_int_equal(ltv_aggs_rfm(aggs)->nseg, 11);
    assert_int_equal(ltv_aggs_rfm(aggs)->r_days[3], 120);
    /* rfm_segments rows have one field per segment, in that order. */
    ltv_agg_t *seg = ltv_aggs_find(aggs, "rfm_segments");
    assert_int_equal(seg->nfields, 11);
    assert_string_equal(seg->fields[0], "champions");
    assert_string_equal(seg->fields[10], "hibernating");
    ltv_aggs_destroy(aggs);
    ltv_conf_destroy(conf);
}

/* Sets key=value, then both the RFM parser and the stage's aggregators
 * must fail with a message naming the key (and containing `also`). */
static void expect_error(const char *key, const char *value, const char *also) {
    char err[512] = "", err2[512] = "";
    ltv_conf_t *conf = ltv_conf_new();
    assert_int_equal(ltv_conf_set(conf, key, value, err, sizeof(err)), LTV_CONF_OK);
    ltv_rfm_conf_t rc;
    int rcode = ltv_rfm_conf_parse(&rc, conf, err, sizeof(err));
    ltv_aggs_t *aggs = ltv_aggs_new(conf, err2, sizeof(err2));
    ltv_aggs_destroy(aggs);
    ltv_conf_destroy(conf);
    if (rcode != -1)
        fail_msg("%s=\"%s\" accepted", key, value);
    if (!strstr(err, key))
        fail_msg("%s=\"%s\": error \"%s\" does not name the key", key, value, err);
    if (also && !strstr(err, also))
        fail_msg("%s=\"%s\": error \"%s\" lacks \"%s\"", key, value, err, also);
    if (aggs)
        fail_msg("%s=\"%s\": ltv_aggs_new accepted it", key, value);
    if (!strstr(err2, key))
        fail_msg("%s=\"%s\": ltv_aggs_new error \"%s\" does not name the key", key, value, err2);
}

static void test_edge_errors_name_the_key(void **state) {
    (void)state;
    /* Wrong count. */
    expect_error("rfm.r.days", "14,30,60", "4");
    expect_error("rfm.r.days", "14,30,60,120,200", "4");
    expect_error("rfm.f.edges", "", "4");
    expect_error("rfm.m.edges", "5000", "4");
    /* Not increasing. */
    expect_error("rfm.r.days", "14,30,30,120", "increasing");
    expect_error("rfm.r.days", "30,14,60,120", "increasing");
    expect_error("rfm.f.edges", "1,2,3,2", "increasing");
    expect_error("rfm.m.edges", "100000,50000,20000,5000", "increasing");
    /* Not non-negative integers. */
    expect_error("rfm.f.edges", "1,2,x,5", NULL);
    expect_error("rfm.m.edges", "5000,-1,50000,100000", NULL);
    expect_error("rfm.r.days", "14,30,60,120days", NULL);
    expect_error("rfm.r.days", "14,,60,120", NULL);
}

static void test_segment_errors_name_the_key(void **state) {
    (void)state;
    /* R = 1..4 with F = 5 left uncovered; the first uncovered cell is named. */
    expect_error("rfm.segments", "champions:5:1-5,lost:1-4:1-4", "R=1 F=5");
    /* R = 3, F = 2 uncovered. */
    expect_error("rfm.segments", "a:1-2:1-5,b:4-5:1-5,c:3:1,d:3:3-5", "R=3 F=2");
    /* Bad ranges: 0, 6, reversed, garbage; the rule is quoted. */
    expect_error("rfm.segments", "a:0:1-5,b:1-5:1-5", "a:0:1-5");
    expect_error("rfm.segments", "a:1-6:1-5", "a:1-6:1-5");
    expect_error("rfm.segments", "a:5-1:1-5", "a:5-1:1-5");
    expect_error("rfm.segments", "a:1-5:1-5x", "a:1-5:1-5x");
    expect_error("rfm.segments", "a:1-5:x", NULL);
    /* Not name:R:F. */
    expect_error("rfm.segments", "a:1-5", NULL);
    expect_error("rfm.segments", ":1-5:1-5", NULL);
    expect_error("rfm.segments", "a", NULL);
    /* A name longer than 31 characters. */
    expect_error("rfm.segments", "abcdefghijklmnopqrstuvwxyz0123456789:1-5:1-5", NULL);
    /* More than 16 segments. */
    expect_error("rfm.segments",
                 "s1:1:1,s2:1:2,s3:1:3,s4:1:4,s5:1:5,s6:2:1,s7:2:2,s8:2:3,s9:2:4,s10:2:5,"
                 "s11:3:1,s12:3:2,s13:3:3,s14:3:4,s15:3:5,s16:4:1,s17:4-5:1-5",
                 NULL);
}

/* Segment names become field names of the rfm_segments row (JSON keys and
 * Avro fields) next to its own day, window_start, window_end, customers,
 * watermark, final and version. A segment called "version" gives every row
 * two "version" fields (readers keep the row with the highest version: the
 * segment count would be taken for it), "customers" two customer counts.
 * Such a configuration is a bad value of rfm.segments and must stop the
 * stage at start naming the key (README: "Unknown keys and bad values stop
 * the stage at start with a message naming the key").
 * BUG (see report): ltv_rfm_conf_parse accepts them. */
static void test_segment_name_colliding_with_row_field_rejected(void **state) {
    (void)state;
    static const char *fixed[] = {"day",      "window_start", "window_end", "customers",
                                  "watermark", "final",       "version"};
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++) {
        char v[128];
        snprintf(v, sizeof(v), "%s:5:1-5,rest:1-4:1-5", fixed[i]);
        expect_error("rfm.segments", v, fixed[i]);
    }
}

/* Segment names must be valid Avro names ([A-Za-z_][A-Za-z0-9_]*): the
 * rfm_segments schema (`ltvstream schemas`, output.format=avro) is
 * generated from them, and "bad-name" or "1st" make it an invalid Avro
 * schema that other Avro implementations (and Schema Registry) reject.
 * BUG (see report): ltv_rfm_conf_parse accepts them. */
static void test_segment_name_not_an_avro_name_rejected(void **state) {
    (void)state;
    expect_error("rfm.segments", "bad-name:1-5:1-5", "bad-name");
    expect_error("rfm.segments", "1st:1-5:1-5", "1st");
    expect_error("rfm.segments", "with space:1-5:1-5", "with space");
}

static void test_custom_segments_first_match_wins(void **state) {
    (void)state;
    char err[512] = "";
    ltv_conf_t *conf = ltv_conf_new();
    /* "vip" claims R5F5 first; "rest" covers everything else; "vip" again
     * for R4F5, a rule for a name already seen reuses its index; "never"
     * matches only cells already taken, but is still a segment. */
    assert_int_equal(ltv_conf_set(conf, "rfm.segments",
                                  "vip:5:5,rest:1-5:1-4,vip:4:5,rest:1-3:5,never:5:5", err,
                                  sizeof(err)),
                     LTV_CONF_OK);
    assert_int_equal(ltv_conf_set(conf, "rfm.r.days", "7,14,21,28", err, sizeof(err)),
                     LTV_CONF_OK);
    ltv_rfm_conf_t rc;
    assert_int_equal(ltv_rfm_conf_parse(&rc, conf, err, sizeof(err)), 0);
    assert_int_equal(rc.nseg, 3);
    assert_string_equal(rc.names[0], "vip");
    assert_string_equal(rc.names[1], "rest");
    assert_string_equal(rc.names[2], "never");
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            assert_int_equal(ltv_rfm_segment(&rc, r, f), f == 5 && r >= 4 ? 0 : 1);
    /* Custom recency edges: 7 -> 5, 8 -> 4, 28 -> 2, 29 -> 1. */
    assert_int_equal(ltv_rfm_r_score(&rc, 7), 5);
    assert_int_equal(ltv_rfm_r_score(&rc, 8), 4);
    assert_int_equal(ltv_rfm_r_score(&rc, 28), 2);
    assert_int_equal(ltv_rfm_r_score(&rc, 29), 1);
    ltv_conf_destroy(conf);
}

/* ---- scores ---------------------------------------------------------------- */

static void default_rc(ltv_rfm_conf_t *rc) {
    char err[256];
    ltv_conf_t *conf = ltv_conf_new();
    assert_int_equal(ltv_rfm_conf_parse(rc, conf, err, sizeof(err)), 0);
    ltv_conf_destroy(conf);
}

static void test_score_boundaries(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    /* R: <= 14 days: 5, <= 30: 4, <= 60: 3, <= 120: 2, beyond: 1. */
    static const int64_t rd[][2] = {{0, 5},  {14, 5}, {15, 4}, {30, 4},  {31, 3},  {60, 3},
                                    {61, 2}, {120, 2}, {121, 1}, {10000, 1}};
    for (size_t i = 0; i < sizeof(rd) / sizeof(rd[0]); i++)
        if (ltv_rfm_r_score(&rc, rd[i][0]) != rd[i][1])
            fail_msg("R of %lld days: %d, want %lld", (long long)rd[i][0],
                     ltv_rfm_r_score(&rc, rd[i][0]), (long long)rd[i][1]);
    /* F: 1 + number of edges (1,2,3,5) exceeded. */
    static const int64_t fd[][2] = {{1, 1}, {2, 2}, {3, 3}, {4, 4}, {5, 4}, {6, 5}, {100, 5}};
    for (size_t i = 0; i < sizeof(fd) / sizeof(fd[0]); i++)
        if (ltv_rfm_f_score(&rc, fd[i][0]) != fd[i][1])
            fail_msg("F of %lld orders: %d, want %lld", (long long)fd[i][0],
                     ltv_rfm_f_score(&rc, fd[i][0]), (long long)fd[i][1]);
    /* M: 1 + number of edges (5000, 20000, 50000, 100000) reached. */
    static const int64_t md[][2] = {{0, 1},     {4999, 1},  {5000, 2},   {19999, 2},
                                    {20000, 3}, {49999, 3}, {50000, 4},  {99999, 4},
                                    {100000, 5}, {5000000, 5}};
    for (size_t i = 0; i < sizeof(md) / sizeof(md[0]); i++)
        if (ltv_rfm_m_score(&rc, md[i][0]) != md[i][1])
            fail_msg("M of %lld: %d, want %lld", (long long)md[i][0],
                     ltv_rfm_m_score(&rc, md[i][0]), (long long)md[i][1]);
}

/* The default rules (conf.c), first match wins:
 *   champions:5:4-5, loyal:3-4:4-5, potential_loyalist:4-5:2-3,
 *   new_customer:5:1, promising:4:1, need_attention:3:3,
 *   about_to_sleep:3:1-2, cant_lose:1-2:5, at_risk:1-2:3-4, lost:1:1,
 *   hibernating:1-2:1-2
 * give, row R, columns F = 1..5: */
static const char *const DEFAULT_MAP[6][6] = {
    [5] = {NULL, "new_customer", "potential_loyalist", "potential_loyalist", "champions",
           "champions"},
    [4] = {NULL, "promising", "potential_loyalist", "potential_loyalist", "loyal", "loyal"},
    [3] = {NULL, "about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"},
    [2] = {NULL, "hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"},
    /* R1F1: "lost" comes before "hibernating:1-2:1-2". */
    [1] = {NULL, "lost", "hibernating", "at_risk", "at_risk", "cant_lose"},
};

static void test_default_map_all_cells(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++) {
            int s = ltv_rfm_segment(&rc, r, f);
            assert_true(s >= 0 && s < rc.nseg);
            if (strcmp(rc.names[s], DEFAULT_MAP[r][f]))
                fail_msg("R%dF%d: %s, want %s", r, f, rc.names[s], DEFAULT_MAP[r][f]);
        }
}

static int seg_index(const ltv_rfm_conf_t *rc, const char *name) {
    for (int i = 0; i < rc->nseg; i++)
        if (!strcmp(rc->names[i], name))
            return i;
    fail_msg("no segment %s", name);
    return -1;
}

static void expect_score(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t day,
                         int64_t tz, int r, int f, int m, const char *seg) {
    ltv_rfm_t out;
    memset(&out, 0x7f, sizeof(out));
    ltv_rfm_score(rc, c, day, tz, &out);
    int want_seg = seg ? seg_index(rc, seg) : -1;
    if (out.r != r || out.f != f || out.m != m || out.seg != want_seg)
        fail_msg("day %lld: R%d F%d M%d seg %d, want R%d F%d M%d seg %d (%s)",
                 (long long)(day - DAY0), out.r, out.f, out.m, out.seg, r, f, m, want_seg,
                 seg ? seg : "none");
}

static void test_score_of_customer_at_clock_day(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    /* No purchase: nothing. */
    expect_score(&rc, c, DAY0, 0, 0, 0, 0, NULL);
    /* o1 on day 0 (3000), o2 on day 10 (4000): F = 2, M = 7000 -> 2. */
    apply(c, ev_order("o1", at(0, 10, 0), 3000, NULL, NULL));
    apply(c, ev_order("o2", at(10, 23, 0), 4000, NULL, NULL));
    /* Recency counts days from the last order's day (10). */
    expect_score(&rc, c, DAY0 + 10, 0, 5, 2, 2, "potential_loyalist"); /* 0 days */
    expect_score(&rc, c, DAY0 + 24, 0, 5, 2, 2, "potential_loyalist"); /* 14 */
    expect_score(&rc, c, DAY0 + 25, 0, 4, 2, 2, "potential_loyalist"); /* 15 */
    expect_score(&rc, c, DAY0 + 40, 0, 4, 2, 2, "potential_loyalist"); /* 30 */
    expect_score(&rc, c, DAY0 + 41, 0, 3, 2, 2, "about_to_sleep");     /* 31 */
    expect_score(&rc, c, DAY0 + 70, 0, 3, 2, 2, "about_to_sleep");     /* 60 */
    expect_score(&rc, c, DAY0 + 71, 0, 2, 2, 2, "hibernating");        /* 61 */
    expect_score(&rc, c, DAY0 + 130, 0, 2, 2, 2, "hibernating");       /* 120 */
    expect_score(&rc, c, DAY0 + 131, 0, 1, 2, 2, "hibernating");       /* 121: R1F2 */
    /* The clock before the last purchase (late data, or a clock behind the
     * events): recency 0, R = 5. */
    expect_score(&rc, c, DAY0 + 5, 0, 5, 2, 2, "potential_loyalist");
    expect_score(&rc, c, DAY0 - 100, 0, 5, 2, 2, "potential_loyalist");

    /* The last order cancelled: recency from o1's day 0, F = 1, M = 3000 -> 1. */
    apply(c, ev_cancel("o2", at(12, 0, 0)));
    expect_score(&rc, c, DAY0 + 14, 0, 5, 1, 1, "new_customer");   /* 14 days */
    expect_score(&rc, c, DAY0 + 25, 0, 4, 1, 1, "promising");      /* 25 */
    expect_score(&rc, c, DAY0 + 41, 0, 3, 1, 1, "about_to_sleep"); /* 41 */
    expect_score(&rc, c, DAY0 + 121, 0, 1, 1, 1, "lost");          /* 121 */

    /* Four more orders (days 20..23), one refunded in part: F = 5 orders ->
     * score 4; M = 3000 + 4 * 30000 - 10000 = 113000 -> 5. */
    apply(c, ev_order("o3", at(20, 1, 0), 30000, NULL, NULL));
    apply(c, ev_order("o4", at(21, 1, 0), 30000, NULL, NULL));
    apply(c, ev_order("o5", at(22, 1, 0), 30000, NULL, NULL));
    apply(c, ev_order("o6", at(23, 1, 0), 30000, NULL, NULL));
    apply(c, ev_refund("o6", "r6", at(24, 0, 0), 10000));
    expect_score(&rc, c, DAY0 + 23, 0, 5, 4, 5, "champions");
    expect_score(&rc, c, DAY0 + 53, 0, 4, 4, 5, "loyal");     /* 30 days */
    expect_score(&rc, c, DAY0 + 54, 0, 3, 4, 5, "loyal");     /* 31 */
    expect_score(&rc, c, DAY0 + 84, 0, 2, 4, 5, "at_risk");   /* 61 */
    /* A sixth active order: F = 6 -> 5; R1 F5: cant_lose. */
    apply(c, ev_order("o7", at(24, 1, 0), 100, NULL, NULL));
    expect_score(&rc, c, DAY0 + 24 + 121, 0, 1, 5, 5, "cant_lose");
    ltv_customer_destroy(c);
}

/* Days are cut in the configured zone. */
static void test_score_days_in_zone(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    /* 2024-05-01T20:00Z is 2024-05-02T05:00 in +09:00. */
    apply_tz(c, ev_order("o1", at(0, 20, 0), 100, NULL, NULL), TZ_JST, NULL);
    /* Clock day 05-16 (DAY0 + 15): 14 days after 05-02 in +09:00 (R5), 15
     * after 05-01 in UTC (R4). */
    expect_score(&rc, c, DAY0 + 15, TZ_JST, 5, 1, 1, "new_customer");
    expect_score(&rc, c, DAY0 + 15, 0, 4, 1, 1, "promising");
    ltv_customer_destroy(c);
}

/* ---- timeline -------------------------------------------------------------- */

typedef struct step_s {
    int day; /* DAY0 + day */
    const char *seg;
} step_t;

static void expect_timeline(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t tz,
                            const step_t *want, int nwant) {
    ltv_rfm_step_t *steps = NULL;
    int cap = 0;
    int n = ltv_rfm_timeline(rc, c, tz, &steps, &cap);
    char got[1024] = "";
    for (int i = 0; i < n; i++) {
        size_t l = strlen(got);
        snprintf(got + l, sizeof(got) - l, " %s@%lld",
                 steps[i].seg >= 0 ? rc->names[steps[i].seg] : "-",
                 (long long)(steps[i].day - DAY0));
    }
    int ok = n == nwant;
    for (int i = 0; ok && i < n; i++)
        ok = steps[i].day == DAY0 + want[i].day && steps[i].seg >= 0 &&
             !strcmp(rc->names[steps[i].seg], want[i].seg);
    free(steps);
    if (!ok) {
        char exp[1024] = "";
        for (int i = 0; i < nwant; i++) {
            size_t l = strlen(exp);
            snprintf(exp + l, sizeof(exp) - l, " %s@%d", want[i].seg, want[i].day);
        }
        fail_msg("timeline:%s\n    want:%s", got, exp);
    }
}

#define NSTEPS(a) ((int)(sizeof(a) / sizeof(a[0])))

/* One order on day 100: R5F1 new_customer; the R edges 14, 30, 60, 120 are
 * crossed on days 100 + 15, + 31, + 61, + 121: R4F1 promising, R3F1
 * about_to_sleep, R2F1 hibernating, R1F1 lost. */
static const step_t ONE_ORDER[] = {
    {100, "new_customer"}, {115, "promising"}, {131, "about_to_sleep"},
    {161, "hibernating"},  {221, "lost"},
};

/* Orders on days 100 and 110: new_customer on 100; F = 2 from 110 (R5F2
 * potential_loyalist), and the R steps restart from 110: R4F2 on 125 is
 * still potential_loyalist (no step), R3F2 about_to_sleep on 141, R2F2
 * hibernating on 171, R1F2 on 231 still hibernating (no step). */
static const step_t TWO_ORDERS[] = {
    {100, "new_customer"},
    {110, "potential_loyalist"},
    {141, "about_to_sleep"},
    {171, "hibernating"},
};

static void test_timeline_one_order(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    /* No orders: no steps. */
    expect_timeline(&rc, c, 0, NULL, 0);
    apply(c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    expect_timeline(&rc, c, 0, ONE_ORDER, NSTEPS(ONE_ORDER));
    ltv_customer_destroy(c);
}

static void test_timeline_two_orders(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    /* Arrival order does not matter: the later order first. */
    apply(c, ev_order("o2", at(110, 8, 0), 1000, NULL, NULL));
    apply(c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    expect_timeline(&rc, c, 0, TWO_ORDERS, NSTEPS(TWO_ORDERS));
    /* Cancelling o2: back to the one-order timeline. */
    apply(c, ev_cancel("o2", at(120, 0, 0)));
    expect_timeline(&rc, c, 0, ONE_ORDER, NSTEPS(ONE_ORDER));
    ltv_customer_destroy(c);
}

static void test_timeline_same_day_orders_count_together(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    apply(c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    apply(c, ev_order("o2", at(100, 15, 0), 1000, NULL, NULL));
    /* F = 2 from day 100 on (never new_customer): potential_loyalist (R5F2,
     * R4F2 on 115), about_to_sleep on 131 (R3F2), hibernating on 161 (R2F2;
     * R1F2 on 221 too). */
    static const step_t want[] = {
        {100, "potential_loyalist"}, {131, "about_to_sleep"}, {161, "hibernating"}};
    expect_timeline(&rc, c, 0, want, NSTEPS(want));
    ltv_customer_destroy(c);
}

/* The next order on the very day the customer would cross an R edge: no
 * step on that edge; one day later: the edge step first. */
static void test_timeline_next_order_on_edge_day(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    apply(c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    apply(c, ev_order("o2", at(115, 10, 0), 1000, NULL, NULL));
    /* From 115: R3F2 on 146, R2F2 on 176. */
    static const step_t want1[] = {{100, "new_customer"},
                                   {115, "potential_loyalist"},
                                   {146, "about_to_sleep"},
                                   {176, "hibernating"}};
    expect_timeline(&rc, c, 0, want1, NSTEPS(want1));
    ltv_customer_destroy(c);

    c = new_customer();
    apply(c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    apply(c, ev_order("o2", at(116, 10, 0), 1000, NULL, NULL));
    static const step_t want2[] = {{100, "new_customer"},
                                   {115, "promising"},
                                   {116, "potential_loyalist"},
                                   {147, "about_to_sleep"},
                                   {177, "hibernating"}};
    expect_timeline(&rc, c, 0, want2, NSTEPS(want2));
    ltv_customer_destroy(c);
}

/* Six orders on days 100..105: F = 1, 2, 3, 4, 5, 6 -> scores 1, 2, 3, 4,
 * 4, 5. R5: new_customer, potential_loyalist (F2, F3), champions (F4, F5);
 * from 105: R4F5 loyal on 120, R3F5 loyal on 136 (no step), R2F5 cant_lose
 * on 166, R1F5 cant_lose on 226 (no step). A cancelled order in the middle
 * is skipped. */
static void test_timeline_frequency_steps(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    ltv_customer_t *c = new_customer();
    char id[8];
    for (int d = 0; d < 6; d++) {
        snprintf(id, sizeof(id), "o%d", d);
        apply(c, ev_order(id, at(100 + d, 10, 0), 1000, NULL, NULL));
    }
    static const step_t want[] = {{100, "new_customer"},
                                  {101, "potential_loyalist"},
                                  {103, "champions"},
                                  {120, "loyal"},
                                  {166, "cant_lose"}};
    expect_timeline(&rc, c, 0, want, NSTEPS(want));
    ltv_customer_destroy(c);

    /* Orders on 100, 110 (cancelled), 140: F1 until 140. */
    c = new_customer();
    apply(c, ev_order("a", at(100, 10, 0), 1000, NULL, NULL));
    apply(c, ev_order("b", at(110, 10, 0), 1000, NULL, NULL));
    apply(c, ev_order("c", at(140, 10, 0), 1000, NULL, NULL));
    apply(c, ev_cancel("b", at(111, 0, 0)));
    /* 100 new_customer, 115 promising, 131 about_to_sleep; 140 R5F2
     * potential_loyalist; from 140: R4F2 on 155 (same), R3F2 on 171
     * about_to_sleep, R2F2 on 201 hibernating. */
    static const step_t want2[] = {{100, "new_customer"},   {115, "promising"},
                                   {131, "about_to_sleep"}, {140, "potential_loyalist"},
                                   {171, "about_to_sleep"}, {201, "hibernating"}};
    expect_timeline(&rc, c, 0, want2, NSTEPS(want2));
    ltv_customer_destroy(c);
}

/* From the last order day on, the timeline's segment of day t is the
 * customer's current segment scored at clock day t (both judge the same
 * orders then). */
static void test_timeline_agrees_with_score(void **state) {
    (void)state;
    ltv_rfm_conf_t rc;
    default_rc(&rc);
    static const int days[][6] = {
        {100, -1},                      /* one order */
        {100, 110, -1},                 /* two */
        {100, 100, 130, -1},            /* same-day pair, then a third */
        {100, 101, 102, 103, 104, 105}, /* six */
    };
    for (size_t k = 0; k < sizeof(days) / sizeof(days[0]); k++) {
        ltv_customer_t *c = new_customer();
        int last = 0;
        char id[8];
        for (int i = 0; i < 6 && days[k][i] >= 0; i++) {
            snprintf(id, sizeof(id), "o%d", i);
            apply(c, ev_order(id, at(days[k][i], 10 + i, 0), 1000, NULL, NULL));
            last = days[k][i];
        }
        ltv_rfm_step_t *steps = NULL;
        int cap = 0;
        int n = ltv_rfm_timeline(&rc, c, 0, &steps, &cap);
        for (int d = last; d <= last + 200; d++) {
            int seg = -1;
            for (int i = 0; i < n && steps[i].day <= DAY0 + d; i++)
                seg = steps[i].seg;
            ltv_rfm_t r;
            ltv_rfm_score(&rc, c, DAY0 + d, 0, &r);
            if (r.seg != seg) {
                free(steps);
                ltv_customer_destroy(c);
                fail_msg("case %zu, day %d: timeline %d, score %d", k, d, seg, r.seg);
            }
        }
        free(steps);
        ltv_customer_destroy(c);
    }
}

/* ---- rfm_delta rows: running sums ---------------------------------------------- */

/* Segment of a hand timeline at day d (NULL before the first step). */
static const char *seg_at(const step_t *s, int n, int d) {
    const char *seg = NULL;
    for (int i = 0; i < n && s[i].day <= d; i++)
        seg = s[i].seg;
    return seg;
}

typedef struct tl_s {
    const step_t *s;
    int n;
} tl_t;

/* Over days DAY0 + from .. DAY0 + to: the running sum of the rfm_delta
 * rows in acc (per segment) equals the number of customers whose hand
 * timeline puts them in that segment that day: every customer once. */
static void check_running_sums(tracker_t *t, const ltv_deltas_t *acc, int from, int to,
                               const tl_t *tls, int ntl) {
    ltv_agg_t *a = ltv_aggs_find(t->aggs, DELTA);
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(t->aggs);
    assert_int_equal(a->nfields, rc->nseg);
    int64_t run[LTV_RFM_MAX_SEGMENTS] = {0};
    /* Nothing before `from`. */
    for (int i = 0; i < ltv_deltas_count(acc); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(acc, i);
        if (r->id.agg == a && r->id.day < DAY0 + from && ltv_delta_row_nonzero(r))
            fail_msg("rfm_delta row before day %d", from);
    }
    for (int d = from; d <= to; d++) {
        int64_t total = 0;
        for (int s = 0; s < rc->nseg; s++) {
            run[s] += tc_val(t->aggs, acc, DELTA, DAY0 + d, "", rc->names[s]);
            int64_t want = 0;
            for (int k = 0; k < ntl; k++) {
                const char *w = seg_at(tls[k].s, tls[k].n, d);
                want += w && !strcmp(w, rc->names[s]);
            }
            if (run[s] != want)
                fail_msg("day %d: %s running sum %lld, want %lld", d, rc->names[s],
                         (long long)run[s], (long long)want);
            total += run[s];
        }
        int64_t customers = 0;
        for (int k = 0; k < ntl; k++)
            customers += seg_at(tls[k].s, tls[k].n, d) != NULL;
        assert_int_equal(total, customers);
    }
}

static void test_delta_rows_sum_to_one_customer(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_deltas_t *acc = ltv_deltas_new();
    ltv_customer_t *c = new_customer();

    /* The first order, day 100: +1 new_customer on 100; on 115 -1
     * new_customer +1 promising; ... */
    tracker_apply(&t, c, ev_order("o1", at(100, 10, 0), 1000, NULL, NULL));
    tc_acc_add(acc, t.ds);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 100, "", "new_customer"), 1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 115, "", "new_customer"), -1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 115, "", "promising"), 1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 221, "", "hibernating"), -1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 221, "", "lost"), 1);
    assert_int_equal(tc_nonzero_rows(t.aggs, t.ds, DELTA, NULL), 5); /* 5 step days */
    tl_t one = {ONE_ORDER, NSTEPS(ONE_ORDER)};
    check_running_sums(&t, acc, 90, 400, &one, 1);

    /* A second order on day 110: the steps after 110 move. */
    tracker_apply(&t, c, ev_order("o2", at(110, 10, 0), 1000, NULL, NULL));
    tc_acc_add(acc, t.ds);
    /* This change alone: on 110 -1 new_customer +1 potential_loyalist; the
     * old steps of 115, 131, 161, 221 are withdrawn and 141, 171 added. */
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 110, "", "new_customer"), -1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 110, "", "potential_loyalist"), 1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 115, "", "promising"), -1);
    assert_int_equal(tc_val(t.aggs, t.ds, DELTA, DAY0 + 100, "", "new_customer"), 0);
    tl_t two = {TWO_ORDERS, NSTEPS(TWO_ORDERS)};
    check_running_sums(&t, acc, 90, 400, &two, 1);

    /* Another customer, six orders on days 100..105. */
    ltv_customer_t *d = ltv_customer_new(LTV_ENT_CUSTOMER, "c2", 2);
    char id[8];
    for (int k = 0; k < 6; k++) {
        snprintf(id, sizeof(id), "p%d", k);
        tracker_apply(&t, d, mk_purchase("c2", id, id, LTV_PT_ORDER, at(100 + k, 10, 0), 10,
                                         NULL, NULL));
        tc_acc_add(acc, t.ds);
    }
    static const step_t SIX[] = {{100, "new_customer"},
                                 {101, "potential_loyalist"},
                                 {103, "champions"},
                                 {120, "loyal"},
                                 {166, "cant_lose"}};
    tl_t both[2] = {two, {SIX, NSTEPS(SIX)}};
    check_running_sums(&t, acc, 90, 400, both, 2);

    /* c1's o2 cancelled: back to the one-order timeline. */
    tracker_apply(&t, c, ev_cancel("o2", at(130, 0, 0)));
    tc_acc_add(acc, t.ds);
    tl_t after[2] = {one, {SIX, NSTEPS(SIX)}};
    check_running_sums(&t, acc, 90, 400, after, 2);

    /* And o1 cancelled too: c1 leaves every segment on every day. */
    tracker_apply(&t, c, ev_cancel("o1", at(130, 0, 0)));
    tc_acc_add(acc, t.ds);
    check_running_sums(&t, acc, 90, 400, &after[1], 1);

    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
    ltv_deltas_destroy(acc);
    tracker_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_edge_errors_name_the_key),
        cmocka_unit_test(test_segment_errors_name_the_key),
        cmocka_unit_test(test_segment_name_colliding_with_row_field_rejected),
        cmocka_unit_test(test_segment_name_not_an_avro_name_rejected),
        cmocka_unit_test(test_custom_segments_first_match_wins),
        cmocka_unit_test(test_score_boundaries),
        cmocka_unit_test(test_default_map_all_cells),
        cmocka_unit_test(test_score_of_customer_at_clock_day),
        cmocka_unit_test(test_score_days_in_zone),
        cmocka_unit_test(test_timeline_one_order),
        cmocka_unit_test(test_timeline_two_orders),
        cmocka_unit_test(test_timeline_same_day_orders_count_together),
        cmocka_unit_test(test_timeline_next_order_on_edge_day),
        cmocka_unit_test(test_timeline_frequency_steps),
        cmocka_unit_test(test_timeline_agrees_with_score),
        cmocka_unit_test(test_delta_rows_sum_to_one_customer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
