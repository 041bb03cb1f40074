/*
 * dp_msg.h - the records that cross between tokexd's cores.
 *
 * Role in the data path:
 *
 *   RX/session core --dp_order--> matching core --dp_event--> RX/session core --> TX
 *   (UDP on DPDK, or the           (owns the books       (sequences, stores for
 *    TCP io_uring gateway)          of its contracts)     retransmission, encodes)
 *
 * Each arrow is a single-producer/single-consumer ring of these fixed 64-byte records
 * (one cache line each), one ring per (session core, matching core) pair and direction.
 * The session core never touches a book; the matching core never touches a session.
 * A session is named on the rings by (src, session): the index of the session core that
 * owns it and its slot in that core's session table.
 */
#ifndef TOKEX_DP_MSG_H
#define TOKEX_DP_MSG_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <tokex/proto.h>

enum dp_order_type {
	DP_ORD_NEW = 1,
	DP_ORD_CANCEL = 2,
	DP_ORD_MODIFY = 3,
	DP_ORD_MASS_CANCEL = 4, /* scope/side/contract/account filters */
	DP_ORD_SESSION_GONE = 5, /* the session's orders: cancel every one of (src, session)
				  * (cancel-on-disconnect), or detach them (scope, below) */
	/* 6 and 8 were the TCP gateway's journal records while it kept a session table of
	 * its own; journals that hold them are refused (td_journal.c). */
	DP_ORD_LOCAL = 7,      /* a numbered reply the session layer made by itself, held
				* behind its session's requests (struct dp_order_local): never
				* leaves the session layer; mc_process ignores it */
};

/*
 * DP_ORD_SESSION_GONE, in a plain struct dp_order: src, session (the slot), firm_id,
 * contract_id 0 (every matching core: it is a broadcast that must be delivered, as the
 * routers treat every SESSION_GONE), parts (the cores it went to), rx_time, and scope:
 *   0                cancel-on-disconnect: every order of (src, session) is cancelled
 *                    (Cancelled DISCONNECT to the session); no answer of its own.
 *   DP_GONE_ACK      then the core answers DP_EV_DETACHED, after everything it sent
 *                    the slot before: the session layer reuses the slot only when every
 *                    core did (so no reply of the old session can reach the next one).
 *   DP_GONE_KEEP     (with DP_GONE_ACK) nothing is cancelled: the orders the core holds
 *                    for (src, session) now are detached from the slot - they keep
 *                    trading, their replies go to no session, the slot's later sessions
 *                    neither see nor cancel them as their own; those with account 0
 *                    become the firm's (owner firm_id << 32). order_id holds the
 *                    forgotten session_id, which the answer echoes; in_seq why the session
 *                    layer forgot it (its enum ss_forget_why: the journal says so).
 */
#define DP_GONE_KEEP 1u
#define DP_GONE_ACK 2u
#define DP_GONE_DETACH (DP_GONE_KEEP | DP_GONE_ACK)

/*
 * DP_ORD_NEW's order types (NewOrder's show_qty and stop_price) in the 64 bytes, which a
 * NEW fills but for two fields it has no use for: `scope` says which one the order has
 * (the protocol refuses both together), `order_id` holds its value. A NEW without either
 * has scope 0 and order_id 0, as every NEW had before order types existed, so a journal
 * written then replays unchanged.
 *   DP_NEW_ICE   order_id = show_qty (> 0): an iceberg
 *   DP_NEW_STOP  order_id = stop_price (> 0, as uint64): a stop order
 * dp_order_show() and dp_order_stop() read them.
 */
#define DP_NEW_ICE 1u
#define DP_NEW_STOP 2u

/* Session core -> matching core: one validated request. 64 bytes. */
struct dp_order {
	uint8_t type;  /* dp_order_type */
	uint8_t side;  /* tkx_side (0 = both for mass cancel) */
	uint8_t tif;   /* tkx_tif */
	uint8_t scope; /* tkx_mass_scope for DP_ORD_MASS_CANCEL; DP_NEW_* for DP_ORD_NEW */
	uint8_t src;   /* index of the issuing session core: the reply ring */
	uint8_t parts; /* matching cores a broadcast request went to (1 otherwise) */
	uint16_t session; /* slot in the issuing core's session table */
	uint32_t contract_id; /* 0 = every contract (mass cancel) */
	uint32_t firm_id;
	uint32_t account;
	uint32_t qty;
	uint64_t cl_ord_id;
	uint64_t order_id; /* cancel/modify target; NEW: DP_NEW_* value */
	int64_t price;
	uint64_t rx_time; /* ns: when the packet that carried it arrived */
	uint64_t in_seq;  /* the request's inbound sequence number in its session */
};
_Static_assert(sizeof(struct dp_order) == 64, "dp_order is one cache line");

