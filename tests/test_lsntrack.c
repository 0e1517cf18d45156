/* test_lsntrack.c — the confirmable LSN never passes an unacknowledged message. */
#include "lsntrack.h"
#include "unit.h"

#include <stdlib.h>

/* Begin a transaction of n messages (none acknowledged) committed at lsn, commit time
 * us: returns its id. */
static uint64_t txn(w2k_lsntrack_t *t, int n, w2k_lsn_t lsn, int64_t us)
{
    uint64_t id = w2k_lsntrack_begin(t);
    for (int i = 0; i < n; i++)
        w2k_lsntrack_add(t, id);
    w2k_lsntrack_commit(t, id, lsn, us);
    return id;
}

static void in_order_acks(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(100);
    CHECK_INT(w2k_lsntrack_confirmed(t), 100);
    uint64_t a = txn(t, 2, 200, 1700000000000000);
    CHECK_INT(w2k_lsntrack_confirmed(t), 100); /* nothing acked yet */
    w2k_lsntrack_ack(t, a, true);
    CHECK_INT(w2k_lsntrack_confirmed(t), 100); /* one of two acked */
    w2k_lsntrack_ack(t, a, true);
    CHECK_INT(w2k_lsntrack_confirmed(t), 200);
    CHECK_INT(w2k_lsntrack_confirmed_time(t), 1700000000000000);
    CHECK(w2k_lsntrack_idle(t));
    CHECK_INT(w2k_lsntrack_inflight(t), 0);
    w2k_lsntrack_destroy(t);
}

static void out_of_order_acks(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(0);
    uint64_t a = txn(t, 1, 10, 0);
    uint64_t b = txn(t, 1, 20, 0);
    uint64_t c = txn(t, 1, 30, 0);
    /* the newest transaction is acknowledged first: nothing may be confirmed */
    w2k_lsntrack_ack(t, c, true);
    CHECK_INT(w2k_lsntrack_confirmed(t), 0);
    w2k_lsntrack_ack(t, b, true);
    CHECK_INT(w2k_lsntrack_confirmed(t), 0);
    w2k_lsntrack_ack(t, a, true);
    CHECK_INT(w2k_lsntrack_confirmed(t), 30);
    w2k_lsntrack_destroy(t);
}

static void open_transaction_blocks(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(0);
    uint64_t a = w2k_lsntrack_begin(t);
    w2k_lsntrack_add(t, a);
    w2k_lsntrack_ack(t, a, true);
    /* every message acked, but no COMMIT seen yet: more may follow */
    CHECK_INT(w2k_lsntrack_confirmed(t), 0);
    CHECK(!w2k_lsntrack_idle(t));
    w2k_lsntrack_follow(t, 500); /* a keepalive must not move past an open transaction */
    CHECK_INT(w2k_lsntrack_confirmed(t), 0);
    w2k_lsntrack_commit(t, a, 40, 0);
    CHECK_INT(w2k_lsntrack_confirmed(t), 40);
    w2k_lsntrack_destroy(t);
}

static void failure_stops_confirmation(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(0);
    uint64_t a = txn(t, 1, 10, 0);
    uint64_t b = txn(t, 2, 20, 0);
    uint64_t c = txn(t, 1, 30, 0);
    w2k_lsntrack_ack(t, a, true);
    w2k_lsntrack_ack(t, b, true);
    w2k_lsntrack_ack(t, b, false); /* one message of b failed for good */
    w2k_lsntrack_ack(t, c, true);
    CHECK(w2k_lsntrack_failed(t));
    CHECK_INT(w2k_lsntrack_confirmed(t), 10);
    w2k_lsntrack_follow(t, 1000); /* nor may a keepalive move it */
    CHECK_INT(w2k_lsntrack_confirmed(t), 10);
    /* restart from the slot: old answers are ignored, confirmed stays */
    w2k_lsntrack_reset(t);
    CHECK(!w2k_lsntrack_failed(t));
    CHECK_INT(w2k_lsntrack_inflight(t), 0);
    CHECK(!w2k_lsntrack_ack(t, b, true));
    CHECK_INT(w2k_lsntrack_inflight(t), 0);
    uint64_t d = w2k_lsntrack_begin(t);
    CHECK(d > c);
    w2k_lsntrack_add(t, d);
    w2k_lsntrack_commit(t, d, 20, 0);
    /* an old message that fails late is not the new session's failure */
    CHECK(!w2k_lsntrack_ack(t, c, false));
    CHECK(!w2k_lsntrack_failed(t));
    CHECK(w2k_lsntrack_ack(t, d, true));
    CHECK_INT(w2k_lsntrack_confirmed(t), 20);
    w2k_lsntrack_destroy(t);
}

