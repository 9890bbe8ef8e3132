/*
 * A minimal HTTP/1.0 GET over a plain socket: enough for `ltvstream
 * healthcheck` to probe the stage's own endpoint from inside a container
 * image that has no curl or wget, and for the tests to scrape it.
 */
#ifndef LTV_HTTP_GET_H
#define LTV_HTTP_GET_H

#include <stddef.h>

#include "util.h"

/* GETs http://host:port/path (host: a numeric IPv4/IPv6 address or a name),
 * waiting at most timeout_ms for each of connect, send and every read.
 * The whole response (status line, headers, body) is appended to `resp`
 * when given. Returns the HTTP status, or -1 with errstr filled when there
 * is no connection or no valid answer. */
int ltv_http_get(const char *host, int port, const char *path, int timeout_ms, ltv_buf_t *resp,
                 char *errstr, size_t errstr_size);

#endif
