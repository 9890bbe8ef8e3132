/*
 * Writes the decoder's seed corpus (tests/fuzz/corpus/decode/) with the
 * project's own encoder (tools/encode.c): valid messages in each framing,
 * with our schemas and the evolved ones of fuzz_schemas.h, plus a few
 * malformed ones made from them by hand. The files are committed; run this
 * again only when the schemas or the encoder change:
 *
 *   build/tests/fuzz/fuzz_gen_corpus tests/fuzz/corpus/decode
 *
 * File names say what a seed is: <kind>-<schema>-<framing>[-<variant>].
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <avro.h>

#include "conf.h"
#include "decode.h"
#include "encode.h"
#include "event.h"
#include "fuzz_schemas.h"
#include "util.h"

#define TS INT64_C(1714575599999)

static const char *outdir;

static void put(const char *name, const void *p, size_t n) {
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", outdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(p, 1, n, fp) != n) || fclose(fp)) {
        fprintf(stderr, "gen_corpus: cannot write %s\n", path);
        exit(1);
    }
}

static const char *schema_json(int id) {
    for (int i = 0; i < FZ_NSCHEMAS; i++)
        if (fz_schemas[i].id == id)
            return fz_schemas[i].json;
    fprintf(stderr, "gen_corpus: no schema %d\n", id);
    exit(1);
}

/* Encodes ev with writer schema `id` (its Confluent id) in `framing`. */
static void enc(ltv_buf_t *out, const ltv_event_t *ev, int id, ltv_framing_t framing) {
    char err[512];
    ltv_encoder_t *e = ltv_encoder_new(ev->kind, framing, id, schema_json(id), err, sizeof(err));
    if (!e || ltv_encode(e, ev, out)) {
        fprintf(stderr, "gen_corpus: encoding with schema %d: %s\n", id,
                e ? avro_strerror() : err);
        exit(1);
    }
    ltv_encoder_destroy(e);
}

static void seed(const char *name, const ltv_event_t *ev, int id, ltv_framing_t framing) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    enc(&b, ev, id, framing);
    put(name, b.p, b.n);
    ltv_buf_free(&b);
}

