/*
 * The stage's event-time clock (SPEC §4, consumer/clock.c): the watermark
 * is the minimum over the non-idle partitions of the highest event time
 * committed from each, minus the allowed lateness; a partition is idle when
 * it delivered nothing for longer than the idle timeout (wall time; 0 =
 * never idle) or was read to its end; when every partition is idle the
 * watermark is the maximum over them (minus the lateness, like any
 * watermark: §4 defines the per-partition clock as "highest ts seen minus
 * the allowed lateness"); partitions without data do not count.
 *
 * Also the encoding of one partition's position in the shared clock hash,
 * "maxts,active_ms,at_end".
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "clock.h"

#define SEC INT64_C(1000)
#define HOUR INT64_C(3600000)
#define DAY INT64_C(86400000)

/* 2024-05-01T00:00:00Z (see unit_fixtures.h for the arithmetic). */
#define T0 INT64_C(1714521600000)
/* A wall clock far from the event times, so the two cannot be confused. */
#define NOW INT64_C(1800000000000)

static ltv_clockpos_t pos(const char *name, int64_t maxts, int64_t active_ms, int at_end) {
    ltv_clockpos_t p;
    memset(&p, 0, sizeof(p));
    snprintf(p.name, sizeof(p.name), "%s", name);
    p.maxts = maxts;
    p.active_ms = active_ms;
    p.at_end = at_end;
    return p;
}

static void test_no_data_is_unknown(void **state) {
    (void)state;
    /* No partitions at all. */
    assert_true(ltv_clock_watermark(NULL, 0, NOW, 60 * SEC, DAY) == INT64_MIN);
    /* Partitions that have delivered nothing yet (maxts INT64_MIN), active or
     * not, idle or at their end. */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", INT64_MIN, NOW, 0),
        pos("ltv.purchases:1", INT64_MIN, NOW - 10 * HOUR, 0),
        pos("ltv.visits:0", INT64_MIN, 0, 1),
    };
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, DAY) == INT64_MIN);
    assert_true(ltv_clock_watermark(p, 3, NOW, 0, 0) == INT64_MIN);
}

static void test_min_over_active_minus_lateness(void **state) {
    (void)state;
    /* Three active partitions (last data 1 s, 5 s, 59 s ago; timeout 60 s). */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", T0 + 5 * HOUR, NOW - 1 * SEC, 0),
        pos("ltv.purchases:1", T0 + 2 * HOUR, NOW - 5 * SEC, 0),
        pos("ltv.visits:0", T0 + 7 * HOUR, NOW - 59 * SEC, 0),
    };
    /* min = T0 + 2 h; minus one day of lateness: T0 + 2 h - 24 h = T0 - 22 h. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, DAY) == T0 - 22 * HOUR);
    /* Lateness 0: the minimum itself. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, 0) == T0 + 2 * HOUR);
    /* Lateness 30 min: T0 + 2 h - 30 min = T0 + 90 min. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, 30 * 60 * SEC) == T0 + 90 * 60 * SEC);
    /* One partition alone. */
    assert_true(ltv_clock_watermark(&p[2], 1, NOW, 60 * SEC, HOUR) == T0 + 6 * HOUR);
}

static void test_idle_partition_excluded(void **state) {
    (void)state;
    /* Partition 1 holds the lowest event time but delivered nothing for 61 s,
     * longer than the 60 s timeout: it no longer holds the clock back. */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", T0 + 5 * HOUR, NOW - 1 * SEC, 0),
        pos("ltv.purchases:1", T0 + 2 * HOUR, NOW - 61 * SEC, 0),
        pos("ltv.visits:0", T0 + 7 * HOUR, NOW - 2 * SEC, 0),
    };
    /* min over {T0+5h, T0+7h} = T0 + 5 h; minus 1 h lateness = T0 + 4 h. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, HOUR) == T0 + 4 * HOUR);
    /* Exactly 60 s quiet is not "longer than" the timeout: still counted,
     * min = T0 + 2 h, minus 1 h = T0 + 1 h. */
    p[1].active_ms = NOW - 60 * SEC;
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, HOUR) == T0 + 1 * HOUR);
    /* A longer timeout (10 min) keeps the 61 s quiet partition in. */
    p[1].active_ms = NOW - 61 * SEC;
    assert_true(ltv_clock_watermark(p, 3, NOW, 600 * SEC, HOUR) == T0 + 1 * HOUR);
    /* p[2] (the highest time) quiet for an hour as well: with p[1] still
     * idle, only p[0] is active: T0 + 5 h - 1 h = T0 + 4 h (not the
     * all-idle maximum). */
    p[2].active_ms = NOW - 3600 * SEC;
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, HOUR) == T0 + 4 * HOUR);
}

