/*
 * `ltvstream topics create` (consumer/topics_admin.c), the parts that need
 * no cluster: which topics a configuration has and the settings each is
 * created with (input topics, dead letters and lifecycle triggers are
 * logs, outputs are compacted tables), and the verdict on the topics a
 * cluster reports (every topic present, the customers' input topics
 * co-partitioned; ad spend need not be). The expected lists
 * are written out here, not derived from the code's tables.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "topics_admin.h"

/* A topic's configs as "k=v k=v" in the order they are sent. */
static void configs_text(const ltv_topic_spec_t *s, char *out, size_t n) {
    out[0] = '\0';
    for (int k = 0; k < s->nconfigs; k++) {
        size_t l = strlen(out);
        snprintf(out + l, n - l, "%s%s=%s", k ? " " : "", s->configs[k][0], s->configs[k][1]);
    }
}

static const char *const COMPACTED = "cleanup.policy=compact segment.ms=3600000 "
                                     "min.compaction.lag.ms=3600000 delete.retention.ms=86400000";

static void default_plan_inputs_dlq_and_compacted_outputs(void **state) {
    (void)state;
    ltv_conf_t *conf = ltv_conf_new();
    ltv_topics_opts_t o;
    ltv_topics_opts_defaults(&o);
    assert_int_equal(o.partitions, 12);
    assert_int_equal(o.output_partitions, 3);
    assert_int_equal(o.replication_factor, 0); /* min(3, brokers) at run time */
    ltv_topic_spec_t *p;
    char err[256];
    int n = ltv_topics_plan(conf, &o, &p, err, sizeof(err));
    static const struct {
        const char *name;
        ltv_topic_role_t role;
        int partitions;
        const char *configs;
    } want[] = {
        {"ltv.purchases", LTV_TOPIC_INPUT, 12, "cleanup.policy=delete"},
        {"ltv.visits", LTV_TOPIC_INPUT, 12, "cleanup.policy=delete"},
        {"ltv.dlq", LTV_TOPIC_DLQ, 3, "cleanup.policy=delete retention.ms=1209600000"},
        {"ltv.f2_rate", LTV_TOPIC_OUTPUT, 3, NULL},
        {"ltv.f2_rolling", LTV_TOPIC_OUTPUT, 3, NULL},
        {"ltv.retention_mix", LTV_TOPIC_OUTPUT, 3, NULL},
        {"ltv.rfm_segments", LTV_TOPIC_OUTPUT, 3, NULL},
        {"ltv.acquisition", LTV_TOPIC_OUTPUT, 3, NULL},
        {"ltv.customer_rfm", LTV_TOPIC_OUTPUT, 3, NULL},
        /* A stream of triggers: compaction would keep one per customer. */
        {"ltv.lifecycle", LTV_TOPIC_EVENTS, 3, "cleanup.policy=delete retention.ms=1209600000"},
    };
    /* No ad spend topic: topic.ad_spend is empty by default. */
    assert_int_equal(n, 10);
    for (int i = 0; i < n; i++) {
        char cfg[512];
        configs_text(&p[i], cfg, sizeof(cfg));
        assert_string_equal(p[i].name, want[i].name);
        assert_int_equal(p[i].role, want[i].role);
        assert_int_equal(p[i].partitions, want[i].partitions);
        assert_string_equal(cfg, want[i].configs ? want[i].configs : COMPACTED);
    }
    ltv_topics_plan_free(p, n);
    ltv_conf_destroy(conf);
}

