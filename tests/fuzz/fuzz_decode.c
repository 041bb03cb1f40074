/*
 * fuzz_decode.c - libFuzzer target over every decoder in tokex/codec.h.
 *
 * Each input is read four ways: as one message (tkx_decode + tkx_validate), as a UDP
 * order-entry datagram (tkx_decode_dgram and tkx_dgram_next, which must agree), as a TCP
 * byte stream of SOFH frames (tkx_decode_frame) and as a market-data packet
 * (tkx_md_iter_*). Besides ASan/UBSan's checks it asserts codec.h's invariants: errors
 * are the documented ones, whatever decodes re-encodes to the same bytes, offsets stay
 * inside the input, and validation's answers are well formed.
 *
 * Built by run_fuzz.sh with clang. With -DTKX_FUZZ_SEEDGEN it is instead a program that
 * writes a seed corpus of valid inputs (from tests/proto/codec_samples.h) into a folder.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokex/codec.h"
#include "codec_samples.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)                                                                         \
	do {                                                                             \
		if (!(c)) {                                                              \
			fprintf(stderr, "fuzz_decode: %s:%d: check failed: %s\n", __FILE__, \
				__LINE__, #c);                                           \
			abort();                                                         \
		}                                                                        \
	} while (0)

static const uint8_t fuzz_key[] = "fuzz-firm-secret";

static int decode_error(int rc)
{
	return rc == -ENODATA || rc == -EPROTO || rc == -ENOMSG || rc == -EBADMSG;
}

/* tkx_validate()'s answer is one of the three documented forms. */
static void check_validate(const struct tkx_msg *m)
{
	uint16_t why = 0xFFFF;
	int rc = tkx_validate(m, &why);

	if (rc == 0) {
		CHECK(why == 0);
	} else if (rc == -EINVAL) {
		CHECK(m->template_id >= 100 && m->template_id < 200);
		CHECK(strcmp(tkx_reject_reason_name(why), "Unknown") != 0);
	} else {
		CHECK(rc == -EBADMSG);
		CHECK(why == TKX_BREJ_INVALID_FIELD);
	}
	CHECK(tkx_validate(m, NULL) == rc);
}

static void one_message(const uint8_t *data, size_t size)
{
	uint8_t re[TKX_MAX_MSG_LEN];
	struct tkx_msg m;
	int n = tkx_decode(data, size, &m);

	CHECK(tkx_decode(data, size, NULL) == n);
	if (n < 0) {
		CHECK(decode_error(n));
		return;
	}
	CHECK((size_t)n <= size);
	CHECK(n == TKX_HDR_LEN + tkx_block_length(m.template_id));
	CHECK(tkx_decode(data, (size_t)n - 1, NULL) == -ENODATA);
	/* Invariant 2: the header is canonical, so the bytes come back unchanged. */
	CHECK(tkx_encode(re, sizeof(re), &m) == n);
	CHECK(memcmp(re, data, (size_t)n) == 0);
	CHECK(tkx_template_dir(m.template_id) > 0);
	CHECK(strcmp(tkx_template_name(m.template_id), "Unknown") != 0);
	check_validate(&m);
	if (m.template_id == TKX_NEGOTIATE || m.template_id == TKX_ESTABLISH) {
		int rc = tkx_verify(fuzz_key, sizeof(fuzz_key) - 1, data, size);

		CHECK(rc == 0 || rc == -EACCES);
		CHECK(tkx_verify_msg(fuzz_key, sizeof(fuzz_key) - 1, &m) == rc);
	}
}

