/*
 * The compact stored form of a customer (aggregators/customer_codec.c):
 * what goes in comes back, byte for byte where it is specified, and
 * anything short or malformed is refused rather than half-read.
 */
#include "unit_fixtures.h"

static void apply_ok(ltv_customer_t *c, ltv_event_t ev) {
    int facets;
    assert_int_equal(ltv_customer_apply(c, &ev, 0, &facets), LTV_APPLIED);
}

/* A customer with every part set: three orders (one cancelled, one
 * refunded, one with no attribution), visits on two days, recent visit
 * ids, RFM scores. */
static ltv_customer_t *full_customer(void) {
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, "c1", 2);
    apply_ok(c, ev_order("o2", T0 + DAY_MS, 2000, "email", "spring"));
    apply_ok(c, ev_order("o1", T0, 1000, "google", ""));
    apply_ok(c, ev_order("o3", T0 + 2 * DAY_MS, 3000, NULL, NULL));
    apply_ok(c, ev_cancel("o3", T0 + 3 * DAY_MS));
    apply_ok(c, ev_refund("o2", "r1", T0 + 4 * DAY_MS, 500));
    apply_ok(c, mk_visit("c1", "v1", "vis-1", T0 - DAY_MS));
    apply_ok(c, mk_visit("c1", "v1", "vis-2", T0 + 5 * DAY_MS));
    c->rfm_r = 5;
    c->rfm_f = 2;
    c->rfm_m = 3;
    c->rfm_version = 7;
    c->rfm_wm = T0 + 6 * DAY_MS;
    c->lc_kept = 1;
    c->lc_done = LTV_LC_FIRST | LTV_LC_SECOND | LTV_LC_REVISIT;
    c->lc_f2_day = 3;
    c->lc_due = T0 + 7 * DAY_MS;
    c->lc_signup_ts = T0 - DAY_MS;
    c->lc_revisit_ts = T0 + 5 * DAY_MS;
    return c;
}

static void test_round_trip_keeps_everything(void **state) {
    (void)state;
    ltv_customer_t *c = full_customer();
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_encode(c, "loyal", &b);

    const char *seg;
    size_t seglen;
    ltv_customer_t *d = ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, b.p, b.n, &seg, &seglen);
    assert_non_null(d);
    assert_int_equal(seglen, 5);
    assert_memory_equal(seg, "loyal", 5);
    assert_int_equal(d->rfm_seg, -1); /* the caller maps the name */
    assert_int_equal(d->dirty, 0);

    /* Derived again from the orders: o1 (1000) and o2 (2000 - 500) are
     * active, o3 is cancelled. */
    assert_int_equal(d->norders, 3);
    assert_int_equal(d->n, 2);
    assert_int_equal(d->fts[0], T0);
    assert_int_equal(d->fts[1], T0 + DAY_MS);
    assert_int_equal(d->last_ts, T0 + DAY_MS);
    assert_int_equal(d->monetary, 1000 + 1500);
    assert_string_equal(d->channel, "google");
    assert_string_equal(d->campaign, ""); /* empty, not absent */
    const char *ids[] = {"o1", "o2", "o3"};
    for (int i = 0; i < 3; i++) {
        assert_string_equal(d->orders[i].order_id, ids[i]);
        assert_int_equal(d->orders[i].ts, c->orders[i].ts);
        assert_int_equal(d->orders[i].amount, c->orders[i].amount);
        assert_int_equal(d->orders[i].refunded, c->orders[i].refunded);
        assert_int_equal(d->orders[i].seen, 1);
        assert_int_equal(d->orders[i].cancelled, i == 2);
        assert_int_equal(d->orders[i].dirty, 0);
    }
    assert_null(d->orders[2].channel);
    assert_null(d->orders[2].campaign);
    assert_non_null(d->orders[1].refund_ids);
    assert_string_equal(d->orders[1].refund_ids, c->orders[1].refund_ids);

    assert_int_equal(d->visits, 2);
    assert_int_equal(d->first_visit_ts, T0 - DAY_MS);
    assert_int_equal(d->last_visit_ts, T0 + 5 * DAY_MS);
    assert_int_equal(d->nvdays, 2);
    assert_int_equal(d->vdays[0], DAY0 - 1);
    assert_int_equal(d->vdays[1], DAY0 + 5);
    assert_memory_equal(d->recent_visits, c->recent_visits, sizeof(c->recent_visits));
    assert_int_not_equal(d->recent_visits[0], 0);
    assert_int_equal(d->rfm_r, 5);
    assert_int_equal(d->rfm_f, 2);
    assert_int_equal(d->rfm_m, 3);
    assert_int_equal(d->rfm_version, 7);
    assert_int_equal(d->rfm_wm, T0 + 6 * DAY_MS);
    assert_int_equal(d->has_rfm_wm, 1);
    assert_int_equal(d->lc_kept, 1);
    assert_int_equal(d->lc_done, LTV_LC_FIRST | LTV_LC_SECOND | LTV_LC_REVISIT);
    assert_int_equal(d->lc_f2_day, 3);
    assert_int_equal(d->lc_due, T0 + 7 * DAY_MS);
    assert_int_equal(d->lc_signup_ts, T0 - DAY_MS);
    assert_int_equal(d->lc_revisit_ts, T0 + 5 * DAY_MS);

    /* A re-sent order, refund and visit are still recognised after loading. */
    int facets;
    ltv_event_t again = ev_order("o1", T0, 1000, "google", "");
    assert_int_equal(ltv_customer_apply(d, &again, 0, &facets), LTV_DUPLICATE);
    again = ev_refund("o2", "r1", T0 + 4 * DAY_MS, 500);
    assert_int_equal(ltv_customer_apply(d, &again, 0, &facets), LTV_DUPLICATE);
    again = mk_visit("c1", "v1", "vis-2", T0 + 5 * DAY_MS);
    assert_int_equal(ltv_customer_apply(d, &again, 0, &facets), LTV_DUPLICATE);

    /* Encoding the decoded customer gives the same bytes. */
    ltv_buf_t b2;
    ltv_buf_init(&b2);
    ltv_customer_encode(d, "loyal", &b2);
    assert_int_equal(b2.n, b.n);
    assert_memory_equal(b2.p, b.p, b.n);

    ltv_buf_free(&b2);
    ltv_buf_free(&b);
    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
}

