/*
 * test_codec.c - tokex/codec.h: encode/decode round trips, every structural error for every
 * template, field validation, SOFH framing, UDP datagrams, market-data packets, credentials.
 *
 * Inputs are exactly-sized heap copies (heap_copy()), so under ASan a read one byte past the
 * end of a message fails the test even when the return value is right.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tokex/codec.h"
#include "codec_samples.h"

/* ---- helpers ---------------------------------------------------------------------- */

/* An exactly-sized heap copy: ASan reports any read past len. */
static uint8_t *heap_copy(const void *src, size_t len)
{
	uint8_t *p = malloc(len ? len : 1);

	assert_non_null(p);
	if (len)
		memcpy(p, src, len);
	return p;
}

/* tkx_decode() on an exact copy of src[0, len). */
static int decode_exact(const void *src, size_t len, struct tkx_msg *out)
{
	uint8_t *p = heap_copy(src, len);
	int rc = tkx_decode(len ? p : NULL, len, out);

	free(p);
	return rc;
}

/* The typed encoder for m's template. */
static int enc_typed(void *buf, size_t cap, const struct tkx_msg *m)
{
	switch (m->template_id) {
#define ENC_CASE(id, name, text, dir)                                                    \
	case TKX_##id:                                                                   \
		return tkx_enc_##name(buf, cap, &m->name);
		TKX_TEMPLATES(ENC_CASE)
#undef ENC_CASE
	}
	return -ENOMSG;
}

/* Encode the sample of tid into buf; its length. */
static size_t sample_wire(uint16_t tid, uint8_t *buf, size_t cap, struct tkx_msg *m)
{
	int n;

	assert_int_equal(tkx_sample(tid, m), 0);
	n = tkx_encode(buf, cap, m);
	assert_true(n > 0);
	return (size_t)n;
}

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static int is_known(uint16_t tid)
{
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++)
		if (tkx_sample_ids[i] == tid)
			return 1;
	return 0;
}

/* ---- tables ---------------------------------------------------------------------- */

static void test_tables(void **state)
{
	/* Sizes from proto.h's layout locks, written out again so a table slip shows. */
	static const struct {
		uint16_t tid;
		int blen;
		int dir;
	} want[] = {
		{1, 56, TKX_DIR_C2E},   {2, 24, TKX_DIR_E2C},   {3, 24, TKX_DIR_E2C},
		{4, 64, TKX_DIR_C2E},   {5, 40, TKX_DIR_E2C},   {6, 24, TKX_DIR_E2C},
		{7, 8, TKX_DIR_BOTH},   {8, 16, TKX_DIR_E2C},   {9, 32, TKX_DIR_C2E},
		{10, 32, TKX_DIR_E2C},  {11, 24, TKX_DIR_E2C},  {12, 16, TKX_DIR_BOTH},
		{13, 16, TKX_DIR_BOTH}, {100, 48, TKX_DIR_C2E}, {101, 24, TKX_DIR_C2E}, {102, 32, TKX_DIR_C2E},
		{103, 24, TKX_DIR_C2E}, {200, 48, TKX_DIR_E2C}, {201, 32, TKX_DIR_E2C},
		{202, 56, TKX_DIR_E2C}, {203, 48, TKX_DIR_E2C}, {204, 48, TKX_DIR_E2C},
		{205, 32, TKX_DIR_E2C}, {206, 24, TKX_DIR_E2C}, {207, 48, TKX_DIR_E2C},
		{300, 48, TKX_DIR_MD},
		{301, 40, TKX_DIR_MD},  {302, 24, TKX_DIR_MD},  {303, 72, TKX_DIR_MD},
		{304, 16, TKX_DIR_MD},  {305, 72, TKX_DIR_MD},  {306, 56, TKX_DIR_MD},
		{307, 40, TKX_DIR_MD},
	};
	unsigned known = 0;

	(void)state;
	assert_int_equal(TKX_SAMPLE_COUNT, TKX_TEMPLATE_COUNT);
	assert_int_equal(sizeof(want) / sizeof(want[0]), TKX_TEMPLATE_COUNT);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		assert_int_equal(tkx_sample_ids[i], want[i].tid);
		assert_int_equal(tkx_block_length(want[i].tid), want[i].blen);
		assert_int_equal(tkx_template_dir(want[i].tid), want[i].dir);
		assert_string_not_equal(tkx_template_name(want[i].tid), "Unknown");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(tkx_template_name(want[i].tid),
						tkx_template_name(want[j].tid));
	}
	for (uint32_t tid = 0; tid <= UINT16_MAX; tid++) {
		int k = is_known((uint16_t)tid);

		known += (unsigned)k;
		if (!k) {
			assert_int_equal(tkx_block_length((uint16_t)tid), -ENOMSG);
			assert_int_equal(tkx_template_dir((uint16_t)tid), -ENOMSG);
			assert_string_equal(tkx_template_name((uint16_t)tid), "Unknown");
		}
	}
	assert_int_equal(known, TKX_TEMPLATE_COUNT);
	assert_string_equal(tkx_template_name(TKX_NEW_ORDER), "NewOrder");
	assert_string_equal(tkx_dir_name(TKX_DIR_BOTH), "BothWays");
	assert_string_equal(tkx_dir_name(-ENOMSG), "Unknown");
	assert_string_equal(tkx_dir_name(0), "Unknown");
}

static void test_names(void **state)
{
	static const int errs[] = {ENODATA, EPROTO, ENOMSG, EBADMSG, EINVAL, ENOSPC,
				   EMSGSIZE, EPROTONOSUPPORT, ENOBUFS, EACCES, EIO};

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		assert_string_not_equal(tkx_strerror(-errs[i]), "unknown error");
		assert_string_equal(tkx_strerror(-errs[i]), tkx_strerror(errs[i]));
	}
	assert_string_equal(tkx_strerror(-EWOULDBLOCK), "unknown error");
	assert_string_equal(tkx_strerror(0), "Success");
	assert_string_equal(tkx_reject_reason_name(TKX_REJ_INVALID_PRICE), "InvalidPrice");
	assert_string_equal(tkx_reject_reason_name(TKX_REJ_INVALID_ACCOUNT), "InvalidAccount");
	assert_string_equal(tkx_reject_reason_name(0), "Unknown");
	assert_string_equal(tkx_reject_reason_name(TKX_REJ_INVALID_SHOW), "InvalidShowQty");
	assert_string_equal(tkx_reject_reason_name(TKX_REJ_INVALID_STOP), "InvalidStopPrice");
	assert_string_equal(tkx_reject_reason_name(26), "Unknown");
	assert_string_equal(tkx_cancel_reason_name(TKX_CXL_OPERATOR), "Operator");
	assert_string_equal(tkx_cancel_reason_name(TKX_CXL_DAY_END), "DayEnd");
	assert_string_equal(tkx_cancel_reason_name(TKX_CXL_ELECTED_REFUSED), "ElectedRefused");
	assert_string_equal(tkx_cancel_reason_name(12), "Unknown");
	assert_string_equal(tkx_template_name(TKX_STOP_ELECTED), "StopElected");
	assert_string_equal(tkx_session_reject_name(TKX_SREJ_UNSPECIFIED), "Unspecified");
	assert_string_equal(tkx_session_reject_name(TKX_SREJ_SESSION_LIMIT), "SessionLimit");
	assert_string_equal(tkx_terminate_reason_name(TKX_TERM_FINISHED), "Finished");
	assert_string_equal(tkx_breject_reason_name(TKX_BREJ_UNSUPPORTED), "Unsupported");
	assert_string_equal(tkx_phase_name(TKX_PHASE_DELISTED), "Delisted");
	assert_string_equal(tkx_phase_name(12), "Unknown");
	assert_string_equal(tkx_side_name(TKX_SIDE_SELL), "Sell");
	assert_string_equal(tkx_tif_name(TKX_TIF_POST), "PostOnly");
	assert_string_equal(tkx_tif_name(TKX_TIF_DAY), "Day");
	assert_string_equal(tkx_tif_name(6), "Unknown");
	assert_string_equal(tkx_scope_name(TKX_SCOPE_ACCOUNT), "Account");
	assert_string_equal(tkx_scope_name(~0u), "Unknown");
}

