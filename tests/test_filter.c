/* test_filter.c — row filters: every expression below is parsed, bound to a table with a
 * column of each supported type and evaluated on six rows (the text PostgreSQL's
 * replication session would send); the expected results, one letter per row (t true,
 * f false, n NULL), are what PostgreSQL 15 returns for the same expression on the same
 * rows. tests/fixtures/filter_crosscheck.sh checks that against a real server: this
 * program prints the SQL with argument "sql" and the expected answers with "expected".
 * Also: refused expressions (offset and named part), unchanged TOAST values, column
 * use, rebinding, and a timing loop (argument "bench"). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "filter.h"
#include "unit.h"

/* ---- the table ---- */

typedef struct col_def_s {
    const char *name;
    uint32_t oid; /* the column's type as the Relation message gives it */
    int32_t typmod;
    uint32_t base_oid; /* resolved (enum → text) */
    const char *sql;   /* the type in CREATE TABLE */
} col_def_t;

#define ENUM_OID 16500

static const col_def_t cols[] = {
    {"id", W2K_OID_INT4, -1, W2K_OID_INT4, "int4"},
    {"i2", W2K_OID_INT2, -1, W2K_OID_INT2, "int2"},
    {"i8", W2K_OID_INT8, -1, W2K_OID_INT8, "int8"},
    {"n", W2K_OID_NUMERIC, -1, W2K_OID_NUMERIC, "numeric"},
    {"n2", W2K_OID_NUMERIC, ((10 << 16) | 2) + 4, W2K_OID_NUMERIC, "numeric(10,2)"},
    {"f4", W2K_OID_FLOAT4, -1, W2K_OID_FLOAT4, "real"},
    {"f8", W2K_OID_FLOAT8, -1, W2K_OID_FLOAT8, "float8"},
    {"b", W2K_OID_BOOL, -1, W2K_OID_BOOL, "bool"},
    {"t", W2K_OID_TEXT, -1, W2K_OID_TEXT, "text"},
    {"vc", W2K_OID_VARCHAR, 14, W2K_OID_VARCHAR, "varchar(10)"},
    {"c", W2K_OID_BPCHAR, 9, W2K_OID_BPCHAR, "char(5)"},
    {"d", W2K_OID_DATE, -1, W2K_OID_DATE, "date"},
    {"ts", W2K_OID_TIMESTAMP, -1, W2K_OID_TIMESTAMP, "timestamp"},
    {"tz", W2K_OID_TIMESTAMPTZ, -1, W2K_OID_TIMESTAMPTZ, "timestamptz"},
    {"u", W2K_OID_UUID, -1, W2K_OID_UUID, "uuid"},
    {"js", W2K_OID_JSONB, -1, W2K_OID_JSONB, "jsonb"},
    {"arr", 1007, -1, 1007, "int4[]"},
    {"Mixed Case", W2K_OID_TEXT, -1, W2K_OID_TEXT, "text"},
    {"amount", W2K_OID_NUMERIC, ((12 << 16) | 2) + 4, W2K_OID_NUMERIC, "numeric(12,2)"},
    {"status", W2K_OID_TEXT, -1, W2K_OID_TEXT, "text"},
    {"mood", ENUM_OID, -1, W2K_OID_TEXT, "mood"},
};
#define NCOLS ((int)(sizeof cols / sizeof cols[0]))
#define NROWS 6

/* The rows as the replication session prints them; NULL is SQL NULL. */
static const char *const rows[NROWS][NCOLS] = {
    {"1",
     "10",
     "10000000000",
     "1.10",
     "12.50",
     "0.1",
     "0.1",
     "t",
     "open",
     "abc",
     "ab   ",
     "2024-01-01",
     "2024-01-01 10:00:00",
     "2024-01-01 10:00:00+00",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
     "{\"a\": 1}",
     "{1,2}",
     "X",
     "150.00",
     "open",
     "happy"},
    {"2",
     "-5",
     "-1",
     "100000000000000000000",
     "-0.01",
     "1e+20",
     "1.5",
     "f",
     "Paid",
     "",
     "x    ",
     "1999-12-31",
     "1999-12-31 23:59:59.999999",
     "2024-01-01 05:00:00+00",
     "00000000-0000-0000-0000-000000000000",
     "null",
     "{}",
     "x",
     "99.99",
     "paid",
     "sad"},
    {"3",  NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL},
    {"4",         "32767",    "-9223372036854775808",
     "NaN",       "0.00",     "NaN",
     "Infinity",  "t",        "a%b_c\\",
     "abc  ",     "     ",    "infinity",
     "-infinity", "infinity", "ffffffff-ffff-ffff-ffff-ffffffffffff",
     "[]",        "{NULL}",   "",
     "100.00",    "closed",   "ok"},
    {"5",
     "0",
     "9223372036854775807",
     "-Infinity",
     "99999999.99",
     "-0",
     "-0",
     "f",
     "\xc3\xa9",
     "\xc3\x80"
     "B",
     "\xc3\xa9    ",
     "0044-03-15 BC",
     "2024-02-29 00:00:00",
     "1970-01-01 00:00:00+00",
     "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a12",
     "{}",
     "{3}",
     "X ",
     "100.01",
     "open",
     "happy"},
    {"6",
     "1",
     "1",
     "0.1000000000000000000001",
     "1.00",
     "3.4028235e+38",
     "1e-300",
     "t",
     "open ",
     "open",
     "open ",
     "2000-01-01",
     "2000-01-01 00:00:00",
     "1999-12-31 19:00:00+00",
     "b0000000-0000-0000-0000-000000000000",
     "1",
     "{1}",
     "Y",
     "0.00",
     "Open",
     "ok"},
};

/* ---- expressions and what PostgreSQL 15 says about them on the rows ---- */

typedef struct case_s {
    const char *expr;
    const char *want; /* one of t f n per row */
} case_t;

