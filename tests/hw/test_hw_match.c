/*
 * test_hw_match.c - seeded differential simulation of the order-level matching core
 * (hw/rtl/hw_match.v, through hw_match_sim) against the C matching engine (me_book).
 *
 * Both get the same random command stream: NEW GTC, IOC, FOK and POST orders at prices around a
 * drifting mid (some outside the window: BAND), quantities mostly small (some <= 0:
 * INVALID, some above the maximum: MAX_QTY), ids fresh or of recent resting orders (DUP),
 * side 2 and tif 5..7 (INVALID), CANCELs and MODIFYs mostly of live orders (tried with
 * me_book_find() among the recent ids; the others are UNKNOWN), MODIFYs to the same
 * price (smaller, equal or larger qty) or another (crossing or not; some refused), and
 * unknown command types (0, 4..7: INVALID). me_book is configured with the
 * core's window (price_lo = base, HW_MATCH_LEVELS levels of tick) and capacity
 * (max_orders = HW_MATCH_CAP), so the pool fills and FULL happens. Not sent (the core
 * does not implement them yet): tif DAY, owners (self-trade
 * prevention), icebergs, stops, auctions. Every event of every command is compared,
 * every field (the user words are 0 on both sides), and me_book_check() runs every 4096
 * commands.
 *
 * Also measured: clock cycles per command (from acceptance to the core's next ready
 * cycle) by kind, and for NEW orders by number of fills.
 *
 * Usage: test_hw_match SEED COMMANDS. Prints "N passed, N failed"; exit 1 on any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_match_sim.h"
#include "me_book.h"

#define BASE 1000
#define TICK 5
#define MAX_EV 128
#define RECENT 48
#define MAX_FILLS 8

static uint64_t g_rng;

static uint64_t rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

static uint32_t rn(uint32_t n)
{
	return (uint32_t)(rnd() % n);
}

static int g_flushed;

static void sink_flush(struct me_sink *s)
{
	g_flushed = 1; /* never expected: MAX_EV exceeds any command's events */
	s->n = 0;
}

static void ev_print(const char *who, const struct me_event *e)
{
	fprintf(stderr,
		"  %s: type %u reason %u side %u id %" PRId64 " price %" PRId64 " qty %" PRId64
		" leaves %" PRId64 " rid %" PRId64 " rleaves %" PRId64 "\n",
		who, e->type, e->reason, e->side, e->id, e->price, e->qty, e->leaves, e->rid,
		e->rleaves);
}

/* The core's event as me_book writes it. */
static void ev_convert(const struct hw_match_ev *h, struct me_event *e)
{
	memset(e, 0, sizeof(*e));
	e->type = h->type;
	e->reason = h->reason;
	e->side = h->side;
	e->id = h->id;
	if (h->type == ME_EV_ACCEPT || h->type == ME_EV_TRADE || h->type == ME_EV_MODIFY)
		e->price = BASE + (int64_t)h->level * TICK;
	e->qty = h->qty;
	e->leaves = h->leaves;
	e->rid = h->rid;
	e->rleaves = h->rleaves;
}

struct stats {
	uint64_t kind[8];    /* commands by type field */
	uint64_t ev[8];      /* events by type */
	uint64_t rej[16];    /* REJECT by reason */
	uint64_t out[8];     /* OUT by reason */
	uint64_t new_cyc[MAX_FILLS + 1], new_n[MAX_FILLS + 1]; /* accepted NEW by fills */
	unsigned new_min[MAX_FILLS + 1], new_max[MAX_FILLS + 1];
	uint64_t rej_cyc, rej_n, can_cyc, can_n;
	uint64_t max_live;
	uint64_t fok_filled, post_rested, mod_ok, mod_trade, mod_cyc, mod_post;
};

