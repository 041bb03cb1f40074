/*
 * test_book.c - unit tests of the matching engine (dataplane/match/me_book.c): one test
 * per rule and per reject, the contract limits, modify, STP, IOC/FOK/POST, mass cancel,
 * seeding, the read-side API, and sinks of capacity 1..3. me_book_check() runs after every
 * step.
 *
 * Events are compared as compact text, one token per event, separated by spaces:
 *   A,id,price,qty            ACCEPT          M,id,price,qty   MODIFY
 *   T,id,rid,price,qty,leaves,rleaves         TRADE
 *   X,id,qty,REASON           OUT             R,id,REASON      REJECT
 *   S,id                      ELECT
 * and the book (me_book_walk order) as B|S,price,id,qty tokens (B|S,price,id,qty/visible
 * for an iceberg), then the held stop orders as H,B|S,stop,price,id,qty tokens.
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
#include "me_snap.h"

#define REC_MAX 4096

struct fx {
	struct me_params p;
	void *mem;
	struct me_book *b;
	struct me_event buf[64];
	struct me_sink s;
	struct me_event rec[REC_MAX]; /* everything flushed since the last reset */
	uint32_t nrec;
	uint32_t flushes;
	char text[16384];
};

static void rec_flush(struct me_sink *s)
{
	struct fx *f = s->arg;

	assert_true(s->n <= s->cap);
	for (uint32_t i = 0; i < s->n; i++) {
		assert_true(f->nrec < REC_MAX);
		f->rec[f->nrec++] = s->ev[i];
	}
	s->n = 0;
	f->flushes++;
}

static void check_book(const struct fx *f)
{
	const char *what = NULL;
	int rc = me_book_check(f->b, &what);

	if (rc != 0)
		fail_msg("me_book_check: %s", what ? what : "?");
}

static struct fx *fx_new(const struct me_params *p, uint32_t sink_cap)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->p = *p;
	size_t n = me_book_memsize(p);
	assert_true(n > 0);
	f->mem = aligned_alloc(64, (n + 63) & ~(size_t)63);
	assert_non_null(f->mem);
	memset(f->mem, 0xa5, n); /* init must not rely on zeroed memory */
	f->b = me_book_init(f->mem, n, p);
	assert_non_null(f->b);
	assert_true(sink_cap >= 1 && sink_cap <= 64);
	f->s = (struct me_sink){ .ev = f->buf, .cap = sink_cap, .flush = rec_flush, .arg = f };
	check_book(f);
	return f;
}

static const struct me_params P_DEF = {
	.price_lo = 1, .price_hi = 1000, .tick = 1, .max_qty = 1000000, .max_orders = 16
};

static struct fx *fx_def(void)
{
	return fx_new(&P_DEF, 2);
}

static void fx_free(struct fx *f)
{
	free(f->mem);
	free(f);
}

static const char *out_name(unsigned r)
{
	static const char *const n[] = { "?", "CANCEL", "IOC", "FOK", "STP", "MASS", "EXPIRE" };
	return r < 7 ? n[r] : "?";
}

static const char *rej_name(unsigned r)
{
	static const char *const n[] = { "?", "INVALID", "DUP", "UNKNOWN", "POST_CROSS",
					 "TICK", "BAND", "MAX_QTY", "FULL", "PHASE" };
	return r < 10 ? n[r] : "?";
}

/* Formats the recorded events into f->text. */
static const char *ev_text(struct fx *f)
{
	size_t o = 0;

	f->text[0] = '\0';
	for (uint32_t i = 0; i < f->nrec; i++) {
		const struct me_event *e = &f->rec[i];
		char *p = f->text + o;
		size_t room = sizeof(f->text) - o;
		int n = 0;
		switch (e->type) {
		case ME_EV_ACCEPT:
			n = snprintf(p, room, "%sA,%lld,%lld,%lld", i ? " " : "", (long long)e->id,
				     (long long)e->price, (long long)e->qty);
			break;
		case ME_EV_MODIFY:
			n = snprintf(p, room, "%sM,%lld,%lld,%lld", i ? " " : "", (long long)e->id,
				     (long long)e->price, (long long)e->qty);
			break;
		case ME_EV_TRADE:
			n = snprintf(p, room, "%sT,%lld,%lld,%lld,%lld,%lld,%lld", i ? " " : "",
				     (long long)e->id, (long long)e->rid, (long long)e->price,
				     (long long)e->qty, (long long)e->leaves, (long long)e->rleaves);
			break;
		case ME_EV_OUT:
			n = snprintf(p, room, "%sX,%lld,%lld,%s", i ? " " : "", (long long)e->id,
				     (long long)e->qty, out_name(e->reason));
			break;
		case ME_EV_REJECT:
			n = snprintf(p, room, "%sR,%lld,%s", i ? " " : "", (long long)e->id,
				     rej_name(e->reason));
			break;
		case ME_EV_ELECT:
			n = snprintf(p, room, "%sS,%lld", i ? " " : "", (long long)e->id);
			break;
		default:
			n = snprintf(p, room, "%s?%u", i ? " " : "", e->type);
		}
		assert_true(n > 0 && (size_t)n < room);
		o += (size_t)n;
	}
	return f->text;
}

struct walk_buf {
	char *p;
	size_t o, cap;
	int stop_after; /* 0 = never */
	int seen;
};

static int walk_fmt(void *arg, const struct me_order_view *v)
{
	struct walk_buf *w = arg;
	int n;
	if (v->stop)
		n = snprintf(w->p + w->o, w->cap - w->o, "%sH,%c,%lld,%lld,%lld,%lld",
			     w->o ? " " : "", v->side == ME_BUY ? 'B' : 'S', (long long)v->stop,
			     (long long)v->price, (long long)v->id, (long long)v->qty);
	else if (v->show)
		n = snprintf(w->p + w->o, w->cap - w->o, "%s%c,%lld,%lld,%lld/%lld",
			     w->o ? " " : "", v->side == ME_BUY ? 'B' : 'S', (long long)v->price,
			     (long long)v->id, (long long)v->qty, (long long)v->visible);
	else
		n = snprintf(w->p + w->o, w->cap - w->o, "%s%c,%lld,%lld,%lld", w->o ? " " : "",
			     v->side == ME_BUY ? 'B' : 'S', (long long)v->price, (long long)v->id,
			     (long long)v->qty);
	assert_true(n > 0 && (size_t)n < w->cap - w->o);
	w->o += (size_t)n;
	w->seen++;
	return w->stop_after && w->seen == w->stop_after ? 42 : 0;
}

static const char *book_text(struct fx *f)
{
	struct walk_buf w = { .p = f->text, .cap = sizeof(f->text) };

	f->text[0] = '\0';
	assert_int_equal(me_book_walk(f->b, walk_fmt, &w), 0);
	assert_int_equal(me_book_walk_held(f->b, walk_fmt, &w), 0);
	return f->text;
}

/* Applies one command, drains the sink, checks the count and the invariants. */
static uint32_t fx_apply(struct fx *f, const struct me_cmd *c)
{
	f->nrec = 0;
	uint32_t n = me_book_apply(f->b, c, &f->s);
	rec_flush(&f->s);
	assert_int_equal(n, f->nrec);
	for (uint32_t i = 0; i < f->nrec; i++) {
		const struct me_event *e = &f->rec[i];
		for (size_t k = 0; k < sizeof(e->pad); k++)
			assert_int_equal(e->pad[k], 0);
	}
	check_book(f);
	return n;
}

static const char *nw(struct fx *f, int64_t id, int side, int64_t price, int64_t qty,
		      int tif, uint64_t owner)
{
	struct me_cmd c = { .type = ME_CMD_NEW, .side = (uint8_t)side, .tif = (uint8_t)tif,
			    .id = id, .price = price, .qty = qty, .owner = owner,
			    .user = (uint64_t)id * 10 };
	fx_apply(f, &c);
	return ev_text(f);
}

/* NEW with an iceberg's show and a stop price. */
static const char *nx(struct fx *f, int64_t id, int side, int64_t price, int64_t qty, int tif,
		      uint64_t owner, int64_t show, int64_t stop)
{
	struct me_cmd c = { .type = ME_CMD_NEW, .side = (uint8_t)side, .tif = (uint8_t)tif,
			    .id = id, .price = price, .qty = qty, .owner = owner,
			    .user = (uint64_t)id * 10, .show = show, .stop = stop };
	fx_apply(f, &c);
	return ev_text(f);
}

static const char *eod(struct fx *f)
{
	f->nrec = 0;
	uint32_t n = me_book_end_of_day(f->b, &f->s);
	rec_flush(&f->s);
	assert_int_equal(n, f->nrec);
	check_book(f);
	return ev_text(f);
}

static const char *cx(struct fx *f, int64_t id)
{
	struct me_cmd c = { .type = ME_CMD_CANCEL, .id = id };
	fx_apply(f, &c);
	return ev_text(f);
}

static const char *md(struct fx *f, int64_t id, int64_t price, int64_t qty)
{
	struct me_cmd c = { .type = ME_CMD_MODIFY, .id = id, .price = price, .qty = qty };
	fx_apply(f, &c);
	return ev_text(f);
}

static int64_t best_px(struct fx *f, int side)
{
	int64_t p = -1, q = -1;
	if (me_book_best(f->b, side, &p, &q) != 0)
		return -1;
	return p;
}

static int64_t best_qty(struct fx *f, int side)
{
	int64_t p = -1, q = -1;
	if (me_book_best(f->b, side, &p, &q) != 0)
		return -1;
	return q;
}

#define B ME_BUY
#define S ME_SELL
#define GTC ME_GTC
#define IOC ME_IOC
#define FOK ME_FOK
#define POST ME_POST
#define DAY ME_DAY

/* ---------------------------------------------------------------------------------- */
/* Parameters and layout                                                               */

static void test_params(void **state)
{
	(void)state;
	struct me_params p = P_DEF;

	assert_true(me_book_memsize(&p) > 0);
	assert_int_equal(me_book_memsize(NULL), 0);

	p = P_DEF; p.tick = 0;
	errno = 0;
	assert_int_equal(me_book_memsize(&p), 0);
	assert_int_equal(errno, EINVAL);
	p = P_DEF; p.tick = -5;
	assert_int_equal(me_book_memsize(&p), 0);
	p = P_DEF; p.max_qty = 0;
	assert_int_equal(me_book_memsize(&p), 0);
	p = P_DEF; p.max_orders = 0;
	assert_int_equal(me_book_memsize(&p), 0);
	p = P_DEF; p.max_orders = ME_MAX_ORDERS + 1;
	assert_int_equal(me_book_memsize(&p), 0);
	p = P_DEF; p.price_hi = p.price_lo - 1;
	assert_int_equal(me_book_memsize(&p), 0);
	/* Exactly ME_MAX_LEVELS levels is fine; one more is not. */
	p = P_DEF; p.price_lo = 1; p.price_hi = ME_MAX_LEVELS;
	assert_true(me_book_memsize(&p) > 0);
	p.price_hi = (int64_t)ME_MAX_LEVELS + 1;
	assert_int_equal(me_book_memsize(&p), 0);
	p.tick = 2; /* (hi - lo) / 2 + 1 levels */
	assert_true(me_book_memsize(&p) > 0);
	/* The whole int64 range must not overflow the level count. */
	p = P_DEF; p.price_lo = INT64_MIN; p.price_hi = INT64_MAX; p.tick = 1;
	assert_int_equal(me_book_memsize(&p), 0);
	p.tick = INT64_MAX; /* 3 levels */
	assert_true(me_book_memsize(&p) > 0);
	/* A single level. */
	p = P_DEF; p.price_lo = p.price_hi = 7;
	assert_true(me_book_memsize(&p) > 0);
}

