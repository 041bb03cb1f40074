/*
 * test_session_quota.c - who may hold the session table (ss_session.h invariants 9 and
 * 13): per-firm limits, sessions forgotten after their linger even when they may have
 * resting orders (their orders detached by every matching core before the slot is given
 * away), ss_drop(), and the same on replay and through a snapshot. Client messages are
 * encoded with tokex/codec.h and fed to ss_rx() as UDP datagrams; in the detach-ordering
 * tests a real matching core (mc_core) answers, its replies held in a FIFO as on a ring.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokex/codec.h>

#include "mc_core.h"
#include "ss_session.h"
#include "ss_snap.h"

#define MS 1000000ull
#define T0 (1700000000ull * 1000000000ull)
#define LINGER_MS 1000
#define CORE 0
#define C1 202612

static const struct ss_firm firms[] = {
	{ .firm_id = 7, .key_len = 8, .key = "secret-7", .max_sessions = 3 },
	{ .firm_id = 9, .key_len = 6, .key = "key--9" },
};
#define FIRM7 (&firms[0])
#define FIRM9 (&firms[1])

struct fx {
	void *mem;
	struct ss_table *t;
	struct ss_out *out;
	uint64_t now;
	uint64_t ts_n; /* logons so far: each one's timestamp is newer (ss_session.h 14) */
	uint32_t max_sessions;
};

/* A Negotiate's or Establish's timestamp: now, and newer than every one before. */
static uint64_t logon_ts(struct fx *f)
{
	return f->now + ++f->ts_n;
}

static void fx_open(struct fx *f, uint32_t max_sessions, uint32_t firm_sessions)
{
	struct ss_params p;

	ss_params_default(&p);
	p.max_sessions = max_sessions;
	p.core = CORE;
	/* Bare datagrams: datagram authentication has its tests in test_session_auth.c. */
	p.udp_auth = SS_AUTH_OFF;
	p.firms = firms;
	p.n_firms = 2;
	p.throttle_rate = 0;
	p.retrans_depth = 64;
	p.retrans_max = 64;
	p.log_depth = 256;
	p.linger_ms = LINGER_MS;
	p.ts_tolerance_ms = LINGER_MS; /* a slot is kept at least this long too */
	p.firm_sessions = firm_sessions;
	size_t len = ss_table_memsize(&p);
	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->t = ss_table_init(f->mem, len, &p);
	assert_non_null(f->t);
	f->out = calloc(1, sizeof(*f->out));
	assert_non_null(f->out);
	f->now = T0;
	f->max_sessions = max_sessions;
}

static void fx_close(struct fx *f)
{
	free(f->out);
	free(f->mem);
}

static struct ss_peer peer_n(uint32_t n)
{
	struct ss_peer p;

	memset(&p, 0, sizeof(p));
	p.mac[5] = (uint8_t)n;
	p.ip = 0x0a000000u + n;
	p.port = (uint16_t)(20000 + n);
	return p;
}

static struct ss_stats stats(const struct fx *f)
{
	struct ss_stats s;

	ss_stats_read(f->t, &s);
	return s;
}

static struct ss_info info(const struct fx *f, unsigned slot)
{
	struct ss_info i;

	assert_int_equal(ss_session_info(f->t, slot, &i), 0);
	return i;
}

/* ---- Datagrams ------------------------------------------------------------------------ */

struct dg {
	uint8_t b[2048];
	size_t n;
};

#define DG_ADD(d, name, ...)                                                                \
	do {                                                                                \
		struct tkx_##name m_ = { __VA_ARGS__ };                                     \
		int r_ = tkx_enc_##name((d)->b + (d)->n, sizeof((d)->b) - (d)->n, &m_);     \
		assert_true(r_ > 0);                                                        \
		(d)->n += (size_t)r_;                                                       \
	} while (0)

static void dg_negotiate(struct dg *d, uint64_t sid, const struct ss_firm *k, uint64_t ts)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, negotiate, .session_id = sid, .timestamp = ts, .firm_id = k->firm_id);
	assert_int_equal(tkx_sign(k->key, k->key_len, at, TKX_HDR_LEN + 56), 0);
}

static void dg_establish(struct dg *d, uint64_t sid, const struct ss_firm *k, uint64_t ts,
			 uint8_t cod)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, establish, .session_id = sid, .timestamp = ts, .next_seq_no = 1,
	       .keepalive_ms = 1000, .cancel_on_disconnect = cod);
	assert_int_equal(tkx_sign(k->key, k->key_len, at, TKX_HDR_LEN + 64), 0);
}

