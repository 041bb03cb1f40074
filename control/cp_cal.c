/*
 * cp_cal.c - the trading calendar: day numbers, business days, sessions, contract months.
 *
 * Role: control plane, pure functions over a struct cp_cal; see cp_cal.h for the rules.
 */
#include "cp_cal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int32_t cp_days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (unsigned)((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1);
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int32_t)doe - 719468;
}

void cp_civil_from_days(int32_t z, int *y, int *m, int *d)
{
	z += 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int yy = (int)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yy + (*m <= 2);
}

int cp_weekday(int32_t day)
{
	/* 1970-01-01 was a Thursday (3 with Monday = 0). */
	int w = (int)((day + 3) % 7);
	return w < 0 ? w + 7 : w;
}

int cp_days_in_month(int y, int m)
{
	static const int dm[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

static int cp_digits(const char *s, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -EINVAL;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int cp_parse_date(const char *s, int32_t *day)
{
	int y, m, d;
	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-' || cp_digits(s, 4, &y) ||
	    cp_digits(s + 5, 2, &m) || cp_digits(s + 8, 2, &d))
		return -EINVAL;
	if (y < 1970 || m < 1 || m > 12 || d < 1 || d > cp_days_in_month(y, m))
		return -EINVAL;
	*day = cp_days_from_civil(y, m, d);
	return 0;
}

int cp_parse_hhmm(const char *s, uint32_t *min)
{
	int h, m;
	if (strlen(s) != 5 || s[2] != ':' || cp_digits(s, 2, &h) || cp_digits(s + 3, 2, &m))
		return -EINVAL;
	/* 24:00 is allowed as the end of the day. */
	if (m > 59 || h > 24 || (h == 24 && m != 0))
		return -EINVAL;
	*min = (uint32_t)(h * 60 + m);
	return 0;
}

int cp_parse_window(const char *s, struct cp_window *w)
{
	char a[6], b[6];
	if (strlen(s) != 11 || s[5] != '-')
		return -EINVAL;
	memcpy(a, s, 5);
	a[5] = '\0';
	memcpy(b, s + 6, 5);
	b[5] = '\0';
	if (cp_parse_hhmm(a, &w->start) || cp_parse_hhmm(b, &w->end) || w->start >= w->end)
		return -EINVAL;
	return 0;
}

void cp_format_date(int32_t day, char *buf, size_t len)
{
	int y, m, d;
	cp_civil_from_days(day, &y, &m, &d);
	snprintf(buf, len, "%04d-%02d-%02d", y, m, d);
}

void cp_cal_default(struct cp_cal *cal)
{
	memset(cal, 0, sizeof(*cal));
	cal->utc_offset_min = 480;
	cal->auction_entry = 8 * 60 + 55;
	cal->auction_match = 8 * 60 + 59;
	cal->sess[0] = (struct cp_window){9 * 60, 10 * 60 + 15};
	cal->sess[1] = (struct cp_window){10 * 60 + 30, 11 * 60 + 30};
	cal->sess[2] = (struct cp_window){13 * 60 + 30, 15 * 60};
	cal->n_sess = 3;
}

int cp_cal_add_holiday(struct cp_cal *cal, int32_t day)
{
	uint32_t i = 0;
	while (i < cal->n_holidays && cal->holidays[i] < day)
		i++;
	if (i < cal->n_holidays && cal->holidays[i] == day)
		return 0;
	if (cal->n_holidays == CP_MAX_HOLIDAYS)
		return -ENOSPC;
	memmove(&cal->holidays[i + 1], &cal->holidays[i],
		(cal->n_holidays - i) * sizeof(cal->holidays[0]));
	cal->holidays[i] = day;
	cal->n_holidays++;
	return 0;
}

int cp_cal_check(const struct cp_cal *cal, char *err, size_t errlen)
{
	if (cal->n_sess == 0) {
		snprintf(err, errlen, "trading.sessions: at least one session");
		return -EINVAL;
	}
	if (!(cal->auction_entry < cal->auction_match && cal->auction_match <= cal->sess[0].start)) {
		snprintf(err, errlen, "trading: need auction_entry < auction_match <= the first "
			 "session's start");
		return -EINVAL;
	}
	for (uint32_t i = 1; i < cal->n_sess; i++)
		if (cal->sess[i].start < cal->sess[i - 1].end) {
			snprintf(err, errlen, "trading.sessions[%u]: starts before session %u ends", i,
				 i - 1);
			return -EINVAL;
		}
	if (cal->utc_offset_min < -14 * 60 || cal->utc_offset_min > 14 * 60) {
		snprintf(err, errlen, "trading.utc_offset_min: outside [-840, 840]");
		return -EINVAL;
	}
	return 0;
}

int cp_cal_is_business_day(const struct cp_cal *cal, int32_t day)
{
	if (cp_weekday(day) >= 5)
		return 0;
	for (uint32_t i = 0; i < cal->n_holidays; i++)
		if (cal->holidays[i] == day)
			return 0;
	return 1;
}

int32_t cp_cal_next_business_day(const struct cp_cal *cal, int32_t day)
{
	do
		day++;
	while (!cp_cal_is_business_day(cal, day));
	return day;
}

int32_t cp_cal_prev_business_day(const struct cp_cal *cal, int32_t day)
{
	do
		day--;
	while (!cp_cal_is_business_day(cal, day));
	return day;
}

int32_t cp_cal_last_business_day(const struct cp_cal *cal, int y, int m)
{
	int32_t day = cp_days_from_civil(y, m, cp_days_in_month(y, m));
	/* A month has at least 20 weekdays; the holiday list is finite, so this ends. */
	while (!cp_cal_is_business_day(cal, day))
		day--;
	return day;
}

void cp_cal_local(const struct cp_cal *cal, uint64_t utc_ns, int32_t *day, uint32_t *minute)
{
	int64_t s = (int64_t)(utc_ns / 1000000000ull) + (int64_t)cal->utc_offset_min * 60;
	int64_t d = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
	*day = (int32_t)d;
	*minute = (uint32_t)((s - d * 86400) / 60);
}

uint64_t cp_cal_utc_ns(const struct cp_cal *cal, int32_t day, uint32_t minute)
{
	int64_t s = (int64_t)day * 86400 + (int64_t)minute * 60 - (int64_t)cal->utc_offset_min * 60;
	return (uint64_t)s * 1000000000ull;
}

int cp_cal_slot(const struct cp_cal *cal, int32_t day, uint32_t minute)
{
	if (!cp_cal_is_business_day(cal, day) || minute < cal->auction_entry)
		return CP_SLOT_NONE;
	if (minute < cal->auction_match)
		return CP_SLOT_PRE_OPEN;
	if (minute < cal->sess[0].start)
		return CP_SLOT_AUCTION;
	for (uint32_t i = 0; i < cal->n_sess; i++) {
		if (minute < cal->sess[i].start)
			return CP_SLOT_BREAK;
		if (minute < cal->sess[i].end)
			return CP_SLOT_CONTINUOUS;
	}
	return CP_SLOT_CLOSED;
}

uint64_t cp_cal_next_event(const struct cp_cal *cal, uint64_t utc_ns)
{
	int32_t day;
	uint32_t min;
	cp_cal_local(cal, utc_ns, &day, &min);
	for (int32_t d = day; d < day + CP_CAL_EVENT_DAYS; d++) {
		if (!cp_cal_is_business_day(cal, d))
			continue;
		/* Ascending (cp_cal_check): entry < uncross <= the first start < its end ... */
		uint32_t at[2 + 2 * CP_MAX_SESSIONS], n = 0;
		at[n++] = cal->auction_entry;
		at[n++] = cal->auction_match;
		for (uint32_t i = 0; i < cal->n_sess; i++) {
			at[n++] = cal->sess[i].start;
			at[n++] = cal->sess[i].end;
		}
		for (uint32_t i = 0; i < n; i++) {
			uint64_t t = cp_cal_utc_ns(cal, d, at[i]);
			if (t > utc_ns)
				return t;
		}
	}
	return UINT64_MAX;
}

uint32_t cp_cal_month_id(int y, int m)
{
	return (uint32_t)(y * 100 + m);
}

uint32_t cp_cal_month_add(uint32_t id, int k)
{
	int months = (int)(id / 100) * 12 + (int)(id % 100) - 1 + k;
	return cp_cal_month_id(months / 12, months % 12 + 1);
}

int cp_cal_month_valid(uint32_t id)
{
	return id / 100 >= 1970 && id / 100 <= 9999 && id % 100 >= 1 && id % 100 <= 12;
}

int32_t cp_cal_last_trading_day(const struct cp_cal *cal, uint32_t id)
{
	return cp_cal_last_business_day(cal, (int)(id / 100), (int)(id % 100));
}

uint32_t cp_cal_contract_ids(uint32_t first, uint32_t n, uint32_t *out)
{
	for (uint32_t i = 0; i < n; i++)
		out[i] = cp_cal_month_add(first, (int)i);
	return n;
}

void cp_cal_symbol(uint32_t id, char *buf, size_t len)
{
	snprintf(buf, len, "TKN%02u%02u", (id / 100) % 100, id % 100);
}
