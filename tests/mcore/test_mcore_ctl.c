/* test_mcore_ctl.c - a matching core's control commands (mc_control): phases and the call
 * auction, uncross, the volatility interruption, band, day statistics and the
 * limit-locked flags, account limits and positions, kill switch, operator mass cancel,
 * listing and delisting at runtime. Expected prices and quantities are computed by hand
 * in the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mc_core.h"

#include <tokex/codec.h>

#define C1 202612
#define C2 202701 /* listed as spot month */
#define NOW 1000
#define MAXEV 1024

static struct dp_event got[MAXEV];
static uint32_t n_got;
static struct dp_event buf[4]; /* small: flushes in the middle of a sweep */

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		assert_true(n_got < MAXEV);
		got[n_got++] = o->ev[i];
	}
	o->n = 0;
}

static struct mc_out out = { buf, 0, 4, collect, NULL };

/* +-50% of 25000 on a tick of 10: the level array every band of the contract fits in. */
static const struct me_params BOOK = { .price_lo = 12500, .price_hi = 37500, .tick = 10,
				       .max_qty = 1000, .max_orders = 64 };

static int setup(void **state)
{
	struct mc_contract_params p[2];
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 2; i++) {
		p[i].id = i ? C2 : C1;
		p[i].book = BOOK;
		p[i].phase = TKX_PHASE_CONTINUOUS;
	}
	p[1].spot = 1;
	struct mc_core_cfg cfg = { .capacity = 4, .accounts = 8,
				   .slot_bytes = me_book_memsize(&BOOK) };
	size_t len = mc_core_memsize_cfg(p, 2, &cfg);
	assert_true(len > 0);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init_cfg(mem, len, p, 2, &cfg);
	assert_non_null(mc);
	*state = mc;
	n_got = 0;
	return 0;
}

static int teardown(void **state)
{
	free(*state);
	return 0;
}

static uint64_t next_clid = 1;

static struct dp_order order(uint32_t contract, uint32_t firm, uint32_t account, uint8_t side,
			     int64_t price, uint32_t qty, uint8_t tif)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_NEW;
	o.src = (uint8_t)firm;
	o.session = (uint16_t)(account + 1);
	o.firm_id = firm;
	o.account = account;
	o.cl_ord_id = next_clid++;
	o.side = side;
	o.price = price;
	o.qty = qty;
	o.tif = tif;
	o.contract_id = contract;
	return o;
}

static void run(struct mc_core *mc, struct dp_order o)
{
	n_got = 0;
	mc_process(mc, &o, 1, NOW, &out);
}

/* Sends a NEW; returns its order id (0 when rejected, *why = the reason). */
static uint64_t nw(struct mc_core *mc, uint32_t contract, uint32_t firm, uint32_t account,
		   uint8_t side, int64_t price, uint32_t qty, uint8_t tif, uint16_t *why)
{
	run(mc, order(contract, firm, account, side, price, qty, tif));
	if (why)
		*why = 0;
	if (got[0].template_id == TKX_EXEC_REJECT) {
		if (why)
			*why = got[0].u.reject.reason;
		return 0;
	}
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	return got[0].u.ack.order_id;
}

static uint16_t nw_rej(struct mc_core *mc, uint32_t contract, uint32_t firm, uint32_t account,
		       uint8_t side, int64_t price, uint32_t qty, uint8_t tif)
{
	uint16_t why;
	assert_int_equal(nw(mc, contract, firm, account, side, price, qty, tif, &why), 0);
	return why;
}

static int ctl(struct mc_core *mc, struct dp_ctl c, struct dp_ctl_reply *r)
{
	static uint64_t seq;
	struct dp_ctl_reply tmp;
	if (!r)
		r = &tmp;
	c.seq = ++seq;
	c.now = NOW;
	n_got = 0;
	int rc = mc_control(mc, &c, &out, r);
	assert_int_equal(r->rc, rc);
	assert_int_equal(r->seq, seq);
	return rc;
}

static int phase(struct mc_core *mc, uint32_t contract, uint8_t ph)
{
	return ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = contract, .arg = ph },
		   NULL);
}

static uint32_t count(uint16_t template_id)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < n_got; i++)
		n += got[i].template_id == template_id;
	return n;
}

static const struct dp_event *nth(uint16_t template_id, uint32_t k)
{
	for (uint32_t i = 0; i < n_got; i++)
		if (got[i].template_id == template_id && k-- == 0)
			return &got[i];
	fail_msg("no event %u #%u", template_id, k);
	return NULL;
}

/* ---- phases, auction, uncross ---------------------------------------------------------- */

/*
 * Opening auction on C1: bid 25100x10 (firm 1), asks 25000x4 and 25050x10 (firm 2).
 * Candidates [25000, 25100]: D = 10 throughout; S = 4 below 25050, 14 from it. Volume 4
 * below 25050, 10 from it (imbalance 4 everywhere there); the reference 25000 is
 * nearest 25050. Fills: the bid with 25000x4, then with 25050x6; all at 25050.
 */
