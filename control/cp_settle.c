/*
 * cp_settle.c - settlement arithmetic and the index file reader; rules in cp_settle.h.
 *
 * Role: control plane, after the close and at expiry; never on a hot path.
 */
#include "cp_settle.h"

#include "tokex/price.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

int64_t cp_round_tick(__int128 num, __int128 den, int64_t tick)
{
	/* q = num / (den * tick) rounded half away from zero; result q * tick. */
	__int128 d = den * tick;
	int neg = num < 0;
	__int128 a = neg ? -num : num;
	__int128 q = (2 * a + d) / (2 * d);
	return (int64_t)(neg ? -q : q) * tick;
}

int64_t cp_settle_vwap(uint64_t notional, uint64_t volume, int64_t tick, int64_t prev)
{
	if (volume == 0)
		return prev;
	return cp_round_tick((__int128)notional, (__int128)volume, tick);
}

void cp_settle_limits(int64_t ref, uint32_t bp, int64_t tick, int64_t *lo, int64_t *hi)
{
	int64_t d = ref * (int64_t)bp / 10000;
	int64_t l = ref - d, h = ref + d;
	if (l < tick)
		l = tick;
	l = (l + tick - 1) / tick * tick;
	h = h / tick * tick;
	*lo = l;
	*hi = h;
}

uint32_t cp_settle_band_bp(const struct cp_band_rule *r, int first_day, uint32_t locked_flags)
{
	if (first_day)
		return r->first_day_bp;
	if (locked_flags & 3u)
		return r->locked_bp;
	return r->band_bp;
}

int cp_parse_price(const char *s, int64_t *units)
{
	int64_t v;
	if (tkx_price_parse(s, &v) < 0 || v <= 0)
		return -EINVAL;
	*units = v;
	return 0;
}

void cp_format_price(int64_t units, char *buf, size_t len)
{
	if (tkx_price_format(units, buf, len) < 0 && len)
		buf[0] = '\0';
}

int cp_index_load(const char *path, struct cp_fixings *fx, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open the index file: %s", path, strerror(e));
		return -e;
	}
	char line[256];
	unsigned ln = 0;
	int rc = 0;
	fx->n = 0;
	while (fgets(line, sizeof(line), f)) {
		ln++;
		size_t len = strlen(line);
		if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
			snprintf(err, errlen, "%s:%u: line longer than %zu characters", path, ln,
				 sizeof(line) - 2);
			rc = -EINVAL;
			break;
		}
		char *hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		len = strlen(line);
		while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		char *comma = strchr(line, ',');
		if (!comma) {
			snprintf(err, errlen, "%s:%u: expected YYYY-MM-DD,price", path, ln);
			rc = -EINVAL;
			break;
		}
		*comma = '\0';
		int32_t day;
		int64_t price;
		if (cp_parse_date(line, &day) < 0) {
			snprintf(err, errlen, "%s:%u: '%s' is not a date YYYY-MM-DD", path, ln, line);
			rc = -EINVAL;
			break;
		}
		if (cp_parse_price(comma + 1, &price) < 0) {
			snprintf(err, errlen, "%s:%u: '%s' is not a price above 0 with at most 4 "
				 "decimals", path, ln, comma + 1);
			rc = -EINVAL;
			break;
		}
		if (fx->n && day <= fx->day[fx->n - 1]) {
			snprintf(err, errlen, "%s:%u: %s is not after the previous line's date", path,
				 ln, line);
			rc = -EINVAL;
			break;
		}
		if (fx->n == CP_MAX_FIXINGS) {
			snprintf(err, errlen, "%s:%u: more than %u fixings", path, ln, CP_MAX_FIXINGS);
			rc = -EFBIG;
			break;
		}
		fx->day[fx->n] = day;
		fx->price[fx->n++] = price;
	}
	if (rc == 0 && ferror(f)) {
		snprintf(err, errlen, "%s:%u: read error", path, ln);
		rc = -EIO;
	}
	fclose(f);
	if (rc < 0)
		fx->n = 0;
	return rc;
}

int cp_settle_final(const struct cp_fixings *fx, const struct cp_cal *cal, uint32_t month_id,
		    int64_t tick, struct cp_final *f, char *err, size_t errlen)
{
	int y = (int)(month_id / 100), m = (int)(month_id % 100);
	int32_t first = cp_days_from_civil(y, m, 1);
	int32_t ltd = cp_cal_last_trading_day(cal, month_id);
	__int128 sum = 0;
	uint32_t j = 0;
	char d1[16];

	memset(f, 0, sizeof(*f));
	for (int32_t day = first; day <= ltd; day++) {
		if (!cp_cal_is_business_day(cal, day))
			continue;
		while (j < fx->n && fx->day[j] < day)
			j++;
		if (j == fx->n || fx->day[j] != day) {
			cp_format_date(day, d1, sizeof(d1));
			snprintf(err, errlen, "contract %u: no index fixing for business day %s: "
				 "the index file must have one for every business day of the month "
				 "up to the last trading day", month_id, d1);
			return -ENODATA;
		}
		sum += fx->price[j];
		f->n_used++;
	}
	/* The month's other rows (weekends, holidays) are named, not averaged. */
	size_t o = 0;
	for (uint32_t i = 0; i < fx->n; i++) {
		if (fx->day[i] < first || fx->day[i] > ltd || cp_cal_is_business_day(cal, fx->day[i]))
			continue;
		f->n_skipped++;
		cp_format_date(fx->day[i], d1, sizeof(d1));
		const char *why = cp_weekday(fx->day[i]) >= 5 ? "weekend" : "holiday";
		if (o < sizeof(f->skipped)) {
			int w = snprintf(f->skipped + o, sizeof(f->skipped) - o, "%s%s (%s)",
					 o ? ", " : "", d1, why);
			o += w > 0 ? (size_t)w : 0;
		}
	}
	if (o >= sizeof(f->skipped)) /* cut: say so rather than end mid-date */
		snprintf(f->skipped + sizeof(f->skipped) - 5, 5, " ...");
	if (f->n_used == 0) {
		snprintf(err, errlen, "contract %u: the calendar has no business day in the month",
			 month_id);
		return -ENODATA;
	}
	f->price = cp_round_tick(sum, f->n_used, tick);
	return 0;
}
