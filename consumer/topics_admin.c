#include "topics_admin.h"
#include "agg.h"
#include "emit.h"
#include "outschema.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <librdkafka/rdkafka.h>

/* Output topics: compaction keeps each row's newest version (and a deleted
 * customer's tombstone for a day), so reading a topic from the beginning
 * gives the table. Segments roll hourly because only closed segments are
 * compacted: with the broker's 7-day default the open segment would keep
 * every version of a busy day's rows (re-emitted with each batch) for a
 * week. A record stays uncompacted for its first hour, so a subscriber
 * that follows a topic less than an hour behind (a CRM reacting to
 * customer_rfm changes) sees every version. A reader rebuilding a table
 * from the beginning must finish within delete.retention.ms to see the
 * tombstones. */
static const char *const output_configs[][2] = {
    {"cleanup.policy", "compact"},
    {"segment.ms", "3600000"},
    {"min.compaction.lag.ms", "3600000"},
    {"delete.retention.ms", "86400000"},
};
/* The lifecycle topic is a stream of triggers a step-mail or CRM tool acts
 * on, keyed by customer: compaction would keep only each customer's last
 * trigger. Kept two weeks: longer than a subscriber is expected to be
 * down, and a trigger older than that is stale for messaging anyway. */
static const char *const event_configs[][2] = {
    {"cleanup.policy", "delete"},
    {"retention.ms", "1209600000"},
};
/* The dead-letter topic is a log of bad input, kept two weeks: long enough
 * to notice, fix the producer or the schema, and replay. */
static const char *const dlq_configs[][2] = {
    {"cleanup.policy", "delete"},
    {"retention.ms", "1209600000"},
};

void ltv_topics_opts_defaults(ltv_topics_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->partitions = 12;
    o->output_partitions = 3;
    o->timeout_ms = 30000;
}

static void add_config(ltv_topic_spec_t *s, const char *name, const char *value) {
    if (s->nconfigs < LTV_TOPIC_MAX_CONFIGS) {
        s->configs[s->nconfigs][0] = name;
        s->configs[s->nconfigs][1] = value;
        s->nconfigs++;
    }
}

static ltv_topic_spec_t *add_topic(ltv_topic_spec_t **plan, int *n, const char *name,
                                   ltv_topic_role_t role, int partitions) {
    for (int i = 0; i < *n; i++)
        if (!strcmp((*plan)[i].name, name))
            return NULL; /* two row types on one topic: created once */
    *plan = ltv_realloc(*plan, sizeof(**plan) * (size_t)(*n + 1));
    ltv_topic_spec_t *s = &(*plan)[(*n)++];
    memset(s, 0, sizeof(*s));
    s->name = ltv_strdup(name);
    s->role = role;
    s->partitions = partitions;
    return s;
}

int ltv_topics_plan(const ltv_conf_t *conf, const ltv_topics_opts_t *o, ltv_topic_spec_t **out,
                    char *errstr, size_t errstr_size) {
    *out = NULL;
    if (o->partitions < 1 || o->output_partitions < 1) {
        snprintf(errstr, errstr_size, "partition counts must be at least 1");
        return -1;
    }
    ltv_aggs_t *aggs = ltv_aggs_new(conf, errstr, errstr_size);
    if (!aggs)
        return -1;
    ltv_topic_spec_t *plan = NULL;
    int n = 0;
    /* Ad spend is keyed by campaign and kept as entities of its own: it
     * need not be co-partitioned with the customers' topics. */
    const char *inputs[] = {conf->topic_purchases, conf->topic_visits, conf->topic_ad_spend};
    for (int i = 0; i < 3; i++) {
        if (!inputs[i][0])
            continue; /* topic.visits or topic.ad_spend empty: none */
        ltv_topic_spec_t *s = add_topic(&plan, &n, inputs[i], LTV_TOPIC_INPUT, o->partitions);
        if (!s)
            continue;
        s->copartitioned = i < 2;
        add_config(s, "cleanup.policy", "delete");
        if (o->input_retention_ms)
            add_config(s, "retention.ms", o->input_retention_ms);
    }
    ltv_topic_spec_t *dlq = add_topic(&plan, &n, conf->topic_dlq, LTV_TOPIC_DLQ,
                                      o->output_partitions);
    for (size_t k = 0; dlq && k < sizeof(dlq_configs) / sizeof(dlq_configs[0]); k++)
        add_config(dlq, dlq_configs[k][0], dlq_configs[k][1]);
    /* The output topics are those of the row types the stage emits, which
     * `ltvstream schemas` lists too. */
    ltv_outschema_t *os;
    int nos = ltv_outschemas(aggs, conf, &os);
    for (int i = 0; i < nos; i++) {
        ltv_topic_spec_t *s = add_topic(&plan, &n, os[i].topic,
                                        os[i].events ? LTV_TOPIC_EVENTS : LTV_TOPIC_OUTPUT,
                                        o->output_partitions);
        const char *const(*cfg)[2] = os[i].events ? event_configs : output_configs;
        size_t ncfg = os[i].events ? sizeof(event_configs) / sizeof(event_configs[0])
                                   : sizeof(output_configs) / sizeof(output_configs[0]);
        for (size_t k = 0; s && k < ncfg; k++)
            add_config(s, cfg[k][0], cfg[k][1]);
    }
    ltv_outschemas_free(os, nos);
    ltv_aggs_destroy(aggs);
    *out = plan;
    return n;
}

