#include "conf.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

typedef enum {
    T_STR,
    T_INT,
    T_BOOL,
    T_ENUM,
    T_TZ,
    T_INTLIST, /* "30,90": up to LTV_MAX_HORIZONS int64_t at offset, their count (an int)
                * right after the array */
} conf_type_t;

typedef struct conf_prop_s {
    const char *name;
    conf_type_t type;
    const char *def;
    size_t offset;
    int64_t vmin, vmax;   /* T_INT range */
    const char *enums;    /* T_ENUM: "a|b|c", stored as the index */
    const char *desc;
} conf_prop_t;

#define O(f) offsetof(ltv_conf_t, f)

/* A list's count follows its array (T_INTLIST). */
#define LIST_COUNT_FOLLOWS(a, n)                                                              \
    _Static_assert(offsetof(ltv_conf_t, n) == offsetof(ltv_conf_t, a) + sizeof(int64_t[LTV_MAX_HORIZONS]), \
                   #n " must follow " #a)
LIST_COUNT_FOLLOWS(horizons, nhorizons);
LIST_COUNT_FOLLOWS(lc_followup_days, lc_nfollowup);

/* The one table of the stage's own keys. Everything that parses, validates,
 * defaults or documents a key reads it from here. */
static const conf_prop_t props[] = {
    {"topic.purchases", T_STR, "ltv.purchases", O(topic_purchases), 0, 0, NULL,
     "Input topic of purchase events (orders, cancels, refunds)."},
    {"topic.visits", T_STR, "ltv.visits", O(topic_visits), 0, 0, NULL,
     "Input topic of visit events (empty to disable)."},
    {"topic.ad_spend", T_STR, "", O(topic_ad_spend), 0, 0, NULL,
     "Input topic of daily ad spend per campaign and channel (schemas/ad_spend.avsc), keyed by "
     "campaign, e.g. ltv.ad_spend; empty: none (acquisition rows then show no cost)."},
    {"input.framing", T_ENUM, "auto", O(framing), 0, 0, "auto|confluent|single-object|plain",
     "Message framing; auto detects Confluent (0x00) and single-object (0xC3 0x01) per message "
     "and falls back to plain Avro binary."},
    {"schema.dir", T_STR, "", O(schema_dir), 0, 0, NULL,
     "Directory of writer schemas named <id>.avsc, for Confluent schema ids; also indexed by "
     "fingerprint for single-object encoding."},
    {"schema.registry.url", T_STR, "", O(registry_url), 0, 0, NULL,
     "Confluent Schema Registry base URL (http:// or https://; one URL). Writer schemas of "
     "Confluent ids not in schema.dir are fetched from it (once per id), and with "
     "output.format=avro the output schemas are registered under <topic>-value. Empty: none."},
    {"schema.registry.basic.auth.user.info", T_STR, "", O(registry_user_info), 0, 0, NULL,
     "\"user:password\" for HTTP basic authentication to the Schema Registry (empty: none)."},
    {"schema.registry.timeout.ms", T_INT, "5000", O(registry_timeout_ms), 100, 600000, NULL,
     "Longest one Schema Registry request may take; a request that times out is retried "
     "with backoff, like an unreachable registry (keep it below metrics.healthz.stall.ms)."},
    {"input.plain.purchase.schema", T_STR, "", O(plain_purchase_schema), 0, 0, NULL,
     "Writer schema file for plain-framed purchases (default: schemas/purchase.avsc)."},
    {"input.plain.visit.schema", T_STR, "", O(plain_visit_schema), 0, 0, NULL,
     "Writer schema file for plain-framed visits (default: schemas/visit.avsc)."},
    {"input.plain.ad_spend.schema", T_STR, "", O(plain_ad_spend_schema), 0, 0, NULL,
     "Writer schema file for plain-framed ad spend (default: schemas/ad_spend.avsc)."},
    {"input.max.future.skew.ms", T_INT, "86400000", O(max_future_skew_ms), 0, INT64_MAX, NULL,
     "Events with ts further than this ahead of the wall clock go to the dead-letter topic."},
    {"topic.dlq", T_STR, "ltv.dlq", O(topic_dlq), 0, 0, NULL,
     "Dead-letter topic: bad input, unchanged, with the reason in headers."},
    {"topic.f2_rate", T_STR, "ltv.f2_rate", O(topic_f2_rate), 0, 0, NULL,
     "Output topic of F2 cohort rows."},
    {"topic.retention_mix", T_STR, "ltv.retention_mix", O(topic_retention_mix), 0, 0, NULL,
     "Output topic of retention-mix rows."},
    {"topic.f2_rolling", T_STR, "ltv.f2_rolling", O(topic_f2_rolling), 0, 0, NULL,
     "Output topic of rolling F2 rates (per day, over the trailing matured cohorts)."},
    {"topic.customer_rfm", T_STR, "ltv.customer_rfm", O(topic_customer_rfm), 0, 0, NULL,
     "Output topic of each customer's current RFM scores and segment, keyed by customer."},
    {"topic.rfm_segments", T_STR, "ltv.rfm_segments", O(topic_rfm_segments), 0, 0, NULL,
     "Output topic of per-day customer counts by RFM segment."},
    {"topic.acquisition", T_STR, "ltv.acquisition", O(topic_acquisition), 0, 0, NULL,
     "Output topic of acquisition economics per day (and rolling window), channel and campaign: "
     "new customers, cost, CPO, F2 rate, F2-CPO, revenue, CLV:CAC."},
    {"topic.lifecycle", T_STR, "ltv.lifecycle", O(topic_lifecycle), 0, 0, NULL,
     "Output topic of lifecycle triggers for follow-up messaging, keyed by customer (empty "
     "turns lifecycle triggers off: no timers, no state)."},
    {"output.format", T_ENUM, "json", O(output_format), 0, 0, "json|avro",
     "Output row encoding: JSON, or Avro in Confluent wire format (schemas: ltvstream schemas)."},
    {"output.avro.schema.ids", T_STR, "", O(output_schema_ids), 0, 0, NULL,
     "Avro output: the schema id of output topics, \"topic:id,topic:id\"; needed for every "
     "output topic without a Schema Registry, and with one it overrides the id registered "
     "for the listed topics (which are then not registered)."},
    {"redis.host", T_STR, "127.0.0.1", O(redis_host), 0, 0, NULL, "Redis host (or unix socket path starting with /)."},
    {"redis.port", T_INT, "6379", O(redis_port), 1, 65535, NULL, "Redis port."},
    {"redis.password", T_STR, "", O(redis_password), 0, 0, NULL, "Redis AUTH password (empty: none)."},
    {"redis.db", T_INT, "0", O(redis_db), 0, 1023, NULL, "Redis database number."},
    {"redis.timeout.ms", T_INT, "10000", O(redis_timeout_ms), 1, 3600000, NULL,
     "Redis connect and command timeout."},
    {"namespace", T_STR, "ltv", O(namespace_), 0, 0, NULL,
     "Redis key prefix; isolates deployments and backfills."},
    {"batch.max.events", T_INT, "400000", O(batch_max_events), 1, 10000000, NULL,
     "Events per batch; one atomic Redis write per batch. Reached only when "
     "catching up (live traffic closes batches by batch.max.ms first); bigger "
     "batches coalesce more Redis work per event."},
    {"batch.max.uncached", T_INT, "100000", O(batch_max_uncached), 1, 10000000, NULL,
     "Events per batch whose customer or visitor is not in the state cache. "
     "Each such customer is loaded and held until the batch commits, so this "
     "bounds a batch's memory when a backlog brings many new customers "
     "(recency re-scores have their own bound, rfm.tick.max.customers)."},
    {"batch.max.ms", T_INT, "100", O(batch_max_ms), 1, 600000, NULL,
     "Longest a batch stays open before it is written."},
    {"tz.offset", T_TZ, "+00:00", O(tz_offset_ms), 0, 0, NULL,
     "Zone offset days are cut in, e.g. +09:00."},
    {"allowed.lateness.ms", T_INT, "86400000", O(allowed_lateness_ms), 0, INT64_MAX, NULL,
     "Watermark = highest ts seen minus this."},
    {"watermark.idle.timeout.ms", T_INT, "60000", O(idle_timeout_ms), 0, INT64_MAX, NULL,
     "A partition with no data for this long (wall time) no longer holds the watermark "
     "back; 0 never."},
    {"f2.horizons.days", T_INTLIST, "30,90", O(horizons), 1, 3650, NULL,
     "Horizons H (days) of f2_within_{H}d."},
    {"run.stats.file", T_STR, "", O(stats_file), 0, 0, NULL,
     "At exit, write a JSON summary (counts, dead letters by reason, seconds from the first "
     "event consumed to the last commit, events/s) to this file."},
    {"run.stop.at.end", T_BOOL, "false", O(stop_at_end), 0, 0, NULL,
     "Stop once every assigned partition is consumed up to its end offset at assignment."},
    {"run.start.ms", T_INT, "-1", O(start_ms), -1, INT64_MAX, NULL,
     "Where a partition this namespace has never seen starts: the first message with a Kafka "
     "timestamp at or after this (ms since the epoch); -1: the beginning."},
    {"run.stop.at.ms", T_INT, "-1", O(stop_at_ms), -1, INT64_MAX, NULL,
     "With run.stop.at.end: each partition ends before its first message with a Kafka timestamp "
     "after this (ms since the epoch); -1: at its end offset."},
    {"run.stop.pin", T_BOOL, "false", O(stop_pin), 0, 0, NULL,
     "With run.stop.at.end: end offsets are chosen once and pinned in Redis (<namespace>:runend), "
     "so restarted and additional instances stop at the same offsets (backfills)."},
    {"cache.max.customers", T_INT, "1000000", O(cache_max_customers), 1000, INT64_MAX, NULL,
     "Customers kept in memory between batches (least recently used are evicted)."},
    {"cache.max.mb", T_INT, "512", O(cache_max_mb), 0, 1 << 20, NULL,
     "Heap the cached customers may hold, in MiB (0: no bound); least recently used are "
     "evicted past it or past cache.max.customers."},
    {"f2.rolling.window.days", T_INT, "30", O(f2_rolling_days), 1, 3650, NULL,
     "W: the rolling F2 rate of day t covers the W cohorts whose horizon matured by t."},
    {"rfm.r.days", T_STR, "14,30,60,120", O(rfm_r_days), 0, 0, NULL,
     "Recency edges in days: R=5 up to the first, 4 up to the second, ... 1 beyond the last."},
    {"rfm.f.edges", T_STR, "1,2,3,5", O(rfm_f_edges), 0, 0, NULL,
     "Frequency edges: F score = 1 + number of edges the purchase count exceeds."},
    {"rfm.m.edges", T_STR, "5000,20000,50000,100000", O(rfm_m_edges), 0, 0, NULL,
     "Monetary edges in minor units: M score = 1 + number of edges the total reaches."},
    {"rfm.segments", T_STR,
     "champions:5:4-5,loyal:3-4:4-5,potential_loyalist:4-5:2-3,new_customer:5:1,"
     "promising:4:1,need_attention:3:3,about_to_sleep:3:1-2,cant_lose:1-2:5,at_risk:1-2:3-4,"
     "lost:1:1,hibernating:1-2:1-2",
     O(rfm_segments), 0, 0, NULL,
     "Segment rules name:R:F (score or range), first match wins; must cover every R,F."},
    {"rfm.tick.max.customers", T_INT, "20000", O(rfm_tick_max_customers), 0, INT64_MAX, NULL,
     "Recency re-scores per batch at most (0: no limit): when the clock moves many days at once, "
     "the days are caught up over several batches instead of one huge one."},
    {"acquisition.rolling.days", T_INT, "30", O(acq_rolling_days), 0, 3650, NULL,
     "Acquisition rows also sum the trailing window of this many days (0: daily rows only)."},
    {"lifecycle.f2.followup.days", T_INTLIST, "3,7,14,30", O(lc_followup_days), 1, 3650, NULL,
     "f2_followup_due fires this many days after the first purchase while there is no second "
     "purchase by then."},
    {"lifecycle.revisit.hours", T_INT, "50", O(lc_revisit_hours), 1, 87600, NULL,
     "revisit_due fires this many hours after a customer's first visit when no visit on a later "
     "day came by then."},
    {"lifecycle.signup.days", T_INT, "7", O(lc_signup_days), 1, 3650, NULL,
     "signup_no_purchase fires this many days after a sign-up visit without a purchase by then."},
    {"lifecycle.emit", T_BOOL, "true", O(lc_emit), 0, 0, NULL,
     "Produce lifecycle triggers; false records them as fired without producing them (what a "
     "backfill does, so a namespace rebuilt from history does not message customers again)."},
    {"log.level", T_INT, "6", O(log_level), 0, 7, NULL, "Syslog level: 3 error, 4 warn, 6 info, 7 debug."},
    {"log.format", T_ENUM, "plain", O(log_json), 0, 0, "plain|json", "Log line format."},
    /* On by default on every interface: in a container the probes and the
     * scraper come from outside, and a pod has its own network namespace,
     * so the fixed port cannot clash. Locally, metrics.port=0 turns it
     * off or another port avoids a second instance's. */
    {"metrics.port", T_INT, "9464", O(metrics_port), 0, 65535, NULL,
     "Port of the HTTP endpoint serving /metrics (Prometheus), /healthz and /readyz; 0 "
     "disables it."},
    {"metrics.bind", T_STR, "0.0.0.0", O(metrics_bind), 0, 0, NULL,
     "Address the HTTP endpoint listens on (0.0.0.0 every IPv4 interface, :: IPv6, "
     "127.0.0.1 local only)."},
    /* Together with redis.timeout.ms (a commit in flight at SIGTERM) these
     * bound how long the stage takes to stop: a pod's
     * terminationGracePeriodSeconds must exceed their sum, or the stage is
     * SIGKILLed in the middle of its shutdown (tools/lint_deploy.sh checks
     * the manifests against deploy/k8s's properties). */
    {"shutdown.deliver.timeout.ms", T_INT, "10000", O(shutdown_deliver_ms), 0, 3600000, NULL,
     "At SIGTERM, how long the stage keeps waiting for the batch in progress's dead letters and "
     "delivering the rows of committed batches (re-emitting failed ones); rows left then stay "
     "queued in Redis for the next start."},
    {"shutdown.leave.timeout.ms", T_INT, "5000", O(shutdown_leave_ms), 0, 3600000, NULL,
     "At SIGTERM, how long the stage waits to leave the consumer group (with the brokers "
     "unreachable it exits without leaving; the group drops it at session.timeout.ms)."},
    {"metrics.healthz.stall.ms", T_INT, "60000", O(metrics_stall_ms), 1000, INT64_MAX, NULL,
     "/healthz answers 503 once the run loop has made no progress for this long; keep it "
     "above redis.timeout.ms."},
};

#define NPROPS (sizeof(props) / sizeof(props[0]))

static ltv_conf_res_t set_prop(ltv_conf_t *conf, const conf_prop_t *p, const char *value,
                               char *errstr, size_t errstr_size) {
    char *base = (char *)conf;
    switch (p->type) {
    case T_STR: {
        char **dst = (char **)(base + p->offset);
        free(*dst);
        *dst = ltv_strdup(value);
        return LTV_CONF_OK;
    }
    case T_INT: {
        char *end;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end) {
            ltv_errf(errstr, errstr_size, "%s: \"%s\" is not an integer", p->name, value);
            return LTV_CONF_INVALID;
        }
        if (v < p->vmin || v > p->vmax) {
            ltv_errf(errstr, errstr_size, "%s: %lld is out of range [%lld, %lld]", p->name, v,
                     (long long)p->vmin, (long long)p->vmax);
            return LTV_CONF_INVALID;
        }
        *(int64_t *)(base + p->offset) = v;
        return LTV_CONF_OK;
    }
    case T_BOOL: {
        int v;
        if (!strcmp(value, "true") || !strcmp(value, "1"))
            v = 1;
        else if (!strcmp(value, "false") || !strcmp(value, "0"))
            v = 0;
        else {
            ltv_errf(errstr, errstr_size, "%s: \"%s\" is not true or false", p->name, value);
            return LTV_CONF_INVALID;
        }
        *(int *)(base + p->offset) = v;
        return LTV_CONF_OK;
    }
    case T_ENUM: {
        const char *s = p->enums;
        int idx = 0;
        size_t vl = strlen(value);
        while (*s) {
            const char *e = strchr(s, '|');
            size_t l = e ? (size_t)(e - s) : strlen(s);
            if (l == vl && !strncmp(s, value, l)) {
                *(int *)(base + p->offset) = idx;
                return LTV_CONF_OK;
            }
            idx++;
            s += l + (e ? 1 : 0);
        }
        ltv_errf(errstr, errstr_size, "%s: \"%s\" is not one of %s", p->name, value, p->enums);
        return LTV_CONF_INVALID;
    }
    case T_TZ:
        if (ltv_tz_parse(value, (int64_t *)(base + p->offset))) {
            ltv_errf(errstr, errstr_size, "%s: \"%s\" is not a zone offset like +09:00", p->name,
                     value);
            return LTV_CONF_INVALID;
        }
        return LTV_CONF_OK;
    case T_INTLIST: {
        int64_t tmp[LTV_MAX_HORIZONS];
        int n = 0;
        const char *s = value;
        while (*s) {
            char *end;
            errno = 0;
            long long v = strtoll(s, &end, 10);
            if (errno || end == s || v < p->vmin || v > p->vmax || n == LTV_MAX_HORIZONS ||
                (*end && *end != ',')) {
                ltv_errf(errstr, errstr_size,
                         "%s: \"%s\" must be a comma-separated list of up to %d integers in "
                         "[%lld, %lld]",
                         p->name, value, LTV_MAX_HORIZONS, (long long)p->vmin,
                         (long long)p->vmax);
                return LTV_CONF_INVALID;
            }
            for (int i = 0; i < n; i++)
                if (tmp[i] == v) {
                    ltv_errf(errstr, errstr_size, "%s: \"%s\" repeats a value", p->name, value);
                    return LTV_CONF_INVALID;
                }
            tmp[n++] = v;
            s = *end ? end + 1 : end;
        }
        memcpy(base + p->offset, tmp, sizeof(tmp[0]) * (size_t)n);
        *(int *)(base + p->offset + sizeof(int64_t[LTV_MAX_HORIZONS])) = n;
        return LTV_CONF_OK;
    }
    }
    return LTV_CONF_INVALID;
}

