/*
 * `ltvstream reemit`: the current rows of a namespace, published again from
 * Redis, are the records the live stage emitted.
 *
 *  - JSON and Avro: the stage runs over a generated stream to the end (and
 *    again after a customer's only order is cancelled: a tombstone); reemit into
 *    prefixed topics; read as tables (last record per key), every output
 *    topic of the reemit equals the live one byte for byte: same keys, same
 *    values (versions and watermarks included), tombstones where the live
 *    topic ends on one, with the same version header. The counts are
 *    checked against Redis independently (customers with a purchase, F2
 *    cohort and RFM segment rows, scanned by the test). Acquisition rows
 *    are rows like the others; lifecycle triggers are events, which
 *    reemit leaves alone (the live topic has some, the reemitted none).
 *  - a stage running meanwhile, more events arriving, reemit into the very
 *    topics the stage writes: afterwards every key's last record is its
 *    newest version, and a customer's is the version in Redis.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

static h_env_t *H;

/* The output topics: the tables reemit rebuilds, then lifecycle, a stream
 * of triggers (events, not rows: reemit publishes none of it). */
static const char *const names[] = {"f2_rate",      "f2_rolling",  "retention_mix",
                                    "rfm_segments", "customer_rfm", "acquisition",
                                    "lifecycle"};
#define NNAMES ((int)(sizeof(names) / sizeof(names[0])))
#define NTABLES (NNAMES - 1)
static const int32_t avro_ids[NNAMES] = {301, 302, 303, 304, 305, 306, 307};

