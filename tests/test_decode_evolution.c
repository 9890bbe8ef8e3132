/*
 * Schema evolution (SPEC §2: "writer schemas that differ from the reader
 * schema in schemas/ are resolved by Avro's schema-resolution rules (added
 * fields with defaults, removed fields, promoted types)"), through both
 * framings that name a writer schema: Confluent ids looked up in a temp
 * schema.dir, and single-object fingerprints (every schema.dir file is
 * indexed by fingerprint too).
 *
 * Expected results follow the Avro specification's "Schema Resolution"
 * section, not what the code happens to do:
 *  - a writer field the reader lacks is ignored;
 *  - a reader field the writer lacks takes the reader's default;
 *  - int is promotable to long; a string writer value fits a reader union
 *    with a string branch;
 *  - enums are matched by symbol NAME; a writer symbol the reader lacks
 *    takes the reader enum's default (ours: "order") or is an error;
 *  - anything else (e.g. string into long) is an error.
 */
#include "ltv_test_util.h"

#define TS1 INT64_C(1714575599999)

/* Field snippets of our purchase schema. */
#define F_EVENT_ID "{\"name\":\"event_id\",\"type\":\"string\"}"
#define F_CUSTOMER_ID "{\"name\":\"customer_id\",\"type\":\"string\"}"
#define F_ORDER_ID "{\"name\":\"order_id\",\"type\":\"string\"}"
#define F_TYPE                                                                                    \
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\",\"symbols\":"     \
    "[\"order\",\"cancel\",\"refund\"]},\"default\":\"order\"}"
#define F_TS "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}"
#define F_AMOUNT "{\"name\":\"amount\",\"type\":\"long\"}"
#define F_CURRENCY "{\"name\":\"currency\",\"type\":\"string\"}"
#define F_CHANNEL "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define F_CAMPAIGN "{\"name\":\"campaign\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define PURCHASE(fields)                                                                          \
    "{\"type\":\"record\",\"name\":\"Purchase\",\"namespace\":\"ltvstream.v1\",\"fields\":["     \
    fields "]}"

#define V_EVENT_ID "{\"name\":\"event_id\",\"type\":\"string\"}"
#define V_CUSTOMER_ID "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define V_VISITOR_ID "{\"name\":\"visitor_id\",\"type\":\"string\"}"
#define V_TS "{\"name\":\"ts\",\"type\":\"long\"}"
#define V_PAGE "{\"name\":\"page\",\"type\":\"string\"}"
#define V_UTM_SOURCE "{\"name\":\"utm_source\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define V_UTM_CAMPAIGN "{\"name\":\"utm_campaign\",\"type\":[\"null\",\"string\"],\"default\":null}"
#define VISIT(fields)                                                                             \
    "{\"type\":\"record\",\"name\":\"Visit\",\"namespace\":\"ltvstream.v1\",\"fields\":[" fields  \
    "]}"

/* v2 producer: two new fields with defaults, one in the middle. */
static const char w_added[] = PURCHASE(
    F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID "," F_TYPE "," F_TS "," F_AMOUNT
    ",{\"name\":\"coupon\",\"type\":\"string\",\"default\":\"\"},"
    "{\"name\":\"items\",\"type\":{\"type\":\"array\",\"items\":\"long\"},\"default\":[]},"
    F_CURRENCY "," F_CHANNEL "," F_CAMPAIGN
    ",{\"name\":\"device\",\"type\":[\"null\",\"string\"],\"default\":null}");
/* older producer: no campaign field yet */
static const char w_no_campaign[] = PURCHASE(F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID
                                             "," F_TYPE "," F_TS "," F_AMOUNT "," F_CURRENCY
                                             "," F_CHANNEL);
/* oldest producer: no type (every event an order), no channel, no campaign */
static const char w_no_type[] = PURCHASE(F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID "," F_TS
                                         "," F_AMOUNT "," F_CURRENCY);
