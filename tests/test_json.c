/* test_json.c — the JSON reader: the tree (values, strings, numbers, nesting, where and
 * why a document fails), member lookup, and the one-call lookups the registry client
 * uses, including a round trip of everything the buffer's JSON string writer escapes. */
#include "json.h"
#include "buf.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the tree ---- */

static const w2k_json_t *parse(w2k_arena_t *a, const char *text, w2k_json_error_t *e)
{
    return w2k_json_parse(a, text, strlen(text), e);
}

static void tree(void)
{
    w2k_arena_t a = W2K_ARENA_INIT;
    w2k_json_error_t e = {NULL, 0};
    const w2k_json_t *v =
        parse(&a,
              " {\"s\":\"x\\u0000y\", \"n\":[null,true,false,-0,12,-9223372036854775808,"
              "9223372036854775808,1.5,2e3],\"o\":{},\"a\":[],\"s\":\"second\"}\n",
              &e);
    CHECK(v != NULL);
    if (v) {
        CHECK_INT(v->type, W2K_JSON_OBJECT);
        CHECK_INT(v->n, 5);
        CHECK_STR(v->keys[2]->str, "o");
        const w2k_json_t *s = w2k_json_get(v, "s");
        CHECK(s == v->items[0]); /* the first of duplicates */
        CHECK_INT(s->type, W2K_JSON_STRING);
        CHECK_MEM(s->str, s->len, "x\0y", 3);
        CHECK(w2k_json_get_str(v, "s") == NULL); /* holds a \0 */
        const w2k_json_t *n = w2k_json_get(v, "n");
        CHECK_INT(n->type, W2K_JSON_ARRAY);
        CHECK_INT(n->n, 9);
        CHECK_INT(n->items[0]->type, W2K_JSON_NULL);
        CHECK_INT(n->items[1]->type, W2K_JSON_BOOL);
        CHECK(n->items[1]->boolean && !n->items[2]->boolean);
        CHECK(n->items[3]->is_int && n->items[3]->integer == 0);
        CHECK(n->items[4]->is_int && n->items[4]->integer == 12);
        CHECK(n->items[5]->is_int && n->items[5]->integer == INT64_MIN);
        CHECK_INT(n->items[6]->type, W2K_JSON_NUMBER);
        CHECK(!n->items[6]->is_int); /* out of range */
        CHECK(!n->items[7]->is_int && !n->items[8]->is_int);
        CHECK_INT(w2k_json_get(v, "o")->type, W2K_JSON_OBJECT);
        CHECK_INT(w2k_json_get(v, "o")->n, 0);
        CHECK_INT(w2k_json_get(v, "a")->n, 0);
        CHECK(w2k_json_get(v, "missing") == NULL);
        CHECK(w2k_json_get(n, "s") == NULL); /* not an object */
        CHECK(w2k_json_get(NULL, "s") == NULL);
        CHECK(w2k_json_get_str(v, "n") == NULL);
    }
    v = parse(&a, "{\"k\":\"v\",\"k\\u0000\":1}", &e);
    CHECK_STR(w2k_json_get_str(v, "k"), "v");
    CHECK_INT(v ? v->keys[1]->len : 0, 2); /* a name with a \0 matches no C string */
    v = parse(&a, "\"top\"", &e);
    CHECK(v && v->type == W2K_JSON_STRING && strcmp(v->str, "top") == 0);
    w2k_arena_free(&a);
}

