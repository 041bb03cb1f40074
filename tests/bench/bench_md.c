/*
 * bench_md.c - what the order-by-order and depth feeds cost the core that matches and
 * publishes (tokexd's run-to-completion loop: mc_core, then md_pub, on one thread).
 *
 * The same random request stream (new orders of every time in force around a mid price,
 * cancels, modifies; one request per burst, as at low load, the worst case for per-burst
 * depth) is applied to a matching core and its publisher, with the version-3 feeds off
 * (mc_core_md(0, 0), no order book in the publisher) and on (depth 10, order by order),
 * alternately, `rounds` times each. Each pass is timed in thread CPU time
 * (CLOCK_THREAD_CPUTIME_ID: what the thread ran, not what a loaded machine took from it),
 * and the median per request of each setting is printed, with the market-data messages
 * and packets each produced.
 *
 * Usage: bench_md [requests [rounds]]   (default 200000 x 7; --short: 2000 x 1)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mc_core.h"
#include "md_pub.h"

#define CID 7
static const struct me_params BOOK = { .price_lo = 5000, .price_hi = 15000, .tick = 5,
				       .max_qty = 100, .max_orders = 65536 };

static struct md_pub *pub;
static int publish; /* 0: the matching core alone (pipeline mode: the publisher is elsewhere) */
static uint64_t now_ns = 1767225600000000000ull, n_pkts, n_mdrec;
static uint64_t ids[1 << 16];
static uint32_t n_ids;

static void out_flush(struct mc_out *o)
{
	for (uint32_t i = 0; i < o->n; i++) {
		const struct dp_event *e = &o->ev[i];
		if (e->template_id == TKX_EXEC_ACK)
			ids[n_ids++ & 0xFFFF] = e->u.ack.order_id;
		else if (e->template_id >= TKX_MD_TOP_OF_BOOK && !publish)
			n_mdrec++;
		else if (e->template_id >= TKX_MD_TOP_OF_BOOK) {
			while (md_pub_add(pub, e, 1, now_ns) != 1) {
				const uint8_t *b;
				size_t l;
				md_pub_flush(pub, now_ns);
				while (md_pub_next_tx(pub, &b, &l) == 1)
					n_pkts++;
			}
		}
	}
	o->n = 0;
}

static struct dp_event evbuf[64];
static struct mc_out out = { evbuf, 0, 64, out_flush, NULL };

