/*
 * Output rows as Avro and JSON (SPEC §5, aggregators/out.c, outschema.c):
 *
 *   (a) the committed schemas/<row>.avsc files are byte-identical to the
 *       schemas generated from the renderers for the default configuration
 *       (`ltvstream schemas -d schemas`), so they cannot drift;
 *   (b) a rendered row of each type, encoded with ltv_avro_out_encode, is a
 *       Confluent frame (0x00, big-endian schema id) whose body Avro-C
 *       decodes, with the committed schema, into exactly the rendered
 *       values: null rates where the denominator is 0, timestamps as long
 *       milliseconds;
 *   (c) "topic:id,topic:id" schema id mappings;
 *   (d) the JSON rendering of the same rows: ISO-8601 timestamps, null for
 *       zero-denominator rates.
 *
 * Row values are chosen by hand; expected rates, times and dates are worked
 * out in the comments (T0 = 2024-05-01T00:00:00Z, unit_fixtures.h).
 */
#include "tc_helpers.h"

#include <avro.h>

#include "customer_rfm.h"
#include "outschema.h"
#include "rfm.h"
#include "schema_store.h"

#define SCHEMA_ID 42

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

static char *read_text(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp)
        fail_msg("cannot open %s", path);
    ltv_buf_t b;
    ltv_buf_init(&b);
    char tmp[4096];
    size_t r;
    while ((r = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        ltv_buf_append(&b, tmp, r);
    fclose(fp);
    ltv_buf_putc(&b, '\0');
    return b.p;
}

static char *schema_file(const char *row_type) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/schemas/%s.avsc", LTV_SOURCE_DIR, row_type);
    return read_text(path);
}

/* ---- (a) committed schemas ------------------------------------------------- */

static void test_committed_schemas_match_generated(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_outschema_t *s = NULL;
    int n = ltv_outschemas(t.aggs, t.conf, &s);
    /* Every emitted row type (rfm_delta is internal), then customer_rfm and
     * lifecycle. */
    static const char *want[][2] = {{"f2_cohort", "ltv.f2_rate"},
                                    {"f2_rolling", "ltv.f2_rolling"},
                                    {"retention_mix", "ltv.retention_mix"},
                                    {"rfm_segments", "ltv.rfm_segments"},
                                    {"acquisition", "ltv.acquisition"},
                                    {"customer_rfm", "ltv.customer_rfm"},
                                    {"lifecycle", "ltv.lifecycle"}};
    assert_int_equal(n, 7);
    for (int i = 0; i < n; i++) {
        assert_string_equal(s[i].row_type, want[i][0]);
        assert_string_equal(s[i].topic, want[i][1]);
        char *file = schema_file(s[i].row_type);
        if (strcmp(file, s[i].json)) {
            /* Where they part. */
            size_t k = 0;
            while (file[k] && file[k] == s[i].json[k])
                k++;
            char msg[200];
            snprintf(msg, sizeof(msg),
                     "schemas/%s.avsc differs from the generated schema at byte %zu; "
                     "regenerate with `ltvstream schemas -d schemas`",
                     s[i].row_type, k);
            free(file);
            ltv_outschemas_free(s, n);
            tracker_free(&t);
            fail_msg("%s", msg);
        }
        free(file);
    }
    ltv_outschemas_free(s, n);
    tracker_free(&t);
}

/* The schema files parse, and their types are what the renderers promise:
 * spot checks written by hand. */
static void test_schema_field_types(void **state) {
    (void)state;
    char *f2 = schema_file("f2_cohort");
    assert_non_null(strstr(f2, "\"name\": \"F2Cohort\""));
    assert_non_null(strstr(f2, "\"namespace\": \"ltvstream.v1.out\""));
    assert_non_null(strstr(f2, "{\"name\": \"cohort_size\", \"type\": \"long\"}"));
    assert_non_null(strstr(
        f2, "{\"name\": \"f2_rate\", \"type\": [\"null\",\"double\"], \"default\": null}"));
    assert_non_null(strstr(f2, "{\"name\": \"window_start\", \"type\": "
                               "{\"type\":\"long\",\"logicalType\":\"timestamp-millis\"}}"));
    assert_non_null(strstr(f2, "{\"name\": \"watermark\", \"type\": [\"null\",{\"type\":\"long\","
                               "\"logicalType\":\"timestamp-millis\"}], \"default\": null}"));
    assert_non_null(strstr(f2, "{\"name\": \"final\", \"type\": \"boolean\"}"));
    char err[256];
    avro_schema_t sch = ltv_avro_parse(f2, err, sizeof(err));
    if (!sch)
        fail_msg("%s", err);
    assert_true(is_avro_record(sch));
    avro_schema_decref(sch);
    free(f2);
}

