/*
 * ss_snap.c - the session table's recoverable state as one snapshot section, and back;
 * see ss_snap.h for what is captured and the layout.
 *
 * Runs on the table's owner thread: saving on tokexd's RX core between loop passes
 * (copies into the caller's preallocated buffer; no allocation, lock or system call),
 * checking and loading at start. The private fields are read and written through
 * ss_session.c's ss__snap_* functions.
 */
#include "ss_snap.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* Is slot's session one that recovery rebuilds? Every one that holds a session id: a
 * journaled logon names it even before its first establishment. */
static int ss_snap_kept(const struct ss_snap_view *v)
{
	return v->state != SS_FREE;
}

static uint32_t ss_snap_ring_n(const struct ss_snap_view *v, uint32_t depth)
{
	uint64_t sent = v->next_out - 1;
	return sent < depth ? (uint32_t)sent : depth;
}

size_t ss_snap_bound(const struct ss_table *t)
{
	struct ss_snap_table d;
	ss__snap_table(t, &d);
	return sizeof(struct ss_snap_hdr) +
	       (size_t)d.max_sessions * (sizeof(struct ss_snap_slot) +
					 (size_t)d.depth * SS_MSG_MAX + 2 * sizeof(uint16_t)) + 8;
}

int64_t ss_snap_save(const struct ss_table *t, struct dp_snap_w *w)
{
	struct ss_snap_table d;
	size_t at = w->len;
	ss__snap_table(t, &d);
	struct ss_snap_hdr *h = (struct ss_snap_hdr *)dp_snap_sect_begin(w, sizeof(*h), SS_SNAP_MAGIC,
								 SS_SNAP_VERSION);
	if (h == NULL)
		return -ENOBUFS;
	h->max_sessions = d.max_sessions;
	h->depth = d.depth;
	h->core = d.core;
	for (unsigned slot = 0; slot < d.max_sessions; slot++) {
		struct ss_snap_view v;
		ss__snap_slot(t, slot, &v);
		if (!ss_snap_kept(&v))
			continue;
		struct ss_snap_slot *r = dp_snap_w_take(w, sizeof(*r));
		uint32_t n = ss_snap_ring_n(&v, d.depth);
		if (r) {
			memset(r, 0, sizeof(*r));
			r->slot = (uint16_t)slot;
			r->may_have_orders = v.may_have_orders;
			r->mass_left = v.mass_left;
			r->firm_id = v.firm_id;
			r->session_id = v.session_id;
			r->next_in = v.next_in;
			r->next_out = v.next_out;
			r->last_cl_ord_id = v.last_cl_ord_id;
			r->mass_cl = v.mass_cl;
			r->mass_count = v.mass_count;
			r->n_ring = n;
			r->logon_ts = v.logon_ts;
		}
		/* The ring wraps: at most two runs of entries. */
		for (uint64_t q = v.next_out - n; q < v.next_out; q++)
			dp_snap_w_put(w, ss__snap_ring(t, slot, q), SS_MSG_MAX);
		if (w->err)
			return w->err;
		h->n_slots++;
	}
	/* The reclaim list as it is, then the sessions live now that recovery puts on it
	 * (those that cannot have resting orders), in slot order. */
	for (uint16_t s = d.fifo_head; s != SS_NO_SLOT;) {
		struct ss_snap_view v;
		ss__snap_slot(t, s, &v);
		dp_snap_w_put(w, &s, sizeof(s));
		h->n_fifo++;
		s = v.fifo_next;
	}
	for (unsigned slot = 0; slot < d.max_sessions; slot++) {
		struct ss_snap_view v;
		ss__snap_slot(t, slot, &v);
		if (v.state != SS_TERMINATED && ss_snap_kept(&v) && !v.may_have_orders) {
			uint16_t s = (uint16_t)slot;
			dp_snap_w_put(w, &s, sizeof(s));
			h->n_fifo++;
		}
	}
	/* The FREE stack, bottom first, then the slots being detached on top (FREE once
	 * loaded), highest slot first so that the lowest is taken first: a snapshot is taken
	 * where every record up to it is applied, the cores' answers included, so none is
	 * (it would be FREE after them). */
	for (uint32_t i = 0; i < d.n_free; i++) {
		uint16_t s = ss__snap_free_at(t, i);
		dp_snap_w_put(w, &s, sizeof(s));
		h->n_free++;
	}
	for (unsigned slot = d.max_sessions; slot-- > 0;) {
		struct ss_snap_view v;
		ss__snap_slot(t, slot, &v);
		if (v.detaching) {
			uint16_t s = (uint16_t)slot;
			dp_snap_w_put(w, &s, sizeof(s));
			h->n_free++;
		}
	}
	static const uint8_t zero[8];
	dp_snap_w_put(w, zero, (8 - (w->len - at) % 8) % 8);
	if (w->err)
		return w->err;
	return dp_snap_sect_end(w, &h->s, at);
}

