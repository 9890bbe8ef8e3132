/*
 * Emission: a commit's rows (aggregate rows read back in its transaction,
 * customers whose RFM row changed) are rendered into reusable buffers and
 * produced in one go under the batch's token; the emitter hands the token
 * back once all are delivered, and the next load round trip clears it from
 * the emission queue.
 */
#include "stage_int.h"
#include "customer_rfm.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Items kept between batches: enough for a steady-state batch. A recency
 * tick can need far more for one batch, and keeping them all would hold
 * their memory for the rest of the run. */
#define EMIT_KEEP_ITEMS 8192

ltv_out_t *stage_emit_out(ltv_stage_t *st) {
    emitbuf_t *eb = &st->eb;
    if (!eb->out_ready) {
        ltv_out_init(&eb->out);
        ltv_emit_rec_init(&eb->rec);
        /* A batch's rows take a few hundred bytes each, tens of thousands
         * of rows in a busy batch: big chunks, allocated once. */
        ltv_arena_init(&eb->bytes, 1 << 20);
        eb->out_ready = 1;
    }
    ltv_out_reset(&eb->out);
    return &eb->out;
}

/* A row is encoded into the scratch record, then its bytes are copied into
 * the batch's arena, where they stay put until the batch is sent: one
 * bump allocation per piece instead of buffers of its own. */
void stage_emit_add(ltv_stage_t *st, const char *topic, const char *member, size_t mlen) {
    emitbuf_t *eb = &st->eb;
    if (!eb->out_ready)
        stage_emit_out(st);
    if (eb->n == eb->cap) {
        eb->cap = eb->cap ? eb->cap * 2 : 256;
        eb->items = ltv_realloc(eb->items, sizeof(*eb->items) * (size_t)eb->cap);
    }
    ltv_emit_item_t *it = &eb->items[eb->n++];
    memset(it, 0, sizeof(*it));
    it->member = ltv_arena_str(&eb->bytes, member, mlen).p;
    if (!topic)
        return; /* a member that only travels with the batch */
    char err[512];
    if (ltv_emitter_encode(st->em, topic, &eb->out, &eb->rec, it, err, sizeof(err)))
        ltv_err("encoding a row for %s: %s", topic, err);
    it->key = ltv_arena_str(&eb->bytes, it->key, it->keylen).p;
    it->val = ltv_arena_str(&eb->bytes, it->val, it->vallen).p;
    it->hdr_val = ltv_arena_str(&eb->bytes, it->hdr_val, it->hdr_len).p;
}

void stage_emit_row(ltv_stage_t *st, const ltv_row_t *row, int64_t watermark) {
    ltv_buf_t rid;
    ltv_buf_init(&rid);
    ltv_rowid_format(&row->id, &rid);
    ltv_emit_info_t info = {watermark};
    row->id.agg->cls->render(row->id.agg, row, &info, stage_emit_out(st));
    stage_emit_add(st, row->id.agg->topic, rid.p, rid.n);
    ltv_buf_free(&rid);
}

void stage_emit_customer(ltv_stage_t *st, const ltv_customer_t *c) {
    char m[512];
    int n = snprintf(m, sizeof(m), "c|%s", c->id);
    /* The watermark stored with this version of the row; a customer
     * written before it was stored shows the clock. */
    ltv_emit_info_t info = {c->has_rfm_wm ? c->rfm_wm : st->clock};
    ltv_customer_rfm_render(st->aggs, c, &info, st->conf->tz_offset_ms, stage_emit_out(st));
    stage_emit_add(st, st->conf->topic_customer_rfm, m,
                   (size_t)(n < (int)sizeof(m) ? n : (int)sizeof(m) - 1));
}

static void emit_clear(emitbuf_t *eb) {
    eb->n = 0;
    if (eb->out_ready)
        ltv_arena_reset(&eb->bytes);
    if (eb->cap > EMIT_KEEP_ITEMS) {
        eb->cap = EMIT_KEEP_ITEMS;
        eb->items = ltv_realloc(eb->items, sizeof(*eb->items) * (size_t)eb->cap);
    }
}

void stage_emit_send(ltv_stage_t *st, const char *token) {
    emitbuf_t *eb = &st->eb;
    for (int i = 0; i < eb->n; i++)
        st->stats.rows_emitted += eb->items[i].topic != NULL;
    char err[512];
    if (eb->n && ltv_emitter_send(st->em, token, eb->items, eb->n, err, sizeof(err)))
        ltv_err("emitting rows: %s (they stay queued and are re-emitted)", err);
    emit_clear(eb); /* the producer copied what it keeps */
}

void stage_emit_discard(ltv_stage_t *st) { emit_clear(&st->eb); }

void stage_emit_free(ltv_stage_t *st) {
    emitbuf_t *eb = &st->eb;
    if (eb->out_ready) {
        ltv_out_free(&eb->out);
        ltv_emit_rec_free(&eb->rec);
        ltv_arena_free(&eb->bytes);
    }
    free(eb->items);
    memset(eb, 0, sizeof(*eb));
}

