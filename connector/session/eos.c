/* eos.c — exactly-once delivery: Kafka transactions bounded by PostgreSQL commits. */
#include "eos.h"
#include "clock.h"

#include <stdlib.h>

struct w2k_eos_s {
    bool enabled; /* Kafka transactions */
    bool record;  /* ...carrying the stream's record (exactly-once) */
    int commit_interval_ms;
    const char *state_topic, *stream;
    w2k_stream_state_t *state; /* the stream's record, owned by the stream */
    w2k_sink_t *sink;
    bool ready;        /* init_transactions done on this sink */
    bool open;         /* a Kafka transaction is open */
    int64_t opened_ms; /* monotonic */
    w2k_lsn_t pending; /* end LSN of the last PostgreSQL transaction in it */
    w2k_lsn_t safe;    /* ...of the last one committed to Kafka */
    w2k_lsn_t skip;    /* transactions before this were committed already */
    bool skipping;     /* the open PostgreSQL transaction is one of those */
    size_t streams;    /* streamed PostgreSQL transactions in progress: no commit */
};

w2k_eos_t *w2k_eos_new(w2k_eos_mode_t mode, int commit_interval_ms, const char *state_topic,
                       const char *stream, w2k_stream_state_t *state)
{
    w2k_eos_t *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    e->enabled = mode != W2K_EOS_OFF;
    e->record = mode == W2K_EOS_EXACTLY_ONCE;
    e->commit_interval_ms = commit_interval_ms;
    e->state_topic = state_topic;
    e->stream = stream;
    e->state = state;
    return e;
}

void w2k_eos_destroy(w2k_eos_t *e)
{
    free(e);
}

void w2k_eos_attach(w2k_eos_t *e, w2k_sink_t *sink)
{
    e->sink = sink;
    e->ready = false;
}

void w2k_eos_resume(w2k_eos_t *e)
{
    if (e->record)
        e->skip = e->state->committed_lsn;
}

int w2k_eos_ensure(w2k_eos_t *e, w2k_err_t *err)
{
    if (!e->enabled || e->open)
        return 0;
    if (!e->ready) {
        if (w2k_sink_txn_init(e->sink, err) != 0)
            return -1;
        e->ready = true;
    }
    if (w2k_sink_txn_begin(e->sink, err) != 0)
        return -1;
    e->open = true;
    e->opened_ms = w2k_clock_mono_ms();
    return 0;
}

int w2k_eos_fence(w2k_eos_t *e, w2k_err_t *err)
{
    if (!e->enabled || e->ready)
        return 0;
    if (w2k_sink_txn_init(e->sink, err) != 0)
        return -1;
    e->ready = true;
    return 0;
}

bool w2k_eos_open(const w2k_eos_t *e)
{
    return e->open;
}

bool w2k_eos_begin(w2k_eos_t *e, w2k_lsn_t final_lsn)
{
    e->skipping = e->enabled && final_lsn < e->skip;
    return e->skipping;
}

bool w2k_eos_end(w2k_eos_t *e, w2k_lsn_t end_lsn)
{
    if (e->skipping) {
        e->skipping = false;
        return false;
    }
    if (!e->open)
        return false;
    e->pending = end_lsn;
    return w2k_eos_due(e, w2k_clock_mono_ms());
}

bool w2k_eos_due(const w2k_eos_t *e, int64_t now_ms)
{
    return e->open && !e->streams && now_ms - e->opened_ms >= e->commit_interval_ms;
}

void w2k_eos_streams(w2k_eos_t *e, size_t n)
{
    e->streams = n;
}

bool w2k_eos_committed(const w2k_eos_t *e, w2k_lsn_t commit_lsn)
{
    return e->enabled && commit_lsn < e->skip;
}

int64_t w2k_eos_age_ms(const w2k_eos_t *e, int64_t now_ms)
{
    return e->open ? now_ms - e->opened_ms : 0;
}

int w2k_eos_commit(w2k_eos_t *e, w2k_err_t *err)
{
    if (!e->enabled || !e->open || e->streams)
        return 0;
    if (e->record && e->pending > e->state->committed_lsn) {
        w2k_stream_state_t next = *e->state;
        next.committed_lsn = e->pending;
        if (w2k_state_write(e->sink, e->state_topic, e->stream, &next, err) != 0)
            return -1;
        *e->state = next;
    }
    if (w2k_sink_txn_commit(e->sink, err) != 0)
        return -1;
    e->open = false;
    if (e->pending > e->safe)
        e->safe = e->pending;
    return 0;
}

w2k_lsn_t w2k_eos_confirmable(w2k_eos_t *e, w2k_lsn_t acked, bool in_txn)
{
    if (!e->enabled)
        return acked;
    if (!e->open && !in_txn && acked > e->safe)
        e->safe = acked; /* everything acknowledged was committed */
    return acked < e->safe ? acked : e->safe;
}

void w2k_eos_stop(w2k_eos_t *e)
{
    if (e->open)
        w2k_sink_txn_abort(e->sink);
    e->open = false;
    if (e->safe > e->skip)
        e->skip = e->safe;
    e->skipping = false;
    e->streams = 0;
}
