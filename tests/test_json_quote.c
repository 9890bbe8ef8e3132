/*
 * JSON string quoting (aggregators/json.c), which checks eight bytes at a
 * time for characters to escape: every escape is found wherever it falls
 * relative to an 8-byte block, and bytes that only resemble one after the
 * word arithmetic (UTF-8 continuation bytes such as 0xA2 = 0x80 ^ '"' and
 * 0xDC = 0x80 ^ '\') pass through unchanged. Expected strings are written
 * out by hand.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
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
    /* 21 bytes: a quote, a backslash, a newline or a 0x01 at offset p. */
    const char esc_in[] = {'"', '\\', '\n', 0x01};
    const char *esc_out[] = {"\\\"", "\\\\", "\\n", "\\u0001"};
    for (int k = 0; k < 4; k++) {
        for (int p = 0; p < 21; p++) {
            char in[21], want[64];
            memset(in, 'a', sizeof(in));
            in[p] = esc_in[k];
            int n = 0;
            want[n++] = '"';
            for (int i = 0; i < p; i++)
                want[n++] = 'a';
            n += sprintf(want + n, "%s", esc_out[k]);
            for (int i = p + 1; i < 21; i++)
                want[n++] = 'a';
            want[n++] = '"';
            want[n] = '\0';
            quoted(in, sizeof(in), want);
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
    ltv_json_end(&b);
    assert_string_equal(b.p,
                        "{\"t\":\"1970-01-01T00:00:00.000Z\",\"u\":\"2023-11-14T22:13:20.123Z\","
                        "\"n\":null}");
    ltv_buf_free(&b);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_plain_and_short),
        cmocka_unit_test(test_escapes_at_every_offset),
        cmocka_unit_test(test_several_and_tab_cr),
        cmocka_unit_test(test_high_bytes_pass),
        cmocka_unit_test(test_timestamp_field),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
