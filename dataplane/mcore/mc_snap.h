/*
 * mc_snap.h - a matching core's state as one snapshot section, and back (issue 6:
 * recovery replays the journal from the newest snapshot, not from record 1).
 *
 * Role: tokexd's snapshot code (td_snap.c) calls mc_snap_save() on the RX core between
 * two loop passes in run-to-completion mode, where the core's state is exactly what the
 * journal's records up to the last appended one made; mc_snap_check()/mc_snap_load() at
 * start, into the core mc_core_init_cfg() just made from the same configuration, before
 * any record is replayed. Saving allocates nothing and makes no system call: O(contract
 * slots + resting orders + accounts x slots + followed-order map slots).
 *
 * What is captured: everything replay would rebuild. The exchange order-id counter; per
 * contract slot its contract (id, book parameters, phase, spot flag, volatility flag,
 * trade-id counter, volume, last price, last published top of book, price guard width
 * and reference, the day's statistics) and its book (me_snap.h: every resting order in
 * time priority, band, guard, auction flag); a free slot as free (a delisted contract);
 * the account table in creation order (limits, kill switches), every account's position
 * and open quantities on every slot, and the followed orders (order id -> account,
 * slot, side); the detach table's entries that are set (mc_core.h identity 4); the
 * core's counters. Not captured, because they are empty between passes:
 * the request being translated, the contracts touched in the current burst.
 *
 * Layout (fixed records in host order, dp_snap.h):
 *   struct mc_snap_hdr
 *   cap x (struct mc_snap_slot, then a book section when the slot holds a contract)
 *   n_acct x struct mc_snap_acct
 *   n_acct x cap x struct mc_position
 *   n_trk x struct mc_snap_trk
 *   n_det x struct mc_snap_det
 * Errors (negative errno, reason in err): -EBADMSG not a core section, truncated or
 * inconsistent; -EPROTO another format version; -EINVAL saved by a core of another shape
 * (contract slots, their memory, accounts, followed orders, detach table) or a contract
 * that does not
 * fit its slot; -EBUSY the target core has processed something. mc_snap_load() checks the
 * whole section first and changes nothing when that fails.
 */
#ifndef TOKEX_MC_SNAP_H
#define TOKEX_MC_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_snap.h"
#include "mc_core.h"
#include "me_snap.h"

#define MC_SNAP_MAGIC 0x4b434d54u /* "TMCK" */
#define MC_SNAP_VERSION 2 /* 2: the detach table */

struct mc_snap_hdr {
	struct dp_snap_sect s;
	uint32_t cap;      /* contract slots */
	uint32_t acct_max; /* account entries */
	uint32_t trk_max;  /* followed orders */
	uint32_t n_acct;
	uint32_t n_trk;
	uint32_t n_listed; /* slots holding a contract */
	uint64_t order_seq;
	struct mc_stats st;
	uint32_t det_srcs;     /* the detach table's shape (configuration) */
	uint32_t det_sessions;
	uint32_t n_det;        /* its entries that are set */
	uint32_t pad;
};
_Static_assert(sizeof(struct mc_snap_hdr) == 120, "mc_snap_hdr layout");

/* One contract slot. id 0: a free slot (only mem_len is meaningful). */
struct mc_snap_slot {
	uint32_t id;
	uint8_t phase, spot, vol, pad0;
	uint64_t mem_len; /* the slot's book memory: configuration, must match */
	int64_t price_lo, price_hi, tick, max_qty; /* the book's parameters */
	uint32_t max_orders;
	uint32_t guard_bps;
	uint64_t trade_seq;
	uint64_t volume;
	int64_t last_price;
	int64_t pub_bid, pub_ask, pub_bid_qty, pub_ask_qty;
	int64_t guard_ref;
	uint64_t day_volume;
	uint64_t day_notional_lo, day_notional_hi; /* 128-bit sum of price * qty */
	int64_t day_high, day_low, day_last;
	uint32_t day_flags;
	uint32_t pad1;
};
_Static_assert(sizeof(struct mc_snap_slot) == 176, "mc_snap_slot layout");

