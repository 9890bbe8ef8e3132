#include "store.h"
#include "lifecycle.h"
#include "rfm.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <hiredis/hiredis.h>

#define LAYOUT_VERSION "2"

struct ltv_store_s {
    const ltv_conf_t *conf;
    ltv_aggs_t *aggs;
    redisContext *rc;
    ltv_buf_t out;  /* RESP of the pipeline being built */
    ltv_buf_t tmp;
    ltv_buf_t key;
    int ncmd;       /* commands in `out` */
    uint64_t commands;
    char *ns;
    /* A commit sent but whose replies are not read yet. */
    int c_pending, c_queued, c_nrows, c_caprows, c_finalize_at, c_rfm_at;
    int finalize_more; /* the last commit finalized as many as allowed */
    ltv_row_t *c_rows;
    int *c_readback;
    /* Lifecycle timer polls of the commit in flight: partition and the EXEC
     * index of its first reply; then their results, until taken. */
    int32_t *c_lcq_part;
    int *c_lcq_at;
    int c_nlcq;
    ltv_lc_poll_t *lc_polls;
    int nlc_polls;
    /* The loads sent, grouped by bucket: l_idx lists load indexes group
     * after group, l_grp the size of each of the l_ngrp groups. */
    int *l_idx, *l_grp, l_ngrp, l_cap;
    ltv_buf_t field;
    int existing_only; /* connect fails instead of creating the namespace */
};

/* ---- RESP building ---------------------------------------------------------
 * Commands are written in RESP straight into one buffer and handed to
 * hiredis in one piece: formatting each command through hiredis's argv API
 * would allocate per command, and a batch sends thousands. */

static void resp_hdr(ltv_buf_t *b, char t, int64_t n) {
    ltv_buf_putc(b, t);
    ltv_buf_put_i64(b, n);
    ltv_buf_append(b, "\r\n", 2);
}

static void resp_cmd(ltv_store_t *st, int argc) {
    resp_hdr(&st->out, '*', argc);
    st->ncmd++;
}

static void resp_arg(ltv_buf_t *b, const char *p, size_t n) {
    resp_hdr(b, '$', (int64_t)n);
    ltv_buf_append(b, p, n);
    ltv_buf_append(b, "\r\n", 2);
}

static void resp_args(ltv_buf_t *b, const char *s) { resp_arg(b, s, strlen(s)); }

static void resp_argi(ltv_buf_t *b, int64_t v) {
    char tmp[LTV_I64_MAX_LEN];
    resp_arg(b, tmp, ltv_fmt_i64(v, tmp));
}

/* ---- keys ------------------------------------------------------------------ */

/* Customers are spread over LTV_CUSTOMER_BUCKETS hashes by a hash of their
 * id, one field per customer holding its compact value (customer_codec.c):
 * a batch reads its customers with one HMGET per bucket and writes them
 * with one HSET per bucket. Redis spends about 2 µs per command but a
 * fraction of that per field, so this, not the bytes, is what a batch of
 * thousands of customers costs. 256 buckets keep a command per bucket worth
 * its overhead at batch sizes of a few thousand customers, and the hashes
 * small enough (4k fields at 1M customers) to rehash incrementally without
 * a pause. The bucket function is part of the layout (LAYOUT_VERSION). */
int ltv_store_customer_bucket(const char *id, size_t idlen) {
    return (int)(ltv_hash(id, idlen) % LTV_CUSTOMER_BUCKETS);
}

void ltv_store_customer_loc(const char *ns, ltv_entity_t kind, const char *id, size_t idlen,
                            ltv_buf_t *key, ltv_buf_t *field) {
    if (key) {
        ltv_buf_reset(key);
        ltv_buf_printf(key, "%s:cs:%d", ns, ltv_store_customer_bucket(id, idlen));
    }
    if (field) {
        ltv_buf_reset(field);
        ltv_buf_putc(field, (char)kind); /* 'c', 'v' or 's' (ltv_entity_t) */
        ltv_buf_putc(field, ':');
        ltv_buf_append(field, id, idlen);
    }
}

/* Orders idx[0..n) by key[idx] (small non-negative keys below nkeys), stably,
 * and returns the number of distinct keys; grp[g] = size of the g-th group. */
static int group_by(const int *key, int n, int nkeys, int *idx, int *grp) {
    int *count = ltv_calloc((size_t)nkeys + 1, sizeof(int));
    for (int i = 0; i < n; i++)
        count[key[i] + 1]++;
    int ng = 0;
    for (int k = 0; k < nkeys; k++) {
        if (count[k + 1])
            grp[ng++] = count[k + 1];
        count[k + 1] += count[k];
    }
    for (int i = 0; i < n; i++)
        idx[count[key[i]]++] = i;
    free(count);
    return ng;
}

static void offset_key(const ltv_store_t *st, const char *topic, int32_t partition,
                       ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_printf(out, "%s:off:%s:%d", st->ns, topic, (int)partition);
}

static void row_key(const ltv_store_t *st, const ltv_rowid_t *id, ltv_buf_t *out) {
    ltv_buf_t rid;
    ltv_buf_init(&rid);
    ltv_rowid_format(id, &rid);
    ltv_buf_reset(out);
    ltv_buf_printf(out, "%s:row:%s", st->ns, rid.p);
    ltv_buf_free(&rid);
}

static void emitq_key(const ltv_store_t *st, ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_printf(out, "%s:emitq", st->ns);
}

static void ns_key(const ltv_store_t *st, const char *suffix, ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_printf(out, "%s:%s", st->ns, suffix);
}

/* ---- connection ------------------------------------------------------------ */

ltv_store_t *ltv_store_new(const ltv_conf_t *conf, ltv_aggs_t *aggs) {
    ltv_store_t *st = ltv_calloc(1, sizeof(*st));
    st->conf = conf;
    st->aggs = aggs;
    st->ns = ltv_strdup(conf->namespace_);
    ltv_buf_init(&st->out);
    ltv_buf_init(&st->tmp);
    ltv_buf_init(&st->key);
    ltv_buf_init(&st->field);
    return st;
}

void ltv_store_disconnect(ltv_store_t *st) {
    if (st->rc)
        redisFree(st->rc);
    st->rc = NULL;
    /* Replies still expected are lost with the connection. */
    if (st->c_pending) {
        free(st->c_rows);
        free(st->c_readback);
        st->c_rows = NULL;
        st->c_readback = NULL;
        st->c_pending = 0;
    }
    free(st->c_lcq_part);
    free(st->c_lcq_at);
    st->c_lcq_part = NULL;
    st->c_lcq_at = NULL;
    st->c_nlcq = 0;
}

void ltv_store_destroy(ltv_store_t *st) {
    if (!st)
        return;
    ltv_store_disconnect(st);
    free(st->c_rows);
    free(st->c_readback);
    ltv_lc_polls_free(st->lc_polls, st->nlc_polls);
    ltv_buf_free(&st->out);
    ltv_buf_free(&st->tmp);
    ltv_buf_free(&st->key);
    ltv_buf_free(&st->field);
    free(st->l_idx);
    free(st->l_grp);
    free(st->ns);
    free(st);
}

int ltv_store_connected(const ltv_store_t *st) { return st->rc != NULL; }

uint64_t ltv_store_commands(const ltv_store_t *st) { return st->commands; }

static ltv_store_res_t io_fail(ltv_store_t *st, char *errstr, size_t sz, const char *what) {
    snprintf(errstr, sz, "redis %s: %s", what, st->rc && st->rc->errstr[0] ? st->rc->errstr : "connection lost");
    /* After an I/O error the connection's state (pending replies, WATCH) is
     * unknown; the only safe continuation is a fresh connection. */
    ltv_store_disconnect(st);
    return LTV_STORE_ERR;
}

/* Sends the pipeline in st->out; the caller then reads st->ncmd replies. */
static ltv_store_res_t pipeline_send(ltv_store_t *st, char *errstr, size_t sz) {
    if (!st->rc) {
        snprintf(errstr, sz, "redis: not connected");
        return LTV_STORE_ERR;
    }
    if (redisAppendFormattedCommand(st->rc, st->out.p, st->out.n) != REDIS_OK)
        return io_fail(st, errstr, sz, "write");
    /* Out to the socket now, so Redis works while we do something else
     * before reading the replies. */
    int done = 0;
    while (!done)
        if (redisBufferWrite(st->rc, &done) != REDIS_OK)
            return io_fail(st, errstr, sz, "write");
    st->commands += (uint64_t)st->ncmd;
    return LTV_STORE_OK;
}

static ltv_store_res_t get_reply(ltv_store_t *st, redisReply **r, char *errstr, size_t sz) {
    void *p = NULL;
    if (redisGetReply(st->rc, &p) != REDIS_OK || !p)
        return io_fail(st, errstr, sz, "read");
    *r = p;
    return LTV_STORE_OK;
}

static void pipeline_begin(ltv_store_t *st) {
    ltv_buf_reset(&st->out);
    st->ncmd = 0;
}

/* Reads and frees `n` replies, failing on any error reply. */
static ltv_store_res_t drain(ltv_store_t *st, int n, char *errstr, size_t sz) {
    ltv_store_res_t res = LTV_STORE_OK;
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (get_reply(st, &r, errstr, sz))
            return LTV_STORE_ERR;
        if (r->type == REDIS_REPLY_ERROR && res == LTV_STORE_OK) {
            snprintf(errstr, sz, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        }
        freeReplyObject(r);
    }
    return res;
}

