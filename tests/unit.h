/* unit.h — the few assertions the unit tests share. Each test file's main() calls
 * its test functions and returns unit_report(). A failed check prints where and why
 * and makes the executable exit non-zero; the run goes on to report every failure. */
#ifndef W2K_UNIT_H
#define W2K_UNIT_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        unit_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_INT(got, want)                                                                       \
    do {                                                                                           \
        long long g_ = (long long)(got), w_ = (long long)(want);                                   \
        unit_checks++;                                                                             \
        if (g_ != w_) {                                                                            \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is %lld, want %lld\n", __FILE__, __LINE__, #got, g_, w_);   \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    do {                                                                                           \
        const char *g_ = (got), *w_ = (want);                                                      \
        unit_checks++;                                                                             \
        if (!g_ || strcmp(g_, w_) != 0) {                                                          \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s is \"%s\", want \"%s\"\n", __FILE__, __LINE__, #got,        \
                    g_ ? g_ : "(null)", w_);                                                       \
        }                                                                                          \
    } while (0)

#define CHECK_MEM(got, gotlen, want, wantlen)                                                      \
    do {                                                                                           \
        size_t gl_ = (gotlen), wl_ = (wantlen);                                                    \
        unit_checks++;                                                                             \
        if (gl_ != wl_ || memcmp((got), (want), gl_) != 0) {                                       \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s (%zu bytes) differs from %s (%zu bytes)\n", __FILE__,       \
                    __LINE__, #got, gl_, #want, wl_);                                              \
        }                                                                                          \
    } while (0)

static inline int unit_report(const char *name)
{
    if (unit_checks == 0) {
        fprintf(stderr, "%s: no checks ran\n", name);
        return 1;
    }
    fprintf(stderr, "%s: %d checks, %d failed\n", name, unit_checks, unit_failures);
    return unit_failures ? 1 : 0;
}

#endif
