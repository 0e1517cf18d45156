/* pgtypes.c — the PostgreSQL → Avro type mapping: column types to Avro schema text
 * (full JSON and Parsing Canonical Form) and PostgreSQL's text output form of each
 * value to an avro-c generic value. The parsers are hand-written for the hot path:
 * no allocation beyond the caller's scratch buffer, no scanf. schemas/README.md is
 * the user-facing table of this mapping. */
#include "pgtypes.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define W2K_OID_NAME 19
#define W2K_OID_BOX  603 /* its arrays use ';' between elements: mapped as text */

#define W2K_USEC_PER_SEC  INT64_C(1000000)
#define W2K_USEC_PER_MIN  INT64_C(60000000)
#define W2K_USEC_PER_HOUR INT64_C(3600000000)
#define W2K_USEC_PER_DAY  INT64_C(86400000000)

/* Longest piece of a bad value quoted in an error message. */
#define W2K_ERR_QUOTE_MAX 64

/* Branch numbers of a field's union; -1 for a branch the union does not have. */
typedef struct w2k_layout_s {
    int n;
    int null_idx;
    int val_idx;
    int spec_idx; /* wal2kafka.SpecialValue, or wal2kafka.ArrayText for array columns */
    int toast_idx;
} w2k_layout_t;

/* State of one w2k_coltype_set() call. */
typedef struct w2k_setctx_s {
    const w2k_avscalar_t *t;
    bool is_array;  /* the column is an array (for error messages) */
    bool elem;      /* now converting an array element */
    size_t elem_no; /* 1-based element number when elem */
    char *a;        /* scratch: room for a NUL-terminated copy of the whole text */
    char *b;        /* scratch: work area for decimals and bytea, 8-byte aligned */
    char *err;
    size_t errsz;
} w2k_setctx_t;

/* The built-in array types and their element types. */
static const uint32_t w2k_array_oids[][2] = {
    {1000, W2K_OID_BOOL},        {1001, W2K_OID_BYTEA},    {1003, W2K_OID_NAME},
    {1005, W2K_OID_INT2},        {1007, W2K_OID_INT4},     {1009, W2K_OID_TEXT},
    {1014, W2K_OID_BPCHAR},      {1015, W2K_OID_VARCHAR},  {1016, W2K_OID_INT8},
    {1021, W2K_OID_FLOAT4},      {1022, W2K_OID_FLOAT8},   {1028, W2K_OID_OID},
    {1115, W2K_OID_TIMESTAMP},   {1182, W2K_OID_DATE},     {1183, W2K_OID_TIME},
    {1185, W2K_OID_TIMESTAMPTZ}, {1187, W2K_OID_INTERVAL}, {1231, W2K_OID_NUMERIC},
    {1270, W2K_OID_TIMETZ},      {199, W2K_OID_JSON},      {2951, W2K_OID_UUID},
    {3807, W2K_OID_JSONB},
};

/* Element type of a built-in array type, 0 for any other type. */
uint32_t w2k_pgtype_array_elem(uint32_t array_oid)
{
    for (size_t i = 0; i < sizeof w2k_array_oids / sizeof w2k_array_oids[0]; i++)
        if (w2k_array_oids[i][0] == array_oid)
            return w2k_array_oids[i][1];
    return 0;
}

/* Fill t for a scalar type; returns whether values of the type can be TOASTed. */
static bool w2k_scalar_from_pg(w2k_avscalar_t *t, uint32_t oid, int32_t typmod)
{
    memset(t, 0, sizeof *t);
    t->oid = oid;
    switch (oid) {
    case W2K_OID_BOOL:
        t->kind = W2K_AV_BOOLEAN;
        return false;
    case W2K_OID_INT2:
    case W2K_OID_INT4:
        t->kind = W2K_AV_INT;
        return false;
    case W2K_OID_INT8:
    case W2K_OID_OID:
        t->kind = W2K_AV_LONG;
        return false;
    case W2K_OID_FLOAT4:
        t->kind = W2K_AV_FLOAT;
        return false;
    case W2K_OID_FLOAT8:
        t->kind = W2K_AV_DOUBLE;
        return false;
    case W2K_OID_NAME:
    case W2K_OID_TIMETZ:
        t->kind = W2K_AV_STRING;
        return false;
    case W2K_OID_BYTEA:
        t->kind = W2K_AV_BYTES;
        return true;
    case W2K_OID_NUMERIC:
        t->special = true;
        if (typmod >= 4) {
            /* PostgreSQL 15: precision in the high 16 bits, scale a signed 11-bit
             * field in the low bits (negative scales and scale > precision exist). */
            int32_t tm = typmod - 4;
            int p = (tm >> 16) & 0xffff;
            int s = ((tm & 0x7ff) ^ 1024) - 1024;
            if (p >= 1) {
                t->kind = W2K_AV_DECIMAL;
                if (s < 0) { /* Avro scale cannot be negative: whole numbers, p - s digits */
                    t->precision = p - s;
                    t->scale = 0;
                } else if (s > p) { /* Avro needs scale <= precision */
                    t->precision = s;
                    t->scale = s;
                } else {
                    t->precision = p;
                    t->scale = s;
                }
                return true;
            }
        }
        t->kind = W2K_AV_VARDECIMAL;
        return true;
    case W2K_OID_DATE:
        t->kind = W2K_AV_DATE;
        t->special = true;
        return false;
    case W2K_OID_TIME:
        t->kind = W2K_AV_TIME_MICROS;
        t->special = true; /* 24:00:00 */
        return false;
    case W2K_OID_TIMESTAMP:
        t->kind = W2K_AV_LOCAL_TIMESTAMP_MICROS;
        t->special = true;
        return false;
    case W2K_OID_TIMESTAMPTZ:
        t->kind = W2K_AV_TIMESTAMP_MICROS;
        t->special = true;
        return false;
    case W2K_OID_INTERVAL:
        t->kind = W2K_AV_INTERVAL;
        return false;
    case W2K_OID_UUID:
        t->kind = W2K_AV_UUID;
        return false;
    default: /* text, varchar, bpchar, json, jsonb, enums, and every unmapped type */
        t->kind = W2K_AV_STRING;
        return true;
    }
}

/* Map a column type (see pgtypes.h); box[] stays text since its elements are split by ';'. */
void w2k_coltype_from_pg(w2k_coltype_t *ct, uint32_t oid, int32_t typmod, uint32_t elem_oid)
{
    memset(ct, 0, sizeof *ct);
    uint32_t elem = w2k_pgtype_array_elem(oid);
    if (elem == 0)
        elem = elem_oid;
    if (elem != 0 && elem != W2K_OID_BOX) {
        w2k_scalar_from_pg(&ct->t, elem, typmod);
        ct->is_array = true;
        ct->varlena = true;
        return;
    }
    if (elem == W2K_OID_BOX) {
        w2k_scalar_from_pg(&ct->t, oid, -1); /* unmapped: its text form */
        ct->varlena = true;
        return;
    }
    ct->varlena = w2k_scalar_from_pg(&ct->t, oid, typmod);
}

/* Apply representation options (see pgtypes.h). */
void w2k_coltype_apply_opts(w2k_coltype_t *ct, const w2k_typeopts_t *opts)
{
    if (!opts)
        return;
    w2k_avscalar_t *t = &ct->t;
    if ((t->kind == W2K_AV_DECIMAL || t->kind == W2K_AV_VARDECIMAL) &&
        opts->decimal != W2K_DECIMAL_PRECISE) {
        /* double holds NaN and the infinities; the text holds everything */
        t->kind = opts->decimal == W2K_DECIMAL_DOUBLE ? W2K_AV_DOUBLE : W2K_AV_STRING;
        t->special = false;
        t->precision = t->scale = 0;
    }
    if (opts->time == W2K_TIME_MILLIS) {
        if (t->kind == W2K_AV_TIME_MICROS)
            t->kind = W2K_AV_TIME_MILLIS;
        else if (t->kind == W2K_AV_TIMESTAMP_MICROS)
            t->kind = W2K_AV_TIMESTAMP_MILLIS;
        else if (t->kind == W2K_AV_LOCAL_TIMESTAMP_MICROS)
            t->kind = W2K_AV_LOCAL_TIMESTAMP_MILLIS;
    }
    ct->special_null = opts->special == W2K_SPECIAL_NULL;
}

/* Whether array items have a SpecialValue branch. */
static bool w2k_items_special(const w2k_coltype_t *ct)
{
    return ct->t.special && !ct->special_null;
}

/* The union branches of a field: null, value, SpecialValue or ArrayText,
 * UnchangedToast, as present. */
static w2k_layout_t w2k_layout(const w2k_coltype_t *ct, int flags)
{
    w2k_layout_t l = {0, -1, -1, -1, -1};
    if (flags & W2K_FIELD_NULLABLE)
        l.null_idx = l.n++;
    l.val_idx = l.n++;
    if ((ct->t.special || ct->is_array) && !(ct->special_null && l.null_idx >= 0))
        l.spec_idx = l.n++;
    if (flags & W2K_FIELD_TOAST)
        l.toast_idx = l.n++;
    return l;
}

/* ---- schema text ---- */

/* Write a named type's definition at its first use, its full name afterwards. */
static bool w2k_first_use(unsigned *defined, unsigned bit)
{
    if (!defined)
        return true;
    if (*defined & bit)
        return false;
    *defined |= bit;
    return true;
}

/* A primitive with a logical type: the object in full form, the bare primitive in
 * canonical form ([STRIP] drops logicalType). */
static void w2k_put_logical(w2k_buf_t *out, bool canonical, const char *type, const char *logical)
{
    if (canonical)
        w2k_buf_printf(out, "\"%s\"", type);
    else
        w2k_buf_printf(out, "{\"type\":\"%s\",\"logicalType\":\"%s\"}", type, logical);
}

