/*
 * test_md_pub.c - the market-data publisher (dataplane/md/md_pub.h), driven the way the TX
 * core drives it: dp_event records in, packets out through md_pub_next_tx(), re-request
 * datagrams in, replies out through md_pub_next_reply(). Every packet it produces is
 * decoded again with tokex/codec.h's tkx_md_iter_* and checked: header, sequences, counts,
 * bodies; every message also passes tkx_validate(). The re-request limits (md_lim.h: the
 * per-source table, the global budget, the per-answer caps and the end marker) are
 * checked against their stated bounds.
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

#include "md_lim.h"
#include "md_pub.h"

#define MS 1000000ull
#define S 1000000000ull
#define T0 1767225600000000000ull /* 2026-01-01T00:00:00Z */
#define SESSION "20260101A"
#define MAX_PKTS 8192
#define MAX_SEQ 16384
#define PKT_MSGS 64 /* > the most messages one packet holds (1452 / 34) */
#define TOB_WIRE (2 + TKX_HDR_LEN + (int)sizeof(struct tkx_md_top_of_book)) /* 58 */
#define SRC 0x0a000001u /* the requester's address, when it does not matter */

/* ---- Fixture: the publisher and everything it handed out ---------------------------- */

struct pkt {
	size_t len;
	uint8_t b[TKX_MAX_DGRAM];
};

struct orig {
	size_t len;
	uint8_t b[TKX_MAX_MSG_LEN];
};

struct fx {
	struct md_params prm;
	void *mem;
	struct md_pub *p;
	struct pkt *pk;      /* every packet from md_pub_next_tx(), in order */
	unsigned n_pk;
	struct orig *by_seq; /* each message as first published, by sequence */
	uint64_t expect;     /* sequence the next data packet must start at */
	/* The last answer (request()): its end marker, if any, and its bytes in all. */
	int mark;
	uint64_t mark_seq;
	size_t ans_bytes;
};

/* A decoded packet. */
struct dec {
	struct tkx_md_hdr h;
	unsigned n;
	uint64_t seq[PKT_MSGS];
	struct tkx_msg m[PKT_MSGS];
	const void *raw[PKT_MSGS];
	size_t raw_len[PKT_MSGS];
};

static const struct md_contract three[] = {
	{ .id = 7, .phase = TKX_PHASE_PRE_OPEN },
	{ .id = 9, .phase = TKX_PHASE_LISTED },
	{ .id = 11, .phase = TKX_PHASE_CONTINUOUS },
};

static void params(struct md_params *p)
{
	md_pub_params_default(p);
	p->session = SESSION;
	p->retain = 64;
	p->snapshot_ns = 0;
	p->heartbeat_ns = 0;
	p->contracts = three;
	p->n_contracts = 3;
	/* No byte limits unless a test sets them: the message cap alone. */
	p->req_max_bytes = MD_REQ_MAX_BYTES;
	p->req_rate = 0;
	p->req_global_rate = 0;
}

static void fx_open(struct fx *f, const struct md_params *p)
{
	size_t len = md_pub_memsize(p);

	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->prm = *p;
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->p = md_pub_init(f->mem, len, p);
	assert_non_null(f->p);
	f->pk = calloc(MAX_PKTS, sizeof(*f->pk));
	f->by_seq = calloc(MAX_SEQ, sizeof(*f->by_seq));
	assert_non_null(f->pk);
	assert_non_null(f->by_seq);
	f->expect = 1;
}

static void fx_close(struct fx *f)
{
	free(f->mem);
	free(f->pk);
	free(f->by_seq);
}

static struct md_stats stats(const struct fx *f)
{
	struct md_stats s;

	md_pub_stats_read(f->p, &s);
	return s;
}

/* Decodes a packet completely (every message, every length prefix, nothing after) and
 * checks each message with tkx_validate(). */
static void decode(const uint8_t *buf, size_t len, struct dec *d)
{
	struct tkx_md_iter it, it2;
	int rc;

	memset(d, 0, sizeof(*d));
	assert_int_equal(tkx_md_iter_init(&it, buf, len), 0);
	assert_int_equal(tkx_md_iter_init(&it2, buf, len), 0);
	d->h = it.hdr;
	assert_memory_equal(d->h.session, SESSION " ", TKX_MD_SESSION_LEN);
	while ((rc = tkx_md_iter_decode(&it, &d->m[d->n], &d->seq[d->n])) == 1) {
		uint64_t seq2;

		assert_int_equal(tkx_md_iter_next(&it2, &d->raw[d->n], &d->raw_len[d->n], &seq2), 1);
		assert_true(seq2 == d->seq[d->n]);
		assert_int_equal(tkx_validate(&d->m[d->n], NULL), 0);
		d->n++;
		assert_true(d->n < PKT_MSGS);
	}
	assert_int_equal(rc, 0);
	assert_int_equal(d->n, it.count);
}

/* Takes every packet the publisher has for the group; checks the stream's continuity
 * and keeps each message's bytes by sequence. Returns how many packets it took. */
static unsigned drain(struct fx *f)
{
	const uint8_t *buf;
	size_t len;
	unsigned n = 0, i;

	while (md_pub_next_tx(f->p, &buf, &len) == 1) {
		struct pkt *k = &f->pk[f->n_pk++];
		struct dec d;

		assert_true(f->n_pk < MAX_PKTS);
		assert_true(len >= TKX_MD_HDR_LEN && len <= f->prm.max_payload);
		memcpy(k->b, buf, len);
		k->len = len;
		decode(k->b, len, &d);
		assert_true(d.h.sequence == f->expect);
		if (d.h.count == TKX_MD_HEARTBEAT || d.h.count == TKX_MD_END_OF_SESSION) {
			assert_int_equal(len, TKX_MD_HDR_LEN);
		} else {
			for (i = 0; i < d.n; i++) {
				struct orig *o = &f->by_seq[d.seq[i]];

				assert_true(d.seq[i] == f->expect + i && d.seq[i] < MAX_SEQ);
				memcpy(o->b, d.raw[i], d.raw_len[i]);
				o->len = d.raw_len[i];
			}
			f->expect += d.n;
		}
		n++;
	}
	return n;
}

static struct dp_event ev_tob(uint32_t c, int64_t bid, uint64_t bq, int64_t ask, uint64_t aq,
			      uint64_t t)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.template_id = TKX_MD_TOP_OF_BOOK;
	e.u.tob = (struct tkx_md_top_of_book){ .transact_time = t, .bid_price = bid,
		.ask_price = ask, .bid_qty = bq, .ask_qty = aq, .contract_id = c };
	return e;
}

static struct dp_event ev_trade(uint32_t c, uint64_t id, int64_t px, uint32_t q, uint8_t side,
				uint64_t t)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.template_id = TKX_MD_TRADE;
	e.u.trade = (struct tkx_md_trade){ .transact_time = t, .trade_id = id, .price = px,
		.qty = q, .contract_id = c, .aggressor_side = side };
	return e;
}

static struct dp_event ev_status(uint32_t c, uint8_t phase, int64_t px, uint64_t t)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	e.template_id = TKX_MD_CONTRACT_STATUS;
	e.u.status = (struct tkx_md_contract_status){ .transact_time = t, .contract_id = c,
		.phase = phase, .price = px };
	return e;
}

/* The i-th record of a deterministic mixed stream (all three templates). */
static struct dp_event ev_mixed(unsigned i)
{
	switch (i % 3) {
	case 0:
		return ev_tob(7, 1000 + i, i + 1, 2000 + i, i + 2, T0 + i);
	case 1:
		return ev_trade(9, i, 1500 + i, i + 1, TKX_SIDE_SELL, T0 + i);
	default:
		return ev_status(11, TKX_PHASE_CONTINUOUS, TKX_NULL_PRICE, T0 + i);
	}
}

/* The decoded message m carries exactly record e's body. */
static void assert_body(const struct tkx_msg *m, const struct dp_event *e)
{
	assert_int_equal(m->template_id, e->template_id);
	switch (e->template_id) {
	case TKX_MD_TOP_OF_BOOK:
		assert_memory_equal(&m->md_top_of_book, &e->u.tob, sizeof(e->u.tob));
		break;
	case TKX_MD_TRADE:
		assert_memory_equal(&m->md_trade, &e->u.trade, sizeof(e->u.trade));
		break;
	default:
		assert_memory_equal(&m->md_contract_status, &e->u.status, sizeof(e->u.status));
		break;
	}
}

