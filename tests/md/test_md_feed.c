/*
 * test_md_feed.c - the order-by-order and depth feeds against the matching core's books:
 * an oracle over long random runs.
 *
 * A matching core (mc_core, market by order and depth on) and a publisher (md_pub) are
 * driven directly, as tokexd's run-to-completion loop drives them: every request, control
 * command and timer tick, then every packet the publisher has is handed to subscribers,
 * which decode it (every message must pass tkx_validate()) and keep books of their own:
 *   - "live" hears every packet but drops some at random; it asks for each gap with a
 *     re-request (md_pub_request()) before it applies what follows;
 *   - "late" joins in the middle of the run, at a packet of its choice, with nothing but
 *     the stream: it waits for each contract's Snapshot frame, then applies the increments;
 *   - "away" goes deaf for longer than the publisher retains: its re-request gets a
 *     GapReject, it forgets its books and recovers from the Snapshot frames.
 * After every request and every tick, each subscriber in sync must hold exactly the books
 * of the matching core: every resting order (id, side, price, visible quantity), the time
 * priority within each level (me_book_walk() order = increasing `priority`), and the
 * depth levels of both sides (me_book_depth()). The random requests cover new orders of
 * every time in force, cancels, modifies (in place, re-pricing, growing), mass cancels by
 * session, and call auctions (PRE_OPEN, orders resting crossed, UNCROSS), band changes and
 * definitions.
 *
 * Usage: test_md_feed [seeds [requests]] (default 20 x 3000).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/codec.h>

#include "mc_core.h"
#include "md_pub.h"
#include "md_snap.h"

#define NC 2
#define DEPTH 5
#define MAX_SUB_ORDERS 4096
#define MAX_IDS 4096
static const uint32_t CID[NC] = { 7, 9 };
static const struct me_params BOOK = { .price_lo = 900, .price_hi = 1100, .tick = 5,
				       .max_qty = 100, .max_orders = 512 };

static unsigned n_seeds = 20, n_reqs = 3000;

/* ---- a random source ------------------------------------------------------------------- */

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

/* ---- a subscriber ---------------------------------------------------------------------- */

struct sorder {
	uint64_t id, prio;
	int64_t price;
	uint32_t qty, cid;
	uint8_t side;
};

struct sbook {
	int synced;              /* a Snapshot frame (or the stream from 1) made it exact */
	struct sorder o[MAX_SUB_ORDERS];
	uint32_t n;
	int64_t dpx[2][DEPTH];   /* 0 = empty */
	uint64_t dq[2][DEPTH];
};

struct sub {
	const char *name;
	uint64_t expect;         /* the next sequence it needs */
	int active;              /* hears packets */
	int lost;                /* after a GapReject: waits for Snapshots */
	uint64_t gaps, requests, rejects, frames;
	struct sbook b[NC];
	struct tkx_md_instrument def[NC]; /* the last InstrumentDefinition heard */
};

static int cidx(uint32_t cid)
{
	for (int i = 0; i < NC; i++)
		if (CID[i] == cid)
			return i;
	return -1;
}

static struct sorder *sfind(struct sbook *b, uint64_t id)
{
	for (uint32_t i = 0; i < b->n; i++)
		if (b->o[i].id == id)
			return &b->o[i];
	return NULL;
}

static void sdel(struct sbook *b, struct sorder *o)
{
	*o = b->o[--b->n];
}

static void sbook_reset(struct sbook *b)
{
	memset(b, 0, sizeof(*b));
}

