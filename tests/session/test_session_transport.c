/*
 * test_session_transport.c - one session table for both transports (ss_session.h
 * invariant 12): a session_id is one session whether UDP datagrams or a TCP connection
 * carry it. Terminated on one transport it resumes on the other with its numbering both
 * ways, retransmit ring and cl_ord_id history; live on one it is SESSION_IN_USE on the
 * other; its requests are the same (core, slot) to the matching core whichever transport
 * carried them, so a SESSION-scope MassCancel reaches every order it entered. A real
 * matching core (mc_core) answers the requests. UDP peers have conn 0, TCP peers a
 * connection id; TCP messages go to ss_rx() one per call (the gateway's frames), and
 * replies to a TCP peer are checked SOFH-framed.
 *
 * Before one table, each table had one transport and the gateway kept the TCP sessions in
 * a table of its own: resuming over TCP after a UDP Terminate negotiated a NEW session
 * (numbering from 1), a resent cl_ord_id was forwarded and executed a second time,
 * RetransmitRequest of the UDP messages got OUT_OF_RANGE, and a SESSION-scope MassCancel
 * cancelled nothing entered over UDP; a table of one transport answered the other's peer
 * in its own framing. Each test below checks one of these.
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

#define MS 1000000ull
#define T0 (1700000000ull * 1000000000ull)
#define CORE 0
#define C1 202612
#define MAXR 256

static const struct ss_firm firms[] = {
	{ .firm_id = 7, .key_len = 8, .key = "secret-7" },
};
#define FIRM7 (&firms[0])

/* ---- Fixture: one table, one matching core ------------------------------------------ */

/* One message the table sent. */
struct rep {
	struct tkx_msg m;
	int tcp;          /* it went to a TCP peer, SOFH-framed */
	int end;          /* its chunk ends the connection (ss_buf.end) */
	uint64_t seq;     /* UDP: its number in a numbered datagram (0: unnumbered) */
	uint8_t raw[TKX_MAX_MSG_LEN];
	uint16_t len;
};

struct fx {
	void *mem;
	struct ss_table *t;
	struct ss_out *out;
	uint64_t now;
	void *mc_mem;
	struct mc_core *mc;
	struct rep r[MAXR];
	unsigned n;           /* replies collected since the last clear */
	unsigned forwarded;   /* dp_orders routed to the core since the last clear */
	struct dp_order last; /* the last of them */
	int keyed;            /* UDP datagrams to the client are opened with k (auth on) */
	struct tkx_auth_keys k;
	uint64_t k_rx;        /* the exchange's last counter seen under k */
	uint64_t k_tx;        /* the client's last counter under k */
};

static struct dp_event obuf[8];
static struct dp_event evq[512];
static unsigned evq_n;

static void to_q(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (o->ev[i].template_id < TKX_MD_TOP_OF_BOOK) {
			assert_true(evq_n < 512);
			evq[evq_n++] = o->ev[i];
		}
	o->n = 0;
}

static struct mc_out mout = { obuf, 0, 8, to_q, NULL };

static void fx_open_auth(struct fx *f, uint8_t udp_auth)
{
	struct ss_params p;

	memset(f, 0, sizeof(*f));
	ss_params_default(&p);
	p.max_sessions = 8;
	p.core = CORE;
	p.firms = firms;
	p.n_firms = 1;
	p.throttle_rate = 0;
	p.retrans_depth = 64;
	p.retrans_max = 64;
	p.log_depth = 256;
	/* Bare datagrams but in test_auth_resume: authentication has test_session_auth.c. */
	p.udp_auth = udp_auth;
	size_t len = ss_table_memsize(&p);
	assert_true(len > 0);
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->t = ss_table_init(f->mem, len, &p);
	assert_non_null(f->t);
	f->out = calloc(1, sizeof(*f->out));
	assert_non_null(f->out);
	f->now = T0;

	struct mc_contract_params cp;
	memset(&cp, 0, sizeof(cp));
	cp.id = C1;
	cp.book = (struct me_params){ .price_lo = 20000, .price_hi = 30000, .tick = 10,
				      .max_qty = 1000, .max_orders = 64 };
	cp.phase = TKX_PHASE_CONTINUOUS;
	struct mc_core_cfg cc = { .capacity = 1, .accounts = MC_DEFAULT_ACCOUNTS, .det_srcs = 1,
				  .det_sessions = 8 };
	size_t ml = mc_core_memsize_cfg(&cp, 1, &cc);
	f->mc_mem = aligned_alloc(64, (ml + 63) & ~(size_t)63);
	assert_non_null(f->mc_mem);
	f->mc = mc_core_init_cfg(f->mc_mem, ml, &cp, 1, &cc);
	assert_non_null(f->mc);
	evq_n = 0;
}

