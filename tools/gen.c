#include "gen.h"
#include "decode.h"
#include "encode.h"
#include "log.h"
#include "util.h"

#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <librdkafka/rdkafka.h>

/* ---- randomness -------------------------------------------------------------- */

typedef struct rng_s {
    uint64_t s;
} rng_t;

static uint64_t rnd(rng_t *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}
static double rndu(rng_t *r) { return (double)(rnd(r) >> 11) / 9007199254740992.0; }
static int64_t rndi(rng_t *r, int64_t lo, int64_t hi) {
    return lo + (int64_t)(rnd(r) % (uint64_t)(hi - lo + 1));
}
static double rnd_exp(rng_t *r, double mean) { return -mean * log(1.0 - rndu(r)); }

/* ---- the shop -------------------------------------------------------------------- */

typedef struct channel_s {
    const char *name;
    double weight;    /* share of acquisitions */
    double repeat;    /* probability of a second purchase */
    const char *campaigns[3];
} channel_t;

/* Same acquisition volume can hide very different repeat behaviour. */
static const channel_t channels[] = {
    {"google", 0.32, 0.28, {"brand", "generic", "shopping"}},
    {"meta", 0.26, 0.16, {"retarget", "lookalike", "video"}},
    {"organic", 0.18, 0.38, {NULL, NULL, NULL}},
    {"email", 0.10, 0.52, {"newsletter", "winback", "welcome"}},
    {"affiliate", 0.14, 0.20, {"partner-a", "partner-b", "coupon"}},
};
#define NCHANNELS ((int)(sizeof(channels) / sizeof(channels[0])))

static const char *pages[] = {"/", "/category/shoes", "/category/bags", "/product/1001",
                              "/product/1002", "/product/2001", "/cart", "/search",
                              "/blog/care-guide", "/checkout"};
#define NPAGES ((int)(sizeof(pages) / sizeof(pages[0])))

enum { K_PURCHASE = 1, K_VISIT = 2, K_SPEND = 3 };
enum { BAD_NONE, BAD_GARBAGE, BAD_TRUNCATED, BAD_NEG_AMOUNT, BAD_NO_CUSTOMER, BAD_FUTURE,
       BAD_SCHEMA_ID, BAD__N };

typedef struct gev_s {
    int64_t arrival;
    int64_t ts;
    int64_t amount;
    uint32_t cust;
    uint32_t seq;   /* order number of the customer, or visit number */
    uint32_t uniq;  /* tie-break for a stable order */
    uint8_t kind, ptype, anon, channel, campaign, page, bad, dup, signup;
} gev_t;

typedef struct vec_s {
    gev_t *v;
    size_t n, cap;
} vec_t;

static gev_t *push(vec_t *v) {
    if (v->n == v->cap) {
        v->cap = v->cap ? v->cap * 2 : 65536;
        v->v = ltv_realloc(v->v, sizeof(*v->v) * v->cap);
    }
    gev_t *g = &v->v[v->n++];
    memset(g, 0, sizeof(*g));
    g->uniq = (uint32_t)v->n;
    return g;
}

static int cmp_arrival(const void *pa, const void *pb) {
    const gev_t *a = pa, *b = pb;
    if (a->arrival != b->arrival)
        return a->arrival < b->arrival ? -1 : 1;
    return (a->uniq > b->uniq) - (a->uniq < b->uniq);
}

void ltv_gen_defaults(ltv_gen_opts_t *o) {
    memset(o, 0, sizeof(*o));
    o->topic_purchases = "ltv.purchases";
    o->topic_visits = "ltv.visits";
    o->customers = 10000;
    o->buyer_share = 0.5;
    o->days = 90;
    ltv_day_parse("2025-01-01", &o->start_ms);
    o->start_ms *= LTV_DAY_MS;
    o->visits_per_purchase = 10;
    o->anon_share = 0.15;
    o->dup_rate = 0.02;
    o->late_rate = 0.02;
    o->bad_rate = 0.001;
    o->cancel_rate = 0.03;
    o->refund_rate = 0.04;
    o->late_max_ms = 3 * LTV_DAY_MS;
    o->framing = LTV_FRAMING_CONFLUENT;
    o->purchase_schema_id = 1;
    o->visit_schema_id = 2;
    o->ad_spend_schema_id = 3;
    o->seed = 42;
}

