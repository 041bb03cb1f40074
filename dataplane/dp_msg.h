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

#include <stdint.h>

#include <tokex/proto.h>

enum dp_order_type {
	DP_ORD_NEW = 1,
	DP_ORD_CANCEL = 2,
	DP_ORD_MODIFY = 3,
	DP_ORD_MASS_CANCEL = 4, /* scope/side/contract/account filters */
	DP_ORD_SESSION_GONE = 5, /* cancel-on-disconnect: cancel every order of (src, session) */
};

/* Session core -> matching core: one validated request. 64 bytes. */
struct dp_order {
	uint8_t type;  /* dp_order_type */
	uint8_t side;  /* tkx_side (0 = both for mass cancel) */
	uint8_t tif;   /* tkx_tif */
	uint8_t scope; /* tkx_mass_scope for DP_ORD_MASS_CANCEL */
	uint8_t src;   /* index of the issuing session core: the reply ring */
	uint8_t parts; /* matching cores a broadcast request went to (1 otherwise) */
	uint16_t session; /* slot in the issuing core's session table */
	uint32_t contract_id; /* 0 = every contract (mass cancel) */
	uint32_t firm_id;
	uint32_t account;
	uint32_t qty;
	uint64_t cl_ord_id;
	uint64_t order_id; /* cancel/modify target */
	int64_t price;
	uint64_t rx_time; /* ns: when the packet that carried it arrived */
	uint64_t in_seq;  /* the request's inbound sequence number in its session */
};
_Static_assert(sizeof(struct dp_order) == 64, "dp_order is one cache line");

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
		struct tkx_md_top_of_book tob;
		struct tkx_md_trade trade;
		struct tkx_md_contract_status status;
		uint8_t raw[56];
	} u;
};
_Static_assert(sizeof(struct dp_event) == 64, "dp_event is one cache line");

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

struct dp_ctl_reply {
	uint64_t seq;
	int32_t rc;        /* 0 or a negative errno */
	uint32_t contract_id;
	int64_t price;     /* UNCROSS: the uncross price (INT64_MIN when no cross); DAY_STATS: last */
	uint64_t qty;      /* UNCROSS: executed volume; DAY_STATS: volume */
	uint64_t notional; /* DAY_STATS: sum of price * qty (VWAP = notional / qty) */
	int64_t high;      /* DAY_STATS */
	int64_t low;       /* DAY_STATS */
	uint32_t flags;    /* DAY_STATS: bit 0 limit-up locked, bit 1 limit-down locked at close;
			    * bit 2 a volatility interruption fired */
	uint8_t phase;     /* the contract's phase after the command */
	uint8_t pad[3];
};
_Static_assert(sizeof(struct dp_ctl_reply) == 64, "dp_ctl_reply is one cache line");

#endif /* TOKEX_DP_MSG_H */
