/*
 * cp_clock.h - the calendar's clock: the wall clock, or a simulated one that starts at a
 * given moment and runs R times real time (member test environments, end-to-end tests of
 * the lifecycle that run a month in minutes).
 *
 * Role: control plane. Everything the trading calendar drives - the scheduler, phases,
 * the trading day's sessions, settlement, expiry, listing - reads the calendar time from
 * a struct cp_clock (tokexd's control thread: td_ctl.c). The session layer's timestamps,
 * keepalives and the wire's transact times stay on the wall clock (td_clock.h).
 *
 * Rules:
 *  1. A simulated clock reads base_cal + (mono - base_mono) * rate / CP_CLOCK_RATE_ONE:
 *     it follows the monotonic clock, so a step of the wall clock does not move it.
 *  2. The wall clock (sim 0) reads the wall clock; its rate is 1.
 *  3. Rates are fixed point, millionths of real time: CP_CLOCK_RATE_ONE is real time;
 *     0 < rate <= CP_CLOCK_RATE_MAX.
 *  4. Times are UTC nanoseconds since 1970-01-01; they are written ISO-8601 with the
 *     calendar's offset ("2026-12-30T08:50:00+08:00").
 *  5. A held simulated clock stands still (tokexd holds it while it starts, so the
 *     calendar goes on from where it was when the control plane is ready; the operator
 *     holds it with 'clock hold' or 'clock to', and a restart keeps it held).
 *  6. The operator steers a simulated calendar (member test environments): hold it, run
 *     it, change its rate, or move it forward to a time and hold it there
 *     (cp_clock_advance). It never runs backwards; the wall clock is not steered.
 */
#ifndef TOKEX_CP_CLOCK_H
#define TOKEX_CP_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#define CP_CLOCK_RATE_ONE 1000000ull                      /* real time */
#define CP_CLOCK_RATE_MAX (1000000ull * CP_CLOCK_RATE_ONE) /* a million times real time */

struct cp_clock {
	uint64_t base_cal;  /* calendar UTC ns at base_mono */
	uint64_t base_mono; /* CLOCK_MONOTONIC ns */
	uint64_t rate;      /* millionths of real time (rule 3) */
	int sim;            /* 0: the wall clock */
	int held;           /* rule 5 */
};

/* The wall clock (rule 2). */
void cp_clock_wall(struct cp_clock *c);
/* A simulated clock that reads start_ns at mono_now and runs at rate (rule 1). */
void cp_clock_sim(struct cp_clock *c, uint64_t start_ns, uint64_t rate, uint64_t mono_now);
/* Rule 5: hold a simulated clock at its time at mono_now; resume it from there. */
void cp_clock_hold(struct cp_clock *c, uint64_t mono_now);
void cp_clock_resume(struct cp_clock *c, uint64_t mono_now);
/* A simulated clock's rate from mono_now on (its time at mono_now kept). */
void cp_clock_set_rate(struct cp_clock *c, uint64_t rate, uint64_t mono_now);
/* Rule 6: a simulated clock moves forward to cal_ns and is held there. 0; -ENOTSUP on the
 * wall clock; -EINVAL when cal_ns is before the clock's time at mono_now (nothing
 * changes either way). */
int cp_clock_advance(struct cp_clock *c, uint64_t cal_ns, uint64_t mono_now);
/* CLOCK_MONOTONIC now, ns (what the mono_now arguments take). */
uint64_t cp_clock_mono(void);
/* The calendar time: mono_ns and wall_ns are the two clocks read now. */
uint64_t cp_clock_now(const struct cp_clock *c, uint64_t mono_ns, uint64_t wall_ns);
/* The calendar time now (reads CLOCK_MONOTONIC and CLOCK_REALTIME). */
uint64_t cp_clock_read(const struct cp_clock *c);

/* ISO-8601 with an offset: YYYY-MM-DDTHH:MM[:SS[.fraction]] then Z, +HH:MM, -HH:MM,
 * +HHMM or +HH. 0, or -EINVAL with the reason in err (which part is wrong). */
int cp_clock_parse_time(const char *s, uint64_t *utc_ns, char *err, size_t len);
/* A decimal rate, "3600", "0.5" (at most six decimals): 0 < R <= 1000000. 0, or -EINVAL
 * with the reason in err. */
int cp_clock_parse_rate(const char *s, uint64_t *rate, char *err, size_t len);

/* "2026-12-30T08:50:00+08:00" (offset_min minutes east of UTC). */
void cp_clock_format_time(uint64_t utc_ns, int32_t offset_min, char *buf, size_t len);
/* "3600", "0.5". */
void cp_clock_format_rate(uint64_t rate, char *buf, size_t len);

#endif /* TOKEX_CP_CLOCK_H */
