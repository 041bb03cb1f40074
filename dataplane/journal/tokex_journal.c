/*
 * tokex_journal.c - tokex-journal: the operator's tool for a journal directory.
 *
 *   dump DIR [filters]     one line per record: seq, ISO-8601 UTC time (ns), the epoch it
 *                          was written under, type, fields
 *   verify DIR             CRC, sequence continuity, one writer at a time (records of
 *                          two processes interleaved), epochs that never go back (a deposed
 *                          primary's records) and the format version (jn_journal.h rule
 *                          11: another format is named, exit 1); exit 1 with the first bad
 *                          offset; the epochs seen.
 *                          Then the control plane's state records (JN_T_CP, cp_state.h):
 *                          versions, CRCs, parts and changes as recovery reads them; exit
 *                          1 naming the first bad one
 *   truncate DIR --at OFFSET [--segment FILE]   cut the journal there (default segment:
 *                          the one verify finds bad); everything from there on is lost.
 *                          Takes the journal's lock: refused while tokexd has it open
 *   audit DIR [-c FILE] [filters]   a CSV trail of every order, modify, cancel and trade
 *
 * Trades are not journaled: the journal holds inputs only. `audit` regenerates the
 * engine's outputs (acks, rejects, fills, cancels) by replaying the journaled dp_orders
 * and dp_ctls through matching cores (mc_core) built from the configuration (built-in
 * defaults, or -c FILE: the same file tokexd ran with): one core in run-to-completion
 * mode; in pipeline mode one per matching core with the contracts the file gives it
 * (a control command goes to the core its record names, a contract listed at run time to
 * the core that listed it), so fills, prices, quantities, trade ids and exchange order ids
 * (which count per core) come out as the appliance made them. Records only replay needs
 * (DRAIN, REJECT, SESSION, MARK) and the control plane's state (CP) are dumped, not
 * audited. dump decodes CP records: each part, and the item the last part completes (a
 * contract's phase, settlements, limits and days; an account's limits and kill switch;
 * the clock); with --contract only a contract's whole items, with --firm/--account only
 * an account's.
 * Filters: --contract N --account N --firm N --from T --to T (T: ns since the epoch or
 * YYYY-MM-DDTHH:MM:SS[.fraction][Z], UTC) --type order|ctl|session|snapshot|mark|drain|reject|cp.
 * Runs offline, never on a core: it allocates and prints freely.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokex/price.h>
#include <tokex/version.h>

#include "cp_clock.h"
#include "cp_config.h"
#include "cp_state.h"
#include "dataplane/dp_hash.h"
#include "dataplane/dp_msg.h"
#include "jn_journal.h"
#include "mc_core.h"

/* Session cores a journal may name: tokexd's RX core (src 0), and in journals written while
 * the TCP gateway kept a session table of its own, the gateway (src 1). */
#define AUDIT_SESSION_CORES 2

struct filt {
	int64_t contract, account, firm; /* -1 = any */
	uint64_t from, to;
	int type; /* 0 = any */
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tokex-journal dump DIR [--contract N] [--account N] [--firm N]\n"
		"                          [--from TIME] [--to TIME] [--type TYPE]\n"
		"       tokex-journal verify DIR\n"
		"       tokex-journal truncate DIR --at OFFSET [--segment FILE]\n"
		"       tokex-journal audit DIR [-c CONFIG] [filters as dump]\n"
		"       tokex-journal --version | --help\n"
		"TIME: ns since the epoch, or YYYY-MM-DDTHH:MM:SS[.fraction][Z] (UTC)\n"
		"TYPE: order, ctl, session, snapshot, mark, drain, reject, cp\n");
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	if (s == NULL || *s == '\0' || *s == '-')
		return -EINVAL;
	unsigned long long x = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*v = x;
	return 0;
}

static int parse_time(const char *s, uint64_t *ns)
{
	if (parse_u64(s, ns) == 0)
		return 0;
	struct tm tm;
	memset(&tm, 0, sizeof(tm));
	const char *p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (p == NULL)
		return -EINVAL;
	uint64_t frac = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 9)
				frac = frac * 10 + (uint64_t)(*p - '0');
		if (digits == 0)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (*p == 'Z')
		p++;
	if (*p)
		return -EINVAL;
	time_t t = timegm(&tm);
	if (t < 0)
		return -EINVAL;
	*ns = (uint64_t)t * 1000000000ull + frac;
	return 0;
}

static const char *fmt_time(uint64_t ns, char *buf, size_t len)
{
	time_t t = (time_t)(ns / 1000000000ull);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%09" PRIu64 "Z", ns % UINT64_C(1000000000));
	return buf;
}

static const char *fmt_price(int64_t p, char *buf, size_t len)
{
	tkx_price_format(p, buf, len); /* the null price as "null" */
	return buf;
}