static void test_init_errors(void **state)
{
	(void)state;
	size_t n = me_book_memsize(&P_DEF);
	char *mem = aligned_alloc(64, n + 128);
	assert_non_null(mem);

	errno = 0;
	assert_null(me_book_init(mem, n - 1, &P_DEF));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(me_book_init(mem + 8, n, &P_DEF)); /* not 64-byte aligned */
	assert_int_equal(errno, EINVAL);
	assert_null(me_book_init(NULL, n, &P_DEF));
	struct me_params bad = P_DEF;
	bad.tick = 0;
	assert_null(me_book_init(mem, n, &bad));
	struct me_book *b = me_book_init(mem, n, &P_DEF);
	assert_non_null(b);
	assert_int_equal(me_book_count(b), 0);
	const char *what = NULL;
	assert_int_equal(me_book_check(b, &what), 0);
	assert_int_equal(me_book_best(b, B, NULL, NULL), -ENOENT);
	assert_int_equal(me_book_best(b, S, NULL, NULL), -ENOENT);
	free(mem);
}

/* ---------------------------------------------------------------------------------- */
/* Matching rules                                                                      */

static void test_gtc_rests(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	assert_string_equal(nw(f, 1, B, 100, 5, GTC, 0), "A,1,100,5");
	assert_string_equal(nw(f, 2, S, 101, 7, GTC, 0), "A,2,101,7");
	assert_string_equal(book_text(f), "B,100,1,5 S,101,2,7");
	assert_int_equal(me_book_count(f->b), 2);
	assert_int_equal(best_px(f, B), 100);
	assert_int_equal(best_px(f, S), 101);
	/* ACCEPT carries the command's fields. */
	nw(f, 3, B, 99, 4, GTC, 0);
	const struct me_event *e = &f->rec[0];
	assert_int_equal(e->type, ME_EV_ACCEPT);
	assert_int_equal(e->side, B);
	assert_int_equal(e->leaves, 4);
	assert_int_equal(e->user, 30);
	assert_int_equal(e->rid, 0);
	fx_free(f);
}

static void test_trade_at_resting_price(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 2, B, 105, 5, GTC, 0), "A,2,105,5 T,2,1,100,5,0,0");
	assert_string_equal(book_text(f), "");
	nw(f, 3, B, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 4, S, 90, 2, GTC, 0), "A,4,90,2 T,4,3,100,2,0,3");
	const struct me_event *t = &f->rec[1];
	assert_int_equal(t->type, ME_EV_TRADE);
	assert_int_equal(t->side, S);
	assert_int_equal(t->user, 40);
	assert_int_equal(t->ruser, 30);
	assert_string_equal(book_text(f), "B,100,3,3");
	fx_free(f);
}

static void test_price_time_priority(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 101, 5, GTC, 0);
	nw(f, 2, S, 100, 5, GTC, 0);
	nw(f, 3, S, 100, 5, GTC, 0);
	nw(f, 4, S, 102, 5, GTC, 0);
	assert_string_equal(book_text(f), "S,100,2,5 S,100,3,5 S,101,1,5 S,102,4,5");
	/* Better price first, then the older order at a price. */
	assert_string_equal(nw(f, 5, B, 101, 12, GTC, 0),
			    "A,5,101,12 T,5,2,100,5,7,0 T,5,3,100,5,2,0 T,5,1,101,2,0,3");
	assert_string_equal(book_text(f), "S,101,1,3 S,102,4,5");
	fx_free(f);
}

static void test_partial_fill_rests(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 2, B, 100, 8, GTC, 0), "A,2,100,8 T,2,1,100,5,3,0");
	assert_string_equal(book_text(f), "B,100,2,3");
	assert_int_equal(best_px(f, S), -1);
	/* A buy below the ask does not trade. */
	nw(f, 3, S, 102, 5, GTC, 0);
	assert_string_equal(nw(f, 4, B, 101, 8, GTC, 0), "A,4,101,8");
	assert_string_equal(book_text(f), "B,101,4,8 B,100,2,3 S,102,3,5");
	fx_free(f);
}

static void test_sweep_levels(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	for (int i = 0; i < 10; i++)
		nw(f, 1 + i, B, 100 - i * 10, 1 + i, GTC, 0);
	assert_int_equal(best_px(f, B), 100);
	assert_string_equal(nw(f, 20, S, 75, 100, GTC, 0),
			    "A,20,75,100 T,20,1,100,1,99,0 T,20,2,90,2,97,0 T,20,3,80,3,94,0");
	assert_int_equal(best_px(f, B), 70);
	assert_int_equal(best_px(f, S), 75);
	assert_int_equal(best_qty(f, S), 94);
	fx_free(f);
}

static void test_ioc(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 2, B, 100, 8, IOC, 0), "A,2,100,8 T,2,1,100,5,3,0 X,2,3,IOC");
	assert_string_equal(book_text(f), "");
	/* No cross: all of it leaves. */
	nw(f, 3, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 4, B, 99, 8, IOC, 0), "A,4,99,8 X,4,8,IOC");
	/* Fully filled: no OUT. */
	assert_string_equal(nw(f, 5, B, 100, 5, IOC, 0), "A,5,100,5 T,5,3,100,5,0,0");
	assert_int_equal(me_book_count(f->b), 0);
	/* OUT fields. */
	nw(f, 6, S, 100, 2, IOC, 0);
	assert_int_equal(f->rec[1].type, ME_EV_OUT);
	assert_int_equal(f->rec[1].leaves, 0);
	assert_int_equal(f->rec[1].price, 0);
	assert_int_equal(f->rec[1].user, 60);
	assert_int_equal(f->rec[1].side, S);
	fx_free(f);
}

static void test_fok(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	nw(f, 2, S, 101, 5, GTC, 0);
	nw(f, 3, S, 102, 5, GTC, 0);
	/* Not fillable within the limit: no trades, book unchanged. */
	assert_string_equal(nw(f, 4, B, 101, 11, FOK, 0), "A,4,101,11 X,4,11,FOK");
	assert_string_equal(book_text(f), "S,100,1,5 S,101,2,5 S,102,3,5");
	/* Not crossing at all. */
	assert_string_equal(nw(f, 5, B, 99, 1, FOK, 0), "A,5,99,1 X,5,1,FOK");
	/* Exactly fillable. */
	assert_string_equal(nw(f, 6, B, 101, 10, FOK, 0),
			    "A,6,101,10 T,6,1,100,5,5,0 T,6,2,101,5,0,0");
	/* Fillable with a remainder on the resting order. */
	assert_string_equal(nw(f, 7, B, 105, 2, FOK, 0), "A,7,105,2 T,7,3,102,2,0,3");
	assert_string_equal(book_text(f), "S,102,3,3");
	/* Owner set but nobody of that owner resting: walks orders, same answer. */
	nw(f, 8, S, 102, 4, GTC, 9);
	assert_string_equal(nw(f, 9, B, 102, 8, FOK, 5), "A,9,102,8 X,9,8,FOK");
	assert_string_equal(nw(f, 10, B, 102, 7, FOK, 5),
			    "A,10,102,7 T,10,3,102,3,4,0 T,10,8,102,4,0,0");
	fx_free(f);
}

static void test_fok_blocked_by_stp(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 1);
	nw(f, 2, S, 100, 5, GTC, 7); /* same owner as the FOK below */
	nw(f, 3, S, 101, 50, GTC, 1);
	/* Enough liquidity overall, but order 2 is reached before it fills. */
	assert_string_equal(nw(f, 4, B, 101, 8, FOK, 7), "A,4,101,8 X,4,8,FOK");
	assert_string_equal(book_text(f), "S,100,1,5 S,100,2,5 S,101,3,50");
	/* Fills completely before reaching order 2: fine. */
	assert_string_equal(nw(f, 5, B, 101, 4, FOK, 7), "A,5,101,4 T,5,1,100,4,0,1");
	/* Exactly the quantity ahead of the same-owner order. */
	assert_string_equal(nw(f, 6, B, 101, 1, FOK, 7), "A,6,101,1 T,6,1,100,1,0,0");
	/* Now order 2 is first: nothing can fill. */
	assert_string_equal(nw(f, 7, B, 101, 1, FOK, 7), "A,7,101,1 X,7,1,FOK");
	fx_free(f);
}

static void test_post(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 2, B, 99, 5, POST, 0), "A,2,99,5");
	assert_string_equal(nw(f, 3, B, 100, 5, POST, 0), "R,3,POST_CROSS");
	assert_string_equal(nw(f, 4, B, 101, 5, POST, 0), "R,4,POST_CROSS");
	assert_string_equal(nw(f, 5, S, 99, 5, POST, 0), "R,5,POST_CROSS");
	assert_string_equal(nw(f, 6, S, 100, 5, POST, 0), "A,6,100,5");
	assert_string_equal(book_text(f), "B,99,2,5 S,100,1,5 S,100,6,5");
	/* Rejects carry the command's side and user, leaves 0. */
	nw(f, 7, S, 99, 3, POST, 0);
	assert_int_equal(f->rec[0].side, S);
	assert_int_equal(f->rec[0].user, 70);
	assert_int_equal(f->rec[0].leaves, 0);
	fx_free(f);
}

static void test_stp_new(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 3);
	nw(f, 2, S, 100, 5, GTC, 4);
	nw(f, 3, S, 101, 5, GTC, 3);
	/* Trades with owner 3, stops at owner 4's order: the remainder leaves. */
	assert_string_equal(nw(f, 4, B, 101, 20, GTC, 4), "A,4,101,20 T,4,1,100,5,15,0 X,4,15,STP");
	assert_string_equal(book_text(f), "S,100,2,5 S,101,3,5");
	/* Owner 0 never self-matches, even against owner 0. */
	nw(f, 5, B, 90, 5, GTC, 0);
	assert_string_equal(nw(f, 6, S, 90, 2, GTC, 0), "A,6,90,2 T,6,5,90,2,0,3");
	/* STP at the very first order: no trade. */
	assert_string_equal(nw(f, 7, B, 100, 1, GTC, 4), "A,7,100,1 X,7,1,STP");
	/* STP on an IOC: reason STP, not IOC. */
	assert_string_equal(nw(f, 8, B, 100, 1, IOC, 4), "A,8,100,1 X,8,1,STP");
	/* Sell side too. */
	nw(f, 9, B, 95, 5, GTC, 8);
	assert_string_equal(nw(f, 10, S, 90, 10, GTC, 8), "A,10,90,10 X,10,10,STP");
	assert_string_equal(book_text(f), "B,95,9,5 B,90,5,3 S,100,2,5 S,101,3,5");
	fx_free(f);
}

/* ---------------------------------------------------------------------------------- */
/* Rejects and their order                                                             */

