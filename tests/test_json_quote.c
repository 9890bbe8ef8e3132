/*
 * JSON string quoting (aggregators/json.c), which checks eight bytes at a
 * time for characters to escape: every escape is found wherever it falls
 * relative to an 8-byte block, and bytes that only resemble one after the
 * word arithmetic (UTF-8 continuation bytes such as 0xA2 = 0x80 ^ '"' and
 * 0xDC = 0x80 ^ '\') pass through unchanged. Expected strings are written
 * out by hand. Also the one-pass row writer (ltv_out_json) on a row of every
 * field type, and the printf-free "%.6f" used for rates.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "out.h"
#include "util.h"

static void quoted(const char *in, size_t n, const char *want) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_json_quote(&b, in, n);
    assert_int_equal(b.n, strlen(want));
    assert_string_equal(b.p, want);
    ltv_buf_free(&b);
}

static void test_plain_and_short(void **state) {
    (void)state;
    quoted("", 0, "\"\"");
    quoted("abc", 3, "\"abc\"");
    quoted("exactly8", 8, "\"exactly8\"");
    quoted("sixteen_chars_ok", 16, "\"sixteen_chars_ok\"");
}

static void test_escapes_at_every_offset(void **state) {
    (void)state;
    /* Strings of 1 to 21 bytes: a quote, a backslash, a newline or a 0x01
     * at offset p (short strings, whole 8-byte blocks, and tails). */
    const char esc_in[] = {'"', '\\', '\n', 0x01};
    const char *esc_out[] = {"\\\"", "\\\\", "\\n", "\\u0001"};
    for (int len = 1; len <= 21; len++)
        for (int k = 0; k < 4; k++) {
            for (int p = 0; p < len; p++) {
                char in[21], want[64];
                memset(in, 'a', sizeof(in));
                in[p] = esc_in[k];
                int n = 0;
                want[n++] = '"';
                for (int i = 0; i < p; i++)
                    want[n++] = 'a';
                n += sprintf(want + n, "%s", esc_out[k]);
                for (int i = p + 1; i < len; i++)
                    want[n++] = 'a';
                want[n++] = '"';
                want[n] = '\0';
                quoted(in, (size_t)len, want);
            }
        }
}

static void test_several_and_tab_cr(void **state) {
    (void)state;
    quoted("ab\"cdefgh\\ijklmnop\tq\r", 21, "\"ab\\\"cdefgh\\\\ijklmnop\\tq\\r\"");
}

static void test_high_bytes_pass(void **state) {
    (void)state;
    /* "caf\xc3\xa9" then 0xA2 and 0xDC, inside and across 8-byte blocks. */
    const char in[] = "caf\xc3\xa9-\xa2\xdc-caf\xc3\xa9\xa2\xdc";
    char want[64];
    snprintf(want, sizeof(want), "\"%s\"", in);
    quoted(in, strlen(in), want);
}

static void test_timestamp_field(void **state) {
    (void)state;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_json_begin(&b);
    ltv_json_ts(&b, "t", 0);
    ltv_json_ts(&b, "u", 1700000000123); /* 2023-11-14T22:13:20.123Z */
    ltv_json_ts(&b, "n", INT64_MIN);
    ltv_json_ts(&b, "v", 86399999); /* back to the first day: the date is not stale */
    ltv_json_ts(&b, "w", -1);       /* the last ms before the epoch */
    ltv_json_end(&b);
    assert_string_equal(b.p,
                        "{\"t\":\"1970-01-01T00:00:00.000Z\",\"u\":\"2023-11-14T22:13:20.123Z\","
                        "\"n\":null,\"v\":\"1970-01-01T23:59:59.999Z\","
                        "\"w\":\"1969-12-31T23:59:59.999Z\"}");
    ltv_buf_free(&b);
}

static void fixed6(double v, const char *want) {
    char got[32];
    int n = ltv_json_fixed6(v, got);
    assert_true(n > 0);
    assert_int_equal(n, strlen(want));
    assert_string_equal(got, want);
}

static void test_fixed6_by_hand(void **state) {
    (void)state;
    fixed6(0.5, "0.500000");
    fixed6(2.0 / 3.0, "0.666667");
    fixed6(1.0 / 3.0, "0.333333");
    fixed6(-1.25, "-1.250000");
    fixed6(0, "0.000000");
    fixed6(15000, "15000.000000");
    fixed6(999999.9999994, "999999.999999");
    fixed6(0.0000004, "0.000000");
    fixed6(-0.0000006, "-0.000001");
    /* Left to printf: -0 and what rounds to it, halfway cases, big values. */
    char got[32];
    assert_int_equal(ltv_json_fixed6(-0.0, got), -1);
    assert_int_equal(ltv_json_fixed6(-0.0000004, got), -1);
    assert_int_equal(ltv_json_fixed6(0.0000005, got), -1);
    assert_int_equal(ltv_json_fixed6(1e6, got), -1);
    assert_int_equal(ltv_json_fixed6(0.0 / 0.0, got), -1);
}

