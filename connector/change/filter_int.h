/* filter_int.h — the types the parts of the row filter share: typed values, tokens,
 * the parse tree, the bound tree and the filter that owns both. Internal to
 * filter.c, filter_lex.c, filter_parse.c, filter_bind.c, filter_eval.c and
 * filter_value.c; callers use filter.h. */
#ifndef W2K_FILTER_INT_H
#define W2K_FILTER_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "filter.h"
#include "pgtypes.h"
#include "relcache.h"

#define W2K_USEC_PER_DAY INT64_C(86400000000)

/* PostgreSQL's first OID for user-defined objects: a column of such a type that maps to
 * text is an enum (or a domain over text) and only supports equality. */
#define W2K_FIRST_USER_OID 16384
#define W2K_OID_NAME       19

/* Longest identifier PostgreSQL keeps (NAMEDATALEN - 1). */
#define W2K_IDENT_MAX 63

/* Longest literal quoted in an error message. */
#define W2K_QUOTE_MAX 40

/* Deepest nesting accepted (parentheses, NOT, unary signs), to bound the recursion. */
#define W2K_MAX_DEPTH 1000

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

/* A numeric (pgtypes.h's, shared with the text parsers). */
typedef w2k_pgnum_t w2k_fnum_t;
#define NUM_FINITE W2K_PGNUM_FINITE
#define NUM_NINF   W2K_PGNUM_NINF
#define NUM_PINF   W2K_PGNUM_PINF
#define NUM_NAN    W2K_PGNUM_NAN

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

/* ---- tokens ---- */

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

/* The tokens of an expression; the last is T_EOF. */
typedef struct w2k_toks_s {
    w2k_tok_t *t;
    int n, cap;
} w2k_toks_t;

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

static inline bool w2k_f_isdigit(char c)
{
    return c >= '0' && c <= '9';
}

static inline bool w2k_f_isspace(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static inline char w2k_f_lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Bytes of the UTF-8 character starting with byte c (1 for anything malformed). */
static inline size_t w2k_f_u8len(unsigned char c)
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

/* ---- the parts (filter.c, filter_lex.c, filter_parse.c, filter_bind.c,
 * filter_eval.c, filter_value.c) ---- */

/* Write "filter: at offset N: <message>" to err (NULL or errsz 0: nothing). Returns -1. */
int w2k_filter_fail(char *err, size_t errsz, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* s[0..n) made printable and cut to W2K_QUOTE_MAX bytes (with "..."), in out; returns
 * out. */
const char *w2k_filter_quote(const char *s, size_t n, char *out, size_t outsz);

/* Split the NUL-terminated src into tokens appended to toks (which the caller zeroes
 * and frees with w2k_filter_toks_free, also after a failure); the last is T_EOF.
 * Returns 0, or -1 with err (offset and reason: unterminated strings and comments,
 * E'' and $$ strings, junk after numbers, ...). */
int w2k_filter_lex(const char *src, w2k_toks_t *toks, char *err, size_t errsz);

/* Free the tokens' texts and array. */
void w2k_filter_toks_free(w2k_toks_t *toks);

/* Parse the tokens of f->text into f's parse tree (f->pn, f->pkids). Literals with a
 * type are converted here. Returns the root node, or -1 with err. Tokens whose text
 * the tree keeps have their text set to NULL. */
int w2k_filter_parse_tokens(w2k_filter_t *f, w2k_toks_t *toks, char *err, size_t errsz);

/* Bind f's parse tree to rel into f's bound tree (f->bn, f->bkids) and the column
 * sets (f->used, f->need, f->isneed, allocated by the caller for rel->ncols). Returns
 * the root bound node, or -1 with err. */
int w2k_filter_bind_tree(w2k_filter_t *f, const w2k_relation_t *rel, char *err, size_t errsz);

/* Drop f's bound tree and column sets. */
void w2k_filter_unbind(w2k_filter_t *f);

/* Evaluate f's bound tree on row: 1, 0, -1 (NULL); *bad set when a value could not be
 * read. Allocates nothing; f is not changed. */
int w2k_filter_eval_tree(const w2k_filter_t *f, const w2k_pgtuple_t *row, bool *bad);

/* The SQL name of value type t (oid tells the width of integers and floats). */
const char *w2k_fval_type_name(uint8_t t, uint32_t oid);

/* Convert a constant of type from (storage vbuf, may be NULL) to type to (oid toid)
 * into *out with storage in a new *obuf (NULL when none). Covers the casts filter.h
 * lists and the coercion of untyped literals. Returns 0, or -1 with *why (NULL: no
 * such conversion). */
int w2k_fval_convert(uint8_t from, const w2k_fval_t *v, const char *vbuf, uint8_t to, uint32_t toid,
                     w2k_fval_t *out, char **obuf, const char **why);

/* A numeric as the nearest double (as PostgreSQL's numeric to float8 cast); single:
 * the nearest real, widened. */
double w2k_fnum_to_double(const w2k_fnum_t *x, bool single);

/* An integer as a numeric, its digits in buf (24 bytes). */
static inline void w2k_fnum_from_int(int64_t v, char *buf, w2k_fnum_t *x)
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

#endif
