/* txmeta.c — transaction metadata: the order numbers of a transaction's change events
 * and its BEGIN/END events in Debezium's shape, Avro encoded by hand (fixed schemas). */
#include "txmeta.h"
#include "avrofp.h"
#include "pgtypes.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One table's count in the open transaction. */
typedef struct txcoll_s {
    char name[160]; /* schema.table */
    int64_t count;
} txcoll_t;

struct w2k_txmeta_s {
    char id[48];
    int64_t commit_ms;
    int64_t total;
    txcoll_t *colls; /* in the order of their first event */
    size_t ncolls, cap;
};

/* In Parsing Canonical Form: the published text is the fingerprinted one. */
static const char key_json[] =
    "{\"name\":\"io.debezium.connector.common.TransactionMetadataKey\",\"type\":\"record\","
    "\"fields\":[{\"name\":\"id\",\"type\":\"string\"}]}";
static const char value_json[] =
    "{\"name\":\"io.debezium.connector.common.TransactionMetadataValue\",\"type\":\"record\","
    "\"fields\":[{\"name\":\"status\",\"type\":\"string\"},{\"name\":\"id\",\"type\":\"string\"},"
    "{\"name\":\"event_count\",\"type\":[\"null\",\"long\"]},"
    "{\"name\":\"data_collections\",\"type\":[\"null\",{\"type\":\"array\",\"items\":"
    "{\"name\":\"event.collection\",\"type\":\"record\",\"fields\":["
    "{\"name\":\"data_collection\",\"type\":\"string\"},"
    "{\"name\":\"event_count\",\"type\":\"long\"}]}}]},"
    "{\"name\":\"ts_ms\",\"type\":\"long\"}]}";

w2k_txmeta_t *w2k_txmeta_new(void)
{
    return calloc(1, sizeof(w2k_txmeta_t));
}

void w2k_txmeta_destroy(w2k_txmeta_t *t)
{
    if (!t)
        return;
    free(t->colls);
    free(t);
}

void w2k_txmeta_begin(w2k_txmeta_t *t, uint32_t xid, w2k_lsn_t commit_lsn, int64_t commit_us)
{
    snprintf(t->id, sizeof t->id, "%" PRIu32 ":%" PRIu64, xid, (uint64_t)commit_lsn);
    t->commit_ms = commit_us / 1000;
    t->total = 0;
    t->ncolls = 0;
}

int w2k_txmeta_event(w2k_txmeta_t *t, const char *schema, const char *table, w2k_txblock_t *block)
{
    char name[160];
    snprintf(name, sizeof name, "%s.%s", schema, table);
    size_t i = 0;
    while (i < t->ncolls && strcmp(t->colls[i].name, name) != 0)
        i++;
    if (i == t->ncolls) {
        if (t->ncolls == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 8;
            txcoll_t *c = realloc(t->colls, cap * sizeof *c);
            if (!c)
                return -1;
            t->colls = c;
            t->cap = cap;
        }
        memcpy(t->colls[i].name, name, sizeof name);
        t->colls[i].count = 0;
        t->ncolls++;
    }
    block->id = t->id;
    block->total_order = ++t->total;
    block->data_collection_order = ++t->colls[i].count;
    return 0;
}

int64_t w2k_txmeta_count(const w2k_txmeta_t *t)
{
    return t->total;
}

const char *w2k_txmeta_id(const w2k_txmeta_t *t)
{
    return t->id;
}

static void put_string(w2k_buf_t *b, const char *s)
{
    w2k_avro_write_bytes(b, s, strlen(s));
}

const w2k_schema_t *w2k_txmeta_key_schema(void)
{
    static w2k_schema_t s;
    return w2k_schema_fixed(&s, key_json, sizeof key_json - 1);
}

const w2k_schema_t *w2k_txmeta_value_schema(void)
{
    static w2k_schema_t s;
    return w2k_schema_fixed(&s, value_json, sizeof value_json - 1);
}

int w2k_txmeta_encode(const w2k_txmeta_t *t, bool end, w2k_buf_t *key, w2k_buf_t *value)
{
    w2k_buf_reset(key);
    w2k_buf_reset(value);
    w2k_soe_put_header(key, w2k_txmeta_key_schema());
    put_string(key, t->id);
    w2k_soe_put_header(value, w2k_txmeta_value_schema());
    put_string(value, end ? "END" : "BEGIN");
    put_string(value, t->id);
    w2k_avro_write_long(value, end ? 1 : 0);
    if (end)
        w2k_avro_write_long(value, t->total);
    w2k_avro_write_long(value, end ? 1 : 0);
    if (end) {
        if (t->ncolls) {
            w2k_avro_write_long(value, (int64_t)t->ncolls);
            for (size_t i = 0; i < t->ncolls; i++) {
                put_string(value, t->colls[i].name);
                w2k_avro_write_long(value, t->colls[i].count);
            }
        }
        w2k_avro_write_long(value, 0);
    }
    w2k_avro_write_long(value, t->commit_ms);
    return key->oom || value->oom ? -1 : 0;
}

void w2k_txmeta_write_block(w2k_buf_t *out, const w2k_txblock_t *block)
{
    w2k_avro_write_long(out, block ? 1 : 0);
    if (!block)
        return;
    put_string(out, block->id);
    w2k_avro_write_long(out, block->total_order);
    w2k_avro_write_long(out, block->data_collection_order);
}