/* A 20-byte re-request. */
static void mkreq(uint8_t req[TKX_MD_HDR_LEN], const char *session, uint64_t seq,
		  uint16_t count)
{
	struct tkx_md_hdr h;

	assert_int_equal(tkx_md_session(h.session, session), 0);
	h.sequence = seq;
	h.count = count;
	assert_int_equal(tkx_md_hdr_encode(req, TKX_MD_HDR_LEN, &h), TKX_MD_HDR_LEN);
}

/* Sends a request from address src and collects the answer's packets (copies) into out;
 * returns how many or the request's error. The end marker (a 20-byte count-0 packet, only
 * ever the last) is not put in out: f->mark and f->mark_seq tell it; f->ans_bytes is the
 * answer's size, marker included. */
static int request_from(struct fx *f, uint32_t src, const char *session, uint64_t seq,
			uint16_t count, uint64_t now, struct pkt *out, unsigned max)
{
	uint8_t req[TKX_MD_HDR_LEN];
	const uint8_t *buf;
	size_t len;
	unsigned n = 0;
	int rc;

	f->mark = 0;
	f->ans_bytes = 0;
	mkreq(req, session, seq, count);
	rc = md_pub_request(f->p, src, req, sizeof(req), now);
	if (rc < 0)
		return rc;
	while (md_pub_next_reply(f->p, &buf, &len) == 1) {
		f->ans_bytes += len;
		assert_false(f->mark); /* nothing after the marker */
		if (len == TKX_MD_HDR_LEN) {
			struct tkx_md_hdr h;

			assert_int_equal(tkx_md_hdr_decode(buf, len, &h), TKX_MD_HDR_LEN);
			assert_memory_equal(h.session, SESSION " ", TKX_MD_SESSION_LEN);
			assert_int_equal(h.count, TKX_MD_HEARTBEAT);
			f->mark = 1;
			f->mark_seq = h.sequence;
			continue;
		}
		assert_true(n < max);
		assert_true(len > TKX_MD_HDR_LEN && len <= f->prm.max_payload);
		memcpy(out[n].b, buf, len);
		out[n].len = len;
		n++;
	}
	return (int)n;
}

static int request(struct fx *f, const char *session, uint64_t seq, uint16_t count,
		   uint64_t now, struct pkt *out, unsigned max)
{
	return request_from(f, SRC, session, seq, count, now, out, max);
}

/* The answer out[0, n) holds exactly messages [seq, seq + count), each byte-identical to
 * the original, in packets whose headers carry their first message's sequence. */
static void assert_resent(const struct fx *f, const struct pkt *out, int n, uint64_t seq,
			  uint64_t count)
{
	uint64_t next = seq;
	int i;

	assert_true(n >= 1 || count == 0);
	for (i = 0; i < n; i++) {
		struct dec d;
		unsigned j;

		decode(out[i].b, out[i].len, &d);
		assert_true(d.h.sequence == next);
		assert_true(d.n >= 1 && d.n != TKX_MD_END_OF_SESSION);
		for (j = 0; j < d.n; j++) {
			const struct orig *o = &f->by_seq[next];

			assert_true(d.seq[j] == next);
			assert_int_equal(d.raw_len[j], o->len);
			assert_memory_equal(d.raw[j], o->b, o->len);
			next++;
		}
		/* Packed: the next message would not have fitted. */
		if (i + 1 < n)
			assert_true(out[i].len + 2 + f->by_seq[next].len > f->prm.max_payload);
	}
	assert_true(next == seq + count);
}

/* ---- Set-up ---------------------------------------------------------------------------- */

static void test_params(void **state)
{
	static const struct md_contract zero_id[] = { { .id = 0, .phase = 1 } };
	static const struct md_contract bad_phase[] = { { .id = 5, .phase = 12 } };
	static const struct md_contract dup[] = { { .id = 5 }, { .id = 6 }, { .id = 5 } };
	struct md_params p;
	size_t len;
	void *mem;
	int i;

	(void)state;
	assert_int_equal(md_pub_memsize(NULL), 0);
	for (i = 0; i < 22; i++) {
		params(&p);
		switch (i) {
		case 0: p.session = NULL; break;
		case 1: p.session = ""; break;
		case 2: p.session = "12345678901"; break;
		case 3: p.session = "bad\tname"; break;
		case 4: p.retain = 3; break;
		case 5: p.retain = 1; break;
		case 6: p.retain = MD_MAX_RETAIN * 2; break;
		case 7: p.max_payload = MD_MIN_PAYLOAD - 1; break;
		case 8: p.max_payload = TKX_MAX_DGRAM + 1; break;
		case 9: p.contracts = zero_id; p.n_contracts = 1; break;
		case 10: p.contracts = bad_phase; p.n_contracts = 1; break;
		case 11: p.req_max = 0; break;
		case 12: p.req_rate = 10; p.req_burst = 0; break;
		case 13: p.contracts = NULL; break;
		case 14: p.req_max_bytes = MD_REQ_MIN_BYTES - 1; break;
		case 15: p.req_max_bytes = MD_REQ_MAX_BYTES + 1; break;
		case 16: /* a per-source bucket shallower than one answer */
			p.req_rate = 1000; p.req_burst = 2000; p.req_max_bytes = 2001; break;
		case 17: p.req_global_rate = 1000; p.req_global_burst = 500; break;
		case 18: p.req_rate = 1000; p.req_burst = 1u << 20; p.req_sources = 12; break;
		case 19: p.req_rate = 1000; p.req_burst = 1u << 20; p.req_sources = 4; break;
		case 20: p.req_rate = 1000; p.req_burst = MD_LIM_MAX_BURST + 1u; break;
		default: p.n_contracts = MD_MAX_CONTRACTS + 1; break;
		}
		errno = 0;
		assert_int_equal(md_pub_memsize(&p), 0);
		assert_int_equal(errno, EINVAL);
	}

	params(&p);
	p.max_payload = MD_MIN_PAYLOAD;
	len = md_pub_memsize(&p);
	assert_true(len >= (size_t)p.retain * TKX_MAX_DGRAM);
	mem = aligned_alloc(64, (len + 64 + 63) & ~(size_t)63);
	assert_non_null(mem);
	assert_null(md_pub_init(mem, len - 1, &p));
	assert_null(md_pub_init((uint8_t *)mem + 8, len, &p));
	assert_non_null(md_pub_init(mem, len, &p));
	p.contracts = dup;
	p.n_contracts = 3;
	errno = 0;
	assert_true(md_pub_memsize(&p) > 0); /* found by init */
	assert_null(md_pub_init(mem, len, &p));
	assert_int_equal(errno, EINVAL);
	free(mem);

	for (i = 0; md_pub_stat_name((unsigned)i); i++)
		assert_true(strlen(md_pub_stat_name((unsigned)i)) > 0);
	assert_int_equal(i, MD_STAT_COUNT);
	assert_string_equal(md_pub_stat_name(0), "packets");
}

/* ---- Publishing ----------------------------------------------------------------------- */

