/*
 * The event-time calendar (SPEC §5: days are cut in a configurable zone
 * offset, default UTC, +09:00 for Japanese shops): day numbers, day
 * starts, YYYY-MM-DD and ISO-8601 formatting and parsing, zone offsets.
 *
 * Day numbers are worked out by hand: 1970-01-01 .. 2024-01-01 is 54 years
 * with 13 leap days (1972 .. 2020), 54*365 + 13 = 19723; then Jan 31 +
 * Feb 29 + Mar 31 + Apr 30 = 121, so 2024-05-01 is day 19844 and starts at
 * 19844 * 86400000 = 1714521600000 ms UTC. The other dates are derived the
 * same way (and were cross-checked with Python's datetime, not with this
 * program).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "util.h"

#define H INT64_C(3600000)
#define M INT64_C(60000)
#define DAY LTV_DAY_MS
#define D_2024_05_01 INT64_C(19844)
#define MS_2024_05_01 INT64_C(1714521600000)

static const struct {
    int64_t day;
    const char *date;
} days[] = {
    {0, "1970-01-01"},
    {1, "1970-01-02"},
    {-1, "1969-12-31"},
    {365, "1971-01-01"},
    {19723, "2024-01-01"},
    {19753, "2024-01-31"},
    {19782, "2024-02-29"}, /* leap day: 19723 + 31 + 28 */
    {19783, "2024-03-01"},
    {19844, "2024-05-01"},
    {20088, "2024-12-31"}, /* 19723 + 366 - 1 */
    {20089, "2025-01-01"},
    {19416, "2023-02-28"}, /* 2023 is not a leap year: 19723 - 365 + 31 + 27 */
    {19417, "2023-03-01"},
    {11016, "2000-02-29"}, /* 2000 is a leap year (divisible by 400): 30*365+7 + 59 */
    {11017, "2000-03-01"},
    {-25509, "1900-02-28"}, /* 1900 is not (divisible by 100): -(70*365+17) + 58 */
    {-25508, "1900-03-01"},
    {47540, "2100-02-28"}, /* 2100 is not: 130*365+32 + 58 */
    {47541, "2100-03-01"},
};
#define NDAYS (sizeof(days) / sizeof(days[0]))

static void test_day_format_known_dates(void **state) {
    (void)state;
    for (size_t i = 0; i < NDAYS; i++) {
        char out[16];
        memset(out, 'X', sizeof(out));
        ltv_day_format(days[i].day, out);
        if (strcmp(out, days[i].date))
            fail_msg("day %lld formatted as %s, want %s", (long long)days[i].day, out,
                     days[i].date);
    }
}

static void test_day_parse_known_dates(void **state) {
    (void)state;
    for (size_t i = 0; i < NDAYS; i++) {
        int64_t d = INT64_MIN;
        if (ltv_day_parse(days[i].date, &d) != 0)
            fail_msg("%s not parsed", days[i].date);
        if (d != days[i].day)
            fail_msg("%s parsed as day %lld, want %lld", days[i].date, (long long)d,
                     (long long)days[i].day);
    }
}

static void test_day_parse_rejects_malformed(void **state) {
    (void)state;
    const char *bad[] = {"",           "abc",         "2024",        "2024-05",
                         "2024-13-01", "2024-00-10",  "2024-05-00",  "2024-05-32",
                         "2024-05-01x", "2024-05-01 ", "2024/05/01", "2024-05-01T00:00:00Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t d = 12345;
        if (ltv_day_parse(bad[i], &d) == 0)
            fail_msg("\"%s\" accepted as day %lld", bad[i], (long long)d);
    }
}

/* Days that do not exist in their month are refused, not rolled over into
 * the next month (2023-02-29 is not 2023-03-01). */
static void test_day_parse_rejects_nonexistent_days(void **state) {
    (void)state;
    const char *bad[] = {"2023-02-29", "2024-02-30", "2024-02-31", "2024-04-31",
                         "2024-06-31", "2024-09-31", "2024-11-31", "1900-02-29",
                         "2100-02-29"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t d = 12345;
        if (ltv_day_parse(bad[i], &d) == 0) {
            char back[16];
            ltv_day_format(d, back);
            fail_msg("nonexistent date \"%s\" accepted as %s", bad[i], back);
        }
    }
}