static void test_reject_invalid(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	assert_string_equal(nw(f, 1, B, 0, 5, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, B, -3, 5, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, B, 100, 0, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, B, 100, -1, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, 2, 100, 5, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, 255, 100, 5, GTC, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, B, 100, 5, 5, 0), "R,1,INVALID"); /* 4 is DAY */
	assert_string_equal(nw(f, 1, B, INT64_MIN, INT64_MIN, 9, 0), "R,1,INVALID");
	/* INVALID before TICK/BAND/MAX_QTY. */
	assert_string_equal(nw(f, 1, B, 100000, 5, 7, 0), "R,1,INVALID");
	assert_string_equal(nw(f, 1, B, 100, 5000000, 7, 0), "R,1,INVALID");
	/* Unknown command type. */
	struct me_cmd c = { .type = 9, .id = 77 };
	fx_apply(f, &c);
	assert_string_equal(ev_text(f), "R,77,INVALID");
	c.type = 0;
	fx_apply(f, &c);
	assert_string_equal(ev_text(f), "R,77,INVALID");
	assert_int_equal(me_book_count(f->b), 0);
	fx_free(f);
}

static void test_reject_tick(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 100, .price_hi = 200, .tick = 5, .max_qty = 10,
			       .max_orders = 4 };
	struct fx *f = fx_new(&p, 2);

	assert_string_equal(nw(f, 1, B, 101, 1, GTC, 0), "R,1,TICK");
	assert_string_equal(nw(f, 1, B, 199, 1, GTC, 0), "R,1,TICK");
	assert_string_equal(nw(f, 1, B, 105, 1, GTC, 0), "A,1,105,1");
	/* TICK before BAND: off the grid and out of the band is TICK. */
	assert_string_equal(nw(f, 2, B, 96, 1, GTC, 0), "R,2,TICK");
	assert_string_equal(nw(f, 2, B, 201, 1, GTC, 0), "R,2,TICK");
	assert_string_equal(nw(f, 2, B, 3, 1, GTC, 0), "R,2,TICK");
	/* TICK before MAX_QTY and DUP. */
	assert_string_equal(nw(f, 1, B, 101, 11, GTC, 0), "R,1,TICK");
	fx_free(f);
}

static void test_reject_band(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 100, .price_hi = 200, .tick = 5, .max_qty = 10,
			       .max_orders = 4 };
	struct fx *f = fx_new(&p, 2);

	assert_string_equal(nw(f, 1, B, 95, 1, GTC, 0), "R,1,BAND");
	assert_string_equal(nw(f, 1, B, 205, 1, GTC, 0), "R,1,BAND");
	assert_string_equal(nw(f, 1, B, 5, 1, GTC, 0), "R,1,BAND");
	assert_string_equal(nw(f, 1, S, INT64_MAX - (INT64_MAX % 5), 1, IOC, 0), "R,1,BAND");
	assert_string_equal(nw(f, 1, B, 100, 1, GTC, 0), "A,1,100,1");
	assert_string_equal(nw(f, 2, S, 200, 1, GTC, 0), "A,2,200,1");
	/* BAND before MAX_QTY and DUP. */
	assert_string_equal(nw(f, 1, B, 95, 11, GTC, 0), "R,1,BAND");
	fx_free(f);
}

static void test_reject_max_qty(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 1, .price_hi = 200, .tick = 1, .max_qty = 10,
			       .max_orders = 1 };
	struct fx *f = fx_new(&p, 2);

	assert_string_equal(nw(f, 1, B, 100, 11, GTC, 0), "R,1,MAX_QTY");
	assert_string_equal(nw(f, 1, B, 100, INT64_MAX, IOC, 0), "R,1,MAX_QTY");
	assert_string_equal(nw(f, 1, B, 100, 10, GTC, 0), "A,1,100,10");
	/* MAX_QTY before DUP and FULL. */
	assert_string_equal(nw(f, 1, B, 100, 11, GTC, 0), "R,1,MAX_QTY");
	fx_free(f);
}

static void test_reject_dup(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, B, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 1, B, 99, 5, GTC, 0), "R,1,DUP");
	assert_string_equal(nw(f, 1, S, 200, 5, IOC, 0), "R,1,DUP");
	assert_string_equal(nw(f, 1, S, 100, 5, FOK, 0), "R,1,DUP"); /* no trade either */
	assert_string_equal(book_text(f), "B,100,1,5");
	/* An id is free again once its order has gone (filled, cancelled, IOC). */
	nw(f, 2, S, 100, 5, GTC, 0);
	assert_string_equal(nw(f, 1, B, 100, 1, GTC, 0), "A,1,100,1");
	cx(f, 1);
	assert_string_equal(nw(f, 1, B, 10, 1, IOC, 0), "A,1,10,1 X,1,1,IOC");
	assert_string_equal(nw(f, 1, B, 10, 1, GTC, 0), "A,1,10,1");
	fx_free(f);
}

static void test_reject_full(void **state)
{
	(void)state;
	struct me_params p = P_DEF;
	p.max_orders = 2;
	struct fx *f = fx_new(&p, 2);

	nw(f, 1, B, 100, 5, GTC, 0);
	nw(f, 2, S, 101, 5, GTC, 0);
	assert_string_equal(nw(f, 3, B, 99, 5, GTC, 0), "R,3,FULL");
	assert_string_equal(nw(f, 3, B, 99, 5, POST, 0), "R,3,FULL");
	/* Up-front: FULL even though it would have traded completely. */
	assert_string_equal(nw(f, 3, B, 101, 5, GTC, 0), "R,3,FULL");
	/* FULL before POST_CROSS. */
	assert_string_equal(nw(f, 3, B, 101, 5, POST, 0), "R,3,FULL");
	/* DUP before FULL. */
	assert_string_equal(nw(f, 1, B, 99, 5, GTC, 0), "R,1,DUP");
	/* IOC and FOK need no slot. */
	assert_string_equal(nw(f, 3, B, 101, 2, IOC, 0), "A,3,101,2 T,3,2,101,2,0,3");
	assert_string_equal(nw(f, 4, B, 101, 3, FOK, 0), "A,4,101,3 T,4,2,101,3,0,0");
	/* A slot came free. */
	assert_string_equal(nw(f, 5, B, 99, 5, GTC, 0), "A,5,99,5");
	assert_string_equal(nw(f, 6, B, 99, 5, GTC, 0), "R,6,FULL");
	/* A modify that re-enters keeps its slot. */
	assert_string_equal(md(f, 5, 98, 50), "M,5,98,50");
	assert_int_equal(me_book_count(f->b), 2);
	/* Seed reports it too. */
	assert_int_equal(me_book_seed(f->b, 9, B, 50, 1, 0, 0, 0), -ENOSPC);
	check_book(f);
	fx_free(f);
}

static void test_reject_order_post_last(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	/* DUP before POST_CROSS. */
	assert_string_equal(nw(f, 1, B, 100, 5, POST, 0), "R,1,DUP");
	/* MAX_QTY before POST_CROSS. */
	assert_string_equal(nw(f, 2, B, 100, 5000000, POST, 0), "R,2,MAX_QTY");
	assert_string_equal(nw(f, 2, B, 100, 5, POST, 0), "R,2,POST_CROSS");
	fx_free(f);
}

/* ---------------------------------------------------------------------------------- */
/* Cancel                                                                              */

static void test_cancel(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, B, 100, 5, GTC, 0);
	nw(f, 2, B, 100, 6, GTC, 0);
	nw(f, 3, B, 100, 7, GTC, 0);
	nw(f, 4, B, 99, 8, GTC, 0);
	assert_string_equal(cx(f, 2), "X,2,6,CANCEL"); /* middle of the queue */
	assert_int_equal(f->rec[0].side, B);
	assert_int_equal(f->rec[0].user, 20);
	assert_int_equal(f->rec[0].leaves, 0);
	assert_int_equal(best_qty(f, B), 12);
	assert_string_equal(cx(f, 3), "X,3,7,CANCEL"); /* tail */
	assert_string_equal(cx(f, 1), "X,1,5,CANCEL"); /* head, empties the best level */
	assert_int_equal(best_px(f, B), 99);
	assert_string_equal(cx(f, 1), "R,1,UNKNOWN");
	assert_int_equal(f->rec[0].side, 0);
	assert_int_equal(f->rec[0].user, 0);
	assert_string_equal(cx(f, 12345), "R,12345,UNKNOWN");
	/* A filled order is not live. */
	nw(f, 5, S, 99, 8, GTC, 0);
	assert_string_equal(cx(f, 4), "R,4,UNKNOWN");
	assert_string_equal(cx(f, 5), "R,5,UNKNOWN");
	assert_int_equal(me_book_count(f->b), 0);
	fx_free(f);
}

/* ---------------------------------------------------------------------------------- */
/* Modify                                                                              */

static void test_modify_reduce_keeps_priority(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	nw(f, 2, S, 100, 5, GTC, 0);
	assert_string_equal(md(f, 1, 100, 3), "M,1,100,3");
	assert_int_equal(f->rec[0].leaves, 3);
	assert_int_equal(f->rec[0].side, S);
	assert_int_equal(f->rec[0].user, 10);
	assert_int_equal(best_qty(f, S), 8);
	assert_string_equal(book_text(f), "S,100,1,3 S,100,2,5");
	/* qty == remaining: a no-op that still emits MODIFY. */
	assert_string_equal(md(f, 1, 100, 3), "M,1,100,3");
	assert_string_equal(book_text(f), "S,100,1,3 S,100,2,5");
	/* Reduced after a partial fill: "remaining" is what counts. */
	nw(f, 3, B, 100, 1, IOC, 0);
	assert_string_equal(book_text(f), "S,100,1,2 S,100,2,5");
	assert_string_equal(md(f, 1, 100, 2), "M,1,100,2");
	assert_string_equal(book_text(f), "S,100,1,2 S,100,2,5");
	fx_free(f);
}

static void test_modify_increase_loses_priority(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 100, 5, GTC, 0);
	nw(f, 2, S, 100, 5, GTC, 0);
	assert_string_equal(md(f, 1, 100, 6), "M,1,100,6");
	assert_string_equal(book_text(f), "S,100,2,5 S,100,1,6");
	assert_int_equal(best_qty(f, S), 11);
	/* Only order of its level: leaves and re-enters the same level. */
	nw(f, 3, B, 90, 5, GTC, 0);
	assert_string_equal(md(f, 3, 90, 9), "M,3,90,9");
	assert_string_equal(book_text(f), "B,90,3,9 S,100,2,5 S,100,1,6");
	assert_int_equal(best_px(f, B), 90);
	fx_free(f);
}

static void test_modify_price_reenters(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, B, 100, 5, GTC, 0);
	nw(f, 2, B, 99, 5, GTC, 0);
	nw(f, 3, B, 99, 5, GTC, 0);
	/* Down a level: back of the new queue, even with a smaller qty. */
	assert_string_equal(md(f, 1, 99, 4), "M,1,99,4");
	assert_string_equal(book_text(f), "B,99,2,5 B,99,3,5 B,99,1,4");
	assert_int_equal(best_px(f, B), 99);
	/* Up to a new best level. */
	assert_string_equal(md(f, 3, 101, 5), "M,3,101,5");
	assert_string_equal(book_text(f), "B,101,3,5 B,99,2,5 B,99,1,4");
	fx_free(f);
}

