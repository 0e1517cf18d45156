/* filter_parse.c — the row filter's parser: tokens to a parse tree by recursive
 * descent (OR, AND, NOT, IS, comparisons, BETWEEN, IN, LIKE, operands), literals with
 * a type converted on the spot, every construct outside the supported subset refused
 * with its offset and name. */
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"

typedef struct w2k_parser_s {
    w2k_filter_t *f;
    const char *src;
    w2k_tok_t *toks;
    int ntoks;
    int pos;
    int depth; /* nesting of the recursive descent */
    char *err;
    size_t errsz;
} w2k_parser_t;

/* A growing list of node numbers. */
typedef struct w2k_ivec_s {
    int *v;
    int n, cap;
} w2k_ivec_t;

static int w2k_ivec_push(w2k_ivec_t *l, int x)
{
    if (l->n == l->cap) {
        int nc = l->cap ? l->cap * 2 : 64;
        int *m = realloc(l->v, (size_t)nc * sizeof *m);
        if (!m)
            return -1;
        l->v = m;
        l->cap = nc;
    }
    l->v[l->n++] = x;
    return 0;
}

static int w2k_p_or(w2k_parser_t *P);

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

/* Whether token t starts a subquery after a parenthesis. */
static bool w2k_is_subquery(const w2k_tok_t *t)
{
    return w2k_is_kw(t, "select") || w2k_is_kw(t, "with") || w2k_is_kw(t, "values");
}

/* A syntax error at token t. */
static int w2k_syntax(w2k_parser_t *P, const w2k_tok_t *t)
{
    if (t->k == T_EOF)
        return w2k_filter_fail(P->err, P->errsz, t->off, "syntax error at end of expression");
    return w2k_filter_fail(P->err, P->errsz, t->off, "syntax error at or near \"%.*s\"",
                           (int)t->len, P->src + t->off);
}

/* Count one more level of nesting at offset off; -1 with the error past the limit. */
static int w2k_enter(w2k_parser_t *P, size_t off)
{
    if (++P->depth > W2K_MAX_DEPTH)
        return w2k_filter_fail(P->err, P->errsz, off,
                               "expression nested too deeply (more than %d levels)", W2K_MAX_DEPTH);
    return 0;
}

static int w2k_new_pnode(w2k_parser_t *P, int kind, size_t off, size_t end)
{
    w2k_filter_t *f = P->f;
    if (f->npn == f->cappn) {
        int nc = f->cappn ? f->cappn * 2 : 16;
        w2k_pnode_t *n = realloc(f->pn, (size_t)nc * sizeof *n);
        if (!n)
            return w2k_filter_fail(P->err, P->errsz, off, "out of memory");
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
            return w2k_filter_fail(P->err, P->errsz, 0, "out of memory");
        f->pkids = k;
        f->cappkids = nc;
    }
    f->pkids[f->npkids++] = node;
    return 0;
}