/* One market-data message. */
static void sub_msg(struct sub *s, const struct tkx_msg *m)
{
	uint16_t why = 0xFFFF;
	assert_int_equal(tkx_validate(m, &why), 0);
	if (m->template_id == TKX_MD_SNAPSHOT) {
		int c = cidx(m->md_snapshot.contract_id);
		assert_true(c >= 0);
		/* The frame follows: the book is what it says. */
		sbook_reset(&s->b[c]);
		s->b[c].synced = 1;
		s->frames++;
		return;
	}
	if (m->template_id == TKX_MD_INSTRUMENT) {
		int c = cidx(m->md_instrument.contract_id);
		assert_true(c >= 0);
		s->def[c] = m->md_instrument;
		return;
	}
	if (m->template_id == TKX_MD_DEPTH) {
		const struct tkx_md_depth *d = &m->md_depth;
		int c = cidx(d->contract_id);
		assert_true(c >= 0);
		if (!s->b[c].synced)
			return; /* waits for its Snapshot frame */
		assert_int_equal(d->depth, DEPTH);
		s->b[c].dpx[d->side - 1][d->level - 1] = d->price == TKX_NULL_PRICE ? 0 : d->price;
		s->b[c].dq[d->side - 1][d->level - 1] = d->qty;
		return;
	}
	if (m->template_id != TKX_MD_ORDER)
		return;
	const struct tkx_md_order *o = &m->md_order;
	int c = cidx(o->contract_id);
	assert_true(c >= 0);
	struct sbook *b = &s->b[c];
	if (!b->synced)
		return; /* waits for its Snapshot frame */
	struct sorder *x = sfind(b, o->order_id);
	switch (o->action) {
	case TKX_ACT_ADD:
	case TKX_ACT_SNAPSHOT:
		assert_null(x);
		assert_true(b->n < MAX_SUB_ORDERS);
		assert_true(o->qty > 0);
		b->o[b->n++] = (struct sorder){ .id = o->order_id, .prio = o->priority,
						.price = o->price, .qty = o->qty,
						.cid = o->contract_id, .side = o->side };
		break;
	case TKX_ACT_MODIFY:
		assert_non_null(x);
		assert_int_equal(x->price, o->price);
		x->qty = o->qty;
		x->prio = o->priority;
		break;
	case TKX_ACT_DELETE:
		assert_non_null(x);
		sdel(b, x);
		break;
	case TKX_ACT_EXECUTE:
		assert_non_null(x);
		assert_int_equal(x->price, o->price);
		assert_true(o->exec_qty > 0 && o->exec_qty <= x->qty);
		if (o->qty == 0)
			sdel(b, x);
		else {
			x->qty = o->qty;
			x->prio = o->priority;
		}
		break;
	default:
		fail_msg("action %u", o->action);
	}
}

static void sub_packet(struct sub *s, const uint8_t *buf, size_t len);

/* Applies every message of the packet from s->expect on. */
static void sub_apply(struct sub *s, const uint8_t *buf, size_t len)
{
	struct tkx_md_iter it;
	struct tkx_msg m;
	uint64_t seq;
	int rc;

	assert_int_equal(tkx_md_iter_init(&it, buf, len), 0);
	while ((rc = tkx_md_iter_decode(&it, &m, &seq)) == 1) {
		if (seq < s->expect)
			continue;
		assert_true(seq == s->expect);
		s->expect++;
		sub_msg(s, &m);
	}
	assert_int_equal(rc, 0);
}

static struct md_pub *pub;
static uint64_t now_ns;

/* Asks for [s->expect, upto) and applies the answer; 0, or -1 after a GapReject. */
static int sub_recover(struct sub *s, uint64_t upto)
{
	while (s->expect < upto) {
		struct tkx_md_hdr h;
		uint8_t req[TKX_MD_HDR_LEN];
		const uint8_t *r;
		size_t rl;
		uint64_t before = s->expect;

		memcpy(h.session, "TKXFEED   ", TKX_MD_SESSION_LEN);
		h.sequence = s->expect;
		h.count = (uint16_t)(upto - s->expect > 60000 ? 60000 : upto - s->expect);
		tkx_md_hdr_encode(req, sizeof(req), &h);
		s->requests++;
		assert_int_equal(md_pub_request(pub, 1, req, sizeof(req), now_ns), 0);
		while (md_pub_next_reply(pub, &r, &rl) == 1) {
			struct tkx_md_iter it;
			assert_int_equal(tkx_md_iter_init(&it, r, rl), 0);
			if (it.hdr.sequence == 0 && it.count == 1) {
				s->rejects++;
				return -1; /* GapReject: too far behind */
			}
			if (it.count == 0)
				continue; /* the end marker: ask again */
			assert_true(it.hdr.sequence <= s->expect);
			sub_apply(s, r, rl);
		}
		assert_true(s->expect > before); /* every request moves on */
	}
	return 0;
}

/* A gap up to upto: re-requested; after a GapReject the books are forgotten and wait for
 * their Snapshot frames. */
static void sub_catch_up(struct sub *s, uint64_t upto)
{
	s->gaps++;
	if (sub_recover(s, upto) < 0) {
		for (int c = 0; c < NC; c++)
			sbook_reset(&s->b[c]);
		s->expect = upto;
	}
}