static void test_modify_crosses_and_trades(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 101, 3, GTC, 0);
	nw(f, 2, S, 102, 3, GTC, 0);
	nw(f, 3, B, 100, 5, GTC, 0);
	/* Crosses, trades as the aggressor at resting prices, remainder rests. */
	assert_string_equal(md(f, 3, 102, 10), "M,3,102,10 T,3,1,101,3,7,0 T,3,2,102,3,4,0");
	assert_string_equal(book_text(f), "B,102,3,4");
	/* Fully filled by the re-entry: gone, id free. */
	nw(f, 4, S, 105, 2, GTC, 0);
	assert_string_equal(md(f, 4, 102, 4), "M,4,102,4 T,4,3,102,4,0,0");
	assert_string_equal(book_text(f), "");
	assert_string_equal(cx(f, 4), "R,4,UNKNOWN");
	assert_string_equal(nw(f, 4, B, 1, 1, GTC, 0), "A,4,1,1");
	fx_free(f);
}

static void test_modify_stp(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 101, 3, GTC, 0);
	nw(f, 2, S, 102, 3, GTC, 5);
	nw(f, 3, B, 100, 10, GTC, 5);
	assert_string_equal(md(f, 3, 102, 10), "M,3,102,10 T,3,1,101,3,7,0 X,3,7,STP");
	assert_string_equal(book_text(f), "S,102,2,3");
	assert_string_equal(cx(f, 3), "R,3,UNKNOWN");
	assert_int_equal(me_book_count(f->b), 1);
	fx_free(f);
}

static void test_modify_post(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 101, 3, GTC, 0);
	nw(f, 2, B, 99, 5, POST, 0);
	nw(f, 3, B, 99, 5, GTC, 0);
	assert_string_equal(md(f, 2, 101, 5), "R,2,POST_CROSS");
	assert_int_equal(f->rec[0].side, B);
	assert_int_equal(f->rec[0].leaves, 5);
	assert_int_equal(f->rec[0].user, 20);
	assert_string_equal(md(f, 2, 102, 1), "R,2,POST_CROSS");
	assert_string_equal(book_text(f), "B,99,2,5 B,99,3,5 S,101,1,3");
	/* A POST may still move where it does not cross; it stays POST. */
	assert_string_equal(md(f, 2, 100, 5), "M,2,100,5");
	struct me_order_view v;
	assert_int_equal(me_book_find(f->b, 2, &v), 0);
	assert_int_equal(v.tif, ME_POST);
	assert_int_equal(v.price, 100);
	/* A GTC that crosses on modify trades. */
	assert_string_equal(md(f, 3, 101, 5), "M,3,101,5 T,3,1,101,3,2,0");
	assert_string_equal(book_text(f), "B,101,3,2 B,100,2,5");
	fx_free(f);
}

static void test_modify_rejects(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 100, .price_hi = 200, .tick = 5, .max_qty = 10,
			       .max_orders = 4 };
	struct fx *f = fx_new(&p, 2);

	nw(f, 1, B, 150, 5, GTC, 0);
	/* UNKNOWN first, even with invalid values. */
	assert_string_equal(md(f, 2, 0, 0), "R,2,UNKNOWN");
	assert_string_equal(md(f, 1, 0, 5), "R,1,INVALID");
	assert_string_equal(md(f, 1, -5, 5), "R,1,INVALID");
	assert_string_equal(md(f, 1, 150, 0), "R,1,INVALID"); /* not a cancel */
	assert_string_equal(md(f, 1, 150, -2), "R,1,INVALID");
	assert_string_equal(md(f, 1, 151, 50), "R,1,TICK");
	assert_string_equal(md(f, 1, 96, 5), "R,1,TICK");
	assert_string_equal(md(f, 1, 95, 50), "R,1,BAND");
	assert_string_equal(md(f, 1, 205, 5), "R,1,BAND");
	assert_string_equal(md(f, 1, 150, 11), "R,1,MAX_QTY");
	assert_int_equal(f->rec[0].leaves, 5);
	assert_string_equal(book_text(f), "B,150,1,5");
	assert_string_equal(md(f, 1, 155, 10), "M,1,155,10");
	assert_string_equal(book_text(f), "B,155,1,10");
	fx_free(f);
}

/* ---------------------------------------------------------------------------------- */
/* Mass cancel, seed, read side                                                        */

static void test_mass_cancel(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, B, 100, 1, GTC, 1);
	nw(f, 2, B, 100, 2, GTC, 2);
	nw(f, 3, B, 99, 3, GTC, 1);
	nw(f, 4, S, 101, 4, GTC, 1);
	nw(f, 5, S, 102, 5, GTC, 2);
	nw(f, 6, S, 101, 6, GTC, 2);

	f->nrec = 0;
	assert_int_equal(me_book_mass_cancel(f->b, 1, ME_SELL, &f->s), 1);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,4,4,MASS");

	f->nrec = 0;
	assert_int_equal(me_book_mass_cancel(f->b, 1, -1, &f->s), 2);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,1,1,MASS X,3,3,MASS");
	assert_string_equal(book_text(f), "B,100,2,2 S,101,6,6 S,102,5,5");

	f->nrec = 0;
	assert_int_equal(me_book_mass_cancel(f->b, 0, 7, &f->s), 0); /* bad side */
	assert_int_equal(me_book_mass_cancel(f->b, 99, -1, &f->s), 0); /* nobody */
	assert_int_equal(me_book_mass_cancel(f->b, 0, ME_BUY, &f->s), 1);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,2,2,MASS");

	f->nrec = 0;
	assert_int_equal(me_book_mass_cancel(f->b, 0, -1, &f->s), 2);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,6,6,MASS X,5,5,MASS");
	assert_int_equal(me_book_count(f->b), 0);
	assert_int_equal(best_px(f, B), -1);
	assert_int_equal(best_px(f, S), -1);
	/* Ids are free again. */
	assert_string_equal(nw(f, 1, B, 100, 1, GTC, 1), "A,1,100,1");
	fx_free(f);
}

static void test_cancel_where(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	/* ids 0x101, 0x201 and 0x301 share their low byte: "session 1" */
	nw(f, 0x101, B, 100, 1, GTC, 0);
	nw(f, 0x102, B, 99, 2, GTC, 0);
	nw(f, 0x201, S, 101, 3, GTC, 7);
	nw(f, 0x301, S, 102, 4, GTC, 0);

	f->nrec = 0;
	assert_int_equal(me_book_cancel_where(f->b, 7, -1, 0xff, 0x01, &f->s), 1);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,513,3,MASS");

	f->nrec = 0;
	assert_int_equal(me_book_cancel_where(f->b, 0, -1, 0xff, 0x01, &f->s), 2);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,257,1,MASS X,769,4,MASS");
	assert_string_equal(book_text(f), "B,99,258,2");
	assert_int_equal(me_book_cancel_where(f->b, 0, -1, 0xff, 0x01, &f->s), 0);
	assert_int_equal(me_book_cancel_where(f->b, 0, 5, 0, 0, &f->s), 0); /* bad side */
	fx_free(f);
}

