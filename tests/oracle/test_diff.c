/*
 * test_diff.c - differential test: the matching engine (me_book) against the reference
 * model (model.c) on random command streams.
 *
 * Each seed picks a contract (tick, band, max qty, a pool small enough to fill up, a
 * sink capacity so small that flush() runs mid-command) and a stream of commands drawn
 * to hit every rule: a narrow price range so orders cross often, a few owners so
 * self-trade prevention fires, every TIF, cancels and modifies of live, dead and
 * never-seen ids, duplicate ids, invalid fields, off-tick and out-of-band prices, too
 * large quantities, seeds and mass cancels; DAY orders and the end of the day, icebergs
 * (refills in the middle of a sweep, FOK against them), stop orders (held, elected at
 * once, cascades, modified and cancelled while held), and restarts: the engine's book
 * saved (me_snap_save) and loaded into a fresh book mid-stream while the model goes on.
 * Each seed draws a profile: plain (the old mix with a few new orders), iceberg-heavy,
 * stop-heavy (small quantities that trip chains of stops), and mixed with frequent ends
 * of day and restarts. After every command the two event lists must
 * be equal field by field; every CHECK_EVERY commands (and at the end) the whole book is
 * compared through me_book_walk() and me_book_check() must pass. At the end a coverage
 * table says how often each event type/reason and each model path occurred; each must be
 * non-zero, so the test cannot pass while a rule goes unexercised.
 *
 * Usage: test_diff [SEEDS [COMMANDS [FIRST_SEED]]]   (defaults 200 5000 1)
 * A mismatch prints the seed and command index; rerun with FIRST_SEED=that seed and
 * SEEDS=1 to reproduce it alone.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "me_book.h"
#include "me_snap.h"
#include "model.h"

#define CHECK_EVERY 64
#define NEVER_SEEN_BASE 1000000000LL /* ids the generator never makes live */

static unsigned g_seeds = 200, g_cmds = 5000, g_first = 1;

/* ---- PRNG (splitmix64) ---------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n). */
static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* True with probability pct/100. */
static int rng_pct(uint64_t *s, unsigned pct)
{
	return rng_below(s, 100) < pct;
}

/* ---- coverage ------------------------------------------------------------------- */

struct coverage {
	uint64_t accept, trade, modify, elect, restarts;
	uint64_t out[ME_OUT_EXPIRE + 1];
	uint64_t rej[ME_REJ_FULL + 1];
	struct mdl_paths paths; /* summed over seeds */
	uint64_t cmds, events, flushes;
};

static struct coverage g_cov;

static void cover(const struct me_event *e, uint32_t n)
{
	for (uint32_t i = 0; i < n; i++) {
		switch (e[i].type) {
		case ME_EV_ACCEPT: g_cov.accept++; break;
		case ME_EV_TRADE: g_cov.trade++; break;
		case ME_EV_MODIFY: g_cov.modify++; break;
		case ME_EV_ELECT: g_cov.elect++; break;
		case ME_EV_OUT:
			if (e[i].reason <= ME_OUT_EXPIRE)
				g_cov.out[e[i].reason]++;
			break;
		case ME_EV_REJECT:
			if (e[i].reason <= ME_REJ_FULL)
				g_cov.rej[e[i].reason]++;
			break;
		default: break;
		}
	}
	g_cov.events += n;
}