static void test_auction_uncross(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	assert_int_equal(phase(mc, C1, TKX_PHASE_PRE_OPEN), 0);
	assert_int_equal(count(TKX_MD_CONTRACT_STATUS), 1);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_PRE_OPEN);

	uint64_t b = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25100, 10, TKX_TIF_GTC, NULL);
	assert_int_equal(count(TKX_FILL), 0);
	uint64_t s1 = nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 4, TKX_TIF_GTC, NULL);
	assert_int_equal(count(TKX_FILL), 0); /* crossed, no trade */
	/* Top of book shows the crossed auction book. */
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.bid_price, 25100);
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.ask_price, 25000);
	uint64_t s2 = nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25050, 10, TKX_TIF_GTC, NULL);
	assert_true(b && s1 && s2);
	assert_int_equal(nw_rej(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 1, TKX_TIF_IOC), TKX_REJ_PHASE);
	assert_int_equal(nw_rej(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 1, TKX_TIF_FOK), TKX_REJ_PHASE);

	/* Cannot open while crossed. */
	assert_int_equal(phase(mc, C1, TKX_PHASE_CONTINUOUS), -EBUSY);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_PRE_OPEN);

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1,
						  .price = 25000 }, &r), 0);
	assert_int_equal(r.price, 25050);
	assert_int_equal(r.qty, 10);
	assert_int_equal(r.phase, TKX_PHASE_AUCTION);
	assert_int_equal(count(TKX_FILL), 4);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	const struct dp_event *f0 = nth(TKX_FILL, 0), *f1 = nth(TKX_FILL, 1);
	assert_int_equal(f0->u.fill.order_id, b);
	assert_int_equal(f0->u.fill.qty, 4);
	assert_int_equal(f0->u.fill.leaves_qty, 6);
	assert_int_equal(f0->u.fill.price, 25050);
	assert_int_equal(f0->u.fill.aggressor, 0);
	assert_int_equal(f1->u.fill.order_id, s1);
	assert_int_equal(f1->u.fill.aggressor, 0);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.order_id, s2);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.qty, 6);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.leaves_qty, 4);
	/* Nobody aggressed an uncross trade: aggressor side NONE, which the schema and the
	 * validator accept (a 0 that no enum named was rejected by both before). */
	assert_int_equal(nth(TKX_MD_TRADE, 0)->u.trade.aggressor_side, TKX_AGGRESSOR_NONE);
	{
		struct tkx_msg m = { .template_id = TKX_MD_TRADE };
		uint16_t why = 0xFFFF;
		m.md_trade = nth(TKX_MD_TRADE, 0)->u.trade;
		assert_int_equal(tkx_validate(&m, &why), 0);
	}
	assert_int_equal(nth(TKX_MD_TRADE, 1)->u.trade.price, 25050);
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.bid_price, TKX_NULL_PRICE);
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.ask_price, 25050);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_AUCTION);

	/* AUCTION takes no orders; CONTINUOUS opens, and orders match again. */
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 25050, 1, TKX_TIF_GTC), TKX_REJ_PHASE);
	assert_int_equal(phase(mc, C1, TKX_PHASE_CONTINUOUS), 0);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25050, 1, TKX_TIF_IOC, NULL);
	assert_int_equal(count(TKX_FILL), 2);
	assert_int_equal(nth(TKX_FILL, 0)->u.fill.aggressor, 1);

	/* UNCROSS straight into CONTINUOUS, on a book that does not cross. */
	phase(mc, C1, TKX_PHASE_PRE_OPEN);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1,
						  .arg = TKX_PHASE_CONTINUOUS }, &r), 0);
	assert_true(r.price == INT64_MIN);
	assert_int_equal(r.qty, 0);
	assert_int_equal(r.phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1,
						  .arg = TKX_PHASE_EXPIRED }, &r), -EINVAL);
	/* Only from PRE_OPEN. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1 }, &r),
			 -EPERM);
	assert_int_equal(r.phase, TKX_PHASE_CONTINUOUS);
}

static void test_phase_halt_expire(void **state)
{
	struct mc_core *mc = *state;
	uint64_t id = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 0, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC, NULL);

	assert_int_equal(phase(mc, C1, TKX_PHASE_HALTED), 0);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_HALTED);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC), TKX_REJ_HALTED);
	phase(mc, C1, TKX_PHASE_BREAK);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC), TKX_REJ_PHASE);
	phase(mc, C1, TKX_PHASE_CLOSED);
	assert_true(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.price == TKX_NULL_PRICE);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC), TKX_REJ_PHASE);
	/* Settled: the daily settlement price is published with the status. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = C1,
						 .arg = TKX_PHASE_SETTLED, .price = 25110 }, NULL), 0);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_SETTLED);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.price, 25110);
	phase(mc, C1, TKX_PHASE_CLOSED);
	/* Cancels still work while closed. */
	struct dp_order c = order(C1, 1, 1, 0, 0, 0, 0);
	c.type = DP_ORD_CANCEL;
	c.order_id = id;
	run(mc, c);
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	/* EXPIRED cancels what rests, reason EXPIRY. */
	assert_int_equal(phase(mc, C1, TKX_PHASE_EXPIRED), 0);
	assert_int_equal(count(TKX_CANCELLED), 1);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_EXPIRY);
	assert_int_equal(nth(TKX_CANCELLED, 0)->src, 2);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);
	assert_int_equal(phase(mc, C1, 42), -EINVAL);
	assert_int_equal(phase(mc, 4242, TKX_PHASE_HALTED), -ENOENT);
	/* The old entry point is the same command. */
	n_got = 0;
	assert_int_equal(mc_set_phase(mc, C2, TKX_PHASE_PRE_OPEN, NOW, &out), 0);
	assert_int_equal(me_book_auction(mc_book(mc, C2)), 1);
}