/* Node n gets the children in l (N_AND, N_OR, N_IN). Returns n or -1. */
static int w2k_set_kids(w2k_parser_t *P, int n, const w2k_ivec_t *l)
{
    if (n < 0)
        return -1;
    P->f->pn[n].first = P->f->npkids;
    P->f->pn[n].n = l->n;
    for (int i = 0; i < l->n; i++)
        if (w2k_push_pkid(P, l->v[i]) != 0)
            return -1;
    return n;
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

/* ---- type names and literals ---- */

/* Supported type names: the word(s) at the token at. Returns the number of tokens the
 * name takes (0: not a type name) and sets *type and *oid. */
static int w2k_typename_at(const w2k_parser_t *P, int at, uint8_t *type, uint32_t *oid)
{
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
    const w2k_tok_t *t = w2k_peek(P, at);
    if (t->k != T_IDENT)
        return 0;
    const w2k_tok_t *w = w2k_peek(P, at + 1);
    int k = 1;
    if (strcmp(t->text, "double") == 0 && w2k_is_kw(w, "precision")) {
        *type = FT_FLOAT;
        *oid = W2K_OID_FLOAT8;
        return 2;
    }
    if (strcmp(t->text, "character") == 0 && w2k_is_kw(w, "varying")) {
        *type = FT_TEXT;
        *oid = W2K_OID_VARCHAR;
        return 2;
    }
    if (strcmp(t->text, "timestamp") == 0) {
        *type = FT_TS;
        if ((w2k_is_kw(w, "with") || w2k_is_kw(w, "without")) &&
            w2k_is_kw(w2k_peek(P, at + 2), "time") && w2k_is_kw(w2k_peek(P, at + 3), "zone")) {
            *type = w2k_is_kw(w, "with") ? FT_TSTZ : FT_TS;
            k = 4;
        }
        *oid = *type == FT_TSTZ ? W2K_OID_TIMESTAMPTZ : W2K_OID_TIMESTAMP;
        return k;
    }
    for (size_t i = 0; i < sizeof one / sizeof one[0]; i++)
        if (strcmp(t->text, one[i].name) == 0) {
            *type = one[i].type;
            *oid = one[i].oid;
            return 1;
        }
    return 0;
}

/* Make node n (a constant) hold type to: a cast at source offset off. */
static int w2k_cast_const(w2k_parser_t *P, int n, uint8_t to, uint32_t toid, size_t off)
{
    w2k_pnode_t *p = &P->f->pn[n];
    w2k_fval_t out;
    char *obuf;
    const char *why;
    if (w2k_fval_convert(p->type, &p->v, p->buf, to, toid, &out, &obuf, &why) != 0) {
        char q[64];
        if (!why)
            return w2k_filter_fail(P->err, P->errsz, off, "cannot cast %s to %s",
                                   w2k_fval_type_name(p->type, p->oid),
                                   w2k_fval_type_name(to, toid));
        return w2k_filter_fail(P->err, P->errsz, p->off, "%s: %s", why,
                               w2k_filter_quote(P->src + p->off, p->end - p->off, q, sizeof q));
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
            return w2k_filter_fail(
                P->err, P->errsz, t->off,
                "type %s is not supported (supported: integer kinds, numeric, real, "
                "double precision, text, varchar, bpchar, boolean, date, timestamp, "
                "timestamptz, uuid)",
                t->text);
        return w2k_syntax(P, t);
    }
    P->pos += k;
    t = w2k_peek(P, 0);
    if (t->k == T_LPAREN)
        return w2k_filter_fail(P->err, P->errsz, t->off, "type modifiers are not supported: %s(",
                               w2k_peek(P, -1)->text);
    if (t->k == T_LBRACKET)
        return w2k_filter_fail(P->err, P->errsz, t->off, "array types are not supported");
    return 0;
}

/* A constant node from a number token: an integer when it fits bigint, else numeric. */
static int w2k_p_number(w2k_parser_t *P, const w2k_tok_t *t)
{
    int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    const char *s = P->src + t->off;
    bool plain = t->len <= 19;
    uint64_t v = 0;
    for (size_t i = 0; i < t->len && plain; i++) {
        plain = w2k_f_isdigit(s[i]);
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (plain && v <= (uint64_t)INT64_MAX) {
        p->type = FT_INT;
        p->oid = v <= INT32_MAX ? W2K_OID_INT4 : W2K_OID_INT8;
        p->v.u.i = (int64_t)v;
        return n;
    }
    const char *why;
    if (w2k_pginput_numeric(s, t->len, &p->v.u.num, &p->buf, &why) != 0)
        return w2k_filter_fail(P->err, P->errsz, t->off, "%s: %.*s", why, (int)t->len, s);
    p->type = FT_NUM;
    p->oid = W2K_OID_NUMERIC;
    return n;
}

/* An untyped string constant; takes the token's text. */
static int w2k_p_string(w2k_parser_t *P)
{
    w2k_tok_t *t = &P->toks[P->pos++];
    int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    p->type = FT_UNKNOWN;
    p->buf = t->text;
    t->text = NULL;
    p->v.u.s.p = p->buf;
    p->v.u.s.n = t->tlen;
    return n;
}

/* TRUE, FALSE or NULL. */
static int w2k_p_boolnull(w2k_parser_t *P, const w2k_tok_t *t)
{
    P->pos++;
    int n = w2k_new_pnode(P, N_CONST, t->off, t->off + t->len);
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    if (t->text[0] == 'n') {
        p->type = FT_NULL;
        p->v.null = true;
    } else {
        p->type = FT_BOOL;
        p->oid = W2K_OID_BOOL;
        p->v.u.b = t->text[0] == 't';
    }
    return n;
}

/* ( expr ), refusing subqueries and row constructors. */
static int w2k_p_paren(w2k_parser_t *P)
{
    const w2k_tok_t *w = w2k_peek(P, 1);
    if (w2k_is_subquery(w))
        return w2k_filter_fail(P->err, P->errsz, w->off, "subqueries are not supported: (%s",
                               w->text);
    P->pos++;
    int n = w2k_p_or(P);
    if (n < 0)
        return -1;
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (t->k == T_COMMA)
        return w2k_filter_fail(P->err, P->errsz, t->off, "row constructors are not supported");
    if (t->k != T_RPAREN)
        return w2k_syntax(P, t);
    P->pos++;
    return n;
}

/* CAST ( literal AS type ), at t (CAST). */
static int w2k_p_cast(w2k_parser_t *P, const w2k_tok_t *t)
{
    P->pos += 2;
    int n = w2k_p_or(P);
    if (n < 0)
        return -1;
    const w2k_tok_t *as = w2k_peek(P, 0);
    if (!w2k_is_kw(as, "as"))
        return w2k_syntax(P, as);
    P->pos++;
    const w2k_pnode_t *p = &P->f->pn[n];
    if (p->kind != N_CONST)
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "casts are only supported on literals: CAST(%.*s",
                               (int)(p->end - p->off), P->src + p->off);
    uint8_t type;
    uint32_t oid;
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

/* The error for a word at t that starts a construct the filter refuses (nx: the next
 * token); 0 when the word is none of them. */
static int w2k_refuse_word(w2k_parser_t *P, const w2k_tok_t *t, const w2k_tok_t *nx)
{
    const char *w = t->text;
    bool call = nx->k == T_LPAREN;
    const char *msg = NULL;
    if (strcmp(w, "case") == 0)
        msg = "CASE expressions are not supported";
    else if (strcmp(w, "array") == 0)
        msg = "arrays are not supported: array";
    else if (strcmp(w, "row") == 0 && call)
        msg = "row constructors are not supported";
    else if (strcmp(w, "interval") == 0 && nx->k == T_STRING)
        msg = "type interval is not supported";
    if (msg)
        return w2k_filter_fail(P->err, P->errsz, t->off, "%s", msg);
    if (strcmp(w, "exists") == 0 || strcmp(w, "select") == 0)
        return w2k_filter_fail(P->err, P->errsz, t->off, "subqueries are not supported: %s", w);
    if (w2k_is_niladic(w))
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "functions are not supported: %s (a filter must not depend on "
                               "when or by whom it is evaluated)",
                               w);
    if ((strcmp(w, "any") == 0 || strcmp(w, "all") == 0 || strcmp(w, "some") == 0) && call)
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "ANY, ALL and SOME are not supported: %s( (use IN (...))", w);
    if (w2k_is_reserved(w) || strcmp(w, "not") == 0)
        return w2k_syntax(P, t);
    return 0;
}

