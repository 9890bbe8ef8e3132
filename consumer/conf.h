/*
 * The stage's configuration: one declarative table of the stage's own keys
 * (name, type, default, offset, description) drives parsing, validation,
 * defaults and the `-X list` help. librdkafka's own properties pass through
 * under the `kafka.` prefix (both clients), `kafka.consumer.` or
 * `kafka.producer.` (one client), and are validated by librdkafka itself
 * when the clients are created. Unknown keys are rejected, naming the key.
 */
#ifndef LTV_CONF_H
#define LTV_CONF_H

#include <stdint.h>
#include <stdio.h>
#include <stddef.h>

#define LTV_MAX_HORIZONS 8

typedef enum {
    LTV_FRAMING_AUTO = 0,
    LTV_FRAMING_CONFLUENT,
    LTV_FRAMING_SINGLE_OBJECT,
    LTV_FRAMING_PLAIN,
} ltv_framing_t;

typedef enum {
    LTV_CONF_OK = 0,
    LTV_CONF_UNKNOWN = -1, /* no such key */
    LTV_CONF_INVALID = -2, /* bad value */
} ltv_conf_res_t;

/* A librdkafka property passed through. role: 0 both, 1 consumer, 2 producer. */
typedef struct ltv_kprop_s {
    char *name, *value;
    int role;
} ltv_kprop_t;

typedef struct ltv_conf_s {
    /* Inputs */
    char *topic_purchases;
    char *topic_visits;
    char *topic_ad_spend; /* "": none */
    int framing;                  /* ltv_framing_t */
    char *schema_dir;             /* <id>.avsc writer schemas for Confluent ids */
    char *registry_url;           /* Schema Registry base URL; "" none */
    char *registry_user_info;     /* "user:password" (basic auth); "" none */
    int64_t registry_timeout_ms;
    char *plain_purchase_schema;  /* writer schema file for plain framing */
    char *plain_visit_schema;
    char *plain_ad_spend_schema;
    int64_t max_future_skew_ms;

    /* Outputs */
    char *topic_dlq;
    char *topic_f2_rate;
    char *topic_retention_mix;
    char *topic_f2_rolling;
    char *topic_customer_rfm;
    char *topic_rfm_segments;
    char *topic_lifecycle; /* "" : lifecycle triggers off */
    char *topic_acquisition;
    int output_format; /* 0 json, 1 avro */
    char *output_schema_ids; /* "topic:id,...": without a registry, or overriding it */

    /* State */
    char *redis_host;
    int64_t redis_port;
    char *redis_password;
    int64_t redis_db;
    int64_t redis_timeout_ms;
    char *namespace_;

    /* Processing */
    int64_t batch_max_events;
    int64_t batch_max_uncached;
    int64_t batch_max_ms;
    int64_t tz_offset_ms;
    int64_t allowed_lateness_ms;
    int64_t idle_timeout_ms;
    int64_t horizons[LTV_MAX_HORIZONS];
    int nhorizons;
    int64_t f2_rolling_days;
    char *rfm_r_days, *rfm_f_edges, *rfm_m_edges, *rfm_segments;
    int64_t rfm_tick_max_customers;
    int64_t acq_rolling_days;
    int64_t lc_followup_days[LTV_MAX_HORIZONS];
    int lc_nfollowup;
    int64_t lc_revisit_hours;
    int64_t lc_signup_days;
    int lc_emit;

    /* Operation */
    int stop_at_end;
    int64_t start_ms;   /* -1: beginning */
    int64_t stop_at_ms; /* -1: end offsets */
    int stop_pin;
    char *stats_file;
    int64_t cache_max_customers;
    int64_t cache_max_mb;
    int64_t log_level;
    int log_json;
    int64_t metrics_port;     /* 0: no HTTP endpoint */
    char *metrics_bind;
    int64_t metrics_stall_ms; /* /healthz fails after this long without progress */
    int64_t shutdown_deliver_ms; /* SIGTERM: delivering committed rows */
    int64_t shutdown_leave_ms;   /* SIGTERM: leaving the consumer group */

    /* librdkafka pass-through */
    ltv_kprop_t *kprops;
    int nkprops;
} ltv_conf_t;

ltv_conf_t *ltv_conf_new(void);
void ltv_conf_destroy(ltv_conf_t *conf);

/* Sets one key. Returns LTV_CONF_OK, or an error with errstr filled. */
ltv_conf_res_t ltv_conf_set(ltv_conf_t *conf, const char *name, const char *value,
                            char *errstr, size_t errstr_size);

/* Loads a key=value properties file (# and ! comments, blank lines). */
ltv_conf_res_t ltv_conf_load_file(ltv_conf_t *conf, const char *path, char *errstr,
                                  size_t errstr_size);

/* Sets the "name=value" string of a -X option. */
ltv_conf_res_t ltv_conf_set_pair(ltv_conf_t *conf, const char *pair, char *errstr,
                                 size_t errstr_size);

/* Prints every key with its type, default and description (-X list). */
void ltv_conf_list(FILE *fp);

/* Returns the value of a passed-through librdkafka property for `role`
 * (1 consumer, 2 producer), or NULL. The role-specific one wins. */
const char *ltv_conf_kafka_get(const ltv_conf_t *conf, int role, const char *name);

#endif
