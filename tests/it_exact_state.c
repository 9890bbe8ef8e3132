/*
 * A fixed set of events, produced to the embedded broker and processed by
 * the real stage against a real redis-server, gives exactly the Redis state
 * and output rows worked out by hand below. The set has a duplicate order,
 * a late purchase earlier than the customer's first, a cancelled first
 * order, a refund (and its duplicate), re-sent page views, an anonymous
 * visitor and two bad messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"

static h_env_t *H;

#define NS "it"

/* Day numbers since 1970-01-01: 2025-01-01 is day 20089
 * (2024-01-01 = 19723, plus 366 days of 2024). */
#define D(dd) (20089 + (dd) - 1)

static void produce_fixture(void) {
    ltv_event_t ev[] = {
        h_order("e-a1", "alice", "o-a1", "2025-01-10T10:00:00", 5000, "google", "brand"),
        h_order("e-b2", "bob", "o-b2", "2025-01-15T09:00:00", 2000, "google", "generic"),
        h_order("e-c1", "carol", "o-c1", "2025-01-12T10:00:00", 4000, "organic", NULL),
        h_order("e-d1", "dave", "o-d1", "2025-01-10T20:00:00", 10000, "meta", "retarget"),
        h_order("e-a2", "alice", "o-a2", "2025-01-20T12:00:00", 3000, "meta", "video"),
        h_order("e-a1", "alice", "o-a1", "2025-01-10T10:00:00", 5000, "google", "brand"),
        /* late: earlier than bob's first purchase, arrives after it */
        h_order("e-b1", "bob", "o-b1", "2025-01-05T09:00:00", 1500, "email", "welcome"),
        h_cancel("e-c1x", "carol", "o-c1", "2025-01-12T18:00:00"),
        h_order("e-c2", "carol", "o-c2", "2025-01-25T10:00:00", 2500, "affiliate", "partner-a"),
        h_refund("e-d1r1", "dave", "o-d1", "2025-01-12T10:00:00", 2500),
        h_refund("e-d1r1", "dave", "o-d1", "2025-01-12T10:00:00", 2500),
        h_visit("v-a1", "alice", "vis-alice", "2025-01-09T08:00:00"),
        h_visit("v-a2", "alice", "vis-alice", "2025-01-09T08:05:00"),
        h_visit("v-a2", "alice", "vis-alice", "2025-01-09T08:05:00"),
        h_visit("v-a3", "alice", "vis-alice", "2025-01-11T09:00:00"),
        h_visit("v-n1", NULL, "anon-1", "2025-01-10T12:00:00"),
    };
    h_produce(H, ev, (int)(sizeof(ev) / sizeof(ev[0])));
    /* Two bad messages: bytes that are no Avro record, and a negative amount. */
    h_produce_raw(H, "ltv.purchases", "x", "\x7fnot avro at all", 16);
    ltv_event_t bad = h_order("e-bad", "eve", "o-e1", "2025-01-10T10:00:00", -5, NULL, NULL);
    h_produce(H, &bad, 1);
}

static int setup(void **state) {
    H = h_start(4, 0);
    produce_fixture();
    h_stage_run_to_end(H, NS, NULL);
    return 0;
}

static int teardown(void **state) {
    h_stop(H);
    return 0;
}

static int64_t hi(const char *key, const char *field) { return h_hget_i64(H, key, field); }

static void assert_hstr(const char *key, const char *field, const char *want) {
    char *v = h_hget(H, key, field);
    assert_non_null(v);
    assert_string_equal(v, want);
    free(v);
}

static void all_offsets_are_stored(void **state) {
    /* 16 good events + 2 bad = 18 messages; every one advanced an offset. */
    assert_int_equal(h_input_end(H), 18);
    assert_int_equal(h_stored_offsets(H, NS), 18);
}

