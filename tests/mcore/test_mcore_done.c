/*
 * test_mcore_done.c - the end-of-request mark (dp_event.pad[1] DP_EV_DONE, dp_msg.h): every
 * client request a matching core applies ends with exactly one mark, on its session's last
 * reply to it, or on an event of its own (template 0) that follows that reply when the
 * output buffer was flushed in between; replies to other sessions, market data, a
 * SESSION_GONE and control commands carry none. Its session layer counts the marks to send
 * a session's replies in the order of its requests (ss_session.h invariant 15). Checked over
 * every kind of request and outcome, with output buffers of 1, 2, 3 and 64 events.
 */
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
#define NOW 1000

static struct dp_event got[1024];
static uint32_t n_got;
static struct dp_event buf[64];

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		assert_true(n_got < 1024);
		got[n_got++] = o->ev[i];
	}
	o->n = 0;
}

static struct mc_out out = { buf, 0, 64, collect, NULL };

static struct mc_core *core(void)
{
	struct mc_contract_params p;
	struct mc_core_cfg cfg = { .capacity = 2, .accounts = 8, .tracked = 64 };
	size_t len;
	void *mem;

	memset(&p, 0, sizeof(p));
	p.id = C1;
	p.book = (struct me_params){ .price_lo = 23000, .price_hi = 27000, .tick = 10,
				     .max_qty = 1000, .max_orders = 64 };
	p.phase = TKX_PHASE_CONTINUOUS;
	len = mc_core_memsize_cfg(&p, 1, &cfg);
	assert_true(len > 0);
	mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(mem);
	assert_non_null(mc_core_init_cfg(mem, len, &p, 1, &cfg));
	return mem;
}

static struct dp_order req(uint8_t type, uint16_t session, uint64_t cl, uint8_t side,
			   int64_t price, uint32_t qty, uint8_t tif)
{
	struct dp_order o;

	memset(&o, 0, sizeof(o));
	o.type = type;
	o.src = 1;
	o.session = session;
	o.firm_id = 5;
	o.account = 9;
	o.cl_ord_id = cl;
	o.side = side;
	o.price = price;
	o.qty = qty;
	o.tif = tif;
	o.contract_id = C1;
	o.parts = 1;
	return o;
}

/* Applies r alone and checks its marks; returns the order id of an ExecAck it got. */
static uint64_t apply(struct mc_core *mc, struct dp_order r)
{
	int last = -1, marks = 0;
	uint64_t id = 0;

	n_got = 0;
	mc_process(mc, &r, 1, NOW, &out);
	for (uint32_t i = 0; i < n_got; i++) {
		const struct dp_event *e = &got[i];
		int mine = e->template_id < TKX_MD_TOP_OF_BOOK && e->src == r.src &&
			   e->session == r.session;

		if (e->pad[1] & DP_EV_DONE) {
			assert_true(mine);
			marks++;
		}
		if (e->template_id == 0) /* a mark of its own: nothing else in it */
			assert_int_equal(e->pad[1], DP_EV_DONE);
		if (mine)
			last = (int)i;
		if (mine && e->template_id == TKX_EXEC_ACK)
			id = e->u.ack.order_id;
	}
	if (r.type == DP_ORD_SESSION_GONE) {
		assert_int_equal(marks, 0);
		return 0;
	}
	assert_int_equal(marks, 1);
	assert_true(last >= 0);
	assert_true(got[last].pad[1] & DP_EV_DONE); /* on the last reply to the requester */
	return id;
}

