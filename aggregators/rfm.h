/*
 * RFM scoring (SPEC §5.3). R = days since the last purchase at the stage's
 * clock, F = purchase count, M = monetary total; each scored 1..5 by
 * configurable edges, and a segment named from (R, F) by an ordered list of
 * rules, first match wins.
 *
 * Two uses:
 *   - a customer's current scores at the clock (ltv.customer_rfm), which
 *     decay as the clock advances even without new events;
 *   - the segment timeline: as of the end of each day t, what segment was
 *     the customer in, given only its orders up to t. Segments change only
 *     on order days and when recency crosses an R edge, so the timeline is
 *     a short list of (day, segment) steps, and the per-day segment counts
 *     (ltv.rfm_segments) are exact sums over customers however late the
 *     orders arrive.
 */
#ifndef LTV_RFM_H
#define LTV_RFM_H

#include <stddef.h>
#include <stdint.h>

#include "conf.h"
#include "customer.h"

#define LTV_RFM_EDGES 4
#define LTV_RFM_MAX_SEGMENTS 16

typedef struct ltv_rfm_conf_s {
    int64_t r_days[LTV_RFM_EDGES];  /* ascending: R score 5 while days <= r_days[0] ... */
    int64_t f_edges[LTV_RFM_EDGES]; /* F score = 1 + #{e : F > e} */
    int64_t m_edges[LTV_RFM_EDGES]; /* M score = 1 + #{e : M >= e} */
    char names[LTV_RFM_MAX_SEGMENTS][32];
    int nseg;
    int8_t map[6][6]; /* [r][f] -> segment index */
} ltv_rfm_conf_t;

typedef struct ltv_rfm_s {
    int8_t r, f, m;   /* 1..5; 0: no purchase */
    int16_t seg;      /* index into names; -1: no purchase */
} ltv_rfm_t;

/* Parses rfm.r.days, rfm.f.edges, rfm.m.edges and rfm.segments. */
int ltv_rfm_conf_parse(ltv_rfm_conf_t *rc, const ltv_conf_t *conf, char *errstr,
                       size_t errstr_size);

int ltv_rfm_r_score(const ltv_rfm_conf_t *rc, int64_t days_since);
int ltv_rfm_f_score(const ltv_rfm_conf_t *rc, int64_t n);
int ltv_rfm_m_score(const ltv_rfm_conf_t *rc, int64_t monetary);
int ltv_rfm_segment(const ltv_rfm_conf_t *rc, int r, int f);

/* The customer's scores at clock day `day` (days cut in tz). */
void ltv_rfm_score(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t day, int64_t tz,
                   ltv_rfm_t *out);

/* One step of the segment timeline: from `day` on (until the next step),
 * the customer is in segment `seg` (-1: none). */
typedef struct ltv_rfm_step_s {
    int64_t day;
    int seg;
} ltv_rfm_step_t;

/* Fills steps (ascending days, consecutive steps differ in segment);
 * returns how many. The first step is the first purchase day. */
int ltv_rfm_timeline(const ltv_rfm_conf_t *rc, const ltv_customer_t *c, int64_t tz,
                     ltv_rfm_step_t **steps, int *cap);

#endif
