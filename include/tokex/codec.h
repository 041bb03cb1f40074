/*
 * tokex/codec.h - encode, decode and validate tokex wire messages; SOFH, UDP datagram and
 * market-data packet framing; session credentials.
 *
 * Role in the data path: RX cores call tkx_dgram_next() (UDP) or tkx_decode_frame() (TCP
 * gateway) on every inbound message, then tkx_validate() before a request goes to a
 * matching core; TX cores and the market-data publisher encode with the tkx_enc_*()
 * helpers and tkx_md_pkt_*(); the client library uses the same functions from the other
 * side. Nothing here allocates, locks, logs or makes a system call, except the credential
 * functions and tkx_auth_derive() (OpenSSL HMAC; session setup only, never per order).
 * tkx_auth_seal() and tkx_auth_open() run once per UDP datagram (libsodium SipHash-2-4).
 *
 * Layers, outermost first, and the functions for each:
 *   UDP order entry   datagram = message+ [DatagramAuth]  tkx_dgram_next, tkx_decode_dgram,
 *                                                         tkx_auth_seal, tkx_auth_open
 *   TCP order entry   stream   = (SOFH message)*          tkx_sofh_next, tkx_decode_frame
 *   market data       packet   = md_hdr (len16 message)*  tkx_md_pkt_*, tkx_md_iter_*
 *   message           header block                        tkx_decode, tkx_enc_*, tkx_encode
 *   fields            reserved zero, enums in range        tkx_validate
 *
 * Errors: negative errno everywhere; tkx_strerror() gives the text.
 *   -ENODATA          truncated: fewer bytes than the header or its block (more may come)
 *   -EPROTO           schemaId or version is not this schema's
 *   -ENOMSG           templateId unknown
 *   -EBADMSG          blockLength is not the template's size, or a SOFH frame / MD length
 *                     prefix disagrees with the message inside it; from tkx_validate(): a
 *                     reserved field non-zero or an enum out of range (BusinessReject)
 *   -EINVAL           from tkx_validate(): a value in a client->exchange application
 *                     request that the exchange refuses (ExecReject); elsewhere a bad argument
 *   -ENOSPC           the output buffer is too small (nothing written)
 *   -EMSGSIZE         SOFH frame length below 6 + 8 or above 6 + TKX_MAX_MSG_LEN
 *   -EPROTONOSUPPORT  SOFH encoding type is not 0xEB50
 *   -ENOBUFS          a datagram holds more messages than the caller's array
 *   -EACCES           credentials do not match
 *
 * Invariants (test_codec checks each; fuzz_decode checks 1-3 on random input):
 *  1. Decoders never read outside [buf, buf + len); encoders never write outside
 *     [buf, buf + cap) and write nothing when they return an error.
 *  2. tkx_decode() accepts a message only when its header is canonical (this schema,
 *     version, a known template and that template's exact blockLength), so a decoded
 *     message re-encodes to the same bytes: tkx_encode(tkx_decode(b)) == b[0, n).
 *  3. tkx_decode() checks structure only; it never looks inside the block. A message it
 *     accepts may still fail tkx_validate().
 *  4. tkx_validate() answers -EINVAL only for client->exchange application templates
 *     (100-199), with a tkx_reject_reason; every other failure is -EBADMSG with a
 *     tkx_breject_reason (TKX_BREJ_INVALID_FIELD).
 */
#ifndef TOKEX_CODEC_H
#define TOKEX_CODEC_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tokex/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Every template, once: (ENUM suffix, struct/member name, display name, direction).
 * The struct is `struct tkx_<name>`, the enum TKX_<ENUM>, the union member in struct
 * tkx_msg is `<name>`, the encoder tkx_enc_<name>(). Adding a message is one line here
 * (plus its layout in proto.h and its checks in tkx_validate()).
 */
