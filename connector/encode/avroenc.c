/* avroenc.c — table schemas (key, envelope), schema-change schema, and encoding with
 * avro-c into single-object encoded messages. */
#include "avroenc.h"
#include "avrofp.h"
#include "txmeta.h"
#include "version.h"

#include <avro.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Envelope field positions. */
enum { ENV_BEFORE, ENV_AFTER, ENV_OP, ENV_SOURCE, ENV_TS_MS, ENV_CHANGED };
/* Source field positions. */
enum {
    SRC_VERSION,
    SRC_CONNECTOR,
    SRC_NAME,
    SRC_DB,
    SRC_SCHEMA,
    SRC_TABLE,
    SRC_TXID,
    SRC_LSN,
    SRC_COMMIT_LSN,
    SRC_TS_MS,
    SRC_TS_US,
    SRC_SNAPSHOT
};
/* SchemaChange field positions. */
enum {
    CH_TYPE,
    CH_SCHEMA,
    CH_TABLE,
    CH_RELID,
    CH_OLD_COLUMNS,
    CH_NEW_COLUMNS,
    CH_OPTIONS,
    CH_DDL,
    CH_OLD_SCHEMA,
    CH_OLD_TABLE,
    CH_SOURCE,
    CH_TS_MS
};

/* One compiled schema: text, fingerprint, its single-object header, and, for the
 * schema-change schemas only, the avro-c schema and a reusable value. Table messages
 * are written without avro-c (write_image and below), so a table keeps no avro-c state:
 * ~30 KB of heap per table with it (schema, generic class and value of the key and the
 * envelope), 300 MB over 10,000 tables. */
typedef struct compiled_s {
    w2k_schema_t pub;
    uint8_t soe[W2K_SOE_HEADER_LEN];
    avro_schema_t schema;      /* NULL for a table's schemas */
    avro_value_iface_t *iface; /* NULL for a table's schemas */
    avro_value_t value;        /* valid when has_value */
    bool has_value;
    bool ready;
} compiled_t;

/* The first six fields of a message's wal2kafka.Source (version, connector, name, db,
 * schema, table) encoded once per table: the same in each of its messages as long as
 * the stream's prefix and database name are (checked against the bytes kept here). */
typedef struct srchead_s {
    w2k_buf_t bin;
    size_t prefix_off, prefix_len, db_off, db_len;
} srchead_t;

struct w2k_relavro_s {
    compiled_t key; /* not ready for keyless tables */
    compiled_t env;
    char schema[64];
    char table[64];
    srchead_t head;
    w2k_coltype_t *types; /* per column with the stream's representation options, or
                             NULL: the relation's own (the defaults) */
    int ntypes;
    w2k_txmeta_t *txmeta; /* the envelope ends with the `transaction` field, numbered by
                             this counter; NULL: no such field */
};

/* The Source fields after lsn (commit_lsn, ts_ms, ts_us, snapshot), encoded once per
 * transaction: every change of it has the same. */
typedef struct srctail_s {
    bool valid;
    w2k_lsn_t commit_lsn;
    int64_t commit_us;
    bool snapshot;
    w2k_buf_t bin;
} srctail_t;

struct w2k_avroenc_s {
    avro_writer_t writer;
    w2k_buf_t scratch;
    compiled_t change_key;
    compiled_t change_value;
    srctail_t tail;
};

/* A schema writer producing the full form or the Parsing Canonical Form. Records are
 * written with full names in both forms, so the two differ only in defaults and
 * logical types. */
typedef struct sw_s {
    w2k_buf_t *b;
    bool canonical;
    unsigned defined;           /* W2K_NAMED_* of pgtypes.h */
    const w2k_coltype_t *types; /* per column, or NULL: the relation's */
    bool txblock;               /* envelope: with the `transaction` field */
} sw_t;

/* Column i's type as the table's messages carry it. */
static const w2k_coltype_t *col_type(const w2k_coltype_t *types, const w2k_relation_t *rel, int i)
{
    return types ? &types[i] : &rel->cols[i].type;
}

static void sw_record_open(sw_t *w, const char *fullname)
{
    w2k_buf_printf(w->b, "{\"name\":\"%s\",\"type\":\"record\",\"fields\":[", fullname);
}

static void sw_field(sw_t *w, int index, const char *name, const char *type)
{
    w2k_buf_printf(w->b, "%s{\"name\":\"%s\",\"type\":%s", index ? "," : "", name,
                   type ? type : "");
}

