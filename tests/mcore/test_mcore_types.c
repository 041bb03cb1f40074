/* test_mcore_types.c - a matching core's order types: DAY orders expired by END_OF_DAY
 * (Cancelled DAY_END), icebergs (refills, leaves_qty of the whole order, market data of the
 * visible part), stop orders (StopElected before the elected order's fills, cascades,
 * election at once, cancel and modify while held) and elected stops the engine refuses
 * (Cancelled ELECTED_REFUSED). Expected prices and quantities are worked out by hand in
 * the comments. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mc_core.h"

#define C1 202612
#define C2 202701
#define NOW 1000
#define MAXEV 1024

static struct dp_event got[MAXEV];
static uint32_t n_got;
static struct dp_event buf[4]; /* small: flushes in the middle of a sweep */

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		/* A request's end marked on an event of its own: not a reply. */
		if (o->ev[i].template_id == 0 && o->ev[i].pad[1] == DP_EV_DONE)
			continue;
		assert_true(n_got < MAXEV);
		got[n_got++] = o->ev[i];
	}
	o->n = 0;
}

static struct mc_out out = { buf, 0, 4, collect, NULL };

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

/* A NEW of firm (its session core src = firm, session = account + 1), with an iceberg's
 * show or a stop price (0: none) as the session layer fills them from a NewOrder. */
static struct dp_order order(uint32_t contract, uint32_t firm, uint32_t account, uint8_t side,
			     int64_t price, uint32_t qty, uint8_t tif, uint32_t show, int64_t stop)
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
	dp_order_set_type(&o, show, stop);
	return o;
}

static void run(struct mc_core *mc, struct dp_order o)
{
	n_got = 0;
	mc_process(mc, &o, 1, NOW, &out);
}

/* Sends a NEW that must be accepted; returns its order id. */
static uint64_t nw(struct mc_core *mc, uint32_t contract, uint32_t firm, uint32_t account,
		   uint8_t side, int64_t price, uint32_t qty, uint8_t tif, uint32_t show,
		   int64_t stop)
{
	run(mc, order(contract, firm, account, side, price, qty, tif, show, stop));
	assert_true(n_got > 0);
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	assert_int_equal(got[0].u.ack.qty, qty);
	assert_int_equal(got[0].u.ack.tif, tif);
	return got[0].u.ack.order_id;
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

static uint32_t count(uint16_t template_id)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < n_got; i++)
		n += got[i].template_id == template_id;
	return n;
}

/* Index in got[] of the k-th event of a template (fails when there is none). */
static uint32_t at(uint16_t template_id, uint32_t k)
{
	for (uint32_t i = 0; i < n_got; i++)
		if (got[i].template_id == template_id && k-- == 0)
			return i;
	fail_msg("no event %u #%u", template_id, k);
	return 0;
}

static const struct dp_event *nth(uint16_t template_id, uint32_t k)
{
	return &got[at(template_id, k)];
}

/* The event went to the session that sent order o (the id's routing, mc_core.h 1). */
static void assert_to(const struct dp_event *e, uint32_t firm, uint32_t account)
{
	assert_int_equal(e->src, firm);
	assert_int_equal(e->session, account + 1);
}

static uint32_t end_of_day(struct mc_core *mc, uint32_t contract)
{
	struct dp_ctl_reply r;
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_END_OF_DAY,
						  .contract_id = contract }, &r), 0);
	return (uint32_t)r.qty;
}

/* ---- DAY ----------------------------------------------------------------------------- */

/*
 * C1: bids DAY 24000x5 (firm 1 acct 1), GTC 24000x4 (firm 1 acct 2), DAY 24100x3 (firm 2
 * acct 1, then 1 lot sold to it: 2 left); ask DAY iceberg 26000x50 show 5 (firm 2 acct 3);
 * held DAY sell stop 23000/22900x2 (firm 1 acct 4) and GTC buy stop 27000/27100x2 (firm 1
 * acct 5). C2: a DAY bid. After CLOSED, END_OF_DAY on C1 expires four orders, bids best
 * first, then the ask, then the held DAY stop: 24100 (2), 24000 (5), 26000 (50: all of the
 * iceberg), the stop (2). The GTC bid and the GTC stop stay; C2 is untouched.
 */
