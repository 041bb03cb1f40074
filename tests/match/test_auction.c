/*
 * test_auction.c - the engine's call auction, uncross, price guard, band and owner-mask
 * cancel (me_book.h, "Call auction and price guard"). Every uncross case is a worked
 * example whose expected price, volume and trades are computed by hand in its comment;
 * each tie-break rule (volume, imbalance, distance to the reference, the lower of two
 * equally close) has its own case. A randomised case checks the uncross price against a
 * brute force over every grid price. me_book_check() runs after every step.
 *
 * Events as compact text, one token per event:
 *   A,id,price,qty   ACCEPT        M,id,price,qty   MODIFY       R,id,REASON   REJECT
 *   T,id,rid,price,qty,leaves,rleaves   TRADE     X,id,qty,REASON   OUT
 *   G,id,price,qty   GUARD (price = the trade it stopped before, qty = remaining)
 * and the book (me_book_walk order) as B|S,price,id,qty tokens.
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

#define REC_MAX 4096

struct fx {
	void *mem;
	struct me_book *b;
	struct me_event buf[3]; /* small: flushes in the middle of an uncross */
	struct me_sink s;
	struct me_event rec[REC_MAX];
	uint32_t nrec;
	char text[16384];
};

static void rec_flush(struct me_sink *s)
{
	struct fx *f = s->arg;
	for (uint32_t i = 0; i < s->n; i++) {
		assert_true(f->nrec < REC_MAX);
		f->rec[f->nrec++] = s->ev[i];
	}
	s->n = 0;
}

static void check_book(const struct fx *f)
{
	const char *what = NULL;
	if (me_book_check(f->b, &what) != 0)
		fail_msg("me_book_check: %s", what ? what : "?");
}

static struct fx *fx_new(int64_t lo, int64_t hi, int64_t tick, uint32_t max_orders)
{
	struct me_params p = { .price_lo = lo, .price_hi = hi, .tick = tick, .max_qty = 1000000,
			       .max_orders = max_orders };
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	size_t n = me_book_memsize(&p);
	assert_true(n > 0);
	f->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	f->b = me_book_init(f->mem, n, &p);
	assert_non_null(f->b);
	f->s = (struct me_sink){ .ev = f->buf, .cap = 3, .flush = rec_flush, .arg = f };
	check_book(f);
	return f;
}

static void fx_free(struct fx *f)
{
	free(f->mem);
	free(f);
}

static const char *out_name(unsigned r)
{
	static const char *const n[] = { "?", "CANCEL", "IOC", "FOK", "STP", "MASS" };
	return r < 6 ? n[r] : "?";
}

static const char *rej_name(unsigned r)
{
	static const char *const n[] = { "?", "INVALID", "DUP", "UNKNOWN", "POST_CROSS",
					 "TICK", "BAND", "MAX_QTY", "FULL", "PHASE" };
	return r < 10 ? n[r] : "?";
}

/* Flushes the sink, formats what was recorded since the last call, resets. */
static const char *ev_text(struct fx *f)
{
	size_t o = 0;
	rec_flush(&f->s);
	f->text[0] = 0;
	for (uint32_t i = 0; i < f->nrec; i++) {
		const struct me_event *e = &f->rec[i];
		size_t room = sizeof(f->text) - o;
		int w = 0;
		const char *sp = i ? " " : "";
		switch (e->type) {
		case ME_EV_ACCEPT:
			w = snprintf(f->text + o, room, "%sA,%lld,%lld,%lld", sp, (long long)e->id,
				     (long long)e->price, (long long)e->qty);
			break;
		case ME_EV_MODIFY:
			w = snprintf(f->text + o, room, "%sM,%lld,%lld,%lld", sp, (long long)e->id,
				     (long long)e->price, (long long)e->qty);
			break;
		case ME_EV_TRADE:
			w = snprintf(f->text + o, room, "%sT,%lld,%lld,%lld,%lld,%lld,%lld", sp,
				     (long long)e->id, (long long)e->rid, (long long)e->price,
				     (long long)e->qty, (long long)e->leaves, (long long)e->rleaves);
			break;
		case ME_EV_OUT:
			w = snprintf(f->text + o, room, "%sX,%lld,%lld,%s", sp, (long long)e->id,
				     (long long)e->qty, out_name(e->reason));
			break;
		case ME_EV_REJECT:
			w = snprintf(f->text + o, room, "%sR,%lld,%s", sp, (long long)e->id,
				     rej_name(e->reason));
			break;
		case ME_EV_GUARD:
			w = snprintf(f->text + o, room, "%sG,%lld,%lld,%lld", sp, (long long)e->id,
				     (long long)e->price, (long long)e->qty);
			break;
		default:
			w = snprintf(f->text + o, room, "%s?%u", sp, e->type);
		}
		assert_true(w > 0 && (size_t)w < room);
		o += (size_t)w;
	}
	f->nrec = 0;
	check_book(f);
	return f->text;
}

