#include "lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_MS INT64_C(3600000)

static const char *const names[LTV_TRG__N] = {
    "first_purchase",     "second_purchase", "f2_followup_due", "revisit_due",
    "signup_no_purchase", "segment_changed", "lapsed",
};

/* Occasions that happen more than once per customer carry a parameter. */
static int has_param(int type) {
    return type == LTV_TRG_F2_FOLLOWUP || type == LTV_TRG_SEGMENT_CHANGED ||
           type == LTV_TRG_LAPSED;
}

const char *ltv_trigger_name(int type) {
    return type >= 0 && type < LTV_TRG__N ? names[type] : NULL;
}

struct ltv_lifecycle_s {
    int enabled;
    int64_t followup[LTV_MAX_HORIZONS]; /* days, ascending */
    int nfollowup;
    int64_t revisit_ms, signup_ms;
    int64_t tz;
    const ltv_rfm_conf_t *rfm;
    char **fired;
    int nfired, capfired;
};

static int i64_cmp(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

ltv_lifecycle_t *ltv_lifecycle_new(const ltv_conf_t *conf, const ltv_rfm_conf_t *rfm) {
    ltv_lifecycle_t *lc = ltv_calloc(1, sizeof(*lc));
    lc->enabled = conf->topic_lifecycle && conf->topic_lifecycle[0];
    lc->nfollowup = conf->lc_nfollowup;
    memcpy(lc->followup, conf->lc_followup_days, sizeof(int64_t) * (size_t)lc->nfollowup);
    /* Settled in ascending order: "settled through day d" is then one number. */
    qsort(lc->followup, (size_t)lc->nfollowup, sizeof(int64_t), i64_cmp);
    lc->revisit_ms = conf->lc_revisit_hours * HOUR_MS;
    lc->signup_ms = conf->lc_signup_days * LTV_DAY_MS;
    lc->tz = conf->tz_offset_ms;
    lc->rfm = rfm;
    return lc;
}

void ltv_lifecycle_reset(ltv_lifecycle_t *lc) {
    for (int i = 0; i < lc->nfired; i++)
        free(lc->fired[i]);
    lc->nfired = 0;
}

void ltv_lifecycle_destroy(ltv_lifecycle_t *lc) {
    if (!lc)
        return;
    ltv_lifecycle_reset(lc);
    free(lc->fired);
    free(lc);
}

int ltv_lifecycle_enabled(const ltv_lifecycle_t *lc) { return lc && lc->enabled; }

int ltv_lifecycle_fired(const ltv_lifecycle_t *lc, char *const **members) {
    *members = lc->fired;
    return lc->nfired;
}

/* ---- firing ------------------------------------------------------------------ */

/* Absent strings are stored as \x01, so they stay distinct from "" (the
 * stored order encoding does the same). Attribution strings never hold
 * control characters (customer.c replaces them). */
static void put_opt(ltv_buf_t *b, const char *s) {
    if (s)
        ltv_buf_puts(b, s);
    else
        ltv_buf_putc(b, '\x01');
    ltv_buf_putc(b, '\x1f');
}

static void put_i64(ltv_buf_t *b, int64_t v) {
    ltv_buf_put_i64(b, v);
    ltv_buf_putc(b, '\x1f');
}

/* Days from the first purchase's day to at's, or none when there was no
 * purchase by then. */
static int64_t days_since_first(const ltv_lifecycle_t *lc, const ltv_customer_t *c, int64_t at) {
    if (c->n < 1 || c->fts[0] > at)
        return INT64_MIN;
    return ltv_day_of(at, lc->tz) - ltv_day_of(c->fts[0], lc->tz);
}

/* The member holds every value the record shows, customer id last (the
 * only part that may contain any byte but a newline). */
static void fire(ltv_lifecycle_t *lc, const ltv_customer_t *c, int type, int64_t param,
                 int64_t at, const char *from, const char *to) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_puts(&b, "t|");
    ltv_buf_puts(&b, names[type]);
    ltv_buf_putc(&b, '\x1f');
    put_i64(&b, param);
    put_i64(&b, at);
    int64_t days = days_since_first(lc, c, at);
    if (days != INT64_MIN)
        ltv_buf_put_i64(&b, days);
    ltv_buf_putc(&b, '\x1f');
    put_i64(&b, c->n);
    put_i64(&b, c->n >= 1 ? c->fts[0] : 0);
    put_opt(&b, from);
    put_opt(&b, to);
    put_opt(&b, c->channel);
    put_opt(&b, c->campaign);
    ltv_buf_append(&b, c->id, c->idlen);
    if (lc->nfired == lc->capfired) {
        lc->capfired = lc->capfired ? lc->capfired * 2 : 64;
        lc->fired = ltv_realloc(lc->fired, sizeof(*lc->fired) * (size_t)lc->capfired);
    }
    lc->fired[lc->nfired++] = b.p;
}

