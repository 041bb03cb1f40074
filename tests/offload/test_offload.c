/*
 * test_offload.c - the offload target (hw/offload, <tokex/offload.h>): the ring protocol
 * (sequence numbers, phase-bit wrap, one doorbell per batch, full ring), the sw backend
 * against the engine's top of book over random order streams, shadow mode catching an
 * injected discrepancy with software winning, and the fpga backend failing cleanly.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokex/offload.h>

#include "me_book.h"
#include "offload_stream.h"

static struct tkx_off *open_sw(uint32_t levels, uint32_t books, uint32_t ring)
{
	struct tkx_off_conf c = {TKX_OFF_SW, 0, levels, books, ring, NULL};
	char err[256] = "";
	struct tkx_off *o = tkx_off_open(&c, err, sizeof(err));
	if (o == NULL)
		fail_msg("open sw: %s", err);
	return o;
}

static struct tkx_off_cmd add(uint8_t side, int64_t p, int64_t q)
{
	struct tkx_off_cmd c = {0, TKX_OFF_ADD, side, 0, p, q, 0};
	return c;
}

/* Sequence numbers and the phase bit over many laps of a small ring. */
static void test_ring_seq_phase_wrap(void **state)
{
	(void)state;
	struct tkx_off *o = open_sw(8, 1, 16);
	struct tkx_off_ev ev[16];
	uint32_t seq = 0;
	for (int lap = 0; lap < 40; lap++) {
		/* 7 commands a batch: slot boundaries fall everywhere in the ring */
		struct tkx_off_cmd c[7];
		for (int i = 0; i < 7; i++)
			c[i] = add(TKX_OFF_BID, 100, 1);
		assert_int_equal(tkx_off_post(o, c, 7), 7);
		tkx_off_doorbell(o);
		unsigned k = tkx_off_poll(o, ev, 16);
		assert_int_equal(k, 7);
		for (unsigned i = 0; i < k; i++, seq++) {
			assert_int_equal(ev[i].seq, seq);
			assert_int_equal(ev[i].flags, 0);
			assert_int_equal(ev[i].bid_qty, (int64_t)seq + 1);
		}
		assert_int_equal(tkx_off_poll(o, ev, 16), 0); /* nothing stale after the wrap */
	}
	printf("# ring: %u commands, %u laps of 16, every seq in order\n", seq, seq / 16);
	tkx_off_close(o);
}

/* Nothing reaches the device before the doorbell; one doorbell carries the batch. */
static void test_ring_doorbell_batching(void **state)
{
	(void)state;
	struct tkx_off *o = open_sw(8, 1, 64);
	struct tkx_off_cmd c[10];
	struct tkx_off_ev ev[64];
	struct tkx_off_stats st;
	for (int i = 0; i < 10; i++)
		c[i] = add(TKX_OFF_ASK, 200 + i, 5);
	assert_int_equal(tkx_off_post(o, c, 10), 10);
	assert_int_equal(tkx_off_in_flight(o), 10);
	assert_int_equal(tkx_off_poll(o, ev, 64), 0);
	tkx_off_stats_read(o, &st);
	assert_int_equal(st.doorbells, 0);
	tkx_off_doorbell(o);
	assert_int_equal(tkx_off_poll(o, ev, 64), 10);
	assert_int_equal(tkx_off_in_flight(o), 0);
	tkx_off_stats_read(o, &st);
	assert_int_equal(st.doorbells, 1);
	assert_int_equal(st.cmds, 10);
	assert_int_equal(st.events, 10);
	/* Asks 200..209 into an 8-level table: the best 8 kept, the side truncated. */
	assert_int_equal(ev[9].n_ask, 8);
	assert_int_equal(ev[9].ask_price, 200);
	assert_int_equal(ev[9].trunc, 2);
	tkx_off_close(o);
}

/* A full ring takes nothing more until events are polled (rule 3). */
static void test_ring_full(void **state)
{
	(void)state;
	struct tkx_off *o = open_sw(8, 1, 16);
	struct tkx_off_cmd c[20];
	struct tkx_off_ev ev[32];
	for (int i = 0; i < 20; i++)
		c[i] = add(TKX_OFF_BID, 100, 1);
	assert_int_equal(tkx_off_post(o, c, 20), 16);
	assert_int_equal(tkx_off_post(o, c, 1), 0);
	tkx_off_doorbell(o);
	assert_int_equal(tkx_off_post(o, c, 1), 0); /* events not yet read: still full */
	assert_int_equal(tkx_off_poll(o, ev, 5), 5);
	assert_int_equal(tkx_off_post(o, c, 20), 5);
	tkx_off_doorbell(o);
	assert_int_equal(tkx_off_poll(o, ev, 32), 16);
	assert_int_equal(ev[15].seq, 20);
	assert_int_equal(ev[15].bid_qty, 21);
	tkx_off_close(o);
}

