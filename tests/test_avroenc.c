/* test_avroenc.c — table schemas and messages: what wal2kafka encodes, decoded again
 * by avro-c's reader against the published schema text; the fixed schemas agree
 * with the .avsc files in schemas/. */
#include "avroenc.h"
#include "avrofp.h"
#include "unit.h"
#include "unit_helpers.h"

#include <avro.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char schemas_dir[512];

static w2k_relation_t *sample_relation(void)
{
    static const struct {
        const char *name;
        uint32_t oid;
        int32_t typmod;
    } cols[] = {{"id", 23, -1},
                {"name", 25, -1},
                {"amount", 1700, ((10 << 16) | 2) + 4},
                {"tags", 1009, -1},
                {"created at", 1184, -1}};
    w2k_relation_t *rel = w2k_relation_new(5);
    rel->relid = 16400;
    strcpy(rel->schema, "public");
    strcpy(rel->name, "orders");
    rel->replident = 'f';
    for (int i = 0; i < 5; i++) {
        w2k_column_t *c = &rel->cols[i];
        strcpy(c->name, cols[i].name);
        c->type_oid = cols[i].oid;
        c->typmod = cols[i].typmod;
        strcpy(c->type_name, cols[i].name);
        w2k_coltype_from_pg(&c->type, cols[i].oid, cols[i].typmod, 0);
    }
    rel->cols[0].key_pos = 0;
    rel->keycols[0] = 0;
    rel->nkeys = 1;
    w2k_relation_name_fields(rel);
    return rel;
}

static void datum(w2k_pgtuple_t *t, int i, char kind, const char *text)
{
    t->cols[i].kind = kind;
    t->cols[i].data = text;
    t->cols[i].len = text ? (uint32_t)strlen(text) : 0;
}

/* Decode a single-object message with the schema text that was published for it. */
static int decode(const w2k_schema_t *s, const w2k_buf_t *msg, avro_schema_t *schema,
                  avro_value_iface_t **iface, avro_value_t *v)
{
    uint8_t header[W2K_SOE_HEADER_LEN];
    w2k_soe_header(s->fingerprint, header);
    if (msg->len < W2K_SOE_HEADER_LEN || memcmp(msg->data, header, sizeof header) != 0)
        return -1;
    if (avro_schema_from_json_length(s->json, strlen(s->json), schema))
        return -1;
    *iface = avro_generic_class_from_schema(*schema);
    avro_generic_value_new(*iface, v);
    avro_reader_t r = avro_reader_memory(msg->data + W2K_SOE_HEADER_LEN,
                                         (int64_t)(msg->len - W2K_SOE_HEADER_LEN));
    int rc = avro_value_read(r, v);
    /* every byte must have been consumed */
    char extra;
    if (rc == 0 && avro_read(r, &extra, 1) == 0)
        rc = -1;
    avro_reader_free(r);
    return rc;
}

static void release(avro_schema_t schema, avro_value_iface_t *iface, avro_value_t *v)
{
    avro_value_decref(v);
    avro_value_iface_decref(iface);
    avro_schema_decref(schema);
}

static const char *get_str(avro_value_t *rec, const char *name)
{
    avro_value_t f;
    const char *s = NULL;
    size_t n;
    if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_string(&f, &s, &n))
        return NULL;
    return s;
}

static int64_t get_long(avro_value_t *rec, const char *name)
{
    avro_value_t f, b;
    int64_t v = -1;
    int32_t i32;
    if (avro_value_get_by_name(rec, name, &f, NULL))
        return -1;
    if (avro_value_get_type(&f) == AVRO_UNION) {
        if (avro_value_get_current_branch(&f, &b))
            return -1;
        f = b;
    }
    if (avro_value_get_type(&f) == AVRO_INT32)
        return avro_value_get_int(&f, &i32) ? -1 : i32;
    avro_value_get_long(&f, &v);
    return v;
}

