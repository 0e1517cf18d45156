/* runner.c — the main loop: every stream served from one thread, supervised. */
#include "runner.h"
#include "clock.h"
#include "log.h"
#include "pgconn.h"
#include "sink.h"
#include "stream.h"
#include "version.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
    bool standby;             /* standby.enabled: another session holds the slot; waiting */
    bool was_active;          /* streamed in this process: a later standby lost the slot */
    int64_t standby_since;
    int standby_holder;  /* the backend PID that held the slot while this one waited */
    PGconn *holder_conn; /* standby: the connection that looks who holds the slot */
    w2k_err_t last;
} runner_t;

/* The replication sessions' keepalives, served while a producer call blocks. */
typedef struct keepalives_s {
    w2k_pg_keepalive_t **k;
    int n;
} keepalives_t;

/* Everything the loop serves. */
typedef struct loop_s {
    const w2k_config_t *cfg;
    volatile sig_atomic_t *stop;
    bool stop_on_failure; /* a stream gave up with retry.on_stream_failure = exit */
    w2k_sink_t **sinks;   /* one, or one per stream in exactly-once mode */
    int nsinks;
    runner_t *r; /* per stream */
    struct pollfd *fds;
    keepalives_t ka;
} loop_t;

/* While a producer call waits for the broker: repeat each stream's last status update
 * when it is due, so no walsender times its session out. Touches no stream. */
static void keep_sessions_alive(void *arg)
{
    keepalives_t *ka = arg;
    for (int i = 0; i < ka->n; i++)
        w2k_pg_keepalive_serve(ka->k[i]);
}

/* A stream gave up: its final error, now, as one event (msg "stream S stopped: cause",
 * hint), so a failure is in the log while the other streams go on. */
