/* err.c — error values handed back to main(). */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void w2k_err_set(w2k_err_t *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    size_t n = strlen(e->msg);
    while (n > 0 && (e->msg[n - 1] == '\n' || e->msg[n - 1] == ' '))
        e->msg[--n] = '\0';
    e->code = code;
    e->retryable = false;
    e->restart = false;
    e->hint[0] = '\0';
}

void w2k_err_hint(w2k_err_t *e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->hint, sizeof e->hint, fmt, ap);
    va_end(ap);
}

void w2k_err_clear(w2k_err_t *e)
{
    e->code = 0;
    e->retryable = false;
    e->restart = false;
    e->msg[0] = e->hint[0] = '\0';
}

const char *w2k_err_hint_or_default(const w2k_err_t *e)
{
    if (e->hint[0])
        return e->hint;
    switch (e->code) {
    case W2K_EXIT_CONFIG:
        return "fix the configuration file (wal2kafka check --config FILE says what it reads)";
    case W2K_EXIT_USAGE:
        return "see wal2kafka --help";
    case W2K_EXIT_POSTGRES:
        return "PostgreSQL refused or failed: check postgresql.conninfo, the role's rights and "
               "the server's log (wal2kafka check --config FILE tests them)";
    case W2K_EXIT_KAFKA:
        return "Kafka refused or failed: check kafka.bootstrap, kafka.properties and the "
               "broker's log (wal2kafka check --config FILE tests them)";
    default:
        return e->retryable ? "a transient failure: wal2kafka retries by itself (retry.*)"
                            : "see the message; docs/operations.md lists what to do for each "
                              "failure";
    }
}
