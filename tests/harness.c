#include "harness.h"
#include "decode.h"
#include "gen.h"
#include "encode.h"
#include "customer.h"
#include "http_get.h"
#include "store.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <librdkafka/rdkafka.h>

static int log_seq;
/* Which log file each stage started by h_stage_start writes. */
static struct {
    pid_t pid;
    char path[400];
} stage_logs[128];
static int nstage_logs;

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fail_msg("harness failure");
}

static void write_file(const char *path, const char *text) {
    FILE *fp = fopen(path, "w");
    if (!fp)
        die("cannot write %s", path);
    fputs(text, fp);
    fclose(fp);
}

static void redis_connect(h_env_t *h);

h_env_t *h_start(int partitions, int redis_aof) { return h_start_n(partitions, redis_aof, 1); }

h_env_t *h_start_n(int partitions, int redis_aof, int brokers) {
    h_env_t *h = ltv_calloc(1, sizeof(*h));
    char err[512];
    snprintf(h->dir, sizeof(h->dir), "/tmp/ltvstream-it-XXXXXX");
    if (!mkdtemp(h->dir))
        die("mkdtemp: %s", strerror(errno));
    snprintf(h->schema_dir, sizeof(h->schema_dir), "%s/schemas", h->dir);
    mkdir(h->schema_dir, 0755);
    char path[400];
    snprintf(path, sizeof(path), "%s/1.avsc", h->schema_dir);
    write_file(path, ltv_reader_schema_json(LTV_EV_PURCHASE));
    snprintf(path, sizeof(path), "%s/2.avsc", h->schema_dir);
    write_file(path, ltv_reader_schema_json(LTV_EV_VISIT));

    h->partitions = partitions;
    h->redis_aof = redis_aof;
    h->mock = ltv_mock_start(brokers, err, sizeof(err));
    if (!h->mock)
        die("mock: %s", err);
    ltv_mock_topic(h->mock, "ltv.purchases", partitions);
    ltv_mock_topic(h->mock, "ltv.visits", partitions);
    char rdir[300];
    snprintf(rdir, sizeof(rdir), "%s/redis", h->dir);
    h->redis = ltv_redis_start(rdir, 0, redis_aof, err, sizeof(err));
    if (!h->redis)
        die("redis: %s", err);
    redis_connect(h);
    return h;
}

static void redis_connect(h_env_t *h) {
    struct timeval tv = {5, 0};
    h->rc = redisConnectWithTimeout("127.0.0.1", h->redis->port, tv);
    if (!h->rc || h->rc->err)
        die("redis connect");
}

void h_redis_kill(h_env_t *h, int sig) {
    if (h->rc)
        redisFree(h->rc);
    h->rc = NULL;
    ltv_redis_kill(h->redis, sig);
}

void h_redis_restart(h_env_t *h) {
    char err[512];
    if (ltv_redis_restart(h->redis, h->redis_aof, err, sizeof(err)))
        die("redis restart: %s", err);
    redis_connect(h);
}

int64_t h_gen(h_env_t *h, int customers, int days, uint64_t seed) {
    return h_gen_from(h, customers, 0, days, seed);
}

int64_t h_gen_from(h_env_t *h, int customers, int start_day, int days, uint64_t seed) {
    int64_t before = h_input_end(h);
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    o.start_ms += (int64_t)start_day * LTV_DAY_MS;
    o.brokers = h->mock->bootstraps;
    o.customers = customers;
    o.days = days;
    o.seed = seed;
    o.quiet = 1;
    o.schema_dir = NULL; /* h_start wrote ids 1 and 2 */
    char err[256];
    ltv_gen_stats_t gs;
    if (ltv_gen_run(&o, &gs, err, sizeof(err)))
        die("gen: %s", err);
    int64_t total = h_input_end(h);
    if (total != before + gs.total)
        die("gen produced %lld messages, the topics hold %lld more", (long long)gs.total,
            (long long)(total - before));
    return total;
}

void h_stop(h_env_t *h) {
    if (!h)
        return;
    /* Stages a failed test left running (waitpid only reports our own
     * children that have not been reaped yet). */
    for (int i = 0; i < nstage_logs; i++) {
        int st;
        if (waitpid(stage_logs[i].pid, &st, WNOHANG) == 0) {
            kill(stage_logs[i].pid, SIGKILL);
            waitpid(stage_logs[i].pid, &st, 0);
        }
    }
    if (h->rc)
        redisFree(h->rc);
    ltv_redis_stop(h->redis);
    ltv_mock_stop(h->mock);
    if (!getenv("LTV_KEEP_TEST_DIR")) {
        char cmd[400];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", h->dir);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", h->dir);
    }
    free(h);
}

static rd_kafka_t *producer(h_env_t *h) {
    char tmp[256];
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    rd_kafka_conf_set(kc, "bootstrap.servers", h->mock->bootstraps, tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "enable.idempotence", "true", tmp, sizeof(tmp));
    rd_kafka_conf_set(kc, "linger.ms", "5", tmp, sizeof(tmp));
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, tmp, sizeof(tmp));
    if (!rk)
        die("producer: %s", tmp);
    return rk;
}

static void produce_one(rd_kafka_t *rk, const char *topic, const char *key, const void *buf,
                        size_t len) {
    rd_kafka_resp_err_t e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, key ? strlen(key) : 0),
        RD_KAFKA_V_VALUE((void *)buf, len), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
        RD_KAFKA_V_END);
    if (e)
        die("produce: %s", rd_kafka_err2str(e));
}

static void finish(rd_kafka_t *rk) {
    rd_kafka_flush(rk, 30000);
    if (rd_kafka_outq_len(rk))
        die("undelivered test messages");
    rd_kafka_destroy(rk);
}

