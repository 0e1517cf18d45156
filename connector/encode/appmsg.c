/* appmsg.c — application messages: prefix matching, topic names, and the fixed Avro
 * schemas wal2kafka.MessageKey / wal2kafka.Message encoded by hand (no avro-c: the
 * schema never changes). */
#include "appmsg.h"
#include "avrofp.h"
#include "pgtypes.h"

#include <stdio.h>
#include <string.h>

/* Written in Parsing Canonical Form (no defaults, no logical types), so the text that
 * is published is the text that is fingerprinted. */
static const char key_json[] = "{\"name\":\"wal2kafka.MessageKey\",\"type\":\"record\",\"fields\":["
                               "{\"name\":\"prefix\",\"type\":\"string\"}]}";
static const char value_json[] = "{\"name\":\"wal2kafka.Message\",\"type\":\"record\",\"fields\":["
                                 "{\"name\":\"prefix\",\"type\":\"string\"},"
                                 "{\"name\":\"content\",\"type\":\"bytes\"},"
                                 "{\"name\":\"transactional\",\"type\":\"boolean\"},"
                                 "{\"name\":\"txId\",\"type\":[\"null\",\"long\"]},"
                                 "{\"name\":\"lsn\",\"type\":\"long\"},"
                                 "{\"name\":\"commit_lsn\",\"type\":[\"null\",\"long\"]},"
                                 "{\"name\":\"commit_ts_ms\",\"type\":[\"null\",\"long\"]},"
                                 "{\"name\":\"db\",\"type\":\"string\"},"
                                 "{\"name\":\"ts_ms\",\"type\":\"long\"}]}";

bool w2k_appmsg_wanted(const w2k_stream_cfg_t *sc, const char *prefix)
{
    if (strncmp(prefix, "wal2kafka", 9) == 0)
        return false;
    for (int i = 0; i < sc->nmsg_prefixes; i++)
        if (strncmp(prefix, sc->msg_prefixes[i], strlen(sc->msg_prefixes[i])) == 0)
            return true;
    return false;
}

void w2k_appmsg_topic(const w2k_stream_cfg_t *sc, const char *prefix, char *out, size_t outsz)
{
    size_t max = outsz < 250 ? outsz : 250; /* Kafka: at most 249 characters */
    int n = snprintf(out, max, "%s.messages%s", sc->topic_prefix, sc->msg_per_prefix ? "." : "");
    if (!sc->msg_per_prefix || n < 0 || (size_t)n >= max)
        return;
    size_t len = (size_t)n;
    for (const char *p = prefix; *p && len + 1 < max; p++) {
        char ch = *p;
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                  (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-';
        out[len++] = ok ? ch : '_';
    }
    out[len] = '\0';
}

int w2k_appmsg_check_server(const w2k_config_t *cfg, const w2k_stream_cfg_t *sc, int version,
                            w2k_err_t *err)
{
    if (!sc->nmsg_prefixes || version >= 140000)
        return 0;
    w2k_err_set(err, W2K_EXIT_CONFIG,
                "%s:%d: stream %s forwards application messages (messages = { ... }), but "
                "PostgreSQL %d sends logical decoding messages to pgoutput only from version "
                "14",
                cfg->path, sc->line, sc->name, version / 10000);
    w2k_err_hint(err,
                 "remove the messages setting of stream %s, or upgrade PostgreSQL to 14 or "
                 "later",
                 sc->name);
    return -1;
}

const w2k_schema_t *w2k_appmsg_key_schema(void)
{
    static w2k_schema_t s;
    return w2k_schema_fixed(&s, key_json, sizeof key_json - 1);
}

const w2k_schema_t *w2k_appmsg_value_schema(void)
{
    static w2k_schema_t s;
    return w2k_schema_fixed(&s, value_json, sizeof value_json - 1);
}

/* ["null","long"]: null when absent. */
static void put_opt_long(w2k_buf_t *b, bool present, int64_t v)
{
    w2k_avro_write_long(b, present ? 1 : 0);
    if (present)
        w2k_avro_write_long(b, v);
}

int w2k_appmsg_encode(const w2k_appmsg_t *m, w2k_buf_t *key, w2k_buf_t *value)
{
    w2k_buf_reset(key);
    w2k_buf_reset(value);
    size_t plen = strlen(m->prefix);
    w2k_soe_put_header(key, w2k_appmsg_key_schema());
    w2k_avro_write_bytes(key, m->prefix, plen);

    w2k_soe_put_header(value, w2k_appmsg_value_schema());
    w2k_avro_write_bytes(value, m->prefix, plen);
    w2k_avro_write_bytes(value, m->content, m->len);
    w2k_buf_putc(value, m->transactional ? 1 : 0);
    put_opt_long(value, m->transactional && m->xid, m->xid);
    w2k_avro_write_long(value, (int64_t)m->lsn);
    put_opt_long(value, m->transactional && m->commit_lsn, (int64_t)m->commit_lsn);
    put_opt_long(value, m->transactional && m->commit_us, m->commit_us / 1000);
    w2k_avro_write_bytes(value, m->db ? m->db : "", m->db ? strlen(m->db) : 0);
    w2k_avro_write_long(value, m->ts_ms);
    return key->oom || value->oom ? -1 : 0;
}
