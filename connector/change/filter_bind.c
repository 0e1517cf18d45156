/* filter_bind.c — the row filter's binder: the parse tree and a relation's columns to
 * the bound tree the evaluator runs. Column names resolve to indices, untyped literals
 * take the type they meet, every comparison gets one comparison mode with its
 * constants converted to it, and what cannot be compared is refused with its offset. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"

typedef struct w2k_binder_s {
    w2k_filter_t *f;
    const w2k_relation_t *rel;
    char *err;
    size_t errsz;
} w2k_binder_t;

/* What a bound operand is, for choosing a comparison. */
typedef struct w2k_operand_s {
    int bn; /* bound node */
    uint8_t type;
    uint32_t oid;
    bool eq_only; /* an enum column: = and <> only */
    int p;        /* parsed node */
} w2k_operand_t;

/* Drop the bound tree (see filter_int.h). */
void w2k_filter_unbind(w2k_filter_t *f)
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
            return w2k_filter_fail(B->err, B->errsz, 0, "out of memory");
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
            return w2k_filter_fail(B->err, B->errsz, 0, "out of memory");
        f->bkids = k;
        f->capbkids = nc;
    }
    f->bkids[f->nbkids++] = (w2k_bkid_t){node, (uint8_t)mode, (uint8_t)type};
    return 0;
}

/* A new bound node of kind with the n children kids[] (modes[]: their comparison
 * modes, NULL for none). Returns the node or -1. */
static int w2k_new_parent(w2k_binder_t *B, int kind, const int *kids, const int *modes, int n)
{
    w2k_filter_t *f = B->f;
    int b = w2k_new_bnode(B, kind);
    if (b < 0)
        return -1;
    f->bn[b].first = f->nbkids;
    f->bn[b].n = n;
    for (int i = 0; i < n; i++) {
        int type = modes ? f->bn[kids[i]].type : FT_BOOL;
        if (w2k_push_bkid(B, kids[i], modes ? modes[i] : 0, type) != 0)
            return -1;
    }
    return b;
}

/* Describe parsed node p for a message: 'integer column "id"', "'abc'", ... */
static const char *w2k_describe(const w2k_binder_t *B, const w2k_operand_t *o, char *out,
                                size_t outsz)
{
    const w2k_pnode_t *p = &B->f->pn[o->p];
    const char *tn = w2k_fval_type_name(o->type, o->oid);
    char q[64];
    w2k_filter_quote(B->f->text + p->off, p->end - p->off, q, sizeof q);
    if (p->kind == N_COL)
        snprintf(out, outsz, "%s column \"%s\"", tn, p->name);
    else if (p->kind == N_CONST && (o->type == FT_UNKNOWN || o->type == FT_NULL))
        snprintf(out, outsz, "%s", q);
    else if (p->kind == N_CONST)
        snprintf(out, outsz, "%s %s", tn, q);
    else
        snprintf(out, outsz, "%s expression %s", tn, q);
    return out;
}

/* The value type of a column for filters; *eq_only for enums (user types as text). */
static void w2k_col_ftype(const w2k_column_t *c, uint8_t *type, uint32_t *oid, bool *eq_only)
{
    static const struct {
        uint32_t oid;
        uint8_t type;
    } map[] = {
        {W2K_OID_BOOL, FT_BOOL},    {W2K_OID_INT2, FT_INT},         {W2K_OID_INT4, FT_INT},
        {W2K_OID_INT8, FT_INT},     {W2K_OID_NUMERIC, FT_NUM},      {W2K_OID_FLOAT4, FT_FLOAT},
        {W2K_OID_FLOAT8, FT_FLOAT}, {W2K_OID_TEXT, FT_TEXT},        {W2K_OID_VARCHAR, FT_TEXT},
        {W2K_OID_NAME, FT_TEXT},    {W2K_OID_BPCHAR, FT_BPCHAR},    {W2K_OID_DATE, FT_DATE},
        {W2K_OID_TIMESTAMP, FT_TS}, {W2K_OID_TIMESTAMPTZ, FT_TSTZ}, {W2K_OID_UUID, FT_UUID},
    };
    const w2k_avscalar_t *t = &c->type.t;
    *eq_only = false;
    *oid = t->oid;
    *type = FT_OTHER;
    if (c->type.is_array)
        return;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (map[i].oid == t->oid)
            *type = map[i].type;
    *eq_only = *type == FT_TEXT && c->type_oid >= W2K_FIRST_USER_OID;
}