ltv_conf_t *ltv_conf_new(void) {
    ltv_conf_t *conf = ltv_calloc(1, sizeof(*conf));
    for (size_t i = 0; i < NPROPS; i++) {
        if (set_prop(conf, &props[i], props[i].def, NULL, 0) != LTV_CONF_OK) {
            fprintf(stderr, "ltvstream: bad built-in default for %s\n", props[i].name);
            abort();
        }
    }
    return conf;
}

void ltv_conf_destroy(ltv_conf_t *conf) {
    if (!conf)
        return;
    for (size_t i = 0; i < NPROPS; i++)
        if (props[i].type == T_STR)
            free(*(char **)((char *)conf + props[i].offset));
    for (int i = 0; i < conf->nkprops; i++) {
        free(conf->kprops[i].name);
        free(conf->kprops[i].value);
    }
    free(conf->kprops);
    free(conf);
}

static void kprop_set(ltv_conf_t *conf, int role, const char *name, const char *value) {
    for (int i = 0; i < conf->nkprops; i++) {
        if (conf->kprops[i].role == role && !strcmp(conf->kprops[i].name, name)) {
            free(conf->kprops[i].value);
            conf->kprops[i].value = ltv_strdup(value);
            return;
        }
    }
    conf->kprops = ltv_realloc(conf->kprops, sizeof(*conf->kprops) * (size_t)(conf->nkprops + 1));
    conf->kprops[conf->nkprops].name = ltv_strdup(name);
    conf->kprops[conf->nkprops].value = ltv_strdup(value);
    conf->kprops[conf->nkprops].role = role;
    conf->nkprops++;
}

