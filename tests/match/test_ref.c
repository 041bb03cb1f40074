/*
 * test_ref.c - the matching engine against a deliberately naive model of the rules in
 * me_book.h (an array of orders, linear scans, a sequence number for time priority), on
 * random command streams over several contract configurations. Every event is compared
 * field by field (the documented field rules included), the book after every command,
 * and me_book_check() runs after every command.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "me_book.h"

/* ---------------------------------------------------------------------------------- */
/* The model                                                                           */

struct ref_order {
	int64_t id, price, qty;
	uint64_t owner, user, seq;
	uint8_t side, tif;
};

struct ref {
	struct me_params p;
	struct ref_order *o; /* live orders, unordered */
	uint32_t n;
	uint64_t seq;
	struct me_event ev[4096];
	uint32_t nev;
};

static void ref_emit(struct ref *r, struct me_event e)
{
	assert_true(r->nev < 4096);
	r->ev[r->nev++] = e;
}

static int ref_find(const struct ref *r, int64_t id)
{
	for (uint32_t i = 0; i < r->n; i++)
		if (r->o[i].id == id)
			return (int)i;
	return -1;
}

static void ref_remove(struct ref *r, int i)
{
	r->o[i] = r->o[--r->n];
}

/* The contract's checks on a positive price: 0, TICK or BAND. */
static int ref_price_rej(const struct ref *r, int64_t price)
{
	__int128 off = ((__int128)price - r->p.price_lo) % r->p.tick;
	if (off != 0)
		return ME_REJ_TICK;
	if (price < r->p.price_lo || price > r->p.price_hi)
		return ME_REJ_BAND;
	return 0;
}

static int crosses_px(int side, int64_t limit, int64_t rest_px)
{
	return side == ME_BUY ? rest_px <= limit : rest_px >= limit;
}

/* Index of the best opposite order that a side/limit aggressor crosses, or -1. */
static int ref_best_opp(const struct ref *r, int side, int64_t limit, int skip)
{
	int best = -1;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct ref_order *o = &r->o[i];
		if ((int)i == skip || o->side == side || !crosses_px(side, limit, o->price))
			continue;
		if (best < 0) {
			best = (int)i;
			continue;
		}
		const struct ref_order *b = &r->o[best];
		int better = side == ME_BUY ? o->price < b->price : o->price > b->price;
		if (better || (o->price == b->price && o->seq < b->seq))
			best = (int)i;
	}
	return best;
}

/* Opposite orders that side/limit crosses, in matching order (qsort's comparator reads
 * its context from these two). */
static const struct ref *sort_r;
static int sort_side;

static int cmp_prio(const void *pa, const void *pb)
{
	const struct ref_order *x = &sort_r->o[*(const int *)pa], *y = &sort_r->o[*(const int *)pb];
	if (x->price != y->price)
		return (sort_side == ME_BUY ? x->price < y->price : x->price > y->price) ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint32_t ref_sorted_opp(const struct ref *r, int side, int64_t limit, int skip,
			       int *out)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < r->n; i++) {
		const struct ref_order *o = &r->o[i];
		if ((int)i != skip && o->side != side && crosses_px(side, limit, o->price))
			out[k++] = (int)i;
	}
	sort_r = r;
	sort_side = side;
	qsort(out, k, sizeof(*out), cmp_prio);
	return k;
}

/* Matches an aggressor; returns 1 if STP stopped it. *qty updated. skip = the
 * aggressor's own slot when it is a modified order still in r->o. */
static int ref_match(struct ref *r, int side, int64_t limit, int64_t id, uint64_t owner,
		     uint64_t user, int64_t *qty, int *skip)
{
	while (*qty > 0) {
		int i = ref_best_opp(r, side, limit, *skip);
		if (i < 0)
			return 0;
		struct ref_order *o = &r->o[i];
		if (owner != 0 && o->owner == owner)
			return 1;
		int64_t t = *qty < o->qty ? *qty : o->qty;
		*qty -= t;
		o->qty -= t;
		ref_emit(r, (struct me_event){ .type = ME_EV_TRADE, .side = (uint8_t)side,
					       .id = id, .price = o->price, .qty = t,
					       .leaves = *qty, .user = user, .rid = o->id,
					       .rleaves = o->qty, .ruser = o->user });
		if (o->qty == 0) {
			/* keep *skip pointing at the aggressor's slot after the swap */
			if (*skip == (int)r->n - 1)
				*skip = i;
			ref_remove(r, i);
		}
	}
	return 0;
}

