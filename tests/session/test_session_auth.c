/*
 * test_session_auth.c - UDP datagram authentication in the session layer (ss_session.h
 * invariant 16, docs/protocol.md 4.13): what a forged, replayed or misdirected datagram
 * can still do to an established session (nothing), and what the exchange seals.
 *
 * Each test plays one or two clients by hand: Negotiate and Establish signed with the
 * firm's secret, keys derived as a member derives them (tkx_auth_derive()), datagrams
 * sealed with tkx_auth_seal(), and every buffer the table produces passed through
 * ss_seal() and opened again with the client's keys before it is decoded.
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

#define MS 1000000ull
#define T0 (1700000000ull * 1000000000ull)
#define MAX_OUT 64

static const struct ss_firm firms[] = {
	{ .firm_id = 7, .key_len = 8, .key = "secret-7" },
	{ .firm_id = 9, .key_len = 6, .key = "key--9" },
};

/* ---- Fixture ----------------------------------------------------------------------------- */

struct fx {
	void *mem;
	struct ss_table *t;
	struct ss_out *out;
	uint64_t now;
};

/* A table of max_sessions slots that lingers linger_ms and refuses Negotiates at or before
 * floor (ss_params.logon_floor_ns). */
static void fx_open_p(struct fx *f, uint8_t auth, uint32_t max_sessions,
		      uint32_t linger_ms, uint64_t floor)
{
	struct ss_params p;
	size_t len;

	ss_params_default(&p);
	assert_int_equal(p.udp_auth, SS_AUTH_REQUIRED); /* the default */
	assert_int_equal(p.logon_floor_ns, 0);
	p.max_sessions = max_sessions;
	p.linger_ms = linger_ms;
	p.logon_floor_ns = floor;
	p.core = 1;
	p.firms = firms;
	p.n_firms = 2;
	p.throttle_rate = 0;
	p.retrans_depth = 64;
	p.retrans_max = 64;
	p.log_depth = 64;
	p.udp_auth = auth;
	len = ss_table_memsize(&p);
	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->t = ss_table_init(f->mem, len, &p);
	assert_non_null(f->t);
	f->out = calloc(1, sizeof(*f->out));
	assert_non_null(f->out);
	f->now = T0;
}

static void fx_open(struct fx *f, uint8_t auth)
{
	fx_open_p(f, auth, 8, 10000, 0);
}

static void fx_close(struct fx *f)
{
	free(f->out);
	free(f->mem);
}

static struct ss_stats stats(const struct fx *f)
{
	struct ss_stats s;

	ss_stats_read(f->t, &s);
	return s;
}

/* The four counters of a datagram refused whole. */
static uint64_t refused(const struct ss_stats *s)
{
	return s->auth_missing + s->auth_no_session + s->auth_bad_mac + s->auth_replay;
}

/* ---- A client, by hand ------------------------------------------------------------------- */

struct cl {
	struct ss_peer peer;
	uint64_t sid;
	const struct ss_firm *firm;
	uint64_t neg_ts;           /* the Negotiate its keys come from */
	struct tkx_auth_keys k;
	uint64_t tx, rx;           /* its counter; the exchange's last accepted */
	uint64_t next_seq;         /* number of its next application message */
	uint64_t cl;               /* last cl_ord_id */
};

static void cl_init(struct cl *c, uint32_t n, uint64_t sid, const struct ss_firm *firm)
{
	memset(c, 0, sizeof(*c));
	c->peer.mac[5] = (uint8_t)n;
	c->peer.ip = 0x0a000000u + n;
	c->peer.port = (uint16_t)(20000 + n);
	c->sid = sid;
	c->firm = firm;
	c->next_seq = 1;
}

struct dg {
	uint8_t b[TKX_MAX_DGRAM];
	size_t n;
};

#define DG_ADD(d, name, ...)                                                                \
	do {                                                                                \
		struct tkx_##name m_ = { __VA_ARGS__ };                                     \
		int r_ = tkx_enc_##name((d)->b + (d)->n, sizeof((d)->b) - (d)->n, &m_);     \
		assert_true(r_ > 0);                                                        \
		(d)->n += (size_t)r_;                                                       \
	} while (0)