static int walk_cb(void *arg, const struct me_order_view *o)
{
	char *t = arg;
	size_t n = strlen(t);
	snprintf(t + n, 4096 - n, "%s%c,%lld,%lld,%lld", n ? " " : "", o->side == ME_BUY ? 'B' : 'S',
		 (long long)o->price, (long long)o->id, (long long)o->qty);
	return 0;
}

static const char *book_text(struct fx *f)
{
	static char t[4096];
	t[0] = 0;
	me_book_walk(f->b, walk_cb, t);
	return t;
}

static const char *cmd(struct fx *f, int type, int64_t id, int side, int64_t price, int64_t qty,
		       int tif, uint64_t owner)
{
	struct me_cmd c = { .type = (uint8_t)type, .side = (uint8_t)side, .tif = (uint8_t)tif,
			    .id = id, .price = price, .qty = qty, .owner = owner,
			    .user = (uint64_t)id * 10 };
	me_book_apply(f->b, &c, &f->s);
	return ev_text(f);
}

static const char *nw(struct fx *f, int64_t id, int side, int64_t price, int64_t qty, int tif)
{
	return cmd(f, ME_CMD_NEW, id, side, price, qty, tif, 0);
}

static const char *uncross(struct fx *f, int64_t ref, struct me_uncross *u)
{
	assert_int_equal(me_book_uncross(f->b, ref, &f->s, u), 0);
	const char *t = ev_text(f);
	assert_int_equal(me_book_auction(f->b), 0);
	return t;
}

/* ---- auction mode -------------------------------------------------------------------- */

static void test_auction_mode(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);

	assert_int_equal(me_book_set_auction(f->b, 1), 0);
	assert_int_equal(me_book_auction(f->b), 1);
	/* Crossing GTC orders rest without trading, both sides at one price included. */
	assert_string_equal(nw(f, 1, ME_BUY, 105, 10, ME_GTC), "A,1,105,10");
	assert_string_equal(nw(f, 2, ME_SELL, 100, 5, ME_GTC), "A,2,100,5");
	assert_string_equal(nw(f, 3, ME_SELL, 105, 5, ME_GTC), "A,3,105,5");
	/* POST is not refused for crossing in an auction. */
	assert_string_equal(nw(f, 4, ME_BUY, 101, 1, ME_POST), "A,4,101,1");
	/* IOC and FOK: PHASE (after the other checks: a bad price is still TICK/BAND). */
	assert_string_equal(nw(f, 5, ME_BUY, 200, 1, ME_IOC), "R,5,PHASE");
	assert_string_equal(nw(f, 6, ME_SELL, 90, 1, ME_FOK), "R,6,PHASE");
	assert_string_equal(nw(f, 7, ME_SELL, 2000, 1, ME_FOK), "R,7,BAND");
	assert_string_equal(nw(f, 1, ME_SELL, 90, 1, ME_IOC), "R,1,DUP");
	/* MODIFY never matches: id 2 moves to 99 and rests, crossing. */
	assert_string_equal(cmd(f, ME_CMD_MODIFY, 2, 0, 99, 6, 0, 0), "M,2,99,6");
	assert_string_equal(cmd(f, ME_CMD_CANCEL, 4, 0, 0, 0, 0, 0), "X,4,1,CANCEL");
	assert_string_equal(book_text(f), "B,105,1,10 S,99,2,6 S,105,3,5");
	/* Leaving the auction while crossed is refused. */
	assert_int_equal(me_book_set_auction(f->b, 0), -EBUSY);
	assert_int_equal(me_book_auction(f->b), 1);
	int64_t p, q;
	assert_int_equal(me_book_best(f->b, ME_BUY, &p, &q), 0);
	assert_int_equal(p, 105);
	assert_int_equal(me_book_best(f->b, ME_SELL, &p, &q), 0);
	assert_int_equal(p, 99);
	fx_free(f);
}

