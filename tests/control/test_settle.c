/* test_settle.c - cp_settle: rounding, VWAP, limits, the band rule, the index file and
 * final settlement, each checked against a hand computation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_settle.h"

static char path[64];

static const char *write_file(const char *text)
{
	snprintf(path, sizeof(path), "/tmp/tokex-index-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_rounding(void **state)
{
	(void)state;
	/* Half away from zero, to the tick of 10. */
	assert_int_equal(cp_round_tick(14, 1, 10), 10);
	assert_int_equal(cp_round_tick(15, 1, 10), 20);
	assert_int_equal(cp_round_tick(24, 1, 10), 20);
	assert_int_equal(cp_round_tick(25, 1, 10), 30);
	assert_int_equal(cp_round_tick(-25, 1, 10), -30);
	assert_int_equal(cp_round_tick(-24, 1, 10), -20);
	/* 1006999 / 40 = 25174.975: below the half, down. */
	assert_int_equal(cp_round_tick(1006999, 40, 10), 25170);
	assert_int_equal(cp_round_tick(1007000, 40, 10), 25180); /* exactly 25175: up */
	/* Tick 1: plain rounding of a ratio. */
	assert_int_equal(cp_round_tick(5, 2, 1), 3);
	assert_int_equal(cp_round_tick(7, 3, 1), 2);
	/* No overflow with a day's notional near 2^63. */
	assert_int_equal(cp_round_tick((__int128)INT64_C(4000000000000000000) * 3, 
				       INT64_C(400000000000000), 10), 30000);
}

static void test_vwap(void **state)
{
	(void)state;
	/* 10 @ 2.5100 and 30 @ 2.5200: (251000 + 756000) / 40 = 25175 -> 25180. */
	assert_int_equal(cp_settle_vwap(1007000, 40, 10, 25000), 25180);
	/* No trade: the previous settlement. */
	assert_int_equal(cp_settle_vwap(0, 0, 10, 25000), 25000);
	/* One trade: its price. */
	assert_int_equal(cp_settle_vwap(25130 * 7, 7, 10, 25000), 25130);
}

static void test_limits(void **state)
{
	(void)state;
	int64_t lo, hi;
	cp_settle_limits(25000, 800, 10, &lo, &hi);
	assert_int_equal(lo, 23000);
	assert_int_equal(hi, 27000);
	/* 25180 * 8% = 2014.4 -> 2014: [23166, 27194] rounded inwards -> [23170, 27190]. */
	cp_settle_limits(25180, 800, 10, &lo, &hi);
	assert_int_equal(lo, 23170);
	assert_int_equal(hi, 27190);
	/* 12 % of 27190 = 3262.8 -> 3262: [23928, 30452] -> [23930, 30450]. */
	cp_settle_limits(27190, 1200, 10, &lo, &hi);
	assert_int_equal(lo, 23930);
	assert_int_equal(hi, 30450);
	/* Never below one tick. */
	cp_settle_limits(10, 9999, 10, &lo, &hi);
	assert_int_equal(lo, 10);
	struct cp_band_rule r = {800, 1600, 1200};
	assert_int_equal(cp_settle_band_bp(&r, 1, 0), 1600);
	assert_int_equal(cp_settle_band_bp(&r, 1, 1), 1600);
	assert_int_equal(cp_settle_band_bp(&r, 0, 0), 800);
	assert_int_equal(cp_settle_band_bp(&r, 0, 1), 1200); /* limit-up locked */
	assert_int_equal(cp_settle_band_bp(&r, 0, 2), 1200); /* limit-down locked */
	assert_int_equal(cp_settle_band_bp(&r, 0, 4), 800);  /* a vol halt alone: normal */
}

static void test_prices(void **state)
{
	(void)state;
	int64_t p;
	char buf[32];
	assert_int_equal(cp_parse_price("2.5123", &p), 0);
	assert_int_equal(p, 25123);
	assert_int_equal(cp_parse_price("2.5", &p), 0);
	assert_int_equal(p, 25000);
	assert_int_equal(cp_parse_price("3", &p), 0);
	assert_int_equal(p, 30000);
	assert_int_equal(cp_parse_price("2.51234", &p), -EINVAL);
	assert_int_equal(cp_parse_price("2.", &p), -EINVAL);
	assert_int_equal(cp_parse_price(".5", &p), -EINVAL);
	assert_int_equal(cp_parse_price("-2.5", &p), -EINVAL);
	assert_int_equal(cp_parse_price("0", &p), -EINVAL);
	assert_int_equal(cp_parse_price("2.5 ", &p), -EINVAL);
	assert_int_equal(cp_parse_price("", &p), -EINVAL);
	cp_format_price(25123, buf, sizeof(buf));
	assert_string_equal(buf, "2.5123");
	cp_format_price(7, buf, sizeof(buf));
	assert_string_equal(buf, "0.0007");
}

static struct cp_fixings fx;

static int load(const char *text, char *err, size_t len)
{
	int rc = cp_index_load(write_file(text), &fx, err, len);
	unlink(path);
	return rc;
}

static void expect_error(const char *text, int line, const char *what)
{
	char err[256], want[96];
	assert_int_equal(load(text, err, sizeof(err)), -EINVAL);
	snprintf(want, sizeof(want), "%s:%d: ", path, line);
	if (strncmp(err, want, strlen(want)) != 0 || !strstr(err, what))
		fail_msg("got '%s', want '%s...%s'", err, want, what);
	assert_int_equal(fx.n, 0);
}

