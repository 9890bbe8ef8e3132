#include "decode.h"
#include "avro_check.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <avro.h>

extern const char ltv_schema_purchase[];
extern const char ltv_schema_visit[];
extern const char ltv_schema_visit_v1[];
extern const char ltv_schema_ad_spend[];

/* Field positions in the reader schemas, looked up by name once. A field
 * marked optional has a default in our schema (null, or "order" for the
 * purchase type), so a writer schema may lack it. */
enum { PF_EVENT_ID, PF_CUSTOMER_ID, PF_ORDER_ID, PF_TYPE, PF_TS, PF_AMOUNT, PF_CURRENCY,
       PF_CHANNEL, PF_CAMPAIGN, PF__N };
enum { VF_EVENT_ID, VF_CUSTOMER_ID, VF_VISITOR_ID, VF_TS, VF_PAGE, VF_UTM_SOURCE,
       VF_UTM_CAMPAIGN, VF_SIGNUP, VF__N };
enum { AF_CAMPAIGN, AF_CHANNEL, AF_DAY, AF_COST, AF_CURRENCY, AF__N };
#define MAX_FIELDS 16
static const char *pfield_names[PF__N] = {"event_id", "customer_id", "order_id", "type", "ts",
                                          "amount", "currency", "channel", "campaign"};
static const int pfield_optional[PF__N] = {0, 0, 0, 1, 0, 0, 0, 1, 1};
static const char *vfield_names[VF__N] = {"event_id", "customer_id", "visitor_id", "ts",
                                          "page", "utm_source", "utm_campaign", "signup"};
static const int vfield_optional[VF__N] = {0, 1, 0, 0, 0, 1, 1, 1};
static const char *afield_names[AF__N] = {"campaign", "channel", "day", "cost", "currency"};
static const int afield_optional[AF__N] = {0, 0, 0, 0, 0};
static const char *ptype_symbols[] = {"order", "cancel", "refund"};

typedef struct reader_s {
    int null_branch[MAX_FIELDS]; /* by schema position: union branch that is null, or -1 */
    avro_schema_t schema;
    avro_value_iface_t *iface;
    avro_value_t value;
    int idx[MAX_FIELDS]; /* field positions, by PF_* or VF_* */
    avro_schema_t plain_writer; /* writer schema of plain-framed messages */
} reader_t;

/* One decoding plan per (kind, writer schema).
 *
 * Avro-C 1.11's resolver does not know field defaults: it refuses a writer
 * that lacks any reader field, and it copies enum values by position
 * instead of matching symbol names. So the plan resolves the writer against
 * a projection of our reader schema (only the fields the writer has), fills
 * the missing optional fields with their defaults itself, and maps the
 * writer's `type` symbols to ours by name. */
typedef struct wcache_s {
    ltv_ev_kind_t kind;
    avro_schema_t writer;
    avro_schema_t proj;           /* projection; NULL when writer equals reader */
    avro_value_iface_t *proj_iface;
    avro_value_t proj_value;
    avro_value_iface_t *iface;    /* resolver writer -> projection */
    avro_value_t resolved;
    avro_value_t *target;         /* what avro_value_read fills */
    avro_value_t *fields;         /* the record the fields are read from */
    int idx[MAX_FIELDS];          /* field position in *fields, -1: absent, use default */
    int *enum_map;                /* writer type symbol index -> ltv_ptype_t or -1 */
    int nenum;
    ltv_avro_plan_t *plan;        /* written with our schema: its compiled check */
    int incompatible;
    char why[200];
} wcache_t;

struct ltv_decoder_s {
    const ltv_conf_t *conf;
    ltv_schemas_t *schemas;
    reader_t rd[4]; /* by ltv_ev_kind_t */
    wcache_t **wc;  /* pointers: entries hold addresses of their own values */
    int nwc, capwc;
    avro_reader_t mem;
};

