/* sink.c — the Kafka producer, topic creation and delivery-report routing. */
#include "sink.h"
#include "clock.h"
#include "log.h"
#include "names.h"

#include <errno.h>
#include <fcntl.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_STREAMS   256
#define SEQ_BITS      48
#define SYNC_TAG      (UINT64_C(1) << 63)
#define TOPIC_BUCKETS 4096  /* topic handles by name: 10,000 tables, chains of 2-3 */
#define WAIT_SLICE_MS 100   /* blocking Kafka calls run in slices this long... */
#define TXN_CALL_MS   60000 /* ...init and commit for at most this long in total... */
#define TXN_ABORT_MS  10000 /* ...and an abort this long, before the producer is replaced */

_Static_assert(sizeof(void *) == 8, "message tags are 64-bit values carried in void *");

struct w2k_sink_topic_s {
    char *name;
    rd_kafka_topic_t *rkt;
    struct w2k_sink_topic_s *next;
};

/* A failed delivery, waiting for its stream to take it. */
typedef struct failure_s {
    uint64_t seq;
    w2k_err_t err;
} failure_t;

/* The broker's answers for one stream's messages, queued by the delivery-report
 * callback until the stream takes them (w2k_sink_take_acks / _take_failure). */
typedef struct stream_slot_s {
    uint64_t *acked; /* sequence numbers of acknowledged messages */
    size_t nacked, capacked;
    failure_t *failed;
    size_t nfailed, capfailed, firstfailed; /* [firstfailed, nfailed) not taken yet */
    bool lost;                              /* out of memory queueing an answer */
} stream_slot_t;

struct w2k_sink_s {
    rd_kafka_t *rk;
    rd_kafka_queue_t *mainq;
    int pipefd[2];
    const w2k_config_t *cfg;
    stream_slot_t streams[MAX_STREAMS];
    int nstreams;
    w2k_sink_idle_cb *idle_cb;
    void *idle_arg;
    w2k_sink_topic_t *topics[TOPIC_BUCKETS];
    /* synchronous produce: one call at a time, of serials [sync_first, sync_serial] */
    uint64_t sync_serial, sync_first;
    size_t sync_left;
    int sync_done;
    w2k_err_t sync_err;
    /* a transaction call did not finish: the producer's transaction state is unknown,
     * so it must be replaced (reported like a fatal error) */
    bool broken;
    w2k_err_t broken_err;
    /* the broker's silence: messages produced and not answered, the last answer (or
     * when the first of them was produced), and whether the silence was logged */
    uint64_t unanswered;
    int64_t last_answer_ms;
    bool silent;
    bool lingering; /* produced since the last w2k_sink_send_now() */
};

/* The hint for a Kafka error that needs the user's action, or NULL. */
static const char *hint_for(rd_kafka_resp_err_t code)
{
    switch (code) {
    case RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE:
    case RD_KAFKA_RESP_ERR_INVALID_MSG_SIZE:
        return "a message is larger than allowed: raise the broker's message.max.bytes (or the "
               "topic's max.message.bytes) and \"message.max.bytes=...\" in kafka.properties, "
               "or exclude the large columns with a column list";
    case RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED:
        return "grant this principal WRITE and DESCRIBE on the topics (and CREATE on the "
               "cluster, or create the topics beforehand), e.g. kafka-acls --add "
               "--allow-principal User:... --operation Write --topic ...";
    case RD_KAFKA_RESP_ERR_CLUSTER_AUTHORIZATION_FAILED:
        return "grant this principal IDEMPOTENT_WRITE (and CREATE) on the cluster";
    case RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return "the topic does not exist and could not be created: check that this principal "
               "may create topics, or create it beforehand";
    case RD_KAFKA_RESP_ERR__MSG_TIMED_OUT:
        return "the broker did not acknowledge in time (message.timeout.ms); check that the "
               "brokers are up and reachable; the changes will be sent again from the slot";
    default:
        return NULL;
    }
}

/* err from a Kafka error code on topic (NULL when there is none), with the hint the
 * user needs. */
static void set_kafka_err(const w2k_sink_t *s, w2k_err_t *err, rd_kafka_resp_err_t code,
                          const char *what, const char *detail, const char *topic)
{
    w2k_err_set(err, W2K_EXIT_KAFKA, "%s: %s", what, detail ? detail : rd_kafka_err2str(code));
    const char *hint = hint_for(code);
    if (hint && code == RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED && topic) {
        /* The principal is the SASL user when there is one. */
        const char *user = w2k_config_kafka_prop(s->cfg, "sasl.username");
        char principal[256];
        snprintf(principal, sizeof principal, "User:%s", user ? user : "<wal2kafka's principal>");
        w2k_err_hint(err,
                     "the brokers do not let %s write to topic %s: grant it Write and Describe "
                     "on the topic (and on the other topics of its prefix), and remove any ACL "
                     "that denies it, e.g. kafka-acls --bootstrap-server %s --add "
                     "--allow-principal %s --operation Write --operation Describe --topic %s",
                     principal, topic, s->cfg->kafka_bootstrap, principal, topic);
    } else if (hint) {
        w2k_err_hint(err, "%s", hint);
    }
    err->retryable = hint == NULL || code == RD_KAFKA_RESP_ERR__MSG_TIMED_OUT;
}

