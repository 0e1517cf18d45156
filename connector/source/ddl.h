/* ddl.h — DDL capture: an event trigger (installed and removed by `wal2kafka ddl`)
 * that writes a transactional logical message for each CREATE, ALTER and DROP of a
 * table, so a stream announces schema changes in order even when no row follows. */
#ifndef W2K_DDL_H
#define W2K_DDL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "err.h"
#include "relcache.h"

/* Prefix of the logical messages the trigger writes. */
#define W2K_DDL_PREFIX "wal2kafka.ddl"

/* Install (or replace) the trigger in the connected database. Needs superuser.
 * Returns 0, or -1 with err. */
int w2k_ddl_install(PGconn *c, w2k_err_t *err);
/* Remove it (nothing to do when it is not there). Returns 0, or -1 with err. */
int w2k_ddl_remove(PGconn *c, w2k_err_t *err);

/* One captured statement. Pointers point into the buffer given to w2k_ddl_parse. */
typedef struct w2k_ddl_event_s {
    const char *command; /* "CREATE TABLE", "ALTER TABLE", "DROP TABLE", ... */
    const char *schema;
    const char *name;
    uint32_t relid;
    char replident;      /* the table's replica identity after the statement (d, n, f,
                            i), or 0 when the message carries no columns */
    const char *columns; /* the columns after the statement (see w2k_ddl_relation), or
                            NULL: a DROP, or a trigger installed by an older release */
    const char *query;   /* the statement as the client sent it */
} w2k_ddl_event_t;

/* Parse a message written by the trigger, of this release or an older one (len bytes
 * at content), into ev, using buf (at least len + 1 bytes) for the strings. Returns 0,
 * or -1 when malformed. */
int w2k_ddl_parse(const char *content, size_t len, char *buf, w2k_ddl_event_t *ev);

/* The table as the statement left it, read from the message: relid, names, replica
 * identity and columns (name, type OID, typmod; types not resolved yet: see
 * w2k_catalog_describe), with keyflags[i] (room for W2K_PG_MAX_COLUMNS) set to 1 for
 * the key columns and 0 for the others. Returns a new relation the caller owns, or
 * NULL when ev carries no columns, they are malformed, or memory ran out. */
w2k_relation_t *w2k_ddl_relation(const w2k_ddl_event_t *ev, uint8_t *keyflags);

#endif
