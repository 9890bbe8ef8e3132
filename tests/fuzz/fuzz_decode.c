/*
 * libFuzzer target for the decoder: an input is one Kafka message value,
 * exactly the bytes the stage hands to ltv_decode (so any captured message
 * can be dropped into the corpus as it is).
 *
 * Each input goes through ltv_decode as a purchase and as a visit, with
 * decoders configured for each input.framing (auto, confluent,
 * single-object, plain) and one whose plain writer schemas are evolved
 * ones, against a schema.dir holding the schemas of fuzz_schemas.h: so the
 * three framings, fingerprint and id lookups, the direct path (our schema),
 * the projected Avro-C path (evolved writers) and the incompatible-writer
 * path are all reachable from the bytes.
 *
 * Besides what ASan and UBSan catch, it checks what the rest of the stage
 * relies on:
 *   - a failure has a known reason and an error message;
 *   - a decoded string is NUL-terminated in the arena (every byte of it is
 *     read, so a string that points outside its allocation is caught);
 *   - auto-detection agrees with the decoder forced to the framing it
 *     detected, reason and decoded event alike.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "decode.h"
#include "fuzz_schemas.h"
#include "schema_store.h"
#include "util.h"

enum { D_AUTO, D_CONFLUENT, D_SINGLE, D_PLAIN, D_PLAIN_WIDE, D__N };

static struct {
    ltv_conf_t *conf;
    ltv_schemas_t *schemas;
    ltv_decoder_t *dec;
} g[D__N];
static ltv_arena_t arena;
static int verbose; /* LTV_FUZZ_VERBOSE=1: print every outcome (to see what a seed reaches) */

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_decode: check failed at %s:%d: %s\n", __FILE__, __LINE__,      \
                    #cond);                                                                       \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static void die(const char *what, const char *err) {
    fprintf(stderr, "fuzz_decode: %s: %s\n", what, err);
    exit(1);
}

static void set(ltv_conf_t *conf, const char *key, const char *value) {
    char err[512];
    if (ltv_conf_set(conf, key, value, err, sizeof(err)) != LTV_CONF_OK)
        die(key, err);
}

static void cleanup(void) {
    for (int i = 0; i < D__N; i++) {
        ltv_decoder_destroy(g[i].dec);
        ltv_schemas_destroy(g[i].schemas);
        ltv_conf_destroy(g[i].conf);
    }
    ltv_arena_free(&arena);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    /* The schema files are read when the store and decoders are built and
     * not after, so the directory is gone before the first input. */
    char dir[] = "/tmp/ltv_fuzz_XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp", "failed");
    char path[FZ_NSCHEMAS][64];
    for (int i = 0; i < FZ_NSCHEMAS; i++) {
        const char *json = fz_schemas[i].json;
        if (!json)
            json = ltv_reader_schema_json(fz_schemas[i].id == FZ_ID_VISIT ? LTV_EV_VISIT
                                                                          : LTV_EV_PURCHASE);
        snprintf(path[i], sizeof(path[i]), "%s/%d.avsc", dir, fz_schemas[i].id);
        FILE *fp = fopen(path[i], "w");
        if (!fp || fputs(json, fp) < 0 || fclose(fp))
            die(path[i], "cannot write");
    }
    static const char *const framing[D__N] = {"auto", "confluent", "single-object", "plain",
                                              "plain"};
    char err[512];
    for (int i = 0; i < D__N; i++) {
        g[i].conf = ltv_conf_new();
        set(g[i].conf, "schema.dir", dir);
        set(g[i].conf, "input.framing", framing[i]);
        if (i == D_PLAIN_WIDE) {
            char p[64], v[64];
            snprintf(p, sizeof(p), "%s/%d.avsc", dir, FZ_ID_PURCHASE_WIDE);
            snprintf(v, sizeof(v), "%s/%d.avsc", dir, FZ_ID_VISIT_WIDE);
            set(g[i].conf, "input.plain.purchase.schema", p);
            set(g[i].conf, "input.plain.visit.schema", v);
        }
        g[i].schemas = ltv_schemas_new(dir, err, sizeof(err));
        if (!g[i].schemas)
            die("ltv_schemas_new", err);
        g[i].dec = ltv_decoder_new(g[i].conf, g[i].schemas, err, sizeof(err));
        if (!g[i].dec)
            die("ltv_decoder_new", err);
    }
    for (int i = 0; i < FZ_NSCHEMAS; i++)
        unlink(path[i]);
    rmdir(dir);
    /* One chunk per string, so a read past a decoded string's end is a
     * read past its allocation, which ASan sees. */
    ltv_arena_init(&arena, 1);
    verbose = getenv("LTV_FUZZ_VERBOSE") != NULL;
    atexit(cleanup);
    return 0;
}

