/* test_life_mcore.c - a contract's whole life, listing to delisting, with the lifecycle
 * and the scheduler driving a real matching core (mc_control) on the injectable clock,
 * and orders fed through mc_process: the opening auction (uncross price against a hand
 * computation), continuous trading, a halt and resume, a limit-up locked day and the next
 * day's wider limits, a volatility interruption, daily settlements (VWAP by hand), expiry
 * on the last business day, final settlement from an index file, delisting, the new month
 * listed; wrong-phase and out-of-limit orders rejected; position limits across many
 * orders. */
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

#include "cp_life.h"
#include "cp_sched.h"
#include "mc_core.h"

#define TICK 10
#define REF 25000

static struct mc_core *mc;
static void *mc_mem;
static struct cp_life L;
static struct cp_sched S;
static uint64_t clk;

static struct dp_event evs[4096];
static uint32_t n_evs;
static struct dp_event obuf[16];

static void collect(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++)
		if (n_evs < 4096)
			evs[n_evs++] = o->ev[i];
	o->n = 0;
}

static struct mc_out out = {obuf, 0, 16, collect, NULL};

static int core_send(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	(void)arg;
	assert_int_equal(core, 0);
	mc_control(mc, c, &out, r);
	return 0; /* a reply came; r->rc says what the core did */
}

static void core_log(void *arg, uint64_t now, const char *line)
{
	(void)arg;
	(void)now;
	if (getenv("TKX_TEST_VERBOSE"))
		printf("  log: %s\n", line);
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

static void run_to(const char *date, const char *hhmm)
{
	uint32_t m;
	assert_int_equal(cp_parse_hhmm(hhmm, &m), 0);
	uint64_t end = cp_cal_utc_ns(&L.cal, D(date), m);
	assert_true(end >= clk);
	while (clk < end) {
		clk += 60ull * 1000000000ull;
		if (clk > end)
			clk = end;
		int rc = cp_sched_tick(&S);
		if (rc < 0)
			fail_msg("scheduler: %s", S.last_error);
	}
}

static uint64_t next_clid = 1;

/* One NEW through mc_process, an iceberg's show or a stop price with it (0: none): 0
 * when acknowledged, else the reject reason. */
static int order_t(uint32_t id, uint32_t firm, uint32_t account, uint8_t side, int64_t price,
		   uint32_t qty, uint8_t tif, uint32_t show, int64_t stop)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = DP_ORD_NEW;
	o.src = 0;
	o.session = (uint16_t)firm;
	o.contract_id = id;
	o.firm_id = firm;
	o.account = account;
	o.cl_ord_id = next_clid++;
	o.side = side;
	o.price = price;
	o.qty = qty;
	o.tif = tif;
	dp_order_set_type(&o, show, stop);
	n_evs = 0;
	mc_process(mc, &o, 1, clk, &out);
	for (uint32_t i = 0; i < n_evs; i++) {
		if (evs[i].template_id == TKX_EXEC_ACK && evs[i].u.ack.cl_ord_id == o.cl_ord_id)
			return 0;
		if (evs[i].template_id == TKX_EXEC_REJECT &&
		    evs[i].u.reject.cl_ord_id == o.cl_ord_id)
			return evs[i].u.reject.reason;
	}
	fail_msg("no answer to order %" PRIu64, o.cl_ord_id);
	return -1;
}

static int order(uint32_t id, uint32_t firm, uint32_t account, uint8_t side, int64_t price,
		 uint32_t qty, uint8_t tif)
{
	return order_t(id, firm, account, side, price, qty, tif, 0, 0);
}

#define BUY TKX_SIDE_BUY
#define SELL TKX_SIDE_SELL
#define GTC TKX_TIF_GTC
#define IOC TKX_TIF_IOC