static void stream_stopped(runner_t *r)
{
    w2k_err_t e = r->last;
    snprintf(e.msg, sizeof e.msg, "stream %s stopped: %.900s", w2k_stream_name(r->st), r->last.msg);
    w2k_log_hint(W2K_LOG_ERROR, e.msg, w2k_err_hint_or_default(&e));
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

/* Producers are transactional in exactly-once mode and, so that a newer instance
 * fences an older one, with standby instances. */
static bool transactional(const w2k_config_t *cfg)
{
    return cfg->exactly_once || cfg->standby_enabled;
}

/* The PID of the session holding the slot when err says the slot is in use ("replication
 * slot "s" is active for PID N", from our check or from the server); else 0. */
static int slot_busy_pid(const w2k_err_t *err)
{
    const char *p = strstr(err->msg, "is active for PID ");
    int pid = 0;
    if (!p || sscanf(p + strlen("is active for PID "), "%d", &pid) != 1 || pid <= 0)
        return 0;
    return pid;
}

/* Standby: the PID of the session that holds stream i's slot, 0 when none does, -1
 * when PostgreSQL does not answer (then the ordinary start reports why). Keeps its
 * connection between looks. */
static int slot_holder(loop_t *L, int i)
{
    runner_t *r = &L->r[i];
    w2k_err_t e;
    if (!r->holder_conn && !(r->holder_conn = w2k_pg_connect(w2k_config_decoding(L->cfg),
                                                             L->cfg->pg_password_file, false, &e)))
        return -1;
    const char *slot = L->cfg->streams[i].slot;
    PGresult *res = w2k_pg_query(r->holder_conn, &e, "cannot look who holds the slot",
                                 "SELECT active_pid FROM pg_replication_slots WHERE slot_name = "
                                 "$1 AND active",
                                 1, &slot);
    if (!res) {
        PQfinish(r->holder_conn);
        r->holder_conn = NULL;
        return -1;
    }
    int pid = PQntuples(res) && !PQgetisnull(res, 0, 0) ? atoi(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    return pid;
}

static w2k_sink_t *new_sink(const w2k_config_t *cfg, int i, w2k_err_t *err);

/* Stream i lost its slot: replace its transactional producer with a fresh one that has
 * not called init_transactions, so that nothing this waiting instance does with Kafka
 * (a broker restart, a rebuilt producer) fences the instance that streams now. The new
 * producer is initialized only after this one holds the slot again. */
static void drop_producer(loop_t *L, int i)
{
    w2k_err_t e;
    w2k_sink_t *fresh = new_sink(L->cfg, i, &e);
    if (!fresh) {
        w2k_warn_hint("the old producer is kept: it was fenced already and stays unused while "
                      "this instance waits; check the Kafka settings if this repeats",
                      "stream %s: cannot make a new producer while waiting as standby: %s",
                      w2k_stream_name(L->r[i].st), e.msg);
        return;
    }
    /* the only stream on a fresh producer: attaching cannot run out of stream places */
    w2k_stream_attach(L->r[i].st, fresh, &e);
    w2k_sink_set_idle_cb(L->sinks[i], NULL, NULL);
    w2k_sink_destroy(L->sinks[i]);
    L->sinks[i] = fresh;
    w2k_sink_set_idle_cb(fresh, keep_sessions_alive, &L->ka);
}

/* Stream r waits as a standby while PID pid holds its slot: look again in
 * standby.poll_ms (a fixed interval, not the backoff; the wait never counts as a
 * failure). Logged once per wait. */
static void wait_standby(loop_t *L, runner_t *r, int pid, int64_t now)
{
    const w2k_config_t *cfg = L->cfg;
    const char *name = w2k_stream_name(r->st), *slot = cfg->streams[r - L->r].slot;
    char reason[200];
    snprintf(reason, sizeof reason, "slot %s is held by PID %d", slot, pid);
    if (!r->standby) {
        if (r->was_active) {
            char msg[400];
            snprintf(msg, sizeof msg,
                     "stream %s lost its slot %s to PID %d: waiting as standby, sending "
                     "nothing",
                     name, slot, pid);
            w2k_log_hint(W2K_LOG_WARN, msg,
                         "another wal2kafka took the slot while this one was cut off (frozen "
                         "or partitioned past wal_sender_timeout) or restarting its stream "
                         "after an error; its producer fenced this one's, so nothing queued "
                         "here reaches Kafka");
        } else {
            w2k_info("stream %s: standby: slot %s is held by PID %d (another wal2kafka?); "
                     "taking over when it is released, looking every %d ms",
                     name, slot, pid, cfg->standby_poll_ms);
        }
        if (r->was_active && transactional(cfg))
            drop_producer(L, (int)(r - L->r));
        r->standby = true;
        r->standby_since = now;
        r->standby_holder = pid;
    }
    /* every time: a failed look (PostgreSQL restarting) said "reconnecting" meanwhile */
    w2k_metrics_state(w2k_stream_metrics(r->st), W2K_STREAM_STANDBY, reason);
    r->attempts = 0;
    r->kafka_absent = r->pg_absent = false;
    r->retry_at = now + cfg->standby_poll_ms;
    r->probe_at = r->retry_at;
}

/* In at-least-once mode, after losing PostgreSQL: take the broker's answers for what
 * the stream has in flight (up to 5 s), so the restart skips what was acknowledged
 * instead of sending it again. */
static void settle_inflight(loop_t *L, runner_t *r)
{
    w2k_sink_t *sink = L->sinks[(r - L->r) % L->nsinks];
    int64_t end = w2k_clock_mono_ms() +
                  (L->cfg->shutdown_timeout_ms < 5000 ? L->cfg->shutdown_timeout_ms : 5000);
    for (;;) {
        w2k_stream_serve_acks(r->st);
        if (w2k_stream_inflight(r->st) == 0 || w2k_clock_mono_ms() >= end)
            return;
        w2k_sink_poll(sink, 20);
    }
}

/* A stream failed with err: schedule a retry, or give up. Returns true if it gave up. */
static bool stream_failed(loop_t *L, runner_t *r, const w2k_err_t *err)
{
    const w2k_config_t *cfg = L->cfg;
    int busy = cfg->standby_enabled ? slot_busy_pid(err) : 0;
    if (r->running && !transactional(cfg) && err->code == W2K_EXIT_POSTGRES)
        settle_inflight(L, r);
    r->last = *err;
    r->running = false;
    w2k_stream_stop(r->st); /* may wait (an exactly-once abort): the backoff starts after */
    int64_t now = w2k_clock_mono_ms();
    if (busy) {
        wait_standby(L, r, busy, now);
        return false;
    }
    if (err->restart && err->retryable) {
        /* on purpose (the stream logged why), not a failure: at once, and neither
         * retry.max_attempts nor retry.max_duration_s counts it */
        r->retry_at = now;
        r->probe_at = now + PROBE_MS;
        w2k_metrics_state(w2k_stream_metrics(r->st), W2K_STREAM_RECONNECTING, err->msg);
        return false;
    }
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
            w2k_error_hint("the next line says why the stream gave up; set "
                           "retry.on_stream_failure = continue to keep the other streams going",
                           "stream %s gave up and retry.on_stream_failure = exit: stopping every "
                           "stream",
                           w2k_stream_name(r->st));
            L->stop_on_failure = true;
            *L->stop = 1;
        }
        if (err->retryable) {
            w2k_error_hint(err->hint[0] ? err->hint
                                        : "the retry limit (retry.max_attempts / "
                                          "retry.max_duration_s) was reached; fix the cause and "
                                          "start wal2kafka again — nothing confirmed was lost",
                           "stream %s: giving up after %d attempts over %lld s: %s",
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
    w2k_warn_hint(err->hint[0] ? err->hint
                               : "wal2kafka retries by itself with a growing backoff "
                                 "(retry.*); nothing confirmed is lost — act if it persists",
                  "stream %s: %s — retrying in %lld ms (attempt %d)", w2k_stream_name(r->st),
                  err->msg, (long long)delay, r->attempts);
    return false;
}

/* A producer for stream i: one shared by all streams, or in exactly-once mode (and with
 * standby instances) a transactional one per stream. */
static w2k_sink_t *new_sink(const w2k_config_t *cfg, int i, w2k_err_t *err)
{
    if (!transactional(cfg))
        return w2k_sink_new(cfg, NULL, err);
    char id[512];
    snprintf(id, sizeof id, "wal2kafka.%s.%s", cfg->streams[i].topic_prefix, cfg->streams[i].name);
    return w2k_sink_new(cfg, id, err);
}

/* A stream that is not running: start it when its retry is due (or what it waits for
 * answers again). Lowers *timeout to when it next needs the loop. */
static void supervise_stopped(loop_t *L, int i, int64_t now, int *timeout)
{
    runner_t *x = &L->r[i];
    w2k_err_t err;
    if (kafka_returned(x, L->sinks[i % L->nsinks], now) || postgres_returned(L->cfg, x, now))
        x->retry_at = now;
    int holder = 0;
    if (now >= x->retry_at && L->cfg->standby_enabled && (holder = slot_holder(L, i)) > 0)
        wait_standby(L, x, holder, now);
    if (now >= x->retry_at) {
        w2k_pg_probe_free(x->pg_probe);
        x->pg_probe = NULL;
        if (x->attempts)
            w2k_metrics_reconnect(w2k_stream_metrics(x->st));
        if (w2k_stream_start(x->st, &err) == 0) {
            if (x->standby)
                w2k_info("stream %s: took over slot %s from the session of PID %d (another "
                         "wal2kafka, gone or cut off) after %lld ms as standby; streaming now",
                         w2k_stream_name(x->st), L->cfg->streams[i].slot, x->standby_holder,
                         (long long)(w2k_clock_mono_ms() - x->standby_since));
            else if (x->attempts)
                w2k_info("stream %s: started again after %d failed attempt(s)",
                         w2k_stream_name(x->st), x->attempts);
            x->running = x->was_active = true;
            x->standby = false;
            x->up_since = now;
            PQfinish(x->holder_conn);
            x->holder_conn = NULL;
            return;
        }
        if (stream_failed(L, x, &err))
            return;
    }
    int64_t wait = x->retry_at - now;
    if (x->pg_probe && wait > 20)
        wait = 20; /* a probe under way: look at it again soon */
    else if (x->probe_at > now && x->probe_at - now < wait)
        wait = x->probe_at - now; /* the next probe */
    if (wait < *timeout)
        *timeout = wait < 0 ? 0 : (int)wait;
}

/* Look after each stream before the loop waits: start the ones due, note what to poll
 * (into L->fds, *nfds of them) and for how long (*timeout). Returns how many streams
 * still have work. */
static int supervise(loop_t *L, int64_t now, int *timeout, int *nfds)
{
    int alive = 0;
    for (int i = 0; i < L->cfg->nstreams; i++) {
        runner_t *x = &L->r[i];
        if (x->running && w2k_stream_finished(x->st)) {
            x->done = true;
            x->running = false;
        }
        if (x->dead || x->done)
            continue;
        alive++;
        if (!x->running)
            supervise_stopped(L, i, now, timeout);
        /* Only a minute of streaming without failure ends the failure streak: a
         * stream that fails again right after starting keeps backing off and
         * reaches the retry limit. */
        if (x->running && x->attempts && now - x->up_since >= 60000) {
            x->attempts = 0;
            x->kafka_absent = x->pg_absent = false;
        }
        if (!x->running)
            continue;
        int t = w2k_stream_timeout_ms(x->st);
        if (t < *timeout)
            *timeout = t;
        if (w2k_stream_wants_read(x->st)) {
            L->fds[*nfds].fd = w2k_stream_fd(x->st);
            L->fds[(*nfds)++].events = POLLIN;
        }
    }
    return alive;
}

/* Serve each producer's delivery reports; replace a producer that failed fatally, its
 * streams restarting from their slots. Returns 0, or -1 with err when no new producer
 * can be made. */
static int serve_sinks(loop_t *L, w2k_err_t *err)
{
    for (int k = 0; k < L->nsinks; k++) {
        w2k_sink_poll(L->sinks[k], 0);
        w2k_err_t fatal;
        if (!w2k_sink_fatal(L->sinks[k], &fatal))
            continue;
        /* The producer cannot go on: a new one, and its streams resend from their
         * slots what was not confirmed. */
        w2k_error_hint(fatal.hint[0] ? fatal.hint : w2k_log_kafka_hint("FATAL", fatal.msg),
                       "%s; creating a new producer and restarting its streams from their slots",
                       fatal.msg);
        for (int i = k; i < L->cfg->nstreams; i += L->nsinks)
            if (L->r[i].running)
                stream_failed(L, &L->r[i], &fatal);
        w2k_sink_destroy(L->sinks[k]);
        if (!(L->sinks[k] = new_sink(L->cfg, k, err)))
            return -1;
        w2k_sink_set_idle_cb(L->sinks[k], keep_sessions_alive, &L->ka);
        for (int i = k; i < L->cfg->nstreams; i += L->nsinks)
            if (w2k_stream_attach(L->r[i].st, L->sinks[k], err) != 0)
                return -1;
    }
    return 0;
}

/* Let each running stream take its acknowledgements and read what arrived. */
static void step_streams(loop_t *L)
{
    for (int i = 0; i < L->cfg->nstreams; i++) {
        runner_t *x = &L->r[i];
        if (!x->running)
            continue;
        w2k_err_t err;
        w2k_stream_serve_acks(x->st);
        if (w2k_stream_delivery_failed(x->st, &err) || w2k_stream_step(x->st, &err) != 0)
            stream_failed(L, x, &err);
    }
}

/* Stop: read no more, wait up to delivery.shutdown_timeout_ms for what is in flight,
 * confirm it. */
static void drain(loop_t *L)
{
    const w2k_config_t *cfg = L->cfg;
    int64_t deadline = w2k_clock_mono_ms() + cfg->shutdown_timeout_ms;
    uint64_t inflight;
    do {
        inflight = 0;
        for (int i = 0; i < cfg->nstreams; i++) {
            if (!L->r[i].running)
                continue;
            w2k_stream_serve_acks(L->r[i].st);
            inflight += w2k_stream_inflight(L->r[i].st);
        }
        if (inflight == 0)
            break;
        for (int k = 0; k < L->nsinks; k++)
            w2k_sink_poll(L->sinks[k], 100 / L->nsinks + 1);
    } while (w2k_clock_mono_ms() < deadline);
    for (int i = 0; i < cfg->nstreams; i++) {
        w2k_err_t err;
        if (L->r[i].running && w2k_stream_finish(L->r[i].st, &err) != 0)
            w2k_warn_hint("what was not confirmed is sent again on the next start (at least "
                          "once); nothing is lost",
                          "stream %s: final confirmation failed: %s", w2k_stream_name(L->r[i].st),
                          err.msg);
    }
    if (inflight)
        w2k_warn_hint("the broker did not answer within shutdown_timeout_ms: check it; raise "
                      "the timeout to wait longer on stop",
                      "stopping with %llu message(s) not acknowledged: their changes stay "
                      "unconfirmed and are sent again on the next start",
                      (unsigned long long)inflight);
}

/* Make the producers and the streams. Returns 0, or -1 with err. */
static int open_loop(loop_t *L, w2k_registry_t *reg, w2k_metrics_t *metrics, w2k_err_t *err)
{
    const w2k_config_t *cfg = L->cfg;
    L->nsinks = transactional(cfg) ? cfg->nstreams : 1;
    L->sinks = calloc((size_t)L->nsinks, sizeof *L->sinks);
    L->r = calloc((size_t)cfg->nstreams, sizeof *L->r);
    L->fds = calloc((size_t)cfg->nstreams + (size_t)L->nsinks, sizeof *L->fds);
    L->ka.k = calloc((size_t)cfg->nstreams, sizeof *L->ka.k);
    if (!L->sinks || !L->r || !L->fds || !L->ka.k) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "out of memory");
        return -1;
    }
    for (int k = 0; k < L->nsinks; k++) {
        if (!(L->sinks[k] = new_sink(cfg, k, err)))
            return -1;
        w2k_sink_set_idle_cb(L->sinks[k], keep_sessions_alive, &L->ka);
    }
    for (int i = 0; i < cfg->nstreams; i++) {
        L->r[i].st =
            w2k_stream_new(cfg, &cfg->streams[i], L->sinks[i % L->nsinks], reg, metrics, err);
        if (!L->r[i].st)
            return -1;
        L->ka.k[L->ka.n++] = w2k_stream_keepalive(L->r[i].st);
    }
    return 0;
}

static void close_loop(loop_t *L)
{
    /* a stream being destroyed may still abort its Kafka transaction: the producer's
     * idle callback must not reach the keepalives of streams destroyed before it */
    for (int k = 0; L->sinks && k < L->nsinks; k++)
        if (L->sinks[k])
            w2k_sink_set_idle_cb(L->sinks[k], NULL, NULL);
    for (int i = 0; L->r && i < L->cfg->nstreams; i++) {
        if (L->r[i].st && !L->r[i].dead)
            w2k_metrics_state(w2k_stream_metrics(L->r[i].st), W2K_STREAM_STOPPED, "stopped");
        w2k_stream_destroy(L->r[i].st);
        w2k_pg_probe_free(L->r[i].pg_probe);
        if (L->r[i].holder_conn)
            PQfinish(L->r[i].holder_conn);
    }
    free(L->r);
    free(L->fds);
    free(L->ka.k);
    for (int k = 0; L->sinks && k < L->nsinks; k++)
        w2k_sink_destroy(L->sinks[k]);
    free(L->sinks);
}

int w2k_runner_run(const w2k_config_t *cfg, w2k_registry_t *reg, w2k_metrics_t *metrics,
                   volatile sig_atomic_t *stop)
{
    loop_t L = {.cfg = cfg, .stop = stop};
    w2k_err_t err;
    w2k_err_clear(&err);
    int rc = W2K_EXIT_OK;
    if (open_loop(&L, reg, metrics, &err) != 0)
        goto fail;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    w2k_info("wal2kafka %s starting: %d stream(s), Kafka at %s%s%s", W2K_VERSION, cfg->nstreams,
             cfg->kafka_bootstrap, cfg->exactly_once ? ", exactly-once" : "",
             cfg->standby_enabled ? ", standby instances allowed" : "");
    while (!*stop) {
        int timeout = 1000, nfds = 0;
        if (supervise(&L, w2k_clock_mono_ms(), &timeout, &nfds) == 0)
            break;
        for (int k = 0; k < L.nsinks; k++) {
            L.fds[nfds].fd = w2k_sink_fd(L.sinks[k]);
            L.fds[nfds++].events = POLLIN;
        }
        if (poll(L.fds, (nfds_t)nfds, timeout) < 0 && errno != EINTR) {
            w2k_err_set(&err, W2K_EXIT_RUNTIME, "poll: %s", strerror(errno));
            goto fail;
        }
        if (serve_sinks(&L, &err) != 0)
            goto fail;
        step_streams(&L);
    }
    drain(&L);
    if (*stop && !L.stop_on_failure)
        w2k_info("stopped on request");
    /* Each stream that gave up logged its final error then; the exit code says so. */
    for (int i = 0; i < cfg->nstreams; i++)
        if (L.r[i].dead)
            rc = L.r[i].last.code ? L.r[i].last.code : W2K_EXIT_RUNTIME;
    close_loop(&L);
    return rc;
fail:
    w2k_log_hint(W2K_LOG_ERROR, err.msg, w2k_err_hint_or_default(&err));
    close_loop(&L);
    return err.code ? err.code : W2K_EXIT_RUNTIME;
}