ltv_conf_res_t ltv_conf_set(ltv_conf_t *conf, const char *name, const char *value, char *errstr,
                            size_t errstr_size) {
    /* librdkafka's properties are checked by librdkafka when the clients
     * are created (rd_kafka_conf_set), so a misspelt one still fails at
     * start, with librdkafka's own message. */
    static const struct {
        const char *prefix;
        int role;
    } kp[] = {{"kafka.consumer.", 1}, {"kafka.producer.", 2}, {"kafka.", 0}};
    for (size_t i = 0; i < sizeof(kp) / sizeof(kp[0]); i++) {
        size_t l = strlen(kp[i].prefix);
        if (!strncmp(name, kp[i].prefix, l)) {
            if (!name[l]) {
                ltv_errf(errstr, errstr_size,
                         "%s: a librdkafka property name must follow the prefix", name);
                return LTV_CONF_INVALID;
            }
            kprop_set(conf, kp[i].role, name + l, value);
            return LTV_CONF_OK;
        }
    }
    for (size_t i = 0; i < NPROPS; i++)
        if (!strcmp(props[i].name, name))
            return set_prop(conf, &props[i], value, errstr, errstr_size);
    ltv_errf(errstr, errstr_size,
             "unknown configuration key \"%s\" (see -X list; librdkafka properties take the "
             "prefix kafka.)",
             name);
    return LTV_CONF_UNKNOWN;
}

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

