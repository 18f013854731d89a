/* The agent's clocks. Monotonic time is CLOCK_BOOTTIME: it never jumps and
 * it counts the time a machine spent suspended, so a lease (or a grant's
 * deadline) that ended during a suspend has ended when the machine resumes;
 * CLOCK_MONOTONIC stops during a suspend and would resume the lease where
 * it was. Wall time is for display and for times written into records. */
#ifndef NODECTL_CLOCK_H
#define NODECTL_CLOCK_H

#include <stdint.h>

uint64_t clock_mono_ms(void); /* CLOCK_BOOTTIME */
uint64_t clock_wall_ms(void); /* since the epoch */

#endif
