/*
 * Aggregators: each output row type is a plugin (a struct of function
 * pointers, as Fluent Bit does it) that says how one customer contributes
 * to its rows.
 *
 * Every aggregate is a sum over customers of a contribution that is a pure
 * function of the customer's state ("customer c adds 1 to cohort_size of
 * the F2 row of day D, channel google"). When a batch changes a customer,
 * the stage computes the contribution before and after and adds the
 * difference to the rows. A late purchase that becomes the customer's
 * first therefore decrements one cohort row and increments another, and a
 * cancelled first order moves the customer out of its cohort, without any
 * special case: the rows always equal what a recomputation from scratch
 * would give, whatever the arrival order or batch boundaries.
 *
 * Some quantities belong to an event rather than the state (the number of
 * page views on a day); on_event adds those directly, once per applied
 * event.
 */
#ifndef LTV_AGG_H
#define LTV_AGG_H

#include <stdint.h>

#include "conf.h"
#include "customer.h"
#include "event.h"
#include "util.h"
#include "json.h"
#include "out.h"

#define LTV_ROW_MAX_FIELDS 40
#define LTV_AGG_HNAME_SETS 3
#define LTV_MAX_AGGS 16

typedef struct ltv_agg_s ltv_agg_t;
typedef struct ltv_aggs_s ltv_aggs_t;

/* Identity of an output row: its type, its day and one string dimension
 * (the acquisition channel; "" for the all-channels row). dim is interned,
 * so two ids are equal when their three members are. */
typedef struct ltv_rowid_s {
    const ltv_agg_t *agg;
    int64_t day;
    const char *dim;
} ltv_rowid_t;

typedef struct ltv_contrib_s {
    uint64_t key; /* (aggregator, day, dimension id, field), packed to sort by */
    ltv_rowid_t row;
    int field;
    int64_t value;
} ltv_contrib_t;

typedef struct ltv_contribs_s {
    ltv_contrib_t *v;
    int n, cap;
} ltv_contribs_t;

/* A row's current values, as read back from the store. */
typedef struct ltv_row_s {
    ltv_rowid_t id;
    int64_t v[LTV_ROW_MAX_FIELDS];
    int64_t version;
    /* The watermark this version was emitted with (INT64_MIN: none), as the
     * store recorded it in the transaction that emitted it; has_wm 0 when
     * no emission is recorded (a row withheld until the clock reaches it,
     * or one written before the store recorded watermarks). */
    int64_t wm;
    int has_wm;
} ltv_row_t;

/* What a row is rendered against: the stage's clock. */
typedef struct ltv_emit_info_s {
    int64_t watermark; /* ms; INT64_MIN while unknown */
} ltv_emit_info_t;

typedef struct ltv_deltas_s ltv_deltas_t;
typedef struct ltv_delta_row_s ltv_delta_row_t;

/* Times at which a row becomes (more) final: the emitter re-emits it when
 * the watermark passes each. */
#define LTV_MAX_MILESTONES 8

typedef struct ltv_agg_class_s {
    const char *name;   /* row type; part of Redis keys and of -X names */
    int facets;         /* LTV_FACET_* the contribution depends on (0: none) */
    int internal;       /* rows are not emitted as they are (see agg_rfm_segments.c) */
    /* Sets agg->fields, agg->topic. */
    int (*init)(ltv_agg_t *agg, const ltv_conf_t *conf, char *errstr, size_t errstr_size);
    /* Appends the customer's contribution: the part that depends on the
     * given facets (a subset of .facets). */
    void (*contribute)(const ltv_agg_t *agg, const ltv_customer_t *c, int facets,
                       ltv_contribs_t *out);
    /* Optional: what one applied event adds by itself. */
    void (*on_event)(const ltv_agg_t *agg, const ltv_customer_t *c, const ltv_event_t *ev,
                     ltv_contribs_t *out);
    /* Optional: rows computed from other rows (rolling windows): given the
     * batch's delta of one row, adds the deltas it causes to `out`. */
    void (*derive)(const ltv_agg_t *agg, const ltv_delta_row_t *base, ltv_deltas_t *out);
    /* Renders a row: key (row identity) and typed fields. */
    void (*render)(const ltv_agg_t *agg, const ltv_row_t *row, const ltv_emit_info_t *info,
                   ltv_out_t *out);
    /* The times (ms) at which the row's `final` flags turn true; returns how
     * many. */
    int (*milestones)(const ltv_agg_t *agg, const ltv_rowid_t *id, int64_t *out);
    /* Optional: rows are withheld until the watermark reaches this time
     * (rolling windows of days the clock has not reached yet); returns
     * INT64_MIN for rows shown at once. */
    int64_t (*visible_from)(const ltv_agg_t *agg, const ltv_rowid_t *id);
} ltv_agg_class_t;

struct ltv_agg_s {
    const ltv_agg_class_t *cls;
    int id;
    ltv_aggs_t *aggs;
    const char *topic;
    const char *fields[LTV_ROW_MAX_FIELDS];
    int nfields;
    int64_t tz_offset_ms;
    const ltv_conf_t *conf;
    char namebuf[LTV_ROW_MAX_FIELDS][32]; /* storage for generated field names */
    /* Output names with a horizon in them ("f2_rate_30d"), one set per
     * pattern, made once by ltv_agg_hnames: rendering a row, which happens
     * for every row emitted, does not format them again. */
    char hname[LTV_AGG_HNAME_SETS][LTV_MAX_HORIZONS][48];
};

