/*
 * Helpers of the rolling-window, RFM and output-schema unit tests
 * (test_f2_rolling.c, test_retention_rolling.c, test_rfm_scoring.c,
 * test_output_schemas.c), on top of unit_fixtures.h: a tracker with any
 * configuration keys, accumulation of deltas into full rows, a batch
 * pipeline without Redis, and lookups of rendered fields by name.
 *
 * Everything is static inline so each test file compiles under -Werror
 * whatever part it uses.
 */
#ifndef LTV_TC_HELPERS_H
#define LTV_TC_HELPERS_H

#include "unit_fixtures.h"

#include "batch.h"
#include "cache.h"
#include "out.h"

/* tracker_init with arbitrary "key=value" settings (NULL-terminated). */
static inline void tc_tracker_init(tracker_t *t, const char *const *pairs) {
    char err[512] = "";
    t->conf = ltv_conf_new();
    for (int i = 0; pairs && pairs[i]; i++)
        if (ltv_conf_set_pair(t->conf, pairs[i], err, sizeof(err)) != LTV_CONF_OK)
            fail_msg("conf %s: %s", pairs[i], err);
    t->aggs = ltv_aggs_new(t->conf, err, sizeof(err));
    if (!t->aggs)
        fail_msg("ltv_aggs_new: %s", err);
    ltv_contribs_init(&t->before);
    ltv_contribs_init(&t->after);
    t->ds = ltv_deltas_new();
}

/* acc += from, field by field. */
static inline void tc_acc_add(ltv_deltas_t *acc, const ltv_deltas_t *from) {
    for (int i = 0; i < ltv_deltas_count(from); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(from, i);
        for (int f = 0; f < r->id.agg->nfields; f++)
            ltv_deltas_add_field(acc, r->id.agg, r->id.day, r->id.dim, f, r->d[f]);
    }
}

/* Adds c's whole contribution (as a new customer would) to acc. */
static inline void tc_acc_customer(ltv_aggs_t *aggs, ltv_deltas_t *acc, const ltv_customer_t *c) {
    ltv_contribs_t none, cs;
    ltv_contribs_init(&none);
    ltv_contribs_init(&cs);
    ltv_aggs_contribute(aggs, c, LTV_FACET_ORDERS | LTV_FACET_VISITS, &cs);
    ltv_deltas_diff(acc, &none, &cs);
    ltv_contribs_free(&cs);
    ltv_contribs_free(&none);
}

/* Value of one field of row (agg, day, dim) in ds, the day as a day number. */
static inline int64_t tc_val(ltv_aggs_t *aggs, const ltv_deltas_t *ds, const char *agg_name,
                             int64_t day, const char *dim, const char *field) {
    ltv_agg_t *a = ltv_aggs_find(aggs, agg_name);
    assert_non_null(a);
    int f = field_index(a, field);
    const char *idim = ltv_intern(aggs, dim, strlen(dim));
    int64_t sum = 0;
    int hits = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (r->id.agg == a && r->id.day == day && r->id.dim == idim) {
            sum += r->d[f];
            hits++;
        }
    }
    assert_true(hits <= 1);
    return sum;
}

/* Rows of agg_name (dimension dim; NULL: any) with a non-zero delta. */
static inline int tc_nonzero_rows(ltv_aggs_t *aggs, const ltv_deltas_t *ds, const char *agg_name,
                                  const char *dim) {
    ltv_agg_t *a = ltv_aggs_find(aggs, agg_name);
    assert_non_null(a);
    const char *idim = dim ? ltv_intern(aggs, dim, strlen(dim)) : NULL;
    int n = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (r->id.agg == a && (!idim || r->id.dim == idim) && ltv_delta_row_nonzero(r))
            n++;
    }
    return n;
}

/* A row (agg, day, dim) with the values accumulated in acc (zeros if absent). */
static inline ltv_row_t tc_row(ltv_aggs_t *aggs, const ltv_deltas_t *acc, const char *agg_name,
                               int64_t day, const char *dim) {
    ltv_row_t row;
    memset(&row, 0, sizeof(row));
    row.id.agg = ltv_aggs_find(aggs, agg_name);
    assert_non_null(row.id.agg);
    row.id.day = day;
    row.id.dim = ltv_intern(aggs, dim, strlen(dim));
    for (int i = 0; acc && i < ltv_deltas_count(acc); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(acc, i);
        if (!ltv_rowid_cmp(&r->id, &row.id))
            memcpy(row.v, r->d, sizeof(row.v));
    }
    return row;
}

