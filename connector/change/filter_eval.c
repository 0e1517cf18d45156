/* filter_eval.c — the row filter's evaluator: the bound tree on one row image with
 * SQL's three-valued logic. Column values are parsed in place from the text datums
 * (pgtypes.c's output-form parsers), only when a node needs them; nothing is
 * allocated, so several threads may evaluate one bound filter at once. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "filter_int.h"

typedef struct w2k_evalctx_s {
    const w2k_filter_t *f;
    const w2k_pgtuple_t *row;
    bool bad;
} w2k_evalctx_t;

static int w2k_ev_bool(w2k_evalctx_t *c, int i);

/* ---- comparing values ---- */

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

/* Compare the magnitudes of two finite non-zero numerics. */
static int w2k_num_cmp_abs(const w2k_fnum_t *x, const w2k_fnum_t *y)
{
    if (x->il != y->il)
        return x->il < y->il ? -1 : 1;
    int m = w2k_digits_cmp(x->ip, y->ip, x->il);
    if (m != 0)
        return m;
    size_t k = x->fl < y->fl ? x->fl : y->fl;
    m = w2k_digits_cmp(x->fp, y->fp, k);
    if (m != 0)
        return m;
    return x->fl == y->fl ? 0 : x->fl < y->fl ? -1 : 1;
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
    int m = w2k_num_cmp_abs(x, y);
    return sx > 0 ? m : -m;
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
        return w2k_fnum_to_double(&v->u.num, false);
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

/* Compare in M_NUM: integers promoted to numerics. */
static int w2k_cmp_num(const w2k_fval_t *x, uint8_t ta, const w2k_fval_t *y, uint8_t tb)
{
    char ba[24], bb[24];
    w2k_fnum_t na, nb;
    const w2k_fnum_t *pa = &x->u.num, *pb = &y->u.num;
    if (ta == FT_INT) {
        w2k_fnum_from_int(x->u.i, ba, &na);
        pa = &na;
    }
    if (tb == FT_INT) {
        w2k_fnum_from_int(y->u.i, bb, &nb);
        pb = &nb;
    }
    return w2k_num_cmp(pa, pb);
}

/* Compare two non-null values in mode; ta, tb: their types. */
static int w2k_cmp_vals(int mode, const w2k_fval_t *x, uint8_t ta, const w2k_fval_t *y, uint8_t tb)
{
    const char *a, *b;
    size_t an, bn;
    switch (mode) {
    case M_BOOL:
        return x->u.b == y->u.b ? 0 : x->u.b ? 1 : -1;
    case M_INT:
    case M_DATE:
        return x->u.i < y->u.i ? -1 : x->u.i > y->u.i;
    case M_TIME: {
        int64_t ma = w2k_as_micros(x, ta), mb = w2k_as_micros(y, tb);
        return ma < mb ? -1 : ma > mb;
    }
    case M_NUM:
        return w2k_cmp_num(x, ta, y, tb);
    case M_FLOAT:
        return w2k_float_cmp(w2k_as_double(x, ta), w2k_as_double(y, tb));
    case M_TEXT:
    case M_BPCHAR:
    case M_UUID:
        w2k_text_of(x, mode == M_BPCHAR || ta == FT_BPCHAR, &a, &an);
        w2k_text_of(y, mode == M_BPCHAR || tb == FT_BPCHAR, &b, &bn);
        return w2k_bytes_cmp(a, an, b, bn);
    default:
        return 0;
    }
}

/* Byte equality of two strings (short ones without a call). */
static bool w2k_bytes_eq(const w2k_fval_t *x, const w2k_fval_t *y)
{
    size_t n = x->u.s.n;
    if (n != y->u.s.n)
        return false;
    if (n > 16)
        return memcmp(x->u.s.p, y->u.s.p, n) == 0;
    for (size_t i = 0; i < n; i++)
        if (x->u.s.p[i] != y->u.s.p[i])
            return false;
    return true;
}

/* Whether two non-null values are equal in mode (cheaper than ordering them). */
static bool w2k_eq_vals(int mode, const w2k_fval_t *x, uint8_t ta, const w2k_fval_t *y, uint8_t tb)
{
    if (mode == M_INT || mode == M_DATE)
        return x->u.i == y->u.i;
    if ((mode == M_TEXT || mode == M_UUID) && ta != FT_BPCHAR && tb != FT_BPCHAR)
        return w2k_bytes_eq(x, y);
    return w2k_cmp_vals(mode, x, ta, y, tb) == 0;
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

/* ---- values of nodes ---- */

/* The datum of column col, or NULL when the row has no such column. */
static const w2k_pgdatum_t *w2k_datum(const w2k_evalctx_t *c, int col)
{
    return col < c->row->ncols ? &c->row->cols[col] : NULL;
}

/* Parse the text s[0..n) of a column of bound node b into out; 0 or -1. */
static int w2k_parse_datum(const w2k_bnode_t *b, const char *s, size_t n, w2k_fval_t *out)
{
    const char *why;
    int32_t days = 0;
    int rc;
    switch (b->type) {
    case FT_BOOL:
        out->u.b = n == 1 && s[0] == 't';
        return n == 1 && (s[0] == 't' || s[0] == 'f') ? 0 : -1;
    case FT_INT:
        return w2k_pgtext_int(s, n, INT64_MIN, INT64_MAX, &out->u.i, &why);
    case FT_NUM:
        return w2k_pgtext_numeric(s, n, &out->u.num);
    case FT_FLOAT:
        return w2k_pgtext_float(s, n, b->single, &out->u.d, &why);
    case FT_TEXT:
    case FT_BPCHAR:
    case FT_UUID:
        out->u.s.p = s;
        out->u.s.n = n;
        return 0;
    case FT_DATE:
        rc = w2k_pgtext_date(s, n, &days, &why);
        out->u.i = days == INT32_MIN ? INT64_MIN : days == INT32_MAX ? INT64_MAX : days;
        return rc;
    case FT_TS:
    case FT_TSTZ:
        return w2k_pgtext_timestamp(s, n, b->type == FT_TSTZ, &out->u.i, &why);
    default:
        return -1;
    }
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
    out->null = !d || d->kind != 't';
    if (d && d->kind != 't' && d->kind != 'n')
        c->bad = true;
    if (!out->null && w2k_parse_datum(b, d->data, d->len, out) != 0) {
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

/* ---- boolean nodes: 1, 0, or -1 for NULL ---- */

/* AND (stop at false) or OR (stop at true) of the children. */
static int w2k_ev_andor(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
    int stop = b->kind == N_AND ? 0 : 1, r = !stop;
    for (int k = 0; k < b->n; k++) {
        int x = w2k_ev_bool(c, c->f->bkids[b->first + k].node);
        if (x == stop)
            return stop;
        if (x < 0)
            r = -1;
    }
    return r;
}

static int w2k_ev_cmp(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
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

static int w2k_ev_distinct(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
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

static int w2k_ev_in(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
    w2k_fval_t tx, ty;
    const w2k_fval_t *x = w2k_val(c, b->a, &tx);
    if (x->null)
        return -1;
    int r = 0;
    for (int k = 0; k < b->n; k++) {
        const w2k_bkid_t *e = &c->f->bkids[b->first + k];
        const w2k_fval_t *y = w2k_val(c, e->node, &ty);
        if (y->null)
            r = -1;
        else if (w2k_eq_vals(e->mode, x, b->ta, y, e->type))
            return 1;
    }
    return r;
}

static int w2k_ev_like(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
    w2k_fval_t tx;
    if (b->like_null)
        return -1;
    const w2k_fval_t *x = w2k_val(c, b->a, &tx);
    if (x->null)
        return -1;
    return w2k_like_match(b->like, x->u.s.p, x->u.s.n, b->op == 1);
}

/* IS [NOT] NULL: a column's value is not parsed (an unchanged TOAST value is not null). */
static int w2k_ev_isnull(w2k_evalctx_t *c, const w2k_bnode_t *b)
{
    const w2k_bnode_t *a = &c->f->bn[b->a];
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

/* Evaluate boolean node i: 1, 0, or -1 for NULL. */
static int w2k_ev_bool(w2k_evalctx_t *c, int i)
{
    const w2k_bnode_t *b = &c->f->bn[i];
    w2k_fval_t t;
    int x;
    switch (b->kind) {
    case N_CONST:
        return b->v.null ? -1 : b->v.u.b;
    case N_COL:
        return w2k_ev_val(c, i, &t)->null ? -1 : t.u.b;
    case N_AND:
    case N_OR:
        return w2k_ev_andor(c, b);
    case N_NOT:
        x = w2k_ev_bool(c, b->a);
        return x < 0 ? -1 : !x;
    case N_CMP:
        return w2k_ev_cmp(c, b);
    case N_DISTINCT:
        return w2k_ev_distinct(c, b);
    case N_IN:
        return w2k_ev_in(c, b);
    case N_LIKE:
        return w2k_ev_like(c, b);
    case N_ISNULL:
        return w2k_ev_isnull(c, b);
    case N_ISBOOL:
        x = w2k_ev_bool(c, b->a);
        x = b->op == 2 ? x < 0 : x == (int)b->op;
        return b->neg ? !x : x;
    default:
        c->bad = true;
        return -1;
    }
}

/* Evaluate the bound tree (see filter_int.h). */
int w2k_filter_eval_tree(const w2k_filter_t *f, const w2k_pgtuple_t *row, bool *bad)
{
    w2k_evalctx_t c = {f, row, false};
    int r = w2k_ev_bool(&c, f->broot);
    *bad = c.bad;
    return r;
}
