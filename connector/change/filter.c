/* filter.c — row filters, the public entry points of filter.h: parse (filter_lex.c
 * tokens, filter_parse.c tree), bind (filter_bind.c), evaluate (filter_eval.c).
 * filter_int.h holds the types; filter_value.c the typed values; filter_lex.c also the
 * error format the parts share. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"

/* Parse expr into a new filter (see filter.h). */
w2k_filter_t *w2k_filter_parse(const char *expr, char *err, size_t errsz)
{
    if (err && errsz)
        err[0] = '\0';
    w2k_filter_t *f = calloc(1, sizeof *f);
    if (!f || !(f->text = strdup(expr ? expr : ""))) {
        free(f);
        w2k_filter_fail(err, errsz, 0, "out of memory");
        return NULL;
    }
    w2k_toks_t toks = {0};
    int rc = w2k_filter_lex(f->text, &toks, err, errsz);
    if (rc == 0) {
        f->proot = w2k_filter_parse_tokens(f, &toks, err, errsz);
        rc = f->proot < 0 ? -1 : 0;
    }
    w2k_filter_toks_free(&toks);
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
    w2k_filter_unbind(f);
    int nc = rel->ncols > 0 ? rel->ncols : 1;
    f->used = calloc((size_t)nc, sizeof *f->used);
    f->isneed = calloc((size_t)nc, sizeof *f->isneed);
    f->need = calloc((size_t)nc, sizeof *f->need);
    if (!f->used || !f->isneed || !f->need) {
        w2k_filter_unbind(f);
        return w2k_filter_fail(err, errsz, 0, "out of memory");
    }
    f->ncols = rel->ncols;
    int root = w2k_filter_bind_tree(f, rel, err, errsz);
    if (root < 0) {
        w2k_filter_unbind(f);
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
    bool bad = false;
    int r = w2k_filter_eval_tree(f, row, &bad);
    return bad ? W2K_FILTER_BADVALUE : r;
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
    w2k_filter_unbind(f);
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