static void dg_negotiate(struct dg *d, const struct cl *c, uint64_t ts)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, negotiate, .session_id = c->sid, .timestamp = ts, .firm_id = c->firm->firm_id);
	assert_int_equal(tkx_sign(c->firm->key, c->firm->key_len, at, TKX_HDR_LEN + 56), 0);
}

static void dg_establish(struct dg *d, const struct cl *c, uint64_t ts)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, establish, .session_id = c->sid, .timestamp = ts, .next_seq_no = c->next_seq,
	       .keepalive_ms = 1000, .cancel_on_disconnect = 1);
	assert_int_equal(tkx_sign(c->firm->key, c->firm->key_len, at, TKX_HDR_LEN + 64), 0);
}

/* Sequence(next) + one NewOrder with cl_ord_id cl: the datagram of one request. */
static void dg_order(struct dg *d, uint64_t seq, uint64_t cl)
{
	DG_ADD(d, sequence, .next_seq_no = seq);
	DG_ADD(d, new_order, .cl_ord_id = cl, .price = 12345, .qty = 10, .contract_id = 42,
	       .account = 5, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
}

static void seal(struct cl *c, struct dg *d)
{
	int n = tkx_auth_seal(c->k.c2e, ++c->tx, d->b, d->n, sizeof(d->b));

	assert_true(n > 0);
	d->n = (size_t)n;
}

/* d from peer, out emptied first; ss_rx()'s answer. */
static int rx(struct fx *f, const struct ss_peer *peer, const struct dg *d)
{
	ss_out_reset(f->out);
	return ss_rx(f->t, peer, d->b, d->n, f->now, f->out);
}

/* What the table produced for c, sealed by ss_seal() and opened with c's keys: each
 * message's template into tids (decoded into m when not NULL); the count. A buffer for c
 * that does not verify, or whose counter does not increase, fails the test. */
static int out_for(struct fx *f, struct cl *c, int sealed, uint16_t *tids, struct tkx_msg *m)
{
	int n = 0;

	ss_seal(f->t, f->out);
	for (unsigned i = 0; i < f->out->n_bufs; i++) {
		const struct ss_buf *b = &f->out->bufs[i];
		struct tkx_dgram_iter it;
		struct tkx_msg x;
		size_t len = b->len;

		if (memcmp(&b->peer, &c->peer, sizeof(c->peer)) != 0)
			continue;
		assert_true(len <= TKX_MAX_DGRAM);
		if (sealed) {
			uint64_t ctr = 0;
			int o = tkx_auth_open(c->k.e2c, b->bytes, len, &ctr);

			assert_true(o >= 0);
			assert_true(ctr > c->rx);
			c->rx = ctr;
			len = (size_t)o;
		} else {
			assert_int_equal(tkx_auth_find(b->bytes, len), -ENOENT);
		}
		tkx_dgram_init(&it, b->bytes, len);
		while (tkx_dgram_next(&it, &x) > 0) {
			assert_true(n < MAX_OUT);
			tids[n] = x.template_id;
			if (m)
				m[n] = x;
			n++;
		}
		assert_int_equal(it.off, len);
	}
	return n;
}

/* Negotiate at ts, then Establish, both unsealed (each signed by itself); the client
 * derives its keys from its Negotiate, and both answers must verify under them. */
static unsigned logon(struct fx *f, struct cl *c, uint64_t ts)
{
	struct dg d = { .n = 0 };
	uint16_t t[MAX_OUT];
	int slot;

	dg_negotiate(&d, c, ts);
	assert_int_equal(tkx_auth_derive(c->firm->key, c->firm->key_len, c->sid,
					 c->firm->firm_id, ts, &c->k), 0);
	c->neg_ts = ts;
	c->tx = c->rx = 0;
	assert_int_equal(rx(f, &c->peer, &d), 1);
	assert_int_equal(out_for(f, c, 1, t, NULL), 1);
	assert_int_equal(t[0], TKX_NEGOTIATION_RESPONSE);
	d.n = 0;
	dg_establish(&d, c, ts + 1); /* newer than the Negotiate (ss_session.h 14) */
	assert_int_equal(rx(f, &c->peer, &d), 1);
	assert_int_equal(out_for(f, c, 1, t, NULL), 1);
	assert_int_equal(t[0], TKX_ESTABLISHMENT_ACK);
	ss_out_reset(f->out);
	slot = ss_lookup(f->t, c->sid);
	assert_true(slot >= 0);
	return (unsigned)slot;
}

/* A sealed order from c: forwarded (one dp_order with cl_ord_id cl). */
/* Its matching core's answer: the request's end, on an event of its own (dp_msg.h
 * DP_EV_DONE; no reply). Nothing the session holds waits behind it (ss_session.h 15). */
static void core_done(struct fx *f, const struct dp_order *o)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.src = o->src;
	e.session = o->session;
	e.pad[1] = DP_EV_DONE;
	assert_int_equal(ss_event(f->t, &e, 1, f->now, f->out), 1);
	assert_int_equal(ss_release(f->t, f->now, f->out), 0);
}

