/*
 * F2 cohort rows (topic ltv.f2_rate): customers whose first purchase falls
 * on day D, overall and per acquisition channel (the first purchase's
 * channel), and how many of them went on to a 2nd, 3rd, 4th purchase, and
 * to a 2nd within each horizon H.
 *
 * The horizon is counted in days of the configured zone: a second purchase
 * counts for f2_within_{H}d when it falls on day D + H or earlier, so the
 * value can no longer change once the watermark passes the end of day
 * D + H, i.e. D + 1 day + H as the specification puts it.
 */
#include "agg.h"

#include <stdio.h>
#include <string.h>

enum { F_COHORT, F_F2, F_F3, F_F4, F_WITHIN0 };

static int f2_init(ltv_agg_t *a, const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    a->topic = conf->topic_f2_rate;
    a->fields[F_COHORT] = "cohort_size";
    a->fields[F_F2] = "f2_count";
    a->fields[F_F3] = "f3_count";
    a->fields[F_F4] = "f4_count";
    a->nfields = F_WITHIN0;
    for (int i = 0; i < conf->nhorizons; i++) {
        snprintf(a->namebuf[i], sizeof(a->namebuf[i]), "f2_within_%lldd",
                 (long long)conf->horizons[i]);
        a->fields[a->nfields++] = a->namebuf[i];
    }
    ltv_agg_hnames(a, 0, "f2_rate_", "");
    ltv_agg_hnames(a, 1, "f2_rate_", "_final");
    return 0;
}

size_t ltv_dim_label(const char *v, char *out, size_t n) {
    int len;
    if (!v || !*v)
        len = snprintf(out, n, "(none)");
    else if (!strcmp(v, "all") || !strcmp(v, "(none)") || v[0] == '~')
        len = snprintf(out, n, "~%s", v);
    else
        len = snprintf(out, n, "%s", v);
    return (size_t)(len < (int)n ? len : (int)n - 1);
}

/* The channel as a row dimension. "" is the all-channels row, so a missing
 * or empty channel becomes "(none)"; a channel whose name collides with
 * the reserved "all" or "(none)" (or starts with the escape '~') is
 * prefixed with '~', so no two rows ever share an output key. */
static const char *channel_dim(const ltv_agg_t *a, const char *ch) {
    char tmp[256];
    size_t n = ltv_dim_label(ch, tmp, sizeof(tmp));
    return ltv_intern(a->aggs, tmp, n);
}

void ltv_cohort_contribute(const ltv_agg_t *a, const ltv_customer_t *c, const char *const *dims,
                           int ndims, const ltv_cohort_fields_t *f, ltv_contribs_t *out) {
    if (c->n < 1)
        return;
    int64_t day = ltv_day_of(c->fts[0], a->tz_offset_ms);
    int64_t d2 = c->n >= 2 ? ltv_day_of(c->fts[1], a->tz_offset_ms) : 0;
    for (int k = 0; k < ndims; k++) {
        ltv_contrib_add(out, a, day, dims[k], f->cohort, 1);
        if (c->n >= 2) {
            ltv_contrib_add(out, a, day, dims[k], f->f2, 1);
            for (int h = 0; h < a->conf->nhorizons; h++)
                if (d2 - day <= a->conf->horizons[h])
                    ltv_contrib_add(out, a, day, dims[k], f->within0 + h, 1);
        }
        if (c->n >= 3 && f->f3 >= 0)
            ltv_contrib_add(out, a, day, dims[k], f->f3, 1);
        if (c->n >= 4 && f->f4 >= 0)
            ltv_contrib_add(out, a, day, dims[k], f->f4, 1);
    }
}

static void f2_contribute(const ltv_agg_t *a, const ltv_customer_t *c, int facets,
                          ltv_contribs_t *out) {
    if (c->n < 1)
        return;
    static const ltv_cohort_fields_t fields = {F_COHORT, F_F2, F_F3, F_F4, F_WITHIN0};
    const char *dims[2] = {ltv_intern(a->aggs, "", 0), channel_dim(a, c->channel)};
    ltv_cohort_contribute(a, c, dims, 2, &fields, out);
}

/* The highest horizon decides when the whole row is final. */
int64_t ltv_max_horizon(const ltv_conf_t *conf) {
    int64_t h = 0;
    for (int i = 0; i < conf->nhorizons; i++)
        if (conf->horizons[i] > h)
            h = conf->horizons[i];
    return h;
}

const char *ltv_channel_label(const char *dim) { return *dim ? dim : "all"; }

static void f2_render(const ltv_agg_t *a, const ltv_row_t *row, const ltv_emit_info_t *info,
                      ltv_out_t *out) {
    char day[16];
    ltv_day_format(row->id.day, day);
    const char *ch = ltv_channel_label(row->id.dim);
    ltv_buf_printf(&out->key, "%s|%s", day, ch);

    int64_t start = ltv_day_start_ms(row->id.day, a->tz_offset_ms);
    int64_t end = start + LTV_DAY_MS;
    ltv_out_str(out, "cohort_day", day);
    ltv_out_str(out, "channel", ch);
    ltv_out_ts(out, "window_start", start);
    ltv_out_ts(out, "window_end", end);
    for (int f = 0; f < a->nfields; f++)
        ltv_out_i64(out, a->fields[f], row->v[f]);
    ltv_out_rate(out, "f2_rate", row->v[F_F2], row->v[F_COHORT]);
    for (int h = 0; h < a->conf->nhorizons; h++) {
        ltv_out_rate(out, a->hname[0][h], row->v[F_WITHIN0 + h], row->v[F_COHORT]);
        ltv_out_bool(out, a->hname[1][h],
                     info->watermark >= end + a->conf->horizons[h] * LTV_DAY_MS);
    }
    ltv_out_rate(out, "f3_given_f2", row->v[F_F3], row->v[F_F2]);
    ltv_out_rate(out, "f4_given_f3", row->v[F_F4], row->v[F_F3]);
    ltv_out_ts_null(out, "watermark", info->watermark);
    ltv_out_bool(out, "final", info->watermark >= end + ltv_max_horizon(a->conf) * LTV_DAY_MS);
    ltv_out_i64(out, "version", row->version);
}

static int f2_milestones(const ltv_agg_t *a, const ltv_rowid_t *id, int64_t *out) {
    int64_t end = ltv_day_start_ms(id->day + 1, a->tz_offset_ms);
    int n = 0;
    for (int h = 0; h < a->conf->nhorizons && n < LTV_MAX_MILESTONES; h++)
        out[n++] = end + a->conf->horizons[h] * LTV_DAY_MS;
    return n;
}

const ltv_agg_class_t ltv_agg_f2_cohort = {
    .name = "f2_cohort",
    .facets = LTV_FACET_ORDERS,
    .init = f2_init,
    .contribute = f2_contribute,
    .render = f2_render,
    .milestones = f2_milestones,
};