static void test_auction_full(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 2);
	me_book_set_auction(f->b, 1);
	assert_string_equal(nw(f, 1, ME_BUY, 100, 1, ME_GTC), "A,1,100,1");
	assert_string_equal(nw(f, 2, ME_SELL, 90, 1, ME_GTC), "A,2,90,1");
	assert_string_equal(nw(f, 3, ME_SELL, 90, 1, ME_GTC), "R,3,FULL");
	assert_string_equal(nw(f, 4, ME_SELL, 90, 1, ME_IOC), "R,4,PHASE"); /* PHASE before FULL */
	fx_free(f);
}

/* ---- uncross: worked examples ------------------------------------------------------------ */

/*
 * Rule 1, volume. Bids 102x10 (1), 101x10 (2), 100x10 (3); asks 99x15 (4), 101x10 (5),
 * 103x5 (6). Candidates [99, 102]:
 *   p     D(p)  S(p)  volume  imbalance
 *   99    30    15    15      15
 *   100   30    15    15      15
 *   101   20    25    20      -5
 *   102   10    25    10      -15
 * 101 has the most volume, although the reference (99) is elsewhere. Fills: bids from 102
 * down, asks from 99 up: 1x4 10 (1 done, 4 has 5), 2x4 5 (4 done, 2 has 5), 2x5 5 (2
 * done, 5 has 5). Left: bid 100x10, asks 101x5, 103x5.
 */
static void test_uncross_volume(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);
	struct me_uncross u;

	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 102, 10, ME_GTC);
	nw(f, 2, ME_BUY, 101, 10, ME_GTC);
	nw(f, 3, ME_BUY, 100, 10, ME_GTC);
	nw(f, 4, ME_SELL, 99, 15, ME_GTC);
	nw(f, 5, ME_SELL, 101, 10, ME_GTC);
	nw(f, 6, ME_SELL, 103, 5, ME_GTC);
	assert_int_equal(me_book_uncross_price(f->b, 99, &u), 0);
	assert_int_equal(u.price, 101);
	assert_int_equal(u.volume, 20);
	assert_string_equal(uncross(f, 99, &u),
			    "T,1,4,101,10,0,5 T,2,4,101,5,5,0 T,2,5,101,5,0,5");
	assert_int_equal(u.price, 101);
	assert_int_equal(u.volume, 20);
	assert_int_equal(u.imbalance, -5);
	assert_int_equal(u.trades, 3);
	assert_string_equal(book_text(f), "B,100,3,10 S,101,5,5 S,103,6,5");
	fx_free(f);
}

/*
 * Rule 2, imbalance. Bids 101x10 (1), 100x2 (2); asks 100x10 (3), 101x4 (4).
 *   p     D   S   volume  |imbalance|
 *   100   12  10  10      2
 *   101   10  14  10      4
 * Equal volume; 100 has the smaller imbalance and wins although the reference is 101.
 * Fill: 1x3 10 (both done). Left: bid 100x2, ask 101x4; imbalance +2 (buy surplus).
 */
