#include "emit.h"
#include "outschema.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Delivery bookkeeping of one batch's rows. */
typedef struct batch_s {
    struct batch_s *next;
    char *token;
    char **members;
    int nmembers;
    int outstanding;
    int failed;
} batch_t;

/* A dead-letter message kept until the broker acknowledges it, so a failed
 * delivery can be re-produced instead of lost. */
typedef struct dlq_s {
    struct dlq_s *next;
    char *topic;
    void *key, *payload;
    size_t keylen, len;
    rd_kafka_headers_t *hdrs;
    int state; /* 0 in flight, 1 delivered, 2 failed */
} dlq_t;

struct ltv_emitter_s {
    const ltv_conf_t *conf;
    ltv_aggs_t *aggs;
    rd_kafka_t *rk;
    batch_t *done_head, *done_tail; /* fully delivered */
    int outstanding;
    dlq_t *dlq;                      /* every DLQ message not yet confirmed */
    ltv_out_t out;
    ltv_emit_stats_t st;
    /* Avro output: one encoder per output topic, and its schema while
     * its id is still to be registered. */
    struct {
        char *topic;
        ltv_avro_out_t *ao;
        char *schema;
        int32_t id;
    } avro[16];
    int navro;
    /* One topic whose delivered offsets are tracked (ltv_emitter_track):
     * per partition, an offset no later message can get below. */
    char *track_topic;
    int64_t *track_low;
    int ntrack;
};

/* Message opaques: the low bit tells a row from a DLQ message. */
#define IS_DLQ(p) (((uintptr_t)(p)) & 1)
#define DLQ_PTR(p) ((dlq_t *)(((uintptr_t)(p)) & ~(uintptr_t)1))

static void track_raise(ltv_emitter_t *em, int32_t partition, int64_t low) {
    if (partition >= em->ntrack) {
        int n = partition + 1;
        em->track_low = ltv_realloc(em->track_low, sizeof(int64_t) * (size_t)n);
        for (int i = em->ntrack; i < n; i++)
            em->track_low[i] = 0;
        em->ntrack = n;
    }
    if (low > em->track_low[partition])
        em->track_low[partition] = low;
}

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque) {
    ltv_emitter_t *em = opaque;
    void *mo = m->_private;
    if (IS_DLQ(mo)) {
        dlq_t *d = DLQ_PTR(mo);
        if (m->err) {
            ltv_err("dead-letter delivery to %s failed: %s; will retry", d->topic,
                    rd_kafka_err2str(m->err));
            d->state = 2;
            em->st.dlq_failed++;
        } else {
            d->state = 1;
            em->st.dlq_delivered++;
        }
        return;
    }
    batch_t *b = mo;
    if (!m->err && em->track_topic && m->partition >= 0 &&
        !strcmp(rd_kafka_topic_name(m->rkt), em->track_topic))
        track_raise(em, m->partition, m->offset + 1);
    if (m->err) {
        ltv_err("row delivery to %s failed: %s; the row stays queued for re-emission",
                rd_kafka_topic_name(m->rkt), rd_kafka_err2str(m->err));
        b->failed = 1;
        em->st.rows_failed++;
    } else {
        em->st.rows_delivered++;
    }
    em->outstanding--;
    if (--b->outstanding == 0) {
        b->next = NULL;
        if (em->done_tail)
            em->done_tail->next = b;
        else
            em->done_head = b;
        em->done_tail = b;
    }
}

int ltv_kafka_conf_apply(const ltv_conf_t *conf, int role, rd_kafka_conf_t *kc, char *errstr,
                         size_t errstr_size) {
    /* Generic properties first, so role-specific ones override them. */
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < conf->nkprops; i++) {
            const ltv_kprop_t *p = &conf->kprops[i];
            if ((pass == 0 && p->role != 0) || (pass == 1 && p->role != role))
                continue;
            char inner[256];
            if (rd_kafka_conf_set(kc, p->name, p->value, inner, sizeof(inner)) !=
                RD_KAFKA_CONF_OK) {
                snprintf(errstr, errstr_size, "%s%s: %s",
                         p->role == 0 ? "kafka." : p->role == 1 ? "kafka.consumer." : "kafka.producer.",
                         p->name, inner);
                return -1;
            }
        }
    }
    return 0;
}

