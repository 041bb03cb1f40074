/*
 * test_mc_snap.c - snapshots of a book (me_snap.h) and of a matching core (mc_snap.h):
 * save, load into a fresh instance, then feed both the same further input and require
 * byte-identical output (the determinism recovery depends on), with DAY orders, icebergs,
 * held stop orders and END_OF_DAY in the mix; a load into an instance
 * of another configuration, and truncated or corrupted sections, are refused and leave
 * the target untouched.
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

#include "mc_snap.h"

#define C1 202612
#define C2 202701
#define C3 202702
#define C4 202703 /* listed at run time into a spare slot */
#define C5 202704 /* listed and delisted again */
#define T0 (1700000000ull * 1000000000ull)

/* ---- random input ----------------------------------------------------------------- */

static uint64_t rng_s;

static uint32_t rnd(uint32_t n)
{
	rng_s ^= rng_s << 13;
	rng_s ^= rng_s >> 7;
	rng_s ^= rng_s << 17;
	return (uint32_t)((rng_s * 0x2545f4914f6cdd1dull) >> 33) % n;
}

/* ---- one matching core and what it says ------------------------------------------- */

#define CAP_EV (1u << 16)

struct inst {
	struct mc_core *mc;
	void *mem;
	size_t len;
	struct mc_out out;
	struct dp_event buf[7];
	struct dp_event *ev; /* CAP_EV: everything said since the last reset */
	uint32_t n;
};

static void inst_flush(struct mc_out *o)
{
	struct inst *x = o->arg;
	for (uint32_t i = 0; i < o->n; i++) {
		assert_true(x->n < CAP_EV);
		x->ev[x->n++] = o->ev[i];
	}
	o->n = 0;
}

static const struct me_params BOOK1 = { 23000, 27000, 10, 1000, 512 };
static const struct me_params BOOK2 = { 1, 400, 1, 50, 256 }; /* price_lo at the floor */
static const struct me_params BOOK3 = { 9000, 11003, 7, 100, 128 }; /* hi off the grid */

static void params(struct mc_contract_params *p, int variant)
{
	memset(p, 0, 3 * sizeof(*p));
	p[0] = (struct mc_contract_params){ .id = C1, .book = BOOK1,
					    .phase = TKX_PHASE_CONTINUOUS, .spot = 1 };
	p[1] = (struct mc_contract_params){ .id = C2, .book = BOOK2,
					    .phase = TKX_PHASE_CONTINUOUS };
	p[2] = (struct mc_contract_params){ .id = C3, .book = BOOK3, .phase = TKX_PHASE_PRE_OPEN };
	if (variant == 2)
		p[0].book.max_orders = 500; /* one contract configured otherwise */
}

static void inst_open(struct inst *x, int variant)
{
	struct mc_contract_params p[3];
	params(p, variant);
	struct mc_core_cfg cfg = { .capacity = 5, .accounts = variant == 1 ? 32 : 16,
				   .slot_bytes = me_book_memsize(&BOOK1), .tracked = 1024 };
	memset(x, 0, sizeof(*x));
	x->len = mc_core_memsize_cfg(p, 3, &cfg);
	assert_true(x->len > 0);
	x->mem = aligned_alloc(64, (x->len + 63) & ~(size_t)63);
	assert_non_null(x->mem);
	x->mc = mc_core_init_cfg(x->mem, x->len, p, 3, &cfg);
	assert_non_null(x->mc);
	x->out = (struct mc_out){ x->buf, 0, 7, inst_flush, x };
	x->ev = calloc(CAP_EV, sizeof(*x->ev));
	assert_non_null(x->ev);
}

static void inst_close(struct inst *x)
{
	free(x->mem);
	free(x->ev);
}

/* ---- the generator: requests and control commands from the state of one instance ---- */

static uint64_t ids[4096]; /* exchange order ids seen acked (a ring) */
static uint32_t n_ids;
static uint64_t clid;

