/* main.c — the wal2kafka command line (run, check, snapshot, slot, ddl, history, state);
 * the main loop that serves every stream and the producer from one thread; signals and
 * exit codes. */
#include "catalog.h"
#include "check.h"
#include "clock.h"
#include "ddl.h"
#include "config.h"
#include "err.h"
#include "history.h"
#include "log.h"
#include "metrics.h"
#include "pgconn.h"
#include "registry.h"
#include "resnap.h"
#include "signals.h"
#include "sink.h"
#include "stream.h"
#include "version.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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
/* Set when a stream gave up with retry.on_stream_failure = exit (not a signal). */
static bool stop_on_failure;

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
        w2k_log_hint(W2K_LOG_ERROR, err->msg, err->hint);
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

/* Per-stream supervision: reconnect with exponential backoff and jitter. */
typedef struct runner_s {
    w2k_stream_t *st;
    bool running;     /* streaming (started successfully) */
    bool dead;        /* gave up */
    bool done;        /* finished its work (snapshot = initial_only) */
    int attempts;     /* failed attempts since the stream last streamed steadily */
    int64_t up_since; /* when the current start succeeded */
    int64_t failing_since;
    int64_t retry_at;
    int64_t probe_at;         /* after a failure: next look whether Kafka or PostgreSQL answers */
    bool kafka_absent;        /* no broker answered during this failure streak */
    w2k_pg_probe_t *pg_probe; /* after a PostgreSQL failure: does the server answer? */
    bool pg_absent;           /* PostgreSQL did not answer during this failure streak */
    w2k_err_t last;
} runner_t;

/* The replication sessions' keepalives, served while a producer call blocks. */
typedef struct keepalives_s {
    w2k_pg_keepalive_t **k;
    int n;
} keepalives_t;

/* While a producer call waits for the broker: repeat each stream's last status update
 * when it is due, so no walsender times its session out. Touches no stream. */
static void keep_sessions_alive(void *arg)
{
    keepalives_t *ka = arg;
    for (int i = 0; i < ka->n; i++)
        w2k_pg_keepalive_serve(ka->k[i]);
}

/* A stream gave up: its final error, now, as one event (msg "stream S stopped: cause",
 * hint), so a failure is in the log while the other streams go on. Returns its exit
 * code. */
static int stream_stopped(runner_t *r)
{
    w2k_err_t e = r->last;
    snprintf(e.msg, sizeof e.msg, "stream %s stopped: %.900s", w2k_stream_name(r->st), r->last.msg);
    return report(&e);
}

#define PROBE_MS 1000 /* how often a failed stream looks whether the component is back */

/* A probe of what a failed stream needs (what) ended: yes = it answered. True (and
 * said in the log) when it answers after it did not during this failure streak. */
static bool answered(runner_t *r, bool *absent, bool yes, const char *what, int64_t now)
{
    bool back = yes && *absent;
    *absent = !yes;
    if (back)
        w2k_info("stream %s: %s answers again; starting now, not in %lld ms",
                 w2k_stream_name(r->st), what, (long long)(r->retry_at - now));
    return back;
}

/* A stream waiting to retry after a Kafka failure: once a broker that did not answer
 * answers again, retry now, not at the end of a backoff that grew while Kafka was away
 * (up to retry.max_backoff_ms). Asks for metadata at most once a second, waiting
 * 200 ms at most. Once per absence: a stream that fails again while the brokers
 * answer backs off as usual. Returns true when the stream should retry now. */
static bool kafka_returned(runner_t *r, w2k_sink_t *sink, int64_t now)
{
    if (r->last.code != W2K_EXIT_KAFKA || now >= r->retry_at || now < r->probe_at)
        return false;
    r->probe_at = now + PROBE_MS;
    w2k_err_t e;
    return answered(r, &r->kafka_absent, w2k_sink_check_brokers(sink, 200, &e) == 0, "Kafka", now);
}

/* The same after a PostgreSQL failure: once a server that did not answer (connection
 * refused, or no answer before the next probe is due) accepts a connection again,
 * retry now. One probe at a time, at most one a second, none of them blocking; the
 * probe under way is freed before the stream starts. Returns true when the stream
 * should retry now. */
static bool postgres_returned(const w2k_config_t *cfg, runner_t *r, int64_t now)
{
    if (r->last.code != W2K_EXIT_POSTGRES || now >= r->retry_at)
        return false;
    if (!r->pg_probe) {
        if (now < r->probe_at)
            return false;
        r->probe_at = now + PROBE_MS;
        if (!(r->pg_probe = w2k_pg_probe_start(cfg->pg_conninfo, cfg->pg_password_file)))
            return false;
    }
    int got = w2k_pg_probe_poll(r->pg_probe);
    if (got == 0 && now < r->probe_at)
        return false;
    w2k_pg_probe_free(r->pg_probe);
    r->pg_probe = NULL;
    return answered(r, &r->pg_absent, got > 0, "PostgreSQL", now);
}

