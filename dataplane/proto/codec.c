/*
 * codec.c - the non-inline half of tokex/codec.h: decode, field validation, datagram /
 * SOFH / market-data walkers, credentials and name tables.
 *
 * Runs on RX cores (decode, validate: per message, so no malloc, syscall or log here),
 * in the TCP gateway, the market-data publisher and the client library. The credential
 * functions and tkx_auth_derive() call OpenSSL and run only at session setup; the datagram
 * MAC (tkx_auth_seal/open) is libsodium's SipHash-2-4, once per UDP datagram.
 */
#include <limits.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "tokex/codec.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

/* blockLength per template id, 0 = unknown. 305 bytes: the order-entry ids a hot RX core
 * looks up (1-12, 100-103) sit in two cache lines. */
static const uint8_t tkx__blen[TKX_TEMPLATE_ID_LIMIT] = {
#define TKX__BLEN(id, name, text, dir) [TKX_##id] = sizeof(struct tkx_##name),
	TKX_TEMPLATES(TKX__BLEN)
#undef TKX__BLEN
};

static const uint8_t tkx__dir[TKX_TEMPLATE_ID_LIMIT] = {
#define TKX__DIR(id, name, text, dir) [TKX_##id] = dir,
	TKX_TEMPLATES(TKX__DIR)
#undef TKX__DIR
};

static const char *const tkx__tname[TKX_TEMPLATE_ID_LIMIT] = {
#define TKX__NAME(id, name, text, dir) [TKX_##id] = text,
	TKX_TEMPLATES(TKX__NAME)
#undef TKX__NAME
};

