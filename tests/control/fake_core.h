/* fake_core.h - a stand-in matching core for the lifecycle tests: answers every dp_ctl the
 * way dp_msg.h describes, records what it got, and lets a test inject trades, limit-locked
 * flags, a volatility halt, resting orders and failures. Header-only (static). */
#ifndef TOKEX_TEST_FAKE_CORE_H
#define TOKEX_TEST_FAKE_CORE_H

#include <errno.h>
#include <string.h>

#include "dataplane/dp_msg.h"

struct fk_contract {
	uint32_t id;
	uint8_t phase;
	int64_t lo, hi;
	uint64_t vol, notional;
	int64_t high, low, last;
	uint32_t flags;
	uint32_t orders;
	uint32_t vol_guard;
	uint8_t spot;
	int64_t arr_lo, arr_hi; /* the level array: LIST's, then RANGE's (0, 0: built at start) */
	uint32_t ranges;        /* RANGE commands taken */
	uint32_t day_orders;    /* resting DAY orders: END_OF_DAY expires them */
	uint32_t ends_of_day;   /* END_OF_DAY commands taken */
	uint32_t defines;       /* DEFINE commands taken (market data only) */
};

struct fake_core {
	struct fk_contract c[128];
	uint32_t n;
	struct dp_ctl got[8192];
	uint32_t n_got;
	int64_t uncross_price;  /* the next UNCROSS answers this */
	uint64_t uncross_qty;
	uint8_t fail_type;      /* refuse this type with fail_rc ... */
	int fail_rc;
	int drop_type;          /* ... or give no reply at all (transport error) */
	uint32_t kills, accounts;
	int64_t ind_price;      /* the next AUCTION answers this (INT64_MIN: no cross) */
	uint64_t ind_qty;
	int64_t ind_imbalance;
};

static inline struct fk_contract *fk_find(struct fake_core *f, uint32_t id)
{
	for (uint32_t i = 0; i < f->n; i++)
		if (f->c[i].id == id)
			return &f->c[i];
	return NULL;
}

static inline void fk_trade(struct fake_core *f, uint32_t id, int64_t price, uint64_t qty)
{
	struct fk_contract *k = fk_find(f, id);
	k->vol += qty;
	k->notional += (uint64_t)price * qty;
	if (k->high == INT64_MIN || price > k->high)
		k->high = price;
	if (k->low == INT64_MIN || price < k->low)
		k->low = price;
	k->last = price;
}

static inline int fake_send(void *arg, uint32_t core, const struct dp_ctl *c,
			    struct dp_ctl_reply *r)
{
	struct fake_core *f = arg;
	(void)core;
	/* Recorded until full; a test resets n_got before the part it checks. */
	if (f->n_got < 8192)
		f->got[f->n_got++] = *c;
	if (f->drop_type && c->type == f->drop_type)
		return -ETIMEDOUT;
	memset(r, 0, sizeof(*r));
	r->seq = c->seq;
	r->contract_id = c->contract_id;
	if (f->fail_type && c->type == f->fail_type) {
		r->rc = f->fail_rc;
		return 0;
	}
	struct fk_contract *k = fk_find(f, c->contract_id);
	switch (c->type) {
	case DP_CTL_LIST:
		if (k) {
			r->rc = -EEXIST;
			return 0;
		}
		k = &f->c[f->n++];
		memset(k, 0, sizeof(*k));
		k->id = c->contract_id;
		k->high = k->low = k->last = INT64_MIN;
		k->phase = 1;
		k->arr_lo = c->price;
		k->arr_hi = c->price2;
		return 0;
	case DP_CTL_KILL:
		f->kills++;
		return 0;
	case DP_CTL_ACCOUNT:
		f->accounts++;
		return 0;
	case DP_CTL_MASS_CANCEL:
		if (c->contract_id == 0) {
			for (uint32_t i = 0; i < f->n; i++) {
				r->qty += f->c[i].orders;
				f->c[i].orders = 0;
			}
			return 0;
		}
		break;
	default:
		break;
	}
	if (!k) {
		r->rc = -ENOENT;
		return 0;
	}
	switch (c->type) {
	case DP_CTL_PHASE:
		k->phase = (uint8_t)c->arg;
		break;
	case DP_CTL_BAND:
		/* As the real core: inside the level array, which the reply names. */
		r->low = k->arr_lo;
		r->high = k->arr_hi;
		if (k->arr_hi && (c->price < k->arr_lo || c->price2 > k->arr_hi)) {
			r->rc = -ERANGE;
			break;
		}
		k->lo = c->price;
		k->hi = c->price2;
		break;
	case DP_CTL_RANGE:
		k->arr_lo = c->price;
		k->arr_hi = c->price2;
		k->ranges++;
		r->low = k->arr_lo;
		r->high = k->arr_hi;
		r->qty = k->orders;
		break;
	case DP_CTL_AUCTION:
		r->price = f->ind_price;
		r->qty = f->ind_qty;
		r->high = f->ind_imbalance;
		break;
	case DP_CTL_NEW_DAY:
		k->vol = k->notional = 0;
		k->high = k->low = k->last = INT64_MIN;
		k->flags = 0;
		break;
	case DP_CTL_DAY_STATS:
		r->qty = k->vol;
		r->notional = k->notional;
		r->high = k->high;
		r->low = k->low;
		r->price = k->last;
		r->flags = k->flags;
		break;
	case DP_CTL_UNCROSS:
		k->phase = c->arg ? (uint8_t)c->arg : 3 /* AUCTION */;
		r->price = f->uncross_price;
		r->qty = f->uncross_qty;
		break;
	case DP_CTL_VOL_GUARD:
		k->vol_guard = (uint32_t)c->arg;
		break;
	case DP_CTL_END_OF_DAY:
		r->qty = k->day_orders;
		k->orders -= k->day_orders;
		k->day_orders = 0;
		k->ends_of_day++;
		break;
	case DP_CTL_SPOT:
		k->spot = (uint8_t)c->arg;
		break;
	case DP_CTL_MASS_CANCEL:
		r->qty = k->orders;
		k->orders = 0;
		break;
	case DP_CTL_DEFINE:
		k->defines++;
		break;
	case DP_CTL_DELIST:
		if (k->orders) {
			r->rc = -EBUSY;
			break;
		}
		*k = f->c[--f->n];
		return 0;
	default:
		r->rc = -EINVAL;
	}
	r->phase = k->phase;
	return 0;
}

static inline void fk_init(struct fake_core *f)
{
	memset(f, 0, sizeof(*f));
	f->uncross_price = INT64_MIN;
	f->ind_price = INT64_MIN;
}

#endif /* TOKEX_TEST_FAKE_CORE_H */