static void sub_packet(struct sub *s, const uint8_t *buf, size_t len)
{
	struct tkx_md_hdr h;
	assert_int_equal(tkx_md_hdr_decode(buf, len, &h), TKX_MD_HDR_LEN);
	if (h.count == 0 || h.count == TKX_MD_END_OF_SESSION)
		return;
	if (s->lost) {
		/* Forgotten everything: the Snapshot frames rebuild the books, from here on. */
		s->expect = h.sequence;
		s->lost = 0;
	}
	if (h.sequence > s->expect)
		sub_catch_up(s, h.sequence);
	sub_apply(s, buf, len);
}

/* ---- the comparison ---------------------------------------------------------------------- */

struct walk {
	struct sbook *b;
	int64_t last_price;
	uint8_t last_side;
	uint64_t last_prio;
	uint32_t seen;
	const char *who;
};

static int walk_cb(void *arg, const struct me_order_view *v)
{
	struct walk *w = arg;
	struct sorder *o = sfind(w->b, (uint64_t)v->id);
	uint8_t side = v->side == ME_BUY ? TKX_SIDE_BUY : TKX_SIDE_SELL;
	if (o == NULL)
		fail_msg("%s: order %llx (%s %lld x %lld, qty %lld show %lld tif %u) missing", w->who, (unsigned long long)v->id,
			 side == TKX_SIDE_BUY ? "buy" : "sell", (long long)v->price,
			 (long long)v->visible, (long long)v->qty, (long long)v->show, v->tif);
	assert_int_equal(o->side, side);
	assert_int_equal(o->price, v->price);
	assert_int_equal(o->qty, v->visible);
	if (w->seen && side == w->last_side && v->price == w->last_price)
		assert_true(o->prio > w->last_prio); /* time priority within the level */
	w->last_side = side;
	w->last_price = v->price;
	w->last_prio = o->prio;
	w->seen++;
	return 0;
}

static void compare(struct sub *s, struct mc_core *mc)
{
	if (!s->active || s->lost)
		return;
	for (int c = 0; c < NC; c++) {
		struct sbook *b = &s->b[c];
		const struct me_book *bk = mc_book(mc, CID[c]);
		if (!b->synced)
			continue;
		/* The definition says today's limits and phase as the core has them. */
		if (strcmp(s->name, "live") == 0) {
			int64_t lo, hi;
			me_book_band(bk, &lo, &hi);
			assert_int_equal(s->def[c].limit_lo, lo);
			assert_int_equal(s->def[c].limit_hi, hi);
			assert_int_equal(s->def[c].phase, mc_phase(mc, CID[c]));
		}
		struct walk w = { .b = b, .who = s->name };
		assert_int_equal(me_book_walk(bk, walk_cb, &w), 0);
		assert_int_equal(w.seen, b->n);
		for (int side = 0; side < 2; side++) {
			int64_t px[DEPTH], q[DEPTH];
			uint32_t n = me_book_depth(bk, side, px, q, DEPTH);
			for (uint32_t i = 0; i < DEPTH; i++) {
				assert_int_equal(b->dpx[side][i], i < n ? px[i] : 0);
				assert_int_equal(b->dq[side][i], i < n ? (uint64_t)q[i] : 0);
			}
		}
	}
}

/* ---- the run ---------------------------------------------------------------------------- */

static struct sub subs[3];
static uint64_t ids[MAX_IDS];
static uint32_t n_ids;
static uint64_t stat_md, stat_pkts;

/* The matching core's output: replies note order ids, market data goes to the publisher. */
static void out_flush(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		const struct dp_event *e = &o->ev[i];
		if (e->template_id == TKX_EXEC_ACK && n_ids < MAX_IDS)
			ids[n_ids++] = e->u.ack.order_id;
		if (e->template_id >= TKX_MD_TOP_OF_BOOK) {
			stat_md++;
			assert_int_equal(md_pub_add(pub, e, 1, now_ns), 1); /* the ring is large */
		}
	}
	o->n = 0;
}

static struct dp_event evbuf[16];
static struct mc_out out = { evbuf, 0, 16, out_flush, NULL };

