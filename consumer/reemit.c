/*
 * `ltvstream reemit`: publishes the current row of every output key of a
 * namespace, read from its Redis state, to the output topics (optionally
 * prefixed). A new BI consumer can bootstrap from it, and a deleted output
 * topic can be rebuilt, without reprocessing the input.
 *
 * Each record is the one the live stage emitted for that key: the store
 * records with every row version the watermark it was emitted with (field
 * `wm`; `rfm_wm` on customers), so the values, the version and the
 * watermark come from one HGETALL, of one transaction. Rows the clock still
 * withholds (no `wm`: never emitted) are left out; customers whose orders
 * are all cancelled get a tombstone carrying its version, as the live stage
 * sent. Acquisition rows (ltv.acquisition) are stored rows like the other
 * aggregates and go out the same way.
 *
 * Lifecycle triggers (ltv.lifecycle) are not: they are events, one per
 * customer and occasion, and Redis keeps only which occasions are settled,
 * not the records. Publishing them again would message customers again, so
 * reemit leaves that topic alone (the walk passes over the lcz:* and
 * lifecycle keys, which are the stage's bookkeeping).
 *
 * A live stage may be running meanwhile and emit newer versions of the same
 * keys, possibly to the same topics. A record of ours landing after a newer
 * one of the live stage would leave the older version last, which is what
 * log compaction keeps. So the namespace is walked in chunks (SCAN, one
 * pipelined read per page): a chunk's rows are produced and delivered, then
 * read again; a row whose version moved meanwhile is sent again with its
 * new values, until a pass finds no row of the chunk changed. The live
 * stage emits a version only after committing it, so a version it
 * delivered before our record was delivered is in Redis by the time we
 * read again: if the version there is still ours, nothing newer preceded
 * our record, and whatever the live stage sends later is newer.
 */
#include "cli.h"
#include "customer_rfm.h"
#include "emit.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK 1000
#define MAX_TOPICS (LTV_MAX_AGGS + 1)

static void re_usage(FILE *fp) {
    fprintf(fp,
            "Usage: ltvstream reemit [--namespace NS] [--output-prefix P] [--passes N]\n"
            "                        [--no-progress] [-c file] [-X key=value]... [-b brokers]\n\n"
            "Publishes the current row of every output key of namespace NS (default: the\n"
            "configured namespace) from Redis to the output topics, as the live stage last\n"
            "emitted it (same value, version and watermark), without reading the input.\n"
            "Use the stage's configuration: it decides the topics, the format and the rows.\n"
            "  --output-prefix P  publish to P<topic> (e.g. rebuilt. -> rebuilt.ltv.f2_rate)\n"
            "  --passes N    times a row a running stage changed meanwhile is sent again\n"
            "                (default 5)\n"
            "  --no-progress no progress line on stderr\n"
            "A running stage may keep writing the namespace and the same topics: rows it\n"
            "changes while reemit runs are sent again, so no topic ends on an older version.\n");
}

/* One key of the namespace. */
typedef struct item_s {
    char *member;     /* its emission-queue name: row id, or "c|<customer id>" */
    ltv_row_t row;    /* rows: the id, then the values read */
    ltv_customer_t *cust; /* customers: as read (NULL: absent) */
    int64_t sent;     /* version last sent and delivered; -1 none */
} item_t;

typedef struct topic_count_s {
    const char *topic;
    int64_t rows, tombstones;
} topic_count_t;

typedef struct reemit_s {
    const ltv_conf_t *conf;
    ltv_aggs_t *aggs;
    ltv_store_t *store;
    ltv_emitter_t *em;
    int passes;
    int64_t shared_wm; /* for state without recorded watermarks */
    volatile sig_atomic_t *stop;
    /* The chunk. */
    item_t items[CHUNK];
    int n;
    ltv_load_t loads[CHUNK];
    ltv_row_t rows[CHUNK];
    ltv_out_t out; /* each record rendered here, then encoded into recs */
    ltv_emit_rec_t recs[CHUNK];
    ltv_emit_item_t eitems[CHUNK];
    int sendidx[CHUNK];
    /* Totals. */
    topic_count_t per[MAX_TOPICS];
    int nper;
    int64_t keys, emitted, resent, fallback, withheld, unstable, undelivered;
    /* Progress. */
    int progress, tty, shown;
    int64_t t0_us, last_us;
} reemit_t;

static topic_count_t *count_of(reemit_t *re, const char *topic) {
    for (int i = 0; i < re->nper; i++)
        if (!strcmp(re->per[i].topic, topic))
            return &re->per[i];
    if (re->nper == MAX_TOPICS)
        return &re->per[MAX_TOPICS - 1];
    re->per[re->nper].topic = topic;
    return &re->per[re->nper++];
}

/* Reads the chunk's items listed in idx (rows and customers, one
 * pipelined round trip each). */