/* Replace the constant of operand o by out (storage obuf), now of type/oid. */
static void w2k_set_const(w2k_binder_t *B, w2k_operand_t *o, const w2k_fval_t *out, char *obuf,
                          uint8_t type, uint32_t oid)
{
    w2k_bnode_t *b = &B->f->bn[o->bn];
    free(b->buf);
    b->buf = obuf;
    b->v = *out;
    b->type = type;
    o->type = type;
    o->oid = oid;
}

/* Make operand o (an untyped constant) a constant of type/oid. */
static int w2k_coerce_operand(w2k_binder_t *B, w2k_operand_t *o, uint8_t type, uint32_t oid,
                              const w2k_operand_t *other)
{
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_fval_convert(o->type, &B->f->bn[o->bn].v, NULL, type, oid, &out, &obuf, &why) != 0) {
        char d1[160], d2[160];
        w2k_describe(B, other, d1, sizeof d1);
        w2k_describe(B, o, d2, sizeof d2);
        return w2k_filter_fail(B->err, B->errsz, B->f->pn[o->p].off,
                               "cannot compare %s with %s: %s", d1, d2,
                               why ? why : "no conversion");
    }
    w2k_set_const(B, o, &out, obuf, type, oid);
    return 0;
}

/* The type a constant of type t is held in for comparison mode (t itself: unchanged). */
static uint8_t w2k_mode_type(int mode, uint8_t t, uint32_t *toid)
{
    if (mode == M_NUM && t == FT_INT) {
        *toid = W2K_OID_NUMERIC;
        return FT_NUM;
    }
    if (mode == M_FLOAT && t != FT_FLOAT) {
        *toid = W2K_OID_FLOAT8;
        return FT_FLOAT;
    }
    if (mode == M_TIME && t == FT_DATE) {
        *toid = W2K_OID_TIMESTAMP;
        return FT_TS;
    }
    if (mode == M_TEXT && t == FT_BPCHAR) {
        *toid = W2K_OID_TEXT;
        return FT_TEXT;
    }
    return t;
}

/* Convert the constant operand o to the representation of mode (so that evaluation
 * promotes column values only). */
static int w2k_const_to_mode(w2k_binder_t *B, w2k_operand_t *o, int mode)
{
    const w2k_bnode_t *b = &B->f->bn[o->bn];
    if (b->kind != N_CONST || b->v.null)
        return 0;
    uint32_t toid = o->oid;
    uint8_t to = w2k_mode_type(mode, o->type, &toid);
    if (to == o->type)
        return 0;
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_fval_convert(o->type, &b->v, NULL, to, toid, &out, &obuf, &why) != 0)
        return w2k_filter_fail(B->err, B->errsz, B->f->pn[o->p].off, "%s",
                               why ? why : "cannot convert the literal");
    w2k_set_const(B, o, &out, obuf, to, toid);
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

/* Rank of a number type (0 for the others): integer < numeric < float. */
static int w2k_num_rank(uint8_t t)
{
    return t == FT_INT ? 1 : t == FT_NUM ? 2 : t == FT_FLOAT ? 3 : 0;
}

/* The comparison mode of two text-like operands: varchar meets char(n) as char(n);
 * text as text (char(n) cast to text). */
static int w2k_text_mode(const w2k_operand_t *a, const w2k_operand_t *b)
{
    uint8_t x = a->type, y = b->type;
    if (x == FT_BPCHAR && y == FT_BPCHAR)
        return M_BPCHAR;
    const w2k_operand_t *o = x == FT_BPCHAR ? b : a;
    if ((x == FT_BPCHAR || y == FT_BPCHAR) && o->oid == W2K_OID_VARCHAR)
        return M_BPCHAR;
    return M_TEXT;
}

