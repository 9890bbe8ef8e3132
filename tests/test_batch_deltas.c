/*
 * The batch end to end without Redis (SPEC §4 determinism): events are
 * added, the customers to load are listed (left NULL: new customers),
 * applied, and the batch's row deltas are the difference between each
 * touched customer's contribution after its last event and before its
 * first. The sum of the deltas therefore does not depend on how the events
 * are cut into batches nor on the order of customers within a batch;
 * duplicates count once. Also the write-back cache: lookup, LRU eviction
 * bounded by its maximum, and dropping a revoked partition.
 */
#include "unit_fixtures.h"

#include "batch.h"
#include "cache.h"

#define F2 "f2_cohort"
#define RM "retention_mix"

static int64_t at(int d, int h, int m) {
    return T0 + d * DAY_MS + h * HOUR_MS + m * MIN_MS;
}

/* ---- fixture: a stream of events over four entities ------------------------ */

enum { NEV = 12 };

static ltv_event_t EV[NEV];

static void make_events(void) {
    /* c1: o1 on 05-10 (google, 1000), a visit on 05-09, a late earlier o0 on
     * 05-03 (meta, 400), a refund of 200 on o1, and o1 re-delivered. */
    EV[0] = mk_purchase("c1", "e0", "o1", LTV_PT_ORDER, at(9, 10, 0), 1000, "google", NULL);
    EV[1] = mk_visit("c1", "vis-c1", "c1v1", at(8, 10, 0));
    EV[2] = mk_purchase("c1", "e2", "o0", LTV_PT_ORDER, at(2, 8, 0), 400, "meta", NULL);
    EV[3] = mk_purchase("c1", "r1", "o1", LTV_PT_REFUND, at(11, 0, 0), 200, NULL, NULL);
    EV[4] = mk_purchase("c1", "e0", "o1", LTV_PT_ORDER, at(9, 10, 0), 1000, "google", NULL);
    /* c2: p1 on 05-01 (no channel, 2000), p2 on 05-11 (google, 500), p1 cancelled. */
    EV[5] = mk_purchase("c2", "e5", "p1", LTV_PT_ORDER, at(0, 10, 0), 2000, NULL, NULL);
    EV[6] = mk_purchase("c2", "e6", "p2", LTV_PT_ORDER, at(10, 10, 0), 500, "google", NULL);
    EV[7] = mk_purchase("c2", "e7", "p1", LTV_PT_CANCEL, at(11, 0, 0), 0, NULL, NULL);
    /* c3: visits only, on 05-01 and 05-03, and w1 re-sent. */
    EV[8] = mk_visit("c3", "vis-c3", "w1", at(0, 9, 0));
    EV[9] = mk_visit("c3", "vis-c3", "w2", at(2, 9, 0));
    EV[10] = mk_visit("c3", "vis-c3", "w1", at(0, 9, 0));
    /* An anonymous visitor on 05-02. */
    EV[11] = mk_visit(NULL, "anon-1", "a1", at(1, 12, 0));
}

/* ---- harness -------------------------------------------------------------- */

typedef struct pipe_s {
    ltv_cache_t *cache;
    ltv_batch_t *b;
} pipe_t;

static void pipe_init(pipe_t *p, tracker_t *t, size_t cache_max) {
    p->cache = ltv_cache_new(cache_max, 0);
    p->b = ltv_batch_new(t->aggs, p->cache, t->conf->tz_offset_ms);
}

static void pipe_free(pipe_t *p) {
    ltv_batch_destroy(p->b);
    ltv_cache_destroy(p->cache);
}

/* Adds every field of every row of `from` to `acc`. */
static void acc_add(ltv_deltas_t *acc, const ltv_deltas_t *from) {
    for (int i = 0; i < ltv_deltas_count(from); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(from, i);
        for (int f = 0; f < r->id.agg->nfields; f++) {
            ltv_contrib_t c = {.row = r->id, .field = f, .value = r->d[f]};
            ltv_deltas_add(acc, &c, +1);
        }
    }
}

/* Runs one batch of EV[idx[0..n)], all on partition 0; returns the number of
 * customers it had to load. The batch's deltas are added to acc (if any). */
static int run_batch(pipe_t *p, uint32_t seq, const int *idx, int n, ltv_batch_stats_t *st,
                     ltv_deltas_t *acc) {
    ltv_batch_begin(p->b, seq);
    for (int i = 0; i < n; i++) {
        ltv_event_t *slot = ltv_batch_add(p->b, 0);
        *slot = EV[idx[i]];
    }
    assert_int_equal(ltv_batch_count(p->b), n);
    ltv_load_t *loads = NULL;
    int nloads = ltv_batch_loads(p->b, &loads);
    for (int i = 0; i < nloads; i++)
        assert_null(loads[i].out); /* absent from the store: new customers */
    ltv_batch_loaded(p->b);
    memset(st, 0, sizeof(*st));
    ltv_batch_apply(p->b, st);
    if (acc)
        acc_add(acc, ltv_batch_deltas(p->b));
    return nloads;
}

