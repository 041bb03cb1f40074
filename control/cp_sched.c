/*
 * cp_sched.c - calendar-driven transitions of the contract lifecycle; see cp_sched.h.
 *
 * Role: control plane, called every few tens of milliseconds by tokexd's control thread,
 * or as fast as a test advances its clock. Each contract moves one transition per step;
 * steps repeat until nothing is due, so the order of events is always the calendar's.
 */
#include "cp_sched.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <tokex/proto.h>

void cp_sched_init(struct cp_sched *s, struct cp_life *L, uint64_t (*clock)(void *), void *arg)
{
	memset(s, 0, sizeof(*s));
	s->L = L;
	s->clock = clock;
	s->clock_arg = arg;
	s->vol_halt_ns = 120ull * 1000000000ull;
	s->sync_ns = 1000000000ull;
	s->auto_list = 1;
	s->auto_delist = 1;
}

static int cp_slot_phase(int slot)
{
	switch (slot) {
	case CP_SLOT_PRE_OPEN:
	case CP_SLOT_AUCTION:
		return TKX_PHASE_PRE_OPEN;
	case CP_SLOT_CONTINUOUS:
		return TKX_PHASE_CONTINUOUS;
	case CP_SLOT_BREAK:
		return TKX_PHASE_BREAK;
	default:
		return -1;
	}
}

int cp_sched_resume_phase(const struct cp_sched *s)
{
	int32_t day;
	uint32_t min;
	cp_cal_local(&s->L->cal, s->L->now, &day, &min);
	return cp_slot_phase(cp_cal_slot(&s->L->cal, day, min));
}

/* Lists the month after the furthest one, referenced on its latest settlement. */
static int cp_list_next(struct cp_sched *s, const struct cp_life_contract *like, char *err,
			size_t len)
{
	struct cp_life *L = s->L;
	uint32_t last = cp_life_last_month(L);
	if (last == 0)
		return 0;
	const struct cp_life_contract *far = cp_life_find(L, last);
	struct cp_life_params p = {
		.id = cp_cal_month_add(last, 1),
		.core = like->core,
		.tick = like->tick,
		.ref_price = far->settle,
		.max_qty = like->max_qty,
		.max_orders = like->max_orders,
	};
	/* The slot of a delisted contract is reused: the table never fills up over years. */
	for (uint32_t i = 0; i < L->n; i++)
		if (L->c[i].phase == TKX_PHASE_DELISTED) {
			L->c[i] = L->c[--L->n];
			break;
		}
	int rc = cp_life_define(L, &p, err, len);
	if (rc == 0)
		rc = cp_life_list(L, p.id, err, len);
	return rc;
}