/* The comparison mode of a and b (typed), or -1. */
static int w2k_pick_mode(const w2k_operand_t *a, const w2k_operand_t *b)
{
    static const int num_modes[4] = {-1, M_INT, M_NUM, M_FLOAT};
    uint8_t x = a->type, y = b->type;
    int rx = w2k_num_rank(x), ry = w2k_num_rank(y);
    if (rx > 0 && ry > 0)
        return num_modes[rx > ry ? rx : ry];
    if (w2k_is_texty(x) && w2k_is_texty(y))
        return w2k_text_mode(a, b);
    if (w2k_is_timey(x) && w2k_is_timey(y))
        return x == FT_DATE && y == FT_DATE ? M_DATE : M_TIME;
    if (x != y)
        return -1;
    return x == FT_BOOL ? M_BOOL : x == FT_UUID ? M_UUID : -1;
}

/* Coerce untyped literals among a and b: both untyped become text; one takes the type
 * of the other. */
static int w2k_coerce_pair(w2k_binder_t *B, w2k_operand_t *a, w2k_operand_t *b)
{
    bool ua = a->type == FT_UNKNOWN || a->type == FT_NULL;
    bool ub = b->type == FT_UNKNOWN || b->type == FT_NULL;
    if (ua && ub)
        return w2k_coerce_operand(B, a, FT_TEXT, W2K_OID_TEXT, b) != 0 ||
                       w2k_coerce_operand(B, b, FT_TEXT, W2K_OID_TEXT, a) != 0
                   ? -1
                   : 0;
    if (!ua && !ub)
        return 0;
    w2k_operand_t *u = ua ? a : b, *k = ua ? b : a;
    if (k->type == FT_OTHER)
        return 0;
    return w2k_coerce_operand(B, u, k->type, k->type == FT_TEXT ? W2K_OID_TEXT : k->oid, k);
}

/* Refuse an operand that cannot be compared: a column of an unsupported type, an
 * enum in an ordering comparison (at off). */
static int w2k_check_comparable(w2k_binder_t *B, const w2k_operand_t *o, size_t off, bool ordering)
{
    if (o->type == FT_OTHER) {
        const w2k_column_t *c = &B->rel->cols[B->f->bn[o->bn].col];
        return w2k_filter_fail(B->err, B->errsz, B->f->pn[o->p].off,
                               "column \"%s\" has type %s, which filters only support in IS "
                               "[NOT] NULL",
                               c->name, c->type_name[0] ? c->type_name : "(unsupported)");
    }
    if (o->eq_only && ordering)
        return w2k_filter_fail(B->err, B->errsz, off,
                               "column \"%s\" has a user-defined type (an enum, compared by its "
                               "label): only =, <>, IN and IS [NOT] DISTINCT FROM are supported",
                               B->f->pn[o->p].name);
    return 0;
}

/* Resolve the comparison of a and b (bound operands): coerce untyped literals, pick
 * the mode, convert constants to it (a only when convert_a: the left side of IN is
 * shared by all its comparisons; evaluation promotes what is not converted). Returns
 * the mode, or -1 with the error set. */
static int w2k_resolve_cmp(w2k_binder_t *B, w2k_operand_t *a, w2k_operand_t *b, size_t off,
                           bool ordering, bool convert_a)
{
    if (w2k_coerce_pair(B, a, b) != 0 || w2k_check_comparable(B, a, off, ordering) != 0 ||
        w2k_check_comparable(B, b, off, ordering) != 0)
        return -1;
    int mode = w2k_pick_mode(a, b);
    if (mode < 0) {
        char d1[160], d2[160];
        return w2k_filter_fail(B->err, B->errsz, off, "cannot compare %s with %s",
                               w2k_describe(B, a, d1, sizeof d1),
                               w2k_describe(B, b, d2, sizeof d2));
    }
    if ((convert_a && w2k_const_to_mode(B, a, mode) != 0) || w2k_const_to_mode(B, b, mode) != 0)
        return -1;
    return mode;
}

/* ---- nodes ---- */

static int w2k_bind_node(w2k_binder_t *B, int p, w2k_operand_t *o, bool value_needed);

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
        return w2k_filter_fail(B->err, B->errsz, B->f->pn[p].off, "%s must be boolean, not %s", ctx,
                               w2k_describe(B, &o, d, sizeof d));
    }
    return o.bn;
}

/* A constant: its value points into the parsed node's buffer, which outlives the
 * binding. */
static int w2k_bind_const(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    int n = w2k_new_bnode(B, N_CONST);
    if (n < 0)
        return -1;
    B->f->bn[n].type = pn->type;
    B->f->bn[n].v = pn->v;
    o->bn = n;
    o->type = pn->type;
    o->oid = pn->oid;
    return 0;
}