static int setup(void **state)
{
	(void)state;
	/* tokexd's way: the first month built at init, the rest LISTed into spare slots. */
	struct mc_contract_params p;
	memset(&p, 0, sizeof(p));
	p.id = 202603;
	p.book = (struct me_params){.price_lo = REF / 2, .price_hi = REF + REF / 2, .tick = TICK,
				    .max_qty = 1000, .max_orders = 256};
	p.phase = TKX_PHASE_LISTED;
	struct mc_core_cfg cfg = {.capacity = 16, .accounts = 16,
				  .slot_bytes = me_book_memsize(&p.book), .tracked = 4096};
	size_t len = mc_core_memsize_cfg(&p, 1, &cfg);
	assert_true(len > 0);
	mc_mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	mc = mc_core_init_cfg(mc_mem, len, &p, 1, &cfg);
	assert_non_null(mc);

	struct cp_life_ops ops = {core_send, core_log, NULL};
	cp_life_init(&L, &ops, 1);
	cp_sched_init(&S, &L, test_clock, NULL);
	clk = cp_cal_utc_ns(&L.cal, D("2026-02-27"), 20 * 60);
	L.now = clk;
	n_evs = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	free(mc_mem);
	return 0;
}

static void write_index(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "# date,index (CNY per 1M tokens)\n");
	int i = 0;
	for (int d = 1; d <= 31; d++) {
		if (!cp_cal_is_business_day(&L.cal, cp_days_from_civil(2026, 3, d)))
			continue;
		fprintf(f, "2026-03-%02d,2.%04d\n", d, 5000 + 10 * i++);
	}
	fclose(f);
}

