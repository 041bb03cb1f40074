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
	return sizeof(struct md_snap_hdr) + (size_t)room * sizeof(struct md_snap_contract);
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
	if (h->s.len != sizeof(*h) + (uint64_t)h->n_contracts * sizeof(struct md_snap_contract) ||
	    h->next_seq == 0) {
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