static void fx_open(struct fx *f)
{
	fx_open_auth(f, SS_AUTH_OFF);
}

static void fx_close(struct fx *f)
{
	free(f->out);
	free(f->mem);
	free(f->mc_mem);
}

static struct ss_peer udp_peer(uint32_t n)
{
	struct ss_peer p;

	memset(&p, 0, sizeof(p));
	p.mac[5] = (uint8_t)n;
	p.ip = 0x0a000000u + n;
	p.port = (uint16_t)(20000 + n);
	return p;
}

static struct ss_peer tcp_peer(uint32_t n)
{
	struct ss_peer p;

	memset(&p, 0, sizeof(p));
	p.ip = 0x0100007fu; /* 127.0.0.1, network order */
	p.port = (uint16_t)(30000 + n);
	p.conn = 0x10000u | n; /* the gateway's gen << 16 | slot: never 0 */
	return p;
}

static struct ss_info info(const struct fx *f, uint64_t sid)
{
	struct ss_info i;
	int slot = ss_lookup(f->t, sid);

	assert_true(slot >= 0);
	assert_int_equal(ss_session_info(f->t, (unsigned)slot, &i), 0);
	return i;
}

static struct ss_stats stats(const struct fx *f)
{
	struct ss_stats s;

	ss_stats_read(f->t, &s);
	return s;
}

/* ---- Messages in ------------------------------------------------------------------------ */

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

static void dg_negotiate(struct dg *d, uint64_t sid, uint64_t ts)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, negotiate, .session_id = sid, .timestamp = ts, .firm_id = FIRM7->firm_id);
	assert_int_equal(tkx_sign(FIRM7->key, FIRM7->key_len, at, TKX_HDR_LEN + 56), 0);
}

static void dg_establish(struct dg *d, uint64_t sid, uint64_t ts, uint64_t next_seq)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, establish, .session_id = sid, .timestamp = ts, .next_seq_no = next_seq,
	       .keepalive_ms = 1000, .cancel_on_disconnect = 0);
	assert_int_equal(tkx_sign(FIRM7->key, FIRM7->key_len, at, TKX_HDR_LEN + 64), 0);
}

