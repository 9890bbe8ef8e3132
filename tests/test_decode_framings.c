/*
 * The three input framings of SPEC §2, each for a purchase and a visit:
 * Confluent wire format (0x00 + 4-byte big-endian schema id, writer schema
 * from a schema.dir of <id>.avsc files), Avro single-object encoding
 * (0xC3 0x01 + 8-byte little-endian CRC-64-AVRO fingerprint) and plain Avro
 * binary (forced with input.framing=plain, and auto-detected). Every field
 * of the decoded event is checked, including absent (NULL) vs empty ("")
 * optional strings.
 *
 * Messages come from tools/encode.c, and also from bytes written by hand
 * in this file (zig-zag varints per the Avro specification), so the
 * encoder is not the only oracle.
 */
#include "ltv_test_util.h"

/* 2024-05-01T14:59:59.999Z: 19844 days * 86400000 + 14h59m59.999s. */
#define TS1 INT64_C(1714575599999)
/* Confluent ids: a small one, and one whose four bytes all differ so a
 * wrong byte order finds nothing. */
#define PURCHASE_ID 7
#define VISIT_ID 0x01020304
/* CRC-64-AVRO of our purchase schema's canonical form, computed
 * independently (see test_avro_fingerprint.c). */
#define PURCHASE_FP UINT64_C(0xe68f8c338cefbc1f)

typedef struct fx_s {
    dfx_t d;
} fx_t;

static void write_reader_schemas(tdir_t *t) {
    char *p = slurp_file(LTV_SOURCE_DIR "/schemas/purchase.avsc");
    char *v = slurp_file(LTV_SOURCE_DIR "/schemas/visit.avsc");
    tdir_write(t, "7.avsc", p);
    tdir_write(t, "16909060.avsc", v); /* 0x01020304 */
    free(p);
    free(v);
}

/* Opens a decoder with schema.dir = a fresh temp dir holding our schemas
 * under PURCHASE_ID and VISIT_ID, plus extra conf pairs. */
static void open_with(fx_t *f, const char *extra1, const char *extra2) {
    memset(f, 0, sizeof(*f));
    tdir_init(&f->d.dir);
    write_reader_schemas(&f->d.dir);
    char sd[128];
    snprintf(sd, sizeof(sd), "schema.dir=%s", f->d.dir.path);
    const char *pairs[] = {sd, extra1, extra2, NULL};
    if (!extra1)
        pairs[1] = NULL;
    dfx_open(&f->d, pairs);
}

static void close_fx(fx_t *f) {
    dfx_close(&f->d);
    tdir_cleanup(&f->d.dir);
}

static int setup_auto(void **state) {
    fx_t *f = malloc(sizeof(*f));
    open_with(f, NULL, NULL);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    close_fx(f);
    free(f);
    return 0;
}

/* Purchases covering every type, present/absent/empty optionals and
 * non-ASCII text. */
static ltv_event_t purchases[6];
static ltv_event_t visits[3];

static void init_events(void) {
    purchases[0] = make_purchase("evt-0001", "cust-42", "ord-9", LTV_PT_ORDER, TS1, 129800, "JPY",
                                 "google", NULL);
    purchases[1] = make_purchase("evt-0002", "cust-42", "ord-9", LTV_PT_CANCEL, TS1 + 1, 129800,
                                 "JPY", "", "spring-sale");
    purchases[2] = make_purchase("evt-0003", "cust-42", "ord-9", LTV_PT_REFUND, TS1 + 2, 5000,
                                 "JPY", NULL, NULL);
    purchases[3] = make_purchase("evt-0004", "c\xc3\xa9", "o-1", LTV_PT_ORDER, 1, 0, "EUR",
                                 "\xe6\x98\xa5", "");
    purchases[4] = make_purchase("e", "c", "o", LTV_PT_REFUND, INT64_C(253402300799999),
                                 INT64_MAX, "USD", "x", "y");
    purchases[5] = make_purchase("evt-0006", "cust-7", "ord-1", LTV_PT_ORDER, TS1, -250, "", NULL,
                                 "c");
    visits[0] = make_visit("v-1", NULL, "vis-7", TS1, "/p/1", "newsletter", NULL);
    visits[1] = make_visit("v-2", "cust-42", "vis-7", TS1 + 5, "/", "", "");
    visits[2] = make_visit("v-3", "", "vis-8", 2, "/c?q=\xe6\x98\xa5", NULL, "summer");
}