/* ---- round trips and structural errors, for every template --------------------------- */

/* One NewOrder written out by hand: the wire bytes do not depend on our structs. */
static void test_new_order_bytes(void **state)
{
	static const uint8_t want[] = {
		0x30, 0x00, 0x64, 0x00, 0xF3, 0x1C, 0x03, 0x00,  /* 48, 100, 7411, 3 */
		0xE9, 0x03, 0, 0, 0, 0, 0, 0,                    /* cl_ord_id 1001 */
		0x44, 0xD6, 0x12, 0, 0, 0, 0, 0,                 /* price 1234500 */
		0x19, 0, 0, 0, 0x07, 0, 0, 0,                    /* qty 25, contract 7 */
		0x63, 0, 0, 0, 0x01, 0x02, 0, 0,                 /* account 99, buy, IOC */
		0x50, 0xD4, 0x12, 0, 0, 0, 0, 0,                 /* stop_price 1234000 */
		0, 0, 0, 0, 0, 0, 0, 0,                          /* show_qty 0, reserved2 */
	};
	struct tkx_msg m;
	uint8_t buf[64];

	(void)state;
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.stop_price = 1234000;
	assert_int_equal(tkx_enc_new_order(buf, sizeof(buf), &m.new_order), sizeof(want));
	assert_memory_equal(buf, want, sizeof(want));
	assert_int_equal(decode_exact(want, sizeof(want), &m), sizeof(want));
	assert_int_equal(m.new_order.price, 1234500);
	assert_int_equal(m.new_order.stop_price, 1234000);
}

static void test_roundtrip(void **state)
{
	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		uint16_t tid = tkx_sample_ids[i];
		struct tkx_msg m, d;
		uint8_t a[TKX_MAX_MSG_LEN], b[TKX_MAX_MSG_LEN];
		size_t full = TKX_HDR_LEN + (size_t)tkx_block_length(tid);
		struct tkx_hdr h;
		uint16_t why = 0xFFFF;
		uint8_t *exact;

		tkx_sample(tid, &m);
		assert_int_equal(enc_typed(a, sizeof(a), &m), full);
		assert_int_equal(tkx_encode(b, sizeof(b), &m), full);
		assert_memory_equal(a, b, full);
		memcpy(&h, a, sizeof(h));
		assert_int_equal(h.block_length, full - TKX_HDR_LEN);
		assert_int_equal(h.template_id, tid);
		assert_int_equal(h.schema_id, TKX_SCHEMA_ID);
		assert_int_equal(h.version, TKX_SCHEMA_VERSION);

		/* Exactly sized output: ASan catches a write past it. */
		exact = malloc(full);
		assert_int_equal(enc_typed(exact, full, &m), full);
		assert_memory_equal(exact, a, full);
		free(exact);

		memset(&d, 0xEE, sizeof(d));
		assert_int_equal(decode_exact(a, full, &d), full);
		assert_int_equal(d.template_id, tid);
		assert_memory_equal(d.raw, m.raw, full - TKX_HDR_LEN);
		assert_int_equal(tkx_validate(&d, &why), 0);
		assert_int_equal(why, 0);
		assert_int_equal(tkx_decode(a, full, NULL), full); /* measure only */

		/* Extra bytes after a message are not part of it. */
		assert_int_equal(tkx_decode(a, sizeof(a), &d), full);
	}
}

static void test_encode_nospc(void **state)
{
	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		struct tkx_msg m;
		uint8_t buf[TKX_MAX_MSG_LEN + 8], canary[sizeof(buf)];
		size_t full;

		tkx_sample(tkx_sample_ids[i], &m);
		full = TKX_HDR_LEN + (size_t)tkx_block_length(m.template_id);
		memset(canary, 0xCC, sizeof(canary));
		for (size_t cap = 0; cap < full; cap++) {
			memset(buf, 0xCC, sizeof(buf));
			assert_int_equal(enc_typed(buf, cap, &m), -ENOSPC);
			assert_int_equal(tkx_encode(buf, cap, &m), -ENOSPC);
			assert_int_equal(tkx_encode_frame(buf, cap + TKX_SOFH_LEN, &m), -ENOSPC);
			assert_memory_equal(buf, canary, sizeof(buf)); /* nothing written */
		}
	}
	{
		struct tkx_msg m = {.template_id = 99};
		uint8_t buf[TKX_MAX_MSG_LEN];

		assert_int_equal(tkx_encode(buf, sizeof(buf), &m), -ENOMSG);
		assert_int_equal(tkx_encode_frame(buf, sizeof(buf), &m), -ENOMSG);
		assert_int_equal(tkx_encode_frame(buf, 2, &m), -ENOMSG);
	}
}

static void test_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		struct tkx_msg m;
		uint8_t wire[TKX_MAX_MSG_LEN];
		size_t full = sample_wire(tkx_sample_ids[i], wire, sizeof(wire), &m);

		for (size_t len = 0; len < full; len++)
			assert_int_equal(decode_exact(wire, len, &m), -ENODATA);
		assert_int_equal(decode_exact(wire, full, &m), full);
	}
}

static void test_block_length(void **state)
{
	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		struct tkx_msg m;
		uint8_t wire[TKX_MAX_MSG_LEN + 2] = {0};
		size_t full = sample_wire(tkx_sample_ids[i], wire, sizeof(wire), &m);
		uint16_t blen = (uint16_t)(full - TKX_HDR_LEN);
		static const int delta[] = {-1, +1};

		for (size_t k = 0; k < 2; k++) {
			put16(wire, (uint16_t)(blen + delta[k]));
			/* Wrong blockLength is -EBADMSG whether or not the bytes are there. */
			assert_int_equal(decode_exact(wire, full, &m), -EBADMSG);
			assert_int_equal(decode_exact(wire, full + 1, &m), -EBADMSG);
			assert_int_equal(decode_exact(wire, full - 1, &m), -EBADMSG);
			assert_int_equal(decode_exact(wire, TKX_HDR_LEN, &m), -EBADMSG);
		}
		put16(wire, 0);
		assert_int_equal(decode_exact(wire, full, &m), -EBADMSG);
		put16(wire, 0xFFFF);
		assert_int_equal(decode_exact(wire, full, &m), -EBADMSG);
	}
}

static void test_unknown_template(void **state)
{
	uint8_t wire[TKX_HDR_LEN + 8];
	struct tkx_msg m;
	uint16_t why = 0;

	(void)state;
	memset(wire, 0, sizeof(wire));
	put16(wire, 8);
	put16(wire + 4, TKX_SCHEMA_ID);
	put16(wire + 6, TKX_SCHEMA_VERSION);
	for (uint32_t tid = 0; tid <= UINT16_MAX; tid++) {
		if (is_known((uint16_t)tid))
			continue;
		put16(wire + 2, (uint16_t)tid);
		assert_int_equal(tkx_decode(wire, sizeof(wire), &m), -ENOMSG);
	}
	/* tkx_validate() on a template it does not know. */
	m.template_id = 14;
	assert_int_equal(tkx_validate(&m, &why), -ENOMSG);
	assert_int_equal(why, TKX_BREJ_UNSUPPORTED);
	assert_int_equal(tkx_validate(&m, NULL), -ENOMSG);
}