/* Whether a customer signs up on their first visit: about `pct` percent
 * of customers, chosen by a hash of the id rather than the random stream,
 * so the rest of a seed's stream is what it was before sign-ups existed. */
static int signs_up(uint32_t cust, int pct) {
    return (int)((((uint64_t)cust * 2654435761ULL) >> 11) % 100) < pct;
}

/* One browsing session of a few page views within minutes. A known
 * customer's very first page view may be their sign-up (signup_pct: buyers
 * sign up more often than browsers). */
static void session(vec_t *v, rng_t *r, uint32_t cust, int anon, int64_t start, int views,
                    uint32_t *vseq, int signup_pct) {
    int64_t t = start;
    for (int i = 0; i < views; i++) {
        gev_t *g = push(v);
        g->kind = K_VISIT;
        g->cust = cust;
        g->anon = (uint8_t)anon;
        g->signup = (uint8_t)(!anon && *vseq == 0 && signs_up(cust, signup_pct));
        g->seq = (*vseq)++;
        g->ts = t;
        g->page = (uint8_t)rndi(r, 0, NPAGES - 1);
        g->arrival = t;
        t += rndi(r, 10, 240) * 1000;
    }
}

/* What an acquisition costs on a paid channel, in cents, and what a
 * running campaign spends a day even when it acquires nobody. Organic
 * traffic costs nothing; email little. */
static const int64_t channel_cpa[] = {4500, 3800, 0, 400, 2500};
#define CAMPAIGN_BASE_DAILY 1500

/* A deterministic +-20% around 1, from the cell, not the random stream. */
static double spend_noise(int64_t day, int ch, int camp) {
    uint64_t h = ((uint64_t)day * 1000003ULL + (uint64_t)ch * 7919ULL + (uint64_t)camp) *
                 0x9E3779B97F4A7C15ULL;
    return 0.8 + 0.4 * (double)(h >> 40) / (double)(1ULL << 24);
}

/* Daily ad spend of every paid campaign over the period, from how many
 * customers it acquired each day (acq[day][channel][campaign]): reported
 * the next morning, as ad platforms do. Appended after everything that
 * draws from the random stream, so a seed's events stay what they were. */
static void ad_spend(const ltv_gen_opts_t *o, vec_t *v, const int *acq, ltv_gen_stats_t *s) {
    for (int d = 0; d < o->days; d++)
        for (int ch = 0; ch < NCHANNELS; ch++)
            for (int cp = 0; cp < 3; cp++) {
                if (!channel_cpa[ch] || !channels[ch].campaigns[cp])
                    continue;
                int n = acq[(d * NCHANNELS + ch) * 3 + cp];
                gev_t *g = push(v);
                g->kind = K_SPEND;
                g->channel = (uint8_t)ch;
                g->campaign = (uint8_t)cp;
                g->ts = o->start_ms + (int64_t)d * LTV_DAY_MS;
                g->arrival = g->ts + LTV_DAY_MS + 6 * 3600000;
                g->amount = (int64_t)((double)(CAMPAIGN_BASE_DAILY + n * channel_cpa[ch]) *
                                      spend_noise(d, ch, cp));
                s->ad_spend++;
            }
}

static int pick_channel(rng_t *r) {
    double x = rndu(r), acc = 0;
    for (int i = 0; i < NCHANNELS; i++) {
        acc += channels[i].weight;
        if (x < acc)
            return i;
    }
    return NCHANNELS - 1;
}