/* ---- (b) Avro encoding ------------------------------------------------------ */

typedef struct dec_s {
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t v;
} dec_t;

/* Encodes o with the committed schema of row_type, checks the frame, and
 * decodes the body into d (free with dec_free). */
static void encode_decode(const char *row_type, const ltv_out_t *o, dec_t *d) {
    char err[512] = "";
    char *json = schema_file(row_type);
    ltv_avro_out_t *ao = ltv_avro_out_new(json, SCHEMA_ID, err, sizeof(err));
    if (!ao)
        fail_msg("ltv_avro_out_new(%s): %s", row_type, err);
    ltv_buf_t buf;
    ltv_buf_init(&buf);
    if (ltv_avro_out_encode(ao, o, &buf, err, sizeof(err)))
        fail_msg("encode %s: %s", row_type, err);
    ltv_avro_out_destroy(ao);
    /* Confluent wire format: magic 0, then 42 as a big-endian int32. */
    assert_true(buf.n > 5);
    static const unsigned char hdr[5] = {0x00, 0x00, 0x00, 0x00, 0x2a};
    assert_memory_equal(buf.p, hdr, 5);

    d->schema = ltv_avro_parse(json, err, sizeof(err));
    free(json);
    if (!d->schema)
        fail_msg("%s", err);
    d->iface = avro_generic_class_from_schema(d->schema);
    assert_non_null(d->iface);
    assert_int_equal(avro_generic_value_new(d->iface, &d->v), 0);
    avro_reader_t r = avro_reader_memory(buf.p + 5, (int64_t)(buf.n - 5));
    int rc = avro_value_read(r, &d->v);
    avro_reader_free(r);
    if (rc)
        fail_msg("avro_value_read %s: %s", row_type, avro_strerror());
    /* The body is exactly one record: nothing left over. */
    size_t sz = 0;
    assert_int_equal(avro_value_sizeof(&d->v, &sz), 0);
    assert_int_equal(sz, buf.n - 5);
    ltv_buf_free(&buf);
}

static void dec_free(dec_t *d) {
    avro_value_decref(&d->v);
    avro_value_iface_decref(d->iface);
    avro_schema_decref(d->schema);
}

/* The decoded field `name`, unwrapped from its ["null", T] union; returns 0
 * when it is null. */
static int dec_get(dec_t *d, const char *name, avro_value_t *out) {
    avro_value_t f;
    if (avro_value_get_by_name(&d->v, name, &f, NULL))
        fail_msg("decoded record has no field %s", name);
    if (avro_value_get_type(&f) == AVRO_UNION) {
        int disc = -1;
        assert_int_equal(avro_value_get_discriminant(&f, &disc), 0);
        if (disc == 0)
            return 0;
        assert_int_equal(disc, 1);
        assert_int_equal(avro_value_get_current_branch(&f, out), 0);
        return 1;
    }
    *out = f;
    return 1;
}

static int64_t dec_long(dec_t *d, const char *name) {
    avro_value_t v;
    if (!dec_get(d, name, &v))
        fail_msg("%s is null", name);
    int64_t x = 0;
    if (avro_value_get_long(&v, &x))
        fail_msg("%s is not a long", name);
    return x;
}

static double dec_double(dec_t *d, const char *name) {
    avro_value_t v;
    if (!dec_get(d, name, &v))
        fail_msg("%s is null", name);
    double x = 0;
    if (avro_value_get_double(&v, &x))
        fail_msg("%s is not a double", name);
    return x;
}

static const char *dec_str(dec_t *d, const char *name) {
    avro_value_t v;
    if (!dec_get(d, name, &v))
        fail_msg("%s is null", name);
    const char *s = NULL;
    size_t n = 0;
    if (avro_value_get_string(&v, &s, &n))
        fail_msg("%s is not a string", name);
    return s;
}

static int dec_bool(dec_t *d, const char *name) {
    avro_value_t v;
    if (!dec_get(d, name, &v))
        fail_msg("%s is null", name);
    int x = -1;
    if (avro_value_get_boolean(&v, &x))
        fail_msg("%s is not a boolean", name);
    return x;
}

static int dec_is_null(dec_t *d, const char *name) {
    avro_value_t v;
    return !dec_get(d, name, &v);
}