static void sw_field_end(sw_t *w, bool default_null)
{
    if (default_null && !w->canonical)
        w2k_buf_puts(w->b, ",\"default\":null");
    w2k_buf_putc(w->b, '}');
}

/* The property "pg.name" holding a PostgreSQL name that is not its own Avro name, in the
 * full form only (the Parsing Canonical Form has no properties). */
static void sw_pg_name(sw_t *w, const char *key, const char *pg)
{
    if (w->canonical || w2k_names_avro_plain(pg))
        return;
    w2k_buf_printf(w->b, ",\"%s\":", key);
    w2k_buf_put_json_string(w->b, pg, strlen(pg));
}

/* The property "wal2kafka.masked" of a column whose value the stream replaces
 * (hash_columns, mask_columns), in the full form only. */
static void sw_masked(sw_t *w, const w2k_column_t *col)
{
    if (w->canonical || !col->masked)
        return;
    w2k_buf_printf(w->b, ",\"wal2kafka.masked\":\"%s\"",
                   col->masked == W2K_MASKED_HASH ? "hmac-sha256" : "mask");
}

/* A table's record: its name, and its PostgreSQL schema and table names when either is
 * not its own Avro name ("pg.schema", "pg.table"). */
static void sw_table_record_open(sw_t *w, const char *fullname, const w2k_relation_t *rel)
{
    w2k_buf_printf(w->b, "{\"name\":\"%s\",\"type\":\"record\"", fullname);
    if (!w->canonical && (!w2k_names_avro_plain(rel->schema) || !w2k_names_avro_plain(rel->name))) {
        w2k_buf_puts(w->b, ",\"pg.schema\":");
        w2k_buf_put_json_string(w->b, rel->schema, strlen(rel->schema));
        w2k_buf_puts(w->b, ",\"pg.table\":");
        w2k_buf_put_json_string(w->b, rel->name, strlen(rel->name));
    }
    w2k_buf_puts(w->b, ",\"fields\":[");
}

static void sw_record_close(sw_t *w)
{
    w2k_buf_puts(w->b, "]}");
}

/* The wal2kafka.Source record. */
static void sw_source(sw_t *w)
{
    sw_record_open(w, "wal2kafka.Source");
    static const char *const str_fields[] = {"version", "connector", "name",
                                             "db",      "schema",    "table"};
    int i = 0;
    for (; i < 6; i++) {
        sw_field(w, i, str_fields[i], "\"string\"");
        sw_field_end(w, false);
    }
    static const char *const opt_fields[] = {"txId", "lsn", "commit_lsn"};
    for (int k = 0; k < 3; k++, i++) {
        sw_field(w, i, opt_fields[k], "[\"null\",\"long\"]");
        sw_field_end(w, true);
    }
    sw_field(w, i++, "ts_ms", "\"long\"");
    sw_field_end(w, false);
    sw_field(w, i++, "ts_us", "\"long\"");
    sw_field_end(w, false);
    sw_field(w, i++, "snapshot", "\"boolean\"");
    sw_field_end(w, false);
    sw_record_close(w);
}

static void namespace_of(const w2k_relation_t *rel, const char *prefix, char *out, size_t outsz)
{
    char p[128] = "", s[W2K_NAMES_MAX], t[W2K_NAMES_MAX];
    size_t n = 0;
    /* the prefix may hold dots: keep them as namespace separators */
    for (const char *q = prefix; *q && n + 1 < sizeof p; q++)
        p[n++] = *q;
    p[n] = '\0';
    char *save = NULL, parts[256] = "";
    for (char *tok = strtok_r(p, ".", &save); tok; tok = strtok_r(NULL, ".", &save)) {
        char part[W2K_NAMES_MAX];
        w2k_names_avro(tok, part, sizeof part);
        strncat(parts, parts[0] ? "." : "", sizeof parts - strlen(parts) - 1);
        strncat(parts, part, sizeof parts - strlen(parts) - 1);
    }
    w2k_names_avro(rel->schema, s, sizeof s);
    w2k_names_avro(rel->name, t, sizeof t);
    snprintf(out, outsz, "%s.%s.%s", parts, s, t);
}

static void write_key_schema(sw_t *w, const w2k_relation_t *rel, const char *ns)
{
    char name[832];
    snprintf(name, sizeof name, "%s.Key", ns);
    sw_table_record_open(w, name, rel);
    for (int k = 0; k < rel->nkeys; k++) {
        const w2k_column_t *col = &rel->cols[rel->keycols[k]];
        sw_field(w, k, col->avro_name, NULL);
        w2k_coltype_schema(col_type(w->types, rel, rel->keycols[k]), 0, w->canonical, &w->defined,
                           w->b);
        sw_pg_name(w, "pg.name", col->name);
        sw_masked(w, col);
        sw_field_end(w, false);
    }
    sw_record_close(w);
}

