/*
 * cp_life.c - the contract lifecycle state machine; states, transitions and invariants in
 * cp_life.h.
 *
 * Role: control plane. Each transition checks the state, sends its dp_ctl records to the
 * owning core through ops.send, and commits the new state only when the core agreed.
 */
#include "cp_life.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <tokex/venue.h>

static const char *const cp_phase_names[] = {
	"DEFINED", "LISTED", "PRE_OPEN", "AUCTION", "CONTINUOUS", "BREAK",
	"HALTED", "CLOSED", "SETTLED", "EXPIRED", "FINAL_SETTLED", "DELISTED",
};

const char *cp_life_phase_name(int phase)
{
	if (phase < 0 || phase > TKX_PHASE_DELISTED)
		return "?";
	return cp_phase_names[phase];
}

void cp_life_init(struct cp_life *L, const struct cp_life_ops *ops, uint32_t n_cores)
{
	memset(L, 0, sizeof(*L));
	L->ops = *ops;
	L->n_cores = n_cores ? n_cores : 1;
	cp_cal_default(&L->cal);
	L->band.band_bp = 800;
	L->band.first_day_bp = 1600;
	L->band.locked_bp = 1200;
	L->vol_guard_bp = 0;
}

static void cp_log(struct cp_life *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cp_log(struct cp_life *L, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (L->ops.log)
		L->ops.log(L->ops.arg, L->now, line);
}

static int cp_err(struct cp_life *L, char *err, size_t len, int rc, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

/* An impossible request: counted, explained, nothing changed. */
static int cp_err(struct cp_life *L, char *err, size_t len, int rc, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (err && len)
		vsnprintf(err, len, fmt, ap);
	va_end(ap);
	L->st.refused++;
	return rc;
}

struct cp_life_contract *cp_life_find(struct cp_life *L, uint32_t id)
{
	for (uint32_t i = 0; i < L->n; i++)
		if (L->c[i].id == id)
			return &L->c[i];
	return NULL;
}

/* The contract, or -ENOENT with text. */
static struct cp_life_contract *cp_get(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_life_find(L, id);
	if (!k)
		cp_err(L, err, len, -ENOENT, "no contract %u (see 'contracts')", id);
	return k;
}

static int cp_state_err(struct cp_life *L, const struct cp_life_contract *k, char *err,
			size_t len, const char *what, const char *need)
{
	return cp_err(L, err, len, k->phase == TKX_PHASE_DELISTED || k->phase == TKX_PHASE_EXPIRED ||
					   k->phase == TKX_PHASE_FINAL_SETTLED ? -ESTALE : -EBUSY,
		      "contract %u is %s: cannot %s (%s)", k->id, cp_life_phase_name(k->phase),
		      what, need);
}

static void cp_ctl_init(struct cp_life *L, struct dp_ctl *c, uint8_t type, uint32_t id)
{
	memset(c, 0, sizeof(*c));
	c->type = type;
	c->contract_id = id;
	c->seq = ++L->seq;
	c->now = L->now;
}

static const char *cp_ctl_name(uint8_t t)
{
	static const char *const n[] = {"?", "PHASE", "UNCROSS", "BAND", "DAY_STATS", "NEW_DAY",
					"VOL_GUARD", "ACCOUNT", "KILL", "MASS_CANCEL", "LIST",
					"DELIST", "SPOT", "RANGE", "AUCTION", "END_OF_DAY"};
	_Static_assert(sizeof(n) / sizeof(n[0]) == DP_CTL_END_OF_DAY + 1, "a name per type");
	return t <= DP_CTL_END_OF_DAY ? n[t] : "?";
}

/* One command to one core. Returns the core's rc (or the transport's), with text. */
static int cp_send(struct cp_life *L, uint32_t core, const struct dp_ctl *c,
		   struct dp_ctl_reply *r, char *err, size_t len)
{
	struct dp_ctl_reply tmp;
	if (!r)
		r = &tmp;
	memset(r, 0, sizeof(*r));
	L->st.ctl_sent++;
	int rc = L->ops.send(L->ops.arg, core, c, r);
	if (rc < 0) {
		L->st.ctl_failed++;
		cp_log(L, "contract %u: %s to core %u: no reply (%s)", c->contract_id,
		       cp_ctl_name(c->type), core, strerror(-rc));
		if (err && len)
			snprintf(err, len, "contract %u: matching core %u did not answer %s: %s",
				 c->contract_id, core, cp_ctl_name(c->type), strerror(-rc));
		return rc;
	}
	if (r->seq != c->seq) {
		L->st.ctl_failed++;
		if (err && len)
			snprintf(err, len, "contract %u: core %u answered %s with seq %" PRIu64
				 " for %" PRIu64, c->contract_id, core, cp_ctl_name(c->type), r->seq,
				 c->seq);
		return -EPROTO;
	}
	/* LIST answered EEXIST adopts a book the core built at start: not a failure. */
	if (r->rc < 0 && !(c->type == DP_CTL_LIST && r->rc == -EEXIST)) {
		L->st.ctl_failed++;
		if (err && len)
			snprintf(err, len, "contract %u: matching core %u refused %s: %s",
				 c->contract_id, core, cp_ctl_name(c->type), strerror(-r->rc));
	}
	return r->rc;
}

/* DP_CTL_PHASE: the core changes phase and publishes ContractStatus. */
static int cp_phase(struct cp_life *L, struct cp_life_contract *k, uint8_t phase, int64_t price,
		    char *err, size_t len)
{
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_PHASE, k->id);
	c.arg = phase;
	c.arg8 = phase;
	c.price = price;
	int rc = cp_send(L, k->core, &c, NULL, err, len);
	if (rc < 0)
		return rc;
	cp_log(L, "contract %u: %s -> %s", k->id, cp_life_phase_name(k->phase),
	       cp_life_phase_name(phase));
	k->phase = phase;
	L->st.transitions++;
	return 0;
}

/* The book's level array as a reply says it (BAND, RANGE): kept when the core said it. */
static void cp_learn_range(struct cp_life_contract *k, const struct dp_ctl_reply *r)
{
	if (r->high > 0 && r->low <= r->high) {
		k->arr_lo = r->low;
		k->arr_hi = r->high;
	}
}

/* "limits [lo, hi] are outside the book's price range": the operator's words for -ERANGE. */
static void cp_range_text(const struct cp_life_contract *k, int64_t lo, int64_t hi, char *err,
			  size_t len)
{
	char a[24], b[24], c[24], d[24];
	cp_format_price(lo, a, sizeof(a));
	cp_format_price(hi, b, sizeof(b));
	cp_format_price(k->arr_lo, c, sizeof(c));
	cp_format_price(k->arr_hi, d, sizeof(d));
	snprintf(err, len, "contract %u: limits [%s, %s] are outside the book's price range "
		 "[%s, %s]: give limits inside it (the range follows the market: it is centred "
		 "again on the reference at a pre-open that needs it)", k->id, a, b, c, d);
}

static int cp_band(struct cp_life *L, struct cp_life_contract *k, int64_t lo, int64_t hi,
		   char *err, size_t len)
{
	struct dp_ctl c;
	struct dp_ctl_reply r;
	cp_ctl_init(L, &c, DP_CTL_BAND, k->id);
	c.price = lo;
	c.price2 = hi;
	int rc = cp_send(L, k->core, &c, &r, err, len);
	if (rc == 0 || rc == -ERANGE)
		cp_learn_range(k, &r);
	if (rc == -ERANGE && k->arr_hi && err && len)
		cp_range_text(k, lo, hi, err, len);
	if (rc == 0) {
		k->lo = lo;
		k->hi = hi;
	}
	return rc;
}

/* The widest band any day can have (cp_settle.h rule 4). */
static uint32_t cp_widest_bp(const struct cp_life *L)
{
	uint32_t w = L->band.band_bp;
	if (L->band.first_day_bp > w)
		w = L->band.first_day_bp;
	if (L->band.locked_bp > w)
		w = L->band.locked_bp;
	return w;
}

/* The book's price window follows the market: when the widest limits a day can have
 * around the reference no longer fit the level array (the market drifted towards an
 * end), or the array is not known yet (a book the core built at start), the core moves
 * it towards +-CP_LIFE_ARRAY_BP around the reference (DP_CTL_RANGE: laid out again when
 * the book is empty, else moved under the resting orders). A core that cannot leaves
 * the array as it is: the day's limits are then clipped to it. */
static void cp_follow_market(struct cp_life *L, struct cp_life_contract *k)
{
	int64_t wlo, whi, lo, hi;
	cp_settle_limits(k->prev_settle, cp_widest_bp(L), k->tick, &wlo, &whi);
	if (k->arr_hi && wlo >= k->arr_lo && whi <= k->arr_hi)
		return;
	cp_settle_limits(k->prev_settle, CP_LIFE_ARRAY_BP, k->tick, &lo, &hi);
	struct dp_ctl c;
	struct dp_ctl_reply r;
	char e[256];
	cp_ctl_init(L, &c, DP_CTL_RANGE, k->id);
	c.price = lo;
	c.price2 = hi;
	int rc = cp_send(L, k->core, &c, &r, e, sizeof(e));
	if (rc < 0) {
		cp_log(L, "contract %u: the book's price range stays: %s", k->id, e);
		return;
	}
	int64_t olo = k->arr_lo, ohi = k->arr_hi;
	cp_learn_range(k, &r);
	if (k->arr_lo != olo || k->arr_hi != ohi)
		cp_log(L, "contract %u: the book's price range follows the market (reference %"
		       PRId64 "): [%" PRId64 ", %" PRId64 "] -> [%" PRId64 ", %" PRId64 "]%s",
		       k->id, k->prev_settle, olo, ohi, k->arr_lo, k->arr_hi,
		       r.qty ? " under the resting orders" : "");
}

int cp_life_define(struct cp_life *L, const struct cp_life_params *p, char *err, size_t len)
{
	if (cp_life_find(L, p->id))
		return cp_err(L, err, len, -EEXIST, "contract %u already exists", p->id);
	if (L->n == CP_LIFE_MAX)
		return cp_err(L, err, len, -ENOSPC, "contract %u: already %u contracts", p->id,
			      CP_LIFE_MAX);
	if (p->id == 0 || p->tick <= 0 || p->ref_price <= 0 || p->ref_price % p->tick ||
	    p->max_qty <= 0 || p->max_orders == 0 || p->core >= L->n_cores)
		return cp_err(L, err, len, -EINVAL, "contract %u: bad parameters (tick, reference "
			      "on the tick grid, max_qty, max_orders, core < %u)", p->id, L->n_cores);
	struct cp_life_contract *k = &L->c[L->n++];
	memset(k, 0, sizeof(*k));
	k->id = p->id;
	if (p->symbol)
		snprintf(k->symbol, sizeof(k->symbol), "%s", p->symbol);
	else
		cp_cal_symbol(p->id, k->symbol, sizeof(k->symbol));
	k->core = p->core;
	k->phase = TKX_PHASE_DEFINED;
	k->first_day = 1;
	k->tick = p->tick;
	k->max_qty = p->max_qty;
	k->max_orders = p->max_orders;
	k->prev_settle = k->settle = p->ref_price;
	k->trade_day = k->settled_day = -1;
	k->last_trading_day = cp_cal_month_valid(p->id) ? cp_cal_last_trading_day(&L->cal, p->id)
							: INT32_MAX;
	k->band_bp = cp_settle_band_bp(&L->band, 1, 0);
	cp_settle_limits(k->prev_settle, k->band_bp, k->tick, &k->lo, &k->hi);
	cp_log(L, "contract %u: defined (%s, tick %" PRId64 ", reference %" PRId64 ")", k->id,
	       k->symbol, k->tick, k->prev_settle);
	return 0;
}

int cp_life_ltd_over(const struct cp_life *L, const struct cp_life_contract *k, int32_t today)
{
	if (k->last_trading_day == INT32_MAX || today < k->last_trading_day)
		return 0;
	if (today > k->last_trading_day)
		return 1;
	/* Its last trading day is today: over once the calendar has closed the market. */
	int32_t day;
	uint32_t min;
	cp_cal_local(&L->cal, L->now, &day, &min);
	return day > today || (day == today && cp_cal_slot(&L->cal, day, min) == CP_SLOT_CLOSED);
}

int cp_life_expiry_due(const struct cp_life *L, const struct cp_life_contract *k, int32_t today)
{
	if (k->phase != TKX_PHASE_SETTLED && k->phase != TKX_PHASE_LISTED)
		return 0;
	if (k->phase == TKX_PHASE_SETTLED && k->settled_day >= k->last_trading_day)
		return 1;
	return cp_life_ltd_over(L, k, today);
}

static int32_t cp_now_day(const struct cp_life *L)
{
	int32_t day;
	uint32_t min;
	cp_cal_local(&L->cal, L->now, &day, &min);
	return day;
}

/* One DP_CTL_SPOT to the contract's core; the flag follows the core's answer. */
static int cp_spot_send(struct cp_life *L, struct cp_life_contract *k, int on, char *err,
			size_t len)
{
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_SPOT, k->id);
	c.arg = on ? 1 : 0;
	int rc = cp_send(L, k->core, &c, NULL, err, len);
	if (rc == 0)
		k->spot = (uint8_t)(on != 0);
	return rc;
}

