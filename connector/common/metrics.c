/* metrics.c — Prometheus /metrics and /health served by libmicrohttpd's internal thread;
 * values are relaxed atomics written by the main loop, the stream/table lists and the
 * state reasons are guarded by one mutex. */
#include "metrics.h"
#include "clock.h"
#include "log.h"
#include "names.h"
#include "secret.h"
#include "version.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#define OP_COUNT      5
#define TABLE_BUCKETS 4096 /* a stream's tables by name: 10,000 tables, chains of 2-3 */
static const char op_codes[OP_COUNT] = {'c', 'u', 'd', 't', 'r'};

static const char *const state_names[W2K_STREAM_STATE_COUNT] = {
    "starting", "snapshot", "streaming", "reconnecting", "stopped", "failed", "standby"};
static const char *const errkind_names[W2K_ERRKIND_COUNT] = {"postgres", "kafka", "decode",
                                                             "encode", "registry"};

struct w2k_metrics_table_s {
    struct w2k_metrics_table_s *next;  /* guarded by the lock */
    struct w2k_metrics_table_s *hnext; /* in its bucket, guarded by the lock */
    char *schema;
    char *table;
    _Atomic uint64_t changes[OP_COUNT];
    _Atomic uint64_t bytes;
    _Atomic uint64_t snap_read;
    _Atomic uint64_t snap_expected;
};

struct w2k_metrics_stream_s {
    struct w2k_metrics_stream_s *next; /* guarded by the lock */
    w2k_metrics_t *m;
    char *name;
    w2k_metrics_table_t *tables; /* guarded by the lock, in creation order */
    w2k_metrics_table_t **tables_tail;
    w2k_metrics_table_t *buckets[TABLE_BUCKETS]; /* the same tables by name (hnext) */
    _Atomic uint64_t acked_lsn;
    _Atomic uint64_t server_lsn;
    _Atomic int64_t commit_us;
    _Atomic int64_t in_flight;
    _Atomic uint64_t reconnects;
    _Atomic int64_t paused_since_us; /* wall clock; 0 while reading */
    _Atomic int64_t paused_us;       /* ended pauses, summed */
    _Atomic uint64_t errors[W2K_ERRKIND_COUNT];
    _Atomic int state;
    char reason[256]; /* guarded by the lock */
};

struct w2k_metrics_s {
    pthread_mutex_t lock;
    w2k_metrics_stream_t *streams; /* in creation order */
    w2k_metrics_stream_t **streams_tail;
    struct MHD_Daemon *daemon;
    int port;
    int64_t start_us;
    char *user;     /* basic auth, or NULL */
    char *password; /* wiped at stop */
    char *tls_cert; /* PEM text, kept while serving */
    char *tls_key;  /* PEM text, wiped at stop */
};

const char *w2k_metrics_state_name(w2k_metrics_state_t state)
{
    return (unsigned)state < W2K_STREAM_STATE_COUNT ? state_names[state] : "unknown";
}

const char *w2k_metrics_errkind_name(w2k_metrics_errkind_t kind)
{
    return (unsigned)kind < W2K_ERRKIND_COUNT ? errkind_names[kind] : "unknown";
}

/* ------------------------------------------------------------------ updates */