/* ---- days in a zone -------------------------------------------------------------- */

static void test_day_of_tokyo_boundary(void **state) {
    (void)state;
    const int64_t jst = 9 * H;
    /* 2024-05-01T14:59:59.999Z is 23:59:59.999 on 05-01 in Tokyo ... */
    const int64_t last = MS_2024_05_01 + 14 * H + 59 * M + 59999;
    assert_int_equal(last, INT64_C(1714575599999));
    assert_int_equal(ltv_day_of(last, jst), D_2024_05_01);
    /* ... one millisecond later it is 05-02 there, still 05-01 in UTC */
    assert_int_equal(ltv_day_of(last + 1, jst), D_2024_05_01 + 1);
    assert_int_equal(ltv_day_of(last + 1, 0), D_2024_05_01);
    /* Tokyo's 05-01 began at 2024-04-30T15:00:00Z */
    assert_int_equal(ltv_day_of(MS_2024_05_01 - 9 * H, jst), D_2024_05_01);
    assert_int_equal(ltv_day_of(MS_2024_05_01 - 9 * H - 1, jst), D_2024_05_01 - 1);
}

static void test_day_of_negative_offset(void **state) {
    (void)state;
    const int64_t est = -5 * H;
    /* New York's 05-01 runs from 2024-05-01T05:00Z to 2024-05-02T04:59:59.999Z */
    assert_int_equal(ltv_day_of(MS_2024_05_01 + 5 * H - 1, est), D_2024_05_01 - 1);
    assert_int_equal(ltv_day_of(MS_2024_05_01 + 5 * H, est), D_2024_05_01);
    assert_int_equal(ltv_day_of(MS_2024_05_01 + DAY + 5 * H - 1, est), D_2024_05_01);
    assert_int_equal(ltv_day_of(MS_2024_05_01 + DAY + 5 * H, est), D_2024_05_01 + 1);
    /* half-hour zones: India +05:30, Newfoundland -03:30 */
    assert_int_equal(ltv_day_of(MS_2024_05_01 - 5 * H - 30 * M, 5 * H + 30 * M), D_2024_05_01);
    assert_int_equal(ltv_day_of(MS_2024_05_01 - 5 * H - 30 * M - 1, 5 * H + 30 * M),
                     D_2024_05_01 - 1);
    assert_int_equal(ltv_day_of(MS_2024_05_01 + 3 * H + 30 * M, -3 * H - 30 * M), D_2024_05_01);
    assert_int_equal(ltv_day_of(MS_2024_05_01 + 3 * H + 30 * M - 1, -3 * H - 30 * M),
                     D_2024_05_01 - 1);
}

static void test_day_of_around_the_epoch(void **state) {
    (void)state;
    assert_int_equal(ltv_day_of(0, 0), 0);
    assert_int_equal(ltv_day_of(DAY - 1, 0), 0);
    assert_int_equal(ltv_day_of(DAY, 0), 1);
    /* before the epoch, days count down (floor, not truncation) */
    assert_int_equal(ltv_day_of(-1, 0), -1);
    assert_int_equal(ltv_day_of(-DAY, 0), -1);
    assert_int_equal(ltv_day_of(-DAY - 1, 0), -2);
    /* the epoch instant is still 1969-12-31 in New York, 1970-01-01 in Tokyo */
    assert_int_equal(ltv_day_of(0, -5 * H), -1);
    assert_int_equal(ltv_day_of(0, 9 * H), 0);
    assert_int_equal(ltv_day_of(-9 * H, 9 * H), 0);
    assert_int_equal(ltv_day_of(-9 * H - 1, 9 * H), -1);
    assert_int_equal(ltv_day_of(15 * H - 1, 9 * H), 0);
    assert_int_equal(ltv_day_of(15 * H, 9 * H), 1);
}