static void datagram(const uint8_t *data, size_t size)
{
	static struct tkx_msg msgs[TKX_DGRAM_MAX_MSGS];
	struct tkx_dgram_iter it;
	struct tkx_msg m;
	size_t off = ~(size_t)0;
	int err = 1, n, k = 0, rc;

	n = tkx_decode_dgram(data, size, msgs, TKX_DGRAM_MAX_MSGS, &err, &off);
	CHECK(n >= 0 && n <= (int)TKX_DGRAM_MAX_MSGS);
	CHECK(off <= size);
	CHECK(err == 0 || err == -ENOBUFS || decode_error(err));
	/* The iterator walks the same messages and stops at the same place. */
	tkx_dgram_init(&it, data, size);
	while ((rc = tkx_dgram_next(&it, &m)) > 0) {
		if (k < n) {
			CHECK(m.template_id == msgs[k].template_id);
			CHECK(memcmp(m.raw, msgs[k].raw, (size_t)rc - TKX_HDR_LEN) == 0);
			check_validate(&m);
		}
		if (k == n)
			CHECK(err == -ENOBUFS && it.off - (size_t)rc == off);
		k++;
	}
	CHECK(it.off <= size);
	if (err == 0) {
		CHECK(rc == 0 && k == n && it.off == size);
	} else if (err != -ENOBUFS) {
		CHECK(rc == err && k == n && it.off == off);
		CHECK(tkx_dgram_next(&it, &m) == err);
	}
}

static void tcp_stream(const uint8_t *data, size_t size)
{
	uint8_t re[TKX_SOFH_LEN + TKX_MAX_MSG_LEN];
	size_t off = 0;
	struct tkx_msg m;

	for (;;) {
		int n = tkx_decode_frame(data + off, size - off, &m);
		int f = tkx_sofh_next(data + off, size - off);

		if (n == 0) {
			CHECK(f == 0);
			break;
		}
		if (n < 0) {
			CHECK(n == -EPROTONOSUPPORT || n == -EMSGSIZE || n == -EBADMSG ||
			      n == -EPROTO || n == -ENOMSG);
			CHECK(f == n || f > 0);
			break;
		}
		CHECK(f == n);
		CHECK(n >= TKX_SOFH_LEN + TKX_HDR_LEN && n <= TKX_SOFH_LEN + TKX_MAX_MSG_LEN);
		CHECK((size_t)n <= size - off);
		CHECK(tkx_encode_frame(re, sizeof(re), &m) == n);
		CHECK(memcmp(re, data + off, (size_t)n) == 0);
		off += (size_t)n;
	}
}

static void md_packet(const uint8_t *data, size_t size)
{
	static uint8_t rebuilt[8192];
	struct tkx_md_iter it;
	struct tkx_md_pkt pkt;
	struct tkx_msg m;
	const void *msg;
	size_t len;
	uint64_t seq;
	unsigned k = 0;
	int rc;

	if (tkx_md_iter_init(&it, data, size) < 0) {
		CHECK(size < TKX_MD_HDR_LEN);
		CHECK(tkx_md_iter_decode(&it, &m, &seq) == -ENODATA);
		return;
	}
	while ((rc = tkx_md_iter_decode(&it, &m, &seq)) == 1) {
		CHECK(seq == it.hdr.sequence + k);
		check_validate(&m);
		k++;
	}
	CHECK(it.off <= size && k <= it.count && it.index == k);
	if (rc != 0) {
		CHECK(rc == -EBADMSG || decode_error(rc));
		CHECK(tkx_md_iter_decode(&it, &m, &seq) == rc);
		return;
	}
	CHECK(k == it.count && it.off == size);
	if (it.hdr.count == TKX_MD_END_OF_SESSION || size > sizeof(rebuilt))
		return;
	/* A packet that parses is the packet the builder makes from its messages. */
	CHECK(tkx_md_pkt_init(&pkt, rebuilt, size, it.hdr.session, it.hdr.sequence) == 0);
	CHECK(tkx_md_iter_init(&it, data, size) == 0);
	while (tkx_md_iter_next(&it, &msg, &len, NULL) == 1)
		CHECK(tkx_md_pkt_append(&pkt, msg, len) == 0);
	CHECK(pkt.len == size && memcmp(rebuilt, data, size) == 0);
}

/* The datagram authenticator reads only inside the datagram and never accepts a forgery
 * (a random input that verifies would be a 2^-64 event); sealing then opening agrees. */