static void roundtrip(fx_t *f, const ltv_event_t *ev, ltv_framing_t framing, int32_t id) {
    char errstr[512] = "";
    encode_with(&f->d.buf, ev, framing, id, NULL);
    ltv_event_t got;
    memset(&got, 0xA5, sizeof(got));
    ltv_reason_t r =
        ltv_decode(f->d.dec, ev->kind, f->d.buf.p, f->d.buf.n, &got, &f->d.arena, errstr,
                   sizeof(errstr));
    assert_reason(r, LTV_OK);
    check_event(&got, ev);
}

/* ---- Confluent ------------------------------------------------------------ */

static void test_confluent_purchase_every_field(void **state) {
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof(purchases) / sizeof(purchases[0]); i++)
        roundtrip(f, &purchases[i], LTV_FRAMING_CONFLUENT, PURCHASE_ID);
    /* The encoder really wrote the Confluent header we think it did. */
    encode_with(&f->d.buf, &purchases[0], LTV_FRAMING_CONFLUENT, PURCHASE_ID, NULL);
    const unsigned char want[5] = {0x00, 0x00, 0x00, 0x00, 0x07};
    assert_memory_equal(f->d.buf.p, want, 5);
}

static void test_confluent_visit_every_field(void **state) {
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof(visits) / sizeof(visits[0]); i++)
        roundtrip(f, &visits[i], LTV_FRAMING_CONFLUENT, VISIT_ID);
    encode_with(&f->d.buf, &visits[0], LTV_FRAMING_CONFLUENT, VISIT_ID, NULL);
    const unsigned char want[5] = {0x00, 0x01, 0x02, 0x03, 0x04};
    assert_memory_equal(f->d.buf.p, want, 5);
}

static void test_confluent_with_framing_forced(void **state) {
    (void)state;
    fx_t f;
    open_with(&f, "input.framing=confluent", NULL);
    roundtrip(&f, &purchases[1], LTV_FRAMING_CONFLUENT, PURCHASE_ID);
    roundtrip(&f, &visits[0], LTV_FRAMING_CONFLUENT, VISIT_ID);
    close_fx(&f);
}

/* ---- single-object ---------------------------------------------------------- */

static void test_single_object_purchase_every_field(void **state) {
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof(purchases) / sizeof(purchases[0]); i++)
        roundtrip(f, &purchases[i], LTV_FRAMING_SINGLE_OBJECT, 0);
    /* Header: magic, then the fingerprint little-endian. */
    encode_with(&f->d.buf, &purchases[0], LTV_FRAMING_SINGLE_OBJECT, 0, NULL);
    const unsigned char want[10] = {0xC3, 0x01, 0x1f, 0xbc, 0xef, 0x8c, 0x33, 0x8c, 0x8f, 0xe6};
    assert_memory_equal(f->d.buf.p, want, 10);
}

static void test_single_object_visit_every_field(void **state) {
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof(visits) / sizeof(visits[0]); i++)
        roundtrip(f, &visits[i], LTV_FRAMING_SINGLE_OBJECT, 0);
}

/* Single-object needs no schema.dir: the decoder registers our schemas. */
static void test_single_object_without_schema_dir_and_forced(void **state) {
    (void)state;
    dfx_t d;
    memset(&d, 0, sizeof(d));
    const char *pairs[] = {"input.framing=single-object", NULL};
    dfx_open(&d, pairs);
    fx_t *f = (fx_t *)&d; /* fx_t is just a dfx_t */
    roundtrip(f, &purchases[2], LTV_FRAMING_SINGLE_OBJECT, 0);
    roundtrip(f, &visits[1], LTV_FRAMING_SINGLE_OBJECT, 0);
    dfx_close(&d);
}

/* ---- plain ------------------------------------------------------------------- */

static void test_plain_forced_purchase_and_visit(void **state) {
    (void)state;
    fx_t f;
    open_with(&f, "input.framing=plain", NULL);
    for (size_t i = 0; i < sizeof(purchases) / sizeof(purchases[0]); i++)
        roundtrip(&f, &purchases[i], LTV_FRAMING_PLAIN, 0);
    for (size_t i = 0; i < sizeof(visits) / sizeof(visits[0]); i++)
        roundtrip(&f, &visits[i], LTV_FRAMING_PLAIN, 0);
    close_fx(&f);
}

