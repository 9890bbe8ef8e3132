#include "avro_check.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* Nesting deeper than this is treated as hostile (a recursive schema can
 * otherwise be made to recurse as deep as the data asks). */
#define MAX_DEPTH 64
/* Items of a zero-sized type (null, empty record) take no bytes, so the
 * remaining length cannot bound their count; this does, for the whole
 * datum (arrays of such arrays would otherwise multiply it). */
#define MAX_EMPTY_ITEMS 65536

typedef struct cur_s {
    const unsigned char *p, *end, *start;
    char *err;
    size_t errsz;
    int64_t empty_items; /* zero-sized array items so far in this datum */
} cur_t;

static int fail(cur_t *c, const char *what) {
    if (c->err && c->errsz)
        snprintf(c->err, c->errsz, "%s at byte %zu", what, (size_t)(c->p - c->start));
    return -1;
}

static int read_long(cur_t *c, int64_t *out) {
    uint64_t v = 0;
    int shift = 0;
    for (;;) {
        if (c->p >= c->end)
            return fail(c, "truncated varint");
        unsigned char b = *c->p++;
        if (shift == 63 && (b & 0x7e))
            return fail(c, "varint overflows 64 bits");
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80))
            break;
        shift += 7;
        if (shift > 63)
            return fail(c, "varint longer than 10 bytes");
    }
    *out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
    return 0;
}

static int skip(cur_t *c, int64_t n, const char *what) {
    if (n < 0)
        return fail(c, what);
    if ((uint64_t)n > (uint64_t)(c->end - c->p))
        return fail(c, what);
    c->p += n;
    return 0;
}

static int check(cur_t *c, avro_schema_t s, int depth);

/* Whether a value of the type takes no bytes at all: null, a fixed of size
 * 0, or a record whose fields all take none (at any depth: a record of
 * one null field is as empty as a record of none, and a count of them is
 * not bounded by the bytes left either). */
static int zero_sized(avro_schema_t s, int depth) {
    if (depth > MAX_DEPTH) /* a record that contains itself: check() refuses it */
        return 0;
    switch (avro_typeof(s)) {
    case AVRO_NULL: return 1;
    case AVRO_FIXED: return avro_schema_fixed_size(s) == 0;
    case AVRO_LINK: return zero_sized(avro_schema_link_target(s), depth + 1);
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++)
            if (!zero_sized(avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
                return 0;
        return 1;
    }
    default: return 0;
    }
}

static int check_blocks(cur_t *c, avro_schema_t item, int is_map, int depth) {
    for (;;) {
        int64_t count;
        if (read_long(c, &count))
            return -1;
        if (count == 0)
            return 0;
        if (count < 0) {
            if (count == INT64_MIN)
                return fail(c, "bad block count");
            count = -count;
            int64_t bytes;
            if (read_long(c, &bytes) || bytes < 0)
                return fail(c, "bad block size");
        }
        /* Every item takes at least one byte unless its type is empty. */
        if (!is_map && zero_sized(item, depth)) {
            /* Checked before adding: a block of ~2^63 items would overflow
             * the sum, and a wrapped (negative) total would let the loop
             * below run ~2^63 times. */
            if (count > MAX_EMPTY_ITEMS - c->empty_items)
                return fail(c, "too many empty items");
            c->empty_items += count;
        } else if ((uint64_t)count > (uint64_t)(c->end - c->p)) {
            return fail(c, "block count exceeds the data");
        }
        for (int64_t i = 0; i < count; i++) {
            if (is_map) {
                int64_t kl;
                if (read_long(c, &kl) || skip(c, kl, "bad map key length"))
                    return -1;
            }
            if (check(c, item, depth + 1))
                return -1;
        }
    }
}

static int check(cur_t *c, avro_schema_t s, int depth) {
    if (depth > MAX_DEPTH)
        return fail(c, "nesting too deep");
    int64_t v;
    switch (avro_typeof(s)) {
    case AVRO_NULL: return 0;
    case AVRO_BOOLEAN:
        if (c->p >= c->end)
            return fail(c, "truncated boolean");
        if (*c->p > 1)
            return fail(c, "bad boolean");
        c->p++;
        return 0;
    case AVRO_INT32:
        if (read_long(c, &v))
            return -1;
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(c, "int out of range");
        return 0;
    case AVRO_INT64: return read_long(c, &v);
    case AVRO_FLOAT: return skip(c, 4, "truncated float");
    case AVRO_DOUBLE: return skip(c, 8, "truncated double");
    case AVRO_STRING:
    case AVRO_BYTES:
        if (read_long(c, &v))
            return -1;
        return skip(c, v, v < 0 ? "negative length" : "length exceeds the data");
    case AVRO_FIXED: return skip(c, avro_schema_fixed_size(s), "truncated fixed");
    case AVRO_ENUM:
        if (read_long(c, &v))
            return -1;
        if (v < 0 || v >= avro_schema_enum_number_of_symbols(s))
            return fail(c, "enum index out of range");
        return 0;
    case AVRO_UNION:
        if (read_long(c, &v))
            return -1;
        if (v < 0 || (uint64_t)v >= avro_schema_union_size(s))
            return fail(c, "union branch out of range");
        return check(c, avro_schema_union_branch(s, (int)v), depth + 1);
    case AVRO_RECORD: {
        size_t n = avro_schema_record_size(s);
        for (size_t i = 0; i < n; i++)
            if (check(c, avro_schema_record_field_get_by_index(s, (int)i), depth + 1))
                return -1;
        return 0;
    }
    case AVRO_ARRAY: return check_blocks(c, avro_schema_array_items(s), 0, depth);
    case AVRO_MAP: return check_blocks(c, avro_schema_map_values(s), 1, depth);
    case AVRO_LINK: return check(c, avro_schema_link_target(s), depth + 1);
    default: return fail(c, "unsupported schema type");
    }
}

int ltv_avro_check(avro_schema_t schema, const void *buf, size_t len, char *errstr,
                   size_t errstr_size) {
    cur_t c = {buf, (const unsigned char *)buf + len, buf, errstr, errstr_size, 0};
    if (check(&c, schema, 0))
        return -1;
    if (c.p != c.end)
        return fail(&c, "trailing bytes after the record");
    return 0;
}

int ltv_avro_check_spans(avro_schema_t schema, const void *buf, size_t len,
                         ltv_avro_span_t *spans, int nspans, char *errstr, size_t errstr_size) {
    cur_t c = {buf, (const unsigned char *)buf + len, buf, errstr, errstr_size, 0};
    if (avro_typeof(schema) != AVRO_RECORD)
        return ltv_avro_check(schema, buf, len, errstr, errstr_size);
    size_t n = avro_schema_record_size(schema);
    for (size_t i = 0; i < n; i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(schema, (int)i);
        int32_t branch = -1;
        if (avro_typeof(f) == AVRO_UNION) {
            int64_t v;
            if (read_long(&c, &v))
                return -1;
            if (v < 0 || (uint64_t)v >= avro_schema_union_size(f))
                return fail(&c, "union branch out of range");
            branch = (int32_t)v;
            f = avro_schema_union_branch(f, (int)v);
        }
        uint32_t off = (uint32_t)(c.p - c.start);
        if (check(&c, f, 1))
            return -1;
        if ((int)i < nspans) {
            spans[i].off = off;
            spans[i].end = (uint32_t)(c.p - c.start);
            spans[i].branch = branch;
        }
    }
    if (c.p != c.end)
        return fail(&c, "trailing bytes after the record");
    return 0;
}
