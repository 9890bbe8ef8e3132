/*
 * The compiled bounds check (ltv_avro_plan_check_spans) against the schema
 * walk it replaces on the hot path (ltv_avro_check): same verdict, same
 * error text and byte position, on valid records and on hundreds of
 * thousands of corrupted ones; and field spans checked by hand on a
 * record encoded by hand from the Avro specification's binary encoding
 * (zig-zag varints, a union as its branch index then the value, a string
 * as its length then its bytes).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <avro.h>

#include "avro_check.h"
#include "decode.h"

/* Every type the plan compiles, and the two it leaves to the schema walk
 * (array, map, a nested record). */
static const char *const all_types =
    "{\"type\":\"record\",\"name\":\"T\",\"fields\":["
    "{\"name\":\"n\",\"type\":\"null\"},"
    "{\"name\":\"b\",\"type\":\"boolean\"},"
    "{\"name\":\"i\",\"type\":\"int\"},"
    "{\"name\":\"l\",\"type\":\"long\"},"
    "{\"name\":\"f\",\"type\":\"float\"},"
    "{\"name\":\"d\",\"type\":\"double\"},"
    "{\"name\":\"s\",\"type\":\"string\"},"
    "{\"name\":\"y\",\"type\":\"bytes\"},"
    "{\"name\":\"x\",\"type\":{\"type\":\"fixed\",\"name\":\"F\",\"size\":3}},"
    "{\"name\":\"e\",\"type\":{\"type\":\"enum\",\"name\":\"E\",\"symbols\":[\"A\",\"B\"]}},"
    "{\"name\":\"u\",\"type\":[\"null\",\"string\",\"long\"]},"
    "{\"name\":\"a\",\"type\":{\"type\":\"array\",\"items\":\"long\"}},"
    "{\"name\":\"m\",\"type\":{\"type\":\"map\",\"values\":\"string\"}},"
    "{\"name\":\"r\",\"type\":{\"type\":\"record\",\"name\":\"R\",\"fields\":["
    "{\"name\":\"q\",\"type\":[\"null\",\"int\"]}]}}"
    "]}";

/* One valid datum of all_types, by hand:
 *   n: nothing; b: true 01; i: -2 -> 03; l: 300 -> zig-zag 600 = ac 04;
 *   f: 4 bytes; d: 8 bytes; s: "hi" -> 04 'h' 'i'; y: empty -> 00;
 *   x: 3 bytes; e: B -> 02; u: branch 1 (string) "z" -> 02 02 'z';
 *   a: [1, 2] -> count 04, 02 04, end 00; m: {"k":"v"} -> 02 02 'k' 02 'v' 00;
 *   r: q branch 1 (int) 5 -> 02 0a. */
static const unsigned char datum[] = {
    0x01,                                           /* b     @0  */
    0x03,                                           /* i     @1  */
    0xac, 0x04,                                     /* l     @2  */
    0x00, 0x00, 0x80, 0x3f,                         /* f     @4  */
    0, 0, 0, 0, 0, 0, 0xf0, 0x3f,                   /* d     @8  */
    0x04, 'h', 'i',                                 /* s     @16 */
    0x00,                                           /* y     @19 */
    'a', 'b', 'c',                                  /* x     @20 */
    0x02,                                           /* e     @23 */
    0x02, 0x02, 'z',                                /* u     @24 (value @25) */
    0x04, 0x02, 0x04, 0x00,                         /* a     @27 */
    0x02, 0x02, 'k', 0x02, 'v', 0x00,               /* m     @31 */
    0x02, 0x0a,                                     /* r     @37 */
};                                                  /* 39 bytes */

static avro_schema_t parse(const char *json) {
    avro_schema_t s = NULL;
    assert_int_equal(avro_schema_from_json_length(json, strlen(json), &s), 0);
    return s;
}

static void spans_by_hand(void **state) {
    (void)state;
    avro_schema_t s = parse(all_types);
    ltv_avro_plan_t *pl = ltv_avro_plan_new(s);
    ltv_avro_span_t sp[14];
    char err[200] = "";
    assert_int_equal(ltv_avro_plan_check_spans(pl, datum, sizeof(datum), sp, 14, err, sizeof(err)),
                     0);
    static const uint32_t off[14] = {0, 0, 1, 2, 4, 8, 16, 19, 20, 23, 25, 27, 31, 37};
    static const uint32_t end[14] = {0, 1, 2, 4, 8, 16, 19, 20, 23, 24, 27, 31, 37, 39};
    for (int i = 0; i < 14; i++) {
        assert_int_equal(sp[i].off, off[i]);
        assert_int_equal(sp[i].end, end[i]);
        assert_int_equal(sp[i].branch, i == 10 ? 1 : -1);
    }
    /* Fewer spans asked for: the rest of the record is still checked. */
    assert_int_equal(ltv_avro_plan_check_spans(pl, datum, sizeof(datum) - 1, sp, 3, err,
                                               sizeof(err)),
                     -1);
    assert_string_equal(err, "truncated varint at byte 38");
    ltv_avro_plan_destroy(pl);
    avro_schema_decref(s);
}

