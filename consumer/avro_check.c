#include "avro_check.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
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
    /* Most varints here are one byte: small lengths, branch indexes. */
    if (c->p < c->end && !(*c->p & 0x80)) {
        unsigned char b = *c->p++;
        *out = (int64_t)(b >> 1) ^ -(int64_t)(b & 1);
        return 0;
    }
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

/* A type whose check needs nothing but its kind and one number (a fixed's
 * size, an enum's symbol count): what a compiled plan keeps of a schema,
 * so the data is checked without asking Avro-C for anything. */
enum { P_NULL, P_BOOL, P_INT, P_LONG, P_FLOAT, P_DOUBLE, P_BYTES, P_FIXED, P_ENUM, P_OTHER };

typedef struct step_s {
    int kind;
    int64_t n;
    avro_schema_t schema; /* P_OTHER: checked by walking it */
} step_t;

static step_t step_of(avro_schema_t s) {
    step_t st = {P_OTHER, 0, s};
    switch (avro_typeof(s)) {
    case AVRO_NULL: st.kind = P_NULL; break;
    case AVRO_BOOLEAN: st.kind = P_BOOL; break;
    case AVRO_INT32: st.kind = P_INT; break;
    case AVRO_INT64: st.kind = P_LONG; break;
    case AVRO_FLOAT: st.kind = P_FLOAT; break;
    case AVRO_DOUBLE: st.kind = P_DOUBLE; break;
    case AVRO_STRING:
    case AVRO_BYTES: st.kind = P_BYTES; break;
    case AVRO_FIXED:
        st.kind = P_FIXED;
        st.n = avro_schema_fixed_size(s);
        break;
    case AVRO_ENUM:
        st.kind = P_ENUM;
        st.n = avro_schema_enum_number_of_symbols(s);
        break;
    default: break;
    }
    return st;
}

static int check_step(cur_t *c, const step_t *st, int depth) {
    int64_t v;
    switch (st->kind) {
    case P_NULL: return 0;
    case P_BOOL:
        if (c->p >= c->end)
            return fail(c, "truncated boolean");
        if (*c->p > 1)
            return fail(c, "bad boolean");
        c->p++;
        return 0;
    case P_INT:
        if (read_long(c, &v))
            return -1;
        if (v < INT32_MIN || v > INT32_MAX)
            return fail(c, "int out of range");
        return 0;
    case P_LONG: return read_long(c, &v);
    case P_FLOAT: return skip(c, 4, "truncated float");
    case P_DOUBLE: return skip(c, 8, "truncated double");
    case P_BYTES:
        if (read_long(c, &v))
            return -1;
        return skip(c, v, v < 0 ? "negative length" : "length exceeds the data");
    case P_FIXED: return skip(c, st->n, "truncated fixed");
    case P_ENUM:
        if (read_long(c, &v))
            return -1;
        if (v < 0 || v >= st->n)
            return fail(c, "enum index out of range");
        return 0;
    default: return check(c, st->schema, depth);
    }
}

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
    default: {
        step_t st = step_of(s);
        if (st.kind == P_OTHER)
            return fail(c, "unsupported schema type");
        return check_step(c, &st, depth);
    }
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

/* A record schema compiled for ltv_avro_plan_check_spans: per top-level
 * field its step, or a union's branch steps. */
typedef struct pfield_s {
    int is_union, nbranches;
    step_t one;
    step_t *branches;
} pfield_t;

struct ltv_avro_plan_s {
    avro_schema_t schema;
    int nfields; /* -1: not a record, checked by walking the schema */
    pfield_t *f;
};

ltv_avro_plan_t *ltv_avro_plan_new(avro_schema_t schema) {
    ltv_avro_plan_t *pl = ltv_calloc(1, sizeof(*pl));
    pl->schema = schema;
    pl->nfields = -1;
    if (avro_typeof(schema) != AVRO_RECORD)
        return pl;
    int n = (int)avro_schema_record_size(schema);
    pl->f = ltv_calloc((size_t)(n ? n : 1), sizeof(*pl->f));
    pl->nfields = n;
    for (int i = 0; i < n; i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(schema, i);
        pfield_t *pf = &pl->f[i];
        if (avro_typeof(f) != AVRO_UNION) {
            pf->one = step_of(f);
            continue;
        }
        int nb = (int)avro_schema_union_size(f);
        pf->branches = ltv_calloc((size_t)(nb ? nb : 1), sizeof(*pf->branches));
        pf->is_union = 1;
        pf->nbranches = nb;
        for (int b = 0; b < nb; b++)
            pf->branches[b] = step_of(avro_schema_union_branch(f, b));
    }
    return pl;
}

void ltv_avro_plan_destroy(ltv_avro_plan_t *pl) {
    if (!pl)
        return;
    for (int i = 0; pl->f && i < pl->nfields; i++)
        free(pl->f[i].branches);
    free(pl->f);
    free(pl);
}

int ltv_avro_plan_check_spans(const ltv_avro_plan_t *pl, const void *buf, size_t len,
                              ltv_avro_span_t *spans, int nspans, char *errstr,
                              size_t errstr_size) {
    cur_t c = {buf, (const unsigned char *)buf + len, buf, errstr, errstr_size, 0};
    if (pl->nfields < 0)
        return ltv_avro_check(pl->schema, buf, len, errstr, errstr_size);
    for (int i = 0; i < pl->nfields; i++) {
        const pfield_t *pf = &pl->f[i];
        const step_t *st = &pf->one;
        int32_t branch = -1;
        if (pf->is_union) {
            int64_t v;
            if (read_long(&c, &v))
                return -1;
            if (v < 0 || v >= pf->nbranches)
                return fail(&c, "union branch out of range");
            branch = (int32_t)v;
            st = &pf->branches[v];
        }
        uint32_t off = (uint32_t)(c.p - c.start);
        if (check_step(&c, st, 1))
            return -1;
        if (i < nspans) {
            spans[i].off = off;
            spans[i].end = (uint32_t)(c.p - c.start);
            spans[i].branch = branch;
        }
    }
    if (c.p != c.end)
        return fail(&c, "trailing bytes after the record");
    return 0;
}