static void ref_reject(struct ref *r, int64_t id, int why, unsigned side, uint64_t user,
		       int64_t leaves)
{
	ref_emit(r, (struct me_event){ .type = ME_EV_REJECT, .reason = (uint8_t)why,
				       .side = (uint8_t)side, .id = id, .leaves = leaves,
				       .user = user });
}

static void ref_out(struct ref *r, int64_t id, int why, unsigned side, int64_t qty,
		    uint64_t user)
{
	ref_emit(r, (struct me_event){ .type = ME_EV_OUT, .reason = (uint8_t)why,
				       .side = (uint8_t)side, .id = id, .qty = qty,
				       .user = user });
}

static void ref_new(struct ref *r, const struct me_cmd *c)
{
	int rej;
	unsigned side = c->side, tif = c->tif;

	if (side > 1 || tif > 3 || c->price <= 0 || c->qty <= 0)
		return ref_reject(r, c->id, ME_REJ_INVALID, side, c->user, 0);
	if ((rej = ref_price_rej(r, c->price)) != 0)
		return ref_reject(r, c->id, rej, side, c->user, 0);
	if (c->qty > r->p.max_qty)
		return ref_reject(r, c->id, ME_REJ_MAX_QTY, side, c->user, 0);
	if (ref_find(r, c->id) >= 0)
		return ref_reject(r, c->id, ME_REJ_DUP, side, c->user, 0);
	int rests = tif == ME_GTC || tif == ME_POST;
	if (rests && r->n == r->p.max_orders)
		return ref_reject(r, c->id, ME_REJ_FULL, side, c->user, 0);
	int cross = ref_best_opp(r, (int)side, c->price, -1) >= 0;
	if (tif == ME_POST && cross)
		return ref_reject(r, c->id, ME_REJ_POST_CROSS, side, c->user, 0);
	ref_emit(r, (struct me_event){ .type = ME_EV_ACCEPT, .side = (uint8_t)side, .id = c->id,
				       .price = c->price, .qty = c->qty, .leaves = c->qty,
				       .user = c->user });
	if (tif == ME_FOK) {
		int idx[512];
		uint32_t k = ref_sorted_opp(r, (int)side, c->price, -1, idx);
		int64_t need = c->qty;
		int ok = 0;
		for (uint32_t j = 0; j < k && !ok; j++) {
			const struct ref_order *o = &r->o[idx[j]];
			if (c->owner != 0 && o->owner == c->owner)
				break;
			if (o->qty >= need)
				ok = 1;
			else
				need -= o->qty;
		}
		if (!ok)
			return ref_out(r, c->id, ME_OUT_FOK, side, c->qty, c->user);
	}
	int64_t qty = c->qty;
	int skip = -1;
	int stp = ref_match(r, (int)side, c->price, c->id, c->owner, c->user, &qty, &skip);
	if (qty == 0)
		return;
	if (stp)
		return ref_out(r, c->id, ME_OUT_STP, side, qty, c->user);
	if (!rests)
		return ref_out(r, c->id, ME_OUT_IOC, side, qty, c->user);
	r->o[r->n++] = (struct ref_order){ .id = c->id, .price = c->price, .qty = qty,
					   .owner = c->owner, .user = c->user, .seq = ++r->seq,
					   .side = (uint8_t)side, .tif = (uint8_t)tif };
}

static void ref_cancel(struct ref *r, const struct me_cmd *c)
{
	int i = ref_find(r, c->id);
	if (i < 0)
		return ref_reject(r, c->id, ME_REJ_UNKNOWN, 0, 0, 0);
	struct ref_order o = r->o[i];
	ref_out(r, o.id, ME_OUT_CANCEL, o.side, o.qty, o.user);
	ref_remove(r, i);
}

