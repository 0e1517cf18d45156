/* snapkeys.c — keys of a snapshot written onto topics that held messages, and the keys
 * it left out of them. */
#include "snapkeys.h"
#include "clock.h"
#include "kconsumer.h"
#include "avrofp.h"
#include "log.h"
#include "registry.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A key read back that the snapshot did not write, whose last message so far has a
 * value: the key message as first read. */
typedef struct {
    uint64_t h; /* 0 = empty */
    unsigned char *key;
    size_t len;
} live_t;

struct w2k_snapkeys_s {
    uint64_t *slot; /* keys the snapshot wrote: open addressing; 0 = empty */
    size_t cap;     /* a power of two */
    size_t n;
    char **noted; /* topics that held messages before the snapshot wrote */
    int nnoted;
    rd_kafka_t *rk;                     /* consumer for the notes and the scans */
    const struct rd_kafka_metadata *md; /* every topic, read at the first note */
    /* the scan in progress */
    const char *cur; /* the topic being read, NULL once read (or none) */
    int64_t *last;   /* per partition: the last offset to read */
    bool *ended;
    int nparts, left;
    int64_t progress_ms; /* when the last message (or the scan's start) came */
    uint64_t seed;       /* hash of the table's name */
    live_t *live;        /* open addressing, deletion by backward shift */
    size_t lcap, ln;
    size_t take_at;
    unsigned char *taken; /* the key returned last */
    uint64_t gone;
};

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL
#define READ_MS    100   /* longest a call reads before it returns to the caller's loop */
#define IDLE_MS    30000 /* no message for this long: the brokers are not answering */

static uint64_t fnv(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= FNV_PRIME;
    }
    return h;
}

/* The Avro body of a key message: after the single-object header (C3 01 + fingerprint)
 * or the Confluent one (0 + schema id); the whole message if it has neither. */
static const unsigned char *key_body(const void *key, size_t len, size_t *blen)
{
    const unsigned char *b = key;
    size_t skip = 0;
    if (len >= W2K_SOE_HEADER_LEN && b[0] == 0xC3 && b[1] == 0x01)
        skip = W2K_SOE_HEADER_LEN;
    else if (len >= W2K_REGISTRY_HEADER_LEN && b[0] == 0)
        skip = W2K_REGISTRY_HEADER_LEN;
    *blen = len - skip;
    return b + skip;
}

static uint64_t table_seed(const char *schema, const char *name)
{
    uint64_t h = fnv(FNV_OFFSET, schema, strlen(schema));
    h = fnv(h, ".", 1);
    return fnv(h, name, strlen(name) + 1);
}

static uint64_t key_hash(uint64_t seed, const void *key, size_t len)
{
    size_t blen;
    const unsigned char *body = key_body(key, len, &blen);
    uint64_t h = fnv(seed, body, blen);
    /* finish with splitmix64's mixer: FNV alone spreads short keys poorly */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    return h ? h : 1;
}

w2k_snapkeys_t *w2k_snapkeys_new(void)
{
    w2k_snapkeys_t *k = calloc(1, sizeof *k);
    if (!k)
        return NULL;
    k->cap = 1024;
    k->slot = calloc(k->cap, sizeof *k->slot);
    if (!k->slot) {
        free(k);
        return NULL;
    }
    return k;
}

static void live_clear(w2k_snapkeys_t *k)
{
    for (size_t i = 0; i < k->lcap; i++)
        free(k->live[i].key);
    free(k->live);
    k->live = NULL;
    k->lcap = k->ln = 0;
    k->take_at = 0;
    free(k->taken);
    k->taken = NULL;
}

/* Stop reading: the consumer keeps no partition. */
static void scan_stop(w2k_snapkeys_t *k)
{
    if (k->rk && k->cur)
        rd_kafka_assign(k->rk, NULL);
    k->cur = NULL;
    free(k->last);
    free(k->ended);
    k->last = NULL;
    k->ended = NULL;
    k->nparts = k->left = 0;
}

void w2k_snapkeys_destroy(w2k_snapkeys_t *k)
{
    if (!k)
        return;
    scan_stop(k);
    live_clear(k);
    if (k->md)
        rd_kafka_metadata_destroy(k->md);
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    for (int i = 0; i < k->nnoted; i++)
        free(k->noted[i]);
    free(k->noted);
    free(k->slot);
    free(k);
}

