/* catalog.h — what wal2kafka asks PostgreSQL's catalog and how it sets up its
 * publication and slot: server checks, publication upkeep, slot state and creation,
 * type resolution (domains, enums, arrays) and primary keys. The publication upkeep
 * observes the server here, plans with pubplan.c (pure) and applies the plan here. */
#ifndef W2K_CATALOG_H
#define W2K_CATALOG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "pubplan.h"
#include "relcache.h"

/* Check the server can serve logical replication: version, wal_level. Returns 0, or
 * -1 with err saying what to change. *version_num receives server_version_num. */
int w2k_catalog_check_server(PGconn *c, int *version_num, w2k_err_t *err);

/* The publications of stream sc (its table entries, patterns included, decide them;
 * w2k_pubset_t in pubplan.h): pushdown true when PostgreSQL filters, false for
 * filters = connector. */
void w2k_catalog_pubset(const w2k_stream_cfg_t *sc, bool pushdown, w2k_pubset_t *out);

/* Ask PostgreSQL whether it takes table t of stream st (its row filter and column
 * list) in a publication: CREATE PUBLICATION in a transaction rolled back. Returns 0
 * when it does, 1 with err (what run reports: the stream, the table, its config line
 * and PostgreSQL's message) when it refuses, -1 with err when it cannot tell (e.g. the
 * role may not create publications). */
int w2k_catalog_probe_table(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                            const w2k_table_cfg_t *t, w2k_err_t *err);

/* Whether row filter filter of table schema.name uses a column outside the table's
 * replica identity (then PostgreSQL needs REPLICA IDENTITY FULL to evaluate it on
 * updates and deletes): PostgreSQL parses the filter over the identity columns alone.
 * Returns 1 with the column PostgreSQL names in col, 0 when the filter uses only
 * identity columns (or the identity is FULL), -1 with err when it cannot tell (the
 * filter is not a valid expression over the table). */
int w2k_catalog_filter_outside_identity(PGconn *c, const char *schema, const char *name,
                                        const char *filter, char *col, size_t colsz,
                                        w2k_err_t *err);

typedef struct w2k_slot_info_s {
    bool exists;
    char plugin[64];
    char database[128];
    bool active;
    int active_pid;
    w2k_lsn_t confirmed_flush;
    w2k_lsn_t restart_lsn;
    char wal_status[16]; /* reserved, extended, unreserved, lost, or "" */
    bool failover;       /* 17+: kept on standbys that sync slots */
    bool synced;         /* 17+: a copy synced from a primary (on a standby, not usable) */
    bool temporary;
    bool in_recovery;             /* the server is a standby */
    char invalidation_reason[32]; /* 17+: why the slot was invalidated, or "" */
} w2k_slot_info_t;

/* Look the slot up in pg_replication_slots. Returns 0 (with out->exists false when it
 * does not exist), or -1 with err. */
int w2k_catalog_slot(PGconn *c, const char *slot, w2k_slot_info_t *out, w2k_err_t *err);

/* Check a slot found by w2k_catalog_slot can be streamed by stream (its name, for the
 * hints) from database dbname: pgoutput, same database, not active, not lost. Returns
 * 0, or -1 with err. */
int w2k_catalog_slot_usable(const w2k_slot_info_t *info, const char *slot, const char *stream,
                            const char *dbname, w2k_err_t *err);

/* Create a pgoutput slot on a replication connection; *consistent_point receives the
 * LSN from which it streams. With snapshot_name (at least 64 bytes) the slot exports
 * its snapshot and snapshot_name receives its name: import it before this
 * connection runs another command. With failover (PostgreSQL 17+ only; ignored
 * before) the slot is created with failover = true. Returns 0, or -1 with err. */
int w2k_catalog_create_slot(PGconn *repl, const char *slot, w2k_lsn_t *consistent_point,
                            char *snapshot_name, bool failover, w2k_err_t *err);

/* Turn failover on for an existing, inactive slot (PostgreSQL 17+) with
 * ALTER_REPLICATION_SLOT on a replication connection. Returns 0, or -1 with err. */
int w2k_catalog_slot_failover(PGconn *repl, const char *slot, w2k_err_t *err);

/* Whether a slot found by w2k_catalog_slot is a synced copy that cannot be used yet
 * (on a standby, still temporary, or being synchronized): sets err (retryable, with
 * why and a hint) and returns -1; else 0. */
int w2k_catalog_slot_synced_wait(const w2k_slot_info_t *info, const char *slot, w2k_err_t *err);

/* Drop a slot (it must not be active). Returns 0, or -1 with err. */
int w2k_catalog_drop_slot(PGconn *c, const char *slot, w2k_err_t *err);

/* A column type resolved to what the type mapping understands: domains replaced by
 * their base type (and the domain's typmod when the column has none), enums by text;
 * for arrays of such types, elem_oid is the resolved element type. */
typedef struct w2k_typeinfo_s {
    uint32_t oid;
    int32_t typmod;
    uint32_t elem_oid;
    char name[128]; /* the type's name as format_type() prints it */
} w2k_typeinfo_t;

