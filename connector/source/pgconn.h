/* pgconn.h — PostgreSQL connections: opening them (regular or replication) with the
 * session settings wal2kafka relies on, turning server errors into messages with a
 * fix, and the streaming replication protocol (CopyBoth frames, status updates). */
#ifndef W2K_PGCONN_H
#define W2K_PGCONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "pgoutput.h"

/* What the server's major version gives wal2kafka, from server_version_num (which
 * PostgreSQL reports once, when the connection starts). Each catalog query and
 * replication option that differs between versions chooses its form from these. */
typedef struct w2k_pg_caps_s {
    int version_num;          /* server_version_num, e.g. 120022; 0 when unknown */
    bool publish_truncate;    /* 11+: publish = 'truncate' */
    bool generated_columns;   /* 12+: pg_attribute.attgenerated */
    bool slot_wal_status;     /* 13+: wal_status, safe_wal_size, max_slot_wal_keep_size */
    bool publish_via_root;    /* 13+: publish_via_partition_root */
    bool logical_messages;    /* 14+: pgoutput's messages option */
    bool streaming_v2;        /* 14+: pgoutput proto 2, in-progress transactions */
    bool slot_stats;          /* 14+: pg_stat_replication_slots */
    bool publication_filters; /* 15+: row filters, column lists, pt.attnames/rowfilter */
    bool failover_slots;      /* 17+: slots kept across a promotion */
    bool publish_generated;   /* 18+: publish_generated_columns */
} w2k_pg_caps_t;

/* The capabilities of server_version_num version_num (pure). */
void w2k_pg_caps_of(int version_num, w2k_pg_caps_t *out);

/* The capabilities of the server behind connection c (no query: libpq keeps the
 * version the server reported at connection start). */
void w2k_pg_caps(PGconn *c, w2k_pg_caps_t *out);

/* server_version_num as people write it ("12.22", "9.6.24") into buf (at least 16
 * bytes); returns buf. */
const char *w2k_pg_version_str(int version_num, char *buf);

/* Set err for a feature the server's version lacks: "PostgreSQL V has no FEATURE
 * (needs MIN or newer)", with hint what_to_do. */
void w2k_pg_set_unsupported(w2k_err_t *err, int version_num, const char *feature, int min_major,
                            const char *what_to_do);

/* Open a connection from a libpq conninfo (keywords or URI). password_file, when not
 * NULL, names a file whose first line is the password; otherwise libpq's own sources
 * apply (PGPASSWORD, ~/.pgpass). replication = true opens a logical replication
 * connection (replication=database). The session runs with DateStyle=ISO,
 * TimeZone=UTC, IntervalStyle=iso_8601, extra_float_digits=3, bytea_output=hex.
 * Unless the conninfo sets them, TCP keepalives probe an idle connection after 30 s,
 * so a peer that vanished without a reset is noticed within about a minute even in
 * a blocking call.
 * Returns the connection, or NULL with err saying why and what to do. */
PGconn *w2k_pg_connect(const char *conninfo, const char *password_file, bool replication,
                       w2k_err_t *err);

/* A connection attempt that does not block, to learn whether a server that did not
 * answer answers again: w2k_pg_probe_start() begins it (NULL when it cannot even
 * start), w2k_pg_probe_poll() advances it without waiting and returns 1 once the
 * server accepted the connection, -1 when the attempt failed, 0 while it goes on;
 * w2k_pg_probe_free() closes it. */
typedef struct w2k_pg_probe_s w2k_pg_probe_t;
w2k_pg_probe_t *w2k_pg_probe_start(const char *conninfo, const char *password_file);
int w2k_pg_probe_poll(w2k_pg_probe_t *p);
void w2k_pg_probe_free(w2k_pg_probe_t *p);

/* Set err from a failed command: what was attempted, PostgreSQL's message, and a hint
 * chosen by SQLSTATE. res may be NULL (then the connection's message is used). */
void w2k_pg_set_error(w2k_err_t *err, PGconn *conn, const PGresult *res, const char *what);

/* Run a query with text parameters; returns the result when its status is
 * PGRES_TUPLES_OK or PGRES_COMMAND_OK, else NULL with err set (what names the action). */
PGresult *w2k_pg_query(PGconn *conn, w2k_err_t *err, const char *what, const char *sql, int nparams,
                       const char *const *params);

/* w2k_pg_query() that waits at most timeout_ms for the answer (0 = no limit), for
 * connections that may have gone silent without a reset (a network partition). On
 * timeout err says so and is retryable; the connection is then unusable and must be
 * closed. */