#define TKX_TEMPLATES(X)                                                            \
	X(NEGOTIATE, negotiate, "Negotiate", TKX_DIR_C2E)                           \
	X(NEGOTIATION_RESPONSE, negotiation_response, "NegotiationResponse", TKX_DIR_E2C) \
	X(NEGOTIATION_REJECT, negotiation_reject, "NegotiationReject", TKX_DIR_E2C) \
	X(ESTABLISH, establish, "Establish", TKX_DIR_C2E)                           \
	X(ESTABLISHMENT_ACK, establishment_ack, "EstablishmentAck", TKX_DIR_E2C)    \
	X(ESTABLISHMENT_REJECT, establishment_reject, "EstablishmentReject", TKX_DIR_E2C) \
	X(SEQUENCE, sequence, "Sequence", TKX_DIR_BOTH)                             \
	X(NOT_APPLIED, not_applied, "NotApplied", TKX_DIR_E2C)                      \
	X(RETRANSMIT_REQUEST, retransmit_request, "RetransmitRequest", TKX_DIR_C2E) \
	X(RETRANSMISSION, retransmission, "Retransmission", TKX_DIR_E2C)            \
	X(RETRANSMIT_REJECT, retransmit_reject, "RetransmitReject", TKX_DIR_E2C)    \
	X(TERMINATE, terminate, "Terminate", TKX_DIR_BOTH)                          \
	X(DATAGRAM_AUTH, datagram_auth, "DatagramAuth", TKX_DIR_BOTH)               \
	X(NEW_ORDER, new_order, "NewOrder", TKX_DIR_C2E)                            \
	X(CANCEL_ORDER, cancel_order, "CancelOrder", TKX_DIR_C2E)                   \
	X(MODIFY_ORDER, modify_order, "ModifyOrder", TKX_DIR_C2E)                   \
	X(MASS_CANCEL, mass_cancel, "MassCancel", TKX_DIR_C2E)                      \
	X(EXEC_ACK, exec_ack, "ExecAck", TKX_DIR_E2C)                               \
	X(EXEC_REJECT, exec_reject, "ExecReject", TKX_DIR_E2C)                      \
	X(FILL, fill, "Fill", TKX_DIR_E2C)                                          \
	X(CANCELLED, cancelled, "Cancelled", TKX_DIR_E2C)                           \
	X(MODIFY_ACK, modify_ack, "ModifyAck", TKX_DIR_E2C)                         \
	X(MASS_CANCEL_ACK, mass_cancel_ack, "MassCancelAck", TKX_DIR_E2C)           \
	X(BUSINESS_REJECT, business_reject, "BusinessReject", TKX_DIR_E2C)          \
	X(STOP_ELECTED, stop_elected, "StopElected", TKX_DIR_E2C)                   \
	X(MD_TOP_OF_BOOK, md_top_of_book, "TopOfBook", TKX_DIR_MD)                  \
	X(MD_TRADE, md_trade, "Trade", TKX_DIR_MD)                                  \
	X(MD_CONTRACT_STATUS, md_contract_status, "ContractStatus", TKX_DIR_MD)     \
	X(MD_SNAPSHOT, md_snapshot, "Snapshot", TKX_DIR_MD)                         \
	X(MD_GAP_REJECT, md_gap_reject, "GapReject", TKX_DIR_MD)                    \
	X(MD_INSTRUMENT, md_instrument, "InstrumentDefinition", TKX_DIR_MD)         \
	X(MD_ORDER, md_order, "OrderBook", TKX_DIR_MD)                              \
	X(MD_DEPTH, md_depth, "Depth", TKX_DIR_MD)

#define TKX_TEMPLATE_COUNT 33
#define TKX_TEMPLATE_ID_LIMIT 308 /* one above the largest template id */
#define TKX_MAX_BLOCK_LEN 72      /* MDSnapshot, the largest block */
TKX_STATIC_ASSERT(TKX_HDR_LEN + TKX_MAX_BLOCK_LEN <= TKX_MAX_MSG_LEN, "TKX_MAX_MSG_LEN");

/* Who may send a template (a bit mask: Sequence and Terminate go both ways). */
enum tkx_dir {
	TKX_DIR_C2E = 1,  /* client -> exchange, order entry */
	TKX_DIR_E2C = 2,  /* exchange -> client, order entry */
	TKX_DIR_BOTH = 3, /* TKX_DIR_C2E | TKX_DIR_E2C */
	TKX_DIR_MD = 4,   /* exchange -> everyone, market data */
};

