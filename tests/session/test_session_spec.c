/*
 * test_session_spec.c - the session layer (dataplane/session/ss_session.h) against the rules
 * of docs/protocol.md section 4 that an attack review found it breaking: the numbers an
 * EstablishmentAck and a NotApplied announce, which templates take an inbound number, the
 * limits on session ids, jumps and retransmission counts, logon replay, and the order in
 * which a session's replies leave. Driven like test_session.c: encoded, signed client
 * messages in through ss_rx(), replies decoded back with tkx_decode().
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
#include "ss_snap.h"

#define CORE 3
/* Replies as the client counts them: a datagram's Sequence is its header, not a message. */
#define MAX_OMSGS 1024
#define SS_FX_PARSE (SS_FX_SEQ_HIDDEN | SS_FX_UNCHECKED)
#include "ss_test_fixture.h"

static const struct ss_firm firms[] = {
	{ .firm_id = 7, .key_len = 8, .key = "secret-7" },
};
#define KEY (&firms[0])

static void params(struct ss_params *p, uint8_t transport)
{
	ss_params_default(p);
	p->max_sessions = 8;
	p->core = CORE;
	g_tr = transport;
	/* Bare datagrams: datagram authentication has its tests in test_session_auth.c. */
	p->udp_auth = SS_AUTH_OFF;
	p->firms = firms;
	p->n_firms = 1;
	p->throttle_rate = 0;
	p->retrans_depth = 256;
	p->log_depth = 64;
}

static void fx_new(struct fx *f, uint8_t transport)
{
	struct ss_params p;

	params(&p, transport);
	fx_open(f, &p);
}

/* ---- Client messages -------------------------------------------------------------------- */

/* The file's one firm: its Negotiate, its Establish (keepalive 1 s). */
static void add_negotiate(struct dg *d, uint64_t sid, uint64_t ts)
{
	dg_negotiate(d, sid, 7, ts, KEY);
}

static void add_establish(struct dg *d, uint64_t sid, uint64_t ts, uint64_t next_seq, uint8_t cod)
{
	dg_establish(d, sid, ts, next_seq, 1000, cod, KEY);
}

/* A GTC buy of account 0. */
static void add_order(struct dg *d, uint64_t cl)
{
	DG_ADD(d, new_order, .cl_ord_id = cl, .price = 12345, .qty = 10, .contract_id = 42,
	       .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
}

/* Negotiate at now, Establish 1 ms later (next_seq 1); returns the slot, out empty. */
static unsigned open_session(struct fx *f, const struct ss_peer *p, uint64_t sid, uint8_t cod)
{
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	int slot;

	add_negotiate(&d, sid, f->now);
	assert_int_equal(rx_parse(f, p, &d, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_RESPONSE);
	f->now += MS;
	d.n = 0;
	add_establish(&d, sid, f->now, 1, cod);
	assert_int_equal(rx_parse(f, p, &d, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_ACK);
	ss_out_reset(f->out);
	slot = ss_lookup(f->t, sid);
	assert_true(slot >= 0);
	return (unsigned)slot;
}

/* ---- EstablishmentAck.expected_seq_no and NotApplied (protocol 4.5, 4.7) ------------------ */

/* A re-Establish whose next_seq_no is ahead: the ack's expected_seq_no is the number after
 * the gap, and a client that continues from it (as 4.5 says) has its orders applied. On the
 * old code the ack said the number before the gap, so the next order was taken as late and
 * dropped (UDP) or its heartbeat terminated the session (TCP). */
static void check_expected_after_gap(uint8_t transport)
{
	struct fx f;
	struct ss_peer p = peer_tr(transport, 1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;
	uint64_t exp;

	fx_new(&f, transport);
	slot = open_session(&f, &p, 100, 0);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 100);
	assert_true(rx(&f, &p, &d) > 0);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	f.now += MS;
	d.n = 0;
	add_negotiate(&d, 100, f.now);
	assert_int_equal(rx_parse(&f, &p, &d, o), 1);
	f.now += MS;
	d.n = 0;
	add_establish(&d, 100, f.now, 9, 0); /* the exchange expects 1 */
	assert_int_equal(rx_parse(&f, &p, &d, o), 2);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_ACK);
	exp = o[0].m.establishment_ack.expected_seq_no;
	assert_int_equal(exp, 9);
	assert_int_equal(o[1].m.template_id, TKX_NOT_APPLIED);
	assert_int_equal(o[1].m.not_applied.from_seq_no, 1);
	assert_int_equal(o[1].m.not_applied.count, 8);
	/* The client continues from expected_seq_no: a heartbeat, then an order. */
	d.n = 0;
	dg_seq(&d, exp);
	ss_out_reset(f.out);
	assert_true(rx(&f, &p, &d) > 0);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	assert_int_equal(f.out->n_bufs, 0);
	d.n = 0;
	if (transport == SS_UDP)
		dg_seq(&d, exp);
	add_order(&d, 1);
	ss_out_reset(f.out);
	assert_true(rx(&f, &p, &d) > 0);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].in_seq, exp);
	assert_int_equal(stats(&f).rx_late, 0);
	fx_close(&f);
}