static const char *type_name(unsigned t)
{
	switch (t) {
	case JN_T_ORDER: return "order";
	case JN_T_CTL: return "ctl";
	case JN_T_SESSION: return "session";
	case JN_T_SNAPSHOT: return "snapshot";
	case JN_T_MARK: return "mark";
	case JN_T_DRAIN: return "drain";
	case JN_T_REJECT: return "reject";
	case JN_T_CP: return "cp";
	default: return "unknown";
	}
}

static const char *ord_name(unsigned t)
{
	switch (t) {
	case DP_ORD_NEW: return "NEW";
	case DP_ORD_CANCEL: return "CANCEL";
	case DP_ORD_MODIFY: return "MODIFY";
	case DP_ORD_MASS_CANCEL: return "MASS_CANCEL";
	case DP_ORD_SESSION_GONE: return "SESSION_GONE";
	default: return "?";
	}
}

static const char *ctl_name(unsigned t)
{
	static const char *const n[] = {"?", "PHASE", "UNCROSS", "BAND", "DAY_STATS", "NEW_DAY",
					"VOL_GUARD", "ACCOUNT", "KILL", "MASS_CANCEL", "LIST",
					"DELIST", "SPOT", "RANGE", "AUCTION", "END_OF_DAY"};
	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

static const char *side_name(unsigned s)
{
	return s == TKX_SIDE_BUY ? "BUY" : s == TKX_SIDE_SELL ? "SELL" : s == 0 ? "BOTH" : "?";
}

static const char *tif_name(unsigned t)
{
	static const char *const n[] = {"?", "GTC", "IOC", "FOK", "POST", "DAY"};
	return t < sizeof(n) / sizeof(n[0]) ? n[t] : "?";
}

/* Copies the payload out (records are byte arrays; structs need alignment). */
static int rec_order(const struct jn_rec *r, struct dp_order *o)
{
	if (r->type != JN_T_ORDER || r->len != sizeof(*o))
		return 0;
	memcpy(o, r->payload, sizeof(*o));
	return 1;
}

static int rec_ctl(const struct jn_rec *r, struct dp_ctl *c)
{
	if (r->type != JN_T_CTL || r->len != sizeof(*c))
		return 0;
	memcpy(c, r->payload, sizeof(*c));
	return 1;
}

static int filt_match(const struct filt *f, const struct jn_rec *r)
{
	if (f->type && r->type != f->type)
		return 0;
	if (r->time_ns < f->from || r->time_ns > f->to)
		return 0;
	if (f->contract < 0 && f->account < 0 && f->firm < 0)
		return 1;
	int64_t contract = -1, account = -1, firm = -1;
	struct dp_order o;
	struct dp_ctl c;
	struct jn_session_ev s;
	if (rec_order(r, &o)) {
		contract = o.contract_id;
		account = o.account;
		firm = o.firm_id;
	} else if (rec_ctl(r, &c)) {
		contract = c.contract_id;
		account = c.account;
		firm = c.firm_id;
	} else if (r->type == JN_T_SESSION && r->len >= offsetof(struct jn_session_ev, logon_ts) &&
		   r->len <= sizeof(s)) {
		memcpy(&s, r->payload, r->len);
		firm = s.firm_id;
	}
	return (f->contract < 0 || f->contract == contract) &&
	       (f->account < 0 || f->account == account) && (f->firm < 0 || f->firm == firm);
}

/* ---- dump ------------------------------------------------------------------------- */

/* The control plane's records: every part goes through the assembler as recovery reads
 * it (a filter selects lines only); the part that completes an item prints it decoded. */
struct dump_ctx {
	const struct filt *f;
	struct cp_state_asm as;
};

static const char *cp_kind(unsigned k)
{
	return k == CP_ST_CONTRACT ? "contract" : k == CP_ST_ACCOUNT ? "account" : "global";
}

static void dump_cp(struct dump_ctx *d, const struct jn_rec *r)
{
	const struct filt *f = d->f;
	char e[256], line[768], t[64];
	int rc = cp_state_asm_feed(&d->as, r->payload, r->len, e, sizeof(e));
	if ((f->type && f->type != JN_T_CP) || r->time_ns < f->from || r->time_ns > f->to)
		return;
	int by_id = f->contract >= 0 || f->firm >= 0 || f->account >= 0;
	struct cp_state_rec p;
	memset(&p, 0, sizeof(p));
	memcpy(&p, r->payload, r->len < sizeof(p) ? r->len : sizeof(p));
	if (rc == 1 && by_id) {
		struct cp_life_contract k;
		struct cp_account a;
		if (f->contract >= 0 ? cp_state_decode_contract(&d->as.it, &k, e, sizeof(e)) < 0 ||
				       k.id != f->contract
				     : cp_state_decode_account(&d->as.it, &a, e, sizeof(e)) < 0 ||
				       (f->firm >= 0 && a.firm != f->firm) ||
				       (f->account >= 0 && a.account != f->account))
			return;
	} else if (rc == 0 && by_id) {
		return; /* an item is selected when whole */
	}
	printf("seq=%" PRIu64 " time=%s epoch=%u type=cp", r->seq,
	       fmt_time(r->time_ns, t, sizeof(t)), r->epoch);
	if (rc < 0) {
		printf(" error=\"%s\"\n", e);
		return;
	}
	printf(" part=%u/%u ", p.part + 1u, (unsigned)p.nparts);
	if (rc == 0) {
		printf("%s slot=%u\n", cp_kind(p.kind), (unsigned)p.index);
		return;
	}
	cp_state_describe(&d->as.it, line, sizeof(line));
	printf("%s\n", line);
}

static int dump_cb(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	(void)pos;
	struct dump_ctx *d = arg;
	const struct filt *f = d->f;
	/* A new writer run: recovery dropped the item the run before left unfinished. */
	if (r->writer & JN_WRITER_FIRST)
		cp_state_asm_init(&d->as);
	if (r->type == JN_T_CP) {
		dump_cp(d, r);
		return 0;
	}
	if (!filt_match(f, r))
		return 0;
	char t[64], p1[32], p2[32];
	printf("seq=%" PRIu64 " time=%s epoch=%u type=%s", r->seq,
	       fmt_time(r->time_ns, t, sizeof(t)), r->epoch, type_name(r->type));
	struct dp_order o;
	struct dp_ctl c;
	if (rec_order(r, &o)) {
		printf(" op=%s contract=%u firm=%u account=%u session=%u/%u cl_ord_id=%" PRIu64
		       " order_id=%" PRIu64 " side=%s tif=%s price=%s qty=%u in_seq=%" PRIu64,
		       ord_name(o.type), o.contract_id, o.firm_id, o.account, o.src, o.session,
		       o.cl_ord_id, o.order_id, side_name(o.side), tif_name(o.tif),
		       fmt_price(o.price, p1, sizeof(p1)), o.qty, o.in_seq);
		if (o.type == DP_ORD_MASS_CANCEL || o.type == DP_ORD_SESSION_GONE)
			printf(" scope=%u parts=%u", o.scope, o.parts);
		if (o.type == DP_ORD_NEW && dp_order_show(&o))
			printf(" show=%" PRId64, dp_order_show(&o));
		if (o.type == DP_ORD_NEW && dp_order_stop(&o))
			printf(" stop=%s", fmt_price(dp_order_stop(&o), p2, sizeof(p2)));
	} else if (rec_ctl(r, &c)) {
		printf(" op=%s contract=%u firm=%u account=%u ctl_seq=%" PRIu64 " price=%s"
		       " price2=%s qty=%" PRId64 " arg=%" PRIu64 " arg8=%u",
		       ctl_name(c.type), c.contract_id, c.firm_id, c.account, c.seq,
		       fmt_price(c.price, p1, sizeof(p1)), fmt_price(c.price2, p2, sizeof(p2)),
		       c.qty, c.arg, c.arg8);
	} else if (r->type == JN_T_SESSION && r->len >= offsetof(struct jn_session_ev, logon_ts) &&
		   r->len <= sizeof(struct jn_session_ev)) {
		struct jn_session_ev s;
		memset(&s, 0, sizeof(s)); /* records written before logon_ts are shorter */
		memcpy(&s, r->payload, r->len);
		printf(" kind=%s session=%u/%u firm=%u session_id=%" PRIu64 " next_in=%" PRIu64
		       " next_out=%" PRIu64,
		       s.kind == JN_SS_ESTABLISHED ? "ESTABLISHED" :
		       s.kind == JN_SS_TERMINATED ? "TERMINATED" :
		       s.kind == JN_SS_LOGON ? "LOGON" : "?",
		       s.src, s.session, s.firm_id, s.session_id, s.next_in_seq, s.next_out_seq);
		if (s.kind == JN_SS_LOGON)
			printf(" logon_ts=%" PRIu64, s.logon_ts);
	} else if (r->type == JN_T_SNAPSHOT && r->len == sizeof(struct jn_snapshot_mark)) {
		struct jn_snapshot_mark m;
		memcpy(&m, r->payload, sizeof(m));
		printf(" snapshot_seq=%" PRIu64, m.seq);
	} else {
		printf(" len=%u data=", r->len);
		for (unsigned i = 0; i < r->len; i++)
			printf("%02x", r->payload[i]);
	}
	putchar('\n');
	return 0;
}

/* ---- verify: the control plane's records ------------------------------------------ */

/* As recovery reads them (td_cpstate.c): reassembled, checked and staged change by
 * change; a new writer run drops what the run before left unended. A journal pruned
 * after snapshots starts in the middle of an item or a change: its CP records are read
 * from the first part 0. */
struct cp_check {
	struct cp_state_img img;
	struct cp_state_asm as;
	uint64_t records, changes, last_change, bad_seq;
	uint32_t dropped;
	int synced;
	char err[256];
};

static int cp_check_cb(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	(void)pos;
	struct cp_check *c = arg;
	if (r->seq == 1)
		c->synced = 1;
	if (r->writer & JN_WRITER_FIRST)
		c->dropped += cp_state_drop_unended(&c->img, &c->as);
	if (r->type != JN_T_CP)
		return 0;
	c->records++;
	if (!c->synced) {
		struct cp_state_rec p;
		memset(&p, 0, sizeof(p));
		memcpy(&p, r->payload, r->len < sizeof(p) ? r->len : sizeof(p));
		if (p.part != 0)
			return 0;
		c->synced = 1;
	}
	int rc = cp_state_feed(&c->img, &c->as, r->payload, r->len, c->err, sizeof(c->err));
	if (rc < 0) {
		c->bad_seq = r->seq;
		return 1;
	}
	if (rc == 1) {
		c->changes++;
		c->last_change = r->seq;
	}
	return 0;
}

/* 0 clean (a line when the journal has CP records), 1 with the first bad record. */
static int cp_check(const char *dir)
{
	static struct cp_check c;
	char err[512];
	memset(&c, 0, sizeof(c));
	cp_state_asm_init(&c.as);
	int64_t n = jn_iter(dir, 0, cp_check_cb, &c, err, sizeof(err));
	if (c.bad_seq) {
		printf("control plane: record seq %" PRIu64 ": %s\n", c.bad_seq, c.err);
		return 1;
	}
	if (n < 0 || c.records == 0)
		return 0;
	uint32_t unended = c.img.n_pend + (c.as.next != 0);
	printf("control plane: %" PRIu64 " records, %" PRIu64 " changes", c.records, c.changes);
	struct cp_state_global g;
	if (c.changes && cp_state_decode_global(&c.img.g, &g, err, sizeof(err)) == 0) {
		char t[40], r[24];
		cp_clock_format_time(g.cal_ns, 0, t, sizeof(t));
		cp_clock_format_rate(g.clock_rate, r, sizeof(r));
		printf(", the last at seq %" PRIu64 ": %u contracts, %u accounts, calendar %s (%s "
		       "clock, rate %s)", c.last_change, g.n_contracts, g.n_accounts, t,
		       g.clock_held ? "simulated, held" : g.clock_sim ? "simulated" : "wall", r);
	}
	if (c.dropped)
		printf("; %u item(s) of changes cut short by a stop, dropped", c.dropped);
	if (unended)
		printf("; a change at the end without its end (never acknowledged: recovery drops "
		       "it)");
	printf("\n");
	return 0;
}

/* ---- audit ------------------------------------------------------------------------ */

/* order id -> (firm, account): fills and cancels of resting orders name their owner. */
struct owner_map {
	uint64_t *key;
	uint64_t *val; /* firm << 32 | account */
	size_t cap, n;
};

static void owner_put(struct owner_map *m, uint64_t k, uint64_t v);

static void owner_grow(struct owner_map *m)
{
	struct owner_map old = *m;
	m->cap = old.cap ? old.cap * 2 : 4096;
	m->key = calloc(m->cap, sizeof(uint64_t));
	m->val = calloc(m->cap, sizeof(uint64_t));
	if (m->key == NULL || m->val == NULL) {
		fprintf(stderr, "tokex-journal: out of memory\n");
		exit(2);
	}
	m->n = 0;
	for (size_t i = 0; i < old.cap; i++)
		if (old.key[i])
			owner_put(m, old.key[i], old.val[i]);
	free(old.key);
	free(old.val);
}

static void owner_put(struct owner_map *m, uint64_t k, uint64_t v)
{
	if (k == 0)
		return;
	if (2 * (m->n + 1) > m->cap)
		owner_grow(m);
	size_t i = (size_t)dp_hash64(k) & (m->cap - 1);
	while (m->key[i] && m->key[i] != k)
		i = (i + 1) & (m->cap - 1);
	if (!m->key[i])
		m->n++;
	m->key[i] = k;
	m->val[i] = v;
}

static int owner_get(const struct owner_map *m, uint64_t k, uint64_t *v)
{
	if (!m->cap || k == 0)
		return 0;
	size_t i = (size_t)dp_hash64(k) & (m->cap - 1);
	while (m->key[i]) {
		if (m->key[i] == k) {
			*v = m->val[i];
			return 1;
		}
		i = (i + 1) & (m->cap - 1);
	}
	return 0;
}

#define AUDIT_MAX_CORES 16

struct audit {
	/* One matching core per core of the configuration (pipeline mode: contracts are
	 * split between cores, each numbering its own orders), so order and trade ids come
	 * out as the appliance made them. mc is the current record's core. */
	struct mc_core *mc;
	struct mc_core *core[AUDIT_MAX_CORES];
	void *mem[AUDIT_MAX_CORES];
	uint32_t n_cores;
	uint32_t route_id[MC_MAX_CONTRACTS * 2];
	uint8_t route_core[MC_MAX_CONTRACTS * 2];
	uint32_t n_route;
	struct mc_out out;
	struct dp_event ev[64];
	struct owner_map owners;
	const struct filt *f;
	const struct jn_rec *cur; /* the input being replayed */
	struct dp_order cur_order;
	int cur_is_order;
	uint64_t rows;
};

static void audit_row(struct audit *a, uint64_t time_ns, const char *event, uint32_t contract,
		      int64_t firm, int64_t account, const char *session, uint64_t cl_ord_id,
		      uint64_t order_id, unsigned side, int64_t price, int64_t qty, int64_t leaves,
		      uint64_t trade_id, int aggressor, const char *reason)
{
	const struct filt *f = a->f;
	if ((f->contract >= 0 && f->contract != contract) ||
	    (f->firm >= 0 && f->firm != firm) || (f->account >= 0 && f->account != account))
		return;
	char t[64], p[32];
	printf("%s,%" PRIu64 ",%s,%u,", fmt_time(time_ns, t, sizeof(t)), a->cur->seq, event,
	       contract);
	if (firm >= 0)
		printf("%" PRId64, firm);
	putchar(',');
	if (account >= 0)
		printf("%" PRId64, account);
	printf(",%s,%" PRIu64 ",%" PRIu64 ",%s,%s,", session, cl_ord_id, order_id,
	       side ? side_name(side) : "", price == TKX_NULL_PRICE ? "" :
	       fmt_price(price, p, sizeof(p)));
	if (qty >= 0)
		printf("%" PRId64, qty);
	putchar(',');
	if (leaves >= 0)
		printf("%" PRId64, leaves);
	putchar(',');
	if (trade_id)
		printf("%" PRIu64, trade_id);
	putchar(',');
	if (aggressor >= 0)
		printf("%d", aggressor);
	printf(",%s\n", reason);
	a->rows++;
}

static void audit_owner(struct audit *a, uint64_t order_id, int64_t *firm, int64_t *account)
{
	uint64_t v;
	if (owner_get(&a->owners, order_id, &v)) {
		*firm = (int64_t)(v >> 32);
		*account = (int64_t)(v & 0xffffffffu);
	} else if (a->cur_is_order) {
		*firm = a->cur_order.firm_id;
		*account = a->cur_order.account;
	} else {
		*firm = *account = -1;
	}
}

static void audit_flush(struct mc_out *o)
{
	struct audit *a = o->arg;
	char sess[16], why[16];
	for (uint32_t i = 0; i < o->n; i++) {
		const struct dp_event *e = &o->ev[i];
		int64_t firm, account;
		snprintf(sess, sizeof(sess), "%u/%u", e->src, e->session);
		switch (e->template_id) {
		case TKX_EXEC_ACK: {
			const struct tkx_exec_ack *x = &e->u.ack;
			if (a->cur_is_order)
				owner_put(&a->owners, x->order_id,
					  (uint64_t)a->cur_order.firm_id << 32 | a->cur_order.account);
			audit_owner(a, x->order_id, &firm, &account);
			audit_row(a, x->transact_time, "ACK", x->contract_id, firm, account, sess,
				  x->cl_ord_id, x->order_id, x->side, x->price, x->qty, -1, 0, -1, "");
			break;
		}
		case TKX_EXEC_REJECT: {
			const struct tkx_exec_reject *x = &e->u.reject;
			audit_owner(a, 0, &firm, &account);
			snprintf(why, sizeof(why), "%u", x->reason);
			audit_row(a, x->transact_time, "REJECT", x->contract_id, firm, account, sess,
				  x->cl_ord_id, x->order_id, 0, TKX_NULL_PRICE, -1, -1, 0, -1, why);
			break;
		}
		case TKX_FILL: {
			const struct tkx_fill *x = &e->u.fill;
			audit_owner(a, x->order_id, &firm, &account);
			audit_row(a, x->transact_time, "FILL", x->contract_id, firm, account, sess,
				  x->cl_ord_id, x->order_id, x->side, x->price, x->qty, x->leaves_qty,
				  x->trade_id, x->aggressor, "");
			break;
		}
		case TKX_CANCELLED: {
			const struct tkx_cancelled *x = &e->u.cancelled;
			audit_owner(a, x->order_id, &firm, &account);
			snprintf(why, sizeof(why), "%u", x->reason);
			audit_row(a, x->transact_time, "CANCELLED", x->contract_id, firm, account,
				  sess, x->cl_ord_id, x->order_id, x->side, TKX_NULL_PRICE, x->qty, 0,
				  0, -1, why);
			break;
		}
		case TKX_STOP_ELECTED: {
			const struct tkx_stop_elected *x = &e->u.elected;
			audit_owner(a, x->order_id, &firm, &account);
			audit_row(a, x->transact_time, "STOP_ELECTED", x->contract_id, firm, account,
				  sess, x->cl_ord_id, x->order_id, x->side, x->price, x->qty, -1, 0,
				  -1, "");
			break;
		}
		case TKX_MODIFY_ACK: {
			const struct tkx_modify_ack *x = &e->u.modify_ack;
			audit_owner(a, x->order_id, &firm, &account);
			audit_row(a, x->transact_time, "MODIFY_ACK", x->contract_id, firm, account,
				  sess, x->cl_ord_id, x->order_id, x->side, x->price, x->qty, -1, 0,
				  -1, "");
			break;
		}
		case TKX_MASS_CANCEL_ACK: {
			const struct tkx_mass_cancel_ack *x = &e->u.mass_ack;
			audit_owner(a, 0, &firm, &account);
			snprintf(why, sizeof(why), "count=%u", x->count);
			audit_row(a, x->transact_time, "MASS_CANCEL_ACK", x->contract_id, firm,
				  x->account, sess, x->cl_ord_id, 0, x->side, TKX_NULL_PRICE, -1, -1,
				  0, -1, why);
			break;
		}
		case TKX_MD_TRADE: {
			const struct tkx_md_trade *x = &e->u.trade;
			audit_row(a, x->transact_time, "TRADE", x->contract_id, -1, -1, "", 0, 0,
				  x->aggressor_side, x->price, x->qty, -1, x->trade_id, -1,
				  "aggressor side");
			break;
		}
		default: /* top of book, contract status: market data, not the trail */
			break;
		}
	}
	o->n = 0;
}

/* The core of a contract (0 when none: it answers UNKNOWN_CONTRACT, as tokexd's does). */
static uint32_t audit_core(const struct audit *a, uint32_t contract_id)
{
	for (uint32_t i = 0; i < a->n_route; i++)
		if (a->route_id[i] == contract_id)
			return a->route_core[i];
	return 0;
}

static void audit_route_add(struct audit *a, uint32_t contract_id, uint32_t core)
{
	for (uint32_t i = 0; i < a->n_route; i++)
		if (a->route_id[i] == contract_id)
			return;
	if (a->n_route < MC_MAX_CONTRACTS * 2) {
		a->route_id[a->n_route] = contract_id;
		a->route_core[a->n_route++] = (uint8_t)core;
	}
}

static int audit_cb(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	(void)pos;
	struct audit *a = arg;
	a->cur = r;
	a->cur_is_order = 0;
	/* Every input is replayed (the engine's state needs them all); only the rows are
	 * filtered, and the time/type filters select inputs. */
	int shown = (!a->f->type || r->type == a->f->type) && r->time_ns >= a->f->from &&
		    r->time_ns <= a->f->to;
	const struct filt *keep = a->f;
	struct filt none = { .contract = -2, .firm = -2, .account = -2 };
	if (!shown)
		a->f = &none; /* contract -2 matches nothing: replay silently */
	struct dp_order o;
	struct dp_ctl c;
	char sess[16];
	if (rec_order(r, &o)) {
		a->cur_order = o;
		a->cur_is_order = 1;
		snprintf(sess, sizeof(sess), "%u/%u", o.src, o.session);
		char ev[32], notes[64] = "";
		snprintf(ev, sizeof(ev), "ORDER_%s", ord_name(o.type));
		if (o.type == DP_ORD_NEW) {
			/* The order type in the reason column: "DAY", "GTC show=10", "IOC
			 * stop=2.5000"; a NEW's order_id column is 0 (its value is the type's). */
			char p1[32];
			int n = snprintf(notes, sizeof(notes), "%s", tif_name(o.tif));
			if (dp_order_show(&o))
				snprintf(notes + n, sizeof(notes) - (size_t)n, " show=%" PRId64,
					 dp_order_show(&o));
			else if (dp_order_stop(&o))
				snprintf(notes + n, sizeof(notes) - (size_t)n, " stop=%s",
					 fmt_price(dp_order_stop(&o), p1, sizeof(p1)));
		}
		audit_row(a, r->time_ns, ev, o.contract_id, o.firm_id, o.account, sess,
			  o.cl_ord_id, o.type == DP_ORD_NEW ? 0 : o.order_id, o.side,
			  o.type == DP_ORD_NEW || o.type == DP_ORD_MODIFY ? o.price : TKX_NULL_PRICE,
			  o.type == DP_ORD_NEW || o.type == DP_ORD_MODIFY ? (int64_t)o.qty : -1, -1,
			  0, -1, notes);
		int all = o.type == DP_ORD_SESSION_GONE ||
			  (o.type == DP_ORD_MASS_CANCEL && o.contract_id == 0);
		uint32_t core = audit_core(a, o.contract_id);
		for (uint32_t m = 0; m < a->n_cores; m++) {
			if (!all && m != core)
				continue;
			a->mc = a->core[m];
			mc_process(a->mc, &o, 1, r->time_ns, &a->out);
			if (a->out.n)
				audit_flush(&a->out);
		}
	} else if (rec_ctl(r, &c)) {
		char ev[32];
		snprintf(ev, sizeof(ev), "CTL_%s", ctl_name(c.type));
		audit_row(a, r->time_ns, ev, c.contract_id, c.firm_id, c.account, "", 0, 0, 0,
			  c.price, c.qty, -1, 0, -1, "");
		struct dp_ctl_reply rep;
		uint32_t core = c.pad < a->n_cores ? c.pad : 0; /* tokexd: the core it went to */
		a->mc = a->core[core];
		int rc = mc_control(a->mc, &c, &a->out, &rep);
		if (rc == 0 && c.type == DP_CTL_LIST)
			audit_route_add(a, c.contract_id, core);
		if (rc < 0) {
			char why[48];
			snprintf(why, sizeof(why), "refused: %s", strerror(-rc));
			audit_row(a, r->time_ns, "CTL_RESULT", c.contract_id, c.firm_id, c.account,
				  "", 0, 0, 0, TKX_NULL_PRICE, -1, -1, 0, -1, why);
		}
	}
	if (a->out.n)
		audit_flush(&a->out);
	a->f = keep;
	return 0;
}

static int do_audit(const char *dir, const char *cfgfile, const struct filt *f)
{
	static struct cp_config cfg;
	char err[512];
	cp_config_defaults(&cfg);
	if (cfgfile && cp_config_load(&cfg, cfgfile, err, sizeof(err)) < 0) {
		fprintf(stderr, "tokex-journal: %s\n", err);
		return 2;
	}
	static struct audit a;
	memset(&a, 0, sizeof(a));
	a.n_cores = cfg.mode == CP_MODE_PIPELINE && cfg.n_match_lcores ? cfg.n_match_lcores : 1;
	if (a.n_cores > AUDIT_MAX_CORES)
		a.n_cores = AUDIT_MAX_CORES;
	for (uint32_t m = 0; m < a.n_cores; m++) {
		struct mc_contract_params p[MC_MAX_CONTRACTS];
		uint32_t n = 0;
		for (uint32_t i = 0; i < cfg.n_contracts && n < MC_MAX_CONTRACTS; i++) {
			const struct cp_contract *k = &cfg.contracts[i];
			uint32_t kc = a.n_cores > 1 ? k->core : 0;
			if (m == 0)
				audit_route_add(&a, k->id, kc);
			if (kc != m)
				continue;
			memset(&p[n], 0, sizeof(p[n]));
			p[n].id = k->id;
			cp_contract_band(k, &p[n].book.price_lo, &p[n].book.price_hi);
			p[n].book.tick = k->tick;
			p[n].book.max_qty = k->max_qty;
			p[n].book.max_orders = k->max_orders;
			p[n].phase = TKX_PHASE_CONTINUOUS; /* as tokexd starts them */
			n++;
		}
		/* A detach table as tokexd's (mc_core.h identity 4): the replies of a forgotten
		 * session's orders are for no session (session 255/slot in the trail), and
		 * the slot's later sessions do not cancel them, as live. */
		struct mc_core_cfg cc = {.capacity = n, .accounts = MC_DEFAULT_ACCOUNTS,
					 .det_srcs = AUDIT_SESSION_CORES,
					 .det_sessions = cfg.max_sessions};
		size_t len = mc_core_memsize_cfg(p, n, &cc);
		a.mem[m] = len ? aligned_alloc(64, (len + 63) / 64 * 64) : NULL;
		if (a.mem[m])
			memset(a.mem[m], 0, len);
		a.core[m] = a.mem[m] ? mc_core_init_cfg(a.mem[m], len, p, n, &cc) : NULL;
		if (a.core[m] == NULL) {
			fprintf(stderr, "tokex-journal: cannot build matching core %u from %s: %s\n",
				m, cfg.source, strerror(errno));
			return 2;
		}
		mc_core_id_space(a.core[m], m, a.n_cores); /* as tokexd numbers them */
	}
	a.mc = a.core[0];
	a.out.ev = a.ev;
	a.out.cap = 64;
	a.out.flush = audit_flush;
	a.out.arg = &a;
	a.f = f;
	printf("time,seq,event,contract,firm,account,session,cl_ord_id,order_id,side,price,qty,"
	       "leaves_qty,trade_id,aggressor,reason\n");
	int64_t rc = jn_iter(dir, 0, audit_cb, &a, err, sizeof(err));
	for (uint32_t m = 0; m < a.n_cores; m++)
		free(a.mem[m]);
	free(a.owners.key);
	free(a.owners.val);
	if (rc < 0) {
		fprintf(stderr, "tokex-journal: %s\n",
			rc == -EBADMSG || rc == -EPROTONOSUPPORT ? err : strerror((int)-rc));
		return 1;
	}
	return 0;
}

/* ---- main ---------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("tokex-journal %s\n", tkx_version());
		return 0;
	}
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc < 3) {
		usage(stderr);
		return 2;
	}
	const char *cmd = argv[1], *dir = argv[2];
	struct filt f = { .contract = -1, .account = -1, .firm = -1, .to = UINT64_MAX };
	const char *cfgfile = NULL, *segment = NULL;
	uint64_t at = 0;
	int have_at = 0;
	static const struct option opts[] = {
		{"contract", required_argument, NULL, 'C'}, {"account", required_argument, NULL, 'A'},
		{"firm", required_argument, NULL, 'F'},     {"from", required_argument, NULL, 'f'},
		{"to", required_argument, NULL, 't'},       {"type", required_argument, NULL, 'T'},
		{"at", required_argument, NULL, 'a'},       {"segment", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},   {"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}};
	optind = 3;
	int c;
	uint64_t v;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C':
		case 'A':
		case 'F':
			if (parse_u64(optarg, &v) < 0 || v > UINT32_MAX) {
				fprintf(stderr, "tokex-journal: bad number: %s\n", optarg);
				return 2;
			}
			*(c == 'C' ? &f.contract : c == 'A' ? &f.account : &f.firm) = (int64_t)v;
			break;
		case 'f':
		case 't':
			if (parse_time(optarg, c == 'f' ? &f.from : &f.to) < 0) {
				fprintf(stderr, "tokex-journal: bad time: %s (ns since the epoch or "
					"YYYY-MM-DDTHH:MM:SS[.fraction]Z)\n", optarg);
				return 2;
			}
			break;
		case 'T':
			for (f.type = JN_T_ORDER; f.type <= JN_T_CP; f.type++)
				if (strcmp(optarg, type_name((unsigned)f.type)) == 0)
					break;
			if (f.type > JN_T_CP) {
				fprintf(stderr, "tokex-journal: bad type: %s\n", optarg);
				return 2;
			}
			break;
		case 'a':
			if (parse_u64(optarg, &at) < 0) {
				fprintf(stderr, "tokex-journal: bad offset: %s\n", optarg);
				return 2;
			}
			have_at = 1;
			break;
		case 's':
			segment = optarg;
			break;
		case 'c':
			cfgfile = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	char err[1024];
	if (strcmp(cmd, "dump") == 0) {
		static struct dump_ctx d;
		d.f = &f;
		cp_state_asm_init(&d.as);
		int64_t rc = jn_iter(dir, 0, dump_cb, &d, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "tokex-journal: %s\n",
				rc == -EBADMSG || rc == -ENOENT || rc == -EPROTONOSUPPORT ? err
										: strerror((int)-rc));
			return 1;
		}
		return 0;
	}
	if (strcmp(cmd, "verify") == 0) {
		struct jn_verify vr;
		int rc = jn_verify(dir, &vr, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "tokex-journal: %s\n", err);
			return 2;
		}
		if (vr.status == 0) {
			printf("%s\n", err);
			return cp_check(dir);
		}
		printf("%s\nfirst bad record: segment %s offset %" PRIu64 " seq %" PRIu64 "\n", err,
		       vr.bad_segment, vr.bad_offset, vr.bad_seq);
		if (vr.status == 1)
			cp_check(dir); /* the records before the torn tail */
		return 1;
	}
	if (strcmp(cmd, "truncate") == 0) {
		if (!have_at) {
			fprintf(stderr, "tokex-journal: truncate needs --at OFFSET\n");
			return 2;
		}
		char last[64];
		if (segment == NULL) {
			struct jn_verify vr;
			if (jn_verify(dir, &vr, err, sizeof(err)) < 0 || vr.segments == 0) {
				fprintf(stderr, "tokex-journal: no segment in %s\n", dir);
				return 2;
			}
			if (vr.status == 0) {
				fprintf(stderr, "tokex-journal: the journal verifies clean: name the "
					"segment to cut (--segment FILE)\n");
				return 2;
			}
			snprintf(last, sizeof(last), "%s", vr.bad_segment);
			segment = last;
		}
		err[0] = 0;
		int rc = jn_truncate(dir, segment, at, err, sizeof(err));
		if (rc < 0) {
			fprintf(stderr, "tokex-journal: truncate %s/%s at %" PRIu64 ": %s%s\n", dir,
				segment, at, rc == -EBUSY && err[0] ? err : strerror(-rc),
				rc == -EINVAL ? " (the offset must be a multiple of the record size, 128)" : "");
			return 1;
		}
		printf("truncated %s/%s at offset %" PRIu64 "\n", dir, segment, at);
		return 0;
	}
	if (strcmp(cmd, "audit") == 0)
		return do_audit(dir, cfgfile, &f);
	usage(stderr);
	return 2;
}
