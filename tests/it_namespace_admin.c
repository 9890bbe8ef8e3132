/*
 * `ltvstream ns list` and `ltvstream ns drop` over two namespaces, "shop"
 * and "shop:v2" (a name that starts with the other's, so a careless prefix
 * match would mix them up):
 *
 *  - list shows both with the counts the test computes itself by scanning
 *    Redis (keys, customers, visitors, rows, partitions, offsets), the
 *    watermark and no connection;
 *  - drop with a wrong confirmation, or none on a non-terminal, refuses
 *    and deletes nothing;
 *  - drop refuses while a stage runs on the namespace (its Redis
 *    connection), and after it stopped while its last commit is recent;
 *  - drop with the right name deletes exactly that namespace's keys and
 *    leaves the other's untouched; --force drops one still recently used.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"
#include "util.h"

static h_env_t *H;

/* Keys of a namespace as the test sees them: "<ns>:" followed by anything
 * but the other namespace's "v2:" (no key of "shop" starts so). */
typedef struct counts_s {
    int64_t keys, customers, visitors, rows, offsets;
} counts_t;

static counts_t count_ns(const char *ns) {
    counts_t c = {0, 0, 0, 0, 0};
    size_t nl = strlen(ns);
    char cursor[32] = "0";
    do {
        redisReply *r = redisCommand(H->rc, "SCAN %s MATCH shop:* COUNT 500", cursor);
        assert_true(r && r->type == REDIS_REPLY_ARRAY);
        snprintf(cursor, sizeof(cursor), "%s", r->element[0]->str);
        for (size_t i = 0; i < r->element[1]->elements; i++) {
            const char *k = r->element[1]->element[i]->str;
            int in_v2 = !strncmp(k, "shop:v2:", 8);
            if (strncmp(k, ns, nl) || k[nl] != ':' || (in_v2 != !strcmp(ns, "shop:v2")))
                continue;
            const char *rest = k + nl + 1;
            c.keys++;
            if (!strncmp(rest, "cs:", 3)) {
                /* A bucket: customers are its "c:" fields, visitors "v:". */
                redisReply *f = redisCommand(H->rc, "HKEYS %s", k);
                assert_true(f && f->type == REDIS_REPLY_ARRAY);
                for (size_t j = 0; j < f->elements; j++) {
                    c.customers += !strncmp(f->element[j]->str, "c:", 2);
                    c.visitors += !strncmp(f->element[j]->str, "v:", 2);
                }
                freeReplyObject(f);
            }
            c.rows += !strncmp(rest, "row:", 4);
            c.offsets += !strncmp(rest, "off:", 4);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0"));
    return c;
}

static const char *const stage_x[] = {"topic.f2_rate=adm.f2", "topic.f2_rolling=adm.roll",
                                      "topic.retention_mix=adm.mix",
                                      "topic.rfm_segments=adm.rfm",
                                      "topic.customer_rfm=adm.crfm", "topic.dlq=adm.dlq", NULL};

static int setup(void **state) {
    (void)state;
    H = h_start(2, 0);
    h_gen(H, 300, 20, 5);
    h_stage_run_to_end(H, "shop", stage_x);
    h_stage_run_to_end(H, "shop:v2", stage_x);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    h_stop(H);
    return 0;
}

/* Runs `ltvstream <cmd...>`; returns the exit status, its output in *out
 * (free it). */
static int run(const char *const *cmd, char **out) {
    pid_t pid = h_cmd_start(H, cmd, "admin", NULL);
    int rc = h_stage_wait(pid, 60000);
    *out = h_slurp(h_stage_log(pid));
    fprintf(stderr, "$ ltvstream");
    for (int i = 0; cmd[i]; i++)
        fprintf(stderr, " %s", cmd[i]);
    fprintf(stderr, "  (exit %d)\n%s", rc, *out);
    return rc;
}

static int drop(const char *ns, const char *confirm, const char *min_idle, char **out) {
    const char *cmd[12] = {"ns", "drop", "--namespace", ns};
    int n = 4;
    if (confirm) {
        cmd[n++] = "--confirm";
        cmd[n++] = confirm;
    }
    if (min_idle) {
        cmd[n++] = "--min-idle";
        cmd[n++] = min_idle;
    }
    cmd[n] = NULL;
    return run(cmd, out);
}

/* The `ns list` line of namespace ns, split at blanks; returns the number
 * of columns (0: no such line). */
static int list_line(const char *out, const char *ns, char cols[12][64]) {
    const char *p = out;
    while (p && *p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char line[1024];
        snprintf(line, sizeof(line), "%.*s", (int)len, p);
        int n = 0;
        for (char *save, *tok = strtok_r(line, " ", &save); tok && n < 12;
             tok = strtok_r(NULL, " ", &save))
            snprintf(cols[n++], 64, "%s", tok);
        if (n && !strcmp(cols[0], ns))
            return n;
        p = e ? e + 1 : NULL;
    }
    return 0;
}

static void assert_listed(const char *out, const char *ns) {
    char cols[12][64];
    assert_int_equal(list_line(out, ns, cols), 10);
    counts_t c = count_ns(ns);
    assert_true(c.customers > 100 && c.rows > 50);
    assert_int_equal(strtoll(cols[1], NULL, 10), c.keys);
    assert_int_equal(strtoll(cols[2], NULL, 10), c.customers);
    assert_int_equal(strtoll(cols[3], NULL, 10), c.visitors);
    assert_int_equal(strtoll(cols[4], NULL, 10), c.rows);
    assert_int_equal(strtoll(cols[5], NULL, 10), c.offsets);
    assert_int_equal(c.offsets, 2 * H->partitions); /* purchases and visits */
    assert_int_equal(strtoll(cols[6], NULL, 10), h_input_end(H));
    char key[64], want[32];
    snprintf(key, sizeof(key), "%s:clock", ns);
    ltv_ts_format(h_hget_i64(H, key, "watermark"), want);
    assert_string_equal(cols[7], want);
    assert_string_equal(cols[9], "0"); /* no stage connected */
}

static void list_shows_both_with_their_counts(void **state) {
    (void)state;
    char *out;
    const char *cmd[] = {"ns", "list", NULL};
    assert_int_equal(run(cmd, &out), 0);
    assert_listed(out, "shop");
    assert_listed(out, "shop:v2");
    free(out);
}

static void drop_without_the_name_deletes_nothing(void **state) {
    (void)state;
    char *before = h_dump_ns(H, "shop");
    counts_t c0 = count_ns("shop");
    char *out;
    assert_int_equal(drop("shop", "shop:v2", "0", &out), 2); /* the other one's name */
    free(out);
    assert_int_equal(drop("shop", "shop ", "0", &out), 2);
    free(out);
    assert_int_equal(drop("shop", NULL, "0", &out), 2); /* no terminal to ask on */
    assert_non_null(strstr(out, "--confirm"));
    free(out);
    char *after = h_dump_ns(H, "shop");
    h_assert_same_dump(H, before, after, "shop before and after refused drops");
    assert_int_equal(count_ns("shop").keys, c0.keys);
    assert_true(h_exists(H, "shop:meta"));
    free(before);
    free(after);
}

/* Whether a Redis connection named for ns is open (the stage's). */
static int connected(const char *ns) {
    redisReply *r = redisCommand(H->rc, "CLIENT LIST");
    assert_true(r && r->type == REDIS_REPLY_STRING);
    char want[128];
    snprintf(want, sizeof(want), " name=ltvstream:%s ", ns);
    int yes = strstr(r->str, want) != NULL;
    freeReplyObject(r);
    return yes;
}

static void drop_refused_while_in_use(void **state) {
    (void)state;
    counts_t c0 = count_ns("shop:v2");
    pid_t stage = h_stage_start(H, "shop:v2", stage_x);
    int64_t deadline = ltv_mono_us() + 30000000;
    while (!connected("shop:v2")) {
        if (ltv_mono_us() > deadline)
            fail_msg("the stage did not connect to Redis within 30 s");
        h_sleep_ms(20);
    }
    char *out;
    /* Running: refused even with no idle time required. */
    assert_int_equal(drop("shop:v2", "shop:v2", "0", &out), 1);
    assert_non_null(strstr(out, "in use"));
    free(out);
    const char *cmd[] = {"ns", "list", NULL};
    assert_int_equal(run(cmd, &out), 0);
    char cols[12][64];
    assert_int_equal(list_line(out, "shop:v2", cols), 10);
    assert_string_equal(cols[9], "1");
    free(out);
    kill(stage, SIGTERM);
    assert_int_equal(h_stage_wait(stage, 30000), 0);
    /* Stopped, but it committed seconds ago (default --min-idle 600 s). */
    assert_int_equal(drop("shop:v2", "shop:v2", NULL, &out), 1);
    assert_non_null(strstr(out, "min-idle"));
    free(out);
    assert_int_equal(count_ns("shop:v2").keys, c0.keys);
}

static void drop_deletes_exactly_one_namespace(void **state) {
    (void)state;
    char *v2_before = h_dump_ns(H, "shop:v2");
    counts_t v2 = count_ns("shop:v2"), shop = count_ns("shop");
    char *out;
    assert_int_equal(drop("shop", "shop", "0", &out), 0);
    char want[128];
    snprintf(want, sizeof(want), "dropped namespace shop: %lld keys (%lld customers",
             (long long)shop.keys, (long long)shop.customers);
    assert_non_null(strstr(out, want));
    free(out);
    assert_int_equal(count_ns("shop").keys, 0);
    assert_false(h_exists(H, "shop:meta"));
    char *v2_after = h_dump_ns(H, "shop:v2");
    h_assert_same_dump(H, v2_before, v2_after, "shop:v2 before and after dropping shop");
    assert_int_equal(count_ns("shop:v2").keys, v2.keys);
    free(v2_before);
    free(v2_after);
    const char *cmd[] = {"ns", "list", NULL};
    assert_int_equal(run(cmd, &out), 0);
    char cols[12][64];
    assert_int_equal(list_line(out, "shop", cols), 0);
    assert_listed(out, "shop:v2");
    free(out);
    /* Gone is gone. */
    assert_int_equal(drop("shop", "shop", "0", &out), 1);
    free(out);
    /* --force drops a namespace that committed moments ago (test above). */
    const char *force[] = {"ns", "drop", "--namespace", "shop:v2", "--confirm", "shop:v2",
                           "--force", NULL};
    assert_int_equal(run(force, &out), 0);
    free(out);
    assert_int_equal(count_ns("shop:v2").keys, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(list_shows_both_with_their_counts),
        cmocka_unit_test(drop_without_the_name_deletes_nothing),
        cmocka_unit_test(drop_refused_while_in_use),
        cmocka_unit_test(drop_deletes_exactly_one_namespace),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