/* Every decoded field, in order, equals the rendered one. */
static void check_all_fields(dec_t *d, const ltv_out_t *o) {
    size_t count = 0;
    assert_int_equal(avro_value_get_size(&d->v, &count), 0);
    assert_int_equal(count, (size_t)o->n);
    for (int i = 0; i < o->n; i++) {
        const ltv_ofield_t *f = &o->f[i];
        avro_value_t fv;
        const char *name = NULL;
        assert_int_equal(avro_value_get_by_index(&d->v, (size_t)i, &fv, &name), 0);
        assert_string_equal(name, f->name);
        int nullable = f->type == LTV_OF_STR_NULL || f->type == LTV_OF_RATE ||
                       f->type == LTV_OF_TS_NULL || f->type == LTV_OF_I64_NULL;
        assert_int_equal(avro_value_get_type(&fv) == AVRO_UNION, nullable);
        if (f->null) {
            if (!dec_is_null(d, f->name))
                fail_msg("%s: rendered null, decoded non-null", f->name);
            continue;
        }
        switch (f->type) {
        case LTV_OF_STR:
        case LTV_OF_STR_NULL: assert_string_equal(dec_str(d, f->name), f->s); break;
        case LTV_OF_I64:
        case LTV_OF_I64_NULL:
        case LTV_OF_TS:
        case LTV_OF_TS_NULL:
            if (dec_long(d, f->name) != f->i)
                fail_msg("%s: decoded %lld, rendered %lld", f->name,
                         (long long)dec_long(d, f->name), (long long)f->i);
            break;
        case LTV_OF_RATE:
        case LTV_OF_F64:
            /* Doubles travel as their 8 IEEE bytes: exactly equal. */
            if (dec_double(d, f->name) != f->d)
                fail_msg("%s: decoded %.17g, rendered %.17g", f->name, dec_double(d, f->name),
                         f->d);
            break;
        case LTV_OF_BOOL: assert_int_equal(dec_bool(d, f->name), (int)f->i); break;
        }
    }
}

/* An f2_cohort row of 2024-05-01, channel google: cohort 4, f2 3, f3 0,
 * f4 0, within 30d 2, within 90d 3, version 9. */
static ltv_row_t f2_row(tracker_t *t) {
    ltv_row_t row = tc_row(t->aggs, NULL, "f2_cohort", DAY0, "google");
    const ltv_agg_t *a = row.id.agg;
    row.v[field_index(a, "cohort_size")] = 4;
    row.v[field_index(a, "f2_count")] = 3;
    row.v[field_index(a, "f2_within_30d")] = 2;
    row.v[field_index(a, "f2_within_90d")] = 3;
    row.version = 9;
    return row;
}

/* 2024-05-01 + 100 days = 2024-08-09 (05-01 + 31 = 06-01, + 30 = 07-01,
 * + 31 = 08-01, + 8 = 08-09); 5 ms past its midnight. */
#define WM (T0 + 100 * DAY_MS + 5)

static void test_avro_f2_cohort(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_row_t row = f2_row(&t);
    ltv_out_t o;
    ltv_out_init(&o);
    tc_render(row.id.agg, &row, WM, &o);
    dec_t d;
    encode_decode("f2_cohort", &o, &d);
    check_all_fields(&d, &o);
    /* By hand. */
    assert_string_equal(dec_str(&d, "cohort_day"), "2024-05-01");
    assert_string_equal(dec_str(&d, "channel"), "google");
    assert_true(dec_long(&d, "window_start") == T0);
    assert_true(dec_long(&d, "window_end") == T0 + DAY_MS);
    assert_int_equal(dec_long(&d, "cohort_size"), 4);
    assert_int_equal(dec_long(&d, "f3_count"), 0);
    assert_true(dec_double(&d, "f2_rate") == 0.75);     /* 3 / 4 */
    assert_true(dec_double(&d, "f2_rate_30d") == 0.5);  /* 2 / 4 */
    assert_true(dec_double(&d, "f2_rate_90d") == 0.75); /* 3 / 4 */
    assert_true(dec_double(&d, "f3_given_f2") == 0.0);  /* 0 / 3: a rate, not null */
    assert_true(dec_is_null(&d, "f4_given_f3"));        /* 0 / 0 */
    /* Final: 30d once the watermark passes 05-02 + 30 d = T0 + 31 d, 90d at
     * T0 + 91 d; WM = T0 + 100 d + 5 ms is past both. */
    assert_int_equal(dec_bool(&d, "f2_rate_30d_final"), 1);
    assert_int_equal(dec_bool(&d, "f2_rate_90d_final"), 1);
    assert_int_equal(dec_bool(&d, "final"), 1);
    assert_true(dec_long(&d, "watermark") == WM);
    assert_int_equal(dec_long(&d, "version"), 9);
    dec_free(&d);

    /* An empty cohort row, clock unknown: every rate null, watermark null. */
    row = tc_row(t.aggs, NULL, "f2_cohort", DAY0 + 1, "");
    tc_render(row.id.agg, &row, INT64_MIN, &o);
    encode_decode("f2_cohort", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "channel"), "all");
    assert_true(dec_is_null(&d, "f2_rate"));
    assert_true(dec_is_null(&d, "f2_rate_30d"));
    assert_true(dec_is_null(&d, "f2_rate_90d"));
    assert_true(dec_is_null(&d, "f3_given_f2"));
    assert_true(dec_is_null(&d, "watermark"));
    assert_int_equal(dec_bool(&d, "final"), 0);
    dec_free(&d);
    ltv_out_free(&o);
    tracker_free(&t);
}

