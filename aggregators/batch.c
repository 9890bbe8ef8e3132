#include "batch.h"
#include "lifecycle.h"
#include "rfm.h"
#include "log.h"

#include <stdlib.h>
#include <string.h>

typedef struct bevent_s {
    ltv_event_t ev;
    int32_t partition;
    ltv_centry_t *e;
} bevent_t;

/* Per customer touched in the batch. */
typedef struct slot_s {
    ltv_centry_t *e;
    ltv_contribs_t before;
    uint8_t captured[LTV_MAX_AGGS]; /* per aggregator: facets whose "before" is in `before` */
    uint8_t lc_due; /* popped from the lifecycle timers: its schedule is written back */
} slot_t;

struct ltv_batch_s {
    ltv_aggs_t *aggs;
    ltv_cache_t *cache;
    int64_t tz;
    uint32_t seq;
    ltv_arena_t arena;
    bevent_t *ev;
    int nev, capev;
    int nuncached; /* events whose entity was not cached when added */
    ltv_load_t *loads;
    ltv_centry_t **load_entries;
    int nloads, caploads;
    slot_t *slots;
    int nslots, capslots;
    ltv_customer_t **dirty;
    int ndirty, capdirty;
    ltv_customer_t **rfmch;
    int nrfmch, caprfmch;
    int64_t clock_day;
    ltv_lifecycle_t *lc; /* NULL: no lifecycle triggers */
    int64_t watermark;   /* timers fall due up to here (INT64_MIN: unknown) */
    struct rescore_s {
        ltv_str_t id;
        int32_t partition;
        int lc_due; /* a lifecycle timer fell due (else a recency tick) */
    } *rescore;
    int nrescore, caprescore;
    ltv_deltas_t *deltas;
    ltv_contribs_t after, evc;
};

ltv_batch_t *ltv_batch_new(ltv_aggs_t *aggs, ltv_cache_t *cache, int64_t tz_offset_ms) {
    ltv_batch_t *b = ltv_calloc(1, sizeof(*b));
    b->aggs = aggs;
    b->cache = cache;
    b->tz = tz_offset_ms;
    b->clock_day = INT64_MIN;
    b->watermark = INT64_MIN;
    ltv_arena_init(&b->arena, 256 * 1024);
    b->deltas = ltv_deltas_new();
    ltv_contribs_init(&b->after);
    ltv_contribs_init(&b->evc);
    return b;
}

void ltv_batch_destroy(ltv_batch_t *b) {
    if (!b)
        return;
    for (int i = 0; i < b->capslots; i++)
        ltv_contribs_free(&b->slots[i].before);
    free(b->slots);
    free(b->ev);
    free(b->loads);
    free(b->load_entries);
    free(b->dirty);
    free(b->rfmch);
    free(b->rescore);
    ltv_deltas_destroy(b->deltas);
    ltv_contribs_free(&b->after);
    ltv_contribs_free(&b->evc);
    ltv_arena_free(&b->arena);
    free(b);
}

void ltv_batch_begin(ltv_batch_t *b, uint32_t seq) {
    b->seq = seq;
    b->nev = 0;
    b->nuncached = 0;
    b->nloads = 0;
    b->nslots = 0;
    b->ndirty = 0;
    b->nrfmch = 0;
    b->nrescore = 0;
    if (b->lc)
        ltv_lifecycle_reset(b->lc);
    ltv_arena_reset(&b->arena);
    ltv_deltas_reset(b->deltas);
}

ltv_event_t *ltv_batch_add(ltv_batch_t *b, int32_t partition) {
    if (b->nev == b->capev) {
        b->capev = b->capev ? b->capev * 2 : 1024;
        b->ev = ltv_realloc(b->ev, sizeof(*b->ev) * (size_t)b->capev);
    }
    bevent_t *be = &b->ev[b->nev++];
    be->partition = partition;
    be->e = NULL;
    memset(&be->ev, 0, sizeof(be->ev));
    return &be->ev;
}

void ltv_batch_unadd(ltv_batch_t *b) {
    if (b->nev)
        b->nev--;
}

ltv_arena_t *ltv_batch_arena(ltv_batch_t *b) { return &b->arena; }
int ltv_batch_count(const ltv_batch_t *b) { return b->nev; }

