/*
 * md_lim.h - what the market-data re-request port may still send: a token bucket per
 * source address in a fixed table, and one global bucket behind them all.
 *
 * Role in the data path: the publisher's re-request path (md_pub.c, on the core that owns
 * the publisher). md_lim_check() tells how many reply bytes a source may be sent now;
 * md_lim_spend() takes from both buckets what was sent. Pure module: no DPDK, sockets,
 * clock (every call takes now in ns; timers use differences only, and a clock step
 * backwards refills nothing), malloc, lock, syscall or printf after md_lim_init(); the
 * caller provides the memory (md_lim_memsize()).
 *
 * Units: tokens are bytes of reply UDP payload. A bucket refills at rate bytes per second
 * up to its depth; internally tokens are kept in byte-nanoseconds (bytes x 10^9), so a
 * refill is one multiply and no division.
 *
 * The table (why it is built this way):
 *  - Fixed size, allocated up front: `sources` entries (a power of two), in sets of
 *    MD_LIM_WAYS found by a hash of the address keyed with a seed from the caller (so a
 *    sender cannot pick addresses that land in one set without knowing it). 24 bytes an
 *    entry, a set is 3 cache lines; no allocation, no chains, a lookup reads one set.
 *  - A bucket that is full is the same as no entry at all: a source with no entry starts
 *    with a full bucket. So an entry whose bucket has refilled to its depth ("idle") can be
 *    reused for another source at no cost to anyone; eviction of stale entries needs no
 *    timer and no scan beyond the set.
 *  - A new source always gets an entry: an idle one of its set if there is one, else the
 *    entry of its set with the most tokens (the one closest to idle; the oldest on a tie),
 *    counted as an eviction. The table therefore never refuses a source: many spoofed
 *    addresses cannot exhaust it or lock an honest source out. What eviction costs is
 *    the evicted source's limit: it comes back with a full bucket, so eviction errs on
 *    the generous side, and the global bucket bounds what everyone gets together.
 *  - Keeping an entry from going idle costs its source `rate` bytes a second of replies
 *    actually charged, and everything charged also comes out of the global bucket. So in
 *    the steady state at most global_rate / rate entries are busy at once (25 with
 *    tokexd's defaults): the table cannot be kept full of busy entries, only churned
 *    through idle ones, which is free.
 *
 * Invariants:
 *  1. 0 <= tok <= cap for every bucket; md_lim_spend() never takes more than the last
 *     md_lim_check() granted (the caller's contract), so tokens never go below 0.
 *  2. An address is in at most one entry: check() looks for it in its set before it
 *     takes an entry, and only check() takes entries.
 *  3. A grant is valid until the next md_lim_check() (which may reuse its entry).
 */
#ifndef TOKEX_MD_LIM_H
#define TOKEX_MD_LIM_H

#include <stddef.h>
#include <stdint.h>

#define MD_LIM_WAYS 8u
#define MD_LIM_MAX_SOURCES (1u << 20)
#define MD_LIM_MAX_BURST (1u << 30) /* bytes; x 10^9 stays far below 2^64 */

struct md_lim_params {
	uint32_t sources;      /* entries, power of two, MD_LIM_WAYS..MD_LIM_MAX_SOURCES */
	uint32_t rate;         /* bytes per second per source; 0 = no per-source limit */
	uint32_t burst;        /* per-source depth, 1..MD_LIM_MAX_BURST when rate > 0 */
	uint32_t global_rate;  /* bytes per second, all sources; 0 = no global limit */
	uint32_t global_burst; /* its depth, 1..MD_LIM_MAX_BURST when global_rate > 0 */
	uint64_t seed;         /* keys the hash (tokexd: random at start) */
};

/* How a source was found by md_lim_check(). */
enum md_lim_how {
	MD_LIM_FOUND = 0,   /* it had an entry */
	MD_LIM_NEW = 1,     /* it took an idle entry (or there is no per-source limit) */
	MD_LIM_EVICTED = 2, /* it took a busy entry: its source's limit starts over */
};

/* What a source may be sent now, in bytes (UINT64_MAX where there is no limit). */
struct md_lim_grant {
	uint64_t src;    /* its own bucket */
	uint64_t global; /* the global bucket */
	uint32_t entry;  /* for md_lim_spend() */
	uint8_t how;     /* enum md_lim_how */
};

struct md_lim;

/* Bytes md_lim_init() needs; 0 and errno EINVAL when p is invalid. */
size_t md_lim_memsize(const struct md_lim_params *p);

/* Lays the limiter out in mem (64-byte aligned, len >= md_lim_memsize(p)): every bucket
 * full, no source known. NULL and errno EINVAL on bad arguments. */
struct md_lim *md_lim_init(void *mem, size_t len, const struct md_lim_params *p);

/* Refills the source's bucket and the global one to now and fills g (the source gets an
 * entry if it had none, see above). */
void md_lim_check(struct md_lim *l, uint32_t addr, uint64_t now, struct md_lim_grant *g);

/* Takes bytes (<= what g granted, invariant 1) from the source's bucket and the global one. */
void md_lim_spend(struct md_lim *l, const struct md_lim_grant *g, uint64_t bytes);

#endif
