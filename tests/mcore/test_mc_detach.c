/*
 * test_mc_detach.c - a matching core detaching a forgotten session's orders from its slot
 * (mc_core.h identity 4; SESSION_GONE with DP_GONE_DETACH, dp_msg.h): the answer comes
 * after everything the core sent the slot before; afterwards the orders keep trading but
 * report to no session, the slot's next session neither owns nor cancels them as its
 * own, the account-0 ones became the firm's, and the state survives a snapshot.
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
#include "mc_snap.h"

#define C1 202612
#define C2 202701
#define NOW 1000
#define SID 0x5e5510full /* the forgotten session's id, echoed in the answer */

static struct dp_event got[256];
static uint32_t n_got;
static struct dp_event buf[3]; /* small: flushes in the middle of a burst */

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		assert_true(n_got < 256);
		got[n_got++] = o->ev[i];
	}
	o->n = 0;
}

static struct mc_out out = {buf, 0, 3, collect, NULL};

struct core {
	void *mem;
	struct mc_core *mc;
};

static void core_open(struct core *c, uint32_t det_srcs, uint32_t det_sessions)
{
	struct mc_contract_params p[2];
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 2; i++) {
		p[i].id = i ? C2 : C1;
		p[i].book = (struct me_params){.price_lo = 23000, .price_hi = 27000, .tick = 10,
					       .max_qty = 1000, .max_orders = 16};
		p[i].phase = TKX_PHASE_CONTINUOUS;
	}
	struct mc_core_cfg cfg = {.capacity = 2, .accounts = MC_DEFAULT_ACCOUNTS,
				  .det_srcs = det_srcs, .det_sessions = det_sessions};
	size_t len = mc_core_memsize_cfg(p, 2, &cfg);
	assert_true(len > 0);
	c->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(c->mem);
	c->mc = mc_core_init_cfg(c->mem, len, p, 2, &cfg);
	assert_non_null(c->mc);
	n_got = 0;
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

static struct dp_order gone(uint8_t src, uint16_t session, uint32_t firm, uint8_t scope,
			    uint8_t parts)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_SESSION_GONE;
	o.scope = scope;
	o.src = src;
	o.session = session;
	o.firm_id = firm;
	o.parts = parts;
	o.order_id = SID;
	return o;
}

static struct dp_order mass(uint8_t src, uint16_t session, uint32_t firm, uint8_t scope,
			    uint32_t account, uint64_t clid)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_MASS_CANCEL;
	o.src = src;
	o.session = session;
	o.firm_id = firm;
	o.scope = scope;
	o.account = account;
	o.cl_ord_id = clid;
	return o;
}

static struct dp_order cancel(uint8_t src, uint16_t session, uint32_t firm, uint64_t order_id,
			      uint64_t clid)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_CANCEL;
	o.src = src;
	o.session = session;
	o.firm_id = firm;
	o.order_id = order_id;
	o.contract_id = C1;
	o.cl_ord_id = clid;
	return o;
}

static void run(struct mc_core *mc, struct dp_order o)
{
	n_got = 0;
	mc_process(mc, &o, 1, NOW, &out);
}

/* The order id of the ExecAck in got[], -1 if none. */
static uint64_t acked(void)
{
	for (uint32_t i = 0; i < n_got; i++)
		if (got[i].template_id == TKX_EXEC_ACK)
			return got[i].u.ack.order_id;
	return (uint64_t)-1;
}

/* The first event of template tid in got[]. */
static const struct dp_event *first(uint16_t tid)
{
	for (uint32_t i = 0; i < n_got; i++)
		if (got[i].template_id == tid)
			return &got[i];
	fail_msg("no event of template %u", (unsigned)tid);
	return NULL;
}

static const struct dp_event *find(uint16_t tid, uint64_t order_id)
{
	for (uint32_t i = 0; i < n_got; i++) {
		uint64_t id = tid == TKX_FILL ? got[i].u.fill.order_id
			      : tid == TKX_CANCELLED ? got[i].u.cancelled.order_id : 0;
		if (got[i].template_id == tid && id == order_id)
			return &got[i];
	}
	return NULL;
}

/* Session (0, 5) of firm 1 rests a buy with account 0 and one with account 7, then is
 * forgotten. */
