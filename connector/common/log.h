/* log.h — one line per event on stderr, logfmt by default or JSON lines. */
#ifndef W2K_LOG_H
#define W2K_LOG_H

typedef enum w2k_loglevel_e {
    W2K_LOG_DEBUG,
    W2K_LOG_INFO,
    W2K_LOG_WARN,
    W2K_LOG_ERROR
} w2k_loglevel_t;

/* Set the threshold and the format (json = 0: logfmt, 1: JSON lines). */
void w2k_log_setup(w2k_loglevel_t level, int json);
/* Parse "debug", "info", "warn" or "error"; returns -1 for anything else. */
int w2k_log_level_parse(const char *s);
/* Log one event. The message is printf-formatted; never pass secrets. */
void w2k_log(w2k_loglevel_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log one event with a message and its hint (what to do) as a field of its own; hint
 * may be NULL or empty. */
void w2k_log_hint(w2k_loglevel_t level, const char *msg, const char *hint);

/* Log one event with its hint: the message is printf-formatted, the hint a plain string
 * (what to do, or why it is expected). Every warning and error goes through this or
 * w2k_log_hint with a hint: tests/test_loghints.c rejects w2k_warn/w2k_error calls. */
void w2k_log_hintf(w2k_loglevel_t level, const char *hint, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The hint for one of librdkafka's own log lines (its facility and text): a known cause
 * (a fenced producer, an unreachable or silent broker, a failed authentication, ...) gets
 * its own, any other line a generic one. Never NULL. Pure. */
const char *w2k_log_kafka_hint(const char *fac, const char *text);
/* Log one of librdkafka's own lines ("librdkafka FAC: TEXT") at level, with the hint of
 * w2k_log_kafka_hint when level is warn or error. Safe from librdkafka's threads. */
void w2k_log_kafka(w2k_loglevel_t level, const char *fac, const char *text);

/* Tests only: hand every emitted event (level, message, hint or NULL) to fn as well;
 * fn = NULL stops. Not thread-safe: set it before any logging thread runs. */
typedef void(w2k_log_capture_fn)(w2k_loglevel_t level, const char *msg, const char *hint,
                                 void *arg);
void w2k_log_capture(w2k_log_capture_fn *fn, void *arg);

#define w2k_debug(...)            w2k_log(W2K_LOG_DEBUG, __VA_ARGS__)
#define w2k_info(...)             w2k_log(W2K_LOG_INFO, __VA_ARGS__)
#define w2k_warn(...)             w2k_log(W2K_LOG_WARN, __VA_ARGS__)
#define w2k_error(...)            w2k_log(W2K_LOG_ERROR, __VA_ARGS__)
#define w2k_warn_hint(hint, ...)  w2k_log_hintf(W2K_LOG_WARN, hint, __VA_ARGS__)
#define w2k_error_hint(hint, ...) w2k_log_hintf(W2K_LOG_ERROR, hint, __VA_ARGS__)

#endif
