/*
 * test_md_snap.c - snapshots of the market-data publisher (md_snap.h): records published,
 * saved, loaded into a fresh publisher; then the same records and timers to both must give
 * the same packets byte for byte (Snapshot messages carry the restored contract state and
 * the numbering goes on); another contract list, a publisher that has published,
 * truncation and corruption are refused without touching the target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "md_snap.h"

#define MS 1000000ull
#define T0 1767225600000000000ull

static const struct md_contract three[] = {
	{ .id = 7, .phase = TKX_PHASE_PRE_OPEN },
	{ .id = 9, .phase = TKX_PHASE_LISTED },
	{ .id = 11, .phase = TKX_PHASE_CONTINUOUS },
};
static const struct md_contract other[] = {
	{ .id = 7, .phase = TKX_PHASE_PRE_OPEN },
	{ .id = 10, .phase = TKX_PHASE_LISTED },
	{ .id = 11, .phase = TKX_PHASE_CONTINUOUS },
};

struct fx {
	void *mem;
	struct md_pub *p;
	uint8_t *log;
	size_t n_log;
};

static uint32_t room; /* max_contracts of the next fx_open (0: the list's length) */

static void fx_open(struct fx *f, const struct md_contract *c, const char *session)
{
	struct md_params prm;
	md_pub_params_default(&prm);
	prm.session = session;
	prm.retain = 64;
	prm.snapshot_ns = 100 * MS;
	prm.heartbeat_ns = 0;
	prm.contracts = c;
	prm.n_contracts = 3;
	prm.max_contracts = room;
	size_t len = md_pub_memsize(&prm);
	assert_true(len > 0);
	memset(f, 0, sizeof(*f));
	f->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	f->p = md_pub_init(f->mem, len, &prm);
	assert_non_null(f->p);
	f->log = malloc(1 << 22);
}

static void fx_close(struct fx *f)
{
	free(f->mem);
	free(f->log);
}

static void drain(struct fx *f, uint64_t now)
{
	const uint8_t *b;
	size_t len;
	md_pub_flush(f->p, now);
	while (md_pub_next_tx(f->p, &b, &len) > 0) {
		assert_true(f->n_log + len + 8 <= (1u << 22));
		memcpy(f->log + f->n_log, &len, 8);
		memcpy(f->log + f->n_log + 8, b, len);
		f->n_log += len + 8;
	}
}

static uint64_t rng = 12345;
static uint32_t rnd(uint32_t n)
{
	rng = rng * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(rng >> 33) % n;
}

static void records(struct fx **fs, unsigned nf, unsigned n, uint64_t now)
{
	static const uint32_t ids[] = { 7, 9, 11, 12 }; /* 12: not in the list */
	for (unsigned i = 0; i < n; i++) {
		struct dp_event e;
		memset(&e, 0, sizeof(e));
		uint32_t id = ids[rnd(4)];
		switch (rnd(3)) {
		case 0:
			e.template_id = TKX_MD_TOP_OF_BOOK;
			e.u.tob = (struct tkx_md_top_of_book){ .transact_time = now + i,
				.bid_price = 25000 - rnd(50), .ask_price = 25010 + rnd(50),
				.bid_qty = 1 + rnd(99), .ask_qty = 1 + rnd(99), .contract_id = id };
			break;
		case 1:
			e.template_id = TKX_MD_TRADE;
			e.u.trade = (struct tkx_md_trade){ .transact_time = now + i, .trade_id = i,
				.price = 25000 + rnd(10), .qty = 1 + rnd(9), .contract_id = id,
				.aggressor_side = TKX_SIDE_BUY };
			break;
		default:
			e.template_id = TKX_MD_CONTRACT_STATUS;
			e.u.status = (struct tkx_md_contract_status){ .transact_time = now + i,
				.contract_id = id, .phase = (uint8_t)(1 + rnd(10)),
				.price = TKX_NULL_PRICE };
			break;
		}
		for (unsigned k = 0; k < nf; k++) {
			while (md_pub_add(fs[k]->p, &e, 1, now + i) == 0)
				drain(fs[k], now + i);
		}
	}
	for (unsigned k = 0; k < nf; k++)
		drain(fs[k], now + n);
}

static size_t save(const struct fx *f, uint8_t *buf, size_t cap)
{
	struct dp_snap_w w;
	dp_snap_w_init(&w, buf, cap);
	int64_t n = md_snap_save(f->p, &w);
	assert_true(n > 0);
	assert_true((size_t)n <= md_snap_bound(f->p));
	return (size_t)n;
}