static void test_wrong_schema(void **state)
{
	static const uint16_t bad_schema[] = {0, 1, TKX_SCHEMA_ID - 1, TKX_SCHEMA_ID + 1, 0xFFFF,
					      0xF31C};
	static const uint16_t bad_version[] = {0, TKX_SCHEMA_VERSION - 1, TKX_SCHEMA_VERSION + 1,
						0xFFFF, 0x0100}; /* version 2: refused (protocol 2.4) */

	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		struct tkx_msg m;
		uint8_t wire[TKX_MAX_MSG_LEN];
		size_t full = sample_wire(tkx_sample_ids[i], wire, sizeof(wire), &m);

		for (size_t k = 0; k < sizeof(bad_schema) / sizeof(bad_schema[0]); k++) {
			put16(wire + 4, bad_schema[k]);
			assert_int_equal(decode_exact(wire, full, &m), -EPROTO);
			assert_int_equal(decode_exact(wire, TKX_HDR_LEN, &m), -EPROTO);
			assert_int_equal(decode_exact(wire, TKX_HDR_LEN - 1, &m), -ENODATA);
		}
		put16(wire + 4, TKX_SCHEMA_ID);
		for (size_t k = 0; k < sizeof(bad_version) / sizeof(bad_version[0]); k++) {
			put16(wire + 6, bad_version[k]);
			assert_int_equal(decode_exact(wire, full, &m), -EPROTO);
		}
		put16(wire + 6, TKX_SCHEMA_VERSION);
		/* schema is checked before template and blockLength */
		put16(wire + 4, 1);
		put16(wire + 2, 999);
		put16(wire, 3);
		assert_int_equal(decode_exact(wire, full, &m), -EPROTO);
	}
}

/* ---- field validation ------------------------------------------------------------- */

struct span {
	uint16_t tid;
	uint16_t off;
	uint16_t len;
};

#define RSV(T, type, field) \
	{TKX_##T, offsetof(struct tkx_##type, field), sizeof(((struct tkx_##type *)0)->field)}

/* Every reserved field in proto.h. */
static const struct span reserved[] = {
	RSV(NEGOTIATE, negotiate, reserved),
	RSV(NEGOTIATION_RESPONSE, negotiation_response, reserved),
	RSV(NEGOTIATION_REJECT, negotiation_reject, reserved1),
	RSV(NEGOTIATION_REJECT, negotiation_reject, reserved2),
	RSV(ESTABLISH, establish, reserved),
	RSV(ESTABLISHMENT_ACK, establishment_ack, reserved),
	RSV(ESTABLISHMENT_REJECT, establishment_reject, reserved1),
	RSV(ESTABLISHMENT_REJECT, establishment_reject, reserved2),
	RSV(NOT_APPLIED, not_applied, reserved),
	RSV(RETRANSMIT_REQUEST, retransmit_request, reserved),
	RSV(RETRANSMISSION, retransmission, reserved),
	RSV(RETRANSMIT_REJECT, retransmit_reject, reserved1),
	RSV(RETRANSMIT_REJECT, retransmit_reject, reserved2),
	RSV(TERMINATE, terminate, reserved1),
	RSV(TERMINATE, terminate, reserved2),
	RSV(NEW_ORDER, new_order, reserved),
	RSV(NEW_ORDER, new_order, reserved2),
	RSV(CANCEL_ORDER, cancel_order, reserved),
	RSV(MASS_CANCEL, mass_cancel, reserved),
	RSV(EXEC_ACK, exec_ack, reserved1),
	RSV(EXEC_ACK, exec_ack, reserved2),
	RSV(FILL, fill, reserved),
	RSV(CANCELLED, cancelled, reserved1),
	RSV(CANCELLED, cancelled, reserved2),
	RSV(MODIFY_ACK, modify_ack, reserved1),
	RSV(MODIFY_ACK, modify_ack, reserved2),
	RSV(MASS_CANCEL_ACK, mass_cancel_ack, reserved),
	RSV(BUSINESS_REJECT, business_reject, reserved),
	RSV(STOP_ELECTED, stop_elected, reserved1),
	RSV(STOP_ELECTED, stop_elected, reserved2),
	RSV(MD_TOP_OF_BOOK, md_top_of_book, reserved),
	RSV(MD_TRADE, md_trade, reserved1),
	RSV(MD_TRADE, md_trade, reserved2),
	RSV(MD_CONTRACT_STATUS, md_contract_status, reserved1),
	RSV(MD_CONTRACT_STATUS, md_contract_status, reserved2),
	RSV(MD_SNAPSHOT, md_snapshot, reserved1),
};

static void test_reserved_bytes(void **state)
{
	static const uint8_t vals[] = {0x01, 0x80, 0xFF};
	unsigned checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		const struct span *s = &reserved[i];

		for (unsigned b = 0; b < s->len; b++) {
			for (size_t v = 0; v < sizeof(vals); v++) {
				struct tkx_msg m, d;
				uint8_t wire[TKX_MAX_MSG_LEN];
				size_t full = sample_wire(s->tid, wire, sizeof(wire), &m);
				uint16_t why = 0;

				wire[TKX_HDR_LEN + s->off + b] = vals[v];
				/* decode is structure only: it accepts the message... */
				assert_int_equal(decode_exact(wire, full, &d), full);
				/* ...and validation refuses it, as a BusinessReject */
				assert_int_equal(tkx_validate(&d, &why), -EBADMSG);
				assert_int_equal(why, TKX_BREJ_INVALID_FIELD);
				checked++;
			}
		}
	}
	assert_true(checked > 100);

	/* Reserved is checked before values: a NewOrder bad in both is a BusinessReject. */
	{
		struct tkx_msg m;
		uint16_t why;

		tkx_sample(TKX_NEW_ORDER, &m);
		m.new_order.reserved = 1;
		m.new_order.price = 0;
		m.new_order.side = 9;
		assert_int_equal(tkx_validate(&m, &why), -EBADMSG);
		assert_int_equal(why, TKX_BREJ_INVALID_FIELD);
	}
}

/* An enum field: which values are valid, and what an invalid one gets. */
struct enum_field {
	uint16_t tid;
	uint16_t off;
	uint16_t size; /* 1 or 2 */
	const char *(*name)(unsigned);
	unsigned lo, hi; /* valid range, inclusive */
	int rc;          /* for values outside it */
	uint16_t reason;
};

#define FLD(T, type, field) \
	TKX_##T, offsetof(struct tkx_##type, field), sizeof(((struct tkx_##type *)0)->field)