static void learn(const struct inst *x)
{
	for (uint32_t i = 0; i < x->n; i++)
		if (x->ev[i].template_id == TKX_EXEC_ACK)
			ids[n_ids++ % 4096] = x->ev[i].u.ack.order_id;
}

static const uint32_t contracts[] = { C1, C2, C3, C4 };

/* A price on c's grid: buys mostly below the middle, sells above, some crossing. */
static int64_t px(uint32_t c, uint8_t side)
{
	int64_t off = (int64_t)rnd(25) - 3;
	if (side == TKX_SIDE_BUY)
		off = -off;
	switch (c) {
	case C1:
	case C4:
		return 25000 + 10 * off;
	case C2:
		return 30 + off;
	default:
		return 9000 + 7 * (150 + off);
	}
}

static struct dp_order gen_order(void)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	uint32_t sess = rnd(6);
	o.src = 0;
	o.session = (uint16_t)sess;
	o.firm_id = 1 + sess % 3;
	o.account = sess % 4;
	o.cl_ord_id = ++clid;
	o.contract_id = contracts[rnd(4)];
	o.in_seq = clid;
	uint32_t k = rnd(100);
	if (k < 60 || n_ids == 0) {
		static const uint8_t tifs[] = { TKX_TIF_GTC, TKX_TIF_GTC, TKX_TIF_GTC, TKX_TIF_DAY,
						TKX_TIF_IOC, TKX_TIF_FOK, TKX_TIF_POST, TKX_TIF_DAY };
		o.type = DP_ORD_NEW;
		o.side = rnd(2) ? TKX_SIDE_BUY : TKX_SIDE_SELL;
		o.tif = tifs[rnd(8)];
		o.price = px(o.contract_id, o.side);
		o.qty = 1 + rnd(40);
		/* The order types: icebergs (resting tifs) and stop orders (held until a trade
		 * reaches them, near the market on either side), each now and then. */
		uint32_t ty = rnd(8);
		if (ty == 0 && o.qty > 1 && o.tif != TKX_TIF_IOC && o.tif != TKX_TIF_FOK)
			dp_order_set_type(&o, 1 + rnd(o.qty - 1), 0);
		else if (ty == 1 && o.tif != TKX_TIF_POST)
			dp_order_set_type(&o, 0, px(o.contract_id, (uint8_t)(1 + rnd(2))));
	} else if (k < 80) {
		o.type = DP_ORD_CANCEL;
		o.order_id = ids[rnd(n_ids < 4096 ? n_ids : 4096)];
		o.session = (uint16_t)(o.order_id & 0xffff); /* mostly the owner */
		if (rnd(4) == 0)
			o.session = (uint16_t)rnd(6);
		o.firm_id = 1 + o.session % 3;
	} else if (k < 95) {
		o.type = DP_ORD_MODIFY;
		o.order_id = ids[rnd(n_ids < 4096 ? n_ids : 4096)];
		o.session = (uint16_t)(o.order_id & 0xffff);
		o.firm_id = 1 + o.session % 3;
		o.price = px(o.contract_id, (uint8_t)(1 + rnd(2)));
		o.qty = rnd(30);
	} else if (k < 99 || rnd(8)) {
		o.type = DP_ORD_MODIFY; /* a second look at a live one */
		o.order_id = ids[(n_ids - 1) % 4096];
		o.session = (uint16_t)(o.order_id & 0xffff);
		o.firm_id = 1 + o.session % 3;
		o.price = px(o.contract_id, (uint8_t)(1 + rnd(2)));
		o.qty = 1 + rnd(30);
	} else if (rnd(4)) {
		o.type = DP_ORD_MASS_CANCEL;
		o.scope = rnd(2) ? TKX_SCOPE_SESSION : TKX_SCOPE_ACCOUNT;
		o.side = (uint8_t)rnd(3);
		o.parts = 1;
		if (rnd(2))
			o.contract_id = 0;
	} else {
		o.type = DP_ORD_SESSION_GONE;
		o.contract_id = 0;
	}
	return o;
}

