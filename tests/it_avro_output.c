/*
 * Avro output (README "Outputs": -X output.format=avro, Confluent wire
 * format, schemas in schemas/<row>.avsc, ids from output.avro.schema.ids).
 *
 * The same small fixture is processed twice into separate namespaces and
 * output topics, once with JSON output and once with Avro output. Every
 * Avro message must carry the Confluent header (0x00 and the configured
 * 4-byte big-endian id of its topic), decode with Avro-C against the schema
 * file of its row type (exactly, no bytes left over), and the newest Avro
 * row of each key must equal the JSON run's newest row field by field, in
 * the same field order: strings, longs, booleans and nulls as they are,
 * doubles (the rates) at the JSON's 6 decimals, timestamps as Avro long
 * milliseconds against the JSON ISO-8601 string.
 *
 * Comparing two runs field by field, versions and watermarks included, needs
 * both to process the fixture identically: batch.max.events is the number
 * of fixture messages (and batch.max.ms a minute), so each run commits all
 * of it in exactly one batch whatever the fetch timing, then the final
 * clock tick of run.stop.at.end.
 *
 * Also: output.format=avro without an id for one output topic (customer_rfm,
 * lifecycle or acquisition) stops the stage at start, with a non-zero exit
 * and a message naming the topic.
 */
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <avro.h>
#include <librdkafka/rdkafka.h>

#include "harness.h"

static h_env_t *H;
static int nfixture;

typedef struct otopic_s {
    const char *name;   /* topic suffix and conf key topic.<name> */
    const char *schema; /* schemas/<schema>.avsc */
    int32_t id;
} otopic_t;

static const otopic_t outs[] = {
    {"f2_rate", "f2_cohort", 201},
    {"f2_rolling", "f2_rolling", 202},
    {"retention_mix", "retention_mix", 203},
    {"rfm_segments", "rfm_segments", 204},
    {"customer_rfm", "customer_rfm", 0x0102A0B5}, /* all 4 id bytes matter */
    {"lifecycle", "lifecycle", 206},              /* no version: the last record per key */
    {"acquisition", "acquisition", 207},
};
#define NOUT ((int)(sizeof(outs) / sizeof(outs[0])))

static void produce_fixture(void) {
    ltv_event_t ev[] = {
        h_visit("v-1", "c1", "vis-c1", "2025-01-01T09:00:00"),
        h_visit("v-2", "c1", "vis-c1", "2025-01-02T09:50:00"),
        h_order("e-1", "c1", "o-1", "2025-01-02T10:00:00", 5000, "google", "brand"),
        h_order("e-2", "c2", "o-2", "2025-01-02T12:00:00", 8000, "email", "welcome"),
        h_visit("v-3", NULL, "anon-1", "2025-01-03T10:00:00"),
        h_order("e-3", "c3", "o-3", "2025-01-03T09:00:00", 1500, NULL, NULL),
        h_order("e-4", "c4", "o-4", "2025-01-04T09:00:00", 60000, "google", "generic"),
        h_visit("v-4", "c3", "vis-c3", "2025-01-04T11:00:00"),
        h_order("e-5", "c5", "o-5", "2025-01-05T09:00:00", 2500, "meta", "video"),
        h_refund("e-2r", "c2", "o-2", "2025-01-05T10:00:00", 2000),
        h_cancel("e-5c", "c5", "o-5", "2025-01-06T10:00:00"),
        h_order("e-6", "c5", "o-6", "2025-01-08T09:00:00", 3000, "meta", NULL),
        h_order("e-7", "c1", "o-7", "2025-01-10T10:00:00", 3000, "meta", "video"),
        h_order("e-8", "c1", "o-8", "2025-01-20T10:00:00", 2000, "google", NULL),
        h_visit("v-5", "c4", "vis-c4", "2025-02-19T20:00:00"),
        h_order("e-9", "c4", "o-9", "2025-02-20T09:00:00", 4000, "email", NULL),
        h_visit("v-6", "c6", "vis-c6", "2025-03-15T09:00:00"),
        h_order("e-10", "c6", "o-10", "2025-03-15T10:00:00", 1000, "organic", NULL),
    };
    nfixture = (int)(sizeof(ev) / sizeof(ev[0]));
    h_produce(H, ev, nfixture);
}

/* -X options of a run writing to <prefix>.<topic>; avro adds the format and
 * the ids of all topics but `skip` (-1: none). */
