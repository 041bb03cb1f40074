/*
 * tests/proto/test_price.c - tokex/price.h: decimal text <-> price units, the one
 * conversion every program uses.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tokex/price.h"

static int64_t parse_ok(const char *s)
{
	int64_t v = 12345;
	assert_int_equal(tkx_price_parse(s, &v), 0);
	return v;
}

static void parse_bad(const char *s, int rc)
{
	int64_t v = 777;
	assert_int_equal(tkx_price_parse(s, &v), rc);
	assert_int_equal(v, 777); /* untouched */
}

static void test_parse(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2.5010"), 25010);
	assert_int_equal(parse_ok("2.501"), 25010);
	assert_int_equal(parse_ok("2.5"), 25000);
	assert_int_equal(parse_ok("25"), 250000);
	assert_int_equal(parse_ok("0.0001"), 1);
	assert_int_equal(parse_ok("-0.0001"), -1);
	assert_int_equal(parse_ok("+3"), 30000);
	assert_int_equal(parse_ok("0"), 0);
	assert_int_equal(parse_ok("-0"), 0);
	assert_int_equal(parse_ok("007.5"), 75000);
	/* The ends of int64: INT64_MAX, and -INT64_MAX (INT64_MIN is the null price). */
	assert_true(parse_ok("922337203685477.5807") == INT64_MAX);
	assert_true(parse_ok("-922337203685477.5807") == -INT64_MAX);
	parse_bad("922337203685477.5808", -ERANGE);
	parse_bad("-922337203685477.5808", -ERANGE);
	parse_bad("922337203685478", -ERANGE);
	parse_bad("99999999999999999999999", -ERANGE);
	/* Not prices. */
	parse_bad("", -EINVAL);
	parse_bad("-", -EINVAL);
	parse_bad(".5", -EINVAL);
	parse_bad("2.", -EINVAL);
	parse_bad("2.50101", -EINVAL); /* finer than the unit: refused, not rounded */
	parse_bad("2,5", -EINVAL);
	parse_bad(" 2.5", -EINVAL);
	parse_bad("2.5 ", -EINVAL);
	parse_bad("1e4", -EINVAL);
	parse_bad("--1", -EINVAL);
	parse_bad("0x10", -EINVAL);
	assert_int_equal(tkx_price_parse(NULL, &(int64_t){0}), -EINVAL);
	assert_int_equal(tkx_price_parse("1", NULL), -EINVAL);
}

static void fmt(int64_t v, const char *want)
{
	char buf[TKX_PRICE_TEXT_MAX];
	assert_int_equal(tkx_price_format(v, buf, sizeof(buf)), (int)strlen(want));
	assert_string_equal(buf, want);
}

static void test_format(void **state)
{
	(void)state;
	fmt(25010, "2.5010");
	fmt(1, "0.0001");
	fmt(-1, "-0.0001");
	fmt(0, "0.0000");
	fmt(-250000, "-25.0000");
	fmt(INT64_MAX, "922337203685477.5807");
	fmt(-INT64_MAX, "-922337203685477.5807");
	fmt(INT64_MIN, "null");
	char small[7];
	assert_int_equal(tkx_price_format(25010, small, 6), -ENOSPC); /* "2.5010" + NUL: 7 */
	assert_int_equal(tkx_price_format(25010, small, 7), 6);
	assert_string_equal(small, "2.5010");
	assert_int_equal(tkx_price_format(INT64_MIN, small, 4), -ENOSPC);
}

/* Every text the formatter writes parses back to the same units. */
static void test_round_trip(void **state)
{
	(void)state;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 100000; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		int64_t v = (int64_t)(x >> (i % 60));
		if (i & 1)
			v = -v;
		if (v == INT64_MIN)
			continue;
		char buf[TKX_PRICE_TEXT_MAX];
		assert_true(tkx_price_format(v, buf, sizeof(buf)) > 0);
		int64_t back = 0;
		assert_int_equal(tkx_price_parse(buf, &back), 0);
		assert_true(back == v);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_round_trip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
