/*
 * Shared fixtures of the cmocka unit tests (tests/test_*.c): event
 * builders, a hand-checked calendar anchor, and lookups of row deltas by
 * (aggregator, day, dimension, field name).
 *
 * Everything here is static inline so a test file that uses only part of
 * it still compiles under -Wall -Werror.
 */
#ifndef LTV_UNIT_FIXTURES_H
#define LTV_UNIT_FIXTURES_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "agg.h"
#include "conf.h"
#include "customer.h"
#include "event.h"
#include "util.h"

#define MIN_MS INT64_C(60000)
#define HOUR_MS INT64_C(3600000)
#define DAY_MS INT64_C(86400000)

/* 2024-05-01T00:00:00Z, worked out by hand:
 *   1970-01-01 .. 2024-01-01 = 54 years = 54*365 + 13 leap days
 *                            (1972, 1976, ..., 2020) = 19710 + 13 = 19723 days
 *   2024-01-01 .. 2024-05-01 = 31 + 29 + 31 + 30 = 121 days
 *   => day 19844; 19844 * 86400 s = 1714521600 s. */
#define T0 INT64_C(1714521600000)
#define DAY0 INT64_C(19844)

/* +09:00 in ms: 9 * 3600 * 1000. */
#define TZ_JST INT64_C(32400000)

static inline ltv_event_t mk_purchase(const char *cust, const char *event_id, const char *order_id,
                                      ltv_ptype_t type, int64_t ts, int64_t amount,
                                      const char *channel, const char *campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_PURCHASE;
    ev.ptype = type;
    ev.ts = ts;
    ev.amount = amount;
    ev.event_id = ltv_str_c(event_id);
    ev.customer_id = ltv_str_c(cust);
    ev.order_id = ltv_str_c(order_id);
    ev.currency = ltv_str_c("JPY");
    ev.channel = ltv_str_c(channel);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

/* An order; its event id is its order id (orders are de-duplicated by order id). */
static inline ltv_event_t ev_order(const char *order_id, int64_t ts, int64_t amount,
                                   const char *channel, const char *campaign) {
    return mk_purchase("c1", order_id, order_id, LTV_PT_ORDER, ts, amount, channel, campaign);
}

static inline ltv_event_t ev_cancel(const char *order_id, int64_t ts) {
    return mk_purchase("c1", order_id, order_id, LTV_PT_CANCEL, ts, 0, NULL, NULL);
}

static inline ltv_event_t ev_refund(const char *order_id, const char *event_id, int64_t ts,
                                    int64_t amount) {
    return mk_purchase("c1", event_id, order_id, LTV_PT_REFUND, ts, amount, NULL, NULL);
}

static inline ltv_event_t mk_visit(const char *cust, const char *visitor, const char *event_id,
                                   int64_t ts) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_VISIT;
    ev.ts = ts;
    ev.event_id = ltv_str_c(event_id);
    ev.customer_id = ltv_str_c(cust);
    ev.visitor_id = ltv_str_c(visitor);
    ev.page = ltv_str_c("/");
    return ev;
}

static inline ltv_event_t ev_visit(const char *event_id, int64_t ts) {
    return mk_visit("c1", "v-c1", event_id, ts);
}

/* Applies ev; returns the result, *facets (if given) gets the facets. */
static inline ltv_apply_res_t apply_tz(ltv_customer_t *c, ltv_event_t ev, int64_t tz,
                                       int *facets) {
    int f = -1;
    ltv_apply_res_t r = ltv_customer_apply(c, &ev, tz, &f);
    if (facets)
        *facets = f;
    return r;
}

static inline ltv_apply_res_t apply(ltv_customer_t *c, ltv_event_t ev) {
    return apply_tz(c, ev, 0, NULL);
}

static inline ltv_customer_t *new_customer(void) {
    return ltv_customer_new(LTV_ENT_CUSTOMER, "c1", 2);
}

/* The customer as the store reads it back after writing it: encoded and
 * decoded (customer_codec.c); NULL if the value cannot be read. */
static inline ltv_customer_t *stored_and_read(const ltv_customer_t *c, const char *segname) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_customer_encode(c, segname, &b);
    const char *seg;
    size_t seglen;
    ltv_customer_t *d = ltv_customer_decode(c->kind, c->id, c->idlen, b.p, b.n, &seg, &seglen);
    ltv_buf_free(&b);
    return d;
}

static inline int64_t day_num(const char *yyyy_mm_dd) {
    int64_t d = 0;
    assert_int_equal(ltv_day_parse(yyyy_mm_dd, &d), 0);
    return d;
}

static inline int field_index(const ltv_agg_t *a, const char *field) {
    for (int i = 0; i < a->nfields; i++)
        if (!strcmp(a->fields[i], field))
            return i;
    fail_msg("aggregator %s has no field %s", a->cls->name, field);
    return -1;
}