/* A column reference at t (a name or a quoted name), refusing calls and qualified
 * names; takes the token's text. */
static int w2k_p_column(w2k_parser_t *P, const w2k_tok_t *t)
{
    const w2k_tok_t *nx = w2k_peek(P, 1);
    if (nx->k == T_LPAREN)
        return w2k_filter_fail(P->err, P->errsz, t->off, "function calls are not supported: %.*s(",
                               (int)t->len, P->src + t->off);
    if (nx->k == T_DOT)
        return w2k_filter_fail(P->err, P->errsz, t->off,
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

static int w2k_p_primary(w2k_parser_t *P);

/* An unquoted word at t: type 'text', TRUE/FALSE/NULL, CAST(...), a refused word or
 * a column. */
static int w2k_p_word(w2k_parser_t *P, const w2k_tok_t *t)
{
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
    if (strcmp(w, "true") == 0 || strcmp(w, "false") == 0 || strcmp(w, "null") == 0)
        return w2k_p_boolnull(P, t);
    if (strcmp(w, "cast") == 0 && w2k_peek(P, 1)->k == T_LPAREN)
        return w2k_p_cast(P, t);
    if (w2k_refuse_word(P, t, w2k_peek(P, 1)) != 0)
        return -1;
    return w2k_p_column(P, t);
}

/* primary := literal | column | ( expr ) | CAST ( expr AS type ) | type 'text' */
static int w2k_p_primary(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    switch (t->k) {
    case T_NUMBER:
        P->pos++;
        return w2k_p_number(P, t);
    case T_STRING:
        return w2k_p_string(P);
    case T_LPAREN:
        return w2k_p_paren(P);
    case T_PARAM:
        return w2k_filter_fail(P->err, P->errsz, t->off, "parameters are not supported: %.*s",
                               (int)t->len, P->src + t->off);
    case T_IDENT:
        return w2k_p_word(P, t);
    case T_QIDENT:
        return w2k_p_column(P, t);
    default:
        return w2k_syntax(P, t);
    }
}

/* The error for what follows an operand at t, or 0 when nothing refused does. */
static int w2k_refuse_postfix(w2k_parser_t *P, const w2k_tok_t *t)
{
    if (t->k == T_LBRACKET)
        return w2k_filter_fail(P->err, P->errsz, t->off, "array subscripts are not supported: [");
    if (t->k == T_DOT)
        return w2k_filter_fail(P->err, P->errsz, t->off, "field selection is not supported: .");
    if (w2k_is_kw(t, "collate"))
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "COLLATE is not supported (text compares by bytes, as in the C "
                               "collation)");
    if (w2k_is_kw(t, "at") && w2k_is_kw(w2k_peek(P, 1), "time"))
        return w2k_filter_fail(P->err, P->errsz, t->off, "AT TIME ZONE is not supported");
    return 0;
}

/* postfix := primary { :: type } */
static int w2k_p_postfix(w2k_parser_t *P)
{
    int n = w2k_p_primary(P);
    if (n < 0)
        return -1;
    for (const w2k_tok_t *t = w2k_peek(P, 0); t->k == T_CAST; t = w2k_peek(P, 0)) {
        w2k_pnode_t *p = &P->f->pn[n];
        if (p->kind != N_CONST)
            return w2k_filter_fail(P->err, P->errsz, t->off,
                                   p->kind == N_COL
                                       ? "casts of columns are not supported: %.*s::"
                                       : "casts are only supported on literals: %.*s::",
                                   (int)(t->off - p->off), P->src + p->off);
        P->pos++;
        uint8_t type;
        uint32_t oid;
        if (w2k_p_typename(P, &type, &oid) != 0 || w2k_cast_const(P, n, type, oid, t->off) != 0)
            return -1;
        P->f->pn[n].end = w2k_peek(P, -1)->off + w2k_peek(P, -1)->len;
    }
    return w2k_refuse_postfix(P, w2k_peek(P, 0)) != 0 ? -1 : n;
}

/* Negate the number constant n (a cast at off makes -9223372036854775808 numeric). */
static int w2k_negate(w2k_parser_t *P, int n, size_t off)
{
    w2k_pnode_t *p = &P->f->pn[n];
    if (p->type == FT_INT && p->v.u.i != INT64_MIN) {
        p->v.u.i = -p->v.u.i;
        return n;
    }
    if (p->type == FT_INT && w2k_cast_const(P, n, FT_NUM, W2K_OID_NUMERIC, off) != 0)
        return -1;
    w2k_fnum_t *x = &p->v.u.num;
    if (p->type == FT_FLOAT)
        p->v.u.d = -p->v.u.d;
    else if (x->special == NUM_PINF)
        x->special = NUM_NINF;
    else if (x->special == NUM_NINF)
        x->special = NUM_PINF;
    else if (x->special == NUM_FINITE && x->il + x->fl > 0)
        x->neg = !x->neg;
    return n;
}

/* unary := { - | + } postfix, on numeric literals only */
static int w2k_p_unary(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (t->k != T_MINUS && t->k != T_PLUS)
        return w2k_p_postfix(P);
    P->pos++;
    if (w2k_enter(P, t->off) != 0)
        return -1;
    int n = w2k_p_unary(P);
    P->depth--;
    if (n < 0)
        return -1;
    w2k_pnode_t *p = &P->f->pn[n];
    if (p->kind != N_CONST)
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "arithmetic is not supported: unary %c on %.*s", P->src[t->off],
                               (int)(p->end - p->off), P->src + p->off);
    if (p->type != FT_INT && p->type != FT_NUM && p->type != FT_FLOAT)
        return w2k_filter_fail(P->err, P->errsz, t->off,
                               "unary %c is only supported on numbers, not on %s %.*s",
                               P->src[t->off], w2k_fval_type_name(p->type, p->oid),
                               (int)(p->end - p->off), P->src + p->off);
    p->off = t->off;
    return t->k == T_PLUS ? n : w2k_negate(P, n, t->off);
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
        return w2k_filter_fail(P->err, P->errsz, t->off, "%s are not supported: %.*s",
                               arith ? "arithmetic operators" : "operators", (int)t->len,
                               P->src + t->off);
    }
    return n;
}