static void test_avro_f2_rolling(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    /* 2024-06-15 = DAY0 + 45, channel meta: 20 cohorts with 8 F2 (30d),
     * none matured for 90d. */
    ltv_row_t row = tc_row(t.aggs, NULL, "f2_rolling", DAY0 + 45, "meta");
    const ltv_agg_t *a = row.id.agg;
    row.v[field_index(a, "cohorts_30d")] = 20;
    row.v[field_index(a, "f2_within_30d")] = 8;
    row.version = 3;
    ltv_out_t o;
    ltv_out_init(&o);
    tc_render(a, &row, WM, &o);
    dec_t d;
    encode_decode("f2_rolling", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "day"), "2024-06-15");
    assert_true(dec_long(&d, "window_start") == T0 + 45 * DAY_MS);
    assert_int_equal(dec_long(&d, "window_days"), 30);
    /* 06-15 - 59 = 04-17, - 30 = 05-16; - 119 = 02-17, - 90 = 03-17. */
    assert_string_equal(dec_str(&d, "cohort_from_30d"), "2024-04-17");
    assert_string_equal(dec_str(&d, "cohort_to_30d"), "2024-05-16");
    assert_string_equal(dec_str(&d, "cohort_from_90d"), "2024-02-17");
    assert_string_equal(dec_str(&d, "cohort_to_90d"), "2024-03-17");
    assert_true(dec_double(&d, "rolling_f2_rate_30d") == 0.4); /* 8 / 20 */
    assert_true(dec_is_null(&d, "rolling_f2_rate_90d"));       /* 0 / 0 */
    assert_int_equal(dec_bool(&d, "final"), 1); /* WM is past 06-16 */
    dec_free(&d);
    ltv_out_free(&o);
    tracker_free(&t);
}

static void test_avro_retention_mix(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    /* The 30d row of 2024-05-31 (DAY0 + 30). */
    ltv_row_t row = tc_row(t.aggs, NULL, "retention_mix", DAY0 + 30, "30d");
    const ltv_agg_t *a = row.id.agg;
    const char *names[] = {"orders",   "new_orders",       "returning_orders",
                           "revenue",  "new_revenue",      "returning_revenue",
                           "customers", "new_customers",   "visits",
                           "visitors", "new_visitors",     "new_visitors_revisited_3d"};
    const int64_t vals[] = {45, 15, 30, 900000, 300000, 600000, 20, 8, 400, 120, 100, 0};
    for (int i = 0; i < 12; i++)
        row.v[field_index(a, names[i])] = vals[i];
    row.version = 11;
    ltv_out_t o;
    ltv_out_init(&o);
    /* Watermark 2 days after the row's end (not final: revisits settle 3
     * days after it). Row end = start of 06-01 = T0 + 31 d. */
    tc_render(a, &row, T0 + 33 * DAY_MS, &o);
    dec_t d;
    encode_decode("retention_mix", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "day"), "2024-05-31");
    assert_string_equal(dec_str(&d, "window"), "30d");
    assert_true(dec_long(&d, "window_start") == T0 + 1 * DAY_MS); /* 05-02 */
    assert_true(dec_long(&d, "window_end") == T0 + 31 * DAY_MS);  /* 06-01 */
    assert_int_equal(dec_long(&d, "returning_customers"), 12); /* 20 - 8 */
    assert_int_equal(dec_long(&d, "returning_visitors"), 20);  /* 120 - 100 */
    assert_true(dec_double(&d, "returning_order_share") == 30.0 / 45.0);
    assert_true(dec_double(&d, "returning_revenue_share") == 600000.0 / 900000.0);
    assert_true(dec_double(&d, "returning_customer_share") == 0.6); /* 12 / 20 */
    assert_true(dec_double(&d, "new_visitor_revisit_rate_3d") == 0.0); /* 0 / 100 */
    assert_true(dec_double(&d, "orders_per_day") == 1.5); /* 45 / 30 */
    assert_string_equal(dec_str(&d, "maturity_stage"), "consistent");
    assert_true(dec_double(&d, "suggested_retention_share") == 0.30);
    assert_int_equal(dec_bool(&d, "final"), 0);
    dec_free(&d);
    ltv_out_free(&o);
    tracker_free(&t);
}