static void test_idle_timeout_zero_never_idle(void **state) {
    (void)state;
    /* Quiet for a whole day of wall time, but timeout 0 means never idle. */
    ltv_clockpos_t p[2] = {
        pos("ltv.purchases:0", T0 + 5 * HOUR, NOW - 1 * SEC, 0),
        pos("ltv.purchases:1", T0 + 2 * HOUR, NOW - DAY, 0),
    };
    /* min = T0 + 2 h, lateness 1 h: T0 + 1 h. */
    assert_true(ltv_clock_watermark(p, 2, NOW, 0, HOUR) == T0 + 1 * HOUR);
    /* With a 60 s timeout p[1] is idle: T0 + 5 h - 1 h = T0 + 4 h. */
    assert_true(ltv_clock_watermark(p, 2, NOW, 60 * SEC, HOUR) == T0 + 4 * HOUR);
}

static void test_at_end_excluded(void **state) {
    (void)state;
    /* p[1] was read to its end (run.stop.at.end): excluded although active
     * a moment ago, and even with timeout 0. */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", T0 + 5 * HOUR, NOW - 1 * SEC, 0),
        pos("ltv.purchases:1", T0 + 2 * HOUR, NOW, 1),
        pos("ltv.visits:0", T0 + 9 * HOUR, NOW - 1 * SEC, 0),
    };
    /* min over {T0+5h, T0+9h} = T0 + 5 h, minus 1 h: T0 + 4 h. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, HOUR) == T0 + 4 * HOUR);
    assert_true(ltv_clock_watermark(p, 3, NOW, 0, HOUR) == T0 + 4 * HOUR);
}

static void test_all_idle_takes_max(void **state) {
    (void)state;
    /* One at its end, two quiet for longer than the timeout. */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", T0 + 5 * HOUR, NOW - 61 * SEC, 0),
        pos("ltv.purchases:1", T0 + 2 * HOUR, NOW, 1),
        pos("ltv.visits:0", T0 + 9 * HOUR, NOW - 3600 * SEC, 0),
    };
    /* All idle: max = T0 + 9 h; minus 1 h lateness = T0 + 8 h. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, HOUR) == T0 + 8 * HOUR);
    /* Lateness 0: exactly the maximum. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, 0) == T0 + 9 * HOUR);
    /* Every partition at its end (a replay that has read everything). */
    for (int i = 0; i < 3; i++)
        p[i].at_end = 1;
    assert_true(ltv_clock_watermark(p, 3, NOW, 0, 0) == T0 + 9 * HOUR);
}

static void test_partitions_without_data_ignored(void **state) {
    (void)state;
    /* An active partition with no data must not drag the minimum down to
     * INT64_MIN (nor overflow when the lateness is subtracted). */
    ltv_clockpos_t p[3] = {
        pos("ltv.purchases:0", INT64_MIN, NOW, 0),
        pos("ltv.purchases:1", T0 + 3 * HOUR, NOW - 1 * SEC, 0),
        pos("ltv.visits:0", T0 + 6 * HOUR, NOW - 1 * SEC, 0),
    };
    /* min over {T0+3h, T0+6h} = T0 + 3 h; minus 1 day: T0 - 21 h. */
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, DAY) == T0 - 21 * HOUR);
    /* With the data partitions idle, the empty one does not count as the
     * only active one: all (with data) idle -> max = T0 + 6 h, minus 1 day
     * = T0 - 18 h. */
    p[1].active_ms = p[2].active_ms = NOW - 3600 * SEC;
    assert_true(ltv_clock_watermark(p, 3, NOW, 60 * SEC, DAY) == T0 - 18 * HOUR);
}