void h_produce(h_env_t *h, const ltv_event_t *evs, int n) {
    h_produce_ids(h, evs, n, 1, NULL, 2, NULL);
}

void h_produce_ids(h_env_t *h, const ltv_event_t *evs, int n, int32_t purchase_id,
                   const char *purchase_writer, int32_t visit_id, const char *visit_writer) {
    char err[256];
    ltv_encoder_t *ep = ltv_encoder_new(LTV_EV_PURCHASE, LTV_FRAMING_CONFLUENT, purchase_id,
                                        purchase_writer, err, sizeof(err));
    ltv_encoder_t *evv = ltv_encoder_new(LTV_EV_VISIT, LTV_FRAMING_CONFLUENT, visit_id,
                                         visit_writer, err, sizeof(err));
    /* Ad spend in single-object encoding: the stage knows our schema by
     * its fingerprint, no schema id needed. */
    ltv_encoder_t *es =
        ltv_encoder_new(LTV_EV_AD_SPEND, LTV_FRAMING_SINGLE_OBJECT, 0, NULL, err, sizeof(err));
    if (!ep || !evv || !es)
        die("encoder: %s", err);
    rd_kafka_t *rk = producer(h);
    ltv_buf_t b;
    ltv_buf_init(&b);
    for (int i = 0; i < n; i++) {
        const ltv_event_t *ev = &evs[i];
        ltv_encoder_t *enc = ev->kind == LTV_EV_PURCHASE   ? ep
                             : ev->kind == LTV_EV_AD_SPEND ? es
                                                           : evv;
        if (ltv_encode(enc, ev, &b))
            die("encode");
        const char *key = ev->kind == LTV_EV_AD_SPEND ? ev->campaign.p
                          : ev->customer_id.p           ? ev->customer_id.p
                                                        : ev->visitor_id.p;
        produce_one(rk,
                    ev->kind == LTV_EV_PURCHASE   ? "ltv.purchases"
                    : ev->kind == LTV_EV_AD_SPEND ? "ltv.ad_spend"
                                                  : "ltv.visits",
                    key, b.p, b.n);
    }
    finish(rk);
    ltv_buf_free(&b);
    ltv_encoder_destroy(ep);
    ltv_encoder_destroy(evv);
    ltv_encoder_destroy(es);
}

void h_produce_raw(h_env_t *h, const char *topic, const char *key, const void *buf, size_t len) {
    rd_kafka_t *rk = producer(h);
    produce_one(rk, topic, key, buf, len);
    finish(rk);
}

pid_t h_stage_start(h_env_t *h, const char *ns, const char *const *extra) {
    const char *run[] = {"run", NULL};
    return h_cmd_start(h, run, ns, extra);
}

pid_t h_cmd_start(h_env_t *h, const char *const *cmd, const char *ns, const char *const *extra) {
    const char *argv[80];
    int n = 0;
    static char opts[16][320];
    int k = 0;
    argv[n++] = LTV_BINARY;
    for (int i = 0; cmd[i] && n < 16; i++)
        argv[n++] = cmd[i];
    argv[n++] = "-b";
    argv[n++] = h->mock->bootstraps;
#define OPT(...)                                                                              \
    do {                                                                                      \
        snprintf(opts[k], sizeof(opts[k]), __VA_ARGS__);                                      \
        argv[n++] = "-X";                                                                     \
        argv[n++] = opts[k++];                                                                \
    } while (0)
    OPT("redis.port=%d", h->redis->port);
    OPT("namespace=%s", ns);
    OPT("kafka.group.id=%s", ns);
    OPT("schema.dir=%s", h->schema_dir);
    OPT("kafka.log_level=3");
    /* librdkafka 2.0.2's mock coordinator keeps a member that left until its
     * session times out, so a restarted stage waits that long to be
     * assigned; a short session keeps restart tests quick. */
    OPT("kafka.session.timeout.ms=6000");
    OPT("kafka.heartbeat.interval.ms=500");
    /* Several stages run at once (and tests in parallel): none takes the
     * default metrics port; a test wanting the endpoint passes its own. */
    OPT("metrics.port=0");
#undef OPT
    for (int i = 0; extra && extra[i] && n < 76; i++) {
        argv[n++] = "-X";
        argv[n++] = extra[i];
    }
    argv[n] = NULL;
    char log[400];
    snprintf(log, sizeof(log), "%s/%s.%d.log", h->dir, ns, log_seq++);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid > 0 && nstage_logs < (int)(sizeof(stage_logs) / sizeof(stage_logs[0]))) {
        stage_logs[nstage_logs].pid = pid;
        snprintf(stage_logs[nstage_logs].path, sizeof(stage_logs[nstage_logs].path), "%s", log);
        nstage_logs++;
    }
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        /* Not the test's terminal: a command that would prompt there
         * (ns drop) must behave as it does in a script. */
        fd = open("/dev/null", O_RDONLY);
        if (fd >= 0) {
            dup2(fd, 0);
            close(fd);
        }
        execv(LTV_BINARY, (char *const *)argv);
        _exit(127);
    }
    return pid;
}

const char *h_stage_log(pid_t pid) {
    for (int i = nstage_logs - 1; i >= 0; i--)
        if (stage_logs[i].pid == pid)
            return stage_logs[i].path;
    die("no stage with pid %d", (int)pid);
    return "";
}

int64_t h_stat_i64(const char *path, const char *name) {
    char *js = h_slurp(path);
    if (!js)
        fail_msg("no stats file %s", path);
    char v[64];
    int absent = ltv_json_field(js, name, v, sizeof(v));
    free(js);
    if (absent)
        fail_msg("%s has no %s", path, name);
    return strtoll(v, NULL, 10);
}