static const char *const *run_opts(const char *prefix, int avro, int skip) {
    static char buf[16][256];
    static const char *x[20];
    int n = 0, k = 0;
    for (int i = 0; i < NOUT; i++) {
        snprintf(buf[k], sizeof(buf[k]), "topic.%s=%s.%s", outs[i].name, prefix, outs[i].name);
        x[n++] = buf[k++];
    }
    snprintf(buf[k], sizeof(buf[k]), "topic.dlq=%s.dlq", prefix);
    x[n++] = buf[k++];
    snprintf(buf[k], sizeof(buf[k]), "batch.max.events=%d", nfixture);
    x[n++] = buf[k++];
    x[n++] = "batch.max.ms=60000";
    if (avro) {
        x[n++] = "output.format=avro";
        int len = snprintf(buf[k], sizeof(buf[k]), "output.avro.schema.ids=");
        for (int i = 0; i < NOUT; i++)
            if (i != skip)
                len += snprintf(buf[k] + len, sizeof(buf[k]) - (size_t)len, "%s%s.%s:%d",
                                buf[k][len - 1] == '=' ? "" : ",", prefix, outs[i].name,
                                (int)outs[i].id);
        x[n++] = buf[k++];
    }
    x[n] = NULL;
    return x;
}

static int setup(void **state) {
    (void)state;
    H = h_start(2, 0);
    produce_fixture();
    h_stage_run_to_end(H, "json", run_opts("json", 0, -1));
    h_stage_run_to_end(H, "avro", run_opts("avro", 1, -1));
    assert_int_equal(h_stored_offsets(H, "json"), nfixture);
    assert_int_equal(h_stored_offsets(H, "avro"), nfixture);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

/* ---- raw messages -------------------------------------------------------------- */




/* ---- canonical text of a row: "name=value\n" per field, in order ------------------ */

/* From a flat JSON object: names in order, values as ltv_json_field gives
 * them (strings unquoted, null as null). */
static char *json_canon(const char *json) {
    ltv_buf_t b;
    ltv_buf_init(&b);
    const char *p = json;
    if (*p++ != '{')
        fail_msg("not a JSON object: %s", json);
    while (*p == '"') {
        const char *ke = strchr(p + 1, '"');
        assert_non_null(ke);
        char name[128];
        snprintf(name, sizeof(name), "%.*s", (int)(ke - p - 1), p + 1);
        p = ke + 1;
        assert_int_equal(*p, ':');
        p++;
        if (*p == '"') {
            p++;
            while (*p && *p != '"')
                p += *p == '\\' ? 2 : 1;
            p++;
        } else {
            while (*p && *p != ',' && *p != '}')
                p++;
        }
        char v[512];
        assert_int_equal(ltv_json_field(json, name, v, sizeof(v)), 0);
        ltv_buf_printf(&b, "%s=%s\n", name, v);
        if (*p == ',')
            p++;
    }
    assert_int_equal(*p, '}');
    if (!b.p)
        ltv_buf_puts(&b, "");
    return b.p;
}

typedef struct schema_s {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    char *text;
} schema_t;

static char *slurp(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp)
        fail_msg("cannot read %s", path);
    ltv_buf_t b;
    ltv_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        ltv_buf_append(&b, tmp, n);
    fclose(fp);
    return b.p;
}

static void schema_load(schema_t *s, const char *name) {
    char path[512];
    snprintf(path, sizeof(path), "%s/schemas/%s.avsc", LTV_SOURCE_DIR, name);
    s->text = slurp(path);
    if (avro_schema_from_json_length(s->text, strlen(s->text), &s->schema))
        fail_msg("%s: %s", path, avro_strerror());
    s->iface = avro_generic_class_from_schema(s->schema);
    assert_non_null(s->iface);
    assert_int_equal(avro_generic_value_new(s->iface, &s->value), 0);
}

static void schema_free(schema_t *s) {
    avro_value_decref(&s->value);
    avro_value_iface_decref(s->iface);
    avro_schema_decref(s->schema);
    free(s->text);
}

/* Whether the schema file declares field `name` as timestamp-millis (the
 * files have one field per line). */
static int is_timestamp(const schema_t *s, const char *name) {
    char pat[160];
    snprintf(pat, sizeof(pat), "{\"name\": \"%s\",", name);
    const char *p = strstr(s->text, pat);
    if (!p)
        fail_msg("schema has no field %s", name);
    const char *e = strchr(p, '\n');
    size_t n = e ? (size_t)(e - p) : strlen(p);
    char line[512];
    snprintf(line, sizeof(line), "%.*s", (int)n, p);
    return strstr(line, "timestamp-millis") != NULL;
}

