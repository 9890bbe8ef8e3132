/*
 * The Schema Registry end to end (README "Inputs" and "Outputs"): the real
 * stage against a stand-in registry (tests/registry_server.py) on a free
 * loopback port, the embedded broker and a private redis-server.
 *
 *   Ids only the registry knows: events written with them (an evolved
 *   purchase schema, our visit schema) are decoded by the registry's
 *   writer schemas and applied (state asserted against values worked out
 *   by hand); each id is fetched once however many messages carry it; an
 *   id the registry does not know is dead-lettered as unknown_schema_id,
 *   a schema that does not parse or is not Avro as incompatible_schema
 *   (each asked once too).
 *   Registry down when the stage starts, then up but answering 503: no
 *   dead letter, the partition waits exactly at the message it cannot
 *   decode (the one before it is committed, the one after it is not
 *   applied), /readyz says why, retries are counted; once the registry
 *   answers the stage catches up to exactly the state of a run without the
 *   outage.
 *   Avro output: with the registry down at start the stage waits before
 *   emitting anything; once it is up, the output schemas are registered
 *   under <topic>-value (the exact text `ltvstream schemas` gives) and every
 *   row carries its subject's id in the Confluent header, except the topic
 *   whose id output.avro.schema.ids sets (not registered).
 *
 * Every wait polls with a deadline; nothing sleeps to synchronise.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "agg.h"
#include "conf.h"
#include "decode.h"
#include "devenv.h"
#include "harness.h"
#include "outschema.h"

#define DEADLINE_US (60 * 1000000LL)

static h_env_t *H;
static h_registry_t *R;

/* Our purchase schema evolved: `campaign` removed, `coupon` added with a
 * default. Written by hand, not derived from schemas/purchase.avsc. */
static const char evolved_purchase[] =
    "{\"type\":\"record\",\"name\":\"Purchase\",\"namespace\":\"ltvstream.v1\",\"fields\":["
    "{\"name\":\"event_id\",\"type\":\"string\"},"
    "{\"name\":\"customer_id\",\"type\":\"string\"},"
    "{\"name\":\"order_id\",\"type\":\"string\"},"
    "{\"name\":\"type\",\"type\":{\"type\":\"enum\",\"name\":\"PurchaseType\","
    "\"symbols\":[\"order\",\"cancel\",\"refund\"]},\"default\":\"order\"},"
    "{\"name\":\"ts\",\"type\":{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}},"
    "{\"name\":\"amount\",\"type\":\"long\"},"
    "{\"name\":\"currency\",\"type\":\"string\"},"
    "{\"name\":\"channel\",\"type\":[\"null\",\"string\"],\"default\":null},"
    "{\"name\":\"coupon\",\"type\":\"string\",\"default\":\"\"}]}";

/* Ids the harness's schema.dir does not have (it holds 1 and 2). */
#define ID_PURCHASE 41
#define ID_VISIT 42
#define ID_BROKEN 43 /* "schema" that Avro cannot parse */
#define ID_PROTO 44  /* a Protobuf schema */
#define ID_UNKNOWN 999

static int setup(void **state) {
    (void)state;
    H = h_start(1, 0);
    R = h_registry_new(H);
    h_registry_put(R, ID_PURCHASE, evolved_purchase, NULL);
    h_registry_put(R, ID_VISIT, ltv_reader_schema_json(LTV_EV_VISIT), NULL);
    h_registry_put(R, ID_BROKEN,
                   "{\"type\":\"record\",\"name\":\"B\",\"fields\":[{\"name\":\"x\","
                   "\"type\":\"no.such.Type\"}]}",
                   NULL);
    h_registry_put(R, ID_PROTO, "syntax = \"proto3\"; message P { string id = 1; }",
                   "PROTOBUF");
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_registry_destroy(R);
    h_stop(H);
    return 0;
}

static char url_opt[128];

static const char *url(void) {
    snprintf(url_opt, sizeof(url_opt), "schema.registry.url=%s", R->url);
    return url_opt;
}

