#include "rowread.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

static int row_cmp(const void *a, const void *b) {
    return strcmp(((const ltv_table_row_t *)a)->key, ((const ltv_table_row_t *)b)->key);
}

const ltv_table_row_t *ltv_table_get(const ltv_table_t *t, const char *key) {
    ltv_table_row_t k = {(char *)key, NULL, 0};
    return bsearch(&k, t->rows, (size_t)t->n, sizeof(*t->rows), row_cmp);
}

static ltv_table_row_t *add_row(ltv_table_t *t, const char *key, size_t keylen) {
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 64;
        t->rows = ltv_realloc(t->rows, sizeof(*t->rows) * (size_t)t->cap);
    }
    ltv_table_row_t *r = &t->rows[t->n++];
    r->key = ltv_strndup(key, keylen);
    r->json = NULL;
    r->version = 0;
    return r;
}

/* A tombstone deletes the row. One with a "version" header is a version
 * of the row: the key is kept as deleted at that version (json NULL, left
 * out at the end), so an older row arriving later does not bring it back,
 * and an older tombstone does not delete a newer row. */
static void delete_key(ltv_table_t *t, const char *key, size_t keylen, int64_t version,
                       int last) {
    for (int i = 0; i < t->n; i++) {
        ltv_table_row_t *r = &t->rows[i];
        if (strlen(r->key) == keylen && !memcmp(r->key, key, keylen)) {
            if (version >= 0 && version < r->version) {
                t->regressions++;
                if (!last)
                    return;
            }
            if (version < 0) {
                free(r->key);
                free(r->json);
                t->rows[i] = t->rows[--t->n];
                return;
            }
            free(r->json);
            r->json = NULL;
            r->version = version;
            return;
        }
    }
    if (version >= 0)
        add_row(t, key, keylen)->version = version;
}

static void upsert(ltv_table_t *t, const char *key, size_t keylen, const char *json, size_t len,
                   int last) {
    int64_t version = 0;
    char *j = ltv_strndup(json, len);
    version = ltv_json_field_i64(j, "version");
    for (int i = 0; i < t->n; i++) {
        if (strlen(t->rows[i].key) == keylen && !memcmp(t->rows[i].key, key, keylen)) {
            /* Newest version wins, whatever the arrival order (or, with
             * `last`, the last record). Over a deletion only a newer one. */
            int deleted = t->rows[i].json == NULL;
            if (version < t->rows[i].version || (deleted && version == t->rows[i].version))
                t->regressions++;
            if (last || version > t->rows[i].version ||
                (!deleted && version == t->rows[i].version)) {
                free(t->rows[i].json);
                t->rows[i].json = j;
                t->rows[i].version = version;
            } else {
                free(j);
            }
            return;
        }
    }
    ltv_table_row_t *r = add_row(t, key, keylen);
    r->json = j;
    r->version = version;
}

int ltv_topic_read(const char *brokers, const char *topic, int timeout_ms,
                   void (*cb)(const rd_kafka_message_t *m, void *opaque), void *opaque,
                   char *errstr, size_t errstr_size) {
    char tmp[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", brokers, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "log_level", "3", tmp, sizeof(tmp));
    return ltv_topic_read_from(kc, topic, NULL, 0, timeout_ms, cb, opaque, errstr, errstr_size);
}

int ltv_topic_read_from(rd_kafka_conf_t *kc, const char *topic, const int64_t *from, int nfrom,
                        int timeout_ms, void (*cb)(const rd_kafka_message_t *m, void *opaque),
                        void *opaque, char *errstr, size_t errstr_size) {
    char tmp[256];
    /* Partitions are assigned, not subscribed: the group only names the
     * client, and nothing is committed. */
    rd_kafka_conf_set(kc, "group.id", "ltvstream-table-reader", tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "enable.auto.commit", "false", tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, kc, tmp, sizeof(tmp));
    if (!rk) {
        snprintf(errstr, errstr_size, "consumer: %s", tmp);
        rd_kafka_conf_destroy(kc);
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        snprintf(errstr, errstr_size, "metadata of %s: %s", topic,
                 rd_kafka_err2str(e ? e : md->topics[0].err));
        int missing = !e && md->topic_cnt == 1 &&
                      md->topics[0].err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART;
        if (md)
            rd_kafka_metadata_destroy(md);
        rd_kafka_destroy(rk);
        return missing ? 1 : -1;
    }
    int np = md->topics[0].partition_cnt;
    rd_kafka_metadata_destroy(md);
    rd_kafka_topic_partition_list_t *list = rd_kafka_topic_partition_list_new(np);
    int64_t *end = ltv_calloc((size_t)np, sizeof(int64_t));
    int remaining = 0;
    for (int p = 0; p < np; p++) {
        int64_t lo = 0, hi = 0;
        rd_kafka_query_watermark_offsets(rk, topic, p, &lo, &hi, 10000);
        end[p] = hi;
        int64_t start = p < nfrom && from[p] > lo ? from[p] : lo;
        rd_kafka_topic_partition_list_add(list, topic, p)->offset =
            start > lo ? start : RD_KAFKA_OFFSET_BEGINNING;
        if (hi > start)
            remaining++;
        else
            end[p] = -1;
    }
    rd_kafka_assign(rk, list);
    rd_kafka_topic_partition_list_destroy(list);
    int64_t deadline = ltv_mono_us() + (int64_t)timeout_ms * 1000;
    while (remaining > 0 && ltv_mono_us() < deadline) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        /* Only up to the end offsets taken at the start: a topic written
         * meanwhile still gives a definite answer. */
        if (!m->err && end[m->partition] >= 0 && m->offset < end[m->partition]) {
            cb(m, opaque);
            if (m->offset + 1 >= end[m->partition]) {
                end[m->partition] = -1;
                remaining--;
            }
        }
        rd_kafka_message_destroy(m);
    }
    free(end);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    if (remaining > 0) {
        snprintf(errstr, errstr_size, "timed out reading %s", topic);
        return -1;
    }
    return 0;
}