static void test_seed(void **state)
{
	(void)state;
	struct me_params p = P_DEF;
	p.max_orders = 5;
	struct fx *f = fx_new(&p, 2);

	assert_int_equal(me_book_seed(f->b, 1, B, 100, 5, 0, 11, 0), 0);
	assert_int_equal(me_book_seed(f->b, 2, B, 100, 6, 0, 12, 1), 0); /* head */
	assert_int_equal(me_book_seed(f->b, 3, B, 100, 7, 0, 13, 0), 0);
	assert_int_equal(me_book_seed(f->b, 4, S, 105, 7, 0, 14, 1), 0); /* head of empty */
	check_book(f);
	assert_string_equal(book_text(f), "B,100,2,6 B,100,1,5 B,100,3,7 S,105,4,7");
	assert_int_equal(me_book_seed(f->b, 9, 2, 100, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(me_book_seed(f->b, 9, B, 0, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(me_book_seed(f->b, 9, B, 100, 0, 0, 0, 0), -EINVAL);
	assert_int_equal(me_book_seed(f->b, 9, B, 5000, 1, 0, 0, 0), -EINVAL);
	assert_int_equal(me_book_seed(f->b, 9, B, 100, 5000000, 0, 0, 0), -EINVAL);
	assert_int_equal(me_book_seed(f->b, 1, B, 99, 1, 0, 0, 0), -EEXIST);
	assert_int_equal(me_book_seed(f->b, 9, B, 105, 1, 0, 0, 0), -EDOM);
	assert_int_equal(me_book_seed(f->b, 9, S, 100, 1, 0, 0, 1), -EDOM);
	check_book(f);
	/* No events; the seeded head trades first. */
	assert_string_equal(nw(f, 10, S, 100, 7, IOC, 0),
			    "A,10,100,7 T,10,2,100,6,1,0 T,10,1,100,1,0,4");
	assert_int_equal(f->rec[1].ruser, 12);
	assert_int_equal(me_book_seed(f->b, 11, B, 10, 1, 0, 0, 0), 0);
	assert_int_equal(me_book_seed(f->b, 12, B, 10, 1, 0, 0, 0), 0);
	assert_int_equal(me_book_seed(f->b, 13, B, 10, 1, 0, 0, 0), -ENOSPC);
	check_book(f);
	fx_free(f);
}

static void test_best_depth(void **state)
{
	(void)state;
	struct fx *f = fx_def();
	int64_t px[8], qty[8];

	assert_int_equal(me_book_depth(f->b, B, px, qty, 8), 0);
	assert_int_equal(me_book_best(f->b, B, px, qty), -ENOENT);
	assert_int_equal(me_book_best(f->b, 3, px, qty), -ENOENT);
	nw(f, 1, B, 100, 1, GTC, 0);
	nw(f, 2, B, 100, 2, GTC, 0);
	nw(f, 3, B, 98, 3, GTC, 0);
	nw(f, 4, B, 1, 4, GTC, 0);
	nw(f, 5, S, 1000, 5, GTC, 0);
	nw(f, 6, S, 101, 6, GTC, 0);
	assert_int_equal(me_book_best(f->b, B, &px[0], &qty[0]), 0);
	assert_int_equal(px[0], 100);
	assert_int_equal(qty[0], 3);
	assert_int_equal(me_book_best(f->b, S, &px[0], &qty[0]), 0);
	assert_int_equal(px[0], 101);
	assert_int_equal(qty[0], 6);
	assert_int_equal(me_book_depth(f->b, B, px, qty, 8), 3);
	assert_int_equal(px[0], 100);
	assert_int_equal(qty[0], 3);
	assert_int_equal(px[1], 98);
	assert_int_equal(qty[1], 3);
	assert_int_equal(px[2], 1);
	assert_int_equal(qty[2], 4);
	assert_int_equal(me_book_depth(f->b, B, px, qty, 2), 2);
	assert_int_equal(me_book_depth(f->b, S, px, qty, 8), 2);
	assert_int_equal(px[0], 101);
	assert_int_equal(px[1], 1000);
	assert_int_equal(qty[1], 5);
	assert_int_equal(me_book_depth(f->b, 5, px, qty, 8), 0);
	assert_int_equal(me_book_depth(f->b, S, px, qty, 0), 0);
	fx_free(f);
}

static void test_walk_order_and_stop(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 103, 1, GTC, 0);
	nw(f, 2, B, 97, 1, GTC, 0);
	nw(f, 3, S, 102, 1, GTC, 0);
	nw(f, 4, B, 98, 1, GTC, 0);
	nw(f, 5, S, 102, 1, GTC, 0);
	nw(f, 6, B, 97, 1, GTC, 0);
	assert_string_equal(book_text(f), "B,98,4,1 B,97,2,1 B,97,6,1 S,102,3,1 S,102,5,1 S,103,1,1");
	char buf[256];
	struct walk_buf w = { .p = buf, .cap = sizeof(buf), .stop_after = 4 };
	buf[0] = '\0';
	assert_int_equal(me_book_walk(f->b, walk_fmt, &w), 42);
	assert_string_equal(buf, "B,98,4,1 B,97,2,1 B,97,6,1 S,102,3,1");
	fx_free(f);
}

static void test_find(void **state)
{
	(void)state;
	struct fx *f = fx_def();
	struct me_order_view v;

	assert_int_equal(me_book_find(f->b, 1, &v), -ENOENT);
	nw(f, 1, S, 103, 9, POST, 44);
	assert_int_equal(me_book_find(f->b, 1, &v), 0);
	assert_int_equal(v.id, 1);
	assert_int_equal(v.price, 103);
	assert_int_equal(v.qty, 9);
	assert_int_equal(v.owner, 44);
	assert_int_equal(v.user, 10);
	assert_int_equal(v.side, S);
	assert_int_equal(v.tif, ME_POST);
	assert_int_equal(me_book_find(f->b, 1, NULL), 0);
	nw(f, 2, B, 103, 4, IOC, 0);
	assert_int_equal(me_book_find(f->b, 1, &v), 0);
	assert_int_equal(v.qty, 5);
	assert_int_equal(me_book_find(f->b, 2, &v), -ENOENT);
	fx_free(f);
}

/* ---------------------------------------------------------------------------------- */
/* Ids, ticks, sizes, sinks                                                            */

static void test_extreme_ids(void **state)
{
	(void)state;
	struct fx *f = fx_def();
	const int64_t ids[] = { 0, -1, INT64_MIN, INT64_MAX, 1, INT64_MIN + 1 };

	for (size_t i = 0; i < 6; i++)
		nw(f, ids[i], B, 100 - (int64_t)i, 1, GTC, 0);
	assert_int_equal(me_book_count(f->b), 6);
	for (size_t i = 0; i < 6; i++) {
		char want[64];
		snprintf(want, sizeof(want), "R,%lld,DUP", (long long)ids[i]);
		assert_string_equal(nw(f, ids[i], B, 100, 1, GTC, 0), want);
	}
	assert_string_equal(cx(f, INT64_MIN), "X,-9223372036854775808,1,CANCEL");
	assert_string_equal(cx(f, 0), "X,0,1,CANCEL");
	assert_string_equal(cx(f, 0), "R,0,UNKNOWN");
	assert_string_equal(nw(f, INT64_MIN, B, 50, 1, GTC, 0), "A,-9223372036854775808,50,1");
	fx_free(f);
}

static void test_tick_grid(void **state)
{
	(void)state;
	/* Power of two, odd (multiply-shift division), a large odd tick with a negative
	 * price_lo, and a band so wide that the engine divides. */
	const struct me_params ps[] = {
		{ .price_lo = 3, .price_hi = 3 + 4 * 40, .tick = 4, .max_qty = 5, .max_orders = 64 },
		{ .price_lo = 3, .price_hi = 3 + 7 * 40 + 5, .tick = 7, .max_qty = 5, .max_orders = 64 },
		{ .price_lo = -1000001, .price_hi = 1000000 * 40, .tick = 1000001, .max_qty = 5,
		  .max_orders = 64 },
		{ .price_lo = 1, .price_hi = INT64_MAX, .tick = INT64_MAX / 3, .max_qty = 5,
		  .max_orders = 64 },
	};

	for (size_t k = 0; k < sizeof(ps) / sizeof(ps[0]); k++) {
		const struct me_params *p = &ps[k];
		struct fx *f = fx_new(p, 3);
		const int64_t lo = p->price_lo, t = p->tick;
		/* Every positive grid price in the band is accepted and maps back to itself. */
		int64_t px = lo;
		while (px <= 0)
			px += t;
		const int64_t first = px;
		for (int64_t id = 1; px <= p->price_hi && id <= 40; id++) {
			assert_int_equal(me_book_seed(f->b, id, ME_BUY, px, 1, 0, 0, 0), 0);
			struct me_order_view v;
			assert_int_equal(me_book_find(f->b, id, &v), 0);
			assert_int_equal(v.price, px);
			if (__builtin_add_overflow(px, t, &px))
				break;
		}
		check_book(f);
		/* Around some grid points, in and out of the band: a buy IOC (no asks, so
		 * it never trades) is accepted on the grid, else TICK, else BAND. */
		int64_t above = 0, below = 0;
		if (__builtin_add_overflow(p->price_hi, t, &above))
			above = 0;
		if (__builtin_sub_overflow(lo, t, &below))
			below = 0;
		const int64_t probes[] = { first, first + t / 2, p->price_hi, lo, first - 1,
					   above, below, 3 };
		for (size_t i = 0; i < sizeof(probes) / sizeof(probes[0]); i++) {
			for (int64_t d = -2; d <= 2; d++) {
				int64_t q;
				if (__builtin_add_overflow(probes[i], d, &q) || q <= 0)
					continue;
				__int128 off = ((__int128)q - lo) % t; /* the contract's grid */
				int in_band = q >= lo && q <= p->price_hi;
				char want[96];
				if (off != 0)
					snprintf(want, sizeof(want), "R,999,TICK");
				else if (!in_band)
					snprintf(want, sizeof(want), "R,999,BAND");
				else
					snprintf(want, sizeof(want), "A,999,%lld,1 X,999,1,IOC",
						 (long long)q);
				assert_string_equal(nw(f, 999, ME_BUY, q, 1, IOC, 0), want);
			}
		}
		fx_free(f);
	}
}

/* The divisor behind price -> level for every tick 2..150 and some large ones: each grid
 * price maps to its own level (find reads the price back from the level), every
 * off-grid price in the band is TICK. */
static void test_tick_divisor_sweep(void **state)
{
	(void)state;
	int64_t ticks[160];
	size_t nt = 0;
	for (int64_t t = 2; t <= 150; t++)
		ticks[nt++] = t;
	ticks[nt++] = 1000003;
	ticks[nt++] = (1ll << 40) + 1;
	ticks[nt++] = (1ll << 52) - 3;

	for (size_t k = 0; k < nt; k++) {
		const int64_t t = ticks[k];
		const int64_t lo = 1 + ((t % 100003) * 7919) % 100003; /* arbitrary offsets */
		const int64_t nlv = t > 100000 ? 40 : 200;
		struct me_params p = { .price_lo = lo, .price_hi = lo + (nlv - 1) * t + t / 2,
				       .tick = t, .max_qty = 1, .max_orders = 256 };
		struct fx *f = fx_new(&p, 1);
		for (int64_t i = 0; i < nlv; i++) {
			int64_t px = lo + i * t;
			assert_int_equal(me_book_seed(f->b, i, ME_BUY, px, 1, 0, 0, 0), 0);
			struct me_order_view v;
			assert_int_equal(me_book_find(f->b, i, &v), 0);
			assert_int_equal(v.price, px);
			int64_t offs[] = { 1, t / 2, t - 1 };
			for (size_t j = 0; j < 3; j++) {
				if (offs[j] <= 0 || offs[j] >= t || px + offs[j] > p.price_hi)
					continue;
				assert_int_equal(me_book_seed(f->b, 1000 + i, ME_BUY, px + offs[j], 1,
							      0, 0, 0), -EINVAL);
			}
		}
		int64_t depth_px[4];
		assert_int_equal(me_book_depth(f->b, ME_BUY, depth_px, NULL, 4), 4);
		assert_int_equal(depth_px[0], lo + (nlv - 1) * t);
		assert_int_equal(depth_px[3], lo + (nlv - 4) * t);
		check_book(f);
		fx_free(f);
	}
}

static void test_big_quantities(void **state)
{
	(void)state;
	struct me_params p = P_DEF;
	p.max_qty = INT64_MAX;
	struct fx *f = fx_new(&p, 2);

	nw(f, 1, S, 100, INT64_MAX, GTC, 0);
	nw(f, 2, S, 100, INT64_MAX, GTC, 0);
	nw(f, 3, S, 100, INT64_MAX, GTC, 0);
	assert_int_equal(best_qty(f, S), INT64_MAX); /* saturated, not wrapped */
	int64_t q[2];
	assert_int_equal(me_book_depth(f->b, S, NULL, q, 2), 1);
	assert_int_equal(q[0], INT64_MAX);
	/* FOK against a level whose total exceeds int64. */
	assert_string_equal(nw(f, 4, B, 100, INT64_MAX, FOK, 0),
			    "A,4,100,9223372036854775807 T,4,1,100,9223372036854775807,0,0");
	assert_string_equal(nw(f, 5, B, 100, INT64_MAX, FOK, 0),
			    "A,5,100,9223372036854775807 T,5,2,100,9223372036854775807,0,0");
	/* Across two levels: order 3 (INT64_MAX at 100) fills it. */
	nw(f, 6, S, 101, 5, GTC, 0);
	assert_string_equal(nw(f, 7, B, 101, INT64_MAX, FOK, 0),
			    "A,7,101,9223372036854775807 T,7,3,100,9223372036854775807,0,0");
	assert_string_equal(nw(f, 8, B, 101, 6, FOK, 0), "A,8,101,6 X,8,6,FOK");
	assert_int_equal(best_qty(f, S), 5);
	fx_free(f);
}

/* Many levels (a 4-layer bitmap): best moves correctly across words and layers. */
static void test_wide_book(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 1, .price_hi = 300000, .tick = 1, .max_qty = 10,
			       .max_orders = 64 };
	struct fx *f = fx_new(&p, 2);
	const int64_t bids[] = { 1, 63, 64, 65, 4095, 4096, 4097, 262143, 262144, 262145 };
	const int64_t asks[] = { 262146, 262200, 270000, 299999, 300000 };

	for (size_t i = 0; i < 10; i++)
		nw(f, 100 + (int64_t)i, B, bids[i], 1, GTC, 0);
	for (size_t i = 0; i < 5; i++)
		nw(f, 200 + (int64_t)i, S, asks[i], 1, GTC, 0);
	for (int i = 9; i >= 0; i--) {
		assert_int_equal(best_px(f, B), bids[i]);
		cx(f, 100 + i);
	}
	assert_int_equal(best_px(f, B), -1);
	/* An ask sweep walks the asks from the lowest. */
	assert_string_equal(nw(f, 300, B, 300000, 4, IOC, 0),
			    "A,300,300000,4 T,300,200,262146,1,3,0 T,300,201,262200,1,2,0 "
			    "T,300,202,270000,1,1,0 T,300,203,299999,1,0,0");
	assert_int_equal(best_px(f, S), 300000);
	/* A sell at 1 with bids re-seeded across the range. */
	for (size_t i = 0; i < 10; i++)
		nw(f, 400 + (int64_t)i, B, bids[i], 1, GTC, 0);
	assert_string_equal(nw(f, 500, S, 64, 10, GTC, 0),
			    "A,500,64,10 T,500,409,262145,1,9,0 T,500,408,262144,1,8,0 "
			    "T,500,407,262143,1,7,0 T,500,406,4097,1,6,0 T,500,405,4096,1,5,0 "
			    "T,500,404,4095,1,4,0 T,500,403,65,1,3,0 T,500,402,64,1,2,0");
	assert_int_equal(best_qty(f, S), 2);
	assert_int_equal(best_px(f, S), 64);
	assert_int_equal(best_px(f, B), 63);
	fx_free(f);
}

/* me_book_shift(): the level array moves along the grid under resting orders (time
 * priority, ids and prices kept), matching goes on across the old edge, an order left
 * outside refuses the move, the band is cut to the new array; me_book_extent(). */
static void test_shift(void **state)
{
	(void)state;
	/* 101 levels of tick 10: [1000, 2000]. */
	struct me_params p = { .price_lo = 1000, .price_hi = 2000, .tick = 10, .max_qty = 100,
			       .max_orders = 32 };
	struct fx *f = fx_new(&p, 3);
	int64_t lo, hi;
	assert_int_equal(me_book_extent(f->b, &lo, &hi), -ENOENT);
	nw(f, 1, B, 1100, 5, GTC, 0);
	nw(f, 2, B, 1100, 6, GTC, 0);
	nw(f, 3, B, 1050, 7, GTC, 0);
	nw(f, 4, S, 1200, 8, GTC, 0);
	nw(f, 5, S, 1990, 9, GTC, 0);
	assert_int_equal(me_book_extent(f->b, &lo, &hi), 0);
	assert_int_equal(lo, 1050);
	assert_int_equal(hi, 1990);
	assert_int_equal(me_book_set_band(f->b, 1020, 1980), 0);
	static char before[sizeof(((struct fx *)0)->text)];
	memcpy(before, book_text(f), sizeof(before));
	/* Off the grid, and an order (5 at 1990) that would fall off the top. */
	assert_int_equal(me_book_shift(f->b, 1005), -EINVAL);
	assert_int_equal(me_book_shift(f->b, 900), -ERANGE);
	assert_int_equal(me_book_shift(f->b, INT64_MAX - 100), -EINVAL);
	check_book(f);
	assert_string_equal(book_text(f), before);
	/* Up by 40 levels: [1400, 2400] leaves the bids below: refused too. */
	assert_int_equal(me_book_shift(f->b, 1400), -ERANGE);
	/* Down to [550, 1550] would drop the ask at 1990. Cancel it, then go down. */
	cx(f, 5);
	assert_int_equal(me_book_shift(f->b, 550), 0);
	check_book(f);
	assert_string_equal(book_text(f), "B,1100,1,5 B,1100,2,6 B,1050,3,7 S,1200,4,8");
	me_book_range(f->b, &lo, &hi);
	assert_int_equal(lo, 550);
	assert_int_equal(hi, 1550);
	int64_t blo, bhi;
	me_book_band(f->b, &blo, &bhi);
	assert_int_equal(blo, 1020); /* cut to the array: [1020, 1550] */
	assert_int_equal(bhi, 1550);
	/* Prices below the old array now have levels; time priority at 1100 holds. */
	assert_int_equal(me_book_set_band(f->b, 560, 1550), 0);
	assert_string_equal(nw(f, 6, B, 600, 1, GTC, 0), "A,6,600,1");
	assert_string_equal(nw(f, 7, S, 600, 20, IOC, 0),
			    "A,7,600,20 T,7,1,1100,5,15,0 T,7,2,1100,6,9,0 T,7,3,1050,7,2,0 "
			    "T,7,6,600,1,1,0 X,7,1,IOC");
	assert_int_equal(best_px(f, B), -1);
	assert_int_equal(best_px(f, S), 1200);
	assert_string_equal(nw(f, 8, S, 1550, 1, GTC, 0), "A,8,1550,1");
	assert_string_equal(nw(f, 9, S, 1560, 1, GTC, 0), "R,9,BAND");
	/* Up again past the band: the band becomes the whole new array. */
	cx(f, 4);
	cx(f, 8);
	assert_int_equal(me_book_shift(f->b, 5000), 0);
	check_book(f);
	me_book_band(f->b, &blo, &bhi);
	assert_int_equal(blo, 5000);
	assert_int_equal(bhi, 6000);
	assert_string_equal(nw(f, 10, B, 5990, 1, GTC, 0), "A,10,5990,1");
	assert_string_equal(nw(f, 11, S, 5000, 1, GTC, 0), "A,11,5000,1 T,11,10,5990,1,0,0");
	fx_free(f);
}

/* The same scenario through sinks of capacity 1, 2, 3 and 64 gives the same events. */
static void run_sink_scenario(struct fx *f, char *out, size_t cap)
{
	size_t o = 0;
	for (int i = 0; i < 6; i++)
		nw(f, 1 + i, S, 100 + i, 2, GTC, 0);
	const char *steps[4];
	steps[0] = nw(f, 50, B, 110, 20, IOC, 0);
	o += (size_t)snprintf(out + o, cap - o, "%s|", steps[0]);
	for (int i = 0; i < 6; i++)
		nw(f, 1 + i, S, 100 + i, 2, GTC, 0);
	steps[1] = md(f, 3, 99, 2);
	o += (size_t)snprintf(out + o, cap - o, "%s|", steps[1]);
	steps[2] = nw(f, 51, B, 103, 7, GTC, 0);
	o += (size_t)snprintf(out + o, cap - o, "%s|", steps[2]);
	f->nrec = 0;
	uint32_t n = me_book_mass_cancel(f->b, 0, -1, &f->s);
	rec_flush(&f->s);
	check_book(f);
	assert_int_equal(n, f->nrec);
	o += (size_t)snprintf(out + o, cap - o, "%s", ev_text(f));
	assert_true(o < cap);
}

static void test_sink_small_caps(void **state)
{
	(void)state;
	static char ref[4096], got[4096];
	struct fx *f = fx_new(&P_DEF, 64);
	run_sink_scenario(f, ref, sizeof(ref));
	fx_free(f);
	assert_string_equal(ref,
			    "A,50,110,20 T,50,1,100,2,18,0 T,50,2,101,2,16,0 T,50,3,102,2,14,0 "
			    "T,50,4,103,2,12,0 T,50,5,104,2,10,0 T,50,6,105,2,8,0 X,50,8,IOC|"
			    "M,3,99,2|"
			    "A,51,103,7 T,51,3,99,2,5,0 T,51,1,100,2,3,0 T,51,2,101,2,1,0 "
			    "T,51,4,103,1,0,1|"
			    "X,4,1,MASS X,5,2,MASS X,6,2,MASS");
	for (uint32_t cap = 1; cap <= 3; cap++) {
		f = fx_new(&P_DEF, cap);
		run_sink_scenario(f, got, sizeof(got));
		assert_string_equal(got, ref);
		assert_true(f->flushes > 0);
		fx_free(f);
	}
}


/* ---------------------------------------------------------------------------------- */
/* Order types: DAY, icebergs, stop orders                                             */

static void test_day_end_of_day(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	assert_string_equal(nw(f, 1, B, 100, 5, DAY, 0), "A,1,100,5");
	nw(f, 2, B, 100, 5, GTC, 0);
	nw(f, 3, B, 101, 5, DAY, 0);
	nw(f, 4, S, 105, 5, DAY, 0);
	nw(f, 5, S, 104, 5, DAY, 0);
	nx(f, 6, B, 110, 2, DAY, 0, 0, 120); /* held DAY stop */
	nx(f, 7, S, 90, 2, GTC, 0, 0, 80);   /* held GTC stop */
	nx(f, 8, S, 90, 2, DAY, 0, 0, 70);   /* held DAY stop */
	/* DAY trades like GTC. */
	assert_string_equal(nw(f, 9, S, 101, 1, IOC, 0), "A,9,101,1 T,9,3,101,1,0,4");
	/* Book order (bids best first, asks best first, queue order), then held stops in
	 * arrival order; GTC stays. */
	assert_string_equal(eod(f), "X,3,4,EXPIRE X,1,5,EXPIRE X,5,5,EXPIRE X,4,5,EXPIRE "
				    "X,6,2,EXPIRE X,8,2,EXPIRE");
	assert_string_equal(book_text(f), "B,100,2,5 H,S,80,90,7,2");
	assert_int_equal(me_book_count(f->b), 2);
	assert_int_equal(me_book_held(f->b), 1);
	assert_string_equal(eod(f), "");
	/* DAY in the POST_CROSS, FULL order like GTC. */
	fx_free(f);
}

static void test_reject_invalid_ext(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nw(f, 1, S, 110, 5, GTC, 0);
	/* show: only with GTC, DAY, POST; 0 < show < qty; not with stop; not < 0. */
	assert_string_equal(nx(f, 2, B, 100, 5, IOC, 0, 2, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, FOK, 0, 2, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, 5, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, 6, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, -1, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, 2, 99), "R,2,INVALID");
	/* stop: not < 0, not with POST. */
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, 0, -5), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, POST, 0, 0, 99), "R,2,INVALID");
	/* The plain rules still apply, and INVALID comes before TICK/BAND/MAX_QTY/DUP. */
	assert_string_equal(nx(f, 2, 2, 100, 5, GTC, 0, 2, 0), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 100, 5, 5, 0, 0, 99), "R,2,INVALID");
	assert_string_equal(nx(f, 2, B, 0, 5, GTC, 0, 0, 99), "R,2,INVALID");
	assert_string_equal(nx(f, 1, B, 100000, 5, IOC, 0, 2, 0), "R,1,INVALID");
	assert_string_equal(nx(f, 2, B, 100000, 5, GTC, 0, 2, 0), "R,2,BAND");
	assert_string_equal(nx(f, 2, B, 100, 5000000, GTC, 0, 0, 99), "R,2,MAX_QTY");
	/* Valid: each tif an iceberg may have; a stop with IOC, FOK, DAY. */
	assert_string_equal(nx(f, 2, B, 100, 5, GTC, 0, 2, 0), "A,2,100,5");
	assert_string_equal(nx(f, 3, B, 99, 5, DAY, 0, 4, 0), "A,3,99,5");
	assert_string_equal(nx(f, 4, B, 98, 5, POST, 0, 1, 0), "A,4,98,5");
	assert_string_equal(nx(f, 5, B, 111, 5, IOC, 0, 0, 120), "A,5,111,5");
	assert_string_equal(nx(f, 6, B, 111, 5, FOK, 0, 0, 120), "A,6,111,5");
	assert_string_equal(nx(f, 7, B, 111, 5, DAY, 0, 0, 120), "A,7,111,5");
	/* A POST iceberg that would cross. */
	assert_string_equal(nx(f, 8, B, 110, 5, POST, 0, 1, 0), "R,8,POST_CROSS");
	/* An id that is resting or held is DUP, whatever the new order is. */
	assert_string_equal(nx(f, 2, S, 120, 5, GTC, 0, 0, 90), "R,2,DUP");
	assert_string_equal(nw(f, 5, S, 120, 5, GTC, 0), "R,5,DUP");
	assert_string_equal(nx(f, 6, S, 120, 5, GTC, 0, 2, 0), "R,6,DUP");
	/* MODIFY of a held stop: INVALID, TICK, BAND, MAX_QTY on the new values. */
	assert_string_equal(md(f, 5, 0, 5), "R,5,INVALID");
	assert_string_equal(md(f, 5, 111, 0), "R,5,INVALID");
	assert_string_equal(md(f, 5, 100000, 5), "R,5,BAND");
	assert_string_equal(md(f, 5, 111, 5000000), "R,5,MAX_QTY");
	assert_string_equal(book_text(f), "B,100,2,5/2 B,99,3,5/4 B,98,4,5/1 S,110,1,5 "
					  "H,B,120,111,5,5 H,B,120,111,6,5 H,B,120,111,7,5");
	fx_free(f);
}

