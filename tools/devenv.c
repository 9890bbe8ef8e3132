#include "devenv.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <hiredis/hiredis.h>

ltv_mock_t *ltv_mock_start(int brokers, char *errstr, size_t errstr_size) {
    ltv_mock_t *m = ltv_calloc(1, sizeof(*m));
    rd_kafka_conf_t *kc = rd_kafka_conf_new();
    char tmp[256];
    rd_kafka_conf_set(kc, "log_level", "3", tmp, sizeof(tmp));
    m->rk = rd_kafka_new(RD_KAFKA_PRODUCER, kc, tmp, sizeof(tmp));
    if (!m->rk) {
        snprintf(errstr, errstr_size, "mock handle: %s", tmp);
        rd_kafka_conf_destroy(kc);
        free(m);
        return NULL;
    }
    m->mc = rd_kafka_mock_cluster_new(m->rk, brokers);
    if (!m->mc) {
        snprintf(errstr, errstr_size, "cannot create the mock cluster");
        rd_kafka_destroy(m->rk);
        free(m);
        return NULL;
    }
    m->bootstraps = rd_kafka_mock_cluster_bootstraps(m->mc);
    return m;
}

int ltv_mock_topic(ltv_mock_t *m, const char *topic, int partitions) {
    return rd_kafka_mock_topic_create(m->mc, topic, partitions, 1) ? -1 : 0;
}

void ltv_mock_stop(ltv_mock_t *m) {
    if (!m)
        return;
    rd_kafka_mock_cluster_destroy(m->mc);
    rd_kafka_destroy(m->rk);
    free(m);
}

int ltv_free_port(void) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = 0;
    socklen_t l = sizeof(a);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int redis_ping(int port) {
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    int ok = 0;
    if (c && !c->err) {
        redisReply *r = redisCommand(c, "PING");
        ok = r && r->type == REDIS_REPLY_STATUS;
        if (r)
            freeReplyObject(r);
    }
    if (c)
        redisFree(c);
    return ok;
}

static pid_t redis_spawn(ltv_redis_t *r, int appendonly) {
    char port[16];
    snprintf(port, sizeof(port), "%d", r->port);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        char log[300];
        snprintf(log, sizeof(log), "%s/redis.log", r->dir);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--dir", r->dir, "--save", "", "--appendonly", appendonly ? "yes" : "no",
               "--appendfsync", appendonly == 2 ? "always" : "everysec", "--protected-mode", "no",
               "--daemonize", "no",
               (char *)NULL);
        _exit(127);
    }
    return pid;
}

static int redis_wait_up(ltv_redis_t *r, char *errstr, size_t errstr_size) {
    for (int i = 0; i < 200; i++) {
        if (redis_ping(r->port))
            return 0;
        int st;
        if (waitpid(r->pid, &st, WNOHANG) == r->pid) {
            snprintf(errstr, errstr_size, "redis-server exited (see %s/redis.log)", r->dir);
            r->pid = 0;
            return -1;
        }
        struct timespec ts = {0, 50000000};
        nanosleep(&ts, NULL);
    }
    snprintf(errstr, errstr_size, "redis-server did not answer on port %d", r->port);
    return -1;
}

ltv_redis_t *ltv_redis_start(const char *dir, int port, int appendonly, char *errstr,
                             size_t errstr_size) {
    ltv_redis_t *r = ltv_calloc(1, sizeof(*r));
    if (dir) {
        snprintf(r->dir, sizeof(r->dir), "%s", dir);
        mkdir(r->dir, 0755);
    } else {
        snprintf(r->dir, sizeof(r->dir), "/tmp/ltvstream-redis-XXXXXX");
        if (!mkdtemp(r->dir)) {
            snprintf(errstr, errstr_size, "mkdtemp: %s", strerror(errno));
            free(r);
            return NULL;
        }
        r->own_dir = 1;
    }
    for (int attempt = 0; attempt < 5; attempt++) {
        r->port = port ? port : ltv_free_port();
        r->pid = redis_spawn(r, appendonly);
        if (r->pid < 0) {
            snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
            break;
        }
        if (redis_wait_up(r, errstr, errstr_size) == 0)
            return r;
        if (r->pid)
            ltv_redis_kill(r, SIGKILL);
        if (port)
            break;
    }
    ltv_redis_stop(r);
    return NULL;
}

void ltv_redis_kill(ltv_redis_t *r, int sig) {
    if (!r || r->pid <= 0)
        return;
    kill(r->pid, sig);
    int st;
    waitpid(r->pid, &st, 0);
    r->pid = 0;
}

int ltv_redis_restart(ltv_redis_t *r, int appendonly, char *errstr, size_t errstr_size) {
    for (int attempt = 0; attempt < 20; attempt++) {
        r->pid = redis_spawn(r, appendonly);
        if (r->pid < 0) {
            snprintf(errstr, errstr_size, "fork: %s", strerror(errno));
            return -1;
        }
        if (redis_wait_up(r, errstr, errstr_size) == 0)
            return 0;
        /* The port may still be in TIME_WAIT use by the killed server. */
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void ltv_redis_stop(ltv_redis_t *r) {
    if (!r)
        return;
    ltv_redis_kill(r, SIGKILL);
    if (r->own_dir) {
        char cmd[300];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", r->dir);
        if (system(cmd) != 0) {
            /* leave it */
        }
    }
    free(r);
}
