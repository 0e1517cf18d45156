/* log.c — logfmt or JSON log lines on stderr. */
#include "log.h"
#include "clock.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static w2k_loglevel_t log_threshold = W2K_LOG_INFO;
static int log_json;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void w2k_log_setup(w2k_loglevel_t level, int json)
{
    log_threshold = level;
    log_json = json;
}

int w2k_log_level_parse(const char *s)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0)
            return i;
    return -1;
}

static w2k_log_capture_fn *log_capture;
static void *log_capture_arg;

static void emit(w2k_loglevel_t level, const char *msg, const char *hint);

void w2k_log_capture(w2k_log_capture_fn *fn, void *arg)
{
    log_capture = fn;
    log_capture_arg = arg;
}

/* Format and emit one line (hint NULL or empty: none). */
__attribute__((format(printf, 3, 0))) static void vlog(w2k_loglevel_t level, const char *hint,
                                                       const char *fmt, va_list ap)
{
    char msg[2048];
    vsnprintf(msg, sizeof msg, fmt, ap);
    emit(level, msg, hint && *hint ? hint : NULL);
}

void w2k_log(w2k_loglevel_t level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, NULL, fmt, ap);
    va_end(ap);
}

void w2k_log_hint(w2k_loglevel_t level, const char *msg, const char *hint)
{
    if (level >= log_threshold)
        emit(level, msg, hint && *hint ? hint : NULL);
}

void w2k_log_hintf(w2k_loglevel_t level, const char *hint, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, hint, fmt, ap);
    va_end(ap);
}

/* librdkafka's lines worth a hint of their own: a text (case-insensitive) found in the
 * line, and what it means for wal2kafka. First match wins. */
static const char *const kafka_hints[][2] = {
    {"fenced", "another producer with the same transactional id took over: expected when a standby "
               "wal2kafka takes over a stream (this instance stops streaming it); otherwise two "
               "instances share one configuration and stream name — give each its own"},
    {"timed out",
     "the broker accepted the connection but does not answer (overloaded, paused, or a "
     "network path that drops packets); librdkafka retries, and wal2kafka reports the "
     "messages failed after delivery.timeout_ms — check the broker's health"},
    {"authentication",
     "the broker refused the credentials: check sasl.* (and security.protocol) in "
     "kafka.properties and the user on the broker"},
    {"ssl", "the TLS handshake failed: check ssl.* in kafka.properties (CA, certificate, key) and "
            "that the broker's listener speaks TLS"},
    {"resolve", "a broker's host name does not resolve: check kafka.bootstrap and the brokers' "
                "advertised.listeners"},
    {"connection refused",
     "nothing listens at the broker's address: the broker is down or restarting; wal2kafka "
     "retries and resends what was not acknowledged"},
    {"disconnected",
     "the broker closed the connection (restart, idle timeout, or a listener mismatch); "
     "librdkafka reconnects by itself — a lasting one shows in kafka_connected"},
    {"load in progress",
     "the broker is still loading its coordinator state (just started or restarted); "
     "librdkafka retries by itself — expected for a few seconds after a broker start"},
    {"all broker",
     "no broker is reachable: wal2kafka keeps its place in the slot and retries; check the "
     "brokers and kafka.bootstrap"},
};

const char *w2k_log_kafka_hint(const char *fac, const char *text)
{
    (void)fac;
    for (size_t i = 0; i < sizeof kafka_hints / sizeof kafka_hints[0]; i++)
        if (text && strcasestr(text, kafka_hints[i][0]))
            return kafka_hints[i][1];
    return "reported by librdkafka, the Kafka client; wal2kafka retries what can be "
           "retried and reports a failure it cannot recover from as an error of its own — "
           "see librdkafka's documentation for the facility and the text";
}

void w2k_log_kafka(w2k_loglevel_t level, const char *fac, const char *text)
{
    if (level < log_threshold)
        return;
    char msg[2048];
    snprintf(msg, sizeof msg, "librdkafka %s: %s", fac, text);
    emit(level, msg, level >= W2K_LOG_WARN ? w2k_log_kafka_hint(fac, text) : NULL);
}

/* One line: ts, level, msg (and hint), as logfmt or JSON. */
static void emit(w2k_loglevel_t level, const char *msg, const char *hint)
{
    int64_t now_ms = w2k_clock_wall_ms();
    time_t sec = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char when[96];
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (long)(now_ms % 1000));

    if (log_capture)
        log_capture(level, msg, hint, log_capture_arg);
    w2k_buf_t line = W2K_BUF_INIT;
    if (log_json) {
        w2k_buf_printf(&line, "{\"ts\":\"%s\",\"level\":\"%s\",\"msg\":", when, level_names[level]);
        w2k_buf_put_json_string(&line, msg, strlen(msg));
        if (hint) {
            w2k_buf_puts(&line, ",\"hint\":");
            w2k_buf_put_json_string(&line, hint, strlen(hint));
        }
        w2k_buf_puts(&line, "}\n");
    } else {
        w2k_buf_printf(&line, "ts=%s level=%s msg=", when, level_names[level]);
        w2k_buf_put_json_string(&line, msg, strlen(msg));
        if (hint) {
            w2k_buf_puts(&line, " hint=");
            w2k_buf_put_json_string(&line, hint, strlen(hint));
        }
        w2k_buf_putc(&line, '\n');
    }
    if (line.data)
        fwrite(line.data, 1, line.len, stderr);
    w2k_buf_free(&line);
}