static const case_t cases[] = {
    /* three-valued logic */
    {"NULL AND false", "ffffff"},
    {"NULL AND true", "nnnnnn"},
    {"NULL OR true", "tttttt"},
    {"NULL OR false", "nnnnnn"},
    {"NOT NULL", "nnnnnn"},
    {"NULL", "nnnnnn"},
    {"true", "tttttt"},
    {"NOT (i2 > NULL)", "nnnnnn"},
    {"b AND i2 > 0", "tfntft"},
    {"b OR i2 > 0", "tfntft"},
    {"i2 > 0 AND b", "tfntft"},
    {"b AND NULL", "nfnnfn"},
    {"b OR NULL", "tnntnt"},
    {"NOT b", "ftnftf"},
    {"NOT b AND b", "ffnfff"},
    {"b OR b AND false", "tfntft"},
    {"(b OR b) AND false", "ffffff"},
    {"NOT i2 = 10", "ftnttt"},
    {"i2 > 0 IS TRUE", "tfftft"},
    {"i2 > 0 IS NOT TRUE", "fttftf"},
    {"i2 > 0 IS FALSE", "ftfftf"},
    {"i2 > 0 IS UNKNOWN", "fftfff"},
    {"i2 > 0 IS NOT UNKNOWN", "ttfttt"},
    {"(i2 > 0) IS NULL", "fftfff"},
    {"b IS TRUE", "tfftft"},
    {"b IS NOT FALSE", "tfttft"},
    {"b IS UNKNOWN", "fftfff"},
    {"b = true", "tfntft"},
    {"b = 'yes'", "tfntft"},
    {"b <> 'off'", "tfntft"},
    {"b < true", "ftnftf"},
    {"b AND 't'", "tfntft"},
    {"(i2 > 0) = b", "ttnttt"},
    /* NULL tests */
    {"i2 IS NULL", "fftfff"},
    {"i2 IS NOT NULL", "ttfttt"},
    {"i2 ISNULL", "fftfff"},
    {"i2 NOTNULL", "ttfttt"},
    {"js IS NULL", "fftfff"},
    {"arr IS NOT NULL", "ttfttt"},
    {"NULL IS NULL", "tttttt"},
    {"NULL::int IS NULL", "tttttt"},
    {"t IS DISTINCT FROM 'open'", "fttttt"},
    {"t IS NOT DISTINCT FROM 'open'", "tfffff"},
    {"t IS NOT DISTINCT FROM NULL", "fftfff"},
    {"i2 IS DISTINCT FROM i8", "ttfttf"},
    /* IN */
    {"i2 IN (10, 0)", "tfnftf"},
    {"i2 IN (10, NULL)", "tnnnnn"},
    {"i2 NOT IN (10, NULL)", "fnnnnn"},
    {"i2 NOT IN (10, 0)", "ftntft"},
    {"i2 NOT IN (1)", "ttnttf"},
    {"NULL IN (1, 2)", "nnnnnn"},
    {"id IN (1, 2.0, 3.5)", "ttffff"},
    {"id IN ('1', '3')", "tftfff"},
    {"t IN ('open', 'paid')", "tfnfff"},
    {"status IN ('open', 'paid')", "ttnftf"},
    {"i2 IN (i8, 1)", "ffnfft"},
    {"'open' IN (t, status)", "tfnftf"},
    {"n IN (1.1, 'NaN')", "tfntff"},
    /* BETWEEN */
    {"i2 BETWEEN 0 AND 10", "tfnftt"},
    {"i2 NOT BETWEEN 0 AND 10", "ftntff"},
    {"i2 BETWEEN 10 AND 0", "ffnfff"},
    {"i2 BETWEEN SYMMETRIC 10 AND 0", "tfnftt"},
    {"i2 BETWEEN NULL AND 5", "fnnfnn"},
    {"i2 BETWEEN 0 AND NULL", "nfnnnn"},
    {"i2 NOT BETWEEN NULL AND 5", "tnntnn"},
    {"5 BETWEEN 1 AND 10", "tttttt"},
    {"d BETWEEN '2000-01-01' AND '2024-12-31'", "tfnfft"},
    {"t BETWEEN 'a' AND 'p'", "tfntft"},
    /* integers */
    {"i2 = 10", "tfnfff"},
    {"i2 = '10'", "tfnfff"},
    {"i2 = ' 10 '", "tfnfff"},
    {"i2 = 10.0", "tfnfff"},
    {"i2 = 10.5", "ffnfff"},
    {"i2 < 10.5", "ttnftt"},
    {"i2 > 1e20", "ffnfff"},
    {"i2 <> -5", "tfnttt"},
    {"i2 = - 5", "ftnfff"},
    {"i8 = -9223372036854775808", "ffntff"},
    {"i8 < -9223372036854775807", "ffntff"},
    {"i8 = 9223372036854775807", "ffnftf"},
    {"i8 < 9223372036854775808", "ttnttt"},
    {"i8 >= 10000000000", "tfnftf"},
    {"i2 < i8", "ttnftf"},
    {"i2 = 9.6::int", "tfnfff"},
    {"i2 = CAST('10' AS integer)", "tfnfff"},
    {"i2 = +10", "tfnfff"},
    {"i2 > 0.5::float8", "tfntft"},
    {"i2 = i2", "ttnttt"},
    /* numeric */
    {"n = 1.1", "tfnfff"},
    {"n = '1.1'", "tfnfff"},
    {"n = 1.10000", "tfnfff"},
    {"n = 1e20", "ftnfff"},
    {"n = 100000000000000000000", "ftnfff"},
    {"n = 1E+20", "ftnfff"},
    {"n > 99999999999999999999.9999999999", "ftntff"},
    {"n = 0.1000000000000000000001", "ffnfft"},
    {"n > 0.1", "ttntft"},
    {"n = 0.1", "ffnfff"},
    {"n > 'Infinity'", "ffntff"},
    {"n = 'NaN'", "ffntff"},
    {"n < '-Infinity'", "ffnfff"},
    {"n <= '-Infinity'", "ffnftf"},
    {"n > -1e1000", "ttntft"},
    {"n2 = 12.5", "tfnfff"},
    {"n2 = '12.500'", "tfnfff"},
    {"n2 < 0", "ftnfff"},
    {"n2 = 0", "ffntff"},
    {"n2 = -0.0", "ffntff"},
    {"n2 = 1", "ffnfft"},
    {"n2 > n", "tfnftt"},
    {"n2 = i2", "ffnfft"},
    {"n2 = 1::numeric", "ffnfft"},
    {"n < 'NaN'::numeric", "ttnftt"},
    {"n = -'Infinity'::numeric", "ffnftf"},
    {"n > 1.5::float8", "ftntff"},
    /* floats */
    {"f4 = 0.1", "ffnfff"},
    {"f4 = '0.1'", "tfnfff"},
    {"f4 > 0.1", "ttntft"},
    {"f8 = 0.1", "tfnfff"},
    {"f8 = '0.1'", "tfnfff"},
    {"f4 = 'NaN'", "ffntff"},
    {"f4 > 'Infinity'", "ffntff"},
    {"f8 = 'Infinity'", "ffntff"},
    {"f8 = 'inf'", "ffntff"},
    {"f4 = 0", "ffnftf"},
    {"f8 = -0.0", "ffnftf"},
    {"f4 = 1e20", "ffnfff"},
    {"f4 = '1e20'", "ftnfff"},
    {"f4 = f8", "ffnftf"},
    {"f8 < 1.5::float8", "tfnftt"},
    {"f8 < double precision '1.5'", "tfnftt"},
    {"f8 > 0", "ttntft"},
    {"f4 > 3.4e38", "ffntft"},
    {"f8 < 1e-299", "ffnftt"},
    {"f8 = i2", "ffnftf"},
    /* text, C collation */
    {"t = 'open'", "tfnfff"},
    {"t <> 'open'", "ftnttt"},
    {"t < 'open'", "ftntff"},
    {"t > 'Z'", "tfnttt"},
    {"t > 'z'", "ffnftf"},
    {"t = '\xc3\xa9'", "ffnftf"},
    {"t = 'Paid'", "ftnfff"},
    {"t = 'paid'", "ffnfff"},
    {"t = 'it''s'", "ffnfff"},
    {"t <> ''", "ttnttt"},
    {"vc = ''", "ftnfff"},
    {"t = vc", "ffnfff"},
    {"t >= vc", "ttnftt"},
    {"\"Mixed Case\" = 'X'", "tfnfff"},
    {"\"Mixed Case\" = ''", "ffntff"},
    {"vc = 'abc'", "tfnfff"},
    {"vc = 'abc  '", "ffntff"},
    {"t = 5::text", "ffnfff"},
    {"t = 'open'::text", "tfnfff"},
    {"t = 'open ' OR t = 'open'", "tfnfft"},
    /* char(n) */
    {"c = 'ab'", "tfnfff"},
    {"c = 'ab   '", "tfnfff"},
    {"c = 'ab '::text", "ffnfff"},
    {"c = 'ab'::text", "tfnfff"},
    {"c = ''", "ffntff"},
    {"c < 'ab!'", "tfntff"},
    {"c = vc", "ffnfft"},
    {"c = t", "ffnftf"},
    {"c = 'open'", "ffnfft"},
    {"c = '\xc3\xa9'", "ffnftf"},
    {"c IN ('ab', 'x')", "ttnfff"},
    {"c LIKE 'ab'", "ffnfff"},
    {"c LIKE 'ab%'", "tfnfff"},
    {"c LIKE 'ab___'", "tfnfff"},
    {"c LIKE '_____'", "ttnttt"},
    {"c LIKE '\xc3\xa9____'", "ffnftf"},
    /* LIKE */
    {"t LIKE 'open'", "tfnfff"},
    {"t LIKE 'o%'", "tfnfft"},
    {"t LIKE 'O%'", "ffnfff"},
    {"t ILIKE 'O%'", "tfnfft"},
    {"t ILIKE 'PAID'", "ftnfff"},
    {"t NOT LIKE 'o%'", "ftnttf"},
    {"t NOT ILIKE 'o%'", "ftnttf"},
    {"t LIKE 'o_en'", "tfnfff"},
    {"t LIKE '%en'", "tfnfff"},
    {"t LIKE '%en%'", "tfnfft"},
    {"t LIKE ''", "ffnfff"},
    {"\"Mixed Case\" LIKE ''", "ffntff"},
    {"t LIKE '%'", "ttnttt"},
    {"\"Mixed Case\" LIKE '%'", "ttnttt"},
    {"t LIKE '_'", "ffnftf"},
    {"t LIKE '__'", "ffnfff"},
    {"t LIKE '_%_'", "ttntft"},
    {"t LIKE '%%%_'", "ttnttt"},
    {"t LIKE 'a\\%b%'", "ffntff"},
    {"t LIKE 'a%b\\_c\\\\'", "ffntff"},
    {"t LIKE 'a%b_c_'", "ffntff"},
    {"t LIKE '%\\\\'", "ffntff"},
    {"t LIKE 'a!%b%' ESCAPE '!'", "ffntff"},
    {"t LIKE 'a\\%' ESCAPE ''", "ffnfff"},
    {"t LIKE 'a%' ESCAPE ''", "ffntff"},
    {"t LIKE 'a%\\' ESCAPE ''", "ffntff"},
    {"t LIKE NULL", "nnnnnn"},
    {"vc LIKE 'abc'", "tfnfff"},
    {"vc LIKE 'abc%'", "tfntff"},
    {"vc LIKE '\xc3\x80_'", "ffnftf"},
    {"vc ILIKE '_b'", "ffnftf"},
    {"'abc' LIKE 'a%'", "tttttt"},
    {"t LIKE 'Pa%' AND status LIKE 'pa%'", "ftnfff"},
    /* dates and timestamps */
    {"d = '2024-01-01'", "tfnfff"},
    {"d = DATE '2024-01-01'", "tfnfff"},
    {"d = '2024-1-1'", "tfnfff"},
    {"d > '2000-01-01'", "tfntff"},
    {"d < 'infinity'", "ttnftt"},
    {"d = 'infinity'", "ffntff"},
    {"d > '-infinity'", "ttnttt"},
    {"d < '0001-01-01'", "ffnftf"},
    {"d = '0044-03-15 BC'", "ffnftf"},
    {"d = '2000-01-01'::date", "ffnfft"},
    {"d = 'epoch'", "ffnfff"},
    {"d = '2024-01-01 23:59'", "tfnfff"},
    {"ts >= '2024-01-01'", "tfnftf"},
    {"ts = '2024-01-01 10:00'", "tfnfff"},
    {"ts = '2024-01-01T10:00:00'", "tfnfff"},
    {"ts < TIMESTAMP '2000-01-01 00:00:00'", "ftntff"},
    {"ts > '1999-12-31 23:59:59.999998'", "ttnftt"},
    {"ts > '1999-12-31 23:59:59.999999'", "tfnftt"},
    {"ts = '-infinity'", "ffntff"},
    {"ts > '-infinity'", "ttnftt"},
    {"ts = '2024-02-29'", "ffnftf"},
    {"ts = 'epoch'", "ffnfff"},
    {"tz = '2024-01-01 10:00:00+00'", "tfnfff"},
    {"tz = '2024-01-01 05:00:00-05'", "tfnfff"},
    {"tz = '2024-01-01 15:30:00+05:30'", "tfnfff"},
    {"tz = '2024-01-01 10:00:00Z'", "tfnfff"},
    {"tz = '2024-01-01 10:00'", "tfnfff"},
    {"tz > '2024-01-01T04:00:00Z'", "ttntff"},
    {"tz = 'epoch'", "ffnftf"},
    {"tz = TIMESTAMPTZ '1970-01-01 00:00:00+00'", "ffnftf"},
    {"tz = timestamp with time zone '2024-01-01 12:00:00+02'", "tfnfff"},
    {"tz < 'infinity'", "ttnftt"},
    {"d = ts", "ffnfft"},
    {"d < ts", "ttnftf"},
    {"d = '2000-01-01'::timestamp", "ffnfft"},
    {"ts < tz", "ftntff"},
    {"d < tz", "ttnftf"},
    {"'infinity'::date = 'infinity'::timestamp", "tttttt"},
    {"d > '2023-12-31 23:00'::timestamp", "tfntff"},
    {"d <= timestamp '1999-12-31 00:00'", "ftnftf"},
    /* uuid */
    {"u = 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'", "tfnfff"},
    {"u = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'", "tfnfff"},
    {"u = '{a0eebc999c0b4ef8bb6d6bb9bd380a11}'", "tfnfff"},
    {"u < 'b0000000-0000-0000-0000-000000000000'", "ttnftf"},
    {"u IN ('00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff')",
     "ftntff"},
    /* enums compare by label */
    {"mood = 'happy'", "tfnftf"},
    {"mood <> 'happy'", "ftntft"},
    {"mood IN ('sad', 'ok')", "ftntft"},
    /* literals, casts, comments, spelling */
    {"1 = 1", "tttttt"},
    {"'a' < 'b'", "tttttt"},
    {"'b' < 'B'", "ffffff"},
    {"NULL = NULL", "nnnnnn"},
    {"1 < 1.5", "tttttt"},
    {"-'1'::numeric < 0", "tttttt"},
    {"'10'::int2 = i2", "tfnfff"},
    {"'1.5'::float4 = 1.5", "tttttt"},
    {"TRUE AND NOT FALSE", "tttttt"},
    {"I2 > 0 -- a comment", "tfntft"},
    {"/* a /* nested */ comment */ i2 > 0", "tfntft"},
    {"\"i2\" > 0", "tfntft"},
    {"((((i2))) > (0))", "tfntft"},
    {"i2<>-5", "tfnttt"},
    {"i2 <=-5", "ftnfff"},
    /* more mixtures */
    {"n2 < -0.001", "ftnfff"},
    {"n2 > -0.02", "ttnttt"},
    {"n2 BETWEEN -0.011 AND -0.009", "ftnfff"},
    {"n2 = -.01", "ftnfff"},
    {"n IN (1, 1.1)", "tfnfff"},
    {"n IS DISTINCT FROM 1.10", "fttttt"},
    {"n IS NOT DISTINCT FROM 'NaN'", "ffftff"},
    {"n <> n", "ffnfff"},
    {"numeric '1e2' = 100", "tttttt"},
    {"i2 IN (1.5, 10)", "tfnfff"},
    {"i8 > -1e30", "ttnttt"},
    {"i8 >= 9223372036854775807.0", "ffnftf"},
    {"'1'::int8 = i8", "ffnfft"},
    {"int '10' = i2", "tfnfff"},
    {"f4 IN (0.1, '0.1')", "tfnfff"},
    {"f4 IN ('NaN')", "ffntff"},
    {"f4 <> f4", "ffnfff"},
    {"f8 IS DISTINCT FROM 'NaN'::float8", "tttttt"},
    {"d < '0044-03-16 BC'", "ffnftf"},
    {"d > '0045-12-31 BC'", "ttnttt"},
    {"d IN ('2024-01-01', '2000-01-01')", "tfnfft"},
    {"d = '2024-01-01T00:00'", "tfnfff"},
    {"'2024-01-01'::date::timestamptz = tz", "ffnfff"},
    {"ts BETWEEN '2024-01-01' AND 'infinity'", "tfnftf"},
    {"ts = '2024-01-01 10:00:00+05'", "tfnfff"},
    {"tz = '2024-01-01 10:00:00 UTC'", "tfnfff"},
    {"tz = '2024-01-01 04:29:45-05:30:15'", "tfnfff"},
    {"t < 'open '", "ttntff"},
    {"t LIKE 'open_'", "ffnfft"},
    {"NOT (t LIKE 'o%' OR t IS NULL)", "ftfttf"},
    {"c BETWEEN 'a' AND 'b'", "tfnfff"},
    {"c = 'ab'::bpchar", "tfnfff"},
    {"c = 'ab '::varchar", "tfnfff"},
    {"vc = c", "ffnfft"},
    {"c > t", "ftnfff"},
    {"'ab' = c", "tfnfff"},
    {"\"Mixed Case\" IN ('X', 'Y')", "tfnfft"},
    {"b = 'on'", "tfntft"},
    {"b IN ('t', 'no')", "ttnttt"},
    {"bool 'yes' = b", "tfntft"},
    {"b IS DISTINCT FROM NULL", "ttfttt"},
    {"u IS NOT NULL AND u <> '00000000-0000-0000-0000-000000000000'", "tffttt"},
    {"uuid 'b0000000-0000-0000-0000-000000000000' <= u", "ffntft"},
    {"text 'open' = t", "tfnfff"},
    {"status = 'open' OR amount >= 100.005", "tfnftf"},
    {"i2 is not null and t like 'o%' or b and true", "tfntft"},
    {"mood = 'happy' AND NOT mood IN ('sad')", "tfnftf"},
    {"(d = '2024-01-01') = b", "ttnftf"},
    {"t = 'open' IS NOT FALSE", "tftfff"},
    {"NOT NOT b", "tfntft"},
    {"NOT b IS NULL", "ttfttt"},
    /* the benchmark's filter */
    {"amount > 100 AND status IN ('open', 'paid')", "tfnftf"},
};
#define NCASES ((int)(sizeof cases / sizeof cases[0]))