static void avro_text(const schema_t *s, const char *fname, avro_value_t *v, ltv_buf_t *b) {
    switch (avro_value_get_type(v)) {
    case AVRO_UNION: {
        int disc;
        avro_value_t br;
        assert_int_equal(avro_value_get_discriminant(v, &disc), 0);
        assert_int_equal(avro_value_get_current_branch(v, &br), 0);
        avro_text(s, fname, &br, b);
        return;
    }
    case AVRO_NULL: ltv_buf_puts(b, "null"); return;
    case AVRO_STRING: {
        const char *str;
        size_t size;
        assert_int_equal(avro_value_get_string(v, &str, &size), 0);
        ltv_buf_append(b, str, size ? size - 1 : 0);
        return;
    }
    case AVRO_INT64: {
        int64_t x;
        assert_int_equal(avro_value_get_long(v, &x), 0);
        if (is_timestamp(s, fname)) {
            char ts[40];
            ltv_ts_format(x, ts);
            ltv_buf_puts(b, ts);
        } else {
            ltv_buf_printf(b, "%lld", (long long)x);
        }
        return;
    }
    case AVRO_DOUBLE: {
        double x;
        assert_int_equal(avro_value_get_double(v, &x), 0);
        ltv_buf_printf(b, "%.6f", x);
        return;
    }
    case AVRO_BOOLEAN: {
        int x;
        assert_int_equal(avro_value_get_boolean(v, &x), 0);
        ltv_buf_puts(b, x ? "true" : "false");
        return;
    }
    default: fail_msg("field %s: unexpected Avro type %d", fname, (int)avro_value_get_type(v));
    }
}

/* Decodes one Avro message (after its header) into canonical text; returns
 * its version. */
static int64_t avro_canon(schema_t *s, const h_msg_t *m, char **out) {
    avro_value_reset(&s->value);
    avro_reader_t r = avro_reader_memory((const char *)m->val + 5, (int64_t)(m->len - 5));
    if (avro_value_read(r, &s->value))
        fail_msg("key %s: Avro decoding failed: %s", m->key, avro_strerror());
    avro_reader_free(r);
    size_t sz = 0;
    assert_int_equal(avro_value_sizeof(&s->value, &sz), 0);
    if (sz != m->len - 5)
        fail_msg("key %s: the record takes %zu bytes, the message has %zu after its header",
                 m->key, sz, m->len - 5);
    ltv_buf_t b;
    ltv_buf_init(&b);
    size_t nf = avro_schema_record_size(s->schema);
    int64_t version = -1;
    for (size_t i = 0; i < nf; i++) {
        avro_value_t f;
        const char *name = NULL;
        assert_int_equal(avro_value_get_by_index(&s->value, i, &f, &name), 0);
        ltv_buf_printf(&b, "%s=", name);
        avro_text(s, name, &f, &b);
        ltv_buf_putc(&b, '\n');
        if (!strcmp(name, "version"))
            assert_int_equal(avro_value_get_long(&f, &version), 0);
    }
    *out = b.p;
    return version;
}