/* The entity an event belongs to: its customer, or for an anonymous visit
 * its visitor; an ad spend record, its campaign's day on its channel. */
static ltv_entity_t entity_of(ltv_batch_t *b, const ltv_event_t *ev, ltv_str_t *id) {
    if (ev->kind == LTV_EV_AD_SPEND) {
        ltv_buf_t k;
        ltv_buf_init(&k);
        ltv_buf_printf(&k, "%lld\x1f%.*s\x1f%.*s", (long long)ltv_day_of(ev->ts, b->tz),
                       (int)ev->channel.n, ev->channel.p ? ev->channel.p : "", (int)ev->campaign.n,
                       ev->campaign.p ? ev->campaign.p : "");
        *id = ltv_arena_str(&b->arena, k.p, k.n);
        ltv_buf_free(&k);
        return LTV_ENT_SPEND;
    }
    if (ev->customer_id.p && ev->customer_id.n) {
        *id = ev->customer_id;
        return LTV_ENT_CUSTOMER;
    }
    *id = ev->visitor_id;
    return LTV_ENT_VISITOR;
}

void ltv_batch_note_uncached(ltv_batch_t *b, const ltv_event_t *ev) {
    if (ev->kind == LTV_EV_AD_SPEND) {
        b->nuncached++; /* rare, and keyed by day: counted without a lookup */
        return;
    }
    ltv_str_t id;
    ltv_entity_t kind = entity_of(b, ev, &id);
    if (!ltv_cache_get(b->cache, kind, id.p, id.n))
        b->nuncached++;
}

int ltv_batch_uncached(const ltv_batch_t *b) { return b->nuncached; }

void ltv_batch_set_clock_day(ltv_batch_t *b, int64_t day) { b->clock_day = day; }

int ltv_batch_rescore_count(const ltv_batch_t *b) { return b->nrescore; }

static void add_rescore(ltv_batch_t *b, const char *id, size_t idlen, int32_t partition,
                        int lc_due) {
    if (b->nrescore == b->caprescore) {
        b->caprescore = b->caprescore ? b->caprescore * 2 : 256;
        b->rescore = ltv_realloc(b->rescore, sizeof(*b->rescore) * (size_t)b->caprescore);
    }
    b->rescore[b->nrescore].id = ltv_arena_str(&b->arena, id, idlen);
    b->rescore[b->nrescore].partition = partition;
    b->rescore[b->nrescore].lc_due = lc_due;
    b->nrescore++;
}

void ltv_batch_rescore(ltv_batch_t *b, const char *id, size_t idlen, int32_t partition) {
    add_rescore(b, id, idlen, partition, 0);
}

void ltv_batch_set_lifecycle(ltv_batch_t *b, ltv_lifecycle_t *lc) {
    b->lc = ltv_lifecycle_enabled(lc) ? lc : NULL;
}

void ltv_batch_set_watermark(ltv_batch_t *b, int64_t watermark) { b->watermark = watermark; }

void ltv_batch_lc_due(ltv_batch_t *b, const char *id, size_t idlen, int32_t partition) {
    add_rescore(b, id, idlen, partition, 1);
}

static ltv_centry_t *entry_for_load(ltv_batch_t *b, ltv_entity_t kind, ltv_str_t id,
                                    int32_t partition) {
    ltv_centry_t *e = ltv_cache_get(b->cache, kind, id.p, id.n);
    if (!e) {
        /* Placeholder: later events of the same customer find it and
         * are not loaded twice. */
        e = ltv_cache_add(b->cache, kind, id.p, id.n, partition);
        if (b->nloads == b->caploads) {
            b->caploads = b->caploads ? b->caploads * 2 : 1024;
            b->loads = ltv_realloc(b->loads, sizeof(*b->loads) * (size_t)b->caploads);
            b->load_entries =
                ltv_realloc(b->load_entries, sizeof(*b->load_entries) * (size_t)b->caploads);
        }
        b->loads[b->nloads].kind = kind;
        b->loads[b->nloads].id = e->id;
        b->loads[b->nloads].idlen = e->idlen;
        b->loads[b->nloads].out = NULL;
        b->load_entries[b->nloads] = e;
        b->nloads++;
    }
    e->batch = b->seq;
    return e;
}

