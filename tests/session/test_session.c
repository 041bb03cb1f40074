/*
 * test_session.c - the session layer (dataplane/session/ss_session.h), driven the way the
 * RX core drives it: client messages are encoded with tokex/codec.h, signed with the
 * firm's key, fed to ss_rx() as datagrams (or TCP frames' messages), and everything the
 * table produces is decoded again with tkx_decode() and checked field by field.
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

#include "ss_session.h"
#include "ss_test_fixture.h"

/* ---- The table under test (the fixture: ss_test_fixture.h) ------------------------- */

static const struct ss_firm firms[] = {
	{ .firm_id = 9, .key_len = 6, .key = "key--9" },
	{ .firm_id = 7, .key_len = 8, .key = "secret-7" },
};
#define FIRM7 (&firms[1])
#define FIRM9 (&firms[0])

static void params(struct ss_params *p, uint8_t transport)
{
	ss_params_default(p);
	p->max_sessions = 16;
	p->core = 3;
	g_tr = transport;
	p->firms = firms;
	p->n_firms = 2;
	p->throttle_rate = 0;
	p->retrans_depth = 64;
	p->retrans_max = 64;
	p->log_depth = 64;
	/* The session layer's own rules, on bare datagrams; datagram authentication has its
	 * tests in test_session_auth.c. */
	p->udp_auth = SS_AUTH_OFF;
}

static void fx_udp(struct fx *f)
{
	struct ss_params p;

	params(&p, SS_UDP);
	fx_open(f, &p);
}

static void dg_order(struct dg *d, uint64_t cl)
{
	DG_ADD(d, new_order, .cl_ord_id = cl, .price = 12345, .qty = 10, .contract_id = 42,
	       .account = 5, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
}

/* Negotiate + Establish; returns the slot. out is left empty. */
static unsigned open_session(struct fx *f, const struct ss_peer *p, uint64_t sid,
			     uint64_t next_seq, uint32_t ka_ms, uint8_t cod)
{
	struct dg d = { .n = 0 };
	struct tkx_msg m;
	int slot;

	dg_negotiate(&d, sid, 7, f->now, FIRM7);
	m = rx1(f, p, &d);
	assert_int_equal(m.template_id, TKX_NEGOTIATION_RESPONSE);
	d.n = 0;
	/* 1 ns later: an Establish must be newer than the session's Negotiate (4.5). */
	dg_establish(&d, sid, f->now + 1, next_seq, ka_ms, cod, FIRM7);
	m = rx1(f, p, &d);
	assert_int_equal(m.template_id, TKX_ESTABLISHMENT_ACK);
	ss_out_reset(f->out);
	slot = ss_lookup(f->t, sid);
	assert_true(slot >= 0);
	assert_int_equal(info(f, (unsigned)slot).state, SS_ESTABLISHED);
	return (unsigned)slot;
}

static void event_fill(struct dp_event *e, unsigned slot, uint64_t cl, uint32_t qty)
{
	memset(e, 0, sizeof(*e));
	e->template_id = TKX_FILL;
	e->session = (uint16_t)slot;
	e->src = 3;
	e->u.fill = (struct tkx_fill){
		.cl_ord_id = cl, .order_id = 1000 + cl, .trade_id = 77, .price = 12345,
		.transact_time = T0 + 5, .qty = qty, .leaves_qty = 0, .contract_id = 42,
		.side = TKX_SIDE_BUY, .aggressor = 1,
	};
}

/* A request's end marked on an event of its own (template 0, dp_msg.h DP_EV_DONE): no
 * number taken. */
static void req_done(struct fx *f, unsigned slot)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.session = (uint16_t)slot;
	e.src = 3;
	e.pad[1] = DP_EV_DONE;
	assert_int_equal(ss_event(f->t, &e, 1, f->now, f->out), 1);
	assert_int_equal(ss_release(f->t, f->now, f->out), 0);
}

static unsigned drain_log(struct fx *f, struct ss_log *l, unsigned max)
{
	return ss_log_drain(f->t, l, max);
}

/* ---- Negotiate -------------------------------------------------------------------------- */

static void test_negotiate_ok(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct tkx_msg m;
	struct ss_log lg[8];
	char line[256];
	int slot;

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 0xabcdef01, 7, T0 - 1000, FIRM7);
	m = rx1(&f, &p, &d);
	assert_int_equal(m.template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(m.negotiation_response.session_id, 0xabcdef01);
	assert_int_equal(m.negotiation_response.request_timestamp, T0 - 1000);
	assert_int_equal(m.negotiation_response.firm_id, 7);
	assert_int_equal(f.out->n_orders, 0);
	slot = ss_lookup(f.t, 0xabcdef01);
	assert_int_equal(slot, 0);
	assert_int_equal(info(&f, 0).state, SS_NEGOTIATED);
	assert_int_equal(info(&f, 0).firm_id, 7);
	assert_int_equal(stats(&f).neg_ok, 1);
	assert_int_equal(drain_log(&f, lg, 8), 1);
	assert_int_equal(lg[0].code, SS_LOG_NEGOTIATED);
	assert_int_equal(lg[0].session_id, 0xabcdef01);
	assert_int_equal(lg[0].firm_id, 7);
	assert_memory_equal(&lg[0].peer, &p, sizeof(p));
	assert_true(ss_log_format(&lg[0], line, sizeof(line)) > 0);
	assert_non_null(strstr(line, "NEGOTIATED"));

	/* The Negotiate repeated from the same peer (response lost), with a new timestamp
	 * as 4.4 says: answered again. */
	d.n = 0;
	dg_negotiate(&d, 0xabcdef01, 7, T0 - 999, FIRM7);
	m = rx1(&f, &p, &d);
	assert_int_equal(m.template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(m.negotiation_response.request_timestamp, T0 - 999);
	assert_int_equal(stats(&f).neg_ok, 2);
	fx_close(&f);
}

static void expect_neg_reject(struct fx *f, const struct ss_peer *p, const struct dg *d,
			      uint64_t sid, uint64_t ts, uint16_t why)
{
	struct tkx_msg m = rx1(f, p, d);
	struct ss_log lg[8];
	unsigned n, i;

	assert_int_equal(m.template_id, TKX_NEGOTIATION_REJECT);
	assert_int_equal(m.negotiation_reject.session_id, sid);
	assert_int_equal(m.negotiation_reject.request_timestamp, ts);
	assert_int_equal(m.negotiation_reject.reason, why);
	assert_int_equal(f->out->n_orders, 0);
	n = drain_log(f, lg, 8);
	assert_true(n >= 1);
	for (i = 0; i < n && lg[i].code != SS_LOG_NEGOTIATE_REJECT; i++)
		;
	assert_true(i < n);
	assert_int_equal(lg[i].reason, why);
	assert_int_equal(lg[i].session_id, sid);
}

static void test_negotiate_unknown_firm(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct ss_firm stranger = { .firm_id = 8, .key_len = 3, .key = "abc" };

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 55, 8, T0, &stranger);
	expect_neg_reject(&f, &p, &d, 55, T0, TKX_SREJ_UNKNOWN_FIRM);
	assert_int_equal(ss_lookup(f.t, 55), -ENOENT);
	assert_int_equal(stats(&f).neg_unknown_firm, 1);
	fx_close(&f);
}

static void test_negotiate_bad_hmac(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };

	(void)state;
	fx_udp(&f);
	/* One bit of the MAC flipped. */
	dg_negotiate(&d, 55, 7, T0, FIRM7);
	d.b[TKX_HDR_LEN + 24 + 5] ^= 0x10;
	expect_neg_reject(&f, &p, &d, 55, T0, TKX_SREJ_BAD_CREDENTIALS);
	/* One bit of the signed part flipped (the timestamp). */
	d.n = 0;
	dg_negotiate(&d, 55, 7, T0, FIRM7);
	d.b[TKX_HDR_LEN + 8] ^= 0x01;
	expect_neg_reject(&f, &p, &d, 55, T0 ^ 1, TKX_SREJ_BAD_CREDENTIALS);
	/* Signed with another firm's key. */
	d.n = 0;
	dg_negotiate(&d, 55, 7, T0, FIRM9);
	expect_neg_reject(&f, &p, &d, 55, T0, TKX_SREJ_BAD_CREDENTIALS);
	assert_int_equal(stats(&f).neg_bad_credentials, 3);
	assert_int_equal(ss_lookup(f.t, 55), -ENOENT);
	fx_close(&f);
}

static void test_negotiate_stale(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 55, 7, T0 - 30001 * MS, FIRM7);
	expect_neg_reject(&f, &p, &d, 55, T0 - 30001 * MS, TKX_SREJ_STALE_TIMESTAMP);
	d.n = 0;
	dg_negotiate(&d, 55, 7, T0 + 30001 * MS, FIRM7);
	expect_neg_reject(&f, &p, &d, 55, T0 + 30001 * MS, TKX_SREJ_STALE_TIMESTAMP);
	/* At the edge of the tolerance: accepted. */
	d.n = 0;
	dg_negotiate(&d, 55, 7, T0 - 30000 * MS, FIRM7);
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(stats(&f).neg_stale, 2);
	fx_close(&f);
}

