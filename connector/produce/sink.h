/* sink.h — the Kafka side: one idempotent producer (acks=all, murmur2_random) shared
 * by every stream of the process, topic creation through the Admin API, and the
 * broker's answers queued for the stream that produced each message, which takes them
 * when it chooses (w2k_sink_take_acks). Nothing here calls into a stream: a full
 * producer queue is a return value, not a wait. Single-threaded: call everything from
 * the main loop. */
#ifndef W2K_SINK_H
#define W2K_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "err.h"

typedef struct w2k_sink_s w2k_sink_t;
typedef struct w2k_sink_topic_s w2k_sink_topic_t;

/* Called about every 100 ms while a sink call blocks waiting for the broker (a topic
 * creation, a synchronous produce, a transaction call), so the process can keep its
 * PostgreSQL sessions alive. It must call neither the sink nor a stream: it is for
 * session keepalives (w2k_pg_keepalive_serve) only. */
typedef void(w2k_sink_idle_cb)(void *arg);

/* Topic kinds. */
typedef enum w2k_topic_kind_e {
    W2K_TOPIC_COMPACT, /* keyed table topics, schema topics: compact after the configured lag */
    W2K_TOPIC_DELETE   /* keyless tables: delete after keyless_retention_ms */
} w2k_topic_kind_t;

/* Create the producer from the configuration. With transactional_id (exactly-once
 * mode) the producer is transactional: call w2k_sink_txn_init() before producing, and
 * produce only inside a transaction. Returns NULL with err set on failure. */
w2k_sink_t *w2k_sink_new(const w2k_config_t *cfg, const char *transactional_id, w2k_err_t *err);

/* Transactions (transactional sinks only). init: fence older producers with the same
 * transactional id and abort their open transaction. begin: open a transaction.
 * commit: send everything produced in it and commit it, waiting for the answer.
 * abort: drop it. Each returns 0, or -1 with err (err->retryable when starting again
 * from the last commit can heal it). init and commit wait up to 60 s, abort 10 s,
 * running the idle callback meanwhile; a call that does not finish in that time
 * leaves the transaction in an unknown state: the sink then counts as failed fatally
 * (w2k_sink_fatal()) and refuses further transaction calls until it is replaced. */
int w2k_sink_txn_init(w2k_sink_t *s, w2k_err_t *err);
int w2k_sink_txn_begin(w2k_sink_t *s, w2k_err_t *err);
int w2k_sink_txn_commit(w2k_sink_t *s, w2k_err_t *err);
void w2k_sink_txn_abort(w2k_sink_t *s);
/* Drop what is still queued or in flight (streams have waited for what they need),
 * then free; accepts NULL. */
void w2k_sink_destroy(w2k_sink_t *s);

/* Register a stream; returns its id for w2k_sink_produce() and w2k_sink_take_acks(),
 * or -1 when too many streams are registered. */
int w2k_sink_register(w2k_sink_t *s);
/* The sequence numbers of stream's messages the broker acknowledged since the last
 * call (served by w2k_sink_poll() or during any wait of the sink), in *seqs; returns
 * how many. The array stays the sink's and is valid until the next sink call. */
size_t w2k_sink_take_acks(w2k_sink_t *s, int stream, const uint64_t **seqs);
/* The next of stream's messages whose delivery failed for good: true with its
 * sequence number and what failed (and what to do) in failure; false when none. */
bool w2k_sink_take_failure(w2k_sink_t *s, int stream, uint64_t *seq, w2k_err_t *failure);
/* Set the callback run while a sink call blocks waiting for the broker. */
void w2k_sink_set_idle_cb(w2k_sink_t *s, w2k_sink_idle_cb *cb, void *arg);

/* Check that a broker answers within timeout_ms. Returns 0, or -1 with err. */
int w2k_sink_check_brokers(w2k_sink_t *s, int timeout_ms, w2k_err_t *err);

/* The handle of topic name, creating the topic with the configured partitions,
 * replication factor and the settings of kind when it does not exist. Cached: only
 * the first call per name talks to the broker. Returns NULL with err on failure. */
w2k_sink_topic_t *w2k_sink_topic(w2k_sink_t *s, const char *name, w2k_topic_kind_t kind,
                                 w2k_err_t *err);

/* Make topics names[0..n) (of kinds[i]) exist and known, ahead of need: one metadata
 * request finds those that exist, the others are created with CreateTopics requests of
 * up to 1000 topics each, all sent before the answers are awaited together (up to 35 s
 * plus 20 ms per topic, running the idle callback). A topic that could not be created is left out
 * (a later w2k_sink_topic() tries again and says why). Returns how many of the n are ready, or -1
 * with err when no broker answered. */
int w2k_sink_topics_ensure(w2k_sink_t *s, const char *const *names, const w2k_topic_kind_t *kinds,
                           int n, w2k_err_t *err);

/* Produce one message (value NULL = tombstone; key NULL = no key) with the given
 * timestamp; the broker's answer is queued for stream with seq. Copies key and value.
 * Never waits. Returns 0; W2K_SINK_FULL when the producer's queue is full and nothing
 * was produced (produce it again once w2k_sink_poll() served answers); or -1 with err
 * when the producer refuses the message (e.g. larger than allowed) or failed fatally. */
#define W2K_SINK_FULL 1
int w2k_sink_produce(w2k_sink_t *s, int stream, uint64_t seq, w2k_sink_topic_t *topic,
                     const void *key, size_t keylen, const void *value, size_t valuelen,
                     int64_t timestamp_ms, w2k_err_t *err);

/* Produce one message and wait up to timeout_ms until the broker acknowledged it (for
 * schemas, which must be stored before the first message that uses them), running the
 * idle callback meanwhile. Returns 0, or -1 with err. */
int w2k_sink_produce_sync(w2k_sink_t *s, w2k_sink_topic_t *topic, const void *key, size_t keylen,
                          const void *value, size_t valuelen, int timeout_ms, w2k_err_t *err);
/* w2k_sink_produce_sync() for n messages to topic (keys[i] of keylens[i] bytes, values
 * likewise): all produced, then their acknowledgements awaited together, up to
 * timeout_ms in all. Returns 0 when every one was acknowledged, or -1 with err (the
 * first failure). */
int w2k_sink_produce_sync_many(w2k_sink_t *s, w2k_sink_topic_t *topic, size_t n,
                               const void *const *keys, const size_t *keylens,
                               const void *const *values, const size_t *valuelens, int timeout_ms,
                               w2k_err_t *err);

/* Serve delivery reports (queueing each answer for its stream), waiting up to
 * timeout_ms for the first. Returns how many events were served. */
int w2k_sink_poll(w2k_sink_t *s, int timeout_ms);
/* The caller has nothing more to produce for now (its source is caught up): have what
 * was produced since the last call sent at once rather than after linger.ms, waiting
 * at most 1 ms (delivery reports are served meanwhile). Does nothing when nothing was
 * produced since. Under load, when the source always has more, it is not called and
 * batches fill up for linger.ms as before. */
void w2k_sink_send_now(w2k_sink_t *s);
/* A file descriptor that becomes readable when delivery reports wait to be served. */
int w2k_sink_fd(const w2k_sink_t *s);
/* True once the producer failed fatally, or a transaction call left it in an unknown
 * state (it must be recreated); err says why. */
bool w2k_sink_fatal(w2k_sink_t *s, w2k_err_t *err);

#endif