/* Every message of every buffer in out, in order; UDP datagrams. */
static unsigned replies(const struct fx *f, struct tkx_msg *m, unsigned max)
{
	unsigned n = 0;

	for (uint32_t i = 0; i < f->out->n_bufs; i++) {
		struct tkx_dgram_iter it;
		int rc;

		tkx_dgram_init(&it, f->out->bufs[i].bytes, f->out->bufs[i].len);
		while (n < max && (rc = tkx_dgram_next(&it, &m[n])) > 0)
			n++;
	}
	return n;
}

/* ss_rx() of d from peer with an empty out; the first reply's template. */
static uint16_t rx(struct fx *f, const struct ss_peer *p, const struct dg *d, struct tkx_msg *m)
{
	struct tkx_msg all[64];

	ss_out_reset(f->out);
	assert_true(ss_rx(f->t, p, d->b, d->n, f->now, f->out) > 0);
	assert_true(replies(f, all, 64) > 0);
	if (m)
		*m = all[0];
	return all[0].template_id;
}

/* Negotiate sid from peer: its NegotiationResponse (0) or NegotiationReject's reason. */
static unsigned negotiate(struct fx *f, const struct ss_peer *p, uint64_t sid,
			  const struct ss_firm *k)
{
	struct dg d = { .n = 0 };
	struct tkx_msg m;

	dg_negotiate(&d, sid, k, logon_ts(f));
	if (rx(f, p, &d, &m) == TKX_NEGOTIATION_RESPONSE)
		return 0;
	assert_int_equal(m.template_id, TKX_NEGOTIATION_REJECT);
	return m.negotiation_reject.reason;
}

/* Negotiate and Establish (cod 0), then a GTC NewOrder unless no_order, then Terminate
 * unless keep: a session that parks an order. Returns its slot; out keeps its orders. */
static unsigned session(struct fx *f, const struct ss_peer *p, uint64_t sid,
			const struct ss_firm *k, int with_order, int keep)
{
	struct dg d = { .n = 0 };

	dg_negotiate(&d, sid, k, logon_ts(f));
	dg_establish(&d, sid, k, logon_ts(f), 0);
	if (with_order) {
		DG_ADD(&d, sequence, .next_seq_no = 1);
		DG_ADD(&d, new_order, .cl_ord_id = 1, .price = 25000, .qty = 10,
		       .contract_id = C1, .account = 0, .side = TKX_SIDE_BUY,
		       .tif = TKX_TIF_GTC);
	}
	ss_out_reset(f->out);
	assert_true(ss_rx(f->t, p, d.b, d.n, f->now, f->out) > 0);
	int slot = ss_lookup(f->t, sid);
	assert_true(slot >= 0);
	if (with_order && !keep) {
		/* Its matching core acks the order (the request's last reply): only then may
		 * the session's end follow (ss_session.h invariant 15). out keeps the order. */
		struct dp_order keep_o[SS_OUT_ORDERS];
		uint32_t n = f->out->n_orders;
		struct dp_event e;
		struct tkx_exec_ack a = { .cl_ord_id = 1, .order_id = 1000 + sid, .price = 25000,
					  .qty = 10, .contract_id = C1, .side = TKX_SIDE_BUY,
					  .tif = TKX_TIF_GTC };

		memcpy(keep_o, f->out->orders, n * sizeof(keep_o[0]));
		memset(&e, 0, sizeof(e));
		e.template_id = TKX_EXEC_ACK;
		e.src = CORE;
		e.session = (uint16_t)slot;
		e.pad[1] = DP_EV_DONE;
		memcpy(e.u.raw, &a, sizeof(a));
		assert_int_equal(ss_event(f->t, &e, 1, f->now, f->out), 1);
		ss_release(f->t, f->now, f->out);
		memcpy(f->out->orders, keep_o, n * sizeof(keep_o[0]));
		f->out->n_orders = n;
		d.n = 0;
	}
	if (!keep) {
		struct dp_order keep_o[SS_OUT_ORDERS];
		uint32_t n = f->out->n_orders;

		memcpy(keep_o, f->out->orders, n * sizeof(keep_o[0]));
		d.n = 0;
		DG_ADD(&d, terminate, .session_id = sid);
		ss_out_reset(f->out);
		assert_true(ss_rx(f->t, p, d.b, d.n, f->now, f->out) > 0);
		memmove(f->out->orders + n, f->out->orders, f->out->n_orders * sizeof(keep_o[0]));
		memcpy(f->out->orders, keep_o, n * sizeof(keep_o[0]));
		f->out->n_orders += n;
	}
	assert_int_equal(info(f, (unsigned)slot).state, keep ? SS_ESTABLISHED : SS_TERMINATED);
	return (unsigned)slot;
}