static const char *reason_names[LTV_R__COUNT] = {
    "ok",
    "truncated",
    "bad_magic",
    "unknown_schema_id",
    "unknown_fingerprint",
    "incompatible_schema",
    "avro_decode",
    "missing_customer_id",
    "missing_order_id",
    "missing_event_id",
    "negative_amount",
    "future_timestamp",
    "bad_timestamp",
};

const char *ltv_reason_name(ltv_reason_t r) {
    return (r >= 0 && r < LTV_R__COUNT) ? reason_names[r] : "unknown";
}

const char *ltv_reader_schema_json(ltv_ev_kind_t kind) {
    return kind == LTV_EV_PURCHASE  ? ltv_schema_purchase
           : kind == LTV_EV_AD_SPEND ? ltv_schema_ad_spend
                                     : ltv_schema_visit;
}

static int nfields_of(ltv_ev_kind_t kind) {
    return kind == LTV_EV_PURCHASE ? PF__N : kind == LTV_EV_AD_SPEND ? AF__N : VF__N;
}
static const char *const *names_of(ltv_ev_kind_t kind) {
    return kind == LTV_EV_PURCHASE ? pfield_names
           : kind == LTV_EV_AD_SPEND ? afield_names
                                     : vfield_names;
}
static const int *optional_of(ltv_ev_kind_t kind) {
    return kind == LTV_EV_PURCHASE ? pfield_optional
           : kind == LTV_EV_AD_SPEND ? afield_optional
                                     : vfield_optional;
}

static int reader_init(reader_t *r, ltv_ev_kind_t kind, const char *plain_path, char *errstr,
                       size_t errstr_size) {
    r->schema = ltv_avro_parse(ltv_reader_schema_json(kind), errstr, errstr_size);
    if (!r->schema)
        return -1;
    r->iface = avro_generic_class_from_schema(r->schema);
    if (!r->iface || avro_generic_value_new(r->iface, &r->value)) {
        snprintf(errstr, errstr_size, "cannot build Avro value: %s", avro_strerror());
        return -1;
    }
    int n = nfields_of(kind);
    const char *const *names = names_of(kind);
    size_t nf = avro_schema_record_size(r->schema);
    for (size_t i = 0; i < nf && i < MAX_FIELDS; i++) {
        avro_schema_t f = avro_schema_record_field_get_by_index(r->schema, (int)i);
        r->null_branch[i] = -1;
        if (avro_typeof(f) == AVRO_UNION)
            for (size_t k = 0; k < avro_schema_union_size(f); k++)
                if (avro_typeof(avro_schema_union_branch(f, (int)k)) == AVRO_NULL)
                    r->null_branch[i] = (int)k;
    }
    for (int i = 0; i < n; i++) {
        r->idx[i] = avro_schema_record_field_get_index(r->schema, names[i]);
        if (r->idx[i] < 0) {
            snprintf(errstr, errstr_size, "reader schema lacks field %s", names[i]);
            return -1;
        }
    }
    if (plain_path && *plain_path) {
        r->plain_writer = ltv_avro_parse_file(plain_path, errstr, errstr_size);
        if (!r->plain_writer)
            return -1;
    } else {
        r->plain_writer = avro_schema_incref(r->schema);
    }
    return 0;
}

static void reader_destroy(reader_t *r) {
    if (r->iface) {
        avro_value_decref(&r->value);
        avro_value_iface_decref(r->iface);
    }
    if (r->schema)
        avro_schema_decref(r->schema);
    if (r->plain_writer)
        avro_schema_decref(r->plain_writer);
}

