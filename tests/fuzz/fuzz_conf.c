/*
 * libFuzzer target for the configuration: what `ltvstream run -c FILE -X
 * k=v ...` does with its arguments, with the file's text and the -X
 * arguments taken from the input.
 *
 * Input layout, like a command line: the text up to the first NUL byte is
 * the properties file (ltv_conf_load_file, which reads it through a
 * memfd's /proc path); each NUL-separated string after it is one -X
 * argument (ltv_conf_set_pair), applied in order after the file, as main.c
 * does. Without a NUL the whole input is the file.
 *
 * Then the values that are parsed only when the stage starts are parsed
 * too: the RFM edges and segment rules and the aggregators
 * (ltv_aggs_new), the output schemas generated from the configuration,
 * which must be valid Avro whenever the configuration was accepted, and
 * the output.avro.schema.ids mapping. A rejected key or value is fine (it
 * is reported and the stage does not start); a crash, a leak or a
 * sanitizer report is not.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "agg.h"
#include "conf.h"
#include "outschema.h"
#include "schema_store.h"
#include "util.h"

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_conf: check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

static int memfd = -1;
static char memfd_path[64];

static void cleanup(void) {
    if (memfd >= 0)
        close(memfd);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc;
    (void)argv;
    memfd = memfd_create("ltv_fuzz_conf", 0);
    if (memfd < 0) {
        perror("fuzz_conf: memfd_create");
        exit(1);
    }
    snprintf(memfd_path, sizeof(memfd_path), "/proc/self/fd/%d", memfd);
    atexit(cleanup);
    return 0;
}

static void write_file(const uint8_t *p, size_t n) {
    CHECK(ftruncate(memfd, 0) == 0);
    size_t off = 0;
    while (off < n) {
        ssize_t w = pwrite(memfd, p + off, n - off, (off_t)off);
        CHECK(w > 0);
        off += (size_t)w;
    }
}

static volatile size_t sink;

/* What the stage parses from the configuration when it starts. */
static void start_parsers(const ltv_conf_t *conf) {
    char err[512];
    err[0] = '\0';
    ltv_aggs_t *aggs = ltv_aggs_new(conf, err, sizeof(err));
    if (!aggs) {
        CHECK(err[0] != '\0');
        return;
    }
    ltv_outschema_t *s;
    int n = ltv_outschemas(aggs, conf, &s);
    for (int i = 0; i < n; i++) {
        avro_schema_t sc = ltv_avro_parse(s[i].json, err, sizeof(err));
        if (!sc) {
            fprintf(stderr, "fuzz_conf: accepted configuration, invalid output schema: %s\n%s\n",
                    err, s[i].json);
            abort();
        }
        avro_schema_decref(sc);
        sink += (size_t)ltv_schema_id_for(conf->output_schema_ids, s[i].topic);
    }
    ltv_outschemas_free(s, n);
    ltv_aggs_destroy(aggs);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *nul = memchr(data, '\0', size);
    size_t flen = nul ? (size_t)(nul - data) : size;
    char err[512];

    ltv_conf_t *conf = ltv_conf_new();
    write_file(data, flen);
    err[0] = '\0';
    ltv_conf_res_t r = ltv_conf_load_file(conf, memfd_path, err, sizeof(err));
    CHECK(r == LTV_CONF_OK || err[0] != '\0');

    /* The -X arguments: NUL-terminated strings, the last one possibly
     * running to the end of the input (copied to terminate it). */
    if (nul) {
        size_t rest = size - flen - 1;
        char *args = ltv_malloc(rest + 1);
        memcpy(args, nul + 1, rest);
        args[rest] = '\0';
        for (char *a = args; a <= args + rest; a += strlen(a) + 1) {
            err[0] = '\0';
            ltv_conf_res_t x = ltv_conf_set_pair(conf, a, err, sizeof(err));
            CHECK(x == LTV_CONF_OK || err[0] != '\0');
        }
        free(args);
    }
    /* A rejected setting leaves the key as it was, so whatever was accepted
     * is a configuration the stage could start with. */
    start_parsers(conf);
    for (int role = 1; role <= 2; role++) {
        const char *v = ltv_conf_kafka_get(conf, role, "bootstrap.servers");
        sink += v ? strlen(v) : 0;
    }
    ltv_conf_destroy(conf);
    return 0;
}