static void park(struct mc_core *mc, uint64_t *a0, uint64_t *a7)
{
	run(mc, new_order(0, 5, 1, 0, 10, TKX_SIDE_BUY, 25000, 10, TKX_TIF_GTC));
	*a0 = acked();
	run(mc, new_order(0, 5, 1, 7, 11, TKX_SIDE_BUY, 24990, 10, TKX_TIF_GTC));
	*a7 = acked();
	assert_int_equal(mc_detached_upto(mc, 0, 5), 0);
	run(mc, gone(0, 5, 1, DP_GONE_DETACH, 2));
	/* Nothing cancelled: only the answer, to the slot, with the request's parts and id. */
	assert_int_equal(n_got, 1);
	assert_int_equal(got[0].template_id, 0);
	assert_int_equal(got[0].pad[0], DP_EV_DETACHED);
	assert_int_equal(got[0].src, 0);
	assert_int_equal(got[0].session, 5);
	assert_int_equal(got[0].parts, 2);
	uint64_t id;
	memcpy(&id, got[0].u.raw, sizeof(id));
	assert_int_equal(id, SID);
	assert_true(mc_detached_upto(mc, 0, 5) > 0);
}

/* Replies for a detached order go to no session; the slot's next session gets its own. */
static void test_routing(void **state)
{
	(void)state;
	struct core c;
	uint64_t a0, a7;
	core_open(&c, 2, 16);
	park(c.mc, &a0, &a7);
	/* The slot's next session (another firm) enters an order: its own, normally. */
	run(c.mc, new_order(0, 5, 2, 0, 1, TKX_SIDE_BUY, 24980, 5, TKX_TIF_GTC));
	uint64_t b = acked();
	assert_int_equal(got[0].src, 0);
	assert_int_equal(got[0].session, 5);
	/* Firm 3 sells into all three: the detached ones' fills go nowhere. */
	run(c.mc, new_order(1, 3, 3, 0, 1, TKX_SIDE_SELL, 24980, 30, TKX_TIF_IOC));
	const struct dp_event *f0 = find(TKX_FILL, a0), *f7 = find(TKX_FILL, a7),
			      *fb = find(TKX_FILL, b);
	assert_non_null(f0);
	assert_non_null(f7);
	assert_non_null(fb);
	assert_int_equal(f0->src, DP_SRC_NONE);
	assert_int_equal(f7->src, DP_SRC_NONE);
	assert_int_equal(fb->src, 0);
	assert_int_equal(fb->session, 5);
	struct mc_stats st;
	mc_stats(c.mc, &st);
	assert_int_equal(st.detached, 2);
	free(c.mem);
}

/* Cancel-on-disconnect and MassCancel SESSION of the slot's next session leave the
 * detached orders alone; a detach cancels nothing. */
static void test_session_scope(void **state)
{
	(void)state;
	struct core c;
	uint64_t a0, a7;
	core_open(&c, 2, 16);
	park(c.mc, &a0, &a7);
	run(c.mc, new_order(0, 5, 1, 0, 20, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC));
	uint64_t b = acked();
	run(c.mc, mass(0, 5, 1, TKX_SCOPE_SESSION, 0, 21));
	assert_non_null(find(TKX_CANCELLED, b));
	assert_null(find(TKX_CANCELLED, a0));
	assert_null(find(TKX_CANCELLED, a7));
	assert_int_equal(first(TKX_MASS_CANCEL_ACK)->u.mass_ack.count, 1);
	run(c.mc, new_order(0, 5, 1, 0, 22, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC));
	b = acked();
	run(c.mc, gone(0, 5, 1, 0, 1)); /* cancel-on-disconnect of the new session */
	assert_non_null(find(TKX_CANCELLED, b));
	assert_null(find(TKX_CANCELLED, a0));
	assert_null(find(TKX_CANCELLED, a7));
	struct me_order_view v;
	assert_int_equal(me_book_find(mc_book(c.mc, C1), (int64_t)a0, &v), 0);
	assert_int_equal(me_book_find(mc_book(c.mc, C1), (int64_t)a7, &v), 0);
	/* A second detach of the slot takes what the new session left, nothing earlier. */
	run(c.mc, new_order(0, 5, 1, 0, 23, TKX_SIDE_SELL, 26000, 5, TKX_TIF_GTC));
	b = acked();
	run(c.mc, gone(0, 5, 1, DP_GONE_DETACH, 1));
	assert_int_equal(n_got, 1);
	run(c.mc, new_order(1, 2, 4, 0, 1, TKX_SIDE_BUY, 26000, 5, TKX_TIF_IOC));
	assert_int_equal(find(TKX_FILL, b)->src, DP_SRC_NONE);
	/* A cancel-on-disconnect GONE with an answer (DP_GONE_ACK alone) cancels, then
	 * answers after its Cancelled. */
	run(c.mc, new_order(0, 6, 1, 0, 30, TKX_SIDE_SELL, 26500, 5, TKX_TIF_GTC));
	b = acked();
	run(c.mc, gone(0, 6, 1, DP_GONE_ACK, 1));
	assert_int_equal(n_got, 3); /* Cancelled, top of book... */
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	assert_int_equal(got[0].u.cancelled.reason, TKX_CXL_DISCONNECT);
	assert_int_equal(got[1].pad[0], DP_EV_DETACHED);
	assert_int_equal(got[1].session, 6);
	assert_int_equal(got[2].template_id, TKX_MD_TOP_OF_BOOK);
	free(c.mem);
}