static void test_day_end(void **state)
{
	struct mc_core *mc = *state;

	uint64_t d1 = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 24000, 5, TKX_TIF_DAY, 0, 0);
	uint64_t g1 = nw(mc, C1, 1, 2, TKX_SIDE_BUY, 24000, 4, TKX_TIF_GTC, 0, 0);
	uint64_t d2 = nw(mc, C1, 2, 1, TKX_SIDE_BUY, 24100, 3, TKX_TIF_DAY, 0, 0);
	uint64_t d3 = nw(mc, C1, 2, 3, TKX_SIDE_SELL, 26000, 50, TKX_TIF_DAY, 5, 0);
	uint64_t h1 = nw(mc, C1, 1, 4, TKX_SIDE_SELL, 22900, 2, TKX_TIF_DAY, 0, 23000);
	uint64_t h2 = nw(mc, C1, 1, 5, TKX_SIDE_BUY, 27100, 2, TKX_TIF_GTC, 0, 27000);
	uint64_t c2 = nw(mc, C2, 1, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_DAY, 0, 0);
	nw(mc, C1, 3, 1, TKX_SIDE_SELL, 24100, 1, TKX_TIF_IOC, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(count(TKX_STOP_ELECTED), 0); /* 24100: neither stop */
	assert_int_equal(me_book_count(mc_book(mc, C1)), 6);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 2);

	/* The close, as cp_life_close() sends it: PHASE CLOSED, then END_OF_DAY. */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = C1,
						  .arg = TKX_PHASE_CLOSED }, NULL), 0);
	assert_int_equal(end_of_day(mc, C1), 4);
	assert_int_equal(count(TKX_CANCELLED), 4);
	static const struct { uint32_t firm, acct, qty; uint8_t side; } want[4] = {
		{ 2, 1, 2, TKX_SIDE_BUY }, { 1, 1, 5, TKX_SIDE_BUY },
		{ 2, 3, 50, TKX_SIDE_SELL }, { 1, 4, 2, TKX_SIDE_SELL },
	};
	const uint64_t ids[4] = { d2, d1, d3, h1 };
	for (uint32_t k = 0; k < 4; k++) {
		const struct dp_event *e = nth(TKX_CANCELLED, k);
		assert_int_equal(e->u.cancelled.order_id, ids[k]);
		assert_int_equal(e->u.cancelled.reason, TKX_CXL_DAY_END);
		assert_int_equal(e->u.cancelled.qty, want[k].qty);
		assert_int_equal(e->u.cancelled.side, want[k].side);
		assert_int_equal(e->u.cancelled.contract_id, C1);
		/* Unsolicited: the order's own cl_ord_id in both. */
		assert_int_equal(e->u.cancelled.cl_ord_id, e->u.cancelled.orig_cl_ord_id);
		assert_to(e, want[k].firm, want[k].acct);
	}
	/* Market data: the DAY bids left the top; the GTC bid is the best now. */
	const struct dp_event *t = nth(TKX_MD_TOP_OF_BOOK, 0);
	assert_int_equal(t->u.tob.bid_price, 24000);
	assert_int_equal(t->u.tob.bid_qty, 4);
	assert_true(t->u.tob.ask_price == TKX_NULL_PRICE);
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)g1, &v), 0);
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)h2, &v), 0);
	assert_int_equal(v.stop, 27000);
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)d1, &v), -ENOENT);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 2);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 1);
	assert_int_equal(me_book_find(mc_book(mc, C2), (int64_t)c2, &v), 0);

	/* A second END_OF_DAY finds nothing; C2 has its own; an unknown contract. */
	assert_int_equal(end_of_day(mc, C1), 0);
	assert_int_equal(n_got, 0);
	assert_int_equal(end_of_day(mc, C2), 1);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.order_id, c2);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_END_OF_DAY, .contract_id = 4242 },
			 NULL), -ENOENT);
}

