/*
 * md_snap.c - the market-data publisher's recoverable state as one snapshot section, and
 * back; see md_snap.h for what is captured and the layout.
 *
 * Runs on the publisher's owner thread: saving on tokexd's RX core between loop passes
 * (no allocation, lock or system call), checking and loading at start. The private
 * fields are read and written through md_pub.c's md__snap_* functions.
 */
#include "md_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

size_t md_snap_bound(const struct md_pub *p)
{
	uint32_t room;
	uint64_t fp;
	md__snap_room(p, &room, &fp);
	uint32_t depth, max_orders, n_orders;
	uint64_t prio;
	md__snap_books(p, &depth, &max_orders, &n_orders, &prio);
	return sizeof(struct md_snap_hdr) + (size_t)room * sizeof(struct md_snap_contract) +
	       sizeof(struct md_snap_books) +
	       (size_t)room * (sizeof(struct md_snap_book) + 4 * depth * sizeof(int64_t)) +
	       (size_t)max_orders * sizeof(struct md_snap_order);
}

static int md_snap_put_order(void *arg, const struct md_snap_order *o)
{
	dp_snap_w_put(arg, o, sizeof(*o));
	return 0;
}

/* The section's length for n contracts, depth levels and n_orders orders. */
static uint64_t md_snap_len(uint32_t n, uint32_t depth, uint32_t n_orders)
{
	return sizeof(struct md_snap_hdr) + (uint64_t)n * sizeof(struct md_snap_contract) +
	       sizeof(struct md_snap_books) +
	       (uint64_t)n * (sizeof(struct md_snap_book) + 4ull * depth * sizeof(int64_t)) +
	       (uint64_t)n_orders * sizeof(struct md_snap_order);
}

int64_t md_snap_save(const struct md_pub *p, struct dp_snap_w *w)
{
	uint64_t next;
	uint32_t n;
	int fresh;
	size_t at = w->len;
	md__snap_info(p, &next, &n, &fresh);
	struct md_snap_hdr *h = (struct md_snap_hdr *)dp_snap_sect_begin(w, sizeof(*h), MD_SNAP_MAGIC,
								 MD_SNAP_VERSION);
	if (h == NULL)
		return -ENOBUFS;
	h->next_seq = next;
	h->n_contracts = n;
	h->config = (uint32_t)md_snap_config(p);
	for (uint32_t i = 0; i < n; i++) {
		struct md_snap_contract *c = dp_snap_w_take(w, sizeof(*c));
		if (c == NULL)
			return -ENOBUFS;
		md__snap_contract(p, i, c);
	}
	struct md_snap_books bh;
	memset(&bh, 0, sizeof(bh));
	uint32_t max_orders;
	md__snap_books(p, &bh.depth, &max_orders, &bh.n_orders, &bh.prio_seq);
	dp_snap_w_put(w, &bh, sizeof(bh));
	for (uint32_t i = 0; i < n; i++) {
		struct md_snap_book b;
		int64_t lv[4 * MD_DEPTH_MAX];
		md__snap_book(p, i, &b, lv);
		dp_snap_w_put(w, &b, sizeof(b));
		dp_snap_w_put(w, lv, 4 * bh.depth * sizeof(int64_t));
	}
	md__snap_orders(p, md_snap_put_order, w);
	if (w->err)
		return w->err;
	return dp_snap_sect_end(w, &h->s, at);
}

