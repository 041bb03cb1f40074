/*
 * test_lobster.c - the matching engine against a real trading day: NASDAQ GOOG
 * 2012-06-21 from the LOBSTER sample set, replayed as lobster.h describes.
 *
 * What must hold (../shared/data/lobster/README.md explains why these are the right
 * expectations for this data):
 *  - after every step the engine's top levels equal the file's at every price that was
 *    visible before the step (levels entering the window are resynchronised, counted,
 *    and allowed);
 *  - every aggressive run whose reachable queue holds no anonymous volume fills exactly
 *    the orders LOBSTER names, in order, with the sizes it names, except the runs listed
 *    in known_exceptions[] below, each a real case of NASDAQ filling a younger order
 *    before an older one at the same price; the list must match exactly;
 *  - adds never trade, IOCs never lack volume, no command is rejected, me_book_check()
 *    passes throughout;
 *  - the recorded command log (what bench_book replays) reproduces the final book.
 *
 * Usage: test_lobster DIR   (DIR holds the *_message_10.csv.xz and orderbook files)
 * Exits 77 when DIR or xz is missing.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "lobster.h"
#include "me_book.h"

#define PRINT_MAX 20

/* Runs where NASDAQ's fills are not in price-time order, found by this test and checked
 * by hand against the message file; each fills a younger order at one price before an
 * older one that was resting there, fully visible, since it was added. Timestamps are
 * the runs' (ns after midnight). Everything else checked must match. */
static const struct {
	int64_t t_ns;
	const char *why;
} known_exceptions[] = {
	{ 44655443558534LL, "ask 571.12: fills 149725949 (added 44655.442356069) while "
			    "149725946 (added 44655.442265646) rests ahead; it is deleted "
			    "87 us later" },
	{ 55816587634288LL, "ask 565.01: five 100-lots, all filled, reported in the order "
			    "216 227 270 176 263 (ids 2567441xx) instead of arrival order "
			    "176 216 227 263 270" },
	{ 57439537284395LL, "ask 564.21: fills 283640099 (added 57439.536777059) before "
			    "283640098 (added 57439.536689351), which fills 1.3 ms later" },
};

static const char *g_dir;

struct book_mem {
	void *mem;
	struct me_book *b;
};

static void book_new(struct book_mem *bm, const struct me_params *p)
{
	size_t sz = (me_book_memsize(p) + 63) & ~(size_t)63;
	assert_true(sz > 0);
	bm->mem = aligned_alloc(64, sz);
	assert_non_null(bm->mem);
	bm->b = me_book_init(bm->mem, sz, p);
	assert_non_null(bm->b);
}

static void print_fills(const char *who, const struct lob_fill *f, uint32_t n)
{
	printf("    %s:", who);
	for (uint32_t i = 0; i < n; i++)
		printf(" %" PRId64 "x%" PRId64 "@%" PRId64, f[i].id, f[i].qty, f[i].price);
	printf("\n");
}

static int is_known_exception(int64_t t)
{
	for (size_t i = 0; i < sizeof(known_exceptions) / sizeof(known_exceptions[0]); i++)
		if (known_exceptions[i].why && known_exceptions[i].t_ns == t)
			return 1;
	return 0;
}

/* Snapshot of a book for comparing two replays. */
struct snap {
	struct me_order_view *v;
	size_t n, cap;
};

static int snap_cb(void *arg, const struct me_order_view *o)
{
	struct snap *s = arg;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->v = realloc(s->v, s->cap * sizeof(*s->v));
		if (!s->v)
			return -ENOMEM;
	}
	s->v[s->n++] = *o;
	return 0;
}

static void sink_reset(struct me_sink *s)
{
	s->n = 0;
}

