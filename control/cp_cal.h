/*
 * cp_cal.h - the trading calendar: business days, the day's session times, the monthly
 * contracts and their last trading days.
 *
 * Role: control plane only (the scheduler and the lifecycle read it); never on a hot path.
 * Days are counted as integers (days since 1970-01-01, proleptic Gregorian), so date
 * arithmetic is plain integer arithmetic; times of day are minutes after local midnight.
 * The exchange's local time is UTC plus a configured offset (Beijing: +480 minutes); the
 * clock the scheduler reads is UTC nanoseconds.
 *
 * Rules:
 *  1. A business day is a Monday to Friday that is not in the holiday list.
 *  2. A contract is named by its delivery month, id YYYYMM (e.g. 202603), symbol TKNyymm.
 *  3. A contract's last trading day is the last business day of its delivery month.
 *  4. Twelve consecutive months are listed (CP_CAL_STRIP); when one expires the month
 *     after the last listed one is listed (cp_cal_month_add(last, 1)). The operator may
 *     list that month too, and nothing else (a month delisted before it ever traded may
 *     come back into its place).
 *  5. The day runs: order entry for the opening call auction [auction_entry, auction_match),
 *     the uncross at auction_match and no order entry until the first session opens, then
 *     the continuous sessions (breaks between them), closed after the last one.
 */
#ifndef TOKEX_CP_CAL_H
#define TOKEX_CP_CAL_H

#include <stddef.h>
#include <stdint.h>

#define CP_MAX_HOLIDAYS 128
#define CP_MAX_SESSIONS 8
#define CP_CAL_STRIP 12 /* months listed at a time (rule 4) */
#define CP_NS_PER_DAY (86400ull * 1000000000ull)

/* One continuous trading session, minutes after local midnight, [start, end). */
struct cp_window {
	uint32_t start;
	uint32_t end;
};

struct cp_cal {
	int32_t utc_offset_min;        /* local time = UTC + this */
	uint32_t auction_entry;        /* minute: call auction order entry opens */
	uint32_t auction_match;        /* minute: uncross; order entry closed */
	struct cp_window sess[CP_MAX_SESSIONS]; /* ascending, not overlapping */
	uint32_t n_sess;
	int32_t holidays[CP_MAX_HOLIDAYS]; /* day numbers, ascending */
	uint32_t n_holidays;
};

/* What the calendar says a listed contract should be doing at a moment. */
enum cp_slot {
	CP_SLOT_NONE = 0,     /* not a business day, or before the auction */
	CP_SLOT_PRE_OPEN = 1, /* auction order entry */
	CP_SLOT_AUCTION = 2,  /* uncrossed, waiting for the open */
	CP_SLOT_CONTINUOUS = 3,
	CP_SLOT_BREAK = 4,
	CP_SLOT_CLOSED = 5,   /* after the last session */
};

/* Date arithmetic (Howard Hinnant's civil-from-days). */
int32_t cp_days_from_civil(int y, int m, int d);
void cp_civil_from_days(int32_t day, int *y, int *m, int *d);
int cp_weekday(int32_t day); /* 0 = Monday ... 6 = Sunday */
int cp_days_in_month(int y, int m);

/* "YYYY-MM-DD" exactly (a real date) -> day number. 0 or -EINVAL. */
int cp_parse_date(const char *s, int32_t *day);
/* "HH:MM" exactly -> minutes. 0 or -EINVAL. */
int cp_parse_hhmm(const char *s, uint32_t *min);
/* "HH:MM-HH:MM" with start < end -> window. 0 or -EINVAL. */
int cp_parse_window(const char *s, struct cp_window *w);
void cp_format_date(int32_t day, char *buf, size_t len); /* "YYYY-MM-DD" */

/* The built-in product calendar: Beijing time, entry 08:55, uncross 08:59, sessions
 * 09:00-10:15, 10:30-11:30, 13:30-15:00, no holidays. */
void cp_cal_default(struct cp_cal *cal);

/* Adds a holiday (kept sorted, duplicates ignored). 0 or -ENOSPC. */
int cp_cal_add_holiday(struct cp_cal *cal, int32_t day);
/* Checks the session times are ordered and inside the day. 0 or -EINVAL with text. */
int cp_cal_check(const struct cp_cal *cal, char *err, size_t errlen);

int cp_cal_is_business_day(const struct cp_cal *cal, int32_t day);
int32_t cp_cal_next_business_day(const struct cp_cal *cal, int32_t day); /* > day */
int32_t cp_cal_prev_business_day(const struct cp_cal *cal, int32_t day); /* < day */
/* The last business day of month m of year y. */
int32_t cp_cal_last_business_day(const struct cp_cal *cal, int y, int m);

/* UTC ns -> local day number and minute of that day. */
void cp_cal_local(const struct cp_cal *cal, uint64_t utc_ns, int32_t *day, uint32_t *minute);
/* Local day + minute -> UTC ns (tests and the scheduler's next-event arithmetic). */
uint64_t cp_cal_utc_ns(const struct cp_cal *cal, int32_t day, uint32_t minute);
/* The calendar's slot at a local day and minute (enum cp_slot). */
int cp_cal_slot(const struct cp_cal *cal, int32_t day, uint32_t minute);

/* The first moment after utc_ns at which the slot changes: a business day's auction
 * entry, uncross, or a session's start or end (UTC ns). UINT64_MAX when none comes in the
 * next CP_CAL_EVENT_DAYS days. The scheduler steps through these when its clock jumps. */
#define CP_CAL_EVENT_DAYS 3700
uint64_t cp_cal_next_event(const struct cp_cal *cal, uint64_t utc_ns);

/* Contract months: id YYYYMM. */
uint32_t cp_cal_month_id(int y, int m);
uint32_t cp_cal_month_add(uint32_t id, int k);
int cp_cal_month_valid(uint32_t id);
/* The last trading day of contract id (rule 3). */
int32_t cp_cal_last_trading_day(const struct cp_cal *cal, uint32_t id);
/* n consecutive contract ids starting at first (rule 4). Returns n. */
uint32_t cp_cal_contract_ids(uint32_t first, uint32_t n, uint32_t *out);
/* The symbol of contract id: "TKNyymm". */
void cp_cal_symbol(uint32_t id, char *buf, size_t len);

#endif /* TOKEX_CP_CAL_H */
