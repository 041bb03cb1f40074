/*
 * cp_clock.c - the calendar's clock, and ISO-8601 times and rates for the operator; see
 * cp_clock.h.
 *
 * Role: control plane; arithmetic, and cp_clock_read() reads the system's two clocks
 * (clock_gettime through the vDSO: no system call).
 */
#include "cp_clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cp_cal.h"

#define CP_NS 1000000000ull

void cp_clock_wall(struct cp_clock *c)
{
	memset(c, 0, sizeof(*c));
	c->rate = CP_CLOCK_RATE_ONE;
}

void cp_clock_sim(struct cp_clock *c, uint64_t start_ns, uint64_t rate, uint64_t mono_now)
{
	c->base_cal = start_ns;
	c->base_mono = mono_now;
	c->rate = rate;
	c->sim = 1;
	c->held = 0;
}

void cp_clock_hold(struct cp_clock *c, uint64_t mono_now)
{
	if (!c->sim || c->held)
		return;
	c->base_cal = cp_clock_now(c, mono_now, 0);
	c->held = 1;
}

void cp_clock_resume(struct cp_clock *c, uint64_t mono_now)
{
	if (!c->held)
		return;
	c->base_mono = mono_now;
	c->held = 0;
}

void cp_clock_set_rate(struct cp_clock *c, uint64_t rate, uint64_t mono_now)
{
	if (!c->sim)
		return;
	c->base_cal = cp_clock_now(c, mono_now, 0);
	c->base_mono = mono_now;
	c->rate = rate;
}

int cp_clock_advance(struct cp_clock *c, uint64_t cal_ns, uint64_t mono_now)
{
	if (!c->sim)
		return -ENOTSUP;
	if (cal_ns < cp_clock_now(c, mono_now, 0))
		return -EINVAL;
	c->base_cal = cal_ns;
	c->base_mono = mono_now;
	c->held = 1;
	return 0;
}

uint64_t cp_clock_now(const struct cp_clock *c, uint64_t mono_ns, uint64_t wall_ns)
{
	if (!c->sim)
		return wall_ns;
	if (c->held)
		return c->base_cal;
	uint64_t d = mono_ns > c->base_mono ? mono_ns - c->base_mono : 0;
	unsigned __int128 t = (unsigned __int128)d * c->rate / CP_CLOCK_RATE_ONE + c->base_cal;
	return t > UINT64_MAX ? UINT64_MAX : (uint64_t)t;
}

static uint64_t cp_clock_sys(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * CP_NS + (uint64_t)ts.tv_nsec;
}

uint64_t cp_clock_mono(void)
{
	return cp_clock_sys(CLOCK_MONOTONIC);
}

uint64_t cp_clock_read(const struct cp_clock *c)
{
	return cp_clock_now(c, cp_clock_sys(CLOCK_MONOTONIC), cp_clock_sys(CLOCK_REALTIME));
}

/* n digits exactly at s. */
static int cp_clock_digits(const char *s, int n, int *out)
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

static int cp_clock_bad(char *err, size_t len, const char *s, const char *why)
{
	snprintf(err, len, "'%s': %s; want ISO-8601 with an offset, e.g. "
		 "2026-12-30T08:50:00+08:00", s, why);
	return -EINVAL;
}

