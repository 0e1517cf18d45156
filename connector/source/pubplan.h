/* pubplan.h — the plan of a stream's publication upkeep: from the configuration wanted
 * and the publications as catalog.c observed them, the statements, comments, repair
 * requests and warnings that make them match. Pure: no I/O, no connection. */
#ifndef W2K_PUBPLAN_H
#define W2K_PUBPLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "pgoutput.h"

/* A stream's publications. PostgreSQL 15 publishes operations per publication and
 * applies a table's row filter only to the operations its publication publishes: it
 * checks the operation first (an UPDATE needs publish = update even when the row
 * filter turns it into an INSERT or a DELETE), and it refuses UPDATEs and DELETEs of a
 * table whose row filter uses columns outside the replica identity only while a
 * publication holding it publishes updates or deletes. So with filters pushed down,
 * tables whose operations (of insert, update, delete) differ are in different
 * publications: the stream's publication holds the tables with the operations of its
 * first table entry; each other set has its own, named <publication>_<operations>
 * (e.g. wal2kafka_shop_insert_update; _truncate for tables publishing only
 * truncate). A publication publishes truncate when one of its tables does; wal2kafka
 * drops the truncates of the others. With filters = connector there is one
 * publication, publishing everything. A publication made for a set of operations no
 * table has any more is emptied but still read: the slot may hold changes from when
 * it had tables, and PostgreSQL decodes them as of then. */
#define W2K_MAX_PUBLICATIONS 9 /* the stream's, and one per set of insert/update/delete */

/* The sets of insert/update/delete (W2K_OP_* bits 0-2), each with a publication name. */
#define W2K_PUBPLAN_ROW_SETS 8

typedef struct w2k_pubset_s {
    int n;
    struct {
        char name[64];
        unsigned ops;     /* W2K_OP_INSERT | W2K_OP_UPDATE | W2K_OP_DELETE of its tables */
        unsigned publish; /* what it publishes: ops, and W2K_OP_TRUNCATE when asked for */
        bool pending;     /* created while the slot held older changes: not used yet */
        bool retired;     /* for a set no table has now: kept empty, still read */
    } pub[W2K_MAX_PUBLICATIONS];
    /* the publications in use, comma-separated: pgoutput's publication_names */
    char names[W2K_MAX_PUBLICATIONS * 65];
    bool in_use; /* set by w2k_catalog_ensure_publication: names stay as they are */
} w2k_pubset_t;

/* The index in ps of the publication of a table publishing ops (W2K_OP_*). */
int w2k_pubplan_pubset_of(const w2k_pubset_t *ps, unsigned ops);

/* ps->names: the publications of ps not pending, comma-separated. */
void w2k_pubplan_names(w2k_pubset_t *ps);

/* The name of the publication of base for tables publishing the row operations ops:
 * base_insert_update, ..., base_truncate (none of them), within 63 bytes, into out. */
void w2k_pubplan_group_name(const char *base, unsigned ops, char out[64]);

/* wal2kafka tags each publication it makes with a comment:
 *   wal2kafka:<hash>[ <oid>:<membership>:<key>]...[ for <publication>]
 *   wal2kafka:pending[ <LSN>] for <publication>
 * <hash> is that of the definition (the tables' clauses and what it publishes), so a
 * changed configuration is seen. Each note names one of its tables: <oid> the table's
 * OID; <membership> the OID of the table's pg_publication_rel row as wal2kafka left it
 * (a table removed and added again, or given another row filter or column list, gets
 * a new one: someone else changed the publication, and PostgreSQL did not send some of
 * the table's changes); <key> (16 hex digits) a hash of the name the table's
 * configuration entry gives it, so a table renamed since is still found by that name
 * (w2k_catalog_renamed_table). " for <publication>" names the stream's publication in
 * the publications of its other sets of operations. A pending publication carries a
 * WAL position after its creation once it is known. Older releases wrote the first form
 * without notes, with notes "<oid>:<key>", or with "<oid>:<membership>" notes
 * separated by commas (one publication per stream, no " for "): all read the same,
 * each note with what it gives. catalog.c parses them (w2k_catalog_parse_tag). */
