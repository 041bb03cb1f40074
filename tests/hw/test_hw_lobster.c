/*
 * test_hw_lobster.c - the top-N level engine (hw_sim, N = 4 and 8) mirroring the C
 * engine's book through a real NASDAQ day (LOBSTER GOOG 2012-06-21, replayed by
 * tests/oracle/lobster.h): after every replay step both sides' top K levels are diffed
 * into level operations (hw_mirror.h), run back to back, and every result is checked;
 * every 64 steps and at the end the engine's top N must equal me_book_depth().
 *
 * Usage: test_hw_lobster DIR [MAX_STEPS]. Prints "N passed, N failed"; exits 77 when
 * DIR or xz is missing, 1 on any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_mirror.h"
#include "lobster.h"
#include "me_book.h"

#define K_WINDOW 32

static void check(struct hwm *m, const struct me_book *b, const char *where)
{
	int64_t bp[8], bq[8], ap[8], aq[8];
	uint32_t nb = me_book_depth(b, ME_BUY, bp, bq, m->n);
	uint32_t na = me_book_depth(b, ME_SELL, ap, aq, m->n);
	hwm_flush(m);
	hwm_check_book(m, bp, bq, nb, ap, aq, na, where);
}

int main(int argc, char **argv)
{
	if (argc < 2 || argc > 3) {
		fprintf(stderr, "usage: test_hw_lobster DIR [MAX_STEPS]\n");
		return 2;
	}
	uint64_t max_steps = argc == 3 ? strtoull(argv[2], NULL, 0) : UINT64_MAX;
	if (!lob_have_xz()) {
		printf("test_hw_lobster: skipped: xz not on PATH\n");
		return 77;
	}
	struct lob_day d;
	char err[256];
	int rc = lob_load(&d, argv[1], 1, err, sizeof(err));
	if (rc == -ENOENT) {
		printf("test_hw_lobster: skipped: no LOBSTER day in %s (%s)\n", argv[1], err);
		return 77;
	}
	if (rc != 0) {
		fprintf(stderr, "test_hw_lobster: %s\n", err);
		return 1;
	}
	struct me_params p;
	lob_params(&d, &p);
	size_t len = me_book_memsize(&p);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct me_book *b = mem ? me_book_init(mem, len, &p) : NULL;
	struct lob_replay *r = b ? lob_replay_new(&d, b, NULL) : NULL;
	struct hwm m[2];
	const unsigned ns[2] = { 4, 8 };
	if (r == NULL || hwm_init(&m[0], 4, K_WINDOW, p.price_lo, p.tick) != 0 ||
	    hwm_init(&m[1], 8, K_WINDOW, p.price_lo, p.tick) != 0) {
		fprintf(stderr, "test_hw_lobster: setup failed\n");
		return 1;
	}
	int64_t px[K_WINDOW], qx[K_WINDOW];
	struct lob_step st;
	uint64_t steps = 0;
	for (;;) {
		/* The book as seeded from row 0 first, then after every step. */
		for (int side = 0; side < 2; side++) {
			uint32_t n = me_book_depth(b, side, px, qx, K_WINDOW);
			for (int i = 0; i < 2; i++)
				hwm_sync(&m[i], side, px, qx, n);
		}
		if (steps % 64 == 0)
			for (int i = 0; i < 2; i++)
				check(&m[i], b, "periodic");
		if (steps >= max_steps || lob_replay_step(r, &st) != 1)
			break;
		steps++;
	}
	uint64_t passed = 0, failed = 0;
	for (int i = 0; i < 2; i++) {
		check(&m[i], b, "final");
		printf("test_hw_lobster: N=%u: %" PRIu64 " steps, %" PRIu64 " level ops (%" PRIu64
		       " add, %" PRIu64 " sub, %" PRIu64 " refill; %" PRIu64 " miss; %" PRIu64
		       " evicted): %" PRIu64 " passed, %" PRIu64 " failed\n",
		       ns[i], steps, m[i].by_op[1] + m[i].by_op[2] + m[i].by_op[3], m[i].by_op[1],
		       m[i].by_op[2], m[i].by_op[3], m[i].by_code[HW_MISS], m[i].evicts,
		       m[i].passed, m[i].failed);
		passed += m[i].passed;
		failed += m[i].failed;
		hwm_free(&m[i]);
	}
	printf("test_hw_lobster: %" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	lob_replay_free(r);
	free(mem);
	lob_free(&d);
	return failed ? 1 : 0;
}