/* amount as int: promoted to long */
static const char w_int_amount[] =
    PURCHASE(F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID "," F_TYPE "," F_TS
             ",{\"name\":\"amount\",\"type\":\"int\"}," F_CURRENCY "," F_CHANNEL "," F_CAMPAIGN);
/* channel as a plain string: fits the reader's ["null","string"] */
static const char w_string_channel[] =
    PURCHASE(F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID "," F_TYPE "," F_TS "," F_AMOUNT
             "," F_CURRENCY ",{\"name\":\"channel\",\"type\":\"string\"}," F_CAMPAIGN);
/* amount as a string: cannot be read as long */
static const char w_string_amount[] =
    PURCHASE(F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID "," F_TYPE "," F_TS
             ",{\"name\":\"amount\",\"type\":\"string\"}," F_CURRENCY "," F_CHANNEL "," F_CAMPAIGN);
/* enum symbols in another order */
static const char w_enum_reordered[] = PURCHASE(
    F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID
    ",{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\",\"symbols\":"
    "[\"refund\",\"order\",\"cancel\"]}}," F_TS "," F_AMOUNT "," F_CURRENCY "," F_CHANNEL
    "," F_CAMPAIGN);
/* enum with a symbol the reader does not know */
static const char w_enum_extra[] = PURCHASE(
    F_EVENT_ID "," F_CUSTOMER_ID "," F_ORDER_ID
    ",{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\",\"symbols\":"
    "[\"order\",\"cancel\",\"refund\",\"chargeback\"]}}," F_TS "," F_AMOUNT "," F_CURRENCY
    "," F_CHANNEL "," F_CAMPAIGN);
/* visits: an added field, and a removed optional one */
static const char wv_added[] =
    VISIT(V_EVENT_ID "," V_CUSTOMER_ID "," V_VISITOR_ID ",{\"name\":\"referrer\",\"type\":"
                     "\"string\",\"default\":\"\"}," V_TS "," V_PAGE "," V_UTM_SOURCE
                     "," V_UTM_CAMPAIGN);
static const char wv_no_utm_campaign[] =
    VISIT(V_EVENT_ID "," V_CUSTOMER_ID "," V_VISITOR_ID "," V_TS "," V_PAGE "," V_UTM_SOURCE);

static const struct {
    int id;
    const char *json;
} writers[] = {
    {21, w_added},       {22, w_no_campaign},    {23, w_int_amount},
    {24, w_string_channel}, {25, w_string_amount}, {26, w_enum_reordered},
    {27, w_enum_extra},  {28, w_no_type},        {31, wv_added},
    {32, wv_no_utm_campaign},
};

static int setup(void **state) {
    dfx_t *f = calloc(1, sizeof(*f));
    tdir_init(&f->dir);
    for (size_t i = 0; i < sizeof(writers) / sizeof(writers[0]); i++) {
        char name[32];
        snprintf(name, sizeof(name), "%d.avsc", writers[i].id);
        tdir_write(&f->dir, name, writers[i].json);
    }
    char sd[128];
    snprintf(sd, sizeof(sd), "schema.dir=%s", f->dir.path);
    const char *pairs[] = {sd, NULL};
    dfx_open(f, pairs);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    dfx_t *f = *state;
    dfx_close(f);
    tdir_cleanup(&f->dir);
    free(f);
    return 0;
}

static const ltv_framing_t framings[] = {LTV_FRAMING_CONFLUENT, LTV_FRAMING_SINGLE_OBJECT};
static const char *framing_name(ltv_framing_t fr) {
    return fr == LTV_FRAMING_CONFLUENT ? "confluent" : "single-object";
}

/* Encodes ev with writer schema (id, json) in framing fr and decodes it. */
static ltv_reason_t decode_via(dfx_t *f, const ltv_event_t *ev, int id, const char *json,
                               ltv_framing_t fr, ltv_event_t *got, char *errstr, size_t errsz) {
    encode_with(&f->buf, ev, fr, id, json);
    return ltv_decode(f->dec, ev->kind, f->buf.p, f->buf.n, got, &f->arena, errstr, errsz);
}

