/*
 * A minimal JSON writer for output rows: objects of strings, integers,
 * booleans and rates. Commas are placed by looking at the previous byte,
 * so calls need no state beyond the buffer.
 */
#ifndef LTV_JSON_H
#define LTV_JSON_H

#include <stdint.h>
#include "util.h"

void ltv_json_begin(ltv_buf_t *b);   /* "{" */
void ltv_json_end(ltv_buf_t *b);     /* "}" */
void ltv_json_str(ltv_buf_t *b, const char *key, const char *val);   /* val NULL: null */
void ltv_json_strn(ltv_buf_t *b, const char *key, const char *val, size_t n);
void ltv_json_i64(ltv_buf_t *b, const char *key, int64_t val);
void ltv_json_bool(ltv_buf_t *b, const char *key, int val);
void ltv_json_null(ltv_buf_t *b, const char *key);
/* num / den with 6 decimals, or null when den is 0. */
void ltv_json_rate(ltv_buf_t *b, const char *key, int64_t num, int64_t den);
void ltv_json_double(ltv_buf_t *b, const char *key, double v);
/* Timestamp in ms as an ISO-8601 UTC string, or null for INT64_MIN. */
void ltv_json_ts(ltv_buf_t *b, const char *key, int64_t ts_ms);
/* Writes a JSON string literal (with quotes). */
void ltv_json_quote(ltv_buf_t *b, const char *s, size_t n);
/* The most bytes a string of n bytes takes quoted (every byte \u00XX). */
#define LTV_JSON_QUOTED_MAX(n) (6 * (size_t)(n) + 2)
/* Writes s quoted at p, which has room for LTV_JSON_QUOTED_MAX(n) bytes;
 * returns the end. Writes no NUL. */
char *ltv_json_put_quoted(char *p, const char *s, size_t n);
/* printf's "%.6f" of v, NUL-terminated into out (24 bytes), without printf
 * for the values rows hold; returns the length, or -1 when v is left to
 * printf (see json.c). */
int ltv_json_fixed6(double v, char *out);
/* Timestamp ts_ms (not INT64_MIN) quoted at p, LTV_TS_LEN + 2 bytes;
 * returns the end. Writes no NUL. */
char *ltv_json_put_ts(char *p, int64_t ts_ms);

#endif