static int chunk_read(reemit_t *re, const int *idx, int n, char *err, size_t errsz) {
    int nrows = 0, nloads = 0;
    for (int k = 0; k < n; k++) {
        item_t *it = &re->items[idx[k]];
        ltv_customer_destroy(it->cust);
        it->cust = NULL;
        if (!strncmp(it->member, "c|", 2)) {
            const char *id = it->member + 2;
            re->loads[nloads++] = (ltv_load_t){LTV_ENT_CUSTOMER, id, strlen(id), NULL};
        } else {
            re->rows[nrows++].id = it->row.id;
        }
    }
    if (ltv_store_read_rows(re->store, re->rows, nrows, err, errsz) != LTV_STORE_OK ||
        ltv_store_load(re->store, NULL, 0, NULL, re->loads, nloads, err, errsz) != LTV_STORE_OK)
        return -1;
    for (int k = 0, r = 0, l = 0; k < n; k++) {
        item_t *it = &re->items[idx[k]];
        if (!strncmp(it->member, "c|", 2))
            it->cust = re->loads[l++].out;
        else
            it->row = re->rows[r++];
    }
    return 0;
}

typedef enum { R_NONE, R_ROW, R_WITHHELD } rendered_t;

/* Renders into o the record the live stage emitted for the item's current
 * version. *fallback: no watermark was recorded, the shared one is shown. */
static rendered_t render(reemit_t *re, item_t *it, ltv_out_t *o, const char **topic,
                         int64_t *version, int *fallback) {
    ltv_emit_info_t info;
    ltv_out_reset(o);
    *fallback = 0;
    if (it->cust) {
        const ltv_customer_t *c = it->cust;
        if (c->rfm_version == 0)
            return R_NONE; /* never scored (the clock was unknown): no row */
        info.watermark = c->has_rfm_wm ? c->rfm_wm : re->shared_wm;
        *fallback = !c->has_rfm_wm;
        ltv_customer_rfm_render(re->aggs, c, &info, re->conf->tz_offset_ms, o);
        *topic = re->conf->topic_customer_rfm;
        *version = c->rfm_version;
        return R_ROW;
    }
    if (!strncmp(it->member, "c|", 2) || it->row.version == 0)
        return R_NONE; /* gone since the scan (the namespace was dropped) */
    const ltv_agg_t *a = it->row.id.agg;
    if (it->row.has_wm) {
        info.watermark = it->row.wm;
    } else {
        /* No emission recorded: withheld until the clock reaches the row,
         * or written before watermarks were recorded, when it shows the
         * shared clock as a restarted stage would show it. */
        int64_t vis = a->cls->visible_from ? a->cls->visible_from(a, &it->row.id) : INT64_MIN;
        if (vis != INT64_MIN && (re->shared_wm == INT64_MIN || vis > re->shared_wm))
            return R_WITHHELD;
        info.watermark = re->shared_wm;
        *fallback = 1;
    }
    a->cls->render(a, &it->row, &info, o);
    *topic = a->topic;
    *version = it->row.version;
    return R_ROW;
}

/* Produces the rendered records and waits for their delivery. */
static int send_wait(reemit_t *re, int n, char *err, size_t errsz) {
    if (ltv_emitter_send(re->em, "reemit", re->eitems, n, err, errsz))
        ltv_warn("reemit: %s (sent again)", err);
    if (ltv_emitter_flush(re->em, 60000)) {
        snprintf(err, errsz, "rows not delivered within 60 s (see the errors above)");
        return -1;
    }
    ltv_ack_t *acks;
    int na = ltv_emitter_take_acks(re->em, &acks);
    int failed = 0;
    for (int i = 0; i < na; i++)
        failed |= acks[i].failed;
    ltv_acks_free(acks, na);
    return failed ? 1 : 0;
}

