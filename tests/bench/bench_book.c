/*
 * bench_book.c - throughput and per-message latency of the matching engine (me_book).
 *
 * Role: a benchmark program beside the tests, run by scripts/bench-book pinned to one
 * core; docs/BENCHMARKS.md records what it measured. Three workloads, every command
 * generated (or converted) into an array before any clock starts:
 *   quoting  a market-making mix around ~1,000 live orders: half limit orders (a quarter
 *            of them priced through the opposite best), half cancels;
 *   lobster  the NASDAQ GOOG day from ../shared/data/lobster, converted by the test
 *            oracle's replay driver (tests/oracle/lobster.c) into the exact command
 *            stream test_lobster checks; seeding from the first snapshot is untimed;
 *   deep     100,000 live orders over 10,000 levels, then adds, cancels and crosses.
 * Each run builds a fresh book (untimed), then
 *   pass 1  applies the whole array with one clock read before and one after:
 *           messages/s, no per-message timing in the loop;
 *   pass 2  on another fresh book, times every message with rdtsc ... rdtscp (lfence
 *           around them) and reports p50/p99/p99.9/max after subtracting the median
 *           cost of an empty timed region, measured the same way.
 * The TSC is calibrated against CLOCK_MONOTONIC over ~200 ms. Results are the median
 * of --runs runs (5 by default). The sink has room for 4,096 events; its flush only
 * counts and resets, as a matching core's would after handing a burst on.
 *
 * --short runs a tiny version of everything (a CTest, bench_book_short, checks that the
 * benchmark works; it asserts nothing about time).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#else
#define HAVE_TSC 0
#endif

#include "lobster.h"
#include "me_book.h"

#ifndef TOKEX_LOBSTER_DIR
#define TOKEX_LOBSTER_DIR "../shared/data/lobster"
#endif

#define SINK_CAP 4096
#define MAX_RUNS 101

/* ---- clocks --------------------------------------------------------------------- */

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#if HAVE_TSC
/* lfence before: earlier instructions have completed; after: later ones have not begun.
 * rdtscp waits for the timed code itself; the lfence after it keeps what follows out. */
static inline uint64_t t_begin(void)
{
	_mm_lfence();
	uint64_t t = __rdtsc();
	_mm_lfence();
	return t;
}