static int tracked(const ltv_lifecycle_t *lc, const ltv_customer_t *c) {
    return lc && lc->enabled && c->kind == LTV_ENT_CUSTOMER;
}

/* The lifecycle fields changed: the customer's value is written with them
 * (its lifecycle section, which from now on it keeps). */
static void mark(ltv_customer_t *c) {
    c->dirty |= LTV_D_LIFECYCLE;
    c->lc_kept = 1;
}

void ltv_lifecycle_on_event(ltv_lifecycle_t *lc, ltv_customer_t *c, const ltv_event_t *ev,
                            int64_t n_before, int64_t first_visit_before) {
    if (!tracked(lc, c))
        return;
    uint32_t done0 = c->lc_done;
    int silent = (c->lc_done & LTV_LC_UNTRACKED) != 0;
    if (ev->kind == LTV_EV_PURCHASE) {
        /* Only the event that makes the count reach 1 (2) fires: a
         * customer whose first order was cancelled and who orders again is
         * not greeted twice, and one stored before triggers existed is
         * settled without firing. */
        if (c->n >= 1 && !(c->lc_done & LTV_LC_FIRST)) {
            if (n_before == 0 && !silent)
                fire(lc, c, LTV_TRG_FIRST_PURCHASE, 0, c->fts[0], NULL, NULL);
            c->lc_done |= LTV_LC_FIRST;
        }
        if (c->n >= 2 && !(c->lc_done & LTV_LC_SECOND)) {
            if (n_before < 2 && !silent)
                fire(lc, c, LTV_TRG_SECOND_PURCHASE, 0, c->fts[1], NULL, NULL);
            c->lc_done |= LTV_LC_SECOND;
        }
    } else {
        /* The earliest visit on a later day than the first visit's: kept
         * exact whatever order visits arrive in. A visit earlier than the
         * first one becomes the first; if it falls on an earlier day, every
         * visit seen so far is on a later day, and the old first visit is
         * the earliest of them. */
        int64_t t = ev->ts, fv = first_visit_before, rv = c->lc_revisit_ts;
        if (fv && t < fv) {
            if (ltv_day_of(fv, lc->tz) > ltv_day_of(t, lc->tz))
                rv = fv;
        } else if (fv && ltv_day_of(t, lc->tz) > ltv_day_of(fv, lc->tz) && (!rv || t < rv)) {
            rv = t;
        }
        if (rv != c->lc_revisit_ts) {
            c->lc_revisit_ts = rv;
            mark(c);
        }
        if (ev->signup && (!c->lc_signup_ts || t < c->lc_signup_ts)) {
            c->lc_signup_ts = t;
            mark(c);
        }
    }
    if (c->lc_done != done0)
        mark(c);
}

void ltv_lifecycle_on_rescore(ltv_lifecycle_t *lc, ltv_customer_t *c, int old_r, int old_seg) {
    if (!tracked(lc, c) || c->n < 1)
        return;
    /* When it happened in event time: the day the current R score began
     * (as r_score_since in ltv.customer_rfm), or the last purchase if that
     * is what changed the scores. */
    int64_t last = ltv_day_of(c->last_ts, lc->tz);
    int r = c->rfm_r;
    int64_t since = r >= 5 || r < 1 ? last : last + lc->rfm->r_days[4 - r] + 1;
    int64_t at = ltv_day_start_ms(since, lc->tz);
    if (c->last_ts > at)
        at = c->last_ts;
    if (old_seg >= 0 && c->rfm_seg >= 0 && old_seg != c->rfm_seg)
        fire(lc, c, LTV_TRG_SEGMENT_CHANGED, c->rfm_version, at, lc->rfm->names[old_seg],
             lc->rfm->names[c->rfm_seg]);
    if (r == 1 && old_r != 1)
        fire(lc, c, LTV_TRG_LAPSED, c->rfm_version, at, NULL, NULL);
}

/* Follow-ups count from the first order placed, cancelled or not (the
 * earliest order seen; orders are sorted seen first, by time). Anchored on
 * the first *active* order, which days are settled by a watermark would
 * depend on whether a cancellation arrived before or after it, and the
 * stored state of two runs over the same input would differ; this way it
 * depends on the input and the watermark only. Whether one fires still
 * judges the active orders. */
