/* config.h — the configuration file (libconfig syntax): PostgreSQL connection, Kafka,
 * delivery limits, logging and the streams with their tables. config/wal2kafka.cfg
 * is the documented example. */
#ifndef W2K_CONFIG_H
#define W2K_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"

/* Operations a table publishes (bitmask). */
#define W2K_OP_INSERT   1u
#define W2K_OP_UPDATE   2u
#define W2K_OP_DELETE   4u
#define W2K_OP_TRUNCATE 8u
#define W2K_OP_ALL      15u

typedef struct w2k_table_cfg_s {
    char *schema;   /* "public" */
    char *name;     /* "orders" */
    char *filter;   /* row filter (SQL boolean expression), or NULL */
    char **columns; /* column list, or NULL for all columns */
    int ncolumns;
    unsigned ops;        /* W2K_OP_* */
    int line;            /* line of this entry in the file */
    char **hash_columns; /* columns sent as the HMAC-SHA-256 of their text (hex), or NULL */
    int nhash_columns;
    char **mask_columns; /* columns sent as the fixed mask W2K_MASK_TEXT, or NULL */
    int nmask_columns;
} w2k_table_cfg_t;

/* What a masked column (mask_columns) holds instead of its value. */
#define W2K_MASK_TEXT "****"

/* When a stream snapshots its tables. */
typedef enum w2k_snapshot_mode_e {
    W2K_SNAPSHOT_INITIAL,     /* when its slot is created: every row, then the changes */
    W2K_SNAPSHOT_NEVER,       /* changes from the slot's creation on only */
    W2K_SNAPSHOT_INITIAL_ONLY /* every row once, then stop (no slot) */
} w2k_snapshot_mode_t;

/* What to do when a stream's slot is gone or the server is not the one it streamed
 * from (failover, restore). */
typedef enum w2k_slot_lost_e {
    W2K_SLOT_LOST_ERROR,   /* stop with an error that explains the choices */
    W2K_SLOT_LOST_RECREATE /* create a new slot and snapshot again, announced */
} w2k_slot_lost_t;

/* Who evaluates row filters, column lists and operations. */
typedef enum w2k_filter_mode_e {
    W2K_FILTERS_AUTO,     /* PostgreSQL 15 and later: pushdown; older: connector */
    W2K_FILTERS_PUSHDOWN, /* in the publication: PostgreSQL sends nothing else */
    W2K_FILTERS_CONNECTOR /* by wal2kafka, on everything the table publishes */
} w2k_filter_mode_t;

/* Per-stream representation options (decimal_handling, time_precision, special_values); all zero is
 * the default. */
enum { W2K_DECIMAL_PRECISE = 0, W2K_DECIMAL_DOUBLE, W2K_DECIMAL_STRING };
enum { W2K_TIME_MICROS = 0, W2K_TIME_MILLIS };
enum { W2K_SPECIAL_MARKER = 0, W2K_SPECIAL_NULL };
typedef struct w2k_typeopts_s {
    int decimal; /* W2K_DECIMAL_*: numeric as decimal (or VariableScaleDecimal), as
                    double (NaN and infinities are doubles), or as its text */
    int time;    /* W2K_TIME_*: time, timestamp, timestamptz in micro- or milliseconds
                    (millis: time-millis int, the fraction truncated toward -infinity) */
    int special; /* W2K_SPECIAL_*: special values as a SpecialValue marker or as null */
} w2k_typeopts_t;

typedef struct w2k_stream_cfg_s {
    char *name;
    char *slot;
    char *publication;
    char *topic_prefix;
    w2k_snapshot_mode_t snapshot;
    w2k_slot_lost_t on_slot_lost;
    w2k_filter_mode_t filters;
    w2k_table_cfg_t *tables; /* names may hold * patterns (schema.*, schema.prefix_*) */
    int ntables;
    char **exclude; /* "schema.table" patterns left out of the patterns' matches */
    int nexclude;
    w2k_typeopts_t types; /* how values are represented (schemas/README.md) */
    char *hash_salt_file; /* owner-only file whose first line is the salt of hash_columns
                             (else W2K_HASH_SALT), or NULL */
    bool hashes;          /* a table entry of the stream has hash_columns */
    /* messages = { prefixes = [...]; topic = "single" | "per_prefix"; }: logical
     * decoding messages whose prefix begins with one of these are forwarded (none when
     * nmsg_prefixes is 0); msg_per_prefix: a topic per prefix, else <topic_prefix>.messages */
    char **msg_prefixes;
    int nmsg_prefixes;
    bool msg_per_prefix;
    /* transaction_metadata = true: BEGIN/END events on <topic_prefix>.transaction and a
     * `transaction` block in each change event (Debezium's shape) */
    bool txmeta;
    /* streaming = true (exactly-once, PostgreSQL 14+): pgoutput protocol 2 with
     * streaming 'on': a big transaction comes in blocks while in progress and is
     * produced into the open Kafka transaction, committed at its PostgreSQL commit */
    bool streaming;
    int line;
} w2k_stream_cfg_t;

