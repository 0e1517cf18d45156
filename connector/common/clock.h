/* clock.h — the program's clocks: wall-clock time since 1970, a monotonic clock for
 * intervals and deadlines, and the process's CPU time. Thread-safe. */
#ifndef W2K_CLOCK_H
#define W2K_CLOCK_H

#include <stdint.h>

/* Wall-clock time (CLOCK_REALTIME), milliseconds since 1970-01-01 UTC. */
int64_t w2k_clock_wall_ms(void);

/* Wall-clock time (CLOCK_REALTIME), microseconds since 1970-01-01 UTC. */
int64_t w2k_clock_wall_us(void);

/* Monotonic time (CLOCK_MONOTONIC) in milliseconds from an arbitrary start: for
 * deadlines and intervals, never for dates. */
int64_t w2k_clock_mono_ms(void);

/* Monotonic time (CLOCK_MONOTONIC) in microseconds, as w2k_clock_mono_ms. */
int64_t w2k_clock_mono_us(void);

/* CPU time the whole process has used (CLOCK_PROCESS_CPUTIME_ID), in microseconds. */
int64_t w2k_clock_cpu_us(void);

#endif