/* ---- icebergs ------------------------------------------------------------------------- */

/*
 * Asks at 25000: iceberg 30 show 10 (firm 1), then plain 5 (firm 2): displayed 15. A buy
 * IOC of 22 meets the iceberg's 10 (20 left, refilled to 10 at the back), the plain 5,
 * the iceberg again for 7 (13 left, 3 visible). A FOK of 13 then fills against the 3
 * visible and the refill of 10: complete, the iceberg is gone.
 */
static void test_iceberg(void **state)
{
	struct mc_core *mc = *state;

	uint64_t ice = nw(mc, C1, 1, 1, TKX_SIDE_SELL, 25000, 30, TKX_TIF_GTC, 10, 0);
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.ask_qty, 10); /* not 30 */
	uint64_t plain = nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 5, TKX_TIF_GTC, 0, 0);
	assert_int_equal(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.ask_qty, 15);

	uint64_t agg = nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25000, 22, TKX_TIF_IOC, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 3);
	static const struct { uint32_t qty, aleaves, rleaves; } tr[3] = {
		{ 10, 12, 20 }, { 5, 7, 0 }, { 7, 0, 13 },
	};
	for (uint32_t k = 0; k < 3; k++) {
		const struct dp_event *a = nth(TKX_FILL, 2 * k), *r = nth(TKX_FILL, 2 * k + 1);
		assert_int_equal(a->u.fill.order_id, agg);
		assert_int_equal(a->u.fill.qty, tr[k].qty);
		assert_int_equal(a->u.fill.leaves_qty, tr[k].aleaves);
		assert_int_equal(r->u.fill.order_id, k == 1 ? plain : ice);
		assert_int_equal(r->u.fill.qty, tr[k].qty);
		/* An iceberg's fills carry all it has left, hidden part included. */
		assert_int_equal(r->u.fill.leaves_qty, tr[k].rleaves);
		assert_int_equal(nth(TKX_MD_TRADE, k)->u.trade.qty, tr[k].qty);
	}
	assert_int_equal(count(TKX_CANCELLED), 0); /* the IOC filled */
	const struct dp_event *t = nth(TKX_MD_TOP_OF_BOOK, 0);
	assert_int_equal(t->u.tob.ask_price, 25000);
	assert_int_equal(t->u.tob.ask_qty, 3);
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)ice, &v), 0);
	assert_int_equal(v.qty, 13);
	assert_int_equal(v.visible, 3);
	assert_int_equal(v.show, 10);

	/* A FOK counts the refills: 13 fills against 3 + 10. */
	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25000, 13, TKX_TIF_FOK, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	assert_int_equal(nth(TKX_MD_TRADE, 0)->u.trade.qty, 3);
	assert_int_equal(nth(TKX_MD_TRADE, 1)->u.trade.qty, 10);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.leaves_qty, 0);
	assert_true(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.ask_price == TKX_NULL_PRICE);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);

	/* One more than the book holds: a FOK kills, nothing trades. */
	nw(mc, C1, 1, 1, TKX_SIDE_SELL, 25000, 30, TKX_TIF_DAY, 10, 0);
	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25000, 31, TKX_TIF_FOK, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 0);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_FOK);
	/* An iceberg as the aggressor uses all of it, then rests showing its show. */
	nw(mc, C1, 2, 1, TKX_SIDE_BUY, 25000, 40, TKX_TIF_GTC, 4, 0);
	assert_int_equal(count(TKX_MD_TRADE), 3); /* 10 + 10 + 10 against the DAY iceberg */
	t = nth(TKX_MD_TOP_OF_BOOK, 0);
	assert_int_equal(t->u.tob.bid_price, 25000);
	assert_int_equal(t->u.tob.bid_qty, 4);
	assert_true(t->u.tob.ask_price == TKX_NULL_PRICE);
}

/* Icebergs the core cannot take (the session layer checks them first): the reason says
 * which field, and an ExecReject of a NEW carries no order id. */