static void test_day_start(void **state) {
    (void)state;
    assert_int_equal(ltv_day_start_ms(D_2024_05_01, 0), MS_2024_05_01);
    /* Tokyo's day starts at 15:00 UTC the day before */
    assert_int_equal(ltv_day_start_ms(D_2024_05_01, 9 * H), INT64_C(1714489200000));
    /* New York's (EST) at 05:00 UTC the same day */
    assert_int_equal(ltv_day_start_ms(D_2024_05_01, -5 * H), INT64_C(1714539600000));
    assert_int_equal(ltv_day_start_ms(0, 0), 0);
    assert_int_equal(ltv_day_start_ms(0, 9 * H), -9 * H);
    assert_int_equal(ltv_day_start_ms(-1, 0), -DAY);
}

/* day_of and day_start_ms are inverse, and a day is exactly
 * [start, start + 24h), for every day 1900..2100 in several zones. */
static void test_day_round_trips(void **state) {
    (void)state;
    const int64_t zones[] = {0, 9 * H, -5 * H, 5 * H + 30 * M, -3 * H - 30 * M, 14 * H, -12 * H};
    for (int64_t d = -25567; d <= 47541; d++) { /* 1900-01-01 .. 2100-03-01 */
        for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
            int64_t s = ltv_day_start_ms(d, zones[z]);
            if (ltv_day_of(s, zones[z]) != d || ltv_day_of(s - 1, zones[z]) != d - 1 ||
                ltv_day_of(s + DAY - 1, zones[z]) != d)
                fail_msg("day %lld zone %lld: bounds wrong", (long long)d, (long long)zones[z]);
        }
        char buf[16];
        int64_t back = INT64_MIN;
        ltv_day_format(d, buf);
        if (ltv_day_parse(buf, &back) != 0 || back != d)
            fail_msg("day %lld -> %s -> %lld", (long long)d, buf, (long long)back);
    }
}

/* Consecutive days format as consecutive calendar dates: month lengths
 * and leap years are right everywhere, not only at the sampled dates. */
static void test_consecutive_days_are_consecutive_dates(void **state) {
    (void)state;
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y = 1900, m = 1, dd = 1;
    for (int64_t d = -25567; d <= 47541; d++) {
        char want[48], got[16];
        snprintf(want, sizeof(want), "%04d-%02d-%02d", y, m, dd);
        ltv_day_format(d, got);
        if (strcmp(want, got))
            fail_msg("day %lld: %s, want %s", (long long)d, got, want);
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        int len = mdays[m - 1] + (m == 2 && leap);
        if (++dd > len) {
            dd = 1;
            if (++m > 12) {
                m = 1;
                y++;
            }
        }
    }
}

/* ---- zone offsets ------------------------------------------------------------------ */

static void test_tz_parse_accepts(void **state) {
    (void)state;
    const struct {
        const char *s;
        int64_t ms;
    } ok[] = {
        {"+09:00", 9 * H},       {"-05:00", -5 * H},       {"-05:30", -5 * H - 30 * M},
        {"+05:30", 5 * H + 30 * M}, {"+00:00", 0},         {"-00:00", 0},
        {"Z", 0},                {"UTC", 0},               {"+14:00", 14 * H},
        {"-12:00", -12 * H},     {"+05:45", 5 * H + 45 * M},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        int64_t v = 123;
        if (ltv_tz_parse(ok[i].s, &v) != 0)
            fail_msg("\"%s\" rejected", ok[i].s);
        if (v != ok[i].ms)
            fail_msg("\"%s\" parsed as %lld ms, want %lld", ok[i].s, (long long)v,
                     (long long)ok[i].ms);
    }
}

static void test_tz_parse_rejects(void **state) {
    (void)state;
    const char *bad[] = {"",       "+",      "09:00",     "+09",    "+09:00:00", "+15:00",
                         "+09:60", "JST",    "+09:00 ",   " +09:00", "Asia/Tokyo", "*09:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 123;
        if (ltv_tz_parse(bad[i], &v) == 0)
            fail_msg("\"%s\" accepted as %lld ms", bad[i], (long long)v);
    }
}