static void test_lobster_day(void **state)
{
	(void)state;
	struct lob_day d;
	struct me_params p;
	struct book_mem bm, bm2;
	struct lob_log log;
	struct lob_step st;
	char err[512];
	const char *what = NULL;

	memset(&log, 0, sizeof(log));
	int rc = lob_load(&d, g_dir, 1, err, sizeof(err));
	if (rc)
		fail_msg("loading %s: %s", g_dir, err);
	lob_params(&d, &p);
	printf("test_lobster: %zu rows; adds %" PRIu64 ", partial cancels %" PRIu64
	       ", deletes %" PRIu64 ", visible executions %" PRIu64 ", hidden %" PRIu64 "\n",
	       d.n, d.count[1], d.count[2], d.count[3], d.count[4], d.count[5]);
	printf("  params: prices [%" PRId64 ", %" PRId64 "] tick %" PRId64 ", max_orders %u\n",
	       p.price_lo, p.price_hi, p.tick, p.max_orders);
	assert_int_equal(d.tick, 100); /* every visible price is on the cent grid */
	book_new(&bm, &p);

	struct lob_replay *r = lob_replay_new(&d, bm.b, &log);
	assert_non_null(r);
	uint64_t unlisted = 0, printed_mm = 0, steps = 0;
	int64_t *seen_exc = calloc(d.n, sizeof(*seen_exc));
	size_t nseen = 0;
	assert_non_null(seen_exc);
	while (lob_replay_step(r, &st) == 1) {
		if (st.mismatches && printed_mm++ < PRINT_MAX)
			printf("  MISMATCH %s\n", lob_replay_last_mismatch(r));
		if (st.type == LOB_EXEC && st.checked && !st.matched) {
			int64_t t = d.msg[st.first].t_ns;
			int known = is_known_exception(t);
			seen_exc[nseen++] = t;
			unlisted += !known;
			printf("  exception%s: t=%" PRId64 " (%" PRId64 ".%09" PRId64
			       ") rows %zu-%zu\n",
			       known ? " (known)" : " NOT IN THE LIST", t, t / 1000000000,
			       t % 1000000000, st.first, st.last);
			print_fills("LOBSTER", st.want, st.nwant);
			print_fills("engine ", st.got, st.ngot);
		}
		if (++steps % 8192 == 0 && me_book_check(bm.b, &what) != 0)
			fail_msg("me_book_check after row %zu: %s", st.last, what);
	}
	if (me_book_check(bm.b, &what) != 0)
		fail_msg("me_book_check at the end: %s", what);

	const struct lob_stats *s = lob_replay_stats(r);
	printf("  replayed %" PRIu64 " rows in %" PRIu64 " steps: %" PRIu64 " commands, %" PRIu64
	       " events, %" PRIu64 " seeds\n",
	       s->msgs, s->steps, s->cmds, s->events, s->seeds);
	printf("  aggressive runs %" PRIu64 ", checked %" PRIu64 ", matched %" PRIu64
	       ", exceptions %" PRIu64 " (not in the list: %" PRIu64 ")\n",
	       s->runs, s->runs_checked, s->runs_matched, s->exceptions, unlisted);
	printf("  resyncs %" PRIu64 " (up %" PRIu64 ", down %" PRIu64 "), mismatches %" PRIu64
	       ", repairs %" PRIu64 ", levels made anonymous %" PRIu64 "\n",
	       s->resyncs, s->resync_up, s->resync_down, s->mismatches, s->repairs,
	       s->anonymized);
	printf("  anonymous-order events %" PRIu64 " (short of volume %" PRIu64
	       "), size mismatches %" PRIu64 ", unexpected %" PRIu64 "\n",
	       s->unknown_ids, s->anon_short, s->size_mismatch, s->unexpected);
	fflush(stdout);

	assert_int_equal(s->msgs, d.n - 1);
	assert_int_equal(s->mismatches, 0);
	assert_int_equal(s->unexpected, 0);
	assert_int_equal(s->size_mismatch, 0); /* known orders: engine size == LOBSTER's */
	assert_int_equal(unlisted, 0);
	/* Every listed exception must still occur: one that vanished means the engine now
	 * fills out of price-time order exactly where NASDAQ did, which it must not. */
	for (size_t i = 0; i < sizeof(known_exceptions) / sizeof(known_exceptions[0]); i++) {
		if (!known_exceptions[i].why)
			continue;
		int found = 0;
		for (size_t k = 0; k < nseen; k++)
			found |= seen_exc[k] == known_exceptions[i].t_ns;
		if (!found)
			fail_msg("listed exception t=%" PRId64 " did not occur", known_exceptions[i].t_ns);
	}
	/* Not vacuous: most runs are checkable and almost all of those match. */
	assert_true(s->runs_checked > s->runs / 2);
	assert_true(s->runs_matched * 1000 >= s->runs_checked * 995);

	/* The recorded log, replayed without the driver, ends in the same book. */
	book_new(&bm2, &p);
	assert_int_equal(lob_log_seed_initial(&log, bm2.b), 0);
	struct me_event evbuf[256];
	struct me_sink sink = { .ev = evbuf, .cap = 256, .flush = sink_reset };
	size_t si = 0;
	while (si < log.nseed && log.seed[si].at == 0)
		si++;
	for (size_t i = 0; i < log.ncmd; i++) {
		for (; si < log.nseed && log.seed[si].at == i; si++) {
			const struct lob_seed *sd = &log.seed[si];
			assert_int_equal(me_book_seed(bm2.b, sd->id, sd->side, sd->price, sd->qty, 0,
						      0, sd->at_head),
					 0);
		}
		sink.n = 0;
		me_book_apply(bm2.b, &log.cmd[i], &sink);
	}
	for (; si < log.nseed; si++) {
		const struct lob_seed *sd = &log.seed[si];
		assert_int_equal(me_book_seed(bm2.b, sd->id, sd->side, sd->price, sd->qty, 0, 0,
					      sd->at_head),
				 0);
	}
	struct snap a = { 0 }, b = { 0 };
	assert_int_equal(me_book_walk(bm.b, snap_cb, &a), 0);
	assert_int_equal(me_book_walk(bm2.b, snap_cb, &b), 0);
	assert_int_equal(a.n, b.n);
	for (size_t i = 0; i < a.n; i++) {
		assert_int_equal(a.v[i].id, b.v[i].id);
		assert_int_equal(a.v[i].qty, b.v[i].qty);
		assert_int_equal(a.v[i].price, b.v[i].price);
	}
	printf("  log: %zu commands, %zu seeds; replaying it alone gives the same book (%zu "
	       "orders)\n",
	       log.ncmd, log.nseed, a.n);

	free(a.v);
	free(b.v);
	free(seen_exc);
	lob_replay_free(r);
	lob_log_free(&log);
	free(bm.mem);
	free(bm2.mem);
	lob_free(&d);
}

int main(int argc, char **argv)
{
	struct stat sb;

	if (argc != 2) {
		fprintf(stderr, "usage: test_lobster DIR\n");
		return 2;
	}
	g_dir = argv[1];
	if (stat(g_dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
		printf("SKIP: LOBSTER data directory %s not found (CI checks out shared/ beside "
		       "the clone)\n",
		       g_dir);
		return 77;
	}
	if (!lob_have_xz()) {
		printf("SKIP: xz is not installed (apt-get install xz-utils)\n");
		return 77;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lobster_day),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
