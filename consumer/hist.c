#include "hist.h"

#include <stdlib.h>
#include <string.h>

/* A Redis round trip on a LAN is well under a millisecond; a loaded one or
 * a big batch's load takes tens of milliseconds. */
const double ltv_hist_redis_bounds[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                        0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                        1,      2.5,     5};
const int ltv_hist_redis_nbounds = (int)(sizeof(ltv_hist_redis_bounds) / sizeof(double));

/* A batch flush is a round trip or two plus applying up to
 * batch.max.events events: milliseconds to seconds. */
const double ltv_hist_batch_bounds[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                                        0.25,  0.5,    1,     2.5,  5,     10,   30};
const int ltv_hist_batch_nbounds = (int)(sizeof(ltv_hist_batch_bounds) / sizeof(double));

/* Events per batch: a live stream's batches hold what batch.max.ms
 * gathers (tens to thousands); a catch-up's fill a size bound (100,000 new
 * customers, 400,000 events by default). */
const double ltv_hist_batch_events_bounds[] = {1,     10,     100,    1000,  10000,
                                               50000, 100000, 200000, 400000};
const int ltv_hist_batch_events_nbounds =
    (int)(sizeof(ltv_hist_batch_events_bounds) / sizeof(double));

void ltv_hist_init(ltv_hist_t *h, const double *bounds, int nbounds) {
    memset(h, 0, sizeof(*h));
    if (nbounds > LTV_HIST_MAX_BOUNDS)
        abort(); /* a programming error, caught by any test that runs it */
    h->bounds = bounds;
    h->nbounds = nbounds;
}

void ltv_hist_observe(ltv_hist_t *h, double v) {
    /* Prometheus buckets are "less than or equal": v == bound counts in it. */
    int i = 0;
    while (i < h->nbounds && v > h->bounds[i])
        i++;
    h->counts[i]++;
    h->sum += v;
    h->count++;
}
