/*
 * jn_link.c - the replication link's framing and the standby's record checks. The wire
 * format and the rules are in jn_link.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "jn_link.h"

static uint32_t jn_link__crc(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	return (uint32_t)crc32(c, p, (uInt)n);
}

void jn_link_hdr(void *out, uint16_t type, uint32_t len)
{
	struct jn_link_hdr h = {JN_LINK_MAGIC, JN_LINK_VERSION, type, len, 0};
	h.hdr_crc = jn_link__crc(&h, 12);
	memcpy(out, &h, sizeof(h));
}

int64_t jn_link_parse(const void *buf, size_t n, struct jn_link_hdr *h, char *why,
		      size_t whylen)
{
	if (n < JN_LINK_HDR)
		return 0;
	memcpy(h, buf, sizeof(*h));
	if (h->magic != JN_LINK_MAGIC || h->hdr_crc != jn_link__crc(h, 12)) {
		snprintf(why, whylen, "not a replication frame (%s)",
			 h->magic != JN_LINK_MAGIC ? "bad magic" : "bad header CRC");
		return -EBADMSG;
	}
	if (h->version != JN_LINK_VERSION) {
		snprintf(why, whylen, "replication link version %u, this tokexd speaks version %d",
			 h->version, JN_LINK_VERSION);
		return -EPROTONOSUPPORT;
	}
	uint64_t max = h->type == JN_LINK_SNAPSHOT ? JN_LINK_MAX_SNAPSHOT : JN_LINK_MAX_PAYLOAD;
	if (h->len > max || (h->type == JN_LINK_RECORDS && h->len % JN_REC_SIZE)) {
		snprintf(why, whylen, "frame type %u of %u bytes (%s)", h->type, h->len,
			 h->len > max ? "too long" : "not whole records");
		return -EMSGSIZE;
	}
	return (int64_t)JN_LINK_HDR + h->len;
}

int jn_follow_check(struct jn_follow *f, const struct jn_rec *r, char *why, size_t whylen)
{
	uint32_t fmt = 0;
	int c = jn_rec_check(r, &fmt);
	if (c == -EPROTONOSUPPORT) {
		snprintf(why, whylen, "seq %" PRIu64 ": a record of journal format %u (this tokexd "
			 "reads format %d)", f->next_seq, fmt, JN_FORMAT);
		return c;
	}
	if (c < 0) {
		/* The seq field itself may be what is damaged: name the one expected too. */
		snprintf(why, whylen, "seq %" PRIu64 " (seq %" PRIu64 " expected): %s", r->seq,
			 f->next_seq, r->magic != JN_REC_MAGIC ? "bad magic" :
			 r->len > JN_MAX_PAYLOAD ? "bad length" : r->epoch == 0 ? "epoch 0" :
			 "bad CRC");
		return -EBADMSG;
	}
	if (r->seq < f->next_seq)
		return JN_FOLLOW_DUP;
	if (r->seq > f->next_seq) {
		snprintf(why, whylen, "gap: seq %" PRIu64 " received, seq %" PRIu64 " expected",
			 r->seq, f->next_seq);
		return JN_FOLLOW_GAP;
	}
	if (r->epoch < f->epoch) {
		snprintf(why, whylen, "seq %" PRIu64 ": epoch %u after epoch %u: a record of a "
			 "deposed primary (fenced)", r->seq, r->epoch, f->epoch);
		return -ESTALE;
	}
	f->epoch = r->epoch;
	f->next_seq++;
	return JN_FOLLOW_OK;
}