/* Auto-detection falls back to plain when the first byte is neither 0x00
 * nor 0xC3 0x01. (A plain record whose first field is an empty string
 * starts with 0x00 and is indistinguishable from a Confluent header, so
 * these events have a non-empty event_id.) */
static void test_plain_auto_detected_purchase_and_visit(void **state) {
    fx_t *f = *state;
    for (size_t i = 0; i < sizeof(purchases) / sizeof(purchases[0]); i++) {
        encode_with(&f->d.buf, &purchases[i], LTV_FRAMING_PLAIN, 0, NULL);
        assert_true((unsigned char)f->d.buf.p[0] != 0x00 && (unsigned char)f->d.buf.p[0] != 0xC3);
        roundtrip(f, &purchases[i], LTV_FRAMING_PLAIN, 0);
    }
    for (size_t i = 0; i < sizeof(visits) / sizeof(visits[0]); i++)
        roundtrip(f, &visits[i], LTV_FRAMING_PLAIN, 0);
}

/* ---- bytes written by hand ---------------------------------------------------- */

/* A tiny purchase in our schema, every byte worked out from the Avro
 * specification:
 *   event_id "e1"     04 65 31          (length 2 -> zig-zag 4)
 *   customer_id "c1"  04 63 31
 *   order_id "o1"     04 6f 31
 *   type cancel       02                (symbol index 1 -> zig-zag 2)
 *   ts 1714521600000  80 c0 9b 97 e6 63 (2024-05-01T00:00:00Z = 19844 days;
 *                                        zig-zag 3429043200000, 7 bits at a time)
 *   amount 1999       9e 1f             (zig-zag 3998 = 31*128 + 30)
 *   currency "JPY"    06 4a 50 59
 *   channel null      00                (union branch 0)
 *   campaign "x"      02 02 78          (union branch 1, length 1, 'x')     */
static const unsigned char tiny_purchase[] = {
    0x04, 0x65, 0x31, 0x04, 0x63, 0x31, 0x04, 0x6f, 0x31, 0x02, 0x80, 0xc0, 0x9b, 0x97,
    0xe6, 0x63, 0x9e, 0x1f, 0x06, 0x4a, 0x50, 0x59, 0x00, 0x02, 0x02, 0x78};

static void check_tiny(const ltv_event_t *ev) {
    assert_int_equal(ev->kind, LTV_EV_PURCHASE);
    check_str("event_id", ev->event_id, "e1");
    check_str("customer_id", ev->customer_id, "c1");
    check_str("order_id", ev->order_id, "o1");
    assert_int_equal(ev->ptype, LTV_PT_CANCEL);
    assert_int_equal(ev->ts, INT64_C(1714521600000));
    assert_int_equal(ev->amount, 1999);
    check_str("currency", ev->currency, "JPY");
    check_str("channel", ev->channel, NULL);
    check_str("campaign", ev->campaign, "x");
}

static void decode_tiny(fx_t *f, const ltv_buf_t *msg) {
    char errstr[512] = "";
    ltv_event_t ev;
    ltv_reason_t r = ltv_decode(f->d.dec, LTV_EV_PURCHASE, msg->p, msg->n, &ev, &f->d.arena,
                                errstr, sizeof(errstr));
    assert_reason(r, LTV_OK);
    check_tiny(&ev);
}

