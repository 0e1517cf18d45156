/* test_filter_parts.c — the row filter's parts through their own interfaces
 * (filter_int.h): the lexer's tokens (kinds, spans, texts, refused forms) and the
 * binder's messages in full (test_filter.c checks the whole language end to end). */
#include <stdio.h>
#include <string.h>

#include "filter_int.h"
#include "unit.h"

/* ---- the lexer ---- */

typedef struct want_tok_s {
    int k;
    const char *src;  /* the token's source text */
    const char *text; /* its value, or NULL */
} want_tok_t;

/* Lex expr and compare with want (n tokens before T_EOF); spans are found by searching
 * each token's source text from the end of the previous one. */
static void lex_is(const char *expr, const want_tok_t *want, int n)
{
    char err[256] = "";
    w2k_toks_t toks = {0};
    CHECK_INT(w2k_filter_lex(expr, &toks, err, sizeof err), 0);
    CHECK_STR(err, "");
    CHECK_INT(toks.n, n + 1);
    size_t from = 0;
    for (int i = 0; i < n && i < toks.n; i++) {
        const w2k_tok_t *t = &toks.t[i];
        const char *at = strstr(expr + from, want[i].src);
        CHECK(at != NULL);
        if (!at)
            break;
        size_t off = (size_t)(at - expr);
        if (t->k != want[i].k || t->off != off || t->len != strlen(want[i].src))
            fprintf(stderr, "  %s: token %d (%s)\n", expr, i, want[i].src);
        CHECK_INT(t->k, want[i].k);
        CHECK_INT(t->off, off);
        CHECK_INT(t->len, strlen(want[i].src));
        if (want[i].text)
            CHECK_STR(t->text, want[i].text);
        else
            CHECK(t->text == NULL);
        from = off + t->len;
    }
    if (toks.n > 0) {
        CHECK_INT(toks.t[toks.n - 1].k, T_EOF);
        CHECK_INT(toks.t[toks.n - 1].off, strlen(expr));
    }
    w2k_filter_toks_free(&toks);
}

static void lex_fails(const char *expr, const char *msg)
{
    char err[256] = "";
    w2k_toks_t toks = {0};
    CHECK_INT(w2k_filter_lex(expr, &toks, err, sizeof err), -1);
    CHECK_STR(err, msg);
    w2k_filter_toks_free(&toks);
}

static void test_lexer(void)
{
    const want_tok_t t1[] = {
        {T_IDENT, "ID", "id"},
        {T_NE, "<>", NULL},
        {T_STRING, "'it''s'", "it's"},
        {T_IDENT, "AND", "and"},
        {T_QIDENT, "\"Mixed \"\"Q\"\"\"", "Mixed \"Q\""},
        {T_CAST, "::", NULL},
        {T_IDENT, "text", "text"},
        {T_NE, "!=", NULL},
        {T_NUMBER, "1.5e3", NULL},
    };
    lex_is("ID <> 'it''s' -- a comment\n AND \"Mixed \"\"Q\"\"\"::text /* x /* nested */ y */ "
           "!= 1.5e3",
           t1, 9);
    /* operators: a trailing - or + is a sign unless the run has one of ~!@#%^&|`? */
    const want_tok_t t2[] = {{T_IDENT, "a", "a"},   {T_EQ, "=", NULL},   {T_MINUS, "-", NULL},
                             {T_NUMBER, "1", NULL}, {T_IDENT, "b", "b"}, {T_OP, "<=>", NULL},
                             {T_IDENT, "c", "c"},   {T_OP, "@-", NULL},  {T_NUMBER, ".5", NULL}};
    lex_is("a=-1 b<=>c@-.5", t2, 9);
    const want_tok_t t3[] = {
        {T_LPAREN, "(", NULL},   {T_PARAM, "$12", NULL}, {T_COMMA, ",", NULL},
        {T_LBRACKET, "[", NULL}, {T_DOT, ".", NULL},     {T_OTHER, ";", NULL},
        {T_GE, ">=", NULL},      {T_LE, "<=", NULL},     {T_RPAREN, ")", NULL}};
    lex_is("($12,[.;>= <=)", t3, 9);
    /* non-ASCII bytes start identifiers; names are cut to 63 bytes */
    char longname[80];
    memset(longname, 'X', 70);
    longname[70] = '\0';
    w2k_toks_t toks = {0};
    char err[128];
    CHECK_INT(w2k_filter_lex(longname, &toks, err, sizeof err), 0);
    CHECK_INT(toks.t[0].k, T_IDENT);
    CHECK_INT(toks.t[0].len, 70);
    CHECK_INT(toks.t[0].tlen, 63);
    CHECK_INT(strlen(toks.t[0].text), 63);
    w2k_filter_toks_free(&toks);
    const want_tok_t t4[] = {{T_IDENT, "\xc3\xa9t\xc3\xa9", "\xc3\xa9t\xc3\xa9"}};
    lex_is("\xc3\xa9t\xc3\xa9", t4, 1);
    lex_is("  -- only a comment", NULL, 0);

    lex_fails("t = 'abc", "filter: at offset 4: unterminated string literal");
    lex_fails("\"abc", "filter: at offset 0: unterminated quoted identifier");
    lex_fails("\"\" = 1", "filter: at offset 0: zero-length quoted identifier \"\"");
    lex_fails("x /* a /* b */", "filter: at offset 2: unterminated /* comment");
    lex_fails("t = E'x'", "filter: at offset 4: E'...' string constants are not supported (use "
                          "'...')");
    lex_fails("t = U&'x'", "filter: at offset 4: U&'...' Unicode escapes are not supported");
    lex_fails("i = 12abc", "filter: at offset 4: trailing junk after numeric literal: 12a");
    lex_fails("i = 1.2.3", "filter: at offset 4: trailing junk after numeric literal: 1.2.");
    lex_fails("t = $$x$$", "filter: at offset 4: dollar-quoted strings are not supported (use "
                           "'...')");
}