/* The branch index of a union field and the branch itself. */
static int branch(avro_value_t *rec, const char *name, avro_value_t *out)
{
    avro_value_t f;
    int disc = -1;
    if (avro_value_get_by_name(rec, name, &f, NULL) || avro_value_get_discriminant(&f, &disc) ||
        avro_value_get_current_branch(&f, out))
        return -1;
    return disc;
}

static void schemas_parse_and_differ(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "shop.pg", &err);
    CHECK(ra != NULL);
    const w2k_schema_t *k = w2k_relavro_key_schema(ra), *v = w2k_relavro_value_schema(ra);
    CHECK(k && v && k->fingerprint != v->fingerprint);
    CHECK(strstr(v->json, "\"name\":\"shop.pg.public.orders.Envelope\"") != NULL);
    CHECK(strstr(v->json, "\"name\":\"created_x20at\"") != NULL); /* escaped: a valid Avro name */
    /* the PostgreSQL name kept on the escaped field only, none on the plain table */
    CHECK(strstr(v->json, "\"pg.name\":\"created at\"") != NULL);
    CHECK(strstr(v->json, "\"pg.name\":\"amount\"") == NULL);
    CHECK(strstr(v->json, "\"pg.table\"") == NULL);
    CHECK(strstr(v->json, "\"logicalType\":\"decimal\",\"precision\":10,\"scale\":2") != NULL);
    /* the same table gives the same fingerprints */
    w2k_relavro_t *again = w2k_relavro_new(rel, "shop.pg", &err);
    CHECK(w2k_relavro_value_schema(again)->fingerprint == v->fingerprint);
    CHECK(w2k_relavro_key_schema(again)->fingerprint == k->fingerprint);
    w2k_relavro_destroy(again);
    /* a different prefix is a different schema */
    w2k_relavro_t *other = w2k_relavro_new(rel, "other", &err);
    CHECK(w2k_relavro_value_schema(other)->fingerprint != v->fingerprint);
    w2k_relavro_destroy(other);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

static void insert_round_trip(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "pg", &err);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    static w2k_pgtuple_t row;
    row.ncols = 5;
    datum(&row, 0, 't', "42");
    datum(&row, 1, 't', "Zoë \"quoted\"");
    datum(&row, 2, 't', "-12.50");
    datum(&row, 3, 't', "{a,NULL,\"b c\"}");
    datum(&row, 4, 'n', NULL);
    w2k_source_t src = {"pg", "app", 777, 0x1000, 0x2000, INT64_C(1700000000123456), false};
    w2k_buf_t key = W2K_BUF_INIT, value = W2K_BUF_INIT;
    CHECK_INT(w2k_avroenc_key(enc, ra, rel, &row, NULL, &key, &err), 0);
    CHECK_INT(w2k_avroenc_value(enc, ra, rel, W2K_ENV_OP_CREATE, NULL, &row, NULL, &src, 99, &value,
                                &err),
              0);

    avro_schema_t s;
    avro_value_iface_t *i;
    avro_value_t v, b, f, item;
    CHECK_INT(decode(w2k_relavro_key_schema(ra), &key, &s, &i, &v), 0);
    CHECK_INT(get_long(&v, "id"), 42);
    release(s, i, &v);

    CHECK_INT(decode(w2k_relavro_value_schema(ra), &value, &s, &i, &v), 0);
    CHECK_STR(get_str(&v, "op"), "c");
    CHECK_INT(get_long(&v, "ts_ms"), 99);
    CHECK_INT(branch(&v, "before", &b), 0);
    CHECK_INT(branch(&v, "changed", &b), 0);
    CHECK_INT(branch(&v, "after", &b), 1);
    CHECK_INT(get_long(&b, "id"), 42);
    avro_value_t after = b;
    CHECK_INT(branch(&after, "name", &f), 1);
    const char *str;
    size_t n;
    avro_value_get_string(&f, &str, &n);
    CHECK_STR(str, "Zoë \"quoted\"");
    CHECK_INT(branch(&after, "amount", &f), 1);
    const void *bytes;
    avro_value_get_bytes(&f, &bytes, &n);
    CHECK_MEM(bytes, n, "\xfb\x1e", 2); /* -1250 */
    CHECK_INT(branch(&after, "tags", &f), 1);
    avro_value_get_size(&f, &n);
    CHECK_INT(n, 3);
    avro_value_get_by_index(&f, 1, &item, NULL);
    int disc;
    avro_value_get_discriminant(&item, &disc);
    CHECK_INT(disc, 0);                                /* NULL element */
    CHECK_INT(branch(&after, "created_x20at", &f), 0); /* NULL */
    avro_value_t source;
    avro_value_get_by_name(&v, "source", &source, NULL);
    CHECK_STR(get_str(&source, "connector"), "wal2kafka");
    CHECK_STR(get_str(&source, "db"), "app");
    CHECK_STR(get_str(&source, "table"), "orders");
    CHECK_INT(get_long(&source, "txId"), 777);
    CHECK_INT(get_long(&source, "lsn"), 0x1000);
    CHECK_INT(get_long(&source, "commit_lsn"), 0x2000);
    CHECK_INT(get_long(&source, "ts_ms"), INT64_C(1700000000123));
    CHECK_INT(get_long(&source, "ts_us"), INT64_C(1700000000123456));
    release(s, i, &v);

    w2k_buf_free(&key);
    w2k_buf_free(&value);
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