struct mc_snap_acct {
	uint32_t firm, account;
	int64_t max_qty, max_pos, spot_pos;
	uint8_t kill;
	uint8_t pad[7];
};
_Static_assert(sizeof(struct mc_snap_acct) == 40, "mc_snap_acct layout");

struct mc_snap_trk {
	int64_t id;
	uint32_t acct; /* index into the account table */
	uint8_t slot;
	uint8_t side;
	uint16_t pad;
};
_Static_assert(sizeof(struct mc_snap_trk) == 16, "mc_snap_trk layout");

/* One set entry of the detach table: index src x det_sessions + session. */
struct mc_snap_det {
	uint32_t index;
	uint32_t pad;
	uint64_t last; /* the s recorded */
};
_Static_assert(sizeof(struct mc_snap_det) == 16, "mc_snap_det layout");

/* Bytes a section of mc may need at most (every slot's book full, every account and
 * followed order used): what to preallocate. Fixed for the core's life. */
size_t mc_snap_bound(const struct mc_core *mc);

/* Appends mc's section to w: bytes written, or -ENOBUFS. */
int64_t mc_snap_save(const struct mc_core *mc, struct dp_snap_w *w);

/* Checks the section at buf[0, len) (len may run past it) against mc without changing
 * anything: 0 or a negative errno. *used (may be NULL) = the section's length. */
int mc_snap_check(const struct mc_core *mc, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen);

/* mc_snap_check(), then restores the state into mc (fresh from mc_core_init_cfg()). 0 or
 * a negative errno; on an error after the check passed (which only a corrupt section
 * that the check cannot see causes) mc is left part-restored: re-initialise it. */
int mc_snap_load(struct mc_core *mc, const void *buf, size_t len, size_t *used, char *err,
		 size_t errlen);

/* A fingerprint of the core's shape and contracts as they are now: called on the fresh
 * core, it names the configuration (td_snap.c refuses a snapshot of another one). */
uint64_t mc_snap_config(const struct mc_core *mc);

/* The contracts mc holds now, in slot order, into ids[0, max): how many. */
uint32_t mc_snap_contracts(const struct mc_core *mc, uint32_t *ids, uint32_t max);

/* ---- Internal: mc_core.c's private state, for mc_snap.c only ------------------------- */

struct mc_snap_core {
	uint64_t order_seq;
	uint32_t cap, acct_max, trk_max, n_acct, n_trk, n_firm_kill;
	uint64_t trk_slots; /* size of the followed-order map */
	struct mc_stats st;
	uint32_t det_srcs, det_sessions;
	uint64_t n_det;
};

void mc__snap_core(const struct mc_core *mc, struct mc_snap_core *s);
/* Slot < cap: its record (mem_len included) and its book (NULL when free). */
void mc__snap_slot(const struct mc_core *mc, uint32_t slot, struct mc_snap_slot *k,
		   const struct me_book **book);
void mc__snap_acct(const struct mc_core *mc, uint32_t i, struct mc_snap_acct *a);
const struct mc_position *mc__snap_pos(const struct mc_core *mc, uint32_t acct,
				       uint32_t slot);
/* Map slot h < trk_slots: 1 and *t when it holds a followed order, else 0. */
int mc__snap_trk(const struct mc_core *mc, uint64_t h, struct mc_snap_trk *t);
/* Detach table entry i < det_srcs x det_sessions: 1 and *last when set, else 0. */
int mc__snap_det(const struct mc_core *mc, uint32_t i, uint64_t *last);
/* Loading, into a fresh core, in this order: slots, accounts, positions, followed
 * orders, detach entries, then finish (counters, the contract map). */
int mc__snap_set_slot(struct mc_core *mc, uint32_t slot, const struct mc_snap_slot *k,
		      struct me_book **book);
int mc__snap_add_acct(struct mc_core *mc, const struct mc_snap_acct *a);
void mc__snap_set_pos(struct mc_core *mc, uint32_t acct, uint32_t slot,
		      const struct mc_position *p);
int mc__snap_add_trk(struct mc_core *mc, const struct mc_snap_trk *t);
int mc__snap_set_det(struct mc_core *mc, uint32_t i, uint64_t last);
void mc__snap_finish(struct mc_core *mc, uint64_t order_seq, const struct mc_stats *st);

#endif /* TOKEX_MC_SNAP_H */
