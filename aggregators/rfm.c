#include "rfm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int parse_edges(const char *key, const char *v, int64_t *out, int strict_inc,
                       char *errstr, size_t errstr_size) {
    int n = 0;
    const char *s = v;
    while (*s && n <= LTV_RFM_EDGES) {
        char *end;
        long long x = strtoll(s, &end, 10);
        if (end == s || x < 0 || (*end && *end != ',')) {
            n = -1;
            break;
        }
        if (n < LTV_RFM_EDGES)
            out[n] = x;
        n++;
        s = *end ? end + 1 : end;
    }
    if (n != LTV_RFM_EDGES) {
        snprintf(errstr, errstr_size, "%s: \"%s\" must be %d comma-separated non-negative integers",
                 key, v, LTV_RFM_EDGES);
        return -1;
    }
    for (int i = 1; i < n; i++)
        if (strict_inc && out[i] <= out[i - 1]) {
            snprintf(errstr, errstr_size, "%s: \"%s\" must be strictly increasing", key, v);
            return -1;
        }
    return 0;
}

/* "lo-hi" or "n" within 1..5. */
static int parse_range(const char *s, size_t n, int *lo, int *hi) {
    char tmp[8];
    if (!n || n >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char tail;
    if (sscanf(tmp, "%d-%d%c", lo, hi, &tail) == 2) {
    } else if (sscanf(tmp, "%d%c", lo, &tail) == 1) {
        *hi = *lo;
    } else {
        return -1;
    }
    return *lo < 1 || *hi > 5 || *lo > *hi ? -1 : 0;
}

int ltv_rfm_conf_parse(ltv_rfm_conf_t *rc, const ltv_conf_t *conf, char *errstr,
                       size_t errstr_size) {
    memset(rc, 0, sizeof(*rc));
    if (parse_edges("rfm.r.days", conf->rfm_r_days, rc->r_days, 1, errstr, errstr_size) ||
        parse_edges("rfm.f.edges", conf->rfm_f_edges, rc->f_edges, 1, errstr, errstr_size) ||
        parse_edges("rfm.m.edges", conf->rfm_m_edges, rc->m_edges, 1, errstr, errstr_size))
        return -1;
    memset(rc->map, -1, sizeof(rc->map));
    /* name:R:F,name:R:F,... */
    const char *s = conf->rfm_segments;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        const char *c1 = memchr(s, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - s)) : NULL;
        int rlo, rhi, flo, fhi;
        if (!c1 || !c2 || c1 == s || (size_t)(c1 - s) >= sizeof(rc->names[0]) ||
            rc->nseg == LTV_RFM_MAX_SEGMENTS ||
            parse_range(c1 + 1, (size_t)(c2 - c1 - 1), &rlo, &rhi) ||
            parse_range(c2 + 1, len - (size_t)(c2 + 1 - s), &flo, &fhi)) {
            snprintf(errstr, errstr_size,
                     "rfm.segments: \"%.*s\" is not name:R:F with R, F a score or range in 1..5 "
                     "(at most %d segments)",
                     (int)len, s, LTV_RFM_MAX_SEGMENTS);
            return -1;
        }
        /* A segment name becomes a field of rfm_segments rows (JSON and
         * Avro): it must be an Avro name and not one of the row's own. */
        static const char *reserved[] = {"day", "window_start", "window_end", "customers",
                                         "watermark", "final", "version"};
        size_t nl = (size_t)(c1 - s);
        int valid = (s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') || s[0] == '_';
        for (size_t k = 1; k < nl; k++)
            valid &= (s[k] >= 'A' && s[k] <= 'Z') || (s[k] >= 'a' && s[k] <= 'z') ||
                     (s[k] >= '0' && s[k] <= '9') || s[k] == '_';
        for (size_t k = 0; k < sizeof(reserved) / sizeof(reserved[0]); k++)
            if (strlen(reserved[k]) == nl && !strncmp(s, reserved[k], nl))
                valid = 0;
        if (!valid) {
            snprintf(errstr, errstr_size,
                     "rfm.segments: \"%.*s\" is not a usable segment name (letters, digits and _, "
                     "not starting with a digit, and not day, window_start, window_end, "
                     "customers, watermark, final or version)",
                     (int)nl, s);
            return -1;
        }
        int idx = -1;
        for (int i = 0; i < rc->nseg; i++)
            if (strlen(rc->names[i]) == (size_t)(c1 - s) && !strncmp(rc->names[i], s, (size_t)(c1 - s)))
                idx = i;
        if (idx < 0) {
            idx = rc->nseg++;
            memcpy(rc->names[idx], s, (size_t)(c1 - s));
        }
        for (int r = rlo; r <= rhi; r++)
            for (int f = flo; f <= fhi; f++)
                if (rc->map[r][f] < 0) /* first match wins */
                    rc->map[r][f] = (int8_t)idx;
        s = e ? e + 1 : s + len;
    }
    for (int r = 1; r <= 5; r++)
        for (int f = 1; f <= 5; f++)
            if (rc->map[r][f] < 0) {
                snprintf(errstr, errstr_size, "rfm.segments: no rule covers R=%d F=%d", r, f);
                return -1;
            }
    return 0;
}