static void test_whole_life(void **state)
{
	(void)state;
	char err[256], idx[64];
	snprintf(idx, sizeof(idx), "/tmp/tokex-life-index-%d.csv", (int)getpid());
	unlink(idx);
	snprintf(L.index_file, sizeof(L.index_file), "%s", idx);

	/* Twelve months: 202603 adopted (the core built it), eleven LISTed. */
	uint32_t ids[12];
	cp_cal_contract_ids(202603, 12, ids);
	for (int i = 0; i < 12; i++) {
		struct cp_life_params cp = {.id = ids[i], .tick = TICK, .ref_price = REF,
					    .max_qty = 1000, .max_orders = 256};
		assert_int_equal(cp_life_define(&L, &cp, err, sizeof(err)), 0);
		if (cp_life_list(&L, ids[i], err, sizeof(err)) < 0)
			fail_msg("list %u: %s", ids[i], err);
		assert_int_equal(mc_phase(mc, ids[i]), TKX_PHASE_LISTED);
	}
	/* Account limits: firm 1/7 at most 50 a order, 100 a contract, 60 in the spot month. */
	struct cp_account acc = {.firm = 1, .account = 7, .max_qty = 50, .max_pos = 100,
				 .max_pos_spot = 60};
	assert_int_equal(cp_life_account(&L, &acc, err, sizeof(err)), 0);
	struct cp_life_contract *k = cp_life_find(&L, 202603);

	/* A LISTED contract takes no order. */
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, GTC), TKX_REJ_PHASE);

	/* ---- Day 1, Monday 2 March: first day, limits +-16 % = [21000, 29000]. ---- */
	run_to("2026-03-02", "08:56");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_PRE_OPEN);
	int64_t lo, hi;
	me_book_band(mc_book(mc, 202603), &lo, &hi);
	assert_int_equal(lo, 21000);
	assert_int_equal(hi, 29000);
	/* Outside the limits: rejected; IOC in the auction: rejected PHASE. */
	assert_int_equal(order(202603, 2, 8, BUY, 29010, 1, GTC), TKX_REJ_PRICE_BAND);
	assert_int_equal(order(202603, 3, 9, SELL, 20990, 1, GTC), TKX_REJ_PRICE_BAND);
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, IOC), TKX_REJ_PHASE);
	/* The auction book. Hand computation of D(p) (bids >= p) and S(p) (asks <= p):
	 *   p      D   S   executed
	 *   24900  40  15  15
	 *   25000  40  15  15
	 *   25100  30  25  25   <- the most: uncross at 2.5100, volume 25
	 *   25200  10  25  10
	 *   25300   0  45   0 */
	assert_int_equal(order(202603, 2, 8, BUY, 25200, 10, GTC), 0);
	assert_int_equal(order(202603, 2, 8, BUY, 25100, 20, GTC), 0);
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 10, GTC), 0);
	assert_int_equal(order(202603, 3, 9, SELL, 24900, 15, GTC), 0);
	assert_int_equal(order(202603, 3, 9, SELL, 25100, 10, GTC), 0);
	assert_int_equal(order(202603, 3, 9, SELL, 25300, 20, GTC), 0);
	n_evs = 0;
	run_to("2026-03-02", "08:59");
	assert_int_equal(k->phase, TKX_PHASE_AUCTION);
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_AUCTION);
	assert_int_equal(k->uncross_price, 25100);
	assert_int_equal(k->uncross_qty, 25);
	/* Published: trades at 2.5100 and ContractStatus AUCTION. */
	int trades = 0, status_auction = 0;
	for (uint32_t i = 0; i < n_evs; i++) {
		if (evs[i].template_id == TKX_MD_TRADE && evs[i].u.trade.contract_id == 202603) {
			assert_int_equal(evs[i].u.trade.price, 25100);
			trades += (int)evs[i].u.trade.qty;
		}
		if (evs[i].template_id == TKX_MD_CONTRACT_STATUS &&
		    evs[i].u.status.contract_id == 202603 &&
		    evs[i].u.status.phase == TKX_PHASE_AUCTION)
			status_auction++;
	}
	assert_int_equal(trades, 25);
	assert_int_equal(status_auction, 1);
	/* No order entry between the uncross and the open. */
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, GTC), TKX_REJ_PHASE);
	run_to("2026-03-02", "09:00");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_CONTINUOUS);
	/* Continuous: 5 @ 2.5100 (hits the bid left at 2.5100), 7 @ 2.5300. */
	assert_int_equal(order(202603, 3, 9, SELL, 25100, 5, GTC), 0);
	assert_int_equal(order(202603, 2, 8, BUY, 25300, 7, GTC), 0);
	/* Position limits, spot month (60): 3 x 20 rest, the 4th breaks it; MAX_QTY. */
	for (int i = 0; i < 3; i++)
		assert_int_equal(order(202603, 1, 7, BUY, 24000, 20, GTC), 0);
	assert_int_equal(order(202603, 1, 7, BUY, 24000, 1, GTC), TKX_REJ_POSITION_LIMIT);
	assert_int_equal(order(202603, 1, 7, SELL, 26000, 51, GTC), TKX_REJ_MAX_QTY);
	/* ... and not the spot month (100), across many small orders, fills included. */
	struct cp_life_contract *k4 = cp_life_find(&L, 202604);
	assert_int_equal(k4->phase, TKX_PHASE_CONTINUOUS);
	int accepted = 0;
	for (int i = 0; i < 30; i++)
		if (order(202604, 1, 7, BUY, 25000, 7, GTC) == 0)
			accepted++;
		else
			assert_int_equal(order(202604, 1, 7, BUY, 25000, 7, GTC),
					 TKX_REJ_POSITION_LIMIT);
	assert_int_equal(accepted, 14); /* 14 * 7 = 98 <= 100 < 105 */
	assert_int_equal(order(202604, 3, 9, SELL, 25000, 50, GTC), 0); /* fills 50 of them */
	struct mc_position pos;
	assert_int_equal(mc_position(mc, 1, 7, 202604, &pos), 0);
	assert_int_equal(pos.pos, 50);
	assert_int_equal(pos.open_buy, 48);
	assert_int_equal(order(202604, 1, 7, BUY, 25000, 3, GTC), TKX_REJ_POSITION_LIMIT);
	assert_int_equal(order(202604, 1, 7, BUY, 25000, 2, GTC), 0); /* exactly 100 */
	/* A sell reduces the long: allowed up to the limit on the short side. */
	assert_int_equal(order(202604, 1, 7, SELL, 26000, 50, GTC), 0);
	/* Operator halt and resume. */
	run_to("2026-03-02", "10:00");
	assert_int_equal(cp_life_halt(&L, 202603, CP_HALT_OPERATOR, err, sizeof(err)), 0);
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, GTC), TKX_REJ_HALTED);
	run_to("2026-03-02", "10:05");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_HALTED);
	assert_int_equal(cp_life_resume(&L, 202603, cp_sched_resume_phase(&S), err, sizeof(err)), 0);
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_CONTINUOUS);
	/* The break. */
	run_to("2026-03-02", "10:20");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_BREAK);
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, GTC), TKX_REJ_PHASE);
	/* Close and settle. Day: 25 + 5 @ 2.5100, 7 @ 2.5300: notional 30 * 25100 + 7 * 25300
	 * = 753000 + 177100 = 930100 over 37 = 25137.84 -> 2.5140. */
	run_to("2026-03-02", "15:01");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_SETTLED);
	assert_int_equal(k->volume, 37);
	assert_int_equal(k->notional, 930100);
	assert_int_equal(k->settle, 25140);
	/* Next limits 8 %: 25140 * 0.08 = 2011.2 -> [23129, 27151] -> [23130, 27150]. */
	assert_int_equal(k->lo, 23130);
	assert_int_equal(k->hi, 27150);
	assert_int_equal(order(202603, 2, 8, BUY, 25000, 1, GTC), TKX_REJ_PHASE);

	/* ---- Day 2: limit-up locked. ---- */
	run_to("2026-03-03", "09:01");
	me_book_band(mc_book(mc, 202603), &lo, &hi);
	assert_int_equal(lo, 23130);
	assert_int_equal(hi, 27150);
	assert_int_equal(order(202603, 2, 8, BUY, 27160, 1, GTC), TKX_REJ_PRICE_BAND);
	/* 13 @ 2.5300 (the ask left from day 1), 2 @ 2.7150; a bid stays at the limit. */
	assert_int_equal(order(202603, 2, 8, BUY, 27150, 18, GTC), 0);
	assert_int_equal(order(202603, 3, 9, SELL, 27150, 2, GTC), 0);
	run_to("2026-03-03", "15:01");
	/* (13 * 25300 + 2 * 27150) / 15 = 383200 / 15 = 25546.67 -> 2.5550. */
	assert_int_equal(k->volume, 15);
	assert_int_equal(k->settle, 25550);
	assert_int_equal(k->locked_flags & 1, 1);
	/* The next day's limits widen to 12 %: 3066 -> [22484, 28616] -> [22490, 28610]. */
	L.vol_guard_bp = 100; /* and a 1 % volatility guard from day 3 */
	run_to("2026-03-04", "08:56");
	assert_int_equal(k->band_bp, 1200);
	me_book_band(mc_book(mc, 202603), &lo, &hi);
	assert_int_equal(lo, 22490);
	assert_int_equal(hi, 28610);

	/* ---- Day 3: a volatility interruption. ---- */
	run_to("2026-03-04", "09:10");
	assert_int_equal(order(202603, 3, 9, SELL, 28000, 1, GTC), 0);
	assert_int_equal(order(202603, 2, 8, BUY, 28000, 1, GTC), 0); /* 28000 is > 1 % away */
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_PRE_OPEN);   /* the core's auction */
	run_to("2026-03-04", "09:11");
	assert_int_equal(k->phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(k->halt_reason, CP_HALT_VOLATILITY);
	run_to("2026-03-04", "09:14");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_CONTINUOUS);
	assert_int_equal(k->phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(k->uncross_price, 28000);
	assert_int_equal(L.st.vol_halts, 1);
	L.vol_guard_bp = 0;
	run_to("2026-03-04", "15:01");
	assert_int_equal(k->settle, 28000); /* the one trade of the day */
	assert_int_equal(k->locked_flags & 3, 0);
	run_to("2026-03-05", "08:56");
	assert_int_equal(k->band_bp, 800); /* back to normal */

	/* ---- To the last trading day, Tuesday 31 March. ---- */
	run_to("2026-03-31", "10:00");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_CONTINUOUS);
	assert_true(me_book_count(mc_book(mc, 202603)) > 0); /* orders still rest */
	run_to("2026-03-31", "15:30");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_EXPIRED);
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 0); /* cancelled at expiry */
	assert_int_equal(k->days_traded, 22);
	assert_int_equal(order(202603, 2, 8, BUY, 28000, 1, GTC), TKX_REJ_PHASE);
	/* The new month, 202703, listed into a spare slot; the spot month moved. */
	assert_int_equal(mc_phase(mc, 202703), TKX_PHASE_LISTED);
	assert_true(cp_life_find(&L, 202604)->spot);
	/* No index file yet: stays EXPIRED. */
	run_to("2026-03-31", "16:00");
	assert_int_equal(k->phase, TKX_PHASE_EXPIRED);
	/* Final settlement: 22 fixings 2.5000 + 0.0010 i: 552310 / 22 = 25104.5 -> 2.5110. */
	write_index(idx);
	run_to("2026-03-31", "16:01");
	assert_int_equal(k->final_settle, 25110);
	assert_int_equal(k->phase, TKX_PHASE_DELISTED);
	assert_false(mc_owns(mc, 202603));
	assert_int_equal(order(202603, 2, 8, BUY, 28000, 1, GTC), TKX_REJ_UNKNOWN_CONTRACT);
	/* The next day: the new month's first day at 16 %, the spot month trades. */
	run_to("2026-04-01", "09:01");
	assert_int_equal(mc_phase(mc, 202703), TKX_PHASE_CONTINUOUS);
	assert_int_equal(cp_life_find(&L, 202703)->band_bp, 1600);
	assert_int_equal(mc_phase(mc, 202604), TKX_PHASE_CONTINUOUS);
	assert_int_equal(S.errors, 0);
	unlink(idx);
}