/* Insert h into the snapshot's keys; returns 1 when it was new, 0 when it was there,
 * -1 when out of memory. */
static int insert(w2k_snapkeys_t *k, uint64_t h)
{
    if ((k->n + 1) * 2 > k->cap) {
        size_t cap = k->cap * 2;
        uint64_t *slot = calloc(cap, sizeof *slot);
        if (!slot)
            return -1;
        for (size_t i = 0; i < k->cap; i++) {
            if (!k->slot[i])
                continue;
            size_t j = k->slot[i] & (cap - 1);
            while (slot[j])
                j = (j + 1) & (cap - 1);
            slot[j] = k->slot[i];
        }
        free(k->slot);
        k->slot = slot;
        k->cap = cap;
    }
    size_t j = h & (k->cap - 1);
    while (k->slot[j]) {
        if (k->slot[j] == h)
            return 0;
        j = (j + 1) & (k->cap - 1);
    }
    k->slot[j] = h;
    k->n++;
    return 1;
}

static bool contains(const w2k_snapkeys_t *k, uint64_t h)
{
    for (size_t j = h & (k->cap - 1); k->slot[j]; j = (j + 1) & (k->cap - 1))
        if (k->slot[j] == h)
            return true;
    return false;
}

int w2k_snapkeys_add(w2k_snapkeys_t *k, const char *schema, const char *name, const void *key,
                     size_t len)
{
    return insert(k, key_hash(table_seed(schema, name), key, len)) < 0 ? -1 : 0;
}

bool w2k_snapkeys_has(const w2k_snapkeys_t *k, const char *schema, const char *name,
                      const void *key, size_t len)
{
    return contains(k, key_hash(table_seed(schema, name), key, len));
}

/* A key read back with a value: kept (its first key message) unless it is already. */
static int live_put(w2k_snapkeys_t *k, uint64_t h, const void *key, size_t len)
{
    if ((k->ln + 1) * 2 > k->lcap) {
        size_t cap = k->lcap ? k->lcap * 2 : 1024;
        live_t *live = calloc(cap, sizeof *live);
        if (!live)
            return -1;
        for (size_t i = 0; i < k->lcap; i++) {
            if (!k->live[i].h)
                continue;
            size_t j = k->live[i].h & (cap - 1);
            while (live[j].h)
                j = (j + 1) & (cap - 1);
            live[j] = k->live[i];
        }
        free(k->live);
        k->live = live;
        k->lcap = cap;
    }
    size_t mask = k->lcap - 1, j = h & mask;
    while (k->live[j].h) {
        if (k->live[j].h == h)
            return 0;
        j = (j + 1) & mask;
    }
    unsigned char *copy = malloc(len ? len : 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    k->live[j] = (live_t){h, copy, len};
    k->ln++;
    return 0;
}

/* A key read back with a tombstone: no longer kept. */
static void live_remove(w2k_snapkeys_t *k, uint64_t h)
{
    if (!k->lcap)
        return;
    size_t mask = k->lcap - 1, i = h & mask;
    while (k->live[i].h != h) {
        if (!k->live[i].h)
            return;
        i = (i + 1) & mask;
    }
    free(k->live[i].key);
    k->ln--;
    /* close the hole: move up each later entry of the run that may sit at i */
    for (size_t j = i;;) {
        k->live[i] = (live_t){0, NULL, 0};
        for (;;) {
            j = (j + 1) & mask;
            if (!k->live[j].h)
                return;
            size_t home = k->live[j].h & mask;
            bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
            if (!stays)
                break;
        }
        k->live[i] = k->live[j];
        i = j;
    }
}

void w2k_snapkeys_read_begin(w2k_snapkeys_t *k, const char *schema, const char *name)
{
    live_clear(k);
    k->seed = table_seed(schema, name);
    k->gone = 0;
}

int w2k_snapkeys_read(w2k_snapkeys_t *k, const void *key, size_t len, bool has_value)
{
    uint64_t h = key_hash(k->seed, key, len);
    if (contains(k, h))
        return 0; /* the snapshot wrote it: its row is there */
    if (has_value)
        return live_put(k, h, key, len);
    live_remove(k, h);
    return 0;
}

int w2k_snapkeys_take(w2k_snapkeys_t *k, const void **key, size_t *len)
{
    free(k->taken);
    k->taken = NULL;
    for (; k->take_at < k->lcap; k->take_at++) {
        live_t *e = &k->live[k->take_at];
        if (!e->h || !e->key)
            continue;
        k->taken = e->key;
        e->key = NULL;
        *key = k->taken;
        *len = e->len;
        k->gone++;
        k->take_at++;
        return 1;
    }
    live_clear(k);
    return 0;
}

static void scan_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    w2k_log(W2K_LOG_DEBUG, "librdkafka (snapshot keys) %s: %s", fac, buf);
}