static void test_invalid_types(void **state)
{
	struct mc_core *mc = *state;

	run(mc, order(C1, 1, 1, TKX_SIDE_SELL, 25000, 10, TKX_TIF_GTC, 10, 0)); /* show = qty */
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_INVALID_SHOW);
	assert_int_equal(got[0].u.reject.order_id, 0);
	run(mc, order(C1, 1, 1, TKX_SIDE_SELL, 25000, 10, TKX_TIF_IOC, 5, 0));
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_INVALID_SHOW);
	run(mc, order(C1, 1, 1, TKX_SIDE_SELL, 25000, 10, TKX_TIF_POST, 0, 25000));
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_INVALID_STOP);
	assert_int_equal(got[0].u.reject.order_id, 0);
	struct dp_order o = order(C1, 1, 1, TKX_SIDE_SELL, 25000, 10, TKX_TIF_GTC, 0, 0);
	o.scope = 3; /* no such type */
	o.order_id = 7;
	run(mc, o);
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_INVALID_STOP);
	o.tif = 6;
	o.scope = 0;
	o.order_id = 0;
	run(mc, o);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_INVALID_TIF);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);
}

/* ---- stop orders ---------------------------------------------------------------------- */

/*
 * A buy stop 25010 limit 25100 x3 (firm 1) is held. An ask 25010x5 (firm 2); a buy IOC
 * 25010x1 (firm 3) trades there: the stop is elected. Its owner hears StopElected, then
 * its fill (aggressor) of 3 at 25010.
 */
static void test_stop_elected(void **state)
{
	struct mc_core *mc = *state;

	uint64_t stop = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25100, 3, TKX_TIF_GTC, 0, 25010);
	uint64_t stop_cl = got[0].u.ack.cl_ord_id;
	assert_int_equal(count(TKX_FILL), 0);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 1);
	for (uint32_t i = 0; i < n_got; i++) /* held outside the book: no bid shows */
		if (got[i].template_id == TKX_MD_TOP_OF_BOOK)
			assert_true(got[i].u.tob.bid_price == TKX_NULL_PRICE);
	uint64_t ask = nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25010, 5, TKX_TIF_GTC, 0, 0);
	assert_true(nth(TKX_MD_TOP_OF_BOOK, 0)->u.tob.bid_price == TKX_NULL_PRICE);

	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25010, 1, TKX_TIF_IOC, 0, 0);
	assert_int_equal(count(TKX_STOP_ELECTED), 1);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	uint32_t el = at(TKX_STOP_ELECTED, 0);
	const struct dp_event *e = &got[el];
	assert_to(e, 1, 1);
	assert_int_equal(e->u.elected.order_id, stop);
	assert_int_equal(e->u.elected.cl_ord_id, stop_cl);
	assert_int_equal(e->u.elected.price, 25100);
	assert_int_equal(e->u.elected.qty, 3);
	assert_int_equal(e->u.elected.side, TKX_SIDE_BUY);
	assert_int_equal(e->u.elected.contract_id, C1);
	assert_int_equal(e->u.elected.transact_time, NOW);
	/* After the trade that elected it, before its own. */
	assert_true(at(TKX_MD_TRADE, 0) < el && el < at(TKX_MD_TRADE, 1));
	const struct dp_event *f = nth(TKX_FILL, 2);
	assert_true(el < at(TKX_FILL, 2));
	assert_int_equal(f->u.fill.order_id, stop);
	assert_int_equal(f->u.fill.cl_ord_id, e->u.elected.cl_ord_id);
	assert_int_equal(f->u.fill.aggressor, 1);
	assert_int_equal(f->u.fill.price, 25010);
	assert_int_equal(f->u.fill.qty, 3);
	assert_int_equal(f->u.fill.leaves_qty, 0);
	assert_to(f, 1, 1);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.order_id, ask);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.leaves_qty, 1);
	assert_int_equal(nth(TKX_MD_TRADE, 1)->u.trade.aggressor_side, TKX_SIDE_BUY);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 0);

	/* Elected at once: the last trade (25010) is at or below a sell stop of 25020. The
	 * IOC finds no bid: StopElected, then its Cancelled. */
	uint64_t now_stop = nw(mc, C1, 1, 2, TKX_SIDE_SELL, 25000, 2, TKX_TIF_IOC, 0, 25020);
	assert_int_equal(n_got, 3);
	assert_int_equal(got[1].template_id, TKX_STOP_ELECTED);
	assert_int_equal(got[1].u.elected.order_id, now_stop);
	assert_int_equal(got[2].template_id, TKX_CANCELLED);
	assert_int_equal(got[2].u.cancelled.reason, TKX_CXL_IOC);
	assert_int_equal(got[2].u.cancelled.qty, 2);

	/* Held stops: cancel one, modify another (price and quantity; no election). */
	uint64_t h = nw(mc, C1, 1, 3, TKX_SIDE_BUY, 26000, 2, TKX_TIF_GTC, 0, 26000);
	struct dp_order c = order(C1, 1, 3, 0, 0, 0, 0, 0, 0);
	c.type = DP_ORD_CANCEL;
	c.order_id = h;
	run(mc, c);
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	assert_int_equal(got[0].u.cancelled.reason, TKX_CXL_CLIENT);
	assert_int_equal(got[0].u.cancelled.qty, 2);
	assert_int_equal(got[0].u.cancelled.order_id, h);
	h = nw(mc, C1, 1, 3, TKX_SIDE_BUY, 26000, 2, TKX_TIF_GTC, 0, 26000);
	struct dp_order m = c;
	m.type = DP_ORD_MODIFY;
	m.order_id = h;
	m.price = 26100;
	m.qty = 7;
	run(mc, m);
	assert_int_equal(got[0].template_id, TKX_MODIFY_ACK);
	assert_int_equal(got[0].u.modify_ack.price, 26100);
	assert_int_equal(got[0].u.modify_ack.qty, 7);
	assert_int_equal(count(TKX_STOP_ELECTED), 0);
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)h, &v), 0);
	assert_int_equal(v.stop, 26000);
	assert_int_equal(v.price, 26100);
	assert_int_equal(v.qty, 7);
}

