/*
 * Retention-mix rows (topic ltv.retention_mix), one per day: orders,
 * revenue and distinct buying customers split into new (the order is the
 * customer's first, or the day is their first-purchase day) and returning;
 * page views, distinct visitors split into new (first visit that day) and
 * returning, and how many of the day's new visitors came back within the
 * next 3 days.
 *
 * Revenue is the net of refunds (amount - refunded, never below zero) and
 * belongs to the order's day, so a refund corrects the day the revenue was
 * booked on. Amounts are summed in minor units as they come: one
 * deployment reports in one currency.
 */
#include "agg.h"

#include <string.h>

enum {
    F_ORDERS,
    F_NEW_ORDERS,
    F_RET_ORDERS,
    F_REVENUE,
    F_NEW_REVENUE,
    F_RET_REVENUE,
    F_CUSTOMERS,
    F_NEW_CUSTOMERS,
    F_RET_CUSTOMERS,
    F_VISITS,
    F_VISITORS,
    F_NEW_VISITORS,
    F_RET_VISITORS,
    F_NEW_REVISIT3,
    F__N
};

static const char *names[F__N] = {
    "orders",    "new_orders",     "returning_orders",   "revenue",
    "new_revenue", "returning_revenue", "customers",     "new_customers",
    "returning_customers", "visits", "visitors", "new_visitors",
    "returning_visitors", "new_visitors_revisited_3d",
};

#define REVISIT_DAYS 3

static int rm_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    a->topic = conf->topic_retention_mix;
    for (int i = 0; i < F__N; i++)
        a->fields[i] = names[i];
    a->nfields = F__N;
    return 0;
}

static void rm_contribute(const ltv_agg_t *a, const ltv_customer_t *c, ltv_contribs_t *out) {
    const char *all = ltv_intern(a->aggs, "", 0);
    int64_t tz = a->tz_offset_ms;

    /* Orders: active orders are sorted by event time, so the first one met
     * is the customer's first purchase. */
    int64_t first_day = 0, prev_day = INT64_MIN;
    int k = 0;
    for (int i = 0; i < c->norders; i++) {
        const ltv_order_t *o = &c->orders[i];
        if (!o->seen || o->cancelled)
            continue;
        int64_t day = ltv_day_of(o->ts, tz);
        int64_t net = ltv_order_net(o);
        if (k == 0)
            first_day = day;
        ltv_contrib_add(out, a, day, all, F_ORDERS, 1);
        ltv_contrib_add(out, a, day, all, F_REVENUE, net);
        ltv_contrib_add(out, a, day, all, k == 0 ? F_NEW_ORDERS : F_RET_ORDERS, 1);
        ltv_contrib_add(out, a, day, all, k == 0 ? F_NEW_REVENUE : F_RET_REVENUE, net);
        if (day != prev_day) {
            ltv_contrib_add(out, a, day, all, F_CUSTOMERS, 1);
            ltv_contrib_add(out, a, day, all,
                            day == first_day ? F_NEW_CUSTOMERS : F_RET_CUSTOMERS, 1);
            prev_day = day;
        }
        k++;
    }

    /* Visitors, by distinct visit day. */
    for (int i = 0; i < c->nvdays; i++) {
        int64_t day = c->vdays[i];
        ltv_contrib_add(out, a, day, all, F_VISITORS, 1);
        ltv_contrib_add(out, a, day, all, i == 0 ? F_NEW_VISITORS : F_RET_VISITORS, 1);
    }
    if (c->nvdays >= 2 && c->vdays[1] - c->vdays[0] <= REVISIT_DAYS)
        ltv_contrib_add(out, a, c->vdays[0], all, F_NEW_REVISIT3, 1);
}

static void rm_on_event(const ltv_agg_t *a, const ltv_customer_t *c, const ltv_event_t *ev,
                        ltv_contribs_t *out) {
    if (ev->kind != LTV_EV_VISIT)
        return;
    ltv_contrib_add(out, a, ltv_day_of(ev->ts, a->tz_offset_ms), ltv_intern(a->aggs, "", 0),
                    F_VISITS, 1);
}

static void rm_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                      ltv_buf_t *key, ltv_buf_t *val) {
    char day[16];
    ltv_day_format(row->id.day, day);
    ltv_buf_reset(key);
    ltv_buf_puts(key, day);
    int64_t start = ltv_day_start_ms(row->id.day, a->tz_offset_ms);
    int64_t end = start + LTV_DAY_MS;
    const int64_t *v = row->v;

    ltv_buf_reset(val);
    ltv_json_begin(val);
    ltv_json_str(val, "day", day);
    ltv_json_str(val, "window", "day");
    ltv_json_ts(val, "window_start", start);
    ltv_json_ts(val, "window_end", end);
    for (int f = 0; f < F__N; f++)
        ltv_json_i64(val, names[f], v[f]);
    ltv_json_rate(val, "returning_order_share", v[F_RET_ORDERS], v[F_ORDERS]);
    ltv_json_rate(val, "returning_revenue_share", v[F_RET_REVENUE], v[F_REVENUE]);
    ltv_json_rate(val, "returning_customer_share", v[F_RET_CUSTOMERS], v[F_CUSTOMERS]);
    ltv_json_rate(val, "new_visitor_revisit_rate_3d", v[F_NEW_REVISIT3], v[F_NEW_VISITORS]);
    ltv_json_ts(val, "watermark", info->watermark);
    /* Revisits of the day's new visitors settle 3 days after it. */
    ltv_json_bool(val, "final", info->watermark >= end + REVISIT_DAYS * LTV_DAY_MS);
    ltv_json_i64(val, "version", row->version);
    ltv_json_end(val);
}

const ltv_agg_class_t ltv_agg_retention_mix = {
    .name = "retention_mix",
    .facets = LTV_FACET_ORDERS | LTV_FACET_VISITS,
    .init = rm_init,
    .contribute = rm_contribute,
    .on_event = rm_on_event,
    .render = rm_render,
};
