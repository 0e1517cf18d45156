/* state.c — per-stream state records in <prefix>.state. */
#include "state.h"
#include "kconsumer.h"
#include "log.h"
#include "pgconn.h"

#include <inttypes.h>
#include <librdkafka/rdkafka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The string value of "name":"..." in a flat JSON object we wrote ourselves (no
 * escapes occur in our values). Returns 0, or -1 when absent or when the value holds a
 * byte none of ours holds (a control character, NUL, backslash or non-ASCII): a record
 * another producer wrote. */
static int json_field(const char *json, size_t len, const char *name, char *out, size_t outsz)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", name);
    size_t plen = strlen(pat);
    for (size_t i = 0; i + plen <= len; i++) {
        if (memcmp(json + i, pat, plen) != 0)
            continue;
        size_t s = i + plen, e = s;
        while (e < len && json[e] != '"') {
            unsigned char ch = (unsigned char)json[e];
            if (ch < 0x20 || ch >= 0x7f || ch == '\\')
                return -1;
            e++;
        }
        if (e >= len || e - s >= outsz)
            return -1;
        memcpy(out, json + s, e - s);
        out[e - s] = '\0';
        return 0;
    }
    return -1;
}

int w2k_state_parse(const char *json, size_t len, w2k_stream_state_t *out)
{
    char tl[16], lsn[24], kind[32];
    memset(out, 0, sizeof *out);
    if (json_field(json, len, "kind", kind, sizeof kind) || strcmp(kind, "wal2kafka.stream") ||
        json_field(json, len, "system_id", out->system_id, sizeof out->system_id) ||
        json_field(json, len, "timeline", tl, sizeof tl) ||
        json_field(json, len, "slot", out->slot, sizeof out->slot) ||
        json_field(json, len, "snapshot", out->snapshot, sizeof out->snapshot) ||
        json_field(json, len, "snapshot_lsn", lsn, sizeof lsn) ||
        w2k_lsn_parse(lsn, &out->snapshot_lsn) != 0)
        return -1;
    out->timeline = (unsigned)strtoul(tl, NULL, 10);
    if (json_field(json, len, "committed_lsn", lsn, sizeof lsn) == 0 &&
        w2k_lsn_parse(lsn, &out->committed_lsn) != 0)
        return -1;
    out->found = true;
    return 0;
}

void w2k_state_format(const w2k_stream_state_t *st, const char *stream, char *out, size_t outsz)
{
    char lsn[20], committed[20];
    snprintf(out, outsz,
             "{\"kind\":\"wal2kafka.stream\",\"stream\":\"%s\",\"system_id\":\"%s\","
             "\"timeline\":\"%u\",\"slot\":\"%s\",\"snapshot\":\"%s\",\"snapshot_lsn\":\"%s\","
             "\"committed_lsn\":\"%s\"}",
             stream, st->system_id, st->timeline, st->slot, st->snapshot,
             w2k_lsn_str(st->snapshot_lsn, lsn), w2k_lsn_str(st->committed_lsn, committed));
}

int w2k_state_write(w2k_sink_t *sink, const char *topic, const char *stream,
                    const w2k_stream_state_t *st, w2k_err_t *err)
{
    char json[1024];
    w2k_state_format(st, stream, json, sizeof json);
    w2k_sink_topic_t *t = w2k_sink_topic(sink, topic, W2K_TOPIC_COMPACT, err);
    if (!t)
        return -1;
    return w2k_sink_produce_sync(sink, t, stream, strlen(stream), json, strlen(json), 30000, err);
}

/* librdkafka's own log lines go through our log (its default writes raw "%3|..." lines
 * to stderr, which breaks log.format = json); a failure is reported by the caller. */
static void state_reader_log(const rd_kafka_t *rk, int level, const char *fac, const char *buf)
{
    (void)rk;
    (void)level;
    w2k_log(W2K_LOG_DEBUG, "librdkafka (state reader) %s: %s", fac, buf);
}