static void compare_on_mutations(avro_schema_t s, const unsigned char *good, size_t n, int rounds,
                                 int *rejected);

/* Errors worked out by hand from the encoding, independent of the schema
 * walk (which shares the primitive checks with the plan). */
static void errors_by_hand(void **state) {
    (void)state;
    avro_schema_t s = parse(all_types);
    ltv_avro_plan_t *pl = ltv_avro_plan_new(s);
    static const struct {
        int at;            /* byte of datum replaced */
        unsigned char by;
        const char *err;
    } cases[] = {
        {0, 0x02, "bad boolean at byte 0"},
        /* s's length -1 (zig-zag 0x01) */
        {16, 0x01, "negative length at byte 17"},
        /* s's length 50 (zig-zag 100, 0x64): more than is left */
        {16, 0x64, "length exceeds the data at byte 17"},
        /* e = 2 (0x04): the enum has two symbols */
        {23, 0x04, "enum index out of range at byte 24"},
        /* u's branch 3 (0x06): the union has three */
        {24, 0x06, "union branch out of range at byte 25"},
        /* r.q's branch 2 (0x04): ["null","int"] */
        {37, 0x04, "union branch out of range at byte 38"},
    };
    unsigned char buf[sizeof(datum)];
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        memcpy(buf, datum, sizeof(buf));
        buf[cases[k].at] = cases[k].by;
        char err[200] = "";
        ltv_avro_span_t sp[14];
        assert_int_equal(ltv_avro_plan_check_spans(pl, buf, sizeof(buf), sp, 14, err, sizeof(err)),
                         -1);
        assert_string_equal(err, cases[k].err);
    }
    /* i: 2^31 does not fit an int (zig-zag 2^32: 80 80 80 80 10). */
    unsigned char big[sizeof(datum) + 4];
    memcpy(big, datum, 1);
    memcpy(big + 1, "\x80\x80\x80\x80\x10", 5);
    memcpy(big + 6, datum + 2, sizeof(datum) - 2);
    char err[200] = "";
    assert_int_equal(ltv_avro_plan_check_spans(pl, big, sizeof(big), NULL, 0, err, sizeof(err)),
                     -1);
    assert_string_equal(err, "int out of range at byte 6");
    /* A datum one byte longer than the record. */
    unsigned char longer[sizeof(datum) + 1];
    memcpy(longer, datum, sizeof(datum));
    longer[sizeof(datum)] = 0;
    assert_int_equal(
        ltv_avro_plan_check_spans(pl, longer, sizeof(longer), NULL, 0, err, sizeof(err)), -1);
    assert_string_equal(err, "trailing bytes after the record at byte 39");
    ltv_avro_plan_destroy(pl);
    avro_schema_decref(s);
}

/* Unions whose branches the plan leaves to the schema walk (a record, an
 * array) or compiles (an enum, a fixed). */
static void union_branches_by_hand(void **state) {
    (void)state;
    avro_schema_t s = parse(
        "{\"type\":\"record\",\"name\":\"U\",\"fields\":["
        "{\"name\":\"a\",\"type\":[\"null\",{\"type\":\"record\",\"name\":\"In\","
        "\"fields\":[{\"name\":\"x\",\"type\":\"long\"},{\"name\":\"y\",\"type\":\"string\"}]}]},"
        "{\"name\":\"b\",\"type\":[{\"type\":\"array\",\"items\":\"int\"},\"null\"]},"
        "{\"name\":\"c\",\"type\":[{\"type\":\"enum\",\"name\":\"C\",\"symbols\":[\"P\",\"Q\",\"R\"]},"
        "{\"type\":\"fixed\",\"name\":\"G\",\"size\":2}]}"
        "]}");
    ltv_avro_plan_t *pl = ltv_avro_plan_new(s);
    /* a: branch 1, {x: -1 -> 01, y: "ok" -> 04 'o' 'k'}   @0, value @1..5
     * b: branch 0, [7] -> 02 0e 00                          @5, value @6..9
     * c: branch 1 (fixed) 'z' 'z'                           @9, value @10..12 */
    static const unsigned char d[] = {0x02, 0x01, 0x04, 'o', 'k', 0x00, 0x02, 0x0e, 0x00,
                                      0x02, 'z',  'z'};
    ltv_avro_span_t sp[3];
    char err[200] = "";
    assert_int_equal(ltv_avro_plan_check_spans(pl, d, sizeof(d), sp, 3, err, sizeof(err)), 0);
    assert_int_equal(sp[0].off, 1);
    assert_int_equal(sp[0].end, 5);
    assert_int_equal(sp[0].branch, 1);
    assert_int_equal(sp[1].off, 6);
    assert_int_equal(sp[1].end, 9);
    assert_int_equal(sp[1].branch, 0);
    assert_int_equal(sp[2].off, 10);
    assert_int_equal(sp[2].end, 12);
    assert_int_equal(sp[2].branch, 1);
    /* Fewer spans than fields: the first ones are filled alike. */
    ltv_avro_span_t one[1];
    assert_int_equal(ltv_avro_plan_check_spans(pl, d, sizeof(d), one, 1, err, sizeof(err)), 0);
    assert_int_equal(one[0].off, 1);
    assert_int_equal(one[0].end, 5);
    /* a null, b [7], c as the enum (branch 0) with symbol 3 of 3. */
    static const unsigned char e[] = {0x00, 0x00, 0x02, 0x0e, 0x00, 0x00, 0x06};
    assert_int_equal(ltv_avro_plan_check_spans(pl, e, sizeof(e), sp, 3, err, sizeof(err)), -1);
    assert_string_equal(err, "enum index out of range at byte 7");
    int rejected = 0;
    compare_on_mutations(s, d, sizeof(d), 50000, &rejected);
    assert_true(rejected > 0);
    ltv_avro_plan_destroy(pl);
    avro_schema_decref(s);
}

