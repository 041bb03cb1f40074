/*
 * cp_life.h - the contract lifecycle: the state machine of every AI-token futures contract
 * from its definition to its delisting.
 *
 * Role: control plane (tokexd's control thread, or a test). Owns the control plane's view
 * of each contract: its phase, today's limits, settlements. Every transition is
 *   (a) sent to the matching core that owns the contract as dp_ctl records (through
 *       struct cp_life_ops.send: in tokexd a control ring per matching core, in tests a
 *       direct call of mc_control()), and applied only when the core answers rc 0;
 *   (b) published on market data as ContractStatus: the matching core does that when it
 *       receives DP_CTL_PHASE (price = the settlement on SETTLED/FINAL_SETTLED);
 *   (c) written to the log (ops.log), one line per transition.
 * A request that is impossible in the contract's state changes nothing and returns a
 * negative errno with operator text in the caller's buffer.
 *
 * States (enum tkx_phase) and the function that makes each transition:
 *
 *   DEFINED --cp_life_list()--> LISTED
 *   DEFINED --cp_life_adopt()--> the phase the core already has (tokexd start-up)
 *   LISTED, SETTLED --cp_life_pre_open()--> PRE_OPEN        (new day: NEW_DAY, BAND,
 *                                                          VOL_GUARD; orders rest, no match)
 *   PRE_OPEN --cp_life_uncross(AUCTION)--> AUCTION          (UNCROSS at the reference)
 *   AUCTION, BREAK --cp_life_open()--> CONTINUOUS
 *   CONTINUOUS --cp_life_break()--> BREAK
 *   CONTINUOUS --(the core's price guard)--> PRE_OPEN        volatility interruption: a
 *                                   call auction the core starts itself, adopted by
 *                                   cp_life_sync() (halt_reason VOLATILITY)
 *   PRE_OPEN (volatility) --cp_life_uncross(CONTINUOUS|BREAK)--> CONTINUOUS | BREAK
 *   PRE_OPEN, AUCTION, CONTINUOUS, BREAK --cp_life_halt()--> HALTED   (operator)
 *   HALTED --cp_life_resume()--> PRE_OPEN | CONTINUOUS | BREAK  (the phase asked for)
 *   PRE_OPEN, AUCTION, CONTINUOUS, BREAK, HALTED --cp_life_close()--> CLOSED
 *                                   (then END_OF_DAY: the core expires the DAY orders)
 *   CLOSED --cp_life_settle()--> SETTLED                    (DAY_STATS -> VWAP, next limits)
 *   SETTLED ... the next business day: cp_life_pre_open() again ...
 *   SETTLED (on/after the last trading day) --cp_life_expire()--> EXPIRED
 *   LISTED, SETTLED (the last trading day over) --cp_life_expire()--> EXPIRED
 *                                          (the core cancels every resting order)
 *   EXPIRED --cp_life_final_settle()--> FINAL_SETTLED        (mean of the index fixings)
 *   FINAL_SETTLED, LISTED --cp_life_delist()--> DELISTED     (the core publishes it and
 *                                          drops the book; it refuses while orders rest)
 *
 * Invariants:
 *  1. The control plane's phase of a contract equals the core's, except for a volatility
 *     interruption the core started itself, until the next cp_life_sync().
 *  2. A failed transition leaves the control plane's state as it was. When the core
 *     refuses the first message of a multi-message transition nothing changed there
 *     either; a later message failing is logged and reported (the core is then ahead,
 *     and the operator repeats the command).
 *  3. A contract trades only between PRE_OPEN and CLOSED of a business day on or before
 *     its last trading day; a SETTLED contract has today's settlement in settle.
 *  4. Today's limits are [lo, hi] = cp_settle_limits(prev_settle, band_bp) unless the
 *     operator set them (cp_life_set_limits()), until the next pre-open.
 *  5. Account limits and the kill switch are per (firm, account) and go to every core;
 *     the spot-month position limit applies to the spot month, the listed month that
 *     expires first among those whose last trading day is not over (cp_life_spot), and
 *     only there: cp_life_spot_refresh() moves the cores' flag when that changes.
 *  6. The book's level array follows the market: at a pre-open whose widest possible
 *     limits leave it, the core moves it to +-CP_LIFE_ARRAY_BP around the reference
 *     (DP_CTL_RANGE), so prices can go anywhere over a contract's life; limits that
 *     still leave it are clipped to it, and operator limits outside it are refused.
 */
#ifndef TOKEX_CP_LIFE_H
#define TOKEX_CP_LIFE_H

#include <stddef.h>
#include <stdint.h>

#include "cp_cal.h"
#include "cp_settle.h"
#include "dataplane/dp_msg.h"

