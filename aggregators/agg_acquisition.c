/*
 * Acquisition economics (topic ltv.acquisition), per acquisition day,
 * channel and campaign: what the customers a campaign acquired cost, and
 * what they brought back. A row per day ("1d"), and per day over the
 * trailing acquisition.rolling.days days ("30d"), keyed
 * "<day>|<window>|<channel>|<campaign>".
 *
 *   new_customers      customers whose first purchase fell on the day and
 *                      carried this channel and campaign (its attribution)
 *   cost               the ad spend of the campaign on the channel that day
 *                      (topic.ad_spend; a restated cost replaces the old)
 *   f2_count, f2_within_{H}d
 *                      of those customers, how many bought a second time
 *                      (within H days): the F2 cohort logic of
 *                      agg_f2_cohort.c, per campaign instead of per channel
 *   revenue, revenue_within_{H}d
 *                      their net revenue to date, and from orders within H
 *                      days of the acquisition day (daily rows only: to
 *                      date keeps changing with every order of every
 *                      customer ever acquired, and each change of a daily
 *                      row touches every window that holds it)
 *
 * and rendered from those: CPO = cost / first orders (= new customers),
 * F2 rate, F2-CPO = CPO / F2 rate = cost / f2_count (what one repeat
 * customer cost), revenue per acquired customer, CLV:CAC = revenue / cost
 * (CAC here is the CPO: every acquired customer is one first order), rated
 * against the 3:1 rule of thumb of SPEC §1 on the longest horizon.
 *
 * Every count is a per-entity contribution like the other rows: customers
 * contribute to the row of their first purchase (a late earlier order or
 * a cancelled first order moves them), and each ad spend record is an
 * entity of its own (customer.h, LTV_ENT_SPEND) contributing its cost, so a
 * restated cost moves the row by the difference. The window rows are sums
 * of daily rows, derived from their deltas as the retention mix's are.
 */
#include "agg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { A_COST, A_NEW, A_F2, A_REVENUE, A_F2W0 };
/* f2_within_{H}d at A_F2W0 + h, revenue_within_{H}d at A_F2W0 + nh + h. */
#define A_REVW0(a) (A_F2W0 + (a)->conf->nhorizons)

#define SEP '\x1f'

static int acq_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    a->topic = conf->topic_acquisition;
    a->fields[A_COST] = "cost";
    a->fields[A_NEW] = "new_customers";
    a->fields[A_F2] = "f2_count";
    a->fields[A_REVENUE] = "revenue";
    a->nfields = A_F2W0;
    for (int h = 0; h < conf->nhorizons; h++) {
        snprintf(a->namebuf[h], sizeof(a->namebuf[h]), "f2_within_%lldd",
                 (long long)conf->horizons[h]);
        a->fields[a->nfields++] = a->namebuf[h];
    }
    for (int h = 0; h < conf->nhorizons; h++) {
        int k = conf->nhorizons + h;
        snprintf(a->namebuf[k], sizeof(a->namebuf[k]), "revenue_within_%lldd",
                 (long long)conf->horizons[h]);
        a->fields[a->nfields++] = a->namebuf[k];
    }
    ltv_agg_hnames(a, 0, "f2_rate_", "");
    ltv_agg_hnames(a, 1, "revenue_per_customer_", "");
    ltv_agg_hnames(a, 2, "clv_cac_", "");
    return 0;
}

/* A daily row's dimension: "<channel>\x1f<campaign>", each as
 * ltv_dim_label writes it (control characters never occur in them). A
 * window row's: "<W>d\x1f<channel>\x1f<campaign>". */
static const char *daily_dim(const ltv_agg_t *a, const char *channel, const char *campaign) {
    char tmp[520];
    size_t n = ltv_dim_label(channel, tmp, 256);
    tmp[n++] = SEP;
    n += ltv_dim_label(campaign, tmp + n, 256);
    return ltv_intern(a->aggs, tmp, n);
}

