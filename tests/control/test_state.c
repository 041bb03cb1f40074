/* test_state.c - cp_state and cp_clock: the control plane's state round trip (every field
 * of every item, through journal records and the snapshot section), changes applied whole,
 * corrupt and incompatible records refused with the reason; the simulated clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cp_clock.h"
#include "cp_state.h"

/* A contract with every field set, each to a value no other field has. */
static void fill_contract(struct cp_life_contract *k, uint32_t seed)
{
	memset(k, 0, sizeof(*k));
	k->id = 202600 + seed;
	snprintf(k->symbol, sizeof(k->symbol), "TKN%u-%u", seed, seed * 7);
	k->core = seed % 3;
	k->phase = (uint8_t)(1 + seed % TKX_PHASE_DELISTED);
	k->halt_reason = (uint8_t)(seed % 3);
	k->first_day = 1;
	k->limits_set = 1;
	k->spot = 1;
	k->tick = 10 + seed;
	k->max_qty = 1000 + seed;
	k->max_orders = 2000 + seed;
	k->prev_settle = 25000 + seed;
	k->settle = 26000 + seed;
	k->final_settle = 27000 + seed;
	k->band_bp = 800 + seed;
	k->lo = 23000 + seed;
	k->hi = 28000 + seed;
	k->arr_lo = 12500 + seed;
	k->arr_hi = 37500 + seed;
	k->locked_flags = 2 + seed;
	k->last_trading_day = 20800 + (int32_t)seed;
	k->trade_day = 20700 + (int32_t)seed;
	k->settled_day = 20699 + (int32_t)seed;
	k->days_traded = 40 + seed;
	k->halted_at = 1797000000000000000ull + seed;
	k->volume = 5000 + seed;
	k->notional = 125000000ull + seed;
	k->high = 25500 + seed;
	k->low = 24500 + seed;
	k->last = 25100 + seed;
	k->uncross_price = 25050 + seed;
	k->uncross_qty = 300 + seed;
}

static void fill_account(struct cp_account *a, uint32_t seed)
{
	memset(a, 0, sizeof(*a));
	a->firm = 1 + seed;
	a->account = 100 + seed;
	a->max_qty = 50 + seed;
	a->max_pos = 500 + seed;
	a->max_pos_spot = 250 + seed;
	a->killed = 1;
}

static void test_item_round_trip(void **state)
{
	(void)state;
	char err[256];
	for (uint32_t seed = 0; seed < 8; seed++) {
		struct cp_life_contract k, back;
		struct cp_state_item it;
		fill_contract(&k, seed);
		cp_state_encode_contract(&k, (uint16_t)seed, &it);
		assert_int_equal(cp_state_item_check(&it, err, sizeof(err)), 0);
		assert_int_equal(cp_state_decode_contract(&it, &back, err, sizeof(err)), 0);
		/* Field for field, padding included (both zeroed): a field the encoding left
		 * out comes back 0 and differs. */
		assert_memory_equal(&k, &back, sizeof(k));
		/* Values at the edges of their types: "never" days, the null price. */
		k.trade_day = k.settled_day = -1;
		k.last_trading_day = INT32_MAX;
		k.uncross_price = k.high = k.low = k.last = TKX_NULL_PRICE;
		k.halted_at = UINT64_MAX;
		cp_state_encode_contract(&k, 63, &it);
		assert_int_equal(cp_state_decode_contract(&it, &back, err, sizeof(err)), 0);
		assert_memory_equal(&k, &back, sizeof(k));

		struct cp_account a, ab;
		fill_account(&a, seed);
		a.killed = (uint8_t)(seed & 1);
		cp_state_encode_account(&a, (uint16_t)seed, &it);
		assert_int_equal(cp_state_decode_account(&it, &ab, err, sizeof(err)), 0);
		assert_memory_equal(&a, &ab, sizeof(a));
	}
	struct cp_state_global g = {.n_contracts = 13, .n_accounts = 5, .clock_sim = 1,
				    .clock_rate = 3600 * CP_CLOCK_RATE_ONE,
				    .cal_ns = 1798591800000000000ull, .wall_ns = 1790000000123456789ull};
	struct cp_state_global gb;
	struct cp_state_item it;
	cp_state_encode_global(&g, &it);
	assert_int_equal(cp_state_decode_global(&it, &gb, err, sizeof(err)), 0);
	assert_memory_equal(&g, &gb, sizeof(g));
}

