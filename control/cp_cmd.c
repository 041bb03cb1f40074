/*
 * cp_cmd.c - the operator's command language; the commands are listed in cp_cmd.h.
 *
 * Role: control plane. One table maps each command to its handler and arity; handlers
 * check their words strictly (a number is all digits, a price a decimal) and answer into
 * the caller's buffer.
 */
#include "cp_cmd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/proto.h>

#define CP_MAX_WORDS 8

struct cp_buf {
	char *p;
	size_t len;
	size_t n;
};

static void cp_put(struct cp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void cp_put(struct cp_buf *b, const char *fmt, ...)
{
	if (b->n >= b->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(b->p + b->n, b->len - b->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		b->n += (size_t)w < b->len - b->n ? (size_t)w : b->len - b->n - 1;
}

static int cp_u32(const char *s, uint32_t *v)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end || x > UINT32_MAX)
		return -EINVAL;
	*v = (uint32_t)x;
	return 0;
}

static int cp_u64(const char *s, uint64_t *v)
{
	char *end;
	if (s[0] < '0' || s[0] > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int32_t cp_today(const struct cp_life *L)
{
	int32_t day;
	uint32_t min;
	cp_cal_local(&L->cal, L->now, &day, &min);
	return day;
}

struct cp_cmd;
typedef int (*cp_handler)(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			  struct cp_buf *b);

struct cp_cmd {
	const char *name;
	int min_args;
	int max_args;
	const char *usage;
	cp_handler fn;
	int op; /* for the shared handlers */
	const char *help; /* what it does, for 'help' */
};

static int cp_bad(struct cp_buf *b, const struct cp_cmd *c, const char *word)
{
	b->n = 0;
	if (word)
		cp_put(b, "%s: '%s' is not valid; usage: %s", c->name, word, c->usage);
	else
		cp_put(b, "usage: %s", c->usage);
	return -EINVAL;
}

static int cp_id(const struct cp_cmd *c, const char *s, uint32_t *id, struct cp_buf *b)
{
	if (cp_u32(s, id) < 0 || *id == 0)
		return cp_bad(b, c, s);
	return 0;
}

static void cp_price(char *buf, size_t len, int64_t p)
{
	if (p == TKX_NULL_PRICE)
		snprintf(buf, len, "-");
	else
		cp_format_price(p, buf, len);
}

static int cp_do_contracts(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			   struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	struct cp_life *L = x->L;
	cp_put(b, "%-8s %-8s %-13s %4s %8s %8s %8s %5s %10s %s\n", "id", "symbol", "phase", "core",
	       "ref", "lo", "hi", "bp", "last-day", "notes");
	for (uint32_t i = 0; i < L->n; i++) {
		const struct cp_life_contract *k = &L->c[i];
		char ref[24], lo[24], hi[24], ltd[16];
		cp_price(ref, sizeof(ref), k->prev_settle);
		cp_price(lo, sizeof(lo), k->lo);
		cp_price(hi, sizeof(hi), k->hi);
		if (k->last_trading_day == INT32_MAX)
			snprintf(ltd, sizeof(ltd), "-");
		else
			cp_format_date(k->last_trading_day, ltd, sizeof(ltd));
		cp_put(b, "%-8u %-8s %-13s %4u %8s %8s %8s %5u %10s", k->id, k->symbol,
		       cp_life_phase_name(k->phase), k->core, ref, lo, hi, k->band_bp, ltd);
		if (k->phase == TKX_PHASE_HALTED)
			cp_put(b, " halted:%s",
			       k->halt_reason == CP_HALT_VOLATILITY ? "volatility" : "operator");
		if (k->locked_flags & 3)
			cp_put(b, " locked-%s", k->locked_flags & 1 ? "up" : "down");
		/* A month delisted without a final settlement (never traded) has none. */
		if (k->phase >= TKX_PHASE_FINAL_SETTLED && k->final_settle > 0) {
			char f[24];
			cp_price(f, sizeof(f), k->final_settle);
			cp_put(b, " final:%s", f);
		}
		if (k->spot)
			cp_put(b, " spot");
		cp_put(b, "\n");
	}
	return 0;
}

static int cp_do_calendar(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			  struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	const struct cp_cal *cal = &x->L->cal;
	char d[16];
	int32_t day;
	uint32_t min;
	cp_cal_local(cal, x->L->now, &day, &min);
	cp_format_date(day, d, sizeof(d));
	static const char *const slots[] = {"none", "pre-open", "auction", "continuous", "break",
					    "closed"};
	cp_put(b, "now %s %02u:%02u (UTC%+d min), %s, slot %s, scheduler %s\n", d, min / 60,
	       min % 60, cal->utc_offset_min,
	       cp_cal_is_business_day(cal, day) ? "business day" : "not a business day",
	       slots[cp_cal_slot(cal, day, min)], x->S ? "on" : "off");
	cp_put(b, "auction entry %02u:%02u, uncross %02u:%02u\n", cal->auction_entry / 60,
	       cal->auction_entry % 60, cal->auction_match / 60, cal->auction_match % 60);
	for (uint32_t i = 0; i < cal->n_sess; i++)
		cp_put(b, "session %u %02u:%02u-%02u:%02u\n", i + 1, cal->sess[i].start / 60,
		       cal->sess[i].start % 60, cal->sess[i].end / 60, cal->sess[i].end % 60);
	for (uint32_t i = 0; i < cal->n_holidays; i++) {
		cp_format_date(cal->holidays[i], d, sizeof(d));
		cp_put(b, "holiday %s\n", d);
	}
	cp_put(b, "limits %u bp, first day %u bp, after a locked day %u bp, vol guard %u bp\n",
	       x->L->band.band_bp, x->L->band.first_day_bp, x->L->band.locked_bp,
	       x->L->vol_guard_bp);
	return 0;
}

/* The order-entry sessions: what the session tables' owners answer (tokexd's hook). */
static int cp_do_sessions(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			  struct cp_buf *b)
{
	(void)argc;
	(void)argv;
	if (!x->sessions) {
		cp_put(b, "%s: no session tables here (tokexd answers it)", c->name);
		return -ENOTSUP;
	}
	int rc = x->sessions(x->sessions_arg, b->p + b->n, b->len - b->n);
	b->n += strlen(b->p + b->n);
	return rc;
}

static int cp_do_drop(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)argc;
	uint64_t id;
	if (cp_u64(argv[1], &id) < 0 || id == 0)
		return cp_bad(b, c, argv[1]);
	if (!x->drop) {
		cp_put(b, "%s: no session tables here (tokexd answers it)", c->name);
		return -ENOTSUP;
	}
	int rc = x->drop(x->sessions_arg, id, b->p + b->n, b->len - b->n);
	b->n += strlen(b->p + b->n);
	return rc;
}

static int cp_do_counters(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			  struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	const struct cp_life_stats *s = &x->L->st;
	cp_put(b, "lifecycle: ctl_sent %" PRIu64 " ctl_failed %" PRIu64 " transitions %" PRIu64
	       " refused %" PRIu64 " settlements %" PRIu64 " listed %" PRIu64 " delisted %" PRIu64
	       " vol_halts %" PRIu64 "\n", s->ctl_sent, s->ctl_failed, s->transitions, s->refused,
	       s->settlements, s->listed, s->delisted, s->vol_halts);
	cp_put(b, "commands: %lu errors %lu\n", x->commands, x->errors);
	if (x->S)
		cp_put(b, "scheduler: ticks %" PRIu64 " steps %" PRIu64 " errors %" PRIu64
		       " (not logged again %" PRIu64 ") index_reads %" PRIu64 " final_waits %" PRIu64
		       "%s%s\n", x->S->ticks, x->S->steps, x->S->errors, x->S->errors_quiet,
		       x->S->index_reads, x->S->final_waits, x->S->last_error[0] ? " last: " : "",
		       x->S->last_error);
	if (x->counters && b->n < b->len)
		x->counters(x->counters_arg, b->p + b->n, b->len - b->n), b->n += strlen(b->p + b->n);
	return 0;
}

/* The months of the strip: listed and not expired (LISTED ... SETTLED). */
static uint32_t cp_strip(const struct cp_life *L, uint32_t *first, uint32_t *last)
{
	uint32_t n = 0;
	*first = *last = 0;
	for (uint32_t i = 0; i < L->n; i++) {
		const struct cp_life_contract *k = &L->c[i];
		if (!cp_cal_month_valid(k->id) || k->phase < TKX_PHASE_LISTED ||
		    k->phase > TKX_PHASE_SETTLED)
			continue;
		n++;
		if (!*first || k->id < *first)
			*first = k->id;
		if (k->id > *last)
			*last = k->id;
	}
	return n;
}

/* Listing keeps the twelve-month roll (cp_cal.h rule 4): the month after the strip's
 * last (what the roll itself lists when a month expires), or a month delisted without
 * ever trading back into its place inside the strip; nothing else. */
static int cp_do_list(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	struct cp_life *L = x->L;
	uint32_t last = cp_life_last_month(L), id;
	uint32_t next = last ? cp_cal_month_add(last, 1) : 0;
	if (argc == 2) {
		if (cp_u32(argv[1], &id) < 0 || !cp_cal_month_valid(id))
			return cp_bad(b, c, argv[1]);
	} else {
		if (last == 0) {
			cp_put(b, "list: no listed month to follow: give YYYYMM");
			return -EINVAL;
		}
		id = next;
	}
	struct cp_life_contract *k = cp_life_find(L, id);
	uint32_t s_first, s_last;
	uint32_t in_strip = cp_strip(L, &s_first, &s_last);
	int comeback = k && k->phase == TKX_PHASE_DELISTED;
	if (comeback && !cp_life_never_traded(k)) {
		cp_put(b, "list %u: the month traded and was delisted: a month that traded is "
		       "listed once", id);
		return -ESTALE;
	}
	if (k && !comeback)
		return cp_life_list(L, id, b->p, b->len); /* its refusal: already listed */
	if (id != next && !(comeback && s_first && id > s_first && id < s_last)) {
		if (next)
			cp_put(b, "list %u: only the month after the strip's last (%u) may be listed: "
			       "%u; the roll lists it when a month expires", id, last, next);
		else
			cp_put(b, "list %u: no listed month to follow", id);
		return -EINVAL;
	}
	int32_t ltd = cp_cal_last_trading_day(&L->cal, id);
	int32_t day;
	uint32_t min;
	cp_cal_local(&L->cal, L->now, &day, &min);
	if (day > ltd || (day == ltd && cp_cal_slot(&L->cal, day, min) == CP_SLOT_CLOSED)) {
		char d[16];
		cp_format_date(ltd, d, sizeof(d));
		cp_put(b, "list %u: its last trading day %s is over", id, d);
		return -EINVAL;
	}
	if (!comeback && in_strip >= CP_CAL_STRIP) {
		cp_put(b, "list %u: the strip already holds %u months (%u to %u); the roll lists %u "
		       "when %u expires", id, in_strip, s_first, s_last, id, s_first);
		return -EBUSY;
	}
	const struct cp_life_contract *like = last ? cp_life_find(L, last) : NULL;
	if (!like) {
		cp_put(b, "list %u: no contract to copy the tick and reference from", id);
		return -EINVAL;
	}
	struct cp_life_params p = {.id = id, .core = like->core, .tick = like->tick,
				   .ref_price = like->settle, .max_qty = like->max_qty,
				   .max_orders = like->max_orders};
	if (comeback)
		cp_life_forget(L, id);
	int rc;
	if ((rc = cp_life_define(L, &p, b->p, b->len)) < 0)
		return rc;
	if ((rc = cp_life_list(L, id, b->p, b->len)) < 0)
		return rc;
	k = cp_life_find(L, id);
	cp_put(b, "listed %u %s\n", id, k->symbol);
	return 0;
}

/* Delisting removes a month from trading for good once it traded: confirmed by a second
 * word, checked first so that nothing impossible is confirmed. */
static int cp_do_delist(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			struct cp_buf *b)
{
	uint32_t id;
	if (cp_id(c, argv[1], &id, b) < 0)
		return -EINVAL;
	if (argc == 3 && strcmp(argv[2], "confirm") != 0)
		return cp_bad(b, c, argv[2]);
	int rc = cp_life_delist_check(x->L, id, b->p, b->len);
	if (rc < 0)
		return rc;
	const struct cp_life_contract *k = cp_life_find(x->L, id);
	if (argc == 2) {
		cp_put(b, "delist %u: %s; repeat as 'delist %u confirm'", id,
		       k->phase == TKX_PHASE_LISTED ? "the month never traded: it leaves the market "
						    "and may be listed again later"
						  : "the month leaves the market for good",
		       id);
		return -EAGAIN;
	}
	if ((rc = cp_life_delist(x->L, id, b->p, b->len)) < 0)
		return rc;
	cp_put(b, "%u DELISTED\n", id);
	return 0;
}

enum { OP_PREOPEN, OP_UNCROSS, OP_OPEN, OP_BREAK, OP_CLOSE, OP_HALT, OP_RESUME, OP_SETTLE,
       OP_EXPIRE };

static int cp_apply(struct cp_cmd_ctx *x, int op, uint32_t id, char *err, size_t len)
{
	struct cp_life *L = x->L;
	int32_t today = cp_today(L);
	switch (op) {
	case OP_PREOPEN:
		return cp_life_pre_open(L, id, today, err, len);
	case OP_UNCROSS:
		return cp_life_uncross(L, id, TKX_PHASE_AUCTION, err, len);
	case OP_OPEN:
		return cp_life_open(L, id, err, len);
	case OP_BREAK:
		return cp_life_break(L, id, err, len);
	case OP_CLOSE:
		return cp_life_close(L, id, err, len);
	case OP_HALT:
		return cp_life_halt(L, id, CP_HALT_OPERATOR, err, len);
	case OP_RESUME: {
		/* Back into what the calendar says now; without a scheduler, continuous. */
		int ph = x->S ? cp_sched_resume_phase(x->S) : TKX_PHASE_CONTINUOUS;
		if (ph < 0) {
			snprintf(err, len, "contract %u: the market is closed now: it stays halted "
				 "and the close settles it", id);
			return -EAGAIN;
		}
		return cp_life_resume(L, id, ph, err, len);
	}
	case OP_SETTLE: {
		struct cp_life_contract *k = cp_life_find(L, id);
		return cp_life_settle(L, id, k && k->trade_day >= 0 ? k->trade_day : today, err, len);
	}
	default:
		return cp_life_expire(L, id, today, err, len);
	}
}

/* The phase a contract must be in for op to apply to it under "all". */
static int cp_all_applies(int op, uint8_t phase)
{
	switch (op) {
	case OP_HALT:
		return phase >= TKX_PHASE_PRE_OPEN && phase <= TKX_PHASE_BREAK;
	case OP_RESUME:
		return phase == TKX_PHASE_HALTED;
	case OP_SETTLE:
		return phase == TKX_PHASE_CLOSED;
	default:
		return 0;
	}
}

static int cp_do_phase(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		       struct cp_buf *b)
{
	(void)argc;
	struct cp_life *L = x->L;
	char err[256];
	if (strcmp(argv[1], "all") == 0 &&
	    (c->op == OP_HALT || c->op == OP_RESUME || c->op == OP_SETTLE)) {
		int rc = 0;
		unsigned done = 0;
		for (uint32_t i = 0; i < L->n; i++) {
			if (!cp_all_applies(c->op, L->c[i].phase))
				continue;
			int r = cp_apply(x, c->op, L->c[i].id, err, sizeof(err));
			if (r < 0) {
				cp_put(b, "%s\n", err);
				if (rc == 0)
					rc = r;
			} else {
				done++;
			}
		}
		cp_put(b, "%s: %u contract(s)\n", c->name, done);
		return rc;
	}
	uint32_t id;
	if (cp_id(c, argv[1], &id, b) < 0)
		return -EINVAL;
	int rc = cp_apply(x, c->op, id, err, sizeof(err));
	if (rc < 0) {
		cp_put(b, "%s", err);
		return rc;
	}
	const struct cp_life_contract *k = cp_life_find(L, id);
	cp_put(b, "%u %s", id, cp_life_phase_name(k->phase));
	if (c->op == OP_UNCROSS) {
		char p[24];
		cp_price(p, sizeof(p), k->uncross_price);
		cp_put(b, " uncross %s volume %" PRIu64, p, k->uncross_qty);
	}
	if (c->op == OP_SETTLE) {
		char p[24], lo[24], hi[24];
		cp_price(p, sizeof(p), k->settle);
		cp_price(lo, sizeof(lo), k->lo);
		cp_price(hi, sizeof(hi), k->hi);
		cp_put(b, " settlement %s volume %" PRIu64 " next limits [%s, %s]", p, k->volume, lo,
		       hi);
	}
	cp_put(b, "\n");
	return 0;
}

static int cp_do_limits(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			struct cp_buf *b)
{
	(void)argc;
	uint32_t id;
	int64_t lo, hi;
	if (cp_id(c, argv[1], &id, b) < 0)
		return -EINVAL;
	if (cp_parse_price(argv[2], &lo) < 0)
		return cp_bad(b, c, argv[2]);
	if (cp_parse_price(argv[3], &hi) < 0)
		return cp_bad(b, c, argv[3]);
	int rc = cp_life_set_limits(x->L, id, lo, hi, b->p, b->len);
	if (rc == 0)
		cp_put(b, "%u limits [%s, %s]\n", id, argv[2], argv[3]);
	return rc;
}

static int cp_do_final(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		       struct cp_buf *b)
{
	static struct cp_fixings fx; /* 48 KiB; the control thread is the only caller */
	uint32_t id;
	if (cp_id(c, argv[1], &id, b) < 0)
		return -EINVAL;
	const char *path = argc == 3 ? argv[2] : x->L->index_file;
	struct cp_life_contract *k = cp_life_find(x->L, id);
	fx.n = 0;
	if (k && k->phase == TKX_PHASE_EXPIRED) {
		if (!path[0]) {
			cp_put(b, "contract %u: no index file: give one ('final %u FILE') or set "
			       "settlement.index_file", id, id);
			return -ENODATA;
		}
		int rc = cp_index_load(path, &fx, b->p, b->len);
		if (rc < 0)
			return rc;
	}
	struct cp_final f;
	int rc = cp_life_final_settle(x->L, id, &fx, &f, b->p, b->len);
	if (rc < 0)
		return rc;
	char p[24];
	cp_price(p, sizeof(p), k->final_settle);
	cp_put(b, "%u FINAL_SETTLED at %s (mean of %u business-day fixings)\n", id, p, f.n_used);
	if (f.n_skipped)
		cp_put(b, "skipped %u row(s) not on a business day: %s\n", f.n_skipped, f.skipped);
	return 0;
}

/* A firm the venue does not have: refused, naming it, rather than a limit or a kill
 * switch that protects nothing. */
static int cp_firm(const struct cp_cmd_ctx *x, const struct cp_cmd *c, uint32_t firm,
		   struct cp_buf *b)
{
	if (!x->cfg || cp_config_firm(x->cfg, firm))
		return 0;
	b->n = 0;
	cp_put(b, "%s: no firm %u (the configuration's firms:", c->name, firm);
	for (uint32_t i = 0; i < x->cfg->n_firms; i++)
		cp_put(b, " %u", x->cfg->firms[i].id);
	cp_put(b, ")");
	return -ENOENT;
}

static int cp_do_account(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			 struct cp_buf *b)
{
	uint32_t v[5] = {0, 0, 0, 0, 0};
	for (int i = 1; i < argc; i++)
		if (cp_u32(argv[i], &v[i - 1]) < 0)
			return cp_bad(b, c, argv[i]);
	if (cp_firm(x, c, v[0], b) < 0)
		return -ENOENT;
	struct cp_account a = {.firm = v[0], .account = v[1], .max_qty = v[2], .max_pos = v[3],
			       .max_pos_spot = v[4]};
	int rc = cp_life_account(x->L, &a, b->p, b->len);
	if (rc == 0)
		cp_put(b, "account %u/%u set\n", a.firm, a.account);
	return rc;
}

static int cp_do_kill(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)argc;
	uint32_t firm, acct;
	if (cp_u32(argv[1], &firm) < 0)
		return cp_bad(b, c, argv[1]);
	if (cp_u32(argv[2], &acct) < 0)
		return cp_bad(b, c, argv[2]);
	int on = strcmp(argv[3], "on") == 0;
	if (!on && strcmp(argv[3], "off") != 0)
		return cp_bad(b, c, argv[3]);
	if (cp_firm(x, c, firm, b) < 0)
		return -ENOENT;
	int rc = cp_life_kill(x->L, firm, acct, on, b->p, b->len);
	if (rc == 0)
		cp_put(b, "kill switch %u/%u %s\n", firm, acct, on ? "on" : "off");
	return rc;
}

static int cp_do_cancel(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
			struct cp_buf *b)
{
	uint32_t firm, acct, id = 0;
	if (cp_u32(argv[1], &firm) < 0)
		return cp_bad(b, c, argv[1]);
	if (cp_u32(argv[2], &acct) < 0)
		return cp_bad(b, c, argv[2]);
	if (argc == 4 && cp_id(c, argv[3], &id, b) < 0)
		return -EINVAL;
	if (firm != 0 && cp_firm(x, c, firm, b) < 0)
		return -ENOENT;
	uint64_t n = 0;
	int rc = cp_life_mass_cancel(x->L, firm, acct, id, &n, b->p, b->len);
	if (rc == 0)
		cp_put(b, "mass cancel %u/%u: %" PRIu64 " order(s) cancelled\n", firm, acct, n);
	return rc;
}

static int cp_do_tick(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	if (!x->S) {
		cp_put(b, "tick: no scheduler (control.scheduler: 0)");
		return -ENOTSUP;
	}
	int rc = cp_sched_tick(x->S);
	if (rc < 0) {
		cp_put(b, "%s", x->S->last_error);
		return rc;
	}
	cp_put(b, "%d transition(s)\n", rc);
	return 0;
}

/* VWAP of the day to the price unit (0.0001), '-' without a trade. */
static void cp_vwap(char *buf, size_t len, uint64_t notional, uint64_t volume)
{
	if (volume == 0)
		snprintf(buf, len, "-");
	else
		cp_format_price(cp_round_tick(notional, volume, 1), buf, len);
}

static int cp_do_show(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)argc;
	struct cp_life *L = x->L;
	uint32_t id;
	if (cp_id(c, argv[1], &id, b) < 0)
		return -EINVAL;
	struct cp_life_contract *k = cp_life_find(L, id);
	if (!k) {
		cp_put(b, "no contract %u (see 'contracts')", id);
		return -ENOENT;
	}
	char p1[24], p2[24], p3[24], d[16];
	cp_put(b, "contract %u %s: %s, core %u%s\n", k->id, k->symbol, cp_life_phase_name(k->phase),
	       k->core, k->spot ? ", the spot month" : "");
	cp_price(p1, sizeof(p1), k->prev_settle);
	cp_price(p2, sizeof(p2), k->lo);
	cp_price(p3, sizeof(p3), k->hi);
	cp_put(b, "reference %s, limits [%s, %s] (%u bp%s)\n", p1, p2, p3, k->band_bp,
	       k->limits_set ? ", operator" : k->first_day ? ", first day" :
	       (k->locked_flags & 3) ? ", after a limit-locked day" : "");
	if (k->arr_hi) {
		cp_price(p1, sizeof(p1), k->arr_lo);
		cp_price(p2, sizeof(p2), k->arr_hi);
		cp_put(b, "book price range [%s, %s] (follows the market at pre-open)\n", p1, p2);
	}
	if (k->last_trading_day != INT32_MAX) {
		cp_format_date(k->last_trading_day, d, sizeof(d));
		cp_put(b, "last trading day %s, ", d);
	}
	cp_put(b, "days traded %u", k->days_traded);
	if (k->settled_day >= 0) {
		cp_format_date(k->settled_day, d, sizeof(d));
		cp_price(p1, sizeof(p1), k->settle);
		cp_put(b, ", settlement %s on %s", p1, d);
	}
	if (k->final_settle > 0) {
		cp_price(p1, sizeof(p1), k->final_settle);
		cp_put(b, ", final settlement %s", p1);
	}
	cp_put(b, "\n");
	if (k->phase == TKX_PHASE_DEFINED || k->phase == TKX_PHASE_DELISTED)
		return 0; /* no book in a core */
	char e[256];
	if (cp_life_day(L, id, e, sizeof(e)) == 0) {
		cp_vwap(p1, sizeof(p1), k->notional, k->volume);
		cp_price(p2, sizeof(p2), k->high);
		cp_price(p3, sizeof(p3), k->low);
		char last[24];
		cp_price(last, sizeof(last), k->last);
		cp_put(b, "day: volume %" PRIu64 ", VWAP %s, high %s, low %s, last %s\n", k->volume,
		       p1, p2, p3, last);
	} else {
		cp_put(b, "day: %s\n", e);
	}
	if (k->trade_day >= 0 && !(k->phase == TKX_PHASE_PRE_OPEN &&
				   k->halt_reason != CP_HALT_VOLATILITY)) {
		if (k->uncross_price == TKX_NULL_PRICE) {
			cp_put(b, "uncross: no cross\n");
		} else {
			cp_price(p1, sizeof(p1), k->uncross_price);
			cp_put(b, "uncross: %s, volume %" PRIu64 "\n", p1, k->uncross_qty);
		}
	}
	int64_t ip, imb;
	uint64_t iq;
	if (cp_life_indicative(L, id, &ip, &iq, &imb, e, sizeof(e)) == 0) {
		if (ip == TKX_NULL_PRICE) {
			cp_put(b, "indicative auction: the book does not cross\n");
		} else {
			cp_price(p1, sizeof(p1), ip);
			cp_put(b, "indicative auction: %s, volume %" PRIu64 ", imbalance %+" PRId64
			       "%s\n", p1, iq, imb,
			       k->phase == TKX_PHASE_PRE_OPEN ? "" : " (the book as it is; no auction now)");
		}
	} else {
		cp_put(b, "indicative auction: %s\n", e);
	}
	return 0;
}