/* The account-0 orders of a forgotten session are its firm's: any session of the firm
 * cancels them, MassCancel ACCOUNT 0 of the firm takes them, another firm cannot; the
 * firm's cancel of a detached order is answered to the requester even when it sits in
 * the detached order's slot. */
static void test_firm_owns(void **state)
{
	(void)state;
	struct core c;
	uint64_t a0, a7, x0;
	core_open(&c, 2, 16);
	/* Before the detach an account-0 order is its session's alone. */
	run(c.mc, new_order(0, 5, 1, 0, 10, TKX_SIDE_BUY, 24000, 1, TKX_TIF_GTC));
	x0 = acked();
	run(c.mc, cancel(0, 6, 1, x0, 1));
	assert_int_equal(got[0].template_id, TKX_EXEC_REJECT);
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_NOT_OWNER);
	park(c.mc, &a0, &a7);
	/* Now the firm's: session (0, 6) of firm 1 cancels one by id. */
	run(c.mc, cancel(0, 6, 1, x0, 2));
	assert_int_equal(n_got, 2); /* not at the best bid: no top of book */
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	assert_int_equal(got[0].src, DP_SRC_NONE);
	assert_int_equal(got[1].template_id, TKX_CANCELLED);
	assert_int_equal(got[1].src, 0);
	assert_int_equal(got[1].session, 6);
	/* Another firm cannot; nor can firm 2 in the detached orders' own slot. */
	run(c.mc, cancel(1, 1, 2, a0, 1));
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_NOT_OWNER);
	run(c.mc, cancel(0, 5, 2, a0, 1));
	assert_int_equal(got[0].u.reject.reason, TKX_REJ_NOT_OWNER);
	run(c.mc, mass(1, 1, 2, TKX_SCOPE_ACCOUNT, 0, 3));
	assert_int_equal(first(TKX_MASS_CANCEL_ACK)->u.mass_ack.count, 0);
	/* Firm 1's new session in the slot cancels the account-7 one: it gets the Cancelled
	 * (its own request), the detached order's slot does not. */
	run(c.mc, cancel(0, 5, 1, a7, 4));
	assert_int_equal(got[0].template_id, TKX_CANCELLED);
	assert_int_equal(got[0].src, DP_SRC_NONE);
	assert_int_equal(got[1].template_id, TKX_CANCELLED);
	assert_int_equal(got[1].src, 0);
	assert_int_equal(got[1].session, 5);
	assert_int_equal(got[1].u.cancelled.cl_ord_id, 4);
	/* MassCancel ACCOUNT 0 of firm 1 takes the other account-0 one. */
	run(c.mc, mass(0, 9, 1, TKX_SCOPE_ACCOUNT, 0, 5));
	assert_non_null(find(TKX_CANCELLED, a0));
	assert_int_equal(find(TKX_CANCELLED, a0)->src, DP_SRC_NONE);
	assert_int_equal(first(TKX_MASS_CANCEL_ACK)->session, 9);
	assert_int_equal(first(TKX_MASS_CANCEL_ACK)->u.mass_ack.count, 1);
	assert_int_equal(me_book_count(mc_book(c.mc, C1)), 0);
	free(c.mem);
}

/* In one burst: a fill of the slot's order, then the detach: the fill still goes to the
 * slot (it was made before), the answer after it. */