static void test_negotiate_in_use(void **state)
{
	struct fx f;
	struct ss_peer p1 = peer_n(1), p2 = peer_n(2);
	struct dg d = { .n = 0 };

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	assert_int_equal(rx1(&f, &p1, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	/* The same session from another peer while NEGOTIATED. */
	expect_neg_reject(&f, &p2, &d, 100, T0, TKX_SREJ_SESSION_IN_USE);
	/* Another session from the peer that holds a live one. */
	d.n = 0;
	dg_negotiate(&d, 101, 7, T0, FIRM7);
	expect_neg_reject(&f, &p1, &d, 101, T0, TKX_SREJ_SESSION_IN_USE);
	/* The session id held by firm 7, asked for by firm 9. */
	d.n = 0;
	dg_negotiate(&d, 100, 9, T0, FIRM9);
	expect_neg_reject(&f, &p2, &d, 100, T0, TKX_SREJ_SESSION_IN_USE);
	/* Once ESTABLISHED, even the same peer cannot negotiate it again. */
	d.n = 0;
	dg_establish(&d, 100, T0 + 1, 1, 1000, 0, FIRM7);
	assert_int_equal(rx1(&f, &p1, &d).template_id, TKX_ESTABLISHMENT_ACK);
	d.n = 0;
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	expect_neg_reject(&f, &p1, &d, 100, T0, TKX_SREJ_SESSION_IN_USE);
	expect_neg_reject(&f, &p2, &d, 100, T0, TKX_SREJ_SESSION_IN_USE);
	assert_int_equal(stats(&f).neg_in_use, 5);
	assert_int_equal(info(&f, 0).state, SS_ESTABLISHED);
	fx_close(&f);
}

/* ---- Establish -------------------------------------------------------------------------- */

static void test_establish_ok(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct tkx_msg m;
	struct ss_info i;
	struct ss_log lg[8];

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	f.now += 5 * MS;
	d.n = 0;
	dg_establish(&d, 100, T0 + 4 * MS, 5, 1500, 1, FIRM7);
	{
		/* A new session's numbering starts at 1: 1-4 are reported skipped. */
		struct omsg o2[MAX_OMSGS];

		ss_out_reset(f.out);
		assert_int_equal(rx(&f, &p, &d), 1);
		assert_int_equal(parse(&f, o2), 2);
		m = o2[0].m;
		assert_int_equal(o2[1].m.template_id, TKX_NOT_APPLIED);
		assert_int_equal(o2[1].m.not_applied.from_seq_no, 1);
		assert_int_equal(o2[1].m.not_applied.count, 4);
	}
	assert_int_equal(m.template_id, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(m.establishment_ack.session_id, 100);
	assert_int_equal(m.establishment_ack.request_timestamp, T0 + 4 * MS);
	assert_int_equal(m.establishment_ack.next_seq_no, 1);
	assert_int_equal(m.establishment_ack.expected_seq_no, 5);
	assert_int_equal(m.establishment_ack.keepalive_ms, 1500);
	i = info(&f, 0);
	assert_int_equal(i.state, SS_ESTABLISHED);
	assert_int_equal(i.cancel_on_disconnect, 1);
	assert_int_equal(i.keepalive_ms, 1500);
	assert_int_equal(i.next_in, 5);
	assert_int_equal(i.next_out, 1);
	assert_int_equal(stats(&f).est_ok, 1);
	assert_int_equal(drain_log(&f, lg, 8), 2);
	assert_int_equal(lg[1].code, SS_LOG_ESTABLISHED);
	/* Negotiate and Establish in one datagram work too. */
	d.n = 0;
	dg_negotiate(&d, 200, 9, T0, FIRM9);
	dg_establish(&d, 200, T0 + 1, 1, 1000, 0, FIRM9);
	ss_out_reset(f.out);
	{
		struct ss_peer p2 = peer_n(2);
		struct omsg o[MAX_OMSGS];

		assert_int_equal(rx(&f, &p2, &d), 2);
		assert_int_equal(parse(&f, o), 2);
		assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_RESPONSE);
		assert_int_equal(o[1].m.template_id, TKX_ESTABLISHMENT_ACK);
		assert_int_equal(f.out->n_bufs, 1); /* coalesced */
	}
	fx_close(&f);
}

static void expect_est_reject(struct fx *f, const struct ss_peer *p, const struct dg *d,
			      uint64_t sid, uint16_t why)
{
	struct tkx_msg m = rx1(f, p, d);

	assert_int_equal(m.template_id, TKX_ESTABLISHMENT_REJECT);
	assert_int_equal(m.establishment_reject.session_id, sid);
	assert_int_equal(m.establishment_reject.request_timestamp, f->now);
	assert_int_equal(m.establishment_reject.reason, why);
}

static void test_establish_before_negotiate(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };

	(void)state;
	fx_udp(&f);
	dg_establish(&d, 100, T0, 1, 1000, 0, FIRM7);
	expect_est_reject(&f, &p, &d, 100, TKX_SREJ_NOT_NEGOTIATED);
	/* Negotiated session 100, Establish names 101. */
	d.n = 0;
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	d.n = 0;
	dg_establish(&d, 101, T0, 1, 1000, 0, FIRM7);
	expect_est_reject(&f, &p, &d, 101, TKX_SREJ_NOT_NEGOTIATED);
	/* Right session, wrong peer. */
	{
		struct ss_peer p2 = peer_n(2);

		d.n = 0;
		dg_establish(&d, 100, T0, 1, 1000, 0, FIRM7);
		expect_est_reject(&f, &p2, &d, 100, TKX_SREJ_NOT_NEGOTIATED);
	}
	assert_int_equal(stats(&f).est_not_negotiated, 3);
	assert_int_equal(info(&f, 0).state, SS_NEGOTIATED);
	fx_close(&f);
}

static void test_establish_bad_keepalive(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 100, 7, T0 - 1, FIRM7); /* older than every Establish below */
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	d.n = 0;
	dg_establish(&d, 100, T0, 1, 99, 0, FIRM7); /* min 100 */
	expect_est_reject(&f, &p, &d, 100, TKX_SREJ_BAD_KEEPALIVE);
	d.n = 0;
	dg_establish(&d, 100, T0, 1, 30001, 0, FIRM7); /* max 30000 */
	expect_est_reject(&f, &p, &d, 100, TKX_SREJ_BAD_KEEPALIVE);
	/* Bad MAC and stale timestamp on Establish. */
	d.n = 0;
	dg_establish(&d, 100, T0, 1, 1000, 0, FIRM7);
	d.b[TKX_HDR_LEN + 40] ^= 0x80;
	expect_est_reject(&f, &p, &d, 100, TKX_SREJ_BAD_CREDENTIALS);
	d.n = 0;
	f.now += 31000 * MS;
	dg_establish(&d, 100, T0, 1, 1000, 0, FIRM7);
	{
		struct tkx_msg m = rx1(&f, &p, &d);

		assert_int_equal(m.template_id, TKX_ESTABLISHMENT_REJECT);
		assert_int_equal(m.establishment_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	}
	assert_int_equal(stats(&f).est_bad_keepalive, 2);
	assert_int_equal(stats(&f).est_bad_credentials, 1);
	assert_int_equal(stats(&f).est_stale, 1);
	assert_int_equal(info(&f, 0).state, SS_NEGOTIATED);
	fx_close(&f);
}

/* ---- Application messages --------------------------------------------------------------- */

static void test_app_before_establish(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1), q = peer_n(2);
	struct dg d = { .n = 0 };
	struct tkx_msg m;

	(void)state;
	fx_udp(&f);
	/* No session at all. */
	dg_seq(&d, 1);
	dg_order(&d, 10);
	ss_out_reset(f.out);
	assert_int_equal(rx(&f, &q, &d), 2);
	{
		struct omsg o[MAX_OMSGS];

		assert_int_equal(parse(&f, o), 1);
		assert_int_equal(o[0].m.template_id, TKX_BUSINESS_REJECT);
		assert_int_equal(o[0].seq, 0); /* unnumbered */
		assert_int_equal(o[0].m.business_reject.reason, TKX_BREJ_NOT_ESTABLISHED);
		assert_int_equal(o[0].m.business_reject.ref_template_id, TKX_NEW_ORDER);
		assert_int_equal(o[0].m.business_reject.ref_seq_no, 0);
		assert_int_equal(o[0].m.business_reject.transact_time, T0);
	}
	assert_int_equal(f.out->n_orders, 0);
	/* Negotiated, not established. */
	d.n = 0;
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	d.n = 0;
	dg_order(&d, 10);
	m = rx1(&f, &p, &d);
	assert_int_equal(m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(m.business_reject.reason, TKX_BREJ_NOT_ESTABLISHED);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, 0).next_out, 1); /* nothing numbered */
	assert_int_equal(info(&f, 0).last_cl_ord_id, 0);
	assert_int_equal(stats(&f).not_established, 2);
	fx_close(&f);
}

static void test_new_order_dp_order(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	unsigned slot;
	const struct dp_order *o;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	f.now += 7;
	dg_seq(&d, 1);
	dg_order(&d, 10);
	DG_ADD(&d, cancel_order, .cl_ord_id = 11, .order_id = 555, .contract_id = 42);
	DG_ADD(&d, modify_order, .cl_ord_id = 12, .order_id = 555, .price = 12300, .qty = 4,
	       .contract_id = 42);
	DG_ADD(&d, mass_cancel, .cl_ord_id = 13, .contract_id = 0, .account = 5,
	       .scope = TKX_SCOPE_ACCOUNT, .side = TKX_SIDE_SELL);
	assert_int_equal(rx(&f, &p, &d), 5);
	assert_int_equal(f.out->n_bufs, 0); /* accepted requests get no reply here */
	assert_int_equal(f.out->n_orders, 4);

	o = &f.out->orders[0];
	assert_int_equal(o->type, DP_ORD_NEW);
	assert_int_equal(o->side, TKX_SIDE_BUY);
	assert_int_equal(o->tif, TKX_TIF_GTC);
	assert_int_equal(o->scope, 0);
	assert_int_equal(o->src, 3);
	assert_int_equal(o->session, slot);
	assert_int_equal(o->contract_id, 42);
	assert_int_equal(o->firm_id, 7);
	assert_int_equal(o->account, 5);
	assert_int_equal(o->qty, 10);
	assert_int_equal(o->cl_ord_id, 10);
	assert_int_equal(o->order_id, 0);
	assert_int_equal(o->price, 12345);
	assert_int_equal(o->rx_time, T0 + 7);
	assert_int_equal(o->in_seq, 1);

	o = &f.out->orders[1];
	assert_int_equal(o->type, DP_ORD_CANCEL);
	assert_int_equal(o->cl_ord_id, 11);
	assert_int_equal(o->order_id, 555);
	assert_int_equal(o->contract_id, 42);
	assert_int_equal(o->in_seq, 2);

	o = &f.out->orders[2];
	assert_int_equal(o->type, DP_ORD_MODIFY);
	assert_int_equal(o->cl_ord_id, 12);
	assert_int_equal(o->order_id, 555);
	assert_int_equal(o->price, 12300);
	assert_int_equal(o->qty, 4);
	assert_int_equal(o->in_seq, 3);

	o = &f.out->orders[3];
	assert_int_equal(o->type, DP_ORD_MASS_CANCEL);
	assert_int_equal(o->cl_ord_id, 13);
	assert_int_equal(o->contract_id, 0);
	assert_int_equal(o->account, 5);
	assert_int_equal(o->scope, TKX_SCOPE_ACCOUNT);
	assert_int_equal(o->side, TKX_SIDE_SELL);
	assert_int_equal(o->in_seq, 4);
	assert_int_equal(o->session, slot);

	assert_int_equal(info(&f, slot).next_in, 5);
	assert_int_equal(info(&f, slot).last_cl_ord_id, 13);
	assert_int_equal(stats(&f).app_forwarded, 4);
	fx_close(&f);
}

/* The order types reach the matching core in the NEW's scope/order_id (dp_msg.h DP_NEW_*);
 * an iceberg or a stop the protocol refuses is answered here, never forwarded. */
static void test_order_types_dp_order(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	const struct dp_order *n;

	(void)state;
	fx_udp(&f);
	open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	DG_ADD(&d, new_order, .cl_ord_id = 10, .price = 12345, .qty = 100, .contract_id = 42,
	       .side = TKX_SIDE_SELL, .tif = TKX_TIF_DAY, .show_qty = 10);
	DG_ADD(&d, new_order, .cl_ord_id = 11, .price = 12400, .qty = 3, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_IOC, .stop_price = 12350);
	DG_ADD(&d, new_order, .cl_ord_id = 12, .price = 12400, .qty = 3, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_DAY);
	DG_ADD(&d, new_order, .cl_ord_id = 13, .price = 12400, .qty = 3, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_IOC, .show_qty = 1);
	DG_ADD(&d, new_order, .cl_ord_id = 13, .price = 12400, .qty = 3, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_POST, .stop_price = 12350);
	assert_int_equal(rx(&f, &p, &d), 6);
	assert_int_equal(f.out->n_orders, 3);
	n = &f.out->orders[0];
	assert_int_equal(n->tif, TKX_TIF_DAY);
	assert_int_equal(n->scope, DP_NEW_ICE);
	assert_int_equal(n->order_id, 10);
	assert_int_equal(dp_order_show(n), 10);
	assert_int_equal(dp_order_stop(n), 0);
	n = &f.out->orders[1];
	assert_int_equal(n->scope, DP_NEW_STOP);
	assert_int_equal(dp_order_stop(n), 12350);
	assert_int_equal(dp_order_show(n), 0);
	assert_int_equal(n->price, 12400);
	n = &f.out->orders[2]; /* a plain DAY order: as every NEW before the order types */
	assert_int_equal(n->tif, TKX_TIF_DAY);
	assert_int_equal(n->scope, 0);
	assert_int_equal(n->order_id, 0);
	/* The rejects wait behind the requests before them (invariant 15): answer those. */
	struct dp_order fwd[3];
	memcpy(fwd, f.out->orders, sizeof(fwd));
	ss_out_reset(f.out);
	for (int i = 0; i < 3; i++)
		ack_done(&f, &fwd[i], 900 + (uint64_t)i);
	int k = parse(&f, o), rej = 0;
	for (int i = 0; i < k; i++) {
		if (o[i].m.template_id != TKX_EXEC_REJECT)
			continue;
		assert_int_equal(o[i].m.exec_reject.cl_ord_id, 13);
		assert_int_equal(o[i].m.exec_reject.reason,
				 rej++ == 0 ? TKX_REJ_INVALID_SHOW : TKX_REJ_INVALID_STOP);
	}
	assert_int_equal(rej, 2);
	assert_int_equal(stats(&f).app_forwarded, 3);
	fx_close(&f);
}

