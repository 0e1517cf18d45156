/* stream.h — one stream's session: a replication slot and its publications read
 * through pgoutput, each change turned into messages (change.c) and produced to its
 * table's topic, and the slot confirmed as far as the broker has acknowledged.
 * Single-threaded: the main loop (runner.c) calls it; nothing else calls into it. */
#ifndef W2K_STREAM_H
#define W2K_STREAM_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "err.h"
#include "metrics.h"
#include "pgconn.h"
#include "registry.h"
#include "sink.h"

typedef struct w2k_stream_s w2k_stream_t;

/* A stream for configuration scfg that produces through sink; with reg, messages use
 * the Confluent framing and schemas are registered there; metrics (may be NULL)
 * receives its counters. Nothing is connected yet. Returns NULL with err on failure. */
w2k_stream_t *w2k_stream_new(const w2k_config_t *cfg, const w2k_stream_cfg_t *scfg,
                             w2k_sink_t *sink, w2k_registry_t *reg, w2k_metrics_t *metrics,
                             w2k_err_t *err);
/* The stream's metrics handle (NULL without metrics). */
w2k_metrics_stream_t *w2k_stream_metrics(const w2k_stream_t *st);
/* Close the connections and free; accepts NULL. */
void w2k_stream_destroy(w2k_stream_t *st);
/* Stop the stream and produce through sink from now on (the previous producer failed
 * fatally). Returns 0, or -1 with err. */
int w2k_stream_attach(w2k_stream_t *st, w2k_sink_t *sink, w2k_err_t *err);
/* The stream's name. */
const char *w2k_stream_name(const w2k_stream_t *st);

/* Connect to PostgreSQL, check the server, make the publication and the slot ready,
 * and start streaming from the last confirmed position. Returns 0, or -1 with err
 * (err->retryable when trying again later may succeed). */
int w2k_stream_start(w2k_stream_t *st, w2k_err_t *err);
/* Close the replication connection and forget everything not yet confirmed, ready
 * for w2k_stream_start() to resume from the slot. */
void w2k_stream_stop(w2k_stream_t *st);

/* The socket to wait on while streaming, or -1. */
int w2k_stream_fd(const w2k_stream_t *st);
/* Take the broker's answers for the stream's messages that the sink queued (after
 * w2k_sink_poll()) and count them: the one place acknowledgements reach the stream,
 * always between frames, never while a change is being produced. */
void w2k_stream_serve_acks(w2k_stream_t *st);
/* The stream's last status update, for the main loop to repeat while the process is
 * blocked waiting for the broker (w2k_pg_keepalive_serve). Valid as long as the stream. */
w2k_pg_keepalive_t *w2k_stream_keepalive(w2k_stream_t *st);
/* True while the stream is streaming, below its in-flight limit, and the producer
 * took every message it was given. */
bool w2k_stream_wants_read(const w2k_stream_t *st);
/* Read and handle the frames available now (a bounded batch) and send a status
 * update when one is due. Returns 0, or -1 with err. */
int w2k_stream_step(w2k_stream_t *st, w2k_err_t *err);
/* Send a status update if one is due or force is set. Returns 0, or -1 with err. */
int w2k_stream_tick(w2k_stream_t *st, bool force, w2k_err_t *err);
/* On stop: commit what can be committed (exactly-once: the open Kafka transaction
 * when it ends at a PostgreSQL commit) and send the final status update. Returns 0, or
 * -1 with err. */
int w2k_stream_finish(w2k_stream_t *st, w2k_err_t *err);
/* Milliseconds until the next status update is due. */
int w2k_stream_timeout_ms(const w2k_stream_t *st);
/* True when the stream has nothing more to do (snapshot = initial_only, done). */
bool w2k_stream_finished(const w2k_stream_t *st);
/* Messages produced and not yet acknowledged (as of the last w2k_stream_serve_acks). */
uint64_t w2k_stream_inflight(const w2k_stream_t *st);
/* True once a delivery failed for good; err receives the failure. */
bool w2k_stream_delivery_failed(const w2k_stream_t *st, w2k_err_t *err);

#endif
