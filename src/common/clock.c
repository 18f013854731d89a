#include "clock.h"

#include <time.h>

static uint64_t ms(clockid_t id) {
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t clock_mono_ms(void) { return ms(CLOCK_BOOTTIME); }
uint64_t clock_wall_ms(void) { return ms(CLOCK_REALTIME); }