static int cp_do_spot(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	const struct cp_life_contract *k = cp_life_spot(x->L);
	if (!k) {
		cp_put(b, "no spot month: no listed month whose last trading day is ahead\n");
		return 0;
	}
	char d[16];
	cp_format_date(k->last_trading_day, d, sizeof(d));
	cp_put(b, "spot month %u %s, last trading day %s, %s%s\n", k->id, k->symbol, d,
	       cp_life_phase_name(k->phase), k->spot ? "" : " (the cores' flag not moved yet)");
	return 0;
}

static void cp_clock_line(struct cp_cmd_ctx *x, struct cp_buf *b)
{
	char t[40], r[24];
	cp_clock_format_time(x->L->now, x->L->cal.utc_offset_min, t, sizeof(t));
	cp_clock_format_rate(x->clock ? x->clock->rate : CP_CLOCK_RATE_ONE, r, sizeof(r));
	cp_put(b, "calendar %s rate %s %s%s\n", t, r,
	       x->clock && x->clock->sim ? "simulated" : "wall",
	       x->clock && x->clock->sim && x->clock->held ? " held" : "");
}

/* clock [hold|run|rate R|to TIME]: the operator steers a simulated calendar (cp_clock.h
 * rule 6). 'to' moves it forward and holds it there; the scheduler then visits every slot
 * change on the way (cp_sched.h) before the answer. */
