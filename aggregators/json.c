#include "json.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Whether any byte of w is a control character, '"' or '\\' (word
 * arithmetic; bytes of 0x80 and above never match). */
static inline int word_needs_escape(uint64_t w) {
    const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
    uint64_t q = w ^ (ones * '"'), bs = w ^ (ones * '\\');
    return ((((w - ones * 0x20) & ~w) | ((q - ones) & ~q) | ((bs - ones) & ~bs)) & highs) != 0;
}

static int needs_escape(const char *s, size_t n) {
    uint64_t w;
    if (n < 8) {
        w = 0x6161616161616161ULL; /* "aaaaaaaa" around a short string */
        memcpy(&w, s, n);
        return word_needs_escape(w);
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&w, s + i, 8);
        if (word_needs_escape(w))
            return 1;
    }
    if (i == n)
        return 0;
    memcpy(&w, s + n - 8, 8); /* the tail, overlapping checked bytes */
    return word_needs_escape(w);
}

char *ltv_json_put_quoted(char *p, const char *s, size_t n) {
    static const char hex[] = "0123456789abcdef";
    *p++ = '"';
    /* Every key and string value of every output row passes here, and
     * almost none needs escaping: checked eight bytes at a time, and then
     * copied in one go. */
    if (!needs_escape(s, n)) {
        memcpy(p, s, n);
        p += n;
        *p++ = '"';
        return p;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            *p++ = (char)c;
            continue;
        }
        *p++ = '\\';
        switch (c) {
        case '"': *p++ = '"'; break;
        case '\\': *p++ = '\\'; break;
        case '\n': *p++ = 'n'; break;
        case '\r': *p++ = 'r'; break;
        case '\t': *p++ = 't'; break;
        default:
            *p++ = 'u';
            *p++ = '0';
            *p++ = '0';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p++ = '"';
    return p;
}

void ltv_json_quote(ltv_buf_t *b, const char *s, size_t n) {
    ltv_buf_reserve(b, LTV_JSON_QUOTED_MAX(n));
    b->n = (size_t)(ltv_json_put_quoted(b->p + b->n, s, n) - b->p);
    b->p[b->n] = '\0';
}

int ltv_json_fixed6(double v, char *out) {
    /* Below 1e6 the product v * 1e6 is under 2^40, so the multiplication
     * errs by at most 2^-13; unless the product lies that close to a
     * halfway point, rounding it gives the digits printf would print for
     * the exact value. Halfway cases, larger magnitudes, NaN, and negative
     * values that print as "-0.000000" are left to printf. */
    if (!(v > -1e6 && v < 1e6))
        return -1;
    double r = v * 1e6, fl = floor(r), frac = r - fl;
    if (fabs(frac - 0.5) < 1e-3)
        return -1;
    int64_t q = (int64_t)fl + (frac > 0.5);
    if (q == 0 && signbit(v))
        return -1;
    char *p = out;
    if (q < 0) {
        *p++ = '-';
        q = -q;
    }
    p += ltv_fmt_i64(q / 1000000, p);
    *p++ = '.';
    int64_t fp = q % 1000000;
    for (int k = 5; k >= 0; k--) {
        p[k] = (char)('0' + fp % 10);
        fp /= 10;
    }
    p += 6;
    *p = '\0';
    return (int)(p - out);
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

static void double_value(ltv_buf_t *b, double v) {
    char tmp[32];
    int n = ltv_json_fixed6(v, tmp);
    if (n < 0)
        ltv_buf_printf(b, "%.6f", v);
    else
        ltv_buf_append(b, tmp, (size_t)n);
}

void ltv_json_rate(ltv_buf_t *b, const char *k, int64_t num, int64_t den) {
    key(b, k);
    if (den == 0) {
        ltv_buf_puts(b, "null");
        return;
    }
    double_value(b, (double)num / (double)den);
}

void ltv_json_double(ltv_buf_t *b, const char *k, double v) {
    key(b, k);
    double_value(b, v);
}

void ltv_json_ts(ltv_buf_t *b, const char *k, int64_t ts_ms) {
    key(b, k);
    if (ts_ms == INT64_MIN) {
        ltv_buf_puts(b, "null");
        return;
    }
    char tmp[LTV_TS_LEN + 3];
    ltv_buf_append(b, tmp, (size_t)(ltv_json_put_ts(tmp, ts_ms) - tmp));
}

char *ltv_json_put_ts(char *p, int64_t ts_ms) {
    /* Digits and "-:.TZ" only: nothing to escape. */
    *p++ = '"';
    ltv_ts_format(ts_ms, p);
    p += LTV_TS_LEN;
    *p++ = '"';
    return p;
}
