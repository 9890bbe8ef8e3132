/*
 * Small building blocks shared by every module: a growable byte buffer, a
 * bump arena for per-batch strings, string slices, hashing and the
 * event-time calendar (days cut in a configured zone offset).
 */
#ifndef LTV_UTIL_H
#define LTV_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdarg.h>

#define LTV_DAY_MS INT64_C(86400000)

/* A string slice: not NUL-terminated unless stated. p == NULL means "absent"
 * (an Avro null), which is different from an empty string. */
typedef struct ltv_str_s {
    const char *p;
    size_t n;
} ltv_str_t;

#define LTV_STR_NULL ((ltv_str_t){NULL, 0})
ltv_str_t ltv_str_c(const char *s);
int ltv_str_eq(ltv_str_t a, ltv_str_t b);
int ltv_str_cmp(ltv_str_t a, ltv_str_t b);

/* Growable buffer. Always keeps a NUL after the data so it can be used as a
 * C string, which the length does not include. */
typedef struct ltv_buf_s {
    char *p;
    size_t n, cap;
} ltv_buf_t;

void ltv_buf_init(ltv_buf_t *b);
void ltv_buf_free(ltv_buf_t *b);
void ltv_buf_reset(ltv_buf_t *b);
void ltv_buf_reserve(ltv_buf_t *b, size_t extra);
void ltv_buf_append_grow(ltv_buf_t *b, const void *p, size_t n);
/* Appends n bytes. The common case, room enough, is inline: encoders of
 * Redis commands, customer values and rows append a few bytes at a time. */
static inline void ltv_buf_append(ltv_buf_t *b, const void *p, size_t n) {
    if (b->n + n + 1 > b->cap) {
        ltv_buf_append_grow(b, p, n);
        return;
    }
    if (n)
        memcpy(b->p + b->n, p, n);
    b->n += n;
    b->p[b->n] = '\0';
}
void ltv_buf_puts(ltv_buf_t *b, const char *s);
/* Appends one byte; inline because encoders call it per character. */
static inline void ltv_buf_putc(ltv_buf_t *b, char c) {
    if (b->n + 2 > b->cap)
        ltv_buf_reserve(b, 1);
    b->p[b->n++] = c;
    b->p[b->n] = '\0';
}
void ltv_buf_printf(ltv_buf_t *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void ltv_buf_vprintf(ltv_buf_t *b, const char *fmt, va_list ap);
void ltv_buf_put_i64(ltv_buf_t *b, int64_t v);
/* v in decimal at out (LTV_I64_MAX_LEN bytes, no NUL); returns the length. */
#define LTV_I64_MAX_LEN 20
size_t ltv_fmt_i64(int64_t v, char *out);

/* Bump allocator: many small allocations, freed all at once by reset. */
typedef struct ltv_arena_chunk_s ltv_arena_chunk_t;
typedef struct ltv_arena_s {
    ltv_arena_chunk_t *head;
    size_t chunk_size;
} ltv_arena_t;

void ltv_arena_init(ltv_arena_t *a, size_t chunk_size);
void *ltv_arena_alloc(ltv_arena_t *a, size_t n);
/* Copies s into the arena (NUL-terminated); an absent slice stays absent. */
ltv_str_t ltv_arena_str(ltv_arena_t *a, const char *p, size_t n);
void ltv_arena_reset(ltv_arena_t *a);
void ltv_arena_free(ltv_arena_t *a);

/* Allocation that aborts on out-of-memory: a stage that cannot allocate a
 * few bytes cannot make progress, and continuing would risk wrong counts. */
void *ltv_malloc(size_t n);
void *ltv_calloc(size_t n, size_t sz);
void *ltv_realloc(void *p, size_t n);
char *ltv_strdup(const char *s);
char *ltv_strndup(const char *s, size_t n);

uint64_t ltv_hash(const void *p, size_t n);

/* snprintf into an error buffer, which may be NULL (errors not wanted). */
void ltv_errf(char *errstr, size_t errstr_size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

int64_t ltv_now_ms(void);      /* wall clock, ms since the epoch */
int64_t ltv_mono_us(void);     /* monotonic clock, microseconds */

/* Event-time calendar. A day number is days since 1970-01-01 in the zone
 * `tz_offset_ms` east of UTC, so +09:00 days start at 15:00 UTC. */
int64_t ltv_day_of(int64_t ts_ms, int64_t tz_offset_ms);
int64_t ltv_day_start_ms(int64_t day, int64_t tz_offset_ms);
/* "YYYY-MM-DD" into out (at least 11 bytes). */
void ltv_day_format(int64_t day, char *out);
/* Parses "YYYY-MM-DD"; returns -1 on error. */
int ltv_day_parse(const char *s, int64_t *day);
/* Parses "+09:00", "-05:30", "Z" or "UTC" into milliseconds. */
int ltv_tz_parse(const char *s, int64_t *offset_ms);
/* Parses ms since the epoch, "YYYY-MM-DD" (the day's start) or
 * "YYYY-MM-DDTHH:MM[:SS[.fff]][zone]"; without a zone, in tz_offset_ms. */
int ltv_time_parse(const char *s, int64_t tz_offset_ms, int64_t *ms);
/* ISO-8601 UTC timestamp with milliseconds, e.g. 2024-05-01T12:00:00.000Z:
 * always LTV_TS_LEN characters and a NUL. */
#define LTV_TS_LEN 24
void ltv_ts_format(int64_t ts_ms, char *out);

#endif
