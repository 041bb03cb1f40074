/* test_cal.c - cp_cal: dates, business days, holidays, last business days, sessions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "cp_cal.h"

static int32_t D(const char *s)
{
	int32_t d;
	assert_int_equal(cp_parse_date(s, &d), 0);
	return d;
}

static void test_dates(void **state)
{
	(void)state;
	assert_int_equal(cp_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(cp_weekday(0), 3); /* Thursday */
	for (int32_t d = -1000; d < 40000; d += 7) {
		int y, m, dd;
		cp_civil_from_days(d, &y, &m, &dd);
		assert_int_equal(cp_days_from_civil(y, m, dd), d);
	}
	assert_int_equal(cp_weekday(D("2026-03-02")), 0); /* Monday */
	assert_int_equal(cp_weekday(D("2026-05-31")), 6); /* Sunday */
	assert_int_equal(cp_days_in_month(2024, 2), 29);
	assert_int_equal(cp_days_in_month(2100, 2), 28);
	assert_int_equal(cp_days_in_month(2000, 2), 29);
	int32_t d;
	assert_int_equal(cp_parse_date("2026-02-29", &d), -EINVAL);
	assert_int_equal(cp_parse_date("2026-13-01", &d), -EINVAL);
	assert_int_equal(cp_parse_date("2026-1-01", &d), -EINVAL);
	assert_int_equal(cp_parse_date("2026-01-01x", &d), -EINVAL);
	assert_int_equal(cp_parse_date("", &d), -EINVAL);
	char buf[16];
	cp_format_date(D("2028-02-29"), buf, sizeof(buf));
	assert_string_equal(buf, "2028-02-29");
	uint32_t m;
	assert_int_equal(cp_parse_hhmm("08:55", &m), 0);
	assert_int_equal(m, 535);
	assert_int_equal(cp_parse_hhmm("24:00", &m), 0);
	assert_int_equal(cp_parse_hhmm("24:01", &m), -EINVAL);
	assert_int_equal(cp_parse_hhmm("8:55", &m), -EINVAL);
	assert_int_equal(cp_parse_hhmm("08:60", &m), -EINVAL);
	struct cp_window w;
	assert_int_equal(cp_parse_window("09:00-10:15", &w), 0);
	assert_int_equal(w.start, 540);
	assert_int_equal(w.end, 615);
	assert_int_equal(cp_parse_window("10:15-09:00", &w), -EINVAL);
	assert_int_equal(cp_parse_window("09:00-09:00", &w), -EINVAL);
	assert_int_equal(cp_parse_window("09:00 10:15", &w), -EINVAL);
}

static void test_business_days(void **state)
{
	(void)state;
	struct cp_cal cal;
	cp_cal_default(&cal);
	assert_true(cp_cal_is_business_day(&cal, D("2026-03-06")));  /* Friday */
	assert_false(cp_cal_is_business_day(&cal, D("2026-03-07"))); /* Saturday */
	assert_false(cp_cal_is_business_day(&cal, D("2026-03-08"))); /* Sunday */
	assert_int_equal(cp_cal_next_business_day(&cal, D("2026-03-06")), D("2026-03-09"));
	assert_int_equal(cp_cal_prev_business_day(&cal, D("2026-03-09")), D("2026-03-06"));
	/* Holidays, added out of order and twice. */
	assert_int_equal(cp_cal_add_holiday(&cal, D("2026-10-02")), 0);
	assert_int_equal(cp_cal_add_holiday(&cal, D("2026-10-01")), 0);
	assert_int_equal(cp_cal_add_holiday(&cal, D("2026-10-01")), 0);
	assert_int_equal(cal.n_holidays, 2);
	assert_true(cal.holidays[0] < cal.holidays[1]);
	assert_false(cp_cal_is_business_day(&cal, D("2026-10-01")));
	assert_int_equal(cp_cal_next_business_day(&cal, D("2026-09-30")), D("2026-10-05"));
	for (int i = 0; i < CP_MAX_HOLIDAYS - 2; i++)
		assert_int_equal(cp_cal_add_holiday(&cal, D("2030-01-01") + i), 0);
	assert_int_equal(cp_cal_add_holiday(&cal, D("2031-01-01")), -ENOSPC);
}