/* A column by name; marks it used, and needed when its value is. */
static int w2k_bind_col(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o, bool value_needed)
{
    w2k_filter_t *f = B->f;
    int col = -1;
    for (int i = 0; i < B->rel->ncols && col < 0; i++)
        if (strcmp(B->rel->cols[i].name, pn->name) == 0)
            col = i;
    if (col < 0)
        return w2k_filter_fail(B->err, B->errsz, pn->off,
                               "column \"%s\" does not exist in table %s.%s", pn->name,
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

/* AND or OR of its children, each boolean. */
static int w2k_bind_andor(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    int *k = malloc((size_t)pn->n * sizeof *k);
    if (!k)
        return w2k_filter_fail(B->err, B->errsz, pn->off, "out of memory");
    int n = 0;
    for (int i = 0; i < pn->n && n == 0; i++) {
        k[i] = w2k_bind_bool(B, B->f->pkids[pn->first + i],
                             pn->kind == N_AND ? "an argument of AND" : "an argument of OR");
        n = k[i] < 0 ? -1 : 0;
    }
    if (n == 0)
        n = w2k_new_parent(B, pn->kind, k, NULL, pn->n);
    free(k);
    o->bn = n;
    return n < 0 ? -1 : 0;
}

/* NOT, IS [NOT] TRUE/FALSE/UNKNOWN: one boolean child. */
static int w2k_bind_not(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    int a = w2k_bind_bool(B, pn->a,
                          pn->kind == N_NOT ? "the argument of NOT"
                                            : "the argument of IS TRUE/FALSE/UNKNOWN");
    int n = a < 0 ? -1 : w2k_new_bnode(B, pn->kind);
    if (n < 0)
        return -1;
    B->f->bn[n].a = a;
    B->f->bn[n].op = pn->op;
    B->f->bn[n].neg = pn->neg;
    o->bn = n;
    return 0;
}

/* IS [NOT] NULL: a child of any type whose value is not needed. */
static int w2k_bind_isnull(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    w2k_operand_t x;
    if (w2k_bind_node(B, pn->a, &x, false) != 0)
        return -1;
    int n = w2k_new_bnode(B, N_ISNULL);
    if (n < 0)
        return -1;
    B->f->bn[n].a = x.bn;
    B->f->bn[n].neg = pn->neg;
    o->bn = n;
    return 0;
}

/* a op b, a IS [NOT] DISTINCT FROM b. */
static int w2k_bind_cmp(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    w2k_operand_t x, y;
    if (w2k_bind_node(B, pn->a, &x, true) != 0 || w2k_bind_node(B, pn->b, &y, true) != 0)
        return -1;
    bool ordering = pn->kind == N_CMP && pn->op != OP_EQ && pn->op != OP_NE;
    int mode = w2k_resolve_cmp(B, &x, &y, pn->opoff, ordering, true);
    int n = mode < 0 ? -1 : w2k_new_bnode(B, pn->kind);
    if (n < 0)
        return -1;
    w2k_bnode_t *b = &B->f->bn[n];
    b->a = x.bn;
    b->b = y.bn;
    b->ta = B->f->bn[x.bn].type;
    b->tb = B->f->bn[y.bn].type;
    b->op = pn->op;
    b->neg = pn->neg;
    b->mode = (uint8_t)mode;
    o->bn = n;
    return 0;
}

/* An untyped left side of IN takes the type of the first typed element, else text. */
static int w2k_bind_in_left(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *x)
{
    const w2k_filter_t *f = B->f;
    uint8_t type = FT_TEXT;
    uint32_t oid = W2K_OID_TEXT;
    w2k_operand_t y = *x;
    for (int i = 0; i < pn->n; i++) {
        const w2k_pnode_t *e = &f->pn[f->pkids[pn->first + i]];
        if (e->kind == N_CONST && (e->type == FT_UNKNOWN || e->type == FT_NULL))
            continue;
        if (w2k_bind_node(B, f->pkids[pn->first + i], &y, true) != 0)
            return -1;
        if (y.type != FT_OTHER) {
            type = y.type;
            oid = y.oid;
        }
        break;
    }
    return w2k_coerce_operand(B, x, type, oid, &y);
}

/* a IN (elements): one comparison mode per element. */
static int w2k_bind_in(w2k_binder_t *B, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    w2k_operand_t x;
    if (w2k_bind_node(B, pn->a, &x, true) != 0)
        return -1;
    if ((x.type == FT_UNKNOWN || x.type == FT_NULL) && w2k_bind_in_left(B, pn, &x) != 0)
        return -1;
    int *kn = malloc((size_t)pn->n * 2 * sizeof *kn), *km = kn ? kn + pn->n : NULL;
    if (!kn)
        return w2k_filter_fail(B->err, B->errsz, pn->off, "out of memory");
    int n = 0;
    for (int i = 0; i < pn->n && n == 0; i++) {
        w2k_operand_t y;
        n = w2k_bind_node(B, B->f->pkids[pn->first + i], &y, true);
        km[i] = n != 0 ? -1 : w2k_resolve_cmp(B, &x, &y, B->f->pn[y.p].off, false, false);
        kn[i] = y.bn;
        n = km[i] < 0 ? -1 : 0;
    }
    if (n == 0)
        n = w2k_new_parent(B, N_IN, kn, km, pn->n);
    free(kn);
    if (n >= 0) {
        B->f->bn[n].a = x.bn;
        B->f->bn[n].ta = B->f->bn[x.bn].type;
    }
    o->bn = n;
    return n < 0 ? -1 : 0;
}

/* a LIKE pattern: a must be text (an untyped literal becomes text). */
static int w2k_bind_like(w2k_binder_t *B, int p, const w2k_pnode_t *pn, w2k_operand_t *o)
{
    w2k_operand_t x;
    if (w2k_bind_node(B, pn->a, &x, true) != 0)
        return -1;
    if (x.type == FT_UNKNOWN || x.type == FT_NULL) {
        w2k_operand_t self = x;
        if (w2k_coerce_operand(B, &x, FT_TEXT, W2K_OID_TEXT, &self) != 0)
            return -1;
    }
    if (!w2k_is_texty(x.type) || x.eq_only) {
        char d[160];
        return w2k_filter_fail(B->err, B->errsz, pn->opoff,
                               "%s is only supported on text, not on %s", pn->op ? "ILIKE" : "LIKE",
                               w2k_describe(B, &x, d, sizeof d));
    }
    int n = w2k_new_bnode(B, N_LIKE);
    if (n < 0)
        return -1;
    w2k_bnode_t *b = &B->f->bn[n];
    b->a = x.bn;
    b->op = pn->op;
    b->like = &B->f->pn[p].like;
    b->like_null = pn->like_null;
    o->bn = n;
    return 0;
}

/* Bind parsed node p; o describes the result. value_needed: false under IS [NOT] NULL. */
static int w2k_bind_node(w2k_binder_t *B, int p, w2k_operand_t *o, bool value_needed)
{
    const w2k_pnode_t pn = B->f->pn[p];
    memset(o, 0, sizeof *o);
    o->p = p;
    o->type = FT_BOOL;
    o->oid = W2K_OID_BOOL;
    switch (pn.kind) {
    case N_CONST:
        return w2k_bind_const(B, &pn, o);
    case N_COL:
        return w2k_bind_col(B, &pn, o, value_needed);
    case N_AND:
    case N_OR:
        return w2k_bind_andor(B, &pn, o);
    case N_NOT:
    case N_ISBOOL:
        return w2k_bind_not(B, &pn, o);
    case N_ISNULL:
        return w2k_bind_isnull(B, &pn, o);
    case N_CMP:
    case N_DISTINCT:
        return w2k_bind_cmp(B, &pn, o);
    case N_IN:
        return w2k_bind_in(B, &pn, o);
    case N_LIKE:
        return w2k_bind_like(B, p, &pn, o);
    default:
        return w2k_filter_fail(B->err, B->errsz, pn.off, "internal error: unknown node");
    }
}

/* Bind the tree (see filter_int.h). */
int w2k_filter_bind_tree(w2k_filter_t *f, const w2k_relation_t *rel, char *err, size_t errsz)
{
    w2k_binder_t B = {.f = f, .rel = rel, .err = err, .errsz = errsz};
    return w2k_bind_bool(&B, f->proot, "a filter");
}
