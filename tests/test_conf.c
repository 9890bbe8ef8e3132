/*
 * Configuration (SPEC §6): a key=value properties file, overridable with
 * -X key=value as kcat does; librdkafka's own properties pass through
 * under kafka. / kafka.consumer. / kafka.producer.; unknown keys and bad
 * values are rejected naming the key (and, in a file, path:line).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf.h"

typedef struct fx_s {
    ltv_conf_t *conf;
    char dir[64];
    char path[128];
    int have_file;
    char *list_text;
} fx_t;

static int setup(void **state) {
    fx_t *f = calloc(1, sizeof(*f));
    f->conf = ltv_conf_new();
    snprintf(f->dir, sizeof(f->dir), "/tmp/ltv_conf_XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/ltv.properties", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fx_t *f = *state;
    ltv_conf_destroy(f->conf);
    unlink(f->path);
    rmdir(f->dir);
    free(f->list_text);
    free(f);
    return 0;
}

static const char *write_props(fx_t *f, const char *text) {
    FILE *fp = fopen(f->path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    return f->path;
}

#define assert_contains(hay, needle)                                                              \
    do {                                                                                          \
        if (!strstr((hay), (needle)))                                                             \
            fail_msg("\"%s\" does not contain \"%s\"", (hay), (needle));                          \
    } while (0)

/* Sets pair, expects `want`; on error, errstr must name `name`. */
static void expect_pair(ltv_conf_t *conf, const char *pair, ltv_conf_res_t want,
                        const char *name) {
    char err[512] = "";
    ltv_conf_res_t r = ltv_conf_set_pair(conf, pair, err, sizeof(err));
    if (r != want)
        fail_msg("-X %s: result %d, want %d (%s)", pair, (int)r, (int)want, err);
    if (want != LTV_CONF_OK) {
        if (!err[0])
            fail_msg("-X %s: rejected without a message", pair);
        if (name)
            assert_contains(err, name);
    }
}

/* ---- defaults ---------------------------------------------------------------- */

static void test_defaults(void **state) {
    fx_t *f = *state;
    const ltv_conf_t *c = f->conf;
    assert_string_equal(c->namespace_, "ltv");
    assert_int_equal(c->batch_max_events, 400000);
    assert_int_equal(c->batch_max_uncached, 100000);
    assert_int_equal(c->nhorizons, 2);
    assert_int_equal(c->horizons[0], 30);
    assert_int_equal(c->horizons[1], 90);
    assert_int_equal(c->tz_offset_ms, 0);
    assert_int_equal(c->framing, LTV_FRAMING_AUTO);
    /* topic names of SPEC §2 and §5 */
    assert_string_equal(c->topic_purchases, "ltv.purchases");
    assert_string_equal(c->topic_visits, "ltv.visits");
    assert_string_equal(c->topic_dlq, "ltv.dlq");
    assert_string_equal(c->topic_f2_rate, "ltv.f2_rate");
    assert_string_equal(c->topic_retention_mix, "ltv.retention_mix");
    assert_string_equal(c->schema_dir, "");
    assert_int_equal(c->redis_port, 6379);
    assert_int_equal(c->stop_at_end, 0);
    assert_int_equal(c->nkprops, 0);
    assert_null(ltv_conf_kafka_get(c, 1, "bootstrap.servers"));
    /* the HTTP endpoint is on, on every interface (containers) */
    assert_int_equal(c->metrics_port, 9464);
    assert_string_equal(c->metrics_bind, "0.0.0.0");
    assert_int_equal(c->metrics_stall_ms, 60000);
    /* SIGTERM: 10 s to deliver rows and 5 s to leave the group, which with
     * redis.timeout.ms stay inside Kubernetes' default 30 s grace period */
    assert_int_equal(c->shutdown_deliver_ms, 10000);
    assert_int_equal(c->shutdown_leave_ms, 5000);
    assert_true(c->shutdown_deliver_ms + c->shutdown_leave_ms + c->redis_timeout_ms < 30000);
    assert_int_equal(c->log_json, 0);
}

/* ---- -X key=value -------------------------------------------------------------- */