/* A restart (reset) keeps what was acknowledged before it confirmed, even when nobody
 * asked for the confirmed LSN in between: the new session starts past it. */
static void reset_keeps_acknowledged(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(5);
    uint64_t a = txn(t, 1, 10, 0);
    uint64_t b = txn(t, 1, 20, 0);
    uint64_t c = txn(t, 1, 30, 0);
    uint64_t d = w2k_lsntrack_begin(t); /* open when the session broke */
    w2k_lsntrack_add(t, d);
    w2k_lsntrack_ack(t, a, true);
    w2k_lsntrack_ack(t, b, true);
    w2k_lsntrack_ack(t, d, true);
    w2k_lsntrack_reset(t);
    CHECK_INT(w2k_lsntrack_confirmed(t), 20); /* not c (unanswered), not d (open) */
    CHECK(!w2k_lsntrack_ack(t, c, true));
    CHECK_INT(w2k_lsntrack_confirmed(t), 20);
    w2k_lsntrack_destroy(t);
}

static void idle_follows_keepalive(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(5);
    w2k_lsntrack_follow(t, 50);
    CHECK_INT(w2k_lsntrack_confirmed(t), 50);
    w2k_lsntrack_follow(t, 40); /* never backwards */
    CHECK_INT(w2k_lsntrack_confirmed(t), 50);
    uint64_t a = txn(t, 1, 60, 0);
    w2k_lsntrack_follow(t, 70); /* a message is in flight */
    CHECK_INT(w2k_lsntrack_confirmed(t), 50);
    w2k_lsntrack_ack(t, a, true);
    w2k_lsntrack_follow(t, 70);
    CHECK_INT(w2k_lsntrack_confirmed(t), 70);
    w2k_lsntrack_destroy(t);
}

static void empty_transactions_and_abort(void)
{
    w2k_lsntrack_t *t = w2k_lsntrack_new(0);
    uint64_t a = w2k_lsntrack_begin(t); /* all its changes were filtered out */
    w2k_lsntrack_commit(t, a, 10, 0);
    CHECK_INT(w2k_lsntrack_confirmed(t), 10);
    uint64_t b = w2k_lsntrack_begin(t);
    w2k_lsntrack_add(t, b);
    w2k_lsntrack_abort(t, b);
    CHECK_INT(w2k_lsntrack_inflight(t), 0);
    CHECK(w2k_lsntrack_idle(t));
    w2k_lsntrack_destroy(t);
}

/* Many transactions in flight grow the ring; random ack order keeps the invariant:
 * the confirmed LSN is the end of the longest fully acknowledged prefix. */
static void many_in_flight_random_order(void)
{
    enum { N = 5000, PER = 3 };
    w2k_lsntrack_t *t = w2k_lsntrack_new(0);
    uint64_t seq[N];
    int left[N];
    for (int i = 0; i < N; i++) {
        seq[i] = w2k_lsntrack_begin(t);
        for (int k = 0; k < PER; k++)
            w2k_lsntrack_add(t, seq[i]);
        w2k_lsntrack_commit(t, seq[i], (w2k_lsn_t)(i + 1) * 100, 0);
        left[i] = PER;
    }
    CHECK_INT(w2k_lsntrack_inflight(t), N * PER);
    srand(42);
    int acked = 0, bad = 0, prefix = 0;
    while (acked < N * PER) {
        int i = rand() % N;
        if (!left[i])
            continue;
        w2k_lsntrack_ack(t, seq[i], true);
        left[i]--;
        acked++;
        while (prefix < N && left[prefix] == 0)
            prefix++;
        if (w2k_lsntrack_confirmed(t) != (w2k_lsn_t)prefix * 100)
            bad++;
    }
    CHECK_INT(bad, 0);
    CHECK_INT(w2k_lsntrack_confirmed(t), (w2k_lsn_t)N * 100);
    w2k_lsntrack_destroy(t);
}

int main(void)
{
    in_order_acks();
    out_of_order_acks();
    open_transaction_blocks();
    failure_stops_confirmation();
    reset_keeps_acknowledged();
    idle_follows_keepalive();
    empty_transactions_and_abort();
    many_in_flight_random_order();
    return unit_report("test_lsntrack");
}
