/*
 * ss_test_fixture.h - the fixture the session layer's tests share (test_session.c,
 * test_session_spec.c): a table in memory of its own, peers on either transport, client
 * messages encoded with tokex/codec.h and signed with a firm's key, fed to ss_rx() the way
 * the RX core feeds them, and everything the table produced decoded again with
 * tkx_decode() (tkx_decode_frame() for a TCP peer's SOFH frames) and checked for the
 * shapes of ss_session.h.
 *
 * Included once by a test program, after cmocka.h. The program defines its own params()
 * (the table it tests: sessions, firms, depths) and sets g_tr there, the transport its
 * peers use. It may define before: MAX_OMSGS, the most messages one parse takes (512);
 * SS_FX_PARSE, how parse() lists what it decoded (0: every message, each validated):
 *   SS_FX_SEQ_HIDDEN  a UDP datagram's leading Sequence is its header: not listed, its
 *                     number given to the messages after it;
 *   SS_FX_UNCHECKED   no tkx_validate() (events made with only the fields a test reads).
 */
#ifndef SS_TEST_FIXTURE_H
#define SS_TEST_FIXTURE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/codec.h>

#include "ss_session.h"

#define MS 1000000ull
#define T0 (1700000000ull * 1000000000ull) /* a plausible wall clock */
#ifndef MAX_OMSGS
#define MAX_OMSGS 512
#endif
#define SS_FX_SEQ_HIDDEN 1u
#define SS_FX_UNCHECKED 2u
#ifndef SS_FX_PARSE
#define SS_FX_PARSE 0u
#endif

/* ---- Fixture -------------------------------------------------------------------------- */

struct fx {
	struct ss_params p;
	uint8_t tr; /* its peers' transport */
	void *mem;
	struct ss_table *t;
	struct ss_out *out;
	uint64_t now;
};

/* The transport of the next fixture's peers (set by the program's params()): its replies
 * are parsed so. */
static uint8_t g_tr;

/* A table for the parameters p (its memory and its ss_out of its own), the clock at T0. */
static inline void fx_open(struct fx *f, const struct ss_params *p)
{
	size_t len = ss_table_memsize(p);

	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->p = *p;
	f->tr = g_tr;
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->t = ss_table_init(f->mem, len, p);
	assert_non_null(f->t);
	f->out = calloc(1, sizeof(*f->out));
	assert_non_null(f->out);
	f->now = T0;
}

static inline void fx_close(struct fx *f)
{
	free(f->out);
	free(f->mem);
}

/* A UDP peer (conn 0) and a TCP one (a connection: conn never 0, ss_session.h invariant
 * 12), the client's address the same. */
static inline struct ss_peer peer_n(uint32_t n)
{
	struct ss_peer p;

	memset(&p, 0, sizeof(p));
	p.mac[5] = (uint8_t)n;
	p.ip = 0x0a000000u + n; /* as stored: the bytes 0.0.0.10 + n in network order */
	p.port = (uint16_t)(20000 + n);
	return p;
}

static inline struct ss_peer tcp_peer_n(uint32_t n)
{
	struct ss_peer p = peer_n(n);

	memset(p.mac, 0, sizeof(p.mac));
	p.conn = 0x10000u | n;
	return p;
}

static inline struct ss_peer peer_tr(uint8_t transport, uint32_t n)
{
	return transport == SS_TCP ? tcp_peer_n(n) : peer_n(n);
}

static inline struct ss_stats stats(const struct fx *f)
{
	struct ss_stats s;

	ss_stats_read(f->t, &s);
	return s;
}

static inline struct ss_info info(const struct fx *f, unsigned slot)
{
	struct ss_info i;

	assert_int_equal(ss_session_info(f->t, slot, &i), 0);
	return i;
}

/* ---- Client side: building datagrams ---------------------------------------------------- */

struct dg {
	uint8_t b[4096];
	size_t n;
};

