/*
 * mc_core.c - a matching core's request handling around its books.
 *
 * Role: see mc_core.h. Per request: find the contract (a 64-entry open-addressed map),
 * check phase and ownership, build one me_cmd, apply it, and translate the engine's events
 * as they come (the engine's sink flushes straight into the translator, so a sweep of any
 * size needs no large buffer). No allocation, lock or syscall after mc_core_init().
 *
 * Control (mc_control, between bursts): the rules of each command are above mc_control().
 * Memory, all laid out by mc_core_init_cfg() in the caller's buffer: the core, the
 * account entries and their open-addressed map, positions [accounts][contract slots],
 * the followed-order map (order id -> account, open-addressed, backward-shift deletion),
 * the detach table (mc_core.h identity 4: [det_srcs][det_sessions] of uint64), then one
 * book region per contract slot (spare slots slot_bytes each). While no slot was ever
 * detached, replies cost nothing for it; after that, each reply for an order looks up
 * one entry of the table.
 *
 * Accounts cost the ordinary path nothing until one exists: with no entry, a NEW does
 * no lookup and events no bookkeeping. With entries, a NEW of an account does one
 * lookup (two with a firm-wide kill switch on), and while any followed order is live
 * each TRADE, OUT and MODIFY event probes the followed-order map once (load <= 1/2, so a
 * miss ends at an empty slot within a few entries).
 */
#include "mc_core.h"

#include <errno.h>
#include <string.h>

#include "dataplane/dp_hash.h"

#include "me_snap.h" /* me_book_params() */

#define MC_MAP_SIZE 128 /* power of two, > 2 * MC_MAX_CONTRACTS */
#define MC_EVBUF 64
#define MC_NULL_ACCT UINT32_MAX

/* Per-day statistics of a contract (DAY_STATS, reset by NEW_DAY). */
struct mc_day {
	uint64_t volume;
	unsigned __int128 notional; /* sum of price * qty: cannot overflow in 2^64 trades */
	int64_t high, low, last;    /* TKX_NULL_PRICE before the first trade */
	uint32_t flags;             /* MC_DAY_VOL: a volatility interruption fired */
};
#define MC_DAY_VOL 4u /* dp_ctl_reply.flags bit 2 */

struct mc_contract {
	uint32_t id; /* 0: free slot */
	uint8_t phase;
	uint8_t dirty; /* top of book may have changed in this burst */
	uint8_t spot;
	uint8_t vol;   /* in a volatility auction */
	struct me_book *book;
	void *mem;     /* the slot's book memory, kept across DELIST/LIST */
	size_t mem_len;
	uint64_t trade_seq;
	uint64_t volume;
	int64_t last_price;
	/* last published top of book */
	int64_t pub_bid, pub_ask;
	int64_t pub_bid_qty, pub_ask_qty;
	/* price guard: band in basis points around guard_ref (the last trade) */
	uint32_t guard_bps;
	int64_t guard_ref;
	struct mc_day day;
	/* Market data of version 3 ("Market by order" below). */
	uint8_t defined;      /* DP_CTL_DEFINE came: definitions follow the book */
	uint8_t ddirty;       /* bit me_side: a change this burst may have moved that side's
			       * published depth levels (mc_depth_mark) */
	int64_t prev_settle;  /* DP_CTL_DEFINE's, for the definition's book part */
	struct dp_md_def st;  /* DP_CTL_DEFINE's static part */
	int64_t dpx[2][MC_DEPTH_MAX]; /* depth last published per me_side: price (0 = no
				       * level; prices are > 0) and displayed qty */
	int64_t dqty[2][MC_DEPTH_MAX];
};

/* A (firm, account) with limits or a kill switch. account 0 is a firm-wide entry (kill
 * switch only). Entries are never removed: limits of 0 mean none. */
struct mc_acct {
	uint32_t firm, account;
	int64_t max_qty;  /* 0 = none */
	int64_t max_pos;  /* 0 = none */
	int64_t spot_pos; /* 0 = max_pos applies in the spot month too */
	uint8_t kill;
	uint8_t pad[7];
};

/* A live order of an account in the table: whose it is, for the position counters. */
struct mc_trk {
	int64_t id;
	uint32_t acct; /* index into acct[]; MC_NULL_ACCT = empty slot */
	uint8_t slot;  /* contract slot */
	uint8_t side;  /* me_side */
	uint16_t pad;
};

struct mc_core {
	/* the request being applied, for translating its events */
	const struct dp_order *cur;
	struct mc_contract *cur_c;
	struct mc_out *out;
	uint64_t now;
	uint8_t mass_reason; /* tkx_cancel_reason for ME_OUT_MASS events */
	uint8_t uncross;     /* translating an uncross: no aggressor */
	uint32_t cur_acct;   /* the NEW's account entry (new orders are tracked), or NULL */
	int64_t cur_old_qty; /* a MODIFY's target's remaining qty before it */
	int64_t cur_id;      /* the engine id of the request's order (0 in control): any
				other id's REJECT is an elected stop order's (mc_translate) */
	int64_t elect_id;    /* the latest ELECT event's order and quantity */
	int64_t elect_qty;
	int64_t cur_old_price; /* ... and its price */
	int64_t mbo_pend;    /* the order being processed as an aggressor: its resting
				remainder is published when its processing ends (0: none) */
	uint8_t mbo;         /* mc_core_md(): market by order on */
	uint8_t depth;       /* mc_core_md(): depth levels per side, 0 = off */
	uint8_t in_req;      /* applying a client request: its last reply is marked */
	int32_t req_at;      /* out->ev index of its latest reply to its session, -1 none
				(or flushed since) */

	uint64_t order_seq;
	uint32_t id_mul;     /* mc_core_id_space(): ids seq * id_mul + id_add (1, 0) */
	uint32_t id_add;
	uint32_t n;          /* listed contracts */
	uint32_t cap;        /* contract slots */
	uint32_t n_dirty;
	struct mc_stats st;
	uint64_t rej[MC_REJ_REASONS]; /* ExecRejects by reason (mc_reject_counts) */
	struct me_sink sink;
	uint8_t map[MC_MAP_SIZE]; /* contract id -> slot + 1 */
	uint16_t dirty[MC_MAX_CONTRACTS];
	struct mc_contract c[MC_MAX_CONTRACTS];
	struct me_event evbuf[MC_EVBUF];

	/* accounts: acct[n_acct] filled in order, acct_map open-addressed (index + 1) */
	struct mc_acct *acct;
	uint32_t *acct_map;
	struct mc_position *pos; /* [acct index * cap + contract slot] */
	struct mc_trk *trk;      /* open-addressed by order id, backward-shift deletion */
	uint32_t acct_max, n_acct, n_firm_kill, acct_mask;
	uint64_t trk_mask;
	uint32_t trk_max, n_trk;

	/* detach table (identity 4): the last s issued when (src, session) was detached */
	uint64_t *det;
	uint32_t det_srcs, det_sessions;
	uint64_t n_det; /* entries not 0 */
	struct dp_event det_void; /* what mc_emit() fills for nobody (never sent) */
};

static const struct dp_order mc_no_request; /* mc->cur during control commands */

