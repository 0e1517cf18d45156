/* standby.h — decoding on a physical standby (PostgreSQL 16+, postgresql.decoding_conninfo):
 * the decoding server checked, waited for until it replayed the primary's changes, and
 * a slot created there while the primary logs its running transactions. */
#ifndef W2K_STANDBY_H
#define W2K_STANDBY_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "err.h"
#include "pgoutput.h"

/* What w2k_standby_check found out about the decoding server. */
typedef struct w2k_standby_info_s {
    int version_num;
    bool in_recovery;      /* a standby; false once promoted */
    bool feedback;         /* hot_standby_feedback = on */
    char primary_slot[64]; /* primary_slot_name, or "" */
    bool slot_exists;      /* the stream's slot is on it */
} w2k_standby_info_t;

/* Check dec (a regular connection to the decoding server) can hold and stream slot
 * slot of stream stream: PostgreSQL 16+, wal_level = logical, a standby in recovery
 * (or, once promoted, a server that already holds the slot: decoding goes on there,
 * with a warning). hot_standby_feedback off is warned about (catalog rows the slot
 * needs may be removed on the primary and the slot invalidated). Both warnings are
 * logged only with log_warnings. out (may be NULL)
 * receives what was found. Returns 0, or -1 with err (cause and hint). */
int w2k_standby_check(PGconn *dec, const char *stream, const char *slot, bool log_warnings,
                      w2k_standby_info_t *out, w2k_err_t *err);

/* Wait until dec has replayed the primary's WAL up to the primary's current position
 * (what was just written there, e.g. a publication, is then visible on dec), at most
 * timeout_ms. A server not in recovery needs no wait. Returns 0, or -1 with err
 * (retryable on timeout). */
int w2k_standby_wait_replayed(PGconn *primary, PGconn *dec, int timeout_ms, w2k_err_t *err);

/* Create pgoutput slot slot on the standby behind replication connection repl (exporting
 * its snapshot into snapshot_name, at least 64 bytes, when not NULL). PostgreSQL waits
 * for a record of the primary's running transactions before the slot is consistent:
 * meanwhile pg_log_standby_snapshot() is called on primary every half second, so the
 * creation does not wait for the primary's next one (up to 15 s, or for ever on an idle
 * primary). temporary: a slot that goes with the connection. At most timeout_ms. *consistent_point
 * receives the LSN the slot streams from. Returns 0, or -1 with err. */
int w2k_standby_create_slot(PGconn *repl, PGconn *primary, const char *slot,
                            w2k_lsn_t *consistent_point, char *snapshot_name, bool temporary,
                            int timeout_ms, w2k_err_t *err);

#endif