static void update_toast_and_changed(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "pg", &err);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    static w2k_pgtuple_t old, new_;
    old.ncols = new_.ncols = 5;
    datum(&old, 0, 't', "7");
    datum(&old, 1, 't', "a long toasted text");
    datum(&old, 2, 't', "1.00");
    datum(&old, 3, 'n', NULL);
    datum(&old, 4, 't', "2024-01-01 00:00:00+00");
    datum(&new_, 0, 't', "7");
    datum(&new_, 1, 'u', NULL); /* unchanged TOAST */
    datum(&new_, 2, 't', "2.00");
    datum(&new_, 3, 'n', NULL);
    datum(&new_, 4, 't', "infinity");
    bool changed[5] = {false, false, true, false, true};
    w2k_source_t src = {"pg", "app", 1, 1, 2, 0, false};
    w2k_buf_t value = W2K_BUF_INIT;
    avro_schema_t s;
    avro_value_iface_t *i;
    avro_value_t v, b, f;
    const char *str;
    size_t n;

    /* With the old row: the TOAST value is taken from it, and changed lists columns. */
    CHECK_INT(w2k_avroenc_value(enc, ra, rel, W2K_ENV_OP_UPDATE, &old, &new_, changed, &src, 1,
                                &value, &err),
              0);
    CHECK_INT(decode(w2k_relavro_value_schema(ra), &value, &s, &i, &v), 0);
    CHECK_STR(get_str(&v, "op"), "u");
    CHECK_INT(branch(&v, "after", &b), 1);
    CHECK_INT(branch(&b, "name", &f), 1);
    avro_value_get_string(&f, &str, &n);
    CHECK_STR(str, "a long toasted text");
    CHECK_INT(branch(&b, "created_x20at", &f), 2); /* wal2kafka.SpecialValue: infinity */
    int special = -1;
    avro_value_get_enum(&f, &special);
    CHECK_INT(special, W2K_SV_POSITIVE_INFINITY);
    CHECK_INT(branch(&v, "changed", &b), 1);
    avro_value_get_size(&b, &n);
    CHECK_INT(n, 2);
    avro_value_t item;
    avro_value_get_by_index(&b, 0, &item, NULL);
    avro_value_get_string(&item, &str, &n);
    CHECK_STR(str, "amount");
    avro_value_get_by_index(&b, 1, &item, NULL);
    avro_value_get_string(&item, &str, &n);
    CHECK_STR(str, "created_x20at");
    release(s, i, &v);

    /* Without the old row: the TOAST value is marked, not NULL; the same reused
     * value must not keep the previous message's changed list. */
    CHECK_INT(w2k_avroenc_value(enc, ra, rel, W2K_ENV_OP_UPDATE, NULL, &new_, NULL, &src, 1, &value,
                                &err),
              0);
    CHECK_INT(decode(w2k_relavro_value_schema(ra), &value, &s, &i, &v), 0);
    CHECK_INT(branch(&v, "before", &b), 0);
    CHECK_INT(branch(&v, "changed", &b), 0);
    CHECK_INT(branch(&v, "after", &b), 1);
    CHECK_INT(branch(&b, "name", &f), 2); /* null, string, UnchangedToast */
    int sym = -1;
    avro_value_get_enum(&f, &sym);
    CHECK_INT(sym, 0);
    release(s, i, &v);

    /* A key column holding an unchanged TOAST value comes from the old key tuple. */
    w2k_buf_t key = W2K_BUF_INIT;
    datum(&new_, 0, 'u', NULL);
    CHECK_INT(w2k_avroenc_key(enc, ra, rel, &new_, &old, &key, &err), 0);
    CHECK_INT(decode(w2k_relavro_key_schema(ra), &key, &s, &i, &v), 0);
    CHECK_INT(get_long(&v, "id"), 7);
    release(s, i, &v);
    /* ...and without one it is an error naming the column. */
    CHECK_INT(w2k_avroenc_key(enc, ra, rel, &new_, NULL, &key, &err), -1);
    CHECK(strstr(err.msg, "key column id") != NULL);

    /* A value that does not fit names the table and column. */
    datum(&new_, 0, 't', "7");
    datum(&new_, 2, 't', "123456789.00");
    CHECK_INT(w2k_avroenc_value(enc, ra, rel, W2K_ENV_OP_UPDATE, NULL, &new_, NULL, &src, 1, &value,
                                &err),
              -1);
    CHECK(strstr(err.msg, "table public.orders, column amount") != NULL);

    w2k_buf_free(&key);
    w2k_buf_free(&value);
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

