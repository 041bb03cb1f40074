/*
 * cp_settle.h - daily settlement, the next day's price limits, and final settlement from
 * the operator's index file.
 *
 * Role: control plane, pure arithmetic plus one file reader; the lifecycle (cp_life) calls
 * it with the day's statistics a matching core reported (DP_CTL_DAY_STATS).
 *
 * Rules (prices in units of 0.0001 CNY per 1 M tokens):
 *  1. Rounding: a ratio is rounded to the nearest multiple of the tick, halves away from
 *     zero (cp_round_tick). Exact integer arithmetic (128-bit), no floating point.
 *  2. Daily settlement = the day's VWAP (notional / volume) rounded by rule 1; the previous
 *     settlement when the day had no trade.
 *  3. Daily limits = previous settlement +/- band_bp basis points, rounded inwards to the
 *     tick grid (never below one tick): the same rule as cp_contract_band().
 *  4. The band of a day: first_day_bp on a contract's first trading day (default 16 %,
 *     twice the normal); locked_bp (default 12 %) on the day after a day that closed
 *     limit-locked (limit-up or limit-down at the close, DAY_STATS flags bit 0 or 1);
 *     otherwise band_bp (default 8 %). The widening lasts one day; a second locked day
 *     gives locked_bp again (it does not compound).
 *  5. Final settlement = the mean of the index fixings of the business days (cp_cal.h
 *     rule 1) of the contract's delivery month up to and including its last trading
 *     day, rounded by rule 1. Every such business day must have a fixing; a missing one
 *     is an error (-ENODATA) naming the first missing day. A fixing dated on a weekend or
 *     a holiday of that range is not averaged: it is skipped and named in the result
 *     (the operator sees which rows did not count). Fixings of other months are
 *     ignored.
 *
 * Index file: one fixing a line, "YYYY-MM-DD,price" with price a decimal of at most four
 * places ("2.5123"); '#' starts a comment, blank lines are ignored, spaces around fields
 * are not allowed. Dates must be real and strictly increasing. Errors read
 * "path:line: what is wrong".
 */
#ifndef TOKEX_CP_SETTLE_H
#define TOKEX_CP_SETTLE_H

#include <stddef.h>
#include <stdint.h>

#include "cp_cal.h"

#define CP_MAX_FIXINGS 4096

struct cp_fixings {
	int32_t day[CP_MAX_FIXINGS];
	int64_t price[CP_MAX_FIXINGS];
	uint32_t n;
};

struct cp_band_rule {
	uint32_t band_bp;      /* normal day: 800 */
	uint32_t first_day_bp; /* first trading day: 1600 */
	uint32_t locked_bp;    /* the day after a limit-locked close: 1200 */
};

/* num / den rounded to the nearest multiple of tick, halves away from zero (rule 1).
 * den > 0, tick > 0. */
int64_t cp_round_tick(__int128 num, __int128 den, int64_t tick);

/* Rule 2. */
int64_t cp_settle_vwap(uint64_t notional, uint64_t volume, int64_t tick, int64_t prev);

/* Rule 3: [lo, hi] around ref. */
void cp_settle_limits(int64_t ref, uint32_t bp, int64_t tick, int64_t *lo, int64_t *hi);

/* Rule 4: the band for a day. locked_flags = the previous day's DAY_STATS flags. */
uint32_t cp_settle_band_bp(const struct cp_band_rule *r, int first_day, uint32_t locked_flags);

/* Decimal "2.5123" -> 25123 (at most four places, > 0). 0 or -EINVAL. */
int cp_parse_price(const char *s, int64_t *units);
/* 25123 -> "2.5123". */
void cp_format_price(int64_t units, char *buf, size_t len);

/* Reads an index file (format above). 0, or a negative errno with "path:line: reason". */
int cp_index_load(const char *path, struct cp_fixings *fx, char *err, size_t errlen);

/* What a final settlement took from the index file. */
struct cp_final {
	int64_t price;
	uint32_t n_used;    /* business-day fixings averaged */
	uint32_t n_skipped; /* rows of the month dated on a weekend or a holiday */
	char skipped[192];  /* those rows' dates: "2026-03-07 (weekend), 2026-03-09 (holiday)" */
};

/* Rule 5 for delivery month id (YYYYMM), into *f. 0, or -ENODATA with the operator's text
 * (the first business day without a fixing). */
int cp_settle_final(const struct cp_fixings *fx, const struct cp_cal *cal, uint32_t month_id,
		    int64_t tick, struct cp_final *f, char *err, size_t errlen);

#endif /* TOKEX_CP_SETTLE_H */
