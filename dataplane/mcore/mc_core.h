/*
 * mc_core.h - a matching core: the contracts it owns, and the translation between the
 * session cores' requests (dp_order) and the engine (me_book), and from the engine's
 * events back to replies (dp_event) and market data.
 *
 * Role in the data path: runs on one pinned matching core (or inside the single loop of
 * run-to-completion mode). Consumes bursts of dp_order from its input rings, produces
 * dp_event replies addressed to (src, session) and market-data records (top of book,
 * trades, contract status; with mc_core_md() the order-by-order records and depth levels;
 * definitions after DP_CTL_DEFINE) through one output callback. Owns its books outright: no
 * other core reads or writes them.
 *
 * Identity:
 *  1. Exchange order ids are issued here: order_id = s << 24 | src << 16 | session, with
 *     s = seq x n + index (mc_core_id_space(); n = 1, index 0 by default), seq counting
 *     from 1 per matching core. The low 24 bits name the session that owns the order, so
 *     a fill or an unsolicited cancel is routed without a lookup, and a session-scoped
 *     mass cancel is one mask. Order ids are unique within the appliance.
 *  2. The engine's owner word (self-trade prevention) is firm_id << 32 | account, or 0
 *     when the account is 0; its user word is the order's cl_ord_id.
 *  3. Trade ids count from 1 per contract.
 *  4. Detached orders: a SESSION_GONE with DP_GONE_ACK (dp_msg.h; the session layer
 *     forgets a session and will give its slot to another) records, for (src, session),
 *     the s of the last order id this core issued. From then on an order of that slot
 *     whose s is at most the recorded one is detached: its replies go to no session (src
 *     DP_SRC_NONE, counted `detached`; routers drop them), the slot's later sessions
 *     neither cancel it by session (cancel-on-disconnect, MassCancel SESSION) nor own it
 *     (an account-0 order became its firm's at the detach: owner firm_id << 32), and a
 *     cancel or modify of it by one of them is answered to the requester as for another
 *     session's order. The answer DP_EV_DETACHED follows, on the same output, everything
 *     this core sent the slot before. The table is sized by mc_core_cfg (det_srcs x
 *     det_sessions); a slot outside it is not detached and not answered (its session
 *     layer then never reuses it).
 *  5. Order types: a NEW's iceberg show and stop price come in dp_order's scope/order_id
 *     (dp_msg.h DP_NEW_*). A held stop order that a trade elects gets StopElected (207) to
 *     its own session, then its Fills; one the engine cannot enter once elected (IOC/FOK
 *     in an auction, a limit outside a moved band) gets Cancelled ELECTED_REFUSED. An
 *     iceberg's Fills carry its whole remaining quantity in leaves_qty; market data
 *     (TopOfBook) shows only its visible part (me_book_best()).
 *
 * Control (mc_control(), one dp_ctl at a time from the core's control ring, between
 * bursts; the rules are in the comment above mc_control()):
 *
 *     LISTED/BREAK/CLOSED/... --PHASE PRE_OPEN--> PRE_OPEN (book in auction mode: GTC/POST
 *        rest without matching, IOC/FOK rejected PHASE)
 *     CONTINUOUS --a trade would leave the price guard--> PRE_OPEN (volatility flag set,
 *        ContractStatus published; the engine already stopped matching)
 *     PRE_OPEN --UNCROSS (arg = next phase, 0 = AUCTION)--> AUCTION (no order entry) or
 *        the phase named, after the uncross trades
 *     AUCTION/PRE_OPEN --PHASE CONTINUOUS--> CONTINUOUS (-EBUSY while the book is crossed)
 *     any --PHASE EXPIRED/DELISTED--> every resting order cancelled (TKX_CXL_EXPIRY)
 *     any --END_OF_DAY (after PHASE CLOSED)--> DAY orders, resting and held, cancelled
 *        (TKX_CXL_DAY_END); GTC orders stay
 *     DELISTED-able --DELIST--> slot free (only with an empty book, else -EBUSY)
 */