char *h_slurp(const char *path) {
    FILE *fp = fopen(path, "r");
    if (!fp)
        return NULL;
    ltv_buf_t b;
    ltv_buf_init(&b);
    char tmp[4096];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), fp)) > 0)
        ltv_buf_append(&b, tmp, n);
    fclose(fp);
    if (!b.p)
        ltv_buf_puts(&b, "");
    return b.p;
}

int h_log_contains(pid_t pid, const char *what) {
    char *s = h_slurp(h_stage_log(pid));
    int r = s && strstr(s, what) != NULL;
    free(s);
    return r;
}

void h_sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int h_stage_wait(pid_t pid, int timeout_ms) {
    int64_t deadline = ltv_mono_us() + (int64_t)timeout_ms * 1000;
    for (;;) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        if (ltv_mono_us() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        struct timespec ts = {0, 20000000};
        nanosleep(&ts, NULL);
    }
}

void h_stage_run_to_end(h_env_t *h, const char *ns, const char *const *extra) {
    const char *x[40];
    int n = 0;
    x[n++] = "run.stop.at.end=true";
    for (int i = 0; extra && extra[i] && n < 38; i++)
        x[n++] = extra[i];
    x[n] = NULL;
    pid_t pid = h_stage_start(h, ns, x);
    int rc = h_stage_wait(pid, 120000);
    if (rc != 0)
        die("stage for namespace %s exited with %d (logs in %s; set LTV_KEEP_TEST_DIR=1 to "
            "keep them)",
            ns, rc, h->dir);
}

void h_stage_drain(h_env_t *h, const char *ns, const char *const *extra) {
    const char *x[40];
    int n = 0;
    for (int i = 0; extra && extra[i] && n < 38; i++)
        x[n++] = extra[i];
    char group[300];
    snprintf(group, sizeof(group), "kafka.group.id=%s.drain", ns);
    x[n++] = group; /* after the others: it wins */
    x[n] = NULL;
    h_stage_run_to_end(h, ns, x);
}

int64_t h_input_end(h_env_t *h) {
    rd_kafka_t *rk = producer(h);
    int64_t sum = 0;
    const char *topics[] = {"ltv.purchases", "ltv.visits"};
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < h->partitions; p++) {
            int64_t lo, hi;
            if (rd_kafka_query_watermark_offsets(rk, topics[t], p, &lo, &hi, 10000))
                die("watermarks");
            sum += hi;
        }
    rd_kafka_destroy(rk);
    return sum;
}

int64_t h_stored_offsets(h_env_t *h, const char *ns) {
    int64_t sum = 0;
    const char *topics[] = {"ltv.purchases", "ltv.visits"};
    for (int t = 0; t < 2; t++)
        for (int p = 0; p < h->partitions; p++) {
            char key[256];
            snprintf(key, sizeof(key), "%s:off:%s:%d", ns, topics[t], p);
            int64_t v = h_hget_i64(h, key, "next");
            if (v > 0)
                sum += v;
        }
    return sum;
}

int64_t h_wait_stored(h_env_t *h, const char *ns, int64_t at_least, int timeout_ms) {
    int64_t deadline = ltv_mono_us() + (int64_t)timeout_ms * 1000;
    int64_t v;
    while ((v = h_stored_offsets(h, ns)) < at_least) {
        if (ltv_mono_us() > deadline)
            die("namespace %s stored %lld offsets, not %lld, within %d ms (logs in %s)", ns,
                (long long)v, (long long)at_least, timeout_ms, h->dir);
        h_sleep_ms(5);
    }
    return v;
}

int64_t h_hlen(h_env_t *h, const char *key) {
    if (!h->rc)
        die("redis is down (h_redis_kill without h_redis_restart)");
    redisReply *r = redisCommand(h->rc, "HLEN %s", key);
    if (!r)
        die("redis HLEN failed");
    int64_t n = r->type == REDIS_REPLY_INTEGER ? r->integer : -1;
    freeReplyObject(r);
    return n;
}

void h_wait_settled(h_env_t *h, const char *ns, int64_t offsets, int64_t wm, int timeout_ms,
                    const char *what) {
    char clock[128], emitq[128];
    snprintf(clock, sizeof(clock), "%s:clock", ns);
    snprintf(emitq, sizeof(emitq), "%s:emitq", ns);
    int64_t deadline = ltv_mono_us() + (int64_t)timeout_ms * 1000;
    while (h_stored_offsets(h, ns) != offsets || h_hget_i64(h, clock, "watermark") != wm ||
           h_hlen(h, emitq) != 0) {
        if (ltv_mono_us() > deadline)
            fail_msg("%s: offsets %lld of %lld, watermark %lld (want %lld), emitq %lld "
                     "(logs in %s)",
                     what, (long long)h_stored_offsets(h, ns), (long long)offsets,
                     (long long)h_hget_i64(h, clock, "watermark"), (long long)wm,
                     (long long)h_hlen(h, emitq), h->dir);
        h_sleep_ms(20);
    }
}

typedef struct msgs_s {
    h_msg_t *v;
    int n, cap;
} msgs_t;

static void keep_msg(const rd_kafka_message_t *m, void *opaque) {
    msgs_t *c = opaque;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->v = ltv_realloc(c->v, sizeof(*c->v) * (size_t)c->cap);
    }
    h_msg_t *x = &c->v[c->n++];
    x->keylen = m->key_len;
    x->key = ltv_strndup(m->key ? (const char *)m->key : "", m->key_len);
    x->len = m->len;
    x->val = ltv_malloc(m->len + 1);
    if (m->len)
        memcpy(x->val, m->payload, m->len);
    x->val[m->len] = '\0';
    x->partition = m->partition;
    x->offset = m->offset;
    x->timestamp = rd_kafka_message_timestamp(m, NULL);
    rd_kafka_headers_t *hd = NULL;
    x->headers = rd_kafka_message_headers(m, &hd) == 0 ? rd_kafka_headers_copy(hd) : NULL;
}