/* Emits the chunk, then sends again what changed until nothing did. */
static int chunk_run(reemit_t *re, char *err, size_t errsz) {
    int todo[CHUNK], ntodo = re->n;
    for (int i = 0; i < re->n; i++) {
        todo[i] = i;
        re->items[i].sent = -1;
    }
    for (int pass = 0; ntodo; pass++) {
        if (chunk_read(re, todo, ntodo, err, errsz))
            return -1;
        int nsend = 0;
        for (int k = 0; k < ntodo; k++) {
            item_t *it = &re->items[todo[k]];
            const char *topic;
            int64_t version;
            int fallback;
            ltv_out_t *o = &re->out;
            rendered_t what = render(re, it, o, &topic, &version, &fallback);
            if (pass == 0) {
                re->withheld += what == R_WITHHELD;
                re->fallback += what == R_ROW && fallback;
            }
            if (what != R_ROW || version == it->sent)
                continue; /* nothing to emit, or the version we delivered */
            if (pass > re->passes) {
                /* Changed (or undelivered) in every pass: give up on it. */
                if (it->sent < 0)
                    re->undelivered++;
                else
                    re->unstable++;
                continue;
            }
            if (pass == 0) {
                topic_count_t *tc = count_of(re, topic);
                tc->rows += !o->tombstone;
                tc->tombstones += o->tombstone;
                re->emitted++;
            } else {
                re->resent++;
            }
            ltv_emit_item_t *ei = &re->eitems[nsend];
            *ei = (ltv_emit_item_t){.member = it->member};
            if (ltv_emitter_encode(re->em, topic, o, &re->recs[nsend], ei, err, errsz))
                ltv_warn("reemit %s: %s", it->member, err);
            re->sendidx[nsend] = todo[k];
            it->sent = version;
            nsend++;
        }
        if (!nsend)
            break;
        int rc = send_wait(re, nsend, err, errsz);
        if (rc < 0)
            return -1;
        /* What was sent is read again; after a failed delivery all of it is
         * also sent again (which record failed is not known). */
        for (int k = 0; k < nsend; k++) {
            todo[k] = re->sendidx[k];
            if (rc)
                re->items[todo[k]].sent = -1;
        }
        ntodo = nsend;
    }
    return 0;
}

static void chunk_clear(reemit_t *re) {
    for (int i = 0; i < re->n; i++) {
        free(re->items[i].member);
        ltv_customer_destroy(re->items[i].cust);
    }
    re->n = 0;
}

/* Adds an output row's key, or (kind LTV_KEY_CUSTOMER) a customer id, to
 * the chunk. */
static void chunk_add(reemit_t *re, const char *key, ltv_key_kind_t kind) {
    size_t n = strlen(key);
    item_t *it = &re->items[re->n];
    memset(it, 0, sizeof(*it));
    switch (kind) {
    case LTV_KEY_CUSTOMER: /* a customer id of a bucket, see chunk_add_key */
        it->member = ltv_malloc(n + 3);
        snprintf(it->member, n + 3, "c|%s", key);
        break;
    case LTV_KEY_ROW:
        /* A key of another namespace named "<ns>:..." names no row of ours. */
        if (ltv_rowid_parse(re->aggs, key + 4, n - 4, &it->row.id) ||
            it->row.id.agg->cls->internal)
            return;
        it->member = ltv_strdup(key + 4);
        break;
    default:
        return; /* bookkeeping, offsets, the marker: no output record */
    }
    re->n++;
    re->keys++;
}

static void progress(reemit_t *re, int force) {
    int64_t now = ltv_mono_us();
    if (!re->progress || (!force && now - re->last_us < (re->tty ? 250000 : 2000000)))
        return;
    re->last_us = now;
    double secs = (double)(now - re->t0_us) / 1e6;
    fprintf(stderr, "%sreemit %s: %lld keys, %lld rows, %.0f rows/s%s", re->tty ? "\r" : "",
            re->conf->namespace_, (long long)re->keys, (long long)re->emitted,
            secs > 0 ? (double)re->emitted / secs : 0.0, re->tty ? "   " : "\n");
    fflush(stderr);
    re->shown = 1;
}

static int walk(reemit_t *re, char *err, size_t errsz) {
    uint64_t cursor = 0;
    do {
        char **keys;
        int nk;
        if (ltv_store_scan(re->store, &cursor, CHUNK, &keys, &nk, err, errsz) != LTV_STORE_OK)
            return -1;
        int rc = 0;
        for (int i = 0; i < nk; i++) {
            ltv_key_kind_t kind = ltv_store_key_kind(keys[i], strlen(keys[i]));
            /* A bucket holds many customers: each is an item. */
            char **ids = &keys[i];
            int nids = 1;
            if (!rc && kind == LTV_KEY_CUSTOMER &&
                ltv_store_bucket_ids(re->store, keys[i], LTV_ENT_CUSTOMER, &ids, &nids, err,
                                     errsz) != LTV_STORE_OK)
                rc = -1;
            for (int j = 0; !rc && j < nids; j++) {
                /* A full chunk goes out before the page is done. */
                if (re->n == CHUNK) {
                    rc = chunk_run(re, err, errsz);
                    chunk_clear(re);
                }
                if (!rc)
                    chunk_add(re, ids[j], kind);
            }
            if (ids != &keys[i]) {
                for (int j = 0; j < nids; j++)
                    free(ids[j]);
                free(ids);
            }
            free(keys[i]);
        }
        free(keys);
        if (!rc && re->n && (re->n >= CHUNK / 2 || cursor == 0)) {
            rc = chunk_run(re, err, errsz);
            chunk_clear(re);
        }
        if (rc)
            return -1;
        progress(re, 0);
        if (*re->stop) {
            snprintf(err, errsz, "interrupted");
            return -1;
        }
    } while (cursor != 0);
    return 0;
}