/* The SESSION_GONE DP_GONE_DETACH in out, or NULL. */
static const struct dp_order *detach_in(const struct fx *f)
{
	for (uint32_t i = 0; i < f->out->n_orders; i++)
		if (f->out->orders[i].type == DP_ORD_SESSION_GONE &&
		    f->out->orders[i].scope == DP_GONE_DETACH)
			return &f->out->orders[i];
	return NULL;
}

/* What a matching core answers a detach with. */
static void answer(struct fx *f, const struct dp_order *o, uint8_t parts)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.pad[0] = DP_EV_DETACHED;
	e.src = o->src;
	e.session = o->session;
	e.parts = parts;
	memcpy(e.u.raw, &o->order_id, sizeof(o->order_id));
	assert_int_equal(ss_event(f->t, &e, 1, f->now, f->out), 1);
}

static unsigned log_has(struct fx *f, uint16_t code, uint64_t sid, uint16_t reason)
{
	struct ss_log l[256];
	unsigned n = ss_log_drain(f->t, l, 256), hits = 0;

	for (unsigned i = 0; i < n; i++)
		hits += l[i].code == code && l[i].session_id == sid && l[i].reason == reason;
	return hits;
}

/* ---- Per-firm limit ------------------------------------------------------------------- */

/* The parking attack on a table of 8: firm 7 (limit 3) parks sessions with resting orders;
 * the 4th is refused SESSION_LIMIT while nothing of its own lingered, and firm 9 still
 * logs on as often as the table has room. Before limits, firm 7 took all 8 slots for
 * good and firm 9 got UNSPECIFIED. */
static void test_one_firm_cannot_fill(void **state)
{
	struct fx f;
	unsigned i;

	(void)state;
	fx_open(&f, 8, 0);
	for (i = 0; i < 3; i++)
		session(&f, &(struct ss_peer){ 0 }, 100 + i, FIRM7, 1, 0);
	for (i = 3; i < 8; i++) {
		struct ss_peer p = peer_n(i);

		assert_int_equal(negotiate(&f, &p, 100 + i, FIRM7), TKX_SREJ_SESSION_LIMIT);
		assert_int_equal(f.out->n_orders, 0); /* nothing lingered: nothing forgotten */
	}
	assert_int_equal(stats(&f).neg_firm_limit, 5);
	assert_int_equal(log_has(&f, SS_LOG_NEGOTIATE_REJECT, 107, TKX_SREJ_SESSION_LIMIT), 1);
	/* Its existing sessions it may resume: no new slot. */
	{
		struct ss_peer p = peer_n(20);

		assert_int_equal(negotiate(&f, &p, 101, FIRM7), 0);
	}
	/* Firm 9 (no limit of its own) takes the other 5 slots. */
	for (i = 0; i < 5; i++) {
		struct ss_peer p = peer_n(30 + i);

		assert_int_equal(negotiate(&f, &p, 900 + i, FIRM9), 0);
	}
	{
		struct ss_peer p = peer_n(40);

		assert_int_equal(negotiate(&f, &p, 999, FIRM9), TKX_SREJ_UNSPECIFIED);
	}
	fx_close(&f);
}

/* ss_params.firm_sessions limits every firm without one of its own. */
static void test_default_limit(void **state)
{
	struct fx f;

	(void)state;
	fx_open(&f, 8, 2);
	session(&f, &(struct ss_peer){ 0 }, 900, FIRM9, 0, 0);
	session(&f, &(struct ss_peer){ 0 }, 901, FIRM9, 0, 0);
	struct ss_peer p = peer_n(1);

	assert_int_equal(negotiate(&f, &p, 902, FIRM9), TKX_SREJ_SESSION_LIMIT);
	/* Firm 7's own limit (3) wins over the default. */
	for (unsigned i = 0; i < 3; i++)
		session(&f, &(struct ss_peer){ 0 }, 100 + i, FIRM7, 0, 0);
	assert_int_equal(negotiate(&f, &p, 103, FIRM7), TKX_SREJ_SESSION_LIMIT);
	fx_close(&f);
}

