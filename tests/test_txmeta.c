/* test_txmeta.c — transaction metadata: the order numbers of a transaction's events,
 * the BEGIN/END events byte for byte against their schema files, and the envelope: the
 * same as without the option (text and bytes) except for its last field. */
#include "avroenc.h"
#include "avrofp.h"
#include "txmeta.h"
#include "unit.h"
#include "unit_helpers.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Order numbers: per transaction and per table, from 1; a new transaction starts over. */
static void counting(void)
{
    w2k_txmeta_t *t = w2k_txmeta_new();
    w2k_txblock_t b;
    w2k_txmeta_begin(t, 7, 0x1000, INT64_C(5000000));
    CHECK_STR(w2k_txmeta_id(t), "7:4096");
    CHECK_INT(w2k_txmeta_count(t), 0);
    CHECK_INT(w2k_txmeta_event(t, "public", "a", &b), 0);
    CHECK_INT(b.total_order, 1);
    CHECK_INT(b.data_collection_order, 1);
    CHECK_STR(b.id, "7:4096");
    w2k_txmeta_event(t, "public", "b", &b);
    CHECK_INT(b.total_order, 2);
    CHECK_INT(b.data_collection_order, 1);
    w2k_txmeta_event(t, "public", "a", &b);
    CHECK_INT(b.total_order, 3);
    CHECK_INT(b.data_collection_order, 2);
    CHECK_INT(w2k_txmeta_count(t), 3);

    w2k_buf_t key = W2K_BUF_INIT, value = W2K_BUF_INIT;
    CHECK_INT(w2k_txmeta_encode(t, true, &key, &value), 0);
    CHECK_MEM(key.data + W2K_SOE_HEADER_LEN, key.len - W2K_SOE_HEADER_LEN,
              "\x0c"
              "7:4096",
              7);
    /* "END", id, event_count 3, [ {public.a, 2}, {public.b, 1} ], ts_ms 5000 */
    static const char end[] = "\x06"
                              "END\x0c"
                              "7:4096\x02\x06\x02\x04\x10"
                              "public.a\x04\x10"
                              "public.b\x02\x00\x90\x4e";
    CHECK_MEM(value.data + W2K_SOE_HEADER_LEN, value.len - W2K_SOE_HEADER_LEN, end, sizeof end - 1);
    uint8_t h[W2K_SOE_HEADER_LEN];
    w2k_soe_header(w2k_txmeta_value_schema()->fingerprint, h);
    CHECK_MEM(value.data, W2K_SOE_HEADER_LEN, h, sizeof h);
    CHECK_INT(w2k_txmeta_encode(t, false, &key, &value), 0);
    static const char begin[] = "\x0a"
                                "BEGIN\x0c"
                                "7:4096\x00\x00\x90\x4e";
    CHECK_MEM(value.data + W2K_SOE_HEADER_LEN, value.len - W2K_SOE_HEADER_LEN, begin,
              sizeof begin - 1);

    w2k_txmeta_begin(t, 8, 0x2000, 0);
    CHECK_INT(w2k_txmeta_count(t), 0);
    w2k_txmeta_event(t, "public", "b", &b);
    CHECK_INT(b.total_order, 1);
    CHECK_INT(b.data_collection_order, 1);
    CHECK_STR(b.id, "8:8192");
    w2k_buf_free(&key);
    w2k_buf_free(&value);
    w2k_txmeta_destroy(t);
}

static w2k_relation_t *relation(void)
{
    w2k_relation_t *rel = w2k_relation_new(2);
    rel->relid = 1;
    strcpy(rel->schema, "public");
    strcpy(rel->name, "t");
    rel->replident = 'd';
    static const char *const names[] = {"id", "v"};
    for (int i = 0; i < 2; i++) {
        w2k_column_t *c = &rel->cols[i];
        strcpy(c->name, names[i]);
        c->type_oid = i ? 25 : 23;
        c->typmod = -1;
        strcpy(c->type_name, i ? "text" : "integer");
        w2k_coltype_from_pg(&c->type, c->type_oid, -1, 0);
    }
    rel->cols[0].key_pos = 0;
    rel->keycols[0] = 0;
    rel->nkeys = 1;
    w2k_relation_name_fields(rel);
    return rel;
}

