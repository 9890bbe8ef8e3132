/*
 * Retention-mix rows (topic ltv.retention_mix): per day (window "1d") and
 * rolling over the trailing 7 and 30 days ("7d", "30d"), keyed
 * "<day>|<window>":
 *
 *   orders, revenue and distinct buying customers, split into new (the
 *   order is the customer's first; the customer's first-purchase day falls
 *   in the window) and returning; page views, distinct visitors split into
 *   new (first visit in the window) and returning, and how many of the new
 *   visitors came back on one of the 3 days after their first visit;
 *   the shares; and the shop's maturity stage by orders per day over the
 *   window, with the retention effort share it suggests (SPEC §1).
 *
 * Revenue is the net of refunds (amount - refunded, never below zero) and
 * belongs to the order's day, so a refund corrects the day the revenue was
 * booked on. Amounts are summed in minor units as they come: one
 * deployment reports in one currency.
 *
 * Sums over a window are sums of the daily rows, so the rolling rows'
 * additive fields are derived from the daily deltas. Distinct customers and
 * visitors in a window are not additive; each customer contributes to them
 * once for every window that contains one of its order (visit) days.
 */
#include "agg.h"

#include <stdlib.h>
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

/* Fields of a daily row that add up over a window. */
static const int additive[] = {F_ORDERS,      F_NEW_ORDERS,  F_RET_ORDERS,  F_REVENUE,
                               F_NEW_REVENUE, F_RET_REVENUE, F_NEW_CUSTOMERS, F_VISITS,
                               F_NEW_VISITORS, F_NEW_REVISIT3};

#define REVISIT_DAYS 3

typedef struct window_s {
    const char *dim;
    int days;
} window_t;

static const window_t windows[] = {{"", 1}, {"7d", 7}, {"30d", 30}};
#define NWIN 3

static int rm_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    a->topic = conf->topic_retention_mix;
    for (int i = 0; i < F__N; i++)
        a->fields[i] = names[i];
    a->nfields = F__N;
    return 0;
}

/* +1 to `field` of the w-day rolling row of every day t whose window
 * [t-w+1, t] holds one of days[] (ascending). */
static void windows_of(const ltv_agg_t *a, const char *dim, int w, const int64_t *days, int n,
                       int field, ltv_contribs_t *out) {
    int64_t next = INT64_MIN; /* first day not yet covered */
    for (int i = 0; i < n; i++) {
        int64_t from = days[i] > next ? days[i] : next;
        for (int64_t t = from; t < days[i] + w; t++)
            ltv_contrib_add(out, a, t, dim, field, 1);
        if (days[i] + w > next)
            next = days[i] + w;
    }
}

static void rm_contribute(const ltv_agg_t *a, const ltv_customer_t *c, int facets,
                          ltv_contribs_t *out) {
    const char *all = ltv_intern(a->aggs, "", 0);
    int64_t tz = a->tz_offset_ms;
    if (!(facets & LTV_FACET_ORDERS))
        goto visits;

    /* Orders: active orders are sorted by event time, so the first one met
     * is the customer's first purchase. */
    int64_t first_day = 0, prev_day = INT64_MIN;
    int64_t odays_stack[64], *odays = odays_stack;
    int nod = 0, cap = 64;
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
            if (nod == cap) {
                cap *= 2;
                int64_t *nd = ltv_malloc(sizeof(int64_t) * (size_t)cap);
                memcpy(nd, odays, sizeof(int64_t) * (size_t)nod);
                if (odays != odays_stack)
                    free(odays);
                odays = nd;
            }
            odays[nod++] = day;
            prev_day = day;
        }
        k++;
    }
    for (int w = 1; w < NWIN; w++)
        windows_of(a, ltv_intern(a->aggs, windows[w].dim, strlen(windows[w].dim)),
                   windows[w].days, odays, nod, F_CUSTOMERS, out);
    if (odays != odays_stack)
        free(odays);

visits:
    /* Visitors, by distinct visit day. */
    if ((facets & LTV_FACET_VISITS) && c->nvdays) {
        int64_t *vd = ltv_malloc(sizeof(int64_t) * (size_t)c->nvdays);
        for (int i = 0; i < c->nvdays; i++) {
            int64_t day = c->vdays[i];
            vd[i] = day;
            ltv_contrib_add(out, a, day, all, F_VISITORS, 1);
            ltv_contrib_add(out, a, day, all, i == 0 ? F_NEW_VISITORS : F_RET_VISITORS, 1);
        }
        if (c->nvdays >= 2 && c->vdays[1] - c->vdays[0] <= REVISIT_DAYS)
            ltv_contrib_add(out, a, c->vdays[0], all, F_NEW_REVISIT3, 1);
        for (int w = 1; w < NWIN; w++)
            windows_of(a, ltv_intern(a->aggs, windows[w].dim, strlen(windows[w].dim)),
                       windows[w].days, vd, c->nvdays, F_VISITORS, out);
        free(vd);
    }
}

static void rm_on_event(const ltv_agg_t *a, const ltv_customer_t *c, const ltv_event_t *ev,
                        ltv_contribs_t *out) {
    if (ev->kind != LTV_EV_VISIT)
        return;
    ltv_contrib_add(out, a, ltv_day_of(ev->ts, a->tz_offset_ms), ltv_intern(a->aggs, "", 0),
                    F_VISITS, 1);
}