/* ---- predicates ---- */

/* Compile a LIKE pattern into L (pattern constant pat, escape esc or -1 for none). */
static int w2k_like_compile(w2k_parser_t *P, w2k_pnode_t *L, const w2k_pnode_t *pat, int esc,
                            bool fold)
{
    const char *s = pat->v.u.s.p;
    size_t n = pat->v.u.s.n, k = 0;
    w2k_like_t *lk = &L->like;
    lk->lit = malloc(n + 1);
    lk->kind = malloc(n + 1);
    if (!lk->lit || !lk->kind)
        return w2k_filter_fail(P->err, P->errsz, pat->off, "out of memory");
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        uint8_t kind = c == '%' ? LK_ANY : c == '_' ? LK_ONE : LK_BYTE;
        if (esc >= 0 && c == (char)esc) {
            if (i + 1 == n)
                return w2k_filter_fail(P->err, P->errsz, pat->off,
                                       "LIKE pattern must not end with escape character");
            c = s[++i];
            kind = LK_BYTE;
        }
        if (kind == LK_ANY && k > 0 && lk->kind[k - 1] == LK_ANY)
            continue;
        lk->lit[k] = kind != LK_BYTE ? 0 : fold ? w2k_f_lower(c) : c;
        lk->kind[k++] = kind;
        if (fold && kind == LK_BYTE && (unsigned char)lk->lit[k - 1] >= 0x80)
            return w2k_filter_fail(P->err, P->errsz, pat->off,
                                   "ILIKE patterns with non-ASCII characters are not supported "
                                   "(ILIKE here folds ASCII letters only; use LIKE)");
    }
    lk->n = k;
    return 0;
}