redisContext *ltv_redis_open(const ltv_conf_t *conf, char *errstr, size_t errstr_size) {
    struct timeval tv = {(time_t)(conf->redis_timeout_ms / 1000),
                         (suseconds_t)(conf->redis_timeout_ms % 1000) * 1000};
    const char *host = conf->redis_host;
    redisContext *rc = host[0] == '/' ? redisConnectUnixWithTimeout(host, tv)
                                      : redisConnectWithTimeout(host, (int)conf->redis_port, tv);
    if (!rc || rc->err) {
        snprintf(errstr, errstr_size, "redis connect %s:%d: %s", host, (int)conf->redis_port,
                 rc ? rc->errstr : "cannot allocate context");
        goto err;
    }
    redisSetTimeout(rc, tv);
    redisEnableKeepAlive(rc);
    if (conf->redis_password[0])
        redisAppendCommand(rc, "AUTH %s", conf->redis_password);
    redisAppendCommand(rc, "SELECT %lld", (long long)conf->redis_db);
    for (int i = conf->redis_password[0] ? 2 : 1; i > 0; i--) {
        void *p = NULL;
        if (redisGetReply(rc, &p) != REDIS_OK || !p) {
            snprintf(errstr, errstr_size, "redis %s:%d: %s", host, (int)conf->redis_port,
                     rc->errstr[0] ? rc->errstr : "connection lost");
            goto err;
        }
        redisReply *r = p;
        int bad = r->type == REDIS_REPLY_ERROR;
        if (bad)
            snprintf(errstr, errstr_size, "redis %s:%d: %s", host, (int)conf->redis_port, r->str);
        freeReplyObject(r);
        if (bad)
            goto err;
    }
    return rc;

err:
    if (rc)
        redisFree(rc);
    return NULL;
}

void ltv_store_client_name(const char *ns, ltv_buf_t *out) {
    /* Redis takes names of the characters '!' to '~' only; others (and
     * '%') are written %XX, so every namespace has one name. */
    ltv_buf_reset(out);
    ltv_buf_puts(out, "ltvstream:");
    for (const unsigned char *p = (const unsigned char *)ns; *p; p++) {
        if (*p < '!' || *p > '~' || *p == '%')
            ltv_buf_printf(out, "%%%02X", *p);
        else
            ltv_buf_putc(out, (char)*p);
    }
}

void ltv_store_require_existing(ltv_store_t *st) { st->existing_only = 1; }

ltv_store_res_t ltv_store_connect(ltv_store_t *st, char *errstr, size_t errstr_size) {
    if (st->rc)
        return LTV_STORE_OK;
    st->rc = ltv_redis_open(st->conf, errstr, errstr_size);
    if (!st->rc)
        return LTV_STORE_ERR;

    pipeline_begin(st);
    /* The connection carries the namespace's name, so `ltvstream ns drop`
     * can see that a stage is connected to it (CLIENT LIST). */
    ltv_store_client_name(st->ns, &st->tmp);
    resp_cmd(st, 3);
    resp_args(&st->out, "CLIENT");
    resp_args(&st->out, "SETNAME");
    resp_arg(&st->out, st->tmp.p, st->tmp.n);
    /* The namespace's layout marker: written once, checked on every
     * connect, so a stage never mixes its state with another layout. It
     * also marks the namespace as existing (`ltvstream ns list`); tools
     * that only read a namespace do not create it. */
    ltv_buf_reset(&st->key);
    ltv_buf_printf(&st->key, "%s:meta", st->ns);
    if (!st->existing_only) {
        resp_cmd(st, 4);
        resp_args(&st->out, "HSETNX");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "layout");
        resp_args(&st->out, LAYOUT_VERSION);
    }
    resp_cmd(st, 3);
    resp_args(&st->out, "HGET");
    resp_arg(&st->out, st->key.p, st->key.n);
    resp_args(&st->out, "layout");
    int n = st->ncmd;
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    /* A server that refuses client names (CLIENT renamed away) is still a
     * good one: only `ns drop` loses a way to see us. */
    redisReply *r;
    if (get_reply(st, &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    if (r->type == REDIS_REPLY_ERROR)
        ltv_dbg("redis CLIENT SETNAME: %s", r->str);
    freeReplyObject(r);
    if (drain(st, n - 2, errstr, errstr_size)) {
        ltv_store_disconnect(st);
        return LTV_STORE_ERR;
    }
    if (get_reply(st, &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    int ok = r->type == REDIS_REPLY_STRING && !strcmp(r->str, LAYOUT_VERSION);
    if (!ok && r->type == REDIS_REPLY_NIL)
        snprintf(errstr, errstr_size, "namespace %s does not exist (no %s)", st->ns, st->key.p);
    else if (!ok)
        snprintf(errstr, errstr_size, "namespace %s has state layout %s, this build uses %s",
                 st->ns, r->type == REDIS_REPLY_STRING ? r->str : "?", LAYOUT_VERSION);
    freeReplyObject(r);
    if (!ok) {
        ltv_store_disconnect(st);
        return LTV_STORE_ERR;
    }
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_ping(ltv_store_t *st, char *errstr, size_t errstr_size) {
    if (st->c_pending) {
        snprintf(errstr, errstr_size, "redis ping: a commit's replies are pending");
        return LTV_STORE_ERR;
    }
    pipeline_begin(st);
    resp_cmd(st, 1);
    resp_args(&st->out, "PING");
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    return drain(st, 1, errstr, errstr_size);
}

/* ---- parsing helpers ------------------------------------------------------- */

static int parse_i64(const char *p, size_t n, int64_t *out) {
    if (!p || !n || n > 20)
        return -1;
    char tmp[24];
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(tmp, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

static int64_t reply_i64(const redisReply *r) {
    int64_t v = 0;
    if (r->type == REDIS_REPLY_INTEGER)
        return r->integer;
    if (r->type == REDIS_REPLY_STRING)
        parse_i64(r->str, r->len, &v);
    return v;
}

static int field_is(const redisReply *f, const char *name) {
    size_t l = strlen(name);
    return f->len == l && !memcmp(f->str, name, l);
}

/* A recorded watermark: "" is none (INT64_MIN). */
static int64_t parse_wm(const redisReply *v) {
    int64_t x;
    if (v->type != REDIS_REPLY_STRING || parse_i64(v->str, v->len, &x))
        return INT64_MIN;
    return x;
}

static ltv_customer_t *parse_customer(ltv_store_t *st, ltv_entity_t kind, const char *id,
                                      size_t idlen, const char *v, size_t vlen) {
    const char *seg;
    size_t seglen;
    ltv_customer_t *c = ltv_customer_decode(kind, id, idlen, v, vlen, &seg, &seglen);
    if (!c || !seglen)
        return c;
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(st->aggs);
    for (int k = 0; k < rc->nseg; k++)
        if (strlen(rc->names[k]) == seglen && !memcmp(rc->names[k], seg, seglen))
            c->rfm_seg = (int16_t)k;
    return c;
}

static int parse_row(ltv_row_t *row, const redisReply *r) {
    memset(row->v, 0, sizeof(row->v));
    row->version = 0;
    row->wm = INT64_MIN;
    row->has_wm = 0;
    if (r->type != REDIS_REPLY_ARRAY)
        return -1;
    const ltv_agg_t *a = row->id.agg;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING)
            continue;
        if (field_is(f, "version")) {
            row->version = reply_i64(v);
            continue;
        }
        if (field_is(f, "wm")) {
            row->wm = parse_wm(v);
            row->has_wm = 1;
            continue;
        }
        for (int k = 0; k < a->nfields; k++) {
            if (field_is(f, a->fields[k])) {
                row->v[k] = reply_i64(v);
                break;
            }
        }
    }
    return 0;
}

/* An EVAL's head: the script and its keys (namespace suffixes); argc
 * counts the ARGV the caller appends. */
static void resp_eval(ltv_store_t *st, const char *script, const char *const *keys, int nkeys,
                      int argc) {
    resp_cmd(st, 3 + nkeys + argc);
    resp_args(&st->out, "EVAL");
    resp_args(&st->out, script);
    resp_argi(&st->out, nkeys);
    for (int i = 0; i < nkeys; i++) {
        ns_key(st, keys[i], &st->key);
        resp_arg(&st->out, st->key.p, st->key.n);
    }
}

/* ---- offsets ----------------------------------------------------------------- */

static void add_offset_read(ltv_store_t *st, const ltv_offset_t *o) {
    offset_key(st, o->topic, o->partition, &st->key);
    resp_cmd(st, 5);
    resp_args(&st->out, "HMGET");
    resp_arg(&st->out, st->key.p, st->key.n);
    resp_args(&st->out, "next");
    resp_args(&st->out, "maxts");
    resp_args(&st->out, "rfm_day");
}

static void parse_offset3(const redisReply *r, int64_t *next, int64_t *maxts, int64_t *rfm_day) {
    *next = -1;
    *maxts = INT64_MIN;
    *rfm_day = INT64_MIN;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3)
        return;
    if (r->element[0]->type == REDIS_REPLY_STRING)
        *next = reply_i64(r->element[0]);
    if (r->element[1]->type == REDIS_REPLY_STRING)
        *maxts = reply_i64(r->element[1]);
    if (r->element[2]->type == REDIS_REPLY_STRING)
        *rfm_day = reply_i64(r->element[2]);
}

static void parse_offset(const redisReply *r, int64_t *next, int64_t *maxts) {
    int64_t d;
    parse_offset3(r, next, maxts, &d);
}

ltv_store_res_t ltv_store_read_offsets(ltv_store_t *st, ltv_offset_t *offs, int n, char *errstr,
                                       size_t errstr_size) {
    pipeline_begin(st);
    for (int i = 0; i < n; i++)
        add_offset_read(st, &offs[i]);
    if (!n)
        return LTV_STORE_OK;
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    ltv_store_res_t res = LTV_STORE_OK;
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (get_reply(st, &r, errstr, errstr_size))
            return LTV_STORE_ERR;
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        } else {
            parse_offset3(r, &offs[i].next_offset, &offs[i].max_ts, &offs[i].rfm_day);
        }
        freeReplyObject(r);
    }
    return res;
}

/* A bounded run (a backfill) stops at end offsets chosen once, when its
 * first instance is assigned the partition: pinned in `<ns>:runend` with
 * HSETNX, so a restarted or an additional instance stops at the same offset
 * instead of at a high watermark that has moved on since. */
ltv_store_res_t ltv_store_pin_ends(ltv_store_t *st, ltv_offset_t *offs, int n, char *errstr,
                                   size_t errstr_size) {
    if (!n)
        return LTV_STORE_OK;
    pipeline_begin(st);
    ltv_buf_t field;
    ltv_buf_init(&field);
    ns_key(st, "runend", &st->key);
    for (int i = 0; i < n; i++) {
        ltv_buf_reset(&field);
        ltv_buf_printf(&field, "%s:%d", offs[i].topic, (int)offs[i].partition);
        resp_cmd(st, 4);
        resp_args(&st->out, "HSETNX");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_arg(&st->out, field.p, field.n);
        resp_argi(&st->out, offs[i].next_offset);
        resp_cmd(st, 3);
        resp_args(&st->out, "HGET");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_arg(&st->out, field.p, field.n);
    }
    ltv_buf_free(&field);
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    ltv_store_res_t res = LTV_STORE_OK;
    for (int i = 0; i < 2 * n; i++) {
        redisReply *r;
        if (get_reply(st, &r, errstr, errstr_size))
            return LTV_STORE_ERR;
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        } else if (i % 2 == 1 && r->type == REDIS_REPLY_STRING) {
            offs[i / 2].next_offset = reply_i64(r);
        }
        freeReplyObject(r);
    }
    return res;
}