static ltv_event_t purchase(const char *event_id, const char *cust, const char *order,
                            ltv_ptype_t type, int64_t ts, int64_t amount, const char *channel,
                            const char *campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_PURCHASE;
    ev.ptype = type;
    ev.ts = ts;
    ev.amount = amount;
    ev.event_id = ltv_str_c(event_id);
    ev.customer_id = ltv_str_c(cust);
    ev.order_id = ltv_str_c(order);
    ev.currency = ltv_str_c("JPY");
    ev.channel = ltv_str_c(channel);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

static ltv_event_t visit(const char *event_id, const char *cust, const char *visitor, int64_t ts,
                         const char *page, const char *src, const char *campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_VISIT;
    ev.ts = ts;
    ev.event_id = ltv_str_c(event_id);
    ev.customer_id = ltv_str_c(cust);
    ev.visitor_id = ltv_str_c(visitor);
    ev.page = ltv_str_c(page);
    ev.channel = ltv_str_c(src);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    outdir = argv[1];
    static const struct {
        ltv_framing_t f;
        const char *name;
    } fr[] = {{LTV_FRAMING_CONFLUENT, "confluent"},
              {LTV_FRAMING_SINGLE_OBJECT, "single-object"},
              {LTV_FRAMING_PLAIN, "plain"}};
    ltv_event_t p[3] = {
        purchase("evt-1", "cust-42", "ord-9", LTV_PT_ORDER, TS, 129800, "google", NULL),
        purchase("evt-2", "cust-42", "ord-9", LTV_PT_REFUND, TS + 1, 5000, NULL, "spring"),
        purchase("e", "c\xc3\xa9", "o", LTV_PT_CANCEL, 1, 0, "", ""),
    };
    ltv_event_t v[2] = {
        visit("v-1", NULL, "vis-7", TS, "/p/1", "newsletter", NULL),
        visit("v-2", "cust-42", "vis-7", TS + 5, "/c?q=\xe6\x98\xa5", "", "summer"),
    };
    char name[128];
    for (size_t f = 0; f < sizeof(fr) / sizeof(fr[0]); f++) {
        for (int i = 0; i < 3; i++) {
            snprintf(name, sizeof(name), "purchase-ours-%s-%d", fr[f].name, i);
            seed(name, &p[i], FZ_ID_PURCHASE, fr[f].f);
        }
        for (int i = 0; i < 2; i++) {
            snprintf(name, sizeof(name), "visit-ours-%s-%d", fr[f].name, i);
            seed(name, &v[i], FZ_ID_VISIT, fr[f].f);
        }
        /* plain: read by the fuzzer's decoder whose plain writers are these */
        snprintf(name, sizeof(name), "purchase-wide-%s", fr[f].name);
        seed(name, &p[0], FZ_ID_PURCHASE_WIDE, fr[f].f);
        snprintf(name, sizeof(name), "visit-wide-%s", fr[f].name);
        seed(name, &v[1], FZ_ID_VISIT_WIDE, fr[f].f);
    }
    seed("purchase-old-confluent", &p[0], FZ_ID_PURCHASE_OLD, LTV_FRAMING_CONFLUENT);
    seed("purchase-old-single-object", &p[1], FZ_ID_PURCHASE_OLD, LTV_FRAMING_SINGLE_OBJECT);
    seed("purchase-enum-confluent-0", &p[1], FZ_ID_PURCHASE_ENUM, LTV_FRAMING_CONFLUENT);
    seed("purchase-enum-confluent-1", &p[2], FZ_ID_PURCHASE_ENUM, LTV_FRAMING_CONFLUENT);
    seed("purchase-bad-confluent", &p[0], FZ_ID_PURCHASE_BAD, LTV_FRAMING_CONFLUENT);
    seed("visit-nopage-confluent", &v[0], FZ_ID_VISIT_NO_PAGE, LTV_FRAMING_CONFLUENT);

    /* ---- malformed, by hand -------------------------------------------- */
    ltv_buf_t b;
    ltv_buf_init(&b);
    enc(&b, &p[0], FZ_ID_PURCHASE, LTV_FRAMING_CONFLUENT);
    put("bad-empty", "", 0);
    put("bad-confluent-magic-only", "\x00", 1);
    put("bad-confluent-header-only", b.p, 5);
    put("bad-confluent-truncated", b.p, b.n / 2);
    b.p[4] = 0x63; /* id 99: unknown */
    put("bad-confluent-unknown-id", b.p, b.n);
    b.p[1] = (char)0xff; /* id -157: negative */
    put("bad-confluent-negative-id", b.p, b.n);
    put("bad-confluent-not-record", "\x00\x00\x00\x00\x07\x06" "abc", 9);
    enc(&b, &p[0], FZ_ID_PURCHASE, LTV_FRAMING_CONFLUENT);
    ltv_buf_append(&b, "\x00", 1);
    put("bad-confluent-trailing-byte", b.p, b.n);
    /* event_id length: 2^63-ish (a 10-byte varint), then -1 */
    put("bad-confluent-huge-length",
        "\x00\x00\x00\x00\x01\xfe\xff\xff\xff\xff\xff\xff\xff\xff\x01", 15);
    put("bad-confluent-negative-length", "\x00\x00\x00\x00\x01\x01", 6);
    put("bad-confluent-long-varint",
        "\x00\x00\x00\x00\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x01", 16);

    enc(&b, &v[0], FZ_ID_VISIT, LTV_FRAMING_SINGLE_OBJECT);
    put("bad-single-object-header-only", b.p, 10);
    put("bad-single-object-short-header", b.p, 6);
    put("bad-single-object-truncated", b.p, b.n - 1);
    b.p[2] ^= 1; /* fingerprint: unknown */
    put("bad-single-object-unknown-fingerprint", b.p, b.n);

    enc(&b, &v[0], FZ_ID_VISIT, LTV_FRAMING_PLAIN);
    /* customer_id is the first union: branch 5 does not exist */
    size_t off = 1 + (size_t)(unsigned char)b.p[0] / 2;
    b.p[off] = 0x0a;
    put("bad-plain-union-branch", b.p, b.n);
    enc(&b, &p[0], FZ_ID_PURCHASE, LTV_FRAMING_PLAIN);
    put("bad-plain-truncated", b.p, b.n - 3);
    ltv_buf_free(&b);
    return 0;
}
