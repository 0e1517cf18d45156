/* main.c — the wal2kafka command line (run, check, snapshot, slot, ddl, history, state):
 * options, signals and exit codes; `run` hands the configuration to the main loop
 * (session/runner.c). */
#include "catalog.h"
#include "check.h"
#include "ddl.h"
#include "config.h"
#include "err.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "registry.h"
#include "resnap.h"
#include "runner.h"
#include "secret.h"
#include "signals.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_main[] =
    "wal2kafka — stream PostgreSQL row changes to Kafka as Avro\n"
    "\n"
    "Usage:\n"
    "  wal2kafka run --config FILE        stream every configured table until stopped\n"
    "  wal2kafka check --config FILE      verify everything streaming needs; print each\n"
    "                                     problem with its fix\n"
    "  wal2kafka snapshot --config FILE --table SCHEMA.TABLE [--stream NAME]\n"
    "                                     re-read a table into its topic while streaming\n"
    "                                     goes on\n"
    "  wal2kafka ddl install|remove --config FILE\n"
    "                                     add/remove the event trigger that announces\n"
    "                                     CREATE/ALTER/DROP TABLE even when no row follows\n"
    "  wal2kafka slot show --config FILE  show each stream's replication slot\n"
    "  wal2kafka slot drop --config FILE --stream NAME\n"
    "                                     drop a stream's replication slot (its position\n"
    "                                     is lost: the next run starts from now)\n"
    "  wal2kafka history --config FILE --table SCHEMA.TABLE --key COL=VALUE[,...]\n"
    "                                     every change of one row, read from Kafka\n"
    "  wal2kafka state --config FILE --table SCHEMA.TABLE [--key ...] [--at TIME]\n"
    "                                     a row or the table as it was at a time\n"
    "  wal2kafka --help | --version\n"
    "\n"
    "Each command takes --help. The configuration is a libconfig file; see\n"
    "config/wal2kafka.cfg for every setting.\n"
    "\n"
    "Exit codes:\n"
    "  0  stopped on request (SIGINT/SIGTERM) or command done\n"
    "  1  streaming failed and retries were exhausted\n"
    "  2  bad command line\n"
    "  3  configuration file missing or invalid\n"
    "  4  PostgreSQL refused or is set up wrong (the message says what to change)\n"
    "  5  Kafka refused or is set up wrong (the message says what to change)\n"
    "  6  state: the time asked for lies before what the compacted topic still holds\n"
    "     exactly (the message gives the earliest time that can be answered)\n";

static const char usage_run[] =
    "Usage: wal2kafka run --config FILE\n"
    "\n"
    "Creates each stream's publication and pgoutput slot when missing, then streams every\n"
    "committed INSERT, UPDATE, DELETE and TRUNCATE of the configured tables to Kafka\n"
    "(topic <prefix>.<schema>.<table>, Avro, keyed by primary key). The slot is confirmed\n"
    "only as far as the broker has acknowledged. Reconnects with backoff when PostgreSQL\n"
    "or Kafka go away. SIGINT or SIGTERM: stop reading, wait for outstanding\n"
    "acknowledgements (delivery.shutdown_timeout_ms), confirm, exit 0.\n";

static const char usage_check[] =
    "Usage: wal2kafka check --config FILE\n"
    "\n"
    "Preflight: connects to PostgreSQL (normally and for replication) and Kafka, and checks\n"
    "wal_level, the role's REPLICATION attribute and SELECT privileges, free replication\n"
    "slots and WAL senders, each table (exists, has a key, replica identity fits its row\n"
    "filter), each stream's publication and slot (usable, not active elsewhere, not\n"
    "invalidated, WAL retained), and that the server is the one the stream streamed from.\n"
    "Prints every problem found with its fix. Exit 0 only when streaming can start.\n";

static const char usage_snapshot[] =
    "Usage: wal2kafka snapshot --config FILE --table SCHEMA.TABLE [--stream NAME]\n"
    "\n"
    "Asks the running wal2kafka (through a logical message in the WAL, so it also works\n"
    "when wal2kafka starts later) to read every row of the table again into its topic,\n"
    "as 'r' events, while streaming goes on. The table is read in key order in chunks,\n"
    "each between a low and a high watermark in the WAL (the DBLog method): a row changed\n"
    "while its chunk is read is left to the stream, so an older version of a row never\n"
    "lands after a newer one. Without --stream, every stream that has the table does it.\n"
    "The table needs a primary key.\n";