static int cp_do_clock(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		       struct cp_buf *b)
{
	if (argc == 1) {
		cp_clock_line(x, b);
		return 0;
	}
	const char *op = argv[1];
	int want = strcmp(op, "rate") == 0 || strcmp(op, "to") == 0 ? 3 : 2;
	if ((strcmp(op, "hold") != 0 && strcmp(op, "run") != 0 && want == 2) || argc != want)
		return cp_bad(b, c, argc == want ? op : NULL);
	if (!x->clock || !x->clock->sim) {
		cp_put(b, "clock %s: the calendar is the wall clock: only a simulated calendar "
		       "(tokexd --clock, --clock-rate) is steered", op);
		return -ENOTSUP;
	}
	struct cp_clock *k = x->clock;
	uint64_t mono = cp_clock_mono();
	char e[192];
	if (strcmp(op, "hold") == 0) {
		cp_clock_hold(k, mono);
	} else if (strcmp(op, "run") == 0) {
		cp_clock_resume(k, mono);
	} else if (strcmp(op, "rate") == 0) {
		uint64_t rate;
		if (cp_clock_parse_rate(argv[2], &rate, e, sizeof(e)) < 0) {
			cp_put(b, "clock rate: %s", e);
			return -EINVAL;
		}
		cp_clock_set_rate(k, rate, mono);
	} else {
		uint64_t to;
		if (cp_clock_parse_time(argv[2], &to, e, sizeof(e)) < 0) {
			cp_put(b, "clock to: %s", e);
			return -EINVAL;
		}
		uint64_t now = cp_clock_now(k, mono, 0);
		if (cp_clock_advance(k, to, mono) < 0) {
			char t[40];
			cp_clock_format_time(now, x->L->cal.utc_offset_min, t, sizeof(t));
			cp_put(b, "clock to %s: the calendar is already at %s and does not run "
			       "backwards", argv[2], t);
			return -EINVAL;
		}
	}
	x->L->now = cp_clock_now(k, cp_clock_mono(), 0);
	int rc = 0;
	if (strcmp(op, "to") == 0 && x->S) {
		rc = cp_sched_tick(x->S);
		x->L->now = cp_clock_now(k, cp_clock_mono(), 0);
	}
	cp_clock_line(x, b);
	if (rc < 0)
		cp_put(b, "scheduler: %s\n", x->S->last_error);
	else if (strcmp(op, "to") == 0 && x->S)
		cp_put(b, "%d transition(s)\n", rc);
	return 0;
}