/*
 * A cascade: buy stops A (25020, limit 25050, 1) and B (25040, limit 25050, 1) held; asks
 * 25020x1, 25040x1, 25050x5. A buy IOC 25020x1 elects A at 25020; A buys 25040 and so
 * elects B; B buys at 25050. Each StopElected comes before its order's fills.
 */
static void test_stop_cascade(void **state)
{
	struct mc_core *mc = *state;

	uint64_t a = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25050, 1, TKX_TIF_GTC, 0, 25020);
	uint64_t b = nw(mc, C1, 1, 2, TKX_SIDE_BUY, 25050, 1, TKX_TIF_DAY, 0, 25040);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25020, 1, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25040, 1, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25050, 5, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25020, 1, TKX_TIF_IOC, 0, 0);
	assert_int_equal(count(TKX_STOP_ELECTED), 2);
	assert_int_equal(count(TKX_MD_TRADE), 3);
	uint32_t ea = at(TKX_STOP_ELECTED, 0), eb = at(TKX_STOP_ELECTED, 1);
	assert_int_equal(got[ea].u.elected.order_id, a);
	assert_int_equal(got[eb].u.elected.order_id, b);
	assert_true(at(TKX_MD_TRADE, 0) < ea && ea < at(TKX_MD_TRADE, 1));
	assert_true(at(TKX_MD_TRADE, 1) < eb && eb < at(TKX_MD_TRADE, 2));
	assert_int_equal(nth(TKX_MD_TRADE, 1)->u.trade.price, 25040);
	assert_int_equal(nth(TKX_MD_TRADE, 2)->u.trade.price, 25050);
	assert_to(&got[eb], 1, 2);
	const struct dp_event *t = nth(TKX_MD_TOP_OF_BOOK, count(TKX_MD_TOP_OF_BOOK) - 1);
	assert_int_equal(t->u.tob.ask_price, 25050);
	assert_int_equal(t->u.tob.ask_qty, 4);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 0);
}

