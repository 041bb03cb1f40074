/*
 * test_hw_diff.c - seeded differential simulation of the top-N level engine (hw/rtl,
 * through hw_sim) against the C matching engine (me_book) and against a model of the
 * level table.
 *
 * Phase 1 (engine): random GTC/IOC orders, cancels and modifies go through me_book;
 * after each command both sides' top K levels are diffed into level operations
 * (hw_mirror.h: SUB, ADD, and REFILL after a deleted level), run on the engine in
 * back-to-back bursts; every operation's result and the engine's top N right after it
 * are checked against the mirror's prediction, and every 16 commands the engine's top N
 * against me_book_depth(). Until the operation count is reached, N = 4; then a tenth
 * as many with N = 8.
 * Phase 2 (model; a tenth as many with N = 4, a twentieth with N = 8): random raw
 * ADD/SUB/REFILL/CLEAR on narrow, overlapping price ranges with quantities near the
 * limit (saturation, underflow, rejects, crossing: what the engine never produces)
 * against model_apply(), a direct transcription of hw_side.v's rules.
 *
 * Usage: test_hw_diff SEED OPS. Prints "N passed, N failed"; exit 1 on any failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_mirror.h"
#include "hw_sim.h"
#include "me_book.h"

#define K_WINDOW 32

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

static void sink_flush(struct me_sink *s)
{
	s->n = 0;
}

static int sync_book(struct hwm *m, const struct me_book *b, int64_t *px, int64_t *qx)
{
	for (int side = 0; side < 2; side++) {
		uint32_t n = me_book_depth(b, side, px, qx, K_WINDOW);
		hwm_sync(m, side, px, qx, n);
	}
	return 0;
}

static void check_book(struct hwm *m, const struct me_book *b, const char *where)
{
	int64_t bp[8], bq[8], ap[8], aq[8];
	uint32_t nb = me_book_depth(b, ME_BUY, bp, bq, m->n);
	uint32_t na = me_book_depth(b, ME_SELL, ap, aq, m->n);
	hwm_flush(m);
	hwm_check_book(m, bp, bq, nb, ap, aq, na, where);
}

/* Phase 1: returns 0, or -1 if the setup failed. */
static int run_engine(unsigned n, uint64_t target, uint64_t *passed, uint64_t *failed)
{
	struct me_params p = { .price_lo = 1, .price_hi = 2000, .tick = 1, .max_qty = 500,
			       .max_orders = 1u << 15 };
	size_t len = me_book_memsize(&p);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct me_book *b = mem ? me_book_init(mem, len, &p) : NULL;
	struct hwm m;
	if (b == NULL || hwm_init(&m, n, K_WINDOW, 0, 1) != 0) {
		fprintf(stderr, "test_hw_diff: setup failed (N=%u)\n", n);
		free(mem);
		return -1;
	}
	struct me_event ev[64];
	struct me_sink sink = { .ev = ev, .n = 0, .cap = 64, .flush = sink_flush };
	int64_t *live = calloc(p.max_orders, sizeof(int64_t));
	uint32_t nlive = 0;
	int64_t px[K_WINDOW], qx[K_WINDOW], next_id = 1, mid = 1000;
	uint64_t cmds = 0;
	while (m.by_op[HW_OP_ADD] + m.by_op[HW_OP_SUB] + m.by_op[HW_OP_REFILL] < target) {
		struct me_cmd c;
		memset(&c, 0, sizeof(c));
		uint32_t x = rn(100);
		if (rn(64) == 0)
			mid += (int64_t)rn(9) - 4;
		if (mid < 200 || mid > 1800)
			mid = 1000;
		if (x < 50 || nlive == 0) {
			c.type = ME_CMD_NEW;
			c.side = (uint8_t)rn(2);
			c.tif = x < 46 ? ME_GTC : ME_IOC;
			/* mostly behind the touch (depth), sometimes through it (trades) */
			int64_t off = (int64_t)rn(24) - (rn(10) == 0 ? 6 : 1);
			c.price = c.side == ME_BUY ? mid - off : mid + off;
			c.qty = 1 + rn(rn(4) == 0 ? 400 : 40);
			c.id = next_id++;
			c.owner = 1 + rn(50);
		} else {
			uint32_t i = rn(nlive);
			struct me_order_view o;
			if (me_book_find(b, live[i], &o) != 0) {
				live[i] = live[--nlive];
				continue;
			}
			c.id = o.id;
			if (x < 85) {
				c.type = ME_CMD_CANCEL;
			} else {
				c.type = ME_CMD_MODIFY;
				c.price = rn(2) ? o.price : o.price + (int64_t)rn(7) - 3;
				c.qty = rn(2) && o.qty > 1 ? o.qty - 1 - rn((uint32_t)o.qty - 1) : 1 + rn(60);
			}
		}
		sink.n = 0;
		me_book_apply(b, &c, &sink);
		if (c.type == ME_CMD_NEW && c.tif == ME_GTC && nlive < p.max_orders)
			live[nlive++] = c.id;
		sync_book(&m, b, px, qx);
		if (++cmds % 16 == 0)
			check_book(&m, b, "periodic");
	}
	check_book(&m, b, "final");
	printf("test_hw_diff: engine N=%u: %" PRIu64 " commands, %" PRIu64 " level ops (%" PRIu64
	       " add, %" PRIu64 " sub, %" PRIu64 " refill; %" PRIu64 " ok, %" PRIu64
	       " miss; %" PRIu64 " deleted, %" PRIu64 " evicted), %" PRIu64 " cycles: %" PRIu64
	       " passed, %" PRIu64 " failed\n",
	       n, cmds, m.by_op[1] + m.by_op[2] + m.by_op[3], m.by_op[1], m.by_op[2], m.by_op[3],
	       m.by_code[HW_OK], m.by_code[HW_MISS], m.dels, m.evicts, hw_sim_cycles(m.hw),
	       m.passed, m.failed);
	*passed += m.passed;
	*failed += m.failed;
	hwm_free(&m);
	free(live);
	free(mem);
	return 0;
}