static size_t mc_align(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static uint64_t mc_pow2(uint64_t n)
{
	uint64_t p = 8;
	while (p < n)
		p <<= 1;
	return p;
}

/* Where each region goes; both memsize and init use it. */
struct mc_layout {
	uint32_t cap, accts, trk_max, det_srcs, det_sessions;
	uint64_t acct_slots, trk_slots;
	size_t off_acct, off_amap, off_pos, off_trk, off_det, off_books, total;
};

static int mc_layout(const struct mc_contract_params *c, uint32_t n,
		     const struct mc_core_cfg *cfg, struct mc_layout *L)
{
	struct mc_core_cfg d = { .capacity = n, .accounts = MC_DEFAULT_ACCOUNTS };
	if (cfg == NULL)
		cfg = &d;
	if (n == 0 || n > MC_MAX_CONTRACTS || cfg->capacity < n ||
	    cfg->capacity > MC_MAX_CONTRACTS || cfg->accounts > (1u << 24) || c == NULL ||
	    cfg->det_srcs > 256 || cfg->det_sessions > 65536 ||
	    (cfg->det_srcs == 0) != (cfg->det_sessions == 0))
		return -EINVAL;
	uint64_t orders = 0;
	size_t books = 0;
	for (uint32_t i = 0; i < n; i++) {
		size_t b = me_book_memsize(&c[i].book);
		if (b == 0)
			return -EINVAL;
		books += mc_align(b);
		orders += c[i].book.max_orders;
	}
	if (cfg->capacity > n && cfg->slot_bytes > ((size_t)1 << 40))
		return -EINVAL;
	books += (size_t)(cfg->capacity - n) * mc_align(cfg->slot_bytes);
	L->cap = cfg->capacity;
	L->accts = cfg->accounts;
	/* Default: as many as the initial books hold, at most MC_DEFAULT_TRACKED (the map
	 * is 2 * 16 bytes a followed order; size it explicitly for more). */
	uint64_t t = cfg->tracked ? cfg->tracked : orders;
	if (!cfg->tracked && t > MC_DEFAULT_TRACKED)
		t = MC_DEFAULT_TRACKED;
	if (t > (1u << 30))
		t = 1u << 30;
	L->trk_max = (uint32_t)t;
	L->acct_slots = mc_pow2(2 * (uint64_t)L->accts);
	L->trk_slots = mc_pow2(2 * t);
	L->det_srcs = cfg->det_srcs;
	L->det_sessions = cfg->det_sessions;
	size_t off = mc_align(sizeof(struct mc_core));
	L->off_acct = off;
	off += mc_align((size_t)L->accts * sizeof(struct mc_acct));
	L->off_amap = off;
	off += mc_align((size_t)L->acct_slots * sizeof(uint32_t));
	L->off_pos = off;
	off += mc_align((size_t)L->accts * L->cap * sizeof(struct mc_position));
	L->off_trk = off;
	off += mc_align((size_t)L->trk_slots * sizeof(struct mc_trk));
	L->off_det = off;
	off += mc_align((size_t)L->det_srcs * L->det_sessions * sizeof(uint64_t));
	L->off_books = off;
	L->total = off + books;
	return 0;
}

size_t mc_core_memsize_cfg(const struct mc_contract_params *c, uint32_t n,
			   const struct mc_core_cfg *cfg)
{
	struct mc_layout L;
	if (mc_layout(c, n, cfg, &L) < 0) {
		errno = EINVAL;
		return 0;
	}
	return L.total;
}

size_t mc_core_memsize(const struct mc_contract_params *c, uint32_t n)
{
	return mc_core_memsize_cfg(c, n, NULL);
}

/* The tables of this file are keyed by the exchange's own ids (contracts, firms' accounts,
 * order ids): dp_hash64, unkeyed. */
static uint32_t mc_hash(uint32_t id)
{
	return (uint32_t)dp_hash64(id) & (MC_MAP_SIZE - 1);
}

static struct mc_contract *mc_find(struct mc_core *mc, uint32_t id)
{
	if (id == 0)
		return NULL;
	for (uint32_t h = mc_hash(id);; h = (h + 1) & (MC_MAP_SIZE - 1)) {
		uint8_t v = mc->map[h];
		if (v == 0)
			return NULL;
		if (mc->c[v - 1].id == id)
			return &mc->c[v - 1];
	}
}

static const struct mc_contract *mc_cfind(const struct mc_core *mc, uint32_t id)
{
	return mc_find((struct mc_core *)(uintptr_t)mc, id);
}

static void mc_map_put(struct mc_core *mc, uint32_t slot)
{
	uint32_t h = mc_hash(mc->c[slot].id);
	while (mc->map[h])
		h = (h + 1) & (MC_MAP_SIZE - 1);
	mc->map[h] = (uint8_t)(slot + 1);
}

static void mc_translate(struct me_sink *s);

/* Lays a contract's book into its slot's memory; resets the contract's state. */
static int mc_contract_setup(struct mc_core *mc, uint32_t slot, uint32_t id,
			     const struct me_params *bp, uint8_t phase, uint8_t spot)
{
	struct mc_contract *k = &mc->c[slot];
	size_t need = me_book_memsize(bp);
	if (need == 0)
		return -EINVAL;
	if (need > k->mem_len)
		return -ENOSPC;
	struct me_book *b = me_book_init(k->mem, need, bp);
	if (!b)
		return -EINVAL;
	void *mem = k->mem;
	size_t mem_len = k->mem_len;
	memset(k, 0, sizeof(*k));
	k->mem = mem;
	k->mem_len = mem_len;
	k->id = id;
	k->phase = phase;
	k->spot = spot;
	k->book = b;
	k->pub_bid = k->pub_ask = TKX_NULL_PRICE;
	k->last_price = TKX_NULL_PRICE;
	k->guard_ref = TKX_NULL_PRICE;
	k->day.high = k->day.low = k->day.last = TKX_NULL_PRICE;
	if (phase == TKX_PHASE_PRE_OPEN)
		me_book_set_auction(b, 1);
	for (uint32_t a = 0; a < mc->acct_max; a++)
		memset(&mc->pos[(size_t)a * mc->cap + slot], 0, sizeof(struct mc_position));
	return 0;
}

struct mc_core *mc_core_init_cfg(void *mem, size_t len, const struct mc_contract_params *c,
				 uint32_t n, const struct mc_core_cfg *cfg)
{
	struct mc_layout L;
	if (mem == NULL || mc_layout(c, n, cfg, &L) < 0 || len < L.total || ((uintptr_t)mem & 63)) {
		errno = EINVAL;
		return NULL;
	}
	struct mc_core *mc = mem;
	char *base = mem;
	memset(mc, 0, sizeof(*mc));
	mc->cap = L.cap;
	mc->id_mul = 1;
	mc->id_add = 0;
	mc->acct = (struct mc_acct *)(base + L.off_acct);
	mc->acct_map = (uint32_t *)(base + L.off_amap);
	mc->pos = (struct mc_position *)(base + L.off_pos);
	mc->trk = (struct mc_trk *)(base + L.off_trk);
	mc->acct_max = L.accts;
	mc->acct_mask = (uint32_t)(L.acct_slots - 1);
	mc->trk_mask = L.trk_slots - 1;
	mc->trk_max = L.trk_max;
	memset(mc->acct_map, 0, (size_t)L.acct_slots * sizeof(uint32_t));
	for (uint64_t i = 0; i < L.trk_slots; i++)
		mc->trk[i].acct = MC_NULL_ACCT;
	mc->det = (uint64_t *)(base + L.off_det);
	mc->det_srcs = L.det_srcs;
	mc->det_sessions = L.det_sessions;
	memset(mc->det, 0, (size_t)L.det_srcs * L.det_sessions * sizeof(uint64_t));
	char *p = base + L.off_books;
	size_t spare = cfg ? cfg->slot_bytes : 0;
	for (uint32_t i = 0; i < L.cap; i++) {
		size_t b = i < n ? me_book_memsize(&c[i].book) : spare;
		mc->c[i].mem = p;
		mc->c[i].mem_len = b;
		p += mc_align(b);
	}
	for (uint32_t i = 0; i < n; i++) {
		if (c[i].id == 0 || mc_find(mc, c[i].id) ||
		    mc_contract_setup(mc, i, c[i].id, &c[i].book, c[i].phase, c[i].spot) < 0) {
			errno = EINVAL;
			return NULL;
		}
		mc_map_put(mc, i);
		mc->n++;
	}
	mc->sink.ev = mc->evbuf;
	mc->sink.cap = MC_EVBUF;
	mc->sink.flush = mc_translate;
	mc->sink.arg = mc;
	mc->cur = &mc_no_request;
	return mc;
}

struct mc_core *mc_core_init(void *mem, size_t len, const struct mc_contract_params *c, uint32_t n)
{
	return mc_core_init_cfg(mem, len, c, n, NULL);
}

/* ---- accounts and the orders they own ------------------------------------------------ */

static uint32_t mc_acct_hash(uint32_t firm, uint32_t account)
{
	return (uint32_t)dp_hash64((uint64_t)firm << 32 | account);
}

/* Index of (firm, account) in acct[], or MC_NULL_ACCT. */
static uint32_t mc_acct_find(const struct mc_core *mc, uint32_t firm, uint32_t account)
{
	if (mc->n_acct == 0)
		return MC_NULL_ACCT;
	for (uint32_t h = mc_acct_hash(firm, account) & mc->acct_mask;;
	     h = (h + 1) & mc->acct_mask) {
		uint32_t v = mc->acct_map[h];
		if (v == 0)
			return MC_NULL_ACCT;
		const struct mc_acct *a = &mc->acct[v - 1];
		if (a->firm == firm && a->account == account)
			return v - 1;
	}
}

static uint32_t mc_trk_home(const struct mc_core *mc, int64_t id)
{
	return (uint32_t)dp_hash64((uint64_t)id) & mc->trk_mask;
}

static struct mc_trk *mc_trk_find(struct mc_core *mc, int64_t id)
{
	for (uint64_t h = mc_trk_home(mc, id);; h = (h + 1) & mc->trk_mask) {
		struct mc_trk *t = &mc->trk[h];
		if (t->acct == MC_NULL_ACCT)
			return NULL;
		if (t->id == id)
			return t;
	}
}

static void mc_trk_put(struct mc_core *mc, int64_t id, uint32_t acct, uint32_t slot, int side)
{
	uint64_t h = mc_trk_home(mc, id);
	while (mc->trk[h].acct != MC_NULL_ACCT)
		h = (h + 1) & mc->trk_mask;
	mc->trk[h] = (struct mc_trk){ .id = id, .acct = acct, .slot = (uint8_t)slot,
				      .side = (uint8_t)side };
	mc->n_trk++;
}

/* Backward-shift deletion (as the engine's id index): no tombstones. */
static void mc_trk_del(struct mc_core *mc, struct mc_trk *t)
{
	uint64_t i = (uint64_t)(t - mc->trk), j = i, mask = mc->trk_mask;
	for (;;) {
		j = (j + 1) & mask;
		if (mc->trk[j].acct == MC_NULL_ACCT)
			break;
		uint64_t k = mc_trk_home(mc, mc->trk[j].id);
		if (((j - k) & mask) >= ((j - i) & mask)) {
			mc->trk[i] = mc->trk[j];
			i = j;
		}
	}
	mc->trk[i].acct = MC_NULL_ACCT;
	mc->n_trk--;
}

static struct mc_position *mc_pos(struct mc_core *mc, uint32_t acct, uint32_t slot)
{
	return &mc->pos[(size_t)acct * mc->cap + slot];
}

static int64_t *mc_open(struct mc_position *p, int side)
{
	return side == ME_BUY ? &p->open_buy : &p->open_sell;
}

/* A tracked order traded qty, leaving leaves. */
static void mc_trk_fill(struct mc_core *mc, int64_t id, int64_t qty, int64_t leaves)
{
	struct mc_trk *t = mc_trk_find(mc, id);
	if (!t)
		return;
	struct mc_position *p = mc_pos(mc, t->acct, t->slot);
	*mc_open(p, t->side) -= qty;
	p->pos += t->side == ME_BUY ? qty : -qty;
	if (leaves == 0)
		mc_trk_del(mc, t);
}

struct mc_pickup {
	struct mc_core *mc;
	uint64_t owner;
	uint32_t acct, slot;
	int full;
};

/* me_book_walk callback: start following a resting order of a new account entry. */
static int mc_pickup_cb(void *arg, const struct me_order_view *o)
{
	struct mc_pickup *pk = arg;
	if (o->owner != pk->owner)
		return 0;
	if (pk->mc->n_trk >= pk->mc->trk_max) {
		pk->full = 1;
		return 1;
	}
	mc_trk_put(pk->mc, o->id, pk->acct, pk->slot, o->side);
	*mc_open(mc_pos(pk->mc, pk->acct, pk->slot), o->side) += o->qty;
	return 0;
}

/* The entry of (firm, account), created if absent (an account's resting orders are
 * followed from then on). Index, or MC_NULL_ACCT when the table is full. */
static uint32_t mc_acct_get(struct mc_core *mc, uint32_t firm, uint32_t account)
{
	uint32_t i = mc_acct_find(mc, firm, account);
	if (i != MC_NULL_ACCT)
		return i;
	if (mc->n_acct == mc->acct_max)
		return MC_NULL_ACCT;
	i = mc->n_acct++;
	mc->acct[i] = (struct mc_acct){ .firm = firm, .account = account };
	for (uint32_t s = 0; s < mc->cap; s++)
		memset(mc_pos(mc, i, s), 0, sizeof(struct mc_position));
	uint32_t h = mc_acct_hash(firm, account) & mc->acct_mask;
	while (mc->acct_map[h])
		h = (h + 1) & mc->acct_mask;
	mc->acct_map[h] = i + 1;
	if (account != 0) {
		struct mc_pickup pk = { .mc = mc, .owner = (uint64_t)firm << 32 | account, .acct = i };
		for (uint32_t s = 0; s < mc->cap; s++) {
			if (mc->c[s].id == 0)
				continue;
			pk.slot = s;
			me_book_walk(mc->c[s].book, mc_pickup_cb, &pk);
		}
	}
	return i;
}

/* ---- detached orders (mc_core.h identity 4) ------------------------------------------ */

#define MC_SESSION_MASK ((1ull << MC_SESSION_BITS) - 1)

static uint64_t *mc_det_entry(const struct mc_core *mc, uint32_t src, uint32_t session)
{
	if (src >= mc->det_srcs || session >= mc->det_sessions)
		return NULL;
	return &mc->det[(size_t)src * mc->det_sessions + session];
}

/* Is order id (s << 24 | src << 16 | session) detached from the slot it names? */
static int mc_detached(const struct mc_core *mc, uint64_t id)
{
	uint64_t s = id >> MC_SESSION_BITS;
	if (mc->n_det == 0 || s == 0)
		return 0; /* s 0: a reply to the current request, never an order */
	const uint64_t *d = mc_det_entry(mc, (uint32_t)(id >> 16) & 0xff, (uint32_t)id & 0xffff);
	return d && s <= *d;
}

/* The lowest order id of (src, session) that is still its session's. */
static uint64_t mc_session_from(const struct mc_core *mc, uint32_t src, uint32_t session)
{
	const uint64_t *d = mc_det_entry(mc, src, session);
	return d && *d ? (*d + 1) << MC_SESSION_BITS : 0;
}

int64_t mc_detached_upto(const struct mc_core *mc, uint32_t src, uint32_t session)
{
	const uint64_t *d = mc_det_entry(mc, src, session);
	return d ? (int64_t)*d : -ENOENT;
}

/* ---- output ------------------------------------------------------------------------- */

static struct dp_event *mc_emit(struct mc_core *mc, uint16_t template_id, uint64_t order_id)
{
	struct mc_out *o = mc->out;
	if (o->n == o->cap) {
		o->flush(o);
		mc->req_at = -1; /* the request's replies so far are gone: mc_req_done() */
	}
	struct dp_event *e = &o->ev[o->n++];
	memset(e, 0, sizeof(*e));
	e->template_id = template_id;
	e->src = (uint8_t)(order_id >> 16);
	e->session = (uint16_t)order_id;
	if (template_id < TKX_MD_TOP_OF_BOOK && mc_detached(mc, order_id)) {
		e->src = DP_SRC_NONE;
		mc->st.detached++;
	}
	if (template_id >= TKX_MD_TOP_OF_BOOK) {
		mc->st.md++;
	} else {
		mc->st.events++;
		if (mc->in_req && e->src == mc->cur->src && e->session == mc->cur->session)
			mc->req_at = (int32_t)(o->n - 1);
	}
	return e;
}

/* The end of a client request: its session is told that no more replies to it follow
 * (dp_event.pad[1] DP_EV_DONE, which its session layer counts to keep replies in request
 * order): on the request's last reply if it is still in the buffer, else on a reply of
 * its own (template 0, nothing else), which only happens when the buffer was flushed
 * after that last reply. Every request gets exactly one. */
static void mc_req_done(struct mc_core *mc)
{
	struct mc_out *o = mc->out;
	if (mc->req_at >= 0) {
		o->ev[mc->req_at].pad[1] |= DP_EV_DONE;
		return;
	}
	if (o->n == o->cap)
		o->flush(o);
	struct dp_event *e = &o->ev[o->n++];
	memset(e, 0, sizeof(*e));
	e->src = mc->cur->src;
	e->session = mc->cur->session;
	e->parts = 1;
	e->pad[1] = DP_EV_DONE;
}

/* A reply to the session that sent the current request. */
static struct dp_event *mc_reply(struct mc_core *mc, uint16_t template_id)
{
	return mc_emit(mc, template_id, (uint64_t)mc->cur->src << 16 | mc->cur->session);
}

/* A cancel or modify sent by another session of the order's firm: the owning session
 * gets the reply (its order changed) and so does the requester (its request was done). */
static void mc_copy_to_requester(struct mc_core *mc, const struct dp_event *e, uint64_t order_id)
{
	uint64_t requester = (uint64_t)mc->cur->src << 16 | mc->cur->session;
	if ((order_id & MC_SESSION_MASK) == requester && !mc_detached(mc, order_id))
		return; /* the requester owns it and got it */
	struct dp_event copy = *e; /* mc_reply may flush the buffer e points into */
	struct dp_event *c = mc_reply(mc, copy.template_id);
	c->u = copy.u;
}

static uint16_t mc_request_template(uint8_t type)
{
	switch (type) {
	case DP_ORD_NEW:
		return TKX_NEW_ORDER;
	case DP_ORD_CANCEL:
		return TKX_CANCEL_ORDER;
	case DP_ORD_MODIFY:
		return TKX_MODIFY_ORDER;
	default:
		return TKX_MASS_CANCEL;
	}
}

static void mc_reject(struct mc_core *mc, uint16_t reason)
{
	const struct dp_order *r = mc->cur;
	struct dp_event *e = mc_reply(mc, TKX_EXEC_REJECT);
	e->u.reject.cl_ord_id = r->cl_ord_id;
	e->u.reject.transact_time = mc->now;
	e->u.reject.order_id = r->type == DP_ORD_NEW ? 0 : r->order_id; /* NEW: its type's value */
	e->u.reject.contract_id = r->contract_id;
	e->u.reject.reason = reason;
	e->u.reject.ref_template_id = mc_request_template(r->type);
	mc->st.rejects++;
	mc->rej[reason < MC_REJ_REASONS ? reason : 0]++;
}

static uint8_t mc_wire_side(uint8_t me_side)
{
	return me_side == ME_BUY ? TKX_SIDE_BUY : TKX_SIDE_SELL;
}

static uint16_t mc_reject_reason(const struct dp_order *r, uint8_t me_reason)
{
	switch (me_reason) {
	case ME_REJ_INVALID:
		if (r->price <= 0)
			return TKX_REJ_INVALID_PRICE;
		if (r->qty == 0)
			return TKX_REJ_INVALID_QTY;
		if (r->type != DP_ORD_NEW)
			return TKX_REJ_INVALID_QTY; /* a MODIFY: only price and qty are read */
		if (r->side != TKX_SIDE_BUY && r->side != TKX_SIDE_SELL)
			return TKX_REJ_INVALID_SIDE;
		if (r->tif < TKX_TIF_GTC || r->tif > TKX_TIF_DAY)
			return TKX_REJ_INVALID_TIF;
		if (dp_order_show(r))
			return TKX_REJ_INVALID_SHOW;
		if (dp_order_stop(r) || r->scope)
			return TKX_REJ_INVALID_STOP;
		return TKX_REJ_INVALID_TIF;
	case ME_REJ_DUP:
		return TKX_REJ_DUP_ORDER;
	case ME_REJ_UNKNOWN:
		return TKX_REJ_UNKNOWN_ORDER;
	case ME_REJ_POST_CROSS:
		return TKX_REJ_POST_CROSS;
	case ME_REJ_TICK:
		return TKX_REJ_TICK;
	case ME_REJ_BAND:
		return TKX_REJ_PRICE_BAND;
	case ME_REJ_MAX_QTY:
		return TKX_REJ_MAX_QTY;
	case ME_REJ_PHASE:
		return TKX_REJ_PHASE;
	default:
		return TKX_REJ_BOOK_FULL;
	}
}

static uint8_t mc_cancel_reason(const struct mc_core *mc, uint8_t me_reason)
{
	switch (me_reason) {
	case ME_OUT_CANCEL:
		return TKX_CXL_CLIENT;
	case ME_OUT_IOC:
		return TKX_CXL_IOC;
	case ME_OUT_FOK:
		return TKX_CXL_FOK;
	case ME_OUT_STP:
		return TKX_CXL_STP;
	case ME_OUT_EXPIRE:
		return TKX_CXL_DAY_END;
	default:
		return mc->mass_reason;
	}
}

static void mc_fill(struct mc_core *mc, uint64_t order_id, uint64_t cl_ord_id, uint64_t trade_id,
		    const struct me_event *ev, int64_t leaves, uint8_t side, uint8_t aggressor)
{
	struct dp_event *e = mc_emit(mc, TKX_FILL, order_id);
	e->u.fill.cl_ord_id = cl_ord_id;
	e->u.fill.order_id = order_id;
	e->u.fill.trade_id = trade_id;
	e->u.fill.price = ev->price;
	e->u.fill.transact_time = mc->now;
	e->u.fill.qty = (uint32_t)ev->qty;
	e->u.fill.leaves_qty = (uint32_t)leaves;
	e->u.fill.contract_id = mc->cur_c->id;
	e->u.fill.side = side;
	e->u.fill.aggressor = aggressor;
}

/* ContractStatus for k's current phase. */
/* ContractStatus on market data. The price is the settlement price for SETTLED and
 * FINAL_SETTLED (the control plane's DP_CTL_PHASE carries it), null otherwise. */
static void mc_status_price(struct mc_core *mc, const struct mc_contract *k, int64_t price)
{
	struct dp_event *e = mc_emit(mc, TKX_MD_CONTRACT_STATUS, 0);
	e->u.status.transact_time = mc->now;
	e->u.status.contract_id = k->id;
	e->u.status.phase = k->phase;
	e->u.status.price = price;
}

static void mc_status(struct mc_core *mc, const struct mc_contract *k)
{
	mc_status_price(mc, k, TKX_NULL_PRICE);
}

static void mc_day_trade(struct mc_day *d, int64_t price, int64_t qty)
{
	d->volume += (uint64_t)qty;
	d->notional += (unsigned __int128)(uint64_t)price * (uint64_t)qty;
	if (d->high == TKX_NULL_PRICE || price > d->high)
		d->high = price;
	if (d->low == TKX_NULL_PRICE || price < d->low)
		d->low = price;
	d->last = price;
}

/* An elected stop order the engine could not enter (an IOC/FOK during an auction, or a
 * limit outside the band that moved while it was held): the order is gone. Its owner had
 * an ExecAck and a StopElected for it, so it gets a Cancelled (ELECTED_REFUSED), not an
 * ExecReject, which answers a request. */
static void mc_elected_refused(struct mc_core *mc, const struct mc_contract *k,
			       const struct me_event *ev)
{
	uint64_t id = (uint64_t)ev->id;
	/* The engine writes the REJECT right after the order's ELECT, which had its qty. */
	int64_t qty = mc->elect_id == ev->id ? mc->elect_qty : 0;
	struct dp_event *e = mc_emit(mc, TKX_CANCELLED, id);
	e->u.cancelled.cl_ord_id = ev->user;
	e->u.cancelled.order_id = id;
	e->u.cancelled.transact_time = mc->now;
	e->u.cancelled.orig_cl_ord_id = ev->user;
	e->u.cancelled.qty = (uint32_t)qty;
	e->u.cancelled.contract_id = k->id;
	e->u.cancelled.reason = TKX_CXL_ELECTED_REFUSED;
	e->u.cancelled.side = mc_wire_side(ev->side);
	if (mc->n_trk) {
		struct mc_trk *t = mc_trk_find(mc, ev->id);
		if (t) {
			*mc_open(mc_pos(mc, t->acct, t->slot), t->side) -= qty;
			mc_trk_del(mc, t);
		}
	}
}

/*
 * Market by order (mc_core_md(): on), as dp_md_order records for the publisher, from the
 * engine's events as they come:
 *   ACCEPT, ELECT    the order is processed as an aggressor: it is remembered (mbo_pend),
 *                    and when its processing ends (the next ELECT, or the end of the
 *                    command) ADD if it rests then (me_book_find: not held, its price,
 *                    whole and visible quantity, iceberg display)
 *   MODIFY           same price, quantity not above the old: MODIFY in place (nothing
 *                    when unchanged); else DELETE, and the order is processed as an
 *                    aggressor (above)
 *   TRADE            EXECUTE of the resting order; in an uncross of both orders; the
 *                    aggressor's trades show in its ADD (what rests after them)
 *   OUT              DELETE, except of the aggressor being processed (never rested)
 * The publisher drops records of orders it does not hold (a held stop order's DELETE or
 * MODIFY). Nothing here reads the book but me_book_find() once per aggressor.
 */
static void mc_mbo_rec(struct mc_core *mc, const struct mc_contract *k, uint8_t action,
		       int64_t id, uint8_t side, int64_t price, int64_t qty, int64_t visible,
		       uint64_t aux)
{
	struct dp_event *e = mc_emit(mc, TKX_MD_ORDER, 0);
	e->u.order.transact_time = mc->now;
	e->u.order.order_id = (uint64_t)id;
	e->u.order.price = price;
	e->u.order.qty = qty;
	e->u.order.visible = visible;
	e->u.order.aux = aux;
	e->u.order.contract_id = k->id;
	e->u.order.action = action;
	e->u.order.side = side;
}

static void mc_mbo_finish(struct mc_core *mc, const struct mc_contract *k)
{
	struct me_order_view v;
	int64_t id = mc->mbo_pend;

	mc->mbo_pend = 0;
	if (me_book_find(k->book, id, &v) == 0 && v.stop == 0)
		mc_mbo_rec(mc, k, TKX_ACT_ADD, id, mc_wire_side(v.side), v.price, v.qty,
			   v.visible, (uint64_t)v.show);
}

static void mc_mbo_event(struct mc_core *mc, const struct mc_contract *k,
			 const struct me_event *ev)
{
	switch (ev->type) {
	case ME_EV_ACCEPT:
	case ME_EV_ELECT:
		if (mc->mbo_pend)
			mc_mbo_finish(mc, k);
		mc->mbo_pend = ev->id;
		break;
	case ME_EV_MODIFY:
		if (ev->price == mc->cur_old_price && ev->qty <= mc->cur_old_qty) {
			if (ev->qty != mc->cur_old_qty)
				mc_mbo_rec(mc, k, TKX_ACT_MODIFY, ev->id, mc_wire_side(ev->side),
					   ev->price, ev->qty, 0, 0);
			break;
		}
		mc_mbo_rec(mc, k, TKX_ACT_DELETE, ev->id, mc_wire_side(ev->side),
			   mc->cur_old_price, 0, 0, 0);
		if (mc->mbo_pend)
			mc_mbo_finish(mc, k);
		mc->mbo_pend = ev->id;
		break;
	case ME_EV_TRADE: {
		uint8_t aside = mc_wire_side(ev->side);
		uint8_t rside = aside == TKX_SIDE_BUY ? TKX_SIDE_SELL : TKX_SIDE_BUY;
		uint64_t tid = k->trade_seq + 1; /* the id mc_translate() gives this trade */
		if (mc->uncross)
			mc_mbo_rec(mc, k, TKX_ACT_EXECUTE, ev->id, aside, ev->price, ev->qty,
				   ev->leaves, tid);
		mc_mbo_rec(mc, k, TKX_ACT_EXECUTE, ev->rid, rside, ev->price, ev->qty,
			   ev->rleaves, tid);
		break;
	}
	case ME_EV_OUT:
		if (ev->id == mc->mbo_pend)
			mc->mbo_pend = 0;
		else
			mc_mbo_rec(mc, k, TKX_ACT_DELETE, ev->id, mc_wire_side(ev->side), 0, 0, 0,
				   0);
		break;
	default:
		break;
	}
}

/*
 * Which sides' depth a change may move: a change at a price worse than the side's N-th
 * published level (with N levels published) changes none of the N best, so the side need
 * not be walked after the burst. Any change inside, or one whose price is not known here
 * (a mass cancel, an IOC's remainder, an uncross), marks the side.
 */
static void mc_depth_side(struct mc_core *mc, struct mc_contract *k, int side, int64_t price)
{
	int64_t nth = k->dpx[side][mc->depth - 1];
	if (nth == 0 || price == 0 || (side == ME_BUY ? price >= nth : price <= nth))
		k->ddirty |= (uint8_t)(1u << side);
}

static void mc_depth_mark(struct mc_core *mc, struct mc_contract *k, const struct me_event *ev)
{
	switch (ev->type) {
	case ME_EV_ACCEPT:
	case ME_EV_ELECT:
		mc_depth_side(mc, k, ev->side, ev->price); /* where it may rest */
		break;
	case ME_EV_MODIFY:
		mc_depth_side(mc, k, ev->side, mc->cur_old_price);
		mc_depth_side(mc, k, ev->side, ev->price);
		break;
	case ME_EV_TRADE:
		if (mc->uncross)
			k->ddirty = 3;
		else
			mc_depth_side(mc, k, ev->side == ME_BUY ? ME_SELL : ME_BUY, ev->price);
		break;
	case ME_EV_OUT:
		/* A request's own target has its price known; anything else may be anywhere. */
		mc_depth_side(mc, k, ev->side,
			      mc->cur != &mc_no_request && (int64_t)mc->cur->order_id == ev->id &&
					      (mc->cur->type == DP_ORD_CANCEL ||
					       mc->cur->type == DP_ORD_MODIFY)
				      ? mc->cur_old_price
				      : 0);
		break;
	case ME_EV_GUARD:
		k->ddirty = 3;
		break;
	default:
		break;
	}
}

/* Market by price: the levels of each side that changed since last published (a level's
 * new price and displayed quantity, or empty), after a burst or a control command. Sides
 * no change of the burst could move are not walked (mc_depth_mark). */
static void mc_publish_depth(struct mc_core *mc, struct mc_contract *k)
{
	int64_t px[MC_DEPTH_MAX], q[MC_DEPTH_MAX];

	for (int s = ME_BUY; s <= ME_SELL; s++) {
		if (!(k->ddirty & (1u << s)))
			continue;
		uint32_t n = me_book_depth(k->book, s, px, q, mc->depth);
		for (uint32_t i = 0; i < mc->depth; i++) {
			int64_t p = i < n ? px[i] : 0, qq = i < n ? q[i] : 0;
			if (p == k->dpx[s][i] && qq == k->dqty[s][i])
				continue;
			k->dpx[s][i] = p;
			k->dqty[s][i] = qq;
			struct dp_event *e = mc_emit(mc, TKX_MD_DEPTH, 0);
			e->u.depth.transact_time = mc->now;
			e->u.depth.price = p ? p : TKX_NULL_PRICE;
			e->u.depth.qty = (uint64_t)qq;
			e->u.depth.contract_id = k->id;
			e->u.depth.level = (uint8_t)(i + 1);
			e->u.depth.side = mc_wire_side((uint8_t)s);
			e->u.depth.depth = mc->depth;
		}
	}
	k->ddirty = 0;
}

/* The definition's book part: tick, max qty, today's limits, previous settlement. */
static void mc_def_book(struct mc_core *mc, const struct mc_contract *k)
{
	struct me_params bp;
	int64_t lo, hi;

	me_book_params(k->book, &bp);
	me_book_band(k->book, &lo, &hi);
	struct dp_event *e = mc_emit(mc, TKX_MD_INSTRUMENT, 0);
	e->pad[0] = DP_DEF_BOOK;
	e->u.def.u.book.tick = bp.tick;
	e->u.def.u.book.max_qty = bp.max_qty;
	e->u.def.u.book.limit_lo = lo;
	e->u.def.u.book.limit_hi = hi;
	e->u.def.u.book.prev_settle = k->prev_settle;
	e->u.def.contract_id = k->id;
}

/* DP_CTL_DEFINE: kept, and both parts published. */
static int mc_define(struct mc_core *mc, struct mc_contract *k, const struct dp_ctl *c)
{
	dp_ctl_define_get(c, &k->st);
	if (k->st.u.st.settle_method != TKX_SETTLE_CASH_INDEX)
		return -EINVAL;
	k->prev_settle = c->price > 0 ? c->price : TKX_NULL_PRICE;
	k->defined = 1;
	struct dp_event *e = mc_emit(mc, TKX_MD_INSTRUMENT, 0);
	e->pad[0] = DP_DEF_STATIC;
	e->u.def = k->st;
	mc_def_book(mc, k);
	return 0;
}

int mc_core_md(struct mc_core *mc, uint32_t depth, int orders)
{
	if (depth > MC_DEPTH_MAX || orders < 0 || orders > 1 || mc->order_seq != 0)
		return -EINVAL;
	mc->depth = (uint8_t)depth;
	mc->mbo = (uint8_t)orders;
	return 0;
}

/* The engine's sink: turn its events into replies and market data as they come. */
static void mc_translate(struct me_sink *s)
{
	struct mc_core *mc = s->arg;
	const struct dp_order *r = mc->cur;
	struct mc_contract *k = mc->cur_c;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct me_event *ev = &s->ev[i];
		uint64_t id = (uint64_t)ev->id;
		struct dp_event *e;

		if (mc->mbo)
			mc_mbo_event(mc, k, ev);
		if (mc->depth)
			mc_depth_mark(mc, k, ev);

		switch (ev->type) {
		case ME_EV_ACCEPT:
			e = mc_emit(mc, TKX_EXEC_ACK, id);
			e->u.ack.cl_ord_id = ev->user;
			e->u.ack.order_id = id;
			e->u.ack.price = ev->price;
			e->u.ack.transact_time = mc->now;
			e->u.ack.qty = (uint32_t)ev->qty;
			e->u.ack.contract_id = k->id;
			e->u.ack.side = mc_wire_side(ev->side);
			e->u.ack.tif = r->tif;
			if (mc->cur_acct != MC_NULL_ACCT) {
				uint32_t slot = (uint32_t)(k - mc->c);
				mc_trk_put(mc, ev->id, mc->cur_acct, slot, ev->side);
				*mc_open(mc_pos(mc, mc->cur_acct, slot), ev->side) += ev->qty;
			}
			break;
		case ME_EV_MODIFY:
			e = mc_emit(mc, TKX_MODIFY_ACK, id);
			e->u.modify_ack.cl_ord_id = r->cl_ord_id;
			e->u.modify_ack.order_id = id;
			e->u.modify_ack.price = ev->price;
			e->u.modify_ack.transact_time = mc->now;
			e->u.modify_ack.qty = (uint32_t)ev->qty;
			e->u.modify_ack.contract_id = k->id;
			e->u.modify_ack.side = mc_wire_side(ev->side);
			mc_copy_to_requester(mc, e, id);
			if (mc->n_trk) {
				struct mc_trk *t = mc_trk_find(mc, ev->id);
				if (t)
					*mc_open(mc_pos(mc, t->acct, t->slot), t->side) +=
						ev->qty - mc->cur_old_qty;
			}
			break;
		case ME_EV_TRADE: {
			/* In an uncross id is the buy order and nobody aggressed: both fills say
			 * aggressor 0 and the trade's aggressor side is TKX_AGGRESSOR_NONE. */
			uint64_t tid = ++k->trade_seq;
			uint8_t aside = mc_wire_side(ev->side);
			uint8_t rside = aside == TKX_SIDE_BUY ? TKX_SIDE_SELL : TKX_SIDE_BUY;
			uint8_t aggr = mc->uncross ? 0 : 1;
			mc_fill(mc, id, ev->user, tid, ev, ev->leaves, aside, aggr);
			mc_fill(mc, (uint64_t)ev->rid, ev->ruser, tid, ev, ev->rleaves, rside, 0);
			e = mc_emit(mc, TKX_MD_TRADE, 0);
			e->u.trade.transact_time = mc->now;
			e->u.trade.trade_id = tid;
			e->u.trade.price = ev->price;
			e->u.trade.qty = (uint32_t)ev->qty;
			e->u.trade.contract_id = k->id;
			e->u.trade.aggressor_side = aggr ? aside : TKX_AGGRESSOR_NONE;
			k->volume += (uint64_t)ev->qty;
			k->last_price = ev->price;
			mc_day_trade(&k->day, ev->price, ev->qty);
			mc->st.trades++;
			if (mc->n_trk) {
				mc_trk_fill(mc, ev->id, ev->qty, ev->leaves);
				mc_trk_fill(mc, ev->rid, ev->qty, ev->rleaves);
			}
			break;
		}
		case ME_EV_GUARD:
			/* The engine stopped before a trade outside the guard and is in auction
			 * mode now: the contract goes to a volatility auction (PRE_OPEN) until
			 * the control plane uncrosses it. Later requests of this burst already
			 * see PRE_OPEN. */
			k->phase = TKX_PHASE_PRE_OPEN;
			k->vol = 1;
			k->day.flags |= MC_DAY_VOL;
			mc_status(mc, k);
			break;
		case ME_EV_OUT:
			e = mc_emit(mc, TKX_CANCELLED, id);
			/* The request's cl_ord_id for a cancel, a modify to zero and a mass
			 * cancel (protocol 5.4); the order's own when unsolicited (IOC, FOK,
			 * STP, cancel-on-disconnect). */
			e->u.cancelled.cl_ord_id =
				ev->reason == ME_OUT_CANCEL ||
						(ev->reason == ME_OUT_MASS &&
						 mc->mass_reason == TKX_CXL_MASS)
					? r->cl_ord_id
					: ev->user;
			e->u.cancelled.order_id = id;
			e->u.cancelled.transact_time = mc->now;
			e->u.cancelled.orig_cl_ord_id = ev->user;
			e->u.cancelled.qty = (uint32_t)ev->qty;
			e->u.cancelled.contract_id = k->id;
			e->u.cancelled.reason = mc_cancel_reason(mc, ev->reason);
			e->u.cancelled.side = mc_wire_side(ev->side);
			if (ev->reason == ME_OUT_CANCEL)
				mc_copy_to_requester(mc, e, id);
			if (mc->n_trk) {
				struct mc_trk *t = mc_trk_find(mc, ev->id);
				if (t) {
					*mc_open(mc_pos(mc, t->acct, t->slot), t->side) -= ev->qty;
					mc_trk_del(mc, t);
				}
			}
			break;
		case ME_EV_REJECT:
			if (ev->id != mc->cur_id) {
				mc_elected_refused(mc, k, ev);
				break;
			}
			mc_reject(mc, mc_reject_reason(r, ev->reason));
			break;
		case ME_EV_ELECT:
			/* A held stop order was elected: its owner learns it before the
			 * trades it makes. After an uncross the engine elects only once its
			 * pairings are done: from here on every trade has an aggressor (the
			 * elected order). */
			mc->uncross = 0;
			mc->elect_id = ev->id;
			mc->elect_qty = ev->qty;
			e = mc_emit(mc, TKX_STOP_ELECTED, id);
			e->u.elected.cl_ord_id = ev->user;
			e->u.elected.order_id = id;
			e->u.elected.price = ev->price;
			e->u.elected.transact_time = mc->now;
			e->u.elected.qty = (uint32_t)ev->qty;
			e->u.elected.contract_id = k->id;
			e->u.elected.side = mc_wire_side(ev->side);
			break;
		}
	}
	s->n = 0;
}