/*
 * Refused once elected, because the band moved while it was held: a buy stop 25010 limit
 * 25500 x4 of an account with limits (its 4 count as open buys); the band becomes [24000,
 * 25400]; a trade at 25010 elects it: StopElected, then Cancelled ELECTED_REFUSED with
 * its 4 lots, no ExecReject (it answers no request), and the open buys go back to 0.
 */
static void test_elected_refused_band(void **state)
{
	struct mc_core *mc = *state;
	struct mc_position p;

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_ACCOUNT, .firm_id = 1,
						  .account = 1, .qty = 50, .price = 100 }, NULL), 0);
	uint64_t s = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25500, 4, TKX_TIF_GTC, 0, 25010);
	uint64_t cl = got[0].u.ack.cl_ord_id;
	assert_int_equal(mc_position(mc, 1, 1, C1, &p), 0);
	assert_int_equal(p.open_buy, 4);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = C1,
						  .price = 24000, .price2 = 25400 }, NULL), 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25010, 1, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25010, 1, TKX_TIF_IOC, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(count(TKX_EXEC_REJECT), 0);
	uint32_t el = at(TKX_STOP_ELECTED, 0), cx = at(TKX_CANCELLED, 0);
	assert_true(el < cx);
	const struct dp_event *e = &got[cx];
	assert_to(e, 1, 1);
	assert_int_equal(e->u.cancelled.order_id, s);
	assert_int_equal(e->u.cancelled.reason, TKX_CXL_ELECTED_REFUSED);
	assert_int_equal(e->u.cancelled.qty, 4);
	assert_int_equal(e->u.cancelled.cl_ord_id, cl);
	assert_int_equal(e->u.cancelled.orig_cl_ord_id, cl);
	assert_int_equal(e->u.cancelled.side, TKX_SIDE_BUY);
	assert_int_equal(count(TKX_CANCELLED), 1);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);
	assert_int_equal(mc_position(mc, 1, 1, C1, &p), 0);
	assert_int_equal(p.open_buy, 0);
	assert_int_equal(p.pos, 0);
}

/*
 * Refused once elected, because the book went to a volatility auction: guard 100 bp
 * around 25000 ([24750, 25250]); an IOC buy stop 25000 limit 25300 x1 held; asks 25000x1,
 * 25300x1; a buy 25300x2 trades 1 at 25000 and trips the guard before 25300. The trade
 * elects the stop, an IOC in auction mode: Cancelled ELECTED_REFUSED.
 */
static void test_elected_refused_auction(void **state)
{
	struct mc_core *mc = *state;

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_VOL_GUARD, .contract_id = C1,
						  .arg = 100, .price = 25000 }, NULL), 0);
	uint64_t s = nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25300, 1, TKX_TIF_IOC, 0, 25000);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 1, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25300, 1, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25300, 2, TKX_TIF_GTC, 0, 0);
	assert_int_equal(count(TKX_MD_TRADE), 1);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_PRE_OPEN);
	assert_int_equal(nth(TKX_STOP_ELECTED, 0)->u.elected.order_id, s);
	const struct dp_event *e = nth(TKX_CANCELLED, 0);
	assert_int_equal(e->u.cancelled.order_id, s);
	assert_int_equal(e->u.cancelled.reason, TKX_CXL_ELECTED_REFUSED);
	assert_int_equal(e->u.cancelled.qty, 1);
	assert_true(at(TKX_STOP_ELECTED, 0) < at(TKX_CANCELLED, 0));
	assert_int_equal(count(TKX_EXEC_REJECT), 0);
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(mc, C1), (int64_t)s, &v), -ENOENT);
}

/*
 * An uncross elects a stop: PRE_OPEN with bid 25050x10 (firm 1), asks 25000x4 and
 * 25100x2 (firm 2), a buy stop 25000 limit 25100 x2 (firm 3) held. The uncross (reference
 * 25000): volume 4 at every price of [25000, 25050], imbalance 6: 25000. Its trade elects
 * the stop, which then buys the 25100 ask as an aggressor (the uncross's own fills have
 * none).
 */