/* Queue one answer for a stream; only the delivery-report callback calls this. */
static void queue_answer(stream_slot_t *q, uint64_t seq, const w2k_err_t *failure)
{
    if (!failure) {
        if (q->nacked == q->capacked) {
            size_t cap = q->capacked ? q->capacked * 2 : 1024;
            uint64_t *a = realloc(q->acked, cap * sizeof *a);
            if (!a) {
                q->lost = true;
                return;
            }
            q->acked = a;
            q->capacked = cap;
        }
        q->acked[q->nacked++] = seq;
        return;
    }
    if (q->nfailed == q->capfailed) {
        size_t cap = q->capfailed ? q->capfailed * 2 : 8;
        failure_t *f = realloc(q->failed, cap * sizeof *f);
        if (!f) {
            q->lost = true;
            return;
        }
        q->failed = f;
        q->capfailed = cap;
    }
    q->failed[q->nfailed].seq = seq;
    q->failed[q->nfailed++].err = *failure;
}

/* A delivery report came: the broker answers (logged once if it was silent). */
static void broker_answered(w2k_sink_t *s)
{
    int64_t now = w2k_clock_mono_ms();
    if (s->unanswered)
        s->unanswered--;
    if (s->silent)
        w2k_info("kafka: the broker answers again after %lld ms of silence",
                 (long long)(now - s->last_answer_ms));
    s->silent = false;
    s->last_answer_ms = now;
}

static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    w2k_sink_t *s = opaque;
    uint64_t tag = (uint64_t)(uintptr_t)m->_private;
    w2k_err_t failure;
    if (m->err) {
        char what[512];
        snprintf(what, sizeof what, "delivery to topic %s failed", rd_kafka_topic_name(m->rkt));
        set_kafka_err(s, &failure, m->err, what, rd_kafka_err2str(m->err),
                      rd_kafka_topic_name(m->rkt));
    }
    if (!(tag & SYNC_TAG))
        broker_answered(s);
    if (tag & SYNC_TAG) {
        uint64_t serial = tag & ~SYNC_TAG;
        if (serial >= s->sync_first && serial <= s->sync_serial && s->sync_left) {
            if (--s->sync_left == 0)
                s->sync_done = 1;
            if (m->err && !s->sync_err.code)
                s->sync_err = failure;
        }
        return;
    }
    int stream = (int)(tag >> SEQ_BITS);
    if (stream < s->nstreams)
        queue_answer(&s->streams[stream], tag & ((UINT64_C(1) << SEQ_BITS) - 1),
                     m->err ? &failure : NULL);
}

static void on_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (code == RD_KAFKA_RESP_ERR__FATAL)
        w2k_error_hint(w2k_log_kafka_hint("ERROR", reason), "kafka: fatal producer error: %s",
                       reason);
    else if (code == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN || code == RD_KAFKA_RESP_ERR__TRANSPORT)
        w2k_warn_hint(w2k_log_kafka_hint("ERROR", reason), "kafka: %s (retrying)", reason);
    else
        w2k_warn_hint(w2k_log_kafka_hint("ERROR", reason), "kafka: %s: %s",
                      rd_kafka_err2name((rd_kafka_resp_err_t)code), reason);
}

static void on_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    w2k_log_kafka(level <= 3 ? W2K_LOG_ERROR : level <= 5 ? W2K_LOG_WARN : W2K_LOG_DEBUG, fac, buf);
}