static int ss_snap_validate(const struct ss_table *t, const void *buf, size_t len,
			    struct ss_snap_hdr *h, size_t *fifo_off, size_t *free_off, char *err,
			    size_t errlen)
{
	struct ss_snap_table d;
	struct dp_snap_sect s;
	struct dp_snap_r r;
	int rc = dp_snap_sect_check(buf, len, SS_SNAP_MAGIC, SS_SNAP_VERSION, sizeof(*h),
				    "session table", &s, err, errlen);
	if (rc < 0)
		return rc;
	dp_snap_r_init(&r, buf, (size_t)s.len);
	dp_snap_r_get(&r, h, sizeof(*h));
	ss__snap_table(t, &d);
	if (h->max_sessions != d.max_sessions || h->depth != d.depth || h->core != d.core) {
		snprintf(err, errlen, "session table snapshot: saved by a table of %u sessions, "
			 "retransmit depth %u, core %u; this one has %u, %u, %u: another "
			 "configuration", (unsigned)h->max_sessions, (unsigned)h->depth,
			 (unsigned)h->core, (unsigned)d.max_sessions, (unsigned)d.depth,
			 (unsigned)d.core);
		return -EINVAL;
	}
	if (d.n_free != d.max_sessions) {
		snprintf(err, errlen, "session table snapshot: the target table holds %u "
			 "sessions (load into a fresh table)", (unsigned)(d.max_sessions - d.n_free));
		return -EBUSY;
	}
	if (h->n_slots > h->max_sessions || h->n_fifo > h->n_slots ||
	    h->n_free != h->max_sessions - h->n_slots) {
		snprintf(err, errlen, "session table snapshot: %u sessions, %u reclaimable, for "
			 "%u slots: corrupt", (unsigned)h->n_slots, (unsigned)h->n_fifo,
			 (unsigned)h->max_sessions);
		return -EBADMSG;
	}
	/* Per slot: 1 saved, 3 saved and may go on the reclaim list (64 KiB at most: start
	 * time, on the control thread's stack). */
	uint8_t seen[SS_MAX_SESSIONS];
	memset(seen, 0, d.max_sessions);
	int prev = -1;
	for (uint32_t i = 0; i < h->n_slots; i++) {
		struct ss_snap_slot k;
		if (dp_snap_r_get(&r, &k, sizeof(k)) < 0)
			goto truncated;
		uint64_t want = k.next_out ? k.next_out - 1 : 0;
		if (want > d.depth)
			want = d.depth;
		if ((int)k.slot <= prev || k.slot >= d.max_sessions || k.session_id == 0 ||
		    k.next_in == 0 || k.next_out == 0 || k.n_ring != want ||
		    k.may_have_orders > 1) {
			snprintf(err, errlen, "session table snapshot: session %u (slot %u, id %"
				 PRIu64 ") is inconsistent: corrupt", (unsigned)i, (unsigned)k.slot,
				 k.session_id);
			return -EBADMSG;
		}
		if (!ss__snap_firm_known(t, k.firm_id)) {
			snprintf(err, errlen, "session table snapshot: session %" PRIu64 " (slot %u) "
				 "belongs to firm %u, which this configuration does not know",
				 k.session_id, (unsigned)k.slot, (unsigned)k.firm_id);
			return -EINVAL;
		}
		prev = k.slot;
		seen[k.slot] = k.may_have_orders ? 1 : 3;
		if (!dp_snap_r_skip(&r, (size_t)k.n_ring * SS_MSG_MAX))
			goto truncated;
	}
	*fifo_off = r.off;
	for (uint32_t i = 0; i < h->n_fifo; i++) {
		uint16_t slot;
		if (dp_snap_r_get(&r, &slot, sizeof(slot)) < 0)
			goto truncated;
		if (slot >= d.max_sessions || seen[slot] != 3) {
			snprintf(err, errlen, "session table snapshot: reclaim list entry %u (slot "
				 "%u) is not a saved session without orders, or is there twice: "
				 "corrupt", (unsigned)i, (unsigned)slot);
			return -EBADMSG;
		}
		seen[slot] = 1;
	}
	*free_off = r.off;
	for (uint32_t i = 0; i < h->n_free; i++) {
		uint16_t slot;
		if (dp_snap_r_get(&r, &slot, sizeof(slot)) < 0)
			goto truncated;
		if (slot >= d.max_sessions || seen[slot] != 0) {
			snprintf(err, errlen, "session table snapshot: FREE stack entry %u (slot %u) "
				 "is a saved session or is there twice: corrupt", (unsigned)i,
				 (unsigned)slot);
			return -EBADMSG;
		}
		seen[slot] = 4;
	}
	if (r.len - r.off >= 8 || r.len % 8) {
		snprintf(err, errlen, "session table snapshot: %zu bytes left over after its "
			 "records: corrupt", r.len - r.off);
		return -EBADMSG;
	}
	return 0;
truncated:
	snprintf(err, errlen, "session table snapshot: truncated at byte %zu of %zu", r.off,
		 r.len);
	return -EBADMSG;
}