static uint64_t rng = 88172645463325252ULL;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Corrupts a copy of `good` (bytes changed, inserted, removed, or the
 * tail cut) and compares the two checks on it. */
static void compare_on_mutations(avro_schema_t s, const unsigned char *good, size_t n, int rounds,
                                 int *rejected) {
    ltv_avro_plan_t *pl = ltv_avro_plan_new(s);
    unsigned char buf[256];
    for (int r = 0; r < rounds; r++) {
        size_t len = n;
        memcpy(buf, good, n);
        int edits = 1 + (int)(next() % 4);
        for (int e = 0; e < edits; e++) {
            size_t at = len ? (size_t)(next() % len) : 0;
            switch (next() % 4) {
            case 0:
                if (len)
                    buf[at] = (unsigned char)next();
                break;
            case 1:
                if (len < sizeof(buf)) {
                    memmove(buf + at + 1, buf + at, len - at);
                    buf[at] = (unsigned char)next();
                    len++;
                }
                break;
            case 2:
                if (len) {
                    memmove(buf + at, buf + at + 1, len - at - 1);
                    len--;
                }
                break;
            default: len = at; break;
            }
        }
        char e1[200] = "", e2[200] = "";
        ltv_avro_span_t sp[32];
        int a = ltv_avro_check(s, buf, len, e1, sizeof(e1));
        int b = ltv_avro_plan_check_spans(pl, buf, len, sp, 32, e2, sizeof(e2));
        if (a != b || strcmp(e1, e2))
            fail_msg("round %d: schema walk %d \"%s\", plan %d \"%s\"", r, a, e1, b, e2);
        *rejected += a != 0;
    }
    ltv_avro_plan_destroy(pl);
}

static void same_verdicts_as_the_schema_walk(void **state) {
    (void)state;
    avro_schema_t s = parse(all_types);
    char err[200];
    assert_int_equal(ltv_avro_check(s, datum, sizeof(datum), err, sizeof(err)), 0);
    int rejected = 0;
    compare_on_mutations(s, datum, sizeof(datum), 200000, &rejected);
    /* The mutations must mostly break the datum, or nothing was compared. */
    assert_true(rejected > 100000);
    avro_schema_decref(s);
}

/* Our own input schemas, on a datum of the purchase schema made of
 * one-byte varints and short strings (whatever its fields are, a run of
 * 0x02 bytes is a valid prefix of many of them, so most mutations are
 * near-valid). */
static void same_verdicts_on_our_schemas(void **state) {
    (void)state;
    for (int k = LTV_EV_PURCHASE; k <= LTV_EV_AD_SPEND; k++) {
        avro_schema_t s = parse(ltv_reader_schema_json((ltv_ev_kind_t)k));
        unsigned char good[64];
        for (size_t i = 0; i < sizeof(good); i++)
            good[i] = 0x02;
        int rejected = 0;
        compare_on_mutations(s, good, sizeof(good), 100000, &rejected);
        assert_true(rejected > 0);
        avro_schema_decref(s);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spans_by_hand),
        cmocka_unit_test(errors_by_hand),
        cmocka_unit_test(union_branches_by_hand),
        cmocka_unit_test(same_verdicts_as_the_schema_walk),
        cmocka_unit_test(same_verdicts_on_our_schemas),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