void w2k_metrics_change(w2k_metrics_table_t *t, char op, size_t bytes)
{
    if (!t)
        return;
    int i;
    switch (op) {
    case 'c':
        i = 0;
        break;
    case 'u':
        i = 1;
        break;
    case 'd':
        i = 2;
        break;
    case 't':
        i = 3;
        break;
    case 'r':
        i = 4;
        break;
    default:
        return;
    }
    atomic_fetch_add_explicit(&t->changes[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->bytes, (uint64_t)bytes, memory_order_relaxed);
}

void w2k_metrics_snapshot_progress(w2k_metrics_table_t *t, uint64_t rows_read,
                                   uint64_t rows_expected)
{
    if (!t)
        return;
    atomic_store_explicit(&t->snap_read, rows_read, memory_order_relaxed);
    atomic_store_explicit(&t->snap_expected, rows_expected, memory_order_relaxed);
}

void w2k_metrics_acked(w2k_metrics_stream_t *s, uint64_t lsn, int64_t commit_us)
{
    if (!s)
        return;
    if (commit_us)
        atomic_store_explicit(&s->commit_us, commit_us, memory_order_relaxed);
    atomic_store_explicit(&s->acked_lsn, lsn, memory_order_relaxed);
}

void w2k_metrics_server_lsn(w2k_metrics_stream_t *s, uint64_t lsn)
{
    if (s)
        atomic_store_explicit(&s->server_lsn, lsn, memory_order_relaxed);
}

void w2k_metrics_in_flight(w2k_metrics_stream_t *s, int64_t messages)
{
    if (s)
        atomic_store_explicit(&s->in_flight, messages, memory_order_relaxed);
}

void w2k_metrics_paused(w2k_metrics_stream_t *s, bool paused)
{
    if (!s)
        return;
    int64_t now = w2k_clock_wall_us();
    int64_t since = atomic_load_explicit(&s->paused_since_us, memory_order_relaxed);
    if (paused && !since) {
        atomic_store_explicit(&s->paused_since_us, now, memory_order_relaxed);
    } else if (!paused && since) {
        atomic_fetch_add_explicit(&s->paused_us, now > since ? now - since : 0,
                                  memory_order_relaxed);
        atomic_store_explicit(&s->paused_since_us, 0, memory_order_relaxed);
    }
}

void w2k_metrics_reconnect(w2k_metrics_stream_t *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->reconnects, 1, memory_order_relaxed);
}

void w2k_metrics_error(w2k_metrics_stream_t *s, w2k_metrics_errkind_t kind)
{
    if (s && (unsigned)kind < W2K_ERRKIND_COUNT)
        atomic_fetch_add_explicit(&s->errors[kind], 1, memory_order_relaxed);
}

void w2k_metrics_state(w2k_metrics_stream_t *s, w2k_metrics_state_t state, const char *reason)
{
    if (!s || (unsigned)state >= W2K_STREAM_STATE_COUNT)
        return;
    pthread_mutex_lock(&s->m->lock);
    snprintf(s->reason, sizeof s->reason, "%s", reason ? reason : "");
    atomic_store_explicit(&s->state, (int)state, memory_order_relaxed);
    pthread_mutex_unlock(&s->m->lock);
}

/* ------------------------------------------------------------------ streams, tables */

w2k_metrics_stream_t *w2k_metrics_stream(w2k_metrics_t *m, const char *stream)
{
    if (!m || !stream)
        return NULL;
    pthread_mutex_lock(&m->lock);
    w2k_metrics_stream_t *s;
    for (s = m->streams; s; s = s->next)
        if (strcmp(s->name, stream) == 0)
            goto out;
    s = calloc(1, sizeof *s);
    if (!s)
        goto out;
    s->name = strdup(stream);
    if (!s->name) {
        free(s);
        s = NULL;
        goto out;
    }
    s->m = m;
    s->tables_tail = &s->tables;
    atomic_init(&s->state, W2K_STREAM_STARTING);
    *m->streams_tail = s;
    m->streams_tail = &s->next;
out:
    pthread_mutex_unlock(&m->lock);
    return s;
}

w2k_metrics_table_t *w2k_metrics_table(w2k_metrics_stream_t *s, const char *schema,
                                       const char *table)
{
    if (!s || !schema || !table)
        return NULL;
    w2k_metrics_t *m = s->m;
    /* by hash: a scan of the list per table is 10,000 x 10,000 steps over 10,000 tables */
    size_t h = w2k_names_hash(schema, table) % TABLE_BUCKETS;
    pthread_mutex_lock(&m->lock);
    w2k_metrics_table_t *t;
    for (t = s->buckets[h]; t; t = t->hnext)
        if (strcmp(t->schema, schema) == 0 && strcmp(t->table, table) == 0)
            goto out;
    t = calloc(1, sizeof *t);
    if (!t)
        goto out;
    t->schema = strdup(schema);
    t->table = strdup(table);
    if (!t->schema || !t->table) {
        free(t->schema);
        free(t->table);
        free(t);
        t = NULL;
        goto out;
    }
    *s->tables_tail = t;
    s->tables_tail = &t->next;
    t->hnext = s->buckets[h];
    s->buckets[h] = t;
out:
    pthread_mutex_unlock(&m->lock);
    return t;
}

/* ------------------------------------------------------------------ exposition */