static void test_expected_after_gap_udp(void **state)
{
	(void)state;
	check_expected_after_gap(SS_UDP);
}

static void test_expected_after_gap_tcp(void **state)
{
	(void)state;
	check_expected_after_gap(SS_TCP);
}

/* A first Establish with next_seq_no 50: the inbound numbering of a new session starts at
 * 1 (4.2), so numbers 1-49 are reported NotApplied after the ack (4.5), as for any other
 * Establish that skips numbers. The old code adopted 50 silently. */
static void test_first_establish_ahead(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_new(&f, SS_UDP);
	add_negotiate(&d, 100, f.now);
	add_establish(&d, 100, f.now + 1, 50, 0);
	assert_int_equal(rx_parse(&f, &p, &d, o), 3);
	assert_int_equal(o[1].m.template_id, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(o[1].m.establishment_ack.expected_seq_no, 50);
	assert_int_equal(o[2].m.template_id, TKX_NOT_APPLIED);
	assert_int_equal(o[2].m.not_applied.from_seq_no, 1);
	assert_int_equal(o[2].m.not_applied.count, 49);
	assert_int_equal(info(&f, 0).next_in, 50);
	/* next_seq_no 1 (or 0, read as 1): nothing skipped, nothing reported. */
	d.n = 0;
	add_negotiate(&d, 200, f.now);
	add_establish(&d, 200, f.now + 1, 1, 0);
	{
		struct ss_peer q = peer_n(2);

		assert_int_equal(rx_parse(&f, &q, &d, o), 2);
		assert_int_equal(o[1].m.establishment_ack.expected_seq_no, 1);
	}
	assert_int_equal(stats(&f).gaps, 1);
	assert_int_equal(stats(&f).gap_msgs, 49);
	fx_close(&f);
}

/* A jump of 2^32 or more cannot be reported by one NotApplied (its count is 32 bits): the
 * old code clamped the count to 4294967295 and so never reported the numbers above. */
static void check_huge_jump(uint8_t transport)
{
	struct fx f;
	struct ss_peer p = peer_tr(transport, 1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;
	int n;

	fx_new(&f, transport);
	/* Establish: refused, the session stays negotiated. */
	add_negotiate(&d, 100, f.now);
	add_establish(&d, 100, f.now + 1, 1ull + UINT32_MAX + 1, 0);
	n = rx_parse(&f, &p, &d, o);
	assert_int_equal(n, 2);
	assert_int_equal(o[1].m.template_id, TKX_ESTABLISHMENT_REJECT);
	assert_int_equal(o[1].m.establishment_reject.reason, TKX_SREJ_UNSPECIFIED);
	assert_int_equal(info(&f, 0).state, SS_NEGOTIATED);
	/* The largest jump that fits is reported exactly. */
	d.n = 0;
	add_establish(&d, 100, f.now + 2, 1ull + UINT32_MAX, 0);
	n = rx_parse(&f, &p, &d, o);
	assert_int_equal(n, 2);
	assert_int_equal(o[0].m.establishment_ack.expected_seq_no, 1ull + UINT32_MAX);
	assert_int_equal(o[1].m.not_applied.count, UINT32_MAX);
	slot = 0;
	/* A Sequence that jumps 2^32: Terminate PROTOCOL_ERROR. */
	d.n = 0;
	dg_seq(&d, 1ull + UINT32_MAX + (1ull << 32));
	n = rx_parse(&f, &p, &d, o);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].m.template_id, TKX_TERMINATE);
	assert_int_equal(o[0].m.terminate.reason, TKX_TERM_PROTOCOL_ERROR);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(info(&f, slot).next_in, 1ull + UINT32_MAX);
	assert_int_equal(stats(&f).seq_jump, 2);
	fx_close(&f);
}