static int conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, w2k_err_t *err)
{
    char errstr[512];
    if (rd_kafka_conf_set(conf, name, value, errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
        w2k_err_set(err, W2K_EXIT_CONFIG, "Kafka property %s: %s", name, errstr);
        w2k_err_hint(err, "fix kafka.properties in the configuration; see librdkafka's "
                          "CONFIGURATION.md for the names and values it accepts");
        return -1;
    }
    return 0;
}

w2k_sink_t *w2k_sink_new(const w2k_config_t *cfg, const char *transactional_id, w2k_err_t *err)
{
    char buf[64];
    w2k_sink_t *s = calloc(1, sizeof *s);
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    s->pipefd[0] = s->pipefd[1] = -1;
    s->cfg = cfg;
    /* librdkafka refuses a socket.timeout.ms above transaction.timeout.ms + 100 */
    char sockto[16];
    snprintf(sockto, sizeof sockto, "%d",
             transactional_id && cfg->transaction_timeout_ms < 5000 ? cfg->transaction_timeout_ms
                                                                    : 5000);
    snprintf(buf, sizeof buf, "%d", cfg->max_in_flight + 10000);
    if (conf_set(conf, "bootstrap.servers", cfg->kafka_bootstrap, err) ||
        conf_set(conf, "client.id", "wal2kafka", err) ||
        conf_set(conf, "enable.idempotence", "true", err) || conf_set(conf, "acks", "all", err) ||
        conf_set(conf, "partitioner", "murmur2_random", err) ||
        conf_set(conf, "queue.buffering.max.messages", buf, err) ||
        conf_set(conf, "linger.ms", "5", err) ||
        /* the broker shares the machine: lz4 batches cost it a third of the CPU of
         * uncompressed ones (fewer bytes to receive, check and append), and wal2kafka's
         * own CPU does not grow (fewer bytes through the socket) */
        conf_set(conf, "compression.type", "lz4", err) ||
        /* librdkafka backs off reconnecting up to 10 s by default; a broker (or, in
         * exactly-once mode, the transaction coordinator, which nothing else wakes up)
         * that comes back is then used only up to 10 s later. The Java clients' 1 s
         * (kafka.properties may set another value). */
        conf_set(conf, "reconnect.backoff.max.ms", "1000", err) ||
        /* a frozen broker (stalled VM, long pause) keeps its connections open and never
         * answers: librdkafka notices only when a request times out, then disconnects
         * and asks every second who leads its partitions now. Its defaults (30 s for a
         * produce request, 60 s for the others: the transaction coordinator's) stalled
         * delivery for the whole freeze although the cluster had moved the leaders
         * away within seconds (bench/results/soak-3brokers.md). 5 s is far above a
         * healthy broker's answer and makes a frozen one cost seconds; a slow broker
         * timed out costs a reconnect and a retry, which the idempotent producer
         * makes safe (no duplicate, same order). kafka.properties may set others. */
        conf_set(conf, "request.timeout.ms", "5000", err) ||
        conf_set(conf, "socket.timeout.ms", sockto, err) ||
        /* ... but a connection to a frozen broker looks healthy until a request on it
         * times out, so librdkafka kept sending new requests there (produce, and the
         * coordinator lookup) after the cluster had moved the leaders away; metadata
         * asked for every 2 s (librdkafka: 5 min) finds the new leaders. One metadata
         * request for the stream's topics, answered from the broker's cache. */
        conf_set(conf, "topic.metadata.refresh.interval.ms", "2000", err))
        goto err;
    for (int i = 0; i < cfg->nkafka_props; i++) {
        char *kv = strdup(cfg->kafka_props[i]);
        char *eq = strchr(kv, '=');
        *eq = '\0';
        int rc = conf_set(conf, kv, eq + 1, err);
        if (rc == 0 && strcmp(kv, "partitioner") == 0 && strcmp(eq + 1, "murmur2_random") != 0)
            w2k_warn_hint("remove partitioner from kafka.properties unless every consumer "
                          "of these topics partitions by the same rule",
                          "kafka.properties sets partitioner=%s: keys will not land on the "
                          "partitions Java clients (Kafka Streams, Flink) expect",
                          eq + 1);
        free(kv);
        if (rc)
            goto err;
    }
    /* transaction.timeout.ms: how long the broker keeps a transaction of a producer that
     * went silent (frozen, partitioned) open, so how long it can hold read_committed
     * consumers back before the coordinator aborts it (delivery.transaction_timeout_ms) */
    snprintf(buf, sizeof buf, "%d", cfg->transaction_timeout_ms);
    if (transactional_id && (conf_set(conf, "transactional.id", transactional_id, err) ||
                             conf_set(conf, "transaction.timeout.ms", buf, err)))
        goto err;
    rd_kafka_conf_set_opaque(conf, s);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_conf_set_error_cb(conf, on_error);
    rd_kafka_conf_set_log_cb(conf, on_log);

    char errstr[512];
    s->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
    if (!s->rk) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot create the Kafka producer: %s", errstr);
        w2k_err_hint(err, "check the kafka group of the configuration");
        goto err;
    }
    conf = NULL;
    if (pipe2(s->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "pipe: %s", strerror(errno));
        goto err;
    }
    s->mainq = rd_kafka_queue_get_main(s->rk);
    rd_kafka_queue_io_event_enable(s->mainq, s->pipefd[1], "1", 1);
    return s;
err:
    if (conf)
        rd_kafka_conf_destroy(conf);
    w2k_sink_destroy(s);
    return NULL;
}

void w2k_sink_destroy(w2k_sink_t *s)
{
    if (!s)
        return;
    for (int b = 0; b < TOPIC_BUCKETS; b++) {
        for (w2k_sink_topic_t *t = s->topics[b], *n; t; t = n) {
            n = t->next;
            rd_kafka_topic_destroy(t->rkt);
            free(t->name);
            free(t);
        }
    }
    if (s->mainq) {
        rd_kafka_queue_io_event_enable(s->mainq, -1, NULL, 0);
        rd_kafka_queue_destroy(s->mainq);
    }
    if (s->rk) {
        /* Streams have already waited for what they need; drop the rest quickly. */
        rd_kafka_purge(s->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
        rd_kafka_flush(s->rk, 1000);
        rd_kafka_destroy(s->rk);
    }
    for (int i = 0; i < s->nstreams; i++) {
        free(s->streams[i].acked);
        free(s->streams[i].failed);
    }
    if (s->pipefd[0] >= 0)
        close(s->pipefd[0]);
    if (s->pipefd[1] >= 0)
        close(s->pipefd[1]);
    free(s);
}

int w2k_sink_register(w2k_sink_t *s)
{
    if (s->nstreams == MAX_STREAMS)
        return -1;
    return s->nstreams++;
}

size_t w2k_sink_take_acks(w2k_sink_t *s, int stream, const uint64_t **seqs)
{
    stream_slot_t *q = &s->streams[stream];
    size_t n = q->nacked;
    *seqs = q->acked;
    q->nacked = 0;
    return n;
}

bool w2k_sink_take_failure(w2k_sink_t *s, int stream, uint64_t *seq, w2k_err_t *failure)
{
    stream_slot_t *q = &s->streams[stream];
    if (q->lost) {
        /* an answer could not be queued: fail the stream, which resends from its slot */
        q->lost = false;
        *seq = 0;
        w2k_err_set(failure, W2K_EXIT_RUNTIME,
                    "out of memory noting the broker's answers for this stream's messages");
        failure->retryable = true;
        return true;
    }
    if (q->firstfailed == q->nfailed) {
        q->firstfailed = q->nfailed = 0;
        return false;
    }
    *seq = q->failed[q->firstfailed].seq;
    *failure = q->failed[q->firstfailed++].err;
    return true;
}

void w2k_sink_set_idle_cb(w2k_sink_t *s, w2k_sink_idle_cb *cb, void *arg)
{
    s->idle_cb = cb;
    s->idle_arg = arg;
}

/* While a call waits for the broker: queue the delivery reports that arrived and let
 * the caller keep its sessions alive. */
static void idle(w2k_sink_t *s, int timeout_ms)
{
    w2k_sink_poll(s, timeout_ms);
    if (s->idle_cb)
        s->idle_cb(s->idle_arg);
}

int w2k_sink_check_brokers(w2k_sink_t *s, int timeout_ms, w2k_err_t *err)
{
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t e = rd_kafka_metadata(s->rk, 0, NULL, &md, timeout_ms);
    if (e) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot reach Kafka at %s: %s", s->cfg->kafka_bootstrap,
                    rd_kafka_err2str(e));
        w2k_err_hint(err, "check kafka.bootstrap_servers and that the brokers are running and "
                          "reachable from this host (and the security settings in "
                          "kafka.properties)");
        err->retryable = true;
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    return 0;
}