/* Invariant 5: the spot month (cp_life_spot) carries the core's spot-month flag
 * (DP_CTL_SPOT), so the accounts' spot position limits apply to it, and no other
 * contract in a core carries it. */
int cp_life_spot_refresh(struct cp_life *L, char *err, size_t len)
{
	struct cp_life_contract *spot = cp_life_spot(L);
	int rc = 0;
	for (uint32_t i = 0; i < L->n; i++) {
		struct cp_life_contract *k = &L->c[i];
		if (k == spot || !k->spot)
			continue;
		if (k->phase == TKX_PHASE_DEFINED || k->phase == TKX_PHASE_DELISTED) {
			k->spot = 0; /* no book in a core: nothing carries the flag */
			continue;
		}
		int r = cp_spot_send(L, k, 0, err, len);
		if (r < 0 && rc == 0)
			rc = r;
		if (r == 0)
			cp_log(L, "contract %u: no longer the spot month", k->id);
	}
	if (spot && !spot->spot) {
		int r = cp_spot_send(L, spot, 1, rc ? NULL : err, len);
		if (r < 0 && rc == 0)
			rc = r;
		if (r == 0)
			cp_log(L, "contract %u: spot month", spot->id);
	}
	return rc;
}

/* YYYYMMDD of a day number; 0 for none. */
static uint32_t cp_yyyymmdd(int32_t day)
{
	int y, m, d;
	/* 0: none - not known, or a contract that never expires (its last trading day is
	 * INT32_MAX: beyond 9999-12-31, day 2932896, there is no YYYYMMDD). */
	if (day <= 0 || day > 2932896)
		return 0;
	cp_civil_from_days(day, &y, &m, &d);
	return (uint32_t)(y * 10000 + m * 100 + d);
}