ltv_decoder_t *ltv_decoder_new(const ltv_conf_t *conf, ltv_schemas_t *schemas, char *errstr,
                               size_t errstr_size) {
    ltv_decoder_t *d = ltv_calloc(1, sizeof(*d));
    d->conf = conf;
    d->schemas = schemas;
    if (reader_init(&d->rd[LTV_EV_PURCHASE], LTV_EV_PURCHASE, conf->plain_purchase_schema, errstr,
                    errstr_size) ||
        reader_init(&d->rd[LTV_EV_VISIT], LTV_EV_VISIT, conf->plain_visit_schema, errstr,
                    errstr_size) ||
        reader_init(&d->rd[LTV_EV_AD_SPEND], LTV_EV_AD_SPEND, conf->plain_ad_spend_schema, errstr,
                    errstr_size))
        goto err;
    ltv_schemas_add(schemas, d->rd[LTV_EV_PURCHASE].schema);
    ltv_schemas_add(schemas, d->rd[LTV_EV_VISIT].schema);
    ltv_schemas_add(schemas, d->rd[LTV_EV_AD_SPEND].schema);
    /* Earlier versions of our schemas stay known by fingerprint: a
     * single-object producer need not upgrade with us. */
    avro_schema_t v1 = ltv_avro_parse(ltv_schema_visit_v1, errstr, errstr_size);
    if (!v1)
        goto err;
    ltv_schemas_add(schemas, v1);
    avro_schema_decref(v1);
    d->mem = avro_reader_memory("", 0);
    return d;

err:
    ltv_decoder_destroy(d);
    return NULL;
}

static void wcache_free(wcache_t *w) {
    if (w->iface) {
        avro_value_decref(&w->resolved);
        avro_value_iface_decref(w->iface);
    }
    if (w->proj_iface) {
        avro_value_decref(&w->proj_value);
        avro_value_iface_decref(w->proj_iface);
    }
    if (w->proj)
        avro_schema_decref(w->proj);
    ltv_avro_plan_destroy(w->plan);
    free(w->enum_map);
    free(w);
}

void ltv_decoder_destroy(ltv_decoder_t *d) {
    if (!d)
        return;
    for (int i = 0; i < d->nwc; i++)
        wcache_free(d->wc[i]);
    free(d->wc);
    reader_destroy(&d->rd[LTV_EV_PURCHASE]);
    reader_destroy(&d->rd[LTV_EV_VISIT]);
    reader_destroy(&d->rd[LTV_EV_AD_SPEND]);
    if (d->mem)
        avro_reader_free(d->mem);
    free(d);
}

/* A field of a record schema by name, or NULL. (Avro-C 1.11's
 * avro_schema_record_field_get returns garbage for a missing name.) */
static avro_schema_t field_schema(avro_schema_t rec, const char *name) {
    int i = avro_schema_record_field_get_index(rec, name);
    return i < 0 ? NULL : avro_schema_record_field_get_by_index(rec, i);
}

static void incompatible(wcache_t *w, const char *fmt, const char *arg) {
    w->incompatible = 1;
    snprintf(w->why, sizeof(w->why), fmt, arg);
}

/* writer `type` symbol index -> our ltv_ptype_t, by symbol name. */
static void build_enum_map(wcache_t *w, avro_schema_t writer) {
    avro_schema_t f = field_schema(writer, "type");
    if (!f || avro_typeof(f) != AVRO_ENUM)
        return;
    w->nenum = avro_schema_enum_number_of_symbols(f);
    w->enum_map = ltv_malloc(sizeof(int) * (size_t)(w->nenum ? w->nenum : 1));
    for (int k = 0; k < w->nenum; k++) {
        const char *sym = avro_schema_enum_get(f, k);
        w->enum_map[k] = -1;
        for (int t = 0; t < 3; t++)
            if (sym && !strcmp(sym, ptype_symbols[t]))
                w->enum_map[k] = t;
    }
}