/* Every single-bit flip of an item's header or data is refused. */
static void test_item_corrupt(void **state)
{
	(void)state;
	char err[256];
	struct cp_life_contract k, back;
	struct cp_state_item it;
	fill_contract(&k, 3);
	cp_state_encode_contract(&k, 3, &it);
	/* The header's first 8 bytes (version, kind, flags, slot, length), then the data. */
	for (size_t byte = 0; byte < 8 + (size_t)it.len; byte++) {
		struct cp_state_item bad = it;
		uint8_t *p = byte < 8 ? (uint8_t *)&bad + byte : &bad.data[byte - 8];
		*p ^= 0x10;
		int rc = cp_state_decode_contract(&bad, &back, err, sizeof(err));
		assert_true(rc == -EBADMSG || rc == -EPROTO);
	}
	struct cp_state_item bad = it;
	bad.data[5] ^= 1;
	assert_int_equal(cp_state_item_check(&bad, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "corrupt"));
	/* Another version: refused as incompatible, naming both. */
	bad = it;
	bad.version = 7;
	assert_int_equal(cp_state_item_check(&bad, err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "control-plane state format version 7; this build reads version 1");
	/* A value no contract can have, with a good CRC: refused, saying what. */
	k.phase = 42;
	cp_state_encode_contract(&k, 3, &it);
	assert_int_equal(cp_state_decode_contract(&it, &back, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no such phase"));
}

/* A lifecycle the tests can build without matching cores: every send answered 0. */
static int ok_send(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	(void)arg;
	(void)core;
	memset(r, 0, sizeof(*r));
	r->seq = c->seq;
	r->phase = c->type == DP_CTL_PHASE ? (uint8_t)c->arg : 0;
	return 0;
}

static void life(struct cp_life *L)
{
	struct cp_life_ops ops = {ok_send, NULL, NULL};
	cp_life_init(L, &ops, 2);
	for (uint32_t i = 0; i < 5; i++) {
		struct cp_life_params p = {.id = 202612 + (i ? 89 + i : 0), .core = i % 2, .tick = 10,
					   .ref_price = 25000, .max_qty = 1000, .max_orders = 64};
		assert_int_equal(cp_life_define(L, &p, NULL, 0), 0);
		assert_int_equal(cp_life_list(L, p.id, NULL, 0), 0);
	}
	struct cp_account a = {.firm = 1, .account = 7, .max_qty = 10, .max_pos = 100,
			       .max_pos_spot = 50};
	assert_int_equal(cp_life_account(L, &a, NULL, 0), 0);
	assert_int_equal(cp_life_kill(L, 1, 7, 1, NULL, 0), 0);
}

/* Journal records of a change, reassembled and staged, as replay does. */
static void journal(struct cp_state_img *img, struct cp_state_asm *as,
		    const struct cp_state_item *items, uint32_t n)
{
	char err[256];
	for (uint32_t i = 0; i < n; i++) {
		struct cp_state_rec rec[CP_STATE_MAX_PARTS];
		uint32_t parts = cp_state_rec_split(&items[i], rec);
		assert_true(parts >= 1 && parts <= CP_STATE_MAX_PARTS);
		for (uint32_t p = 0; p < parts; p++) {
			int rc = cp_state_asm_feed(as, &rec[p], sizeof(rec[p]), err, sizeof(err));
			assert_int_equal(rc, p + 1 == parts ? 1 : 0);
		}
		assert_memory_equal(&as->it, &items[i], sizeof(items[i]));
		assert_true(cp_state_img_stage(img, &as->it, err, sizeof(err)) >= 0);
	}
}

static struct cp_state_item items[CP_STATE_MAX_ITEMS];

static void item_equal(const struct cp_state_item *a, const struct cp_state_item *b)
{
	assert_memory_equal(a, b, 12); /* the header but its unused pad */
	assert_memory_equal(a->data, b->data, a->len);
}

/* Two images hold the same items (slots, the change under way, its count). */
static void img_equal(const struct cp_state_img *a, const struct cp_state_img *b)
{
	for (uint32_t i = 0; i < CP_LIFE_MAX; i++)
		item_equal(&a->c[i], &b->c[i]);
	for (uint32_t i = 0; i < CP_LIFE_MAX_ACCOUNTS; i++)
		item_equal(&a->a[i], &b->a[i]);
	item_equal(&a->g, &b->g);
	assert_int_equal(a->n_pend, b->n_pend);
	for (uint32_t i = 0; i < a->n_pend; i++)
		item_equal(&a->pend[i], &b->pend[i]);
	assert_int_equal(a->changes, b->changes);
}

static void test_life_round_trip(void **state)
{
	(void)state;
	static struct cp_life L, R;
	static struct cp_state_img last, img;
	struct cp_state_asm as;
	char err[256];
	life(&L);
	/* Every field of every contract, and a slot reused as the scheduler does. */
	for (uint32_t i = 0; i < L.n; i++) {
		uint32_t id = L.c[i].id;
		fill_contract(&L.c[i], i);
		L.c[i].id = id;
		L.c[i].core = i % 2;
	}
	cp_state_img_init(&last);
	cp_state_img_init(&img);
	cp_state_asm_init(&as);
	struct cp_state_global g = {.clock_sim = 1, .clock_rate = 3600 * CP_CLOCK_RATE_ONE,
				    .cal_ns = 1798591800000000000ull, .wall_ns = 5};
	uint32_t n = cp_state_diff(&L, &g, &last, 0, items);
	assert_int_equal(n, L.n + L.n_accounts + 1);
	assert_int_equal(items[n - 1].kind, CP_ST_GLOBAL);
	assert_int_equal(items[n - 1].flags, CP_ST_END);
	journal(&img, &as, items, n);
	for (uint32_t i = 0; i < n; i++)
		assert_true(cp_state_img_stage(&last, &items[i], err, sizeof(err)) >= 0);
	/* Nothing changed since: no change (invariant 3), unless forced (the clock). */
	g.cal_ns += 1000;
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 0);
	assert_int_equal(cp_state_diff(&L, &g, &last, 1, items), 1);
	/* A held clock's time is state: holding it is a change, and so is the operator
	 * moving it ('clock to'); the held flag comes back. */
	g.clock_held = 1;
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 1);
	assert_int_equal(cp_state_img_stage(&last, &items[0], err, sizeof(err)), 1);
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 0);
	g.cal_ns += 3600ull * 1000000000ull;
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 1);
	struct cp_state_global hg;
	assert_int_equal(cp_state_decode_global(&items[0], &hg, err, sizeof(err)), 0);
	assert_int_equal(hg.clock_held, 1);
	assert_int_equal(hg.clock_sim, 1);
	assert_int_equal(hg.cal_ns, g.cal_ns);
	assert_int_equal(cp_state_img_stage(&last, &items[0], err, sizeof(err)), 1);
	/* Held without simulated is no clock. */
	struct cp_state_global x = g;
	x.clock_sim = 0;
	cp_state_encode_global(&x, &items[1]);
	assert_int_equal(cp_state_decode_global(&items[1], &hg, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "no such clock"));
	/* Running again: a change. */
	g.clock_held = 0;
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 1);
	assert_int_equal(cp_state_img_stage(&last, &items[0], err, sizeof(err)), 1);
	/* The day's statistics alone are not a change. */
	L.c[2].volume += 5;
	L.c[2].last += 10;
	assert_int_equal(cp_state_diff(&L, &g, &last, 0, items), 0);

	struct cp_state_global rg;
	struct cp_life_ops ops = {ok_send, NULL, NULL};
	cp_life_init(&R, &ops, 2);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), 0);
	assert_int_equal(R.n, L.n);
	L.c[2].volume -= 5; /* as journaled */
	L.c[2].last -= 10;
	assert_memory_equal(R.c, L.c, sizeof(L.c[0]) * L.n);
	assert_int_equal(R.n_accounts, 1);
	assert_memory_equal(R.acct, L.acct, sizeof(L.acct[0]));
	assert_int_equal(R.acct[0].killed, 1);
	assert_int_equal(rg.clock_sim, 1);
	assert_int_equal(rg.clock_rate, 3600 * CP_CLOCK_RATE_ONE);
	assert_int_equal(rg.cal_ns, 1798591800000000000ull);
	assert_int_equal(rg.n_contracts, L.n);

	/* One transition: that contract and GLOBAL. A delisted slot reused (the last
	 * contract moved into it, the new month appended): three slots and GLOBAL. */
	L.c[1].phase = TKX_PHASE_SETTLED;
	L.c[1].settle = 25310;
	n = cp_state_diff(&L, &g, &last, 0, items);
	assert_int_equal(n, 2);
	assert_int_equal(items[0].index, 1);
	journal(&img, &as, items, n);
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&last, &items[i], err, sizeof(err));
	L.c[0] = L.c[--L.n];
	struct cp_life_params p = {.id = 202706, .core = 1, .tick = 10, .ref_price = 25310,
				   .max_qty = 1000, .max_orders = 64};
	assert_int_equal(cp_life_define(&L, &p, NULL, 0), 0);
	assert_int_equal(cp_life_list(&L, p.id, NULL, 0), 0);
	n = cp_state_diff(&L, &g, &last, 0, items);
	journal(&img, &as, items, n);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), 0);
	assert_int_equal(R.n, L.n);
	assert_memory_equal(R.c, L.c, sizeof(L.c[0]) * L.n);
	assert_non_null(cp_life_find(&R, 202706));
	assert_null(cp_life_find(&R, 202612));

	/* A contract on a core this configuration does not have: refused, L untouched. */
	cp_life_init(&R, &ops, 1);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "on matching core 1, this configuration has 1"));
	assert_int_equal(R.n, 0);
	/* No state recorded. */
	cp_state_img_init(&img);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), -ENOENT);
}

