/*
 * test_ss_snap.c - snapshots of the session table (ss_snap.h): a table rebuilt the way
 * recovery rebuilds it, saved, loaded into a fresh table, then both fed the same further
 * input (more recovery records, then clients re-negotiating, asking for retransmission,
 * trading, new sessions filling the table until TERMINATED slots are reclaimed) must say
 * exactly the same bytes; a live table's snapshot gives each session its numbering,
 * retransmit ring and cl_ord_id history; another configuration, truncation and corruption
 * are refused without touching the target.
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

#include "ss_snap.h"

#define MS 1000000ull
#define T0 (1700000000ull * 1000000000ull)
#define CORE 3

static const struct ss_firm firms[] = {
	{ .firm_id = 9, .key_len = 6, .key = "key--9" },
	{ .firm_id = 7, .key_len = 8, .key = "secret-7" },
};

struct fx {
	struct ss_params p;
	void *mem;
	struct ss_table *t;
	struct ss_out *out;
	uint64_t now;
	/* everything said, as bytes: buffers (peer, slot, bytes) and dp_orders */
	uint8_t *log;
	size_t n_log;
};

#define LOG_CAP (8u << 20)

static void params(struct ss_params *p, uint32_t max_sessions, uint32_t depth, uint32_t n_firms)
{
	ss_params_default(p);
	p->max_sessions = max_sessions;
	p->core = CORE;
	p->firms = firms;
	p->n_firms = n_firms;
	p->throttle_rate = 0;
	p->retrans_depth = depth;
	p->retrans_max = depth;
	p->log_depth = 64;
	p->linger_ms = 1000;	/* The session layer's own rules, on bare datagrams; datagram authentication has its
	 * tests in test_session_auth.c. */
	p->udp_auth = SS_AUTH_OFF;
}

static void fx_open(struct fx *f, uint32_t max_sessions, uint32_t depth, uint32_t n_firms)
{
	memset(f, 0, sizeof(*f));
	params(&f->p, max_sessions, depth, n_firms);
	size_t len = ss_table_memsize(&f->p);
	assert_true(len > 0);
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->t = ss_table_init(f->mem, len, &f->p);
	assert_non_null(f->t);
	f->out = calloc(1, sizeof(*f->out));
	f->log = malloc(LOG_CAP);
	assert_non_null(f->out);
	assert_non_null(f->log);
	f->now = T0;
}

static void fx_close(struct fx *f)
{
	free(f->out);
	free(f->mem);
	free(f->log);
}

