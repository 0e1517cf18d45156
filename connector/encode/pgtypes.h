/* pgtypes.h — the PostgreSQL → Avro type mapping: which Avro type a column gets,
 * the schema text of that type, and the conversion of PostgreSQL's text output
 * form into an avro-c value. The table in schemas/README.md documents it.
 *
 * The replication session runs with DateStyle=ISO, TimeZone=UTC,
 * IntervalStyle=iso_8601, extra_float_digits=3 and bytea_output=hex, so values
 * arrive in exactly one text form per type; the parsers rely on that. */
#ifndef W2K_PGTYPES_H
#define W2K_PGTYPES_H

#include <avro.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "config.h" /* w2k_typeopts_t */

typedef enum w2k_avkind_e {
    W2K_AV_BOOLEAN,                /* bool */
    W2K_AV_INT,                    /* int2, int4 */
    W2K_AV_LONG,                   /* int8, oid */
    W2K_AV_FLOAT,                  /* float4 */
    W2K_AV_DOUBLE,                 /* float8 */
    W2K_AV_STRING,                 /* text, varchar, bpchar, json, jsonb, timetz, enums,
                                      and every type without a mapping (its text form) */
    W2K_AV_BYTES,                  /* bytea */
    W2K_AV_DECIMAL,                /* numeric(p,s): bytes, logicalType decimal(p,s) */
    W2K_AV_VARDECIMAL,             /* numeric without typmod: record wal2kafka.VariableScaleDecimal
                                      {scale: int, value: bytes (unscaled, two's complement)} */
    W2K_AV_DATE,                   /* date: int, logicalType date */
    W2K_AV_TIME_MICROS,            /* time: long, logicalType time-micros */
    W2K_AV_TIMESTAMP_MICROS,       /* timestamptz: long, logicalType timestamp-micros */
    W2K_AV_LOCAL_TIMESTAMP_MICROS, /* timestamp: long, logicalType local-timestamp-micros */
    W2K_AV_TIME_MILLIS,            /* time with time.precision = millis: int, time-millis */
    W2K_AV_TIMESTAMP_MILLIS,       /* timestamptz, millis: long, timestamp-millis */
    W2K_AV_LOCAL_TIMESTAMP_MILLIS, /* timestamp, millis: long, local-timestamp-millis */
    W2K_AV_UUID,                   /* uuid: string, logicalType uuid */
    W2K_AV_INTERVAL                /* interval: record wal2kafka.Interval
                                      {months: int, days: int, micros: long} */
} w2k_avkind_t;

/* The Avro mapping of one scalar type. */
typedef struct w2k_avscalar_s {
    w2k_avkind_t kind;
    uint32_t oid;  /* the PostgreSQL type whose text form is parsed */
    int precision; /* W2K_AV_DECIMAL only */
    int scale;     /* W2K_AV_DECIMAL only */
    bool special;  /* the type has values its Avro type cannot hold (numeric NaN and
                      ±Infinity, date/timestamp/timestamptz ±infinity, time 24:00:00):
                      the union gets a wal2kafka.SpecialValue enum branch for them */
} w2k_avscalar_t;

/* The Avro mapping of a column. */
typedef struct w2k_coltype_s {
    w2k_avscalar_t t;  /* the value type; for arrays the element type */
    bool is_array;     /* Avro array with items ["null", element (, SpecialValue)]; arrays
                          that are not one-dimensional with lower bound 1 go into the
                          column's wal2kafka.ArrayText branch as PostgreSQL's text form */
    bool varlena;      /* values can be TOASTed (unchanged TOAST values can occur) */
    bool special_null; /* special.values = null: in nullable fields and array items,
                          special values (and arrays of other shapes) become null and
                          the union has no SpecialValue/ArrayText branch */
} w2k_coltype_t;

/* Apply representation options to a column type made by w2k_coltype_from_pg().
 * opts NULL: the defaults (no change). */
