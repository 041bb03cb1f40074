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
 *                                    month's latest settlement, that day's: the listing
 *                                    waits until every contract has settled)
 *   LISTED/SETTLED past the close    -> EXPIRED too (expiry follows the calendar, whatever
 *   of its last trading day             the start time), and the next month as above
 *   EXPIRED                          -> FINAL_SETTLED as soon as the index file has the
 *                                    month's business-day fixings (the file is read
 *                                    again when it changes, not every tick; waiting is
 *                                    neither a failure nor a refusal)
 *   FINAL_SETTLED                    -> DELISTED
 *
 * When the clock jumps (a simulated calendar moved on by the operator, a fast rate, the
 * control thread kept off its CPU), a tick first visits every slot change of the calendar
 * since the previous tick (cp_cal_next_event), in order, then the time now: each trading
 * day on the way opens, trades, closes and settles, expiries and listings happen on their
 * day. The first tick of a run takes the calendar as it finds it: a day already over when
 * tokexd starts is not opened.
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

/* What the scheduler last told the log about one contract: a failure is logged once,
 * then counted while it repeats; a wait (for an index fixing) is logged once a reason. */
struct cp_sched_note {
	uint32_t id;
	uint8_t used;
	uint32_t err_hash;  /* of the failure last logged */
	uint64_t repeats;   /* failures with that text since (0: none) */
	uint32_t wait_hash; /* of the wait reason last logged (0: none) */
};

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
	uint64_t last_now;     /* the clock at the previous tick (0: none yet) */
	uint64_t events;       /* slot changes visited between ticks (the clock jumped) */
	uint64_t steps;        /* transitions made */
	uint64_t errors;       /* failed transitions, every one */
	uint64_t errors_quiet; /* ... of them not logged: the same error again */
	char last_error[256];
	struct cp_sched_note note[CP_LIFE_MAX + 1]; /* + 1: the spot month's refresh */
	/* Months expired at this moment whose next month the roll lists at its end. */
	struct cp_life_contract roll[CP_LIFE_MAX];
	uint32_t n_roll;
	/* The index file as last read (settlement.index_file): read again only when it
	 * changed (inode, size, modification time), so waiting for a fixing costs a stat. */
	struct cp_fixings fx;
	uint64_t fx_ino, fx_size, fx_mtime_ns;
	int fx_rc;             /* 0 read, < 0 the reading's error (fx_text) */
	char fx_text[256];
	uint64_t index_reads;  /* times the index file was read */
	uint64_t final_waits;  /* reasons a final settlement waited for (logged; not refusals) */
};

/* Slot changes one tick visits at most (ten years of trading days). */
#define CP_SCHED_MAX_EVENTS 40000

/* Defaults: 2-minute volatility interruptions, polled every second, auto list/delist. */
void cp_sched_init(struct cp_sched *s, struct cp_life *L, uint64_t (*clock)(void *), void *arg);

/* Runs every transition due at the clock's time. Returns transitions made, or a negative
 * errno when one failed (the text in s->last_error; the next tick tries again). A failure
 * is logged once; the same failure again on the same contract is counted (errors_quiet)
 * and logged again only when its text changes; the contract's next transition logs that
 * it recovered and how often the error repeated. */
int cp_sched_tick(struct cp_sched *s);

/* The slot's phase, what cp_life_resume() should be given now (PRE_OPEN, CONTINUOUS or
 * BREAK), or -1 when the calendar has the market closed. */
int cp_sched_resume_phase(const struct cp_sched *s);

#endif /* TOKEX_CP_SCHED_H */