static void test_huge_jump_udp(void **state)
{
	(void)state;
	check_huge_jump(SS_UDP);
}

static void test_huge_jump_tcp(void **state)
{
	(void)state;
	check_huge_jump(SS_TCP);
}

/* ---- Inbound numbering is for templates 100-199 only (protocol 4.6) ------------------------- */

/* A client that sends an exchange->client template (200-206) gets BusinessReject
 * WRONG_DIRECTION without an inbound number: its next conforming order keeps the number it
 * gave it. The old code numbered the wrong template, so on UDP the next order, numbered by
 * the client as the one before, was taken as late and silently dropped. */
static void check_wrong_direction(uint8_t transport)
{
	struct fx f;
	struct ss_peer p = peer_tr(transport, 1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;
	int n;

	fx_new(&f, transport);
	slot = open_session(&f, &p, 100, 0);
	if (transport == SS_UDP)
		dg_seq(&d, 1);
	DG_ADD(&d, exec_ack, .cl_ord_id = 1, .price = 5, .side = 1, .tif = 1);
	n = rx_parse(&f, &p, &d, o);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].m.template_id, TKX_BUSINESS_REJECT);
	assert_int_equal(o[0].m.business_reject.reason, TKX_BREJ_WRONG_DIRECTION);
	assert_int_equal(o[0].m.business_reject.ref_seq_no, 0);
	assert_int_equal(info(&f, slot).next_in, 1);
	d.n = 0;
	if (transport == SS_UDP)
		dg_seq(&d, 1);
	add_order(&d, 1);
	ss_out_reset(f.out);
	assert_true(rx(&f, &p, &d) > 0);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].in_seq, 1);
	assert_int_equal(stats(&f).rx_late, 0);
	fx_close(&f);
}

static void test_wrong_direction_udp(void **state)
{
	(void)state;
	check_wrong_direction(SS_UDP);
}

static void test_wrong_direction_tcp(void **state)
{
	(void)state;
	check_wrong_direction(SS_TCP);
}

/* ---- Session ids and retransmission limits (protocol 4.2, 4.8) ----------------------------- */

/* session_id 0 names no session (4.2: non-zero): NegotiationReject, nothing kept. */
static void test_session_id_zero(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_new(&f, SS_UDP);
	add_negotiate(&d, 0, f.now);
	add_establish(&d, 0, f.now + 1, 1, 0);
	assert_int_equal(rx_parse(&f, &p, &d, o), 2);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_REJECT);
	assert_int_equal(o[0].m.negotiation_reject.reason, TKX_SREJ_UNSPECIFIED);
	assert_int_equal(o[1].m.template_id, TKX_ESTABLISHMENT_REJECT);
	assert_int_equal(o[1].m.establishment_reject.reason, TKX_SREJ_NOT_NEGOTIATED);
	assert_int_equal(ss_lookup(f.t, 0), -ENOENT);
	assert_int_equal(info(&f, 0).state, SS_FREE);
	assert_int_equal(stats(&f).neg_bad_session_id, 1);
	fx_close(&f);
}

/* The default limit of one RetransmitRequest is 256 messages (4.8); it was 128. */
static void test_retransmit_limit_default(void **state)
{
	struct ss_params p;
	struct fx f;
	struct ss_peer q = peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_event ev;
	unsigned slot, i;
	int n;

	(void)state;
	ss_params_default(&p);
	assert_int_equal(p.retrans_max, 256);
	params(&p, SS_UDP);
	p.retrans_depth = 1024;
	p.retrans_max = 256;
	fx_open(&f, &p);
	slot = open_session(&f, &q, 100, 0);
	memset(&ev, 0, sizeof(ev));
	ev.template_id = TKX_CANCELLED;
	ev.session = (uint16_t)slot;
	ev.src = CORE;
	for (i = 0; i < 300; i++) {
		ss_out_reset(f.out);
		ev.u.cancelled.cl_ord_id = i + 1;
		assert_int_equal(ss_event(f.t, &ev, 1, f.now, f.out), 1);
	}
	DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 256);
	n = rx_parse(&f, &q, &d, o);
	assert_int_equal(n, 257);
	assert_int_equal(o[0].m.template_id, TKX_RETRANSMISSION);
	assert_int_equal(o[0].m.retransmission.count, 256);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .from_seq_no = 1, .count = 257);
	n = rx_parse(&f, &q, &d, o);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].m.retransmit_reject.reason, TKX_SREJ_TOO_MANY);
	fx_close(&f);
}