static void dg_buy(struct dg *d, uint64_t cl, int64_t price)
{
	DG_ADD(d, new_order, .cl_ord_id = cl, .price = price, .qty = 10, .contract_id = C1,
	       .account = 0, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
}

/* Decodes every buffer of out into f->r: UDP datagrams (numbered ones: their Sequence
 * or Retransmission numbers the application messages after it) or TCP frames. */
static void collect(struct fx *f)
{
	ss_seal(f->t, f->out); /* as the owner does before sending (SS_AUTH_REQUIRED) */
	for (uint32_t i = 0; i < f->out->n_bufs; i++) {
		const struct ss_buf *b = &f->out->bufs[i];
		int tcp = b->peer.conn != 0;
		size_t off = 0, end = b->len;
		uint64_t cur = 0;
		int first = 1;

		if (tcp) {
			assert_int_equal(tkx_auth_find(b->bytes, b->len), -ENOENT); /* never sealed */
		} else if (f->keyed && b->slot != SS_NO_SLOT) {
			uint64_t ctr;
			int o = tkx_auth_open(f->k.e2c, b->bytes, b->len, &ctr);

			assert_true(o > 0); /* sealed under the session's newest keys */
			assert_true(ctr > f->k_rx);
			f->k_rx = ctr;
			end = (size_t)o;
		}
		while (off < end) {
			struct rep *x = &f->r[f->n];
			const uint8_t *msg;
			int r;

			assert_true(f->n < MAXR);
			memset(x, 0, sizeof(*x));
			x->tcp = tcp;
			x->end = b->end;
			if (tcp) {
				r = tkx_decode_frame(b->bytes + off, b->len - off, &x->m);
				assert_true(r > TKX_SOFH_LEN);
				msg = b->bytes + off + TKX_SOFH_LEN;
				x->len = (uint16_t)(r - TKX_SOFH_LEN);
			} else {
				r = tkx_decode(b->bytes + off, end - off, &x->m);
				assert_true(r > 0);
				msg = b->bytes + off;
				x->len = (uint16_t)r;
				if (first && x->m.template_id == TKX_SEQUENCE)
					cur = x->m.sequence.next_seq_no;
				else if (first && x->m.template_id == TKX_RETRANSMISSION)
					cur = x->m.retransmission.next_seq_no;
				else if (cur)
					x->seq = cur++;
			}
			memcpy(x->raw, msg, x->len);
			off += (size_t)r;
			first = 0;
			f->n++;
		}
	}
	f->out->n_bufs = 0;
}

/* The requests in out go to the matching core, and its replies back to the sessions,
 * until nothing is left; everything sent is collected. */
static void pump(struct fx *f)
{
	collect(f);
	while (f->out->n_orders || evq_n) {
		for (uint32_t i = 0; i < f->out->n_orders; i++)
			f->out->orders[i].parts = 1;
		if (f->out->n_orders) {
			f->forwarded += f->out->n_orders;
			f->last = f->out->orders[f->out->n_orders - 1];
		}
		mc_process(f->mc, f->out->orders, f->out->n_orders, f->now, &mout);
		f->out->n_orders = 0;
		if (evq_n) {
			unsigned n = evq_n;

			evq_n = 0;
			assert_int_equal(ss_event(f->t, evq, n, f->now, f->out), n);
		}
		collect(f);
	}
}

static void clear(struct fx *f)
{
	f->n = 0;
	f->forwarded = 0;
}

/* With keys (auth on): a UDP datagram of anything but a logon is sealed, as a member
 * seals it (a Negotiate or an Establish is signed by itself). */
static void seal_udp(struct fx *f, struct dg *d)
{
	struct tkx_hdr h;
	int n;

	memcpy(&h, d->b, sizeof(h));
	if (!f->keyed || h.template_id == TKX_NEGOTIATE || h.template_id == TKX_ESTABLISH)
		return;
	n = tkx_auth_seal(f->k.c2e, ++f->k_tx, d->b, d->n, sizeof(d->b));
	assert_true(n > 0);
	d->n = (size_t)n;
}

/* d from peer: one ss_rx() per datagram (UDP) or per message (TCP: the gateway gives
 * each frame's message alone), then pump(). */
static void send(struct fx *f, const struct ss_peer *p, const struct dg *dg)
{
	struct dg sealed = *dg;
	const struct dg *d = &sealed;

	ss_out_reset(f->out);
	if (p->conn == 0) {
		seal_udp(f, &sealed);
		assert_true(ss_rx(f->t, p, d->b, d->n, f->now, f->out) > 0);
	} else {
		struct tkx_dgram_iter it;
		struct tkx_msg m;

		tkx_dgram_init(&it, d->b, d->n);
		for (size_t at = 0; tkx_dgram_next(&it, &m) > 0; at = it.off)
			assert_int_equal(ss_rx(f->t, p, d->b + at, it.off - at, f->now, f->out), 1);
	}
	pump(f);
}

/* The i-th reply of template tid since the last clear, or NULL. */
static const struct rep *find(const struct fx *f, uint16_t tid, unsigned i)
{
	for (unsigned k = 0; k < f->n; k++)
		if (f->r[k].m.template_id == tid && i-- == 0)
			return &f->r[k];
	return NULL;
}

static unsigned count(const struct fx *f, uint16_t tid)
{
	unsigned n = 0;

	for (unsigned k = 0; k < f->n; k++)
		n += f->r[k].m.template_id == tid;
	return n;
}

/* Negotiate and Establish sid from p (next_seq_no nx); the EstablishmentAck. */
static struct tkx_establishment_ack logon(struct fx *f, const struct ss_peer *p, uint64_t sid,
					  uint64_t nx)
{
	struct dg d = { .n = 0 };
	const struct rep *r;

	f->now += MS;
	clear(f);
	dg_negotiate(&d, sid, f->now);
	send(f, p, &d);
	r = find(f, TKX_NEGOTIATION_RESPONSE, 0);
	assert_non_null(r);
	assert_int_equal(r->tcp, p->conn != 0);
	d.n = 0;
	clear(f);
	dg_establish(&d, sid, f->now + 1, nx); /* newer than its Negotiate (4.5) */
	send(f, p, &d);
	r = find(f, TKX_ESTABLISHMENT_ACK, 0);
	assert_non_null(r);
	assert_int_equal(r->tcp, p->conn != 0);
	assert_int_equal(info(f, sid).state, SS_ESTABLISHED);
	return r->m.establishment_ack;
}

static void logoff(struct fx *f, const struct ss_peer *p, uint64_t sid)
{
	struct dg d = { .n = 0 };

	clear(f);
	DG_ADD(&d, terminate, .session_id = sid);
	send(f, p, &d);
	assert_non_null(find(f, TKX_TERMINATE, 0));
	assert_int_equal(info(f, sid).state, SS_TERMINATED);
}

/* ---- Resuming across transports --------------------------------------------------------- */

/* UDP, then TCP: two orders rest (acks 1 and 2); Terminate over UDP; the same session_id
 * over TCP resumes at outbound 3 and inbound 3. The client resends cl_ord_id 2 (it missed
 * the ack): refused CLORDID_REUSED, never forwarded. It asks for 1..2 again: the UDP acks,
 * byte for byte, framed. A SESSION-scope MassCancel over TCP cancels both UDP orders. */
static void test_udp_then_tcp(void **state)
{
	struct fx f;
	struct ss_peer u = udp_peer(1), t = tcp_peer(1);
	struct dg d = { .n = 0 };
	uint8_t ack[2][TKX_MAX_MSG_LEN];
	uint16_t ack_len[2];

	(void)state;
	fx_open(&f);
	logon(&f, &u, 100, 1);
	assert_int_equal(info(&f, 100).transport, SS_UDP);
	clear(&f);
	DG_ADD(&d, sequence, .next_seq_no = 1);
	dg_buy(&d, 1, 25000);
	dg_buy(&d, 2, 25010);
	send(&f, &u, &d);
	assert_int_equal(f.forwarded, 2);
	assert_int_equal(count(&f, TKX_EXEC_ACK), 2);
	for (unsigned i = 0; i < 2; i++) {
		const struct rep *r = find(&f, TKX_EXEC_ACK, i);

		assert_int_equal(r->tcp, 0);
		assert_int_equal(r->seq, i + 1);
		assert_int_equal(r->m.exec_ack.cl_ord_id, i + 1);
		memcpy(ack[i], r->raw, r->len);
		ack_len[i] = r->len;
	}
	logoff(&f, &u, 100);
	int slot = ss_lookup(f.t, 100);

	/* Over TCP: the same session, its numbering carried over. */
	struct tkx_establishment_ack ea = logon(&f, &t, 100, 3);

	assert_int_equal(ss_lookup(f.t, 100), slot);
	assert_int_equal(ea.next_seq_no, 3);
	assert_int_equal(ea.expected_seq_no, 3);
	assert_int_equal(info(&f, 100).transport, SS_TCP);
	assert_int_equal(info(&f, 100).last_cl_ord_id, 2);

	/* The resent cl_ord_id 2: not executed a second time. */
	clear(&f);
	d.n = 0;
	dg_buy(&d, 2, 25010);
	send(&f, &t, &d);
	assert_int_equal(f.forwarded, 0);
	assert_int_equal(f.n, 1);
	assert_int_equal(f.r[0].m.template_id, TKX_EXEC_REJECT);
	assert_int_equal(f.r[0].m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(f.r[0].m.exec_reject.cl_ord_id, 2);
	assert_int_equal(f.r[0].tcp, 1);
	assert_int_equal(info(&f, 100).next_out, 4); /* that reject took number 3 */
	assert_int_equal(info(&f, 100).next_in, 4);

	/* Retransmission of what was sent over UDP: served, byte for byte. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 100, .timestamp = f.now, .from_seq_no = 1,
	       .count = 2);
	send(&f, &t, &d);
	assert_int_equal(f.n, 3);
	assert_int_equal(f.r[0].m.template_id, TKX_RETRANSMISSION);
	assert_int_equal(f.r[0].m.retransmission.next_seq_no, 1);
	assert_int_equal(f.r[0].m.retransmission.count, 2);
	for (unsigned i = 0; i < 2; i++) {
		assert_int_equal(f.r[1 + i].tcp, 1);
		assert_int_equal(f.r[1 + i].len, ack_len[i]);
		assert_memory_equal(f.r[1 + i].raw, ack[i], ack_len[i]);
	}
	assert_int_equal(stats(&f).retrans_out_of_range, 0);

	/* A SESSION-scope MassCancel over TCP reaches the orders entered over UDP. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, mass_cancel, .cl_ord_id = 3, .scope = TKX_SCOPE_SESSION);
	send(&f, &t, &d);
	assert_int_equal(f.forwarded, 1);
	assert_int_equal(f.last.session, slot);
	assert_int_equal(count(&f, TKX_CANCELLED), 2);
	const struct rep *mca = find(&f, TKX_MASS_CANCEL_ACK, 0);

	assert_non_null(mca);
	assert_int_equal(mca->m.mass_cancel_ack.count, 2);
	assert_int_equal(mca->tcp, 1);
	fx_close(&f);
}

/* TCP, then UDP: the connection closes (ss_disconnect: the gateway's notice); the session
 * resumes over UDP, its datagrams numbered from where TCP's implicit numbering left off;
 * retransmission gives the TCP-sent ack as a UDP Retransmission; the resent cl_ord_id is
 * refused; a SESSION MassCancel over UDP cancels the order entered over TCP. */
static void test_tcp_then_udp(void **state)
{
	struct fx f;
	struct ss_peer u = udp_peer(2), t = tcp_peer(2);
	struct dg d = { .n = 0 };
	uint8_t ack[TKX_MAX_MSG_LEN];
	uint16_t ack_len;

	(void)state;
	fx_open(&f);
	logon(&f, &t, 200, 1);
	clear(&f);
	dg_buy(&d, 10, 25000);
	send(&f, &t, &d);
	assert_int_equal(f.forwarded, 1);
	const struct rep *r = find(&f, TKX_EXEC_ACK, 0);

	assert_non_null(r);
	assert_int_equal(r->tcp, 1);
	memcpy(ack, r->raw, r->len);
	ack_len = r->len;
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &t, f.now, f.out), 0);
	assert_int_equal(info(&f, 200).state, SS_TERMINATED);

	struct tkx_establishment_ack ea = logon(&f, &u, 200, 2);

	assert_int_equal(ea.next_seq_no, 2);
	assert_int_equal(ea.expected_seq_no, 2);
	assert_int_equal(info(&f, 200).transport, SS_UDP);
	/* The resent order, numbered 2 by its datagram: refused, not forwarded. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 2);
	dg_buy(&d, 10, 25000);
	send(&f, &u, &d);
	assert_int_equal(f.forwarded, 0);
	r = find(&f, TKX_EXEC_REJECT, 0);
	assert_non_null(r);
	assert_int_equal(r->m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(r->tcp, 0);
	assert_int_equal(r->seq, 2);
	/* Retransmission of the ack sent over TCP. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, retransmit_request, .session_id = 200, .timestamp = f.now, .from_seq_no = 1,
	       .count = 1);
	send(&f, &u, &d);
	assert_int_equal(f.n, 2);
	assert_int_equal(f.r[0].m.template_id, TKX_RETRANSMISSION);
	assert_int_equal(f.r[1].seq, 1);
	assert_int_equal(f.r[1].len, ack_len);
	assert_memory_equal(f.r[1].raw, ack, ack_len);
	/* A SESSION MassCancel over UDP cancels the order entered over TCP. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 3);
	DG_ADD(&d, mass_cancel, .cl_ord_id = 11, .scope = TKX_SCOPE_SESSION);
	send(&f, &u, &d);
	assert_int_equal(count(&f, TKX_CANCELLED), 1);
	assert_int_equal(find(&f, TKX_MASS_CANCEL_ACK, 0)->m.mass_cancel_ack.count, 1);
	/* A late datagram (below next_in) on UDP is not TCP's SEQ_BELOW_EXPECTED. */
	clear(&f);
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 1);
	send(&f, &u, &d);
	assert_int_equal(info(&f, 200).state, SS_ESTABLISHED);
	fx_close(&f);
}