static void assert_hstr(const char *key, const char *field, const char *want) {
    char *v = h_hget(H, key, field);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static int64_t hi(const char *key, const char *field) { return h_hget_i64(H, key, field); }

/* One Confluent message with our schema for `kind` under schema id `id`. */
static void produce_one(ltv_ev_kind_t kind, int32_t id, const ltv_event_t *ev) {
    h_produce_ids(H, ev, 1, kind == LTV_EV_PURCHASE ? id : 1, NULL,
                  kind == LTV_EV_VISIT ? id : 2, NULL);
}

/* ---- ids only the registry knows ------------------------------------------------- */

static void registry_ids_are_fetched_once_and_applied(void **state) {
    (void)state;
    h_registry_start(R);
    ltv_event_t p[] = {
        h_order("e-1", "c1", "o-1", "2025-01-02T10:00:00", 5000, "google", "brand"),
        h_order("e-2", "c2", "o-2", "2025-01-03T12:00:00", 8000, "email", "welcome"),
        h_order("e-3", "c1", "o-3", "2025-01-10T10:00:00", 3000, "meta", "video"),
        h_order("e-4", "c1", "o-1", "2025-01-02T10:00:00", 5000, "google", "brand"), /* dup */
    };
    ltv_event_t v[] = {
        h_visit("v-1", "c1", "vis-c1", "2025-01-01T09:00:00"),
        h_visit("v-2", "c1", "vis-c1", "2025-01-02T09:50:00"),
        h_visit("v-3", NULL, "anon-1", "2025-01-03T10:00:00"),
    };
    h_produce_ids(H, p, 4, ID_PURCHASE, evolved_purchase, ID_VISIT, NULL);
    h_produce_ids(H, v, 3, ID_PURCHASE, evolved_purchase, ID_VISIT, NULL);
    ltv_event_t bad = h_order("e-9", "c9", "o-9", "2025-01-04T10:00:00", 100, NULL, NULL);
    produce_one(LTV_EV_PURCHASE, ID_UNKNOWN, &bad);
    produce_one(LTV_EV_PURCHASE, ID_UNKNOWN, &bad);
    produce_one(LTV_EV_PURCHASE, ID_BROKEN, &bad);
    produce_one(LTV_EV_PURCHASE, ID_PROTO, &bad);
    assert_int_equal(h_input_end(H), 11);

    const char *x[] = {url(), NULL};
    h_stage_run_to_end(H, "reg", x);
    assert_int_equal(h_stored_offsets(H, "reg"), 11);

    /* c1: o-1 (5000, 01-02, google) and o-3 (3000, 01-10); the duplicate
     * of o-1 counts once. The writer schema has no campaign: the reader's
     * default (null) is what was applied, although the event had one. */
    const char *k = "reg:c:{c1}";
    assert_int_equal(hi(k, "purchase_count"), 2);
    assert_int_equal(hi(k, "first_purchase_ts"), h_ts("2025-01-02T10:00:00"));
    assert_int_equal(hi(k, "second_purchase_ts"), h_ts("2025-01-10T10:00:00"));
    assert_int_equal(hi(k, "monetary"), 8000);
    assert_hstr(k, "first_channel", "google");
    char *campaign = h_hget(H, k, "first_campaign");
    assert_true(!campaign || !*campaign);
    free(campaign);
    assert_int_equal(hi(k, "visit_count"), 2);
    assert_int_equal(hi(k, "first_visit_ts"), h_ts("2025-01-01T09:00:00"));
    assert_int_equal(hi(k, "last_visit_ts"), h_ts("2025-01-02T09:50:00"));
    k = "reg:c:{c2}";
    assert_int_equal(hi(k, "purchase_count"), 1);
    assert_int_equal(hi(k, "monetary"), 8000);
    assert_hstr(k, "first_channel", "email");
    assert_int_equal(hi("reg:v:{anon-1}", "visit_count"), 1);
    assert_false(h_exists(H, "reg:c:{c9}"));

    /* Dead letters: the unknown id twice, the unusable schemas once each. */
    h_msg_t *m;
    int n = h_read_topic(H, "ltv.dlq", &m);
    assert_int_equal(n, 4);
    int unknown = 0, incompatible = 0;
    for (int i = 0; i < n; i++) {
        char reason[64], detail[512];
        h_header(m[i].headers, "ltv.reason", reason, sizeof(reason));
        h_header(m[i].headers, "ltv.detail", detail, sizeof(detail));
        if (!strcmp(reason, "unknown_schema_id")) {
            unknown++;
            assert_non_null(strstr(detail, "schema id 999"));
            assert_non_null(strstr(detail, "40403"));
        } else if (!strcmp(reason, "incompatible_schema")) {
            incompatible++;
            assert_true(strstr(detail, "schema id 43") || strstr(detail, "PROTOBUF"));
        }
    }
    h_msgs_free(m, n);
    assert_int_equal(unknown, 2);
    assert_int_equal(incompatible, 2);

    /* One request per id, whatever the number of messages carrying it. */
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/41 200"), 1);
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/42 200"), 1);
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/43 200"), 1);
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/44 200"), 1);
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/999 404"), 1);
    assert_int_equal(h_registry_requests(R, "GET "), 5);
    /* Ids 1 and 2 are in schema.dir: the registry is not asked. */
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/1 "), 0);
    assert_int_equal(h_registry_requests(R, "POST "), 0);
}

/* ---- the registry down, then failing, then back ----------------------------------- */

static int metrics_port;

static double metric(const char *series) {
    char *body = NULL;
    double v = -1;
    if (h_http_status(metrics_port, "/metrics", &body) == 200)
        v = h_metric_sample(body, series);
    free(body);
    return v;
}

static void alive(pid_t pid) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        fail_msg("the stage exited (status %d); logs in %s", st, H->dir);
}

