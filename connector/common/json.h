/* json.h — a small, strict JSON reader (RFC 8259): a document parsed into a read-only
 * tree in an arena, member lookup, and one-call lookups of a top-level member. Used for
 * the schema registry's answers and for Avro schema text. Bounded: nesting up to
 * W2K_JSON_MAX_DEPTH levels, never a byte read past the given length. Pure: no I/O;
 * thread-safe (no shared state). */
#ifndef W2K_JSON_H
#define W2K_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"

/* The deepest nesting of arrays and objects a document may have (the top level counts). */
#define W2K_JSON_MAX_DEPTH 64

typedef enum w2k_json_type_e {
    W2K_JSON_NULL,
    W2K_JSON_BOOL,
    W2K_JSON_NUMBER,
    W2K_JSON_STRING,
    W2K_JSON_ARRAY,
    W2K_JSON_OBJECT
} w2k_json_type_t;

/* One value of a parsed document. Read-only for users; owned by the arena it was parsed
 * into. */
typedef struct w2k_json_s {
    w2k_json_type_t type;
    bool boolean;    /* W2K_JSON_BOOL */
    bool is_int;     /* W2K_JSON_NUMBER: no fraction, no exponent, and within int64 */
    int64_t integer; /* W2K_JSON_NUMBER when is_int */
    const char *str; /* W2K_JSON_STRING: unescaped UTF-8, NUL-terminated; it may hold a \0
                      * itself (from \u0000): len counts every byte */
    size_t len;
    int n;                           /* W2K_JSON_ARRAY elements, W2K_JSON_OBJECT members */
    const struct w2k_json_s **items; /* the elements; the members' values */
    const struct w2k_json_s **keys;  /* W2K_JSON_OBJECT: the members' names (strings) */
} w2k_json_t;

/* Why a document did not parse: why is a static string ("unterminated string",
 * "expected ':'", "nested too deeply", "out of memory", ...), at the byte offset where
 * the reader stopped. */
typedef struct w2k_json_error_s {
    const char *why;
    size_t at;
} w2k_json_error_t;

/* Parse the JSON document text[0..len) (one value, whitespace around it) into a tree
 * allocated in a. Strings are unescaped (\uXXXX and surrogate pairs decoded; a lone
 * surrogate is an error), numbers follow the RFC's grammar. Returns the root value,
 * valid until the arena is freed, or NULL with *e (e may be NULL). text NULL is an
 * error. */
const w2k_json_t *w2k_json_parse(w2k_arena_t *a, const char *text, size_t len, w2k_json_error_t *e);

/* The value of the first member of obj named key, or NULL when there is none or obj is
 * NULL or not an object. */
const w2k_json_t *w2k_json_get(const w2k_json_t *obj, const char *key);

/* The string value of member key of obj: NULL when there is none, it is not a string,
 * or it holds a \0. */
const char *w2k_json_get_str(const w2k_json_t *obj, const char *key);

/* One-call lookups of member key of the top-level object of the document json[0..len),
 * after checking that the whole document is well-formed.
 * w2k_json_find_string: *out receives the member's string value, malloc'd, the caller
 *   frees it.
 * w2k_json_find_int: *out receives the member's integer value.
 * Both return 0 when found, 1 when the document is a well-formed object without that
 * member, -1 when the document is malformed, not an object, or the member has another
 * type (a string holding \u0000, a number with a fraction or out of int64 range), or
 * when out of memory. The first of duplicate members counts. */
int w2k_json_find_string(const char *json, size_t len, const char *key, char **out);
int w2k_json_find_int(const char *json, size_t len, const char *key, int64_t *out);

#endif