static wcache_t *plan_for(ltv_decoder_t *d, ltv_ev_kind_t kind, avro_schema_t writer) {
    for (int i = 0; i < d->nwc; i++)
        if (d->wc[i]->kind == kind && d->wc[i]->writer == writer)
            return d->wc[i];
    if (d->nwc == d->capwc) {
        d->capwc = d->capwc ? d->capwc * 2 : 8;
        d->wc = ltv_realloc(d->wc, sizeof(*d->wc) * (size_t)d->capwc);
    }
    wcache_t *w = ltv_calloc(1, sizeof(*w));
    d->wc[d->nwc++] = w;
    w->kind = kind;
    w->writer = writer;
    reader_t *r = &d->rd[kind];
    int n = nfields_of(kind);
    const char *const *names = names_of(kind);
    const int *optional = optional_of(kind);

    /* Identical schemas read straight into the reader value. */
    if (avro_schema_equal(writer, r->schema)) {
        w->target = w->fields = &r->value;
        memcpy(w->idx, r->idx, sizeof(w->idx));
        w->plan = ltv_avro_plan_new(writer);
        return w;
    }
    if (avro_typeof(writer) != AVRO_RECORD) {
        incompatible(w, "writer schema is a %s, not a record", avro_schema_type_name(writer));
        return w;
    }
    w->proj = avro_schema_record(avro_schema_name(r->schema), avro_schema_namespace(r->schema));
    size_t rn = avro_schema_record_size(r->schema);
    for (size_t i = 0; i < rn; i++) {
        const char *name = avro_schema_record_field_name(r->schema, (int)i);
        if (field_schema(writer, name))
            avro_schema_record_field_append(
                w->proj, name, avro_schema_record_field_get_by_index(r->schema, (int)i));
    }
    for (int k = 0; k < n; k++) {
        w->idx[k] = avro_schema_record_field_get_index(w->proj, names[k]);
        if (w->idx[k] < 0 && !optional[k]) {
            incompatible(w, "the writer schema lacks required field %s", names[k]);
            return w;
        }
    }
    w->proj_iface = avro_generic_class_from_schema(w->proj);
    if (!w->proj_iface || avro_generic_value_new(w->proj_iface, &w->proj_value)) {
        if (w->proj_iface)
            avro_value_iface_decref(w->proj_iface);
        w->proj_iface = NULL;
        incompatible(w, "%s", avro_strerror());
        return w;
    }
    w->iface = avro_resolved_writer_new(writer, w->proj);
    if (!w->iface) {
        incompatible(w, "%s", avro_strerror());
        return w;
    }
    if (avro_resolved_writer_new_value(w->iface, &w->resolved)) {
        avro_value_iface_decref(w->iface);
        w->iface = NULL;
        incompatible(w, "%s", avro_strerror());
        return w;
    }
    avro_resolved_writer_set_dest(&w->resolved, &w->proj_value);
    w->target = &w->resolved;
    w->fields = &w->proj_value;
    if (kind == LTV_EV_PURCHASE)
        build_enum_map(w, writer);
    return w;
}

static ltv_str_t get_str(avro_value_t *rec, int idx, ltv_arena_t *arena) {
    avro_value_t f, br;
    if (idx < 0 || avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        return LTV_STR_NULL;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, &br))
            return LTV_STR_NULL;
        f = br;
    }
    if (avro_value_get_type(&f) != AVRO_STRING)
        return LTV_STR_NULL;
    const char *p;
    size_t n;
    if (avro_value_get_string(&f, &p, &n) || !p)
        return LTV_STR_NULL;
    /* Avro-C counts the terminating NUL in the size. */
    return ltv_arena_str(arena, p, n ? n - 1 : 0);
}

static int64_t get_long(avro_value_t *rec, int idx) {
    avro_value_t f;
    int64_t v = 0;
    if (idx >= 0 && avro_value_get_by_index(rec, (size_t)idx, &f, NULL) == 0) {
        if (avro_value_get_type(&f) == AVRO_INT32) {
            int32_t i = 0;
            avro_value_get_int(&f, &i);
            return i;
        }
        avro_value_get_long(&f, &v);
    }
    return v;
}

static int get_bool(avro_value_t *rec, int idx) {
    avro_value_t f;
    int v = 0; /* absent: the default, false */
    if (idx >= 0 && avro_value_get_by_index(rec, (size_t)idx, &f, NULL) == 0)
        avro_value_get_boolean(&f, &v);
    return v != 0;
}