static void test_iceberg_refill_mid_sweep(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	/* Level 100: iceberg 1 (6, show 2), plain 2 (3), iceberg 3 (4, show 3). */
	assert_string_equal(nx(f, 1, S, 100, 6, GTC, 0, 2, 0), "A,1,100,6");
	nw(f, 2, S, 100, 3, GTC, 0);
	nx(f, 3, S, 100, 4, GTC, 0, 3, 0);
	nw(f, 4, S, 101, 2, GTC, 0);
	/* Best shows visible parts only: 2 + 3 + 3. */
	assert_int_equal(best_qty(f, S), 8);
	/* 1's visible 2, then 2 (3), 3's visible 3, then 1 refilled (2), 3 refilled (1),
	 * 1 (2), then the next level. */
	assert_string_equal(nw(f, 10, B, 101, 15, GTC, 0),
			    "A,10,101,15 T,10,1,100,2,13,4 T,10,2,100,3,10,0 T,10,3,100,3,7,1 "
			    "T,10,1,100,2,5,2 T,10,3,100,1,4,0 T,10,1,100,2,2,0 "
			    "T,10,4,101,2,0,0");
	assert_string_equal(book_text(f), "");
	/* An aggressor that ends exactly on a visible part: the iceberg refills and goes
	 * behind the later order. */
	nx(f, 20, S, 100, 5, GTC, 0, 2, 0);
	nw(f, 21, S, 100, 1, GTC, 0);
	assert_string_equal(nw(f, 22, B, 100, 2, IOC, 0), "A,22,100,2 T,22,20,100,2,0,3");
	assert_string_equal(book_text(f), "S,100,21,1 S,100,20,3/2");
	/* A partial take of the visible part keeps the place. */
	assert_string_equal(nw(f, 23, B, 100, 1, IOC, 0), "A,23,100,1 T,23,21,100,1,0,0");
	assert_string_equal(nw(f, 24, B, 100, 1, IOC, 0), "A,24,100,1 T,24,20,100,1,0,2");
	assert_string_equal(book_text(f), "S,100,20,2/1");
	/* An incoming iceberg uses its whole quantity, then rests showing min(show, rest). */
	assert_string_equal(nx(f, 25, B, 100, 9, GTC, 0, 4, 0),
			    "A,25,100,9 T,25,20,100,1,8,1 T,25,20,100,1,7,0");
	assert_string_equal(book_text(f), "B,100,25,7/4");
	assert_int_equal(best_qty(f, B), 4);
	fx_free(f);
}