static void run_all(unsigned cap)
{
	struct mc_core *mc = core();
	struct dp_order r, c;
	struct dp_ctl k;
	struct dp_ctl_reply rep;
	uint64_t rest[8];

	out.cap = cap;
	/* resting orders of sessions 2 and 3 (3's without an account) */
	for (unsigned i = 0; i < 4; i++)
		rest[i] = apply(mc, req(DP_ORD_NEW, 2, 10 + i, TKX_SIDE_SELL, 25000 + 10 * i, 5,
					TKX_TIF_GTC));
	r = req(DP_ORD_NEW, 3, 20, TKX_SIDE_SELL, 25100, 5, TKX_TIF_GTC);
	r.account = 0;
	rest[4] = apply(mc, r);
	/* a sweep by session 4: ack, fills of four makers, market data */
	apply(mc, req(DP_ORD_NEW, 4, 30, TKX_SIDE_BUY, 25030, 18, TKX_TIF_GTC));
	/* IOC remainder cancelled; a FOK that cannot fill; a POST that would cross */
	apply(mc, req(DP_ORD_NEW, 4, 31, TKX_SIDE_BUY, 25100, 9, TKX_TIF_IOC));
	apply(mc, req(DP_ORD_NEW, 4, 32, TKX_SIDE_BUY, 25100, 999, TKX_TIF_FOK));
	apply(mc, req(DP_ORD_NEW, 2, 33, TKX_SIDE_SELL, 24000, 1, TKX_TIF_GTC));
	apply(mc, req(DP_ORD_NEW, 2, 34, TKX_SIDE_SELL, 26000, 1, TKX_TIF_POST));
	/* a self-trade: session 5 rests, then takes its own order */
	apply(mc, req(DP_ORD_NEW, 5, 40, TKX_SIDE_SELL, 25500, 2, TKX_TIF_GTC));
	apply(mc, req(DP_ORD_NEW, 5, 41, TKX_SIDE_BUY, 25500, 2, TKX_TIF_GTC));
	/* rejects: tick, unknown contract, unknown order */
	apply(mc, req(DP_ORD_NEW, 6, 50, TKX_SIDE_BUY, 25005, 1, TKX_TIF_GTC));
	r = req(DP_ORD_NEW, 6, 51, TKX_SIDE_BUY, 25000, 1, TKX_TIF_GTC);
	r.contract_id = 4242;
	apply(mc, r);
	c = req(DP_ORD_CANCEL, 6, 52, 0, 0, 0, 0);
	c.order_id = 12345;
	apply(mc, c);
	/* modify by the owner; cancel by another session of the firm (owner and requester
	 * both hear of it); a cancel by a stranger of an order without an account */
	c = req(DP_ORD_MODIFY, 2, 60, 0, 26100, 4, 0);
	c.order_id = rest[3];
	apply(mc, c);
	c = req(DP_ORD_CANCEL, 7, 61, 0, 0, 0, 0);
	c.order_id = rest[3];
	apply(mc, c);
	c = req(DP_ORD_CANCEL, 7, 62, 0, 0, 0, 0);
	c.order_id = rest[4];
	apply(mc, c);
	/* mass cancels: the session's own, of a whole contract and of every contract */
	apply(mc, req(DP_ORD_NEW, 8, 70, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	apply(mc, req(DP_ORD_NEW, 8, 71, TKX_SIDE_BUY, 24010, 1, TKX_TIF_GTC));
	r = req(DP_ORD_MASS_CANCEL, 8, 72, 0, 0, 0, 0);
	r.scope = TKX_SCOPE_SESSION;
	apply(mc, r);
	r.contract_id = 0;
	r.parts = 2;
	r.cl_ord_id = 73;
	apply(mc, r);
	/* cancel-on-disconnect: no reply to anybody, so no mark */
	apply(mc, req(DP_ORD_NEW, 9, 80, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	r = req(DP_ORD_SESSION_GONE, 9, 0, 0, 0, 0, 0);
	r.contract_id = 0;
	apply(mc, r);
	/* a control command's replies (an operator mass cancel) carry none either */
	memset(&k, 0, sizeof(k));
	k.type = DP_CTL_MASS_CANCEL;
	k.contract_id = C1;
	n_got = 0;
	assert_int_equal(mc_control(mc, &k, &out, &rep), 0);
	collect(&out);
	for (uint32_t i = 0; i < n_got; i++)
		assert_int_equal(got[i].pad[1], 0);
	free(mc);
}

static void test_done_cap64(void **state)
{
	(void)state;
	run_all(64);
}

static void test_done_cap3(void **state)
{
	(void)state;
	run_all(3);
}

static void test_done_cap2(void **state)
{
	(void)state;
	run_all(2);
}

static void test_done_cap1(void **state)
{
	(void)state;
	run_all(1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_done_cap64),
		cmocka_unit_test(test_done_cap3),
		cmocka_unit_test(test_done_cap2),
		cmocka_unit_test(test_done_cap1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
