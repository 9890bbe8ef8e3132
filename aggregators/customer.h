/*
 * Per-customer state and how one event changes it. Pure logic, no I/O: the
 * store loads and saves it, the aggregators read it.
 *
 * A customer's orders are kept in full (order id, event time, amount,
 * refunds, cancellation, attribution), sorted by event time, so the F
 * ordinals (first, second, third purchase ...) are always those of the
 * earliest active orders, however late an event arrives. Everything
 * derived (purchase count, first/second/last purchase time, monetary,
 * acquisition channel) is recomputed from that list, which makes the state
 * independent of arrival order.
 */
#ifndef LTV_CUSTOMER_H
#define LTV_CUSTOMER_H

#include <stdint.h>
#include <stddef.h>

#include "event.h"
#include "util.h"

/* Earliest active purchase times kept in the derived fields (F1..F4). */
#define LTV_FTS 4

#define LTV_RECENT_VISITS 8

typedef enum {
    LTV_ENT_CUSTOMER = 'c', /* keyed by customer_id */
    LTV_ENT_VISITOR = 'v',  /* anonymous visitor, keyed by visitor_id */
    /* One campaign's cost on one channel on one day (agg_acquisition.c),
     * keyed "<day>\x1f<channel>\x1f<campaign>": the cost is held as the
     * amount of a single order "spend", so the store, the cache and the
     * before/after deltas treat it like any entity, and a restated cost
     * replaces the old one exactly. */
    LTV_ENT_SPEND = 's',
} ltv_entity_t;

typedef struct ltv_order_s {
    char *order_id;
    char *channel;      /* NULL: none */
    char *campaign;     /* NULL: none */
    char *refund_ids;   /* event ids of applied refunds, each followed by '\x1e'; NULL: none */
    int64_t ts;         /* 0 while only a cancel/refund has been seen */
    int64_t amount;
    int64_t refunded;
    uint8_t seen;       /* the order event itself has arrived */
    uint8_t cancelled;
    uint8_t dirty;      /* changed since the state was last saved */
} ltv_order_t;

/* Bits of ltv_customer_t.dirty: which stored fields changed. */
enum {
    LTV_D_N = 1 << 0,
    LTV_D_FIRST_TS = 1 << 1,
    LTV_D_SECOND_TS = 1 << 2,
    LTV_D_LAST_TS = 1 << 3,
    LTV_D_MONETARY = 1 << 4,
    LTV_D_CHANNEL = 1 << 5,
    LTV_D_CAMPAIGN = 1 << 6,
    LTV_D_VISITS = 1 << 7,
    LTV_D_FIRST_VISIT = 1 << 8,
    LTV_D_LAST_VISIT = 1 << 9,
    LTV_D_VISIT_DAYS = 1 << 10,
    LTV_D_RECENT_VISITS = 1 << 11,
    LTV_D_ORDERS = 1 << 12, /* some ltv_order_t.dirty is set */
    LTV_D_RFM = 1 << 13,    /* current scores and segment */
    LTV_D_LIFECYCLE = 1 << 14, /* the lifecycle block (lc_*) */
};

/* Bits of ltv_customer_t.lc_done (lifecycle.h). */
enum {
    LTV_LC_FIRST = 1 << 0,
    LTV_LC_SECOND = 1 << 1,
    LTV_LC_REVISIT = 1 << 2,
    LTV_LC_SIGNUP = 1 << 3,
    /* Loaded from a value without the lifecycle section: written before
     * lifecycle triggers existed, or while they were off. What is already
     * due is settled without firing, so turning them on does not message
     * customers about old occasions. */
    LTV_LC_UNTRACKED = 1 << 30,
};

/* Facets: which part of the state an event changed, so aggregators that
 * depend only on another part need not be recomputed. A page view on a day
 * the customer already visited changes no facet (only the visit count,
 * which no aggregate derives from state). */