/* A business day as "YYYY-MM-DD". */
static const char *day_str(int32_t day, char *buf, size_t len)
{
	cp_format_date(day, buf, len);
	return buf;
}

/* One trading day that closes limit-locked: at the day's limit (the bottom when down,
 * the top when up) a buy of 2 and a sell of 1 trade 1 there, and the side that locks
 * the market stays (an ask at the bottom with no bid, or a bid at the top with no ask).
 * Checks the day opened (CONTINUOUS) with the limits the rules give, on the book. */
static void locked_day(int32_t day, int down, uint32_t want_bp)
{
	char d[16];
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	run_to(day_str(day, d, sizeof(d)), "09:01");
	if (mc_phase(mc, 202603) != TKX_PHASE_CONTINUOUS)
		fail_msg("%s: 202603 is %d, not CONTINUOUS (reference %" PRId64 ")", d,
			 mc_phase(mc, 202603), k->prev_settle);
	int64_t lo, hi, wlo, whi;
	cp_settle_limits(k->prev_settle, want_bp, TICK, &wlo, &whi);
	me_book_band(mc_book(mc, 202603), &lo, &hi);
	if (lo != wlo || hi != whi || k->band_bp != want_bp)
		fail_msg("%s: limits [%" PRId64 ", %" PRId64 "] %u bp, want [%" PRId64 ", %" PRId64
			 "] %u bp around %" PRId64, d, lo, hi, k->band_bp, wlo, whi, want_bp,
			 k->prev_settle);
	int64_t px = down ? lo : hi;
	if (down) {
		assert_int_equal(order(202603, 2, 8, BUY, px, 1, GTC), 0);
		assert_int_equal(order(202603, 3, 9, SELL, px, 2, GTC), 0);
	} else {
		assert_int_equal(order(202603, 3, 9, SELL, px, 1, GTC), 0);
		assert_int_equal(order(202603, 2, 8, BUY, px, 2, GTC), 0);
	}
	/* Beyond the limit: refused by the band, not by the book's range. */
	assert_int_equal(order(202603, 2, 8, BUY, down ? lo - TICK : hi + TICK, 1, GTC),
			 TKX_REJ_PRICE_BAND);
	run_to(d, "15:01");
	assert_int_equal(k->phase, TKX_PHASE_SETTLED);
	assert_int_equal(k->settle, px);
	assert_int_equal(k->locked_flags & 3, down ? 2 : 1);
}

