/*
 * The Prometheus text exposition format (0.0.4) of a metrics snapshot.
 * Names follow Prometheus's conventions: an ltvstream_ prefix, _total on
 * counters, base units (_seconds; timestamps as Unix seconds). Labels are
 * bounded sets (topic, partition, reason, op): never a customer id.
 * Every family is always announced (HELP, TYPE); a gauge whose value is
 * unknown (no watermark yet) has no sample rather than a made-up one.
 */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The shortest text that reads back as the same double, so bucket bounds
 * print as written (0.005, not 0.0050000000000000001). */
static void fmt_double(char *out, size_t n, double v) {
    if (isnan(v)) {
        snprintf(out, n, "NaN");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, v > 0 ? "+Inf" : "-Inf");
        return;
    }
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void family(ltv_buf_t *o, const char *name, const char *type, const char *help) {
    ltv_buf_printf(o, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Label values escape backslash, double quote and newline. */
static void label(ltv_buf_t *o, const char *name, const char *value) {
    ltv_buf_puts(o, name);
    ltv_buf_puts(o, "=\"");
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            ltv_buf_putc(o, '\\');
        if (*p == '\n') {
            ltv_buf_puts(o, "\\n");
            continue;
        }
        ltv_buf_putc(o, *p);
    }
    ltv_buf_putc(o, '"');
}

static void counter(ltv_buf_t *o, const char *name, const char *help, uint64_t v) {
    family(o, name, "counter", help);
    ltv_buf_printf(o, "%s %llu\n", name, (unsigned long long)v);
}

static void gauge_i(ltv_buf_t *o, const char *name, const char *help, int64_t v) {
    family(o, name, "gauge", help);
    ltv_buf_printf(o, "%s %lld\n", name, (long long)v);
}

static void seconds_of_ms(char *out, size_t n, int64_t ms) {
    fmt_double(out, n, (double)ms / 1000.0);
}

/* One histogram's samples; `labels` (e.g. op="load") may be empty. */
static void hist_samples(ltv_buf_t *o, const char *name, const char *labels,
                         const ltv_hist_t *h) {
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    char le[40];
    for (int i = 0; i <= h->nbounds; i++) {
        cum += h->counts[i];
        if (i < h->nbounds)
            fmt_double(le, sizeof(le), h->bounds[i]);
        else
            snprintf(le, sizeof(le), "+Inf");
        ltv_buf_printf(o, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep, le,
                       (unsigned long long)cum);
    }
    char sum[40];
    fmt_double(sum, sizeof(sum), h->sum);
    const char *lo = labels[0] ? "{" : "", *lc = labels[0] ? "}" : "";
    ltv_buf_printf(o, "%s_sum%s%s%s %s\n", name, lo, labels, lc, sum);
    ltv_buf_printf(o, "%s_count%s%s%s %llu\n", name, lo, labels, lc,
                   (unsigned long long)h->count);
}

void ltv_metrics_render(const ltv_metrics_snap_t *s, ltv_buf_t *o) {
    const ltv_stage_stats_t *st = &s->stats;
    char num[48];

    family(o, "ltvstream_info", "gauge", "Build information; always 1.");
    ltv_buf_puts(o, "ltvstream_info{");
    label(o, "version", s->version ? s->version : "");
    ltv_buf_puts(o, "} 1\n");

    family(o, "ltvstream_events_consumed_total", "counter",
           "Messages read from the input topics, good or bad.");
    for (int k = 0; k < 3; k++) {
        if (!s->topics[k] || !s->topics[k][0])
            continue;
        ltv_buf_puts(o, "ltvstream_events_consumed_total{");
        label(o, "topic", s->topics[k]);
        ltv_buf_printf(o, "} %llu\n", (unsigned long long)st->consumed_topic[k]);
    }
    counter(o, "ltvstream_events_applied_total", "Events that changed customer state.",
            st->applied);
    counter(o, "ltvstream_events_duplicate_total",
            "Events already applied before (re-delivered orders, cancels, refunds, page views).",
            st->duplicates);
    family(o, "ltvstream_events_dead_lettered_total", "counter",
           "Messages sent to the dead-letter topic, by reason (the ltv.reason header).");
    for (int r = 1; r < LTV_R__COUNT; r++) {
        ltv_buf_puts(o, "ltvstream_events_dead_lettered_total{");
        label(o, "reason", ltv_reason_name((ltv_reason_t)r));
        ltv_buf_printf(o, "} %llu\n", (unsigned long long)st->dlq[r]);
    }
    counter(o, "ltvstream_events_late_total",
            "Events older than the watermark when processed (still applied).", st->late);
    counter(o, "ltvstream_batches_committed_total",
            "Batches of events committed to Redis in one transaction.", st->batches);
    counter(o, "ltvstream_batches_fenced_total",
            "Batches discarded because another instance had taken a partition over.",
            st->fenced);
    counter(o, "ltvstream_redis_errors_total",
            "Redis failures: discarded batches, failed connection attempts, reads and pings.",
            st->redis_errors);
    counter(o, "ltvstream_rows_emitted_total", "Output rows produced to the output topics.",
            st->rows_emitted);
    counter(o, "ltvstream_events_misrouted_total",
            "Events of a customer seen on another partition number (input topics not "
            "co-partitioned).",
            st->misrouted);
    counter(o, "ltvstream_cache_evictions_total",
            "Customers evicted from the in-memory cache.", st->cache_evictions);
    family(o, "ltvstream_lifecycle_triggers_total", "counter",
           "Lifecycle triggers produced to the lifecycle topic, by trigger type.");
    for (int t = 0; t < LTV_TRG__N; t++) {
        ltv_buf_puts(o, "ltvstream_lifecycle_triggers_total{");
        label(o, "trigger", ltv_trigger_name(t));
        ltv_buf_printf(o, "} %llu\n", (unsigned long long)st->triggers[t]);
    }
    counter(o, "ltvstream_lifecycle_triggers_suppressed_total",
            "Lifecycle triggers recorded as fired but not produced (lifecycle.emit=false).",
            st->triggers_suppressed);
    counter(o, "ltvstream_schema_registry_retries_total",
            "Messages deferred and output schema registrations retried because the Schema "
            "Registry gave no answer (unreachable, timeout, 5xx); each waits out a backoff.",
            st->registry_retries);
    counter(o, "ltvstream_schema_registry_requests_total",
            "HTTP requests sent to the Schema Registry (each schema id is fetched once).",
            st->registry_requests);

    gauge_i(o, "ltvstream_assigned_partitions", "Input partitions assigned to this instance.",
            s->assigned);
    gauge_i(o, "ltvstream_redis_up", "1 when the stage's Redis connection works, else 0.",
            s->redis_up ? 1 : 0);
    family(o, "ltvstream_schema_registry_up", "gauge",
           "1 when the Schema Registry's last answer was definitive, 0 when it gave none "
           "(absent without a registry).");
    if (st->registry_state != LTV_REGISTRY_NONE)
        ltv_buf_printf(o, "ltvstream_schema_registry_up %d\n",
                       st->registry_state == LTV_REGISTRY_UP);
    family(o, "ltvstream_watermark_timestamp_seconds", "gauge",
           "The stage's event-time watermark, Unix time (absent while unknown).");
    if (s->watermark_ms != INT64_MIN) {
        seconds_of_ms(num, sizeof(num), s->watermark_ms);
        ltv_buf_printf(o, "ltvstream_watermark_timestamp_seconds %s\n", num);
    }

    family(o, "ltvstream_partition_lag", "gauge",
           "Messages behind: the partition's high watermark minus the next offset to process.");
    for (int i = 0; i < s->nparts; i++) {
        const ltv_metrics_part_t *p = &s->parts[i];
        if (p->lag < 0)
            continue;
        ltv_buf_puts(o, "ltvstream_partition_lag{");
        label(o, "topic", p->topic);
        ltv_buf_printf(o, ",partition=\"%d\"} %lld\n", (int)p->partition, (long long)p->lag);
    }
    family(o, "ltvstream_partition_position_timestamp_seconds", "gauge",
           "Highest event time committed from the partition, Unix time (absent while none).");
    for (int i = 0; i < s->nparts; i++) {
        const ltv_metrics_part_t *p = &s->parts[i];
        if (p->position_ms == INT64_MIN)
            continue;
        seconds_of_ms(num, sizeof(num), p->position_ms);
        ltv_buf_puts(o, "ltvstream_partition_position_timestamp_seconds{");
        label(o, "topic", p->topic);
        ltv_buf_printf(o, ",partition=\"%d\"} %s\n", (int)p->partition, num);
    }

    family(o, "ltvstream_redis_roundtrip_seconds", "histogram",
           "Redis round trips: op=load, a batch's load (the previous commit executes ahead "
           "of it); op=ping, an idle stage's check.");
    hist_samples(o, "ltvstream_redis_roundtrip_seconds", "op=\"load\"", &st->redis_load);
    hist_samples(o, "ltvstream_redis_roundtrip_seconds", "op=\"ping\"", &st->redis_ping);
    family(o, "ltvstream_batch_flush_seconds", "histogram",
           "Flushing a batch: load round trip, applying its events, sending its commit.");
    hist_samples(o, "ltvstream_batch_flush_seconds", "", &st->batch_flush);
    family(o, "ltvstream_batch_events", "histogram",
           "Events per batch committed: batches at batch.max.events or batch.max.uncached are "
           "catching up; a live stream's close at batch.max.ms.");
    hist_samples(o, "ltvstream_batch_events", "", &st->batch_events);
}

void ltv_metrics_snap_reserve(ltv_metrics_snap_t *s, int n) {
    if (n <= s->capparts)
        return;
    int cap = s->capparts ? s->capparts : 16;
    while (cap < n)
        cap *= 2;
    s->parts = ltv_realloc(s->parts, sizeof(*s->parts) * (size_t)cap);
    s->capparts = cap;
}

void ltv_metrics_snap_free(ltv_metrics_snap_t *s) {
    free(s->parts);
    s->parts = NULL;
    s->nparts = s->capparts = 0;
}