static int row_flags(const w2k_column_t *col)
{
    return W2K_FIELD_NULLABLE | (col->type.varlena ? W2K_FIELD_TOAST : 0);
}

static void write_envelope_schema(sw_t *w, const w2k_relation_t *rel, const char *ns)
{
    char name[832];
    snprintf(name, sizeof name, "%s.Envelope", ns);
    sw_table_record_open(w, name, rel);
    sw_field(w, ENV_BEFORE, "before", "[\"null\",");
    snprintf(name, sizeof name, "%s.Value", ns);
    sw_table_record_open(w, name, rel);
    for (int i = 0; i < rel->ncols; i++) {
        const w2k_column_t *col = &rel->cols[i];
        sw_field(w, i, col->avro_name, NULL);
        w2k_coltype_schema(col_type(w->types, rel, i), row_flags(col), w->canonical, &w->defined,
                           w->b);
        sw_pg_name(w, "pg.name", col->name);
        sw_masked(w, col);
        sw_field_end(w, true);
    }
    sw_record_close(w);
    w2k_buf_putc(w->b, ']');
    sw_field_end(w, true);
    w2k_buf_t ref = W2K_BUF_INIT;
    w2k_buf_printf(&ref, "[\"null\",\"%s\"]", name);
    sw_field(w, ENV_AFTER, "after", ref.data);
    w2k_buf_free(&ref);
    sw_field_end(w, true);
    sw_field(w, ENV_OP, "op", "\"string\"");
    sw_field_end(w, false);
    sw_field(w, ENV_SOURCE, "source", NULL);
    sw_source(w);
    sw_field_end(w, false);
    sw_field(w, ENV_TS_MS, "ts_ms", "\"long\"");
    sw_field_end(w, false);
    sw_field(w, ENV_CHANGED, "changed", "[\"null\",{\"type\":\"array\",\"items\":\"string\"}]");
    sw_field_end(w, true);
    if (w->txblock) {
        sw_field(w, ENV_CHANGED + 1, "transaction", W2K_TXBLOCK_SCHEMA);
        sw_field_end(w, true);
    }
    sw_record_close(w);
}

static void write_change_key_schema(sw_t *w)
{
    sw_record_open(w, "wal2kafka.TableKey");
    sw_field(w, 0, "schema", "\"string\"");
    sw_field_end(w, false);
    sw_field(w, 1, "table", "\"string\"");
    sw_field_end(w, false);
    sw_record_close(w);
}

static void write_change_value_schema(sw_t *w)
{
    static const char *const column =
        "{\"name\":\"wal2kafka.Column\",\"type\":\"record\",\"fields\":["
        "{\"name\":\"name\",\"type\":\"string\"},{\"name\":\"type\",\"type\":\"string\"},"
        "{\"name\":\"oid\",\"type\":\"long\"},{\"name\":\"typmod\",\"type\":\"int\"},"
        "{\"name\":\"key\",\"type\":\"boolean\"}]}";
    sw_record_open(w, "wal2kafka.SchemaChange");
    sw_field(w, CH_TYPE, "type", "\"string\"");
    sw_field_end(w, false);
    sw_field(w, CH_SCHEMA, "schema", "\"string\"");
    sw_field_end(w, false);
    sw_field(w, CH_TABLE, "table", "\"string\"");
    sw_field_end(w, false);
    sw_field(w, CH_RELID, "relid", "\"long\"");
    sw_field_end(w, false);
    sw_field(w, CH_OLD_COLUMNS, "old_columns", "[\"null\",{\"type\":\"array\",\"items\":");
    w2k_buf_puts(w->b, column);
    w2k_buf_puts(w->b, "}]");
    sw_field_end(w, true);
    sw_field(w, CH_NEW_COLUMNS, "new_columns",
             "[\"null\",{\"type\":\"array\",\"items\":\"wal2kafka.Column\"}]");
    sw_field_end(w, true);
    sw_field(w, CH_OPTIONS, "options", "{\"type\":\"array\",\"items\":\"string\"}");
    sw_field_end(w, false);
    sw_field(w, CH_DDL, "ddl", "[\"null\",\"string\"]");
    sw_field_end(w, true);
    sw_field(w, CH_OLD_SCHEMA, "old_schema", "[\"null\",\"string\"]");
    sw_field_end(w, true);
    sw_field(w, CH_OLD_TABLE, "old_table", "[\"null\",\"string\"]");
    sw_field_end(w, true);
    sw_field(w, CH_SOURCE, "source", NULL);
    sw_source(w);
    sw_field_end(w, false);
    sw_field(w, CH_TS_MS, "ts_ms", "\"long\"");
    sw_field_end(w, false);
    sw_record_close(w);
}

