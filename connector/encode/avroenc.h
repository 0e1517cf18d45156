/* avroenc.h — Avro schemas and messages: per table a key record (the key columns) and
 * an envelope (before, after, op, source, ts_ms, changed) in the design brief's
 * shape; the schema-change record; single-object encoding (C3 01, fingerprint, Avro
 * binary). Table messages are written directly (no avro-c state kept per table);
 * avro-c checks each generated schema and encodes the schema-change events. */
#ifndef W2K_AVROENC_H
#define W2K_AVROENC_H

#include <stdbool.h>
#include <stdint.h>

#include "avrofp.h" /* w2k_schema_t */
#include "buf.h"
#include "err.h"
#include "pgoutput.h"
#include "relcache.h"

/* The schemas and reusable values of one table version. */
typedef struct w2k_relavro_s w2k_relavro_t;
/* A stream's counter of transaction metadata (txmeta.h). */
struct w2k_txmeta_s;
/* Per-stream encoder state: writer and scratch buffers. */
typedef struct w2k_avroenc_s w2k_avroenc_t;

/* Where a change came from: the envelope's source record. */
typedef struct w2k_source_s {
    const char *prefix;   /* topic prefix (source.name) */
    const char *db;       /* database */
    uint32_t xid;         /* 0 when unknown (snapshot rows) */
    w2k_lsn_t lsn;        /* the change's LSN; 0 when unknown */
    w2k_lsn_t commit_lsn; /* the transaction's commit LSN; 0 when unknown */
    int64_t commit_us;    /* commit time, µs since 1970 */
    bool snapshot;
} w2k_source_t;

/* Operation letters of the envelope's op field, as the metrics count them too; apart
 * from the W2K_OP_* bits of config.h, which say what a table publishes. A truncate
 * ('t') is no envelope: it is an event on <prefix>.schema_changes. */
#define W2K_ENV_OP_CREATE   'c'
#define W2K_ENV_OP_UPDATE   'u'
#define W2K_ENV_OP_DELETE   'd'
#define W2K_ENV_OP_READ     'r'
#define W2K_ENV_OP_TRUNCATE 't'

w2k_avroenc_t *w2k_avroenc_new(void);
void w2k_avroenc_destroy(w2k_avroenc_t *enc);

/* Build the key and envelope schemas of a table (namespace <prefix>.<schema>.<table>,
 * made a valid Avro name). Returns NULL with err when a schema does not parse (a bug). */
w2k_relavro_t *w2k_relavro_new(const w2k_relation_t *rel, const char *prefix, w2k_err_t *err);
/* The same with a stream's representation options (decimal_handling, time_precision,
 * special_values; NULL: the defaults), applied to every column's type. */
w2k_relavro_t *w2k_relavro_new_opts(const w2k_relation_t *rel, const char *prefix,
                                    const w2k_typeopts_t *opts, w2k_err_t *err);
/* The same, and with txmeta (transaction_metadata = true) the envelope gets a last
 * field `transaction` (Debezium's event.block, nullable: txmeta.h): each envelope but a
 * snapshot read ('r', null there) takes the next order numbers of txmeta's open
 * transaction. txmeta must outlive ra. Without, the envelope is exactly as above. */
w2k_relavro_t *w2k_relavro_new_ext(const w2k_relation_t *rel, const char *prefix,
                                   const w2k_typeopts_t *opts, struct w2k_txmeta_s *txmeta,
                                   w2k_err_t *err);
void w2k_relavro_destroy(w2k_relavro_t *ra);
/* The key schema (NULL for a keyless table) and the envelope schema. */
const w2k_schema_t *w2k_relavro_key_schema(const w2k_relavro_t *ra);
const w2k_schema_t *w2k_relavro_value_schema(const w2k_relavro_t *ra);

/* Encode the key of a row into out (single-object encoding), taking each key column
 * from tup, or from fallback (may be NULL) where tup holds an unchanged TOAST value.
 * Returns 0, or -1 with err. */
int w2k_avroenc_key(w2k_avroenc_t *enc, w2k_relavro_t *ra, const w2k_relation_t *rel,
                    const w2k_pgtuple_t *tup, const w2k_pgtuple_t *fallback, w2k_buf_t *out,
                    w2k_err_t *err);

/* Encode an envelope into out. before/after: full row images or NULL. Where after
 * holds an unchanged TOAST value and before is given, the before value is used;
 * without before it is marked UNCHANGED_TOAST. changed: per column, true when the
 * update changed it (NULL when unknown: no full before image). now_ms: processing
 * time. Returns 0, or -1 with err naming the table, the column and the bad value. */
int w2k_avroenc_value(w2k_avroenc_t *enc, w2k_relavro_t *ra, const w2k_relation_t *rel, char op,
                      const w2k_pgtuple_t *before, const w2k_pgtuple_t *after, const bool *changed,
                      const w2k_source_t *src, int64_t now_ms, w2k_buf_t *out, w2k_err_t *err);

/* The schemas of the <prefix>.schema_changes topic: key wal2kafka.TableKey and value
 * wal2kafka.SchemaChange (fixed; see schemas/). */
const w2k_schema_t *w2k_avroenc_change_key_schema(const w2k_avroenc_t *enc);
const w2k_schema_t *w2k_avroenc_change_value_schema(const w2k_avroenc_t *enc);

/* A schema-change event. */
typedef struct w2k_schema_change_s {
    const char *type;   /* "truncate", "alter", "drop", "rename", ... */
    const char *schema; /* the table's schema and name */
    const char *table;
    uint32_t relid;
    const w2k_relation_t *old_rel; /* columns before, or NULL */
    const w2k_relation_t *new_rel; /* columns after, or NULL */
    const char *const *options;    /* NULL-terminated, e.g. "cascade", "restart_identity" */
    const char *ddl;               /* the DDL statement when known, or NULL */
    const char *old_schema;        /* a renamed table's previous name, else NULL */
    const char *old_table;
} w2k_schema_change_t;

/* Encode the key (schema, table) and value of a schema-change event. Returns 0, or -1
 * with err. */
int w2k_avroenc_change(w2k_avroenc_t *enc, const w2k_schema_change_t *ch, const w2k_source_t *src,
                       int64_t now_ms, w2k_buf_t *key, w2k_buf_t *value, w2k_err_t *err);

#endif
