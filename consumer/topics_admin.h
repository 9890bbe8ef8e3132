/*
 * `ltvstream topics create`: creates the stage's topics with the settings
 * they need. Input topics and the dead-letter topic are logs (delete
 * policy); output topics are tables (compacted), so a reader that starts
 * from the beginning reads every row's newest version without the history
 * of versions before it; the lifecycle topic is a stream of events (delete
 * policy).
 */
#ifndef LTV_TOPICS_ADMIN_H
#define LTV_TOPICS_ADMIN_H

#include <stddef.h>

#include "conf.h"

typedef enum {
    LTV_TOPIC_INPUT = 0,
    LTV_TOPIC_DLQ,
    LTV_TOPIC_OUTPUT,
    LTV_TOPIC_EVENTS, /* an output of events, not rows (lifecycle): not compacted */
} ltv_topic_role_t;

#define LTV_TOPIC_MAX_CONFIGS 6

typedef struct ltv_topic_spec_s {
    char *name;
    ltv_topic_role_t role;
    /* Inputs keyed by customer (purchases, visits) must have equal
     * partition counts; ad spend, keyed by campaign, need not. */
    int copartitioned;
    int partitions;
    /* Topic configs as name/value pairs, e.g. {"cleanup.policy", "compact"}. */
    const char *configs[LTV_TOPIC_MAX_CONFIGS][2];
    int nconfigs;
} ltv_topic_spec_t;

typedef struct ltv_topics_opts_s {
    int partitions;            /* input topics (default 12) */
    int output_partitions;     /* output and dead-letter topics (default 3) */
    int replication_factor;    /* 0: min(3, number of brokers) */
    const char *input_retention_ms; /* NULL: the broker's default */
    int timeout_ms;            /* for the whole command */
    int dry_run;               /* print the plan, touch nothing */
} ltv_topics_opts_t;

void ltv_topics_opts_defaults(ltv_topics_opts_t *o);

/* The topics of the configuration (topic.* keys; the output topics of every
 * emitted row type), each once, inputs first. Returns how many, or -1 with
 * errstr filled. Free with ltv_topics_plan_free. */
int ltv_topics_plan(const ltv_conf_t *conf, const ltv_topics_opts_t *o, ltv_topic_spec_t **out,
                    char *errstr, size_t errstr_size);
void ltv_topics_plan_free(ltv_topic_spec_t *plan, int n);

/* Judges the topics as the cluster has them: found[i] is plan[i]'s
 * partition count, or -1 when it does not exist. Every topic must exist
 * and the co-partitioned input topics must have equal partition counts (a
 * customer's purchases and visits on the same partition number).
 * Returns 0, or -1 with errstr naming the first problem. */
int ltv_topics_verify(const ltv_topic_spec_t *plan, int n, const int *found, char *errstr,
                      size_t errstr_size);

/* Creates the plan's absent topics on the cluster of conf's kafka.*
 * properties, prints one line per topic and judges the result with
 * ltv_topics_verify (o->dry_run: prints the plan only). Returns the exit
 * status: 0 every topic exists as needed, 1 not, 2 bad configuration. */
int ltv_topics_create(const ltv_conf_t *conf, const ltv_topics_opts_t *o);

/* `ltvstream topics ...` (consumer/topics_cmd.c). */
int ltv_topics_main(int argc, char **argv);

#endif
