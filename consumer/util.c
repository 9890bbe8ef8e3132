#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void *ltv_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "ltvstream: out of memory allocating %zu bytes\n", n);
        abort();
    }
    return p;
}

void *ltv_calloc(size_t n, size_t sz) {
    void *p = calloc(n ? n : 1, sz ? sz : 1);
    if (!p) {
        fprintf(stderr, "ltvstream: out of memory allocating %zu bytes\n", n * sz);
        abort();
    }
    return p;
}

void *ltv_realloc(void *p, size_t n) {
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "ltvstream: out of memory reallocating %zu bytes\n", n);
        abort();
    }
    return q;
}

char *ltv_strndup(const char *s, size_t n) {
    char *d = ltv_malloc(n + 1);
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

char *ltv_strdup(const char *s) { return ltv_strndup(s, strlen(s)); }

void ltv_errf(char *errstr, size_t errstr_size, const char *fmt, ...) {
    if (!errstr || !errstr_size)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

ltv_str_t ltv_str_c(const char *s) {
    ltv_str_t r = {s, s ? strlen(s) : 0};
    return r;
}

int ltv_str_eq(ltv_str_t a, ltv_str_t b) {
    if (!a.p || !b.p)
        return a.p == b.p;
    return a.n == b.n && memcmp(a.p, b.p, a.n) == 0;
}

/* Absent sorts before everything, then bytewise, then shorter first. */
int ltv_str_cmp(ltv_str_t a, ltv_str_t b) {
    if (!a.p || !b.p)
        return (a.p != NULL) - (b.p != NULL);
    size_t m = a.n < b.n ? a.n : b.n;
    int c = m ? memcmp(a.p, b.p, m) : 0;
    if (c)
        return c;
    return (a.n > b.n) - (a.n < b.n);
}

void ltv_buf_init(ltv_buf_t *b) {
    b->p = NULL;
    b->n = b->cap = 0;
}

void ltv_buf_free(ltv_buf_t *b) {
    free(b->p);
    ltv_buf_init(b);
}

void ltv_buf_reset(ltv_buf_t *b) {
    b->n = 0;
    if (b->p)
        b->p[0] = '\0';
}

void ltv_buf_reserve(ltv_buf_t *b, size_t extra) {
    if (b->n + extra + 1 <= b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + extra + 1)
        cap *= 2;
    b->p = ltv_realloc(b->p, cap);
    b->cap = cap;
}

void ltv_buf_append_grow(ltv_buf_t *b, const void *p, size_t n) {
    ltv_buf_reserve(b, n);
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}

void ltv_buf_puts(ltv_buf_t *b, const char *s) { ltv_buf_append(b, s, strlen(s)); }

void ltv_buf_vprintf(ltv_buf_t *b, const char *fmt, va_list ap) {
    va_list ap2;
    va_copy(ap2, ap);
    ltv_buf_reserve(b, 64);
    int r = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap);
    if (r >= 0 && (size_t)r >= b->cap - b->n) {
        ltv_buf_reserve(b, (size_t)r);
        r = vsnprintf(b->p + b->n, b->cap - b->n, fmt, ap2);
    }
    va_end(ap2);
    if (r > 0)
        b->n += (size_t)r;
}

void ltv_buf_printf(ltv_buf_t *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ltv_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

/* Integer formatting is on the hot path of every Redis command and JSON row,
 * so it avoids printf. */
size_t ltv_fmt_i64(int64_t v, char *out) {
    /* Two digits per division: timestamps have 13. */
    static const char pairs[] = "00010203040506070809101112131415161718192021222324"
                                "25262728293031323334353637383940414243444546474849"
                                "50515253545556575859606162636465666768697071727374"
                                "75767778798081828384858687888990919293949596979899";
    char tmp[24];
    int i = (int)sizeof(tmp);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    while (u >= 100) {
        unsigned d = (unsigned)(u % 100) * 2;
        u /= 100;
        tmp[--i] = pairs[d + 1];
        tmp[--i] = pairs[d];
    }
    if (u >= 10) {
        tmp[--i] = pairs[u * 2 + 1];
        tmp[--i] = pairs[u * 2];
    } else {
        tmp[--i] = (char)('0' + u);
    }
    if (v < 0)
        tmp[--i] = '-';
    size_t n = sizeof(tmp) - (size_t)i;
    memcpy(out, tmp + i, n);
    return n;
}

void ltv_buf_put_i64(ltv_buf_t *b, int64_t v) {
    char tmp[LTV_I64_MAX_LEN];
    ltv_buf_append(b, tmp, ltv_fmt_i64(v, tmp));
}

struct ltv_arena_chunk_s {
    ltv_arena_chunk_t *next;
    size_t used, cap;
    char data[];
};

void ltv_arena_init(ltv_arena_t *a, size_t chunk_size) {
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 64 * 1024;
}

void *ltv_arena_alloc(ltv_arena_t *a, size_t n) {
    n = (n + 7) & ~(size_t)7;
    ltv_arena_chunk_t *c = a->head;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > a->chunk_size ? n : a->chunk_size;
        c = ltv_malloc(sizeof(*c) + cap);
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

ltv_str_t ltv_arena_str(ltv_arena_t *a, const char *p, size_t n) {
    if (!p)
        return LTV_STR_NULL;
    char *d = ltv_arena_alloc(a, n + 1);
    if (n)
        memcpy(d, p, n);
    d[n] = '\0';
    ltv_str_t r = {d, n};
    return r;
}

/* Keeps the newest chunk for reuse so a steady-state batch loop does not
 * allocate at all. */
void ltv_arena_reset(ltv_arena_t *a) {
    ltv_arena_chunk_t *c = a->head;
    if (!c)
        return;
    ltv_arena_chunk_t *rest = c->next;
    while (rest) {
        ltv_arena_chunk_t *nx = rest->next;
        free(rest);
        rest = nx;
    }
    c->next = NULL;
    c->used = 0;
}

void ltv_arena_free(ltv_arena_t *a) {
    ltv_arena_chunk_t *c = a->head;
    while (c) {
        ltv_arena_chunk_t *nx = c->next;
        free(c);
        c = nx;
    }
    a->head = NULL;
}

/* 64-bit hash for short keys (customer ids, row keys): FNV-1a over 8-byte
 * words with a final avalanche. Not cryptographic; the tables it feeds are
 * private to the process. */
uint64_t ltv_hash(const void *p, size_t n) {
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ULL ^ (n * 0x9E3779B97F4A7C15ULL);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0x100000001b3ULL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    while (n--) {
        h = (h ^ *s++) * 0x100000001b3ULL;
    }
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ULL;
    h ^= h >> 33;
    return h;
}

int64_t ltv_now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ltv_mono_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t floor_div(int64_t a, int64_t b) {
    int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0)))
        q--;
    return q;
}