ltv_conf_res_t ltv_conf_set_pair(ltv_conf_t *conf, const char *pair, char *errstr,
                                 size_t errstr_size) {
    const char *eq = strchr(pair, '=');
    if (!eq) {
        ltv_errf(errstr, errstr_size, "\"%s\": expected key=value", pair);
        return LTV_CONF_INVALID;
    }
    char *name = ltv_strndup(pair, (size_t)(eq - pair));
    ltv_conf_res_t r = ltv_conf_set(conf, trim(name), eq + 1, errstr, errstr_size);
    free(name);
    return r;
}

ltv_conf_res_t ltv_conf_load_file(ltv_conf_t *conf, const char *path, char *errstr,
                                  size_t errstr_size) {
    FILE *fp = fopen(path, "r");
    if (!fp) {
        ltv_errf(errstr, errstr_size, "%s: %s", path, strerror(errno));
        return LTV_CONF_INVALID;
    }
    /* getline, not a fixed buffer: a value can be long (an inline PEM
     * certificate for kafka.ssl.ca.pem), and a line cut at a buffer's size
     * would have its rest parsed as a line of its own. */
    char *line = NULL;
    size_t cap = 0;
    int lineno = 0;
    ltv_conf_res_t r = LTV_CONF_OK;
    while (getline(&line, &cap, fp) >= 0) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#' || *s == '!')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            ltv_errf(errstr, errstr_size, "%s:%d: expected key=value", path, lineno);
            r = LTV_CONF_INVALID;
            break;
        }
        *eq = '\0';
        char inner[400];
        r = ltv_conf_set(conf, trim(s), trim(eq + 1), inner, sizeof(inner));
        if (r != LTV_CONF_OK) {
            ltv_errf(errstr, errstr_size, "%s:%d: %s", path, lineno, inner);
            break;
        }
    }
    free(line);
    fclose(fp);
    return r;
}