/* Parse schemas/<file> and compare with schema. */
static void same_as_file(const char *file, avro_schema_t schema)
{
    avro_schema_t from_file;
    if (unit_schema_file(schemas_dir, file, &from_file) != 0)
        return;
    int same = avro_schema_equal(from_file, schema);
    if (!same)
        fprintf(stderr, "%s/%s differs from the schema wal2kafka writes\n", schemas_dir, file);
    CHECK(same);
    avro_schema_decref(from_file);
}

static void fixed_schemas_match_files(void)
{
    w2k_err_t err;
    w2k_avroenc_t *enc = w2k_avroenc_new();
    const w2k_schema_t *k = w2k_avroenc_change_key_schema(enc);
    const w2k_schema_t *v = w2k_avroenc_change_value_schema(enc);
    avro_schema_t ks, vs;
    CHECK_INT(avro_schema_from_json_length(k->json, strlen(k->json), &ks), 0);
    CHECK_INT(avro_schema_from_json_length(v->json, strlen(v->json), &vs), 0);
    same_as_file("wal2kafka.TableKey.avsc", ks);
    same_as_file("wal2kafka.SchemaChange.avsc", vs);
    same_as_file("wal2kafka.Source.avsc", avro_schema_record_field_get(vs, "source"));

    /* The envelope of a table carries the same Source record. */
    w2k_relation_t *rel = sample_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "pg", &err);
    const w2k_schema_t *env = w2k_relavro_value_schema(ra);
    avro_schema_t es;
    CHECK_INT(avro_schema_from_json_length(env->json, strlen(env->json), &es), 0);
    same_as_file("wal2kafka.Source.avsc", avro_schema_record_field_get(es, "source"));
    avro_schema_decref(es);
    w2k_relavro_destroy(ra);

    /* A schema-change event round-trips. */
    const char *opts[] = {"cascade", NULL};
    w2k_schema_change_t ch = {"truncate", "public", "orders", 16400, NULL,
                              rel,        opts,     NULL,     NULL,  NULL};
    w2k_source_t src = {"pg", "app", 5, 10, 20, 1000, false};
    w2k_buf_t key = W2K_BUF_INIT, value = W2K_BUF_INIT;
    CHECK_INT(w2k_avroenc_change(enc, &ch, &src, 7, &key, &value, &err), 0);
    avro_schema_t s;
    avro_value_iface_t *i;
    avro_value_t dv, b, f;
    CHECK_INT(decode(k, &key, &s, &i, &dv), 0);
    CHECK_STR(get_str(&dv, "table"), "orders");
    release(s, i, &dv);
    CHECK_INT(decode(v, &value, &s, &i, &dv), 0);
    CHECK_STR(get_str(&dv, "type"), "truncate");
    CHECK_INT(get_long(&dv, "relid"), 16400);
    CHECK_INT(branch(&dv, "old_columns", &b), 0);
    CHECK_INT(branch(&dv, "new_columns", &b), 1);
    size_t n;
    avro_value_get_size(&b, &n);
    CHECK_INT(n, 5);
    avro_value_get_by_index(&b, 0, &f, NULL);
    CHECK_STR(get_str(&f, "name"), "id");
    avro_value_get_by_name(&dv, "options", &f, NULL);
    avro_value_get_size(&f, &n);
    CHECK_INT(n, 1);
    release(s, i, &dv);

    w2k_buf_free(&key);
    w2k_buf_free(&value);
    w2k_relation_free(rel);
    avro_schema_decref(ks);
    avro_schema_decref(vs);
    w2k_avroenc_destroy(enc);
}

