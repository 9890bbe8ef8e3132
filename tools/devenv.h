/*
 * The local development environment: librdkafka's mock cluster as an
 * embedded Kafka broker, and a private redis-server on a free loopback
 * port. Used by the broker and demo subcommands, the tests and the
 * benchmark, so none of them needs an external service.
 */
#ifndef LTV_DEVENV_H
#define LTV_DEVENV_H

#include <sys/types.h>
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

typedef struct ltv_mock_s {
    rd_kafka_t *rk;                /* handle that owns the cluster */
    rd_kafka_mock_cluster_t *mc;
    const char *bootstraps;
} ltv_mock_t;

/* Starts a mock cluster with `brokers` brokers. */
ltv_mock_t *ltv_mock_start(int brokers, char *errstr, size_t errstr_size);
int ltv_mock_topic(ltv_mock_t *m, const char *topic, int partitions);
void ltv_mock_stop(ltv_mock_t *m);

typedef struct ltv_redis_s {
    pid_t pid;
    int port;
    char dir[256];   /* working directory (rdb/aof, log) */
    int own_dir;     /* dir was created here and is removed at stop */
} ltv_redis_t;

/* Starts redis-server on a free 127.0.0.1 port and waits until it answers.
 * dir: working directory (NULL: a new temporary one). appendonly: 1 turns
 * on AOF with fsync every second, 2 with fsync at every write (nothing
 * acknowledged is lost to a kill -9). port 0 picks a free one. */
ltv_redis_t *ltv_redis_start(const char *dir, int port, int appendonly, char *errstr,
                             size_t errstr_size);
/* SIGTERM (graceful, persists) or SIGKILL, then waits for the process. */
void ltv_redis_kill(ltv_redis_t *r, int sig);
/* Starts it again on the same port and directory. */
int ltv_redis_restart(ltv_redis_t *r, int appendonly, char *errstr, size_t errstr_size);
void ltv_redis_stop(ltv_redis_t *r);

/* A free TCP port on 127.0.0.1 (bound and released, so racy but fine for
 * tests on one machine). */
int ltv_free_port(void);

#endif
