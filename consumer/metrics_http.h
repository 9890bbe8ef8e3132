/*
 * The HTTP side of observability: GET /metrics (Prometheus text),
 * /healthz (liveness) and /readyz (readiness), served by libmicrohttpd in
 * its own thread so a scrape never blocks the run loop.
 */
#ifndef LTV_METRICS_HTTP_H
#define LTV_METRICS_HTTP_H

#include <stddef.h>

#include "metrics.h"

typedef struct ltv_metrics_http_s ltv_metrics_http_t;

/* Listens on addr:port (a numeric IPv4 or IPv6 address, or a host name)
 * and serves the board, which must outlive the server. Returns NULL with
 * errstr filled when the address cannot be bound. */
ltv_metrics_http_t *ltv_metrics_http_start(const char *addr, int port, ltv_metrics_t *board,
                                           char *errstr, size_t errstr_size);
void ltv_metrics_http_stop(ltv_metrics_http_t *h);

#endif