/* A stream failed with err: schedule a retry, or give up. Returns true if it gave up. */
static bool stream_failed(const w2k_config_t *cfg, runner_t *r, const w2k_err_t *err)
{
    r->last = *err;
    r->running = false;
    w2k_stream_stop(r->st); /* may wait (an exactly-once abort): the backoff starts after */
    int64_t now = w2k_clock_mono_ms();
    if (r->attempts == 0)
        r->failing_since = now;
    r->attempts++;
    bool give_up = !err->retryable ||
                   (cfg->retry_max_attempts && r->attempts > cfg->retry_max_attempts) ||
                   (cfg->retry_max_duration_s &&
                    now - r->failing_since > (int64_t)cfg->retry_max_duration_s * 1000);
    w2k_metrics_error(w2k_stream_metrics(r->st),
                      err->code == W2K_EXIT_KAFKA ? W2K_ERRKIND_KAFKA : W2K_ERRKIND_POSTGRES);
    if (give_up) {
        r->dead = true;
        w2k_metrics_state(w2k_stream_metrics(r->st), W2K_STREAM_FAILED, err->msg);
        if (cfg->exit_on_stream_failure) {
            w2k_error("stream %s gave up and retry.on_stream_failure = exit: stopping every "
                      "stream",
                      w2k_stream_name(r->st));
            stop_on_failure = true;
            stop_requested = 1;
        }
        if (err->retryable) {
            w2k_error("stream %s: giving up after %d attempts over %lld s: %s",
                      w2k_stream_name(r->st), r->attempts,
                      (long long)(now - r->failing_since) / 1000, err->msg);
            r->last.code = W2K_EXIT_RUNTIME;
            w2k_err_hint(&r->last,
                         "%.700s%sthe retry limit (retry.max_attempts / retry.max_duration_s) "
                         "was reached; fix the cause and start wal2kafka again — nothing "
                         "confirmed was lost",
                         err->hint, err->hint[0] ? "\n" : "");
        }
        stream_stopped(r);
        return true;
    }
    int64_t delay = cfg->retry_initial_ms;
    for (int i = 1; i < r->attempts && delay < cfg->retry_max_backoff_ms; i++)
        delay *= 2;
    if (delay > cfg->retry_max_backoff_ms)
        delay = cfg->retry_max_backoff_ms;
    delay = delay / 2 + rand() % (delay / 2 + 1); /* jitter: 50-100% */
    r->retry_at = now + delay;
    r->probe_at = now + PROBE_MS;
    w2k_metrics_state(w2k_stream_metrics(r->st), W2K_STREAM_RECONNECTING, err->msg);
    w2k_warn("stream %s: %s — retrying in %lld ms (attempt %d)", w2k_stream_name(r->st), err->msg,
             (long long)delay, r->attempts);
    return false;
}

/* The schema registry of the configuration; its password comes from
 * schema_registry.password_file or W2K_REGISTRY_PASSWORD. */
static w2k_registry_t *open_registry(const w2k_config_t *cfg, w2k_err_t *err)
{
    char password[1024] = "";
    const char *env = getenv("W2K_REGISTRY_PASSWORD");
    if (cfg->registry_password_file) {
        FILE *f = fopen(cfg->registry_password_file, "r");
        if (!f) {
            w2k_err_set(err, W2K_EXIT_CONFIG, "cannot read schema_registry.password_file %s: %s",
                        cfg->registry_password_file, strerror(errno));
            w2k_err_hint(err, "create it with the password on its first line (chmod 600)");
            return NULL;
        }
        if (!fgets(password, sizeof password, f))
            password[0] = '\0';
        fclose(f);
        password[strcspn(password, "\r\n")] = '\0';
    } else if (env) {
        snprintf(password, sizeof password, "%s", env);
    }
    w2k_registry_t *reg =
        w2k_registry_new(cfg->registry_url, cfg->registry_user, password[0] ? password : NULL,
                         cfg->registry_ca_file, err);
    memset(password, 0, sizeof password);
    return reg;
}

/* A producer for stream i: one shared by all streams, or in exactly-once mode a
 * transactional one per stream. */
static w2k_sink_t *new_sink(const w2k_config_t *cfg, int i, w2k_err_t *err)
{
    if (!cfg->exactly_once)
        return w2k_sink_new(cfg, NULL, err);
    char id[512];
    snprintf(id, sizeof id, "wal2kafka.%s.%s", cfg->streams[i].topic_prefix, cfg->streams[i].name);
    return w2k_sink_new(cfg, id, err);
}