/* A change applies whole: its items wait for the END; cut short, it never happened. */
static void test_change_whole(void **state)
{
	(void)state;
	static struct cp_life L, R;
	static struct cp_state_img last, img;
	char err[256];
	life(&L);
	cp_state_img_init(&last);
	cp_state_img_init(&img);
	struct cp_state_global g = {.clock_rate = CP_CLOCK_RATE_ONE};
	uint32_t n = cp_state_diff(&L, &g, &last, 0, items);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(cp_state_img_stage(&img, &items[i], err, sizeof(err)),
				 i + 1 == n ? 1 : 0);
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&last, &items[i], err, sizeof(err));
	L.c[0].phase = TKX_PHASE_PRE_OPEN;
	L.c[3].phase = TKX_PHASE_PRE_OPEN;
	n = cp_state_diff(&L, &g, &last, 0, items);
	assert_int_equal(n, 3);
	assert_int_equal(cp_state_img_stage(&img, &items[0], err, sizeof(err)), 0);
	struct cp_state_global rg;
	struct cp_life_ops ops = {ok_send, NULL, NULL};
	cp_life_init(&R, &ops, 2);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), 0);
	assert_int_equal(R.c[0].phase, TKX_PHASE_LISTED); /* held: not applied */
	assert_int_equal(img.n_pend, 1);
	/* The change comes again whole (a journal write that failed): one pending per slot. */
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&img, &items[i], err, sizeof(err));
	assert_int_equal(img.n_pend, 0);
	assert_int_equal(cp_state_restore(&img, &R, &rg, err, sizeof(err)), 0);
	assert_int_equal(R.c[0].phase, TKX_PHASE_PRE_OPEN);
	assert_int_equal(R.c[3].phase, TKX_PHASE_PRE_OPEN);
}