void stage_reemit(ltv_stage_t *st, const char *token, char *const *members, int n) {
    /* Rows go out as they were emitted: with the watermark the store
     * recorded for their current version, so a re-emission is the same
     * record as the first. Rows stored before watermarks were recorded
     * show the shared clock at least: an instance that has just started,
     * or whose partitions hold its own clock back, must not show an older
     * watermark than another instance already showed. */
    stage_clock_read(st);
    char err[512];
    int unread = 0;
    stage_lc_reemit(st, members, n, &unread);
    for (int i = 0; i < n; i++) {
        const char *member = members[i];
        if (!strncmp(member, "t|", 2) || !strncmp(member, "L|", 2))
            continue; /* lifecycle triggers: stage_lc_reemit */
        if (!strncmp(member, "c|", 2)) {
            ltv_customer_t *c = NULL;
            if (ltv_store_get_customer(st->store, LTV_ENT_CUSTOMER, member + 2, &c, err,
                                       sizeof(err)) != LTV_STORE_OK) {
                st->stats.redis_errors++;
                ltv_warn("re-emit %s: %s", member, err);
                unread++;
                continue;
            }
            if (c) {
                stage_emit_customer(st, c);
                ltv_customer_destroy(c);
            }
            continue;
        }
        ltv_row_t row;
        memset(&row, 0, sizeof(row));
        if (ltv_rowid_parse(st->aggs, member, strlen(member), &row.id)) {
            ltv_warn("emission queue entry %s names no known row; left alone", member);
            continue;
        }
        if (ltv_store_read_row(st->store, &row, err, sizeof(err)) != LTV_STORE_OK) {
            st->stats.redis_errors++;
            ltv_warn("re-emit %s: %s", member, err);
            unread++;
            continue;
        }
        stage_emit_row(st, &row, row.has_wm ? row.wm : st->clock);
    }
    /* A row that could not be read back (Redis failing) is not emitted:
     * the others then go out under no token, so their delivery does not
     * clear the queue entry, which still names the missing row; the next
     * start emits it. */
    stage_emit_send(st, unread ? "" : token);
}

/* Rows that were committed but whose delivery was never confirmed (the
 * previous process died first) are emitted again with their current
 * values. */
void stage_reemit_queue(ltv_stage_t *st) {
    char **members, **tokens;
    int n;
    char err[512];
    if (ltv_store_read_emitq(st->store, &members, &tokens, &n, err, sizeof(err)) !=
        LTV_STORE_OK) {
        st->stats.redis_errors++;
        ltv_warn("reading the emission queue: %s", err);
        return;
    }
    if (n)
        ltv_info("re-emitting %d rows committed before the last stop", n);
    /* Members of one queue entry are consecutive: re-emit each entry as one
     * batch, so its acknowledgement clears it only when all are delivered. */
    for (int i = 0; i < n;) {
        int j = i;
        while (j < n && !strcmp(tokens[j], tokens[i]))
            j++;
        stage_reemit(st, tokens[i], members + i, j - i);
        i = j;
    }
    for (int i = 0; i < n; i++) {
        free(members[i]);
        free(tokens[i]);
    }
    free(members);
    free(tokens);
}

int stage_take_acks(ltv_stage_t *st, char ***tokens_out) {
    ltv_emitter_poll(st->em, 0);
    ltv_ack_t *acks;
    int n = ltv_emitter_take_acks(st->em, &acks);
    char **tokens = ltv_calloc((size_t)(n ? n : 1), sizeof(char *));
    int nt = 0;
    for (int i = 0; i < n; i++) {
        if (acks[i].failed && st->emit_closed) {
            /* Purged at shutdown: the entry stays queued in Redis and the
             * next start emits it. Emitting it again now would wait for
             * brokers that did not answer within the shutdown's budget
             * (reading the lifecycle topic back alone takes 30 s), after
             * it; the close's revocation flushes, and got here. */
            continue;
        }
        if (acks[i].failed) {
            /* Re-emission reads the rows back from Redis: with a commit in
             * flight, the connection's next replies are the commit's, and
             * the rows were read from them (zeroed rows emitted, the commit
             * taken for failed). The poll above can bring a failure
             * stage_flush did not see coming, so the commit completes
             * first. Found by tests/it_broker_faults.c (Produce errors on
             * the output topics). */
            if (st->inflight)
                stage_complete(st);
            /* Emit them again: their queue entry is still there. */
            stage_reemit(st, acks[i].token, acks[i].members, acks[i].nmembers);
            continue;
        }
        tokens[nt++] = acks[i].token;
        acks[i].token = NULL; /* now owned by tokens */
    }
    ltv_acks_free(acks, n);
    *tokens_out = tokens;
    return nt;
}
