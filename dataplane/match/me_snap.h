/*
 * me_snap.h - a book's state as one snapshot section, and back (issue 6: recovery
 * replays the journal from the newest snapshot).
 *
 * Role: called by the matching core's snapshot code (mc_snap.c) on the core that owns the
 * book: me_snap_save() on tokexd's RX core between two loop passes (no allocation, no
 * system call, O(resting orders)), me_snap_check()/me_snap_load() at start, before any
 * traffic.
 *
 * What a section holds (semantic, not a memory image: the book's buffer is full of
 * pointers and of free pool slots): the book's parameters (me_book_params()), its band,
 * its price guard, its auction flag, the last trade price (a stop order arriving after a
 * restart is elected against it), every resting order (id, side, price, remaining qty,
 * owner, user word, tif, an iceberg's show and visible part) in me_book_walk() order:
 * bids best price first, then asks, each level oldest first; then every held stop order
 * (limit price, stop price, ...) in arrival order. me_snap_load() restores them
 * (me_book_restore()) into an empty book of the same parameters in that order, so each
 * level's time priority and the stops' arrival order are the ones saved; the pool slots
 * and the id index come out laid differently, which nothing observable depends on
 * (events, walk order, FULL and uncross results depend on levels and counts only).
 *
 * Layout (format version 2): struct me_snap_hdr, then count + nheld struct
 * me_snap_order (72 bytes each), resting orders first. Version 1 (before icebergs and
 * stop orders: 48-byte orders, no last price) is refused with a message that says so.
 * Errors (negative errno, reason in err): -EBADMSG not a book section, truncated or
 * inconsistent; -EPROTO another format version; -EINVAL saved for a book of other
 * parameters; -EBUSY the target book is not empty. A failed load leaves the book empty
 * (re-initialised), never half loaded.
 */
#ifndef TOKEX_ME_SNAP_H
#define TOKEX_ME_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_snap.h"
#include "me_book.h"

#define ME_SNAP_MAGIC 0x4b424d54u /* "TMBK" */
#define ME_SNAP_VERSION 2

struct me_snap_hdr {
	struct dp_snap_sect s;
	int64_t price_lo, price_hi, tick, max_qty; /* me_book_params() */
	uint32_t max_orders;
	uint32_t count;     /* resting orders that follow */
	int64_t band_lo, band_hi;
	int64_t guard_lo, guard_hi;
	uint8_t auction;
	uint8_t pad[3];
	uint32_t nheld;     /* held stop orders that follow the resting ones */
	int64_t last_px;    /* me_book_last_price() */
};
_Static_assert(sizeof(struct me_snap_hdr) == 104, "me_snap_hdr layout");

struct me_snap_order {
	int64_t id;
	int64_t price; /* a held stop order's limit price */
	int64_t qty;   /* remaining */
	uint64_t owner;
	uint64_t user;
	uint8_t side;
	uint8_t tif;
	uint8_t pad[6];
	int64_t show;    /* an iceberg's display quantity, else 0 */
	int64_t visible; /* an iceberg's visible part, else qty */
	int64_t stop;    /* a held stop order's trigger price, else 0 */
};
_Static_assert(sizeof(struct me_snap_order) == 72, "me_snap_order layout");

/* The parameters b was laid out with (price_hi = its last level): 0, -EINVAL for NULL.
 * Defined in me_book.c. */
int me_book_params(const struct me_book *b, struct me_params *p);

/* Bytes a section of a book with these parameters may need (every pool slot used). */
size_t me_snap_bound(const struct me_params *p);

/* Appends b's section to w: the bytes written, or -ENOBUFS (w->len then says how much it
 * needed). RX core: no allocation, no system call. */
int64_t me_snap_save(const struct me_book *b, struct dp_snap_w *w);

/* Checks the section at buf[0, len) against the parameters p alone, as me_book_params()
 * gives them (the book may not exist yet): 0 or a negative errno as above. */
int me_snap_check_params(const struct me_params *p, const void *buf, size_t len, char *err,
			 size_t errlen);

/* Checks the section at buf[0, len) against b (same parameters, orders in range, b
 * empty) without changing anything: 0 or a negative errno as above. len may exceed the
 * section (the rest is the caller's); the section's own length is in its header. */
int me_snap_check(const struct me_book *b, const void *buf, size_t len, char *err,
		  size_t errlen);

/* me_snap_check(), then puts the saved orders, held stop orders, last trade price, band,
 * guard and auction flag into b. */
int me_snap_load(struct me_book *b, const void *buf, size_t len, char *err, size_t errlen);

#endif /* TOKEX_ME_SNAP_H */