static const char usage_ddl[] =
    "Usage: wal2kafka ddl install --config FILE\n"
    "       wal2kafka ddl remove --config FILE\n"
    "\n"
    "install: create (or replace) the event trigger wal2kafka_ddl_end/_drop and its function\n"
    "wal2kafka.capture_ddl() in the configured database. Each CREATE TABLE, ALTER TABLE and\n"
    "DROP TABLE then writes a transactional logical message that running streams turn into\n"
    "an event on <prefix>.schema_changes, in commit order, even when no row follows.\n"
    "Event triggers need a superuser: run it once with a superuser's conninfo.\n"
    "remove: drop the trigger and its function.\n";

static const char usage_slot[] =
    "Usage: wal2kafka slot show --config FILE\n"
    "       wal2kafka slot drop --config FILE --stream NAME\n"
    "\n"
    "show: each stream's slot: whether it exists, active PID, confirmed LSN, WAL retained.\n"
    "drop: drop the stream's slot. Changes not yet confirmed are then lost to wal2kafka;\n"
    "the next run creates a new slot that starts at that moment.\n";

static volatile sig_atomic_t stop_requested;

static void on_signal(int sig)
{
    (void)sig;
    stop_requested = 1;
}

/* Set once `run` has its logs configured: errors are then log lines too. */
static bool report_as_log;

static int report(const w2k_err_t *err)
{
    if (report_as_log) {
        w2k_log_hint(W2K_LOG_ERROR, err->msg, w2k_err_hint_or_default(err));
        return err->code ? err->code : W2K_EXIT_RUNTIME;
    }
    fprintf(stderr, "error: %s\n", err->msg);
    if (err->hint[0]) {
        fputs("hint: ", stderr);
        for (const char *p = err->hint; *p; p++) {
            fputc(*p, stderr);
            if (*p == '\n')
                fputs("      ", stderr);
        }
        fputc('\n', stderr);
    }
    return err->code ? err->code : W2K_EXIT_RUNTIME;
}

/* The schema registry of the configuration; its password comes from
 * schema_registry.password_file or W2K_REGISTRY_PASSWORD. */
static w2k_registry_t *open_registry(const w2k_config_t *cfg, w2k_err_t *err)
{
    char password[1024];
    if (w2k_secret_read(cfg->registry_password_file, "schema_registry.password_file",
                        "W2K_REGISTRY_PASSWORD", password, sizeof password, err) != 0)
        return NULL;
    w2k_registry_t *reg =
        w2k_registry_new(cfg->registry_url, cfg->registry_user, password[0] ? password : NULL,
                         cfg->registry_ca_file, err);
    w2k_secret_wipe(password, sizeof password);
    return reg;
}

static int cmd_run(const w2k_config_t *cfg)
{
    w2k_err_t err;
    w2k_err_clear(&err);
    char password[1024] = "";
    /* a password file that cannot be used is a configuration error, found before any
     * stream starts (and retries) */
    if (cfg->pg_password_file &&
        w2k_secret_read_file(cfg->pg_password_file, "postgresql.password_file", password,
                             sizeof password, &err) != 0)
        return report(&err);
    w2k_secret_wipe(password, sizeof password);
    if (cfg->metrics_user &&
        w2k_secret_read(cfg->metrics_password_file, "metrics.password_file", "W2K_METRICS_PASSWORD",
                        password, sizeof password, &err) != 0)
        return report(&err);
    w2k_metrics_opts_t mo = {.listen = cfg->metrics_listen,
                             .tls_cert_file = cfg->metrics_tls_cert_file,
                             .tls_key_file = cfg->metrics_tls_key_file,
                             .username = cfg->metrics_user,
                             .password = password};
    w2k_metrics_t *metrics = w2k_metrics_start_opts(&mo, &err);
    w2k_secret_wipe(password, sizeof password);
    if (!metrics)
        return report(&err);
    if (cfg->metrics_listen)
        w2k_info("metrics on http%s://%.*s:%d/metrics, health on /health",
                 cfg->metrics_tls_cert_file ? "s" : "",
                 (int)(strrchr(cfg->metrics_listen, ':') - cfg->metrics_listen),
                 cfg->metrics_listen, w2k_metrics_port(metrics));
    w2k_registry_t *reg = NULL;
    if (cfg->registry_url && !(reg = open_registry(cfg, &err))) {
        w2k_metrics_stop(metrics);
        return report(&err);
    }
    int rc = w2k_runner_run(cfg, reg, metrics, &stop_requested);
    w2k_registry_destroy(reg);
    w2k_metrics_stop(metrics);
    return rc;
}