/* ---- the binder ---- */

static w2k_relation_t *make_rel(void)
{
    static const struct {
        const char *name;
        uint32_t oid, base;
        const char *type_name;
    } cols[] = {
        {"i2", W2K_OID_INT2, W2K_OID_INT2, "smallint"},   {"t", W2K_OID_TEXT, W2K_OID_TEXT, "text"},
        {"u", W2K_OID_UUID, W2K_OID_UUID, "uuid"},        {"d", W2K_OID_DATE, W2K_OID_DATE, "date"},
        {"js", W2K_OID_JSONB, W2K_OID_JSONB, "jsonb"},    {"mood", 16500, W2K_OID_TEXT, "mood"},
        {"c", W2K_OID_BPCHAR, W2K_OID_BPCHAR, "char(3)"},
    };
    int n = (int)(sizeof cols / sizeof cols[0]);
    w2k_relation_t *rel = w2k_relation_new(n);
    snprintf(rel->schema, sizeof rel->schema, "public");
    snprintf(rel->name, sizeof rel->name, "t");
    for (int i = 0; i < n; i++) {
        w2k_column_t *c = &rel->cols[i];
        snprintf(c->name, sizeof c->name, "%s", cols[i].name);
        snprintf(c->type_name, sizeof c->type_name, "%s", cols[i].type_name);
        c->type_oid = cols[i].oid;
        c->typmod = -1;
        w2k_coltype_from_pg(&c->type, cols[i].base, -1, 0);
    }
    return rel;
}

static void bind_fails(const w2k_relation_t *rel, const char *expr, const char *msg)
{
    char err[512] = "";
    w2k_filter_t *f = w2k_filter_parse(expr, err, sizeof err);
    CHECK(f != NULL);
    if (!f) {
        fprintf(stderr, "  %s: %s\n", expr, err);
        return;
    }
    CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), -1);
    CHECK_STR(err, msg);
    CHECK(!w2k_filter_uses_column(f, 0));
    w2k_filter_destroy(f);
}

static void test_binder(void)
{
    w2k_relation_t *rel = make_rel();
    bind_fails(rel, "nope = 1",
               "filter: at offset 0: column \"nope\" does not exist in table "
               "public.t");
    bind_fails(rel, "i2 = 'abc'",
               "filter: at offset 5: cannot compare smallint column \"i2\" with 'abc': invalid "
               "input syntax for type smallint");
    bind_fails(rel, "i2 = '40000'",
               "filter: at offset 5: cannot compare smallint column \"i2\" with '40000': out of "
               "range for type smallint");
    bind_fails(rel, "d < 'now'",
               "filter: at offset 4: cannot compare date column \"d\" with 'now': now, today, "
               "tomorrow and yesterday are not constants");
    bind_fails(rel, "d = '2023-02-29'",
               "filter: at offset 4: cannot compare date column \"d\" with '2023-02-29': date out "
               "of range or not a date");
    bind_fails(rel, "u IN ('x')",
               "filter: at offset 6: cannot compare uuid column \"u\" with 'x': invalid input "
               "syntax for type uuid");
    bind_fails(rel, "u = t",
               "filter: at offset 2: cannot compare uuid column \"u\" with text "
               "column \"t\"");
    bind_fails(rel, "i2 = 1.5::real AND d = 1",
               "filter: at offset 21: cannot compare date column \"d\" with integer 1");
    bind_fails(rel, "i2",
               "filter: at offset 0: a filter must be boolean, not smallint column "
               "\"i2\"");
    bind_fails(rel, "NOT t",
               "filter: at offset 4: the argument of NOT must be boolean, not text "
               "column \"t\"");
    bind_fails(rel, "js = '{}'",
               "filter: at offset 0: column \"js\" has type jsonb, which "
               "filters only support in IS [NOT] NULL");
    bind_fails(rel, "mood < 'sad'",
               "filter: at offset 5: column \"mood\" has a user-defined type (an enum, compared "
               "by its label): only =, <>, IN and IS [NOT] DISTINCT FROM are supported");
    bind_fails(rel, "i2 LIKE 'x'",
               "filter: at offset 3: LIKE is only supported on text, not on "
               "smallint column \"i2\"");
    bind_fails(rel, "(i2 > 1) = 'maybe'",
               "filter: at offset 11: cannot compare boolean expression i2 > 1 with 'maybe': "
               "invalid input syntax for type boolean");
    /* what binds: IS NULL on any type, enums with =, char(n) with text */
    char err[256];
    const char *ok[] = {"js IS NULL AND mood = 'sad'", "c = t OR c < 'ab' OR 'x' IN (c, t)",
                        "d < '2024-01-01 10:00:00+05'::timestamptz"};
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        w2k_filter_t *f = w2k_filter_parse(ok[i], err, sizeof err);
        CHECK(f != NULL);
        CHECK_INT(w2k_filter_bind(f, rel, err, sizeof err), 0);
        w2k_filter_destroy(f);
    }
    w2k_relation_free(rel);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    test_lexer();
    test_binder();
    return unit_report("test_filter_parts");
}