/* Every packet out to the subscribers; then each compares. */
static void deliver(struct mc_core *mc, unsigned k_req)
{
	const uint8_t *buf;
	size_t len;

	md_pub_flush(pub, now_ns);
	while (md_pub_next_tx(pub, &buf, &len) == 1) {
		uint8_t copy[TKX_MAX_DGRAM];
		memcpy(copy, buf, len); /* next_tx's buffer lives until the next add */
		stat_pkts++;
		for (int i = 0; i < 3; i++) {
			struct sub *s = &subs[i];
			if (!s->active)
				continue;
			if (i == 0 && rnd(100) < 3)
				continue; /* live drops 3 % of its packets */
			sub_packet(s, copy, len);
		}
	}
	/* What a heartbeat would tell: messages were sent that a subscriber did not get. */
	struct md_info info;
	md_pub_info(pub, &info);
	for (int i = 0; i < 3; i++)
		if (subs[i].active && !subs[i].lost && subs[i].expect <= info.last_sent)
			sub_catch_up(&subs[i], info.last_sent + 1);
	for (int i = 0; i < 3; i++)
		compare(&subs[i], mc);
	(void)k_req;
}

static void ctl(struct mc_core *mc, struct dp_ctl c)
{
	struct dp_ctl_reply r;
	c.now = now_ns;
	mc_control(mc, &c, &out, &r);
}

static void define(struct mc_core *mc, uint32_t cid)
{
	struct dp_ctl c = { .contract_id = cid };
	char sym[TKX_SYMBOL_LEN];
	memset(sym, ' ', sizeof(sym));
	snprintf(sym, sizeof(sym), "TKN%u", cid);
	sym[strlen(sym)] = ' ';
	dp_ctl_define(&c, 1000, sym, 20260105, 20260130, 1000000, "CNY", TKX_SETTLE_CASH_INDEX);
	ctl(mc, c);
}

static struct dp_order random_request(struct mc_core *mc)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.contract_id = CID[rnd(NC)];
	o.src = 0;
	o.session = (uint16_t)(1 + rnd(3));
	o.firm_id = 1;
	o.account = rnd(4) == 0 ? 1 + rnd(2) : 0; /* some self-trade prevention */
	o.cl_ord_id = rng;
	uint32_t r = rnd(100);
	uint32_t live = me_book_count(mc_book(mc, o.contract_id));
	if (r < 55 || n_ids == 0 || live == 0) {
		o.type = DP_ORD_NEW;
		o.side = (uint8_t)(1 + rnd(2));
		/* Around 1000, crossing often. */
		o.price = 1000 + ((int64_t)rnd(21) - 10) * 5 + (o.side == TKX_SIDE_BUY ? -10 : 10);
		o.qty = 1 + rnd(20);
		uint32_t t = rnd(10);
		o.tif = t < 6 ? TKX_TIF_GTC : t < 8 ? TKX_TIF_IOC : t < 9 ? TKX_TIF_FOK : TKX_TIF_POST;
		/* The order types (issue 15): icebergs (the feeds show their visible parts and
		 * refills) and stop orders (held outside the book until a trade elects them). */
		uint32_t kind = rnd(10);
		if (kind < 2 && o.tif == TKX_TIF_GTC && o.qty >= 2)
			dp_order_set_type(&o, 1 + rnd(o.qty - 1), 0);
		else if (kind == 2 && o.tif != TKX_TIF_POST)
			dp_order_set_type(&o, 0, 1000 + ((int64_t)rnd(11) - 5) * 5);
	} else if (r < 80) {
		o.type = DP_ORD_CANCEL;
		o.order_id = ids[rnd(n_ids)];
	} else if (r < 98) {
		o.type = DP_ORD_MODIFY;
		o.order_id = ids[rnd(n_ids)];
		struct me_order_view v;
		if (me_book_find(mc_book(mc, o.contract_id), (int64_t)o.order_id, &v) == 0) {
			uint32_t k = rnd(3);
			o.price = k == 0 ? v.price : v.price + ((int64_t)rnd(5) - 2) * 5;
			o.qty = k == 0 ? (uint32_t)(1 + rnd((uint32_t)v.qty)) : 1 + rnd(20);
		} else {
			o.price = 1000;
			o.qty = 5;
		}
	} else {
		o.type = DP_ORD_MASS_CANCEL;
		o.scope = TKX_SCOPE_SESSION;
		o.side = (uint8_t)rnd(3);
	}
	return o;
}

/* The books survive a snapshot (md_snap.h): a publisher loaded from pub's section holds
 * the same orders (priorities included), definitions and Snapshot frames. */
struct ocoll {
	struct tkx_md_order o[MAX_SUB_ORDERS];
	uint32_t n;
};

static int ocoll_cb(void *arg, const struct tkx_md_order *o)
{
	struct ocoll *c = arg;
	assert_true(c->n < MAX_SUB_ORDERS);
	c->o[c->n++] = *o;
	return 0;
}

