/* metrics.h — Prometheus metrics and health over HTTP (libmicrohttpd): GET /metrics in
 * the Prometheus text format 0.0.4, GET /health (200 "ok" only while every stream
 * streams). The main loop updates values with relaxed atomic operations (no lock, no
 * allocation); libmicrohttpd's own thread reads them when a scraper asks. Every metric
 * is listed in docs/metrics.md. */
#ifndef W2K_METRICS_H
#define W2K_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

typedef struct w2k_metrics_s w2k_metrics_t;
typedef struct w2k_metrics_stream_s w2k_metrics_stream_t; /* one stream */
typedef struct w2k_metrics_table_s w2k_metrics_table_t;   /* one table of one stream */

/* What a stream is doing; /health is 200 only while every stream is STREAMING or
 * STANDBY. */
typedef enum w2k_metrics_state_e {
    W2K_STREAM_STARTING,     /* connecting, preflight, creating topics */
    W2K_STREAM_SNAPSHOT,     /* reading the initial snapshot */
    W2K_STREAM_STREAMING,    /* reading the slot */
    W2K_STREAM_RECONNECTING, /* lost PostgreSQL or Kafka, backing off to retry */
    W2K_STREAM_STOPPED,      /* stopped on request */
    W2K_STREAM_FAILED,       /* gave up: an error that retrying cannot heal */
    W2K_STREAM_STANDBY       /* standby.enabled: another session holds the slot; waiting */
} w2k_metrics_state_t;
#define W2K_STREAM_STATE_COUNT 7

/* The kinds of error counted by wal2kafka_errors_total{kind}. */
typedef enum w2k_metrics_errkind_e {
    W2K_ERRKIND_POSTGRES, /* connection, replication protocol, SQL */
    W2K_ERRKIND_KAFKA,    /* delivery failures, producer and admin errors */
    W2K_ERRKIND_DECODE,   /* pgoutput messages that could not be decoded */
    W2K_ERRKIND_ENCODE,   /* rows that could not be encoded as Avro */
    W2K_ERRKIND_REGISTRY  /* schema registry refusals and outages */
} w2k_metrics_errkind_t;
#define W2K_ERRKIND_COUNT 5

/* Create the metrics and, when listen is not NULL, serve them on listen: "HOST:PORT"
 * or "[IPv6]:PORT", e.g. "127.0.0.1:9187", or "PORT" / ":PORT" for loopback
 * (127.0.0.1); port 0 picks a free port (see w2k_metrics_port). Slow, malformed or
 * oversized requests and many connections are bounded (connection limit, idle timeout,
 * per-connection memory) and never touch the caller's thread. Only that address is bound. With
 * listen NULL nothing is served but every function works (values are kept; w2k_metrics_render still
 * renders them). Returns NULL with err (W2K_EXIT_CONFIG) when listen does not parse or cannot be
 * bound (port in use, address not local), or out of memory. Call from the main thread. */
w2k_metrics_t *w2k_metrics_start(const char *listen, w2k_err_t *err);

/* How the endpoint is served (w2k_metrics_start_opts). Every pointer may be NULL. */
typedef struct w2k_metrics_opts_s {
    const char *listen;        /* as for w2k_metrics_start; NULL: not served */
    const char *tls_cert_file; /* PEM certificate (chain): serve https (with tls_key_file) */
    const char *tls_key_file;  /* PEM private key of tls_cert_file */
    const char *username;      /* HTTP basic auth on every path when set ... */
    const char *password;      /* ... with this password (copied, wiped at stop) */
} w2k_metrics_opts_t;

/* As w2k_metrics_start, with TLS and basic auth as o says. A request without the right
 * credentials gets 401 (and a WWW-Authenticate challenge); no credential ever shows in a
 * log line or a reply. Returns NULL with err (W2K_EXIT_CONFIG) when a TLS file cannot be
 * read or is refused, or when username is set without a password. */
w2k_metrics_t *w2k_metrics_start_opts(const w2k_metrics_opts_t *o, w2k_err_t *err);

/* Stop serving (waits for a scrape in progress) and free everything, streams and tables
 * included. Accepts NULL. */
void w2k_metrics_stop(w2k_metrics_t *m);

/* The TCP port served, or 0 when not serving. */
int w2k_metrics_port(const w2k_metrics_t *m);

/* The stream named stream, created on first use (later calls return the same handle).
 * Valid until w2k_metrics_stop. Returns NULL when m is NULL or out of memory; every
 * update function accepts NULL handles and then does nothing. Not for the hot path
 * (takes a lock, allocates once). */
