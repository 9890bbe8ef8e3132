/*
 * Integration-test harness: each test gets its own embedded broker (mock
 * cluster, in the test process) and its own redis-server on a free
 * loopback port, runs the real `ltvstream` binary as a child process, and
 * reads results back from Redis and the output topics.
 */
#ifndef LTV_HARNESS_H
#define LTV_HARNESS_H

#include <stdint.h>
#include <sys/types.h>
#include <hiredis/hiredis.h>
#include <librdkafka/rdkafka.h>

#include "devenv.h"
#include "event.h"
#include "rowread.h"

typedef struct h_env_s {
    ltv_mock_t *mock;
    ltv_redis_t *redis;
    redisContext *rc;
    char dir[256];      /* temp dir: schema dir, logs */
    char schema_dir[300];
    int partitions;
    int redis_aof;      /* as given to h_start: 0 none, 1 fsync every second, 2 always */
} h_env_t;

/* Starts broker + redis, creates the input topics with `partitions`
 * partitions and writes writer schemas 1 (purchase) and 2 (visit).
 * redis_aof: see ltv_redis_start's appendonly. */
h_env_t *h_start(int partitions, int redis_aof);
/* The same with a mock cluster of `brokers` brokers (ids 1..brokers). */
h_env_t *h_start_n(int partitions, int redis_aof, int brokers);
void h_stop(h_env_t *h);

/* Redis faults. h_redis_kill kills the server (SIGKILL: no save at
 * shutdown) and waits for it; h_redis_restart starts it again on the same
 * port and directory (so it loads whatever AOF/RDB is there) and
 * reconnects the harness's own connection. */
void h_redis_kill(h_env_t *h, int sig);
void h_redis_restart(h_env_t *h);

/* A generated stream (tools/gen.c, Confluent ids 1/2) produced to the
 * input topics; returns the number of messages, checked against the
 * topics' end offsets. */
int64_t h_gen(h_env_t *h, int customers, int days, uint64_t seed);
/* The same for a period starting `start_day` days after 2025-01-01 (the
 * generator's default start), appended to what the topics hold; returns
 * the topics' new total. */
int64_t h_gen_from(h_env_t *h, int customers, int start_day, int days, uint64_t seed);

/* Produces events (Confluent framing, ids 1/2), keyed by customer (or
 * visitor for anonymous visits), and waits for delivery. Ad spend goes to
 * ltv.ad_spend (single-object encoding), keyed by campaign. */
void h_produce(h_env_t *h, const ltv_event_t *evs, int n);
/* The same with other Confluent ids and writer schemas (NULL: ours). */
void h_produce_ids(h_env_t *h, const ltv_event_t *evs, int n, int32_t purchase_id,
                   const char *purchase_writer, int32_t visit_id, const char *visit_writer);
void h_produce_raw(h_env_t *h, const char *topic, const char *key, const void *buf, size_t len);

/* Starts `ltvstream run` with the harness's broker/redis/schema dir, the
 * namespace (also used as consumer group), and extra "-X k=v" strings
 * (NULL-terminated), which win over the harness's own (metrics.port=0).
 * stdout/stderr go to <dir>/<ns>.<n>.log; stdin is /dev/null. */
pid_t h_stage_start(h_env_t *h, const char *ns, const char *const *extra);
/* The same for another subcommand: cmd is its words (NULL-terminated),
 * e.g. {"backfill", "--namespace", "bf", NULL}. */
pid_t h_cmd_start(h_env_t *h, const char *const *cmd, const char *ns, const char *const *extra);
/* Waits for exit up to timeout_ms; returns the exit status (or -1 on
 * timeout, after killing it). */
int h_stage_wait(pid_t pid, int timeout_ms);
/* Runs a stage with run.stop.at.end=true to completion; asserts exit 0. */
void h_stage_run_to_end(h_env_t *h, const char *ns, const char *const *extra);
/* The same in a consumer group of its own ("<ns>.drain"): after live
 * stages of ns were stopped, it reads nothing new and marks the partitions
 * read to the end (so the clock is the one a run.stop.at.end run has),
 * without waiting for the session timeout of the members they left in
 * their group (the mock holds them). Offsets come from Redis either way. */
void h_stage_drain(h_env_t *h, const char *ns, const char *const *extra);

/* The log file (stdout and stderr) of a stage started by h_stage_start,
 * and whether it contains `what`. */
const char *h_stage_log(pid_t pid);
int h_log_contains(pid_t pid, const char *what);
/* A whole file, NUL-terminated (NULL if it cannot be read). Caller frees. */
char *h_slurp(const char *path);
/* A number in a stage's run.stats.file; fails the test if the file or the
 * member is missing. */