/* Resolve a column type. Returns 0, or -1 with err (e.g. the type was dropped). */
int w2k_catalog_resolve_type(PGconn *c, uint32_t oid, int32_t typmod, w2k_typeinfo_t *out,
                             w2k_err_t *err);

/* A table of a publication: OID and name. */
typedef struct w2k_pubtable_s {
    uint32_t relid;
    char schema[64];
    char name[64];
} w2k_pubtable_t;

/* Parse a publication's comment (its forms: pubplan.h) into t, which points into comment. */
void w2k_catalog_parse_tag(const char *comment, w2k_pubtag_t *t);

/* The note of t at *pos (0 for the first) into note, *pos moved past it. Returns false
 * when there is none left. */
bool w2k_catalog_tag_note(const w2k_pubtag_t *t, size_t *pos, w2k_pubnote_t *note);

/* Make the stream's publications (ps) carry exactly the configured tables (with column
 * lists, row filters and operations; st->tables as they are to be published, each in
 * the publication of its operations): create them when missing, alter them when the
 * configuration changed, all in one transaction. Every table must exist, except when
 * resuming a stream that has run before: tables dropped since are left out with a
 * warning. A publication that must be created while the stream's slot holds changes
 * from before it cannot be used for them (PostgreSQL 15 looks publications up as of
 * each change): it is created empty and marked pending in ps, the others are left as
 * they are, and the new definition takes effect at a later start, with a warning.
 * ps->names lists the publications to stream with; once set it stays (ps->in_use: a
 * replication session uses them), and later calls (tables joining) change nothing
 * while a publication is pending or missing.
 * Each publication's comment (w2k_pubtag_t) notes each of its tables: its OID, its
 * membership, and the name the table's configuration entry names it by, for
 * w2k_catalog_renamed_table: configured (NULL, or one entry per table of st, each NULL
 * or a name) gives that name when it is not the table's own (the table was renamed).
 * Returns 0, or -1 with err naming the table or config line at fault.
 * When resuming, a publication someone else changed is restored: a table whose
 * membership is not the one its tag notes (removed, or removed and added again, or
 * given another row filter or column list), a table of an unchanged definition
 * missing when the tag notes no memberships, or operations taken away (then every
 * table of that publication) lost changes PostgreSQL will never send. In the
 * transaction that restores the publication, a re-read of each such table is requested
 * (a snapshot request marked W2K_SNAPSHOT_REPAIR in the WAL), with a warning. While a
 * publication is pending or missing, only those whose definition did not change are
 * restored. Steps: observe (the tables, the publications and their comments), plan
 * (w2k_pubplan_make, pure), apply (the plan's actions, logged). */
int w2k_catalog_ensure_publication(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                                   const w2k_pubtable_t *const *configured, w2k_pubset_t *ps,
                                   bool resuming, w2k_err_t *err);

/* A short text that changes whenever the operations or the memberships of a
 * publication in use (ps->names) change, into *out (malloc'd; NULL when one of them
 * does not exist). Waits at most timeout_ms (0 = no limit) for the answer. Returns 0,
 * or -1 with err. */
int w2k_catalog_publication_signature(PGconn *c, const w2k_pubset_t *ps, int timeout_ms, char **out,
                                      w2k_err_t *err);

/* The stream's publications as the server has them, comma-separated into names (reset
 * first): those of ps, and those wal2kafka made for the stream before (for sets of
 * operations none of its tables has now, and pending ones). The tables in them are
 * the ones the stream read until now. Returns 0, or -1 with err. */
int w2k_catalog_stream_publications(PGconn *c, const w2k_pubset_t *ps, w2k_buf_t *names,
                                    w2k_err_t *err);

/* A renamed table: when no table is named schema.name, the table one of the stream's
 * publications (w2k_catalog_stream_publications) took in under that name (its OID is
 * noted in that publication's comment), if it still exists and is still in that
 * publication. Returns 1 with *out (OID, current schema and name), 0 when a table of
 * that name exists or none was renamed from it, or -1 with err. */
int w2k_catalog_renamed_table(PGconn *c, const w2k_pubset_t *ps, const char *schema,
                              const char *name, w2k_pubtable_t *out, w2k_err_t *err);

/* Before 13: whether relation relid, neither configured nor a partition of a
 * configured table, was a leaf partition of one (detached since): a publication of ps
 * notes it under the name of a table of tables (ntables entries) that is partitioned.
 * Returns 1 when so, 0 when not (a renamed table, noted under its old name), or -1
 * with err. */
int w2k_catalog_detached_leaf(PGconn *c, const w2k_pubset_t *ps, uint32_t relid,
                              const w2k_table_cfg_t *tables, int ntables, w2k_err_t *err);

/* The tables in the publications pubs (comma-separated), but the signal table
 * (signals.h), into a malloc'd array (*n entries). Returns 0, or -1 with err. */
int w2k_catalog_publication_tables(PGconn *c, const char *pubs, w2k_pubtable_t **out, int *n,
                                   w2k_err_t *err);