/* ---- volatility interruption -------------------------------------------------------------- */

/*
 * Guard 100 bp around the reference 25000 (no trade yet): [24750, 25250]. Asks 25000x5,
 * 25300x5; a buy 25400x10 trades 5 at 25000, stops before 25300: volatility auction.
 * Uncross (ref 25000): [25300, 25400] all trade 5 (imbalance 0) -> 25300; reopen.
 * The reference is now 25300: guard [25047, 25553]. An IOC buy through an ask at 25560
 * trips it again: its remainder leaves IOC.
 */
static void test_vol_guard(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_VOL_GUARD, .contract_id = C1,
						  .arg = 100, .price = 25000 }, NULL), 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25300, 5, TKX_TIF_GTC, NULL);
	uint64_t b = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25400, 10, TKX_TIF_GTC, NULL);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(nth(TKX_MD_TRADE, 0)->u.trade.price, 25000);
	assert_int_equal(count(TKX_MD_CONTRACT_STATUS), 1);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_PRE_OPEN);
	assert_int_equal(mc_vol_interrupted(mc, C1), 1);
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)b, &v), 0);
	assert_int_equal(v.qty, 5);
	/* In the volatility auction: IOC rejected, GTC rests. */
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 25400, 1, TKX_TIF_IOC), TKX_REJ_PHASE);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r);
	assert_int_equal(r.flags & 4u, 4u);

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1,
						  .price = 25000, .arg = TKX_PHASE_CONTINUOUS }, &r), 0);
	assert_int_equal(r.price, 25300);
	assert_int_equal(r.qty, 5);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_CONTINUOUS);
	assert_int_equal(mc_vol_interrupted(mc, C1), 0);
	int64_t lo, hi;
	me_book_guard(mc_book(mc, C1), &lo, &hi);
	assert_int_equal(lo, 25300 - 253);
	assert_int_equal(hi, 25300 + 253);

	/* Inside the new guard: trades; through it: IOC remainder leaves, auction again. */
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25500, 2, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25560, 2, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25600, 4, TKX_TIF_IOC, NULL);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(count(TKX_CANCELLED), 1);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_IOC);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.qty, 2);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_PRE_OPEN);
	/* The guard off: open, and a sweep goes through. */
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_VOL_GUARD, .contract_id = C1, .arg = 0 }, NULL);
	assert_int_equal(phase(mc, C1, TKX_PHASE_CONTINUOUS), 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 30000, 2, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 30000, 4, TKX_TIF_IOC, NULL);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_CONTINUOUS);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_VOL_GUARD, .contract_id = C1,
						  .arg = 1000000 }, NULL), -EINVAL);
}

/* ---- band, day statistics, limit-locked ------------------------------------------------- */

