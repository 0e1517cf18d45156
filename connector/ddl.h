/* ddl.h — DDL capture: an event trigger (installed and removed by `wal2kafka ddl`)
 * that writes a transactional logical message for each CREATE, ALTER and DROP of a
 * table, so a stream announces schema changes in order even when no row follows. */
#ifndef W2K_DDL_H
#define W2K_DDL_H

#include <libpq-fe.h>
#include <stdint.h>

#include "err.h"

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
    const char *query; /* the statement as the client sent it */
} w2k_ddl_event_t;

/* Parse a message written by the trigger (len bytes at content) into ev, using buf
 * (at least len + 1 bytes) for the strings. Returns 0, or -1 when malformed. */
int w2k_ddl_parse(const char *content, size_t len, char *buf, w2k_ddl_event_t *ev);

#endif
