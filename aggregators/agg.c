#include "agg.h"
#include "rfm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const ltv_agg_class_t ltv_agg_f2_cohort;
extern const ltv_agg_class_t ltv_agg_f2_rolling;
extern const ltv_agg_class_t ltv_agg_retention_mix;
extern const ltv_agg_class_t ltv_agg_rfm_delta;
extern const ltv_agg_class_t ltv_agg_rfm_segments;
extern const ltv_agg_class_t ltv_agg_acquisition;

/* Every row type the stage emits. A new one is a new file with a class and
 * a line here. */
static const ltv_agg_class_t *const classes[] = {
    &ltv_agg_f2_cohort,
    &ltv_agg_f2_rolling,
    &ltv_agg_retention_mix,
    &ltv_agg_rfm_delta,
    &ltv_agg_rfm_segments,
    &ltv_agg_acquisition,
};

typedef struct ientry_s {
    uint32_t id;
    uint32_t len;
    char s[];
} ientry_t;

typedef struct intern_s {
    ientry_t **slot;
    size_t cap, n;
} intern_t;

struct ltv_aggs_s {
    ltv_agg_t agg[LTV_MAX_AGGS];
    int n;
    intern_t intern;
    ltv_rfm_conf_t rfm;
};

const ltv_rfm_conf_t *ltv_aggs_rfm(const ltv_aggs_t *aggs) { return &aggs->rfm; }

ltv_aggs_t *ltv_aggs_new(const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    ltv_aggs_t *aggs = ltv_calloc(1, sizeof(*aggs));
    if (ltv_rfm_conf_parse(&aggs->rfm, conf, errstr, errstr_size)) {
        ltv_aggs_destroy(aggs);
        return NULL;
    }
    for (size_t i = 0; i < sizeof(classes) / sizeof(classes[0]); i++) {
        ltv_agg_t *a = &aggs->agg[aggs->n];
        a->cls = classes[i];
        a->id = aggs->n;
        a->aggs = aggs;
        a->conf = conf;
        a->tz_offset_ms = conf->tz_offset_ms;
        if (a->cls->init(a, conf, errstr, errstr_size)) {
            ltv_aggs_destroy(aggs);
            return NULL;
        }
        aggs->n++;
    }
    return aggs;
}

void ltv_aggs_destroy(ltv_aggs_t *aggs) {
    if (!aggs)
        return;
    for (size_t i = 0; i < aggs->intern.cap; i++)
        free(aggs->intern.slot[i]);
    free(aggs->intern.slot);
    free(aggs);
}

int ltv_aggs_count(const ltv_aggs_t *aggs) { return aggs->n; }

ltv_agg_t *ltv_aggs_get(ltv_aggs_t *aggs, int i) {
    return i >= 0 && i < aggs->n ? &aggs->agg[i] : NULL;
}

ltv_agg_t *ltv_aggs_find(ltv_aggs_t *aggs, const char *name) {
    for (int i = 0; i < aggs->n; i++)
        if (!strcmp(aggs->agg[i].cls->name, name))
            return &aggs->agg[i];
    return NULL;
}

/* Dimension values (channels) have low cardinality, so interning them makes
 * row identities comparable by pointer at the cost of a small, bounded
 * table. */
void ltv_agg_hnames(ltv_agg_t *a, int set, const char *prefix, const char *suffix) {
    for (int h = 0; h < a->conf->nhorizons; h++)
        snprintf(a->hname[set][h], sizeof(a->hname[set][h]), "%s%lldd%s", prefix,
                 (long long)a->conf->horizons[h], suffix);
}

const char *ltv_intern(ltv_aggs_t *aggs, const char *s, size_t n) {
    intern_t *t = &aggs->intern;
    if (t->n * 2 >= t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 64;
        ientry_t **ns = ltv_calloc(ncap, sizeof(*ns));
        for (size_t i = 0; i < t->cap; i++) {
            if (!t->slot[i])
                continue;
            size_t h = ltv_hash(t->slot[i]->s, t->slot[i]->len) & (ncap - 1);
            while (ns[h])
                h = (h + 1) & (ncap - 1);
            ns[h] = t->slot[i];
        }
        free(t->slot);
        t->slot = ns;
        t->cap = ncap;
    }
    size_t h = ltv_hash(s, n) & (t->cap - 1);
    while (t->slot[h]) {
        if (t->slot[h]->len == n && !memcmp(t->slot[h]->s, s, n))
            return t->slot[h]->s;
        h = (h + 1) & (t->cap - 1);
    }
    ientry_t *e = ltv_malloc(sizeof(*e) + n + 1);
    e->id = (uint32_t)t->n;
    e->len = (uint32_t)n;
    memcpy(e->s, s, n);
    e->s[n] = '\0';
    t->slot[h] = e;
    t->n++;
    return e->s;
}

