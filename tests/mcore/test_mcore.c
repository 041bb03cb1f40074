/* test_mcore.c - a matching core: requests in, replies and market data out. */
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

static struct dp_event got[256];
static uint32_t n_got;
static struct dp_event buf[3]; /* small: exercises flush in the middle of a sweep */

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		/* A request's end marked on an event of its own (its last reply was flushed
		 * before the request ended: this buffer is small): not a reply. The marks are
		 * test_mcore_done.c's. */
		if (o->ev[i].template_id == 0 && o->ev[i].pad[1] == DP_EV_DONE)
			continue;
		assert_true(n_got < 256);
		got[n_got++] = o->ev[i];
	}
	o->n = 0;
}

static struct mc_out out = {buf, 0, 3, collect, NULL};

static int setup(void **state)
{
	struct mc_contract_params p[2];
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 2; i++) {
		p[i].id = i ? C2 : C1;
		p[i].book = (struct me_params){.price_lo = 23000, .price_hi = 27000, .tick = 10,
					       .max_qty = 1000, .max_orders = 8};
		p[i].phase = TKX_PHASE_CONTINUOUS;
	}
	size_t len = mc_core_memsize(p, 2);
	assert_true(len > 0);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init(mem, len, p, 2);
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

static struct dp_order new_order(uint8_t src, uint16_t session, uint32_t firm, uint32_t account,
				 uint64_t clid, uint8_t side, int64_t price, uint32_t qty, uint8_t tif)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_NEW;
	o.src = src;
	o.session = session;
	o.firm_id = firm;
	o.account = account;
	o.cl_ord_id = clid;
	o.side = side;
	o.price = price;
	o.qty = qty;
	o.tif = tif;
	o.contract_id = C1;
	return o;
}

static void run(struct mc_core *mc, struct dp_order o)
{
	n_got = 0;
	mc_process(mc, &o, 1, NOW, &out);
}

static void test_ack_fill_and_md(void **state)
{
	struct mc_core *mc = *state;
	run(mc, new_order(0, 5, 1, 11, 100, TKX_SIDE_SELL, 25000, 10, TKX_TIF_GTC));
	assert_int_equal(n_got, 2);
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	assert_int_equal(got[0].session, 5);
	assert_int_equal(got[0].u.ack.cl_ord_id, 100);
	uint64_t sell_id = got[0].u.ack.order_id;
	assert_int_equal(sell_id & 0xffffff, 5);
	assert_int_equal(got[1].template_id, TKX_MD_TOP_OF_BOOK);
	assert_int_equal(got[1].u.tob.ask_price, 25000);
	assert_int_equal(got[1].u.tob.ask_qty, 10);
	assert_true(got[1].u.tob.bid_price == TKX_NULL_PRICE);

	/* session 1/7 of firm 2 buys 4: ack, two fills (aggressor and resting), trade, tob */
	run(mc, new_order(1, 7, 2, 21, 900, TKX_SIDE_BUY, 25010, 4, TKX_TIF_IOC));
	assert_int_equal(n_got, 5);
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	assert_int_equal(got[0].src, 1);
	assert_int_equal(got[1].template_id, TKX_FILL);
	assert_int_equal(got[1].session, 7);
	assert_int_equal(got[1].u.fill.aggressor, 1);
	assert_int_equal(got[1].u.fill.price, 25000);
	assert_int_equal(got[1].u.fill.qty, 4);
	assert_int_equal(got[1].u.fill.leaves_qty, 0);
	assert_int_equal(got[1].u.fill.trade_id, 1);
	assert_int_equal(got[2].template_id, TKX_FILL);
	assert_int_equal(got[2].session, 5);
	assert_int_equal(got[2].u.fill.order_id, sell_id);
	assert_int_equal(got[2].u.fill.cl_ord_id, 100);
	assert_int_equal(got[2].u.fill.leaves_qty, 6);
	assert_int_equal(got[2].u.fill.side, TKX_SIDE_SELL);
	assert_int_equal(got[2].u.fill.trade_id, 1);
	assert_int_equal(got[3].template_id, TKX_MD_TRADE);
	assert_int_equal(got[3].u.trade.aggressor_side, TKX_SIDE_BUY);
	assert_int_equal(got[4].template_id, TKX_MD_TOP_OF_BOOK);
	assert_int_equal(got[4].u.tob.ask_qty, 6);
}

