/* filter_value.c — the row filter's typed values: type names for messages, numerics
 * as doubles, and the conversions between value types that casts of literals and the
 * coercion of untyped literals need (text input parsed by pgtypes.c's input forms). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"

/* The SQL name of a value type. */
const char *w2k_fval_type_name(uint8_t t, uint32_t oid)
{
    switch (t) {
    case FT_NULL:
        return "null";
    case FT_UNKNOWN:
        return "unknown";
    case FT_BOOL:
        return "boolean";
    case FT_INT:
        return oid == W2K_OID_INT2 ? "smallint" : oid == W2K_OID_INT4 ? "integer" : "bigint";
    case FT_NUM:
        return "numeric";
    case FT_FLOAT:
        return oid == W2K_OID_FLOAT4 ? "real" : "double precision";
    case FT_TEXT:
        return oid == W2K_OID_VARCHAR ? "character varying" : oid == W2K_OID_NAME ? "name" : "text";
    case FT_BPCHAR:
        return "character";
    case FT_DATE:
        return "date";
    case FT_TS:
        return "timestamp";
    case FT_TSTZ:
        return "timestamptz";
    case FT_UUID:
        return "uuid";
    default:
        return "unsupported";
    }
}

/* A numeric as the nearest double. */
double w2k_fnum_to_double(const w2k_fnum_t *x, bool single)
{
    switch (x->special) {
    case NUM_NAN:
        return NAN;
    case NUM_PINF:
        return INFINITY;
    case NUM_NINF:
        return -INFINITY;
    default:
        break;
    }
    if (x->il + x->fl == 0)
        return 0.0;
    /* "[-]0.<significant digits>e<exponent>", at most 800 digits (enough to round
     * correctly in all but pathological cases) */
    char b[840];
    size_t k = 0;
    long e = (long)x->il;
    const char *d;
    size_t dn;
    if (x->il > 0) {
        d = x->ip;
        dn = x->il + x->fl;
    } else {
        size_t z = 0;
        while (z < x->fl && x->fp[z] == '0')
            z++;
        d = x->fp + z;
        dn = x->fl - z;
        e = -(long)z;
    }
    if (x->neg)
        b[k++] = '-';
    b[k++] = '0';
    b[k++] = '.';
    for (size_t j = 0; j < dn && j < 800; j++)
        b[k++] = x->il == 0 || j < x->il ? d[j] : x->fp[j - x->il];
    snprintf(b + k, sizeof b - k, "e%ld", e);
    return single ? (double)strtof(b, NULL) : strtod(b, NULL);
}

/* ---- conversions: each returns 0, or -1 with *why (NULL: no such conversion) ---- */

static int w2k_no_conversion(const char **why)
{
    *why = NULL;
    return -1;
}

/* A copy of a constant's value into dst (with its own buffer when it has one). */
static int w2k_copy_val(uint8_t type, const w2k_fval_t *v, const char *buf, w2k_fval_t *dst,
                        char **dbuf, const char **why)
{
    *dst = *v;
    *dbuf = NULL;
    if (!buf || v->null)
        return 0;
    size_t len = type == FT_NUM ? v->u.num.il + v->u.num.fl : v->u.s.n;
    const char *base = type == FT_NUM ? v->u.num.ip : v->u.s.p;
    char *b = malloc(len + 1);
    if (!b) {
        *why = "out of memory";
        return -1;
    }
    memcpy(b, base, len);
    b[len] = '\0';
    if (type == FT_NUM) {
        dst->u.num.ip = b;
        dst->u.num.fp = b + v->u.num.il;
    } else {
        dst->u.s.p = b;
    }
    *dbuf = b;
    return 0;
}

/* A string of n bytes at s as a text-like value with its own copy. */
static int w2k_text_value(const char *s, size_t n, w2k_fval_t *out, char **obuf, const char **why)
{
    w2k_fval_t t = {.u.s = {s, n}};
    return w2k_copy_val(FT_TEXT, &t, s, out, obuf, why);
}