uint32_t ltv_intern_id(const char *interned) {
    const ientry_t *e = (const ientry_t *)(const void *)(interned - offsetof(ientry_t, s));
    return e->id;
}

void ltv_contribs_init(ltv_contribs_t *cs) {
    cs->v = NULL;
    cs->n = cs->cap = 0;
}

void ltv_contribs_free(ltv_contribs_t *cs) {
    free(cs->v);
    ltv_contribs_init(cs);
}

void ltv_contribs_reset(ltv_contribs_t *cs) { cs->n = 0; }

void ltv_contrib_add(ltv_contribs_t *cs, const ltv_agg_t *agg, int64_t day, const char *dim,
                     int field, int64_t value) {
    if (cs->n == cs->cap) {
        cs->cap = cs->cap ? cs->cap * 2 : 16;
        cs->v = ltv_realloc(cs->v, sizeof(*cs->v) * (size_t)cs->cap);
    }
    ltv_contrib_t *c = &cs->v[cs->n++];
    c->row.agg = agg;
    c->row.day = day;
    c->row.dim = dim;
    c->field = field;
    c->value = value;
    /* agg 4 bits | day + 2^27, 28 bits | dimension id 24 bits | field 8 bits:
     * the order of ltv_rowid_cmp for interned dims, as one integer. */
    c->key = ((uint64_t)agg->id << 60) | (((uint64_t)(day + (INT64_C(1) << 27)) & 0xFFFFFFF) << 32) |
             ((uint64_t)(ltv_intern_id(dim) & 0xFFFFFF) << 8) | (uint64_t)(field & 0xFF);
}

int ltv_rowid_cmp(const ltv_rowid_t *a, const ltv_rowid_t *b) {
    if (a->agg != b->agg)
        return a->agg->id < b->agg->id ? -1 : 1;
    if (a->day != b->day)
        return a->day < b->day ? -1 : 1;
    if (a->dim != b->dim)
        return (uintptr_t)a->dim < (uintptr_t)b->dim ? -1 : 1;
    return 0;
}

static int contrib_cmp(const ltv_contrib_t *a, const ltv_contrib_t *b) {
    return (a->key > b->key) - (a->key < b->key);
}

/* Sorting a customer's contributions is on the hot path of every batch;
 * an inline sort on the packed keys avoids qsort's callback per
 * comparison. Contributions come out mostly in order, which insertion sort
 * finishes quickly for the short ranges quicksort leaves. */
static void sort_range(ltv_contrib_t *v, int lo, int hi) {
    while (hi - lo > 16) {
        int mid = lo + (hi - lo) / 2;
        uint64_t a = v[lo].key, b = v[mid].key, c = v[hi].key;
        uint64_t pivot = a < b ? (b < c ? b : (a < c ? c : a)) : (a < c ? a : (b < c ? c : b));
        int i = lo, j = hi;
        while (i <= j) {
            while (v[i].key < pivot)
                i++;
            while (v[j].key > pivot)
                j--;
            if (i <= j) {
                ltv_contrib_t t = v[i];
                v[i] = v[j];
                v[j] = t;
                i++;
                j--;
            }
        }
        if (j - lo < hi - i) {
            sort_range(v, lo, j);
            lo = i;
        } else {
            sort_range(v, i, hi);
            hi = j;
        }
    }
    for (int i = lo + 1; i <= hi; i++) {
        ltv_contrib_t t = v[i];
        int j = i - 1;
        while (j >= lo && v[j].key > t.key) {
            v[j + 1] = v[j];
            j--;
        }
        v[j + 1] = t;
    }
}

void ltv_contribs_sort(ltv_contribs_t *cs) {
    if (cs->n > 1)
        sort_range(cs->v, 0, cs->n - 1);
}