static void duplicate_order_counts_once(void **state) {
    const char *k = NS ":c:{alice}";
    assert_int_equal(hi(k, "purchase_count"), 2);
    assert_int_equal(hi(k, "first_purchase_ts"), h_ts("2025-01-10T10:00:00"));
    assert_int_equal(hi(k, "second_purchase_ts"), h_ts("2025-01-20T12:00:00"));
    assert_int_equal(hi(k, "last_purchase_ts"), h_ts("2025-01-20T12:00:00"));
    assert_int_equal(hi(k, "monetary"), 5000 + 3000);
    assert_hstr(k, "first_channel", "google");
    assert_hstr(k, "first_campaign", "brand");
    /* v-a2 was sent twice: 3 visits, on 2025-01-09 and 2025-01-11 */
    assert_int_equal(hi(k, "visit_count"), 3);
    assert_int_equal(hi(k, "first_visit_ts"), h_ts("2025-01-09T08:00:00"));
    assert_int_equal(hi(k, "last_visit_ts"), h_ts("2025-01-11T09:00:00"));
    /* 3 base64url digits a day: 20097 = 4*4096 + 58*64 + 1 -> "E6B", and
     * 20099 -> "E6D" */
    assert_int_equal(D(9), 20097);
    assert_hstr(k, "visit_days", "E6BE6D");
}

static void late_earlier_purchase_resequences(void **state) {
    const char *k = NS ":c:{bob}";
    assert_int_equal(hi(k, "purchase_count"), 2);
    assert_int_equal(hi(k, "first_purchase_ts"), h_ts("2025-01-05T09:00:00"));
    assert_int_equal(hi(k, "second_purchase_ts"), h_ts("2025-01-15T09:00:00"));
    assert_int_equal(hi(k, "monetary"), 1500 + 2000);
    assert_hstr(k, "first_channel", "email");
    assert_hstr(k, "first_campaign", "welcome");
}

static void cancelled_first_order_moves_customer(void **state) {
    const char *k = NS ":c:{carol}";
    assert_int_equal(hi(k, "purchase_count"), 1);
    assert_int_equal(hi(k, "first_purchase_ts"), h_ts("2025-01-25T10:00:00"));
    assert_int_equal(hi(k, "monetary"), 2500);
    assert_hstr(k, "first_channel", "affiliate");
    /* the cancelled order is kept, flagged "oc" (seen, cancelled) */
    char *o = h_hget(H, k, "o:o-c1");
    assert_non_null(o);
    assert_non_null(strstr(o, "\x1f" "oc" "\x1f"));
    free(o);
}

static void refund_reduces_monetary_once(void **state) {
    const char *k = NS ":c:{dave}";
    assert_int_equal(hi(k, "purchase_count"), 1);
    assert_int_equal(hi(k, "monetary"), 10000 - 2500);
}

static void anonymous_visitor_has_own_state(void **state) {
    assert_int_equal(hi(NS ":v:{anon-1}", "visit_count"), 1);
    assert_false(h_exists(H, NS ":c:{eve}"));
}

/* `ltvstream customer` shows a stored customer by its field names: the
 * operator's view of the compact values, checked against the fixture. */
static void customer_command_prints_state(void **state) {
    (void)state;
    const char *cmd[] = {"customer", "alice", "nobody", NULL};
    pid_t pid = h_cmd_start(H, cmd, NS, NULL);
    assert_int_equal(h_stage_wait(pid, 30000), 1); /* "nobody" is not there */
    char *out = h_slurp(h_stage_log(pid));
    assert_non_null(out);
    assert_non_null(strstr(out, "{\"customer_id\":\"alice\",\"purchase_count\":\"2\","));
    assert_non_null(strstr(out, "\"monetary\":\"8000\""));
    assert_non_null(strstr(out, "\"first_channel\":\"google\""));
    assert_non_null(strstr(out, "\"visit_days\":\"E6BE6D\""));
    /* Lifecycle (triggers are on by default): both purchases settled; the
     * first visit on a later day than the first one's (01-09) is 01-11
     * 09:00 = day 20099 * 86400000 + 9 * 3600000 = 1736586000000. */
    assert_non_null(strstr(out, "\"lc_settled\":\"first_purchase,second_purchase"));
    assert_non_null(strstr(out, "\"lc_revisit_ts\":\"1736586000000\""));
    assert_non_null(strstr(out, "nobody: not found in namespace " NS));
    free(out);
}

/* Row counters in Redis. Absent or zero are the same for a row whose only
 * customer moved away (whether it was ever written depends on batching). */
static int64_t rowv(const char *rowid, const char *field) {
    char key[200];
    snprintf(key, sizeof(key), NS ":row:%s", rowid);
    int64_t v = hi(key, field);
    return v == INT64_MIN ? 0 : v;
}