/* At its limit a firm gets its own oldest lingered session without orders at once. */
static void test_limit_reclaims_own_clean(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);

	(void)state;
	fx_open(&f, 8, 0);
	unsigned s0 = session(&f, &(struct ss_peer){ 0 }, 100, FIRM7, 0, 0);
	f.now += 10 * MS;
	session(&f, &(struct ss_peer){ 0 }, 101, FIRM7, 1, 0);
	f.now += 10 * MS;
	session(&f, &(struct ss_peer){ 0 }, 102, FIRM7, 0, 0);
	assert_int_equal(negotiate(&f, &p, 103, FIRM7), TKX_SREJ_SESSION_LIMIT);
	f.now += LINGER_MS * MS;
	ss_log_drain(f.t, (struct ss_log[256]){ { 0 } }, 256);
	assert_int_equal(negotiate(&f, &p, 103, FIRM7), 0);
	assert_int_equal(ss_lookup(f.t, 103), (int)s0); /* 100: oldest, no orders */
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(stats(&f).reclaimed, 1);
	assert_int_equal(log_has(&f, SS_LOG_RECLAIMED, 100, 0), 1);
	fx_close(&f);
}

/* At its limit, with only sessions that may have orders: the oldest lingered one is
 * forgotten (a detach), the Negotiate refused SESSION_LIMIT until every core answered;
 * ss_tick() does the same before anyone asks. */
static void test_limit_forgets_own_oldest(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	const struct dp_order *g;
	struct dp_order keep;

	(void)state;
	fx_open(&f, 8, 0);
	unsigned s0 = session(&f, &(struct ss_peer){ 0 }, 100, FIRM7, 1, 0);
	f.now += 10 * MS;
	unsigned s1 = session(&f, &(struct ss_peer){ 0 }, 101, FIRM7, 1, 0);
	f.now += 10 * MS;
	session(&f, &(struct ss_peer){ 0 }, 102, FIRM7, 1, 0);
	f.now += LINGER_MS * MS;
	assert_int_equal(negotiate(&f, &p, 103, FIRM7), TKX_SREJ_SESSION_LIMIT);
	g = detach_in(&f);
	assert_non_null(g);
	keep = *g;
	assert_int_equal(keep.session, s0);
	assert_int_equal(keep.src, CORE);
	assert_int_equal(keep.firm_id, 7);
	assert_int_equal(keep.order_id, 100);
	assert_int_equal(keep.contract_id, 0);
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	assert_true(info(&f, s0).detaching);
	assert_int_equal(info(&f, s0).state, SS_FREE);
	assert_int_equal(log_has(&f, SS_LOG_FORGOTTEN, 100, SS_FORGET_FIRM), 1);
	/* No longer its: below its limit, the firm takes a FREE slot at once; the forgotten
	 * one's slot is FREE only when both cores answered. */
	assert_int_equal(negotiate(&f, &p, 103, FIRM7), 0);
	assert_null(detach_in(&f));
	assert_true(ss_lookup(f.t, 103) != (int)s0);
	ss_out_reset(f.out);
	answer(&f, &keep, 2);
	assert_true(info(&f, s0).detaching);
	answer(&f, &keep, 2);
	assert_false(info(&f, s0).detaching);
	assert_int_equal(stats(&f).detach_done, 1);
	/* ss_tick(): at the limit again (101, 102, 103), 101 lingered: forgotten ahead. */
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, f.now, f.out), 1);
	g = detach_in(&f);
	assert_non_null(g);
	assert_int_equal(g->session, s1);
	keep = *g;
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, f.now, f.out), 0); /* one in progress: no other */
	answer(&f, &keep, 1);
	assert_int_equal(stats(&f).forgotten, 2);
	fx_close(&f);
}

/* A full table forgets its oldest lingered session first - any firm's, orders or not -
 * and ss_tick() keeps one slot ready when the table is full. */