static struct dp_ctl gen_ctl(uint32_t step)
{
	struct dp_ctl c;
	memset(&c, 0, sizeof(c));
	c.seq = step;
	c.now = T0 + step;
	switch (rnd(13)) {
	case 0:
		c.type = DP_CTL_ACCOUNT;
		c.firm_id = 1 + rnd(3);
		c.account = 1 + rnd(3);
		c.qty = rnd(2) ? 0 : 35;
		c.price = rnd(2) ? 0 : 200;
		c.price2 = rnd(2) ? 0 : 100;
		break;
	case 1:
		c.type = DP_CTL_KILL;
		c.firm_id = 1 + rnd(3);
		c.account = rnd(4);
		c.arg = rnd(4) == 0;
		break;
	case 2:
		c.type = DP_CTL_PHASE;
		c.contract_id = contracts[rnd(4)];
		c.arg = rnd(2) ? TKX_PHASE_PRE_OPEN : TKX_PHASE_CONTINUOUS;
		break;
	case 3:
		c.type = DP_CTL_UNCROSS;
		c.contract_id = contracts[rnd(4)];
		c.arg = rnd(2) ? TKX_PHASE_CONTINUOUS : 0;
		c.price = px(c.contract_id, TKX_SIDE_BUY);
		break;
	case 4:
		c.type = DP_CTL_VOL_GUARD;
		c.contract_id = rnd(2) ? C1 : C4;
		c.arg = rnd(2) ? 40 : 0;
		c.price = 25000;
		break;
	case 5:
		c.type = DP_CTL_BAND;
		c.contract_id = C1;
		c.price = 24000 + 10 * rnd(50);
		c.price2 = 25500 + 10 * rnd(50);
		break;
	case 6:
		c.type = DP_CTL_NEW_DAY;
		c.contract_id = contracts[rnd(3)];
		break;
	case 7:
		c.type = DP_CTL_LIST;
		c.contract_id = rnd(2) ? C4 : C5;
		c.price = BOOK1.price_lo;
		c.price2 = BOOK1.price_hi;
		c.qty = BOOK1.max_qty;
		c.arg = (uint64_t)BOOK1.tick | (uint64_t)200 << 32;
		c.arg8 = TKX_PHASE_CONTINUOUS;
		break;
	case 8:
		c.type = DP_CTL_DELIST;
		c.contract_id = C5;
		break;
	case 9:
		c.type = DP_CTL_SPOT;
		c.contract_id = contracts[rnd(4)];
		c.arg = rnd(2);
		break;
	case 10:
		c.type = DP_CTL_MASS_CANCEL;
		c.contract_id = rnd(2) ? 0 : C2;
		c.firm_id = 1 + rnd(3);
		c.account = 1 + rnd(3);
		break;
	case 11:
		c.type = DP_CTL_END_OF_DAY; /* DAY orders, resting and held, expire */
		c.contract_id = contracts[rnd(4)];
		break;
	default:
		c.type = DP_CTL_DAY_STATS;
		c.contract_id = contracts[rnd(4)];
		break;
	}
	return c;
}

/* One step of input to every instance; their outputs must be identical. */
static void step(struct inst **xs, unsigned nx, uint32_t i, int compare)
{
	struct dp_ctl_reply rep[2];
	int is_ctl = rnd(40) == 0;
	struct dp_ctl c;
	struct dp_order o;
	memset(&c, 0, sizeof(c));
	memset(&o, 0, sizeof(o));
	if (is_ctl)
		c = gen_ctl(i);
	else
		o = gen_order();
	for (unsigned k = 0; k < nx; k++) {
		xs[k]->n = 0;
		if (is_ctl) {
			mc_control(xs[k]->mc, &c, &xs[k]->out, &rep[k]);
		} else {
			mc_process(xs[k]->mc, &o, 1, T0 + i, &xs[k]->out);
		}
	}
	learn(xs[0]);
	if (!compare)
		return;
	if (xs[0]->n != xs[1]->n || memcmp(xs[0]->ev, xs[1]->ev, xs[0]->n * sizeof(struct dp_event)))
		fail_msg("step %u (%s type %u): the instances' outputs differ (%u vs %u events)", i,
			 is_ctl ? "control" : "request", is_ctl ? c.type : o.type, xs[0]->n,
			 xs[1]->n);
	if (is_ctl && memcmp(&rep[0], &rep[1], sizeof(rep[0])))
		fail_msg("step %u: control replies differ (rc %d vs %d)", i, rep[0].rc, rep[1].rc);
}