static int setup(void **state) {
    (void)state;
    H = h_start(4, 0);
    /* Per test namespace, a customer whose order is cancelled after a run
     * emitted its row: customer_rfm ends on a tombstone. */
    ltv_event_t ev[] = {
        h_order("zz-e1", "zz-js", "zz-o1", "2025-01-05T10:00:00Z", 4000, "email", NULL),
        h_order("zz-e2", "zz-av", "zz-o2", "2025-01-05T11:00:00Z", 5000, "email", NULL),
    };
    h_produce(H, ev, 2);
    h_gen(H, 1500, 40, 7);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

/* ---- topics as tables --------------------------------------------------------- */

/* A key's last record. */
typedef struct rec_s {
    const h_msg_t *m;
    int tomb;
    int64_t version; /* tombstones: the header; JSON rows: the field; Avro: -1 */
} rec_t;

typedef struct table_s {
    h_msg_t *msgs;
    int nmsgs;
    rec_t *recs; /* by key */
    int n;
    int64_t not_newest; /* keys whose last record is not their highest version */
} table_t;

static int64_t tomb_version(const h_msg_t *m) {
    const void *v;
    size_t vn;
    char tmp[32];
    if (!m->headers || rd_kafka_header_get_last(m->headers, "version", &v, &vn) ||
        vn >= sizeof(tmp))
        return -1;
    memcpy(tmp, v, vn);
    tmp[vn] = '\0';
    return strtoll(tmp, NULL, 10);
}

static int64_t rec_version(const h_msg_t *m, int json) {
    if (!m->len)
        return tomb_version(m);
    return json ? ltv_json_field_i64(m->val, "version") : -1;
}

static int by_key_then_arrival(const void *a, const void *b) {
    const h_msg_t *x = *(const h_msg_t *const *)a, *y = *(const h_msg_t *const *)b;
    int c = strcmp(x->key, y->key);
    if (c)
        return c;
    /* One key, one partition: offsets order its records. */
    return (x->offset > y->offset) - (x->offset < y->offset);
}

static void table_read(const char *topic, int json, table_t *t) {
    memset(t, 0, sizeof(*t));
    t->nmsgs = h_read_topic(H, topic, &t->msgs);
    const h_msg_t **v = ltv_calloc((size_t)(t->nmsgs ? t->nmsgs : 1), sizeof(*v));
    for (int i = 0; i < t->nmsgs; i++)
        v[i] = &t->msgs[i];
    qsort(v, (size_t)t->nmsgs, sizeof(*v), by_key_then_arrival);
    t->recs = ltv_calloc((size_t)(t->nmsgs ? t->nmsgs : 1), sizeof(*t->recs));
    int64_t maxv = -1;
    for (int i = 0; i < t->nmsgs; i++) {
        int64_t ver = rec_version(v[i], json);
        maxv = ver > maxv ? ver : maxv;
        if (i + 1 < t->nmsgs && !strcmp(v[i]->key, v[i + 1]->key))
            continue;
        rec_t *r = &t->recs[t->n++];
        r->m = v[i];
        r->tomb = v[i]->len == 0;
        r->version = ver;
        t->not_newest += ver != maxv;
        maxv = -1;
    }
    free(v);
}

static void table_free(table_t *t) {
    h_msgs_free(t->msgs, t->nmsgs);
    free(t->recs);
}

static int table_rows(const table_t *t) {
    int n = 0;
    for (int i = 0; i < t->n; i++)
        n += !t->recs[i].tomb;
    return n;
}

/* Live and reemitted tables: the same keys, byte-equal values, tombstones
 * with the same version. Returns the number of tombstones. */
static int assert_same_records(const char *live, const char *re, int json) {
    table_t a, b;
    table_read(live, json, &a);
    table_read(re, json, &b);
    assert_true(a.n > 0);
    int bad = 0, tombs = 0;
    for (int i = 0, j = 0; i < a.n || j < b.n;) {
        int c = i == a.n ? 1 : j == b.n ? -1 : strcmp(a.recs[i].m->key, b.recs[j].m->key);
        if (c) {
            if (bad++ < 5)
                fprintf(stderr, "  key %s only in %s\n", c < 0 ? a.recs[i].m->key : b.recs[j].m->key,
                        c < 0 ? live : re);
            i += c < 0;
            j += c > 0;
            continue;
        }
        const rec_t *x = &a.recs[i++], *y = &b.recs[j++];
        int same = x->tomb == y->tomb &&
                   (x->tomb ? x->version == y->version
                            : x->m->len == y->m->len && !memcmp(x->m->val, y->m->val, x->m->len));
        tombs += x->tomb;
        if (!same && bad++ < 5)
            fprintf(stderr, "  key %s differs:\n    %s: %s\n    %s: %s\n", x->m->key, live,
                    x->tomb ? "(tombstone)" : json ? x->m->val : "(avro)", re,
                    y->tomb ? "(tombstone)" : json ? y->m->val : "(avro)");
    }
    fprintf(stderr, "%-28s %5d keys (%d tombstones), reemitted %d keys in %d records\n", live,
            a.n, tombs, b.n, b.nmsgs);
    table_free(&a);
    table_free(&b);
    if (bad)
        fail_msg("%s and %s differ in %d keys", live, re, bad);
    return tombs;
}

/* ---- Redis, counted by the test ------------------------------------------------ */

/* Keys matching pattern. */
static int64_t scan_count(const char *pattern) {
    int64_t n = 0;
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(H->rc, "SCAN %s MATCH %s COUNT 500", cursor, pattern);
        assert_true(r && r->type == REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        n += (int64_t)r->element[1]->elements;
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    return n;
}

static int run_reemit(const char *ns, const char *prefix, const char *const *x) {
    const char *cmd[] = {"reemit", "--namespace", ns, "--no-progress",
                         prefix ? "--output-prefix" : NULL, prefix, NULL};
    pid_t pid = h_cmd_start(H, cmd, ns, x);
    int rc = h_stage_wait(pid, 120000);
    char *log = h_slurp(h_stage_log(pid));
    fprintf(stderr, "%s", log ? log : "");
    free(log);
    return rc;
}

/* -X topic.<name>=<ns>.<name> for every output topic (and the dead
 * letters); with avro, the format and the ids of <ns>.<name> and of
 * <also>.<ns>.<name>. */
static const char *const *topic_opts(const char *ns, int avro, const char *also) {
    static char buf[NNAMES + 2][512];
    static const char *x[NNAMES + 4];
    int n = 0;
    for (int i = 0; i < NNAMES; i++) {
        snprintf(buf[i], sizeof(buf[i]), "topic.%s=%s.%s", names[i], ns, names[i]);
        x[n++] = buf[i];
    }
    snprintf(buf[NNAMES], sizeof(buf[NNAMES]), "topic.dlq=%s.dlq", ns);
    x[n++] = buf[NNAMES];
    if (avro) {
        x[n++] = "output.format=avro";
        char *ids = buf[NNAMES + 1];
        int len = snprintf(ids, sizeof(buf[0]), "output.avro.schema.ids=");
        for (int i = 0; i < NNAMES; i++)
            len += snprintf(ids + len, sizeof(buf[0]) - (size_t)len, "%s%s.%s:%d,%s%s.%s:%d",
                            i ? "," : "", ns, names[i], (int)avro_ids[i], also, ns, names[i],
                            (int)avro_ids[i]);
        x[n++] = ids;
    }
    x[n] = NULL;
    return x;
}

static void reemit_equals_live(const char *ns, int avro) {
    const char *const *x = topic_opts(ns, avro, "re.");
    h_stage_run_to_end(H, ns, x);
    /* zz-<ns> has a row now; its cancel makes it a tombstone (a group of
     * its own: no waiting for the first run's member to time out). */
    char cust[32], eid[32], group[64];
    snprintf(cust, sizeof(cust), "zz-%s", ns);
    snprintf(eid, sizeof(eid), "zz-%s-c", ns);
    ltv_event_t cancel = h_cancel(eid, cust, avro ? "zz-o2" : "zz-o1", "2025-02-06T10:00:00Z");
    h_produce(H, &cancel, 1);
    const char *x2[NNAMES + 6];
    int n = 0;
    for (; x[n]; n++)
        x2[n] = x[n];
    snprintf(group, sizeof(group), "kafka.group.id=%s.2", ns);
    x2[n++] = group;
    x2[n] = NULL;
    h_stage_run_to_end(H, ns, x2);
    char key[128];
    snprintf(key, sizeof(key), "%s:emitq", ns);
    assert_int_equal(h_hlen(H, key), 0); /* everything the stage emitted is delivered */
    assert_int_equal(run_reemit(ns, "re.", x), 0);

    int tombs = 0;
    for (int i = 0; i < NTABLES; i++) {
        char live[128], re[160];
        snprintf(live, sizeof(live), "%s.%s", ns, names[i]);
        snprintf(re, sizeof(re), "re.%s.%s", ns, names[i]);
        tombs += assert_same_records(live, re, !avro);
    }
    assert_true(tombs >= 1); /* zz-<ns> */
    /* The live stage sent triggers; reemit sends none. */
    char lc[160];
    h_msg_t *msgs;
    snprintf(lc, sizeof(lc), "%s.lifecycle", ns);
    int nlc = h_read_topic(H, lc, &msgs);
    h_msgs_free(msgs, nlc);
    assert_true(nlc > 0);
    snprintf(lc, sizeof(lc), "re.%s.lifecycle", ns);
    nlc = h_read_topic(H, lc, &msgs);
    h_msgs_free(msgs, nlc);
    assert_int_equal(nlc, 0);

    /* Counted in Redis by the test: every customer with a purchase has a
     * row, every F2 cohort and RFM segment row is there. */
    char pat[128], topic[160];
    int64_t buyers;
    char **ckeys;
    int nck = h_customer_keys(H, ns, &ckeys);
    buyers = 0;
    for (int i = 0; i < nck; i++) {
        buyers += h_hget_i64(H, ckeys[i], "purchase_count") > 0;
        free(ckeys[i]);
    }
    free(ckeys);
    table_t t;
    snprintf(topic, sizeof(topic), "re.%s.customer_rfm", ns);
    table_read(topic, !avro, &t);
    assert_true(buyers > 500);
    assert_int_equal(table_rows(&t), buyers);
    table_free(&t);
    snprintf(pat, sizeof(pat), "%s:row:f2_cohort|*", ns);
    snprintf(topic, sizeof(topic), "re.%s.f2_rate", ns);
    table_read(topic, !avro, &t);
    assert_int_equal(t.n, scan_count(pat));
    table_free(&t);
    snprintf(pat, sizeof(pat), "%s:row:rfm_segments|*", ns);
    snprintf(topic, sizeof(topic), "re.%s.rfm_segments", ns);
    table_read(topic, !avro, &t);
    assert_true(t.n > 30);
    assert_int_equal(t.n, scan_count(pat));
    table_free(&t);
}

static void reemit_equals_live_json(void **state) {
    (void)state;
    reemit_equals_live("js", 0);
}

static void reemit_equals_live_avro(void **state) {
    (void)state;
    reemit_equals_live("av", 1);
}

static void reemit_of_missing_namespace_fails(void **state) {
    (void)state;
    assert_int_not_equal(run_reemit("nosuch", "re.", NULL), 0);
    assert_false(h_exists(H, "nosuch:meta")); /* not created by looking */
}

static void reemit_while_stage_runs(void **state) {
    (void)state;
    const char *const *tx = topic_opts("conc", 0, "");
    const char *x[NNAMES + 6];
    int n = 0;
    for (; tx[n]; n++)
        x[n] = tx[n];
    x[n++] = "batch.max.events=40"; /* many small commits: rows change often */
    x[n] = NULL;
    pid_t stage = h_stage_start(H, "conc", x);
    h_wait_stored(H, "conc", h_input_end(H), 120000);
    /* More events while reemit writes into the stage's own topics. */
    int64_t all = h_gen_from(H, 300, 35, 10, 8);
    assert_int_equal(run_reemit("conc", NULL, x), 0);
    h_wait_stored(H, "conc", all, 120000);
    int64_t deadline = ltv_mono_us() + 60000000;
    while (h_hlen(H, "conc:emitq") != 0) {
        if (ltv_mono_us() > deadline)
            fail_msg("the stage's rows were not all delivered within 60 s");
        h_sleep_ms(20);
    }
    kill(stage, SIGTERM);
    assert_int_equal(h_stage_wait(stage, 30000), 0);

    /* Every key ends on its newest version; a customer's is Redis's. */
    for (int i = 0; i < NNAMES; i++) {
        char topic[128];
        snprintf(topic, sizeof(topic), "conc.%s", names[i]);
        table_t t;
        table_read(topic, 1, &t);
        assert_true(t.n > 0);
        if (t.not_newest)
            fail_msg("%s: %lld keys end on an older version than an earlier record's", topic,
                     (long long)t.not_newest);
        if (!strcmp(names[i], "customer_rfm")) {
            for (int k = 0; k < t.n; k++) {
                char key[300];
                snprintf(key, sizeof(key), "conc:c:{%s}", t.recs[k].m->key);
                assert_int_equal(t.recs[k].version, h_hget_i64(H, key, "rfm_version"));
            }
        }
        table_free(&t);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reemit_equals_live_json),
        cmocka_unit_test(reemit_equals_live_avro),
        cmocka_unit_test(reemit_of_missing_namespace_fails),
        cmocka_unit_test(reemit_while_stage_runs),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