/* Expressions refused, where, and why; pg: 1 when PostgreSQL refuses it too (checked
 * by the cross-check), 0 when only wal2kafka does. */
typedef struct refused_s {
    const char *expr;
    int offset;
    const char *msg; /* a part of the message */
    int pg;
} refused_t;

static const refused_t refused[] = {
    {"id = 10 AND lower(t) = 'x'", 12, "function calls are not supported: lower(", 0},
    {"i2 + 1 > 5", 3, "arithmetic operators are not supported: +", 0},
    {"i2 > 5 * 2", 7, "arithmetic operators are not supported: *", 0},
    {"-i2 > 0", 0, "arithmetic is not supported: unary - on i2", 0},
    {"t || 'x' = 'y'", 2, "operators are not supported: ||", 0},
    {"t ~ 'x'", 2, "operators are not supported: ~", 0},
    {"i2 == 1", 3, "operators are not supported: ==", 1},
    {"(SELECT 1) = 1", 1, "subqueries are not supported: (select", 0},
    {"i2 IN (SELECT 1)", 7, "subqueries are not supported: IN (select", 0},
    {"EXISTS (SELECT 1)", 0, "subqueries are not supported: exists", 0},
    {"CASE WHEN b THEN 1 END = 1", 0, "CASE expressions are not supported", 0},
    {"i2::text = '10'", 2, "casts of columns are not supported: i2::", 0},
    {"CAST(i2 AS text) = '10'", 0, "casts are only supported on literals: CAST(i2", 0},
    {"i2 = $1", 5, "parameters are not supported: $1", 1},
    {"d > now()", 4, "function calls are not supported: now(", 0},
    {"d > current_date", 4, "functions are not supported: current_date", 0},
    {"arr[1] = 1", 3, "array subscripts are not supported", 0},
    {"t = 'a' COLLATE \"C\"", 8, "COLLATE is not supported", 0},
    {"ts AT TIME ZONE 'UTC' > tz", 3, "AT TIME ZONE is not supported", 0},
    {"t SIMILAR TO 'x'", 2, "SIMILAR TO is not supported", 0},
    {"i2 = ANY('{1}')", 5, "ANY, ALL and SOME are not supported: any(", 0},
    {"t = 'x'::char(3)", 9, "type char is not supported", 0},
    {"t = 'x'::varchar(3)", 16, "type modifiers are not supported: varchar(", 0},
    {"js = '{}'::json", 11, "type json is not supported", 0},
    {"t = E'x'", 4, "E'...' string constants are not supported", 0},
    {"t = $$x$$", 4, "dollar-quoted strings are not supported", 0},
    {"x.y = 1", 0, "qualified names are not supported (name the column alone): x.", 1},
    {"ROW(1, 2) IS NULL", 0, "row constructors are not supported", 0},
    {"(1, 2) IS NULL", 2, "row constructors are not supported", 0},
    {"d = INTERVAL '1 day'", 4, "type interval is not supported", 0},
    {"t LIKE t", 7, "the pattern of LIKE must be a string literal: t", 0},
    {"t LIKE 'x' ESCAPE 'ab'", 18, "invalid escape string", 1},
    {"t LIKE '%\\'", 7, "LIKE pattern must not end with escape character", 1},
    {"d = 'tomorrow'", 4, "now, today, tomorrow and yesterday are not constants", 0},
    {"1.5.3 = 1", 0, "trailing junk after numeric literal: 1.5.", 1},
    {"i2 = 12abc", 5, "trailing junk after numeric literal: 12a", 1},
    {"i2 = 1 = b", 7, "syntax error at or near \"=\"", 1},
    {"i2 = 1 1", 7, "syntax error at or near \"1\"", 1},
    {"i2 >", 4, "syntax error at end of expression", 1},
    {"i2 > 5)", 6, "unbalanced parenthesis: )", 1},
    {"(i2 > 5", 7, "syntax error at end of expression", 1},
    {"i2 = 1 AND", 10, "syntax error at end of expression", 1},
    {"i2 BETWEEN 1", 12, "syntax error at end of expression", 1},
    {"i2 IN ()", 7, "syntax error at or near \")\"", 1},
    {"NOT", 3, "syntax error at end of expression", 1},
    {"i2 = 'abc", 5, "unterminated string literal", 1},
    {"\"i2 = 1", 0, "unterminated quoted identifier", 1},
    {"\"\" = 1", 0, "zero-length quoted identifier", 1},
    {"/* x", 0, "unterminated /* comment", 1},
    {"", 0, "empty expression", 1},
    {"   -- nothing", 0, "empty expression", 1},
    {"in = 1", 0, "syntax error at or near \"in\"", 1},
    {"i2 = 1 # 2", 7, "operators are not supported: #", 0},
    {"i2!=-5", 2, "operators are not supported: !=-", 1},
    {"i2>0AND b", 3, "trailing junk after numeric literal: 0A", 1},
    {"'2024-13-01'::date = d", 0, "date out of range or not a date: '2024-13-01'", 1},
    {"DATE 'yesterday' < d", 0, "now, today, tomorrow and yesterday are not constants", 0},
    {"'x'::int = 1", 0, "invalid input syntax for type integer: 'x'", 1},
    {"'70000'::int2 = 1", 0, "out of range for type smallint", 1},
    {"70000::int2 = 1", 0, "smallint out of range: 70000", 1},
    {"'2024-01-01 10:00:00.1234567'::timestamp = ts", 0, "more than 6 fractional digits", 0},
    {"-'5' = i2", 0, "unary - is only supported on numbers, not on unknown '5'", 1},
    {"-true", 0, "unary - is only supported on numbers, not on boolean true", 1},
    {"d = 5::date", 5, "cannot cast integer to date", 1},
    /* bind time */
    {"nosuch = 1", 0, "column \"nosuch\" does not exist in table public.t", 1},
    {"ID = 1 AND \"Id\" = 1", 11, "column \"Id\" does not exist", 1},
    {"mixed case = 1", 6, "syntax error at or near \"case\"", 1},
    {"Mixed = 1", 0, "column \"mixed\" does not exist", 1},
    {"vc ILIKE '\xc3\xa0"
     "b'",
     9, "ILIKE patterns with non-ASCII characters are not supported", 0},
    {"i2 = 'abc'", 5,
     "cannot compare smallint column \"i2\" with 'abc': invalid input syntax for type smallint", 1},
    {"i2 = '70000'", 5, "out of range for type smallint", 1},
    {"i2 = '1.5'", 5, "invalid input syntax for type smallint", 1},
    {"i2 IN (1, 'x')", 10, "invalid input syntax for type smallint", 1},
    {"n = 'abc'", 4, "invalid input syntax for type numeric", 1},
    {"f8 = 'abc'", 5, "invalid input syntax for type double precision", 1},
    {"f4 = '1e40'", 5, "out of range for type real", 1},
    {"b = 'maybe'", 4, "invalid input syntax for type boolean", 1},
    {"u = 'not-a-uuid'", 4, "invalid input syntax for type uuid", 1},
    {"ts = '2024-01-01 25:00'", 5, "invalid input syntax for type timestamp", 1},
    {"d = '2023-02-29'", 4, "date out of range or not a date", 1},
    {"t = 5", 2, "cannot compare text column \"t\" with integer 5", 1},
    {"5 = t", 2, "cannot compare integer 5 with text column \"t\"", 1},
    {"d = 5", 2, "cannot compare date column \"d\" with integer 5", 1},
    {"d = t", 2, "cannot compare date column \"d\" with text column \"t\"", 1},
    {"b = 1", 2, "cannot compare boolean column \"b\" with integer 1", 1},
    {"u = t", 2, "cannot compare uuid column \"u\" with text column \"t\"", 1},
    {"i2 = true", 3, "cannot compare smallint column \"i2\" with boolean true", 1},
    {"i2 LIKE '1%'", 3, "LIKE is only supported on text, not on smallint column \"i2\"", 1},
    {"d ILIKE '2%'", 2, "ILIKE is only supported on text, not on date column \"d\"", 1},
    {"js = '{}'", 0, "column \"js\" has type jsonb, which filters only support in IS [NOT] NULL",
     0},
    {"arr = '{1}'", 0, "column \"arr\" has type integer[]", 0},
    {"mood < 'sad'", 5, "column \"mood\" has a user-defined type (an enum", 0},
    {"mood LIKE 'h%'", 5, "LIKE is only supported on text, not on text column \"mood\"", 1},
    {"i2", 0, "a filter must be boolean, not smallint column \"i2\"", 1},
    {"''", 0, "invalid input syntax for type boolean", 1},
    {"b AND i2", 6, "an argument of AND must be boolean, not smallint column \"i2\"", 1},
    {"NOT t", 4, "the argument of NOT must be boolean, not text column \"t\"", 1},
    {"i2 IS TRUE", 0, "the argument of IS TRUE/FALSE/UNKNOWN must be boolean", 1},
    {"f8 = 1e400", 5, "value out of range for type double precision", 1},
};
#define NREFUSED ((int)(sizeof refused / sizeof refused[0]))