ltv_emitter_t *ltv_emitter_new(const ltv_conf_t *conf, ltv_aggs_t *aggs, char *errstr,
                               size_t errstr_size) {
    ltv_emitter_t *em = ltv_calloc(1, sizeof(*em));
    em->conf = conf;
    em->aggs = aggs;
    ltv_out_init(&em->out);
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char tmp[256];
    /* Idempotence keeps each row's versions in order on its partition and
     * free of broker-side duplicates across retries. */
    rd_kafka_conf_set(kc, "enable.idempotence", "true", tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "linger.ms", "5", tmp, sizeof(tmp));
    if (ltv_kafka_conf_apply(conf, 2, kc, errstr, errstr_size)) {
        rd_kafka_conf_destroy(kc);
        goto err;
    }
    rd_kafka_conf_set_dr_msg_cb(kc, dr_cb);
    rd_kafka_conf_set_opaque(kc, em);
    em->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, tmp, sizeof(tmp));
    if (!em->rk) {
        snprintf(errstr, errstr_size, "producer: %s", tmp);
        rd_kafka_conf_destroy(kc);
        goto err;
    }
    kc = NULL; /* now owned by em->rk */
    if (conf->output_format == 1) {
        ltv_outschema_t *sch;
        int n = ltv_outschemas(aggs, conf, &sch);
        for (int i = 0; i < n && em->navro < 16; i++) {
            /* An id given in output.avro.schema.ids wins; the others come
             * from the Schema Registry (ltv_emitter_avro_set_id) before
             * anything is emitted. */
            int32_t id = ltv_schema_id_for(conf->output_schema_ids, sch[i].topic);
            if (id < 0 && !conf->registry_url[0]) {
                snprintf(errstr, errstr_size,
                         "output.format=avro: output.avro.schema.ids has no schema id for topic "
                         "%s (and no schema.registry.url is set to register one)",
                         sch[i].topic);
                ltv_outschemas_free(sch, n);
                goto err;
            }
            ltv_avro_out_t *ao = ltv_avro_out_new(sch[i].json, id, errstr, errstr_size);
            if (!ao) {
                ltv_outschemas_free(sch, n);
                goto err;
            }
            em->avro[em->navro].topic = ltv_strdup(sch[i].topic);
            em->avro[em->navro].ao = ao;
            em->avro[em->navro].schema = ltv_strdup(sch[i].json);
            em->avro[em->navro].id = id;
            em->navro++;
        }
        ltv_outschemas_free(sch, n);
    }
    return em;

err:
    ltv_emitter_destroy(em);
    return NULL;
}

static void dlq_free(dlq_t *d) {
    free(d->topic);
    free(d->key);
    free(d->payload);
    if (d->hdrs)
        rd_kafka_headers_destroy(d->hdrs);
    free(d);
}

void ltv_emitter_destroy(ltv_emitter_t *em) {
    if (!em)
        return;
    if (em->rk) {
        rd_kafka_flush(em->rk, 10000);
        rd_kafka_destroy(em->rk);
    }
    batch_t *b = em->done_head;
    while (b) {
        batch_t *nx = b->next;
        free(b->members); /* and their strings: one block */
        free(b->token);
        free(b);
        b = nx;
    }
    dlq_t *d = em->dlq;
    while (d) {
        dlq_t *nx = d->next;
        dlq_free(d);
        d = nx;
    }
    ltv_out_free(&em->out);
    for (int i = 0; i < em->navro; i++) {
        free(em->avro[i].topic);
        free(em->avro[i].schema);
        ltv_avro_out_destroy(em->avro[i].ao);
    }
    free(em->track_topic);
    free(em->track_low);
    free(em);
}

rd_kafka_t *ltv_emitter_handle(ltv_emitter_t *em) { return em->rk; }

int ltv_emitter_avro_count(const ltv_emitter_t *em) { return em->navro; }

void ltv_emitter_avro_topic(const ltv_emitter_t *em, int i, const char **topic,
                            const char **schema_json, int32_t *id) {
    *topic = em->avro[i].topic;
    *schema_json = em->avro[i].schema;
    *id = em->avro[i].id;
}

void ltv_emitter_avro_set_id(ltv_emitter_t *em, int i, int32_t id) {
    em->avro[i].id = id;
    ltv_avro_out_set_id(em->avro[i].ao, id);
}