/* The consumer that notes and reads topics, configured like the producer. */
static int consumer(w2k_snapkeys_t *k, const w2k_config_t *cfg, w2k_err_t *err)
{
    if (k->rk)
        return 0;
    char errstr[512];
    static const char *const fixed[][2] = {
        {"auto.offset.reset", "earliest"}, {"isolation.level", "read_committed"}, {NULL, NULL}};
    rd_kafka_conf_t *conf = w2k_kconsumer_conf(cfg, "wal2kafka-snapshot-keys", fixed, err);
    if (!conf)
        return -1;
    rd_kafka_conf_set_log_cb(conf, scan_log);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot create a Kafka consumer: %s", errstr);
        return -1;
    }
    return 0;
}

int w2k_snapkeys_note_topic(w2k_snapkeys_t *k, const w2k_config_t *cfg, const char *topic,
                            w2k_err_t *err)
{
    if (consumer(k, cfg, err) != 0)
        return -1;
    if (!k->md) {
        /* every topic at once: one request for all of the stream's tables */
        rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 1, NULL, &k->md, 15000);
        if (e) {
            k->md = NULL;
            w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the brokers' topic metadata: %s",
                        rd_kafka_err2str(e));
            w2k_err_hint(err, "check that the brokers are up and reachable");
            err->retryable = true;
            return -1;
        }
    }
    const struct rd_kafka_metadata_topic *mt = NULL;
    for (int i = 0; i < k->md->topic_cnt && !mt; i++)
        if (strcmp(k->md->topics[i].topic, topic) == 0 && !k->md->topics[i].err)
            mt = &k->md->topics[i];
    if (!mt)
        return 0; /* no such topic */
    for (int p = 0; p < mt->partition_cnt; p++) {
        int64_t lo, hi;
        rd_kafka_resp_err_t e =
            rd_kafka_query_watermark_offsets(k->rk, topic, mt->partitions[p].id, &lo, &hi, 15000);
        if (e) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the offsets of topic %s: %s", topic,
                        rd_kafka_err2str(e));
            w2k_err_hint(err, "check that the brokers are up and reachable");
            err->retryable = true;
            return -1;
        }
        if (hi > lo) {
            char **v = realloc(k->noted, ((size_t)k->nnoted + 1) * sizeof *v);
            if (v)
                k->noted = v;
            if (!v || !(v[k->nnoted] = strdup(topic))) {
                w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
                return -1;
            }
            k->nnoted++;
            return 1;
        }
    }
    return 0; /* empty */
}