typedef struct w2k_config_s {
    char *path;

    char *pg_conninfo;         /* libpq conninfo string or URI, without a password */
    char *pg_password_file;    /* file whose first line is the password, or NULL */
    int pg_receive_timeout_ms; /* silence after which a connection counts as dead; 0 = never */
    bool pg_failover_slots;    /* 17+: slots are created/altered with failover = true */

    /* 16+: the physical standby that holds and streams the slots and takes the snapshot,
     * or NULL (the server of pg_conninfo does) */
    char *pg_decoding_conninfo;

    char *kafka_bootstrap;
    char **kafka_props; /* "name=value" librdkafka properties, passed through */
    int nkafka_props;
    int topic_partitions;
    int topic_replication_factor;
    int64_t topic_min_compaction_lag_ms;
    int64_t topic_keyless_retention_ms;

    int retry_initial_ms; /* first reconnect delay; doubles up to retry_max_backoff_ms */
    int retry_max_backoff_ms;
    int retry_max_attempts;      /* consecutive failed attempts before giving up; 0 = no limit */
    int retry_max_duration_s;    /* give up after failing this long; 0 = no limit */
    bool exit_on_stream_failure; /* a stream that gives up stops the whole process */

    char *registry_url;           /* Confluent-compatible schema registry, or NULL */
    char *registry_user;          /* basic auth user, or NULL */
    char *registry_password_file; /* its password (else W2K_REGISTRY_PASSWORD), or NULL */
    char *registry_ca_file;       /* CA certificates for https, or NULL */

    char *metrics_listen;        /* "host:port" (host defaults to 127.0.0.1) for /metrics and
                                    /health, or NULL: not served */
    char *metrics_user;          /* basic auth user (then a password is required), or NULL */
    char *metrics_password_file; /* its password (else W2K_METRICS_PASSWORD), or NULL */
    char *metrics_tls_cert_file; /* PEM certificate (chain) to serve https, or NULL */
    char *metrics_tls_key_file;  /* its PEM private key (set with the certificate), or NULL */

    int max_in_flight;       /* messages produced but not yet acknowledged */
    int status_interval_ms;  /* standby status update period */
    int shutdown_timeout_ms; /* how long a stop waits for outstanding acknowledgements */
    int64_t wal_warn_mb;     /* warn when a slot holds back more WAL than this */
    bool exactly_once;       /* Kafka transactions, LSN stored with the messages */
    int commit_interval_ms;  /* exactly-once: longest a Kafka transaction stays open */
    /* messages await the broker's answer and none came for this long: the broker is
     * logged as silent (frozen, unreachable); 0 = never */
    int broker_silence_ms;
    int send_when_idle_ms; /* at-least-once: caught up and PostgreSQL silent this long:
                              send what was produced without waiting for linger.ms
                              (0: never) */

    /* transactional producers: Kafka aborts a transaction open longer than this
     * (transaction.timeout.ms) */
    int transaction_timeout_ms;
    /* hot standby instances: wait while another session holds a slot (looking every
     * standby_poll_ms); producers are transactional (fencing) in both delivery modes */
    bool standby_enabled;
    int standby_poll_ms;

    int log_level; /* w2k_loglevel_t */
    int log_json;

    w2k_stream_cfg_t *streams;
    int nstreams;
} w2k_config_t;

/* True when name matches pattern, where * matches any run of characters. */
bool w2k_glob_match(const char *pattern, const char *name);

/* True when table entry t names tables by a pattern (a * in its schema or name). */
bool w2k_table_is_pattern(const w2k_table_cfg_t *t);

/* True when one of stream sc's excludes matches schema.name. */
bool w2k_stream_excludes(const w2k_stream_cfg_t *sc, const char *schema, const char *name);

/* True when pattern entry t of stream sc takes table schema.name (excludes applied). */
bool w2k_pattern_matches(const w2k_stream_cfg_t *sc, const w2k_table_cfg_t *t, const char *schema,
                         const char *name);

/* The conninfo of the server that holds the streams' slots, streams them and takes the
 * initial snapshot: postgresql.decoding_conninfo when set, else postgresql.conninfo. */
const char *w2k_config_decoding(const w2k_config_t *cfg);

/* The value kafka.properties gives librdkafka property name (the last setting wins, as
 * in librdkafka), or NULL. Points into cfg. */
const char *w2k_config_kafka_prop(const w2k_config_t *cfg, const char *name);

/* Read and validate a configuration file. Returns a new config, or NULL with err
 * naming the file, the line and what to change. The caller frees it with
 * w2k_config_destroy(). */
w2k_config_t *w2k_config_load(const char *path, w2k_err_t *err);

/* Free a config; accepts NULL. */
void w2k_config_destroy(w2k_config_t *cfg);

#endif