int h_read_topic(h_env_t *h, const char *topic, h_msg_t **out) {
    char err[512];
    msgs_t c = {NULL, 0, 0};
    int rc = ltv_topic_read(h->mock->bootstraps, topic, 30000, keep_msg, &c, err, sizeof(err));
    if (rc < 0)
        fail_msg("%s", err);
    *out = c.v;
    return c.n;
}

void h_msgs_free(h_msg_t *v, int n) {
    for (int i = 0; i < n; i++) {
        free(v[i].key);
        free(v[i].val);
        if (v[i].headers)
            rd_kafka_headers_destroy(v[i].headers);
    }
    free(v);
}

/* ---- customers, by their former key ---------------------------------------
 * Customers are stored as compact values in bucket hashes (store.h); tests
 * name one by its readable key "<ns>:c:{<id>}" ("<ns>:v:{<id>}" for a
 * visitor) and read its fields through the customer's field view. */

typedef struct view_find_s {
    const char *field;
    char *v;
} view_find_t;

static void view_find(void *op, const char *field, const char *v, size_t vlen) {
    view_find_t *f = op;
    if (!f->v && !strcmp(field, f->field))
        f->v = ltv_strndup(v, vlen);
}

/* Splits "<ns>:c:{<id>}" (":v:{" a visitor, ":s:{" an ad spend entity);
 * returns 0 if key is not a customer key. */
static int customer_key(const char *key, char *ns, size_t nssz, ltv_entity_t *kind,
                        const char **id, size_t *idlen) {
    const char *m = strstr(key, ":c:{");
    if (!m)
        m = strstr(key, ":v:{");
    if (!m)
        m = strstr(key, ":s:{");
    size_t kl = strlen(key);
    if (!m || kl < 1 || key[kl - 1] != '}' || (size_t)(m - key) >= nssz)
        return 0;
    snprintf(ns, nssz, "%.*s", (int)(m - key), key);
    *kind = (ltv_entity_t)m[1]; /* the entity's letter (ltv_store_customer_loc) */
    *id = m + 4;
    *idlen = (size_t)(key + kl - 1 - *id);
    return 1;
}

/* Decodes one stored customer value and calls cb for its field view. */
static void view_value(const char *id, size_t idlen, ltv_entity_t kind, const char *v,
                       size_t vlen, void (*cb)(void *, const char *, const char *, size_t),
                       void *op) {
    const char *seg;
    size_t seglen;
    ltv_customer_t *c = ltv_customer_decode(kind, id, idlen, v, vlen, &seg, &seglen);
    if (!c)
        die("customer %.*s: unreadable stored value", (int)idlen, id);
    char *segname = ltv_strndup(seg ? seg : "", seglen);
    ltv_customer_view(c, segname, cb, op);
    free(segname);
    ltv_customer_destroy(c);
}

/* The stored value of a customer, or NULL if absent. */
static redisReply *customer_value(h_env_t *h, const char *ns, ltv_entity_t kind, const char *id,
                                  size_t idlen) {
    ltv_buf_t k, f;
    ltv_buf_init(&k);
    ltv_buf_init(&f);
    ltv_store_customer_loc(ns, kind, id, idlen, &k, &f);
    redisReply *r = redisCommand(h->rc, "HGET %b %b", k.p, k.n, f.p, f.n);
    ltv_buf_free(&k);
    ltv_buf_free(&f);
    if (!r)
        die("redis HGET failed");
    if (r->type != REDIS_REPLY_STRING) {
        freeReplyObject(r);
        return NULL;
    }
    return r;
}

char *h_hget(h_env_t *h, const char *key, const char *field) {
    if (!h->rc)
        die("redis is down (h_redis_kill without h_redis_restart)");
    ltv_entity_t kind;
    const char *id;
    size_t idlen;
    char ns[128];
    if (customer_key(key, ns, sizeof(ns), &kind, &id, &idlen)) {
        redisReply *r = customer_value(h, ns, kind, id, idlen);
        if (!r)
            return NULL;
        view_find_t vf = {field, NULL};
        view_value(id, idlen, kind, r->str, r->len, view_find, &vf);
        freeReplyObject(r);
        return vf.v;
    }
    redisReply *r = redisCommand(h->rc, "HGET %s %s", key, field);
    if (!r)
        die("redis HGET failed");
    char *v = r->type == REDIS_REPLY_STRING ? ltv_strndup(r->str, r->len) : NULL;
    freeReplyObject(r);
    return v;
}

int64_t h_hget_i64(h_env_t *h, const char *key, const char *field) {
    char *v = h_hget(h, key, field);
    int64_t x = v ? strtoll(v, NULL, 10) : INT64_MIN;
    free(v);
    return x;
}

int h_exists(h_env_t *h, const char *key) {
    if (!h->rc)
        die("redis is down (h_redis_kill without h_redis_restart)");
    ltv_entity_t kind;
    const char *id;
    size_t idlen;
    char ns[128];
    if (customer_key(key, ns, sizeof(ns), &kind, &id, &idlen)) {
        redisReply *r = customer_value(h, ns, kind, id, idlen);
        if (r)
            freeReplyObject(r);
        return r != NULL;
    }
    redisReply *r = redisCommand(h->rc, "EXISTS %s", key);
    int e = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
    if (r)
        freeReplyObject(r);
    return e;
}

