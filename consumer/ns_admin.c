/*
 * `ltvstream ns list` and `ltvstream ns drop`: the namespaces in Redis.
 *
 * A namespace exists when it has its marker <ns>:meta (written by every
 * stage, backfill and reemit that connects to it; store.c). Its keys are the
 * ones named "<ns>:<what the layout writes>" (ltv_store_key_kind); a key of
 * a namespace whose name starts with "<ns>:" (say "ltv:v2") belongs to the
 * longer one, so dropping "ltv" never touches "ltv:v2".
 *
 * Dropping is the one irreversible thing this binary does, so it asks for
 * the name twice (typed at a prompt, or --confirm NAME) and refuses while
 * the namespace looks in use:
 *
 *  - a Redis connection carries its name (every stage names its connection
 *    "ltvstream:<ns>"; CLIENT LIST shows it): a stage is running, idle or
 *    not;
 *  - its clock shows a commit with data less than --min-idle seconds ago
 *    (default 600): a stage restarting, or cut off from Redis for a while,
 *    will be back.
 *
 * --force skips both. Keys are deleted with SCAN and UNLINK, a page at a
 * time; the marker goes last, so an interrupted drop still shows in `ns
 * list` and can be run again.
 */
#include "cli.h"
#include "clock.h"
#include "log.h"
#include "store.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <hiredis/hiredis.h>

static void ns_usage(FILE *fp) {
    fprintf(fp,
            "Usage: ltvstream ns list [-c file] [-X key=value]...\n"
            "       ltvstream ns drop --namespace NS [--confirm NS] [--force] [--min-idle S]\n"
            "                         [-c file] [-X key=value]...\n\n"
            "list  the namespaces in Redis (those with a <ns>:meta marker): keys, customers,\n"
            "      visitors, rows, input partitions and the sum of their committed offsets,\n"
            "      the watermark, the last commit with data, and the connections using it\n"
            "drop  delete every key of namespace NS. The name must be typed again: at the\n"
            "      prompt on a terminal, or with --confirm NS. Refused while NS is in use: a\n"
            "      Redis connection named for it (a running stage), or a commit less than\n"
            "      --min-idle seconds ago (default 600); --force drops it anyway.\n");
}

typedef struct nsinfo_s {
    char *name;
    size_t len;
    int64_t keys, by_kind[LTV_KEY_META + 1];
    int64_t offsets;     /* sum of the partitions' next offsets */
    int64_t watermark;   /* INT64_MIN: none */
    int64_t last_commit; /* wall clock, ms; INT64_MIN: none */
    int clients;         /* connections named for it */
} nsinfo_t;

typedef struct nslist_s {
    nsinfo_t *v;
    int n;
    char err[512];
} nslist_t;

static void nslist_free(nslist_t *l) {
    for (int i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    l->v = NULL;
    l->n = 0;
}

static int reply_fail(nslist_t *l, redisContext *rc, redisReply *r, const char *what) {
    snprintf(l->err, sizeof(l->err), "redis %s: %s", what,
             r && r->type == REDIS_REPLY_ERROR ? r->str
             : rc->err                         ? rc->errstr
                                               : "unexpected reply");
    if (r)
        freeReplyObject(r);
    return -1;
}

static redisReply *get(redisContext *rc) {
    void *p = NULL;
    return redisGetReply(rc, &p) == REDIS_OK ? p : NULL;
}

/* ---- walking keys ------------------------------------------------------------ */

/* SCAN with a cursor; match NULL: every key. */
static void scan_send(redisContext *rc, const char *cursor, const char *match) {
    if (match)
        redisAppendCommand(rc, "SCAN %s MATCH %s COUNT 1000", cursor, match);
    else
        redisAppendCommand(rc, "SCAN %s COUNT 1000", cursor);
}

/* The SCAN reply: next cursor into cursor (32 bytes), the page's keys as
 * (*page)->element[1]. */
static int scan_recv(nslist_t *l, redisContext *rc, char *cursor, redisReply **page) {
    redisReply *r = get(rc);
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[1]->type != REDIS_REPLY_ARRAY)
        return reply_fail(l, rc, r, "SCAN");
    snprintf(cursor, 32, "%s", r->element[0]->str);
    *page = r;
    return 0;
}

/* The namespace a key belongs to (index in l), or -1: the longest one whose
 * name and ':' start the key and whose layout has a key named like the
 * rest. */
