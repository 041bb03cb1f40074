/* test_life.c - cp_life and cp_sched against a fake matching core: every impossible
 * request's error text, and a whole month of a contract's life on the injectable clock
 * (listing, first-day limits, a limit-locked day and the next day's wider limits, a
 * holiday, halts, a volatility interruption, daily settlements, expiry on the last
 * business day, the new month listed, final settlement from an index file, delisting). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_clock.h"
#include "cp_cmd.h"
#include "cp_config.h"
#include "cp_life.h"
#include "cp_sched.h"
#include "fake_core.h"

static struct fake_core fk;
static struct cp_life L;
static struct cp_sched S;
static uint64_t clk;
static char logbuf[1 << 20];
static size_t logn;

static void test_log(void *arg, uint64_t now, const char *line)
{
	(void)arg;
	(void)now;
	logn += (size_t)snprintf(logbuf + logn, sizeof(logbuf) - logn, "%s\n", line);
	assert_true(logn < sizeof(logbuf) - 256);
}

static uint64_t test_clock(void *arg)
{
	(void)arg;
	return clk;
}

static int32_t D(const char *s)
{
	int32_t d;
	assert_int_equal(cp_parse_date(s, &d), 0);
	return d;
}

/* Local (Beijing) date and time -> the clock. */
static void at(const char *date, const char *hhmm)
{
	uint32_t m;
	assert_int_equal(cp_parse_hhmm(hhmm, &m), 0);
	clk = cp_cal_utc_ns(&L.cal, D(date), m);
	L.now = clk;
}

static int setup(void **state)
{
	(void)state;
	fk_init(&fk);
	struct cp_life_ops ops = {fake_send, test_log, &fk};
	cp_life_init(&L, &ops, 1);
	cp_sched_init(&S, &L, test_clock, NULL);
	logn = 0;
	logbuf[0] = '\0';
	return 0;
}

static void define(uint32_t id, int64_t ref)
{
	struct cp_life_params p = {.id = id, .tick = 10, .ref_price = ref, .max_qty = 1000,
				   .max_orders = 1024};
	char err[256];
	assert_int_equal(cp_life_define(&L, &p, err, sizeof(err)), 0);
}