void ltv_aggs_contribute(ltv_aggs_t *aggs, const ltv_customer_t *c, int facets,
                         ltv_contribs_t *out) {
    for (int i = 0; i < aggs->n; i++)
        if (aggs->agg[i].cls->facets & facets)
            aggs->agg[i].cls->contribute(&aggs->agg[i], c, aggs->agg[i].cls->facets & facets, out);
    ltv_contribs_sort(out);
}

void ltv_aggs_on_event(ltv_aggs_t *aggs, const ltv_customer_t *c, const ltv_event_t *ev,
                       ltv_contribs_t *out) {
    for (int i = 0; i < aggs->n; i++)
        if (aggs->agg[i].cls->on_event)
            aggs->agg[i].cls->on_event(&aggs->agg[i], c, ev, out);
}

void ltv_rowid_format(const ltv_rowid_t *id, ltv_buf_t *out) {
    char day[16];
    ltv_day_format(id->day, day);
    ltv_buf_reset(out);
    ltv_buf_puts(out, id->agg->cls->name);
    ltv_buf_putc(out, '|');
    ltv_buf_puts(out, day);
    ltv_buf_putc(out, '|');
    ltv_buf_puts(out, id->dim);
}

int ltv_rowid_parse(ltv_aggs_t *aggs, const char *s, size_t n, ltv_rowid_t *id) {
    const char *end = s + n;
    const char *p1 = memchr(s, '|', n);
    if (!p1)
        return -1;
    const char *p2 = memchr(p1 + 1, '|', (size_t)(end - p1 - 1));
    if (!p2 || p2 - p1 - 1 != 10)
        return -1;
    char name[64], day[11];
    if ((size_t)(p1 - s) >= sizeof(name))
        return -1;
    memcpy(name, s, (size_t)(p1 - s));
    name[p1 - s] = '\0';
    memcpy(day, p1 + 1, 10);
    day[10] = '\0';
    id->agg = ltv_aggs_find(aggs, name);
    if (!id->agg || ltv_day_parse(day, &id->day))
        return -1;
    id->dim = ltv_intern(aggs, p2 + 1, (size_t)(end - p2 - 1));
    return 0;
}

/* ---- deltas -------------------------------------------------------------- */

struct ltv_deltas_s {
    ltv_delta_row_t *rows;
    int n, cap;
    int *slot; /* open addressing: index into rows, -1 empty */
    size_t nslot;
};

ltv_deltas_t *ltv_deltas_new(void) {
    ltv_deltas_t *ds = ltv_calloc(1, sizeof(*ds));
    ds->nslot = 256;
    ds->slot = ltv_malloc(sizeof(int) * ds->nslot);
    memset(ds->slot, 0xff, sizeof(int) * ds->nslot);
    return ds;
}

void ltv_deltas_destroy(ltv_deltas_t *ds) {
    if (!ds)
        return;
    free(ds->rows);
    free(ds->slot);
    free(ds);
}

void ltv_deltas_reset(ltv_deltas_t *ds) {
    ds->n = 0;
    memset(ds->slot, 0xff, sizeof(int) * ds->nslot);
}

/* Row ids are three words compared by identity (interned dimensions), so
 * a multiply-xorshift mix of them is enough: this runs for every
 * contribution of every customer in a batch. */
static size_t rowid_hash(const ltv_rowid_t *id) {
    uint64_t h = (uint64_t)(uintptr_t)id->agg * 0x9E3779B97F4A7C15ULL;
    h ^= (uint64_t)id->day * 0xC2B2AE3D27D4EB4FULL;
    h ^= (uint64_t)(uintptr_t)id->dim * 0x165667B19E3779F9ULL;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ULL;
    h ^= h >> 32;
    return (size_t)h;
}

