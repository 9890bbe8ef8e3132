/*
 * `ltvstream table`: an output topic read back as a table, as the README's
 * "BI consumption" shows. Hand-made records on a two-partition topic: per
 * key the highest version wins even when a lower one comes later (a paused
 * instance delivering late), a tombstone deletes its key, and --last keeps
 * each key's last record instead (what log compaction keeps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

static h_env_t *H;

static int setup(void **state) {
    (void)state;
    H = h_start(1, 0);
    ltv_mock_topic(H->mock, "t.rows", 2);
    static const struct {
        const char *key, *json;
    } recs[] = {
        {"2025-01-01", "{\"day\":\"2025-01-01\",\"customers\":1,\"version\":1}"},
        {"2025-01-02", "{\"day\":\"2025-01-02\",\"customers\":5,\"version\":3}"},
        {"2025-01-01", "{\"day\":\"2025-01-01\",\"customers\":2,\"version\":2}"},
        {"2025-01-02", "{\"day\":\"2025-01-02\",\"customers\":4,\"version\":2}"},
        {"c9", "{\"customer_id\":\"c9\",\"segment\":\"lost\",\"version\":1}"},
    };
    for (size_t i = 0; i < sizeof(recs) / sizeof(recs[0]); i++)
        h_produce_raw(H, "t.rows", recs[i].key, recs[i].json, strlen(recs[i].json));
    h_produce_raw(H, "t.rows", "c9", NULL, 0); /* tombstone */
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

static char *table(const char *const *args, int *rc) {
    const char *cmd[6] = {"table"};
    int n = 1;
    for (int i = 0; args[i] && n < 5; i++)
        cmd[n++] = args[i];
    cmd[n] = NULL;
    pid_t pid = h_cmd_start(H, cmd, "table", NULL);
    *rc = h_stage_wait(pid, 60000);
    char *log = h_slurp(h_stage_log(pid));
    assert_non_null(log);
    return log;
}

/* Runs `ltvstream table <args>` and checks it exits 0 printing `want`;
 * returns its output. */
static char *expect_table(const char *const *args, const char *want) {
    int rc;
    char *out = table(args, &rc);
    assert_int_equal(rc, 0);
    if (!strstr(out, want))
        fail_msg("output:\n%s", out);
    return out;
}

static void newest_version_per_key(void **state) {
    (void)state;
    static const char *args[] = {"t.rows", NULL};
    /* Sorted by key; 2025-01-02 keeps version 3 although version 2 came
     * after it; c9 is deleted. */
    char *out = expect_table(
        args, "2025-01-01\t{\"day\":\"2025-01-01\",\"customers\":2,\"version\":2}\n"
              "2025-01-02\t{\"day\":\"2025-01-02\",\"customers\":5,\"version\":3}\n");
    assert_null(strstr(out, "c9\t"));
    assert_non_null(strstr(out, "t.rows: 2 rows from 6 messages"));
    free(out);
}

static void last_record_per_key(void **state) {
    (void)state;
    static const char *args[] = {"--last", "t.rows", NULL};
    free(expect_table(
        args, "2025-01-01\t{\"day\":\"2025-01-01\",\"customers\":2,\"version\":2}\n"
              "2025-01-02\t{\"day\":\"2025-01-02\",\"customers\":4,\"version\":2}\n"));
}

static void usage_errors(void **state) {
    (void)state;
    int rc;
    static const char *none[] = {NULL};
    char *out = table(none, &rc);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "needs brokers"));
    free(out);
    static const char *two[] = {"t.rows", "t.other", NULL};
    out = table(two, &rc);
    assert_int_equal(rc, 2);
    assert_non_null(strstr(out, "one topic at a time"));
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(newest_version_per_key),
        cmocka_unit_test(last_record_per_key),
        cmocka_unit_test(usage_errors),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