static void test_band_and_day_stats(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 24000, .price2 = 26000 }, NULL), 0);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 26010, 1, TKX_TIF_GTC),
			 TKX_REJ_PRICE_BAND);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 23990, 1, TKX_TIF_GTC),
			 TKX_REJ_PRICE_BAND);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 12000, .price2 = 26000 }, NULL), -ERANGE);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 26000, .price2 = 24000 }, NULL), -EINVAL);

	/* Trades: 3 @ 25000, 2 @ 25500, 5 @ 24500. volume 10, notional 75000 + 51000 +
	 * 122500 = 248500, high 25500, low 24500, last 24500. */
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 3, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25000, 3, TKX_TIF_IOC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25500, 2, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25500, 2, TKX_TIF_IOC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_BUY, 24500, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_SELL, 24500, 5, TKX_TIF_IOC, NULL);
	/* Limit-up locked: a bid at the upper limit and no ask. */
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 26000, 7, TKX_TIF_GTC, NULL);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r),
			 0);
	assert_int_equal(r.qty, 10);
	assert_int_equal(r.notional, 248500);
	assert_int_equal(r.high, 25500);
	assert_int_equal(r.low, 24500);
	assert_int_equal(r.price, 24500);
	assert_int_equal(r.flags, 1u);
	assert_int_equal(r.phase, TKX_PHASE_CONTINUOUS);
	/* An ask appears: not locked any more. */
	uint64_t a = nw(mc, C1, 2, 1, TKX_SIDE_SELL, 26000 - 0, 1, TKX_TIF_POST, NULL);
	assert_int_equal(a, 0); /* the POST would cross: rejected; still locked */
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 26000, 7, TKX_TIF_IOC, NULL); /* takes the bid */
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r);
	assert_int_equal(r.flags, 0u);
	assert_int_equal(r.qty, 17);
	/* Limit-down locked: an ask at the lower limit and no bid. */
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 24000, 1, TKX_TIF_GTC, NULL);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r);
	assert_int_equal(r.flags, 2u);

	/* NEW_DAY answers with the day that ends and resets it. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_NEW_DAY, .contract_id = C1 }, &r),
			 0);
	assert_int_equal(r.qty, 17);
	assert_int_equal(r.notional, 248500 + 7 * 26000);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r);
	assert_int_equal(r.qty, 0);
	assert_int_equal(r.notional, 0);
	assert_true(r.high == TKX_NULL_PRICE && r.low == TKX_NULL_PRICE &&
		    r.price == TKX_NULL_PRICE);
	assert_int_equal(r.flags, 2u); /* the book is still locked limit-down */
	/* A wider band the next day, still inside the level array. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 12500, .price2 = 37500 }, NULL), 0);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_DAY_STATS, .contract_id = C1 }, &r);
	assert_int_equal(r.flags, 0u);
}

/* ---- accounts ------------------------------------------------------------------------------ */

static struct mc_position posn(struct mc_core *mc, uint32_t firm, uint32_t acct, uint32_t cid)
{
	struct mc_position p;
	assert_int_equal(mc_position(mc, firm, acct, cid, &p), 0);
	return p;
}

/*
 * Firm 1 account 1: max order qty 50, max position 100 (spot month 10).
 * Buys: 40 + 40 rest (open_buy 80); 30 more would make 0 + 80 + 30 = 110 > 100: refused;
 * 20 makes exactly 100: accepted. Sells (at prices no bid reaches): 50 + 50 rest
 * (open_sell 100 - 0 = 100), 1 more refused.
 * Firm 2 sells 80 into the bids (IOC at 25000): firm 1 buys 40 + 40, pos = 80, open_buy
 * 20. Now a buy of 1: 80 + 20 + 1 = 101 > 100, refused; after cancelling the 20-lot bid
 * 20 fits (80 + 0 + 20). Sells: open_sell 100 + q - 80 <= 100, so q <= 80: the 50 lots
 * that already rest count; a new sell of 50 (max order qty) gives 100 + 50 - 80 = 70:
 * accepted.
 */
