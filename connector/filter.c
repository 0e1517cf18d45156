/* filter.c — row filters: a SQL boolean expression (the subset filter.h lists) lexed
 * and parsed into a tree once, bound to a relation (column names to indices, untyped
 * literals to the types they meet, every comparison to one typed comparison mode), and
 * evaluated per row on the text datums of the pgoutput stream with SQL's three-valued
 * logic. Binding compiles literals to typed values; evaluation parses only the column
 * values it needs, in place, and allocates nothing. */
#include "filter.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define W2K_USEC_PER_DAY INT64_C(86400000000)

/* PostgreSQL's first OID for user-defined objects: a column of such a type that maps to
 * text is an enum (or a domain over text) and only supports equality. */
#define W2K_FIRST_USER_OID 16384
#define W2K_OID_NAME       19

/* Longest identifier PostgreSQL keeps (NAMEDATALEN - 1). */
#define W2K_IDENT_MAX 63

/* Longest literal quoted in an error message. */
#define W2K_QUOTE_MAX 40

/* ---- values ---- */

/* Value types. */
enum {
    FT_NULL,    /* an untyped NULL literal */
    FT_UNKNOWN, /* an untyped 'string' literal: takes the type it meets */
    FT_BOOL,
    FT_INT,    /* smallint, integer, bigint: u.i */
    FT_NUM,    /* numeric: u.num */
    FT_FLOAT,  /* real, double precision: u.d (real widened) */
    FT_TEXT,   /* text, varchar, name: u.s */
    FT_BPCHAR, /* char(n): u.s with its trailing spaces */
    FT_DATE,   /* u.i days since 2000-01-01, INT64_MIN/MAX for -infinity/infinity */
    FT_TS,     /* u.i microseconds since 2000-01-01, INT64_MIN/MAX for ±infinity */
    FT_TSTZ,   /* same, UTC */
    FT_UUID,   /* u.s: 36 bytes, lower-case canonical form */
    FT_OTHER   /* a column of an unsupported type: IS [NOT] NULL only */
};

/* Comparison modes: the type both sides are compared in. */
enum { M_BOOL, M_INT, M_NUM, M_FLOAT, M_TEXT, M_BPCHAR, M_DATE, M_TIME, M_UUID };

/* A numeric: sign and digits without leading zeros (integer part) or trailing zeros
 * (fraction); zero has no digits and is never negative. */
enum { NUM_FINITE, NUM_NINF, NUM_PINF, NUM_NAN };
typedef struct w2k_fnum_s {
    uint8_t special;
    bool neg;
    const char *ip; /* integer digits */
    size_t il;
    const char *fp; /* fraction digits */
    size_t fl;
} w2k_fnum_t;

typedef struct w2k_fval_s {
    bool null;
    union {
        bool b;
        int64_t i;
        double d;
        struct {
            const char *p;
            size_t n;
        } s;
        w2k_fnum_t num;
    } u;
} w2k_fval_t;

/* ---- trees ---- */

enum {
    N_CONST,
    N_COL,
    N_AND,      /* kids */
    N_OR,       /* kids */
    N_NOT,      /* a */
    N_CMP,      /* a op b */
    N_DISTINCT, /* a IS [NOT] DISTINCT FROM b; neg: IS NOT DISTINCT */
    N_IN,       /* a IN (kids); NOT IN is N_NOT over it */
    N_LIKE,     /* a LIKE pattern; op 1 for ILIKE */
    N_ISNULL,   /* a IS [NOT] NULL */
    N_ISBOOL    /* a IS [NOT] {TRUE, FALSE, UNKNOWN}; op 1, 0, 2 */
};

enum { OP_EQ, OP_NE, OP_LT, OP_LE, OP_GT, OP_GE };

/* LIKE pattern pieces. */
enum { LK_BYTE, LK_ONE, LK_ANY };

typedef struct w2k_like_s {
    char *lit;     /* LK_BYTE bytes (ASCII-folded for ILIKE) */
    uint8_t *kind; /* LK_* per piece */
    size_t n;
} w2k_like_t;

/* A node as parsed; immutable after parsing. */
typedef struct w2k_pnode_s {
    uint8_t kind;
    uint8_t op;
    bool neg;
    size_t off, end; /* source span, for messages */
    size_t opoff;    /* the operator's offset (N_CMP, N_DISTINCT, N_LIKE, N_IN) */
    int a, b;        /* children */
    int first, n;    /* N_AND, N_OR, N_IN: children in pkids */
    /* N_CONST */
    uint8_t type;
    uint32_t oid; /* the literal's type where it matters (int width, real, varchar) */
    w2k_fval_t v;
    char *buf; /* owned storage v points into */
    /* N_COL */
    char *name;
    /* N_LIKE */
    w2k_like_t like; /* the compiled pattern; like_null: the pattern is NULL */
    bool like_null;
} w2k_pnode_t;

/* A node as bound, for evaluation. */
typedef struct w2k_bnode_s {
    uint8_t kind;
    uint8_t op;
    uint8_t mode; /* N_CMP, N_DISTINCT */
    uint8_t type; /* the value type (N_CONST, N_COL) */
    uint8_t ta;   /* N_CMP, N_DISTINCT, N_IN: the type of a */
    uint8_t tb;   /* N_CMP, N_DISTINCT: the type of b */
    bool neg;
    bool single; /* N_COL of type real */
    int a, b;
    int first, n; /* children in bkids */
    int col;      /* N_COL */
    w2k_fval_t v; /* N_CONST */
    char *buf;    /* owned storage v points into */
    const w2k_like_t *like;
    bool like_null;
} w2k_bnode_t;

/* A child of N_AND, N_OR, N_IN; mode: N_IN's comparison mode for this element. */
typedef struct w2k_bkid_s {
    int node;
    uint8_t mode;
    uint8_t type; /* the element's value type */
} w2k_bkid_t;

struct w2k_filter_s {
    char *text;
    w2k_pnode_t *pn;
    int npn, cappn;
    int *pkids;
    int npkids, cappkids;
    int proot;
    /* bound state */
    bool bound;
    w2k_bnode_t *bn;
    int nbn, capbn;
    w2k_bkid_t *bkids;
    int nbkids, capbkids;
    int broot;
    int ncols;
    bool *used; /* ncols: referenced at all */
    int *need;  /* columns whose value is needed (not only IS NULL) */
    int nneed;
    bool *isneed; /* ncols */
};

/* ---- small helpers ---- */

static bool w2k_f_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

