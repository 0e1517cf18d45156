/* txmeta.h — transaction metadata (transaction_metadata = true), in the shape of
 * Debezium's provide.transaction.metadata: per PostgreSQL transaction a BEGIN and an
 * END event on <topic_prefix>.transaction (Avro io.debezium.connector.common.
 * TransactionMetadataKey / TransactionMetadataValue, schemas/), and the order numbers
 * of the `transaction` block (event.block) in each change event. Pure: counts and
 * encodes, no I/O. */
#ifndef W2K_TXMETA_H
#define W2K_TXMETA_H

#include <stdbool.h>
#include <stdint.h>

#include "avroenc.h"
#include "buf.h"
#include "pgoutput.h"

/* The order numbers of one stream's open transaction. */
typedef struct w2k_txmeta_s w2k_txmeta_t;

/* The transaction block of one change event. */
typedef struct w2k_txblock_s {
    const char *id;                /* "<txid>:<commit LSN as a decimal number>" */
    int64_t total_order;           /* 1 for the transaction's first event, ... */
    int64_t data_collection_order; /* 1 for the first event of its table, ... */
} w2k_txblock_t;

/* A new counter; NULL when out of memory. */
w2k_txmeta_t *w2k_txmeta_new(void);
/* Free; accepts NULL. */
void w2k_txmeta_destroy(w2k_txmeta_t *t);

/* A transaction begins (xid, its commit record at commit_lsn, committed at commit_us,
 * µs since 1970): the counts start at 0. */
void w2k_txmeta_begin(w2k_txmeta_t *t, uint32_t xid, w2k_lsn_t commit_lsn, int64_t commit_us);
/* One change event of table schema.table in the open transaction: *block gets its order
 * numbers (its id points into t). Returns 0, or -1 when out of memory. */
int w2k_txmeta_event(w2k_txmeta_t *t, const char *schema, const char *table, w2k_txblock_t *block);
/* The number of change events counted in the open transaction. */
int64_t w2k_txmeta_count(const w2k_txmeta_t *t);
/* The transaction's id, as the events and blocks carry it. */
const char *w2k_txmeta_id(const w2k_txmeta_t *t);

/* Encode the BEGIN (end = false) or END event of the open transaction, single-object
 * encoded, into key and value (reset first): status, id, ts_ms (the commit time) and,
 * for END, event_count and data_collections (per table "schema.table" and its count,
 * in the order of their first event). Returns 0, or -1 when out of memory. */
int w2k_txmeta_encode(const w2k_txmeta_t *t, bool end, w2k_buf_t *key, w2k_buf_t *value);

/* The fixed schemas of <topic_prefix>.transaction; json is static text. */
const w2k_schema_t *w2k_txmeta_key_schema(void);
const w2k_schema_t *w2k_txmeta_value_schema(void);

/* The Avro schema text of the envelope's `transaction` field: a union of null and the
 * event.block record (id, total_order, data_collection_order). */
#define W2K_TXBLOCK_SCHEMA                                                                         \
    "[\"null\",{\"name\":\"event.block\",\"type\":\"record\",\"fields\":["                         \
    "{\"name\":\"id\",\"type\":\"string\"},{\"name\":\"total_order\",\"type\":\"long\"},"          \
    "{\"name\":\"data_collection_order\",\"type\":\"long\"}]}]"

/* Append the Avro binary of the envelope's `transaction` field: block, or null. */
void w2k_txmeta_write_block(w2k_buf_t *out, const w2k_txblock_t *block);

#endif
