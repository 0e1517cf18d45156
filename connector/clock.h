/* clock.h — the program's one clock: wall time and monotonic time. */
#ifndef W2K_CLOCK_H
#define W2K_CLOCK_H

#include <stdint.h>

/* Milliseconds since 1970 (CLOCK_REALTIME). */
int64_t w2k_clock_wall_ms(void);
/* Microseconds since 1970 (CLOCK_REALTIME). */
int64_t w2k_clock_wall_us(void);
/* Milliseconds of CLOCK_MONOTONIC: for intervals and deadlines. */
int64_t w2k_clock_mono_ms(void);

#endif