int cp_clock_parse_time(const char *s, uint64_t *utc_ns, char *err, size_t len)
{
	int y, mo, d, h, mi, sec = 0;
	if (strlen(s) < 16 || cp_clock_digits(s, 4, &y) || s[4] != '-' ||
	    cp_clock_digits(s + 5, 2, &mo) || s[7] != '-' || cp_clock_digits(s + 8, 2, &d))
		return cp_clock_bad(err, len, s, "the date is not YYYY-MM-DD");
	if (s[10] != 'T')
		return cp_clock_bad(err, len, s, "no 'T' between the date and the time");
	if (cp_clock_digits(s + 11, 2, &h) || s[13] != ':' || cp_clock_digits(s + 14, 2, &mi))
		return cp_clock_bad(err, len, s, "the time is not HH:MM[:SS]");
	const char *p = s + 16;
	if (*p == ':') {
		if (cp_clock_digits(p + 1, 2, &sec))
			return cp_clock_bad(err, len, s, "the seconds are not two digits");
		p += 3;
	}
	uint64_t frac = 0;
	if (*p == '.') {
		int n = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, n++) {
			if (n == 9)
				return cp_clock_bad(err, len, s, "more than nine decimals of a second");
			frac = frac * 10 + (uint64_t)(*p - '0');
		}
		if (n == 0)
			return cp_clock_bad(err, len, s, "no digit after the decimal point");
		for (; n < 9; n++)
			frac *= 10;
	}
	int off = 0;
	if (*p == 'Z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		int sign = *p == '-' ? -1 : 1, oh, om = 0;
		p++;
		if (cp_clock_digits(p, 2, &oh))
			return cp_clock_bad(err, len, s, "the offset is not +HH:MM");
		p += 2;
		if (*p == ':')
			p++;
		if (*p) {
			if (cp_clock_digits(p, 2, &om))
				return cp_clock_bad(err, len, s, "the offset is not +HH:MM");
			p += 2;
		}
		if (oh > 23 || om > 59)
			return cp_clock_bad(err, len, s, "the offset is out of range (at most 23:59)");
		off = sign * (oh * 60 + om);
	} else if (*p == '\0') {
		return cp_clock_bad(err, len, s, "no offset (Z, or +HH:MM: the calendar's is "
				    "+08:00): a time without one names no moment");
	}
	if (*p)
		return cp_clock_bad(err, len, s, "characters after the offset");
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > cp_days_in_month(y, mo))
		return cp_clock_bad(err, len, s, "no such date (from 1970-01-01)");
	if (h > 23 || mi > 59 || sec > 59)
		return cp_clock_bad(err, len, s, "no such time of day (00:00:00 to 23:59:59)");
	int64_t t = (int64_t)cp_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
		    (int64_t)off * 60;
	if (t < 0)
		return cp_clock_bad(err, len, s, "before 1970-01-01T00:00:00Z");
	*utc_ns = (uint64_t)t * CP_NS + frac;
	return 0;
}

int cp_clock_parse_rate(const char *s, uint64_t *rate, char *err, size_t len)
{
	uint64_t v = 0;
	int digits = 0, decimals = -1;
	for (const char *p = s; *p; p++) {
		if (*p == '.' && decimals < 0) {
			decimals = 0;
			continue;
		}
		if (*p < '0' || *p > '9' || decimals == 6 || v > CP_CLOCK_RATE_MAX) {
			snprintf(err, len, "'%s': not a decimal number with at most six decimals "
				 "(e.g. 3600 or 0.5)", s);
			return -EINVAL;
		}
		v = v * 10 + (uint64_t)(*p - '0');
		digits++;
		if (decimals >= 0)
			decimals++;
	}
	if (digits == 0 || decimals == 0) {
		snprintf(err, len, "'%s': not a decimal number (e.g. 3600 or 0.5)", s);
		return -EINVAL;
	}
	for (int i = decimals < 0 ? 0 : decimals; i < 6; i++)
		v *= 10;
	if (v == 0 || v > CP_CLOCK_RATE_MAX) {
		snprintf(err, len, "'%s': the calendar's rate is more than 0 and at most 1000000 "
			 "times real time", s);
		return -EINVAL;
	}
	*rate = v;
	return 0;
}

void cp_clock_format_time(uint64_t utc_ns, int32_t offset_min, char *buf, size_t len)
{
	int64_t t = (int64_t)(utc_ns / CP_NS) + (int64_t)offset_min * 60;
	int64_t day = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
	int64_t s = t - day * 86400;
	int y, m, d;
	cp_civil_from_days((int32_t)day, &y, &m, &d);
	int32_t a = offset_min < 0 ? -offset_min : offset_min;
	if (offset_min == 0)
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02dZ", y, m, d, (int)(s / 3600),
			 (int)(s / 60 % 60), (int)(s % 60));
	else
		snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", y, m, d,
			 (int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60),
			 offset_min < 0 ? '-' : '+', (int)(a / 60), (int)(a % 60));
}

void cp_clock_format_rate(uint64_t rate, char *buf, size_t len)
{
	uint64_t whole = rate / CP_CLOCK_RATE_ONE, frac = rate % CP_CLOCK_RATE_ONE;
	if (frac == 0) {
		snprintf(buf, len, "%" PRIu64, whole);
		return;
	}
	char f[8];
	snprintf(f, sizeof(f), "%06" PRIu64, frac);
	for (int i = 5; i > 0 && f[i] == '0'; i--)
		f[i] = '\0';
	snprintf(buf, len, "%" PRIu64 ".%s", whole, f);
}
