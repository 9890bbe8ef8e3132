#include "http_get.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* connect(2) with a deadline: a probe against an address that drops SYNs
 * must fail within its timeout, not the kernel's minutes. */
static int connect_timeout(int fd, const struct sockaddr *sa, socklen_t len, int timeout_ms) {
    int fl = fcntl(fd, F_GETFL, 0);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    int rc = connect(fd, sa, len);
    if (rc < 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        rc = poll(&p, 1, timeout_ms);
        if (rc == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        int soerr = 0;
        socklen_t sl = sizeof(soerr);
        if (rc < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
            return -1;
        if (soerr) {
            errno = soerr;
            return -1;
        }
        rc = 0;
    }
    if (fcntl(fd, F_SETFL, fl) < 0)
        return -1;
    return rc;
}

int ltv_http_get(const char *host, int port, const char *path, int timeout_ms, ltv_buf_t *resp,
                 char *errstr, size_t errstr_size) {
    char svc[16];
    snprintf(svc, sizeof(svc), "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int gai = getaddrinfo(host, svc, &hints, &ai);
    if (gai) {
        snprintf(errstr, errstr_size, "%s: %s", host, gai_strerror(gai));
        return -1;
    }
    int fd = -1;
    int err = 0;
    for (struct addrinfo *a = ai; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (connect_timeout(fd, a->ai_addr, a->ai_addrlen, timeout_ms) == 0)
            break;
        err = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    if (fd < 0) {
        snprintf(errstr, errstr_size, "connect to %s:%d: %s", host, port, strerror(err));
        return -1;
    }
    struct timeval tv = {timeout_ms / 1000, (timeout_ms % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    /* HTTP/1.0: the server closes the connection after its answer, so the
     * end of the response is the end of the stream. */
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
    if (n < 0 || (size_t)n >= sizeof(req)) {
        close(fd);
        snprintf(errstr, errstr_size, "request path too long");
        return -1;
    }
    if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
        snprintf(errstr, errstr_size, "send to %s:%d: %s", host, port, strerror(errno));
        close(fd);
        return -1;
    }
    ltv_buf_t b;
    ltv_buf_init(&b);
    char chunk[4096];
    ssize_t got;
    while ((got = read(fd, chunk, sizeof(chunk))) > 0)
        ltv_buf_append(&b, chunk, (size_t)got);
    int rerr = got < 0 ? errno : 0;
    close(fd);
    int status = -1;
    if (b.p && sscanf(b.p, "HTTP/1.%*d %d", &status) == 1 && strstr(b.p, "\r\n\r\n")) {
        if (resp)
            ltv_buf_append(resp, b.p, b.n);
    } else {
        status = -1;
        snprintf(errstr, errstr_size, "no valid HTTP answer from %s:%d%s%s", host, port,
                 rerr ? ": " : "", rerr ? strerror(rerr) : "");
    }
    ltv_buf_free(&b);
    return status;
}