static void test_clordid_reused(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_udp(&f);
	open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	dg_order(&d, 10);
	dg_order(&d, 10); /* same */
	DG_ADD(&d, cancel_order, .cl_ord_id = 9, .order_id = 555, .contract_id = 42); /* lower */
	assert_int_equal(rx(&f, &p, &d), 4);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].cl_ord_id, 10);
	/* The rejects wait for the replies to the order taken before them (invariant 15). */
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, 0).held, 2);
	ack_done(&f, &f.out->orders[0], 777);
	assert_int_equal(parse(&f, o), 4);
	assert_int_equal(f.out->n_bufs, 1);
	assert_int_equal(o[0].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[0].m.sequence.next_seq_no, 1);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_ACK);
	o[1] = o[2];
	o[2] = o[3];
	assert_int_equal(o[1].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[1].seq, 2);
	assert_int_equal(o[1].m.exec_reject.cl_ord_id, 10);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[1].m.exec_reject.ref_template_id, TKX_NEW_ORDER);
	assert_int_equal(o[1].m.exec_reject.contract_id, 42);
	assert_int_equal(o[1].m.exec_reject.order_id, 0);
	assert_int_equal(o[1].m.exec_reject.transact_time, T0);
	assert_int_equal(o[2].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[2].seq, 3);
	assert_int_equal(o[2].m.exec_reject.cl_ord_id, 9);
	assert_int_equal(o[2].m.exec_reject.order_id, 555);
	assert_int_equal(o[2].m.exec_reject.ref_template_id, TKX_CANCEL_ORDER);
	assert_int_equal(o[2].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(stats(&f).clordid_reused, 2);
	assert_int_equal(info(&f, 0).next_in, 4);
	fx_close(&f);
}

static void test_invalid_fields(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_udp(&f);
	open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	DG_ADD(&d, new_order, .cl_ord_id = 10, .price = 0, .qty = 1, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
	DG_ADD(&d, new_order, .cl_ord_id = 10, .price = 5, .qty = 1, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC, .reserved = 1);
	DG_ADD(&d, exec_ack, .cl_ord_id = 1, .price = 5, .side = 1, .tif = 1); /* wrong way */
	dg_order(&d, 10); /* cl_ord_id 10 was not used up by the rejects */
	assert_int_equal(rx(&f, &p, &d), 5);
	assert_int_equal(parse(&f, o), 4);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_INVALID_PRICE);
	assert_int_equal(o[1].seq, 1);
	assert_int_equal(o[2].m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(o[2].m.business_reject.reason, TKX_BREJ_INVALID_FIELD);
	assert_int_equal(o[2].m.business_reject.ref_seq_no, 2);
	assert_int_equal(o[2].m.business_reject.ref_template_id, TKX_NEW_ORDER);
	assert_int_equal(o[2].seq, 2);
	assert_int_equal(o[3].m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(o[3].m.business_reject.reason, TKX_BREJ_WRONG_DIRECTION);
	assert_int_equal(o[3].m.business_reject.ref_seq_no, 0); /* 200-206 take no number */
	assert_int_equal(o[3].m.business_reject.ref_template_id, TKX_EXEC_ACK);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].cl_ord_id, 10);
	assert_int_equal(f.out->orders[0].in_seq, 3);
	ack_done(&f, &f.out->orders[0], 777); /* #4 */
	/* A session message with a bad field, and a market-data template from a stranger. */
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 1,
	       .reserved = 3);
	ss_out_reset(f.out);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(parse(&f, o), 2); /* numbered: the session is established */
	assert_int_equal(o[1].m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(o[1].seq, 5);
	assert_int_equal(o[1].m.business_reject.reason, TKX_BREJ_INVALID_FIELD);
	assert_int_equal(o[1].m.business_reject.ref_template_id, TKX_RETRANSMIT_REQUEST);
	assert_int_equal(o[1].m.business_reject.ref_seq_no, 0);
	d.n = 0;
	DG_ADD(&d, md_gap_reject, .first_available_seq = 1, .requested_seq = 0);
	{
		struct ss_peer q = peer_n(9);
		struct tkx_msg m = rx1(&f, &q, &d);

		assert_int_equal(m.template_id, TKX_BUSINESS_REJECT);
		assert_int_equal(m.business_reject.reason, TKX_BREJ_WRONG_DIRECTION);
		assert_int_equal(m.business_reject.ref_template_id, TKX_MD_GAP_REJECT);
	}
	assert_int_equal(stats(&f).app_invalid, 1);
	assert_int_equal(stats(&f).invalid_field, 2);
	assert_int_equal(stats(&f).wrong_direction, 2);
	fx_close(&f);
}

/* ---- Inbound sequencing ------------------------------------------------------------------ */

static void test_inbound_gap(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_udp(&f);
	open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 5);
	dg_order(&d, 10);
	assert_int_equal(rx(&f, &p, &d), 2);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_NOT_APPLIED);
	assert_int_equal(o[0].m.not_applied.from_seq_no, 1);
	assert_int_equal(o[0].m.not_applied.count, 4);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].in_seq, 5);
	assert_int_equal(info(&f, 0).next_in, 6);
	/* A heartbeat that reveals a gap is answered too. */
	d.n = 0;
	dg_seq(&d, 9);
	{
		struct tkx_msg m = rx1(&f, &p, &d);

		assert_int_equal(m.template_id, TKX_NOT_APPLIED);
		assert_int_equal(m.not_applied.from_seq_no, 6);
		assert_int_equal(m.not_applied.count, 3);
	}
	assert_int_equal(info(&f, 0).next_in, 9);
	assert_int_equal(stats(&f).gaps, 2);
	assert_int_equal(stats(&f).gap_msgs, 7);
	/* The late datagram numbered 6 (reported NotApplied) arrives: never applied, and
	 * its cl_ord_id (new to the session) is not answered as a reuse either. */
	ss_out_reset(f.out);
	d.n = 0;
	dg_seq(&d, 6);
	dg_order(&d, 50);
	assert_int_equal(rx(&f, &p, &d), 2);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(stats(&f).rx_late, 1);
	assert_int_equal(info(&f, 0).next_in, 9);
	/* ... and cl_ord_id 50 is still free for the client's real resend. */
	d.n = 0;
	dg_seq(&d, 9);
	dg_order(&d, 50);
	assert_int_equal(rx(&f, &p, &d), 2);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].in_seq, 9);
	fx_close(&f);
}

static void test_tcp_sequence_rules(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };

	(void)state;
	params(&pr, SS_TCP);
	fx_open(&f, &pr);
	unsigned slot = open_session(&f, &p, 100, 1, 1000, 1);
	/* A Sequence above the expected number: the skipped numbers are NotApplied. */
	dg_seq(&d, 5);
	{
		struct tkx_msg m = rx1(&f, &p, &d);

		assert_int_equal(m.template_id, TKX_NOT_APPLIED);
		assert_int_equal(m.not_applied.from_seq_no, 1);
		assert_int_equal(m.not_applied.count, 4);
	}
	assert_int_equal(info(&f, slot).next_in, 5);
	/* Below it: TCP cannot lose or reorder, so the session is terminated. */
	ss_out_reset(f.out);
	d.n = 0;
	dg_seq(&d, 3);
	{
		struct tkx_msg m = rx1(&f, &p, &d);

		assert_int_equal(m.template_id, TKX_TERMINATE);
		assert_int_equal(m.terminate.reason, TKX_TERM_SEQ_BELOW_EXPECTED);
	}
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	/* cancel-on-disconnect was asked: the orders go */
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	fx_close(&f);
}

static void test_mass_cancel_ack_merge(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct omsg o[MAX_OMSGS];
	struct dp_event ev[3];

	(void)state;
	fx_udp(&f);
	unsigned slot = open_session(&f, &p, 100, 1, 1000, 0);
	ss_out_reset(f.out);
	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 3; i++) {
		ev[i].template_id = TKX_MASS_CANCEL_ACK;
		ev[i].session = (uint16_t)slot;
		ev[i].src = 3;
		ev[i].parts = 3;
		ev[i].u.mass_ack.cl_ord_id = 77;
		ev[i].u.mass_ack.count = (uint32_t)(i + 1);
		ev[i].u.mass_ack.scope = TKX_SCOPE_SESSION;
	}
	/* Two parts: nothing yet. */
	assert_int_equal(ss_event(f.t, ev, 2, f.now, f.out), 2);
	assert_int_equal(f.out->n_bufs, 0);
	/* The third: one MassCancelAck with 1 + 2 + 3. */
	assert_int_equal(ss_event(f.t, &ev[2], 1, f.now, f.out), 1);
	int n = parse(&f, o);
	assert_int_equal(n, 2); /* Sequence + the ack */
	assert_int_equal(o[1].m.template_id, TKX_MASS_CANCEL_ACK);
	assert_int_equal(o[1].m.mass_cancel_ack.cl_ord_id, 77);
	assert_int_equal(o[1].m.mass_cancel_ack.count, 6);
	assert_int_equal(info(&f, slot).next_out, 2);
	fx_close(&f);
}

static void test_resend_lower_seq(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_udp(&f);
	open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	dg_order(&d, 1);
	dg_order(&d, 2);
	assert_int_equal(rx(&f, &p, &d), 3);
	assert_int_equal(f.out->n_orders, 2);
	ack_done(&f, &f.out->orders[0], 701);
	ack_done(&f, &f.out->orders[1], 702);
	ss_out_reset(f.out);
	/* The client did not see an answer and resends from 1, with one more. */
	d.n = 0;
	dg_seq(&d, 1);
	dg_order(&d, 1);
	dg_order(&d, 2);
	dg_order(&d, 3);
	assert_int_equal(rx(&f, &p, &d), 4);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].cl_ord_id, 3);
	assert_int_equal(f.out->orders[0].in_seq, 3);
	assert_int_equal(parse(&f, o), 3); /* Sequence + 2 rejects; no NotApplied */
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[1].m.exec_reject.cl_ord_id, 1);
	assert_int_equal(o[2].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[2].m.exec_reject.cl_ord_id, 2);
	assert_int_equal(info(&f, 0).next_in, 4);
	assert_int_equal(stats(&f).gaps, 0);
	/* A resend entirely below expected does not move it back. */
	ss_out_reset(f.out);
	d.n = 0;
	dg_seq(&d, 2);
	dg_order(&d, 2);
	assert_int_equal(rx(&f, &p, &d), 2);
	assert_int_equal(info(&f, 0).next_in, 4);
	assert_int_equal(f.out->n_orders, 0);
	fx_close(&f);
}

/* ---- Outbound ------------------------------------------------------------------------------ */

static void test_event_sequencing(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1), q = peer_n(2);
	struct dp_event ev[4];
	struct omsg o[MAX_OMSGS];
	unsigned a, b;

	(void)state;
	fx_udp(&f);
	a = open_session(&f, &p, 100, 1, 1000, 0);
	b = open_session(&f, &q, 200, 1, 1000, 0);
	memset(ev, 0, sizeof(ev));
	ev[0].template_id = TKX_EXEC_ACK;
	ev[0].session = (uint16_t)a;
	ev[0].src = 3;
	ev[0].u.ack = (struct tkx_exec_ack){ .cl_ord_id = 10, .order_id = 1010, .price = 12345,
					     .transact_time = T0 + 1, .qty = 10,
					     .contract_id = 42, .side = 1, .tif = 1 };
	event_fill(&ev[1], b, 20, 3);
	event_fill(&ev[2], a, 10, 4);
	ev[3].template_id = TKX_CANCELLED;
	ev[3].session = (uint16_t)a;
	ev[3].src = 3;
	ev[3].u.cancelled = (struct tkx_cancelled){ .cl_ord_id = 10, .order_id = 1010,
						    .transact_time = T0 + 2, .orig_cl_ord_id = 10,
						    .qty = 6, .contract_id = 42,
						    .reason = TKX_CXL_CLIENT, .side = 1 };
	assert_int_equal(ss_event(f.t, ev, 4, f.now, f.out), 4);
	/* One datagram per session, each led by a Sequence. */
	assert_int_equal(f.out->n_bufs, 2);
	assert_int_equal(parse(&f, o), 6);
	assert_int_equal(o[0].buf, 0);
	assert_memory_equal(&o[0].peer, &p, sizeof(p));
	assert_int_equal(o[0].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[0].m.sequence.next_seq_no, 1);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[1].seq, 1);
	assert_memory_equal(&o[1].m.exec_ack, &ev[0].u.ack, sizeof(ev[0].u.ack));
	assert_int_equal(o[2].m.template_id, TKX_FILL);
	assert_int_equal(o[2].seq, 2);
	assert_memory_equal(&o[2].m.fill, &ev[2].u.fill, sizeof(ev[2].u.fill));
	assert_int_equal(o[3].m.template_id, TKX_CANCELLED);
	assert_int_equal(o[3].seq, 3);
	assert_memory_equal(&o[3].m.cancelled, &ev[3].u.cancelled, sizeof(ev[3].u.cancelled));
	assert_memory_equal(&o[4].peer, &q, sizeof(q));
	assert_int_equal(o[4].m.sequence.next_seq_no, 1);
	assert_int_equal(o[5].m.template_id, TKX_FILL);
	assert_int_equal(o[5].seq, 1);
	/* Next burst: numbering goes on. */
	ss_out_reset(f.out);
	assert_int_equal(ss_event(f.t, &ev[2], 1, f.now, f.out), 1);
	assert_int_equal(parse(&f, o), 2);
	assert_int_equal(o[0].m.sequence.next_seq_no, 4);
	assert_int_equal(o[1].seq, 4);
	assert_int_equal(info(&f, a).next_out, 5);
	/* Dropped: another core's, a FREE slot, a non-reply template. */
	ss_out_reset(f.out);
	ev[0].src = 4;
	ev[1].session = 15;
	ev[2].template_id = TKX_MD_TRADE;
	assert_int_equal(ss_event(f.t, ev, 3, f.now, f.out), 3);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(stats(&f).ev_dropped, 3);
	fx_close(&f);
}