static void ref_modify(struct ref *r, const struct me_cmd *c)
{
	int i = ref_find(r, c->id), rej;
	if (i < 0)
		return ref_reject(r, c->id, ME_REJ_UNKNOWN, 0, 0, 0);
	struct ref_order *o = &r->o[i];
	if (c->price <= 0 || c->qty <= 0)
		return ref_reject(r, o->id, ME_REJ_INVALID, o->side, o->user, o->qty);
	if ((rej = ref_price_rej(r, c->price)) != 0)
		return ref_reject(r, o->id, rej, o->side, o->user, o->qty);
	if (c->qty > r->p.max_qty)
		return ref_reject(r, o->id, ME_REJ_MAX_QTY, o->side, o->user, o->qty);
	struct me_event m = { .type = ME_EV_MODIFY, .side = o->side, .id = o->id,
			      .price = c->price, .qty = c->qty, .leaves = c->qty,
			      .user = o->user };
	if (c->price == o->price && c->qty <= o->qty) {
		o->qty = c->qty;
		return ref_emit(r, m);
	}
	int cross = ref_best_opp(r, o->side, c->price, i) >= 0;
	if (o->tif == ME_POST && cross)
		return ref_reject(r, o->id, ME_REJ_POST_CROSS, o->side, o->user, o->qty);
	ref_emit(r, m);
	int64_t qty = c->qty;
	int skip = i;
	int stp = ref_match(r, o->side, c->price, o->id, o->owner, o->user, &qty, &skip);
	o = &r->o[skip];
	if (qty == 0) {
		ref_remove(r, skip);
		return;
	}
	if (stp) {
		ref_out(r, o->id, ME_OUT_STP, o->side, qty, o->user);
		ref_remove(r, skip);
		return;
	}
	o->qty = qty;
	o->price = c->price;
	o->seq = ++r->seq;
}

static void ref_apply(struct ref *r, const struct me_cmd *c)
{
	r->nev = 0;
	switch (c->type) {
	case ME_CMD_NEW: ref_new(r, c); break;
	case ME_CMD_CANCEL: ref_cancel(r, c); break;
	case ME_CMD_MODIFY: ref_modify(r, c); break;
	default: ref_reject(r, c->id, ME_REJ_INVALID, c->side, c->user, 0);
	}
}

/* The model's book in walk order: bids best first, then asks best first. */
static uint32_t ref_walk(const struct ref *r, struct me_order_view *v)
{
	int idx[512];
	uint32_t k = 0;
	/* all bids crossed by a sell at price 1, all asks crossed by a buy at INT64_MAX */
	uint32_t nb = ref_sorted_opp(r, ME_SELL, 1, -1, idx);
	uint32_t na = ref_sorted_opp(r, ME_BUY, INT64_MAX, -1, idx + nb);
	for (uint32_t j = 0; j < nb + na; j++) {
		const struct ref_order *o = &r->o[idx[j]];
		v[k++] = (struct me_order_view){ .id = o->id, .price = o->price, .qty = o->qty,
						 .owner = o->owner, .user = o->user,
						 .side = o->side, .tif = o->tif };
	}
	return k;
}

/* ---------------------------------------------------------------------------------- */
/* The engine side and the comparison                                                  */

struct sink_rec {
	struct me_event buf[3];
	struct me_sink s;
	struct me_event ev[4096];
	uint32_t n;
};

static void sink_flush(struct me_sink *s)
{
	struct sink_rec *k = s->arg;
	for (uint32_t i = 0; i < s->n; i++) {
		assert_true(k->n < 4096);
		k->ev[k->n++] = s->ev[i];
	}
	s->n = 0;
}

struct walk_into {
	struct me_order_view *v;
	uint32_t n, cap;
};

static int walk_into(void *arg, const struct me_order_view *o)
{
	struct walk_into *w = arg;
	assert_true(w->n < w->cap);
	w->v[w->n++] = *o;
	return 0;
}

static void fmt_ev(char *buf, size_t n, const struct me_event *e)
{
	snprintf(buf, n,
		 "type %u reason %u side %u id %lld price %lld qty %lld leaves %lld user %llu "
		 "rid %lld rleaves %lld ruser %llu",
		 e->type, e->reason, e->side, (long long)e->id, (long long)e->price,
		 (long long)e->qty, (long long)e->leaves, (unsigned long long)e->user,
		 (long long)e->rid, (long long)e->rleaves, (unsigned long long)e->ruser);
}

static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