static void test_table_full_oldest_first(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(50);
	const struct dp_order *g;
	struct dp_order keep;

	(void)state;
	fx_open(&f, 4, 0);
	unsigned a = session(&f, &(struct ss_peer){ 0 }, 900, FIRM9, 1, 0);
	f.now += 10 * MS;
	unsigned b = session(&f, &(struct ss_peer){ 0 }, 100, FIRM7, 1, 0);
	f.now += 10 * MS;
	session(&f, &(struct ss_peer){ 0 }, 901, FIRM9, 1, 0);
	f.now += 10 * MS;
	session(&f, &(struct ss_peer){ .mac = { 1 } }, 902, FIRM9, 0, 1); /* live */
	assert_int_equal(negotiate(&f, &p, 903, FIRM9), TKX_SREJ_UNSPECIFIED);
	assert_null(detach_in(&f)); /* nothing lingered */
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, f.now, f.out), 0);
	f.now += LINGER_MS * MS;
	ss_out_reset(f.out);
	assert_true(ss_tick(f.t, f.now, f.out) >= 1); /* and a heartbeat to 902 */
	g = detach_in(&f);
	assert_non_null(g);
	assert_int_equal(g->session, a); /* the oldest: 900 */
	keep = *g;
	assert_int_equal(log_has(&f, SS_LOG_FORGOTTEN, 900, SS_FORGET_TABLE), 1);
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, f.now, f.out), 0); /* one at a time ahead of need */
	answer(&f, &keep, 1);
	assert_int_equal(negotiate(&f, &p, 903, FIRM9), 0);
	assert_int_equal(ss_lookup(f.t, 903), (int)a);
	/* Full again: a Negotiate itself starts the next (100, firm 7) and is refused. */
	struct ss_peer q = peer_n(51);

	assert_int_equal(negotiate(&f, &q, 904, FIRM9), TKX_SREJ_UNSPECIFIED);
	g = detach_in(&f);
	assert_non_null(g);
	assert_int_equal(g->session, b);
	assert_int_equal(g->order_id, 100);
	fx_close(&f);
}

/* Restart: sessions rebuilt from the journal linger from the restart and are forgotten
 * like any other, orders or not (before, one with an order kept its slot for good). */
static void test_restored_sessions_reclaimable(void **state)
{
	struct fx f;
	struct dp_order o;
	struct ss_peer p = peer_n(1);

	(void)state;
	fx_open(&f, 2, 0);
	for (unsigned s = 0; s < 2; s++) {
		assert_int_equal(ss_restore_session(f.t, s, 100 + s, 7, 1, f.now), 0);
		memset(&o, 0, sizeof(o));
		o.type = DP_ORD_NEW;
		o.src = CORE;
		o.session = (uint16_t)s;
		o.cl_ord_id = 5;
		o.in_seq = 1;
		assert_int_equal(ss_restore_order(f.t, &o), 0);
		assert_true(info(&f, s).may_have_orders);
	}
	assert_int_equal(negotiate(&f, &p, 900, FIRM9), TKX_SREJ_UNSPECIFIED);
	f.now += LINGER_MS * MS;
	assert_int_equal(negotiate(&f, &p, 900, FIRM9), TKX_SREJ_UNSPECIFIED);
	const struct dp_order *g = detach_in(&f);

	assert_non_null(g);
	assert_int_equal(g->order_id, 100);
	o = *g;
	answer(&f, &o, 1);
	assert_int_equal(negotiate(&f, &p, 900, FIRM9), 0);
	fx_close(&f);
}

/* ---- ss_drop() -------------------------------------------------------------------------- */