void w2k_metrics_escape_label(w2k_buf_t *out, const char *s)
{
    const char *run = s;
    for (; *s; s++) {
        const char *esc = NULL;
        if (*s == '\\')
            esc = "\\\\";
        else if (*s == '"')
            esc = "\\\"";
        else if (*s == '\n')
            esc = "\\n";
        if (esc) {
            w2k_buf_append(out, run, (size_t)(s - run));
            w2k_buf_append(out, esc, 2);
            run = s + 1;
        }
    }
    w2k_buf_append(out, run, (size_t)(s - run));
}

static void family(w2k_buf_t *out, const char *name, const char *type, const char *help)
{
    w2k_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{stream="..." */
static void series_stream(w2k_buf_t *out, const char *name, const w2k_metrics_stream_t *s)
{
    w2k_buf_printf(out, "%s{stream=\"", name);
    w2k_metrics_escape_label(out, s->name);
    w2k_buf_putc(out, '"');
}

/* name{stream="...",schema="...",table="..." */
static void series_table(w2k_buf_t *out, const char *name, const w2k_metrics_stream_t *s,
                         const w2k_metrics_table_t *t)
{
    series_stream(out, name, s);
    w2k_buf_puts(out, ",schema=\"");
    w2k_metrics_escape_label(out, t->schema);
    w2k_buf_puts(out, "\",table=\"");
    w2k_metrics_escape_label(out, t->table);
    w2k_buf_putc(out, '"');
}

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* Per-stream gauge or counter families with one unsigned value per stream. */
typedef uint64_t (*stream_value_fn)(const w2k_metrics_stream_t *s, int64_t now);

static uint64_t v_acked(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    return LOAD(s->acked_lsn);
}

static uint64_t v_server(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    return LOAD(s->server_lsn);
}

static uint64_t v_lag_bytes(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    uint64_t a = LOAD(s->acked_lsn), w = LOAD(s->server_lsn);
    return w > a ? w - a : 0;
}

static uint64_t v_reconnects(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    return LOAD(s->reconnects);
}

static uint64_t v_streaming(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    return LOAD(s->state) == W2K_STREAM_STREAMING;
}

static uint64_t v_standby(const w2k_metrics_stream_t *s, int64_t now)
{
    (void)now;
    return LOAD(s->state) == W2K_STREAM_STANDBY;
}

static void render_stream_u64(w2k_buf_t *out, const w2k_metrics_t *m, const char *name,
                              const char *type, const char *help, stream_value_fn fn, int64_t now)
{
    family(out, name, type, help);
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        series_stream(out, name, s);
        w2k_buf_printf(out, "} %" PRIu64 "\n", fn(s, now));
    }
}

/* Lag in seconds: 0 while caught up (nothing in flight, confirmed up to the server's WAL
 * end) or before any acknowledged commit; else now - commit time of the last
 * acknowledged change. */
static double lag_seconds(const w2k_metrics_stream_t *s, int64_t now)
{
    int64_t commit = LOAD(s->commit_us);
    if (commit == 0)
        return 0;
    if (LOAD(s->in_flight) <= 0 && LOAD(s->acked_lsn) >= LOAD(s->server_lsn))
        return 0;
    return now > commit ? (double)(now - commit) / 1e6 : 0;
}

int w2k_metrics_render(w2k_metrics_t *m, int64_t now, w2k_buf_t *out)
{
    if (!m)
        return 0;
    if (now == 0)
        now = w2k_clock_wall_us();
    pthread_mutex_lock(&m->lock);

    family(out, "wal2kafka_info", "gauge", "Version of the running wal2kafka (always 1).");
    w2k_buf_puts(out, "wal2kafka_info{version=\"");
    w2k_metrics_escape_label(out, W2K_VERSION);
    w2k_buf_puts(out, "\"} 1\n");
    family(out, "wal2kafka_start_time_seconds", "gauge",
           "When the process started, in seconds since 1970.");
    w2k_buf_printf(out, "wal2kafka_start_time_seconds %.3f\n", (double)m->start_us / 1e6);

    family(out, "wal2kafka_stream_state", "gauge",
           "State of the stream: 1 for the current state, 0 for the others.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        int st = LOAD(s->state);
        for (int i = 0; i < W2K_STREAM_STATE_COUNT; i++) {
            series_stream(out, "wal2kafka_stream_state", s);
            w2k_buf_printf(out, ",state=\"%s\"} %d\n", state_names[i], st == i);
        }
    }
    render_stream_u64(out, m, "wal2kafka_streaming", "gauge",
                      "1 while the stream reads its replication slot, else 0.", v_streaming, now);
    render_stream_u64(out, m, "wal2kafka_stream_standby", "gauge",
                      "1 while the stream waits as a hot standby (another session holds its "
                      "slot), else 0.",
                      v_standby, now);

    family(out, "wal2kafka_changes_total", "counter",
           "Row changes sent to Kafka, by table and operation (c insert, u update, d delete, "
           "t truncate, r snapshot read).");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
        for (const w2k_metrics_table_t *t = s->tables; t; t = t->next)
            for (int i = 0; i < OP_COUNT; i++) {
                series_table(out, "wal2kafka_changes_total", s, t);
                w2k_buf_printf(out, ",op=\"%c\"} %" PRIu64 "\n", op_codes[i], LOAD(t->changes[i]));
            }
    family(out, "wal2kafka_change_bytes_total", "counter",
           "Bytes of the Kafka messages (key and value) sent for the table's changes.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
        for (const w2k_metrics_table_t *t = s->tables; t; t = t->next) {
            series_table(out, "wal2kafka_change_bytes_total", s, t);
            w2k_buf_printf(out, "} %" PRIu64 "\n", LOAD(t->bytes));
        }

    render_stream_u64(out, m, "wal2kafka_acked_lsn", "gauge",
                      "Last WAL position (LSN, as a number) up to which every change is "
                      "acknowledged by Kafka.",
                      v_acked, now);
    render_stream_u64(out, m, "wal2kafka_server_lsn", "gauge",
                      "The server's WAL end (LSN, as a number) as last reported on the "
                      "replication connection.",
                      v_server, now);
    render_stream_u64(out, m, "wal2kafka_lag_bytes", "gauge",
                      "Replication lag in bytes: server WAL end minus acknowledged LSN.",
                      v_lag_bytes, now);
    family(out, "wal2kafka_acked_commit_timestamp_seconds", "gauge",
           "Commit time of the last change acknowledged by Kafka, in seconds since 1970 (0 "
           "before the first).");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        series_stream(out, "wal2kafka_acked_commit_timestamp_seconds", s);
        w2k_buf_printf(out, "} %.6f\n", (double)LOAD(s->commit_us) / 1e6);
    }
    family(out, "wal2kafka_lag_seconds", "gauge",
           "Replication lag in seconds: now minus the commit time of the last acknowledged "
           "change; 0 while caught up.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        series_stream(out, "wal2kafka_lag_seconds", s);
        w2k_buf_printf(out, "} %.3f\n", lag_seconds(s, now));
    }
    family(out, "wal2kafka_in_flight_messages", "gauge",
           "Messages produced to Kafka and not yet acknowledged.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        series_stream(out, "wal2kafka_in_flight_messages", s);
        w2k_buf_printf(out, "} %" PRId64 "\n", LOAD(s->in_flight));
    }
    family(out, "wal2kafka_reading_paused", "gauge",
           "1 while reading from PostgreSQL is paused because delivery.max_in_flight messages "
           "await the broker's answer.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        series_stream(out, "wal2kafka_reading_paused", s);
        w2k_buf_printf(out, "} %d\n", LOAD(s->paused_since_us) ? 1 : 0);
    }
    family(out, "wal2kafka_reading_paused_seconds_total", "counter",
           "Seconds reading from PostgreSQL was paused for delivery.max_in_flight.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        int64_t since = LOAD(s->paused_since_us), us = LOAD(s->paused_us);
        if (since && now > since)
            us += now - since;
        series_stream(out, "wal2kafka_reading_paused_seconds_total", s);
        w2k_buf_printf(out, "} %.3f\n", (double)us / 1e6);
    }
    render_stream_u64(out, m, "wal2kafka_reconnects_total", "counter",
                      "Reconnects to PostgreSQL or Kafka after a failure.", v_reconnects, now);
    family(out, "wal2kafka_errors_total", "counter",
           "Errors by kind (postgres, kafka, decode, encode, registry).");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
        for (int i = 0; i < W2K_ERRKIND_COUNT; i++) {
            series_stream(out, "wal2kafka_errors_total", s);
            w2k_buf_printf(out, ",kind=\"%s\"} %" PRIu64 "\n", errkind_names[i],
                           LOAD(s->errors[i]));
        }

    family(out, "wal2kafka_snapshot_rows_read", "gauge",
           "Rows of the table read by the current or last snapshot.");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
        for (const w2k_metrics_table_t *t = s->tables; t; t = t->next) {
            series_table(out, "wal2kafka_snapshot_rows_read", s, t);
            w2k_buf_printf(out, "} %" PRIu64 "\n", LOAD(t->snap_read));
        }
    family(out, "wal2kafka_snapshot_rows_expected", "gauge",
           "Rows the snapshot expects to read from the table (an estimate; 0 when unknown).");
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
        for (const w2k_metrics_table_t *t = s->tables; t; t = t->next) {
            series_table(out, "wal2kafka_snapshot_rows_expected", s, t);
            w2k_buf_printf(out, "} %" PRIu64 "\n", LOAD(t->snap_expected));
        }

    pthread_mutex_unlock(&m->lock);
    return out->oom ? -1 : 0;
}

int w2k_metrics_health(w2k_metrics_t *m, w2k_buf_t *out)
{
    if (!m) {
        w2k_buf_puts(out, "no metrics\n");
        return 0;
    }
    int healthy = 1, standby = 0;
    pthread_mutex_lock(&m->lock);
    if (!m->streams) {
        w2k_buf_puts(out, "no stream has started yet\n");
        healthy = 0;
    }
    for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next) {
        int st = LOAD(s->state);
        standby += st == W2K_STREAM_STANDBY;
        if (st == W2K_STREAM_STREAMING || st == W2K_STREAM_STANDBY)
            continue;
        healthy = 0;
        w2k_buf_printf(out, "stream \"%s\" is not streaming: %s%s%s\n", s->name,
                       w2k_metrics_state_name((w2k_metrics_state_t)st), s->reason[0] ? ": " : "",
                       s->reason);
    }
    if (healthy && standby) {
        w2k_buf_puts(out, "standby\n");
        for (const w2k_metrics_stream_t *s = m->streams; s; s = s->next)
            if (LOAD(s->state) == W2K_STREAM_STANDBY)
                w2k_buf_printf(out, "stream \"%s\" is standby: %s\n", s->name, s->reason);
    }
    pthread_mutex_unlock(&m->lock);
    if (healthy && !standby)
        w2k_buf_puts(out, "ok\n");
    return healthy;
}