enum {
    LTV_FACET_ORDERS = 1 << 0, /* the order list */
    LTV_FACET_VISITS = 1 << 1, /* the set of visit days */
    LTV_FACET_SPEND = 1 << 2,  /* an ad spend entity's cost */
};

typedef struct ltv_customer_s {
    ltv_entity_t kind;
    char *id;
    size_t idlen;

    ltv_order_t *orders; /* sorted by (seen desc, ts, order_id) */
    int norders, caporders;

    int64_t visits;
    int64_t first_visit_ts, last_visit_ts; /* 0: none */
    /* Every distinct day with a visit, ascending. Days, not visits, so it
     * stays small (a daily visitor adds 365 a year); it makes distinct
     * visitors per day, new vs returning and revisit rates exact whatever
     * order visits arrive in. */
    int32_t *vdays;
    int nvdays, capvdays;
    /* Hashes of the last LTV_RECENT_VISITS visit event ids, newest first:
     * an at-least-once tracker re-sends a page view within seconds, usually
     * before the visitor's next few views, so this catches re-sends without
     * keeping every id. */
    uint64_t recent_visits[LTV_RECENT_VISITS];

    /* Derived from orders by ltv_customer_derive(). */
    int64_t n;                 /* active orders: the F number */
    int64_t fts[LTV_FTS];      /* ts of the 1st..4th active order (0: none) */
    int64_t last_ts;
    int64_t monetary;          /* sum of max(0, amount - refunded) over active orders */
    const char *channel;       /* of the first active order (points into orders) */
    const char *campaign;

    /* Current RFM scores and segment at the stage's clock (0 / -1: none),
     * and the version of the customer's ltv.customer_rfm row. */
    int8_t rfm_r, rfm_f, rfm_m;
    int16_t rfm_seg;
    int64_t rfm_version;
    /* The watermark that version of the row was rendered with (INT64_MIN:
     * none), stored with it so a re-emission is the same record; has_rfm_wm
     * 0 when none is stored (state written before it was). */
    int64_t rfm_wm;
    uint8_t has_rfm_wm;
    int32_t partition; /* input partition number that owns the customer */

    /* Lifecycle triggers (lifecycle.c), stored as the lifecycle section of
     * the customer's value (customer_codec.c). Which occasions are settled
     * (fired, or passed without their condition holding), so each fires at
     * most once whatever is replayed; and the few event times the timed
     * occasions need. lc_kept: lifecycle triggers track this customer, and
     * its value carries the section; a value without it is untracked (see
     * LTV_LC_UNTRACKED). */
    uint8_t lc_kept;
    uint32_t lc_done;      /* LTV_LC_* bits of settled occasions */
    int32_t lc_f2_day;     /* f2 follow-ups settled through this day after the first purchase */
    int64_t lc_due;        /* the next occasion's due time, the customer's score in
                            * <ns>:lcz:<partition>; 0: none scheduled */
    int64_t lc_due_stored; /* lc_due as last read from or written to Redis: the
                            * lcz score is rewritten only when it differs */
    int64_t lc_signup_ts;  /* earliest sign-up visit; 0: none */
    int64_t lc_revisit_ts; /* earliest visit on a later day than the first visit's; 0: none */

    uint32_t dirty;
} ltv_customer_t;

/* Result of ltv_customer_apply. */
typedef enum {
    LTV_APPLIED = 0,
    LTV_DUPLICATE = 1, /* already applied (same order, cancel, refund or visit id) */
} ltv_apply_res_t;

ltv_customer_t *ltv_customer_new(ltv_entity_t kind, const char *id, size_t idlen);
void ltv_customer_destroy(ltv_customer_t *c);

/* Applies one event. `tz_offset_ms` cuts visit days. Returns LTV_DUPLICATE
 * when the event changes nothing; *facets gets the facets changed. */