/* replication, digest: the hooks' text (tokexd), or why there is none. */
static int cp_do_hook(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)argc;
	(void)argv;
	int (*fn)(void *, char *, size_t) = c->op ? x->digest : x->replication;
	if (fn == NULL) {
		cp_put(b, "%s: not available here", c->name);
		return -ENOTSUP;
	}
	char text[4096];
	text[0] = '\0';
	int rc = fn(x->repl_arg, text, sizeof(text));
	cp_put(b, "%s", text);
	return rc;
}

/* Whether a command changes nothing (a standby runs only these: cp_cmd_ctx.read_only). */
static int cp_reads_only(const char *name, int argc)
{
	static const char *const ro[] = {"help", "ping", "contracts", "show", "spot", "calendar",
					 "sessions", "counters", "replication", "digest"};
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		if (strcmp(name, ro[i]) == 0)
			return 1;
	return strcmp(name, "clock") == 0 && argc == 1; /* showing it, not setting it */
}

static int cp_do_help(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b);

/* ping: the control thread is there and answers; who it is. */
static int cp_do_ping(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)c;
	(void)argc;
	(void)argv;
	if (x->ident)
		cp_put(b, "pong %s", x->ident);
	else
		cp_put(b, "pong");
	return 0;
}

/* Each command: its words, and what it does (help). */
static const struct cp_cmd cp_cmds[] = {
	{"help", 0, 1, "help [COMMAND]", cp_do_help, 0,
	 "The commands and what each does; with COMMAND, that one in full. tokexctl answers "
	 "it itself, without tokexd."},
	{"ping", 0, 0, "ping", cp_do_ping, 0,
	 "Whether tokexd's control plane answers, and who it is (version, pid); tokexctl adds "
	 "the round trip's time. Changes nothing: a liveness probe for scripts and monitors."},
	{"contracts", 0, 0, "contracts", cp_do_contracts, 0,
	 "Every contract: phase, core, reference (the previous settlement), today's limits and "
	 "their width in basis points, last trading day; notes: halted, locked-up/down (the "
	 "latest day closed limit-locked), final:PRICE (final settlement), spot (the spot "
	 "month)."},
	{"show", 1, 1, "show ID", cp_do_show, 0,
	 "One contract in full: phase, reference, limits, the book's price range, settlements; "
	 "from its matching core now: the day's volume, VWAP, high, low and last price, the "
	 "latest uncross (price and volume) and the indicative auction price of the book as it "
	 "is (volume and imbalance: > 0 buyers left over)."},
	{"spot", 0, 0, "spot", cp_do_spot, 0,
	 "The spot month: the listed month whose last trading day comes first and is not over; "
	 "the accounts' spot position limits apply to it."},
	{"calendar", 0, 0, "calendar", cp_do_calendar, 0,
	 "The trading calendar: the time now and its slot, the auction and session times, the "
	 "holidays, the limit rules."},
	{"sessions", 0, 0, "sessions", cp_do_sessions, 0,
	 "The order-entry sessions of both tables (udp, tcp): id, firm, state, since, "
	 "sequence numbers, peer."},
	{"drop", 1, 1, "drop SESSION", cp_do_drop, 0,
	 "Forgets an order-entry session (terminated first if live); its resting orders stay, "
	 "detached, and remain the firm's to cancel."},
	{"counters", 0, 0, "counters", cp_do_counters, 0,
	 "Lifecycle, command, scheduler and matching-core counters."},
	{"list", 0, 1, "list [YYYYMM]", cp_do_list, 0,
	 "Lists the month after the strip's last (what the roll does when a month expires); "
	 "YYYYMM must be that month, or a month delisted before it ever traded, back into its "
	 "place. Refused when twelve months are already listed or its last trading day is "
	 "over."},
	{"preopen", 1, 1, "preopen ID", cp_do_phase, OP_PREOPEN,
	 "Opens the call auction's order entry for today (new day, limits) by hand."},
	{"uncross", 1, 1, "uncross ID", cp_do_phase, OP_UNCROSS,
	 "Runs the call auction by hand: executes at the uncross price and shows it."},
	{"open", 1, 1, "open ID", cp_do_phase, OP_OPEN,
	 "Starts continuous trading by hand (after the uncross or a break)."},
	{"break", 1, 1, "break ID", cp_do_phase, OP_BREAK,
	 "Pauses continuous trading by hand (a break between sessions)."},
	{"close", 1, 1, "close ID", cp_do_phase, OP_CLOSE,
	 "Closes the trading day by hand: its DAY orders, resting and held stops, expire "
	 "(Cancelled DAY_END); GTC orders stay."},
	{"halt", 1, 1, "halt ID|all", cp_do_phase, OP_HALT,
	 "Operator halt: no order entry until 'resume'; the close still closes and settles it."},
	{"resume", 1, 1, "resume ID|all", cp_do_phase, OP_RESUME,
	 "Ends an operator halt, into the phase the calendar says now."},
	{"limits", 3, 3, "limits ID LO HI (prices like 2.3000)", cp_do_limits, 0,
	 "Today's price limits, on the tick grid and inside the book's price range (see "
	 "'show'); they last until the next pre-open."},
	{"settle", 1, 1, "settle ID|all", cp_do_phase, OP_SETTLE,
	 "Daily settlement of a closed contract (the day's VWAP; no trade: the previous "
	 "settlement) and the next day's limits."},
	{"expire", 1, 1, "expire ID", cp_do_phase, OP_EXPIRE,
	 "Expires a month settled on its last trading day, or one whose last trading day is "
	 "over; resting orders are cancelled."},
	{"final", 1, 2, "final ID [INDEX-FILE]", cp_do_final, 0,
	 "Final settlement of an expired month: the mean of the index file's fixings of the "
	 "month's business days; rows on weekends and holidays are skipped and named."},
	{"delist", 1, 2, "delist ID confirm", cp_do_delist, 0,
	 "Removes a final-settled month, or a listed month that never traded, from the market. "
	 "Without 'confirm' it only says what would happen. A month that traded never comes "
	 "back; one that never traded may be listed again."},
	{"account", 4, 5, "account FIRM ACCOUNT MAXQTY MAXPOS [MAXPOS-SPOT]", cp_do_account, 0,
	 "Per-account limits: largest order, largest position per contract, and in the spot "
	 "month (0 = the same)."},
	{"kill", 3, 3, "kill FIRM ACCOUNT on|off", cp_do_kill, 0,
	 "Kill switch of an account (0 = the whole firm): on refuses its orders and cancels "
	 "those resting."},
	{"cancel", 2, 3, "cancel FIRM ACCOUNT [ID]", cp_do_cancel, 0,
	 "Mass cancel of an account's orders (0 0 = everyone's), on one contract or all; says "
	 "how many were cancelled."},
	{"tick", 0, 0, "tick", cp_do_tick, 0,
	 "Runs the scheduler now (it runs by itself every 50 ms in tokexd)."},
	{"clock", 0, 2, "clock [hold|run|rate R|to TIME]", cp_do_clock, 0,
	 "The calendar's time and rate: the wall clock, or the simulated calendar tokexd was "
	 "started on (--clock, --clock-rate), which drives the trading day, settlement, expiry "
	 "and listing; wire timestamps and keepalives stay on the wall clock. A simulated "
	 "calendar is steered (a member test environment): 'hold' stops it, 'run' runs it "
	 "again, 'rate R' sets R times real time, 'to TIME' (ISO-8601 with offset, e.g. "
	 "2027-03-31T15:01:00+08:00) moves it forward to TIME and holds it there, the "
	 "scheduler going through every session, close, settlement, expiry and listing on the "
	 "way before the answer. Never backwards. Held, rate and time survive a restart."},
	{"replication", 0, 0, "replication", cp_do_hook, 0,
	 "The replication link: role (primary, standby or none), epoch, the peer, the last "
	 "sequence sent, acknowledged and applied, the lag in records and microseconds, and "
	 "on a standby that stopped following, why (it is then not promotable)."},
	{"digest", 0, 0, "digest", cp_do_hook, 1,
	 "A digest of the state at one journal sequence: the books, accounts and positions of "
	 "every matching core with the control plane's state, and the sessions' numbering. A "
	 "standby that applied the same sequence shows the same digest as its primary."},
};

