/*
 * The stored form of one customer: a single compact binary value.
 *
 * Customers used to be Redis hashes written field by field. That costs
 * Redis one command per customer per batch (about 2 µs each, whatever the
 * number of fields) and, for a recency tick, one more to read it back. As
 * one value, the customers of a batch that fall in the same bucket are
 * read with one HMGET and written with one HSET (store.c), which is what
 * Redis's single thread is fast at: many fields per command.
 *
 * Only what cannot be derived is stored: the orders in full (sorted, as
 * ltv_customer_t keeps them), the visit facts, and the current RFM scores
 * with the version of the customer's ltv.customer_rfm row. Purchase count,
 * first/last purchase time, monetary and channel are recomputed from the
 * orders when loading, as before.
 *
 * Layout (integers are LEB128 varints, signed ones zigzag-encoded; a
 * string is its length then its bytes; an optional string is 0 for none or
 * length + 1):
 *
 *   format(=1) visits first_visit_ts last_visit_ts
 *   r f m rfm_version rfm_wm segment-name
 *   nvdays day0 (day_i - day_i-1)...    ascending, so deltas are small
 *   nrecent hash...                     newest first
 *   norders { order_id ts amount refunded flags channel? campaign? refund_ids? }...
 *   [ 1 lc_done lc_f2_day lc_due lc_signup_ts lc_revisit_ts ]   lifecycle
 *
 * flags: bit 0 the order event was seen, bit 1 cancelled. rfm_wm is the
 * watermark the customer's current ltv.customer_rfm row was rendered with
 * (INT64_MIN: none), so a re-emission repeats the record exactly.
 *
 * The lifecycle fields (lifecycle.h) are an optional trailing section,
 * introduced by its tag 1, rather than a new format number: what a missing
 * section means is exactly what the stage needs to know, "lifecycle
 * triggers never tracked this customer" (written before they existed, or
 * while topic.lifecycle was off), which the decoder turns into
 * LTV_LC_UNTRACKED so old occasions are settled without firing. A bumped
 * format would have to carry that as a flag of its own, and every value
 * without lifecycle state (visitors, ad spend, a stage with triggers off)
 * stays byte for byte what format 1 was, so namespaces written before keep
 * reading the same. A tag this decoder does not know makes the value
 * unreadable rather than skipped: skipping it and writing the customer back
 * would drop state a newer stage kept there. (A value cut exactly before
 * the section would read as one without it; Redis stores values whole.)
 */
#include "customer.h"

#include <stdlib.h>
#include <string.h>

#define CODEC_FORMAT 1
#define SECTION_LIFECYCLE 1

static void put_u(ltv_buf_t *b, uint64_t v) {
    char tmp[10];
    int n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = (char)(v ? byte | 0x80 : byte);
    } while (v);
    ltv_buf_append(b, tmp, (size_t)n);
}

static void put_i(ltv_buf_t *b, int64_t v) {
    put_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

static void put_s(ltv_buf_t *b, const char *s, size_t n) {
    put_u(b, n);
    ltv_buf_append(b, s, n);
}

static void put_opt(ltv_buf_t *b, const char *s) {
    if (!s) {
        put_u(b, 0);
        return;
    }
    size_t n = strlen(s);
    put_u(b, n + 1);
    ltv_buf_append(b, s, n);
}

void ltv_customer_encode(const ltv_customer_t *c, const char *segname, ltv_buf_t *out) {
    ltv_buf_reset(out);
    put_u(out, CODEC_FORMAT);
    put_i(out, c->visits);
    put_i(out, c->first_visit_ts);
    put_i(out, c->last_visit_ts);
    put_i(out, c->rfm_r);
    put_i(out, c->rfm_f);
    put_i(out, c->rfm_m);
    put_i(out, c->rfm_version);
    put_i(out, c->rfm_wm);
    put_s(out, segname ? segname : "", segname ? strlen(segname) : 0);
    put_u(out, (uint64_t)c->nvdays);
    int32_t prev = 0;
    for (int i = 0; i < c->nvdays; i++) {
        put_i(out, (int64_t)c->vdays[i] - prev);
        prev = c->vdays[i];
    }
    int nrecent = 0;
    while (nrecent < LTV_RECENT_VISITS && c->recent_visits[nrecent])
        nrecent++;
    put_u(out, (uint64_t)nrecent);
    for (int i = 0; i < nrecent; i++)
        put_u(out, c->recent_visits[i]);
    put_u(out, (uint64_t)c->norders);
    for (int i = 0; i < c->norders; i++) {
        const ltv_order_t *o = &c->orders[i];
        put_s(out, o->order_id, strlen(o->order_id));
        put_i(out, o->ts);
        put_i(out, o->amount);
        put_i(out, o->refunded);
        put_u(out, (uint64_t)((o->seen ? 1 : 0) | (o->cancelled ? 2 : 0)));
        put_opt(out, o->channel);
        put_opt(out, o->campaign);
        put_opt(out, o->refund_ids);
    }
    if (c->lc_kept) {
        put_u(out, SECTION_LIFECYCLE);
        put_u(out, c->lc_done);
        put_i(out, c->lc_f2_day);
        put_i(out, c->lc_due);
        put_i(out, c->lc_signup_ts);
        put_i(out, c->lc_revisit_ts);
    }
}

/* ---- decoding: every read is bounds-checked; a short or malformed value
 * sets `bad` and yields zeros, checked once at the end. */

typedef struct rd_s {
    const uint8_t *p, *end;
    int bad;
} rd_t;

static uint64_t get_u(rd_t *r) {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) {
            r->bad = 1;
            return 0;
        }
        uint8_t byte = *r->p++;
        v |= (uint64_t)(byte & 0x7f) << shift;
        if (!(byte & 0x80))
            return v;
    }
    r->bad = 1;
    return 0;
}