struct cfg {
	struct me_params p;
	int64_t px_lo, px_n; /* commands use prices px_lo + k, k < px_n (on and off grid) */
	int64_t qty_max;     /* command quantities 1..qty_max (some above max_qty) */
	int64_t nid;         /* ids in [-nid/4, nid) */
	uint32_t nowner;
	uint32_t steps;
};

static void run_cfg(const struct cfg *g, uint64_t seed)
{
	struct ref *r = calloc(1, sizeof(*r));
	struct sink_rec *k = calloc(1, sizeof(*k));
	assert_non_null(r);
	assert_non_null(k);
	r->p = g->p;
	r->o = calloc(g->p.max_orders + 1, sizeof(*r->o));
	size_t msz = me_book_memsize(&g->p);
	assert_true(msz > 0);
	void *mem = aligned_alloc(64, (msz + 63) & ~(size_t)63);
	assert_non_null(mem);
	struct me_book *b = me_book_init(mem, msz, &g->p);
	assert_non_null(b);
	k->s = (struct me_sink){ .ev = k->buf, .cap = 1 + (uint32_t)(seed % 3),
				 .flush = sink_flush, .arg = k };
	struct me_order_view *ve = calloc(g->p.max_orders + 1, sizeof(*ve));
	struct me_order_view *vr = calloc(g->p.max_orders + 1, sizeof(*vr));
	rng = seed * 0x9e3779b97f4a7c15ull + 1;

	for (uint32_t step = 0; step < g->steps; step++) {
		uint64_t x = rnd();
		struct me_cmd c = { 0 };
		c.id = (int64_t)(rnd() % (uint64_t)g->nid) - g->nid / 4;
		c.price = g->px_lo + (int64_t)(rnd() % (uint64_t)g->px_n);
		c.qty = 1 + (int64_t)(rnd() % (uint64_t)g->qty_max);
		c.user = rnd();
		unsigned what = (unsigned)(x % 100);
		if (what < 50) {
			c.type = ME_CMD_NEW;
			c.side = (uint8_t)((x >> 8) & 1);
			c.tif = (uint8_t)((x >> 16) % 4);
			c.owner = (x >> 24) % (g->nowner + 1);
			if ((x >> 32) % 200 == 0) /* invalid values now and then */
				c.side = 2;
			if ((x >> 40) % 200 == 0)
				c.tif = 7;
			if ((x >> 48) % 150 == 0)
				c.price = -(int64_t)((x >> 50) % 3);
			if ((x >> 52) % 150 == 0)
				c.qty = -(int64_t)((x >> 56) % 3);
		} else if (what < 80) {
			c.type = ME_CMD_CANCEL;
		} else if (what < 98) {
			c.type = ME_CMD_MODIFY;
			if ((x >> 40) % 100 == 0)
				c.qty = 0;
			if ((x >> 24) % 3 == 0) { /* often the same price: reduce/increase */
				int i = ref_find(r, c.id);
				if (i >= 0)
					c.price = r->o[i].price;
			}
		} else if (what < 99) {
			c.type = 9;
		} else {
			/* mass cancel */
			uint64_t owner = (x >> 8) % (g->nowner + 1);
			int side = (int)((x >> 16) % 3) - 1;
			k->n = 0;
			uint32_t n = me_book_mass_cancel(b, owner, side, &k->s);
			sink_flush(&k->s);
			r->nev = 0;
			uint32_t na = ref_walk(r, vr);
			for (uint32_t j = 0; j < na; j++)
				if ((owner == 0 || vr[j].owner == owner) &&
				    (side == -1 || vr[j].side == side)) {
					ref_out(r, vr[j].id, ME_OUT_MASS, vr[j].side, vr[j].qty,
						vr[j].user);
					ref_remove(r, ref_find(r, vr[j].id));
				}
			assert_int_equal(n, r->nev);
			goto compare;
		}
		k->n = 0;
		uint32_t n = me_book_apply(b, &c, &k->s);
		sink_flush(&k->s);
		assert_int_equal(n, k->n);
		ref_apply(r, &c);
	compare:
		if (k->n != r->nev || memcmp(k->ev, r->ev, k->n * sizeof(k->ev[0])) != 0) {
			char a[512], e[512];
			print_error("seed %llu step %u: cmd type %u id %lld side %u tif %u price "
				    "%lld qty %lld owner %llu\n",
				    (unsigned long long)seed, step, c.type, (long long)c.id, c.side,
				    c.tif, (long long)c.price, (long long)c.qty,
				    (unsigned long long)c.owner);
			for (uint32_t j = 0; j < k->n || j < r->nev; j++) {
				a[0] = e[0] = '\0';
				if (j < k->n)
					fmt_ev(a, sizeof(a), &k->ev[j]);
				if (j < r->nev)
					fmt_ev(e, sizeof(e), &r->ev[j]);
				print_error("  engine: %s\n  model:  %s\n", a, e);
			}
			fail();
		}
		const char *what_bad = NULL;
		if (me_book_check(b, &what_bad) != 0)
			fail_msg("seed %llu step %u: me_book_check: %s", (unsigned long long)seed,
				 step, what_bad);
		struct walk_into w = { .v = ve, .cap = g->p.max_orders + 1 };
		me_book_walk(b, walk_into, &w);
		uint32_t nr = ref_walk(r, vr);
		assert_int_equal(w.n, nr);
		assert_int_equal(me_book_count(b), nr);
		for (uint32_t j = 0; j < nr; j++)
			if (memcmp(&ve[j], &vr[j], offsetof(struct me_order_view, tif) + 1) != 0)
				fail_msg("seed %llu step %u: book differs at %u: engine id %lld "
					 "px %lld qty %lld, model id %lld px %lld qty %lld",
					 (unsigned long long)seed, step, j, (long long)ve[j].id,
					 (long long)ve[j].price, (long long)ve[j].qty,
					 (long long)vr[j].id, (long long)vr[j].price,
					 (long long)vr[j].qty);
	}
	free(ve);
	free(vr);
	free(mem);
	free(r->o);
	free(r);
	free(k);
}

