/* signals.h — the channel of wal2kafka's own messages in the WAL (re-snapshot
 * watermarks, snapshot requests, DDL events): logical messages from PostgreSQL 14, whose
 * pgoutput sends them; before, rows inserted into a signal table wal2kafka owns and
 * publishes, which the stream turns back into the same messages. */
#ifndef W2K_SIGNALS_H
#define W2K_SIGNALS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "pgoutput.h"

/* The signal table: wal2kafka.signal (id, prefix, content, transactional), in the
 * schema of the DDL trigger. Its rows never reach a topic. */
#define W2K_SIGNAL_SCHEMA "wal2kafka"
#define W2K_SIGNAL_TABLE  "signal"

/* Whether a server of server_version_num version_num carries wal2kafka's messages in
 * the signal table (before 14: pgoutput has no messages option). */
bool w2k_signals_uses_table(int version_num);

/* The statement that writes one message on connection c, with $1 the prefix and $2
 * the content (transactional): pg_logical_emit_message from 14, an INSERT into the
 * signal table before. */
const char *w2k_signals_emit_sql(PGconn *c);

/* Before 14: create the signal table when missing (anyone may insert into it) and
 * delete the rows of earlier sessions (the WAL holds them: deleting loses nothing), and
 * set *relid to its OID. From 14: nothing, *relid = 0. Returns 0, or -1 with err. */
int w2k_signals_ensure(PGconn *c, uint32_t *relid, w2k_err_t *err);

/* Whether a Relation message names the signal table. */
bool w2k_signals_is_table(const char *nspname, const char *relname);

/* Turn m, an Insert into the signal table (columns id, prefix, content,
 * transactional), into the Message pgoutput sends on 14+ (in place); the prefix is
 * copied into prefix (size n). Returns 0, or -1 when the row is not one (m unchanged).
 * Pure. */
int w2k_signals_message(w2k_pgmsg_t *m, char *prefix, size_t n);

#endif
