/*
 * The stage's side of lifecycle triggers (aggregators/lifecycle.h): timers,
 * emission, and re-emission without duplicates.
 *
 * Timers. Each partition's customers wait in <ns>:lcz:<partition> by the
 * due time of their next occasion. A commit polls the partitions whose
 * earliest due time the watermark may have reached, inside its own
 * transaction (so it sees what it scheduled), and learns each one's next
 * due time; the next batch loads the customers found due and settles them.
 * A partition is polled again only when the watermark passes its next due
 * time, or after anything that may have changed it unseen (assignment, a
 * failed batch): lc_next[partition] holds what is known, LC_UNKNOWN when
 * nothing is. Polling inside the commit keeps the load round trip free of
 * it, so the pipelining of batches is not broken.
 *
 * Emission. A batch's triggers are queued in its emission-queue entry with
 * its rows, so a crash between commit and delivery loses none; but unlike a
 * row, a trigger must not be delivered twice. The entry also records the
 * lifecycle topic's low marks when the batch was committed (an offset per
 * partition that every record produced afterwards lands at or above: the
 * high watermarks at start, raised by each delivery). A re-emission reads
 * the topic from there and sends only the triggers not found in it (by key
 * and "occasion" header).
 */
#include "stage_int.h"
#include "log.h"
#include "rowread.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LC_UNKNOWN INT64_MIN

void stage_lc_init(ltv_stage_t *st) {
    st->lc = ltv_lifecycle_new(st->conf, ltv_aggs_rfm(st->aggs));
    ltv_batch_set_lifecycle(st->batch, st->lc);
    ltv_buf_init(&st->lc_low);
}

static void drop_due(ltv_stage_t *st) {
    ltv_lc_polls_free(st->lc_due, st->nlc_due);
    st->lc_due = NULL;
    st->nlc_due = 0;
}

void stage_lc_free(ltv_stage_t *st) {
    drop_due(st);
    free(st->lc_next);
    free(st->lc_polls);
    ltv_buf_free(&st->lc_low);
    ltv_lifecycle_destroy(st->lc);
}

static int lc_on(const ltv_stage_t *st) { return ltv_lifecycle_enabled(st->lc); }

void stage_lc_start(ltv_stage_t *st) {
    if (lc_on(st) && st->conf->lc_emit)
        ltv_emitter_track(st->em, st->conf->topic_lifecycle, 10000);
}

void stage_lc_reset(ltv_stage_t *st) {
    for (int i = 0; i < st->nlc_next; i++)
        st->lc_next[i] = LC_UNKNOWN;
    drop_due(st);
}

static int64_t *next_of(ltv_stage_t *st, int32_t partition) {
    if (partition < 0)
        return NULL;
    if (partition >= st->nlc_next) {
        int n = partition + 1;
        st->lc_next = ltv_realloc(st->lc_next, sizeof(int64_t) * (size_t)n);
        for (int i = st->nlc_next; i < n; i++)
            st->lc_next[i] = LC_UNKNOWN;
        st->nlc_next = n;
    }
    return &st->lc_next[partition];
}

/* Customers belong to the partition numbers of the purchases and visits
 * topics (ad spend is keyed by campaign). */
static int owns_customers(const part_t *p) { return p->assigned && p->kind != LTV_EV_AD_SPEND; }

static int assigned(const ltv_stage_t *st, int32_t partition) {
    for (int i = 0; i < st->nparts; i++)
        if (owns_customers(&st->parts[i]) && st->parts[i].partition == partition)
            return 1;
    return 0;
}

/* Whether partition p may have a timer due (it is polled). */
static int due_maybe(ltv_stage_t *st, int32_t p) {
    int64_t next = *next_of(st, p);
    return next == LC_UNKNOWN || next <= st->clock;
}

int stage_lc_pending(ltv_stage_t *st) {
    if (!lc_on(st) || st->clock == INT64_MIN)
        return 0;
    for (int i = 0; i < st->nlc_due; i++)
        if (st->lc_due[i].nids && assigned(st, st->lc_due[i].partition))
            return 1;
    if (st->inflight)
        return 0; /* its polls are on their way */
    for (int i = 0; i < st->nparts; i++)
        if (owns_customers(&st->parts[i]) && due_maybe(st, st->parts[i].partition))
            return 1;
    return 0;
}

void stage_lc_plan(ltv_stage_t *st) {
    for (int i = 0; i < st->nparts; i++)
        st->parts[i].lc_fence = 0;
    for (int i = 0; i < st->nlc_due; i++) {
        ltv_lc_poll_t *d = &st->lc_due[i];
        /* A partition given away since: its new owner polls it. */
        if (!d->nids || !assigned(st, d->partition))
            continue;
        for (int k = 0; k < d->nids; k++)
            ltv_batch_lc_due(st->batch, d->ids[k], strlen(d->ids[k]), d->partition);
        /* The batch writes these customers: it must own their partition. */
        for (int k = 0; k < st->nparts; k++)
            if (owns_customers(&st->parts[k]) && st->parts[k].partition == d->partition)
                st->parts[k].lc_fence = 1;
    }
    drop_due(st);
}