/* ---- added fields ---------------------------------------------------------- */

static void test_writer_with_added_fields_decodes_and_ignores_them(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t evs[] = {
        make_purchase("evt-1", "cust-1", "ord-1", LTV_PT_ORDER, TS1, 129800, "JPY", "google",
                      "spring"),
        make_purchase("evt-2", "cust-1", "ord-1", LTV_PT_REFUND, TS1 + 9, 800, "JPY", NULL, ""),
    };
    for (int fi = 0; fi < 2; fi++) {
        for (int i = 0; i < 2; i++) {
            ltv_event_t got;
            ltv_reason_t r = decode_via(f, &evs[i], 21, w_added, framings[fi], &got, errstr,
                                        sizeof(errstr));
            if (r != LTV_OK)
                fail_msg("%s: %s: %s", framing_name(framings[fi]), ltv_reason_name(r), errstr);
            check_event(&got, &evs[i]);
        }
    }
}

/* Hand-built v2 bytes with non-empty values in the added fields, so that
 * skipping them (not just reading zeros) is what is tested. */
static void test_added_fields_with_content_are_skipped(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    ltv_buf_t *m = &f->buf2;
    av_confluent_header(m, 21);
    av_str(m, "evt-9");
    av_str(m, "cust-9");
    av_str(m, "ord-9");
    av_long(m, 2); /* refund */
    av_long(m, TS1);
    av_long(m, 777);
    av_str(m, "COUPON-2024"); /* coupon */
    av_long(m, 3);            /* items: one block of 3 longs */
    av_long(m, 11);
    av_long(m, -22);
    av_long(m, 33);
    av_long(m, 0);           /* end of array */
    av_str(m, "USD");        /* currency */
    av_opt_str(m, "line");   /* channel */
    av_opt_str(m, NULL);     /* campaign */
    av_opt_str(m, "iphone"); /* device */
    ltv_event_t got;
    ltv_reason_t r =
        ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &got, &f->arena, errstr, sizeof(errstr));
    assert_reason(r, LTV_OK);
    const ltv_event_t want =
        make_purchase("evt-9", "cust-9", "ord-9", LTV_PT_REFUND, TS1, 777, "USD", "line", NULL);
    check_event(&got, &want);
}

static void test_visit_writer_with_added_field(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev = make_visit("v-1", NULL, "vis-1", TS1, "/p", "ads", "summer");
    for (int fi = 0; fi < 2; fi++) {
        ltv_event_t got;
        ltv_reason_t r = decode_via(f, &ev, 31, wv_added, framings[fi], &got, errstr,
                                    sizeof(errstr));
        assert_reason(r, LTV_OK);
        check_event(&got, &ev);
    }
}

/* ---- promotions --------------------------------------------------------------- */

static void test_int_amount_is_promoted_to_long(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const int64_t amounts[] = {0, 1999, INT32_MAX, -5, INT32_MIN};
    for (int fi = 0; fi < 2; fi++) {
        for (size_t i = 0; i < sizeof(amounts) / sizeof(amounts[0]); i++) {
            const ltv_event_t ev = make_purchase("evt-3", "cust-3", "ord-3", LTV_PT_CANCEL, TS1,
                                                 amounts[i], "JPY", "x", NULL);
            ltv_event_t got;
            ltv_reason_t r = decode_via(f, &ev, 23, w_int_amount, framings[fi], &got, errstr,
                                        sizeof(errstr));
            assert_reason(r, LTV_OK);
            check_event(&got, &ev);
        }
    }
}

static void test_writer_string_fits_reader_optional_union(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev =
        make_purchase("evt-4", "cust-4", "ord-4", LTV_PT_ORDER, TS1, 10, "JPY", "meta", "c");
    for (int fi = 0; fi < 2; fi++) {
        ltv_event_t got;
        ltv_reason_t r = decode_via(f, &ev, 24, w_string_channel, framings[fi], &got, errstr,
                                    sizeof(errstr));
        assert_reason(r, LTV_OK);
        check_event(&got, &ev);
    }
}