void w2k_coltype_apply_opts(w2k_coltype_t *ct, const w2k_typeopts_t *opts);

/* The symbols of the wal2kafka.SpecialValue enum, in order. */
#define W2K_SPECIAL_SYMBOLS "[\"NAN\",\"POSITIVE_INFINITY\",\"NEGATIVE_INFINITY\",\"END_OF_DAY\"]"
enum { W2K_SV_NAN, W2K_SV_POSITIVE_INFINITY, W2K_SV_NEGATIVE_INFINITY, W2K_SV_END_OF_DAY };

/* Field flags for w2k_coltype_schema() and w2k_coltype_set(). */
#define W2K_FIELD_NULLABLE 1 /* union starts with "null" (row fields; key fields are not) */
#define W2K_FIELD_TOAST                                                                            \
    2 /* union ends with wal2kafka.UnchangedToast (row fields of varlena                           \
         types): an unchanged TOAST value, never confused with NULL */

/* Named types shared by all schemas, for the *defined bitmask below. */
#define W2K_NAMED_INTERVAL       1u
#define W2K_NAMED_VARDECIMAL     2u
#define W2K_NAMED_UNCHANGEDTOAST 4u
#define W2K_NAMED_SPECIALVALUE   8u
#define W2K_NAMED_ARRAYTEXT      16u

/* Some PostgreSQL type OIDs (pg_type.dat). */
#define W2K_OID_BOOL        16
#define W2K_OID_BYTEA       17
#define W2K_OID_INT8        20
#define W2K_OID_INT2        21
#define W2K_OID_INT4        23
#define W2K_OID_TEXT        25
#define W2K_OID_OID         26
#define W2K_OID_JSON        114
#define W2K_OID_FLOAT4      700
#define W2K_OID_FLOAT8      701
#define W2K_OID_BPCHAR      1042
#define W2K_OID_VARCHAR     1043
#define W2K_OID_DATE        1082
#define W2K_OID_TIME        1083
#define W2K_OID_TIMESTAMP   1114
#define W2K_OID_TIMESTAMPTZ 1184
#define W2K_OID_INTERVAL    1186
#define W2K_OID_TIMETZ      1266
#define W2K_OID_NUMERIC     1700
#define W2K_OID_UUID        2950
#define W2K_OID_JSONB       3802

/* Map a column type. oid and typmod are the column's type after the caller resolved
 * domains to their base type (and the domain's typmod when the column has none) and
 * enums to W2K_OID_TEXT. elem_oid: for an array type that is not built in (e.g. an
 * array of an enum or domain), its element type resolved the same way; otherwise 0.
 * Built-in array types (e.g. _int4) are recognised from oid alone. Any type without
 * a mapping becomes W2K_AV_STRING (its text form). */
void w2k_coltype_from_pg(w2k_coltype_t *ct, uint32_t oid, int32_t typmod, uint32_t elem_oid);

/* For a built-in array type OID, its element type OID; otherwise 0. */
uint32_t w2k_pgtype_array_elem(uint32_t array_oid);

/* Append the Avro schema of a field of this type to out.
 * canonical = false: full JSON, with logicalType, precision and scale, as registries
 *                    and the <prefix>.schemas topic need;
 * canonical = true:  Avro Parsing Canonical Form (for the fingerprint).
 * Named types (wal2kafka.Interval, wal2kafka.VariableScaleDecimal,
 * wal2kafka.UnchangedToast, wal2kafka.SpecialValue, wal2kafka.ArrayText) carry their own namespace
 * and are referenced by full name, so the enclosing namespace does not matter. *defined is a
 * W2K_NAMED_* bitmask the caller zeroes once per schema: a named type is defined at its first use
 * and referenced by name afterwards. */
void w2k_coltype_schema(const w2k_coltype_t *ct, int flags, bool canonical, unsigned *defined,
                        w2k_buf_t *out);