static void test_iceberg_modify_cancel(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nx(f, 1, B, 100, 10, GTC, 0, 4, 0);
	nw(f, 2, B, 100, 3, GTC, 0);
	/* Same price, less: keeps its place; visible = min(visible, qty). */
	assert_string_equal(md(f, 1, 100, 3), "M,1,100,3");
	assert_string_equal(book_text(f), "B,100,1,3/3 B,100,2,3");
	assert_string_equal(md(f, 1, 100, 3), "M,1,100,3");
	/* More: out and back in at the back, showing min(show, qty). */
	assert_string_equal(md(f, 1, 100, 9), "M,1,100,9");
	assert_string_equal(book_text(f), "B,100,2,3 B,100,1,9/4");
	/* A new price that crosses: trades as an aggressor with its whole quantity. */
	nw(f, 3, S, 101, 5, GTC, 0);
	assert_string_equal(md(f, 1, 101, 9), "M,1,101,9 T,1,3,101,5,4,0");
	assert_string_equal(book_text(f), "B,101,1,4/4 B,100,2,3");
	assert_string_equal(cx(f, 1), "X,1,4,CANCEL");
	/* A POST iceberg whose new price would cross is refused, unchanged. */
	nx(f, 4, B, 99, 6, POST, 0, 2, 0);
	nw(f, 5, S, 102, 1, GTC, 0);
	assert_string_equal(md(f, 4, 102, 6), "R,4,POST_CROSS");
	assert_string_equal(book_text(f), "B,100,2,3 B,99,4,6/2 S,102,5,1");
	/* Mass cancel takes icebergs too. */
	f->nrec = 0;
	me_book_mass_cancel(f->b, 0, -1, &f->s);
	rec_flush(&f->s);
	check_book(f);
	assert_string_equal(ev_text(f), "X,2,3,MASS X,4,6,MASS X,5,1,MASS");
	fx_free(f);
}

static void test_fok_iceberg_stp(void **state)
{
	(void)state;
	struct fx *f = fx_def();

	nx(f, 1, S, 100, 10, GTC, 1, 2, 0);
	nw(f, 2, S, 100, 3, GTC, 7);
	/* 13 at the level with refills (only 5 shown): fills. */
	assert_string_equal(nw(f, 10, B, 100, 13, FOK, 0),
			    "A,10,100,13 T,10,1,100,2,11,8 T,10,2,100,3,8,0 T,10,1,100,2,6,6 "
			    "T,10,1,100,2,4,4 T,10,1,100,2,2,2 T,10,1,100,2,0,0");
	/* Owner 7 behind iceberg 3: the FOK of owner 7 meets 3's visible part, then its own
	 * order before any refill: it can have 2, not 3. */
	nx(f, 3, S, 100, 10, GTC, 1, 2, 0);
	nw(f, 4, S, 100, 3, GTC, 7);
	assert_string_equal(nw(f, 11, B, 100, 3, FOK, 7), "A,11,100,3 X,11,3,FOK");
	assert_string_equal(nw(f, 12, B, 100, 2, FOK, 7), "A,12,100,2 T,12,3,100,2,0,8");
	/* Now 4 is first: owner 7 gets nothing; owner 1 cannot take its own iceberg. */
	assert_string_equal(nw(f, 13, B, 100, 1, FOK, 7), "A,13,100,1 X,13,1,FOK");
	assert_string_equal(nw(f, 14, B, 100, 4, FOK, 1), "A,14,100,4 X,14,4,FOK");
	/* More than the level holds, hidden included: refused. */
	assert_string_equal(nw(f, 15, B, 100, 12, FOK, 0), "A,15,100,12 X,15,12,FOK");
	assert_string_equal(nw(f, 16, B, 100, 11, FOK, 0),
			    "A,16,100,11 T,16,4,100,3,8,0 T,16,3,100,2,6,6 T,16,3,100,2,4,4 "
			    "T,16,3,100,2,2,2 T,16,3,100,2,0,0");
	/* STP against a refilled iceberg: a GTC of owner 1 stops at it. */
	nx(f, 5, S, 100, 4, GTC, 1, 1, 0);
	assert_string_equal(nw(f, 17, B, 100, 2, GTC, 1), "A,17,100,2 X,17,2,STP");
	fx_free(f);
}

static void test_stop_orders(void **state)
{
	(void)state;
	struct me_params p = P_DEF;
	p.max_orders = 8;
	struct fx *f = fx_new(&p, 2);

	assert_int_equal(me_book_last_price(f->b), 0);
	/* No trade yet: every stop is held. */
	assert_string_equal(nx(f, 1, B, 103, 2, GTC, 0, 0, 101), "A,1,103,2");
	assert_string_equal(nx(f, 2, S, 95, 1, IOC, 0, 0, 99), "A,2,95,1");
	assert_string_equal(nx(f, 3, B, 104, 2, GTC, 0, 0, 102), "A,3,104,2");
	assert_string_equal(nx(f, 4, B, 110, 1, FOK, 0, 0, 104), "A,4,110,1");
	assert_int_equal(me_book_held(f->b), 4);
	assert_int_equal(me_book_count(f->b), 4);
	/* Held stops are findable; CANCEL and MODIFY reach them. */
	struct me_order_view v;
	assert_int_equal(me_book_find(f->b, 4, &v), 0);
	assert_int_equal(v.stop, 104);
	assert_int_equal(v.price, 110);
	assert_string_equal(md(f, 4, 108, 1), "M,4,108,1");
	assert_string_equal(book_text(f), "H,B,101,103,1,2 H,S,99,95,2,1 H,B,102,104,3,2 "
					  "H,B,104,108,4,1");
	/* A trade at 101 elects 1 (stop 101); 1 trades at 102 and elects 3 (stop 102), which
	 * trades at 103; 4 (stop 104) stays held. Each S comes after the order before it
	 * finished. */
	nw(f, 10, S, 101, 1, GTC, 0);
	nw(f, 11, S, 102, 2, GTC, 0);
	nw(f, 12, S, 103, 2, GTC, 0);
	assert_string_equal(nw(f, 20, B, 101, 1, IOC, 0),
			    "A,20,101,1 T,20,10,101,1,0,0 S,1 T,1,11,102,2,0,0 S,3 "
			    "T,3,12,103,2,0,0");
	assert_int_equal(me_book_last_price(f->b), 103);
	assert_string_equal(book_text(f), "H,S,99,95,2,1 H,B,104,108,4,1");
	/* A trade at 104 elects 4, an FOK that cannot fill: X FOK; its slot is free again. */
	nw(f, 13, S, 104, 1, GTC, 0);
	assert_string_equal(nw(f, 21, B, 104, 1, GTC, 0),
			    "A,21,104,1 T,21,13,104,1,0,0 S,4 X,4,1,FOK");
	assert_int_equal(me_book_count(f->b), 1);
	/* Elected at once: the last price (104) already satisfies a sell stop at 105; its
	 * trade at 96 then elects 2 (sell stop 99), an IOC that takes what is left. */
	nw(f, 14, B, 96, 3, GTC, 0);
	assert_string_equal(nx(f, 5, S, 96, 2, GTC, 0, 0, 105),
			    "A,5,96,2 S,5 T,5,14,96,2,0,1 S,2 T,2,14,96,1,0,0");
	assert_string_equal(book_text(f), "");
	assert_int_equal(me_book_count(f->b), 0);
	/* Held stops take pool slots: with 8 held, a ninth is FULL, and so is a GTC; an
	 * elected stop needs no new slot. */
	char want[32];
	for (int64_t id = 30; id < 38; id++) {
		snprintf(want, sizeof(want), "A,%lld,100,1", (long long)id);
		assert_string_equal(nx(f, id, S, 100, 1, GTC, 0, 0, 50), want);
	}
	assert_string_equal(nx(f, 38, S, 100, 1, GTC, 0, 0, 50), "R,38,FULL");
	assert_string_equal(nw(f, 38, S, 100, 1, GTC, 0), "R,38,FULL");
	/* An IOC needs no slot; an IOC stop elected at once neither. */
	assert_string_equal(nw(f, 38, S, 100, 1, IOC, 0), "A,38,100,1 X,38,1,IOC");
	assert_string_equal(nx(f, 39, B, 100, 1, IOC, 0, 0, 90), "A,39,100,1 S,39 X,39,1,IOC");
	/* ... but a held one does. */
	assert_string_equal(nx(f, 40, B, 100, 1, IOC, 0, 0, 120), "R,40,FULL");
	/* C on a held stop. */
	assert_string_equal(cx(f, 30), "X,30,1,CANCEL");
	assert_string_equal(cx(f, 30), "R,30,UNKNOWN");
	/* A trade at 50 elects the seven left in arrival order; each rests in turn (a slot
	 * of its own, none taken). */
	assert_string_equal(nx(f, 41, B, 50, 1, GTC, 0, 0, 0), "A,41,50,1");
	assert_string_equal(nw(f, 42, S, 50, 1, IOC, 0),
			    "A,42,50,1 T,42,41,50,1,0,0 S,31 S,32 S,33 S,34 S,35 S,36 S,37");
	assert_int_equal(me_book_held(f->b), 0);
	assert_int_equal(me_book_count(f->b), 7);
	fx_free(f);
}