static void test_coalesce_full_datagram(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dp_event ev[40];
	struct omsg o[MAX_OMSGS];
	unsigned slot, i;
	int n;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	for (i = 0; i < 40; i++)
		event_fill(&ev[i], slot, i + 1, 1);
	assert_int_equal(ss_event(f.t, ev, 40, f.now, f.out), 40);
	/* (1472 - 16) / 64 = 22 Fills in the first datagram, 18 in the second. */
	assert_int_equal(f.out->n_bufs, 2);
	assert_true(f.out->bufs[0].len <= TKX_MAX_DGRAM);
	n = parse(&f, o);
	assert_int_equal(n, 42);
	assert_int_equal(o[0].m.sequence.next_seq_no, 1);
	assert_int_equal(o[23].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[23].m.sequence.next_seq_no, 23);
	for (i = 0; i < 42; i++)
		if (o[i].m.template_id == TKX_FILL)
			assert_int_equal(o[i].seq, o[i].m.fill.cl_ord_id);
	fx_close(&f);
}

/* Sends n Fills and keeps a copy of each as sent, by sequence number. */
static void send_fills(struct fx *f, unsigned slot, unsigned n, uint8_t copies[][SS_MSG_MAX],
		       uint16_t *lens)
{
	struct omsg o[MAX_OMSGS];
	struct dp_event ev;
	unsigned i;
	int k, m;

	ss_out_reset(f->out);
	for (i = 0; i < n; i++) {
		event_fill(&ev, slot, 1000 + i, i + 1);
		assert_int_equal(ss_event(f->t, &ev, 1, f->now, f->out), 1);
	}
	m = parse(f, o);
	for (k = 0; k < m; k++) {
		if (o[k].m.template_id != TKX_FILL)
			continue;
		if (o[k].peer.conn != 0) /* TCP: implicit numbering; nothing sent before */
			o[k].seq = o[k].m.fill.qty;
		assert_true(o[k].seq >= 1 && o[k].seq <= n);
		memcpy(copies[o[k].seq], o[k].raw, o[k].len);
		lens[o[k].seq] = o[k].len;
	}
	ss_out_reset(f->out);
}

static void test_retransmit_in_range(void **state)
{
	static uint8_t copies[64][SS_MSG_MAX];
	static uint16_t lens[64];
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;
	int n, i;
	uint64_t expect;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	send_fills(&f, slot, 60, copies, lens);
	f.now += MS;
	DG_ADD(&d, retransmit_request, .session_id = 100, .timestamp = T0 + 999, .from_seq_no = 2,
	       .count = 3);
	assert_int_equal(rx(&f, &p, &d), 1);
	n = parse(&f, o);
	assert_int_equal(n, 4);
	assert_int_equal(f.out->n_bufs, 1);
	assert_int_equal(o[0].m.template_id, TKX_RETRANSMISSION);
	assert_int_equal(o[0].m.retransmission.session_id, 100);
	assert_int_equal(o[0].m.retransmission.request_timestamp, T0 + 999);
	assert_int_equal(o[0].m.retransmission.next_seq_no, 2);
	assert_int_equal(o[0].m.retransmission.count, 3);
	for (i = 1; i < 4; i++) {
		assert_int_equal(o[i].seq, (uint64_t)i + 1);
		assert_int_equal(o[i].len, lens[i + 1]);
		assert_memory_equal(o[i].raw, copies[i + 1], lens[i + 1]);
	}
	/* 58 messages: split over three datagrams, continuations led by a Sequence. */
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .timestamp = T0, .from_seq_no = 3,
	       .count = 58);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_bufs, 3);
	n = parse(&f, o);
	assert_int_equal(n, 58 + 3);
	expect = 3;
	for (i = 0; i < n; i++) {
		if (o[i].m.template_id == TKX_RETRANSMISSION || o[i].m.template_id == TKX_SEQUENCE)
			continue;
		assert_int_equal(o[i].seq, expect);
		assert_memory_equal(o[i].raw, copies[expect], lens[expect]);
		expect++;
	}
	assert_int_equal(expect, 61);
	assert_int_equal(o[23].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[23].m.sequence.next_seq_no, 3 + 22);
	assert_int_equal(stats(&f).retrans_ok, 2);
	assert_int_equal(stats(&f).retrans_msgs, 61);
	/* A second request in the same datagram is refused. */
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .timestamp = T0, .from_seq_no = 1,
	       .count = 1);
	DG_ADD(&d, retransmit_request, .session_id = 100, .timestamp = T0, .from_seq_no = 2,
	       .count = 1);
	assert_int_equal(rx(&f, &p, &d), 2);
	n = parse(&f, o);
	assert_int_equal(n, 3);
	assert_int_equal(o[2].m.template_id, TKX_RETRANSMIT_REJECT);
	assert_int_equal(o[2].m.retransmit_reject.reason, TKX_SREJ_UNSPECIFIED);
	fx_close(&f);
}

static void expect_rtx_reject(struct fx *f, const struct ss_peer *p, uint64_t sid,
			      uint64_t from, uint32_t count, uint16_t why)
{
	struct dg d = { .n = 0 };
	struct tkx_msg m;

	DG_ADD(&d, retransmit_request, .session_id = sid, .timestamp = T0 + 77,
	       .from_seq_no = from, .count = count);
	m = rx1(f, p, &d);
	assert_int_equal(m.template_id, TKX_RETRANSMIT_REJECT);
	assert_int_equal(m.retransmit_reject.session_id, sid);
	assert_int_equal(m.retransmit_reject.request_timestamp, T0 + 77);
	assert_int_equal(m.retransmit_reject.reason, why);
}

static void test_retransmit_reject(void **state)
{
	static uint8_t copies[64][SS_MSG_MAX];
	static uint16_t lens[64];
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = peer_n(1), q = peer_n(2);
	unsigned slot;

	(void)state;
	params(&pr, SS_UDP);
	pr.retrans_depth = 16;
	pr.retrans_max = 8;
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	send_fills(&f, slot, 40, copies, lens); /* 1..40 numbered, 25..40 retained */
	expect_rtx_reject(&f, &p, 100, 41, 1, TKX_SREJ_OUT_OF_RANGE);  /* not sent yet */
	expect_rtx_reject(&f, &p, 100, 38, 4, TKX_SREJ_OUT_OF_RANGE);  /* runs past 40 */
	expect_rtx_reject(&f, &p, 100, 24, 2, TKX_SREJ_OUT_OF_RANGE);  /* overwritten */
	expect_rtx_reject(&f, &p, 100, 0, 1, TKX_SREJ_OUT_OF_RANGE);
	expect_rtx_reject(&f, &p, 100, 30, 0, TKX_SREJ_OUT_OF_RANGE);
	expect_rtx_reject(&f, &p, 100, 25, 9, TKX_SREJ_TOO_MANY);
	expect_rtx_reject(&f, &p, 101, 25, 1, TKX_SREJ_NOT_ESTABLISHED); /* not its session */
	expect_rtx_reject(&f, &q, 100, 25, 1, TKX_SREJ_NOT_ESTABLISHED); /* another peer */
	/* The edges of the window are served. */
	{
		struct dg d = { .n = 0 };
		struct omsg o[MAX_OMSGS];

		DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 33, .count = 8);
		ss_out_reset(f.out);
		assert_int_equal(rx(&f, &p, &d), 1);
		assert_int_equal(parse(&f, o), 9);
		assert_memory_equal(o[8].raw, copies[40], lens[40]);
		d.n = 0;
		DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 25, .count = 1);
		ss_out_reset(f.out);
		assert_int_equal(rx(&f, &p, &d), 1);
		assert_int_equal(parse(&f, o), 2);
		assert_memory_equal(o[1].raw, copies[25], lens[25]);
	}
	assert_int_equal(stats(&f).retrans_out_of_range, 5);
	assert_int_equal(stats(&f).retrans_too_many, 1);
	assert_int_equal(stats(&f).retrans_not_established, 2);
	fx_close(&f);
}

/* ---- Timers ---------------------------------------------------------------------------------- */

static void test_heartbeat_after_idle(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_event ev;
	unsigned slot;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	assert_int_equal(ss_tick(f.t, T0 + 999 * MS, f.out), 0);
	assert_int_equal(f.out->n_bufs, 0);
	/* The client's heartbeat keeps the inbound timer, not the outbound one. */
	f.now = T0 + 500 * MS;
	dg_seq(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(ss_tick(f.t, T0 + 1000 * MS, f.out), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[0].m.sequence.next_seq_no, 1);
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, T0 + 1500 * MS, f.out), 0);
	/* Outbound traffic postpones the heartbeat. */
	event_fill(&ev, slot, 1, 1);
	assert_int_equal(ss_event(f.t, &ev, 1, T0 + 1900 * MS, f.out), 1);
	ss_out_reset(f.out);
	f.now = T0 + 2000 * MS;
	d.n = 0;
	dg_seq(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(ss_tick(f.t, T0 + 2000 * MS, f.out), 0);
	assert_int_equal(ss_tick(f.t, T0 + 2900 * MS, f.out), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.sequence.next_seq_no, 2);
	assert_int_equal(stats(&f).tx_heartbeats, 2);
	fx_close(&f);
}

static void timeout_case(uint8_t cod)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct omsg o[MAX_OMSGS];
	struct ss_log lg[8];
	unsigned slot, n, i;

	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, cod);
	drain_log(&f, lg, 8);
	assert_int_equal(ss_tick(f.t, T0 + 3000 * MS, f.out), 1); /* a heartbeat, not yet dead */
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, T0 + 3000 * MS + 1, f.out), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_TERMINATE);
	assert_int_equal(o[0].m.terminate.session_id, 100);
	assert_int_equal(o[0].m.terminate.reason, TKX_TERM_KEEPALIVE_TIMEOUT);
	assert_memory_equal(&o[0].peer, &p, sizeof(p));
	if (cod) {
		const struct dp_order *g = &f.out->orders[0];

		assert_int_equal(f.out->n_orders, 1);
		assert_int_equal(g->type, DP_ORD_SESSION_GONE);
		assert_int_equal(g->contract_id, 0);
		assert_int_equal(g->src, 3);
		assert_int_equal(g->session, slot);
		assert_int_equal(g->firm_id, 7);
		assert_int_equal(g->rx_time, T0 + 3000 * MS + 1);
	} else {
		assert_int_equal(f.out->n_orders, 0);
	}
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(stats(&f).term_keepalive, 1);
	assert_int_equal(stats(&f).session_gone, cod);
	n = drain_log(&f, lg, 8);
	for (i = 0; i < n && lg[i].code != SS_LOG_TERMINATED; i++)
		;
	assert_true(i < n);
	assert_int_equal(lg[i].reason, TKX_TERM_KEEPALIVE_TIMEOUT);
	/* Nothing more to do. */
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, T0 + 10000 * MS, f.out), 0);
	/* Messages from the old peer now find no session. */
	{
		struct dg d = { .n = 0 };

		dg_seq(&d, 1);
		assert_int_equal(rx(&f, &p, &d), 1);
		assert_int_equal(stats(&f).rx_no_session, 1);
	}
	fx_close(&f);
}