static int cmd_slot(const w2k_config_t *cfg, const char *action, const char *stream)
{
    w2k_err_t err;
    bool named = !stream;
    for (int i = 0; i < cfg->nstreams && !named; i++)
        named = strcmp(cfg->streams[i].name, stream) == 0;
    if (!named) {
        w2k_err_set(&err, W2K_EXIT_USAGE, "no stream named \"%s\" in %s", stream, cfg->path);
        return report(&err);
    }
    /* the slots live on the decoding server (postgresql.decoding_conninfo, else conninfo) */
    PGconn *c = w2k_pg_connect(w2k_config_decoding(cfg), cfg->pg_password_file, false, &err);
    if (!c)
        return report(&err);
    int rc = W2K_EXIT_OK, found = 0;
    for (int i = 0; i < cfg->nstreams; i++) {
        const w2k_stream_cfg_t *sc = &cfg->streams[i];
        if (stream && strcmp(stream, sc->name) != 0)
            continue;
        found = 1;
        w2k_slot_info_t info;
        if (w2k_catalog_slot(c, sc->slot, &info, &err) != 0) {
            rc = report(&err);
            break;
        }
        if (strcmp(action, "show") == 0) {
            char lsn[20], rlsn[20];
            if (!info.exists)
                printf("stream %s: slot %s does not exist (run creates it)\n", sc->name, sc->slot);
            else
                printf("stream %s: slot %s plugin=%s database=%s active=%s%s%.0d "
                       "confirmed_flush_lsn=%s restart_lsn=%s wal_status=%s\n",
                       sc->name, sc->slot, info.plugin, info.database, info.active ? "yes" : "no",
                       info.active ? " pid=" : "", info.active ? info.active_pid : 0,
                       w2k_lsn_str(info.confirmed_flush, lsn), w2k_lsn_str(info.restart_lsn, rlsn),
                       info.wal_status[0] ? info.wal_status : "-");
            continue;
        }
        if (!info.exists) {
            printf("stream %s: slot %s does not exist; nothing to drop\n", sc->name, sc->slot);
            continue;
        }
        const char *p[1] = {sc->slot};
        PGresult *res = w2k_pg_query(c, &err, "cannot drop the replication slot",
                                     "SELECT pg_drop_replication_slot($1)", 1, p);
        if (!res) {
            rc = report(&err);
            break;
        }
        PQclear(res);
        printf("stream %s: dropped slot %s\n", sc->name, sc->slot);
    }
    PQfinish(c);
    if (!found && stream) {
        w2k_err_set(&err, W2K_EXIT_USAGE, "no stream named \"%s\" in %s", stream, cfg->path);
        return report(&err);
    }
    return rc;
}

static int cmd_ddl(const w2k_config_t *cfg, const char *action)
{
    w2k_err_t err;
    PGconn *c = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, &err);
    if (!c)
        return report(&err);
    int install = strcmp(action, "install") == 0;
    int rc = install ? w2k_ddl_install(c, &err) : w2k_ddl_remove(c, &err);
    if (rc == 0)
        printf("%s the DDL capture trigger in database %s\n", install ? "installed" : "removed",
               PQdb(c));
    PQfinish(c);
    return rc == 0 ? W2K_EXIT_OK : report(&err);
}

