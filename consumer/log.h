/*
 * One line per event of note on stderr, plain or JSON (log.format=json), so
 * both a terminal user and a log shipper can read it.
 */
#ifndef LTV_LOG_H
#define LTV_LOG_H

typedef enum {
    LTV_LOG_ERROR = 3,
    LTV_LOG_WARN = 4,
    LTV_LOG_INFO = 6,
    LTV_LOG_DEBUG = 7,
} ltv_log_level_t;

void ltv_log_setup(int level, int json);
int ltv_log_level(void);
void ltv_log(ltv_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define ltv_err(...) ltv_log(LTV_LOG_ERROR, __VA_ARGS__)
#define ltv_warn(...) ltv_log(LTV_LOG_WARN, __VA_ARGS__)
#define ltv_info(...) ltv_log(LTV_LOG_INFO, __VA_ARGS__)
#define ltv_dbg(...)                                                                   \
    do {                                                                               \
        if (ltv_log_level() >= LTV_LOG_DEBUG)                                          \
            ltv_log(LTV_LOG_DEBUG, __VA_ARGS__);                                       \
    } while (0)

#endif