/* ---- building relations and rows ---- */

static w2k_relation_t *make_rel(void)
{
    w2k_relation_t *rel = w2k_relation_new(NCOLS);
    if (!rel)
        return NULL;
    rel->relid = 16400;
    snprintf(rel->schema, sizeof rel->schema, "public");
    snprintf(rel->name, sizeof rel->name, "t");
    rel->replident = 'd';
    for (int i = 0; i < NCOLS; i++) {
        w2k_column_t *c = &rel->cols[i];
        snprintf(c->name, sizeof c->name, "%s", cols[i].name);
        c->type_oid = cols[i].oid;
        c->typmod = cols[i].typmod;
        snprintf(c->type_name, sizeof c->type_name, "%s",
                 strcmp(cols[i].sql, "int4[]") == 0 ? "integer[]" : cols[i].sql);
        w2k_coltype_from_pg(&c->type, cols[i].base_oid, cols[i].typmod, 0);
    }
    rel->cols[0].key_pos = 0;
    rel->keycols[0] = 0;
    rel->nkeys = 1;
    w2k_relation_name_fields(rel);
    return rel;
}

static w2k_pgtuple_t tup; /* large: static */

static void set_row(w2k_pgtuple_t *t, int r)
{
    t->ncols = NCOLS;
    for (int i = 0; i < NCOLS; i++) {
        const char *v = rows[r][i];
        t->cols[i].kind = v ? 't' : 'n';
        t->cols[i].data = v;
        t->cols[i].len = v ? (uint32_t)strlen(v) : 0;
    }
}