#define W2K_PUBTAG         "wal2kafka:"
#define W2K_PUBTAG_PENDING W2K_PUBTAG "pending "

typedef struct w2k_pubtag_s {
    const char *owner;     /* NULL: not wal2kafka's; "": a stream's own publication; else
                              the stream's publication it was made for */
    bool pending;          /* created while the slot held older changes */
    w2k_lsn_t pending_lsn; /* UINT64_MAX when not known */
    char hash[17];         /* the definition's hash, "" when there is none */
    const char *notes;     /* the notes, notes_len bytes, for w2k_catalog_tag_note */
    size_t notes_len;
    bool members; /* the notes give memberships */
} w2k_pubtag_t;

/* One table a tag notes. */
typedef struct w2k_pubnote_s {
    uint32_t relid;  /* the table's OID */
    uint32_t member; /* the OID of its pg_publication_rel row, 0 when not noted */
    uint64_t key;    /* the key of its configured name, when has_key */
    bool has_key;
} w2k_pubnote_t;

/* The key under which a publication's comment notes the OID of a table configured as
 * schema.name. */
uint64_t w2k_pubplan_name_key(const char *schema, const char *name);

/* Whether publication name (tag: its parsed comment) is one of the stream's whose
 * publications ps computes: wal2kafka made it for that stream (its own publication,
 * or one tagged for it), or, not made by wal2kafka (an administrator's), it is one of
 * ps. */
bool w2k_pubplan_of_stream(const w2k_pubset_t *ps, const char *name, const w2k_pubtag_t *tag);

/* One table of a publication as the server has it: its OID, and the OID of its
 * membership (its pg_publication_rel row: a table removed and added again, or given
 * another row filter or column list, gets a new one). */
typedef struct w2k_pubmember_s {
    uint32_t relid, member;
} w2k_pubmember_t;

/* A publication as observed. The observer owns comment, notes and m. */
typedef struct w2k_pubstate_s {
    bool exists;
    char *comment;        /* "" for none */
    w2k_pubtag_t tag;     /* comment parsed (points into comment) */
    w2k_pubnote_t *notes; /* the tag's notes, in order */
    int nnotes;
    unsigned ops;       /* W2K_OP_* it publishes */
    w2k_pubmember_t *m; /* its tables, by OID */
    int n;
} w2k_pubstate_t;

/* A table entry of the stream as observed: whether a relation of its name exists, its
 * kind (pg_class.relkind) and OID. */
typedef struct w2k_pubobs_table_s {
    bool found;
    char kind;
    uint32_t relid;
    bool generated; /* it has stored generated columns (read on 18+ only) */
    /* before 13 (no publish_via_partition_root), a partitioned table: its leaf
     * partitions (pg_inherits, recursively), their OIDs and FOR TABLE entries (quoted
     * names); the publication holds them in its place */
    int nleaves;
    const uint32_t *leaf_relids;
    const char *const *leaf_clauses;
} w2k_pubobs_table_t;

/* What the observer read from the server. */
typedef struct w2k_pubobs_s {
    const w2k_pubobs_table_t *tables; /* one per table entry of the stream */
    /* each publication of the set given to the plan, in order */
    const w2k_pubstate_t *pub[W2K_MAX_PUBLICATIONS];
    /* when the set is not in use: the publication of each set of row operations
     * (w2k_pubplan_group_name) the set does not name; NULL for a name it names */
    const w2k_pubstate_t *other[W2K_PUBPLAN_ROW_SETS];
    uint32_t signal_relid; /* the signal table's OID when want->signal is set */
} w2k_pubobs_t;

/* A table entry of the stream as wanted. */
typedef struct w2k_pubwant_table_s {
    const char *clause;    /* its FOR TABLE entry: name, column list, row filter, quoted */
    const char *as_schema; /* the name its configuration entry gives it (a renamed */
    const char *as_name;   /* table's old name), or NULL for its own */
} w2k_pubwant_table_t;