static unsigned hash_name(const char *s)
{
    unsigned h = 5381;
    while (*s)
        h = h * 33 + (unsigned char)*s++;
    return h % TOPIC_BUCKETS;
}

/* Create a topic; an existing topic is fine. */
static int create_topic(w2k_sink_t *s, const char *name, w2k_topic_kind_t kind, w2k_err_t *err)
{
    char errstr[512], num[32];
    const w2k_config_t *cfg = s->cfg;
    /* With no broker answering, librdkafka (2.0) waits for the controller by retrying
     * the connection without any backoff, some 30 000 times a second, until the request
     * times out after 30 s: find out first, and fail at once (the stream retries, and
     * starts again as soon as a broker answers). */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_resp_err_t down = rd_kafka_metadata(s->rk, 0, NULL, &md, 1000);
    if (down) {
        w2k_err_set(err, W2K_EXIT_KAFKA,
                    "creating topic: no broker at %s answers (%s), so topic %s cannot be "
                    "created now",
                    cfg->kafka_bootstrap, rd_kafka_err2str(down), name);
        w2k_err_hint(err, "check that the brokers are up and reachable from this host");
        err->retryable = true;
        return -1;
    }
    rd_kafka_metadata_destroy(md);
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(
        name, cfg->topic_partitions, cfg->topic_replication_factor, errstr, sizeof errstr);
    if (!nt) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot describe topic %s: %s", name, errstr);
        return -1;
    }
    if (kind == W2K_TOPIC_COMPACT) {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        snprintf(num, sizeof num, "%lld", (long long)cfg->topic_min_compaction_lag_ms);
        rd_kafka_NewTopic_set_config(nt, "min.compaction.lag.ms", num);
    } else {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
        snprintf(num, sizeof num, "%lld", (long long)cfg->topic_keyless_retention_ms);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", num);
    }
    rd_kafka_queue_t *q = rd_kafka_queue_new(s->rk);
    rd_kafka_AdminOptions_t *opt = rd_kafka_AdminOptions_new(s->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
    rd_kafka_AdminOptions_set_request_timeout(opt, 30000, errstr, sizeof errstr);
    rd_kafka_CreateTopics(s->rk, &nt, 1, opt, q);
    /* Wait in slices, serving delivery reports and the caller's PostgreSQL sessions:
     * with the brokers away the answer takes the whole request timeout. */
    rd_kafka_event_t *ev = NULL;
    for (int64_t end = w2k_clock_mono_ms() + 35000; !ev && w2k_clock_mono_ms() < end;) {
        ev = rd_kafka_queue_poll(q, WAIT_SLICE_MS);
        if (!ev)
            idle(s, 0);
    }
    int rc = -1;
    if (!ev) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "creating topic %s: no answer from Kafka in 35 s", name);
        w2k_err_hint(err, "check that the brokers at %s are up", cfg->kafka_bootstrap);
        err->retryable = true;
    } else if (rd_kafka_event_error(ev)) {
        set_kafka_err(s, err, rd_kafka_event_error(ev), "creating topic",
                      rd_kafka_event_error_string(ev), name);
    } else {
        size_t n;
        const rd_kafka_topic_result_t **res =
            rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(ev), &n);
        rd_kafka_resp_err_t e = n ? rd_kafka_topic_result_error(res[0]) : 0;
        if (e == RD_KAFKA_RESP_ERR_NO_ERROR) {
            w2k_info("created topic %s (%s, %d partitions, replication factor %d)", name,
                     kind == W2K_TOPIC_COMPACT ? "compacted" : "delete policy",
                     cfg->topic_partitions, cfg->topic_replication_factor);
            rc = 0;
        } else if (e == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            rc = 0;
        } else {
            char what[512];
            snprintf(what, sizeof what, "cannot create topic %s", name);
            set_kafka_err(s, err, e, what, rd_kafka_topic_result_error_string(res[0]), name);
            if (e == RD_KAFKA_RESP_ERR_INVALID_REPLICATION_FACTOR ||
                e == RD_KAFKA_RESP_ERR_INVALID_PARTITIONS)
                w2k_err_hint(err, "set kafka.topic.partitions and replication_factor to values "
                                  "the cluster accepts (replication_factor at most the number "
                                  "of brokers)");
        }
    }
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_AdminOptions_destroy(opt);
    rd_kafka_queue_destroy(q);
    rd_kafka_NewTopic_destroy(nt);
    return rc;
}

/* Add topic name to the cache (it exists). Returns it, or NULL with err. */
static w2k_sink_topic_t *cache_topic(w2k_sink_t *s, const char *name, w2k_err_t *err)
{
    unsigned h = hash_name(name);
    w2k_sink_topic_t *t = calloc(1, sizeof *t);
    if (!t || !(t->name = strdup(name))) {
        free(t);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return NULL;
    }
    t->rkt = rd_kafka_topic_new(s->rk, name, NULL);
    if (!t->rkt) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "topic %s: %s", name,
                    rd_kafka_err2str(rd_kafka_last_error()));
        free(t->name);
        free(t);
        return NULL;
    }
    t->next = s->topics[h];
    s->topics[h] = t;
    return t;
}

