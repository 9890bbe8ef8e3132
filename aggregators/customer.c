#include "customer.h"

#include <malloc.h>
#include <stdlib.h>
#include <string.h>

ltv_customer_t *ltv_customer_new(ltv_entity_t kind, const char *id, size_t idlen) {
    ltv_customer_t *c = ltv_calloc(1, sizeof(*c));
    c->kind = kind;
    c->id = ltv_strndup(id, idlen);
    c->idlen = idlen;
    c->rfm_seg = -1;
    c->rfm_wm = INT64_MIN;
    return c;
}

static void order_free(ltv_order_t *o) {
    free(o->order_id);
    free(o->channel);
    free(o->campaign);
    free(o->refund_ids);
}

void ltv_customer_destroy(ltv_customer_t *c) {
    if (!c)
        return;
    for (int i = 0; i < c->norders; i++)
        order_free(&c->orders[i]);
    free(c->orders);
    free(c->id);
    free(c->vdays);
    free(c);
}

/* glibc's chunk header: 8 bytes on 64-bit. */
static size_t chunk(const void *p) { return p ? malloc_usable_size((void *)p) + 8 : 0; }

size_t ltv_customer_mem(const ltv_customer_t *c) {
    if (!c)
        return 0;
    size_t n = chunk(c) + chunk(c->id) + chunk(c->orders) + chunk(c->vdays);
    for (int i = 0; i < c->norders; i++) {
        const ltv_order_t *o = &c->orders[i];
        n += chunk(o->order_id) + chunk(o->channel) + chunk(o->campaign) + chunk(o->refund_ids);
    }
    return n;
}

int64_t ltv_order_net(const ltv_order_t *o) {
    return o->amount > o->refunded ? o->amount - o->refunded : 0;
}

static int order_active(const ltv_order_t *o) { return o->seen && !o->cancelled; }

/* Orders whose order event has been seen come first, by event time; ties
 * are broken by order id so every run orders them the same way. Orders
 * known only from a cancel or refund have no time yet and go last. */
static int order_cmp(const ltv_order_t *a, const ltv_order_t *b) {
    if (a->seen != b->seen)
        return a->seen ? -1 : 1;
    if (a->seen && a->ts != b->ts)
        return a->ts < b->ts ? -1 : 1;
    return strcmp(a->order_id, b->order_id);
}

/* Moves orders[i] to its sorted place; the rest of the array is sorted. */
static void order_resort(ltv_customer_t *c, int i) {
    ltv_order_t tmp = c->orders[i];
    while (i > 0 && order_cmp(&tmp, &c->orders[i - 1]) < 0) {
        c->orders[i] = c->orders[i - 1];
        i--;
    }
    while (i < c->norders - 1 && order_cmp(&tmp, &c->orders[i + 1]) > 0) {
        c->orders[i] = c->orders[i + 1];
        i++;
    }
    c->orders[i] = tmp;
}

ltv_order_t *ltv_customer_find_order(ltv_customer_t *c, const char *order_id, size_t n) {
    for (int i = 0; i < c->norders; i++) {
        const char *id = c->orders[i].order_id;
        if (strlen(id) == n && !memcmp(id, order_id, n))
            return &c->orders[i];
    }
    return NULL;
}

const ltv_order_t *ltv_customer_active(const ltv_customer_t *c, int i) {
    for (int k = 0; k < c->norders; k++) {
        if (!order_active(&c->orders[k]))
            continue;
        if (i-- == 0)
            return &c->orders[k];
    }
    return NULL;
}

static int add_order_slot(ltv_customer_t *c) {
    if (c->norders == c->caporders) {
        c->caporders = c->caporders ? c->caporders * 2 : 2;
        c->orders = ltv_realloc(c->orders, sizeof(*c->orders) * (size_t)c->caporders);
    }
    memset(&c->orders[c->norders], 0, sizeof(ltv_order_t));
    return c->norders++;
}