/* What the state reader's consumer reported on its way to failing (TLS, SASL). */
typedef struct reader_errors_s {
    rd_kafka_resp_err_t code;
    char reason[512];
} reader_errors_t;

static void state_reader_error(rd_kafka_t *rk, int code, const char *reason, void *opaque)
{
    (void)rk;
    reader_errors_t *e = opaque;
    if (code == RD_KAFKA_RESP_ERR__AUTHENTICATION || code == RD_KAFKA_RESP_ERR__SSL || !e->code) {
        e->code = (rd_kafka_resp_err_t)code;
        snprintf(e->reason, sizeof e->reason, "%s", reason);
    }
}

/* The SASL mechanism kafka.properties sets ("sasl.mechanism" is librdkafka's alias). */
static const char *sasl_mechanism(const w2k_config_t *cfg)
{
    const char *m = w2k_config_kafka_prop(cfg, "sasl.mechanisms");
    const char *alias = w2k_config_kafka_prop(cfg, "sasl.mechanism");
    return m ? m : alias ? alias : "GSSAPI";
}

/* SCRAM with a librdkafka before 2.6.1: it appends the client nonce twice, which Kafka
 * 4.x rejects as invalid credentials (confluentinc/librdkafka#4895). */
static bool scram_too_old(const w2k_config_t *cfg)
{
    return strncasecmp(sasl_mechanism(cfg), "SCRAM", 5) == 0 && rd_kafka_version() < 0x020601ff;
}

/* Explain a failure to reach Kafka by what librdkafka saw: credentials and
 * certificates are not healed by retrying. */
static void reach_error(w2k_err_t *err, const w2k_config_t *cfg, const char *topic,
                        rd_kafka_resp_err_t e, const reader_errors_t *seen)
{
    if (seen->code == RD_KAFKA_RESP_ERR__AUTHENTICATION && scram_too_old(cfg)) {
        w2k_err_set(err, W2K_EXIT_KAFKA,
                    "Kafka at %s refused %s authentication: %s — this librdkafka (%s) is too "
                    "old for SCRAM with Kafka 4.x brokers: versions before 2.6.1 send a proof "
                    "they reject even when the password is right (librdkafka#4895)",
                    cfg->kafka_bootstrap, sasl_mechanism(cfg), seen->reason,
                    rd_kafka_version_str());
        w2k_err_hint(err, "use librdkafka >= 2.6.1 (e.g. start wal2kafka with LD_LIBRARY_PATH "
                          "naming a directory that holds a newer librdkafka.so.1), or SASL "
                          "PLAIN over TLS (security.protocol=SASL_SSL, sasl.mechanisms=PLAIN); "
                          "with brokers older than Kafka 4.0, check sasl.username and "
                          "sasl.password in kafka.properties");
        return;
    }
    if (seen->code == RD_KAFKA_RESP_ERR__AUTHENTICATION) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "Kafka at %s refused the credentials: %s",
                    cfg->kafka_bootstrap, seen->reason);
        w2k_err_hint(err, "check sasl.mechanisms, sasl.username and sasl.password in "
                          "kafka.properties (and that the user exists on the brokers)");
        return;
    }
    if (seen->code == RD_KAFKA_RESP_ERR__SSL) {
        w2k_err_set(err, W2K_EXIT_KAFKA, "TLS with Kafka at %s failed: %s", cfg->kafka_bootstrap,
                    seen->reason);
        w2k_err_hint(err, "check ssl.ca.location (the CA that signed the brokers' certificates) "
                          "and the brokers' host names in kafka.properties");
        return;
    }
    w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read topic %s from Kafka at %s: %s", topic,
                cfg->kafka_bootstrap, rd_kafka_err2str(e));
    w2k_err_hint(err, "check that the brokers are up and reachable");
    err->retryable = true;
}