/* x [NOT] BETWEEN [SYMMETRIC] a AND b, after BETWEEN at off: x >= a AND x <= b;
 * SYMMETRIC: OR the same with a and b swapped. */
static int w2k_p_between(w2k_parser_t *P, int x, bool neg, size_t off)
{
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
        P->f->pn[r].off = P->f->pn[x].off;
    return r;
}

/* The operands of an IN list up to its ')' into l. */
static int w2k_p_list(w2k_parser_t *P, w2k_ivec_t *l, size_t off)
{
    for (;;) {
        int e = w2k_p_operand(P);
        if (e < 0)
            return -1;
        if (w2k_ivec_push(l, e) != 0)
            return w2k_filter_fail(P->err, P->errsz, off, "out of memory");
        const w2k_tok_t *c = w2k_peek(P, 0);
        P->pos++;
        if (c->k == T_RPAREN)
            return 0;
        if (c->k != T_COMMA) {
            P->pos--;
            return w2k_syntax(P, c);
        }
    }
}

/* x [NOT] IN ( operand, ... ), after IN at off. */
static int w2k_p_in(w2k_parser_t *P, int x, bool neg, size_t off)
{
    P->pos++;
    const w2k_tok_t *lp = w2k_peek(P, 0);
    if (lp->k != T_LPAREN)
        return w2k_syntax(P, lp);
    const w2k_tok_t *w = w2k_peek(P, 1);
    if (w2k_is_subquery(w))
        return w2k_filter_fail(P->err, P->errsz, w->off, "subqueries are not supported: IN (%s",
                               w->text);
    P->pos++;
    w2k_ivec_t l = {0};
    int n = w2k_p_list(P, &l, off);
    if (n == 0)
        n = w2k_new_pnode(P, N_IN, P->f->pn[x].off, w2k_peek(P, -1)->off + 1);
    if (n >= 0) {
        P->f->pn[n].opoff = off;
        P->f->pn[n].a = x;
        n = w2k_set_kids(P, n, &l);
    }
    free(l.v);
    return n >= 0 && neg ? w2k_unary(P, N_NOT, off, n) : n;
}

