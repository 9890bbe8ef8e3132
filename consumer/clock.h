/*
 * The stage's clock: event time, never wall time.
 *
 * Each input partition's position in event time is the highest `ts`
 * committed from it. The stage's watermark is the minimum of those over the
 * partitions that are not idle, minus the allowed lateness. A partition is
 * idle when it has delivered nothing for watermark.idle.timeout.ms of wall
 * time (so one quiet partition does not stop the clock), or when the stage
 * has read it to the end in run.stop.at.end mode. When every partition is
 * idle the stage has seen everything there is, and the watermark is the
 * maximum over them: that is also where a replay of the same input ends,
 * which keeps the final clock, and everything computed from it,
 * independent of how the input was batched or replayed.
 *
 * Positions of all partitions, of every instance, are shared in Redis
 * (hash <ns>:clock), so all instances compute the same watermark.
 */
#ifndef LTV_CLOCK_H
#define LTV_CLOCK_H

#include <stdint.h>

typedef struct ltv_clockpos_s {
    char name[160];    /* "<topic>:<partition>" */
    int64_t maxts;     /* highest event time committed; INT64_MIN: none */
    int64_t active_ms; /* wall time of the last commit with data from it */
    int at_end;        /* read to the end (run.stop.at.end) */
} ltv_clockpos_t;

/* The watermark, or INT64_MIN while no partition has data. */
int64_t ltv_clock_watermark(const ltv_clockpos_t *pos, int n, int64_t now_ms,
                            int64_t idle_timeout_ms, int64_t lateness_ms);

/* Encoding of a position in the clock hash: "maxts,active_ms,at_end". */
int ltv_clockpos_format(const ltv_clockpos_t *p, char *out, int outsz);
int ltv_clockpos_parse(ltv_clockpos_t *p, const char *v, int vlen);

#endif