static const ltv_delta_row_t *find_row(const ltv_deltas_t *ds, const ltv_rowid_t *id) {
    for (int i = 0; i < ltv_deltas_count(ds); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(ds, i);
        if (!ltv_rowid_cmp(&r->id, id))
            return r;
    }
    return NULL;
}

static int count_nonzero(const ltv_deltas_t *ds) {
    int n = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++)
        n += ltv_delta_row_nonzero(ltv_deltas_get(ds, i));
    return n;
}

/* Same non-zero rows with the same values. */
static void assert_deltas_equal(const ltv_deltas_t *a, const ltv_deltas_t *b) {
    assert_int_equal(count_nonzero(a), count_nonzero(b));
    for (int i = 0; i < ltv_deltas_count(a); i++) {
        const ltv_delta_row_t *r = ltv_deltas_get(a, i);
        if (!ltv_delta_row_nonzero(r))
            continue;
        const ltv_delta_row_t *s = find_row(b, &r->id);
        assert_non_null(s);
        assert_memory_equal(r->d, s->d, sizeof(r->d));
    }
}

/* Rows of agg_name present in ds at all (zero or not). */
static int rows_of(tracker_t *t, const ltv_deltas_t *ds, const char *agg_name) {
    const ltv_agg_t *a = ltv_aggs_find(t->aggs, agg_name);
    int n = 0;
    for (int i = 0; i < ltv_deltas_count(ds); i++)
        n += ltv_deltas_get(ds, i)->id.agg == a;
    return n;
}

#define D(ds, agg, day, dim, field) delta_of(t.aggs, (ds), (agg), (day), (dim), (field))