static int get_enum(avro_value_t *rec, int idx) {
    avro_value_t f;
    int v = 0; /* absent: the default symbol, "order" */
    if (idx >= 0 && avro_value_get_by_index(rec, (size_t)idx, &f, NULL) == 0)
        avro_value_get_enum(&f, &v);
    return v;
}

/* ---- direct decoding ------------------------------------------------------
 * A record written with our own schema (the normal case) is read straight
 * from the bytes, at the field positions ltv_avro_plan_check_spans found while
 * bounds-checking it: no Avro-C value tree, no copies but the arena's. */

static int64_t span_long(const unsigned char *b, const ltv_avro_span_t *sp) {
    uint64_t v = 0;
    int shift = 0;
    for (uint32_t i = sp->off; i < sp->end; i++) {
        v |= (uint64_t)(b[i] & 0x7f) << shift;
        if (!(b[i] & 0x80))
            break;
        shift += 7;
    }
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

static ltv_str_t span_str(const reader_t *r, const unsigned char *b, const ltv_avro_span_t *spans,
                          int idx, ltv_arena_t *arena) {
    const ltv_avro_span_t *sp = &spans[idx];
    if (sp->branch >= 0 && sp->branch == r->null_branch[idx])
        return LTV_STR_NULL;
    /* the length varint, then the bytes: the checker verified both fit */
    uint32_t p = sp->off;
    while (b[p] & 0x80)
        p++;
    p++;
    return ltv_arena_str(arena, (const char *)b + p, sp->end - p);
}

static int extract_direct(const reader_t *r, ltv_ev_kind_t kind, const unsigned char *b,
                          const ltv_avro_span_t *sp, ltv_event_t *ev, ltv_arena_t *arena,
                          char *errstr, size_t errstr_size) {
    const int *ix = r->idx;
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    if (kind == LTV_EV_PURCHASE) {
        int64_t t = span_long(b, &sp[ix[PF_TYPE]]);
        if (t < 0 || t > LTV_PT_REFUND) {
            snprintf(errstr, errstr_size, "purchase type index %lld out of range", (long long)t);
            return -1;
        }
        ev->ptype = (ltv_ptype_t)t;
        ev->event_id = span_str(r, b, sp, ix[PF_EVENT_ID], arena);
        ev->customer_id = span_str(r, b, sp, ix[PF_CUSTOMER_ID], arena);
        ev->order_id = span_str(r, b, sp, ix[PF_ORDER_ID], arena);
        ev->ts = span_long(b, &sp[ix[PF_TS]]);
        ev->amount = span_long(b, &sp[ix[PF_AMOUNT]]);
        ev->currency = span_str(r, b, sp, ix[PF_CURRENCY], arena);
        ev->channel = span_str(r, b, sp, ix[PF_CHANNEL], arena);
        ev->campaign = span_str(r, b, sp, ix[PF_CAMPAIGN], arena);
    } else if (kind == LTV_EV_AD_SPEND) {
        ev->campaign = span_str(r, b, sp, ix[AF_CAMPAIGN], arena);
        ev->channel = span_str(r, b, sp, ix[AF_CHANNEL], arena);
        ev->ts = span_long(b, &sp[ix[AF_DAY]]); /* a day number until ad_spend_day() */
        ev->amount = span_long(b, &sp[ix[AF_COST]]);
        ev->currency = span_str(r, b, sp, ix[AF_CURRENCY], arena);
    } else {
        ev->event_id = span_str(r, b, sp, ix[VF_EVENT_ID], arena);
        ev->customer_id = span_str(r, b, sp, ix[VF_CUSTOMER_ID], arena);
        ev->visitor_id = span_str(r, b, sp, ix[VF_VISITOR_ID], arena);
        ev->ts = span_long(b, &sp[ix[VF_TS]]);
        ev->page = span_str(r, b, sp, ix[VF_PAGE], arena);
        ev->channel = span_str(r, b, sp, ix[VF_UTM_SOURCE], arena);
        ev->campaign = span_str(r, b, sp, ix[VF_UTM_CAMPAIGN], arena);
        /* A boolean is one byte, 0 or 1 (the checker verified it). */
        ev->signup = b[sp[ix[VF_SIGNUP]].off] != 0;
    }
    return 0;
}

/* Fills ev from the decoded record; returns -1 (with errstr) when a value
 * cannot be represented (an unknown purchase type). */
static int extract(wcache_t *w, ltv_ev_kind_t kind, ltv_event_t *ev, ltv_arena_t *arena,
                   char *errstr, size_t errstr_size) {
    avro_value_t *rec = w->fields;
    const int *ix = w->idx;
    memset(ev, 0, sizeof(*ev));
    ev->kind = kind;
    if (kind == LTV_EV_PURCHASE) {
        int t = get_enum(rec, ix[PF_TYPE]);
        if (w->enum_map && ix[PF_TYPE] >= 0) {
            int raw = t;
            t = raw >= 0 && raw < w->nenum ? w->enum_map[raw] : -1;
            if (t < 0) {
                avro_schema_t f = field_schema(w->writer, "type");
                const char *sym = raw >= 0 && raw < w->nenum ? avro_schema_enum_get(f, raw) : NULL;
                snprintf(errstr, errstr_size, "purchase type \"%s\" is not order, cancel or refund",
                         sym ? sym : "?");
                return -1;
            }
        } else if (t < 0 || t > LTV_PT_REFUND) {
            snprintf(errstr, errstr_size, "purchase type index %d out of range", t);
            return -1;
        }
        ev->ptype = (ltv_ptype_t)t;
        ev->event_id = get_str(rec, ix[PF_EVENT_ID], arena);
        ev->customer_id = get_str(rec, ix[PF_CUSTOMER_ID], arena);
        ev->order_id = get_str(rec, ix[PF_ORDER_ID], arena);
        ev->ts = get_long(rec, ix[PF_TS]);
        ev->amount = get_long(rec, ix[PF_AMOUNT]);
        ev->currency = get_str(rec, ix[PF_CURRENCY], arena);
        ev->channel = get_str(rec, ix[PF_CHANNEL], arena);
        ev->campaign = get_str(rec, ix[PF_CAMPAIGN], arena);
    } else if (kind == LTV_EV_AD_SPEND) {
        ev->campaign = get_str(rec, ix[AF_CAMPAIGN], arena);
        ev->channel = get_str(rec, ix[AF_CHANNEL], arena);
        ev->ts = get_long(rec, ix[AF_DAY]); /* a day number until ad_spend_day() */
        ev->amount = get_long(rec, ix[AF_COST]);
        ev->currency = get_str(rec, ix[AF_CURRENCY], arena);
    } else {
        ev->event_id = get_str(rec, ix[VF_EVENT_ID], arena);
        ev->customer_id = get_str(rec, ix[VF_CUSTOMER_ID], arena);
        ev->visitor_id = get_str(rec, ix[VF_VISITOR_ID], arena);
        ev->ts = get_long(rec, ix[VF_TS]);
        ev->page = get_str(rec, ix[VF_PAGE], arena);
        ev->channel = get_str(rec, ix[VF_UTM_SOURCE], arena);
        ev->campaign = get_str(rec, ix[VF_UTM_CAMPAIGN], arena);
        ev->signup = (uint8_t)get_bool(rec, ix[VF_SIGNUP]);
    }
    return 0;
}

/* An ad spend's day (an Avro date) becomes the start of that day in the
 * stage's zone, the event time everything else works with. A day out of
 * any plausible range gives a non-positive time, which validation rejects. */
static void ad_spend_day(const ltv_decoder_t *d, ltv_event_t *ev) {
    if (ev->kind != LTV_EV_AD_SPEND)
        return;
    int64_t day = ev->ts;
    ev->ts = day > 0 && day < 3000000 ? ltv_day_start_ms(day, d->conf->tz_offset_ms) : 0;
}

ltv_reason_t ltv_decode(ltv_decoder_t *d, ltv_ev_kind_t kind, const void *buf, size_t len,
                        ltv_event_t *ev, ltv_arena_t *arena, char *errstr, size_t errstr_size) {
    const unsigned char *b = buf;
    int framing = d->conf->framing;
    avro_schema_t writer = NULL;
    size_t hdr = 0;

    if (kind != LTV_EV_PURCHASE && kind != LTV_EV_VISIT && kind != LTV_EV_AD_SPEND) {
        snprintf(errstr, errstr_size, "unknown event kind %d", (int)kind);
        return LTV_R_BAD_MAGIC;
    }
    if (framing == LTV_FRAMING_AUTO) {
        if (len >= 1 && b[0] == 0x00)
            framing = LTV_FRAMING_CONFLUENT;
        else if (len >= 2 && b[0] == 0xC3 && b[1] == 0x01)
            framing = LTV_FRAMING_SINGLE_OBJECT;
        else
            framing = LTV_FRAMING_PLAIN;
    }

    switch (framing) {
    case LTV_FRAMING_CONFLUENT: {
        if (len < 1 || b[0] != 0x00) {
            snprintf(errstr, errstr_size, "Confluent framing expected magic byte 0x00");
            return len < 1 ? LTV_R_TRUNCATED : LTV_R_BAD_MAGIC;
        }
        if (len < 5) {
            snprintf(errstr, errstr_size, "%zu bytes: too short for a Confluent header", len);
            return LTV_R_TRUNCATED;
        }
        int32_t id = (int32_t)(((uint32_t)b[1] << 24) | ((uint32_t)b[2] << 16) |
                               ((uint32_t)b[3] << 8) | (uint32_t)b[4]);
        switch (ltv_schemas_lookup_id(d->schemas, id, &writer, errstr, errstr_size)) {
        case LTV_SCHEMA_FOUND: break;
        case LTV_SCHEMA_UNUSABLE: return LTV_R_INCOMPATIBLE_SCHEMA;
        case LTV_SCHEMA_UNAVAILABLE: return LTV_R_RETRY;
        default: return LTV_R_UNKNOWN_SCHEMA_ID;
        }
        hdr = 5;
        break;
    }
    case LTV_FRAMING_SINGLE_OBJECT: {
        if (len < 2 || b[0] != 0xC3 || b[1] != 0x01) {
            snprintf(errstr, errstr_size, "single-object framing expected 0xC3 0x01");
            return len < 2 ? LTV_R_TRUNCATED : LTV_R_BAD_MAGIC;
        }
        if (len < 10) {
            snprintf(errstr, errstr_size, "%zu bytes: too short for a single-object header", len);
            return LTV_R_TRUNCATED;
        }
        uint64_t fp = 0;
        for (int i = 7; i >= 0; i--) /* little-endian */
            fp = (fp << 8) | b[2 + i];
        writer = ltv_schemas_by_fingerprint(d->schemas, fp);
        if (!writer) {
            snprintf(errstr, errstr_size, "schema fingerprint %016llx is not known",
                     (unsigned long long)fp);
            return LTV_R_UNKNOWN_FINGERPRINT;
        }
        hdr = 10;
        break;
    }
    default:
        writer = d->rd[kind].plain_writer;
        hdr = 0;
        break;
    }

    if (len == hdr) {
        snprintf(errstr, errstr_size, "no Avro body after the %zu-byte header", hdr);
        return LTV_R_TRUNCATED;
    }

    wcache_t *w = plan_for(d, kind, writer);
    if (w->incompatible) {
        snprintf(errstr, errstr_size, "writer schema %s cannot be resolved: %s",
                 avro_schema_name(writer) ? avro_schema_name(writer) : "?", w->why);
        return LTV_R_INCOMPATIBLE_SCHEMA;
    }
    char why[200];
    if (!w->proj) {
        /* Written with our schema: bounds-check and read in one pass. */
        ltv_avro_span_t spans[MAX_FIELDS];
        if (ltv_avro_plan_check_spans(w->plan, (const char *)b + hdr, len - hdr, spans,
                                      MAX_FIELDS, why, sizeof(why))) {
            snprintf(errstr, errstr_size, "not a valid %s record: %s",
                     avro_schema_name(writer) ? avro_schema_name(writer) : "Avro", why);
            return LTV_R_AVRO_DECODE;
        }
        if (extract_direct(&d->rd[kind], kind, b + hdr, spans, ev, arena, errstr, errstr_size))
            return LTV_R_AVRO_DECODE;
        ad_spend_day(d, ev);
        return LTV_OK;
    }
    if (ltv_avro_check(writer, (const char *)b + hdr, len - hdr, why, sizeof(why))) {
        snprintf(errstr, errstr_size, "not a valid %s record: %s",
                 avro_schema_name(writer) ? avro_schema_name(writer) : "Avro", why);
        return LTV_R_AVRO_DECODE;
    }
    avro_reader_memory_set_source(d->mem, (const char *)b + hdr, (int64_t)(len - hdr));
    if (avro_value_read(d->mem, w->target)) {
        snprintf(errstr, errstr_size, "Avro decode failed: %s", avro_strerror());
        return LTV_R_AVRO_DECODE;
    }
    if (extract(w, kind, ev, arena, errstr, errstr_size))
        return LTV_R_AVRO_DECODE;
    ad_spend_day(d, ev);
    return LTV_OK;
}

ltv_reason_t ltv_event_validate(const ltv_event_t *ev, int64_t now_ms,
                                int64_t max_future_skew_ms, char *errstr, size_t errstr_size) {
    if (ev->kind == LTV_EV_PURCHASE) {
        if (!ev->customer_id.p || !ev->customer_id.n) {
            snprintf(errstr, errstr_size, "purchase without customer_id");
            return LTV_R_MISSING_CUSTOMER_ID;
        }
        if (!ev->order_id.p || !ev->order_id.n) {
            snprintf(errstr, errstr_size, "purchase without order_id");
            return LTV_R_MISSING_ORDER_ID;
        }
        if (ev->ptype == LTV_PT_REFUND && (!ev->event_id.p || !ev->event_id.n)) {
            /* A refund is applied once per event_id; without one it could
             * be applied again on every re-delivery. */
            snprintf(errstr, errstr_size, "refund without event_id");
            return LTV_R_MISSING_EVENT_ID;
        }
        if (ev->amount < 0) {
            snprintf(errstr, errstr_size, "negative amount %lld", (long long)ev->amount);
            return LTV_R_NEGATIVE_AMOUNT;
        }
    } else if (ev->kind == LTV_EV_AD_SPEND) {
        if (ev->amount < 0) {
            snprintf(errstr, errstr_size, "negative cost %lld", (long long)ev->amount);
            return LTV_R_NEGATIVE_AMOUNT;
        }
    } else {
        if ((!ev->customer_id.p || !ev->customer_id.n) &&
            (!ev->visitor_id.p || !ev->visitor_id.n)) {
            snprintf(errstr, errstr_size, "visit with neither customer_id nor visitor_id");
            return LTV_R_MISSING_CUSTOMER_ID;
        }
    }
    if (ev->ts <= 0) {
        snprintf(errstr, errstr_size, "timestamp %lld is not positive", (long long)ev->ts);
        return LTV_R_BAD_TIMESTAMP;
    }
    if (max_future_skew_ms >= 0 && now_ms > 0 && ev->ts > now_ms &&
        ev->ts - now_ms > max_future_skew_ms) {
        snprintf(errstr, errstr_size, "timestamp %lld is %lld ms in the future", (long long)ev->ts,
                 (long long)(ev->ts - now_ms));
        return LTV_R_FUTURE_TIMESTAMP;
    }
    return LTV_OK;
}