static void test_records_in_order(void **state)
{
	struct fx f;
	struct md_params p;
	struct dp_event ev[5], more[3];
	struct md_info info;
	struct dec d;
	unsigned i;

	(void)state;
	params(&p);
	fx_open(&f, &p);
	ev[0] = ev_tob(7, 123400, 10, 123500, 4, T0 + 1);
	ev[1] = ev_trade(7, 9001, 123400, 4, TKX_SIDE_SELL, T0 + 2);
	ev[2] = ev_status(7, TKX_PHASE_SETTLED, 123450, T0 + 3);
	ev[3] = ev_tob(9, TKX_NULL_PRICE, 0, 99, 1, T0 + 4);
	ev[4] = ev_trade(99, 1, 50, 1, TKX_SIDE_BUY, T0 + 5); /* contract not in the list */

	assert_int_equal(md_pub_add(f.p, ev, 5, T0), 5);
	assert_int_equal(drain(&f), 0); /* nothing leaves before the flush */
	md_pub_info(f.p, &info);
	assert_true(info.open && info.next_seq == 6 && info.pending == 0 && info.last_sent == 0);
	assert_int_equal(md_pub_flush(f.p, T0), 1);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[0].b, f.pk[0].len, &d);
	assert_true(d.h.sequence == 1);
	assert_int_equal(d.h.count, 5);
	for (i = 0; i < 5; i++) {
		assert_true(d.seq[i] == 1 + i);
		assert_body(&d.m[i], &ev[i]);
	}

	more[0] = ev_trade(11, 77, 10, 2, TKX_SIDE_BUY, T0 + 6);
	more[1] = ev_status(11, TKX_PHASE_HALTED, TKX_NULL_PRICE, T0 + 7);
	/* Reserved bytes in a record never reach the wire. */
	more[0].u.trade.reserved1[1] = 0xAA;
	more[0].u.trade.reserved2 = 0xBEEF;
	more[1].u.status.reserved1 = 1;
	more[2] = ev_tob(11, 5, 1, 6, 1, T0 + 8);
	more[2].u.tob.reserved = 0xC0FFEE;
	assert_int_equal(md_pub_add(f.p, more, 3, T0 + 10), 3);
	assert_int_equal(md_pub_flush(f.p, T0 + 10), 1);
	assert_int_equal(md_pub_flush(f.p, T0 + 10), 1); /* no empty packet */
	assert_int_equal(drain(&f), 1);
	decode(f.pk[1].b, f.pk[1].len, &d);
	assert_true(d.h.sequence == 6);
	assert_int_equal(d.h.count, 3);
	more[0].u.trade.reserved1[1] = 0;
	more[0].u.trade.reserved2 = 0;
	more[1].u.status.reserved1 = 0;
	more[2].u.tob.reserved = 0;
	assert_body(&d.m[0], &more[0]);
	assert_body(&d.m[1], &more[1]);
	assert_body(&d.m[2], &more[2]);
	assert_int_equal(md_pub_flush(f.p, T0 + 11), 0);
	assert_int_equal(drain(&f), 0);

	md_pub_info(f.p, &info);
	assert_true(info.next_seq == 9 && info.first_retained == 1 && info.last_sent == 8);
	assert_true(info.retained == 2 && info.pending == 0 && !info.open && !info.ended);
	assert_true(stats(&f).packets == 2 && stats(&f).messages == 8);
	assert_true(stats(&f).records_unknown == 1 && stats(&f).records_bad == 0);
	fx_close(&f);
}

static void test_bad_records(void **state)
{
	struct fx f;
	struct md_params p;
	struct dp_event ev[3];

	(void)state;
	params(&p);
	fx_open(&f, &p);
	ev[0] = ev_tob(7, 1, 1, 2, 1, T0);
	ev[1] = ev[0];
	ev[1].template_id = TKX_EXEC_ACK; /* a reply, not market data */
	ev[2] = ev_trade(7, 1, 1, 1, TKX_SIDE_BUY, T0);
	assert_int_equal(md_pub_add(f.p, ev, 3, T0), 3);
	md_pub_flush(f.p, T0);
	assert_int_equal(drain(&f), 1);
	assert_true(f.expect == 3); /* two messages, consecutive */
	assert_true(stats(&f).records_bad == 1 && stats(&f).messages == 2);
	fx_close(&f);
}

/* Full packets are closed and the next starts at the following sequence; every packet
 * but the last is as full as it can be; mixed message sizes. */
static void fill_split(uint32_t max_payload)
{
	enum { N = 500 };
	struct fx f;
	struct md_params p;
	struct dp_event ev[N];
	unsigned i, k, msg = 0;

	params(&p);
	p.max_payload = max_payload;
	p.retain = 1024;
	fx_open(&f, &p);
	for (i = 0; i < N; i++)
		ev[i] = ev_mixed(i);
	assert_int_equal(md_pub_add(f.p, ev, N, T0), N);
	md_pub_flush(f.p, T0);
	assert_true(drain(&f) >= 2);
	for (k = 0; k < f.n_pk; k++) {
		struct dec d;

		decode(f.pk[k].b, f.pk[k].len, &d);
		assert_true(d.h.sequence == 1 + msg);
		assert_true(f.pk[k].len <= max_payload);
		for (i = 0; i < d.n; i++)
			assert_body(&d.m[i], &ev[msg + i]);
		msg += d.n;
		if (k + 1 < f.n_pk)
			assert_true(f.pk[k].len + 2 + f.by_seq[msg + 1].len > max_payload);
	}
	assert_int_equal(msg, N);
	assert_true(stats(&f).packets == f.n_pk && stats(&f).messages == N);
	fx_close(&f);
}

static void test_fill_split(void **state)
{
	(void)state;
	fill_split(TKX_MAX_DGRAM);
	fill_split(MD_MIN_PAYLOAD); /* one message a packet */
	fill_split(500);
}

static void test_fill_split_exact(void **state)
{
	/* 25 TopOfBooks fill a 1472-byte packet (20 + 25 x 58 = 1470); 60 -> 25, 25, 10. */
	struct fx f;
	struct md_params p;
	struct dp_event ev[60];
	static const unsigned counts[] = { 25, 25, 10 };
	unsigned i;

	(void)state;
	params(&p);
	fx_open(&f, &p);
	for (i = 0; i < 60; i++)
		ev[i] = ev_tob(7, i + 1, 1, 1000, 1, T0 + i);
	assert_int_equal(md_pub_add(f.p, ev, 30, T0), 30);
	assert_int_equal(md_pub_add(f.p, ev + 30, 30, T0), 30);
	assert_int_equal(md_pub_flush(f.p, T0), 3);
	assert_int_equal(drain(&f), 3);
	for (i = 0; i < 3; i++) {
		struct dec d;

		decode(f.pk[i].b, f.pk[i].len, &d);
		assert_int_equal(d.h.count, counts[i]);
		assert_true(d.h.sequence == 1 + 25 * i);
		assert_int_equal(f.pk[i].len, TKX_MD_HDR_LEN + counts[i] * TOB_WIRE);
	}
	fx_close(&f);
}

/* Invariant 3: the ring never overwrites a packet not yet handed out; add stops and goes
 * on after a drain, without a gap. */
static void test_ring_full(void **state)
{
	enum { N = 40 };
	struct fx f;
	struct md_params p;
	struct dp_event ev[N];
	unsigned i, done = 0, n;

	(void)state;
	params(&p);
	p.retain = 4;
	p.max_payload = MD_MIN_PAYLOAD; /* one TopOfBook a packet */
	fx_open(&f, &p);
	for (i = 0; i < N; i++)
		ev[i] = ev_tob(7, i + 1, 1, 1000, 1, T0);
	n = md_pub_add(f.p, ev, N, T0);
	assert_int_equal(n, 4); /* four PENDING packets; the fifth message has no slot */
	assert_true(stats(&f).ring_full == 1);
	assert_int_equal(md_pub_flush(f.p, T0), 4);
	done = n;
	while (done < N) {
		assert_true(drain(&f) > 0);
		n = md_pub_add(f.p, ev + done, N - done, T0);
		assert_true(n > 0);
		done += n;
	}
	md_pub_flush(f.p, T0);
	drain(&f);
	assert_true(f.expect == N + 1);
	for (i = 0; i < f.n_pk; i++) {
		struct dec d;

		decode(f.pk[i].b, f.pk[i].len, &d);
		assert_body(&d.m[0], &ev[i]);
	}
	fx_close(&f);
}

/* ---- Heartbeats ------------------------------------------------------------------------ */