static void test_answer_after(void **state)
{
	(void)state;
	struct core c;
	core_open(&c, 2, 16);
	run(c.mc, new_order(0, 5, 1, 0, 10, TKX_SIDE_BUY, 25000, 10, TKX_TIF_GTC));
	uint64_t a = acked();
	struct dp_order burst[2] = {
		new_order(1, 3, 3, 0, 1, TKX_SIDE_SELL, 25000, 4, TKX_TIF_IOC),
		gone(0, 5, 1, DP_GONE_DETACH, 1),
	};
	n_got = 0;
	mc_process(c.mc, burst, 2, NOW, &out);
	const struct dp_event *f = find(TKX_FILL, a);
	assert_non_null(f);
	assert_int_equal(f->src, 0);
	uint32_t i_fill = (uint32_t)(f - got), i_ack = n_got;
	for (uint32_t i = 0; i < n_got; i++)
		if (got[i].pad[0] == DP_EV_DETACHED)
			i_ack = i;
	assert_true(i_ack < n_got);
	assert_true(i_fill < i_ack);
	/* After it, the rest of that order reports to nobody. */
	run(c.mc, new_order(1, 3, 3, 0, 2, TKX_SIDE_SELL, 25000, 4, TKX_TIF_IOC));
	assert_int_equal(find(TKX_FILL, a)->src, DP_SRC_NONE);
	free(c.mem);
}

/* A core without a detach table (or a slot outside it) cannot keep the orders apart: no
 * answer, so the session layer never gives the slot away; nothing is cancelled. */
static void test_no_table(void **state)
{
	(void)state;
	struct core c;
	core_open(&c, 0, 0);
	run(c.mc, new_order(0, 5, 1, 0, 10, TKX_SIDE_BUY, 25000, 10, TKX_TIF_GTC));
	uint64_t a = acked();
	run(c.mc, gone(0, 5, 1, DP_GONE_DETACH, 1));
	assert_int_equal(n_got, 0);
	assert_int_equal(mc_detached_upto(c.mc, 0, 5), -ENOENT);
	run(c.mc, new_order(1, 3, 3, 0, 1, TKX_SIDE_SELL, 25000, 4, TKX_TIF_IOC));
	assert_int_equal(find(TKX_FILL, a)->src, 0);
	free(c.mem);
	core_open(&c, 1, 4);
	run(c.mc, gone(1, 2, 1, DP_GONE_DETACH, 1)); /* src 1 is outside a 1 x 4 table */
	assert_int_equal(n_got, 0);
	run(c.mc, gone(0, 4, 1, DP_GONE_DETACH, 1)); /* so is session 4 */
	assert_int_equal(n_got, 0);
	run(c.mc, gone(0, 3, 1, DP_GONE_DETACH, 1));
	assert_int_equal(n_got, 1);
	free(c.mem);
	/* Bad shapes. */
	struct mc_contract_params p = {.id = C1, .book = {.price_lo = 1, .price_hi = 10, .tick = 1,
							  .max_qty = 1, .max_orders = 1}};
	struct mc_core_cfg cfg = {.capacity = 1, .det_srcs = 1, .det_sessions = 0};
	assert_int_equal(mc_core_memsize_cfg(&p, 1, &cfg), 0);
	cfg.det_sessions = 65537;
	assert_int_equal(mc_core_memsize_cfg(&p, 1, &cfg), 0);
}

/* The detach table is part of the core's snapshot: a core loaded from it routes and
 * cancels as the one saved; a core of another detach shape refuses it. */
static void test_snapshot(void **state)
{
	(void)state;
	struct core a, b, d;
	uint64_t a0, a7;
	char err[256];
	core_open(&a, 2, 16);
	park(a.mc, &a0, &a7);
	size_t cap = mc_snap_bound(a.mc);
	void *blob = malloc(cap);
	assert_non_null(blob);
	struct dp_snap_w w;
	dp_snap_w_init(&w, blob, cap);
	int64_t n = mc_snap_save(a.mc, &w);
	assert_true(n > 0);
	core_open(&b, 2, 16);
	assert_int_equal(mc_snap_load(b.mc, blob, (size_t)n, NULL, err, sizeof(err)), 0);
	assert_int_equal(mc_detached_upto(b.mc, 0, 5), mc_detached_upto(a.mc, 0, 5));
	run(b.mc, new_order(1, 3, 3, 0, 1, TKX_SIDE_SELL, 24990, 20, TKX_TIF_IOC));
	assert_int_equal(find(TKX_FILL, a0)->src, DP_SRC_NONE);
	assert_int_equal(find(TKX_FILL, a7)->src, DP_SRC_NONE);
	core_open(&d, 2, 8);
	assert_int_equal(mc_snap_load(d.mc, blob, (size_t)n, NULL, err, sizeof(err)), -EINVAL);
	assert_true(mc_snap_config(d.mc) != mc_snap_config(b.mc));
	free(blob);
	free(a.mem);
	free(b.mem);
	free(d.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_session_scope),
		cmocka_unit_test(test_firm_owns),
		cmocka_unit_test(test_answer_after),
		cmocka_unit_test(test_no_table),
		cmocka_unit_test(test_snapshot),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