/* ------------------------------------------------------------------ HTTP */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned int status,
                             const char *content_type, w2k_buf_t *body)
{
    struct MHD_Response *resp;
    if (body->data && !body->oom) {
        resp = MHD_create_response_from_buffer(body->len, body->data, MHD_RESPMEM_MUST_FREE);
        if (resp)
            body->data = NULL; /* MHD frees it */
    } else {
        static const char oom[] = "out of memory\n";
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        resp = MHD_create_response_from_buffer(sizeof oom - 1, (void *)oom, MHD_RESPMEM_PERSISTENT);
    }
    w2k_buf_free(body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* Equal strings, in a time that does not depend on where they differ. */
static bool same_secret(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    unsigned char d = (unsigned char)(la != lb);
    for (size_t i = 0; i < la; i++)
        d |= (unsigned char)a[i] ^ (unsigned char)b[lb ? i % lb : 0];
    return d == 0;
}

/* The credentials a request carries, as libmicrohttpd decodes its basic auth, match the
 * configured ones. */
static bool authorized(const w2k_metrics_t *m, const char *user, const char *pass)
{
    return user && pass && same_secret(user, m->user) && same_secret(pass, m->password);
}

unsigned w2k_metrics_answer(w2k_metrics_t *m, const char *method, const char *url, const char *user,
                            const char *password, w2k_buf_t *out, const char **content_type)
{
    static const char text[] = "text/plain; charset=utf-8";
    *content_type = text;
    if (m->user && !authorized(m, user, password)) {
        w2k_buf_puts(out, "authentication required\n");
        return MHD_HTTP_UNAUTHORIZED;
    }
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        w2k_buf_puts(out, "only GET and HEAD are served\n");
        return MHD_HTTP_METHOD_NOT_ALLOWED;
    }
    if (strcmp(url, "/metrics") == 0) {
        w2k_metrics_render(m, 0, out);
        *content_type = "text/plain; version=0.0.4; charset=utf-8";
        return MHD_HTTP_OK;
    }
    if (strcmp(url, "/health") == 0) {
        int ok = w2k_metrics_health(m, out);
        return ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    w2k_buf_puts(out, "not found: wal2kafka serves /metrics and /health\n");
    return MHD_HTTP_NOT_FOUND;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **req_cls)
{
    (void)version;
    (void)upload_data;
    w2k_metrics_t *m = cls;
    w2k_buf_t body = W2K_BUF_INIT;
    const char *ctype;

    if (*upload_data_size) { /* a request body: ignore it */
        *upload_data_size = 0;
        return MHD_YES;
    }
    (void)req_cls;
    char *user = NULL, *pass = NULL;
    if (m->user)
        user = MHD_basic_auth_get_username_password(conn, &pass);
    unsigned status = w2k_metrics_answer(m, method, url, user, pass, &body, &ctype);
    if (pass) {
        w2k_secret_wipe(pass, strlen(pass));
        MHD_free(pass);
    }
    if (user)
        MHD_free(user);
    if (status == MHD_HTTP_UNAUTHORIZED) {
        static const char denied[] = "authentication required\n";
        w2k_buf_free(&body);
        struct MHD_Response *resp = MHD_create_response_from_buffer(
            sizeof denied - 1, (void *)denied, MHD_RESPMEM_PERSISTENT);
        if (!resp)
            return MHD_NO;
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
        enum MHD_Result ret = MHD_queue_basic_auth_fail_response(conn, "wal2kafka", resp);
        MHD_destroy_response(resp);
        return ret;
    }
    return reply(conn, status, ctype, &body);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    w2k_warn_hint("the endpoint keeps serving; a request that fails this way gets no answer — "
                  "check the client, or metrics.listen if the endpoint cannot start",
                  "metrics endpoint: %s", msg);
}

/* Split "HOST:PORT" or "[HOST]:PORT" into host and port. Returns 0, or -1. */
static int split_listen(const char *addr, char *host, size_t hcap, char *port, size_t pcap)
{
    const char *colon, *h = addr;
    size_t hl;
    if (*addr == '[') {
        const char *rb = strchr(addr, ']');
        if (!rb || rb[1] != ':')
            return -1;
        h = addr + 1;
        hl = (size_t)(rb - h);
        colon = rb + 1;
    } else if (!strchr(addr, ':') || *addr == ':') {
        /* "PORT" or ":PORT": loopback */
        h = "127.0.0.1";
        hl = strlen(h);
        colon = *addr == ':' ? addr : addr - 1;
    } else {
        colon = strrchr(addr, ':');
        if (strchr(addr, ':') != colon)
            return -1;
        hl = (size_t)(colon - addr);
    }
    const char *p = colon + 1;
    size_t pl = strlen(p);
    if (hl == 0 || hl >= hcap || pl == 0 || pl >= pcap || pl > 5)
        return -1;
    for (size_t i = 0; i < pl; i++)
        if (p[i] < '0' || p[i] > '9')
            return -1;
    if (atoi(p) > 65535)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    memcpy(port, p, pl + 1);
    return 0;
}

/* Bind and listen on addr; returns the socket, or -1 with err. *family_out: AF_*. */
static int open_listener(const char *addr, int *family_out, int *port_out, w2k_err_t *err)
{
    char host[256], port[8];
    if (split_listen(addr, host, sizeof host, port, sizeof port) < 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "metrics listen address \"%s\" is not HOST:PORT or [IPv6]:PORT", addr);
        w2k_err_hint(err, "e.g. metrics.listen = \"127.0.0.1:9187\" (loopback only), or "
                          "\"0.0.0.0:9187\" to let other hosts scrape");
        return -1;
    }
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_PASSIVE;
    int gai = getaddrinfo(host, port, &hints, &res);
    if (gai != 0) {
        w2k_err_set(err, W2K_EXIT_CONFIG,
                    "metrics listen address \"%s\": cannot resolve \"%s\": %s", addr, host,
                    gai_strerror(gai));
        w2k_err_hint(err, "use an IP address of this host, e.g. 127.0.0.1");
        return -1;
    }
    int fd = -1, first_errno = 0;
    for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            if (!first_errno)
                first_errno = errno;
            continue;
        }
        int one = 1;
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (ai->ai_family == AF_INET6)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 64) == 0) {
            struct sockaddr_storage ss;
            socklen_t sl = sizeof ss;
            int p = 0;
            if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
                if (ss.ss_family == AF_INET)
                    p = ntohs(((struct sockaddr_in *)&ss)->sin_port);
                else if (ss.ss_family == AF_INET6)
                    p = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
            }
            *family_out = ai->ai_family;
            *port_out = p;
            freeaddrinfo(res);
            return fd;
        }
        if (!first_errno)
            first_errno = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    w2k_err_set(err, W2K_EXIT_CONFIG, "metrics endpoint cannot listen on %s: %s", addr,
                strerror(first_errno));
    if (first_errno == EADDRINUSE)
        w2k_err_hint(err,
                     "another process (another wal2kafka?) already listens on port %s: "
                     "stop it, or set metrics.listen to a free port",
                     port);
    else if (first_errno == EADDRNOTAVAIL)
        w2k_err_hint(err,
                     "%s is not an address of this host: use 127.0.0.1 or one of this "
                     "host's addresses in metrics.listen",
                     host);
    else if (first_errno == EACCES)
        w2k_err_hint(err, "ports below 1024 need privileges: use a port above 1024 in "
                          "metrics.listen (9187 is customary)");
    else
        w2k_err_hint(err, "check metrics.listen");
    return -1;
}