/* The header of an empty customer, worked out by hand: format 1, then
 * visits 0, first/last visit 0, r/f/m 0, rfm_version 0, rfm_wm none
 * (INT64_MIN, zigzag 2^64 - 1: nine 0xff bytes and 0x01), segment ""
 * (length 0), no visit days, no recent visits, no orders: 22 bytes. A visit
 * on day 19844 (T0) adds the day as a zigzag varint: 19844 * 2 = 39688 =
 * 0x9B08 -> LEB128 0x88 0xB6 0x02. */
static void test_layout_of_small_values(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_VISITOR, "v", 1);
    ltv_customer_encode(c, NULL, &b);
    static const char empty[] = "\x01\0\0\0\0\0\0\0"
                                "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                                "\0\0\0\0";
    assert_int_equal(b.n, 22);
    assert_memory_equal(b.p, empty, 22);

    c->nvdays = 0;
    c->vdays = ltv_malloc(sizeof(int32_t));
    c->capvdays = 1;
    c->vdays[c->nvdays++] = (int32_t)DAY0;
    ltv_customer_encode(c, NULL, &b);
    static const char oneday[] = "\x01\0\0\0\0\0\0\0"
                                 "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                                 "\0\x01\x88\xb6\x02\0\0";
    assert_int_equal(b.n, 25);
    assert_memory_equal(b.p, oneday, 25);
    ltv_customer_destroy(c);
    ltv_buf_free(&b);
}

/* The lifecycle section after the same 22-byte header of an empty
 * customer, worked out by hand: tag 1, lc_done 5 (first purchase and
 * revisit settled; unsigned, 0x05), lc_f2_day 14 (zigzag 28 = 0x1c),
 * lc_due T0 + 30 days = 1717113600000 (zigzag 3434227200000 =
 * 0x31f97e47000; its 7-bit groups from the lowest 0x00 0x60 0x11 0x3f 0x79
 * 0x63, all but the last with the continuation bit: 0x80 0xe0 0x91 0xbf
 * 0xf9 0x63), no sign-up (0x00), no revisit (0x00): 11 bytes, 33 in all. */