static char letter(int r)
{
    return r == 1 ? 't' : r == 0 ? 'f' : r == -1 ? 'n' : '?';
}

/* ---- the tests ---- */

static void test_cases(const w2k_relation_t *rel)
{
    char err[512];
    for (int k = 0; k < NCASES; k++) {
        w2k_filter_t *f = w2k_filter_parse(cases[k].expr, err, sizeof err);
        if (!f) {
            CHECK_STR(err, "");
            fprintf(stderr, "  parsing: %s\n", cases[k].expr);
            continue;
        }
        if (w2k_filter_bind(f, rel, err, sizeof err) != 0) {
            CHECK_STR(err, "");
            fprintf(stderr, "  binding: %s\n", cases[k].expr);
            w2k_filter_destroy(f);
            continue;
        }
        char got[NROWS + 1];
        for (int r = 0; r < NROWS; r++) {
            set_row(&tup, r);
            got[r] = letter(w2k_filter_eval(f, &tup));
        }
        got[NROWS] = '\0';
        unit_checks++;
        if (strcmp(got, cases[k].want) != 0) {
            unit_failures++;
            fprintf(stderr, "%s:%d: %s gives %s, want %s\n", __FILE__, __LINE__, cases[k].expr, got,
                    cases[k].want);
        }
        w2k_filter_destroy(f);
    }
}

