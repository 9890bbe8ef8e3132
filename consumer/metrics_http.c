/*
 * /metrics, /healthz and /readyz over libmicrohttpd.
 *
 * The daemon runs its own polling thread (MHD_USE_INTERNAL_POLLING_THREAD):
 * requests are answered from the board's latest snapshot and heartbeat,
 * never by calling into the stage, so a scrape costs the run loop nothing
 * and a stuck run loop still gets an answer (503) from /healthz.
 *
 *   /healthz  200 while the run loop beats (metrics.healthz.stall.ms), else
 *             503: a liveness probe restarts a process whose loop is stuck,
 *             not one that waits for Redis (its waits beat the heartbeat).
 *   /readyz   200 when live, partitions are assigned, Redis is
 *             reachable and the Schema Registry (if configured) answers,
 *             else 503 with the reasons.
 */
#include "metrics_http.h"
#include "log.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <microhttpd.h>

struct ltv_metrics_http_s {
    struct MHD_Daemon *d;
    ltv_metrics_t *board;
};

static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ltv_warn("metrics http: %s", msg);
}

/* Queues a response that takes ownership of body (malloc'd). */
static enum MHD_Result respond(struct MHD_Connection *c, unsigned int status, char *body,
                               size_t len, const char *type) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned int status,
                                    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static enum MHD_Result respond_text(struct MHD_Connection *c, unsigned int status,
                                    const char *fmt, ...) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    va_list ap;
    va_start(ap, fmt);
    ltv_buf_vprintf(&b, fmt, ap);
    va_end(ap);
    return respond(c, status, b.p, b.n, "text/plain; charset=utf-8");
}

static enum MHD_Result serve_metrics(ltv_metrics_http_t *h, struct MHD_Connection *c) {
    ltv_metrics_snap_t snap;
    memset(&snap, 0, sizeof(snap));
    if (ltv_metrics_read(h->board, &snap)) {
        ltv_metrics_snap_free(&snap);
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "starting\n");
    }
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_reserve(&b, 16384);
    ltv_metrics_render(&snap, &b);
    ltv_metrics_snap_free(&snap);
    return respond(c, MHD_HTTP_OK, b.p, b.n, "text/plain; version=0.0.4; charset=utf-8");
}

static enum MHD_Result serve_health(ltv_metrics_http_t *h, struct MHD_Connection *c,
                                    int readiness) {
    ltv_health_t hs;
    ltv_metrics_health(h->board, ltv_mono_us(), &hs);
    if (!readiness) {
        if (hs.live)
            return respond_text(c, MHD_HTTP_OK, "ok\n");
        return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                            "run loop stalled: no progress for %lld ms\n",
                            (long long)hs.since_beat_ms);
    }
    if (hs.ready)
        return respond_text(c, MHD_HTTP_OK, "ready: %d partitions assigned, redis up\n",
                            hs.assigned);
    return respond_text(c, MHD_HTTP_SERVICE_UNAVAILABLE, "not ready:%s%s%s%s%s\n",
                        hs.live ? "" : " run loop stalled;",
                        hs.published ? "" : " starting;",
                        hs.published && hs.assigned <= 0 ? " no partitions assigned;" : "",
                        hs.published && !hs.redis_up ? " redis unreachable;" : "",
                        hs.published && hs.registry_down ? " schema registry unreachable;"
                                                         : "");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
    ltv_metrics_http_t *h = cls;
    (void)version;
    (void)upload_data;
    (void)con_cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) && strcmp(method, MHD_HTTP_METHOD_HEAD)) {
        /* A body (POST) would arrive in further calls; answering now
         * (before reading it) is allowed and closes the exchange. */
        *upload_data_size = 0;
        return respond_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    if (!strcmp(url, "/metrics"))
        return serve_metrics(h, c);
    if (!strcmp(url, "/healthz"))
        return serve_health(h, c, 0);
    if (!strcmp(url, "/readyz"))
        return serve_health(h, c, 1);
    return respond_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics, /healthz, /readyz\n");
}

/* Binds the listening socket ourselves, so a taken port or a bad address
 * is reported with its errno rather than as a bare daemon failure. */
static int listen_on(const char *addr, int port, int *family, char *errstr, size_t errstr_size) {
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof(ps), "%d", port);
    int e = getaddrinfo(addr[0] ? addr : NULL, ps, &hints, &res);
    if (e) {
        snprintf(errstr, errstr_size, "metrics.bind \"%s\": %s", addr, gai_strerror(e));
        return -1;
    }
    int fd = -1;
    int err = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            *family = ai->ai_family;
            break;
        }
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        snprintf(errstr, errstr_size,
                 "metrics endpoint %s:%d: %s (metrics.port=0 disables it)", addr, port,
                 strerror(err));
    return fd;
}

ltv_metrics_http_t *ltv_metrics_http_start(const char *addr, int port, ltv_metrics_t *board,
                                           char *errstr, size_t errstr_size) {
    int family = AF_INET;
    int fd = listen_on(addr, port, &family, errstr, errstr_size);
    if (fd < 0)
        return NULL;
    ltv_metrics_http_t *h = ltv_calloc(1, sizeof(*h));
    h->board = board;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Probes and scrapes are small and rare: a short connection timeout
     * and a connection limit keep a misbehaving client from piling up. */
    h->d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, h,
                            MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                            MHD_OPTION_LISTEN_SOCKET, fd,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)10,
                            MHD_OPTION_CONNECTION_LIMIT, (unsigned int)32,
                            MHD_OPTION_END);
    if (!h->d) {
        /* Not closed here: whether a failed start already closed the socket
         * it was given depends on where it failed, and closing a reused fd
         * number could hit another thread's socket. The stage exits. */
        free(h);
        snprintf(errstr, errstr_size, "metrics endpoint %s:%d: cannot start the HTTP daemon",
                 addr, port);
        return NULL;
    }
    ltv_info("metrics: http://%s:%d/metrics, /healthz, /readyz", addr, port);
    return h;
}

void ltv_metrics_http_stop(ltv_metrics_http_t *h) {
    if (!h)
        return;
    /* Stops the thread and closes the listening socket. */
    MHD_stop_daemon(h->d);
    free(h);
}