/* ---- Logon replay (protocol 4.1, 4.4, 4.5) --------------------------------------------------- */

/* The exact bytes of a Negotiate + Establish, captured on the wire. */
struct capture {
	struct dg neg, est;
};

/* A session logs on (its datagrams captured), places an order and logs off. */
static unsigned victim(struct fx *f, const struct ss_peer *p, uint64_t sid, struct capture *cap)
{
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;

	cap->neg.n = cap->est.n = 0;
	add_negotiate(&cap->neg, sid, f->now);
	assert_int_equal(rx_parse(f, p, &cap->neg, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_RESPONSE);
	add_establish(&cap->est, sid, f->now + MS, 1, 0);
	f->now += 2 * MS;
	assert_int_equal(rx_parse(f, p, &cap->est, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_ACK);
	slot = (unsigned)ss_lookup(f->t, sid);
	if (f->tr == SS_UDP)
		dg_seq(&d, 1);
	add_order(&d, 1);
	ss_out_reset(f->out);
	assert_true(rx(f, p, &d) > 0);
	assert_int_equal(f->out->n_orders, 1);
	assert_int_equal(answer(f, &f->out->orders[0], 1), 1);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = sid);
	ss_out_reset(f->out);
	assert_true(rx(f, p, &d) > 0);
	assert_int_equal(info(f, slot).state, SS_TERMINATED);
	return slot;
}

/* The replayer's attempt, from another address: both refused STALE_TIMESTAMP, although
 * both timestamps are within the tolerance. On the old code both were accepted (only
 * |now - timestamp| was checked) and the replayer held the victim's session. */
static void expect_replay_refused(struct fx *f, const struct capture *cap, uint32_t peer)
{
	struct ss_peer q = peer_tr(f->tr, peer);
	struct omsg o[MAX_OMSGS];
	int n;

	f->now += MS;
	n = rx_parse(f, &q, &cap->neg, o);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_REJECT);
	assert_int_equal(o[0].m.negotiation_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	n = rx_parse(f, &q, &cap->est, o);
	assert_int_equal(n, 1);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_REJECT);
	assert_int_equal(o[0].m.establishment_reject.reason, TKX_SREJ_NOT_NEGOTIATED);
	assert_int_equal(f->out->n_orders, 0);
}