/* Set an avro-c value of the schema written by w2k_coltype_schema(ct, flags, ...) from
 * one column datum: kind 'n' → the null branch, 'u' → the UnchangedToast branch,
 * 't' → text parsed as PostgreSQL prints it (len bytes at text, not NUL-terminated).
 * scratch is working memory the caller keeps between calls. Returns 0, or -1 with
 * err saying which type's text could not be parsed and why (the value is quoted,
 * truncated to 64 bytes). A kind the flags do not allow is an error too. */
int w2k_coltype_set(const w2k_coltype_t *ct, int flags, avro_value_t *field, char kind,
                    const char *text, size_t len, w2k_buf_t *scratch, char *err, size_t errsz);

/* ---- PostgreSQL's text forms for row filters, which compare values in PostgreSQL's
 * own units. The output forms are what the replication session prints (the parsers
 * w2k_coltype_set uses); the input forms are what PostgreSQL's *_in functions take
 * in a literal ('...'::type). Each returns 0, or -1 with *why (a static string)
 * where it has a why. ---- */

/* A numeric value: a class and, for finite values, the sign and the digits without
 * leading zeros (integer part) or trailing zeros (fraction); zero has no digits and
 * is never negative. The digits point into the parsed text or a buffer. */
enum { W2K_PGNUM_FINITE, W2K_PGNUM_NINF, W2K_PGNUM_PINF, W2K_PGNUM_NAN };
typedef struct w2k_pgnum_s {
    uint8_t special; /* W2K_PGNUM_* */
    bool neg;
    const char *ip; /* integer digits */
    size_t il;
    const char *fp; /* fraction digits */
    size_t fl;
} w2k_pgnum_t;

/* Output form of a date ("YYYY-MM-DD[ BC]", "infinity", "-infinity") into days since
 * 2000-01-01 (PostgreSQL's DateADT; -infinity INT32_MIN, infinity INT32_MAX). */
int w2k_pgtext_date(const char *s, size_t n, int32_t *days, const char **why);

/* The same for timestamp ("YYYY-MM-DD HH:MM:SS[.f][ BC]") and, with with_tz, timestamptz
 * (an offset "+HH[:MM[:SS]]" before any " BC"): microseconds since 2000-01-01 00:00:00
 * UTC (PostgreSQL's Timestamp; -infinity INT64_MIN, infinity INT64_MAX). */
int w2k_pgtext_timestamp(const char *s, size_t n, bool with_tz, int64_t *us, const char **why);

/* Output form of an integer ("[-]digits", at most 19 digits) in [min, max]. */
int w2k_pgtext_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out,
                   const char **why);

/* Output form of a real (single: widened exactly) or double precision: what strtod
 * reads, NaN, Infinity, -Infinity. */
int w2k_pgtext_float(const char *s, size_t n, bool single, double *out, const char **why);

/* Output form of a numeric ("[-]digits[.digits]", NaN, Infinity, -Infinity); *x points
 * into s. Returns 0 or -1. */
int w2k_pgtext_numeric(const char *s, size_t n, w2k_pgnum_t *x);

/* Input form of a boolean, as boolin takes it (white space, prefixes of true, false,
 * yes, no, on, off in any case, 1, 0). Returns 0 or -1. */
int w2k_pginput_bool(const char *s, size_t n, bool *out);

/* Input form of an integer as int2in/int4in/int8in take it (white space, a sign,
 * digits), in the range of oid (W2K_OID_INT2, W2K_OID_INT4, else bigint). */
int w2k_pginput_int(const char *s, size_t n, uint32_t oid, int64_t *out, const char **why);

/* Input form of a real (single) or double precision as float4in/float8in take it
 * (white space, inf, nan, exponent; out of range is an error). */
int w2k_pginput_float(const char *s, size_t n, bool single, double *out, const char **why);