static void order_ok(struct fx *f, struct cl *c)
{
	struct dg d = { .n = 0 };

	dg_order(&d, c->next_seq++, ++c->cl);
	seal(c, &d);
	assert_int_equal(rx(f, &c->peer, &d), 2);
	assert_int_equal(f->out->n_orders, 1);
	assert_int_equal(f->out->orders[0].cl_ord_id, c->cl);
	core_done(f, &f->out->orders[0]);
}

/* d from peer is dropped whole: no order, no reply, counter `which` + 1, the session's
 * numbering untouched. */
#define DROPPED(f, peer, d, which)                                                       \
	do {                                                                             \
		struct ss_stats b_ = stats(f), a_;                                       \
		assert_int_equal(rx((f), (peer), (d)), 0);                               \
		assert_int_equal((f)->out->n_orders, 0);                                 \
		assert_int_equal((f)->out->n_bufs, 0);                                   \
		a_ = stats(f);                                                           \
		assert_int_equal(a_.which, b_.which + 1);                                \
		assert_int_equal(refused(&a_), refused(&b_) + 1);                        \
		assert_int_equal(a_.rx_msgs, b_.rx_msgs);                                \
	} while (0)

/* ---- Verify and refuse ------------------------------------------------------------------ */

static void test_sealed_order_forwarded(void **state)
{
	struct fx f;
	struct cl c;
	struct ss_stats s;

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	logon(&f, &c, f.now);
	order_ok(&f, &c);
	order_ok(&f, &c);
	s = stats(&f);
	assert_int_equal(s.app_forwarded, 2);
	assert_int_equal(refused(&s), 0);
	assert_int_equal(s.auth_rekeys, 1);
	fx_close(&f);
}

static void test_bad_mac_refused(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 }, good;
	unsigned slot;

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	slot = logon(&f, &c, f.now);
	dg_order(&d, c.next_seq, c.cl + 1);
	seal(&c, &d);
	good = d;
	/* Every byte matters: a flipped bit in the message, the counter or the MAC. */
	for (size_t at = 0; at < d.n; at += 7) {
		d = good;
		d.b[at] ^= 0x10;
		if (tkx_auth_find(d.b, d.n) < 0)
			DROPPED(&f, &c.peer, &d, auth_missing); /* the header itself was hit */
		else
			DROPPED(&f, &c.peer, &d, auth_bad_mac);
	}
	/* A MAC made with another key: the firm's secret itself, or another session's. */
	{
		struct cl other;

		cl_init(&other, 1, 101, &firms[0]);
		assert_int_equal(tkx_auth_derive(firms[0].key, firms[0].key_len, 101, 7, f.now,
						 &other.k), 0);
		d.n = 0;
		dg_order(&d, c.next_seq, c.cl + 1);
		seal(&other, &d);
		DROPPED(&f, &c.peer, &d, auth_bad_mac);
	}
	/* The good one still goes through: nothing above moved the session. */
	assert_int_equal(rx(&f, &c.peer, &good), 2);
	assert_int_equal(f.out->n_orders, 1);
	{
		struct ss_info i;

		assert_int_equal(ss_session_info(f.t, slot, &i), 0);
		assert_int_equal(i.state, SS_ESTABLISHED);
		assert_int_equal(i.next_in, c.next_seq + 1);
	}
	fx_close(&f);
}