int h_customer_keys(h_env_t *h, const char *ns, char ***keys) {
    int n = 0, cap = 0;
    *keys = NULL;
    for (int b = 0; b < LTV_CUSTOMER_BUCKETS; b++) {
        redisReply *r = redisCommand(h->rc, "HKEYS %s:cs:%d", ns, b);
        if (!r || r->type != REDIS_REPLY_ARRAY)
            die("HKEYS failed");
        for (size_t i = 0; i < r->elements; i++) {
            const redisReply *f = r->element[i];
            if (f->len < 2 || f->str[0] != 'c')
                continue;
            if (n == cap) {
                cap = cap ? cap * 2 : 256;
                *keys = ltv_realloc(*keys, sizeof(char *) * (size_t)cap);
            }
            ltv_buf_t k;
            ltv_buf_init(&k);
            ltv_buf_printf(&k, "%s:c:{%.*s}", ns, (int)f->len - 2, f->str + 2);
            (*keys)[n++] = k.p;
        }
        freeReplyObject(r);
    }
    return n;
}

static int line_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

typedef struct dump_s {
    char ***lines;
    size_t *n, *cap;
    const char *kind_id; /* "c:{<id>}" */
} dump_t;

static void add_line(char ***lines, size_t *n, size_t *cap, char *line) {
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *lines = ltv_realloc(*lines, sizeof(**lines) * *cap);
    }
    (*lines)[(*n)++] = line;
}

static void dump_field(void *op, const char *field, const char *v, size_t vlen) {
    dump_t *d = op;
    if (!strcmp(field, "rfm_version") || !strcmp(field, "rfm_wm"))
        return; /* count and time emissions, which differ with batching */
    if (vlen == 0 || (vlen == 1 && v[0] == '0'))
        return;
    ltv_buf_t b;
    ltv_buf_init(&b);
    ltv_buf_printf(&b, ":%s %s %.*s", d->kind_id, field, (int)vlen, v);
    add_line(d->lines, d->n, d->cap, b.p);
}

/* A bucket of customers, dumped as the customers' field views, one line a
 * field, under the readable key ":c:{<id>}" (":v:{" visitors, ":s:{" ad
 * spend entities). */
static void dump_customers(h_env_t *h, const char *key, size_t nslen, char ***lines, size_t *n,
                           size_t *cap) {
    (void)nslen;
    redisReply *hv = redisCommand(h->rc, "HGETALL %s", key);
    if (!hv || hv->type != REDIS_REPLY_ARRAY)
        die("reading %s", key);
    for (size_t k = 0; k + 1 < hv->elements; k += 2) {
        const redisReply *f = hv->element[k], *v = hv->element[k + 1];
        if (f->len < 2)
            die("%s: field %s is not a customer", key, f->str);
        ltv_buf_t kid;
        ltv_buf_init(&kid);
        ltv_buf_printf(&kid, "%c:{%.*s}", f->str[0], (int)f->len - 2, f->str + 2);
        dump_t d = {lines, n, cap, kid.p};
        view_value(f->str + 2, f->len - 2, (ltv_entity_t)f->str[0], v->str, v->len, dump_field,
                   &d);
        ltv_buf_free(&kid);
    }
    freeReplyObject(hv);
}