static int ocmp(const void *a, const void *b)
{
	const struct tkx_md_order *x = a, *y = b;
	return x->order_id < y->order_id ? -1 : x->order_id > y->order_id;
}

static void check_snapshot_roundtrip(const struct md_params *p)
{
	size_t len = md_pub_memsize(p);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct md_pub *q = md_pub_init(mem, len, p);
	assert_non_null(q);
	size_t cap = md_snap_bound(pub);
	uint8_t *buf = malloc(cap);
	struct dp_snap_w w = { .buf = buf, .cap = cap };
	assert_true(md_snap_save(pub, &w) > 0);
	char err[256];
	assert_int_equal(md_snap_load(q, buf, w.len, NULL, err, sizeof(err)), 0);
	static struct ocoll a, b;
	for (int c = 0; c < NC; c++) {
		a.n = b.n = 0;
		assert_int_equal(md_pub_orders(pub, CID[c], ocoll_cb, &a), 0);
		assert_int_equal(md_pub_orders(q, CID[c], ocoll_cb, &b), 0);
		assert_int_equal(a.n, b.n);
		qsort(a.o, a.n, sizeof(a.o[0]), ocmp);
		qsort(b.o, b.n, sizeof(b.o[0]), ocmp);
		assert_memory_equal(a.o, b.o, a.n * sizeof(a.o[0]));
		struct tkx_md_instrument d1, d2;
		assert_int_equal(md_pub_definition(pub, CID[c], &d1), 0);
		assert_int_equal(md_pub_definition(q, CID[c], &d2), 0);
		assert_memory_equal(&d1, &d2, sizeof(d1));
		struct md_snap_book k1, k2;
		int64_t l1[4 * DEPTH], l2[4 * DEPTH];
		md__snap_book(pub, (uint32_t)c, &k1, l1);
		md__snap_book(q, (uint32_t)c, &k2, l2);
		assert_memory_equal(l1, l2, sizeof(l1));
	}
	free(buf);
	free(mem);
}