static void test_position_limits(void **state)
{
	struct mc_core *mc = *state;
	uint16_t why;

	/* An order resting before the account enters the table is followed from then on. */
	uint64_t early = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 1, .qty = 50, .price = 100,
						  .price2 = 10 }, NULL), 0);
	assert_int_equal(posn(mc, 1, 1, C1).open_buy, 5);
	struct dp_order c = order(C1, 1, 1, 0, 0, 0, 0);
	c.type = DP_ORD_CANCEL;
	c.order_id = early;
	run(mc, c);
	assert_int_equal(posn(mc, 1, 1, C1).open_buy, 0);

	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 25000, 51, TKX_TIF_GTC), TKX_REJ_MAX_QTY);
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25000, 40, TKX_TIF_GTC, NULL));
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24990, 40, TKX_TIF_GTC, NULL));
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24980, 30, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	uint64_t b20 = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24980, 20, TKX_TIF_GTC, NULL);
	assert_true(b20);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24980, 1, TKX_TIF_IOC),
			 TKX_REJ_POSITION_LIMIT); /* IOC counts too: it could fill */
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_SELL, 30000, 50, TKX_TIF_GTC, NULL));
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_SELL, 30010, 50, TKX_TIF_GTC, NULL));
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_SELL, 30020, 1, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	struct mc_position p = posn(mc, 1, 1, C1);
	assert_int_equal(p.pos, 0);
	assert_int_equal(p.open_buy, 100);
	assert_int_equal(p.open_sell, 100);
	/* Other accounts and firms are not limited. */
	assert_true(nw(mc, C1, 1, 2, TKX_SIDE_BUY, 20000, 500, TKX_TIF_GTC, NULL));

	/* Fills move the position. */
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 24990, 80, TKX_TIF_IOC, NULL);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	p = posn(mc, 1, 1, C1);
	assert_int_equal(p.pos, 80);
	assert_int_equal(p.open_buy, 20);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	c.order_id = b20;
	run(mc, c);
	assert_int_equal(posn(mc, 1, 1, C1).open_buy, 0);
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 20, TKX_TIF_GTC, NULL));
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_SELL, 30020, 50, TKX_TIF_GTC, NULL));
	assert_int_equal(posn(mc, 1, 1, C1).open_sell, 150);
	assert_int_equal(nw(mc, C1, 1, 1, TKX_SIDE_SELL, 30030, 31, TKX_TIF_GTC, &why), 0);
	assert_int_equal(why, TKX_REJ_POSITION_LIMIT); /* 150 + 31 - 80 = 101 */
	uint64_t s30 = nw(mc, C1, 1, 1, TKX_SIDE_SELL, 30030, 30, TKX_TIF_GTC, NULL);
	assert_true(s30);                                /* 150 + 30 - 80 = 100 */

	/* A MODIFY that grows an order is checked the same way (by the growth), one that
	 * shrinks it is not; both move open_sell. */
	struct dp_order m = order(C1, 1, 1, 0, 0, 0, 0);
	m.type = DP_ORD_MODIFY;
	m.order_id = s30;
	m.price = 30030;
	m.qty = 31;
	run(mc, m);
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_POSITION_LIMIT);
	m.qty = 10;
	run(mc, m);
	assert_int_equal(got[0].template_id, TKX_MODIFY_ACK);
	assert_int_equal(posn(mc, 1, 1, C1).open_sell, 160);

	/* A sell that trades reduces the position: firm 2 bids 25000x60, firm 1 hits it
	 * with 50 (IOC): pos 30. */
	nw(mc, C1, 2, 1, TKX_SIDE_BUY, 25000, 60, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 1, TKX_SIDE_SELL, 25000, 50, TKX_TIF_IOC, &why);
	assert_int_equal(why, TKX_REJ_POSITION_LIMIT); /* 160 + 50 - 80 = 130 */
	c.order_id = s30;
	run(mc, c); /* open_sell 150 */
	nw(mc, C1, 1, 1, TKX_SIDE_SELL, 25000, 30, TKX_TIF_IOC, NULL); /* 150 + 30 - 80 = 100 */
	p = posn(mc, 1, 1, C1);
	assert_int_equal(p.pos, 50);
	assert_int_equal(p.open_sell, 150);

	/* C2 is the spot month: the spot limit 10 applies; the position is per contract. */
	assert_int_equal(posn(mc, 1, 1, C2).pos, 0);
	assert_int_equal(nw_rej(mc, C2, 1, 1, TKX_SIDE_BUY, 25000, 11, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	assert_true(nw(mc, C2, 1, 1, TKX_SIDE_BUY, 25000, 10, TKX_TIF_GTC, NULL));
	assert_int_equal(nw_rej(mc, C2, 1, 1, TKX_SIDE_BUY, 25000, 1, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_SPOT, .contract_id = C2,
						  .arg = 0 }, NULL), 0);
	assert_true(nw(mc, C2, 1, 1, TKX_SIDE_BUY, 25000, 11, TKX_TIF_GTC, NULL));

	/* Bad arguments. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 0, .price = 1 }, NULL), -EINVAL);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 9, .price = -1 }, NULL), -EINVAL);
	assert_int_equal(mc_position(mc, 9, 9, C1, &p), -ENOENT);
}

struct open_sum {
	uint64_t owner;
	int64_t qty[2];
};

static int open_cb(void *arg, const struct me_order_view *o)
{
	struct open_sum *t = arg;
	if (o->owner == t->owner)
		t->qty[o->side] += o->qty;
	return 0;
}

/*
 * Many orders of both sides from firm 1 account 1 (limit 60, max order 20) and firm 2,
 * crossing at random: after every order the position equals the sum of firm 1's fills,
 * open_buy/open_sell equal a recount of its resting orders, and the worst cases stay in
 * the limit (pos + open_buy <= 60 and open_sell - pos <= 60: an accepted order respects
 * them and a fill moves quantity from open to pos without changing its side's sum).
 */
static void test_position_many(void **state)
{
	struct mc_core *mc = *state;
	uint64_t x = 0x2545F4914F6CDD1Dull;
	int64_t pos = 0;
	uint32_t rejected = 0, fills = 0;

	ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1, .account = 1, .qty = 20,
				 .price = 60 }, NULL);
	for (int i = 0; i < 400; i++) {
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		uint32_t firm = (x & 1) ? 1 : 2;
		uint8_t side = (x & 2) ? TKX_SIDE_BUY : TKX_SIDE_SELL;
		int64_t px = 24900 + 10 * (int64_t)((x >> 8) % 20);
		uint32_t q = 1 + (uint32_t)((x >> 16) % 20);
		uint8_t tif = (x >> 24) % 4 == 0 ? TKX_TIF_IOC : TKX_TIF_GTC;
		run(mc, order(C1, firm, 1, side, px, q, tif));
		for (uint32_t k = 0; k < n_got; k++) {
			const struct dp_event *e = &got[k];
			if (e->template_id == TKX_FILL && e->src == 1) {
				pos += e->u.fill.side == TKX_SIDE_BUY ? e->u.fill.qty
								      : -(int64_t)e->u.fill.qty;
				fills++;
			}
			if (e->template_id == TKX_EXEC_REJECT) {
				/* the 64-order book fills up too */
				assert_true(e->u.reject.reason == TKX_REJ_POSITION_LIMIT ||
					    e->u.reject.reason == TKX_REJ_BOOK_FULL);
				rejected += e->u.reject.reason == TKX_REJ_POSITION_LIMIT;
			}
		}
		struct open_sum t = { .owner = 1ull << 32 | 1 };
		me_book_walk(mc_book(mc, C1), open_cb, &t);
		struct mc_position mp = posn(mc, 1, 1, C1);
		assert_int_equal(mp.pos, pos);
		assert_int_equal(mp.open_buy, t.qty[ME_BUY]);
		assert_int_equal(mp.open_sell, t.qty[ME_SELL]);
		assert_true(mp.pos + mp.open_buy <= 60);
		assert_true(mp.open_sell - mp.pos <= 60);
	}
	assert_true(rejected > 10 && fills > 30); /* it reached both (110 and 48) */
}

