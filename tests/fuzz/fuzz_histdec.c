/* fuzz_histdec.c — libFuzzer harness for every decoder of messages read back from topics
 * (reader/histdec.c, as `history`, `state` and snapshot tombstoning use it): message
 * framing (single-object and Confluent headers), key records, value envelopes, the fold
 * of `state` and the history of `history`, with the schemas of a table holding a column of
 * most types known to the store as <prefix>.schemas would give them.
 * Input: a 2-byte big-endian key length, the key, then the value (empty: a tombstone).
 * Property: each decoder either refuses with an error message or succeeds, never reading
 * outside the message; every JSON text it writes (key, images, rows, events) is valid JSON;
 * what decode reads, peek reads too.
 * Seeds: tests/fuzz/corpus/histdec. Run with W2K_FUZZ_SEEDS=DIR to write the seeds (made by
 * the producer's own encoder) to DIR/histdec and DIR/avroschema and exit. */
#include "arena.h"
#include "avroenc.h"
#include "histdec.h"
#include "json.h"
#include "pgtypes.h"
#include "registry.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

typedef struct fuzz_coldef_s {
    const char *name;
    uint32_t oid;
    int32_t typmod;
} fuzz_coldef_t;

static const fuzz_coldef_t fuzz_cols[] = {
    {"id", W2K_OID_INT4, -1},
    {"i2", W2K_OID_INT2, -1},
    {"i8", W2K_OID_INT8, -1},
    {"amount", W2K_OID_NUMERIC, ((10 << 16) | 2) + 4},
    {"n", W2K_OID_NUMERIC, -1},
    {"f4", W2K_OID_FLOAT4, -1},
    {"f8", W2K_OID_FLOAT8, -1},
    {"ok", W2K_OID_BOOL, -1},
    {"note", W2K_OID_TEXT, -1},
    {"code", W2K_OID_BPCHAR, 9},
    {"d", W2K_OID_DATE, -1},
    {"t", W2K_OID_TIME, -1},
    {"ts", W2K_OID_TIMESTAMP, -1},
    {"tz", W2K_OID_TIMESTAMPTZ, -1},
    {"iv", W2K_OID_INTERVAL, -1},
    {"u", W2K_OID_UUID, -1},
    {"js", W2K_OID_JSONB, -1},
    {"raw", W2K_OID_BYTEA, -1},
    {"arr", 1007, -1},
    {"big", W2K_OID_TEXT, -1},
};
#define FUZZ_NCOLS ((int)(sizeof fuzz_cols / sizeof fuzz_cols[0]))

static const char *const fuzz_rows[][FUZZ_NCOLS] = {
    {"t:1",
     "t:-5",
     "t:10000000000",
     "t:12.50",
     "t:NaN",
     "t:0.1",
     "t:-Infinity",
     "t:t",
     "t:caf\xc3\xa9 \"quoted\"\n",
     "t:ab   ",
     "t:2024-02-29",
     "t:23:59:59.999999",
     "t:2024-01-01 10:00:00",
     "t:2024-01-01 10:00:00+00",
     "t:P1Y2M3DT4H5M6.5S",
     "t:a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
     "t:{\"a\": [1, 2.5, null]}",
     "t:\\x00ff10",
     "t:{1,NULL,3}",
     "u"},
    {"t:2", "n", "n", "n", "n", "n", "n", "n", "n", "n",
     "n",   "n", "n", "n", "n", "n", "n", "n", "n", "n"},
};

static w2k_hschemas_t *fuzz_schemas;

static w2k_relation_t *fuzz_relation(void)
{
    w2k_relation_t *rel = w2k_relation_new(FUZZ_NCOLS);
    if (!rel)
        abort();
    rel->relid = 16400;
    strcpy(rel->schema, "public");
    strcpy(rel->name, "orders");
    rel->replident = 'd';
    for (int i = 0; i < FUZZ_NCOLS; i++) {
        w2k_column_t *c = &rel->cols[i];
        snprintf(c->name, sizeof c->name, "%s", fuzz_cols[i].name);
        c->type_oid = fuzz_cols[i].oid;
        c->typmod = fuzz_cols[i].typmod;
        snprintf(c->type_name, sizeof c->type_name, "t%u", fuzz_cols[i].oid);
        w2k_coltype_from_pg(&c->type, fuzz_cols[i].oid, fuzz_cols[i].typmod, 0);
        c->key_pos = -1;
    }
    rel->keycols[0] = 0;
    rel->cols[0].key_pos = 0;
    rel->nkeys = 1;
    w2k_relation_name_fields(rel);
    return rel;
}

static void fuzz_tuple(w2k_pgtuple_t *t, const char *const *vals)
{
    t->ncols = (uint16_t)FUZZ_NCOLS;
    for (int i = 0; i < FUZZ_NCOLS; i++) {
        const char *v = vals[i];
        t->cols[i].kind = v[0];
        t->cols[i].data = v[0] == 't' ? v + 2 : NULL;
        t->cols[i].len = v[0] == 't' ? (uint32_t)strlen(v + 2) : 0;
    }
}

