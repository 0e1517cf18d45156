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

static void emit(w2k_loglevel_t level, const char *msg, const char *hint);

void w2k_log(w2k_loglevel_t level, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    emit(level, msg, NULL);
}

void w2k_log_hint(w2k_loglevel_t level, const char *msg, const char *hint)
{
    if (level >= log_threshold)
        emit(level, msg, hint && *hint ? hint : NULL);
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