/* One transition for contract k if one is due: 1 made, 0 nothing due, < 0 failed. */
static int cp_step(struct cp_sched *s, struct cp_life_contract *k, int32_t day, uint32_t min,
		   char *err, size_t len)
{
	struct cp_life *L = s->L;
	int slot = cp_cal_slot(&L->cal, day, min);
	int closing = day != k->trade_day || slot == CP_SLOT_CLOSED;
	int rc;

	switch (k->phase) {
	case TKX_PHASE_LISTED:
	case TKX_PHASE_SETTLED:
		if (k->phase == TKX_PHASE_SETTLED && k->settled_day >= k->last_trading_day) {
			rc = cp_life_expire(L, k->id, day, err, len);
			if (rc == 0 && s->auto_list) {
				struct cp_life_contract like = *k;
				rc = cp_list_next(s, &like, err, len);
			}
			return rc < 0 ? rc : 1;
		}
		/* A day already over is not opened (tokexd started after the close). */
		if (slot != CP_SLOT_NONE && slot != CP_SLOT_CLOSED && k->trade_day < day &&
		    day <= k->last_trading_day) {
			rc = cp_life_pre_open(L, k->id, day, err, len);
			return rc < 0 ? rc : 1;
		}
		return 0;
	case TKX_PHASE_PRE_OPEN:
		if (k->halt_reason == CP_HALT_VOLATILITY) {
			/* A volatility auction: uncross back into the calendar's phase when it
			 * has lasted vol_halt_ns; the close ends it like any trading phase. */
			if (closing)
				rc = cp_life_close(L, k->id, err, len);
			else if (L->now - k->halted_at >= s->vol_halt_ns)
				rc = cp_life_uncross(L, k->id, slot == CP_SLOT_BREAK ? TKX_PHASE_BREAK
										 : TKX_PHASE_CONTINUOUS,
						     err, len);
			else
				return 0;
			return rc < 0 ? rc : 1;
		}
		if (slot == CP_SLOT_PRE_OPEN && !closing)
			return 0;
		rc = cp_life_uncross(L, k->id, TKX_PHASE_AUCTION, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_AUCTION:
	case TKX_PHASE_BREAK:
		if (closing)
			rc = cp_life_close(L, k->id, err, len);
		else if (slot == CP_SLOT_CONTINUOUS)
			rc = cp_life_open(L, k->id, err, len);
		else
			return 0;
		return rc < 0 ? rc : 1;
	case TKX_PHASE_CONTINUOUS:
		if (closing)
			rc = cp_life_close(L, k->id, err, len);
		else if (slot == CP_SLOT_BREAK)
			rc = cp_life_break(L, k->id, err, len);
		else
			return 0;
		return rc < 0 ? rc : 1;
	case TKX_PHASE_HALTED:
		/* The operator's halt lasts until 'resume'; the close still closes it. */
		if (!closing)
			return 0;
		rc = cp_life_close(L, k->id, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_CLOSED:
		rc = cp_life_settle(L, k->id, k->trade_day, err, len);
		return rc < 0 ? rc : 1;
	case TKX_PHASE_EXPIRED: {
		static struct cp_fixings fx; /* 48 KiB: the control thread's only use */
		char e[256];
		if (!L->index_file[0]) {
			snprintf(e, sizeof(e), "contract %u: expired; no index file configured "
				 "(settlement.index_file): final-settle it with 'final %u FILE'", k->id,
				 k->id);
			rc = -ENODATA;
		} else if ((rc = cp_index_load(L->index_file, &fx, e, sizeof(e))) == 0) {
			rc = cp_life_final_settle(L, k->id, &fx, e, sizeof(e));
		}
		if (rc < 0) {
			/* Waiting for the operator's file is not a failure: log each new reason once. */
			if (strcmp(e, s->final_error) != 0) {
				snprintf(s->final_error, sizeof(s->final_error), "%s", e);
				if (L->ops.log)
					L->ops.log(L->ops.arg, L->now, e);
			}
			return 0;
		}
		s->final_error[0] = '\0';
		return 1;
	}
	case TKX_PHASE_FINAL_SETTLED:
		if (!s->auto_delist)
			return 0;
		rc = cp_life_delist(L, k->id, err, len);
		return rc < 0 ? rc : 1;
	default:
		return 0;
	}
}

int cp_sched_tick(struct cp_sched *s)
{
	struct cp_life *L = s->L;
	int32_t day;
	uint32_t min;
	int made = 0, failed = 0;

	L->now = s->clock(s->clock_arg);
	cp_cal_local(&L->cal, L->now, &day, &min);
	s->ticks++;

	/* Volatility interruptions the cores started. */
	if (s->sync_ns && L->now - s->last_sync >= s->sync_ns) {
		s->last_sync = L->now;
		for (uint32_t i = 0; i < L->n; i++) {
			uint8_t ph = L->c[i].phase;
			if (ph == TKX_PHASE_PRE_OPEN || ph == TKX_PHASE_AUCTION ||
			    ph == TKX_PHASE_CONTINUOUS || ph == TKX_PHASE_BREAK) {
				int changed;
				char e[128];
				cp_life_sync(L, L->c[i].id, &changed, e, sizeof(e));
			}
		}
	}

	/* Bounded: a contract makes at most a day's worth of steps per tick (about 12), and
	 * listing adds contracts as it goes. */
	for (uint32_t i = 0; i < L->n; i++) {
		for (int guard = 0; guard < 32; guard++) {
			char err[256];
			int rc = cp_step(s, &L->c[i], day, min, err, sizeof(err));
			if (rc == 0)
				break;
			if (rc < 0) {
				snprintf(s->last_error, sizeof(s->last_error), "%s", err);
				s->errors++;
				failed = rc;
				if (L->ops.log)
					L->ops.log(L->ops.arg, L->now, err);
				break;
			}
			made++;
			s->steps++;
		}
	}
	return failed ? failed : made;
}