/*
 * The contract's definition for market data (DP_CTL_DEFINE: the core publishes
 * InstrumentDefinition, and again whenever its limits or phase change): symbol, first and
 * last trading day, the venue's unit and currency, cash settlement on the index, the
 * reference. Sent at listing, adoption and every pre-open. Market data only: a core that
 * refuses it is logged and the transition goes on.
 */
static void cp_define(struct cp_life *L, struct cp_life_contract *k)
{
	char sym[TKX_SYMBOL_LEN], err[128];
	size_t n = strlen(k->symbol);
	memset(sym, ' ', sizeof(sym));
	memcpy(sym, k->symbol, n < sizeof(sym) ? n : sizeof(sym));
	/* The first trading day: the latest opening, less the days traded before it. */
	int32_t first = k->trade_day;
	for (uint32_t i = 0; first > 0 && i < k->days_traded; i++)
		first = cp_cal_prev_business_day(&L->cal, first);
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_DEFINE, k->id);
	dp_ctl_define(&c, k->prev_settle, sym, cp_yyyymmdd(first),
		      cp_yyyymmdd(k->last_trading_day), TKX_VENUE_UNIT, TKX_VENUE_CURRENCY,
		      TKX_SETTLE_CASH_INDEX);
	c.type = DP_CTL_DEFINE;
	if (cp_send(L, k->core, &c, NULL, err, sizeof(err)) < 0)
		cp_log(L, "contract %u: definition not published: %s", k->id, err);
}