#ifndef TOKEX_MC_CORE_H
#define TOKEX_MC_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_msg.h"
#include "me_book.h"

#define MC_MAX_CONTRACTS 64
#define MC_DEPTH_MAX 32 /* depth levels per side mc_core_md() accepts */
#define MC_SESSION_BITS 24

struct mc_contract_params {
	uint32_t id;
	struct me_params book;
	uint8_t phase; /* tkx_phase at start */
	uint8_t spot;  /* 1: spot month, the accounts' spot position limits apply */
};

/* Sizing beyond the initial contracts (mc_core_init_cfg). All of it is allocated inside
 * the caller's memory at init; nothing grows later. */
struct mc_core_cfg {
	uint32_t capacity;  /* contract slots, n <= capacity <= MC_MAX_CONTRACTS */
	uint32_t accounts;  /* (firm, account) entries: limits, kill switches, positions */
	size_t slot_bytes;  /* book memory of each of the capacity - n spare slots: the
			     * largest me_book_memsize() a LIST lays in full (a wider
			     * window is narrowed to what the largest free slot holds; a
			     * delisted contract's slot keeps its own size and is reused) */
	uint32_t tracked;   /* live orders of accounts in the table that the core follows
			     * for position limits (a NEW of such an account that would
			     * exceed it is rejected POSITION_LIMIT); 0 = the initial books'
			     * max_orders summed, at most MC_DEFAULT_TRACKED */
	uint32_t det_srcs;  /* identity 4: session cores (src 0 .. det_srcs - 1) ... */
	uint32_t det_sessions; /* ... and slots of each whose orders can be detached;
				* 8 bytes per pair; 0 = none (default) */
	uint32_t pad;
};

/* What mc_core_memsize()/mc_core_init() use: no spare slot, MC_DEFAULT_ACCOUNTS, no
 * detach table. */
#define MC_DEFAULT_ACCOUNTS 64
#define MC_DEFAULT_TRACKED 65536

/* Output: the caller's buffer of records; when n == cap, flush() must consume them and
 * set n = 0 (push to rings, or hand to the session layer / publisher directly). */
struct mc_out {
	struct dp_event *ev;
	uint32_t n;
	uint32_t cap;
	void (*flush)(struct mc_out *o);
	void *arg;
};

struct mc_stats {
	uint64_t orders;      /* dp_order records processed */
	uint64_t events;      /* dp_event replies produced */
	uint64_t md;          /* market data records produced */
	uint64_t trades;
	uint64_t rejects;
	uint64_t unknown_contract;
	uint64_t detached;    /* replies for detached orders: sent to no session */
};

struct mc_core;

/* Bytes for a core owning these contracts (books included); 0 and errno on bad params. */
size_t mc_core_memsize(const struct mc_contract_params *c, uint32_t n);

/* Lays the core out in mem (64-byte aligned, len >= mc_core_memsize()). NULL + errno
 * (EINVAL: bad or duplicate contract, too many contracts). The contracts get slots
 * 0..n-1; spare slots (mc_core_init_cfg) take runtime LISTs. */
struct mc_core *mc_core_init(void *mem, size_t len, const struct mc_contract_params *c,
			     uint32_t n);

/* Processes a burst of requests; replies and market data go to out. Top-of-book updates
 * for the contracts the burst touched are emitted once, at the end of the burst. Calls
 * out->flush at the end if anything is pending. Returns n. */
uint32_t mc_process(struct mc_core *mc, const struct dp_order *in, uint32_t n, uint64_t now_ns,
		    struct mc_out *out);

/* Control: sets a contract's phase and publishes ContractStatus; the same as
 * mc_control(DP_CTL_PHASE). 0 or -ENOENT, -EINVAL, -EBUSY. */
int mc_set_phase(struct mc_core *mc, uint32_t contract_id, uint8_t phase, uint64_t now_ns,
		 struct mc_out *out);

/* As above with explicit sizing (cfg NULL = the defaults above). EINVAL also for
 * capacity < n or > MC_MAX_CONTRACTS. */