static void test_timeout_cod(void **state)
{
	(void)state;
	timeout_case(1);
}

static void test_timeout_no_cod(void **state)
{
	(void)state;
	timeout_case(0);
}

static void test_negotiated_expiry(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_udp(&f);
	dg_negotiate(&d, 100, 7, T0, FIRM7);
	assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, T0 + 90000 * MS, f.out), 0); /* 3 x keepalive_max */
	assert_int_equal(ss_tick(f.t, T0 + 90000 * MS + 1, f.out), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.terminate.reason, TKX_TERM_KEEPALIVE_TIMEOUT);
	/* Kept TERMINATED (not FREE): its newest logon timestamp still refuses a replay. */
	assert_int_equal(info(&f, 0).state, SS_TERMINATED);
	assert_int_equal(ss_lookup(f.t, 100), 0);
	assert_int_equal(stats(&f).neg_expired, 1);
	fx_close(&f);
}

/* ---- Throttle, terminate, re-establish --------------------------------------------------- */

static void test_throttle(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order fwd[4];
	unsigned slot, i;
	int n;

	(void)state;
	params(&pr, SS_UDP);
	pr.throttle_rate = 10;  /* one per 100 ms */
	pr.throttle_burst = 3;
	pr.throttle_grace = 2;
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1, 1000, 1);

	/* Bucket of 3: the 4th is throttled, answered after the replies to the three before
	 * it (invariant 15); 100 ms later one more fits, and the throttled cl_ord_id was not
	 * used up. */
	dg_seq(&d, 1);
	for (i = 1; i <= 4; i++)
		dg_order(&d, i);
	assert_int_equal(rx(&f, &p, &d), 5);
	assert_int_equal(f.out->n_orders, 3);
	assert_int_equal(f.out->n_bufs, 0);
	memcpy(fwd, f.out->orders, 3 * sizeof(fwd[0]));
	for (i = 0; i < 3; i++)
		ack_done(&f, &fwd[i], 900 + i);
	assert_int_equal(parse(&f, o), 5);
	assert_int_equal(o[3].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[4].m.exec_reject.reason, TKX_REJ_THROTTLED);
	assert_int_equal(o[4].m.exec_reject.cl_ord_id, 4);
	assert_int_equal(o[4].seq, 4);
	ss_out_reset(f.out);
	f.now += 100 * MS;
	d.n = 0;
	dg_seq(&d, 5);
	dg_order(&d, 4);
	assert_int_equal(rx(&f, &p, &d), 2);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].cl_ord_id, 4);
	assert_int_equal(f.out->n_bufs, 0);
	ack_done(&f, &f.out->orders[0], 904);
	ss_out_reset(f.out);

	/* 1.1 s later: a fresh window; the bucket is full again. 3 pass, 2 throttled are
	 * answered (grace 2), the next one terminates, the last is dropped. The rejects and
	 * the Terminate wait for the replies to the three (the old code sent them first and
	 * closed the session, so the replies were never sent). */
	f.now += 1100 * MS;
	d.n = 0;
	dg_seq(&d, 6);
	for (i = 10; i < 17; i++)
		dg_order(&d, i);
	assert_int_equal(rx(&f, &p, &d), 7);
	assert_int_equal(f.out->n_orders, 3);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	assert_int_equal(info(&f, slot).closing, 1);
	memcpy(fwd, f.out->orders, 3 * sizeof(fwd[0]));
	for (i = 0; i < 3; i++)
		assert_int_equal(fwd[i].cl_ord_id, 10 + i);
	for (i = 0; i < 3; i++)
		ack_done(&f, &fwd[i], 910 + i);
	n = parse(&f, o);
	assert_int_equal(n, 7);
	assert_int_equal(o[0].m.template_id, TKX_SEQUENCE);
	for (i = 1; i <= 3; i++)
		assert_int_equal(o[i].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[4].m.exec_reject.reason, TKX_REJ_THROTTLED);
	assert_int_equal(o[4].m.exec_reject.cl_ord_id, 13);
	assert_int_equal(o[5].m.exec_reject.reason, TKX_REJ_THROTTLED);
	assert_int_equal(o[5].m.exec_reject.cl_ord_id, 14);
	assert_int_equal(o[6].m.template_id, TKX_TERMINATE);
	assert_int_equal(o[6].m.terminate.reason, TKX_TERM_THROTTLE);
	assert_int_equal(f.out->n_orders, 4);
	assert_int_equal(f.out->orders[3].type, DP_ORD_SESSION_GONE);
	assert_int_equal(f.out->orders[3].session, slot);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(stats(&f).throttled, 4);
	assert_int_equal(stats(&f).term_throttle, 1);
	assert_int_equal(stats(&f).rx_after_terminate, 1);
	fx_close(&f);
}

static void test_client_terminate(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct ss_log lg[8];
	unsigned slot, n, i;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 1);
	drain_log(&f, lg, 8);
	DG_ADD(&d, terminate, .session_id = 100, .reason = TKX_TERM_FINISHED);
	dg_seq(&d, 1); /* after the Terminate: dropped */
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_TERMINATE);
	assert_int_equal(o[0].m.terminate.session_id, 100);
	assert_int_equal(o[0].m.terminate.reason, TKX_TERM_FINISHED);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(stats(&f).term_client, 1);
	assert_int_equal(stats(&f).rx_after_terminate, 1);
	n = drain_log(&f, lg, 8);
	for (i = 0; i < n && lg[i].code != SS_LOG_CLIENT_TERMINATED; i++)
		;
	assert_true(i < n);
	/* A Terminate naming another session is ignored. */
	slot = open_session(&f, &p, 200, 1, 1000, 0);
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 201);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	fx_close(&f);
}

/* Fencing (ss_fence): a Terminate SHUTDOWN to every live session - established or only
 * negotiated - and nothing else: no SESSION_GONE, no state change; a full output is
 * resumed from the cursor. */
static void test_fence(void **state)
{
	struct fx f;
	struct ss_peer p1 = peer_n(1), p2 = peer_n(2), p3 = peer_n(3);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned s1, s2, cur = 0;

	(void)state;
	fx_udp(&f);
	s1 = open_session(&f, &p1, 100, 1, 1000, 1); /* cancel on disconnect: no GONE either */
	s2 = open_session(&f, &p2, 200, 1, 1000, 0);
	dg_negotiate(&d, 300, 7, f.now, FIRM7);
	assert_int_equal(rx1(&f, &p3, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	ss_out_reset(f.out);
	/* a full output: -ENOBUFS, nothing lost, resumed where it stopped */
	f.out->n_bufs = SS_OUT_BUFS;
	assert_int_equal(ss_fence(f.t, &cur, f.out), -ENOBUFS);
	assert_int_equal(cur, 0);
	f.out->n_bufs = 0;
	assert_int_equal(ss_fence(f.t, &cur, f.out), 0);
	assert_int_equal(cur, 3);
	unsigned n = parse(&f, o), shut = 0;
	for (unsigned i = 0; i < n; i++)
		if (o[i].m.template_id == TKX_TERMINATE && o[i].m.terminate.reason == TKX_TERM_SHUTDOWN)
			shut++;
	assert_int_equal(n, 3);
	assert_int_equal(shut, 3);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, s1).state, SS_ESTABLISHED);
	assert_int_equal(info(&f, s2).state, SS_ESTABLISHED);
	fx_close(&f);
}

static void test_reestablish_continues(void **state)
{
	static uint8_t copies[64][SS_MSG_MAX];
	static uint16_t lens[64];
	struct fx f;
	struct ss_peer p = peer_n(1), p2 = peer_n(2);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_event ev;
	struct tkx_msg m;
	unsigned slot;
	int n;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	dg_order(&d, 50);
	assert_int_equal(rx(&f, &p, &d), 2);
	send_fills(&f, slot, 3, copies, lens);
	req_done(&f, slot); /* the order's replies are all in */
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 100);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	/* A fill arrives while terminated: numbered and kept, not sent. */
	ss_out_reset(f.out);
	event_fill(&ev, slot, 50, 9);
	assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 1);
	assert_int_equal(f.out->n_bufs, 0);
	/* Back, from another port; client says its next is 2: no gap. */
	f.now += 2000 * MS;
	d.n = 0;
	dg_negotiate(&d, 100, 7, f.now, FIRM7);
	assert_int_equal(rx1(&f, &p2, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ss_lookup(f.t, 100), (int)slot);
	d.n = 0;
	dg_establish(&d, 100, f.now + 1, 2, 1000, 0, FIRM7);
	m = rx1(&f, &p2, &d);
	assert_int_equal(m.template_id, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(m.establishment_ack.next_seq_no, 5);
	assert_int_equal(m.establishment_ack.expected_seq_no, 2);
	/* The client can fetch what it missed, including the one sent while away. */
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 4);
	assert_int_equal(rx(&f, &p2, &d), 1);
	n = parse(&f, o);
	assert_int_equal(n, 5);
	assert_memory_equal(o[1].raw, copies[1], lens[1]);
	assert_int_equal(o[4].m.fill.qty, 9);
	assert_int_equal(o[4].seq, 4);
	assert_memory_equal(&o[4].peer, &p2, sizeof(p2));
	/* The last cl_ord_id is remembered; new events continue at 5. */
	ss_out_reset(f.out);
	d.n = 0;
	dg_seq(&d, 2);
	dg_order(&d, 50);
	dg_order(&d, 51);
	assert_int_equal(rx(&f, &p2, &d), 3);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].cl_ord_id, 51);
	assert_int_equal(parse(&f, o), 2);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[1].seq, 5);
	/* A re-establish with a higher next_seq_no reports the skipped numbers. */
	ss_out_reset(f.out);
	d.n = 0;
	dg_establish(&d, 100, f.now + 2, 9, 1000, 0, FIRM7);
	assert_int_equal(rx(&f, &p2, &d), 1);
	assert_int_equal(parse(&f, o), 2);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(o[0].m.establishment_ack.expected_seq_no, 9); /* after the gap */
	assert_int_equal(o[1].m.template_id, TKX_NOT_APPLIED);
	assert_int_equal(o[1].m.not_applied.from_seq_no, 4);
	assert_int_equal(o[1].m.not_applied.count, 5);
	assert_int_equal(info(&f, slot).next_in, 9);
	fx_close(&f);
}

/* A message numbered while the session was away leaves a hole in the burst: the next
 * one must not be appended to the datagram that already holds the one before it. */
static void test_numbering_hole_in_burst(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_event ev;
	unsigned slot;
	int n, i, fills = 0;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	event_fill(&ev, slot, 1, 1);
	assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 1); /* 1: sent */
	DG_ADD(&d, terminate, .session_id = 100);
	assert_int_equal(rx(&f, &p, &d), 1);
	event_fill(&ev, slot, 2, 2);
	assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 1); /* 2: kept only */
	d.n = 0;
	dg_negotiate(&d, 100, 7, f.now + 2, FIRM7); /* newer than the first logon */
	dg_establish(&d, 100, f.now + 3, 1, 1000, 0, FIRM7);
	assert_int_equal(rx(&f, &p, &d), 2);
	event_fill(&ev, slot, 3, 3);
	assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 1); /* 3: sent */
	n = parse(&f, o);
	for (i = 0; i < n; i++) {
		if (o[i].m.template_id != TKX_FILL)
			continue;
		assert_int_equal(o[i].seq, o[i].m.fill.cl_ord_id);
		fills++;
	}
	assert_int_equal(fills, 2);
	fx_close(&f);
}

/* ---- Malformed input ------------------------------------------------------------------------ */

