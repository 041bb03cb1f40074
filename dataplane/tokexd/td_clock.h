/*
 * td_clock.h - tokexd's two clocks, in nanoseconds.
 *
 * td_now_ns() is wall-clock time: it stamps replies and market data and is compared with
 * the clients' Negotiate/Establish timestamps. td_mono_ns() never jumps: timeouts and
 * intervals. Both are clock_gettime through the vDSO: no system call, safe on a hot path.
 */
#ifndef TOKEX_TD_CLOCK_H
#define TOKEX_TD_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t td_clock_ns(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline uint64_t td_now_ns(void)
{
	return td_clock_ns(CLOCK_REALTIME);
}

static inline uint64_t td_mono_ns(void)
{
	return td_clock_ns(CLOCK_MONOTONIC);
}

#endif /* TOKEX_TD_CLOCK_H */