static void test_uncross_elects(void **state)
{
	struct mc_core *mc = *state;
	struct dp_ctl_reply r;

	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = C1,
						  .arg = TKX_PHASE_PRE_OPEN }, NULL), 0);
	nw(mc, C1, 1, 1, TKX_SIDE_BUY, 25050, 10, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25000, 4, TKX_TIF_GTC, 0, 0);
	nw(mc, C1, 2, 1, TKX_SIDE_SELL, 25100, 2, TKX_TIF_GTC, 0, 0);
	uint64_t s = nw(mc, C1, 3, 1, TKX_SIDE_BUY, 25100, 2, TKX_TIF_GTC, 0, 25000);
	assert_int_equal(me_book_held(mc_book(mc, C1)), 1);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = C1,
						  .price = 25000, .arg = TKX_PHASE_CONTINUOUS },
			     &r), 0);
	assert_int_equal(r.price, 25000);
	assert_int_equal(r.qty, 4);
	assert_int_equal(count(TKX_MD_TRADE), 2);
	assert_int_equal(nth(TKX_MD_TRADE, 0)->u.trade.aggressor_side, 0);
	assert_int_equal(nth(TKX_FILL, 0)->u.fill.aggressor, 0);
	uint32_t el = at(TKX_STOP_ELECTED, 0);
	assert_int_equal(got[el].u.elected.order_id, s);
	assert_true(at(TKX_MD_TRADE, 0) < el && el < at(TKX_MD_TRADE, 1));
	const struct dp_event *f = nth(TKX_FILL, 2);
	assert_int_equal(f->u.fill.order_id, s);
	assert_int_equal(f->u.fill.aggressor, 1);
	assert_int_equal(f->u.fill.price, 25100);
	assert_int_equal(nth(TKX_FILL, 3)->u.fill.aggressor, 0);
	assert_int_equal(nth(TKX_MD_TRADE, 1)->u.trade.aggressor_side, TKX_SIDE_BUY);
	assert_int_equal(mc_phase(mc, C1), TKX_PHASE_CONTINUOUS);
}

/* The contract expires: GTC icebergs and held GTC stop orders leave with the rest
 * (Cancelled EXPIRY, their whole quantity); the book is empty, so DELIST is allowed. */
static void test_expiry_takes_all(void **state)
{
	struct mc_core *mc = *state;

	uint64_t ice = nw(mc, C1, 1, 1, TKX_SIDE_SELL, 25000, 30, TKX_TIF_GTC, 10, 0);
	uint64_t stop = nw(mc, C1, 2, 1, TKX_SIDE_BUY, 25100, 3, TKX_TIF_GTC, 0, 25500);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = C1 },
			 NULL), -EBUSY); /* a held stop is an order of the book */
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = C1,
						  .arg = TKX_PHASE_EXPIRED }, NULL), 0);
	assert_int_equal(count(TKX_CANCELLED), 2);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.order_id, ice);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.qty, 30);
	assert_int_equal(nth(TKX_CANCELLED, 0)->u.cancelled.reason, TKX_CXL_EXPIRY);
	assert_int_equal(nth(TKX_CANCELLED, 1)->u.cancelled.order_id, stop);
	assert_int_equal(nth(TKX_CANCELLED, 1)->u.cancelled.qty, 3);
	assert_int_equal(nth(TKX_CANCELLED, 1)->u.cancelled.reason, TKX_CXL_EXPIRY);
	assert_to(nth(TKX_CANCELLED, 1), 2, 1);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);
	assert_int_equal(ctl(mc, (struct dp_ctl){ .type = DP_CTL_DELIST, .contract_id = C1 },
			 NULL), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_day_end, setup, teardown),
		cmocka_unit_test_setup_teardown(test_iceberg, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_elected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_cascade, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elected_refused_band, setup, teardown),
		cmocka_unit_test_setup_teardown(test_elected_refused_auction, setup, teardown),
		cmocka_unit_test_setup_teardown(test_uncross_elects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry_takes_all, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