static int owner(const nslist_t *l, const char *key, size_t n, ltv_key_kind_t *kind) {
    int best = -1;
    for (int i = 0; i < l->n; i++) {
        const nsinfo_t *ns = &l->v[i];
        if (n <= ns->len + 1 || key[ns->len] != ':' || memcmp(key, ns->name, ns->len) ||
            (best >= 0 && l->v[best].len >= ns->len))
            continue;
        ltv_key_kind_t k = ltv_store_key_kind(key + ns->len + 1, n - ns->len - 1);
        if (k != LTV_KEY_UNKNOWN) {
            best = i;
            *kind = k;
        }
    }
    return best;
}

/* Every namespace with a marker. */
static int find_namespaces(nslist_t *l, redisContext *rc) {
    char cursor[32] = "0";
    int cap = 0;
    do {
        redisReply *page;
        scan_send(rc, cursor, "*:meta");
        if (scan_recv(l, rc, cursor, &page))
            return -1;
        const redisReply *keys = page->element[1];
        /* A marker has the state layout in it; some other "...:meta" key
         * does not make a namespace. */
        for (size_t i = 0; i < keys->elements; i++)
            redisAppendCommand(rc, "HGET %b layout", keys->element[i]->str,
                               keys->element[i]->len);
        for (size_t i = 0; i < keys->elements; i++) {
            redisReply *r = get(rc);
            if (!r) {
                freeReplyObject(page);
                return reply_fail(l, rc, NULL, "HGET");
            }
            const redisReply *k = keys->element[i];
            int dup = 0;
            for (int j = 0; j < l->n; j++)
                dup |= l->v[j].len == k->len - 5 && !memcmp(l->v[j].name, k->str, k->len - 5);
            if (r->type == REDIS_REPLY_STRING && !dup) {
                if (l->n == cap) {
                    cap = cap ? cap * 2 : 8;
                    l->v = ltv_realloc(l->v, sizeof(*l->v) * (size_t)cap);
                }
                nsinfo_t *ns = &l->v[l->n++];
                memset(ns, 0, sizeof(*ns));
                ns->name = ltv_strndup(k->str, k->len - 5);
                ns->len = k->len - 5;
                ns->watermark = ns->last_commit = INT64_MIN;
            }
            freeReplyObject(r);
        }
        freeReplyObject(page);
    } while (strcmp(cursor, "0"));
    return 0;
}

/* Counts the keys of the namespaces (only >= 0: of that one, scanning its
 * prefix only), and sums their stored offsets. */
static int count_keys(nslist_t *l, redisContext *rc, int only) {
    for (int i = 0; i < l->n; i++) {
        l->v[i].keys = l->v[i].offsets = 0;
        memset(l->v[i].by_kind, 0, sizeof(l->v[i].by_kind));
    }
    ltv_buf_t match;
    ltv_buf_init(&match);
    if (only >= 0)
        ltv_store_match_pattern(l->v[only].name, &match);
    char cursor[32] = "0";
    int rc_ = 0;
    int *pend = NULL;
    size_t cappend = 0;
    do {
        redisReply *page;
        scan_send(rc, cursor, only >= 0 ? match.p : NULL);
        if ((rc_ = scan_recv(l, rc, cursor, &page)))
            break;
        const redisReply *keys = page->element[1];
        size_t npend = 0;
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            ltv_key_kind_t kind;
            int o = owner(l, k->str, k->len, &kind);
            if (o < 0 || (only >= 0 && o != only))
                continue;
            l->v[o].keys++;
            /* A bucket's fields are the customers ("c:"), anonymous
             * visitors ("v:") and ad spend entities ("s:"), counted from
             * its HKEYS below. */
            if (kind != LTV_KEY_CUSTOMER)
                l->v[o].by_kind[kind]++;
            if (kind != LTV_KEY_OFFSET && kind != LTV_KEY_CUSTOMER)
                continue;
            if (npend == cappend) {
                cappend = cappend ? cappend * 2 : 64;
                pend = ltv_realloc(pend, sizeof(int) * cappend);
            }
            pend[npend++] = kind == LTV_KEY_CUSTOMER ? o : -1 - o;
            if (kind == LTV_KEY_CUSTOMER)
                redisAppendCommand(rc, "HKEYS %b", k->str, k->len);
            else
                redisAppendCommand(rc, "HGET %b next", k->str, k->len);
        }
        /* The replies, in the order the commands went out: HKEYS of a
         * bucket (pend >= 0: its owner) or HGET of an offset (-1 - owner). */
        for (size_t i = 0; !rc_ && i < npend; i++) {
            redisReply *r = get(rc);
            int bucket = pend[i] >= 0, o = bucket ? pend[i] : -1 - pend[i];
            if (!r || (bucket && r->type != REDIS_REPLY_ARRAY)) {
                rc_ = reply_fail(l, rc, r, bucket ? "HKEYS" : "HGET");
                break;
            }
            if (bucket) {
                for (size_t j = 0; j < r->elements; j++) {
                    const redisReply *f = r->element[j];
                    /* "s:" fields (ad spend entities) are neither. */
                    if (f->type == REDIS_REPLY_STRING && f->len >= 2 && f->str[1] == ':' &&
                        (f->str[0] == 'c' || f->str[0] == 'v'))
                        l->v[o].by_kind[f->str[0] == 'v' ? LTV_KEY_VISITOR : LTV_KEY_CUSTOMER]++;
                }
            } else if (r->type == REDIS_REPLY_STRING) {
                l->v[o].offsets += strtoll(r->str, NULL, 10);
            }
            freeReplyObject(r);
        }
        freeReplyObject(page);
    } while (!rc_ && strcmp(cursor, "0"));
    free(pend);
    ltv_buf_free(&match);
    return rc_;
}