typedef void(schema_writer_fn)(sw_t *w, const w2k_relation_t *rel, const char *ns);

/* Write both forms with fn, fingerprint the canonical one, parse the full one (a check
 * that the generated text is valid Avro). With keep, keep the parsed schema and a
 * reusable avro-c value of it; without, free them at once. */
static int compile(compiled_t *c, schema_writer_fn *fn, void (*fixed)(sw_t *),
                   const w2k_relation_t *rel, const w2k_coltype_t *types, const char *ns,
                   bool txblock, bool keep, w2k_err_t *err)
{
    w2k_buf_t full = W2K_BUF_INIT, canon = W2K_BUF_INIT;
    sw_t wf = {&full, false, 0, types, txblock}, wc = {&canon, true, 0, types, txblock};
    if (fn) {
        fn(&wf, rel, ns);
        fn(&wc, rel, ns);
    } else {
        fixed(&wf);
        fixed(&wc);
    }
    int rc = -1;
    if (full.oom || canon.oom) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory building an Avro schema");
        goto out;
    }
    if (avro_schema_from_json_length(full.data, full.len, &c->schema) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME,
                    "internal error: generated Avro schema does not parse: %s", avro_strerror());
        w2k_err_hint(err, "please report this with the table's definition; schema: %.300s",
                     full.data);
        goto out;
    }
    if (!keep) {
        avro_schema_decref(c->schema);
        c->schema = NULL;
    } else {
        c->iface = avro_generic_class_from_schema(c->schema);
        if (!c->iface || avro_generic_value_new(c->iface, &c->value) != 0) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "avro-c cannot build a value: %s", avro_strerror());
            goto out;
        }
        c->has_value = true;
    }
    c->pub.fingerprint = w2k_avro_fingerprint(canon.data, canon.len);
    c->pub.text_fp = w2k_avro_fingerprint(full.data, full.len);
    w2k_soe_header(c->pub.fingerprint, c->soe);
    c->pub.json = full.data;
    full.data = NULL;
    c->ready = true;
    rc = 0;
out:
    w2k_buf_free(&full);
    w2k_buf_free(&canon);
    return rc;
}

static void release(compiled_t *c)
{
    if (c->has_value)
        avro_value_decref(&c->value);
    if (c->iface)
        avro_value_iface_decref(c->iface);
    if (c->schema)
        avro_schema_decref(c->schema);
    free(c->pub.json);
    memset(c, 0, sizeof *c);
}

w2k_avroenc_t *w2k_avroenc_new(void)
{
    w2k_err_t err;
    w2k_avroenc_t *enc = calloc(1, sizeof *enc);
    if (!enc)
        return NULL;
    if (compile(&enc->change_key, NULL, write_change_key_schema, NULL, NULL, NULL, false, true,
                &err) != 0 ||
        compile(&enc->change_value, NULL, write_change_value_schema, NULL, NULL, NULL, false, true,
                &err) != 0) {
        w2k_avroenc_destroy(enc);
        return NULL;
    }
    return enc;
}

void w2k_avroenc_destroy(w2k_avroenc_t *enc)
{
    if (!enc)
        return;
    if (enc->writer)
        avro_writer_free(enc->writer);
    release(&enc->change_key);
    release(&enc->change_value);
    w2k_buf_free(&enc->scratch);
    w2k_buf_free(&enc->tail.bin);
    free(enc);
}

w2k_relavro_t *w2k_relavro_new(const w2k_relation_t *rel, const char *prefix, w2k_err_t *err)
{
    return w2k_relavro_new_opts(rel, prefix, NULL, err);
}

w2k_relavro_t *w2k_relavro_new_opts(const w2k_relation_t *rel, const char *prefix,
                                    const w2k_typeopts_t *opts, w2k_err_t *err)
{
    return w2k_relavro_new_ext(rel, prefix, opts, NULL, err);
}