char *h_dump_ns(h_env_t *h, const char *ns) {
    char **lines = NULL;
    size_t n = 0, cap = 0;
    size_t nslen = strlen(ns);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(h->rc, "SCAN %s MATCH %s:* COUNT 1000", cursor, ns);
        if (!r || r->type != REDIS_REPLY_ARRAY)
            die("SCAN failed");
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        redisReply *keys = r->element[1];
        for (size_t i = 0; i < keys->elements; i++) {
            const char *key = keys->element[i]->str;
            /* Transient bookkeeping: what is still to be emitted or
             * finalized, and each partition's wall-clock activity. And the
             * counts of lifecycle triggers fired: the occasions settled
             * (customer state) are the same, but whether one fired can
             * depend on whether an event later than the watermark arrived
             * before it fell due (and on lifecycle.emit: suppressed). */
            if (!strcmp(key + nslen, ":emitq") || !strcmp(key + nslen, ":finalq") ||
                !strcmp(key + nslen, ":clock") || !strcmp(key + nslen, ":runend") ||
                !strcmp(key + nslen, ":lifecycle"))
                continue;
            if (!strncmp(key + nslen, ":cs:", 4)) {
                dump_customers(h, key, nslen, &lines, &n, &cap);
                continue;
            }
            redisReply *ty = redisCommand(h->rc, "TYPE %s", key);
            int is_zset = ty && ty->type == REDIS_REPLY_STATUS && !strcmp(ty->str, "zset");
            if (ty)
                freeReplyObject(ty);
            redisReply *hv = is_zset ? redisCommand(h->rc, "ZRANGE %s 0 -1 WITHSCORES", key)
                                     : redisCommand(h->rc, "HGETALL %s", key);
            if (!hv || hv->type != REDIS_REPLY_ARRAY)
                die("reading %s", key);
            for (size_t k = 0; k + 1 < hv->elements; k += 2) {
                const char *f = hv->element[k]->str;
                if ((!strcmp(f, "version") && !strncmp(key + nslen, ":row:", 5)) ||
                    !strcmp(f, "rfm_version"))
                    continue; /* count emissions, which differ with batching */
                if ((!strcmp(f, "wm") && !strncmp(key + nslen, ":row:", 5)) ||
                    !strcmp(f, "rfm_wm"))
                    continue; /* the clock at the last emission: batching again */
                /* A counter that went +1 and -1 in different batches is
                 * stored as 0; one that did so within a batch was never
                 * written. Both mean zero. */
                const redisReply *v = hv->element[k + 1];
                if (v->len == 0 || (v->len == 1 && v->str[0] == '0'))
                    continue;
                ltv_buf_t b;
                ltv_buf_init(&b);
                ltv_buf_printf(&b, "%s %s %.*s", key + nslen, f, (int)hv->element[k + 1]->len,
                               hv->element[k + 1]->str);
                add_line(&lines, &n, &cap, b.p);
            }
            freeReplyObject(hv);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    qsort(lines, n, sizeof(*lines), line_cmp);
    ltv_buf_t out;
    ltv_buf_init(&out);
    for (size_t i = 0; i < n; i++) {
        ltv_buf_puts(&out, lines[i]);
        ltv_buf_putc(&out, '\n');
        free(lines[i]);
    }
    free(lines);
    if (!out.p)
        ltv_buf_puts(&out, "");
    return out.p;
}

void h_read_table(h_env_t *h, const char *topic, ltv_table_t *t) {
    char err[256];
    if (ltv_table_read(h->mock->bootstraps, topic, t, err, sizeof(err)))
        die("read %s: %s", topic, err);
}

int h_row_is_empty(const char *json) {
    /* Every integer member other than version is 0. */
    const char *p = json;
    while ((p = strchr(p, ':'))) {
        p++;
        if (*p == '"' || *p == 't' || *p == 'f' || *p == 'n' || *p == '{')
            continue;
        const char *e = p;
        while (*e && *e != ',' && *e != '}')
            e++;
        if (memchr(p, '.', (size_t)(e - p)))
            continue; /* a rate */
        /* find the member name before p */
        const char *q = p - 2;
        while (q > json && *q != '"')
            q--;
        const char *ks = q - 1;
        while (ks > json && *ks != '"')
            ks--;
        if (q - ks - 1 == 7 && !strncmp(ks + 1, "version", 7))
            continue;
        if (strtoll(p, NULL, 10) != 0)
            return 0;
    }
    return 1;
}

char *h_row_stable(const char *json) {
    /* Drop "version", "watermark", "final" and "*_final" members. */
    ltv_buf_t b;
    ltv_buf_init(&b);
    const char *p = json;
    while (*p) {
        if (*p == '"' && (p[-1] == '{' || p[-1] == ',')) {
            const char *e = strchr(p + 1, '"');
            size_t kl = e ? (size_t)(e - p - 1) : 0;
            int drop = e && ((kl == 7 && !strncmp(p + 1, "version", 7)) ||
                             (kl == 9 && !strncmp(p + 1, "watermark", 9)) ||
                             (kl >= 5 && !strncmp(e - 5, "final", 5)));
            if (drop) {
                /* skip to the next top-level ',' or '}' */
                const char *q = e + 2;
                if (*q == '"') {
                    q++;
                    while (*q && *q != '"')
                        q++;
                    if (*q)
                        q++;
                } else {
                    while (*q && *q != ',' && *q != '}')
                        q++;
                }
                if (*q == ',')
                    q++;
                else if (b.n && b.p[b.n - 1] == ',')
                    b.n--;
                p = q;
                continue;
            }
        }
        ltv_buf_putc(&b, *p++);
    }
    return b.p;
}

int64_t h_ts(const char *iso) {
    int y, mo, d, hh = 0, mi = 0, ss = 0;
    if (sscanf(iso, "%d-%d-%dT%d:%d:%d", &y, &mo, &d, &hh, &mi, &ss) < 3)
        die("bad timestamp %s", iso);
    char day[16];
    snprintf(day, sizeof(day), "%04d-%02d-%02d", y, mo, d);
    int64_t dn;
    ltv_day_parse(day, &dn);
    return dn * LTV_DAY_MS + ((int64_t)hh * 3600 + mi * 60 + ss) * 1000;
}

ltv_event_t h_order(const char *eid, const char *cust, const char *order, const char *iso_ts,
                    int64_t amount, const char *channel, const char *campaign) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_PURCHASE;
    ev.ptype = LTV_PT_ORDER;
    ev.event_id = ltv_str_c(eid);
    ev.customer_id = ltv_str_c(cust);
    ev.order_id = ltv_str_c(order);
    ev.ts = h_ts(iso_ts);
    ev.amount = amount;
    ev.currency = ltv_str_c("USD");
    ev.channel = ltv_str_c(channel);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

ltv_event_t h_cancel(const char *eid, const char *cust, const char *order, const char *iso_ts) {
    ltv_event_t ev = h_order(eid, cust, order, iso_ts, 0, NULL, NULL);
    ev.ptype = LTV_PT_CANCEL;
    return ev;
}

ltv_event_t h_refund(const char *eid, const char *cust, const char *order, const char *iso_ts,
                     int64_t amount) {
    ltv_event_t ev = h_order(eid, cust, order, iso_ts, amount, NULL, NULL);
    ev.ptype = LTV_PT_REFUND;
    return ev;
}

ltv_event_t h_visit(const char *eid, const char *cust, const char *visitor, const char *iso_ts) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_VISIT;
    ev.event_id = ltv_str_c(eid);
    ev.customer_id = ltv_str_c(cust);
    ev.visitor_id = ltv_str_c(visitor);
    ev.ts = h_ts(iso_ts);
    ev.page = ltv_str_c("/");
    return ev;
}

ltv_event_t h_spend(const char *channel, const char *campaign, const char *day, int64_t cost) {
    ltv_event_t ev;
    memset(&ev, 0, sizeof(ev));
    ev.kind = LTV_EV_AD_SPEND;
    int64_t d = 0;
    if (ltv_day_parse(day, &d))
        die("bad day %s", day);
    ev.ts = d * LTV_DAY_MS; /* the encoder writes its UTC day */
    ev.amount = cost;
    ev.currency = ltv_str_c("USD");
    ev.channel = ltv_str_c(channel);
    ev.campaign = ltv_str_c(campaign);
    return ev;
}