static void f2_cohort_rows(void **state) {
    /* 2025-01-10: alice (F2 on 01-20, 10 days later) and dave (no 2nd). */
    assert_int_equal(rowv("f2_cohort|2025-01-10|", "cohort_size"), 2);
    assert_int_equal(rowv("f2_cohort|2025-01-10|", "f2_count"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|", "f2_within_30d"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|", "f2_within_90d"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|", "f3_count"), 0);
    assert_int_equal(rowv("f2_cohort|2025-01-10|google", "cohort_size"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|google", "f2_count"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|meta", "cohort_size"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-10|meta", "f2_count"), 0);
    /* bob belongs to 2025-01-05 (email), not 01-15 where he first showed up */
    assert_int_equal(rowv("f2_cohort|2025-01-05|", "cohort_size"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-05|", "f2_count"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-05|email", "f2_within_30d"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-15|", "cohort_size"), 0);
    assert_int_equal(rowv("f2_cohort|2025-01-15|google", "cohort_size"), 0);
    /* carol: cancelled 01-12 order does not count; cohort 01-25 affiliate */
    assert_int_equal(rowv("f2_cohort|2025-01-12|", "cohort_size"), 0);
    assert_int_equal(rowv("f2_cohort|2025-01-12|organic", "cohort_size"), 0);
    assert_int_equal(rowv("f2_cohort|2025-01-25|", "cohort_size"), 1);
    assert_int_equal(rowv("f2_cohort|2025-01-25|affiliate", "cohort_size"), 1);
}

static void retention_mix_rows(void **state) {
    /* 01-05: bob's first order (late) */
    assert_int_equal(rowv("retention_mix|2025-01-05|", "orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-05|", "new_orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-05|", "revenue"), 1500);
    /* 01-09: alice's 2 page views (one re-send dropped), new visitor who came back 01-11 */
    assert_int_equal(rowv("retention_mix|2025-01-09|", "visits"), 2);
    assert_int_equal(rowv("retention_mix|2025-01-09|", "visitors"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-09|", "new_visitors"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-09|", "new_visitors_revisited_3d"), 1);
    /* 01-10: alice and dave, both first orders; revenue net of dave's refund */
    assert_int_equal(rowv("retention_mix|2025-01-10|", "orders"), 2);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "new_orders"), 2);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "returning_orders"), 0);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "revenue"), 5000 + 7500);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "customers"), 2);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "new_customers"), 2);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "visits"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-10|", "new_visitors"), 1);
    /* 01-11: alice returns */
    assert_int_equal(rowv("retention_mix|2025-01-11|", "visitors"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-11|", "returning_visitors"), 1);
    /* 01-12: carol's cancelled order leaves nothing */
    assert_int_equal(rowv("retention_mix|2025-01-12|", "orders"), 0);
    assert_int_equal(rowv("retention_mix|2025-01-12|", "revenue"), 0);
    /* 01-15: bob's second order is returning */
    assert_int_equal(rowv("retention_mix|2025-01-15|", "orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-15|", "returning_orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-15|", "returning_revenue"), 2000);
    assert_int_equal(rowv("retention_mix|2025-01-15|", "returning_customers"), 1);
    /* 01-20: alice's second order; 01-25: carol's first counted order */
    assert_int_equal(rowv("retention_mix|2025-01-20|", "returning_orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-20|", "returning_revenue"), 3000);
    assert_int_equal(rowv("retention_mix|2025-01-25|", "new_orders"), 1);
    assert_int_equal(rowv("retention_mix|2025-01-25|", "new_revenue"), 2500);
}

static void output_rows_match(void **state) {
    ltv_table_t t;
    h_read_table(H, "ltv.f2_rate", &t);
    const ltv_table_row_t *r = ltv_table_get(&t, "2025-01-10|all");
    assert_non_null(r);
    assert_int_equal(ltv_json_field_i64(r->json, "cohort_size"), 2);
    assert_int_equal(ltv_json_field_i64(r->json, "f2_count"), 1);
    char v[64];
    assert_int_equal(ltv_json_field(r->json, "f2_rate", v, sizeof(v)), 0);
    assert_string_equal(v, "0.500000");
    assert_true(ltv_json_field_i64(r->json, "version") >= 1);
    r = ltv_table_get(&t, "2025-01-05|email");
    assert_non_null(r);
    assert_int_equal(ltv_json_field_i64(r->json, "f2_count"), 1);
    ltv_json_field(r->json, "f2_rate", v, sizeof(v));
    assert_string_equal(v, "1.000000");
    /* the newest version of every row equals the row in Redis */
    for (int i = 0; i < t.n; i++) {
        char key[200], day[16], ch[64];
        ltv_json_field(t.rows[i].json, "cohort_day", day, sizeof(day));
        ltv_json_field(t.rows[i].json, "channel", ch, sizeof(ch));
        snprintf(key, sizeof(key), NS ":row:f2_cohort|%s|%s", day, strcmp(ch, "all") ? ch : "");
        assert_int_equal(ltv_json_field_i64(t.rows[i].json, "cohort_size"),
                         hi(key, "cohort_size"));
        assert_int_equal(ltv_json_field_i64(t.rows[i].json, "version"), hi(key, "version"));
    }
    ltv_table_free(&t);

    h_read_table(H, "ltv.retention_mix", &t);
    r = ltv_table_get(&t, "2025-01-10|1d");
    assert_non_null(r);
    assert_int_equal(ltv_json_field_i64(r->json, "orders"), 2);
    assert_int_equal(ltv_json_field_i64(r->json, "revenue"), 12500);
    ltv_json_field(r->json, "returning_order_share", v, sizeof(v));
    assert_string_equal(v, "0.000000");
    r = ltv_table_get(&t, "2025-01-15|1d");
    assert_non_null(r);
    ltv_json_field(r->json, "returning_order_share", v, sizeof(v));
    assert_string_equal(v, "1.000000");
    ltv_table_free(&t);
}

static void bad_messages_are_dead_lettered(void **state) {
    char tmp[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", H->mock->bootstraps, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "group.id", "dlq-reader", tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    assert_non_null(rk);
    rd_kafka_topic_partition_list_t *l = rd_kafka_topic_partition_list_new(4);
    for (int p = 0; p < 4; p++)
        rd_kafka_topic_partition_list_add(l, "ltv.dlq", p)->offset = RD_KAFKA_OFFSET_BEGINNING;
    rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    int got = 0, avro = 0, neg = 0;
    int64_t deadline = ltv_mono_us() + 20000000;
    while (got < 2 && ltv_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (!m->err) {
            rd_kafka_headers_t *hd;
            const void *val;
            size_t sz;
            assert_int_equal(rd_kafka_message_headers(m, &hd), 0);
            assert_int_equal(rd_kafka_header_get_last(hd, "ltv.reason", &val, &sz), 0);
            if (sz == 11 && !memcmp(val, "avro_decode", 11)) {
                avro++;
                /* unchanged payload */
                assert_int_equal(m->len, 16);
                assert_memory_equal(m->payload, "\x7fnot avro at all", 16);
            }
            if (sz == 15 && !memcmp(val, "negative_amount", 15))
                neg++;
            assert_int_equal(rd_kafka_header_get_last(hd, "ltv.source.topic", &val, &sz), 0);
            assert_int_equal(sz, strlen("ltv.purchases"));
            assert_int_equal(rd_kafka_header_get_last(hd, "ltv.source.offset", &val, &sz), 0);
            got++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    assert_int_equal(got, 2);
    assert_int_equal(avro, 1);
    assert_int_equal(neg, 1);
}

static void rerun_changes_nothing(void **state) {
    char *before = h_dump_ns(H, NS);
    h_stage_run_to_end(H, NS, NULL);
    char *after = h_dump_ns(H, NS);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(all_offsets_are_stored),
        cmocka_unit_test(duplicate_order_counts_once),
        cmocka_unit_test(late_earlier_purchase_resequences),
        cmocka_unit_test(cancelled_first_order_moves_customer),
        cmocka_unit_test(refund_reduces_monetary_once),
        cmocka_unit_test(anonymous_visitor_has_own_state),
        cmocka_unit_test(customer_command_prints_state),
        cmocka_unit_test(f2_cohort_rows),
        cmocka_unit_test(retention_mix_rows),
        cmocka_unit_test(output_rows_match),
        cmocka_unit_test(bad_messages_are_dead_lettered),
        cmocka_unit_test(rerun_changes_nothing),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