/* A sign inside the hours or minutes is not an offset: "+-1:00" must not
 * silently become -01:00, nor "+09:-5" +08:55. */
static void test_tz_parse_rejects_signs_inside_fields(void **state) {
    (void)state;
    const char *bad[] = {"+-1:00", "--1:00", "+09:-5", "-+9:00", "+09:+5"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t v = 123;
        if (ltv_tz_parse(bad[i], &v) == 0)
            fail_msg("\"%s\" accepted as %lld ms", bad[i], (long long)v);
    }
}

/* ---- timestamps ---------------------------------------------------------------------- */

static void test_ts_format(void **state) {
    (void)state;
    const struct {
        int64_t ts;
        const char *s;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {-1, "1969-12-31T23:59:59.999Z"},
        {1, "1970-01-01T00:00:00.001Z"},
        {INT64_C(1714575599999), "2024-05-01T14:59:59.999Z"},
        {INT64_C(1714575600000), "2024-05-01T15:00:00.000Z"},
        {MS_2024_05_01, "2024-05-01T00:00:00.000Z"},
        /* 2000-02-29 is day 11016; + 12:34:56.789 */
        {INT64_C(11016) * DAY + 12 * H + 34 * M + 56789, "2000-02-29T12:34:56.789Z"},
        {INT64_C(19782) * DAY + DAY - 1, "2024-02-29T23:59:59.999Z"},
        {-DAY, "1969-12-31T00:00:00.000Z"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[32];
        memset(out, 'X', sizeof(out));
        ltv_ts_format(cases[i].ts, out);
        if (strcmp(out, cases[i].s))
            fail_msg("ts %lld formatted as %s, want %s", (long long)cases[i].ts, out, cases[i].s);
        assert_int_equal(strlen(out), 24);
    }
}

/* ts_format's date, shifted into a zone, is the date of day_of in that
 * zone; its time of day is the offset from day_start_ms. */
static void test_ts_format_agrees_with_day_of(void **state) {
    (void)state;
    const int64_t zones[] = {0, 9 * H, -5 * H, 5 * H + 30 * M};
    uint64_t x = UINT64_C(88172645463325252);
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        /* 1971 .. 2099 */
        int64_t ts = 31536000000 + (int64_t)(x % UINT64_C(4000000000000));
        for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
            char iso[32], day[16];
            ltv_ts_format(ts + zones[z], iso);
            int64_t d = ltv_day_of(ts, zones[z]);
            ltv_day_format(d, day);
            if (strncmp(iso, day, 10))
                fail_msg("ts %lld zone %lld: %s vs day %s", (long long)ts, (long long)zones[z],
                         iso, day);
            int64_t into = ts - ltv_day_start_ms(d, zones[z]);
            int hh, mm, ss, ms;
            assert_int_equal(sscanf(iso + 11, "%2d:%2d:%2d.%3d", &hh, &mm, &ss, &ms), 4);
            assert_int_equal(into, ((int64_t)hh * 3600 + mm * 60 + ss) * 1000 + ms);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_day_format_known_dates),
        cmocka_unit_test(test_day_parse_known_dates),
        cmocka_unit_test(test_day_parse_rejects_malformed),
        cmocka_unit_test(test_day_parse_rejects_nonexistent_days),
        cmocka_unit_test(test_day_of_tokyo_boundary),
        cmocka_unit_test(test_day_of_negative_offset),
        cmocka_unit_test(test_day_of_around_the_epoch),
        cmocka_unit_test(test_day_start),
        cmocka_unit_test(test_day_round_trips),
        cmocka_unit_test(test_consecutive_days_are_consecutive_dates),
        cmocka_unit_test(test_tz_parse_accepts),
        cmocka_unit_test(test_tz_parse_rejects),
        cmocka_unit_test(test_tz_parse_rejects_signs_inside_fields),
        cmocka_unit_test(test_ts_format),
        cmocka_unit_test(test_ts_format_agrees_with_day_of),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