static void mc_touch(struct mc_core *mc, struct mc_contract *k)
{
	if (!k->dirty) {
		k->dirty = 1;
		mc->dirty[mc->n_dirty++] = (uint16_t)(k - mc->c);
	}
}

/* The price guard around the last trade: [ref - ref * bps / 10^4, ref + ref * bps / 10^4],
 * reset only when the reference moved (once per burst at most). */
static void mc_guard_update(struct mc_contract *k)
{
	if (k->guard_bps == 0) {
		me_book_set_guard(k->book, 0, INT64_MAX);
		return;
	}
	int64_t ref = k->last_price != TKX_NULL_PRICE ? k->last_price : k->guard_ref;
	if (ref == TKX_NULL_PRICE || ref <= 0) {
		me_book_set_guard(k->book, 0, INT64_MAX); /* no reference yet */
		return;
	}
	k->guard_ref = ref;
	int64_t d = (int64_t)((__int128)ref * k->guard_bps / 10000);
	me_book_set_guard(k->book, ref - d, ref > INT64_MAX - d ? INT64_MAX : ref + d);
}

/* Publishes top of book for every contract the burst touched, if it changed, and moves
 * their price guards to the burst's last trade. */
static void mc_publish_tops(struct mc_core *mc)
{
	for (uint32_t i = 0; i < mc->n_dirty; i++) {
		struct mc_contract *k = &mc->c[mc->dirty[i]];
		int64_t bp = TKX_NULL_PRICE, bq = 0, ap = TKX_NULL_PRICE, aq = 0;
		k->dirty = 0;
		if (k->guard_bps && k->last_price != k->guard_ref)
			mc_guard_update(k);
		if (mc->depth)
			mc_publish_depth(mc, k);
		me_book_best(k->book, ME_BUY, &bp, &bq);
		me_book_best(k->book, ME_SELL, &ap, &aq);
		if (bp == k->pub_bid && bq == k->pub_bid_qty && ap == k->pub_ask &&
		    aq == k->pub_ask_qty)
			continue;
		k->pub_bid = bp;
		k->pub_bid_qty = bq;
		k->pub_ask = ap;
		k->pub_ask_qty = aq;
		struct dp_event *e = mc_emit(mc, TKX_MD_TOP_OF_BOOK, 0);
		e->u.tob.transact_time = mc->now;
		e->u.tob.bid_price = bp;
		e->u.tob.ask_price = ap;
		e->u.tob.bid_qty = (uint64_t)bq;
		e->u.tob.ask_qty = (uint64_t)aq;
		e->u.tob.contract_id = k->id;
	}
	mc->n_dirty = 0;
}

