/*
 * cp_sched.h - the scheduler: the calendar and a clock drive the contract lifecycle.
 *
 * Role: control plane. cp_sched_tick() reads the clock (injectable: tests advance a
 * nanosecond value and run a contract's month in seconds), and for every contract makes
 * the transitions the calendar calls for, one step at a time, so a clock that jumps over
 * several events replays them in order:
 *
 *   business day, auction entry      LISTED/SETTLED -> PRE_OPEN (new day, limits)
 *   auction match                    PRE_OPEN -> AUCTION (uncross)
 *   a session starts                 AUCTION/BREAK -> CONTINUOUS
 *   a session ends (not the last)    CONTINUOUS -> BREAK
 *   the last session ends            any trading phase (halted included) -> CLOSED
 *                                    -> SETTLED (daily settlement)
 *   settled on its last trading day  -> EXPIRED, and the month after the furthest listed
 *                                    month is defined and listed (reference: the furthest
 *                                    month's latest settlement)
 *   EXPIRED                          -> FINAL_SETTLED as soon as the index file has the
 *                                    month's fixings (re-read each tick until it does)
 *   FINAL_SETTLED                    -> DELISTED
 *
 * A contract halted by the operator stays halted until resumed (tokexctl resume), except
 * that the close still closes and settles it; resumed, it goes to the phase the calendar
 * says. A volatility interruption (the core's price guard moves the contract into a call
 * auction, PRE_OPEN, by itself; seen by polling DP_CTL_DAY_STATS every sync_ns) is
 * uncrossed back into the calendar's phase after vol_halt_ns.
 */
#ifndef TOKEX_CP_SCHED_H
#define TOKEX_CP_SCHED_H

#include <stdint.h>

#include "cp_life.h"

struct cp_sched {
	struct cp_life *L;
	uint64_t (*clock)(void *arg); /* UTC ns */
	void *clock_arg;
	uint64_t vol_halt_ns;  /* a volatility interruption lasts this long */
	uint64_t sync_ns;      /* poll the cores for volatility halts this often (0 = never) */
	uint64_t last_sync;
	int auto_list;         /* list the next month when one expires */
	int auto_delist;       /* delist after final settlement */
	uint64_t ticks;
	uint64_t steps;        /* transitions made */
	uint64_t errors;
	char last_error[256];
	char final_error[256]; /* the latest final-settlement failure (logged once) */
};

/* Defaults: 2-minute volatility interruptions, polled every second, auto list/delist. */
void cp_sched_init(struct cp_sched *s, struct cp_life *L, uint64_t (*clock)(void *), void *arg);

/* Runs every transition due at the clock's time. Returns transitions made, or a negative
 * errno when one failed (the text in s->last_error; the next tick tries again). */
int cp_sched_tick(struct cp_sched *s);

/* The slot's phase, what cp_life_resume() should be given now (PRE_OPEN, CONTINUOUS or
 * BREAK), or -1 when the calendar has the market closed. */
int cp_sched_resume_phase(const struct cp_sched *s);

#endif /* TOKEX_CP_SCHED_H */