static void one_run(uint64_t seed)
{
	struct mc_contract_params cp[NC];
	memset(cp, 0, sizeof(cp));
	for (int i = 0; i < NC; i++) {
		cp[i].id = CID[i];
		cp[i].book = BOOK;
		cp[i].phase = TKX_PHASE_CONTINUOUS;
	}
	size_t len = mc_core_memsize(cp, NC);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init(mem, len, cp, NC);
	assert_non_null(mc);
	assert_int_equal(mc_core_md(mc, DEPTH, 1), 0);

	struct md_contract mcs[NC];
	for (int i = 0; i < NC; i++)
		mcs[i] = (struct md_contract){ .id = CID[i], .phase = TKX_PHASE_CONTINUOUS };
	struct md_params p;
	md_pub_params_default(&p);
	p.session = "TKXFEED";
	p.retain = 64; /* "away" outlives it */
	p.snapshot_ns = 2000000; /* a round every 20 requests */
	p.heartbeat_ns = 0;
	p.contracts = mcs;
	p.n_contracts = NC;
	p.depth = DEPTH;
	p.max_orders = 2 * BOOK.max_orders;
	p.req_max = 65535;
	p.req_max_bytes = MD_REQ_MAX_BYTES;
	p.req_rate = 0;
	p.req_global_rate = 0;
	size_t plen = md_pub_memsize(&p);
	assert_true(plen > 0);
	void *pmem = aligned_alloc(64, (plen + 63) & ~(size_t)63);
	pub = md_pub_init(pmem, plen, &p);
	assert_non_null(pub);

	rng = seed * 0x9E3779B97F4A7C15ull + 1;
	n_ids = 0;
	now_ns = 1767225600000000000ull;
	memset(subs, 0, sizeof(subs));
	subs[0] = (struct sub){ .name = "live", .expect = 1, .active = 1 };
	subs[1] = (struct sub){ .name = "late", .expect = 1, .active = 0 };
	subs[2] = (struct sub){ .name = "away", .expect = 1, .active = 1 };
	for (int c = 0; c < NC; c++) {
		subs[0].b[c].synced = 1; /* from sequence 1: the books start empty */
		subs[2].b[c].synced = 1;
	}
	for (int c = 0; c < NC; c++)
		define(mc, CID[c]);
	deliver(mc, 0);

	unsigned join = n_reqs / 3 + rnd(n_reqs / 3);
	unsigned away_from = n_reqs / 4, away_to = away_from + n_reqs / 3;
	int auction[NC] = { 0 };
	for (unsigned k = 0; k < n_reqs; k++) {
		now_ns += 100000;
		if (k == join) {
			subs[1].active = 1;
			subs[1].lost = 1; /* takes the stream from the next packet on */
		}
		if (k == away_from)
			subs[2].active = 0;
		if (k == away_to) {
			subs[2].active = 1; /* its next packet shows the gap */
		}
		uint32_t c = rnd(NC);
		uint32_t r = rnd(1000);
		if (r < 8 && !auction[c]) {
			ctl(mc, (struct dp_ctl){ .type = DP_CTL_PHASE, .contract_id = CID[c],
						 .arg = TKX_PHASE_PRE_OPEN });
			auction[c] = 1;
		} else if (r < 30 && auction[c]) {
			ctl(mc, (struct dp_ctl){ .type = DP_CTL_UNCROSS, .contract_id = CID[c],
						 .price = 1000, .arg = TKX_PHASE_CONTINUOUS });
			auction[c] = 0;
		} else if (r < 33) {
			int64_t lo = 900 + 5 * rnd(10), hi = 1100 - 5 * rnd(10);
			ctl(mc, (struct dp_ctl){ .type = DP_CTL_BAND, .contract_id = CID[c],
						 .price = lo, .price2 = hi });
		} else {
			struct dp_order o = random_request(mc);
			mc_process(mc, &o, 1, now_ns, &out);
		}
		deliver(mc, k);
		int rc = md_pub_tick(pub, now_ns);
		assert_true(rc == 0);
		deliver(mc, k);
		if (k == n_reqs / 2)
			check_snapshot_roundtrip(&p);
		if (n_ids == MAX_IDS)
			n_ids = MAX_IDS / 2; /* forget the oldest half (cancels of them fail anyway) */
	}
	if (getenv("FEED_VERBOSE"))
		for (int i = 0; i < 3; i++)
			printf("seed %llu %s: gaps %llu requests %llu rejects %llu frames %llu\n",
			       (unsigned long long)seed, subs[i].name,
			       (unsigned long long)subs[i].gaps, (unsigned long long)subs[i].requests,
			       (unsigned long long)subs[i].rejects, (unsigned long long)subs[i].frames);
	/* Every subscriber ended in sync, having gone through what it was meant to. */
	for (int i = 0; i < 3; i++) {
		assert_false(subs[i].lost);
		for (int c = 0; c < NC; c++)
			assert_true(subs[i].b[c].synced);
	}
	assert_true(subs[0].gaps > 0 && subs[0].requests > 0);
	assert_true(subs[1].frames >= NC);
	assert_true(subs[2].rejects > 0);
	for (int c = 0; c < NC; c++) {
		struct tkx_md_instrument d;
		char sym[TKX_SYMBOL_LEN + 1];
		assert_int_equal(md_pub_definition(pub, CID[c], &d), 0);
		assert_memory_equal(&d, &subs[0].def[c], sizeof(d));
		snprintf(sym, sizeof(sym), "TKN%-9u", CID[c]);
		assert_memory_equal(d.symbol, sym, TKX_SYMBOL_LEN);
		assert_int_equal(d.tick, BOOK.tick);
		assert_int_equal(d.max_qty, BOOK.max_qty);
		assert_int_equal(d.prev_settle, 1000);
		assert_int_equal(d.first_day, 20260105);
		assert_int_equal(d.last_day, 20260130);
		assert_int_equal(d.unit, 1000000);
		assert_memory_equal(d.currency, "CNY", 3);
		assert_int_equal(d.settle_method, TKX_SETTLE_CASH_INDEX);
	}
	struct md_stats st;
	md_pub_stats_read(pub, &st);
	assert_int_equal(st.orders_full, 0);
	assert_int_equal(st.snap_cut, 0);
	assert_true(st.definitions >= NC);
	free(pmem);
	free(mem);
}

static void test_feed_oracle(void **state)
{
	(void)state;
	for (unsigned s = 1; s <= n_seeds; s++)
		one_run(s);
	printf("%u runs x %u requests: %llu market-data records, %llu packets\n", n_seeds, n_reqs,
	       (unsigned long long)stat_md, (unsigned long long)stat_pkts);
}

int main(int argc, char **argv)
{
	if (argc > 1)
		n_seeds = (unsigned)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		n_reqs = (unsigned)strtoul(argv[2], NULL, 10);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_feed_oracle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