static void cp_spot_update(struct cp_life *L)
{
	char err[256];
	if (cp_life_spot_refresh(L, err, sizeof(err)) < 0)
		cp_log(L, "%s", err);
}

int cp_life_list(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_DEFINED)
		return cp_state_err(L, k, err, len, "list it", "only a DEFINED contract is listed");
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_LIST, k->id);
	/* The book's level array is fixed at listing: +-CP_LIFE_ARRAY_BP around the first
	 * reference, wide enough for every band the contract may get in its months. */
	cp_settle_limits(k->prev_settle, CP_LIFE_ARRAY_BP, k->tick, &k->arr_lo, &k->arr_hi);
	c.price = k->arr_lo;
	c.price2 = k->arr_hi;
	c.qty = k->max_qty;
	c.arg = (uint64_t)(uint32_t)k->tick | (uint64_t)(k->max_orders & 0x7fffffffu) << 32;
	c.arg8 = TKX_PHASE_LISTED;
	/* A core whose free slots are too small for the window (the market moved far from
	 * the prices they were sized for) lays the widest window with the same centre that
	 * its largest free slot holds; it moves with the market (cp_follow_market). */
	struct dp_ctl_reply r;
	int rc = cp_send(L, k->core, &c, &r, err, len);
	if (rc == 0)
		cp_learn_range(k, &r);
	int adopted = rc == -EEXIST; /* the core built it at start: adopt it */
	if (adopted) {
		rc = 0;
		k->arr_lo = k->arr_hi = 0; /* its level array is the core's business */
	}
	if (rc < 0)
		return rc;
	if ((rc = cp_band(L, k, k->lo, k->hi, err, len)) < 0)
		return rc;
	/* LIST published ContractStatus LISTED; an adopted book needs the PHASE. */
	if (adopted) {
		if ((rc = cp_phase(L, k, TKX_PHASE_LISTED, TKX_NULL_PRICE, err, len)) < 0)
			return rc;
	} else {
		cp_log(L, "contract %u: DEFINED -> LISTED (level array [%" PRId64 ", %" PRId64 "])",
		       k->id, k->arr_lo, k->arr_hi);
		k->phase = TKX_PHASE_LISTED;
		L->st.transitions++;
	}
	L->st.listed++;
	cp_define(L, k);
	cp_spot_update(L);
	return 0;
}

int cp_life_adopt(struct cp_life *L, uint32_t id, int phase, int32_t today, char *err,
		  size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_DEFINED)
		return cp_state_err(L, k, err, len, "adopt it", "only a DEFINED contract");
	if (phase < TKX_PHASE_LISTED || phase > TKX_PHASE_CLOSED)
		return cp_err(L, err, len, -EINVAL, "contract %u: cannot adopt in %s", k->id,
			      cp_life_phase_name(phase));
	k->phase = (uint8_t)phase;
	if (phase != TKX_PHASE_LISTED) {
		/* Trading since start-up on a normal day's limits (cp_contract_band). */
		k->trade_day = today;
		k->first_day = 0;
		k->band_bp = L->band.band_bp;
		cp_settle_limits(k->prev_settle, k->band_bp, k->tick, &k->lo, &k->hi);
	}
	L->st.listed++;
	cp_log(L, "contract %u: adopted in %s", k->id, cp_life_phase_name(phase));
	cp_define(L, k);
	cp_spot_update(L);
	return 0;
}

int cp_life_pre_open(struct cp_life *L, uint32_t id, int32_t day, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_LISTED && k->phase != TKX_PHASE_SETTLED)
		return cp_state_err(L, k, err, len, "open the auction",
				    "needs LISTED or SETTLED from the previous day");
	if (day > k->last_trading_day) {
		char d[16];
		cp_format_date(k->last_trading_day, d, sizeof(d));
		return cp_err(L, err, len, -ESTALE, "contract %u: its last trading day was %s: "
			      "expire it", k->id, d);
	}
	if (k->trade_day >= day)
		return cp_err(L, err, len, -EALREADY, "contract %u: already traded today", k->id);
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_NEW_DAY, k->id);
	c.price = k->prev_settle;
	int rc = cp_send(L, k->core, &c, NULL, err, len);
	if (rc < 0)
		return rc;
	/* Today's limits (invariant 4), unless the operator already set them. */
	if (!k->limits_set) {
		uint32_t bp = cp_settle_band_bp(&L->band, k->first_day, k->locked_flags);
		int64_t lo, hi;
		cp_settle_limits(k->prev_settle, bp, k->tick, &lo, &hi);
		cp_follow_market(L, k);
		/* Clipped to the level array (when the core could not move it far enough). */
		if (k->arr_hi && (lo < k->arr_lo || hi > k->arr_hi)) {
			cp_log(L, "contract %u: limits [%" PRId64 ", %" PRId64 "] clipped to the book's "
			       "range [%" PRId64 ", %" PRId64 "]", k->id, lo, hi, k->arr_lo, k->arr_hi);
			lo = lo < k->arr_lo ? k->arr_lo : lo;
			hi = hi > k->arr_hi ? k->arr_hi : hi;
		}
		if ((rc = cp_band(L, k, lo, hi, err, len)) < 0)
			return rc;
		k->band_bp = bp;
	}
	cp_ctl_init(L, &c, DP_CTL_VOL_GUARD, k->id);
	c.arg = L->vol_guard_bp;
	c.price = k->prev_settle;
	if ((rc = cp_send(L, k->core, &c, NULL, err, len)) < 0)
		return rc;
	int32_t was = k->trade_day;
	k->trade_day = day; /* the definition's first trading day counts from it */
	cp_define(L, k);
	k->trade_day = was;
	if ((rc = cp_phase(L, k, TKX_PHASE_PRE_OPEN, TKX_NULL_PRICE, err, len)) < 0)
		return rc;
	k->trade_day = day;
	k->uncross_price = TKX_NULL_PRICE;
	k->uncross_qty = 0;
	char d[16];
	cp_format_date(day, d, sizeof(d));
	cp_log(L, "contract %u: trading day %s, reference %" PRId64 ", limits [%" PRId64
	       ", %" PRId64 "] (%u bp%s)", k->id, d, k->prev_settle, k->lo, k->hi, k->band_bp,
	       k->limits_set ? ", operator" : k->first_day ? ", first day" :
	       (k->locked_flags & 3) ? ", after a limit-locked day" : "");
	return 0;
}