/* Fills a->hname[set][h] with prefix, horizon h in days, "d", suffix. */
void ltv_agg_hnames(ltv_agg_t *a, int set, const char *prefix, const char *suffix);

/* The stage's aggregators. */
ltv_aggs_t *ltv_aggs_new(const ltv_conf_t *conf, char *errstr, size_t errstr_size);
void ltv_aggs_destroy(ltv_aggs_t *aggs);
int ltv_aggs_count(const ltv_aggs_t *aggs);
ltv_agg_t *ltv_aggs_get(ltv_aggs_t *aggs, int i);
ltv_agg_t *ltv_aggs_find(ltv_aggs_t *aggs, const char *name);

struct ltv_rfm_conf_s;
const struct ltv_rfm_conf_s *ltv_aggs_rfm(const ltv_aggs_t *aggs);

/* Interned copy of s (lives as long as aggs), and its small sequential id. */
const char *ltv_intern(ltv_aggs_t *aggs, const char *s, size_t n);
uint32_t ltv_intern_id(const char *interned);

/* Appends the contributions of all aggregators whose facets intersect
 * `facets`, sorted so two lists can be merged. */
void ltv_aggs_contribute(ltv_aggs_t *aggs, const ltv_customer_t *c, int facets,
                         ltv_contribs_t *out);
void ltv_aggs_on_event(ltv_aggs_t *aggs, const ltv_customer_t *c, const ltv_event_t *ev,
                       ltv_contribs_t *out);

void ltv_contribs_init(ltv_contribs_t *cs);
void ltv_contribs_free(ltv_contribs_t *cs);
void ltv_contribs_reset(ltv_contribs_t *cs);
void ltv_contrib_add(ltv_contribs_t *cs, const ltv_agg_t *agg, int64_t day, const char *dim,
                     int field, int64_t value);
void ltv_contribs_sort(ltv_contribs_t *cs);

int ltv_rowid_cmp(const ltv_rowid_t *a, const ltv_rowid_t *b);

/* ---- shared by the cohort-shaped row types (agg_f2_cohort.c) ---------------- */

/* Where a customer's F2 cohort contribution goes in a row type: field
 * indexes of the cohort size, f2, f3, f4 counts (-1: the type has none)
 * and of f2_within for the first horizon (the others follow). */
typedef struct ltv_cohort_fields_s {
    int cohort, f2, f3, f4, within0;
} ltv_cohort_fields_t;

/* c's contribution to the rows (first purchase day, dims[k]): one customer
 * of the cohort, F2 (within each horizon), F3, F4. */
void ltv_cohort_contribute(const ltv_agg_t *a, const ltv_customer_t *c, const char *const *dims,
                           int ndims, const ltv_cohort_fields_t *f, ltv_contribs_t *out);
/* A channel or campaign as a dimension value: missing or empty is "(none)";
 * "all", "(none)" and values starting with '~' get a '~' in front. Returns
 * the length written to out (NUL-terminated, cut at n - 1). */
size_t ltv_dim_label(const char *v, char *out, size_t n);
/* The longest of f2.horizons.days. */
int64_t ltv_max_horizon(const ltv_conf_t *conf);

/* Row identity as a string, "<agg>|<day>|<dim>" with the day as YYYY-MM-DD,
 * used as the Redis key suffix and in the re-emit queue. */
void ltv_rowid_format(const ltv_rowid_t *id, ltv_buf_t *out);
int ltv_rowid_parse(ltv_aggs_t *aggs, const char *s, size_t n, ltv_rowid_t *id);

/* Per-batch sum of deltas, by row. */
struct ltv_delta_row_s {
    ltv_rowid_t id;
    int64_t d[LTV_ROW_MAX_FIELDS];
};

ltv_deltas_t *ltv_deltas_new(void);
void ltv_deltas_destroy(ltv_deltas_t *ds);
void ltv_deltas_reset(ltv_deltas_t *ds);
void ltv_deltas_add(ltv_deltas_t *ds, const ltv_contrib_t *c, int sign);
/* Adds v to one field of one row. */
void ltv_deltas_add_field(ltv_deltas_t *ds, const ltv_agg_t *agg, int64_t day, const char *dim,
                          int field, int64_t v);
/* Runs every aggregator's derive hook over the rows touched so far. */
void ltv_aggs_derive(ltv_aggs_t *aggs, ltv_deltas_t *ds);
/* after - before, both sorted by ltv_contribs_sort. */
void ltv_deltas_diff(ltv_deltas_t *ds, const ltv_contribs_t *before, const ltv_contribs_t *after);
int ltv_deltas_count(const ltv_deltas_t *ds);
/* i-th row touched (its deltas may all be zero: changes that cancel out;
 * see ltv_delta_row_nonzero); NULL past the end. Insertion order. */
const ltv_delta_row_t *ltv_deltas_get(const ltv_deltas_t *ds, int i);
int ltv_delta_row_nonzero(const ltv_delta_row_t *r);

#endif