static void test_set_pair_typed_values(void **state) {
    fx_t *f = *state;
    expect_pair(f->conf, "namespace=backfill_2024", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->namespace_, "backfill_2024");
    expect_pair(f->conf, "batch.max.events=500", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->batch_max_events, 500);
    expect_pair(f->conf, "tz.offset=+09:00", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->tz_offset_ms, 9 * 3600 * 1000);
    expect_pair(f->conf, "tz.offset=-05:30", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->tz_offset_ms, -(5 * 3600 + 30 * 60) * 1000);
    expect_pair(f->conf, "f2.horizons.days=7,30,90,365", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->nhorizons, 4);
    assert_int_equal(f->conf->horizons[0], 7);
    assert_int_equal(f->conf->horizons[3], 365);
    expect_pair(f->conf, "input.framing=single-object", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->framing, LTV_FRAMING_SINGLE_OBJECT);
    expect_pair(f->conf, "input.framing=plain", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->framing, LTV_FRAMING_PLAIN);
    expect_pair(f->conf, "input.framing=confluent", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->framing, LTV_FRAMING_CONFLUENT);
    expect_pair(f->conf, "run.stop.at.end=true", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->stop_at_end, 1);
    expect_pair(f->conf, "run.stop.at.end=false", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->stop_at_end, 0);
    /* the value is everything after the first '=' */
    expect_pair(f->conf, "redis.password=a=b=c", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->redis_password, "a=b=c");
    /* an empty string value is a value */
    expect_pair(f->conf, "topic.visits=", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->topic_visits, "");
    /* range edges are inclusive */
    expect_pair(f->conf, "redis.port=65535", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->redis_port, 65535);
    expect_pair(f->conf, "redis.port=1", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->redis_port, 1);
    /* metrics.port=0 turns the endpoint off */
    expect_pair(f->conf, "metrics.port=0", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->metrics_port, 0);
    expect_pair(f->conf, "metrics.bind=127.0.0.1", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->metrics_bind, "127.0.0.1");
    expect_pair(f->conf, "log.format=json", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->log_json, 1);
}

static void test_later_value_overrides_earlier(void **state) {
    fx_t *f = *state;
    expect_pair(f->conf, "namespace=a", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "namespace=b", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->namespace_, "b");
    expect_pair(f->conf, "f2.horizons.days=7", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "f2.horizons.days=14,28", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->nhorizons, 2);
    assert_int_equal(f->conf->horizons[0], 14);
    assert_int_equal(f->conf->horizons[1], 28);
    /* a file, then -X on top (the order main applies them in) */
    write_props(f, "namespace=from_file\nbatch.max.events=7\nbatch.max.events=8\n");
    char err[512] = "";
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_OK);
    assert_string_equal(f->conf->namespace_, "from_file");
    assert_int_equal(f->conf->batch_max_events, 8);
    expect_pair(f->conf, "namespace=from_cli", LTV_CONF_OK, NULL);
    assert_string_equal(f->conf->namespace_, "from_cli");
}

static void test_unknown_key_is_rejected_naming_it(void **state) {
    fx_t *f = *state;
    expect_pair(f->conf, "batch.max.event=5", LTV_CONF_UNKNOWN, "batch.max.event");
    expect_pair(f->conf, "no.such.key=1", LTV_CONF_UNKNOWN, "no.such.key");
    expect_pair(f->conf, "kafka=1", LTV_CONF_UNKNOWN, "kafka");
    expect_pair(f->conf, "NAMESPACE=x", LTV_CONF_UNKNOWN, "NAMESPACE");
    /* via ltv_conf_set too */
    char err[512] = "";
    assert_int_equal(ltv_conf_set(f->conf, "topic.purchase", "x", err, sizeof(err)),
                     LTV_CONF_UNKNOWN);
    assert_contains(err, "topic.purchase");
    /* nothing changed */
    assert_string_equal(f->conf->namespace_, "ltv");
    assert_string_equal(f->conf->topic_purchases, "ltv.purchases");
}

static void test_missing_equals_is_invalid(void **state) {
    fx_t *f = *state;
    expect_pair(f->conf, "namespace", LTV_CONF_INVALID, "namespace");
    expect_pair(f->conf, "", LTV_CONF_INVALID, NULL);
}