#define TKX__CHECK(id, name, text, dir)                                              \
	_Static_assert(sizeof(struct tkx_##name) <= TKX_MAX_BLOCK_LEN, #name " too big"); \
	_Static_assert(sizeof(struct tkx_##name) % 8 == 0, #name ": tkx__copy_block"); \
	_Static_assert(TKX_##id < TKX_TEMPLATE_ID_LIMIT, #name " id");
TKX_TEMPLATES(TKX__CHECK)
#undef TKX__CHECK

/* schemaId and version as one little-endian uint32 at header offset 4. */
#define TKX__SCHEMA_WORD ((uint32_t)TKX_SCHEMA_ID | (uint32_t)TKX_SCHEMA_VERSION << 16)

static inline unsigned tkx__blen_of(uint16_t tid)
{
	return tid < TKX_TEMPLATE_ID_LIMIT ? tkx__blen[tid] : 0;
}

/*
 * Copy a block. Every block is 8..72 bytes in steps of 8, so each case is a constant-size
 * copy the compiler turns into a few vector moves; a variable-length memcpy() became
 * `rep movsq` and made decoding a NewOrder take 14 ns instead of 3.
 */
static inline void tkx__copy_block(uint8_t *dst, const uint8_t *src, unsigned len)
{
	switch (len) {
#define TKX__COPY(n)                  \
	case n:                       \
		memcpy(dst, src, n);  \
		break;
	TKX__COPY(8) TKX__COPY(16) TKX__COPY(24) TKX__COPY(32) TKX__COPY(40)
	TKX__COPY(48) TKX__COPY(56) TKX__COPY(64) TKX__COPY(72)
#undef TKX__COPY
	}
}

int tkx_decode(const void *buf, size_t len, struct tkx_msg *out)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint16_t blen, tid;
	uint32_t schema;
	unsigned want;

	if (unlikely(len < TKX_HDR_LEN))
		return -ENODATA;
	memcpy(&blen, p, 2);
	memcpy(&tid, p + 2, 2);
	memcpy(&schema, p + 4, 4);
	if (unlikely(schema != TKX__SCHEMA_WORD))
		return -EPROTO;
	want = tkx__blen_of(tid);
	if (unlikely(want == 0))
		return -ENOMSG;
	if (unlikely(blen != want))
		return -EBADMSG;
	if (unlikely(len - TKX_HDR_LEN < want))
		return -ENODATA;
	if (out) {
		out->template_id = tid;
		tkx__copy_block(out->raw, p + TKX_HDR_LEN, want);
	}
	return (int)(TKX_HDR_LEN + want);
}

int tkx_encode(void *buf, size_t cap, const struct tkx_msg *m)
{
	unsigned blen = tkx__blen_of(m->template_id);
	struct tkx_hdr h = {
		.block_length = (uint16_t)blen,
		.template_id = m->template_id,
		.schema_id = TKX_SCHEMA_ID,
		.version = TKX_SCHEMA_VERSION,
	};

	if (blen == 0)
		return -ENOMSG;
	if (cap < TKX_HDR_LEN + blen)
		return -ENOSPC;
	memcpy(buf, &h, sizeof(h));
	tkx__copy_block((uint8_t *)buf + TKX_HDR_LEN, m->raw, blen);
	return (int)(TKX_HDR_LEN + blen);
}

int tkx_block_length(uint16_t template_id)
{
	unsigned blen = tkx__blen_of(template_id);

	return blen ? (int)blen : -ENOMSG;
}

int tkx_template_dir(uint16_t template_id)
{
	if (template_id >= TKX_TEMPLATE_ID_LIMIT || !tkx__dir[template_id])
		return -ENOMSG;
	return tkx__dir[template_id];
}

/* ---- Field validation ------------------------------------------------------------ */

/* Non-zero when any of the n bytes at p is. */
static inline int tkx__nz(const void *p, size_t n)
{
	const uint8_t *b = (const uint8_t *)p;
	unsigned acc = 0;

	for (size_t i = 0; i < n; i++)
		acc |= b[i];
	return acc != 0;
}

#define NZ(field) tkx__nz(&(field), sizeof(field))

static inline int tkx__side_ok(unsigned s)
{
	return s == TKX_SIDE_BUY || s == TKX_SIDE_SELL;
}

/* A required price: positive (the null price INT64_MIN is negative). */
static inline int tkx__price_ok(int64_t px)
{
	return px > 0;
}

/* An optional price: null or positive. */
static inline int tkx__opt_price_ok(int64_t px)
{
	return px == TKX_NULL_PRICE || px > 0;
}

/* Session-layer reject reasons run 1..TKX_SREJ_SESSION_LIMIT. */
static inline int tkx__srej_ok(unsigned r)
{
	return r >= TKX_SREJ_UNKNOWN_FIRM && r <= TKX_SREJ_SESSION_LIMIT;
}

static inline int tkx__phase_ok(unsigned ph)
{
	return ph <= TKX_PHASE_DELISTED;
}

/*
 * One case per template. An application request (100-199) with a bad value goes to
 * `reject` with its tkx_reject_reason; a reserved field or an out-of-range enum in any
 * template goes to `bad_field`. Values are checked in tkx_reject_reason order (price,
 * qty, side, tif) so a request with several faults always gets the same answer.
 */
int tkx_validate(const struct tkx_msg *m, uint16_t *reason)
{
	uint16_t why = 0;

	switch (m->template_id) {
	case TKX_NEGOTIATE:
		if (m->negotiate.reserved)
			goto bad_field;
		break;
	case TKX_NEGOTIATION_RESPONSE:
		if (m->negotiation_response.reserved)
			goto bad_field;
		break;
	case TKX_NEGOTIATION_REJECT: {
		const struct tkx_negotiation_reject *r = &m->negotiation_reject;

		if (r->reserved1 || r->reserved2 || !tkx__srej_ok(r->reason))
			goto bad_field;
		break;
	}
	case TKX_ESTABLISH: {
		const struct tkx_establish *e = &m->establish;

		if (NZ(e->reserved) || e->cancel_on_disconnect > 1)
			goto bad_field;
		break;
	}
	case TKX_ESTABLISHMENT_ACK:
		if (m->establishment_ack.reserved)
			goto bad_field;
		break;
	case TKX_ESTABLISHMENT_REJECT: {
		const struct tkx_establishment_reject *r = &m->establishment_reject;

		if (r->reserved1 || r->reserved2 || !tkx__srej_ok(r->reason))
			goto bad_field;
		break;
	}
	case TKX_SEQUENCE:
		break;
	case TKX_NOT_APPLIED:
		if (m->not_applied.reserved)
			goto bad_field;
		break;
	case TKX_RETRANSMIT_REQUEST:
		if (m->retransmit_request.reserved)
			goto bad_field;
		break;
	case TKX_RETRANSMISSION:
		if (m->retransmission.reserved)
			goto bad_field;
		break;
	case TKX_RETRANSMIT_REJECT: {
		const struct tkx_retransmit_reject *r = &m->retransmit_reject;

		if (r->reserved1 || r->reserved2 || !tkx__srej_ok(r->reason))
			goto bad_field;
		break;
	}
	case TKX_TERMINATE: {
		const struct tkx_terminate *t = &m->terminate;

		if (t->reserved1 || t->reserved2 || t->reason > TKX_TERM_SEQ_BELOW_EXPECTED)
			goto bad_field;
		break;
	}
	case TKX_DATAGRAM_AUTH:
		break; /* any counter and MAC are well-formed; tkx_auth_open() judges them */

	case TKX_NEW_ORDER: {
		const struct tkx_new_order *o = &m->new_order;

		if (o->reserved || o->reserved2)
			goto bad_field;
		if (!tkx__price_ok(o->price)) {
			why = TKX_REJ_INVALID_PRICE;
			goto reject;
		}
		if (o->qty == 0) {
			why = TKX_REJ_INVALID_QTY;
			goto reject;
		}
		if (!tkx__side_ok(o->side)) {
			why = TKX_REJ_INVALID_SIDE;
			goto reject;
		}
		if (o->tif < TKX_TIF_GTC || o->tif > TKX_TIF_DAY) {
			why = TKX_REJ_INVALID_TIF;
			goto reject;
		}
		/* The order types (protocol 5.8): an iceberg rests (GTC, DAY, POST), shows
		 * less than its quantity, in at most TKX_ICE_MAX_SLICES slices (each slice
		 * costs the matching core one trade per encounter), and is no stop order;
		 * a stop order is no POST (it is meant to trade when elected). */
		if (o->show_qty &&
		    (o->tif == TKX_TIF_IOC || o->tif == TKX_TIF_FOK || o->show_qty >= o->qty ||
		     o->qty > (uint64_t)o->show_qty * TKX_ICE_MAX_SLICES || o->stop_price != 0)) {
			why = TKX_REJ_INVALID_SHOW;
			goto reject;
		}
		if (o->stop_price < 0 || (o->stop_price > 0 && o->tif == TKX_TIF_POST)) {
			why = TKX_REJ_INVALID_STOP;
			goto reject;
		}
		break;
	}
	case TKX_CANCEL_ORDER:
		if (m->cancel_order.reserved)
			goto bad_field;
		break;
	case TKX_MODIFY_ORDER:
		/* qty 0 is allowed: "Modify to zero" cancels (TKX_CXL_CLIENT). */
		if (!tkx__price_ok(m->modify_order.price)) {
			why = TKX_REJ_INVALID_PRICE;
			goto reject;
		}
		break;
	case TKX_MASS_CANCEL: {
		const struct tkx_mass_cancel *c = &m->mass_cancel;

		if (NZ(c->reserved))
			goto bad_field;
		if (c->scope < TKX_SCOPE_SESSION || c->scope > TKX_SCOPE_ACCOUNT ||
		    c->side > TKX_SIDE_SELL) {
			why = TKX_REJ_INVALID_SCOPE;
			goto reject;
		}
		break;
	}

	case TKX_EXEC_ACK: {
		const struct tkx_exec_ack *a = &m->exec_ack;

		if (a->reserved1 || a->reserved2 || !tkx__price_ok(a->price) ||
		    !tkx__side_ok(a->side) || a->tif < TKX_TIF_GTC || a->tif > TKX_TIF_DAY)
			goto bad_field;
		break;
	}
	case TKX_EXEC_REJECT: {
		const struct tkx_exec_reject *r = &m->exec_reject;

		if (r->reason < TKX_REJ_INVALID_PRICE || r->reason > TKX_REJ_INVALID_STOP)
			goto bad_field;
		break;
	}
	case TKX_FILL: {
		const struct tkx_fill *f = &m->fill;

		if (f->reserved || !tkx__price_ok(f->price) || f->qty == 0 ||
		    !tkx__side_ok(f->side) || f->aggressor > 1)
			goto bad_field;
		break;
	}
	case TKX_CANCELLED: {
		const struct tkx_cancelled *c = &m->cancelled;

		if (c->reserved1 || c->reserved2 || c->reason < TKX_CXL_CLIENT ||
		    c->reason > TKX_CXL_ELECTED_REFUSED || !tkx__side_ok(c->side))
			goto bad_field;
		break;
	}
	case TKX_MODIFY_ACK: {
		const struct tkx_modify_ack *a = &m->modify_ack;

		if (NZ(a->reserved1) || a->reserved2 || !tkx__price_ok(a->price) ||
		    !tkx__side_ok(a->side))
			goto bad_field;
		break;
	}
	case TKX_MASS_CANCEL_ACK: {
		const struct tkx_mass_cancel_ack *a = &m->mass_cancel_ack;

		if (a->reserved || a->scope < TKX_SCOPE_SESSION || a->scope > TKX_SCOPE_ACCOUNT ||
		    a->side > TKX_SIDE_SELL)
			goto bad_field;
		break;
	}
	case TKX_BUSINESS_REJECT: {
		const struct tkx_business_reject *r = &m->business_reject;

		if (r->reserved || r->reason < TKX_BREJ_NOT_ESTABLISHED ||
		    r->reason > TKX_BREJ_UNSUPPORTED)
			goto bad_field;
		break;
	}
	case TKX_STOP_ELECTED: {
		const struct tkx_stop_elected *e = &m->stop_elected;

		if (NZ(e->reserved1) || e->reserved2 || !tkx__price_ok(e->price) ||
		    e->qty == 0 || !tkx__side_ok(e->side))
			goto bad_field;
		break;
	}

	case TKX_MD_TOP_OF_BOOK: {
		const struct tkx_md_top_of_book *t = &m->md_top_of_book;

		if (t->reserved || !tkx__opt_price_ok(t->bid_price) ||
		    !tkx__opt_price_ok(t->ask_price))
			goto bad_field;
		break;
	}
	case TKX_MD_TRADE: {
		const struct tkx_md_trade *t = &m->md_trade;

		if (NZ(t->reserved1) || t->reserved2 || !tkx__price_ok(t->price) || t->qty == 0 ||
		    t->aggressor_side > TKX_AGGRESSOR_SELL)
			goto bad_field;
		break;
	}
	case TKX_MD_CONTRACT_STATUS: {
		const struct tkx_md_contract_status *s = &m->md_contract_status;

		if (s->reserved1 || s->reserved2 || !tkx__phase_ok(s->phase) ||
		    !tkx__opt_price_ok(s->price))
			goto bad_field;
		break;
	}
	case TKX_MD_SNAPSHOT: {
		const struct tkx_md_snapshot *s = &m->md_snapshot;

		if (NZ(s->reserved1) || !tkx__phase_ok(s->phase) ||
		    !tkx__opt_price_ok(s->bid_price) || !tkx__opt_price_ok(s->ask_price) ||
		    !tkx__opt_price_ok(s->last_price))
			goto bad_field;
		break;
	}
	case TKX_MD_GAP_REJECT:
		break;
	case TKX_MD_INSTRUMENT: {
		const struct tkx_md_instrument *d = &m->md_instrument;

		if (NZ(d->reserved) || d->tick <= 0 || !tkx__opt_price_ok(d->limit_lo) ||
		    !tkx__opt_price_ok(d->limit_hi) || !tkx__opt_price_ok(d->prev_settle) ||
		    !tkx__phase_ok(d->phase) || d->settle_method != TKX_SETTLE_CASH_INDEX)
			goto bad_field;
		break;
	}
	case TKX_MD_ORDER: {
		const struct tkx_md_order *o = &m->md_order;

		if (o->reserved || o->action < TKX_ACT_ADD || o->action > TKX_ACT_SNAPSHOT ||
		    !tkx__side_ok(o->side) || !tkx__price_ok(o->price) ||
		    (o->action == TKX_ACT_EXECUTE) != (o->exec_qty != 0) ||
		    (o->action == TKX_ACT_EXECUTE) != (o->trade_id != 0) ||
		    (o->action == TKX_ACT_DELETE) != (o->qty == 0 && o->action != TKX_ACT_EXECUTE))
			goto bad_field;
		break;
	}
	case TKX_MD_DEPTH: {
		const struct tkx_md_depth *d = &m->md_depth;

		if (d->reserved || !tkx__side_ok(d->side) || !tkx__opt_price_ok(d->price) ||
		    d->level == 0 || d->level > d->depth || (d->flags & ~TKX_DEPTH_FLAG_SNAPSHOT) ||
		    (d->price == TKX_NULL_PRICE && d->qty))
			goto bad_field;
		break;
	}

	default:
		if (reason)
			*reason = TKX_BREJ_UNSUPPORTED;
		return -ENOMSG;
	}
	if (reason)
		*reason = 0;
	return 0;

reject:
	if (reason)
		*reason = why;
	return -EINVAL;
bad_field:
	if (reason)
		*reason = TKX_BREJ_INVALID_FIELD;
	return -EBADMSG;
}

/* ---- UDP datagrams ----------------------------------------------------------------- */

int tkx_dgram_next(struct tkx_dgram_iter *it, struct tkx_msg *out)
{
	int n;

	if (it->err)
		return it->err;
	if (unlikely(it->len == 0))
		return it->err = -ENODATA; /* a datagram carries at least one message */
	if (it->off == it->len)
		return 0;
	n = tkx_decode(it->buf + it->off, it->len - it->off, out);
	if (n < 0) {
		it->err = n;
		return n;
	}
	it->off += (size_t)n;
	it->count++;
	return n;
}

int tkx_decode_dgram(const void *buf, size_t len, struct tkx_msg *msgs, unsigned max,
		     int *err, size_t *err_off)
{
	struct tkx_dgram_iter it;
	unsigned n = 0;
	int rc = 0;

	if (max > INT_MAX)
		max = INT_MAX;
	tkx_dgram_init(&it, buf, len);
	for (;;) {
		if (n == max) {
			if (len == 0)
				rc = -ENODATA;
			else if (it.off != len)
				rc = -ENOBUFS;
			break;
		}
		rc = tkx_dgram_next(&it, &msgs[n]);
		if (rc <= 0)
			break;
		n++;
	}
	if (err)
		*err = rc < 0 ? rc : 0;
	if (err_off)
		*err_off = it.off;
	return (int)n;
}

/* ---- TCP frames ---------------------------------------------------------------------- */

int tkx_decode_frame(const void *buf, size_t len, struct tkx_msg *out)
{
	int flen = tkx_sofh_next(buf, len);
	int n;

	if (flen <= 0)
		return flen;
	n = tkx_decode((const uint8_t *)buf + TKX_SOFH_LEN, (size_t)flen - TKX_SOFH_LEN, out);
	if (n == -ENODATA || (n > 0 && n != flen - TKX_SOFH_LEN))
		return -EBADMSG; /* the frame is complete: its length is wrong, not short */
	return n < 0 ? n : flen;
}

int tkx_encode_frame(void *buf, size_t cap, const struct tkx_msg *m)
{
	int n;

	if (cap < TKX_SOFH_LEN)
		return tkx_block_length(m->template_id) < 0 ? -ENOMSG : -ENOSPC;
	n = tkx_encode((uint8_t *)buf + TKX_SOFH_LEN, cap - TKX_SOFH_LEN, m);
	if (n < 0)
		return n;
	tkx_sofh_encode(buf, cap, (size_t)n);
	return n + TKX_SOFH_LEN;
}

/* ---- Market data packets ------------------------------------------------------------ */

int tkx_md_session(char dst[TKX_MD_SESSION_LEN], const char *s)
{
	size_t n;

	for (n = 0; s[n]; n++)
		if (n == TKX_MD_SESSION_LEN || s[n] < 0x20 || s[n] > 0x7e)
			return -EINVAL;
	memcpy(dst, s, n);
	memset(dst + n, ' ', TKX_MD_SESSION_LEN - n);
	return 0;
}

int tkx_md_iter_init(struct tkx_md_iter *it, const void *buf, size_t len)
{
	it->buf = (const uint8_t *)buf;
	it->len = len;
	it->off = TKX_MD_HDR_LEN;
	it->index = 0;
	it->count = 0;
	it->err = 0;
	if (tkx_md_hdr_decode(buf, len, &it->hdr) < 0) {
		it->off = 0;
		it->err = -ENODATA;
		return -ENODATA;
	}
	it->count = it->hdr.count == TKX_MD_END_OF_SESSION ? 0 : it->hdr.count;
	return 0;
}

int tkx_md_iter_next(struct tkx_md_iter *it, const void **msg, size_t *msg_len,
		     uint64_t *seq)
{
	size_t left = it->len - it->off;
	uint16_t n;

	if (it->err)
		return it->err;
	if (it->index == it->count) {
		if (left != 0)
			return it->err = -EBADMSG; /* bytes after the last message */
		return 0;
	}
	if (left < 2)
		return it->err = -ENODATA;
	memcpy(&n, it->buf + it->off, 2);
	if (n < TKX_HDR_LEN)
		return it->err = -EBADMSG;
	if (left - 2 < n)
		return it->err = -ENODATA;
	*msg = it->buf + it->off + 2;
	*msg_len = n;
	if (seq)
		*seq = it->hdr.sequence + it->index;
	it->off += 2 + (size_t)n;
	it->index++;
	return 1;
}

int tkx_md_iter_decode(struct tkx_md_iter *it, struct tkx_msg *out, uint64_t *seq)
{
	const void *msg = NULL;
	size_t len = 0, at = it->off;
	int rc = tkx_md_iter_next(it, &msg, &len, seq);

	if (rc <= 0)
		return rc;
	rc = tkx_decode(msg, len, out);
	if (rc == -ENODATA || (rc > 0 && (size_t)rc != len))
		rc = -EBADMSG; /* the prefix says the message is complete: the lengths disagree */
	if (rc < 0) {
		it->off = at;
		it->index--;
		return it->err = rc;
	}
	return 1;
}

/* ---- Credentials ------------------------------------------------------------------ */

/* Offset of `credentials` in the signed templates' blocks, or -1. */
static int tkx__cred_off(uint16_t tid)
{
	switch (tid) {
	case TKX_NEGOTIATE:
		return (int)offsetof(struct tkx_negotiate, credentials);
	case TKX_ESTABLISH:
		return (int)offsetof(struct tkx_establish, credentials);
	default:
		return -1;
	}
}

int tkx_credential(const uint8_t *key, size_t key_len, const void *msg, size_t len,
		   uint8_t out[TKX_CREDENTIAL_LEN])
{
	/* OpenSSL wants non-NULL pointers even for empty inputs. */
	static const uint8_t empty[1];
	unsigned int olen = 0;

	if (key_len > INT_MAX || (!key && key_len) || (!msg && len) || !out)
		return -EINVAL;
	if (!key)
		key = empty;
	if (!msg)
		msg = empty;
	if (!HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, len, out, &olen) ||
	    olen != TKX_CREDENTIAL_LEN)
		return -EIO;
	return 0;
}

int tkx_credential_check(const uint8_t *key, size_t key_len, const void *msg, size_t len,
			 const uint8_t expect[TKX_CREDENTIAL_LEN])
{
	uint8_t mac[TKX_CREDENTIAL_LEN];
	int rc = tkx_credential(key, key_len, msg, len, mac);

	if (rc < 0)
		return rc;
	rc = CRYPTO_memcmp(mac, expect, TKX_CREDENTIAL_LEN) ? -EACCES : 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	return rc;
}

/* Checks that msg is a complete Negotiate/Establish; the signed span's length or error. */
static int tkx__signed_span(const void *msg, size_t len)
{
	struct tkx_msg m;
	int n = tkx_decode(msg, len, &m), off;

	if (n < 0)
		return n;
	off = tkx__cred_off(m.template_id);
	return off < 0 ? -EINVAL : TKX_HDR_LEN + off;
}

int tkx_sign(const uint8_t *key, size_t key_len, void *msg, size_t len)
{
	int span = tkx__signed_span(msg, len);

	if (span < 0)
		return span;
	return tkx_credential(key, key_len, msg, (size_t)span, (uint8_t *)msg + span);
}

int tkx_verify(const uint8_t *key, size_t key_len, const void *msg, size_t len)
{
	int span = tkx__signed_span(msg, len);

	if (span < 0)
		return span;
	return tkx_credential_check(key, key_len, msg, (size_t)span,
				    (const uint8_t *)msg + span);
}

int tkx_sign_msg(const uint8_t *key, size_t key_len, struct tkx_msg *m)
{
	uint8_t wire[TKX_MAX_MSG_LEN];
	int off = tkx__cred_off(m->template_id);

	if (off < 0)
		return -EINVAL;
	tkx_encode(wire, sizeof(wire), m);
	return tkx_credential(key, key_len, wire, (size_t)(TKX_HDR_LEN + off), m->raw + off);
}

int tkx_verify_msg(const uint8_t *key, size_t key_len, const struct tkx_msg *m)
{
	uint8_t wire[TKX_MAX_MSG_LEN];
	int off = tkx__cred_off(m->template_id);

	if (off < 0)
		return -EINVAL;
	tkx_encode(wire, sizeof(wire), m);
	return tkx_credential_check(key, key_len, wire, (size_t)(TKX_HDR_LEN + off),
				    m->raw + off);
}

/* ---- UDP datagram authentication ------------------------------------------------- */

_Static_assert(crypto_shorthash_siphash24_KEYBYTES == TKX_AUTH_KEY_LEN, "SipHash key size");
_Static_assert(crypto_shorthash_siphash24_BYTES == TKX_AUTH_MAC_LEN, "SipHash output size");

int tkx_auth_derive(const uint8_t *secret, size_t secret_len, uint64_t session_id,
		    uint32_t firm_id, uint64_t timestamp, struct tkx_auth_keys *out)
{
	uint8_t msg[TKX_AUTH_LABEL_LEN + 8 + 4 + 8], k[TKX_CREDENTIAL_LEN];
	int rc;

	if (!secret || !secret_len || !out)
		return -EINVAL;
	/* libsodium's set-up (idempotent, thread-safe) before its first use by this process. */
	if (sodium_init() < 0)
		return -EIO;
	memcpy(msg, TKX_AUTH_LABEL, TKX_AUTH_LABEL_LEN);
	memcpy(msg + TKX_AUTH_LABEL_LEN, &session_id, 8); /* little-endian hosts only */
	memcpy(msg + TKX_AUTH_LABEL_LEN + 8, &firm_id, 4);
	memcpy(msg + TKX_AUTH_LABEL_LEN + 12, &timestamp, 8);
	rc = tkx_credential(secret, secret_len, msg, sizeof(msg), k);
	if (rc == 0) {
		memcpy(out->c2e, k, TKX_AUTH_KEY_LEN);
		memcpy(out->e2c, k + TKX_AUTH_KEY_LEN, TKX_AUTH_KEY_LEN);
	}
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

/* The header a DatagramAuth carries, as the two little-endian words it reads as. */
#define TKX__AUTH_HDR_WORD ((uint32_t)sizeof(struct tkx_datagram_auth) | \
			    (uint32_t)TKX_DATAGRAM_AUTH << 16)

int tkx_auth_find(const void *dgram, size_t len)
{
	const uint8_t *p = (const uint8_t *)dgram;
	uint32_t w0, w1;

	/* By position, not by walking the messages: what precedes it is authenticated as it
	 * is, so a malformed message before it is dropped and counted like any (7.1). */
	if (len < TKX_AUTH_LEN || len > TKX_MAX_DGRAM)
		return -ENOENT;
	memcpy(&w0, p + len - TKX_AUTH_LEN, 4);
	memcpy(&w1, p + len - TKX_AUTH_LEN + 4, 4);
	if (w0 != TKX__AUTH_HDR_WORD || w1 != TKX__SCHEMA_WORD)
		return -ENOENT;
	return (int)(len - TKX_AUTH_LEN);
}

int tkx_auth_seal(const uint8_t key[TKX_AUTH_KEY_LEN], uint64_t counter, void *dgram,
		  size_t len, size_t cap)
{
	uint8_t *p = (uint8_t *)dgram;
	struct tkx_datagram_auth a = { .counter = counter };

	if (cap < TKX_AUTH_LEN || len > cap - TKX_AUTH_LEN || len > INT_MAX - TKX_AUTH_LEN)
		return -ENOSPC;
	tkx__enc(p + len, TKX_AUTH_LEN, TKX_DATAGRAM_AUTH, &a, (uint16_t)sizeof(a));
	/* The MAC covers everything before its own 8 bytes. */
	crypto_shorthash(p + len + TKX_AUTH_LEN - TKX_AUTH_MAC_LEN, p,
			 len + TKX_AUTH_LEN - TKX_AUTH_MAC_LEN, key);
	return (int)(len + TKX_AUTH_LEN);
}

int tkx_auth_open(const uint8_t key[TKX_AUTH_KEY_LEN], const void *dgram, size_t len,
		  uint64_t *counter)
{
	const uint8_t *p = (const uint8_t *)dgram;
	uint8_t mac[TKX_AUTH_MAC_LEN];
	int off = tkx_auth_find(dgram, len);

	if (off < 0)
		return off;
	crypto_shorthash(mac, p, len - TKX_AUTH_MAC_LEN, key);
	if (sodium_memcmp(mac, p + len - TKX_AUTH_MAC_LEN, TKX_AUTH_MAC_LEN) != 0)
		return -EACCES;
	memcpy(counter, p + off + TKX_HDR_LEN, 8);
	return off;
}

/* ---- Names ------------------------------------------------------------------------ */

#define TKX__LOOKUP(table, v)                                                      \
	((v) < sizeof(table) / sizeof((table)[0]) && (table)[v] ? (table)[v] : "Unknown")

const char *tkx_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "Success";
	case ENODATA:
		return "truncated: fewer bytes than the message";
	case EPROTO:
		return "wrong schema id or version";
	case ENOMSG:
		return "unknown template id";
	case EBADMSG:
		return "malformed: block length, framing length, reserved field or enum";
	case EINVAL:
		return "invalid field value";
	case ENOSPC:
		return "output buffer too small";
	case EMSGSIZE:
		return "SOFH frame length out of range";
	case EPROTONOSUPPORT:
		return "SOFH encoding type is not SBE 1.0 little-endian (0xEB50)";
	case ENOBUFS:
		return "more messages in the datagram than room for them";
	case EACCES:
		return "credentials do not match";
	case EIO:
		return "crypto library failure";
	default:
		return "unknown error";
	}
}

const char *tkx_template_name(uint16_t template_id)
{
	return TKX__LOOKUP(tkx__tname, template_id);
}

const char *tkx_dir_name(int dir)
{
	static const char *const names[] = {
		[TKX_DIR_C2E] = "ClientToExchange",
		[TKX_DIR_E2C] = "ExchangeToClient",
		[TKX_DIR_BOTH] = "BothWays",
		[TKX_DIR_MD] = "MarketData",
	};

	return dir < 0 ? "Unknown" : TKX__LOOKUP(names, (unsigned)dir);
}

const char *tkx_side_name(unsigned side)
{
	static const char *const names[] = {
		[TKX_SIDE_BUY] = "Buy",
		[TKX_SIDE_SELL] = "Sell",
	};

	return TKX__LOOKUP(names, side);
}

const char *tkx_tif_name(unsigned tif)
{
	static const char *const names[] = {
		[TKX_TIF_GTC] = "GTC",
		[TKX_TIF_IOC] = "IOC",
		[TKX_TIF_FOK] = "FOK",
		[TKX_TIF_POST] = "PostOnly",
		[TKX_TIF_DAY] = "Day",
	};

	return TKX__LOOKUP(names, tif);
}

const char *tkx_scope_name(unsigned scope)
{
	static const char *const names[] = {
		[TKX_SCOPE_SESSION] = "Session",
		[TKX_SCOPE_ACCOUNT] = "Account",
	};

	return TKX__LOOKUP(names, scope);
}

const char *tkx_reject_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[TKX_REJ_INVALID_PRICE] = "InvalidPrice",
		[TKX_REJ_INVALID_QTY] = "InvalidQty",
		[TKX_REJ_INVALID_SIDE] = "InvalidSide",
		[TKX_REJ_INVALID_TIF] = "InvalidTif",
		[TKX_REJ_UNKNOWN_CONTRACT] = "UnknownContract",
		[TKX_REJ_CLORDID_REUSED] = "ClOrdIdReused",
		[TKX_REJ_UNKNOWN_ORDER] = "UnknownOrder",
		[TKX_REJ_POST_CROSS] = "PostOnlyWouldCross",
		[TKX_REJ_TICK] = "OffTick",
		[TKX_REJ_PRICE_BAND] = "OutsidePriceBand",
		[TKX_REJ_MAX_QTY] = "AboveMaxQty",
		[TKX_REJ_BOOK_FULL] = "BookFull",
		[TKX_REJ_BUSY] = "Busy",
		[TKX_REJ_PHASE] = "WrongPhase",
		[TKX_REJ_HALTED] = "Halted",
		[TKX_REJ_THROTTLED] = "Throttled",
		[TKX_REJ_KILL_SWITCH] = "KillSwitch",
		[TKX_REJ_POSITION_LIMIT] = "PositionLimit",
		[TKX_REJ_DUP_ORDER] = "DuplicateOrder",
		[TKX_REJ_NOT_OWNER] = "NotOwner",
		[TKX_REJ_STORAGE] = "Storage",
		[TKX_REJ_INVALID_SCOPE] = "InvalidScope",
		[TKX_REJ_INVALID_ACCOUNT] = "InvalidAccount",
		[TKX_REJ_INVALID_SHOW] = "InvalidShowQty",
		[TKX_REJ_INVALID_STOP] = "InvalidStopPrice",
	};

	return TKX__LOOKUP(names, reason);
}