static w2k_sink_topic_t *cached_topic(const w2k_sink_t *s, const char *name)
{
    for (w2k_sink_topic_t *t = s->topics[hash_name(name)]; t; t = t->next)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* The settings of a new topic of kind, or NULL with errstr. */
static rd_kafka_NewTopic_t *new_topic(const w2k_config_t *cfg, const char *name,
                                      w2k_topic_kind_t kind, char *errstr, size_t errsz)
{
    char num[32];
    rd_kafka_NewTopic_t *nt = rd_kafka_NewTopic_new(name, cfg->topic_partitions,
                                                    cfg->topic_replication_factor, errstr, errsz);
    if (!nt)
        return NULL;
    if (kind == W2K_TOPIC_COMPACT) {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "compact");
        snprintf(num, sizeof num, "%lld", (long long)cfg->topic_min_compaction_lag_ms);
        rd_kafka_NewTopic_set_config(nt, "min.compaction.lag.ms", num);
    } else {
        rd_kafka_NewTopic_set_config(nt, "cleanup.policy", "delete");
        snprintf(num, sizeof num, "%lld", (long long)cfg->topic_keyless_retention_ms);
        rd_kafka_NewTopic_set_config(nt, "retention.ms", num);
    }
    return nt;
}

/* Topics per CreateTopics request of w2k_sink_topics_ensure. */
#define CREATE_BATCH 1000

/* Find which of names[0..n) exist with one metadata request for every topic (set the
 * found ones in exists[]). Returns 0, or -1 when no broker answered. */
static int existing_topics(w2k_sink_t *s, const char *const *names, int n, bool *exists)
{
    const struct rd_kafka_metadata *md = NULL;
    if (rd_kafka_metadata(s->rk, 1, NULL, &md, 5000) != RD_KAFKA_RESP_ERR_NO_ERROR)
        return -1;
    /* a hash set of the cluster's topic names, so 10,000 tables cost 10,000 lookups */
    size_t nb = 1;
    while (nb < 2 * (size_t)md->topic_cnt + 16)
        nb <<= 1;
    const char **set = calloc(nb, sizeof *set);
    if (!set) {
        rd_kafka_metadata_destroy(md);
        return -1;
    }
    for (int i = 0; i < md->topic_cnt; i++) {
        const rd_kafka_metadata_topic_t *t = &md->topics[i];
        if (t->err != RD_KAFKA_RESP_ERR_NO_ERROR)
            continue;
        size_t h = w2k_names_hash_str(W2K_NAMES_HASH_SEED, t->topic);
        for (h &= nb - 1; set[h]; h = (h + 1) & (nb - 1))
            ;
        set[h] = t->topic;
    }
    for (int i = 0; i < n; i++) {
        size_t h = w2k_names_hash_str(W2K_NAMES_HASH_SEED, names[i]);
        for (h &= nb - 1; set[h] && !exists[i]; h = (h + 1) & (nb - 1))
            exists[i] = strcmp(set[h], names[i]) == 0;
    }
    free(set);
    rd_kafka_metadata_destroy(md);
    return 0;
}

/* Fill librdkafka's metadata cache with the just created topics names[0..n): one
 * request for every topic, again (every METADATA_PAUSE_MS, for at most
 * METADATA_WAIT_MS plus METADATA_WAIT_PER_TOPIC_MS per topic) while some are not in
 * the broker's metadata yet. The broker answers CreateTopics before it has made the
 * partitions (a single broker on 2 busy cores: some 1,000 topics every 3 s). A topic
 * handle made for a topic in that cache asks nothing; one made for a topic it lacks
 * sends a metadata request of its own, and 10,000 of those, one per topic, queue on
 * the broker connection for minutes, ahead of the messages. Best effort: a topic
 * still missing after the wait gets its own request. */
#define METADATA_PAUSE_MS          500
#define METADATA_WAIT_MS           30000
#define METADATA_WAIT_PER_TOPIC_MS 10
static void await_metadata(w2k_sink_t *s, const char *const *names, int n)
{
    bool *ready = calloc((size_t)n, sizeof *ready);
    int64_t wait = METADATA_WAIT_MS + (int64_t)METADATA_WAIT_PER_TOPIC_MS * n;
    for (int64_t end = w2k_clock_mono_ms() + wait; ready;) {
        memset(ready, 0, (size_t)n * sizeof *ready);
        if (existing_topics(s, names, n, ready) != 0)
            break;
        int k = 0;
        while (k < n && ready[k])
            k++;
        if (k == n || w2k_clock_mono_ms() >= end)
            break;
        idle(s, METADATA_PAUSE_MS);
    }
    free(ready);
}

