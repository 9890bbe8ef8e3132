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
    ltv_out_str(out, "customer_id", c->id);
    ltv_out_str_null(out, "segment", c->rfm_seg >= 0 ? rc->names[c->rfm_seg] : NULL);
    ltv_out_i64(out, "r_score", c->rfm_r);
    ltv_out_i64(out, "f_score", c->rfm_f);
    ltv_out_i64(out, "m_score", c->rfm_m);
    int64_t clock_day = info->watermark != INT64_MIN ? ltv_day_of(info->watermark, tz) : INT64_MIN;
    int64_t recency = -1;
    if (c->n > 0 && clock_day != INT64_MIN) {
        recency = clock_day - ltv_day_of(c->last_ts, tz);
        if (recency < 0)
            recency = 0;
    }
    ltv_out_i64(out, "recency_days", recency);
    ltv_out_i64(out, "frequency", c->n);
    ltv_out_i64(out, "monetary", c->monetary);
    ltv_out_ts_null(out, "first_purchase_ts", c->n > 0 ? c->fts[0] : INT64_MIN);
    ltv_out_ts_null(out, "last_purchase_ts", c->n > 0 ? c->last_ts : INT64_MIN);
    /* As in the F2 rows: no (or an empty) channel is "(none)". */
    ltv_out_str_null(out, "first_channel",
                     c->n > 0 ? (c->channel && *c->channel ? c->channel : "(none)") : NULL);
    char day[16];
    if (clock_day != INT64_MIN)
        ltv_day_format(clock_day, day);
    ltv_out_str_null(out, "as_of_day", clock_day != INT64_MIN ? day : NULL);
    ltv_out_ts_null(out, "watermark", info->watermark);
    ltv_out_i64(out, "version", c->rfm_version);
}