/* The attack: from the session's own address, unsealed, a NewOrder with cl_ord_id
 * 2^64 - 1 (it would use up the session's cl_ord_id space) and a Terminate. */
static void test_spoofed_unsealed_refused(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 };
	unsigned slot;
	struct ss_info i;

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	slot = logon(&f, &c, f.now);
	order_ok(&f, &c);
	dg_order(&d, c.next_seq, UINT64_MAX);
	DROPPED(&f, &c.peer, &d, auth_missing);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = c.sid, .reason = TKX_TERM_FINISHED);
	DROPPED(&f, &c.peer, &d, auth_missing);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = c.sid, .timestamp = f.now,
	       .from_seq_no = 1, .count = 1);
	DROPPED(&f, &c.peer, &d, auth_missing);
	/* Nothing happened: established, numbering and cl_ord_id where the client left them. */
	assert_int_equal(ss_session_info(f.t, slot, &i), 0);
	assert_int_equal(i.state, SS_ESTABLISHED);
	assert_int_equal(i.last_cl_ord_id, c.cl);
	assert_int_equal(i.next_in, c.next_seq);
	order_ok(&f, &c);
	fx_close(&f);
}

/* ---- Address binding --------------------------------------------------------------------- */

static void test_bound_to_address(void **state)
{
	struct fx f;
	struct cl a, b, thief;
	struct dg d = { .n = 0 };

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&a, 1, 100, &firms[0]);
	cl_init(&b, 2, 200, &firms[1]);
	logon(&f, &a, f.now);
	logon(&f, &b, f.now);
	/* A's datagram, well sealed, from an address with no session. */
	dg_order(&d, a.next_seq, a.cl + 1);
	seal(&a, &d);
	thief = a;
	thief.peer.port ^= 1;
	DROPPED(&f, &thief.peer, &d, auth_no_session);
	/* ... and from B's address: it does not verify under B's keys. */
	DROPPED(&f, &b.peer, &d, auth_bad_mac);
	/* From A's own address it is A's (its counter was never accepted). */
	assert_int_equal(rx(&f, &a.peer, &d), 2);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(f.out->orders[0].session, (uint16_t)ss_lookup(f.t, a.sid));
	a.next_seq++;
	a.cl++;
	order_ok(&f, &b);
	fx_close(&f);
}

/* ---- Replay ------------------------------------------------------------------------------ */

static void test_replay_refused(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 }, first, term;
	uint16_t t[MAX_OUT];

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	logon(&f, &c, f.now);
	dg_order(&d, c.next_seq++, ++c.cl);
	seal(&c, &d);
	first = d;
	assert_int_equal(rx(&f, &c.peer, &d), 2);
	core_done(&f, &f.out->orders[0]);
	DROPPED(&f, &c.peer, &d, auth_replay); /* the same datagram again */
	/* A later datagram accepted, then an earlier one that was never seen: refused too
	 * (counters only go up; a datagram that comes late is lost, as on the wire). */
	c.tx += 5;
	order_ok(&f, &c);
	d.n = 0;
	dg_order(&d, c.next_seq, c.cl + 1);
	c.tx -= 3;
	seal(&c, &d);
	DROPPED(&f, &c.peer, &d, auth_replay);
	c.tx += 3;
	DROPPED(&f, &c.peer, &first, auth_replay);
	/* Session messages are protected the same way: a captured Terminate is played once. */
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = c.sid, .reason = TKX_TERM_FINISHED);
	seal(&c, &d);
	term = d;
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(out_for(&f, &c, 1, t, NULL), 1);
	assert_int_equal(t[0], TKX_TERMINATE);
	/* The same Negotiate played back is refused (not newer than the session's newest
	 * logon, ss_session.h invariant 14): its keys never come back with fresh counters,
	 * and with no live session at the address the captures go nowhere. */
	d.n = 0;
	dg_negotiate(&d, &c, c.neg_ts);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(out_for(&f, &c, 0, t, NULL), 1); /* no live session: unsealed */
	assert_int_equal(t[0], TKX_NEGOTIATION_REJECT);
	DROPPED(&f, &c.peer, &term, auth_no_session);
	DROPPED(&f, &c.peer, &first, auth_no_session);
	assert_int_equal(stats(&f).auth_rekeys, 1);
	fx_close(&f);
}