static void test_refused(const w2k_relation_t *rel)
{
    char err[512];
    for (int k = 0; k < NREFUSED; k++) {
        const refused_t *c = &refused[k];
        err[0] = '\0';
        w2k_filter_t *f = w2k_filter_parse(c->expr, err, sizeof err);
        if (f && w2k_filter_bind(f, rel, err, sizeof err) == 0) {
            unit_checks++;
            unit_failures++;
            fprintf(stderr, "%s:%d: %s was accepted\n", __FILE__, __LINE__, c->expr);
            w2k_filter_destroy(f);
            continue;
        }
        if (f) /* a bound filter that failed binding cannot be evaluated */
            CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_BADVALUE);
        w2k_filter_destroy(f);
        char prefix[64];
        snprintf(prefix, sizeof prefix, "filter: at offset %d: ", c->offset);
        unit_checks++;
        if (strncmp(err, prefix, strlen(prefix)) != 0 || !strstr(err, c->msg)) {
            unit_failures++;
            fprintf(stderr, "%s:%d: %s: got \"%s\", want \"%s%s...\"\n", __FILE__, __LINE__,
                    c->expr, err, prefix, c->msg);
        }
    }
    /* the header's example, in full */
    char e2[128];
    CHECK(w2k_filter_parse("id = 10 AND lower(t) = 'x'", e2, sizeof e2) == NULL);
    CHECK_STR(e2, "filter: at offset 12: function calls are not supported: lower(");
    /* a small error buffer is cut, never overrun */
    char small[16];
    memset(small, 'x', sizeof small);
    CHECK(w2k_filter_parse("lower(t)", small, 12) == NULL);
    CHECK_INT(strlen(small), 11);
    CHECK_INT(small[12], 'x');
    CHECK(w2k_filter_parse("lower(t)", NULL, 0) == NULL);
}