static void test_rejects(void **state)
{
	struct mc_core *mc = *state;
	struct dp_order o = new_order(0, 1, 1, 0, 1, TKX_SIDE_BUY, 25005, 1, TKX_TIF_GTC);
	run(mc, o);
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_TICK);
	assert_int_equal(got[0].u.reject.ref_template_id, TKX_NEW_ORDER);
	o.price = 30000;
	run(mc, o);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_PRICE_BAND);
	o.price = 25000;
	o.qty = 1001;
	run(mc, o);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_MAX_QTY);
	o.qty = 1;
	o.contract_id = 999;
	run(mc, o);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_UNKNOWN_CONTRACT);
	struct dp_order c = o;
	c.type = DP_ORD_CANCEL;
	c.contract_id = C1;
	c.order_id = 12345;
	run(mc, c);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_UNKNOWN_ORDER);
	assert_int_equal(got[0].u.reject.ref_template_id, TKX_CANCEL_ORDER);
	assert_int_equal(got[0].u.reject.order_id, 12345);
	/* halted contract */
	n_got = 0;
	assert_int_equal(mc_set_phase(mc, C1, TKX_PHASE_HALTED, NOW, &out), 0);
	assert_int_equal(got[0].template_id, TKX_MD_CONTRACT_STATUS);
	assert_int_equal(got[0].u.status.phase, TKX_PHASE_HALTED);
	o.contract_id = C1;
	run(mc, o);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_HALTED);
	assert_int_equal(mc_set_phase(mc, 4242, TKX_PHASE_HALTED, NOW, &out), -ENOENT);
	/* Each reject counted under its reason (tokex_engine_rejects_total{reason}), and the
	 * reasons add up to the total. */
	uint64_t rej[MC_REJ_REASONS], sum = 0;
	struct mc_stats st;
	mc_reject_counts(mc, rej);
	mc_stats(mc, &st);
	assert_int_equal(rej[TKX_REJ_TICK], 1);
	assert_int_equal(rej[TKX_REJ_PRICE_BAND], 1);
	assert_int_equal(rej[TKX_REJ_MAX_QTY], 1);
	assert_int_equal(rej[TKX_REJ_UNKNOWN_ORDER], 1);
	assert_int_equal(rej[TKX_REJ_HALTED], 1);
	for (unsigned i = 0; i < MC_REJ_REASONS; i++)
		sum += rej[i];
	assert_int_equal(sum, st.rejects);
	assert_int_equal(rej[0], 0);
}

static void test_cancel_modify_ownership(void **state)
{
	struct mc_core *mc = *state;
	run(mc, new_order(0, 1, 1, 0, 10, TKX_SIDE_BUY, 24000, 5, TKX_TIF_GTC));
	uint64_t noacct = got[0].u.ack.order_id;
	run(mc, new_order(0, 1, 1, 3, 11, TKX_SIDE_BUY, 24010, 5, TKX_TIF_GTC));
	uint64_t acct = got[0].u.ack.order_id;

	struct dp_order c;
	memset(&c, 0, sizeof(c));
	c.type = DP_ORD_CANCEL;
	c.contract_id = C1;
	/* another firm may not touch either */
	c.src = 0, c.session = 2, c.firm_id = 2, c.cl_ord_id = 50, c.order_id = acct;
	run(mc, c);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_NOT_OWNER);
	/* another session of the same firm may cancel the account order, not the other */
	c.firm_id = 1;
	c.order_id = noacct;
	run(mc, c);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_NOT_OWNER);
	c.order_id = acct;
	run(mc, c);
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	assert_int_equal(got[0].session, 1); /* the owner hears of it */
	assert_int_equal(got[0].u.cancelled.reason, TKX_CXL_CLIENT);
	assert_int_equal(got[0].u.cancelled.cl_ord_id, 50);
	assert_int_equal(got[0].u.cancelled.orig_cl_ord_id, 11);
	assert_int_equal(got[1].template_id, TKX_CANCELLED);
	assert_int_equal(got[1].session, 2); /* and so does the requester */
	/* modify by the owner: a ModifyAck, once */
	struct dp_order m = c;
	m.type = DP_ORD_MODIFY;
	m.session = 1;
	m.order_id = noacct;
	m.price = 24020;
	m.qty = 7;
	m.cl_ord_id = 51;
	run(mc, m);
	assert_int_equal(got[0].template_id, TKX_MODIFY_ACK);
	assert_int_equal(got[0].u.modify_ack.price, 24020);
	assert_int_equal(got[0].u.modify_ack.qty, 7);
	assert_int_equal(got[1].template_id, TKX_MD_TOP_OF_BOOK);
	assert_int_equal(n_got, 2);
}