/* What the order types left in the books: held stops, icebergs, DAY orders. */
struct types_seen {
	uint32_t held, ice, day;
};

static int types_cb(void *arg, const struct me_order_view *o)
{
	struct types_seen *t = arg;
	t->ice += o->show != 0;
	t->day += o->tif == ME_DAY;
	return 0;
}

static struct types_seen types(const struct mc_core *mc)
{
	struct types_seen t = { 0, 0, 0 };
	for (unsigned k = 0; k < 4; k++) {
		const struct me_book *b = mc_book(mc, contracts[k]);
		if (!b)
			continue;
		t.held += me_book_held(b);
		me_book_walk(b, types_cb, &t);
	}
	return t;
}

static uint32_t resting(const struct mc_core *mc)
{
	uint32_t n = 0;
	for (unsigned k = 0; k < 4; k++) {
		const struct me_book *b = mc_book(mc, contracts[k]);
		if (b)
			n += me_book_count(b);
	}
	return n;
}

/* A core traded for a while, its snapshot in *blob. */
static void trade(struct inst *a, uint32_t steps, uint8_t **blob, size_t *len)
{
	struct inst *xs[1] = { a };
	for (uint32_t i = 0; i < steps; i++)
		step(xs, 1, i, 0);
	size_t cap = mc_snap_bound(a->mc);
	*blob = malloc(cap);
	assert_non_null(*blob);
	struct dp_snap_w w;
	dp_snap_w_init(&w, *blob, cap);
	int64_t n = mc_snap_save(a->mc, &w);
	assert_true(n > 0);
	assert_int_equal((size_t)n, w.len);
	*len = (size_t)n;
	/* A buffer one byte short is refused, not overrun. */
	uint8_t *copy = malloc((size_t)n);
	memcpy(copy, *blob, (size_t)n);
	dp_snap_w_init(&w, copy, (size_t)n - 1);
	assert_int_equal(mc_snap_save(a->mc, &w), -ENOBUFS);
	free(copy);
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_core_round_trip(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 3; seed++) {
		struct inst a, b;
		uint8_t *blob;
		size_t len;
		char err[256];
		rng_s = 0x9e3779b97f4a7c15ull * seed;
		n_ids = 0;
		clid = 0;
		inst_open(&a, 0);
		inst_open(&b, 0);
		trade(&a, 6000, &blob, &len);
		assert_true(resting(a.mc) >= 100); /* many resting orders across contracts */
		/* ... of every type: the snapshot carries held stops and icebergs. */
		struct types_seen ta = types(a.mc);
		assert_true(ta.held >= 5 && ta.ice >= 5 && ta.day >= 5);
		int rc = mc_snap_load(b.mc, blob, len, NULL, err, sizeof(err));
		if (rc)
			fail_msg("load: %s", err);
		/* The same state, seen from outside. */
		for (unsigned k = 0; k < 4; k++) {
			const struct me_book *x = mc_book(a.mc, contracts[k]);
			const struct me_book *y = mc_book(b.mc, contracts[k]);
			assert_int_equal(x == NULL, y == NULL);
			if (!x)
				continue;
			assert_int_equal(me_book_count(x), me_book_count(y));
			assert_int_equal(me_book_held(x), me_book_held(y));
			assert_int_equal(mc_phase(a.mc, contracts[k]), mc_phase(b.mc, contracts[k]));
			assert_int_equal(mc_vol_interrupted(a.mc, contracts[k]),
					 mc_vol_interrupted(b.mc, contracts[k]));
			for (uint32_t f = 1; f <= 3; f++)
				for (uint32_t acc = 0; acc < 4; acc++) {
					struct mc_position p, q;
					int r1 = mc_position(a.mc, f, acc, contracts[k], &p);
					int r2 = mc_position(b.mc, f, acc, contracts[k], &q);
					assert_int_equal(r1, r2);
					if (r1 == 0)
						assert_memory_equal(&p, &q, sizeof(p));
				}
		}
		struct mc_stats s1, s2;
		mc_stats(a.mc, &s1);
		mc_stats(b.mc, &s2);
		assert_memory_equal(&s1, &s2, sizeof(s1));
		/* Then the same input: the same output, byte for byte. */
		struct inst *xs[2] = { &a, &b };
		for (uint32_t i = 6000; i < 12000; i++)
			step(xs, 2, i, 1);
		/* A snapshot of the loaded core, loaded again, carries on the same way. */
		free(blob);
		struct inst c;
		inst_open(&c, 0);
		size_t cap = mc_snap_bound(b.mc);
		blob = malloc(cap);
		struct dp_snap_w w;
		dp_snap_w_init(&w, blob, cap);
		assert_true(mc_snap_save(b.mc, &w) > 0);
		assert_int_equal(mc_snap_load(c.mc, blob, w.len, NULL, err, sizeof(err)), 0);
		xs[1] = &c;
		for (uint32_t i = 12000; i < 14000; i++)
			step(xs, 2, i, 1);
		free(blob);
		inst_close(&a);
		inst_close(&b);
		inst_close(&c);
	}
}