static int cmd_run(const w2k_config_t *cfg)
{
    w2k_err_t err;
    w2k_err_clear(&err);
    int rc = W2K_EXIT_OK;
    w2k_metrics_t *metrics = w2k_metrics_start(cfg->metrics_listen, &err);
    if (!metrics)
        return report(&err);
    if (cfg->metrics_listen)
        w2k_info("metrics on http://%.*s:%d/metrics, health on /health",
                 (int)(strrchr(cfg->metrics_listen, ':') - cfg->metrics_listen),
                 cfg->metrics_listen, w2k_metrics_port(metrics));
    w2k_registry_t *reg = NULL;
    if (cfg->registry_url && !(reg = open_registry(cfg, &err))) {
        w2k_metrics_stop(metrics);
        return report(&err);
    }
    int nsinks = cfg->exactly_once ? cfg->nstreams : 1;
    w2k_sink_t **sinks = calloc((size_t)nsinks, sizeof *sinks);
    runner_t *r = calloc((size_t)cfg->nstreams, sizeof *r);
    struct pollfd *fds = calloc((size_t)cfg->nstreams + (size_t)nsinks, sizeof *fds);
    keepalives_t ka = {calloc((size_t)cfg->nstreams, sizeof *ka.k), 0};
    for (int k = 0; k < nsinks; k++) {
        if (!(sinks[k] = new_sink(cfg, k, &err))) {
            rc = report(&err);
            goto out;
        }
        w2k_sink_set_idle_cb(sinks[k], keep_sessions_alive, &ka);
    }
    for (int i = 0; i < cfg->nstreams; i++) {
        r[i].st = w2k_stream_new(cfg, &cfg->streams[i], sinks[i % nsinks], reg, metrics, &err);
        if (!r[i].st) {
            rc = report(&err);
            goto out;
        }
        ka.k[ka.n++] = w2k_stream_keepalive(r[i].st);
    }
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    w2k_info("wal2kafka %s starting: %d stream(s), Kafka at %s%s", W2K_VERSION, cfg->nstreams,
             cfg->kafka_bootstrap, cfg->exactly_once ? ", exactly-once" : "");

    while (!stop_requested) {
        int64_t now = w2k_clock_mono_ms();
        int alive = 0, timeout = 1000, nfds = 0;
        for (int i = 0; i < cfg->nstreams; i++) {
            runner_t *x = &r[i];
            if (x->running && w2k_stream_finished(x->st)) {
                x->done = true;
                x->running = false;
            }
            if (x->dead || x->done)
                continue;
            alive++;
            if (!x->running &&
                (kafka_returned(x, sinks[i % nsinks], now) || postgres_returned(cfg, x, now)))
                x->retry_at = now;
            if (!x->running && now >= x->retry_at) {
                w2k_pg_probe_free(x->pg_probe);
                x->pg_probe = NULL;
                if (x->attempts)
                    w2k_metrics_reconnect(w2k_stream_metrics(x->st));
                if (w2k_stream_start(x->st, &err) == 0) {
                    if (x->attempts)
                        w2k_info("stream %s: started again after %d failed attempt(s)",
                                 w2k_stream_name(x->st), x->attempts);
                    x->running = true;
                    x->up_since = now;
                } else if (stream_failed(cfg, x, &err)) {
                    continue;
                }
            }
            /* Only a minute of streaming without failure ends the failure streak: a
             * stream that fails again right after starting keeps backing off and
             * reaches the retry limit. */
            if (x->running && x->attempts && now - x->up_since >= 60000) {
                x->attempts = 0;
                x->kafka_absent = x->pg_absent = false;
            }
            if (!x->running) {
                int64_t wait = x->retry_at - now;
                if (x->pg_probe && wait > 20)
                    wait = 20; /* a probe under way: look at it again soon */
                else if (x->probe_at > now && x->probe_at - now < wait)
                    wait = x->probe_at - now; /* the next probe */
                if (wait < timeout)
                    timeout = wait < 0 ? 0 : (int)wait;
                continue;
            }
            int t = w2k_stream_timeout_ms(x->st);
            if (t < timeout)
                timeout = t;
            if (w2k_stream_wants_read(x->st)) {
                fds[nfds].fd = w2k_stream_fd(x->st);
                fds[nfds++].events = POLLIN;
            }
        }
        if (alive == 0)
            break;
        for (int k = 0; k < nsinks; k++) {
            fds[nfds].fd = w2k_sink_fd(sinks[k]);
            fds[nfds++].events = POLLIN;
        }
        if (poll(fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
            w2k_err_set(&err, W2K_EXIT_RUNTIME, "poll: %s", strerror(errno));
            rc = report(&err);
            goto out;
        }
        for (int k = 0; k < nsinks; k++) {
            w2k_sink_poll(sinks[k], 0);
            if (!w2k_sink_fatal(sinks[k], &err))
                continue;
            /* The producer cannot go on: a new one, and its streams resend from their
             * slots what was not confirmed. */
            w2k_error("%s; creating a new producer and restarting its streams from their slots",
                      err.msg);
            for (int i = k; i < cfg->nstreams; i += nsinks)
                if (r[i].running)
                    stream_failed(cfg, &r[i], &err);
            w2k_sink_destroy(sinks[k]);
            w2k_err_t serr;
            if (!(sinks[k] = new_sink(cfg, k, &serr))) {
                rc = report(&serr);
                goto out;
            }
            w2k_sink_set_idle_cb(sinks[k], keep_sessions_alive, &ka);
            for (int i = k; i < cfg->nstreams; i += nsinks)
                if (w2k_stream_attach(r[i].st, sinks[k], &serr) != 0) {
                    rc = report(&serr);
                    goto out;
                }
        }
        for (int i = 0; i < cfg->nstreams; i++) {
            runner_t *x = &r[i];
            if (!x->running)
                continue;
            w2k_stream_serve_acks(x->st);
            if (w2k_stream_delivery_failed(x->st, &err) || w2k_stream_step(x->st, &err) != 0)
                stream_failed(cfg, x, &err);
        }
    }

    /* Stop: read no more, wait for what is in flight, confirm it. */
    int64_t deadline = w2k_clock_mono_ms() + cfg->shutdown_timeout_ms;
    uint64_t inflight;
    do {
        inflight = 0;
        for (int i = 0; i < cfg->nstreams; i++) {
            if (!r[i].running)
                continue;
            w2k_stream_serve_acks(r[i].st);
            inflight += w2k_stream_inflight(r[i].st);
        }
        if (inflight == 0)
            break;
        for (int k = 0; k < nsinks; k++)
            w2k_sink_poll(sinks[k], 100 / nsinks + 1);
    } while (w2k_clock_mono_ms() < deadline);
    for (int i = 0; i < cfg->nstreams; i++)
        if (r[i].running && w2k_stream_finish(r[i].st, &err) != 0)
            w2k_warn("stream %s: final confirmation failed: %s", w2k_stream_name(r[i].st), err.msg);
    if (inflight)
        w2k_warn("stopping with %llu message(s) not acknowledged: their changes stay "
                 "unconfirmed and are sent again on the next start",
                 (unsigned long long)inflight);
    if (stop_requested && !stop_on_failure)
        w2k_info("stopped on request");
    /* Each stream that gave up logged its final error then; the exit code says so. */
    for (int i = 0; i < cfg->nstreams; i++)
        if (r[i].dead)
            rc = r[i].last.code ? r[i].last.code : W2K_EXIT_RUNTIME;
out:
    /* a stream being destroyed may still abort its Kafka transaction: the producer's
     * idle callback must not reach the keepalives of streams destroyed before it */
    for (int k = 0; k < nsinks; k++)
        if (sinks[k])
            w2k_sink_set_idle_cb(sinks[k], NULL, NULL);
    for (int i = 0; i < cfg->nstreams; i++) {
        if (r[i].st && !r[i].dead)
            w2k_metrics_state(w2k_stream_metrics(r[i].st), W2K_STREAM_STOPPED, "stopped");
        w2k_stream_destroy(r[i].st);
        w2k_pg_probe_free(r[i].pg_probe);
    }
    free(r);
    free(ka.k);
    free(fds);
    for (int k = 0; k < nsinks; k++)
        w2k_sink_destroy(sinks[k]);
    free(sinks);
    w2k_registry_destroy(reg);
    w2k_metrics_stop(metrics);
    return rc;
}

static int cmd_slot(const w2k_config_t *cfg, const char *action, const char *stream)
{
    w2k_err_t err;
    PGconn *c = w2k_pg_connect(cfg->pg_conninfo, cfg->pg_password_file, false, &err);
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
    "             before now: 90s, 30m, 2h, 7d, 1w, 1h30m\n"
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
    "  --at TIME  as for history: 2024-05-01T14:05, 2h (before now), @1714572300, ...\n"
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
            else
                return usage_error("--format is table or json", usage);
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
    if (strcmp(cmd, "ddl") == 0 &&
        (!action || (strcmp(action, "install") != 0 && strcmp(action, "remove") != 0)))
        return usage_error("ddl needs an action: install or remove", usage);
    if (strcmp(cmd, "slot") == 0) {
        if (!action || (strcmp(action, "show") != 0 && strcmp(action, "drop") != 0))
            return usage_error("slot needs an action: show or drop", usage);
        if (strcmp(action, "drop") == 0 && !stream)
            return usage_error("slot drop needs --stream NAME", usage);
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