PGresult *w2k_pg_query_within(PGconn *conn, int timeout_ms, w2k_err_t *err, const char *what,
                              const char *sql, int nparams, const char *const *params);

/* Format an LSN as PostgreSQL does (X/X) into buf (at least 20 bytes); returns buf. */
const char *w2k_lsn_str(w2k_lsn_t lsn, char *buf);
/* Parse an LSN in X/X form; returns 0, or -1 when malformed. */
int w2k_lsn_parse(const char *s, w2k_lsn_t *out);

/* Result of IDENTIFY_SYSTEM. */
typedef struct w2k_pg_ident_s {
    char systemid[32];
    uint32_t timeline;
    w2k_lsn_t xlogpos;
    char dbname[128];
} w2k_pg_ident_t;

/* IDENTIFY_SYSTEM on a replication connection. Returns 0, or -1 with err. */
int w2k_pg_identify(PGconn *repl, w2k_pg_ident_t *out, w2k_err_t *err);

/* START_REPLICATION of a pgoutput slot (proto_version 1, the given publications as a
 * comma-separated list of names, messages on from PostgreSQL 14: older pgoutput has
 * no such option and sends no logical messages) from start (0 = the slot's
 * confirmed_flush_lsn). Returns 0 once the server streams, or -1 with err. */
int w2k_pg_start_replication(PGconn *repl, const char *slot, const char *publications,
                             w2k_lsn_t start, w2k_err_t *err);
/* The same; streaming: proto_version '2' with streaming 'on' (14+), so the server sends
 * a big transaction in blocks while in progress instead of spilling it to disk, with
 * the session's logical_decoding_work_mem lowered to 8MB when the server uses the
 * built-in default (smaller blocks: less left to send after the commit). */
int w2k_pg_start_replication_v2(PGconn *repl, const char *slot, const char *publications,
                                w2k_lsn_t start, bool streaming, w2k_err_t *err);

/* One frame of the replication stream. */
typedef struct w2k_pgframe_s {
    char type;            /* 'w' XLogData, 'k' primary keepalive */
    w2k_lsn_t wal_start;  /* 'w': the LSN of this data */
    w2k_lsn_t wal_end;    /* 'w': the server's WAL end; 'k': the position sent so far */
    bool reply_requested; /* 'k': the server asks for a status update now */
    const char *data;     /* 'w': the pgoutput message */
    size_t len;
} w2k_pgframe_t;

/* Read the next frame without blocking. *buf receives libpq's buffer, which the
 * caller frees with PQfreemem() after using the frame (and before the next call).
 * Returns 1 with a frame, 0 when none is available yet, -1 when the stream ended
 * or failed (err says why; err->retryable when reconnecting may help). */
int w2k_pg_read_frame(PGconn *repl, char **buf, w2k_pgframe_t *frame, w2k_err_t *err);
/* Whether nothing arrives on the connection within wait_ms (w2k_pg_read_frame returned 0:
 * everything received was read): true when the server stays silent that long. */
bool w2k_pg_quiet(PGconn *conn, int wait_ms);

/* Send a standby status update: written, flushed (= confirmed) and applied LSNs;
 * reply = true asks the server to answer at once (with a keepalive), which proves the
 * connection alive. Returns 0, or -1 with err. */
int w2k_pg_send_status(PGconn *repl, w2k_lsn_t written, w2k_lsn_t flushed, bool reply,
                       w2k_err_t *err);

/* What a replication session last told its server, so that it can be told again while
 * the process is blocked elsewhere (waiting for the broker) and its stream does not
 * run: the walsender then does not time the session out. The stream owns it and
 * writes it (w2k_pg_keepalive_sent); the main loop serves it. */
typedef struct w2k_pg_keepalive_s {
    PGconn *conn; /* the replication connection while streaming, else NULL */
    w2k_lsn_t written, flushed;
    int64_t due_ms; /* monotonic ms: when to say it again */
    int interval_ms;
} w2k_pg_keepalive_t;

/* Note a status update just sent on conn (NULL: the session ended). */
void w2k_pg_keepalive_sent(w2k_pg_keepalive_t *k, PGconn *conn, w2k_lsn_t written,
                           w2k_lsn_t flushed, int interval_ms);
/* Send the last status update again when it is due. A failure is left for the stream
 * to meet at its next read of the connection. */
void w2k_pg_keepalive_serve(w2k_pg_keepalive_t *k);

#endif