w2k_relavro_t *w2k_relavro_new_ext(const w2k_relation_t *rel, const char *prefix,
                                   const w2k_typeopts_t *opts, w2k_txmeta_t *txmeta, w2k_err_t *err)
{
    char ns[800];
    w2k_relavro_t *ra = calloc(1, sizeof *ra);
    if (!ra) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    snprintf(ra->schema, sizeof ra->schema, "%s", rel->schema);
    snprintf(ra->table, sizeof ra->table, "%s", rel->name);
    ra->txmeta = txmeta;
    static const w2k_typeopts_t defaults;
    if (opts && memcmp(opts, &defaults, sizeof defaults) != 0 && rel->ncols > 0) {
        ra->types = calloc((size_t)rel->ncols, sizeof *ra->types);
        if (!ra->types) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            free(ra);
            return NULL;
        }
        ra->ntypes = rel->ncols;
        for (int i = 0; i < rel->ncols; i++) {
            ra->types[i] = rel->cols[i].type;
            w2k_coltype_apply_opts(&ra->types[i], opts);
        }
    }
    namespace_of(rel, prefix, ns, sizeof ns);
    if ((rel->nkeys > 0 &&
         compile(&ra->key, write_key_schema, NULL, rel, ra->types, ns, false, false, err) != 0) ||
        compile(&ra->env, write_envelope_schema, NULL, rel, ra->types, ns, txmeta != NULL, false,
                err) != 0) {
        w2k_relavro_destroy(ra);
        return NULL;
    }
    return ra;
}

void w2k_relavro_destroy(w2k_relavro_t *ra)
{
    if (!ra)
        return;
    release(&ra->key);
    release(&ra->env);
    w2k_buf_free(&ra->head.bin);
    free(ra->types);
    free(ra);
}

const w2k_schema_t *w2k_relavro_key_schema(const w2k_relavro_t *ra)
{
    return ra->key.ready ? &ra->key.pub : NULL;
}

const w2k_schema_t *w2k_relavro_value_schema(const w2k_relavro_t *ra)
{
    return &ra->env.pub;
}

const w2k_schema_t *w2k_avroenc_change_key_schema(const w2k_avroenc_t *enc)
{
    return &enc->change_key.pub;
}

const w2k_schema_t *w2k_avroenc_change_value_schema(const w2k_avroenc_t *enc)
{
    return &enc->change_value.pub;
}

/* Serialize v as single-object encoding into out. */
static int write_soe(w2k_avroenc_t *enc, const compiled_t *c, avro_value_t *v, w2k_buf_t *out,
                     w2k_err_t *err)
{
    w2k_buf_reset(out);
    if (w2k_buf_reserve(out, 1024) != 0)
        goto oom;
    w2k_soe_header(c->pub.fingerprint, (uint8_t *)out->data);
    for (;;) {
        size_t room = out->cap - W2K_SOE_HEADER_LEN - 1;
        if (!enc->writer)
            enc->writer = avro_writer_memory(out->data + W2K_SOE_HEADER_LEN, (int64_t)room);
        else
            avro_writer_memory_set_dest(enc->writer, out->data + W2K_SOE_HEADER_LEN, (int64_t)room);
        int rc = avro_value_write(enc->writer, v);
        if (rc == 0) {
            out->len = W2K_SOE_HEADER_LEN + (size_t)avro_writer_tell(enc->writer);
            return 0;
        }
        if (rc != ENOSPC) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "Avro encoding failed: %s", avro_strerror());
            return -1;
        }
        if (w2k_buf_reserve(out, out->cap * 2) != 0)
            goto oom;
    }
oom:
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory encoding a message");
    return -1;
}

static int set_str(avro_value_t *rec, int idx, const char *s)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_set_string(&f, s);
}

static int set_long(avro_value_t *rec, int idx, int64_t v)
{
    avro_value_t f;
    return avro_value_get_by_index(rec, (size_t)idx, &f, NULL) || avro_value_set_long(&f, v);
}

static int set_opt_long(avro_value_t *rec, int idx, bool present, int64_t v)
{
    avro_value_t f, b;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        return -1;
    if (!present)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_long(&b, v);
}

static int set_opt_str(avro_value_t *rec, int idx, const char *v)
{
    avro_value_t f, b;
    if (avro_value_get_by_index(rec, (size_t)idx, &f, NULL))
        return -1;
    if (!v)
        return avro_value_set_branch(&f, 0, &b) || avro_value_set_null(&b);
    return avro_value_set_branch(&f, 1, &b) || avro_value_set_string(&b, v);
}