/* A NEW's iceberg display quantity and stop price (0: none). */
static inline int64_t dp_order_show(const struct dp_order *o)
{
	return o->scope == DP_NEW_ICE ? (int64_t)o->order_id : 0;
}

static inline int64_t dp_order_stop(const struct dp_order *o)
{
	return o->scope == DP_NEW_STOP ? (int64_t)o->order_id : 0;
}

/* Sets a NEW's order type from a validated NewOrder's fields (at most one non-zero). */
static inline void dp_order_set_type(struct dp_order *o, uint32_t show_qty, int64_t stop_price)
{
	if (show_qty) {
		o->scope = DP_NEW_ICE;
		o->order_id = show_qty;
	} else if (stop_price > 0) {
		o->scope = DP_NEW_STOP;
		o->order_id = (uint64_t)stop_price;
	}
}
/*
 * Market-data records of version 3 from a matching core to the publisher (dp_event
 * template_id TKX_MD_ORDER, TKX_MD_INSTRUMENT; TKX_MD_DEPTH carries the wire body as is).
 * Internal layouts: the publisher turns them into the wire messages (md_pub.h).
 *
 * dp_md_order: one change of a resting order, as the engine's events show it (mc_core.c
 * "Market by order"). The publisher keeps the visible book and derives what the wire
 * says (the visible part of an iceberg, its refills, the priority).
 *   ADD      the order rests now: price, side, qty = its whole remaining quantity,
 *            aux = its iceberg display quantity (0: not an iceberg; never on the wire),
 *            visible = what it shows now
 *   MODIFY   reduced in place (same price, priority kept): qty = its new remaining
 *   DELETE   it left the book without trading (a held stop order's leave too: the
 *            publisher does not know it and drops the record)
 *   EXECUTE  it traded qty as the resting side (both sides in an uncross): visible =
 *            its whole remaining after the trade, aux = the trade id
 */
struct dp_md_order {
	uint64_t transact_time;
	uint64_t order_id;
	int64_t price;
	int64_t qty;
	int64_t visible;
	uint64_t aux;
	uint32_t contract_id;
	uint8_t action; /* tkx_md_action (not SNAPSHOT) */
	uint8_t side;   /* tkx_side */
	uint8_t pad[2];
};

/*
 * dp_md_def: one part of a contract's definition (dp_event.pad[0] says which); the
 * publisher keeps both and publishes InstrumentDefinition whenever one arrives.
 *   DP_DEF_BOOK    what the matching core's book holds: tick, max_qty, today's limits
 *                  (the band), the previous settlement (DP_CTL_DEFINE's, kept there)
 *   DP_DEF_STATIC  what the control plane said once (DP_CTL_DEFINE): symbol, first and
 *                  last trading day, unit, currency, settlement method
 */
#define DP_DEF_BOOK 1
#define DP_DEF_STATIC 2
struct dp_md_def {
	union {
		struct {
			int64_t tick;
			int64_t limit_lo, limit_hi;
			int64_t prev_settle;
			int64_t max_qty;
		} book;
		struct {
			char symbol[TKX_SYMBOL_LEN];
			uint32_t first_day, last_day, unit;
			char currency[TKX_CURRENCY_LEN];
			uint8_t settle_method;
		} st;
	} u;
	uint32_t contract_id;
};
_Static_assert(sizeof(struct dp_md_order) == 56 && sizeof(struct dp_md_def) <= 56,
	       "a market-data record fits a dp_event");

/* Matching core -> session core: one reply for one session, as its wire body. The session
 * core prefixes the SBE header, assigns the outbound sequence and keeps it for
 * retransmission. The same record carries market data (template_id 300-302, session and
 * src unused) from a matching core to the publisher. 64 bytes. */
struct dp_event {
	uint16_t template_id; /* TKX_EXEC_ACK ... TKX_MASS_CANCEL_ACK */
	uint16_t session;
	uint8_t src;
	uint8_t parts; /* MassCancelAck: the request's parts; the session layer merges them */
	uint8_t pad[2];
	union {
		struct tkx_exec_ack ack;
		struct tkx_exec_reject reject;
		struct tkx_fill fill;
		struct tkx_cancelled cancelled;
		struct tkx_modify_ack modify_ack;
		struct tkx_mass_cancel_ack mass_ack;
		struct tkx_stop_elected elected;
		struct tkx_md_top_of_book tob;
		struct tkx_md_trade trade;
		struct tkx_md_contract_status status;
		struct tkx_md_depth depth;
		struct dp_md_order order;
		struct dp_md_def def;
		uint8_t raw[56];
	} u;
};
_Static_assert(sizeof(struct dp_event) == 64, "dp_event is one cache line");