static void test_index_file(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(load("# AI inference token index, CNY per 1M tokens\n"
			      "\n2026-03-02,2.5000   # Monday\n2026-03-03,2.5100\r\n", err,
			      sizeof(err)), -EINVAL); /* spaces before a comment are not allowed */
	assert_int_equal(load("# AI inference token index, CNY per 1M tokens\n"
			      "\n2026-03-02,2.5000# Monday\n2026-03-03,2.51\r\n", err, sizeof(err)),
			 0);
	assert_int_equal(fx.n, 2);
	assert_int_equal(fx.price[0], 25000);
	assert_int_equal(fx.price[1], 25100);
	expect_error("2026-03-02,2.5\n2026-03-02,2.6\n", 2, "not after the previous");
	expect_error("2026-03-03,2.5\n2026-03-02,2.6\n", 2, "not after the previous");
	expect_error("\n\n2026-02-30,2.5\n", 3, "'2026-02-30' is not a date");
	expect_error("2026-03-02;2.5\n", 1, "expected YYYY-MM-DD,price");
	expect_error("2026-03-02,2.50001\n", 1, "'2.50001' is not a price");
	expect_error("2026-03-02,\n", 1, "is not a price");
	expect_error("2026-03-02,abc\n", 1, "is not a price");
	expect_error("2026-03-02,0\n", 1, "is not a price");
	expect_error(" 2026-03-02,2.5\n", 1, "is not a date");
	assert_true(cp_index_load("/nonexistent/index.csv", &fx, err, sizeof(err)) == -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/index.csv: cannot open"));
}

/* March 2026: 22 business days. Fixings 2.5000, 2.5010, ... 2.5210 (25000 + 10 i):
 * sum = 22 * 25000 + 10 * 231 = 552310, mean 25105 -> 25110 (half away from zero). */
static void write_march(int skip_day, int extra)
{
	char text[4096];
	size_t n = 0;
	int i = 0;
	struct cp_cal cal;
	cp_cal_default(&cal);
	for (int d = 1; d <= 31; d++) {
		int32_t day = cp_days_from_civil(2026, 3, d);
		if (!cp_cal_is_business_day(&cal, day))
			continue;
		if (d != skip_day)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "2026-03-%02d,2.5%03d\n", d,
					      i * 10);
		i++;
	}
	if (extra) /* April is not March's business */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "2026-04-01,9.0000\n");
	char err[256];
	assert_int_equal(load(text, err, sizeof(err)), 0);
}

static void test_final(void **state)
{
	(void)state;
	struct cp_cal cal;
	cp_cal_default(&cal);
	struct cp_final f;
	char err[256];
	write_march(0, 1);
	assert_int_equal(fx.n, 23);
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 10, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n_used, 22);
	assert_int_equal(f.n_skipped, 0);
	assert_string_equal(f.skipped, "");
	assert_int_equal(f.price, 25110);
	/* Tick 1: the mean itself, 25105. */
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 1, &f, err, sizeof(err)), 0);
	assert_int_equal(f.price, 25105);
	/* A business day without a fixing. */
	write_march(17, 0);
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 10, &f, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "no index fixing for business day 2026-03-17"));
	/* ... unless it is a holiday. */
	cp_cal_add_holiday(&cal, cp_days_from_civil(2026, 3, 17));
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 10, &f, err, sizeof(err)), 0);
	assert_int_equal(f.n_used, 21);
	/* No fixing at all for the month. */
	fx.n = 0;
	assert_int_equal(cp_settle_final(&fx, &cal, 202604, 10, &f, err, sizeof(err)), -ENODATA);
	assert_non_null(strstr(err, "contract 202604: no index fixing"));
}

/* Rows dated on a weekend or a holiday of the month are not averaged: only the calendar's
 * business days count, and the skipped rows are named. (Averaging every row of the
 * month, a Saturday at 9.0000 and the holiday's row would move the mean to 2.7927.) */
static void test_final_business_days(void **state)
{
	(void)state;
	struct cp_cal cal;
	cp_cal_default(&cal);
	cp_cal_add_holiday(&cal, cp_days_from_civil(2026, 3, 9)); /* a Monday */
	char text[4096];
	size_t n = 0;
	int i = 0;
	for (int d = 1; d <= 31; d++) {
		int32_t day = cp_days_from_civil(2026, 3, d);
		if (d == 7) /* Saturday */
			n += (size_t)snprintf(text + n, sizeof(text) - n, "2026-03-07,9.0000\n");
		if (cp_weekday(day) >= 5)
			continue;
		/* Every weekday of the default calendar has its row: the holiday's too. */
		n += (size_t)snprintf(text + n, sizeof(text) - n, "2026-03-%02d,2.5%03d\n", d,
				      i * 10);
		i++;
	}
	char err[256];
	assert_int_equal(load(text, err, sizeof(err)), 0);
	assert_int_equal(fx.n, 23);
	struct cp_final f;
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 1, &f, err, sizeof(err)), 0);
	/* 22 rows 25000 + 10 i, less the holiday's (i = 5): 527260 / 21 = 25107.62. */
	assert_int_equal(f.n_used, 21);
	assert_int_equal(f.price, 25108);
	assert_int_equal(f.n_skipped, 2);
	assert_string_equal(f.skipped, "2026-03-07 (weekend), 2026-03-09 (holiday)");
	/* On the contract's tick of 10: 2.5110. */
	assert_int_equal(cp_settle_final(&fx, &cal, 202603, 10, &f, err, sizeof(err)), 0);
	assert_int_equal(f.price, 25110);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rounding),
		cmocka_unit_test(test_vwap),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_prices),
		cmocka_unit_test(test_index_file),
		cmocka_unit_test(test_final),
		cmocka_unit_test(test_final_business_days),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