int ltv_batch_loads(ltv_batch_t *b, ltv_load_t **loads) {
    b->nloads = 0;
    for (int i = 0; i < b->nev; i++) {
        bevent_t *be = &b->ev[i];
        ltv_str_t id;
        ltv_entity_t kind = entity_of(b, &be->ev, &id);
        be->e = entry_for_load(b, kind, id, be->partition);
    }
    for (int i = 0; i < b->nrescore; i++)
        entry_for_load(b, LTV_ENT_CUSTOMER, b->rescore[i].id, b->rescore[i].partition);
    *loads = b->loads;
    return b->nloads;
}

void ltv_batch_loaded(ltv_batch_t *b) {
    for (int i = 0; i < b->nloads; i++) {
        ltv_centry_t *e = b->load_entries[i];
        e->c = b->loads[i].out ? b->loads[i].out
                               : ltv_customer_new(e->kind, e->id, e->idlen);
        e->c->partition = e->partition;
        b->loads[i].out = NULL; /* now owned by the cache entry */
        ltv_cache_account(b->cache, e);
    }
    b->nloads = 0;
}

static slot_t *slot_of(ltv_batch_t *b, ltv_centry_t *e) {
    if (e->slot >= 0 && e->slot < b->nslots && b->slots[e->slot].e == e)
        return &b->slots[e->slot];
    if (b->nslots == b->capslots) {
        int ncap = b->capslots ? b->capslots * 2 : 1024;
        b->slots = ltv_realloc(b->slots, sizeof(*b->slots) * (size_t)ncap);
        for (int i = b->capslots; i < ncap; i++)
            ltv_contribs_init(&b->slots[i].before);
        b->capslots = ncap;
    }
    slot_t *s = &b->slots[b->nslots];
    e->slot = b->nslots++;
    s->e = e;
    s->lc_due = 0;
    memset(s->captured, 0, sizeof(s->captured));
    ltv_contribs_reset(&s->before);
    return s;
}

/* Takes the "before" contribution of every aggregator part (facet) this
 * event can change and that has not been captured yet for this customer. */
static void capture_before(ltv_batch_t *b, slot_t *s, int facets) {
    int n = ltv_aggs_count(b->aggs);
    for (int i = 0; i < n; i++) {
        ltv_agg_t *a = ltv_aggs_get(b->aggs, i);
        int missing = a->cls->facets & facets & ~s->captured[i];
        if (!missing)
            continue;
        a->cls->contribute(a, s->e->c, missing, &s->before);
        s->captured[i] |= (uint8_t)missing;
    }
}