/* Complete a relation whose columns carry only name, type_oid and typmod: resolve each
 * column's type (a dropped type falls back to its text form, with a warning) and its
 * key: the primary key; for REPLICA IDENTITY USING INDEX the identity
 * index (keyflags: pgoutput's per-column flags, or NULL to ask the catalog); none
 * otherwise. Returns 0, or -1 with err. */
int w2k_catalog_describe(PGconn *c, w2k_relation_t *rel, const uint8_t *keyflags, w2k_err_t *err);

/* A published table as pgoutput will describe it: the columns the publication of
 * pubs (comma-separated names) holding it sends (column list applied, dropped columns
 * left out, generated ones too unless it has publish_generated_columns = stored, 18+),
 * their types and the key. A partitioned table published via its root (13+), or
 * before 13 through its leaf partitions (every column), is described as itself. *rowfilter receives
 * the publication's row filter for it (malloc'd) or NULL. Returns NULL with err when the table is
 * in none of them. */
w2k_relation_t *w2k_catalog_table(PGconn *c, const char *pubs, const char *schema, const char *name,
                                  char **rowfilter, w2k_err_t *err);

/* The published tables of pubs, looked up with one query (pg_publication_tables
 * computes every table of the publications on each query: one query per table of
 * 10,000 costs minutes). */
typedef struct w2k_catalog_pubtables_s w2k_catalog_pubtables_t;

/* Look up the tables of pubs (comma-separated names) once. Returns NULL with err. */
w2k_catalog_pubtables_t *w2k_catalog_pubtables(PGconn *c, const char *pubs, w2k_err_t *err);

/* w2k_catalog_table for schema.name, from pt's rows (the columns are still asked for):
 * the same relation and *rowfilter; a table not among them (or in two publications)
 * is asked on its own. */
w2k_relation_t *w2k_catalog_pubtables_table(PGconn *c, const w2k_catalog_pubtables_t *pt,
                                            const char *schema, const char *name, char **rowfilter,
                                            w2k_err_t *err);

/* Free pt (NULL is fine). */
void w2k_catalog_pubtables_free(w2k_catalog_pubtables_t *pt);

/* Before 13 (no publish_via_partition_root): whether relation relid is a partition,
 * and then the top-most partitioned table above it, its OID into root, its name into
 * schema and name, its columns' names in order (*cols, *ncols; malloc'd, the caller
 * frees). Returns 1 when it is a partition, 0 when not, or -1 with err. */
int w2k_catalog_partition_root(PGconn *c, uint32_t relid, uint32_t *root, char schema[64],
                               char name[64], char (**cols)[64], int *ncols, w2k_err_t *err);

/* The key of partitioned table root set on rel (a leaf partition mapped to it, same
 * column names): its primary key, or before 13 when it has none (PostgreSQL 10 has
 * none on a partitioned table), the primary key common to its leaf partitions (the
 * same columns in the same order), else none. Returns 0, or -1 with err. */
int w2k_catalog_root_key(PGconn *c, uint32_t root, w2k_relation_t *rel, w2k_err_t *err);

/* Before 13: the primary key common to the leaf partitions of a partitioned table ($1,
 * its OID), as rows of column names in key order; none when they differ or one has
 * none. */
extern const char w2k_catalog_leaves_key_sql[];

/* Before 13: the leaf partitions of a partitioned table ($1, its OID), recursively, as
 * (oid, quoted schema.name) rows. */
extern const char w2k_catalog_leaves_sql[];

/* Every table a pattern may name, as (nspname, relname) rows in order: ordinary and
 * partitioned tables, not partitions, outside the system schemas. */
extern const char w2k_catalog_all_tables_sql[];

/* Append schema.name to b, each quoted as a SQL identifier where it needs it. */
void w2k_catalog_put_qualified(w2k_buf_t *b, PGconn *c, const char *schema, const char *name);

/* Append to b what a SELECT reads table schema.name's rows FROM: "ONLY schema.name"
 * for a table (its own rows, not those of inheritance children), "schema.name" for a
 * partitioned table (the rows of its partitions), quoted. Returns 0, or -1 with err. */
int w2k_catalog_put_from(w2k_buf_t *b, PGconn *c, const char *schema, const char *name,
                         w2k_err_t *err);

/* The table schema.name with all its columns (generated and dropped ones left out),
 * their types and the key, whatever is published. Returns NULL with err when it does
 * not exist. */
w2k_relation_t *w2k_catalog_relation(PGconn *c, const char *schema, const char *name,
                                     w2k_err_t *err);

/* Tables schemas[i].names[i] (n of them) described in one query, as
 * w2k_catalog_relation() describes each: out[i] the relation, or NULL when it is not a
 * plain table now (gone, partitioned). The caller frees each. Returns 0, or -1 with err
 * (every out[i] NULL). */
int w2k_catalog_relations(PGconn *c, const char *const *schemas, const char *const *names, int n,
                          w2k_relation_t **out, w2k_err_t *err);

#endif