static void acq_contribute(const ltv_agg_t *a, const ltv_customer_t *c, int facets,
                           ltv_contribs_t *out) {
    if (c->n < 1)
        return;
    int64_t day = ltv_day_of(c->fts[0], a->tz_offset_ms);
    const char *dim = daily_dim(a, c->channel, c->campaign);
    if (c->kind == LTV_ENT_SPEND) {
        ltv_contrib_add(out, a, day, dim, A_COST, c->monetary);
        return;
    }
    if (c->kind != LTV_ENT_CUSTOMER)
        return;
    static const ltv_cohort_fields_t fields = {A_NEW, A_F2, -1, -1, A_F2W0};
    ltv_cohort_contribute(a, c, &dim, 1, &fields, out);
    ltv_contrib_add(out, a, day, dim, A_REVENUE, c->monetary);
    int nh = a->conf->nhorizons;
    int64_t within[LTV_MAX_HORIZONS] = {0};
    for (int i = 0; i < c->norders; i++) {
        const ltv_order_t *o = &c->orders[i];
        if (!o->seen || o->cancelled)
            continue;
        int64_t after = ltv_day_of(o->ts, a->tz_offset_ms) - day;
        for (int h = 0; h < nh; h++)
            if (after <= a->conf->horizons[h])
                within[h] += ltv_order_net(o);
    }
    for (int h = 0; h < nh; h++)
        ltv_contrib_add(out, a, day, dim, A_REVW0(a) + h, within[h]);
}

/* The dimension's parts: window days (1 for a daily row), channel and
 * campaign, into the caller's buffers. */
static int split_dim(const char *dim, char *ch, char *camp, size_t n) {
    const char *s1 = strchr(dim, SEP);
    const char *s2 = s1 ? strchr(s1 + 1, SEP) : NULL;
    int window = 1;
    const char *c0 = dim;
    if (s2) {
        window = atoi(dim);
        c0 = s1 + 1;
        s1 = s2;
    }
    if (!s1) {
        snprintf(ch, n, "%s", dim);
        camp[0] = '\0';
        return window;
    }
    snprintf(ch, n, "%.*s", (int)(s1 - c0), c0);
    snprintf(camp, n, "%s", s1 + 1);
    return window;
}

static void acq_derive(const ltv_agg_t *a, const ltv_delta_row_t *base, ltv_deltas_t *out) {
    int64_t W = a->conf->acq_rolling_days;
    if (base->id.agg != a || W <= 0)
        return;
    const char *s1 = strchr(base->id.dim, SEP);
    if (!s1 || strchr(s1 + 1, SEP))
        return; /* only daily rows are bases */
    char tmp[600];
    int n = snprintf(tmp, sizeof(tmp), "%lldd%c%s", (long long)W, SEP, base->id.dim);
    const char *dim = ltv_intern(a->aggs, tmp, (size_t)(n < (int)sizeof(tmp) ? n : (int)sizeof(tmp) - 1));
    for (int f = 0; f < a->nfields; f++) {
        if (f == A_REVENUE || !base->d[f])
            continue;
        for (int64_t t = base->id.day; t < base->id.day + W; t++)
            ltv_deltas_add_field(out, a, t, dim, f, base->d[f]);
    }
}

/* SPEC §1: about 3:1 is healthy, 1:1 or below loses money. */
static const char *rating(int64_t revenue, int64_t cost) {
    if (cost <= 0)
        return NULL;
    if (revenue >= 3 * cost)
        return "healthy";
    return revenue > cost ? "marginal" : "losing";
}