static int produce(ltv_emitter_t *em, const char *topic, const void *key, size_t keylen,
                   const void *val, size_t len, rd_kafka_headers_t *hdrs, void *opaque,
                   char *errstr, size_t errstr_size) {
    for (;;) {
        rd_kafka_resp_err_t err = rd_kafka_producev(
            em->rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, keylen),
            RD_KAFKA_V_VALUE((void *)val, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_HEADERS(hdrs), RD_KAFKA_V_OPAQUE(opaque), RD_KAFKA_V_END);
        if (!err)
            return 0;
        if (err == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            /* Backpressure: serve delivery reports until there is room. */
            rd_kafka_poll(em->rk, 100);
            continue;
        }
        snprintf(errstr, errstr_size, "produce to %s: %s", topic, rd_kafka_err2str(err));
        return -1;
    }
}

/* The members' pointers and strings are one allocation (a batch can have
 * tens of thousands): members[i] points into the block after the array. */
static batch_t *batch_new(const char *token, const ltv_emit_item_t *items, int n) {
    batch_t *b = ltv_calloc(1, sizeof(*b));
    b->token = ltv_strdup(token);
    size_t bytes = sizeof(char *) * (size_t)(n ? n : 1);
    for (int i = 0; i < n; i++)
        bytes += strlen(items[i].member) + 1;
    b->members = ltv_malloc(bytes);
    char *p = (char *)(b->members + (n ? n : 1));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(items[i].member) + 1;
        memcpy(p, items[i].member, len);
        b->members[i] = p;
        p += len;
    }
    b->outstanding = 1; /* guard: released by batch_release */
    return b;
}

/* Releases the guard: the batch completes when its last delivery report
 * arrives, which may already have happened. */
static void batch_release(ltv_emitter_t *em, batch_t *b) {
    if (--b->outstanding == 0) {
        b->next = NULL;
        if (em->done_tail)
            em->done_tail->next = b;
        else
            em->done_head = b;
        em->done_tail = b;
    }
}

void ltv_emit_rec_init(ltv_emit_rec_t *rec) {
    ltv_buf_init(&rec->key);
    ltv_buf_init(&rec->val);
    ltv_buf_init(&rec->hdr);
}

void ltv_emit_rec_free(ltv_emit_rec_t *rec) {
    ltv_buf_free(&rec->key);
    ltv_buf_free(&rec->val);
    ltv_buf_free(&rec->hdr);
}

static int encode_value(ltv_emitter_t *em, const char *topic, const ltv_out_t *o,
                        ltv_buf_t *val, char *errstr, size_t errstr_size) {
    if (!em->navro) {
        ltv_out_json(o, val);
        return 0;
    }
    ltv_avro_out_t *ao = NULL;
    for (int i = 0; i < em->navro && !ao; i++)
        if (!strcmp(em->avro[i].topic, topic))
            ao = em->avro[i].ao;
    if (!ao) {
        snprintf(errstr, errstr_size, "no Avro encoder for topic %s", topic);
        return -1;
    }
    return ltv_avro_out_encode(ao, o, val, errstr, errstr_size) ? -1 : 0;
}

int ltv_emitter_encode(ltv_emitter_t *em, const char *topic, const ltv_out_t *o,
                       ltv_emit_rec_t *rec, ltv_emit_item_t *it, char *errstr,
                       size_t errstr_size) {
    ltv_buf_reset(&rec->key);
    ltv_buf_reset(&rec->val);
    ltv_buf_reset(&rec->hdr);
    ltv_buf_append(&rec->key, o->key.p, o->key.n);
    int rc = 0;
    if (o->tombstone) {
        it->kind = LTV_EMIT_TOMBSTONE;
    } else {
        rc = encode_value(em, topic, o, &rec->val, errstr, errstr_size);
        it->kind = rc ? LTV_EMIT_UNENCODABLE : LTV_EMIT_VALUE;
    }
    it->hdr_name = NULL;
    if (o->hdr_name) {
        it->hdr_name = o->hdr_name; /* a static name */
        ltv_buf_append(&rec->hdr, o->hdr_value.p, o->hdr_value.n);
    }
    it->topic = topic;
    it->key = rec->key.p;
    it->keylen = rec->key.n;
    it->val = rec->val.p;
    it->vallen = rec->val.n;
    it->hdr_val = rec->hdr.p;
    it->hdr_len = rec->hdr.n;
    it->tombstone_version = o->tombstone_version;
    return rc;
}