static void test_malformed_prefix(void **state)
{
	enum { TRUNC, SCHEMA, VERSION, TEMPLATE, BLOCKLEN, CASES };
	unsigned c;

	(void)state;
	for (c = 0; c < CASES; c++) {
		struct fx f;
		struct ss_peer p = peer_n(1);
		struct dg d = { .n = 0 };
		struct ss_stats s;
		struct tkx_hdr h;
		size_t at;

		fx_udp(&f);
		open_session(&f, &p, 100, 1, 1000, 0);
		dg_seq(&d, 1);
		dg_order(&d, 1);
		dg_order(&d, 2);
		at = d.n;
		dg_order(&d, 3);
		dg_order(&d, 4);
		memcpy(&h, d.b + at, sizeof(h));
		switch (c) {
		case TRUNC:
			d.n = at + 20;
			break;
		case SCHEMA:
			h.schema_id = 1;
			break;
		case VERSION:
			h.version = TKX_SCHEMA_VERSION + 1;
			break;
		case TEMPLATE:
			h.template_id = 150;
			break;
		case BLOCKLEN:
			h.block_length = 24;
			break;
		}
		memcpy(d.b + at, &h, sizeof(h));
		assert_int_equal(rx(&f, &p, &d), 3);
		assert_int_equal(f.out->n_orders, 2);
		assert_int_equal(f.out->orders[1].cl_ord_id, 2);
		assert_int_equal(f.out->n_bufs, 0);
		s = stats(&f);
		assert_int_equal(s.rx_truncated, c == TRUNC);
		assert_int_equal(s.rx_bad_schema, c == SCHEMA || c == VERSION);
		assert_int_equal(s.rx_unknown_template, c == TEMPLATE);
		assert_int_equal(s.rx_bad_block_length, c == BLOCKLEN);
		assert_int_equal(info(&f, 0).next_in, 3);
		fx_close(&f);
	}
}

static void test_malformed_edges(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	static uint8_t big[TKX_MAX_DGRAM + 1];
	uint8_t junk[7] = { 1, 2, 3, 4, 5, 6, 7 };

	(void)state;
	fx_udp(&f);
	/* Empty, shorter than a header, larger than a datagram: nothing processed. */
	assert_int_equal(ss_rx(f.t, &p, junk, 0, f.now, f.out), 0);
	assert_int_equal(ss_rx(f.t, &p, junk, sizeof(junk), f.now, f.out), 0);
	assert_int_equal(ss_rx(f.t, &p, big, sizeof(big), f.now, f.out), 0);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(stats(&f).rx_truncated, 2);
	assert_int_equal(stats(&f).rx_oversize, 1);
	/* Every prefix of a valid datagram: no read past len (ASan), and the whole messages
	 * it holds are processed. */
	{
		struct dg d = { .n = 0 };
		size_t k;

		dg_negotiate(&d, 100, 7, T0, FIRM7);
		dg_seq(&d, 1);
		dg_order(&d, 1);
		for (k = 0; k < d.n; k++) {
			uint8_t *copy = malloc(k ? k : 1);

			memcpy(copy, d.b, k);
			ss_out_reset(f.out);
			assert_true(ss_rx(f.t, &p, copy, k, f.now, f.out) <= 2);
			free(copy);
		}
	}
	fx_close(&f);
}

/* ---- TCP ------------------------------------------------------------------------------------- */

static void test_tcp_mode(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_event ev[2];
	unsigned slot;
	int n;

	(void)state;
	params(&pr, SS_TCP);
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1, 1000, 1); /* responses checked SOFH-framed */
	/* Implicit inbound numbering; a Sequence at the expected number is a heartbeat. */
	dg_seq(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_bufs, 0);
	d.n = 0;
	dg_order(&d, 10);
	assert_int_equal(rx(&f, &p, &d), 1);
	d.n = 0;
	dg_order(&d, 10);
	assert_int_equal(rx(&f, &p, &d), 1);
	d.n = 0;
	dg_order(&d, 11);
	assert_int_equal(rx(&f, &p, &d), 1);
	/* The reject and order 11 wait behind order 10 (invariant 15). */
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(info(&f, slot).held, 2);
	ack_done(&f, &f.out->orders[0], 1010);
	assert_int_equal(f.out->n_orders, 2);
	assert_int_equal(f.out->orders[0].in_seq, 1);
	assert_int_equal(f.out->orders[1].in_seq, 3);
	assert_int_equal(info(&f, slot).next_in, 4);
	/* Replies: SOFH frames, no Sequence in front. */
	event_fill(&ev[0], slot, 10, 1);
	event_fill(&ev[1], slot, 11, 2);
	assert_int_equal(ss_event(f.t, ev, 2, f.now, f.out), 2);
	assert_int_equal(f.out->n_bufs, 1);
	n = parse(&f, o);
	assert_int_equal(n, 4);
	assert_int_equal(o[0].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[2].m.template_id, TKX_FILL);
	assert_int_equal(o[3].m.fill.qty, 2);
	assert_int_equal(f.out->bufs[0].len, 4 * TKX_SOFH_LEN + 56 + 40 + 64 + 64);
	assert_int_equal(f.out->bufs[0].bytes[4], 0xEB);
	assert_int_equal(f.out->bufs[0].bytes[5], 0x50);
	assert_int_equal(info(&f, slot).next_out, 5);
	/* Retransmission: framed Retransmission then the framed originals. */
	{
		uint8_t orig[64];

		memcpy(orig, o[2].raw, o[2].len);
		ss_out_reset(f.out);
		d.n = 0;
		DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 3, .count = 2);
		assert_int_equal(rx(&f, &p, &d), 1);
		n = parse(&f, o);
		assert_int_equal(n, 3);
		assert_int_equal(o[0].m.template_id, TKX_RETRANSMISSION);
		assert_int_equal(o[0].m.retransmission.next_seq_no, 3);
		assert_memory_equal(o[1].raw, orig, 64);
	}
	/* Heartbeat: a framed Sequence with the next outbound number. */
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, f.now + 1000 * MS, f.out), 1);
	assert_int_equal(parse(&f, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_SEQUENCE);
	assert_int_equal(o[0].m.sequence.next_seq_no, 5);
	/* The connection closes: no Terminate to send, orders cancelled (order 11 is
	 * answered first: an end waits for what is in flight, invariant 15). */
	ss_out_reset(f.out);
	req_done(&f, slot);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), 0);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), -ENOENT);
	fx_close(&f);
}

/* ---- Journal hooks (tokexd's journal: td_journal.c) ----------------------------------------- */

struct hooks {
	unsigned n_est, n_local;
	uint16_t est_slot;
	uint64_t est_sid, est_next_in;
	uint32_t est_firm;
	uint16_t local_tid[16];
	uint16_t local_reason[16];
};

static void hook_established(void *arg, uint16_t slot, uint64_t sid, uint32_t firm,
			     uint64_t next_in)
{
	struct hooks *h = arg;

	h->n_est++;
	h->est_slot = slot;
	h->est_sid = sid;
	h->est_firm = firm;
	h->est_next_in = next_in;
}

static void hook_local(void *arg, uint16_t slot, uint16_t tid, const void *body, uint16_t blen)
{
	struct hooks *h = arg;
	struct tkx_exec_reject r;

	(void)slot;
	assert_true(h->n_local < 16);
	memset(&r, 0, sizeof(r));
	memcpy(&r, body, blen < sizeof(r) ? blen : sizeof(r));
	h->local_tid[h->n_local] = tid;
	h->local_reason[h->n_local++] = tid == TKX_EXEC_REJECT ? r.reason : 0;
}

/* The session layer's own replies are numbered as they are made and reported to
 * on_local_reply (the journal's record of each, which replay numbers again), those of
 * ss_reject_order() are not (replay makes them again by itself); a session's first
 * establishment is reported once, not its re-establishments - on the other transport
 * neither (invariant 12). A retransmission resends exactly the bytes numbered. */
static void test_hooks(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order fwd[2];
	struct hooks h;
	unsigned slot;
	uint8_t raw[4][64];
	uint16_t rlen[4];

	(void)state;
	memset(&h, 0, sizeof(h));
	params(&pr, SS_TCP);
	pr.on_established = hook_established;
	pr.on_local_reply = hook_local;
	pr.hook_arg = &h;
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	assert_int_equal(h.n_est, 1);
	assert_int_equal(h.est_slot, slot);
	assert_int_equal(h.est_sid, 100);
	assert_int_equal(h.est_firm, 7);
	assert_int_equal(h.est_next_in, 1);

	/* One message per call, as the gateway hands frames over: two requests forwarded,
	 * three answered by the session layer. */
	ss_out_reset(f.out);
	dg_order(&d, 10);
	assert_int_equal(rx(&f, &p, &d), 1);
	fwd[0] = f.out->orders[0];
	/* Its end (no reply numbered): the own replies below are not held behind it
	 * (invariant 15; test_session_spec.c covers the holding). */
	req_done(&f, slot);
	assert_int_equal(rx(&f, &p, &d), 1); /* cl_ord_id 10 again: CLORDID_REUSED */
	d.n = 0;
	DG_ADD(&d, new_order, .cl_ord_id = 11, .price = 0, .qty = 1, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC); /* INVALID_PRICE */
	assert_int_equal(rx(&f, &p, &d), 1);
	d.n = 0;
	DG_ADD(&d, exec_ack, .cl_ord_id = 1, .price = 5, .side = 1, .tif = 1); /* wrong way */
	assert_int_equal(rx(&f, &p, &d), 1);
	d.n = 0;
	dg_order(&d, 12);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_orders, 2);
	fwd[1] = f.out->orders[1];
	assert_int_equal(fwd[0].in_seq, 1);
	assert_int_equal(fwd[1].in_seq, 4);
	assert_int_equal(h.n_local, 3);
	assert_int_equal(h.local_reason[0], TKX_REJ_CLORDID_REUSED);
	assert_int_equal(h.local_reason[1], TKX_REJ_INVALID_PRICE);
	assert_int_equal(h.local_tid[2], TKX_BUSINESS_REJECT);
	assert_int_equal(info(&f, slot).next_out, 4);
	assert_int_equal(info(&f, slot).next_in, 5);
	/* ss_reject_order(): numbered, not reported. */
	assert_int_equal(ss_reject_order(f.t, &fwd[1], TKX_REJ_BUSY, f.now, f.out), 0);
	assert_int_equal(h.n_local, 3);
	assert_int_equal(parse(&f, o), 4);
	assert_int_equal(o[0].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[0].m.exec_reject.cl_ord_id, 10);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_INVALID_PRICE);
	assert_int_equal(o[2].m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(o[2].m.business_reject.reason, TKX_BREJ_WRONG_DIRECTION);
	assert_int_equal(o[3].m.exec_reject.reason, TKX_REJ_BUSY);
	assert_int_equal(o[3].m.exec_reject.cl_ord_id, 12);
	assert_int_equal(info(&f, slot).next_out, 5);
	for (int i = 0; i < 4; i++) {
		assert_true(o[i].peer.conn != 0); /* SOFH-framed for the connection */
		rlen[i] = o[i].len;
		memcpy(raw[i], o[i].raw, o[i].len);
	}
	/* The ring kept them with their numbers: a retransmission resends the same bytes. */
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 4);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(parse(&f, o), 5);
	assert_int_equal(o[0].m.template_id, TKX_RETRANSMISSION);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(o[1 + i].len, rlen[i]);
		assert_memory_equal(o[1 + i].raw, raw[i], rlen[i]);
	}
	/* Established once: a re-establishment reports nothing again, on another
	 * connection or on UDP. */
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), 0);
	f.now += MS; /* a new logon is newer than the last */
	{
		struct ss_peer q = tcp_peer_n(2), u = peer_n(3);

		assert_int_equal(open_session(&f, &q, 100, 5, 1000, 0), slot);
		ss_out_reset(f.out);
		assert_int_equal(ss_disconnect(f.t, &q, f.now, f.out), 0);
		f.now += MS;
		assert_int_equal(open_session(&f, &u, 100, 5, 1000, 0), slot);
	}
	assert_int_equal(h.n_est, 1);
	fx_close(&f);
}

/* ---- Caller-side rejects, capacity ------------------------------------------------------------ */

