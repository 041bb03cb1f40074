/*
 * dataplane/proto/price.c - decimal text <-> price units (tokex/price.h).
 *
 * Role: off the data path (command lines, operator answers, logs, client programs); part
 * of libtokex-codec so that every program converts the same way.
 */
#include "tokex/price.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

int tkx_price_parse(const char *s, int64_t *units)
{
	if (!s || !units)
		return -EINVAL;
	const char *p = s;
	int neg = 0;
	if (*p == '-' || *p == '+')
		neg = *p++ == '-';
	/* The magnitude in units, accumulated in uint64 with an overflow check; the limit
	 * is INT64_MAX for both signs (-INT64_MAX - 1 is the null price). */
	uint64_t u = 0;
	int nd = 0, nf = 0;
	for (; *p >= '0' && *p <= '9'; p++, nd++) {
		if (u > (UINT64_MAX - 9) / 10)
			return -ERANGE;
		u = u * 10 + (uint64_t)(*p - '0');
	}
	if (nd == 0)
		return -EINVAL;
	uint64_t f = 0;
	if (*p == '.') {
		for (p++; *p >= '0' && *p <= '9'; p++) {
			if (++nf > TKX_PRICE_DECIMALS)
				return -EINVAL;
			f = f * 10 + (uint64_t)(*p - '0');
		}
		if (nf == 0)
			return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	for (; nf < TKX_PRICE_DECIMALS; nf++)
		f *= 10;
	if (u > ((uint64_t)INT64_MAX - f) / TKX_PRICE_SCALE)
		return -ERANGE;
	u = u * TKX_PRICE_SCALE + f;
	*units = neg ? -(int64_t)u : (int64_t)u;
	return 0;
}

int tkx_price_format(int64_t units, char *buf, size_t len)
{
	int n;
	if (units == INT64_MIN) {
		n = snprintf(buf, len, "null");
	} else {
		uint64_t a = units < 0 ? (uint64_t)0 - (uint64_t)units : (uint64_t)units;
		n = snprintf(buf, len, "%s%" PRIu64 ".%04" PRIu64, units < 0 ? "-" : "",
			     a / TKX_PRICE_SCALE, a % TKX_PRICE_SCALE);
	}
	if (n < 0 || (size_t)n >= len)
		return -ENOSPC;
	return n;
}
