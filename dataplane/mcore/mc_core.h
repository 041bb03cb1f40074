/*
 * mc_core.h - a matching core: the contracts it owns, and the translation between the
 * session cores' requests (dp_order) and the engine (me_book), and from the engine's
 * events back to replies (dp_event) and market data.
 *
 * Role in the data path: runs on one pinned matching core (or inside the single loop of
 * run-to-completion mode). Consumes bursts of dp_order from its input rings, produces
 * dp_event replies addressed to (src, session) and market-data records (top of book,
 * trades, contract status) through one output callback. Owns its books outright: no
 * other core reads or writes them.
 *
 * Identity:
 *  1. Exchange order ids are issued here: order_id = seq << 24 | src << 16 | session,
 *     seq counting from 1 per matching core. The low 24 bits name the session that owns
 *     the order, so a fill or an unsolicited cancel is routed without a lookup, and a
 *     session-scoped mass cancel is one mask. Order ids are unique within a core.
 *  2. The engine's owner word (self-trade prevention) is firm_id << 32 | account, or 0
 *     when the account is 0; its user word is the order's cl_ord_id.
 *  3. Trade ids count from 1 per contract.
 */
#ifndef TOKEX_MC_CORE_H
#define TOKEX_MC_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_msg.h"
#include "me_book.h"

#define MC_MAX_CONTRACTS 64
#define MC_SESSION_BITS 24

struct mc_contract_params {
	uint32_t id;
	struct me_params book;
	uint8_t phase; /* tkx_phase at start */
};

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
};

struct mc_core;

/* Bytes for a core owning these contracts (books included); 0 and errno on bad params. */
size_t mc_core_memsize(const struct mc_contract_params *c, uint32_t n);

/* Lays the core out in mem (64-byte aligned, len >= mc_core_memsize()). NULL + errno
 * (EINVAL: bad or duplicate contract, too many contracts). */
struct mc_core *mc_core_init(void *mem, size_t len, const struct mc_contract_params *c,
			     uint32_t n);

/* Processes a burst of requests; replies and market data go to out. Top-of-book updates
 * for the contracts the burst touched are emitted once, at the end of the burst. Calls
 * out->flush at the end if anything is pending. Returns n. */
uint32_t mc_process(struct mc_core *mc, const struct dp_order *in, uint32_t n, uint64_t now_ns,
		    struct mc_out *out);

/* Control: sets a contract's phase and publishes ContractStatus. 0 or -ENOENT. */
int mc_set_phase(struct mc_core *mc, uint32_t contract_id, uint8_t phase, uint64_t now_ns,
		 struct mc_out *out);

/* Does this core own the contract? */
int mc_owns(const struct mc_core *mc, uint32_t contract_id);

/* Read access for snapshots and tests. */
const struct me_book *mc_book(const struct mc_core *mc, uint32_t contract_id);
int mc_phase(const struct mc_core *mc, uint32_t contract_id);
void mc_stats(const struct mc_core *mc, struct mc_stats *s);

#endif /* TOKEX_MC_CORE_H */
