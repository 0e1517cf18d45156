/* relcache.h — what wal2kafka knows about each streamed table, by relation OID: its
 * name, columns with their PostgreSQL and Avro types, and its key columns, as the
 * latest Relation message (and the catalog) described them. */
#ifndef W2K_RELCACHE_H
#define W2K_RELCACHE_H

#include <stdbool.h>
#include <stdint.h>

#include "names.h"
#include "pgtypes.h"

typedef struct w2k_column_s {
    char name[64];                 /* PostgreSQL column name */
    char avro_name[W2K_NAMES_MAX]; /* Avro field name (names.h): the column's own or escaped */
    uint32_t type_oid;             /* as in the Relation message */
    int32_t typmod;
    char type_name[128]; /* format_type() text, for schema-change events */
    w2k_coltype_t type;  /* Avro mapping */
    int key_pos;         /* position in the key, or -1 */
    char masked;         /* 0, or W2K_MASKED_*: the stream sends a replacement (type text) */
} w2k_column_t;

/* Replacements of a column's value (hash_columns, mask_columns; schemas/README.md). */
#define W2K_MASKED_HASH  'h' /* HMAC-SHA-256 of the text form, lower-case hex */
#define W2K_MASKED_FIXED 'm' /* the fixed text W2K_MASK_TEXT */

typedef struct w2k_relation_s {
    uint32_t relid;
    char schema[64];
    char name[64];
    char replident; /* d, n, f, i */
    int ncols;
    w2k_column_t *cols;
    int nkeys;
    int *keycols; /* nkeys indices into cols, in key order */
    void *out;    /* the stream's output state (schemas, topic); owned by the stream */
    /* a leaf partition mapped to its root (w2k_relation_to_root) whose columns come in
     * another order: the message's column of each column; NULL when in message order */
    int *perm;
    /* before 13: W2K_PART_MAPPED for a leaf partition mapped to its root,
     * W2K_PART_DETACHED for one detached from it since (its changes are not streamed),
     * 0 otherwise */
    char partition;
} w2k_relation_t;

#define W2K_PART_MAPPED   'm'
#define W2K_PART_DETACHED 'd'

typedef struct w2k_relcache_s w2k_relcache_t;

/* Called when a relation is removed or replaced, to free rel->out. */
typedef void(w2k_relcache_free_cb)(void *arg, w2k_relation_t *rel);

w2k_relcache_t *w2k_relcache_new(w2k_relcache_free_cb *free_cb, void *arg);
/* Free the cache and every relation in it; accepts NULL. */
void w2k_relcache_destroy(w2k_relcache_t *rc);
/* The relation with this OID, or NULL. */
w2k_relation_t *w2k_relcache_get(w2k_relcache_t *rc, uint32_t relid);
/* Insert rel (the cache takes ownership), replacing and freeing any relation with the
 * same OID. */
void w2k_relcache_put(w2k_relcache_t *rc, w2k_relation_t *rel);

/* A new relation with ncols zeroed columns. Returns NULL when out of memory. */
w2k_relation_t *w2k_relation_new(int ncols);
/* Free a relation not in a cache (rel->out must already be released); accepts NULL. */
void w2k_relation_free(w2k_relation_t *rel);
/* Derive each column's Avro field name from its own name only (w2k_names_avro): valid,
 * unique, unchanged when another column is dropped or renamed. */
void w2k_relation_name_fields(w2k_relation_t *rel);
/* Before 13 (no publish_via_partition_root), a leaf partition's changes stream as its
 * root's: rel (described from the leaf's Relation message) takes the root's name
 * (schema.name) and its columns the root's order, matched by name (root_cols, nroot
 * names; a partition attached later can have another order, or dropped columns, which
 * pgoutput does not send). When the order changes, rel->perm gives each column's place
 * in the leaf's tuples (w2k_relation_permute). Returns 0, or -1 when a column of rel is
 * not one of the root's or the counts differ (why says which), or out of memory (why
 * ""). */
int w2k_relation_to_root(w2k_relation_t *rel, const char *schema, const char *name,
                         const char (*root_cols)[64], int nroot, char *why, size_t whysz);
/* Put the ncols values of a leaf's tuple (vals, each size bytes) in rel's order
 * (rel->perm; nothing when NULL). tmp holds ncols * size bytes. */
void w2k_relation_permute(const w2k_relation_t *rel, void *vals, size_t size, int ncols, void *tmp);
/* True when a and b have the same name, columns (names, types) and key. */
bool w2k_relation_same_shape(const w2k_relation_t *a, const w2k_relation_t *b);

#endif