/* An rfm_segments row of 2024-05-01 with 1, 2, ..., 11 customers per
 * segment (in the order of the default rules): 66 in all. */
static ltv_row_t seg_row(tracker_t *t) {
    ltv_row_t row = tc_row(t->aggs, NULL, "rfm_segments", DAY0, "");
    for (int i = 0; i < 11; i++)
        row.v[i] = i + 1;
    row.version = 5;
    return row;
}

static void test_avro_rfm_segments(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_row_t row = seg_row(&t);
    ltv_out_t o;
    ltv_out_init(&o);
    tc_render(row.id.agg, &row, WM, &o);
    dec_t d;
    encode_decode("rfm_segments", &o, &d);
    check_all_fields(&d, &o);
    assert_int_equal(dec_long(&d, "customers"), 66); /* 1 + ... + 11 = 11 * 12 / 2 */
    assert_int_equal(dec_long(&d, "champions"), 1);
    assert_int_equal(dec_long(&d, "lost"), 10);
    assert_int_equal(dec_long(&d, "hibernating"), 11);
    assert_int_equal(dec_bool(&d, "final"), 1);
    dec_free(&d);
    ltv_out_free(&o);
    tracker_free(&t);
}

/* A customer with o1 on 05-01 10:00 (google, 3000) and o2 on 05-11 23:00
 * (4000), scored R5 F2 M2 potential_loyalist, rfm version 3. */
static ltv_customer_t *scored_customer(tracker_t *t) {
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, "cust-42", 7);
    apply(c, mk_purchase("cust-42", "o1", "o1", LTV_PT_ORDER, at(0, 10, 0), 3000, "google", NULL));
    apply(c, mk_purchase("cust-42", "o2", "o2", LTV_PT_ORDER, at(10, 23, 0), 4000, NULL, NULL));
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(t->aggs);
    c->rfm_r = 5;
    c->rfm_f = 2;
    c->rfm_m = 2;
    c->rfm_seg = -1;
    for (int i = 0; i < rc->nseg; i++)
        if (!strcmp(rc->names[i], "potential_loyalist"))
            c->rfm_seg = (int16_t)i;
    c->rfm_version = 3;
    return c;
}

/* Watermark 2024-05-25T01:00Z: clock day 05-25, 14 days after 05-11. */
#define WM_RFM (T0 + 24 * DAY_MS + HOUR_MS)