int64_t ltv_day_of(int64_t ts_ms, int64_t tz_offset_ms) {
    return floor_div(ts_ms + tz_offset_ms, LTV_DAY_MS);
}

int64_t ltv_day_start_ms(int64_t day, int64_t tz_offset_ms) {
    return day * LTV_DAY_MS - tz_offset_ms;
}

/* Proleptic Gregorian conversions after Howard Hinnant's days_from_civil /
 * civil_from_days, which are exact for the whole int64 range we use. */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d) {
    z += 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t yy = yoe + era * 400;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yy + (*m <= 2);
}

static int64_t days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static char *put_digits(char *p, int64_t v, int width) {
    for (int i = width - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return p + width;
}

/* Years outside 0..9999 are clamped: event times that far off are
 * rejected before they reach a calendar. */
void ltv_day_format(int64_t day, char *out) {
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    y = y < 0 ? 0 : y > 9999 ? 9999 : y;
    char *p = put_digits(out, y, 4);
    *p++ = '-';
    p = put_digits(p, m, 2);
    *p++ = '-';
    p = put_digits(p, d, 2);
    *p = '\0';
}

static int digits(const char *s, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Strictly YYYY-MM-DD, and a day that exists (checked by converting back). */
int ltv_day_parse(const char *s, int64_t *day) {
    int y, m, d;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || digits(s, 4, &y) ||
        digits(s + 5, 2, &m) || digits(s + 8, 2, &d) || m < 1 || m > 12 || d < 1 || d > 31)
        return -1;
    int64_t dn = days_from_civil(y, m, d);
    int64_t yy;
    int mm, dd;
    civil_from_days(dn, &yy, &mm, &dd);
    if (yy != y || mm != m || dd != d)
        return -1;
    *day = dn;
    return 0;
}

/* Strictly +HH:MM or -HH:MM (or Z / UTC). */
int ltv_tz_parse(const char *s, int64_t *offset_ms) {
    if (!strcmp(s, "Z") || !strcmp(s, "UTC") || !strcmp(s, "utc")) {
        *offset_ms = 0;
        return 0;
    }
    int h, mi;
    if (strlen(s) != 6 || (s[0] != '+' && s[0] != '-') || s[3] != ':' || digits(s + 1, 2, &h) ||
        digits(s + 4, 2, &mi) || h > 14 || mi > 59)
        return -1;
    int64_t v = ((int64_t)h * 60 + mi) * 60000;
    *offset_ms = s[0] == '-' ? -v : v;
    return 0;
}

/* Every output row carries timestamps, of a few distinct days at a time
 * (the event's, the first purchase's, the watermark's): the date parts of
 * recently formatted days are kept (per thread, 64 slots by day number), so
 * the calendar arithmetic runs once a day rather than once a field. */
static char *put2(char *p, int64_t v) {
    p[0] = (char)('0' + v / 10);
    p[1] = (char)('0' + v % 10);
    return p + 2;
}

void ltv_ts_format(int64_t ts_ms, char *out) {
    static _Thread_local struct {
        int64_t day;
        char date[10];
    } cache[64];
    static _Thread_local int cache_ready;
    if (!cache_ready) {
        for (int i = 0; i < 64; i++)
            cache[i].day = INT64_MIN;
        cache_ready = 1;
    }
    if (ts_ms < INT64_MIN + LTV_DAY_MS)
        ts_ms = INT64_MIN + LTV_DAY_MS; /* day * LTV_DAY_MS below would overflow */
    int64_t day = floor_div(ts_ms, LTV_DAY_MS);
    int64_t msd = ts_ms - day * LTV_DAY_MS;
    int slot = (int)((uint64_t)day & 63);
    if (cache[slot].day != day) {
        int64_t y;
        int m, d;
        civil_from_days(day, &y, &m, &d);
        y = y < 0 ? 0 : y > 9999 ? 9999 : y;
        char *q = put_digits(cache[slot].date, y, 4);
        *q++ = '-';
        q = put2(q, m);
        *q++ = '-';
        put2(q, d);
        cache[slot].day = day;
    }
    memcpy(out, cache[slot].date, 10);
    int64_t sec = msd / 1000;
    char *p = out + 10;
    *p++ = 'T';
    p = put2(p, sec / 3600);
    *p++ = ':';
    p = put2(p, sec / 60 % 60);
    *p++ = ':';
    p = put2(p, sec % 60);
    *p++ = '.';
    p = put_digits(p, msd % 1000, 3);
    *p++ = 'Z';
    *p = '\0';
}

/* Times given by people: milliseconds since the epoch, a day (its start), or
 * a date and time with an optional zone; without a zone the time is in
 * tz_offset_ms, the zone days are cut in, which is what an analyst means by
 * "as of 2025-03-01". */
int ltv_time_parse(const char *s, int64_t tz_offset_ms, int64_t *ms) {
    size_t n = strlen(s);
    if (n && strspn(s, "0123456789") == n) {
        *ms = strtoll(s, NULL, 10);
        return 0;
    }
    char day[11];
    int64_t d;
    if (n < 10)
        return -1;
    memcpy(day, s, 10);
    day[10] = '\0';
    if (ltv_day_parse(day, &d))
        return -1;
    const char *p = s + 10;
    int64_t t = 0;
    if (*p == 'T' || *p == ' ') {
        int hh, mm, ss = 0, fr = 0, k = 0;
        if (sscanf(p + 1, "%2d:%2d%n", &hh, &mm, &k) != 2 || hh > 23 || mm > 59)
            return -1;
        p += 1 + k;
        if (*p == ':') {
            if (sscanf(p + 1, "%2d%n", &ss, &k) != 1 || ss > 60)
                return -1;
            p += 1 + k;
            if (*p == '.') {
                int digits = 0;
                for (p++; *p >= '0' && *p <= '9'; p++, digits++)
                    if (digits < 3)
                        fr = fr * 10 + (*p - '0');
                for (; digits < 3; digits++)
                    fr *= 10;
            }
        }
        t = ((int64_t)hh * 3600 + mm * 60 + ss) * 1000 + fr;
    }
    int64_t tz = tz_offset_ms;
    if (*p && ltv_tz_parse(p, &tz))
        return -1;
    *ms = ltv_day_start_ms(d, 0) + t - tz;
    return 0;
}