#define CP_NCMDS (sizeof(cp_cmds) / sizeof(cp_cmds[0]))

/* Words per line of help text, wrapped at 88 columns after an indent. */
static void cp_wrap(struct cp_buf *b, const char *text, unsigned indent)
{
	unsigned col = indent;
	cp_put(b, "%*s", (int)indent, "");
	while (*text) {
		size_t w = strcspn(text, " ");
		if (col > indent && col + 1 + w > 88) {
			cp_put(b, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			cp_put(b, " ");
			col++;
		}
		cp_put(b, "%.*s", (int)w, text);
		col += (unsigned)w;
		text += w;
		while (*text == ' ')
			text++;
	}
	cp_put(b, "\n");
}

static int cp_help(const char *name, struct cp_buf *b)
{
	for (size_t i = 0; i < CP_NCMDS; i++) {
		if (name && strcmp(cp_cmds[i].name, name) != 0)
			continue;
		cp_put(b, "%s\n", cp_cmds[i].usage);
		cp_wrap(b, cp_cmds[i].help, 4);
		if (name)
			return 0;
	}
	if (name) {
		cp_put(b, "help: no command '%s' (try 'help')", name);
		return -ENOSYS;
	}
	return 0;
}

static int cp_do_help(struct cp_cmd_ctx *x, const struct cp_cmd *c, int argc, char **argv,
		      struct cp_buf *b)
{
	(void)x;
	(void)c;
	return cp_help(argc == 2 ? argv[1] : NULL, b);
}

int cp_cmd_help(const char *name, char *out, size_t len)
{
	struct cp_buf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	return cp_help(name, &b);
}

void cp_cmd_names(char *out, size_t len)
{
	struct cp_buf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	for (size_t i = 0; i < CP_NCMDS; i++)
		cp_put(&b, "%s%s", i ? " " : "", cp_cmds[i].name);
}

int cp_cmd_changes(const char *line)
{
	char buf[512];
	char *argv[CP_MAX_WORDS + 1];
	int argc = 0;
	snprintf(buf, sizeof(buf), "%s", line);
	char *hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	for (char *save = NULL, *w = strtok_r(buf, " \t\r\n", &save); w && argc < CP_MAX_WORDS;
	     w = strtok_r(NULL, " \t\r\n", &save))
		argv[argc++] = w;
	if (argc == 0)
		return 0;
	for (size_t i = 0; i < CP_NCMDS; i++)
		if (strcmp(cp_cmds[i].name, argv[0]) == 0)
			return !cp_reads_only(argv[0], argc);
	return 0;
}

int cp_cmd_check_line(const char *line, size_t n, char *out, size_t len)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)line[i];
		if ((ch >= 0x20 && ch != 0x7f) || ch == '\t' || ch == '\r' ||
		    (ch == '\n' && i == n - 1))
			continue;
		snprintf(out, len, "the command line holds the control byte 0x%02x at column %zu: "
			 "nothing of it was run", ch, i + 1);
		return -EINVAL;
	}
	return 0;
}