/* The escape character of LIKE's ESCAPE operand e (-1: none, '' given). */
static int w2k_like_escape(w2k_parser_t *P, const w2k_pnode_t *e, int *esc)
{
    if (e->kind != N_CONST || (e->type != FT_UNKNOWN && e->type != FT_TEXT))
        return w2k_filter_fail(P->err, P->errsz, e->off,
                               "the ESCAPE of LIKE must be a string literal");
    *esc = e->v.u.s.n == 0 ? -1 : (unsigned char)e->v.u.s.p[0];
    if (e->v.u.s.n > 1 || *esc >= 0x80)
        return w2k_filter_fail(P->err, P->errsz, e->off,
                               "invalid escape string: must be empty or one ASCII character");
    return 0;
}

/* x [NOT] {LIKE | ILIKE} pattern [ESCAPE e], at t (LIKE or ILIKE) at off. */
static int w2k_p_like(w2k_parser_t *P, int x, const w2k_tok_t *t, bool neg, size_t off)
{
    w2k_filter_t *f = P->f;
    bool ilike = t->text[0] == 'i';
    P->pos++;
    int pat = w2k_p_operand(P);
    if (pat < 0)
        return -1;
    int esc = '\\', escn = -1;
    if (w2k_accept_kw(P, "escape") && (escn = w2k_p_operand(P)) < 0)
        return -1;
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
        return w2k_filter_fail(P->err, P->errsz, pp->off,
                               "the pattern of LIKE must be a string literal: %.*s",
                               (int)(pp->end - pp->off), P->src + pp->off);
    if (escn >= 0 && w2k_like_escape(P, &f->pn[escn], &esc) != 0)
        return -1;
    if (pp->type == FT_NULL)
        L->like_null = true;
    else if (w2k_like_compile(P, L, pp, esc, ilike) != 0)
        return -1;
    return neg ? w2k_unary(P, N_NOT, off, n) : n;
}

/* pred := operand [ [NOT] {BETWEEN [SYMMETRIC] operand AND operand | IN (list)
 *                          | {LIKE | ILIKE} operand [ESCAPE operand]} ] */
static int w2k_p_pred(w2k_parser_t *P)
{
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
    if (w2k_is_kw(t, "similar"))
        return w2k_filter_fail(P->err, P->errsz, t->off, "SIMILAR TO is not supported (use LIKE)");
    if (w2k_is_kw(t, "between"))
        return w2k_p_between(P, x, neg, t->off);
    if (w2k_is_kw(t, "in"))
        return w2k_p_in(P, x, neg, t->off);
    if (w2k_is_kw(t, "like") || w2k_is_kw(t, "ilike"))
        return w2k_p_like(P, x, t, neg, t->off);
    return x;
}

/* ---- comparisons and boolean operators ---- */

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

/* What follows IS [NOT] (t: IS) on a: NULL, TRUE, FALSE, UNKNOWN or DISTINCT FROM. */
static int w2k_p_is_tail(w2k_parser_t *P, int a, const w2k_tok_t *t, bool neg)
{
    const w2k_tok_t *w = w2k_peek(P, 0);
    int n;
    if (w2k_is_kw(w, "null") || w2k_is_kw(w, "true") || w2k_is_kw(w, "false") ||
        w2k_is_kw(w, "unknown")) {
        P->pos++;
        n = w2k_unary(P, w->text[0] == 'n' ? N_ISNULL : N_ISBOOL, t->off, a);
        if (n < 0)
            return -1;
        P->f->pn[n].op = w->text[0] == 't' ? 1 : w->text[0] == 'f' ? 0 : 2;
        P->f->pn[n].end = w->off + w->len;
    } else if (w2k_is_kw(w, "distinct")) {
        P->pos++;
        if (!w2k_accept_kw(P, "from"))
            return w2k_syntax(P, w2k_peek(P, 0));
        int b = w2k_p_cmp(P);
        if (b < 0 || (n = w2k_binary(P, N_DISTINCT, 0, t->off, a, b)) < 0)
            return -1;
    } else if (w2k_is_kw(w, "document") || w2k_is_kw(w, "normalized") || w2k_is_kw(w, "of") ||
               w2k_is_kw(w, "json") || w2k_is_kw(w, "nfc")) {
        return w2k_filter_fail(P->err, P->errsz, t->off, "IS %s%s is not supported",
                               neg ? "NOT " : "", w->text);
    } else {
        return w2k_syntax(P, w);
    }
    P->f->pn[n].neg = neg;
    return n;
}