/* The watermark and the last commit with data of each namespace (its clock
 * hash), and the connections named for it. */
static int read_details(nslist_t *l, redisContext *rc) {
    for (int i = 0; i < l->n; i++)
        redisAppendCommand(rc, "HGETALL %s:clock", l->v[i].name);
    for (int i = 0; i < l->n; i++) {
        redisReply *r = get(rc);
        if (!r || r->type != REDIS_REPLY_ARRAY)
            return reply_fail(l, rc, r, "HGETALL clock");
        for (size_t k = 0; k + 1 < r->elements; k += 2) {
            const redisReply *f = r->element[k], *v = r->element[k + 1];
            ltv_clockpos_t p;
            if (!strcmp(f->str, "watermark"))
                l->v[i].watermark = strtoll(v->str, NULL, 10);
            else if (!ltv_clockpos_parse(&p, v->str, (int)v->len) &&
                     p.active_ms > l->v[i].last_commit)
                l->v[i].last_commit = p.active_ms;
        }
        freeReplyObject(r);
    }
    redisReply *r = redisCommand(rc, "CLIENT LIST");
    if (!r || r->type != REDIS_REPLY_STRING) {
        /* A server that hides its clients (CLIENT renamed away) leaves the
         * clock as the only sign of use. */
        ltv_warn("cannot list Redis clients (%s); connected stages cannot be seen",
                 r && r->type == REDIS_REPLY_ERROR ? r->str : "no reply");
        if (r)
            freeReplyObject(r);
        return rc->err ? reply_fail(l, rc, NULL, "CLIENT LIST") : 0;
    }
    ltv_buf_t want;
    ltv_buf_init(&want);
    for (int i = 0; i < l->n; i++) {
        ltv_store_client_name(l->v[i].name, &want);
        for (const char *p = r->str; (p = strstr(p, " name=")); p++) {
            p += 6;
            size_t n = strcspn(p, " \n");
            l->v[i].clients += n == want.n && !memcmp(p, want.p, n);
        }
    }
    ltv_buf_free(&want);
    freeReplyObject(r);
    return 0;
}

/* ---- list ------------------------------------------------------------------ */

static void fmt_time(int64_t ms, char *out) {
    if (ms == INT64_MIN)
        strcpy(out, "-");
    else
        ltv_ts_format(ms, out);
}

static int ns_list(redisContext *rc) {
    nslist_t l = {0};
    if (find_namespaces(&l, rc) || count_keys(&l, rc, -1) || read_details(&l, rc)) {
        fprintf(stderr, "ltvstream ns list: %s\n", l.err);
        nslist_free(&l);
        return 1;
    }
    printf("%-20s %9s %9s %8s %7s %10s %10s %-24s %-24s %7s\n", "NAMESPACE", "KEYS",
           "CUSTOMERS", "VISITORS", "ROWS", "PARTITIONS", "OFFSETS", "WATERMARK", "LAST_COMMIT",
           "CLIENTS");
    for (int i = 0; i < l.n; i++) {
        const nsinfo_t *ns = &l.v[i];
        char wm[32], last[32];
        fmt_time(ns->watermark, wm);
        fmt_time(ns->last_commit, last);
        printf("%-20s %9lld %9lld %8lld %7lld %10lld %10lld %-24s %-24s %7d\n", ns->name,
               (long long)ns->keys, (long long)ns->by_kind[LTV_KEY_CUSTOMER],
               (long long)ns->by_kind[LTV_KEY_VISITOR], (long long)ns->by_kind[LTV_KEY_ROW],
               (long long)ns->by_kind[LTV_KEY_OFFSET], (long long)ns->offsets, wm, last,
               ns->clients);
    }
    nslist_free(&l);
    return 0;
}