#define CP_LIFE_MAX 64
#define CP_LIFE_MAX_ACCOUNTS 64
#define CP_LIFE_ARRAY_BP 5000 /* a book's price range: +-50 % of the reference it is laid at */

enum cp_halt_reason { CP_HALT_NONE = 0, CP_HALT_OPERATOR = 1, CP_HALT_VOLATILITY = 2 };

struct cp_life_contract {
	uint32_t id;
	char symbol[24];
	uint32_t core;
	uint8_t phase;        /* enum tkx_phase */
	uint8_t halt_reason;  /* enum cp_halt_reason while HALTED */
	uint8_t first_day;    /* next/this trading day is its first */
	uint8_t limits_set;   /* operator limits in force today */
	uint8_t spot;         /* carries the core's spot-month flag */
	int64_t tick;
	int64_t max_qty;
	uint32_t max_orders;
	int64_t prev_settle;  /* the reference: centre of today's limits */
	int64_t settle;       /* the latest daily settlement */
	int64_t final_settle;
	uint32_t band_bp;     /* today's */
	int64_t lo, hi;       /* today's limits */
	int64_t arr_lo, arr_hi; /* the book's level array as the core last said (0, 0: not
				 * known yet: a book the core built at start) */
	uint32_t locked_flags; /* the latest settled day's DAY_STATS flags */
	int32_t last_trading_day;
	int32_t trade_day;    /* the business day it last opened (pre-open), -1 never */
	int32_t settled_day;  /* the day of its latest settlement, -1 never */
	uint32_t days_traded;
	uint64_t halted_at;   /* ns, when it was halted */
	/* the latest DAY_STATS */
	uint64_t volume;
	uint64_t notional;
	int64_t high, low, last;
	int64_t uncross_price;
	uint64_t uncross_qty;
};

struct cp_account {
	uint32_t firm;
	uint32_t account;
	int64_t max_qty;
	int64_t max_pos;
	int64_t max_pos_spot;
	uint8_t killed;
};

/* How the lifecycle reaches matching cores and the log. send() delivers one dp_ctl to
 * core and waits for its reply: 0 when a reply came (its rc says what the core did), or a
 * negative errno when none did (-EAGAIN ring full, -ETIMEDOUT). */
struct cp_life_ops {
	int (*send)(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r);
	void (*log)(void *arg, uint64_t now, const char *line);
	void *arg;
};

struct cp_life_stats {
	uint64_t ctl_sent;
	uint64_t ctl_failed;   /* no reply, or the core refused */
	uint64_t transitions;
	uint64_t refused;      /* impossible requests */
	uint64_t settlements;
	uint64_t listed;
	uint64_t delisted;
	uint64_t vol_halts;
};

struct cp_life {
	struct cp_life_ops ops;
	struct cp_cal cal;
	struct cp_band_rule band;
	uint32_t vol_guard_bp;
	uint32_t n_cores;
	uint64_t now;  /* ns, set by the caller (the scheduler's clock) before each call */
	uint64_t seq;
	struct cp_life_stats st;
	uint32_t n;
	struct cp_life_contract c[CP_LIFE_MAX];
	uint32_t n_accounts;
	struct cp_account acct[CP_LIFE_MAX_ACCOUNTS];
	char index_file[128];
};

/* Book parameters of a new contract. */
struct cp_life_params {
	uint32_t id;
	const char *symbol; /* NULL: TKNyymm */
	uint32_t core;
	int64_t tick;
	int64_t ref_price;  /* its first day's reference */
	int64_t max_qty;
	uint32_t max_orders;
};

/* Empty lifecycle: product rules by default (8 % / 16 % / 12 %, built-in calendar). */
void cp_life_init(struct cp_life *L, const struct cp_life_ops *ops, uint32_t n_cores);

struct cp_life_contract *cp_life_find(struct cp_life *L, uint32_t id);
const char *cp_life_phase_name(int phase);

/* DEFINED: known to the control plane only. -EEXIST, -ENOSPC, -EINVAL. */
int cp_life_define(struct cp_life *L, const struct cp_life_params *p, char *err, size_t len);
/* DEFINED -> LISTED. A core that already holds the book (tokexd builds the configured
 * contracts at start) answers -EEXIST, which adopts it. */
int cp_life_list(struct cp_life *L, uint32_t id, char *err, size_t len);
/* A contract the core already runs in phase (tokexd builds the configured contracts at
 * start and opens them when no scheduler drives them): DEFINED -> phase; the only
 * message is the spot-month flag when it becomes the spot month.
 * today is the trading day when phase is a trading phase. */
int cp_life_adopt(struct cp_life *L, uint32_t id, int phase, int32_t today, char *err,
		  size_t len);