int64_t h_stat_i64(const char *path, const char *name);
void h_sleep_ms(int ms);

/* Sum of the input topics' end offsets, and of the next offsets stored in
 * Redis for namespace ns. */
int64_t h_input_end(h_env_t *h);
int64_t h_stored_offsets(h_env_t *h, const char *ns);
/* Polls (every 5 ms) until h_stored_offsets(ns) >= at_least; fails the
 * test after timeout_ms. Returns the sum reached. */
int64_t h_wait_stored(h_env_t *h, const char *ns, int64_t at_least, int timeout_ms);

/* Polls (every 20 ms) until namespace ns has stored `offsets` offsets, its
 * shared clock stands at watermark `wm` and its emission queue is empty
 * (every row delivered); fails the test after timeout_ms, naming `what`. */
void h_wait_settled(h_env_t *h, const char *ns, int64_t offsets, int64_t wm, int timeout_ms,
                    const char *what);
/* HLEN of key (0 when absent). */
int64_t h_hlen(h_env_t *h, const char *key);

/* One message read back from a topic. key and val are NUL-terminated
 * copies; headers is a copy (NULL: none). */
typedef struct h_msg_s {
    char *key, *val;
    size_t keylen, len;
    int32_t partition;
    int64_t offset;
    int64_t timestamp;
    rd_kafka_headers_t *headers;
} h_msg_t;
/* Every message of `topic` from the beginning to its end offsets at the
 * call, in the order consumed (per partition in offset order); fails the
 * test if they cannot be read within 30 s. Free with h_msgs_free. A topic
 * that does not exist has none. */
int h_read_topic(h_env_t *h, const char *topic, h_msg_t **out);
void h_msgs_free(h_msg_t *v, int n);
/* The last value of header `name` as a string ("" when absent). */
void h_header(rd_kafka_headers_t *hd, const char *name, char *out, size_t n);

/* A text dump of every key of namespace ns (prefix removed), one line per
 * hash field "key field value", sorted, without the fields that differ
 * between equivalent runs (row versions, the emission queue, offsets'
 * positions are kept). Caller frees. */
char *h_dump_ns(h_env_t *h, const char *ns);

/* Fails the test when two dumps differ, printing the first differing lines
 * and writing both dumps to the test directory. */
void h_assert_same_dump(h_env_t *h, const char *a, const char *b, const char *what);

/* HGET; returns a malloc'd string or NULL. A customer is named by its
 * readable key "<ns>:c:{<id>}" ("<ns>:v:{<id>}" for an anonymous visitor)
 * and its fields are those of its field view (ltv_customer_view:
 * purchase_count, monetary, segment, o:<order_id> ...), decoded from the
 * compact value the store keeps in a bucket hash. */
char *h_hget(h_env_t *h, const char *key, const char *field);
int64_t h_hget_i64(h_env_t *h, const char *key, const char *field);
int h_exists(h_env_t *h, const char *key);
/* The readable keys of every customer (not visitor) of namespace ns;
 * returns the count, *keys and each key malloc'd. */
int h_customer_keys(h_env_t *h, const char *ns, char ***keys);

/* Reads an output topic as a table (newest version per key). */
void h_read_table(h_env_t *h, const char *topic, ltv_table_t *t);
/* A row whose every count is zero (its customers moved to other rows):
 * such a row exists or not depending on batch boundaries. */
int h_row_is_empty(const char *json);
/* Compares two output tables by key, ignoring version/watermark/final and
 * empty rows. */
void h_assert_same_table(h_env_t *h, const char *topic_a, const char *topic_b);
/* The same with each key's last record (ltv_table_read_last) in topic_b;
 * returns the number of records there whose version was lower than an
 * earlier one of their key. */
int64_t h_assert_same_table_last(h_env_t *h, const char *topic_a, const char *topic_b);

/* "-X" settings naming every output topic "<p>.<row type>", the lifecycle
 * topic "<p>.lifecycle" and the dead-letter topic "<p>.dlq", so runs in one
 * broker can be compared topic by topic (and a run's re-emission of
 * triggers, which reads its lifecycle topic back, sees only its own). */
#define H_X_TOPICS(p)                                                                         \
    "topic.f2_rate=" p ".f2_rate", "topic.f2_rolling=" p ".f2_rolling",                       \
        "topic.retention_mix=" p ".retention_mix", "topic.rfm_segments=" p ".rfm_segments",   \
        "topic.customer_rfm=" p ".customer_rfm", "topic.acquisition=" p ".acquisition",       \
        "topic.lifecycle=" p ".lifecycle", "topic.dlq=" p ".dlq"