/* The record separators of the stored encoding must not occur inside a
 * value; control characters in attribution strings are meaningless, so
 * they are replaced rather than rejected. */
static char *clean_dup(ltv_str_t s) {
    if (!s.p)
        return NULL;
    char *d = ltv_strndup(s.p, s.n);
    for (size_t i = 0; i < s.n; i++)
        if ((unsigned char)d[i] < 0x20)
            d[i] = '_';
    return d;
}

/* Refund event ids are stored each followed by '\x1e', so an empty id is
 * representable too; control characters are replaced (clean_dup) both when
 * storing and when comparing. */
static int refund_seen(const ltv_order_t *o, ltv_str_t eid) {
    if (!o->refund_ids)
        return 0;
    char *want = clean_dup(eid.p ? eid : ltv_str_c(""));
    size_t wl = strlen(want);
    int found = 0;
    for (const char *p = o->refund_ids; *p;) {
        const char *e = strchr(p, '\x1e');
        size_t l = e ? (size_t)(e - p) : strlen(p);
        if (l == wl && !memcmp(p, want, l)) {
            found = 1;
            break;
        }
        if (!e)
            break;
        p = e + 1;
    }
    free(want);
    return found;
}

static void refund_add(ltv_order_t *o, ltv_str_t eid) {
    char *clean = clean_dup(eid.p ? eid : ltv_str_c(""));
    size_t old = o->refund_ids ? strlen(o->refund_ids) : 0;
    size_t add = strlen(clean);
    o->refund_ids = ltv_realloc(o->refund_ids, old + add + 2);
    memcpy(o->refund_ids + old, clean, add);
    o->refund_ids[old + add] = '\x1e';
    o->refund_ids[old + add + 1] = '\0';
    free(clean);
}

static int str_eq_nullable(const char *a, const char *b) {
    if (!a || !b)
        return a == b;
    return !strcmp(a, b);
}

void ltv_customer_derive(ltv_customer_t *c) {
    int64_t n = 0, fts[LTV_FTS] = {0}, last = 0, mon = 0;
    const char *ch = NULL, *cp = NULL;
    for (int k = 0; k < c->norders; k++) {
        const ltv_order_t *o = &c->orders[k];
        if (!order_active(o))
            continue;
        if (n == 0) {
            ch = o->channel;
            cp = o->campaign;
        }
        if (n < LTV_FTS)
            fts[n] = o->ts;
        n++;
        if (o->ts > last)
            last = o->ts;
        mon += ltv_order_net(o);
    }
    if (n != c->n)
        c->dirty |= LTV_D_N;
    if (fts[0] != c->fts[0])
        c->dirty |= LTV_D_FIRST_TS;
    if (fts[1] != c->fts[1])
        c->dirty |= LTV_D_SECOND_TS;
    if (last != c->last_ts)
        c->dirty |= LTV_D_LAST_TS;
    if (mon != c->monetary)
        c->dirty |= LTV_D_MONETARY;
    if (!str_eq_nullable(ch, c->channel))
        c->dirty |= LTV_D_CHANNEL;
    if (!str_eq_nullable(cp, c->campaign))
        c->dirty |= LTV_D_CAMPAIGN;
    c->n = n;
    memcpy(c->fts, fts, sizeof(fts));
    c->last_ts = last;
    c->monetary = mon;
    c->channel = ch;
    c->campaign = cp;
}