/* A narrow tick-1 book with many collisions, owners and a pool that fills. */
static void test_ref_tight(void **state)
{
	(void)state;
	const struct cfg g = {
		.p = { .price_lo = 95, .price_hi = 105, .tick = 1, .max_qty = 12,
		       .max_orders = 24 },
		.px_lo = 93, .px_n = 15, .qty_max = 14, .nid = 60, .nowner = 3, .steps = 4000,
	};
	for (uint64_t seed = 1; seed <= 12; seed++)
		run_cfg(&g, seed);
}

/* An odd tick (multiply-shift division), off-grid and out-of-band prices. */
static void test_ref_tick3(void **state)
{
	(void)state;
	const struct cfg g = {
		.p = { .price_lo = 1000, .price_hi = 1030, .tick = 3, .max_qty = 20,
		       .max_orders = 40 },
		.px_lo = 995, .px_n = 40, .qty_max = 22, .nid = 100, .nowner = 2, .steps = 4000,
	};
	for (uint64_t seed = 100; seed < 108; seed++)
		run_cfg(&g, seed);
}

/* A deeper book, few owners (STP rare), ids mostly fresh: a quoting-like flow. */
static void test_ref_deep(void **state)
{
	(void)state;
	const struct cfg g = {
		.p = { .price_lo = 1, .price_hi = 200, .tick = 1, .max_qty = 100,
		       .max_orders = 300 },
		.px_lo = 80, .px_n = 40, .qty_max = 100, .nid = 600, .nowner = 8, .steps = 6000,
	};
	for (uint64_t seed = 7; seed < 11; seed++)
		run_cfg(&g, seed);
}

/* Power-of-two tick with a wide band (a 3-layer bitmap) and sparse prices. */
static void test_ref_wide(void **state)
{
	(void)state;
	const struct cfg g = {
		.p = { .price_lo = 0, .price_hi = 4 * 20000, .tick = 4, .max_qty = 9,
		       .max_orders = 32 },
		.px_lo = 39000, .px_n = 2000, .qty_max = 9, .nid = 70, .nowner = 2,
		.steps = 3000,
	};
	for (uint64_t seed = 50; seed < 53; seed++)
		run_cfg(&g, seed);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_tight),
		cmocka_unit_test(test_ref_tick3),
		cmocka_unit_test(test_ref_deep),
		cmocka_unit_test(test_ref_wide),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