/* Prices go anywhere over a contract's life: 202603, built by the core at start (as
 * tokexd does: its level array +-50 % of 2.5000 = [1.2500, 3.7500], adopted by the
 * control plane), falls limit-down day after day far below 1.2500 with the asks of
 * every day still resting (the array moves under them), then rises limit-up far above
 * 3.7500 with the book emptied after each close (the array is laid out again). Every
 * day opens with the limits the rules give; nothing fails, nothing is logged twice. */
static void test_drift(void **state)
{
	(void)state;
	char err[256], d[16];
	struct cp_life_params cp = {.id = 202603, .tick = TICK, .ref_price = REF,
				    .max_qty = 1000, .max_orders = 256};
	assert_int_equal(cp_life_define(&L, &cp, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0); /* adopted */
	struct cp_life_contract *k = cp_life_find(&L, 202603);
	int32_t day = D("2026-03-02");
	int64_t lo, hi;
	/* Down: 16 % on the first day, 12 % after each locked day. */
	for (int i = 0; i < 7; i++) {
		locked_day(day, 1, i == 0 ? 1600 : 1200);
		day = cp_cal_next_business_day(&L.cal, day);
	}
	/* 2.5 * 0.84 * 0.88^6 = 0.97: 61 % down, far below the first array's 1.2500. */
	assert_true(k->prev_settle < REF * 2 / 5);
	me_book_range(mc_book(mc, 202603), &lo, &hi);
	assert_true(lo < REF / 3);
	assert_true(hi - lo == REF); /* moved, not laid out again: its asks rest */
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 7);
	/* Up, the book emptied after each close: 0.97 * 1.12^13 = 4.2. */
	uint64_t n;
	assert_int_equal(cp_life_mass_cancel(&L, 0, 0, 202603, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 7);
	for (int i = 0; i < 13; i++) {
		locked_day(day, 0, 1200);
		assert_int_equal(cp_life_mass_cancel(&L, 0, 0, 202603, &n, err, sizeof(err)), 0);
		day = cp_cal_next_business_day(&L.cal, day);
	}
	if (k->prev_settle <= REF * 3 / 2)
		fail_msg("only %" PRId64 " on %s", k->prev_settle, day_str(day, d, sizeof(d)));
	run_to(day_str(day, d, sizeof(d)), "09:01");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_CONTINUOUS);
	me_book_range(mc_book(mc, 202603), &lo, &hi);
	assert_true(lo < k->lo && hi > k->hi);
	assert_int_equal(S.errors, 0);
	assert_int_equal(L.st.settlements, 20);
}