void ltv_conf_list(FILE *fp) {
    fprintf(fp, "%-32s %-8s %-18s %s\n", "Property", "Type", "Default", "Description");
    static const char *tn[] = {"string", "integer", "boolean", "enum", "offset", "list"};
    for (size_t i = 0; i < NPROPS; i++) {
        fprintf(fp, "%-32s %-8s %-18s %s", props[i].name, tn[props[i].type],
                *props[i].def ? props[i].def : "\"\"", props[i].desc);
        if (props[i].type == T_ENUM)
            fprintf(fp, " (%s)", props[i].enums);
        fputc('\n', fp);
    }
    fprintf(fp, "%-32s %-8s %-18s %s\n", "kafka.<property>", "string", "",
            "Any librdkafka property, for both the consumer and the producer "
            "(kafka.consumer.<p> / kafka.producer.<p> for one of them).");
}

const char *ltv_conf_kafka_get(const ltv_conf_t *conf, int role, const char *name) {
    const char *v = NULL;
    for (int i = 0; i < conf->nkprops; i++) {
        if (strcmp(conf->kprops[i].name, name))
            continue;
        if (conf->kprops[i].role == role)
            return conf->kprops[i].value;
        if (conf->kprops[i].role == 0)
            v = conf->kprops[i].value;
    }
    return v;
}
