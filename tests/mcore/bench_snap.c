/*
 * bench_snap.c - what a snapshot costs the RX core (docs/BENCHMARKS.md "Journal",
 * "Snapshots"): the time mc_snap_save + ss_snap_save + md_snap_save take to serialize
 * tokexd's default shape (12 contracts of 65 536 orders, 4 spare slots, 256 sessions
 * of retransmit depth 1 024, the publisher) into a preallocated buffer, and the size, for
 * a given number of resting orders and sessions with full retransmit rings; and what
 * loading takes at start. Not a test: run it from a Release build.
 *
 * usage: bench_snap [resting orders (default 100000)] [sessions with history (256)]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mc_snap.h"
#include "md_snap.h"
#include "ss_snap.h"

#define NC 12
#define REPS 21

static uint64_t mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *zalloc(size_t n)
{
	void *p = aligned_alloc(64, (n + 63) & ~(size_t)63);
	if (p == NULL) {
		fprintf(stderr, "bench_snap: out of memory (%zu bytes)\n", n);
		exit(1);
	}
	memset(p, 0, n);
	return p;
}

static void discard(struct mc_out *o)
{
	o->n = 0;
}

struct rig {
	struct mc_core *mc;
	struct ss_table *ss;
	struct md_pub *md;
};

static const struct ss_firm firm = { .firm_id = 1, .key_len = 4, .key = "abcd" };

static void rig_init(struct rig *r)
{
	struct mc_contract_params p[NC];
	struct md_contract mdc[NC];
	memset(p, 0, sizeof(p));
	size_t slot = 0;
	for (int i = 0; i < NC; i++) {
		p[i].id = 202601 + (uint32_t)i;
		p[i].book = (struct me_params){ 12500, 37500, 10, 10000, 65536 };
		p[i].phase = TKX_PHASE_CONTINUOUS;
		mdc[i] = (struct md_contract){ p[i].id, TKX_PHASE_CONTINUOUS };
		slot = me_book_memsize(&p[i].book);
	}
	struct mc_core_cfg cc = { .capacity = NC + 4, .accounts = MC_DEFAULT_ACCOUNTS,
				  .slot_bytes = 2 * slot };
	size_t len = mc_core_memsize_cfg(p, NC, &cc);
	r->mc = mc_core_init_cfg(zalloc(len), len, p, NC, &cc);

	struct ss_params sp;
	ss_params_default(&sp);
	sp.max_sessions = 256;
	sp.retrans_depth = 1024;
	sp.firms = &firm;
	sp.n_firms = 1;
	len = ss_table_memsize(&sp);
	r->ss = ss_table_init(zalloc(len), len, &sp);

	struct md_params mp;
	md_pub_params_default(&mp);
	mp.contracts = mdc;
	mp.n_contracts = NC;
	len = md_pub_memsize(&mp);
	r->md = md_pub_init(zalloc(len), len, &mp);
	if (!r->mc || !r->ss || !r->md) {
		fprintf(stderr, "bench_snap: init failed\n");
		exit(1);
	}
}

int main(int argc, char **argv)
{
	uint32_t orders = argc > 1 ? (uint32_t)strtoul(argv[1], NULL, 0) : 100000;
	uint32_t sessions = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 0) : 256;
	if (orders > NC * 65536u || sessions > 256) {
		fprintf(stderr, "usage: bench_snap [orders <= %u] [sessions <= 256]\n", NC * 65536u);
		return 2;
	}
	struct rig a, b;
	rig_init(&a);
	rig_init(&b);
	struct dp_event ev[64];
	struct mc_out out = { ev, 0, 64, discard, NULL };
	/* Resting orders: buys below 25 000, sells above, spread over 200 levels a side. */
	for (uint32_t i = 0; i < orders; i++) {
		struct dp_order o;
		memset(&o, 0, sizeof(o));
		o.type = DP_ORD_NEW;
		o.session = (uint16_t)(i % 256);
		o.firm_id = 1;
		o.account = 1 + i % 7;
		o.cl_ord_id = i + 1;
		o.contract_id = 202601 + i % NC;
		o.side = (i / NC) % 2 ? TKX_SIDE_SELL : TKX_SIDE_BUY;
		o.tif = TKX_TIF_GTC;
		int64_t off = 10 * (1 + (int64_t)((i / (2 * NC)) % 200));
		o.price = o.side == TKX_SIDE_BUY ? 25000 - off : 25000 + off;
		o.qty = 1 + i % 50;
		mc_process(a.mc, &o, 1, 1, &out);
	}
	/* Sessions with a full retransmit ring (what recovery rebuilds: TERMINATED). */
	for (uint32_t s = 0; s < sessions; s++) {
		ss_restore_session(a.ss, s, 0x1000 + s, 1, 1, 1);
		for (uint32_t k = 0; k < 1100; k++) {
			struct tkx_exec_reject rj = { .cl_ord_id = k, .reason = TKX_REJ_THROTTLED };
			ss_restore_reply(a.ss, s, TKX_EXEC_REJECT, &rj, sizeof(rj), 1);
		}
	}
	size_t cap = mc_snap_bound(a.mc) + ss_snap_bound(a.ss) +
		     md_snap_bound(a.md);
	uint8_t *buf = zalloc(cap);
	uint64_t t[REPS];
	size_t len = 0;
	for (int r = 0; r < REPS; r++) {
		struct dp_snap_w w;
		dp_snap_w_init(&w, buf, cap);
		uint64_t t0 = mono();
		mc_snap_save(a.mc, &w);
		ss_snap_save(a.ss, &w);
		md_snap_save(a.md, &w);
		t[r] = mono() - t0;
		if (w.err) {
			fprintf(stderr, "bench_snap: save failed: %d\n", w.err);
			return 1;
		}
		len = w.len;
	}
	for (int i = 1; i < REPS; i++) /* sort */
		for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
			uint64_t x = t[j];
			t[j] = t[j - 1];
			t[j - 1] = x;
		}
	char err[256];
	size_t used, off = 0;
	uint64_t t0 = mono();
	int rc = mc_snap_load(b.mc, buf, len, &used, err, sizeof(err));
	off += used;
	if (rc == 0)
		rc = ss_snap_load(b.ss, buf + off, len - off, 1, &used, err, sizeof(err));
	off += used;
	if (rc == 0)
		rc = md_snap_load(b.md, buf + off, len - off, &used, err, sizeof(err));
	uint64_t tl = mono() - t0;
	if (rc) {
		fprintf(stderr, "bench_snap: load failed: %s\n", err);
		return 1;
	}
	printf("bench_snap: %u resting orders, %u sessions x 1024 kept messages: %zu bytes "
	       "(buffer %zu); serialize min %.2f ms median %.2f ms max %.2f ms (%d runs); "
	       "load %.2f ms\n", orders, sessions, len, cap, t[0] / 1e6, t[REPS / 2] / 1e6,
	       t[REPS - 1] / 1e6, REPS, tl / 1e6);
	return 0;
}