static void test_core_config_mismatch(void **state)
{
	(void)state;
	struct inst a, b;
	uint8_t *blob;
	size_t len;
	char err[256];
	rng_s = 77;
	n_ids = 0;
	inst_open(&a, 0);
	trade(&a, 2000, &blob, &len);
	for (int variant = 1; variant <= 2; variant++) {
		inst_open(&b, variant);
		err[0] = 0;
		assert_int_equal(mc_snap_check(b.mc, blob, len, NULL, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "another configuration"));
		assert_int_equal(mc_snap_load(b.mc, blob, len, NULL, err, sizeof(err)), -EINVAL);
		assert_int_equal(resting(b.mc), 0); /* untouched */
		inst_close(&b);
	}
	/* A core that has traded is not a target. */
	assert_int_equal(mc_snap_load(a.mc, blob, len, NULL, err, sizeof(err)), -EBUSY);
	free(blob);
	inst_close(&a);
}

static void test_core_corrupt(void **state)
{
	(void)state;
	struct inst a, b;
	uint8_t *blob;
	size_t len;
	char err[256];
	rng_s = 99;
	n_ids = 0;
	inst_open(&a, 0);
	inst_open(&b, 0);
	trade(&a, 1500, &blob, &len);
	uint8_t *bad = malloc(len);
	/* Every truncation is refused. */
	for (size_t cut = 0; cut < len; cut += (cut < 512 ? 1 : 61)) {
		int rc = mc_snap_check(b.mc, blob, cut, NULL, err, sizeof(err));
		if (rc != -EBADMSG)
			fail_msg("truncated at %zu of %zu: %d (%s)", cut, len, rc, err);
	}
	/* The header's fields. */
	struct { size_t off; uint8_t val; int rc; } cases[] = {
		{ 0, 0x00, -EBADMSG },                                   /* magic */
		{ 4, 0x09, -EPROTO },                                    /* version */
		{ 8, 0x07, -EBADMSG },                                   /* length */
		{ 16, 0x07, -EINVAL },                                   /* cap */
		{ offsetof(struct mc_snap_hdr, n_listed), 0x09, -EBADMSG },
		{ offsetof(struct mc_snap_hdr, n_trk), 0xff, -EBADMSG },
		/* the first slot record's phase */
		{ sizeof(struct mc_snap_hdr) + 4, 0x7f, -EBADMSG },
		/* the first book's first order's side */
		{ sizeof(struct mc_snap_hdr) + sizeof(struct mc_snap_slot) +
			  sizeof(struct me_snap_hdr) + offsetof(struct me_snap_order, side), 7,
		  -EBADMSG },
		/* ... and its tif (IOC never rests) */
		{ sizeof(struct mc_snap_hdr) + sizeof(struct mc_snap_slot) +
			  sizeof(struct me_snap_hdr) + offsetof(struct me_snap_order, tif), ME_IOC,
		  -EBADMSG },
		/* the first book's count */
		{ sizeof(struct mc_snap_hdr) + sizeof(struct mc_snap_slot) +
			  offsetof(struct me_snap_hdr, count), 0xee, -EBADMSG },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, blob, len);
		bad[cases[i].off] = cases[i].val;
		err[0] = 0;
		int rc = mc_snap_load(b.mc, bad, len, NULL, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %u (byte %zu): %d, expected %d (%s)", i, cases[i].off, rc,
				 cases[i].rc, err);
		assert_true(err[0] != 0);
		assert_int_equal(resting(b.mc), 0);
	}
	/* After all that, the good blob loads. */
	assert_int_equal(mc_snap_load(b.mc, blob, len, NULL, err, sizeof(err)), 0);
	assert_int_equal(resting(b.mc), resting(a.mc));
	free(bad);
	free(blob);
	inst_close(&a);
	inst_close(&b);
}