static void paths_add(struct mdl_paths *to, const struct mdl_paths *p)
{
	const uint64_t *src = (const uint64_t *)p;
	uint64_t *dst = (uint64_t *)to;
	for (size_t i = 0; i < sizeof(*p) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

/* ---- a sink that collects one command's events across flushes ------------------- */

struct collect {
	struct me_sink s;
	struct me_event *all; /* events of the current command */
	uint32_t n, cap;
	int overflow;
};

static void collect_flush(struct me_sink *s)
{
	struct collect *c = s->arg;
	for (uint32_t i = 0; i < s->n; i++) {
		if (c->n == c->cap) { /* icebergs and stop cascades: no fixed bound */
			uint32_t cap = c->cap ? 2 * c->cap : 64;
			struct me_event *all = realloc(c->all, cap * sizeof(*all));
			if (all == NULL) {
				c->overflow = 1;
				continue;
			}
			c->all = all;
			c->cap = cap;
		}
		c->all[c->n++] = s->ev[i];
	}
	s->n = 0;
	g_cov.flushes++;
}

/* Moves what is still in the sink into all[] (the engine flushes only when full). */
static void collect_drain(struct collect *c)
{
	uint64_t f = g_cov.flushes;
	collect_flush(&c->s);
	g_cov.flushes = f;
}

/* ---- printing ------------------------------------------------------------------- */

static const char *ev_name(uint8_t t)
{
	static const char *const n[] = { "?", "ACCEPT", "TRADE", "OUT", "REJECT", "MODIFY",
					 "GUARD", "ELECT" };
	return t <= ME_EV_ELECT ? n[t] : "?";
}

static void print_cmd(const struct me_cmd *c)
{
	static const char *const t[] = { "?", "NEW", "CANCEL", "MODIFY" };
	fprintf(stderr, "  cmd %s side=%u tif=%u id=%" PRId64 " price=%" PRId64
		" qty=%" PRId64 " owner=%" PRIu64 " user=%" PRIx64 " show=%" PRId64
		" stop=%" PRId64 "\n",
		c->type <= ME_CMD_MODIFY ? t[c->type] : "?", c->side, c->tif, c->id, c->price,
		c->qty, c->owner, c->user, c->show, c->stop);
}

static void print_events(const char *who, const struct me_event *e, uint32_t n)
{
	fprintf(stderr, "  %s: %u events\n", who, n);
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "    %-6s r=%u side=%u id=%" PRId64 " px=%" PRId64 " qty=%" PRId64
			" leaves=%" PRId64 " user=%" PRIx64 " rid=%" PRId64 " rleaves=%" PRId64
			" ruser=%" PRIx64 "\n",
			ev_name(e[i].type), e[i].reason, e[i].side, e[i].id, e[i].price, e[i].qty,
			e[i].leaves, e[i].user, e[i].rid, e[i].rleaves, e[i].ruser);
}

static int ev_equal(const struct me_event *a, const struct me_event *b)
{
	static const uint8_t zero[sizeof(b->pad)];
	return memcmp(b->pad, zero, sizeof(zero)) == 0 && a->type == b->type && a->reason == b->reason && a->side == b->side &&
	       a->id == b->id && a->price == b->price && a->qty == b->qty &&
	       a->leaves == b->leaves && a->user == b->user && a->rid == b->rid &&
	       a->rleaves == b->rleaves && a->ruser == b->ruser;
}

static int evs_equal(const struct me_event *a, uint32_t na, const struct me_event *b,
		     uint32_t nb)
{
	if (na != nb)
		return 0;
	for (uint32_t i = 0; i < na; i++)
		if (!ev_equal(&a[i], &b[i]))
			return 0;
	return 1;
}

/* ---- one run -------------------------------------------------------------------- */

struct run {
	unsigned seed;
	uint64_t rng;
	struct me_params p;
	int64_t levels; /* aligned prices in the band */
	struct me_book *book;
	void *mem;
	struct mdl m;
	struct collect col;
	struct me_event *sinkbuf;
	struct me_order_view *wv_m, *wv_e;
	size_t memsz;
	void *snapbuf;
	size_t snapcap;
	unsigned profile; /* PROF_* */
	uint32_t wv_n;
	int64_t next_id;
	int64_t *dead; /* ring of ids that were live once */
	uint32_t ndead;
	int64_t mid; /* level index the prices cluster around */
	unsigned idx; /* command index, for reports */
};

#define DEAD_RING 256

enum { PROF_PLAIN, PROF_ICE, PROF_STOP, PROF_MIXED, PROF_N };

static int64_t lvl_price(const struct run *r, int64_t lvl)
{
	return r->p.price_lo + lvl * r->p.tick;
}

static void remember_dead(struct run *r, int64_t id)
{
	r->dead[r->ndead++ % DEAD_RING] = id;
}

/* A price for side `side`: mostly in band around mid so that crosses are common, and
 * now and then one of each kind of bad price. */
static int64_t gen_price(struct run *r, int side)
{
	uint64_t *s = &r->rng;
	uint64_t k = rng_below(s, 100);
	int64_t tick = r->p.tick;

	if (k < 2)
		return -(int64_t)rng_below(s, 3) * tick; /* <= 0: INVALID */
	if (k < 5 && tick > 1)
		return lvl_price(r, (int64_t)rng_below(s, (uint64_t)r->levels)) + 1 +
		       (int64_t)rng_below(s, (uint64_t)tick - 1); /* TICK */
	if (k < 8) { /* aligned but outside the band: BAND */
		if (rng_pct(s, 50))
			return lvl_price(r, -1 - (int64_t)rng_below(s, 3));
		return lvl_price(r, r->levels + (int64_t)rng_below(s, 3));
	}
	if (k < 9) /* off tick and outside the band: TICK is checked first */
		return lvl_price(r, -1) + (tick > 1 ? 1 : 0) - (tick > 1 ? 0 : tick);
	if (k < 11)
		return lvl_price(r, rng_pct(s, 50) ? 0 : r->levels - 1); /* band edges */
	/* Buys cluster just below mid and sells just above, overlapping by a couple of
	 * levels so that about a third of orders cross. */
	int64_t off = (int64_t)rng_below(s, 4) - 1;
	int64_t lvl = side == ME_BUY ? r->mid - off : r->mid + 1 + off;
	if (lvl < 0)
		lvl = 0;
	if (lvl >= r->levels)
		lvl = r->levels - 1;
	return lvl_price(r, lvl);
}

static int64_t gen_qty(struct run *r)
{
	uint64_t *s = &r->rng;
	uint64_t k = rng_below(s, 100);

	if (k < 2)
		return -(int64_t)rng_below(s, 2); /* 0 or -1: INVALID */
	if (k < 5)
		return r->p.max_qty + 1 + (int64_t)rng_below(s, 3); /* MAX_QTY */
	if (k < 9)
		return r->p.max_qty;
	return 1 + (int64_t)rng_below(s, (uint64_t)(r->p.max_qty < 12 ? r->p.max_qty : 12));
}

static uint64_t gen_owner(struct run *r)
{
	return rng_pct(&r->rng, 35) ? 0 : 1 + rng_below(&r->rng, 3);
}

/* An id to act on: live (from the model), dead, or never seen. */
static int64_t gen_target(struct run *r, unsigned pct_live, unsigned pct_dead)
{
	uint64_t k = rng_below(&r->rng, 100);

	if (k < pct_live && r->m.n + r->m.nheld > 0) {
		uint64_t j = rng_below(&r->rng, r->m.n + r->m.nheld);
		return j < r->m.n ? r->m.ord[j].id : r->m.held[j - r->m.n].id;
	}
	if (k < pct_live + pct_dead && r->ndead > 0) {
		uint32_t n = r->ndead < DEAD_RING ? r->ndead : DEAD_RING;
		return r->dead[rng_below(&r->rng, n)];
	}
	return NEVER_SEEN_BASE + (int64_t)rng_below(&r->rng, 1000);
}

/* Percent of NEWs that are icebergs and stop orders, by profile. */
static const unsigned g_pct_show[PROF_N] = { 3, 45, 5, 20 };
static const unsigned g_pct_stop[PROF_N] = { 2, 4, 40, 20 };

/* Iceberg and stop fields for a NEW: mostly valid, now and then each INVALID rule. */
static void gen_ext(struct run *r, struct me_cmd *c)
{
	uint64_t *s = &r->rng;

	if (r->profile == PROF_ICE && c->qty > 0 && rng_pct(s, 50))
		c->qty = r->p.max_qty - (int64_t)rng_below(s, 4); /* deep icebergs */
	if (rng_pct(s, g_pct_show[r->profile])) {
		if (c->qty > 1 && !rng_pct(s, 8))
			c->show = 1 + (int64_t)rng_below(s, (uint64_t)(c->qty - 1 < 4 ? c->qty - 1
										: 4));
		else /* INVALID: not below qty, or not positive */
			c->show = rng_pct(s, 50) ? c->qty + (int64_t)rng_below(s, 2)
						 : -(int64_t)rng_below(s, 2) - 1;
		if (rng_pct(s, 80) && (c->tif == ME_IOC || c->tif == ME_FOK))
			c->tif = ME_GTC; /* mostly a tif an iceberg may have */
	}
	if (rng_pct(s, g_pct_stop[r->profile])) {
		/* Around the last trade, on the grid or not, so that some are elected at once,
		 * some soon, some never; now and then <= 0. */
		int64_t off = (int64_t)rng_below(s, 7) - 3;
		c->stop = lvl_price(r, r->mid) + off * r->p.tick;
		if (r->m.last_px > 0 && rng_pct(s, r->profile == PROF_STOP ? 80 : 40)) {
			/* Just out of reach of the last trade: held, and elected by a move
			 * of a tick or two (cascades, as each elected stop moves it on). */
			int64_t d = (1 + (int64_t)rng_below(s, 3)) * r->p.tick;
			c->stop = r->m.last_px + ((c->side & 1) == ME_BUY ? d : -d);
		}
		if (rng_pct(s, 10))
			c->stop += 1;
		if (rng_pct(s, 4))
			c->stop = -(int64_t)rng_below(s, 2);
		if (c->stop == 0)
			c->stop = -1;
		if (rng_pct(s, 85) && c->tif == ME_POST)
			c->tif = ME_GTC;
		if (c->show != 0 && rng_pct(s, 80))
			c->show = 0; /* show with stop is INVALID: keep it rare */
		if (r->profile == PROF_STOP && c->qty > 3 && rng_pct(s, 70))
			c->qty = 1 + (int64_t)rng_below(s, 3);
		if (c->stop > 0 && c->price > 0 && rng_pct(s, r->profile == PROF_STOP ? 70 : 30)) {
			/* A marketable limit beyond the trigger: once elected it trades on and
			 * moves the price, which elects the next. */
			int64_t lv = (c->stop - r->p.price_lo) / r->p.tick;
			lv += ((c->side & 1) == ME_BUY ? 1 : -1) * (int64_t)rng_below(s, 3);
			if (lv >= 0 && lv < r->levels)
				c->price = lvl_price(r, lv);
		}
	}
}

static void gen_cmd(struct run *r, struct me_cmd *c)
{
	uint64_t *s = &r->rng;
	uint64_t k = rng_below(s, 100);

	memset(c, 0, sizeof(*c));
	c->user = rng_next(s);
	if (rng_pct(s, 3)) /* random walk of the price cluster */
		r->mid += rng_pct(s, 50) ? 1 : -1;
	if (r->mid < 1)
		r->mid = 1;
	if (r->mid > r->levels - 2)
		r->mid = r->levels - 2;

	if (k < 56) {
		c->type = ME_CMD_NEW;
		c->side = (uint8_t)rng_below(s, 2);
		uint64_t t = rng_below(s, 100);
		c->tif = t < 40 ? ME_GTC : t < 58 ? ME_IOC : t < 74 ? ME_FOK : t < 88 ? ME_POST
										  : ME_DAY;
		if (rng_pct(s, 1))
			c->side = (uint8_t)(2 + rng_below(s, 254));
		if (rng_pct(s, 1))
			c->tif = (uint8_t)(5 + rng_below(s, 251));
		c->price = gen_price(r, c->side & 1);
		c->qty = gen_qty(r);
		c->owner = gen_owner(r);
		gen_ext(r, c);
		uint64_t w = rng_below(s, 100);
		if (w < 6 && r->m.n > 0)
			c->id = r->m.ord[rng_below(s, r->m.n)].id; /* DUP */
		else if (w < 10)
			c->id = gen_target(r, 0, 100); /* reuse a dead id: legal */
		else
			c->id = r->next_id++;
	} else if (k < 80) {
		c->type = ME_CMD_CANCEL;
		c->id = gen_target(r, 70, 15);
		/* CANCEL reads only id: garbage elsewhere must not matter. */
		c->side = (uint8_t)rng_below(s, 2);
		c->price = (int64_t)rng_below(s, 5) - 1;
	} else {
		c->type = ME_CMD_MODIFY;
		c->id = gen_target(r, 85, 8);
		struct me_order_view o;
		int live = mdl_find(&r->m, c->id, &o) == 0;
		c->side = live ? o.side : (uint8_t)rng_below(s, 2);
		c->show = (int64_t)rng_below(s, 3); /* ignored by MODIFY */
		c->tif = (uint8_t)rng_below(s, 4); /* ignored by MODIFY */
		uint64_t w = rng_below(s, 100);
		if (live && w < 45) {
			/* same price; smaller, equal or larger qty */
			c->price = o.price;
			uint64_t q = rng_below(s, 3);
			c->qty = q == 0 && o.qty > 1 ? 1 + (int64_t)rng_below(s, (uint64_t)o.qty - 1)
				 : q == 1 ? o.qty
					  : o.qty + 1 + (int64_t)rng_below(s, 4);
			if (c->qty > r->p.max_qty)
				c->qty = r->p.max_qty;
		} else {
			c->price = gen_price(r, c->side);
			c->qty = gen_qty(r);
		}
	}
}

static void report_mismatch(struct run *r, const struct me_cmd *c, const char *what)
{
	fprintf(stderr, "MISMATCH seed=%u cmd=%u: %s\n", r->seed, r->idx, what);
	fprintf(stderr, "  params lo=%" PRId64 " hi=%" PRId64 " tick=%" PRId64
		" max_qty=%" PRId64 " max_orders=%u sink_cap=%u\n",
		r->p.price_lo, r->p.price_hi, r->p.tick, r->p.max_qty, r->p.max_orders,
		r->col.s.cap);
	if (c)
		print_cmd(c);
}

static int walk_collect(void *arg, const struct me_order_view *o)
{
	struct run *r = arg;
	if (r->wv_n >= r->p.max_orders + 1u)
		return -1;
	r->wv_e[r->wv_n++] = *o;
	return 0;
}

static void print_views(const char *who, const struct me_order_view *v, uint32_t n)
{
	fprintf(stderr, "  %s book: %u orders\n", who, n);
	for (uint32_t i = 0; i < n; i++)
		fprintf(stderr, "    side=%u px=%" PRId64 " id=%" PRId64 " qty=%" PRId64
			" owner=%" PRIu64 " tif=%u user=%" PRIx64 " show=%" PRId64 " vis=%" PRId64
			" stop=%" PRId64 "\n",
			v[i].side, v[i].price, v[i].id, v[i].qty, v[i].owner, v[i].tif, v[i].user,
			v[i].show, v[i].visible, v[i].stop);
}

/* Whole-book comparison plus both invariant checkers. */
static void compare_books(struct run *r)
{
	const char *what = NULL;

	if (me_book_check(r->book, &what) != 0) {
		report_mismatch(r, NULL, "me_book_check failed");
		fail_msg("me_book_check: %s", what ? what : "(no reason)");
	}
	if (mdl_check(&r->m, &what) != 0)
		fail_msg("model invariant broken (bug in the oracle): %s", what);

	/* Resting orders, then held stop orders: every field of the view, pad included. */
	for (int held = 0; held < 2; held++) {
		uint32_t nm = held ? mdl_walk_held(&r->m, r->wv_m) : mdl_walk(&r->m, r->wv_m);
		r->wv_n = 0;
		int rc = held ? me_book_walk_held(r->book, walk_collect, r)
			      : me_book_walk(r->book, walk_collect, r);
		int same = rc == 0 && r->wv_n == nm;
		for (uint32_t i = 0; same && i < nm; i++)
			same = memcmp(&r->wv_m[i], &r->wv_e[i], sizeof(r->wv_m[i])) == 0;
		if (!same) {
			report_mismatch(r, NULL, held ? "held stops differ (me_book_walk_held)"
						      : "books differ (me_book_walk)");
			print_views("model", r->wv_m, nm);
			print_views("engine", r->wv_e, r->wv_n);
			fail_msg("book mismatch at seed %u cmd %u", r->seed, r->idx);
		}
	}
	if (me_book_count(r->book) != mdl_count(&r->m) || me_book_held(r->book) != r->m.nheld ||
	    me_book_last_price(r->book) != r->m.last_px) {
		report_mismatch(r, NULL, "count, held count or last price differs");
		fail_msg("count %u/%u held %u/%u last %" PRId64 "/%" PRId64, me_book_count(r->book),
			 mdl_count(&r->m), me_book_held(r->book), r->m.nheld,
			 me_book_last_price(r->book), r->m.last_px);
	}

	/* The read-only queries must agree with the model too. */
	for (int side = 0; side < 2; side++) {
		int64_t pm = 0, qm = 0, pe = 0, qe = 0;
		int rm = mdl_best(&r->m, side, &pm, &qm);
		int re = me_book_best(r->book, side, &pe, &qe);
		if (rm != re || (rm == 0 && (pm != pe || qm != qe))) {
			report_mismatch(r, NULL, "me_book_best differs");
			fail_msg("best side %d: model rc=%d %" PRId64 "x%" PRId64
				 ", engine rc=%d %" PRId64 "x%" PRId64,
				 side, rm, pm, qm, re, pe, qe);
		}
		int64_t dpm[8], dqm[8], dpe[8], dqe[8];
		uint32_t want = 1 + (uint32_t)rng_below(&r->rng, 8);
		uint32_t nm2 = mdl_depth(&r->m, side, dpm, dqm, want);
		uint32_t ne2 = me_book_depth(r->book, side, dpe, dqe, want);
		int ok = nm2 == ne2;
		for (uint32_t i = 0; ok && i < nm2; i++)
			ok = dpm[i] == dpe[i] && dqm[i] == dqe[i];
		if (!ok) {
			report_mismatch(r, NULL, "me_book_depth differs");
			fail_msg("depth side %d n=%u: model %u levels, engine %u", side, want, nm2,
				 ne2);
		}
	}
	for (int i = 0; i < 4; i++) {
		int64_t id = gen_target(r, 60, 20);
		struct me_order_view a, b;
		int ra = mdl_find(&r->m, id, &a), rb = me_book_find(r->book, id, &b);
		if (ra != rb || (ra == 0 && memcmp(&a, &b, sizeof(a)) != 0)) {
			report_mismatch(r, NULL, "me_book_find differs");
			fail_msg("find id %" PRId64 ": model rc=%d engine rc=%d", id, ra, rb);
		}
	}
}

static void compare_events(struct run *r, const struct me_cmd *c, uint32_t nm,
			   uint32_t ne_ret)
{
	struct me_event *e = r->col.all;
	const struct me_event *mev = r->m.ev;
	uint32_t ne = r->col.n;

	if (r->col.overflow) {
		report_mismatch(r, c, "engine wrote more events than the model bound");
		fail();
	}
	if (ne_ret != ne || !evs_equal(mev, nm, e, ne)) {
		report_mismatch(r, c, ne_ret != ne ? "return value != events written"
						   : "event lists differ");
		print_events("model", mev, nm);
		print_events("engine", e, ne);
		fail_msg("mismatch at seed %u cmd %u", r->seed, r->idx);
	}
	cover(e, ne);
}

static void run_setup(struct run *r, unsigned seed)
{
	static const uint32_t pools[] = { 3, 8, 24, 100, 400 };
	static const uint32_t caps[] = { 1, 2, 3, 7, 4096 };
	static const int64_t ticks[] = { 1, 2, 5, 100 };
	uint64_t *s = &r->rng;

	memset(r, 0, sizeof(*r));
	r->seed = seed;
	r->rng = 0x70ce7ULL * seed + 12345;
	r->p.tick = ticks[rng_below(s, 4)];
	r->levels = 6 + (int64_t)rng_below(s, 14);
	/* price_lo need not be a multiple of tick: the grid is anchored at price_lo. */
	r->p.price_lo = r->p.tick * (5 + (int64_t)rng_below(s, 50)) + (int64_t)rng_below(s, 3);
	r->p.price_hi = lvl_price(r, r->levels - 1) +
			(rng_pct(s, 50) ? 0 : (int64_t)rng_below(s, (uint64_t)r->p.tick));
	r->p.max_qty = 5 + (int64_t)rng_below(s, 40);
	r->p.max_orders = pools[rng_below(s, 5)];
	r->mid = r->levels / 2;
	r->profile = seed % PROF_N;
	r->next_id = 1;

	size_t sz = me_book_memsize(&r->p);
	assert_true(sz > 0);
	sz = (sz + 63) & ~(size_t)63;
	r->memsz = sz;
	r->snapcap = me_snap_bound(&r->p);
	r->snapbuf = malloc(r->snapcap);
	assert_non_null(r->snapbuf);
	r->mem = aligned_alloc(64, sz);
	assert_non_null(r->mem);
	memset(r->mem, 0xa5, sz); /* the engine must not rely on zeroed memory */
	r->book = me_book_init(r->mem, sz, &r->p);
	assert_non_null(r->book);
	assert_int_equal(mdl_init(&r->m, &r->p), 0);

	r->col.cap = 0;
	r->col.all = NULL;
	uint32_t cap = caps[rng_below(s, 5)];
	r->sinkbuf = calloc(cap, sizeof(*r->sinkbuf));
	r->col.s.ev = r->sinkbuf;
	r->col.s.cap = cap;
	r->col.s.flush = collect_flush;
	r->col.s.arg = &r->col;
	r->wv_m = calloc(r->p.max_orders + 1u, sizeof(*r->wv_m));
	r->wv_e = calloc(r->p.max_orders + 1u, sizeof(*r->wv_e));
	r->dead = calloc(DEAD_RING, sizeof(*r->dead));
	assert_true(r->sinkbuf && r->wv_m && r->wv_e && r->dead);
}

static void run_teardown(struct run *r)
{
	paths_add(&g_cov.paths, &r->m.paths);
	mdl_fini(&r->m);
	free(r->mem);
	free(r->col.all);
	free(r->snapbuf);
	free(r->sinkbuf);
	free(r->wv_m);
	free(r->wv_e);
	free(r->dead);
}

/* Seeds and mass cancels: the two entry points that are not commands. */
/* Restart: the engine's book through a snapshot section into fresh memory (filled with
 * garbage first), the model untouched: the loaded book must go on exactly as the model. */
static void restart(struct run *r)
{
	struct dp_snap_w w;
	char err[256];

	dp_snap_w_init(&w, r->snapbuf, r->snapcap);
	int64_t len = me_snap_save(r->book, &w);
	if (len < 0 || (size_t)len > r->snapcap)
		fail_msg("seed %u cmd %u: me_snap_save: %lld (bound %zu)", r->seed, r->idx,
			 (long long)len, r->snapcap);
	void *mem = aligned_alloc(64, r->memsz);
	assert_non_null(mem);
	memset(mem, 0x5a, r->memsz);
	struct me_book *b = me_book_init(mem, r->memsz, &r->p);
	assert_non_null(b);
	int rc = me_snap_load(b, r->snapbuf, (size_t)len, err, sizeof(err));
	if (rc != 0)
		fail_msg("seed %u cmd %u: me_snap_load: %d %s", r->seed, r->idx, rc, err);
	free(r->mem);
	r->mem = mem;
	r->book = b;
	g_cov.restarts++;
	compare_books(r);
}

static void end_of_day(struct run *r)
{
	struct me_cmd none;
	memset(&none, 0, sizeof(none));
	uint32_t nm = mdl_end_of_day(&r->m);
	r->col.n = 0;
	r->col.overflow = 0;
	uint32_t ne = me_book_end_of_day(r->book, &r->col.s);
	collect_drain(&r->col);
	for (uint32_t i = 0; i < nm; i++)
		remember_dead(r, r->m.ev[i].id);
	compare_events(r, &none, nm, ne);
}

static void side_op(struct run *r)
{
	uint64_t *s = &r->rng;
	const unsigned pct_eod = r->profile == PROF_MIXED ? 20 : 6;
	const unsigned pct_restart = r->profile == PROF_MIXED ? 25 : 8;

	uint64_t k = rng_below(s, 100);
	if (k < pct_eod) {
		end_of_day(r);
		return;
	}
	if (k < pct_eod + pct_restart) {
		restart(r);
		return;
	}

	if (rng_pct(s, 40)) {
		uint64_t owner = rng_pct(s, 30) ? 0 : 1 + rng_below(s, 3);
		int side = (int)rng_below(s, 3) - 1;
		struct me_cmd none;
		memset(&none, 0, sizeof(none));
		uint32_t nm = mdl_mass_cancel(&r->m, owner, side);
		r->col.n = 0;
		r->col.overflow = 0;
		uint32_t ne = me_book_mass_cancel(r->book, owner, side, &r->col.s);
		collect_drain(&r->col);
		for (uint32_t i = 0; i < nm; i++)
			remember_dead(r, r->m.ev[i].id);
		if (ne != nm)
			fprintf(stderr, "mass cancel owner=%" PRIu64 " side=%d: model %u, engine %u\n",
				owner, side, nm, ne);
		compare_events(r, &none, nm, ne); /* walk order, as me_book.h says */
		return;
	}
	/* seed: mostly valid, sometimes a live id, a crossing price or a bad field */
	int side = (int)rng_below(s, 2);
	int64_t id = rng_pct(s, 10) ? gen_target(r, 100, 0) : r->next_id++;
	int64_t price = gen_price(r, side);
	if (rng_pct(s, 20)) { /* at or through the opposite best: -EDOM */
		int64_t bp, bq;
		if (mdl_best(&r->m, !side, &bp, &bq) == 0)
			price = bp;
	}
	int64_t qty = 1 + (int64_t)rng_below(s, (uint64_t)r->p.max_qty);
	if (rng_pct(s, 3))
		qty = 0;
	if (rng_pct(s, 2))
		side = 2;
	uint64_t owner = gen_owner(r), user = rng_next(s);
	int head = (int)rng_below(s, 2);
	int rm = mdl_seed(&r->m, id, side, price, qty, owner, user, head);
	int re = me_book_seed(r->book, id, side, price, qty, owner, user, head);
	if (rm != re) {
		report_mismatch(r, NULL, "me_book_seed return differs");
		fail_msg("seed id=%" PRId64 " side=%d px=%" PRId64 " qty=%" PRId64
			 " head=%d: model %d engine %d",
			 id, side, price, qty, head, rm, re);
	}
}

static void run_one(unsigned seed, unsigned ncmds)
{
	struct run r;
	struct me_cmd c;

	run_setup(&r, seed);
	for (r.idx = 0; r.idx < ncmds; r.idx++) {
		if (rng_pct(&r.rng, 3)) {
			side_op(&r);
		} else {
			gen_cmd(&r, &c);
			uint32_t nm = mdl_apply(&r.m, &c);
			r.col.n = 0;
			r.col.overflow = 0;
			uint32_t ne = me_book_apply(r.book, &c, &r.col.s);
			collect_drain(&r.col);
			compare_events(&r, &c, nm, ne);
			g_cov.cmds++;
			/* ids that just stopped being live become "dead" candidates */
			for (uint32_t i = 0; i < nm; i++) {
				const struct me_event *e = &r.m.ev[i];
				if (e->type == ME_EV_OUT)
					remember_dead(&r, e->id);
				if (e->type == ME_EV_TRADE && e->rleaves == 0)
					remember_dead(&r, e->rid);
			}
		}
		if (r.idx % CHECK_EVERY == CHECK_EVERY - 1)
			compare_books(&r);
	}
	compare_books(&r);
	run_teardown(&r);
}

/* ---- directed checks of the model itself ---------------------------------------- */
/* The oracle is only worth something if it is right: a few hand-worked cases, each
 * run through the model (expected events spelled out) and the engine (must agree). */

struct want {
	uint8_t type, reason;
	int64_t id, qty, rid;
};

static void directed(struct run *r, const struct me_cmd *c, const struct want *w,
		     uint32_t nw)
{
	uint32_t nm = mdl_apply(&r->m, c);
	const struct me_event *mev = r->m.ev;
	int ok = nm == nw;
	for (uint32_t i = 0; ok && i < nw; i++)
		ok = mev[i].type == w[i].type && mev[i].reason == w[i].reason &&
		     mev[i].id == w[i].id && mev[i].qty == w[i].qty && mev[i].rid == w[i].rid;
	if (!ok) {
		print_cmd(c);
		print_events("model", mev, nm);
		fail_msg("the model got a hand-worked case wrong (step %u)", r->idx);
	}
	r->col.n = 0;
	r->col.overflow = 0;
	uint32_t ne = me_book_apply(r->book, c, &r->col.s);
	collect_drain(&r->col);
	compare_events(r, c, nm, ne);
	r->idx++;
}

static struct me_cmd mk(uint8_t type, int side, int tif, int64_t id, int64_t px,
			int64_t qty, uint64_t owner)
{
	struct me_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = type;
	c.side = (uint8_t)side;
	c.tif = (uint8_t)tif;
	c.id = id;
	c.price = px;
	c.qty = qty;
	c.owner = owner;
	c.user = (uint64_t)id * 1000 + 7;
	return c;
}

static void test_model_hand_cases(void **state)
{
	(void)state;
	struct run r;
	struct me_cmd c;

	memset(&r, 0, sizeof(r));
	r.p = (struct me_params){ .price_lo = 90, .price_hi = 110, .tick = 1, .max_qty = 100,
				  .max_orders = 16 };
	size_t sz = (me_book_memsize(&r.p) + 63) & ~(size_t)63;
	assert_true(sz > 0);
	r.mem = aligned_alloc(64, sz);
	assert_non_null(r.mem);
	r.book = me_book_init(r.mem, sz, &r.p);
	assert_non_null(r.book);
	assert_int_equal(mdl_init(&r.m, &r.p), 0);
	r.snapcap = 1;
	r.snapbuf = malloc(1);
	r.sinkbuf = calloc(2, sizeof(*r.sinkbuf));
	r.col.s = (struct me_sink){ .ev = r.sinkbuf, .cap = 2, .flush = collect_flush,
				    .arg = &r.col };
	r.wv_m = calloc(17, sizeof(*r.wv_m));
	r.wv_e = calloc(17, sizeof(*r.wv_e));
	r.dead = calloc(DEAD_RING, sizeof(*r.dead));

	/* Asks: 1 (owner 7) 5@100, 2 (owner 8) 5@100, 3 (owner 9) 4@99. */
	c = mk(ME_CMD_NEW, ME_SELL, ME_GTC, 1, 100, 5, 7);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 1, 5, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_GTC, 2, 100, 5, 8);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 2, 5, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_POST, 3, 99, 4, 9);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 3, 4, 0 } }, 1);
	/* FOK owner 7 for 6@100: 4 from id 3, then id 1 is its own: refused whole. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_FOK, 10, 100, 6, 7);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_ACCEPT, 0, 10, 6, 0 }, { ME_EV_OUT, ME_OUT_FOK, 10, 6, 0 } },
		 2);
	/* FOK owner 7 for exactly 4@100 fills before reaching id 1. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_FOK, 11, 100, 4, 7);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_ACCEPT, 0, 11, 4, 0 }, { ME_EV_TRADE, 0, 11, 4, 3 } }, 2);
	/* GTC owner 8 for 7@100: 5 from id 1, then id 2 is its own: STP, nothing rests. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_GTC, 12, 100, 7, 8);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_ACCEPT, 0, 12, 7, 0 },
				  { ME_EV_TRADE, 0, 12, 5, 1 },
				  { ME_EV_OUT, ME_OUT_STP, 12, 2, 0 } },
		 3);
	/* Bids 20 then 21 at 95; shrinking 20 in place keeps it first. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_GTC, 20, 95, 5, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 20, 5, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_BUY, ME_GTC, 21, 95, 5, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 21, 5, 0 } }, 1);
	c = mk(ME_CMD_MODIFY, ME_BUY, 0, 20, 95, 3, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_MODIFY, 0, 20, 3, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_IOC, 30, 95, 4, 0);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_ACCEPT, 0, 30, 4, 0 },
				  { ME_EV_TRADE, 0, 30, 3, 20 },
				  { ME_EV_TRADE, 0, 30, 1, 21 } },
		 3);
	/* Growing 21 sends it to the back, behind 22. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_GTC, 22, 95, 2, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 22, 2, 0 } }, 1);
	c = mk(ME_CMD_MODIFY, ME_BUY, 0, 21, 95, 6, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_MODIFY, 0, 21, 6, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_IOC, 31, 95, 9, 0);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_ACCEPT, 0, 31, 9, 0 },
				  { ME_EV_TRADE, 0, 31, 2, 22 },
				  { ME_EV_TRADE, 0, 31, 6, 21 },
				  { ME_EV_OUT, ME_OUT_IOC, 31, 1, 0 } },
		 4);
	/* A POST bid modified through the ask is refused and stays put. */
	c = mk(ME_CMD_NEW, ME_BUY, ME_POST, 40, 94, 2, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 40, 2, 0 } }, 1);
	c = mk(ME_CMD_MODIFY, ME_BUY, 0, 40, 100, 2, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_REJECT, ME_REJ_POST_CROSS, 40, 0, 0 } }, 1);
	/* A GTC bid modified through the ask trades at the ask (id 2, 5@100). */
	c = mk(ME_CMD_NEW, ME_BUY, ME_GTC, 41, 93, 2, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_ACCEPT, 0, 41, 2, 0 } }, 1);
	c = mk(ME_CMD_MODIFY, ME_BUY, 0, 41, 101, 7, 0);
	directed(&r, &c,
		 (struct want[]){ { ME_EV_MODIFY, 0, 41, 7, 0 }, { ME_EV_TRADE, 0, 41, 5, 2 } }, 2);
	/* Check order: off tick beats out of band beats max qty beats dup. */
	c = mk(ME_CMD_NEW, ME_SELL, ME_GTC, 41, 200, 1000, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_REJECT, ME_REJ_BAND, 41, 0, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_GTC, 41, 105, 1000, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_REJECT, ME_REJ_MAX_QTY, 41, 0, 0 } }, 1);
	c = mk(ME_CMD_NEW, ME_SELL, ME_GTC, 41, 105, 1, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_REJECT, ME_REJ_DUP, 41, 0, 0 } }, 1);
	c = mk(ME_CMD_CANCEL, 0, 0, 41, 0, 0, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_OUT, ME_OUT_CANCEL, 41, 2, 0 } }, 1);
	c = mk(ME_CMD_CANCEL, 0, 0, 41, 0, 0, 0);
	directed(&r, &c, (struct want[]){ { ME_EV_REJECT, ME_REJ_UNKNOWN, 41, 0, 0 } }, 1);
	compare_books(&r);
	run_teardown(&r);
	memset(&g_cov.paths, 0, sizeof(g_cov.paths)); /* count only the random runs */
}

