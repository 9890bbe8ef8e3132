#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <pthread.h>

static int log_level = LTV_LOG_INFO;
static int log_json = 0;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void ltv_log_setup(int level, int json) {
    log_level = level;
    log_json = json;
}

int ltv_log_level(void) { return log_level; }

static const char *level_name(ltv_log_level_t l) {
    switch (l) {
    case LTV_LOG_ERROR: return "error";
    case LTV_LOG_WARN: return "warn";
    case LTV_LOG_INFO: return "info";
    default: return "debug";
    }
}

void ltv_log(ltv_log_level_t level, const char *fmt, ...) {
    if ((int)level > log_level)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    char ts[32];
    ltv_ts_format(ltv_now_ms(), ts);

    /* One write per line under a lock: librdkafka callbacks log from their
     * own threads and lines must not interleave. */
    pthread_mutex_lock(&log_lock);
    if (log_json) {
        fprintf(stderr, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":\"", ts, level_name(level));
        for (const char *p = msg; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if (c == '"' || c == '\\')
                fprintf(stderr, "\\%c", c);
            else if (c < 0x20)
                fprintf(stderr, "\\u%04x", c);
            else
                fputc(c, stderr);
        }
        fputs("\"}\n", stderr);
    } else {
        fprintf(stderr, "%s %-5s %s\n", ts, level_name(level), msg);
    }
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}