/* ---- load ---------------------------------------------------------------------- */

ltv_store_res_t ltv_store_load_send(ltv_store_t *st, const ltv_load_req_t *q, char *errstr,
                                    size_t errstr_size) {
    pipeline_begin(st);
    if (q->nacks) {
        /* Delivered batches leave the emission queue: their entries, and
         * those their scripts added. */
        resp_cmd(st, 2 + 3 * q->nacks);
        resp_args(&st->out, "HDEL");
        emitq_key(st, &st->key);
        resp_arg(&st->out, st->key.p, st->key.n);
        for (int i = 0; i < q->nacks; i++) {
            resp_args(&st->out, q->acks[i]);
            ltv_buf_reset(&st->key);
            ltv_buf_printf(&st->key, "%s/f", q->acks[i]);
            resp_arg(&st->out, st->key.p, st->key.n);
            ltv_buf_reset(&st->key);
            ltv_buf_printf(&st->key, "%s/r", q->acks[i]);
            resp_arg(&st->out, st->key.p, st->key.n);
        }
    }
    if (q->read_clock) {
        ns_key(st, "clock", &st->key);
        resp_cmd(st, 2);
        resp_args(&st->out, "HGETALL");
        resp_arg(&st->out, st->key.p, st->key.n);
    }
    if (q->nfence) {
        resp_cmd(st, 1 + q->nfence);
        resp_args(&st->out, "WATCH");
        for (int i = 0; i < q->nfence; i++) {
            offset_key(st, q->fence[i].topic, q->fence[i].partition, &st->key);
            resp_arg(&st->out, st->key.p, st->key.n);
        }
        for (int i = 0; i < q->nfence; i++)
            add_offset_read(st, &q->fence[i]);
    }
    if (q->nloads > st->l_cap) {
        st->l_cap = q->nloads;
        st->l_idx = ltv_realloc(st->l_idx, sizeof(int) * (size_t)st->l_cap);
        st->l_grp = ltv_realloc(st->l_grp, sizeof(int) * (size_t)st->l_cap);
    }
    st->l_ngrp = 0;
    if (q->nloads) {
        int *bucket = ltv_malloc(sizeof(int) * (size_t)q->nloads);
        for (int i = 0; i < q->nloads; i++) {
            bucket[i] = ltv_store_customer_bucket(q->loads[i].id, q->loads[i].idlen);
            q->loads[i].out = NULL;
        }
        st->l_ngrp = group_by(bucket, q->nloads, LTV_CUSTOMER_BUCKETS, st->l_idx, st->l_grp);
        free(bucket);
    }
    for (int g = 0, at = 0; g < st->l_ngrp; at += st->l_grp[g++]) {
        const ltv_load_t *first = &q->loads[st->l_idx[at]];
        ltv_store_customer_loc(st->ns, first->kind, first->id, first->idlen, &st->key, NULL);
        resp_cmd(st, 2 + st->l_grp[g]);
        resp_args(&st->out, "HMGET");
        resp_arg(&st->out, st->key.p, st->key.n);
        for (int j = 0; j < st->l_grp[g]; j++) {
            const ltv_load_t *l = &q->loads[st->l_idx[at + j]];
            ltv_store_customer_loc(st->ns, l->kind, l->id, l->idlen, NULL, &st->field);
            resp_arg(&st->out, st->field.p, st->field.n);
        }
    }
    if (!st->ncmd)
        return LTV_STORE_OK;
    return pipeline_send(st, errstr, errstr_size);
}

static ltv_store_res_t parse_clock(const redisReply *r, ltv_clockpos_t **out, int *n,
                                   int64_t *watermark, char *errstr, size_t errstr_size);

