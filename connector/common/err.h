/* err.h — the error a failing call hands back: what failed and why, what to do about
 * it, whether retrying can help, and the exit code it maps to. Only main() prints it
 * and exits. */
#ifndef W2K_ERR_H
#define W2K_ERR_H

#include <stdbool.h>

/* Exit codes (documented in README.md and --help). */
#define W2K_EXIT_OK       0
#define W2K_EXIT_RUNTIME  1 /* streaming failed and retries were exhausted */
#define W2K_EXIT_USAGE    2 /* bad command line */
#define W2K_EXIT_CONFIG   3 /* configuration file missing or invalid */
#define W2K_EXIT_POSTGRES 4 /* PostgreSQL refuses or is set up wrong; needs action */
#define W2K_EXIT_KAFKA    5 /* Kafka refuses or is set up wrong; needs action */

typedef struct w2k_err_s {
    int code;        /* one of W2K_EXIT_*; 0 while no error is set */
    bool retryable;  /* a transient failure (network, restart): retrying may heal it */
    bool restart;    /* with retryable: a restart on purpose, not a failure (a streamed
                      * transaction's rollback taken back from Kafka): no backoff, and it
                      * uses up no retry limit */
    char msg[1024];  /* "what failed: why", one line */
    char hint[1024]; /* what to do, may span lines; "" when there is nothing to add */
} w2k_err_t;

/* Set the error: exit code and message (printf format). Clears hint and retryable. */
void w2k_err_set(w2k_err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Set the hint of an error already set (printf format). */
void w2k_err_hint(w2k_err_t *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The hint to log with e: its own, or when it has none a generic one for its exit code
 * (where to look). Never NULL or empty; points into e or at a constant. */
const char *w2k_err_hint_or_default(const w2k_err_t *e);
/* Forget any error. */
void w2k_err_clear(w2k_err_t *e);

#endif