static void test_bad_values_are_rejected_naming_the_key(void **state) {
    fx_t *f = *state;
    /* integers */
    expect_pair(f->conf, "batch.max.events=abc", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "batch.max.events=10x", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "batch.max.events=", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "batch.max.events=1.5", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "batch.max.events=99999999999999999999", LTV_CONF_INVALID,
                "batch.max.events");
    /* out of range */
    expect_pair(f->conf, "batch.max.events=0", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "batch.max.events=-1", LTV_CONF_INVALID, "batch.max.events");
    expect_pair(f->conf, "redis.port=65536", LTV_CONF_INVALID, "redis.port");
    expect_pair(f->conf, "redis.port=0", LTV_CONF_INVALID, "redis.port");
    expect_pair(f->conf, "log.level=8", LTV_CONF_INVALID, "log.level");
    expect_pair(f->conf, "metrics.port=65536", LTV_CONF_INVALID, "metrics.port");
    expect_pair(f->conf, "metrics.port=-1", LTV_CONF_INVALID, "metrics.port");
    expect_pair(f->conf, "metrics.healthz.stall.ms=999", LTV_CONF_INVALID,
                "metrics.healthz.stall.ms");
    expect_pair(f->conf, "log.format=xml", LTV_CONF_INVALID, "log.format");
    /* enums and booleans */
    expect_pair(f->conf, "input.framing=protobuf", LTV_CONF_INVALID, "input.framing");
    expect_pair(f->conf, "input.framing=", LTV_CONF_INVALID, "input.framing");
    expect_pair(f->conf, "input.framing=Confluent", LTV_CONF_INVALID, "input.framing");
    expect_pair(f->conf, "input.framing=auto|plain", LTV_CONF_INVALID, "input.framing");
    expect_pair(f->conf, "run.stop.at.end=yes please", LTV_CONF_INVALID, "run.stop.at.end");
    /* zone offsets */
    expect_pair(f->conf, "tz.offset=JST", LTV_CONF_INVALID, "tz.offset");
    expect_pair(f->conf, "tz.offset=+25:00", LTV_CONF_INVALID, "tz.offset");
    expect_pair(f->conf, "tz.offset=09:00", LTV_CONF_INVALID, "tz.offset");
    expect_pair(f->conf, "tz.offset=+09:60", LTV_CONF_INVALID, "tz.offset");
    expect_pair(f->conf, "tz.offset=", LTV_CONF_INVALID, "tz.offset");
    /* horizon lists */
    expect_pair(f->conf, "f2.horizons.days=30,,90", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=30;90", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=0", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=-30", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=3651", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=30,abc", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=30,30", LTV_CONF_INVALID, "f2.horizons.days");
    expect_pair(f->conf, "f2.horizons.days=1,2,3,4,5,6,7,8,9", LTV_CONF_INVALID,
                "f2.horizons.days");

    /* a rejected value leaves the previous one in place */
    assert_int_equal(f->conf->batch_max_events, 400000);
    assert_int_equal(f->conf->redis_port, 6379);
    assert_int_equal(f->conf->framing, LTV_FRAMING_AUTO);
    assert_int_equal(f->conf->tz_offset_ms, 0);
    assert_int_equal(f->conf->nhorizons, 2);
    assert_int_equal(f->conf->horizons[0], 30);
    assert_int_equal(f->conf->horizons[1], 90);
    /* eight distinct horizons is the documented maximum */
    expect_pair(f->conf, "f2.horizons.days=1,2,3,4,5,6,7,8", LTV_CONF_OK, NULL);
    assert_int_equal(f->conf->nhorizons, 8);
    assert_int_equal(f->conf->horizons[7], 8);
}

/* ---- librdkafka pass-through ---------------------------------------------------- */