/* Consecutive messages: the parts of source encoded once per table and per transaction
 * follow every change of transaction, prefix, database and snapshot flag. */
static void source_follows_each_message(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "pg", &err);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    static w2k_pgtuple_t row;
    row.ncols = 5;
    datum(&row, 0, 't', "7");
    for (int i = 1; i < 5; i++)
        datum(&row, i, 'n', NULL);
    char prefix[8] = "pg", db[8] = "app";
    struct {
        const char *prefix, *db;
        uint32_t xid;
        w2k_lsn_t lsn, commit_lsn;
        int64_t commit_us;
        bool snapshot;
    } cases[] = {{"pg", "app", 1, 0x10, 0x100, 1000000, false},
                 {"pg", "app", 1, 0x11, 0x100, 1000000, false}, /* same transaction */
                 {"pg", "app", 2, 0x20, 0x200, 2000000, false}, /* the next one */
                 {"pg", "app", 2, 0x21, 0x200, 2000000, true},  /* snapshot flag only */
                 {"px", "app", 2, 0x22, 0x200, 2000000, true},  /* same length, new prefix */
                 {"pgx", "app", 2, 0x23, 0x200, 2000000, true}, /* longer prefix */
                 {"pgx", "ap", 2, 0x24, 0x200, 2000001, true},  /* shorter db, time */
                 {"pgx", "ap", 0, 0, 0, 2000001, true}};        /* nothing known */
    w2k_buf_t value = W2K_BUF_INIT;
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        /* the caller's strings change in place, as a reconnected stream's may */
        snprintf(prefix, sizeof prefix, "%s", cases[c].prefix);
        snprintf(db, sizeof db, "%s", cases[c].db);
        w2k_source_t src = {prefix,
                            db,
                            cases[c].xid,
                            cases[c].lsn,
                            cases[c].commit_lsn,
                            cases[c].commit_us,
                            cases[c].snapshot};
        CHECK_INT(w2k_avroenc_value(enc, ra, rel, W2K_ENV_OP_CREATE, NULL, &row, NULL, &src, 5,
                                    &value, &err),
                  0);
        avro_schema_t s;
        avro_value_iface_t *i;
        avro_value_t v, source, f;
        CHECK_INT(decode(w2k_relavro_value_schema(ra), &value, &s, &i, &v), 0);
        avro_value_get_by_name(&v, "source", &source, NULL);
        CHECK_STR(get_str(&source, "name"), cases[c].prefix);
        CHECK_STR(get_str(&source, "db"), cases[c].db);
        CHECK_STR(get_str(&source, "schema"), "public");
        CHECK_STR(get_str(&source, "table"), "orders");
        avro_value_t b;
        if (cases[c].xid)
            CHECK_INT(get_long(&source, "txId"), cases[c].xid);
        else
            CHECK_INT(branch(&source, "txId", &b), 0);
        if (cases[c].lsn)
            CHECK_INT(get_long(&source, "lsn"), (int64_t)cases[c].lsn);
        else
            CHECK_INT(branch(&source, "lsn", &b), 0);
        if (cases[c].commit_lsn)
            CHECK_INT(get_long(&source, "commit_lsn"), (int64_t)cases[c].commit_lsn);
        else
            CHECK_INT(branch(&source, "commit_lsn", &b), 0);
        CHECK_INT(get_long(&source, "ts_us"), cases[c].commit_us);
        CHECK_INT(get_long(&source, "ts_ms"), cases[c].commit_us / 1000);
        int snap = -1;
        avro_value_get_by_name(&source, "snapshot", &f, NULL);
        avro_value_get_boolean(&f, &snap);
        CHECK_INT(snap, cases[c].snapshot);
        release(s, i, &v);
    }
    w2k_buf_free(&value);
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

