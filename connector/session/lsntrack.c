/* lsntrack.c — confirmable-LSN tracking over a ring of in-flight transactions. */
#include "lsntrack.h"

#include <stdlib.h>
#include <string.h>

typedef struct txn_s {
    w2k_lsn_t end_lsn;
    int64_t commit_us;
    uint64_t outstanding; /* messages not yet answered */
    bool committed;
    bool failed;
} txn_t;

struct w2k_lsntrack_s {
    txn_t *ring;   /* entry of seq s is ring[s & (cap - 1)] */
    uint64_t cap;  /* power of two */
    uint64_t head; /* oldest tracked sequence number */
    uint64_t next; /* next sequence number to hand out */
    w2k_lsn_t confirmed;
    int64_t confirmed_us;
    uint64_t inflight;
    bool failed;
};

w2k_lsntrack_t *w2k_lsntrack_new(w2k_lsn_t start)
{
    w2k_lsntrack_t *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->cap = 64;
    t->ring = calloc(t->cap, sizeof *t->ring);
    if (!t->ring) {
        free(t);
        return NULL;
    }
    t->head = t->next = 1;
    t->confirmed = start;
    return t;
}

void w2k_lsntrack_destroy(w2k_lsntrack_t *t)
{
    if (!t)
        return;
    free(t->ring);
    free(t);
}

static txn_t *lookup(w2k_lsntrack_t *t, uint64_t seq)
{
    if (seq < t->head || seq >= t->next)
        return NULL;
    return &t->ring[seq & (t->cap - 1)];
}

static int grow(w2k_lsntrack_t *t)
{
    uint64_t cap = t->cap * 2;
    txn_t *ring = calloc(cap, sizeof *ring);
    if (!ring)
        return -1;
    for (uint64_t s = t->head; s < t->next; s++)
        ring[s & (cap - 1)] = t->ring[s & (t->cap - 1)];
    free(t->ring);
    t->ring = ring;
    t->cap = cap;
    return 0;
}

uint64_t w2k_lsntrack_begin(w2k_lsntrack_t *t)
{
    if (t->next - t->head == t->cap && grow(t) != 0)
        return 0;
    uint64_t seq = t->next++;
    memset(&t->ring[seq & (t->cap - 1)], 0, sizeof(txn_t));
    return seq;
}

void w2k_lsntrack_add(w2k_lsntrack_t *t, uint64_t seq)
{
    txn_t *x = lookup(t, seq);
    if (!x)
        return;
    x->outstanding++;
    t->inflight++;
}

void w2k_lsntrack_commit(w2k_lsntrack_t *t, uint64_t seq, w2k_lsn_t end_lsn, int64_t commit_us)
{
    txn_t *x = lookup(t, seq);
    if (!x)
        return;
    x->committed = true;
    x->end_lsn = end_lsn;
    x->commit_us = commit_us;
}

void w2k_lsntrack_abort(w2k_lsntrack_t *t, uint64_t seq)
{
    txn_t *x = lookup(t, seq);
    if (x && seq == t->next - 1 && !x->committed) {
        t->inflight -= x->outstanding;
        t->next--;
    }
}

bool w2k_lsntrack_ack(w2k_lsntrack_t *t, uint64_t seq, bool ok)
{
    txn_t *x = lookup(t, seq);
    if (!x || x->outstanding == 0)
        return false;
    x->outstanding--;
    t->inflight--;
    if (!ok) {
        x->failed = true;
        t->failed = true;
    }
    return true;
}

w2k_lsn_t w2k_lsntrack_confirmed(w2k_lsntrack_t *t)
{
    while (t->head < t->next) {
        txn_t *x = &t->ring[t->head & (t->cap - 1)];
        if (!x->committed || x->outstanding > 0 || x->failed)
            break;
        if (x->end_lsn > t->confirmed)
            t->confirmed = x->end_lsn;
        if (x->commit_us)
            t->confirmed_us = x->commit_us;
        t->head++;
    }
    return t->confirmed;
}

void w2k_lsntrack_follow(w2k_lsntrack_t *t, w2k_lsn_t lsn)
{
    w2k_lsntrack_confirmed(t);
    if (t->head == t->next && !t->failed && lsn > t->confirmed)
        t->confirmed = lsn;
}

int64_t w2k_lsntrack_confirmed_time(const w2k_lsntrack_t *t)
{
    return t->confirmed_us;
}

bool w2k_lsntrack_idle(const w2k_lsntrack_t *t)
{
    return t->head == t->next;
}

uint64_t w2k_lsntrack_inflight(const w2k_lsntrack_t *t)
{
    return t->inflight;
}

bool w2k_lsntrack_failed(const w2k_lsntrack_t *t)
{
    return t->failed;
}

void w2k_lsntrack_reset(w2k_lsntrack_t *t)
{
    /* what was acknowledged before the restart stays confirmed: the new session starts
     * past it instead of sending it again */
    w2k_lsntrack_confirmed(t);
    t->head = t->next;
    t->inflight = 0;
    t->failed = false;
}
