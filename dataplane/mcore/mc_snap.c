/*
 * mc_snap.c - a matching core's state as one snapshot section, and back; see mc_snap.h
 * for what is captured and the layout.
 *
 * Runs on the core's thread: saving on tokexd's RX core between loop passes (copies into
 * the caller's preallocated buffer; no allocation, lock or system call), checking and
 * loading at start. The private fields are read and written through mc_core.c's
 * mc__snap_* functions; the books through me_snap.h.
 */
#include "mc_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tokex/proto.h>

/* The most orders any book laid out in mem_len bytes can hold (one price level; the
 * memory grows with max_orders, so a binary search over me_book_memsize() finds it). */
static uint32_t mc_snap_slot_orders(uint64_t mem_len)
{
	struct me_params p = { .price_lo = 1, .price_hi = 1, .tick = 1, .max_qty = 1,
			       .max_orders = 1 };
	if (me_book_memsize(&p) > mem_len)
		return 0;
	uint32_t lo = 1, hi = ME_MAX_ORDERS;
	while (lo < hi) {
		uint32_t mid = lo + (hi - lo + 1) / 2;
		p.max_orders = mid;
		size_t m = me_book_memsize(&p);
		if (m && m <= mem_len)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

size_t mc_snap_bound(const struct mc_core *mc)
{
	struct mc_snap_core c;
	mc__snap_core(mc, &c);
	size_t n = sizeof(struct mc_snap_hdr);
	for (uint32_t i = 0; i < c.cap; i++) {
		struct mc_snap_slot k;
		const struct me_book *b;
		mc__snap_slot(mc, i, &k, &b);
		/* Whatever contract a LIST puts in this slot later, its book fits mem_len. */
		n += sizeof(k) + sizeof(struct me_snap_hdr) +
		     (size_t)mc_snap_slot_orders(k.mem_len) * sizeof(struct me_snap_order);
	}
	n += (size_t)c.acct_max * (sizeof(struct mc_snap_acct) +
				   (size_t)c.cap * sizeof(struct mc_position));
	n += (size_t)c.trk_max * sizeof(struct mc_snap_trk);
	n += (size_t)c.det_srcs * c.det_sessions * sizeof(struct mc_snap_det);
	return n;
}

int64_t mc_snap_save(const struct mc_core *mc, struct dp_snap_w *w)
{
	struct mc_snap_core c;
	size_t at = w->len;
	mc__snap_core(mc, &c);
	struct mc_snap_hdr *h = (struct mc_snap_hdr *)dp_snap_sect_begin(w, sizeof(*h), MC_SNAP_MAGIC,
								 MC_SNAP_VERSION);
	if (h == NULL)
		return -ENOBUFS;
	h->cap = c.cap;
	h->acct_max = c.acct_max;
	h->trk_max = c.trk_max;
	h->n_acct = c.n_acct;
	h->order_seq = c.order_seq;
	h->st = c.st;
	h->det_srcs = c.det_srcs;
	h->det_sessions = c.det_sessions;
	for (uint32_t i = 0; i < c.cap; i++) {
		struct mc_snap_slot k;
		const struct me_book *b;
		mc__snap_slot(mc, i, &k, &b);
		dp_snap_w_put(w, &k, sizeof(k));
		if (b) {
			h->n_listed++;
			if (me_snap_save(b, w) < 0)
				return -ENOBUFS;
		}
	}
	for (uint32_t i = 0; i < c.n_acct; i++) {
		struct mc_snap_acct a;
		mc__snap_acct(mc, i, &a);
		dp_snap_w_put(w, &a, sizeof(a));
	}
	for (uint32_t i = 0; i < c.n_acct; i++)
		for (uint32_t s = 0; s < c.cap; s++)
			dp_snap_w_put(w, mc__snap_pos(mc, i, s), sizeof(struct mc_position));
	for (uint64_t x = 0; x < c.trk_slots && c.n_trk; x++) {
		struct mc_snap_trk t;
		if (mc__snap_trk(mc, x, &t)) {
			dp_snap_w_put(w, &t, sizeof(t));
			h->n_trk++;
		}
	}
	for (uint32_t i = 0; c.n_det && i < c.det_srcs * c.det_sessions; i++) {
		struct mc_snap_det d = { .index = i };
		if (mc__snap_det(mc, i, &d.last)) {
			dp_snap_w_put(w, &d, sizeof(d));
			h->n_det++;
		}
	}
	if (w->err)
		return w->err;
	return dp_snap_sect_end(w, &h->s, at);
}

/* Where each part of a checked section starts. */
struct mc_snap_map {
	struct mc_snap_hdr h;
	size_t slots;  /* offset of the first slot record */
	size_t accts;  /* offset of the account records */
	size_t pos;
	size_t trk;
	size_t det;
};

/* Checks everything without changing mc. */
static int mc_snap_validate(const struct mc_core *mc, const void *buf, size_t len,
			    struct mc_snap_map *m, char *err, size_t errlen)
{
	struct mc_snap_core c;
	struct dp_snap_sect s;
	struct dp_snap_r r;
	struct mc_snap_hdr *h = &m->h;
	int rc = dp_snap_sect_check(buf, len, MC_SNAP_MAGIC, MC_SNAP_VERSION, sizeof(*h),
				    "matching core", &s, err, errlen);
	if (rc < 0)
		return rc;
	dp_snap_r_init(&r, buf, (size_t)s.len);
	dp_snap_r_get(&r, h, sizeof(*h));
	mc__snap_core(mc, &c);
	if (h->cap != c.cap || h->acct_max != c.acct_max || h->trk_max != c.trk_max) {
		snprintf(err, errlen, "matching core snapshot: saved by a core of %u contract "
			 "slots, %u accounts, %u followed orders; this one has %u, %u, %u: another "
			 "configuration", (unsigned)h->cap, (unsigned)h->acct_max,
			 (unsigned)h->trk_max, (unsigned)c.cap, (unsigned)c.acct_max,
			 (unsigned)c.trk_max);
		return -EINVAL;
	}
	if (h->det_srcs != c.det_srcs || h->det_sessions != c.det_sessions) {
		snprintf(err, errlen, "matching core snapshot: saved by a core with a detach table "
			 "of %u x %u sessions; this one has %u x %u: another configuration",
			 (unsigned)h->det_srcs, (unsigned)h->det_sessions, (unsigned)c.det_srcs,
			 (unsigned)c.det_sessions);
		return -EINVAL;
	}
	if (h->n_acct > h->acct_max || h->n_trk > h->trk_max || h->n_listed > h->cap ||
	    h->n_det > h->det_srcs * h->det_sessions) {
		snprintf(err, errlen, "matching core snapshot: %u accounts, %u followed orders, "
			 "%u contracts exceed its capacity: corrupt", (unsigned)h->n_acct,
			 (unsigned)h->n_trk, (unsigned)h->n_listed);
		return -EBADMSG;
	}
	if (c.order_seq != 0 || c.n_acct != 0 || c.n_trk != 0 || c.n_det != 0) {
		snprintf(err, errlen, "matching core snapshot: the target core has processed "
			 "requests (load into a fresh core)");
		return -EBUSY;
	}
	m->slots = r.off;
	uint32_t listed = 0;
	uint32_t ids[MC_MAX_CONTRACTS];
	uint64_t in_use = 0; /* slots holding a contract */
	_Static_assert(MC_MAX_CONTRACTS <= 64, "one bit a slot");
	for (uint32_t i = 0; i < h->cap; i++) {
		struct mc_snap_slot k, mine;
		const struct me_book *b;
		if (dp_snap_r_get(&r, &k, sizeof(k)) < 0)
			goto truncated;
		mc__snap_slot(mc, i, &mine, &b);
		if (b && me_book_count(b) != 0) {
			snprintf(err, errlen, "matching core snapshot: the target core's contract "
				 "%u has resting orders (load into a fresh core)", (unsigned)mine.id);
			return -EBUSY;
		}
		if (k.mem_len != mine.mem_len) {
			snprintf(err, errlen, "matching core snapshot: contract slot %u had %" PRIu64
				 " bytes of book memory, here %" PRIu64 ": another configuration",
				 (unsigned)i, k.mem_len, mine.mem_len);
			return -EINVAL;
		}
		if (k.id == 0)
			continue;
		struct me_params p = {
			.price_lo = k.price_lo, .price_hi = k.price_hi, .tick = k.tick,
			.max_qty = k.max_qty, .max_orders = k.max_orders,
		};
		size_t need = me_book_memsize(&p);
		if (need == 0 || need > k.mem_len || k.phase > TKX_PHASE_DELISTED || k.spot > 1 ||
		    k.vol > 1) {
			snprintf(err, errlen, "matching core snapshot: contract %u in slot %u does "
				 "not fit it (book parameters, phase): corrupt", (unsigned)k.id,
				 (unsigned)i);
			return -EBADMSG;
		}
		for (uint32_t j = 0; j < listed; j++)
			if (ids[j] == k.id) {
				snprintf(err, errlen, "matching core snapshot: contract %u twice: "
					 "corrupt", (unsigned)k.id);
				return -EBADMSG;
			}
		ids[listed++] = k.id;
		in_use |= 1ull << i;
		rc = me_snap_check_params(&p, r.buf + r.off, r.len - r.off, err, errlen);
		if (rc < 0)
			return rc;
		struct dp_snap_sect bs;
		memcpy(&bs, r.buf + r.off, sizeof(bs));
		dp_snap_r_skip(&r, (size_t)bs.len);
	}
	if (listed != h->n_listed) {
		snprintf(err, errlen, "matching core snapshot: %u contracts, its header says %u: "
			 "corrupt", (unsigned)listed, (unsigned)h->n_listed);
		return -EBADMSG;
	}
	m->accts = r.off;
	for (uint32_t i = 0; i < h->n_acct; i++) {
		struct mc_snap_acct a;
		if (dp_snap_r_get(&r, &a, sizeof(a)) < 0)
			goto truncated;
		if (a.firm == 0 || a.kill > 1 || a.max_qty < 0 || a.max_pos < 0 || a.spot_pos < 0) {
			snprintf(err, errlen, "matching core snapshot: account entry %u (firm %u "
				 "account %u) is invalid: corrupt", (unsigned)i, (unsigned)a.firm,
				 (unsigned)a.account);
			return -EBADMSG;
		}
	}
	m->pos = r.off;
	if (!dp_snap_r_skip(&r, (size_t)h->n_acct * h->cap * sizeof(struct mc_position)))
		goto truncated;
	m->trk = r.off;
	for (uint32_t i = 0; i < h->n_trk; i++) {
		struct mc_snap_trk t;
		if (dp_snap_r_get(&r, &t, sizeof(t)) < 0)
			goto truncated;
		if (t.acct >= h->n_acct || t.slot >= h->cap || !(in_use >> t.slot & 1) ||
		    t.side > ME_SELL) {
			snprintf(err, errlen, "matching core snapshot: followed order %u is "
				 "invalid: corrupt", (unsigned)i);
			return -EBADMSG;
		}
	}
	m->det = r.off;
	int64_t prev = -1;
	for (uint32_t i = 0; i < h->n_det; i++) {
		struct mc_snap_det d;
		if (dp_snap_r_get(&r, &d, sizeof(d)) < 0)
			goto truncated;
		if ((int64_t)d.index <= prev || d.index >= h->det_srcs * h->det_sessions ||
		    d.last == 0) {
			snprintf(err, errlen, "matching core snapshot: detach entry %u is invalid: "
				 "corrupt", (unsigned)i);
			return -EBADMSG;
		}
		prev = d.index;
	}
	if (r.off != r.len) {
		snprintf(err, errlen, "matching core snapshot: %zu bytes left over after its "
			 "records: corrupt", r.len - r.off);
		return -EBADMSG;
	}
	return 0;
truncated:
	snprintf(err, errlen, "matching core snapshot: truncated at byte %zu of %zu", r.off,
		 r.len);
	return -EBADMSG;
}

int mc_snap_check(const struct mc_core *mc, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen)
{
	struct mc_snap_map m;
	int rc = mc_snap_validate(mc, buf, len, &m, err, errlen);
	if (rc == 0 && used)
		*used = (size_t)m.h.s.len;
	return rc;
}

int mc_snap_load(struct mc_core *mc, const void *buf, size_t len, size_t *used, char *err,
		 size_t errlen)
{
	struct mc_snap_map m;
	int rc = mc_snap_validate(mc, buf, len, &m, err, errlen);
	if (rc < 0)
		return rc;
	const uint8_t *b = buf;
	size_t off = m.slots;
	for (uint32_t i = 0; i < m.h.cap; i++) {
		struct mc_snap_slot k;
		struct me_book *book;
		memcpy(&k, b + off, sizeof(k));
		off += sizeof(k);
		rc = mc__snap_set_slot(mc, i, &k, &book);
		if (rc < 0) {
			snprintf(err, errlen, "matching core snapshot: contract %u cannot be set up "
				 "in slot %u: %s", (unsigned)k.id, (unsigned)i, strerror(-rc));
			return rc;
		}
		if (book == NULL)
			continue;
		struct dp_snap_sect bs;
		memcpy(&bs, b + off, sizeof(bs));
		rc = me_snap_load(book, b + off, (size_t)bs.len, err, errlen);
		if (rc < 0)
			return rc;
		off += (size_t)bs.len;
	}
	for (uint32_t i = 0; i < m.h.n_acct; i++) {
		struct mc_snap_acct a;
		memcpy(&a, b + m.accts + (size_t)i * sizeof(a), sizeof(a));
		if ((rc = mc__snap_add_acct(mc, &a)) < 0)
			goto fail;
	}
	for (uint32_t i = 0; i < m.h.n_acct; i++)
		for (uint32_t s = 0; s < m.h.cap; s++) {
			struct mc_position p;
			memcpy(&p, b + m.pos + ((size_t)i * m.h.cap + s) * sizeof(p), sizeof(p));
			mc__snap_set_pos(mc, i, s, &p);
		}
	for (uint32_t i = 0; i < m.h.n_trk; i++) {
		struct mc_snap_trk t;
		memcpy(&t, b + m.trk + (size_t)i * sizeof(t), sizeof(t));
		if ((rc = mc__snap_add_trk(mc, &t)) < 0)
			goto fail;
	}
	for (uint32_t i = 0; i < m.h.n_det; i++) {
		struct mc_snap_det d;
		memcpy(&d, b + m.det + (size_t)i * sizeof(d), sizeof(d));
		if ((rc = mc__snap_set_det(mc, d.index, d.last)) < 0)
			goto fail;
	}
	mc__snap_finish(mc, m.h.order_seq, &m.h.st);
	if (used)
		*used = (size_t)m.h.s.len;
	return 0;
fail:
	snprintf(err, errlen, "matching core snapshot: accounts or followed orders do not fit "
		 "the core: %s", strerror(-rc));
	return rc;
}

uint64_t mc_snap_config(const struct mc_core *mc)
{
	struct mc_snap_core c;
	mc__snap_core(mc, &c);
	uint64_t h = DP_FNV_INIT;
	uint32_t shape[5] = { c.cap, c.acct_max, c.trk_max, c.det_srcs, c.det_sessions };
	h = dp_fnv1a64(h, shape, sizeof(shape));
	for (uint32_t i = 0; i < c.cap; i++) {
		struct mc_snap_slot k;
		const struct me_book *b;
		mc__snap_slot(mc, i, &k, &b);
		/* The shape and the contracts as configured; nothing that trading changes on
		 * a fresh core (counters, prices) is zero or constant there anyway. */
		struct {
			uint64_t mem_len;
			int64_t lo, hi, tick, max_qty;
			uint32_t id, max_orders;
			uint8_t phase, spot, pad[6];
		} f;
		memset(&f, 0, sizeof(f));
		f.mem_len = k.mem_len;
		f.lo = k.price_lo;
		f.hi = k.price_hi;
		f.tick = k.tick;
		f.max_qty = k.max_qty;
		f.id = k.id;
		f.max_orders = k.max_orders;
		f.phase = k.phase;
		f.spot = k.spot;
		h = dp_fnv1a64(h, &f, sizeof(f));
	}
	return h;
}

uint32_t mc_snap_contracts(const struct mc_core *mc, uint32_t *ids, uint32_t max)
{
	struct mc_snap_core c;
	uint32_t n = 0;
	mc__snap_core(mc, &c);
	for (uint32_t i = 0; i < c.cap && n < max; i++) {
		struct mc_snap_slot k;
		const struct me_book *b;
		mc__snap_slot(mc, i, &k, &b);
		if (k.id)
			ids[n++] = k.id;
	}
	return n;
}