#define DG_ADD(d, name, ...)                                                                \
	do {                                                                                \
		struct tkx_##name m_ = { __VA_ARGS__ };                                     \
		int r_ = tkx_enc_##name((d)->b + (d)->n, sizeof((d)->b) - (d)->n, &m_);     \
		assert_true(r_ > 0);                                                        \
		(d)->n += (size_t)r_;                                                       \
	} while (0)

/* A Negotiate of firm, signed with key. */
static inline void dg_negotiate(struct dg *d, uint64_t sid, uint32_t firm, uint64_t ts,
				const struct ss_firm *key)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, negotiate, .session_id = sid, .timestamp = ts, .firm_id = firm);
	assert_int_equal(tkx_sign(key->key, key->key_len, at, TKX_HDR_LEN + 56), 0);
}

static inline void dg_establish(struct dg *d, uint64_t sid, uint64_t ts, uint64_t next_seq,
				uint32_t ka_ms, uint8_t cod, const struct ss_firm *key)
{
	uint8_t *at = d->b + d->n;

	DG_ADD(d, establish, .session_id = sid, .timestamp = ts, .next_seq_no = next_seq,
	       .keepalive_ms = ka_ms, .cancel_on_disconnect = cod);
	assert_int_equal(tkx_sign(key->key, key->key_len, at, TKX_HDR_LEN + 64), 0);
}

static inline void dg_seq(struct dg *d, uint64_t n)
{
	DG_ADD(d, sequence, .next_seq_no = n);
}

/* ---- Exchange side: decoding what the table produced ------------------------------------ */

struct omsg {
	unsigned buf;
	struct ss_peer peer;
	struct tkx_msg m;
	uint64_t seq; /* its outbound number: an application message in a numbered UDP
		       * datagram; on TCP, counted by parse_num()'s caller; else 0 */
	const uint8_t *raw;
	uint16_t len;
};

static inline int is_app(uint16_t tid)
{
	return tid >= TKX_EXEC_ACK && tid <= TKX_STOP_ELECTED;
}

/*
 * Decodes every buffer of out, in send order, into o (at most max), as how says
 * (SS_FX_*). UDP: each buffer must be a whole number of messages, of one of the three
 * shapes of ss_session.h; TCP: a whole number of SOFH frames, whose application messages
 * are numbered from *tcp_next (which the caller keeps) when tcp_next is not NULL.
 */
static inline int parse_n(const struct fx *f, struct omsg *o, int max, uint64_t *tcp_next,
			  unsigned how)
{
	int n = 0;
	unsigned i;

	for (i = 0; i < f->out->n_bufs; i++) {
		const struct ss_buf *b = &f->out->bufs[i];
		size_t off = 0;
		uint64_t cur = 0;
		int numbered = 0, first = 1;

		assert_true(b->len > 0 && b->len <= SS_BUF_CAP);
		while (off < b->len) {
			struct omsg *x = &o[n];
			int r;

			assert_true(n < max);
			memset(x, 0, sizeof(*x));
			if (b->peer.conn != 0) { /* a TCP peer: SOFH frames */
				r = tkx_decode_frame(b->bytes + off, b->len - off, &x->m);
				assert_true(r > TKX_SOFH_LEN);
				x->raw = b->bytes + off + TKX_SOFH_LEN;
				x->len = (uint16_t)(r - TKX_SOFH_LEN);
				if (tcp_next && is_app(x->m.template_id))
					x->seq = (*tcp_next)++;
			} else {
				r = tkx_decode(b->bytes + off, b->len - off, &x->m);
				assert_true(r > 0);
				x->raw = b->bytes + off;
				x->len = (uint16_t)r;
				if (first && (x->m.template_id == TKX_SEQUENCE ||
					      x->m.template_id == TKX_RETRANSMISSION)) {
					numbered = 1;
					cur = x->m.template_id == TKX_SEQUENCE
						      ? x->m.sequence.next_seq_no
						      : x->m.retransmission.next_seq_no;
					if ((how & SS_FX_SEQ_HIDDEN) &&
					    x->m.template_id == TKX_SEQUENCE) {
						off += (size_t)r;
						first = 0;
						continue;
					}
				} else if (numbered) {
					assert_true(is_app(x->m.template_id));
					x->seq = cur++;
				} else {
					/* unnumbered datagram: no Sequence, no numbered reply */
					assert_true(x->m.template_id != TKX_SEQUENCE);
					assert_true(!is_app(x->m.template_id) ||
						    x->m.template_id == TKX_BUSINESS_REJECT);
				}
			}
			if (!(how & SS_FX_UNCHECKED))
				assert_int_equal(tkx_validate(&x->m, NULL), 0);
			x->buf = i;
			x->peer = b->peer;
			off += (size_t)r;
			first = 0;
			n++;
		}
		assert_int_equal(off, b->len);
	}
	return n;
}