/* ---- Keys follow the Negotiate ------------------------------------------------------------ */

static void test_rekey(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 }, old;
	struct tkx_auth_keys k1;
	struct tkx_msg m[MAX_OUT];
	uint16_t t[MAX_OUT];
	uint64_t ts1;

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	ts1 = f.now;
	logon(&f, &c, ts1);
	k1 = c.k;
	order_ok(&f, &c);
	dg_order(&d, c.next_seq, c.cl + 1);
	seal(&c, &d);
	old = d; /* sealed under the first keys, never sent */
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = c.sid, .reason = TKX_TERM_FINISHED);
	seal(&c, &d);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	ss_out_reset(f.out);
	/* A Negotiate older than the one the keys came from: it would bring them back. */
	f.now += 2000 * MS;
	d.n = 0;
	dg_negotiate(&d, &c, ts1 - 1);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(out_for(&f, &c, 0, t, m), 1);
	assert_int_equal(t[0], TKX_NEGOTIATION_REJECT);
	assert_int_equal(m[0].negotiation_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	/* A newer one: new keys, both counters from the start. */
	logon(&f, &c, f.now);
	assert_memory_not_equal(&k1, &c.k, sizeof(k1));
	assert_int_equal(c.rx, 2); /* NegotiationResponse and EstablishmentAck: 1 and 2 */
	DROPPED(&f, &c.peer, &old, auth_bad_mac); /* the old keys are gone */
	assert_int_equal(c.tx, 0);
	order_ok(&f, &c); /* counter 1 again, under the new keys */
	assert_int_equal(stats(&f).auth_rekeys, 2);
	fx_close(&f);
}

/* Keys are never derived again from a Negotiate a session's history was made of: not after
 * a restart (which forgets every key: Negotiates from before the start are refused), and
 * not after the session's slot is given away (never while its Negotiate is not stale). */
static void test_keys_not_brought_back(void **state)
{
	struct fx f;
	struct cl a, b;
	struct dg d = { .n = 0 };
	struct tkx_msg m[MAX_OUT];
	uint16_t t[MAX_OUT];
	uint64_t a_ts;

	(void)state;
	/* The owner started at T0: a Negotiate timestamped at T0 or before is refused. */
	fx_open_p(&f, SS_AUTH_REQUIRED, 8, 10000, T0);
	cl_init(&a, 1, 100, &firms[0]);
	dg_negotiate(&d, &a, T0);
	assert_int_equal(rx(&f, &a.peer, &d), 1);
	assert_int_equal(out_for(&f, &a, 0, t, m), 1);
	assert_int_equal(t[0], TKX_NEGOTIATION_REJECT);
	assert_int_equal(m[0].negotiation_reject.reason, TKX_SREJ_STALE_TIMESTAMP);
	logon(&f, &a, T0 + 1);
	fx_close(&f);

	/* One slot, a short linger: A's slot goes to B only once A's Negotiate is stale. */
	fx_open_p(&f, SS_AUTH_REQUIRED, 1, 100, 0);
	cl_init(&a, 1, 100, &firms[0]);
	cl_init(&b, 2, 200, &firms[0]);
	a_ts = f.now;
	logon(&f, &a, a_ts);
	order_ok(&f, &a); /* a resting order: the slot may still have orders ... */
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = a.sid, .reason = TKX_TERM_FINISHED);
	seal(&a, &d);
	assert_int_equal(rx(&f, &a.peer, &d), 1);
	assert_int_equal(f.out->n_orders, 1); /* ... until its cancel-on-disconnect */
	assert_int_equal(f.out->orders[0].type, DP_ORD_SESSION_GONE);
	f.now += 1000 * MS; /* lingered long enough, but A's Negotiate is not stale yet */
	d.n = 0;
	dg_negotiate(&d, &b, f.now);
	assert_int_equal(rx(&f, &b.peer, &d), 1);
	assert_int_equal(out_for(&f, &b, 0, t, m), 1);
	assert_int_equal(t[0], TKX_NEGOTIATION_REJECT);
	assert_int_equal(m[0].negotiation_reject.reason, TKX_SREJ_UNSPECIFIED); /* table full */
	f.now = a_ts + 1 + 30000 * MS + 1; /* 30 s, the default tolerance, after A's last logon
					    * (its Establish at a_ts + 1) */
	logon(&f, &b, f.now);
	assert_int_equal(ss_lookup(f.t, a.sid), -ENOENT); /* A is forgotten only now */
	assert_int_equal(stats(&f).reclaimed, 1);
	fx_close(&f);
}