static void keyless_table(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation();
    rel->nkeys = 0;
    rel->cols[0].key_pos = -1;
    w2k_relavro_t *ra = w2k_relavro_new(rel, "pg", &err);
    CHECK(ra != NULL);
    CHECK(w2k_relavro_key_schema(ra) == NULL);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

/* A schema differing only in a property (a masked column's mark on a text column) has
 * the same fingerprint but another text_fp: w2k_schema_same tells them apart, so it is
 * stored and registered too instead of being taken for the unmarked one. */
static void properties_tell_schemas_apart(void)
{
    w2k_err_t err;
    w2k_relation_t *rel = sample_relation(), *marked = sample_relation();
    marked->cols[1].masked = W2K_MASKED_FIXED; /* "name", text already */
    w2k_relavro_t *a = w2k_relavro_new(rel, "shop", &err),
                  *b = w2k_relavro_new(marked, "shop", &err);
    CHECK(a && b);
    if (a && b) {
        const w2k_schema_t *va = w2k_relavro_value_schema(a), *vb = w2k_relavro_value_schema(b);
        CHECK(strstr(vb->json, "wal2kafka.masked") && !strstr(va->json, "wal2kafka.masked"));
        CHECK_INT(va->fingerprint, vb->fingerprint);
        CHECK(va->text_fp && vb->text_fp && va->text_fp != vb->text_fp);
        CHECK_INT(va->text_fp, w2k_avro_fingerprint(va->json, strlen(va->json)));
        CHECK(!w2k_schema_same(va, vb));
        CHECK(w2k_schema_same(va, va));
        /* the key (no masked column) is one schema in both */
        CHECK(w2k_schema_same(w2k_relavro_key_schema(a), w2k_relavro_key_schema(b)));
        /* a schema without text_fp (0) compares by fingerprint alone */
        w2k_schema_t bare = {NULL, vb->fingerprint, 0};
        CHECK(w2k_schema_same(&bare, va) && w2k_schema_same(vb, &bare));
    }
    w2k_relavro_destroy(a);
    w2k_relavro_destroy(b);
    w2k_relation_free(rel);
    w2k_relation_free(marked);
}

/* Two tables of the same shape (one table per tenant) each keep their own schema: their
 * messages, encoded in turn, carry each its own fingerprint and table name and decode
 * with each its own schema text; and a table keeps little heap (its messages are
 * written without avro-c, so no avro-c schema or value per table). */
static void same_shape_tables_apart(void)
{
    w2k_err_t err;
    w2k_relation_t *a = sample_relation(), *b = sample_relation();
    strcpy(b->name, "orders_2");
    b->relid = 16401;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    struct mallinfo2 m0 = mallinfo2();
#endif
    w2k_relavro_t *ra = w2k_relavro_new(a, "pg", &err), *rb = w2k_relavro_new(b, "pg", &err);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
    /* under a sanitizer or valgrind glibc's arena does not see the allocations (0) */
    struct mallinfo2 m1 = mallinfo2();
    CHECK(m1.uordblks - m0.uordblks < 2 * 8192);
#endif
    CHECK(ra && rb);
    CHECK(w2k_relavro_value_schema(ra)->fingerprint != w2k_relavro_value_schema(rb)->fingerprint);
    CHECK(w2k_relavro_key_schema(ra)->fingerprint != w2k_relavro_key_schema(rb)->fingerprint);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    static w2k_pgtuple_t row;
    row.ncols = 5;
    datum(&row, 0, 't', "7");
    datum(&row, 1, 't', "x");
    datum(&row, 2, 't', "1.00");
    datum(&row, 3, 'n', NULL);
    datum(&row, 4, 'n', NULL);
    w2k_source_t src = {"pg", "app", 9, 0x10, 0x20, INT64_C(1700000000000000), false};
    for (int round = 0; round < 2; round++) {
        for (int t = 0; t < 2; t++) {
            w2k_relavro_t *r = t ? rb : ra;
            const w2k_relation_t *rel = t ? b : a;
            w2k_buf_t key = W2K_BUF_INIT, value = W2K_BUF_INIT;
            CHECK_INT(w2k_avroenc_key(enc, r, rel, &row, NULL, &key, &err), 0);
            CHECK_INT(w2k_avroenc_value(enc, r, rel, W2K_ENV_OP_CREATE, NULL, &row, NULL, &src, 1,
                                        &value, &err),
                      0);
            avro_schema_t s;
            avro_value_iface_t *i;
            avro_value_t v, f;
            /* decode() checks the message's header against this table's fingerprint */
            CHECK_INT(decode(w2k_relavro_key_schema(r), &key, &s, &i, &v), 0);
            CHECK_INT(get_long(&v, "id"), 7);
            release(s, i, &v);
            CHECK_INT(decode(w2k_relavro_value_schema(r), &value, &s, &i, &v), 0);
            CHECK(strstr(w2k_relavro_value_schema(r)->json,
                         t ? "pg.public.orders_2.Envelope" : "pg.public.orders.Envelope") != NULL);
            CHECK_INT(avro_value_get_by_name(&v, "source", &f, NULL), 0);
            CHECK_STR(get_str(&f, "table"), t ? "orders_2" : "orders");
            release(s, i, &v);
            w2k_buf_free(&key);
            w2k_buf_free(&value);
        }
    }
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(ra);
    w2k_relavro_destroy(rb);
    w2k_relation_free(a);
    w2k_relation_free(b);
}

int main(int argc, char **argv)
{
    snprintf(schemas_dir, sizeof schemas_dir, "%s/../../schemas",
             argc > 1 ? argv[1] : "tests/fixtures");
    schemas_parse_and_differ();
    insert_round_trip();
    source_follows_each_message();
    update_toast_and_changed();
    fixed_schemas_match_files();
    keyless_table();
    properties_tell_schemas_apart();
    same_shape_tables_apart();
    return unit_report("test_avroenc");
}