int ltv_rfm_r_score(const ltv_rfm_conf_t *rc, int64_t days) {
    for (int i = 0; i < LTV_RFM_EDGES; i++)
        if (days <= rc->r_days[i])
            return 5 - i;
    return 1;
}

int ltv_rfm_f_score(const ltv_rfm_conf_t *rc, int64_t n) {
    int s = 1;
    for (int i = 0; i < LTV_RFM_EDGES; i++)
        s += n > rc->f_edges[i];
    return s;
}

int ltv_rfm_m_score(const ltv_rfm_conf_t *rc, int64_t m) {
    int s = 1;
    for (int i = 0; i < LTV_RFM_EDGES; i++)
        s += m >= rc->m_edges[i];
    return s;
}

int ltv_rfm_segment(const ltv_rfm_conf_t *rc, int r, int f) { return rc->map[r][f]; }

void ltv_rfm_score(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t day, int64_t tz,
                   ltv_rfm_t *out) {
    if (c->n < 1) {
        out->r = out->f = out->m = 0;
        out->seg = -1;
        return;
    }
    int64_t since = day - ltv_day_of(c->last_ts, tz);
    if (since < 0)
        since = 0; /* bought after the clock: as recent as can be */
    out->r = (int8_t)ltv_rfm_r_score(rc, since);
    out->f = (int8_t)ltv_rfm_f_score(rc, c->n);
    out->m = (int8_t)ltv_rfm_m_score(rc, c->monetary);
    out->seg = (int16_t)ltv_rfm_segment(rc, out->r, out->f);
}

static void push(ltv_rfm_step_t **steps, int *n, int *cap, int64_t day, int seg) {
    if (*n && (*steps)[*n - 1].seg == seg)
        return;
    if (*n && (*steps)[*n - 1].day == day) {
        (*steps)[*n - 1].seg = seg; /* a later rule for the same day wins */
        if (*n > 1 && (*steps)[*n - 2].seg == seg)
            (*n)--;
        return;
    }
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *steps = ltv_realloc(*steps, sizeof(**steps) * (size_t)*cap);
    }
    (*steps)[*n].day = day;
    (*steps)[*n].seg = seg;
    (*n)++;
}

int ltv_rfm_timeline(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t tz,
                     ltv_rfm_step_t **steps, int *cap) {
    int n = 0;
    int64_t f = 0;
    /* Active orders are sorted by time; walk their distinct days. */
    for (int i = 0; i < c->norders;) {
        const ltv_order_t *o = &c->orders[i];
        if (!o->seen || o->cancelled) {
            i++;
            continue;
        }
        int64_t d = ltv_day_of(o->ts, tz);
        /* every active order on day d counts from d on */
        int j = i;
        while (j < c->norders) {
            const ltv_order_t *q = &c->orders[j];
            if (q->seen && !q->cancelled) {
                if (ltv_day_of(q->ts, tz) != d)
                    break;
                f++;
            }
            j++;
        }
        /* the next order day bounds this stretch */
        int64_t next = INT64_MAX;
        for (int k = j; k < c->norders; k++)
            if (c->orders[k].seen && !c->orders[k].cancelled) {
                next = ltv_day_of(c->orders[k].ts, tz);
                break;
            }
        int fs = ltv_rfm_f_score(rc, f);
        push(steps, &n, cap, d, ltv_rfm_segment(rc, ltv_rfm_r_score(rc, 0), fs));
        for (int e = 0; e < LTV_RFM_EDGES; e++) {
            int64_t b = d + rc->r_days[e] + 1; /* first day recency exceeds edge e */
            if (b >= next)
                break;
            push(steps, &n, cap, b, ltv_rfm_segment(rc, ltv_rfm_r_score(rc, b - d), fs));
        }
        i = j;
    }
    return n;
}
