/*
 * `ltvstream table [-c file] [-X key=value]... [-b brokers] [--last] <topic>`:
 * an output topic read as a table, the way a BI consumer reads it: from the
 * beginning to the end offsets at the call, keeping per key the row with
 * the highest version (tombstones delete, ordered by their version header),
 * printed as "key<TAB>row" lines sorted by key. --last keeps each key's
 * last record instead, which is what log compaction keeps. JSON rows
 * (output.format json); Avro rows have no version to read here. The
 * brokers come from the stage's own options, so a deployment's properties
 * file serves here too.
 */
#include "cli.h"
#include "conf.h"
#include "rowread.h"
#include "tools.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ltv_table_main(int argc, char **argv) {
    const char *topic = NULL;
    int last = 0;
    char **args = ltv_calloc((size_t)argc + 1, sizeof(char *));
    int n = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && !strcmp(a, "--last")) {
            last = 1;
        } else if (i > 0 && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
            printf("Usage: ltvstream table [-c file] [-X key=value]... [-b brokers] [--last] "
                   "<topic>\n"
                   "Prints an output topic as a table: per key the row with the highest "
                   "version\n(--last: the last record, as compaction keeps it), \"key<TAB>row\" "
                   "sorted by key.\n");
            free(args);
            return 0;
        } else if (i > 0 && a[0] != '-' && !(argv[i - 1][0] == '-' && argv[i - 1][1] &&
                                             strchr("cXb", argv[i - 1][1]) && !argv[i - 1][2])) {
            if (topic) {
                fprintf(stderr, "ltvstream table: one topic at a time\n");
                free(args);
                return 2;
            }
            topic = a;
        } else {
            args[n++] = argv[i];
        }
    }
    ltv_conf_t *conf = ltv_conf_new();
    int rc = ltv_cli_parse_conf(n, args, conf);
    free(args);
    const char *brokers = rc ? NULL : ltv_conf_kafka_get(conf, 1, "bootstrap.servers");
    if (!rc && (!brokers || !topic)) {
        fprintf(stderr, "ltvstream table: needs brokers (-b or kafka.bootstrap.servers) and a "
                        "topic\n");
        rc = 2;
    }
    if (rc) {
        ltv_conf_destroy(conf);
        return rc;
    }
    ltv_table_t t;
    char err[512];
    rc = last ? ltv_table_read_last(brokers, topic, &t, err, sizeof(err))
              : ltv_table_read(brokers, topic, &t, err, sizeof(err));
    if (rc) {
        fprintf(stderr, "ltvstream table: %s\n", err);
        ltv_conf_destroy(conf);
        return 1;
    }
    for (int i = 0; i < t.n; i++)
        printf("%s\t%s\n", t.rows[i].key, t.rows[i].json);
    fprintf(stderr, "%s: %d rows from %lld messages\n", topic, t.n, (long long)t.messages);
    ltv_table_free(&t);
    ltv_conf_destroy(conf);
    return 0;
}