/* With the option the envelope is the one without it plus the last field `transaction`:
 * the same text up to there, the same bytes followed by the block (a change) or null (a
 * snapshot read); without it, nothing changes. */
static void envelope(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = relation();
    w2k_txmeta_t *t = w2k_txmeta_new();
    w2k_relavro_t *plain = w2k_relavro_new(rel, "pg", &err);
    w2k_relavro_t *none = w2k_relavro_new_ext(rel, "pg", NULL, NULL, &err);
    w2k_relavro_t *with = w2k_relavro_new_ext(rel, "pg", NULL, t, &err);
    CHECK(plain && none && with);
    const char *pj = w2k_relavro_value_schema(plain)->json;
    const char *wj = w2k_relavro_value_schema(with)->json;
    CHECK_STR(w2k_relavro_value_schema(none)->json, pj);
    size_t plen = strlen(pj);
    CHECK(strncmp(wj, pj, plen - 2) == 0);
    CHECK_STR(wj + plen - 2,
              ",{\"name\":\"transaction\",\"type\":" W2K_TXBLOCK_SCHEMA ",\"default\":null}]}");
    avro_schema_t parsed;
    CHECK_INT(avro_schema_from_json_length(wj, strlen(wj), &parsed), 0);
    avro_schema_decref(parsed);

    w2k_avroenc_t *enc = w2k_avroenc_new();
    static w2k_pgtuple_t row;
    row.ncols = 2;
    row.cols[0] = (w2k_pgdatum_t){'t', 1, "1"};
    row.cols[1] = (w2k_pgdatum_t){'t', 1, "x"};
    w2k_source_t src = {"pg", "app", 9, 0x10, 0x20, INT64_C(1700000000000000), false};
    w2k_buf_t a = W2K_BUF_INIT, b = W2K_BUF_INIT;
    w2k_txmeta_begin(t, 9, 0x20, 0);
    for (int i = 1; i <= 2; i++) {
        CHECK_INT(w2k_avroenc_value(enc, plain, rel, W2K_ENV_OP_CREATE, NULL, &row, NULL, &src, 5,
                                    &a, &err),
                  0);
        CHECK_INT(w2k_avroenc_value(enc, with, rel, W2K_ENV_OP_CREATE, NULL, &row, NULL, &src, 5,
                                    &b, &err),
                  0);
        /* fingerprints differ; the Avro body is the same, then branch 1, "9:32", i, i */
        char block[] = "\x02\x08"
                       "9:32\x00\x00";
        block[6] = block[7] = (char)(2 * i);
        CHECK_INT(b.len, a.len + 8);
        CHECK_MEM(b.data + W2K_SOE_HEADER_LEN, a.len - W2K_SOE_HEADER_LEN,
                  a.data + W2K_SOE_HEADER_LEN, a.len - W2K_SOE_HEADER_LEN);
        CHECK_MEM(b.data + a.len, 8, block, 8);
    }
    CHECK_INT(w2k_txmeta_count(t), 2);
    /* a snapshot read: null, not counted */
    CHECK_INT(
        w2k_avroenc_value(enc, plain, rel, W2K_ENV_OP_READ, NULL, &row, NULL, &src, 5, &a, &err),
        0);
    CHECK_INT(
        w2k_avroenc_value(enc, with, rel, W2K_ENV_OP_READ, NULL, &row, NULL, &src, 5, &b, &err), 0);
    CHECK_INT(b.len, a.len + 1);
    CHECK_INT(b.data[a.len], 0);
    CHECK_INT(w2k_txmeta_count(t), 2);
    w2k_buf_free(&a);
    w2k_buf_free(&b);
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(plain);
    w2k_relavro_destroy(none);
    w2k_relavro_destroy(with);
    w2k_txmeta_destroy(t);
    w2k_relation_free(rel);
}

int main(int argc, char **argv)
{
    const char *fixtures = argc > 1 ? argv[1] : "tests/fixtures";
    counting();
    unit_schema_as_file(fixtures, "io.debezium.connector.common.TransactionMetadataKey.avsc",
                        w2k_txmeta_key_schema());
    unit_schema_as_file(fixtures, "io.debezium.connector.common.TransactionMetadataValue.avsc",
                        w2k_txmeta_value_schema());
    envelope();
    return unit_report("test_txmeta");
}
