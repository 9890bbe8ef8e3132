/*
 * ltv.customer_rfm: one row per customer, keyed by customer id, with the
 * current RFM scores and segment at the stage's clock. Emitted whenever the
 * scores or the segment change: on a purchase, and when recency decays as
 * the clock passes an R edge without any event from the customer (the
 * stage finds those through a sorted set of last purchase days). CRMs and
 * step-mail tools subscribe to it.
 */
#include "customer_rfm.h"
#include "rfm.h"

void ltv_customer_rfm_render(const ltv_aggs_t *aggs, const ltv_customer_t *c,
                             const ltv_emit_info_t *info, int64_t tz, ltv_out_t *out) {
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(aggs);
    ltv_buf_append(&out->key, c->id, c->idlen);
    if (c->rfm_seg < 0) {
        /* No active purchase left (all cancelled): the customer leaves the
         * table. The deletion is a version of the row too (sent as a
         * header: a tombstone has no value), so a reader keeping the newest
         * version does not take an older row delivered after it for a
         * newer one: an instance paused while its partitions moved on
         * (SIGSTOP, tests/it_rebalance.c) delivers the rows it had queued
         * when it wakes up, after its successor's. */
        out->tombstone = 1;
        out->tombstone_version = c->rfm_version;
        return;
    }
    ltv_out_str(out, "customer_id", c->id);
    ltv_out_str_null(out, "segment", rc->names[c->rfm_seg]);
    ltv_out_i64(out, "r_score", c->rfm_r);
    ltv_out_i64(out, "f_score", c->rfm_f);
    ltv_out_i64(out, "m_score", c->rfm_m);
    /* The day the current R score began: the last purchase day for R=5,
     * the day after the last purchase plus the R edge that was crossed
     * otherwise. A function of the state, so the row means the same
     * whenever it is read (recency in days is today minus the last
     * purchase day). */
    int64_t last = ltv_day_of(c->last_ts, tz);
    int64_t since = c->rfm_r >= 5 || c->rfm_r < 1 ? last : last + rc->r_days[4 - c->rfm_r] + 1;
    char day[16];
    ltv_day_format(since, day);
    ltv_out_str(out, "r_score_since", day);
    ltv_out_i64(out, "frequency", c->n);
    ltv_out_i64(out, "monetary", c->monetary);
    ltv_out_ts(out, "first_purchase_ts", c->fts[0]);
    ltv_out_ts(out, "last_purchase_ts", c->last_ts);
    /* As in the F2 rows: no (or an empty) channel is "(none)". */
    ltv_out_str(out, "first_channel", c->channel && *c->channel ? c->channel : "(none)");
    ltv_out_ts_null(out, "watermark", info->watermark);
    ltv_out_i64(out, "version", c->rfm_version);
}