/* Input form of a numeric as numeric_in takes it (white space, a sign, digits with an
 * optional point and exponent, NaN, [+-]Infinity, [+-]inf), normalized; the digits
 * live in a new *buf the caller frees (NULL when none is needed). */
int w2k_pginput_numeric(const char *s, size_t n, w2k_pgnum_t *x, char **buf, const char **why);

/* Input form of a uuid as uuid_in takes it (optional braces, hyphens between groups of
 * four digits, either case) into its canonical 36-byte lower-case form and a NUL.
 * Returns 0 or -1. */
int w2k_pginput_uuid(const char *s, size_t n, char out[37]);

/* Input form of a date: YYYY-MM-DD[{ |T}HH:MM[:SS[.ffffff]][offset]][ BC| AD] (the time
 * and offset checked, then ignored), epoch, [+-]infinity, white space around; into
 * days since 2000-01-01 (-infinity INT64_MIN, infinity INT64_MAX). now, today,
 * tomorrow and yesterday are refused. */
int w2k_pginput_date(const char *s, size_t n, int64_t *days, const char **why);

/* Input form of a timestamp (with_tz false: an offset is checked, then ignored) or a
 * timestamptz (an offset Z, UTC or [+-]HH[[:]MM[[:]SS]]; none: UTC), the forms of
 * w2k_pginput_date, into microseconds since 2000-01-01 00:00:00 UTC (±infinity as
 * INT64_MIN/MAX). */
int w2k_pginput_timestamp(const char *s, size_t n, bool with_tz, int64_t *us, const char **why);

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar, y astronomical
 * (1 BC = year 0; H. Hinnant's algorithm). m is 1 to 12; d is not checked against the
 * month's length (day 31 of a 30-day month is the next month's first day). Pure. */
int64_t w2k_days_from_civil(int64_t y, int m, int d);

/* Append the Avro binary encoding of the same field value w2k_coltype_set would set
 * (byte for byte what avro_value_write writes for it) to out. Returns 0, or -1 with
 * err as w2k_coltype_set. This is the hot path: no avro-c involved. */
int w2k_coltype_write(const w2k_coltype_t *ct, int flags, w2k_buf_t *out, char kind,
                      const char *text, size_t len, w2k_buf_t *scratch, char *err, size_t errsz);

/* The hot path of w2k_coltype_write, for callers that encode many values: NULL,
 * unchanged TOAST and the usual text of boolean, integers, text-like strings,
 * numeric(p,s) of up to 18 digits, date and timestamp[tz] appended to out. Returns
 * true when it wrote the value; false, with out as it was, for anything else: then
 * call w2k_coltype_write, which converts it or says why it cannot. */
bool w2k_coltype_write_fast(const w2k_coltype_t *ct, int flags, w2k_buf_t *out, char kind,
                            const char *text, size_t len);

/* Avro binary primitives: a long or int (zig-zag varint; also union branch indexes,
 * enum symbols and array block counts), and bytes or a string (length, then bytes).
 * Inline: a message calls them dozens of times. On allocation failure out->oom is
 * set and nothing is appended. */
static inline void w2k_avro_write_long(w2k_buf_t *out, int64_t x)
{
    if (out->len + 11 > out->cap && w2k_buf_reserve(out, 10) != 0)
        return;
    uint8_t *p = (uint8_t *)out->data + out->len;
    uint64_t z = ((uint64_t)x << 1) ^ (uint64_t)(x >> 63);
    size_t n = 0;
    while (z >= 0x80) {
        p[n++] = (uint8_t)(z | 0x80);
        z >>= 7;
    }
    p[n++] = (uint8_t)z;
    out->len += n;
    out->data[out->len] = '\0';
}

static inline void w2k_avro_write_bytes(w2k_buf_t *out, const void *p, size_t n)
{
    w2k_avro_write_long(out, (int64_t)n);
    w2k_buf_append(out, p, n);
}

#endif