/* Journal records: a corrupt one, one of another version, parts missing or out of order
 * are refused with the reason. */
static void test_records_refused(void **state)
{
	(void)state;
	char err[256];
	struct cp_life_contract k;
	struct cp_state_item it;
	struct cp_state_rec rec[CP_STATE_MAX_PARTS], bad;
	struct cp_state_asm as;
	fill_contract(&k, 1);
	cp_state_encode_contract(&k, 1, &it);
	uint32_t parts = cp_state_rec_split(&it, rec);
	assert_int_equal(parts, 5);

	/* A data byte changed in the middle part: the item's CRC catches it. */
	cp_state_asm_init(&as);
	for (uint32_t p = 0; p < parts; p++) {
		bad = rec[p];
		if (p == 2)
			bad.data[7] ^= 0x40;
		int rc = cp_state_asm_feed(&as, &bad, sizeof(bad), err, sizeof(err));
		assert_int_equal(rc, p + 1 == parts ? -EBADMSG : 0);
	}
	assert_non_null(strstr(err, "CRC"));
	assert_non_null(strstr(err, "corrupt"));

	/* Another version: incompatible, both versions named. */
	cp_state_asm_init(&as);
	bad = rec[0];
	bad.version = 2;
	assert_int_equal(cp_state_asm_feed(&as, &bad, sizeof(bad), err, sizeof(err)), -EPROTO);
	assert_string_equal(err, "control-plane record format version 2; this build reads version 1");

	/* A part missing: the next item's part 0 where part 3 was due. */
	cp_state_asm_init(&as);
	for (uint32_t p = 0; p < 3; p++)
		assert_int_equal(cp_state_asm_feed(&as, &rec[p], sizeof(rec[p]), err, sizeof(err)), 0);
	assert_int_equal(cp_state_asm_feed(&as, &rec[0], sizeof(rec[0]), err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "parts missing"));
	/* A part with no part 0 before it. */
	cp_state_asm_init(&as);
	assert_int_equal(cp_state_asm_feed(&as, &rec[1], sizeof(rec[1]), err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "part 0 is missing"));
	/* Inconsistent part count, a wrong payload size. */
	cp_state_asm_init(&as);
	bad = rec[0];
	bad.nparts = 9;
	assert_int_equal(cp_state_asm_feed(&as, &bad, sizeof(bad), err, sizeof(err)), -EBADMSG);
	assert_int_equal(cp_state_asm_feed(&as, &rec[0], 40, err, sizeof(err)), -EBADMSG);
	/* And the good records still assemble. */
	cp_state_asm_init(&as);
	for (uint32_t p = 0; p < parts; p++)
		cp_state_asm_feed(&as, &rec[p], sizeof(rec[p]), err, sizeof(err));
	assert_memory_equal(&as.it, &it, sizeof(it));
	/* A staged item that fails its check changes nothing. */
	static struct cp_state_img img;
	cp_state_img_init(&img);
	struct cp_state_item b = it;
	b.crc ^= 1;
	assert_int_equal(cp_state_img_stage(&img, &b, err, sizeof(err)), -EBADMSG);
	assert_int_equal(img.n_pend, 0);
}