/* The configuration wanted. */
typedef struct w2k_pubwant_s {
    const char *config_path;
    const w2k_stream_cfg_t *st;        /* the stream as configured */
    const w2k_pubwant_table_t *tables; /* one per table entry of st */
    const w2k_pubset_t *ps;            /* its publications, none marked pending unless in use */
    bool resuming;                     /* the stream has run before */
    bool said;                         /* pending publications were announced already */
    /* what the server cannot publish (its capabilities): W2K_OP_TRUNCATE before 11
     * (w2k_pg_caps_t.publish_truncate), else 0. The publications publish the rest; the
     * definition's hash, the comparison with the server and the operations-taken-away
     * check all use what is actually sent. */
    unsigned lacks;
    /* before 14: the signal table's FOR TABLE entry (signals.h), which the stream's
     * publication holds too, not noted in its comment; NULL from 14 */
    const char *signal;
    /* 13+ (w2k_pg_caps_t.publish_via_root): a publication holding a partitioned table
     * publishes its partitions' changes as the table's own (publish_via_partition_root
     * = true), so they reach its topic; before 13 a partitioned table cannot be in a
     * publication: the publication holds its leaf partitions (obs leaves) instead, and
     * the stream maps their changes to the table (w2k_catalog_partition_root) */
    bool via_root;
    /* 18+ (w2k_pg_caps_t.publish_generated): a publication holding a table with stored
     * generated columns sends them (publish_generated_columns = stored) */
    bool generated;
} w2k_pubwant_t;

/* What one step of the plan does. Steps come in this order: DROP_UNUSED, SKIP_TABLE,
 * then one of FAIL, NO_TABLES, CHECK_PENDING (the plan goes on with
 * w2k_pubplan_pending), or: WARN_PENDING, then COMMENT alone, or the statements
 * (SET_TABLES, EMPTY, SET_PUBLISH, CREATE), then RETAG and REPAIR in the same
 * transaction, then WARN_LOST and DONE. */
typedef enum w2k_pubact_kind_e {
    W2K_PUBACT_DROP_UNUSED,   /* drop publication name: pending, for operations no table has */
    W2K_PUBACT_SKIP_TABLE,    /* table entry `table` no longer exists: warn, go on without it */
    W2K_PUBACT_FAIL,          /* stop with the plan's err */
    W2K_PUBACT_NO_TABLES,     /* none of the tables exists: warn, leave the publications */
    W2K_PUBACT_CHECK_PENDING, /* create the missing publications pending; can the slot use them? */
    W2K_PUBACT_WARN_PENDING,  /* the publications named `text` cannot serve the slot yet */
    W2K_PUBACT_COMMENT,       /* best effort, outside a transaction: set comment `text` */
    W2K_PUBACT_SET_TABLES,    /* ALTER PUBLICATION SET `text` (its TABLE list) */
    W2K_PUBACT_EMPTY,         /* drop every table it has */
    W2K_PUBACT_SET_PUBLISH,   /* ALTER PUBLICATION SET (`text`) */
    W2K_PUBACT_CREATE,        /* CREATE PUBLICATION with `text`, its FOR TABLE list or "" */
    W2K_PUBACT_RETAG,         /* after the statements: comment with its memberships then */
    W2K_PUBACT_REPAIR,        /* request a re-read of table entry `table`: it lost changes */
    W2K_PUBACT_WARN_LOST,     /* someone else changed it: say what (the pub's lost) */
    W2K_PUBACT_DONE,          /* log that it was created or updated */
} w2k_pubact_kind_t;

typedef struct w2k_pubaction_s {
    w2k_pubact_kind_t kind;
    int pub;    /* the publication's index in the plan's set, or -1 */
    int table;  /* the table entry's index in the stream's configuration, or -1 */
    char *text; /* as said for the kind, or NULL; owned by the plan */
} w2k_pubaction_t;