static void test_diff_random(void **state)
{
	(void)state;
	memset(&g_cov, 0, sizeof(g_cov));
	for (unsigned i = 0; i < g_seeds; i++)
		run_one(g_first + i, g_cmds);

	const struct mdl_paths *p = &g_cov.paths;
	struct {
		const char *name;
		uint64_t n;
	} rows[] = {
		{ "ACCEPT", g_cov.accept },
		{ "TRADE", g_cov.trade },
		{ "MODIFY", g_cov.modify },
		{ "OUT CANCEL", g_cov.out[ME_OUT_CANCEL] },
		{ "OUT IOC", g_cov.out[ME_OUT_IOC] },
		{ "OUT FOK", g_cov.out[ME_OUT_FOK] },
		{ "OUT STP", g_cov.out[ME_OUT_STP] },
		{ "OUT MASS", g_cov.out[ME_OUT_MASS] },
		{ "OUT EXPIRE", g_cov.out[ME_OUT_EXPIRE] },
		{ "ELECT", g_cov.elect },
		{ "restarts", g_cov.restarts },
		{ "REJECT INVALID", g_cov.rej[ME_REJ_INVALID] },
		{ "REJECT DUP", g_cov.rej[ME_REJ_DUP] },
		{ "REJECT UNKNOWN", g_cov.rej[ME_REJ_UNKNOWN] },
		{ "REJECT POST_CROSS", g_cov.rej[ME_REJ_POST_CROSS] },
		{ "REJECT TICK", g_cov.rej[ME_REJ_TICK] },
		{ "REJECT BAND", g_cov.rej[ME_REJ_BAND] },
		{ "REJECT MAX_QTY", g_cov.rej[ME_REJ_MAX_QTY] },
		{ "REJECT FULL", g_cov.rej[ME_REJ_FULL] },
		{ "path fok_filled", p->fok_filled },
		{ "path fok_stp_blocked", p->fok_stp_blocked },
		{ "path stp_after_trade", p->stp_after_trade },
		{ "path gtc_partial_rest", p->gtc_partial_rest },
		{ "path multi_level", p->multi_level },
		{ "path mod_in_place", p->mod_in_place },
		{ "path mod_reenter", p->mod_reenter },
		{ "path mod_cross", p->mod_cross },
		{ "path mod_stp", p->mod_stp },
		{ "path seed_ok", p->seed_ok },
		{ "path seed_head", p->seed_head },
		{ "path seed_einval", p->seed_einval },
		{ "path seed_eexist", p->seed_eexist },
		{ "path seed_enospc", p->seed_enospc },
		{ "path seed_edom", p->seed_edom },
		{ "path ice_refill", p->ice_refill },
		{ "path ice_refill_mid", p->ice_refill_mid },
		{ "path ice_rested", p->ice_rested },
		{ "path fok_ice_filled", p->fok_ice_filled },
		{ "path stop_held", p->stop_held },
		{ "path stop_now", p->stop_now },
		{ "path stop_elected", p->stop_elected },
		{ "path stop_cascade", p->stop_cascade },
		{ "path stop_modified", p->stop_modified },
		{ "path day_expired", p->day_expired },
		{ "sink flushes", g_cov.flushes },
	};
	printf("test_diff: %u seeds x %u commands from seed %u: %" PRIu64 " commands, %" PRIu64
	       " events, all equal\n",
	       g_seeds, g_cmds, g_first, g_cov.cmds, g_cov.events);
	int missing = 0;
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		printf("  %-22s %10" PRIu64 "%s\n", rows[i].name, rows[i].n,
		       rows[i].n ? "" : "   <-- never exercised");
		missing += rows[i].n == 0;
	}
	fflush(stdout);
	if (g_seeds * g_cmds >= 100000)
		assert_int_equal(missing, 0);
}

static unsigned parse_arg(const char *s, const char *what)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || end == s || v == 0 || v > 100000000UL) {
		fprintf(stderr, "test_diff: bad %s '%s'\n", what, s);
		exit(2);
	}
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		g_seeds = parse_arg(argv[1], "SEEDS");
	if (argc > 2)
		g_cmds = parse_arg(argv[2], "COMMANDS");
	if (argc > 3)
		g_first = parse_arg(argv[3], "FIRST_SEED");
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model_hand_cases),
		cmocka_unit_test(test_diff_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