static void generate(const ltv_gen_opts_t *o, vec_t *v, ltv_gen_stats_t *s) {
    rng_t r = {o->seed};
    int64_t span = (int64_t)o->days * LTV_DAY_MS;
    uint64_t C = (uint64_t)(o->customers > 0 ? o->customers : 1);
    uint32_t *vseq = ltv_calloc((size_t)C, sizeof(uint32_t));
    uint32_t anon_seq = 0;

    if (o->worst_case) {
        int64_t n = o->events > 0 ? o->events : o->customers;
        for (int64_t i = 0; i < n; i++) {
            gev_t *g = push(v);
            g->kind = K_PURCHASE;
            g->ptype = LTV_PT_ORDER;
            g->cust = (uint32_t)i;
            g->ts = o->start_ms + (int64_t)(rnd(&r) % (uint64_t)span);
            g->arrival = g->ts;
            g->amount = rndi(&r, 500, 30000);
            g->channel = (uint8_t)pick_channel(&r);
            g->campaign = (uint8_t)rndi(&r, 0, 2);
            s->buyers++;
            s->purchases++;
            s->orders++;
        }
        free(vseq);
        return;
    }

    /* Buyers are spread over the id space by a fixed odd stride, so buyers
     * and browsers interleave on every partition. */
    int64_t target_purchases =
        o->events > 0 ? (int64_t)((double)o->events / (1.0 + o->visits_per_purchase)) : -1;
    int64_t max_buyers = (int64_t)((double)C * o->buyer_share);
    int *acq = o->topic_ad_spend ? ltv_calloc((size_t)(o->days > 0 ? o->days : 1) * NCHANNELS * 3,
                                              sizeof(int))
                                 : NULL;
    if (target_purchases > 0)
        max_buyers = (int64_t)C;
    int64_t purchases = 0, session_views = 0;
    for (int64_t b = 0; b < max_buyers; b++) {
        if (target_purchases > 0 && purchases >= target_purchases)
            break;
        uint32_t cust = (uint32_t)(((uint64_t)b * 2654435761ULL) % C);
        int ch = pick_channel(&r);
        int camp = (int)rndi(&r, 0, 2);
        int64_t t = o->start_ms + (int64_t)(rnd(&r) % (uint64_t)span);
        double p = channels[ch].repeat;
        s->buyers++;
        for (uint32_t k = 0; t < o->start_ms + span; k++) {
            /* The session that leads to the order. */
            int views = (int)rndi(&r, 2, 6);
            session(v, &r, cust, 0, t - views * 60000, views, &vseq[cust], 40);
            session_views += views;
            gev_t *g = push(v);
            g->kind = K_PURCHASE;
            g->ptype = LTV_PT_ORDER;
            g->cust = cust;
            g->seq = k;
            g->ts = t;
            g->arrival = t;
            g->amount = (int64_t)(2000 + rnd_exp(&r, 6000));
            /* Repeat orders come back through other channels too. */
            g->channel = (uint8_t)(k == 0 ? ch : pick_channel(&r));
            g->campaign = (uint8_t)(k == 0 ? camp : rndi(&r, 0, 2));
            if (k == 0 && acq)
                acq[((t - o->start_ms) / LTV_DAY_MS * NCHANNELS + ch) * 3 + camp]++;
            purchases++;
            int64_t amount = g->amount;
            if (rndu(&r) < o->cancel_rate) {
                gev_t *c = push(v);
                *c = *g;
                c->uniq = (uint32_t)v->n;
                c->ptype = LTV_PT_CANCEL;
                c->ts = t + rndi(&r, 1, 48) * 3600000;
                c->arrival = c->ts;
                c->amount = 0;
            } else if (rndu(&r) < o->refund_rate) {
                gev_t *c = push(v);
                *c = *g;
                c->uniq = (uint32_t)v->n;
                c->ptype = LTV_PT_REFUND;
                c->ts = t + rndi(&r, 1, 14) * LTV_DAY_MS;
                c->arrival = c->ts;
                c->amount = amount / (int64_t)rndi(&r, 1, 4);
            }
            /* F2 is the hard step; later steps come easier. */
            double pk = k == 0 ? p : fmin(0.9, p + 0.25 + 0.05 * k);
            if (rndu(&r) >= pk)
                break;
            t += (int64_t)(rnd_exp(&r, 25.0) * LTV_DAY_MS) + 3600000;
        }
    }

    /* Browsing sessions up to the page-view target, by any customer or by
     * anonymous visitors. */
    int64_t want_views = (int64_t)(o->visits_per_purchase * (double)purchases) - session_views;
    while (want_views > 0) {
        int views = (int)rndi(&r, 1, 7);
        int anon = rndu(&r) < o->anon_share;
        uint32_t cust = anon ? anon_seq++ : (uint32_t)(rnd(&r) % C);
        int64_t t = o->start_ms + (int64_t)(rnd(&r) % (uint64_t)span);
        uint32_t aseq = 0;
        session(v, &r, cust, anon, t, views, anon ? &aseq : &vseq[cust], 10);
        want_views -= views;
        /* A share of new visitors come back within three days. */
        if (rndu(&r) < 0.25) {
            int64_t t2 = t + rndi(&r, 1, 3) * LTV_DAY_MS;
            if (t2 < o->start_ms + span) {
                int v2 = (int)rndi(&r, 1, 4);
                session(v, &r, cust, anon, t2, v2, anon ? &aseq : &vseq[cust], 10);
                want_views -= v2;
            }
        }
    }
    free(vseq);

    /* Late arrivals, duplicates and bad messages. */
    size_t n = v->n;
    for (size_t i = 0; i < n; i++) {
        gev_t *g = &v->v[i];
        if (g->kind == K_PURCHASE) {
            s->purchases++;
            if (g->ptype == LTV_PT_ORDER)
                s->orders++;
            else if (g->ptype == LTV_PT_CANCEL)
                s->cancels++;
            else
                s->refunds++;
        } else {
            s->visits++;
        }
        if (rndu(&r) < o->late_rate) {
            g->arrival += rndi(&r, 3600000, o->late_max_ms);
            s->late++;
        }
        if (rndu(&r) < o->dup_rate) {
            gev_t *d = push(v);
            g = &v->v[i]; /* push may move the array */
            *d = *g;
            d->uniq = (uint32_t)v->n;
            d->dup = 1;
            d->arrival += rndi(&r, 1, 60000);
            s->duplicates++;
        }
    }
    int64_t nbad = (int64_t)((double)n * o->bad_rate);
    for (int64_t i = 0; i < nbad; i++) {
        gev_t *g = push(v);
        *g = v->v[rnd(&r) % n];
        g->uniq = (uint32_t)v->n;
        g->bad = (uint8_t)rndi(&r, 1, BAD__N - 1);
        g->dup = 0;
        s->bad++;
    }
    if (acq)
        ad_spend(o, v, acq, s);
    free(acq);
}