int cp_life_pre_open(struct cp_life *L, uint32_t id, int32_t day, char *err, size_t len);
/* next: AUCTION (the opening: no order entry until cp_life_open()), or CONTINUOUS/BREAK
 * (the end of a volatility interruption). */
int cp_life_uncross(struct cp_life *L, uint32_t id, int next, char *err, size_t len);
int cp_life_open(struct cp_life *L, uint32_t id, char *err, size_t len);
int cp_life_break(struct cp_life *L, uint32_t id, char *err, size_t len);
int cp_life_halt(struct cp_life *L, uint32_t id, int reason, char *err, size_t len);
int cp_life_resume(struct cp_life *L, uint32_t id, int phase, char *err, size_t len);
int cp_life_close(struct cp_life *L, uint32_t id, char *err, size_t len);
int cp_life_settle(struct cp_life *L, uint32_t id, int32_t day, char *err, size_t len);
/* LISTED or SETTLED -> EXPIRED when cp_life_expiry_due(). */
int cp_life_expire(struct cp_life *L, uint32_t id, int32_t today, char *err, size_t len);
/* Whether the contract's last trading day is over on day today (local): a later day, or
 * that day once the calendar closed the market (L->now). Never for a contract that is
 * not a month. */
int cp_life_ltd_over(const struct cp_life *L, const struct cp_life_contract *k, int32_t today);
/* Expiry follows the calendar, whatever the contract did: due for a SETTLED contract
 * settled on its last trading day, and for a LISTED or SETTLED one once its last
 * trading day is over (tokexd was not running then, started after its close, or the
 * month was never opened). */
int cp_life_expiry_due(const struct cp_life *L, const struct cp_life_contract *k, int32_t today);
/* EXPIRED -> FINAL_SETTLED from the fixings (cp_settle_final); *f (may be NULL) says what
 * was averaged and which rows were skipped. */
int cp_life_final_settle(struct cp_life *L, uint32_t id, const struct cp_fixings *fx,
			 struct cp_final *f, char *err, size_t len);
/* Whether cp_life_delist() may go ahead (state only, nothing sent): 0 or its refusal. */
int cp_life_delist_check(struct cp_life *L, uint32_t id, char *err, size_t len);
int cp_life_delist(struct cp_life *L, uint32_t id, char *err, size_t len);
/* Never opened for a trading day: a delisted month like that may be listed again. */
int cp_life_never_traded(const struct cp_life_contract *k);
/* Drops a DELISTED contract from the table (its id may be defined again): 0, -EBUSY
 * (not delisted), -ENOENT. */
int cp_life_forget(struct cp_life *L, uint32_t id);

/* Operator limits for today: [lo, hi] on the tick grid, lo <= hi. */
int cp_life_set_limits(struct cp_life *L, uint32_t id, int64_t lo, int64_t hi, char *err,
		       size_t len);
/* Asks the core for the contract's statistics and phase; adopts a volatility
 * interruption the core started (invariant 1). Sets *changed when it did. */
int cp_life_sync(struct cp_life *L, uint32_t id, int *changed, char *err, size_t len);

/* Accounts (invariant 5): stored, then sent to every core and contract. */
int cp_life_account(struct cp_life *L, const struct cp_account *a, char *err, size_t len);
int cp_life_kill(struct cp_life *L, uint32_t firm, uint32_t account, int on, char *err,
		 size_t len);
/* Operator mass cancel of firm+account (0, 0 = everyone) on contract id (0 = all);
 * *cancelled (may be NULL) = how many orders the cores cancelled. */
int cp_life_mass_cancel(struct cp_life *L, uint32_t firm, uint32_t account, uint32_t id,
			uint64_t *cancelled, char *err, size_t len);

/* Views for the operator. The day so far, from the core (DAY_STATS) into the contract's
 * volume, notional, high, low and last. */
int cp_life_day(struct cp_life *L, uint32_t id, char *err, size_t len);
/* The indicative uncross of the book now (DP_CTL_AUCTION): price (TKX_NULL_PRICE: the
 * book does not cross), volume, imbalance (> 0 unfilled demand). */
int cp_life_indicative(struct cp_life *L, uint32_t id, int64_t *price, uint64_t *qty,
		       int64_t *imbalance, char *err, size_t len);

/* The spot month: the listed contract not yet expired, by its phase and by the calendar
 * (cp_life_ltd_over at L->now), that expires first; NULL when none. */
struct cp_life_contract *cp_life_spot(struct cp_life *L);
/* Moves the cores' spot-month flag to cp_life_spot() (off wherever else it is on):
 * 0, or the first core's refusal with text (the rest is still done). */
int cp_life_spot_refresh(struct cp_life *L, char *err, size_t len);
/* The last (furthest) listed month, 0 when none. */
uint32_t cp_life_last_month(const struct cp_life *L);

#endif /* TOKEX_CP_LIFE_H */
