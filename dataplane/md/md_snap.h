/*
 * md_snap.h - the market-data publisher's recoverable state as one snapshot section, and
 * back (issue 6: recovery replays the journal from the newest snapshot).
 *
 * Role: tokexd's snapshot code (td_snap.c) calls md_snap_save() on the RX core, the
 * publisher's owner in run-to-completion mode, between loop passes (no allocation, no
 * system call; O(contracts)); md_snap_check()/md_snap_load() at start into the publisher
 * md_pub_init() just made, before any record is replayed.
 *
 * What is captured: what replay rebuilds by passing the regenerated records through
 * md_pub_add(): every contract's Snapshot state (phase, best bid/ask and quantities, last
 * price, volume: md_pub.h invariant 6), and the number the next message takes, so that
 * the stream after a recovery from a snapshot is numbered as after a full replay. Not
 * captured: the packets themselves (replay's are never sent, and a restart is a new
 * market-data session for subscribers: they take the Snapshots), timers, the re-request
 * bucket, counters. After a load nothing is retained: a re-request below the next number
 * gets GapReject.
 *
 * The contract list is part of the state: months listed and delisted at run time
 * (md_pub.h "Contracts") change it, so a load replaces the target's list with the saved
 * one (ids, order, state). The header's config is the saving publisher's start list and
 * room (md_snap_config, low 32 bits): a target started otherwise is refused.
 *
 * The books of version 3 (md_pub.h "Books") are state too: each contract's definition and
 * Depth levels, every resting order of the order-by-order book with its priority, and the
 * last priority given, so that after a recovery the OrderBook messages go on with the
 * orders the books hold (a restart from a snapshot would otherwise forget them).
 *
 * Layout: struct md_snap_hdr, then n_contracts x struct md_snap_contract in the
 * publisher's contract order, struct md_snap_books, n_contracts x (struct md_snap_book
 * and depth x 4 int64: the Depth levels, buy then sell, each price and qty), n_orders x
 * struct md_snap_order. Errors (negative errno, reason in err): -EBADMSG not a
 * publisher section, truncated or inconsistent (a contract id 0 or twice); -EPROTO
 * another format version; -EINVAL saved by a publisher started with other contracts or
 * room, or more contracts than the target's room; -EBUSY the target has published.
 */
#ifndef TOKEX_MD_SNAP_H
#define TOKEX_MD_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_snap.h"
#include "md_pub.h"

#define MD_SNAP_MAGIC 0x4b444d54u /* "TMDK" */
#define MD_SNAP_VERSION 3 /* 2: the list is the saved one (run-time listings); 3: books */

struct md_snap_hdr {
	struct dp_snap_sect s;
	uint64_t next_seq;
	uint32_t n_contracts;
	uint32_t config;   /* md_snap_config() of the saver, low 32 bits */
};
_Static_assert(sizeof(struct md_snap_hdr) == 32, "md_snap_hdr layout");

struct md_snap_contract {
	uint32_t id;
	uint8_t phase;
	uint8_t pad[3];
	int64_t bid_price, ask_price;
	uint64_t bid_qty, ask_qty;
	int64_t last_price;
	uint64_t volume;
};
_Static_assert(sizeof(struct md_snap_contract) == 56, "md_snap_contract layout");

struct md_snap_books {
	uint64_t prio_seq; /* the last priority given */
	uint32_t depth;    /* levels per side kept (md_params.depth): the target's must agree */
	uint32_t n_orders;
};
_Static_assert(sizeof(struct md_snap_books) == 16, "md_snap_books layout");

struct md_snap_book {
	struct tkx_md_instrument def;
	uint8_t def_parts;
	uint8_t pad[7];
};
_Static_assert(sizeof(struct md_snap_book) == 80, "md_snap_book layout");

struct md_snap_order {
	uint64_t id;
	int64_t price;
	uint64_t prio;
	int64_t rem, vis, show;
	uint32_t contract_id;
	uint8_t side;
	uint8_t pad[3];
};
_Static_assert(sizeof(struct md_snap_order) == 56, "md_snap_order layout");

/* Bytes a section of p needs at most (its room of contracts). */
size_t md_snap_bound(const struct md_pub *p);

/* Appends p's section to w: bytes written, or -ENOBUFS. Owner thread. */
int64_t md_snap_save(const struct md_pub *p, struct dp_snap_w *w);

/* Checks the section at buf[0, len) (len may run past it) against p without changing
 * anything: 0 or a negative errno. *used (may be NULL) = the section's length. */
int md_snap_check(const struct md_pub *p, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen);

/* md_snap_check(), then restores the contracts' state and the next number into p (fresh
 * from md_pub_init()). 0 or a negative errno (nothing changed then). */
int md_snap_load(struct md_pub *p, const void *buf, size_t len, size_t *used, char *err,
		 size_t errlen);

/* Fingerprint of the start contract list, its phases and the room (max_contracts), as
 * md_pub_init() was given them, whatever was listed since (not the session name: a
 * per-start md.session does not invalidate a snapshot). */
uint64_t md_snap_config(const struct md_pub *p);

/* ---- Internal: md_pub.c's private state, for md_snap.c only --------------------------- */

/* The next number, the contract count, and whether nothing was published yet. */
void md__snap_info(const struct md_pub *p, uint64_t *next_seq, uint32_t *n_contracts,
		   int *fresh);
void md__snap_contract(const struct md_pub *p, uint32_t i, struct md_snap_contract *c);
void md__snap_set_contract(struct md_pub *p, uint32_t i, const struct md_snap_contract *c);
/* The room of the list and the start fingerprint; the list's length (after its entries
 * were set: rebuilds the index). */
void md__snap_room(const struct md_pub *p, uint32_t *room, uint64_t *start_fp);
void md__snap_set_count(struct md_pub *p, uint32_t n);
void md__snap_set_seq(struct md_pub *p, uint64_t next_seq);
/* The books: depth kept, room of orders, orders held, the last priority. */
void md__snap_books(const struct md_pub *p, uint32_t *depth, uint32_t *max_orders,
		    uint32_t *n_orders, uint64_t *prio_seq);
/* Contract i's definition and depth x 4 levels. */
void md__snap_book(const struct md_pub *p, uint32_t i, struct md_snap_book *b, int64_t *lv);
void md__snap_set_book(struct md_pub *p, uint32_t i, const struct md_snap_book *b,
		       const int64_t *lv, uint64_t prio_seq);
/* Calls cb for every resting order, all contracts; stops at cb's non-zero value. */
int md__snap_orders(const struct md_pub *p, int (*cb)(void *, const struct md_snap_order *),
		    void *arg);
/* Puts an order into the book (after the contracts): 0, -ENOENT (no such contract),
 * -EEXIST, -ENOSPC. */
int md__snap_put_order(struct md_pub *p, const struct md_snap_order *o);

#endif /* TOKEX_MD_SNAP_H */