/* ---- drop ------------------------------------------------------------------ */

static void describe(const nsinfo_t *ns, char *out, size_t n) {
    snprintf(out, n,
             "%lld keys (%lld customers, %lld visitors, %lld rows, %lld partition offsets, "
             "%lld of the stage's bookkeeping, %lld marker)",
             (long long)ns->keys, (long long)ns->by_kind[LTV_KEY_CUSTOMER],
             (long long)ns->by_kind[LTV_KEY_VISITOR], (long long)ns->by_kind[LTV_KEY_ROW],
             (long long)ns->by_kind[LTV_KEY_OFFSET], (long long)ns->by_kind[LTV_KEY_STAGE],
             (long long)ns->by_kind[LTV_KEY_META]);
}

/* The name typed again: --confirm, or at a prompt on a terminal. */
static int confirmed(const nsinfo_t *ns, const char *confirm) {
    if (confirm)
        return !strcmp(confirm, ns->name);
    char what[512], line[1024];
    describe(ns, what, sizeof(what));
    fprintf(stderr, "Namespace %s has %s.\nType its name to drop it: ", ns->name, what);
    fflush(stderr);
    if (!fgets(line, sizeof(line), stdin))
        return 0;
    line[strcspn(line, "\r\n")] = '\0';
    return !strcmp(line, ns->name);
}

/* Unlinks the namespace's keys, a SCAN page at a time (the next SCAN sent
 * with the page's UNLINK), the marker last. */
static int unlink_all(nslist_t *l, redisContext *rc, int t, int64_t *deleted) {
    ltv_buf_t match, marker;
    ltv_buf_init(&match);
    ltv_buf_init(&marker);
    ltv_store_match_pattern(l->v[t].name, &match);
    ltv_buf_printf(&marker, "%s:meta", l->v[t].name);
    char cursor[32] = "0";
    const char **argv = NULL;
    size_t *argvlen = NULL;
    int rc_ = 0;
    *deleted = 0;
    scan_send(rc, cursor, match.p);
    for (;;) {
        redisReply *page;
        if ((rc_ = scan_recv(l, rc, cursor, &page)))
            break;
        const redisReply *keys = page->element[1];
        argv = ltv_realloc(argv, sizeof(*argv) * (keys->elements + 1));
        argvlen = ltv_realloc(argvlen, sizeof(*argvlen) * (keys->elements + 1));
        int argc = 0;
        argv[argc] = "UNLINK";
        argvlen[argc++] = 6;
        for (size_t i = 0; i < keys->elements; i++) {
            const redisReply *k = keys->element[i];
            ltv_key_kind_t kind;
            if (owner(l, k->str, k->len, &kind) != t || kind == LTV_KEY_META)
                continue;
            argv[argc] = k->str;
            argvlen[argc++] = k->len;
        }
        if (argc > 1)
            redisAppendCommandArgv(rc, argc, argv, argvlen);
        int more = strcmp(cursor, "0") != 0;
        if (more)
            scan_send(rc, cursor, match.p);
        if (argc > 1) {
            redisReply *r = get(rc);
            if (!r || r->type != REDIS_REPLY_INTEGER) {
                rc_ = reply_fail(l, rc, r, "UNLINK");
                freeReplyObject(page);
                break;
            }
            *deleted += r->integer;
            freeReplyObject(r);
        }
        freeReplyObject(page);
        if (!more)
            break;
    }
    if (!rc_) {
        redisReply *r = redisCommand(rc, "UNLINK %b", marker.p, marker.n);
        if (!r || r->type != REDIS_REPLY_INTEGER)
            rc_ = reply_fail(l, rc, r, "UNLINK");
        else
            *deleted += r->integer;
        if (r && !rc_)
            freeReplyObject(r);
    }
    free(argv);
    free(argvlen);
    ltv_buf_free(&match);
    ltv_buf_free(&marker);
    return rc_;
}