static void plan_follows_the_configuration(void **state) {
    (void)state;
    ltv_conf_t *conf = ltv_conf_new();
    char err[256];
    /* No visits topic; two row types sharing a topic create it once;
     * renamed topics are the ones created. */
    assert_int_equal(ltv_conf_set(conf, "topic.visits", "", err, sizeof(err)), LTV_CONF_OK);
    assert_int_equal(ltv_conf_set(conf, "topic.purchases", "shop.orders", err, sizeof(err)),
                     LTV_CONF_OK);
    assert_int_equal(ltv_conf_set(conf, "topic.f2_rolling", "ltv.f2_rate", err, sizeof(err)),
                     LTV_CONF_OK);
    /* Ad spend is an input; lifecycle triggers turned off have no topic. */
    assert_int_equal(ltv_conf_set(conf, "topic.ad_spend", "shop.ad_spend", err, sizeof(err)),
                     LTV_CONF_OK);
    assert_int_equal(ltv_conf_set(conf, "topic.lifecycle", "", err, sizeof(err)), LTV_CONF_OK);
    ltv_topics_opts_t o;
    ltv_topics_opts_defaults(&o);
    o.partitions = 32;
    o.output_partitions = 6;
    o.input_retention_ms = "-1";
    ltv_topic_spec_t *p;
    int n = ltv_topics_plan(conf, &o, &p, err, sizeof(err));
    assert_int_equal(n, 8);
    static const char *names[] = {"shop.orders",       "shop.ad_spend",    "ltv.dlq",
                                  "ltv.f2_rate",       "ltv.retention_mix", "ltv.rfm_segments",
                                  "ltv.acquisition",   "ltv.customer_rfm"};
    for (int i = 0; i < n; i++)
        assert_string_equal(p[i].name, names[i]);
    char cfg[512];
    for (int i = 0; i < 2; i++) {
        configs_text(&p[i], cfg, sizeof(cfg));
        assert_string_equal(cfg, "cleanup.policy=delete retention.ms=-1");
        assert_int_equal(p[i].role, LTV_TOPIC_INPUT);
        assert_int_equal(p[i].partitions, 32);
    }
    assert_int_equal(p[0].copartitioned, 1);
    assert_int_equal(p[1].copartitioned, 0);
    for (int i = 2; i < n; i++)
        assert_int_equal(p[i].partitions, 6);
    configs_text(&p[3], cfg, sizeof(cfg));
    assert_string_equal(cfg, COMPACTED);
    ltv_topics_plan_free(p, n);

    o.partitions = 0;
    assert_int_equal(ltv_topics_plan(conf, &o, &p, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "at least 1"));
    ltv_conf_destroy(conf);
}

static void verify_needs_every_topic_and_copartitioned_inputs(void **state) {
    (void)state;
    ltv_conf_t *conf = ltv_conf_new();
    ltv_topics_opts_t o;
    ltv_topics_opts_defaults(&o);
    ltv_topic_spec_t *p;
    char err[512];
    assert_int_equal(ltv_conf_set(conf, "topic.ad_spend", "ltv.ad_spend", err, sizeof(err)),
                     LTV_CONF_OK);
    int n = ltv_topics_plan(conf, &o, &p, err, sizeof(err));
    assert_int_equal(n, 11);
    /* Inputs 16 and 16, ad spend 4, the rest with other counts: fine (ad
     * spend is keyed by campaign, outputs by row: any count works). */
    int found[11] = {16, 16, 4, 1, 4, 4, 2, 9, 3, 3, 5};
    assert_int_equal(ltv_topics_verify(p, n, found, err, sizeof(err)), 0);
    /* The visits topic with 8 partitions: not co-partitioned. */
    found[1] = 8;
    assert_int_equal(ltv_topics_verify(p, n, found, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "ltv.purchases (16 partitions) and ltv.visits (8 partitions)"));
    assert_non_null(strstr(err, "co-partitioned"));
    /* An output topic missing. */
    found[1] = 16;
    found[9] = -1;
    assert_int_equal(ltv_topics_verify(p, n, found, err, sizeof(err)), -1);
    assert_string_equal(err, "topic ltv.customer_rfm does not exist");
    ltv_topics_plan_free(p, n);
    ltv_conf_destroy(conf);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(default_plan_inputs_dlq_and_compacted_outputs),
        cmocka_unit_test(plan_follows_the_configuration),
        cmocka_unit_test(verify_needs_every_topic_and_copartitioned_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