/* Whatever it does print is what printf prints: every rate num/den a
 * row can hold for small counts, and a sweep of magnitudes. */
static void test_fixed6_is_printf(void **state) {
    (void)state;
    char got[32], want[400];
    long fast = 0;
    for (int den = 1; den <= 700; den++)
        for (int num = -den; num <= 3 * den; num++) {
            double v = (double)num / (double)den;
            if (ltv_json_fixed6(v, got) < 0)
                continue;
            snprintf(want, sizeof(want), "%.6f", v);
            assert_string_equal(got, want);
            fast++;
        }
    uint64_t x = 88172645463325252ULL;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        double v = (double)(x >> 11) / 9007199254740992.0 * 2e6 - 1e6; /* [-1e6, 1e6) */
        if (i & 1)
            v /= (double)(1 + (x & 0xffff));
        if (ltv_json_fixed6(v, got) < 0)
            continue;
        snprintf(want, sizeof(want), "%.6f", v);
        assert_string_equal(got, want);
        fast++;
    }
    assert_true(fast > 1000000); /* the fast path is the one tested */
}

static void test_integers(void **state) {
    (void)state;
    static const struct {
        int64_t v;
        const char *want;
    } cases[] = {{0, "0"},
                 {7, "7"},
                 {10, "10"},
                 {99, "99"},
                 {100, "100"},
                 {-1, "-1"},
                 {-10, "-10"},
                 {1700000000123, "1700000000123"},
                 {INT64_MAX, "9223372036854775807"},
                 {INT64_MIN, "-9223372036854775808"}};
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        char got[LTV_I64_MAX_LEN + 1];
        size_t n = ltv_fmt_i64(cases[k].v, got);
        got[n] = '\0';
        assert_string_equal(got, cases[k].want);
    }
}

static void test_row_of_every_type(void **state) {
    (void)state;
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_out_str(&o, "id", "c\"1");
    ltv_out_str(&o, "empty", NULL);
    ltv_out_str_null(&o, "sn", NULL);
    ltv_out_str_null(&o, "sv", "caf\xc3\xa9\n");
    ltv_out_i64(&o, "i", -9223372036854775807LL - 1);
    ltv_out_i64_null(&o, "in", 5, 1);
    ltv_out_i64_null(&o, "iv", 0, 0);
    ltv_out_rate(&o, "r0", 1, 0);
    ltv_out_rate(&o, "r", 2, 3);
    ltv_out_f64(&o, "big", 1e20);
    ltv_out_f64(&o, "half", 0.0000005);
    ltv_out_bool(&o, "t", 1);
    ltv_out_bool(&o, "f", 0);
    ltv_out_ts(&o, "ts", 1700000000123);
    ltv_out_ts(&o, "tsmin", INT64_MIN);
    ltv_out_ts_null(&o, "tn", INT64_MIN);
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_puts(&b, "left over from the row before");
    ltv_out_json(&o, &b);
    const char *want =
        "{\"id\":\"c\\\"1\",\"empty\":\"\",\"sn\":null,\"sv\":\"caf\xc3\xa9\\n\","
        "\"i\":-9223372036854775808,\"in\":null,\"iv\":0,\"r0\":null,\"r\":0.666667,"
        "\"big\":100000000000000000000.000000,\"half\":0.000000,\"t\":true,\"f\":false,"
        "\"ts\":\"2023-11-14T22:13:20.123Z\",\"tsmin\":null,\"tn\":null}";
    assert_string_equal(b.p, want);
    assert_int_equal(b.n, strlen(want));
    ltv_buf_free(&b);
    ltv_out_free(&o);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_short),
        cmocka_unit_test(test_escapes_at_every_offset),
        cmocka_unit_test(test_several_and_tab_cr),
        cmocka_unit_test(test_high_bytes_pass),
        cmocka_unit_test(test_timestamp_field),
        cmocka_unit_test(test_fixed6_by_hand),
        cmocka_unit_test(test_fixed6_is_printf),
        cmocka_unit_test(test_integers),
        cmocka_unit_test(test_row_of_every_type),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