/* ---- phase 2: the level table's rules, transcribed from hw_side.v ---- */

struct model {
	unsigned n;
	uint32_t cnt[2];
	int64_t p[2][8], q[2][8];
};

static int mbetter(int side, int64_t a, int64_t b)
{
	return side == 0 ? a > b : a < b;
}

static void model_apply(struct model *md, const struct hw_sim_cmd *o, uint8_t *code,
			uint8_t *flags)
{
	*code = HW_OK;
	*flags = 0;
	if (o->op == HW_OP_NOP)
		return;
	if (o->op == HW_OP_CLEAR) {
		md->cnt[0] = md->cnt[1] = 0;
		return;
	}
	if (o->qty == 0) {
		*code = HW_REJECT;
		return;
	}
	int s = o->side;
	int64_t *p = md->p[s], *q = md->q[s];
	uint32_t *cnt = &md->cnt[s], i = 0;
	while (i < *cnt && mbetter(s, p[i], o->price))
		i++;
	int hit = i < *cnt && p[i] == o->price;
	switch (o->op) {
	case HW_OP_ADD:
		if (hit) {
			q[i] += o->qty;
			if (q[i] > HW_SIM_QTY_MAX) {
				q[i] = HW_SIM_QTY_MAX;
				*flags = HW_F_SAT;
			}
		} else if (i >= md->n) {
			*code = HW_MISS;
		} else {
			if (*cnt == md->n) {
				*flags = HW_F_EVICT;
				(*cnt)--;
			}
			memmove(&p[i + 1], &p[i], (*cnt - i) * sizeof(int64_t));
			memmove(&q[i + 1], &q[i], (*cnt - i) * sizeof(int64_t));
			p[i] = o->price;
			q[i] = o->qty;
			(*cnt)++;
		}
		break;
	case HW_OP_SUB:
		if (!hit) {
			*code = HW_MISS;
		} else if (q[i] <= o->qty) {
			*flags = HW_F_DEL | (q[i] < o->qty ? HW_F_UNDER : 0);
			memmove(&p[i], &p[i + 1], (*cnt - i - 1) * sizeof(int64_t));
			memmove(&q[i], &q[i + 1], (*cnt - i - 1) * sizeof(int64_t));
			(*cnt)--;
		} else {
			q[i] -= o->qty;
		}
		break;
	case HW_OP_REFILL:
		if (hit || i != *cnt || *cnt == md->n) {
			*code = HW_REJECT;
		} else {
			p[i] = o->price;
			q[i] = o->qty;
			(*cnt)++;
		}
		break;
	}
}