int cp_life_uncross(struct cp_life *L, uint32_t id, int next, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_PRE_OPEN)
		return cp_state_err(L, k, err, len, "uncross", "the auction runs from PRE_OPEN");
	if (next != TKX_PHASE_AUCTION && next != TKX_PHASE_CONTINUOUS && next != TKX_PHASE_BREAK)
		return cp_err(L, err, len, -EINVAL, "contract %u: an uncross leads to AUCTION, "
			      "CONTINUOUS or BREAK, not %s", k->id, cp_life_phase_name(next));
	/* The core uncrosses at the price that executes the most (tie-break: nearest the
	 * reference), then enters the phase named (arg 0 = AUCTION) and publishes it. */
	struct dp_ctl c;
	struct dp_ctl_reply r;
	cp_ctl_init(L, &c, DP_CTL_UNCROSS, k->id);
	c.price = k->prev_settle;
	c.arg = next == TKX_PHASE_AUCTION ? 0 : (uint64_t)next;
	int rc = cp_send(L, k->core, &c, &r, err, len);
	if (rc < 0)
		return rc;
	k->uncross_price = r.price;
	k->uncross_qty = r.qty;
	const char *what = k->halt_reason == CP_HALT_VOLATILITY ? "volatility auction"
								 : "opening auction";
	if (r.price == TKX_NULL_PRICE)
		cp_log(L, "contract %u: %s: no cross", k->id, what);
	else
		cp_log(L, "contract %u: %s: uncross at %" PRId64 ", volume %" PRIu64, k->id, what,
		       r.price, r.qty);
	cp_log(L, "contract %u: PRE_OPEN -> %s", k->id, cp_life_phase_name(next));
	k->phase = (uint8_t)next;
	k->halt_reason = CP_HALT_NONE;
	L->st.transitions++;
	return 0;
}

int cp_life_open(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_AUCTION && k->phase != TKX_PHASE_BREAK)
		return cp_state_err(L, k, err, len, "open continuous trading",
				    "needs AUCTION or BREAK");
	return cp_phase(L, k, TKX_PHASE_CONTINUOUS, TKX_NULL_PRICE, err, len);
}

int cp_life_break(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_CONTINUOUS)
		return cp_state_err(L, k, err, len, "break", "needs CONTINUOUS");
	return cp_phase(L, k, TKX_PHASE_BREAK, TKX_NULL_PRICE, err, len);
}

static int cp_is_open(uint8_t phase)
{
	return phase == TKX_PHASE_PRE_OPEN || phase == TKX_PHASE_AUCTION ||
	       phase == TKX_PHASE_CONTINUOUS || phase == TKX_PHASE_BREAK;
}

int cp_life_halt(struct cp_life *L, uint32_t id, int reason, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase == TKX_PHASE_HALTED)
		return cp_err(L, err, len, -EALREADY, "contract %u is already halted", k->id);
	if (!cp_is_open(k->phase))
		return cp_state_err(L, k, err, len, "halt it", "only a trading day can be halted");
	int rc = cp_phase(L, k, TKX_PHASE_HALTED, TKX_NULL_PRICE, err, len);
	if (rc < 0)
		return rc;
	k->halt_reason = (uint8_t)reason;
	k->halted_at = L->now;
	cp_log(L, "contract %u: halted (%s)", k->id,
	       reason == CP_HALT_VOLATILITY ? "volatility interruption" : "operator");
	return 0;
}

int cp_life_resume(struct cp_life *L, uint32_t id, int phase, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_HALTED)
		return cp_state_err(L, k, err, len, "resume it", "only a HALTED contract resumes");
	if (phase != TKX_PHASE_PRE_OPEN && phase != TKX_PHASE_CONTINUOUS && phase != TKX_PHASE_BREAK)
		return cp_err(L, err, len, -EINVAL, "contract %u: cannot resume into %s", k->id,
			      cp_life_phase_name(phase));
	int rc = cp_phase(L, k, (uint8_t)phase, TKX_NULL_PRICE, err, len);
	if (rc == 0)
		k->halt_reason = CP_HALT_NONE;
	return rc;
}

