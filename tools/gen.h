/*
 * The event generator: a synthetic shop. Customers are acquired through
 * channels whose buyers differ in how often they come back (the point of
 * per-channel F2), buy again with a propensity that grows with each
 * purchase (F2 is the hard step), browse in sessions of a few page views
 * within minutes, and sometimes cancel or get refunds. The stream has what
 * real streams have: re-sent duplicates, late events, and a few malformed
 * messages of every kind the stage must dead-letter. Deterministic for a
 * given seed.
 */
#ifndef LTV_GEN_H
#define LTV_GEN_H

#include <stdint.h>
#include <stdio.h>

#include "conf.h"

typedef struct ltv_gen_opts_s {
    const char *brokers;
    const char *topic_purchases;
    const char *topic_visits;
    const char *topic_ad_spend; /* NULL: no ad spend is produced */
    int64_t customers;          /* population of customer ids */
    int64_t events;             /* target number of events (0: all buyers of buyer_share) */
    double buyer_share;         /* share of customers who buy in the period */
    int days;                   /* length of the period */
    int64_t start_ms;           /* period start */
    double visits_per_purchase; /* page views per purchase, overall */
    double anon_share;          /* share of browse sessions by anonymous visitors */
    double dup_rate, late_rate, bad_rate, cancel_rate, refund_rate;
    int64_t late_max_ms;        /* how late a late event arrives, at most */
    int worst_case;             /* purchases only, each by a different customer */
    int kafka_ts;               /* message timestamps = arrival times (as a tracker's CreateTime) */
    int framing;                /* ltv_framing_t of the messages */
    int32_t purchase_schema_id, visit_schema_id, ad_spend_schema_id;
    const char *schema_dir;     /* Confluent: write <id>.avsc here */
    uint64_t seed;
    int quiet;
    FILE *dump;                 /* if set, every valid event as a text line with its
                                 * arrival time (tests/oracle.py) */
} ltv_gen_opts_t;

typedef struct ltv_gen_stats_s {
    int64_t purchases, orders, cancels, refunds, visits, duplicates, late, bad, total;
    int64_t buyers;
    int64_t ad_spend; /* ad spend records (not in total, which counts purchases and visits) */
} ltv_gen_stats_t;

void ltv_gen_defaults(ltv_gen_opts_t *o);
int ltv_gen_run(const ltv_gen_opts_t *o, ltv_gen_stats_t *stats, char *errstr,
                size_t errstr_size);
/* The gen subcommand: parses argv. */
int ltv_gen_main(int argc, char **argv);

#endif