/* dp_event.pad[0]: a matching core's answer to a SESSION_GONE with DP_GONE_ACK (session,
 * src, parts as the request's; template_id 0; u.raw[0, 8) the request's order_id). Never
 * sent to a client. */
#define DP_EV_DETACHED 2

/* The src of an event for no session (a detached order's): routers drop it. */
#define DP_SRC_NONE 0xFFu
/* dp_event.pad[1] bit: the last reply of a request (NEW, CANCEL, MODIFY, MASS_CANCEL; each
 * part of a broadcast mass cancel) to its session: no other reply to that request follows.
 * Every request a matching core applies gets exactly one, on a real reply or, rarely, on
 * an event of template_id 0 carrying nothing else (mc_core.c mc_req_done). A session
 * core's own answer to a request it could not deliver (ExecReject BUSY, STORAGE) carries
 * it too. The session layer counts them to send a session's replies in request order. */
#define DP_EV_DONE 1

/*
 * DP_ORD_LOCAL: the same 64 bytes seen through this overlay (copied with memcpy, never
 * by a cast): the header keeps type, src and session where struct dp_order has them, and
 * rx_time too (a core that stamps rx_time on what it forwards does not touch the body).
 * body[0, blen) is the reply's SBE block: an ExecReject (32 bytes) or BusinessReject (24).
 */
#define DP_LOCAL_BODY_MAX 40u
struct dp_order_local {
	uint8_t type;         /* DP_ORD_LOCAL */
	uint8_t blen;         /* bytes of body used */
	uint16_t template_id; /* TKX_EXEC_REJECT or TKX_BUSINESS_REJECT */
	uint8_t src;          /* the session core (dp_order.src) */
	uint8_t parts;        /* 1 */
	uint16_t session;     /* its slot (dp_order.session) */
	uint8_t body[DP_LOCAL_BODY_MAX];
	uint64_t rx_time;     /* when the session layer made it (dp_order.rx_time) */
	uint64_t pad;
};
_Static_assert(sizeof(struct dp_order_local) == sizeof(struct dp_order), "an overlay");
_Static_assert(offsetof(struct dp_order_local, src) == offsetof(struct dp_order, src) &&
	       offsetof(struct dp_order_local, session) == offsetof(struct dp_order, session) &&
	       offsetof(struct dp_order_local, rx_time) == offsetof(struct dp_order, rx_time),
	       "the shared fields stay where struct dp_order has them");
_Static_assert(sizeof(struct tkx_exec_reject) <= DP_LOCAL_BODY_MAX &&
	       sizeof(struct tkx_business_reject) <= DP_LOCAL_BODY_MAX,
	       "every kind of local reply fits a DP_ORD_LOCAL");

/* Packs a local reply into o. 0, or -EINVAL when blen is above DP_LOCAL_BODY_MAX. */
static inline int dp_order_local_pack(struct dp_order *o, uint8_t src, uint16_t slot,
				      uint16_t template_id, const void *body, uint16_t blen,
				      uint64_t now)
{
	struct dp_order_local l;

	if (blen > DP_LOCAL_BODY_MAX)
		return -EINVAL;
	memset(&l, 0, sizeof(l));
	l.type = DP_ORD_LOCAL;
	l.blen = (uint8_t)blen;
	l.template_id = template_id;
	l.src = src;
	l.parts = 1;
	l.session = slot;
	memcpy(l.body, body, blen);
	l.rx_time = now;
	memcpy(o, &l, sizeof(*o));
	return 0;
}

/* Control plane -> matching core: one command on a contract (or an account). Polled by
 * the matching core every pass from its control ring; never blocks the data path. The
 * answer is a dp_ctl_reply on the reply ring. 64 bytes. */