/* Live on one transport, the session is SESSION_IN_USE on the other - ESTABLISHED or
 * NEGOTIATED, either way round - and the live one is untouched. Once it ends, the other
 * transport may take it. */
static void test_in_use_across_transports(void **state)
{
	struct fx f;
	struct ss_peer u = udp_peer(3), t = tcp_peer(3);
	struct dg d = { .n = 0 };
	const struct rep *r;

	(void)state;
	fx_open(&f);
	/* ESTABLISHED on UDP: a TCP Negotiate is SESSION_IN_USE, answered on TCP. */
	logon(&f, &u, 300, 1);
	clear(&f);
	f.now += MS;
	dg_negotiate(&d, 300, f.now);
	send(&f, &t, &d);
	r = find(&f, TKX_NEGOTIATION_REJECT, 0);
	assert_non_null(r);
	assert_int_equal(r->m.negotiation_reject.reason, TKX_SREJ_SESSION_IN_USE);
	assert_int_equal(r->tcp, 1);
	assert_int_equal(info(&f, 300).state, SS_ESTABLISHED);
	assert_int_equal(info(&f, 300).transport, SS_UDP);
	assert_int_equal(stats(&f).neg_in_use, 1);
	/* ... and an Establish from TCP is NOT_NEGOTIATED there, the session untouched. */
	clear(&f);
	d.n = 0;
	dg_establish(&d, 300, f.now, 1);
	send(&f, &t, &d);
	r = find(&f, TKX_ESTABLISHMENT_REJECT, 0);
	assert_non_null(r);
	assert_int_equal(r->m.establishment_reject.reason, TKX_SREJ_NOT_NEGOTIATED);
	assert_int_equal(info(&f, 300).state, SS_ESTABLISHED);
	logoff(&f, &u, 300);

	/* ESTABLISHED on TCP: a UDP Negotiate is SESSION_IN_USE. */
	logon(&f, &t, 300, 1);
	clear(&f);
	d.n = 0;
	f.now += MS;
	dg_negotiate(&d, 300, f.now);
	send(&f, &u, &d);
	r = find(&f, TKX_NEGOTIATION_REJECT, 0);
	assert_non_null(r);
	assert_int_equal(r->m.negotiation_reject.reason, TKX_SREJ_SESSION_IN_USE);
	assert_int_equal(r->tcp, 0);
	assert_int_equal(info(&f, 300).transport, SS_TCP);
	assert_int_equal(info(&f, 300).state, SS_ESTABLISHED);
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &t, f.now, f.out), 0);

	/* NEGOTIATED on UDP (not yet established): TCP is refused too. */
	clear(&f);
	d.n = 0;
	f.now += MS;
	dg_negotiate(&d, 300, f.now);
	send(&f, &u, &d);
	assert_non_null(find(&f, TKX_NEGOTIATION_RESPONSE, 0));
	assert_int_equal(info(&f, 300).state, SS_NEGOTIATED);
	clear(&f);
	d.n = 0;
	f.now += MS;
	dg_negotiate(&d, 300, f.now);
	send(&f, &t, &d);
	r = find(&f, TKX_NEGOTIATION_REJECT, 0);
	assert_non_null(r);
	assert_int_equal(r->m.negotiation_reject.reason, TKX_SREJ_SESSION_IN_USE);
	assert_int_equal(info(&f, 300).transport, SS_UDP);
	/* Established there after all, then ended: TCP may have it. */
	clear(&f);
	d.n = 0;
	dg_establish(&d, 300, f.now, 1);
	send(&f, &u, &d);
	assert_non_null(find(&f, TKX_ESTABLISHMENT_ACK, 0));
	logoff(&f, &u, 300);
	logon(&f, &t, 300, 1);
	assert_int_equal(info(&f, 300).transport, SS_TCP);
	fx_close(&f);
}

