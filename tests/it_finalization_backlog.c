/*
 * More rows fall final at once than one commit finalizes (2000 milestones
 * per commit, consumer/stage_commit.c), and no event follows: the stage
 * still finalizes all of them.
 *
 * 800 first orders, one a day from 2022-01-01 (distinct customers, one
 * partition, allowed.lateness.ms of 400 days, no idle timeout), produced
 * together: the watermark reaches day 399, and the rows of the later days
 * wait for their milestones (cohort rows of `all` and `email` at 30 and 90
 * days, retention rows, rolling windows: thousands). Then one order on day
 * 1300 moves the watermark to day 900 in one step, past every milestone
 * of the cohort rows: final once the watermark passes the end of D + 90
 * (the longest horizon). Before the stage went on finalizing after a
 * commit that hit the limit, a quiet stream left the rest non-final until
 * the next event.
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

#define NS "finb"
#define DAYS 800
#define DAY_MS INT64_C(86400000)

/* Rows of ltv.f2_rate whose cohort day is final at watermark wm, and how
 * many of them say so. */
static void count_final(h_env_t *H, int64_t wm, int *due, int *final) {
    ltv_table_t t;
    h_read_table(H, "ltv.f2_rate", &t);
    *due = *final = 0;
    for (int i = 0; i < t.n; i++) {
        const ltv_table_row_t *r = &t.rows[i];
        char iso[40];
        if (strlen(r->key) < 10)
            continue;
        snprintf(iso, sizeof(iso), "%.10sT00:00:00", r->key);
        /* End of day D + 90 days: D's start + 91 days. */
        if (h_ts(iso) + 91 * DAY_MS > wm)
            continue;
        (*due)++;
        char v[8] = "";
        ltv_json_field(r->json, "final", v, sizeof(v));
        *final += !strcmp(v, "true");
    }
    ltv_table_free(&t);
}

/* Finalizing takes several commits, which the test cannot see finish (the
 * emission queue is empty for a moment between two): it waits until every
 * due row is final, for a minute at most. */
static void wait_all_final(h_env_t *H, int64_t wm, int *due, int *final) {
    int64_t deadline = ltv_mono_us() + 60 * INT64_C(1000000);
    for (;;) {
        count_final(H, wm, due, final);
        if ((*due && *final == *due) || ltv_mono_us() > deadline)
            break;
        h_sleep_ms(100);
    }
}

static void every_due_row_final_without_another_event(void **state) {
    (void)state;
    h_env_t *H = h_start(1, 0);
    static char ids[DAYS][3][24];
    ltv_event_t *evs = calloc(DAYS, sizeof(*evs));
    int64_t day0 = h_ts("2022-01-01T10:00:00");
    char iso[DAYS][32];
    for (int d = 0; d < DAYS; d++) {
        snprintf(ids[d][0], sizeof(ids[d][0]), "e%d", d);
        snprintf(ids[d][1], sizeof(ids[d][1]), "c%d", d);
        snprintf(ids[d][2], sizeof(ids[d][2]), "o%d", d);
        ltv_ts_format(day0 + d * DAY_MS, iso[d]);
        iso[d][19] = '\0'; /* "YYYY-MM-DDTHH:MM:SS" */
        evs[d] = h_order(ids[d][0], ids[d][1], ids[d][2], iso[d], 4000, "email", NULL);
    }
    h_produce(H, evs, DAYS);
    free(evs);

    static const char *const x[] = {"allowed.lateness.ms=34560000000",
                                    "watermark.idle.timeout.ms=0", NULL};
    pid_t stage = h_stage_start(H, NS, x);
    h_wait_settled(H, NS, DAYS, day0 + (DAYS - 1 - 400) * DAY_MS, 60000, "800 orders");
    int due = 0, final = 0;
    wait_all_final(H, day0 + (DAYS - 1 - 400) * DAY_MS, &due, &final);
    assert_int_equal(due, 2 * 309); /* 2022-01-01 .. 2022-11-05 */
    assert_int_equal(final, due);

    ltv_event_t late = h_order("e-last", "c-last", "o-last", "2025-07-24T10:00:00", 4000,
                               "email", NULL);
    assert_true(h_ts("2025-07-24T10:00:00") == day0 + 1300 * DAY_MS);
    h_produce(H, &late, 1);
    int64_t wm = day0 + 900 * DAY_MS;
    h_wait_settled(H, NS, DAYS + 1, wm, 60000, "the order of day 1300");
    /* Every cohort day of the 800 is final now: 1600 rows. */
    wait_all_final(H, wm, &due, &final);
    assert_int_equal(due, 2 * DAYS);
    assert_int_equal(final, due);

    kill(stage, SIGTERM);
    assert_int_equal(h_stage_wait(stage, 30000), 0);
    h_stop(H);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_due_row_final_without_another_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