static const struct enum_field enums[] = {
	{FLD(NEW_ORDER, new_order, side), tkx_side_name, 1, 2, -EINVAL, TKX_REJ_INVALID_SIDE},
	{FLD(NEW_ORDER, new_order, tif), tkx_tif_name, 1, 5, -EINVAL, TKX_REJ_INVALID_TIF},
	{FLD(MASS_CANCEL, mass_cancel, scope), tkx_scope_name, 1, 2, -EINVAL,
	 TKX_REJ_INVALID_SCOPE},
	{FLD(MASS_CANCEL, mass_cancel, side), NULL, 0, 2, -EINVAL, TKX_REJ_INVALID_SCOPE},
	{FLD(ESTABLISH, establish, cancel_on_disconnect), NULL, 0, 1, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(NEGOTIATION_REJECT, negotiation_reject, reason), tkx_session_reject_name, 1, 11,
	 -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(ESTABLISHMENT_REJECT, establishment_reject, reason), tkx_session_reject_name, 1,
	 11, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(RETRANSMIT_REJECT, retransmit_reject, reason), tkx_session_reject_name, 1, 11,
	 -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(TERMINATE, terminate, reason), tkx_terminate_reason_name, 0, 6, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(EXEC_ACK, exec_ack, side), tkx_side_name, 1, 2, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(EXEC_ACK, exec_ack, tif), tkx_tif_name, 1, 5, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(EXEC_REJECT, exec_reject, reason), tkx_reject_reason_name, 1, 25, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(FILL, fill, side), tkx_side_name, 1, 2, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(FILL, fill, aggressor), NULL, 0, 1, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(CANCELLED, cancelled, reason), tkx_cancel_reason_name, 1, 11, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(CANCELLED, cancelled, side), tkx_side_name, 1, 2, -EBADMSG, TKX_BREJ_INVALID_FIELD},
	{FLD(MODIFY_ACK, modify_ack, side), tkx_side_name, 1, 2, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(STOP_ELECTED, stop_elected, side), tkx_side_name, 1, 2, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(MASS_CANCEL_ACK, mass_cancel_ack, scope), tkx_scope_name, 1, 2, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(MASS_CANCEL_ACK, mass_cancel_ack, side), NULL, 0, 2, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(BUSINESS_REJECT, business_reject, reason), tkx_breject_reason_name, 1, 4, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(MD_TRADE, md_trade, aggressor_side), NULL, 0, 2, -EBADMSG, /* 0: uncross */
	 TKX_BREJ_INVALID_FIELD},
	{FLD(MD_CONTRACT_STATUS, md_contract_status, phase), tkx_phase_name, 0, 11, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
	{FLD(MD_SNAPSHOT, md_snapshot, phase), tkx_phase_name, 0, 11, -EBADMSG,
	 TKX_BREJ_INVALID_FIELD},
};

static void test_enum_values(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		const struct enum_field *f = &enums[i];
		unsigned top = f->size == 1 ? 0xFF : 0xFFFF;

		for (unsigned v = 0; v <= top; v++) {
			struct tkx_msg m, d;
			uint8_t wire[TKX_MAX_MSG_LEN];
			size_t full = sample_wire(f->tid, wire, sizeof(wire), &m);
			int valid = v >= f->lo && v <= f->hi;
			uint16_t why = 0xFFFF;

			if (f->size == 1)
				wire[TKX_HDR_LEN + f->off] = (uint8_t)v;
			else
				put16(wire + TKX_HDR_LEN + f->off, (uint16_t)v);
			assert_int_equal(decode_exact(wire, full, &d), full);
			assert_int_equal(tkx_validate(&d, &why), valid ? 0 : f->rc);
			assert_int_equal(why, valid ? 0 : f->reason);
			/* the validator and the name table agree on what is a value */
			if (f->name)
				assert_int_equal(strcmp(f->name(v), "Unknown") != 0, valid);
			if (v == 300 && top == 0xFFFF)
				v = 0xFFF0; /* the rest of the 16-bit space says nothing new */
		}
	}
}

static void expect_valid(const struct tkx_msg *m, int rc, uint16_t reason)
{
	uint16_t why = 0xFFFF;

	assert_int_equal(tkx_validate(m, &why), rc);
	assert_int_equal(why, reason);
}

static void test_prices_and_qty(void **state)
{
	static const int64_t bad_px[] = {0, -1, -1234500, TKX_NULL_PRICE};
	struct tkx_msg m;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_px) / sizeof(bad_px[0]); i++) {
		tkx_sample(TKX_NEW_ORDER, &m);
		m.new_order.price = bad_px[i];
		expect_valid(&m, -EINVAL, TKX_REJ_INVALID_PRICE);
		tkx_sample(TKX_MODIFY_ORDER, &m);
		m.modify_order.price = bad_px[i];
		expect_valid(&m, -EINVAL, TKX_REJ_INVALID_PRICE);
		tkx_sample(TKX_EXEC_ACK, &m);
		m.exec_ack.price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		tkx_sample(TKX_FILL, &m);
		m.fill.price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		tkx_sample(TKX_MODIFY_ACK, &m);
		m.modify_ack.price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		tkx_sample(TKX_MD_TRADE, &m);
		m.md_trade.price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		if (bad_px[i] == TKX_NULL_PRICE)
			continue; /* optional prices may be null, never zero or negative */
		tkx_sample(TKX_MD_TOP_OF_BOOK, &m);
		m.md_top_of_book.bid_price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		tkx_sample(TKX_MD_SNAPSHOT, &m);
		m.md_snapshot.last_price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
		tkx_sample(TKX_MD_CONTRACT_STATUS, &m);
		m.md_contract_status.price = bad_px[i];
		expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
	}
	/* The smallest and largest prices are fine. */
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.price = 1;
	expect_valid(&m, 0, 0);
	m.new_order.price = INT64_MAX;
	expect_valid(&m, 0, 0);
	/* Null optional prices. */
	tkx_sample(TKX_MD_SNAPSHOT, &m);
	m.md_snapshot.bid_price = m.md_snapshot.ask_price = m.md_snapshot.last_price =
		TKX_NULL_PRICE;
	expect_valid(&m, 0, 0);
	tkx_sample(TKX_MD_CONTRACT_STATUS, &m);
	m.md_contract_status.price = TKX_NULL_PRICE;
	expect_valid(&m, 0, 0);

	/* qty */
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.qty = 0;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_QTY);
	m.new_order.qty = UINT32_MAX;
	expect_valid(&m, 0, 0);
	tkx_sample(TKX_MODIFY_ORDER, &m);
	m.modify_order.qty = 0; /* modify to zero cancels: allowed */
	expect_valid(&m, 0, 0);
	tkx_sample(TKX_FILL, &m);
	m.fill.qty = 0;
	expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);
	tkx_sample(TKX_MD_TRADE, &m);
	m.md_trade.qty = 0;
	expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);

	/* Several faults: reject_reason order (price, qty, side, tif). */
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.price = 0;
	m.new_order.qty = 0;
	m.new_order.side = 0;
	m.new_order.tif = 0;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_PRICE);
	m.new_order.price = 5;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_QTY);
	m.new_order.qty = 5;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SIDE);
	m.new_order.side = TKX_SIDE_SELL;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_TIF);
	m.new_order.tif = TKX_TIF_FOK;
	expect_valid(&m, 0, 0);
	assert_int_equal(tkx_validate(&m, NULL), 0);
	m.new_order.tif = 9;
	assert_int_equal(tkx_validate(&m, NULL), -EINVAL);
}

/* The order types of version 3: DAY, icebergs (show_qty), stop orders (stop_price). Each
 * rule of protocol 5.1, at its edge, and the order of the checks. */
static void test_validate_order_types(void **state)
{
	struct tkx_msg m;

	(void)state;
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.stop_price = 0;
	m.new_order.tif = TKX_TIF_DAY;
	m.new_order.qty = 1000;
	expect_valid(&m, 0, 0);

	/* Iceberg: 0 < show < qty, qty <= show x TKX_ICE_MAX_SLICES, tif GTC/DAY/POST. */
	m.new_order.show_qty = 999;
	expect_valid(&m, 0, 0);
	m.new_order.show_qty = 1000;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);
	m.new_order.show_qty = 1001;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);
	m.new_order.show_qty = 1; /* 1000 slices: the most */
	expect_valid(&m, 0, 0);
	m.new_order.qty = 1001; /* 1001 slices */
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);
	m.new_order.qty = UINT32_MAX; /* qty / show in 64 bits: no wrap */
	m.new_order.show_qty = UINT32_MAX / TKX_ICE_MAX_SLICES + 1;
	expect_valid(&m, 0, 0);
	m.new_order.qty = 100;
	m.new_order.show_qty = 10;
	static const uint8_t ice_tif[] = {0, TKX_TIF_GTC, 0, 0, TKX_TIF_POST, TKX_TIF_DAY};
	for (uint8_t t = TKX_TIF_GTC; t <= TKX_TIF_DAY; t++) {
		m.new_order.tif = t;
		if (ice_tif[t])
			expect_valid(&m, 0, 0);
		else
			expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);
	}
	m.new_order.tif = TKX_TIF_GTC;
	m.new_order.stop_price = 5; /* iceberg and stop together */
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);

	/* Stop: >= 0, never with POST; any other tif. */
	m.new_order.show_qty = 0;
	for (uint8_t t = TKX_TIF_GTC; t <= TKX_TIF_DAY; t++) {
		m.new_order.tif = t;
		if (t == TKX_TIF_POST)
			expect_valid(&m, -EINVAL, TKX_REJ_INVALID_STOP);
		else
			expect_valid(&m, 0, 0);
	}
	m.new_order.tif = TKX_TIF_GTC;
	m.new_order.stop_price = -1;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_STOP);
	m.new_order.stop_price = INT64_MIN;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_STOP);

	/* Order of the checks: the plain fields first, then show, then stop. */
	m.new_order.show_qty = 200;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_SHOW);
	m.new_order.tif = 9;
	expect_valid(&m, -EINVAL, TKX_REJ_INVALID_TIF);
	m.new_order.reserved2 = 1;
	expect_valid(&m, -EBADMSG, TKX_BREJ_INVALID_FIELD);

	/* The new fields travel: an iceberg DAY order through encode and decode. */
	uint8_t wire[TKX_MAX_MSG_LEN];
	struct tkx_msg d;
	tkx_sample(TKX_NEW_ORDER, &m);
	m.new_order.tif = TKX_TIF_DAY;
	m.new_order.show_qty = 7;
	assert_int_equal(tkx_encode(wire, sizeof(wire), &m), 56);
	assert_int_equal(decode_exact(wire, 56, &d), 56);
	assert_int_equal(d.new_order.show_qty, 7);
	assert_int_equal(d.new_order.tif, TKX_TIF_DAY);
	expect_valid(&d, 0, 0);
}