static void test_mass_and_session_gone(void **state)
{
	struct mc_core *mc = *state;
	/* session 3 rests 2 orders on C1 and 1 on C2; session 4 (same firm, account 9) 1 */
	run(mc, new_order(0, 3, 1, 0, 1, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	run(mc, new_order(0, 3, 1, 0, 2, TKX_SIDE_SELL, 26000, 1, TKX_TIF_GTC));
	struct dp_order o = new_order(0, 3, 1, 9, 3, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC);
	o.contract_id = C2;
	run(mc, o);
	run(mc, new_order(0, 4, 1, 9, 1, TKX_SIDE_BUY, 24100, 1, TKX_TIF_GTC));

	/* account 9 mass cancel, buy side, all contracts: the C2 order and session 4's */
	struct dp_order m;
	memset(&m, 0, sizeof(m));
	m.type = DP_ORD_MASS_CANCEL;
	m.scope = TKX_SCOPE_ACCOUNT;
	m.firm_id = 1;
	m.account = 9;
	m.side = TKX_SIDE_BUY;
	m.session = 4;
	m.cl_ord_id = 2;
	run(mc, m);
	uint32_t cancels = 0, acks = 0;
	for (uint32_t i = 0; i < n_got; i++) {
		if (got[i].template_id == TKX_CANCELLED) {
			cancels++;
			assert_int_equal(got[i].u.cancelled.reason, TKX_CXL_MASS);
			/* the MassCancel's cl_ord_id (protocol 5.4), not the order's own */
			assert_int_equal(got[i].u.cancelled.cl_ord_id, 2);
		}
		if (got[i].template_id == TKX_MASS_CANCEL_ACK) {
			acks++;
			assert_int_equal(got[i].u.mass_ack.count, 2);
			assert_int_equal(got[i].session, 4);
		}
	}
	assert_int_equal(cancels, 2);
	assert_int_equal(acks, 1);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 2);
	assert_int_equal(me_book_count(mc_book(mc, C2)), 0);

	/* session 3 dies: its two C1 orders leave with reason DISCONNECT, no ack */
	memset(&m, 0, sizeof(m));
	m.type = DP_ORD_SESSION_GONE;
	m.session = 3;
	run(mc, m);
	cancels = 0;
	for (uint32_t i = 0; i < n_got; i++) {
		assert_int_not_equal(got[i].template_id, TKX_MASS_CANCEL_ACK);
		if (got[i].template_id == TKX_CANCELLED) {
			cancels++;
			assert_int_equal(got[i].u.cancelled.reason, TKX_CXL_DISCONNECT);
			assert_int_equal(got[i].session, 3);
			/* unsolicited: the order's own cl_ord_id */
			assert_int_equal(got[i].u.cancelled.cl_ord_id,
					 got[i].u.cancelled.orig_cl_ord_id);
		}
	}
	assert_int_equal(cancels, 2);
	assert_int_equal(me_book_count(mc_book(mc, C1)), 0);
}

static void test_stp_and_pool_full(void **state)
{
	struct mc_core *mc = *state;
	run(mc, new_order(0, 1, 1, 5, 1, TKX_SIDE_SELL, 25000, 5, TKX_TIF_GTC));
	/* same firm and account on the other side: self-trade prevented */
	run(mc, new_order(0, 2, 1, 5, 1, TKX_SIDE_BUY, 25000, 5, TKX_TIF_GTC));
	assert_int_equal(got[1].template_id, TKX_CANCELLED);
	assert_int_equal(got[1].u.cancelled.reason, TKX_CXL_STP);
	/* same account number at another firm trades */
	run(mc, new_order(0, 3, 2, 5, 1, TKX_SIDE_BUY, 25000, 1, TKX_TIF_GTC));
	assert_int_equal(got[1].template_id, TKX_FILL);
	/* the pool holds 8 orders: the ninth resting order is refused */
	for (uint64_t i = 0; i < 7; i++)
		run(mc, new_order(0, 1, 1, 0, 10 + i, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	run(mc, new_order(0, 1, 1, 0, 20, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_BOOK_FULL);
	struct mc_stats st;
	mc_stats(mc, &st);
	assert_true(st.trades == 1 && st.rejects == 1);
}

/* Regression: records that are not requests (the gateway's journal records, garbage
 * types) never reach a book and are never answered: the RX core keeps them from the core,
 * and if one got through it must not turn into an ExecReject for its session. */
static void test_not_a_request(void **state)
{
	struct mc_core *mc = *state;
	run(mc, new_order(0, 5, 1, 0, 100, TKX_SIDE_SELL, 25000, 10, TKX_TIF_GTC));
	assert_int_equal(n_got, 2);
	uint64_t sell_id = got[0].u.ack.order_id;

	struct dp_order junk[5];
	struct tkx_exec_reject body = {.cl_ord_id = 100, .order_id = sell_id, .contract_id = C1,
				       .reason = TKX_REJ_CLORDID_REUSED,
				       .ref_template_id = TKX_CANCEL_ORDER};
	/* A record type no session core sends any more (6 was the gateway's SESSION_UP). */
	memset(&junk[0], 0, sizeof(junk[0]));
	junk[0].type = 6;
	junk[0].src = 1;
	junk[0].session = 5;
	junk[0].cl_ord_id = 0x7e57;
	junk[0].firm_id = 1;
	junk[0].contract_id = C1;
	assert_int_equal(dp_order_local_pack(&junk[1], 0, 5, TKX_EXEC_REJECT, &body, sizeof(body),
					     NOW), 0);
	junk[2] = new_order(0, 5, 1, 0, 101, TKX_SIDE_BUY, 25000, 10, TKX_TIF_IOC);
	junk[2].type = 0;
	junk[3] = junk[2];
	junk[3].type = 200;
	/* The fields of a cancel of the resting order, under a type that is not a cancel. */
	junk[4] = new_order(0, 5, 1, 0, 102, TKX_SIDE_BUY, 25000, 10, TKX_TIF_IOC);
	junk[4].order_id = sell_id;
	junk[4].type = DP_ORD_LOCAL;
	n_got = 0;
	mc_process(mc, junk, 5, NOW, &out);
	assert_int_equal(n_got, 0);

	/* The book is as it was: the whole offer is there. */
	run(mc, new_order(1, 7, 2, 0, 900, TKX_SIDE_BUY, 25000, 10, TKX_TIF_IOC));
	assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
	assert_int_equal(got[1].template_id, TKX_FILL);
	assert_int_equal(got[1].u.fill.qty, 10);
	assert_int_equal(got[1].u.fill.leaves_qty, 0);
}

/* Two cores of one appliance (index 0 and 1 of 2) never issue the same order id; the id
 * space is fixed before the first order. */
static void test_id_space(void **state)
{
	struct mc_core *a = *state;
	void *other = NULL;
	struct mc_core *b;
	assert_int_equal(setup(&other), 0);
	b = other;
	assert_int_equal(mc_core_id_space(a, 0, 2), 0);
	assert_int_equal(mc_core_id_space(b, 1, 2), 0);
	assert_int_equal(mc_core_id_space(b, 2, 2), -EINVAL);
	uint64_t ids[2][6];
	for (int k = 0; k < 6; k++) {
		struct mc_core *mc = k & 1 ? b : a;
		run(mc, new_order(0, 5, 1, 11, 100 + (uint64_t)k, TKX_SIDE_SELL, 25000 + 10 * k, 1,
				  TKX_TIF_GTC));
		assert_int_equal(got[0].template_id, TKX_EXEC_ACK);
		ids[k & 1][k / 2] = got[0].u.ack.order_id;
		assert_int_equal(ids[k & 1][k / 2] & 0xffffff, 5); /* the session bits as before */
	}
	for (int i = 0; i < 3; i++)
		for (int j = 0; j < 3; j++)
			assert_true(ids[0][i] != ids[1][j]);
	assert_int_equal(ids[0][0] >> 24, 2); /* seq 1 x 2 + 0 */
	assert_int_equal(ids[1][0] >> 24, 3); /* seq 1 x 2 + 1 */
	assert_int_equal(mc_core_id_space(a, 0, 1), -EINVAL); /* orders issued: too late */
	teardown(&other);
}

static void test_init_errors(void **state)
{
	(void)state;
	struct mc_contract_params p[2];
	memset(p, 0, sizeof(p));
	p[0].id = p[1].id = 7;
	p[0].book = p[1].book = (struct me_params){.price_lo = 1, .price_hi = 10, .tick = 1,
						   .max_qty = 1, .max_orders = 1};
	size_t len = mc_core_memsize(p, 2);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_null(mc_core_init(mem, len, p, 2)); /* duplicate id */
	p[1].book.tick = 0;
	assert_int_equal(mc_core_memsize(p, 2), 0);
	assert_int_equal(mc_core_memsize(p, 0), 0);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ack_fill_and_md, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_modify_ownership, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mass_and_session_gone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stp_and_pool_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_space, setup, teardown),
		cmocka_unit_test(test_init_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