/* The schema of one scalar type (a field's value type or an array's element type). */
static void w2k_put_scalar(const w2k_avscalar_t *t, bool canonical, unsigned *defined,
                           w2k_buf_t *out)
{
    switch (t->kind) {
    case W2K_AV_BOOLEAN:
        w2k_buf_puts(out, "\"boolean\"");
        break;
    case W2K_AV_INT:
        w2k_buf_puts(out, "\"int\"");
        break;
    case W2K_AV_LONG:
        w2k_buf_puts(out, "\"long\"");
        break;
    case W2K_AV_FLOAT:
        w2k_buf_puts(out, "\"float\"");
        break;
    case W2K_AV_DOUBLE:
        w2k_buf_puts(out, "\"double\"");
        break;
    case W2K_AV_STRING:
        w2k_buf_puts(out, "\"string\"");
        break;
    case W2K_AV_BYTES:
        w2k_buf_puts(out, "\"bytes\"");
        break;
    case W2K_AV_DECIMAL:
        if (canonical)
            w2k_buf_puts(out, "\"bytes\"");
        else
            w2k_buf_printf(out,
                           "{\"type\":\"bytes\",\"logicalType\":\"decimal\",\"precision\":%d,"
                           "\"scale\":%d}",
                           t->precision, t->scale);
        break;
    case W2K_AV_VARDECIMAL:
        if (!w2k_first_use(defined, W2K_NAMED_VARDECIMAL))
            w2k_buf_puts(out, "\"wal2kafka.VariableScaleDecimal\"");
        else if (canonical)
            w2k_buf_puts(out, "{\"name\":\"wal2kafka.VariableScaleDecimal\",\"type\":\"record\","
                              "\"fields\":[{\"name\":\"scale\",\"type\":\"int\"},"
                              "{\"name\":\"value\",\"type\":\"bytes\"}]}");
        else
            w2k_buf_puts(out, "{\"type\":\"record\",\"name\":\"VariableScaleDecimal\","
                              "\"namespace\":\"wal2kafka\","
                              "\"fields\":[{\"name\":\"scale\",\"type\":\"int\"},"
                              "{\"name\":\"value\",\"type\":\"bytes\"}]}");
        break;
    case W2K_AV_DATE:
        w2k_put_logical(out, canonical, "int", "date");
        break;
    case W2K_AV_TIME_MICROS:
        w2k_put_logical(out, canonical, "long", "time-micros");
        break;
    case W2K_AV_TIMESTAMP_MICROS:
        w2k_put_logical(out, canonical, "long", "timestamp-micros");
        break;
    case W2K_AV_LOCAL_TIMESTAMP_MICROS:
        w2k_put_logical(out, canonical, "long", "local-timestamp-micros");
        break;
    case W2K_AV_TIME_MILLIS:
        w2k_put_logical(out, canonical, "int", "time-millis");
        break;
    case W2K_AV_TIMESTAMP_MILLIS:
        w2k_put_logical(out, canonical, "long", "timestamp-millis");
        break;
    case W2K_AV_LOCAL_TIMESTAMP_MILLIS:
        w2k_put_logical(out, canonical, "long", "local-timestamp-millis");
        break;
    case W2K_AV_UUID:
        w2k_put_logical(out, canonical, "string", "uuid");
        break;
    case W2K_AV_INTERVAL:
        if (!w2k_first_use(defined, W2K_NAMED_INTERVAL))
            w2k_buf_puts(out, "\"wal2kafka.Interval\"");
        else if (canonical)
            w2k_buf_puts(out, "{\"name\":\"wal2kafka.Interval\",\"type\":\"record\","
                              "\"fields\":[{\"name\":\"months\",\"type\":\"int\"},"
                              "{\"name\":\"days\",\"type\":\"int\"},"
                              "{\"name\":\"micros\",\"type\":\"long\"}]}");
        else
            w2k_buf_puts(out, "{\"type\":\"record\",\"name\":\"Interval\","
                              "\"namespace\":\"wal2kafka\","
                              "\"fields\":[{\"name\":\"months\",\"type\":\"int\"},"
                              "{\"name\":\"days\",\"type\":\"int\"},"
                              "{\"name\":\"micros\",\"type\":\"long\"}]}");
        break;
    }
}

/* The wal2kafka.SpecialValue enum: a named type, so no schema-resolution rule turns
 * it into the value branch (as one would turn a "string" into "bytes"). */
static void w2k_put_special(bool canonical, unsigned *defined, w2k_buf_t *out)
{
    if (!w2k_first_use(defined, W2K_NAMED_SPECIALVALUE))
        w2k_buf_puts(out, "\"wal2kafka.SpecialValue\"");
    else if (canonical)
        w2k_buf_puts(out, "{\"name\":\"wal2kafka.SpecialValue\",\"type\":\"enum\","
                          "\"symbols\":" W2K_SPECIAL_SYMBOLS "}");
    else
        w2k_buf_puts(out, "{\"type\":\"enum\",\"name\":\"SpecialValue\","
                          "\"namespace\":\"wal2kafka\",\"symbols\":" W2K_SPECIAL_SYMBOLS "}");
}

/* The wal2kafka.ArrayText record: an array that is not one-dimensional with lower
 * bound 1, as PostgreSQL's text. */
static void w2k_put_arraytext(bool canonical, unsigned *defined, w2k_buf_t *out)
{
    if (!w2k_first_use(defined, W2K_NAMED_ARRAYTEXT))
        w2k_buf_puts(out, "\"wal2kafka.ArrayText\"");
    else if (canonical)
        w2k_buf_puts(out, "{\"name\":\"wal2kafka.ArrayText\",\"type\":\"record\","
                          "\"fields\":[{\"name\":\"text\",\"type\":\"string\"}]}");
    else
        w2k_buf_puts(out, "{\"type\":\"record\",\"name\":\"ArrayText\","
                          "\"namespace\":\"wal2kafka\","
                          "\"fields\":[{\"name\":\"text\",\"type\":\"string\"}]}");
}

/* Write a field's schema (see pgtypes.h); defined NULL defines named types at every use. */
void w2k_coltype_schema(const w2k_coltype_t *ct, int flags, bool canonical, unsigned *defined,
                        w2k_buf_t *out)
{
    w2k_layout_t l = w2k_layout(ct, flags);
    if (l.n > 1)
        w2k_buf_putc(out, '[');
    if (l.null_idx >= 0)
        w2k_buf_puts(out, "\"null\",");
    if (ct->is_array) {
        w2k_buf_puts(out, "{\"type\":\"array\",\"items\":[\"null\",");
        w2k_put_scalar(&ct->t, canonical, defined, out);
        if (w2k_items_special(ct)) {
            w2k_buf_putc(out, ',');
            w2k_put_special(canonical, defined, out);
        }
        w2k_buf_puts(out, "]}");
    } else {
        w2k_put_scalar(&ct->t, canonical, defined, out);
    }
    if (l.spec_idx >= 0) {
        w2k_buf_putc(out, ',');
        if (ct->is_array)
            w2k_put_arraytext(canonical, defined, out);
        else
            w2k_put_special(canonical, defined, out);
    }
    if (l.toast_idx >= 0) {
        if (!w2k_first_use(defined, W2K_NAMED_UNCHANGEDTOAST))
            w2k_buf_puts(out, ",\"wal2kafka.UnchangedToast\"");
        else if (canonical)
            w2k_buf_puts(out, ",{\"name\":\"wal2kafka.UnchangedToast\",\"type\":\"enum\","
                              "\"symbols\":[\"UNCHANGED_TOAST\"]}");
        else
            w2k_buf_puts(out, ",{\"type\":\"enum\",\"name\":\"UnchangedToast\","
                              "\"namespace\":\"wal2kafka\",\"symbols\":[\"UNCHANGED_TOAST\"]}");
    }
    if (l.n > 1)
        w2k_buf_putc(out, ']');
}

/* ---- errors ---- */

/* The SQL name of a type for error messages; NULL when not one of ours. */
static const char *w2k_pgtype_name(uint32_t oid)
{
    switch (oid) {
    case W2K_OID_BOOL:
        return "boolean";
    case W2K_OID_BYTEA:
        return "bytea";
    case W2K_OID_NAME:
        return "name";
    case W2K_OID_INT8:
        return "bigint";
    case W2K_OID_INT2:
        return "smallint";
    case W2K_OID_INT4:
        return "integer";
    case W2K_OID_TEXT:
        return "text";
    case W2K_OID_OID:
        return "oid";
    case W2K_OID_JSON:
        return "json";
    case W2K_OID_FLOAT4:
        return "real";
    case W2K_OID_FLOAT8:
        return "double precision";
    case W2K_OID_BPCHAR:
        return "character";
    case W2K_OID_VARCHAR:
        return "character varying";
    case W2K_OID_DATE:
        return "date";
    case W2K_OID_TIME:
        return "time";
    case W2K_OID_TIMESTAMP:
        return "timestamp";
    case W2K_OID_TIMESTAMPTZ:
        return "timestamptz";
    case W2K_OID_INTERVAL:
        return "interval";
    case W2K_OID_TIMETZ:
        return "timetz";
    case W2K_OID_NUMERIC:
        return "numeric";
    case W2K_OID_UUID:
        return "uuid";
    case W2K_OID_JSONB:
        return "jsonb";
    default:
        return NULL;
    }
}

/* Write "<type>[[] element n]: <what> \"<text>\"[: <why>]" to the error buffer; s NULL:
 * no quoted text. Returns -1. */
static int w2k_fail(const w2k_setctx_t *c, const char *s, size_t n, const char *what,
                    const char *why)
{
    if (!c->err || c->errsz == 0)
        return -1;
    char tname[48];
    const char *name = w2k_pgtype_name(c->t->oid);
    if (c->t->kind == W2K_AV_DECIMAL)
        snprintf(tname, sizeof tname, "numeric (Avro decimal(%d,%d))", c->t->precision,
                 c->t->scale);
    else if (name)
        snprintf(tname, sizeof tname, "%s", name);
    else
        snprintf(tname, sizeof tname, "type %u", (unsigned)c->t->oid);
    char q[W2K_ERR_QUOTE_MAX + 8] = "";
    if (s) {
        q[0] = ' ';
        q[1] = '"';
        size_t qn = n > W2K_ERR_QUOTE_MAX ? W2K_ERR_QUOTE_MAX : n;
        for (size_t i = 0; i < qn; i++) {
            unsigned char ch = (unsigned char)s[i];
            q[2 + i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
        }
        memcpy(q + 2 + qn, qn < n ? "...\"" : "\"", qn < n ? 5 : 2);
    }
    char elem[40] = "";
    if (c->elem)
        snprintf(elem, sizeof elem, " element %zu", c->elem_no);
    snprintf(c->err, c->errsz, "%s%s%s: %s%s%s%s", tname, c->is_array ? "[]" : "", elem, what, q,
             why ? ": " : "", why ? why : "");
    return -1;
}

/* A value whose text could not be converted. */
static int w2k_bad(const w2k_setctx_t *c, const char *s, size_t n, const char *why)
{
    return w2k_fail(c, s, n, "cannot convert", why);
}

/* An avro-c call failed (a schema and value that do not match). */
static int w2k_avro_fail(const w2k_setctx_t *c, const char *s, size_t n)
{
    return w2k_fail(c, s, n, "avro-c refused the value", avro_strerror());
}

/* ---- small parsers: each returns 0 on success, -1 with *why set ---- */

static inline bool w2k_isdigit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* Parse an optional '-' and 1..19 digits into [min, max]. */
static int w2k_parse_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out,
                         const char **why)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && s[0] == '-') {
        neg = true;
        i = 1;
    }
    if (i == n || n - i > 19) {
        *why = n - i > 19 ? "out of range" : "not an integer";
        return -1;
    }
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!w2k_isdigit(s[i])) {
            *why = "not an integer";
            return -1;
        }
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits fit in uint64 */
    }
    if (neg ? v > (uint64_t)0 - (uint64_t)min : v > (uint64_t)max) {
        *why = "out of range";
        return -1;
    }
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return 0;
}