#define EXPECT(call, rc, text)                                                        \
	do {                                                                          \
		char e_[256] = "";                                                    \
		int r_ = (call);                                                      \
		if (r_ != (rc) || !strstr(e_, (text)))                                \
			fail_msg("%s: got %d '%s', want %d '%s'", #call, r_, e_, rc, text); \
	} while (0)

static void test_impossible(void **state)
{
	(void)state;
	at("2026-03-02", "08:00");
	define(202603, 25000);
	struct cp_fixings fx = {.n = 0};
	/* Unknown contract, for every entry point. */
	EXPECT(cp_life_list(&L, 209912, e_, sizeof(e_)), -ENOENT, "no contract 209912");
	EXPECT(cp_life_halt(&L, 209912, CP_HALT_OPERATOR, e_, sizeof(e_)), -ENOENT, "no contract");
	EXPECT(cp_life_settle(&L, 1, 0, e_, sizeof(e_)), -ENOENT, "no contract 1");
	EXPECT(cp_life_set_limits(&L, 7, 10, 20, e_, sizeof(e_)), -ENOENT, "no contract 7");
	EXPECT(cp_life_mass_cancel(&L, 1, 1, 42, NULL, e_, sizeof(e_)), -ENOENT, "no contract 42");
	/* Defining twice, bad parameters. */
	struct cp_life_params p = {.id = 202603, .tick = 10, .ref_price = 25000, .max_qty = 1,
				   .max_orders = 1};
	EXPECT(cp_life_define(&L, &p, e_, sizeof(e_)), -EEXIST, "contract 202603 already exists");
	p.id = 202604;
	p.ref_price = 25005;
	EXPECT(cp_life_define(&L, &p, e_, sizeof(e_)), -EINVAL, "bad parameters");
	/* DEFINED: nothing but list. */
	EXPECT(cp_life_pre_open(&L, 202603, D("2026-03-02"), e_, sizeof(e_)), -EBUSY,
	       "contract 202603 is DEFINED: cannot open the auction");
	EXPECT(cp_life_delist(&L, 202603, e_, sizeof(e_)), -EBUSY, "is DEFINED: cannot delist");
	assert_int_equal(fk.n_got, 0); /* refused requests send nothing */
	char err[256];
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	EXPECT(cp_life_list(&L, 202603, e_, sizeof(e_)), -EBUSY, "is LISTED: cannot list it");
	/* Settling an open contract. */
	assert_int_equal(cp_life_pre_open(&L, 202603, D("2026-03-02"), err, sizeof(err)), 0);
	EXPECT(cp_life_pre_open(&L, 202603, D("2026-03-02"), e_, sizeof(e_)), -EBUSY,
	       "is PRE_OPEN: cannot open the auction");
	EXPECT(cp_life_open(&L, 202603, e_, sizeof(e_)), -EBUSY, "needs AUCTION or BREAK");
	assert_int_equal(cp_life_uncross(&L, 202603, TKX_PHASE_AUCTION, err, sizeof(err)), 0);
	assert_int_equal(cp_life_open(&L, 202603, err, sizeof(err)), 0);
	EXPECT(cp_life_settle(&L, 202603, D("2026-03-02"), e_, sizeof(e_)), -EBUSY,
	       "contract 202603 is CONTINUOUS: cannot settle it (close it first");
	EXPECT(cp_life_expire(&L, 202603, D("2026-03-31"), e_, sizeof(e_)), -EBUSY,
	       "is CONTINUOUS: cannot expire it");
	EXPECT(cp_life_resume(&L, 202603, TKX_PHASE_CONTINUOUS, e_, sizeof(e_)), -EBUSY,
	       "only a HALTED contract resumes");
	EXPECT(cp_life_delist(&L, 202603, e_, sizeof(e_)), -EBUSY, "is CONTINUOUS: cannot delist");
	EXPECT(cp_life_final_settle(&L, 202603, &fx, NULL, e_, sizeof(e_)), -EBUSY, "needs EXPIRED");
	EXPECT(cp_life_set_limits(&L, 202603, 23005, 27000, e_, sizeof(e_)), -EINVAL,
	       "must be on the tick grid");
	EXPECT(cp_life_set_limits(&L, 202603, 27000, 23000, e_, sizeof(e_)), -EINVAL,
	       "0 < lo <= hi");
	assert_int_equal(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, err, sizeof(err)), 0);
	EXPECT(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, e_, sizeof(e_)), -EALREADY,
	       "already halted");
	EXPECT(cp_life_resume(&L, 202603, TKX_PHASE_CLOSED, e_, sizeof(e_)), -EINVAL,
	       "cannot resume into CLOSED");
	/* The core refusing, or not answering: nothing changes (invariant 2). */
	fk.fail_type = DP_CTL_PHASE;
	fk.fail_rc = -EINVAL;
	EXPECT(cp_life_resume(&L, 202603, TKX_PHASE_CONTINUOUS, e_, sizeof(e_)), -EINVAL,
	       "matching core 0 refused PHASE");
	assert_int_equal(L.c[0].phase, TKX_PHASE_HALTED);
	fk.fail_type = 0;
	fk.drop_type = DP_CTL_PHASE;
	EXPECT(cp_life_close(&L, 202603, e_, sizeof(e_)), -ETIMEDOUT, "did not answer PHASE");
	assert_int_equal(L.c[0].phase, TKX_PHASE_HALTED);
	fk.drop_type = 0;
	assert_int_equal(cp_life_close(&L, 202603, err, sizeof(err)), 0);
	/* Expire before the last trading day. */
	assert_int_equal(cp_life_settle(&L, 202603, D("2026-03-02"), err, sizeof(err)), 0);
	EXPECT(cp_life_expire(&L, 202603, D("2026-03-02"), e_, sizeof(e_)), -EINVAL,
	       "its last trading day is 2026-03-31: not before");
	/* Trading past the last trading day. */
	EXPECT(cp_life_pre_open(&L, 202603, D("2026-04-01"), e_, sizeof(e_)), -ESTALE,
	       "its last trading day was 2026-03-31: expire it");
	/* Expiring a contract whose last day was not traded. */
	EXPECT(cp_life_expire(&L, 202603, D("2026-03-31"), e_, sizeof(e_)), -EINVAL,
	       "last trading day 2026-03-31 not yet traded and settled");
	L.c[0].settled_day = D("2026-03-31");
	char xerr[256];
	assert_int_equal(cp_life_expire(&L, 202603, D("2026-03-31"), xerr, sizeof(xerr)), 0);
	/* An expired contract cannot trade or be halted. */
	EXPECT(cp_life_pre_open(&L, 202603, D("2026-04-01"), e_, sizeof(e_)), -ESTALE,
	       "is EXPIRED: cannot open the auction");
	EXPECT(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, e_, sizeof(e_)), -ESTALE,
	       "is EXPIRED: cannot halt it");
	/* Final settlement without fixings. */
	EXPECT(cp_life_final_settle(&L, 202603, &fx, NULL, e_, sizeof(e_)), -ENODATA,
	       "contract 202603: no index fixings");
	EXPECT(cp_life_final_settle(&L, 202603, NULL, NULL, e_, sizeof(e_)), -ENODATA, "no index fixings");
	fx.day[0] = D("2026-03-02");
	fx.price[0] = 25000;
	fx.n = 1;
	EXPECT(cp_life_final_settle(&L, 202603, &fx, NULL, e_, sizeof(e_)), -ENODATA,
	       "no index fixing for business day 2026-03-03");
	assert_int_equal(L.c[0].phase, TKX_PHASE_EXPIRED);
	EXPECT(cp_life_delist(&L, 202603, e_, sizeof(e_)), -ESTALE, "is EXPIRED: cannot delist");
	/* A LISTED contract that traded cannot be delisted; one that never did can. */
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	assert_int_equal(cp_life_delist(&L, 202604, err, sizeof(err)), 0);
	assert_int_equal(cp_life_find(&L, 202604)->phase, TKX_PHASE_DELISTED);
	assert_null(fk_find(&fk, 202604));
	/* Delisting with open orders: the core refuses, the phase is put back. */
	define(202605, 25000);
	assert_int_equal(cp_life_list(&L, 202605, err, sizeof(err)), 0);
	fk_find(&fk, 202605)->orders = 3;
	EXPECT(cp_life_delist(&L, 202605, e_, sizeof(e_)), -EBUSY,
	       "contract 202605 has open orders: mass-cancel them");
	assert_int_equal(cp_life_find(&L, 202605)->phase, TKX_PHASE_LISTED);
	assert_int_equal(fk_find(&fk, 202605)->phase, TKX_PHASE_LISTED);
	/* Accounts and kill switch. */
	struct cp_account a = {.firm = 0, .account = 1, .max_qty = 1, .max_pos = 1};
	EXPECT(cp_life_account(&L, &a, e_, sizeof(e_)), -EINVAL, "need firm > 0");
	a.firm = 1;
	a.account = 0;
	EXPECT(cp_life_account(&L, &a, e_, sizeof(e_)), -EINVAL, "account > 0");
	a.account = 1;
	a.firm = 1;
	a.max_pos_spot = 2;
	EXPECT(cp_life_account(&L, &a, e_, sizeof(e_)), -EINVAL, "spot limit <= max_position");
	EXPECT(cp_life_kill(&L, 0, 1, 1, e_, sizeof(e_)), -EINVAL, "firm 0 is not a firm");
	assert_true(L.st.refused > 20);
}