/* ---- kill switch, operator mass cancel --------------------------------------------------- */

static void test_kill_switch(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C2, 1, 1, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 1, 2, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 1, .account = 1,
						  .arg = 1 }, &r), 0);
	assert_int_equal(r.qty, 2);
	assert_int_equal(count(TKX_CANCELLED), 2);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_KILL_SWITCH);
	assert_int_equal(nth(TKX_CANCELLED, 1)->u.cancelled.reason, TKX_CXL_KILL_SWITCH);
	assert_int_equal(count(TKX_MD_TOP_OF_BOOK), 2);
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC),
			 TKX_REJ_KILL_SWITCH);
	assert_true(nw(mc, C1, 1, 2, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL)); /* other acct */
	assert_int_equal(me_book_count(mc_book(mc, C1)), 3);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 1, .account = 1,
						  .arg = 0 }, &r), 0);
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL));

	/* Firm-wide: the orders of every account of firm 1 go; NEWs of any account of the
	 * firm, and without an account, are refused. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 1, .account = 0,
						  .arg = 1 }, &r), 0);
	assert_int_equal(r.qty, 3);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 1); /* firm 2's */
	assert_int_equal(nw_rej(mc, C1, 1, 7, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC),
			 TKX_REJ_KILL_SWITCH);
	assert_int_equal(nw_rej(mc, C1, 1, 0, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC),
			 TKX_REJ_KILL_SWITCH);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 1, .account = 0, .arg = 0 }, &r);
	assert_true(nw(mc, C1, 1, 7, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL));
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 0, .arg = 1 },
			     NULL), -EINVAL);
}

static void test_operator_mass_cancel(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C1, 2, 2, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC, NULL);
	nw(mc, C2, 2, 1, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC, NULL);
	/* Firm 2 account 1 on C1 only. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL, .contract_id = C1,
						  .firm_id = 2, .account = 1 }, &r), 0);
	assert_int_equal(r.qty, 1);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_OPERATOR);
	/* Firm 2, every account, every contract. */
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL, .firm_id = 2 }, &r);
	assert_int_equal(r.qty, 2);
	/* Everyone. */
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL }, &r);
	assert_int_equal(r.qty, 1);
	assert_int_equal(me_book_count(mc_book(mc, C1)) + me_book_count(mc_book(mc, C2)), 0);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL, .contract_id = 77 },
			     NULL), -ENOENT);
}

/* ---- listing ------------------------------------------------------------------------------- */

static struct dp_ctl list_cmd(uint32_t id, uint32_t max_orders, int spot)
{
	return (struct dp_ctl){ .type = DP_CTL_LIST, .contract_id = id, .price = BOOK.price_lo,
				.price2 = BOOK.price_hi, .qty = BOOK.max_qty,
				.arg = (uint64_t)BOOK.tick | (uint64_t)max_orders << 32 |
				       (uint64_t)(spot != 0) << 63,
				.arg8 = TKX_PHASE_CONTINUOUS };
}

/* A window wider than any free slot holds (the market moved far from the prices the slots
 * were sized for): laid over the widest window with the same centre that the largest free
 * slot holds, on the grid, and the reply says which; RANGE moves it later. */