/* ---- encoding and producing --------------------------------------------------- */

static void fill_event(const gev_t *g, ltv_event_t *ev, char *b1, char *b2, char *b3, char *b4) {
    memset(ev, 0, sizeof(*ev));
    if (g->kind == K_SPEND) {
        ev->kind = LTV_EV_AD_SPEND;
        ev->ts = g->ts;
        ev->amount = g->amount;
        ev->currency = ltv_str_c("USD");
        ev->channel = ltv_str_c(channels[g->channel].name);
        ev->campaign = ltv_str_c(channels[g->channel].campaigns[g->campaign]);
        return;
    }
    if (g->kind == K_PURCHASE) {
        ev->kind = LTV_EV_PURCHASE;
        ev->ptype = (ltv_ptype_t)g->ptype;
        snprintf(b1, 40, "c%08u", g->cust);
        snprintf(b2, 40, "o%08u-%u", g->cust, g->seq);
        snprintf(b3, 48, "p%08u-%u-%c", g->cust, g->seq, "ocr"[g->ptype]);
        ev->customer_id = ltv_str_c(b1);
        ev->order_id = ltv_str_c(b2);
        ev->event_id = ltv_str_c(b3);
        ev->ts = g->ts;
        ev->amount = g->amount;
        ev->currency = ltv_str_c("USD");
        ev->channel = ltv_str_c(channels[g->channel].name);
        ev->campaign = ltv_str_c(channels[g->channel].campaigns[g->campaign]);
    } else {
        ev->kind = LTV_EV_VISIT;
        if (g->anon) {
            snprintf(b4, 40, "anon%08u", g->cust);
        } else {
            snprintf(b1, 40, "c%08u", g->cust);
            ev->customer_id = ltv_str_c(b1);
            snprintf(b4, 40, "vis-c%08u", g->cust);
        }
        snprintf(b3, 48, "v%s-%u", b4, g->seq);
        ev->visitor_id = ltv_str_c(b4);
        ev->event_id = ltv_str_c(b3);
        ev->ts = g->ts;
        ev->page = ltv_str_c(pages[g->page]);
        ev->signup = g->signup;
    }
}

/* The last column is the arrival time: the message timestamp with
 * kafka_ts, so a test can tell which events a cut by time (backfill --to)
 * includes. */