static void run_model(unsigned n, uint64_t nops, uint64_t *passed, uint64_t *failed)
{
	struct hw_sim *s = hw_sim_open(n);
	struct model md = { .n = n };
	enum { B = 64 };
	struct hw_sim_cmd ops[B];
	struct hw_sim_result r[B];
	struct hw_sim_book lv[B];
	uint64_t ok = 0, bad = 0, cross = 0, sat = 0;
	if (s == NULL) {
		fprintf(stderr, "test_hw_diff: hw_sim_open(%u) failed\n", n);
		(*failed)++;
		return;
	}
	for (uint64_t done = 0; done < nops; done += B) {
		uint8_t code[B], flags[B];
		struct hw_sim_book want[B];
		for (int i = 0; i < B; i++) {
			uint32_t x = rn(100);
			memset(&ops[i], 0, sizeof(ops[i]));
			ops[i].op = x < 45 ? HW_OP_ADD : x < 80 ? HW_OP_SUB : x < 99 ? HW_OP_REFILL
										: HW_OP_CLEAR;
			ops[i].side = (uint8_t)rn(2);
			/* overlapping ranges: both crossed and uncrossed books */
			ops[i].price = 50 + rn(3 * n) + (ops[i].side ? 2 * n : 0);
			uint32_t y = rn(16);
			ops[i].qty = y == 0 ? 0 : y == 1 ? HW_SIM_QTY_MAX - rn(4) : 1 + rn(5);
			model_apply(&md, &ops[i], &code[i], &flags[i]);
			for (int sd = 0; sd < 2; sd++) {
				want[i].n[sd] = md.cnt[sd];
				memcpy(want[i].price[sd], md.p[sd], sizeof(md.p[sd]));
				memcpy(want[i].qty[sd], md.q[sd], sizeof(md.q[sd]));
			}
		}
		if (hw_sim_ops(s, ops, B, r, lv) != B) {
			bad += B;
			continue;
		}
		for (int i = 0; i < B; i++) {
			int same = r[i].code == code[i] && r[i].flags == flags[i];
			for (int sd = 0; sd < 2 && same; sd++) {
				same = lv[i].n[sd] == want[i].n[sd] &&
				       r[i].holes[sd] == n - want[i].n[sd];
				for (uint32_t j = 0; same && j < want[i].n[sd]; j++)
					same = lv[i].price[sd][j] == want[i].price[sd][j] &&
					       lv[i].qty[sd][j] == want[i].qty[sd][j];
			}
			int wc = want[i].n[0] && want[i].n[1] &&
				 want[i].price[0][0] >= want[i].price[1][0];
			same = same && r[i].crossed == wc;
			cross += (uint64_t)wc;
			sat += (flags[i] & HW_F_SAT) != 0;
			if (same) {
				ok++;
			} else if (bad++ < 10) {
				fprintf(stderr, "model N=%u: op %u side %u price %" PRId64 " qty %" PRId64
						": got code %u flags %#x, want %u %#x (or levels differ)\n",
					n, ops[i].op, ops[i].side, ops[i].price, ops[i].qty, r[i].code,
					r[i].flags, code[i], flags[i]);
			}
		}
	}
	printf("test_hw_diff: model N=%u: %" PRIu64 " raw ops (%" PRIu64 " crossed, %" PRIu64
	       " saturated): %" PRIu64 " passed, %" PRIu64 " failed\n",
	       n, ok + bad, cross, sat, ok, bad);
	*passed += ok;
	*failed += bad;
	hw_sim_close(s);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: test_hw_diff SEED OPS\n");
		return 2;
	}
	char *end;
	errno = 0;
	unsigned long long seed = strtoull(argv[1], &end, 0);
	if (errno || *end || end == argv[1])
		return 2;
	unsigned long long nops = strtoull(argv[2], &end, 0);
	if (errno || *end || end == argv[2] || nops == 0)
		return 2;
	g_rng = seed * 0x9e3779b97f4a7c15ull + 1;
	uint64_t passed = 0, failed = 0;
	if (run_engine(4, nops, &passed, &failed) != 0 ||
	    run_engine(8, nops / 10, &passed, &failed) != 0)
		return 1;
	run_model(4, nops / 10, &passed, &failed);
	run_model(8, nops / 20, &passed, &failed);
	printf("test_hw_diff: %" PRIu64 " passed, %" PRIu64 " failed\n", passed, failed);
	return failed ? 1 : 0;
}