/* Compares every output table of ns (H_X_TOPICS(ns), not the lifecycle
 * topic: a stream of triggers, checked by it_lifecycle) with ref's: with
 * last 0 by newest version (h_assert_same_table), with last 1 by each
 * key's last record (h_assert_same_table_last), returning the sum of the
 * version regressions found. */
int64_t h_assert_same_tables(h_env_t *h, const char *ref, const char *ns, int last);

/* Runs the stage over the whole input into namespace ns with
 * H_X_TOPICS(ns), checks it stored `total` offsets and returns the dump of
 * its state (h_dump_ns; caller frees): the fault-free reference. */
char *h_reference_run(h_env_t *h, const char *ns, int64_t total);

/* The customer|occasion pairs of a lifecycle topic (key and "occasion"
 * header of each record), sorted, repeats kept; returns the count. With
 * stable 1, only first_purchase and second_purchase: the timed occasions
 * depend on where the watermark stood when a late event was read, and
 * segment_changed and lapsed are numbered by row versions, so those differ
 * between runs that cut batches differently. Free with h_strs_free. */
int h_lifecycle_pairs(h_env_t *h, const char *topic, int stable, char ***out);
void h_strs_free(char **v, int n);

/* Fails the test if the stage has exited, saying how; `when` completes
 * "the stage ...". */
void h_assert_alive(pid_t pid, const char *when);
/* A row's JSON without version/watermark/final fields, for comparing runs. */
char *h_row_stable(const char *json);

/* ---- HTTP ------------------------------------------------------------------------ */

typedef struct h_http_res_s {
    int status;    /* -1: no connection or no valid answer */
    char *headers; /* the header block */
    char *body;
} h_http_res_t;

/* GET path from 127.0.0.1:port over HTTP/1.0 (the server closes after the
 * answer). Free with h_http_free. */
h_http_res_t h_http_get(int port, const char *path);
void h_http_free(h_http_res_t *r);
/* The status of GET path (-1: no answer); *body (if body) a copy to free. */
int h_http_status(int port, const char *path, char **body);
/* The value of sample `series` (name and labels exactly as rendered) in a
 * Prometheus text, or NAN when there is no such line. */
double h_metric_sample(const char *text, const char *series);

/* ---- a Schema Registry (tests/registry_server.py) --------------------------------- */

typedef struct h_registry_s {
    pid_t pid;         /* 0 while stopped */
    int port;          /* chosen once: a stage keeps its URL across restarts */
    char dir[320];     /* <id>.avsc files; requests.log, subjects.log */
    char url[64];      /* http://127.0.0.1:<port> */
} h_registry_t;

/* A registry serving the directory <h->dir>/registry on a free port, not
 * started yet (a stage pointed at it finds it down). */
h_registry_t *h_registry_new(h_env_t *h);
/* Starts the server and waits until it accepts connections. */
void h_registry_start(h_registry_t *r);
/* Kills it (connections are refused from then on). */
void h_registry_stop(h_registry_t *r);
void h_registry_destroy(h_registry_t *r);
/* Serves schema `id` (schema_type NULL: Avro, as the registry leaves it out). */
void h_registry_put(h_registry_t *r, int32_t id, const char *schema, const char *schema_type);
/* status: answer every request with it (e.g. 503) from now on; 0: normally. */
void h_registry_fail(h_registry_t *r, int status);
/* Requests answered so far whose log line starts with `prefix` (e.g.
 * "GET /schemas/ids/41 " or "POST "). */
int h_registry_requests(h_registry_t *r, const char *prefix);
/* The id last registered under `subject`, or -1. */
int32_t h_registry_subject_id(h_registry_t *r, const char *subject);

/* Event builders (strings must outlive the call to h_produce). */
ltv_event_t h_order(const char *eid, const char *cust, const char *order, const char *iso_ts,
                    int64_t amount, const char *channel, const char *campaign);
ltv_event_t h_cancel(const char *eid, const char *cust, const char *order, const char *iso_ts);
ltv_event_t h_refund(const char *eid, const char *cust, const char *order, const char *iso_ts,
                     int64_t amount);
ltv_event_t h_visit(const char *eid, const char *cust, const char *visitor, const char *iso_ts);
/* An ad spend record: the cost of a campaign on a channel on day "2025-01-10". */
ltv_event_t h_spend(const char *channel, const char *campaign, const char *day, int64_t cost);
/* "2025-01-10T10:00:00Z" -> ms */
int64_t h_ts(const char *iso);

#endif
