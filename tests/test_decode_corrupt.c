/*
 * Bad input never crashes the decoder and always comes back as the right
 * reason code (SPEC §2: bad input goes to the dead-letter topic with a
 * header naming the reason). Also ltv_event_validate's value checks and
 * the stable reason names used in DLQ headers and metric labels.
 */
#include "ltv_test_util.h"

#define TS1 INT64_C(1714575599999)
#define PURCHASE_ID 7
#define VISIT_ID 8
#define PURCHASE_FP UINT64_C(0xe68f8c338cefbc1f) /* see test_avro_fingerprint.c */

static int setup(void **state) {
    dfx_t *f = calloc(1, sizeof(*f));
    tdir_init(&f->dir);
    char *p = slurp_file(LTV_SOURCE_DIR "/schemas/purchase.avsc");
    char *v = slurp_file(LTV_SOURCE_DIR "/schemas/visit.avsc");
    tdir_write(&f->dir, "7.avsc", p);
    tdir_write(&f->dir, "8.avsc", v);
    free(p);
    free(v);
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

/* A decoder with a forced framing, sharing nothing with the fixture. */
static void open_forced(dfx_t *d, const tdir_t *dir, const char *framing) {
    memset(d, 0, sizeof(*d));
    char sd[128], fr[64];
    snprintf(sd, sizeof(sd), "schema.dir=%s", dir->path);
    snprintf(fr, sizeof(fr), "input.framing=%s", framing);
    const char *pairs[] = {sd, fr, NULL};
    dfx_open(d, pairs);
}

static ltv_reason_t dec(dfx_t *f, ltv_ev_kind_t kind, const void *p, size_t n, char *errstr,
                        size_t errsz) {
    ltv_event_t ev;
    errstr[0] = '\0';
    ltv_reason_t r = ltv_decode(f->dec, kind, p, n, &ev, &f->arena, errstr, errsz);
    assert_true((int)r >= 0 && r < LTV_R__COUNT);
    if (r != LTV_OK)
        assert_true(errstr[0] != '\0'); /* every failure says why */
    return r;
}

static const ltv_event_t *valid_purchase(void) {
    static ltv_event_t ev;
    ev = make_purchase("evt-0001", "cust-42", "ord-9", LTV_PT_ORDER, TS1, 129800, "JPY", "google",
                       "spring");
    return &ev;
}

static const ltv_event_t *valid_visit(void) {
    static ltv_event_t ev;
    ev = make_visit("v-1", "cust-42", "vis-7", TS1, "/p/1", "newsletter", NULL);
    return &ev;
}

/* ---- framing headers ------------------------------------------------------------ */

static void test_empty_message_is_truncated(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    const char *framings[] = {"confluent", "single-object", "plain"};
    /* auto (a Kafka tombstone has a NULL payload) */
    assert_reason(dec(f, LTV_EV_PURCHASE, NULL, 0, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    assert_reason(dec(f, LTV_EV_VISIT, "", 0, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    for (int i = 0; i < 3; i++) {
        dfx_t d;
        open_forced(&d, &f->dir, framings[i]);
        assert_reason(dec(&d, LTV_EV_PURCHASE, NULL, 0, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
        assert_reason(dec(&d, LTV_EV_VISIT, "", 0, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
        dfx_close(&d);
    }
}

static void test_short_confluent_header_is_truncated(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    const unsigned char hdr[5] = {0x00, 0x00, 0x00, 0x00, PURCHASE_ID};
    dfx_t d;
    open_forced(&d, &f->dir, "confluent");
    for (size_t n = 1; n <= 4; n++) {
        assert_reason(dec(f, LTV_EV_PURCHASE, hdr, n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
        assert_reason(dec(&d, LTV_EV_PURCHASE, hdr, n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    }
    dfx_close(&d);
}

static void test_short_single_object_header_is_truncated(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    unsigned char hdr[10] = {0xC3, 0x01};
    for (int k = 0; k < 8; k++)
        hdr[2 + k] = (unsigned char)(PURCHASE_FP >> (8 * k));
    dfx_t d;
    open_forced(&d, &f->dir, "single-object");
    for (size_t n = 2; n <= 9; n++) {
        assert_reason(dec(f, LTV_EV_PURCHASE, hdr, n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
        assert_reason(dec(&d, LTV_EV_PURCHASE, hdr, n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    }
    assert_reason(dec(&d, LTV_EV_PURCHASE, hdr, 1, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    dfx_close(&d);
}

/* A complete header and nothing after it. */
static void test_header_only_messages_are_truncated(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    ltv_buf_t *m = &f->buf2;
    av_confluent_header(m, PURCHASE_ID);
    assert_reason(dec(f, LTV_EV_PURCHASE, m->p, m->n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    ltv_buf_reset(m);
    av_confluent_header(m, VISIT_ID);
    assert_reason(dec(f, LTV_EV_VISIT, m->p, m->n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
    ltv_buf_reset(m);
    av_single_object_header(m, PURCHASE_FP);
    assert_reason(dec(f, LTV_EV_PURCHASE, m->p, m->n, errstr, sizeof(errstr)), LTV_R_TRUNCATED);
}

static void test_unknown_schema_id(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_PLAIN, 0, NULL);
    /* 99; 7 in the wrong byte order; 0; the largest positive id; and ids
     * with the top bit set (negative as int32: -1 and INT32_MIN) */
    const uint32_t ids[] = {99, 0x07000000u, 0, 0x7fffffffu, 0xffffffffu, 0x80000000u};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int kind = LTV_EV_PURCHASE; kind <= LTV_EV_VISIT; kind++) {
            ltv_buf_t *m = &f->buf2;
            ltv_buf_reset(m);
            av_confluent_header(m, ids[i]);
            ltv_buf_append(m, f->buf.p, f->buf.n);
            ltv_reason_t r = dec(f, (ltv_ev_kind_t)kind, m->p, m->n, errstr, sizeof(errstr));
            if (r != LTV_R_UNKNOWN_SCHEMA_ID)
                fail_msg("Confluent schema id 0x%08x (kind %d): %s, want unknown_schema_id (%s)",
                         (unsigned)ids[i], kind, ltv_reason_name(r), errstr);
        }
    }
    /* Without a schema.dir every Confluent id is unknown, including those
     * whose int32 value is negative (the store also holds schemas known
     * only by fingerprint: our reader schemas). */
    dfx_t d;
    memset(&d, 0, sizeof(d));
    const char *pairs[] = {NULL};
    dfx_open(&d, pairs);
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        for (int kind = LTV_EV_PURCHASE; kind <= LTV_EV_VISIT; kind++) {
            ltv_buf_t *m = &f->buf2;
            ltv_buf_reset(m);
            av_confluent_header(m, ids[i]);
            ltv_buf_append(m, f->buf.p, f->buf.n);
            ltv_reason_t r = dec(&d, (ltv_ev_kind_t)kind, m->p, m->n, errstr, sizeof(errstr));
            if (r != LTV_R_UNKNOWN_SCHEMA_ID) {
                dfx_close(&d);
                fail_msg("no schema.dir, Confluent schema id 0x%08x (kind %d): %s, want "
                         "unknown_schema_id (%s)",
                         (unsigned)ids[i], kind, ltv_reason_name(r), errstr);
            }
        }
    }
    dfx_close(&d);
}

static void test_unknown_fingerprint(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_PLAIN, 0, NULL);
    uint64_t be = 0; /* our fingerprint in the wrong (big-endian) byte order */
    for (int k = 0; k < 8; k++)
        be = (be << 8) | ((PURCHASE_FP >> (8 * k)) & 0xff);
    const uint64_t fps[] = {PURCHASE_FP ^ 1, PURCHASE_FP ^ (UINT64_C(1) << 63), be, 0,
                            UINT64_MAX};
    for (size_t i = 0; i < sizeof(fps) / sizeof(fps[0]); i++) {
        ltv_buf_t *m = &f->buf2;
        ltv_buf_reset(m);
        av_single_object_header(m, fps[i]);
        ltv_buf_append(m, f->buf.p, f->buf.n);
        assert_reason(dec(f, LTV_EV_PURCHASE, m->p, m->n, errstr, sizeof(errstr)),
                      LTV_R_UNKNOWN_FINGERPRINT);
    }
}

static void test_forced_framing_rejects_other_magic(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    dfx_t d;
    open_forced(&d, &f->dir, "confluent");
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_SINGLE_OBJECT, 0, NULL);
    assert_reason(dec(&d, LTV_EV_PURCHASE, f->buf.p, f->buf.n, errstr, sizeof(errstr)),
                  LTV_R_BAD_MAGIC);
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_PLAIN, 0, NULL);
    assert_reason(dec(&d, LTV_EV_PURCHASE, f->buf.p, f->buf.n, errstr, sizeof(errstr)),
                  LTV_R_BAD_MAGIC);
    dfx_close(&d);
    open_forced(&d, &f->dir, "single-object");
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_CONFLUENT, PURCHASE_ID, NULL);
    assert_reason(dec(&d, LTV_EV_PURCHASE, f->buf.p, f->buf.n, errstr, sizeof(errstr)),
                  LTV_R_BAD_MAGIC);
    dfx_close(&d);
}

static void test_unknown_event_kind_is_rejected(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_CONFLUENT, PURCHASE_ID, NULL);
    assert_true(dec(f, (ltv_ev_kind_t)0, f->buf.p, f->buf.n, errstr, sizeof(errstr)) != LTV_OK);
    assert_true(dec(f, (ltv_ev_kind_t)3, f->buf.p, f->buf.n, errstr, sizeof(errstr)) != LTV_OK);
}

/* ---- bodies ----------------------------------------------------------------------- */

/* Cuts a valid record after every possible number of body bytes: each
 * prefix must be an error (Avro binary is self-delimiting, so no proper
 * prefix of a record is a record), never a half-read event. */
static void truncate_everywhere(dfx_t *f, const ltv_event_t *ev, ltv_framing_t fr, int32_t id,
                                size_t hdr) {
    char errstr[256];
    encode_with(&f->buf, ev, fr, id, NULL);
    assert_reason(dec(f, ev->kind, f->buf.p, f->buf.n, errstr, sizeof(errstr)), LTV_OK);
    size_t body = f->buf.n - hdr;
    assert_true(body > 20);
    for (size_t k = 1; k < body; k++) {
        ltv_reason_t r = dec(f, ev->kind, f->buf.p, hdr + k, errstr, sizeof(errstr));
        if (r != LTV_R_AVRO_DECODE && r != LTV_R_TRUNCATED)
            fail_msg("framing %d, body cut to %zu of %zu bytes: %s, want avro_decode or "
                     "truncated",
                     (int)fr, k, body, ltv_reason_name(r));
    }
}

static void test_body_truncated_at_every_length(void **state) {
    dfx_t *f = *state;
    truncate_everywhere(f, valid_purchase(), LTV_FRAMING_CONFLUENT, PURCHASE_ID, 5);
    truncate_everywhere(f, valid_purchase(), LTV_FRAMING_SINGLE_OBJECT, 0, 10);
    truncate_everywhere(f, valid_purchase(), LTV_FRAMING_PLAIN, 0, 0);
    truncate_everywhere(f, valid_visit(), LTV_FRAMING_CONFLUENT, VISIT_ID, 5);
    truncate_everywhere(f, valid_visit(), LTV_FRAMING_SINGLE_OBJECT, 0, 10);
    truncate_everywhere(f, valid_visit(), LTV_FRAMING_PLAIN, 0, 0);
}

static void test_trailing_garbage_after_valid_record(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    const ltv_framing_t frs[] = {LTV_FRAMING_CONFLUENT, LTV_FRAMING_SINGLE_OBJECT,
                                 LTV_FRAMING_PLAIN};
    const char *tails[] = {"\x00", "x", "\x02\x41", "garbage!"};
    const size_t tail_len[] = {1, 1, 2, 8};
    for (int i = 0; i < 3; i++) {
        for (int t = 0; t < 4; t++) {
            encode_with(&f->buf, valid_purchase(), frs[i], PURCHASE_ID, NULL);
            ltv_buf_append(&f->buf, tails[t], tail_len[t]);
            assert_reason(dec(f, LTV_EV_PURCHASE, f->buf.p, f->buf.n, errstr, sizeof(errstr)),
                          LTV_R_AVRO_DECODE);
        }
    }
}

/* A plain purchase whose event_id declares `len` bytes but carries 3. */
static void decode_with_string_length(dfx_t *f, const char *what, const unsigned char *varint,
                                      size_t vn) {
    char errstr[256];
    ltv_buf_t *m = &f->buf2;
    ltv_buf_reset(m);
    ltv_buf_append(m, varint, vn);
    ltv_buf_append(m, "abc", 3);
    ltv_reason_t r = dec(f, LTV_EV_PURCHASE, m->p, m->n, errstr, sizeof(errstr));
    if (r != LTV_R_AVRO_DECODE)
        fail_msg("string length %s: %s, want avro_decode", what, ltv_reason_name(r));
    /* and with a Confluent header in front */
    ltv_buf_reset(m);
    av_confluent_header(m, PURCHASE_ID);
    ltv_buf_append(m, varint, vn);
    ltv_buf_append(m, "abc", 3);
    r = dec(f, LTV_EV_PURCHASE, m->p, m->n, errstr, sizeof(errstr));
    if (r != LTV_R_AVRO_DECODE)
        fail_msg("string length %s (Confluent): %s, want avro_decode", what, ltv_reason_name(r));
}

static void test_huge_and_invalid_string_lengths(void **state) {
    dfx_t *f = *state;
    ltv_buf_t v;
    ltv_buf_init(&v);
    /* zig-zag varints of lengths far beyond the message */
    const int64_t lens[] = {4, 1000, INT64_C(1) << 20, INT64_C(1) << 31, INT64_C(1) << 40,
                            INT64_C(1) << 62, INT64_MAX, -1, -1000, INT64_MIN};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        ltv_buf_reset(&v);
        av_long(&v, lens[i]);
        char what[64];
        snprintf(what, sizeof(what), "%lld", (long long)lens[i]);
        unsigned char tmp[16];
        size_t n = v.n;
        memcpy(tmp, v.p, n);
        ltv_buf_free(&v); /* nothing of ours outlives a failing check */
        decode_with_string_length(f, what, tmp, n);
    }
    /* a varint longer than 10 bytes */
    const unsigned char toolong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    decode_with_string_length(f, "11-byte varint", toolong, sizeof(toolong));
}

/* Enum index and union branch outside the schema: the value would be
 * garbage, so the message must be refused. */
static void test_enum_index_out_of_range_is_refused(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    const int64_t bad[] = {3, 4, 100, -1, INT64_C(1) << 32};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ltv_buf_t *m = &f->buf2;
        ltv_buf_reset(m);
        av_purchase(m, "e1", "c1", "o1", bad[i], TS1, 100, "JPY", NULL, NULL);
        ltv_event_t ev;
        ltv_reason_t r =
            ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &ev, &f->arena, errstr, sizeof(errstr));
        if (r == LTV_OK)
            fail_msg("purchase type index %lld accepted as ptype %d", (long long)bad[i],
                     (int)ev.ptype);
        assert_reason(r, LTV_R_AVRO_DECODE);
    }
}

static void test_union_branch_out_of_range_is_refused(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    const int64_t bad[] = {2, 3, -1, INT64_C(1) << 32};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ltv_buf_t *m = &f->buf2;
        ltv_buf_reset(m);
        av_str(m, "e1");
        av_str(m, "c1");
        av_str(m, "o1");
        av_long(m, 0);
        av_long(m, TS1);
        av_long(m, 100);
        av_str(m, "JPY");
        av_long(m, bad[i]); /* channel branch */
        av_str(m, "x");
        av_long(m, 0); /* campaign null */
        ltv_event_t ev;
        ltv_reason_t r =
            ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, m->n, &ev, &f->arena, errstr, sizeof(errstr));
        if (r == LTV_OK)
            fail_msg("union branch %lld accepted", (long long)bad[i]);
        assert_reason(r, LTV_R_AVRO_DECODE);
    }
}

/* ---- random input ------------------------------------------------------------------ */

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rnd(void) { /* xorshift64*, fixed seed: the same run every time */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * UINT64_C(2685821657736338717);
}

static void test_random_bytes_never_crash(void **state) {
    dfx_t *f = *state;
    char errstr[256];
    ltv_buf_t *m = &f->buf2;
    int counts[LTV_R__COUNT] = {0};
    for (int iter = 0; iter < 4000; iter++) {
        ltv_buf_reset(m);
        switch (iter % 4) {
        case 0: av_confluent_header(m, iter % 8 == 0 ? PURCHASE_ID : VISIT_ID); break;
        case 1: av_single_object_header(m, PURCHASE_FP); break;
        default: break; /* raw bytes: auto-detection decides */
        }
        size_t n = (size_t)(rnd() % 64);
        for (size_t k = 0; k < n; k++)
            ltv_buf_putc(m, (char)(unsigned char)rnd());
        ltv_ev_kind_t kind = (iter & 1) ? LTV_EV_VISIT : LTV_EV_PURCHASE;
        ltv_event_t ev;
        errstr[0] = '\0';
        ltv_reason_t r = ltv_decode(f->dec, kind, m->p, m->n, &ev, &f->arena, errstr,
                                    sizeof(errstr));
        assert_true((int)r >= 0 && r < LTV_R__COUNT);
        counts[r]++;
        if ((iter & 63) == 63)
            ltv_arena_reset(&f->arena);
    }
    /* Mutations of a valid record reach deeper into the decoder. */
    encode_with(&f->buf, valid_purchase(), LTV_FRAMING_CONFLUENT, PURCHASE_ID, NULL);
    for (int iter = 0; iter < 4000; iter++) {
        ltv_buf_reset(m);
        ltv_buf_append(m, f->buf.p, f->buf.n);
        int flips = 1 + (int)(rnd() % 3);
        for (int k = 0; k < flips; k++) {
            size_t at = 5 + (size_t)(rnd() % (m->n - 5));
            m->p[at] = (char)(unsigned char)rnd();
        }
        size_t n = m->n - (size_t)(rnd() % 4);
        ltv_event_t ev;
        ltv_reason_t r = ltv_decode(f->dec, LTV_EV_PURCHASE, m->p, n, &ev, &f->arena, errstr,
                                    sizeof(errstr));
        assert_true((int)r >= 0 && r < LTV_R__COUNT);
        counts[r]++;
        if ((iter & 63) == 63)
            ltv_arena_reset(&f->arena);
    }
    /* The loops reached the decoder proper, not only the header checks. */
    assert_true(counts[LTV_R_AVRO_DECODE] > 100);
}

/* ---- ltv_event_validate -------------------------------------------------------------- */

#define NOW INT64_C(1714575600000)
#define SKEW INT64_C(86400000)

static ltv_reason_t validate(const ltv_event_t *ev, int64_t now, int64_t skew) {
    char errstr[256] = "";
    ltv_reason_t r = ltv_event_validate(ev, now, skew, errstr, sizeof(errstr));
    if (r != LTV_OK)
        assert_true(errstr[0] != '\0');
    return r;
}

static void test_validate_purchase(void **state) {
    (void)state;
    const ltv_event_t ok =
        make_purchase("e", "c", "o", LTV_PT_ORDER, NOW - 1000, 100, "JPY", NULL, NULL);
    assert_int_equal(validate(&ok, NOW, SKEW), LTV_OK);

    ltv_event_t ev = ok;
    ev.customer_id = LTV_STR_NULL;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);
    ev.customer_id = ltv_str_c("");
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);

    ev = ok;
    ev.order_id = LTV_STR_NULL;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_ORDER_ID);
    ev.order_id = ltv_str_c("");
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_ORDER_ID);

    ev = ok;
    ev.amount = -1;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_NEGATIVE_AMOUNT);
    ev.ptype = LTV_PT_REFUND; /* a refund carries the refunded amount, positive */
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_NEGATIVE_AMOUNT);
    ev.amount = INT64_MIN;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_NEGATIVE_AMOUNT);
    ev.amount = 0;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_OK);

    /* A refund is de-duplicated by event_id, so it must have one; an order
     * or a cancel need not. */
    ev = ok;
    ev.ptype = LTV_PT_REFUND;
    ev.event_id = ltv_str_c("");
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_EVENT_ID);
    ev.event_id = LTV_STR_NULL;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_EVENT_ID);
    ev.ptype = LTV_PT_CANCEL;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_OK);
}