/* The whole stream as one batch, checked against hand-computed rows. */
static void test_one_batch_hand_checked(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    pipe_t p;
    pipe_init(&p, &t, 0);
    static const int all[NEV] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    ltv_batch_stats_t st;

    ltv_batch_begin(p.b, 1);
    for (int i = 0; i < NEV; i++)
        *ltv_batch_add(p.b, 0) = EV[all[i]];
    ltv_load_t *loads;
    int nloads = ltv_batch_loads(p.b, &loads);
    /* In order of first appearance: c1, c2, c3, the anonymous visitor. */
    assert_int_equal(nloads, 4);
    assert_int_equal(loads[0].kind, LTV_ENT_CUSTOMER);
    assert_memory_equal(loads[0].id, "c1", 2);
    assert_memory_equal(loads[1].id, "c2", 2);
    assert_memory_equal(loads[2].id, "c3", 2);
    assert_int_equal(loads[3].kind, LTV_ENT_VISITOR);
    assert_int_equal(loads[3].idlen, 6);
    assert_memory_equal(loads[3].id, "anon-1", 6);
    ltv_batch_loaded(p.b);
    memset(&st, 0, sizeof(st));
    ltv_batch_apply(p.b, &st);
    ltv_deltas_t *ds = ltv_batch_deltas(p.b);

    /* 12 events, 2 duplicates (o1 re-delivered, visit w1 re-sent). */
    assert_int_equal(st.applied, 10);
    assert_int_equal(st.duplicates, 2);
    assert_int_equal(st.misrouted, 0);

    /* F2: c1 is in the 05-03/meta cohort with o1 (05-10, 7 days) as F2;
     *     c2's p1 (05-01) was cancelled in the same batch: 05-11/google, F1 only;
     *     c3 and the visitor have no purchase. */
    const char *dims3[] = {"", "meta"};
    for (int k = 0; k < 2; k++) {
        assert_int_equal(D(ds, F2, "2024-05-03", dims3[k], "cohort_size"), 1);
        assert_int_equal(D(ds, F2, "2024-05-03", dims3[k], "f2_count"), 1);
        assert_int_equal(D(ds, F2, "2024-05-03", dims3[k], "f2_within_30d"), 1);
        assert_int_equal(D(ds, F2, "2024-05-03", dims3[k], "f2_within_90d"), 1);
    }
    assert_int_equal(D(ds, F2, "2024-05-11", "", "cohort_size"), 1);
    assert_int_equal(D(ds, F2, "2024-05-11", "google", "cohort_size"), 1);
    assert_int_equal(D(ds, F2, "2024-05-01", "", "cohort_size"), 0);
    assert_int_equal(D(ds, F2, "2024-05-10", "google", "cohort_size"), 0);
    assert_int_equal(nonzero_rows(t.aggs, ds, F2), 4);

    /* Retention mix. */
    /* 05-01: c3's first visit day, revisited on 05-03 (2 <= 3); 1 page view (w1 once). */
    assert_int_equal(D(ds, RM, "2024-05-01", "", "visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "new_visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "new_visitors_revisited_3d"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "visits"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "orders"), 0); /* p1 cancelled */
    /* 05-02: the anonymous visitor. */
    assert_int_equal(D(ds, RM, "2024-05-02", "", "visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-02", "", "new_visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-02", "", "visits"), 1);
    /* 05-03: c1's o0 (new, 400), c3's returning visit. */
    assert_int_equal(D(ds, RM, "2024-05-03", "", "orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-03", "", "new_orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-03", "", "revenue"), 400);
    assert_int_equal(D(ds, RM, "2024-05-03", "", "new_customers"), 1);
    assert_int_equal(D(ds, RM, "2024-05-03", "", "returning_visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-03", "", "visits"), 1);
    /* 05-09: c1's first visit. */
    assert_int_equal(D(ds, RM, "2024-05-09", "", "new_visitors"), 1);
    assert_int_equal(D(ds, RM, "2024-05-09", "", "visits"), 1);
    /* 05-10: c1's o1, returning, net 1000 - 200 = 800. */
    assert_int_equal(D(ds, RM, "2024-05-10", "", "orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-10", "", "returning_orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-10", "", "new_orders"), 0);
    assert_int_equal(D(ds, RM, "2024-05-10", "", "revenue"), 800);
    assert_int_equal(D(ds, RM, "2024-05-10", "", "returning_revenue"), 800);
    assert_int_equal(D(ds, RM, "2024-05-10", "", "returning_customers"), 1);
    /* 05-11: c2's p2, now their first: new, 500. */
    assert_int_equal(D(ds, RM, "2024-05-11", "", "new_orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-11", "", "new_revenue"), 500);
    assert_int_equal(D(ds, RM, "2024-05-11", "", "new_customers"), 1);
    /* 05-01, 05-02, 05-03, 05-09, 05-10, 05-11. */
    assert_int_equal(nonzero_rows(t.aggs, ds, RM), 6);
    /* Page views: w1, w2, a1, c1v1 = 4 (the re-sent w1 is not one). */
    assert_int_equal(field_total(t.aggs, ds, RM, "visits"), 4);

    /* All four entities changed: all four are to be written. */
    ltv_customer_t **dirty;
    assert_int_equal(ltv_batch_dirty(p.b, &dirty), 4);
    for (int i = 0; i < 4; i++)
        assert_true(dirty[i]->dirty != 0);
    assert_int_equal(ltv_cache_count(p.cache), 4);
    ltv_batch_committed(p.b);
    for (int i = 0; i < 4; i++)
        assert_int_equal(dirty[i]->dirty, 0);
    ltv_centry_t *e = ltv_cache_get(p.cache, LTV_ENT_CUSTOMER, "c1", 2);
    assert_non_null(e);
    assert_int_equal(e->c->n, 2);
    assert_int_equal(e->c->monetary, 1200); /* 400 + 800 */
    assert_null(ltv_cache_get(p.cache, LTV_ENT_CUSTOMER, "anon-1", 6));
    assert_non_null(ltv_cache_get(p.cache, LTV_ENT_VISITOR, "anon-1", 6));

    pipe_free(&p);
    tracker_free(&t);
}

