/*
 * me_snap.c - a book's state as one snapshot section, and back; see me_snap.h.
 *
 * Runs on the core that owns the book. Saving walks the book (me_book_walk, then
 * me_book_walk_held) into the caller's buffer; loading puts each order back with
 * me_book_restore(), which keeps every saved property: the tif (POST and DAY stay what
 * they were), an iceberg's show and visible part, a crossed auction book, orders outside
 * the current band (resting orders survive a band change), each level's time order (a
 * restore appends at the back of its level; the walk gives each level oldest first) and
 * the held stops' arrival order. Then last trade price, band, guard and auction flag are
 * set as saved. Only the public API of me_book.h is used (and me_book_params()).
 */
#include "me_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

size_t me_snap_bound(const struct me_params *p)
{
	/* Resting and held orders share the pool: at most max_orders of both together. */
	return sizeof(struct me_snap_hdr) + (size_t)p->max_orders * sizeof(struct me_snap_order);
}

struct me_snap_walk {
	struct dp_snap_w *w;
	uint32_t n;
};

static int me_snap_walk_cb(void *arg, const struct me_order_view *o)
{
	struct me_snap_walk *sw = arg;
	struct me_snap_order *r = dp_snap_w_take(sw->w, sizeof(*r));
	if (r == NULL)
		return 1; /* out of room: stop, the caller reports -ENOBUFS */
	r->id = o->id;
	r->price = o->price;
	r->qty = o->qty;
	r->owner = o->owner;
	r->user = o->user;
	r->side = o->side;
	r->tif = o->tif;
	memset(r->pad, 0, sizeof(r->pad));
	r->show = o->show;
	r->visible = o->visible;
	r->stop = o->stop;
	sw->n++;
	return 0;
}

int64_t me_snap_save(const struct me_book *b, struct dp_snap_w *w)
{
	struct me_params p;
	size_t at = w->len;
	struct me_snap_hdr *h = (struct me_snap_hdr *)dp_snap_sect_begin(w, sizeof(*h),
									 ME_SNAP_MAGIC,
									 ME_SNAP_VERSION);
	if (h == NULL || me_book_params(b, &p) < 0)
		return -ENOBUFS;
	h->price_lo = p.price_lo;
	h->price_hi = p.price_hi;
	h->tick = p.tick;
	h->max_qty = p.max_qty;
	h->max_orders = p.max_orders;
	me_book_band(b, &h->band_lo, &h->band_hi);
	me_book_guard(b, &h->guard_lo, &h->guard_hi);
	h->auction = (uint8_t)me_book_auction(b);
	h->last_px = me_book_last_price(b);
	struct me_snap_walk sw = { w, 0 };
	me_book_walk(b, me_snap_walk_cb, &sw);
	if (w->err)
		return w->err;
	h->count = sw.n;
	sw.n = 0;
	me_book_walk_held(b, me_snap_walk_cb, &sw);
	if (w->err)
		return w->err;
	h->nheld = sw.n;
	return dp_snap_sect_end(w, &h->s, at);
}

/* The lowest grid price above 0 (the band's floor must be > 0), or 0 when none lies in
 * the level array. */
static int64_t me_snap_floor(const struct me_params *p)
{
	if (p->price_lo >= 1)
		return p->price_lo;
	uint64_t steps = ((uint64_t)1 - (uint64_t)p->price_lo + (uint64_t)p->tick - 1) /
			 (uint64_t)p->tick;
	int64_t f = (int64_t)((uint64_t)p->price_lo + steps * (uint64_t)p->tick);
	return f <= p->price_hi ? f : 0;
}

/* Header, parameters and every order checked against p: 0 or a negative errno with err
 * set. */
