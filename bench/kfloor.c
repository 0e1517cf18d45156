/* kfloor.c — the latency benchmark's "kafka" contender: Kafka's own floor, no PostgreSQL.
 *
 * A minimal librdkafka producer with wal2kafka's delivery settings (acks=all,
 * idempotent, lz4) that produces what the latency writer makes wal2kafka produce:
 * every tick (the writer's: 2 ms at 10,000/s, at least 10 changes per tick), RATE
 * × tick messages of about the size of wal2kafka's Avro values plus one tombstone per
 * tenth (the writer's deletes), each with the wall clock at its produce() call (ms
 * since 1970, truncated like a PostgreSQL commit time in wal2kafka's messages) as
 * its Kafka timestamp. The same consumer as wal2kafka's reads it, so receipt −
 * timestamp is the commit-to-receipt latency of a connector that did nothing but
 * produce, on the same machine, broker and consumer.
 *
 * Protocol: it produces one warm-up message and waits for its acknowledgement
 * (this creates the topic), prints READY, waits for a line on stdin, then runs
 * WARMUP_S + SECONDS of ticks, waits for every acknowledgement and prints one
 * JSON object on stdout with the writer's keys:
 *
 *   {"changes":measured values,"changes_total":values after READY,
 *    "measure_start_ms":wall ms at the end of the warm-up,"achieved_rate":..,
 *    "late_ticks":..,"ticks":..,"tick_ms":..,"seconds":..,"delivery_errors":..,
 *    "cpu_s":user+system CPU,"max_rss_kb":peak RSS}
 *
 * With -t, messages go in Kafka transactions (transactional.id w2k-kfloor-TOPIC),
 * each committed as soon as the ticks due are produced — a commit that took longer
 * than a tick makes the next transaction hold every tick due meanwhile, each stamped
 * with its scheduled time: the floor of exactly-once, whose wal2kafka commits a
 * transaction when it has caught up with PostgreSQL.
 *
 * Usage: w2k_kfloor [-t] [-l LINGER_MS] [-s VALUE_BYTES] [-w WARMUP_S]
 *                   BOOTSTRAP TOPIC RATE SECONDS
 *   Exit status: 0 when every message was acknowledged, 1 on errors, 2 on a bad
 *   command line.
 */
#include <librdkafka/rdkafka.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static long g_errors;    /* failed delivery reports */
static long g_delivered; /* acknowledged messages */

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts acknowledgements and failures (served by rd_kafka_poll). */
static void on_delivery(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    (void)rk;
    (void)opaque;
    if (m->err) {
        if (g_errors++ < 5)
            fprintf(stderr, "kfloor: delivery failed: %s\n", rd_kafka_err2str(m->err));
    } else {
        g_delivered++;
    }
}

/* Sets one producer property; exits on a rejected one. */
static void set(rd_kafka_conf_t *conf, const char *k, const char *v)
{
    char e[256];
    if (rd_kafka_conf_set(conf, k, v, e, sizeof e) != RD_KAFKA_CONF_OK) {
        fprintf(stderr, "kfloor: %s=%s: %s\n", k, v, e);
        exit(2);
    }
}

/* Produces one message (value NULL: a tombstone) stamped with ts (ms since 1970; 0:
 * the wall clock now); retries while librdkafka's queue is full. 0 or -1. */
static int produce(rd_kafka_t *rk, const char *topic, const void *key, size_t klen, const void *val,
                   size_t vlen, int64_t ts)
{
    for (;;) {
        rd_kafka_resp_err_t err =
            rd_kafka_producev(rk, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(0),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
                              RD_KAFKA_V_VALUE((void *)val, vlen),
                              RD_KAFKA_V_TIMESTAMP(ts ? ts : wall_ms()), RD_KAFKA_V_END);
        if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
            return 0;
        if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            fprintf(stderr, "kfloor: produce: %s\n", rd_kafka_err2str(err));
            return -1;
        }
        rd_kafka_poll(rk, 10);
    }
}

/* 0, or -1 after printing a transaction call's error. */
static int check(rd_kafka_error_t *error, const char *what)
{
    if (!error)
        return 0;
    fprintf(stderr, "kfloor: %s: %s\n", what, rd_kafka_error_string(error));
    rd_kafka_error_destroy(error);
    return -1;
}

/* Serves delivery reports until the monotonic time `due`. */
static void wait_until(rd_kafka_t *rk, double due)
{
    for (;;) {
        double left = due - mono_s();
        if (left <= 0)
            return;
        if (left >= 0.001) {
            rd_kafka_poll(rk, (int)(left * 1000));
            continue;
        }
        rd_kafka_poll(rk, 0);
        struct timespec ts = {0, (long)(left * 1e9)};
        nanosleep(&ts, NULL);
    }
}