int cp_life_close(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (!cp_is_open(k->phase) && k->phase != TKX_PHASE_HALTED)
		return cp_state_err(L, k, err, len, "close it", "it is not trading");
	int rc = cp_phase(L, k, TKX_PHASE_CLOSED, TKX_NULL_PRICE, err, len);
	if (rc < 0)
		return rc;
	k->halt_reason = CP_HALT_NONE;
	/* The trading day is over: the core expires its DAY orders (GTC orders stay until
	 * the contract expires). Invariant 2: the core is CLOSED already if this fails. */
	struct dp_ctl c;
	struct dp_ctl_reply r;
	cp_ctl_init(L, &c, DP_CTL_END_OF_DAY, k->id);
	rc = cp_send(L, k->core, &c, &r, err, len);
	if (rc < 0) {
		cp_log(L, "contract %u: closed, but its DAY orders did not expire: %s", k->id,
		       err && len ? err : strerror(-rc));
		return rc;
	}
	if (r.qty)
		cp_log(L, "contract %u: end of day: %" PRIu64 " DAY order(s) expired", k->id,
		       r.qty);
	return 0;
}

static int cp_day_stats(struct cp_life *L, struct cp_life_contract *k, struct dp_ctl_reply *r,
			char *err, size_t len)
{
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_DAY_STATS, k->id);
	int rc = cp_send(L, k->core, &c, r, err, len);
	if (rc < 0)
		return rc;
	k->volume = r->qty;
	k->notional = r->notional;
	k->high = r->high;
	k->low = r->low;
	k->last = r->price;
	return 0;
}

int cp_life_settle(struct cp_life *L, uint32_t id, int32_t day, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_CLOSED)
		return cp_state_err(L, k, err, len, "settle it", "close it first: the daily "
				    "settlement is taken after the close");
	struct dp_ctl_reply r;
	int rc = cp_day_stats(L, k, &r, err, len);
	if (rc < 0)
		return rc;
	int64_t s = cp_settle_vwap(r.notional, r.qty, k->tick, k->prev_settle);
	if ((rc = cp_phase(L, k, TKX_PHASE_SETTLED, s, err, len)) < 0)
		return rc;
	char d[16];
	cp_format_date(day, d, sizeof(d));
	cp_log(L, "contract %u: settled %s at %" PRId64 " (%s, volume %" PRIu64 ", notional %" PRIu64
	       "%s%s)", k->id, d, s, r.qty ? "VWAP" : "no trade: previous settlement", r.qty,
	       r.notional, r.flags & 1 ? ", limit-up locked" : "",
	       r.flags & 2 ? ", limit-down locked" : "");
	k->settle = s;
	k->prev_settle = s;
	k->locked_flags = r.flags;
	k->settled_day = day;
	k->first_day = 0;
	k->limits_set = 0;
	k->days_traded++;
	L->st.settlements++;
	/* The next day's band, for display; cp_life_pre_open() recomputes it (invariant 4). */
	k->band_bp = cp_settle_band_bp(&L->band, 0, k->locked_flags);
	cp_settle_limits(k->prev_settle, k->band_bp, k->tick, &k->lo, &k->hi);
	return 0;
}

int cp_life_expire(struct cp_life *L, uint32_t id, int32_t today, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_SETTLED && k->phase != TKX_PHASE_LISTED)
		return cp_state_err(L, k, err, len, "expire it",
				    "needs SETTLED on its last trading day, or LISTED or SETTLED "
				    "once that day is over");
	if (today < k->last_trading_day) {
		char d[16];
		cp_format_date(k->last_trading_day, d, sizeof(d));
		return cp_err(L, err, len, -EINVAL, "contract %u: its last trading day is %s: not "
			      "before", k->id, d);
	}
	if (!cp_life_expiry_due(L, k, today)) {
		char d[16];
		cp_format_date(k->last_trading_day, d, sizeof(d));
		return cp_err(L, err, len, -EINVAL, "contract %u: last trading day %s not yet "
			      "traded and settled", k->id, d);
	}
	/* The core cancels every resting order on PHASE EXPIRED (TKX_CXL_EXPIRY). */
	int rc = cp_phase(L, k, TKX_PHASE_EXPIRED, TKX_NULL_PRICE, err, len);
	if (rc < 0)
		return rc;
	/* The spot month moved: the next contract gets the spot position limit. */
	cp_spot_update(L);
	return 0;
}

int cp_life_final_settle(struct cp_life *L, uint32_t id, const struct cp_fixings *fx,
			 struct cp_final *out, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_EXPIRED)
		return cp_state_err(L, k, err, len, "final-settle it", "needs EXPIRED");
	if (!fx || fx->n == 0)
		return cp_err(L, err, len, -ENODATA, "contract %u: no index fixings: give the index "
			      "file (settlement.index_file or 'final ID FILE')", k->id);
	struct cp_final f;
	int rc = cp_settle_final(fx, &L->cal, k->id, k->tick, &f, err, len);
	if (rc < 0) {
		L->st.refused++;
		return rc;
	}
	if ((rc = cp_phase(L, k, TKX_PHASE_FINAL_SETTLED, f.price, err, len)) < 0)
		return rc;
	k->final_settle = f.price;
	if (f.n_skipped)
		cp_log(L, "contract %u: final settlement %" PRId64 " (mean of %u business-day "
		       "fixings; %u row(s) not on a business day skipped: %s)", k->id, f.price,
		       f.n_used, f.n_skipped, f.skipped);
	else
		cp_log(L, "contract %u: final settlement %" PRId64 " (mean of %u business-day "
		       "fixings)", k->id, f.price, f.n_used);
	if (out)
		*out = f;
	return 0;
}