void ltv_topics_plan_free(ltv_topic_spec_t *plan, int n) {
    for (int i = 0; i < n; i++)
        free(plan[i].name);
    free(plan);
}

int ltv_topics_verify(const ltv_topic_spec_t *plan, int n, const int *found, char *errstr,
                      size_t errstr_size) {
    int first_input = -1;
    for (int i = 0; i < n; i++) {
        if (found[i] < 0) {
            snprintf(errstr, errstr_size, "topic %s does not exist", plan[i].name);
            return -1;
        }
        if (plan[i].role != LTV_TOPIC_INPUT || !plan[i].copartitioned)
            continue;
        if (first_input < 0) {
            first_input = i;
        } else if (found[i] != found[first_input]) {
            snprintf(errstr, errstr_size,
                     "input topics %s (%d partitions) and %s (%d partitions) are not "
                     "co-partitioned: a customer's purchases and visits must land on the same "
                     "partition number",
                     plan[first_input].name, found[first_input], plan[i].name, found[i]);
            return -1;
        }
    }
    return 0;
}

/* ---- against a cluster ---------------------------------------------------------- */

/* Partition counts of the plan's topics (-1: absent) and the number of
 * brokers, from one metadata request for all topics (asking for named
 * topics could auto-create them with the broker's defaults). */