static void test_kafka_pass_through(void **state) {
    fx_t *f = *state;
    const ltv_conf_t *c = f->conf;
    expect_pair(f->conf, "kafka.bootstrap.servers=b1:9092,b2:9092", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "kafka.consumer.group.id=ltv-backfill", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "kafka.producer.linger.ms=5", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "kafka.linger.ms=100", LTV_CONF_OK, NULL);
    /* general property set after the role-specific one: the role-specific
     * one still wins for its role */
    expect_pair(f->conf, "kafka.consumer.client.id=cons", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "kafka.client.id=both", LTV_CONF_OK, NULL);
    /* values containing '=' survive */
    expect_pair(f->conf, "kafka.sasl.jaas.config=user=\"u\" password=\"p=q\"", LTV_CONF_OK, NULL);

    const int CONS = 1, PROD = 2;
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "bootstrap.servers"), "b1:9092,b2:9092");
    assert_string_equal(ltv_conf_kafka_get(c, PROD, "bootstrap.servers"), "b1:9092,b2:9092");
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "group.id"), "ltv-backfill");
    assert_null(ltv_conf_kafka_get(c, PROD, "group.id"));
    assert_string_equal(ltv_conf_kafka_get(c, PROD, "linger.ms"), "5");
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "linger.ms"), "100");
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "client.id"), "cons");
    assert_string_equal(ltv_conf_kafka_get(c, PROD, "client.id"), "both");
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "sasl.jaas.config"),
                        "user=\"u\" password=\"p=q\"");
    assert_null(ltv_conf_kafka_get(c, CONS, "nonexistent"));
    /* the prefix is stripped: the full key is not a librdkafka name */
    assert_null(ltv_conf_kafka_get(c, CONS, "kafka.bootstrap.servers"));

    /* later overrides earlier, without duplicating the entry */
    int before = c->nkprops;
    expect_pair(f->conf, "kafka.linger.ms=200", LTV_CONF_OK, NULL);
    expect_pair(f->conf, "kafka.consumer.group.id=other", LTV_CONF_OK, NULL);
    assert_int_equal(c->nkprops, before);
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "linger.ms"), "200");
    assert_string_equal(ltv_conf_kafka_get(c, PROD, "linger.ms"), "5");
    assert_string_equal(ltv_conf_kafka_get(c, CONS, "group.id"), "other");

    /* librdkafka properties are not stage keys */
    assert_string_equal(c->namespace_, "ltv");
}

static void test_kafka_prefix_alone_is_rejected(void **state) {
    fx_t *f = *state;
    expect_pair(f->conf, "kafka.=x", LTV_CONF_INVALID, "kafka.");
    expect_pair(f->conf, "kafka.consumer.=x", LTV_CONF_INVALID, "kafka.consumer.");
    expect_pair(f->conf, "kafka.producer.=x", LTV_CONF_INVALID, "kafka.producer.");
    assert_int_equal(f->conf->nkprops, 0);
}

/* ---- properties file -------------------------------------------------------------- */

static void test_properties_file(void **state) {
    fx_t *f = *state;
    char err[512] = "";
    write_props(f, "# comment\n"
                   "! also a comment\n"
                   "\n"
                   "   \n"
                   "\t# indented comment\n"
                   "namespace=prod\n"
                   "  batch.max.events   =   2500  \n"
                   "tz.offset\t=\t+09:00\n"
                   "f2.horizons.days=14,60\r\n"
                   "kafka.bootstrap.servers = localhost:9092\n"
                   "kafka.consumer.auto.offset.reset=earliest\n"
                   "redis.password=p#ss!word\n"
                   "input.framing=confluent"); /* no newline at the end */
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_OK);
    assert_string_equal(f->conf->namespace_, "prod");
    assert_int_equal(f->conf->batch_max_events, 2500);
    assert_int_equal(f->conf->tz_offset_ms, 32400000);
    assert_int_equal(f->conf->nhorizons, 2);
    assert_int_equal(f->conf->horizons[0], 14);
    assert_int_equal(f->conf->horizons[1], 60);
    assert_string_equal(ltv_conf_kafka_get(f->conf, 2, "bootstrap.servers"), "localhost:9092");
    assert_string_equal(ltv_conf_kafka_get(f->conf, 1, "auto.offset.reset"), "earliest");
    assert_null(ltv_conf_kafka_get(f->conf, 2, "auto.offset.reset"));
    /* '#' and '!' start a comment only at the start of a line */
    assert_string_equal(f->conf->redis_password, "p#ss!word");
    assert_int_equal(f->conf->framing, LTV_FRAMING_CONFLUENT);
}

/* A line longer than any fixed buffer is one line: an inline PEM
 * certificate is several kilobytes. */