/* Kill switch and operator mass cancel through the lifecycle. */
static void test_kill_and_cancel(void **state)
{
	(void)state;
	char err[256];
	struct cp_life_params cp = {.id = 202603, .tick = TICK, .ref_price = REF, .max_qty = 1000,
				    .max_orders = 256};
	assert_int_equal(cp_life_define(&L, &cp, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	run_to("2026-03-02", "09:01");
	assert_int_equal(order(202603, 1, 7, BUY, 24000, 5, GTC), 0);
	assert_int_equal(order(202603, 1, 8, BUY, 24000, 5, GTC), 0);
	assert_int_equal(order(202603, 2, 9, BUY, 24000, 5, GTC), 0);
	assert_int_equal(cp_life_kill(&L, 1, 7, 1, err, sizeof(err)), 0);
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 2);
	assert_int_equal(order(202603, 1, 7, BUY, 24000, 5, GTC), TKX_REJ_KILL_SWITCH);
	assert_int_equal(order(202603, 1, 8, BUY, 24000, 5, GTC), 0);
	assert_int_equal(cp_life_kill(&L, 1, 7, 0, err, sizeof(err)), 0);
	assert_int_equal(order(202603, 1, 7, BUY, 24000, 5, GTC), 0);
	/* Operator mass cancel of firm 1's account 8 on the contract, then everyone. */
	uint64_t n = 99;
	assert_int_equal(cp_life_mass_cancel(&L, 1, 8, 202603, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2); /* the operator is told how many */
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 2);
	assert_int_equal(cp_life_mass_cancel(&L, 0, 0, 0, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 0);
	/* Unknown to the core: the core's refusal reaches the operator. */
	assert_int_equal(cp_life_mass_cancel(&L, 0, 0, 209912, NULL, err, sizeof(err)), -ENOENT);
}

/* DAY orders live until the scheduler's close: a DAY bid, a DAY iceberg ask and a held DAY
 * stop expire at 15:00 (Cancelled DAY_END, after ContractStatus CLOSED); the GTC bid and
 * the GTC stop trade on the next day. */
static void test_day_orders(void **state)
{
	(void)state;
	char err[256];
	struct cp_life_params cp = {.id = 202603, .tick = TICK, .ref_price = REF, .max_qty = 1000,
				    .max_orders = 256};
	assert_int_equal(cp_life_define(&L, &cp, err, sizeof(err)), 0);
	assert_int_equal(cp_life_list(&L, 202603, err, sizeof(err)), 0);
	run_to("2026-03-02", "09:01");
	assert_int_equal(order_t(202603, 1, 7, BUY, 24000, 5, TKX_TIF_DAY, 0, 0), 0);
	assert_int_equal(order_t(202603, 1, 7, BUY, 23990, 3, GTC, 0, 0), 0);
	assert_int_equal(order_t(202603, 2, 9, SELL, 26000, 40, TKX_TIF_DAY, 4, 0), 0);
	assert_int_equal(order_t(202603, 2, 9, SELL, 23000, 2, TKX_TIF_DAY, 0, 23500), 0);
	assert_int_equal(order_t(202603, 2, 9, BUY, 26100, 2, GTC, 0, 26000), 0);
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 5);
	n_evs = 0;
	run_to("2026-03-02", "15:01");
	assert_int_equal(mc_phase(mc, 202603), TKX_PHASE_SETTLED);
	int closed_at = -1, expired = 0;
	uint32_t qty = 0;
	for (uint32_t i = 0; i < n_evs; i++) {
		if (evs[i].template_id == TKX_MD_CONTRACT_STATUS &&
		    evs[i].u.status.phase == TKX_PHASE_CLOSED)
			closed_at = (int)i;
		if (evs[i].template_id == TKX_CANCELLED) {
			assert_int_equal(evs[i].u.cancelled.reason, TKX_CXL_DAY_END);
			assert_true(closed_at >= 0);
			expired++;
			qty += evs[i].u.cancelled.qty;
		}
	}
	assert_int_equal(expired, 3);
	assert_int_equal(qty, 5 + 40 + 2);
	assert_int_equal(me_book_count(mc_book(mc, 202603)), 2);
	assert_int_equal(me_book_held(mc_book(mc, 202603)), 1);
	/* Day 2: the GTC orders are still there; a trade at 26000 elects the GTC stop. */
	run_to("2026-03-03", "09:01");
	assert_int_equal(order(202603, 3, 4, SELL, 26000, 1, GTC), 0);
	assert_int_equal(order(202603, 4, 5, BUY, 26000, 1, IOC), 0);
	int elected = 0;
	for (uint32_t i = 0; i < n_evs; i++)
		elected += evs[i].template_id == TKX_STOP_ELECTED;
	assert_int_equal(elected, 1);
	assert_int_equal(me_book_held(mc_book(mc, 202603)), 0);
	int64_t px, q;
	assert_int_equal(me_book_best(mc_book(mc, 202603), ME_BUY, &px, &q), 0);
	assert_int_equal(px, 26100); /* the elected stop rests at its limit */
	assert_int_equal(q, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_whole_life, setup, teardown),
		cmocka_unit_test_setup_teardown(test_kill_and_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drift, setup, teardown),
		cmocka_unit_test_setup_teardown(test_day_orders, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
