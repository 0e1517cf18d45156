/* history.h — `wal2kafka history` (every change of one row, read from its key's
 * partition) and `wal2kafka state` (a row or a whole table as it was at a time, folded
 * from the topic), answered from Kafka alone: the key is built from the key schema
 * exactly as the producer builds it, its partition computed with the producer's
 * partitioner, the start found with the broker's time index (offsetsForTimes). */
#ifndef W2K_HISTORY_H
#define W2K_HISTORY_H

#include <librdkafka/rdkafka.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "buf.h"
#include "config.h"
#include "err.h"
#include "registry.h"

/* Exit code of `state` when the time asked for lies before what the compacted topic
 * still holds exactly (documented in README.md and --help). */
#define W2K_EXIT_INEXACT 6

typedef enum w2k_hformat_e {
    W2K_HFORMAT_AUTO, /* table on a terminal, JSON lines otherwise */
    W2K_HFORMAT_TABLE,
    W2K_HFORMAT_JSON
} w2k_hformat_t;

typedef struct w2k_history_opts_s {
    bool state;         /* `state` (else `history`) */
    const char *table;  /* "schema.table" ("table" alone: schema public) */
    const char *key;    /* "col=value[,col=value]" (PostgreSQL text forms), or NULL */
    const char *since;  /* history: times as w2k_time_parse() reads them, or NULL */
    const char *until;  /* history */
    const char *at;     /* state; NULL = now */
    const char *stream; /* the stream whose topic prefix to use, or NULL (the one that
                           streams the table) */
    w2k_hformat_t format;
    w2k_registry_t *registry; /* for Confluent-framed messages, or NULL; borrowed */
} w2k_history_opts_t;

/* Run `history` or `state`, writing the result to out (progress and warnings go to
 * stderr). Returns 0, or -1 with err: W2K_EXIT_USAGE (bad option value), W2K_EXIT_CONFIG,
 * W2K_EXIT_KAFKA (topic missing, broker unreachable, undecodable message), or
 * W2K_EXIT_INEXACT (state: compaction may have merged what that time needs; the hint
 * gives the earliest time that can be answered exactly). */
int w2k_history_run(const w2k_config_t *cfg, const w2k_history_opts_t *o, FILE *out,
                    w2k_err_t *err);

/* Parse a time: "now"; a duration before now_us ("90s", "30m", "2h", "7d", "1w",
 * "1h30m", "500ms"); "@SECONDS[.fraction]" since 1970; or ISO 8601
 * "YYYY-MM-DD[(T| )HH:MM[:SS[.ffffff]]][Z|±HH[:MM]|±HHMM]" (without a zone: local time,
 * TZ; a date alone: its midnight). *us: microseconds since 1970 UTC. Returns 0, or -1
 * with why (a message). */
int w2k_time_parse(const char *s, int64_t now_us, int64_t *us, char *why, size_t whysz);

/* One col=value pair of --key. */
typedef struct w2k_keyval_s {
    char *col;
    char *val;
} w2k_keyval_t;

/* Parse "col=value[,col=value...]"; a value holding ',' or '"' is written in double
 * quotes with \" and \\ escapes. Returns 0 with *kv (free with w2k_keyspec_free) and *n,
 * or -1 with why. */
int w2k_keyspec_parse(const char *spec, w2k_keyval_t **kv, int *n, char *why, size_t whysz);
void w2k_keyspec_free(w2k_keyval_t *kv, int n);

/* The Avro body of a key record: schema_json is the key schema as stored (a record of
 * the key columns), kv the value of each field in PostgreSQL's text form (a column is
 * found by its field name or by its PostgreSQL name made a valid Avro name), converted
 * with the producer's own conversion (pgtypes.h). Appends to body. Returns 0, or -1
 * with err (W2K_EXIT_USAGE: a column missing, unknown or with a value its type cannot
 * take). */
int w2k_hist_key_body(const char *schema_json, const w2k_keyval_t *kv, int n, w2k_buf_t *body,
                      w2k_err_t *err);

/* The partition the producer's partitioner (partitioner: a librdkafka partitioner name,
 * NULL = murmur2_random) gives a key of len bytes among cnt partitions. rkt: a topic
 * handle (librdkafka's partitioner functions take one). */
int32_t w2k_hist_partition(const rd_kafka_topic_t *rkt, const char *partitioner, const void *key,
                           size_t len, int32_t cnt);

#endif