static void dump_event(FILE *fp, const ltv_event_t *ev, int64_t arrival) {
    if (ev->kind == LTV_EV_PURCHASE)
        fprintf(fp, "P %s %s %s %c %lld %lld %s %s %lld\n", ev->event_id.p, ev->customer_id.p,
                ev->order_id.p, "ocr"[ev->ptype], (long long)ev->ts, (long long)ev->amount,
                ev->channel.p ? ev->channel.p : "-", ev->campaign.p ? ev->campaign.p : "-",
                (long long)arrival);
    else
        fprintf(fp, "V %s %s %s %lld %lld\n", ev->event_id.p,
                ev->customer_id.p ? ev->customer_id.p : "-", ev->visitor_id.p, (long long)ev->ts,
                (long long)arrival);
}

static int write_schema(const char *dir, int32_t id, const char *json, char *errstr,
                        size_t errstr_size) {
    char path[1024];
    snprintf(path, sizeof(path), "%s/%d.avsc", dir, (int)id);
    FILE *fp = fopen(path, "w");
    if (!fp) {
        snprintf(errstr, errstr_size, "%s: cannot write", path);
        return -1;
    }
    fputs(json, fp);
    fclose(fp);
    return 0;
}

int ltv_gen_run(const ltv_gen_opts_t *o, ltv_gen_stats_t *stats, char *errstr,
                size_t errstr_size) {
    int rc = -1;
    vec_t v = {0};
    ltv_gen_stats_t s;
    memset(&s, 0, sizeof(s));
    ltv_encoder_t *encp = NULL, *encv = NULL, *encbad = NULL, *encs = NULL;
    rd_kafka_t *rk = NULL;
    ltv_buf_t out;
    ltv_buf_init(&out);

    if (o->framing == LTV_FRAMING_CONFLUENT && o->schema_dir &&
        (write_schema(o->schema_dir, o->purchase_schema_id, ltv_reader_schema_json(LTV_EV_PURCHASE),
                      errstr, errstr_size) ||
         write_schema(o->schema_dir, o->visit_schema_id, ltv_reader_schema_json(LTV_EV_VISIT),
                      errstr, errstr_size) ||
         write_schema(o->schema_dir, o->ad_spend_schema_id,
                      ltv_reader_schema_json(LTV_EV_AD_SPEND), errstr, errstr_size)))
        goto done;
    encp = ltv_encoder_new(LTV_EV_PURCHASE, (ltv_framing_t)o->framing, o->purchase_schema_id,
                           NULL, errstr, errstr_size);
    encv = ltv_encoder_new(LTV_EV_VISIT, (ltv_framing_t)o->framing, o->visit_schema_id, NULL,
                           errstr, errstr_size);
    encbad = ltv_encoder_new(LTV_EV_PURCHASE, LTV_FRAMING_CONFLUENT, 999999, NULL, errstr,
                             errstr_size);
    encs = ltv_encoder_new(LTV_EV_AD_SPEND, (ltv_framing_t)o->framing, o->ad_spend_schema_id,
                           NULL, errstr, errstr_size);
    if (!encp || !encv || !encbad || !encs)
        goto done;

    generate(o, &v, &s);
    qsort(v.v, v.n, sizeof(*v.v), cmp_arrival);

    if (o->brokers) {
        rd_kafka_conf_t *kc = rd_kafka_conf_new();
        char tmp[256];
        rd_kafka_conf_set(kc, "bootstrap.servers", o->brokers, tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "linger.ms", "20", tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "batch.num.messages", "10000", tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "queue.buffering.max.messages", "1000000", tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "queue.buffering.max.kbytes", "1048576", tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "enable.idempotence", "true", tmp, sizeof(tmp));
        rd_kafka_conf_set(kc, "log_level", "4", tmp, sizeof(tmp));
        rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, tmp, sizeof(tmp));
        if (!rk) {
            snprintf(errstr, errstr_size, "producer: %s", tmp);
            rd_kafka_conf_destroy(kc);
            goto done;
        }
    }

    rng_t r = {o->seed ^ 0xBADBADULL};
    for (size_t i = 0; i < v.n; i++) {
        const gev_t *g = &v.v[i];
        char b1[40], b2[40], b3[48], b4[40];
        ltv_event_t ev;
        fill_event(g, &ev, b1, b2, b3, b4);
        ltv_encoder_t *enc = g->kind == K_PURCHASE ? encp : g->kind == K_SPEND ? encs : encv;
        switch (g->bad) {
        case BAD_NEG_AMOUNT:
            ev.kind = LTV_EV_PURCHASE;
            ev.amount = -ev.amount - 1;
            if (!ev.order_id.p)
                ev.order_id = ltv_str_c("o-bad");
            enc = encp;
            break;
        case BAD_NO_CUSTOMER:
            ev.customer_id = ltv_str_c("");
            ev.visitor_id = ltv_str_c("");
            break;
        case BAD_FUTURE:
            ev.ts = ltv_now_ms() + 30 * LTV_DAY_MS;
            break;
        case BAD_SCHEMA_ID:
            enc = encbad;
            break;
        default:
            break;
        }
        if (ltv_encode(enc, &ev, &out)) {
            snprintf(errstr, errstr_size, "encode failed");
            goto done;
        }
        if (g->bad == BAD_GARBAGE) {
            ltv_buf_reset(&out);
            size_t len = (size_t)rndi(&r, 1, 40);
            for (size_t k = 0; k < len; k++)
                ltv_buf_putc(&out, (char)rnd(&r));
            if ((unsigned char)out.p[0] == 0x00)
                out.p[0] = 0x7f; /* keep it a framing error, not a schema-id one */
        } else if (g->bad == BAD_TRUNCATED && out.n > 6) {
            out.n = out.n / 2;
        }
        if (!g->bad && !g->dup && o->dump && g->kind != K_SPEND)
            dump_event(o->dump, &ev, g->arrival);
        if (rk) {
            const char *topic = ev.kind == LTV_EV_VISIT       ? o->topic_visits
                                : ev.kind == LTV_EV_AD_SPEND ? o->topic_ad_spend
                                                             : o->topic_purchases;
            /* Ad spend is keyed by campaign. */
            const char *key = ev.kind == LTV_EV_AD_SPEND               ? ev.campaign.p
                              : ev.customer_id.p && ev.customer_id.n ? ev.customer_id.p
                              : ev.visitor_id.p                      ? ev.visitor_id.p
                                                                     : "";
            for (;;) {
                rd_kafka_resp_err_t e = rd_kafka_producev(
                    rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_KEY((void *)key, strlen(key)),
                    RD_KAFKA_V_VALUE(out.p, out.n), RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_TIMESTAMP(o->kafka_ts ? g->arrival : 0), RD_KAFKA_V_END);
                if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL) {
                    rd_kafka_poll(rk, 50);
                    continue;
                }
                if (e) {
                    snprintf(errstr, errstr_size, "produce: %s", rd_kafka_err2str(e));
                    goto done;
                }
                break;
            }
            rd_kafka_poll(rk, 0);
        }
        if (g->kind != K_SPEND)
            s.total++;
    }
    if (rk) {
        rd_kafka_flush(rk, 60000);
        if (rd_kafka_outq_len(rk) > 0) {
            snprintf(errstr, errstr_size, "%d messages not delivered", rd_kafka_outq_len(rk));
            goto done;
        }
    }
    rc = 0;
    if (!o->quiet)
        fprintf(stderr,
                "generated %lld messages: %lld purchases (%lld orders, %lld cancels, %lld "
                "refunds) by %lld buyers, %lld visits, %lld duplicates, %lld late, %lld "
                "malformed, %lld ad spend records\n",
                (long long)s.total, (long long)s.purchases, (long long)s.orders,
                (long long)s.cancels, (long long)s.refunds, (long long)s.buyers,
                (long long)s.visits, (long long)s.duplicates, (long long)s.late,
                (long long)s.bad, (long long)s.ad_spend);

