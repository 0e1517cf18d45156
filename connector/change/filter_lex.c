/* filter_lex.c — the row filter's lexer: an SQL expression split into tokens
 * (identifiers folded to lower case, quoted names, strings, numbers, operators,
 * punctuation), comments and white space skipped, the string forms the filter does
 * not support refused with their offset; and the error format every part of the filter
 * uses ("filter: at offset N: ..."). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter_int.h"

/* "filter: at offset N: <message>" (see filter_int.h). */
int w2k_filter_fail(char *err, size_t errsz, size_t off, const char *fmt, ...)
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

/* A printable, shortened quote of source text (see filter_int.h). */
const char *w2k_filter_quote(const char *s, size_t n, char *out, size_t outsz)
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

/* The lexer's state. */
typedef struct w2k_lexer_s {
    const char *s;
    size_t i; /* the next byte */
    w2k_toks_t *toks;
    char *err;
    size_t errsz;
} w2k_lexer_t;

static int w2k_lex_push(w2k_lexer_t *L, int k, size_t off, size_t len, char *text, size_t tlen)
{
    w2k_toks_t *T = L->toks;
    if (T->n == T->cap) {
        int nc = T->cap ? T->cap * 2 : 32;
        w2k_tok_t *t = realloc(T->t, (size_t)nc * sizeof *t);
        if (!t) {
            free(text);
            return w2k_filter_fail(L->err, L->errsz, off, "out of memory");
        }
        T->t = t;
        T->cap = nc;
    }
    T->t[T->n++] = (w2k_tok_t){k, off, len, text, tlen};
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

/* The length of a name cut to W2K_IDENT_MAX bytes, not inside a UTF-8 character. */
static size_t w2k_ident_cut(const char *v, size_t n)
{
    if (n <= W2K_IDENT_MAX)
        return n;
    size_t cut = W2K_IDENT_MAX;
    while (cut > 0 && ((unsigned char)v[cut] & 0xc0) == 0x80)
        cut--;
    return cut;
}

/* Skip a comment at L->i: 1 when there was one, 0 when not, -1 when unterminated. */
static int w2k_lex_comment(w2k_lexer_t *L)
{
    const char *s = L->s;
    size_t i = L->i;
    if (s[i] == '-' && s[i + 1] == '-') {
        while (s[L->i] != '\0' && s[L->i] != '\n')
            L->i++;
        return 1;
    }
    if (s[i] != '/' || s[i + 1] != '*')
        return 0;
    int depth = 0;
    do {
        if (s[i] == '/' && s[i + 1] == '*') {
            depth++;
            i += 2;
        } else if (s[i] == '*' && s[i + 1] == '/') {
            depth--;
            i += 2;
        } else if (s[i] == '\0') {
            return w2k_filter_fail(L->err, L->errsz, L->i, "unterminated /* comment");
        } else {
            i++;
        }
    } while (depth > 0);
    L->i = i;
    return 1;
}

/* Unescape a quoted token ('...' or "...", the quote doubled inside) starting at
 * src[i]; *end: just past it. Returns the value (owned) or NULL when unterminated. */
static char *w2k_lex_unquote(const char *src, size_t i, char q, size_t *end, size_t *vlen)
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

/* A string literal or a quoted identifier at L->i. */
static int w2k_lex_quoted(w2k_lexer_t *L)
{
    size_t st = L->i, end, vlen;
    char c = L->s[st];
    char *v = w2k_lex_unquote(L->s, st, c, &end, &vlen);
    if (!v)
        return w2k_filter_fail(L->err, L->errsz, st, "unterminated %s",
                               c == '\'' ? "string literal" : "quoted identifier");
    if (c == '"' && vlen == 0) {
        free(v);
        return w2k_filter_fail(L->err, L->errsz, st, "zero-length quoted identifier \"\"");
    }
    if (c == '"') {
        vlen = w2k_ident_cut(v, vlen);
        v[vlen] = '\0';
    }
    L->i = end;
    return w2k_lex_push(L, c == '\'' ? T_STRING : T_QIDENT, st, end - st, v, vlen);
}

/* An identifier or keyword at L->i, folded to lower case. */
static int w2k_lex_ident(w2k_lexer_t *L)
{
    const char *s = L->s;
    size_t st = L->i;
    char c = s[st];
    while (w2k_is_ident_char(s[L->i]))
        L->i++;
    size_t i = L->i, n = i - st;
    if (s[i] == '\'' && n == 1 && strchr("eEbBxXnN", c))
        return w2k_filter_fail(L->err, L->errsz, st,
                               "%c'...' string constants are not supported (use '...')", c);
    if (s[i] == '&' && n == 1 && (c == 'u' || c == 'U') && (s[i + 1] == '\'' || s[i + 1] == '"'))
        return w2k_filter_fail(L->err, L->errsz, st, "U&'...' Unicode escapes are not supported");
    size_t keep = w2k_ident_cut(s + st, n);
    char *v = malloc(keep + 1);
    if (!v)
        return w2k_filter_fail(L->err, L->errsz, st, "out of memory");
    for (size_t k = 0; k < keep; k++)
        v[k] = w2k_f_lower(s[st + k]);
    v[keep] = '\0';
    return w2k_lex_push(L, T_IDENT, st, n, v, keep);
}

/* A number at L->i: digits, a fraction, an exponent; a letter right after is refused. */
static int w2k_lex_number(w2k_lexer_t *L)
{
    const char *s = L->s;
    size_t st = L->i, i = st;
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
        return w2k_filter_fail(L->err, L->errsz, st, "trailing junk after numeric literal: %.*s",
                               (int)(i + 1 - st), s + st);
    L->i = i;
    return w2k_lex_push(L, T_NUMBER, st, i - st, NULL, 0);
}

/* The token kind of an operator of n bytes at s. */
static int w2k_op_kind(const char *s, size_t n)
{
    char c = s[0];
    if (n == 1)
        return c == '='   ? T_EQ
               : c == '<' ? T_LT
               : c == '>' ? T_GT
               : c == '+' ? T_PLUS
               : c == '-' ? T_MINUS
                          : T_OP;
    if (n == 2 && ((c == '<' && s[1] == '>') || (c == '!' && s[1] == '=')))
        return T_NE;
    if (n == 2 && s[1] == '=' && (c == '<' || c == '>'))
        return c == '<' ? T_LE : T_GE;
    return T_OP;
}

/* An operator at L->i: the longest run of operator characters, as PostgreSQL reads
 * it (a comment start ends it; trailing + and - are cut unless it has ~!@#%^&|`?). */
static int w2k_lex_operator(w2k_lexer_t *L)
{
    const char *s = L->s + L->i;
    size_t n = 0;
    bool special = false;
    while (w2k_is_op_char(s[n])) {
        if (n > 0 && ((s[n] == '-' && s[n + 1] == '-') || (s[n] == '/' && s[n + 1] == '*')))
            break;
        if (strchr("~!@#%^&|`?", s[n]))
            special = true;
        n++;
    }
    while (n > 1 && !special && (s[n - 1] == '+' || s[n - 1] == '-'))
        n--;
    size_t st = L->i;
    L->i += n;
    return w2k_lex_push(L, w2k_op_kind(s, n), st, n, NULL, 0);
}

/* Punctuation, a parameter or any other character at L->i. */
static int w2k_lex_other(w2k_lexer_t *L)
{
    const char *s = L->s + L->i;
    char c = s[0];
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
    else if (c == ':' && s[1] == ':')
        k = T_CAST, n = 2;
    else if (c == '$' && !w2k_f_isdigit(s[1]))
        return w2k_filter_fail(L->err, L->errsz, L->i,
                               "dollar-quoted strings are not supported (use '...')");
    else if (c == '$')
        for (k = T_PARAM; w2k_f_isdigit(s[n]);)
            n++;
    else if ((unsigned char)c >= 0x80)
        n = w2k_f_u8len((unsigned char)c);
    size_t st = L->i;
    L->i += n;
    return w2k_lex_push(L, k, st, n, NULL, 0);
}

/* The next token at L->i (white space and comments skipped before). */
static int w2k_lex_token(w2k_lexer_t *L)
{
    char c = L->s[L->i];
    if (c == '\'' || c == '"')
        return w2k_lex_quoted(L);
    if (w2k_is_ident_start(c))
        return w2k_lex_ident(L);
    if (w2k_f_isdigit(c) || (c == '.' && w2k_f_isdigit(L->s[L->i + 1])))
        return w2k_lex_number(L);
    if (w2k_is_op_char(c))
        return w2k_lex_operator(L);
    return w2k_lex_other(L);
}

/* Split the expression into tokens (see filter_int.h). */
int w2k_filter_lex(const char *src, w2k_toks_t *toks, char *err, size_t errsz)
{
    w2k_lexer_t L = {.s = src, .i = 0, .toks = toks, .err = err, .errsz = errsz};
    while (src[L.i] != '\0') {
        if (w2k_f_isspace(src[L.i])) {
            L.i++;
            continue;
        }
        int c = w2k_lex_comment(&L);
        if (c < 0)
            return -1;
        if (c == 0 && w2k_lex_token(&L) != 0)
            return -1;
    }
    return w2k_lex_push(&L, T_EOF, L.i, 0, NULL, 0);
}

/* Free the tokens (see filter_int.h). */
void w2k_filter_toks_free(w2k_toks_t *toks)
{
    for (int i = 0; i < toks->n; i++)
        free(toks->t[i].text);
    free(toks->t);
    toks->t = NULL;
    toks->n = toks->cap = 0;
}