/* Mass cancel of the orders selected by owner/side/id-mask on one contract. */
static uint32_t mc_cancel_where(struct mc_core *mc, struct mc_contract *k, uint64_t owner, int side,
				uint64_t mask, uint64_t value, uint64_t from)
{
	mc->cur_c = k;
	uint32_t n = me_book_cancel_where_from(k->book, owner, side, mask, value, from, &mc->sink);
	mc_translate(&mc->sink);
	if (n)
		mc_touch(mc, k);
	return n;
}

/* A SESSION_GONE with DP_GONE_ACK (identity 4): the slot's orders so far are detached
 * (their account-0 ones handed to the firm), then the answer. Cancel-on-disconnect (not
 * DP_GONE_KEEP) ran before, so with it nothing is left to detach. */
static void mc_detach(struct mc_core *mc, const struct dp_order *r)
{
	uint64_t *d = mc_det_entry(mc, r->src, r->session);
	if (d == NULL)
		return; /* cannot keep them apart: no answer, the slot is never reused */
	uint64_t last = mc->order_seq ? mc->order_seq * mc->id_mul + mc->id_add : 0;
	if (last > *d) {
		if (*d == 0)
			mc->n_det++;
		*d = last;
	}
	uint64_t value = (uint64_t)r->src << 16 | r->session;
	for (uint32_t i = 0; i < mc->cap && r->firm_id; i++)
		if (mc->c[i].id)
			me_book_adopt_where(mc->c[i].book, MC_SESSION_MASK, value,
					    (uint64_t)r->firm_id << 32);
	struct dp_event *e = mc_reply(mc, 0);
	e->pad[0] = DP_EV_DETACHED;
	e->parts = r->parts ? r->parts : 1;
	memcpy(e->u.raw, &r->order_id, sizeof(r->order_id));
}