static int set_source(avro_value_t *rec, int idx, const w2k_source_t *src, const char *schema,
                      const char *table)
{
    avro_value_t s, f;
    if (avro_value_get_by_index(rec, (size_t)idx, &s, NULL))
        return -1;
    return set_str(&s, SRC_VERSION, W2K_VERSION) || set_str(&s, SRC_CONNECTOR, "wal2kafka") ||
           set_str(&s, SRC_NAME, src->prefix) || set_str(&s, SRC_DB, src->db) ||
           set_str(&s, SRC_SCHEMA, schema) || set_str(&s, SRC_TABLE, table) ||
           set_opt_long(&s, SRC_TXID, src->xid != 0, src->xid) ||
           set_opt_long(&s, SRC_LSN, src->lsn != 0, (int64_t)src->lsn) ||
           set_opt_long(&s, SRC_COMMIT_LSN, src->commit_lsn != 0, (int64_t)src->commit_lsn) ||
           set_long(&s, SRC_TS_MS, src->commit_us / 1000) ||
           set_long(&s, SRC_TS_US, src->commit_us) ||
           avro_value_get_by_index(&s, SRC_SNAPSHOT, &f, NULL) ||
           avro_value_set_boolean(&f, src->snapshot);
}

static int fail_avro(w2k_err_t *err, const char *what)
{
    w2k_err_set(err, W2K_EXIT_RUNTIME, "Avro encoding failed (%s): %s", what, avro_strerror());
    return -1;
}

/* ---- table messages: Avro binary written directly (the hot path; avro-c's generic
 * values cost most of the connector's CPU, see bench/) ---- */

/* Start a single-object encoded message for schema s in out. */
static void begin_soe(w2k_buf_t *out, const compiled_t *s)
{
    w2k_buf_reset(out);
    w2k_buf_append(out, s->soe, sizeof s->soe);
}

static int check_oom(const w2k_buf_t *out, w2k_err_t *err)
{
    if (!out->oom)
        return 0;
    w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory encoding a message");
    return -1;
}

static void write_string(w2k_buf_t *out, const char *s)
{
    w2k_avro_write_bytes(out, s, strlen(s));
}

/* ["null", "long"]: null when absent. */
static void write_opt_long(w2k_buf_t *out, bool present, int64_t v)
{
    w2k_avro_write_long(out, present);
    if (present)
        w2k_avro_write_long(out, v);
}

/* Whether the NUL-terminated s is the n bytes at p. */
static bool same_str(const char *p, size_t n, const char *s)
{
    return strncmp(p, s, n) == 0 && s[n] == '\0';
}

/* The head of the Source record for this table and src, from the table's cache. */
static void write_source_head(w2k_buf_t *out, srchead_t *h, const w2k_source_t *src,
                              const char *schema, const char *table)
{
    if (!h->bin.len || !same_str(h->bin.data + h->prefix_off, h->prefix_len, src->prefix) ||
        !same_str(h->bin.data + h->db_off, h->db_len, src->db)) {
        w2k_buf_reset(&h->bin);
        write_string(&h->bin, W2K_VERSION);
        write_string(&h->bin, "wal2kafka");
        h->prefix_len = strlen(src->prefix);
        w2k_avro_write_long(&h->bin, (int64_t)h->prefix_len);
        h->prefix_off = h->bin.len;
        w2k_buf_append(&h->bin, src->prefix, h->prefix_len);
        h->db_len = strlen(src->db);
        w2k_avro_write_long(&h->bin, (int64_t)h->db_len);
        h->db_off = h->bin.len;
        w2k_buf_append(&h->bin, src->db, h->db_len);
        write_string(&h->bin, schema);
        write_string(&h->bin, table);
        if (h->bin.oom) {
            w2k_buf_free(&h->bin);
            out->oom = 1;
            return;
        }
    }
    w2k_buf_append(out, h->bin.data, h->bin.len);
}

/* The wal2kafka.Source record, field by field (see schemas/wal2kafka.Source.avsc); the
 * fields after lsn come from the transaction's cache in t. */