static void test_heartbeat(void **state)
{
	const uint64_t hb = 100 * MS;
	struct fx f;
	struct md_params p;
	struct dp_event e = ev_tob(7, 1, 1, 2, 1, T0);
	struct dec d;

	(void)state;
	params(&p);
	p.heartbeat_ns = hb;
	fx_open(&f, &p);

	/* Idle from the first call: the clock starts there. */
	assert_int_equal(md_pub_tick(f.p, T0), 0);
	assert_int_equal(drain(&f), 0);
	md_pub_tick(f.p, T0 + hb - 1);
	assert_int_equal(drain(&f), 0);
	md_pub_tick(f.p, T0 + hb);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[0].b, f.pk[0].len, &d);
	assert_int_equal(d.h.count, TKX_MD_HEARTBEAT);
	assert_true(d.h.sequence == 1);

	/* Data, then nothing before one full interval of silence. */
	assert_int_equal(md_pub_add(f.p, &e, 1, T0 + hb + 10 * MS), 1);
	md_pub_flush(f.p, T0 + hb + 10 * MS);
	assert_int_equal(drain(&f), 1);
	md_pub_tick(f.p, T0 + 2 * hb);
	md_pub_tick(f.p, T0 + 2 * hb + 10 * MS - 1);
	assert_int_equal(drain(&f), 0);
	md_pub_tick(f.p, T0 + 2 * hb + 10 * MS);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[2].b, f.pk[2].len, &d);
	assert_int_equal(d.h.count, TKX_MD_HEARTBEAT);
	assert_true(d.h.sequence == 2); /* the number the next message will take */
	md_pub_tick(f.p, T0 + 2 * hb + 10 * MS + 1);
	assert_int_equal(drain(&f), 0); /* one per interval */
	md_pub_tick(f.p, T0 + 3 * hb + 10 * MS);
	assert_int_equal(drain(&f), 1);
	assert_true(stats(&f).heartbeats == 3);

	/* A queued heartbeat handed out while a packet is OPEN carries the OPEN packet's
	 * first sequence: it never runs ahead of data still to come. */
	md_pub_tick(f.p, T0 + 4 * hb + 10 * MS);
	md_pub_add(f.p, &e, 1, T0 + 4 * hb + 10 * MS);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[4].b, f.pk[4].len, &d);
	assert_true(d.h.count == TKX_MD_HEARTBEAT && d.h.sequence == 2);
	md_pub_flush(f.p, T0 + 4 * hb + 11 * MS);
	assert_int_equal(drain(&f), 1);

	/* A heartbeat queued but superseded by data before the hand-out is dropped. */
	md_pub_tick(f.p, T0 + 6 * hb);
	md_pub_add(f.p, &e, 1, T0 + 6 * hb);
	md_pub_flush(f.p, T0 + 6 * hb);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[6].b, f.pk[6].len, &d);
	assert_true(d.h.count == 1 && d.h.sequence == 3);
	assert_true(stats(&f).heartbeats == 4);

	/* heartbeat_ns 0: never. */
	fx_close(&f);
	params(&p);
	fx_open(&f, &p);
	md_pub_tick(f.p, T0);
	md_pub_tick(f.p, T0 + 3600 * S);
	assert_int_equal(drain(&f), 0);
	fx_close(&f);
}

/* ---- Snapshots -------------------------------------------------------------------------- */

static void assert_snap(const struct tkx_msg *m, uint64_t t, uint64_t as_of, uint32_t c,
			int64_t bid, uint64_t bq, int64_t ask, uint64_t aq, int64_t last,
			uint64_t vol, uint8_t phase)
{
	const struct tkx_md_snapshot *s = &m->md_snapshot;

	assert_int_equal(m->template_id, TKX_MD_SNAPSHOT);
	assert_true(s->transact_time == t);
	assert_true(s->as_of_seq == as_of);
	assert_int_equal(s->contract_id, c);
	assert_true(s->bid_price == bid && s->bid_qty == bq);
	assert_true(s->ask_price == ask && s->ask_qty == aq);
	assert_true(s->last_price == last && s->volume == vol);
	assert_int_equal(s->phase, phase);
}

/* The Snapshot list follows listing and delisting: a month listed at run time (its
 * ContractStatus, the only way the publisher hears of it) is in the next Snapshot round
 * with its state; a delisted one is not; the room is bounded and counted. */
static void test_listing(void **state)
{
	const int64_t NP = TKX_NULL_PRICE;
	struct fx f;
	struct md_params p;
	struct dp_event ev[4];
	struct tkx_md_snapshot s;
	struct dec d;

	(void)state;
	params(&p);
	p.snapshot_ns = S;
	p.max_contracts = 2; /* below the start list: refused */
	assert_int_equal(md_pub_memsize(&p), 0);
	p.max_contracts = 5;
	fx_open(&f, &p);
	assert_int_equal(md_pub_tick(f.p, T0), 0);
	assert_int_equal(md_pub_contract(f.p, 21, &s), -ENOENT);
	ev[0] = ev_status(21, TKX_PHASE_LISTED, NP, T0 + 1);  /* listed at run time */
	ev[1] = ev_trade(21, 1, 2500, 4, TKX_SIDE_BUY, T0 + 2);
	ev[2] = ev_status(9, TKX_PHASE_DELISTED, NP, T0 + 3); /* a start month delisted */
	ev[3] = ev_status(0, TKX_PHASE_LISTED, NP, T0 + 4);   /* no contract 0 */
	assert_int_equal(md_pub_add(f.p, ev, 4, T0 + 5), 4);
	md_pub_flush(f.p, T0 + 5);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[0].b, f.pk[0].len, &d);
	assert_int_equal(d.h.count, 4); /* every record is published, the delisting included */
	assert_int_equal(md_pub_contract(f.p, 21, &s), 0);
	assert_true(s.volume == 4 && s.last_price == 2500 && s.phase == TKX_PHASE_LISTED);
	assert_int_equal(md_pub_contract(f.p, 9, &s), -ENOENT);
	assert_int_equal(md_pub_tick(f.p, T0 + S), 0);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[1].b, f.pk[1].len, &d);
	assert_int_equal(d.h.count, 3); /* 7, 11 in their order, then 21 */
	assert_snap(&d.m[0], T0 + S, 4, 7, NP, 0, NP, 0, NP, 0, TKX_PHASE_PRE_OPEN);
	assert_snap(&d.m[1], T0 + S, 5, 11, NP, 0, NP, 0, NP, 0, TKX_PHASE_CONTINUOUS);
	assert_snap(&d.m[2], T0 + S, 6, 21, NP, 0, NP, 0, 2500, 4, TKX_PHASE_LISTED);
	/* The room: 7, 11, 21 and two more; a sixth is published without state. */
	for (uint32_t id = 22; id <= 24; id++) {
		ev[0] = ev_status(id, TKX_PHASE_LISTED, NP, T0 + S + id);
		assert_int_equal(md_pub_add(f.p, ev, 1, T0 + S + id), 1);
	}
	assert_int_equal(md_pub_contract(f.p, 23, &s), 0);
	assert_int_equal(md_pub_contract(f.p, 24, &s), -ENOENT);
	assert_true(stats(&f).contracts_added == 3 && stats(&f).contracts_removed == 1);
	assert_true(stats(&f).contracts_full == 1 && stats(&f).records_unknown == 2);
	/* A delisting frees room for the next listing. */
	ev[0] = ev_status(22, TKX_PHASE_DELISTED, NP, T0 + 2 * S);
	ev[1] = ev_status(24, TKX_PHASE_LISTED, NP, T0 + 2 * S);
	assert_int_equal(md_pub_add(f.p, ev, 2, T0 + 2 * S), 2);
	assert_int_equal(md_pub_contract(f.p, 22, &s), -ENOENT);
	assert_int_equal(md_pub_contract(f.p, 24, &s), 0);
	assert_int_equal(md_pub_contract(f.p, 21, &s), 0);
	assert_true(s.volume == 4);
	fx_close(&f);
}