static uint64_t rng;
static uint32_t rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static uint64_t cpu_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* One pass: ns of thread CPU per request. */
static double pass(int feeds, unsigned n_req, uint64_t *msgs, uint64_t *pkts)
{
	struct mc_contract_params cp = { .id = CID, .book = BOOK, .phase = TKX_PHASE_CONTINUOUS };
	size_t len = mc_core_memsize(&cp, 1);
	void *mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	struct mc_core *mc = mc_core_init(mem, len, &cp, 1);
	if (!mc || mc_core_md(mc, feeds ? 10 : 0, feeds) < 0) {
		fprintf(stderr, "bench_md: matching core init failed\n");
		exit(1);
	}
	struct md_contract mcs = { .id = CID, .phase = TKX_PHASE_CONTINUOUS };
	struct md_params p;
	md_pub_params_default(&p);
	p.contracts = &mcs;
	p.n_contracts = 1;
	p.depth = feeds ? 10 : 0;
	p.max_orders = feeds ? BOOK.max_orders : 0;
	size_t plen = md_pub_memsize(&p);
	void *pmem = aligned_alloc(64, (plen + 63) & ~(size_t)63);
	pub = md_pub_init(pmem, plen, &p);
	if (!pub) {
		fprintf(stderr, "bench_md: publisher init failed\n");
		exit(1);
	}
	rng = 0x9E3779B97F4A7C15ull;
	n_ids = 0;
	n_pkts = 0;
	n_mdrec = 0;
	struct md_stats st0;
	md_pub_stats_read(pub, &st0);
	uint64_t t0 = cpu_ns();
	for (unsigned k = 0; k < n_req; k++) {
		struct dp_order o;
		memset(&o, 0, sizeof(o));
		o.contract_id = CID;
		o.session = (uint16_t)(1 + rnd(4));
		o.firm_id = 1;
		o.cl_ord_id = k + 1;
		uint32_t r = rnd(100);
		if (r < 50 || n_ids == 0) {
			o.type = DP_ORD_NEW;
			o.side = (uint8_t)(1 + rnd(2));
			o.price = 10000 + ((int64_t)rnd(41) - 20) * 5 + (o.side == TKX_SIDE_BUY ? -25 : 25);
			o.qty = 1 + rnd(20);
			o.tif = rnd(10) < 8 ? TKX_TIF_GTC : TKX_TIF_IOC;
		} else if (r < 85) {
			o.type = DP_ORD_CANCEL;
			o.order_id = ids[rnd(n_ids < 65536 ? n_ids : 65536)];
		} else {
			o.type = DP_ORD_MODIFY;
			o.order_id = ids[rnd(n_ids < 65536 ? n_ids : 65536)];
			o.price = 10000 + ((int64_t)rnd(41) - 20) * 5;
			o.qty = 1 + rnd(20);
		}
		now_ns += 1000;
		mc_process(mc, &o, 1, now_ns, &out);
		const uint8_t *b;
		size_t l;
		md_pub_flush(pub, now_ns);
		while (md_pub_next_tx(pub, &b, &l) == 1)
			n_pkts++;
	}
	uint64_t t1 = cpu_ns();
	struct md_stats st;
	md_pub_stats_read(pub, &st);
	*msgs = publish ? st.messages - st0.messages : n_mdrec;
	*pkts = n_pkts;
	free(pmem);
	free(mem);
	return (double)(t1 - t0) / n_req;
}

static int cmpd(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned n_req = 200000, rounds = 7;
	if (argc > 1 && strcmp(argv[1], "--short") == 0) {
		n_req = 2000;
		rounds = 1;
	} else {
		if (argc > 1)
			n_req = (unsigned)strtoul(argv[1], NULL, 10);
		if (argc > 2)
			rounds = (unsigned)strtoul(argv[2], NULL, 10);
	}
	if (n_req == 0 || rounds == 0 || rounds > 99) {
		fprintf(stderr, "usage: bench_md [requests [rounds]] | --short\n");
		return 2;
	}
	static const char *const what[2] = {
		"matching core alone (records discarded: pipeline mode's matching core)",
		"matching core + publisher (run-to-completion mode's core)",
	};
	for (publish = 0; publish < 2; publish++) {
		double t[2][99];
		uint64_t msgs[2] = { 0, 0 }, pkts[2] = { 0, 0 };
		for (unsigned r = 0; r < rounds; r++)
			for (int f = 0; f < 2; f++)
				t[f][r] = pass(f, n_req, &msgs[f], &pkts[f]);
		printf("%s, %u requests:\n", what[publish], n_req);
		for (int f = 0; f < 2; f++) {
			qsort(t[f], rounds, sizeof(double), cmpd);
			printf("  feeds %-3s: %8.1f ns CPU per request (median of %u; min %.1f, max "
			       "%.1f), %.2f market-data %s and %.3f packets per request\n",
			       f ? "on" : "off", t[f][rounds / 2], rounds, t[f][0], t[f][rounds - 1],
			       (double)msgs[f] / n_req, publish ? "messages" : "records",
			       (double)pkts[f] / n_req);
		}
		printf("  cost of the feeds: %+.1f ns per request (%+.0f %%)\n",
		       t[1][rounds / 2] - t[0][rounds / 2],
		       100.0 * (t[1][rounds / 2] - t[0][rounds / 2]) / t[0][rounds / 2]);
	}
	return 0;
}