/* ---- rendered rows ---------------------------------------------------------- */

static inline const ltv_ofield_t *tc_field(const ltv_out_t *o, const char *name) {
    for (int i = 0; i < o->n; i++)
        if (!strcmp(o->f[i].name, name))
            return &o->f[i];
    fail_msg("rendered row has no field %s", name);
    return NULL;
}

static inline void tc_expect_i64(const ltv_out_t *o, const char *name, int64_t want) {
    const ltv_ofield_t *f = tc_field(o, name);
    if ((f->type != LTV_OF_I64 && f->type != LTV_OF_TS && f->type != LTV_OF_TS_NULL &&
         f->type != LTV_OF_BOOL) ||
        f->null || f->i != want)
        fail_msg("%s: want %lld, got %lld (type %d, null %d)", name, (long long)want,
                 (long long)f->i, (int)f->type, f->null);
}

static inline void tc_expect_str(const ltv_out_t *o, const char *name, const char *want) {
    const ltv_ofield_t *f = tc_field(o, name);
    if (f->null || !f->s || strcmp(f->s, want))
        fail_msg("%s: want \"%s\", got \"%s\"", name, want, f->null ? "(null)" : f->s);
}

/* A rate or double within 1e-9 of want. */
static inline void tc_expect_f64(const ltv_out_t *o, const char *name, double want) {
    const ltv_ofield_t *f = tc_field(o, name);
    if ((f->type != LTV_OF_RATE && f->type != LTV_OF_F64) || f->null ||
        f->d - want > 1e-9 || want - f->d > 1e-9)
        fail_msg("%s: want %.9f, got %.9f (null %d)", name, want, f->d, f->null);
}

static inline void tc_expect_null(const ltv_out_t *o, const char *name) {
    const ltv_ofield_t *f = tc_field(o, name);
    if (!f->null)
        fail_msg("%s: want null", name);
}

static inline void tc_render(const ltv_agg_t *a, const ltv_row_t *row, int64_t watermark,
                             ltv_out_t *o) {
    ltv_emit_info_t info = {.watermark = watermark};
    ltv_out_reset(o);
    a->cls->render(a, row, &info, o);
}

/* The rendered key, NUL-terminated (valid until the next render). */
static inline const char *tc_key(ltv_out_t *o) {
    ltv_buf_putc(&o->key, '\0');
    o->key.n--;
    return o->key.p;
}

/* ---- a batch pipeline without Redis --------------------------------------- */

typedef struct tc_pipe_s {
    ltv_cache_t *cache;
    ltv_batch_t *b;
    uint32_t seq;
} tc_pipe_t;

static inline void tc_pipe_init(tc_pipe_t *p, tracker_t *t) {
    p->cache = ltv_cache_new(0, 0);
    p->b = ltv_batch_new(t->aggs, p->cache, t->conf->tz_offset_ms);
    p->seq = 0;
}

static inline void tc_pipe_free(tc_pipe_t *p) {
    ltv_batch_destroy(p->b);
    ltv_cache_destroy(p->cache);
}

/* Runs one batch of evs (all on partition 0) and returns its deltas (valid
 * until the next batch); they are also added to acc if given. */
static inline ltv_deltas_t *tc_pipe_run(tc_pipe_t *p, const ltv_event_t *evs, int n,
                                        ltv_deltas_t *acc) {
    ltv_batch_begin(p->b, ++p->seq);
    for (int i = 0; i < n; i++)
        *ltv_batch_add(p->b, 0) = evs[i];
    ltv_load_t *loads = NULL;
    int nloads = ltv_batch_loads(p->b, &loads);
    for (int i = 0; i < nloads; i++)
        loads[i].out = NULL; /* not in the store: new */
    ltv_batch_loaded(p->b);
    ltv_batch_stats_t st;
    memset(&st, 0, sizeof(st));
    ltv_batch_apply(p->b, &st);
    assert_int_equal(st.applied, (uint64_t)n);
    ltv_deltas_t *ds = ltv_batch_deltas(p->b);
    if (acc)
        tc_acc_add(acc, ds);
    ltv_batch_committed(p->b);
    return ds;
}

#endif