static void mc_mass(struct mc_core *mc, const struct dp_order *r)
{
	uint64_t owner = 0, mask = 0, value = 0, from = 0;
	int side = r->side == TKX_SIDE_BUY ? ME_BUY : r->side == TKX_SIDE_SELL ? ME_SELL : -1;
	uint32_t count = 0;

	if (r->type == DP_ORD_SESSION_GONE && (r->scope & DP_GONE_KEEP)) {
		mc_detach(mc, r);
		return;
	}
	if (r->type == DP_ORD_SESSION_GONE || r->scope == TKX_SCOPE_SESSION) {
		/* The slot's own orders: not those detached from it (identity 4). */
		mask = MC_SESSION_MASK;
		value = (uint64_t)r->src << 16 | r->session;
		from = mc_session_from(mc, r->src, r->session);
	} else {
		/* ACCOUNT scope: the firm's own account only (owner encodes the firm). */
		owner = (uint64_t)r->firm_id << 32 | r->account;
	}
	mc->mass_reason = r->type == DP_ORD_SESSION_GONE ? TKX_CXL_DISCONNECT : TKX_CXL_MASS;
	for (uint32_t i = 0; i < mc->cap; i++) {
		struct mc_contract *k = &mc->c[i];
		if (k->id == 0 || (r->contract_id && k->id != r->contract_id))
			continue;
		count += mc_cancel_where(mc, k, owner, side, mask, value, from);
	}
	if (r->type == DP_ORD_SESSION_GONE) {
		if (r->scope & DP_GONE_ACK)
			mc_detach(mc, r);
		return;
	}
	struct dp_event *e = mc_reply(mc, TKX_MASS_CANCEL_ACK);
	e->parts = r->parts ? r->parts : 1;
	e->u.mass_ack.cl_ord_id = r->cl_ord_id;
	e->u.mass_ack.transact_time = mc->now;
	e->u.mass_ack.count = count;
	e->u.mass_ack.contract_id = r->contract_id;
	e->u.mass_ack.account = r->account;
	e->u.mass_ack.scope = r->scope;
	e->u.mass_ack.side = r->side;
}

/* PRE_OPEN takes orders into the auction book (the engine rejects IOC/FOK there). */
static int mc_accepts_orders(uint8_t phase)
{
	return phase == TKX_PHASE_CONTINUOUS || phase == TKX_PHASE_PRE_OPEN;
}

/* Would an order of qty on side (me_side) from account a break its position limit on
 * contract k? Worst case, every live order of the side fills: a buy is refused when
 * pos + open_buy + qty > limit, a sell when open_sell + qty - pos > limit. */
static int mc_pos_breach(struct mc_core *mc, uint32_t a, const struct mc_contract *k, int side,
			 int64_t qty)
{
	const struct mc_acct *e = &mc->acct[a];
	int64_t lim = k->spot && e->spot_pos > 0 ? e->spot_pos : e->max_pos;
	if (lim <= 0)
		return 0;
	const struct mc_position *p = mc_pos(mc, a, (uint32_t)(k - mc->c));
	__int128 worst = side == ME_BUY ? (__int128)p->pos + p->open_buy + qty
					: (__int128)p->open_sell + qty - p->pos;
	return worst > lim;
}

/* Account checks of a NEW (entry a, may be NULL; firm-wide entry f) or of a MODIFY that
 * grows an order by grow: kill switch, max order qty, position limit, and room to
 * follow the order. 0 or the reject reason. */
static uint16_t mc_acct_check(struct mc_core *mc, uint32_t a, uint32_t f,
			      const struct mc_contract *k, int side, int64_t qty, int64_t grow,
			      int is_new)
{
	if ((f != MC_NULL_ACCT && mc->acct[f].kill) || (a != MC_NULL_ACCT && mc->acct[a].kill))
		return TKX_REJ_KILL_SWITCH;
	if (a == MC_NULL_ACCT)
		return 0;
	if (mc->acct[a].max_qty > 0 && qty > mc->acct[a].max_qty)
		return TKX_REJ_MAX_QTY;
	if (grow > 0 && mc_pos_breach(mc, a, k, side, grow))
		return TKX_REJ_POSITION_LIMIT;
	if (is_new && mc->n_trk >= mc->trk_max)
		return TKX_REJ_POSITION_LIMIT; /* cannot follow one more order: refuse it */
	return 0;
}

static int mc_accepts_cancels(uint8_t phase)
{
	return phase >= TKX_PHASE_PRE_OPEN && phase <= TKX_PHASE_CLOSED;
}

static void mc_one_apply(struct mc_core *mc, const struct dp_order *r);

static void mc_one(struct mc_core *mc, const struct dp_order *r)
{
	mc->in_req = r->type >= DP_ORD_NEW && r->type <= DP_ORD_MASS_CANCEL;
	mc->req_at = -1;
	mc_one_apply(mc, r);
	if (mc->in_req)
		mc_req_done(mc);
	mc->in_req = 0;
}

static void mc_one_apply(struct mc_core *mc, const struct dp_order *r)
{
	mc->cur = r;
	if (r->type < DP_ORD_NEW || r->type > DP_ORD_SESSION_GONE) {
		/* Not a request: a session layer's held reply (DP_ORD_LOCAL), which never
		 * leaves it, or garbage. Its other fields are no request's (a LOCAL carries a
		 * reply's body), so nothing is answered either: ignored, as if never sent
		 * (counted in orders only). */
		return;
	}
	if (r->type == DP_ORD_MASS_CANCEL || r->type == DP_ORD_SESSION_GONE) {
		mc_mass(mc, r);
		return;
	}
	struct mc_contract *k = mc_find(mc, r->contract_id);
	if (!k) {
		mc->st.unknown_contract++;
		mc_reject(mc, TKX_REJ_UNKNOWN_CONTRACT);
		return;
	}
	mc->cur_c = k;
	int is_new = r->type == DP_ORD_NEW;
	if (is_new || r->type == DP_ORD_MODIFY) {
		if (!mc_accepts_orders(k->phase)) {
			mc_reject(mc, k->phase == TKX_PHASE_HALTED ? TKX_REJ_HALTED : TKX_REJ_PHASE);
			return;
		}
	} else if (r->type == DP_ORD_CANCEL) {
		if (!mc_accepts_cancels(k->phase)) {
			mc_reject(mc, TKX_REJ_PHASE);
			return;
		}
	} else {
		mc_reject(mc, TKX_REJ_INVALID_SCOPE);
		return;
	}

	struct me_cmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	mc->cur_acct = MC_NULL_ACCT;
	if (is_new && mc->n_acct) {
		uint32_t a = r->account ? mc_acct_find(mc, r->firm_id, r->account) : MC_NULL_ACCT;
		uint32_t f = mc->n_firm_kill ? mc_acct_find(mc, r->firm_id, 0) : MC_NULL_ACCT;
		int side = r->side == TKX_SIDE_SELL ? ME_SELL : ME_BUY;
		uint16_t why = mc_acct_check(mc, a, f, k, side, r->qty, r->qty, 1);
		if (why) {
			mc_reject(mc, why);
			return;
		}
		mc->cur_acct = a;
	}
	if (is_new) {
		cmd.type = ME_CMD_NEW;
		/* Out-of-range side/tif map to values the engine rejects as INVALID. */
		cmd.side = r->side == TKX_SIDE_BUY ? ME_BUY : r->side == TKX_SIDE_SELL ? ME_SELL : 0xff;
		cmd.tif = r->tif >= TKX_TIF_GTC && r->tif <= TKX_TIF_DAY ? (uint8_t)(r->tif - 1) : 0xff;
		_Static_assert(ME_GTC == TKX_TIF_GTC - 1 && ME_IOC == TKX_TIF_IOC - 1 &&
			       ME_FOK == TKX_TIF_FOK - 1 && ME_POST == TKX_TIF_POST - 1 &&
			       ME_DAY == TKX_TIF_DAY - 1, "tif = wire tif - 1");
		++mc->order_seq;
		cmd.id = (int64_t)((mc->order_seq * mc->id_mul + mc->id_add) << MC_SESSION_BITS |
				   (uint64_t)r->src << 16 | r->session);
		cmd.price = r->price;
		cmd.qty = r->qty;
		cmd.owner = r->account ? (uint64_t)r->firm_id << 32 | r->account : 0;
		cmd.user = r->cl_ord_id;
		if (__builtin_expect(r->scope != 0, 0)) {
			cmd.show = dp_order_show(r);
			cmd.stop = dp_order_stop(r);
			if (r->scope > DP_NEW_STOP || (int64_t)r->order_id <= 0)
				cmd.show = -1; /* not a type the session layer makes: INVALID */
		}
	} else {
		/* Cancel/modify: the order must be live and belong to the requesting firm. */
		struct me_order_view o;
		if (me_book_find(k->book, (int64_t)r->order_id, &o) < 0) {
			mc_reject(mc, TKX_REJ_UNKNOWN_ORDER);
			return;
		}
		/* An order with an account belongs to its firm (any of the firm's sessions may
		 * cancel it); one without an account belongs to its session alone. */
		uint64_t mine = (uint64_t)r->src << 16 | r->session;
		int allowed = o.owner ? (uint32_t)(o.owner >> 32) == r->firm_id
				      : (r->order_id & MC_SESSION_MASK) == mine &&
					!mc_detached(mc, r->order_id);
		if (!allowed) {
			mc_reject(mc, TKX_REJ_NOT_OWNER);
			return;
		}
		mc->cur_old_qty = o.qty;
		mc->cur_old_price = o.price;
		if (r->type == DP_ORD_MODIFY && r->qty != 0 && mc->n_acct) {
			/* The order's account (not the requester's) answers for it. */
			uint32_t fm = o.owner ? (uint32_t)(o.owner >> 32) : r->firm_id;
			uint32_t a = o.owner ? mc_acct_find(mc, fm, (uint32_t)o.owner)
					     : MC_NULL_ACCT;
			uint32_t f = mc->n_firm_kill ? mc_acct_find(mc, fm, 0) : MC_NULL_ACCT;
			uint16_t why = mc_acct_check(mc, a, f, k, o.side, r->qty,
						     (int64_t)r->qty - o.qty, 0);
			if (why) {
				mc_reject(mc, why);
				return;
			}
		}
		/* Modify to quantity zero is a cancel (docs/protocol.md). */
		cmd.type = r->type == DP_ORD_CANCEL || r->qty == 0 ? ME_CMD_CANCEL : ME_CMD_MODIFY;
		cmd.id = (int64_t)r->order_id;
		cmd.price = r->price;
		cmd.qty = r->qty;
	}
	mc->cur_id = cmd.id;
	me_book_apply(k->book, &cmd, &mc->sink);
	mc_translate(&mc->sink);
	mc->cur_id = 0;
	if (mc->mbo_pend)
		mc_mbo_finish(mc, k);
	mc_touch(mc, k);
}