static void errors(void)
{
    static const struct {
        const char *text, *why;
        size_t at;
    } bad[] = {
        {"", "unexpected end", 0},
        {"{\"a\":1", "expected ',' or '}'", 6},
        {"[1 2]", "expected ',' or ']'", 3},
        {"{1:2}", "expected a member name", 1},
        {"{\"a\" 1}", "expected ':'", 5},
        {"{\"a\":\"b", "unterminated string", 7},
        {"[\"a\nb\"]", "control character in a string", 3},
        {"[\"a\\qb\"]", "bad escape in a string", 3},
        {"[\"\\u12x4\"]", "bad \\u escape", 2},
        {"[\"\\udc00\"]", "lone surrogate", 2},
        {"[\"\\ud800\\u0041\"]", "lone surrogate", 2},
        {"[01]", "bad number", 1},
        {"[1.]", "bad number", 3},
        {"[-]", "bad number", 1},
        {"[1e+]", "bad number", 4},
        {"[tru]", "unexpected character", 1},
        {"1 2", "text after the value", 2},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        w2k_arena_t a = W2K_ARENA_INIT;
        w2k_json_error_t e = {NULL, 0};
        CHECK(parse(&a, bad[i].text, &e) == NULL);
        CHECK_STR(e.why, bad[i].why);
        if (e.at != bad[i].at)
            fprintf(stderr, "%s: stopped at %zu\n", bad[i].text, e.at);
        CHECK_INT(e.at, bad[i].at);
        w2k_arena_free(&a);
    }
    w2k_arena_t a = W2K_ARENA_INIT;
    w2k_json_error_t e = {NULL, 0};
    CHECK(w2k_json_parse(&a, NULL, 0, &e) == NULL);
    CHECK(w2k_json_parse(&a, "[1]", 2, NULL) == NULL); /* the length bounds the text */
    w2k_buf_t deep = W2K_BUF_INIT;
    for (int i = 0; i < W2K_JSON_MAX_DEPTH; i++)
        w2k_buf_putc(&deep, '[');
    for (int i = 0; i < W2K_JSON_MAX_DEPTH; i++)
        w2k_buf_putc(&deep, ']');
    CHECK(w2k_json_parse(&a, deep.data, deep.len, &e) != NULL);
    w2k_buf_reset(&deep);
    for (int i = 0; i <= W2K_JSON_MAX_DEPTH; i++)
        w2k_buf_putc(&deep, '[');
    for (int i = 0; i <= W2K_JSON_MAX_DEPTH; i++)
        w2k_buf_putc(&deep, ']');
    CHECK(w2k_json_parse(&a, deep.data, deep.len, &e) == NULL);
    CHECK_STR(e.why, "nested too deeply");
    w2k_buf_free(&deep);
    w2k_arena_free(&a);
}

/* Every prefix of a document fails without reading past its end (ASan watches), and
 * a big one (many arena blocks) parses. */
static void bounds(void)
{
    const char *doc = "{\"a\":[1,-2.5e3,\"\\ud83d\\ude00\",{\"b\":null}],\"c\":true}";
    size_t n = strlen(doc);
    for (size_t cut = 0; cut < n; cut++) {
        char *copy = malloc(cut ? cut : 1);
        memcpy(copy, doc, cut);
        w2k_arena_t a = W2K_ARENA_INIT;
        CHECK(w2k_json_parse(&a, copy, cut, NULL) == NULL);
        w2k_arena_free(&a);
        free(copy);
    }
    w2k_buf_t big = W2K_BUF_INIT;
    w2k_buf_putc(&big, '[');
    for (int i = 0; i < 20000; i++)
        w2k_buf_printf(&big, "%s{\"k%d\":\"%d\"}", i ? "," : "", i, i);
    w2k_buf_putc(&big, ']');
    w2k_arena_t a = W2K_ARENA_INIT;
    const w2k_json_t *v = w2k_json_parse(&a, big.data, big.len, NULL);
    CHECK(v && v->n == 20000);
    if (v)
        CHECK_STR(w2k_json_get_str(v->items[19999], "k19999"), "19999");
    w2k_arena_free(&a);
    w2k_buf_free(&big);
}

/* ---- one-call lookups of a top-level member ---- */

static int jstr(const char *json, const char *key, char **out)
{
    *out = NULL;
    return w2k_json_find_string(json, strlen(json), key, out);
}

static int jint(const char *json, const char *key, int64_t *out)
{
    return w2k_json_find_int(json, strlen(json), key, out);
}