done:
    if (stats)
        *stats = s;
    if (rk)
        rd_kafka_destroy(rk);
    ltv_encoder_destroy(encp);
    ltv_encoder_destroy(encv);
    ltv_encoder_destroy(encbad);
    ltv_encoder_destroy(encs);
    ltv_buf_free(&out);
    free(v.v);
    return rc;
}

static void usage(void) {
    fprintf(stderr,
            "Usage: ltvstream gen -b <brokers> [options]\n"
            "  -b <brokers>          bootstrap servers\n"
            "  --customers N         customer population (default 10000)\n"
            "  --events N            target number of events (default: buyers of --buyer-share)\n"
            "  --buyer-share F       share of customers who buy (default 0.5)\n"
            "  --days N              period length in days (default 90)\n"
            "  --start YYYY-MM-DD    period start (default 2025-01-01)\n"
            "  --visits-per-purchase F (default 10)\n"
            "  --dup-rate F --late-rate F --bad-rate F --cancel-rate F --refund-rate F\n"
            "  --framing confluent|single-object|plain (default confluent)\n"
            "  --schema-dir DIR      write the Confluent writer schemas as DIR/<id>.avsc\n"
            "  --worst-case          purchases only, each by a different customer\n"
            "  --kafka-timestamps    message timestamps = arrival times (default: produce time;\n"
            "                        a real broker's time retention would delete old ones)\n"
            "  --seed N              (default 42)\n"
            "  --topic-purchases T --topic-visits T\n"
            "  --ad-spend T          also produce each paid campaign's daily cost to topic T\n"
            "                        (schema id 3), keyed by campaign\n"
            "  --dump FILE           write every valid event as a text line\n");
}