static void test_reject_order(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order ord[2], gone;
	unsigned slot;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	dg_seq(&d, 1);
	/* An iceberg: its show_qty travels in the dp_order's order_id (DP_NEW_ICE), which the
	 * ExecReject of a NewOrder does not echo (order_id 0). */
	DG_ADD(&d, new_order, .cl_ord_id = 5, .price = 12345, .qty = 10, .contract_id = 42,
	       .account = 5, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC, .show_qty = 4);
	DG_ADD(&d, cancel_order, .cl_ord_id = 6, .order_id = 999, .contract_id = 43);
	assert_int_equal(rx(&f, &p, &d), 3);
	assert_int_equal(f.out->n_orders, 2);
	memcpy(ord, f.out->orders, sizeof(ord));
	assert_int_equal(ord[0].order_id, 4);
	ss_out_reset(f.out);
	f.now += 3;
	assert_int_equal(ss_reject_order(f.t, &ord[0], TKX_REJ_BUSY, f.now, f.out), 0);
	assert_int_equal(ss_reject_order(f.t, &ord[1], TKX_REJ_UNKNOWN_CONTRACT, f.now, f.out), 0);
	assert_int_equal(parse(&f, o), 3);
	assert_int_equal(f.out->n_bufs, 1);
	assert_int_equal(o[1].seq, 1);
	assert_int_equal(o[1].m.exec_reject.cl_ord_id, 5);
	assert_int_equal(o[1].m.exec_reject.transact_time, T0 + 3);
	assert_int_equal(o[1].m.exec_reject.order_id, 0);
	assert_int_equal(o[1].m.exec_reject.contract_id, 42);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_BUSY);
	assert_int_equal(o[1].m.exec_reject.ref_template_id, TKX_NEW_ORDER);
	assert_int_equal(o[2].seq, 2);
	assert_int_equal(o[2].m.exec_reject.cl_ord_id, 6);
	assert_int_equal(o[2].m.exec_reject.order_id, 999);
	assert_int_equal(o[2].m.exec_reject.contract_id, 43);
	assert_int_equal(o[2].m.exec_reject.reason, TKX_REJ_UNKNOWN_CONTRACT);
	assert_int_equal(o[2].m.exec_reject.ref_template_id, TKX_CANCEL_ORDER);
	/* A SESSION_GONE must be delivered; an order of no session here is refused. */
	memset(&gone, 0, sizeof(gone));
	gone.type = DP_ORD_SESSION_GONE;
	gone.src = 3;
	gone.session = (uint16_t)slot;
	assert_int_equal(ss_reject_order(f.t, &gone, TKX_REJ_BUSY, f.now, f.out), -EINVAL);
	ord[0].session = 9;
	assert_int_equal(ss_reject_order(f.t, &ord[0], TKX_REJ_BUSY, f.now, f.out), -ENOENT);
	ord[0].session = (uint16_t)slot;
	ord[0].src = 2;
	assert_int_equal(ss_reject_order(f.t, &ord[0], TKX_REJ_BUSY, f.now, f.out), -ENOENT);
	assert_int_equal(stats(&f).order_rejects, 2);
	fx_close(&f);
}

static void test_out_full(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1), q = peer_n(2);
	struct dg d = { .n = 0 };
	struct dp_event ev;
	struct ss_stats before;
	unsigned slot;

	(void)state;
	fx_udp(&f);
	slot = open_session(&f, &p, 100, 1, 1000, 0);
	open_session(&f, &q, 200, 1, 1000, 0);
	/* ss_rx is all-or-nothing. */
	f.out->n_bufs = SS_OUT_BUFS - 1;
	dg_seq(&d, 1);
	dg_order(&d, 1);
	before = stats(&f);
	assert_int_equal(rx(&f, &p, &d), -ENOBUFS);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, slot).next_in, 1);
	assert_int_equal(stats(&f).rx_dgrams, before.rx_dgrams);
	ss_out_reset(f.out);
	assert_int_equal(rx(&f, &p, &d), 2);
	/* ss_event stops at a full out (an event for an established session needs a
	 * buffer when none of its own is open). */
	ss_out_reset(f.out);
	f.out->n_bufs = SS_OUT_BUFS;
	event_fill(&ev, slot, 1, 1);
	assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 0);
	assert_int_equal(info(&f, slot).next_out, 1);
	/* ss_tick stops and resumes. */
	ss_out_reset(f.out);
	f.out->n_bufs = SS_OUT_BUFS - 1;
	assert_int_equal(ss_tick(f.t, T0 + 1000 * MS, f.out), -ENOBUFS);
	assert_int_equal(f.out->n_bufs, SS_OUT_BUFS);
	ss_out_reset(f.out);
	assert_int_equal(ss_tick(f.t, T0 + 1000 * MS, f.out), 1);
	assert_int_equal(f.out->n_bufs, 1);
	assert_int_equal(stats(&f).tx_heartbeats, 2);
	fx_close(&f);
}

static void test_table_full(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct dg d = { .n = 0 };
	struct ss_peer pe[8];
	struct ss_log lg[64];
	unsigned i, n;
	int slot_a;

	(void)state;
	params(&pr, SS_UDP);
	pr.max_sessions = 4;
	pr.linger_ms = 1000;
	pr.ts_tolerance_ms = 1000; /* a slot is kept at least this long too */
	fx_open(&f, &pr);
	for (i = 0; i < 8; i++)
		pe[i] = peer_n(i + 1);
	for (i = 0; i < 4; i++) {
		d.n = 0;
		dg_negotiate(&d, 100 + i, 7, f.now, FIRM7);
		assert_int_equal(rx1(&f, &pe[i], &d).template_id, TKX_NEGOTIATION_RESPONSE);
		assert_int_equal(ss_lookup(f.t, 100 + i), (int)i);
	}
	d.n = 0;
	dg_negotiate(&d, 104, 7, f.now, FIRM7);
	expect_neg_reject(&f, &pe[4], &d, 104, f.now, TKX_SREJ_UNSPECIFIED);
	assert_int_equal(stats(&f).neg_table_full, 1);
	/* Session 100: established, no orders, terminated: reclaimable after linger. */
	d.n = 0;
	dg_establish(&d, 100, f.now + 1, 1, 1000, 0, FIRM7);
	assert_int_equal(rx1(&f, &pe[0], &d).template_id, TKX_ESTABLISHMENT_ACK);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 100);
	assert_int_equal(rx1(&f, &pe[0], &d).template_id, TKX_TERMINATE);
	/* Session 101: established, an order resting, terminated without COD: kept. */
	d.n = 0;
	dg_establish(&d, 101, f.now + 1, 1, 1000, 0, FIRM7);
	dg_seq(&d, 1);
	dg_order(&d, 1);
	DG_ADD(&d, terminate, .session_id = 101);
	ss_out_reset(f.out);
	assert_int_equal(rx(&f, &pe[1], &d), 4);
	assert_int_equal(f.out->n_orders, 1);
	ack_done(&f, &f.out->orders[0], 77); /* its end follows its order's reply */
	assert_int_equal(info(&f, 1).state, SS_TERMINATED);
	slot_a = ss_lookup(f.t, 100);
	assert_int_equal(slot_a, 0);
	f.now += 999 * MS;
	d.n = 0;
	dg_negotiate(&d, 104, 7, f.now, FIRM7);
	expect_neg_reject(&f, &pe[4], &d, 104, f.now, TKX_SREJ_UNSPECIFIED);
	f.now += 2 * MS; /* and its Establish (at T0 + 1 ns) is stale too */
	drain_log(&f, lg, 64);
	assert_int_equal(rx1(&f, &pe[4], &d).template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ss_lookup(f.t, 104), slot_a);
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	assert_int_equal(stats(&f).reclaimed, 1);
	n = drain_log(&f, lg, 64);
	assert_int_equal(n, 2);
	assert_int_equal(lg[0].code, SS_LOG_RECLAIMED);
	assert_int_equal(lg[0].session_id, 100);
	/* 101 may still have orders in the books: its slot is given away only after the
	 * matching cores detached them (the Negotiate that needs room is refused meanwhile;
	 * tests/session/test_session_quota.c has the rest). */
	f.now += 10000 * MS;
	d.n = 0;
	dg_negotiate(&d, 105, 7, f.now, FIRM7);
	{
		struct tkx_msg m = rx1(&f, &pe[5], &d);
		struct dp_event ack;

		assert_int_equal(m.template_id, TKX_NEGOTIATION_REJECT);
		assert_int_equal(m.negotiation_reject.reason, TKX_SREJ_UNSPECIFIED);
		assert_int_equal(f.out->n_orders, 1);
		assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
		assert_int_equal(f.out->orders[0].scope, DP_GONE_DETACH);
		assert_int_equal(f.out->orders[0].session, 1);
		assert_int_equal(ss_lookup(f.t, 101), -ENOENT);
		memset(&ack, 0, sizeof(ack));
		ack.pad[0] = DP_EV_DETACHED;
		ack.src = 3;
		ack.session = 1;
		ack.parts = 1;
		memcpy(ack.u.raw, &f.out->orders[0].order_id, 8);
		ss_out_reset(f.out);
		assert_int_equal(ss_event(f.t, &ack, 1, f.now, f.out), 1);
	}
	assert_int_equal(rx1(&f, &pe[5], &d).template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ss_lookup(f.t, 105), 1);
	/* A NEGOTIATED session that ends keeps its slot for the linger time (its newest
	 * logon timestamp stays known), then the slot is reclaimed. */
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 102);
	assert_int_equal(rx1(&f, &pe[2], &d).template_id, TKX_TERMINATE);
	assert_int_equal(info(&f, 2).state, SS_TERMINATED);
	f.now += 1000 * MS;
	d.n = 0;
	dg_negotiate(&d, 106, 7, f.now, FIRM7);
	assert_int_equal(rx1(&f, &pe[6], &d).template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ss_lookup(f.t, 106), 2);
	fx_close(&f);
}

/* Many sessions: the peer and id indexes under inserts and deletes (backward shift). */
/* A full table of 3000 sessions found by session id and by peer, with its indexes'
 * hash keyed by seed (ss_params.hash_seed; 0 in the other tests). */
static void many_sessions(uint64_t seed)
{
	enum { N = 3000 };
	struct fx f;
	struct ss_params pr;
	struct dg d;
	unsigned i;

	params(&pr, SS_UDP);
	pr.hash_seed = seed;
	pr.max_sessions = N;
	pr.retrans_depth = 1;
	pr.retrans_max = 1;
	fx_open(&f, &pr);
	for (i = 0; i < N; i++) {
		struct ss_peer p = peer_n(i * 7919u);

		d.n = 0;
		dg_negotiate(&d, 0x1000000ull * i + 1, 7, f.now, FIRM7);
		assert_int_equal(rx1(&f, &p, &d).template_id, TKX_NEGOTIATION_RESPONSE);
	}
	for (i = 0; i < N; i += 2) {
		struct ss_peer p = peer_n(i * 7919u);

		d.n = 0;
		DG_ADD(&d, terminate, .session_id = 0x1000000ull * i + 1);
		assert_int_equal(rx1(&f, &p, &d).template_id, TKX_TERMINATE);
	}
	for (i = 0; i < N; i++) {
		struct ss_peer p = peer_n(i * 7919u);
		struct tkx_msg m;

		d.n = 0;
		dg_establish(&d, 0x1000000ull * i + 1, f.now + 1, 1, 1000, 0, FIRM7);
		m = rx1(&f, &p, &d);
		if (i % 2) {
			assert_int_equal(m.template_id, TKX_ESTABLISHMENT_ACK);
			assert_int_equal(m.establishment_ack.session_id, 0x1000000ull * i + 1);
		} else {
			assert_int_equal(m.template_id, TKX_ESTABLISHMENT_REJECT);
			/* terminated while NEGOTIATED: kept, not established again */
			assert_int_equal(info(&f, (unsigned)ss_lookup(f.t, 0x1000000ull * i + 1))
						 .state, SS_TERMINATED);
		}
	}
	assert_int_equal(stats(&f).neg_ok, N);
	assert_int_equal(stats(&f).est_ok, N / 2);
	fx_close(&f);
}

static void test_many_sessions(void **state)
{
	(void)state;
	many_sessions(0);
	many_sessions(0x5eedf00dcafe1234ull); /* as tokexd: a random seed */
}