/* ---- removed fields: the reader's default ---------------------------------------- */

static void test_writer_without_optional_field_gets_reader_default_null(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    /* campaign is set in the event but the writer schema has no such
     * field, so it is not in the bytes: the reader default null applies. */
    const ltv_event_t ev = make_purchase("evt-5", "cust-5", "ord-5", LTV_PT_ORDER, TS1, 5000,
                                         "JPY", "google", "not-written");
    for (int fi = 0; fi < 2; fi++) {
        ltv_event_t got;
        ltv_reason_t r = decode_via(f, &ev, 22, w_no_campaign, framings[fi], &got, errstr,
                                    sizeof(errstr));
        if (r != LTV_OK)
            fail_msg("%s: writer without the optional \"campaign\" field: %s (%s); the "
                     "specification resolves it to the reader default null",
                     framing_name(framings[fi]), ltv_reason_name(r), errstr);
        ltv_event_t want = ev;
        want.campaign = LTV_STR_NULL;
        check_event(&got, &want);
    }
}

static void test_writer_without_type_field_defaults_to_order(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev = make_purchase("evt-6", "cust-6", "ord-6", LTV_PT_REFUND, TS1, 100,
                                         "EUR", "not-written", "not-written");
    ltv_event_t got;
    ltv_reason_t r = decode_via(f, &ev, 28, w_no_type, LTV_FRAMING_CONFLUENT, &got, errstr,
                                sizeof(errstr));
    if (r != LTV_OK)
        fail_msg("writer without \"type\", \"channel\", \"campaign\": %s (%s); the reader "
                 "defaults are \"order\", null, null",
                 ltv_reason_name(r), errstr);
    ltv_event_t want = ev;
    want.ptype = LTV_PT_ORDER;
    want.channel = LTV_STR_NULL;
    want.campaign = LTV_STR_NULL;
    check_event(&got, &want);
}

static void test_visit_writer_without_optional_field_gets_null(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev = make_visit("v-2", "cust-2", "vis-2", TS1, "/", "ads", "not-written");
    for (int fi = 0; fi < 2; fi++) {
        ltv_event_t got;
        ltv_reason_t r = decode_via(f, &ev, 32, wv_no_utm_campaign, framings[fi], &got, errstr,
                                    sizeof(errstr));
        if (r != LTV_OK)
            fail_msg("%s: visit writer without \"utm_campaign\": %s (%s)",
                     framing_name(framings[fi]), ltv_reason_name(r), errstr);
        ltv_event_t want = ev;
        want.campaign = LTV_STR_NULL;
        check_event(&got, &want);
    }
}

/* ---- incompatible writers ------------------------------------------------------------ */

static void test_incompatible_writer_is_reported_and_decoder_keeps_working(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev =
        make_purchase("evt-7", "cust-7", "ord-7", LTV_PT_ORDER, TS1, 42, "JPY", NULL, NULL);
    for (int fi = 0; fi < 2; fi++) {
        for (int again = 0; again < 2; again++) { /* the verdict is cached: ask twice */
            ltv_event_t got;
            errstr[0] = '\0';
            ltv_reason_t r = decode_via(f, &ev, 25, w_string_amount, framings[fi], &got, errstr,
                                        sizeof(errstr));
            assert_reason(r, LTV_R_INCOMPATIBLE_SCHEMA);
            assert_true(errstr[0] != '\0');
        }
        /* A good message right after still decodes. */
        ltv_event_t got;
        ltv_reason_t r = decode_via(f, &ev, 21, w_added, framings[fi], &got, errstr,
                                    sizeof(errstr));
        assert_reason(r, LTV_OK);
        check_event(&got, &ev);
    }
}