static void test_drop(void **state)
{
	struct fx f;
	struct ss_info was;
	struct tkx_msg m[16];
	struct dp_order g;

	(void)state;
	fx_open(&f, 8, 0);
	/* A live session with cancel-on-disconnect: Terminate, its SESSION_GONE, then the
	 * detach that forgets it. */
	struct ss_peer p1 = peer_n(1);
	struct dg d = { .n = 0 };

	dg_negotiate(&d, 100, FIRM7, logon_ts(&f));
	dg_establish(&d, 100, FIRM7, logon_ts(&f), 1);
	assert_int_equal(rx(&f, &p1, &d, NULL), TKX_NEGOTIATION_RESPONSE);
	unsigned s100 = (unsigned)ss_lookup(f.t, 100);
	ss_out_reset(f.out);
	assert_int_equal(ss_drop(f.t, 100, f.now, f.out, &was), 0);
	assert_int_equal(was.state, SS_ESTABLISHED);
	assert_int_equal(was.session_id, 100);
	assert_int_equal(was.firm_id, 7);
	assert_int_equal(was.cancel_on_disconnect, 1);
	assert_int_equal(replies(&f, m, 16), 1);
	assert_int_equal(m[0].template_id, TKX_TERMINATE);
	assert_int_equal(m[0].terminate.reason, TKX_TERM_UNSPECIFIED);
	assert_int_equal(f.out->n_orders, 2);
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	assert_int_equal(f.out->orders[0].scope, 0);
	assert_int_equal(f.out->orders[1].scope, DP_GONE_DETACH);
	assert_int_equal(f.out->orders[1].session, s100);
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	assert_int_equal(ss_drop(f.t, 100, f.now, f.out, NULL), -ENOENT); /* being forgotten */
	g = f.out->orders[1];
	assert_int_equal(log_has(&f, SS_LOG_DROPPED, 100, SS_ESTABLISHED), 1);
	/* A TERMINATED one (lingered or not): the detach alone. */
	unsigned s101 = session(&f, &(struct ss_peer){ 0 }, 101, FIRM7, 1, 0);
	ss_out_reset(f.out);
	assert_int_equal(ss_drop(f.t, 101, f.now, f.out, &was), 0);
	assert_int_equal(was.state, SS_TERMINATED);
	assert_true(was.may_have_orders);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].scope, DP_GONE_DETACH);
	assert_int_equal(f.out->orders[0].session, s101);
	assert_int_equal(f.out->n_bufs, 0);
	/* A NEGOTIATED one never established: FREE at once, nothing for the cores. */
	struct ss_peer p2 = peer_n(2);

	assert_int_equal(negotiate(&f, &p2, 102, FIRM7), 0);
	int s102 = ss_lookup(f.t, 102);
	ss_out_reset(f.out);
	assert_int_equal(ss_drop(f.t, 102, f.now, f.out, &was), 1);
	assert_int_equal(was.state, SS_NEGOTIATED);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, (unsigned)s102).state, SS_FREE);
	assert_false(info(&f, (unsigned)s102).detaching);
	/* Unknown; no room. */
	assert_int_equal(ss_drop(f.t, 555, f.now, f.out, NULL), -ENOENT);
	f.out->n_orders = SS_OUT_ORDERS - 1;
	assert_int_equal(ss_drop(f.t, 100, f.now, f.out, NULL), -ENOENT);
	session(&f, &(struct ss_peer){ 0 }, 103, FIRM9, 0, 0);
	f.out->n_orders = SS_OUT_ORDERS - 1;
	assert_int_equal(ss_drop(f.t, 103, f.now, f.out, NULL), -ENOBUFS);
	ss_out_reset(f.out);
	/* The dropped slot comes back once answered; an answer for another id is ignored. */
	struct dp_order other = g;

	other.order_id = 4242;
	answer(&f, &other, 1);
	assert_true(info(&f, s100).detaching);
	answer(&f, &g, 1);
	assert_false(info(&f, s100).detaching);
	assert_int_equal(stats(&f).dropped, 3);
	fx_close(&f);
}

/* ---- Replay and snapshots ---------------------------------------------------------------- */

/* Recovery meets the journaled detach: the session is forgotten as it was live, its slot
 * detaching until the replayed cores answer; a snapshot taken meanwhile loads it FREE. */
