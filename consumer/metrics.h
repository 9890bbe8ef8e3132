/*
 * Metrics for Prometheus: what the stage exposes, and how it gets from the
 * run loop to the HTTP thread.
 *
 *   metrics.c       a snapshot rendered as Prometheus text (pure, no I/O)
 *   metrics_pub.c   the board: the run loop publishes snapshots and beats a
 *                   heartbeat, the HTTP thread reads them and judges health
 *   metrics_http.c  the HTTP server (/metrics, /healthz, /readyz)
 *
 * Counters are the stage's own (ltv_stage_stats_t, the same numbers
 * run.stats.file writes); nothing is counted twice.
 */
#ifndef LTV_METRICS_H
#define LTV_METRICS_H

#include <stdint.h>

#include "stage.h"
#include "util.h"

typedef struct ltv_metrics_part_s {
    const char *topic;   /* conf-owned: outlives the HTTP server */
    int32_t partition;
    int64_t lag;         /* high watermark - next offset to process; -1 unknown */
    int64_t position_ms; /* highest event time committed; INT64_MIN unknown */
} ltv_metrics_part_t;

typedef struct ltv_metrics_snap_s {
    const char *version;
    const char *topics[3];   /* purchases, visits, ad spend; NULL or "": not consumed */
    ltv_stage_stats_t stats; /* as ltv_stage_stats() returns them */
    int64_t watermark_ms;    /* the stage's watermark; INT64_MIN unknown */
    int assigned;            /* partitions assigned to this instance */
    int redis_up;            /* the stage's Redis connection works */
    /* (the Schema Registry's state is in stats.registry_state) */
    ltv_metrics_part_t *parts; /* assigned partitions, by topic and partition */
    int nparts, capparts;
} ltv_metrics_snap_t;

/* Appends the Prometheus text exposition (format 0.0.4) of s to out. */
void ltv_metrics_render(const ltv_metrics_snap_t *s, ltv_buf_t *out);

/* Room for n parts (keeps the array between snapshots). */
void ltv_metrics_snap_reserve(ltv_metrics_snap_t *s, int n);
void ltv_metrics_snap_free(ltv_metrics_snap_t *s);

/* ---- the board (metrics_pub.c) ----------------------------------------------- */

typedef struct ltv_metrics_s ltv_metrics_t;

/* stall_ms: /healthz fails once the run loop has not beaten for longer. */
ltv_metrics_t *ltv_metrics_new(int64_t stall_ms);
void ltv_metrics_destroy(ltv_metrics_t *m);

/* Run loop: "still turning" (cheap: one atomic store). */
void ltv_metrics_heartbeat(ltv_metrics_t *m, int64_t now_us);
/* Run loop: copies s onto the board (and beats the heartbeat). */
void ltv_metrics_publish(ltv_metrics_t *m, const ltv_metrics_snap_t *s, int64_t now_us);

/* Any thread: copies the latest snapshot into out (out's parts array is
 * reused). Returns 0, or -1 when nothing has been published yet. */
int ltv_metrics_read(ltv_metrics_t *m, ltv_metrics_snap_t *out);

typedef struct ltv_health_s {
    int live;            /* the run loop beat within stall_ms */
    int ready;           /* live, partitions assigned, Redis reachable and the Schema
                          * Registry (if any) answering */
    int64_t since_beat_ms;
    int published, assigned, redis_up;
    int registry_down;   /* a Schema Registry is configured and gave no answer */
} ltv_health_t;

/* Any thread: liveness and readiness as of now_us (monotonic). */
void ltv_metrics_health(ltv_metrics_t *m, int64_t now_us, ltv_health_t *out);

#endif