static void write_source(w2k_buf_t *out, srchead_t *h, srctail_t *t, const w2k_source_t *src,
                         const char *schema, const char *table)
{
    write_source_head(out, h, src, schema, table);
    write_opt_long(out, src->xid != 0, src->xid);
    write_opt_long(out, src->lsn != 0, (int64_t)src->lsn);
    if (!t->valid || t->commit_lsn != src->commit_lsn || t->commit_us != src->commit_us ||
        t->snapshot != src->snapshot) {
        w2k_buf_reset(&t->bin);
        write_opt_long(&t->bin, src->commit_lsn != 0, (int64_t)src->commit_lsn);
        w2k_avro_write_long(&t->bin, src->commit_us / 1000);
        w2k_avro_write_long(&t->bin, src->commit_us);
        w2k_buf_putc(&t->bin, src->snapshot ? 1 : 0);
        t->valid = !t->bin.oom;
        t->commit_lsn = src->commit_lsn;
        t->commit_us = src->commit_us;
        t->snapshot = src->snapshot;
        if (!t->valid) {
            w2k_buf_free(&t->bin);
            out->oom = 1;
            return;
        }
    }
    w2k_buf_append(out, t->bin.data, t->bin.len);
}

/* Append one column's value, with the table and column named on error. */
static int write_column(w2k_avroenc_t *enc, const w2k_relation_t *rel, const w2k_coltype_t *ct,
                        int i, int flags, const w2k_pgdatum_t *d, w2k_buf_t *out, w2k_err_t *err)
{
    char why[512];
    if (d->kind == 'b') {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "%s.%s column %s: binary values are not expected",
                    rel->schema, rel->name, rel->cols[i].name);
        return -1;
    }
    if (w2k_coltype_write(ct, flags, out, d->kind, d->data, d->len, &enc->scratch, why,
                          sizeof why) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "table %s.%s, column %s (%s): %s", rel->schema,
                    rel->name, rel->cols[i].name, rel->cols[i].type_name, why);
        w2k_err_hint(err, "this value cannot be represented; please report it with the "
                          "column's type");
        return -1;
    }
    return 0;
}

int w2k_avroenc_key(w2k_avroenc_t *enc, w2k_relavro_t *ra, const w2k_relation_t *rel,
                    const w2k_pgtuple_t *tup, const w2k_pgtuple_t *fallback, w2k_buf_t *out,
                    w2k_err_t *err)
{
    begin_soe(out, &ra->key);
    for (int k = 0; k < rel->nkeys; k++) {
        int i = rel->keycols[k];
        const w2k_pgdatum_t *d = i < tup->ncols ? &tup->cols[i] : NULL;
        if ((!d || d->kind == 'u') && fallback && i < fallback->ncols)
            d = &fallback->cols[i];
        if (!d || d->kind == 'n' || d->kind == 'u') {
            w2k_err_set(err, W2K_EXIT_RUNTIME,
                        "table %s.%s: the change carries no value for key column %s", rel->schema,
                        rel->name, rel->cols[i].name);
            w2k_err_hint(err, "key columns must be NOT NULL; check the table's primary key or "
                              "replica identity index");
            return -1;
        }
        const w2k_coltype_t *ct = col_type(ra->ntypes == rel->ncols ? ra->types : NULL, rel, i);
        if (!w2k_coltype_write_fast(ct, 0, out, d->kind, d->data, d->len) &&
            write_column(enc, rel, ct, i, 0, d, out, err) != 0)
            return -1;
    }
    return check_oom(out, err);
}

/* ["null", Value]: a row image; unchanged TOAST values come from fill. */
static int write_image(w2k_avroenc_t *enc, const w2k_relation_t *rel, const w2k_coltype_t *types,
                       const w2k_pgtuple_t *tup, const w2k_pgtuple_t *fill, w2k_buf_t *out,
                       w2k_err_t *err)
{
    w2k_avro_write_long(out, tup != NULL);
    if (!tup)
        return 0;
    if (tup->ncols != rel->ncols) {
        w2k_err_set(err, W2K_EXIT_RUNTIME,
                    "table %s.%s: a row has %d columns but the relation has %d", rel->schema,
                    rel->name, tup->ncols, rel->ncols);
        return -1;
    }
    for (int i = 0; i < rel->ncols; i++) {
        const w2k_pgdatum_t *d = &tup->cols[i];
        if (d->kind == 'u' && fill && i < fill->ncols && fill->cols[i].kind != 'u')
            d = &fill->cols[i];
        int flags = row_flags(&rel->cols[i]);
        const w2k_coltype_t *ct = col_type(types, rel, i);
        if (!w2k_coltype_write_fast(ct, flags, out, d->kind, d->data, d->len) &&
            write_column(enc, rel, ct, i, flags, d, out, err) != 0)
            return -1;
    }
    return 0;
}