static void test_uncross_imbalance(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);
	struct me_uncross u;

	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 101, 10, ME_GTC);
	nw(f, 2, ME_BUY, 100, 2, ME_GTC);
	nw(f, 3, ME_SELL, 100, 10, ME_GTC);
	nw(f, 4, ME_SELL, 101, 4, ME_GTC);
	assert_string_equal(uncross(f, 101, &u), "T,1,3,100,10,0,0");
	assert_int_equal(u.price, 100);
	assert_int_equal(u.volume, 10);
	assert_int_equal(u.imbalance, 2);
	assert_string_equal(book_text(f), "B,100,2,2 S,101,4,4");
	fx_free(f);
}

/*
 * Rule 3, distance to the reference. Bid 104x10 (1), ask 100x10 (2): every price in
 * [100, 104] trades 10 with imbalance 0, the empty levels 101-103 included. The price is
 * the reference when it is inside, else the nearer end: ref 102 -> 102, 103 -> 103,
 * 250 -> 104, 50 -> 100, 0 (none) -> 100.
 */
static void test_uncross_reference(void **state)
{
	(void)state;
	static const int64_t ref[] = { 102, 103, 250, 50, 0 };
	static const int64_t want[] = { 102, 103, 104, 100, 100 };

	for (unsigned i = 0; i < sizeof(ref) / sizeof(ref[0]); i++) {
		struct fx *f = fx_new(1, 1000, 1, 16);
		struct me_uncross u;
		char exp[64];
		me_book_set_auction(f->b, 1);
		nw(f, 1, ME_BUY, 104, 10, ME_GTC);
		nw(f, 2, ME_SELL, 100, 10, ME_GTC);
		snprintf(exp, sizeof(exp), "T,1,2,%lld,10,0,0", (long long)want[i]);
		assert_string_equal(uncross(f, ref[i], &u), exp);
		assert_int_equal(u.price, want[i]);
		assert_int_equal(u.volume, 10);
		assert_int_equal(u.imbalance, 0);
		assert_string_equal(book_text(f), "");
		fx_free(f);
	}
}

/*
 * Rule 3 with a tick of 5 (grid 100, 105, ..., 120), bid 120x10, ask 100x10: the grid
 * price nearest an off-grid reference. ref 112: 110 (2 away) beats 115 (3 away);
 * ref 108: 110 (2) beats 105 (3).
 */
static void test_uncross_reference_grid(void **state)
{
	(void)state;
	static const int64_t ref[] = { 112, 108 };
	for (unsigned i = 0; i < 2; i++) {
		struct fx *f = fx_new(5, 1000, 5, 16);
		struct me_uncross u;
		me_book_set_auction(f->b, 1);
		nw(f, 1, ME_BUY, 120, 10, ME_GTC);
		nw(f, 2, ME_SELL, 100, 10, ME_GTC);
		assert_string_equal(uncross(f, ref[i], &u), "T,1,2,110,10,0,0");
		fx_free(f);
	}
}

/*
 * Rule 4, two prices equally close to the reference: the lower.
 *  (a) Tick 2 (grid 98, 100, 102, 104), bid 104x10 (1), ask 98x10 (2): all four trade
 *      10 with imbalance 0; ref 101 is 1 from both 100 and 102 -> 100.
 *  (b) Not rule 4 but its neighbour: bids 103x5 (1), 102x5 (3), ask 101x5 (2), tick 1:
 *      D(101) = D(102) = 10, S = 5 (imbalance 5); D(103) = 5 = S (imbalance 0) -> 103
 *      by rule 2 even with ref 101, so a closer price never beats a smaller imbalance.
 *  (c) Rule 4 between two occupied levels: tick 2, bids 102x5 (1), 100x5 (2), asks
 *      100x5 (3), 102x5 (4): D(100) = 10, S(100) = 5; D(102) = 5, S(102) = 10: both
 *      volume 5, imbalance 5, 1 from ref 101 -> 100. Fill: bid 1 (the highest) with
 *      ask 3 (the lowest) at 100.
 */
