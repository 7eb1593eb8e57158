/* clock: the one clock of dimed's timers, the monotonic one. It runs on
 * across a restart of dimed within a boot, so times saved in the state
 * file (src/state.c) stay comparable. */
#ifndef DIME_CLOCK_H
#define DIME_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static inline uint32_t clock_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)ts.tv_sec;
}

#endif
