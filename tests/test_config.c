/* test_config.c — the configuration parser: defaults, every setting, and an error that
 * names file and line for each kind of bad input. */
#include "config.h"
#include "unit.h"
#include "unit_helpers.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char path[64];

#define BASE                                                                                       \
    "postgresql = { conninfo = \"host=127.0.0.1 dbname=app user=w2k\"; };\n"                       \
    "kafka = { bootstrap_servers = \"127.0.0.1:9092\"; };\n"

/* The shared helpers (unit_helpers.h) with this file's path. */
static w2k_config_t *load(const char *text, w2k_err_t *err)
{
    return unit_config_load(path, text, err);
}

static void expect_error(const char *text, int line, const char *want, const char *want_hint)
{
    unit_config_error(path, text, line, want, want_hint);
}

static void defaults(void)
{
    w2k_err_t err;
    w2k_config_t *cfg =
        load(BASE "streams = ( { name = \"main\"; tables = ( \"public.orders\" ); } );\n", &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(cfg->pg_conninfo, "host=127.0.0.1 dbname=app user=w2k");
    CHECK(cfg->pg_password_file == NULL);
    CHECK(cfg->pg_failover_slots);
    CHECK_STR(cfg->kafka_bootstrap, "127.0.0.1:9092");
    CHECK_INT(cfg->nkafka_props, 0);
    CHECK_INT(cfg->topic_partitions, 1);
    CHECK_INT(cfg->topic_replication_factor, 1);
    CHECK_INT(cfg->topic_min_compaction_lag_ms, 86400000);
    CHECK_INT(cfg->topic_keyless_retention_ms, 86400000);
    CHECK_INT(cfg->max_in_flight, 100000);
    CHECK_INT(cfg->status_interval_ms, 1000);
    CHECK_INT(cfg->shutdown_timeout_ms, 30000);
    CHECK_INT(cfg->retry_initial_ms, 500);
    CHECK_INT(cfg->retry_max_backoff_ms, 30000);
    CHECK_INT(cfg->retry_max_attempts, 0);
    CHECK_INT(cfg->retry_max_duration_s, 600);
    CHECK_INT(cfg->transaction_timeout_ms, 900000);
    CHECK_INT(cfg->broker_silence_ms, 10000);
    CHECK_INT(cfg->send_when_idle_ms, 0);
    CHECK(!cfg->standby_enabled);
    CHECK_INT(cfg->standby_poll_ms, 500);
    CHECK_INT(cfg->nstreams, 1);
    CHECK_STR(cfg->streams[0].name, "main");
    CHECK_STR(cfg->streams[0].slot, "wal2kafka_main");
    CHECK_STR(cfg->streams[0].publication, "wal2kafka_main");
    CHECK_STR(cfg->streams[0].topic_prefix, "main");
    CHECK_INT(cfg->streams[0].ntables, 1);
    CHECK_STR(cfg->streams[0].tables[0].schema, "public");
    CHECK_STR(cfg->streams[0].tables[0].name, "orders");
    CHECK_INT(cfg->streams[0].tables[0].ops, W2K_OP_ALL);
    CHECK(cfg->streams[0].tables[0].filter == NULL);
    CHECK_INT(cfg->streams[0].tables[0].ncolumns, 0);
    CHECK_INT(cfg->streams[0].tables[0].line, 3);
    w2k_config_destroy(cfg);
}

static void everything(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(
        "postgresql = { conninfo = \"postgresql://w2k@db:5433/app?sslmode=verify-full\";\n"
        "  password_file = \"/run/secrets/pg\"; };\n"
        "kafka = { bootstrap_servers = \"k1:9092,k2:9092\";\n"
        "  properties = [ \"compression.type=lz4\", \"security.protocol=SASL_SSL\" ];\n"
        "  topic = { partitions = 6; replication_factor = 3; min_compaction_lag_ms = 3600000;\n"
        "            keyless_retention_ms = 604800000L; }; };\n"
        "delivery = { max_in_flight = 5000; status_interval_ms = 250; shutdown_timeout_ms = 0; };\n"
        "retry = { initial_backoff_ms = 100; max_backoff_ms = 2000; max_attempts = 7;\n"
        "          max_duration_s = 0; };\n"
        "log = { level = \"debug\"; format = \"json\"; };\n"
        "streams = (\n"
        "  { name = \"orders\"; slot = \"s1\"; publication = \"p1\"; topic_prefix = \"shop.pg\";\n"
        "    tables = ( \"Orders\", { name = \"sales.\\\"Line Items\\\"\";\n"
        "      filter = \"qty > 10\"; columns = [\"id\", \"qty\"];\n"
        "      operations = [\"insert\", \"delete\"]; } ); },\n"
        "  { name = \"audit\"; tables = ( { name = \"\\\"Audit\\\".log\"; } ); }\n"
        ");\n",
        &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_STR(cfg->pg_password_file, "/run/secrets/pg");
    CHECK_INT(cfg->nkafka_props, 2);
    CHECK_STR(cfg->kafka_props[1], "security.protocol=SASL_SSL");
    CHECK_INT(cfg->topic_partitions, 6);
    CHECK_INT(cfg->topic_replication_factor, 3);
    CHECK_INT(cfg->topic_min_compaction_lag_ms, 3600000);
    CHECK_INT(cfg->topic_keyless_retention_ms, 604800000LL);
    CHECK_INT(cfg->max_in_flight, 5000);
    CHECK_INT(cfg->status_interval_ms, 250);
    CHECK_INT(cfg->shutdown_timeout_ms, 0);
    CHECK_INT(cfg->retry_max_attempts, 7);
    CHECK_INT(cfg->retry_max_duration_s, 0);
    CHECK_INT(cfg->log_level, 0);
    CHECK_INT(cfg->log_json, 1);
    CHECK_INT(cfg->nstreams, 2);
    const w2k_stream_cfg_t *s = &cfg->streams[0];
    CHECK_STR(s->slot, "s1");
    CHECK_STR(s->publication, "p1");
    CHECK_STR(s->topic_prefix, "shop.pg");
    CHECK_INT(s->ntables, 2);
    CHECK_STR(s->tables[0].schema, "public");
    CHECK_STR(s->tables[0].name, "orders"); /* unquoted: folded to lower case */
    CHECK_STR(s->tables[1].schema, "sales");
    CHECK_STR(s->tables[1].name, "Line Items");
    CHECK_STR(s->tables[1].filter, "qty > 10");
    CHECK_INT(s->tables[1].ncolumns, 2);
    CHECK_STR(s->tables[1].columns[1], "qty");
    CHECK_INT(s->tables[1].ops, W2K_OP_INSERT | W2K_OP_DELETE);
    CHECK_INT(s->tables[1].line, 13);
    CHECK_STR(cfg->streams[1].tables[0].schema, "Audit");
    CHECK_STR(cfg->streams[1].tables[0].name, "log");
    CHECK_STR(cfg->streams[1].slot, "wal2kafka_audit");
    w2k_config_destroy(cfg);
}

static void errors(void)
{
    const char *streams = "streams = ( { name = \"main\"; tables = ( \"public.orders\" ); } );\n";
    char text[2048];

    snprintf(text, sizeof text, BASE "kafak = { };\n%s", streams);
    expect_error(text, 3, "unknown setting \"kafak\" in the top level", "known settings here");

    snprintf(text, sizeof text, BASE "delivery = {\n  max_in_flight = \"lots\"; };\n%s", streams);
    expect_error(text, 4, "setting \"max_in_flight\" must be an integer", "whole number");

    snprintf(text, sizeof text, BASE "delivery = { max_in_flight = 0; };\n%s", streams);
    expect_error(text, 3, "setting \"max_in_flight\" is 0, out of range", "from 1 to");

    snprintf(text, sizeof text,
             "postgresql = { conninfo = \"dbname=app\"; };\nkafka = { bootstrap_servers = "
             "\"k:9092\";\n  topic = { partitons = 3; }; };\n%s",
             streams);
    expect_error(text, 3, "unknown setting \"partitons\" in kafka.topic", "partitions");

    snprintf(text, sizeof text, BASE "log = { level = \"loud\"; };\n%s", streams);
    expect_error(text, 3, "unknown log level", "debug, info, warn, error");

    expect_error(BASE "streams = ( { name = \"main\";\n  tables = ( \"public.orders\" ) = ; } );\n",
                 4, "syntax error", "name = value");

    expect_error("kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 0, "missing group \"postgresql\"", "conninfo");

    expect_error("postgresql = {\n  conninfo = \"dbname=app password=hunter2\"; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "conninfo contains a password", "PGPASSWORD");
    expect_error("postgresql = { conninfo = \"dbname=app\";\n  failover_slots = \"yes\"; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "setting \"failover_slots\" must be true or false", "failover_slots = true;");
    {
        w2k_err_t err;
        w2k_config_t *cfg = load("postgresql = { conninfo = \"dbname=app\"; failover_slots = "
                                 "false; };\n"
                                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                                 &err);
        CHECK(cfg != NULL && !cfg->pg_failover_slots);
        w2k_config_destroy(cfg);
    }

    /* postgresql.decoding_conninfo: unset = the primary decodes; else a conninfo */
    {
        w2k_err_t err;
        w2k_config_t *cfg =
            load(BASE "streams = ( { name = \"main\"; tables = ( \"t\" ); } );\n", &err);
        CHECK(cfg != NULL && cfg->pg_decoding_conninfo == NULL);
        if (cfg)
            CHECK_STR(w2k_config_decoding(cfg), cfg->pg_conninfo);
        w2k_config_destroy(cfg);
        cfg = load("postgresql = { conninfo = \"dbname=app\"; decoding_conninfo = "
                   "\"host=standby dbname=app\"; };\n"
                   "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                   "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                   &err);
        CHECK(cfg != NULL);
        if (cfg)
            CHECK_STR(w2k_config_decoding(cfg), "host=standby dbname=app");
        w2k_config_destroy(cfg);
    }
    expect_error("postgresql = { conninfo = \"dbname=app\";\n  decoding_conninfo = 5; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "setting \"decoding_conninfo\" must be a non-empty conninfo string",
                 "physical standby");
    expect_error("postgresql = { conninfo = \"dbname=app\";\n  decoding_conninfo = \" \"; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "setting \"decoding_conninfo\" must be a non-empty conninfo string", NULL);
    expect_error("postgresql = { conninfo = \"dbname=app\";\n  decoding_conninfo = "
                 "\"host=s password=x\"; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "decoding_conninfo contains a password", "PGPASSWORD");
    expect_error("postgresql = { conninfo = \"dbname=app\";\n  decoding_conninfo = "
                 "\"host=s nosuchkey=1\"; };\n"
                 "kafka = { bootstrap_servers = \"k:9092\"; };\n"
                 "streams = ( { name = \"main\"; tables = ( \"orders\" ); } );\n",
                 2, "decoding_conninfo \"host=s nosuchkey=1\" is not a valid conninfo",
                 "postgresql://standby");

    expect_error(BASE "streams = ( { name = \"main\";\n  tables = ( \"a.b.c\" ); } );\n", 4,
                 "table name \"a.b.c\" is not of the form schema.table", "schema.table");

    expect_error(BASE
                 "streams = ( { name = \"main\";\n  tables = ( \"t\",\n  \"public.t\" ); } );\n",
                 5, "table public.t appears twice", NULL);

    expect_error(BASE "streams = ( { name = \"main\";\n  tables = ( { name = \"t\";\n"
                      "  operations = [\"insert\", \"upsert\"]; } ); } );\n",
                 5, "unknown operation \"upsert\"", "operations");

    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"t\" ); },\n"
                      "  { name = \"b\"; slot = \"wal2kafka_a\"; tables = ( \"t\" ); } );\n",
                 4, "share the same slot", NULL);

    expect_error(BASE "streams = ( { name = \"Main Stream\"; tables = ( \"t\" ); } );\n", 3,
                 "stream name \"Main Stream\" is not a valid name", NULL);

    expect_error(BASE "streams = ( { name = \"main\"; tables = ( ); } );\n", 3,
                 "needs a non-empty list \"tables\"", NULL);

    expect_error(BASE "streams = ( { name = \"main\"; topic_prefix = \"a/b\"; tables = ( \"t\" ); "
                      "} );\n",
                 3, "topic_prefix \"a/b\" is not valid", NULL);

    expect_error(BASE "kafka2 = 1;\n", 3, "unknown setting \"kafka2\"", NULL);

    w2k_err_t err;
    w2k_err_clear(&err);
    w2k_config_t *cfg = w2k_config_load("/nonexistent/wal2kafka.cfg", &err);
    CHECK(cfg == NULL);
    CHECK(strstr(err.msg, "cannot open configuration file /nonexistent/wal2kafka.cfg") != NULL);
    CHECK(strstr(err.hint, "--config") != NULL);
}

/* The documented example must load as written. */
static void example_file(const char *fixtures)
{
    char example[600];
    snprintf(example, sizeof example, "%s/../../config/wal2kafka.cfg", fixtures);
    w2k_err_t err;
    w2k_err_clear(&err);
    w2k_config_t *cfg = w2k_config_load(example, &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(cfg->nstreams, 1);
    CHECK_INT(cfg->streams[0].ntables, 2);
    CHECK_STR(cfg->streams[0].topic_prefix, "app");
    w2k_config_destroy(cfg);
}

/* hash_columns, mask_columns and hash_salt_file: read, and the wrong forms refused. */
static void masks(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(BASE "streams = ( { name = \"main\"; hash_salt_file = \"/s\";\n"
                                  "  tables = ( { name = \"public.users\"; hash_columns = "
                                  "[\"email\", \"id\"]; mask_columns = [\"card\"]; },\n"
                                  "  \"public.orders\" ); } );\n",
                             &err);
    CHECK(cfg != NULL);
    if (cfg) {
        const w2k_stream_cfg_t *s = &cfg->streams[0];
        CHECK_STR(s->hash_salt_file, "/s");
        CHECK(s->hashes);
        CHECK_INT(s->tables[0].nhash_columns, 2);
        CHECK_STR(s->tables[0].hash_columns[1], "id");
        CHECK_INT(s->tables[0].nmask_columns, 1);
        CHECK_STR(s->tables[0].mask_columns[0], "card");
        CHECK_INT(s->tables[1].nhash_columns, 0);
    }
    w2k_config_destroy(cfg);
    cfg =
        load(BASE "streams = ( { name = \"main\";\n"
                  "  tables = ( { name = \"public.users\"; mask_columns = [\"card\"]; } ); } );\n",
             &err);
    CHECK(cfg && !cfg->streams[0].hashes);
    w2k_config_destroy(cfg);
    expect_error(BASE "streams = ( { name = \"main\";\n  tables = ( { name = \"public.u\";\n"
                      "  hash_columns = [ ]; } ); } );\n",
                 5, "\"hash_columns\" must be a non-empty list of column names",
                 "hash_columns = [");
    expect_error(BASE "streams = ( { name = \"main\";\n  tables = ( { name = \"public.u\";\n"
                      "  hash_columns = [\"a\"]; mask_columns = [\"a\"]; } ); } );\n",
                 4, "column \"a\" is both in hash_columns and in mask_columns", "one of the two");
}

/* The representation options of a stream: defaults, every value, a wrong one. */
static void typeopts(void)
{
    w2k_err_t err;
    w2k_config_t *cfg =
        load(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" ); },\n"
                  "  { name = \"b\"; tables = ( \"public.u\" );\n"
                  "    decimal_handling = \"double\"; time_precision = \"millis\";\n"
                  "    special_values = \"null\"; },\n"
                  "  { name = \"c\"; tables = ( \"public.v\" );\n"
                  "    decimal_handling = \"string\"; } );\n",
             &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(cfg->streams[0].types.decimal, W2K_DECIMAL_PRECISE);
    CHECK_INT(cfg->streams[0].types.time, W2K_TIME_MICROS);
    CHECK_INT(cfg->streams[0].types.special, W2K_SPECIAL_MARKER);
    CHECK_INT(cfg->streams[1].types.decimal, W2K_DECIMAL_DOUBLE);
    CHECK_INT(cfg->streams[1].types.time, W2K_TIME_MILLIS);
    CHECK_INT(cfg->streams[1].types.special, W2K_SPECIAL_NULL);
    CHECK_INT(cfg->streams[2].types.decimal, W2K_DECIMAL_STRING);
    w2k_config_destroy(cfg);
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  time_precision = \"nanos\"; } );\n",
                 4, "unknown time_precision value", "\"micros\" (default) or \"millis\"");
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"public.t\" );\n"
                      "  decimal_handling = \"exact\"; } );\n",
                 4, "unknown decimal_handling value", "\"precise\" (default)");
}

/* standby = { ... } and delivery.transaction_timeout_ms: values and errors. */
static void standby(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(BASE "delivery = { transaction_timeout_ms = 30000; };\n"
                                  "standby = { enabled = true; poll_ms = 200; };\n"
                                  "streams = ( { name = \"a\"; tables = ( \"public.t\" ); } );\n",
                             &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK(cfg->standby_enabled);
    CHECK_INT(cfg->standby_poll_ms, 200);
    CHECK_INT(cfg->transaction_timeout_ms, 30000);
    w2k_config_destroy(cfg);
    expect_error(BASE "standby = { enabled = \"yes\"; };\n", 3,
                 "\"standby.enabled\" must be true or false", "enabled = true;");
    expect_error(BASE "standby = { poll_ms = 10; };\n", 3, "poll_ms", NULL);
    expect_error(BASE "standby = { enable = true; };\n", 3, "enable", NULL);
    expect_error(BASE "delivery = { transaction_timeout_ms = 999999999; };\n", 3,
                 "transaction_timeout_ms", NULL);
    /* delivery.broker_silence_ms: 0 (never) to an hour */
    cfg = load(BASE "delivery = { broker_silence_ms = 0; };\n"
                    "streams = ( { name = \"a\"; tables = ( \"public.t\" ); } );\n",
               &err);
    CHECK(cfg != NULL && cfg->broker_silence_ms == 0);
    w2k_config_destroy(cfg);
    expect_error(BASE "delivery = { broker_silence_ms = -1; };\n", 3, "broker_silence_ms", NULL);
    expect_error(BASE "delivery = { broker_silence_ms = \"10s\"; };\n", 3, "broker_silence_ms",
                 NULL);
}

/* streaming = true: a per-stream bool, only with delivery.exactly_once and without
 * transaction_metadata; off by default. */
static void streaming(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(BASE "delivery = { exactly_once = true; };\n"
                                  "streams = ( { name = \"a\"; tables = ( \"t\" ); "
                                  "streaming = true; },\n"
                                  "  { name = \"b\"; tables = ( \"u\" ); } );\n",
                             &err);
    CHECK(cfg != NULL);
    if (cfg) {
        CHECK(cfg->streams[0].streaming);
        CHECK(!cfg->streams[1].streaming);
    }
    w2k_config_destroy(cfg);
    expect_error(BASE "streams = ( { name = \"a\"; tables = ( \"t\" );\n streaming = true; } );\n",
                 4, "stream \"a\": streaming = true needs delivery.exactly_once = true",
                 "delivery.exactly_once = true;");
    expect_error(BASE
                 "delivery = { exactly_once = true; };\n"
                 "streams = ( { name = \"a\"; tables = ( \"t\" );\n streaming = \"on\"; } );\n",
                 5, "setting \"streaming\" must be true or false", "streaming = true;");
    expect_error(BASE "delivery = { exactly_once = true; };\n"
                      "streams = ( { name = \"a\"; tables = ( \"t\" ); transaction_metadata = "
                      "true;\n streaming = true; } );\n",
                 5, "streaming = true and transaction_metadata = true cannot be combined",
                 "remove streaming = true");
}

/* delivery.send_when_idle_ms: a value, and the error naming it with the accepted range. */
static void send_when_idle(void)
{
    w2k_err_t err;
    w2k_config_t *cfg = load(BASE "delivery = { send_when_idle_ms = 1; };\n"
                                  "streams = ( { name = \"a\"; tables = ( \"public.t\" ); } );\n",
                             &err);
    CHECK(cfg != NULL);
    if (!cfg) {
        fprintf(stderr, "%s\n", err.msg);
        return;
    }
    CHECK_INT(cfg->send_when_idle_ms, 1);
    w2k_config_destroy(cfg);
    expect_error(BASE "delivery = { send_when_idle_ms = 5000; };\n", 3,
                 "\"send_when_idle_ms\" is 5000, out of range", "from 0 to 1000");
}

int main(int argc, char **argv)
{
    example_file(argc > 1 ? argv[1] : "tests/fixtures");
    snprintf(path, sizeof path, "/tmp/w2k-test-config-%d.cfg", (int)getpid());
    defaults();
    everything();
    errors();
    typeopts();
    masks();
    standby();
    streaming();
    send_when_idle();
    unlink(path);
    return unit_report("test_config");
}