/* Level-table semantics: SUB of unknown levels, MISS on a truncated side, REFILL rules. */
static void test_level_table_semantics(void **state)
{
	(void)state;
	struct tkx_off *o = open_sw(2, 1, 16);
	struct tkx_off_cmd c[] = {
		{0, TKX_OFF_ADD, TKX_OFF_BID, 0, 100, 5, 0},    /* [100] */
		{0, TKX_OFF_ADD, TKX_OFF_BID, 0, 99, 5, 0},     /* [100 99] */
		{0, TKX_OFF_ADD, TKX_OFF_BID, 0, 98, 5, 0},     /* ignored, trunc */
		{0, TKX_OFF_SUB, TKX_OFF_BID, 0, 98, 5, 0},     /* beyond: ignored */
		{0, TKX_OFF_SUB, TKX_OFF_BID, 0, 100, 5, 0},    /* [99] MISS */
		{0, TKX_OFF_REFILL, TKX_OFF_BID, 0, 100, 1, 0}, /* not worse: ERR */
		{0, TKX_OFF_REFILL, TKX_OFF_BID, 0, 97, 2, 0},  /* [99 97] */
		{0, TKX_OFF_SUB, TKX_OFF_ASK, 0, 200, 1, 0},    /* unknown, complete side: ERR */
		{0, TKX_OFF_SUB, TKX_OFF_BID, 0, 99, 6, 0},     /* more than held: ERR */
		{0, TKX_OFF_ADD, TKX_OFF_ASK, 0, 200, 1, 0},
		{0, TKX_OFF_CLEAR, TKX_OFF_BID, 0, 0, 0, 0},    /* both sides */
	};
	uint8_t want_flags[] = {0, 0, 0, 0, TKX_OFF_EV_MISS, TKX_OFF_EV_ERR, 0, TKX_OFF_EV_ERR,
				TKX_OFF_EV_ERR, 0, 0};
	struct tkx_off_ev ev[16];
	unsigned n = sizeof(c) / sizeof(c[0]);
	assert_int_equal(tkx_off_post(o, c, n), n);
	tkx_off_doorbell(o);
	assert_int_equal(tkx_off_poll(o, ev, 16), n);
	for (unsigned i = 0; i < n; i++)
		assert_int_equal(ev[i].flags, want_flags[i]);
	assert_int_equal(ev[2].trunc, 1);
	assert_int_equal(ev[4].bid_price, 99);
	assert_int_equal(ev[6].n_bid, 2);
	assert_int_equal(ev[9].n_ask, 1);
	assert_int_equal(ev[10].n_bid, 0);
	assert_int_equal(ev[10].n_ask, 0);
	assert_int_equal(ev[10].trunc, 0);
	struct tkx_off_log log[8];
	assert_int_equal(tkx_off_log_drain(o, log, 8), 3); /* the three ERR events */
	tkx_off_close(o);
}

/* The sw backend against the engine over random streams, for several N. */
static void test_sw_vs_engine(void **state)
{
	(void)state;
	static const uint32_t levels[] = {1, 3, 8, 64};
	for (unsigned li = 0; li < 4; li++)
		for (uint32_t seed = 1; seed <= 3; seed++) {
			struct tkx_off *o = open_sw(levels[li], 2, 64);
			struct os_result r;
			os_run(o, levels[li], seed, 4000, &r);
			struct tkx_off_stats st;
			tkx_off_stats_read(o, &st);
			printf("# sw N=%u seed %u: %u orders, %u updates, %" PRIu64 " commands, %"
			       PRIu64 " misses, %" PRIu64 " refills, top of book equal %u times\n",
			       levels[li], seed, r.orders, r.updates, st.cmds, st.misses, st.refills,
			       r.tob_equal);
			assert_int_equal(r.bad_rc, 0);
			assert_int_equal(r.tob_equal, r.updates);
			assert_int_equal(st.engine_mismatch, 0);
			assert_int_equal(st.errors, 0);
			if (levels[li] <= 3)
				assert_true(st.misses > 0 && st.refills > 0);
			tkx_off_close(o);
		}
}

/* Shadow: a corrupted target event is found, logged, and software's answer is used. */
static void test_shadow_detects_fault(void **state)
{
	(void)state;
	struct tkx_off_conf c = {TKX_OFF_SHADOW, TKX_OFF_SW, 4, 2, 64, NULL};
	char err[256] = "";
	struct tkx_off *o = tkx_off_open(&c, err, sizeof(err));
	assert_non_null(o);
	uint32_t inner;
	assert_int_equal(tkx_off_target_of(o, &inner), TKX_OFF_SHADOW);
	assert_int_equal(inner, TKX_OFF_SW);

	struct os_result r;
	os_run(o, 4, 7, 300, &r); /* warm up: no fault, no mismatch */
	struct tkx_off_stats st;
	tkx_off_stats_read(o, &st);
	assert_int_equal(st.shadow_mismatch, 0);
	assert_int_equal(r.bad_rc, 0);

	tkx_off_inject_event_fault(o, 50); /* the target's 50th event from now: mid-stream */
	os_run(o, 4, 8, 300, &r);
	tkx_off_stats_read(o, &st);
	printf("# shadow: %u updates, %" PRIu64 " events compared, %" PRIu64
	       " mismatch, %" PRIu64 " resync, software's top of book used %u/%u\n",
	       r.updates, st.events, st.shadow_mismatch, st.resyncs, r.tob_equal, r.updates);
	assert_int_equal(st.shadow_mismatch, 1);
	assert_int_equal(r.bad_rc, 1);           /* the update that saw it said -ERANGE */
	assert_int_equal(r.tob_equal, r.updates); /* and still returned the engine's answer */
	assert_true(st.resyncs >= 1);

	struct tkx_off_log log[8];
	char line[512];
	assert_int_equal(tkx_off_log_drain(o, log, 8), 1);
	assert_int_equal(log[0].kind, TKX_OFF_LOG_SHADOW);
	assert_int_not_equal(log[0].want.bid_qty + log[0].want.bid_price,
			     log[0].got.bid_qty + log[0].got.bid_price);
	tkx_off_log_format(&log[0], line, sizeof(line));
	printf("# shadow log: %s\n", line);
	assert_non_null(strstr(line, "shadow mismatch"));

	/* After the rebuild the target agrees again. */
	os_run(o, 4, 9, 300, &r);
	tkx_off_stats_read(o, &st);
	assert_int_equal(st.shadow_mismatch, 1);
	assert_int_equal(r.bad_rc, 0);
	tkx_off_close(o);
}