uint32_t mc_process(struct mc_core *mc, const struct dp_order *in, uint32_t n, uint64_t now_ns,
		    struct mc_out *out)
{
	mc->out = out;
	mc->now = now_ns;
	for (uint32_t i = 0; i < n; i++) {
		if (i + 1 < n)
			__builtin_prefetch(&in[i + 1]);
		mc_one(mc, &in[i]);
	}
	mc->st.orders += n;
	mc_publish_tops(mc);
	if (out->n)
		out->flush(out);
	return n;
}

/* ---- control ------------------------------------------------------------------------ */

/*
 * The rules of each command (dp_msg.h names the fields):
 *
 * PHASE (arg = tkx_phase, <= DELISTED, else -EINVAL): PRE_OPEN puts the book in auction
 *   mode; CONTINUOUS takes it out (-EBUSY, nothing changed, while the auction book is
 *   crossed: UNCROSS first) and clears the volatility flag; EXPIRED and DELISTED cancel
 *   every resting order (TKX_CXL_EXPIRY). Other phases leave the book as it is (a crossed
 *   auction book stays in auction mode; no phase but PRE_OPEN and CONTINUOUS accepts NEW
 *   or MODIFY: HALTED rejects them HALTED, the rest PHASE). Every accepted PHASE
 *   publishes ContractStatus, even to the same phase.
 * UNCROSS (price = reference for the tie-break, 0 = none; arg = the phase after it,
 *   0 = AUCTION, which takes no orders until the next PHASE): me_book_uncross(), whose
 *   fills go out as replies (aggressor 0 on both) and trades (aggressor side 0), then
 *   top of book and ContractStatus. Reply price = uncross price (INT64_MIN: nothing
 *   crossed), qty = volume. Only from PRE_OPEN (-EPERM otherwise, nothing done); arg
 *   EXPIRED/DELISTED or above DELISTED: -EINVAL. arg = CONTINUOUS also clears the
 *   volatility flag; arg = PRE_OPEN starts a new auction.
 * BAND [price, price2]: the accepted band, inside the level array (-ERANGE otherwise):
 *   the array is laid at LIST/init, wide enough for every band of many days (the control
 *   plane lists contracts with +-50% of the reference) and moved by RANGE, so a band
 *   change is two stores. Resting orders outside the new band stay. The reply's low and
 *   high are the level array's lowest and highest prices (refused or not).
 * RANGE [price, price2] (on the contract's grid, 0 < price <= price2): the level array
 *   the control plane wants, because the market drifted towards an end of the one it
 *   has. An empty book is laid out again over [price, price2], or over the widest
 *   window with the same centre that the slot's memory holds; a book with resting orders
 *   keeps its number of levels and moves along the grid (me_book_shift) as near to
 *   centring on the wanted window as its orders allow (none is touched). The band is then
 *   cut to the array (BAND follows), the guard re-applied, the auction mode kept. Reply
 *   low/high = the array now, qty = resting orders. -EINVAL bad prices.
 * AUCTION: the indicative uncross of the book as it is (me_book_uncross_price with the
 *   reference price, 0 = none): reply price (INT64_MIN: no cross), qty = volume, high =
 *   imbalance (> 0 unfilled demand). Nothing changes.
 * DAY_STATS: reply price = the day's last trade (TKX_NULL_PRICE if none), qty = volume,
 *   notional = sum of price * qty (saturated at UINT64_MAX; kept in 128 bits), high, low,
 *   flags: bit 0 limit-up locked (best bid at the band's top and no ask), bit 1
 *   limit-down locked (best ask at the band's bottom and no bid), both judged on the book
 *   as it is when DAY_STATS runs (ask at the close), bit 2 a volatility interruption
 *   fired today.
 * NEW_DAY: replies as DAY_STATS with the day that ends, then resets it. Positions carry.
 * VOL_GUARD (arg = band in basis points, 0 = off; price > 0 = a reference to use until
 *   the first trade): trades are kept within +-arg bp of the last trade price, updated
 *   after every burst (and after UNCROSS). A trade that would leave it starts a
 *   volatility auction (PRE_OPEN, volatility flag, ContractStatus); the orders' fate is
 *   the engine's (me_book.h): GTC rests, IOC's remainder leaves IOC, FOK leaves FOK.
 * ACCOUNT (firm_id, account != 0; qty = max order qty, price = max position, price2 =
 *   spot-month max position, each 0 = none, negative -EINVAL): creates or updates the
 *   entry (-ENOSPC: table full). From creation on the core follows the account's
 *   orders (those resting then included) for its position: pos = net of its fills since
 *   creation (buys +, sells -); open_buy/open_sell = unfilled qty of its live orders.
 *   A NEW (or a MODIFY growing an order by g) is rejected POSITION_LIMIT when, with L =
 *   the spot-month limit on a spot contract if set, else the max position: buy
 *   pos + open_buy + qty > L, sell open_sell + qty - pos > L (every live order of the
 *   side filling, none of the other); MAX_QTY when qty > max order qty. Limits hold for
 *   every contract of the core, each contract's position on its own.
 * KILL (firm_id != 0; account 0 = the whole firm; arg 1 on, 0 off): on rejects the
 *   account's (firm's) NEW and MODIFY with KILL_SWITCH and cancels its resting orders on
 *   every contract, reason KILL_SWITCH (reply qty = how many); off accepts again. A
 *   firm-wide kill reaches orders entered without an account only through their NEWs.
 * MASS_CANCEL (contract_id 0 = every contract; firm_id 0 = everyone, account 0 = the
 *   whole firm): reason OPERATOR; reply qty = how many.
 * LIST (contract_id; price/price2 = the level array's lowest/highest price, qty = max
 *   order qty, arg = tick (bits 0-31) | max_orders (bits 32-62) | spot (bit 63), arg8 =
 *   the first phase, 0 = LISTED): into the smallest free slot whose memory fits the
 *   book; when none does, into the largest free slot over the widest window with the
 *   same centre that it holds (-ENOSPC when no slot is free or not one level fits;
 *   -EEXIST when listed; -EINVAL bad parameters); ContractStatus. Reply low/high = the
 *   level array laid.
 * DELIST: only with an empty book (-EBUSY): ContractStatus DELISTED, then the slot is
 *   free for a later LIST.
 * SPOT (arg 1/0): sets the contract's spot-month flag.
 * END_OF_DAY: the end of the contract's trading day (the control plane sends it right
 *   after PHASE CLOSED): every resting DAY order, then every held DAY stop order, leaves
 *   with a Cancelled DAY_END to its own session (me_book_end_of_day()); GTC orders stay
 *   until the contract expires. Any phase; reply qty = how many expired.
 */

static void mc_reply_init(struct dp_ctl_reply *r, const struct dp_ctl *c)
{
	memset(r, 0, sizeof(*r));
	r->seq = c->seq;
	r->contract_id = c->contract_id;
	r->price = TKX_NULL_PRICE;
	r->high = r->low = TKX_NULL_PRICE;
}

/* Cancels with reason (tkx_cancel_reason) every order selected on one contract (k) or
 * on all (k NULL): owner_mask 0 = every order. */
static uint32_t mc_cancel_sel(struct mc_core *mc, struct mc_contract *k, uint64_t owner,
			      uint64_t owner_mask, uint8_t reason)
{
	uint32_t n = 0;
	mc->mass_reason = reason;
	for (uint32_t i = 0; i < mc->cap; i++) {
		struct mc_contract *x = &mc->c[i];
		if (x->id == 0 || (k && x != k))
			continue;
		mc->cur_c = x;
		uint32_t m = me_book_cancel_owner(x->book, owner, owner_mask, -1, &mc->sink);
		mc_translate(&mc->sink);
		if (m)
			mc_touch(mc, x);
		n += m;
	}
	return n;
}

static int mc_phase_change(struct mc_core *mc, struct mc_contract *k, uint64_t phase,
			   int64_t price)
{
	if (phase > TKX_PHASE_DELISTED)
		return -EINVAL;
	switch (phase) {
	case TKX_PHASE_PRE_OPEN:
		me_book_set_auction(k->book, 1);
		break;
	case TKX_PHASE_CONTINUOUS:
		if (me_book_set_auction(k->book, 0) < 0)
			return -EBUSY;
		k->vol = 0;
		break;
	case TKX_PHASE_EXPIRED:
	case TKX_PHASE_DELISTED:
		mc_cancel_sel(mc, k, 0, 0, TKX_CXL_EXPIRY);
		me_book_set_auction(k->book, 0); /* empty now */
		k->vol = 0;
		break;
	default:
		break;
	}
	k->phase = (uint8_t)phase;
	int settled = phase == TKX_PHASE_SETTLED || phase == TKX_PHASE_FINAL_SETTLED;
	mc_status_price(mc, k, settled && price > 0 ? price : TKX_NULL_PRICE);
	mc_touch(mc, k);
	return 0;
}

/* Ends a control command: top of book for what it touched, then everything out. */
static void mc_control_end(struct mc_core *mc)
{
	mc_publish_tops(mc);
	if (mc->out->n)
		mc->out->flush(mc->out);
	mc->cur = &mc_no_request;
}