static void summary(const reemit_t *re, int ok, double secs) {
    printf("reemit %s %s: %lld rows in %.1f s\n", re->conf->namespace_,
           ok ? "done" : "failed", (long long)re->emitted, secs);
    for (int i = 0; i < re->nper; i++) {
        printf("  %-32s %8lld rows", re->per[i].topic, (long long)re->per[i].rows);
        if (re->per[i].tombstones)
            printf(", %lld tombstone%s", (long long)re->per[i].tombstones,
                   re->per[i].tombstones == 1 ? "" : "s");
        putchar('\n');
    }
    if (re->withheld)
        printf("  %lld rows left out: the clock withholds them, as the live stage does\n",
               (long long)re->withheld);
    if (re->resent)
        printf("  %lld rows sent again: a running stage changed them meanwhile\n",
               (long long)re->resent);
    if (re->fallback)
        printf("  %lld rows had no recorded watermark (written by an older version) and show "
               "the current one\n",
               (long long)re->fallback);
    if (re->unstable)
        printf("  %lld rows changed in every one of %d passes: a running stage may have sent a "
               "newer version before ours; run reemit again\n",
               (long long)re->unstable, re->passes + 1);
    if (re->undelivered)
        printf("  %lld rows could not be delivered (see the errors above)\n",
               (long long)re->undelivered);
}

int ltv_reemit_main(int argc, char **argv) {
    const char *ns = NULL, *prefix = NULL, *passes = NULL;
    int show = 1;
    const ltv_cli_opt_t opts[] = {{"--namespace", &ns, NULL, 0},
                                  {"--output-prefix", &prefix, NULL, 0},
                                  {"--passes", &passes, NULL, 0},
                                  {"--no-progress", NULL, &show, 0},
                                  {NULL, NULL, NULL, 0}};
    ltv_conf_t *conf = ltv_conf_new();
    long long npasses = 0;
    int rc = ltv_cli_parse("reemit", argc, argv, opts, re_usage, conf);
    if (!rc && ns)
        rc = ltv_cli_set("reemit", conf, "namespace", ns);
    if (!rc)
        rc = ltv_cli_output_prefix("reemit", conf, prefix);
    if (!rc)
        rc = ltv_cli_int("reemit", "--passes", passes, 1, 100, 5, &npasses);
    if (rc) {
        ltv_conf_destroy(conf);
        return rc;
    }
    ltv_log_setup((int)conf->log_level, conf->log_json);

    char err[512];
    reemit_t *re = ltv_calloc(1, sizeof(*re));
    re->conf = conf;
    re->passes = (int)npasses;
    re->stop = ltv_cli_catch_signals();
    re->progress = show;
    re->tty = isatty(2);
    re->t0_us = ltv_mono_us();
    ltv_out_init(&re->out);
    for (int i = 0; i < CHUNK; i++)
        ltv_emit_rec_init(&re->recs[i]);
    rc = 1;
    re->aggs = ltv_aggs_new(conf, err, sizeof(err));
    if (!re->aggs)
        goto err;
    /* The tables in the order of the README, empty ones included. */
    static const char *const order[] = {"f2_cohort", "f2_rolling", "retention_mix",
                                        "rfm_segments"};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const ltv_agg_t *a = ltv_aggs_find(re->aggs, order[i]);
        if (a)
            count_of(re, a->topic);
    }
    count_of(re, conf->topic_customer_rfm);
    re->store = ltv_store_new(conf, re->aggs);
    ltv_store_require_existing(re->store);
    if (ltv_store_connect(re->store, err, sizeof(err)) != LTV_STORE_OK)
        goto err;
    ltv_clockpos_t *pos;
    int npos;
    if (ltv_store_read_clock(re->store, &pos, &npos, &re->shared_wm, err, sizeof(err)) !=
        LTV_STORE_OK)
        goto err;
    free(pos);
    re->em = ltv_emitter_new(conf, re->aggs, err, sizeof(err));
    if (!re->em)
        goto err;
    int ok = walk(re, err, sizeof(err)) == 0;
    if (re->shown && re->tty)
        fputc('\n', stderr);
    summary(re, ok, (double)(ltv_mono_us() - re->t0_us) / 1e6);
    if (!ok)
        goto err;
    rc = re->unstable || re->undelivered ? 1 : 0;
    goto done;

err:
    fprintf(stderr, "ltvstream reemit: %s\n", err);
done:
    chunk_clear(re);
    ltv_emitter_destroy(re->em);
    ltv_store_destroy(re->store);
    ltv_aggs_destroy(re->aggs);
    ltv_out_free(&re->out);
    for (int i = 0; i < CHUNK; i++)
        ltv_emit_rec_free(&re->recs[i]);
    free(re);
    ltv_conf_destroy(conf);
    return rc;
}