/* Wipe and free the credentials and TLS material. */
static void free_secrets(w2k_metrics_t *m)
{
    if (m->password)
        w2k_secret_wipe(m->password, strlen(m->password));
    if (m->tls_key)
        w2k_secret_wipe(m->tls_key, strlen(m->tls_key));
    free(m->user);
    free(m->password);
    free(m->tls_cert);
    free(m->tls_key);
}

/* The whole file at path as a NUL-terminated string (malloc), or NULL with err. */
static char *read_pem(const char *path, const char *setting, w2k_err_t *err)
{
    FILE *f = fopen(path, "r");
    char *text = NULL;
    struct stat st;
    if (f && fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && st.st_size < (1 << 20) &&
        (text = calloc(1, (size_t)st.st_size + 1)) != NULL &&
        fread(text, 1, (size_t)st.st_size, f) == (size_t)st.st_size && st.st_size > 0) {
        fclose(f);
        return text;
    }
    w2k_err_set(err, W2K_EXIT_CONFIG, "cannot read %s %s: %s", setting, path,
                !f ? strerror(errno) : "not a readable PEM file of at most 1 MiB");
    w2k_err_hint(err, "give a PEM file readable by this user");
    if (f)
        fclose(f);
    if (text) {
        w2k_secret_wipe(text, (size_t)st.st_size);
        free(text);
    }
    return NULL;
}

