/* eos.h — exactly-once delivery for one stream: Kafka transactions that end at
 * PostgreSQL commits and carry the stream's record (<prefix>.state) naming the last
 * PostgreSQL transaction they hold; after a restart, the transactions at or below it
 * are skipped, so a read_committed consumer sees each change once. Fencing mode (hot
 * standby instances in at-least-once mode): the same Kafka transactions, so a newer
 * instance's producer fences an older one's, without the record. Off: every call is a
 * no-op. Single-threaded: call it from the main loop. */
#ifndef W2K_EOS_H
#define W2K_EOS_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "pgoutput.h"
#include "sink.h"
#include "state.h"

typedef struct w2k_eos_s w2k_eos_t;

/* How a stream uses Kafka transactions. */
typedef enum w2k_eos_mode_e {
    W2K_EOS_OFF,         /* at-least-once: no transactions */
    W2K_EOS_FENCE,       /* at-least-once with transactions, only to fence older producers */
    W2K_EOS_EXACTLY_ONCE /* transactions carrying the stream's record */
} w2k_eos_mode_t;

/* The exactly-once state of stream (its record in state_topic, which the stream owns
 * and both read: *state must outlive it). Kafka transactions (mode FENCE or
 * EXACTLY_ONCE) are committed at the first PostgreSQL commit after commit_interval_ms.
 * Returns NULL when out of memory. */
w2k_eos_t *w2k_eos_new(w2k_eos_mode_t mode, int commit_interval_ms, const char *state_topic,
                       const char *stream, w2k_stream_state_t *state);
/* Free; accepts NULL. Call w2k_eos_stop() first when a transaction may be open. */
void w2k_eos_destroy(w2k_eos_t *e);
/* Produce through sink from now on (a new producer: transactions are initialised
 * again before the first one). */
void w2k_eos_attach(w2k_eos_t *e, w2k_sink_t *sink);

/* After the stream's record was read at start: skip PostgreSQL transactions that end
 * at or below the LSN it names (exactly-once only). */
void w2k_eos_resume(w2k_eos_t *e);
/* Initialize the transactional producer now, if it is not yet (fencing any other
 * producer of the same transactional id). Returns 0, or -1 with err. */
int w2k_eos_fence(w2k_eos_t *e, w2k_err_t *err);
/* Before producing: make sure a Kafka transaction is open. Returns 0, or -1 with err. */
int w2k_eos_ensure(w2k_eos_t *e, w2k_err_t *err);
/* True while a Kafka transaction is open. */
bool w2k_eos_open(const w2k_eos_t *e);
/* A PostgreSQL transaction begins, its commit record at final_lsn. Returns true when
 * its messages were committed to Kafka before a restart: skip them. */
bool w2k_eos_begin(w2k_eos_t *e, w2k_lsn_t final_lsn);
/* The PostgreSQL transaction ends at end_lsn. Returns true when it was produced into
 * the open Kafka transaction and the commit interval has passed: commit now. */
bool w2k_eos_end(w2k_eos_t *e, w2k_lsn_t end_lsn);
/* True when a Kafka transaction is open for longer than the commit interval at
 * monotonic time now_ms. */
bool w2k_eos_due(const w2k_eos_t *e, int64_t now_ms);
/* n streamed PostgreSQL transactions (pgoutput's streaming) are in progress: while n
 * > 0 the open Kafka transaction holds their changes and is neither due nor committed
 * (transactions committing meanwhile go into it too). */
void w2k_eos_streams(w2k_eos_t *e, size_t n);
/* True when a PostgreSQL transaction committing at commit_lsn was committed to Kafka
 * before a restart (exactly-once; known only at the commit of a streamed one). */
bool w2k_eos_committed(const w2k_eos_t *e, w2k_lsn_t commit_lsn);
/* How long the open Kafka transaction has been open at monotonic now_ms (0: none). */
int64_t w2k_eos_age_ms(const w2k_eos_t *e, int64_t now_ms);
/* Commit the open Kafka transaction together with the stream's record naming the last
 * PostgreSQL transaction in it (call only between PostgreSQL transactions, with every
 * message of it handed to the producer). Returns 0, or -1 with err. */
int w2k_eos_commit(w2k_eos_t *e, w2k_err_t *err);
/* The LSN that may be confirmed to PostgreSQL, of acked (every message up to it
 * acknowledged): never past what was committed to Kafka. in_txn: a PostgreSQL
 * transaction is open. */
w2k_lsn_t w2k_eos_confirmable(w2k_eos_t *e, w2k_lsn_t acked, bool in_txn);
/* The stream stops: abort the open Kafka transaction; what was committed is skipped
 * when the slot sends it again. */
void w2k_eos_stop(w2k_eos_t *e);

#endif