static int produce_item(ltv_emitter_t *em, batch_t *b, const ltv_emit_item_t *it, char *errstr,
                        size_t errstr_size) {
    if (it->kind == LTV_EMIT_UNENCODABLE) {
        snprintf(errstr, errstr_size, "a row for %s could not be encoded", it->topic);
        b->failed = 1;
        return -1;
    }
    rd_kafka_headers_t *h = NULL;
    if (it->kind == LTV_EMIT_TOMBSTONE) {
        /* The deletion's version, as a header (see customer_rfm.c). */
        h = rd_kafka_headers_new(1);
        char v[24];
        snprintf(v, sizeof(v), "%lld", (long long)it->tombstone_version);
        rd_kafka_header_add(h, "version", -1, v, -1);
    }
    if (it->hdr_name) {
        if (!h)
            h = rd_kafka_headers_new(1);
        rd_kafka_header_add(h, it->hdr_name, -1, it->hdr_val, (ssize_t)it->hdr_len);
    }
    b->outstanding++;
    em->outstanding++;
    if (produce(em, it->topic, it->key, it->keylen, it->kind == LTV_EMIT_VALUE ? it->val : NULL,
                it->kind == LTV_EMIT_VALUE ? it->vallen : 0, h, b, errstr, errstr_size)) {
        if (h)
            rd_kafka_headers_destroy(h);
        b->outstanding--;
        em->outstanding--;
        b->failed = 1;
        return -1;
    }
    em->st.rows_produced++;
    return 0;
}

int ltv_emitter_send(ltv_emitter_t *em, const char *token, const ltv_emit_item_t *items, int n,
                     char *errstr, size_t errstr_size) {
    if (!n)
        return 0;
    /* Every member is recorded, also after a refused produce: the failed
     * batch is re-emitted from its members, and its acknowledgement then
     * clears the whole queue entry. Stopping at the first refusal lost the
     * rest of the batch's rows (found by tests/it_broker_faults.c, Produce
     * errors on the output topics). */
    batch_t *b = batch_new(token, items, n);
    b->nmembers = n;
    for (int i = 0; i < n; i++) {
        if (b->failed || !items[i].topic)
            continue;
        produce_item(em, b, &items[i], errstr, errstr_size);
    }
    int failed = b->failed;
    batch_release(em, b);
    return failed ? -1 : 0;
}

static rd_kafka_headers_t *dlq_headers(const rd_kafka_message_t *src, const char *reason,
                                       const char *detail) {
    rd_kafka_headers_t *h = rd_kafka_headers_new(6);
    char tmp[32];
    rd_kafka_header_add(h, "ltv.reason", -1, reason, -1);
    rd_kafka_header_add(h, "ltv.detail", -1, detail ? detail : "", -1);
    rd_kafka_header_add(h, "ltv.source.topic", -1, rd_kafka_topic_name(src->rkt), -1);
    snprintf(tmp, sizeof(tmp), "%d", (int)src->partition);
    rd_kafka_header_add(h, "ltv.source.partition", -1, tmp, -1);
    snprintf(tmp, sizeof(tmp), "%lld", (long long)src->offset);
    rd_kafka_header_add(h, "ltv.source.offset", -1, tmp, -1);
    snprintf(tmp, sizeof(tmp), "%lld", (long long)ltv_now_ms());
    rd_kafka_header_add(h, "ltv.time", -1, tmp, -1);
    return h;
}

static int dlq_send(ltv_emitter_t *em, dlq_t *d, char *errstr, size_t errstr_size) {
    d->state = 0;
    /* producev takes ownership of the headers on success; keep our copy for
     * a retry. */
    rd_kafka_headers_t *h = rd_kafka_headers_copy(d->hdrs);
    if (produce(em, d->topic, d->key, d->keylen, d->payload, d->len, h,
                (void *)((uintptr_t)d | 1), errstr, errstr_size)) {
        rd_kafka_headers_destroy(h);
        d->state = 2;
        return -1;
    }
    em->st.dlq_produced++;
    return 0;
}

int ltv_emitter_dlq(ltv_emitter_t *em, const rd_kafka_message_t *src, const char *reason,
                    const char *detail, char *errstr, size_t errstr_size) {
    dlq_t *d = ltv_calloc(1, sizeof(*d));
    d->topic = ltv_strdup(em->conf->topic_dlq);
    if (src->key_len) {
        d->key = ltv_malloc(src->key_len);
        memcpy(d->key, src->key, src->key_len);
        d->keylen = src->key_len;
    }
    if (src->len) {
        d->payload = ltv_malloc(src->len);
        memcpy(d->payload, src->payload, src->len);
        d->len = src->len;
    }
    d->hdrs = dlq_headers(src, reason, detail);
    d->next = em->dlq;
    em->dlq = d;
    return dlq_send(em, d, errstr, errstr_size);
}