static void test_avro_customer_rfm(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_customer_t *c = scored_customer(&t);
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_emit_info_t info = {.watermark = WM_RFM};
    ltv_customer_rfm_render(t.aggs, c, &info, 0, &o);
    assert_string_equal(tc_key(&o), "cust-42");
    dec_t d;
    encode_decode("customer_rfm", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "customer_id"), "cust-42");
    assert_string_equal(dec_str(&d, "segment"), "potential_loyalist");
    assert_int_equal(dec_long(&d, "r_score"), 5);
    /* R=5 (05-11 purchase): the score began on the purchase day. */
    assert_string_equal(dec_str(&d, "r_score_since"), "2024-05-11");
    assert_int_equal(dec_long(&d, "frequency"), 2);
    assert_int_equal(dec_long(&d, "monetary"), 7000);
    assert_true(dec_long(&d, "first_purchase_ts") == T0 + 10 * HOUR_MS);
    assert_true(dec_long(&d, "last_purchase_ts") == T0 + 10 * DAY_MS + 23 * HOUR_MS);
    assert_string_equal(dec_str(&d, "first_channel"), "google");
    assert_true(dec_long(&d, "watermark") == WM_RFM);
    assert_int_equal(dec_long(&d, "version"), 3);
    dec_free(&d);

    /* The row is a function of the customer's state, not of the clock it
     * is rendered with (only the watermark field differs). */
    info.watermark = T0 + 5 * DAY_MS;
    ltv_out_reset(&o);
    ltv_customer_rfm_render(t.aggs, c, &info, 0, &o);
    encode_decode("customer_rfm", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "r_score_since"), "2024-05-11");
    dec_free(&d);

    /* R=3 after a 30-day edge: since the purchase day + 31 (05-11 -> 06-11). */
    c->rfm_r = 3;
    ltv_out_reset(&o);
    ltv_customer_rfm_render(t.aggs, c, &info, 0, &o);
    encode_decode("customer_rfm", &o, &d);
    assert_string_equal(dec_str(&d, "r_score_since"), "2024-06-11");
    dec_free(&d);
    c->rfm_r = 5;

    /* A customer without purchases leaves the table: a tombstone (null
     * value) for its key. */
    ltv_customer_t *e = ltv_customer_new(LTV_ENT_CUSTOMER, "nobody", 6);
    ltv_out_reset(&o);
    ltv_customer_rfm_render(t.aggs, e, &info, 0, &o);
    assert_true(o.tombstone);
    assert_string_equal(tc_key(&o), "nobody");
    assert_int_equal(o.n, 0);
    ltv_customer_destroy(e);

    ltv_out_free(&o);
    ltv_customer_destroy(c);
    tracker_free(&t);
}

/* One encoder, many rows: values of an earlier row never leak into a later
 * one (a null after a value, a value after a null). */
static void test_avro_encoder_reused(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    char err[512] = "";
    char *json = schema_file("f2_cohort");
    ltv_avro_out_t *ao = ltv_avro_out_new(json, 7, err, sizeof(err));
    assert_non_null(ao);
    ltv_out_t o1, o2;
    ltv_out_init(&o1);
    ltv_out_init(&o2);
    ltv_row_t full = f2_row(&t);
    ltv_row_t empty = tc_row(t.aggs, NULL, "f2_cohort", DAY0, "");
    tc_render(full.id.agg, &full, WM, &o1);
    tc_render(empty.id.agg, &empty, INT64_MIN, &o2);
    ltv_buf_t a1, a2, b2;
    ltv_buf_init(&a1);
    ltv_buf_init(&a2);
    ltv_buf_init(&b2);
    assert_int_equal(ltv_avro_out_encode(ao, &o2, &a2, err, sizeof(err)), 0);
    assert_int_equal(ltv_avro_out_encode(ao, &o1, &a1, err, sizeof(err)), 0);
    assert_int_equal(ltv_avro_out_encode(ao, &o2, &b2, err, sizeof(err)), 0);
    /* Schema id 7: 00 00 00 00 07. */
    static const unsigned char hdr[5] = {0, 0, 0, 0, 7};
    assert_memory_equal(a1.p, hdr, 5);
    /* The empty row encodes the same before and after the full one. */
    assert_int_equal(a2.n, b2.n);
    assert_memory_equal(a2.p, b2.p, a2.n);
    assert_true(a1.n > a2.n);
    ltv_buf_free(&a1);
    ltv_buf_free(&a2);
    ltv_buf_free(&b2);
    ltv_out_free(&o1);
    ltv_out_free(&o2);
    ltv_avro_out_destroy(ao);
    free(json);
    tracker_free(&t);
}

/* A row larger than the encoder's initial 4 KiB buffer: a customer id of
 * 10000 characters. */
static void test_avro_large_row(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    char *id = malloc(10001);
    assert_non_null(id);
    for (int i = 0; i < 10000; i++)
        id[i] = (char)('a' + i % 26);
    id[10000] = '\0';
    ltv_customer_t *c = ltv_customer_new(LTV_ENT_CUSTOMER, id, 10000);
    c->rfm_seg = 0; /* in a segment: customers without one are tombstones */
    c->rfm_r = 5;
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_emit_info_t info = {.watermark = WM_RFM};
    ltv_customer_rfm_render(t.aggs, c, &info, 0, &o);
    dec_t d;
    encode_decode("customer_rfm", &o, &d);
    check_all_fields(&d, &o);
    assert_string_equal(dec_str(&d, "customer_id"), id);
    dec_free(&d);
    ltv_out_free(&o);
    ltv_customer_destroy(c);
    free(id);
    tracker_free(&t);
}