/* Unchanged TOAST values, binary datums, short rows. */
static void test_toast(const w2k_relation_t *rel)
{
    char err[256];
    struct {
        const char *expr;
        int want;
    } tc[] = {
        {"t = 'open'", W2K_FILTER_TOAST},
        {"id = 1 OR t = 'open'", W2K_FILTER_TOAST},
        {"t IS NULL", W2K_FILTER_FALSE},
        {"t IS NOT NULL AND id = 1", W2K_FILTER_TRUE},
        {"t IS NULL OR t = 'x'", W2K_FILTER_TOAST},
        {"id = 1", W2K_FILTER_TRUE},
    };
    for (size_t k = 0; k < sizeof tc / sizeof tc[0]; k++) {
        w2k_filter_t *f = w2k_filter_parse(tc[k].expr, err, sizeof err);
        CHECK(f != NULL);
        if (!f)
            continue;
        CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
        set_row(&tup, 0);
        tup.cols[8].kind = 'u';
        tup.cols[8].data = NULL;
        tup.cols[8].len = 0;
        int got = w2k_filter_eval(f, &tup);
        if (got != tc[k].want)
            fprintf(stderr, "  %s\n", tc[k].expr);
        CHECK_INT(got, tc[k].want);
        w2k_filter_destroy(f);
    }
    w2k_filter_t *f = w2k_filter_parse("i2 = 10", err, sizeof err);
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    set_row(&tup, 0);
    tup.cols[1].kind = 'b';
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_BADVALUE);
    set_row(&tup, 0);
    tup.cols[1].data = "ten";
    tup.cols[1].len = 3;
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_BADVALUE);
    set_row(&tup, 0);
    tup.ncols = 1; /* columns past the row are NULL */
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_NULL);
    w2k_filter_destroy(f);
}

/* Which columns a filter uses; rebinding to a changed relation. */
static void test_columns(w2k_relation_t *rel)
{
    char err[256];
    w2k_filter_t *f =
        w2k_filter_parse("amount > 100 AND status IN ('open','paid')", err, sizeof err);
    CHECK(f != NULL);
    CHECK_STR(w2k_filter_text(f), "amount > 100 AND status IN ('open','paid')");
    CHECK(!w2k_filter_uses_column(f, 18)); /* not bound yet */
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    for (int i = 0; i < NCOLS; i++)
        CHECK_INT(w2k_filter_uses_column(f, i), i == 18 || i == 19);
    CHECK(!w2k_filter_uses_column(f, -1));
    CHECK(!w2k_filter_uses_column(f, NCOLS));

    /* the same table with its columns in another order and amount now an integer */
    w2k_relation_t *r2 = w2k_relation_new(3);
    snprintf(r2->schema, sizeof r2->schema, "public");
    snprintf(r2->name, sizeof r2->name, "t");
    const char *names[3] = {"status", "id", "amount"};
    uint32_t oids[3] = {W2K_OID_TEXT, W2K_OID_INT4, W2K_OID_INT8};
    for (int i = 0; i < 3; i++) {
        snprintf(r2->cols[i].name, sizeof r2->cols[i].name, "%s", names[i]);
        r2->cols[i].type_oid = oids[i];
        r2->cols[i].typmod = -1;
        w2k_coltype_from_pg(&r2->cols[i].type, oids[i], -1, 0);
    }
    CHECK_INT(w2k_filter_bind(f, r2, err, sizeof err), 0);
    CHECK(w2k_filter_uses_column(f, 0) && w2k_filter_uses_column(f, 2));
    CHECK(!w2k_filter_uses_column(f, 1));
    static w2k_pgtuple_t t2;
    t2.ncols = 3;
    const char *vals[3] = {"paid", "7", "101"};
    for (int i = 0; i < 3; i++)
        t2.cols[i] = (w2k_pgdatum_t){'t', (uint32_t)strlen(vals[i]), vals[i]};
    CHECK_INT(w2k_filter_eval(f, &t2), W2K_FILTER_TRUE);
    t2.cols[2] = (w2k_pgdatum_t){'t', 3, "100"};
    CHECK_INT(w2k_filter_eval(f, &t2), W2K_FILTER_FALSE);

    /* a relation without the column: bind fails and the filter cannot be evaluated */
    snprintf(r2->cols[2].name, sizeof r2->cols[2].name, "total");
    CHECK_INT(w2k_filter_bind(f, r2, err, sizeof err), -1);
    CHECK_STR(err, "filter: at offset 0: column \"amount\" does not exist in table public.t");
    CHECK_INT(w2k_filter_eval(f, &t2), W2K_FILTER_BADVALUE);
    CHECK(!w2k_filter_uses_column(f, 0));
    /* and binding again to the first relation works */
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    set_row(&tup, 0);
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_TRUE);
    w2k_relation_free(r2);
    w2k_filter_destroy(f);

    /* IS NULL alone marks a column used (it must be in the old image too) */
    f = w2k_filter_parse("js IS NULL", err, sizeof err);
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    CHECK(w2k_filter_uses_column(f, 15));
    CHECK(!w2k_filter_uses_column(f, 0));
    w2k_filter_destroy(f);
    w2k_filter_destroy(NULL);
}

/* Long lists and chains (past the parser's inline arrays), deep nesting. */
static void test_sizes(const w2k_relation_t *rel)
{
    char err[256];
    static char expr[200000];
    size_t k = (size_t)snprintf(expr, sizeof expr, "id IN (");
    for (int i = 100; i < 300; i++)
        k += (size_t)snprintf(expr + k, sizeof expr - k, "%d, ", i);
    snprintf(expr + k, sizeof expr - k, "5)");
    w2k_filter_t *f = w2k_filter_parse(expr, err, sizeof err);
    CHECK(f != NULL);
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    set_row(&tup, 4);
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_TRUE);
    set_row(&tup, 0);
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_FALSE);
    w2k_filter_destroy(f);

    k = 0;
    for (int i = 0; i < 150; i++)
        k += (size_t)snprintf(expr + k, sizeof expr - k, "%sid <> %d", i ? " AND " : "", i + 10);
    for (int i = 0; i < 150; i++)
        k += (size_t)snprintf(expr + k, sizeof expr - k, " OR id = %d", i + 1000);
    f = w2k_filter_parse(expr, err, sizeof err);
    CHECK(f != NULL);
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_TRUE);
    w2k_filter_destroy(f);

    k = 0;
    for (int i = 0; i < 200; i++)
        expr[k++] = '(';
    k += (size_t)snprintf(expr + k, sizeof expr - k, "id = 1");
    for (int i = 0; i < 200; i++)
        expr[k++] = ')';
    expr[k] = '\0';
    f = w2k_filter_parse(expr, err, sizeof err);
    CHECK(f != NULL);
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
    CHECK_INT(w2k_filter_eval(f, &tup), W2K_FILTER_TRUE);
    w2k_filter_destroy(f);

    /* nesting is bounded, not a stack overflow */
    char *deep = malloc(300000);
    for (int kind = 0; kind < 3 && deep; kind++) {
        const char *unit = kind == 0 ? "(" : kind == 1 ? "NOT " : "- ";
        size_t ul = strlen(unit);
        k = 0;
        if (kind == 2)
            k += (size_t)snprintf(deep, 16, "i2 = ");
        for (int i = 0; i < 50000; i++) {
            memcpy(deep + k, unit, ul);
            k += ul;
        }
        snprintf(deep + k, 300000 - k, "%s", kind == 2 ? "1" : "b");
        f = w2k_filter_parse(deep, err, sizeof err);
        CHECK(f == NULL);
        CHECK(strstr(err, "expression nested too deeply (more than 1000 levels)") != NULL);
    }
    free(deep);
}