/* One batch == two batches (summed), and the split batches are right by hand. */
static void test_split_batches_sum_to_one_batch(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    static const int all[NEV] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    ltv_batch_stats_t st;

    pipe_t one;
    pipe_init(&one, &t, 0);
    ltv_deltas_t *whole = ltv_deltas_new();
    assert_int_equal(run_batch(&one, 1, all, NEV, &st, whole), 4);

    for (int cut = 1; cut < NEV; cut++) {
        pipe_t two;
        pipe_init(&two, &t, 0);
        ltv_deltas_t *sum = ltv_deltas_new();
        ltv_batch_stats_t s1, s2;
        run_batch(&two, 1, all, cut, &s1, sum);
        ltv_batch_committed(two.b);
        run_batch(&two, 2, all + cut, NEV - cut, &s2, sum);
        assert_deltas_equal(whole, sum);
        assert_int_equal(s1.applied + s2.applied, 10);
        assert_int_equal(s1.duplicates + s2.duplicates, 2);
        ltv_deltas_destroy(sum);
        pipe_free(&two);
    }

    /* The cut after EV[5] by hand. Batch 1 (EV[0..5]): c2 has only p1 (05-01,
     * no channel) so far -> cohort 05-01 / "(none)". Batch 2: p2 and the
     * cancel of p1 move c2 to 05-11 / google. */
    pipe_t two;
    pipe_init(&two, &t, 0);
    ltv_batch_stats_t s1, s2;
    assert_int_equal(run_batch(&two, 1, all, 6, &s1, NULL), 2); /* loads c1, c2 */
    ltv_deltas_t *d1 = ltv_batch_deltas(two.b);
    assert_int_equal(s1.applied, 5); /* EV[4] is the duplicate */
    assert_int_equal(s1.duplicates, 1);
    assert_int_equal(D(d1, F2, "2024-05-01", "", "cohort_size"), 1);
    assert_int_equal(D(d1, F2, "2024-05-01", "(none)", "cohort_size"), 1);
    assert_int_equal(D(d1, F2, "2024-05-03", "meta", "f2_count"), 1);
    assert_int_equal(D(d1, RM, "2024-05-01", "", "revenue"), 2000);
    ltv_batch_committed(two.b);
    /* Batch 2 loads c3 and the visitor; c2 comes from the cache. */
    assert_int_equal(run_batch(&two, 2, all + 6, 6, &s2, NULL), 2);
    ltv_deltas_t *d2 = ltv_batch_deltas(two.b);
    assert_int_equal(s2.applied, 5); /* EV[10] is the duplicate */
    assert_int_equal(s2.duplicates, 1);
    assert_int_equal(D(d2, F2, "2024-05-01", "", "cohort_size"), -1);
    assert_int_equal(D(d2, F2, "2024-05-01", "(none)", "cohort_size"), -1);
    assert_int_equal(D(d2, F2, "2024-05-11", "", "cohort_size"), 1);
    assert_int_equal(D(d2, F2, "2024-05-11", "google", "cohort_size"), 1);
    assert_int_equal(D(d2, RM, "2024-05-01", "", "revenue"), -2000);
    assert_int_equal(D(d2, RM, "2024-05-01", "", "new_customers"), -1);
    assert_int_equal(D(d2, RM, "2024-05-11", "", "new_revenue"), 500);
    /* c1 was not touched by batch 2: its rows do not appear. */
    assert_int_equal(D(d2, F2, "2024-05-03", "", "cohort_size"), 0);
    assert_int_equal(D(d2, RM, "2024-05-10", "", "orders"), 0);
    /* Batch 2 wrote c2, c3 and the visitor. */
    ltv_customer_t **dirty;
    assert_int_equal(ltv_batch_dirty(two.b, &dirty), 3);
    pipe_free(&two);

    ltv_deltas_destroy(whole);
    pipe_free(&one);
    tracker_free(&t);
}

/* Interleaving customers differently, or even reversing every customer's
 * own events, gives the same deltas. */
