/* fuzz_filter.c — libFuzzer harness for the row-filter language: text → parse → bind to a
 * fixed relation (a column of each supported type, an enum, jsonb) → evaluate on a row.
 * Input: the expression, then optionally a NUL byte and the row's values separated by
 * \x01 (a value "\x02" is NULL, "\x03" an unchanged TOAST value, missing columns NULL).
 * Property: parse either refuses with "filter: ..." (an offset, when named, inside the
 * text) or gives a filter; bind either refuses with a message (and evaluation then says
 * W2K_FILTER_BADVALUE) or succeeds; evaluation returns one of the five documented results,
 * the same twice, and NOT ( expr ) evaluates to the negation of expr (TRUE/FALSE swapped,
 * NULL, TOAST and BADVALUE unchanged). Seeds: tests/fuzz/corpus/filter. */
#include "filter.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fuzz_col_s {
    const char *name;
    uint32_t oid;
    int32_t typmod;
    uint32_t base_oid;
} fuzz_col_t;

static const fuzz_col_t fuzz_cols[] = {
    {"id", W2K_OID_INT4, -1, W2K_OID_INT4},
    {"i2", W2K_OID_INT2, -1, W2K_OID_INT2},
    {"i8", W2K_OID_INT8, -1, W2K_OID_INT8},
    {"n", W2K_OID_NUMERIC, -1, W2K_OID_NUMERIC},
    {"n2", W2K_OID_NUMERIC, ((10 << 16) | 2) + 4, W2K_OID_NUMERIC},
    {"f4", W2K_OID_FLOAT4, -1, W2K_OID_FLOAT4},
    {"f8", W2K_OID_FLOAT8, -1, W2K_OID_FLOAT8},
    {"b", W2K_OID_BOOL, -1, W2K_OID_BOOL},
    {"t", W2K_OID_TEXT, -1, W2K_OID_TEXT},
    {"vc", W2K_OID_VARCHAR, 14, W2K_OID_VARCHAR},
    {"c", W2K_OID_BPCHAR, 9, W2K_OID_BPCHAR},
    {"d", W2K_OID_DATE, -1, W2K_OID_DATE},
    {"ts", W2K_OID_TIMESTAMP, -1, W2K_OID_TIMESTAMP},
    {"tz", W2K_OID_TIMESTAMPTZ, -1, W2K_OID_TIMESTAMPTZ},
    {"u", W2K_OID_UUID, -1, W2K_OID_UUID},
    {"js", W2K_OID_JSONB, -1, W2K_OID_JSONB},
    {"Mixed Case", W2K_OID_TEXT, -1, W2K_OID_TEXT},
    {"mood", 16500, -1, W2K_OID_TEXT},
};
#define FUZZ_NCOLS ((int)(sizeof fuzz_cols / sizeof fuzz_cols[0]))

static w2k_relation_t *fuzz_rel;
static w2k_pgtuple_t fuzz_row;

static w2k_relation_t *fuzz_make_rel(void)
{
    w2k_relation_t *rel = w2k_relation_new(FUZZ_NCOLS);
    if (!rel)
        abort();
    rel->relid = 16400;
    snprintf(rel->schema, sizeof rel->schema, "public");
    snprintf(rel->name, sizeof rel->name, "t");
    rel->replident = 'd';
    for (int i = 0; i < FUZZ_NCOLS; i++) {
        w2k_column_t *c = &rel->cols[i];
        snprintf(c->name, sizeof c->name, "%s", fuzz_cols[i].name);
        c->type_oid = fuzz_cols[i].oid;
        c->typmod = fuzz_cols[i].typmod;
        snprintf(c->type_name, sizeof c->type_name, "t%u", fuzz_cols[i].oid);
        w2k_coltype_from_pg(&c->type, fuzz_cols[i].base_oid, fuzz_cols[i].typmod, 0);
        c->key_pos = -1;
    }
    rel->cols[0].key_pos = 0;
    rel->keycols[0] = 0;
    rel->nkeys = 1;
    w2k_relation_name_fields(rel);
    return rel;
}