/* From an untyped literal, text or char(n): PostgreSQL's input function of the type. */
static int w2k_from_text(uint8_t from, const char *s, size_t n, uint8_t to, uint32_t toid,
                         w2k_fval_t *out, char **obuf, const char **why)
{
    char u[37];
    switch (to) {
    case FT_TEXT:
    case FT_BPCHAR:
    case FT_UNKNOWN:
        if (from == FT_BPCHAR && to == FT_TEXT)
            while (n > 0 && s[n - 1] == ' ')
                n--;
        return w2k_text_value(s, n, out, obuf, why);
    case FT_BOOL:
        *why = "invalid input syntax for type boolean";
        return w2k_pginput_bool(s, n, &out->u.b);
    case FT_INT:
        return w2k_pginput_int(s, n, toid, &out->u.i, why);
    case FT_NUM:
        return w2k_pginput_numeric(s, n, &out->u.num, obuf, why);
    case FT_FLOAT:
        return w2k_pginput_float(s, n, toid == W2K_OID_FLOAT4, &out->u.d, why);
    case FT_DATE:
        return w2k_pginput_date(s, n, &out->u.i, why);
    case FT_TS:
    case FT_TSTZ:
        return w2k_pginput_timestamp(s, n, to == FT_TSTZ, &out->u.i, why);
    case FT_UUID:
        *why = "invalid input syntax for type uuid";
        if (w2k_pginput_uuid(s, n, u) != 0)
            return -1;
        return w2k_text_value(u, 36, out, obuf, why);
    default:
        return w2k_no_conversion(why);
    }
}

/* The range of an integer type. */
static void w2k_int_range(uint32_t toid, int64_t *lo, int64_t *hi)
{
    *lo = toid == W2K_OID_INT2 ? INT16_MIN : toid == W2K_OID_INT4 ? INT32_MIN : INT64_MIN;
    *hi = toid == W2K_OID_INT2 ? INT16_MAX : toid == W2K_OID_INT4 ? INT32_MAX : INT64_MAX;
}

/* A magnitude and sign in the range of toid. */
static int w2k_int_in_range(bool neg, uint64_t u, bool ovf, uint32_t toid, int64_t *out,
                            const char **why)
{
    int64_t lo, hi;
    w2k_int_range(toid, &lo, &hi);
    if (ovf || (neg ? u > (uint64_t)0 - (uint64_t)lo : u > (uint64_t)hi)) {
        *why = toid == W2K_OID_INT2 ? "smallint out of range" : "integer out of range";
        return -1;
    }
    *out = neg ? (int64_t)((uint64_t)0 - u) : (int64_t)u;
    return 0;
}

/* To an integer type: another integer's range checked, a numeric rounded half away
 * from zero. */
static int w2k_to_int(uint8_t from, const w2k_fval_t *v, uint32_t toid, w2k_fval_t *out,
                      const char **why)
{
    if (from == FT_INT) {
        int64_t x = v->u.i;
        uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
        return w2k_int_in_range(x < 0, u, false, toid, &out->u.i, why);
    }
    if (from != FT_NUM)
        return w2k_no_conversion(why);
    const w2k_fnum_t *x = &v->u.num;
    if (x->special != NUM_FINITE) {
        *why = "cannot convert NaN or Infinity to integer";
        return -1;
    }
    uint64_t u = 0;
    bool ovf = x->il > 19;
    for (size_t i = 0; i < x->il && !ovf; i++) {
        if (u > (UINT64_MAX - 9) / 10)
            ovf = true;
        u = u * 10 + (uint64_t)(x->ip[i] - '0');
    }
    if (x->fl > 0 && x->fp[0] >= '5')
        u++;
    return w2k_int_in_range(x->neg, u, ovf, toid, &out->u.i, why);
}