/* A table of the stream that exists, as planned. */
typedef struct w2k_pubplan_table_s {
    int entry; /* its index in the stream's configuration */
    uint32_t relid;
    uint64_t key;       /* w2k_pubplan_name_key of its configured name */
    int g;              /* its publication */
    bool lost;          /* PostgreSQL did not send some of its changes */
    bool parted;        /* a partitioned table (relkind 'p') */
    const char *clause; /* its FOR TABLE entry: the configured table's, or a leaf's */
    bool leaf;          /* before 13: a leaf partition of the configured table */
    bool generated;     /* it has stored generated columns */
} w2k_pubplan_table_t;

/* One publication of the set, as planned. */
typedef struct w2k_pubplan_pub_s {
    w2k_buf_t def;             /* "FOR TABLE a, b (x, y) WHERE (...)" */
    int ntables;               /* the tables it is to hold */
    w2k_buf_t publish;         /* "publish = '...'", then the options its tables need:
                                  ", publish_via_partition_root = true" (a partitioned
                                  table, via_root), ", publish_generated_columns = stored"
                                  (stored generated columns, want->generated) */
    w2k_buf_t tag;             /* "wal2kafka:<hash>": its comment starts with it */
    const w2k_pubstate_t *now; /* as observed */
    bool exists;
    bool ours;     /* exists, tagged with this definition's hash */
    bool complete; /* ours, publishing what it should, with exactly its tables */
    bool same;     /* complete, and its comment notes their memberships: nothing to do */
    bool pending;  /* exists, created while the slot held older changes */
    w2k_lsn_t pending_lsn;
    w2k_buf_t lost; /* what someone else changed, when its tables lost changes */
} w2k_pubplan_pub_t;

typedef struct w2k_pubplan_s {
    const w2k_pubwant_t *want;
    w2k_pubset_t ps; /* the set planned for: retired publications added, pending marked */
    w2k_pubplan_table_t *tables;
    int ntables;
    w2k_pubplan_pub_t pub[W2K_MAX_PUBLICATIONS];
    w2k_pubaction_t *act;
    int nact, capact;
    bool missing;  /* a publication other than the stream's is missing or pending */
    w2k_err_t err; /* for W2K_PUBACT_FAIL */
    char why[512]; /* for W2K_PUBACT_WARN_PENDING: why the slot cannot use them */
    bool oom;
    uint32_t signal_relid; /* the signal table's OID, 0 when there is none */
} w2k_pubplan_t;

/* Plan the upkeep of want's publications given what the observer saw (obs, which
 * must outlive the plan, as want does) into plan (caller-allocated, reset here).
 * Returns 0, or -1 when out of memory. The actions are in plan->act; when the last one
 * is W2K_PUBACT_CHECK_PENDING, the caller creates the missing publications pending,
 * calls w2k_pubplan_created with where, and w2k_pubplan_pending with whether the slot
 * can use them. Free with w2k_pubplan_free. */
int w2k_pubplan_make(w2k_pubplan_t *plan, const w2k_pubwant_t *want, const w2k_pubobs_t *obs);

/* The publications the caller created pending (those of plan that did not exist) now
 * exist, pending past created. */
void w2k_pubplan_created(w2k_pubplan_t *plan, w2k_lsn_t created);

/* Whether a slot that confirmed up to confirmed has passed the creation of every
 * pending publication of plan. */
bool w2k_pubplan_confirmed(const w2k_pubplan_t *plan, w2k_lsn_t confirmed);

/* Go on after W2K_PUBACT_CHECK_PENDING: usable says whether the slot can decode what
 * it holds with all the publications, why (when not) why not. Returns 0, or -1 when
 * out of memory. */
int w2k_pubplan_pending(w2k_pubplan_t *plan, bool usable, const char *why);

/* The comment of publication g of plan into b: its tag, a note per table, its owner.
 * With now, each note carries the table's membership in it; without (for a statement
 * to run by hand), the older "<oid>:<key>". */
void w2k_pubplan_comment(const w2k_pubplan_t *plan, int g, const w2k_pubstate_t *now, w2k_buf_t *b);

/* Free what plan holds (not plan itself). Accepts a plan made or failed. */
void w2k_pubplan_free(w2k_pubplan_t *plan);

#endif