/* Polls until the metric reaches at least `want`. */
static void wait_metric(pid_t pid, const char *series, double want) {
    int64_t end = ltv_mono_us() + DEADLINE_US;
    while (!(metric(series) >= want)) {
        alive(pid);
        if (ltv_mono_us() > end)
            fail_msg("%s stayed below %g (now %g); logs in %s", series, want, metric(series),
                     H->dir);
        h_sleep_ms(20);
    }
}

static void wait_requests(pid_t pid, const char *prefix, int want) {
    int64_t end = ltv_mono_us() + DEADLINE_US;
    while (h_registry_requests(R, prefix) < want) {
        alive(pid);
        if (ltv_mono_us() > end)
            fail_msg("fewer than %d requests \"%s\" reached the registry", want, prefix);
        h_sleep_ms(20);
    }
}

static void assert_waiting(pid_t pid, int64_t stored, const char *ns) {
    alive(pid);
    assert_int_equal(h_stored_offsets(H, ns), stored);
    char *body = NULL;
    assert_int_equal(h_http_status(metrics_port, "/readyz", &body), 503);
    assert_non_null(strstr(body, "schema registry unreachable"));
    free(body);
    assert_int_equal(h_http_status(metrics_port, "/healthz", NULL), 200);
    assert_true(metric("ltvstream_schema_registry_up") == 0);
    h_msg_t *m;
    int n = h_read_topic(H, "ltv.dlq", &m);
    h_msgs_free(m, n);
    assert_int_equal(n, 0);
}

