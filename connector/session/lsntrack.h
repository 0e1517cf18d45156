/* lsntrack.h — which LSN may be confirmed to PostgreSQL. Transactions are tracked in
 * commit order with a count of their messages the broker has not acknowledged yet;
 * the confirmable LSN is the end LSN of the newest transaction that, together with
 * every earlier one, is committed and fully acknowledged. Memory grows with the
 * number of transactions in flight, never with their size. Not thread-safe: call it
 * from the thread that serves delivery reports. */
#ifndef W2K_LSNTRACK_H
#define W2K_LSNTRACK_H

#include <stdbool.h>
#include <stdint.h>

#include "pgoutput.h"

typedef struct w2k_lsntrack_s w2k_lsntrack_t;

/* A new tracker whose confirmed LSN is start (the slot's confirmed_flush_lsn, or 0).
 * Returns NULL when out of memory. */
w2k_lsntrack_t *w2k_lsntrack_new(w2k_lsn_t start);
/* Free a tracker; accepts NULL. */
void w2k_lsntrack_destroy(w2k_lsntrack_t *t);

/* Open a transaction (at BEGIN). Returns its sequence number, the handle its messages
 * carry; 0 when out of memory (sequence numbers start at 1). */
uint64_t w2k_lsntrack_begin(w2k_lsntrack_t *t);
/* One more message of transaction seq was handed to the producer. */
void w2k_lsntrack_add(w2k_lsntrack_t *t, uint64_t seq);
/* Transaction seq committed at end_lsn (the LSN just past its commit record), at
 * commit_us (µs since 1970; for lag reporting). */
void w2k_lsntrack_commit(w2k_lsntrack_t *t, uint64_t seq, w2k_lsn_t end_lsn, int64_t commit_us);
/* Forget the open transaction seq without committing it (the stream is restarting). */
void w2k_lsntrack_abort(w2k_lsntrack_t *t, uint64_t seq);
/* The broker answered for one message of transaction seq: ok, or failed for good.
 * Answers for transactions dropped by w2k_lsntrack_reset() are ignored. Returns
 * whether the answer counted (false: it was for a dropped transaction). */
bool w2k_lsntrack_ack(w2k_lsntrack_t *t, uint64_t seq, bool ok);

/* Advance past every leading transaction that is committed and fully acknowledged,
 * and return the LSN that may be confirmed. Never goes backwards. */
w2k_lsn_t w2k_lsntrack_confirmed(w2k_lsntrack_t *t);
/* The commit time of the newest confirmed transaction (0 before the first). */
int64_t w2k_lsntrack_confirmed_time(const w2k_lsntrack_t *t);
/* When nothing is open or in flight, move the confirmed LSN up to lsn (the server's
 * position from a keepalive), so an idle stream does not hold WAL back. */
void w2k_lsntrack_follow(w2k_lsntrack_t *t, w2k_lsn_t lsn);
/* True when no transaction is open or unacknowledged. */
bool w2k_lsntrack_idle(const w2k_lsntrack_t *t);
/* Messages handed to the producer and not yet answered. */
uint64_t w2k_lsntrack_inflight(const w2k_lsntrack_t *t);
/* True once any delivery failed for good: the stream must restart from the slot. */
bool w2k_lsntrack_failed(const w2k_lsntrack_t *t);
/* Drop every tracked transaction (after a restart from the slot) and clear the
 * failure; the confirmed LSN first advances past the leading transactions that are
 * committed and fully acknowledged, then stays. Late answers for dropped ones are
 * ignored. */
void w2k_lsntrack_reset(w2k_lsntrack_t *t);

#endif