/* A client that lost its keys can still log on from its address: Negotiate and
 * Establish are signed by themselves. Anything else unsealed is refused. */
static void test_logons_unsealed(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 };
	uint16_t t[MAX_OUT];

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	logon(&f, &c, f.now);
	/* Establish again while ESTABLISHED (newer than the last logon): re-acked (sealed). */
	dg_establish(&d, &c, f.now + 2);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(out_for(&f, &c, 1, t, NULL), 1);
	assert_int_equal(t[0], TKX_ESTABLISHMENT_ACK);
	/* A Negotiate and an order in one unsealed datagram: refused whole. */
	d.n = 0;
	dg_negotiate(&d, &c, f.now + 3);
	dg_order(&d, c.next_seq, c.cl + 1);
	DROPPED(&f, &c.peer, &d, auth_missing);
	fx_close(&f);
}

/* ---- What the exchange sends ------------------------------------------------------------- */

static void test_exchange_seals(void **state)
{
	struct fx f;
	struct cl c, stranger;
	struct dg d = { .n = 0 };
	uint16_t t[MAX_OUT];
	struct dp_event e;
	unsigned slot;
	int n;

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	slot = logon(&f, &c, f.now); /* both answers sealed (checked in logon) */
	/* A reply from matching: one numbered datagram, sealed, counter 3. */
	memset(&e, 0, sizeof(e));
	e.template_id = TKX_EXEC_ACK;
	e.session = (uint16_t)slot;
	e.src = 1;
	e.u.ack = (struct tkx_exec_ack){ .cl_ord_id = 1, .order_id = 9, .price = 12345,
					      .qty = 10, .contract_id = 42,
					      .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
	ss_out_reset(f.out);
	assert_int_equal(ss_event(f.t, &e, 1, f.now, f.out), 1);
	n = out_for(&f, &c, 1, t, NULL);
	assert_int_equal(n, 2);
	assert_int_equal(t[0], TKX_SEQUENCE);
	assert_int_equal(t[1], TKX_EXEC_ACK);
	assert_int_equal(c.rx, 3);
	/* Sealing twice seals once; a sealed buffer takes nothing more. */
	ss_seal(f.t, f.out);
	assert_int_equal(f.out->bufs[0].len, 16 + 56 + TKX_AUTH_LEN);
	assert_int_equal(ss_event(f.t, &e, 1, f.now, f.out), 1);
	assert_int_equal(f.out->n_bufs, 2);
	/* A heartbeat is sealed too. */
	ss_out_reset(f.out);
	f.now += 1000 * MS;
	assert_int_equal(ss_tick(f.t, f.now, f.out), 1);
	assert_int_equal(out_for(&f, &c, 1, t, NULL), 1);
	assert_int_equal(t[0], TKX_SEQUENCE);
	/* To an address without a session (a refused Negotiate) nothing can be sealed. */
	cl_init(&stranger, 3, 300, &firms[0]);
	stranger.firm = &(struct ss_firm){ .firm_id = 7, .key_len = 5, .key = "wrong" };
	dg_negotiate(&d, &stranger, f.now);
	assert_int_equal(rx(&f, &stranger.peer, &d), 1);
	assert_int_equal(out_for(&f, &stranger, 0, t, NULL), 1);
	assert_int_equal(t[0], TKX_NEGOTIATION_REJECT);
	fx_close(&f);
}

/* A DatagramAuth anywhere but last, or on TCP, is not one: BusinessReject UNSUPPORTED. */
static void test_misplaced(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 };
	struct tkx_msg m[MAX_OUT];
	uint16_t t[MAX_OUT];

	(void)state;
	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	logon(&f, &c, f.now);
	DG_ADD(&d, datagram_auth, .counter = 1);
	DG_ADD(&d, sequence, .next_seq_no = c.next_seq);
	seal(&c, &d);
	assert_int_equal(rx(&f, &c.peer, &d), 2);
	assert_int_equal(out_for(&f, &c, 1, t, m), 2); /* numbered: Sequence first */
	assert_int_equal(t[1], TKX_BUSINESS_REJECT);
	assert_int_equal(m[1].business_reject.reason, TKX_BREJ_UNSUPPORTED);
	assert_int_equal(stats(&f).auth_misplaced, 1);
	fx_close(&f);

	fx_open(&f, SS_AUTH_REQUIRED);
	cl_init(&c, 1, 100, &firms[0]);
	c.peer.conn = 0x10001; /* a TCP connection (ss_session.h invariant 12) */
	d.n = 0;
	DG_ADD(&d, datagram_auth, .counter = 1);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(f.out->n_bufs, 1);
	assert_int_equal(stats(&f).auth_misplaced, 1);
	fx_close(&f);
}