int cp_cmd_exec(struct cp_cmd_ctx *x, const char *line, char *out, size_t len)
{
	char buf[512];
	char *argv[CP_MAX_WORDS + 1];
	int argc = 0;
	struct cp_buf b = {out, len, 0};
	if (len)
		out[0] = '\0';
	size_t n = strlen(line);
	if (n >= sizeof(buf)) {
		cp_put(&b, "command longer than %zu characters", sizeof(buf) - 1);
		x->errors++;
		return -E2BIG;
	}
	if (cp_cmd_check_line(line, n, out, len) < 0) {
		x->errors++;
		return -EINVAL;
	}
	snprintf(buf, sizeof(buf), "%s", line);
	char *hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	for (char *save = NULL, *w = strtok_r(buf, " \t\r\n", &save); w;
	     w = strtok_r(NULL, " \t\r\n", &save)) {
		if (argc == CP_MAX_WORDS) {
			cp_put(&b, "too many words");
			x->errors++;
			return -E2BIG;
		}
		argv[argc++] = w;
	}
	if (argc == 0)
		return 0;
	x->commands++;
	for (size_t i = 0; i < CP_NCMDS; i++) {
		const struct cp_cmd *c = &cp_cmds[i];
		if (strcmp(c->name, argv[0]) != 0)
			continue;
		if (x->read_only && !cp_reads_only(c->name, argc)) {
			cp_put(&b, "%s", x->read_only);
			x->errors++;
			return -EROFS;
		}
		if (argc - 1 < c->min_args || argc - 1 > c->max_args) {
			x->errors++;
			return cp_bad(&b, c, NULL);
		}
		if (x->clock)
			x->L->now = cp_clock_read(x->clock);
		int rc = c->fn(x, c, argc, argv, &b);
		if (x->commit) {
			/* Durable before the answer, also what a failed command changed. */
			size_t at = len ? strlen(out) : 0; /* handlers write errors unframed */
			int k = x->commit(x->commit_arg, out + at, len - at);
			if (k < 0 && rc == 0)
				rc = k;
		}
		if (rc < 0)
			x->errors++;
		return rc;
	}
	cp_put(&b, "unknown command '%s' (try 'help')", argv[0]);
	x->errors++;
	return -ENOSYS;
}

int cp_cmd_file(struct cp_cmd_ctx *x, const char *path, char *err, size_t len)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, len, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	/* Whole lines, however long (getline): a line cut in two by a fixed buffer would run
	 * as two commands; its length shows a NUL that would cut it short. */
	char *line = NULL, out[4096];
	size_t cap = 0;
	ssize_t got;
	unsigned ln = 0;
	int rc = 0;
	while ((got = getline(&line, &cap, f)) >= 0) {
		ln++;
		rc = cp_cmd_check_line(line, (size_t)got, out, sizeof(out));
		if (rc == 0)
			rc = cp_cmd_exec(x, line, out, sizeof(out));
		if (rc < 0) {
			size_t n = strlen(out);
			while (n && out[n - 1] == '\n')
				out[--n] = '\0';
			snprintf(err, len, "%s:%u: %s", path, ln, out);
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}