static void test_list_wide(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;
	struct dp_ctl c = list_cmd(310, BOOK.max_orders, 0);
	c.price = 20000; /* +-50 % of 40000: 1.6 times the levels of BOOK */
	c.price2 = 60000;
	assert_int_equal(ctl(mc, c, &r), 0);
	assert_true(mc_owns(mc, 310));
	int64_t lo, hi;
	me_book_range(mc_book(mc, 310), &lo, &hi);
	assert_int_equal(r.low, lo);
	assert_int_equal(r.high, hi);
	assert_true(lo > c.price && hi < c.price2);           /* narrower ... */
	assert_int_equal(hi - lo, BOOK.price_hi - BOOK.price_lo); /* ... as wide as the slot */
	assert_int_equal((lo - c.price) % BOOK.tick, 0);
	assert_true(lo + hi >= 80000 - BOOK.tick && lo + hi <= 80000 + BOOK.tick); /* centred */
	/* Orders at the window's ends rest; beyond it they are refused, as for any book. */
	assert_true(nw(mc, 310, 1, 1, TKX_SIDE_BUY, lo, 5, TKX_TIF_GTC, NULL));
	assert_true(nw(mc, 310, 1, 1, TKX_SIDE_SELL, hi, 5, TKX_TIF_GTC, NULL));
	/* A book that needs more than one level's worth of slot for its orders: refused. */
	assert_int_equal(ctl(mc, list_cmd(311, 1u << 20, 0), NULL), -ENOSPC);
	/* The last free slot, then none. */
	assert_int_equal(ctl(mc, list_cmd(312, 16, 0), NULL), 0);
	assert_int_equal(ctl(mc, c, NULL), -EEXIST);
	c.contract_id = 313;
	assert_int_equal(ctl(mc, c, NULL), -ENOSPC);
}

static void test_list_delist(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	assert_int_equal(ctl(mc, list_cmd(300, 64, 0), &r), 0);
	assert_int_equal(r.phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.contract_id, 300);
	assert_true(mc_owns(mc, 300));
	assert_int_equal(ctl(mc, list_cmd(300, 64, 0), NULL), -EEXIST);
	assert_int_equal(ctl(mc, list_cmd(301, 4096, 0), NULL), -ENOSPC); /* too big a book */
	assert_int_equal(ctl(mc, list_cmd(301, 16, 1), NULL), 0);
	assert_int_equal(ctl(mc, list_cmd(302, 16, 0), NULL), -ENOSPC); /* no slot left */
	struct dp_ctl bad = list_cmd(303, 16, 0);
	bad.arg = 16ull << 32; /* tick 0 */
	assert_int_equal(ctl(mc, bad, NULL), -EINVAL);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_LIST }, NULL), -EINVAL);

	uint64_t id = nw(mc, 300, 1, 1, TKX_SIDE_BUY, 25000, 5, TKX_TIF_GTC, NULL);
	assert_true(id);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = 300 }, NULL),
			 -EBUSY);
	struct dp_order c = order(300, 1, 1, 0, 0, 0, 0);
	c.type = DP_ORD_CANCEL;
	c.order_id = id;
	run(mc, c);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = 300 }, &r),
			 0);
	assert_int_equal(r.phase, TKX_PHASE_DELISTED);
	assert_int_equal(nth(TKX_MD_CONTRACT_STATUS, 0)->u.status.phase, TKX_PHASE_DELISTED);
	assert_false(mc_owns(mc, 300));
	assert_true(mc_owns(mc, C1) && mc_owns(mc, C2) && mc_owns(mc, 301));
	assert_int_equal(nw_rej(mc, 300, 1, 1, TKX_SIDE_BUY, 25000, 5, TKX_TIF_GTC),
			 TKX_REJ_UNKNOWN_CONTRACT);
	/* The slot is reused. */
	assert_int_equal(ctl(mc, list_cmd(302, 16, 0), NULL), 0);
	assert_true(nw(mc, 302, 1, 1, TKX_SIDE_BUY, 25000, 5, TKX_TIF_GTC, NULL));
	/* An initial contract can be delisted too once empty; mass commands skip the hole. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = C2 }, NULL),
			 0);
	ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL }, &r);
	assert_int_equal(r.qty, 1);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = C2 }, NULL),
			 -ENOENT);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = 99 }, NULL), -EINVAL);
}

/* Sizing limits: one account entry, two followed orders. */
/* RANGE: an empty book is laid out again over the wanted window (or the widest one with
 * its centre that the slot holds); a book with orders moves along the grid under them,
 * as near the wanted window as they allow. BAND names the array; AUCTION gives the
 * indicative uncross and changes nothing. */