/* The transport rules follow the peer, not the session's history: after UDP, a Sequence
 * below the expected number from a TCP peer terminates (SEQ_BELOW_EXPECTED); an exchange's
 * Terminate ends a TCP connection (its chunk says so: the owner takes nothing more of it),
 * not a UDP address. */
static void test_rules_follow_peer(void **state)
{
	struct fx f;
	struct ss_peer u = udp_peer(4), t = tcp_peer(4);
	struct dg d = { .n = 0 };

	(void)state;
	fx_open(&f);
	logon(&f, &u, 400, 1);
	clear(&f);
	DG_ADD(&d, sequence, .next_seq_no = 1);
	dg_buy(&d, 1, 25000);
	send(&f, &u, &d);
	/* a duplicated datagram on UDP: late, never a termination */
	send(&f, &u, &d);
	assert_int_equal(info(&f, 400).state, SS_ESTABLISHED);
	logoff(&f, &u, 400);
	logon(&f, &t, 400, 2);
	clear(&f);
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 1);
	send(&f, &t, &d);
	const struct rep *r = find(&f, TKX_TERMINATE, 0);

	assert_non_null(r);
	assert_int_equal(r->m.terminate.reason, TKX_TERM_SEQ_BELOW_EXPECTED);
	assert_int_equal(r->tcp, 1);
	assert_int_equal(r->end, 1);
	assert_int_equal(info(&f, 400).state, SS_TERMINATED);
	/* The same on UDP (the client's logoff answered): no end of anything. */
	logon(&f, &u, 400, 3);
	clear(&f);
	d.n = 0;
	DG_ADD(&d, terminate, .session_id = 400);
	send(&f, &u, &d);
	r = find(&f, TKX_TERMINATE, 0);
	assert_non_null(r);
	assert_int_equal(r->tcp, 0);
	assert_int_equal(r->end, 0);
	fx_close(&f);
}