static bool w2k_f_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static char w2k_f_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Case-insensitive (ASCII) equality of s[0..n) and the lower-case word w. */
static bool w2k_f_ieq(const char *s, size_t n, const char *w)
{
    size_t k = strlen(w);
    if (k != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (w2k_f_lower(s[i]) != w[i])
            return false;
    return true;
}

static void w2k_f_trim(const char **s, size_t *n)
{
    while (*n > 0 && w2k_f_isspace(**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n > 0 && w2k_f_isspace((*s)[*n - 1]))
        (*n)--;
}

/* Bytes of the UTF-8 character starting with byte c (1 for anything malformed). */
static size_t w2k_f_u8len(unsigned char c)
{
    if (c < 0xc0)
        return 1;
    if (c < 0xe0)
        return 2;
    if (c < 0xf0)
        return 3;
    if (c < 0xf8)
        return 4;
    return 1;
}

static const char *w2k_ftype_name(uint8_t t, uint32_t oid)
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

/* ---- numeric ---- */

/* Read a numeric as PostgreSQL prints it: NaN, Infinity, -Infinity or
 * [-]digits[.digits]. Points into s. */
static int w2k_num_from_row(const char *s, size_t n, w2k_fnum_t *x)
{
    x->special = NUM_FINITE;
    x->neg = false;
    x->ip = x->fp = s;
    x->il = x->fl = 0;
    if (n == 0)
        return -1;
    if (!w2k_f_isdigit(s[0]) && s[0] != '-') {
        if (n == 3 && memcmp(s, "NaN", 3) == 0)
            x->special = NUM_NAN;
        else if (n == 8 && memcmp(s, "Infinity", 8) == 0)
            x->special = NUM_PINF;
        else
            return -1;
        return 0;
    }
    size_t i = 0;
    if (s[0] == '-') {
        if (n == 9 && memcmp(s, "-Infinity", 9) == 0) {
            x->special = NUM_NINF;
            return 0;
        }
        x->neg = true;
        i = 1;
    }
    size_t digits_at = i;
    while (i < n && s[i] == '0')
        i++;
    size_t st = i;
    while (i < n && w2k_f_isdigit(s[i]))
        i++;
    x->ip = s + st;
    x->il = i - st;
    size_t ndig = i - digits_at;
    x->fp = s + i;
    if (i < n && s[i] == '.') {
        i++;
        st = i;
        while (i < n && w2k_f_isdigit(s[i]))
            i++;
        ndig += i - st;
        size_t e = i;
        while (e > st && s[e - 1] == '0')
            e--;
        x->fp = s + st;
        x->fl = e - st;
    }
    if (i != n || ndig == 0)
        return -1;
    if (x->il == 0 && x->fl == 0)
        x->neg = false;
    return 0;
}

/* Read numeric input syntax (what numeric_in takes: whitespace, sign, digits with an
 * optional point and exponent, NaN, [+-]Infinity, [+-]inf) into a normalized numeric
 * whose digits live in a new *buf. Returns 0, or -1 with *why. */
static int w2k_num_from_input(const char *s, size_t n, w2k_fnum_t *x, char **buf, const char **why)
{
    memset(x, 0, sizeof *x);
    *buf = NULL;
    *why = "invalid input syntax for type numeric";
    w2k_f_trim(&s, &n);
    bool neg = false;
    const char *w = s;
    size_t wn = n;
    if (wn > 0 && (w[0] == '+' || w[0] == '-')) {
        neg = w[0] == '-';
        w++;
        wn--;
    }
    if (w2k_f_ieq(s, n, "nan")) {
        x->special = NUM_NAN;
        return 0;
    }
    if (w2k_f_ieq(w, wn, "infinity") || w2k_f_ieq(w, wn, "inf")) {
        x->special = neg ? NUM_NINF : NUM_PINF;
        return 0;
    }
    size_t i = 0, idig = 0, fdig = 0;
    const char *ip = w, *fp = w;
    while (i < wn && w2k_f_isdigit(w[i]))
        i++;
    idig = i;
    if (i < wn && w[i] == '.') {
        i++;
        fp = w + i;
        while (i < wn && w2k_f_isdigit(w[i]))
            i++;
        fdig = (size_t)(w + i - fp);
    }
    if (idig + fdig == 0)
        return -1;
    long exp = 0;
    if (i < wn && (w[i] == 'e' || w[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < wn && (w[i] == '+' || w[i] == '-'))
            eneg = w[i++] == '-';
        size_t st = i;
        while (i < wn && w2k_f_isdigit(w[i])) {
            if (exp > 1000000) {
                *why = "exponent out of range for type numeric";
                return -1;
            }
            exp = exp * 10 + (w[i++] - '0');
        }
        if (i == st)
            return -1;
        if (eneg)
            exp = -exp;
    }
    if (i != wn)
        return -1;
    /* all digits d[0..nd) with the point after position pt */
    size_t nd = idig + fdig;
    long pt = (long)idig + exp;
    size_t lead = 0, trail = 0;
    while (lead < nd && (lead < idig ? ip[lead] : fp[lead - idig]) == '0')
        lead++;
    while (trail < nd - lead &&
           ((nd - 1 - trail) < idig ? ip[nd - 1 - trail] : fp[nd - 1 - trail - idig]) == '0')
        trail++;
    size_t sig = nd - lead - trail;
    pt -= (long)lead;
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
        size_t j = lead + (size_t)idx;
        b[k] = idx < 0 || idx >= (long)sig ? '0' : j < idig ? ip[j] : fp[j - idig];
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

/* Order of a numeric's class: -Infinity, finite, Infinity, NaN. */
static int w2k_num_rank(const w2k_fnum_t *x)
{
    return x->special == NUM_NINF     ? 0
           : x->special == NUM_FINITE ? 1
           : x->special == NUM_PINF   ? 2
                                      : 3;
}

/* memcmp for the short digit strings of numerics, without a call. */
static int w2k_digits_cmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return 0;
}

/* Compare two numerics as PostgreSQL does (NaN equal to itself and above all). */
static int w2k_num_cmp(const w2k_fnum_t *x, const w2k_fnum_t *y)
{
    int rx = w2k_num_rank(x), ry = w2k_num_rank(y);
    if (rx != ry)
        return rx < ry ? -1 : 1;
    if (rx != 1)
        return 0;
    int sx = x->il + x->fl == 0 ? 0 : x->neg ? -1 : 1;
    int sy = y->il + y->fl == 0 ? 0 : y->neg ? -1 : 1;
    if (sx != sy)
        return sx < sy ? -1 : 1;
    if (sx == 0)
        return 0;
    int m;
    if (x->il != y->il) {
        m = x->il < y->il ? -1 : 1;
    } else {
        m = w2k_digits_cmp(x->ip, y->ip, x->il);
        if (m == 0) {
            size_t k = x->fl < y->fl ? x->fl : y->fl;
            m = w2k_digits_cmp(x->fp, y->fp, k);
            if (m == 0)
                m = x->fl == y->fl ? 0 : x->fl < y->fl ? -1 : 1;
        }
    }
    return sx > 0 ? m : -m;
}

/* An integer as a numeric, its digits in buf (24 bytes). */
static void w2k_num_from_int(int64_t v, char *buf, w2k_fnum_t *x)
{
    memset(x, 0, sizeof *x);
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    char *p = buf + 24;
    while (u > 0) {
        *--p = (char)('0' + u % 10);
        u /= 10;
    }
    x->neg = v < 0;
    x->ip = p;
    x->il = (size_t)(buf + 24 - p);
    x->fp = buf + 24;
}

/* A numeric as the nearest double (as PostgreSQL's numeric to float8 cast). */
static double w2k_num_to_double(const w2k_fnum_t *x, bool single)
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

/* Compare doubles as PostgreSQL does (NaN equal to itself and above all). */
static int w2k_float_cmp(double a, double b)
{
    if (isnan(a))
        return isnan(b) ? 0 : 1;
    if (isnan(b))
        return -1;
    return a < b ? -1 : a > b ? 1 : 0;
}

/* ---- reading values from text ---- */

/* Parse an integer of the row's text form ([-]digits). */
static int w2k_int_from_row(const char *s, size_t n, int64_t *out)
{
    size_t i = 0;
    bool neg = n > 0 && s[0] == '-';
    i = neg;
    if (i == n || n - i > 19)
        return -1;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (!w2k_f_isdigit(s[i]))
            return -1;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX + neg)
        return -1;
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return 0;
}

/* Parse a float's text (NUL-terminated copy); with input: as float8in/float4in take
 * it (whitespace, inf, nan); without: the row's text form. */
static int w2k_float_from_text(const char *s, size_t n, bool single, bool input, double *out,
                               const char **why)
{
    char tmp[128];
    *why = single ? "invalid input syntax for type real"
                  : "invalid input syntax for type double precision";
    if (input)
        w2k_f_trim(&s, &n);
    if (n == 0 || n >= sizeof tmp)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (s[i] == 'x' || s[i] == 'X' || s[i] == '(' || w2k_f_isspace(s[i]))
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

/* A boolean as boolin reads it. */
static int w2k_bool_from_input(const char *s, size_t n, bool *out)
{
    w2k_f_trim(&s, &n);
    if (n == 0)
        return -1;
    static const struct {
        const char *word;
        size_t min;
        bool v;
    } words[] = {{"true", 1, true}, {"false", 1, false}, {"yes", 1, true},
                 {"no", 1, false},  {"on", 2, true},     {"off", 2, false}};
    if (n == 1 && (s[0] == '1' || s[0] == '0')) {
        *out = s[0] == '1';
        return 0;
    }
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t k = strlen(words[w].word);
        if (n < words[w].min || n > k)
            continue;
        size_t i = 0;
        while (i < n && w2k_f_lower(s[i]) == words[w].word[i])
            i++;
        if (i == n) {
            *out = words[w].v;
            return 0;
        }
    }
    return -1;
}

/* An integer as int2in/int4in/int8in read it, in the range of oid. */
static int w2k_int_from_input(const char *s, size_t n, uint32_t oid, int64_t *out, const char **why)
{
    w2k_f_trim(&s, &n);
    bool neg = false;
    size_t i = 0;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n) {
        *why = oid == W2K_OID_INT2   ? "invalid input syntax for type smallint"
               : oid == W2K_OID_INT4 ? "invalid input syntax for type integer"
                                     : "invalid input syntax for type bigint";
        return -1;
    }
    uint64_t v = 0;
    bool big = false;
    for (; i < n; i++) {
        if (!w2k_f_isdigit(s[i])) {
            *why = oid == W2K_OID_INT2   ? "invalid input syntax for type smallint"
                   : oid == W2K_OID_INT4 ? "invalid input syntax for type integer"
                                         : "invalid input syntax for type bigint";
            return -1;
        }
        if (v > UINT64_MAX / 10 - 1)
            big = true;
        else
            v = v * 10 + (uint64_t)(s[i] - '0');
    }
    int64_t lo = oid == W2K_OID_INT2 ? INT16_MIN : oid == W2K_OID_INT4 ? INT32_MIN : INT64_MIN;
    int64_t hi = oid == W2K_OID_INT2 ? INT16_MAX : oid == W2K_OID_INT4 ? INT32_MAX : INT64_MAX;
    if (big || (neg ? v > (uint64_t)0 - (uint64_t)lo : v > (uint64_t)hi)) {
        *why = oid == W2K_OID_INT2   ? "out of range for type smallint"
               : oid == W2K_OID_INT4 ? "out of range for type integer"
                                     : "out of range for type bigint";
        return -1;
    }
    *out = neg ? (int64_t)((uint64_t)0 - v) : (int64_t)v;
    return 0;
}

/* A uuid as uuid_in reads it (optional braces, hyphens between digit groups, either
 * case) into its canonical 36-byte form in out. */
static int w2k_uuid_from_input(const char *s, size_t n, char out[37])
{
    if (n >= 2 && s[0] == '{' && s[n - 1] == '}') {
        s++;
        n -= 2;
    }
    int nd = 0;
    char hex[32];
    for (size_t i = 0; i < n; i++) {
        char c = w2k_f_lower(s[i]);
        if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) {
            if (nd == 32)
                return -1;
            hex[nd++] = c;
        } else if (c == '-' && nd > 0 && nd % 4 == 0 && i + 1 < n && s[i + 1] != '-') {
            continue;
        } else {
            return -1;
        }
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

/* Read up to maxd digits at s[*i] into *v; returns how many were read. */
static int w2k_f_digits(const char *s, size_t n, size_t *i, int maxd, long *v)
{
    int k = 0;
    *v = 0;
    while (*i < n && k < maxd && w2k_f_isdigit(s[*i])) {
        *v = *v * 10 + (s[(*i)++] - '0');
        k++;
    }
    return k;
}

/* A date, timestamp or timestamptz literal (the ISO forms filter.h lists, epoch,
 * ±infinity) into u.i of the type's units. */
static int w2k_time_from_input(const char *s, size_t n, uint8_t type, int64_t *out,
                               const char **why)
{
    *why = type == FT_DATE ? "invalid input syntax for type date"
           : type == FT_TS ? "invalid input syntax for type timestamp"
                           : "invalid input syntax for type timestamptz";
    w2k_f_trim(&s, &n);
    if (w2k_f_ieq(s, n, "infinity") || w2k_f_ieq(s, n, "+infinity")) {
        *out = INT64_MAX;
        return 0;
    }
    if (w2k_f_ieq(s, n, "-infinity")) {
        *out = INT64_MIN;
        return 0;
    }
    if (w2k_f_ieq(s, n, "epoch")) {
        *out = type == FT_DATE ? -10957 : -10957 * W2K_USEC_PER_DAY;
        return 0;
    }
    if (w2k_f_ieq(s, n, "now") || w2k_f_ieq(s, n, "today") || w2k_f_ieq(s, n, "tomorrow") ||
        w2k_f_ieq(s, n, "yesterday")) {
        *why = "now, today, tomorrow and yesterday are not constants";
        return -1;
    }
    size_t i = 0;
    long y, mo, d, h = 0, mi = 0, se = 0, oh = 0, om = 0, os = 0;
    long frac = 0;
    int fdig = 0;
    bool has_time = false, has_off = false, offneg = false, bc = false;
    if (w2k_f_digits(s, n, &i, 9, &y) < 4 || i >= n || s[i] != '-')
        return -1;
    i++;
    if (w2k_f_digits(s, n, &i, 2, &mo) < 1 || i >= n || s[i] != '-')
        return -1;
    i++;
    if (w2k_f_digits(s, n, &i, 2, &d) < 1)
        return -1;
    if (i < n && (s[i] == 'T' || s[i] == 't' || s[i] == ' ') && i + 1 < n &&
        w2k_f_isdigit(s[i + 1])) {
        i++;
        has_time = true;
        if (w2k_f_digits(s, n, &i, 2, &h) < 1 || i >= n || s[i] != ':')
            return -1;
        i++;
        if (w2k_f_digits(s, n, &i, 2, &mi) != 2)
            return -1;
        if (i < n && s[i] == ':') {
            i++;
            if (w2k_f_digits(s, n, &i, 2, &se) != 2)
                return -1;
            if (i < n && s[i] == '.') {
                i++;
                fdig = w2k_f_digits(s, n, &i, 6, &frac);
                if (fdig == 0)
                    return -1;
                if (i < n && w2k_f_isdigit(s[i])) {
                    *why = "more than 6 fractional digits of a second";
                    return -1;
                }
            }
        }
        size_t j = i;
        while (j < n && s[j] == ' ')
            j++;
        if (j < n && (s[j] == 'Z' || s[j] == 'z')) {
            has_off = true;
            i = j + 1;
        } else if (j + 3 <= n && w2k_f_ieq(s + j, 3, "utc")) {
            has_off = true;
            i = j + 3;
        } else if (j < n && (s[j] == '+' || s[j] == '-')) {
            has_off = true;
            offneg = s[j] == '-';
            i = j + 1;
            if (w2k_f_digits(s, n, &i, 2, &oh) < 1)
                return -1;
            bool colon = i < n && s[i] == ':';
            if (colon)
                i++;
            if (i < n && w2k_f_isdigit(s[i])) {
                if (w2k_f_digits(s, n, &i, 2, &om) != 2)
                    return -1;
                if (i < n && (s[i] == ':' || (!colon && w2k_f_isdigit(s[i])))) {
                    if (s[i] == ':')
                        i++;
                    if (w2k_f_digits(s, n, &i, 2, &os) != 2)
                        return -1;
                }
            } else if (colon) {
                return -1;
            }
        }
    }
    if (i + 3 == n && s[i] == ' ' && w2k_f_ieq(s + i + 1, 2, "bc")) {
        bc = true;
        i = n;
    } else if (i + 3 == n && s[i] == ' ' && w2k_f_ieq(s + i + 1, 2, "ad")) {
        i = n;
    }
    if (i != n)
        return -1;
    if (has_time && (h > 23 || mi > 59 || se > 59))
        return -1;
    if (has_off && (oh > 15 || om > 59 || os > 59))
        return -1;
    for (int k = fdig; k < 6; k++)
        frac *= 10;
    /* the form PostgreSQL prints, parsed by pgtypes */
    char b[96];
    int k;
    if (type == FT_DATE) {
        k = snprintf(b, sizeof b, "%04ld-%02ld-%02ld%s", y, mo, d, bc ? " BC" : "");
        int32_t days;
        if (w2k_pgtext_date(b, (size_t)k, &days, why) != 0) {
            *why = "date out of range or not a date";
            return -1;
        }
        *out = days;
        return 0;
    }
    long off = (oh * 3600 + om * 60 + os) * (offneg ? -1 : 1);
    if (type == FT_TS || !has_off)
        off = 0;
    long aoff = off < 0 ? -off : off;
    k = snprintf(b, sizeof b, "%04ld-%02ld-%02ld %02ld:%02ld:%02ld.%06ld", y, mo, d, h, mi, se,
                 frac);
    if (type == FT_TSTZ)
        k += snprintf(b + k, sizeof b - (size_t)k, "%c%02ld:%02ld:%02ld", off < 0 ? '-' : '+',
                      aoff / 3600, aoff / 60 % 60, aoff % 60);
    if (bc)
        k += snprintf(b + k, sizeof b - (size_t)k, " BC");
    if (w2k_pgtext_timestamp(b, (size_t)k, type == FT_TSTZ, out, why) != 0) {
        *why = "timestamp out of range or not a timestamp";
        return -1;
    }
    return 0;
}

/* ---- the lexer ---- */

enum {
    T_EOF,
    T_IDENT,  /* text: folded to lower case */
    T_QIDENT, /* text: the quoted name */
    T_STRING, /* text: the string's value */
    T_NUMBER,
    T_OP, /* an operator we do not support */
    T_EQ,
    T_NE,
    T_LT,
    T_LE,
    T_GT,
    T_GE,
    T_PLUS,
    T_MINUS,
    T_LPAREN,
    T_RPAREN,
    T_COMMA,
    T_CAST,
    T_DOT,
    T_LBRACKET,
    T_PARAM,
    T_OTHER /* any other character */
};

typedef struct w2k_tok_s {
    int k;
    size_t off, len; /* source span */
    char *text;      /* T_IDENT, T_QIDENT, T_STRING: NUL-terminated, owned */
    size_t tlen;
} w2k_tok_t;

typedef struct w2k_parser_s {
    w2k_filter_t *f;
    const char *src;
    w2k_tok_t *toks;
    int ntoks, cap;
    int pos;
    int depth; /* nesting of the recursive descent */
    char *err;
    size_t errsz;
} w2k_parser_t;

/* Deepest nesting accepted (parentheses, NOT, unary signs), to bound the recursion. */
#define W2K_MAX_DEPTH 1000

/* Write "filter: at offset N: <message>" to err. Returns -1. */
static int w2k_f_fail(char *err, size_t errsz, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int w2k_f_fail(char *err, size_t errsz, size_t off, const char *fmt, ...)
{
    if (!err || errsz == 0)
        return -1;
    int k = snprintf(err, errsz, "filter: at offset %zu: ", off);
    if (k >= 0 && (size_t)k < errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + k, errsz - (size_t)k, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* s[0..n) made printable and cut to W2K_QUOTE_MAX bytes (with "..."), in out. */
static const char *w2k_f_quote(const char *s, size_t n, char *out, size_t outsz)
{
    size_t k = 0, lim = n > W2K_QUOTE_MAX ? W2K_QUOTE_MAX : n;
    for (size_t i = 0; i < lim && k + 4 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        out[k++] = (c < 0x20 || c == 0x7f) ? ' ' : (char)c;
    }
    if (lim < n && k + 4 < outsz) {
        memcpy(out + k, "...", 3);
        k += 3;
    }
    out[k] = '\0';
    return out;
}

static int w2k_lex_push(w2k_parser_t *P, int k, size_t off, size_t len, char *text, size_t tlen)
{
    if (P->ntoks == P->cap) {
        int nc = P->cap ? P->cap * 2 : 32;
        w2k_tok_t *t = realloc(P->toks, (size_t)nc * sizeof *t);
        if (!t) {
            free(text);
            return w2k_f_fail(P->err, P->errsz, off, "out of memory");
        }
        P->toks = t;
        P->cap = nc;
    }
    P->toks[P->ntoks++] = (w2k_tok_t){k, off, len, text, tlen};
    return 0;
}

static bool w2k_is_ident_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool w2k_is_ident_char(char c)
{
    return w2k_is_ident_start(c) || w2k_f_isdigit(c) || c == '$';
}

static bool w2k_is_op_char(char c)
{
    return c != '\0' && strchr("+-*/<>=~!@#%^&|`?", c) != NULL;
}

/* Unescape a quoted token ('...' or "...", the quote doubled inside) starting at
 * src[i]; *end: just past it. Returns the value (owned) or NULL when unterminated. */
static char *w2k_lex_quoted(const char *src, size_t i, char q, size_t *end, size_t *vlen)
{
    size_t n = 0, j = i + 1;
    for (;;) {
        if (src[j] == '\0')
            return NULL;
        if (src[j] == q) {
            if (src[j + 1] == q) {
                j += 2;
                n++;
                continue;
            }
            break;
        }
        j++;
        n++;
    }
    char *v = malloc(n + 1);
    if (!v)
        return NULL;
    size_t k = 0;
    for (j = i + 1; src[j] != q || src[j + 1] == q; j++) {
        v[k++] = src[j];
        if (src[j] == q)
            j++;
    }
    v[k] = '\0';
    *end = j + 1;
    *vlen = k;
    return v;
}

/* Split the expression into tokens. */
static int w2k_lex(w2k_parser_t *P)
{
    const char *s = P->src;
    size_t i = 0;
    while (s[i] != '\0') {
        char c = s[i];
        if (w2k_f_isspace(c)) {
            i++;
            continue;
        }
        if (c == '-' && s[i + 1] == '-') {
            while (s[i] != '\0' && s[i] != '\n')
                i++;
            continue;
        }
        if (c == '/' && s[i + 1] == '*') {
            size_t st = i;
            int depth = 0;
            do {
                if (s[i] == '/' && s[i + 1] == '*') {
                    depth++;
                    i += 2;
                } else if (s[i] == '*' && s[i + 1] == '/') {
                    depth--;
                    i += 2;
                } else if (s[i] == '\0') {
                    return w2k_f_fail(P->err, P->errsz, st, "unterminated /* comment");
                } else {
                    i++;
                }
            } while (depth > 0);
            continue;
        }
        size_t st = i;
        if (c == '\'' || c == '"') {
            size_t end, vlen;
            char *v = w2k_lex_quoted(s, i, c, &end, &vlen);
            if (!v)
                return w2k_f_fail(P->err, P->errsz, st, "unterminated %s",
                                  c == '\'' ? "string literal" : "quoted identifier");
            if (c == '"' && vlen == 0) {
                free(v);
                return w2k_f_fail(P->err, P->errsz, st, "zero-length quoted identifier \"\"");
            }
            if (c == '"' && vlen > W2K_IDENT_MAX) {
                size_t cut = W2K_IDENT_MAX;
                while (cut > 0 && ((unsigned char)v[cut] & 0xc0) == 0x80)
                    cut--;
                v[cut] = '\0';
                vlen = cut;
            }
            if (w2k_lex_push(P, c == '\'' ? T_STRING : T_QIDENT, st, end - st, v, vlen) != 0)
                return -1;
            i = end;
            continue;
        }
        if (w2k_is_ident_start(c)) {
            while (w2k_is_ident_char(s[i]))
                i++;
            size_t n = i - st;
            if (s[i] == '\'' && n == 1 && strchr("eEbBxXnN", c))
                return w2k_f_fail(P->err, P->errsz, st,
                                  "%c'...' string constants are not supported (use '...')", c);
            if (s[i] == '&' && n == 1 && (c == 'u' || c == 'U') &&
                (s[i + 1] == '\'' || s[i + 1] == '"'))
                return w2k_f_fail(P->err, P->errsz, st,
                                  "U&'...' Unicode escapes are not supported");
            size_t keep = n;
            if (keep > W2K_IDENT_MAX) {
                keep = W2K_IDENT_MAX;
                while (keep > 0 && ((unsigned char)s[st + keep] & 0xc0) == 0x80)
                    keep--;
            }
            char *v = malloc(keep + 1);
            if (!v)
                return w2k_f_fail(P->err, P->errsz, st, "out of memory");
            for (size_t k = 0; k < keep; k++)
                v[k] = w2k_f_lower(s[st + k]);
            v[keep] = '\0';
            if (w2k_lex_push(P, T_IDENT, st, n, v, keep) != 0)
                return -1;
            continue;
        }
        if (w2k_f_isdigit(c) || (c == '.' && w2k_f_isdigit(s[i + 1]))) {
            while (w2k_f_isdigit(s[i]))
                i++;
            if (s[i] == '.' && s[i + 1] != '.') {
                i++;
                while (w2k_f_isdigit(s[i]))
                    i++;
            }
            if ((s[i] == 'e' || s[i] == 'E') &&
                (w2k_f_isdigit(s[i + 1]) ||
                 ((s[i + 1] == '+' || s[i + 1] == '-') && w2k_f_isdigit(s[i + 2])))) {
                i += 2;
                while (w2k_f_isdigit(s[i]))
                    i++;
            }
            if (w2k_is_ident_char(s[i]) || s[i] == '.')
                return w2k_f_fail(P->err, P->errsz, st, "trailing junk after numeric literal: %.*s",
                                  (int)(i + 1 - st), s + st);
            if (w2k_lex_push(P, T_NUMBER, st, i - st, NULL, 0) != 0)
                return -1;
            continue;
        }
        if (w2k_is_op_char(c)) {
            size_t n = 0;
            bool special = false;
            while (w2k_is_op_char(s[i + n])) {
                if (n > 0 && ((s[i + n] == '-' && s[i + n + 1] == '-') ||
                              (s[i + n] == '/' && s[i + n + 1] == '*')))
                    break;
                if (strchr("~!@#%^&|`?", s[i + n]))
                    special = true;
                n++;
            }
            while (n > 1 && !special && (s[i + n - 1] == '+' || s[i + n - 1] == '-'))
                n--;
            int k = T_OP;
            if (n == 1)
                k = c == '='   ? T_EQ
                    : c == '<' ? T_LT
                    : c == '>' ? T_GT
                    : c == '+' ? T_PLUS
                    : c == '-' ? T_MINUS
                               : T_OP;
            else if (n == 2 && ((c == '<' && s[i + 1] == '>') || (c == '!' && s[i + 1] == '=')))
                k = T_NE;
            else if (n == 2 && s[i + 1] == '=' && (c == '<' || c == '>'))
                k = c == '<' ? T_LE : T_GE;
            if (w2k_lex_push(P, k, st, n, NULL, 0) != 0)
                return -1;
            i += n;
            continue;
        }
        int k = T_OTHER;
        size_t n = 1;
        if (c == '(')
            k = T_LPAREN;
        else if (c == ')')
            k = T_RPAREN;
        else if (c == ',')
            k = T_COMMA;
        else if (c == '[')
            k = T_LBRACKET;
        else if (c == '.')
            k = T_DOT;
        else if (c == ':' && s[i + 1] == ':') {
            k = T_CAST;
            n = 2;
        } else if (c == '$') {
            if (w2k_f_isdigit(s[i + 1])) {
                k = T_PARAM;
                while (w2k_f_isdigit(s[i + n]))
                    n++;
            } else {
                return w2k_f_fail(P->err, P->errsz, st,
                                  "dollar-quoted strings are not supported (use '...')");
            }
        } else if ((unsigned char)c >= 0x80) {
            n = w2k_f_u8len((unsigned char)c);
        }
        if (w2k_lex_push(P, k, st, n, NULL, 0) != 0)
            return -1;
        i += n;
    }
    return w2k_lex_push(P, T_EOF, i, 0, NULL, 0);
}

/* ---- the parser ---- */

static const w2k_tok_t *w2k_peek(const w2k_parser_t *P, int ahead)
{
    int i = P->pos + ahead;
    return &P->toks[i < P->ntoks ? i : P->ntoks - 1];
}

/* Whether token t is the (unquoted) keyword kw. */
static bool w2k_is_kw(const w2k_tok_t *t, const char *kw)
{
    return t->k == T_IDENT && strcmp(t->text, kw) == 0;
}

static bool w2k_accept_kw(w2k_parser_t *P, const char *kw)
{
    if (w2k_is_kw(w2k_peek(P, 0), kw)) {
        P->pos++;
        return true;
    }
    return false;
}

/* A syntax error at token t. */
static int w2k_syntax(w2k_parser_t *P, const w2k_tok_t *t)
{
    if (t->k == T_EOF)
        return w2k_f_fail(P->err, P->errsz, t->off, "syntax error at end of expression");
    return w2k_f_fail(P->err, P->errsz, t->off, "syntax error at or near \"%.*s\"", (int)t->len,
                      P->src + t->off);
}

static int w2k_new_pnode(w2k_parser_t *P, int kind, size_t off, size_t end)
{
    w2k_filter_t *f = P->f;
    if (f->npn == f->cappn) {
        int nc = f->cappn ? f->cappn * 2 : 16;
        w2k_pnode_t *n = realloc(f->pn, (size_t)nc * sizeof *n);
        if (!n)
            return w2k_f_fail(P->err, P->errsz, off, "out of memory");
        f->pn = n;
        f->cappn = nc;
    }
    w2k_pnode_t *p = &f->pn[f->npn];
    memset(p, 0, sizeof *p);
    p->kind = (uint8_t)kind;
    p->off = off;
    p->end = end;
    p->a = p->b = -1;
    return f->npn++;
}

static int w2k_push_pkid(w2k_parser_t *P, int node)
{
    w2k_filter_t *f = P->f;
    if (f->npkids == f->cappkids) {
        int nc = f->cappkids ? f->cappkids * 2 : 16;
        int *k = realloc(f->pkids, (size_t)nc * sizeof *k);
        if (!k)
            return w2k_f_fail(P->err, P->errsz, 0, "out of memory");
        f->pkids = k;
        f->cappkids = nc;
    }
    f->pkids[f->npkids++] = node;
    return 0;
}

/* A node with two children (N_CMP, N_DISTINCT, N_AND/N_OR of two). */
static int w2k_binary(w2k_parser_t *P, int kind, int op, size_t off, int a, int b)
{
    w2k_filter_t *f = P->f;
    size_t st = f->pn[a].off < off ? f->pn[a].off : off;
    int n = w2k_new_pnode(P, kind, st, f->pn[b].end);
    if (n < 0)
        return -1;
    f->pn[n].op = (uint8_t)op;
    f->pn[n].opoff = off;
    if (kind == N_AND || kind == N_OR) {
        f->pn[n].first = f->npkids;
        f->pn[n].n = 2;
        if (w2k_push_pkid(P, a) != 0 || w2k_push_pkid(P, b) != 0)
            return -1;
    } else {
        f->pn[n].a = a;
        f->pn[n].b = b;
    }
    return n;
}

static int w2k_unary(w2k_parser_t *P, int kind, size_t off, int a)
{
    w2k_filter_t *f = P->f;
    size_t st = f->pn[a].off < off ? f->pn[a].off : off;
    size_t end = f->pn[a].end > off ? f->pn[a].end : off;
    int n = w2k_new_pnode(P, kind, st, end);
    if (n < 0)
        return -1;
    f->pn[n].a = a;
    return n;
}

/* Supported type names: the word(s) at the current token. Returns the number of tokens
 * the name takes (0: not a type name) and sets *type and *oid. */
static int w2k_typename_at(const w2k_parser_t *P, int at, uint8_t *type, uint32_t *oid)
{
    const w2k_tok_t *t = w2k_peek(P, at);
    if (t->k != T_IDENT)
        return 0;
    static const struct {
        const char *name;
        uint8_t type;
        uint32_t oid;
    } one[] = {
        {"int", FT_INT, W2K_OID_INT4},         {"integer", FT_INT, W2K_OID_INT4},
        {"int4", FT_INT, W2K_OID_INT4},        {"int2", FT_INT, W2K_OID_INT2},
        {"smallint", FT_INT, W2K_OID_INT2},    {"int8", FT_INT, W2K_OID_INT8},
        {"bigint", FT_INT, W2K_OID_INT8},      {"numeric", FT_NUM, W2K_OID_NUMERIC},
        {"decimal", FT_NUM, W2K_OID_NUMERIC},  {"real", FT_FLOAT, W2K_OID_FLOAT4},
        {"float4", FT_FLOAT, W2K_OID_FLOAT4},  {"float8", FT_FLOAT, W2K_OID_FLOAT8},
        {"float", FT_FLOAT, W2K_OID_FLOAT8},   {"text", FT_TEXT, W2K_OID_TEXT},
        {"varchar", FT_TEXT, W2K_OID_VARCHAR}, {"bpchar", FT_BPCHAR, W2K_OID_BPCHAR},
        {"bool", FT_BOOL, W2K_OID_BOOL},       {"boolean", FT_BOOL, W2K_OID_BOOL},
        {"date", FT_DATE, W2K_OID_DATE},       {"timestamptz", FT_TSTZ, W2K_OID_TIMESTAMPTZ},
        {"uuid", FT_UUID, W2K_OID_UUID},
    };
    if (strcmp(t->text, "double") == 0 && w2k_is_kw(w2k_peek(P, at + 1), "precision")) {
        *type = FT_FLOAT;
        *oid = W2K_OID_FLOAT8;
        return 2;
    }
    if (strcmp(t->text, "character") == 0 && w2k_is_kw(w2k_peek(P, at + 1), "varying")) {
        *type = FT_TEXT;
        *oid = W2K_OID_VARCHAR;
        return 2;
    }
    if (strcmp(t->text, "timestamp") == 0) {
        const w2k_tok_t *w = w2k_peek(P, at + 1);
        if ((w2k_is_kw(w, "with") || w2k_is_kw(w, "without")) &&
            w2k_is_kw(w2k_peek(P, at + 2), "time") && w2k_is_kw(w2k_peek(P, at + 3), "zone")) {
            *type = w2k_is_kw(w, "with") ? FT_TSTZ : FT_TS;
            *oid = *type == FT_TSTZ ? W2K_OID_TIMESTAMPTZ : W2K_OID_TIMESTAMP;
            return 4;
        }
        *type = FT_TS;
        *oid = W2K_OID_TIMESTAMP;
        return 1;
    }
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (strcmp(t->text, one[i].name) == 0) {
            *type = one[i].type;
            *oid = one[i].oid;
            return 1;
        }
    return 0;
}

/* A copy of a constant's value into dst (with its own buffer when it has one). */
static int w2k_copy_val(uint8_t type, const w2k_fval_t *v, const char *buf, w2k_fval_t *dst,
                        char **dbuf)
{
    *dst = *v;
    *dbuf = NULL;
    if (!buf || v->null)
        return 0;
    size_t len;
    const char *base;
    if (type == FT_NUM) {
        len = v->u.num.il + v->u.num.fl;
        base = v->u.num.ip;
    } else {
        len = v->u.s.n;
        base = v->u.s.p;
    }
    char *b = malloc(len + 1);
    if (!b)
        return -1;
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

/* Convert a constant of type from to type to (oid toid): into *out with
 * storage in a new *obuf. Returns 0, or -1 with *why. Covers the casts filter.h lists
 * and the coercion of untyped literals. */
static int w2k_convert(uint8_t from, const w2k_fval_t *v, const char *vbuf, uint8_t to,
                       uint32_t toid, w2k_fval_t *out, char **obuf, const char **why)
{
    memset(out, 0, sizeof *out);
    *obuf = NULL;
    if (v->null || from == FT_NULL) {
        out->null = true;
        return 0;
    }
    if (from == to && to != FT_INT && to != FT_FLOAT)
        return w2k_copy_val(from, v, vbuf, out, obuf) == 0 ? 0 : (*why = "out of memory", -1);
    if (from == FT_UNKNOWN || from == FT_TEXT || from == FT_BPCHAR) {
        const char *s = v->u.s.p;
        size_t n = v->u.s.n;
        switch (to) {
        case FT_TEXT:
        case FT_BPCHAR:
        case FT_UNKNOWN: {
            if (from == FT_BPCHAR && to == FT_TEXT)
                while (n > 0 && s[n - 1] == ' ')
                    n--;
            w2k_fval_t t = *v;
            t.u.s.n = n;
            return w2k_copy_val(FT_TEXT, &t, s, out, obuf) == 0 ? 0 : (*why = "out of memory", -1);
        }
        case FT_BOOL:
            *why = "invalid input syntax for type boolean";
            return w2k_bool_from_input(s, n, &out->u.b);
        case FT_INT:
            return w2k_int_from_input(s, n, toid, &out->u.i, why);
        case FT_NUM:
            return w2k_num_from_input(s, n, &out->u.num, obuf, why);
        case FT_FLOAT:
            return w2k_float_from_text(s, n, toid == W2K_OID_FLOAT4, true, &out->u.d, why);
        case FT_DATE:
        case FT_TS:
        case FT_TSTZ:
            return w2k_time_from_input(s, n, to, &out->u.i, why);
        case FT_UUID: {
            char u[37];
            *why = "invalid input syntax for type uuid";
            if (w2k_uuid_from_input(s, n, u) != 0)
                return -1;
            w2k_fval_t t = {.u.s = {u, 36}};
            return w2k_copy_val(FT_UUID, &t, u, out, obuf) == 0 ? 0 : (*why = "out of memory", -1);
        }
        default:
            break;
        }
    }
    switch (to) {
    case FT_TEXT:
        if (from == FT_INT || from == FT_BOOL) {
            char b[24];
            int k = from == FT_INT ? snprintf(b, sizeof b, "%lld", (long long)v->u.i)
                                   : snprintf(b, sizeof b, "%s", v->u.b ? "true" : "false");
            w2k_fval_t t = {.u.s = {b, (size_t)k}};
            return w2k_copy_val(FT_TEXT, &t, b, out, obuf) == 0 ? 0 : (*why = "out of memory", -1);
        }
        break;
    case FT_INT:
        if (from == FT_INT) {
            int64_t lo = toid == W2K_OID_INT2   ? INT16_MIN
                         : toid == W2K_OID_INT4 ? INT32_MIN
                                                : INT64_MIN;
            int64_t hi = toid == W2K_OID_INT2   ? INT16_MAX
                         : toid == W2K_OID_INT4 ? INT32_MAX
                                                : INT64_MAX;
            if (v->u.i < lo || v->u.i > hi) {
                *why = toid == W2K_OID_INT2 ? "smallint out of range" : "integer out of range";
                return -1;
            }
            out->u.i = v->u.i;
            return 0;
        }
        if (from == FT_NUM) { /* round half away from zero */
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
            int64_t lo = toid == W2K_OID_INT2   ? INT16_MIN
                         : toid == W2K_OID_INT4 ? INT32_MIN
                                                : INT64_MIN;
            int64_t hi = toid == W2K_OID_INT2   ? INT16_MAX
                         : toid == W2K_OID_INT4 ? INT32_MAX
                                                : INT64_MAX;
            if (ovf || (x->neg ? u > (uint64_t)0 - (uint64_t)lo : u > (uint64_t)hi)) {
                *why = toid == W2K_OID_INT2 ? "smallint out of range" : "integer out of range";
                return -1;
            }
            out->u.i = x->neg ? (int64_t)((uint64_t)0 - u) : (int64_t)u;
            return 0;
        }
        break;
    case FT_NUM:
        if (from == FT_INT) {
            char b[24];
            w2k_fnum_t x;
            w2k_num_from_int(v->u.i, b, &x);
            w2k_fval_t t = {.u.num = x};
            return w2k_copy_val(FT_NUM, &t, b, out, obuf) == 0 ? 0 : (*why = "out of memory", -1);
        }
        if (from == FT_FLOAT) {
            char b[64];
            if (isnan(v->u.d) || isinf(v->u.d)) {
                out->u.num.special = isnan(v->u.d) ? NUM_NAN : v->u.d > 0 ? NUM_PINF : NUM_NINF;
                return 0;
            }
            int k = snprintf(b, sizeof b, "%.17g", v->u.d);
            return w2k_num_from_input(b, (size_t)k, &out->u.num, obuf, why);
        }
        break;
    case FT_FLOAT:
        if (from == FT_INT) {
            out->u.d = toid == W2K_OID_FLOAT4 ? (double)(float)v->u.i : (double)v->u.i;
            return 0;
        }
        if (from == FT_NUM) {
            out->u.d = w2k_num_to_double(&v->u.num, toid == W2K_OID_FLOAT4);
            if (isinf(out->u.d) && v->u.num.special == NUM_FINITE) {
                *why = "value out of range for type double precision";
                return -1;
            }
            return 0;
        }
        if (from == FT_FLOAT) {
            out->u.d = toid == W2K_OID_FLOAT4 ? (double)(float)v->u.d : v->u.d;
            return 0;
        }
        break;
    case FT_TS:
    case FT_TSTZ:
        if (from == FT_DATE) {
            int64_t d = v->u.i;
            out->u.i = d == INT64_MIN || d == INT64_MAX ? d : d * W2K_USEC_PER_DAY;
            return 0;
        }
        if (from == FT_TS || from == FT_TSTZ) {
            out->u.i = v->u.i;
            return 0;
        }
        break;
    default:
        break;
    }
    *why = NULL;
    return -1;
}

static int w2k_p_or(w2k_parser_t *P);

/* Make node n (a constant) hold type to: a cast at source offset off. */
static int w2k_cast_const(w2k_parser_t *P, int n, uint8_t to, uint32_t toid, size_t off)
{
    w2k_pnode_t *p = &P->f->pn[n];
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_convert(p->type, &p->v, p->buf, to, toid, &out, &obuf, &why) != 0) {
        char q[64];
        if (!why)
            return w2k_f_fail(P->err, P->errsz, off, "cannot cast %s to %s",
                              w2k_ftype_name(p->type, p->oid), w2k_ftype_name(to, toid));
        return w2k_f_fail(P->err, P->errsz, p->off, "%s: %s", why,
                          w2k_f_quote(P->src + p->off, p->end - p->off, q, sizeof q));
    }
    free(p->buf);
    p->buf = obuf;
    p->v = out;
    p->type = to;
    p->oid = toid;
    return 0;
}

/* Parse a type name after :: or AS; *type, *oid. */
static int w2k_p_typename(w2k_parser_t *P, uint8_t *type, uint32_t *oid)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    int k = w2k_typename_at(P, 0, type, oid);
    if (k == 0) {
        if (t->k == T_IDENT || t->k == T_QIDENT)
            return w2k_f_fail(P->err, P->errsz, t->off,
                              "type %s is not supported (supported: integer kinds, numeric, real, "
                              "double precision, text, varchar, bpchar, boolean, date, timestamp, "
                              "timestamptz, uuid)",
                              t->text);
        return w2k_syntax(P, t);
    }
    P->pos += k;
    t = w2k_peek(P, 0);
    if (t->k == T_LPAREN)
        return w2k_f_fail(P->err, P->errsz, t->off, "type modifiers are not supported: %s(",
                          w2k_peek(P, -1)->text);
    if (t->k == T_LBRACKET)
        return w2k_f_fail(P->err, P->errsz, t->off, "array types are not supported");
    return 0;
}

/* A constant node from a number token. */
static int w2k_p_number(w2k_parser_t *P, const w2k_tok_t *t)
{
    int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    const char *s = P->src + t->off;
    bool plain = true;
    for (size_t i = 0; i < t->len; i++)
        if (!w2k_f_isdigit(s[i]))
            plain = false;
    if (plain && t->len <= 19) {
        uint64_t v = 0;
        for (size_t i = 0; i < t->len; i++)
            v = v * 10 + (uint64_t)(s[i] - '0');
        if (v <= (uint64_t)INT64_MAX) {
            p->type = FT_INT;
            p->oid = v <= INT32_MAX ? W2K_OID_INT4 : W2K_OID_INT8;
            p->v.u.i = (int64_t)v;
            return n;
        }
    }
    const char *why;
    if (w2k_num_from_input(s, t->len, &p->v.u.num, &p->buf, &why) != 0)
        return w2k_f_fail(P->err, P->errsz, t->off, "%s: %.*s", why, (int)t->len, s);
    p->type = FT_NUM;
    p->oid = W2K_OID_NUMERIC;
    return n;
}

/* Words that cannot start an operand (and cannot be column names unquoted). */
static bool w2k_is_reserved(const char *w)
{
    static const char *const words[] = {
        "all",        "analyse", "analyze", "and",        "any",       "as",      "asc",
        "asymmetric", "between", "both",    "case",       "check",     "collate", "column",
        "constraint", "create",  "default", "desc",       "distinct",  "do",      "else",
        "end",        "escape",  "except",  "fetch",      "for",       "foreign", "from",
        "grant",      "group",   "having",  "ilike",      "in",        "into",    "is",
        "isnull",     "like",    "limit",   "notnull",    "offset",    "on",      "only",
        "or",         "order",   "primary", "references", "returning", "similar", "some",
        "symmetric",  "table",   "then",    "to",         "union",     "unique",  "using",
        "when",       "where",   "window",  "with"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

/* Words naming functions PostgreSQL evaluates without parentheses. */
static bool w2k_is_niladic(const char *w)
{
    static const char *const words[] = {"current_date",    "current_time",   "current_timestamp",
                                        "localtime",       "localtimestamp", "current_user",
                                        "session_user",    "user",           "current_role",
                                        "current_catalog", "current_schema", "system_user"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (strcmp(w, words[i]) == 0)
            return true;
    return false;
}

/* primary := literal | column | ( expr ) | CAST ( expr AS type ) | type 'text' */
static int w2k_p_primary(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    switch (t->k) {
    case T_NUMBER:
        P->pos++;
        return w2k_p_number(P, t);
    case T_STRING: {
        P->pos++;
        int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
        if (n < 0)
            return -1;
        w2k_pnode_t *p = &P->f->pn[n];
        p->type = FT_UNKNOWN;
        p->buf = t->text;
        P->toks[P->pos - 1].text = NULL;
        p->v.u.s.p = p->buf;
        p->v.u.s.n = t->tlen;
        return n;
    }
    case T_LPAREN: {
        const w2k_tok_t *w = w2k_peek(P, 1);
        if (w2k_is_kw(w, "select") || w2k_is_kw(w, "with") || w2k_is_kw(w, "values"))
            return w2k_f_fail(P->err, P->errsz, w->off, "subqueries are not supported: (%s",
                              w->text);
        P->pos++;
        int n = w2k_p_or(P);
        if (n < 0)
            return -1;
        t = w2k_peek(P, 0);
        if (t->k == T_COMMA)
            return w2k_f_fail(P->err, P->errsz, t->off, "row constructors are not supported");
        if (t->k != T_RPAREN)
            return w2k_syntax(P, t);
        P->pos++;
        return n;
    }
    case T_PARAM:
        return w2k_f_fail(P->err, P->errsz, t->off, "parameters are not supported: %.*s",
                          (int)t->len, P->src + t->off);
    case T_QIDENT:
    case T_IDENT:
        break;
    default:
        return w2k_syntax(P, t);
    }
    const w2k_tok_t *nx = w2k_peek(P, 1);
    if (t->k == T_IDENT) {
        const char *w = t->text;
        uint8_t type;
        uint32_t oid;
        int k = w2k_typename_at(P, 0, &type, &oid);
        if (k > 0 && w2k_peek(P, k)->k == T_STRING) { /* type 'text' */
            P->pos += k;
            int n = w2k_p_primary(P);
            if (n < 0)
                return -1;
            P->f->pn[n].off = t->off;
            return w2k_cast_const(P, n, type, oid, t->off) != 0 ? -1 : n;
        }
        if (strcmp(w, "true") == 0 || strcmp(w, "false") == 0 || strcmp(w, "null") == 0) {
            P->pos++;
            int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
            if (n < 0)
                return -1;
            w2k_pnode_t *p = &P->f->pn[n];
            if (w[0] == 'n') {
                p->type = FT_NULL;
                p->v.null = true;
            } else {
                p->type = FT_BOOL;
                p->oid = W2K_OID_BOOL;
                p->v.u.b = w[0] == 't';
            }
            return n;
        }
        if (strcmp(w, "cast") == 0 && nx->k == T_LPAREN) {
            P->pos += 2;
            int n = w2k_p_or(P);
            if (n < 0)
                return -1;
            const w2k_tok_t *as = w2k_peek(P, 0);
            if (!w2k_is_kw(as, "as"))
                return w2k_syntax(P, as);
            P->pos++;
            if (P->f->pn[n].kind != N_CONST)
                return w2k_f_fail(
                    P->err, P->errsz, t->off, "casts are only supported on literals: CAST(%.*s",
                    (int)(P->f->pn[n].end - P->f->pn[n].off), P->src + P->f->pn[n].off);
            if (w2k_p_typename(P, &type, &oid) != 0)
                return -1;
            const w2k_tok_t *rp = w2k_peek(P, 0);
            if (rp->k != T_RPAREN)
                return w2k_syntax(P, rp);
            P->pos++;
            if (w2k_cast_const(P, n, type, oid, t->off) != 0)
                return -1;
            P->f->pn[n].off = t->off;
            P->f->pn[n].end = rp->off + 1;
            return n;
        }
        if (strcmp(w, "case") == 0)
            return w2k_f_fail(P->err, P->errsz, t->off, "CASE expressions are not supported");
        if (strcmp(w, "exists") == 0 || strcmp(w, "select") == 0)
            return w2k_f_fail(P->err, P->errsz, t->off, "subqueries are not supported: %s", w);
        if (strcmp(w, "array") == 0)
            return w2k_f_fail(P->err, P->errsz, t->off, "arrays are not supported: array");
        if (strcmp(w, "row") == 0 && nx->k == T_LPAREN)
            return w2k_f_fail(P->err, P->errsz, t->off, "row constructors are not supported");
        if (strcmp(w, "interval") == 0 && nx->k == T_STRING)
            return w2k_f_fail(P->err, P->errsz, t->off, "type interval is not supported");
        if (w2k_is_niladic(w))
            return w2k_f_fail(P->err, P->errsz, t->off,
                              "functions are not supported: %s (a filter must not depend on when "
                              "or by whom it is evaluated)",
                              w);
        if ((strcmp(w, "any") == 0 || strcmp(w, "all") == 0 || strcmp(w, "some") == 0) &&
            nx->k == T_LPAREN)
            return w2k_f_fail(P->err, P->errsz, t->off,
                              "ANY, ALL and SOME are not supported: %s( (use IN (...))", w);
        if (w2k_is_reserved(w) || strcmp(w, "not") == 0)
            return w2k_syntax(P, t);
    }
    if (nx->k == T_LPAREN)
        return w2k_f_fail(P->err, P->errsz, t->off, "function calls are not supported: %.*s(",
                          (int)t->len, P->src + t->off);
    if (nx->k == T_DOT)
        return w2k_f_fail(P->err, P->errsz, t->off,
                          "qualified names are not supported (name the column alone): %.*s.",
                          (int)t->len, P->src + t->off);
    P->pos++;
    int n = w2k_new_pnode(P, N_COL, t->off, t->off + t->len);
    if (n < 0)
        return -1;
    P->f->pn[n].name = P->toks[P->pos - 1].text;
    P->toks[P->pos - 1].text = NULL;
    return n;
}

/* postfix := primary { :: type } */
static int w2k_p_postfix(w2k_parser_t *P)
{
    int n = w2k_p_primary(P);
    if (n < 0)
        return -1;
    for (;;) {
        const w2k_tok_t *t = w2k_peek(P, 0);
        if (t->k == T_CAST) {
            w2k_pnode_t *p = &P->f->pn[n];
            if (p->kind != N_CONST)
                return w2k_f_fail(P->err, P->errsz, t->off,
                                  p->kind == N_COL ? "casts of columns are not supported: %.*s::"
                                                   : "casts are only supported on literals: %.*s::",
                                  (int)(t->off - p->off), P->src + p->off);
            P->pos++;
            uint8_t type;
            uint32_t oid;
            if (w2k_p_typename(P, &type, &oid) != 0)
                return -1;
            if (w2k_cast_const(P, n, type, oid, t->off) != 0)
                return -1;
            P->f->pn[n].end = w2k_peek(P, -1)->off + w2k_peek(P, -1)->len;
            continue;
        }
        if (t->k == T_LBRACKET)
            return w2k_f_fail(P->err, P->errsz, t->off, "array subscripts are not supported: [");
        if (t->k == T_DOT)
            return w2k_f_fail(P->err, P->errsz, t->off, "field selection is not supported: .");
        if (w2k_is_kw(t, "collate"))
            return w2k_f_fail(P->err, P->errsz, t->off,
                              "COLLATE is not supported (text compares by bytes, as in the C "
                              "collation)");
        if (w2k_is_kw(t, "at") && w2k_is_kw(w2k_peek(P, 1), "time"))
            return w2k_f_fail(P->err, P->errsz, t->off, "AT TIME ZONE is not supported");
        return n;
    }
}

/* unary := { - | + } postfix, on numeric literals only */
static int w2k_p_unary(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (t->k != T_MINUS && t->k != T_PLUS)
        return w2k_p_postfix(P);
    P->pos++;
    if (++P->depth > W2K_MAX_DEPTH)
        return w2k_f_fail(P->err, P->errsz, t->off,
                          "expression nested too deeply (more than %d levels)", W2K_MAX_DEPTH);
    int n = w2k_p_unary(P);
    P->depth--;
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    if (p->kind != N_CONST)
        return w2k_f_fail(P->err, P->errsz, t->off, "arithmetic is not supported: unary %c on %.*s",
                          P->src[t->off], (int)(p->end - p->off), P->src + p->off);
    if (p->type != FT_INT && p->type != FT_NUM && p->type != FT_FLOAT)
        return w2k_f_fail(P->err, P->errsz, t->off,
                          "unary %c is only supported on numbers, not on %s %.*s", P->src[t->off],
                          w2k_ftype_name(p->type, p->oid), (int)(p->end - p->off), P->src + p->off);
    p->off = t->off;
    if (t->k == T_PLUS)
        return n;
    if (p->type == FT_INT) {
        if (p->v.u.i == INT64_MIN) {
            if (w2k_cast_const(P, n, FT_NUM, W2K_OID_NUMERIC, t->off) != 0)
                return -1;
        } else {
            p->v.u.i = -p->v.u.i;
            return n;
        }
    }
    if (p->type == FT_FLOAT) {
        p->v.u.d = -p->v.u.d;
    } else if (p->v.u.num.special == NUM_PINF) {
        p->v.u.num.special = NUM_NINF;
    } else if (p->v.u.num.special == NUM_NINF) {
        p->v.u.num.special = NUM_PINF;
    } else if (p->v.u.num.special == NUM_FINITE && p->v.u.num.il + p->v.u.num.fl > 0) {
        p->v.u.num.neg = !p->v.u.num.neg;
    }
    return n;
}

/* An operand, refusing arithmetic and other operators after it. */
static int w2k_p_operand(w2k_parser_t *P)
{
    int n = w2k_p_unary(P);
    if (n < 0)
        return -1;
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (t->k == T_PLUS || t->k == T_MINUS || t->k == T_OP) {
        bool arith = t->k != T_OP || (t->len == 1 && strchr("*/%^", P->src[t->off]));
        return w2k_f_fail(P->err, P->errsz, t->off, "%s are not supported: %.*s",
                          arith ? "arithmetic operators" : "operators", (int)t->len,
                          P->src + t->off);
    }
    return n;
}

/* Compile a LIKE pattern into node n (pattern constant pat, escape esc or -1 for none). */
static int w2k_like_compile(w2k_parser_t *P, w2k_pnode_t *L, const w2k_pnode_t *pat, int esc,
                            bool fold)
{
    const char *s = pat->v.u.s.p;
    size_t n = pat->v.u.s.n;
    L->like.lit = malloc(n + 1);
    L->like.kind = malloc(n + 1);
    if (!L->like.lit || !L->like.kind)
        return w2k_f_fail(P->err, P->errsz, pat->off, "out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (esc >= 0 && c == (char)esc) {
            if (i + 1 == n)
                return w2k_f_fail(P->err, P->errsz, pat->off,
                                  "LIKE pattern must not end with escape character");
            L->like.lit[k] = fold ? w2k_f_lower(s[++i]) : s[++i];
            L->like.kind[k++] = LK_BYTE;
        } else if (c == '%') {
            if (k == 0 || L->like.kind[k - 1] != LK_ANY) {
                L->like.lit[k] = 0;
                L->like.kind[k++] = LK_ANY;
            }
        } else if (c == '_') {
            L->like.lit[k] = 0;
            L->like.kind[k++] = LK_ONE;
        } else {
            L->like.lit[k] = fold ? w2k_f_lower(c) : c;
            L->like.kind[k++] = LK_BYTE;
        }
        if (fold && (unsigned char)L->like.lit[k - 1] >= 0x80 && L->like.kind[k - 1] == LK_BYTE)
            return w2k_f_fail(P->err, P->errsz, pat->off,
                              "ILIKE patterns with non-ASCII characters are not supported (ILIKE "
                              "here folds ASCII letters only; use LIKE)");
    }
    L->like.n = k;
    return 0;
}

/* pred := operand [ [NOT] {BETWEEN [SYMMETRIC] operand AND operand | IN (list)
 *                          | {LIKE | ILIKE} operand [ESCAPE operand]} ] */
static int w2k_p_pred(w2k_parser_t *P)
{
    w2k_filter_t *f = P->f;
    int x = w2k_p_operand(P);
    if (x < 0)
        return -1;
    const w2k_tok_t *t = w2k_peek(P, 0);
    bool neg = false;
    if (w2k_is_kw(t, "not")) {
        const w2k_tok_t *w = w2k_peek(P, 1);
        if (w2k_is_kw(w, "between") || w2k_is_kw(w, "in") || w2k_is_kw(w, "like") ||
            w2k_is_kw(w, "ilike") || w2k_is_kw(w, "similar")) {
            neg = true;
            P->pos++;
            t = w;
        }
    }
    size_t off = t->off;
    if (w2k_is_kw(t, "similar"))
        return w2k_f_fail(P->err, P->errsz, t->off, "SIMILAR TO is not supported (use LIKE)");
    if (w2k_is_kw(t, "between")) {
        P->pos++;
        bool sym = w2k_accept_kw(P, "symmetric");
        if (!sym)
            w2k_accept_kw(P, "asymmetric");
        int a = w2k_p_operand(P);
        if (a < 0)
            return -1;
        if (!w2k_accept_kw(P, "and"))
            return w2k_syntax(P, w2k_peek(P, 0));
        int b = w2k_p_operand(P);
        if (b < 0)
            return -1;
        /* x >= a AND x <= b; SYMMETRIC: OR the same with a and b swapped */
        int ge = w2k_binary(P, N_CMP, OP_GE, off, x, a);
        int le = ge < 0 ? -1 : w2k_binary(P, N_CMP, OP_LE, off, x, b);
        int r = le < 0 ? -1 : w2k_binary(P, N_AND, 0, off, ge, le);
        if (r >= 0 && sym) {
            int ge2 = w2k_binary(P, N_CMP, OP_GE, off, x, b);
            int le2 = ge2 < 0 ? -1 : w2k_binary(P, N_CMP, OP_LE, off, x, a);
            int r2 = le2 < 0 ? -1 : w2k_binary(P, N_AND, 0, off, ge2, le2);
            r = r2 < 0 ? -1 : w2k_binary(P, N_OR, 0, off, r, r2);
        }
        if (r >= 0 && neg)
            r = w2k_unary(P, N_NOT, off, r);
        if (r >= 0)
            f->pn[r].off = f->pn[x].off;
        return r;
    }
    if (w2k_is_kw(t, "in")) {
        P->pos++;
        const w2k_tok_t *lp = w2k_peek(P, 0);
        if (lp->k != T_LPAREN)
            return w2k_syntax(P, lp);
        const w2k_tok_t *w = w2k_peek(P, 1);
        if (w2k_is_kw(w, "select") || w2k_is_kw(w, "with") || w2k_is_kw(w, "values"))
            return w2k_f_fail(P->err, P->errsz, w->off, "subqueries are not supported: IN (%s",
                              w->text);
        P->pos++;
        int elems[64], ne = 0;
        int *more = NULL;
        int cap = 0;
        for (;;) {
            int e = w2k_p_operand(P);
            if (e < 0) {
                free(more);
                return -1;
            }
            if (ne < 64) {
                elems[ne++] = e;
            } else {
                if (ne - 64 == cap) {
                    cap = cap ? cap * 2 : 64;
                    int *m = realloc(more, (size_t)cap * sizeof *m);
                    if (!m) {
                        free(more);
                        return w2k_f_fail(P->err, P->errsz, off, "out of memory");
                    }
                    more = m;
                }
                more[ne++ - 64] = e;
            }
            const w2k_tok_t *c = w2k_peek(P, 0);
            if (c->k == T_COMMA) {
                P->pos++;
                continue;
            }
            if (c->k != T_RPAREN) {
                free(more);
                return w2k_syntax(P, c);
            }
            P->pos++;
            break;
        }
        int n = w2k_new_pnode(P, N_IN, f->pn[x].off, w2k_peek(P, -1)->off + 1);
        if (n < 0) {
            free(more);
            return -1;
        }
        f->pn[n].opoff = off;
        f->pn[n].a = x;
        f->pn[n].first = f->npkids;
        f->pn[n].n = ne;
        for (int i = 0; i < ne; i++)
            if (w2k_push_pkid(P, i < 64 ? elems[i] : more[i - 64]) != 0) {
                free(more);
                return -1;
            }
        free(more);
        return neg ? w2k_unary(P, N_NOT, off, n) : n;
    }
    if (w2k_is_kw(t, "like") || w2k_is_kw(t, "ilike")) {
        bool ilike = t->text[0] == 'i';
        P->pos++;
        int pat = w2k_p_operand(P);
        if (pat < 0)
            return -1;
        int esc = '\\';
        int escn = -1;
        if (w2k_accept_kw(P, "escape")) {
            escn = w2k_p_operand(P);
            if (escn < 0)
                return -1;
        }
        int n = w2k_new_pnode(P, N_LIKE, f->pn[x].off, f->pn[escn >= 0 ? escn : pat].end);
        if (n < 0)
            return -1;
        w2k_pnode_t *L = &f->pn[n];
        const w2k_pnode_t *pp = &f->pn[pat];
        L->opoff = off;
        L->a = x;
        L->op = ilike;
        if (pp->kind != N_CONST || (pp->type != FT_UNKNOWN && pp->type != FT_TEXT &&
                                    pp->type != FT_BPCHAR && pp->type != FT_NULL))
            return w2k_f_fail(P->err, P->errsz, pp->off,
                              "the pattern of LIKE must be a string literal: %.*s",
                              (int)(pp->end - pp->off), P->src + pp->off);
        if (escn >= 0) {
            const w2k_pnode_t *ep = &f->pn[escn];
            if (ep->kind != N_CONST || (ep->type != FT_UNKNOWN && ep->type != FT_TEXT))
                return w2k_f_fail(P->err, P->errsz, ep->off,
                                  "the ESCAPE of LIKE must be a string literal");
            if (ep->v.u.s.n > 1)
                return w2k_f_fail(P->err, P->errsz, ep->off,
                                  "invalid escape string: must be empty or one ASCII character");
            esc = ep->v.u.s.n == 0 ? -1 : (unsigned char)ep->v.u.s.p[0];
            if (esc >= 0x80)
                return w2k_f_fail(P->err, P->errsz, ep->off,
                                  "invalid escape string: must be empty or one ASCII character");
        }
        if (pp->type == FT_NULL)
            L->like_null = true;
        else if (w2k_like_compile(P, L, pp, esc, ilike) != 0)
            return -1;
        return neg ? w2k_unary(P, N_NOT, off, n) : n;
    }
    return x;
}

static int w2k_cmp_op(int k)
{
    switch (k) {
    case T_EQ:
        return OP_EQ;
    case T_NE:
        return OP_NE;
    case T_LT:
        return OP_LT;
    case T_LE:
        return OP_LE;
    case T_GT:
        return OP_GT;
    case T_GE:
        return OP_GE;
    default:
        return -1;
    }
}

/* cmp := pred [ cmpop pred ] (not associative) */
static int w2k_p_cmp(w2k_parser_t *P)
{
    int a = w2k_p_pred(P);
    if (a < 0)
        return -1;
    const w2k_tok_t *t = w2k_peek(P, 0);
    int op = w2k_cmp_op(t->k);
    if (op < 0)
        return a;
    P->pos++;
    int b = w2k_p_pred(P);
    if (b < 0)
        return -1;
    const w2k_tok_t *u = w2k_peek(P, 0);
    if (w2k_cmp_op(u->k) >= 0)
        return w2k_syntax(P, u);
    return w2k_binary(P, N_CMP, op, t->off, a, b);
}

/* is := cmp { IS [NOT] {NULL | TRUE | FALSE | UNKNOWN | DISTINCT FROM cmp} | ISNULL | NOTNULL } */
static int w2k_p_is(w2k_parser_t *P)
{
    int a = w2k_p_cmp(P);
    if (a < 0)
        return -1;
    for (;;) {
        const w2k_tok_t *t = w2k_peek(P, 0);
        if (w2k_is_kw(t, "isnull") || w2k_is_kw(t, "notnull")) {
            P->pos++;
            a = w2k_unary(P, N_ISNULL, t->off, a);
            if (a < 0)
                return -1;
            P->f->pn[a].neg = t->text[0] == 'n';
            P->f->pn[a].end = t->off + t->len;
            continue;
        }
        if (!w2k_is_kw(t, "is"))
            return a;
        P->pos++;
        bool neg = w2k_accept_kw(P, "not");
        const w2k_tok_t *w = w2k_peek(P, 0);
        int n;
        if (w2k_is_kw(w, "null") || w2k_is_kw(w, "true") || w2k_is_kw(w, "false") ||
            w2k_is_kw(w, "unknown")) {
            P->pos++;
            bool isnull = w->text[0] == 'n';
            n = w2k_unary(P, isnull ? N_ISNULL : N_ISBOOL, t->off, a);
            if (n < 0)
                return -1;
            P->f->pn[n].op = w->text[0] == 't' ? 1 : w->text[0] == 'f' ? 0 : 2;
            P->f->pn[n].end = w->off + w->len;
        } else if (w2k_is_kw(w, "distinct")) {
            P->pos++;
            if (!w2k_accept_kw(P, "from"))
                return w2k_syntax(P, w2k_peek(P, 0));
            int b = w2k_p_cmp(P);
            if (b < 0)
                return -1;
            n = w2k_binary(P, N_DISTINCT, 0, t->off, a, b);
            if (n < 0)
                return -1;
        } else if (w->k == T_IDENT &&
                   (strcmp(w->text, "document") == 0 || strcmp(w->text, "normalized") == 0 ||
                    strcmp(w->text, "of") == 0 || strcmp(w->text, "json") == 0 ||
                    strcmp(w->text, "nfc") == 0)) {
            return w2k_f_fail(P->err, P->errsz, t->off, "IS %s%s is not supported",
                              neg ? "NOT " : "", w->text);
        } else {
            return w2k_syntax(P, w);
        }
        P->f->pn[n].neg = neg;
        a = n;
    }
}

/* not := NOT not | is */
static int w2k_p_not(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (!w2k_is_kw(t, "not"))
        return w2k_p_is(P);
    P->pos++;
    if (++P->depth > W2K_MAX_DEPTH)
        return w2k_f_fail(P->err, P->errsz, t->off,
                          "expression nested too deeply (more than %d levels)", W2K_MAX_DEPTH);
    int a = w2k_p_not(P);
    P->depth--;
    return a < 0 ? -1 : w2k_unary(P, N_NOT, t->off, a);
}

/* A chain of AND or OR: one node with all operands as children. */
static int w2k_p_chain(w2k_parser_t *P, int kind)
{
    const char *kw = kind == N_OR ? "or" : "and";
    int first = kind == N_OR ? w2k_p_chain(P, N_AND) : w2k_p_not(P);
    if (first < 0)
        return -1;
    if (!w2k_is_kw(w2k_peek(P, 0), kw))
        return first;
    int items[64], ni = 0;
    int *more = NULL, cap = 0;
    items[ni++] = first;
    size_t off = w2k_peek(P, 0)->off;
    while (w2k_accept_kw(P, kw)) {
        int x = kind == N_OR ? w2k_p_chain(P, N_AND) : w2k_p_not(P);
        if (x < 0) {
            free(more);
            return -1;
        }
        if (ni < 64) {
            items[ni++] = x;
            continue;
        }
        if (ni - 64 == cap) {
            cap = cap ? cap * 2 : 64;
            int *m = realloc(more, (size_t)cap * sizeof *m);
            if (!m) {
                free(more);
                return w2k_f_fail(P->err, P->errsz, off, "out of memory");
            }
            more = m;
        }
        more[ni++ - 64] = x;
    }
    w2k_filter_t *f = P->f;
    int n = w2k_new_pnode(P, kind, f->pn[first].off,
                          f->pn[ni <= 64 ? items[ni - 1] : more[ni - 65]].end);
    if (n >= 0) {
        f->pn[n].first = f->npkids;
        f->pn[n].n = ni;
        for (int i = 0; i < ni && n >= 0; i++)
            if (w2k_push_pkid(P, i < 64 ? items[i] : more[i - 64]) != 0)
                n = -1;
    }
    free(more);
    return n;
}

static int w2k_p_or(w2k_parser_t *P)
{
    if (++P->depth > W2K_MAX_DEPTH)
        return w2k_f_fail(P->err, P->errsz, w2k_peek(P, 0)->off,
                          "expression nested too deeply (more than %d levels)", W2K_MAX_DEPTH);
    int n = w2k_p_chain(P, N_OR);
    P->depth--;
    return n;
}

/* ---- binding ---- */

typedef struct w2k_binder_s {
    w2k_filter_t *f;
    const w2k_relation_t *rel;
    char *err;
    size_t errsz;
} w2k_binder_t;

static void w2k_unbind(w2k_filter_t *f)
{
    for (int i = 0; i < f->nbn; i++)
        free(f->bn[i].buf);
    f->nbn = 0;
    f->nbkids = 0;
    free(f->used);
    free(f->need);
    free(f->isneed);
    f->used = NULL;
    f->need = NULL;
    f->isneed = NULL;
    f->nneed = 0;
    f->ncols = 0;
    f->bound = false;
}

static int w2k_new_bnode(w2k_binder_t *B, int kind)
{
    w2k_filter_t *f = B->f;
    if (f->nbn == f->capbn) {
        int nc = f->capbn ? f->capbn * 2 : 16;
        w2k_bnode_t *n = realloc(f->bn, (size_t)nc * sizeof *n);
        if (!n)
            return w2k_f_fail(B->err, B->errsz, 0, "out of memory");
        f->bn = n;
        f->capbn = nc;
    }
    w2k_bnode_t *b = &f->bn[f->nbn];
    memset(b, 0, sizeof *b);
    b->kind = (uint8_t)kind;
    b->a = b->b = b->col = -1;
    return f->nbn++;
}

static int w2k_push_bkid(w2k_binder_t *B, int node, int mode, int type)
{
    w2k_filter_t *f = B->f;
    if (f->nbkids == f->capbkids) {
        int nc = f->capbkids ? f->capbkids * 2 : 16;
        w2k_bkid_t *k = realloc(f->bkids, (size_t)nc * sizeof *k);
        if (!k)
            return w2k_f_fail(B->err, B->errsz, 0, "out of memory");
        f->bkids = k;
        f->capbkids = nc;
    }
    f->bkids[f->nbkids++] = (w2k_bkid_t){node, (uint8_t)mode, (uint8_t)type};
    return 0;
}

/* What a bound operand is, for choosing a comparison. */
typedef struct w2k_operand_s {
    int bn; /* bound node */
    uint8_t type;
    uint32_t oid;
    bool eq_only; /* an enum column: = and <> only */
    int p;        /* parsed node */
} w2k_operand_t;

/* Describe parsed node p for a message: 'integer column "id"', "'abc'", ... */
static const char *w2k_describe(const w2k_binder_t *B, const w2k_operand_t *o, char *out,
                                size_t outsz)
{
    const w2k_pnode_t *p = &B->f->pn[o->p];
    char q[64];
    w2k_f_quote(B->f->text + p->off, p->end - p->off, q, sizeof q);
    if (p->kind == N_COL)
        snprintf(out, outsz, "%s column \"%s\"", w2k_ftype_name(o->type, o->oid), p->name);
    else if (p->kind == N_CONST && (o->type == FT_UNKNOWN || o->type == FT_NULL))
        snprintf(out, outsz, "%s", q);
    else if (p->kind == N_CONST)
        snprintf(out, outsz, "%s %s", w2k_ftype_name(o->type, o->oid), q);
    else
        snprintf(out, outsz, "%s expression %s", w2k_ftype_name(o->type, o->oid), q);
    return out;
}

static int w2k_bind_node(w2k_binder_t *B, int p, w2k_operand_t *o, bool value_needed);

/* The type of a column for filters. */
static void w2k_col_ftype(const w2k_column_t *c, uint8_t *type, uint32_t *oid, bool *eq_only)
{
    const w2k_avscalar_t *t = &c->type.t;
    *eq_only = false;
    *oid = t->oid;
    if (c->type.is_array) {
        *type = FT_OTHER;
        return;
    }
    switch (t->oid) {
    case W2K_OID_BOOL:
        *type = FT_BOOL;
        break;
    case W2K_OID_INT2:
    case W2K_OID_INT4:
    case W2K_OID_INT8:
        *type = FT_INT;
        break;
    case W2K_OID_NUMERIC:
        *type = FT_NUM;
        break;
    case W2K_OID_FLOAT4:
    case W2K_OID_FLOAT8:
        *type = FT_FLOAT;
        break;
    case W2K_OID_TEXT:
    case W2K_OID_VARCHAR:
    case W2K_OID_NAME:
        *type = FT_TEXT;
        *eq_only = c->type_oid >= W2K_FIRST_USER_OID;
        break;
    case W2K_OID_BPCHAR:
        *type = FT_BPCHAR;
        break;
    case W2K_OID_DATE:
        *type = FT_DATE;
        break;
    case W2K_OID_TIMESTAMP:
        *type = FT_TS;
        break;
    case W2K_OID_TIMESTAMPTZ:
        *type = FT_TSTZ;
        break;
    case W2K_OID_UUID:
        *type = FT_UUID;
        break;
    default:
        *type = FT_OTHER;
        break;
    }
}

/* Make operand o (an untyped constant) a constant of type/oid. */
static int w2k_coerce_operand(w2k_binder_t *B, w2k_operand_t *o, uint8_t type, uint32_t oid,
                              const w2k_operand_t *other)
{
    w2k_bnode_t *b = &B->f->bn[o->bn];
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_convert(o->type, &b->v, NULL, type, oid, &out, &obuf, &why) != 0) {
        char d1[160], d2[160];
        w2k_describe(B, other, d1, sizeof d1);
        w2k_describe(B, o, d2, sizeof d2);
        return w2k_f_fail(B->err, B->errsz, B->f->pn[o->p].off, "cannot compare %s with %s: %s", d1,
                          d2, why ? why : "no conversion");
    }
    b = &B->f->bn[o->bn];
    free(b->buf);
    b->buf = obuf;
    b->v = out;
    b->type = type;
    o->type = type;
    o->oid = oid;
    return 0;
}

/* Convert the constant operand o to the representation of mode (so that evaluation
 * promotes column values only). */
static int w2k_const_to_mode(w2k_binder_t *B, w2k_operand_t *o, int mode)
{
    if (B->f->bn[o->bn].kind != N_CONST || B->f->bn[o->bn].v.null)
        return 0;
    uint8_t to = o->type;
    uint32_t toid = o->oid;
    if (mode == M_NUM && o->type == FT_INT) {
        to = FT_NUM;
        toid = W2K_OID_NUMERIC;
    } else if (mode == M_FLOAT && o->type != FT_FLOAT) {
        to = FT_FLOAT;
        toid = W2K_OID_FLOAT8;
    } else if (mode == M_TIME && o->type == FT_DATE) {
        to = FT_TS;
        toid = W2K_OID_TIMESTAMP;
    } else if (mode == M_TEXT && o->type == FT_BPCHAR) {
        to = FT_TEXT;
        toid = W2K_OID_TEXT;
    } else {
        return 0;
    }
    w2k_bnode_t *b = &B->f->bn[o->bn];
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_convert(o->type, &b->v, NULL, to, toid, &out, &obuf, &why) != 0)
        return w2k_f_fail(B->err, B->errsz, B->f->pn[o->p].off, "%s",
                          why ? why : "cannot convert the literal");
    free(b->buf);
    b->buf = obuf;
    b->v = out;
    b->type = to;
    o->type = to;
    o->oid = toid;
    return 0;
}

static bool w2k_is_texty(uint8_t t)
{
    return t == FT_TEXT || t == FT_BPCHAR;
}

static bool w2k_is_timey(uint8_t t)
{
    return t == FT_DATE || t == FT_TS || t == FT_TSTZ;
}

/* The comparison mode of a and b (typed), or -1. */
static int w2k_pick_mode(const w2k_operand_t *a, const w2k_operand_t *b)
{
    uint8_t x = a->type, y = b->type;
    if (x == FT_BOOL && y == FT_BOOL)
        return M_BOOL;
    if (x == FT_INT && y == FT_INT)
        return M_INT;
    if ((x == FT_INT || x == FT_NUM) && (y == FT_INT || y == FT_NUM))
        return M_NUM;
    if ((x == FT_INT || x == FT_NUM || x == FT_FLOAT) &&
        (y == FT_INT || y == FT_NUM || y == FT_FLOAT))
        return M_FLOAT;
    if (w2k_is_texty(x) && w2k_is_texty(y)) {
        if (x == FT_BPCHAR && y == FT_BPCHAR)
            return M_BPCHAR;
        /* varchar meets char(n) as char(n); text as text (char(n) cast to text) */
        const w2k_operand_t *o = x == FT_BPCHAR ? b : a;
        if ((x == FT_BPCHAR || y == FT_BPCHAR) && o->oid == W2K_OID_VARCHAR)
            return M_BPCHAR;
        return M_TEXT;
    }
    if (x == FT_DATE && y == FT_DATE)
        return M_DATE;
    if (w2k_is_timey(x) && w2k_is_timey(y))
        return M_TIME;
    if (x == FT_UUID && y == FT_UUID)
        return M_UUID;
    return -1;
}

/* Resolve the comparison of a and b (bound operands): coerce untyped literals, pick
 * the mode, convert constants to it (a only when convert_a: the left side of IN is
 * shared by all its comparisons; evaluation promotes what is not converted). Returns
 * the mode, or -1 with the error set. */
static int w2k_resolve_cmp(w2k_binder_t *B, w2k_operand_t *a, w2k_operand_t *b, size_t off,
                           bool ordering, bool convert_a)
{
    bool ua = a->type == FT_UNKNOWN || a->type == FT_NULL;
    bool ub = b->type == FT_UNKNOWN || b->type == FT_NULL;
    if (ua && ub) {
        if (w2k_coerce_operand(B, a, FT_TEXT, W2K_OID_TEXT, b) != 0 ||
            w2k_coerce_operand(B, b, FT_TEXT, W2K_OID_TEXT, a) != 0)
            return -1;
    } else if (ua || ub) {
        w2k_operand_t *u = ua ? a : b, *k = ua ? b : a;
        if (k->type != FT_OTHER &&
            w2k_coerce_operand(B, u, k->type == FT_BPCHAR ? FT_BPCHAR : k->type,
                               k->type == FT_TEXT ? W2K_OID_TEXT : k->oid, k) != 0)
            return -1;
    }
    char d1[160], d2[160];
    for (int i = 0; i < 2; i++) {
        const w2k_operand_t *o = i ? b : a;
        if (o->type == FT_OTHER) {
            const w2k_column_t *c = &B->rel->cols[B->f->bn[o->bn].col];
            return w2k_f_fail(B->err, B->errsz, B->f->pn[o->p].off,
                              "column \"%s\" has type %s, which filters only support in IS [NOT] "
                              "NULL",
                              c->name, c->type_name[0] ? c->type_name : "(unsupported)");
        }
        if (o->eq_only && ordering)
            return w2k_f_fail(B->err, B->errsz, off,
                              "column \"%s\" has a user-defined type (an enum, compared by its "
                              "label): only =, <>, IN and IS [NOT] DISTINCT FROM are supported",
                              B->f->pn[o->p].name);
    }
    int mode = w2k_pick_mode(a, b);
    if (mode < 0)
        return w2k_f_fail(B->err, B->errsz, off, "cannot compare %s with %s",
                          w2k_describe(B, a, d1, sizeof d1), w2k_describe(B, b, d2, sizeof d2));
    if ((convert_a && w2k_const_to_mode(B, a, mode) != 0) || w2k_const_to_mode(B, b, mode) != 0)
        return -1;
    return mode;
}

/* Bind a node in a boolean position (AND, OR, NOT, IS TRUE, the whole filter). */
static int w2k_bind_bool(w2k_binder_t *B, int p, const char *ctx)
{
    w2k_operand_t o;
    if (w2k_bind_node(B, p, &o, true) != 0)
        return -1;
    if (o.type == FT_UNKNOWN || o.type == FT_NULL) {
        w2k_operand_t self = o;
        if (w2k_coerce_operand(B, &o, FT_BOOL, W2K_OID_BOOL, &self) != 0)
            return -1;
    }
    if (o.type != FT_BOOL) {
        char d[160];
        return w2k_f_fail(B->err, B->errsz, B->f->pn[p].off, "%s must be boolean, not %s", ctx,
                          w2k_describe(B, &o, d, sizeof d));
    }
    return o.bn;
}

/* Bind parsed node p; o describes the result. value_needed: false under IS [NOT] NULL. */
static int w2k_bind_node(w2k_binder_t *B, int p, w2k_operand_t *o, bool value_needed)
{
    w2k_filter_t *f = B->f;
    const w2k_pnode_t pn = f->pn[p];
    memset(o, 0, sizeof *o);
    o->p = p;
    o->type = FT_BOOL;
    o->oid = W2K_OID_BOOL;
    switch (pn.kind) {
    case N_CONST: {
        int n = w2k_new_bnode(B, N_CONST);
        if (n < 0)
            return -1;
        w2k_bnode_t *b = &f->bn[n];
        b->type = pn.type;
        b->v = pn.v; /* points into the parsed node's buffer, which outlives the binding */
        o->bn = n;
        o->type = pn.type;
        o->oid = pn.oid;
        return 0;
    }
    case N_COL: {
        int col = -1;
        for (int i = 0; i < B->rel->ncols; i++)
            if (strcmp(B->rel->cols[i].name, pn.name) == 0) {
                col = i;
                break;
            }
        if (col < 0)
            return w2k_f_fail(B->err, B->errsz, pn.off,
                              "column \"%s\" does not exist in table %s.%s", pn.name,
                              B->rel->schema, B->rel->name);
        int n = w2k_new_bnode(B, N_COL);
        if (n < 0)
            return -1;
        w2k_bnode_t *b = &f->bn[n];
        b->col = col;
        w2k_col_ftype(&B->rel->cols[col], &o->type, &o->oid, &o->eq_only);
        b->type = o->type;
        b->single = o->oid == W2K_OID_FLOAT4;
        o->bn = n;
        f->used[col] = true;
        if (value_needed && !f->isneed[col]) {
            f->isneed[col] = true;
            f->need[f->nneed++] = col;
        }
        return 0;
    }
    case N_AND:
    case N_OR: {
        int kids[64], *more = NULL;
        if (pn.n > 64 && !(more = malloc((size_t)pn.n * sizeof *more)))
            return w2k_f_fail(B->err, B->errsz, pn.off, "out of memory");
        int *k = more ? more : kids;
        for (int i = 0; i < pn.n; i++) {
            k[i] = w2k_bind_bool(B, f->pkids[pn.first + i],
                                 pn.kind == N_AND ? "an argument of AND" : "an argument of OR");
            if (k[i] < 0) {
                free(more);
                return -1;
            }
        }
        int n = w2k_new_bnode(B, pn.kind);
        if (n >= 0) {
            f->bn[n].first = f->nbkids;
            f->bn[n].n = pn.n;
            for (int i = 0; i < pn.n && n >= 0; i++)
                if (w2k_push_bkid(B, k[i], 0, FT_BOOL) != 0)
                    n = -1;
        }
        free(more);
        o->bn = n;
        return n < 0 ? -1 : 0;
    }
    case N_NOT:
    case N_ISBOOL: {
        int a = w2k_bind_bool(B, pn.a,
                              pn.kind == N_NOT ? "the argument of NOT"
                                               : "the argument of IS TRUE/FALSE/UNKNOWN");
        if (a < 0)
            return -1;
        int n = w2k_new_bnode(B, pn.kind);
        if (n < 0)
            return -1;
        f->bn[n].a = a;
        f->bn[n].op = pn.op;
        f->bn[n].neg = pn.neg;
        o->bn = n;
        return 0;
    }
    case N_ISNULL: {
        w2k_operand_t x;
        if (w2k_bind_node(B, pn.a, &x, false) != 0)
            return -1;
        int n = w2k_new_bnode(B, N_ISNULL);
        if (n < 0)
            return -1;
        f->bn[n].a = x.bn;
        f->bn[n].neg = pn.neg;
        o->bn = n;
        return 0;
    }
    case N_CMP:
    case N_DISTINCT: {
        w2k_operand_t x, y;
        if (w2k_bind_node(B, pn.a, &x, true) != 0 || w2k_bind_node(B, pn.b, &y, true) != 0)
            return -1;
        bool ordering = pn.kind == N_CMP && pn.op != OP_EQ && pn.op != OP_NE;
        int mode = w2k_resolve_cmp(B, &x, &y, pn.opoff, ordering, true);
        if (mode < 0)
            return -1;
        int n = w2k_new_bnode(B, pn.kind);
        if (n < 0)
            return -1;
        w2k_bnode_t *b = &f->bn[n];
        b->a = x.bn;
        b->b = y.bn;
        b->ta = f->bn[x.bn].type;
        b->tb = f->bn[y.bn].type;
        b->op = pn.op;
        b->neg = pn.neg;
        b->mode = (uint8_t)mode;
        o->bn = n;
        return 0;
    }
    case N_IN: {
        w2k_operand_t x;
        if (w2k_bind_node(B, pn.a, &x, true) != 0)
            return -1;
        if (x.type == FT_UNKNOWN || x.type == FT_NULL) {
            /* an untyped left side takes the type of the first typed element, else text */
            uint8_t type = FT_TEXT;
            uint32_t oid = W2K_OID_TEXT;
            w2k_operand_t y = x;
            for (int i = 0; i < pn.n; i++) {
                const w2k_pnode_t *e = &f->pn[f->pkids[pn.first + i]];
                if (e->kind == N_CONST && (e->type == FT_UNKNOWN || e->type == FT_NULL))
                    continue;
                if (w2k_bind_node(B, f->pkids[pn.first + i], &y, true) != 0)
                    return -1;
                if (y.type != FT_OTHER) {
                    type = y.type;
                    oid = y.oid;
                }
                break;
            }
            if (w2k_coerce_operand(B, &x, type, oid, &y) != 0)
                return -1;
        }
        int kids[64], modes[64], *more = NULL;
        if (pn.n > 64 && !(more = malloc((size_t)pn.n * 2 * sizeof *more)))
            return w2k_f_fail(B->err, B->errsz, pn.off, "out of memory");
        int *kn = more ? more : kids, *km = more ? more + pn.n : modes;
        for (int i = 0; i < pn.n; i++) {
            w2k_operand_t y;
            if (w2k_bind_node(B, f->pkids[pn.first + i], &y, true) != 0) {
                free(more);
                return -1;
            }
            int mode = w2k_resolve_cmp(B, &x, &y, f->pn[y.p].off, false, false);
            if (mode < 0) {
                free(more);
                return -1;
            }
            kn[i] = y.bn;
            km[i] = mode;
        }
        int n = w2k_new_bnode(B, N_IN);
        if (n >= 0) {
            f->bn[n].a = x.bn;
            f->bn[n].ta = f->bn[x.bn].type;
            f->bn[n].first = f->nbkids;
            f->bn[n].n = pn.n;
            for (int i = 0; i < pn.n && n >= 0; i++)
                if (w2k_push_bkid(B, kn[i], km[i], f->bn[kn[i]].type) != 0)
                    n = -1;
        }
        free(more);
        o->bn = n;
        return n < 0 ? -1 : 0;
    }
    case N_LIKE: {
        w2k_operand_t x;
        if (w2k_bind_node(B, pn.a, &x, true) != 0)
            return -1;
        if (x.type == FT_UNKNOWN || x.type == FT_NULL) {
            w2k_operand_t self = x;
            if (w2k_coerce_operand(B, &x, FT_TEXT, W2K_OID_TEXT, &self) != 0)
                return -1;
        }
        if (!w2k_is_texty(x.type) || x.eq_only) {
            char d[160];
            return w2k_f_fail(B->err, B->errsz, pn.opoff, "%s is only supported on text, not on %s",
                              pn.op ? "ILIKE" : "LIKE", w2k_describe(B, &x, d, sizeof d));
        }
        int n = w2k_new_bnode(B, N_LIKE);
        if (n < 0)
            return -1;
        w2k_bnode_t *b = &f->bn[n];
        b->a = x.bn;
        b->op = pn.op;
        b->like = &f->pn[p].like;
        b->like_null = pn.like_null;
        o->bn = n;
        return 0;
    }
    default:
        return w2k_f_fail(B->err, B->errsz, pn.off, "internal error: unknown node");
    }
}

/* ---- evaluation ---- */

typedef struct w2k_evalctx_s {
    const w2k_filter_t *f;
    const w2k_pgtuple_t *row;
    bool bad;
} w2k_evalctx_t;

static int w2k_ev_bool(w2k_evalctx_t *c, int i);

/* The datum of column col, or NULL when the row has no such column. */
static const w2k_pgdatum_t *w2k_datum(const w2k_evalctx_t *c, int col)
{
    return col < c->row->ncols ? &c->row->cols[col] : NULL;
}

/* Evaluate node i to a value: the constant itself, or *out filled. */
static const w2k_fval_t *w2k_ev_val(w2k_evalctx_t *c, int i, w2k_fval_t *out)
{
    const w2k_bnode_t *b = &c->f->bn[i];
    if (b->kind == N_CONST)
        return &b->v;
    if (b->kind != N_COL) {
        int r = w2k_ev_bool(c, i);
        out->null = r < 0;
        out->u.b = r == 1;
        return out;
    }
    const w2k_pgdatum_t *d = w2k_datum(c, b->col);
    out->null = false;
    if (!d || d->kind == 'n') {
        out->null = true;
        return out;
    }
    if (d->kind != 't') {
        c->bad = true;
        out->null = true;
        return out;
    }
    const char *s = d->data;
    size_t n = d->len;
    int rc = 0;
    const char *why;
    switch (b->type) {
    case FT_BOOL:
        rc = n == 1 && (s[0] == 't' || s[0] == 'f') ? 0 : -1;
        out->u.b = rc == 0 && s[0] == 't';
        break;
    case FT_INT:
        rc = w2k_int_from_row(s, n, &out->u.i);
        break;
    case FT_NUM:
        rc = w2k_num_from_row(s, n, &out->u.num);
        break;
    case FT_FLOAT:
        rc = w2k_float_from_text(s, n, b->single, false, &out->u.d, &why);
        break;
    case FT_TEXT:
    case FT_BPCHAR:
    case FT_UUID:
        out->u.s.p = s;
        out->u.s.n = n;
        break;
    case FT_DATE: {
        int32_t days;
        rc = w2k_pgtext_date(s, n, &days, &why);
        out->u.i = days == INT32_MIN ? INT64_MIN : days == INT32_MAX ? INT64_MAX : days;
        break;
    }
    case FT_TS:
    case FT_TSTZ:
        rc = w2k_pgtext_timestamp(s, n, b->type == FT_TSTZ, &out->u.i, &why);
        break;
    default:
        rc = -1;
        break;
    }
    if (rc != 0) {
        c->bad = true;
        out->null = true;
    }
    return out;
}

/* Evaluate node i to a value without a call for constants. */
static inline const w2k_fval_t *w2k_val(w2k_evalctx_t *c, int i, w2k_fval_t *out)
{
    const w2k_bnode_t *b = &c->f->bn[i];
    return b->kind == N_CONST ? &b->v : w2k_ev_val(c, i, out);
}

/* Text of a value for M_TEXT/M_BPCHAR: trailing spaces cut when rtrim. */
static void w2k_text_of(const w2k_fval_t *v, bool rtrim, const char **p, size_t *n)
{
    *p = v->u.s.p;
    *n = v->u.s.n;
    if (rtrim)
        while (*n > 0 && (*p)[*n - 1] == ' ')
            (*n)--;
}

static int w2k_bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int r = memcmp(a, b, an < bn ? an : bn);
    if (r != 0)
        return r < 0 ? -1 : 1;
    return an == bn ? 0 : an < bn ? -1 : 1;
}

static double w2k_as_double(const w2k_fval_t *v, uint8_t type)
{
    if (type == FT_INT)
        return (double)v->u.i;
    if (type == FT_NUM)
        return w2k_num_to_double(&v->u.num, false);
    return v->u.d;
}

static int64_t w2k_as_micros(const w2k_fval_t *v, uint8_t type)
{
    if (type != FT_DATE)
        return v->u.i;
    int64_t d = v->u.i;
    if (d == INT64_MIN || d == INT64_MAX)
        return d;
    /* a date beyond the timestamp range compares beyond every finite timestamp */
    if (d > INT64_MAX / W2K_USEC_PER_DAY)
        return INT64_MAX - 1;
    if (d < INT64_MIN / W2K_USEC_PER_DAY)
        return INT64_MIN + 1;
    return d * W2K_USEC_PER_DAY;
}

/* Compare two non-null values in mode; ta, tb: their types. */
static int w2k_cmp_vals(int mode, const w2k_fval_t *x, uint8_t ta, const w2k_fval_t *y, uint8_t tb)
{
    switch (mode) {
    case M_BOOL:
        return x->u.b == y->u.b ? 0 : x->u.b ? 1 : -1;
    case M_INT:
    case M_DATE:
        return x->u.i < y->u.i ? -1 : x->u.i > y->u.i;
    case M_TIME: {
        int64_t a = w2k_as_micros(x, ta), b = w2k_as_micros(y, tb);
        return a < b ? -1 : a > b;
    }
    case M_NUM: {
        char ba[24], bb[24];
        w2k_fnum_t na, nb;
        const w2k_fnum_t *pa = &x->u.num, *pb = &y->u.num;
        if (ta == FT_INT) {
            w2k_num_from_int(x->u.i, ba, &na);
            pa = &na;
        }
        if (tb == FT_INT) {
            w2k_num_from_int(y->u.i, bb, &nb);
            pb = &nb;
        }
        return w2k_num_cmp(pa, pb);
    }
    case M_FLOAT:
        return w2k_float_cmp(w2k_as_double(x, ta), w2k_as_double(y, tb));
    case M_TEXT:
    case M_BPCHAR:
    case M_UUID: {
        const char *a, *b;
        size_t an, bn;
        w2k_text_of(x, mode == M_BPCHAR || ta == FT_BPCHAR, &a, &an);
        w2k_text_of(y, mode == M_BPCHAR || tb == FT_BPCHAR, &b, &bn);
        return w2k_bytes_cmp(a, an, b, bn);
    }
    default:
        return 0;
    }
}

/* Whether two non-null values are equal in mode (cheaper than ordering them). */
static bool w2k_eq_vals(int mode, const w2k_fval_t *x, uint8_t ta, const w2k_fval_t *y, uint8_t tb)
{
    switch (mode) {
    case M_INT:
    case M_DATE:
        return x->u.i == y->u.i;
    case M_TEXT:
    case M_UUID:
        if (ta != FT_BPCHAR && tb != FT_BPCHAR) {
            size_t n = x->u.s.n;
            if (n != y->u.s.n)
                return false;
            if (n > 16)
                return memcmp(x->u.s.p, y->u.s.p, n) == 0;
            for (size_t i = 0; i < n; i++) /* short strings: no call */
                if (x->u.s.p[i] != y->u.s.p[i])
                    return false;
            return true;
        }
        return w2k_cmp_vals(mode, x, ta, y, tb) == 0;
    default:
        return w2k_cmp_vals(mode, x, ta, y, tb) == 0;
    }
}

static bool w2k_apply_op(int op, int r)
{
    switch (op) {
    case OP_EQ:
        return r == 0;
    case OP_NE:
        return r != 0;
    case OP_LT:
        return r < 0;
    case OP_LE:
        return r <= 0;
    case OP_GT:
        return r > 0;
    default:
        return r >= 0;
    }
}

/* LIKE: % any sequence, _ one UTF-8 character; fold: ASCII case-insensitive. */
static bool w2k_like_match(const w2k_like_t *L, const char *s, size_t n, bool fold)
{
    size_t si = 0, pi = 0, star_pi = SIZE_MAX, star_si = 0;
    while (si < n) {
        if (pi < L->n) {
            uint8_t k = L->kind[pi];
            if (k == LK_ANY) {
                star_pi = ++pi;
                star_si = si;
                continue;
            }
            if (k == LK_ONE) {
                size_t l = w2k_f_u8len((unsigned char)s[si]);
                si += l < n - si ? l : n - si;
                pi++;
                continue;
            }
            char ch = fold ? w2k_f_lower(s[si]) : s[si];
            if (ch == L->lit[pi]) {
                si++;
                pi++;
                continue;
            }
        }
        if (star_pi == SIZE_MAX)
            return false;
        size_t l = w2k_f_u8len((unsigned char)s[star_si]);
        star_si += l < n - star_si ? l : n - star_si;
        si = star_si;
        pi = star_pi;
    }
    while (pi < L->n && L->kind[pi] == LK_ANY)
        pi++;
    return pi == L->n;
}

/* Evaluate boolean node i: 1, 0, or -1 for NULL. */
static int w2k_ev_bool(w2k_evalctx_t *c, int i)
{
    const w2k_filter_t *f = c->f;
    const w2k_bnode_t *b = &f->bn[i];
    switch (b->kind) {
    case N_CONST:
        return b->v.null ? -1 : b->v.u.b;
    case N_COL: {
        w2k_fval_t t;
        const w2k_fval_t *v = w2k_ev_val(c, i, &t);
        return v->null ? -1 : v->u.b;
    }
    case N_AND: {
        int r = 1;
        for (int k = 0; k < b->n; k++) {
            int x = w2k_ev_bool(c, f->bkids[b->first + k].node);
            if (x == 0)
                return 0;
            if (x < 0)
                r = -1;
        }
        return r;
    }
    case N_OR: {
        int r = 0;
        for (int k = 0; k < b->n; k++) {
            int x = w2k_ev_bool(c, f->bkids[b->first + k].node);
            if (x == 1)
                return 1;
            if (x < 0)
                r = -1;
        }
        return r;
    }
    case N_NOT: {
        int x = w2k_ev_bool(c, b->a);
        return x < 0 ? -1 : !x;
    }
    case N_CMP: {
        w2k_fval_t tx, ty;
        const w2k_fval_t *x = w2k_val(c, b->a, &tx);
        if (x->null)
            return -1;
        const w2k_fval_t *y = w2k_val(c, b->b, &ty);
        if (y->null)
            return -1;
        if (b->op == OP_EQ || b->op == OP_NE)
            return w2k_eq_vals(b->mode, x, b->ta, y, b->tb) == (b->op == OP_EQ);
        return w2k_apply_op(b->op, w2k_cmp_vals(b->mode, x, b->ta, y, b->tb));
    }
    case N_DISTINCT: {
        w2k_fval_t tx, ty;
        const w2k_fval_t *x = w2k_val(c, b->a, &tx);
        const w2k_fval_t *y = w2k_val(c, b->b, &ty);
        bool same;
        if (x->null || y->null)
            same = x->null && y->null;
        else
            same = w2k_eq_vals(b->mode, x, b->ta, y, b->tb);
        return b->neg ? same : !same;
    }
    case N_IN: {
        w2k_fval_t tx, ty;
        const w2k_fval_t *x = w2k_val(c, b->a, &tx);
        if (x->null)
            return -1;
        int r = 0;
        for (int k = 0; k < b->n; k++) {
            const w2k_bkid_t *e = &f->bkids[b->first + k];
            const w2k_fval_t *y = w2k_val(c, e->node, &ty);
            if (y->null)
                r = -1;
            else if (w2k_eq_vals(e->mode, x, b->ta, y, e->type))
                return 1;
        }
        return r;
    }
    case N_LIKE: {
        w2k_fval_t tx;
        if (b->like_null)
            return -1;
        const w2k_fval_t *x = w2k_val(c, b->a, &tx);
        if (x->null)
            return -1;
        return w2k_like_match(b->like, x->u.s.p, x->u.s.n, b->op == 1);
    }
    case N_ISNULL: {
        const w2k_bnode_t *a = &f->bn[b->a];
        bool isnull;
        if (a->kind == N_COL) {
            const w2k_pgdatum_t *d = w2k_datum(c, a->col);
            isnull = !d || d->kind == 'n';
        } else {
            w2k_fval_t t;
            isnull = w2k_val(c, b->a, &t)->null;
        }
        return b->neg ? !isnull : isnull;
    }
    case N_ISBOOL: {
        int x = w2k_ev_bool(c, b->a);
        bool r = b->op == 2 ? x < 0 : x == (int)b->op;
        return b->neg ? !r : r;
    }
    default:
        c->bad = true;
        return -1;
    }
}

/* ---- the public functions ---- */

/* Parse expr into a new filter (see filter.h). */
w2k_filter_t *w2k_filter_parse(const char *expr, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    w2k_filter_t *f = calloc(1, sizeof *f);
    if (!f || !(f->text = strdup(expr ? expr : ""))) {
        free(f);
        w2k_f_fail(err, errsz, 0, "out of memory");
        return NULL;
    }
    w2k_parser_t P = {.f = f, .src = f->text, .err = err, .errsz = errsz};
    int rc = w2k_lex(&P);
    if (rc == 0) {
        if (P.toks[0].k == T_EOF) {
            rc = w2k_f_fail(err, errsz, 0, "empty expression");
        } else {
            f->proot = w2k_p_or(&P);
            rc = f->proot < 0 ? -1 : 0;
            if (rc == 0 && w2k_peek(&P, 0)->k != T_EOF) {
                const w2k_tok_t *t = w2k_peek(&P, 0);
                if (t->k == T_RPAREN)
                    rc = w2k_f_fail(err, errsz, t->off, "unbalanced parenthesis: )");
                else
                    rc = w2k_syntax(&P, t);
            }
        }
    }
    for (int i = 0; i < P.ntoks; i++)
        free(P.toks[i].text);
    free(P.toks);
    if (rc != 0) {
        w2k_filter_destroy(f);
        return NULL;
    }
    return f;
}

/* Bind f to rel (see filter.h). */
int w2k_filter_bind(w2k_filter_t *f, const w2k_relation_t *rel, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    w2k_unbind(f);
    int nc = rel->ncols > 0 ? rel->ncols : 1;
    f->used = calloc((size_t)nc, sizeof *f->used);
    f->isneed = calloc((size_t)nc, sizeof *f->isneed);
    f->need = calloc((size_t)nc, sizeof *f->need);
    if (!f->used || !f->isneed || !f->need) {
        w2k_unbind(f);
        return w2k_f_fail(err, errsz, 0, "out of memory");
    }
    f->ncols = rel->ncols;
    w2k_binder_t B = {.f = f, .rel = rel, .err = err, .errsz = errsz};
    int root = w2k_bind_bool(&B, f->proot, "a filter");
    if (root < 0) {
        w2k_unbind(f);
        return -1;
    }
    f->broot = root;
    f->bound = true;
    return 0;
}

/* Evaluate f on row (see filter.h). */
int w2k_filter_eval(const w2k_filter_t *f, const w2k_pgtuple_t *row)
{
    if (!f->bound)
        return W2K_FILTER_BADVALUE;
    for (int k = 0; k < f->nneed; k++) {
        int i = f->need[k];
        if (i < row->ncols && row->cols[i].kind == 'u')
            return W2K_FILTER_TOAST;
    }
    w2k_evalctx_t c = {f, row, false};
    int r = w2k_ev_bool(&c, f->broot);
    return c.bad ? W2K_FILTER_BADVALUE : r;
}

/* Whether the bound filter references column i. */
bool w2k_filter_uses_column(const w2k_filter_t *f, int i)
{
    return f->bound && i >= 0 && i < f->ncols && f->used[i];
}

/* The filter's source text. */
const char *w2k_filter_text(const w2k_filter_t *f)
{
    return f->text;
}

/* Free f and everything it owns. */
void w2k_filter_destroy(w2k_filter_t *f)
{
    if (!f)
        return;
    w2k_unbind(f);
    for (int i = 0; i < f->npn; i++) {
        free(f->pn[i].buf);
        free(f->pn[i].name);
        free(f->pn[i].like.lit);
        free(f->pn[i].like.kind);
    }
    free(f->pn);
    free(f->pkids);
    free(f->bn);
    free(f->bkids);
    free(f->text);
    free(f);
}