/* One decoded message. 80 bytes: a burst of 32 is 2.5 KiB, fits L1 beside the mbufs. */
struct tkx_msg {
	uint16_t template_id; /* enum tkx_template: says which member of the union is valid */
	union {
#define TKX__MEMBER(id, name, text, dir) struct tkx_##name name;
		TKX_TEMPLATES(TKX__MEMBER)
#undef TKX__MEMBER
		uint8_t raw[TKX_MAX_BLOCK_LEN]; /* the block as on the wire */
	};
};
TKX_STATIC_ASSERT(sizeof(struct tkx_msg) == 8 + TKX_MAX_BLOCK_LEN, "tkx_msg size");

/* ---- Message encode / decode -------------------------------------------------------- */

/*
 * Decode the message at buf: check its header and copy its block into out (out may be
 * NULL to only measure). Returns bytes consumed (8 + blockLength) or -ENODATA, -EPROTO,
 * -ENOMSG, -EBADMSG. Checks are made in that order, so -ENODATA means "more bytes could
 * complete this message" and nothing else does.
 */
int tkx_decode(const void *buf, size_t len, struct tkx_msg *out);

/*
 * Field checks for a decoded message. 0, or:
 *  -EINVAL: a client->exchange application request the exchange refuses; *reason is a
 *           tkx_reject_reason for the ExecReject (INVALID_PRICE, INVALID_QTY,
 *           INVALID_SIDE, INVALID_TIF, INVALID_SHOW, INVALID_STOP, INVALID_SCOPE).
 *  -EBADMSG: any template: a reserved field non-zero or an enum out of range; *reason is
 *           TKX_BREJ_INVALID_FIELD for the BusinessReject.
 *  -ENOMSG: template_id unknown; *reason is TKX_BREJ_UNSUPPORTED.
 * On 0, *reason is 0. reason may be NULL. Reserved fields are checked before values.
 * What it does not check needs state or configuration (contract, tick, band, owner).
 */
int tkx_validate(const struct tkx_msg *m, uint16_t *reason);

/* Encode m (header + its template's block). Bytes written, -ENOMSG, or -ENOSPC. */
int tkx_encode(void *buf, size_t cap, const struct tkx_msg *m);

/* The template's blockLength, or -ENOMSG. */
int tkx_block_length(uint16_t template_id);

/* enum tkx_dir for the template, or -ENOMSG. */
int tkx_template_dir(uint16_t template_id);

/* Write an SBE header and `blen` bytes of `block`. Bytes written or -ENOSPC. */
static inline int tkx__enc(void *buf, size_t cap, uint16_t template_id, const void *block,
			   uint16_t blen)
{
	struct tkx_hdr h = {
		.block_length = blen,
		.template_id = template_id,
		.schema_id = TKX_SCHEMA_ID,
		.version = TKX_SCHEMA_VERSION,
	};

	if (cap < (size_t)TKX_HDR_LEN + blen)
		return -ENOSPC;
	memcpy(buf, &h, sizeof(h));
	memcpy((uint8_t *)buf + TKX_HDR_LEN, block, blen);
	return TKX_HDR_LEN + blen;
}

/*
 * int tkx_enc_<name>(void *buf, size_t cap, const struct tkx_<name> *m): write the header
 * and m's block into buf. Returns 8 + sizeof(*m), or -ENOSPC. The struct is copied as is:
 * build it with a designated initialiser so reserved fields are zero. One per template:
 *   tkx_enc_negotiate, tkx_enc_negotiation_response, tkx_enc_negotiation_reject,
 *   tkx_enc_establish, tkx_enc_establishment_ack, tkx_enc_establishment_reject,
 *   tkx_enc_sequence, tkx_enc_not_applied, tkx_enc_retransmit_request,
 *   tkx_enc_retransmission, tkx_enc_retransmit_reject, tkx_enc_terminate,
 *   tkx_enc_datagram_auth,
 *   tkx_enc_new_order, tkx_enc_cancel_order, tkx_enc_modify_order, tkx_enc_mass_cancel,
 *   tkx_enc_exec_ack, tkx_enc_exec_reject, tkx_enc_fill, tkx_enc_cancelled,
 *   tkx_enc_modify_ack, tkx_enc_mass_cancel_ack, tkx_enc_business_reject,
 *   tkx_enc_stop_elected,
 *   tkx_enc_md_top_of_book, tkx_enc_md_trade, tkx_enc_md_contract_status,
 *   tkx_enc_md_snapshot, tkx_enc_md_gap_reject, tkx_enc_md_instrument, tkx_enc_md_order,
 *   tkx_enc_md_depth.
 */