void h_assert_same_dump(h_env_t *h, const char *a, const char *b, const char *what) {
    if (!strcmp(a, b))
        return;
    char pa[400], pb[400];
    snprintf(pa, sizeof(pa), "%s/%s.a.txt", h->dir, what);
    snprintf(pb, sizeof(pb), "%s/%s.b.txt", h->dir, what);
    write_file(pa, a);
    write_file(pb, b);
    /* Walk both line lists in order and print what one has and the other
     * lacks, the first few only. */
    const char *x = a, *y = b;
    int shown = 0;
    while ((*x || *y) && shown < 12) {
        const char *xe = strchr(x, '\n'), *ye = strchr(y, '\n');
        size_t xl = xe ? (size_t)(xe - x) : strlen(x), yl = ye ? (size_t)(ye - y) : strlen(y);
        int c = !*x ? 1 : !*y ? -1 : strncmp(x, y, xl < yl ? xl : yl);
        if (c == 0 && xl != yl)
            c = xl < yl ? -1 : 1;
        if (c == 0) {
            x += xl + (xe ? 1 : 0);
            y += yl + (ye ? 1 : 0);
            continue;
        }
        if (c < 0) {
            fprintf(stderr, "  only in A: %.*s\n", (int)xl, x);
            x += xl + (xe ? 1 : 0);
        } else {
            fprintf(stderr, "  only in B: %.*s\n", (int)yl, y);
            y += yl + (ye ? 1 : 0);
        }
        shown++;
    }
    fprintf(stderr, "%s differ (A: %s, B: %s; LTV_KEEP_TEST_DIR=1 keeps them)\n", what, pa, pb);
    fail_msg("%s differ", what);
}

static int64_t same_table(h_env_t *h, const char *topic_a, const char *topic_b, int last) {
    ltv_table_t ta, tb;
    h_read_table(h, topic_a, &ta);
    char err[256];
    if ((last ? ltv_table_read_last : ltv_table_read)(h->mock->bootstraps, topic_b, &tb, err,
                                                      sizeof(err)))
        die("read %s: %s", topic_b, err);
    int64_t regressions = tb.regressions;
    ltv_buf_t a, b;
    ltv_buf_init(&a);
    ltv_buf_init(&b);
    for (int pass = 0; pass < 2; pass++) {
        ltv_table_t *t = pass ? &tb : &ta;
        ltv_buf_t *o = pass ? &b : &a;
        for (int i = 0; i < t->n; i++) {
            if (h_row_is_empty(t->rows[i].json))
                continue;
            char *st = h_row_stable(t->rows[i].json);
            ltv_buf_printf(o, "%s %s\n", t->rows[i].key, st);
            free(st);
        }
    }
    if (!ta.n)
        fail_msg("%s is empty", topic_a);
    char what[256];
    snprintf(what, sizeof(what), "%s-vs-%s", topic_a, topic_b);
    h_assert_same_dump(h, a.p ? a.p : "", b.p ? b.p : "", what);
    ltv_buf_free(&a);
    ltv_buf_free(&b);
    ltv_table_free(&ta);
    ltv_table_free(&tb);
    return regressions;
}

void h_assert_same_table(h_env_t *h, const char *topic_a, const char *topic_b) {
    same_table(h, topic_a, topic_b, 0);
}

int64_t h_assert_same_table_last(h_env_t *h, const char *topic_a, const char *topic_b) {
    return same_table(h, topic_a, topic_b, 1);
}

/* The suffixes H_X_TOPICS gives the output tables, then the topics that
 * are not tables (lifecycle triggers, dead letters). */
static const char *const out_topics[] = {"f2_rate",      "f2_rolling",   "retention_mix",
                                         "rfm_segments", "customer_rfm", "acquisition",
                                         "lifecycle",    "dlq"};
#define N_TABLES 6
#define N_TOPICS ((int)(sizeof(out_topics) / sizeof(out_topics[0])))

int64_t h_assert_same_tables(h_env_t *h, const char *ref, const char *ns, int last) {
    int64_t regressions = 0;
    for (int i = 0; i < N_TABLES; i++) {
        char a[160], b[160];
        snprintf(a, sizeof(a), "%s.%s", ref, out_topics[i]);
        snprintf(b, sizeof(b), "%s.%s", ns, out_topics[i]);
        if (last)
            regressions += h_assert_same_table_last(h, a, b);
        else
            h_assert_same_table(h, a, b);
    }
    return regressions;
}

char *h_reference_run(h_env_t *h, const char *ns, int64_t total) {
    char x[N_TOPICS][160];
    const char *xs[N_TOPICS + 1];
    for (int i = 0; i < N_TOPICS; i++) {
        snprintf(x[i], sizeof(x[i]), "topic.%s=%s.%s", out_topics[i], ns, out_topics[i]);
        xs[i] = x[i];
    }
    xs[N_TOPICS] = NULL;
    h_stage_run_to_end(h, ns, xs);
    assert_int_equal(h_stored_offsets(h, ns), total);
    char *d = h_dump_ns(h, ns);
    assert_true(strlen(d) > 10000);
    return d;
}

void h_assert_alive(pid_t pid, const char *when) {
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid)
        fail_msg("the stage %s: %s %d (log %s)", when,
                 WIFSIGNALED(st) ? "killed by signal" : "exited with",
                 WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), h_stage_log(pid));
}

void h_header(rd_kafka_headers_t *hd, const char *name, char *out, size_t n) {
    const void *v;
    size_t sz;
    out[0] = '\0';
    if (hd && rd_kafka_header_get_last(hd, name, &v, &sz) == 0 && v) {
        if (sz >= n)
            sz = n - 1;
        memcpy(out, v, sz);
        out[sz] = '\0';
    }
}

/* ---- HTTP ------------------------------------------------------------------------ */

void h_http_free(h_http_res_t *r) {
    free(r->headers);
    free(r->body);
    memset(r, 0, sizeof(*r));
    r->status = -1;
}

static int tcp_connect(int port, int timeout_s) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {timeout_s, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof(a))) {
        close(fd);
        return -1;
    }
    return fd;
}