static void check_logon_replay(uint8_t transport)
{
	struct fx f;
	struct ss_peer p = peer_tr(transport, 1);
	struct capture cap;
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;

	fx_new(&f, transport);
	slot = victim(&f, &p, 100, &cap);
	expect_replay_refused(&f, &cap, 2);
	assert_int_equal(stats(&f).neg_replayed, 1);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	/* The victim itself logs on again with fresh messages: accepted. */
	f.now += MS;
	add_negotiate(&d, 100, f.now);
	assert_int_equal(rx_parse(&f, &p, &d, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_RESPONSE);
	/* An Establish older than that Negotiate (the captured one, replayed on the victim's
	 * own negotiated session, as from a spoofed UDP source): refused. */
	assert_int_equal(rx_parse(&f, &p, &cap.est, o), 1);
	assert_int_equal(o[0].m.establishment_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	assert_int_equal(stats(&f).est_replayed, 1);
	d.n = 0;
	add_establish(&d, 100, f.now + 1, 2, 0);
	assert_int_equal(rx_parse(&f, &p, &d, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_ESTABLISHMENT_ACK);
	/* A repeat of that Establish (same bytes) while established: refused too. */
	assert_int_equal(rx_parse(&f, &p, &d, o), 1);
	assert_int_equal(o[0].m.establishment_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	fx_close(&f);
}

static void test_logon_replay_udp(void **state)
{
	(void)state;
	check_logon_replay(SS_UDP);
}

static void test_logon_replay_tcp(void **state)
{
	(void)state;
	check_logon_replay(SS_TCP);
}

/* A session negotiated but never established keeps its slot when it ends (it used to be
 * freed at once, forgetting its timestamp: the same Negotiate replayed was accepted). */
static void test_logon_replay_never_established(void **state)
{
	struct fx f;
	struct ss_peer p = peer_n(1);
	struct dg neg = { .n = 0 }, d = { .n = 0 };
	struct omsg o[MAX_OMSGS];

	(void)state;
	fx_new(&f, SS_UDP);
	add_negotiate(&neg, 100, f.now);
	assert_int_equal(rx_parse(&f, &p, &neg, o), 1);
	DG_ADD(&d, terminate, .session_id = 100);
	ss_out_reset(f.out);
	assert_true(rx(&f, &p, &d) > 0);
	assert_int_equal(info(&f, 0).state, SS_TERMINATED);
	f.now += MS;
	{
		struct ss_peer q = peer_n(2);

		assert_int_equal(rx_parse(&f, &q, &neg, o), 1);
		assert_int_equal(o[0].m.negotiation_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	}
	fx_close(&f);
}

/* A slot is not reclaimed for another session id before the timestamp tolerance has
 * passed since its session ended, whatever the linger time: until then a captured
 * Negotiate of the forgotten session would be fresh enough to be accepted again. */
static void test_reclaim_waits_for_tolerance(void **state)
{
	struct ss_params pr;
	struct fx f;
	struct ss_peer p = peer_n(1), q = peer_n(2);
	struct capture cap;
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	unsigned slot;

	(void)state;
	params(&pr, SS_UDP);
	pr.max_sessions = 1;
	pr.linger_ms = 10;
	pr.ts_tolerance_ms = 1000;
	fx_open(&f, &pr);
	slot = victim(&f, &p, 100, &cap);
	/* its order may rest: answered SESSION_GONE-free, so make it reclaimable */
	{
		struct dp_order g;

		memset(&g, 0, sizeof(g));
		g.type = DP_ORD_SESSION_GONE;
		g.src = CORE;
		g.session = (uint16_t)slot;
		assert_int_equal(ss_restore_order(f.t, &g), 0);
	}
	f.now += 500 * MS; /* past the linger, within the tolerance */
	add_negotiate(&d, 200, f.now);
	assert_int_equal(rx_parse(&f, &q, &d, o), 1);
	assert_int_equal(o[0].m.negotiation_reject.reason, TKX_SREJ_UNSPECIFIED); /* full */
	assert_int_equal(ss_lookup(f.t, 100), (int)slot);
	f.now += 600 * MS;
	d.n = 0;
	add_negotiate(&d, 200, f.now);
	assert_int_equal(rx_parse(&f, &q, &d, o), 1);
	assert_int_equal(o[0].m.template_id, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ss_lookup(f.t, 100), -ENOENT);
	fx_close(&f);
}

/* Recovery: the journal's logon record (ss_restore_logon) and a snapshot both bring the
 * newest logon timestamp back, so the captured bytes stay refused after a restart. */
static void test_logon_mark_restored(void **state)
{
	struct fx live, rec, snap;
	struct ss_peer p = peer_n(1);
	struct capture cap;
	unsigned slot;
	uint8_t *blob;
	size_t cap_len;
	int64_t len;
	struct dp_snap_w w;
	char err[128];

	(void)state;
	fx_new(&live, SS_UDP);
	slot = victim(&live, &p, 100, &cap);
	/* Replay as recovery does it: SESSION record (first establishment), then the logon
	 * records; a logon record ahead of its SESSION record creates the session. */
	fx_new(&rec, SS_UDP);
	rec.now = live.now;
	assert_int_equal(ss_restore_logon(rec.t, slot, 100, 7, T0, rec.now), 0);
	assert_int_equal(info(&rec, slot).state, SS_TERMINATED);
	assert_int_equal(ss_restore_session(rec.t, slot, 100, 7, 1, rec.now), 0);
	assert_int_equal(ss_restore_logon(rec.t, slot, 100, 7, T0 - 5, rec.now), 0); /* older */
	expect_replay_refused(&rec, &cap, 2);
	/* The old code had no mark to restore: the same replay was accepted. */
	/* Snapshot of the live table, loaded into a fresh one. */
	cap_len = ss_snap_bound(live.t);
	blob = malloc(cap_len);
	assert_non_null(blob);
	dp_snap_w_init(&w, blob, cap_len);
	len = ss_snap_save(live.t, &w);
	assert_true(len > 0);
	fx_new(&snap, SS_UDP);
	snap.now = live.now;
	assert_int_equal(ss_snap_load(snap.t, blob, (size_t)len, snap.now, NULL, err, sizeof(err)),
			 0);
	expect_replay_refused(&snap, &cap, 3);
	free(blob);
	fx_close(&live);
	fx_close(&rec);
	fx_close(&snap);
}

/* ---- A session's replies in the order of its requests (protocol 4.8, 4.11; invariant 15) --- */

static void check_reply_order(uint8_t transport)
{
	struct fx f;
	struct ss_peer p = peer_tr(transport, 1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order a, b;
	unsigned slot;
	uint64_t next = 1;
	int n;

	fx_new(&f, transport);
	slot = open_session(&f, &p, 100, 0);
	/* Order 1, order 1 again (CLORDID_REUSED, the session layer's own answer), order 2,
	 * in one datagram (UDP) or three frames (TCP). */
	ss_out_reset(f.out);
	for (int k = 0; k < 3; k++) {
		if (transport == SS_UDP && k == 0)
			dg_seq(&d, 1);
		add_order(&d, k == 2 ? 2 : 1);
		if (transport == SS_TCP || k == 2) {
			assert_true(rx(&f, &p, &d) > 0);
			d.n = 0;
		}
	}
	/* Only order 1 goes; the reject and order 2 wait for its replies. The old code
	 * numbered and sent the reject at once, ahead of order 1's ack. */
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, slot).held, 2);
	assert_int_equal(info(&f, slot).inflight, 1);
	a = f.out->orders[0];
	assert_int_equal(a.cl_ord_id, 1);
	assert_int_equal(answer(&f, &a, 501), 1);
	assert_int_equal(f.out->n_orders, 2);
	b = f.out->orders[1];
	assert_int_equal(b.cl_ord_id, 2);
	assert_int_equal(b.in_seq, 3);
	assert_int_equal(answer(&f, &b, 502), 1);
	n = parse_num(&f, o, &next);
	assert_int_equal(n, 3);
	assert_int_equal(o[0].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[0].m.exec_ack.cl_ord_id, 1);
	assert_int_equal(o[0].seq, 1);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(o[1].seq, 2);
	assert_int_equal(o[2].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[2].m.exec_ack.cl_ord_id, 2);
	assert_int_equal(o[2].seq, 3);
	assert_int_equal(info(&f, slot).held, 0);
	assert_int_equal(info(&f, slot).inflight, 0);
	fx_close(&f);
}

static void test_reply_order_udp(void **state)
{
	(void)state;
	check_reply_order(SS_UDP);
}

static void test_reply_order_tcp(void **state)
{
	(void)state;
	check_reply_order(SS_TCP);
}

/* A flood over TCP: the THROTTLED rejects and the Terminate THROTTLE come after the replies
 * to every order accepted before them, fills included (the old code sent the Terminate
 * first and closed the session: those replies never went out on the connection). */
static void test_terminate_after_replies(void **state)
{
	struct ss_params pr;
	struct fx f;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order fwd[2];
	struct dp_event fill;
	unsigned slot;
	uint64_t next = 1;
	int n;

	(void)state;
	params(&pr, SS_TCP);
	pr.throttle_rate = 10;
	pr.throttle_burst = 2;
	pr.throttle_grace = 1;
	fx_open(&f, &pr);
	slot = open_session(&f, &p, 100, 1);
	ss_out_reset(f.out);
	for (unsigned k = 1; k <= 5; k++) {
		d.n = 0;
		add_order(&d, k);
		assert_true(rx(&f, &p, &d) >= 0);
	}
	/* 1, 2 forwarded; 3 THROTTLED (held); 4 over the grace: the end (held); 5 dropped. */
	assert_int_equal(f.out->n_orders, 2);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	assert_int_equal(info(&f, slot).closing, 1);
	assert_int_equal(stats(&f).rx_after_terminate, 1);
	memcpy(fwd, f.out->orders, sizeof(fwd));
	ss_out_reset(f.out);
	/* Order 1 trades: its fill, then its ack marked as the last reply. */
	memset(&fill, 0, sizeof(fill));
	fill.template_id = TKX_FILL;
	fill.session = (uint16_t)slot;
	fill.src = CORE;
	fill.u.fill = (struct tkx_fill){ .cl_ord_id = 1, .order_id = 601, .trade_id = 9,
					 .price = 12345, .transact_time = T0, .qty = 10,
					 .contract_id = 42, .side = TKX_SIDE_BUY, .aggressor = 1 };
	assert_int_equal(event(&f, &fill), 1);
	assert_int_equal(answer(&f, &fwd[0], 601), 1);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED); /* order 2 is in flight */
	assert_int_equal(answer(&f, &fwd[1], 602), 1);
	n = parse_num(&f, o, &next);
	assert_int_equal(n, 5);
	assert_int_equal(o[0].m.template_id, TKX_FILL);
	assert_int_equal(o[1].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[2].m.template_id, TKX_EXEC_ACK);
	assert_int_equal(o[3].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(o[3].m.exec_reject.reason, TKX_REJ_THROTTLED);
	assert_int_equal(o[3].m.exec_reject.cl_ord_id, 3);
	assert_int_equal(o[3].seq, 4);
	assert_int_equal(o[4].m.template_id, TKX_TERMINATE);
	assert_int_equal(o[4].m.terminate.reason, TKX_TERM_THROTTLE);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(f.out->n_orders, 1); /* cancel-on-disconnect, after the orders */
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	fx_close(&f);
}

/* At most max(retrans_depth / 4, 64) requests of a session are unanswered (64 here): on
 * TCP the next frame is refused -EAGAIN, nothing done (the gateway stops reading the
 * connection); on UDP a datagram that could exceed it is refused the same way. */
static void test_unanswered_bound(void **state)
{
	struct fx f;
	struct ss_peer p = tcp_peer_n(1), q = peer_n(2);
	struct dg d = { .n = 0 };
	static struct dp_order fwd[64];
	unsigned k;

	(void)state;
	fx_new(&f, SS_TCP);
	open_session(&f, &p, 100, 0);
	for (k = 1; k <= 64; k++) {
		d.n = 0;
		add_order(&d, k);
		assert_int_equal(rx(&f, &p, &d), 1);
		fwd[k - 1] = f.out->orders[f.out->n_orders - 1];
		if (f.out->n_orders > SS_OUT_ORDERS - 4)
			ss_out_reset(f.out);
	}
	ss_out_reset(f.out);
	d.n = 0;
	add_order(&d, 65);
	assert_int_equal(rx(&f, &p, &d), -EAGAIN);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, 0).next_in, 65); /* nothing taken */
	assert_int_equal(stats(&f).rx_backpressure, 1);
	assert_int_equal(answer(&f, &fwd[0], 1), 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(f.out->n_orders, 1);
	fx_close(&f);

	fx_new(&f, SS_UDP);
	open_session(&f, &q, 200, 0);
	/* 25 NewOrders (56 bytes each) and a Sequence fill 1416 of TKX_MAX_DGRAM's 1472. */
	d.n = 0;
	dg_seq(&d, 1);
	for (k = 1; k <= 25; k++)
		add_order(&d, k);
	assert_int_equal(d.n, 16 + 25 * 56);
	assert_int_equal(rx(&f, &q, &d), 26);
	assert_int_equal(f.out->n_orders, 25);
	memcpy(fwd, f.out->orders, 25 * sizeof(fwd[0]));
	ss_out_reset(f.out);
	d.n = 0;
	dg_seq(&d, 26);
	for (k = 26; k <= 50; k++)
		add_order(&d, k);
	assert_int_equal(rx(&f, &q, &d), -EAGAIN); /* 25 + up to 1416 / 32 = 44 > 64 */
	for (k = 0; k < 25; k++)
		assert_int_equal(answer(&f, &fwd[k], k), 1);
	ss_out_reset(f.out);
	assert_int_equal(rx(&f, &q, &d), 26);
	assert_int_equal(f.out->n_orders, 25);
	fx_close(&f);
}

/* A request the owner could not deliver (ss_reject_order(): BUSY, UNKNOWN_CONTRACT) is
 * answered by that reject: what the session held behind it goes at the owner's next
 * ss_release() (or ss_event(), ss_tick()). A broadcast mass cancel is answered by its
 * last part. */
static void test_answered_other_ways(void **state)
{
	struct fx f;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };
	struct omsg o[MAX_OMSGS];
	struct dp_order a;
	struct dp_event part;
	unsigned slot;
	uint64_t next = 1;

	(void)state;
	fx_new(&f, SS_TCP);
	slot = open_session(&f, &p, 100, 0);
	for (int k = 0; k < 2; k++) {
		d.n = 0;
		add_order(&d, 1);
		assert_int_equal(rx(&f, &p, &d), 1);
	}
	a = f.out->orders[0];
	ss_out_reset(f.out);
	assert_int_equal(ss_reject_order(f.t, &a, TKX_REJ_BUSY, f.now, f.out), 0);
	assert_int_equal(info(&f, slot).held, 1);
	assert_int_equal(ss_release(f.t, f.now, f.out), 0);
	assert_int_equal(info(&f, slot).held, 0);
	assert_int_equal(parse_num(&f, o, &next), 2);
	assert_int_equal(o[0].m.exec_reject.reason, TKX_REJ_BUSY);
	assert_int_equal(o[1].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	/* Mass cancel of every contract on two cores, then order 1 again. */
	ss_out_reset(f.out);
	d.n = 0;
	DG_ADD(&d, mass_cancel, .cl_ord_id = 5, .scope = TKX_SCOPE_SESSION);
	assert_int_equal(rx(&f, &p, &d), 1);
	d.n = 0;
	add_order(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	assert_int_equal(info(&f, slot).held, 1);
	memset(&part, 0, sizeof(part));
	part.template_id = TKX_MASS_CANCEL_ACK;
	part.session = (uint16_t)slot;
	part.src = CORE;
	part.parts = 2;
	part.pad[1] = DP_EV_DONE;
	part.u.mass_ack = (struct tkx_mass_cancel_ack){ .cl_ord_id = 5, .transact_time = T0,
							.count = 1, .scope = TKX_SCOPE_SESSION };
	assert_int_equal(event(&f, &part), 1);
	assert_int_equal(info(&f, slot).held, 1); /* one part of two */
	assert_int_equal(event(&f, &part), 1);
	assert_int_equal(info(&f, slot).held, 0);
	fx_close(&f);
}

/* A TCP disconnect with requests in flight: the session ends (SESSION_GONE) after their
 * replies, which are numbered and kept, not sent to the gone connection; a reply that
 * never comes is let go by the backstop (3 x keepalive_max_ms). */
static void test_disconnect_waits(void **state)
{
	struct fx f;
	struct ss_peer p = tcp_peer_n(1);
	struct dg d = { .n = 0 };
	struct dp_order a;
	unsigned slot;

	(void)state;
	fx_new(&f, SS_TCP);
	slot = open_session(&f, &p, 100, 1);
	add_order(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	a = f.out->orders[0];
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), 0);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(info(&f, slot).closing, 1);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), 0); /* once */
	assert_int_equal(answer(&f, &a, 1), 1);
	assert_int_equal(f.out->n_bufs, 0);
	assert_int_equal(info(&f, slot).next_out, 2);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	/* Back on a new connection: its replies are sent again. */
	{
		struct ss_peer q = tcp_peer_n(2);
		struct dp_order a2;

		f.now += MS;
		assert_int_equal(open_session(&f, &q, 100, 0), slot);
		d.n = 0;
		add_order(&d, 2);
		assert_int_equal(rx(&f, &q, &d), 1);
		a2 = f.out->orders[0];
		ss_out_reset(f.out);
		assert_int_equal(answer(&f, &a2, 2), 1);
		assert_int_equal(f.out->n_bufs, 1);
		assert_memory_equal(&f.out->bufs[0].peer, &q, sizeof(q));
	}
	fx_close(&f);

	/* The backstop. */
	fx_new(&f, SS_TCP);
	slot = open_session(&f, &p, 100, 1);
	d.n = 0;
	add_order(&d, 1);
	assert_int_equal(rx(&f, &p, &d), 1);
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &p, f.now, f.out), 0);
	assert_true(ss_tick(f.t, f.now + 3 * 30000 * MS, f.out) >= 0);
	assert_int_equal(info(&f, slot).state, SS_ESTABLISHED);
	assert_true(ss_tick(f.t, f.now + 3 * 30000 * MS + 1, f.out) > 0);
	assert_int_equal(info(&f, slot).state, SS_TERMINATED);
	assert_int_equal(stats(&f).hold_timeouts, 1);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expected_after_gap_udp),
		cmocka_unit_test(test_expected_after_gap_tcp),
		cmocka_unit_test(test_first_establish_ahead),
		cmocka_unit_test(test_huge_jump_udp),
		cmocka_unit_test(test_huge_jump_tcp),
		cmocka_unit_test(test_wrong_direction_udp),
		cmocka_unit_test(test_wrong_direction_tcp),
		cmocka_unit_test(test_session_id_zero),
		cmocka_unit_test(test_retransmit_limit_default),
		cmocka_unit_test(test_logon_replay_udp),
		cmocka_unit_test(test_logon_replay_tcp),
		cmocka_unit_test(test_logon_replay_never_established),
		cmocka_unit_test(test_reclaim_waits_for_tolerance),
		cmocka_unit_test(test_logon_mark_restored),
		cmocka_unit_test(test_reply_order_udp),
		cmocka_unit_test(test_reply_order_tcp),
		cmocka_unit_test(test_terminate_after_replies),
		cmocka_unit_test(test_unanswered_bound),
		cmocka_unit_test(test_answered_other_ways),
		cmocka_unit_test(test_disconnect_waits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