static void fuzz_write(const char *dir, const char *name, const void *a, size_t alen, const void *b,
                       size_t blen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(a, 1, alen, f) != alen || (blen && fwrite(b, 1, blen, f) != blen) ||
        fclose(f) != 0)
        abort();
}

/* One histdec seed: [keylen][key][value]. */
static void fuzz_seed_msg(const char *dir, const char *name, const w2k_buf_t *k, const w2k_buf_t *v)
{
    w2k_buf_t b = W2K_BUF_INIT;
    uint8_t kl[2] = {(uint8_t)(k->len >> 8), (uint8_t)k->len};
    w2k_buf_append(&b, kl, 2);
    w2k_buf_append(&b, k->data, k->len);
    if (v)
        w2k_buf_append(&b, v->data, v->len);
    fuzz_write(dir, name, b.data, b.len, NULL, 0);
    w2k_buf_free(&b);
}

/* Build the table's schemas, register them in the store; with dir, write the seeds. */
static void fuzz_setup(const char *dir)
{
    w2k_err_t err;
    w2k_relation_t *rel = fuzz_relation();
    w2k_relavro_t *ra = w2k_relavro_new(rel, "app", &err);
    w2k_avroenc_t *enc = w2k_avroenc_new();
    if (!ra || !enc)
        abort();
    const w2k_schema_t *ks = w2k_relavro_key_schema(ra), *vs = w2k_relavro_value_schema(ra);
    fuzz_schemas = w2k_hschemas_new(NULL);
    if (w2k_hschemas_add(fuzz_schemas, ks->fingerprint, ks->json, strlen(ks->json), 0) != 0 ||
        w2k_hschemas_add(fuzz_schemas, vs->fingerprint, vs->json, strlen(vs->json), 1) != 0)
        abort();
    if (dir) {
        char hd[4096], ad[4096];
        snprintf(hd, sizeof hd, "%s/histdec", dir);
        snprintf(ad, sizeof ad, "%s/avroschema", dir);
        mkdir(hd, 0755);
        mkdir(ad, 0755);
        w2k_pgtuple_t *a = calloc(1, sizeof *a), *b = calloc(1, sizeof *b);
        fuzz_tuple(a, fuzz_rows[0]);
        fuzz_tuple(b, fuzz_rows[1]);
        w2k_source_t src = {"app", "db", 700, 0x1000, 0x2000, INT64_C(1714564800000000), false};
        static const char ops[] = {'c', 'u', 'd', 'r'};
        for (int i = 0; i < 4; i++) {
            w2k_buf_t k = W2K_BUF_INIT, v = W2K_BUF_INIT;
            const w2k_pgtuple_t *row = i % 2 ? b : a;
            if (w2k_avroenc_key(enc, ra, rel, row, NULL, &k, &err) != 0 ||
                w2k_avroenc_value(enc, ra, rel, ops[i], ops[i] == 'c' ? NULL : a,
                                  ops[i] == 'd' ? NULL : row, NULL, &src, 0, &v, &err) != 0) {
                fprintf(stderr, "seed: %s\n", err.msg);
                abort();
            }
            char name[32];
            snprintf(name, sizeof name, "op-%c", ops[i]);
            fuzz_seed_msg(hd, name, &k, &v);
            if (i == 2) {
                fuzz_seed_msg(hd, "tombstone", &k, NULL);
                /* the same value in Confluent framing (schema id 1) */
                w2k_buf_t c = W2K_BUF_INIT;
                uint8_t h[W2K_REGISTRY_HEADER_LEN];
                w2k_registry_header(1, h);
                w2k_buf_append(&c, h, sizeof h);
                w2k_buf_append(&c, v.data + 10, v.len - 10);
                fuzz_seed_msg(hd, "confluent", &k, &c);
                w2k_buf_free(&c);
            }
            snprintf(name, sizeof name, "value-%c", ops[i]);
            fuzz_write(ad, name, vs->json, strlen(vs->json) + 1, v.data + 10, v.len - 10);
            snprintf(name, sizeof name, "key-%c", ops[i]);
            fuzz_write(ad, name, ks->json, strlen(ks->json) + 1, k.data + 10, k.len - 10);
            w2k_buf_free(&k);
            w2k_buf_free(&v);
        }
        free(a);
        free(b);
    }
    w2k_avroenc_destroy(enc);
    w2k_relavro_destroy(ra);
    w2k_relation_free(rel);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    const char *dir = getenv("W2K_FUZZ_SEEDS");
    fuzz_setup(dir);
    if (dir)
        exit(0);
    return 0;
}

static void fuzz_json_valid(const char *what, const char *text, size_t len)
{
    w2k_arena_t a = W2K_ARENA_INIT;
    w2k_json_error_t e;
    if (!w2k_json_parse(&a, text ? text : "", len, &e)) {
        fprintf(stderr, "%s is not valid JSON (%s at %zu): %.*s\n", what, e.why, e.at, (int)len,
                text);
        abort();
    }
    w2k_arena_free(&a);
}