static void test_snapshot(void **state)
{
	const int64_t NP = TKX_NULL_PRICE;
	struct fx f;
	struct md_params p;
	struct dp_event ev[8], e2;
	struct tkx_md_snapshot s;
	struct dec d;

	(void)state;
	params(&p);
	p.snapshot_ns = S;
	fx_open(&f, &p);
	assert_int_equal(md_pub_tick(f.p, T0), 0); /* the clock starts: no Snapshot yet */
	assert_int_equal(drain(&f), 0);

	ev[0] = ev_status(7, TKX_PHASE_CONTINUOUS, NP, T0 + 1);
	ev[1] = ev_tob(7, 1000, 5, 1010, 6, T0 + 2);
	ev[2] = ev_trade(7, 1, 1010, 3, TKX_SIDE_BUY, T0 + 3);
	ev[3] = ev_trade(7, 2, 1010, 3, TKX_SIDE_BUY, T0 + 4);
	ev[4] = ev_tob(7, 1000, 5, NP, 0, T0 + 5); /* ask side emptied */
	ev[5] = ev_trade(7, 3, 1000, 2, TKX_SIDE_SELL, T0 + 6);
	ev[6] = ev_tob(9, 500, 1, 600, 2, T0 + 7);
	ev[7] = ev_trade(42, 1, 1, 1, TKX_SIDE_SELL, T0 + 8); /* not in the list */
	assert_int_equal(md_pub_add(f.p, ev, 8, T0 + 10), 8);
	md_pub_flush(f.p, T0 + 10);
	assert_int_equal(drain(&f), 1);

	md_pub_tick(f.p, T0 + S - 1);
	assert_int_equal(drain(&f), 0);
	assert_int_equal(md_pub_tick(f.p, T0 + S), 0);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[1].b, f.pk[1].len, &d);
	assert_true(d.h.sequence == 9);
	assert_int_equal(d.h.count, 3);
	assert_snap(&d.m[0], T0 + S, 8, 7, 1000, 5, NP, 0, 1000, 8, TKX_PHASE_CONTINUOUS);
	assert_snap(&d.m[1], T0 + S, 9, 9, 500, 1, 600, 2, NP, 0, TKX_PHASE_LISTED);
	assert_snap(&d.m[2], T0 + S, 10, 11, NP, 0, NP, 0, NP, 0, TKX_PHASE_CONTINUOUS);
	assert_true(stats(&f).snapshots == 3 && stats(&f).records_unknown == 1);

	assert_int_equal(md_pub_contract(f.p, 7, &s), 0);
	assert_true(s.volume == 8 && s.last_price == 1000 && s.as_of_seq == 11);
	assert_int_equal(md_pub_contract(f.p, 42, &s), -ENOENT);

	/* The next round one interval after this one, reflecting what came in between. */
	e2 = ev_trade(9, 1, 550, 7, TKX_SIDE_BUY, T0 + S + 5);
	md_pub_add(f.p, &e2, 1, T0 + S + 5);
	e2 = ev_status(9, TKX_PHASE_HALTED, NP, T0 + S + 6);
	md_pub_add(f.p, &e2, 1, T0 + S + 6);
	md_pub_tick(f.p, T0 + 2 * S - 1);
	assert_int_equal(drain(&f), 1); /* the tick flushed the records, no Snapshot */
	md_pub_tick(f.p, T0 + 2 * S);
	assert_int_equal(drain(&f), 1);
	decode(f.pk[3].b, f.pk[3].len, &d);
	assert_true(d.h.sequence == 14 && d.h.count == 3);
	assert_snap(&d.m[1], T0 + 2 * S, 14, 9, 500, 1, 600, 2, 550, 7, TKX_PHASE_HALTED);
	fx_close(&f);
}

/* A round larger than MD_SNAP_BURST goes on over several ticks; with the ring full it
 * waits (-ENOBUFS) and resumes; every contract once, sequences consecutive. */
static void test_snapshot_rounds(void **state)
{
	enum { N = 600 };
	static struct md_contract many[N];
	struct fx f;
	struct md_params p;
	unsigned i, k, ticks = 0, seen = 0;
	int rc;

	(void)state;
	for (i = 0; i < N; i++)
		many[i] = (struct md_contract){ .id = 1000 + i * 7, .phase = TKX_PHASE_CONTINUOUS };
	params(&p);
	p.contracts = many;
	p.n_contracts = N;
	p.snapshot_ns = S;
	p.retain = 8; /* 17 Snapshots a packet: 256 need 16 slots, the round must wait */
	fx_open(&f, &p);
	md_pub_tick(f.p, T0);
	do {
		rc = md_pub_tick(f.p, T0 + S + ticks);
		assert_true(rc == 0 || rc == -ENOBUFS);
		drain(&f);
		ticks++;
		assert_true(ticks < 100);
	} while (stats(&f).snapshots < N);
	assert_true(ticks >= 3); /* at most MD_SNAP_BURST a call */
	assert_true(stats(&f).ring_full >= 1);
	for (k = 0; k < f.n_pk; k++) {
		struct dec d;

		decode(f.pk[k].b, f.pk[k].len, &d);
		for (i = 0; i < d.n; i++, seen++) {
			assert_int_equal(d.m[i].md_snapshot.contract_id, 1000 + seen * 7);
			assert_true(d.m[i].md_snapshot.as_of_seq == d.seq[i] - 1);
		}
	}
	assert_int_equal(seen, N);
	/* The round is over: nothing until the next interval. */
	md_pub_tick(f.p, T0 + S + ticks + 1);
	assert_int_equal(drain(&f), 0);
	fx_close(&f);
}

/* ---- End of session ------------------------------------------------------------------- */

static void test_end(void **state)
{
	struct fx f;
	struct md_params p;
	struct dp_event ev[3];
	struct pkt out[4];
	struct dec d;
	unsigned i;

	(void)state;
	params(&p);
	p.heartbeat_ns = MS;
	p.snapshot_ns = MS;
	fx_open(&f, &p);
	for (i = 0; i < 3; i++)
		ev[i] = ev_mixed(i);
	md_pub_tick(f.p, T0);
	md_pub_add(f.p, ev, 3, T0);
	md_pub_tick(f.p, T0 + 2 * MS); /* Snapshots, then closes: no heartbeat */
	assert_int_equal(md_pub_end(f.p, T0 + 2 * MS), 0);
	assert_int_equal(md_pub_end(f.p, T0 + 2 * MS), -EALREADY);
	assert_int_equal(drain(&f), 2);
	decode(f.pk[0].b, f.pk[0].len, &d);
	assert_true(d.h.sequence == 1 && d.h.count == 6); /* 3 records + 3 Snapshots */
	decode(f.pk[1].b, f.pk[1].len, &d);
	assert_int_equal(d.h.count, TKX_MD_END_OF_SESSION);
	assert_true(d.h.sequence == 7);
	assert_int_equal(f.pk[1].len, TKX_MD_HDR_LEN);

	/* Nothing after it: records dropped, no timers. */
	assert_int_equal(md_pub_add(f.p, ev, 3, T0 + 3 * MS), 3);
	assert_int_equal(md_pub_tick(f.p, T0 + 10 * S), -ESHUTDOWN);
	assert_int_equal(md_pub_flush(f.p, T0 + 10 * S), 0);
	assert_int_equal(drain(&f), 0);
	assert_true(stats(&f).records_after_end == 3 && stats(&f).end_of_session == 1);
	assert_true(stats(&f).heartbeats == 0);

	/* Re-requests are still answered. */
	assert_int_equal(request(&f, SESSION, 2, 3, T0 + 10 * S, out, 4), 1);
	assert_resent(&f, out, 1, 2, 3);
	fx_close(&f);
}

/* A new session (a standby promoted, docs/STANDBY.md): nothing of the old one is handed
 * out or resent; numbering starts at 1 under the new name with a Snapshot round of every
 * contract at once; the contracts' state is kept; a bad name changes nothing. */