static void test_hand_built_purchase_in_every_framing(void **state) {
    fx_t *f = *state;
    ltv_buf_t *msg = &f->d.buf2;

    /* The independent writer of ltv_test_util.h produces exactly these
     * bytes, so the other hand-built tests can trust it. */
    av_purchase(msg, "e1", "c1", "o1", 1, INT64_C(1714521600000), 1999, "JPY", NULL, "x");
    assert_int_equal(msg->n, sizeof(tiny_purchase));
    assert_memory_equal(msg->p, tiny_purchase, sizeof(tiny_purchase));

    /* plain, auto-detected (first byte 0x04) */
    ltv_buf_reset(msg);
    ltv_buf_append(msg, tiny_purchase, sizeof(tiny_purchase));
    decode_tiny(f, msg);

    /* Confluent, id 7 */
    ltv_buf_reset(msg);
    const unsigned char conf_hdr[5] = {0x00, 0x00, 0x00, 0x00, 0x07};
    ltv_buf_append(msg, conf_hdr, 5);
    ltv_buf_append(msg, tiny_purchase, sizeof(tiny_purchase));
    decode_tiny(f, msg);

    /* single-object, with the independently computed fingerprint */
    ltv_buf_reset(msg);
    const unsigned char so_hdr[10] = {0xC3, 0x01, 0x1f, 0xbc, 0xef, 0x8c, 0x33, 0x8c, 0x8f, 0xe6};
    ltv_buf_append(msg, so_hdr, 10);
    ltv_buf_append(msg, tiny_purchase, sizeof(tiny_purchase));
    decode_tiny(f, msg);

    /* The encoder, given the same event, writes the same body. */
    ltv_event_t ev = make_purchase("e1", "c1", "o1", LTV_PT_CANCEL, INT64_C(1714521600000), 1999,
                                   "JPY", NULL, "x");
    encode_with(msg, &ev, LTV_FRAMING_PLAIN, 0, NULL);
    assert_int_equal(msg->n, sizeof(tiny_purchase));
    assert_memory_equal(msg->p, tiny_purchase, sizeof(tiny_purchase));
}

/* An anonymous visit by hand: customer_id null, utm_source "", and a
 * negative-looking varint byte pattern for a small ts. */
static void test_hand_built_visit(void **state) {
    fx_t *f = *state;
    char errstr[512] = "";
    /*   event_id "v"   02 76
     *   customer_id    00             (null)
     *   visitor_id "w" 02 77
     *   ts 64          80 01          (zig-zag 128)
     *   page "/"       02 2f
     *   utm_source ""  02 00          (branch 1, length 0)
     *   utm_campaign   00             (null)
     *   signup         01             (true)                                */
    const unsigned char body[] = {0x02, 0x76, 0x00, 0x02, 0x77, 0x80, 0x01,
                                  0x02, 0x2f, 0x02, 0x00, 0x00, 0x01};
    ltv_event_t ev;
    ltv_reason_t r =
        ltv_decode(f->d.dec, LTV_EV_VISIT, body, sizeof(body), &ev, &f->d.arena, errstr,
                   sizeof(errstr));
    assert_reason(r, LTV_OK);
    assert_int_equal(ev.kind, LTV_EV_VISIT);
    check_str("event_id", ev.event_id, "v");
    check_str("customer_id", ev.customer_id, NULL);
    check_str("visitor_id", ev.visitor_id, "w");
    assert_int_equal(ev.ts, 64);
    check_str("page", ev.page, "/");
    check_str("utm_source", ev.channel, "");
    check_str("utm_campaign", ev.campaign, NULL);
    assert_int_equal(ev.signup, 1);
}

/* ---- plain framing with a configured writer schema ----------------------------- */

/* Same fields as ours but in another order, an extra field the reader does
 * not know, and channel as a plain string: decoding these bytes with our
 * schema would read the wrong fields. */
static const char reordered_purchase[] =
    "{\"type\":\"record\",\"name\":\"Purchase\",\"namespace\":\"ltvstream.v1\",\"fields\":["
    "{\"name\":\"customer_id\",\"type\":\"string\"},"
    "{\"name\":\"amount\",\"type\":\"long\"},"
    "{\"name\":\"note\",\"type\":\"string\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\","
    "\"symbols\":[\"order\",\"cancel\",\"refund\"]}},"
    "{\"name\":\"campaign\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"order_id\",\"type\":\"string\"},"
    "{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"channel\",\"type\":\"string\"}]}";

static const char reordered_visit[] =
    "{\"type\":\"record\",\"name\":\"Visit\",\"namespace\":\"ltvstream.v1\",\"fields\":["
    "{\"name\":\"visitor_id\",\"type\":\"string\"},"
    "{\"name\":\"referrer\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"page\",\"type\":\"string\"},"
    "{\"name\":\"ts\",\"type\":\"long\"},"
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"utm_campaign\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"utm_source\",\"type\":[\"null\",\"string\"]},"
    "{\"name\":\"customer_id\",\"type\":[\"null\",\"string\"]}]}";