int w2k_sink_topics_ensure(w2k_sink_t *s, const char *const *names, const w2k_topic_kind_t *kinds,
                           int n, w2k_err_t *err)
{
    if (n <= 0)
        return 0;
    bool *exists = calloc((size_t)n, sizeof *exists);
    int *todo = calloc((size_t)n, sizeof *todo);
    char **created = calloc((size_t)n, sizeof *created);
    int ntodo = 0, done = 0, rc = -1, ncreated = 0;
    if (!exists || !todo || !created) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        goto out;
    }
    bool all = true;
    for (int i = 0; i < n; i++)
        all &= exists[i] = cached_topic(s, names[i]) != NULL;
    if (all) {
        rc = n;
        goto out;
    }
    if (existing_topics(s, names, n, exists) != 0) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot list the topics at %s", s->cfg->kafka_bootstrap);
        w2k_err_hint(err, "check that the brokers are up and reachable from this host");
        err->retryable = true;
        goto out;
    }
    for (int i = 0; i < n; i++) {
        if (exists[i]) {
            if (!cached_topic(s, names[i]) && !cache_topic(s, names[i], err))
                goto out;
            done++;
        } else {
            todo[ntodo++] = i;
        }
    }
    /* the missing ones: every request sent, then the answers awaited together */
    /* the controller creates the requests one after the other: the last one's answer
     * comes after all of them (a few ms per topic) */
    int nreq = 0, answered = 0, wait_ms = 30000 + 20 * ntodo;
    rd_kafka_queue_t *q = ntodo ? rd_kafka_queue_new(s->rk) : NULL;
    for (int from = 0; from < ntodo; from += CREATE_BATCH) {
        int cnt = ntodo - from < CREATE_BATCH ? ntodo - from : CREATE_BATCH, made = 0;
        rd_kafka_NewTopic_t **nts = calloc((size_t)cnt, sizeof *nts);
        char errstr[512];
        for (int k = 0; nts && k < cnt; k++) {
            int i = todo[from + k];
            if ((nts[made] = new_topic(s->cfg, names[i], kinds[i], errstr, sizeof errstr)))
                made++;
        }
        if (made) { /* topics left out are left to w2k_sink_topic, which says why */
            rd_kafka_AdminOptions_t *opt =
                rd_kafka_AdminOptions_new(s->rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
            rd_kafka_AdminOptions_set_request_timeout(opt, wait_ms, errstr, sizeof errstr);
            /* librdkafka times a request out after socket.timeout.ms (60 s) unless the
             * operation timeout is longer: the requests queued behind the first ones
             * would time out before the broker reaches them */
            rd_kafka_AdminOptions_set_operation_timeout(opt, wait_ms, errstr, sizeof errstr);
            rd_kafka_CreateTopics(s->rk, nts, (size_t)made, opt, q);
            rd_kafka_AdminOptions_destroy(opt);
            nreq++;
        }
        for (int k = 0; k < made; k++)
            rd_kafka_NewTopic_destroy(nts[k]);
        free(nts);
    }
    for (int64_t end = w2k_clock_mono_ms() + wait_ms + 5000;
         answered < nreq && w2k_clock_mono_ms() < end;) {
        rd_kafka_event_t *ev = rd_kafka_queue_poll(q, WAIT_SLICE_MS);
        if (!ev) {
            idle(s, 0);
            continue;
        }
        answered++;
        size_t nres = 0;
        const rd_kafka_topic_result_t **res =
            rd_kafka_event_error(ev) ? NULL
                                     : rd_kafka_CreateTopics_result_topics(
                                           rd_kafka_event_CreateTopics_result(ev), &nres);
        for (size_t k = 0; k < nres; k++) {
            rd_kafka_resp_err_t e = rd_kafka_topic_result_error(res[k]);
            const char *name = rd_kafka_topic_result_name(res[k]);
            if (e != RD_KAFKA_RESP_ERR_NO_ERROR && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
                continue; /* left to w2k_sink_topic, which reports why */
            if (!(created[ncreated] = strdup(name))) {
                rd_kafka_event_destroy(ev);
                rd_kafka_queue_destroy(q);
                w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
                goto out;
            }
            ncreated++;
        }
        rd_kafka_event_destroy(ev);
    }
    if (q)
        rd_kafka_queue_destroy(q);
    if (ncreated)
        await_metadata(s, (const char *const *)created, ncreated);
    for (int k = 0; k < ncreated; k++) {
        if (!cached_topic(s, created[k]) && !cache_topic(s, created[k], err))
            goto out;
        done++;
    }
    if (ntodo)
        w2k_info("created %d topics in %d requests (%d of %d topics ready)", done - (n - ntodo),
                 nreq, done, n);
    rc = done;
out:
    for (int k = 0; k < ncreated; k++)
        free(created[k]);
    free(created);
    free(exists);
    free(todo);
    return rc;
}

w2k_sink_topic_t *w2k_sink_topic(w2k_sink_t *s, const char *name, w2k_topic_kind_t kind,
                                 w2k_err_t *err)
{
    w2k_sink_topic_t *t = cached_topic(s, name);
    if (t)
        return t;
    if (create_topic(s, name, kind, err) != 0)
        return NULL;
    return cache_topic(s, name, err);
}

/* Hand one message to the producer. Returns 0, W2K_SINK_FULL when its queue is full
 * (nothing was produced), or -1 with err. */
static int produce_tagged(w2k_sink_t *s, uint64_t tag, w2k_sink_topic_t *topic, const void *key,
                          size_t keylen, const void *value, size_t valuelen, int64_t ts,
                          w2k_err_t *err)
{
    /* rd_kafka_produceva: rd_kafka_producev's fields without its varargs */
    rd_kafka_vu_t vu[6];
    vu[0].vtype = RD_KAFKA_VTYPE_RKT;
    vu[0].u.rkt = topic->rkt;
    vu[1].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
    vu[1].u.i = RD_KAFKA_MSG_F_COPY;
    vu[2].vtype = RD_KAFKA_VTYPE_KEY;
    vu[2].u.mem.ptr = (void *)key;
    vu[2].u.mem.size = keylen;
    vu[3].vtype = RD_KAFKA_VTYPE_VALUE;
    vu[3].u.mem.ptr = (void *)value;
    vu[3].u.mem.size = valuelen;
    vu[4].vtype = RD_KAFKA_VTYPE_TIMESTAMP;
    vu[4].u.i64 = ts;
    vu[5].vtype = RD_KAFKA_VTYPE_OPAQUE;
    vu[5].u.ptr = (void *)(uintptr_t)tag;
    rd_kafka_error_t *error = rd_kafka_produceva(s->rk, vu, sizeof vu / sizeof *vu);
    if (!error) {
        s->lingering = true;
        return 0;
    }
    rd_kafka_resp_err_t e = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return W2K_SINK_FULL;
    char what[512];
    snprintf(what, sizeof what, "cannot produce to topic %s", topic->name);
    set_kafka_err(s, err, e, what, NULL, topic->name);
    return -1;
}

int w2k_sink_produce(w2k_sink_t *s, int stream, uint64_t seq, w2k_sink_topic_t *topic,
                     const void *key, size_t keylen, const void *value, size_t valuelen,
                     int64_t timestamp_ms, w2k_err_t *err)
{
    uint64_t tag = ((uint64_t)stream << SEQ_BITS) | seq;
    int rc = produce_tagged(s, tag, topic, key, keylen, value, valuelen, timestamp_ms, err);
    if (rc == 0 && s->unanswered++ == 0)
        s->last_answer_ms = w2k_clock_mono_ms(); /* the silence counts from here */
    return rc;
}

int w2k_sink_produce_sync(w2k_sink_t *s, w2k_sink_topic_t *topic, const void *key, size_t keylen,
                          const void *value, size_t valuelen, int timeout_ms, w2k_err_t *err)
{
    const void *keys[1] = {key}, *values[1] = {value};
    return w2k_sink_produce_sync_many(s, topic, 1, keys, &keylen, values, &valuelen, timeout_ms,
                                      err);
}

int w2k_sink_produce_sync_many(w2k_sink_t *s, w2k_sink_topic_t *topic, size_t n,
                               const void *const *keys, const size_t *keylens,
                               const void *const *values, const size_t *valuelens, int timeout_ms,
                               w2k_err_t *err)
{
    s->sync_first = s->sync_serial + 1;
    s->sync_left = n;
    s->sync_done = n == 0;
    w2k_err_clear(&s->sync_err);
    int waited = 0, rc = 0;
    for (size_t i = 0; i < n; i++) {
        s->sync_serial++;
        while ((rc = produce_tagged(s, SYNC_TAG | s->sync_serial, topic, keys[i], keylens[i],
                                    values[i], valuelens[i], 0, err)) == W2K_SINK_FULL) {
            if (waited >= timeout_ms) {
                w2k_err_set(err, W2K_EXIT_KAFKA,
                            "the Kafka producer's queue stayed full for %d ms: cannot store a "
                            "message in %s",
                            timeout_ms, topic->name);
                w2k_err_hint(err, "check that the brokers at %s are up and reachable",
                             s->cfg->kafka_bootstrap);
                err->retryable = true;
                s->sync_left = 0;
                return -1;
            }
            idle(s, WAIT_SLICE_MS);
            waited += WAIT_SLICE_MS;
            if (w2k_sink_fatal(s, err)) {
                s->sync_left = 0;
                return -1;
            }
        }
        if (rc != 0) {
            s->sync_left = 0;
            return -1;
        }
    }
    for (; !s->sync_done; waited += WAIT_SLICE_MS) {
        if (waited >= timeout_ms) {
            w2k_err_set(err, W2K_EXIT_KAFKA,
                        "Kafka did not acknowledge a message to %s within %d ms", topic->name,
                        timeout_ms);
            w2k_err_hint(err, "check that the brokers at %s are up and reachable",
                         s->cfg->kafka_bootstrap);
            err->retryable = true;
            s->sync_left = 0;
            return -1;
        }
        idle(s, WAIT_SLICE_MS);
        if (w2k_sink_fatal(s, err)) {
            s->sync_left = 0;
            return -1;
        }
    }
    if (s->sync_err.code) {
        *err = s->sync_err;
        return -1;
    }
    return 0;
}

int w2k_sink_poll(w2k_sink_t *s, int timeout_ms)
{
    char drain[64];
    while (read(s->pipefd[0], drain, sizeof drain) > 0)
        ;
    int n = rd_kafka_poll(s->rk, timeout_ms);
    int64_t now = w2k_clock_mono_ms();
    if (s->unanswered && !s->silent && s->cfg->broker_silence_ms > 0 &&
        now - s->last_answer_ms >= s->cfg->broker_silence_ms) {
        s->silent = true;
        w2k_warn_hint("the broker holds the connection but does not answer: frozen, hung, "
                      "overloaded, or a network path that drops packets — check it; "
                      "wal2kafka keeps its place and resends what is not acknowledged, and "
                      "reading pauses at delivery.max_in_flight",
                      "kafka: the broker has not answered for %lld ms with %llu message(s) "
                      "awaiting acknowledgement (delivery.broker_silence_ms = %d)",
                      (long long)(now - s->last_answer_ms), (unsigned long long)s->unanswered,
                      s->cfg->broker_silence_ms);
    }
    return n;
}

void w2k_sink_send_now(w2k_sink_t *s)
{
    if (!s->lingering)
        return;
    s->lingering = false;
    /* librdkafka 2.0.2 has no "send now": its broker threads ignore linger.ms only while
     * a flush is under way, so flush for at most 1 ms (it returns at once when every
     * message was acknowledged; one still in flight after that is left to linger.ms) */
    rd_kafka_flush(s->rk, 1);
}

int w2k_sink_fd(const w2k_sink_t *s)
{
    return s->pipefd[0];
}

bool w2k_sink_fatal(w2k_sink_t *s, w2k_err_t *err)
{
    if (s->broken) {
        *err = s->broken_err;
        return true;
    }
    char reason[512];
    rd_kafka_resp_err_t e = rd_kafka_fatal_error(s->rk, reason, sizeof reason);
    if (!e)
        return false;
    w2k_err_set(err, W2K_EXIT_KAFKA, "the Kafka producer failed fatally: %s: %s",
                rd_kafka_err2name(e), reason);
    w2k_err_hint(err, "nothing past the last acknowledged change was confirmed; restarting "
                      "resends the rest");
    err->retryable = true;
    return true;
}

/* Turn a transaction API error into err; returns -1. */
static int txn_error(rd_kafka_error_t *e, const char *what, w2k_err_t *err)
{
    w2k_err_set(err, W2K_EXIT_KAFKA, "%s: %s", what, rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e))
        w2k_err_hint(err, "the transactional producer was fenced or failed fatally: another "
                          "wal2kafka with the same stream may be running; wal2kafka starts a "
                          "new producer and resends from the slot what was not committed");
    else
        w2k_err_hint(err, "nothing of the open transaction was committed; it is sent again from "
                          "the slot");
    err->retryable = true;
    rd_kafka_error_destroy(e);
    return -1;
}

