/*
 * dp_snap.h - the byte cursors the snapshot code of every module shares (issue 6:
 * "recovery replays the journal from the newest snapshot").
 *
 * Role: each stateful module of the data path (me_snap.c, mc_snap.c, ss_snap.c,
 * md_snap.c) turns its state into one section of a snapshot blob and back. tokexd's RX
 * core writes the sections into one preallocated buffer (td_snap.c); recovery reads them
 * back at start. These helpers are bounds-checked cursors over a caller's buffer: no
 * allocation, no system call, header-only.
 *
 * Section format, common to every module: a header that starts with struct dp_snap_sect
 * (magic naming the module, format version, the section's total length), then the
 * module's own fixed-layout records, each a multiple of 8 bytes. Records are written in
 * the host's byte order (little-endian on every machine tokex runs on); a blob read on a
 * machine of the other order fails on its magic. Integrity against bit rot is the
 * container's (jn_snapshot_write's CRC-32); a section is checked for everything that can
 * be checked without it (magic, version, lengths, counts, ranges, configuration) before
 * anything is changed.
 */
#ifndef TOKEX_DP_SNAP_H
#define TOKEX_DP_SNAP_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "dp_hash.h" /* dp_fnv1a64: the configuration fingerprints */

/* The first 16 bytes of every module's section header. */
struct dp_snap_sect {
	uint32_t magic;   /* the module's, e.g. ME_SNAP_MAGIC */
	uint16_t version; /* the module's format version */
	uint16_t hdr_len; /* bytes of the module's header (this struct included) */
	uint64_t len;     /* bytes of the whole section, header included */
};
_Static_assert(sizeof(struct dp_snap_sect) == 16, "dp_snap_sect is 16 bytes");

/* Writer: appends to buf[0, cap). The first error sticks (-ENOBUFS); len keeps counting
 * what was asked for, so a failed save says how much it would have needed. */
struct dp_snap_w {
	uint8_t *buf;
	size_t cap;
	size_t len;
	int err;
};

static inline void dp_snap_w_init(struct dp_snap_w *w, void *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->err = 0;
}

/* Room for n bytes at the end: a pointer to them, or NULL (w->err = -ENOBUFS). */
static inline void *dp_snap_w_take(struct dp_snap_w *w, size_t n)
{
	size_t at = w->len;
	w->len += n;
	if (w->err || n > w->cap || at > w->cap - n) {
		w->err = -ENOBUFS;
		return NULL;
	}
	return w->buf + at;
}

static inline void dp_snap_w_put(struct dp_snap_w *w, const void *p, size_t n)
{
	void *d = dp_snap_w_take(w, n);
	if (d)
		memcpy(d, p, n);
}

/* Reader over buf[0, len). */
struct dp_snap_r {
	const uint8_t *buf;
	size_t len;
	size_t off;
};

static inline void dp_snap_r_init(struct dp_snap_r *r, const void *buf, size_t len)
{
	r->buf = buf;
	r->len = len;
	r->off = 0;
}

/* Copies the next n bytes into p: 0, or -EBADMSG when fewer are left (p untouched). */
static inline int dp_snap_r_get(struct dp_snap_r *r, void *p, size_t n)
{
	if (n > r->len - r->off)
		return -EBADMSG;
	memcpy(p, r->buf + r->off, n);
	r->off += n;
	return 0;
}

/* Skips n bytes: the pointer to them, or NULL when fewer are left. */
static inline const void *dp_snap_r_skip(struct dp_snap_r *r, size_t n)
{
	if (n > r->len - r->off)
		return NULL;
	const void *p = r->buf + r->off;
	r->off += n;
	return p;
}

/* Opens a module's section: takes hdr_len bytes (the module's header, struct dp_snap_sect
 * first), zeroed, with magic, version and hdr_len set. NULL when the buffer is full. */
static inline struct dp_snap_sect *dp_snap_sect_begin(struct dp_snap_w *w, size_t hdr_len,
						      uint32_t magic, uint16_t version)
{
	struct dp_snap_sect *s = dp_snap_w_take(w, hdr_len);
	if (s == NULL)
		return NULL;
	memset(s, 0, hdr_len);
	s->magic = magic;
	s->version = version;
	s->hdr_len = (uint16_t)hdr_len;
	return s;
}

/* Closes the section s opened at offset at (w->len then): its length. Returns it. */
static inline int64_t dp_snap_sect_end(const struct dp_snap_w *w, struct dp_snap_sect *s,
				       size_t at)
{
	s->len = w->len - at;
	return (int64_t)s->len;
}

/* Checks the section header at buf's start: magic, version, lengths. 0 or -EBADMSG /
 * -EPROTO, with the reason in err. *sect filled when 0. */
static inline int dp_snap_sect_check(const void *buf, size_t len, uint32_t magic,
				     uint16_t version, uint16_t hdr_len, const char *what,
				     struct dp_snap_sect *sect, char *err, size_t errlen)
{
	if (len < sizeof(*sect)) {
		snprintf(err, errlen, "%s snapshot: %zu bytes, shorter than a header", what, len);
		return -EBADMSG;
	}
	memcpy(sect, buf, sizeof(*sect));
	if (sect->magic != magic) {
		snprintf(err, errlen, "%s snapshot: bad magic 0x%08x (not a %s section)", what,
			 (unsigned)sect->magic, what);
		return -EBADMSG;
	}
	if (sect->version != version) {
		snprintf(err, errlen, "%s snapshot: format version %u, this build reads %u", what,
			 (unsigned)sect->version, (unsigned)version);
		return -EPROTO;
	}
	if (sect->hdr_len != hdr_len || sect->len < hdr_len || sect->len > len) {
		snprintf(err, errlen, "%s snapshot: length %llu (header %u) does not fit the %zu "
			 "bytes given: truncated or corrupt", what, (unsigned long long)sect->len,
			 (unsigned)sect->hdr_len, len);
		return -EBADMSG;
	}
	return 0;
}

#endif /* TOKEX_DP_SNAP_H */