static void test_plain_with_configured_writer_schema(void **state) {
    (void)state;
    char errstr[512] = "";
    tdir_t t;
    tdir_init(&t);
    const char *pp = tdir_write(&t, "purchase-writer.avsc", reordered_purchase);
    const char *vp = tdir_write(&t, "visit-writer.avsc", reordered_visit);
    char k1[300], k2[300];
    snprintf(k1, sizeof(k1), "input.plain.purchase.schema=%s", pp);
    snprintf(k2, sizeof(k2), "input.plain.visit.schema=%s", vp);

    const ltv_event_t pe = make_purchase("evt-77", "cust-77", "ord-77", LTV_PT_REFUND, TS1, 4200,
                                         "JPY", "affiliate", "camp-1");
    const ltv_event_t ve = make_visit("v-77", "cust-77", "vis-77", TS1, "/cart", "ads", NULL);
    ltv_buf_t pmsg, vmsg;
    ltv_buf_init(&pmsg);
    ltv_buf_init(&vmsg);
    encode_with(&pmsg, &pe, LTV_FRAMING_PLAIN, 0, reordered_purchase);
    encode_with(&vmsg, &ve, LTV_FRAMING_PLAIN, 0, reordered_visit);

    /* The writer's first field is customer_id "cust-77": 0x0e 'c' ... */
    assert_int_equal((unsigned char)pmsg.p[0], 0x0e);
    assert_int_equal(pmsg.p[1], 'c');

    const char *modes[] = {"input.framing=plain", "input.framing=auto"};
    for (int m = 0; m < 2; m++) {
        dfx_t d;
        memset(&d, 0, sizeof(d));
        const char *pairs[] = {k1, k2, modes[m], NULL};
        dfx_open(&d, pairs);
        ltv_event_t got;
        ltv_reason_t r = ltv_decode(d.dec, LTV_EV_PURCHASE, pmsg.p, pmsg.n, &got, &d.arena,
                                    errstr, sizeof(errstr));
        assert_reason(r, LTV_OK);
        check_event(&got, &pe);
        r = ltv_decode(d.dec, LTV_EV_VISIT, vmsg.p, vmsg.n, &got, &d.arena, errstr,
                       sizeof(errstr));
        assert_reason(r, LTV_OK);
        check_event(&got, &ve);
        dfx_close(&d);
    }

    /* (Ignoring the configured schema could not pass the checks above: read
     * with our schema these bytes would put "cust-77" into event_id.) */

    ltv_buf_free(&pmsg);
    ltv_buf_free(&vmsg);
    tdir_cleanup(&t);
}

/* A configured plain writer schema that does not exist or does not parse
 * makes the decoder refuse to start, naming the file. */
static void test_plain_writer_schema_file_errors(void **state) {
    (void)state;
    char err[512] = "";
    tdir_t t;
    tdir_init(&t);
    const char *bad = tdir_write(&t, "bad.avsc", "{\"type\":\"record\",\"name\":");
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/missing.avsc", t.path);
    const char *paths[] = {bad, missing};
    for (int i = 0; i < 2; i++) {
        ltv_conf_t *conf = ltv_conf_new();
        assert_int_equal(ltv_conf_set(conf, "input.plain.purchase.schema", paths[i], err,
                                      sizeof(err)),
                         LTV_CONF_OK);
        ltv_schemas_t *st = ltv_schemas_new(NULL, err, sizeof(err));
        err[0] = '\0';
        ltv_decoder_t *d = ltv_decoder_new(conf, st, err, sizeof(err));
        assert_null(d);
        assert_non_null(strstr(err, paths[i]));
        ltv_schemas_destroy(st);
        ltv_conf_destroy(conf);
    }
    tdir_cleanup(&t);
}

int main(void) {
    init_events();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_confluent_purchase_every_field, setup_auto, teardown),
        cmocka_unit_test_setup_teardown(test_confluent_visit_every_field, setup_auto, teardown),
        cmocka_unit_test(test_confluent_with_framing_forced),
        cmocka_unit_test_setup_teardown(test_single_object_purchase_every_field, setup_auto,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_single_object_visit_every_field, setup_auto, teardown),
        cmocka_unit_test(test_single_object_without_schema_dir_and_forced),
        cmocka_unit_test(test_plain_forced_purchase_and_visit),
        cmocka_unit_test_setup_teardown(test_plain_auto_detected_purchase_and_visit, setup_auto,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hand_built_purchase_in_every_framing, setup_auto,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_hand_built_visit, setup_auto, teardown),
        cmocka_unit_test(test_plain_with_configured_writer_schema),
        cmocka_unit_test(test_plain_writer_schema_file_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