static void test_event_order_within_batch_does_not_matter(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    static const int base[NEV] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    /* Other interleavings keeping each customer's own order. */
    static const int mixed[NEV] = {8, 5, 0, 11, 9, 1, 6, 2, 10, 7, 3, 4};
    static const int grouped[NEV] = {11, 8, 9, 10, 5, 6, 7, 0, 1, 2, 3, 4};
    /* Everything reversed: each customer's own events in reverse too (the
     * cancel before its order, the refund before its order, the re-sent
     * order and visit first). */
    static const int reversed[NEV] = {11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    const int *orders[] = {mixed, grouped, reversed};
    ltv_batch_stats_t st;

    pipe_t p0;
    pipe_init(&p0, &t, 0);
    ltv_deltas_t *want = ltv_deltas_new();
    run_batch(&p0, 1, base, NEV, &st, want);
    for (int k = 0; k < 3; k++) {
        pipe_t p;
        pipe_init(&p, &t, 0);
        ltv_deltas_t *got = ltv_deltas_new();
        run_batch(&p, 1, orders[k], NEV, &st, got);
        assert_deltas_equal(want, got);
        assert_int_equal(st.applied, 10);
        assert_int_equal(st.duplicates, 2);
        ltv_deltas_destroy(got);
        pipe_free(&p);
    }
    ltv_deltas_destroy(want);
    pipe_free(&p0);
    tracker_free(&t);
}

/* A customer touched only by visits in a batch produces no F2 delta, not
 * even a zero row, also when it has purchases from an earlier batch. */
static void test_visits_only_customer_no_f2_deltas(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    ltv_batch_stats_t st;
    pipe_t p;
    pipe_init(&p, &t, 0);

    /* c3's visits only. */
    static const int visits_c3[] = {8, 9, 10};
    run_batch(&p, 1, visits_c3, 3, &st, NULL);
    assert_int_equal(rows_of(&t, ltv_batch_deltas(p.b), F2), 0);
    assert_int_equal(nonzero_rows(t.aggs, ltv_batch_deltas(p.b), RM), 2); /* 05-01, 05-03 */
    ltv_batch_committed(p.b);

    /* c1 buys in batch 2, then only visits in batch 3. */
    static const int orders_c1[] = {0, 2};
    run_batch(&p, 2, orders_c1, 2, &st, NULL);
    /* c1 is new: 05-03 "" and 05-03 meta (o0 first, o1 second). */
    assert_int_equal(nonzero_rows(t.aggs, ltv_batch_deltas(p.b), F2), 2);
    ltv_batch_committed(p.b);
    static const int visit_c1[] = {1};
    assert_int_equal(run_batch(&p, 3, visit_c1, 1, &st, NULL), 0); /* c1 is cached */
    assert_int_equal(st.applied, 1);
    assert_int_equal(rows_of(&t, ltv_batch_deltas(p.b), F2), 0);
    assert_int_equal(D(ltv_batch_deltas(p.b), RM, "2024-05-09", "", "new_visitors"), 1);
    assert_int_equal(D(ltv_batch_deltas(p.b), RM, "2024-05-09", "", "visits"), 1);
    /* The visit does not touch c1's order rows either. */
    assert_int_equal(D(ltv_batch_deltas(p.b), RM, "2024-05-03", "", "orders"), 0);
    pipe_free(&p);
    tracker_free(&t);
}

/* Re-deliveries inside one batch count once. */
static void test_duplicates_in_same_batch_count_once(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    ltv_batch_stats_t st;
    pipe_t p;
    pipe_init(&p, &t, 0);
    /* EV[5] (p1 order) x3, EV[8] (visit w1) x2, a refund of p1 x2, c1's refund x2. */
    EV[0] = mk_purchase("c2", "rf", "p1", LTV_PT_REFUND, at(3, 0, 0), 500, NULL, NULL);
    static const int idx[] = {5, 5, 8, 0, 5, 8, 0};
    run_batch(&p, 1, idx, 7, &st, NULL);
    assert_int_equal(st.applied, 3);    /* p1, w1, the refund */
    assert_int_equal(st.duplicates, 4); /* 7 - 3 */
    ltv_deltas_t *ds = ltv_batch_deltas(p.b);
    assert_int_equal(D(ds, F2, "2024-05-01", "", "cohort_size"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "orders"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "revenue"), 1500); /* 2000 - 500, once */
    assert_int_equal(D(ds, RM, "2024-05-01", "", "visits"), 1);
    assert_int_equal(D(ds, RM, "2024-05-01", "", "visitors"), 1);
    ltv_batch_committed(p.b);

    /* The same events again in a later batch: all duplicates, no delta, nothing to write. */
    run_batch(&p, 2, idx, 7, &st, NULL);
    assert_int_equal(st.applied, 0);
    assert_int_equal(st.duplicates, 7);
    assert_int_equal(count_nonzero(ltv_batch_deltas(p.b)), 0);
    ltv_customer_t **dirty;
    assert_int_equal(ltv_batch_dirty(p.b, &dirty), 0);
    pipe_free(&p);
    tracker_free(&t);
}

/* A customer arriving on two partition numbers is counted as misrouted. */
static void test_misrouted_customer_counted(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    pipe_t p;
    pipe_init(&p, &t, 0);
    ltv_batch_begin(p.b, 1);
    *ltv_batch_add(p.b, 0) = EV[5];
    *ltv_batch_add(p.b, 1) = EV[6];
    ltv_load_t *loads;
    assert_int_equal(ltv_batch_loads(p.b, &loads), 1);
    ltv_batch_loaded(p.b);
    ltv_batch_stats_t st = {0};
    ltv_batch_apply(p.b, &st);
    assert_int_equal(st.misrouted, 1);
    assert_int_equal(st.applied, 2);
    pipe_free(&p);
    tracker_free(&t);
}

/* ---- the write-back cache ------------------------------------------------ */

static ltv_centry_t *cadd(ltv_cache_t *cache, const char *id, int32_t part) {
    ltv_centry_t *e = ltv_cache_add(cache, LTV_ENT_CUSTOMER, id, strlen(id), part);
    e->c = ltv_customer_new(LTV_ENT_CUSTOMER, id, strlen(id)); /* freed with the entry */
    return e;
}

static ltv_centry_t *cget(ltv_cache_t *cache, const char *id) {
    return ltv_cache_get(cache, LTV_ENT_CUSTOMER, id, strlen(id));
}

static void test_cache_get_add_touch(void **state) {
    (void)state;
    ltv_cache_t *cache = ltv_cache_new(10, 0);
    assert_null(cget(cache, "A"));
    ltv_centry_t *a = cadd(cache, "A", 0);
    ltv_centry_t *b = cadd(cache, "B", 1);
    assert_ptr_equal(cget(cache, "A"), a);
    assert_ptr_equal(cget(cache, "B"), b);
    assert_int_equal(a->partition, 0);
    assert_int_equal(b->partition, 1);
    assert_int_equal(a->slot, -1);
    assert_int_equal(a->idlen, 1);
    assert_memory_equal(a->id, "A", 1);
    /* Same id, other kind: another entity. */
    assert_null(ltv_cache_get(cache, LTV_ENT_VISITOR, "A", 1));
    /* Prefix / longer ids are other keys. */
    assert_null(cget(cache, "AB"));
    assert_null(ltv_cache_get(cache, LTV_ENT_CUSTOMER, "A", 0));
    assert_int_equal(ltv_cache_count(cache), 2);
    /* Most recent first: B, A; touch A: A, B. */
    assert_ptr_equal(b->next, a);
    ltv_cache_touch(cache, a);
    assert_ptr_equal(a->next, b);
    assert_null(a->prev);
    assert_null(b->next);
    ltv_cache_touch(cache, a); /* already first: no change */
    assert_ptr_equal(a->next, b);

    /* Many entries: the table grows and every entry is still found. */
    char ids[3000][8];
    for (int i = 0; i < 3000; i++) {
        snprintf(ids[i], sizeof(ids[i]), "k%d", i);
        cadd(cache, ids[i], i % 4);
    }
    assert_int_equal(ltv_cache_count(cache), 3002);
    for (int i = 0; i < 3000; i++) {
        ltv_centry_t *e = cget(cache, ids[i]);
        assert_non_null(e);
        assert_string_equal(e->c->id, ids[i]);
    }
    ltv_cache_remove(cache, cget(cache, "k7"));
    assert_null(cget(cache, "k7"));
    assert_int_equal(ltv_cache_count(cache), 3001);
    ltv_cache_clear(cache);
    assert_int_equal(ltv_cache_count(cache), 0);
    assert_null(cget(cache, "A"));
    ltv_cache_destroy(cache);
}

static void test_cache_lru_eviction_respects_max(void **state) {
    (void)state;
    ltv_cache_t *cache = ltv_cache_new(3, 0);
    /* Added A, B, C, D (batch 1 each): LRU order, most recent first, D C B A. */
    const char *ids[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        cadd(cache, ids[i], 0)->batch = 1;
    /* Touch A: A D C B. */
    ltv_cache_touch(cache, cget(cache, "A"));
    ltv_cache_evict(cache, 2);
    /* 4 > 3: the least recently used, B, goes. */
    assert_int_equal(ltv_cache_count(cache), 3);
    assert_int_equal(ltv_cache_evictions(cache), 1);
    assert_null(cget(cache, "B"));
    assert_non_null(cget(cache, "A"));
    assert_non_null(cget(cache, "C"));
    assert_non_null(cget(cache, "D"));
    /* At the maximum: nothing more goes. */
    ltv_cache_evict(cache, 2);
    assert_int_equal(ltv_cache_count(cache), 3);
    assert_int_equal(ltv_cache_evictions(cache), 1);
    ltv_cache_destroy(cache);
}

/* The byte bound: a customer that grows (a 4000-byte order id, accounted
 * after the change) pushes the cache past its budget, and the least
 * recently used entries not in the current batch go until it fits. */
static void test_cache_byte_budget_evicts_lru(void **state) {
    (void)state;
    ltv_cache_t *probe = ltv_cache_new(0, 0);
    ltv_centry_t *pe = cadd(probe, "A", 0);
    ltv_cache_account(probe, pe);
    size_t one = ltv_cache_bytes(probe); /* one small customer, as accounted */
    ltv_cache_destroy(probe);
    assert_true(one > sizeof(ltv_customer_t));

    /* Room for about four small customers. */
    ltv_cache_t *cache = ltv_cache_new(0, 4 * one + one / 2);
    const char *ids[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++) {
        ltv_centry_t *e = cadd(cache, ids[i], 0);
        e->batch = 1;
        ltv_cache_account(cache, e);
    }
    ltv_cache_evict(cache, 2);
    assert_int_equal(ltv_cache_count(cache), 4); /* D C B A fit */
    /* D (batch 2) takes an order with a 4000-byte id: over budget. */
    ltv_centry_t *d = cget(cache, "D");
    char big[4001];
    memset(big, 'x', 4000);
    big[4000] = '\0';
    ltv_order_t o = {.order_id = ltv_strdup(big), .ts = 1, .amount = 100, .seen = 1};
    ltv_customer_load_order(d->c, &o);
    d->batch = 2;
    ltv_cache_account(cache, d);
    assert_true(ltv_cache_bytes(cache) >= 4 * one + 4000);
    ltv_cache_evict(cache, 2);
    /* A, B, C (least recently used first) all go; D is current. */
    assert_int_equal(ltv_cache_count(cache), 1);
    assert_int_equal(ltv_cache_evictions(cache), 3);
    assert_non_null(cget(cache, "D"));
    ltv_cache_destroy(cache);
}

/* A batch that touches more customers than the maximum keeps them all while
 * it is current; the next batch's eviction brings the cache back to the
 * maximum, least recently used first. */
static void test_cache_never_evicts_current_batch(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    pipe_t p;
    pipe_init(&p, &t, 2);
    ltv_batch_stats_t st;
    static const int all[NEV] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11};
    run_batch(&p, 1, all, NEV, &st, NULL); /* 4 entities, max 2 */
    ltv_batch_committed(p.b);
    ltv_cache_evict(p.cache, 1); /* all four touched in batch 1 */
    assert_int_equal(ltv_cache_count(p.cache), 4);
    assert_int_equal(ltv_cache_evictions(p.cache), 0);

    /* Batch 2 touches c1 only: after it, c1 is the most recent. */
    static const int c1[] = {1};
    run_batch(&p, 2, c1, 1, &st, NULL);
    ltv_batch_committed(p.b);
    ltv_cache_evict(p.cache, 2); /* c1 is current; the 3 others are not */
    assert_int_equal(ltv_cache_count(p.cache), 2);
    assert_int_equal(ltv_cache_evictions(p.cache), 2);
    /* Batch 1 touched its slots in order c1, c2, c3, visitor (each to the
     * front): visitor c3 c2 c1; batch 2 moved c1 first: c1 visitor c3 c2.
     * The two least recently used, c2 and c3, went. */
    assert_non_null(cget(p.cache, "c1"));
    assert_non_null(ltv_cache_get(p.cache, LTV_ENT_VISITOR, "anon-1", 6));
    assert_null(cget(p.cache, "c2"));
    assert_null(cget(p.cache, "c3"));

    /* Batch 3, as the stage runs it: evict for the new batch, then load.
     * c2 was evicted, so it must be loaded again. */
    ltv_cache_evict(p.cache, 3);
    assert_int_equal(ltv_cache_count(p.cache), 2);
    static const int c2[] = {7};
    assert_int_equal(run_batch(&p, 3, c2, 1, &st, NULL), 1);
    assert_int_equal(ltv_cache_count(p.cache), 3);
    pipe_free(&p);
    tracker_free(&t);
}

/* The header's contract: least recently used entries NOT touched in the
 * current batch are evicted until the cache holds at most its maximum.
 * BUG (low severity, see report): ltv_cache_evict stops at the first
 * current-batch entry at the LRU tail instead of skipping it, so the cache
 * can stay above its maximum although evictable entries exist. */
static void test_cache_evict_skips_current_entry_at_tail(void **state) {
    (void)state;
    ltv_cache_t *cache = ltv_cache_new(2, 0);
    /* A, B, C, D added in batch 1: most recent first D C B A. */
    const char *ids[] = {"A", "B", "C", "D"};
    for (int i = 0; i < 4; i++)
        cadd(cache, ids[i], 0)->batch = 1;
    /* A (the LRU tail) is touched by batch 7 without moving (as ltv_batch_loads does). */
    cget(cache, "A")->batch = 7;
    ltv_cache_evict(cache, 7);
    int has_a = cget(cache, "A") != NULL, has_b = cget(cache, "B") != NULL,
        has_c = cget(cache, "C") != NULL, has_d = cget(cache, "D") != NULL;
    size_t count = ltv_cache_count(cache);
    ltv_cache_destroy(cache); /* before asserting: the known failure does not leak */
    assert_true(has_a); /* never evicted: current */
    /* B and C, the least recently used of the others, go: A and D remain. */
    assert_int_equal(count, 2);
    assert_false(has_b);
    assert_false(has_c);
    assert_true(has_d);
}

static void test_cache_drop_partition_only_that_partition(void **state) {
    (void)state;
    ltv_cache_t *cache = ltv_cache_new(0, 0); /* 0: unbounded */
    cadd(cache, "A", 0);
    cadd(cache, "B", 1);
    cadd(cache, "C", 0);
    cadd(cache, "D", 2);
    cadd(cache, "E", 0);
    ltv_cache_drop_partition(cache, 0);
    assert_int_equal(ltv_cache_count(cache), 2);
    assert_null(cget(cache, "A"));
    assert_null(cget(cache, "C"));
    assert_null(cget(cache, "E"));
    assert_non_null(cget(cache, "B"));
    assert_non_null(cget(cache, "D"));
    /* The LRU list is intact: D (newer) then B. */
    assert_ptr_equal(cget(cache, "D")->next, cget(cache, "B"));
    assert_null(cget(cache, "B")->next);
    ltv_cache_drop_partition(cache, 9); /* none: nothing happens */
    assert_int_equal(ltv_cache_count(cache), 2);
    /* Dropping is not eviction. */
    assert_int_equal(ltv_cache_evictions(cache), 0);
    ltv_cache_drop_partition(cache, 1);
    ltv_cache_drop_partition(cache, 2);
    assert_int_equal(ltv_cache_count(cache), 0);
    ltv_cache_destroy(cache);
}

/* After a partition is dropped, its customers are loaded again in the next
 * batch (Redis, not the cache, is the truth). */
static void test_batch_reloads_after_drop_partition(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    pipe_t p;
    pipe_init(&p, &t, 0);
    ltv_batch_stats_t st;
    static const int c2[] = {5};
    assert_int_equal(run_batch(&p, 1, c2, 1, &st, NULL), 1);
    ltv_batch_committed(p.b);
    static const int c2b[] = {6};
    assert_int_equal(run_batch(&p, 2, c2b, 1, &st, NULL), 0); /* cached */
    ltv_batch_committed(p.b);
    ltv_cache_drop_partition(p.cache, 0);
    assert_int_equal(ltv_cache_count(p.cache), 0);
    static const int c2c[] = {7};
    assert_int_equal(run_batch(&p, 3, c2c, 1, &st, NULL), 1); /* loaded again */
    pipe_free(&p);
    tracker_free(&t);
}

/* Begins batch seq and adds events idx[0..n) as the poll does: each
 * counted against batch.max.uncached as it is added. */
static void add_noting(pipe_t *p, uint32_t seq, const int *idx, int n) {
    ltv_batch_begin(p->b, seq);
    assert_int_equal(ltv_batch_uncached(p->b), 0);
    for (int i = 0; i < n; i++) {
        *ltv_batch_add(p->b, 0) = EV[idx[i]];
        ltv_batch_note_uncached(p->b, &EV[idx[i]]);
    }
}

/* The batch's bound on new customers (batch.max.uncached) counts events
 * whose customer or visitor the cache does not hold when they are added:
 * every event of a first batch, then only those of entities not seen. */
static void test_uncached_events_counted(void **state) {
    (void)state;
    tracker_t t;
    tracker_init(&t, NULL, NULL);
    make_events();
    pipe_t p;
    pipe_init(&p, &t, 0);
    ltv_batch_stats_t st;
    /* c1 twice, c2 once, c3 twice: 5 events, none cached yet. */
    static const int first[] = {0, 1, 5, 8, 9};
    add_noting(&p, 1, first, 5);
    assert_int_equal(ltv_batch_uncached(p.b), 5);
    assert_int_equal(run_batch(&p, 1, first, 5, &st, NULL), 3); /* c1, c2, c3 loaded */
    ltv_batch_committed(p.b);
    /* Next batch: c1, c2 and c3 cached (c3's visit found by its customer
     * id, not its visitor id), the anonymous visitor not. */
    static const int second[] = {3, 6, 11, 10, 7};
    add_noting(&p, 2, second, 5);
    assert_int_equal(ltv_batch_uncached(p.b), 1);
    pipe_free(&p);
    tracker_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_batch_hand_checked),
        cmocka_unit_test(test_split_batches_sum_to_one_batch),
        cmocka_unit_test(test_event_order_within_batch_does_not_matter),
        cmocka_unit_test(test_visits_only_customer_no_f2_deltas),
        cmocka_unit_test(test_duplicates_in_same_batch_count_once),
        cmocka_unit_test(test_misrouted_customer_counted),
        cmocka_unit_test(test_cache_get_add_touch),
        cmocka_unit_test(test_cache_lru_eviction_respects_max),
        cmocka_unit_test(test_cache_byte_budget_evicts_lru),
        cmocka_unit_test(test_cache_never_evicts_current_batch),
        cmocka_unit_test(test_cache_drop_partition_only_that_partition),
        cmocka_unit_test(test_batch_reloads_after_drop_partition),
        cmocka_unit_test(test_cache_evict_skips_current_entry_at_tail),
        cmocka_unit_test(test_uncached_events_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
