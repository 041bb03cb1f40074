/*
 * test_jn_link.c - the replication link's framing and the standby's record checks
 * (dataplane/journal/jn_link.h): a frame round trip, a header cut short, a damaged header,
 * another version, a frame too long; a record in order, a duplicate, a gap, a damaged CRC,
 * another journal format, an epoch that goes back (a deposed primary's record).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <zlib.h>

#include "jn_link.h"

static void test_frame(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct jn_link_hdr h;
	char why[256];
	jn_link_hdr(buf, JN_LINK_ACK, sizeof(struct jn_link_ack));
	for (size_t n = 0; n < JN_LINK_HDR; n++)
		assert_int_equal(jn_link_parse(buf, n, &h, why, sizeof(why)), 0);
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)),
			 JN_LINK_HDR + sizeof(struct jn_link_ack));
	assert_int_equal(h.type, JN_LINK_ACK);
	/* One bit of the length flipped: the header's CRC. */
	buf[8] ^= 1;
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "bad header CRC"));
	/* Not a frame at all. */
	memset(buf, 'x', sizeof(buf));
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "bad magic"));
	/* Another version, with its header's CRC right: named. */
	struct jn_link_hdr w = {JN_LINK_MAGIC, 9, JN_LINK_RECORDS, JN_REC_SIZE, 0};
	w.hdr_crc = (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)&w, 12);
	memcpy(buf, &w, sizeof(w));
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "version 9, this tokexd speaks version 1"));
	/* Too long, and records that are not whole. */
	jn_link_hdr(buf, JN_LINK_RECORDS, JN_LINK_MAX_PAYLOAD + JN_REC_SIZE);
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)), -EMSGSIZE);
	jn_link_hdr(buf, JN_LINK_RECORDS, JN_REC_SIZE + 1);
	assert_int_equal(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)), -EMSGSIZE);
	jn_link_hdr(buf, JN_LINK_SNAPSHOT, JN_LINK_MAX_PAYLOAD * 4);
	assert_true(jn_link_parse(buf, JN_LINK_HDR, &h, why, sizeof(why)) > 0);
}

static struct jn_rec rec(uint64_t seq, uint32_t epoch)
{
	struct jn_rec r;
	memset(&r, 0, sizeof(r));
	r.magic = JN_REC_MAGIC;
	r.seq = seq;
	r.time_ns = seq * 1000;
	r.type = JN_T_MARK;
	r.len = 8;
	r.writer = 7;
	r.epoch = epoch;
	memcpy(r.payload, &seq, 8);
	r.crc = jn_rec_crc(&r);
	return r;
}

static void test_follow(void **state)
{
	(void)state;
	struct jn_follow f = {5, 0, 0};
	char why[256];
	struct jn_rec r = rec(5, 1);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), JN_FOLLOW_OK);
	assert_int_equal(f.next_seq, 6);
	assert_int_equal(f.epoch, 1);
	/* a duplicate: skipped, nothing moves */
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), JN_FOLLOW_DUP);
	assert_int_equal(f.next_seq, 6);
	/* a gap: ask again from 6 */
	r = rec(8, 1);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), JN_FOLLOW_GAP);
	assert_int_equal(f.next_seq, 6);
	assert_non_null(strstr(why, "seq 8 received, seq 6 expected"));
	/* a damaged byte: the record's CRC */
	r = rec(6, 1);
	r.payload[40] ^= 0x10;
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), -EBADMSG);
	assert_non_null(strstr(why, "seq 6 (seq 6 expected): bad CRC"));
	assert_int_equal(f.next_seq, 6);
	/* another format: named */
	r = rec(6, 1);
	r.magic = JN_REC_MAGIC_V1;
	r.crc = jn_rec_crc(&r);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), -EPROTONOSUPPORT);
	assert_non_null(strstr(why, "journal format 1"));
	/* a newer epoch is taken; an older one after it is fenced */
	r = rec(6, 3);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), JN_FOLLOW_OK);
	r = rec(7, 2);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), -ESTALE);
	assert_non_null(strstr(why, "seq 7: epoch 2 after epoch 3"));
	assert_int_equal(f.next_seq, 7);
	/* epoch 0 is never written */
	r = rec(7, 0);
	assert_int_equal(jn_follow_check(&f, &r, why, sizeof(why)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_follow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