static int ns_drop(redisContext *rc, const char *name, const char *confirm, int force,
                   int64_t min_idle_s) {
    nslist_t l = {0};
    int rc_ = 1, t = -1;
    if (find_namespaces(&l, rc))
        goto err;
    for (int i = 0; i < l.n; i++)
        if (!strcmp(l.v[i].name, name))
            t = i;
    if (t < 0) {
        snprintf(l.err, sizeof(l.err), "no namespace %s in Redis (no %s:meta)", name, name);
        goto err;
    }
    if (read_details(&l, rc) || count_keys(&l, rc, t))
        goto err;
    nsinfo_t *ns = &l.v[t];
    int64_t idle_ms = ns->last_commit == INT64_MIN ? INT64_MAX : ltv_now_ms() - ns->last_commit;
    if (!force && ns->clients) {
        ltv_buf_t cname;
        ltv_buf_init(&cname);
        ltv_store_client_name(name, &cname);
        snprintf(l.err, sizeof(l.err),
                 "namespace %s is in use: %d Redis connection%s named %s (a running stage); "
                 "stop it first, or --force",
                 name, ns->clients, ns->clients == 1 ? "" : "s", cname.p);
        ltv_buf_free(&cname);
        goto err;
    }
    if (!force && idle_ms < min_idle_s * 1000) {
        snprintf(l.err, sizeof(l.err),
                 "namespace %s committed data %lld s ago, less than --min-idle %lld s: a stage "
                 "may still be using it; wait, or --force",
                 name, (long long)(idle_ms / 1000), (long long)min_idle_s);
        goto err;
    }
    if (!confirm && !isatty(0)) {
        snprintf(l.err, sizeof(l.err),
                 "not on a terminal, so the name cannot be asked for: give --confirm %s; "
                 "nothing dropped",
                 name);
        rc_ = 2;
        goto err;
    }
    if (!confirmed(ns, confirm)) {
        snprintf(l.err, sizeof(l.err), "the confirmation is not \"%s\": nothing dropped", name);
        rc_ = 2;
        goto err;
    }
    char what[512];
    describe(ns, what, sizeof(what));
    int64_t deleted;
    if (unlink_all(&l, rc, t, &deleted))
        goto err;
    printf("dropped namespace %s: %s\n", name, what);
    /* Keys written while we deleted (a stage running, with --force) are
     * still there: say so rather than claim a clean drop. */
    if (count_keys(&l, rc, t))
        goto err;
    if (l.v[t].keys) {
        printf("%lld keys of %s were written during the drop (a stage is running?); "
               "run the drop again\n",
               (long long)l.v[t].keys, name);
        nslist_free(&l);
        return 1;
    }
    nslist_free(&l);
    return 0;

err:
    fprintf(stderr, "ltvstream ns drop: %s\n", l.err);
    nslist_free(&l);
    return rc_;
}

int ltv_ns_main(int argc, char **argv) {
    if (argc < 2 || (strcmp(argv[1], "list") && strcmp(argv[1], "drop"))) {
        if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
            ns_usage(stdout);
            return 0;
        }
        ns_usage(stderr);
        return 2;
    }
    int drop = !strcmp(argv[1], "drop");
    const char *name = NULL, *confirm = NULL, *min_idle = NULL;
    int force = 0;
    const ltv_cli_opt_t opts[] = {{"--namespace", &name, NULL, 0},
                                  {"--confirm", &confirm, NULL, 0},
                                  {"--min-idle", &min_idle, NULL, 0},
                                  {"--force", NULL, &force, 1},
                                  {NULL, NULL, NULL, 0}};
    const ltv_cli_opt_t none[] = {{NULL, NULL, NULL, 0}};
    ltv_conf_t *conf = ltv_conf_new();
    long long idle_s = 0;
    int rc = ltv_cli_parse("ns", argc - 1, argv + 1, drop ? opts : none, ns_usage, conf);
    if (!rc)
        rc = ltv_cli_int("ns drop", "--min-idle", min_idle, 0, INT64_MAX / 1000, 600, &idle_s);
    if (!rc && drop && (!name || !*name)) {
        fprintf(stderr, "ltvstream ns drop: --namespace is required\n");
        rc = 2;
    }
    if (rc) {
        ltv_conf_destroy(conf);
        return rc;
    }
    ltv_log_setup((int)conf->log_level, conf->log_json);
    char err[512];
    redisContext *redis = ltv_redis_open(conf, err, sizeof(err));
    if (!redis) {
        fprintf(stderr, "ltvstream ns: %s\n", err);
        ltv_conf_destroy(conf);
        return 1;
    }
    rc = drop ? ns_drop(redis, name, confirm, force, idle_s) : ns_list(redis);
    redisFree(redis);
    ltv_conf_destroy(conf);
    return rc;
}