static void acq_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                       ltv_out_t *out) {
    char day[16], ch[256], camp[256], wname[16];
    ltv_day_format(row->id.day, day);
    int w = split_dim(row->id.dim, ch, camp, sizeof(ch));
    snprintf(wname, sizeof(wname), "%dd", w);
    ltv_buf_printf(&out->key, "%s|%s|%s|%s", day, wname, ch, camp);
    int64_t end = ltv_day_start_ms(row->id.day + 1, a->tz_offset_ms);
    int64_t start = ltv_day_start_ms(row->id.day - w + 1, a->tz_offset_ms);
    const int64_t *v = row->v;
    int nh = a->conf->nhorizons;
    int daily = w == 1;

    ltv_out_str(out, "day", day);
    ltv_out_str(out, "window", wname);
    ltv_out_str(out, "channel", ch);
    ltv_out_str(out, "campaign", camp);
    ltv_out_ts(out, "window_start", start);
    ltv_out_ts(out, "window_end", end);
    ltv_out_i64(out, "cost", v[A_COST]);
    ltv_out_i64(out, "new_customers", v[A_NEW]);
    ltv_out_i64(out, "f2_count", v[A_F2]);
    for (int h = 0; h < nh; h++)
        ltv_out_i64(out, a->fields[A_F2W0 + h], v[A_F2W0 + h]);
    ltv_out_i64_null(out, "revenue", v[A_REVENUE], !daily);
    for (int h = 0; h < nh; h++)
        ltv_out_i64(out, a->fields[A_REVW0(a) + h], v[A_REVW0(a) + h]);
    ltv_out_rate(out, "cpo", v[A_COST], v[A_NEW]);
    ltv_out_rate(out, "f2_rate", v[A_F2], v[A_NEW]);
    for (int h = 0; h < nh; h++)
        ltv_out_rate(out, a->hname[0][h], v[A_F2W0 + h], v[A_NEW]);
    /* CPO / F2 rate = (cost / new) / (f2 / new) = cost / f2. */
    ltv_out_rate(out, "f2_cpo", v[A_COST], v[A_F2]);
    ltv_out_rate(out, "revenue_per_customer", v[A_REVENUE], daily ? v[A_NEW] : 0);
    for (int h = 0; h < nh; h++)
        ltv_out_rate(out, a->hname[1][h], v[A_REVW0(a) + h], v[A_NEW]);
    /* CLV:CAC = (revenue / new) / (cost / new) = revenue / cost. */
    ltv_out_rate(out, "clv_cac", v[A_REVENUE], daily ? v[A_COST] : 0);
    int64_t longest = -1;
    int hl = 0;
    for (int h = 0; h < nh; h++) {
        ltv_out_rate(out, a->hname[2][h], v[A_REVW0(a) + h], v[A_COST]);
        if (a->conf->horizons[h] > longest) {
            longest = a->conf->horizons[h];
            hl = h;
        }
    }
    ltv_out_str_null(out, "clv_cac_rating", nh ? rating(v[A_REVW0(a) + hl], v[A_COST]) : NULL);
    ltv_out_ts_null(out, "watermark", info->watermark);
    ltv_out_bool(out, "final", info->watermark >= end + ltv_max_horizon(a->conf) * LTV_DAY_MS);
    ltv_out_i64(out, "version", row->version);
}

/* A row's horizons mature as an F2 cohort row's do, from the end of its day. */
extern const ltv_agg_class_t ltv_agg_f2_cohort;
static int acq_milestones(const ltv_agg_t *a, const ltv_rowid_t *id, int64_t *out) {
    return ltv_agg_f2_cohort.milestones(a, id, out);
}

/* A window ending on a day the clock has not reached is not shown yet. */
static int64_t acq_visible(const ltv_agg_t *a, const ltv_rowid_t *id) {
    const char *s1 = strchr(id->dim, SEP);
    if (!s1 || !strchr(s1 + 1, SEP))
        return INT64_MIN;
    return ltv_day_start_ms(id->day, a->tz_offset_ms);
}

const ltv_agg_class_t ltv_agg_acquisition = {
    .name = "acquisition",
    .facets = LTV_FACET_ORDERS | LTV_FACET_SPEND,
    .init = acq_init,
    .contribute = acq_contribute,
    .derive = acq_derive,
    .render = acq_render,
    .milestones = acq_milestones,
    .visible_from = acq_visible,
};
