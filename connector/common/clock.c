/* clock.c — the program's clocks, read with clock_gettime(). */
#include "clock.h"

#include <time.h>

static int64_t read_us(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t read_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t w2k_clock_wall_ms(void)
{
    return read_ms(CLOCK_REALTIME);
}

int64_t w2k_clock_wall_us(void)
{
    return read_us(CLOCK_REALTIME);
}

int64_t w2k_clock_mono_ms(void)
{
    return read_ms(CLOCK_MONOTONIC);
}

int64_t w2k_clock_mono_us(void)
{
    return read_us(CLOCK_MONOTONIC);
}

int64_t w2k_clock_cpu_us(void)
{
    return read_us(CLOCK_PROCESS_CPUTIME_ID);
}