/* Moves what the table produced into the byte log and empties out. */
static void fx_drain(struct fx *f)
{
	for (unsigned i = 0; i < f->out->n_bufs; i++) {
		const struct ss_buf *b = &f->out->bufs[i];
		size_t n = offsetof(struct ss_buf, bytes) + b->len;
		assert_true(f->n_log + n <= LOG_CAP);
		memcpy(f->log + f->n_log, &b->peer, sizeof(b->peer));
		memcpy(f->log + f->n_log + sizeof(b->peer), &b->len, sizeof(b->len));
		memcpy(f->log + f->n_log + sizeof(b->peer) + 2, &b->slot, sizeof(b->slot));
		memcpy(f->log + f->n_log + sizeof(b->peer) + 4, b->bytes, b->len);
		f->n_log += sizeof(b->peer) + 4 + b->len;
	}
	size_t n = f->out->n_orders * sizeof(struct dp_order);
	assert_true(f->n_log + n <= LOG_CAP);
	memcpy(f->log + f->n_log, f->out->orders, n);
	f->n_log += n;
	ss_out_reset(f->out);
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

static const struct ss_firm *firm_of(uint32_t id)
{
	return id == 7 ? &firms[1] : &firms[0];
}

/* ---- client datagrams ----------------------------------------------------------------- */

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

static void rx(struct fx *f, const struct ss_peer *p, const struct dg *d)
{
	int r = ss_rx(f->t, p, d->b, d->n, f->now, f->out);
	if (r == -ENOBUFS) {
		fx_drain(f);
		r = ss_rx(f->t, p, d->b, d->n, f->now, f->out);
	}
	assert_true(r >= 0);
	fx_drain(f);
}

static void negotiate(struct fx *f, const struct ss_peer *p, uint64_t sid, uint32_t firm)
{
	struct dg d = { .n = 0 };
	uint8_t *at = d.b;
	DG_ADD(&d, negotiate, .session_id = sid, .timestamp = f->now, .firm_id = firm);
	assert_int_equal(tkx_sign(firm_of(firm)->key, firm_of(firm)->key_len, at, TKX_HDR_LEN + 56), 0);
	rx(f, p, &d);
}

static void establish(struct fx *f, const struct ss_peer *p, uint64_t sid, uint32_t firm,
		      uint64_t next_seq, uint8_t cod)
{
	struct dg d = { .n = 0 };
	uint8_t *at = d.b;
	/* 1 ns after the Negotiate at now: an Establish must be newer (protocol 4.5). */
	DG_ADD(&d, establish, .session_id = sid, .timestamp = f->now + 1, .next_seq_no = next_seq,
	       .keepalive_ms = 1000, .cancel_on_disconnect = cod);
	assert_int_equal(tkx_sign(firm_of(firm)->key, firm_of(firm)->key_len, at, TKX_HDR_LEN + 64), 0);
	rx(f, p, &d);
}

static void orders(struct fx *f, const struct ss_peer *p, uint64_t seq, uint64_t cl, unsigned n)
{
	struct dg d = { .n = 0 };
	DG_ADD(&d, sequence, .next_seq_no = seq);
	for (unsigned i = 0; i < n; i++)
		DG_ADD(&d, new_order, .cl_ord_id = cl + i, .price = 12345, .qty = 10,
		       .contract_id = 42, .account = 5, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
	rx(f, p, &d);
}

static void retransmit(struct fx *f, const struct ss_peer *p, uint64_t sid, uint64_t from,
		       uint32_t count)
{
	struct dg d = { .n = 0 };
	DG_ADD(&d, retransmit_request, .session_id = sid, .timestamp = f->now, .from_seq_no = from,
	       .count = count);
	rx(f, p, &d);
}

static void terminate(struct fx *f, const struct ss_peer *p, uint64_t sid)
{
	struct dg d = { .n = 0 };
	DG_ADD(&d, terminate, .session_id = sid, .reason = TKX_TERM_FINISHED);
	rx(f, p, &d);
}

/* ---- exchange side: replies as the matching core sends them ------------------------------ */

static void fills(struct fx *f, unsigned slot, uint64_t cl, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct dp_event e;
		memset(&e, 0, sizeof(e));
		e.template_id = i % 3 ? TKX_FILL : TKX_EXEC_ACK;
		e.session = (uint16_t)slot;
		e.src = CORE;
		if (e.template_id == TKX_FILL)
			e.u.fill = (struct tkx_fill){ .cl_ord_id = cl + i, .order_id = 1000 + cl + i,
						      .trade_id = 7 + i, .price = 12345,
						      .transact_time = f->now + i, .qty = 1 + i % 9,
						      .contract_id = 42, .side = TKX_SIDE_BUY,
						      .aggressor = 1 };
		else
			e.u.ack = (struct tkx_exec_ack){ .cl_ord_id = cl + i, .order_id = 1000 + cl + i,
							 .price = 12345, .transact_time = f->now + i,
							 .qty = 10, .contract_id = 42,
							 .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
		if (i == n - 1)
			e.pad[1] = DP_EV_DONE; /* a request's last reply (ss_session.h invariant 15) */
		while (ss_event(f->t, &e, 1, f->now, f->out) == 0)
			fx_drain(f);
	}
	while (ss_release(f->t, f->now, f->out) == -ENOBUFS) /* what they let go */
		fx_drain(f);
	fx_drain(f);
}

/* A journaled request, as replay hands it to ss_restore_order. */
static void restore_order(struct fx *f, unsigned slot, uint8_t type, uint64_t in_seq, uint64_t cl)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = type;
	o.src = CORE;
	o.session = (uint16_t)slot;
	o.in_seq = in_seq;
	o.cl_ord_id = cl;
	assert_int_equal(ss_restore_order(f->t, &o), 0);
}

static void local_reply(struct fx *f, unsigned slot, uint64_t cl)
{
	struct tkx_exec_reject r = { .cl_ord_id = cl, .transact_time = f->now,
				     .reason = TKX_REJ_THROTTLED, .ref_template_id = TKX_NEW_ORDER };
	assert_int_equal(ss_restore_reply(f->t, slot, TKX_EXEC_REJECT, &r, sizeof(r), f->now), 0);
}

/* What a recovery of a journal rebuilds: five sessions with numbering, rings that wrapped,
 * local replies, a SESSION_GONE, a session id that moved slot. */
static void replay_history(struct fx *f)
{
	assert_int_equal(ss_restore_session(f->t, 2, 0x101, 7, 1, f->now), 0);
	assert_int_equal(ss_restore_session(f->t, 5, 0x102, 9, 1, f->now), 0);
	assert_int_equal(ss_restore_session(f->t, 0, 0x103, 7, 1, f->now), 0);
	assert_int_equal(ss_restore_session(f->t, 9, 0x104, 9, 1, f->now), 0);
	for (unsigned i = 1; i <= 40; i++) {
		restore_order(f, 2, DP_ORD_NEW, i, 100 + i);
		fills(f, 2, 100 + i, 3); /* 120 messages: the 64-deep ring wrapped */
	}
	local_reply(f, 2, 999);
	restore_order(f, 5, DP_ORD_NEW, 1, 5);
	restore_order(f, 5, DP_ORD_CANCEL, 2, 6);
	fills(f, 5, 5, 2);
	restore_order(f, 0, DP_ORD_NEW, 1, 50);
	restore_order(f, 0, DP_ORD_SESSION_GONE, 0, 0);
	fills(f, 0, 50, 1);
	/* 0x104 established again in slot 11 (its slot 9 was reclaimed meanwhile). */
	assert_int_equal(ss_restore_session(f->t, 11, 0x104, 9, 1, f->now), 0);
	restore_order(f, 11, DP_ORD_NEW, 1, 70);
	fills(f, 11, 70, 4);
}

/* What comes after the snapshot: more recovery records, then live traffic. */
static void continue_history(struct fx *f)
{
	restore_order(f, 2, DP_ORD_NEW, 41, 141);
	fills(f, 2, 141, 2);
	assert_int_equal(ss_restore_session(f->t, 7, 0x105, 7, 1, f->now), 0);
	restore_order(f, 7, DP_ORD_NEW, 1, 1);
	fills(f, 7, 1, 3);
	local_reply(f, 5, 77);
	/* Live: the clients come back. */
	f->now += 10 * MS;
	struct ss_peer p1 = peer_n(1), p2 = peer_n(2), p3 = peer_n(3);
	negotiate(f, &p1, 0x101, 7);
	establish(f, &p1, 0x101, 7, 1, 1);
	retransmit(f, &p1, 0x101, 60, 64); /* what the ring still holds */
	retransmit(f, &p1, 0x101, 1, 5);   /* below it: rejected */
	orders(f, &p1, 42, 142, 3);
	orders(f, &p1, 45, 100, 1);        /* cl_ord_id history: CLORDID_REUSED */
	fills(f, 2, 142, 5);
	negotiate(f, &p2, 0x102, 9);
	establish(f, &p2, 0x102, 9, 3, 0);
	retransmit(f, &p2, 0x102, 1, 10);
	orders(f, &p2, 3, 7, 2);
	/* New sessions fill the FREE slots (in their order), then, after the linger, take
	 * the reclaimable TERMINATED ones (in the reclaim list's order). */
	for (uint32_t k = 0; k < 14; k++) {
		struct ss_peer p = peer_n(10 + k);
		uint64_t sid = 0x200 + k;
		if (k == 9)
			f->now += 2000 * MS; /* past the linger */
		negotiate(f, &p, sid, 7);
		establish(f, &p, sid, 7, 1, 0);
		orders(f, &p, 1, 1, 1);
		int slot = ss_lookup(f->t, sid);
		if (slot >= 0)
			fills(f, (unsigned)slot, 1, 1);
	}
	terminate(f, &p1, 0x101);
	negotiate(f, &p3, 0x104, 9);
	establish(f, &p3, 0x104, 9, 1, 0);
	retransmit(f, &p3, 0x104, 1, 4);
}

static size_t save(const struct fx *f, uint8_t **blob)
{
	size_t cap = ss_snap_bound(f->t);
	*blob = malloc(cap);
	assert_non_null(*blob);
	struct dp_snap_w w;
	dp_snap_w_init(&w, *blob, cap);
	int64_t n = ss_snap_save(f->t, &w);
	assert_true(n > 0);
	assert_int_equal((size_t)n, w.len);
	assert_int_equal(n % 8, 0);
	return (size_t)n;
}

static void load(struct fx *f, const uint8_t *blob, size_t len)
{
	char err[256];
	size_t used = 0;
	int rc = ss_snap_load(f->t, blob, len, f->now, &used, err, sizeof(err));
	if (rc)
		fail_msg("load: %s", err);
	assert_int_equal(used, len);
}

static void test_replayed_table_round_trip(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t *blob;
	fx_open(&a, 16, 64, 2);
	fx_open(&b, 16, 64, 2);
	replay_history(&a);
	size_t len = save(&a, &blob);
	load(&b, blob, len);
	for (unsigned slot = 0; slot < 16; slot++) {
		struct ss_info x, y;
		assert_int_equal(ss_session_info(a.t, slot, &x), 0);
		assert_int_equal(ss_session_info(b.t, slot, &y), 0);
		assert_memory_equal(&x, &y, sizeof(x));
	}
	/* Saving the loaded table gives the same bytes. */
	uint8_t *again;
	size_t len2 = save(&b, &again);
	assert_int_equal(len, len2);
	assert_memory_equal(blob, again, len);
	a.n_log = b.n_log = 0;
	continue_history(&a);
	continue_history(&b);
	assert_true(a.n_log > 8000); /* retransmissions, acks, rejects, dp_orders */
	assert_int_equal(a.n_log, b.n_log);
	assert_memory_equal(a.log, b.log, a.n_log);
	free(again);
	free(blob);
	fx_close(&a);
	fx_close(&b);
}

/* A live table (sessions ESTABLISHED, one TERMINATED, one NEGOTIATED and never
 * established, one NEGOTIATED again after an establishment). */
static void live_history(struct fx *f, uint8_t sent[][SS_MSG_MAX], uint16_t *lens)
{
	struct ss_peer p1 = peer_n(1), p2 = peer_n(2), p3 = peer_n(3), p4 = peer_n(4);
	(void)sent;
	(void)lens;
	negotiate(f, &p1, 0x101, 7);
	establish(f, &p1, 0x101, 7, 1, 0);
	negotiate(f, &p2, 0x102, 9);
	establish(f, &p2, 0x102, 9, 1, 1);
	negotiate(f, &p3, 0x103, 7);
	establish(f, &p3, 0x103, 7, 1, 0);
	int s1 = ss_lookup(f->t, 0x101), s2 = ss_lookup(f->t, 0x102), s3 = ss_lookup(f->t, 0x103);
	assert_true(s1 >= 0 && s2 >= 0 && s3 >= 0);
	for (unsigned i = 0; i < 30; i++) {
		orders(f, &p1, 1 + i, 10 + i, 1);
		fills(f, (unsigned)s1, 10 + i, 3);
	}
	orders(f, &p2, 1, 5, 2);
	fills(f, (unsigned)s2, 5, 2);
	fills(f, (unsigned)s3, 1, 2);
	terminate(f, &p3, 0x103);
	negotiate(f, &p4, 0x104, 9); /* never established */
	/* 0x105: established, terminated, negotiated again */
	struct ss_peer p5 = peer_n(5);
	negotiate(f, &p5, 0x105, 9);
	establish(f, &p5, 0x105, 9, 1, 0);
	fills(f, (unsigned)ss_lookup(f->t, 0x105), 1, 2);
	terminate(f, &p5, 0x105);
	f->now += MS; /* a logon newer than the last */
	negotiate(f, &p5, 0x105, 9);
}

static void test_live_table(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t *blob;
	fx_open(&a, 16, 64, 2);
	fx_open(&b, 16, 64, 2);
	live_history(&a, NULL, NULL);
	size_t len = save(&a, &blob);
	b.now = a.now + 5 * MS;
	load(&b, blob, len);
	static const uint64_t kept[] = { 0x101, 0x102, 0x103, 0x105 };
	for (unsigned k = 0; k < 4; k++) {
		int sa = ss_lookup(a.t, kept[k]), sb = ss_lookup(b.t, kept[k]);
		assert_true(sa >= 0);
		assert_int_equal(sa, sb);
		struct ss_info x, y;
		ss_session_info(a.t, (unsigned)sa, &x);
		ss_session_info(b.t, (unsigned)sb, &y);
		assert_int_equal(y.state, SS_TERMINATED);
		assert_int_equal(x.session_id, y.session_id);
		assert_int_equal(x.firm_id, y.firm_id);
		assert_int_equal(x.next_in, y.next_in);
		assert_int_equal(x.next_out, y.next_out);
		assert_int_equal(x.last_cl_ord_id, y.last_cl_ord_id);
	}
	/* Never established, kept too: its newest logon still refuses a replay. */
	assert_int_equal(ss_lookup(b.t, 0x104), ss_lookup(a.t, 0x104));
	{
		struct ss_info y;

		ss_session_info(b.t, (unsigned)ss_lookup(b.t, 0x104), &y);
		assert_int_equal(y.state, SS_TERMINATED);
	}
	/* 0x101 comes back to the loaded table: the messages the ring holds are the ones the
	 * live table sent (a retransmission from the live table, terminated first, says the
	 * same bytes). */
	struct ss_peer p1 = peer_n(1), p9 = peer_n(9);
	terminate(&a, &p1, 0x101);
	a.now = b.now;
	a.n_log = b.n_log = 0;
	negotiate(&a, &p9, 0x101, 7);
	negotiate(&b, &p9, 0x101, 7);
	establish(&a, &p9, 0x101, 7, 1, 0);
	establish(&b, &p9, 0x101, 7, 1, 0);
	retransmit(&a, &p9, 0x101, 91 - 64, 64);
	retransmit(&b, &p9, 0x101, 91 - 64, 64);
	orders(&a, &p9, 31, 39, 2); /* 39 reused, 40 new */
	orders(&b, &p9, 31, 39, 2);
	assert_true(a.n_log > 64 * 40);
	assert_int_equal(a.n_log, b.n_log);
	assert_memory_equal(a.log, b.log, a.n_log);
	free(blob);
	fx_close(&a);
	fx_close(&b);
}

static void test_config_mismatch(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t *blob;
	char err[256];
	fx_open(&a, 16, 64, 2);
	replay_history(&a);
	size_t len = save(&a, &blob);
	static const uint32_t shapes[][3] = { { 32, 64, 2 }, { 16, 128, 2 }, { 16, 64, 1 } };
	for (unsigned k = 0; k < 3; k++) {
		fx_open(&b, shapes[k][0], shapes[k][1], shapes[k][2]);
		err[0] = 0;
		assert_int_equal(ss_snap_load(b.t, blob, len, b.now, NULL, err, sizeof(err)),
				 -EINVAL);
		assert_true(strstr(err, "another configuration") || strstr(err, "does not know"));
		assert_int_equal(ss_lookup(b.t, 0x101), -ENOENT); /* untouched */
		fx_close(&b);
	}
	/* A table that is not fresh is not a target. */
	assert_int_equal(ss_snap_load(a.t, blob, len, a.now, NULL, err, sizeof(err)), -EBUSY);
	assert_int_not_equal(ss_snap_config(a.t), 0);
	free(blob);
	fx_close(&a);
}

static void test_corrupt(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t *blob;
	char err[256];
	fx_open(&a, 16, 64, 2);
	fx_open(&b, 16, 64, 2);
	replay_history(&a);
	size_t len = save(&a, &blob);
	uint8_t *bad = malloc(len);
	for (size_t cut = 0; cut < len; cut += (cut < 400 ? 1 : 37)) {
		int rc = ss_snap_check(b.t, blob, cut, NULL, err, sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("truncated at %zu of %zu: %d (%s)", cut, len, rc, err);
	}
	size_t s0 = sizeof(struct ss_snap_hdr);
	struct ss_snap_hdr h;
	memcpy(&h, blob, sizeof(h));
	assert_int_equal(h.n_fifo, 1);
	size_t tail = 2 * ((size_t)h.n_fifo + h.n_free);
	size_t fifo_off = len - (8 - tail % 8) % 8 - tail;
	struct { size_t off; uint8_t val; int rc; } cases[] = {
		{ 1, 0x00, -EBADMSG },                                         /* magic */
		{ 4, 0x05, -EPROTO },                                          /* version */
		{ offsetof(struct ss_snap_hdr, n_slots), 0x3f, -EBADMSG },
		{ offsetof(struct ss_snap_hdr, n_fifo), 0x0f, -EBADMSG },
		{ s0 + offsetof(struct ss_snap_slot, slot), 0x33, -EBADMSG },   /* slot 51 of 16 */
		{ s0 + offsetof(struct ss_snap_slot, n_ring), 0x07, -EBADMSG }, /* ring count */
		{ s0 + offsetof(struct ss_snap_slot, firm_id), 0x08, -EINVAL }, /* unknown firm */
		{ s0 + offsetof(struct ss_snap_slot, may_have_orders), 0x02, -EBADMSG },
		{ fifo_off, 0x02, -EBADMSG },     /* a reclaim list entry: slot 2 may have orders */
		{ fifo_off + 2, 0x05, -EBADMSG }, /* a FREE stack entry: slot 5 holds a session */
		{ offsetof(struct ss_snap_hdr, n_free), 0x01, -EBADMSG },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, blob, len);
		bad[cases[i].off] = cases[i].val;
		err[0] = 0;
		int rc = ss_snap_load(b.t, bad, len, b.now, NULL, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %u (byte %zu): %d, expected %d (%s)", i, cases[i].off, rc,
				 cases[i].rc, err);
		assert_true(err[0] != 0);
		for (unsigned slot = 0; slot < 16; slot++) {
			struct ss_info x;
			ss_session_info(b.t, slot, &x);
			assert_int_equal(x.state, SS_FREE);
		}
	}
	load(&b, blob, len);
	assert_int_equal(ss_lookup(b.t, 0x101), 2);
	free(bad);
	free(blob);
	fx_close(&a);
	fx_close(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replayed_table_round_trip),
		cmocka_unit_test(test_live_table),
		cmocka_unit_test(test_config_mismatch),
		cmocka_unit_test(test_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