int cp_life_delist_check(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase != TKX_PHASE_FINAL_SETTLED && k->phase != TKX_PHASE_LISTED)
		return cp_state_err(L, k, err, len, "delist it",
				    "needs FINAL_SETTLED, or LISTED and never traded");
	if (k->phase == TKX_PHASE_LISTED && k->trade_day >= 0)
		return cp_err(L, err, len, -EBUSY, "contract %u has traded: expire and final-settle "
			      "it first", k->id);
	return 0;
}

int cp_life_delist(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	int rc = cp_life_delist_check(L, id, err, len);
	if (rc < 0)
		return rc;
	struct cp_life_contract *k = cp_life_find(L, id);
	/* The core refuses while orders rest, publishes DELISTED and frees the slot. */
	struct dp_ctl c;
	cp_ctl_init(L, &c, DP_CTL_DELIST, k->id);
	rc = cp_send(L, k->core, &c, NULL, err, len);
	if (rc < 0) {
		L->st.refused++;
		if (rc == -EBUSY && err && len)
			snprintf(err, len, "contract %u has open orders: mass-cancel them "
				 "('cancel 0 0 %u') before delisting", k->id, k->id);
		return rc;
	}
	cp_log(L, "contract %u: %s -> DELISTED", k->id, cp_life_phase_name(k->phase));
	k->phase = TKX_PHASE_DELISTED;
	L->st.transitions++;
	L->st.delisted++;
	/* A delisted spot month hands the flag to the next month. */
	cp_spot_update(L);
	return 0;
}

int cp_life_never_traded(const struct cp_life_contract *k)
{
	return k->trade_day < 0 && k->days_traded == 0;
}

int cp_life_forget(struct cp_life *L, uint32_t id)
{
	for (uint32_t i = 0; i < L->n; i++)
		if (L->c[i].id == id) {
			if (L->c[i].phase != TKX_PHASE_DELISTED)
				return -EBUSY;
			L->c[i] = L->c[--L->n];
			return 0;
		}
	return -ENOENT;
}

int cp_life_set_limits(struct cp_life *L, uint32_t id, int64_t lo, int64_t hi, char *err,
		       size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase == TKX_PHASE_DEFINED || k->phase >= TKX_PHASE_EXPIRED)
		return cp_state_err(L, k, err, len, "set its limits", "needs a listed contract");
	if (lo <= 0 || lo > hi || lo % k->tick || hi % k->tick)
		return cp_err(L, err, len, -EINVAL, "contract %u: limits [%" PRId64 ", %" PRId64
			      "] must be on the tick grid (%" PRId64 "), 0 < lo <= hi", k->id, lo, hi,
			      k->tick);
	if (k->arr_hi && (lo < k->arr_lo || hi > k->arr_hi)) {
		cp_range_text(k, lo, hi, err, len);
		L->st.refused++;
		return -ERANGE;
	}
	int rc = cp_band(L, k, lo, hi, err, len);
	if (rc < 0)
		return rc;
	k->limits_set = 1;
	cp_log(L, "contract %u: operator limits [%" PRId64 ", %" PRId64 "]", k->id, lo, hi);
	return 0;
}

int cp_life_sync(struct cp_life *L, uint32_t id, int *changed, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	*changed = 0;
	if (!k)
		return -ENOENT;
	if (k->phase == TKX_PHASE_DEFINED || k->phase == TKX_PHASE_DELISTED)
		return 0;
	struct dp_ctl_reply r;
	int rc = cp_day_stats(L, k, &r, err, len);
	if (rc < 0)
		return rc;
	/* The core's price guard moves a CONTINUOUS contract into a call auction
	 * (PRE_OPEN) by itself; the scheduler uncrosses it after the interruption. */
	if (r.phase == TKX_PHASE_PRE_OPEN && k->phase == TKX_PHASE_CONTINUOUS) {
		cp_log(L, "contract %u: volatility interruption: CONTINUOUS -> PRE_OPEN (call "
		       "auction, by the core)", k->id);
		k->phase = TKX_PHASE_PRE_OPEN;
		k->halt_reason = CP_HALT_VOLATILITY;
		k->halted_at = L->now;
		L->st.vol_halts++;
		L->st.transitions++;
		*changed = 1;
	}
	return 0;
}

static int cp_find_account(struct cp_life *L, uint32_t firm, uint32_t account)
{
	for (uint32_t i = 0; i < L->n_accounts; i++)
		if (L->acct[i].firm == firm && L->acct[i].account == account)
			return (int)i;
	return -1;
}

