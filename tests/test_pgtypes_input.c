/* test_pgtypes_input.c — the text parsers pgtypes.c shares with row filters: input
 * forms ('...'::type, as PostgreSQL's *_in functions take them) and the output forms
 * the filter reads from rows. Expected days and microseconds are counted from
 * 2000-01-01 as PostgreSQL stores them (date - '2000-01-01', 8766 for 2024-01-01). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgtypes.h"
#include "unit.h"

#define DAY  INT64_C(86400000000)
#define HOUR INT64_C(3600000000)

static int64_t date_of(const char *s, const char **why)
{
    int64_t d = -12345;
    *why = NULL;
    if (w2k_pginput_date(s, strlen(s), &d, why) != 0)
        return -99999999;
    return d;
}

static int64_t ts_of(const char *s, bool tz, const char **why)
{
    int64_t us = -12345;
    *why = NULL;
    if (w2k_pginput_timestamp(s, strlen(s), tz, &us, why) != 0)
        return INT64_C(-99999999);
    return us;
}

static void test_dates(void)
{
    const char *why;
    CHECK_INT(date_of("2024-01-01", &why), 8766);
    CHECK_INT(date_of(" 2024-1-1 ", &why), 8766);
    CHECK_INT(date_of("2024-01-01 23:59:59+05", &why), 8766); /* time and offset ignored */
    CHECK_INT(date_of("1999-12-31", &why), -1);
    CHECK_INT(date_of("0001-01-01 BC", &why), -730485);
    CHECK_INT(date_of("2000-01-01 ad", &why), 0);
    CHECK_INT(date_of("EPOCH", &why), -10957);
    CHECK_INT(date_of("infinity", &why), INT64_MAX);
    CHECK_INT(date_of("-Infinity", &why), INT64_MIN);
    CHECK_INT(date_of("2024-02-30", &why), -99999999);
    CHECK_STR(why, "date out of range or not a date");
    CHECK_INT(date_of("0000-01-01", &why), -99999999);
    CHECK_STR(why, "date out of range or not a date");
    CHECK_INT(date_of("999999999-01-01", &why), -99999999);
    CHECK_STR(why, "date out of range or not a date");
    CHECK_INT(date_of("24-01-01", &why), -99999999);
    CHECK_STR(why, "invalid input syntax for type date");
    CHECK_INT(date_of("2024-01-01 25:00", &why), -99999999);
    CHECK_STR(why, "invalid input syntax for type date");
    CHECK_INT(date_of("today", &why), -99999999);
    CHECK_STR(why, "now, today, tomorrow and yesterday are not constants");
}

static void test_timestamps(void)
{
    const char *why;
    int64_t base = 8766 * DAY;
    CHECK_INT(ts_of("2024-01-01 10:00:00", false, &why), base + 10 * HOUR);
    CHECK_INT(ts_of("2024-01-01 10:00", false, &why), base + 10 * HOUR);
    CHECK_INT(ts_of("2024-01-01 10:00:00+05", false, &why), base + 10 * HOUR);
    CHECK_INT(ts_of("2024-01-01 10:00:00+05", true, &why), base + 5 * HOUR);
    CHECK_INT(ts_of("2024-01-01 10:00:00 -05:30", true, &why), base + 15 * HOUR + HOUR / 2);
    CHECK_INT(ts_of("2024-01-01 10:00:00-0530", true, &why), base + 15 * HOUR + HOUR / 2);
    CHECK_INT(ts_of("2024-01-01 10:00:00+05:30:15", true, &why),
              base + 4 * HOUR + HOUR / 2 - 15000000);
    CHECK_INT(ts_of("2024-01-01T10:00:00.5Z", true, &why), base + 10 * HOUR + 500000);
    CHECK_INT(ts_of("2024-01-01 10:00:00.000001 UTC", true, &why), base + 10 * HOUR + 1);
    CHECK_INT(ts_of("2024-01-01", true, &why), base);
    CHECK_INT(ts_of("epoch", true, &why), -10957 * DAY);
    CHECK_INT(ts_of("+infinity", false, &why), INT64_MAX);
    CHECK_INT(ts_of("2024-01-01 10:00:00.1234567", false, &why), INT64_C(-99999999));
    CHECK_STR(why, "more than 6 fractional digits of a second");
    CHECK_INT(ts_of("2024-01-01 10:00:00+16", true, &why), INT64_C(-99999999));
    CHECK_STR(why, "invalid input syntax for type timestamptz");
    CHECK_INT(ts_of("2024-01-01 10:60", false, &why), INT64_C(-99999999));
    CHECK_STR(why, "invalid input syntax for type timestamp");
    CHECK_INT(ts_of("300000-01-01", false, &why), INT64_C(-99999999));
    CHECK_STR(why, "timestamp out of range or not a timestamp");
    CHECK_INT(ts_of("now", true, &why), INT64_C(-99999999));
    CHECK_STR(why, "now, today, tomorrow and yesterday are not constants");
}

