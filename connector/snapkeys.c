/* snapkeys.c — keys of a retaken snapshot, and the keys it left out of a topic. */
#include "snapkeys.h"
#include "avrofp.h"
#include "log.h"
#include "registry.h"

#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct w2k_snapkeys_s {
    uint64_t *slot; /* open addressing; 0 = empty */
    size_t cap;     /* a power of two */
    size_t n;
    /* the scan in progress */
    rd_kafka_t *rk;
    rd_kafka_message_t *msg; /* the message the last key points into */
    uint64_t seed;           /* hash of the table's name */
    int64_t *last;           /* per partition: the last offset to read */
    bool *ended;
    int nparts, left;
    uint64_t scanned, gone;
};

#define FNV_OFFSET 14695981039346656037ULL
#define FNV_PRIME  1099511628211ULL

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

static void scan_close(w2k_snapkeys_t *k)
{
    if (k->msg)
        rd_kafka_message_destroy(k->msg);
    k->msg = NULL;
    if (k->rk) {
        rd_kafka_consumer_close(k->rk);
        rd_kafka_destroy(k->rk);
    }
    k->rk = NULL;
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
    scan_close(k);
    free(k->slot);
    free(k);
}

/* Insert h; returns 1 when it was new, 0 when it was there, -1 when out of memory. */
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

int w2k_snapkeys_add(w2k_snapkeys_t *k, const char *schema, const char *name, const void *key,
                     size_t len)
{
    return insert(k, key_hash(table_seed(schema, name), key, len)) < 0 ? -1 : 0;
}

bool w2k_snapkeys_has(const w2k_snapkeys_t *k, const char *schema, const char *name,
                      const void *key, size_t len)
{
    uint64_t h = key_hash(table_seed(schema, name), key, len);
    for (size_t j = h & (k->cap - 1); k->slot[j]; j = (j + 1) & (k->cap - 1))
        if (k->slot[j] == h)
            return true;
    return false;
}

static void scan_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    w2k_log(W2K_LOG_DEBUG, "librdkafka (snapshot keys) %s: %s", fac, buf);
}

int w2k_snapkeys_scan_begin(w2k_snapkeys_t *k, const w2k_config_t *cfg, const char *topic,
                            const char *schema, const char *name, w2k_err_t *err)
{
    scan_close(k);
    k->seed = table_seed(schema, name);
    k->scanned = k->gone = 0;
    char errstr[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "bootstrap.servers", cfg->kafka_bootstrap, errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "group.id", "wal2kafka-snapshot-keys", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof errstr) ||
        rd_kafka_conf_set(conf, "isolation.level", "read_committed", errstr, sizeof errstr)) {
        rd_kafka_conf_destroy(conf);
        w2k_err_set(err, W2K_EXIT_CONFIG, "Kafka consumer settings: %s", errstr);
        return -1;
    }
    /* security and connection settings apply to the consumer too; producer-only ones
     * are ignored by librdkafka */
    for (int i = 0; i < cfg->nkafka_props; i++) {
        char *kv = strdup(cfg->kafka_props[i]), *eq = kv ? strchr(kv, '=') : NULL;
        if (eq) {
            *eq = '\0';
            rd_kafka_conf_set(conf, kv, eq + 1, errstr, sizeof errstr);
        }
        free(kv);
    }
    rd_kafka_conf_set_log_cb(conf, scan_log);
    k->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!k->rk) {
        rd_kafka_conf_destroy(conf);
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot create a Kafka consumer: %s", errstr);
        return -1;
    }
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(k->rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(k->rk, 0, rkt, &md, 15000);
    rd_kafka_topic_destroy(rkt);
    if (e) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the metadata of topic %s: %s", topic,
                    rd_kafka_err2str(e));
        w2k_err_hint(err, "check that the brokers are up and reachable");
        err->retryable = true;
        scan_close(k);
        return -1;
    }
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rd_kafka_metadata_destroy(md);
        scan_close(k);
        return 0; /* no such topic: the interrupted attempt wrote nothing there */
    }
    int nparts = md->topics[0].partition_cnt;
    k->last = calloc((size_t)nparts + 1, sizeof *k->last);
    k->ended = calloc((size_t)nparts + 1, sizeof *k->ended);
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    if (!k->last || !k->ended || !parts) {
        rd_kafka_metadata_destroy(md);
        if (parts)
            rd_kafka_topic_partition_list_destroy(parts);
        scan_close(k);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    k->nparts = nparts;
    for (int p = 0; p < nparts; p++) {
        int32_t id = md->topics[0].partitions[p].id;
        int64_t lo, hi;
        e = rd_kafka_query_watermark_offsets(k->rk, topic, id, &lo, &hi, 15000);
        if (e) {
            rd_kafka_metadata_destroy(md);
            rd_kafka_topic_partition_list_destroy(parts);
            scan_close(k);
            w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the offsets of topic %s: %s", topic,
                        rd_kafka_err2str(e));
            err->retryable = true;
            return -1;
        }
        if (id >= 0 && id < nparts && hi > lo) {
            k->last[id] = hi - 1;
            rd_kafka_topic_partition_list_add(parts, topic, id)->offset = lo;
            k->left++;
        } else if (id >= 0 && id < nparts) {
            k->ended[id] = true;
        }
    }
    rd_kafka_metadata_destroy(md);
    if (k->left)
        e = rd_kafka_assign(k->rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    if (!k->left) {
        scan_close(k);
        return 0;
    }
    if (e) {
        scan_close(k);
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

int w2k_snapkeys_scan_next(w2k_snapkeys_t *k, const void **key, size_t *len, w2k_err_t *err)
{
    if (k->msg)
        rd_kafka_message_destroy(k->msg);
    k->msg = NULL;
    while (k->rk && k->left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(k->rk, 30000);
        if (!m) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "reading back a topic timed out (30 s)");
            w2k_err_hint(err, "check that the brokers are up and reachable");
            err->retryable = true;
            scan_close(k);
            return -1;
        }
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            /* the end, also when a transaction marker is the last offset */
            partition_done(k, m->partition);
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->err) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "reading back topic %s: %s",
                        m->rkt ? rd_kafka_topic_name(m->rkt) : "?", rd_kafka_message_errstr(m));
            err->retryable = true;
            rd_kafka_message_destroy(m);
            scan_close(k);
            return -1;
        }
        int32_t p = m->partition;
        bool beyond = p < 0 || p >= k->nparts || k->ended[p] || m->offset > k->last[p];
        if (!beyond && m->offset >= k->last[p])
            partition_done(k, p);
        if (beyond || !m->key || !m->payload) {
            rd_kafka_message_destroy(m);
            continue;
        }
        k->scanned++;
        int fresh = insert(k, key_hash(k->seed, m->key, m->key_len));
        if (fresh < 0) {
            rd_kafka_message_destroy(m);
            scan_close(k);
            w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
            return -1;
        }
        if (!fresh) {
            rd_kafka_message_destroy(m);
            continue;
        }
        k->gone++;
        k->msg = m;
        *key = m->key;
        *len = m->key_len;
        return 1;
    }
    scan_close(k);
    return 0;
}

uint64_t w2k_snapkeys_scanned(const w2k_snapkeys_t *k)
{
    return k->scanned;
}

uint64_t w2k_snapkeys_gone(const w2k_snapkeys_t *k)
{
    return k->gone;
}