static void registry_outage_defers_and_never_dead_letters(void **state) {
    (void)state;
    /* One partition: m0 (id 1, in schema.dir), m1 (id 41, registry only),
     * m2 (id 1). The stage commits m0 and waits at m1; m2 is not applied
     * before m1, whatever the batch. (Only the purchases topic: while it
     * waits the whole stage does, so which of two topics' messages a poll
     * returns first would decide how far the other one got.) */
    ltv_event_t e0 = h_order("e-0", "c9", "o-90", "2025-01-01T10:00:00", 1000, "email", NULL);
    ltv_event_t e1 = h_order("e-1", "c1", "o-1", "2025-01-02T10:00:00", 5000, "google", "brand");
    ltv_event_t e2 = h_order("e-2", "c9", "o-91", "2025-01-05T10:00:00", 2000, "email", NULL);
    h_produce(H, &e0, 1);
    h_produce_ids(H, &e1, 1, ID_PURCHASE, evolved_purchase, ID_VISIT, NULL);
    h_produce(H, &e2, 1);
    assert_int_equal(h_input_end(H), 3);

    metrics_port = ltv_free_port();
    char mport[64];
    snprintf(mport, sizeof(mport), "metrics.port=%d", metrics_port);
    char stats[400], stats_opt[420];
    snprintf(stats, sizeof(stats), "%s/out.stats.json", H->dir);
    snprintf(stats_opt, sizeof(stats_opt), "run.stats.file=%s", stats);
    const char *x[] = {url(), mport, "metrics.bind=127.0.0.1", "schema.registry.timeout.ms=1000",
                       stats_opt, NULL};
    pid_t pid = h_stage_start(H, "out", x);

    /* Down (connection refused): m0 is committed, the stage retries m1. */
    wait_metric(pid, "ltvstream_schema_registry_retries_total", 3);
    h_wait_stored(H, "out", 1, 60000);
    assert_waiting(pid, 1, "out");
    assert_int_equal(hi("out:c:{c9}", "purchase_count"), 1);
    assert_false(h_exists(H, "out:c:{c1}"));

    /* Up but failing (503): still waiting, nothing dead-lettered. */
    h_registry_fail(R, 503);
    h_registry_start(R);
    wait_requests(pid, "GET /schemas/ids/", 2);
    double retries = metric("ltvstream_schema_registry_retries_total");
    wait_metric(pid, "ltvstream_schema_registry_retries_total", retries + 1);
    assert_waiting(pid, 1, "out");
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/41 503"),
                     h_registry_requests(R, "GET "));

    /* Answering: everything is applied, exactly once. */
    h_registry_fail(R, 0);
    h_wait_stored(H, "out", 3, 60000);
    int64_t end = ltv_mono_us() + DEADLINE_US;
    while (h_http_status(metrics_port, "/readyz", NULL) != 200) {
        alive(pid);
        if (ltv_mono_us() > end)
            fail_msg("/readyz did not turn 200 after the registry came back");
        h_sleep_ms(20);
    }
    assert_true(metric("ltvstream_schema_registry_up") == 1);
    retries = metric("ltvstream_schema_registry_retries_total");
    assert_true(retries >= 4); /* 3 while down, 1 or more while failing */
    kill(pid, SIGTERM);
    assert_int_equal(h_stage_wait(pid, 30000), 0);
    /* The count at exit is the one the metric showed (no retry since). */
    char *json = h_slurp(stats);
    assert_non_null(json);
    const char *r = strstr(json, "\"schema_registry_retries\":");
    assert_non_null(r);
    assert_true(strtod(r + strlen("\"schema_registry_retries\":"), NULL) == retries);
    free(json);

    assert_int_equal(hi("out:c:{c9}", "purchase_count"), 2);
    assert_int_equal(hi("out:c:{c9}", "monetary"), 3000);
    assert_int_equal(hi("out:c:{c9}", "second_purchase_ts"), h_ts("2025-01-05T10:00:00"));
    assert_int_equal(hi("out:c:{c1}", "purchase_count"), 1);
    assert_int_equal(hi("out:c:{c1}", "monetary"), 5000);
    assert_hstr("out:c:{c1}", "first_channel", "google");
    h_msg_t *m;
    int n = h_read_topic(H, "ltv.dlq", &m);
    h_msgs_free(m, n);
    assert_int_equal(n, 0);
    assert_int_equal(h_registry_requests(R, "GET /schemas/ids/41 200"), 1);

    /* The same input without an outage ends in the same state (the live
     * run's partitions marked read to the end, as the reference's are). */
    const char *const y[] = {url(), NULL};
    h_stage_drain(H, "out", y);
    h_stage_run_to_end(H, "ref", y);
    char *a = h_dump_ns(H, "out"), *b = h_dump_ns(H, "ref");
    h_assert_same_dump(H, a, b, "after the outage vs. without one");
    free(a);
    free(b);
}

/* ---- output schemas registered --------------------------------------------------- */