/* Without shadow, a target that disagrees with the engine is caught at the sync. */
static void test_target_vs_engine_fault(void **state)
{
	(void)state;
	struct tkx_off *o = open_sw(4, 1, 64);
	struct tkx_off_levels w;
	struct tkx_off_tob tob;
	memset(&w, 0, sizeof(w));
	w.n[0] = 1;
	w.price[0][0] = 100;
	w.qty[0][0] = 7;
	tkx_off_inject_event_fault(o, 1);
	assert_int_equal(tkx_off_update(o, 0, &w, &tob), -ERANGE);
	assert_int_equal(tob.bid_price, 100); /* the engine's */
	assert_int_equal(tob.bid_qty, 7);
	struct tkx_off_stats st;
	tkx_off_stats_read(o, &st);
	assert_int_equal(st.engine_mismatch, 1);
	assert_int_equal(st.resyncs, 1);
	w.qty[0][0] = 9;
	assert_int_equal(tkx_off_update(o, 0, &w, &tob), 0);
	struct tkx_off_log log[4];
	assert_int_equal(tkx_off_log_drain(o, log, 4), 1);
	assert_int_equal(log[0].kind, TKX_OFF_LOG_ENGINE);
	tkx_off_close(o);
}

/* No board here: the fpga backend fails at open, cleanly, saying what to do. */
static void test_fpga_fails_cleanly(void **state)
{
	(void)state;
	char err[512] = "";
	struct tkx_off_conf c = {TKX_OFF_FPGA, 0, 8, 1, 64, NULL};
	errno = 0;
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	assert_non_null(strstr(err, "offload.vfio_group is not set"));

	c.vfio_group = "not-a-group";
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);

	c.vfio_group = "4242";
	errno = 0;
	err[0] = 0;
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	printf("# fpga: errno %d: %s\n", errno, err);
	assert_true(errno == ENOENT || errno == EACCES || errno == ENODEV || errno == EPERM ||
		    errno == ENOTSUP || errno == EBUSY);
	assert_non_null(strstr(err, "/dev/vfio/"));

	/* Shadow of an absent board fails the same way, nothing half-open. */
	struct tkx_off_conf s = {TKX_OFF_SHADOW, TKX_OFF_FPGA, 8, 1, 64, "4242"};
	assert_null(tkx_off_open(&s, err, sizeof(err)));
	assert_non_null(strstr(err, "/dev/vfio/"));
}

static void test_conf_checks(void **state)
{
	(void)state;
	char err[256];
	struct tkx_off_conf c = {TKX_OFF_SW, 0, 0, 1, 64, NULL};
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	c.n_levels = 65;
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	c.n_levels = 8;
	c.ring_size = 100;
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	c.ring_size = 64;
	c.target = TKX_OFF_NONE;
	assert_null(tkx_off_open(&c, err, sizeof(err)));
	uint32_t t;
	assert_int_equal(tkx_off_target_parse("shadow", &t), 0);
	assert_int_equal(t, TKX_OFF_SHADOW);
	assert_int_equal(tkx_off_target_parse("gpu", &t), -EINVAL);
	assert_string_equal(tkx_off_target_name(TKX_OFF_FPGA), "fpga");
	if (!tkx_off_have_sim()) {
		struct tkx_off_conf s = {TKX_OFF_SIM, 0, 8, 1, 64, NULL};
		assert_null(tkx_off_open(&s, err, sizeof(err)));
		assert_int_equal(errno, ENOTSUP);
		assert_non_null(strstr(err, "verilator"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_seq_phase_wrap),
		cmocka_unit_test(test_ring_doorbell_batching),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_level_table_semantics),
		cmocka_unit_test(test_sw_vs_engine),
		cmocka_unit_test(test_shadow_detects_fault),
		cmocka_unit_test(test_target_vs_engine_fault),
		cmocka_unit_test(test_fpga_fails_cleanly),
		cmocka_unit_test(test_conf_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
