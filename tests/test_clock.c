/* test_clock.c — the program's clocks: units agree, the monotonic clock never goes back,
 * the wall clock is a date of this century, CPU time grows with work. */
#include "clock.h"
#include "unit.h"

#include <stdint.h>

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    int64_t ms = w2k_clock_wall_ms(), us = w2k_clock_wall_us();
    CHECK(ms > INT64_C(1577836800000)); /* after 2020-01-01 */
    CHECK(us / 1000 >= ms && us / 1000 - ms < 1000);

    int64_t m0 = w2k_clock_mono_ms(), u0 = w2k_clock_mono_us(), cpu0 = w2k_clock_cpu_us();
    CHECK(u0 / 1000 >= m0 && u0 / 1000 - m0 < 1000);
    volatile uint64_t x = 1;
    int64_t prev = u0;
    int backwards = 0;
    for (int i = 0; i < 2000000; i++) {
        x = x * 6364136223846793005u + 1;
        if (i % 1000 == 0) {
            int64_t now = w2k_clock_mono_us();
            backwards += now < prev;
            prev = now;
        }
    }
    CHECK_INT(backwards, 0);
    CHECK(w2k_clock_mono_ms() >= m0);
    CHECK(w2k_clock_cpu_us() > cpu0);
    return unit_report("test_clock");
}