static void test_replay_and_snapshot(void **state)
{
	struct fx f, g2;
	struct dp_order o;
	char err[256];

	(void)state;
	fx_open(&f, 4, 0);
	assert_int_equal(ss_restore_session(f.t, 2, 100, 7, 1, f.now), 0);
	assert_int_equal(ss_restore_session(f.t, 1, 101, 7, 1, f.now), 0);
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_NEW;
	o.src = CORE;
	o.session = 2;
	o.cl_ord_id = 9;
	o.in_seq = 4;
	assert_int_equal(ss_restore_order(f.t, &o), 0);
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_SESSION_GONE;
	o.scope = DP_GONE_DETACH;
	o.src = CORE;
	o.session = 2;
	o.firm_id = 7;
	o.order_id = 999; /* not the session in the slot: ignored */
	assert_int_equal(ss_restore_order(f.t, &o), 0);
	assert_int_equal(ss_lookup(f.t, 100), 2);
	o.order_id = 100;
	assert_int_equal(ss_restore_order(f.t, &o), 0);
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	assert_true(info(&f, 2).detaching);
	/* Snapshot now: the slot is FREE in it. */
	size_t cap = ss_snap_bound(f.t);
	void *blob = malloc(cap);
	struct dp_snap_w w;

	assert_non_null(blob);
	dp_snap_w_init(&w, blob, cap);
	int64_t n = ss_snap_save(f.t, &w);

	assert_true(n > 0);
	fx_open(&g2, 4, 0);
	assert_int_equal(ss_snap_load(g2.t, blob, (size_t)n, g2.now, NULL, err, sizeof(err)), 0);
	assert_int_equal(ss_lookup(g2.t, 101), 1);
	assert_int_equal(ss_lookup(g2.t, 100), -ENOENT);
	assert_int_equal(info(&g2, 2).state, SS_FREE);
	assert_false(info(&g2, 2).detaching);
	/* Both tables give slot 2 to a new session (after the answer, in f). */
	answer(&f, &o, 1);
	struct ss_peer p = peer_n(1);

	assert_int_equal(negotiate(&f, &p, 300, FIRM9), 0);
	assert_int_equal(negotiate(&g2, &p, 300, FIRM9), 0);
	assert_int_equal(ss_lookup(g2.t, 300), ss_lookup(f.t, 300));
	/* A SESSION record for the slot's next session while it still detached (replay
	 * stopped early) takes it over cleanly. */
	o.session = 3;
	assert_int_equal(ss_restore_session(f.t, 3, 400, 7, 1, f.now), 0);
	o.order_id = 400;
	assert_int_equal(ss_restore_order(f.t, &o), 0);
	assert_true(info(&f, 3).detaching);
	assert_int_equal(ss_restore_session(f.t, 3, 401, 9, 1, f.now), 0);
	assert_false(info(&f, 3).detaching);
	assert_int_equal(ss_lookup(f.t, 401), 3);
	answer(&f, &o, 1); /* late: ignored */
	assert_int_equal(ss_lookup(f.t, 401), 3);
	free(blob);
	fx_close(&f);
	fx_close(&g2);
}

/* ---- With a matching core: the detach and the replies already on their way ---------- */

/* The matching core's output, held in a FIFO like a ring until delivered. */
static struct dp_event fifo[256];
static unsigned fifo_n;
static struct dp_event obuf[4];

static void to_fifo(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (o->ev[i].template_id < TKX_MD_TOP_OF_BOOK) {
			assert_true(fifo_n < 256);
			fifo[fifo_n++] = o->ev[i];
		}
	o->n = 0;
}

static struct mc_out mout = { obuf, 0, 4, to_fifo, NULL };

/* The requests in out go to the core; the replies wait in the FIFO. */
static void to_core(struct fx *f, struct mc_core *mc)
{
	for (uint32_t i = 0; i < f->out->n_orders; i++)
		f->out->orders[i].parts = 1;
	mc_process(mc, f->out->orders, f->out->n_orders, f->now, &mout);
	f->out->n_orders = 0;
}

static void deliver(struct fx *f)
{
	ss_out_reset(f->out);
	assert_int_equal(ss_event(f->t, fifo, fifo_n, f->now, f->out), fifo_n);
	fifo_n = 0;
}

/* Session A parks a buy and terminates; B trades against it and the fill for A is still
 * on its way when A's slot is needed: A is forgotten, the core detaches its order after
 * that fill, the fill is dropped as A's, and the slot's next session C hears nothing of A
 * - not the fill on the way, not the ones after. Before, A's slot was never reused, and
 * a slot reused without the detach would have given C A's fills. */