/* A visit message sent with a purchase writer schema (wrong topic) is an
 * incompatible writer, not a crash. */
static void test_purchase_writer_on_visit_topic_is_incompatible(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    const ltv_event_t ev =
        make_purchase("evt-8", "cust-8", "ord-8", LTV_PT_ORDER, TS1, 42, "JPY", NULL, NULL);
    encode_with(&f->buf, &ev, LTV_FRAMING_CONFLUENT, 21, w_added);
    ltv_event_t got;
    ltv_reason_t r =
        ltv_decode(f->dec, LTV_EV_VISIT, f->buf.p, f->buf.n, &got, &f->arena, errstr,
                   sizeof(errstr));
    assert_reason(r, LTV_R_INCOMPATIBLE_SCHEMA);
}

/* ---- enums: by symbol name ---------------------------------------------------------- */

/* Bytes written by hand: tools/encode.c writes the event's numeric ptype
 * as the enum index, which is only right for our own symbol order. */
static void build_with_type_index(ltv_buf_t *m, int id, int64_t index) {
    ltv_buf_reset(m);
    av_confluent_header(m, (uint32_t)id);
    av_purchase(m, "evt-10", "cust-10", "ord-10", index, TS1, 1000, "JPY", NULL, NULL);
}

static void test_enum_symbols_resolved_by_name_not_index(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    /* writer symbols: refund=0, order=1, cancel=2 */
    const struct {
        int64_t windex;
        ltv_ptype_t want;
    } cases[] = {{0, LTV_PT_REFUND}, {1, LTV_PT_ORDER}, {2, LTV_PT_CANCEL}};
    ltv_buf_t *m = &f->buf2;
    for (int i = 0; i < 3; i++) {
        build_with_type_index(m, 26, cases[i].windex);
        ltv_event_t got;
        ltv_reason_t r =
            ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &got, &f->arena, errstr, sizeof(errstr));
        assert_reason(r, LTV_OK);
        if (got.ptype != cases[i].want)
            fail_msg("writer symbol index %lld (\"%s\") decoded as ptype %d, want %d",
                     (long long)cases[i].windex,
                     cases[i].windex == 0 ? "refund" : cases[i].windex == 1 ? "order" : "cancel",
                     (int)got.ptype, (int)cases[i].want);
    }
}

static void test_unknown_writer_enum_symbol_is_never_passed_through(void **state) {
    dfx_t *f = *state;
    char errstr[512] = "";
    ltv_buf_t *m = &f->buf2;
    /* the known symbols still work */
    build_with_type_index(m, 27, 1);
    ltv_event_t got;
    ltv_reason_t r =
        ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &got, &f->arena, errstr, sizeof(errstr));
    assert_reason(r, LTV_OK);
    assert_int_equal(got.ptype, LTV_PT_CANCEL);
    /* "chargeback" (index 3): our enum has no symbol default, so the message
     * is dead-lettered (never guessed as an order, never a ptype outside
     * order/cancel/refund), naming the symbol. */
    build_with_type_index(m, 27, 3);
    r = ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &got, &f->arena, errstr, sizeof(errstr));
    assert_reason(r, LTV_R_AVRO_DECODE);
    assert_non_null(strstr(errstr, "chargeback"));
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_writer_with_added_fields_decodes_and_ignores_them),
        T(test_added_fields_with_content_are_skipped),
        T(test_visit_writer_with_added_field),
        T(test_int_amount_is_promoted_to_long),
        T(test_writer_string_fits_reader_optional_union),
        T(test_writer_without_optional_field_gets_reader_default_null),
        T(test_writer_without_type_field_defaults_to_order),
        T(test_visit_writer_without_optional_field_gets_null),
        T(test_incompatible_writer_is_reported_and_decoder_keeps_working),
        T(test_purchase_writer_on_visit_topic_is_incompatible),
        T(test_enum_symbols_resolved_by_name_not_index),
        T(test_unknown_writer_enum_symbol_is_never_passed_through),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
