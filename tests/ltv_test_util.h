/*
 * Small helpers shared by the decode unit tests (header only, included by
 * test_decode_*.c): temporary schema directories, string-slice assertions,
 * an independent Avro binary writer (zig-zag varints written here, not by
 * Avro-C or tools/encode.c) and a decoder fixture.
 */
#ifndef LTV_TEST_UTIL_H
#define LTV_TEST_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"
#include "decode.h"
#include "encode.h"
#include "event.h"
#include "schema_store.h"
#include "util.h"

/* ---- temporary directory ------------------------------------------------ */

typedef struct tdir_s {
    char path[64];
    char *files[64];
    int nfiles;
} tdir_t;

static inline void tdir_init(tdir_t *t) {
    memset(t, 0, sizeof(*t));
    snprintf(t->path, sizeof(t->path), "/tmp/ltv_unit_XXXXXX");
    if (!mkdtemp(t->path))
        fail_msg("mkdtemp failed");
}

/* Writes name (relative to the directory) and returns its full path, which
 * stays valid until tdir_cleanup. */
static inline const char *tdir_write(tdir_t *t, const char *name, const char *text) {
    assert_true(t->nfiles < 64);
    size_t n = strlen(t->path) + strlen(name) + 2;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%s/%s", t->path, name);
    FILE *fp = fopen(p, "wb");
    if (!fp)
        fail_msg("cannot write %s", p);
    fputs(text, fp);
    fclose(fp);
    t->files[t->nfiles++] = p;
    return p;
}

static inline void tdir_cleanup(tdir_t *t) {
    for (int i = 0; i < t->nfiles; i++) {
        unlink(t->files[i]);
        free(t->files[i]);
    }
    t->nfiles = 0;
    if (t->path[0])
        rmdir(t->path);
}

static inline char *slurp_file(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    ltv_buf_t b;
    ltv_buf_init(&b);
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        ltv_buf_append(&b, tmp, r);
    fclose(fp);
    if (!b.p)
        ltv_buf_append(&b, "", 0);
    return b.p; /* caller frees */
}

/* ---- assertions --------------------------------------------------------- */

/* want == NULL: the field must be absent (p == NULL); otherwise present
 * with exactly these bytes (an empty string is present, not absent). */
static inline void check_str(const char *what, ltv_str_t got, const char *want) {
    if (!want) {
        if (got.p)
            fail_msg("%s: expected absent (NULL), got \"%.*s\"", what, (int)got.n, got.p);
        return;
    }
    if (!got.p)
        fail_msg("%s: expected \"%s\", got absent (NULL)", what, want);
    if (got.n != strlen(want) || memcmp(got.p, want, got.n) != 0)
        fail_msg("%s: expected \"%s\", got \"%.*s\"", what, want, (int)got.n, got.p);
}

static inline const char *reason_str(ltv_reason_t r) { return ltv_reason_name(r); }

#define assert_reason(got, want)                                                                  \
    do {                                                                                          \
        ltv_reason_t got_r_ = (got), want_r_ = (want);                                            \
        if (got_r_ != want_r_)                                                                    \
            fail_msg("reason %s (%d), want %s (%d); errstr: %s", reason_str(got_r_), (int)got_r_, \
                     reason_str(want_r_), (int)want_r_, errstr);                                  \
    } while (0)

/* ---- independent Avro binary writer ---------------------------------------
 * Avro spec: int and long are zig-zag encoded, then written as a base-128
 * varint, low-order group first; strings are a long length then UTF-8
 * bytes; a union is the long branch index then the value; an enum is the
 * long symbol index; null is zero bytes. */

static inline void av_long(ltv_buf_t *b, int64_t v) {
    uint64_t z = ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
    while (z >= 0x80) {
        ltv_buf_putc(b, (char)(unsigned char)((z & 0x7f) | 0x80));
        z >>= 7;
    }
    ltv_buf_putc(b, (char)(unsigned char)z);
}

static inline void av_str(ltv_buf_t *b, const char *s) {
    av_long(b, (int64_t)strlen(s));
    ltv_buf_puts(b, s);
}

/* ["null","string"]: NULL -> branch 0, otherwise branch 1 + string. */
static inline void av_opt_str(ltv_buf_t *b, const char *s) {
    if (!s) {
        av_long(b, 0);
    } else {
        av_long(b, 1);
        av_str(b, s);
    }
}

static inline void av_confluent_header(ltv_buf_t *b, uint32_t id) {
    unsigned char h[5] = {0x00, (unsigned char)(id >> 24), (unsigned char)(id >> 16),
                          (unsigned char)(id >> 8), (unsigned char)id};
    ltv_buf_append(b, h, 5);
}

static inline void av_single_object_header(ltv_buf_t *b, uint64_t fp) {
    unsigned char h[10] = {0xC3, 0x01};
    for (int k = 0; k < 8; k++)
        h[2 + k] = (unsigned char)(fp >> (8 * k));
    ltv_buf_append(b, h, 10);
}

