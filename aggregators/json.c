#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

void ltv_json_quote(ltv_buf_t *b, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    ltv_buf_reserve(b, n + 2);
    ltv_buf_putc(b, '"');
    /* Runs of characters that need no escaping are copied in one go. Eight
     * bytes at a time are checked with word arithmetic for a control
     * character, '"' or '\\' (bytes of 0x80 and above never match): every
     * key and value of every output row passes here. */
    size_t run = 0;
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    for (size_t i = 0; i < n; i++) {
        while (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
            uint64_t hit = (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) &
                           highs;
            if (hit)
                break;
            i += 8;
        }
        if (i >= n)
            break;
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        ltv_buf_append(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': ltv_buf_append(b, "\\\"", 2); break;
        case '\\': ltv_buf_append(b, "\\\\", 2); break;
        case '\n': ltv_buf_append(b, "\\n", 2); break;
        case '\r': ltv_buf_append(b, "\\r", 2); break;
        case '\t': ltv_buf_append(b, "\\t", 2); break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ltv_buf_append(b, u, 6);
        }
        }
    }
    ltv_buf_append(b, s + run, n - run);
    ltv_buf_putc(b, '"');
}

static void key(ltv_buf_t *b, const char *k) {
    if (b->n && b->p[b->n - 1] != '{' && b->p[b->n - 1] != '[')
        ltv_buf_putc(b, ',');
    ltv_json_quote(b, k, strlen(k));
    ltv_buf_putc(b, ':');
}

void ltv_json_begin(ltv_buf_t *b) {
    if (b->n && b->p[b->n - 1] != '{' && b->p[b->n - 1] != '[' && b->p[b->n - 1] != ':')
        ltv_buf_putc(b, ',');
    ltv_buf_putc(b, '{');
}

void ltv_json_end(ltv_buf_t *b) { ltv_buf_putc(b, '}'); }

void ltv_json_strn(ltv_buf_t *b, const char *k, const char *val, size_t n) {
    key(b, k);
    if (!val)
        ltv_buf_puts(b, "null");
    else
        ltv_json_quote(b, val, n);
}

void ltv_json_str(ltv_buf_t *b, const char *k, const char *val) {
    ltv_json_strn(b, k, val, val ? strlen(val) : 0);
}

void ltv_json_i64(ltv_buf_t *b, const char *k, int64_t val) {
    key(b, k);
    ltv_buf_put_i64(b, val);
}

void ltv_json_bool(ltv_buf_t *b, const char *k, int val) {
    key(b, k);
    ltv_buf_puts(b, val ? "true" : "false");
}

void ltv_json_null(ltv_buf_t *b, const char *k) {
    key(b, k);
    ltv_buf_puts(b, "null");
}

void ltv_json_rate(ltv_buf_t *b, const char *k, int64_t num, int64_t den) {
    key(b, k);
    if (den == 0) {
        ltv_buf_puts(b, "null");
        return;
    }
    ltv_buf_printf(b, "%.6f", (double)num / (double)den);
}

void ltv_json_double(ltv_buf_t *b, const char *k, double v) {
    key(b, k);
    ltv_buf_printf(b, "%.6f", v);
}

void ltv_json_ts(ltv_buf_t *b, const char *k, int64_t ts_ms) {
    key(b, k);
    if (ts_ms == INT64_MIN) {
        ltv_buf_puts(b, "null");
        return;
    }
    /* Digits and "-:.TZ" only: nothing to escape. */
    char tmp[32];
    tmp[0] = '"';
    ltv_ts_format(ts_ms, tmp + 1);
    size_t n = strlen(tmp);
    tmp[n] = '"';
    ltv_buf_append(b, tmp, n + 1);
}