/* Ids that differ only in a pattern matching the hash multiplier's inverse (here
 * (i << 32) * phi^-1 mod 2^64: all with the same low 32 bits): with plain Fibonacci
 * hashing (id * phi) their hashes share their top bits, so 100,000 of them landed in a
 * handful of home slots and took 11 s of linear probing (sequential ids: 30 ms). The hash
 * now folds the id's top half into the bottom half first. The check is the index's
 * displacement, not a time: under the old hash it was in the billions. */
static void test_id_index_mixing(void **state)
{
	(void)state;
	const uint32_t n = 100000;
	const uint64_t inv_phi = 0xf1de83e19937733dull; /* 0x9e3779b97f4a7c15^-1 mod 2^64 */
	struct me_params p = { .price_lo = 1, .price_hi = 1000, .tick = 1, .max_qty = 1000,
			       .max_orders = n };
	size_t sz = me_book_memsize(&p);
	void *mem = aligned_alloc(64, (sz + 63) & ~(size_t)63);
	assert_non_null(mem);
	struct me_book *b = me_book_init(mem, sz, &p);
	assert_non_null(b);
	static struct me_event ev[8];
	struct me_sink s = { .ev = ev, .cap = 8, .flush = NULL };
	for (uint32_t i = 1; i <= n; i++) {
		struct me_cmd c = { .type = ME_CMD_NEW, .side = ME_BUY, .tif = ME_GTC,
				    .id = (int64_t)(((uint64_t)i << 32) * inv_phi),
				    .price = 1 + i % 500, .qty = 1 };
		s.n = 0;
		assert_int_equal(me_book_apply(b, &c, &s), 1);
		assert_int_equal(ev[0].type, ME_EV_ACCEPT);
	}
	uint64_t max = 0, sum = me_book_ix_displacement(b, &max);
	printf("test_id_index_mixing: %u ids, displacement %llu in all, %llu at most\n", n,
	       (unsigned long long)sum, (unsigned long long)max);
	assert_true(sum < 4ull * n);
	assert_true(max < 64);
	const char *what = NULL;
	assert_int_equal(me_book_check(b, &what), 0);
	for (uint32_t i = 1; i <= n; i++) {
		struct me_cmd c = { .type = ME_CMD_CANCEL,
				    .id = (int64_t)(((uint64_t)i << 32) * inv_phi) };
		s.n = 0;
		assert_int_equal(me_book_apply(b, &c, &s), 1);
		assert_int_equal(ev[0].type, ME_EV_OUT);
	}
	assert_int_equal(me_book_count(b), 0);
	assert_int_equal(me_book_ix_displacement(b, NULL), 0);
	free(mem);
}

/* A book snapshot (me_snap.c, format version 2) holds icebergs' show and visible part,
 * held stops in arrival order and the last trade price, and restores them exactly;
 * version 1 is refused with a message that says why. */
static void test_snapshot_order_types(void **state)
{
	(void)state;
	struct fx *f = fx_def();
	static char a[4096], bb[4096];

	nx(f, 1, S, 100, 10, GTC, 0, 3, 0);
	nw(f, 2, S, 100, 4, DAY, 0);
	nw(f, 3, B, 99, 5, POST, 0);
	nw(f, 4, B, 100, 4, IOC, 0); /* the iceberg's visible 3, then 1 of order 2 */
	nx(f, 5, B, 105, 2, DAY, 0, 0, 103);
	nx(f, 6, S, 90, 1, FOK, 0, 0, 95);
	nx(f, 7, B, 106, 2, GTC, 0, 0, 104);
	strcpy(a, book_text(f));
	assert_string_equal(a, "B,99,3,5 S,100,2,3 S,100,1,7/3 H,B,103,105,5,2 H,S,95,90,6,1 "
			       "H,B,104,106,7,2");
	static unsigned char buf[8192];
	struct dp_snap_w w;
	dp_snap_w_init(&w, buf, sizeof(buf));
	int64_t len = me_snap_save(f->b, &w);
	assert_true(len > 0 && (size_t)len <= me_snap_bound(&f->p));
	struct fx *g = fx_def();
	char err[256];
	assert_int_equal(me_snap_load(g->b, buf, (size_t)len, err, sizeof(err)), 0);
	check_book(g);
	assert_string_equal(book_text(g), a);
	assert_int_equal(me_book_last_price(g->b), 100);
	/* Both books go on alike: a buy stop at 100 is elected at once in each. */
	strcpy(a, nx(f, 8, B, 100, 1, IOC, 0, 0, 100));
	strcpy(bb, nx(g, 8, B, 100, 1, IOC, 0, 0, 100));
	assert_string_equal(a, "A,8,100,1 S,8 T,8,2,100,1,0,2");
	assert_string_equal(bb, a);
	/* Version 1 (or any other) is refused, saying which. */
	struct fx *h = fx_def();
	struct dp_snap_sect sect;
	memcpy(&sect, buf, sizeof(sect));
	sect.version = 1;
	memcpy(buf, &sect, sizeof(sect));
	assert_int_equal(me_snap_load(h->b, buf, (size_t)len, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 1 predates icebergs and stop orders"));
	sect.version = 3;
	memcpy(buf, &sect, sizeof(sect));
	assert_int_equal(me_snap_check(h->b, buf, (size_t)len, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "newer build"));
	fx_free(f);
	fx_free(g);
	fx_free(h);
}
/* ---------------------------------------------------------------------------------- */
/* Randomised: invariants hold under a long random mix, against a tiny reference for   */
/* the live set.                                                                       */

static uint64_t rng_state = 0x853c49e6748fea9bull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_random_invariants(void **state)
{
	(void)state;
	struct me_params p = { .price_lo = 90, .price_hi = 110, .tick = 1, .max_qty = 50,
			       .max_orders = 40 };
	struct fx *f = fx_new(&p, 3);

	for (int step = 0; step < 20000; step++) {
		uint64_t r = rnd();
		int64_t id = (int64_t)(rnd() % 80) - 20; /* collisions on purpose */
		switch (r % 10) {
		case 0: case 1: case 2: case 3: case 4: {
			int side = (int)((r >> 8) & 1);
			int64_t px = 95 + (int64_t)((r >> 16) % 11);
			int64_t qty = 1 + (int64_t)((r >> 24) % 12);
			int tif = (int)((r >> 32) % 4);
			uint64_t owner = (r >> 40) % 4;
			nw(f, id, side, px, qty, tif, owner);
			break;
		}
		case 5: case 6: case 7:
			cx(f, id);
			break;
		case 8:
			md(f, id, 95 + (int64_t)((r >> 16) % 11), 1 + (int64_t)((r >> 24) % 12));
			break;
		default:
			if ((r >> 20) % 50 == 0) {
				f->nrec = 0;
				me_book_mass_cancel(f->b, (r >> 30) % 4, (int)((r >> 40) % 3) - 1,
						    &f->s);
				rec_flush(&f->s);
				check_book(f);
			}
			break;
		}
		/* Every live order is findable and walk sees exactly count orders. */
		struct walk_buf w = { .p = f->text, .cap = sizeof(f->text) };
		me_book_walk(f->b, walk_fmt, &w);
		assert_int_equal((uint32_t)w.seen, me_book_count(f->b));
	}
	fx_free(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_init_errors),
		cmocka_unit_test(test_gtc_rests),
		cmocka_unit_test(test_trade_at_resting_price),
		cmocka_unit_test(test_price_time_priority),
		cmocka_unit_test(test_partial_fill_rests),
		cmocka_unit_test(test_sweep_levels),
		cmocka_unit_test(test_ioc),
		cmocka_unit_test(test_fok),
		cmocka_unit_test(test_fok_blocked_by_stp),
		cmocka_unit_test(test_post),
		cmocka_unit_test(test_stp_new),
		cmocka_unit_test(test_reject_invalid),
		cmocka_unit_test(test_reject_tick),
		cmocka_unit_test(test_reject_band),
		cmocka_unit_test(test_reject_max_qty),
		cmocka_unit_test(test_reject_dup),
		cmocka_unit_test(test_reject_full),
		cmocka_unit_test(test_reject_order_post_last),
		cmocka_unit_test(test_cancel),
		cmocka_unit_test(test_modify_reduce_keeps_priority),
		cmocka_unit_test(test_modify_increase_loses_priority),
		cmocka_unit_test(test_modify_price_reenters),
		cmocka_unit_test(test_modify_crosses_and_trades),
		cmocka_unit_test(test_modify_stp),
		cmocka_unit_test(test_modify_post),
		cmocka_unit_test(test_modify_rejects),
		cmocka_unit_test(test_mass_cancel),
		cmocka_unit_test(test_cancel_where),
		cmocka_unit_test(test_seed),
		cmocka_unit_test(test_best_depth),
		cmocka_unit_test(test_walk_order_and_stop),
		cmocka_unit_test(test_find),
		cmocka_unit_test(test_extreme_ids),
		cmocka_unit_test(test_tick_grid),
		cmocka_unit_test(test_tick_divisor_sweep),
		cmocka_unit_test(test_big_quantities),
		cmocka_unit_test(test_wide_book),
		cmocka_unit_test(test_shift),
		cmocka_unit_test(test_day_end_of_day),
		cmocka_unit_test(test_reject_invalid_ext),
		cmocka_unit_test(test_iceberg_refill_mid_sweep),
		cmocka_unit_test(test_iceberg_modify_cancel),
		cmocka_unit_test(test_fok_iceberg_stp),
		cmocka_unit_test(test_stop_orders),
		cmocka_unit_test(test_id_index_mixing),
		cmocka_unit_test(test_snapshot_order_types),
		cmocka_unit_test(test_sink_small_caps),
		cmocka_unit_test(test_random_invariants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