static void test_uncross_lower_of_equal(void **state)
{
	(void)state;
	struct fx *f = fx_new(2, 1000, 2, 16);
	struct me_uncross u;
	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 104, 10, ME_GTC);
	nw(f, 2, ME_SELL, 98, 10, ME_GTC);
	assert_string_equal(uncross(f, 101, &u), "T,1,2,100,10,0,0");
	fx_free(f);

	f = fx_new(1, 1000, 1, 16);
	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 103, 5, ME_GTC);
	nw(f, 2, ME_SELL, 101, 5, ME_GTC);
	nw(f, 3, ME_BUY, 102, 5, ME_GTC);
	assert_string_equal(uncross(f, 101, &u), "T,1,2,103,5,0,0");
	assert_int_equal(u.imbalance, 0);
	assert_string_equal(book_text(f), "B,102,3,5");
	fx_free(f);

	f = fx_new(2, 1000, 2, 16);
	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 102, 5, ME_GTC);
	nw(f, 2, ME_BUY, 100, 5, ME_GTC);
	nw(f, 3, ME_SELL, 100, 5, ME_GTC);
	nw(f, 4, ME_SELL, 102, 5, ME_GTC);
	assert_string_equal(uncross(f, 101, &u), "T,1,3,100,5,0,0");
	assert_int_equal(u.imbalance, 5);
	assert_string_equal(book_text(f), "B,100,2,5 S,102,4,5");
	fx_free(f);
}

/*
 * Time priority inside a level and partial fills: bids 100x5 (1), 100x5 (2), ask 100x7
 * (3): one candidate, 100, volume 7. 1x3 5 (1 done, 3 has 2), 2x3 2 (2 has 3, 3 done).
 */
static void test_uncross_time_priority(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);
	struct me_uncross u;
	me_book_set_auction(f->b, 1);
	nw(f, 1, ME_BUY, 100, 5, ME_GTC);
	nw(f, 2, ME_BUY, 100, 5, ME_GTC);
	nw(f, 3, ME_SELL, 100, 7, ME_GTC);
	assert_string_equal(uncross(f, 0, &u), "T,1,3,100,5,0,2 T,2,3,100,2,3,0");
	assert_int_equal(u.imbalance, 3);
	assert_string_equal(book_text(f), "B,100,2,3");
	/* Continuous again: a sell at 100 now trades with what is left. */
	assert_string_equal(nw(f, 4, ME_SELL, 100, 3, ME_IOC), "A,4,100,3 T,4,2,100,3,0,0");
	fx_free(f);
}

static void test_uncross_no_cross(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);
	struct me_uncross u;
	me_book_set_auction(f->b, 1);
	assert_int_equal(me_book_uncross_price(f->b, 100, &u), -ENOENT);
	assert_true(u.price == INT64_MIN);
	nw(f, 1, ME_BUY, 99, 5, ME_GTC);
	nw(f, 2, ME_SELL, 101, 5, ME_GTC);
	assert_string_equal(uncross(f, 100, &u), "");
	assert_true(u.price == INT64_MIN);
	assert_int_equal(u.volume, 0);
	assert_int_equal(u.trades, 0);
	assert_string_equal(book_text(f), "B,99,1,5 S,101,2,5");
	/* A new bid through the ask: [101, 500] all trade 5, imbalance 0; 101 is nearest
	 * ref 100. */
	me_book_set_auction(f->b, 1);
	nw(f, 3, ME_BUY, 500, 5, ME_GTC);
	assert_string_equal(uncross(f, 100, &u), "T,3,2,101,5,0,0");
	fx_free(f);
}

