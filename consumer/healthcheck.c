/*
 * `ltvstream healthcheck [-c file] [-X key=value]... [--ready]`: GETs the
 * stage's own /healthz (or /readyz) on the port and address its
 * configuration gives, and exits 0 on 200, 1 otherwise, which is what a
 * container HEALTHCHECK wants. The runtime image has no curl or wget; the
 * binary that serves the endpoint probes it itself, reading the same
 * properties file, so the port is never written twice.
 */
#include "cli.h"
#include "conf.h"
#include "http_get.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where to reach an endpoint listening on `bind`: a wildcard address is
 * reached on the loopback of its family; anything else as it is. */
const char *ltv_healthcheck_host(const char *bind) {
    if (!bind[0] || !strcmp(bind, "0.0.0.0"))
        return "127.0.0.1";
    if (!strcmp(bind, "::"))
        return "::1";
    return bind;
}

int ltv_healthcheck_main(int argc, char **argv) {
    const char *path = "/healthz";
    /* --ready is ours; the rest is the stage's own command line. */
    char **args = ltv_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (i > 0 && !strcmp(argv[i], "--ready"))
            path = "/readyz";
        else if (i > 0 && (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))) {
            printf("Usage: ltvstream healthcheck [-c file] [-X key=value]... [--ready]\n"
                   "GETs /healthz (--ready: /readyz) of the stage configured by the same\n"
                   "options (metrics.port, metrics.bind); exits 0 on 200, 1 otherwise.\n");
            free(args);
            return 0;
        } else
            args[n++] = argv[i];
    }
    ltv_conf_t *conf = ltv_conf_new();
    int rc = ltv_cli_parse_conf(n, args, conf);
    free(args);
    if (rc) {
        ltv_conf_destroy(conf);
        return 1; /* Docker reserves exit code 2 */
    }
    if (!conf->metrics_port) {
        fprintf(stderr, "ltvstream healthcheck: the HTTP endpoint is off (metrics.port=0)\n");
        ltv_conf_destroy(conf);
        return 1;
    }
    const char *host = ltv_healthcheck_host(conf->metrics_bind);
    char err[512];
    ltv_buf_t resp;
    ltv_buf_init(&resp);
    /* Well inside a probe's usual timeout (Docker's and Kubernetes' are
     * seconds); the endpoint answers from a snapshot, never waiting. */
    int status = ltv_http_get(host, (int)conf->metrics_port, path, 3000, &resp, err, sizeof(err));
    if (status < 0) {
        fprintf(stderr, "ltvstream healthcheck: %s\n", err);
    } else {
        const char *body = strstr(resp.p, "\r\n\r\n");
        printf("%s %d %s", path, status, body ? body + 4 : "\n");
    }
    ltv_buf_free(&resp);
    ltv_conf_destroy(conf);
    return status == 200 ? 0 : 1;
}