static void test_layout_of_the_lifecycle_section(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, "k", 1);
    c->lc_kept = 1;
    c->lc_done = LTV_LC_FIRST | LTV_LC_REVISIT;
    c->lc_f2_day = 14;
    c->lc_due = T0 + 30 * DAY_MS;
    ltv_customer_encode(c, NULL, &b);
    static const char kept[] = "\x01\0\0\0\0\0\0\0"
                               "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                               "\0\0\0\0"
                               "\x01\x05\x1c\x80\xe0\x91\xbf\xf9\x63\0\0";
    assert_int_equal(b.n, 33);
    assert_memory_equal(b.p, kept, 33);

    const char *seg;
    size_t seglen;
    ltv_customer_t *d = ltv_customer_decode(LTV_ENT_CUSTOMER, "k", 1, kept, 33, &seg, &seglen);
    assert_non_null(d);
    assert_int_equal(d->lc_kept, 1);
    assert_int_equal(d->lc_done, 5);
    assert_int_equal(d->lc_f2_day, 14);
    assert_int_equal(d->lc_due, INT64_C(1717113600000));
    assert_int_equal(d->lc_signup_ts, 0);
    assert_int_equal(d->lc_revisit_ts, 0);
    ltv_customer_destroy(d);

    /* The same value without the section (the first 22 bytes, as written
     * before lifecycle triggers existed): not kept, and with nothing to
     * settle (no orders, no visits) not untracked either. */
    d = ltv_customer_decode(LTV_ENT_CUSTOMER, "k", 1, kept, 22, &seg, &seglen);
    assert_non_null(d);
    assert_int_equal(d->lc_kept, 0);
    assert_int_equal(d->lc_done, 0);
    ltv_customer_destroy(d);

    /* A tag this decoder does not know: refused, not skipped. */
    static const char unknown[] = "\x01\0\0\0\0\0\0\0"
                                  "\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"
                                  "\0\0\0\0"
                                  "\x02\x05\x1c\x80\xe0\x91\xbf\xf9\x63\0\0";
    assert_null(ltv_customer_decode(LTV_ENT_CUSTOMER, "k", 1, unknown, 33, &seg, &seglen));
    ltv_customer_destroy(c);
    ltv_buf_free(&b);
}

/* A customer with orders and visits stored without the lifecycle section
 * (before triggers existed, or while they were off) reads back untracked,
 * and is written back without it, byte for byte, until triggers track it. */
static void test_value_without_lifecycle_section_is_untracked(void **state) {
    (void)state;
    ltv_customer_t *c = full_customer();
    c->lc_kept = 0;
    c->lc_done = 0;
    c->lc_f2_day = 0;
    c->lc_due = c->lc_signup_ts = c->lc_revisit_ts = 0;
    ltv_customer_t *d = stored_and_read(c, "loyal");
    assert_non_null(d);
    assert_int_equal(d->lc_kept, 0);
    assert_int_equal(d->lc_done, LTV_LC_UNTRACKED);
    assert_int_equal(d->lc_due, 0);
    ltv_buf_t b, b2;
    ltv_buf_init(&b);
    ltv_buf_init(&b2);
    ltv_customer_encode(c, "loyal", &b);
    ltv_customer_encode(d, "loyal", &b2);
    assert_int_equal(b2.n, b.n);
    assert_memory_equal(b2.p, b.p, b.n);

    /* With the section the value is 21 bytes longer and starts the same:
     * tag 1, lc_done 7 and f2 day 3 (zigzag 6) one byte each, then three
     * timestamps of 2024, whose zigzag values are below 2^42: six 7-bit
     * groups, six bytes each. */
    c->lc_kept = 1;
    c->lc_done = 7;
    c->lc_f2_day = 3;
    c->lc_due = T0 + 7 * DAY_MS;
    c->lc_signup_ts = T0 - DAY_MS;
    c->lc_revisit_ts = T0 + 5 * DAY_MS;
    ltv_customer_encode(c, "loyal", &b2);
    assert_int_equal(b2.n, b.n + 21);
    assert_memory_equal(b2.p, b.p, b.n);
    ltv_buf_free(&b);
    ltv_buf_free(&b2);
    ltv_customer_destroy(d);
    ltv_customer_destroy(c);
}

/* Every truncation of a valid value, a wrong format byte, trailing bytes
 * and absurd counts are refused. */