/* ---- SOFH / TCP ---------------------------------------------------------------------- */

static void sofh(uint8_t *p, uint32_t flen, uint16_t enc)
{
	p[0] = (uint8_t)(flen >> 24);
	p[1] = (uint8_t)(flen >> 16);
	p[2] = (uint8_t)(flen >> 8);
	p[3] = (uint8_t)flen;
	p[4] = (uint8_t)(enc >> 8);
	p[5] = (uint8_t)enc;
}

static void test_sofh_frames(void **state)
{
	(void)state;
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		struct tkx_msg m, d;
		uint8_t frame[TKX_SOFH_LEN + TKX_MAX_MSG_LEN];
		int n, full;

		tkx_sample(tkx_sample_ids[i], &m);
		full = tkx_encode_frame(frame, sizeof(frame), &m);
		assert_int_equal(full, TKX_SOFH_LEN + TKX_HDR_LEN + tkx_block_length(m.template_id));
		/* big-endian length, then 0xEB 0x50 */
		assert_int_equal(frame[0] | frame[1] | frame[2], 0);
		assert_int_equal(frame[3], full);
		assert_int_equal(frame[4], 0xEB);
		assert_int_equal(frame[5], 0x50);
		{
			uint8_t *p = heap_copy(frame, (size_t)full);

			assert_int_equal(tkx_sofh_next(p, (size_t)full), full);
			n = tkx_decode_frame(p, (size_t)full, &d);
			free(p);
		}
		assert_int_equal(n, full);
		assert_int_equal(d.template_id, m.template_id);
		assert_memory_equal(d.raw, m.raw, (size_t)tkx_block_length(m.template_id));
		/* every partial frame: need more */
		for (int len = 0; len < full; len++) {
			uint8_t *p = heap_copy(frame, (size_t)len);

			assert_int_equal(tkx_sofh_next(p, (size_t)len), 0);
			assert_int_equal(tkx_decode_frame(p, (size_t)len, &d), 0);
			free(p);
		}
	}
}

static void test_sofh_errors(void **state)
{
	uint8_t b[TKX_SOFH_LEN + TKX_MAX_MSG_LEN + 4];
	static const uint16_t bad_enc[] = {0, 0x50EB, 0xEB51, 0xEB40, 0x5BE0, 0xFFFF};
	static const uint32_t bad_len[] = {0, 1, 6, 13, 135, 136, 0x10000, 0xFFFFFFFFu};
	struct tkx_msg m, d;
	int n;

	(void)state;
	memset(b, 0, sizeof(b));
	/* Bad encoding type: an error as soon as the 6 SOFH bytes are there. */
	for (size_t i = 0; i < sizeof(bad_enc) / sizeof(bad_enc[0]); i++) {
		sofh(b, 40, bad_enc[i]);
		assert_int_equal(tkx_sofh_next(b, TKX_SOFH_LEN), -EPROTONOSUPPORT);
		assert_int_equal(tkx_sofh_next(b, 40), -EPROTONOSUPPORT);
		assert_int_equal(tkx_sofh_next(b, 5), 0);
		assert_int_equal(tkx_decode_frame(b, 40, &d), -EPROTONOSUPPORT);
	}
	for (size_t i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		sofh(b, bad_len[i], TKX_SOFH_ENCODING);
		assert_int_equal(tkx_sofh_next(b, TKX_SOFH_LEN), -EMSGSIZE);
		assert_int_equal(tkx_sofh_next(b, sizeof(b)), -EMSGSIZE);
	}
	/* The bounds themselves are lengths a frame may have. */
	sofh(b, TKX_SOFH_LEN + TKX_HDR_LEN, TKX_SOFH_ENCODING);
	assert_int_equal(tkx_sofh_next(b, 14), 14);
	assert_int_equal(tkx_sofh_next(b, 13), 0);
	sofh(b, TKX_SOFH_LEN + TKX_MAX_MSG_LEN, TKX_SOFH_ENCODING);
	assert_int_equal(tkx_sofh_next(b, TKX_SOFH_LEN + TKX_MAX_MSG_LEN), 134);
	assert_int_equal(tkx_sofh_next(b, TKX_SOFH_LEN + TKX_MAX_MSG_LEN - 1), 0);

	/* Frame and message lengths disagree: -EBADMSG, never "need more". */
	tkx_sample(TKX_NEW_ORDER, &m);
	n = tkx_encode_frame(b, sizeof(b), &m);
	assert_int_equal(n, 62);
	sofh(b, 63, TKX_SOFH_ENCODING); /* one byte of junk inside the frame */
	assert_int_equal(tkx_decode_frame(b, 63, &d), -EBADMSG);
	sofh(b, 61, TKX_SOFH_ENCODING); /* frame ends inside the message */
	assert_int_equal(tkx_decode_frame(b, 62, &d), -EBADMSG);
	sofh(b, 14, TKX_SOFH_ENCODING);
	assert_int_equal(tkx_decode_frame(b, 46, &d), -EBADMSG);
	/* A bad message in a good frame: the message's error. */
	sofh(b, 46, TKX_SOFH_ENCODING);
	put16(b + TKX_SOFH_LEN + 4, 1);
	assert_int_equal(tkx_decode_frame(b, 46, &d), -EPROTO);

	/* tkx_sofh_encode's own checks */
	assert_int_equal(tkx_sofh_encode(b, 5, 40), -ENOSPC);
	assert_int_equal(tkx_sofh_encode(b, 6, 7), -EMSGSIZE);
	assert_int_equal(tkx_sofh_encode(b, 6, TKX_MAX_MSG_LEN + 1), -EMSGSIZE);
	assert_int_equal(tkx_sofh_encode(b, 6, TKX_MAX_MSG_LEN), 6);
	assert_int_equal(tkx_sofh_next(b, 6), 0);
}

static void test_sofh_stream(void **state)
{
	static const uint16_t tids[] = {TKX_NEW_ORDER, TKX_SEQUENCE, TKX_ESTABLISH,
					TKX_CANCEL_ORDER};
	uint8_t stream[4 * (TKX_SOFH_LEN + TKX_MAX_MSG_LEN)];
	size_t len = 0, off = 0;
	unsigned got = 0;
	struct tkx_msg m;
	uint8_t *p;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		int n;

		tkx_sample(tids[i], &m);
		n = tkx_encode_frame(stream + len, sizeof(stream) - len, &m);
		assert_true(n > 0);
		len += (size_t)n;
	}
	len -= 3; /* the last frame is still arriving */
	p = heap_copy(stream, len);
	for (;;) {
		int n = tkx_decode_frame(p + off, len - off, &m);

		if (n == 0)
			break;
		assert_true(n > 0);
		assert_int_equal(m.template_id, tids[got]);
		off += (size_t)n;
		got++;
	}
	free(p);
	assert_int_equal(got, 3);
	assert_int_equal(len - off, TKX_SOFH_LEN + TKX_HDR_LEN + 24 - 3);
}