void ltv_batch_apply(ltv_batch_t *b, ltv_batch_stats_t *stats) {
    for (int i = 0; i < b->nev; i++) {
        bevent_t *be = &b->ev[i];
        ltv_centry_t *e = be->e;
        if (e->partition != be->partition) {
            /* Both input topics must be partitioned alike (same count, same
             * partitioner on customer_id). A customer seen on two partition
             * numbers can be processed by two instances at once. */
            if (stats->misrouted++ == 0)
                ltv_warn("customer %.*s arrives on partitions %d and %d: the input topics are "
                         "not co-partitioned by customer_id",
                         (int)e->idlen, e->id, (int)e->partition, (int)be->partition);
        }
        slot_t *s = slot_of(b, e);
        int facets = ltv_customer_facets(e->c, &be->ev, b->tz);
        if (facets)
            capture_before(b, s, facets);
        int changed;
        int64_t n_before = e->c->n, first_visit_before = e->c->first_visit_ts;
        if (ltv_customer_apply(e->c, &be->ev, b->tz, &changed) == LTV_DUPLICATE) {
            stats->duplicates++;
            continue;
        }
        stats->applied++;
        if (b->lc)
            ltv_lifecycle_on_event(b->lc, e->c, &be->ev, n_before, first_visit_before);
        ltv_contribs_reset(&b->evc);
        ltv_aggs_on_event(b->aggs, e->c, &be->ev, &b->evc);
        for (int k = 0; k < b->evc.n; k++)
            ltv_deltas_add(b->deltas, &b->evc.v[k], +1);
    }

    /* Recency ticks: customers to re-score without an event. */
    for (int i = 0; i < b->nrescore; i++) {
        ltv_centry_t *e = ltv_cache_get(b->cache, LTV_ENT_CUSTOMER, b->rescore[i].id.p,
                                        b->rescore[i].id.n);
        if (e && e->c)
            slot_of(b, e)->lc_due |= (uint8_t)b->rescore[i].lc_due;
    }

    /* After: the same aggregators, on the final state of each customer. */
    b->ndirty = 0;
    int n = ltv_aggs_count(b->aggs);
    for (int i = 0; i < b->nslots; i++) {
        slot_t *s = &b->slots[i];
        ltv_customer_t *c = s->e->c;
        ltv_contribs_reset(&b->after);
        for (int k = 0; k < n; k++) {
            if (s->captured[k]) {
                ltv_agg_t *a = ltv_aggs_get(b->aggs, k);
                a->cls->contribute(a, c, s->captured[k], &b->after);
            }
        }
        ltv_contribs_sort(&s->before);
        ltv_contribs_sort(&b->after);
        ltv_deltas_diff(b->deltas, &s->before, &b->after);
        ltv_cache_touch(b->cache, s->e);
        ltv_cache_account(b->cache, s->e);
        if (c->kind == LTV_ENT_CUSTOMER && b->clock_day != INT64_MIN &&
            (c->n > 0 || c->rfm_seg >= 0)) {
            ltv_rfm_t r;
            ltv_rfm_score(ltv_aggs_rfm(b->aggs), c, b->clock_day, b->tz, &r);
            /* The row shows purchase values too (frequency, monetary, first
             * and last purchase, channel): it is re-sent when any of them or
             * a score changes, so its newest version is never stale. */
            int shown = (c->dirty & (LTV_D_N | LTV_D_MONETARY | LTV_D_FIRST_TS | LTV_D_LAST_TS |
                                     LTV_D_CHANNEL)) != 0;
            if (shown || r.r != c->rfm_r || r.f != c->rfm_f || r.m != c->rfm_m ||
                r.seg != c->rfm_seg) {
                int old_r = c->rfm_r, old_seg = c->rfm_seg;
                c->rfm_r = r.r;
                c->rfm_f = r.f;
                c->rfm_m = r.m;
                c->rfm_seg = r.seg;
                /* One writer per customer (its partition's owner, fenced), so
                 * the row version can count here and be written with it. */
                c->rfm_version++;
                c->dirty |= LTV_D_RFM;
                if (b->lc)
                    ltv_lifecycle_on_rescore(b->lc, c, old_r, old_seg);
                stats->rfm_changes++;
                if (b->nrfmch == b->caprfmch) {
                    b->caprfmch = b->caprfmch ? b->caprfmch * 2 : 256;
                    b->rfmch = ltv_realloc(b->rfmch, sizeof(*b->rfmch) * (size_t)b->caprfmch);
                }
                b->rfmch[b->nrfmch++] = c;
            }
        }
        if (b->lc)
            ltv_lifecycle_settle(b->lc, c, b->watermark, s->lc_due);
        if (c->dirty) {
            if (b->ndirty == b->capdirty) {
                b->capdirty = b->capdirty ? b->capdirty * 2 : 1024;
                b->dirty = ltv_realloc(b->dirty, sizeof(*b->dirty) * (size_t)b->capdirty);
            }
            b->dirty[b->ndirty++] = c;
        }
    }
    ltv_aggs_derive(b->aggs, b->deltas);
}

int ltv_batch_dirty(ltv_batch_t *b, ltv_customer_t ***out) {
    *out = b->dirty;
    return b->ndirty;
}

ltv_deltas_t *ltv_batch_deltas(ltv_batch_t *b) { return b->deltas; }

int ltv_batch_rfm_changed(ltv_batch_t *b, ltv_customer_t ***out) {
    *out = b->rfmch;
    return b->nrfmch;
}

void ltv_batch_committed(ltv_batch_t *b) {
    for (int i = 0; i < b->ndirty; i++)
        ltv_customer_clear_dirty(b->dirty[i]);
    b->ndirty = 0;
}