static void fuzz_stream_valid(const char *what, char *buf, size_t len)
{
    /* one JSON value per line */
    size_t start = 0;
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            fuzz_json_valid(what, buf + start, i - start);
            start = i + 1;
        }
    }
    if (start != len)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t klen = ((size_t)data[0] << 8) | data[1];
    if (klen > size - 2)
        klen = size - 2;
    /* copies, so that ASan sees any read past either message */
    uint8_t *key = malloc(klen ? klen : 1);
    size_t vlen = size - 2 - klen;
    uint8_t *value = vlen ? malloc(vlen) : NULL;
    if (!key || (vlen && !value))
        abort();
    memcpy(key, data + 2, klen);
    if (vlen)
        memcpy(value, data + 2 + klen, vlen);

    (void)w2k_hdr_len(key, klen);
    int32_t id;
    (void)w2k_registry_header_parse(value, vlen, &id);

    w2k_err_t err;
    w2k_buf_t kj = W2K_BUF_INIT;
    memset(&err, 0, sizeof err);
    if (w2k_hschemas_key_json(fuzz_schemas, key, klen, &kj, &err) == 0) {
        if (!kj.oom)
            fuzz_json_valid("key", kj.data, kj.len);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    w2k_buf_free(&kj);

    int dec = -1;
    if (value) {
        w2k_henv_t env;
        memset(&env, 0, sizeof env);
        memset(&err, 0, sizeof err);
        dec = w2k_hschemas_decode(fuzz_schemas, value, vlen, &env, &err);
        if (dec == 0) {
            w2k_buf_t ij = W2K_BUF_INIT;
            if (env.before)
                w2k_himage_json(env.before, &ij);
            if (!ij.oom && env.before)
                fuzz_json_valid("before", ij.data, ij.len);
            w2k_buf_free(&ij);
            if (env.after)
                w2k_himage_json(env.after, &ij);
            if (!ij.oom && env.after)
                fuzz_json_valid("after", ij.data, ij.len);
            w2k_buf_free(&ij);
        } else if (err.msg[0] == '\0') {
            abort();
        }
        w2k_henv_clear(&env);
        bool after_null, toast;
        int64_t ts;
        memset(&err, 0, sizeof err);
        int pk = w2k_hschemas_peek(fuzz_schemas, value, vlen, &after_null, &toast, &ts, &err);
        if (pk != 0 && err.msg[0] == '\0')
            abort();
        if (dec == 0 && pk != 0) {
            fprintf(stderr, "decode reads the value but peek refuses it: %s\n", err.msg);
            abort();
        }
    }

    /* state: the fold of this message and its tombstone, rows as JSON lines */
    w2k_hmsg_t m = {key, klen, value, vlen, 0, 7, 1714564800000};
    w2k_hmsg_t tomb = {key, klen, NULL, 0, 0, 8, 1714564800001};
    w2k_hfold_t *fold = w2k_hfold_new(fuzz_schemas, INT64_MAX);
    memset(&err, 0, sizeof err);
    if (w2k_hfold_add(fold, &m, &err) == 0) {
        w2k_hrow_t *rows = NULL;
        int n = w2k_hfold_rows(fold, true, &rows, &err);
        if (n > 0) {
            char *buf = NULL;
            size_t len = 0;
            FILE *mf = open_memstream(&buf, &len);
            w2k_hrows_write_json(rows, n, mf);
            fclose(mf);
            fuzz_stream_valid("state row", buf, len);
            free(buf);
        }
        if (n >= 0)
            w2k_hrows_free(rows, n);
        char *buf = NULL;
        size_t len = 0;
        FILE *mf = open_memstream(&buf, &len);
        if (w2k_hfold_write_json(fold, true, mf, &err) == 0) {
            fclose(mf);
            fuzz_stream_valid("state line", buf, len);
        } else {
            fclose(mf);
        }
        free(buf);
    } else if (err.msg[0] == '\0') {
        abort();
    }
    (void)w2k_hfold_add(fold, &tomb, &err);
    w2k_hfold_destroy(fold);

    /* history of the key: the message, then its tombstone */
    w2k_hist_t *h = w2k_hist_new(fuzz_schemas, INT64_MIN, INT64_MAX);
    memset(&err, 0, sizeof err);
    int ha = w2k_hist_add(h, &m, &err);
    if (ha != 0 && err.msg[0] == '\0')
        abort();
    (void)w2k_hist_add(h, &tomb, &err);
    char *buf = NULL;
    size_t len = 0;
    FILE *mf = open_memstream(&buf, &len);
    w2k_hist_write_json(h, mf);
    fclose(mf);
    fuzz_stream_valid("history event", buf, len);
    free(buf);
    mf = open_memstream(&buf, &len);
    w2k_hist_write_table(h, mf);
    fclose(mf);
    free(buf);
    w2k_hist_destroy(h);

    free(key);
    free(value);
    return 0;
}