static void test_clockpos_roundtrip(void **state) {
    (void)state;
    char buf[128];
    ltv_clockpos_t cases[4] = {
        pos("a:0", T0 + 123, NOW - 5, 0),
        pos("a:1", INT64_MIN, 0, 0),
        pos("b:7", T0, NOW, 1),
        pos("b:8", -1, INT64_MAX, 1),
    };
    /* The encoding by hand: "maxts,active_ms,at_end". */
    int n = ltv_clockpos_format(&cases[0], buf, sizeof(buf));
    /* T0 + 123 = 1714521600123; NOW - 5 = 1799999999995. */
    assert_string_equal(buf, "1714521600123,1799999999995,0");
    assert_int_equal(n, (int)strlen(buf));
    ltv_clockpos_format(&cases[2], buf, sizeof(buf));
    assert_string_equal(buf, "1714521600000,1800000000000,1");
    for (int i = 0; i < 4; i++) {
        n = ltv_clockpos_format(&cases[i], buf, sizeof(buf));
        ltv_clockpos_t q = pos("other", 42, 42, 0);
        assert_int_equal(ltv_clockpos_parse(&q, buf, n), 0);
        assert_true(q.maxts == cases[i].maxts);
        assert_true(q.active_ms == cases[i].active_ms);
        assert_int_equal(q.at_end, cases[i].at_end);
    }
    /* The value need not be NUL-terminated: only vlen bytes are read. */
    ltv_clockpos_t q = pos("x", 0, 0, 0);
    assert_int_equal(ltv_clockpos_parse(&q, "17,18,1garbage", 7), 0);
    assert_true(q.maxts == 17);
    assert_true(q.active_ms == 18);
    assert_int_equal(q.at_end, 1);
    /* Any non-zero at_end is true. */
    assert_int_equal(ltv_clockpos_parse(&q, "1,2,5", 5), 0);
    assert_int_equal(q.at_end, 1);
}

static void test_clockpos_parse_errors(void **state) {
    (void)state;
    const char *bad[] = {
        "",          /* empty */
        "1,2",       /* two fields */
        "1",         /* one field */
        "1,2,0,",    /* trailing separator */
        "1,2,0x",    /* trailing garbage */
        "a,b,c",     /* not numbers */
        ",2,0",      /* missing maxts */
        "1;2;0",     /* wrong separator */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ltv_clockpos_t q = pos("x", 7, 8, 0);
        if (ltv_clockpos_parse(&q, bad[i], (int)strlen(bad[i])) != -1)
            fail_msg("\"%s\" parsed", bad[i]);
        /* A failed parse leaves the position alone. */
        assert_true(q.maxts == 7);
        assert_true(q.active_ms == 8);
    }
    /* Negative length; and 80 bytes or more do not fit the parser's buffer. */
    ltv_clockpos_t q = pos("x", 7, 8, 0);
    assert_int_equal(ltv_clockpos_parse(&q, "1,2,0", -1), -1);
    char longv[100];
    memset(longv, '1', sizeof(longv));
    longv[1] = ',';
    longv[3] = ',';
    assert_int_equal(ltv_clockpos_parse(&q, longv, 80), -1);
    assert_true(q.maxts == 7);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_data_is_unknown),
        cmocka_unit_test(test_min_over_active_minus_lateness),
        cmocka_unit_test(test_idle_partition_excluded),
        cmocka_unit_test(test_idle_timeout_zero_never_idle),
        cmocka_unit_test(test_at_end_excluded),
        cmocka_unit_test(test_all_idle_takes_max),
        cmocka_unit_test(test_partitions_without_data_ignored),
        cmocka_unit_test(test_clockpos_roundtrip),
        cmocka_unit_test(test_clockpos_parse_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