int ss_snap_check(const struct ss_table *t, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen)
{
	struct ss_snap_hdr h;
	size_t fifo, free_off;
	int rc = ss_snap_validate(t, buf, len, &h, &fifo, &free_off, err, errlen);
	if (rc == 0 && used)
		*used = (size_t)h.s.len;
	return rc;
}

int ss_snap_load(struct ss_table *t, const void *buf, size_t len, uint64_t now_ns,
		 size_t *used, char *err, size_t errlen)
{
	struct ss_snap_hdr h;
	size_t fifo, free_off;
	int rc = ss_snap_validate(t, buf, len, &h, &fifo, &free_off, err, errlen);
	if (rc < 0)
		return rc;
	const uint8_t *b = buf;
	size_t off = sizeof(h);
	for (uint32_t i = 0; i < h.n_slots; i++) {
		struct ss_snap_slot k;
		struct ss_snap_view v;
		memcpy(&k, b + off, sizeof(k));
		off += sizeof(k);
		memset(&v, 0, sizeof(v));
		v.may_have_orders = k.may_have_orders;
		v.mass_left = k.mass_left;
		v.firm_id = k.firm_id;
		v.mass_count = k.mass_count;
		v.session_id = k.session_id;
		v.next_in = k.next_in;
		v.next_out = k.next_out;
		v.last_cl_ord_id = k.last_cl_ord_id;
		v.mass_cl = k.mass_cl;
		v.logon_ts = k.logon_ts;
		rc = ss__snap_put(t, k.slot, &v, b + off, k.n_ring, now_ns);
		if (rc < 0) {
			snprintf(err, errlen, "session table snapshot: session %" PRIu64 " cannot go "
				 "in slot %u: %s (corrupt)", k.session_id, (unsigned)k.slot,
				 strerror(-rc));
			return rc == -EEXIST ? -EBADMSG : rc;
		}
		off += (size_t)k.n_ring * SS_MSG_MAX;
	}
	for (uint32_t i = 0; i < h.n_fifo; i++) {
		uint16_t slot;
		memcpy(&slot, b + fifo + (size_t)i * sizeof(slot), sizeof(slot));
		ss__snap_fifo_push(t, slot);
	}
	/* Validated: the saved stack names exactly the slots that are FREE now. */
	uint16_t stack[SS_MAX_SESSIONS];
	memcpy(stack, b + free_off, (size_t)h.n_free * sizeof(stack[0]));
	ss__snap_set_free(t, stack, h.n_free);
	if (used)
		*used = (size_t)h.s.len;
	return 0;
}

uint64_t ss_snap_config(const struct ss_table *t)
{
	struct ss_snap_table d;
	ss__snap_table(t, &d);
	uint32_t f[3] = { d.max_sessions, d.depth, d.core };
	return dp_fnv1a64(DP_FNV_INIT, f, sizeof(f));
}