/* The producer's transaction state is unknown after a call that did not finish (a
 * later call would only meet "conflicting ... call in progress"): have it replaced.
 * Returns -1 with err. */
static int txn_broken(w2k_sink_t *s, rd_kafka_error_t *e, const char *what, w2k_err_t *err)
{
    txn_error(e, what, err);
    w2k_err_hint(err, "the Kafka transaction did not finish in time; wal2kafka replaces the "
                      "producer (which aborts the transaction) and resends from the slot what "
                      "was not committed");
    s->broken = true;
    s->broken_err = *err;
    return -1;
}

typedef rd_kafka_error_t *(txn_call_fn)(rd_kafka_t *rk, int timeout_ms);

/* Run a resumable transaction call for up to total_ms, in slices: between them serve
 * delivery reports and the wait callback, so PostgreSQL sessions stay answered while
 * the brokers are away. Returns NULL when it succeeded, else its last error (the
 * caller destroys it). */
static rd_kafka_error_t *txn_call(w2k_sink_t *s, txn_call_fn *fn, int total_ms)
{
    int64_t end = w2k_clock_mono_ms() + total_ms;
    for (;;) {
        rd_kafka_error_t *e = fn(s->rk, WAIT_SLICE_MS);
        if (!e || !rd_kafka_error_is_retriable(e) || w2k_clock_mono_ms() >= end)
            return e;
        rd_kafka_error_destroy(e);
        idle(s, 0);
    }
}