static void test_round_trip(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t blob[1024];
	char err[256];
	fx_open(&a, three, "TOKEXMD001");
	fx_open(&b, three, "TOKEXMD002"); /* another session name: a restart's */
	struct fx *fa[1] = { &a };
	records(fa, 1, 3000, T0);
	size_t len = save(&a, blob, sizeof(blob));
	/* The start list, not what trading did to it since: the same for both. */
	assert_int_equal(md_snap_config(a.p) == md_snap_config(b.p), 1);
	/* Timers are not part of the state: start b's clock where a's started. */
	assert_int_equal(md_pub_tick(b.p, T0), 0);
	size_t used = 0;
	int rc = md_snap_load(b.p, blob, len, &used, err, sizeof(err));
	if (rc)
		fail_msg("load: %s", err);
	assert_int_equal(used, len);
	struct md_info ia, ib;
	md_pub_info(a.p, &ia);
	md_pub_info(b.p, &ib);
	assert_int_equal(ia.next_seq, ib.next_seq);
	assert_int_equal(ib.first_retained, ib.next_seq);
	for (unsigned k = 0; k < 3; k++) {
		struct tkx_md_snapshot x, y;
		assert_int_equal(md_pub_contract(a.p, three[k].id, &x), 0);
		assert_int_equal(md_pub_contract(b.p, three[k].id, &y), 0);
		assert_memory_equal(&x, &y, sizeof(x));
	}
	/* The same records and timers: the same packets, session name aside (bytes 0-9 of
	 * each packet's header). */
	struct fx *fs[2] = { &a, &b };
	a.n_log = b.n_log = 0;
	uint64_t now = T0 + 1000 * MS;
	for (unsigned round = 0; round < 20; round++) {
		records(fs, 2, 50, now);
		now += 60 * MS;
		for (unsigned k = 0; k < 2; k++) {
			while (md_pub_tick(fs[k]->p, now) == -ENOBUFS)
				drain(fs[k], now);
			drain(fs[k], now);
		}
	}
	assert_int_equal(a.n_log, b.n_log);
	for (size_t off = 0; off < a.n_log;) {
		size_t n;
		memcpy(&n, a.log + off, 8);
		assert_memory_equal(a.log + off + 8 + 10, b.log + off + 8 + 10, n - 10);
		off += 8 + n;
	}
	fx_close(&a);
	fx_close(&b);
}

static void test_refused(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t blob[1024], bad[1024];
	char err[256];
	fx_open(&a, three, "TOKEXMD001");
	struct fx *fa[1] = { &a };
	records(fa, 1, 500, T0);
	size_t len = save(&a, blob, sizeof(blob));
	/* Another contract list. */
	fx_open(&b, other, "TOKEXMD001");
	assert_int_equal(md_snap_load(b.p, blob, len, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "another configuration"));
	fx_close(&b);
	/* A publisher that has published. */
	assert_int_equal(md_snap_load(a.p, blob, len, NULL, err, sizeof(err)), -EBUSY);
	/* Truncated, corrupt. */
	fx_open(&b, three, "TOKEXMD001");
	for (size_t cut = 0; cut < len; cut++)
		assert_int_equal(md_snap_check(b.p, blob, cut, NULL, err, sizeof(err)), -EBADMSG);
	struct { size_t off; uint8_t val; int rc; } cases[] = {
		{ 3, 0x00, -EBADMSG },
		{ 4, MD_SNAP_VERSION + 1, -EPROTO },
		{ offsetof(struct md_snap_hdr, n_contracts), 0x04, -EBADMSG },
		{ sizeof(struct md_snap_hdr) + offsetof(struct md_snap_contract, phase), 0x63,
		  -EBADMSG },
	};
	for (unsigned i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, blob, len);
		bad[cases[i].off] = cases[i].val;
		int rc = md_snap_load(b.p, bad, len, NULL, err, sizeof(err));
		if (rc != cases[i].rc)
			fail_msg("case %u: %d, expected %d (%s)", i, rc, cases[i].rc, err);
		struct md_info in;
		md_pub_info(b.p, &in);
		assert_int_equal(in.next_seq, 1);
	}
	assert_int_equal(md_snap_load(b.p, blob, len, NULL, err, sizeof(err)), 0);
	fx_close(&a);
	fx_close(&b);
}

static struct dp_event status(uint32_t id, uint8_t phase, uint64_t t)
{
	struct dp_event e;
	memset(&e, 0, sizeof(e));
	e.template_id = TKX_MD_CONTRACT_STATUS;
	e.u.status = (struct tkx_md_contract_status){ .transact_time = t, .contract_id = id,
		.phase = phase, .price = TKX_NULL_PRICE };
	return e;
}

/* Months listed and delisted at run time are part of the state: a restart from the
 * snapshot has the month listed (with its state) and not the one delisted; a publisher
 * started with another room is another configuration. */
static void test_listed(void **state)
{
	(void)state;
	struct fx a, b;
	uint8_t blob[1024];
	char err[256];
	room = 5;
	fx_open(&a, three, "TOKEXMD001");
	struct dp_event e[3] = { status(21, TKX_PHASE_LISTED, T0), status(9, TKX_PHASE_DELISTED, T0),
				 status(21, TKX_PHASE_CONTINUOUS, T0) };
	assert_int_equal(md_pub_add(a.p, e, 3, T0), 3);
	drain(&a, T0);
	size_t len = save(&a, blob, sizeof(blob));
	fx_open(&b, three, "TOKEXMD002");
	assert_int_equal(md_snap_config(a.p), md_snap_config(b.p));
	assert_int_equal(md_pub_contract(b.p, 21, &(struct tkx_md_snapshot){0}), -ENOENT);
	if (md_snap_load(b.p, blob, len, NULL, err, sizeof(err)) != 0)
		fail_msg("load: %s", err);
	struct tkx_md_snapshot s;
	assert_int_equal(md_pub_contract(b.p, 21, &s), 0);
	assert_int_equal(s.phase, TKX_PHASE_CONTINUOUS);
	assert_int_equal(md_pub_contract(b.p, 9, &s), -ENOENT);
	assert_int_equal(md_pub_contract(b.p, 11, &s), 0);
	fx_close(&b);
	room = 0; /* room for the start list only */
	fx_open(&b, three, "TOKEXMD002");
	assert_int_equal(md_snap_load(b.p, blob, len, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "another configuration"));
	fx_close(&b);
	fx_close(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_listed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