w2k_metrics_t *w2k_metrics_start(const char *addr, w2k_err_t *err)
{
    w2k_metrics_opts_t o = {.listen = addr};
    return w2k_metrics_start_opts(&o, err);
}

w2k_metrics_t *w2k_metrics_start_opts(const w2k_metrics_opts_t *o, w2k_err_t *err)
{
    const char *addr = o->listen;
    w2k_metrics_t *m = calloc(1, sizeof *m);
    if (!m) {
        w2k_err_set(err, W2K_EXIT_RUNTIME, "metrics: out of memory");
        return NULL;
    }
    if (pthread_mutex_init(&m->lock, NULL) != 0) {
        free(m);
        w2k_err_set(err, W2K_EXIT_RUNTIME, "metrics: cannot create a mutex");
        return NULL;
    }
    m->streams_tail = &m->streams;
    m->start_us = w2k_clock_wall_us();
    if (!addr) {
        /* not served; the credentials still decide what w2k_metrics_answer says */
        if (o->username && o->password && *o->password &&
            (!(m->user = strdup(o->username)) || !(m->password = strdup(o->password)))) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "metrics: out of memory");
            goto fail;
        }
        return m;
    }

    if (o->username) {
        if (!o->password || !*o->password) {
            w2k_err_set(err, W2K_EXIT_CONFIG, "metrics.username is set but no password");
            w2k_err_hint(err, "put the password in the file named by metrics.password_file "
                              "(chmod 600) or in W2K_METRICS_PASSWORD");
            goto fail;
        }
        if (!(m->user = strdup(o->username)) || !(m->password = strdup(o->password))) {
            w2k_err_set(err, W2K_EXIT_RUNTIME, "metrics: out of memory");
            goto fail;
        }
    }
    unsigned int flags = MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG;
    if (o->tls_cert_file || o->tls_key_file) {
        if (!o->tls_cert_file || !o->tls_key_file) {
            w2k_err_set(err, W2K_EXIT_CONFIG, "metrics: TLS needs a certificate and a key");
            w2k_err_hint(err, "set both metrics.tls_cert_file and metrics.tls_key_file");
            goto fail;
        }
        if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
            w2k_err_set(err, W2K_EXIT_CONFIG, "metrics: this libmicrohttpd has no TLS support");
            w2k_err_hint(err, "remove metrics.tls_cert_file/tls_key_file, or install a "
                              "libmicrohttpd built with GnuTLS");
            goto fail;
        }
        if (!(m->tls_cert = read_pem(o->tls_cert_file, "metrics.tls_cert_file", err)) ||
            !(m->tls_key = read_pem(o->tls_key_file, "metrics.tls_key_file", err)))
            goto fail;
        flags |= MHD_USE_TLS;
    }

    int family = AF_INET, port = 0;
    int fd = open_listener(addr, &family, &port, err);
    if (fd < 0)
        goto fail;
    if (family == AF_INET6)
        flags |= MHD_USE_IPv6;
    /* Bounds that keep hostile clients cheap: 128 connections at most (more are closed at
     * once), 5 s without progress closes one (slowloris), 16 KiB per connection (a bigger
     * request line or header gets 414/431). All of it runs on libmicrohttpd's thread. */
    if (m->tls_cert)
        m->daemon = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, NULL,
            MHD_OPTION_LISTEN_SOCKET, fd, MHD_OPTION_CONNECTION_LIMIT, 128u,
            MHD_OPTION_CONNECTION_TIMEOUT, 5u, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384,
            MHD_OPTION_HTTPS_MEM_CERT, m->tls_cert, MHD_OPTION_HTTPS_MEM_KEY, m->tls_key,
            MHD_OPTION_END);
    else
        m->daemon =
            MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_EXTERNAL_LOGGER,
                             on_mhd_log, NULL, MHD_OPTION_LISTEN_SOCKET, fd,
                             MHD_OPTION_CONNECTION_LIMIT, 128u, MHD_OPTION_CONNECTION_TIMEOUT, 5u,
                             MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)16384, MHD_OPTION_END);
    if (!m->daemon) {
        if (fcntl(fd, F_GETFD) != -1)
            close(fd);
        w2k_err_set(err, m->tls_cert ? W2K_EXIT_CONFIG : W2K_EXIT_RUNTIME,
                    "metrics endpoint on %s: libmicrohttpd could not start%s", addr,
                    m->tls_cert ? " (is the TLS key the certificate's, unencrypted PEM?)"
                                : " its thread");
        w2k_err_hint(err, "the log line before this one says why; metrics can be disabled by "
                          "removing metrics.listen");
        goto fail;
    }
    m->port = port;
    w2k_info("metrics endpoint listening on %s (port %d%s%s): /metrics, /health", addr, port,
             m->tls_cert ? ", https" : "", m->user ? ", basic auth" : "");
    return m;
fail:
    free_secrets(m);
    pthread_mutex_destroy(&m->lock);
    free(m);
    return NULL;
}

int w2k_metrics_port(const w2k_metrics_t *m)
{
    return m ? m->port : 0;
}

void w2k_metrics_stop(w2k_metrics_t *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon); /* joins its thread and closes the listening socket */
    w2k_metrics_stream_t *s = m->streams;
    while (s) {
        w2k_metrics_stream_t *sn = s->next;
        w2k_metrics_table_t *t = s->tables;
        while (t) {
            w2k_metrics_table_t *tn = t->next;
            free(t->schema);
            free(t->table);
            free(t);
            t = tn;
        }
        free(s->name);
        free(s);
        s = sn;
    }
    free_secrets(m);
    pthread_mutex_destroy(&m->lock);
    free(m);
}