static ltv_apply_res_t apply_purchase(ltv_customer_t *c, const ltv_event_t *ev) {
    ltv_order_t *o = ltv_customer_find_order(c, ev->order_id.p, ev->order_id.n);
    if (!o) {
        int i = add_order_slot(c);
        o = &c->orders[i];
        o->order_id = ltv_strndup(ev->order_id.p, ev->order_id.n);
    }
    switch (ev->ptype) {
    case LTV_PT_ORDER:
        if (o->seen)
            return LTV_DUPLICATE;
        o->seen = 1;
        o->ts = ev->ts;
        o->amount = ev->amount;
        o->channel = clean_dup(ev->channel);
        o->campaign = clean_dup(ev->campaign);
        break;
    case LTV_PT_CANCEL:
        if (o->cancelled)
            return LTV_DUPLICATE;
        o->cancelled = 1;
        break;
    case LTV_PT_REFUND:
        if (refund_seen(o, ev->event_id))
            return LTV_DUPLICATE;
        refund_add(o, ev->event_id);
        o->refunded += ev->amount;
        break;
    }
    o->dirty = 1;
    c->dirty |= LTV_D_ORDERS;
    /* o may move: the array stays sorted after every change. */
    order_resort(c, (int)(o - c->orders));
    ltv_customer_derive(c);
    return LTV_APPLIED;
}

