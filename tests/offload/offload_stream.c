/*
 * offload_stream.c - see offload_stream.h. Prices 1..60 around 30 so books are deep
 * (well past any N under test) and cross often; a third of the commands cancel or
 * modify a live order.
 */
#include "offload_stream.h"

#include <stdlib.h>
#include <string.h>

#include "me_book.h"

#define OS_BOOKS 2
#define OS_IDS 4096

struct os_book {
	struct me_book *b;
	void *mem;
};

static uint32_t os_rand(uint64_t *s)
{
	*s = *s * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*s >> 33);
}

static void os_flush(struct me_sink *s)
{
	s->n = 0;
}

static void os_levels(const struct me_book *b, uint32_t n, struct tkx_off_levels *w)
{
	memset(w, 0, sizeof(*w));
	for (int s = 0; s < 2; s++)
		w->n[s] = me_book_depth(b, s, w->price[s], w->qty[s], n);
}

void os_run(struct tkx_off *o, uint32_t levels, uint32_t seed, uint32_t n, struct os_result *r)
{
	static struct os_book bk[OS_BOOKS];
	static int inited;
	struct me_params p = {1, 60, 1, 50, OS_IDS};
	struct me_event evbuf[64];
	struct me_sink sink = {evbuf, 0, 64, os_flush, NULL};
	uint64_t rs = seed * 0x9E3779B97F4A7C15ull + 1;
	int64_t next_id = 1;

	/* Fresh books every run: the target is fresh too (or rebuilt below). */
	size_t len = me_book_memsize(&p);
	for (int i = 0; i < OS_BOOKS; i++) {
		if (!inited)
			bk[i].mem = aligned_alloc(64, (len + 63) / 64 * 64);
		bk[i].b = me_book_init(bk[i].mem, len, &p);
	}
	inited = 1;
	memset(r, 0, sizeof(*r));

	/* Bring the target to the (empty) books: a no-op for a fresh target, a rebuild
	 * through the diff for one reused from an earlier run. */
	for (uint32_t i = 0; i < OS_BOOKS; i++) {
		struct tkx_off_levels w;
		os_levels(bk[i].b, levels, &w);
		tkx_off_update(o, i, &w, NULL);
	}

	uint32_t done = 0;
	while (done < n) {
		uint32_t burst = 1 + os_rand(&rs) % 8, touched = 0;
		for (uint32_t k = 0; k < burst && done < n; k++, done++) {
			uint32_t bi = os_rand(&rs) % OS_BOOKS;
			struct me_cmd c;
			memset(&c, 0, sizeof(c));
			uint32_t what = os_rand(&rs) % 12;
			int64_t live = next_id - 1;
			if (what < 3 && live > 0) {
				c.type = ME_CMD_CANCEL;
				c.id = 1 + (int64_t)(os_rand(&rs) % (uint32_t)live);
			} else if (what < 4 && live > 0) {
				c.type = ME_CMD_MODIFY;
				c.id = 1 + (int64_t)(os_rand(&rs) % (uint32_t)live);
				c.price = 15 + os_rand(&rs) % 31;
				c.qty = 1 + os_rand(&rs) % 20;
			} else {
				c.type = ME_CMD_NEW;
				c.id = next_id++;
				c.side = (uint8_t)(os_rand(&rs) & 1);
				/* bids mostly below 31, asks above: a deep book that crosses sometimes */
				int64_t mid = 30 + (c.side == ME_BUY ? -4 : 4);
				c.price = mid + (int64_t)(os_rand(&rs) % 21) - 10;
				c.qty = 1 + os_rand(&rs) % 20;
				c.tif = os_rand(&rs) % 10 == 0 ? ME_IOC : ME_GTC;
			}
			me_book_apply(bk[bi].b, &c, &sink);
			sink.n = 0;
			touched |= 1u << bi;
			r->orders++;
		}
		for (uint32_t bi = 0; bi < OS_BOOKS; bi++) {
			if (!(touched >> bi & 1))
				continue;
			struct tkx_off_levels w;
			struct tkx_off_tob t;
			int64_t bp = 0, bq = 0, ap = 0, aq = 0;
			os_levels(bk[bi].b, levels, &w);
			int rc = tkx_off_update(o, bi, &w, &t);
			r->updates++;
			if (rc != 0)
				r->bad_rc++;
			me_book_best(bk[bi].b, ME_BUY, &bp, &bq);
			me_book_best(bk[bi].b, ME_SELL, &ap, &aq);
			if (t.bid_price == bp && t.bid_qty == bq && t.ask_price == ap && t.ask_qty == aq)
				r->tob_equal++;
		}
	}
}