/* ---- the cross-check's SQL ---- */

static void sql_quote(const char *s)
{
    putchar('\'');
    for (; *s; s++) {
        if (*s == '\'')
            putchar('\'');
        putchar(*s);
    }
    putchar('\'');
}

static void print_sql(void)
{
    printf("SET TimeZone = 'UTC';\nSET DateStyle = 'ISO';\nSET extra_float_digits = 3;\n"
           "DROP TABLE IF EXISTS t;\nDROP FUNCTION IF EXISTS fc(text);\n"
           "DROP TYPE IF EXISTS mood;\n"
           "CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');\nCREATE TABLE t (\"_row\" int");
    for (int i = 0; i < NCOLS; i++)
        printf(", \"%s\" %s", cols[i].name, cols[i].sql);
    printf(");\n");
    for (int r = 0; r < NROWS; r++) {
        printf("INSERT INTO t VALUES (%d", r);
        for (int i = 0; i < NCOLS; i++) {
            printf(", ");
            if (rows[r][i])
                sql_quote(rows[r][i]);
            else
                printf("NULL");
        }
        printf(");\n");
    }
    /* each value printed back must be the text this test feeds the filter */
    for (int r = 0; r < NROWS; r++)
        for (int i = 0; i < NCOLS; i++) {
            if (!rows[r][i])
                continue;
            printf(
                "SELECT 'row %d column %s prints as ' || x FROM (SELECT format('%%s', \"%s\") AS x "
                "FROM t WHERE \"_row\" = %d) s WHERE x IS DISTINCT FROM ",
                r, cols[i].name, cols[i].name, r);
            sql_quote(rows[r][i]);
            printf(";\n");
        }
    printf(
        "CREATE FUNCTION fc(e text) RETURNS text LANGUAGE plpgsql AS $f$\n"
        "DECLARE r text;\nBEGIN\n"
        "  EXECUTE format('SELECT string_agg(CASE WHEN \"_row\" IN (SELECT \"_row\" FROM t "
        "WHERE (%%1$s\n)) THEN ''t'' WHEN \"_row\" IN (SELECT \"_row\" FROM t WHERE NOT (%%1$s\n)) "
        "THEN ''f'' ELSE ''n'' END, '''' ORDER BY \"_row\") FROM t', e) INTO r;\n"
        "  RETURN r;\n"
        "EXCEPTION WHEN others THEN RETURN 'ERROR: ' || SQLERRM;\nEND $f$;\n");
    for (int k = 0; k < NCASES; k++) {
        printf("SELECT 'case %d|' || fc(", k);
        sql_quote(cases[k].expr);
        printf(");\n");
    }
    for (int k = 0; k < NREFUSED; k++) {
        if (!refused[k].pg)
            continue;
        printf("SELECT 'refused %d|' || CASE WHEN fc(", k);
        sql_quote(refused[k].expr);
        printf(") LIKE 'ERROR: %%' THEN 'ERROR' ELSE 'accepted' END;\n");
    }
}

static void print_expected(void)
{
    for (int k = 0; k < NCASES; k++)
        printf("case %d|%s\n", k, cases[k].want);
    for (int k = 0; k < NREFUSED; k++)
        if (refused[k].pg)
            printf("refused %d|ERROR\n", k);
}

/* ---- timing ---- */

static void bench(const w2k_relation_t *rel)
{
    const char *exprs[] = {
        "amount > 100 AND status IN ('open','paid')",
        "id > 100 AND status IN ('open','paid')",
        "ts >= '2024-01-01' AND t LIKE 'op%'",
        "n2 BETWEEN 1 AND 50 OR i8 IS NULL",
    };
    static w2k_pgtuple_t rowsv[4];
    const char *amounts[4] = {"150.00", "99.99", "100.00", "1234567.89"};
    const char *statuses[4] = {"open", "paid", "closed", "open"};
    for (int r = 0; r < 4; r++) {
        set_row(&rowsv[r], r == 2 ? 3 : r);
        rowsv[r].cols[18] = (w2k_pgdatum_t){'t', (uint32_t)strlen(amounts[r]), amounts[r]};
        rowsv[r].cols[19] = (w2k_pgdatum_t){'t', (uint32_t)strlen(statuses[r]), statuses[r]};
    }
    char err[256];
    for (size_t e = 0; e < sizeof exprs / sizeof exprs[0]; e++) {
        w2k_filter_t *f = w2k_filter_parse(exprs[e], err, sizeof err);
        if (!f || w2k_filter_bind(f, rel, err, sizeof err) != 0) {
            fprintf(stderr, "bench: %s\n", err);
            w2k_filter_destroy(f);
            continue;
        }
        const long n = 4000000;
        long hits = 0;
        struct timespec a, b;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
        for (long i = 0; i < n; i++)
            hits += w2k_filter_eval(f, &rowsv[i & 3]) == 1;
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
        double ns = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / n;
        printf("bench %-45s %6.1f ns/row (%ld of %ld true)\n", exprs[e], ns, hits, n);
        w2k_filter_destroy(f);
    }
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "sql") == 0) {
        print_sql();
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "expected") == 0) {
        print_expected();
        return 0;
    }
    w2k_relation_t *rel = make_rel();
    if (!rel)
        return 1;
    test_cases(rel);
    test_refused(rel);
    test_toast(rel);
    test_columns(rel);
    test_sizes(rel);
    if (argc > 2 && strcmp(argv[2], "bench") == 0)
        bench(rel);
    w2k_relation_free(rel);
    return unit_report("test_filter");
}