static inline uint64_t t_end(void)
{
	unsigned aux;
	uint64_t t = __rdtscp(&aux);
	_mm_lfence();
	return t;
}
#else
static inline uint64_t t_begin(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline uint64_t t_end(void)
{
	return t_begin();
}
#endif

/* Ticks per second of t_begin/t_end, measured against CLOCK_MONOTONIC. */
static double calibrate(double seconds)
{
	if (!HAVE_TSC)
		return 1e9;
	double s0 = now_s();
	uint64_t c0 = t_begin();
	while (now_s() - s0 < seconds)
		;
	uint64_t c1 = t_end();
	double s1 = now_s();
	return (double)(c1 - c0) / (s1 - s0);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The cost of an empty timed region, in ticks: the mean of the fastest 99.9% of n
 * samples (the slowest 0.1% are interrupts). The mean, not the median: where the
 * counter advances in coarse steps (about 24 ticks on the KVM guest this was written
 * on) each sample is the true cost rounded up or down by where the steps fall, and
 * only the mean averages that out. Also reports the three most frequent raw values,
 * which show the step. */
static double timer_overhead(size_t n, uint64_t common[3], double share[3])
{
	uint64_t *v = malloc(n * sizeof(*v));
	if (!v) {
		fprintf(stderr, "bench_book: out of memory\n");
		exit(1);
	}
	for (size_t i = 0; i < n; i++) {
		uint64_t t0 = t_begin();
		uint64_t t1 = t_end();
		v[i] = t1 - t0;
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	size_t keep = n - n / 1000;
	double sum = 0;
	for (size_t i = 0; i < keep; i++)
		sum += (double)v[i];
	for (int k = 0; k < 3; k++) {
		common[k] = 0;
		share[k] = 0;
	}
	for (size_t i = 0; i < n;) {
		size_t j = i;
		while (j < n && v[j] == v[i])
			j++;
		double sh = (double)(j - i) / (double)n;
		for (int k = 0; k < 3; k++)
			if (sh > share[k]) {
				for (int m = 2; m > k; m--) {
					share[m] = share[m - 1];
					common[m] = common[m - 1];
				}
				share[k] = sh;
				common[k] = v[i];
				break;
			}
		i = j;
	}
	free(v);
	return sum / (double)keep;
}

/* ---- PRNG ----------------------------------------------------------------------- */

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

/* ---- workloads ------------------------------------------------------------------ */

struct workload {
	const char *name;
	const char *what; /* one line for the report */
	struct me_params p;
	struct me_cmd *setup; /* applied untimed before each pass */
	size_t nsetup;
	struct lob_log log; /* lobster: seeds (at 0 untimed, later ones in the stream) */
	struct me_cmd *cmd;  /* the timed stream */
	size_t ncmd;
	/* what the generator saw, for the report */
	uint64_t n_new, n_cross, n_cancel, n_late_cancel;
	double live_avg;
};

/* The live set a generator keeps, by replaying what it generates on a scratch book. */
struct gen {
	struct me_book *b;
	void *mem;
	int64_t *live; /* ids */
	uint32_t *pos; /* id -> index in live[] + 1; 0 = not live */
	size_t nlive, maxid;
	int64_t *gone; /* ring of ids that left the book, for late cancels */
	size_t ngone;
	struct me_sink sink;
	struct me_event ev[SINK_CAP];
	uint64_t rng;
	double live_sum;
	size_t steps;
};

#define GONE_RING 4096

static void *xalloc(size_t n)
{
	void *p = calloc(1, n ? n : 1);
	if (!p) {
		fprintf(stderr, "bench_book: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	return p;
}

static struct me_book *book_new(const struct me_params *p, void **mem, size_t *len)
{
	size_t sz = me_book_memsize(p);
	if (sz == 0) {
		fprintf(stderr, "bench_book: bad book parameters\n");
		exit(1);
	}
	sz = (sz + 63) & ~(size_t)63;
	if (!*mem || *len < sz) {
		free(*mem);
		*mem = aligned_alloc(64, sz);
		if (!*mem) {
			fprintf(stderr, "bench_book: out of memory for a book\n");
			exit(1);
		}
		*len = sz;
	}
	struct me_book *b = me_book_init(*mem, *len, p);
	if (!b) {
		fprintf(stderr, "bench_book: me_book_init: %s\n", strerror(errno));
		exit(1);
	}
	return b;
}

static void gen_flush_nop(struct me_sink *s)
{
	s->n = 0;
}

static void gen_init(struct gen *g, const struct me_params *p, size_t maxid, uint64_t seed)
{
	size_t len = 0;
	memset(g, 0, sizeof(*g));
	g->b = book_new(p, &g->mem, &len);
	g->maxid = maxid;
	g->live = xalloc(maxid * sizeof(*g->live));
	g->pos = xalloc((maxid + 1) * sizeof(*g->pos));
	g->gone = xalloc(GONE_RING * sizeof(*g->gone));
	g->sink = (struct me_sink){ .ev = g->ev, .cap = SINK_CAP, .flush = gen_flush_nop };
	g->rng = seed;
}

static void gen_fini(struct gen *g)
{
	free(g->mem);
	free(g->live);
	free(g->pos);
	free(g->gone);
}

static void live_add(struct gen *g, int64_t id)
{
	g->live[g->nlive] = id;
	g->pos[id] = (uint32_t)++g->nlive;
}

static void live_del(struct gen *g, int64_t id)
{
	uint32_t i = g->pos[id];
	if (!i)
		return;
	int64_t last = g->live[--g->nlive];
	g->live[i - 1] = last;
	g->pos[last] = i;
	g->pos[id] = 0;
	g->gone[g->ngone++ % GONE_RING] = id;
}

/* Applies c to the scratch book and updates the live set from its events. The sink is
 * large enough for any one command here, so no flush happens mid-command. */
static void gen_apply(struct gen *g, const struct me_cmd *c)
{
	g->sink.n = 0;
	me_book_apply(g->b, c, &g->sink);
	for (uint32_t i = 0; i < g->sink.n; i++) {
		const struct me_event *e = &g->ev[i];
		if (e->type == ME_EV_TRADE && e->rleaves == 0)
			live_del(g, e->rid);
		else if (e->type == ME_EV_OUT && e->reason == ME_OUT_CANCEL)
			live_del(g, e->id);
	}
	if (c->type == ME_CMD_NEW && c->tif != ME_IOC && c->tif != ME_FOK) {
		struct me_order_view v;
		if (me_book_find(g->b, c->id, &v) == 0)
			live_add(g, c->id);
	}
	g->live_sum += (double)g->nlive;
	g->steps++;
}

static struct me_cmd mk_new(int64_t id, int side, int tif, int64_t px, int64_t qty)
{
	struct me_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = ME_CMD_NEW;
	c.side = (uint8_t)side;
	c.tif = (uint8_t)tif;
	c.id = id;
	c.price = px;
	c.qty = qty;
	c.user = (uint64_t)id;
	return c;
}

static struct me_cmd mk_cancel(int64_t id)
{
	struct me_cmd c;
	memset(&c, 0, sizeof(c));
	c.type = ME_CMD_CANCEL;
	c.id = id;
	return c;
}

/* A cancel: of a random live order while the book holds at least `target`, else of an
 * order that has just left (filled or cancelled: the cancel arrives late and is
 * rejected UNKNOWN, as real cancels racing fills are). That keeps the live count near
 * target although cancels outnumber resting adds. */
static struct me_cmd gen_cancel(struct gen *g, struct workload *w, size_t target)
{
	w->n_cancel++;
	if (g->nlive >= target || g->ngone == 0) {
		if (g->nlive == 0)
			return mk_cancel(-1);
		return mk_cancel(g->live[rng_below(&g->rng, g->nlive)]);
	}
	w->n_late_cancel++;
	size_t n = g->ngone < GONE_RING ? g->ngone : GONE_RING;
	return mk_cancel(g->gone[rng_below(&g->rng, n)]);
}

static void best_or(struct me_book *b, int side, int64_t dflt, int64_t *px)
{
	int64_t q;
	if (me_book_best(b, side, px, &q) != 0)
		*px = dflt;
}

/* (a) quoting: 50% limit orders, a quarter of them through the opposite best; 50%
 * cancels; ~1,000 live orders within 32 ticks of the touch. */
static void build_quoting(struct workload *w, size_t n)
{
	const size_t target = 1000;
	const int64_t mid0 = 10000;
	struct gen g;

	w->name = "quoting";
	w->p = (struct me_params){ .price_lo = 1, .price_hi = 20000, .tick = 1,
				   .max_qty = 1000000, .max_orders = 1u << 14 };
	size_t total = n + target;
	gen_init(&g, &w->p, total + 1, 0x5eed0001);
	w->setup = xalloc(target * sizeof(*w->setup));
	w->cmd = xalloc(n * sizeof(*w->cmd));
	int64_t id = 1;

	/* Untimed setup: 500 orders a side over 32 levels behind a 1-tick spread. */
	for (size_t i = 0; i < target; i++) {
		int side = (int)(i & 1);
		int64_t off = (int64_t)rng_below(&g.rng, 32);
		int64_t px = side == ME_BUY ? mid0 - 1 - off : mid0 + 1 + off;
		w->setup[i] = mk_new(id++, side, ME_GTC, px, 1 + (int64_t)rng_below(&g.rng, 10));
		gen_apply(&g, &w->setup[i]);
	}
	w->nsetup = target;
	g.live_sum = 0;
	g.steps = 0;
	for (size_t i = 0; i < n; i++) {
		struct me_cmd c;
		if (rng_below(&g.rng, 2) == 0) {
			int side = (int)rng_below(&g.rng, 2);
			int64_t bid, ask;
			best_or(g.b, ME_BUY, mid0 - 1, &bid);
			best_or(g.b, ME_SELL, mid0 + 1, &ask);
			if (rng_below(&g.rng, 4) == 0) {
				/* Through the opposite best by 0-2 ticks, for 1-10 lots (resting
				 * orders are 1-10 too): takes about one order, and rests what is
				 * left when it clears what it can reach. */
				int64_t d = (int64_t)rng_below(&g.rng, 3);
				int64_t px = side == ME_BUY ? ask + d : bid - d;
				c = mk_new(id++, side, ME_GTC, px, 1 + (int64_t)rng_below(&g.rng, 10));
				w->n_cross++;
			} else {
				int64_t off = (int64_t)rng_below(&g.rng, 32);
				int64_t px = side == ME_BUY ? ask - 1 - off : bid + 1 + off;
				c = mk_new(id++, side, ME_GTC, px, 1 + (int64_t)rng_below(&g.rng, 10));
			}
			w->n_new++;
		} else {
			c = gen_cancel(&g, w, target);
		}
		w->cmd[i] = c;
		gen_apply(&g, &c);
	}
	w->ncmd = n;
	w->live_avg = g.live_sum / (double)(g.steps ? g.steps : 1);
	gen_fini(&g);
}

/* (c) deep: `orders` live orders over `levels` levels (half a side), then 45% adds
 * anywhere in the depth, 45% cancels of random live orders (so mostly deep in the book
 * and mid-queue), 10% IOCs two ticks through the touch. */
static void build_deep(struct workload *w, size_t orders, size_t levels, size_t n)
{
	const int64_t mid = 100000;
	const int64_t half = (int64_t)levels / 2;
	struct gen g;

	w->name = "deep";
	w->p = (struct me_params){ .price_lo = 1, .price_hi = 2 * mid, .tick = 1,
				   .max_qty = 1000000,
				   .max_orders = (uint32_t)(orders + orders / 2 + 1024) };
	gen_init(&g, &w->p, orders + n + 1, 0x5eed0003);
	w->setup = xalloc(orders * sizeof(*w->setup));
	w->cmd = xalloc(n * sizeof(*w->cmd));
	int64_t id = 1;

	for (size_t i = 0; i < orders; i++) {
		int side = (int)(i & 1);
		int64_t lvl = (int64_t)((i / 2) % (size_t)half);
		int64_t px = side == ME_BUY ? mid - 1 - lvl : mid + 1 + lvl;
		w->setup[i] = mk_new(id++, side, ME_GTC, px, 1 + (int64_t)rng_below(&g.rng, 10));
		gen_apply(&g, &w->setup[i]);
	}
	w->nsetup = orders;
	g.live_sum = 0;
	g.steps = 0;
	for (size_t i = 0; i < n; i++) {
		struct me_cmd c;
		uint64_t k = rng_below(&g.rng, 100);
		int side = (int)rng_below(&g.rng, 2);
		int64_t bid, ask;
		best_or(g.b, ME_BUY, mid - 1, &bid);
		best_or(g.b, ME_SELL, mid + 1, &ask);
		if (k < 45) {
			int64_t off = (int64_t)rng_below(&g.rng, (uint64_t)half);
			int64_t px = side == ME_BUY ? ask - 1 - off : bid + 1 + off;
			c = mk_new(id++, side, ME_GTC, px, 1 + (int64_t)rng_below(&g.rng, 10));
			w->n_new++;
		} else if (k < 90) {
			c = gen_cancel(&g, w, orders);
		} else {
			int64_t px = side == ME_BUY ? ask + 2 : bid - 2;
			c = mk_new(id++, side, ME_IOC, px, 1 + (int64_t)rng_below(&g.rng, 10));
			w->n_new++;
			w->n_cross++;
		}
		w->cmd[i] = c;
		gen_apply(&g, &c);
	}
	w->ncmd = n;
	w->live_avg = g.live_sum / (double)(g.steps ? g.steps : 1);
	gen_fini(&g);
}

/* (b) the LOBSTER day, through the oracle's replay driver (untimed), recorded. */
static int build_lobster(struct workload *w, const char *dir, size_t limit)
{
	struct lob_day d;
	char err[512];

	w->name = "lobster";
	if (!lob_have_xz()) {
		printf("lobster: skipped: xz is not installed\n");
		return -ENOENT;
	}
	int rc = lob_load(&d, dir, 1, err, sizeof(err));
	if (rc) {
		printf("lobster: skipped: %s\n", err);
		return rc;
	}
	lob_params(&d, &w->p);
	void *mem = NULL;
	size_t len = 0;
	struct me_book *b = book_new(&w->p, &mem, &len);
	struct lob_replay *r = lob_replay_new(&d, b, &w->log);
	struct lob_step st;
	if (!r) {
		fprintf(stderr, "bench_book: lob_replay_new: %s\n", strerror(errno));
		exit(1);
	}
	while (w->log.ncmd < limit && lob_replay_step(r, &st) == 1)
		;
	lob_replay_free(r);
	free(mem);
	lob_free(&d);
	w->cmd = w->log.cmd;
	w->ncmd = w->log.ncmd < limit ? w->log.ncmd : limit;
	for (size_t i = 0; i < w->ncmd; i++) {
		if (w->cmd[i].type == ME_CMD_NEW) {
			w->n_new++;
			w->n_cross += w->cmd[i].tif == ME_IOC;
		} else if (w->cmd[i].type == ME_CMD_CANCEL) {
			w->n_cancel++;
		}
	}
	return 0;
}

/* ---- measurement ---------------------------------------------------------------- */

struct counting_sink {
	struct me_sink s;
	uint64_t events;
};

static void count_flush(struct me_sink *s)
{
	struct counting_sink *c = (struct counting_sink *)s;
	c->events += s->n;
	s->n = 0;
}

struct run_result {
	double mps;        /* pass 1: messages per second */
	double p50, p99, p999, max; /* pass 2: ns */
	uint64_t events;
	uint32_t live_end;
};

struct bench {
	double hz;
	double overhead; /* ticks */
	void *mem;
	size_t len;
	uint64_t *lat;
	size_t latcap;
	struct me_event *evbuf;
};

static struct me_book *prepare(struct bench *bn, struct workload *w, struct counting_sink *cs)
{
	struct me_book *b = book_new(&w->p, &bn->mem, &bn->len);
	for (size_t i = 0; i < w->nsetup; i++) {
		cs->s.n = 0;
		me_book_apply(b, &w->setup[i], &cs->s);
	}
	if (lob_log_seed_initial(&w->log, b) != 0) {
		fprintf(stderr, "bench_book: seeding %s failed\n", w->name);
		exit(1);
	}
	cs->s.n = 0;
	cs->events = 0;
	return b;
}

/* Index of the first logged seed that belongs inside the stream. */
static size_t first_mid_seed(const struct workload *w)
{
	size_t si = 0;
	while (si < w->log.nseed && w->log.seed[si].at == 0)
		si++;
	return si;
}

static void apply_seed(struct me_book *b, const struct lob_seed *s)
{
	if (me_book_seed(b, s->id, s->side, s->price, s->qty, 0, 0, s->at_head) != 0) {
		fprintf(stderr, "bench_book: a logged seed failed\n");
		exit(1);
	}
}

static void run_once(struct bench *bn, struct workload *w, struct run_result *res)
{
	struct counting_sink cs = { .s = { .ev = bn->evbuf, .cap = SINK_CAP, .flush = count_flush } };
	const struct me_cmd *cmd = w->cmd;
	const size_t n = w->ncmd;

	/* Pass 1: throughput. The LOBSTER stream has a few resynchronisation seeds inside
	 * it (see lobster.h); they run between segments and are inside the timing. */
	struct me_book *b = prepare(bn, w, &cs);
	size_t si = first_mid_seed(w), i = 0;
	double t0 = now_s();
	while (i < n) {
		size_t end = si < w->log.nseed && w->log.seed[si].at < n ? w->log.seed[si].at : n;
		for (; i < end; i++)
			me_book_apply(b, &cmd[i], &cs.s);
		for (; si < w->log.nseed && w->log.seed[si].at == i && i < n; si++)
			apply_seed(b, &w->log.seed[si]);
	}
	double t1 = now_s();
	res->mps = (double)n / (t1 - t0);
	res->events = cs.events + cs.s.n;
	res->live_end = me_book_count(b);

	/* Pass 2: per-message latency on a fresh book. */
	b = prepare(bn, w, &cs);
	si = first_mid_seed(w);
	for (i = 0; i < n; i++) {
		for (; si < w->log.nseed && w->log.seed[si].at == i; si++)
			apply_seed(b, &w->log.seed[si]);
		uint64_t a = t_begin();
		me_book_apply(b, &cmd[i], &cs.s);
		uint64_t z = t_end();
		bn->lat[i] = z - a;
	}
	if (cs.events + cs.s.n != res->events || me_book_count(b) != res->live_end) {
		fprintf(stderr, "bench_book: %s: the two passes disagree (%" PRIu64 " vs %" PRIu64
			" events)\n",
			w->name, res->events, cs.events + cs.s.n);
		exit(1);
	}
	qsort(bn->lat, n, sizeof(*bn->lat), cmp_u64);
	double ns = 1e9 / bn->hz;
#define LAT_NS(ix) \
	((double)bn->lat[ix] > bn->overhead ? ((double)bn->lat[ix] - bn->overhead) * ns : 0.0)
	res->p50 = LAT_NS(n / 2);
	res->p99 = LAT_NS((size_t)((double)n * 0.99));
	res->p999 = LAT_NS((size_t)((double)n * 0.999));
	res->max = LAT_NS(n - 1);
#undef LAT_NS
}

static double median(double *v, unsigned n)
{
	qsort(v, n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void measure(struct bench *bn, struct workload *w, unsigned runs)
{
	double mps[MAX_RUNS], p50[MAX_RUNS], p99[MAX_RUNS], p999[MAX_RUNS], mx[MAX_RUNS];
	struct run_result r;

	if (w->ncmd == 0)
		return;
	if (w->ncmd > bn->latcap) {
		free(bn->lat);
		bn->lat = xalloc(w->ncmd * sizeof(*bn->lat));
		bn->latcap = w->ncmd;
	}
	for (unsigned k = 0; k < runs; k++) {
		run_once(bn, w, &r);
		mps[k] = r.mps / 1e6;
		p50[k] = r.p50;
		p99[k] = r.p99;
		p999[k] = r.p999;
		mx[k] = r.max;
	}
	double worst = 0, lo = mps[0], hi = mps[0];
	for (unsigned k = 0; k < runs; k++) {
		worst = mx[k] > worst ? mx[k] : worst;
		lo = mps[k] < lo ? mps[k] : lo;
		hi = mps[k] > hi ? mps[k] : hi;
	}
	printf("%-8s %9zu %8.1f %5.1f-%-5.1f %7.1f %7.1f %9.1f %9.0f %9.0f   %.2f ev/msg, %u "
	       "live at end\n",
	       w->name, w->ncmd, median(mps, runs), lo, hi, median(p50, runs), median(p99, runs),
	       median(p999, runs), median(mx, runs), worst, (double)r.events / (double)w->ncmd,
	       r.live_end);
	fflush(stdout);
}

static void describe(const struct workload *w)
{
	if (w->ncmd == 0)
		return;
	double n = (double)w->ncmd;
	printf("  %-8s %zu timed messages: %.1f%% NEW (%.1f%% of all messages cross), %.1f%% "
	       "CANCEL (%.1f%% of all arrive late and are rejected UNKNOWN)",
	       w->name, w->ncmd, 100.0 * (double)w->n_new / n, 100.0 * (double)w->n_cross / n,
	       100.0 * (double)w->n_cancel / n, 100.0 * (double)w->n_late_cancel / n);
	if (w->nsetup)
		printf("; %zu untimed setup orders, %.0f live on average", w->nsetup, w->live_avg);
	else
		printf("; untimed seeding of the first snapshot, %zu resync seeds inside the "
		       "stream", w->log.nseed - first_mid_seed(w));
	printf("\n");
}

/* ---- main ----------------------------------------------------------------------- */

static void usage(FILE *f)
{
	fprintf(f,
		"usage: bench_book [--short] [--runs N] [--only quoting|lobster|deep] "
		"[--lobster DIR]\n"
		"  --short        tiny workloads, one run (a smoke test, not a measurement)\n"
		"  --runs N       runs per workload, median reported (1..%d, default 5)\n"
		"  --only NAME    one workload\n"
		"  --lobster DIR  LOBSTER data (default %s)\n",
		MAX_RUNS, TOKEX_LOBSTER_DIR);
}

static int parse_runs(const char *s, unsigned *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > MAX_RUNS)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "short", no_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "only", required_argument, NULL, 'o' },
		{ "lobster", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int shrt = 0, opt;
	unsigned runs = 5;
	const char *only = NULL, *dir = TOKEX_LOBSTER_DIR;

	while ((opt = getopt_long(argc, argv, "sr:o:l:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			shrt = 1;
			break;
		case 'r':
			if (parse_runs(optarg, &runs)) {
				fprintf(stderr, "bench_book: --runs wants 1..%d, not '%s'\n", MAX_RUNS,
					optarg);
				return 2;
			}
			break;
		case 'o':
			if (strcmp(optarg, "quoting") && strcmp(optarg, "lobster") &&
			    strcmp(optarg, "deep")) {
				fprintf(stderr, "bench_book: --only quoting, lobster or deep\n");
				return 2;
			}
			only = optarg;
			break;
		case 'l':
			dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (shrt)
		runs = 1;

	struct bench bn;
	memset(&bn, 0, sizeof(bn));
	bn.evbuf = xalloc(SINK_CAP * sizeof(*bn.evbuf));
	bn.hz = calibrate(shrt ? 0.02 : 0.2);
	uint64_t common[3];
	double share[3];
	bn.overhead = timer_overhead(shrt ? 10000 : 1000000, common, share);

	struct workload w[3];
	memset(w, 0, sizeof(w));
	int want_q = !only || !strcmp(only, "quoting");
	int want_l = !only || !strcmp(only, "lobster");
	int want_d = !only || !strcmp(only, "deep");
	if (want_q)
		build_quoting(&w[0], shrt ? 20000 : 2000000);
	if (want_l)
		build_lobster(&w[1], dir, shrt ? 10000 : SIZE_MAX);
	if (want_d) {
		if (shrt)
			build_deep(&w[2], 10000, 1000, 10000);
		else
			build_deep(&w[2], 100000, 10000, 1000000);
	}

	printf("bench_book%s: %u run%s per workload, medians reported\n", shrt ? " --short" : "",
	       runs, runs == 1 ? "" : "s");
	printf("timer: %s at %.1f MHz (calibrated against CLOCK_MONOTONIC over %d ms)\n",
	       HAVE_TSC ? "lfence;rdtsc;lfence ... rdtscp;lfence" : "clock_gettime",
	       bn.hz / 1e6, shrt ? 20 : 200);
	printf("timer overhead: an empty timed region reads %" PRIu64 " (%.0f%%), %" PRIu64
	       " (%.0f%%), %" PRIu64 " (%.0f%%) ticks; its mean, %.1f ticks = %.1f ns, is "
	       "subtracted from every sample\n",
	       common[0], 100 * share[0], common[1], 100 * share[1], common[2], 100 * share[2],
	       bn.overhead, bn.overhead * 1e9 / bn.hz);
	for (int k = 0; k < 3; k++)
		describe(&w[k]);
	printf("%-8s %9s %8s %11s %7s %7s %9s %9s %9s\n", "workload", "msgs", "Mmsg/s",
	       "(range)", "p50 ns", "p99 ns", "p99.9 ns", "max ns", "worst max");
	for (int k = 0; k < 3; k++)
		measure(&bn, &w[k], runs);

	for (int k = 0; k < 3; k++) {
		free(w[k].setup);
		if (w[k].cmd != w[k].log.cmd)
			free(w[k].cmd);
		lob_log_free(&w[k].log);
	}
	free(bn.mem);
	free(bn.lat);
	free(bn.evbuf);
	return 0;
}