static void test_scalars(void)
{
    const char *why = NULL;
    int64_t i = 0;
    CHECK_INT(w2k_pginput_int(" +42 ", 5, W2K_OID_INT4, &i, &why), 0);
    CHECK_INT(i, 42);
    CHECK_INT(w2k_pginput_int("000000000000000000000042", 24, W2K_OID_INT2, &i, &why), 0);
    CHECK_INT(i, 42);
    CHECK_INT(w2k_pginput_int("-9223372036854775808", 20, W2K_OID_INT8, &i, &why), 0);
    CHECK_INT(i, INT64_MIN);
    CHECK_INT(w2k_pginput_int("2147483648", 10, W2K_OID_INT4, &i, &why), -1);
    CHECK_STR(why, "out of range for type integer");
    CHECK_INT(w2k_pginput_int(" - ", 3, W2K_OID_INT2, &i, &why), -1);
    CHECK_STR(why, "invalid input syntax for type smallint");
    CHECK_INT(w2k_pginput_int("1e3", 3, W2K_OID_INT8, &i, &why), -1);
    CHECK_STR(why, "invalid input syntax for type bigint");

    bool b = false;
    CHECK_INT(w2k_pginput_bool(" YES ", 5, &b), 0);
    CHECK(b);
    CHECK_INT(w2k_pginput_bool("of", 2, &b), 0);
    CHECK(!b);
    CHECK_INT(w2k_pginput_bool("tr", 2, &b), 0);
    CHECK(b);
    CHECK_INT(w2k_pginput_bool("0", 1, &b), 0);
    CHECK(!b);
    CHECK_INT(w2k_pginput_bool("o", 1, &b), -1);
    CHECK_INT(w2k_pginput_bool("2", 1, &b), -1);
    CHECK_INT(w2k_pginput_bool("", 0, &b), -1);

    double d = 0;
    CHECK_INT(w2k_pginput_float(" 1.5 ", 5, false, &d, &why), 0);
    CHECK(d == 1.5);
    CHECK_INT(w2k_pginput_float("-inf", 4, false, &d, &why), 0);
    CHECK(isinf(d) && d < 0);
    CHECK_INT(w2k_pginput_float("0.1", 3, true, &d, &why), 0);
    CHECK(d == (double)0.1f);
    CHECK_INT(w2k_pginput_float("1e400", 5, false, &d, &why), -1);
    CHECK_STR(why, "out of range for type double precision");
    CHECK_INT(w2k_pginput_float("1e39", 4, true, &d, &why), -1);
    CHECK_STR(why, "out of range for type real");
    CHECK_INT(w2k_pginput_float("0x10", 4, false, &d, &why), -1);
    CHECK_STR(why, "invalid input syntax for type double precision");

    char u[37];
    CHECK_INT(w2k_pginput_uuid("{A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11}", 38, u), 0);
    CHECK_STR(u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK_INT(w2k_pginput_uuid("a0eebc999c0b4ef8bb6d6bb9bd380a11", 32, u), 0);
    CHECK_STR(u, "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
    CHECK_INT(w2k_pginput_uuid("a0ee-bc99-9c0b-4ef8-bb6d-6bb9-bd38-0a11", 39, u), 0);
    CHECK_INT(w2k_pginput_uuid("a0eebc99--9c0b-4ef8-bb6d-6bb9bd380a11", 37, u), -1);
    CHECK_INT(w2k_pginput_uuid("-a0eebc999c0b4ef8bb6d6bb9bd380a11", 33, u), -1);
    CHECK_INT(w2k_pginput_uuid("a0eebc999c0b4ef8bb6d6bb9bd380a1", 31, u), -1);
}

/* A numeric's digits as "[-]int.frac" (or its class) for comparison. */
static const char *num_str(const w2k_pgnum_t *x, char *out)
{
    static const char *const classes[] = {"", "-Infinity", "Infinity", "NaN"};
    if (x->special != W2K_PGNUM_FINITE)
        return strcpy(out, classes[x->special]);
    snprintf(out, 64, "%s%.*s.%.*s", x->neg ? "-" : "", (int)x->il, x->ip, (int)x->fl, x->fp);
    return out;
}

static void test_numerics(void)
{
    const char *why = NULL;
    char *buf = NULL, s[64];
    w2k_pgnum_t x;
    const struct {
        const char *in, *want;
    } ok[] = {{" -1.50e2 ", "-150."}, {"0.000", "."},           {"+.5", ".5"},
              {"12.3400", "12.34"},   {"1e-3", ".001"},         {"NaN", "NaN"},
              {"-inf", "-Infinity"},  {"+Infinity", "Infinity"}};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        CHECK_INT(w2k_pginput_numeric(ok[i].in, strlen(ok[i].in), &x, &buf, &why), 0);
        CHECK_STR(num_str(&x, s), ok[i].want);
        free(buf);
    }
    CHECK_INT(w2k_pginput_numeric("1e100000000", 11, &x, &buf, &why), -1);
    CHECK_STR(why, "exponent out of range for type numeric");
    CHECK_INT(w2k_pginput_numeric("1e1000001", 9, &x, &buf, &why), -1);
    CHECK_STR(why, "value out of range for type numeric");
    CHECK_INT(w2k_pginput_numeric("1.2.3", 5, &x, &buf, &why), -1);
    CHECK_STR(why, "invalid input syntax for type numeric");
    CHECK(buf == NULL);

    /* output forms, as rows carry them */
    const struct {
        const char *in, *want;
    } row[] = {{"-0.10", "-.1"},
               {"007.50", "7.5"},
               {"-0", "."},
               {"NaN", "NaN"},
               {"-Infinity", "-Infinity"}};
    for (size_t i = 0; i < sizeof row / sizeof row[0]; i++) {
        CHECK_INT(w2k_pgtext_numeric(row[i].in, strlen(row[i].in), &x), 0);
        CHECK_STR(num_str(&x, s), row[i].want);
    }
    CHECK_INT(w2k_pgtext_numeric(".5", 2, &x), -1);
    CHECK_INT(w2k_pgtext_numeric("1e5", 3, &x), -1);
    CHECK_INT(w2k_pgtext_numeric("", 0, &x), -1);

    int64_t i = 0;
    CHECK_INT(w2k_pgtext_int("-5", 2, INT64_MIN, INT64_MAX, &i, &why), 0);
    CHECK_INT(i, -5);
    CHECK_INT(w2k_pgtext_int("+5", 2, INT64_MIN, INT64_MAX, &i, &why), -1);
    CHECK_INT(w2k_pgtext_int("12345678901234567890", 20, INT64_MIN, INT64_MAX, &i, &why), -1);
    double d = 0;
    CHECK_INT(w2k_pgtext_float("1e+20", 5, false, &d, &why), 0);
    CHECK(d == 1e20);
    CHECK_INT(w2k_pgtext_float("3.4028235e+38", 13, true, &d, &why), 0);
    CHECK(d == (double)3.4028235e+38f);
    CHECK_INT(w2k_pgtext_float("-Infinity", 9, false, &d, &why), 0);
    CHECK(isinf(d) && d < 0);
    int32_t days = 0;
    CHECK_INT(w2k_pgtext_date("2024-01-01", 10, &days, &why), 0);
    CHECK_INT(days, 8766);
    int64_t us = 0;
    CHECK_INT(w2k_pgtext_timestamp("2024-01-01 10:00:00+05", 22, true, &us, &why), 0);
    CHECK_INT(us, 8766 * DAY + 5 * HOUR);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_dates();
    test_timestamps();
    test_scalars();
    test_numerics();
    return unit_report("test_pgtypes_input");
}