#define TKX__ENC(id, name, text, dir)                                                   \
	static inline int tkx_enc_##name(void *buf, size_t cap, const struct tkx_##name *m) \
	{                                                                                \
		return tkx__enc(buf, cap, TKX_##id, m, (uint16_t)sizeof(*m));            \
	}
TKX_TEMPLATES(TKX__ENC)
#undef TKX__ENC

/* ---- UDP order entry: several messages per datagram ------------------------------- */

struct tkx_dgram_iter {
	const uint8_t *buf;
	size_t len;
	size_t off;     /* of the next message; after an error, of the message that failed */
	unsigned count; /* messages decoded so far */
	int err;        /* 0, or the first error (sticky) */
};

static inline void tkx_dgram_init(struct tkx_dgram_iter *it, const void *buf, size_t len)
{
	it->buf = (const uint8_t *)buf;
	it->len = len;
	it->off = 0;
	it->count = 0;
	it->err = 0;
}

/*
 * Decode the datagram's next message into out. Returns bytes consumed (> 0), 0 when the
 * datagram is used up, or the first error (then again on every call; it->off says where).
 * An empty datagram is -ENODATA: a datagram carries at least one message.
 */
int tkx_dgram_next(struct tkx_dgram_iter *it, struct tkx_msg *out);

/*
 * Burst form: decode up to max messages into msgs[]. Returns how many were decoded; *err
 * gets 0 when the whole datagram was decoded, else the error that stopped the walk
 * (-ENOBUFS: more messages than max), and *err_off the offset where it stopped. The
 * messages before the error are valid. err and err_off may be NULL.
 */
int tkx_decode_dgram(const void *buf, size_t len, struct tkx_msg *msgs, unsigned max,
		     int *err, size_t *err_off);

/* The most messages a TKX_MAX_DGRAM datagram can hold (all Sequence, 16 bytes each). */
#define TKX_DGRAM_MAX_MSGS (TKX_MAX_DGRAM / (TKX_HDR_LEN + 8))

/* ---- TCP order entry: Simple Open Framing Header ---------------------------------- */

/*
 * Write the 6-byte SOFH for a message of msg_len bytes (SOFH not included): uint32 frame
 * length (msg_len + 6) and uint16 0xEB50, big-endian. Returns 6, -ENOSPC, or -EMSGSIZE
 * when msg_len is not a possible message length.
 */
static inline int tkx_sofh_encode(void *buf, size_t cap, size_t msg_len)
{
	uint8_t *p = (uint8_t *)buf;
	uint32_t flen;

	if (msg_len < TKX_HDR_LEN || msg_len > TKX_MAX_MSG_LEN)
		return -EMSGSIZE;
	if (cap < TKX_SOFH_LEN)
		return -ENOSPC;
	flen = (uint32_t)msg_len + TKX_SOFH_LEN;
	p[0] = (uint8_t)(flen >> 24);
	p[1] = (uint8_t)(flen >> 16);
	p[2] = (uint8_t)(flen >> 8);
	p[3] = (uint8_t)flen;
	p[4] = (uint8_t)(TKX_SOFH_ENCODING >> 8);
	p[5] = (uint8_t)TKX_SOFH_ENCODING;
	return TKX_SOFH_LEN;
}

/*
 * Given the unconsumed bytes of a TCP stream, the length of the next frame (SOFH
 * included) when all of it is there; 0 when more bytes are needed; -EPROTONOSUPPORT
 * (encoding type not 0xEB50) or -EMSGSIZE (length < 6 + 8 or > 6 + TKX_MAX_MSG_LEN) as
 * soon as the 6 SOFH bytes are there. An error means the stream cannot be resynchronised.
 */
static inline int tkx_sofh_next(const void *buf, size_t len)
{
	const uint8_t *p = (const uint8_t *)buf;
	uint32_t flen;

	if (len < TKX_SOFH_LEN)
		return 0;
	if ((((unsigned)p[4] << 8) | p[5]) != TKX_SOFH_ENCODING)
		return -EPROTONOSUPPORT;
	flen = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
	if (flen < TKX_SOFH_LEN + TKX_HDR_LEN || flen > TKX_SOFH_LEN + TKX_MAX_MSG_LEN)
		return -EMSGSIZE;
	return len >= flen ? (int)flen : 0;
}

/*
 * tkx_sofh_next() then tkx_decode() of the frame's message: frame bytes consumed, 0 when
 * more bytes are needed, or an error. -EBADMSG when the frame length and the message
 * length disagree (a complete frame never gives -ENODATA).
 */
int tkx_decode_frame(const void *buf, size_t len, struct tkx_msg *out);

/* SOFH + message. Bytes written, -ENOMSG, or -ENOSPC. */
int tkx_encode_frame(void *buf, size_t cap, const struct tkx_msg *m);

/* ---- Market data: MoldUDP64-style packets ------------------------------------------ */

/* Fill a session name: s (at most 10 printable ASCII characters) padded with spaces. */
int tkx_md_session(char dst[TKX_MD_SESSION_LEN], const char *s);

/* 20 or -ENOSPC. Use for heartbeats (count 0) and end of session (count 0xFFFF). */
static inline int tkx_md_hdr_encode(void *buf, size_t cap, const struct tkx_md_hdr *h)
{
	if (cap < TKX_MD_HDR_LEN)
		return -ENOSPC;
	memcpy(buf, h, TKX_MD_HDR_LEN);
	return TKX_MD_HDR_LEN;
}

/* 20 or -ENODATA. */
static inline int tkx_md_hdr_decode(const void *buf, size_t len, struct tkx_md_hdr *h)
{
	if (len < TKX_MD_HDR_LEN)
		return -ENODATA;
	memcpy(h, buf, TKX_MD_HDR_LEN);
	return TKX_MD_HDR_LEN;
}

/*
 * A packet being built in a caller's buffer. The header's count is rewritten on each
 * commit, so buf[0, len) is a complete packet at any time:
 *     tkx_md_pkt_init(&p, buf, TKX_MAX_DGRAM, session, seq);
 *     dst = tkx_md_pkt_room(&p, &room);
 *     n = tkx_enc_md_trade(dst, room, &t);        // -ENOSPC: send p and start another
 *     if (n > 0) tkx_md_pkt_commit(&p, n);
 */
struct tkx_md_pkt {
	uint8_t *buf;
	size_t cap;
	size_t len;     /* bytes used, header included: the datagram to send */
	uint16_t count; /* messages committed */
};

#define TKX_MD_MAX_COUNT 0xFFFEu /* 0xFFFF means end of session */

/* 0, or -ENOSPC when cap < 20. */
static inline int tkx_md_pkt_init(struct tkx_md_pkt *p, void *buf, size_t cap,
				  const char session[TKX_MD_SESSION_LEN], uint64_t sequence)
{
	struct tkx_md_hdr h;

	if (cap < TKX_MD_HDR_LEN)
		return -ENOSPC;
	memcpy(h.session, session, TKX_MD_SESSION_LEN);
	h.sequence = sequence;
	h.count = 0;
	memcpy(buf, &h, TKX_MD_HDR_LEN);
	p->buf = (uint8_t *)buf;
	p->cap = cap;
	p->len = TKX_MD_HDR_LEN;
	p->count = 0;
	return 0;
}

/* Where the next message goes (after its length prefix) and how many bytes fit there;
 * NULL with *room 0 when not even a header fits. */
static inline void *tkx_md_pkt_room(const struct tkx_md_pkt *p, size_t *room)
{
	size_t left = p->cap - p->len;

	if (left < 2 + TKX_HDR_LEN || p->count >= TKX_MD_MAX_COUNT) {
		*room = 0;
		return NULL;
	}
	left -= 2;
	*room = left > UINT16_MAX ? UINT16_MAX : left;
	return p->buf + p->len + 2;
}

/* Account for an n-byte message written at tkx_md_pkt_room(). 0, -EINVAL (n not a
 * message length), or -ENOSPC. */
static inline int tkx_md_pkt_commit(struct tkx_md_pkt *p, size_t n)
{
	uint16_t n16 = (uint16_t)n;

	if (n < TKX_HDR_LEN || n > UINT16_MAX)
		return -EINVAL;
	if (p->cap - p->len < 2 + n || p->count >= TKX_MD_MAX_COUNT)
		return -ENOSPC;
	memcpy(p->buf + p->len, &n16, 2); /* little-endian like the rest of tokex */
	p->len += 2 + n;
	p->count++;
	memcpy(p->buf + offsetof(struct tkx_md_hdr, count), &p->count, 2);
	return 0;
}

/* Copy an encoded message of n bytes into the packet. 0, -EINVAL or -ENOSPC. */
static inline int tkx_md_pkt_append(struct tkx_md_pkt *p, const void *msg, size_t n)
{
	size_t room;
	void *dst = tkx_md_pkt_room(p, &room);

	if (n < TKX_HDR_LEN || n > UINT16_MAX)
		return -EINVAL;
	if (!dst || room < n)
		return -ENOSPC;
	memcpy(dst, msg, n);
	return tkx_md_pkt_commit(p, n);
}

struct tkx_md_iter {
	const uint8_t *buf;
	size_t len;
	size_t off;             /* of the next length prefix; after an error, of the failing one */
	struct tkx_md_hdr hdr;  /* as received */
	uint16_t count;         /* messages in the packet: 0 for heartbeat and end of session */
	uint16_t index;         /* messages returned so far */
	int err;                /* 0, or the first error (sticky) */
};

/* 0, or -ENODATA when the packet is shorter than its header. */
int tkx_md_iter_init(struct tkx_md_iter *it, const void *buf, size_t len);

/*
 * The next message's bytes (*msg, *msg_len) and stream sequence number (hdr.sequence +
 * index; seq may be NULL). Returns 1, 0 after the last, or the first error (sticky):
 * -ENODATA when a length prefix or message runs past the packet or fewer messages than
 * count are there, -EBADMSG for a length prefix below 8 or bytes after the last message.
 */
int tkx_md_iter_next(struct tkx_md_iter *it, const void **msg, size_t *msg_len,
		     uint64_t *seq);

/* tkx_md_iter_next() then tkx_decode(); -EBADMSG when the prefix and the message length
 * disagree. Returns 1, 0 after the last, or the first error (sticky). */
int tkx_md_iter_decode(struct tkx_md_iter *it, struct tkx_msg *out, uint64_t *seq);

/* ---- Session credentials: HMAC-SHA256 ----------------------------------------------- */

/* HMAC-SHA256(key, msg[0, len)) into out. 0, -EINVAL (bad arguments) or -EIO (OpenSSL). */
int tkx_credential(const uint8_t *key, size_t key_len, const void *msg, size_t len,
		   uint8_t out[TKX_CREDENTIAL_LEN]);

/* 0 when HMAC-SHA256(key, msg[0, len)) equals expect (constant time), else -EACCES. */
int tkx_credential_check(const uint8_t *key, size_t key_len, const void *msg, size_t len,
			 const uint8_t expect[TKX_CREDENTIAL_LEN]);

/*
 * Sign / verify an encoded Negotiate or Establish in place: the MAC covers the header and
 * the block bytes before `credentials` (proto.h). The message must decode (else its
 * tkx_decode() error); another template is -EINVAL; a mismatch is -EACCES.
 */
int tkx_sign(const uint8_t *key, size_t key_len, void *msg, size_t len);
int tkx_verify(const uint8_t *key, size_t key_len, const void *msg, size_t len);

/* The same on a decoded message (its header is canonical, so it is rebuilt). */
int tkx_sign_msg(const uint8_t *key, size_t key_len, struct tkx_msg *m);
int tkx_verify_msg(const uint8_t *key, size_t key_len, const struct tkx_msg *m);

/* ---- UDP datagram authentication: SipHash-2-4 (docs/protocol.md 4.13) ------------------
 *
 * Every datagram of a UDP session ends with a DatagramAuth (template 13): a counter that
 * strictly increases per key, and SipHash-2-4 under the sender's direction key over the
 * datagram's bytes up to the MAC field. The keys come from the Negotiate that opened the
 * session (tkx_auth_derive()), so only holders of the firm's secret can make them; the
 * session identity is in the key, so a datagram of one session never verifies in another.
 */

struct tkx_auth_keys {
	uint8_t c2e[TKX_AUTH_KEY_LEN]; /* the client's datagrams */
	uint8_t e2c[TKX_AUTH_KEY_LEN]; /* the exchange's datagrams */
};

/* The label that starts the key derivation's message (14 ASCII bytes, no NUL). */
#define TKX_AUTH_LABEL "tokex-udp-auth"
#define TKX_AUTH_LABEL_LEN 14

/*
 * A session's keys from the Negotiate that opened it:
 *   HMAC-SHA256(firm secret, "tokex-udp-auth" || session_id || firm_id || timestamp)
 * (integers little-endian, 8 + 4 + 8 bytes), bytes [0, 16) the client-to-exchange key,
 * [16, 32) the exchange-to-client key. 0, -EINVAL (bad arguments) or -EIO (OpenSSL).
 */
int tkx_auth_derive(const uint8_t *secret, size_t secret_len, uint64_t session_id,
		    uint32_t firm_id, uint64_t timestamp, struct tkx_auth_keys *out);

/*
 * Where the datagram's DatagramAuth starts: len - TKX_AUTH_LEN when its last 24 bytes
 * carry a DatagramAuth's canonical header (found by position: the messages before it
 * are not walked, and may be malformed); -ENOENT otherwise, or when len is above
 * TKX_MAX_DGRAM.
 */
int tkx_auth_find(const void *dgram, size_t len);

/* Appends a DatagramAuth (counter, MAC under key) to dgram[0, len). The new length
 * (len + TKX_AUTH_LEN), or -ENOSPC when cap is smaller (nothing written). */
int tkx_auth_seal(const uint8_t key[TKX_AUTH_KEY_LEN], uint64_t counter, void *dgram,
		  size_t len, size_t cap);

/*
 * Checks the DatagramAuth that ends dgram: the length of what precedes it (the messages
 * to process; may be 0) with its counter in *counter, or -ENOENT (no DatagramAuth at the
 * end, see tkx_auth_find()), -EACCES (MAC mismatch; compared in constant time). The
 * caller refuses a counter not above the last one it accepted under key (a replay).
 */
int tkx_auth_open(const uint8_t key[TKX_AUTH_KEY_LEN], const void *dgram, size_t len,
		  uint64_t *counter);

/* ---- Names, for logs and tools ------------------------------------------------------- */

/* Text for a codec error (err negative or positive). Never NULL. */
const char *tkx_strerror(int err);

/* Each returns the code's name (e.g. "NewOrder", "InvalidPrice"), or "Unknown". */
const char *tkx_template_name(uint16_t template_id);
const char *tkx_dir_name(int dir);
const char *tkx_side_name(unsigned side);
const char *tkx_tif_name(unsigned tif);
const char *tkx_scope_name(unsigned scope);
const char *tkx_reject_reason_name(unsigned reason);
const char *tkx_cancel_reason_name(unsigned reason);
const char *tkx_session_reject_name(unsigned reason);
const char *tkx_terminate_reason_name(unsigned reason);
const char *tkx_breject_reason_name(unsigned reason);
const char *tkx_phase_name(unsigned phase);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_CODEC_H */