static void datagram_auth(const uint8_t *data, size_t size)
{
	static const uint8_t key[TKX_AUTH_KEY_LEN] = "fuzz-udp-key-16b";
	static uint8_t buf[TKX_MAX_DGRAM];
	uint64_t ctr = 0;
	int off = tkx_auth_find(data, size), n;

	CHECK(off == -ENOENT || (off >= 0 && (size_t)off + TKX_AUTH_LEN == size));
	CHECK(tkx_auth_open(key, data, size, &ctr) == (off < 0 ? -ENOENT : -EACCES));
	if (size > sizeof(buf) - TKX_AUTH_LEN)
		return;
	memcpy(buf, data, size);
	n = tkx_auth_seal(key, size + 1, buf, size, sizeof(buf));
	CHECK(n == (int)(size + TKX_AUTH_LEN));
	CHECK(tkx_auth_open(key, buf, (size_t)n, &ctr) == (int)size && ctr == size + 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	one_message(data, size);
	datagram(data, size);
	datagram_auth(data, size);
	tcp_stream(data, size);
	md_packet(data, size);
	return 0;
}

#ifdef TKX_FUZZ_SEEDGEN
/* Seed corpus: every sample message bare and framed, a datagram, a TCP stream, a signed
 * Negotiate, and market-data packets (full, heartbeat, end of session). */
static void put(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, len, f) != len || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int main(int argc, char **argv)
{
	static const uint16_t order_flow[] = {TKX_SEQUENCE, TKX_NEW_ORDER, TKX_CANCEL_ORDER,
					      TKX_MODIFY_ORDER, TKX_MASS_CANCEL};
	uint8_t buf[TKX_MAX_DGRAM], stream[TKX_MAX_DGRAM];
	size_t dlen = 0, slen = 0;
	struct tkx_md_pkt pkt;
	struct tkx_md_hdr h;
	struct tkx_msg m;
	char name[64];
	int n;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SEED_DIR\n", argv[0]);
		return 2;
	}
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		tkx_sample(tkx_sample_ids[i], &m);
		n = tkx_encode(buf, sizeof(buf), &m);
		snprintf(name, sizeof(name), "msg-%u", tkx_sample_ids[i]);
		put(argv[1], name, buf, (size_t)n);
		n = tkx_encode_frame(buf, sizeof(buf), &m);
		snprintf(name, sizeof(name), "frame-%u", tkx_sample_ids[i]);
		put(argv[1], name, buf, (size_t)n);
	}
	for (size_t i = 0; i < sizeof(order_flow) / sizeof(order_flow[0]); i++) {
		tkx_sample(order_flow[i], &m);
		dlen += (size_t)tkx_encode(buf + dlen, sizeof(buf) - dlen, &m);
		slen += (size_t)tkx_encode_frame(stream + slen, sizeof(stream) - slen, &m);
	}
	put(argv[1], "dgram", buf, dlen);
	put(argv[1], "stream", stream, slen);

	tkx_sample(TKX_NEGOTIATE, &m);
	n = tkx_encode(buf, sizeof(buf), &m);
	if (tkx_sign(fuzz_key, sizeof(fuzz_key) - 1, buf, (size_t)n) != 0)
		return 1;
	put(argv[1], "negotiate-signed", buf, (size_t)n);

	tkx_md_session(h.session, "TKX0001");
	tkx_md_pkt_init(&pkt, buf, sizeof(buf), h.session, 1000);
	for (size_t i = 0; i < TKX_SAMPLE_COUNT; i++) {
		if (tkx_template_dir(tkx_sample_ids[i]) != TKX_DIR_MD)
			continue;
		tkx_sample(tkx_sample_ids[i], &m);
		n = tkx_encode(stream, sizeof(stream), &m);
		tkx_md_pkt_append(&pkt, stream, (size_t)n);
	}
	put(argv[1], "md", buf, pkt.len);
	h.sequence = 1005;
	h.count = TKX_MD_HEARTBEAT;
	tkx_md_hdr_encode(buf, sizeof(buf), &h);
	put(argv[1], "md-heartbeat", buf, TKX_MD_HDR_LEN);
	h.count = TKX_MD_END_OF_SESSION;
	tkx_md_hdr_encode(buf, sizeof(buf), &h);
	put(argv[1], "md-eos", buf, TKX_MD_HDR_LEN);
	return 0;
}
#endif