/* ---- one book ----------------------------------------------------------------------- */

static struct me_event bev[2][4096];
static uint32_t bn[2];

static void bflush(struct me_sink *s)
{
	uintptr_t k = (uintptr_t)s->arg;
	for (uint32_t i = 0; i < s->n; i++) {
		assert_true(bn[k] < 4096);
		bev[k][bn[k]++] = s->ev[i];
	}
	s->n = 0;
}

static struct me_book *book_new(const struct me_params *p)
{
	size_t n = me_book_memsize(p);
	void *mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(mem);
	return me_book_init(mem, n, p);
}

struct walk_rec {
	struct me_order_view v[1024];
	uint32_t n;
};

static int walk_cb(void *arg, const struct me_order_view *o)
{
	struct walk_rec *w = arg;
	w->v[w->n++] = *o;
	return 0;
}

static void test_book_round_trip(void **state)
{
	(void)state;
	struct me_event ev[2][8];
	struct me_sink sk[2] = { { ev[0], 0, 8, bflush, (void *)0 }, { ev[1], 0, 8, bflush, (void *)1 } };
	struct me_book *a = book_new(&BOOK1), *b = book_new(&BOOK1);
	char err[256];
	rng_s = 5;
	/* Continuous trading with POST orders, then a band narrower than some resting
	 * orders, then an auction whose book crosses, and a guard. */
	for (int64_t i = 1; i <= 600; i++) {
		struct me_cmd c = { .type = ME_CMD_NEW, .side = (uint8_t)rnd(2),
				    .tif = rnd(3) ? ME_GTC : ME_POST, .id = i,
				    .price = 25000 + 10 * ((int64_t)rnd(61) - 30),
				    .qty = 1 + rnd(20), .owner = rnd(3), .user = 1000 + (uint64_t)i };
		if (i > 300 && rnd(3) == 0) {
			c.type = ME_CMD_CANCEL;
			c.id = 1 + rnd((uint32_t)i - 1);
		}
		if (i == 400) {
			assert_int_equal(me_book_set_band(a, 24900, 25100), 0);
			assert_int_equal(me_book_set_auction(a, 1), 0);
			assert_int_equal(me_book_set_guard(a, 24800, 25200), 0);
		}
		if (i > 400) /* inside the band */
			c.price = 24900 + 10 * rnd(21);
		bn[0] = 0;
		me_book_apply(a, &c, &sk[0]);
	}
	assert_true(me_book_count(a) > 100);
	int64_t bp, ap;
	assert_int_equal(me_book_best(a, ME_BUY, &bp, NULL), 0);
	assert_int_equal(me_book_best(a, ME_SELL, &ap, NULL), 0);
	assert_true(bp >= ap); /* crossed: only in an auction */
	static uint8_t buf[1 << 16];
	struct dp_snap_w w;
	dp_snap_w_init(&w, buf, sizeof(buf));
	int64_t len = me_snap_save(a, &w);
	assert_true(len > 0);
	assert_true((size_t)len <= me_snap_bound(&BOOK1));
	int rc = me_snap_load(b, buf, (size_t)len, err, sizeof(err));
	if (rc)
		fail_msg("load: %s", err);
	static struct walk_rec wa, wb;
	wa.n = wb.n = 0;
	me_book_walk(a, walk_cb, &wa);
	me_book_walk(b, walk_cb, &wb);
	assert_int_equal(wa.n, wb.n);
	assert_memory_equal(wa.v, wb.v, wa.n * sizeof(wa.v[0]));
	const char *what = NULL;
	assert_int_equal(me_book_check(b, &what), 0);
	int64_t lo1, hi1, lo2, hi2;
	me_book_band(b, &lo1, &hi1);
	assert_int_equal(lo1, 24900);
	assert_int_equal(hi1, 25100);
	me_book_guard(b, &lo2, &hi2);
	assert_int_equal(lo2, 24800);
	assert_int_equal(hi2, 25200);
	assert_int_equal(me_book_auction(b), 1);
	/* The same commands to both: uncross, then continuous trading. */
	struct me_uncross u1, u2;
	sk[0].n = sk[1].n = 0; /* what the set-up left in the sink */
	bn[0] = bn[1] = 0;
	me_book_uncross(a, 25000, &sk[0], &u1);
	me_book_uncross(b, 25000, &sk[1], &u2);
	bflush(&sk[0]);
	bflush(&sk[1]);
	assert_memory_equal(&u1, &u2, sizeof(u1));
	assert_int_equal(bn[0], bn[1]);
	assert_memory_equal(bev[0], bev[1], bn[0] * sizeof(bev[0][0]));
	for (int64_t i = 601; i <= 2000; i++) {
		struct me_cmd c = { .type = (uint8_t)(1 + rnd(3)), .side = (uint8_t)rnd(2),
				    .tif = (uint8_t)rnd(4), .id = rnd(2) ? i : 1 + rnd((uint32_t)i),
				    .price = 24900 + 10 * rnd(21), .qty = rnd(25), .owner = rnd(3),
				    .user = (uint64_t)i };
		bn[0] = bn[1] = 0;
		me_book_apply(a, &c, &sk[0]);
		me_book_apply(b, &c, &sk[1]);
		bflush(&sk[0]);
		bflush(&sk[1]);
		if (bn[0] != bn[1] || memcmp(bev[0], bev[1], bn[0] * sizeof(bev[0][0])))
			fail_msg("command %lld: the books' events differ", (long long)i);
	}
	/* Refusals: another shape, a book that is not empty, a duplicate id. */
	struct me_book *other = book_new(&BOOK3);
	assert_int_equal(me_snap_load(other, buf, (size_t)len, err, sizeof(err)), -EINVAL);
	assert_int_equal(me_snap_load(a, buf, (size_t)len, err, sizeof(err)), -EBUSY);
	struct me_book *c = book_new(&BOOK1);
	struct me_snap_order o0;
	memcpy(&o0, buf + sizeof(struct me_snap_hdr), sizeof(o0));
	memcpy(buf + sizeof(struct me_snap_hdr) + sizeof(o0), &o0, sizeof(o0));
	assert_int_equal(me_snap_check(c, buf, (size_t)len, err, sizeof(err)), 0); /* unseen */
	assert_int_equal(me_snap_load(c, buf, (size_t)len, err, sizeof(err)), -EBADMSG);
	assert_int_equal(me_book_count(c), 0); /* never half loaded */
	assert_int_equal(me_book_auction(c), 0);
	assert_int_equal(me_book_check(c, &what), 0);
	free(a);
	free(b);
	free(c);
	free(other);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_book_round_trip),
		cmocka_unit_test(test_core_round_trip),
		cmocka_unit_test(test_core_config_mismatch),
		cmocka_unit_test(test_core_corrupt),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