/* To numeric: from an integer or a double (through its 17 significant digits). */
static int w2k_to_num(uint8_t from, const w2k_fval_t *v, w2k_fval_t *out, char **obuf,
                      const char **why)
{
    if (from == FT_INT) {
        char b[24];
        w2k_fval_t t;
        w2k_fnum_from_int(v->u.i, b, &t.u.num);
        t.null = false;
        return w2k_copy_val(FT_NUM, &t, b, out, obuf, why);
    }
    if (from != FT_FLOAT)
        return w2k_no_conversion(why);
    double d = v->u.d;
    if (isnan(d) || isinf(d)) {
        out->u.num.special = isnan(d) ? NUM_NAN : d > 0 ? NUM_PINF : NUM_NINF;
        return 0;
    }
    char b[64];
    int k = snprintf(b, sizeof b, "%.17g", d);
    return w2k_pginput_numeric(b, (size_t)k, &out->u.num, obuf, why);
}

/* To real or double precision. */
static int w2k_to_float(uint8_t from, const w2k_fval_t *v, uint32_t toid, w2k_fval_t *out,
                        const char **why)
{
    bool single = toid == W2K_OID_FLOAT4;
    if (from == FT_INT) {
        out->u.d = single ? (double)(float)v->u.i : (double)v->u.i;
        return 0;
    }
    if (from == FT_NUM) {
        out->u.d = w2k_fnum_to_double(&v->u.num, single);
        if (isinf(out->u.d) && v->u.num.special == NUM_FINITE) {
            *why = "value out of range for type double precision";
            return -1;
        }
        return 0;
    }
    if (from == FT_FLOAT) {
        out->u.d = single ? (double)(float)v->u.d : v->u.d;
        return 0;
    }
    return w2k_no_conversion(why);
}

/* To text: an integer or a boolean as PostgreSQL prints it. */
static int w2k_to_text(uint8_t from, const w2k_fval_t *v, w2k_fval_t *out, char **obuf,
                       const char **why)
{
    char b[24];
    if (from != FT_INT && from != FT_BOOL)
        return w2k_no_conversion(why);
    int k = from == FT_INT ? snprintf(b, sizeof b, "%lld", (long long)v->u.i)
                           : snprintf(b, sizeof b, "%s", v->u.b ? "true" : "false");
    return w2k_text_value(b, (size_t)k, out, obuf, why);
}

/* To timestamp or timestamptz: a date at midnight, or the other timestamp type. */
static int w2k_to_time(uint8_t from, const w2k_fval_t *v, w2k_fval_t *out, const char **why)
{
    if (from == FT_DATE) {
        int64_t d = v->u.i;
        out->u.i = d == INT64_MIN || d == INT64_MAX ? d : d * W2K_USEC_PER_DAY;
        return 0;
    }
    if (from != FT_TS && from != FT_TSTZ)
        return w2k_no_conversion(why);
    out->u.i = v->u.i;
    return 0;
}

/* Convert a constant to another type (see filter_int.h). */
int w2k_fval_convert(uint8_t from, const w2k_fval_t *v, const char *vbuf, uint8_t to, uint32_t toid,
                     w2k_fval_t *out, char **obuf, const char **why)
{
    memset(out, 0, sizeof *out);
    *obuf = NULL;
    if (v->null || from == FT_NULL) {
        out->null = true;
        return 0;
    }
    if (from == to && to != FT_INT && to != FT_FLOAT)
        return w2k_copy_val(from, v, vbuf, out, obuf, why);
    if (from == FT_UNKNOWN || from == FT_TEXT || from == FT_BPCHAR)
        return w2k_from_text(from, v->u.s.p, v->u.s.n, to, toid, out, obuf, why);
    switch (to) {
    case FT_TEXT:
        return w2k_to_text(from, v, out, obuf, why);
    case FT_INT:
        return w2k_to_int(from, v, toid, out, why);
    case FT_NUM:
        return w2k_to_num(from, v, out, obuf, why);
    case FT_FLOAT:
        return w2k_to_float(from, v, toid, out, why);
    case FT_TS:
    case FT_TSTZ:
        return w2k_to_time(from, v, out, why);
    default:
        return w2k_no_conversion(why);
    }
}