/* The uncross price against a brute force over every grid price, on random books. */
static void test_uncross_random(void **state)
{
	(void)state;
	uint64_t x = 88172645463325252ull;
	for (int round = 0; round < 300; round++) {
		struct fx *f = fx_new(1, 64, 1, 64);
		int64_t bid[65] = { 0 }, ask[65] = { 0 }, total = 0;
		me_book_set_auction(f->b, 1);
		int n = 1 + (int)(round % 40);
		for (int i = 0; i < n; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			int side = (int)(x & 1);
			int64_t px = 20 + (int64_t)((x >> 8) % 25);
			int64_t q = 1 + (int64_t)((x >> 20) % 9);
			nw(f, i + 1, side, px, q, ME_GTC);
			(side == ME_BUY ? bid : ask)[px] += q;
			total += q;
		}
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		int64_t ref = (int64_t)(x % 70);
		/* Brute force. */
		int64_t bp = INT64_MIN, bv = 0, bi = 0, bd = 0;
		for (int64_t p = 1; p <= 64; p++) {
			int64_t d = 0, s = 0;
			for (int64_t k = p; k <= 64; k++)
				d += bid[k];
			for (int64_t k = 1; k <= p; k++)
				s += ask[k];
			int64_t v = d < s ? d : s, im = d > s ? d - s : s - d;
			int64_t dist = p > ref ? p - ref : ref - p;
			if (v == 0)
				continue;
			if (bp == INT64_MIN || v > bv || (v == bv && (im < bi || (im == bi && dist < bd)))) {
				bp = p, bv = v, bi = im, bd = dist;
			}
		}
		struct me_uncross u;
		uncross(f, ref, &u);
		assert_int_equal(u.price, bp);
		assert_int_equal(u.volume, bv);
		/* Everything that traded left both sides; the book is uncrossed. */
		int64_t left = 0;
		struct me_order_view v;
		for (int i = 0; i < n; i++)
			if (me_book_find(f->b, i + 1, &v) == 0)
				left += v.qty;
		assert_int_equal(left, total - 2 * bv);
		int64_t hb, la;
		if (me_book_best(f->b, ME_BUY, &hb, NULL) == 0 &&
		    me_book_best(f->b, ME_SELL, &la, NULL) == 0)
			assert_true(hb < la);
		fx_free(f);
	}
}

/* ---- price guard ------------------------------------------------------------------------ */

/* Asks 100x5 (1), 105x5 (2), 120x5 (3); guard [90, 110]. */
static struct fx *guard_book(void)
{
	struct fx *f = fx_new(1, 1000, 1, 16);
	nw(f, 1, ME_SELL, 100, 5, ME_GTC);
	nw(f, 2, ME_SELL, 105, 5, ME_GTC);
	nw(f, 3, ME_SELL, 120, 5, ME_GTC);
	assert_int_equal(me_book_set_guard(f->b, 90, 110), 0);
	check_book(f);
	return f;
}

static void test_guard_gtc(void **state)
{
	(void)state;
	struct fx *f = guard_book();
	struct me_uncross u;
	/* Trades at 100 and 105, stops before 120: GUARD, the remainder 10 rests at 125
	 * crossing the ask at 120, and the book is in auction mode. */
	assert_string_equal(nw(f, 10, ME_BUY, 125, 20, ME_GTC),
			    "A,10,125,20 T,10,1,100,5,15,0 T,10,2,105,5,10,0 G,10,120,10");
	assert_int_equal(me_book_auction(f->b), 1);
	assert_string_equal(book_text(f), "B,125,10,10 S,120,3,5");
	/* Later orders rest as in any auction. */
	assert_string_equal(nw(f, 11, ME_SELL, 110, 1, ME_IOC), "R,11,PHASE");
	/* Uncross: [120, 125] all trade 5, imbalance 5; ref 110 is nearest 120. */
	assert_string_equal(uncross(f, 110, &u), "T,10,3,120,5,5,0");
	assert_string_equal(book_text(f), "B,125,10,5");
	fx_free(f);
}