static int64_t followup_anchor(const ltv_customer_t *c) {
    return c->norders && c->orders[0].seen ? c->orders[0].ts : 0;
}

/* The next follow-up day not settled yet, or 0. */
static int64_t next_followup(const ltv_lifecycle_t *lc, const ltv_customer_t *c) {
    for (int i = 0; i < lc->nfollowup; i++)
        if (lc->followup[i] > c->lc_f2_day)
            return lc->followup[i];
    return 0;
}

int64_t ltv_lifecycle_next_due(const ltv_lifecycle_t *lc, const ltv_customer_t *c) {
    if (!tracked(lc, c))
        return 0;
    int64_t best = 0, d, anchor = followup_anchor(c);
    if (anchor && (d = next_followup(lc, c)))
        best = anchor + d * LTV_DAY_MS;
    if (!(c->lc_done & LTV_LC_REVISIT) && c->first_visit_ts) {
        d = c->first_visit_ts + lc->revisit_ms;
        if (!best || d < best)
            best = d;
    }
    if (!(c->lc_done & LTV_LC_SIGNUP) && c->lc_signup_ts) {
        d = c->lc_signup_ts + lc->signup_ms;
        if (!best || d < best)
            best = d;
    }
    return best;
}

void ltv_lifecycle_settle(ltv_lifecycle_t *lc, ltv_customer_t *c, int64_t wm, int force) {
    if (!tracked(lc, c))
        return;
    uint32_t done0 = c->lc_done;
    int32_t day0 = c->lc_f2_day;
    if (wm != INT64_MIN) {
        int silent = (c->lc_done & LTV_LC_UNTRACKED) != 0;
        /* Each condition is judged in event time, at the due time: what
         * the customer did after it does not count, whenever it arrived. */
        int64_t d, anchor = followup_anchor(c);
        while (anchor && (d = next_followup(lc, c))) {
            int64_t due = anchor + d * LTV_DAY_MS;
            if (due > wm)
                break;
            if (!silent && c->n >= 1 && (c->n < 2 || c->fts[1] > due))
                fire(lc, c, LTV_TRG_F2_FOLLOWUP, d, due, NULL, NULL);
            c->lc_f2_day = (int32_t)d;
        }
        if (!(c->lc_done & LTV_LC_REVISIT) && c->first_visit_ts) {
            int64_t due = c->first_visit_ts + lc->revisit_ms;
            if (due <= wm) {
                if (!silent && (!c->lc_revisit_ts || c->lc_revisit_ts > due))
                    fire(lc, c, LTV_TRG_REVISIT, 0, due, NULL, NULL);
                c->lc_done |= LTV_LC_REVISIT;
            }
        }
        if (!(c->lc_done & LTV_LC_SIGNUP) && c->lc_signup_ts) {
            int64_t due = c->lc_signup_ts + lc->signup_ms;
            if (due <= wm) {
                if (!silent && (c->n < 1 || c->fts[0] > due))
                    fire(lc, c, LTV_TRG_SIGNUP_NO_PURCHASE, 0, due, NULL, NULL);
                c->lc_done |= LTV_LC_SIGNUP;
            }
        }
        /* What was due is settled; from here on the customer is tracked. */
        c->lc_done &= ~(uint32_t)LTV_LC_UNTRACKED;
        if (c->n >= 1)
            c->lc_done |= LTV_LC_FIRST;
        if (c->n >= 2)
            c->lc_done |= LTV_LC_SECOND;
    }
    int64_t due = ltv_lifecycle_next_due(lc, c);
    /* A customer seen for the first time while triggers are on is written
     * with its lifecycle section even when nothing is settled or due yet:
     * without it, the value would read back as untracked, and whether the
     * customer was cached or re-read would change what fires. */
    if (force || !c->lc_kept || due != c->lc_due || c->lc_done != done0 ||
        c->lc_f2_day != day0) {
        c->lc_due = due;
        mark(c);
    }
    /* A customer found due in the sorted set has its score written back
     * whatever it is, so an entry that disagrees with the stored value
     * (left by an interrupted `ns drop` or a partial restore) is repaired
     * or removed the first time it is polled, not polled forever. */
    if (force)
        c->lc_due_stored = INT64_MIN;
}

/* ---- members and records ------------------------------------------------------ */

int ltv_trigger_type_of(const char *member) {
    if (strncmp(member, "t|", 2))
        return -1;
    const char *s = member + 2;
    size_t l = strcspn(s, "\x1f");
    for (int i = 0; i < LTV_TRG__N; i++)
        if (strlen(names[i]) == l && !strncmp(s, names[i], l))
            return i;
    return -1;
}