int mc_set_phase(struct mc_core *mc, uint32_t contract_id, uint8_t phase, uint64_t now_ns,
		 struct mc_out *out)
{
	struct mc_contract *k = mc_find(mc, contract_id);
	if (!k)
		return -ENOENT;
	mc->out = out;
	mc->now = now_ns;
	mc->cur = &mc_no_request;
	int rc = mc_phase_change(mc, k, phase, TKX_NULL_PRICE);
	mc_control_end(mc);
	return rc;
}

static void mc_day_reply(const struct mc_contract *k, struct dp_ctl_reply *r)
{
	const struct mc_day *d = &k->day;
	int64_t bp, ap, lo, hi;
	int has_bid = me_book_best(k->book, ME_BUY, &bp, NULL) == 0;
	int has_ask = me_book_best(k->book, ME_SELL, &ap, NULL) == 0;

	me_book_band(k->book, &lo, &hi);
	r->price = d->last;
	r->qty = d->volume;
	r->notional = d->notional > UINT64_MAX ? UINT64_MAX : (uint64_t)d->notional;
	r->high = d->high;
	r->low = d->low;
	r->flags = d->flags & MC_DAY_VOL;
	if (has_bid && !has_ask && bp == hi)
		r->flags |= 1u;
	if (has_ask && !has_bid && ap == lo)
		r->flags |= 2u;
}

static int mc_range_fit(const struct mc_contract *k, int64_t lo, int64_t hi, struct me_params *p);

static int mc_list(struct mc_core *mc, const struct dp_ctl *c)
{
	if (c->contract_id == 0)
		return -EINVAL;
	if (mc_find(mc, c->contract_id))
		return -EEXIST;
	struct me_params bp = {
		.price_lo = c->price,
		.price_hi = c->price2,
		.tick = (int64_t)(c->arg & 0xffffffffu),
		.max_qty = c->qty,
		.max_orders = (uint32_t)((c->arg >> 32) & 0x7fffffffu),
	};
	uint8_t phase = c->arg8 ? c->arg8 : TKX_PHASE_LISTED;
	if (phase > TKX_PHASE_DELISTED)
		return -EINVAL;
	size_t need = me_book_memsize(&bp);
	if (need == 0)
		return -EINVAL;
	uint32_t best = MC_MAX_CONTRACTS, big = MC_MAX_CONTRACTS;
	for (uint32_t i = 0; i < mc->cap; i++) {
		if (mc->c[i].id != 0)
			continue;
		if (mc->c[i].mem_len >= need && /* the smallest free slot that fits */
		    (best == MC_MAX_CONTRACTS || mc->c[i].mem_len < mc->c[best].mem_len))
			best = i;
		if (big == MC_MAX_CONTRACTS || mc->c[i].mem_len > mc->c[big].mem_len)
			big = i;
	}
	if (best == MC_MAX_CONTRACTS) {
		/* None holds the whole window (the market moved far from the prices the slots
		 * were sized for): the widest window with the same centre that the largest
		 * free slot holds. The control plane learns it from BAND's reply and moves it
		 * with RANGE as the market goes. */
		if (big == MC_MAX_CONTRACTS || mc_range_fit(&mc->c[big], bp.price_lo, bp.price_hi,
							    &bp) < 0)
			return -ENOSPC;
		best = big;
	}
	int rc = mc_contract_setup(mc, best, c->contract_id, &bp, phase, (uint8_t)(c->arg >> 63));
	if (rc < 0)
		return rc;
	mc_map_put(mc, best);
	mc->n++;
	mc_status(mc, &mc->c[best]);
	return 0;
}

/* The widest window centred on [lo, hi] (on the grid of base) that the slot holds with
 * the book's other parameters: p's range set to it. 0, or -ENOSPC when not even one
 * level fits (cannot happen for a slot that held the book). */
static int mc_range_fit(const struct mc_contract *k, int64_t lo, int64_t hi, struct me_params *p)
{
	int64_t t = p->tick;
	uint64_t levels = (uint64_t)(hi - lo) / (uint64_t)t; /* levels - 1 wanted */
	int64_t centre = lo + (int64_t)(levels / 2) * t;
	uint64_t good = UINT64_MAX, a = 0, b = levels;
	while (a <= b) { /* the largest half-span s with [centre - s*t, centre + s*t] fitting */
		uint64_t m = a + (b - a) / 2;
		uint64_t half = (m + 1) / 2;
		struct me_params q = *p;
		q.price_lo = centre - (int64_t)half * t;
		q.price_hi = q.price_lo + (int64_t)m * t;
		size_t need = me_book_memsize(&q);
		if (need && need <= k->mem_len) {
			good = m;
			a = m + 1;
		} else {
			if (m == 0)
				break;
			b = m - 1;
		}
	}
	if (good == UINT64_MAX)
		return -ENOSPC;
	if (good == levels) {
		p->price_lo = lo;
		p->price_hi = lo + (int64_t)levels * t;
	} else {
		p->price_lo = centre - (int64_t)((good + 1) / 2) * t;
		p->price_hi = p->price_lo + (int64_t)good * t;
	}
	return 0;
}

static int mc_range(struct mc_contract *k, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	struct me_params p;
	int64_t base, top;
	me_book_params(k->book, &p);
	me_book_range(k->book, &base, &top);
	int64_t t = p.tick;
	if (c->price <= 0 || c->price > c->price2 ||
	    ((__int128)c->price - base) % t != 0)
		return -EINVAL;
	int64_t lo = c->price;
	int64_t hi = lo + (c->price2 - lo) / t * t;
	int rc = 0;
	if (me_book_count(k->book) == 0) {
		if ((rc = mc_range_fit(k, lo, hi, &p)) < 0)
			return rc;
		size_t need = me_book_memsize(&p);
		if (!me_book_init(k->mem, need, &p))
			return -EINVAL;
		if (k->phase == TKX_PHASE_PRE_OPEN)
			me_book_set_auction(k->book, 1);
	} else {
		/* Same number of levels, centred on the wanted window as far as the orders let. */
		uint64_t span = (uint64_t)(top - base);
		__int128 want = (__int128)lo + ((__int128)(hi - lo) / 2) / t * t -
				(__int128)(span / (uint64_t)t / 2) * t;
		int64_t olo, ohi;
		me_book_extent(k->book, &olo, &ohi);
		if (want > olo)
			want = olo;
		if (want + (__int128)span < ohi)
			want = (__int128)ohi - (__int128)span;
		if (want < (__int128)INT64_MIN / 2 || want > INT64_MAX - (__int128)span)
			return -EINVAL;
		if ((rc = me_book_shift(k->book, (int64_t)want)) < 0)
			return rc;
	}
	mc_guard_update(k);
	me_book_range(k->book, &r->low, &r->high);
	r->qty = me_book_count(k->book);
	return 0;
}

static int mc_delist(struct mc_core *mc, struct mc_contract *k)
{
	if (me_book_count(k->book) != 0)
		return -EBUSY;
	k->phase = TKX_PHASE_DELISTED;
	mc_status(mc, k);
	if (k->dirty) { /* drop it from this pass's top-of-book list */
		uint32_t j = 0;
		for (uint32_t i = 0; i < mc->n_dirty; i++)
			if (&mc->c[mc->dirty[i]] != k)
				mc->dirty[j++] = mc->dirty[i];
		mc->n_dirty = j;
	}
	k->id = 0;
	k->book = NULL;
	mc->n--;
	memset(mc->map, 0, sizeof(mc->map));
	for (uint32_t i = 0; i < mc->cap; i++)
		if (mc->c[i].id)
			mc_map_put(mc, i);
	return 0;
}

static int mc_account(struct mc_core *mc, const struct dp_ctl *c)
{
	if (c->firm_id == 0 || c->account == 0 || c->qty < 0 || c->price < 0 || c->price2 < 0)
		return -EINVAL;
	uint32_t a = mc_acct_get(mc, c->firm_id, c->account);
	if (a == MC_NULL_ACCT)
		return -ENOSPC;
	mc->acct[a].max_qty = c->qty;
	mc->acct[a].max_pos = c->price;
	mc->acct[a].spot_pos = c->price2;
	return 0;
}

static int mc_kill(struct mc_core *mc, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	if (c->firm_id == 0 || c->arg > 1)
		return -EINVAL;
	uint32_t a = mc_acct_find(mc, c->firm_id, c->account);
	if (a == MC_NULL_ACCT) {
		if (c->arg == 0)
			return 0; /* never killed */
		a = mc_acct_get(mc, c->firm_id, c->account);
		if (a == MC_NULL_ACCT)
			return -ENOSPC;
	}
	if (c->account == 0 && mc->acct[a].kill != (uint8_t)c->arg)
		mc->n_firm_kill += c->arg ? 1 : (uint32_t)-1;
	mc->acct[a].kill = (uint8_t)c->arg;
	if (c->arg) {
		uint64_t owner = (uint64_t)c->firm_id << 32 | c->account;
		uint64_t mask = c->account ? ~0ull : 0xffffffff00000000ull;
		r->qty = mc_cancel_sel(mc, NULL, owner, mask, TKX_CXL_KILL_SWITCH);
	}
	return 0;
}

int mc_core_id_space(struct mc_core *mc, uint32_t index, uint32_t n)
{
	if (n == 0 || index >= n || mc->order_seq != 0)
		return -EINVAL;
	mc->id_mul = n;
	mc->id_add = index;
	return 0;
}

int mc_control(struct mc_core *mc, const struct dp_ctl *c, struct mc_out *out,
	       struct dp_ctl_reply *r)
{
	struct mc_contract *k = NULL;
	int rc = 0;

	mc_reply_init(r, c);
	mc->out = out;
	mc->now = c->now;
	mc->cur = &mc_no_request;
	mc->cur_acct = MC_NULL_ACCT;
	if (c->type == DP_CTL_DEFINE) {
		k = mc_find(mc, c->contract_id);
		rc = k ? mc_define(mc, k, c) : -ENOENT;
		goto out;
	}
	switch (c->type) {
	case DP_CTL_PHASE:
	case DP_CTL_UNCROSS:
	case DP_CTL_BAND:
	case DP_CTL_DAY_STATS:
	case DP_CTL_NEW_DAY:
	case DP_CTL_VOL_GUARD:
	case DP_CTL_DELIST:
	case DP_CTL_SPOT:
	case DP_CTL_RANGE:
	case DP_CTL_AUCTION:
	case DP_CTL_END_OF_DAY:
		k = mc_find(mc, c->contract_id);
		if (!k) {
			rc = -ENOENT;
			goto out;
		}
		break;
	case DP_CTL_MASS_CANCEL:
		if (c->contract_id && !(k = mc_find(mc, c->contract_id))) {
			rc = -ENOENT;
			goto out;
		}
		break;
	default:
		break;
	}