static int vday_find(const ltv_customer_t *c, int32_t day) {
    int lo = 0, hi = c->nvdays;
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (c->vdays[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int ltv_customer_has_visit_day(const ltv_customer_t *c, int32_t day) {
    int i = vday_find(c, day);
    return i < c->nvdays && c->vdays[i] == day;
}

static int visit_day_add(ltv_customer_t *c, int32_t day) {
    int i = vday_find(c, day);
    if (i < c->nvdays && c->vdays[i] == day)
        return 0;
    if (c->nvdays == c->capvdays) {
        c->capvdays = c->capvdays ? c->capvdays * 2 : 4;
        c->vdays = ltv_realloc(c->vdays, sizeof(*c->vdays) * (size_t)c->capvdays);
    }
    memmove(c->vdays + i + 1, c->vdays + i, sizeof(*c->vdays) * (size_t)(c->nvdays - i));
    c->vdays[i] = day;
    c->nvdays++;
    c->dirty |= LTV_D_VISIT_DAYS;
    return 1;
}

static ltv_apply_res_t apply_visit(ltv_customer_t *c, const ltv_event_t *ev, int64_t tz,
                                   int *new_day) {
    /* Zero marks an empty slot, so a hash of zero is taken as one. A visit
     * without an event id cannot be recognised when re-sent: it is counted
     * and not remembered. */
    uint64_t h = 0;
    if (ev->event_id.p && ev->event_id.n) {
        h = ltv_visit_hash(ev->event_id.p, ev->event_id.n);
        for (int i = 0; i < LTV_RECENT_VISITS; i++)
            if (c->recent_visits[i] == h)
                return LTV_DUPLICATE;
    }
    c->visits++;
    c->dirty |= LTV_D_VISITS;
    if (!c->first_visit_ts || ev->ts < c->first_visit_ts) {
        c->first_visit_ts = ev->ts;
        c->dirty |= LTV_D_FIRST_VISIT;
    }
    if (ev->ts > c->last_visit_ts) {
        c->last_visit_ts = ev->ts;
        c->dirty |= LTV_D_LAST_VISIT;
    }
    *new_day = visit_day_add(c, (int32_t)ltv_day_of(ev->ts, tz));
    if (h) {
        memmove(c->recent_visits + 1, c->recent_visits,
                sizeof(c->recent_visits[0]) * (LTV_RECENT_VISITS - 1));
        c->recent_visits[0] = h;
        c->dirty |= LTV_D_RECENT_VISITS;
    }
    return LTV_APPLIED;
}

/* An ad spend record replaces the cost its entity held (see LTV_ENT_SPEND). */
static ltv_apply_res_t apply_spend(ltv_customer_t *c, const ltv_event_t *ev) {
    ltv_order_t *o = ltv_customer_find_order(c, "spend", 5);
    if (!o) {
        int i = add_order_slot(c); /* may move the array */
        o = &c->orders[i];
        o->order_id = ltv_strdup("spend");
        o->channel = clean_dup(ev->channel.p ? ev->channel : ltv_str_c(""));
        o->campaign = clean_dup(ev->campaign.p ? ev->campaign : ltv_str_c(""));
    } else if (o->seen && o->ts == ev->ts && o->amount == ev->amount) {
        return LTV_DUPLICATE;
    }
    o->seen = 1;
    o->ts = ev->ts;
    o->amount = ev->amount;
    o->dirty = 1;
    c->dirty |= LTV_D_ORDERS;
    ltv_customer_derive(c);
    return LTV_APPLIED;
}

ltv_apply_res_t ltv_customer_apply(ltv_customer_t *c, const ltv_event_t *ev,
                                   int64_t tz_offset_ms, int *facets) {
    ltv_apply_res_t r;
    *facets = 0;
    if (ev->kind == LTV_EV_AD_SPEND) {
        r = apply_spend(c, ev);
        if (r == LTV_APPLIED)
            *facets = LTV_FACET_SPEND;
        return r;
    }
    if (ev->kind == LTV_EV_PURCHASE) {
        r = apply_purchase(c, ev);
        if (r == LTV_APPLIED)
            *facets = LTV_FACET_ORDERS;
    } else {
        int new_day = 0;
        r = apply_visit(c, ev, tz_offset_ms, &new_day);
        if (r == LTV_APPLIED && new_day)
            *facets = LTV_FACET_VISITS;
    }
    return r;
}

int ltv_customer_facets(const ltv_customer_t *c, const ltv_event_t *ev, int64_t tz_offset_ms) {
    if (ev->kind == LTV_EV_PURCHASE)
        return LTV_FACET_ORDERS;
    if (ev->kind == LTV_EV_AD_SPEND)
        return LTV_FACET_SPEND;
    return ltv_customer_has_visit_day(c, (int32_t)ltv_day_of(ev->ts, tz_offset_ms))
               ? 0
               : LTV_FACET_VISITS;
}

void ltv_customer_clear_dirty(ltv_customer_t *c) {
    c->dirty = 0;
    c->lc_due_stored = c->lc_due;
    for (int i = 0; i < c->norders; i++)
        c->orders[i].dirty = 0;
}

/* ---- stored encodings --------------------------------------------------- */

void ltv_order_encode(const ltv_order_t *o, ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_put_i64(out, o->ts);
    ltv_buf_putc(out, '\x1f');
    ltv_buf_put_i64(out, o->amount);
    ltv_buf_putc(out, '\x1f');
    ltv_buf_put_i64(out, o->refunded);
    ltv_buf_putc(out, '\x1f');
    ltv_buf_putc(out, o->seen ? 'o' : '-');
    ltv_buf_putc(out, o->cancelled ? 'c' : '-');
    ltv_buf_putc(out, '\x1f');
    /* An absent channel is stored as \x01 so it stays distinct from "". */
    if (o->channel)
        ltv_buf_puts(out, o->channel);
    else
        ltv_buf_putc(out, '\x01');
    ltv_buf_putc(out, '\x1f');
    if (o->campaign)
        ltv_buf_puts(out, o->campaign);
    else
        ltv_buf_putc(out, '\x01');
    ltv_buf_putc(out, '\x1f');
    if (o->refund_ids)
        ltv_buf_puts(out, o->refund_ids);
}

static int parse_i64(const char *p, size_t n, int64_t *out) {
    if (!n || n > 20)
        return -1;
    int neg = 0;
    size_t i = 0;
    if (p[0] == '-') {
        neg = 1;
        i = 1;
        if (n == 1)
            return -1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}

static char *opt_str(const char *p, size_t n) {
    if (n == 1 && p[0] == '\x01')
        return NULL;
    return ltv_strndup(p, n);
}

int ltv_order_decode(ltv_order_t *o, const char *order_id, size_t idlen, const char *v,
                     size_t vlen) {
    const char *part[7];
    size_t plen[7];
    int np = 0;
    const char *s = v, *end = v + vlen;
    while (np < 7) {
        const char *e = memchr(s, '\x1f', (size_t)(end - s));
        part[np] = s;
        plen[np] = e ? (size_t)(e - s) : (size_t)(end - s);
        np++;
        if (!e)
            break;
        s = e + 1;
    }
    memset(o, 0, sizeof(*o));
    if (np != 7 || parse_i64(part[0], plen[0], &o->ts) || parse_i64(part[1], plen[1], &o->amount) ||
        parse_i64(part[2], plen[2], &o->refunded) || plen[3] != 2)
        return -1;
    o->seen = part[3][0] == 'o';
    o->cancelled = part[3][1] == 'c';
    o->order_id = ltv_strndup(order_id, idlen);
    o->channel = opt_str(part[4], plen[4]);
    o->campaign = opt_str(part[5], plen[5]);
    o->refund_ids = plen[6] ? ltv_strndup(part[6], plen[6]) : NULL;
    return 0;
}

void ltv_customer_load_order(ltv_customer_t *c, ltv_order_t *o) {
    int i = add_order_slot(c);
    c->orders[i] = *o; /* strings now owned by c */
    order_resort(c, i);
}

/* The recent-visit and visit-day fields are written with most visits, so
 * they are kept short: under 64 bytes a Redis hash stays in its compact
 * listpack encoding (less than half the memory, and faster to update). */
static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64val(char ch) {
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '-')
        return 62;
    if (ch == '_')
        return 63;
    return -1;
}

static void put_b64(ltv_buf_t *out, uint64_t v, int chars) {
    char tmp[12];
    for (int k = chars - 1; k >= 0; k--) {
        tmp[k] = b64[v & 63];
        v >>= 6;
    }
    ltv_buf_append(out, tmp, (size_t)chars);
}

static int get_b64(const char *p, int chars, uint64_t *v) {
    *v = 0;
    for (int k = 0; k < chars; k++) {
        int d = b64val(p[k]);
        if (d < 0)
            return -1;
        *v = (*v << 6) | (uint64_t)d;
    }
    return 0;
}

uint64_t ltv_visit_hash(const char *id, size_t n) {
    /* 48 bits: 8 base64 characters; zero marks an empty slot. */
    uint64_t h = ltv_hash(id, n) & 0xFFFFFFFFFFFFULL;
    return h ? h : 1;
}

void ltv_recent_visits_encode(const ltv_customer_t *c, ltv_buf_t *out) {
    ltv_buf_reset(out);
    for (int i = 0; i < LTV_RECENT_VISITS && c->recent_visits[i]; i++)
        put_b64(out, c->recent_visits[i], 8);
}

int ltv_recent_visits_decode(ltv_customer_t *c, const char *v, size_t vlen) {
    memset(c->recent_visits, 0, sizeof(c->recent_visits));
    if (vlen % 8 || vlen / 8 > LTV_RECENT_VISITS)
        return -1;
    for (size_t i = 0; i < vlen / 8; i++)
        if (get_b64(v + i * 8, 8, &c->recent_visits[i]))
            return -1;
    return 0;
}

/* Three characters (18 bits) a day: day numbers up to 262143 (year 2687). */
void ltv_visit_days_encode(const ltv_customer_t *c, ltv_buf_t *out) {
    ltv_buf_reset(out);
    for (int i = 0; i < c->nvdays; i++)
        put_b64(out, (uint64_t)(c->vdays[i] < 0 ? 0 : c->vdays[i]) & 0x3FFFF, 3);
}

int ltv_visit_days_decode(ltv_customer_t *c, const char *v, size_t vlen) {
    c->nvdays = 0;
    if (vlen % 3)
        return -1;
    for (size_t i = 0; i < vlen / 3; i++) {
        uint64_t d;
        if (get_b64(v + i * 3, 3, &d))
            return -1;
        /* Kept sorted and unique even if the stored field was not. */
        visit_day_add(c, (int32_t)d);
    }
    c->dirty &= ~(uint32_t)LTV_D_VISIT_DAYS;
    return 0;
}