static void test_malformed_values_are_refused(void **state) {
    (void)state;
    ltv_customer_t *c = full_customer();
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_encode(c, "loyal", &b);
    const char *seg;
    size_t seglen;
    /* Cut exactly before the lifecycle section (21 bytes, see above), the
     * value is a valid one without it: the section is optional. */
    size_t base = b.n - 21;
    for (size_t n = 0; n < b.n; n++) {
        ltv_customer_t *d = ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, b.p, n, &seg, &seglen);
        if (n == base) {
            assert_non_null(d);
            assert_int_equal(d->lc_kept, 0);
            ltv_customer_destroy(d);
        } else {
            assert_null(d);
        }
    }

    char *v = ltv_malloc(b.n + 1);
    memcpy(v, b.p, b.n);
    v[b.n] = 0;
    assert_null(ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, v, b.n + 1, &seg, &seglen));
    v[0] = 2; /* an unknown format */
    assert_null(ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, v, b.n, &seg, &seglen));
    free(v);

    /* Format 1, zeros up to the day count (rfm_wm 0), then a count of
     * 2^35 days. */
    static const char huge[] = "\x01\0\0\0\0\0\0\0\0\0\x80\x80\x80\x80\x80\x01";
    assert_null(
        ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, huge, sizeof(huge) - 1, &seg, &seglen));
    /* A varint that never ends. */
    static const char endless[] = "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff";
    assert_null(ltv_customer_decode(LTV_ENT_CUSTOMER, "c1", 2, endless, sizeof(endless) - 1, &seg,
                                    &seglen));
    ltv_buf_free(&b);
    ltv_customer_destroy(c);
}

typedef struct fields_s {
    char names[32][40];
    char vals[32][80];
    int n;
} fields_t;

static void collect(void *op, const char *field, const char *v, size_t vlen) {
    fields_t *f = op;
    assert_true(f->n < 32);
    snprintf(f->names[f->n], sizeof(f->names[0]), "%s", field);
    snprintf(f->vals[f->n], sizeof(f->vals[0]), "%.*s", (int)vlen, v);
    f->n++;
}

static const char *field(const fields_t *f, const char *name) {
    for (int i = 0; i < f->n; i++)
        if (!strcmp(f->names[i], name))
            return f->vals[i];
    return NULL;
}

/* The field view has the hash field names and values of the former
 * layout, which tools and tests read. */
static void test_field_view_names_and_values(void **state) {
    (void)state;
    ltv_customer_t *c = full_customer();
    fields_t f = {.n = 0};
    ltv_customer_view(c, "loyal", collect, &f);
    assert_string_equal(field(&f, "purchase_count"), "2");
    assert_string_equal(field(&f, "monetary"), "2500");
    assert_string_equal(field(&f, "first_channel"), "google");
    assert_string_equal(field(&f, "visit_count"), "2");
    assert_string_equal(field(&f, "segment"), "loyal");
    assert_string_equal(field(&f, "r"), "5");
    assert_string_equal(field(&f, "rfm_version"), "7");
    /* Day 19843 = 4*4096 + 54*64 + 3 -> "E2D"; 19849 = ... + 9 -> "E2J". */
    assert_string_equal(field(&f, "visit_days"), "E2DE2J");
    assert_non_null(strstr(field(&f, "o:o3"), "\x1f" "oc" "\x1f"));
    assert_string_equal(field(&f, "lc_settled"), "first_purchase,second_purchase,revisit_due");
    assert_string_equal(field(&f, "lc_f2_day"), "3");
    /* T0 + 7 days = 1714521600000 + 604800000 */
    assert_string_equal(field(&f, "lc_due"), "1715126400000");
    assert_string_equal(field(&f, "lc_signup_ts"), "1714435200000");
    assert_string_equal(field(&f, "lc_revisit_ts"), "1714953600000");
    ltv_customer_destroy(c);

    /* A visitor with no orders and no scores shows only visit fields. */
    ltv_customer_t *v = ltv_customer_new(LTV_ENT_VISITOR, "anon", 4);
    apply_ok(v, mk_visit("", "anon", "x1", T0));
    fields_t g = {.n = 0};
    ltv_customer_view(v, NULL, collect, &g);
    assert_null(field(&g, "purchase_count"));
    assert_null(field(&g, "segment"));
    assert_string_equal(field(&g, "visit_count"), "1");
    assert_null(field(&g, "lc_settled")); /* not kept */
    ltv_customer_destroy(v);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_keeps_everything),
        cmocka_unit_test(test_layout_of_small_values),
        cmocka_unit_test(test_layout_of_the_lifecycle_section),
        cmocka_unit_test(test_value_without_lifecycle_section_is_untracked),
        cmocka_unit_test(test_malformed_values_are_refused),
        cmocka_unit_test(test_field_view_names_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