const char *tkx_cancel_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[TKX_CXL_CLIENT] = "Client",
		[TKX_CXL_IOC] = "IOCExpired",
		[TKX_CXL_FOK] = "FOKUnfilled",
		[TKX_CXL_STP] = "SelfTradePrevention",
		[TKX_CXL_MASS] = "MassCancel",
		[TKX_CXL_DISCONNECT] = "CancelOnDisconnect",
		[TKX_CXL_KILL_SWITCH] = "KillSwitch",
		[TKX_CXL_EXPIRY] = "Expiry",
		[TKX_CXL_OPERATOR] = "Operator",
		[TKX_CXL_DAY_END] = "DayEnd",
		[TKX_CXL_ELECTED_REFUSED] = "ElectedRefused",
	};

	return TKX__LOOKUP(names, reason);
}

const char *tkx_session_reject_name(unsigned reason)
{
	static const char *const names[] = {
		[TKX_SREJ_UNKNOWN_FIRM] = "UnknownFirm",
		[TKX_SREJ_BAD_CREDENTIALS] = "BadCredentials",
		[TKX_SREJ_STALE_TIMESTAMP] = "StaleTimestamp",
		[TKX_SREJ_SESSION_IN_USE] = "SessionInUse",
		[TKX_SREJ_NOT_NEGOTIATED] = "NotNegotiated",
		[TKX_SREJ_BAD_KEEPALIVE] = "BadKeepalive",
		[TKX_SREJ_NOT_ESTABLISHED] = "NotEstablished",
		[TKX_SREJ_OUT_OF_RANGE] = "OutOfRange",
		[TKX_SREJ_TOO_MANY] = "TooMany",
		[TKX_SREJ_UNSPECIFIED] = "Unspecified",
		[TKX_SREJ_SESSION_LIMIT] = "SessionLimit",
	};

	return TKX__LOOKUP(names, reason);
}