static void test_new_session(void **state)
{
	struct fx f;
	struct md_params p;
	struct dp_event ev[3];
	struct pkt out[4];
	const uint8_t *buf;
	size_t len;
	struct tkx_md_iter it;
	unsigned i;

	(void)state;
	params(&p);
	p.snapshot_ns = S;
	fx_open(&f, &p);
	for (i = 0; i < 3; i++)
		ev[i] = ev_mixed(i);
	md_pub_tick(f.p, T0);
	assert_int_equal(md_pub_add(f.p, ev, 3, T0), 3);
	md_pub_flush(f.p, T0); /* a packet of the old session, not handed out yet */
	assert_int_equal(md_pub_new_session(f.p, "", T0 + MS), -EINVAL);
	assert_int_equal(md_pub_new_session(f.p, "TOOLONGNAME1", T0 + MS), -EINVAL);
	assert_int_equal(md_pub_new_session(f.p, "NEWSESS.3", T0 + MS), 0);
	assert_int_equal(md_pub_next_tx(f.p, &buf, &len), 0); /* the old packet is gone */
	assert_int_equal(md_pub_tick(f.p, T0 + MS), 0); /* the Snapshot round: due now */
	md_pub_flush(f.p, T0 + MS);
	assert_int_equal(md_pub_next_tx(f.p, &buf, &len), 1);
	assert_int_equal(tkx_md_iter_init(&it, buf, len), 0);
	assert_memory_equal(it.hdr.session, "NEWSESS.3 ", TKX_MD_SESSION_LEN);
	assert_true(it.hdr.sequence == 1);
	assert_int_equal(it.hdr.count, 3); /* a Snapshot per contract: their state kept */
	for (i = 0; i < 3; i++) {
		struct tkx_msg m;
		uint64_t seq;
		assert_int_equal(tkx_md_iter_decode(&it, &m, &seq), 1);
		assert_true(seq == i + 1);
		assert_int_equal(m.template_id, TKX_MD_SNAPSHOT);
	}
	struct tkx_md_snapshot snap;
	assert_int_equal(md_pub_contract(f.p, ev[0].u.tob.contract_id, &snap), 0);
	assert_true(snap.bid_price == ev[0].u.tob.bid_price);
	/* The old session is another session now: GapReject (first_available 0). */
	assert_int_equal(request(&f, SESSION, 1, 1, T0 + 2 * MS, out, 4), 1);
	assert_true(stats(&f).req_wrong_session == 1);
	fx_close(&f);
}

/* ---- Re-requests ----------------------------------------------------------------------- */

/* A stream of n mixed records in bursts of `burst`, every packet handed out. */
static void publish(struct fx *f, unsigned n, unsigned burst, uint64_t now)
{
	struct dp_event ev[64];
	unsigned i, k;

	assert_true(burst <= 64);
	for (i = 0; i < n; i += burst) {
		unsigned m = n - i < burst ? n - i : burst;

		for (k = 0; k < m; k++)
			ev[k] = ev_mixed(i + k);
		assert_int_equal(md_pub_add(f->p, ev, m, now), m);
		md_pub_flush(f->p, now);
		drain(f);
	}
}

static void test_request_in_range(void **state)
{
	static struct pkt out[64];
	static const uint16_t counts[] = { 1, 2, 7, 40, 41, 1000 };
	struct fx f;
	struct md_params p;
	uint64_t seq, last;
	unsigned c;
	int n;

	(void)state;
	params(&p);
	p.max_payload = 400;
	p.req_max = 40;
	fx_open(&f, &p);
	publish(&f, 300, 7, T0);
	last = f.expect - 1;
	assert_true(last == 300);

	n = request(&f, SESSION, 30, 50, T0, out, 64);
	assert_true(n >= 2);
	assert_resent(&f, out, n, 30, 40); /* capped at req_max */
	assert_true(f.mark && f.mark_seq == 70); /* ... and says where to ask again */

	/* Every start, several counts: exactly [seq, seq + min(count, req_max, what exists)). */
	for (seq = 1; seq <= last; seq++) {
		for (c = 0; c < sizeof(counts) / sizeof(counts[0]); c++) {
			uint64_t want = counts[c] < 40 ? counts[c] : 40;

			if (want > last + 1 - seq)
				want = last + 1 - seq;
			n = request(&f, SESSION, seq, counts[c], T0, out, 64);
			assert_true(n >= 1);
			assert_resent(&f, out, n, seq, want);
			/* The marker exactly when the cap left out messages asked for. */
			assert_int_equal(f.mark, want < counts[c] && seq + want <= last);
			if (f.mark)
				assert_true(f.mark_seq == seq + want);
		}
	}

	/* Past the end: nothing. Not yet handed out (OPEN or PENDING): not published yet. */
	assert_int_equal(request(&f, SESSION, last + 1, 5, T0, out, 64), 0);
	assert_int_equal(request(&f, SESSION, 1u << 30, 5, T0, out, 64), 0);
	{
		struct dp_event e = ev_mixed(1);

		md_pub_add(f.p, &e, 1, T0);
		assert_int_equal(request(&f, SESSION, last + 1, 1, T0, out, 64), 0);
		md_pub_flush(f.p, T0);
		assert_int_equal(request(&f, SESSION, last + 1, 1, T0, out, 64), 0);
		assert_int_equal(request(&f, SESSION, last, 5, T0, out, 64), 1);
		assert_resent(&f, out, 1, last, 1);
		drain(&f);
		assert_int_equal(request(&f, SESSION, last, 5, T0, out, 64), 1);
		assert_resent(&f, out, 1, last, 2);
	}
	assert_true(stats(&f).req_empty == 4);
	assert_true(stats(&f).req_bad == 0 && stats(&f).gap_rejects == 0);
	assert_true(stats(&f).req_cut == 0);
	fx_close(&f);
}

static void assert_gap_reject(const struct pkt *k, uint64_t first, uint64_t requested)
{
	struct dec d;

	decode(k->b, k->len, &d);
	assert_true(d.h.sequence == 0);
	assert_int_equal(d.h.count, 1);
	assert_int_equal(d.m[0].template_id, TKX_MD_GAP_REJECT);
	assert_true(d.m[0].md_gap_reject.first_available_seq == first);
	assert_true(d.m[0].md_gap_reject.requested_seq == requested);
	assert_int_equal(k->len, TKX_MD_HDR_LEN + 2 + TKX_HDR_LEN + 16);
}

static void test_request_evicted(void **state)
{
	struct pkt out[8];
	struct fx f;
	struct md_params p;
	struct md_info info;
	int n;

	(void)state;
	params(&p);
	p.retain = 4;
	p.max_payload = MD_MIN_PAYLOAD; /* one message a packet */
	fx_open(&f, &p);
	publish(&f, 20, 1, T0);
	md_pub_info(f.p, &info);
	assert_true(info.first_retained == 17 && info.last_sent == 20 && info.retained == 4);

	assert_int_equal(request(&f, SESSION, 5, 3, T0, out, 8), 1);
	assert_gap_reject(&out[0], 17, 5);
	assert_int_equal(request(&f, SESSION, 16, 3, T0, out, 8), 1); /* first one evicted */
	assert_gap_reject(&out[0], 17, 16);
	n = request(&f, SESSION, 17, 10, T0, out, 8);
	assert_int_equal(n, 4);
	assert_resent(&f, out, n, 17, 4);
	assert_true(stats(&f).gap_rejects == 2 && stats(&f).req_served == 1);
	assert_true(stats(&f).req_msgs == 4 && stats(&f).req_pkts == 6);
	fx_close(&f);
}

/* The message to resend next is evicted between two md_pub_next_reply() calls: the answer
 * stops there (the receiver will re-request and get a GapReject). */
static void test_request_cut(void **state)
{
	uint8_t req[TKX_MD_HDR_LEN];
	const uint8_t *buf;
	size_t len;
	struct fx f;
	struct md_params p;

	(void)state;
	params(&p);
	p.retain = 4;
	p.max_payload = MD_MIN_PAYLOAD;
	fx_open(&f, &p);
	publish(&f, 8, 1, T0); /* retained: 5..8 */
	mkreq(req, SESSION, 5, 4);
	assert_int_equal(md_pub_request(f.p, SRC, req, sizeof(req), T0), 0);
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 1);
	publish(&f, 2, 1, T0); /* evicts 5 and 6 */
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 0);
	assert_true(stats(&f).req_cut == 1);

	/* A new request replaces an unfinished answer. */
	mkreq(req, SESSION, 7, 4);
	assert_int_equal(md_pub_request(f.p, SRC, req, sizeof(req), T0), 0);
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 1);
	mkreq(req, SESSION, 9, 1);
	assert_int_equal(md_pub_request(f.p, SRC, req, sizeof(req), T0), 0);
	assert_true(stats(&f).req_cut == 2);
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 1);
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 0);
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 0);
	fx_close(&f);
}