static int cmd_snapshot(const w2k_config_t *cfg, const char *table, const char *stream)
{
    w2k_err_t err;
    char schema[128], name[128];
    const char *dot = strchr(table, '.');
    if (!dot || dot == table || !dot[1] || (size_t)(dot - table) >= sizeof schema) {
        w2k_err_set(&err, W2K_EXIT_USAGE, "--table %s is not of the form schema.table", table);
        return report(&err);
    }
    snprintf(schema, sizeof schema, "%.*s", (int)(dot - table), table);
    snprintf(name, sizeof name, "%s", dot + 1);
    int found = !stream;
    for (int i = 0; i < cfg->nstreams && !found; i++)
        found = strcmp(cfg->streams[i].name, stream) == 0;
    if (!found) {
        w2k_err_set(&err, W2K_EXIT_USAGE, "no stream named \"%s\" in %s", stream, cfg->path);
        return report(&err);
    }
    PGconn *c = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, &err);
    if (!c)
        return report(&err);
    char content[400];
    snprintf(content, sizeof content, "%s\x1f%s\x1f%s", stream ? stream : "*", schema, name);
    const char *p[2] = {W2K_SNAPSHOT_REQUEST_PREFIX, content};
    PGresult *r =
        w2k_pg_query(c, &err, "cannot request the re-snapshot", w2k_signals_emit_sql(c), 2, p);
    if (!r && w2k_signals_uses_table(PQserverVersion(c)) && strstr(err.msg, "does not exist"))
        w2k_err_hint(&err, "before PostgreSQL 14 the request goes through the signal table "
                           "wal2kafka." W2K_SIGNAL_TABLE ", which wal2kafka run creates: start the "
                           "stream first");
    PQfinish(c);
    if (!r)
        return report(&err);
    PQclear(r);
    printf("requested a re-snapshot of %s.%s%s%s; the running wal2kafka takes it from the WAL\n",
           schema, name, stream ? " for stream " : "", stream ? stream : "");
    return W2K_EXIT_OK;
}

static int usage_error(const char *msg, const char *usage)
{
    fprintf(stderr, "error: %s\n\n%s", msg, usage);
    return W2K_EXIT_USAGE;
}

/* ---- history and state: options, then connector/reader/history.c does the work ---- */

static const char usage_history[] =
    "Usage: wal2kafka history --config FILE --table SCHEMA.TABLE --key COL=VALUE[,COL=VALUE]\n"
    "                         [--since TIME] [--until TIME] [--format table|json]\n"
    "                         [--stream NAME]\n"
    "\n"
    "Every change of one row, in commit order, read from Kafka alone: operation, commit\n"
    "time, LSN, transaction id, and the changed columns with old and new values where\n"
    "known (with REPLICA IDENTITY FULL from the change itself, otherwise from the row's\n"
    "previous change in the range read). Only the key's partition is read (the producer's\n"
    "partitioner), from --since on (the broker's time index), up to --until or the end\n"
    "it had when the command started. Every schema version of the topic is decoded.\n"
    "A history follows its key: a change of the primary key ends the old key's history\n"
    "with a delete and starts the new key's with an insert.\n"
    "\n"
    "  --table    SCHEMA.TABLE (TABLE alone: public.TABLE)\n"
    "  --key      every primary-key column, its value as PostgreSQL prints it (DateStyle\n"
    "             ISO, TimeZone UTC); quote a value holding a comma: --key 'k=\"a,b\"'\n"
    "  --since, --until TIME\n"
    "             2024-05-01, 2024-05-01T14:05, '2024-05-01 14:05:00.5+02:00' (no zone:\n"
    "             local time), @1714572300 (seconds since 1970), now, or a duration\n"
    "             before now: 90s, 30m, 2h, 7d, 1w, 1h30m. A --since that has not\n"
    "             happened yet is refused (exit 2) with the current time\n"
    "  --format   table (default on a terminal) or json (one object per line: op,\n"
    "             commit_time, ts_us, lsn, commit_lsn, txid, partition, offset, snapshot,\n"
    "             key, changes {col: {old, new}}, after)\n"
    "  --stream   the stream whose topic_prefix to use (default: the one with TABLE)\n"
    "\n"
    "Exit codes: 0 done (also when the key has no change), 2 bad command line or option\n"
    "value, 3 bad configuration, 5 Kafka unreachable, topic missing or undecodable.\n";