int ltv_gen_main(int argc, char **argv) {
    ltv_gen_opts_t o;
    ltv_gen_defaults(&o);
    static const struct option lo[] = {
        {"customers", 1, 0, 'C'},   {"events", 1, 0, 'E'},      {"buyer-share", 1, 0, 'B'},
        {"days", 1, 0, 'D'},        {"start", 1, 0, 'S'},       {"visits-per-purchase", 1, 0, 'V'},
        {"dup-rate", 1, 0, 'd'},    {"late-rate", 1, 0, 'l'},   {"bad-rate", 1, 0, 'x'},
        {"cancel-rate", 1, 0, 'c'}, {"refund-rate", 1, 0, 'r'}, {"framing", 1, 0, 'F'},
        {"schema-dir", 1, 0, 's'},  {"worst-case", 0, 0, 'W'}, {"kafka-timestamps", 0, 0, 1001},  {"seed", 1, 0, 'z'},
        {"topic-purchases", 1, 0, 'P'}, {"topic-visits", 1, 0, 'T'}, {"dump", 1, 0, 'u'},
        {"ad-spend", 1, 0, 1002},
        {"help", 0, 0, 'h'},        {0, 0, 0, 0}};
    FILE *dump = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "b:h", lo, NULL)) != -1) {
        switch (c) {
        case 'b': o.brokers = optarg; break;
        case 'C': o.customers = atoll(optarg); break;
        case 'E': o.events = atoll(optarg); break;
        case 'B': o.buyer_share = atof(optarg); break;
        case 'D': o.days = atoi(optarg); break;
        case 'S':
            if (ltv_day_parse(optarg, &o.start_ms)) {
                fprintf(stderr, "gen: bad --start %s\n", optarg);
                return 2;
            }
            o.start_ms *= LTV_DAY_MS;
            break;
        case 'V': o.visits_per_purchase = atof(optarg); break;
        case 'd': o.dup_rate = atof(optarg); break;
        case 'l': o.late_rate = atof(optarg); break;
        case 'x': o.bad_rate = atof(optarg); break;
        case 'c': o.cancel_rate = atof(optarg); break;
        case 'r': o.refund_rate = atof(optarg); break;
        case 'F':
            if (!strcmp(optarg, "confluent"))
                o.framing = LTV_FRAMING_CONFLUENT;
            else if (!strcmp(optarg, "single-object"))
                o.framing = LTV_FRAMING_SINGLE_OBJECT;
            else if (!strcmp(optarg, "plain"))
                o.framing = LTV_FRAMING_PLAIN;
            else {
                fprintf(stderr, "gen: unknown framing %s\n", optarg);
                return 2;
            }
            break;
        case 's': o.schema_dir = optarg; break;
        case 'W': o.worst_case = 1; break;
        case 1001: o.kafka_ts = 1; break;
        case 'z': o.seed = strtoull(optarg, NULL, 10); break;
        case 'P': o.topic_purchases = optarg; break;
        case 'T': o.topic_visits = optarg; break;
        case 1002: o.topic_ad_spend = optarg; break;
        case 'u':
            dump = fopen(optarg, "w");
            if (!dump) {
                fprintf(stderr, "gen: cannot write %s\n", optarg);
                return 2;
            }
            o.dump = dump;
            break;
        default: usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (!o.brokers && !o.dump) {
        usage();
        return 2;
    }
    char err[512];
    int rc = ltv_gen_run(&o, NULL, err, sizeof(err));
    if (dump)
        fclose(dump);
    if (rc) {
        fprintf(stderr, "gen: %s\n", err);
        return 1;
    }
    return 0;
}