ltv_store_res_t ltv_store_load_recv(ltv_store_t *st, const ltv_load_req_t *q, int *fenced,
                                    ltv_clockpos_t **pos, int *npos, int64_t *floor_wm,
                                    char *errstr, size_t errstr_size) {
    ltv_store_res_t res = LTV_STORE_OK;
    redisReply *r;
    if (q->nacks && drain(st, 1, errstr, errstr_size))
        res = LTV_STORE_ERR;
    if (q->read_clock) {
        if (!st->rc || get_reply(st, &r, errstr, errstr_size))
            return LTV_STORE_ERR;
        if (parse_clock(r, pos, npos, floor_wm, errstr, errstr_size))
            res = LTV_STORE_ERR;
        freeReplyObject(r);
    }
    if (q->nfence) {
        if (!st->rc || drain(st, 1, errstr, errstr_size))
            res = LTV_STORE_ERR;
        for (int i = 0; i < q->nfence; i++) {
            if (!st->rc || get_reply(st, &r, errstr, errstr_size))
                return LTV_STORE_ERR;
            int64_t next, maxts;
            parse_offset(r, &next, &maxts);
            if (r->type == REDIS_REPLY_ERROR) {
                snprintf(errstr, errstr_size, "redis: %s", r->str);
                res = LTV_STORE_ERR;
            } else if (next != q->fence[i].next_offset) {
                if (fenced)
                    fenced[i] = 1;
                if (res == LTV_STORE_OK) {
                    snprintf(errstr, errstr_size,
                             "%s [%d]: stored offset is %lld, expected %lld: another instance "
                             "has processed this partition",
                             q->fence[i].topic, (int)q->fence[i].partition, (long long)next,
                             (long long)q->fence[i].next_offset);
                    res = LTV_STORE_FENCED;
                }
            }
            freeReplyObject(r);
        }
    }
    for (int g = 0, at = 0; g < st->l_ngrp; at += st->l_grp[g++]) {
        if (!st->rc || get_reply(st, &r, errstr, errstr_size)) {
            for (int k = 0; k < q->nloads; k++) {
                ltv_customer_destroy(q->loads[k].out);
                q->loads[k].out = NULL;
            }
            return LTV_STORE_ERR;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            snprintf(errstr, errstr_size, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        } else if (r->type != REDIS_REPLY_ARRAY || (int)r->elements != st->l_grp[g]) {
            snprintf(errstr, errstr_size, "redis HMGET: unexpected reply");
            res = LTV_STORE_ERR;
        }
        for (int j = 0; res == LTV_STORE_OK && j < st->l_grp[g]; j++) {
            ltv_load_t *l = &q->loads[st->l_idx[at + j]];
            const redisReply *v = r->element[j];
            if (v->type != REDIS_REPLY_STRING)
                continue; /* nil: a new customer */
            l->out = parse_customer(st, l->kind, l->id, l->idlen, v->str, v->len);
            /* Unreadable state is not a new customer: starting afresh would
             * overwrite it. Fail the batch, loudly. */
            if (!l->out) {
                snprintf(errstr, errstr_size, "%s %.*s: unreadable stored state (%zu bytes)",
                         l->kind == LTV_ENT_VISITOR ? "visitor" : "customer", (int)l->idlen,
                         l->id, v->len);
                res = LTV_STORE_ERR;
            }
        }
        freeReplyObject(r);
    }
    if (res != LTV_STORE_OK) {
        for (int i = 0; i < q->nloads; i++) {
            ltv_customer_destroy(q->loads[i].out);
            q->loads[i].out = NULL;
        }
        if (res == LTV_STORE_FENCED && st->rc) {
            pipeline_begin(st);
            resp_cmd(st, 1);
            resp_args(&st->out, "UNWATCH");
            if (pipeline_send(st, errstr, errstr_size) == LTV_STORE_OK)
                drain(st, 1, errstr, errstr_size);
        }
    }
    return res;
}

ltv_store_res_t ltv_store_load(ltv_store_t *st, const ltv_offset_t *fence, int nfence,
                               int *fenced, ltv_load_t *loads, int nloads, char *errstr,
                               size_t errstr_size) {
    ltv_load_req_t q = {.fence = fence, .nfence = nfence, .loads = loads, .nloads = nloads};
    ltv_store_res_t r = ltv_store_load_send(st, &q, errstr, errstr_size);
    if (r)
        return r;
    return ltv_store_load_recv(st, &q, fenced, NULL, NULL, NULL, errstr, errstr_size);
}

/* ---- commit -------------------------------------------------------------------- */

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* The per-partition sorted sets of customers, <ns>:<name>:<partition>: an
 * entry function says whether a changed customer's member changes, and
 * its score (INT64_MIN: removed). */
typedef int (*index_entry_fn)(const ltv_store_t *st, const ltv_customer_t *cu, int64_t *score);

/* rfmz: who bought last on which day, for the recency ticks. */
static int recency_entry(const ltv_store_t *st, const ltv_customer_t *cu, int64_t *score) {
    if (cu->kind != LTV_ENT_CUSTOMER || !(cu->dirty & (LTV_D_LAST_TS | LTV_D_N)))
        return 0;
    *score = cu->n > 0 ? ltv_day_of(cu->last_ts, st->conf->tz_offset_ms) : INT64_MIN;
    return 1;
}

/* lcz: when the customer's next lifecycle occasion falls due (lifecycle.h).
 * The score is written in the transaction that writes the customer's value,
 * and polls only read the set, so it always equals the stored lc_due: most
 * lifecycle changes (a later-day visit, an occasion settled while another
 * stays due) leave it as it is and cost Redis nothing here. */
static int lifecycle_entry(const ltv_store_t *st, const ltv_customer_t *cu, int64_t *score) {
    (void)st;
    if (!(cu->dirty & LTV_D_LIFECYCLE) || cu->lc_due == cu->lc_due_stored)
        return 0;
    *score = cu->lc_due ? cu->lc_due : INT64_MIN;
    return 1;
}

/* One ZADD and one ZREM per partition. Sorting on (partition, removal,
 * customer index) groups them; zs has room for every customer. */
static void add_index_writes(ltv_store_t *st, const ltv_commit_t *c, const char *name,
                             index_entry_fn entry, int64_t *zs) {
    int nz = 0;
    int64_t score;
    for (int i = 0; i < c->ncust; i++)
        if (entry(st, c->customers[i], &score))
            zs[nz++] = ((int64_t)c->customers[i]->partition << 33) |
                       ((int64_t)(score == INT64_MIN) << 32) | i;
    qsort(zs, (size_t)nz, sizeof(int64_t), cmp_i64);
    for (int k = 0; k < nz;) {
        int32_t part = (int32_t)(zs[k] >> 33);
        int rem = (int)((zs[k] >> 32) & 1);
        int e = k;
        while (e < nz && (zs[e] >> 32) == (zs[k] >> 32))
            e++;
        ltv_buf_reset(&st->key);
        ltv_buf_printf(&st->key, "%s:%s:%d", st->ns, name, (int)part);
        resp_cmd(st, 2 + (rem ? 1 : 2) * (e - k));
        resp_args(&st->out, rem ? "ZREM" : "ZADD");
        resp_arg(&st->out, st->key.p, st->key.n);
        for (; k < e; k++) {
            const ltv_customer_t *cu = c->customers[zs[k] & 0xFFFFFFFF];
            if (!rem) {
                entry(st, cu, &score);
                resp_argi(&st->out, score);
            }
            resp_arg(&st->out, cu->id, cu->idlen);
        }
    }
}

/* The changed customers, one HSET per bucket with each one's whole value
 * (see ltv_store_customer_bucket), and their entries in the recency and
 * lifecycle indexes. */
static void add_customer_writes(ltv_store_t *st, const ltv_commit_t *c, ltv_buf_t *scratch) {
    int n = c->ncust;
    if (!n)
        return;
    int *bucket = ltv_malloc(sizeof(int) * (size_t)n);
    int *who = ltv_malloc(sizeof(int) * (size_t)n); /* the changed customers */
    int *idx = ltv_malloc(sizeof(int) * (size_t)n);
    int *grp = ltv_malloc(sizeof(int) * (size_t)n);
    int ndirty = 0;
    for (int i = 0; i < n; i++) {
        const ltv_customer_t *cu = c->customers[i];
        if (!cu->dirty)
            continue;
        bucket[ndirty] = ltv_store_customer_bucket(cu->id, cu->idlen);
        who[ndirty++] = i;
    }
    int ng = group_by(bucket, ndirty, LTV_CUSTOMER_BUCKETS, idx, grp);
    const ltv_rfm_conf_t *rc = ltv_aggs_rfm(st->aggs);
    for (int g = 0, at = 0; g < ng; at += grp[g++]) {
        const ltv_customer_t *first = c->customers[who[idx[at]]];
        ltv_store_customer_loc(st->ns, first->kind, first->id, first->idlen, &st->key, NULL);
        resp_cmd(st, 2 + 2 * grp[g]);
        resp_args(&st->out, "HSET");
        resp_arg(&st->out, st->key.p, st->key.n);
        for (int k = 0; k < grp[g]; k++) {
            const ltv_customer_t *cu = c->customers[who[idx[at + k]]];
            ltv_store_customer_loc(st->ns, cu->kind, cu->id, cu->idlen, NULL, &st->field);
            resp_arg(&st->out, st->field.p, st->field.n);
            ltv_customer_encode(cu, cu->rfm_seg >= 0 ? rc->names[cu->rfm_seg] : NULL, scratch);
            resp_arg(&st->out, scratch->p, scratch->n);
        }
    }
    free(bucket);
    free(who);
    free(idx);
    free(grp);

    int64_t *zs = ltv_malloc(sizeof(int64_t) * (size_t)n);
    add_index_writes(st, c, "rfmz", recency_entry, zs);
    add_index_writes(st, c, "lcz", lifecycle_entry, zs);
    free(zs);
}

/* Raises the shared watermark to ours if ours is higher (never lowers it;
 * an instance whose own clock is not known yet passes "" and takes the
 * shared one, so its rows never show less than another instance's did),
 * then pops the rows whose finality milestone that watermark has reached,
 * bumps their version, queues them for emission and returns
 * {watermark, more, row id, fields, row id, fields ...}, more 1 when it
 * took as many milestones as it was allowed (ARGV[2]): others may be due,
 * and the stage commits again for them although no event comes. Every row a commit emits
 * is rendered with this one watermark: transactions run one at a time, so
 * a row's later versions never show an earlier watermark, whichever
 * instance wrote them. Atomic, so concurrent instances never both finalize
 * a row.
 *
 * It also records that watermark in field `wm` of every row the commit
 * emits (ARGV[5..]: the rows read back; the rfm script's rows, listed under
 * "<token>/r" in the emission queue; the rows finalized here), "" when
 * there is none: a row's values, version and the watermark it was emitted
 * with are then one transaction's, so a re-emission (a restart, `ltvstream
 * reemit`) renders exactly the record the live stage emitted. A row without
 * `wm` has not been emitted yet (withheld until the clock reaches it). */
static const char finalize_script[] =
    "local wms = ARGV[1]\n"
    "local wm = tonumber(wms)\n"
    "local curs = redis.call('HGET', KEYS[3], 'watermark')\n"
    "local cur = tonumber(curs)\n"
    "if not wm then\n"
    "  wm, wms = cur, curs or ''\n"
    "elseif cur and cur > wm then wm, wms = cur, curs\n"
    "else redis.call('HSET', KEYS[3], 'watermark', wms) end\n"
    "for i = 5, #ARGV do redis.call('HSET', ARGV[3] .. ARGV[i], 'wm', wms) end\n"
    "local rrows = redis.call('HGET', KEYS[2], ARGV[4] .. '/r')\n"
    "if rrows then\n"
    "  for rid in string.gmatch(rrows, '[^\\n]+') do\n"
    "    redis.call('HSET', ARGV[3] .. rid, 'wm', wms)\n"
    "  end\n"
    "end\n"
    "if not wm then return {} end\n"
    "local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', wm, 'LIMIT', 0, ARGV[2])\n"
    "local more = 0\n"
    "local lim = tonumber(ARGV[2])\n"
    "if lim > 0 and #due >= lim then more = 1 end\n"
    "local out, rids = {wms, more}, {}\n"
    "local seen = {}\n"
    "for _, m in ipairs(due) do\n"
    "  redis.call('ZREM', KEYS[1], m)\n"
    "  local rid = string.gsub(m, '#[%dv]+$', '')\n"
    "  if not seen[rid] then\n"
    "    seen[rid] = true\n"
    "    local k = ARGV[3] .. rid\n"
    "    if redis.call('EXISTS', k) == 1 then\n"
    "      redis.call('HINCRBY', k, 'version', 1)\n"
    "      redis.call('HSET', k, 'wm', wms)\n"
    "      rids[#rids + 1] = rid\n"
    "      out[#out + 1] = rid\n"
    "      out[#out + 1] = redis.call('HGETALL', k)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "if #rids > 0 then redis.call('HSET', KEYS[2], ARGV[4] .. '/f', table.concat(rids, '\\n')) end\n"
    "return out\n";

/* The rfm_segments running sums (see agg_rfm_segments.c). Adds the batch's
 * rfm_delta changes (day, segment, delta) to their day and to every running
 * sum already materialized from that day on, then extends the running sums
 * to the clock's day. Returns the changed rows like the finalize script. */
static const char rfm_script[] =
    "local meta, emitq, finalq = KEYS[1], KEYS[2], KEYS[3]\n"
    "local dpre, cpre, token = ARGV[1], ARGV[2], ARGV[4]\n"
    "local target, target_end = tonumber(ARGV[3]), ARGV[5]\n"
    "local nf = tonumber(ARGV[6])\n"
    "local fields = {}\n"
    "for i = 1, nf do fields[i] = ARGV[6 + i] end\n"
    "local function ymd(z)\n"
    "  z = z + 719468\n"
    "  local era = math.floor(z / 146097)\n"
    "  local doe = z - era * 146097\n"
    "  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524)\n"
    "    - math.floor(doe / 146096)) / 365)\n"
    "  local y = yoe + era * 400\n"
    "  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))\n"
    "  local mp = math.floor((5 * doy + 2) / 153)\n"
    "  local d = doy - math.floor((153 * mp + 2) / 5) + 1\n"
    "  local m = mp < 10 and mp + 3 or mp - 9\n"
    "  if m <= 2 then y = y + 1 end\n"
    "  return string.format('%04d-%02d-%02d', y, m, d)\n"
    "end\n"
    "local mat = tonumber(redis.call('HGET', meta, 'mat'))\n"
    "local mn = tonumber(redis.call('HGET', meta, 'min'))\n"
    "local touched = {}\n"
    "local i = 7 + nf\n"
    "while i + 2 <= #ARGV do\n"
    "  local day, f, dv = tonumber(ARGV[i]), ARGV[i + 1], tonumber(ARGV[i + 2])\n"
    "  redis.call('HINCRBY', dpre .. ymd(day) .. '|', f, dv)\n"
    "  if not mn or day < mn then mn = day end\n"
    "  if mat and day <= mat then\n"
    "    for t = day, mat do\n"
    "      redis.call('HINCRBY', cpre .. ymd(t) .. '|', f, dv)\n"
    "      touched[t] = true\n"
    "    end\n"
    "  end\n"
    "  i = i + 3\n"
    "end\n"
    "if mn then redis.call('HSET', meta, 'min', mn) end\n"
    "if target and mn then\n"
    "  if not mat then mat = mn - 1 end\n"
    "  if target > mat then\n"
    "    for t = mat + 1, target do\n"
    "      local prev = redis.call('HMGET', cpre .. ymd(t - 1) .. '|', unpack(fields))\n"
    "      local d = redis.call('HMGET', dpre .. ymd(t) .. '|', unpack(fields))\n"
    "      local args = {}\n"
    "      for k = 1, nf do\n"
    "        args[#args + 1] = fields[k]\n"
    "        args[#args + 1] = (tonumber(prev[k]) or 0) + (tonumber(d[k]) or 0)\n"
    "      end\n"
    "      redis.call('HSET', cpre .. ymd(t) .. '|', unpack(args))\n"
    "      touched[t] = true\n"
    "    end\n"
    "    redis.call('HSET', meta, 'mat', target)\n"
    "    redis.call('ZADD', finalq, target_end, 'rfm_segments|' .. ymd(target) .. '|#0')\n"
    "  end\n"
    "end\n"
    "local out, rids = {}, {}\n"
    "for t, _ in pairs(touched) do\n"
    "  local k = cpre .. ymd(t) .. '|'\n"
    "  local rid = 'rfm_segments|' .. ymd(t) .. '|'\n"
    "  redis.call('HINCRBY', k, 'version', 1)\n"
    "  rids[#rids + 1] = rid\n"
    "  out[#out + 1] = rid\n"
    "  out[#out + 1] = redis.call('HGETALL', k)\n"
    "end\n"
    "if #rids > 0 then redis.call('HSET', emitq, token .. '/r', table.concat(rids, '\\n')) end\n"
    "return out\n";

/* Appends the rows of a finalize reply ({rid, fields, rid, fields ...}). */
static void parse_row_list(ltv_store_t *st, const redisReply *r, size_t from, ltv_row_t **rows,
                           int *n, int *cap) {
    if (r->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = from; i + 1 < r->elements; i += 2) {
        const redisReply *rid = r->element[i];
        if (rid->type != REDIS_REPLY_STRING)
            continue;
        if (*n == *cap) {
            *cap = *cap ? *cap * 2 : 16;
            *rows = ltv_realloc(*rows, sizeof(**rows) * (size_t)*cap);
        }
        ltv_row_t *row = &(*rows)[*n];
        memset(row, 0, sizeof(*row));
        if (ltv_rowid_parse(st->aggs, rid->str, rid->len, &row->id))
            continue;
        parse_row(row, r->element[i + 1]);
        (*n)++;
    }
}

/* ---- lifecycle triggers and timers (lifecycle.h) -------------------------------- */

/* At most this many customers per partition come back from one poll; the
 * rest the next commit's poll finds. */
#define LC_POLL_MAX 1000

/* The batch's triggers join its emission-queue entry, with the low marks of
 * the lifecycle topic they are produced after (a re-emission reads back
 * from there what was delivered); and the namespace counts them. */
static void add_lifecycle(ltv_store_t *st, const ltv_commit_t *c, ltv_buf_t *emembers) {
    int64_t counts[LTV_TRG__N] = {0};
    for (int i = 0; i < c->nlc_members; i++) {
        if (emembers->n)
            ltv_buf_putc(emembers, '\n');
        ltv_buf_puts(emembers, c->lc_members[i]);
        int t = ltv_trigger_type_of(c->lc_members[i]);
        if (t >= 0)
            counts[t]++;
    }
    if (c->nlc_members && c->lc_low && c->lc_low[0]) {
        ltv_buf_putc(emembers, '\n');
        ltv_buf_puts(emembers, c->lc_low);
    }
    int nf = c->lc_suppressed > 0;
    for (int t = 0; t < LTV_TRG__N; t++)
        nf += counts[t] > 0;
    if (!nf)
        return;
    ns_key(st, "lifecycle", &st->key);
    for (int t = 0; t < LTV_TRG__N; t++) {
        if (!counts[t])
            continue;
        resp_cmd(st, 4);
        resp_args(&st->out, "HINCRBY");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, ltv_trigger_name(t));
        resp_argi(&st->out, counts[t]);
    }
    if (c->lc_suppressed) {
        resp_cmd(st, 4);
        resp_args(&st->out, "HINCRBY");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "suppressed");
        resp_argi(&st->out, c->lc_suppressed);
    }
}

