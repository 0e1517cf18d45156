/* catalog.h — what wal2kafka asks PostgreSQL's catalog and how it sets up its
 * publication and slot: server checks, publication upkeep, slot state and creation,
 * type resolution (domains, enums, arrays) and primary keys. */
#ifndef W2K_CATALOG_H
#define W2K_CATALOG_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "pgoutput.h"
#include "relcache.h"

/* Check the server can serve logical replication: version, wal_level. Returns 0, or
 * -1 with err saying what to change. *version_num receives server_version_num. */
int w2k_catalog_check_server(PGconn *c, int *version_num, w2k_err_t *err);

/* Make the stream's publication carry exactly the configured tables (with column lists,
 * row filters and operations): create it when missing, alter it when the
 * configuration changed or someone else changed it. Every table must exist, except when
 * resuming a stream that has run before: tables dropped since are left out with a
 * warning. The publication's comment tags it with a hash of the definition and the
 * OID of each table's membership; when resuming, a table whose membership is not the
 * tagged one (removed from the publication, or removed and added again, or given
 * another filter or column list by someone else), or all tables when operations were
 * taken away, lost changes PostgreSQL will never send: in the transaction that
 * restores the publication, a re-read of each such table is requested (a snapshot
 * request marked W2K_SNAPSHOT_REPAIR in the WAL), with a warning. Returns 0, or -1 with
 * err naming the table or config line at fault. */
int w2k_catalog_ensure_publication(PGconn *c, const char *config_path, const w2k_stream_cfg_t *st,
                                   bool resuming, w2k_err_t *err);

/* A short text that changes whenever publication pub's operations or memberships
 * change, into *out (malloc'd; NULL when the publication does not exist). Waits at
 * most timeout_ms (0 = no limit) for the answer. Returns 0, or -1 with err. */
int w2k_catalog_publication_signature(PGconn *c, const char *pub, int timeout_ms, char **out,
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
} w2k_slot_info_t;

/* Look the slot up in pg_replication_slots. Returns 0 (with out->exists false when it
 * does not exist), or -1 with err. */
int w2k_catalog_slot(PGconn *c, const char *slot, w2k_slot_info_t *out, w2k_err_t *err);

/* Check a slot found by w2k_catalog_slot can be streamed by this stream from database
 * dbname: pgoutput, same database, not active, not lost. Returns 0, or -1 with err. */
int w2k_catalog_slot_usable(const w2k_slot_info_t *info, const char *slot, const char *dbname,
                            w2k_err_t *err);

/* Create a pgoutput slot on a replication connection; *consistent_point receives the
 * LSN from which it streams. With snapshot_name (at least 64 bytes) the slot exports
 * its snapshot and snapshot_name receives its name: import it before this
 * connection runs another command. Returns 0, or -1 with err. */
int w2k_catalog_create_slot(PGconn *repl, const char *slot, w2k_lsn_t *consistent_point,
                            char *snapshot_name, w2k_err_t *err);

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

/* The primary-key column names of relation relid, in key order, written into names
 * (caller-allocated, max entries); *n receives the count (0 when there is none).
 * Returns 0, or -1 with err (e.g. the table no longer exists). */
int w2k_catalog_primary_key(PGconn *c, uint32_t relid, char names[][64], int max, int *n,
                            w2k_err_t *err);

/* A table of a publication: OID and name. */
typedef struct w2k_pubtable_s {
    uint32_t relid;
    char schema[64];
    char name[64];
} w2k_pubtable_t;

/* The tables in publication pub, into a malloc'd array (*n entries). Returns 0, or -1
 * with err. */
int w2k_catalog_publication_tables(PGconn *c, const char *pub, w2k_pubtable_t **out, int *n,
                                   w2k_err_t *err);

/* Complete a relation whose columns carry only name, type_oid and typmod: resolve each
 * column's type (a dropped type falls back to its text form, with a warning) and its
 * key: the primary key; for REPLICA IDENTITY USING INDEX the identity
 * index (keyflags: pgoutput's per-column flags, or NULL to ask the catalog); none
 * otherwise. Returns 0, or -1 with err. */
int w2k_catalog_describe(PGconn *c, w2k_relation_t *rel, const uint8_t *keyflags, w2k_err_t *err);

/* A published table as pgoutput will describe it: the columns publication pub sends
 * (column list applied, generated and dropped columns left out), their types and the
 * key. *rowfilter receives the publication's row filter for it (malloc'd) or NULL.
 * Returns NULL with err when the table is not in the publication. */
w2k_relation_t *w2k_catalog_table(PGconn *c, const char *pub, const char *schema, const char *name,
                                  char **rowfilter, w2k_err_t *err);

#endif