int w2k_avroenc_value(w2k_avroenc_t *enc, w2k_relavro_t *ra, const w2k_relation_t *rel, char op,
                      const w2k_pgtuple_t *before, const w2k_pgtuple_t *after, const bool *changed,
                      const w2k_source_t *src, int64_t now_ms, w2k_buf_t *out, w2k_err_t *err)
{
    begin_soe(out, &ra->env);
    const w2k_coltype_t *types = ra->ntypes == rel->ncols ? ra->types : NULL;
    if (write_image(enc, rel, types, before, NULL, out, err) != 0 ||
        write_image(enc, rel, types, after, before, out, err) != 0)
        return -1;
    w2k_avro_write_bytes(out, &op, 1);
    write_source(out, &ra->head, &enc->tail, src, ra->schema, ra->table);
    w2k_avro_write_long(out, now_ms);
    w2k_avro_write_long(out, changed != NULL);
    if (changed) {
        int64_t n = 0;
        for (int i = 0; i < rel->ncols; i++)
            n += changed[i];
        if (n) {
            w2k_avro_write_long(out, n);
            for (int i = 0; i < rel->ncols; i++)
                if (changed[i])
                    write_string(out, rel->cols[i].avro_name);
        }
        w2k_avro_write_long(out, 0);
    }
    if (ra->txmeta) {
        w2k_txblock_t block;
        bool read = op == W2K_ENV_OP_READ;
        if (!read && w2k_txmeta_event(ra->txmeta, ra->schema, ra->table, &block) != 0) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        w2k_txmeta_write_block(out, read ? NULL : &block);
    }
    return check_oom(out, err);
}

/* ---- schema-change events: rare, built with avro-c ---- */

static int set_columns(avro_value_t *rec, int idx, const w2k_relation_t *rel)
{
    avro_value_t u, arr, item, f;
    if (avro_value_get_by_index(rec, (size_t)idx, &u, NULL))
        return -1;
    if (!rel)
        return avro_value_set_branch(&u, 0, &f) || avro_value_set_null(&f);
    if (avro_value_set_branch(&u, 1, &arr) || avro_value_reset(&arr))
        return -1;
    for (int i = 0; i < rel->ncols; i++) {
        const w2k_column_t *c = &rel->cols[i];
        if (avro_value_append(&arr, &item, NULL) || set_str(&item, 0, c->name) ||
            set_str(&item, 1, c->type_name) || set_long(&item, 2, c->type_oid) ||
            avro_value_get_by_index(&item, 3, &f, NULL) || avro_value_set_int(&f, c->typmod) ||
            avro_value_get_by_index(&item, 4, &f, NULL) ||
            avro_value_set_boolean(&f, c->key_pos >= 0))
            return -1;
    }
    return 0;
}

int w2k_avroenc_change(w2k_avroenc_t *enc, const w2k_schema_change_t *ch, const w2k_source_t *src,
                       int64_t now_ms, w2k_buf_t *key, w2k_buf_t *value, w2k_err_t *err)
{
    avro_value_t *k = &enc->change_key.value, *v = &enc->change_value.value;
    avro_value_t opts, item;
    avro_value_reset(v);
    if (set_str(k, 0, ch->schema) || set_str(k, 1, ch->table))
        return fail_avro(err, "schema-change key");
    if (set_str(v, CH_TYPE, ch->type) || set_str(v, CH_SCHEMA, ch->schema) ||
        set_str(v, CH_TABLE, ch->table) || set_long(v, CH_RELID, ch->relid) ||
        set_columns(v, CH_OLD_COLUMNS, ch->old_rel) ||
        set_columns(v, CH_NEW_COLUMNS, ch->new_rel) ||
        avro_value_get_by_index(v, CH_OPTIONS, &opts, NULL) || avro_value_reset(&opts))
        return fail_avro(err, "schema-change event");
    for (const char *const *o = ch->options; o && *o; o++)
        if (avro_value_append(&opts, &item, NULL) || avro_value_set_string(&item, *o))
            return fail_avro(err, "schema-change event");
    if (set_opt_str(v, CH_DDL, ch->ddl) || set_opt_str(v, CH_OLD_SCHEMA, ch->old_schema) ||
        set_opt_str(v, CH_OLD_TABLE, ch->old_table) ||
        set_source(v, CH_SOURCE, src, ch->schema, ch->table) || set_long(v, CH_TS_MS, now_ms))
        return fail_avro(err, "schema-change event");
    if (write_soe(enc, &enc->change_key, k, key, err) != 0)
        return -1;
    return write_soe(enc, &enc->change_value, v, value, err);
}