static rd_kafka_error_t *init_call(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_init_transactions(rk, timeout_ms);
}

static rd_kafka_error_t *commit_call(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_commit_transaction(rk, timeout_ms);
}

static rd_kafka_error_t *abort_call(rd_kafka_t *rk, int timeout_ms)
{
    return rd_kafka_abort_transaction(rk, timeout_ms);
}

/* The error of a call made on a producer that must be replaced. */
static int refuse_broken(w2k_sink_t *s, w2k_err_t *err)
{
    *err = s->broken_err;
    return -1;
}

int w2k_sink_txn_init(w2k_sink_t *s, w2k_err_t *err)
{
    if (s->broken)
        return refuse_broken(s, err);
    rd_kafka_error_t *e = txn_call(s, init_call, TXN_CALL_MS);
    if (!e)
        return 0;
    if (rd_kafka_error_is_retriable(e))
        return txn_broken(s, e, "cannot start Kafka transactions", err);
    return txn_error(e, "cannot start Kafka transactions", err);
}

int w2k_sink_txn_begin(w2k_sink_t *s, w2k_err_t *err)
{
    if (s->broken)
        return refuse_broken(s, err);
    rd_kafka_error_t *e = rd_kafka_begin_transaction(s->rk);
    /* begin fails only when the producer is not ready for a new transaction */
    return e ? txn_broken(s, e, "cannot begin a Kafka transaction", err) : 0;
}

int w2k_sink_txn_commit(w2k_sink_t *s, w2k_err_t *err)
{
    if (s->broken)
        return refuse_broken(s, err);
    rd_kafka_error_t *e = txn_call(s, commit_call, TXN_CALL_MS);
    if (!e)
        return 0;
    if (rd_kafka_error_txn_requires_abort(e)) {
        rd_kafka_error_t *a = txn_call(s, abort_call, TXN_ABORT_MS);
        if (a) {
            rd_kafka_error_destroy(e);
            return txn_broken(s, a, "cannot abort a Kafka transaction", err);
        }
        return txn_error(e, "cannot commit a Kafka transaction", err);
    }
    if (rd_kafka_error_is_retriable(e))
        return txn_broken(s, e, "cannot commit a Kafka transaction", err);
    return txn_error(e, "cannot commit a Kafka transaction", err);
}

void w2k_sink_txn_abort(w2k_sink_t *s)
{
    if (s->broken)
        return;
    rd_kafka_error_t *e = txn_call(s, abort_call, TXN_ABORT_MS);
    if (!e)
        return;
    if (rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__STATE) {
        rd_kafka_error_destroy(e); /* no transaction open (a failed commit aborted it) */
        return;
    }
    w2k_err_t err;
    if (rd_kafka_error_is_fatal(e))
        rd_kafka_error_destroy(e); /* reported by w2k_sink_fatal() */
    else
        txn_broken(s, e, "cannot abort a Kafka transaction", &err);
}
