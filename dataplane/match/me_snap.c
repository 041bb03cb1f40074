/*
 * me_snap.c - a book's state as one snapshot section, and back; see me_snap.h.
 *
 * Runs on the core that owns the book. Saving walks the book (me_book_walk) into the
 * caller's buffer; loading re-enters the orders through me_book_apply() with the book in
 * auction mode and its band opened to the whole level array, which is the one way into
 * the engine that keeps every saved property: the tif (POST stays POST, me_book_seed()
 * would make it GTC), a crossed auction book (me_book_seed() refuses to cross), orders
 * outside the current band (resting orders survive a band change), and each level's
 * time order (NEW appends at the back of its level; the walk gives each level oldest
 * first). Then band, guard and auction flag are set as saved. Only the public API of
 * me_book.h is used (and me_book_params()).
 */
#include "me_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

size_t me_snap_bound(const struct me_params *p)
{
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
	struct me_snap_walk sw = { w, 0 };
	me_book_walk(b, me_snap_walk_cb, &sw);
	if (w->err)
		return w->err;
	h->count = sw.n;
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
	if (h->count > h->max_orders ||
	    h->s.len != sizeof(*h) + (uint64_t)h->count * sizeof(struct me_snap_order)) {
		snprintf(err, errlen, "book snapshot: %u orders do not match its length %" PRIu64
			 " (max_orders %u): corrupt", (unsigned)h->count, h->s.len,
			 (unsigned)h->max_orders);
		return -EBADMSG;
	}
	int64_t floor = me_snap_floor(p);
	if (h->band_lo <= 0 || h->band_lo > h->band_hi || h->band_lo < p->price_lo ||
	    h->band_hi > p->price_hi || h->guard_lo > h->guard_hi || h->auction > 1 ||
	    (h->count && floor == 0)) {
		snprintf(err, errlen, "book snapshot: band [%" PRId64 ", %" PRId64 "] or guard [%"
			 PRId64 ", %" PRId64 "] outside the book: corrupt", h->band_lo, h->band_hi,
			 h->guard_lo, h->guard_hi);
		return -EBADMSG;
	}
	const uint8_t *o = (const uint8_t *)buf + sizeof(*h);
	for (uint32_t i = 0; i < h->count; i++, o += sizeof(struct me_snap_order)) {
		struct me_snap_order r;
		memcpy(&r, o, sizeof(r));
		if ((r.side != ME_BUY && r.side != ME_SELL) || (r.tif != ME_GTC && r.tif != ME_POST) ||
		    r.qty <= 0 || r.qty > p->max_qty || r.price < floor || r.price > p->price_hi ||
		    ((uint64_t)r.price - (uint64_t)p->price_lo) % (uint64_t)p->tick != 0) {
			snprintf(err, errlen, "book snapshot: order %u (id %" PRId64 " side %u tif %u "
				 "price %" PRId64 " qty %" PRId64 ") cannot rest in this book: corrupt",
				 (unsigned)i, r.id, (unsigned)r.side, (unsigned)r.tif, r.price, r.qty);
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

/* The sink of the re-entered NEWs: each must give exactly one ACCEPT. */
struct me_snap_sink {
	struct me_sink s;
	struct me_event ev[4];
	uint32_t accepts, others;
};

static void me_snap_flush(struct me_sink *s)
{
	struct me_snap_sink *k = s->arg;
	for (uint32_t i = 0; i < s->n; i++) {
		if (s->ev[i].type == ME_EV_ACCEPT)
			k->accepts++;
		else
			k->others++;
	}
	s->n = 0;
}

int me_snap_load(struct me_book *b, const void *buf, size_t len, char *err, size_t errlen)
{
	struct me_snap_hdr h;
	struct me_params p;
	int rc = me_snap_validate_book(b, buf, len, &h, &p, err, errlen);
	if (rc < 0)
		return rc;
	struct me_snap_sink k;
	memset(&k, 0, sizeof(k));
	k.s.ev = k.ev;
	k.s.cap = 4;
	k.s.flush = me_snap_flush;
	k.s.arg = &k;
	/* Open everything up: no guard, auction (rests without matching, crossed or not),
	 * the band the whole array. */
	me_book_set_guard(b, 0, INT64_MAX);
	me_book_set_auction(b, 1);
	if (h.count)
		me_book_set_band(b, me_snap_floor(&p), p.price_hi);
	const uint8_t *o = (const uint8_t *)buf + sizeof(h);
	uint32_t i;
	for (i = 0; i < h.count; i++, o += sizeof(struct me_snap_order)) {
		struct me_snap_order r;
		memcpy(&r, o, sizeof(r));
		struct me_cmd c = {
			.type = ME_CMD_NEW, .side = r.side, .tif = r.tif, .id = r.id,
			.price = r.price, .qty = r.qty, .owner = r.owner, .user = r.user,
		};
		me_book_apply(b, &c, &k.s);
		me_snap_flush(&k.s);
		if (k.others || k.accepts != i + 1)
			break; /* a duplicate id: the one thing validation cannot see */
	}
	if (i == h.count && me_book_set_band(b, h.band_lo, h.band_hi) == 0 &&
	    me_book_set_guard(b, h.guard_lo, h.guard_hi) == 0 &&
	    (h.auction || me_book_set_auction(b, 0) == 0))
		return 0;
	snprintf(err, errlen, "book snapshot: order %u of %u was refused (a duplicate id) or the "
		 "book would be crossed outside an auction: corrupt", (unsigned)i,
		 (unsigned)h.count);
	size_t need = me_book_memsize(&p);
	me_book_init(b, need, &p); /* never half loaded: empty again */
	return -EBADMSG;
}