size_t mc_core_memsize_cfg(const struct mc_contract_params *c, uint32_t n,
			   const struct mc_core_cfg *cfg);
struct mc_core *mc_core_init_cfg(void *mem, size_t len, const struct mc_contract_params *c,
				 uint32_t n, const struct mc_core_cfg *cfg);

/* Several matching cores in one appliance: core index of n issues order ids whose seq part
 * is seq * n + index, so that no two cores ever issue the same exchange order id (clients
 * and the audit trail key orders by it). Before the first order; 0 or -EINVAL. Default:
 * index 0 of 1. */
int mc_core_id_space(struct mc_core *mc, uint32_t index, uint32_t n);

/*
 * Market data of version 3 (docs/protocol.md 6.4-6.6): depth = the levels per side of
 * the Depth records (TKX_MD_DEPTH, the changed levels after each burst and control
 * command; 0 = none, at most MC_DEPTH_MAX), orders = 1 for the order-by-order records
 * (TKX_MD_ORDER, struct dp_md_order; mc_core.c "Market by order"). Off by default.
 * Instrument definitions (TKX_MD_INSTRUMENT, struct dp_md_def) follow DP_CTL_DEFINE
 * whatever this says. Before the first order; 0 or -EINVAL.
 */
int mc_core_md(struct mc_core *mc, uint32_t depth, int orders);

/* Applies one control command (dp_msg.h's dp_ctl_type), writing replies and market data
 * (ContractStatus, trades, fills, cancels, top of book) to out, flushed before it
 * returns, and the answer to *r (seq, contract_id, phase always; rc = the return
 * value). Returns 0 or a negative errno: -ENOENT unknown contract, -EINVAL bad
 * arguments or type, -EBUSY (PHASE CONTINUOUS on a crossed book, DELIST of a non-empty
 * book), -ERANGE (BAND outside the level array), -ENOSPC (table full), -EEXIST (LIST of a
 * listed id), -EPERM (UNCROSS outside PRE_OPEN). See mc_core.c for each command's
 * rules. Rejects the engine adds: IOC/FOK during an auction -> TKX_REJ_PHASE. */
int mc_control(struct mc_core *mc, const struct dp_ctl *c, struct mc_out *out,
	       struct dp_ctl_reply *r);

/* The volatility flag: 1 while the contract is in the auction a price-guard trip
 * started (cleared by PHASE CONTINUOUS), 0 otherwise, -ENOENT. */
int mc_vol_interrupted(const struct mc_core *mc, uint32_t contract_id);

/* An account's state on one contract: position (signed net of fills since the account
 * entered the table) and its live orders' unfilled quantity per side. 0 or -ENOENT. */
struct mc_position {
	int64_t pos;
	int64_t open_buy;
	int64_t open_sell;
};
int mc_position(const struct mc_core *mc, uint32_t firm, uint32_t account, uint32_t contract_id,
		struct mc_position *p);

/* Identity 4: the s recorded for (src, session) (0: none), or -ENOENT outside the table. */
int64_t mc_detached_upto(const struct mc_core *mc, uint32_t src, uint32_t session);

/* Does this core own the contract? */
int mc_owns(const struct mc_core *mc, uint32_t contract_id);

/* Read access for snapshots and tests. */
const struct me_book *mc_book(const struct mc_core *mc, uint32_t contract_id);
int mc_phase(const struct mc_core *mc, uint32_t contract_id);
void mc_stats(const struct mc_core *mc, struct mc_stats *s);
/* ExecRejects by reason (include/tokex/proto.h enum tkx_reject_reason; [0]: a reason past
 * the table), since this core started: not in snapshots, unlike mc_stats.rejects. Read
 * while the core runs (each word written by the core alone). */
#define MC_REJ_REASONS 32
void mc_reject_counts(const struct mc_core *mc, uint64_t out[MC_REJ_REASONS]);

#endif /* TOKEX_MC_CORE_H */