static unsigned touch(ltv_str_t s) {
    unsigned h = 0;
    if (!s.p)
        return 0;
    for (size_t i = 0; i < s.n; i++)
        h = h * 31 + (unsigned char)s.p[i];
    CHECK(s.p[s.n] == '\0');
    return h;
}

static int str_same(ltv_str_t a, ltv_str_t b) {
    return (!a.p && !b.p) || (a.p && b.p && ltv_str_eq(a, b));
}

static int same_event(const ltv_event_t *a, const ltv_event_t *b) {
    return a->kind == b->kind && a->ptype == b->ptype && a->ts == b->ts &&
           a->amount == b->amount && str_same(a->event_id, b->event_id) &&
           str_same(a->customer_id, b->customer_id) && str_same(a->order_id, b->order_id) &&
           str_same(a->currency, b->currency) && str_same(a->channel, b->channel) &&
           str_same(a->campaign, b->campaign) && str_same(a->visitor_id, b->visitor_id) &&
           str_same(a->page, b->page);
}

static volatile unsigned sink;

static ltv_reason_t decode_one(int di, ltv_ev_kind_t kind, const uint8_t *data, size_t size,
                               ltv_event_t *ev) {
    char err[512];
    err[0] = '\0';
    ltv_reason_t r = ltv_decode(g[di].dec, kind, data, size, ev, &arena, err, sizeof(err));
    CHECK(r >= LTV_OK && r < LTV_R__COUNT);
    CHECK(strcmp(ltv_reason_name(r), "unknown") != 0);
    if (verbose) {
        static const char *const dn[D__N] = {"auto", "confluent", "single-object", "plain",
                                             "plain-wide"};
        fprintf(stderr, "  %-8s %-13s %-20s %s\n", kind == LTV_EV_PURCHASE ? "purchase" : "visit",
                dn[di], ltv_reason_name(r), r ? err : "");
    }
    if (r != LTV_OK) {
        CHECK(err[0] != '\0');
        CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        return r;
    }
    CHECK(ev->kind == kind);
    CHECK(kind != LTV_EV_PURCHASE || (ev->ptype >= LTV_PT_ORDER && ev->ptype <= LTV_PT_REFUND));
    sink += touch(ev->event_id) + touch(ev->customer_id) + touch(ev->order_id) +
            touch(ev->currency) + touch(ev->channel) + touch(ev->campaign) +
            touch(ev->visitor_id) + touch(ev->page);
    /* What the stage does next with a decoded event. */
    err[0] = '\0';
    ltv_reason_t v = ltv_event_validate(ev, INT64_C(1714575599999), INT64_C(86400000), err,
                                        sizeof(err));
    CHECK(v == LTV_OK || err[0] != '\0');
    return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const ltv_ev_kind_t kinds[2] = {LTV_EV_PURCHASE, LTV_EV_VISIT};
    /* the decoder auto-detection should agree with */
    int forced = size >= 1 && data[0] == 0x00                     ? D_CONFLUENT
                 : size >= 2 && data[0] == 0xC3 && data[1] == 0x01 ? D_SINGLE
                                                                   : D_PLAIN;
    for (int k = 0; k < 2; k++) {
        ltv_event_t ev[D__N];
        ltv_reason_t r[D__N];
        for (int di = 0; di < D__N; di++)
            r[di] = decode_one(di, kinds[k], data, size, &ev[di]);
        CHECK(r[D_AUTO] == r[forced]);
        CHECK(r[D_AUTO] != LTV_OK || same_event(&ev[D_AUTO], &ev[forced]));
    }
    ltv_arena_reset(&arena);
    return 0;
}