static void compare_topic(const otopic_t *o) {
    char jt[128], at[128];
    snprintf(jt, sizeof(jt), "json.%s", o->name);
    snprintf(at, sizeof(at), "avro.%s", o->name);
    ltv_table_t t;
    h_read_table(H, jt, &t);
    if (!t.n)
        fail_msg("%s is empty", jt);
    schema_t s;
    schema_load(&s, o->schema);
    h_msg_t *m;
    int n = h_read_topic(H, at, &m);
    /* Newest Avro row per key. */
    char **canon = calloc((size_t)t.n, sizeof(char *));
    int64_t *ver = calloc((size_t)t.n, sizeof(int64_t));
    for (int i = 0; i < n; i++) {
        const unsigned char *b = (const unsigned char *)m[i].val;
        if (m[i].len < 5 || b[0] != 0)
            fail_msg("%s key %s: no Confluent header (first byte %d, %zu bytes)", at, m[i].key,
                     m[i].len ? b[0] : -1, m[i].len);
        int32_t id = (int32_t)((uint32_t)b[1] << 24 | (uint32_t)b[2] << 16 |
                               (uint32_t)b[3] << 8 | (uint32_t)b[4]);
        if (id != o->id)
            fail_msg("%s key %s: schema id %d, configured %d", at, m[i].key, (int)id, (int)o->id);
        char *c;
        int64_t v = avro_canon(&s, &m[i], &c);
        const ltv_table_row_t *jr = ltv_table_get(&t, m[i].key);
        if (!jr)
            fail_msg("%s has key %s, %s has not", at, m[i].key, jt);
        int k = (int)(jr - t.rows);
        if (!canon[k] || v >= ver[k]) {
            free(canon[k]);
            canon[k] = c;
            ver[k] = v;
        } else {
            free(c);
        }
    }
    /* Same keys, same fields in the same order, same values. */
    for (int k = 0; k < t.n; k++) {
        if (!canon[k])
            fail_msg("%s has key %s, %s has not", jt, t.rows[k].key, at);
        char *j = json_canon(t.rows[k].json);
        if (strcmp(j, canon[k])) {
            fprintf(stderr, "%s vs %s, key %s:\nJSON:\n%s\nAvro:\n%s\n", jt, at, t.rows[k].key, j,
                    canon[k]);
            fail_msg("%s: the Avro row of %s differs from the JSON row", o->name, t.rows[k].key);
        }
        free(j);
        free(canon[k]);
    }
    print_message("%s: %d keys, %lld JSON and %d Avro messages\n", o->name, t.n,
                  (long long)t.messages, n);
    /* Identical processing: as many versions in either format. */
    assert_int_equal(n, t.messages);
    free(canon);
    free(ver);
    h_msgs_free(m, n);
    schema_free(&s);
    ltv_table_free(&t);
}

static void f2_rate_avro_equals_json(void **state) { (void)state; compare_topic(&outs[0]); }
static void f2_rolling_avro_equals_json(void **state) { (void)state; compare_topic(&outs[1]); }
static void retention_mix_avro_equals_json(void **state) { (void)state; compare_topic(&outs[2]); }
static void rfm_segments_avro_equals_json(void **state) { (void)state; compare_topic(&outs[3]); }
static void customer_rfm_avro_equals_json(void **state) { (void)state; compare_topic(&outs[4]); }
static void lifecycle_avro_equals_json(void **state) { (void)state; compare_topic(&outs[5]); }
static void acquisition_avro_equals_json(void **state) { (void)state; compare_topic(&outs[6]); }

/* A run with ids for every output topic but outs[skip] stops by itself at
 * start, naming <ns>.<topic> and output.avro.schema.ids, having consumed
 * and written nothing. */
static void missing_id_stops(const char *ns, int skip) {
    pid_t pid = h_stage_start(H, ns, run_opts(ns, 1, skip));
    int rc = h_stage_wait(pid, 20000);
    assert_int_not_equal(rc, -1); /* it stopped by itself, at start */
    assert_int_not_equal(rc, 0);
    char pat[512], topic[128];
    snprintf(pat, sizeof(pat), "%s/%s.*.log", H->dir, ns);
    snprintf(topic, sizeof(topic), "%s.%s", ns, outs[skip].name);
    glob_t g;
    assert_int_equal(glob(pat, 0, NULL, &g), 0);
    assert_int_equal(g.gl_pathc, 1);
    char *log = slurp(g.gl_pathv[0]);
    globfree(&g);
    if (!strstr(log, topic))
        fail_msg("exit %d, but the message does not name %s:\n%s", rc, topic, log);
    assert_non_null(strstr(log, "output.avro.schema.ids"));
    free(log);
    assert_int_equal(h_stored_offsets(H, ns), 0);
}

static void missing_schema_id_stops_at_start(void **state) {
    (void)state;
    missing_id_stops("avrobad", 4); /* customer_rfm */
}

/* The topics of the lifecycle branch are held to the same rule: triggers
 * are events, not rows, but a reader still needs their schema id. */
static void missing_lifecycle_or_acquisition_id_stops_at_start(void **state) {
    (void)state;
    missing_id_stops("avrobadlc", 5);
    missing_id_stops("avrobadacq", 6);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(f2_rate_avro_equals_json),
        cmocka_unit_test(f2_rolling_avro_equals_json),
        cmocka_unit_test(retention_mix_avro_equals_json),
        cmocka_unit_test(rfm_segments_avro_equals_json),
        cmocka_unit_test(customer_rfm_avro_equals_json),
        cmocka_unit_test(lifecycle_avro_equals_json),
        cmocka_unit_test(acquisition_avro_equals_json),
        cmocka_unit_test(missing_schema_id_stops_at_start),
        cmocka_unit_test(missing_lifecycle_or_acquisition_id_stops_at_start),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