/* After the customers' writes in the transaction, so what it scheduled is
 * seen: per polled partition, the customers due by the watermark, and the
 * first due after it (when the next poll is needed). */
static void add_lc_polls(ltv_store_t *st, const ltv_commit_t *c) {
    if (!c->nlc_polls || c->watermark == INT64_MIN)
        return;
    st->c_lcq_part = ltv_malloc(sizeof(int32_t) * (size_t)c->nlc_polls);
    st->c_lcq_at = ltv_malloc(sizeof(int) * (size_t)c->nlc_polls);
    st->c_nlcq = c->nlc_polls;
    char after[32];
    snprintf(after, sizeof(after), "(%lld", (long long)c->watermark);
    for (int i = 0; i < c->nlc_polls; i++) {
        ltv_buf_reset(&st->key);
        ltv_buf_printf(&st->key, "%s:lcz:%d", st->ns, (int)c->lc_polls[i]);
        resp_cmd(st, 7);
        resp_args(&st->out, "ZRANGEBYSCORE");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "-inf");
        resp_argi(&st->out, c->watermark);
        resp_args(&st->out, "LIMIT");
        resp_argi(&st->out, 0);
        resp_argi(&st->out, LC_POLL_MAX);
        st->c_lcq_part[i] = c->lc_polls[i];
        st->c_lcq_at[i] = st->ncmd - 2;
        resp_cmd(st, 8);
        resp_args(&st->out, "ZRANGEBYSCORE");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, after);
        resp_args(&st->out, "+inf");
        resp_args(&st->out, "WITHSCORES");
        resp_args(&st->out, "LIMIT");
        resp_argi(&st->out, 0);
        resp_argi(&st->out, 1);
    }
}

static void parse_lc_polls(ltv_store_t *st, const redisReply *r) {
    for (int i = 0; i < st->c_nlcq; i++) {
        const redisReply *due = r->element[st->c_lcq_at[i]];
        const redisReply *next = r->element[st->c_lcq_at[i] + 1];
        if (due->type != REDIS_REPLY_ARRAY || next->type != REDIS_REPLY_ARRAY)
            continue;
        st->lc_polls = ltv_realloc(st->lc_polls, sizeof(*st->lc_polls) * (size_t)(st->nlc_polls + 1));
        ltv_lc_poll_t *p = &st->lc_polls[st->nlc_polls++];
        p->partition = st->c_lcq_part[i];
        p->nids = (int)due->elements;
        p->ids = ltv_calloc(due->elements ? due->elements : 1, sizeof(char *));
        for (size_t k = 0; k < due->elements; k++)
            p->ids[k] = ltv_strndup(due->element[k]->str, due->element[k]->len);
        if (due->elements >= LC_POLL_MAX)
            p->next = INT64_MIN; /* more may be due: poll again */
        else if (next->elements >= 2)
            p->next = reply_i64(next->element[1]);
        else
            p->next = INT64_MAX;
    }
}

int ltv_store_take_lc_polls(ltv_store_t *st, ltv_lc_poll_t **out) {
    *out = st->lc_polls;
    int n = st->nlc_polls;
    st->lc_polls = NULL;
    st->nlc_polls = 0;
    return n;
}

void ltv_lc_polls_free(ltv_lc_poll_t *p, int n) {
    for (int i = 0; i < n; i++) {
        for (int k = 0; k < p[i].nids; k++)
            free(p[i].ids[k]);
        free(p[i].ids);
    }
    free(p);
}