static void test_snapshot_section(void **state)
{
	(void)state;
	static struct cp_life L;
	static struct cp_state_img img, back;
	static uint8_t buf[1 << 17];
	char err[256];
	life(&L);
	cp_state_img_init(&img);
	struct cp_state_global g = {.clock_sim = 1, .clock_rate = 2 * CP_CLOCK_RATE_ONE,
				    .cal_ns = 77};
	uint32_t n = cp_state_diff(&L, &g, &img, 0, items);
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&img, &items[i], err, sizeof(err));
	/* A change under way when the snapshot is taken travels with it. */
	L.c[4].phase = TKX_PHASE_HALTED;
	n = cp_state_diff(&L, &g, &img, 0, items);
	assert_int_equal(n, 2);
	cp_state_img_stage(&img, &items[0], err, sizeof(err));
	assert_true(cp_state_snap_bound() <= sizeof(buf));
	struct dp_snap_w w;
	dp_snap_w_init(&w, buf, sizeof(buf));
	cp_state_snap_save(&img, &w);
	assert_int_equal(w.err, 0);
	size_t used = 0;
	assert_int_equal(cp_state_snap_check(buf, w.len, &used, err, sizeof(err)), 0);
	assert_int_equal(used, w.len);
	memset(&back, 0xa5, sizeof(back));
	assert_int_equal(cp_state_snap_load(&back, buf, w.len, &used, err, sizeof(err)), 0);
	img_equal(&back, &img);
	/* Every byte of the items area changed in turn: refused, the image untouched. */
	for (size_t off = 32; off < w.len; off += 13) {
		buf[off] ^= 0x08;
		int rc = cp_state_snap_load(&back, buf, w.len, &used, err, sizeof(err));
		buf[off] ^= 0x08;
		if (rc == 0) /* an item's pad word: not covered, not used */
			continue;
		assert_true(rc == -EBADMSG || rc == -EPROTO);
		img_equal(&back, &img);
	}
	/* Truncated. */
	assert_int_equal(cp_state_snap_check(buf, w.len - 8, &used, err, sizeof(err)), -EBADMSG);
	/* Then its END arrives: the change commits in the loaded image too. */
	assert_int_equal(cp_state_img_stage(&back, &items[1], err, sizeof(err)), 1);
	struct cp_state_global rg;
	static struct cp_life R;
	struct cp_life_ops ops = {ok_send, NULL, NULL};
	cp_life_init(&R, &ops, 2);
	assert_int_equal(cp_state_restore(&back, &R, &rg, err, sizeof(err)), 0);
	assert_int_equal(R.c[4].phase, TKX_PHASE_HALTED);
	char line[512];
	cp_state_describe(&back.c[4], line, sizeof(line));
	assert_non_null(strstr(line, "phase=HALTED"));
	cp_state_describe(&back.g, line, sizeof(line));
	assert_string_equal(line, "global contracts=5 accounts=1 clock=simulated rate=2 "
			    "calendar=1970-01-01T00:00:00Z end");
}