/* A row that does not fit the schema is an error, not a corrupt record. */
static void test_avro_mismatch_is_error(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    char err[512] = "";
    char *json = schema_file("rfm_segments");
    ltv_avro_out_t *ao = ltv_avro_out_new(json, 1, err, sizeof(err));
    assert_non_null(ao);
    ltv_row_t row = f2_row(&t);
    ltv_out_t o;
    ltv_out_init(&o);
    tc_render(row.id.agg, &row, WM, &o);
    ltv_buf_t b;
    ltv_buf_init(&b);
    assert_int_equal(ltv_avro_out_encode(ao, &o, &b, err, sizeof(err)), -1);
    /* f2_cohort's first field is cohort_day, which rfm_segments lacks. */
    assert_non_null(strstr(err, "cohort_day"));
    ltv_buf_free(&b);
    ltv_out_free(&o);
    ltv_avro_out_destroy(ao);
    free(json);
    /* A schema that is not JSON. */
    assert_null(ltv_avro_out_new("{not json", 1, err, sizeof(err)));
    tracker_free(&t);
}

/* ---- (c) schema ids ----------------------------------------------------------- */

static void test_schema_id_mapping(void **state) {
    (void)state;
    const char *m = "ltv.f2_rate:101,ltv.f2_rolling:102,ltv.retention_mix:103";
    assert_int_equal(ltv_schema_id_for(m, "ltv.f2_rate"), 101);
    assert_int_equal(ltv_schema_id_for(m, "ltv.f2_rolling"), 102);
    assert_int_equal(ltv_schema_id_for(m, "ltv.retention_mix"), 103);
    /* Missing topic; prefixes and extensions of a listed topic are other topics. */
    assert_int_equal(ltv_schema_id_for(m, "ltv.rfm_segments"), -1);
    assert_int_equal(ltv_schema_id_for(m, "ltv.f2"), -1);
    assert_int_equal(ltv_schema_id_for(m, "ltv.f2_rate_x"), -1);
    assert_int_equal(ltv_schema_id_for(m, ""), -1);
    assert_int_equal(ltv_schema_id_for("", "ltv.f2_rate"), -1);
    /* Id 0 and the largest int32 are ids; beyond int32 or negative is not. */
    assert_int_equal(ltv_schema_id_for("a:0", "a"), 0);
    assert_int_equal(ltv_schema_id_for("a:2147483647", "a"), 2147483647);
    assert_int_equal(ltv_schema_id_for("a:2147483648", "a"), -1);
    assert_int_equal(ltv_schema_id_for("a:-5", "a"), -1);
    /* Topic names with ':' (allowed by some tools): the id follows the last
     * colon. */
    const char *c = "tenant:ltv.f2_rate:7,ltv.f2_rate:8,x:y:z:9";
    assert_int_equal(ltv_schema_id_for(c, "tenant:ltv.f2_rate"), 7);
    assert_int_equal(ltv_schema_id_for(c, "ltv.f2_rate"), 8);
    assert_int_equal(ltv_schema_id_for(c, "x:y:z"), 9);
    assert_int_equal(ltv_schema_id_for(c, "tenant"), -1);
    assert_int_equal(ltv_schema_id_for(c, "x:y"), -1);
    /* An entry without a colon is skipped. */
    assert_int_equal(ltv_schema_id_for("junk,b:5", "b"), 5);
    assert_int_equal(ltv_schema_id_for("junk,b:5", "junk"), -1);
}

/* An entry whose id is not a number must not map the topic to schema id 0
 * (every record would then name schema 0); the header promises -1. */
static void test_schema_id_malformed_is_missing(void **state) {
    (void)state;
    assert_int_equal(ltv_schema_id_for("ltv.f2_rate:abc", "ltv.f2_rate"), -1);
    assert_int_equal(ltv_schema_id_for("ltv.f2_rate:", "ltv.f2_rate"), -1);
    assert_int_equal(ltv_schema_id_for("ltv.f2_rate:12x", "ltv.f2_rate"), -1);
}

/* ---- (d) JSON --------------------------------------------------------------- */