static void gen(struct hw_match_cmd *h, struct me_cmd *c, uint32_t *recent, int *mid,
		const struct me_book *b)
{
	memset(h, 0, sizeof(*h));
	memset(c, 0, sizeof(*c));
	uint32_t r = rn(100);
	if (rn(64) == 0) { /* the mid drifts */
		*mid += rn(2) ? 1 : -1;
		if (*mid < 2)
			*mid = 2;
		if (*mid > (int)HW_MATCH_LEVELS - 3)
			*mid = HW_MATCH_LEVELS - 3;
	}
	if (r < 50) {
		h->type = ME_CMD_NEW;
		h->side = rn(200) == 0 ? 2 : (uint8_t)rn(2);
		uint32_t t = rn(100);
		h->tif = t < 40 ? ME_GTC : t < 70 ? ME_IOC : t < 82 ? ME_FOK : t < 98 ? ME_POST
		       : (uint8_t)(5 + rn(3));
		h->price = *mid + (int)rn(9) - 4 + (h->side == ME_BUY ? -1 : 1);
		if (rn(25) == 0)
			h->price = rn(2) ? -1 - (int)rn(3) : (int)HW_MATCH_LEVELS + (int)rn(3);
		uint32_t q = rn(100);
		h->qty = q < 1 ? -(int)rn(2) : q < 3 ? HW_MATCH_MAXQ + 1 + (int)rn(3)
		       : q < 5 ? HW_MATCH_MAXQ - (int)rn(3) : 1 + (int)rn(40);
		h->id = rn(8) == 0 ? recent[rn(RECENT)] : 1 + rn((1u << HW_MATCH_IDW) - 1);
	} else if (r < 97) {
		h->type = r < 82 ? ME_CMD_CANCEL : ME_CMD_MODIFY;
		h->id = rn(10) == 0 ? 1 + rn((1u << HW_MATCH_IDW) - 1) : recent[rn(RECENT)];
		/* mostly a live order (a few tries among the recent ids), else whatever came */
		struct me_order_view v;
		int found = me_book_find(b, h->id, &v) == 0;
		for (int k = 0; k < 6 && !found && rn(4) != 0; k++) {
			h->id = recent[rn(RECENT)];
			found = me_book_find(b, h->id, &v) == 0;
		}
		if (h->type == ME_CMD_MODIFY) {
			/* same price (reduce in place, or re-enter when larger), or another one
			 * (re-enter, maybe crossing); some new values refused */
			int same = found && rn(10) < 4;
			h->price = same ? (int)((v.price - BASE) / TICK) : *mid + (int)rn(9) - 4;
			if (rn(25) == 0)
				h->price = rn(2) ? -1 - (int)rn(3) : (int)HW_MATCH_LEVELS + (int)rn(3);
			uint32_t q = rn(100);
			h->qty = q < 2 ? -(int)rn(2) : q < 4 ? HW_MATCH_MAXQ + 1 + (int)rn(3)
			       : (found && q < 34 && v.qty > 1) ? 1 + (int)rn((uint32_t)v.qty - 1)
			       : (found && q < 44) ? (int)v.qty : 1 + (int)rn(40);
		}
	} else {
		static const uint8_t bad[] = { 0, 4, 5, 7 };
		h->type = bad[rn(4)];
		h->side = (uint8_t)rn(2);
		h->id = 1 + rn((1u << HW_MATCH_IDW) - 1);
	}
	c->type = h->type;
	c->side = h->side;
	c->tif = h->tif;
	c->id = h->id;
	c->price = BASE + (int64_t)h->price * TICK;
	c->qty = h->qty;
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_hw_match SEED COMMANDS\n");
		return 2;
	}
	uint64_t seed = strtoull(argv[1], NULL, 0), ncmd = strtoull(argv[2], NULL, 0);
	g_rng = seed * 0x9E3779B97F4A7C15ull + 1;
	struct me_params p = { .price_lo = BASE,
			       .price_hi = BASE + (int64_t)(HW_MATCH_LEVELS - 1) * TICK,
			       .tick = TICK,
			       .max_qty = HW_MATCH_MAXQ,
			       .max_orders = HW_MATCH_CAP };
	size_t len = me_book_memsize(&p);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct me_book *b = mem ? me_book_init(mem, len, &p) : NULL;
	struct hw_match_sim *hs = hw_match_open();
	if (b == NULL || hs == NULL) {
		fprintf(stderr, "test_hw_match: setup failed\n");
		return 1;
	}
	static struct me_event sev[MAX_EV];
	struct me_sink sink = { .ev = sev, .cap = MAX_EV, .flush = sink_flush };
	struct hw_match_ev hev[MAX_EV];
	struct me_event cev[MAX_EV];
	uint32_t recent[RECENT];
	for (unsigned i = 0; i < RECENT; i++)
		recent[i] = 1 + i;
	int mid = HW_MATCH_LEVELS / 2;
	static struct stats st;
	for (unsigned k = 0; k <= MAX_FILLS; k++)
		st.new_min[k] = ~0u;
	uint64_t passed = 0, failed = 0, trades = 0;

	for (uint64_t i = 0; i < ncmd; i++) {
		struct hw_match_cmd hc;
		struct me_cmd mc;
		gen(&hc, &mc, recent, &mid, b);
		sink.n = 0;
		g_flushed = 0;
		uint32_t ns = me_book_apply(b, &mc, &sink);
		unsigned cyc = 0;
		int nh = hw_match_apply(hs, &hc, hev, MAX_EV, &cyc);
		int ok = !g_flushed && nh >= 0 && (uint32_t)nh == ns && ns == sink.n;
		for (int j = 0; ok && j < nh; j++) {
			ev_convert(&hev[j], &cev[j]);
			ok = memcmp(&cev[j], &sev[j], sizeof(cev[j])) == 0;
		}
		if (ok) {
			passed++;
			/* remember resting orders' ids: CANCEL and DUP pick from them */
			if (ns > 0 && sev[0].type == ME_EV_ACCEPT &&
			    (hc.tif == ME_GTC || hc.tif == ME_POST))
				recent[rn(RECENT)] = hc.id;
		} else {
			if (failed < 5) {
				fprintf(stderr,
					"test_hw_match: command %" PRIu64 " (type %u side %u tif %u id %u"
					" ticks %d qty %d): me_book %u events, core %d\n",
					i, hc.type, hc.side, hc.tif, hc.id, hc.price, hc.qty, ns, nh);
				for (uint32_t j = 0; j < ns && j < sink.n; j++)
					ev_print("me_book", &sev[j]);
				for (int j = 0; j < nh; j++) {
					ev_convert(&hev[j], &cev[j]);
					ev_print("core   ", &cev[j]);
				}
			}
			failed++;
			if (failed > 1000)
				break;
			continue;
		}
		/* statistics */
		st.kind[hc.type & 7]++;
		unsigned fills = 0, rejected = 0;
		for (uint32_t j = 0; j < ns; j++) {
			st.ev[sev[j].type & 7]++;
			if (sev[j].type == ME_EV_REJECT) {
				st.rej[sev[j].reason & 15]++;
				st.mod_post += hc.type == ME_CMD_MODIFY &&
					       sev[j].reason == ME_REJ_POST_CROSS;
				rejected = 1;
			}
			if (sev[j].type == ME_EV_OUT)
				st.out[sev[j].reason & 7]++;
			if (sev[j].type == ME_EV_TRADE)
				fills++;
		}
		trades += fills;
		if (rejected) {
			st.rej_cyc += cyc;
			st.rej_n++;
		} else if (hc.type == ME_CMD_CANCEL) {
			st.can_cyc += cyc;
			st.can_n++;
		} else if (hc.type == ME_CMD_NEW) {
			unsigned k = fills > MAX_FILLS ? MAX_FILLS : fills;
			st.fok_filled += hc.tif == ME_FOK && fills > 0;
			st.post_rested += hc.tif == ME_POST && ns == 1;
			st.new_cyc[k] += cyc;
			st.new_n[k]++;
			if (cyc < st.new_min[k])
				st.new_min[k] = cyc;
			if (cyc > st.new_max[k])
				st.new_max[k] = cyc;
		} else if (hc.type == ME_CMD_MODIFY) {
			st.mod_ok++;
			st.mod_trade += fills > 0;
			st.mod_cyc += cyc;
		}
		uint32_t live = me_book_count(b);
		if (live > st.max_live)
			st.max_live = live;
		if ((i & 4095) == 0) {
			const char *what = NULL;
			if (me_book_check(b, &what) != 0) {
				fprintf(stderr, "test_hw_match: me_book_check: %s\n", what);
				failed++;
			}
		}
	}

	uint64_t cycles = hw_match_cycles(hs);
	printf("test_hw_match: seed %" PRIu64 ", %" PRIu64 " commands (%" PRIu64 " NEW, %" PRIu64
	       " CANCEL, %" PRIu64 " MODIFY, %" PRIu64 " unknown type); window %u levels, capacity %u (max live seen %"
	       PRIu64 ")\n",
	       seed, passed + failed, st.kind[1], st.kind[2], st.kind[3],
	       st.kind[0] + st.kind[4] + st.kind[5] + st.kind[6] + st.kind[7], HW_MATCH_LEVELS,
	       HW_MATCH_CAP, st.max_live);
	printf("  events: %" PRIu64 " ACCEPT, %" PRIu64 " TRADE, %" PRIu64 " OUT (%" PRIu64
	       " CANCEL, %" PRIu64 " IOC, %" PRIu64 " FOK), %" PRIu64 " REJECT (INVALID %" PRIu64
	       ", DUP %" PRIu64 ", UNKNOWN %" PRIu64 ", BAND %" PRIu64 ", MAX_QTY %" PRIu64
	       ", FULL %" PRIu64 ", POST_CROSS %" PRIu64 ")\n",
	       st.ev[1], st.ev[2], st.ev[3], st.out[1], st.out[2], st.out[3], st.ev[4], st.rej[1],
	       st.rej[2], st.rej[3], st.rej[6], st.rej[7], st.rej[8], st.rej[4]);
	printf("  FOK filled: %" PRIu64 ", POST rested: %" PRIu64 ", MODIFY accepted: %" PRIu64
	       " (%" PRIu64 " traded), MODIFY of a POST refused POST_CROSS: %" PRIu64 "\n",
	       st.fok_filled, st.post_rested, st.mod_ok, st.mod_trade, st.mod_post);
	printf("  cycles: %" PRIu64 " in all, %.2f per command, %.2f per trade event\n", cycles,
	       (double)cycles / (double)(passed + failed ? passed + failed : 1),
	       (double)cycles / (double)(trades ? trades : 1));
	printf("  cycles per command: REJECT %.2f, CANCEL %.2f, accepted MODIFY %.2f\n",
	       (double)st.rej_cyc / (double)(st.rej_n ? st.rej_n : 1),
	       (double)st.can_cyc / (double)(st.can_n ? st.can_n : 1),
	       (double)st.mod_cyc / (double)(st.mod_ok ? st.mod_ok : 1));
	for (unsigned k = 0; k <= MAX_FILLS; k++)
		if (st.new_n[k])
			printf("  accepted NEW with %u%s fills: %" PRIu64 " commands, cycles %u..%u "
			       "(mean %.2f)\n",
			       k, k == MAX_FILLS ? "+" : "", st.new_n[k], st.new_min[k],
			       st.new_max[k], (double)st.new_cyc[k] / (double)st.new_n[k]);
	printf("test_hw_match: %" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	hw_match_close(hs);
	free(mem);
	/* A run that exercised nothing would pass vacuously: require every covered outcome. */
	if (failed == 0 && ncmd >= 10000 &&
	    (st.ev[2] == 0 || st.out[1] == 0 || st.out[2] == 0 || st.out[3] == 0 ||
	     st.ev[5] == 0 || st.mod_trade == 0 || st.mod_post == 0 ||
	     st.rej[4] == 0 || st.fok_filled == 0 || st.post_rested == 0 || st.rej[1] == 0 ||
	     st.rej[2] == 0 || st.rej[3] == 0 || st.rej[6] == 0 || st.rej[7] == 0 ||
	     st.rej[8] == 0)) {
		fprintf(stderr, "test_hw_match: some covered outcome never happened\n");
		return 1;
	}
	return failed ? 1 : 0;
}