static void test_last_business_day(void **state)
{
	(void)state;
	struct cp_cal cal;
	cp_cal_default(&cal);
	/* A month ending on a weekday, on a Sunday, on a Saturday. */
	assert_int_equal(cp_cal_last_business_day(&cal, 2026, 3), D("2026-03-31"));
	assert_int_equal(cp_cal_last_business_day(&cal, 2026, 5), D("2026-05-29"));
	assert_int_equal(cp_cal_last_business_day(&cal, 2026, 1), D("2026-01-30"));
	assert_int_equal(cp_cal_last_business_day(&cal, 2026, 10), D("2026-10-30"));
	/* A holiday on the last weekday pushes it back again (and over a weekend). */
	cp_cal_add_holiday(&cal, D("2026-05-29"));
	assert_int_equal(cp_cal_last_trading_day(&cal, 202605), D("2026-05-28"));
	cp_cal_add_holiday(&cal, D("2026-03-30"));
	cp_cal_add_holiday(&cal, D("2026-03-31"));
	assert_int_equal(cp_cal_last_trading_day(&cal, 202603), D("2026-03-27"));
	/* February in a leap year. */
	assert_int_equal(cp_cal_last_business_day(&cal, 2028, 2), D("2028-02-29"));
}

static void test_months(void **state)
{
	(void)state;
	assert_int_equal(cp_cal_month_add(202611, 1), 202612);
	assert_int_equal(cp_cal_month_add(202612, 1), 202701);
	assert_int_equal(cp_cal_month_add(202601, -1), 202512);
	assert_int_equal(cp_cal_month_add(202603, 24), 202803);
	uint32_t ids[12];
	assert_int_equal(cp_cal_contract_ids(202605, 12, ids), 12);
	assert_int_equal(ids[0], 202605);
	assert_int_equal(ids[7], 202612);
	assert_int_equal(ids[8], 202701);
	assert_int_equal(ids[11], 202704);
	assert_true(cp_cal_month_valid(202612));
	assert_false(cp_cal_month_valid(202613));
	assert_false(cp_cal_month_valid(202600));
	assert_false(cp_cal_month_valid(42));
	char s[16];
	cp_cal_symbol(202701, s, sizeof(s));
	assert_string_equal(s, "TKN2701");
}

static void test_slots(void **state)
{
	(void)state;
	struct cp_cal cal;
	char err[128];
	cp_cal_default(&cal);
	assert_int_equal(cp_cal_check(&cal, err, sizeof(err)), 0);
	int32_t mon = D("2026-03-02"), sat = D("2026-03-07");
	static const struct {
		const char *t;
		int slot;
	} want[] = {
		{"00:00", CP_SLOT_NONE},       {"08:54", CP_SLOT_NONE},
		{"08:55", CP_SLOT_PRE_OPEN},   {"08:58", CP_SLOT_PRE_OPEN},
		{"08:59", CP_SLOT_AUCTION},    {"09:00", CP_SLOT_CONTINUOUS},
		{"10:14", CP_SLOT_CONTINUOUS}, {"10:15", CP_SLOT_BREAK},
		{"10:30", CP_SLOT_CONTINUOUS}, {"11:30", CP_SLOT_BREAK},
		{"13:29", CP_SLOT_BREAK},      {"13:30", CP_SLOT_CONTINUOUS},
		{"14:59", CP_SLOT_CONTINUOUS}, {"15:00", CP_SLOT_CLOSED},
		{"23:59", CP_SLOT_CLOSED},
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		uint32_t m;
		assert_int_equal(cp_parse_hhmm(want[i].t, &m), 0);
		assert_int_equal(cp_cal_slot(&cal, mon, m), want[i].slot);
		assert_int_equal(cp_cal_slot(&cal, sat, m), CP_SLOT_NONE);
	}
	/* UTC <-> local (UTC+8): 09:00 Beijing is 01:00 UTC. */
	uint64_t ns = cp_cal_utc_ns(&cal, mon, 540);
	assert_true(ns == (uint64_t)mon * CP_NS_PER_DAY + 3600ull * 1000000000ull);
	int32_t day;
	uint32_t minute;
	cp_cal_local(&cal, ns + 59ull * 1000000000ull, &day, &minute);
	assert_int_equal(day, mon);
	assert_int_equal(minute, 540);
	/* 23:30 UTC on Sunday is Monday 07:30 in Beijing. */
	cp_cal_local(&cal, cp_cal_utc_ns(&cal, mon, 450), &day, &minute);
	assert_int_equal(day, mon);
	assert_int_equal(minute, 450);
	/* Bad orders of times. */
	cal.auction_match = cal.sess[0].start + 1;
	assert_int_equal(cp_cal_check(&cal, err, sizeof(err)), -EINVAL);
	cp_cal_default(&cal);
	cal.sess[1].start = cal.sess[0].end - 1;
	assert_int_equal(cp_cal_check(&cal, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sessions[1]"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dates),
		cmocka_unit_test(test_business_days),
		cmocka_unit_test(test_last_business_day),
		cmocka_unit_test(test_months),
		cmocka_unit_test(test_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