void stage_lc_commit(ltv_stage_t *st, ltv_commit_t *c, ltv_customer_t *const *dirty, int ndirty) {
    if (!lc_on(st))
        return;
    char *const *members;
    int n = ltv_lifecycle_fired(st->lc, &members);
    if (st->conf->lc_emit) {
        c->lc_members = (const char *const *)members;
        c->nlc_members = n;
        if (n) {
            ltv_emitter_low_marks(st->em, &st->lc_low);
            c->lc_low = st->lc_low.p;
        }
    } else {
        c->lc_suppressed = n;
        st->stats.triggers_suppressed += (uint64_t)n;
    }
    /* Polls: every assigned partition number once, when it may have a timer
     * due (decided on what was known before this batch's schedule). */
    st->nlc_polls = 0;
    if (st->clock != INT64_MIN) {
        /* At most one per part: room for all, once. */
        st->lc_polls = ltv_realloc(st->lc_polls, sizeof(int32_t) * (size_t)(st->nparts + 1));
        for (int i = 0; i < st->nparts; i++) {
            int32_t p = st->parts[i].partition;
            if (!owns_customers(&st->parts[i]) || !due_maybe(st, p))
                continue;
            int dup = 0;
            for (int k = 0; k < st->nlc_polls; k++)
                dup |= st->lc_polls[k] == p;
            if (dup)
                continue;
            st->lc_polls[st->nlc_polls++] = p;
        }
    }
    c->lc_polls = st->lc_polls;
    c->nlc_polls = st->nlc_polls;
    /* What this batch schedules can only be later than the watermark (all
     * due by then is settled), but it may be earlier than what a partition
     * not polled now expects next. */
    for (int i = 0; i < ndirty; i++) {
        const ltv_customer_t *cu = dirty[i];
        if (!(cu->dirty & LTV_D_LIFECYCLE) || !cu->lc_due)
            continue;
        int64_t *next = next_of(st, cu->partition);
        if (next && *next != LC_UNKNOWN && cu->lc_due < *next)
            *next = cu->lc_due;
    }
}

/* Renders one trigger member into the batch's emission. The member is
 * split in a copy, on the stack unless it is unusually long. */
static void emit_trigger(ltv_stage_t *st, const char *member) {
    char local[512];
    size_t n = strlen(member);
    char *copy = n < sizeof(local) ? memcpy(local, member, n + 1) : ltv_strdup(member);
    ltv_trigger_t t;
    if (ltv_trigger_decode(copy, &t)) {
        ltv_warn("emission queue entry %.60s is no readable trigger; left alone", member);
    } else {
        ltv_trigger_render(&t, st->clock, stage_emit_out(st));
        stage_emit_add(st, st->conf->topic_lifecycle, member, n);
        st->stats.triggers[t.type]++;
    }
    if (copy != local)
        free(copy);
}

void stage_lc_sent(ltv_stage_t *st) {
    if (!lc_on(st) || !st->conf->lc_emit)
        return;
    char *const *members;
    int n = ltv_lifecycle_fired(st->lc, &members);
    for (int i = 0; i < n; i++)
        emit_trigger(st, members[i]);
    /* The low marks travel with the batch: a failed delivery re-emits from
     * the members it is handed back. */
    if (n)
        stage_emit_add(st, NULL, st->lc_low.p, st->lc_low.n);
}

void stage_lc_completed(ltv_stage_t *st) {
    ltv_lc_poll_t *polls;
    int n = ltv_store_take_lc_polls(st->store, &polls);
    if (!n) {
        free(polls);
        return;
    }
    for (int i = 0; i < n; i++) {
        int64_t *next = next_of(st, polls[i].partition);
        if (next)
            *next = polls[i].next;
    }
    st->lc_due = ltv_realloc(st->lc_due, sizeof(*st->lc_due) * (size_t)(st->nlc_due + n));
    memcpy(st->lc_due + st->nlc_due, polls, sizeof(*polls) * (size_t)n);
    st->nlc_due += n;
    free(polls);
}

int stage_lc_drain(ltv_stage_t *st) {
    /* A bounded run ends with every timer due at its final watermark
     * settled, as a live run's would be by then: each round settles what
     * the previous commit's polls found. */
    for (int round = 0; round < 10000 && !(st->stop && *st->stop); round++) {
        if (stage_complete(st))
            return -1;
        if (!stage_lc_pending(st))
            return 0;
        if (stage_flush(st, 0))
            return -1;
    }
    return 0;
}

