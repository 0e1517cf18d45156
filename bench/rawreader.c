/* rawreader.c — the benchmark's "raw" contender: the least any slot reader can do.
 *
 * Connects with replication=database, streams a pgoutput slot with the options
 * wal2kafka uses (proto_version '1', publication_names, messages 'true' from 14, text
 * mode), and discards every frame. It answers keepalives and sends status
 * updates that confirm what it has read (the end LSN of each Commit), counts
 * row changes (XLogData payloads starting with I, U or D), and stops after N
 * changes or when no XLogData arrived for the idle timeout (before the first
 * XLogData: FIRST_DATA_TIMEOUT_S, since PostgreSQL sends a large transaction
 * only after decoding all of it). Prints one JSON
 * object on stdout:
 *
 *   {"changes":N,"inserts":..,"updates":..,"deletes":..,"frames":..,"bytes":..,
 *    "seconds":first-to-last byte,"seconds_from_start":connect-to-last byte,
 *    "complete":true|false,"confirmed_lsn":"X/Y","cpu_s":user+system CPU,
 *    "max_rss_kb":peak RSS (VmHWM)}
 *
 * Usage: w2k_rawreader [-l FILE] CONNINFO SLOT PUBLICATION N [IDLE_TIMEOUT_S]
 *   CONNINFO: any libpq conninfo, over TCP (host=127.0.0.1 port=...) or the
 *   Unix socket (host=/socket/dir port=...); replication=database is added.
 *   N = 0: read until idle (default idle timeout: 10 s).
 *   -l FILE: for each change, write two native float64 values to FILE: the
 *   transaction's commit time (ms since 1970) and the commit-to-receipt latency
 *   (wall clock at receipt minus commit time, ms); add "latency_ms" percentiles
 *   to the JSON.
 *   Exit status: 0 when N changes were read (or N = 0), 3 on idle timeout
 *   before N, 1 on errors, 2 on a bad command line.
 */
#include <libpq-fe.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <time.h>

/* Microseconds between the Unix epoch and the PostgreSQL epoch (2000-01-01). */
#define PG_EPOCH_OFFSET_US   INT64_C(946684800000000)
#define STATUS_INTERVAL_MS   1000
#define FIRST_DATA_TIMEOUT_S 900.0

typedef struct stats_s {
    uint64_t changes, inserts, updates, deletes, frames, bytes;
    double t_start, t_first, t_last; /* monotonic seconds */
    uint64_t received;               /* highest WAL position seen */
    uint64_t confirmed;              /* end LSN of the last Commit read */
    int in_txn;
    int64_t commit_us; /* commit time of the open transaction, µs since 1970 */
    FILE *lat;         /* -l: latencies go here */
    double *lat_v;     /* and, for the percentiles, here */
    size_t lat_n, lat_cap;
} stats_t;

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static uint64_t get_u64(const char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = (v << 8) | (uint8_t)p[i];
    return v;
}

static void put_u64(char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--) {
        p[i] = (char)(v & 0xff);
        v >>= 8;
    }
}

static int send_status(PGconn *c, const stats_t *s)
{
    char msg[34];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    int64_t now = (int64_t)tv.tv_sec * 1000000 + tv.tv_usec - PG_EPOCH_OFFSET_US;
    uint64_t written = s->received > s->confirmed ? s->received : s->confirmed;
    msg[0] = 'r';
    put_u64(msg + 1, written);
    put_u64(msg + 9, s->confirmed);
    put_u64(msg + 17, s->confirmed);
    put_u64(msg + 25, (uint64_t)now);
    msg[33] = 0;
    if (PQputCopyData(c, msg, sizeof msg) <= 0 || PQflush(c) < 0) {
        fprintf(stderr, "rawreader: sending a status update failed: %s", PQerrorMessage(c));
        return -1;
    }
    return 0;
}