static void test_request_bad(void **state)
{
	struct pkt out[4];
	uint8_t req[TKX_MD_HDR_LEN + 1];
	const uint8_t *buf;
	size_t len;
	struct fx f;
	struct md_params p;

	(void)state;
	params(&p);
	fx_open(&f, &p);
	publish(&f, 10, 10, T0);

	mkreq(req, SESSION, 1, 5);
	req[TKX_MD_HDR_LEN] = 0;
	assert_int_equal(md_pub_request(f.p, SRC, req, TKX_MD_HDR_LEN - 1, T0), -EBADMSG);
	assert_int_equal(md_pub_request(f.p, SRC, req, TKX_MD_HDR_LEN + 1, T0), -EBADMSG);
	assert_int_equal(md_pub_request(f.p, SRC, req, 0, T0), -EBADMSG);
	assert_int_equal(request(&f, SESSION, 1, 0, T0, out, 4), -EBADMSG); /* count 0 */
	assert_int_equal(request(&f, SESSION, 0, 5, T0, out, 4), -EBADMSG); /* sequence 0 */
	assert_int_equal(md_pub_next_reply(f.p, &buf, &len), 0);
	assert_true(stats(&f).req_bad == 5);

	/* Another session (docs/protocol.md 6.3): GapReject, first_available_seq 0. */
	assert_int_equal(request(&f, "20251231A", 3, 5, T0, out, 4), 1);
	assert_gap_reject(&out[0], 0, 3);
	assert_int_equal(request(&f, SESSION "B", 3, 5, T0, out, 4), 1); /* differs in pad */
	assert_gap_reject(&out[0], 0, 3);
	assert_true(stats(&f).req_wrong_session == 2 && stats(&f).gap_rejects == 2);
	assert_true(stats(&f).req_served == 0 && stats(&f).req_bad == 5);
	fx_close(&f);
}

/* A receiver that follows the end markers gets every message asked for, in answers of at
 * most req_max_bytes each (all packets and the marker together), for several caps. */
static void test_request_byte_cap(void **state)
{
	static struct pkt out[64];
	static const uint32_t caps[] = { MD_REQ_MIN_BYTES, 200, 1000, TKX_MAX_DGRAM + 20, 3000,
					 5000 };
	struct fx f;
	struct md_params p;
	unsigned c;

	(void)state;
	for (c = 0; c < sizeof(caps) / sizeof(caps[0]); c++) {
		uint64_t next = 1, last, asked = 0, got_bytes = 0;
		unsigned answers = 0;

		params(&p);
		p.retain = 1024;
		p.req_max_bytes = caps[c];
		fx_open(&f, &p);
		publish(&f, 900, 30, T0);
		last = f.expect - 1;
		while (next <= last) {
			uint64_t upto;
			int n = request(&f, SESSION, next, 1000, T0, out, 64);

			assert_true(n >= 1);
			assert_true(f.ans_bytes <= caps[c]); /* the bound, marker included */
			answers++;
			asked += TKX_MD_HDR_LEN;
			got_bytes += f.ans_bytes;
			upto = f.mark ? f.mark_seq : (next + 1000 <= last + 1 ? next + 1000 : last + 1);
			assert_true(upto > next);
			assert_resent(&f, out, n, next, upto - next);
			/* A marker only when messages asked for and existing were left out. */
			assert_int_equal(f.mark, upto < last + 1 && upto < next + 1000);
			if (f.mark) /* and only when the next message did not fit (the last
				     * packet's room, or a new packet's header and it) */
				assert_true(f.ans_bytes + TKX_MD_HDR_LEN + 2 + f.by_seq[upto].len >
					    caps[c]);
			next = upto;
		}
		/* Amplification, measured: never above cap / 20. */
		assert_true(got_bytes <= (uint64_t)answers * caps[c]);
		assert_true(got_bytes * TKX_MD_HDR_LEN <= asked * caps[c]);
		if (caps[c] < 3000)
			assert_true(answers > 1); /* recovered in several requests */
		assert_true(stats(&f).req_capped == answers - 1);
		assert_true(stats(&f).req_bytes == got_bytes);
		fx_close(&f);
	}
}

/* Per source: a bucket of req_burst bytes refilled at req_rate; every answer costs its
 * bytes (a GapReject 46, an empty one 20); over its budget a request gets nothing, an
 * answer the budget shortens ends with the marker; another source is not affected. */
static void test_request_rate(void **state)
{
	static struct pkt out[64];
	const uint32_t A = 0xc0a80001u, B = 0xc0a80002u, C = 0xc0a80003u;
	struct fx f;
	struct md_params p;
	uint64_t spent = 0, t;
	unsigned i, served = 0, throttled = 0;
	int n;

	(void)state;
	params(&p);
	p.retain = 1024;
	p.req_max_bytes = 1492;
	p.req_rate = 10000; /* bytes per second */
	p.req_burst = 3000;
	p.req_sources = 64;
	fx_open(&f, &p);
	publish(&f, 900, 30, T0);

	/* The burst: two answers, the second cut short by the budget (marker), then none. */
	n = request_from(&f, A, SESSION, 1, 1000, T0, out, 64);
	assert_true(n >= 1 && f.mark && f.ans_bytes <= 1492 && f.ans_bytes > 1492 - 80);
	spent = f.ans_bytes;
	n = request_from(&f, A, SESSION, f.mark_seq, 1000, T0, out, 64);
	assert_true(n >= 1 && f.mark && f.ans_bytes <= 3000 - spent);
	spent += f.ans_bytes;
	assert_true(3000 - spent < MD_REQ_MIN_BYTES);
	assert_int_equal(request_from(&f, A, SESSION, 1, 1000, T0, out, 64), -EAGAIN);
	assert_true(stats(&f).req_throttled == 1 && stats(&f).req_throttled_global == 0);
	/* B is another source: a whole answer. */
	n = request_from(&f, B, SESSION, 1, 1000, T0, out, 64);
	assert_true(n >= 1 && f.ans_bytes > 1492 - 80);

	/* A floods: one request every 100 us for 2 s. It gets at most burst + rate x t. */
	for (i = 1, t = T0; i <= 20000; i++) {
		t = T0 + i * 100000ull;
		n = request_from(&f, A, SESSION, 1, 1000, t, out, 64);
		if (n == -EAGAIN) {
			throttled++;
			continue;
		}
		assert_true(n >= 1);
		served++;
		spent += f.ans_bytes;
	}
	assert_true(spent <= 3000 + 10000 * 2);
	assert_true(spent >= 10000 * 2 - 1492); /* and not much less: the limit, not a stop */
	assert_true(throttled > 19000 && served < 400); /* answers of >= 60 bytes */
	assert_true(stats(&f).req_throttled == 1 + throttled);

	/* Refill is capped at the depth. */
	n = request_from(&f, A, SESSION, 1, 1000, t + 3600 * S, out, 64);
	spent = f.ans_bytes;
	n = request_from(&f, A, SESSION, f.mark_seq, 1000, t + 3600 * S, out, 64);
	spent += f.ans_bytes;
	assert_int_equal(request_from(&f, A, SESSION, 1, 1000, t + 3600 * S, out, 64), -EAGAIN);
	assert_true(spent <= 3000);

	/* What small answers cost: 150 empty ones (past the end) take C's 3000 exactly; a
	 * GapReject 46. */
	for (i = 0; i < 150; i++)
		assert_int_equal(request_from(&f, C, SESSION, 1u << 30, 1, T0, out, 4), 0);
	assert_int_equal(request_from(&f, C, SESSION, 1u << 30, 1, T0, out, 4), -EAGAIN);
	assert_int_equal(request_from(&f, C, "OTHER", 1, 1, T0 + 46 * S / 10000 - 1, out, 4),
			 -EAGAIN);
	assert_int_equal(request_from(&f, C, "OTHER", 1, 1, T0 + 46 * S / 10000, out, 4), 1);
	assert_true(f.ans_bytes == 46);
	assert_int_equal(request_from(&f, C, SESSION, 1u << 30, 1, T0 + 46 * S / 10000, out, 4),
			 -EAGAIN);
	/* Malformed requests are counted as such, whatever the bucket holds. */
	assert_int_equal(request_from(&f, C, SESSION, 0, 1, T0, out, 4), -EBADMSG);
	fx_close(&f);
}