static const char usage_state[] =
    "Usage: wal2kafka state --config FILE --table SCHEMA.TABLE [--key COL=VALUE[,...]]\n"
    "                       [--at TIME] [--format table|json] [--stream NAME]\n"
    "\n"
    "The row with --key, or every row of the table, as it was at TIME (default: now),\n"
    "folded from the table's topic: the last change of each key committed at or before\n"
    "TIME; a delete means the row did not exist. With --key only the key's partition is\n"
    "read. JSON lines: {key, row, op, commit_time, ts_us, lsn, commit_lsn, txid,\n"
    "partition, offset} of each row's last change (row null: no such row).\n"
    "\n"
    "A compacted topic keeps every change for min.compaction.lag.ms, then may merge older\n"
    "changes into the next change of the same key. For a TIME before now minus that lag\n"
    "(unless the topic never held anything that old), state refuses to guess: it says so,\n"
    "gives the earliest time it can answer exactly, and exits 6.\n"
    "\n"
    "  --at TIME  as for history: 2024-05-01T14:05, 2h (before now), @1714572300, ...;\n"
    "             a TIME that has not happened yet is refused (exit 2) with the current\n"
    "             time, never answered with today's rows\n"
    "  --key, --table, --format, --stream: as for history\n"
    "\n"
    "Exit codes: 0 done, 2 bad command line or option value, 3 bad configuration,\n"
    "5 Kafka unreachable, topic missing or undecodable, 6 TIME lies before what the\n"
    "compacted topic holds exactly.\n";