/* ---- UDP datagrams ------------------------------------------------------------------ */

/* Sequence, NewOrder, CancelOrder, ModifyOrder, MassCancel back to back. */
static size_t build_dgram(uint8_t *buf, size_t cap, size_t off[6])
{
	static const uint16_t tids[] = {TKX_SEQUENCE, TKX_NEW_ORDER, TKX_CANCEL_ORDER,
					TKX_MODIFY_ORDER, TKX_MASS_CANCEL};
	size_t len = 0;

	for (size_t i = 0; i < 5; i++) {
		struct tkx_msg m;
		int n;

		tkx_sample(tids[i], &m);
		n = tkx_encode(buf + len, cap - len, &m);
		assert_true(n > 0);
		off[i] = len;
		len += (size_t)n;
	}
	off[5] = len;
	return len;
}

static void test_dgram_several(void **state)
{
	uint8_t buf[TKX_MAX_DGRAM];
	size_t off[6], len = build_dgram(buf, sizeof(buf), off), at = 0;
	struct tkx_msg msgs[8], m;
	struct tkx_dgram_iter it;
	uint8_t *p = heap_copy(buf, len);
	int err = 1, n;

	(void)state;
	assert_int_equal(len, 16 + 56 + 32 + 40 + 32);
	assert_int_equal(tkx_decode_dgram(p, len, msgs, 8, &err, &at), 5);
	assert_int_equal(err, 0);
	assert_int_equal(at, len);
	assert_int_equal(msgs[0].template_id, TKX_SEQUENCE);
	assert_int_equal(msgs[0].sequence.next_seq_no, 0x0102030405060708ull);
	assert_int_equal(msgs[4].template_id, TKX_MASS_CANCEL);

	tkx_dgram_init(&it, p, len);
	for (size_t i = 0; i < 5; i++) {
		assert_int_equal(it.off, off[i]);
		n = tkx_dgram_next(&it, &m);
		assert_int_equal(n, off[i + 1] - off[i]);
		assert_int_equal(m.template_id, msgs[i].template_id);
	}
	assert_int_equal(tkx_dgram_next(&it, &m), 0);
	assert_int_equal(tkx_dgram_next(&it, &m), 0);
	assert_int_equal(it.count, 5);

	/* Too many messages for the caller's array. */
	assert_int_equal(tkx_decode_dgram(p, len, msgs, 3, &err, &at), 3);
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(at, off[3]);
	assert_int_equal(tkx_decode_dgram(p, len, msgs, 0, &err, &at), 0);
	assert_int_equal(err, -ENOBUFS);
	assert_int_equal(at, 0);
	/* Exactly enough room. */
	assert_int_equal(tkx_decode_dgram(p, len, msgs, 5, &err, &at), 5);
	assert_int_equal(err, 0);
	assert_int_equal(tkx_decode_dgram(p, len, msgs, 5, NULL, NULL), 5);
	free(p);

	/* An empty datagram carries no message: truncated. */
	assert_int_equal(tkx_decode_dgram(NULL, 0, msgs, 8, &err, &at), 0);
	assert_int_equal(err, -ENODATA);
	assert_int_equal(at, 0);
	assert_int_equal(tkx_decode_dgram(NULL, 0, msgs, 0, &err, &at), 0);
	assert_int_equal(err, -ENODATA);
	tkx_dgram_init(&it, NULL, 0);
	assert_int_equal(tkx_dgram_next(&it, &m), -ENODATA);
	/* TKX_DGRAM_MAX_MSGS is enough for the fullest datagram. */
	assert_int_equal(TKX_DGRAM_MAX_MSGS * 16, TKX_MAX_DGRAM);
}

static void test_dgram_bad_middle(void **state)
{
	struct {
		size_t at;   /* byte offset from message 2's start */
		uint16_t v;  /* 16-bit value written there */
		int err;
	} cases[] = {
		{0, 33, -EBADMSG},     /* NewOrder blockLength + 1 */
		{0, 31, -EBADMSG},     /* NewOrder blockLength - 1 */
		{2, 150, -ENOMSG},     /* unknown template */
		{4, 7412, -EPROTO},    /* another schema */
		{6, TKX_SCHEMA_VERSION + 1, -EPROTO}, /* another version */
	};

	(void)state;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		uint8_t buf[TKX_MAX_DGRAM];
		size_t off[6], len = build_dgram(buf, sizeof(buf), off), at = 99;
		struct tkx_msg msgs[8], m;
		struct tkx_dgram_iter it;
		uint8_t *p;
		int err = 0;

		put16(buf + off[1] + cases[c].at, cases[c].v);
		p = heap_copy(buf, len);
		assert_int_equal(tkx_decode_dgram(p, len, msgs, 8, &err, &at), 1);
		assert_int_equal(err, cases[c].err);
		assert_int_equal(at, off[1]);
		assert_int_equal(msgs[0].template_id, TKX_SEQUENCE);

		tkx_dgram_init(&it, p, len);
		assert_int_equal(tkx_dgram_next(&it, &m), 16);
		assert_int_equal(tkx_dgram_next(&it, &m), cases[c].err);
		assert_int_equal(tkx_dgram_next(&it, &m), cases[c].err); /* sticky */
		assert_int_equal(it.off, off[1]);
		assert_int_equal(it.count, 1);
		free(p);
	}
	/* Truncated at every byte of the last message: the first four decode. */
	{
		uint8_t buf[TKX_MAX_DGRAM];
		size_t off[6], len = build_dgram(buf, sizeof(buf), off), at;
		struct tkx_msg msgs[8];
		int err;

		for (size_t cut = off[4] + 1; cut < len; cut++) {
			uint8_t *p = heap_copy(buf, cut);

			assert_int_equal(tkx_decode_dgram(p, cut, msgs, 8, &err, &at), 4);
			assert_int_equal(err, -ENODATA);
			assert_int_equal(at, off[4]);
			free(p);
		}
	}
}

/* ---- market data ---------------------------------------------------------------------- */

static const uint16_t md_tids[] = {TKX_MD_TOP_OF_BOOK, TKX_MD_TRADE, TKX_MD_CONTRACT_STATUS,
				   TKX_MD_SNAPSHOT, TKX_MD_GAP_REJECT};

/* A packet with the five MD samples, sequence 1000. Its length. */
static size_t build_md(uint8_t *buf, size_t cap)
{
	struct tkx_md_pkt pkt;
	char session[TKX_MD_SESSION_LEN];

	assert_int_equal(tkx_md_session(session, "TKX0001"), 0);
	assert_int_equal(tkx_md_pkt_init(&pkt, buf, cap, session, 1000), 0);
	for (size_t i = 0; i < 5; i++) {
		struct tkx_msg m;
		size_t room;
		void *dst;
		int n;

		tkx_sample(md_tids[i], &m);
		if (i % 2) { /* encode in place */
			dst = tkx_md_pkt_room(&pkt, &room);
			assert_non_null(dst);
			n = tkx_encode(dst, room, &m);
			assert_true(n > 0);
			assert_int_equal(tkx_md_pkt_commit(&pkt, (size_t)n), 0);
		} else { /* copy an encoded message */
			uint8_t tmp[TKX_MAX_MSG_LEN];

			n = tkx_encode(tmp, sizeof(tmp), &m);
			assert_int_equal(tkx_md_pkt_append(&pkt, tmp, (size_t)n), 0);
		}
	}
	assert_int_equal(pkt.count, 5);
	return pkt.len;
}