	switch (c->type) {
	case DP_CTL_PHASE:
		rc = mc_phase_change(mc, k, c->arg, c->price);
		break;
	case DP_CTL_UNCROSS: {
		uint64_t next = c->arg ? c->arg : TKX_PHASE_AUCTION;
		struct me_uncross u;
		if (next > TKX_PHASE_DELISTED || next == TKX_PHASE_EXPIRED ||
		    next == TKX_PHASE_DELISTED) {
			rc = -EINVAL;
			break;
		}
		if (k->phase != TKX_PHASE_PRE_OPEN) {
			rc = -EPERM;
			break;
		}
		mc->cur_c = k;
		mc->uncross = 1;
		me_book_uncross(k->book, c->price, &mc->sink, &u);
		mc_translate(&mc->sink);
		mc->uncross = 0;
		mc_touch(mc, k);
		r->price = u.price;
		r->qty = (uint64_t)u.volume;
		if (k->guard_bps)
			mc_guard_update(k);
		k->phase = (uint8_t)next;
		if (next == TKX_PHASE_PRE_OPEN)
			me_book_set_auction(k->book, 1);
		if (next == TKX_PHASE_CONTINUOUS)
			k->vol = 0;
		mc_status(mc, k);
		break;
	}
	case DP_CTL_BAND:
		rc = me_book_set_band(k->book, c->price, c->price2);
		me_book_range(k->book, &r->low, &r->high);
		break;
	case DP_CTL_RANGE:
		rc = mc_range(k, c, r);
		break;
	case DP_CTL_AUCTION: {
		struct me_uncross u;
		me_book_uncross_price(k->book, c->price > 0 ? c->price : 0, &u);
		r->price = u.price;
		r->qty = (uint64_t)u.volume;
		r->high = u.imbalance;
		break;
	}
	case DP_CTL_DAY_STATS:
		mc_day_reply(k, r);
		break;
	case DP_CTL_END_OF_DAY: {
		/* The engine's end of the day: DAY orders resting and held expire, in its
		 * order (me_book.h), each a Cancelled DAY_END to its own session. */
		uint32_t before = me_book_count(k->book);
		mc->cur_c = k;
		me_book_end_of_day(k->book, &mc->sink);
		mc_translate(&mc->sink);
		r->qty = before - me_book_count(k->book);
		if (r->qty)
			mc_touch(mc, k);
		break;
	}
	case DP_CTL_NEW_DAY:
		mc_day_reply(k, r);
		k->day = (struct mc_day){ .high = TKX_NULL_PRICE, .low = TKX_NULL_PRICE,
					  .last = TKX_NULL_PRICE };
		break;
	case DP_CTL_VOL_GUARD:
		if (c->arg > 100000) { /* 1000%: anything wider is a mistake */
			rc = -EINVAL;
			break;
		}
		k->guard_bps = (uint32_t)c->arg;
		if (c->price > 0 && k->last_price == TKX_NULL_PRICE)
			k->guard_ref = c->price;
		mc_guard_update(k);
		break;
	case DP_CTL_ACCOUNT:
		rc = mc_account(mc, c);
		break;
	case DP_CTL_KILL:
		rc = mc_kill(mc, c, r);
		break;
	case DP_CTL_MASS_CANCEL: {
		uint64_t owner = (uint64_t)c->firm_id << 32 | c->account;
		uint64_t mask = c->firm_id == 0 ? 0 : c->account ? ~0ull : 0xffffffff00000000ull;
		r->qty = mc_cancel_sel(mc, k, owner, mask, TKX_CXL_OPERATOR);
		break;
	}
	case DP_CTL_LIST:
		rc = mc_list(mc, c);
		if (rc == 0) {
			k = mc_find(mc, c->contract_id);
			me_book_range(k->book, &r->low, &r->high);
		}
		break;
	case DP_CTL_DELIST:
		rc = mc_delist(mc, k);
		if (rc == 0) {
			r->phase = TKX_PHASE_DELISTED;
			k = NULL;
		}
		break;
	case DP_CTL_SPOT:
		if (c->arg > 1)
			rc = -EINVAL;
		else
			k->spot = (uint8_t)c->arg;
		break;
	default:
		rc = -EINVAL;
		break;
	}
out:
	/* An order elected by an uncross (a held stop) that came to rest: its ADD. */
	if (k && mc->mbo_pend)
		mc_mbo_finish(mc, k);
	mc->mbo_pend = 0;
	if (k)
		r->phase = k->phase;
	if (k)
		k->ddirty = 3; /* control commands may move anything (phase, uncross, expiry) */
	/* Today's limits moved (or the book was laid out): the definition follows. */
	if (k && rc == 0 && k->defined &&
	    (c->type == DP_CTL_BAND || c->type == DP_CTL_RANGE || c->type == DP_CTL_LIST))
		mc_def_book(mc, k);
	r->rc = rc;
	mc_control_end(mc);
	return rc;
}

int mc_vol_interrupted(const struct mc_core *mc, uint32_t contract_id)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	return k ? k->vol : -ENOENT;
}

int mc_position(const struct mc_core *mc, uint32_t firm, uint32_t account, uint32_t contract_id,
		struct mc_position *p)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	uint32_t a = mc_acct_find(mc, firm, account);
	if (!k || a == MC_NULL_ACCT)
		return -ENOENT;
	*p = mc->pos[(size_t)a * mc->cap + (size_t)(k - mc->c)];
	return 0;
}

int mc_owns(const struct mc_core *mc, uint32_t contract_id)
{
	return mc_cfind(mc, contract_id) != NULL;
}

const struct me_book *mc_book(const struct mc_core *mc, uint32_t contract_id)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	return k ? k->book : NULL;
}

int mc_phase(const struct mc_core *mc, uint32_t contract_id)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	return k ? k->phase : -ENOENT;
}

void mc_stats(const struct mc_core *mc, struct mc_stats *s)
{
	*s = mc->st;
}

void mc_reject_counts(const struct mc_core *mc, uint64_t out[MC_REJ_REASONS])
{
	for (unsigned i = 0; i < MC_REJ_REASONS; i++)
		out[i] = __atomic_load_n(&mc->rej[i], __ATOMIC_RELAXED);
}

/* ---- Snapshots (issue 6): mc_snap.c's access to the private state ----------------------
 * mc_snap.c owns the format and every check; these only copy fields out of and into the
 * structs above (mc_snap.h's internal section names them). Loading goes into a core
 * that has processed nothing, between passes. */

#include "mc_snap.h"

void mc__snap_core(const struct mc_core *mc, struct mc_snap_core *s)
{
	memset(s, 0, sizeof(*s));
	s->order_seq = mc->order_seq;
	s->cap = mc->cap;
	s->acct_max = mc->acct_max;
	s->trk_max = mc->trk_max;
	s->n_acct = mc->n_acct;
	s->n_trk = mc->n_trk;
	s->n_firm_kill = mc->n_firm_kill;
	s->trk_slots = mc->trk_mask + 1;
	s->st = mc->st;
	s->det_srcs = mc->det_srcs;
	s->det_sessions = mc->det_sessions;
	s->n_det = mc->n_det;
}

int mc__snap_det(const struct mc_core *mc, uint32_t i, uint64_t *last)
{
	if (i >= mc->det_srcs * mc->det_sessions || mc->det[i] == 0)
		return 0;
	*last = mc->det[i];
	return 1;
}

int mc__snap_set_det(struct mc_core *mc, uint32_t i, uint64_t last)
{
	if (i >= mc->det_srcs * mc->det_sessions || last == 0 || mc->det[i] != 0)
		return -EINVAL;
	mc->det[i] = last;
	mc->n_det++;
	return 0;
}

void mc__snap_slot(const struct mc_core *mc, uint32_t slot, struct mc_snap_slot *k,
		   const struct me_book **book)
{
	const struct mc_contract *c = &mc->c[slot];
	memset(k, 0, sizeof(*k));
	k->mem_len = c->mem_len;
	*book = NULL;
	if (c->id == 0)
		return;
	struct me_params p;
	me_book_params(c->book, &p);
	k->id = c->id;
	k->phase = c->phase;
	k->spot = c->spot;
	k->vol = c->vol;
	k->price_lo = p.price_lo;
	k->price_hi = p.price_hi;
	k->tick = p.tick;
	k->max_qty = p.max_qty;
	k->max_orders = p.max_orders;
	k->guard_bps = c->guard_bps;
	k->trade_seq = c->trade_seq;
	k->volume = c->volume;
	k->last_price = c->last_price;
	k->pub_bid = c->pub_bid;
	k->pub_ask = c->pub_ask;
	k->pub_bid_qty = c->pub_bid_qty;
	k->pub_ask_qty = c->pub_ask_qty;
	k->guard_ref = c->guard_ref;
	k->day_volume = c->day.volume;
	k->day_notional_lo = (uint64_t)c->day.notional;
	k->day_notional_hi = (uint64_t)(c->day.notional >> 64);
	k->day_high = c->day.high;
	k->day_low = c->day.low;
	k->day_last = c->day.last;
	k->day_flags = c->day.flags;
	*book = c->book;
}

void mc__snap_acct(const struct mc_core *mc, uint32_t i, struct mc_snap_acct *a)
{
	const struct mc_acct *x = &mc->acct[i];
	memset(a, 0, sizeof(*a));
	a->firm = x->firm;
	a->account = x->account;
	a->max_qty = x->max_qty;
	a->max_pos = x->max_pos;
	a->spot_pos = x->spot_pos;
	a->kill = x->kill;
}

const struct mc_position *mc__snap_pos(const struct mc_core *mc, uint32_t acct, uint32_t slot)
{
	return &mc->pos[(size_t)acct * mc->cap + slot];
}

int mc__snap_trk(const struct mc_core *mc, uint64_t h, struct mc_snap_trk *t)
{
	const struct mc_trk *x = &mc->trk[h];
	if (x->acct == MC_NULL_ACCT)
		return 0;
	memset(t, 0, sizeof(*t));
	t->id = x->id;
	t->acct = x->acct;
	t->slot = x->slot;
	t->side = x->side;
	return 1;
}

int mc__snap_set_slot(struct mc_core *mc, uint32_t slot, const struct mc_snap_slot *k,
		      struct me_book **book)
{
	struct mc_contract *c = &mc->c[slot];
	*book = NULL;
	if (k->id == 0) { /* free (a delisted contract's slot): as mc_delist leaves it */
		void *mem = c->mem;
		size_t mem_len = c->mem_len;
		memset(c, 0, sizeof(*c));
		c->mem = mem;
		c->mem_len = mem_len;
		return 0;
	}
	struct me_params p = {
		.price_lo = k->price_lo, .price_hi = k->price_hi, .tick = k->tick,
		.max_qty = k->max_qty, .max_orders = k->max_orders,
	};
	int rc = mc_contract_setup(mc, slot, k->id, &p, k->phase, k->spot);
	if (rc < 0)
		return rc;
	c->vol = k->vol;
	c->trade_seq = k->trade_seq;
	c->volume = k->volume;
	c->last_price = k->last_price;
	c->pub_bid = k->pub_bid;
	c->pub_ask = k->pub_ask;
	c->pub_bid_qty = k->pub_bid_qty;
	c->pub_ask_qty = k->pub_ask_qty;
	c->guard_bps = k->guard_bps;
	c->guard_ref = k->guard_ref;
	c->day.volume = k->day_volume;
	c->day.notional = (unsigned __int128)k->day_notional_hi << 64 | k->day_notional_lo;
	c->day.high = k->day_high;
	c->day.low = k->day_low;
	c->day.last = k->day_last;
	c->day.flags = k->day_flags;
	*book = c->book;
	return 0;
}

int mc__snap_add_acct(struct mc_core *mc, const struct mc_snap_acct *a)
{
	if (mc->n_acct == mc->acct_max)
		return -ENOSPC;
	uint32_t i = mc->n_acct++;
	mc->acct[i] = (struct mc_acct){ .firm = a->firm, .account = a->account,
					.max_qty = a->max_qty, .max_pos = a->max_pos,
					.spot_pos = a->spot_pos, .kill = a->kill };
	uint32_t h = mc_acct_hash(a->firm, a->account) & mc->acct_mask;
	while (mc->acct_map[h])
		h = (h + 1) & mc->acct_mask;
	mc->acct_map[h] = i + 1;
	if (a->account == 0 && a->kill)
		mc->n_firm_kill++;
	return 0;
}

void mc__snap_set_pos(struct mc_core *mc, uint32_t acct, uint32_t slot,
		      const struct mc_position *p)
{
	mc->pos[(size_t)acct * mc->cap + slot] = *p;
}

int mc__snap_add_trk(struct mc_core *mc, const struct mc_snap_trk *t)
{
	if (mc->n_trk >= mc->trk_max || t->acct >= mc->n_acct || t->slot >= mc->cap)
		return -ENOSPC;
	mc_trk_put(mc, t->id, t->acct, t->slot, t->side);
	return 0;
}

void mc__snap_finish(struct mc_core *mc, uint64_t order_seq, const struct mc_stats *st)
{
	mc->order_seq = order_seq;
	mc->st = *st;
	mc->n = 0;
	memset(mc->map, 0, sizeof(mc->map));
	for (uint32_t i = 0; i < mc->cap; i++)
		if (mc->c[i].id) {
			mc_map_put(mc, i);
			mc->n++;
		}
}