/* Fill fuzz_row from the \x01-separated values of p[0..n). */
static void fuzz_fill_row(const char *p, size_t n)
{
    fuzz_row.ncols = FUZZ_NCOLS;
    for (int i = 0; i < FUZZ_NCOLS; i++) {
        fuzz_row.cols[i].kind = 'n';
        fuzz_row.cols[i].data = NULL;
        fuzz_row.cols[i].len = 0;
    }
    size_t start = 0;
    for (int i = 0; i < FUZZ_NCOLS && start <= n; i++) {
        size_t end = start;
        while (end < n && p[end] != '\x01')
            end++;
        size_t len = end - start;
        if (len == 1 && p[start] == '\x02') {
            /* NULL, as initialised */
        } else if (len == 1 && p[start] == '\x03') {
            fuzz_row.cols[i].kind = 'u';
        } else {
            fuzz_row.cols[i].kind = 't';
            fuzz_row.cols[i].data = p + start;
            fuzz_row.cols[i].len = (uint32_t)len;
        }
        if (end >= n)
            break;
        start = end + 1;
    }
}

static int fuzz_valid_result(int r)
{
    return r == W2K_FILTER_TRUE || r == W2K_FILTER_FALSE || r == W2K_FILTER_NULL ||
           r == W2K_FILTER_TOAST || r == W2K_FILTER_BADVALUE;
}

/* Parse and bind expr; NULL when refused (checking the refusal's form). */
static w2k_filter_t *fuzz_compile(const char *expr)
{
    char err[512];
    err[0] = '\0';
    w2k_filter_t *f = w2k_filter_parse(expr, err, sizeof err);
    if (!f) {
        if (strncmp(err, "filter: ", 8) != 0) {
            fprintf(stderr, "parse refused without a filter: message: \"%s\"\n", err);
            abort();
        }
        const char *at = strstr(err, "at offset ");
        if (at && strtoul(at + 10, NULL, 10) > strlen(expr)) {
            fprintf(stderr, "offset past the end of the text: \"%s\"\n", err);
            abort();
        }
        return NULL;
    }
    if (strcmp(w2k_filter_text(f), expr) != 0)
        abort();
    err[0] = '\0';
    if (w2k_filter_bind(f, fuzz_rel, err, sizeof err) != 0) {
        if (err[0] == '\0')
            abort();
        if (w2k_filter_eval(f, &fuzz_row) != W2K_FILTER_BADVALUE)
            abort();
        w2k_filter_destroy(f);
        return NULL;
    }
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fuzz_rel)
        fuzz_rel = fuzz_make_rel();
    const char *nul = memchr(data, '\0', size);
    size_t elen = nul ? (size_t)(nul - (const char *)data) : size;
    char *expr = malloc(elen + 1);
    char *negated = malloc(elen + 16);
    if (!expr || !negated)
        abort();
    memcpy(expr, data, elen);
    expr[elen] = '\0';
    snprintf(negated, elen + 16, "NOT (%s\n)", expr);
    if (nul)
        fuzz_fill_row(nul + 1, size - elen - 1);
    else
        fuzz_fill_row("", 0);

    w2k_filter_t *f = fuzz_compile(expr);
    if (f) {
        int r = w2k_filter_eval(f, &fuzz_row);
        if (!fuzz_valid_result(r) || w2k_filter_eval(f, &fuzz_row) != r) {
            fprintf(stderr, "evaluation gave %d\n", r);
            abort();
        }
        for (int i = 0; i < FUZZ_NCOLS; i++)
            (void)w2k_filter_uses_column(f, i);
        w2k_filter_destroy(f);
        w2k_filter_t *g = fuzz_compile(negated);
        if (g) {
            int nr = w2k_filter_eval(g, &fuzz_row);
            int want = r == W2K_FILTER_TRUE    ? W2K_FILTER_FALSE
                       : r == W2K_FILTER_FALSE ? W2K_FILTER_TRUE
                                               : r;
            if (nr != want) {
                fprintf(stderr, "expr gives %d but NOT (expr) gives %d\n", r, nr);
                abort();
            }
            w2k_filter_destroy(g);
        }
    }
    free(negated);
    free(expr);
    return 0;
}