/* The keys a member derives from the Negotiate it is about to send at ts. */
static void udp_keys(struct fx *f, uint64_t sid, uint64_t ts)
{
	assert_int_equal(tkx_auth_derive(FIRM7->key, FIRM7->key_len, sid, FIRM7->firm_id, ts,
					 &f->k), 0);
	f->keyed = 1;
	f->k_rx = f->k_tx = 0;
}

/* Datagram authentication on (the default): UDP, then TCP (no keys, nothing sealed),
 * then UDP again - its Negotiate derives new keys, both counters start again, and a
 * datagram sealed under the keys it had before TCP is dropped. The numbering runs on
 * across all three. */
static void test_auth_resume(void **state)
{
	struct fx f;
	struct ss_peer u = udp_peer(5), t = tcp_peer(5);
	struct dg d = { .n = 0 };
	struct tkx_auth_keys old;
	const struct rep *r;

	(void)state;
	fx_open_auth(&f, SS_AUTH_REQUIRED);
	udp_keys(&f, 500, f.now + MS); /* logon()'s Negotiate is at now + 1 ms */
	logon(&f, &u, 500, 1);
	clear(&f);
	DG_ADD(&d, sequence, .next_seq_no = 1);
	dg_buy(&d, 1, 25000);
	send(&f, &u, &d);
	r = find(&f, TKX_EXEC_ACK, 0);
	assert_non_null(r);
	assert_int_equal(r->seq, 1);
	logoff(&f, &u, 500);
	old = f.k;

	f.keyed = 0;
	assert_int_equal(logon(&f, &t, 500, 2).next_seq_no, 2);
	clear(&f);
	d.n = 0;
	dg_buy(&d, 2, 25010);
	send(&f, &t, &d);
	r = find(&f, TKX_EXEC_ACK, 0);
	assert_non_null(r);
	assert_int_equal(r->tcp, 1);
	ss_out_reset(f.out);
	assert_int_equal(ss_disconnect(f.t, &t, f.now, f.out), 0);

	udp_keys(&f, 500, f.now + MS);
	assert_int_equal(logon(&f, &u, 500, 3).next_seq_no, 3);
	clear(&f);
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 3);
	dg_buy(&d, 3, 25020);
	send(&f, &u, &d);
	r = find(&f, TKX_EXEC_ACK, 0);
	assert_non_null(r);
	assert_int_equal(r->seq, 3);
	assert_int_equal(r->m.exec_ack.cl_ord_id, 3);
	/* Sealed under the keys of before: dropped unread. */
	d.n = 0;
	DG_ADD(&d, sequence, .next_seq_no = 4);
	dg_buy(&d, 4, 25030);
	{
		int n = tkx_auth_seal(old.c2e, 99, d.b, d.n, sizeof(d.b));

		assert_true(n > 0);
		d.n = (size_t)n;
	}
	ss_out_reset(f.out);
	assert_int_equal(ss_rx(f.t, &u, d.b, d.n, f.now, f.out), 0);
	assert_int_equal(f.out->n_orders, 0);
	assert_int_equal(stats(&f).auth_bad_mac, 1);
	assert_int_equal(info(&f, 500).next_in, 4);
	fx_close(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_then_tcp),
		cmocka_unit_test(test_tcp_then_udp),
		cmocka_unit_test(test_in_use_across_transports),
		cmocka_unit_test(test_rules_follow_peer),
		cmocka_unit_test(test_auth_resume),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