static void record_latency(stats_t *s)
{
    double pair[2] = {(double)s->commit_us / 1000.0, (double)(wall_us() - s->commit_us) / 1000.0};
    double ms = pair[1];
    fwrite(pair, sizeof pair, 1, s->lat);
    if (s->lat_n == s->lat_cap) {
        size_t cap = s->lat_cap ? s->lat_cap * 2 : 65536;
        double *v = realloc(s->lat_v, cap * sizeof *v);
        if (!v)
            return; /* the file still has every value */
        s->lat_v = v;
        s->lat_cap = cap;
    }
    s->lat_v[s->lat_n++] = ms;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The q-quantile (nearest rank) of the sorted v[0..n). */
static double quantile(const double *v, size_t n, double q)
{
    size_t i = (size_t)(q * (double)n);
    return v[i < n ? i : n - 1];
}

/* Account for one CopyData frame. */
static void handle_frame(const char *p, int n, stats_t *s, int *reply)
{
    if (p[0] == 'w' && n >= 25) {
        uint64_t start = get_u64(p + 1);
        if (start > s->received)
            s->received = start;
        s->frames++;
        switch (n > 25 ? p[25] : 0) {
        case 'B':
            /* Begin: final LSN (8), commit time (8, µs since 2000), xid (4). */
            s->in_txn = 1;
            if (n >= 25 + 1 + 8 + 8)
                s->commit_us = (int64_t)get_u64(p + 25 + 1 + 8) + PG_EPOCH_OFFSET_US;
            break;
        case 'C':
            /* Commit: flags (1), commit LSN (8), end LSN (8), timestamp (8). */
            if (n >= 25 + 1 + 1 + 8 + 8)
                s->confirmed = get_u64(p + 25 + 1 + 1 + 8);
            s->in_txn = 0;
            break;
        case 'I':
            s->changes++;
            s->inserts++;
            break;
        case 'U':
            s->changes++;
            s->updates++;
            break;
        case 'D':
            s->changes++;
            s->deletes++;
            break;
        default:
            return;
        }
        if (s->lat && (p[25] == 'I' || p[25] == 'U' || p[25] == 'D'))
            record_latency(s);
    } else if (p[0] == 'k' && n >= 18) {
        uint64_t end = get_u64(p + 1);
        if (end > s->received)
            s->received = end;
        /* Nothing open: everything up to the server's WAL end is read. */
        if (!s->in_txn && end > s->confirmed)
            s->confirmed = end;
        if (p[17])
            *reply = 1;
    }
}

/* VmHWM from /proc/self/status: the peak resident set of this program (after exec). */
static long peak_rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmHWM:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

static void print_json(const stats_t *s, int complete)
{
    double span = s->frames ? s->t_last - s->t_first : 0.0;
    double from_start = s->frames ? s->t_last - s->t_start : 0.0;
    printf("{\"changes\":%" PRIu64 ",\"inserts\":%" PRIu64 ",\"updates\":%" PRIu64
           ",\"deletes\":%" PRIu64 ",\"frames\":%" PRIu64 ",\"bytes\":%" PRIu64
           ",\"seconds\":%.6f,\"seconds_from_start\":%.6f,\"complete\":%s,"
           "\"confirmed_lsn\":\"%X/%X\"",
           s->changes, s->inserts, s->updates, s->deletes, s->frames, s->bytes, span, from_start,
           complete ? "true" : "false", (unsigned)(s->confirmed >> 32), (unsigned)s->confirmed);
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0)
        printf(",\"cpu_s\":%.3f", (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                                      (double)ru.ru_stime.tv_sec +
                                      (double)ru.ru_stime.tv_usec / 1e6);
    printf(",\"max_rss_kb\":%ld", peak_rss_kb());
    if (s->lat_n) {
        qsort(s->lat_v, s->lat_n, sizeof *s->lat_v, cmp_double);
        printf(",\"latency_ms\":{\"n\":%zu,\"p50\":%.3f,\"p95\":%.3f,\"p99\":%.3f,"
               "\"max\":%.3f}",
               s->lat_n, quantile(s->lat_v, s->lat_n, 0.50), quantile(s->lat_v, s->lat_n, 0.95),
               quantile(s->lat_v, s->lat_n, 0.99), s->lat_v[s->lat_n - 1]);
    }
    printf("}\n");
    fflush(stdout);
}

static PGconn *connect_replication(const char *conninfo)
{
    const char *keys[] = {"dbname", "replication", "application_name", NULL};
    const char *vals[] = {conninfo, "database", "w2k_rawreader", NULL};
    /* expand_dbname = 1: the first dbname is the caller's whole conninfo. */
    PGconn *c = PQconnectdbParams(keys, vals, 1);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "rawreader: cannot connect: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int start_replication(PGconn *c, const char *slot, const char *publication)
{
    char pubs[512], sql[1024];
    /* publication_names takes a list of identifiers: quote this one. */
    snprintf(pubs, sizeof pubs, "\"%s\"", publication);
    char *qslot = PQescapeIdentifier(c, slot, strlen(slot));
    char *qpubs = PQescapeLiteral(c, pubs, strlen(pubs));
    if (!qslot || !qpubs) {
        fprintf(stderr, "rawreader: cannot quote names: %s", PQerrorMessage(c));
        PQfreemem(qslot);
        PQfreemem(qpubs);
        return -1;
    }
    /* pgoutput has the messages option from PostgreSQL 14 on, as wal2kafka sends it */
    snprintf(sql, sizeof sql,
             "START_REPLICATION SLOT %s LOGICAL 0/0 (proto_version '1', publication_names %s%s)",
             qslot, qpubs, PQserverVersion(c) >= 140000 ? ", messages 'true'" : "");
    PQfreemem(qslot);
    PQfreemem(qpubs);
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) != PGRES_COPY_BOTH) {
        fprintf(stderr, "rawreader: %s failed: %s", sql, PQerrorMessage(c));
        PQclear(r);
        return -1;
    }
    PQclear(r);
    if (PQsetnonblocking(c, 1) != 0) {
        fprintf(stderr, "rawreader: cannot go non-blocking: %s", PQerrorMessage(c));
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static const char usage[] =
        "usage: %s [-l FILE] CONNINFO SLOT PUBLICATION N [IDLE_TIMEOUT_S]\n";
    const char *lat_path = NULL;
    int opt;
    while ((opt = getopt(argc, argv, "l:")) != -1) {
        if (opt != 'l') {
            fprintf(stderr, usage, argv[0]);
            return 2;
        }
        lat_path = optarg;
    }
    argc -= optind;
    argv += optind;
    if (argc < 4 || argc > 5) {
        fprintf(stderr, usage, "w2k_rawreader");
        return 2;
    }
    const char *conninfo = argv[0], *slot = argv[1], *publication = argv[2];
    char *end;
    errno = 0;
    unsigned long long want = strtoull(argv[3], &end, 10);
    if (errno || *end) {
        fprintf(stderr, "rawreader: N must be a number, got '%s'\n", argv[3]);
        return 2;
    }
    double idle = 10.0;
    if (argc == 5) {
        idle = strtod(argv[4], &end);
        if (*end || idle <= 0) {
            fprintf(stderr, "rawreader: IDLE_TIMEOUT_S must be a positive number\n");
            return 2;
        }
    }

    stats_t s;
    memset(&s, 0, sizeof s);
    s.t_start = mono_s();
    if (lat_path && !(s.lat = fopen(lat_path, "wb"))) {
        fprintf(stderr, "rawreader: cannot write %s: %s\n", lat_path, strerror(errno));
        return 1;
    }
    PGconn *c = connect_replication(conninfo);
    if (!c)
        return 1;
    if (start_replication(c, slot, publication) != 0) {
        PQfinish(c);
        return 1;
    }

    int rc = 1, reply = 0;
    double last_data = mono_s(), next_status = last_data + STATUS_INTERVAL_MS / 1000.0;
    double limit = idle > FIRST_DATA_TIMEOUT_S ? idle : FIRST_DATA_TIMEOUT_S;
    for (;;) {
        char *buf = NULL;
        int n = PQgetCopyData(c, &buf, 1);
        if (n == 0) {
            /* Buffer drained: read what the socket already holds before waiting. */
            if (!PQconsumeInput(c)) {
                fprintf(stderr, "rawreader: reading failed: %s", PQerrorMessage(c));
                break;
            }
            n = PQgetCopyData(c, &buf, 1);
        }
        if (n > 0) {
            double now = mono_s();
            if (!s.frames && !s.bytes)
                s.t_first = now;
            s.bytes += (uint64_t)n;
            uint64_t frames = s.frames;
            handle_frame(buf, n, &s, &reply);
            PQfreemem(buf);
            if (s.frames != frames) {
                s.t_last = now;
                last_data = now;
                limit = idle;
            }
            if (want && s.changes >= want) {
                rc = 0;
                break;
            }
            if (reply || now >= next_status) {
                if (send_status(c, &s) != 0)
                    break;
                reply = 0;
                next_status = now + STATUS_INTERVAL_MS / 1000.0;
            }
            continue;
        }
        if (n == -1) {
            PGresult *r = PQgetResult(c);
            fprintf(stderr, "rawreader: the server ended the stream: %s",
                    r ? PQresultErrorMessage(r) : PQerrorMessage(c));
            PQclear(r);
            break;
        }
        if (n < -1) {
            fprintf(stderr, "rawreader: reading failed: %s", PQerrorMessage(c));
            break;
        }
        /* n == 0: nothing buffered; wait for the socket, a status update, or idleness. */
        double now = mono_s();
        if (now - last_data >= limit) {
            rc = want ? 3 : 0;
            break;
        }
        if (reply || now >= next_status) {
            if (send_status(c, &s) != 0)
                break;
            reply = 0;
            next_status = now + STATUS_INTERVAL_MS / 1000.0;
        }
        double wait = next_status - now;
        if (last_data + limit - now < wait)
            wait = last_data + limit - now;
        struct pollfd pfd = {PQsocket(c), POLLIN, 0};
        if (poll(&pfd, 1, wait > 0 ? (int)(wait * 1000) + 1 : 0) < 0 && errno != EINTR) {
            perror("rawreader: poll");
            break;
        }
        if (!PQconsumeInput(c)) {
            fprintf(stderr, "rawreader: reading failed: %s", PQerrorMessage(c));
            break;
        }
    }
    if (rc != 1)
        send_status(c, &s);
    print_json(&s, want ? s.changes >= want : 1);
    PQfinish(c);
    if (s.lat && fclose(s.lat) != 0) {
        fprintf(stderr, "rawreader: writing %s failed: %s\n", lat_path, strerror(errno));
        rc = 1;
    }
    free(s.lat_v);
    return rc;
}