static void test_validate_timestamps(void **state) {
    (void)state;
    ltv_event_t ev = make_purchase("e", "c", "o", LTV_PT_ORDER, 0, 100, "JPY", NULL, NULL);
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_BAD_TIMESTAMP);
    ev.ts = -1;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_BAD_TIMESTAMP);
    ev.ts = INT64_MIN;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_BAD_TIMESTAMP);
    ev.ts = 1; /* 1970-01-01T00:00:00.001Z is old, not invalid */
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_OK);

    ev.ts = NOW + SKEW; /* exactly the allowed skew ahead */
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_OK);
    ev.ts = NOW + SKEW + 1;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_FUTURE_TIMESTAMP);
    ev.ts = NOW + 1000; /* within skew */
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_OK);
    ev.ts = INT64_MAX;
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_FUTURE_TIMESTAMP);

    /* skew 0: any ts after now is in the future */
    ev.ts = NOW;
    assert_int_equal(validate(&ev, NOW, 0), LTV_OK);
    ev.ts = NOW + 1;
    assert_int_equal(validate(&ev, NOW, 0), LTV_R_FUTURE_TIMESTAMP);

    /* visits are checked the same way */
    ltv_event_t v = make_visit("v", NULL, "vis", NOW + SKEW + 1, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_R_FUTURE_TIMESTAMP);
    v.ts = 0;
    assert_int_equal(validate(&v, NOW, SKEW), LTV_R_BAD_TIMESTAMP);
}