int cp_life_account(struct cp_life *L, const struct cp_account *a, char *err, size_t len)
{
	if (a->firm == 0 || a->account == 0 || a->max_qty <= 0 || a->max_pos <= 0 ||
	    a->max_pos_spot < 0 || a->max_pos_spot > a->max_pos)
		return cp_err(L, err, len, -EINVAL, "account %u/%u: need firm > 0, account > 0, "
			      "max_qty > 0, max_position > 0, 0 <= spot limit <= max_position",
			      a->firm, a->account);
	int i = cp_find_account(L, a->firm, a->account);
	if (i < 0) {
		if (L->n_accounts == CP_LIFE_MAX_ACCOUNTS)
			return cp_err(L, err, len, -ENOSPC, "already %u accounts",
				      CP_LIFE_MAX_ACCOUNTS);
		i = (int)L->n_accounts++;
	}
	uint8_t killed = L->acct[i].killed;
	L->acct[i] = *a;
	L->acct[i].killed = killed;
	/* One entry per core: the limits hold on each contract of the core, the spot
	 * limit on the contract flagged spot (cp_spot_update). */
	int rc = 0;
	for (uint32_t core = 0; core < L->n_cores; core++) {
		struct dp_ctl c;
		cp_ctl_init(L, &c, DP_CTL_ACCOUNT, 0);
		c.firm_id = a->firm;
		c.account = a->account;
		c.qty = a->max_qty;
		c.price = a->max_pos;
		c.price2 = a->max_pos_spot;
		int r = cp_send(L, core, &c, NULL, err, len);
		if (r < 0 && rc == 0)
			rc = r;
	}
	cp_log(L, "account %u/%u: max order %" PRId64 ", max position %" PRId64 " (spot %" PRId64
	       ")", a->firm, a->account, a->max_qty, a->max_pos, a->max_pos_spot);
	return rc;
}

int cp_life_kill(struct cp_life *L, uint32_t firm, uint32_t account, int on, char *err, size_t len)
{
	if (firm == 0)
		return cp_err(L, err, len, -EINVAL, "kill switch: firm 0 is not a firm");
	int rc = 0;
	for (uint32_t core = 0; core < L->n_cores; core++) {
		struct dp_ctl c;
		cp_ctl_init(L, &c, DP_CTL_KILL, 0);
		c.firm_id = firm;
		c.account = account;
		c.arg = on ? 1 : 0;
		int r = cp_send(L, core, &c, NULL, err, len);
		if (r < 0 && rc == 0)
			rc = r;
	}
	int i = cp_find_account(L, firm, account);
	if (i >= 0)
		L->acct[i].killed = (uint8_t)(on != 0);
	cp_log(L, "account %u/%u: kill switch %s%s", firm, account, on ? "ON" : "off",
	       rc ? " (a core refused)" : "");
	return rc;
}

int cp_life_mass_cancel(struct cp_life *L, uint32_t firm, uint32_t account, uint32_t id,
			uint64_t *cancelled, char *err, size_t len)
{
	uint32_t core0 = 0, core1 = L->n_cores;
	if (id) {
		struct cp_life_contract *k = cp_get(L, id, err, len);
		if (!k)
			return -ENOENT;
		core0 = k->core;
		core1 = k->core + 1;
	}
	int rc = 0;
	uint64_t n = 0;
	for (uint32_t core = core0; core < core1; core++) {
		struct dp_ctl c;
		struct dp_ctl_reply r;
		cp_ctl_init(L, &c, DP_CTL_MASS_CANCEL, id);
		c.firm_id = firm;
		c.account = account;
		int x = cp_send(L, core, &c, &r, err, len);
		if (x < 0 && rc == 0)
			rc = x;
		if (x == 0)
			n += r.qty;
	}
	cp_log(L, "mass cancel firm %u account %u contract %u: %" PRIu64 " order(s)", firm,
	       account, id, n);
	if (cancelled)
		*cancelled = n;
	return rc;
}

struct cp_life_contract *cp_life_spot(struct cp_life *L)
{
	struct cp_life_contract *best = NULL;
	int32_t today = cp_now_day(L);
	for (uint32_t i = 0; i < L->n; i++) {
		struct cp_life_contract *k = &L->c[i];
		if (k->phase == TKX_PHASE_DEFINED || k->phase >= TKX_PHASE_EXPIRED ||
		    cp_life_ltd_over(L, k, today))
			continue;
		if (!best || k->last_trading_day < best->last_trading_day)
			best = k;
	}
	return best;
}

uint32_t cp_life_last_month(const struct cp_life *L)
{
	uint32_t last = 0;
	for (uint32_t i = 0; i < L->n; i++)
		if (L->c[i].phase != TKX_PHASE_DELISTED && L->c[i].id > last &&
		    cp_cal_month_valid(L->c[i].id))
			last = L->c[i].id;
	return last;
}

int cp_life_day(struct cp_life *L, uint32_t id, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase == TKX_PHASE_DEFINED || k->phase == TKX_PHASE_DELISTED)
		return cp_state_err(L, k, err, len, "show its day", "no book in a core");
	struct dp_ctl_reply r;
	return cp_day_stats(L, k, &r, err, len);
}

int cp_life_indicative(struct cp_life *L, uint32_t id, int64_t *price, uint64_t *qty,
		       int64_t *imbalance, char *err, size_t len)
{
	struct cp_life_contract *k = cp_get(L, id, err, len);
	if (!k)
		return -ENOENT;
	if (k->phase == TKX_PHASE_DEFINED || k->phase == TKX_PHASE_DELISTED)
		return cp_state_err(L, k, err, len, "show its auction", "no book in a core");
	struct dp_ctl c;
	struct dp_ctl_reply r;
	cp_ctl_init(L, &c, DP_CTL_AUCTION, k->id);
	c.price = k->prev_settle;
	int rc = cp_send(L, k->core, &c, &r, err, len);
	if (rc < 0)
		return rc;
	*price = r.price;
	*qty = r.qty;
	*imbalance = r.high;
	return 0;
}
