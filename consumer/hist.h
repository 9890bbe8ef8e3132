/*
 * A fixed-bucket histogram, as Prometheus models one: per-bucket counts
 * against upper bounds, plus the sum and the count of observations. Plain
 * data owned by one thread (the run loop); it is copied, never shared.
 */
#ifndef LTV_HIST_H
#define LTV_HIST_H

#include <stdint.h>

#define LTV_HIST_MAX_BOUNDS 15

typedef struct ltv_hist_s {
    const double *bounds;  /* ascending upper bounds (static storage), +Inf implied */
    int nbounds;
    /* counts[i]: observations in (bounds[i-1], bounds[i]]; counts[nbounds]:
     * above the last bound. Not cumulative: rendering accumulates. */
    uint64_t counts[LTV_HIST_MAX_BOUNDS + 1];
    double sum;
    uint64_t count;
} ltv_hist_t;

/* bounds must outlive the histogram; at most LTV_HIST_MAX_BOUNDS. */
void ltv_hist_init(ltv_hist_t *h, const double *bounds, int nbounds);
void ltv_hist_observe(ltv_hist_t *h, double v);

/* Bounds in seconds for latencies of a Redis round trip and of a batch. */
extern const double ltv_hist_redis_bounds[];
extern const int ltv_hist_redis_nbounds;
extern const double ltv_hist_batch_bounds[];
extern const int ltv_hist_batch_nbounds;
/* Bounds in events, for the number of events a batch holds. */
extern const double ltv_hist_batch_events_bounds[];
extern const int ltv_hist_batch_events_nbounds;

#endif