/* Counts of log lines containing s. */
static int log_count(const char *s)
{
	int n = 0;
	for (const char *p = logbuf; (p = strstr(p, s)) != NULL; p++)
		n++;
	return n;
}

static void run_to(const char *date, const char *hhmm)
{
	uint32_t m;
	assert_int_equal(cp_parse_hhmm(hhmm, &m), 0);
	uint64_t end = cp_cal_utc_ns(&L.cal, D(date), m);
	/* Minute by minute, as tokexd's control thread would see it. */
	while (clk < end) {
		clk += 60ull * 1000000000ull;
		if (clk > end)
			clk = end;
		int rc = cp_sched_tick(&S);
		if (rc < 0)
			fail_msg("scheduler at %" PRIu64 ": %s", clk, S.last_error);
	}
}

static void write_index(const char *path, int n_days)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# AI inference token price index, CNY per 1M tokens\n");
	int i = 0;
	for (int d = 1; d <= 31 && i < n_days; d++) {
		int32_t day = cp_days_from_civil(2026, 3, d);
		if (!cp_cal_is_business_day(&L.cal, day))
			continue;
		fprintf(f, "2026-03-%02d,2.%04d\n", d, 5000 + 10 * i);
		i++;
	}
	fclose(f);
}

static void test_month(void **state)
{
	(void)state;
	char err[256], idx[64];
	snprintf(idx, sizeof(idx), "/tmp/tokex-index-%d.csv", (int)getpid());
	unlink(idx);
	snprintf(L.index_file, sizeof(L.index_file), "%s", idx);
	cp_cal_add_holiday(&L.cal, D("2026-03-16"));
	at("2026-02-27", "20:00");
	uint32_t ids[12];
	cp_cal_contract_ids(202603, 12, ids);
	for (int i = 0; i < 12; i++) {
		define(ids[i], 25000);
		assert_int_equal(cp_life_list(&L, ids[i], err, sizeof(err)), 0);
	}
	struct cp_account acc = {.firm = 1, .account = 7, .max_qty = 50, .max_pos = 500,
				 .max_pos_spot = 100};
	assert_int_equal(cp_life_account(&L, &acc, err, sizeof(err)), 0);
	/* One ACCOUNT per core; the spot month carries the spot flag, the others not. */
	assert_int_equal(fk.accounts, 1);
	assert_int_equal(fk_find(&fk, 202603)->spot, 1);
	assert_int_equal(fk_find(&fk, 202604)->spot, 0);
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	struct fk_contract *f = fk_find(&fk, 202603);
	fk.uncross_price = 25100;
	fk.uncross_qty = 10;
	/* Its definition went to the core at listing (market data), and again each
	 * pre-open (new limits, reference). */
	assert_int_equal(f->defines, 1);

	/* Day 1, Monday 2 March: first trading day, limits 16 %. */
	run_to("2026-03-02", "08:56");
	assert_int_equal(f->defines, 2);
	assert_int_equal(k->phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(f->phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(f->lo, 21000);
	assert_int_equal(f->hi, 29000);
	assert_int_equal(k->band_bp, 1600);
	run_to("2026-03-02", "08:59");
	assert_int_equal(k->phase, TKX_PHASE_AUCTION);
	assert_int_equal(k->uncross_price, 25100);
	run_to("2026-03-02", "09:00");
	assert_int_equal(f->phase, TKX_PHASE_CONTINUOUS);
	fk_trade(&fk, 202603, 25100, 10);
	fk_trade(&fk, 202603, 25200, 30);
	f->orders = f->day_orders = 2; /* the close expires them (the fake holds no GTC) */
	run_to("2026-03-02", "10:20");
	assert_int_equal(f->phase, TKX_PHASE_BREAK);
	run_to("2026-03-02", "10:30");
	assert_int_equal(f->phase, TKX_PHASE_CONTINUOUS);
	run_to("2026-03-02", "15:01");
	/* VWAP (251000 + 756000) / 40 = 25175 -> 25180; next limits 8 % -> [23170, 27190]. */
	assert_int_equal(k->phase, TKX_PHASE_SETTLED);
	assert_int_equal(f->phase, TKX_PHASE_SETTLED);
	assert_int_equal(k->settle, 25180);
	assert_int_equal(k->lo, 23170);
	assert_int_equal(k->hi, 27190);
	/* The end of the day went to the core right after CLOSED, before SETTLED. */
	assert_int_equal(f->ends_of_day, 1);
	assert_int_equal(f->orders, 0);
	assert_int_equal(log_count("contract 202603: end of day: 2 DAY order(s) expired"), 1);
	int closed_at = -1, eod_at = -1, settled_at = -1;
	for (uint32_t i = 0; i < fk.n_got; i++) {
		const struct dp_ctl *g = &fk.got[i];
		if (g->contract_id != 202603)
			continue;
		if (g->type == DP_CTL_PHASE && g->arg == TKX_PHASE_CLOSED)
			closed_at = (int)i;
		if (g->type == DP_CTL_END_OF_DAY)
			eod_at = (int)i;
		if (g->type == DP_CTL_PHASE && g->arg == TKX_PHASE_SETTLED)
			settled_at = (int)i;
	}
	assert_true(closed_at >= 0 && closed_at + 1 == eod_at && eod_at < settled_at);
	/* The SETTLED ContractStatus carries the price. */
	int found = 0;
	for (uint32_t i = 0; i < fk.n_got; i++)
		if (fk.got[i].type == DP_CTL_PHASE && fk.got[i].contract_id == 202603 &&
		    fk.got[i].arg == TKX_PHASE_SETTLED && fk.got[i].price == 25180)
			found = 1;
	assert_true(found);
	/* A contract without trades settles at its previous settlement. */
	assert_int_equal(cp_life_find(&L, 202604)->settle, 25000);

	/* Day 2: limit-up locked at 27190. */
	run_to("2026-03-03", "09:30");
	assert_int_equal(f->lo, 23170);
	assert_int_equal(f->hi, 27190);
	fk_trade(&fk, 202603, 27190, 5);
	f->flags = 1;
	run_to("2026-03-03", "15:30");
	assert_int_equal(k->settle, 27190);
	assert_int_equal(k->locked_flags, 1);
	/* Day 3: 12 % of 27190 = 3262 -> [23928, 30452] -> [23930, 30450]. */
	run_to("2026-03-04", "08:56");
	assert_int_equal(k->band_bp, 1200);
	assert_int_equal(f->lo, 23930);
	assert_int_equal(f->hi, 30450);
	assert_true(log_count("after a limit-locked day") >= 1);
	/* An operator halt in the morning, resumed into the calendar's phase. */
	run_to("2026-03-04", "09:30");
	assert_int_equal(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, err, sizeof(err)), 0);
	run_to("2026-03-04", "10:40");
	assert_int_equal(f->phase, TKX_PHASE_HALTED); /* the scheduler leaves it halted */
	assert_int_equal(cp_sched_resume_phase(&S), TKX_PHASE_CONTINUOUS);
	assert_int_equal(cp_life_resume(&L, 202603, cp_sched_resume_phase(&S), err, sizeof(err)), 0);
	assert_int_equal(f->phase, TKX_PHASE_CONTINUOUS);
	/* A volatility interruption: the core moves to PRE_OPEN; uncrossed 2 minutes later. */
	f->phase = TKX_PHASE_PRE_OPEN;
	run_to("2026-03-04", "10:42");
	assert_int_equal(k->phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(k->halt_reason, CP_HALT_VOLATILITY);
	assert_int_equal(L.st.vol_halts, 1);
	run_to("2026-03-04", "10:45");
	assert_int_equal(L.st.vol_halts, 1);
	assert_true(log_count("volatility auction: uncross") == 1);
	assert_int_equal(k->phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(f->phase, TKX_PHASE_CONTINUOUS);
	/* An operator halt through the close: closed and settled anyway. */
	assert_int_equal(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, err, sizeof(err)), 0);
	run_to("2026-03-04", "16:00");
	assert_int_equal(k->phase, TKX_PHASE_SETTLED);
	assert_int_equal(k->settle, 27190); /* no trade that day */
	/* Day 4: back to 8 %. */
	run_to("2026-03-05", "08:56");
	assert_int_equal(k->band_bp, 800);
	/* The holiday on Monday 16 March: no trading day. */
	run_to("2026-03-16", "12:00");
	assert_int_equal(k->phase, TKX_PHASE_SETTLED);
	assert_int_equal(k->settled_day, D("2026-03-13"));
	run_to("2026-03-17", "09:10");
	assert_int_equal(k->phase, TKX_PHASE_CONTINUOUS);
	/* Last trading day, Tuesday 31 March: settled, expired, 202703 listed. */
	run_to("2026-03-31", "14:00");
	fk.n_got = 0;
	run_to("2026-03-31", "15:30");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(f->phase, TKX_PHASE_EXPIRED);
	/* 22 business days in March less the holiday */
	assert_int_equal(k->days_traded, 21);
	/* Every close of the month ended its day, the one through a halt included. */
	assert_int_equal(f->ends_of_day, 21);
	assert_int_equal(log_count("end of day: "), 1); /* only day 1 had DAY orders */
	struct cp_life_contract *nk = cp_life_find(&L, 202703);
	assert_non_null(nk);
	assert_int_equal(nk->phase, TKX_PHASE_LISTED);
	assert_int_equal(nk->prev_settle, 25000); /* 202702's settlement */
	/* The spot month moved to 202604. */
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	assert_true(cp_life_find(&L, 202604)->spot);
	assert_false(cp_life_find(&L, 202603)->spot);
	/* No index file yet: waits, logs the reason once. */
	run_to("2026-03-31", "16:00");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(log_count("cannot open the index file"), 1);
	/* A file missing the last day: still waiting. */
	write_index(idx, 20);
	run_to("2026-03-31", "16:10");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(log_count("no index fixing for business day 2026-03-31"), 1);
	/* The full month (holiday 16 March excluded, 21 fixings): 2.5000 + 0.0010 i, i < 21:
	 * sum = 21 * 25000 + 10 * 210 = 527100, mean 25100 exactly. */
	write_index(idx, 21);
	run_to("2026-03-31", "16:20");
	assert_int_equal(k->final_settle, 25100);
	assert_int_equal(k->phase, TKX_PHASE_DELISTED);
	assert_null(fk_find(&fk, 202603));
	assert_int_equal(L.st.delisted, 1);
	/* Day 1 of April: 202703's first day (16 %), 202604 trades normally. */
	run_to("2026-04-01", "09:05");
	nk = cp_life_find(&L, 202703);
	assert_int_equal(nk->phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(nk->band_bp, 1600);
	assert_int_equal(cp_life_find(&L, 202604)->band_bp, 800);
	assert_int_equal(S.errors, 0);
	unlink(idx);
}

/* The close's END_OF_DAY refused or unanswered: the contract is CLOSED all the same (the
 * core took PHASE CLOSED first), the caller hears why, and the log says the DAY orders did
 * not expire. */
static void test_close_end_of_day(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-02", "08:00");
	define(202603, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_pre_open(&L, 202603, D("2026-03-02"), err, sizeof(err)), 0);
	assert_int_equal(cp_life_uncross(&L, 202603, TKX_PHASE_CONTINUOUS, err, sizeof(err)), 0);
	struct fk_contract *f = fk_find(&fk, 202603);
	f->orders = f->day_orders = 4;
	fk.fail_type = DP_CTL_END_OF_DAY;
	fk.fail_rc = -EIO;
	EXPECT(cp_life_close(&L, 202603, e_, sizeof(e_)), -EIO, "refused END_OF_DAY");
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_CLOSED);
	assert_int_equal(f->phase, TKX_PHASE_CLOSED);
	assert_int_equal(f->orders, 4);
	assert_int_equal(log_count("closed, but its DAY orders did not expire"), 1);
	fk.fail_type = 0;
	/* Closed already: a second close is refused before anything is sent. */
	fk.n_got = 0;
	EXPECT(cp_life_close(&L, 202603, e_, sizeof(e_)), -EBUSY, "it is not trading");
	assert_int_equal(fk.n_got, 0);
	/* The next day, the core answering: they expire, and the log counts them. */
	assert_int_equal(cp_life_settle(&L, 202603, D("2026-03-02"), err, sizeof(err)), 0);
	assert_int_equal(cp_life_pre_open(&L, 202603, D("2026-03-03"), err, sizeof(err)), 0);
	assert_int_equal(cp_life_uncross(&L, 202603, TKX_PHASE_CONTINUOUS, err, sizeof(err)), 0);
	fk.drop_type = DP_CTL_END_OF_DAY;
	EXPECT(cp_life_close(&L, 202603, e_, sizeof(e_)), -ETIMEDOUT, "did not answer END_OF_DAY");
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_CLOSED);
	fk.drop_type = 0;
	assert_int_equal(cp_life_settle(&L, 202603, D("2026-03-03"), err, sizeof(err)), 0);
	assert_int_equal(cp_life_pre_open(&L, 202603, D("2026-03-04"), err, sizeof(err)), 0);
	assert_int_equal(cp_life_uncross(&L, 202603, TKX_PHASE_CONTINUOUS, err, sizeof(err)), 0);
	assert_int_equal(cp_life_close(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(f->orders, 0);
	assert_int_equal(f->ends_of_day, 1);
	assert_int_equal(log_count("contract 202603: end of day: 4 DAY order(s) expired"), 1);
}

/* The clock forward minute by minute; failed ticks are the test's to judge. */
static void run_quiet(const char *date, const char *hhmm)
{
	uint32_t m;
	assert_int_equal(cp_parse_hhmm(hhmm, &m), 0);
	uint64_t end = cp_cal_utc_ns(&L.cal, D(date), m);
	while (clk < end) {
		clk += 60ull * 1000000000ull;
		if (clk > end)
			clk = end;
		cp_sched_tick(&S);
	}
}

/* A transition that fails at every tick is logged once, then counted; its end is logged
 * with the count. */
static void test_error_once(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-02", "08:00");
	define(202603, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	fk.fail_type = DP_CTL_BAND;
	fk.fail_rc = -EIO;
	run_quiet("2026-03-02", "10:00"); /* 65 ticks since 08:55, each failing */
	assert_true(S.errors >= 60);
	assert_int_equal(S.errors_quiet, S.errors - 1);
	assert_int_equal(log_count("matching core 0 refused BAND"), 1);
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_LISTED);
	/* Another error on it is news: logged. */
	fk.fail_rc = -EPERM;
	run_quiet("2026-03-02", "10:05");
	assert_int_equal(log_count("matching core 0 refused BAND"), 2);
	uint64_t errors = S.errors;
	fk.fail_type = 0;
	run_quiet("2026-03-02", "10:06");
	assert_int_equal(S.errors, errors);
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(log_count("contract 202603: the scheduler goes on (the error above came 5 "
				   "time(s))"), 1);
}

/* Expiry follows the calendar whatever the start time: a month whose last trading day is
 * over expires (never opened, or settled days before it), the roll lists the next month,
 * and the spot month is the nearest month not over. */
static void test_expiry_calendar(void **state)
{
	(void)state;
	char err[256];
	/* Started after the close of 202603's last trading day (Tuesday 31 March). */
	at("2026-03-31", "16:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	/* Already the spot month: 202603's day is over, LISTED or not. */
	assert_int_equal(cp_life_spot(&L)->id, 202604);
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	assert_int_equal(fk_find(&fk, 202603)->spot, 0);
	run_to("2026-03-31", "16:01");
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(fk_find(&fk, 202603)->phase, TKX_PHASE_EXPIRED);
	assert_non_null(cp_life_find(&L, 202605)); /* the roll */
	assert_int_equal(cp_life_find(&L, 202605)->phase, TKX_PHASE_LISTED);
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	assert_int_equal(S.errors, 0);
}

/* Settled on a day before its last trading day, then tokexd was down over it. */
static void test_expiry_missed(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-27", "08:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	run_to("2026-03-27", "15:01");
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	assert_int_equal(k->phase, TKX_PHASE_SETTLED);
	assert_int_equal(k->settled_day, D("2026-03-27"));
	/* Back on 1 April: the month is past; its last trading day was never traded. A
	 * restart: a new scheduler, whose first tick takes the calendar as it finds it. */
	at("2026-04-01", "09:30");
	S.last_now = 0;
	EXPECT(cp_life_pre_open(&L, 202603, D("2026-04-01"), e_, sizeof(e_)), -ESTALE,
	       "its last trading day was 2026-03-31: expire it");
	assert_true(cp_life_expiry_due(&L, k, D("2026-04-01")));
	run_to("2026-04-01", "09:31");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(cp_life_find(&L, 202604)->phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	/* A LISTED month is due once its last trading day is over, not before. */
	define(202606, 25000);
	assert_int_equal(cp_life_list(&L, 202606, err, sizeof(err)), 0);
	k = cp_life_find(&L, 202606);
	at("2026-06-29", "16:00");
	assert_false(cp_life_expiry_due(&L, k, D("2026-06-29")));
	EXPECT(cp_life_expire(&L, 202606, D("2026-06-29"), e_, sizeof(e_)), -EINVAL,
	       "contract 202606: its last trading day is 2026-06-30: not before");
	at("2026-06-30", "14:59");
	assert_false(cp_life_expiry_due(&L, k, D("2026-06-30")));
	EXPECT(cp_life_expire(&L, 202606, D("2026-06-30"), e_, sizeof(e_)), -EINVAL,
	       "last trading day 2026-06-30 not yet traded and settled");
	at("2026-06-30", "15:00");
	assert_true(cp_life_expiry_due(&L, k, D("2026-06-30")));
	assert_int_equal(cp_life_expire(&L, 202606, D("2026-06-30"), err, sizeof(err)), 0);
}

/* The spot flag moves when the spot month is delisted (a month that never traded). */
static void test_spot_delist(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-02", "08:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	assert_int_equal(fk_find(&fk, 202603)->spot, 1);
	assert_int_equal(cp_life_delist(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_spot(&L)->id, 202604);
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	assert_true(cp_life_find(&L, 202604)->spot);
}

/* The built-in months start at the exchange's month: at 02:00 Beijing time on 1 April
 * (still 31 March in UTC) that is April; the old UTC month listed March, already over. */
static void test_default_months(void **state)
{
	(void)state;
	static struct cp_config cfg;
	cp_config_defaults(&cfg);
	int64_t t = (int64_t)(cp_cal_utc_ns(&L.cal, D("2026-04-01"), 2 * 60) / 1000000000ull);
	cp_config_default_months(&cfg, t);
	assert_int_equal(cfg.n_contracts, 12);
	assert_int_equal(cfg.contracts[0].id, 202604);
	assert_string_equal(cfg.contracts[0].symbol, "TKN2604");
	assert_int_equal(cfg.contracts[11].id, 202703);
	t = (int64_t)(cp_cal_utc_ns(&L.cal, D("2026-03-31"), 23 * 60 + 59) / 1000000000ull);
	cp_config_default_months(&cfg, t);
	assert_int_equal(cfg.contracts[0].id, 202603);
	assert_int_equal(cfg.contracts[9].id, 202612);
	assert_int_equal(cfg.contracts[10].id, 202701);
}

/* Waiting for a fixing: the index file is read again only when it changed, and waiting is
 * not a refusal. */
static void test_index_wait(void **state)
{
	(void)state;
	char err[256], idx[64];
	snprintf(idx, sizeof(idx), "/tmp/tokex-index-wait-%d.csv", (int)getpid());
	snprintf(L.index_file, sizeof(L.index_file), "%s", idx);
	write_index(idx, 21); /* 31 March missing */
	at("2026-03-31", "08:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	run_to("2026-03-31", "15:01");
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	uint64_t refused = L.st.refused;
	run_to("2026-03-31", "18:00"); /* three hours of ticks */
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(S.index_reads, 1);
	assert_int_equal(L.st.refused, refused);
	assert_int_equal(log_count("no index fixing for business day 2026-03-31"), 1);
	assert_int_equal(S.errors, 0);
	write_index(idx, 22);
	run_to("2026-03-31", "18:01");
	assert_int_equal(S.index_reads, 2);
	assert_int_equal(k->phase, TKX_PHASE_DELISTED);
	assert_int_equal(k->final_settle, 25110); /* 552310 / 22 = 25105 -> 2.5110 */
	assert_int_equal(L.st.refused, refused);
	unlink(idx);
}

/* The clock jumps (a simulated calendar moved on, a fast rate, a control thread off its
 * CPU): one tick goes through every trading day on the way, in order - each opens,
 * closes and settles, the last trading day expires the month and the roll lists the
 * next. Before, a tick only saw the time it read: the days in between were skipped, and
 * a month whose last trading day was jumped over expired unsettled on that day. */
static void test_jump(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-26", "08:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	assert_true(cp_sched_tick(&S) >= 0); /* the run's first tick */
	/* Thursday 08:00 -> Wednesday 1 April 20:00 in one tick: Thu, Fri, Mon 30, Tue 31
	 * (202603's last trading day), Wed 1 April. */
	at("2026-04-01", "20:00");
	int rc = cp_sched_tick(&S);
	assert_true(rc > 0);
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(k->settled_day, D("2026-03-31"));
	assert_int_equal(k->days_traded, 4);
	struct cp_life_contract *n = cp_life_find(&L, 202604);
	assert_int_equal(n->phase, TKX_PHASE_SETTLED);
	assert_int_equal(n->days_traded, 5);
	assert_int_equal(n->settled_day, D("2026-04-01"));
	assert_int_equal(n->band_bp, 800); /* first day over */
	assert_non_null(cp_life_find(&L, 202605));
	assert_int_equal(cp_life_find(&L, 202605)->phase, TKX_PHASE_SETTLED); /* listed 31/3 */
	assert_int_equal(cp_life_find(&L, 202605)->days_traded, 1);
	assert_int_equal(fk_find(&fk, 202604)->spot, 1);
	/* In order: 31 March's settlement, its expiry, the listing, 1 April's day. */
	const char *s1 = strstr(logbuf, "contract 202603: settled 2026-03-31");
	const char *s2 = strstr(logbuf, "contract 202603: SETTLED -> EXPIRED");
	const char *s3 = strstr(logbuf, "contract 202605: defined");
	const char *s4 = strstr(logbuf, "contract 202604: trading day 2026-04-01");
	assert_non_null(s1);
	assert_non_null(s2);
	assert_non_null(s3);
	assert_non_null(s4);
	assert_true(s1 < s2 && s2 < s3 && s3 < s4);
	assert_true(S.events >= 5 * 8);
	assert_int_equal(S.errors, 0);
}

/* The roll's new month is referenced on the furthest month's settlement of the day the
 * spot month expired, whichever comes first in the table. Before, the expiring month
 * (first in the table) listed its successor before the furthest month had settled: the
 * reference was the day before's. */
static void test_roll_reference(void **state)
{
	(void)state;
	char err[256];
	at("2026-03-31", "08:00");
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);
	run_to("2026-03-31", "09:30");
	fk_trade(&fk, 202604, 26000, 10);
	run_to("2026-03-31", "15:01");
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(cp_life_find(&L, 202604)->settle, 26000);
	struct cp_life_contract *n = cp_life_find(&L, 202605);
	assert_non_null(n);
	assert_int_equal(n->prev_settle, 26000);
	assert_int_equal(n->phase, TKX_PHASE_LISTED);
	assert_int_equal(S.errors, 0);
}

static uint64_t cmd_clock(void *arg)
{
	return cp_clock_read(arg);
}

/* 'clock' steers a simulated calendar: hold, run, rate, to (forward only, then held),
 * the scheduler going through the days on the way before the answer; the wall clock is
 * not steered. */
static void test_clock_cmd(void **state)
{
	(void)state;
	static struct cp_clock ck;
	char out[4096], err[256];
	uint64_t t0;
	assert_int_equal(cp_clock_parse_time("2026-03-27T20:00:00+08:00", &t0, err, sizeof(err)), 0);
	cp_clock_sim(&ck, t0, CP_CLOCK_RATE_ONE, cp_clock_mono());
	cp_sched_init(&S, &L, cmd_clock, &ck);
	struct cp_cmd_ctx x = {.L = &L, .S = &S, .clock = &ck};
	L.now = t0;
	define(202603, 25000);
	define(202604, 25000);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202604, err, sizeof(err)), 0);

	assert_int_equal(cp_cmd_exec(&x, "clock hold", out, sizeof(out)), 0);
	assert_non_null(strstr(out, " rate 1 simulated held\n"));
	assert_int_equal(cp_cmd_exec(&x, "tick", out, sizeof(out)), 0);
	assert_int_equal(cp_cmd_exec(&x, "clock to 2026-03-30T09:30+08:00", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "calendar 2026-03-30T09:30:00+08:00 rate 1 simulated held\n"));
	assert_non_null(strstr(out, " transition(s)\n"));
	assert_int_equal(cp_life_find(&L, 202603)->phase, TKX_PHASE_CONTINUOUS);
	/* Held: the calendar stands still. */
	assert_int_equal(cp_cmd_exec(&x, "clock", out, sizeof(out)), 0);
	assert_string_equal(out, "calendar 2026-03-30T09:30:00+08:00 rate 1 simulated held\n");
	/* Forward over the last trading day: settled 30 and 31 March, expired, rolled. */
	assert_int_equal(cp_cmd_exec(&x, "clock to 2026-04-01T08:00:00+08:00", out, sizeof(out)), 0);
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(k->settled_day, D("2026-03-31"));
	assert_int_equal(k->days_traded, 2);
	assert_non_null(cp_life_find(&L, 202605));
	/* Never backwards; bad words refused with the reason. */
	assert_int_equal(cp_cmd_exec(&x, "clock to 2026-03-31T08:00:00+08:00", out, sizeof(out)),
			 -EINVAL);
	assert_non_null(strstr(out, "the calendar is already at 2026-04-01T08:00:00+08:00 and "
				    "does not run backwards"));
	assert_int_equal(cp_cmd_exec(&x, "clock to 2026-04-02", out, sizeof(out)), -EINVAL);
	assert_non_null(strstr(out, "clock to: '2026-04-02': "));
	assert_int_equal(cp_cmd_exec(&x, "clock rate 0", out, sizeof(out)), -EINVAL);
	assert_non_null(strstr(out, "clock rate: '0': the calendar's rate is more than 0"));
	assert_int_equal(cp_cmd_exec(&x, "clock fast", out, sizeof(out)), -EINVAL);
	assert_non_null(strstr(out, "clock: 'fast' is not valid; usage: clock [hold|run|rate R|to "
				    "TIME]"));
	assert_int_equal(cp_cmd_exec(&x, "clock to", out, sizeof(out)), -EINVAL);
	assert_int_equal(cp_cmd_exec(&x, "clock hold now", out, sizeof(out)), -EINVAL);
	/* The rate, then running: the time goes on from where it was held. */
	assert_int_equal(cp_cmd_exec(&x, "clock rate 3600", out, sizeof(out)), 0);
	assert_string_equal(out, "calendar 2026-04-01T08:00:00+08:00 rate 3600 simulated held\n");
	assert_int_equal(cp_cmd_exec(&x, "clock run", out, sizeof(out)), 0);
	assert_non_null(strstr(out, " rate 3600 simulated\n"));
	assert_false(ck.held);
	assert_true(cp_clock_read(&ck) >= cp_cal_utc_ns(&L.cal, D("2026-04-01"), 8 * 60));
	/* 'to' while running holds it there. */
	assert_int_equal(cp_cmd_exec(&x, "clock to 2026-04-02T08:00:00+08:00", out, sizeof(out)), 0);
	assert_true(ck.held);
	/* The wall clock is not steered. */
	cp_clock_wall(&ck);
	assert_int_equal(cp_cmd_exec(&x, "clock hold", out, sizeof(out)), -ENOTSUP);
	assert_non_null(strstr(out, "clock hold: the calendar is the wall clock"));
	assert_int_equal(cp_cmd_exec(&x, "clock", out, sizeof(out)), 0);
	assert_non_null(strstr(out, " rate 1 wall\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_impossible, setup),
		cmocka_unit_test_setup(test_month, setup),
		cmocka_unit_test_setup(test_close_end_of_day, setup),
		cmocka_unit_test_setup(test_error_once, setup),
		cmocka_unit_test_setup(test_expiry_calendar, setup),
		cmocka_unit_test_setup(test_expiry_missed, setup),
		cmocka_unit_test_setup(test_spot_delist, setup),
		cmocka_unit_test_setup(test_default_months, setup),
		cmocka_unit_test_setup(test_index_wait, setup),
		cmocka_unit_test_setup(test_jump, setup),
		cmocka_unit_test_setup(test_roll_reference, setup),
		cmocka_unit_test_setup(test_clock_cmd, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