int w2k_snapkeys_scan_begin(w2k_snapkeys_t *k, const char *topic, const char *schema,
                            const char *name, w2k_err_t *err)
{
    scan_stop(k);
    if (k->md) {
        rd_kafka_metadata_destroy(k->md); /* the notes are taken */
        k->md = NULL;
    }
    const char *t = NULL;
    for (int i = 0; i < k->nnoted && !t; i++)
        if (strcmp(k->noted[i], topic) == 0)
            t = k->noted[i];
    if (!t)
        return 0;
    w2k_snapkeys_read_begin(k, schema, name);
    /* up to its end now: besides what was there before the snapshot and the snapshot's
     * own rows, whatever an earlier attempt still had in flight then */
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, rkt, &md, 15000);
    rd_kafka_topic_destroy(rkt);
    if (e || md->topic_cnt != 1 || md->topics[0].err) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the metadata of topic %s: %s", topic,
                    rd_kafka_err2str(e                    ? e
                                     : md->topic_cnt == 1 ? md->topics[0].err
                                                          : RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC));
        w2k_err_hint(err, "check that the brokers are up and reachable");
        err->retryable = true;
        if (md)
            rd_kafka_metadata_destroy(md);
        return -1;
    }
    int nparts = md->topics[0].partition_cnt;
    k->last = calloc((size_t)nparts + 1, sizeof *k->last);
    k->ended = calloc((size_t)nparts + 1, sizeof *k->ended);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    k->cur = t;
    k->nparts = nparts;
    if (!k->last || !k->ended || !parts) {
        rd_kafka_metadata_destroy(md);
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
        scan_stop(k);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int p = 0; p < nparts; p++) {
        int32_t id = md->topics[0].partitions[p].id;
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(k->rk, topic, id, &lo, &hi, 15000);
        if (e) {
            rd_kafka_metadata_destroy(md);
            rd_kafka_topic_partition_list_destroy(parts);
            scan_stop(k);
            w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the offsets of topic %s: %s", topic,
                        rd_kafka_err2str(e));
            err->retryable = true;
            return -1;
        }
        if (id >= 0 && id < nparts && hi > lo) {
            k->last[id] = hi - 1;
            rd_kafka_topic_partition_list_add(parts, topic, id)->offset = RD_KAFKA_OFFSET_BEGINNING;
            k->left++;
        } else if (id >= 0 && id < nparts) {
            k->ended[id] = true;
        }
    }
    rd_kafka_metadata_destroy(md);
    e = k->left ? rd_kafka_assign(k->rk, parts) : RD_KAFKA_RESP_ERR_NO_ERROR;
    rd_kafka_topic_partition_list_destroy(parts);
    k->progress_ms = w2k_clock_mono_ms();
    if (e) {
        scan_stop(k);
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read topic %s: %s", topic, rd_kafka_err2str(e));
        err->retryable = true;
        return -1;
    }
    return 1;
}

/* Partition p is read up to where it ended when the scan began. */
static void partition_done(w2k_snapkeys_t *k, int32_t p)
{
    if (p >= 0 && p < k->nparts && !k->ended[p]) {
        k->ended[p] = true;
        k->left--;
    }
}

/* Read the current topic on for at most READ_MS; returns 1 when it is read up to
 * where it ended when the scan began, 0 when not yet, -1 with err. */
static int scan_read(w2k_snapkeys_t *k, w2k_err_t *err)
{
    int64_t start = w2k_clock_mono_ms();
    while (k->left > 0) {
        int64_t now = w2k_clock_mono_ms();
        if (now - k->progress_ms > IDLE_MS) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "reading back topic %s timed out (%d s)", k->cur,
                        IDLE_MS / 1000);
            w2k_err_hint(err, "check that the brokers are up and reachable");
            err->retryable = true;
            return -1;
        }
        if (now - start >= READ_MS)
            return 0;
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, READ_MS);
        if (!m)
            continue;
        k->progress_ms = w2k_clock_mono_ms();
        if (m->err && m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "reading back topic %s: %s", k->cur,
                        rd_kafka_message_errstr(m));
            err->retryable = true;
            rd_kafka_message_destroy(m);
            return -1;
        }
        int32_t p = m->partition;
        if (!m->rkt || strcmp(rd_kafka_topic_name(m->rkt), k->cur) != 0) {
            rd_kafka_message_destroy(m); /* left over from an earlier topic's scan */
            continue;
        }
        if (m->err) {
            /* the end, also when a transaction marker is the last offset */
            partition_done(k, p);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (p < 0 || p >= k->nparts || k->ended[p] || m->offset > k->last[p]) {
            partition_done(k, p); /* written since the scan began: its tombstones */
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->offset >= k->last[p])
            partition_done(k, p);
        int rc = m->key ? w2k_snapkeys_read(k, m->key, m->key_len, m->payload != NULL) : 0;
        rd_kafka_message_destroy(m);
        if (rc != 0) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory reading back topic %s", k->cur);
            return -1;
        }
    }
    return 1;
}

int w2k_snapkeys_scan_next(w2k_snapkeys_t *k, const void **key, size_t *len, w2k_err_t *err)
{
    if (k->cur) {
        int r = scan_read(k, err);
        if (r < 0) {
            scan_stop(k);
            live_clear(k);
            return -1;
        }
        if (r == 0)
            return 2;
        scan_stop(k);
    }
    return w2k_snapkeys_take(k, key, len);
}

uint64_t w2k_snapkeys_gone(const w2k_snapkeys_t *k)
{
    return k->gone;
}