/* wal2kafka history|state: parse the options, load the configuration, run. */
static int cmd_history(int argc, char **argv)
{
    bool state = strcmp(argv[1], "state") == 0;
    const char *usage = state ? usage_state : usage_history;
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"table", required_argument, NULL, 't'},
        {"key", required_argument, NULL, 'k'},    {"since", required_argument, NULL, 'S'},
        {"until", required_argument, NULL, 'U'},  {"at", required_argument, NULL, 'a'},
        {"format", required_argument, NULL, 'f'}, {"stream", required_argument, NULL, 's'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    w2k_history_opts_t o;
    memset(&o, 0, sizeof o);
    o.state = state;
    const char *config_path = NULL;
    char keys[4096] = "", msg[300];
    optind = 2;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:t:k:s:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            config_path = optarg;
            break;
        case 't':
            o.table = optarg;
            break;
        case 'k': /* repeated --key options add columns */
            if (strlen(keys) + strlen(optarg) + 2 > sizeof keys)
                return usage_error("--key is too long", usage);
            strcat(keys, keys[0] ? "," : "");
            strcat(keys, optarg);
            break;
        case 'S':
        case 'U':
            if (state)
                return usage_error("state takes --at TIME, not --since/--until", usage);
            *(opt == 'S' ? &o.since : &o.until) = optarg;
            break;
        case 'a':
            if (!state)
                return usage_error("history takes --since/--until, not --at", usage);
            o.at = optarg;
            break;
        case 'f':
            if (strcmp(optarg, "table") == 0)
                o.format = W2K_HFORMAT_TABLE;
            else if (strcmp(optarg, "json") == 0)
                o.format = W2K_HFORMAT_JSON;
            else {
                snprintf(msg, sizeof msg, "--format %s: expected table or json", optarg);
                return usage_error(msg, usage);
            }
            break;
        case 's':
            o.stream = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return W2K_EXIT_OK;
        default:
            snprintf(msg, sizeof msg, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            return usage_error(msg, usage);
        }
    }
    if (optind < argc) {
        snprintf(msg, sizeof msg, "unexpected argument \"%s\"", argv[optind]);
        return usage_error(msg, usage);
    }
    if (!config_path)
        return usage_error("--config FILE is required", usage);
    if (!o.table)
        return usage_error("--table SCHEMA.TABLE is required", usage);
    if (!state && !keys[0])
        return usage_error("history needs --key COL=VALUE[,COL=VALUE]", usage);
    o.key = keys[0] ? keys : NULL;

    w2k_err_t err;
    w2k_config_t *cfg = w2k_config_load(config_path, &err);
    if (!cfg)
        return report(&err);
    w2k_log_setup((w2k_loglevel_t)cfg->log_level, cfg->log_json);
    int rc = W2K_EXIT_OK;
    if (cfg->registry_url && !(o.registry = open_registry(cfg, &err)))
        rc = report(&err);
    else if (w2k_history_run(cfg, &o, stdout, &err) != 0)
        rc = report(&err);
    w2k_registry_destroy(o.registry);
    w2k_config_destroy(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("no command given", usage_main);
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        fputs(usage_main, stdout);
        return W2K_EXIT_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("wal2kafka %s\n", W2K_VERSION);
        return W2K_EXIT_OK;
    }
    if (strcmp(cmd, "history") == 0 || strcmp(cmd, "state") == 0)
        return cmd_history(argc, argv);
    const char *usage = strcmp(cmd, "run") == 0        ? usage_run
                        : strcmp(cmd, "check") == 0    ? usage_check
                        : strcmp(cmd, "ddl") == 0      ? usage_ddl
                        : strcmp(cmd, "snapshot") == 0 ? usage_snapshot
                        : strcmp(cmd, "slot") == 0     ? usage_slot
                                                       : NULL;
    if (!usage) {
        char msg[256];
        snprintf(msg, sizeof msg, "unknown command \"%s\"", cmd);
        return usage_error(msg, usage_main);
    }
    const char *action = NULL;
    int first = 2;
    if (strcmp(cmd, "slot") == 0 || strcmp(cmd, "ddl") == 0) {
        if (argc > 2 && argv[2][0] != '-') {
            action = argv[2];
            first = 3;
        }
    }
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"stream", required_argument, NULL, 's'},
                                             {"table", required_argument, NULL, 't'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *config_path = NULL, *stream = NULL, *table = NULL;
    optind = first;
    opterr = 0;
    int opt;
    while ((opt = getopt_long(argc, argv, "c:s:t:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 't':
            table = optarg;
            break;
        case 'c':
            config_path = optarg;
            break;
        case 's':
            stream = optarg;
            break;
        case 'h':
            fputs(usage, stdout);
            return W2K_EXIT_OK;
        default: {
            char msg[256];
            snprintf(msg, sizeof msg, "unknown or incomplete option \"%s\"", argv[optind - 1]);
            return usage_error(msg, usage);
        }
        }
    }
    if (optind < argc) {
        char msg[256];
        snprintf(msg, sizeof msg, "unexpected argument \"%s\"", argv[optind]);
        return usage_error(msg, usage);
    }
    if (!config_path)
        return usage_error("--config FILE is required", usage);
    if (strcmp(cmd, "snapshot") == 0 && !table)
        return usage_error("snapshot needs --table SCHEMA.TABLE", usage);
    char msg[300];
    if ((strcmp(cmd, "ddl") == 0 || strcmp(cmd, "slot") == 0) && action &&
        strcmp(action, cmd[0] == 'd' ? "install" : "show") != 0 &&
        strcmp(action, cmd[0] == 'd' ? "remove" : "drop") != 0) {
        snprintf(msg, sizeof msg, "unknown %s action \"%s\": expected %s", cmd, action,
                 cmd[0] == 'd' ? "install or remove" : "show or drop");
        return usage_error(msg, usage);
    }
    if (strcmp(cmd, "ddl") == 0 && !action)
        return usage_error("ddl needs an action: install or remove", usage);
    if (strcmp(cmd, "slot") == 0) {
        if (!action)
            return usage_error("slot needs an action: show or drop", usage);
        if (strcmp(action, "drop") == 0 && !stream)
            return usage_error("slot drop needs --stream NAME", usage);
    }
    /* an option the command does not take is refused, not ignored */
    bool takes_table = strcmp(cmd, "snapshot") == 0;
    bool takes_stream = takes_table || strcmp(cmd, "slot") == 0;
    if ((table && !takes_table) || (stream && !takes_stream)) {
        snprintf(msg, sizeof msg, "%s%s%s takes no %s", cmd, action ? " " : "",
                 action ? action : "", table && !takes_table ? "--table" : "--stream");
        return usage_error(msg, usage);
    }

    w2k_err_t err;
    w2k_config_t *cfg = w2k_config_load(config_path, &err);
    if (!cfg)
        return report(&err);
    w2k_log_setup((w2k_loglevel_t)cfg->log_level, cfg->log_json);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    report_as_log = strcmp(cmd, "run") == 0;
    int rc = strcmp(cmd, "run") == 0        ? cmd_run(cfg)
             : strcmp(cmd, "check") == 0    ? w2k_check_run(cfg, stdout)
             : strcmp(cmd, "ddl") == 0      ? cmd_ddl(cfg, action)
             : strcmp(cmd, "snapshot") == 0 ? cmd_snapshot(cfg, table, stream)
                                            : cmd_slot(cfg, action, stream);
    w2k_config_destroy(cfg);
    return rc;
}