/* A purchase in our reader schema's field order. */
static inline void av_purchase(ltv_buf_t *b, const char *event_id, const char *customer_id,
                               const char *order_id, int64_t type_index, int64_t ts,
                               int64_t amount, const char *currency, const char *channel,
                               const char *campaign) {
    av_str(b, event_id);
    av_str(b, customer_id);
    av_str(b, order_id);
    av_long(b, type_index);
    av_long(b, ts);
    av_long(b, amount);
    av_str(b, currency);
    av_opt_str(b, channel);
    av_opt_str(b, campaign);
}

/* ---- event construction --------------------------------------------------- */

static inline ltv_str_t opt(const char *s) { return s ? ltv_str_c(s) : LTV_STR_NULL; }

static inline ltv_event_t make_purchase(const char *event_id, const char *customer_id,
                                        const char *order_id, ltv_ptype_t type, int64_t ts,
                                        int64_t amount, const char *currency, const char *channel,
                                        const char *campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_PURCHASE;
    ev.event_id = opt(event_id);
    ev.customer_id = opt(customer_id);
    ev.order_id = opt(order_id);
    ev.ptype = type;
    ev.ts = ts;
    ev.amount = amount;
    ev.currency = opt(currency);
    ev.channel = opt(channel);
    ev.campaign = opt(campaign);
    return ev;
}

static inline ltv_event_t make_visit(const char *event_id, const char *customer_id,
                                     const char *visitor_id, int64_t ts, const char *page,
                                     const char *utm_source, const char *utm_campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_VISIT;
    ev.event_id = opt(event_id);
    ev.customer_id = opt(customer_id);
    ev.visitor_id = opt(visitor_id);
    ev.ts = ts;
    ev.page = opt(page);
    ev.channel = opt(utm_source);
    ev.campaign = opt(utm_campaign);
    return ev;
}

/* Every field of a decoded event against what was sent. */
static inline void check_event(const ltv_event_t *got, const ltv_event_t *want) {
    assert_int_equal(got->kind, want->kind);
    check_str("event_id", got->event_id, want->event_id.p);
    check_str("customer_id", got->customer_id, want->customer_id.p);
    assert_int_equal(got->ts, want->ts);
    check_str("channel/utm_source", got->channel, want->channel.p);
    check_str("campaign/utm_campaign", got->campaign, want->campaign.p);
    if (want->kind == LTV_EV_PURCHASE) {
        check_str("order_id", got->order_id, want->order_id.p);
        assert_int_equal(got->ptype, want->ptype);
        assert_int_equal(got->amount, want->amount);
        check_str("currency", got->currency, want->currency.p);
        check_str("visitor_id (purchase)", got->visitor_id, NULL);
        check_str("page (purchase)", got->page, NULL);
    } else {
        check_str("visitor_id", got->visitor_id, want->visitor_id.p);
        check_str("page", got->page, want->page.p);
        check_str("order_id (visit)", got->order_id, NULL);
        check_str("currency (visit)", got->currency, NULL);
    }
}

/* ---- decoder fixture -------------------------------------------------------- */

typedef struct dfx_s {
    tdir_t dir;
    ltv_conf_t *conf;
    ltv_schemas_t *schemas;
    ltv_decoder_t *dec;
    ltv_arena_t arena;
    ltv_buf_t buf, buf2; /* scratch, owned by the fixture so a failing test leaks nothing */
} dfx_t;

/* Sets conf keys given as "key=value" strings, then builds the store (from
 * schema.dir, if set) and the decoder. */
static inline void dfx_open(dfx_t *f, const char *const *pairs) {
    char err[512] = "";
    f->conf = ltv_conf_new();
    for (int i = 0; pairs && pairs[i]; i++)
        if (ltv_conf_set_pair(f->conf, pairs[i], err, sizeof(err)) != LTV_CONF_OK)
            fail_msg("conf %s: %s", pairs[i], err);
    f->schemas = ltv_schemas_new(f->conf->schema_dir, err, sizeof(err));
    if (!f->schemas)
        fail_msg("ltv_schemas_new: %s", err);
    f->dec = ltv_decoder_new(f->conf, f->schemas, err, sizeof(err));
    if (!f->dec)
        fail_msg("ltv_decoder_new: %s", err);
    ltv_arena_init(&f->arena, 0);
    ltv_buf_init(&f->buf);
    ltv_buf_init(&f->buf2);
}

static inline void dfx_close(dfx_t *f) {
    ltv_decoder_destroy(f->dec);
    ltv_schemas_destroy(f->schemas);
    ltv_conf_destroy(f->conf);
    ltv_arena_free(&f->arena);
    ltv_buf_free(&f->buf);
    ltv_buf_free(&f->buf2);
    f->dec = NULL;
    f->schemas = NULL;
    f->conf = NULL;
}

/* Encodes ev with a fresh encoder (writer_json NULL: our schema). */
static inline void encode_with(ltv_buf_t *out, const ltv_event_t *ev, ltv_framing_t framing,
                               int32_t schema_id, const char *writer_json) {
    char err[512] = "";
    ltv_encoder_t *enc = ltv_encoder_new(ev->kind, framing, schema_id, writer_json, err,
                                         sizeof(err));
    if (!enc)
        fail_msg("ltv_encoder_new: %s", err);
    if (ltv_encode(enc, ev, out) != 0)
        fail_msg("ltv_encode failed");
    ltv_encoder_destroy(enc);
}

#endif