static void rm_derive(const ltv_agg_t *a, const ltv_delta_row_t *base, ltv_deltas_t *out) {
    if (base->id.agg != a || *base->id.dim)
        return; /* only the daily rows are bases */
    for (int w = 1; w < NWIN; w++) {
        const char *dim = ltv_intern(a->aggs, windows[w].dim, strlen(windows[w].dim));
        for (size_t k = 0; k < sizeof(additive) / sizeof(additive[0]); k++) {
            int64_t v = base->d[additive[k]];
            if (!v)
                continue;
            for (int64_t t = base->id.day; t < base->id.day + windows[w].days; t++)
                ltv_deltas_add_field(out, a, t, dim, additive[k], v);
        }
    }
}

static const window_t *window_of(const char *dim) {
    for (int w = 0; w < NWIN; w++)
        if (!strcmp(windows[w].dim, dim))
            return &windows[w];
    return &windows[0];
}

/* SPEC §1: launch (no sales), traction (1-5 a week), consistent (at least
 * one a day), established (around 10 a day), mature (more than 10 a day),
 * with the share of effort retention should get at each stage. */
void ltv_maturity(double orders_per_day, const char **stage, double *share) {
    if (orders_per_day <= 0) {
        *stage = "launch";
        *share = 0.0;
    } else if (orders_per_day < 1) {
        *stage = "traction";
        *share = 0.15;
    } else if (orders_per_day < 5) {
        *stage = "consistent";
        *share = 0.30;
    } else if (orders_per_day <= 10) {
        *stage = "established";
        *share = 0.50;
    } else {
        *stage = "mature";
        *share = 0.60;
    }
}

static void rm_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                      ltv_out_t *out) {
    const window_t *w = window_of(row->id.dim);
    char day[16];
    ltv_day_format(row->id.day, day);
    const char *wname = *w->dim ? w->dim : "1d";
    ltv_buf_printf(&out->key, "%s|%s", day, wname);
    int64_t end = ltv_day_start_ms(row->id.day + 1, a->tz_offset_ms);
    int64_t start = end - w->days * LTV_DAY_MS;
    int64_t v[F__N];
    memcpy(v, row->v, sizeof(v));
    if (w->days > 1) {
        /* Not additive over days: returning = active in the window but not
         * new in it. */
        v[F_RET_CUSTOMERS] = v[F_CUSTOMERS] - v[F_NEW_CUSTOMERS];
        v[F_RET_VISITORS] = v[F_VISITORS] - v[F_NEW_VISITORS];
    }

    ltv_out_str(out, "day", day);
    ltv_out_str(out, "window", wname);
    ltv_out_ts(out, "window_start", start);
    ltv_out_ts(out, "window_end", end);
    for (int f = 0; f < F__N; f++)
        ltv_out_i64(out, names[f], v[f]);
    ltv_out_rate(out, "returning_order_share", v[F_RET_ORDERS], v[F_ORDERS]);
    ltv_out_rate(out, "returning_revenue_share", v[F_RET_REVENUE], v[F_REVENUE]);
    ltv_out_rate(out, "returning_customer_share", v[F_RET_CUSTOMERS], v[F_CUSTOMERS]);
    ltv_out_rate(out, "new_visitor_revisit_rate_3d", v[F_NEW_REVISIT3], v[F_NEW_VISITORS]);
    double per_day = (double)v[F_ORDERS] / (double)w->days;
    const char *stage;
    double share;
    ltv_maturity(per_day, &stage, &share);
    ltv_out_f64(out, "orders_per_day", per_day);
    ltv_out_str(out, "maturity_stage", stage);
    ltv_out_f64(out, "suggested_retention_share", share);
    ltv_out_ts_null(out, "watermark", info->watermark);
    /* Revisits of the window's new visitors settle 3 days after it. */
    ltv_out_bool(out, "final", info->watermark >= end + REVISIT_DAYS * LTV_DAY_MS);
    ltv_out_i64(out, "version", row->version);
}

static int rm_milestones(const ltv_agg_t *a, const ltv_rowid_t *id, int64_t *out) {
    out[0] = ltv_day_start_ms(id->day + 1, a->tz_offset_ms) + REVISIT_DAYS * LTV_DAY_MS;
    return 1;
}

/* A window ending on a day the clock has not reached is not shown yet. */
static int64_t rm_visible(const ltv_agg_t *a, const ltv_rowid_t *id) {
    if (!*id->dim)
        return INT64_MIN; /* a daily row holds events that happened */
    return ltv_day_start_ms(id->day, a->tz_offset_ms);
}

const ltv_agg_class_t ltv_agg_retention_mix = {
    .name = "retention_mix",
    .facets = LTV_FACET_ORDERS | LTV_FACET_VISITS,
    .init = rm_init,
    .contribute = rm_contribute,
    .on_event = rm_on_event,
    .derive = rm_derive,
    .render = rm_render,
    .milestones = rm_milestones,
    .visible_from = rm_visible,
};