/* The global budget: many sources, each well within its own limit, get no more than the
 * global bucket together; the throttles are counted as global. */
static void test_request_global(void **state)
{
	static struct pkt out[64];
	struct fx f;
	struct md_params p;
	uint64_t got = 0;
	unsigned i;
	int n;

	(void)state;
	params(&p);
	p.retain = 1024;
	p.req_max_bytes = 1492;
	p.req_rate = 1000000;
	p.req_burst = 100000;
	p.req_global_rate = 20000;
	p.req_global_burst = 5000;
	p.req_sources = 1024;
	fx_open(&f, &p);
	publish(&f, 900, 30, T0);
	for (i = 0; i < 1000; i++) {
		n = request_from(&f, 0x0b000000u + i, SESSION, 1, 1000, T0 + i * 1000ull, out, 64);
		if (n > 0)
			got += f.ans_bytes;
	}
	/* 1 ms of requests: the depth and 1 ms of the rate. */
	assert_true(got <= 5000 + 20 && got >= 5000 - 1492);
	assert_true(stats(&f).req_throttled >= 990);
	assert_true(stats(&f).req_throttled_global == stats(&f).req_throttled);
	assert_true(stats(&f).req_sources_new == 1000 && stats(&f).req_sources_evicted == 0);
	fx_close(&f);
}

/* ---- The source table (md_lim.h) -------------------------------------------------------- */

struct lim {
	void *mem;
	struct md_lim *l;
};

static void lim_open(struct lim *x, const struct md_lim_params *p)
{
	size_t len = md_lim_memsize(p);

	assert_true(len > 0);
	x->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(x->mem);
	x->l = md_lim_init(x->mem, len, p);
	assert_non_null(x->l);
}

static void test_lim_params(void **state)
{
	struct md_lim_params p = { .sources = 64, .rate = 1000, .burst = 1000 };
	size_t len;
	void *mem;

	(void)state;
	len = md_lim_memsize(&p);
	assert_true(len >= 64 * 24);
	/* The table's size is the configuration's, whatever comes later. */
	p.sources = 1u << 20;
	assert_true(md_lim_memsize(&p) < (size_t)(1u << 20) * 32 + 4096);
	p.sources = 48;
	assert_int_equal(md_lim_memsize(&p), 0);
	p.sources = 4;
	assert_int_equal(md_lim_memsize(&p), 0);
	p.sources = 64;
	p.burst = 0;
	assert_int_equal(md_lim_memsize(&p), 0);
	p.burst = 1000;
	p.global_rate = 5;
	assert_int_equal(md_lim_memsize(&p), 0);
	p.global_burst = 10;
	assert_true(md_lim_memsize(&p) == len);
	assert_null(md_lim_init(NULL, len, &p));
	mem = aligned_alloc(64, len + 64);
	assert_non_null(mem);
	assert_null(md_lim_init(mem, len - 1, &p));
	assert_null(md_lim_init((uint8_t *)mem + 8, len, &p));
	assert_non_null(md_lim_init(mem, len, &p));
	free(mem);
	p.rate = 0; /* no per-source limit: no table */
	assert_true(md_lim_memsize(&p) < len);
	assert_true(md_lim_memsize(NULL) == 0);
}

/* Refill: rate x elapsed, capped at the depth; a clock that steps back refills nothing. */
static void test_lim_refill(void **state)
{
	struct md_lim_params p = { .sources = 8, .rate = 1000, .burst = 500, .seed = 7 };
	struct md_lim_grant g;
	struct lim x;

	(void)state;
	lim_open(&x, &p);
	md_lim_check(x.l, 1, T0, &g);
	assert_true(g.src == 500 && g.global == UINT64_MAX && g.how == MD_LIM_NEW);
	md_lim_spend(x.l, &g, 500);
	md_lim_check(x.l, 1, T0, &g);
	assert_true(g.src == 0 && g.how == MD_LIM_FOUND);
	md_lim_check(x.l, 1, T0 + 100 * MS, &g);
	assert_true(g.src == 100);
	md_lim_check(x.l, 1, T0 + 50 * MS, &g); /* backwards */
	assert_true(g.src == 100);
	md_lim_spend(x.l, &g, 100);
	md_lim_check(x.l, 1, T0 + 101 * MS, &g); /* counts from the latest time seen */
	assert_true(g.src == 1);
	md_lim_check(x.l, 1, T0 + 3600 * S, &g);
	assert_true(g.src == 500);
	free(x.mem);
}

/*
 * Many spoofed sources cannot lock an honest one out, nor grow the table:
 *  - a newcomer always gets an entry and a full bucket, idle entries first, else the
 *    fullest busy one (counted); nobody is ever refused;
 *  - the entry taken is the one that loses least: a source that spent much (the
 *    flooders) keeps its drained bucket, and one crowded out comes back with a full
 *    bucket (the limit errs on the generous side; the global budget bounds the rest).
 */
static void test_lim_spoofers(void **state)
{
	struct md_lim_params p = { .sources = 64, .rate = 1000, .burst = 1000, .seed = 99 };
	struct md_lim_grant g;
	struct lim x;
	const uint32_t H = 0xc6120101u;
	uint32_t i, evicted = 0;
	uint64_t t = T0;

	(void)state;
	lim_open(&x, &p);
	md_lim_check(x.l, H, t, &g);
	md_lim_spend(x.l, &g, 900); /* the honest source is busy: 100 left */

	/* 50000 sources, 10 us apart, each asking once for 20 bytes: ~2000 of them busy at
	 * any time, far more than the 64 entries, so they evict one another, never H (which
	 * holds less than any of them). */
	for (i = 0; i < 50000; i++) {
		t += 10000;
		md_lim_check(x.l, 0x0a000000u + i, t, &g);
		assert_true(g.how != MD_LIM_FOUND);
		assert_true(g.src == 1000);
		md_lim_spend(x.l, &g, 20);
		evicted += g.how == MD_LIM_EVICTED;
	}
	assert_true(evicted > 40000);
	md_lim_check(x.l, H, t, &g);
	assert_int_equal(g.how, MD_LIM_FOUND); /* still there, its limit with it */
	assert_true(g.src == 100 + 500);       /* 0.5 s of refill */

	/* Now every bucket drained at one instant: the whole table busy with flooders. */
	x.l = md_lim_init(x.mem, md_lim_memsize(&p), &p);
	md_lim_check(x.l, H, T0, &g);
	md_lim_spend(x.l, &g, 900);
	evicted = 0;
	for (i = 0; i < 10000; i++) {
		md_lim_check(x.l, 0x0a000000u + i, T0, &g);
		assert_true(g.how != MD_LIM_FOUND && g.src == 1000); /* never refused */
		md_lim_spend(x.l, &g, 1000);
		evicted += g.how == MD_LIM_EVICTED;
	}
	assert_true(evicted == 10000 - 63); /* 63 entries were never used */
	/* H held the most of its set: crowded out, it comes back with a full bucket. */
	md_lim_check(x.l, H, T0, &g);
	assert_true(g.how == MD_LIM_EVICTED && g.src == 1000);
	/* A flooder that kept its entry is still limited. */
	md_lim_check(x.l, 0x0a000000u + 9999, T0, &g);
	assert_true(g.how == MD_LIM_FOUND && g.src == 0);
	free(x.mem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_records_in_order),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_fill_split),
		cmocka_unit_test(test_fill_split_exact),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_heartbeat),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_listing),
		cmocka_unit_test(test_snapshot_rounds),
		cmocka_unit_test(test_end),
		cmocka_unit_test(test_new_session),
		cmocka_unit_test(test_request_in_range),
		cmocka_unit_test(test_request_evicted),
		cmocka_unit_test(test_request_cut),
		cmocka_unit_test(test_request_bad),
		cmocka_unit_test(test_request_byte_cap),
		cmocka_unit_test(test_request_rate),
		cmocka_unit_test(test_request_global),
		cmocka_unit_test(test_lim_params),
		cmocka_unit_test(test_lim_refill),
		cmocka_unit_test(test_lim_spoofers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