h_http_res_t h_http_get(int port, const char *path) {
    h_http_res_t r = {-1, NULL, NULL};
    ltv_buf_t b;
    ltv_buf_init(&b);
    char err[256];
    r.status = ltv_http_get("127.0.0.1", port, path, 5000, &b, err, sizeof(err));
    const char *sep = r.status >= 0 && b.p ? strstr(b.p, "\r\n\r\n") : NULL;
    if (sep) {
        r.headers = ltv_strndup(b.p, (size_t)(sep - b.p));
        r.body = ltv_strdup(sep + 4);
    } else {
        r.status = -1;
    }
    ltv_buf_free(&b);
    return r;
}

int h_http_status(int port, const char *path, char **body) {
    h_http_res_t r = h_http_get(port, path);
    int s = r.status;
    if (body)
        *body = r.body ? ltv_strdup(r.body) : NULL;
    h_http_free(&r);
    return s;
}

double h_metric_sample(const char *text, const char *series) {
    size_t n = strlen(series);
    for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        if (!strncmp(p, series, n) && p[n] == ' ')
            return strtod(p + n + 1, NULL);
    }
    return NAN;
}

/* ---- a Schema Registry ----------------------------------------------------------- */

h_registry_t *h_registry_new(h_env_t *h) {
    h_registry_t *r = ltv_calloc(1, sizeof(*r));
    snprintf(r->dir, sizeof(r->dir), "%s/registry", h->dir);
    mkdir(r->dir, 0755);
    r->port = ltv_free_port();
    snprintf(r->url, sizeof(r->url), "http://127.0.0.1:%d", r->port);
    return r;
}

void h_registry_start(h_registry_t *r) {
    if (r->pid)
        die("the registry is already running");
    char port[16], log[400];
    snprintf(port, sizeof(port), "%d", r->port);
    snprintf(log, sizeof(log), "%s/server.log", r->dir);
    r->pid = fork();
    if (r->pid < 0)
        die("fork: %s", strerror(errno));
    if (r->pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("python3", "python3", LTV_SOURCE_DIR "/tests/registry_server.py", "--port", port,
               "--dir", r->dir, (char *)NULL);
        _exit(127);
    }
    int64_t deadline = ltv_mono_us() + 10000000;
    for (;;) {
        int fd = tcp_connect(r->port, 1);
        if (fd >= 0) {
            close(fd);
            return;
        }
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            r->pid = 0;
            die("registry_server.py exited (see %s)", log);
        }
        if (ltv_mono_us() > deadline)
            die("registry_server.py did not listen on port %d within 10 s", r->port);
        h_sleep_ms(20);
    }
}

void h_registry_stop(h_registry_t *r) {
    if (!r->pid)
        return;
    int st;
    kill(r->pid, SIGKILL);
    waitpid(r->pid, &st, 0);
    r->pid = 0;
}

void h_registry_destroy(h_registry_t *r) {
    if (!r)
        return;
    h_registry_stop(r);
    free(r);
}

void h_registry_put(h_registry_t *r, int32_t id, const char *schema, const char *schema_type) {
    char path[400];
    snprintf(path, sizeof(path), "%s/%d.avsc", r->dir, (int)id);
    write_file(path, schema);
    if (schema_type) {
        snprintf(path, sizeof(path), "%s/%d.type", r->dir, (int)id);
        write_file(path, schema_type);
    }
}

void h_registry_fail(h_registry_t *r, int status) {
    char path[400], tmp[410], num[16];
    snprintf(path, sizeof(path), "%s/FAIL", r->dir);
    if (!status) {
        unlink(path);
        return;
    }
    /* Renamed into place: the server never reads a half-written file. */
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    snprintf(num, sizeof(num), "%d", status);
    write_file(tmp, num);
    if (rename(tmp, path))
        die("rename %s: %s", tmp, strerror(errno));
}

int h_registry_requests(h_registry_t *r, const char *prefix) {
    char path[400];
    snprintf(path, sizeof(path), "%s/requests.log", r->dir);
    char *log = h_slurp(path);
    int n = 0;
    size_t pl = strlen(prefix);
    for (const char *p = log; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        n += !strncmp(p, prefix, pl);
    free(log);
    return n;
}

int32_t h_registry_subject_id(h_registry_t *r, const char *subject) {
    char path[400];
    snprintf(path, sizeof(path), "%s/subjects.log", r->dir);
    char *log = h_slurp(path);
    int32_t id = -1;
    size_t sl = strlen(subject);
    for (const char *p = log; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, subject, sl) && p[sl] == ' ')
            id = (int32_t)strtol(p + sl + 1, NULL, 10);
    free(log);
    return id;
}

static int pair_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int h_lifecycle_pairs(h_env_t *h, const char *topic, int stable, char ***out) {
    h_msg_t *m;
    int n = h_read_topic(h, topic, &m), k = 0;
    char **v = calloc((size_t)(n ? n : 1), sizeof(char *));
    for (int i = 0; i < n; i++) {
        const void *occ = NULL;
        size_t on = 0;
        if (!m[i].headers || rd_kafka_header_get_last(m[i].headers, "occasion", &occ, &on))
            fail_msg("%s record %d (key %s) has no occasion header", topic, i, m[i].key);
        if (stable && !(on == 14 && !memcmp(occ, "first_purchase", 14)) &&
            !(on == 15 && !memcmp(occ, "second_purchase", 15)))
            continue;
        ltv_buf_t id;
        ltv_buf_init(&id);
        ltv_buf_printf(&id, "%s|%.*s", m[i].key, (int)on, (const char *)occ);
        v[k++] = id.p;
    }
    h_msgs_free(m, n);
    qsort(v, (size_t)k, sizeof(char *), pair_cmp);
    *out = v;
    return k;
}

void h_strs_free(char **v, int n) {
    for (int i = 0; i < n; i++)
        free(v[i]);
    free(v);
}
