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

#define w2k_debug(...) w2k_log(W2K_LOG_DEBUG, __VA_ARGS__)
#define w2k_info(...)  w2k_log(W2K_LOG_INFO, __VA_ARGS__)
#define w2k_warn(...)  w2k_log(W2K_LOG_WARN, __VA_ARGS__)
#define w2k_error(...) w2k_log(W2K_LOG_ERROR, __VA_ARGS__)

#endif