static int64_t get_i(rd_t *r) {
    uint64_t u = get_u(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

/* A string of n bytes in place (not terminated), or NULL if too short. */
static const char *get_bytes(rd_t *r, uint64_t n) {
    if (r->bad || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return NULL;
    }
    const char *s = (const char *)r->p;
    r->p += n;
    return s;
}

static char *get_opt(rd_t *r) {
    uint64_t n = get_u(r);
    if (!n)
        return NULL;
    const char *s = get_bytes(r, n - 1);
    return s ? ltv_strndup(s, (size_t)(n - 1)) : NULL;
}

/* Small counts only: a corrupt count must not make us allocate gigabytes. */
static int get_count(rd_t *r, int max) {
    uint64_t n = get_u(r);
    if (n > (uint64_t)max || n > (uint64_t)(r->end - r->p)) {
        r->bad = 1;
        return 0;
    }
    return (int)n;
}

ltv_customer_t *ltv_customer_decode(ltv_entity_t kind, const char *id, size_t idlen,
                                    const void *v, size_t vlen, const char **seg,
                                    size_t *seglen) {
    rd_t r = {(const uint8_t *)v, (const uint8_t *)v + vlen, 0};
    if (get_u(&r) != CODEC_FORMAT)
        return NULL;
    ltv_customer_t *c = ltv_customer_new(kind, id, idlen);
    c->visits = get_i(&r);
    c->first_visit_ts = get_i(&r);
    c->last_visit_ts = get_i(&r);
    c->rfm_r = (int8_t)get_i(&r);
    c->rfm_f = (int8_t)get_i(&r);
    c->rfm_m = (int8_t)get_i(&r);
    c->rfm_version = get_i(&r);
    c->rfm_wm = get_i(&r);
    c->has_rfm_wm = 1;
    uint64_t sl = get_u(&r);
    *seg = get_bytes(&r, sl);
    *seglen = *seg ? (size_t)sl : 0;
    int nvdays = get_count(&r, 1 << 20);
    if (nvdays) {
        c->vdays = ltv_malloc(sizeof(*c->vdays) * (size_t)nvdays);
        c->capvdays = nvdays;
    }
    int64_t day = 0;
    for (int i = 0; i < nvdays && !r.bad; i++) {
        day += get_i(&r);
        c->vdays[c->nvdays++] = (int32_t)day;
    }
    int nrecent = get_count(&r, LTV_RECENT_VISITS);
    for (int i = 0; i < nrecent; i++)
        c->recent_visits[i] = get_u(&r);
    int norders = get_count(&r, 1 << 20);
    for (int i = 0; i < norders && !r.bad; i++) {
        ltv_order_t o;
        memset(&o, 0, sizeof(o));
        uint64_t il = get_u(&r);
        const char *oid = get_bytes(&r, il);
        o.ts = get_i(&r);
        o.amount = get_i(&r);
        o.refunded = get_i(&r);
        uint64_t flags = get_u(&r);
        o.seen = (flags & 1) != 0;
        o.cancelled = (flags & 2) != 0;
        o.channel = get_opt(&r);
        o.campaign = get_opt(&r);
        o.refund_ids = get_opt(&r);
        if (r.bad || !oid) {
            free(o.channel);
            free(o.campaign);
            free(o.refund_ids);
            break;
        }
        o.order_id = ltv_strndup(oid, (size_t)il);
        ltv_customer_load_order(c, &o);
    }
    if (!r.bad && r.p < r.end) {
        if (get_u(&r) != SECTION_LIFECYCLE)
            r.bad = 1;
        c->lc_kept = 1;
        c->lc_done = (uint32_t)get_u(&r);
        c->lc_f2_day = (int32_t)get_i(&r);
        c->lc_due = get_i(&r);
        c->lc_signup_ts = get_i(&r);
        c->lc_revisit_ts = get_i(&r);
    } else if (c->norders || c->visits) {
        /* Never tracked: see LTV_LC_UNTRACKED. (An entity without orders
         * or visits has no occasion to settle.) */
        c->lc_done = LTV_LC_UNTRACKED;
    }
    if (r.bad || r.p != r.end) {
        ltv_customer_destroy(c);
        return NULL;
    }
    ltv_customer_derive(c);
    ltv_customer_clear_dirty(c);
    return c;
}

/* The field view: what the customer hash used to hold, field by field, so
 * tools and tests can show and compare customers by name. */
void ltv_customer_view(const ltv_customer_t *c, const char *segname,
                       void (*cb)(void *opaque, const char *field, const char *v, size_t vlen),
                       void *opaque) {
    ltv_buf_t b;
    ltv_buf_init(&b);
#define VI(nm, val)                                                                           \
    do {                                                                                      \
        ltv_buf_reset(&b);                                                                    \
        ltv_buf_put_i64(&b, (val));                                                           \
        cb(opaque, nm, b.p, b.n);                                                             \
    } while (0)
#define VS(nm, val)                                                                           \
    do {                                                                                      \
        const char *s_ = (val) ? (val) : "";                                                  \
        cb(opaque, nm, s_, strlen(s_));                                                       \
    } while (0)
    if (c->norders) {
        VI("purchase_count", c->n);
        VI("first_purchase_ts", c->fts[0]);
        VI("second_purchase_ts", c->fts[1]);
        VI("last_purchase_ts", c->last_ts);
        VI("monetary", c->monetary);
        VS("first_channel", c->channel);
        VS("first_campaign", c->campaign);
    }
    if (c->visits) {
        VI("visit_count", c->visits);
        VI("first_visit_ts", c->first_visit_ts);
        VI("last_visit_ts", c->last_visit_ts);
        ltv_visit_days_encode(c, &b);
        cb(opaque, "visit_days", b.p ? b.p : "", b.n);
        ltv_recent_visits_encode(c, &b);
        cb(opaque, "recent_visit_ids", b.p ? b.p : "", b.n);
    }
    if (c->rfm_r || c->rfm_version) {
        VI("r", c->rfm_r);
        VI("f", c->rfm_f);
        VI("m", c->rfm_m);
        VI("rfm_version", c->rfm_version);
        if (c->rfm_wm != INT64_MIN)
            VI("rfm_wm", c->rfm_wm);
        VS("segment", segname);
    }
    if (c->lc_kept) {
        static const struct {
            uint32_t bit;
            const char *name;
        } occ[] = {{LTV_LC_FIRST, "first_purchase"},
                   {LTV_LC_SECOND, "second_purchase"},
                   {LTV_LC_REVISIT, "revisit_due"},
                   {LTV_LC_SIGNUP, "signup_no_purchase"},
                   {LTV_LC_UNTRACKED, "untracked"}};
        ltv_buf_reset(&b);
        for (size_t i = 0; i < sizeof(occ) / sizeof(occ[0]); i++)
            if (c->lc_done & occ[i].bit)
                ltv_buf_printf(&b, "%s%s", b.n ? "," : "", occ[i].name);
        cb(opaque, "lc_settled", b.p ? b.p : "", b.n);
        VI("lc_f2_day", c->lc_f2_day);
        VI("lc_due", c->lc_due);
        VI("lc_signup_ts", c->lc_signup_ts);
        VI("lc_revisit_ts", c->lc_revisit_ts);
    }
#undef VI
#undef VS
    ltv_buf_t name;
    ltv_buf_init(&name);
    for (int i = 0; i < c->norders; i++) {
        ltv_buf_reset(&name);
        ltv_buf_printf(&name, "o:%s", c->orders[i].order_id);
        ltv_order_encode(&c->orders[i], &b);
        cb(opaque, name.p, b.p ? b.p : "", b.n);
    }
    ltv_buf_free(&name);
    ltv_buf_free(&b);
}