static void test_guard_ioc_fok(void **state)
{
	(void)state;
	struct fx *f = guard_book();
	assert_string_equal(nw(f, 10, ME_BUY, 125, 20, ME_IOC),
			    "A,10,125,20 T,10,1,100,5,15,0 T,10,2,105,5,10,0 G,10,120,10 "
			    "X,10,10,IOC");
	assert_int_equal(me_book_auction(f->b), 1);
	assert_string_equal(book_text(f), "S,120,3,5");
	fx_free(f);

	f = guard_book();
	/* 12 is not fillable inside the guard (10 there): FOK, no GUARD, no auction. */
	assert_string_equal(nw(f, 10, ME_BUY, 125, 12, ME_FOK), "A,10,125,12 X,10,12,FOK");
	assert_int_equal(me_book_auction(f->b), 0);
	/* 8 is. */
	assert_string_equal(nw(f, 11, ME_BUY, 125, 8, ME_FOK),
			    "A,11,125,8 T,11,1,100,5,3,0 T,11,2,105,3,0,2");
	assert_int_equal(me_book_auction(f->b), 0);
	/* An order whose limit stays inside the guard never trips it. */
	assert_string_equal(nw(f, 12, ME_BUY, 110, 5, ME_GTC), "A,12,110,5 T,12,2,105,2,3,0");
	assert_int_equal(me_book_auction(f->b), 0);
	assert_string_equal(book_text(f), "B,110,12,3 S,120,3,5");
	fx_free(f);
}

static void test_guard_low_side(void **state)
{
	(void)state;
	/* A bid below the guard: the first trade would be outside -> GUARD at once. */
	struct fx *f = fx_new(1, 1000, 1, 16);
	nw(f, 1, ME_BUY, 100, 5, ME_GTC);
	nw(f, 2, ME_BUY, 85, 5, ME_GTC);
	me_book_set_guard(f->b, 90, 110);
	assert_string_equal(nw(f, 3, ME_SELL, 80, 10, ME_GTC),
			    "A,3,80,10 T,3,1,100,5,5,0 G,3,85,5");
	assert_string_equal(book_text(f), "B,85,2,5 S,80,3,5");
	assert_int_equal(me_book_auction(f->b), 1);
	fx_free(f);

	/* An ask resting below the guard (it may: the guard limits trades, not quotes). */
	f = fx_new(1, 1000, 1, 16);
	nw(f, 1, ME_SELL, 80, 5, ME_GTC);
	me_book_set_guard(f->b, 90, 110);
	assert_string_equal(nw(f, 2, ME_BUY, 85, 5, ME_GTC), "A,2,85,5 G,2,80,5");
	assert_string_equal(book_text(f), "B,85,2,5 S,80,1,5");
	fx_free(f);
}

static void test_guard_modify_and_off(void **state)
{
	(void)state;
	struct fx *f = guard_book();
	nw(f, 5, ME_BUY, 95, 5, ME_GTC);
	/* A re-entering MODIFY through the guard trades 100x5 and 105x5 (inside) and stops
	 * before 120: GUARD, and its remainder rests crossed. */
	assert_string_equal(cmd(f, ME_CMD_MODIFY, 5, 0, 125, 12, 0, 0),
			    "M,5,125,12 T,5,1,100,5,7,0 T,5,2,105,5,2,0 G,5,120,2");
	assert_string_equal(book_text(f), "B,125,5,2 S,120,3,5");
	fx_free(f);

	/* Guard off (the extremes): ordinary matching. */
	f = guard_book();
	assert_int_equal(me_book_set_guard(f->b, 0, INT64_MAX), 0);
	check_book(f);
	assert_string_equal(nw(f, 10, ME_BUY, 125, 15, ME_IOC),
			    "A,10,125,15 T,10,1,100,5,10,0 T,10,2,105,5,5,0 T,10,3,120,5,0,0");
	int64_t lo, hi;
	me_book_guard(f->b, &lo, &hi);
	assert_int_equal(lo, 0);
	assert_true(hi == INT64_MAX);
	assert_int_equal(me_book_set_guard(f->b, 10, 9), -EINVAL);
	fx_free(f);
}