static void test_clock(void **state)
{
	(void)state;
	char err[256], buf[64];
	uint64_t t, r;
	assert_int_equal(cp_clock_parse_time("2026-12-30T08:50:00+08:00", &t, err, sizeof(err)), 0);
	cp_clock_format_time(t, 480, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-30T08:50:00+08:00");
	cp_clock_format_time(t, 0, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-30T00:50:00Z");
	uint64_t z;
	assert_int_equal(cp_clock_parse_time("2026-12-30T00:50Z", &z, err, sizeof(err)), 0);
	assert_true(z == t);
	assert_int_equal(cp_clock_parse_time("2026-12-29T19:50:00.5-0500", &z, err, sizeof(err)), 0);
	assert_true(z == t + 500000000ull);
	const char *bad[] = {"2026-12-30T08:50:00", "2026-12-30 08:50:00+08:00",
			     "2026-13-01T00:00+08:00", "2026-02-29T00:00Z", "2026-12-30T24:00Z",
			     "2026-12-30T08:50:00+24:00", "2026-12-30T08:50:00+08:00x", "tomorrow",
			     "2026-12-30T08:5Z", "1969-12-31T23:59Z", ""};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cp_clock_parse_time(bad[i], &z, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "want ISO-8601 with an offset"));
	}
	assert_int_equal(cp_clock_parse_time("2026-12-30T08:50:00", &z, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "no offset"));

	assert_int_equal(cp_clock_parse_rate("3600", &r, err, sizeof(err)), 0);
	assert_true(r == 3600 * CP_CLOCK_RATE_ONE);
	cp_clock_format_rate(r, buf, sizeof(buf));
	assert_string_equal(buf, "3600");
	assert_int_equal(cp_clock_parse_rate("0.25", &r, err, sizeof(err)), 0);
	cp_clock_format_rate(r, buf, sizeof(buf));
	assert_string_equal(buf, "0.25");
	assert_int_equal(cp_clock_parse_rate("1000000", &r, err, sizeof(err)), 0);
	const char *badr[] = {"0", "0.0000001", "-1", "1e3", "1000001", "", ".", "2.", "x"};
	for (size_t i = 0; i < sizeof(badr) / sizeof(badr[0]); i++)
		assert_int_equal(cp_clock_parse_rate(badr[i], &r, err, sizeof(err)), -EINVAL);

	struct cp_clock c;
	cp_clock_wall(&c);
	assert_true(cp_clock_now(&c, 5, 1234) == 1234);
	cp_clock_sim(&c, t, 3600 * CP_CLOCK_RATE_ONE, 1000);
	assert_true(cp_clock_now(&c, 1000, 99) == t);
	/* One real second is one calendar hour; the wall clock does not move it. */
	assert_true(cp_clock_now(&c, 1000 + 1000000000ull, 7) == t + 3600ull * 1000000000ull);
	/* Held, it stands still; resumed, it goes on from there. */
	cp_clock_hold(&c, 1000 + 2000000000ull);
	assert_true(cp_clock_now(&c, 1000 + 9000000000ull, 7) == t + 7200ull * 1000000000ull);
	cp_clock_resume(&c, 1000 + 9000000000ull);
	assert_true(cp_clock_now(&c, 1000 + 10000000000ull, 7) == t + 3ull * 3600 * 1000000000ull);
	cp_clock_sim(&c, t, CP_CLOCK_RATE_MAX, 0);
	assert_true(cp_clock_now(&c, UINT64_MAX, 0) == UINT64_MAX); /* saturates */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_item_round_trip),
		cmocka_unit_test(test_item_corrupt),
		cmocka_unit_test(test_life_round_trip),
		cmocka_unit_test(test_change_whole),
		cmocka_unit_test(test_records_refused),
		cmocka_unit_test(test_snapshot_section),
		cmocka_unit_test(test_clock),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