static void find_member(void)
{
    int64_t v = -1;
    char *s = NULL;

    CHECK_INT(jint("{\"id\":42}", "id", &v), 0);
    CHECK_INT(v, 42);
    CHECK_INT(jint(" \n{ \"a\" : [1, {\"id\": 7}], \"id\" : 2147483647 }\t", "id", &v), 0);
    CHECK_INT(v, 2147483647); /* the nested "id" is not the top-level member */
    CHECK_INT(jint("{\"id\":-3,\"id\":5}", "id", &v), 0);
    CHECK_INT(v, -3); /* the first of duplicates */
    CHECK_INT(jint("{\"id\":9223372036854775807}", "id", &v), 0);
    CHECK_INT(v, INT64_MAX);
    CHECK_INT(jint("{\"x\":1}", "id", &v), 1);
    CHECK_INT(jint("{}", "id", &v), 1);
    CHECK_INT(jint("{\"id\":1.5}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":1e3}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":\"5\"}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":null}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":99999999999999999999}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":01}", "id", &v), -1);
    CHECK_INT(jint("{\"id\":-}", "id", &v), -1);

    /* malformed documents: -1 even when the member was already seen */
    const char *bad[] = {
        "",
        "   ",
        "[1,2]",
        "\"id\"",
        "{\"id\":1,}",
        "{\"id\":1",
        "{\"id\" 1}",
        "{id:1}",
        "{\"id\":1} x",
        "{\"id\":1}{}",
        "{\"a\":\"unterminated}",
        "{\"a\":\"raw\ncontrol\"}",
        "{\"a\":\"bad \\x escape\"}",
        "{\"a\":\"\\u12\"}",
        "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}",
        "{\"a\":\"\\ud800\\u0041\"}",
        "{\"a\":tru}",
        "{\"a\":[1,]}",
        "{\"a\":[1 2]}",
        "{\"a\":{\"b\"}}",
        "{\"a\":.5}",
        "{\"a\":1.}",
        "{\"a\":1e}",
        "{\"a\":+1}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc = jint(bad[i], "id", &v);
        if (rc != -1)
            fprintf(stderr, "accepted malformed JSON: %s\n", bad[i]);
        CHECK_INT(rc, -1);
    }
    CHECK_INT(w2k_json_find_int(NULL, 0, "id", &v), -1);
    /* the length bounds the document: no reading past it */
    CHECK_INT(w2k_json_find_int("{\"id\":12}garbage", 9, "id", &v), 0);
    CHECK_INT(v, 12);

    /* nesting: 64 levels in all are fine, 65 are not */
    w2k_buf_t deep = W2K_BUF_INIT;
    w2k_buf_puts(&deep, "{\"a\":");
    for (int i = 0; i < 63; i++)
        w2k_buf_putc(&deep, '[');
    for (int i = 0; i < 63; i++)
        w2k_buf_putc(&deep, ']');
    w2k_buf_puts(&deep, ",\"id\":1}");
    CHECK_INT(jint(deep.data, "id", &v), 0);
    w2k_buf_reset(&deep);
    w2k_buf_puts(&deep, "{\"a\":");
    for (int i = 0; i < 64; i++)
        w2k_buf_putc(&deep, '[');
    for (int i = 0; i < 64; i++)
        w2k_buf_putc(&deep, ']');
    w2k_buf_puts(&deep, ",\"id\":1}");
    CHECK_INT(jint(deep.data, "id", &v), -1);
    w2k_buf_free(&deep);

    /* strings: every escape, UTF-8 passed through, \u escapes and surrogate pairs */
    CHECK_INT(jstr("{\"schema\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\"}", "schema", &s), 0);
    CHECK_STR(s, "a\"b\\c/d\b\f\n\r\t");
    free(s);
    CHECK_INT(jstr("{\"m\":\"caf\\u00e9 \\u20ac \\ud83d\\ude00 \xc3\xa9\"}", "m", &s), 0);
    CHECK_STR(s, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9");
    free(s);
    CHECK_INT(jstr("{\"m\":\"\"}", "m", &s), 0);
    CHECK(s != NULL);
    CHECK_STR(s, "");
    free(s);
    CHECK_INT(jstr("{\"m\":\"a\\u0000b\"}", "m", &s), -1); /* would truncate the C string */
    CHECK(s == NULL);
    CHECK_INT(jstr("{\"x\":\"a\\u0000b\",\"m\":\"ok\"}", "m", &s), 0); /* elsewhere: fine */
    CHECK_STR(s, "ok");
    free(s);
    CHECK_INT(jstr("{\"m\":5}", "m", &s), -1);
    CHECK(s == NULL);
    CHECK_INT(jstr("{\"m\":\"x\",\"n\":}", "m", &s), -1); /* malformed after the member */
    CHECK(s == NULL);
    CHECK_INT(jstr("{\"\\u006d\":\"escaped key\"}", "m", &s), 0); /* keys are unescaped */
    CHECK_STR(s, "escaped key");
    free(s);
    CHECK_INT(jstr("{\"mm\":\"no\",\"m\":\"yes\"}", "m", &s), 0);
    CHECK_STR(s, "yes");
    free(s);
}

/* Whatever w2k_buf_put_json_string escapes, the reader gives back byte for byte. */
static void json_round_trip(void)
{
    const char *texts[] = {
        "{\"type\":\"record\",\"name\":\"R\",\"fields\":[{\"name\":\"a\",\"type\":\"int\"}]}",
        "quote \" backslash \\ slash / tab \t newline \n cr \r",
        "controls \x01\x02\x1f del \x7f",
        "utf-8 \xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80",
        "",
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        w2k_buf_t doc = W2K_BUF_INIT;
        w2k_buf_puts(&doc, "{\"schema\":");
        w2k_buf_put_json_string(&doc, texts[i], strlen(texts[i]));
        w2k_buf_putc(&doc, '}');
        char *back = NULL;
        CHECK_INT(w2k_json_find_string(doc.data, doc.len, "schema", &back), 0);
        CHECK_STR(back, texts[i]);
        free(back);
        w2k_buf_free(&doc);
    }
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    tree();
    errors();
    bounds();
    find_member();
    json_round_trip();
    return unit_report("test_json");
}