/* Delta of one field of row (agg, day, dim) in ds; 0 when the row is absent. */
static inline int64_t delta_of(ltv_aggs_t *aggs, const ltv_deltas_t *ds, const char *agg_name,
                               const char *day, const char *dim, const char *field) {
    ltv_agg_t *a = ltv_aggs_find(aggs, agg_name);
    assert_non_null(a);
    int f = field_index(a, field);
    int64_t d = day_num(day);
    const char *idim = ltv_intern(aggs, dim, strlen(dim));
    int64_t sum = 0;
    int hits = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (r->id.agg == a && r->id.day == d && r->id.dim == idim) {
            sum += r->d[f];
            hits++;
        }
    }
    assert_true(hits <= 1); /* a row appears once */
    return sum;
}

/* The retention mix's 7- and 30-day rolling rows share its row type; the
 * helpers below look at the daily rows only (rolling rows have their own
 * tests). */
static inline int is_rolling_row(const ltv_delta_row_t *r) {
    return !strcmp(r->id.agg->cls->name, "retention_mix") &&
           (!strcmp(r->id.dim, "7d") || !strcmp(r->id.dim, "30d"));
}

/* Number of (daily) rows of agg_name with some non-zero delta. */
static inline int nonzero_rows(ltv_aggs_t *aggs, const ltv_deltas_t *ds, const char *agg_name) {
    ltv_agg_t *a = ltv_aggs_find(aggs, agg_name);
    assert_non_null(a);
    int n = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (r->id.agg == a && !is_rolling_row(r) && ltv_delta_row_nonzero(r))
            n++;
    }
    return n;
}

/* Sum of the non-zero deltas of one field over every row of agg_name. */
static inline int64_t field_total(ltv_aggs_t *aggs, const ltv_deltas_t *ds, const char *agg_name,
                                  const char *field) {
    ltv_agg_t *a = ltv_aggs_find(aggs, agg_name);
    assert_non_null(a);
    int f = field_index(a, field);
    int64_t sum = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (r->id.agg == a && !is_rolling_row(r))
            sum += r->d[f];
    }
    return sum;
}

/*
 * A contribution tracker: the aggregate deltas a sequence of changes to one
 * customer produces, the way the batch computes them (contribution after
 * minus contribution before).
 */
typedef struct tracker_s {
    ltv_conf_t *conf;
    ltv_aggs_t *aggs;
    ltv_contribs_t before, after;
    ltv_deltas_t *ds;
} tracker_t;

/* tz: NULL for the default (UTC); horizons: NULL for the default (30,90). */
static inline void tracker_init(tracker_t *t, const char *tz, const char *horizons) {
    char err[256];
    t->conf = ltv_conf_new();
    if (tz)
        assert_int_equal(ltv_conf_set(t->conf, "tz.offset", tz, err, sizeof(err)), LTV_CONF_OK);
    if (horizons)
        assert_int_equal(ltv_conf_set(t->conf, "f2.horizons.days", horizons, err, sizeof(err)),
                         LTV_CONF_OK);
    t->aggs = ltv_aggs_new(t->conf, err, sizeof(err));
    assert_non_null(t->aggs);
    ltv_contribs_init(&t->before);
    ltv_contribs_init(&t->after);
    t->ds = ltv_deltas_new();
}

static inline void tracker_free(tracker_t *t) {
    ltv_contribs_free(&t->before);
    ltv_contribs_free(&t->after);
    ltv_deltas_destroy(t->ds);
    ltv_aggs_destroy(t->aggs);
    ltv_conf_destroy(t->conf);
}

/* Snapshot of c's contribution ("before"). c NULL: a customer not yet seen. */
static inline void tracker_before(tracker_t *t, const ltv_customer_t *c) {
    ltv_contribs_reset(&t->before);
    if (c)
        ltv_aggs_contribute(t->aggs, c, LTV_FACET_ORDERS | LTV_FACET_VISITS, &t->before);
}

/* ds := contribution(c) - snapshot. */
static inline void tracker_after(tracker_t *t, const ltv_customer_t *c) {
    ltv_contribs_reset(&t->after);
    if (c)
        ltv_aggs_contribute(t->aggs, c, LTV_FACET_ORDERS | LTV_FACET_VISITS, &t->after);
    ltv_deltas_reset(t->ds);
    ltv_deltas_diff(t->ds, &t->before, &t->after);
}

/* Applies ev to c in the tracker's zone, with the before/after diff around it. */
static inline ltv_apply_res_t tracker_apply(tracker_t *t, ltv_customer_t *c, ltv_event_t ev) {
    tracker_before(t, c);
    ltv_apply_res_t r = apply_tz(c, ev, t->conf->tz_offset_ms, NULL);
    tracker_after(t, c);
    return r;
}

/* Delta of the last tracker_apply / tracker_after. */
static inline int64_t td(tracker_t *t, const char *agg, const char *day, const char *dim,
                         const char *field) {
    return delta_of(t->aggs, t->ds, agg, day, dim, field);
}

/* Renders a row the way the emitter does (typed fields, then JSON). */
static inline void fx_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                             ltv_buf_t *key, ltv_buf_t *val) {
    ltv_out_t o;
    ltv_out_init(&o);
    a->cls->render(a, row, info, &o);
    ltv_buf_reset(key);
    ltv_buf_append(key, o.key.p ? o.key.p : "", o.key.n);
    ltv_out_json(&o, val);
    ltv_out_free(&o);
}

#endif
