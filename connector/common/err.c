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
    e->msg[0] = e->hint[0] = '\0';
}