int w2k_state_read(const w2k_config_t *cfg, const char *topic, const char *stream,
                   w2k_stream_state_t *out, w2k_err_t *err)
{
    reader_errors_t seen = {0, ""};
    char errstr[512];
    memset(out, 0, sizeof *out);
    /* the reader stops at the end: a fetch there should not be held by the broker for
     * its default 500 ms before the end is reported (every start waits for it) */
    static const char *const fixed[][2] = {
        {"log_level", "3"}, {"fetch.wait.max.ms", "10"}, {NULL, NULL}};
    rd_kafka_conf_t *conf = w2k_kconsumer_conf(cfg, "wal2kafka-state", fixed, err);
    if (!conf)
        return -1;
    rd_kafka_conf_set_log_cb(conf, state_reader_log);
    rd_kafka_conf_set_error_cb(conf, state_reader_error);
    rd_kafka_conf_set_opaque(conf, &seen);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof errstr);
    if (!rk) {
        rd_kafka_conf_destroy(conf);
        w2k_err_set(err, W2K_EXIT_KAFKA, "cannot create a Kafka consumer: %s", errstr);
        return -1;
    }
    int rc = -1;
    const struct rd_kafka_metadata *md = NULL;
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    rd_kafka_resp_err_t e = rd_kafka_metadata(rk, 0, rkt, &md, 5000);
    if (e) {
        rd_kafka_poll(rk, 0); /* serve the error callback */
        reach_error(err, cfg, topic, e, &seen);
        goto out;
    }
    if (md->topic_cnt != 1 || md->topics[0].err) {
        rc = 0; /* no such topic yet: no state */
        goto out;
    }
    int nparts = md->topics[0].partition_cnt;
    rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(nparts);
    int64_t *high = calloc((size_t)nparts, sizeof *high);
    int left = 0;
    for (int p = 0; p < nparts; p++) {
        int64_t lo;
        int32_t id = md->topics[0].partitions[p].id;
        if ((e = rd_kafka_query_watermark_offsets(rk, topic, id, &lo, &high[p], 15000)) != 0) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "cannot read the offsets of %s: %s", topic,
                        rd_kafka_err2str(e));
            err->retryable = true;
            rd_kafka_topic_partition_list_destroy(parts);
            free(high);
            goto out;
        }
        if (high[p] > lo) {
            rd_kafka_topic_partition_list_add(parts, topic, id)->offset = lo;
            left++;
        }
    }
    rd_kafka_assign(rk, parts);
    rd_kafka_topic_partition_list_destroy(parts);
    size_t slen = strlen(stream);
    while (left > 0) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(rk, 15000);
        if (!m) {
            w2k_err_set(err, W2K_EXIT_KAFKA, "reading %s timed out", topic);
            err->retryable = true;
            free(high);
            goto out;
        }
        /* End of a partition: a control record (transaction marker) may be the last
         * offset, so the end is what librdkafka reports, not high - 1. */
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            left--;
        } else if (!m->err) {
            w2k_stream_state_t rec;
            if (m->key_len == slen && memcmp(m->key, stream, slen) == 0 && m->payload) {
                /* a message under the stream's name that is not a record (another
                 * producer's bytes) changes nothing: the last record stays the state */
                if (w2k_state_parse(m->payload, m->len, &rec) == 0) {
                    *out = rec;
                } else {
                    char msg[512];
                    snprintf(msg, sizeof msg,
                             "skipped a foreign message on %s partition %" PRId32 " offset %" PRId64
                             ": not a wal2kafka stream record",
                             topic, m->partition, m->offset);
                    w2k_log_hint(W2K_LOG_WARN, msg,
                                 "only wal2kafka should write to its state topic: stop the "
                                 "producer that does; the stream's last record is used");
                }
            }
        } else {
            w2k_warn_hint(w2k_log_kafka_hint("FETCH", rd_kafka_message_errstr(m)), "reading %s: %s",
                          topic, rd_kafka_message_errstr(m));
        }
        rd_kafka_message_destroy(m);
    }
    free(high);
    rc = 0;
out:
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    rd_kafka_consumer_close(rk);
    rd_kafka_destroy(rk);
    return rc;
}