w2k_metrics_stream_t *w2k_metrics_stream(w2k_metrics_t *m, const char *stream);

/* The table schema.table of a stream, created on first use, as for w2k_metrics_stream. */
w2k_metrics_table_t *w2k_metrics_table(w2k_metrics_stream_t *s, const char *schema,
                                       const char *table);

/* Hot path, lock-free, any thread: count one change of the table with its operation
 * ('c' insert, 'u' update, 'd' delete, 't' truncate, 'r' snapshot read; others are
 * ignored) and the bytes sent to Kafka for it (key + value). */
void w2k_metrics_change(w2k_metrics_table_t *t, char op, size_t bytes);

/* Snapshot progress of the table: rows read so far and rows expected (an estimate such
 * as pg_class.reltuples; 0 when unknown). */
void w2k_metrics_snapshot_progress(w2k_metrics_table_t *t, uint64_t rows_read,
                                   uint64_t rows_expected);

/* The last change the broker acknowledged (everything up to lsn is delivered) and the
 * commit time of its transaction, in microseconds since 1970 (0 keeps the previous
 * one, e.g. when the confirmed LSN follows the server's WAL end on an idle stream). */
void w2k_metrics_acked(w2k_metrics_stream_t *s, uint64_t lsn, int64_t commit_us);

/* The server's WAL end as last reported (keepalive or XLogData), for the lag in bytes. */
void w2k_metrics_server_lsn(w2k_metrics_stream_t *s, uint64_t lsn);

/* Messages produced to Kafka and not yet acknowledged. */
void w2k_metrics_in_flight(w2k_metrics_stream_t *s, int64_t messages);

/* Reading from PostgreSQL paused (true) because delivery.max_in_flight messages await
 * the broker's answer, or resumed (false): wal2kafka_reading_paused and the time spent
 * paused, wal2kafka_reading_paused_seconds_total. */
void w2k_metrics_paused(w2k_metrics_stream_t *s, bool paused);

/* Count a reconnect (to PostgreSQL or Kafka) after a failure. */
void w2k_metrics_reconnect(w2k_metrics_stream_t *s);

/* Count an error of kind. */
void w2k_metrics_error(w2k_metrics_stream_t *s, w2k_metrics_errkind_t kind);

/* Set the stream's state; reason (may be NULL) says why it is not streaming and shows in
 * /health, e.g. "PostgreSQL: connection refused". Takes a lock: call on state changes,
 * not per message. */
void w2k_metrics_state(w2k_metrics_stream_t *s, w2k_metrics_state_t state, const char *reason);

/* The name of a state ("streaming", ...) / error kind ("postgres", ...). */
const char *w2k_metrics_state_name(w2k_metrics_state_t state);
const char *w2k_metrics_errkind_name(w2k_metrics_errkind_t kind);

/* Append the /metrics page to out (Prometheus text format 0.0.4), as of now_us
 * (microseconds since 1970; 0 = the current time). Returns 0, or -1 out of memory. Any
 * thread. */
int w2k_metrics_render(w2k_metrics_t *m, int64_t now_us, w2k_buf_t *out);

/* Append the /health text to out: "ok\n" when there is at least one stream and every
 * stream streams; "standby\n" and a line per standby stream when every stream streams
 * or waits as a standby (healthy too: it takes over when the active instance goes);
 * else one line per stream that does neither, with its state and reason. Returns 1
 * when healthy, 0 when not. Any thread. */
int w2k_metrics_health(w2k_metrics_t *m, w2k_buf_t *out);

/* What the HTTP endpoint answers a request, without a socket (on_request serves it; a hook
 * for tests and fuzzing): method and url as the request line gives them, user and password
 * as its basic-auth credentials decode (NULL when it sends none). Appends the body to out,
 * sets *content_type and returns the HTTP status: 401 when basic auth is configured and the
 * credentials differ (the server adds the challenge), 405 for a method other than GET or
 * HEAD, 200 with /metrics, 200 or 503 with /health, else 404. Any thread. */
unsigned w2k_metrics_answer(w2k_metrics_t *m, const char *method, const char *url, const char *user,
                            const char *password, w2k_buf_t *out, const char **content_type);

/* Append s to out as a Prometheus label value (without the quotes): backslash, double
 * quote and line feed escaped as \\, \" and \n. */
void w2k_metrics_escape_label(w2k_buf_t *out, const char *s);

#endif