static void test_json_rendering(void **state) {
    (void)state;
    tracker_t t;
    tc_tracker_init(&t, NULL);
    ltv_out_t o;
    ltv_out_init(&o);
    ltv_buf_t js;
    ltv_buf_init(&js);

    /* The f2_cohort row of test_avro_f2_cohort. */
    ltv_row_t row = f2_row(&t);
    tc_render(row.id.agg, &row, WM, &o);
    ltv_out_json(&o, &js);
    ltv_buf_putc(&js, '\0');
    const char *want_f2 =
        "{\"cohort_day\":\"2024-05-01\",\"channel\":\"google\","
        "\"window_start\":\"2024-05-01T00:00:00.000Z\","
        "\"window_end\":\"2024-05-02T00:00:00.000Z\","
        "\"cohort_size\":4,\"f2_count\":3,\"f3_count\":0,\"f4_count\":0,"
        "\"f2_within_30d\":2,\"f2_within_90d\":3,"
        "\"f2_rate\":0.750000,"
        "\"f2_rate_30d\":0.500000,\"f2_rate_30d_final\":true,"
        "\"f2_rate_90d\":0.750000,\"f2_rate_90d_final\":true,"
        "\"f3_given_f2\":0.000000,\"f4_given_f3\":null,"
        "\"watermark\":\"2024-08-09T00:00:00.005Z\","
        "\"final\":true,\"version\":9}";
    assert_string_equal(js.p, want_f2);

    /* rfm_segments, clock unknown. */
    row = seg_row(&t);
    tc_render(row.id.agg, &row, INT64_MIN, &o);
    ltv_out_json(&o, &js);
    ltv_buf_putc(&js, '\0');
    assert_string_equal(js.p, "{\"day\":\"2024-05-01\","
                              "\"window_start\":\"2024-05-01T00:00:00.000Z\","
                              "\"window_end\":\"2024-05-02T00:00:00.000Z\","
                              "\"customers\":66,\"champions\":1,\"loyal\":2,"
                              "\"potential_loyalist\":3,\"new_customer\":4,\"promising\":5,"
                              "\"need_attention\":6,\"about_to_sleep\":7,\"cant_lose\":8,"
                              "\"at_risk\":9,\"lost\":10,\"hibernating\":11,"
                              "\"watermark\":null,\"final\":false,\"version\":5}");

    /* customer_rfm. */
    ltv_customer_t *c = scored_customer(&t);
    ltv_emit_info_t info = {.watermark = WM_RFM};
    ltv_out_reset(&o);
    ltv_customer_rfm_render(t.aggs, c, &info, 0, &o);
    ltv_out_json(&o, &js);
    ltv_buf_putc(&js, '\0');
    /* 05-01 10:00, 05-11 23:00, watermark 05-25 01:00. */
    assert_string_equal(js.p, "{\"customer_id\":\"cust-42\",\"segment\":\"potential_loyalist\","
                              "\"r_score\":5,\"f_score\":2,\"m_score\":2,"
                              "\"r_score_since\":\"2024-05-11\","
                              "\"frequency\":2,\"monetary\":7000,"
                              "\"first_purchase_ts\":\"2024-05-01T10:00:00.000Z\","
                              "\"last_purchase_ts\":\"2024-05-11T23:00:00.000Z\","
                              "\"first_channel\":\"google\","
                              "\"watermark\":\"2024-05-25T01:00:00.000Z\",\"version\":3}");
    ltv_customer_destroy(c);

    /* A zero-denominator rate in the rolling rows: null. */
    row = tc_row(t.aggs, NULL, "f2_rolling", DAY0 + 45, "");
    tc_render(row.id.agg, &row, INT64_MIN, &o);
    ltv_out_json(&o, &js);
    ltv_buf_putc(&js, '\0');
    assert_non_null(strstr(js.p, "\"rolling_f2_rate_30d\":null"));
    assert_non_null(strstr(js.p, "\"window_start\":\"2024-06-15T00:00:00.000Z\""));

    ltv_buf_free(&js);
    ltv_out_free(&o);
    tracker_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_committed_schemas_match_generated),
        cmocka_unit_test(test_schema_field_types),
        cmocka_unit_test(test_avro_f2_cohort),
        cmocka_unit_test(test_avro_f2_rolling),
        cmocka_unit_test(test_avro_retention_mix),
        cmocka_unit_test(test_avro_rfm_segments),
        cmocka_unit_test(test_avro_customer_rfm),
        cmocka_unit_test(test_avro_encoder_reused),
        cmocka_unit_test(test_avro_large_row),
        cmocka_unit_test(test_avro_mismatch_is_error),
        cmocka_unit_test(test_schema_id_mapping),
        cmocka_unit_test(test_schema_id_malformed_is_missing),
        cmocka_unit_test(test_json_rendering),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