ltv_store_res_t ltv_store_commit_send(ltv_store_t *st, const ltv_commit_t *c, char *errstr,
                                      size_t errstr_size) {
    ltv_buf_t scratch, rid;
    ltv_buf_init(&scratch);
    ltv_buf_init(&rid);

    pipeline_begin(st);
    resp_cmd(st, 1);
    resp_args(&st->out, "MULTI");
    ltv_buf_t emembers; /* this batch's emission-queue entry: members, one a line */
    ltv_buf_init(&emembers);
    add_customer_writes(st, c, &scratch);
    for (int i = 0; i < c->ncust; i++) {
        ltv_customer_t *cu = c->customers[i];
        if (cu->kind == LTV_ENT_CUSTOMER && (cu->dirty & LTV_D_RFM)) {
            /* Its customer_rfm row is emitted by this batch. */
            if (emembers.n)
                ltv_buf_putc(&emembers, '\n');
            ltv_buf_append(&emembers, "c|", 2);
            ltv_buf_append(&emembers, cu->id, cu->idlen);
        }
    }

    /* Rows: counters, version, read-back. The read-back inside the
     * transaction gives values consistent with the version. */
    const ltv_deltas_t *deltas = c->deltas;
    int nd = deltas ? ltv_deltas_count(deltas) : 0;
    int nrows = 0, caprows = nd + 16;
    int *readback = ltv_malloc(sizeof(int) * (size_t)(nd ? nd : 1)); /* EXEC index of HGETALL */
    ltv_row_t *rows = ltv_calloc((size_t)caprows, sizeof(ltv_row_t));
    int nmile = 0;
    ltv_buf_t withheld; /* finalq entries of rows the clock has not reached */
    ltv_buf_init(&withheld);
    int nwithheld = 0;
    ltv_buf_t rfmargs; /* (day, field, delta) of the internal rfm_delta rows */
    ltv_buf_init(&rfmargs);
    int nrfm = 0;
    const ltv_agg_t *rfm_delta = NULL;
    for (int i = 0; i < nd; i++) {
        const ltv_delta_row_t *dr = ltv_deltas_get(deltas, i);
        if (!ltv_delta_row_nonzero(dr))
            continue;
        if (dr->id.agg->cls->internal) {
            rfm_delta = dr->id.agg;
            for (int f = 0; f < dr->id.agg->nfields; f++) {
                if (!dr->d[f])
                    continue;
                resp_argi(&rfmargs, dr->id.day);
                resp_args(&rfmargs, dr->id.agg->fields[f]);
                resp_argi(&rfmargs, dr->d[f]);
                nrfm++;
            }
            continue;
        }
        row_key(st, &dr->id, &st->key);
        for (int f = 0; f < dr->id.agg->nfields; f++) {
            if (!dr->d[f])
                continue;
            resp_cmd(st, 4);
            resp_args(&st->out, "HINCRBY");
            resp_arg(&st->out, st->key.p, st->key.n);
            resp_args(&st->out, dr->id.agg->fields[f]);
            resp_argi(&st->out, dr->d[f]);
        }
        resp_cmd(st, 4);
        resp_args(&st->out, "HINCRBY");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "version");
        resp_argi(&st->out, 1);
        int64_t vis = dr->id.agg->cls->visible_from
                          ? dr->id.agg->cls->visible_from(dr->id.agg, &dr->id)
                          : INT64_MIN;
        if (vis != INT64_MIN && (c->watermark == INT64_MIN || vis > c->watermark)) {
            /* Withheld: the finalizer emits it when the clock gets there. */
            ltv_rowid_format(&dr->id, &rid);
            char mem[300];
            int ml = snprintf(mem, sizeof(mem), "%s#v", rid.p);
            resp_argi(&withheld, vis);
            resp_arg(&withheld, mem, (size_t)(ml < (int)sizeof(mem) ? ml : (int)sizeof(mem) - 1));
            nwithheld++;
            if (dr->id.agg->cls->milestones) {
                int64_t ms[LTV_MAX_MILESTONES];
                int k = dr->id.agg->cls->milestones(dr->id.agg, &dr->id, ms);
                for (int m = 0; m < k; m++) {
                    ml = snprintf(mem, sizeof(mem), "%s#%d", rid.p, m);
                    resp_argi(&withheld, ms[m]);
                    resp_arg(&withheld, mem,
                             (size_t)(ml < (int)sizeof(mem) ? ml : (int)sizeof(mem) - 1));
                    nwithheld++;
                }
            }
            continue;
        }
        resp_cmd(st, 2);
        resp_args(&st->out, "HGETALL");
        resp_arg(&st->out, st->key.p, st->key.n);
        rows[nrows].id = dr->id;
        readback[nrows] = st->ncmd - 2; /* index within the EXEC reply (MULTI excluded) */
        nrows++;
    }
    if (nwithheld) {
        ns_key(st, "finalq", &st->key);
        resp_cmd(st, 2 + 2 * nwithheld);
        resp_args(&st->out, "ZADD");
        resp_arg(&st->out, st->key.p, st->key.n);
        ltv_buf_append(&st->out, withheld.p, withheld.n);
    }
    ltv_buf_free(&withheld);
    ltv_buf_t shown; /* the rows read back, as finalize script arguments */
    ltv_buf_init(&shown);
    for (int i = 0; i < nrows; i++) {
        ltv_rowid_format(&rows[i].id, &scratch);
        if (emembers.n)
            ltv_buf_putc(&emembers, '\n');
        ltv_buf_append(&emembers, scratch.p, scratch.n);
        resp_arg(&shown, scratch.p, scratch.n);
    }
    add_lifecycle(st, c, &emembers);
    if (emembers.n) {
        emitq_key(st, &st->key);
        resp_cmd(st, 4);
        resp_args(&st->out, "HSET");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, c->token);
        resp_arg(&st->out, emembers.p, emembers.n);
    }
    ltv_buf_free(&emembers);
    if (nrows) {
        /* Milestones still ahead of the clock: the finalizer re-emits the
         * row when the watermark reaches each. */
        ltv_buf_t z;
        ltv_buf_init(&z);
        for (int i = 0; i < nrows; i++) {
            const ltv_agg_t *a = rows[i].id.agg;
            if (!a->cls->milestones)
                continue;
            int64_t ms[LTV_MAX_MILESTONES];
            int k = a->cls->milestones(a, &rows[i].id, ms);
            ltv_rowid_format(&rows[i].id, &rid);
            for (int m = 0; m < k; m++) {
                if (c->watermark != INT64_MIN && ms[m] <= c->watermark)
                    continue;
                char mem[300];
                int ml = snprintf(mem, sizeof(mem), "%s#%d", rid.p, m);
                resp_argi(&z, ms[m]);
                resp_arg(&z, mem, (size_t)(ml < (int)sizeof(mem) ? ml : (int)sizeof(mem) - 1));
                nmile++;
            }
        }
        if (nmile) {
            ns_key(st, "finalq", &st->key);
            resp_cmd(st, 2 + 2 * nmile);
            resp_args(&st->out, "ZADD");
            resp_arg(&st->out, st->key.p, st->key.n);
            ltv_buf_append(&st->out, z.p, z.n);
        }
        ltv_buf_free(&z);
    }
    for (int i = 0; i < c->noffsets; i++) {
        offset_key(st, c->offsets[i].topic, c->offsets[i].partition, &st->key);
        resp_cmd(st, 6);
        resp_args(&st->out, "HSET");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "next");
        resp_argi(&st->out, c->offsets[i].next_offset);
        resp_args(&st->out, "maxts");
        resp_argi(&st->out, c->offsets[i].max_ts);
    }
    if (c->nclock) {
        ns_key(st, "clock", &st->key);
        resp_cmd(st, 2 + 2 * c->nclock);
        resp_args(&st->out, "HSET");
        resp_arg(&st->out, st->key.p, st->key.n);
        for (int i = 0; i < c->nclock; i++) {
            char v[80];
            int vl = ltv_clockpos_format(&c->clock[i], v, sizeof(v));
            resp_args(&st->out, c->clock[i].name);
            resp_arg(&st->out, v, (size_t)vl);
        }
    }
    for (int i = 0; i < c->nrfm_days; i++) {
        offset_key(st, c->rfm_days[i].topic, c->rfm_days[i].partition, &st->key);
        resp_cmd(st, 4);
        resp_args(&st->out, "HSET");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_args(&st->out, "rfm_day");
        resp_argi(&st->out, c->rfm_days[i].rfm_day);
    }
    int rfm_script_at = -1;
    if (nrfm || c->clock_day != INT64_MIN) {
        const ltv_agg_t *segs = ltv_aggs_find(st->aggs, "rfm_segments");
        if (!rfm_delta)
            rfm_delta = ltv_aggs_find(st->aggs, "rfm_delta");
        static const char *const keys[] = {"rfm", "emitq", "finalq"};
        resp_eval(st, rfm_script, keys, 3, 6 + rfm_delta->nfields + 3 * nrfm);
        ns_key(st, "row:rfm_delta|", &st->key);
        resp_arg(&st->out, st->key.p, st->key.n);
        ns_key(st, "row:rfm_segments|", &st->key);
        resp_arg(&st->out, st->key.p, st->key.n);
        if (c->clock_day != INT64_MIN)
            resp_argi(&st->out, c->clock_day);
        else
            resp_args(&st->out, "none");
        resp_args(&st->out, c->token);
        resp_argi(&st->out, c->clock_day != INT64_MIN
                                ? ltv_day_start_ms(c->clock_day + 1, segs->tz_offset_ms)
                                : 0);
        resp_argi(&st->out, rfm_delta->nfields);
        for (int f = 0; f < rfm_delta->nfields; f++)
            resp_args(&st->out, rfm_delta->fields[f]);
        ltv_buf_append(&st->out, rfmargs.p, rfmargs.n);
        rfm_script_at = st->ncmd - 2;
    }
    ltv_buf_free(&rfmargs);
    static const char *const fkeys[] = {"finalq", "emitq", "clock"};
    resp_eval(st, finalize_script, fkeys, 3, 4 + nrows);
    if (c->watermark != INT64_MIN)
        resp_argi(&st->out, c->watermark);
    else
        resp_arg(&st->out, "", 0);
    resp_argi(&st->out, c->finalize_limit > 0 ? c->finalize_limit : 0);
    ns_key(st, "row:", &st->key);
    resp_arg(&st->out, st->key.p, st->key.n);
    resp_args(&st->out, c->token);
    ltv_buf_append(&st->out, shown.p, shown.n);
    ltv_buf_free(&shown);
    int finalize_at = st->ncmd - 2;
    add_lc_polls(st, c);
    resp_cmd(st, 1);
    resp_args(&st->out, "EXEC");
    int queued = st->ncmd - 2;
    ltv_buf_free(&scratch);
    ltv_buf_free(&rid);

    st->c_pending = 1;
    st->c_queued = queued;
    st->c_rows = rows;
    st->c_nrows = nrows;
    st->c_caprows = caprows;
    st->c_readback = readback;
    st->c_finalize_at = finalize_at;
    st->c_rfm_at = rfm_script_at;
    ltv_store_res_t res = pipeline_send(st, errstr, errstr_size);
    if (res != LTV_STORE_OK)
        ltv_store_disconnect(st);
    return res;
}