/* The datagrams that make the most reply bytes, each given an ss_out with exactly the
 * room ss_rx() asks for (the fewest free buffers at which it stops saying -ENOBUFS):
 * the reply must fit (the table asserts it in its buffer allocator; the count is checked
 * here too). */
static void worst_case(uint8_t transport, unsigned shape)
{
	static uint8_t copies[80][SS_MSG_MAX];
	static uint16_t lens[80];
	struct fx f;
	struct ss_params pr;
	struct ss_peer p = peer_tr(transport, 1);
	struct dg d = { .n = 0 };
	unsigned slot, k;
	int r = -ENOBUFS;

	params(&pr, transport);
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1, 1000, 1);
	send_fills(&f, slot, 64, copies, lens);
	if (shape != 1)
		DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 64);
	while (d.n + 24 <= TKX_MAX_DGRAM) {
		if (shape == 0)
			DG_ADD(&d, not_applied, .from_seq_no = 1, .count = 1); /* 24 -> 32 (+6) */
		else if (d.n + 16 <= TKX_MAX_DGRAM)
			dg_seq(&d, 1000 + d.n); /* 16 -> NotApplied 24 on UDP */
	}
	if (shape == 2 && d.n + 16 <= TKX_MAX_DGRAM)
		dg_seq(&d, 5000);
	for (k = 0; k <= SS_OUT_BUFS && r == -ENOBUFS; k++) {
		memset(f.out, 0, sizeof(*f.out));
		f.out->n_bufs = SS_OUT_BUFS - k;
		r = rx(&f, &p, &d);
	}
	assert_true(r > 0);
	assert_true(f.out->n_bufs <= SS_OUT_BUFS);
	fx_close(&f);
}

static void test_worst_case_reserve(void **state)
{
	unsigned shape;

	(void)state;
	for (shape = 0; shape < 3; shape++) {
		worst_case(SS_UDP, shape);
		worst_case(SS_TCP, shape);
	}
}

static uint64_t rnd_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return (uint32_t)(rnd_state % n);
}

/* Random traffic from a few peers: well-formed messages of every kind, mixes chosen to
 * make the most reply bytes per inbound byte (gaps, wrong-direction templates, maximal
 * retransmission requests), events and ticks. The table's own worst-case bookkeeping
 * (the assert in its buffer allocator) and the shape checks of parse() must hold, and
 * every dp_order must name a live session of this core. */
/* The random traffic's matching core: the requests forwarded so far, answered (an
 * ExecAck marked as each one's last reply) in random batches, so that what the session
 * layer holds behind them goes (invariant 15). */
static struct dp_order rt_pend[8192];
static unsigned rt_n_pend;
static struct omsg rt_o[16 * MAX_OMSGS];

/* The requests in out go to the matching core (pending); out keeps its buffers. */
static void rt_take(struct fx *f)
{
	for (unsigned i = 0; i < f->out->n_orders; i++) {
		const struct dp_order *o = &f->out->orders[i];

		assert_int_equal(o->src, 3);
		assert_true(o->session < 4);
		if (o->type == DP_ORD_SESSION_GONE)
			continue;
		assert_true(rt_n_pend < 8192);
		rt_pend[rt_n_pend++] = *o;
	}
	f->out->n_orders = 0;
}

/* A flush: the buffers sent, the requests routed. */
static void rt_drain(struct fx *f)
{
	parse_max(f, rt_o, 16 * MAX_OMSGS);
	rt_take(f);
	ss_out_reset(f->out);
}

static void rt_answer(struct fx *f, unsigned k)
{
	for (;;) {
		struct dp_order o;

		rt_take(f); /* what the last answer let go is pending too */
		if (f->out->n_bufs > SS_OUT_BUFS - 4)
			rt_drain(f); /* room for the next answer and what it lets go */
		if (!k-- || !rt_n_pend)
			break;
		o = rt_pend[--rt_n_pend];
		ack_done(f, &o, 5000 + rt_n_pend);
	}
}

static void test_random_traffic(void **state)
{
	struct fx f;
	struct ss_params pr;
	struct ss_peer pe[6];
	unsigned round, i, flushes = 0, waits = 0;
	uint64_t cl = 1;

	(void)state;
	params(&pr, SS_UDP);
	pr.max_sessions = 4;
	pr.throttle_rate = 200;
	pr.throttle_burst = 20;
	pr.throttle_grace = 30;
	pr.linger_ms = 10;
	pr.ts_tolerance_ms = 100;
	fx_open(&f, &pr);
	rt_n_pend = 0;
	for (i = 0; i < 6; i++)
		pe[i] = peer_n(i + 1);
	for (round = 0; round < 4000; round++) {
		struct dg d = { .n = 0 };
		unsigned who = rnd(6), mix = rnd(7);
		uint64_t sid = 100 + who;
		int r;

		f.now += rnd(50) * MS;
		while (d.n + TKX_MAX_MSG_LEN <= TKX_MAX_DGRAM && (mix >= 3 || rnd(4) || !d.n)) {
			switch (mix == 3 ? rnd(9) : mix == 4 ? 7 : mix == 5 ? 8 : mix == 6 ? 3 : rnd(9)) {
			case 0:
				dg_negotiate(&d, sid, 7, f.now, FIRM7);
				break;
			case 1:
				/* newer than a Negotiate before it in the datagram */
				dg_establish(&d, sid, f.now + 1 + d.n, 1 + rnd(50), 100 + rnd(1000),
					     (uint8_t)rnd(2), FIRM7);
				break;
			case 2:
				dg_seq(&d, 1 + rnd(200));
				break;
			case 3:
				dg_order(&d, rnd(4) ? cl++ : cl - 1);
				break;
			case 4:
				DG_ADD(&d, retransmit_request, .session_id = sid, .from_seq_no = 1 + rnd(80),
				       .count = rnd(70));
				break;
			case 5:
				if (!rnd(20))
					DG_ADD(&d, terminate, .session_id = sid);
				break;
			case 6:
				DG_ADD(&d, mass_cancel, .cl_ord_id = cl++, .scope = 1);
				break;
			case 7:
				DG_ADD(&d, not_applied, .from_seq_no = 1, .count = 1);
				break;
			default:
				dg_seq(&d, 1000 + round * 200 + d.n); /* a gap every time */
				break;
			}
		}
		r = rx(&f, &pe[who], &d);
		for (i = 0; i < 3 && r < 0; i++) {
			if (r == -ENOBUFS) {
				flushes++;
				rt_drain(&f);
			} else {
				/* The session's unanswered bound (invariant 15): what the caller
				 * does, answer, retry. */
				assert_int_equal(r, -EAGAIN);
				waits++;
				rt_answer(&f, ~0u);
			}
			r = rx(&f, &pe[who], &d);
		}
		if (r < 0) {
			struct ss_info in;
			int sl = -1;

			for (unsigned k = 0; k < 4; k++)
				if (ss_session_info(f.t, k, &in) == 0 && in.state == SS_ESTABLISHED &&
				    memcmp(&in.peer, &pe[who], sizeof(in.peer)) == 0)
					sl = (int)k;
			if (sl >= 0)
				ss_session_info(f.t, (unsigned)sl, &in);
			fail_msg("round %u: rx %d, slot %d inflight %u held %u pend %u", round, r, sl,
				 sl >= 0 ? in.inflight : 0, sl >= 0 ? in.held : 0, rt_n_pend);
		}
		if (rnd(3) == 0) {
			struct dp_event ev[8];
			unsigned k, n = 1 + rnd(8), done = 0;

			for (k = 0; k < n; k++)
				event_fill(&ev[k], rnd(5), 1, 1 + k);
			while (done < n) {
				done += ss_event(f.t, ev + done, n - done, f.now, f.out);
				if (done < n)
					rt_drain(&f);
			}
		}
		if (rnd(4) == 0)
			while (ss_tick(f.t, f.now, f.out) == -ENOBUFS)
				rt_drain(&f);
		if (rnd(3) == 0)
			rt_answer(&f, rnd(40));
		rt_take(&f); /* the caller routes them */
	}
	rt_answer(&f, ~0u);
	assert_true(stats(&f).neg_ok > 0 && stats(&f).est_ok > 0 && stats(&f).app_forwarded > 0);
	assert_true(stats(&f).retrans_ok > 0 && stats(&f).gaps > 0 && stats(&f).throttled > 0);
	assert_true(flushes > 10); /* calls were made with out near full */
	assert_true(stats(&f).held > 0);
	(void)waits;
	fx_close(&f);
}

static void test_params(void **state)
{
	struct ss_params p;
	struct ss_firm dup[2] = { { .firm_id = 1, .key_len = 1 }, { .firm_id = 1, .key_len = 1 } };
	void *mem;
	size_t len;

	(void)state;
	params(&p, SS_UDP);
	len = ss_table_memsize(&p);
	assert_true(len > 0);
	mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_null(ss_table_init(mem, len - 1, &p));
	assert_null(ss_table_init((char *)mem + 8, len, &p));
	assert_non_null(ss_table_init(mem, len, &p));
	p.retrans_depth = 48;
	assert_int_equal(ss_table_memsize(&p), 0);
	params(&p, SS_UDP);
	p.retrans_max = p.retrans_depth + 1;
	assert_int_equal(ss_table_memsize(&p), 0);
	params(&p, SS_UDP);
	p.retrans_depth = 1 << 16;
	p.retrans_max = 1 << 16; /* one retransmission would not fit an ss_out */
	assert_int_equal(ss_table_memsize(&p), 0);
	params(&p, SS_UDP);
	p.firms = dup;
	assert_int_equal(ss_table_memsize(&p), 0);
	params(&p, SS_UDP);
	p.max_sessions = SS_MAX_SESSIONS + 1;
	assert_int_equal(ss_table_memsize(&p), 0);
	params(&p, SS_UDP);
	p.keepalive_min_ms = p.keepalive_max_ms + 1;
	assert_int_equal(ss_table_memsize(&p), 0);
	assert_string_equal(ss_stat_name(0), "rx_dgrams");
	assert_null(ss_stat_name(SS_STAT_COUNT));
	assert_string_equal(ss_state_name(SS_ESTABLISHED), "ESTABLISHED");
	free(mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiate_ok),
		cmocka_unit_test(test_negotiate_unknown_firm),
		cmocka_unit_test(test_negotiate_bad_hmac),
		cmocka_unit_test(test_negotiate_stale),
		cmocka_unit_test(test_negotiate_in_use),
		cmocka_unit_test(test_establish_ok),
		cmocka_unit_test(test_establish_before_negotiate),
		cmocka_unit_test(test_establish_bad_keepalive),
		cmocka_unit_test(test_app_before_establish),
		cmocka_unit_test(test_new_order_dp_order),
		cmocka_unit_test(test_order_types_dp_order),
		cmocka_unit_test(test_clordid_reused),
		cmocka_unit_test(test_invalid_fields),
		cmocka_unit_test(test_inbound_gap),
		cmocka_unit_test(test_resend_lower_seq),
		cmocka_unit_test(test_tcp_sequence_rules),
		cmocka_unit_test(test_mass_cancel_ack_merge),
		cmocka_unit_test(test_event_sequencing),
		cmocka_unit_test(test_coalesce_full_datagram),
		cmocka_unit_test(test_retransmit_in_range),
		cmocka_unit_test(test_retransmit_reject),
		cmocka_unit_test(test_heartbeat_after_idle),
		cmocka_unit_test(test_timeout_cod),
		cmocka_unit_test(test_timeout_no_cod),
		cmocka_unit_test(test_negotiated_expiry),
		cmocka_unit_test(test_throttle),
		cmocka_unit_test(test_client_terminate),
		cmocka_unit_test(test_fence),
		cmocka_unit_test(test_reestablish_continues),
		cmocka_unit_test(test_numbering_hole_in_burst),
		cmocka_unit_test(test_malformed_prefix),
		cmocka_unit_test(test_malformed_edges),
		cmocka_unit_test(test_tcp_mode),
		cmocka_unit_test(test_hooks),
		cmocka_unit_test(test_reject_order),
		cmocka_unit_test(test_out_full),
		cmocka_unit_test(test_table_full),
		cmocka_unit_test(test_many_sessions),
		cmocka_unit_test(test_worst_case_reserve),
		cmocka_unit_test(test_random_traffic),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