static void test_range_and_auction(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;
	int64_t lo, hi;
	/* BAND outside the array: refused, the array in the reply. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 11000, .price2 = 26000 }, &r), -ERANGE);
	assert_true(r.low == 12500 && r.high == 37500);
	/* Off the grid, or backwards: refused. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_RANGE, .contract_id = C1,
						  .price = 6255, .price2 = 18760 }, &r), -EINVAL);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_RANGE, .contract_id = C1,
						  .price = 9000, .price2 = 8000 }, &r), -EINVAL);
	/* Empty: laid out exactly over [6250, 18750] (+-50 % of 12500, fewer levels). */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_RANGE, .contract_id = C1,
						  .price = 6250, .price2 = 18750 }, &r), 0);
	assert_true(r.low == 6250 && r.high == 18750 && r.qty == 0);
	me_book_range(mc_book(mc, C1), &lo, &hi);
	assert_true(lo == 6250 && hi == 18750);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 11000, .price2 = 14000 }, NULL), 0);
	assert_int_equal(nw_rej(mc, C1, 1, 0, TKX_SIDE_BUY, 10990, 1, TKX_TIF_GTC),
			 TKX_REJ_PRICE_BAND);
	uint64_t bid = nw(mc, C1, 1, 0, TKX_SIDE_BUY, 11000, 3, TKX_TIF_GTC, NULL);
	assert_true(bid != 0);
	/* Wider than the slot holds (+-50 % of 50000: 5001 levels, 2501 fit): the widest
	 * window with that centre that fits, laid out only on an empty book. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_RANGE, .contract_id = C1,
						  .price = 25000, .price2 = 75000 }, &r), 0);
	/* Not empty: its 1251 levels move, but no further up than the bid at 11000 allows. */
	assert_true(r.low == 11000 && r.high == 23500 && r.qty == 1);
	const char *what = NULL;
	assert_int_equal(me_book_check(mc_book(mc, C1), &what), 0);
	/* The bid still trades, at its price. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 11000, .price2 = 23500 }, NULL), 0);
	assert_true(nw(mc, C1, 2, 0, TKX_SIDE_SELL, 11000, 1, TKX_TIF_IOC, NULL) != 0);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(nth(TKX_MD_TRADE, 0)->u.trade.price, 11000);
	/* Emptied: now laid out around 50000, as wide as the slot holds. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_MASS_CANCEL, .contract_id = C1 },
			     NULL), 0);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_RANGE, .contract_id = C1,
						  .price = 25000, .price2 = 75000 }, &r), 0);
	assert_true(r.high - r.low <= 25000 && r.high - r.low >= 24000);
	assert_true(r.low + (r.high - r.low) / 2 == 50000);
	/* AUCTION: the indicative uncross, nothing executed. C1 in an auction: bid 50100x5,
	 * ask 49900x3: volume 3 at the reference 50000 (tie nearest it), imbalance +2. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = r.low, .price2 = r.high }, NULL), 0);
	assert_int_equal(phase(mc, C1, TKX_PHASE_PRE_OPEN), 0);
	assert_true(nw(mc, C1, 1, 0, TKX_SIDE_BUY, 50100, 5, TKX_TIF_GTC, NULL) != 0);
	assert_true(nw(mc, C1, 2, 0, TKX_SIDE_SELL, 49900, 3, TKX_TIF_GTC, NULL) != 0);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_AUCTION, .contract_id = C1,
						  .price = 50000 }, &r), 0);
	assert_true(r.price == 50000 && r.qty == 3 && r.high == 2);
	assert_int_equal(n_got, 0);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 2);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_AUCTION, .contract_id = 999 },
			     &r), -ENOENT);
}

static void test_account_table_full(void **state)
{
	(void)state;
	struct mc_contract_params p;
	memset(&p, 0, sizeof(p));
	p.id = C1;
	p.book = BOOK;
	p.phase = TKX_PHASE_CONTINUOUS;
	struct mc_core_cfg cfg = { .capacity = 1, .accounts = 1, .tracked = 2 };
	size_t len = mc_core_memsize_cfg(&p, 1, &cfg);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init_cfg(mem, len, &p, 1, &cfg);
	assert_non_null(mc);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 1, .price = 1000 }, NULL), 0);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 2, .price = 1000 }, NULL), -ENOSPC);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_KILL, .firm_id = 3,
						  .arg = 1 }, NULL), -ENOSPC);
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC, NULL));
	assert_true(nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC, NULL));
	/* A third order could not be followed: refused rather than unchecked. */
	assert_int_equal(nw_rej(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC),
			 TKX_REJ_POSITION_LIMIT);
	assert_true(nw(mc, C1, 1, 2, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC, NULL)); /* no entry */
	/* Bad sizing. */
	cfg.capacity = 0;
	assert_int_equal(mc_core_memsize_cfg(&p, 1, &cfg), 0);
	cfg.capacity = MC_MAX_CONTRACTS + 1;
	assert_int_equal(mc_core_memsize_cfg(&p, 1, &cfg), 0);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_auction_uncross, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_halt_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vol_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_band_and_day_stats, setup, teardown),
		cmocka_unit_test_setup_teardown(test_position_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_position_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_switch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_operator_mass_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_delist, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_wide, setup, teardown),
		cmocka_unit_test_setup_teardown(test_range_and_auction, setup, teardown),
		cmocka_unit_test(test_account_table_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
