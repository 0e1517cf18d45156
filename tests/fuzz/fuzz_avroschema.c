/* fuzz_avroschema.c — libFuzzer harness for the JSON reader (common/json.c) and the Avro
 * schema JSON parser with the datum readers built on it (reader/avrojson.c), as `history`
 * and `state` use them on schemas read from topics and registries.
 * Input: a schema's JSON text, then optionally a NUL byte and an Avro datum.
 * Property: the JSON reader either refuses with a reason at an offset inside the text or
 * gives a tree, and the JSON lookups agree with it; the schema parser either refuses with
 * exit code W2K_EXIT_KAFKA and a message or gives a schema; on a datum, what
 * w2k_avro_json() reads w2k_avro_skip() skips, to the same byte (json may refuse a value
 * skip passes: a string that is not UTF-8, a date it cannot print), never past the end,
 * and the JSON text w2k_avro_json() writes is valid JSON. Seeds: tests/fuzz/corpus/avroschema
 * (the producer's own schemas with datums it encoded). */
#include "arena.h"
#include "avrojson.h"
#include "buf.h"
#include "json.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fuzz_json_valid(const char *text, size_t len)
{
    w2k_arena_t a = W2K_ARENA_INIT;
    w2k_json_error_t e;
    if (!w2k_json_parse(&a, text, len, &e)) {
        fprintf(stderr, "w2k_avro_json wrote invalid JSON (%s at %zu): %.*s\n", e.why, e.at,
                (int)len, text);
        abort();
    }
    w2k_arena_free(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t slen = nul ? (size_t)(nul - data) : size;
    const char *json = (const char *)data;

    w2k_arena_t a = W2K_ARENA_INIT;
    w2k_json_error_t je = {NULL, 0};
    const w2k_json_t *root = w2k_json_parse(&a, json, slen, &je);
    if (!root) {
        if (!je.why || je.at > slen)
            abort();
    }
    w2k_arena_free(&a);

    /* the flat lookups the registry client uses agree with the tree on well-formedness */
    char *s = NULL;
    int64_t v = 0;
    int fs = w2k_json_find_string(json, slen, "type", &s);
    if (fs == 0 && !s)
        abort();
    if (!root && fs != -1)
        abort();
    free(s);
    int fi = w2k_json_find_int(json, slen, "size", &v);
    if (!root && fi != -1)
        abort();

    w2k_err_t err;
    memset(&err, 0, sizeof err);
    w2k_avschema_t *sc = w2k_avschema_parse(json, slen, &err);
    if (!sc) {
        if (err.code != W2K_EXIT_KAFKA || err.msg[0] == '\0') {
            fprintf(stderr, "schema refused with code %d: %s\n", err.code, err.msg);
            abort();
        }
        return 0;
    }
    if (root == NULL)
        abort(); /* a schema that is not JSON was accepted */
    if (nul) {
        const uint8_t *start = nul + 1, *end = data + size;
        const uint8_t *p1 = start, *p2 = start;
        const w2k_avnode_t *n = w2k_avschema_root(sc);
        int r1 = w2k_avro_skip(n, &p1, end);
        w2k_buf_t out = W2K_BUF_INIT;
        int r2 = w2k_avro_json(n, &p2, end, &out);
        if ((r2 == 0 && (r1 != 0 || p1 != p2)) || p1 > end || p2 > end) {
            fprintf(stderr, "skip %d (%td bytes) vs json %d (%td bytes)\n", r1, p1 - start, r2,
                    p2 - start);
            abort();
        }
        if (r2 == 0 && !out.oom)
            fuzz_json_valid(out.data ? out.data : "", out.len);
        w2k_buf_free(&out);
    }
    w2k_avschema_destroy(sc);
    return 0;
}