/* ---- band and owner cancel --------------------------------------------------------------- */

static void test_band(void **state)
{
	(void)state;
	struct fx *f = fx_new(10, 1000, 10, 16); /* levels 10 .. 1000 */
	int64_t lo, hi;
	me_book_range(f->b, &lo, &hi);
	assert_int_equal(lo, 10);
	assert_int_equal(hi, 1000);
	nw(f, 1, ME_BUY, 100, 1, ME_GTC);
	assert_int_equal(me_book_set_band(f->b, 200, 500), 0);
	check_book(f);
	me_book_band(f->b, &lo, &hi);
	assert_int_equal(lo, 200);
	assert_int_equal(hi, 500);
	assert_string_equal(nw(f, 2, ME_BUY, 190, 1, ME_GTC), "R,2,BAND");
	assert_string_equal(nw(f, 3, ME_BUY, 510, 1, ME_GTC), "R,3,BAND");
	assert_string_equal(nw(f, 4, ME_BUY, 505, 1, ME_GTC), "R,4,TICK");
	assert_string_equal(nw(f, 5, ME_BUY, 500, 1, ME_GTC), "A,5,500,1");
	/* The old order outside the band stays. */
	assert_string_equal(book_text(f), "B,500,5,1 B,100,1,1");
	assert_int_equal(me_book_set_band(f->b, 5, 500), -ERANGE);
	assert_int_equal(me_book_set_band(f->b, 200, 1010), -ERANGE);
	assert_int_equal(me_book_set_band(f->b, 300, 200), -EINVAL);
	assert_int_equal(me_book_set_band(f->b, 10, 1000), 0);
	assert_string_equal(nw(f, 6, ME_BUY, 10, 1, ME_GTC), "A,6,10,1");
	fx_free(f);
}

static void test_cancel_owner(void **state)
{
	(void)state;
	struct fx *f = fx_new(1, 1000, 1, 16);
	const uint64_t fa = 7ull << 32 | 1, fb = 7ull << 32 | 2, g = 8ull << 32 | 1;
	cmd(f, ME_CMD_NEW, 1, ME_BUY, 100, 1, ME_GTC, fa);
	cmd(f, ME_CMD_NEW, 2, ME_BUY, 99, 1, ME_GTC, fb);
	cmd(f, ME_CMD_NEW, 3, ME_SELL, 101, 1, ME_GTC, g);
	cmd(f, ME_CMD_NEW, 4, ME_SELL, 102, 1, ME_GTC, fb);
	assert_int_equal(me_book_cancel_owner(f->b, 7ull << 32, 0xffffffff00000000ull, -1, &f->s),
			 3);
	assert_string_equal(ev_text(f), "X,1,1,MASS X,2,1,MASS X,4,1,MASS");
	assert_string_equal(book_text(f), "S,101,3,1");
	assert_int_equal(me_book_cancel_owner(f->b, 0, 0, -1, &f->s), 1);
	assert_string_equal(ev_text(f), "X,3,1,MASS");
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auction_mode),
		cmocka_unit_test(test_auction_full),
		cmocka_unit_test(test_uncross_volume),
		cmocka_unit_test(test_uncross_imbalance),
		cmocka_unit_test(test_uncross_reference),
		cmocka_unit_test(test_uncross_reference_grid),
		cmocka_unit_test(test_uncross_lower_of_equal),
		cmocka_unit_test(test_uncross_time_priority),
		cmocka_unit_test(test_uncross_no_cross),
		cmocka_unit_test(test_uncross_random),
		cmocka_unit_test(test_guard_gtc),
		cmocka_unit_test(test_guard_ioc_fok),
		cmocka_unit_test(test_guard_low_side),
		cmocka_unit_test(test_guard_modify_and_off),
		cmocka_unit_test(test_band),
		cmocka_unit_test(test_cancel_owner),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