static void test_long_line_is_one_line(void **state) {
    fx_t *f = *state;
    char err[512] = "";
    size_t vn = 10000;
    char *text = malloc(vn + 64);
    assert_non_null(text);
    char *p = text + sprintf(text, "kafka.ssl.ca.pem=");
    for (size_t i = 0; i < vn; i++)
        p[i] = i % 64 == 63 ? '=' : 'A' + (char)(i % 26); /* '=' as in base64 padding */
    strcpy(p + vn, "\nnamespace=after\n");
    write_props(f, text);
    free(text);
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_OK);
    const char *v = ltv_conf_kafka_get(f->conf, 1, "ssl.ca.pem");
    assert_non_null(v);
    assert_int_equal(strlen(v), vn);
    assert_string_equal(f->conf->namespace_, "after");
}

static void test_file_errors_name_path_and_line(void **state) {
    fx_t *f = *state;
    char err[512] = "";
    char want[256];

    /* unknown key on line 3 */
    write_props(f, "# header\nnamespace=x\nbatch.size=7\nredis.port=1\n");
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_UNKNOWN);
    snprintf(want, sizeof(want), "%s:3:", f->path);
    assert_contains(err, want);
    assert_contains(err, "batch.size");

    /* bad value on line 2 */
    write_props(f, "\nredis.port=http\n");
    err[0] = '\0';
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_INVALID);
    snprintf(want, sizeof(want), "%s:2:", f->path);
    assert_contains(err, want);
    assert_contains(err, "redis.port");

    /* a line without '=' on line 4 */
    write_props(f, "namespace=x\n\n# c\njust some words\n");
    err[0] = '\0';
    assert_int_equal(ltv_conf_load_file(f->conf, f->path, err, sizeof(err)), LTV_CONF_INVALID);
    snprintf(want, sizeof(want), "%s:4:", f->path);
    assert_contains(err, want);

    /* a missing file names the path */
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nope.properties", f->dir);
    err[0] = '\0';
    assert_int_equal(ltv_conf_load_file(f->conf, missing, err, sizeof(err)), LTV_CONF_INVALID);
    assert_contains(err, missing);
}

/* ---- -X list --------------------------------------------------------------------- */

static void test_list_documents_every_key(void **state) {
    fx_t *f = *state;
    char *buf = NULL;
    size_t n = 0;
    FILE *fp = open_memstream(&buf, &n);
    assert_non_null(fp);
    ltv_conf_list(fp);
    fclose(fp);
    f->list_text = buf;
    const char *keys[] = {"topic.purchases", "topic.visits", "input.framing", "schema.dir",
                          "input.plain.purchase.schema", "input.max.future.skew.ms", "topic.dlq",
                          "namespace", "batch.max.events", "tz.offset", "f2.horizons.days",
                          "redis.host", "redis.port", "metrics.port", "metrics.bind",
                          "metrics.healthz.stall.ms", "log.format", "kafka."};
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        assert_contains(buf, keys[i]);
    /* every key listed is accepted by the parser with its own default */
    char line[1024];
    FILE *in = fmemopen(buf, n, "r");
    assert_non_null(in);
    int listed = 0;
    ltv_conf_t *c = ltv_conf_new();
    while (fgets(line, sizeof(line), in)) {
        char key[128];
        if (sscanf(line, "%127s", key) != 1 || !strcmp(key, "Property") || !strncmp(key, "kafka.", 6))
            continue;
        char err[512] = "";
        /* unknown keys return LTV_CONF_UNKNOWN; a known key with a dummy
         * value may be INVALID, which still proves it is known */
        if (ltv_conf_set(c, key, "1", err, sizeof(err)) == LTV_CONF_UNKNOWN) {
            fclose(in);
            ltv_conf_destroy(c);
            fail_msg("-X list shows %s but the parser does not know it", key);
        }
        listed++;
    }
    fclose(in);
    ltv_conf_destroy(c);
    assert_true(listed >= 20);
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_defaults),
        T(test_set_pair_typed_values),
        T(test_later_value_overrides_earlier),
        T(test_unknown_key_is_rejected_naming_it),
        T(test_missing_equals_is_invalid),
        T(test_bad_values_are_rejected_naming_the_key),
        T(test_kafka_pass_through),
        T(test_kafka_prefix_alone_is_rejected),
        T(test_properties_file),
        T(test_long_line_is_one_line),
        T(test_file_errors_name_path_and_line),
        T(test_list_documents_every_key),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