const char *tkx_terminate_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[TKX_TERM_FINISHED] = "Finished",
		[TKX_TERM_UNSPECIFIED] = "Unspecified",
		[TKX_TERM_KEEPALIVE_TIMEOUT] = "KeepaliveTimeout",
		[TKX_TERM_PROTOCOL_ERROR] = "ProtocolError",
		[TKX_TERM_THROTTLE] = "Throttle",
		[TKX_TERM_SHUTDOWN] = "Shutdown",
		[TKX_TERM_SEQ_BELOW_EXPECTED] = "SeqBelowExpected",
	};

	return TKX__LOOKUP(names, reason);
}

const char *tkx_breject_reason_name(unsigned reason)
{
	static const char *const names[] = {
		[TKX_BREJ_NOT_ESTABLISHED] = "NotEstablished",
		[TKX_BREJ_WRONG_DIRECTION] = "WrongDirection",
		[TKX_BREJ_INVALID_FIELD] = "InvalidField",
		[TKX_BREJ_UNSUPPORTED] = "Unsupported",
	};

	return TKX__LOOKUP(names, reason);
}

const char *tkx_phase_name(unsigned phase)
{
	static const char *const names[] = {
		[TKX_PHASE_DEFINED] = "Defined",
		[TKX_PHASE_LISTED] = "Listed",
		[TKX_PHASE_PRE_OPEN] = "PreOpen",
		[TKX_PHASE_AUCTION] = "Auction",
		[TKX_PHASE_CONTINUOUS] = "Continuous",
		[TKX_PHASE_BREAK] = "Break",
		[TKX_PHASE_HALTED] = "Halted",
		[TKX_PHASE_CLOSED] = "Closed",
		[TKX_PHASE_SETTLED] = "Settled",
		[TKX_PHASE_EXPIRED] = "Expired",
		[TKX_PHASE_FINAL_SETTLED] = "FinalSettled",
		[TKX_PHASE_DELISTED] = "Delisted",
	};

	return TKX__LOOKUP(names, phase);
}