static int me_snap_validate(const struct me_params *p, const void *buf, size_t len,
			    struct me_snap_hdr *h, char *err, size_t errlen)
{
	struct dp_snap_sect s;
	if (len >= sizeof(s)) {
		memcpy(&s, buf, sizeof(s));
		if (s.magic == ME_SNAP_MAGIC && s.version != ME_SNAP_VERSION) {
			snprintf(err, errlen, "book snapshot: format version %u, this build reads "
				 "only version %u (%s): recover from a snapshot written by this "
				 "build, or replay the journal from the start", (unsigned)s.version,
				 (unsigned)ME_SNAP_VERSION,
				 s.version < ME_SNAP_VERSION ? "version 1 predates icebergs and stop "
							       "orders" : "written by a newer build");
			return -EPROTO;
		}
	}
	int rc = dp_snap_sect_check(buf, len, ME_SNAP_MAGIC, ME_SNAP_VERSION, sizeof(*h), "book",
				    &s, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(h, buf, sizeof(*h));
	if (me_book_memsize(p) == 0) {
		snprintf(err, errlen, "book snapshot: the target's book parameters are invalid");
		return -EINVAL;
	}
	if (h->price_lo != p->price_lo || h->price_hi != p->price_hi || h->tick != p->tick ||
	    h->max_qty != p->max_qty || h->max_orders != p->max_orders) {
		snprintf(err, errlen, "book snapshot: saved for a book of prices [%" PRId64 ", %"
			 PRId64 "] tick %" PRId64 " max_qty %" PRId64 " max_orders %u, this one "
			 "is [%" PRId64 ", %" PRId64 "] tick %" PRId64 " max_qty %" PRId64
			 " max_orders %u: another configuration", h->price_lo, h->price_hi, h->tick,
			 h->max_qty, (unsigned)h->max_orders, p->price_lo, p->price_hi, p->tick,
			 p->max_qty, (unsigned)p->max_orders);
		return -EINVAL;
	}
	const uint64_t total = (uint64_t)h->count + h->nheld;
	if (total > h->max_orders ||
	    h->s.len != sizeof(*h) + total * sizeof(struct me_snap_order)) {
		snprintf(err, errlen, "book snapshot: %u orders and %u held stop orders do not "
			 "match its length %" PRIu64 " (max_orders %u): corrupt",
			 (unsigned)h->count, (unsigned)h->nheld, h->s.len, (unsigned)h->max_orders);
		return -EBADMSG;
	}
	int64_t floor = me_snap_floor(p);
	if (h->band_lo <= 0 || h->band_lo > h->band_hi || h->band_lo < p->price_lo ||
	    h->band_hi > p->price_hi || h->guard_lo > h->guard_hi || h->auction > 1 ||
	    h->last_px < 0 || (total && floor == 0)) {
		snprintf(err, errlen, "book snapshot: band [%" PRId64 ", %" PRId64 "] or guard [%"
			 PRId64 ", %" PRId64 "] outside the book: corrupt", h->band_lo, h->band_hi,
			 h->guard_lo, h->guard_hi);
		return -EBADMSG;
	}
	const uint8_t *o = (const uint8_t *)buf + sizeof(*h);
	for (uint64_t i = 0; i < total; i++, o += sizeof(struct me_snap_order)) {
		struct me_snap_order r;
		memcpy(&r, o, sizeof(r));
		const bool held = i >= h->count;
		bool ok = (r.side == ME_BUY || r.side == ME_SELL) && r.qty > 0 &&
			  r.qty <= p->max_qty && r.price >= floor && r.price <= p->price_hi &&
			  ((uint64_t)r.price - (uint64_t)p->price_lo) % (uint64_t)p->tick == 0 &&
			  r.show >= 0;
		if (held)
			ok = ok && r.stop > 0 && r.show == 0 && r.visible == r.qty &&
			     r.tif <= ME_DAY && r.tif != ME_POST;
		else
			ok = ok && r.stop == 0 &&
			     (r.tif == ME_GTC || r.tif == ME_POST || r.tif == ME_DAY) &&
			     (r.show > 0 ? r.visible > 0 && r.visible <= r.show && r.visible <= r.qty
					 : r.visible == r.qty);
		if (!ok) {
			snprintf(err, errlen, "book snapshot: %s %u (id %" PRId64 " side %u tif %u "
				 "price %" PRId64 " qty %" PRId64 " show %" PRId64 " visible %" PRId64
				 " stop %" PRId64 ") cannot be in this book: corrupt",
				 held ? "held stop order" : "order",
				 (unsigned)(held ? i - h->count : i), r.id, (unsigned)r.side,
				 (unsigned)r.tif, r.price, r.qty, r.show, r.visible, r.stop);
			return -EBADMSG;
		}
	}
	return 0;
}

int me_snap_check_params(const struct me_params *p, const void *buf, size_t len, char *err,
			 size_t errlen)
{
	struct me_snap_hdr h;
	return me_snap_validate(p, buf, len, &h, err, errlen);
}

/* me_snap_validate() against b's parameters, and b empty. */
static int me_snap_validate_book(const struct me_book *b, const void *buf, size_t len,
				 struct me_snap_hdr *h, struct me_params *p, char *err,
				 size_t errlen)
{
	if (me_book_params(b, p) < 0) {
		snprintf(err, errlen, "book snapshot: no target book");
		return -EINVAL;
	}
	int rc = me_snap_validate(p, buf, len, h, err, errlen);
	if (rc < 0)
		return rc;
	if (me_book_count(b) != 0) {
		snprintf(err, errlen, "book snapshot: the target book holds %u orders (load into a "
			 "fresh book)", (unsigned)me_book_count(b));
		return -EBUSY;
	}
	return 0;
}

int me_snap_check(const struct me_book *b, const void *buf, size_t len, char *err,
		  size_t errlen)
{
	struct me_snap_hdr h;
	struct me_params p;
	return me_snap_validate_book(b, buf, len, &h, &p, err, errlen);
}

int me_snap_load(struct me_book *b, const void *buf, size_t len, char *err, size_t errlen)
{
	struct me_snap_hdr h;
	struct me_params p;
	int rc = me_snap_validate_book(b, buf, len, &h, &p, err, errlen);
	if (rc < 0)
		return rc;
	/* Auction mode while loading: a saved auction book may be crossed. */
	me_book_set_auction(b, 1);
	const uint64_t total = (uint64_t)h.count + h.nheld;
	const uint8_t *o = (const uint8_t *)buf + sizeof(h);
	uint64_t i;
	for (i = 0; i < total; i++, o += sizeof(struct me_snap_order)) {
		struct me_snap_order r;
		memcpy(&r, o, sizeof(r));
		struct me_order_view v = {
			.id = r.id, .price = r.price, .qty = r.qty, .owner = r.owner, .user = r.user,
			.side = r.side, .tif = r.tif, .show = r.show, .visible = r.visible,
			.stop = r.stop,
		};
		if (me_book_restore(b, &v) != 0)
			break; /* a duplicate id: the one thing validation cannot see */
	}
	if (i == total && me_book_set_last_price(b, h.last_px) == 0 &&
	    me_book_set_band(b, h.band_lo, h.band_hi) == 0 &&
	    me_book_set_guard(b, h.guard_lo, h.guard_hi) == 0 &&
	    (h.auction || me_book_set_auction(b, 0) == 0))
		return 0;
	snprintf(err, errlen, "book snapshot: order %u of %u was refused (a duplicate id) or the "
		 "book would be crossed outside an auction: corrupt", (unsigned)i,
		 (unsigned)total);
	size_t need = me_book_memsize(&p);
	me_book_init(b, need, &p); /* never half loaded: empty again */
	return -EBADMSG;
}