/* sessions.udp_auth off: nothing checked, nothing sealed; a trailing DatagramAuth from a
 * client that seals anyway is dropped unread. */
static void test_off(void **state)
{
	struct fx f;
	struct cl c;
	struct dg d = { .n = 0 };
	uint16_t t[MAX_OUT];

	(void)state;
	fx_open(&f, SS_AUTH_OFF);
	cl_init(&c, 1, 100, &firms[0]);
	dg_negotiate(&d, &c, f.now);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	assert_int_equal(out_for(&f, &c, 0, t, NULL), 1);
	d.n = 0;
	dg_establish(&d, &c, f.now + 1);
	assert_int_equal(rx(&f, &c.peer, &d), 1);
	d.n = 0;
	dg_order(&d, 1, 1);
	assert_int_equal(rx(&f, &c.peer, &d), 2); /* bare */
	assert_int_equal(f.out->n_orders, 1);
	d.n = 0;
	dg_order(&d, 2, 2);
	DG_ADD(&d, datagram_auth, .counter = 9); /* any MAC */
	assert_int_equal(rx(&f, &c.peer, &d), 2);
	assert_int_equal(f.out->n_orders, 1);
	assert_int_equal(refused(&(struct ss_stats){ 0 }), 0);
	{
		struct ss_stats s = stats(&f);

		assert_int_equal(refused(&s), 0);
		assert_int_equal(s.auth_rekeys, 0);
		assert_int_equal(s.auth_misplaced, 0);
	}
	fx_close(&f);
}

static void test_params(void **state)
{
	struct ss_params p;

	(void)state;
	ss_params_default(&p);
	p.firms = firms;
	p.n_firms = 2;
	assert_true(ss_table_memsize(&p) > 0);
	p.udp_auth = 2;
	assert_int_equal(ss_table_memsize(&p), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sealed_order_forwarded),
		cmocka_unit_test(test_bad_mac_refused),
		cmocka_unit_test(test_spoofed_unsealed_refused),
		cmocka_unit_test(test_bound_to_address),
		cmocka_unit_test(test_replay_refused),
		cmocka_unit_test(test_rekey),
		cmocka_unit_test(test_keys_not_brought_back),
		cmocka_unit_test(test_logons_unsealed),
		cmocka_unit_test(test_exchange_seals),
		cmocka_unit_test(test_misplaced),
		cmocka_unit_test(test_off),
		cmocka_unit_test(test_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