/* is := cmp { IS [NOT] {NULL | TRUE | FALSE | UNKNOWN | DISTINCT FROM cmp} | ISNULL | NOTNULL } */
static int w2k_p_is(w2k_parser_t *P)
{
    int a = w2k_p_cmp(P);
    while (a >= 0) {
        const w2k_tok_t *t = w2k_peek(P, 0);
        if (w2k_is_kw(t, "isnull") || w2k_is_kw(t, "notnull")) {
            P->pos++;
            a = w2k_unary(P, N_ISNULL, t->off, a);
            if (a >= 0) {
                P->f->pn[a].neg = t->text[0] == 'n';
                P->f->pn[a].end = t->off + t->len;
            }
            continue;
        }
        if (!w2k_is_kw(t, "is"))
            return a;
        P->pos++;
        a = w2k_p_is_tail(P, a, t, w2k_accept_kw(P, "not"));
    }
    return -1;
}

/* not := NOT not | is */
static int w2k_p_not(w2k_parser_t *P)
{
    const w2k_tok_t *t = w2k_peek(P, 0);
    if (!w2k_is_kw(t, "not"))
        return w2k_p_is(P);
    P->pos++;
    if (w2k_enter(P, t->off) != 0)
        return -1;
    int a = w2k_p_not(P);
    P->depth--;
    return a < 0 ? -1 : w2k_unary(P, N_NOT, t->off, a);
}

/* A chain of AND or OR: one node with all operands as children. */
static int w2k_p_chain(w2k_parser_t *P, int kind)
{
    const char *kw = kind == N_OR ? "or" : "and";
    int first = kind == N_OR ? w2k_p_chain(P, N_AND) : w2k_p_not(P);
    if (first < 0 || !w2k_is_kw(w2k_peek(P, 0), kw))
        return first;
    w2k_ivec_t l = {0};
    size_t off = w2k_peek(P, 0)->off;
    int x = first, n = -1;
    do {
        if (w2k_ivec_push(&l, x) != 0) {
            x = w2k_filter_fail(P->err, P->errsz, off, "out of memory");
            break;
        }
        if (!w2k_accept_kw(P, kw))
            break;
        x = kind == N_OR ? w2k_p_chain(P, N_AND) : w2k_p_not(P);
    } while (x >= 0);
    if (x >= 0)
        n = w2k_set_kids(P, w2k_new_pnode(P, kind, P->f->pn[first].off, P->f->pn[x].end), &l);
    free(l.v);
    return n;
}

static int w2k_p_or(w2k_parser_t *P)
{
    if (w2k_enter(P, w2k_peek(P, 0)->off) != 0)
        return -1;
    int n = w2k_p_chain(P, N_OR);
    P->depth--;
    return n;
}

/* Parse the tokens into f's tree (see filter_int.h). */
int w2k_filter_parse_tokens(w2k_filter_t *f, w2k_toks_t *toks, char *err, size_t errsz)
{
    w2k_parser_t P = {
        .f = f, .src = f->text, .toks = toks->t, .ntoks = toks->n, .err = err, .errsz = errsz};
    if (P.toks[0].k == T_EOF)
        return w2k_filter_fail(err, errsz, 0, "empty expression");
    int root = w2k_p_or(&P);
    if (root < 0)
        return -1;
    const w2k_tok_t *t = w2k_peek(&P, 0);
    if (t->k == T_RPAREN)
        return w2k_filter_fail(err, errsz, t->off, "unbalanced parenthesis: )");
    if (t->k != T_EOF)
        return w2k_syntax(&P, t);
    return root;
}