static inline int parse_max(const struct fx *f, struct omsg *o, int max)
{
	return parse_n(f, o, max, NULL, SS_FX_PARSE);
}

static inline int parse(const struct fx *f, struct omsg *o)
{
	return parse_n(f, o, MAX_OMSGS, NULL, SS_FX_PARSE);
}

/* parse(), TCP replies numbered from *tcp_next (NULL: not numbered). */
static inline int parse_num(const struct fx *f, struct omsg *o, uint64_t *tcp_next)
{
	return parse_n(f, o, MAX_OMSGS, tcp_next, SS_FX_PARSE);
}

static inline int rx(struct fx *f, const struct ss_peer *p, const struct dg *d)
{
	return ss_rx(f->t, p, d->b, d->n, f->now, f->out);
}

/* Feeds d (out reset before), returns the messages it produced. */
static inline int rx_parse(struct fx *f, const struct ss_peer *p, const struct dg *d,
			   struct omsg *o)
{
	ss_out_reset(f->out);
	assert_true(rx(f, p, d) > 0);
	return parse(f, o);
}

/* One message in, exactly one message out (any number of dp_orders) to p: returns it. */
static inline struct tkx_msg rx1(struct fx *f, const struct ss_peer *p, const struct dg *d)
{
	struct omsg o[MAX_OMSGS];

	assert_int_equal(rx_parse(f, p, d, o), 1);
	assert_memory_equal(&o[0].peer, p, sizeof(*p));
	return o[0].m;
}

/* ---- The matching core's side ----------------------------------------------------------- */

/* Events in, then what they let go (the owner's ss_release() after a batch); ss_event()'s
 * return. */
static inline unsigned event(struct fx *f, const struct dp_event *e)
{
	unsigned n = ss_event(f->t, e, 1, f->now, f->out);

	assert_int_equal(ss_release(f->t, f->now, f->out), 0);
	return n;
}

/* The matching core's answer to a forwarded request: an ExecAck (order id) marked as its
 * last reply (dp_msg.h DP_EV_DONE). What the session held behind the request goes then
 * (ss_session.h invariant 15). ss_event()'s return. */
static inline unsigned answer(struct fx *f, const struct dp_order *o, uint64_t order_id)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.template_id = TKX_EXEC_ACK;
	e.session = o->session;
	e.src = o->src;
	e.pad[1] = DP_EV_DONE;
	e.u.ack = (struct tkx_exec_ack){ .cl_ord_id = o->cl_ord_id, .order_id = order_id,
					 .price = o->price ? o->price : 12345,
					 .transact_time = T0 + 1, .qty = o->qty ? o->qty : 1,
					 .contract_id = o->contract_id, .side = TKX_SIDE_BUY,
					 .tif = TKX_TIF_GTC };
	return event(f, &e);
}

/* answer(), which must take the one event. */
static inline void ack_done(struct fx *f, const struct dp_order *o, uint64_t order_id)
{
	assert_int_equal(answer(f, o, order_id), 1);
}

#endif /* SS_TEST_FIXTURE_H */