static int read_metadata(rd_kafka_t *rk, const ltv_topic_spec_t *plan, int n, int *found,
                         int *brokers, int timeout_ms, char *errstr, size_t errstr_size) {
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 1, NULL, &md, timeout_ms);
    if (e) {
        snprintf(errstr, errstr_size, "metadata: %s", rd_kafka_err2str(e));
        return -1;
    }
    *brokers = md->broker_cnt;
    for (int i = 0; i < n; i++) {
        found[i] = -1;
        for (int t = 0; t < md->topic_cnt; t++)
            if (!strcmp(md->topics[t].topic, plan[i].name) &&
                md->topics[t].err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
                md->topics[t].partition_cnt > 0)
                found[i] = md->topics[t].partition_cnt;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Creates the plan's topics that are absent. A topic that another client
 * created in the meantime (TOPIC_ALREADY_EXISTS) is as good as created.
 * Returns the number of topics that could not be created, or -1. */
static int create_missing(rd_kafka_t *rk, const ltv_topic_spec_t *plan, int n, const int *found,
                          int rf, int timeout_ms, char *errstr, size_t errstr_size) {
    rd_kafka_NewTopic_t **nts = ltv_calloc((size_t)n, sizeof(*nts));
    int nn = 0, failed = 0;
    char err[256];
    for (int i = 0; i < n; i++) {
        if (found[i] >= 0)
            continue;
        rd_kafka_NewTopic_t *nt =
            rd_kafka_NewTopic_new(plan[i].name, plan[i].partitions, rf, err, sizeof(err));
        if (!nt) {
            snprintf(errstr, errstr_size, "%s: %s", plan[i].name, err);
            failed = -1;
            goto done;
        }
        for (int k = 0; k < plan[i].nconfigs; k++)
            rd_kafka_NewTopic_set_config(nt, plan[i].configs[k][0], plan[i].configs[k][1]);
        nts[nn++] = nt;
    }
    if (!nn)
        goto done;
    rd_kafka_AdminOptions_t *ao = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(ao, timeout_ms, err, sizeof(err));
    /* The broker answers once the topics exist on the controller, waiting
     * at most this long for that. */
    rd_kafka_AdminOptions_set_operation_timeout(ao, timeout_ms / 2, err, sizeof(err));
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_CreateTopics(rk, nts, (size_t)nn, ao, q);
    rd_kafka_event_t *ev = rd_kafka_queue_poll(q, timeout_ms + 1000);
    const rd_kafka_CreateTopics_result_t *res = ev ? rd_kafka_event_CreateTopics_result(ev) : NULL;
    if (!ev || rd_kafka_event_error(ev) || !res) {
        snprintf(errstr, errstr_size, "creating topics: %s",
                 ev ? rd_kafka_event_error_string(ev) : "no answer");
        failed = -1;
    } else {
        size_t cnt;
        const rd_kafka_topic_result_t **tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
        for (size_t i = 0; i < cnt; i++) {
            rd_kafka_resp_err_t te = rd_kafka_topic_result_error(tr[i]);
            if (te == RD_KAFKA_RESP_ERR_NO_ERROR || te == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                continue;
            const char *msg = rd_kafka_topic_result_error_string(tr[i]);
            fprintf(stderr, "ltvstream topics: %s: %s\n", rd_kafka_topic_result_name(tr[i]),
                    msg && *msg ? msg : rd_kafka_err2str(te));
            failed++;
        }
        if (failed)
            snprintf(errstr, errstr_size, "%d topics could not be created", failed);
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    rd_kafka_AdminOptions_destroy(ao);
done:
    for (int i = 0; i < nn; i++)
        rd_kafka_NewTopic_destroy(nts[i]);
    free(nts);
    return failed;
}

static const char *role_name(ltv_topic_role_t r) {
    return r == LTV_TOPIC_INPUT    ? "input"
           : r == LTV_TOPIC_DLQ    ? "dead letters"
           : r == LTV_TOPIC_EVENTS ? "events"
                                   : "output";
}

/* One line per topic: what it is, what happened, and the configs this
 * command sets (an existing topic's own are not known here: the mock
 * cluster has no DescribeConfigs, a real one does). */
static void print_spec(const ltv_topic_spec_t *s, const char *state, int partitions) {
    printf("%-24s %-12s %-8s %3d partitions ", s->name, role_name(s->role), state, partitions);
    if (!strcmp(state, "exists"))
        fputs(" (configs left as they are)", stdout);
    else
        for (int k = 0; k < s->nconfigs; k++)
            printf(" %s=%s", s->configs[k][0], s->configs[k][1]);
    putchar('\n');
}

int ltv_topics_create(const ltv_conf_t *conf, const ltv_topics_opts_t *o) {
    char err[512];
    ltv_topic_spec_t *plan;
    int n = ltv_topics_plan(conf, o, &plan, err, sizeof(err));
    if (n < 0) {
        fprintf(stderr, "ltvstream topics: %s\n", err);
        return 2;
    }
    if (o->dry_run) {
        for (int i = 0; i < n; i++)
            print_spec(&plan[i], "planned", plan[i].partitions);
        ltv_topics_plan_free(plan, n);
        return 0;
    }
    int rc = 1;
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_t *rk = NULL;
    /* A consumer handle with the consumer's properties: the stage's
     * properties file names kafka.group.id, which a producer handle would
     * warn about. An admin request needs no group membership. */
    if (ltv_kafka_conf_apply(conf, 1, kc, err, sizeof(err))) {
        rd_kafka_conf_destroy(kc);
        fprintf(stderr, "ltvstream topics: %s\n", err);
        ltv_topics_plan_free(plan, n);
        return 2;
    }
    rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, err, sizeof(err));
    if (!rk) {
        rd_kafka_conf_destroy(kc);
        fprintf(stderr, "ltvstream topics: %s\n", err);
        ltv_topics_plan_free(plan, n);
        return 2;
    }
    int *before = ltv_calloc((size_t)n, sizeof(int));
    int *after = ltv_calloc((size_t)n, sizeof(int));
    int brokers = 0;
    int64_t deadline = ltv_mono_us() + (int64_t)o->timeout_ms * 1000;
    if (read_metadata(rk, plan, n, before, &brokers, o->timeout_ms, err, sizeof(err)))
        goto out;
    /* Three replicas where the cluster has them; a single-broker
     * development cluster gets one rather than an error. */
    int rf = o->replication_factor > 0 ? o->replication_factor : brokers < 3 ? brokers : 3;
    int failed = create_missing(rk, plan, n, before, rf, o->timeout_ms, err, sizeof(err));
    memcpy(after, before, sizeof(int) * (size_t)n);
    /* Created topics reach every broker's metadata a moment later. */
    for (int turn = 0; failed >= 0; turn++) {
        if (turn > 0) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        int b;
        if (read_metadata(rk, plan, n, after, &b, o->timeout_ms, err, sizeof(err)))
            goto out;
        int missing = 0;
        for (int i = 0; i < n; i++)
            missing += after[i] < 0;
        if (!missing || ltv_mono_us() >= deadline)
            break;
    }
    for (int i = 0; i < n; i++)
        print_spec(&plan[i], before[i] >= 0 ? "exists" : after[i] >= 0 ? "created" : "MISSING",
                   after[i] >= 0 ? after[i] : plan[i].partitions);
    if (failed)
        goto out;
    if (ltv_topics_verify(plan, n, after, err, sizeof(err)))
        goto out;
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "ltvstream topics: %s\n", err);
    free(before);
    free(after);
    rd_kafka_destroy(rk);
    ltv_topics_plan_free(plan, n);
    return rc;
}