static void test_md_packet(void **state)
{
	uint8_t buf[TKX_MAX_DGRAM], *p;
	size_t len = build_md(buf, sizeof(buf));
	struct tkx_md_iter it;
	struct tkx_md_hdr h;
	struct tkx_msg m;
	uint64_t seq, seq0;
	unsigned i = 0;
	int rc;

	(void)state;
	assert_int_equal(len, 20 + 5 * 2 + (56 + 48 + 32 + 80 + 24));
	assert_memory_equal(buf, "TKX0001   ", 10);
	memcpy(&seq0, buf + 10, 8);
	assert_int_equal(seq0, 1000);
	assert_int_equal(buf[18] | buf[19] << 8, 5);
	assert_int_equal(buf[20] | buf[21] << 8, 56); /* first length prefix, little-endian */
	assert_int_equal(tkx_md_hdr_decode(buf, len, &h), TKX_MD_HDR_LEN);
	assert_int_equal(h.count, 5);

	p = heap_copy(buf, len);
	assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
	while ((rc = tkx_md_iter_decode(&it, &m, &seq)) == 1) {
		struct tkx_msg want;

		tkx_sample(md_tids[i], &want);
		assert_int_equal(m.template_id, md_tids[i]);
		assert_memory_equal(m.raw, want.raw, (size_t)tkx_block_length(md_tids[i]));
		assert_int_equal(seq, 1000 + i);
		assert_int_equal(tkx_validate(&m, NULL), 0);
		i++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(i, 5);
	assert_int_equal(tkx_md_iter_decode(&it, &m, &seq), 0);

	/* Raw iteration gives the same bytes. */
	assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
	{
		const void *msg;
		size_t mlen;

		assert_int_equal(tkx_md_iter_next(&it, &msg, &mlen, NULL), 1);
		assert_ptr_equal(msg, p + 22);
		assert_int_equal(mlen, 56);
	}
	free(p);
}

static void test_md_heartbeat_eos(void **state)
{
	uint8_t buf[64];
	struct tkx_md_pkt pkt;
	struct tkx_md_hdr h;
	struct tkx_md_iter it;
	struct tkx_msg m;
	uint8_t *p;

	(void)state;
	memcpy(h.session, "TKX0001   ", 10);
	h.sequence = 77;
	h.count = TKX_MD_HEARTBEAT;
	/* A heartbeat is a bare header; the builder makes the same bytes. */
	assert_int_equal(tkx_md_hdr_encode(buf, sizeof(buf), &h), 20);
	assert_int_equal(tkx_md_pkt_init(&pkt, buf + 20, 20, h.session, 77), 0);
	assert_int_equal(pkt.len, 20);
	assert_memory_equal(buf, buf + 20, 20);
	p = heap_copy(buf, 20);
	assert_int_equal(tkx_md_iter_init(&it, p, 20), 0);
	assert_int_equal(it.count, 0);
	assert_int_equal(it.hdr.sequence, 77);
	assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 0);
	free(p);
	/* A heartbeat with bytes after it is malformed. */
	p = heap_copy(buf, 21);
	assert_int_equal(tkx_md_iter_init(&it, p, 21), 0);
	assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -EBADMSG);
	assert_int_equal(it.off, 20);
	free(p);

	/* End of session: count 0xFFFF, no messages. */
	h.count = TKX_MD_END_OF_SESSION;
	assert_int_equal(tkx_md_hdr_encode(buf, sizeof(buf), &h), 20);
	p = heap_copy(buf, 20);
	assert_int_equal(tkx_md_iter_init(&it, p, 20), 0);
	assert_int_equal(it.hdr.count, TKX_MD_END_OF_SESSION);
	assert_int_equal(it.count, 0);
	assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 0);
	free(p);

	/* Shorter than a header. */
	for (size_t len = 0; len < TKX_MD_HDR_LEN; len++) {
		p = heap_copy(buf, len);
		assert_int_equal(tkx_md_iter_init(&it, p, len), -ENODATA);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -ENODATA);
		assert_int_equal(tkx_md_hdr_decode(p, len, &h), -ENODATA);
		free(p);
	}
	assert_int_equal(tkx_md_hdr_encode(buf, 19, &h), -ENOSPC);
	assert_int_equal(tkx_md_pkt_init(&pkt, buf, 19, h.session, 1), -ENOSPC);
}

static void test_md_truncated(void **state)
{
	uint8_t buf[TKX_MAX_DGRAM];
	size_t len = build_md(buf, sizeof(buf));
	/* offsets of the five length prefixes */
	size_t pre[6] = {20};
	struct tkx_md_iter it;
	struct tkx_msg m;

	(void)state;
	for (size_t i = 0; i < 5; i++)
		pre[i + 1] = pre[i] + 2 + TKX_HDR_LEN + (size_t)tkx_block_length(md_tids[i]);
	assert_int_equal(pre[5], len);

	/* Cut anywhere after the header: the messages before the cut decode, then -ENODATA
	 * at the prefix of the cut one (a cut inside a prefix included). */
	for (size_t cut = TKX_MD_HDR_LEN; cut < len; cut++) {
		uint8_t *p = heap_copy(buf, cut);
		unsigned whole = 0;
		int rc;

		while (whole < 5 && pre[whole + 1] <= cut)
			whole++;
		assert_int_equal(tkx_md_iter_init(&it, p, cut), 0);
		for (unsigned k = 0; k < whole; k++)
			assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 1);
		rc = tkx_md_iter_decode(&it, &m, NULL);
		assert_int_equal(rc, -ENODATA);
		assert_int_equal(it.off, pre[whole]);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -ENODATA); /* sticky */
		free(p);
	}

	/* Count says 6: the packet is short one message. */
	{
		uint8_t *p;

		buf[18] = 6;
		p = heap_copy(buf, len);
		assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
		for (unsigned k = 0; k < 5; k++)
			assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 1);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -ENODATA);
		free(p);
		/* Count says 4: a message after the last. */
		buf[18] = 4;
		p = heap_copy(buf, len);
		assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
		for (unsigned k = 0; k < 4; k++)
			assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 1);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -EBADMSG);
		assert_int_equal(it.off, pre[4]);
		free(p);
		buf[18] = 5;
	}

	/* Length prefixes that disagree with the message: -EBADMSG at that prefix. */
	{
		static const uint16_t bad[] = {0, 7, 47, 49};
		uint8_t *p;

		for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
			put16(buf + pre[1], bad[k]); /* the Trade's prefix; it is 48 */
			p = heap_copy(buf, len);
			assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
			assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 1);
			assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -EBADMSG);
			assert_int_equal(it.off, pre[1]);
			assert_int_equal(it.index, 1);
			free(p);
		}
		put16(buf + pre[1], 48);
		/* A structural error inside the message is its decode error. */
		put16(buf + pre[1] + 2 + 4, 1);
		p = heap_copy(buf, len);
		assert_int_equal(tkx_md_iter_init(&it, p, len), 0);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), 1);
		assert_int_equal(tkx_md_iter_decode(&it, &m, NULL), -EPROTO);
		free(p);
	}
}

static void test_md_builder_limits(void **state)
{
	uint8_t buf[20 + 2 + 48 + 2 + 56];
	struct tkx_md_pkt pkt;
	struct tkx_msg m;
	uint8_t trade[64];
	char session[TKX_MD_SESSION_LEN];
	size_t room;
	int n;

	(void)state;
	assert_int_equal(tkx_md_session(session, ""), 0);
	assert_memory_equal(session, "          ", 10);
	assert_int_equal(tkx_md_session(session, "ABCDEFGHIJ"), 0);
	assert_memory_equal(session, "ABCDEFGHIJ", 10);
	assert_int_equal(tkx_md_session(session, "ABCDEFGHIJK"), -EINVAL);
	assert_int_equal(tkx_md_session(session, "AB\nC"), -EINVAL);
	assert_int_equal(tkx_md_session(session, "AB\x80"), -EINVAL);

	tkx_sample(TKX_MD_TRADE, &m);
	n = tkx_encode(trade, sizeof(trade), &m);
	assert_int_equal(n, 48);
	assert_int_equal(tkx_md_pkt_init(&pkt, buf, sizeof(buf), session, 5), 0);
	assert_int_equal(tkx_md_pkt_append(&pkt, trade, 48), 0);
	assert_int_equal(tkx_md_pkt_append(&pkt, trade, 7), -EINVAL);
	assert_int_equal(tkx_md_pkt_commit(&pkt, 7), -EINVAL);
	/* 58 bytes left: a TopOfBook (2 + 56) fits exactly, then nothing does. */
	assert_non_null(tkx_md_pkt_room(&pkt, &room));
	assert_int_equal(room, 56);
	tkx_sample(TKX_MD_TOP_OF_BOOK, &m);
	assert_int_equal(tkx_md_pkt_commit(&pkt, 57), -ENOSPC);
	assert_int_equal(tkx_encode(tkx_md_pkt_room(&pkt, &room), room, &m), 56);
	assert_int_equal(tkx_md_pkt_commit(&pkt, 56), 0);
	assert_int_equal(pkt.len, sizeof(buf));
	assert_null(tkx_md_pkt_room(&pkt, &room));
	assert_int_equal(room, 0);
	assert_int_equal(tkx_md_pkt_append(&pkt, trade, 48), -ENOSPC);
	assert_int_equal(tkx_encode(tkx_md_pkt_room(&pkt, &room), room, &m), -ENOSPC);
	assert_int_equal(pkt.count, 2);
	assert_int_equal(buf[18], 2);
}