/* Parse exactly k digits at s (caller checked the length). */
static bool w2k_digits(const char *s, int k, int *out)
{
    int v = 0;
    for (int i = 0; i < k; i++) {
        if (!w2k_isdigit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

/* Leap year of the proleptic Gregorian calendar, y astronomical. */
static bool w2k_is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Days from 1970-01-01 to y-m-d of the proleptic Gregorian calendar, y astronomical
 * (1 BC = year 0), as PostgreSQL counts them. */
int64_t w2k_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* Parse "YYYY-MM-DD" (4 to 9 year digits) at s; returns the bytes read (0 on error).
 * The year is left as printed (BC is the caller's business). */
static size_t w2k_parse_ymd(const char *s, size_t n, int64_t *y, int *m, int *d)
{
    size_t i = 0;
    int64_t yy = 0;
    while (i < n && i < 10 && w2k_isdigit(s[i]))
        yy = yy * 10 + (s[i++] - '0');
    if (i < 4 || i > 9 || n - i < 6 || s[i] != '-' || s[i + 3] != '-')
        return 0;
    if (!w2k_digits(s + i + 1, 2, m) || !w2k_digits(s + i + 4, 2, d))
        return 0;
    *y = yy;
    return i + 6;
}

/* Apply the era and check the calendar; *days = days since 1970-01-01. */
static int w2k_civil_days(int64_t y, int m, int d, bool bc, int64_t *days, const char **why)
{
    if (y == 0) {
        *why = "year 0 does not exist";
        return -1;
    }
    if (bc)
        y = 1 - y;
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && w2k_is_leap(y))) {
        *why = "no such date";
        return -1;
    }
    *days = w2k_days_from_civil(y, m, d);
    return 0;
}

/* Parse "HH:MM:SS[.f]" (1 to 6 fraction digits) at s into microseconds since midnight;
 * returns the bytes read (0 on error). allow24: "24:00:00" is accepted (type time). */
static size_t w2k_parse_hms(const char *s, size_t n, bool allow24, int64_t *us)
{
    int h, mi, se;
    if (n < 8 || s[2] != ':' || s[5] != ':' || !w2k_digits(s, 2, &h) ||
        !w2k_digits(s + 3, 2, &mi) || !w2k_digits(s + 6, 2, &se))
        return 0;
    size_t i = 8;
    int64_t frac = 0;
    if (i < n && s[i] == '.') {
        size_t k = 0;
        i++;
        while (i < n && w2k_isdigit(s[i]) && k < 6) {
            frac = frac * 10 + (s[i++] - '0');
            k++;
        }
        if (k == 0 || (i < n && w2k_isdigit(s[i])))
            return 0;
        for (; k < 6; k++)
            frac *= 10;
    }
    if (mi > 59 || se > 59)
        return 0;
    if (h > 23 && !(allow24 && h == 24 && mi == 0 && se == 0 && frac == 0))
        return 0;
    *us = h * W2K_USEC_PER_HOUR + mi * W2K_USEC_PER_MIN + se * W2K_USEC_PER_SEC + frac;
    return i;
}

/* Whether the rest of the text is the era suffix " BC". */
static bool w2k_is_bc(const char *s, size_t n)
{
    return n == 3 && s[0] == ' ' && s[1] == 'B' && s[2] == 'C';
}

/* date: "YYYY-MM-DD[ BC]" to days since 1970-01-01. */
static int w2k_parse_date(const char *s, size_t n, int32_t *out, const char **why)
{
    int64_t y, days;
    int m, d;
    size_t i = w2k_parse_ymd(s, n, &y, &m, &d);
    bool bc = i > 0 && w2k_is_bc(s + i, n - i);
    if (i == 0 || (i != n && !bc)) {
        *why = "not an ISO date";
        return -1;
    }
    if (w2k_civil_days(y, m, d, bc, &days, why) != 0)
        return -1;
    if (days < INT32_MIN || days > INT32_MAX) {
        *why = "out of range for an Avro date (int days since 1970-01-01)";
        return -1;
    }
    *out = (int32_t)days;
    return 0;
}

/* time: "HH:MM:SS[.f]" to microseconds since midnight; 24:00:00 is valid. */
static int w2k_parse_time(const char *s, size_t n, int64_t *out, const char **why)
{
    if (w2k_parse_hms(s, n, true, out) != n) {
        *why = "not a time of day HH:MM:SS[.ffffff]";
        return -1;
    }
    return 0;
}

/* The parts of "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]][ BC]"; with_tz says whether the
 * offset must be there (timestamptz) or must not (timestamp). *days: since 1970-01-01;
 * *tod: microseconds since midnight; *off: the UTC offset in microseconds (0 without). */
static int w2k_timestamp_parts(const char *s, size_t n, bool with_tz, int64_t *days, int64_t *tod,
                               int64_t *off, const char **why)
{
    int64_t y;
    int m, d;
    *off = 0;
    *why = with_tz ? "not an ISO timestamp with time zone" : "not an ISO timestamp";
    size_t i = w2k_parse_ymd(s, n, &y, &m, &d);
    if (i == 0 || i >= n || s[i] != ' ')
        return -1;
    i++;
    size_t k = w2k_parse_hms(s + i, n - i, false, tod);
    if (k == 0)
        return -1;
    i += k;
    if (with_tz) {
        int oh, om = 0, os = 0;
        if (i + 3 > n || (s[i] != '+' && s[i] != '-') || !w2k_digits(s + i + 1, 2, &oh))
            return -1;
        bool neg = s[i] == '-';
        i += 3;
        if (i + 3 <= n && s[i] == ':') {
            if (!w2k_digits(s + i + 1, 2, &om))
                return -1;
            i += 3;
            if (i + 3 <= n && s[i] == ':') {
                if (!w2k_digits(s + i + 1, 2, &os))
                    return -1;
                i += 3;
            }
        }
        if (om > 59 || os > 59)
            return -1;
        *off = (oh * INT64_C(3600) + om * 60 + os) * W2K_USEC_PER_SEC;
        if (neg)
            *off = -*off;
    }
    bool bc = w2k_is_bc(s + i, n - i);
    if (i != n && !bc)
        return -1;
    return w2k_civil_days(y, m, d, bc, days, why);
}

/* "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]][ BC]"; with_tz says whether the offset
 * must be there (timestamptz) or must not (timestamp). Microseconds since
 * 1970-01-01 00:00:00 (UTC for timestamptz). */
static int w2k_parse_timestamp(const char *s, size_t n, bool with_tz, int64_t *out,
                               const char **why)
{
    int64_t days, tod, off;
    if (w2k_timestamp_parts(s, n, with_tz, &days, &tod, &off, why) != 0)
        return -1;
    int64_t v;
    if (__builtin_mul_overflow(days, W2K_USEC_PER_DAY, &v) || __builtin_add_overflow(v, tod, &v) ||
        __builtin_sub_overflow(v, off, &v)) {
        *why = "out of range for an Avro long of microseconds since 1970";
        return -1;
    }
    *out = v;
    return 0;
}

/* IntervalStyle iso_8601 as PostgreSQL prints it: "P[nY][nM][nD][T[nH][nM][n[.f]S]]",
 * every number with its own sign, "PT0S" for zero. */
static int w2k_parse_interval(const char *s, size_t n, int32_t *months, int32_t *days,
                              int64_t *micros, const char **why)
{
    static const char date_units[] = "YMD", time_units[] = "HMS";
    int64_t mo = 0, dd = 0, us = 0;
    size_t i = 1;
    bool in_time = false, any = false;
    int next_unit = 0; /* index into the current unit list: units come in order */
    *why = "not an ISO 8601 interval";
    if (n < 3 || s[0] != 'P')
        return -1;
    while (i < n) {
        if (s[i] == 'T') {
            if (in_time)
                return -1;
            in_time = true;
            next_unit = 0;
            i++;
            continue;
        }
        bool neg = false;
        if (s[i] == '-') {
            neg = true;
            i++;
        }
        size_t start = i;
        int64_t v = 0, frac = 0;
        while (i < n && w2k_isdigit(s[i]) && i - start < 18)
            v = v * 10 + (s[i++] - '0');
        if (i == start || (i < n && w2k_isdigit(s[i])))
            return -1;
        bool has_frac = false;
        if (i < n && s[i] == '.') {
            size_t k = 0;
            has_frac = true;
            i++;
            while (i < n && w2k_isdigit(s[i]) && k < 6) {
                frac = frac * 10 + (s[i++] - '0');
                k++;
            }
            if (k == 0 || (i < n && w2k_isdigit(s[i])))
                return -1;
            for (; k < 6; k++)
                frac *= 10;
        }
        if (i >= n)
            return -1;
        const char *units = in_time ? time_units : date_units;
        const char *u = memchr(units + next_unit, s[i], (size_t)(3 - next_unit));
        if (!u || (has_frac && *u != 'S'))
            return -1;
        next_unit = (int)(u - units) + 1;
        i++;
        any = true;
        int64_t add;
        bool ovf = false;
        switch (in_time ? 3 + (u - units) : (u - units)) {
        case 0: /* years */
            ovf = __builtin_mul_overflow(v, 12, &add) ||
                  __builtin_add_overflow(mo, neg ? -add : add, &mo);
            break;
        case 1: /* months */
            ovf = __builtin_add_overflow(mo, neg ? -v : v, &mo);
            break;
        case 2: /* days */
            ovf = __builtin_add_overflow(dd, neg ? -v : v, &dd);
            break;
        case 3: /* hours */
            ovf = __builtin_mul_overflow(v, W2K_USEC_PER_HOUR, &add) ||
                  __builtin_add_overflow(us, neg ? -add : add, &us);
            break;
        case 4: /* minutes */
            ovf = __builtin_mul_overflow(v, W2K_USEC_PER_MIN, &add) ||
                  __builtin_add_overflow(us, neg ? -add : add, &us);
            break;
        default: /* seconds */
            ovf = __builtin_mul_overflow(v, W2K_USEC_PER_SEC, &add) ||
                  __builtin_add_overflow(add, frac, &add) ||
                  __builtin_add_overflow(us, neg ? -add : add, &us);
            break;
        }
        if (ovf || mo < INT32_MIN || mo > INT32_MAX || dd < INT32_MIN || dd > INT32_MAX) {
            *why = "out of range (months and days must fit an int, microseconds a long)";
            return -1;
        }
    }
    if (!any || (in_time && next_unit == 0))
        return -1;
    *months = (int32_t)mo;
    *days = (int32_t)dd;
    *micros = us;
    return 0;
}

/* Floats: PostgreSQL prints the shortest text that reads back exactly (or NaN,
 * Infinity, -Infinity), which strtod/strtof in the C locale read exactly. */
static int w2k_parse_double(const char *s, size_t n, bool single, double *d, float *f,
                            const char **why)
{
    char tmp[64];
    *why = "not a floating-point number";
    if (n == 0 || n >= sizeof tmp ||
        !(w2k_isdigit(s[0]) || s[0] == '-' || s[0] == 'N' || s[0] == 'I' || s[0] == '.'))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == 'x' || s[i] == 'X' || s[i] == ' ')
            return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    if (single)
        *f = strtof(tmp, &end);
    else
        *d = strtod(tmp, &end);
    if (end != tmp + n)
        return -1;
    return 0;
}

/* ---- numeric ---- */

/* The parts of a numeric's text "[-]digits[.digits]". */
typedef struct w2k_numtext_s {
    bool neg;
    const char *ip; /* integer digits */
    size_t il;
    const char *fp; /* fraction digits */
    size_t fl;
} w2k_numtext_t;

/* Split a numeric's text; -1 unless it is "[-]digits[.digits]" with a digit. */
static int w2k_numeric_split(const char *s, size_t n, w2k_numtext_t *nt)
{
    size_t i = 0;
    nt->neg = n > 0 && s[0] == '-';
    i = nt->neg;
    nt->ip = s + i;
    while (i < n && w2k_isdigit(s[i]))
        i++;
    nt->il = (size_t)(s + i - nt->ip);
    nt->fp = s + i;
    nt->fl = 0;
    if (i < n && s[i] == '.') {
        i++;
        nt->fp = s + i;
        while (i < n && w2k_isdigit(s[i]))
            i++;
        nt->fl = (size_t)(s + i - nt->fp);
    }
    if (i != n || nt->il + nt->fl == 0)
        return -1;
    return 0;
}

/* limb[0..nl) = limb * mul + add, little-endian 32-bit limbs. */
static inline void w2k_limbs_muladd(uint32_t *limb, size_t *nl, uint32_t mul, uint32_t add)
{
    uint64_t carry = add;
    for (size_t i = 0; i < *nl; i++) {
        uint64_t t = (uint64_t)limb[i] * mul + carry;
        limb[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry)
        limb[(*nl)++] = (uint32_t)carry;
}

/* Minimal two's-complement big-endian form of the nb bytes at o: drop leading bytes
 * that only repeat the sign. Returns the new start. */
static size_t w2k_twos_trim(const uint8_t *o, size_t nb)
{
    size_t st = 0;
    while (st + 1 < nb &&
           ((o[st] == 0x00 && !(o[st + 1] & 0x80)) || (o[st] == 0xff && (o[st + 1] & 0x80))))
        st++;
    return st;
}

/* Bytes needed in the work area for a number of up to ndigits digits. */
static size_t w2k_decimal_work(size_t ndigits)
{
    size_t limbs = ndigits / 9 + 3;
    return limbs * 4 + limbs * 4 + 16;
}

/* The unscaled value of nt (its integer digits, fl of its fraction digits, then pad
 * zeros) as minimal two's-complement big-endian bytes. maxdigits >= 0: more
 * significant digits than that is an error. work: w2k_decimal_work(il + fl + pad)
 * bytes, 8-byte aligned. */
static int w2k_decimal_bytes(const w2k_numtext_t *nt, size_t fl, size_t pad, long maxdigits,
                             char *work, const uint8_t **out, size_t *outlen, uint8_t small[9],
                             const char **why)
{
    const char *seg[2] = {nt->ip, nt->fp};
    size_t segl[2] = {nt->il, fl};
    size_t total = nt->il + fl + pad, lead = 0;
    for (int k = 0; k < 2 && lead == (k ? nt->il : 0); k++)
        for (size_t i = 0; i < segl[k] && seg[k][i] == '0'; i++)
            lead++;
    if (lead == nt->il + fl)
        lead = total; /* the value is zero */
    size_t nd = total - lead;
    if (maxdigits >= 0 && nd > (size_t)maxdigits) {
        *why = "more significant digits than the precision";
        return -1;
    }
    if (nd <= 18) {
        uint64_t v = 0;
        for (int k = 0; k < 2; k++)
            for (size_t i = 0; i < segl[k]; i++)
                v = v * 10 + (uint64_t)(seg[k][i] - '0');
        for (size_t i = 0; i < pad; i++)
            v *= 10;
        int64_t sv = nt->neg ? -(int64_t)v : (int64_t)v;
        for (int i = 0; i < 8; i++)
            small[7 - i] = (uint8_t)((uint64_t)sv >> (8 * i));
        size_t st = w2k_twos_trim(small, 8);
        *out = small + st;
        *outlen = 8 - st;
        return 0;
    }
    static const uint32_t pow10[10] = {1,      10,      100,      1000,      10000,
                                       100000, 1000000, 10000000, 100000000, 1000000000};
    uint32_t *limb = (uint32_t *)(void *)work;
    size_t nl = 0, maxl = total / 9 + 3;
    uint32_t chunk = 0;
    int ck = 0;
    for (int k = 0; k < 2; k++) {
        for (size_t i = 0; i < segl[k]; i++) {
            chunk = chunk * 10 + (uint32_t)(seg[k][i] - '0');
            if (++ck == 9) {
                w2k_limbs_muladd(limb, &nl, 1000000000u, chunk);
                chunk = 0;
                ck = 0;
            }
        }
    }
    for (size_t i = 0; i < pad; i++) {
        chunk *= 10;
        if (++ck == 9) {
            w2k_limbs_muladd(limb, &nl, 1000000000u, chunk);
            chunk = 0;
            ck = 0;
        }
    }
    if (ck)
        w2k_limbs_muladd(limb, &nl, pow10[ck], chunk);
    uint8_t *o = (uint8_t *)(work + maxl * 4);
    size_t nb = nl * 4 + 1;
    o[0] = 0;
    for (size_t i = 0; i < nl; i++) {
        uint32_t w = limb[nl - 1 - i];
        o[1 + 4 * i] = (uint8_t)(w >> 24);
        o[2 + 4 * i] = (uint8_t)(w >> 16);
        o[3 + 4 * i] = (uint8_t)(w >> 8);
        o[4 + 4 * i] = (uint8_t)w;
    }
    if (nt->neg) {
        unsigned carry = 1;
        for (size_t i = nb; i-- > 0;) {
            unsigned t = (uint8_t)~o[i] + carry;
            o[i] = (uint8_t)t;
            carry = t >> 8;
        }
    }
    size_t st = w2k_twos_trim(o, nb);
    *out = o + st;
    *outlen = nb - st;
    return 0;
}

/* ---- setting values ---- */

/* Where a value goes: an avro-c value (v), or Avro binary appended to out. The same
 * conversion code serves both, so they cannot disagree. */
typedef struct w2k_target_s {
    avro_value_t v;
    w2k_buf_t *out; /* NULL: the avro-c value */
} w2k_target_t;

static int w2k_t_long(w2k_target_t *t, int64_t x)
{
    if (!t->out)
        return avro_value_set_long(&t->v, x);
    w2k_avro_write_long(t->out, x);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_int(w2k_target_t *t, int32_t x)
{
    if (!t->out)
        return avro_value_set_int(&t->v, x);
    w2k_avro_write_long(t->out, x);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_boolean(w2k_target_t *t, bool x)
{
    if (!t->out)
        return avro_value_set_boolean(&t->v, x);
    w2k_buf_putc(t->out, x ? 1 : 0);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_float(w2k_target_t *t, float x)
{
    if (!t->out)
        return avro_value_set_float(&t->v, x);
    w2k_buf_append(t->out, &x, 4); /* little-endian on every machine we build for */
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_double(w2k_target_t *t, double x)
{
    if (!t->out)
        return avro_value_set_double(&t->v, x);
    w2k_buf_append(t->out, &x, 8);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_bytes(w2k_target_t *t, const void *p, size_t n)
{
    if (!t->out)
        return avro_value_set_bytes(&t->v, (void *)p, n);
    w2k_avro_write_bytes(t->out, p, n);
    return t->out->oom ? ENOMEM : 0;
}

/* A string from n bytes at s; avro-c wants it NUL-terminated at s[n] (the caller's
 * copy has room for that). */
static int w2k_t_string(w2k_target_t *t, char *s, size_t n)
{
    if (!t->out) {
        s[n] = '\0';
        return avro_value_set_string_len(&t->v, s, n + 1);
    }
    w2k_avro_write_bytes(t->out, s, n);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_enum(w2k_target_t *t, int symbol)
{
    if (!t->out)
        return avro_value_set_enum(&t->v, symbol);
    w2k_avro_write_long(t->out, symbol);
    return t->out->oom ? ENOMEM : 0;
}

static int w2k_t_null(w2k_target_t *t)
{
    return t->out ? 0 : avro_value_set_null(&t->v);
}

/* Select branch idx of a union (or the value itself when there is no union): child
 * receives the target of the branch's value. */
static int w2k_t_branch(w2k_target_t *t, int nbranches, int idx, w2k_target_t *child)
{
    if (nbranches == 1) {
        *child = *t;
        return 0;
    }
    child->out = t->out;
    if (t->out) {
        w2k_avro_write_long(t->out, idx);
        return t->out->oom ? ENOMEM : 0;
    }
    return avro_value_set_branch(&t->v, idx, &child->v);
}

/* Field i of a record: in binary the fields simply follow each other in order. */
static int w2k_t_field(w2k_target_t *t, int i, w2k_target_t *child)
{
    child->out = t->out;
    return t->out ? 0 : avro_value_get_by_index(&t->v, (size_t)i, &child->v, NULL);
}

/* Set a string value from len bytes (for avro-c copied through scratch a, which has
 * room for the NUL it wants; binary needs no copy). */
static int w2k_set_string(const w2k_setctx_t *c, w2k_target_t *v, const char *s, size_t n)
{
    if (v->out) {
        w2k_avro_write_bytes(v->out, s, n);
        return v->out->oom ? w2k_avro_fail(c, s, n) : 0;
    }
    if (s != c->a)
        memcpy(c->a, s, n);
    if (w2k_t_string(v, c->a, n) != 0)
        return w2k_avro_fail(c, s, n);
    return 0;
}

/* Value of a hex digit, -1 for any other character. */
static int w2k_hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* numeric(p,s) → unscaled bytes at scale s; numeric → VariableScaleDecimal with
 * the text's own scale. */
static int w2k_set_decimal(const w2k_setctx_t *c, w2k_target_t *v, const char *s, size_t n)
{
    w2k_numtext_t nt;
    const char *why = NULL;
    if (w2k_numeric_split(s, n, &nt) != 0)
        return w2k_bad(c, s, n, "not a numeric");
    const uint8_t *bytes;
    size_t blen;
    uint8_t small[9];
    if (c->t->kind == W2K_AV_DECIMAL) {
        size_t scale = (size_t)c->t->scale, fl = nt.fl;
        for (; fl > scale; fl--)
            if (nt.fp[fl - 1] != '0')
                return w2k_bad(c, s, n, "more fraction digits than the scale");
        if (w2k_decimal_bytes(&nt, fl, scale - fl, c->t->precision, c->b, &bytes, &blen, small,
                              &why) != 0)
            return w2k_bad(c, s, n, why);
        if (w2k_t_bytes(v, bytes, blen) != 0)
            return w2k_avro_fail(c, s, n);
        return 0;
    }
    if (nt.fl > INT32_MAX)
        return w2k_bad(c, s, n, "scale out of range");
    w2k_target_t f;
    if (w2k_decimal_bytes(&nt, nt.fl, 0, -1, c->b, &bytes, &blen, small, &why) != 0)
        return w2k_bad(c, s, n, why);
    if (w2k_t_field(v, 0, &f) != 0 || w2k_t_int(&f, (int32_t)nt.fl) != 0 ||
        w2k_t_field(v, 1, &f) != 0 || w2k_t_bytes(&f, bytes, blen) != 0)
        return w2k_avro_fail(c, s, n);
    return 0;
}

/* Set v (the value type's branch) from text that is not a special value. */
static int w2k_set_scalar(const w2k_setctx_t *c, w2k_target_t *v, const char *s, size_t n)
{
    const char *why = NULL;
    int rc = 0;
    switch (c->t->kind) {
    case W2K_AV_BOOLEAN:
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            return w2k_bad(c, s, n, "not t or f");
        rc = w2k_t_boolean(v, s[0] == 't');
        break;
    case W2K_AV_INT: {
        int64_t x;
        int64_t lo = c->t->oid == W2K_OID_INT2 ? INT16_MIN : INT32_MIN;
        int64_t hi = c->t->oid == W2K_OID_INT2 ? INT16_MAX : INT32_MAX;
        if (w2k_parse_int(s, n, lo, hi, &x, &why) != 0)
            return w2k_bad(c, s, n, why);
        rc = w2k_t_int(v, (int32_t)x);
        break;
    }
    case W2K_AV_LONG: {
        int64_t x;
        int64_t lo = c->t->oid == W2K_OID_OID ? 0 : INT64_MIN;
        int64_t hi = c->t->oid == W2K_OID_OID ? INT64_C(4294967295) : INT64_MAX;
        if (w2k_parse_int(s, n, lo, hi, &x, &why) != 0)
            return w2k_bad(c, s, n, why);
        rc = w2k_t_long(v, x);
        break;
    }
    case W2K_AV_FLOAT:
    case W2K_AV_DOUBLE: {
        double d = 0;
        float f = 0;
        bool single = c->t->kind == W2K_AV_FLOAT;
        if (c->t->oid == W2K_OID_NUMERIC) { /* decimal.handling = double */
            w2k_numtext_t nt;
            char *end;
            bool word = (n == 3 && memcmp(s, "NaN", 3) == 0) ||
                        (n == 8 && memcmp(s, "Infinity", 8) == 0) ||
                        (n == 9 && memcmp(s, "-Infinity", 9) == 0);
            if (!word && w2k_numeric_split(s, n, &nt) != 0)
                return w2k_bad(c, s, n, "not a numeric");
            memcpy(c->a, s, n); /* scratch a has room for the text and a NUL */
            c->a[n] = '\0';
            d = strtod(c->a, &end);
            if (end != c->a + n)
                return w2k_bad(c, s, n, "not a numeric");
            rc = w2k_t_double(v, d);
            break;
        }
        if (w2k_parse_double(s, n, single, &d, &f, &why) != 0)
            return w2k_bad(c, s, n, why);
        rc = single ? w2k_t_float(v, f) : w2k_t_double(v, d);
        break;
    }
    case W2K_AV_STRING:
        return w2k_set_string(c, v, s, n);
    case W2K_AV_BYTES: {
        if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n & 1))
            return w2k_bad(c, s, n, "not hex bytea output (\\x...)");
        uint8_t *o = (uint8_t *)c->b;
        for (size_t i = 2; i < n; i += 2) {
            int hi = w2k_hexval(s[i]), lo = w2k_hexval(s[i + 1]);
            if (hi < 0 || lo < 0)
                return w2k_bad(c, s, n, "not hex bytea output (\\x...)");
            o[(i - 2) / 2] = (uint8_t)(hi << 4 | lo);
        }
        rc = w2k_t_bytes(v, o, (n - 2) / 2);
        break;
    }
    case W2K_AV_DECIMAL:
    case W2K_AV_VARDECIMAL:
        return w2k_set_decimal(c, v, s, n);
    case W2K_AV_DATE: {
        int32_t days;
        if (w2k_parse_date(s, n, &days, &why) != 0)
            return w2k_bad(c, s, n, why);
        rc = w2k_t_int(v, days);
        break;
    }
    case W2K_AV_TIME_MICROS:
    case W2K_AV_TIME_MILLIS: {
        int64_t us;
        if (w2k_parse_time(s, n, &us, &why) != 0)
            return w2k_bad(c, s, n, why);
        if (c->t->kind == W2K_AV_TIME_MILLIS)
            rc = w2k_t_int(v, (int32_t)(us / 1000));
        else
            rc = w2k_t_long(v, us);
        break;
    }
    case W2K_AV_TIMESTAMP_MICROS:
    case W2K_AV_LOCAL_TIMESTAMP_MICROS:
    case W2K_AV_TIMESTAMP_MILLIS:
    case W2K_AV_LOCAL_TIMESTAMP_MILLIS: {
        int64_t us;
        bool tz = c->t->kind == W2K_AV_TIMESTAMP_MICROS || c->t->kind == W2K_AV_TIMESTAMP_MILLIS;
        if (w2k_parse_timestamp(s, n, tz, &us, &why) != 0)
            return w2k_bad(c, s, n, why);
        if (c->t->kind == W2K_AV_TIMESTAMP_MILLIS || c->t->kind == W2K_AV_LOCAL_TIMESTAMP_MILLIS)
            us = us / 1000 - (us % 1000 < 0); /* floor: 1969-12-31 23:59:59.9995 is ...999 */
        rc = w2k_t_long(v, us);
        break;
    }
    case W2K_AV_UUID: {
        char u[37];
        if (n != 36)
            return w2k_bad(c, s, n, "not a UUID");
        for (size_t i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (s[i] != '-')
                    return w2k_bad(c, s, n, "not a UUID");
                u[i] = '-';
            } else {
                int h = w2k_hexval(s[i]);
                if (h < 0)
                    return w2k_bad(c, s, n, "not a UUID");
                u[i] = "0123456789abcdef"[h];
            }
        }
        rc = w2k_t_string(v, u, 36);
        break;
    }
    case W2K_AV_INTERVAL: {
        int32_t mo, dd;
        int64_t us;
        w2k_target_t f;
        if (w2k_parse_interval(s, n, &mo, &dd, &us, &why) != 0)
            return w2k_bad(c, s, n, why);
        rc = w2k_t_field(v, 0, &f) || w2k_t_int(&f, mo) || w2k_t_field(v, 1, &f) ||
             w2k_t_int(&f, dd) || w2k_t_field(v, 2, &f) || w2k_t_long(&f, us);
        break;
    }
    }
    if (rc != 0)
        return w2k_avro_fail(c, s, n);
    return 0;
}

/* The SpecialValue symbol (W2K_SV_*) of s when it is one of the type's values its
 * Avro type cannot hold, else -1. */
static int w2k_special_symbol(const w2k_avscalar_t *t, const char *s, size_t n)
{
    if (!t->special)
        return -1;
    switch (t->kind) {
    case W2K_AV_DECIMAL:
    case W2K_AV_VARDECIMAL:
        if (n == 3 && memcmp(s, "NaN", 3) == 0)
            return W2K_SV_NAN;
        if (n == 8 && memcmp(s, "Infinity", 8) == 0)
            return W2K_SV_POSITIVE_INFINITY;
        if (n == 9 && memcmp(s, "-Infinity", 9) == 0)
            return W2K_SV_NEGATIVE_INFINITY;
        return -1;
    case W2K_AV_DATE:
    case W2K_AV_TIMESTAMP_MICROS:
    case W2K_AV_LOCAL_TIMESTAMP_MICROS:
    case W2K_AV_TIMESTAMP_MILLIS:
    case W2K_AV_LOCAL_TIMESTAMP_MILLIS:
        if (n == 8 && memcmp(s, "infinity", 8) == 0)
            return W2K_SV_POSITIVE_INFINITY;
        if (n == 9 && memcmp(s, "-infinity", 9) == 0)
            return W2K_SV_NEGATIVE_INFINITY;
        return -1;
    case W2K_AV_TIME_MICROS:
    case W2K_AV_TIME_MILLIS:
        /* 24:00:00 is a time PostgreSQL has and Avro's time types (and Python's
         * datetime.time) have not; it prints without a fraction */
        return n == 8 && memcmp(s, "24:00:00", 8) == 0 ? W2K_SV_END_OF_DAY : -1;
    default:
        return -1;
    }
}

/* Set a union (or plain value) whose value branch is val_idx from one scalar's text;
 * a special value goes to the SpecialValue branch spec_idx or, without one, to the
 * null branch null_idx (special.values = null). */
static int w2k_set_text(const w2k_setctx_t *c, w2k_target_t *field, int nbranches, int val_idx,
                        int spec_idx, int null_idx, const char *s, size_t n)
{
    w2k_target_t v;
    int sym = w2k_special_symbol(c->t, s, n);
    if (sym >= 0) {
        if (spec_idx >= 0) {
            if (w2k_t_branch(field, nbranches, spec_idx, &v) != 0 || w2k_t_enum(&v, sym) != 0)
                return w2k_avro_fail(c, s, n);
            return 0;
        }
        if (null_idx < 0)
            return w2k_bad(c, s, n, "the field's schema has no branch for it");
        if (w2k_t_branch(field, nbranches, null_idx, &v) != 0 || w2k_t_null(&v) != 0)
            return w2k_avro_fail(c, s, n);
        return 0;
    }
    if (w2k_t_branch(field, nbranches, val_idx, &v) != 0)
        return w2k_avro_fail(c, s, n);
    return w2k_set_scalar(c, &v, s, n);
}

/* Check an array's text: returns 1 when it is one-dimensional with lower bound 1
 * (*start: offset of its '{'), 0 for any other shape, -1 when malformed. */
static int w2k_array_shape(const char *s, size_t n, size_t *start)
{
    size_t i = 0;
    int ndims = 0;
    bool lb1 = true;
    while (i < n && s[i] == '[') {
        size_t j = ++i;
        int64_t lb, ub;
        const char *why;
        while (j < n && s[j] != ':')
            j++;
        if (j >= n || w2k_parse_int(s + i, j - i, INT32_MIN, INT32_MAX, &lb, &why) != 0)
            return -1;
        i = j + 1;
        while (j < n && s[j] != ']')
            j++;
        if (j >= n || w2k_parse_int(s + i, j - i, INT32_MIN, INT32_MAX, &ub, &why) != 0)
            return -1;
        i = j + 1;
        ndims++;
        lb1 = lb1 && lb == 1;
    }
    if (ndims > 0) {
        if (i >= n || s[i] != '=')
            return -1;
        i++;
    }
    if (i + 1 >= n || s[i] != '{' || s[n - 1] != '}')
        return -1;
    if (s[i + 1] == '{' || ndims > 1 || !lb1)
        return 0;
    *start = i;
    return 1;
}

/* The white space array_in skips around elements. */
static bool w2k_is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f';
}

/* Copy an element into scratch a, dropping the backslash of each escape. */
static size_t w2k_unescape(char *dst, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n)
            i++;
        dst[o++] = s[i];
    }
    return o;
}

/* In binary: insert the count of the items written since mark before them, and end
 * the array (one block, as avro-c writes it). */
static int w2k_bin_array_end(w2k_buf_t *b, size_t mark, int64_t count)
{
    if (count > 0) {
        w2k_buf_t cnt = W2K_BUF_INIT;
        w2k_avro_write_long(&cnt, count);
        size_t items = b->len - mark;
        if (cnt.oom || w2k_buf_reserve(b, cnt.len) != 0) {
            w2k_buf_free(&cnt);
            return ENOMEM;
        }
        memmove(b->data + mark + cnt.len, b->data + mark, items);
        memcpy(b->data + mark, cnt.data, cnt.len);
        b->len += cnt.len;
        b->data[b->len] = '\0';
        w2k_buf_free(&cnt);
    }
    w2k_avro_write_long(b, 0);
    return b->oom ? ENOMEM : 0;
}

/* Parse a one-dimensional array's text from its '{' at s[start] and append each
 * element to arr, an Avro array of ["null", element (, SpecialValue)]. */
static int w2k_set_array(w2k_setctx_t *c, w2k_target_t *arr, const char *s, size_t n, size_t start,
                         bool items_special)
{
    int nb = items_special ? 3 : 2;
    int spec_idx = items_special ? 2 : -1;
    size_t i = start + 1, mark = arr->out ? arr->out->len : 0;
    int64_t count = 0;
    if (!arr->out && avro_value_reset(&arr->v) != 0)
        return w2k_avro_fail(c, s, n);
    while (i < n && w2k_is_space(s[i]))
        i++;
    if (i < n && s[i] == '}') {
        if (i + 1 != n)
            return w2k_bad(c, s, n, "malformed array text");
        return arr->out && w2k_bin_array_end(arr->out, mark, 0) != 0 ? w2k_avro_fail(c, s, n) : 0;
    }
    for (;;) {
        while (i < n && w2k_is_space(s[i]))
            i++;
        if (i >= n)
            return w2k_bad(c, s, n, "malformed array text");
        const char *e;
        size_t el;
        bool esc = false, isnull = false;
        if (s[i] == '"') {
            size_t j = ++i;
            while (j < n && s[j] != '"') {
                if (s[j] == '\\') {
                    esc = true;
                    j++;
                }
                j++;
            }
            if (j >= n)
                return w2k_bad(c, s, n, "malformed array text");
            e = s + i;
            el = j - i;
            i = j + 1;
        } else {
            size_t j = i;
            while (j < n && s[j] != ',' && s[j] != '}') {
                if (s[j] == '"' || s[j] == '{')
                    return w2k_bad(c, s, n, "malformed array text");
                if (s[j] == '\\') {
                    esc = true;
                    j++;
                }
                j++;
            }
            if (j >= n)
                return w2k_bad(c, s, n, "malformed array text");
            e = s + i;
            el = j - i;
            while (el > 0 && w2k_is_space(e[el - 1]))
                el--;
            if (el == 0)
                return w2k_bad(c, s, n, "malformed array text");
            isnull = !esc && el == 4 && strncasecmp(e, "NULL", 4) == 0;
            i = j;
        }
        if (esc) {
            el = w2k_unescape(c->a, e, el);
            e = c->a;
        }
        c->elem_no++;
        w2k_target_t item = {.out = arr->out}, v;
        if (!arr->out && avro_value_append(&arr->v, &item.v, NULL) != 0)
            return w2k_avro_fail(c, s, n);
        count++;
        c->elem = true;
        if (isnull) {
            if (w2k_t_branch(&item, nb, 0, &v) != 0 || w2k_t_null(&v) != 0)
                return w2k_avro_fail(c, e, el);
        } else if (w2k_set_text(c, &item, nb, 1, spec_idx, 0, e, el) != 0) {
            return -1;
        }
        c->elem = false;
        while (i < n && w2k_is_space(s[i]))
            i++;
        if (i < n && s[i] == ',') {
            i++;
            continue;
        }
        if (i < n && s[i] == '}' && i + 1 == n)
            return arr->out && w2k_bin_array_end(arr->out, mark, count) != 0
                       ? w2k_avro_fail(c, s, n)
                       : 0;
        return w2k_bad(c, s, n, "malformed array text");
    }
}

/* Convert one column datum into target (see w2k_coltype_set). */
static int w2k_coltype_to(const w2k_coltype_t *ct, int flags, w2k_target_t *field, char kind,
                          const char *text, size_t len, w2k_buf_t *scratch, char *err, size_t errsz)
{
    w2k_layout_t l = w2k_layout(ct, flags);
    w2k_setctx_t c = {&ct->t, ct->is_array, false, 0, NULL, NULL, err, errsz};
    w2k_target_t v;
    switch (kind) {
    case 'n':
        if (l.null_idx < 0)
            return w2k_fail(&c, NULL, 0, "NULL for a field that is not nullable", NULL);
        if (w2k_t_branch(field, l.n, l.null_idx, &v) != 0 || w2k_t_null(&v) != 0)
            return w2k_avro_fail(&c, NULL, 0);
        return 0;
    case 'u':
        if (l.toast_idx < 0)
            return w2k_fail(&c, NULL, 0, "unchanged TOAST value for a field without that branch",
                            NULL);
        if (w2k_t_branch(field, l.n, l.toast_idx, &v) != 0 || w2k_t_enum(&v, 0) != 0)
            return w2k_avro_fail(&c, NULL, 0);
        return 0;
    case 't':
        break;
    default:
        return w2k_fail(&c, &kind, 1, "unknown datum kind", NULL);
    }

    /* One reservation per call: a copy of the text (strings, array elements), then
     * the work area (decimals, bytea). Fixed-size scalars need neither. */
    w2k_avkind_t k = ct->t.kind;
    bool copy = ct->is_array || (k == W2K_AV_STRING && !field->out) ||
                (k == W2K_AV_DOUBLE && ct->t.oid == W2K_OID_NUMERIC);
    if (copy || k == W2K_AV_BYTES || k == W2K_AV_DECIMAL || k == W2K_AV_VARDECIMAL) {
        size_t alen = (len + 8) & ~(size_t)7, blen = 0;
        if (k == W2K_AV_DECIMAL || k == W2K_AV_VARDECIMAL)
            blen = w2k_decimal_work(len + (size_t)(ct->t.scale > 0 ? ct->t.scale : 0));
        else if (k == W2K_AV_BYTES)
            blen = len / 2 + 1;
        w2k_buf_reset(scratch);
        if (w2k_buf_reserve(scratch, alen + blen) != 0)
            return w2k_fail(&c, text, len, "out of memory converting", NULL);
        c.a = scratch->data;
        c.b = scratch->data + alen;
    }

    if (!ct->is_array)
        return w2k_set_text(&c, field, l.n, l.val_idx, l.spec_idx, l.null_idx, text, len);

    size_t start = 0;
    int shape = w2k_array_shape(text, len, &start);
    if (shape < 0)
        return w2k_bad(&c, text, len, "malformed array text");
    if (shape == 0) {
        w2k_target_t f;
        if (l.spec_idx < 0) { /* special.values = null */
            if (w2k_t_branch(field, l.n, l.null_idx, &v) != 0 || w2k_t_null(&v) != 0)
                return w2k_avro_fail(&c, text, len);
            return 0;
        }
        if (w2k_t_branch(field, l.n, l.spec_idx, &v) != 0 || w2k_t_field(&v, 0, &f) != 0)
            return w2k_avro_fail(&c, text, len);
        return w2k_set_string(&c, &f, text, len);
    }
    if (w2k_t_branch(field, l.n, l.val_idx, &v) != 0)
        return w2k_avro_fail(&c, text, len);
    return w2k_set_array(&c, &v, text, len, start, w2k_items_special(ct));
}

/* Set a field from one column datum (see pgtypes.h). */
int w2k_coltype_set(const w2k_coltype_t *ct, int flags, avro_value_t *field, char kind,
                    const char *text, size_t len, w2k_buf_t *scratch, char *err, size_t errsz)
{
    w2k_target_t t = {*field, NULL};
    return w2k_coltype_to(ct, flags, &t, kind, text, len, scratch, err, errsz);
}

/* Two digits at p as a number, or -1. */
static inline int w2k_2digits(const char *p)
{
    unsigned a = (unsigned)(p[0] - '0'), b = (unsigned)(p[1] - '0');
    return a > 9 || b > 9 ? -1 : (int)(a * 10 + b);
}

/* The usual timestamp[tz] text, "YYYY-MM-DD HH:MM:SS[.f][+HH[:MM[:SS]]]" with a
 * four-digit year of our era, in straight-line code: *out as w2k_parse_timestamp
 * gives it. false for anything else (other years, BC, malformed text), which
 * w2k_parse_timestamp then parses or rejects. */
static bool w2k_fast_timestamp(const char *s, size_t n, bool with_tz, int64_t *out)
{
    if (n < 19 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':')
        return false;
    int yh = w2k_2digits(s), yl = w2k_2digits(s + 2), m = w2k_2digits(s + 5);
    int d = w2k_2digits(s + 8), h = w2k_2digits(s + 11), mi = w2k_2digits(s + 14);
    int se = w2k_2digits(s + 17);
    if ((yh | yl | m | d | h | mi | se) < 0 || h > 23 || mi > 59 || se > 59)
        return false;
    int64_t frac = 0;
    size_t i = 19;
    if (i < n && s[i] == '.') {
        size_t k = 0;
        for (i++; i < n && w2k_isdigit(s[i]) && k < 6; i++, k++)
            frac = frac * 10 + (s[i] - '0');
        if (k == 0 || (i < n && w2k_isdigit(s[i])))
            return false;
        static const int64_t scale[7] = {1, 100000, 10000, 1000, 100, 10, 1};
        frac *= scale[k];
    }
    int64_t off = 0;
    if (with_tz) {
        if (i + 3 > n || (s[i] != '+' && s[i] != '-'))
            return false;
        int oh = w2k_2digits(s + i + 1), om = 0, os = 0;
        bool neg = s[i] == '-';
        i += 3;
        if (i + 3 <= n && s[i] == ':') {
            om = w2k_2digits(s + i + 1);
            i += 3;
            if (i + 3 <= n && s[i] == ':') {
                os = w2k_2digits(s + i + 1);
                i += 3;
            }
        }
        if ((oh | om | os) < 0 || om > 59 || os > 59)
            return false;
        off = (oh * INT64_C(3600) + om * 60 + os) * W2K_USEC_PER_SEC;
        if (neg)
            off = -off;
    }
    int64_t days;
    const char *why;
    if (i != n || w2k_civil_days(yh * 100 + yl, m, d, false, &days, &why) != 0)
        return false;
    *out = days * W2K_USEC_PER_DAY + h * W2K_USEC_PER_HOUR + mi * W2K_USEC_PER_MIN +
           se * W2K_USEC_PER_SEC + frac - off;
    return true;
}

/* numeric(p,s) text of at most 18 digits once scaled ("[-]digits[.digits]", no more
 * fraction digits than the scale) as the Avro decimal's bytes (minimal two's
 * complement, big-endian, from be + *start to be + 8) in one pass: what
 * w2k_set_decimal writes for it. false for anything else, which w2k_set_decimal then
 * converts or rejects. */
static bool w2k_fast_decimal(const w2k_avscalar_t *t, const char *s, size_t n, uint8_t be[8],
                             size_t *start)
{
    static const uint64_t pow10[19] = {UINT64_C(1),
                                       UINT64_C(10),
                                       UINT64_C(100),
                                       UINT64_C(1000),
                                       UINT64_C(10000),
                                       UINT64_C(100000),
                                       UINT64_C(1000000),
                                       UINT64_C(10000000),
                                       UINT64_C(100000000),
                                       UINT64_C(1000000000),
                                       UINT64_C(10000000000),
                                       UINT64_C(100000000000),
                                       UINT64_C(1000000000000),
                                       UINT64_C(10000000000000),
                                       UINT64_C(100000000000000),
                                       UINT64_C(1000000000000000),
                                       UINT64_C(10000000000000000),
                                       UINT64_C(100000000000000000),
                                       UINT64_C(1000000000000000000)};
    size_t scale = (size_t)t->scale, il = 0, fl = 0;
    bool neg = n > 0 && s[0] == '-';
    size_t i = neg;
    uint64_t v = 0;
    for (; i < n && w2k_isdigit(s[i]); i++) {
        if (++il + scale > 18)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (i < n && s[i] == '.') {
        for (i++; i < n && w2k_isdigit(s[i]); i++) {
            if (++fl > scale)
                return false;
            v = v * 10 + (uint64_t)(s[i] - '0');
        }
    }
    if (i != n || il + fl == 0)
        return false;
    v *= pow10[scale - fl];
    if (t->precision < 19 && v >= pow10[t->precision])
        return false; /* more significant digits than the precision: the error path */
    uint64_t sv = neg ? (uint64_t)0 - v : v;
    for (int k = 0; k < 8; k++)
        be[7 - k] = (uint8_t)(sv >> (8 * k));
    *start = w2k_twos_trim(be, 8);
    return true;
}

/* The binary hot path (see pgtypes.h): NULL, unchanged TOAST and the common scalar
 * types straight into out, with the parsers w2k_coltype_to uses or straight-line ones
 * for the usual text; false (out as it was) for everything else (arrays, special
 * values, other types, text that does not parse, no memory). The unit tests compare
 * every case with avro-c's encoding through w2k_coltype_write, which calls this. */
bool w2k_coltype_write_fast(const w2k_coltype_t *ct, int flags, w2k_buf_t *out, char kind,
                            const char *s, size_t n)
{
    if (ct->is_array)
        return false;
    const w2k_avscalar_t *t = &ct->t;
    bool nullable = flags & W2K_FIELD_NULLABLE;
    w2k_layout_t l = w2k_layout(ct, flags);
    int val_idx = l.val_idx;
    size_t mark = out->len;
    if (kind == 'n') {
        if (!nullable)
            return false;
        w2k_avro_write_long(out, 0);
        return !out->oom;
    }
    if (kind == 'u') {
        if (!(flags & W2K_FIELD_TOAST))
            return false;
        w2k_avro_write_long(out, l.toast_idx);
        w2k_avro_write_long(out, 0); /* its only symbol */
        return !out->oom;
    }
    if (kind != 't' || w2k_special_symbol(t, s, n) >= 0)
        return false;
    if (l.n > 1)
        w2k_avro_write_long(out, val_idx);
    const char *why;
    int64_t x;
    switch (t->kind) {
    case W2K_AV_BOOLEAN:
        if (n != 1 || (s[0] != 't' && s[0] != 'f'))
            goto slow;
        w2k_buf_putc(out, s[0] == 't');
        break;
    case W2K_AV_INT:
        if (w2k_parse_int(s, n, t->oid == W2K_OID_INT2 ? INT16_MIN : INT32_MIN,
                          t->oid == W2K_OID_INT2 ? INT16_MAX : INT32_MAX, &x, &why) != 0)
            goto slow;
        w2k_avro_write_long(out, x);
        break;
    case W2K_AV_LONG:
        if (w2k_parse_int(s, n, t->oid == W2K_OID_OID ? 0 : INT64_MIN,
                          t->oid == W2K_OID_OID ? INT64_C(4294967295) : INT64_MAX, &x, &why) != 0)
            goto slow;
        w2k_avro_write_long(out, x);
        break;
    case W2K_AV_STRING:
        w2k_avro_write_bytes(out, s, n);
        break;
    case W2K_AV_DECIMAL: {
        uint8_t be[8];
        size_t st;
        if (!w2k_fast_decimal(t, s, n, be, &st))
            goto slow;
        w2k_avro_write_bytes(out, be + st, 8 - st);
        break;
    }
    case W2K_AV_DATE: {
        int32_t days;
        if (w2k_parse_date(s, n, &days, &why) != 0)
            goto slow;
        w2k_avro_write_long(out, days);
        break;
    }
    case W2K_AV_TIMESTAMP_MICROS:
    case W2K_AV_LOCAL_TIMESTAMP_MICROS:
        if (!w2k_fast_timestamp(s, n, t->kind == W2K_AV_TIMESTAMP_MICROS, &x))
            goto slow;
        w2k_avro_write_long(out, x);
        break;
    case W2K_AV_TIMESTAMP_MILLIS:
    case W2K_AV_LOCAL_TIMESTAMP_MILLIS:
        if (!w2k_fast_timestamp(s, n, t->kind == W2K_AV_TIMESTAMP_MILLIS, &x))
            goto slow;
        w2k_avro_write_long(out, x / 1000 - (x % 1000 < 0));
        break;
    default:
        goto slow;
    }
    if (!out->oom)
        return true;
slow:
    if (out->data) {
        out->len = mark;
        out->data[mark] = '\0';
    }
    return false;
}

/* Append a field's Avro binary encoding from one column datum (see pgtypes.h). */
int w2k_coltype_write(const w2k_coltype_t *ct, int flags, w2k_buf_t *out, char kind,
                      const char *text, size_t len, w2k_buf_t *scratch, char *err, size_t errsz)
{
    if (w2k_coltype_write_fast(ct, flags, out, kind, text, len))
        return 0;
    w2k_target_t t = {{NULL, NULL}, out};
    return w2k_coltype_to(ct, flags, &t, kind, text, len, scratch, err, errsz);
}

/* ---- PostgreSQL's text forms for row filters: output forms and literal input ---- */

/* Days between 1970-01-01 and 2000-01-01. */
#define W2K_EPOCH_DAYS_2000 10957

/* Days since 1970-01-01 to days since 2000-01-01, in DateADT's finite range. */
static int w2k_days_2000(int64_t days, int32_t *out, const char **why)
{
    if (days < INT32_MIN || days > INT32_MAX) {
        *why = "out of range for an Avro date (int days since 1970-01-01)";
        return -1;
    }
    if (days <= INT32_MIN + W2K_EPOCH_DAYS_2000) {
        *why = "out of range";
        return -1;
    }
    *out = (int32_t)days - W2K_EPOCH_DAYS_2000;
    return 0;
}

/* Days since 1970-01-01, microseconds since midnight and a UTC offset to microseconds
 * since 2000-01-01 00:00:00 UTC, in Timestamp's finite range. */
static int w2k_micros_2000(int64_t days, int64_t tod, int64_t off, int64_t *us, const char **why)
{
    int64_t v;
    if (__builtin_mul_overflow(days - W2K_EPOCH_DAYS_2000, W2K_USEC_PER_DAY, &v) ||
        __builtin_add_overflow(v, tod, &v) || __builtin_sub_overflow(v, off, &v) ||
        v == INT64_MIN || v == INT64_MAX) {
        *why = "out of range";
        return -1;
    }
    *us = v;
    return 0;
}

/* date text (see pgtypes.h) to days since 2000-01-01; ±infinity to INT32_MIN/MAX. */
int w2k_pgtext_date(const char *s, size_t n, int32_t *days, const char **why)
{
    if (n == 8 && memcmp(s, "infinity", 8) == 0) {
        *days = INT32_MAX;
        return 0;
    }
    if (n == 9 && memcmp(s, "-infinity", 9) == 0) {
        *days = INT32_MIN;
        return 0;
    }
    int32_t d;
    if (w2k_parse_date(s, n, &d, why) != 0)
        return -1;
    return w2k_days_2000(d, days, why);
}

/* timestamp[tz] text (see pgtypes.h) to microseconds since 2000-01-01 00:00:00 (UTC);
 * ±infinity to INT64_MIN/MAX. */
int w2k_pgtext_timestamp(const char *s, size_t n, bool with_tz, int64_t *us, const char **why)
{
    if (n == 8 && memcmp(s, "infinity", 8) == 0) {
        *us = INT64_MAX;
        return 0;
    }
    if (n == 9 && memcmp(s, "-infinity", 9) == 0) {
        *us = INT64_MIN;
        return 0;
    }
    int64_t days, tod, off;
    if (w2k_timestamp_parts(s, n, with_tz, &days, &tod, &off, why) != 0)
        return -1;
    return w2k_micros_2000(days, tod, off, us, why);
}

/* integer text (see pgtypes.h). */
int w2k_pgtext_int(const char *s, size_t n, int64_t min, int64_t max, int64_t *out,
                   const char **why)
{
    return w2k_parse_int(s, n, min, max, out, why);
}

/* real/double precision text (see pgtypes.h). */
int w2k_pgtext_float(const char *s, size_t n, bool single, double *out, const char **why)
{
    float f = 0;
    if (w2k_parse_double(s, n, single, out, &f, why) != 0)
        return -1;
    if (single)
        *out = f;
    return 0;
}

/* numeric text (see pgtypes.h): the split of w2k_set_decimal, normalized. */
int w2k_pgtext_numeric(const char *s, size_t n, w2k_pgnum_t *x)
{
    memset(x, 0, sizeof *x);
    x->ip = x->fp = s;
    if (n == 0)
        return -1;
    if (n == 3 && memcmp(s, "NaN", 3) == 0)
        x->special = W2K_PGNUM_NAN;
    else if (n == 8 && memcmp(s, "Infinity", 8) == 0)
        x->special = W2K_PGNUM_PINF;
    else if (n == 9 && memcmp(s, "-Infinity", 9) == 0)
        x->special = W2K_PGNUM_NINF;
    if (x->special != W2K_PGNUM_FINITE)
        return 0;
    w2k_numtext_t nt;
    if ((!w2k_isdigit(s[0]) && s[0] != '-') || w2k_numeric_split(s, n, &nt) != 0)
        return -1;
    x->ip = nt.ip;
    x->il = nt.il;
    while (x->il > 0 && x->ip[0] == '0') {
        x->ip++;
        x->il--;
    }
    x->fp = nt.fl > 0 ? nt.fp : nt.ip + nt.il;
    x->fl = nt.fl;
    while (x->fl > 0 && x->fp[x->fl - 1] == '0')
        x->fl--;
    x->neg = nt.neg && x->il + x->fl > 0;
    return 0;
}

/* ---- literal input: what PostgreSQL's *_in functions take ---- */

static char w2k_in_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool w2k_in_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Case-insensitive (ASCII) equality of s[0..n) and the lower-case word w. */
static bool w2k_in_ieq(const char *s, size_t n, const char *w)
{
    if (strlen(w) != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (w2k_in_lower(s[i]) != w[i])
            return false;
    return true;
}

/* Cut leading and trailing white space. */
static void w2k_in_trim(const char **s, size_t *n)
{
    while (*n > 0 && w2k_in_space(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && w2k_in_space((*s)[*n - 1]))
        (*n)--;
}

/* boolean input (see pgtypes.h). */
int w2k_pginput_bool(const char *s, size_t n, bool *out)
{
    static const struct {
        const char *word;
        size_t min;
        bool v;
    } words[] = {{"true", 1, true}, {"false", 1, false}, {"yes", 1, true},
                 {"no", 1, false},  {"on", 2, true},     {"off", 2, false}};
    w2k_in_trim(&s, &n);
    if (n == 1 && (s[0] == '1' || s[0] == '0')) {
        *out = s[0] == '1';
        return 0;
    }
    for (size_t w = 0; n > 0 && w < sizeof words / sizeof words[0]; w++) {
        if (n < words[w].min || n > strlen(words[w].word))
            continue;
        size_t i = 0;
        while (i < n && w2k_in_lower(s[i]) == words[w].word[i])
            i++;
        if (i == n) {
            *out = words[w].v;
            return 0;
        }
    }
    return -1;
}

/* The range and messages of an integer type. */
static void w2k_int_kind(uint32_t oid, int64_t *lo, int64_t *hi, const char **syntax,
                         const char **range)
{
    if (oid == W2K_OID_INT2) {
        *lo = INT16_MIN;
        *hi = INT16_MAX;
        *syntax = "invalid input syntax for type smallint";
        *range = "out of range for type smallint";
    } else if (oid == W2K_OID_INT4) {
        *lo = INT32_MIN;
        *hi = INT32_MAX;
        *syntax = "invalid input syntax for type integer";
        *range = "out of range for type integer";
    } else {
        *lo = INT64_MIN;
        *hi = INT64_MAX;
        *syntax = "invalid input syntax for type bigint";
        *range = "out of range for type bigint";
    }
}

/* integer input (see pgtypes.h). */
int w2k_pginput_int(const char *s, size_t n, uint32_t oid, int64_t *out, const char **why)
{
    int64_t lo, hi;
    const char *syntax, *range;
    w2k_int_kind(oid, &lo, &hi, &syntax, &range);
    w2k_in_trim(&s, &n);
    bool neg = n > 0 && s[0] == '-';
    size_t i = n > 0 && (s[0] == '+' || s[0] == '-');
    uint64_t v = 0;
    bool big = false;
    *why = syntax;
    if (i == n)
        return -1;
    for (; i < n; i++) {
        if (!w2k_isdigit(s[i]))
            return -1;
        if (v > UINT64_MAX / 10 - 1)
            big = true;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (big || (neg ? v > (uint64_t)0 - (uint64_t)lo : v > (uint64_t)hi)) {
        *why = range;
        return -1;
    }
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return 0;
}

/* real/double precision input (see pgtypes.h). */
int w2k_pginput_float(const char *s, size_t n, bool single, double *out, const char **why)
{
    char tmp[128];
    *why = single ? "invalid input syntax for type real"
                  : "invalid input syntax for type double precision";
    w2k_in_trim(&s, &n);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == 'x' || s[i] == 'X' || s[i] == '(' || w2k_in_space(s[i]))
            return -1;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    char *end;
    errno = 0;
    double d = single ? (double)strtof(tmp, &end) : strtod(tmp, &end);
    if (end != tmp + n)
        return -1;
    if (errno == ERANGE && (d == 0.0 || isinf(d))) {
        *why = single ? "out of range for type real" : "out of range for type double precision";
        return -1;
    }
    *out = d;
    return 0;
}

/* The digits of numeric input: integer part, fraction, exponent. */
typedef struct w2k_numin_s {
    const char *ip, *fp;
    size_t idig, fdig;
    long exp;
} w2k_numin_t;

/* Split "digits[.digits][e[+-]digits]" (sign already taken). Returns 0, or -1 with
 * *why left alone unless the exponent is out of range. */
static int w2k_numin_split(const char *w, size_t wn, w2k_numin_t *d, const char **why)
{
    size_t i = 0;
    memset(d, 0, sizeof *d);
    d->ip = d->fp = w;
    while (i < wn && w2k_isdigit(w[i]))
        i++;
    d->idig = i;
    if (i < wn && w[i] == '.') {
        d->fp = w + ++i;
        while (i < wn && w2k_isdigit(w[i]))
            i++;
        d->fdig = (size_t)(w + i - d->fp);
    }
    if (d->idig + d->fdig == 0)
        return -1;
    if (i < wn && (w[i] == 'e' || w[i] == 'E')) {
        bool eneg = false;
        if (++i < wn && (w[i] == '+' || w[i] == '-'))
            eneg = w[i++] == '-';
        size_t st = i;
        for (; i < wn && w2k_isdigit(w[i]); i++) {
            if (d->exp > 1000000) {
                *why = "exponent out of range for type numeric";
                return -1;
            }
            d->exp = d->exp * 10 + (w[i] - '0');
        }
        if (i == st)
            return -1;
        if (eneg)
            d->exp = -d->exp;
    }
    return i == wn ? 0 : -1;
}

/* Digit j of the concatenated integer and fraction digits. */
static char w2k_numin_digit(const w2k_numin_t *d, size_t j)
{
    return j < d->idig ? d->ip[j] : d->fp[j - d->idig];
}

/* numeric input (see pgtypes.h). */
int w2k_pginput_numeric(const char *s, size_t n, w2k_pgnum_t *x, char **buf, const char **why)
{
    memset(x, 0, sizeof *x);
    *buf = NULL;
    *why = "invalid input syntax for type numeric";
    w2k_in_trim(&s, &n);
    bool neg = n > 0 && s[0] == '-';
    size_t sg = n > 0 && (s[0] == '+' || s[0] == '-');
    const char *w = s + sg;
    size_t wn = n - sg;
    if (w2k_in_ieq(s, n, "nan")) {
        x->special = W2K_PGNUM_NAN;
        return 0;
    }
    if (w2k_in_ieq(w, wn, "infinity") || w2k_in_ieq(w, wn, "inf")) {
        x->special = neg ? W2K_PGNUM_NINF : W2K_PGNUM_PINF;
        return 0;
    }
    w2k_numin_t d;
    if (w2k_numin_split(w, wn, &d, why) != 0)
        return -1;
    /* all digits with the point after position pt; lead and trail: zeros to drop */
    size_t nd = d.idig + d.fdig, lead = 0, trail = 0;
    while (lead < nd && w2k_numin_digit(&d, lead) == '0')
        lead++;
    while (trail < nd - lead && w2k_numin_digit(&d, nd - 1 - trail) == '0')
        trail++;
    size_t sig = nd - lead - trail;
    long pt = (long)d.idig + d.exp - (long)lead;
    if (sig == 0)
        return 0; /* zero */
    if (pt > 1000000 || pt < -1000000) {
        *why = "value out of range for type numeric";
        return -1;
    }
    size_t il = pt > 0 ? (size_t)pt : 0;
    size_t fl = pt >= (long)sig ? 0 : (size_t)((long)sig - pt);
    char *b = malloc(il + fl + 1);
    if (!b) {
        *why = "out of memory";
        return -1;
    }
    for (size_t k = 0; k < il + fl; k++) {
        long idx = pt >= 0 ? (long)k : (long)k + pt; /* index into the significant digits */
        b[k] = idx < 0 || idx >= (long)sig ? '0' : w2k_numin_digit(&d, lead + (size_t)idx);
    }
    b[il + fl] = '\0';
    x->neg = neg;
    x->ip = b;
    x->il = il;
    x->fp = b + il;
    x->fl = fl;
    *buf = b;
    return 0;
}

/* uuid input (see pgtypes.h). */
int w2k_pginput_uuid(const char *s, size_t n, char out[37])
{
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }
    int nd = 0;
    char hex[32];
    for (size_t i = 0; i < n; i++) {
        char c = w2k_in_lower(s[i]);
        bool digit = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
        if (digit && nd < 32)
            hex[nd++] = c;
        else if (digit || c != '-' || nd == 0 || nd % 4 != 0 || i + 1 >= n || s[i + 1] == '-')
            return -1;
    }
    if (nd != 32)
        return -1;
    int k = 0;
    for (int i = 0; i < 32; i++) {
        if (i == 8 || i == 12 || i == 16 || i == 20)
            out[k++] = '-';
        out[k++] = hex[i];
    }
    out[36] = '\0';
    return 0;
}

/* The fields of a date/timestamp literal. */
typedef struct w2k_stamp_s {
    long y, mo, d, h, mi, se, frac; /* frac: microseconds */
    long oh, om, os;
    bool has_time, has_off, offneg, bc;
} w2k_stamp_t;

/* Read up to maxd digits at s[*i] into *v; returns how many were read. */
static int w2k_in_digits(const char *s, size_t n, size_t *i, int maxd, long *v)
{
    int k = 0;
    *v = 0;
    while (*i < n && k < maxd && w2k_isdigit(s[*i])) {
        *v = *v * 10 + (s[(*i)++] - '0');
        k++;
    }
    return k;
}

/* The words of date/time input: 1 with *out set, -1 with *why for the words that
 * depend on when they are read, 0 for anything else. */
static int w2k_in_time_word(const char *s, size_t n, bool date, int64_t *out, const char **why)
{
    if (w2k_in_ieq(s, n, "infinity") || w2k_in_ieq(s, n, "+infinity")) {
        *out = INT64_MAX;
        return 1;
    }
    if (w2k_in_ieq(s, n, "-infinity")) {
        *out = INT64_MIN;
        return 1;
    }
    if (w2k_in_ieq(s, n, "epoch")) {
        *out = date ? -W2K_EPOCH_DAYS_2000 : -W2K_EPOCH_DAYS_2000 * W2K_USEC_PER_DAY;
        return 1;
    }
    if (w2k_in_ieq(s, n, "now") || w2k_in_ieq(s, n, "today") || w2k_in_ieq(s, n, "tomorrow") ||
        w2k_in_ieq(s, n, "yesterday")) {
        *why = "now, today, tomorrow and yesterday are not constants";
        return -1;
    }
    return 0;
}

/* "[+-]HH[[:]MM[[:]SS]]", "Z" or "UTC" after optional spaces at s[*i]; nothing there is
 * no offset. Returns 0, or -1 for a malformed offset. */
static int w2k_in_offset(const char *s, size_t n, size_t *i, w2k_stamp_t *t)
{
    size_t j = *i;
    while (j < n && s[j] == ' ')
        j++;
    if (j < n && (s[j] == 'Z' || s[j] == 'z')) {
        t->has_off = true;
        *i = j + 1;
        return 0;
    }
    if (j + 3 <= n && w2k_in_ieq(s + j, 3, "utc")) {
        t->has_off = true;
        *i = j + 3;
        return 0;
    }
    if (j >= n || (s[j] != '+' && s[j] != '-'))
        return 0;
    t->has_off = true;
    t->offneg = s[j] == '-';
    *i = j + 1;
    if (w2k_in_digits(s, n, i, 2, &t->oh) < 1)
        return -1;
    bool colon = *i < n && s[*i] == ':';
    if (colon)
        (*i)++;
    if (*i >= n || !w2k_isdigit(s[*i]))
        return colon ? -1 : 0;
    if (w2k_in_digits(s, n, i, 2, &t->om) != 2)
        return -1;
    if (*i < n && (s[*i] == ':' || (!colon && w2k_isdigit(s[*i])))) {
        if (s[*i] == ':')
            (*i)++;
        if (w2k_in_digits(s, n, i, 2, &t->os) != 2)
            return -1;
    }
    return 0;
}

/* "HH:MM[:SS[.ffffff]]" and an offset at s[*i]. Returns 0, or -1 (with *why for too
 * many fraction digits). */
static int w2k_in_hms(const char *s, size_t n, size_t *i, w2k_stamp_t *t, const char **why)
{
    t->has_time = true;
    if (w2k_in_digits(s, n, i, 2, &t->h) < 1 || *i >= n || s[*i] != ':')
        return -1;
    (*i)++;
    if (w2k_in_digits(s, n, i, 2, &t->mi) != 2)
        return -1;
    if (*i < n && s[*i] == ':') {
        (*i)++;
        if (w2k_in_digits(s, n, i, 2, &t->se) != 2)
            return -1;
        if (*i < n && s[*i] == '.') {
            (*i)++;
            int fdig = w2k_in_digits(s, n, i, 6, &t->frac);
            if (fdig == 0)
                return -1;
            if (*i < n && w2k_isdigit(s[*i])) {
                *why = "more than 6 fractional digits of a second";
                return -1;
            }
            for (; fdig < 6; fdig++)
                t->frac *= 10;
        }
    }
    return w2k_in_offset(s, n, i, t);
}

/* "YYYY-MM-DD" (4 to 9 year digits, 1 or 2 month and day digits) at s[*i]. */
static int w2k_in_ymd(const char *s, size_t n, size_t *i, w2k_stamp_t *t)
{
    if (w2k_in_digits(s, n, i, 9, &t->y) < 4 || *i >= n || s[*i] != '-')
        return -1;
    (*i)++;
    if (w2k_in_digits(s, n, i, 2, &t->mo) < 1 || *i >= n || s[*i] != '-')
        return -1;
    (*i)++;
    return w2k_in_digits(s, n, i, 2, &t->d) < 1 ? -1 : 0;
}

/* Whether the fields of a time and an offset are in range. */
static bool w2k_in_stamp_ok(const w2k_stamp_t *t)
{
    if (t->has_time && (t->h > 23 || t->mi > 59 || t->se > 59))
        return false;
    return !t->has_off || (t->oh <= 15 && t->om <= 59 && t->os <= 59);
}

/* "YYYY-MM-DD[{ |T}time][ BC| AD]" into t, fields range-checked but not the calendar. */
static int w2k_in_stamp(const char *s, size_t n, w2k_stamp_t *t, const char **why)
{
    size_t i = 0;
    memset(t, 0, sizeof *t);
    if (w2k_in_ymd(s, n, &i, t) != 0)
        return -1;
    if (i + 1 < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') && w2k_isdigit(s[i + 1])) {
        i++;
        if (w2k_in_hms(s, n, &i, t, why) != 0)
            return -1;
    }
    if (i + 3 == n && s[i] == ' ' &&
        (w2k_in_ieq(s + i + 1, 2, "bc") || w2k_in_ieq(s + i + 1, 2, "ad"))) {
        t->bc = w2k_in_lower(s[i + 1]) == 'b';
        i = n;
    }
    return i == n && w2k_in_stamp_ok(t) ? 0 : -1;
}

/* date input (see pgtypes.h). */
int w2k_pginput_date(const char *s, size_t n, int64_t *days, const char **why)
{
    *why = "invalid input syntax for type date";
    w2k_in_trim(&s, &n);
    int w = w2k_in_time_word(s, n, true, days, why);
    if (w != 0)
        return w > 0 ? 0 : -1;
    w2k_stamp_t t;
    if (w2k_in_stamp(s, n, &t, why) != 0)
        return -1;
    int64_t d1970;
    int32_t d;
    if (w2k_civil_days(t.y, (int)t.mo, (int)t.d, t.bc, &d1970, why) != 0 ||
        w2k_days_2000(d1970, &d, why) != 0) {
        *why = "date out of range or not a date";
        return -1;
    }
    *days = d;
    return 0;
}

/* timestamp[tz] input (see pgtypes.h). */
int w2k_pginput_timestamp(const char *s, size_t n, bool with_tz, int64_t *us, const char **why)
{
    *why = with_tz ? "invalid input syntax for type timestamptz"
                   : "invalid input syntax for type timestamp";
    w2k_in_trim(&s, &n);
    int w = w2k_in_time_word(s, n, false, us, why);
    if (w != 0)
        return w > 0 ? 0 : -1;
    w2k_stamp_t t;
    if (w2k_in_stamp(s, n, &t, why) != 0)
        return -1;
    int64_t off = 0, days;
    if (with_tz && t.has_off)
        off = (t.oh * INT64_C(3600) + t.om * 60 + t.os) * (t.offneg ? -1 : 1) * W2K_USEC_PER_SEC;
    int64_t tod =
        t.h * W2K_USEC_PER_HOUR + t.mi * W2K_USEC_PER_MIN + t.se * W2K_USEC_PER_SEC + t.frac;
    if (w2k_civil_days(t.y, (int)t.mo, (int)t.d, t.bc, &days, why) != 0 ||
        w2k_micros_2000(days, tod, off, us, why) != 0) {
        *why = "timestamp out of range or not a timestamp";
        return -1;
    }
    return 0;
}
