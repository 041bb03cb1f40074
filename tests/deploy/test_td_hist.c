/* test_td_hist.c - tokexd's latency histogram (dataplane/tokexd/td_metrics.h): every value
 * lands in the bucket whose bounds hold it, bounds rise, the extremes go to the first and
 * the last bucket; and what td_hist_add costs (printed: ns per call, a hot-path figure). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "td_metrics.h"

static void test_buckets(void **state)
{
	(void)state;
	for (unsigned i = 1; i < TD_HIST_N - 1; i++)
		assert_true(td_hist_bound(i) > td_hist_bound(i - 1));
	assert_int_equal(td_hist_bucket(0), 0);
	assert_int_equal(td_hist_bucket(127), 0);
	assert_int_equal(td_hist_bucket(128), 1);
	assert_int_equal(td_hist_bucket(191), 1);
	assert_int_equal(td_hist_bucket(192), 2);
	assert_int_equal(td_hist_bucket(255), 2);
	assert_int_equal(td_hist_bucket(256), 3);
	assert_int_equal(td_hist_bucket(UINT64_MAX), TD_HIST_N - 1);
	/* Every value below the last bound lies in [bound(i-1), bound(i)). */
	for (uint64_t v = 1; v < td_hist_bound(TD_HIST_N - 2); v = v * 17 / 16 + 1) {
		unsigned i = td_hist_bucket(v);
		assert_true(i < TD_HIST_N - 1);
		assert_true(v < td_hist_bound(i));
		assert_true(i == 0 || v >= td_hist_bound(i - 1));
	}
	assert_int_equal(td_hist_bucket(td_hist_bound(TD_HIST_N - 2)), TD_HIST_N - 1);
	struct td_hist h;
	memset(&h, 0, sizeof(h));
	td_hist_add(&h, -5); /* the wall clock stepped back: 0 */
	td_hist_add(&h, 1000);
	assert_int_equal(h.b[0], 1);
	assert_int_equal(h.b[td_hist_bucket(1000)], 1);
	assert_int_equal(h.sum_ns, 1000);
}

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The hot-path cost, informative (no bound: this machine may be loaded): the best of many
 * short runs, so that another process taking the CPU does not count. Values from a
 * precomputed table across every bucket, as a burst of replies would give. */
static void test_cost(void **state)
{
	(void)state;
	static struct td_hist h;
	static int64_t v[4096];
	enum { N = 100000, RUNS = 200 };
	uint64_t x = 88172645463325252ull, best = UINT64_MAX, base = UINT64_MAX;
	for (int i = 0; i < 4096; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v[i] = (int64_t)((x >> 40) >> (x & 15)); /* 0 .. 2^24 ns, log-spread */
	}
	for (int run = 0; run < RUNS; run++) {
		uint64_t t0 = mono_ns();
		for (int i = 0; i < N; i++)
			td_hist_add(&h, v[i & 4095]);
		uint64_t t = mono_ns() - t0;
		best = t < best ? t : best;
		t0 = mono_ns();
		for (int i = 0; i < N; i++)
			__asm__ volatile("" : : "r"(v[i & 4095]) : "memory");
		t = mono_ns() - t0;
		base = t < base ? t : base;
	}
	printf("td_hist_add: %.2f ns per call (best of %d runs of %d; the loop alone %.2f ns)\n",
	       (double)best / N, RUNS, N, (double)base / N);
	assert_true(h.sum_ns != 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_cost),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