/* ---- credentials ------------------------------------------------------------------ */

static void test_hmac_rfc4231(void **state)
{
	/* RFC 4231 test case 2 */
	static const uint8_t key2[] = "Jefe";
	static const char data2[] = "what do ya want for nothing?";
	static const uint8_t mac2[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
		0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
		0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
	/* RFC 4231 test case 1 */
	uint8_t key1[20];
	static const uint8_t mac1[32] = {
		0xb0, 0x34, 0x4c, 0x61, 0xd8, 0xdb, 0x38, 0x53, 0x5c, 0xa8, 0xaf,
		0xce, 0xaf, 0x0b, 0xf1, 0x2b, 0x88, 0x1d, 0xc2, 0x00, 0xc9, 0x83,
		0x3d, 0xa7, 0x26, 0xe9, 0x37, 0x6c, 0x2e, 0x32, 0xcf, 0xf7};
	uint8_t out[32], bad[32];

	(void)state;
	assert_int_equal(tkx_credential(key2, 4, data2, 28, out), 0);
	assert_memory_equal(out, mac2, 32);
	assert_int_equal(tkx_credential_check(key2, 4, data2, 28, mac2), 0);
	for (unsigned bit = 0; bit < 256; bit++) {
		memcpy(bad, mac2, 32);
		bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_int_equal(tkx_credential_check(key2, 4, data2, 28, bad), -EACCES);
	}
	memset(key1, 0x0b, sizeof(key1));
	assert_int_equal(tkx_credential(key1, 20, "Hi There", 8, out), 0);
	assert_memory_equal(out, mac1, 32);

	/* Empty key and empty message are legal HMAC inputs; bad pointers are not. */
	assert_int_equal(tkx_credential(NULL, 0, NULL, 0, out), 0);
	assert_int_equal(tkx_credential(NULL, 1, data2, 28, out), -EINVAL);
	assert_int_equal(tkx_credential(key2, 4, NULL, 1, out), -EINVAL);
	assert_int_equal(tkx_credential(key2, 4, data2, 28, NULL), -EINVAL);
}

static void check_signed(uint16_t tid, size_t cred_off)
{
	static const uint8_t key[] = "firm-4242-secret-0123456789abcdef";
	static const uint8_t other[] = "firm-4242-secret-0123456789abcdeF";
	const size_t klen = sizeof(key) - 1;
	uint8_t wire[TKX_MAX_MSG_LEN], mac[32];
	struct tkx_msg m, d;
	size_t full = sample_wire(tid, wire, sizeof(wire), &m);
	uint8_t *p;

	assert_int_equal(full, TKX_HDR_LEN + cred_off + TKX_CREDENTIAL_LEN);
	assert_int_equal(tkx_verify(key, klen, wire, full), -EACCES); /* placeholder creds */
	p = heap_copy(wire, full);
	assert_int_equal(tkx_sign(key, klen, p, full), 0);
	/* The MAC covers the header and the block bytes before credentials, nothing else. */
	assert_int_equal(tkx_credential(key, klen, wire, TKX_HDR_LEN + cred_off, mac), 0);
	assert_memory_equal(p + TKX_HDR_LEN + cred_off, mac, 32);
	assert_memory_equal(p, wire, TKX_HDR_LEN + cred_off);
	assert_int_equal(tkx_verify(key, klen, p, full), 0);
	assert_int_equal(tkx_verify(other, klen, p, full), -EACCES);
	assert_int_equal(tkx_verify(key, klen - 1, p, full), -EACCES);

	/* Decoded form: verify_msg agrees; sign_msg makes the same credentials. */
	assert_int_equal(tkx_decode(p, full, &d), full);
	assert_int_equal(tkx_verify_msg(key, klen, &d), 0);
	assert_int_equal(tkx_sign_msg(key, klen, &m), 0);
	assert_memory_equal(m.raw + cred_off, mac, 32);
	assert_int_equal(tkx_verify_msg(other, klen, &m), -EACCES);

	/* Every single-bit flip anywhere in the message fails. */
	for (size_t bit = 0; bit < full * 8; bit++) {
		int rc;

		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = tkx_verify(key, klen, p, full);
		if (bit / 8 >= TKX_HDR_LEN)
			assert_int_equal(rc, -EACCES);
		else
			assert_true(rc < 0); /* a header flip fails decode first */
		if (bit / 8 >= TKX_HDR_LEN) {
			assert_int_equal(tkx_decode(p, full, &d), full);
			assert_int_equal(tkx_verify_msg(key, klen, &d), -EACCES);
		}
		p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	assert_int_equal(tkx_verify(key, klen, p, full), 0);
	/* Truncated: the decode error; nothing written past the end by sign. */
	assert_int_equal(tkx_verify(key, klen, p, full - 1), -ENODATA);
	assert_int_equal(tkx_sign(key, klen, p, full - 1), -ENODATA);
	free(p);
}

static void test_sign_verify(void **state)
{
	struct tkx_msg m;
	uint8_t wire[TKX_MAX_MSG_LEN];
	size_t full;

	(void)state;
	check_signed(TKX_NEGOTIATE, offsetof(struct tkx_negotiate, credentials));
	check_signed(TKX_ESTABLISH, offsetof(struct tkx_establish, credentials));
	/* Other templates carry no credentials. */
	full = sample_wire(TKX_NEW_ORDER, wire, sizeof(wire), &m);
	assert_int_equal(tkx_sign((const uint8_t *)"k", 1, wire, full), -EINVAL);
	assert_int_equal(tkx_verify((const uint8_t *)"k", 1, wire, full), -EINVAL);
	assert_int_equal(tkx_sign_msg((const uint8_t *)"k", 1, &m), -EINVAL);
	assert_int_equal(tkx_verify_msg((const uint8_t *)"k", 1, &m), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_tables),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_new_order_bytes),
		cmocka_unit_test(test_validate_order_types),
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_encode_nospc),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_block_length),
		cmocka_unit_test(test_unknown_template),
		cmocka_unit_test(test_wrong_schema),
		cmocka_unit_test(test_reserved_bytes),
		cmocka_unit_test(test_enum_values),
		cmocka_unit_test(test_prices_and_qty),
		cmocka_unit_test(test_sofh_frames),
		cmocka_unit_test(test_sofh_errors),
		cmocka_unit_test(test_sofh_stream),
		cmocka_unit_test(test_dgram_several),
		cmocka_unit_test(test_dgram_bad_middle),
		cmocka_unit_test(test_md_packet),
		cmocka_unit_test(test_md_heartbeat_eos),
		cmocka_unit_test(test_md_truncated),
		cmocka_unit_test(test_md_builder_limits),
		cmocka_unit_test(test_hmac_rfc4231),
		cmocka_unit_test(test_sign_verify),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