typedef struct table_ctx_s {
    ltv_table_t *t;
    int last;
} table_ctx_t;

static void table_msg(const rd_kafka_message_t *m, void *opaque) {
    table_ctx_t *c = opaque;
    ltv_table_t *t = c->t;
    t->messages++;
    /* A null value is a tombstone: the row is deleted (compaction). */
    if (!m->payload) {
        rd_kafka_headers_t *hd = NULL;
        const void *v = NULL;
        size_t vn = 0;
        int64_t version = -1;
        char vs[24];
        if (rd_kafka_message_headers(m, &hd) == 0 &&
            rd_kafka_header_get_last(hd, "version", &v, &vn) == 0 && v && vn < sizeof(vs)) {
            memcpy(vs, v, vn);
            vs[vn] = '\0';
            version = strtoll(vs, NULL, 10);
        }
        delete_key(t, m->key ? m->key : "", m->key_len, version, c->last);
    } else {
        upsert(t, m->key ? m->key : "", m->key_len, m->payload, m->len, c->last);
    }
}

static int table_read(const char *brokers, const char *topic, ltv_table_t *t, int last,
                      char *errstr, size_t errstr_size) {
    memset(t, 0, sizeof(*t));
    table_ctx_t c = {t, last};
    if (ltv_topic_read(brokers, topic, 60000, table_msg, &c, errstr, errstr_size))
        return -1;
    /* Keys deleted at a version are no rows. */
    int k = 0;
    for (int i = 0; i < t->n; i++) {
        if (t->rows[i].json)
            t->rows[k++] = t->rows[i];
        else
            free(t->rows[i].key);
    }
    t->n = k;
    if (t->n > 1)
        qsort(t->rows, (size_t)t->n, sizeof(*t->rows), row_cmp);
    return 0;
}

int ltv_table_read(const char *brokers, const char *topic, ltv_table_t *t, char *errstr,
                   size_t errstr_size) {
    return table_read(brokers, topic, t, 0, errstr, errstr_size);
}

int ltv_table_read_last(const char *brokers, const char *topic, ltv_table_t *t, char *errstr,
                        size_t errstr_size) {
    return table_read(brokers, topic, t, 1, errstr, errstr_size);
}

void ltv_table_free(ltv_table_t *t) {
    for (int i = 0; i < t->n; i++) {
        free(t->rows[i].key);
        free(t->rows[i].json);
    }
    free(t->rows);
    memset(t, 0, sizeof(*t));
}

int ltv_json_field(const char *json, const char *name, char *out, size_t outsz) {
    char pat[128];
    snprintf(pat, sizeof(pat), "\"%s\":", name);
    const char *p = strstr(json, pat);
    if (!p)
        return -1;
    p += strlen(pat);
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (p[n] && !(p[n] == '"' && (n == 0 || p[n - 1] != '\\')))
            n++;
    } else {
        while (p[n] && p[n] != ',' && p[n] != '}')
            n++;
    }
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, p, n);
    out[n] = '\0';
    return 0;
}

int64_t ltv_json_field_i64(const char *json, const char *name) {
    char tmp[64];
    if (ltv_json_field(json, name, tmp, sizeof(tmp)))
        return 0;
    return strtoll(tmp, NULL, 10);
}

double ltv_json_field_f(const char *json, const char *name) {
    char tmp[64];
    if (ltv_json_field(json, name, tmp, sizeof(tmp)) || !strcmp(tmp, "null"))
        return -1;
    return strtod(tmp, NULL);
}
