/*
 * `ltvstream broker`: librdkafka's mock cluster as a local Kafka-protocol
 * broker for development (kcat and any Kafka client can use it). It keeps
 * only the last 5 MiB of each partition, so input topics get enough
 * partitions for the data a session keeps.
 */
#include "devenv.h"
#include "tools.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop_flag;
static void on_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

int ltv_broker_main(int argc, char **argv) {
    int partitions = 16, brokers = 1;
    const char *topics[32];
    int ntopics = 0;
    static const struct option lo[] = {{"partitions", 1, 0, 'p'}, {"topic", 1, 0, 't'},
                                       {"brokers", 1, 0, 'n'},   {"help", 0, 0, 'h'},
                                       {0, 0, 0, 0}};
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "p:t:n:h", lo, NULL)) != -1) {
        switch (c) {
        case 'p': partitions = atoi(optarg); break;
        case 'n': brokers = atoi(optarg); break;
        case 't':
            if (ntopics < 32)
                topics[ntopics++] = optarg;
            break;
        default:
            fprintf(stderr,
                    "Usage: ltvstream broker [-p partitions (16)] [-t topic]... [-n brokers (1)]\n"
                    "Starts the embedded broker, prints its bootstrap address, runs until "
                    "SIGINT/SIGTERM.\n"
                    "Input topics ltv.purchases and ltv.visits are created with -p partitions;\n"
                    "the mock keeps only the last 5 MiB per partition.\n");
            return c == 'h' ? 0 : 2;
        }
    }
    char err[256];
    ltv_mock_t *m = ltv_mock_start(brokers, err, sizeof(err));
    if (!m) {
        fprintf(stderr, "broker: %s\n", err);
        return 1;
    }
    if (!ntopics) {
        topics[ntopics++] = "ltv.purchases";
        topics[ntopics++] = "ltv.visits";
    }
    for (int i = 0; i < ntopics; i++)
        ltv_mock_topic(m, topics[i], partitions);
    /* Outputs and the dead-letter topic: fewer partitions are plenty. */
    static const char *outs[] = {"ltv.dlq", "ltv.f2_rate", "ltv.retention_mix"};
    for (size_t i = 0; i < sizeof(outs) / sizeof(outs[0]); i++)
        ltv_mock_topic(m, outs[i], 4);
    printf("%s\n", m->bootstraps);
    fflush(stdout);
    fprintf(stderr, "embedded broker on %s (%d partitions per input topic); Ctrl-C stops it\n",
            m->bootstraps, partitions);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop_flag)
        pause();
    ltv_mock_stop(m);
    return 0;
}