static int md_snap_validate(const struct md_pub *p, const void *buf, size_t len,
			    struct md_snap_hdr *h, char *err, size_t errlen)
{
	struct dp_snap_sect s;
	uint64_t next;
	uint32_t n;
	int fresh;
	int rc = dp_snap_sect_check(buf, len, MD_SNAP_MAGIC, MD_SNAP_VERSION, sizeof(*h),
				    "market data", &s, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(h, buf, sizeof(*h));
	md__snap_info(p, &next, &n, &fresh);
	struct md_snap_books bh;
	size_t bh_at = sizeof(*h) + (size_t)h->n_contracts * sizeof(struct md_snap_contract);
	uint32_t depth, max_orders, n_orders;
	uint64_t prio;
	md__snap_books(p, &depth, &max_orders, &n_orders, &prio);
	if (h->s.len < bh_at + sizeof(bh)) {
		snprintf(err, errlen, "market data snapshot: %u contracts do not match its length "
			 "%" PRIu64 ": corrupt", (unsigned)h->n_contracts, h->s.len);
		return -EBADMSG;
	}
	memcpy(&bh, (const uint8_t *)buf + bh_at, sizeof(bh));
	if (bh.depth > MD_DEPTH_MAX ||
	    h->s.len != md_snap_len(h->n_contracts, bh.depth, bh.n_orders) || h->next_seq == 0) {
		snprintf(err, errlen, "market data snapshot: %u contracts do not match its length "
			 "%" PRIu64 ": corrupt", (unsigned)h->n_contracts, h->s.len);
		return -EBADMSG;
	}
	uint32_t room;
	uint64_t fp;
	md__snap_room(p, &room, &fp);
	if (h->config != (uint32_t)fp || h->n_contracts > room) {
		snprintf(err, errlen, "market data snapshot: saved by a publisher started with "
			 "other contracts or room (%u contracts saved, room for %u here): another "
			 "configuration", (unsigned)h->n_contracts, (unsigned)room);
		return -EINVAL;
	}
	if (bh.depth != depth || bh.n_orders > max_orders) {
		snprintf(err, errlen, "market data snapshot: saved with %u depth levels and %u "
			 "orders in the books (here %u levels, room for %u orders): another "
			 "configuration (md.depth, md.orders, md.book_orders)", (unsigned)bh.depth,
			 (unsigned)bh.n_orders, (unsigned)depth, (unsigned)max_orders);
		return -EINVAL;
	}
	const uint8_t *b = (const uint8_t *)buf + sizeof(*h);
	for (uint32_t i = 0; i < h->n_contracts; i++) {
		struct md_snap_contract c;
		memcpy(&c, b + (size_t)i * sizeof(c), sizeof(c));
		if (c.id == 0 || c.phase > TKX_PHASE_DELISTED) {
			snprintf(err, errlen, "market data snapshot: entry %u (contract %u, phase "
				 "%u): corrupt", (unsigned)i, (unsigned)c.id, (unsigned)c.phase);
			return -EBADMSG;
		}
		for (uint32_t j = 0; j < i; j++) {
			struct md_snap_contract o;
			memcpy(&o, b + (size_t)j * sizeof(o), sizeof(o));
			if (o.id == c.id) {
				snprintf(err, errlen, "market data snapshot: contract %u twice: "
					 "corrupt", (unsigned)c.id);
				return -EBADMSG;
			}
		}
	}
	(void)n;
	if (!fresh) {
		snprintf(err, errlen, "market data snapshot: the target publisher has published "
			 "(load into a fresh one)");
		return -EBUSY;
	}
	return 0;
}

int md_snap_check(const struct md_pub *p, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen)
{
	struct md_snap_hdr h;
	int rc = md_snap_validate(p, buf, len, &h, err, errlen);
	if (rc == 0 && used)
		*used = (size_t)h.s.len;
	return rc;
}

int md_snap_load(struct md_pub *p, const void *buf, size_t len, size_t *used, char *err,
		 size_t errlen)
{
	struct md_snap_hdr h;
	int rc = md_snap_validate(p, buf, len, &h, err, errlen);
	if (rc < 0)
		return rc;
	const uint8_t *b = (const uint8_t *)buf + sizeof(h);
	for (uint32_t i = 0; i < h.n_contracts; i++) {
		struct md_snap_contract c;
		memcpy(&c, b + (size_t)i * sizeof(c), sizeof(c));
		md__snap_set_contract(p, i, &c);
	}
	md__snap_set_count(p, h.n_contracts);
	md__snap_set_seq(p, h.next_seq);
	/* The books: each contract's definition and levels, then the orders. */
	struct md_snap_books bh;
	const uint8_t *q = b + (size_t)h.n_contracts * sizeof(struct md_snap_contract);
	memcpy(&bh, q, sizeof(bh));
	q += sizeof(bh);
	for (uint32_t i = 0; i < h.n_contracts; i++) {
		struct md_snap_book bk;
		int64_t lv[4 * MD_DEPTH_MAX];
		memcpy(&bk, q, sizeof(bk));
		q += sizeof(bk);
		memcpy(lv, q, 4 * bh.depth * sizeof(int64_t));
		q += 4 * bh.depth * sizeof(int64_t);
		md__snap_set_book(p, i, &bk, lv, bh.prio_seq);
	}
	for (uint32_t i = 0; i < bh.n_orders; i++) {
		struct md_snap_order o;
		memcpy(&o, q, sizeof(o));
		q += sizeof(o);
		int rc2 = md__snap_put_order(p, &o);
		if (rc2 < 0) {
			snprintf(err, errlen, "market data snapshot: order %" PRIu64 " of contract "
				 "%u: %s: corrupt", o.id, (unsigned)o.contract_id,
				 rc2 == -EEXIST ? "twice" : rc2 == -ENOENT ? "no such contract"
							   : "no room");
			return -EBADMSG; /* the publisher is then unusable: start afresh */
		}
	}
	if (used)
		*used = (size_t)h.s.len;
	return 0;
}

uint64_t md_snap_config(const struct md_pub *p)
{
	uint32_t room;
	uint64_t fp;
	md__snap_room(p, &room, &fp);
	return fp;
}