int ltv_store_commit_pending(const ltv_store_t *st) { return st->c_pending; }

int ltv_store_finalize_more(const ltv_store_t *st) { return st->finalize_more; }

ltv_store_res_t ltv_store_commit_recv(ltv_store_t *st, ltv_row_t **rows_out, int *nrows_out,
                                      int64_t *wm_out, char *errstr, size_t errstr_size) {
    *rows_out = NULL;
    *nrows_out = 0;
    if (wm_out)
        *wm_out = INT64_MIN;
    st->finalize_more = 0;
    if (!st->c_pending) {
        snprintf(errstr, errstr_size, "no commit in flight");
        return LTV_STORE_ERR;
    }
    int queued = st->c_queued, nrows = st->c_nrows, caprows = st->c_caprows;
    int finalize_at = st->c_finalize_at, rfm_script_at = st->c_rfm_at;
    ltv_row_t *rows = st->c_rows;
    int *readback = st->c_readback;
    st->c_pending = 0;
    st->c_rows = NULL;
    st->c_readback = NULL;

    ltv_store_res_t res = st->rc ? drain(st, 1 + queued, errstr, errstr_size) : LTV_STORE_ERR;
    redisReply *r = NULL;
    if (st->rc && get_reply(st, &r, errstr, errstr_size) == LTV_STORE_OK) {
        if (r->type == REDIS_REPLY_NIL) {
            /* WATCH fired: an offset we fenced on was written meanwhile. */
            if (res == LTV_STORE_OK) {
                snprintf(errstr, errstr_size,
                         "transaction aborted: another instance wrote this batch's offsets");
                res = LTV_STORE_FENCED;
            }
        } else if (r->type == REDIS_REPLY_ERROR) {
            if (res == LTV_STORE_OK) {
                snprintf(errstr, errstr_size, "redis EXEC: %s", r->str);
                res = LTV_STORE_ERR;
            }
        } else if (r->type == REDIS_REPLY_ARRAY && res == LTV_STORE_OK) {
            if ((int)r->elements != queued) {
                snprintf(errstr, errstr_size, "redis EXEC: %zu replies for %d commands",
                         r->elements, queued);
                res = LTV_STORE_ERR;
            }
            for (size_t k = 0; res == LTV_STORE_OK && k < r->elements; k++) {
                if (r->element[k]->type == REDIS_REPLY_ERROR) {
                    /* Redis does not roll back: a failed command inside EXEC
                     * means partial state, which only a human can judge. */
                    snprintf(errstr, errstr_size, "redis EXEC command %zu: %s", k,
                             r->element[k]->str);
                    res = LTV_STORE_ERR;
                }
            }
            for (int i = 0; res == LTV_STORE_OK && i < nrows; i++)
                parse_row(&rows[i], r->element[readback[i]]);
            if (res == LTV_STORE_OK && rfm_script_at >= 0)
                parse_row_list(st, r->element[rfm_script_at], 0, &rows, &nrows, &caprows);
            if (res == LTV_STORE_OK && finalize_at >= 0) {
                const redisReply *fr = r->element[finalize_at];
                if (wm_out && fr->type == REDIS_REPLY_ARRAY && fr->elements > 0)
                    *wm_out = reply_i64(fr->element[0]);
                st->finalize_more = fr->type == REDIS_REPLY_ARRAY && fr->elements > 1 &&
                                    reply_i64(fr->element[1]) > 0;
                parse_row_list(st, fr, 2, &rows, &nrows, &caprows);
            }
            if (res == LTV_STORE_OK)
                parse_lc_polls(st, r);
        }
        freeReplyObject(r);
    } else {
        res = LTV_STORE_ERR;
    }
    free(readback);
    free(st->c_lcq_part);
    free(st->c_lcq_at);
    st->c_lcq_part = NULL;
    st->c_lcq_at = NULL;
    st->c_nlcq = 0;
    if (res != LTV_STORE_OK) {
        free(rows);
        return res;
    }
    *rows_out = rows;
    *nrows_out = nrows;
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_commit(ltv_store_t *st, const ltv_commit_t *c, ltv_row_t **rows_out,
                                 int *nrows_out, char *errstr, size_t errstr_size) {
    *rows_out = NULL;
    *nrows_out = 0;
    ltv_store_res_t r = ltv_store_commit_send(st, c, errstr, errstr_size);
    if (r)
        return r;
    return ltv_store_commit_recv(st, rows_out, nrows_out, NULL, errstr, errstr_size);
}

ltv_store_res_t ltv_store_rfm_ranges(ltv_store_t *st, const ltv_rfm_range_t *ranges,
                                     int nranges, ltv_rfm_hit_t **hits_out, int *n_out,
                                     char *errstr, size_t errstr_size) {
    *hits_out = NULL;
    *n_out = 0;
    if (!nranges)
        return LTV_STORE_OK;
    pipeline_begin(st);
    for (int i = 0; i < nranges; i++) {
        ltv_buf_reset(&st->key);
        ltv_buf_printf(&st->key, "%s:rfmz:%d", st->ns, (int)ranges[i].partition);
        resp_cmd(st, ranges[i].limit > 0 ? 8 : 5);
        resp_args(&st->out, "ZRANGEBYSCORE");
        resp_arg(&st->out, st->key.p, st->key.n);
        resp_argi(&st->out, ranges[i].lo);
        resp_argi(&st->out, ranges[i].hi);
        resp_args(&st->out, "WITHSCORES");
        if (ranges[i].limit > 0) {
            resp_args(&st->out, "LIMIT");
            resp_argi(&st->out, 0);
            resp_argi(&st->out, ranges[i].limit);
        }
    }
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    ltv_rfm_hit_t *hits = NULL;
    int n = 0, cap = 0;
    ltv_store_res_t res = LTV_STORE_OK;
    for (int i = 0; i < nranges; i++) {
        redisReply *r;
        if (get_reply(st, &r, errstr, errstr_size)) {
            res = LTV_STORE_ERR;
            break;
        }
        if (r->type == REDIS_REPLY_ARRAY) {
            for (size_t k = 0; k + 1 < r->elements; k += 2) {
                if (n == cap) {
                    cap = cap ? cap * 2 : 64;
                    hits = ltv_realloc(hits, sizeof(*hits) * (size_t)cap);
                }
                const redisReply *sc = r->element[k + 1];
                hits[n].id = ltv_strndup(r->element[k]->str, r->element[k]->len);
                hits[n].range = i;
                hits[n].day = sc->type == REDIS_REPLY_STRING ? strtoll(sc->str, NULL, 10)
                                                             : (int64_t)sc->integer;
                n++;
            }
        } else if (r->type == REDIS_REPLY_ERROR && res == LTV_STORE_OK) {
            snprintf(errstr, errstr_size, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        }
        freeReplyObject(r);
    }
    if (res != LTV_STORE_OK) {
        for (int i = 0; i < n; i++)
            free(hits[i].id);
        free(hits);
        return res;
    }
    *hits_out = hits;
    *n_out = n;
    return LTV_STORE_OK;
}

static ltv_store_res_t parse_clock(const redisReply *r, ltv_clockpos_t **out, int *n,
                                   int64_t *watermark, char *errstr, size_t errstr_size) {
    if (out)
        *out = NULL;
    if (n)
        *n = 0;
    if (watermark)
        *watermark = INT64_MIN;
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis HGETALL clock: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        return LTV_STORE_ERR;
    }
    if (!out)
        return LTV_STORE_OK;
    int m = (int)(r->elements / 2);
    ltv_clockpos_t *p = ltv_calloc((size_t)(m ? m : 1), sizeof(*p));
    int k = 0;
    for (int i = 0; i < m; i++) {
        const redisReply *f = r->element[2 * i], *v = r->element[2 * i + 1];
        if (field_is(f, "watermark")) {
            if (watermark)
                *watermark = reply_i64(v);
            continue;
        }
        if (ltv_clockpos_parse(&p[k], v->str, (int)v->len))
            continue;
        snprintf(p[k].name, sizeof(p[k].name), "%.*s", (int)f->len, f->str);
        k++;
    }
    *out = p;
    *n = k;
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_read_clock(ltv_store_t *st, ltv_clockpos_t **out, int *n,
                                     int64_t *watermark, char *errstr, size_t errstr_size) {
    ltv_load_req_t q = {.read_clock = 1};
    ltv_store_res_t r = ltv_store_load_send(st, &q, errstr, errstr_size);
    if (r)
        return r;
    return ltv_store_load_recv(st, &q, NULL, out, n, watermark, errstr, errstr_size);
}

/* ---- emission queue ------------------------------------------------------------ */

ltv_store_res_t ltv_store_ack(ltv_store_t *st, const char *const *tokens, int n, char *errstr,
                              size_t errstr_size) {
    if (!n)
        return LTV_STORE_OK;
    /* A batch's entry, and those its scripts added (rows they finalized or
     * materialized); deleting a field that is not there is harmless. */
    pipeline_begin(st);
    resp_cmd(st, 2 + 3 * n);
    resp_args(&st->out, "HDEL");
    emitq_key(st, &st->key);
    resp_arg(&st->out, st->key.p, st->key.n);
    ltv_buf_t f;
    ltv_buf_init(&f);
    for (int i = 0; i < n; i++) {
        resp_args(&st->out, tokens[i]);
        ltv_buf_reset(&f);
        ltv_buf_printf(&f, "%s/f", tokens[i]);
        resp_arg(&st->out, f.p, f.n);
        ltv_buf_reset(&f);
        ltv_buf_printf(&f, "%s/r", tokens[i]);
        resp_arg(&st->out, f.p, f.n);
    }
    ltv_buf_free(&f);
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    return drain(st, 1, errstr, errstr_size);
}

/* Sends the one command built and reads its reply, which must be an array
 * (the caller frees it). */
static ltv_store_res_t send_for_array(ltv_store_t *st, const char *what, redisReply **out,
                                      char *errstr, size_t errstr_size) {
    redisReply *r;
    if (pipeline_send(st, errstr, errstr_size) || get_reply(st, &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    if (r->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis %s: %s", what,
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return LTV_STORE_ERR;
    }
    *out = r;
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_read_emitq(ltv_store_t *st, char ***members_out, char ***tokens_out,
                                     int *n_out, char *errstr, size_t errstr_size) {
    *members_out = NULL;
    *tokens_out = NULL;
    *n_out = 0;
    pipeline_begin(st);
    emitq_key(st, &st->key);
    resp_cmd(st, 2);
    resp_args(&st->out, "HGETALL");
    resp_arg(&st->out, st->key.p, st->key.n);
    redisReply *r;
    if (send_for_array(st, "HGETALL emitq", &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    char **members = NULL, **tokens = NULL;
    int n = 0, cap = 0;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        const char *s = v->str, *end = v->str + v->len;
        while (s < end) {
            const char *e = memchr(s, '\n', (size_t)(end - s));
            size_t l = e ? (size_t)(e - s) : (size_t)(end - s);
            if (n == cap) {
                cap = cap ? cap * 2 : 64;
                members = ltv_realloc(members, sizeof(char *) * (size_t)cap);
                tokens = ltv_realloc(tokens, sizeof(char *) * (size_t)cap);
            }
            members[n] = ltv_strndup(s, l);
            tokens[n] = ltv_strndup(f->str, f->len);
            n++;
            s = e ? e + 1 : end;
        }
    }
    freeReplyObject(r);
    *members_out = members;
    *tokens_out = tokens;
    *n_out = n;
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_read_rows(ltv_store_t *st, ltv_row_t *rows, int n, char *errstr,
                                    size_t errstr_size) {
    if (!n)
        return LTV_STORE_OK;
    pipeline_begin(st);
    for (int i = 0; i < n; i++) {
        row_key(st, &rows[i].id, &st->key);
        resp_cmd(st, 2);
        resp_args(&st->out, "HGETALL");
        resp_arg(&st->out, st->key.p, st->key.n);
    }
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    ltv_store_res_t res = LTV_STORE_OK;
    for (int i = 0; i < n; i++) {
        redisReply *r;
        if (get_reply(st, &r, errstr, errstr_size))
            return LTV_STORE_ERR;
        if (r->type == REDIS_REPLY_ERROR) {
            if (res == LTV_STORE_OK)
                snprintf(errstr, errstr_size, "redis: %s", r->str);
            res = LTV_STORE_ERR;
        } else {
            parse_row(&rows[i], r);
        }
        freeReplyObject(r);
    }
    return res;
}

ltv_store_res_t ltv_store_read_row(ltv_store_t *st, ltv_row_t *row, char *errstr,
                                   size_t errstr_size) {
    return ltv_store_read_rows(st, row, 1, errstr, errstr_size);
}

ltv_store_res_t ltv_store_get_customer(ltv_store_t *st, ltv_entity_t kind, const char *id,
                                       ltv_customer_t **out, char *errstr, size_t errstr_size) {
    ltv_load_t l = {kind, id, strlen(id), NULL};
    ltv_store_res_t r = ltv_store_load(st, NULL, 0, NULL, &l, 1, errstr, errstr_size);
    *out = l.out;
    return r;
}

/* ---- walking a namespace ---------------------------------------------------------- */

void ltv_store_match_pattern(const char *ns, ltv_buf_t *out) {
    ltv_buf_reset(out);
    for (const char *p = ns; *p; p++) {
        if (*p == '*' || *p == '?' || *p == '[' || *p == ']' || *p == '\\')
            ltv_buf_putc(out, '\\');
        ltv_buf_putc(out, *p);
    }
    ltv_buf_puts(out, ":*");
}

ltv_store_res_t ltv_store_scan(ltv_store_t *st, uint64_t *cursor, int count, char ***out,
                               int *n_out, char *errstr, size_t errstr_size) {
    *out = NULL;
    *n_out = 0;
    pipeline_begin(st);
    resp_cmd(st, 6);
    resp_args(&st->out, "SCAN");
    char cur[24];
    snprintf(cur, sizeof(cur), "%llu", (unsigned long long)*cursor);
    resp_args(&st->out, cur);
    resp_args(&st->out, "MATCH");
    ltv_store_match_pattern(st->ns, &st->tmp);
    resp_arg(&st->out, st->tmp.p, st->tmp.n);
    resp_args(&st->out, "COUNT");
    resp_argi(&st->out, count > 0 ? count : 1000);
    if (pipeline_send(st, errstr, errstr_size))
        return LTV_STORE_ERR;
    redisReply *r;
    if (get_reply(st, &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY) {
        snprintf(errstr, errstr_size, "redis SCAN: %s",
                 r->type == REDIS_REPLY_ERROR ? r->str : "unexpected reply");
        freeReplyObject(r);
        return LTV_STORE_ERR;
    }
    *cursor = strtoull(r->element[0]->str, NULL, 10);
    const redisReply *keys = r->element[1];
    size_t pre = strlen(st->ns) + 1;
    char **v = ltv_calloc(keys->elements ? keys->elements : 1, sizeof(char *));
    int n = 0;
    for (size_t i = 0; i < keys->elements; i++) {
        const redisReply *k = keys->element[i];
        if (k->type == REDIS_REPLY_STRING && k->len > pre)
            v[n++] = ltv_strndup(k->str + pre, k->len - pre);
    }
    freeReplyObject(r);
    *out = v;
    *n_out = n;
    return LTV_STORE_OK;
}

ltv_store_res_t ltv_store_bucket_ids(ltv_store_t *st, const char *bucket, ltv_entity_t kind,
                                     char ***out, int *n_out, char *errstr,
                                     size_t errstr_size) {
    *out = NULL;
    *n_out = 0;
    pipeline_begin(st);
    resp_cmd(st, 2);
    resp_args(&st->out, "HKEYS");
    ns_key(st, bucket, &st->key);
    resp_arg(&st->out, st->key.p, st->key.n);
    redisReply *r;
    if (send_for_array(st, "HKEYS", &r, errstr, errstr_size))
        return LTV_STORE_ERR;
    char **v = ltv_calloc(r->elements ? r->elements : 1, sizeof(char *));
    int n = 0;
    char want = (char)kind; /* the field prefix (ltv_store_customer_loc) */
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *f = r->element[i];
        if (f->type == REDIS_REPLY_STRING && f->len >= 2 && f->str[0] == want && f->str[1] == ':')
            v[n++] = ltv_strndup(f->str + 2, f->len - 2);
    }
    freeReplyObject(r);
    *out = v;
    *n_out = n;
    return LTV_STORE_OK;
}

ltv_key_kind_t ltv_store_key_kind(const char *s, size_t n) {
    static const struct {
        const char *text;
        int prefix;
        ltv_key_kind_t kind;
    } forms[] = {
        {"cs:", 1, LTV_KEY_CUSTOMER}, {"row:", 1, LTV_KEY_ROW},
        {"off:", 1, LTV_KEY_OFFSET},  {"rfmz:", 1, LTV_KEY_STAGE}, {"emitq", 0, LTV_KEY_STAGE},
        {"finalq", 0, LTV_KEY_STAGE}, {"clock", 0, LTV_KEY_STAGE}, {"rfm", 0, LTV_KEY_STAGE},
        {"runend", 0, LTV_KEY_STAGE}, {"lcz:", 1, LTV_KEY_STAGE}, {"lifecycle", 0, LTV_KEY_STAGE},
        {"meta", 0, LTV_KEY_META},
    };
    for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
        size_t l = strlen(forms[i].text);
        if (forms[i].prefix ? n > l && !memcmp(s, forms[i].text, l)
                            : n == l && !memcmp(s, forms[i].text, l))
            return forms[i].kind;
    }
    return LTV_KEY_UNKNOWN;
}