/* The schema id in a Confluent header, or -1. */
static int32_t framed_id(const h_msg_t *m) {
    const unsigned char *b = (const unsigned char *)m->val;
    if (m->len < 5 || b[0] != 0)
        return -1;
    return (int32_t)(((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) | ((uint32_t)b[3] << 8) |
                     b[4]);
}

static void output_schemas_are_registered(void **state) {
    (void)state;
    ltv_event_t ev[] = {
        h_order("e-1", "c1", "o-1", "2025-01-02T10:00:00", 5000, "google", "brand"),
        h_order("e-2", "c1", "o-2", "2025-01-12T10:00:00", 3000, "google", NULL),
        h_visit("v-1", "c1", "vis-c1", "2025-01-02T09:00:00"),
    };
    h_produce(H, ev, 3);

    /* The registry is down when the stage starts: it waits before
     * emitting (and before consuming). */
    const char *x[] = {url(), "output.format=avro", "output.avro.schema.ids=ltv.rfm_segments:77",
                       "run.stop.at.end=true", NULL};
    pid_t pid = h_stage_start(H, "avro", x);
    int64_t end = ltv_mono_us() + DEADLINE_US;
    while (!h_log_contains(pid, "retrying with backoff")) {
        alive(pid);
        if (ltv_mono_us() > end)
            fail_msg("the stage did not report the registry down (logs in %s)", H->dir);
        h_sleep_ms(20);
    }
    assert_int_equal(h_stored_offsets(H, "avro"), 0);
    h_registry_start(R);
    assert_int_equal(h_stage_wait(pid, 120000), 0);
    assert_int_equal(h_stored_offsets(H, "avro"), 3);

    /* What was registered: every output topic's schema, as `ltvstream
     * schemas` prints it for the same configuration, under <topic>-value;
     * not the topic whose id is configured. */
    char err[256];
    ltv_conf_t *conf = ltv_conf_new();
    ltv_aggs_t *aggs = ltv_aggs_new(conf, err, sizeof(err));
    assert_non_null(aggs);
    ltv_outschema_t *sch;
    int ns = ltv_outschemas(aggs, conf, &sch);
    /* The five tables, ltv.acquisition and ltv.lifecycle (c1's first and
     * second purchases are triggers). */
    assert_int_equal(ns, 7);
    int registered = 0;
    for (int i = 0; i < ns; i++) {
        char subject[128];
        snprintf(subject, sizeof(subject), "%s-value", sch[i].topic);
        int32_t id = h_registry_subject_id(R, subject);
        if (!strcmp(sch[i].topic, "ltv.rfm_segments")) {
            assert_int_equal(id, -1);
            id = 77;
        } else {
            assert_true(id > 1000);
            registered++;
            char path[400];
            snprintf(path, sizeof(path), "%s/%d.avsc", R->dir, (int)id);
            char *text = h_slurp(path);
            assert_non_null(text);
            assert_string_equal(text, sch[i].json);
            free(text);
        }
        /* Every row of the topic carries the id (the fixture is too short
         * for a rolling F2 row). */
        h_msg_t *m;
        int n = h_read_topic(H, sch[i].topic, &m);
        if (strcmp(sch[i].topic, "ltv.f2_rolling"))
            assert_true(n > 0);
        for (int k = 0; k < n; k++)
            if (m[k].len) /* tombstones have no value */
                assert_int_equal(framed_id(&m[k]), id);
        h_msgs_free(m, n);
    }
    assert_int_equal(registered, 6);
    assert_int_equal(h_registry_requests(R, "POST /subjects/"), 6);
    /* Different schemas, different ids. */
    for (int i = 0; i < ns; i++)
        for (int j = i + 1; j < ns; j++) {
            char a[128], b[128];
            snprintf(a, sizeof(a), "%s-value", sch[i].topic);
            snprintf(b, sizeof(b), "%s-value", sch[j].topic);
            if (h_registry_subject_id(R, a) >= 0)
                assert_int_not_equal(h_registry_subject_id(R, a), h_registry_subject_id(R, b));
        }
    ltv_outschemas_free(sch, ns);
    ltv_aggs_destroy(aggs);
    ltv_conf_destroy(conf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(registry_ids_are_fetched_once_and_applied, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(registry_outage_defers_and_never_dead_letters, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(output_schemas_are_registered, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
