/*
 * ltv.rfm_segments: per day t, how many customers were in each RFM segment
 * as of the end of day t, judged by their orders up to t.
 *
 * A customer's segment over time is a step function (rfm.h, timeline): it
 * enters segment s on some day and leaves it on a later one. Two row types
 * carry that:
 *
 *   rfm_delta (internal, never emitted): per day, +1 for every customer
 *   entering a segment that day and -1 for every one leaving it. It is an
 *   ordinary per-customer contribution, so late orders and cancellations
 *   move the steps exactly like any other row.
 *
 *   rfm_segments (emitted): the running sum of rfm_delta up to day t, kept
 *   in Redis for every day up to the clock's day by a script that runs in
 *   the batch's transaction (store.c, rfm_script): deltas on past days are
 *   added to every running sum after them, and when the clock reaches a new
 *   day its row is the previous day's plus that day's delta.
 *
 * So each day's counts are a pure function of the input, and a late event
 * corrects every day it changes.
 */
#include "agg.h"
#include "rfm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int seg_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(a->aggs);
    for (int i = 0; i < rc->nseg; i++)
        a->fields[i] = rc->names[i];
    a->nfields = rc->nseg;
    a->topic = conf->topic_rfm_segments;
    return 0;
}

static void delta_contribute(const ltv_agg_t *a, const ltv_customer_t *c, int facets,
                             ltv_contribs_t *out) {
    if (c->n < 1)
        return;
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(a->aggs);
    ltv_rfm_step_t *steps = NULL;
    int cap = 0;
    int n = ltv_rfm_timeline(rc, c, a->tz_offset_ms, &steps, &cap);
    const char *all = ltv_intern(a->aggs, "", 0);
    for (int i = 0; i < n; i++) {
        if (steps[i].seg >= 0)
            ltv_contrib_add(out, a, steps[i].day, all, steps[i].seg, +1);
        if (i > 0 && steps[i - 1].seg >= 0)
            ltv_contrib_add(out, a, steps[i].day, all, steps[i - 1].seg, -1);
    }
    free(steps);
}

static void seg_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                       ltv_out_t *out) {
    char day[16];
    ltv_day_format(row->id.day, day);
    ltv_buf_puts(&out->key, day);
    int64_t start = ltv_day_start_ms(row->id.day, a->tz_offset_ms);
    int64_t end = start + LTV_DAY_MS;
    int64_t total = 0;
    for (int f = 0; f < a->nfields; f++)
        total += row->v[f];
    ltv_out_str(out, "day", day);
    ltv_out_ts(out, "window_start", start);
    ltv_out_ts(out, "window_end", end);
    ltv_out_i64(out, "customers", total);
    for (int f = 0; f < a->nfields; f++)
        ltv_out_i64(out, a->fields[f], row->v[f]);
    ltv_out_ts_null(out, "watermark", info->watermark);
    ltv_out_bool(out, "final", info->watermark >= end);
    ltv_out_i64(out, "version", row->version);
}

static int seg_milestones(const ltv_agg_t *a, const ltv_rowid_t *id, int64_t *out) {
    out[0] = ltv_day_start_ms(id->day + 1, a->tz_offset_ms);
    return 1;
}

static int delta_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    seg_init(a, conf, errstr, errstr_size);
    a->topic = NULL;
    return 0;
}

const ltv_agg_class_t ltv_agg_rfm_delta = {
    .name = "rfm_delta",
    .facets = LTV_FACET_ORDERS,
    .internal = 1,
    .init = delta_init,
    .contribute = delta_contribute,
};

const ltv_agg_class_t ltv_agg_rfm_segments = {
    .name = "rfm_segments",
    .init = seg_init,
    .render = seg_render,
    .milestones = seg_milestones,
};