int ltv_emitter_dlq_wait(ltv_emitter_t *em, int timeout_ms) {
    int64_t deadline = ltv_mono_us() + (int64_t)timeout_ms * 1000;
    int64_t backoff_ms = 100;
    for (;;) {
        int pending = 0;
        dlq_t **pp = &em->dlq;
        while (*pp) {
            dlq_t *d = *pp;
            if (d->state == 1) {
                *pp = d->next;
                dlq_free(d);
                continue;
            }
            if (d->state == 2) {
                char err[256];
                if (dlq_send(em, d, err, sizeof(err)))
                    ltv_err("dead-letter re-produce: %s", err);
            }
            pending++;
            pp = &d->next;
        }
        if (!pending)
            return 0;
        if (ltv_mono_us() >= deadline)
            return -1;
        rd_kafka_poll(em->rk, (int)backoff_ms);
        if (backoff_ms < 1000)
            backoff_ms *= 2;
    }
}

void ltv_emitter_poll(ltv_emitter_t *em, int timeout_ms) { rd_kafka_poll(em->rk, timeout_ms); }

int ltv_emitter_take_acks(ltv_emitter_t *em, ltv_ack_t **acks) {
    int n = 0;
    for (batch_t *b = em->done_head; b; b = b->next)
        n++;
    *acks = NULL;
    if (!n)
        return 0;
    ltv_ack_t *a = ltv_calloc((size_t)n, sizeof(*a));
    int i = 0;
    batch_t *b = em->done_head;
    while (b) {
        batch_t *nx = b->next;
        a[i].token = b->token; /* ownership moves to the ack */
        a[i].members = b->members;
        a[i].nmembers = b->nmembers;
        a[i].failed = b->failed;
        i++;
        free(b);
        b = nx;
    }
    em->done_head = em->done_tail = NULL;
    *acks = a;
    return n;
}

void ltv_acks_free(ltv_ack_t *acks, int n) {
    for (int i = 0; i < n; i++) {
        free(acks[i].token);
        free(acks[i].members); /* and their strings */
    }
    free(acks);
}

int ltv_emitter_outstanding(ltv_emitter_t *em) { return em->outstanding; }

int ltv_emitter_has_failed(ltv_emitter_t *em) {
    for (batch_t *b = em->done_head; b; b = b->next)
        if (b->failed)
            return 1;
    return 0;
}

int ltv_emitter_flush(ltv_emitter_t *em, int timeout_ms) {
    rd_kafka_flush(em->rk, timeout_ms);
    return rd_kafka_outq_len(em->rk) == 0 ? 0 : -1;
}

void ltv_emitter_purge(ltv_emitter_t *em) {
    rd_kafka_purge(em->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(em->rk, 0); /* their delivery reports (failures) */
}

void ltv_emitter_stats(ltv_emitter_t *em, ltv_emit_stats_t *out) { *out = em->st; }

void ltv_emitter_track(ltv_emitter_t *em, const char *topic, int timeout_ms) {
    free(em->track_topic);
    em->track_topic = ltv_strdup(topic);
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(em->rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(em->rk, 0, rkt, &md, timeout_ms);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        /* Not there yet (created by the first produce), or the brokers are
         * out of reach: offsets start at 0, the safe bound. */
        if (md)
            rd_kafka_metadata_destroy(md);
        return;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    for (int p = 0; p < np; p++) {
        int64_t lo = 0, hi = 0;
        if (rd_kafka_query_watermark_offsets(em->rk, topic, p, &lo, &hi, timeout_ms) == 0)
            track_raise(em, p, hi);
    }
}

void ltv_emitter_low_marks(ltv_emitter_t *em, ltv_buf_t *out) {
    ltv_buf_reset(out);
    ltv_buf_puts(out, "L|");
    int any = 0;
    for (int p = 0; p < em->ntrack; p++) {
        if (!em->track_low[p])
            continue;
        ltv_buf_printf(out, "%s%d:%lld", any ? "," : "", p, (long long)em->track_low[p]);
        any = 1;
    }
}