int main(int argc, char **argv)
{
    const char *linger = "5";
    long vbytes = 150;
    double warmup = 0;
    int o, txn = 0;
    while ((o = getopt(argc, argv, "tl:s:w:")) != -1) {
        switch (o) {
        case 't':
            txn = 1;
            break;
        case 'l':
            linger = optarg;
            break;
        case 's':
            vbytes = strtol(optarg, NULL, 10);
            break;
        case 'w':
            warmup = strtod(optarg, NULL);
            break;
        default:
            goto usage;
        }
    }
    if (argc - optind != 4 || vbytes < 1 || vbytes > 1000000 || warmup < 0) {
    usage:
        fprintf(stderr, "usage: w2k_kfloor [-t] [-l LINGER_MS] [-s VALUE_BYTES] [-w WARMUP_S] "
                        "BOOTSTRAP TOPIC RATE SECONDS\n");
        return 2;
    }
    const char *bootstrap = argv[optind], *topic = argv[optind + 1];
    double rate = strtod(argv[optind + 2], NULL), seconds = strtod(argv[optind + 3], NULL);
    if (rate <= 0 || seconds <= 0)
        goto usage;

    char e[512];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    set(conf, "bootstrap.servers", bootstrap);
    set(conf, "acks", "all");
    set(conf, "enable.idempotence", "true");
    set(conf, "linger.ms", linger);
    set(conf, "compression.type", "lz4");
    char tid[300];
    snprintf(tid, sizeof tid, "w2k-kfloor-%s", topic);
    if (txn)
        set(conf, "transactional.id", tid);
    rd_kafka_conf_set_dr_msg_cb(conf, on_delivery);
    rd_kafka_t *rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, e, sizeof e);
    if (!rk) {
        fprintf(stderr, "kfloor: %s\n", e);
        return 1;
    }
    if (txn && (check(rd_kafka_init_transactions(rk, 60000), "init_transactions") != 0 ||
                check(rd_kafka_begin_transaction(rk), "begin_transaction") != 0))
        return 1;

    /* Values: hex text, about as compressible as wal2kafka's md5 columns. */
    char *val = malloc((size_t)vbytes);
    if (!val)
        return 1;
    uint32_t x = 2463534242u;
    for (long i = 0; i < vbytes; i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        val[i] = "0123456789abcdef"[x & 15];
    }
    uint64_t id = 1;
    if (produce(rk, topic, &id, sizeof id, val, (size_t)vbytes, 0) != 0 ||
        rd_kafka_flush(rk, 60000) != RD_KAFKA_RESP_ERR_NO_ERROR || g_delivered != 1) {
        fprintf(stderr, "kfloor: the warm-up message was not acknowledged\n");
        return 1;
    }
    if (txn && (check(rd_kafka_commit_transaction(rk, 60000), "commit_transaction") != 0 ||
                check(rd_kafka_begin_transaction(rk), "begin_transaction") != 0))
        return 1;
    printf("READY\n");
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin))
        return 1;

    /* The writer's schedule (run.py cmd_writer). */
    double tick = 10.0 / rate > 0.002 ? 10.0 / rate : 0.002;
    double per_tick = rate * tick, owed = 0;
    double t0 = mono_s(), end = t0 + warmup + seconds, base_t = t0;
    int64_t wall0 = wall_ms();
    long k = 0, k_measure = (long)(warmup / tick), late = 0, base_late = 0;
    long values = 0, base_values = 0;
    int64_t base_ms = wall_ms();
    int based = 0;
    for (;;) {
        if (k == k_measure && !based) {
            based = 1;
            base_t = mono_s();
            base_ms = wall_ms();
            base_values = values;
            base_late = late;
        }
        double due = t0 + (double)k * tick, now = mono_s();
        if (due >= end || now >= end + 1.0)
            break;
        if (due > now)
            wait_until(rk, due);
        else if (now - due > tick)
            late++;
        owed += per_tick;
        long n = (long)owed;
        owed -= (double)n;
        k++;
        long nd = n - n * 6 / 10 - n * 3 / 10; /* the writer's deletes: tombstones */
        /* Transactions: a tick a commit kept waiting carries its scheduled time, as a
         * PostgreSQL commit made on schedule would. */
        int64_t ts = txn ? wall0 + (int64_t)((due - t0) * 1000) : 0;
        for (long i = 0; i < n; i++) {
            id++;
            if (produce(rk, topic, &id, sizeof id, val, (size_t)vbytes, ts) != 0)
                return 1;
        }
        for (long i = 0; i < nd; i++)
            if (produce(rk, topic, &id, sizeof id, NULL, 0, ts) != 0)
                return 1;
        values += n;
        /* Transactions: commit once caught up with the schedule (wal2kafka commits
         * when it has read everything PostgreSQL sent), so a slow commit makes the
         * next one bigger rather than the schedule late. */
        if (txn && t0 + (double)k * tick > mono_s() &&
            (check(rd_kafka_commit_transaction(rk, 60000), "commit_transaction") != 0 ||
             check(rd_kafka_begin_transaction(rk), "begin_transaction") != 0))
            return 1;
        rd_kafka_poll(rk, 0);
    }
    double t_end = mono_s();
    if (txn && check(rd_kafka_commit_transaction(rk, 60000), "commit_transaction") != 0)
        return 1;
    rd_kafka_resp_err_t ferr = rd_kafka_flush(rk, 60000);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    double el = t_end - base_t;
    long measured = values - base_values;
    printf("{\"changes\":%ld,\"changes_total\":%ld,\"measure_start_ms\":%" PRId64
           ",\"achieved_rate\":%.1f,\"target_rate\":%.0f,\"late_ticks\":%ld,\"ticks\":%ld,"
           "\"tick_ms\":%.3f,\"seconds\":%.3f,\"warmup_s\":%.3f,\"linger_ms\":\"%s\","
           "\"value_bytes\":%ld,\"delivery_errors\":%ld,\"cpu_s\":%.3f,\"max_rss_kb\":%ld}\n",
           measured, values, base_ms, el > 0 ? (double)measured / el : 0.0, rate, late - base_late,
           k - k_measure, tick * 1000, el, warmup, linger, vbytes, g_errors, cpu, ru.ru_maxrss);
    fflush(stdout);
    rd_kafka_destroy(rk);
    free(val);
    return (ferr == RD_KAFKA_RESP_ERR_NO_ERROR && g_errors == 0) ? 0 : 1;
}
