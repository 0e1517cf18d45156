/* json.c — strict JSON reader (RFC 8259) into a tree in an arena, and member lookups. */
#include "json.h"

#include <stdlib.h>
#include <string.h>

typedef struct reader_s {
    const char *p, *end, *start;
    w2k_arena_t *a;
    int depth;
    const char *why;
} reader_t;

static void skip_ws(reader_t *r)
{
    while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r'))
        r->p++;
}

static void *fail(reader_t *r, const char *why)
{
    r->why = why;
    return NULL;
}

static int hex4(const char *q, const char *end, unsigned *cp)
{
    if (end - q < 4)
        return -1;
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = q[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *cp = v;
    return 0;
}

static size_t put_utf8(char *d, unsigned cp)
{
    if (cp < 0x80) {
        d[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (char)(0xc0 | (cp >> 6));
        d[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        d[0] = (char)(0xe0 | (cp >> 12));
        d[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        d[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    d[0] = (char)(0xf0 | (cp >> 18));
    d[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    d[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    d[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* The escape sequence at *q (after the backslash) into d; advances *q. Returns the bytes
 * written, or 0 with r->why. */
static size_t unescape(reader_t *r, const char **q, const char *e, char *d)
{
    static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
    char x = *(*q)++;
    const char *simple = x ? strchr(from, x) : NULL;
    if (simple) {
        *d = to[simple - from];
        return 1;
    }
    if (x != 'u') {
        r->why = "bad escape in a string";
        return 0;
    }
    unsigned cp, lo;
    if (hex4(*q, e, &cp) != 0) {
        r->why = "bad \\u escape";
        return 0;
    }
    *q += 4;
    if (cp >= 0xdc00 && cp <= 0xdfff) {
        r->why = "lone surrogate";
        return 0;
    }
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (e - *q < 6 || (*q)[0] != '\\' || (*q)[1] != 'u' || hex4(*q + 2, e, &lo) != 0 ||
            lo < 0xdc00 || lo > 0xdfff) {
            r->why = "lone surrogate";
            return 0;
        }
        *q += 6;
        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }
    return put_utf8(d, cp);
}

/* A string at r->p (the opening quote) into v. Returns 0, or -1 with r->why. */
static int read_string(reader_t *r, w2k_json_t *v)
{
    const char *s = ++r->p, *e = s;
    while (e < r->end && *e != '"')
        e += *e == '\\' && r->end - e >= 2 ? 2 : 1;
    if (e >= r->end) {
        r->p = r->end;
        r->why = "unterminated string";
        return -1;
    }
    /* the unescaped text is never longer than the escaped one */
    char *d = w2k_arena_alloc(r->a, (size_t)(e - s) + 1);
    if (!d) {
        r->why = "out of memory";
        return -1;
    }
    size_t n = 0;
    for (const char *q = s; q < e;) {
        unsigned char c = (unsigned char)*q;
        if (c < 0x20) {
            r->p = q;
            r->why = "control character in a string";
            return -1;
        }
        if (c != '\\') {
            d[n++] = (char)c;
            q++;
            continue;
        }
        const char *at = q++;
        size_t k = unescape(r, &q, e, d + n);
        if (k == 0) {
            r->p = at;
            return -1;
        }
        n += k;
    }
    d[n] = '\0';
    v->type = W2K_JSON_STRING;
    v->str = d;
    v->len = n;
    r->p = e + 1;
    return 0;
}

static bool is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

/* A number at r->p into v: the grammar checked, its value kept when it is an integer
 * within int64. Returns 0, or -1 with r->why. */
static int read_number(reader_t *r, w2k_json_t *v)
{
    const char *p = r->p, *e = r->end;
    bool neg = p < e && *p == '-', integer = true, overflow = false;
    uint64_t mag = 0;
    if (neg)
        p++;
    if (!is_digit(p, e) || (*p == '0' && is_digit(p + 1, e))) {
        r->why = "bad number";
        return -1;
    }
    for (; is_digit(p, e); p++) {
        unsigned d = (unsigned)(*p - '0');
        overflow |= mag > (UINT64_MAX - d) / 10;
        mag = mag * 10 + d;
    }
    if (p < e && *p == '.') {
        integer = false;
        if (!is_digit(++p, e)) {
            r->p = p;
            r->why = "bad number";
            return -1;
        }
        while (is_digit(p, e))
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        if (p < e && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, e)) {
            r->p = p;
            r->why = "bad number";
            return -1;
        }
        while (is_digit(p, e))
            p++;
    }
    r->p = p;
    v->type = W2K_JSON_NUMBER;
    if (integer && !overflow && mag <= (uint64_t)INT64_MAX + neg) {
        v->is_int = true;
        v->integer = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    }
    return 0;
}

static const w2k_json_t *read_value(reader_t *r);

/* The elements of an array or members of an object at r->p (the opening bracket),
 * collected, then copied to the arena. Returns 0, or -1 with r->why. */
static int read_container(reader_t *r, w2k_json_t *v, bool obj)
{
    char close = obj ? '}' : ']';
    size_t cap = 0;
    const w2k_json_t **items = NULL, **keys = NULL;
    int rc = -1;
    if (++r->depth > W2K_JSON_MAX_DEPTH) {
        r->why = "nested too deeply";
        return -1;
    }
    v->type = obj ? W2K_JSON_OBJECT : W2K_JSON_ARRAY;
    r->p++;
    skip_ws(r);
    if (r->p < r->end && *r->p == close) {
        r->p++;
        r->depth--;
        return 0;
    }
    for (;;) {
        w2k_json_t *key = NULL;
        skip_ws(r);
        if (obj) {
            if (r->p >= r->end || *r->p != '"') {
                r->why = "expected a member name";
                goto out;
            }
            key = w2k_arena_alloc(r->a, sizeof *key);
            if (!key) {
                r->why = "out of memory";
                goto out;
            }
            if (read_string(r, key) != 0)
                goto out;
            skip_ws(r);
            if (r->p >= r->end || *r->p != ':') {
                r->why = "expected ':'";
                goto out;
            }
            r->p++;
        }
        const w2k_json_t *item = read_value(r);
        if (!item)
            goto out;
        if ((size_t)v->n == cap) {
            cap = cap ? cap * 2 : 8;
            const w2k_json_t **ni = realloc(items, cap * sizeof *ni);
            if (ni)
                items = ni;
            const w2k_json_t **nk = ni && obj ? realloc(keys, cap * sizeof *nk) : NULL;
            if (nk)
                keys = nk;
            if (!ni || (obj && !nk)) {
                r->why = "out of memory";
                goto out;
            }
        }
        items[v->n] = item;
        if (obj)
            keys[v->n] = key;
        v->n++;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (r->p < r->end && *r->p == close) {
            r->p++;
            break;
        }
        r->why = obj ? "expected ',' or '}'" : "expected ',' or ']'";
        goto out;
    }
    v->items = w2k_arena_alloc(r->a, (size_t)v->n * sizeof *v->items);
    v->keys = obj ? w2k_arena_alloc(r->a, (size_t)v->n * sizeof *v->keys) : NULL;
    if (!v->items || (obj && !v->keys)) {
        r->why = "out of memory";
        goto out;
    }
    memcpy(v->items, items, (size_t)v->n * sizeof *items);
    if (obj)
        memcpy(v->keys, keys, (size_t)v->n * sizeof *keys);
    r->depth--;
    rc = 0;
out:
    free(items);
    free(keys);
    return rc;
}

/* One value at r->p, leading whitespace included. Returns it, or NULL with r->why. */
static const w2k_json_t *read_value(reader_t *r)
{
    skip_ws(r);
    if (r->p >= r->end)
        return fail(r, "unexpected end");
    w2k_json_t *v = w2k_arena_alloc(r->a, sizeof *v);
    if (!v)
        return fail(r, "out of memory");
    char c = *r->p;
    if (c == '{' || c == '[')
        return read_container(r, v, c == '{') == 0 ? v : NULL;
    if (c == '"')
        return read_string(r, v) == 0 ? v : NULL;
    if (c == '-' || (c >= '0' && c <= '9'))
        return read_number(r, v) == 0 ? v : NULL;
    static const struct {
        const char *word;
        w2k_json_type_t type;
        bool boolean;
    } words[] = {{"null", W2K_JSON_NULL, false},
                 {"true", W2K_JSON_BOOL, true},
                 {"false", W2K_JSON_BOOL, false}};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(r->end - r->p) >= n && memcmp(r->p, words[i].word, n) == 0) {
            r->p += n;
            v->type = words[i].type;
            v->boolean = words[i].boolean;
            return v;
        }
    }
    return fail(r, "unexpected character");
}

const w2k_json_t *w2k_json_parse(w2k_arena_t *a, const char *text, size_t len, w2k_json_error_t *e)
{
    reader_t r = {text, text ? text + len : NULL, text, a, 0, NULL};
    const w2k_json_t *v = NULL;
    if (!text) {
        r.why = "no text";
    } else if ((v = read_value(&r)) != NULL) {
        skip_ws(&r);
        if (r.p != r.end) {
            r.why = "text after the value";
            v = NULL;
        }
    }
    if (!v && e) {
        e->why = r.why ? r.why : "?";
        e->at = text ? (size_t)(r.p - text) : 0;
    }
    return v;
}

const w2k_json_t *w2k_json_get(const w2k_json_t *obj, const char *key)
{
    if (!obj || obj->type != W2K_JSON_OBJECT)
        return NULL;
    size_t klen = strlen(key);
    for (int i = 0; i < obj->n; i++)
        if (obj->keys[i]->len == klen && memcmp(obj->keys[i]->str, key, klen) == 0)
            return obj->items[i];
    return NULL;
}

const char *w2k_json_get_str(const w2k_json_t *obj, const char *key)
{
    const w2k_json_t *v = w2k_json_get(obj, key);
    if (!v || v->type != W2K_JSON_STRING || memchr(v->str, '\0', v->len))
        return NULL;
    return v->str;
}

/* The member key of the document's top-level object: 1 when there is none, -1 when the
 * document is malformed or not an object, else 0 with *v. */
static int find(w2k_arena_t *a, const char *json, size_t len, const char *key, const w2k_json_t **v)
{
    const w2k_json_t *root = w2k_json_parse(a, json, len, NULL);
    if (!root || root->type != W2K_JSON_OBJECT)
        return -1;
    *v = w2k_json_get(root, key);
    return *v ? 0 : 1;
}

int w2k_json_find_string(const char *json, size_t len, const char *key, char **out)
{
    w2k_arena_t a = W2K_ARENA_INIT;
    const w2k_json_t *v;
    int rc = find(&a, json, len, key, &v);
    if (rc == 0) {
        const char *s = v->type == W2K_JSON_STRING && !memchr(v->str, '\0', v->len) ? v->str : NULL;
        char *copy = s ? malloc(v->len + 1) : NULL;
        if (copy) {
            memcpy(copy, s, v->len + 1);
            *out = copy;
        } else {
            rc = -1;
        }
    }
    w2k_arena_free(&a);
    return rc;
}

int w2k_json_find_int(const char *json, size_t len, const char *key, int64_t *out)
{
    w2k_arena_t a = W2K_ARENA_INIT;
    const w2k_json_t *v;
    int rc = find(&a, json, len, key, &v);
    if (rc == 0) {
        if (v->type == W2K_JSON_NUMBER && v->is_int)
            *out = v->integer;
        else
            rc = -1;
    }
    w2k_arena_free(&a);
    return rc;
}