static int deltas_row_idx(ltv_deltas_t *ds, const ltv_rowid_t *id) {
    if ((size_t)(ds->n + 1) * 2 > ds->nslot) {
        free(ds->slot);
        ds->nslot *= 2;
        ds->slot = ltv_malloc(sizeof(int) * ds->nslot);
        memset(ds->slot, 0xff, sizeof(int) * ds->nslot);
        for (int i = 0; i < ds->n; i++) {
            size_t h = rowid_hash(&ds->rows[i].id) & (ds->nslot - 1);
            while (ds->slot[h] >= 0)
                h = (h + 1) & (ds->nslot - 1);
            ds->slot[h] = i;
        }
    }
    size_t h = rowid_hash(id) & (ds->nslot - 1);
    while (ds->slot[h] >= 0) {
        int i = ds->slot[h];
        const ltv_rowid_t *r = &ds->rows[i].id;
        if (r->agg == id->agg && r->day == id->day && r->dim == id->dim)
            return i;
        h = (h + 1) & (ds->nslot - 1);
    }
    if (ds->n == ds->cap) {
        ds->cap = ds->cap ? ds->cap * 2 : 64;
        ds->rows = ltv_realloc(ds->rows, sizeof(*ds->rows) * (size_t)ds->cap);
    }
    ltv_delta_row_t *r = &ds->rows[ds->n];
    memset(r, 0, sizeof(*r));
    r->id = *id;
    ds->slot[h] = ds->n;
    return ds->n++;
}

static ltv_delta_row_t *deltas_row(ltv_deltas_t *ds, const ltv_rowid_t *id) {
    int i = deltas_row_idx(ds, id); /* first: it may move ds->rows */
    return &ds->rows[i];
}

void ltv_deltas_add(ltv_deltas_t *ds, const ltv_contrib_t *c, int sign) {
    if (!c->value)
        return;
    ltv_delta_row_t *r = deltas_row(ds, &c->row);
    r->d[c->field] += sign * c->value;
}

void ltv_deltas_add_field(ltv_deltas_t *ds, const ltv_agg_t *agg, int64_t day, const char *dim,
                          int field, int64_t v) {
    if (!v)
        return;
    ltv_rowid_t id = {agg, day, dim};
    deltas_row(ds, &id)->d[field] += v;
}

void ltv_aggs_derive(ltv_aggs_t *aggs, ltv_deltas_t *ds) {
    /* Only rows present before deriving are bases: derived rows are not
     * derived from again. A copy, since adding rows may move the array. */
    int n0 = ds->n;
    for (int i = 0; i < n0; i++) {
        ltv_delta_row_t base = ds->rows[i];
        if (!ltv_delta_row_nonzero(&base))
            continue;
        for (int k = 0; k < aggs->n; k++)
            if (aggs->agg[k].cls->derive)
                aggs->agg[k].cls->derive(&aggs->agg[k], &base, ds);
    }
}

/* Contributions are sorted by (row, field), so a row's fields come
 * together: the row found for one is kept for the next (by index, since
 * adding a row may move the array). */
static void diff_add(ltv_deltas_t *ds, const ltv_contrib_t *c, int64_t v, int *last) {
    if (!v)
        return;
    if (*last < 0 || ds->rows[*last].id.agg != c->row.agg || ds->rows[*last].id.day != c->row.day ||
        ds->rows[*last].id.dim != c->row.dim)
        *last = deltas_row_idx(ds, &c->row);
    ds->rows[*last].d[c->field] += v;
}

void ltv_deltas_diff(ltv_deltas_t *ds, const ltv_contribs_t *before, const ltv_contribs_t *after) {
    int i = 0, j = 0, last = -1;
    while (i < before->n || j < after->n) {
        int c;
        if (i == before->n)
            c = 1;
        else if (j == after->n)
            c = -1;
        else
            c = contrib_cmp(&before->v[i], &after->v[j]);
        if (c < 0) {
            diff_add(ds, &before->v[i], -before->v[i].value, &last);
            i++;
        } else if (c > 0) {
            diff_add(ds, &after->v[j], after->v[j].value, &last);
            j++;
        } else {
            diff_add(ds, &after->v[j], after->v[j].value - before->v[i].value, &last);
            i++;
            j++;
        }
    }
}

int ltv_deltas_count(const ltv_deltas_t *ds) { return ds->n; }

const ltv_delta_row_t *ltv_deltas_get(const ltv_deltas_t *ds, int i) {
    return i >= 0 && i < ds->n ? &ds->rows[i] : NULL;
}

int ltv_delta_row_nonzero(const ltv_delta_row_t *r) {
    for (int f = 0; f < r->id.agg->nfields; f++)
        if (r->d[f])
            return 1;
    return 0;
}
