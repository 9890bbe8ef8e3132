/*
 * Rolling F2 rate (topic ltv.f2_rolling), one row per day t and channel:
 * over the cohorts of the trailing W days (f2.rolling.window.days, default
 * 30) whose H-day horizon has matured by day t, i.e. cohort days
 * t-H-W+1 .. t-H, the sum of f2_within_{H}d over the sum of cohort_size.
 * One such pair of sums per configured horizon.
 *
 * The rows are not computed per customer: a change of a cohort row's
 * cohort_size or f2_within_{H}d by x changes exactly the W rolling rows
 * t = D+H .. D+H+W-1 by x, so they are derived from the batch's cohort
 * deltas. Late events and cancellations therefore correct the rolling rows
 * they touch, like every other row.
 */
#include "agg.h"

#include <stdio.h>
#include <string.h>

/* Field layout: for horizon index h, cohorts at 2h and f2_within at 2h+1. */

extern const ltv_agg_class_t ltv_agg_f2_cohort;
const char *ltv_channel_label(const char *dim);

static int roll_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    a->topic = conf->topic_f2_rolling;
    a->nfields = 0;
    for (int h = 0; h < conf->nhorizons; h++) {
        long long H = (long long)conf->horizons[h];
        snprintf(a->namebuf[2 * h], sizeof(a->namebuf[0]), "cohorts_%lldd", H);
        snprintf(a->namebuf[2 * h + 1], sizeof(a->namebuf[0]), "f2_within_%lldd", H);
        a->fields[a->nfields++] = a->namebuf[2 * h];
        a->fields[a->nfields++] = a->namebuf[2 * h + 1];
    }
    ltv_agg_hnames(a, 0, "cohort_from_", "");
    ltv_agg_hnames(a, 1, "cohort_to_", "");
    ltv_agg_hnames(a, 2, "rolling_f2_rate_", "");
    return 0;
}

/* f2_cohort's field indexes: cohort_size is 0, f2_within_{H}d start at 4. */
#define COHORT_SIZE 0
#define WITHIN0 4

static void roll_derive(const ltv_agg_t *a, const ltv_delta_row_t *base, ltv_deltas_t *out) {
    if (base->id.agg->cls != &ltv_agg_f2_cohort)
        return;
    int64_t W = a->conf->f2_rolling_days;
    for (int h = 0; h < a->conf->nhorizons; h++) {
        int64_t dc = base->d[COHORT_SIZE], dw = base->d[WITHIN0 + h];
        if (!dc && !dw)
            continue;
        int64_t from = base->id.day + a->conf->horizons[h];
        for (int64_t t = from; t < from + W; t++) {
            ltv_deltas_add_field(out, a, t, base->id.dim, 2 * h, dc);
            ltv_deltas_add_field(out, a, t, base->id.dim, 2 * h + 1, dw);
        }
    }
}

static void roll_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                        ltv_out_t *out) {
    char day[16], d1[16], d2[16];
    ltv_day_format(row->id.day, day);
    const char *ch = ltv_channel_label(row->id.dim);
    ltv_buf_printf(&out->key, "%s|%s", day, ch);
    int64_t start = ltv_day_start_ms(row->id.day, a->tz_offset_ms);
    int64_t end = start + LTV_DAY_MS;
    int64_t W = a->conf->f2_rolling_days;

    ltv_out_str(out, "day", day);
    ltv_out_str(out, "channel", ch);
    ltv_out_ts(out, "window_start", start);
    ltv_out_ts(out, "window_end", end);
    ltv_out_i64(out, "window_days", W);
    for (int h = 0; h < a->conf->nhorizons; h++) {
        long long H = (long long)a->conf->horizons[h];
        ltv_day_format(row->id.day - H - W + 1, d1);
        ltv_day_format(row->id.day - H, d2);
        ltv_out_str(out, a->hname[0][h], d1);
        ltv_out_str(out, a->hname[1][h], d2);
        ltv_out_i64(out, a->fields[2 * h], row->v[2 * h]);
        ltv_out_i64(out, a->fields[2 * h + 1], row->v[2 * h + 1]);
        ltv_out_rate(out, a->hname[2][h], row->v[2 * h + 1], row->v[2 * h]);
    }
    ltv_out_ts_null(out, "watermark", info->watermark);
    /* Every cohort in the window matured by the end of day t. */
    ltv_out_bool(out, "final", info->watermark >= end);
    ltv_out_i64(out, "version", row->version);
}

static int roll_milestones(const ltv_agg_t *a, const ltv_rowid_t *id, int64_t *out) {
    out[0] = ltv_day_start_ms(id->day + 1, a->tz_offset_ms);
    return 1;
}

/* The rate of day t exists once the clock reaches day t. */
static int64_t roll_visible(const ltv_agg_t *a, const ltv_rowid_t *id) {
    return ltv_day_start_ms(id->day, a->tz_offset_ms);
}

const ltv_agg_class_t ltv_agg_f2_rolling = {
    .name = "f2_rolling",
    .facets = 0,
    .init = roll_init,
    .derive = roll_derive,
    .render = roll_render,
    .milestones = roll_milestones,
    .visible_from = roll_visible,
};