static void test_validate_visit_ids(void **state) {
    (void)state;
    ltv_event_t v = make_visit("v", NULL, "vis-1", NOW, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_OK); /* anonymous */
    v = make_visit("v", "cust-1", NULL, NOW, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_OK);
    v = make_visit("v", NULL, NULL, NOW, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);
    v = make_visit("v", "", "", NOW, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);
    v = make_visit("v", NULL, "", NOW, "/", NULL, NULL);
    assert_int_equal(validate(&v, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);
    /* visits have no order id or amount to check */
    v = make_visit("v", "cust-1", "vis-1", NOW, "/", NULL, NULL);
    v.amount = -5;
    assert_int_equal(validate(&v, NOW, SKEW), LTV_OK);
}

/* A decoded-then-validated pipeline: a valid message with a customer id of
 * "" decodes fine and is refused by validation. */
static void test_decode_then_validate_empty_customer(void **state) {
    dfx_t *f = *state;
    char errstr[256] = "";
    ltv_event_t in = *valid_purchase();
    in.customer_id = ltv_str_c("");
    encode_with(&f->buf, &in, LTV_FRAMING_CONFLUENT, PURCHASE_ID, NULL);
    ltv_event_t ev;
    assert_reason(
        ltv_decode(f->dec, LTV_EV_PURCHASE, f->buf.p, f->buf.n, &ev, &f->arena, errstr,
                   sizeof(errstr)),
        LTV_OK);
    assert_int_equal(validate(&ev, NOW, SKEW), LTV_R_MISSING_CUSTOMER_ID);
}

/* ---- reason names ---------------------------------------------------------------------- */

static void test_reason_names_are_stable(void **state) {
    (void)state;
    /* These strings are an interface: DLQ header ltv.reason and the
     * metric label. Changing one breaks dashboards and DLQ consumers. */
    const struct {
        ltv_reason_t r;
        const char *name;
    } want[] = {
        {LTV_OK, "ok"},
        {LTV_R_TRUNCATED, "truncated"},
        {LTV_R_BAD_MAGIC, "bad_magic"},
        {LTV_R_UNKNOWN_SCHEMA_ID, "unknown_schema_id"},
        {LTV_R_UNKNOWN_FINGERPRINT, "unknown_fingerprint"},
        {LTV_R_INCOMPATIBLE_SCHEMA, "incompatible_schema"},
        {LTV_R_AVRO_DECODE, "avro_decode"},
        {LTV_R_MISSING_CUSTOMER_ID, "missing_customer_id"},
        {LTV_R_MISSING_ORDER_ID, "missing_order_id"},
        {LTV_R_MISSING_EVENT_ID, "missing_event_id"},
        {LTV_R_NEGATIVE_AMOUNT, "negative_amount"},
        {LTV_R_FUTURE_TIMESTAMP, "future_timestamp"},
        {LTV_R_BAD_TIMESTAMP, "bad_timestamp"},
    };
    assert_int_equal(sizeof(want) / sizeof(want[0]), LTV_R__COUNT);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        assert_string_equal(ltv_reason_name(want[i].r), want[i].name);
    assert_string_equal(ltv_reason_name(LTV_R__COUNT), "unknown");
    assert_string_equal(ltv_reason_name((ltv_reason_t)-1), "unknown");
    assert_string_equal(ltv_reason_name((ltv_reason_t)1000), "unknown");
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_message_is_truncated),
        T(test_short_confluent_header_is_truncated),
        T(test_short_single_object_header_is_truncated),
        T(test_header_only_messages_are_truncated),
        T(test_unknown_schema_id),
        T(test_unknown_fingerprint),
        T(test_forced_framing_rejects_other_magic),
        T(test_unknown_event_kind_is_rejected),
        T(test_body_truncated_at_every_length),
        T(test_trailing_garbage_after_valid_record),
        T(test_huge_and_invalid_string_lengths),
        T(test_enum_index_out_of_range_is_refused),
        T(test_union_branch_out_of_range_is_refused),
        T(test_random_bytes_never_crash),
        cmocka_unit_test(test_validate_purchase),
        cmocka_unit_test(test_validate_timestamps),
        cmocka_unit_test(test_validate_visit_ids),
        T(test_decode_then_validate_empty_customer),
        cmocka_unit_test(test_reason_names_are_stable),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