/* ---- re-emission ---------------------------------------------------------------- */

typedef struct delivered_s {
    char **ids; /* "<customer>\x1f<occasion>" */
    int n, cap;
} delivered_t;

static void delivered_msg(const rd_kafka_message_t *m, void *opaque) {
    delivered_t *d = opaque;
    rd_kafka_headers_t *hd = NULL;
    const void *v = NULL;
    size_t vn = 0;
    if (rd_kafka_message_headers(m, &hd) || rd_kafka_header_get_last(hd, "occasion", &v, &vn))
        return;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_append(&b, m->key ? m->key : "", m->key_len);
    ltv_buf_putc(&b, '\x1f');
    ltv_buf_append(&b, v, vn);
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->ids = ltv_realloc(d->ids, sizeof(char *) * (size_t)d->cap);
    }
    d->ids[d->n++] = b.p;
}

static int str_cmp(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void delivered_free(delivered_t *d) {
    for (int i = 0; i < d->n; i++)
        free(d->ids[i]);
    free(d->ids);
}

/* The triggers found in the lifecycle topic from the low marks "L|..." on
 * (NULL: from the beginning). Returns 0, or -1 if the topic could not be
 * read. */
static int read_delivered(ltv_stage_t *st, const char *low, delivered_t *d) {
    memset(d, 0, sizeof(*d));
    int64_t *from = NULL;
    int nfrom = 0;
    for (const char *s = low ? low + 2 : ""; *s;) {
        int p;
        long long off;
        int used = 0;
        if (sscanf(s, "%d:%lld%n", &p, &off, &used) != 2 || p < 0 || p > 1000000)
            break;
        if (p >= nfrom) {
            from = ltv_realloc(from, sizeof(int64_t) * (size_t)(p + 1));
            for (int k = nfrom; k <= p; k++)
                from[k] = 0;
            nfrom = p + 1;
        }
        from[p] = off;
        s += used;
        if (*s == ',')
            s++;
    }
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char err[512];
    int rc = ltv_kafka_conf_apply(st->conf, 1, kc, err, sizeof(err));
    if (rc == 0)
        rc = ltv_topic_read_from(kc, st->conf->topic_lifecycle, from, nfrom, 30000,
                                 delivered_msg, d, err, sizeof(err));
    else
        rd_kafka_conf_destroy(kc);
    free(from);
    if (rc < 0) {
        ltv_warn("reading back %s: %s", st->conf->topic_lifecycle, err);
        delivered_free(d);
        return -1;
    }
    if (d->n > 1)
        qsort(d->ids, (size_t)d->n, sizeof(char *), str_cmp);
    return 0; /* rc 1: no such topic, nothing delivered */
}

void stage_lc_reemit(ltv_stage_t *st, char *const *members, int n, int *unread) {
    const char *low = NULL;
    int ntrig = 0;
    for (int i = 0; i < n; i++) {
        if (!strncmp(members[i], "L|", 2))
            low = members[i];
        else if (!strncmp(members[i], "t|", 2))
            ntrig++;
    }
    if (!ntrig)
        return;
    if (!lc_on(st)) {
        /* No topic to send them to any more: their entry is cleared. */
        ltv_warn("%d lifecycle triggers queued before topic.lifecycle was emptied are dropped",
                 ntrig);
        stage_emit_add(st, NULL, "L|", 2);
        return;
    }
    delivered_t d;
    if (read_delivered(st, low, &d)) {
        /* Unknown whether they were delivered: not sent, the queue entry
         * stays for the next start. */
        (*unread)++;
        return;
    }
    ltv_buf_t id, occ;
    ltv_buf_init(&id);
    ltv_buf_init(&occ);
    int resent = 0;
    for (int i = 0; i < n; i++) {
        if (strncmp(members[i], "t|", 2))
            continue;
        char *copy = ltv_strdup(members[i]);
        ltv_trigger_t t;
        if (ltv_trigger_decode(copy, &t) == 0) {
            ltv_trigger_occasion(&t, &occ);
            ltv_buf_reset(&id);
            ltv_buf_printf(&id, "%s\x1f%s", t.customer, occ.p);
            const char *key = id.p;
            if (!d.n || !bsearch(&key, d.ids, (size_t)d.n, sizeof(char *), str_cmp)) {
                emit_trigger(st, members[i]);
                resent++;
            }
        }
        free(copy);
    }
    /* Also when nothing is sent again: its acknowledgement clears the entry. */
    stage_emit_add(st, NULL, low ? low : "L|", low ? strlen(low) : 2);
    if (resent)
        ltv_info("re-emitting %d of %d lifecycle triggers not found in %s", resent, ntrig,
                 st->conf->topic_lifecycle);
    ltv_buf_free(&id);
    ltv_buf_free(&occ);
    delivered_free(&d);
}