/* A decimal integer, the whole string: every trigger emitted is split
 * back into its fields (ltv_trigger_decode), so no strtoll. */
static int parse_i64(const char *s, int64_t *out) {
    int neg = *s == '-';
    s += neg;
    if (!*s)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > (uint64_t)INT64_MAX + (uint64_t)neg)
        return -1;
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return 0;
}

static const char *opt_of(const char *s) { return s[0] == '\x01' && !s[1] ? NULL : s; }

int ltv_trigger_decode(char *member, ltv_trigger_t *t) {
    memset(t, 0, sizeof(*t));
    t->type = ltv_trigger_type_of(member);
    if (t->type < 0)
        return -1;
    /* type, param, at, days, n, first_ts, from, to, channel, campaign, customer */
    char *part[11];
    char *s = member + 2;
    for (int i = 0; i < 10; i++) {
        char *e = strchr(s, '\x1f');
        if (!e)
            return -1;
        *e = '\0';
        part[i] = s;
        s = e + 1;
    }
    part[10] = s;
    t->days = INT64_MIN;
    if (parse_i64(part[1], &t->param) || parse_i64(part[2], &t->at) ||
        (part[3][0] && parse_i64(part[3], &t->days)) || parse_i64(part[4], &t->n) ||
        parse_i64(part[5], &t->first_ts))
        return -1;
    t->from = opt_of(part[6]);
    t->to = opt_of(part[7]);
    t->channel = opt_of(part[8]);
    t->campaign = opt_of(part[9]);
    t->customer = part[10];
    return 0;
}

/* "<name>" or "<name>:<param>" into occ (LTV_TRIGGER_OCCASION_MAX bytes);
 * returns the length. */
static size_t occasion_str(const ltv_trigger_t *t, char *occ) {
    size_t n = strlen(names[t->type]);
    memcpy(occ, names[t->type], n);
    if (has_param(t->type)) {
        occ[n++] = ':';
        n += ltv_fmt_i64(t->param, occ + n);
    }
    occ[n] = '\0';
    return n;
}

void ltv_trigger_occasion(const ltv_trigger_t *t, ltv_buf_t *out) {
    char occ[LTV_TRIGGER_OCCASION_MAX];
    size_t n = occasion_str(t, occ);
    ltv_buf_reset(out);
    ltv_buf_append(out, occ, n);
}

/* One record per trigger fired, most of the lifecycle topic's volume: the
 * occasion and trigger id are built on the stack. */
void ltv_trigger_render(const ltv_trigger_t *t, int64_t watermark, ltv_out_t *out) {
    char occ[LTV_TRIGGER_OCCASION_MAX];
    size_t on = occasion_str(t, occ);
    size_t cn = strlen(t->customer);
    ltv_buf_append(&out->key, t->customer, cn);
    /* A stream of events, not a table: a record is identified by its
     * customer (the key) and occasion (this header, and trigger_id in the
     * value), which is how a re-emission finds what was delivered. */
    out->hdr_name = "occasion";
    ltv_buf_append(&out->hdr_value, occ, on);
    ltv_out_str(out, "customer_id", t->customer);
    ltv_out_str(out, "trigger", names[t->type]);
    ltv_out_str(out, "occasion", occ);
    /* "<customer>|<occasion>", built in the row's own key buffer after the
     * key (which stays the customer alone). */
    ltv_buf_putc(&out->key, '|');
    ltv_buf_append(&out->key, occ, on);
    ltv_out_str(out, "trigger_id", out->key.p);
    out->key.n = cn;
    out->key.p[cn] = '\0';
    ltv_out_ts(out, "at", t->at);
    ltv_out_i64_null(out, "days_since_first_purchase", t->days == INT64_MIN ? 0 : t->days,
                     t->days == INT64_MIN);
    ltv_out_i64(out, "purchase_count", t->n);
    ltv_out_ts_null(out, "first_purchase_ts", t->first_ts ? t->first_ts : INT64_MIN);
    ltv_out_str_null(out, "segment_from", t->from);
    ltv_out_str_null(out, "segment_to", t->to);
    /* As in the other topics: no (or an empty) channel is "(none)". */
    ltv_out_str_null(out, "first_channel",
                     t->first_ts ? (t->channel && *t->channel ? t->channel : "(none)") : NULL);
    ltv_out_str_null(out, "first_campaign", t->first_ts ? t->campaign : NULL);
    ltv_out_ts_null(out, "watermark", watermark);
}