static void test_detach_ordering(void **state)
{
	struct fx f;
	struct mc_contract_params cp;
	struct tkx_msg m[64];

	(void)state;
	memset(&cp, 0, sizeof(cp));
	cp.id = C1;
	cp.book = (struct me_params){ .price_lo = 20000, .price_hi = 30000, .tick = 10,
				      .max_qty = 1000, .max_orders = 64 };
	cp.phase = TKX_PHASE_CONTINUOUS;
	struct mc_core_cfg cc = { .capacity = 1, .accounts = MC_DEFAULT_ACCOUNTS, .det_srcs = 1,
				  .det_sessions = 2 };
	size_t len = mc_core_memsize_cfg(&cp, 1, &cc);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init_cfg(mem, len, &cp, 1, &cc);

	assert_non_null(mc);
	fifo_n = 0;
	fx_open(&f, 2, 0);
	struct ss_peer pa = peer_n(1), pb = peer_n(2), pc = peer_n(3);
	unsigned sa = session(&f, &pa, 100, FIRM7, 1, 1);
	to_core(&f, mc);
	deliver(&f); /* A's ExecAck */
	assert_int_equal(info(&f, sa).next_out, 2);
	{ /* A logs off, its order resting */
		struct dg t = { .n = 0 };

		DG_ADD(&t, terminate, .session_id = 100);
		assert_int_equal(rx(&f, &pa, &t, NULL), TKX_TERMINATE);
		assert_int_equal(info(&f, sa).state, SS_TERMINATED);
	}
	session(&f, &pb, 200, FIRM9, 0, 1);
	struct dg d = { .n = 0 };

	DG_ADD(&d, sequence, .next_seq_no = 1);
	DG_ADD(&d, new_order, .cl_ord_id = 1, .price = 25000, .qty = 3, .contract_id = C1,
	       .side = TKX_SIDE_SELL, .tif = TKX_TIF_IOC);
	ss_out_reset(f.out);
	assert_true(ss_rx(f.t, &pb, d.b, d.n, f.now, f.out) > 0);
	to_core(&f, mc); /* B's ack and fill, and A's fill: on their way */
	unsigned on_way = fifo_n;

	assert_true(on_way >= 3);
	f.now += (LINGER_MS + 1) * MS; /* lingered, and A's logons stale */
	assert_int_equal(negotiate(&f, &pc, 300, FIRM9), TKX_SREJ_UNSPECIFIED);
	assert_non_null(detach_in(&f));
	to_core(&f, mc); /* the detach: its answer after A's fill */
	assert_int_equal(fifo[fifo_n - 1].pad[0], DP_EV_DETACHED);
	assert_int_equal(negotiate(&f, &pc, 300, FIRM9), TKX_SREJ_UNSPECIFIED); /* not yet */
	deliver(&f);
	assert_int_equal(stats(&f).ev_forgotten, 1); /* A's fill */
	assert_int_equal(negotiate(&f, &pc, 300, FIRM9), 0);
	assert_int_equal(ss_lookup(f.t, 300), (int)sa);
	d.n = 0;
	dg_establish(&d, 300, FIRM9, logon_ts(&f), 0);
	assert_int_equal(rx(&f, &pc, &d, m), TKX_ESTABLISHMENT_ACK);
	assert_int_equal(m[0].establishment_ack.next_seq_no, 1); /* nothing of A's */
	/* B sells into A's order again: its fill goes to no session. */
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 2);
	DG_ADD(&d, new_order, .cl_ord_id = 2, .price = 25000, .qty = 2, .contract_id = C1,
	       .side = TKX_SIDE_SELL, .tif = TKX_TIF_IOC);
	ss_out_reset(f.out);
	assert_true(ss_rx(f.t, &pb, d.b, d.n, f.now, f.out) > 0);
	to_core(&f, mc);
	deliver(&f);
	struct mc_stats st;

	mc_stats(mc, &st);
	assert_int_equal(st.detached, 1);
	assert_int_equal(info(&f, sa).next_out, 1);
	/* C's own order is C's. */
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 1);
	DG_ADD(&d, new_order, .cl_ord_id = 1, .price = 24000, .qty = 1, .contract_id = C1,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
	ss_out_reset(f.out);
	assert_true(ss_rx(f.t, &pc, d.b, d.n, f.now, f.out) > 0);
	to_core(&f, mc);
	deliver(&f);
	unsigned n = replies(&f, m, 64);

	assert_int_equal(n, 2); /* Sequence(1), ExecAck */
	assert_int_equal(m[1].template_id, TKX_EXEC_ACK);
	assert_int_equal(m[1].exec_ack.cl_ord_id, 1);
	assert_int_equal(info(&f, sa).next_out, 2);
	fx_close(&f);
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_firm_cannot_fill),
		cmocka_unit_test(test_default_limit),
		cmocka_unit_test(test_limit_reclaims_own_clean),
		cmocka_unit_test(test_limit_forgets_own_oldest),
		cmocka_unit_test(test_table_full_oldest_first),
		cmocka_unit_test(test_restored_sessions_reclaimable),
		cmocka_unit_test(test_drop),
		cmocka_unit_test(test_replay_and_snapshot),
		cmocka_unit_test(test_detach_ordering),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