enum dp_ctl_type {
	DP_CTL_PHASE = 1,      /* set phase (arg = tkx_phase); PRE_OPEN starts an auction book */
	DP_CTL_UNCROSS = 2,    /* run the call auction at the best uncross price; price = the
				* reference (previous settlement) for the tie-break */
	DP_CTL_BAND = 3,       /* daily price limits [price, price2] */
	DP_CTL_DAY_STATS = 4,  /* report the day's volume, VWAP numerator, high/low, last */
	DP_CTL_NEW_DAY = 5,    /* reset the day's statistics */
	DP_CTL_VOL_GUARD = 6,  /* volatility interruption: arg = basis points (0 = off) */
	DP_CTL_ACCOUNT = 7,    /* per-account limits: account, qty = max order qty,
				* price = max position (price2 = spot-month max if set) */
	DP_CTL_KILL = 8,       /* kill switch on (arg 1) / off (0) for firm+account; on
				* also cancels the account's orders */
	DP_CTL_MASS_CANCEL = 9, /* operator mass cancel of firm+account (0 = all) on contract */
	DP_CTL_LIST = 10,      /* add a contract (book params in price/price2/qty/arg) */
	DP_CTL_DELIST = 11,    /* remove a contract whose book is empty */
	/* Added with the matching core's control API (mc_core.c documents each rule): */
	DP_CTL_SPOT = 12,      /* spot-month flag of the contract: arg 1 on, 0 off (the
				* accounts' spot position limits apply while on) */
	DP_CTL_RANGE = 13,     /* move the book's level array towards [price, price2] (the
				* market drifted); reply low/high = the array now */
	DP_CTL_AUCTION = 14,   /* the indicative uncross now (nothing executed): reply
				* price, qty = volume, high = imbalance */
	DP_CTL_END_OF_DAY = 15, /* the end of the trading day: DAY orders expire (Cancelled
				 * DAY_END); reply qty = how many */
	DP_CTL_DEFINE = 16,    /* the contract's definition for market data (dp_ctl_define()
				* packs it); the core keeps it and publishes both parts */
};

struct dp_ctl {
	uint8_t type;  /* dp_ctl_type */
	uint8_t arg8;
	uint16_t pad;
	uint32_t contract_id;
	uint32_t firm_id;
	uint32_t account;
	uint64_t seq;  /* echoed in the reply */
	int64_t price;
	int64_t price2;
	int64_t qty;
	uint64_t arg;
	uint64_t now;  /* ns: the control plane's (injectable) clock */
};
_Static_assert(sizeof(struct dp_ctl) == 64, "dp_ctl is one cache line");

/* DP_CTL_DEFINE's fields: price = the previous settlement (null: none), price2 and qty the
 * symbol's 12 bytes (8 + 4, space padded), firm_id = first trading day, account = last
 * (YYYYMMDD), arg = unit | currency << 32 (3 bytes) | settle_method << 56. */
static inline void dp_ctl_define(struct dp_ctl *c, int64_t prev_settle,
				 const char symbol[TKX_SYMBOL_LEN], uint32_t first_day,
				 uint32_t last_day, uint32_t unit,
				 const char currency[TKX_CURRENCY_LEN], uint8_t method)
{
	uint64_t cur = 0;
	c->type = DP_CTL_DEFINE;
	c->price = prev_settle;
	memcpy(&c->price2, symbol, 8);
	c->qty = 0;
	memcpy(&c->qty, symbol + 8, TKX_SYMBOL_LEN - 8);
	c->firm_id = first_day;
	c->account = last_day;
	memcpy(&cur, currency, TKX_CURRENCY_LEN);
	c->arg = unit | cur << 32 | (uint64_t)method << 56;
}

static inline void dp_ctl_define_get(const struct dp_ctl *c, struct dp_md_def *d)
{
	uint64_t cur = (c->arg >> 32) & 0xFFFFFFu;
	memset(d, 0, sizeof(*d));
	memcpy(d->u.st.symbol, &c->price2, 8);
	memcpy(d->u.st.symbol + 8, &c->qty, TKX_SYMBOL_LEN - 8);
	d->u.st.first_day = c->firm_id;
	d->u.st.last_day = c->account;
	d->u.st.unit = (uint32_t)c->arg;
	memcpy(d->u.st.currency, &cur, TKX_CURRENCY_LEN);
	d->u.st.settle_method = (uint8_t)(c->arg >> 56);
	d->contract_id = c->contract_id;
}

struct dp_ctl_reply {
	uint64_t seq;
	int32_t rc;        /* 0 or a negative errno */
	uint32_t contract_id;
	int64_t price;     /* UNCROSS: the uncross price (INT64_MIN when no cross); DAY_STATS: last */
	uint64_t qty;      /* UNCROSS: executed volume; DAY_STATS: volume */
	uint64_t notional; /* DAY_STATS: sum of price * qty (VWAP = notional / qty) */
	int64_t high;      /* DAY_STATS; BAND, RANGE: the level array's highest price */
	int64_t low;       /* DAY_STATS; BAND, RANGE: ... its lowest */
	uint32_t flags;    /* DAY_STATS: bit 0 limit-up locked, bit 1 limit-down locked at close;
			    * bit 2 a volatility interruption fired */
	uint8_t phase;     /* the contract's phase after the command */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct dp_ctl_reply) == 64, "dp_ctl_reply is one cache line");

#endif /* TOKEX_DP_MSG_H */