ltv_apply_res_t ltv_customer_apply(ltv_customer_t *c, const ltv_event_t *ev,
                                   int64_t tz_offset_ms, int *facets);

/* The facets ltv_customer_apply(c, ev) would change, without changing
 * anything (a re-sent event may still report a facet). */
int ltv_customer_facets(const ltv_customer_t *c, const ltv_event_t *ev, int64_t tz_offset_ms);

/* Recomputes the derived fields from the orders, setting dirty bits for the
 * ones that changed. Called by apply and after loading. */
void ltv_customer_derive(ltv_customer_t *c);

ltv_order_t *ltv_customer_find_order(ltv_customer_t *c, const char *order_id, size_t n);

/* The i-th active order (0-based) in event-time order, or NULL. */
const ltv_order_t *ltv_customer_active(const ltv_customer_t *c, int i);

/* Net revenue of one order: max(0, amount - refunded). */
int64_t ltv_order_net(const ltv_order_t *o);

void ltv_customer_clear_dirty(ltv_customer_t *c);

/* Heap bytes the customer holds: every allocation's usable size plus
 * malloc's per-chunk header. For the cache's byte budget. */
size_t ltv_customer_mem(const ltv_customer_t *c);

/* Encoding of one order record in the customer hash (field "o:<order_id>"):
 * ts US amount US refunded US flags US channel US campaign US refund_ids,
 * US being '\x1f'. flags: 'o' or '-' (order seen), 'c' or '-' (cancelled). */
void ltv_order_encode(const ltv_order_t *o, ltv_buf_t *out);
int ltv_order_decode(ltv_order_t *o, const char *order_id, size_t idlen, const char *v,
                     size_t vlen);

/* Adds an order read from the store (keeps the sort order, no dirty bits). */
void ltv_customer_load_order(ltv_customer_t *c, ltv_order_t *o);

/* The 48-bit hash of a visit event id kept in recent_visits (never 0). */
uint64_t ltv_visit_hash(const char *id, size_t n);

/* Encoding of the recent-visits field: 8 base64url characters per 48-bit
 * hash, newest first. */
void ltv_recent_visits_encode(const ltv_customer_t *c, ltv_buf_t *out);
int ltv_recent_visits_decode(ltv_customer_t *c, const char *v, size_t vlen);

/* Encoding of the visit-days field: 3 base64url characters per day number,
 * ascending. */
int ltv_customer_has_visit_day(const ltv_customer_t *c, int32_t day);
void ltv_visit_days_encode(const ltv_customer_t *c, ltv_buf_t *out);
int ltv_visit_days_decode(ltv_customer_t *c, const char *v, size_t vlen);

/* The stored form of a customer (customer_codec.c): one compact value
 * holding the orders, visit facts, current RFM scores and (lc_kept) the
 * lifecycle fields; the segment is
 * stored by name (names are configuration, indexes would silently change
 * meaning). Decode returns NULL for a value it cannot read; seg and seglen
 * get the segment name, pointing into v (rfm_seg is left at -1 for the
 * caller to map). */
void ltv_customer_encode(const ltv_customer_t *c, const char *segname, ltv_buf_t *out);
ltv_customer_t *ltv_customer_decode(ltv_entity_t kind, const char *id, size_t idlen,
                                    const void *v, size_t vlen, const char **seg,
                                    size_t *seglen);

/* Calls cb for each field of the customer's field view: purchase_count,
 * first_purchase_ts, ..., segment, visit_days, o:<order_id>: the names and
 * text encodings the customer hash had before the compact form, for tools
 * and tests that look at one customer; and, when kept, the lifecycle
 * fields lc_settled (names of the settled occasions, comma-separated),
 * lc_f2_day, lc_due, lc_signup_ts, lc_revisit_ts. */
void ltv_customer_view(const ltv_customer_t *c, const char *segname,
                       void (*cb)(void *opaque, const char *field, const char *v, size_t vlen),
                       void *opaque);

#endif
