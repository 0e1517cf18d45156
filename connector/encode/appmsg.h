/* appmsg.h — application messages (pg_logical_emit_message) as wal2kafka forwards
 * them: which prefixes a stream forwards, their topic, and their fixed Avro schemas
 * wal2kafka.MessageKey and wal2kafka.Message (schemas/), single-object encoded. Pure:
 * no I/O. */
#ifndef W2K_APPMSG_H
#define W2K_APPMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avroenc.h"
#include "buf.h"
#include "config.h"
#include "pgoutput.h"

/* One logical decoding message to forward. */
typedef struct w2k_appmsg_s {
    const char *prefix;
    const void *content;
    size_t len;
    bool transactional;
    uint32_t xid;         /* transactional: the transaction's id, else 0 (unknown) */
    w2k_lsn_t lsn;        /* the message's own LSN */
    w2k_lsn_t commit_lsn; /* transactional: the commit LSN, else 0 */
    int64_t commit_us;    /* transactional: commit time, µs since 1970, else 0 */
    const char *db;       /* the database */
    int64_t ts_ms;        /* when wal2kafka handled it (ms since 1970) */
} w2k_appmsg_t;

/* Whether stream sc forwards messages with this prefix: it begins with one of the
 * stream's messages.prefixes, and it is not one of wal2kafka's own (wal2kafka...). */
bool w2k_appmsg_wanted(const w2k_stream_cfg_t *sc, const char *prefix);

/* The topic of a message with this prefix into out: <topic_prefix>.messages, or with
 * topic = "per_prefix" <topic_prefix>.messages.<prefix> with every character Kafka
 * does not allow in a topic name (other than letters, digits, '.', '_', '-') replaced
 * by '_', cut to Kafka's 249 characters. */
void w2k_appmsg_topic(const w2k_stream_cfg_t *sc, const char *prefix, char *out, size_t outsz);

/* Whether the server (server_version_num version) can give stream sc of cfg the
 * messages it asks for: pgoutput sends them from PostgreSQL 14. Returns 0, or -1 with
 * a configuration error naming the setting and the version, and the hint. */
int w2k_appmsg_check_server(const w2k_config_t *cfg, const w2k_stream_cfg_t *sc, int version,
                            w2k_err_t *err);

/* The fixed schemas: key wal2kafka.MessageKey { prefix } and value wal2kafka.Message.
 * Their json points to static text (not to be freed). */
const w2k_schema_t *w2k_appmsg_key_schema(void);
const w2k_schema_t *w2k_appmsg_value_schema(void);

/* Encode m's key and value, single-object encoded, into key and value (reset first).
 * Returns 0, or -1 when out of memory. */
int w2k_appmsg_encode(const w2k_appmsg_t *m, w2k_buf_t *key, w2k_buf_t *value);

#endif
