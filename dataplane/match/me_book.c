/*
 * me_book.c - the matching engine: one price-time order book per contract, laid out in
 * one caller-provided buffer.
 *
 * Role in the data path: runs on a matching core, which owns its books outright. It
 * consumes one struct me_cmd per me_book_apply() call and produces struct me_event
 * records in the core's sink. After me_book_init() nothing here allocates, locks, makes a
 * system call or prints; the only call out is the sink's flush() when it is full.
 *
 * Layout (one buffer, every region 64-byte aligned, in this order):
 *
 *   struct me_book    the header; cache line 0 holds what every command reads (best
 *                     levels, free-list head, band, max qty, region pointers), line 1 the
 *                     tick divisor and index mask, line 2 the bitmap layer pointers.
 *   lv[nlevels]       struct me_level, 32 bytes, indexed by (price - price_lo) / tick:
 *                     head/tail of the level's FIFO, order count, total quantity.
 *   ord[1+max_orders] struct me_order, 48 bytes; slot 0 is never used so that index 0
 *                     means "none" in links, in the free list and in the id index.
 *   ix[hcap]          struct me_hent, 8 bytes: (fingerprint, pool index), the id index:
 *                     open addressing with linear probing, Fibonacci hashing, hcap a power
 *                     of two >= 2 * max_orders, pool index 0 marks an empty slot (so every
 *                     int64 id is a valid key; the id itself lives in the order), deletion
 *                     by backward shift (no tombstones, probes stay short forever).
 *   bm[side][layer]   per side, a hierarchy of 64-bit words: bit i of layer 0 is level i
 *                     non-empty on that side, bit j of layer k+1 is word j of layer k
 *                     non-zero; the top layer is one word. At most 5 layers for
 *                     ME_MAX_LEVELS, 2 for up to 4096 levels. Finding the next best level
 *                     when one empties is one tzcnt/lzcnt per layer up and down.
 *
 * Size budget of the hot structs: me_order 48 bytes (id, qty, owner, user, level, next,
 * prev, side, tif); me_level 32 bytes (two per cache line, 128-bit total so that no sum of
 * resting quantities can overflow); me_hent 8 bytes (eight per cache line); the header's
 * first cache line is exactly what a NEW or CANCEL needs. Static asserts below pin these.
 *
 * Invariants (me_book_check() verifies every one):
 *   1. Slot 0 of ord[] is never used. Every slot 1..max_orders is either live
 *      (level != ME__FREE) or on the free list (level == ME__FREE, linked by next from
 *      free_head); live + free = max_orders and live == b->live.
 *   2. Every live order is in exactly one level list, the one its level field names; the
 *      list is doubly linked through next/prev (0 = none), the level's head/tail are its
 *      ends, count its length and total the sum of its orders' qty.
 *   3. Every live order has 0 < qty <= max_qty and tif GTC or POST (IOC/FOK never rest).
 *   4. All orders of a level are on the same side. Bit li of bm[side] layer 0 is set iff
 *      level li is non-empty and its orders are on that side; bit j of layer k+1 is set
 *      iff word j of layer k is non-zero; bits past the end are zero.
 *   5. best[ME_BUY] is the highest non-empty bid level or -1; best[ME_SELL] the lowest
 *      non-empty ask level or ME__NO_ASK.
 *   6. The book is never crossed: best[ME_BUY] < best[ME_SELL]. (So a level never holds
 *      both sides: an order that reaches the other side's level trades or leaves.)
 *   7. The id index holds exactly the live orders: one entry (id, oi) per live order with
 *      ord[oi].id == id, reachable from its home slot without crossing an empty slot.
 *   8. A rejected command changes nothing; a NEW emits ACCEPT before any trade, a
 *      MODIFY emits MODIFY before any trade.
 *
 * Life of an order (the function that makes each transition):
 *
 *     NEW --me_new: validate--> REJECT (book unchanged)
 *      |
 *      +--ACCEPT, match()--> filled ............................ gone
 *      |                 +-> IOC rest / FOK unfillable / STP --- OUT, gone
 *      |                 +-> GTC/POST remainder -- lv_append() --> LIVE
 *     LIVE --match() as resting order--> LIVE (partially filled) or gone (filled)
 *     LIVE --me_cancel--> OUT CANCEL, gone
 *     LIVE --me_modify, same price, qty <= remaining--> LIVE, same place in the queue
 *     LIVE --me_modify otherwise: lv_unlink(), match(), lv_append()--> LIVE at the back
 *                                                 of its new level, or gone (filled, STP)
 *     LIVE --me_book_mass_cancel--> OUT MASS, gone
 */
#include "me_book.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define ME__INLINE static inline __attribute__((always_inline))

#define ME__FREE UINT32_MAX    /* me_order.level of a slot on the free list */
#define ME__NO_ASK INT32_MAX   /* best[ME_SELL] when there is no ask */
#define ME__NO_BID (-1)        /* best[ME_BUY] when there is no bid */
#define ME__BM_LAYERS 5        /* enough for ME_MAX_LEVELS = 2^26: 2^20, 2^14, 2^8, 4, 1 */

_Static_assert(ME_MAX_LEVELS <= (1u << 30), "level indices are int32 with room for -1");
_Static_assert(sizeof(size_t) >= 8, "memsize arithmetic assumes a 64-bit size_t");
_Static_assert(sizeof(struct me_event) == 72, "event is 72 bytes (header says so)");

typedef unsigned __int128 me__u128;

struct me_order {
	int64_t id;
	int64_t qty; /* remaining */
	uint64_t owner;
	uint64_t user;
	uint32_t level; /* level index, or ME__FREE */
	uint32_t next;  /* towards the tail (younger); free list link when free */
	uint32_t prev;  /* towards the head (older) */
	uint8_t side;
	uint8_t tif;
	uint16_t pad;
};
_Static_assert(sizeof(struct me_order) == 48, "order budget is 48 bytes");

struct me_level {
	uint32_t head; /* oldest order, 0 when empty */
	uint32_t tail; /* youngest order */
	uint32_t count;
	uint32_t pad;
	me__u128 total; /* sum of qty: 128 bits so that max_orders * INT64_MAX fits */
};
_Static_assert(sizeof(struct me_level) == 32, "level budget is 32 bytes");

struct me_hent {
	uint32_t fp; /* the top 32 bits of the id's hash: holds its home slot too */
	uint32_t oi; /* pool index; 0 = empty slot */
};
_Static_assert(sizeof(struct me_hent) == 8, "index entry budget is 8 bytes");

enum { ME__TICK_POW2 = 0, ME__TICK_MAGIC = 1, ME__TICK_DIV = 2 };

struct me_book {
	/* Cache line 0: read by every NEW/CANCEL/MODIFY. */
	int32_t best[2];    /* invariant 5 */
	uint32_t free_head; /* pool free list, 0 = pool full */
	uint32_t live;
	int64_t price_lo;
	int64_t price_hi;
	int64_t max_qty;
	struct me_level *lv;
	struct me_order *ord;
	struct me_hent *ix;

	/* Cache line 1: price -> level and id -> slot arithmetic. */
	uint64_t ix_mask;   /* hcap - 1 */
	uint32_t ix_shift;  /* 64 - log2(hcap): Fibonacci hashing keeps the top bits */
	uint32_t nlevels;
	int64_t tick;
	uint64_t tick_mask; /* POW2: tick - 1 */
	uint64_t tick_magic; /* MAGIC: ceil(2^magic_shift / tick) */
	uint8_t tick_kind;
	uint8_t tick_shift; /* POW2: log2(tick) */
	uint8_t magic_shift;
	uint8_t nlayers;
	uint32_t max_orders;
	int64_t lo_mod; /* price_lo mod tick, in [0, tick): the grid test outside the band */

	/* Cache line 2: the bitmaps, touched when a level fills or empties. */
	uint64_t *bm[2][ME__BM_LAYERS];
	uint32_t bm_words[ME__BM_LAYERS];
	uint64_t ix_cap;
	size_t memsize;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct me_book, ix) + sizeof(void *) <= 64,
	       "the per-command fields fit in the first cache line");
_Static_assert(offsetof(struct me_book, ix_mask) == 64, "line 1 starts with the index mask");

/* ---------------------------------------------------------------------------------- */
/* Layout                                                                             */

struct me__layout {
	uint32_t nlevels;
	uint32_t nlayers;
	uint32_t bm_words[ME__BM_LAYERS];
	uint64_t ix_cap;
	size_t off_lv, off_ord, off_ix, off_bm[2][ME__BM_LAYERS];
	size_t total;
};

static size_t align64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static int layout(const struct me_params *p, struct me__layout *L)
{
	if (p == NULL || p->tick < 1 || p->max_qty < 1 || p->max_orders < 1 ||
	    p->max_orders > ME_MAX_ORDERS || p->price_hi < p->price_lo)
		return -EINVAL;
	/* hi - lo as uint64 is exact: both are int64 and hi >= lo. */
	uint64_t span = (uint64_t)p->price_hi - (uint64_t)p->price_lo;
	uint64_t q = span / (uint64_t)p->tick;
	if (q >= ME_MAX_LEVELS)
		return -EINVAL;
	memset(L, 0, sizeof(*L));
	L->nlevels = (uint32_t)q + 1;

	uint64_t n = L->nlevels;
	uint32_t k = 0;
	do {
		n = (n + 63) / 64;
		L->bm_words[k++] = (uint32_t)n;
	} while (n > 1);
	L->nlayers = k;

	L->ix_cap = 8; /* >= 8 (one line); <= 2^31 since max_orders <= 2^30 */
	while (L->ix_cap < 2 * (uint64_t)p->max_orders)
		L->ix_cap <<= 1;

	size_t off = align64(sizeof(struct me_book));
	L->off_lv = off;
	off += align64((size_t)L->nlevels * sizeof(struct me_level));
	L->off_ord = off;
	off += align64(((size_t)p->max_orders + 1) * sizeof(struct me_order));
	L->off_ix = off;
	off += align64((size_t)L->ix_cap * sizeof(struct me_hent));
	for (int s = 0; s < 2; s++)
		for (uint32_t i = 0; i < L->nlayers; i++) {
			L->off_bm[s][i] = off;
			off += align64((size_t)L->bm_words[i] * sizeof(uint64_t));
		}
	L->total = off;
	return 0;
}

size_t me_book_memsize(const struct me_params *p)
{
	struct me__layout L;

	if (layout(p, &L) < 0) {
		errno = EINVAL;
		return 0;
	}
	return L.total;
}

static unsigned bitlen64(uint64_t x)
{
	return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/*
 * The tick divisor. A power of two (tick 1 included) is a shift and a mask. Otherwise,
 * since an in-band offset d = price - price_lo is below 2^N with N = bitlen(hi - lo),
 * floor(d / tick) = (d * m) >> k with k = N + ceil(log2 tick), m = ceil(2^k / tick)
 * (Granlund-Montgomery: m * tick - 2^k < tick <= 2^(k-N) makes the error term < 1).
 * m < 2^(N+1) fits 64 bits for N <= 62; wider bands fall back to a division.
 */
static void tick_setup(struct me_book *b)
{
	uint64_t t = (uint64_t)b->tick;

	if ((t & (t - 1)) == 0) {
		b->tick_kind = ME__TICK_POW2;
		b->tick_mask = t - 1;
		b->tick_shift = (uint8_t)__builtin_ctzll(t);
		return;
	}
	unsigned n = bitlen64((uint64_t)b->price_hi - (uint64_t)b->price_lo);
	if (n == 0)
		n = 1;
	if (n > 62) {
		b->tick_kind = ME__TICK_DIV;
		return;
	}
	unsigned l = bitlen64(t - 1); /* ceil(log2 t) for t >= 2 */
	unsigned k = n + l;
	me__u128 m = (((me__u128)1 << k) + t - 1) / t;
	b->tick_kind = ME__TICK_MAGIC;
	b->tick_magic = (uint64_t)m;
	b->magic_shift = (uint8_t)k;
}

struct me_book *me_book_init(void *mem, size_t len, const struct me_params *p)
{
	struct me__layout L;

	if (mem == NULL || ((uintptr_t)mem & 63) != 0 || layout(p, &L) < 0 || len < L.total) {
		errno = EINVAL;
		return NULL;
	}
	memset(mem, 0, L.total);

	struct me_book *b = mem;
	char *base = mem;
	b->price_lo = p->price_lo;
	b->price_hi = p->price_hi;
	b->max_qty = p->max_qty;
	b->tick = p->tick;
	b->max_orders = p->max_orders;
	b->nlevels = L.nlevels;
	b->nlayers = (uint8_t)L.nlayers;
	b->memsize = L.total;
	b->lv = (struct me_level *)(base + L.off_lv);
	b->ord = (struct me_order *)(base + L.off_ord);
	b->ix = (struct me_hent *)(base + L.off_ix);
	b->ix_cap = L.ix_cap;
	b->ix_mask = L.ix_cap - 1;
	b->ix_shift = 64u - (unsigned)__builtin_ctzll(L.ix_cap);
	for (int s = 0; s < 2; s++)
		for (uint32_t i = 0; i < L.nlayers; i++)
			b->bm[s][i] = (uint64_t *)(base + L.off_bm[s][i]);
	for (uint32_t i = 0; i < L.nlayers; i++)
		b->bm_words[i] = L.bm_words[i];
	b->lo_mod = p->price_lo % p->tick;
	if (b->lo_mod < 0)
		b->lo_mod += p->tick;
	tick_setup(b);

	b->best[ME_BUY] = ME__NO_BID;
	b->best[ME_SELL] = ME__NO_ASK;
	/* Free list in ascending slot order, so that slot assignment is deterministic. */
	b->ord[0].level = ME__FREE;
	for (uint32_t i = 1; i <= p->max_orders; i++) {
		b->ord[i].level = ME__FREE;
		b->ord[i].next = i < p->max_orders ? i + 1 : 0;
	}
	b->free_head = 1;
	b->live = 0;
	return b;
}

/* ---------------------------------------------------------------------------------- */
/* Prices                                                                             */

/* Level index of a positive price, or the reject reason (TICK before BAND, as the header
 * orders them). */
ME__INLINE int px_index(const struct me_book *b, int64_t price, uint32_t *li)
{
	if (likely(price >= b->price_lo && price <= b->price_hi)) {
		uint64_t d = (uint64_t)price - (uint64_t)b->price_lo;
		uint64_t q;
		if (likely(b->tick_kind == ME__TICK_POW2)) {
			if (unlikely(d & b->tick_mask))
				return ME_REJ_TICK;
			q = d >> b->tick_shift;
		} else {
			if (b->tick_kind == ME__TICK_MAGIC)
				q = (uint64_t)(((me__u128)d * b->tick_magic) >> b->magic_shift);
			else
				q = d / (uint64_t)b->tick;
			if (unlikely(q * (uint64_t)b->tick != d))
				return ME_REJ_TICK;
		}
		*li = (uint32_t)q;
		return 0;
	}
	/* Out of the band: on the grid iff price = price_lo (mod tick); price > 0 here. */
	return price % b->tick != b->lo_mod ? ME_REJ_TICK : ME_REJ_BAND;
}

ME__INLINE int64_t lv_price(const struct me_book *b, uint32_t li)
{
	return (int64_t)((uint64_t)b->price_lo + (uint64_t)li * (uint64_t)b->tick);
}

/* ---------------------------------------------------------------------------------- */
/* Bitmaps of non-empty levels                                                         */

ME__INLINE void bm_set(struct me_book *b, int side, uint64_t i)
{
	for (uint32_t k = 0; k < b->nlayers; k++) {
		uint64_t *w = &b->bm[side][k][i >> 6];
		uint64_t old = *w;
		*w = old | (1ull << (i & 63));
		if (old)
			return; /* the layers above already say this word is non-zero */
		i >>= 6;
	}
}

ME__INLINE void bm_clr(struct me_book *b, int side, uint64_t i)
{
	for (uint32_t k = 0; k < b->nlayers; k++) {
		uint64_t *w = &b->bm[side][k][i >> 6];
		*w &= ~(1ull << (i & 63));
		if (*w)
			return;
		i >>= 6;
	}
}

/* Lowest set level >= i on side, or ME__NO_ASK. */
static int32_t bm_up(const struct me_book *b, int side, uint64_t i)
{
	uint32_t k = 0;

	for (;;) {
		uint64_t w = i >> 6;
		if (w >= b->bm_words[k])
			return ME__NO_ASK;
		uint64_t m = b->bm[side][k][w] & (~0ull << (i & 63));
		if (m) {
			i = (w << 6) | (uint64_t)__builtin_ctzll(m);
			break;
		}
		if (++k == b->nlayers)
			return ME__NO_ASK;
		i = w + 1;
	}
	while (k > 0) {
		k--;
		i = (i << 6) | (uint64_t)__builtin_ctzll(b->bm[side][k][i]);
	}
	return (int32_t)i;
}

/* Highest set level <= i on side (i may be -1), or ME__NO_BID. */
static int32_t bm_down(const struct me_book *b, int side, int64_t i)
{
	uint32_t k = 0;

	if (i < 0)
		return ME__NO_BID;
	for (;;) {
		uint64_t w = (uint64_t)i >> 6;
		uint64_t m = b->bm[side][k][w] & (~0ull >> (63 - (i & 63)));
		if (m) {
			i = (int64_t)((w << 6) | (uint64_t)(63 - __builtin_clzll(m)));
			break;
		}
		if (w == 0 || ++k == b->nlayers)
			return ME__NO_BID;
		i = (int64_t)w - 1;
	}
	while (k > 0) {
		k--;
		i = (i << 6) | (63 - __builtin_clzll(b->bm[side][k][i]));
	}
	return (int32_t)i;
}

/* The next level after li on side, going away from the spread. */
static int32_t lv_next(const struct me_book *b, int side, int32_t li)
{
	return side == ME_BUY ? bm_down(b, ME_BUY, (int64_t)li - 1)
			      : bm_up(b, ME_SELL, (uint64_t)li + 1);
}

static inline void lv_filled(struct me_book *b, int side, uint32_t li)
{
	bm_set(b, side, li);
	if (side == ME_BUY) {
		if ((int32_t)li > b->best[ME_BUY])
			b->best[ME_BUY] = (int32_t)li;
	} else if ((int32_t)li < b->best[ME_SELL]) {
		b->best[ME_SELL] = (int32_t)li;
	}
}

static inline void lv_emptied(struct me_book *b, int side, uint32_t li)
{
	bm_clr(b, side, li);
	if ((int32_t)li == b->best[side])
		b->best[side] = lv_next(b, side, (int32_t)li);
}

/* Would an order on side at level li trade against the other side? */
ME__INLINE bool crosses(const struct me_book *b, int side, uint32_t li)
{
	return side == ME_BUY ? b->best[ME_SELL] <= (int32_t)li
			      : b->best[ME_BUY] >= (int32_t)li;
}

/* ---------------------------------------------------------------------------------- */
/* Level FIFOs and the pool                                                            */

ME__INLINE void lv_append(struct me_book *b, uint32_t oi, struct me_order *o, uint32_t li)
{
	struct me_level *l = &b->lv[li];

	o->level = li;
	o->next = 0;
	o->prev = l->tail;
	if (l->tail)
		b->ord[l->tail].next = oi;
	else {
		l->head = oi;
		lv_filled(b, o->side, li);
	}
	l->tail = oi;
	l->count++;
	l->total += (uint64_t)o->qty;
}

static void lv_prepend(struct me_book *b, uint32_t oi, struct me_order *o, uint32_t li)
{
	struct me_level *l = &b->lv[li];

	o->level = li;
	o->prev = 0;
	o->next = l->head;
	if (l->head)
		b->ord[l->head].prev = oi;
	else {
		l->tail = oi;
		lv_filled(b, o->side, li);
	}
	l->head = oi;
	l->count++;
	l->total += (uint64_t)o->qty;
}

ME__INLINE void lv_unlink(struct me_book *b, struct me_order *o)
{
	struct me_level *l = &b->lv[o->level];

	if (o->prev)
		b->ord[o->prev].next = o->next;
	else
		l->head = o->next;
	if (o->next)
		b->ord[o->next].prev = o->prev;
	else
		l->tail = o->prev;
	l->count--;
	l->total -= (uint64_t)o->qty;
	if (l->head == 0)
		lv_emptied(b, o->side, o->level);
}

ME__INLINE uint32_t pool_get(struct me_book *b)
{
	uint32_t oi = b->free_head;

	b->free_head = b->ord[oi].next;
	b->live++;
	return oi;
}

ME__INLINE void pool_put(struct me_book *b, uint32_t oi, struct me_order *o)
{
	o->level = ME__FREE;
	o->next = b->free_head;
	b->free_head = oi;
	b->live--;
}

/* ---------------------------------------------------------------------------------- */
/* The id index                                                                        */

/*
 * Fibonacci hashing: h = id * 2^64/phi (a bijection on 64 bits); the home slot is h's top
 * log2(hcap) bits and the entry keeps h's top 32 bits as a fingerprint. hcap <= 2^31, so
 * the fingerprint holds the home slot (backward shift needs it and never reads an
 * order), and a probe reads an order only when fingerprints match: the order it wants
 * on a hit, almost never on a miss (a 2^-32 chance per entry passed). (Keeping runs of
 * consecutive ids in one line was measured too: it pays only when the index is much
 * larger than the cache, and costs ~12% at ordinary sizes through longer clusters; the
 * prefetch in me_new() recovers most of what it gains.)
 */
ME__INLINE uint64_t ix_hash(int64_t id)
{
	return (uint64_t)id * 0x9e3779b97f4a7c15ull;
}

ME__INLINE uint64_t ix_home_fp(const struct me_book *b, uint32_t fp)
{
	return fp >> (b->ix_shift - 32);
}

/* The slot holding id (*oi = its pool index) or the empty slot where it would go
 * (*oi = 0). The load factor is at most 1/2, so an empty slot always ends the probe. */
ME__INLINE uint64_t ix_probe(const struct me_book *b, int64_t id, uint32_t *oi)
{
	const struct me_hent *h = b->ix;
	const uint64_t hv = ix_hash(id);
	const uint32_t fp = (uint32_t)(hv >> 32);
	uint64_t i = hv >> b->ix_shift;

	for (;;) {
		uint32_t o = h[i].oi;
		if (o == 0 || (h[i].fp == fp && b->ord[o].id == id)) {
			*oi = o;
			return i;
		}
		i = (i + 1) & b->ix_mask;
	}
}

ME__INLINE void ix_put(struct me_book *b, uint64_t i, int64_t id, uint32_t oi)
{
	b->ix[i].fp = (uint32_t)(ix_hash(id) >> 32);
	b->ix[i].oi = oi;
}

/* Backward-shift deletion: pull each following entry of the cluster back into the hole
 * when the hole lies between that entry's home and its slot. */
ME__INLINE void ix_del_at(struct me_book *b, uint64_t i)
{
	struct me_hent *h = b->ix;
	const uint64_t mask = b->ix_mask;
	uint64_t j = i;

	for (;;) {
		j = (j + 1) & mask;
		if (h[j].oi == 0)
			break;
		uint64_t k = ix_home_fp(b, h[j].fp);
		if (((j - k) & mask) >= ((j - i) & mask)) {
			h[i] = h[j];
			i = j;
		}
	}
	h[i].oi = 0;
	h[i].fp = 0;
}

ME__INLINE void ix_del(struct me_book *b, int64_t id)
{
	uint32_t oi;
	uint64_t i = ix_probe(b, id, &oi);

	ix_del_at(b, i);
}

/* ---------------------------------------------------------------------------------- */
/* Events                                                                              */

ME__INLINE struct me_event *ev_next(struct me_sink *s)
{
	if (unlikely(s->n == s->cap))
		s->flush(s);
	return &s->ev[s->n++];
}

static uint32_t ev_reject(struct me_sink *s, int64_t id, int reason, unsigned side,
			  uint64_t user, int64_t leaves)
{
	*ev_next(s) = (struct me_event){
		.type = ME_EV_REJECT,
		.reason = (uint8_t)reason,
		.side = (uint8_t)side,
		.id = id,
		.leaves = leaves,
		.user = user,
	};
	return 1;
}

ME__INLINE void ev_out(struct me_sink *s, int64_t id, int reason, unsigned side,
		       int64_t qty, uint64_t user)
{
	*ev_next(s) = (struct me_event){
		.type = ME_EV_OUT,
		.reason = (uint8_t)reason,
		.side = (uint8_t)side,
		.id = id,
		.qty = qty,
		.user = user,
	};
}

ME__INLINE void ev_entry(struct me_sink *s, int type, int64_t id, unsigned side,
			 int64_t price, int64_t qty, uint64_t user)
{
	*ev_next(s) = (struct me_event){
		.type = (uint8_t)type,
		.side = (uint8_t)side,
		.id = id,
		.price = price,
		.qty = qty,
		.leaves = qty,
		.user = user,
	};
}

/* ---------------------------------------------------------------------------------- */
/* Matching                                                                            */

/* The aggressor of a match. */
struct me__aggr {
	int64_t id;
	int64_t qty; /* remaining; updated */
	uint64_t owner;
	uint64_t user;
	uint32_t nev; /* events written; updated */
};

/*
 * Trades a (on side, limit level lim) against the other side while it crosses, best
 * level first, each level oldest first. Returns true when self-trade prevention stopped
 * it (a->qty > 0 then). side is a constant at each call site, so each side gets its own
 * straight-line copy.
 */
ME__INLINE bool match(struct me_book *b, const int side, uint32_t lim, struct me__aggr *a,
		      struct me_sink *s)
{
	const int opp = side ^ 1;
	int64_t qty = a->qty;
	uint32_t nev = 0;
	bool stp = false;

	while (side == ME_BUY ? b->best[ME_SELL] <= (int32_t)lim
			      : b->best[ME_BUY] >= (int32_t)lim) {
		const uint32_t li = (uint32_t)b->best[opp];
		struct me_level *l = &b->lv[li];
		const int64_t px = lv_price(b, li);
		uint32_t oi = l->head;

		do {
			struct me_order *o = &b->ord[oi];
			if (unlikely(o->owner == a->owner && a->owner != 0)) {
				stp = true;
				goto out;
			}
			int64_t tq = qty < o->qty ? qty : o->qty;
			qty -= tq;
			o->qty -= tq;
			l->total -= (uint64_t)tq;
			*ev_next(s) = (struct me_event){
				.type = ME_EV_TRADE,
				.side = (uint8_t)side,
				.id = a->id,
				.price = px,
				.qty = tq,
				.leaves = qty,
				.user = a->user,
				.rid = o->id,
				.rleaves = o->qty,
				.ruser = o->user,
			};
			nev++;
			if (o->qty != 0)
				goto out; /* the aggressor is done; o keeps its place */
			oi = o->next;
			l->head = oi;
			l->count--;
			if (oi)
				b->ord[oi].prev = 0;
			else
				l->tail = 0;
			ix_del(b, o->id);
			pool_put(b, (uint32_t)(o - b->ord), o);
			if (qty == 0) {
				if (oi == 0)
					lv_emptied(b, opp, li);
				goto out;
			}
		} while (oi);
		lv_emptied(b, opp, li);
	}
out:
	a->qty = qty;
	a->nev += nev;
	return stp;
}

/* Can a FOK of qty on side, limit lim, owner fill completely, stopping (as match()
 * would) at the first resting order of the same non-zero owner? */
static bool fok_fillable(const struct me_book *b, int side, uint32_t lim, int64_t qty,
			 uint64_t owner)
{
	const int opp = side ^ 1;
	int32_t li = b->best[opp];

	while (side == ME_BUY ? li <= (int32_t)lim : li >= (int32_t)lim) {
		const struct me_level *l = &b->lv[li];
		if (owner == 0) {
			if (l->total >= (uint64_t)qty)
				return true;
			qty -= (int64_t)l->total;
		} else {
			for (uint32_t oi = l->head; oi; oi = b->ord[oi].next) {
				const struct me_order *o = &b->ord[oi];
				if (o->owner == owner)
					return false;
				if (o->qty >= qty)
					return true;
				qty -= o->qty;
			}
		}
		li = lv_next(b, opp, li);
	}
	return false;
}

/* ---------------------------------------------------------------------------------- */
/* Commands                                                                            */

static uint32_t me_new(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	const int64_t price = c->price;
	const unsigned side = c->side, tif = c->tif;
	uint32_t li, oi;
	int rej;

	if (unlikely((side > ME_SELL) | (tif > ME_POST) | (price <= 0) | (c->qty <= 0)))
		return ev_reject(s, c->id, ME_REJ_INVALID, side, c->user, 0);
	rej = px_index(b, price, &li);
	if (unlikely(rej))
		return ev_reject(s, c->id, rej, side, c->user, 0);
	if (unlikely(c->qty > b->max_qty))
		return ev_reject(s, c->id, ME_REJ_MAX_QTY, side, c->user, 0);
	uint64_t hp = ix_probe(b, c->id, &oi);
	if (unlikely(oi != 0))
		return ev_reject(s, c->id, ME_REJ_DUP, side, c->user, 0);
	/* Ids come in sequence (the appliance assigns them): warm the index slot of the NEW
	 * eight ids on, so that its DUP check does not wait on memory when the index is
	 * larger than the cache. One prefetch; wasted when the guess is wrong. */
	__builtin_prefetch(&b->ix[ix_hash((int64_t)((uint64_t)c->id + 8)) >> b->ix_shift]);
	const bool rests = tif == ME_GTC || tif == ME_POST;
	if (unlikely(rests && b->free_head == 0))
		return ev_reject(s, c->id, ME_REJ_FULL, side, c->user, 0);
	const bool cross = crosses(b, (int)side, li);
	if (unlikely(tif == ME_POST && cross))
		return ev_reject(s, c->id, ME_REJ_POST_CROSS, side, c->user, 0);

	ev_entry(s, ME_EV_ACCEPT, c->id, side, price, c->qty, c->user);
	struct me__aggr a = { .id = c->id, .qty = c->qty, .owner = c->owner, .user = c->user,
			      .nev = 1 };
	if (unlikely(tif == ME_FOK) &&
	    !(cross && fok_fillable(b, (int)side, li, a.qty, a.owner))) {
		ev_out(s, a.id, ME_OUT_FOK, side, a.qty, a.user);
		return 2;
	}
	bool stp = false;
	if (cross) {
		stp = side == ME_BUY ? match(b, ME_BUY, li, &a, s) : match(b, ME_SELL, li, &a, s);
		if (a.qty == 0)
			return a.nev;
	}
	if (unlikely(stp || !rests)) {
		ev_out(s, a.id, stp ? ME_OUT_STP : ME_OUT_IOC, side, a.qty, a.user);
		return a.nev + 1;
	}
	if (cross)
		hp = ix_probe(b, a.id, &oi); /* matching may have moved index entries */
	oi = pool_get(b);
	struct me_order *o = &b->ord[oi];
	o->id = a.id;
	o->qty = a.qty;
	o->owner = a.owner;
	o->user = a.user;
	o->side = (uint8_t)side;
	o->tif = (uint8_t)tif;
	lv_append(b, oi, o, li);
	ix_put(b, hp, a.id, oi);
	return a.nev;
}

static uint32_t me_cancel(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	uint32_t oi;
	uint64_t hp = ix_probe(b, c->id, &oi);

	if (unlikely(oi == 0))
		return ev_reject(s, c->id, ME_REJ_UNKNOWN, 0, 0, 0);
	struct me_order *o = &b->ord[oi];
	ev_out(s, o->id, ME_OUT_CANCEL, o->side, o->qty, o->user);
	lv_unlink(b, o);
	ix_del_at(b, hp);
	pool_put(b, oi, o);
	return 1;
}

static uint32_t me_modify(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	const int64_t price = c->price, qty = c->qty;
	uint32_t oi, li;
	int rej;

	(void)ix_probe(b, c->id, &oi);
	if (unlikely(oi == 0))
		return ev_reject(s, c->id, ME_REJ_UNKNOWN, 0, 0, 0);
	struct me_order *o = &b->ord[oi];
	if (unlikely(price <= 0 || qty <= 0))
		return ev_reject(s, o->id, ME_REJ_INVALID, o->side, o->user, o->qty);
	rej = px_index(b, price, &li);
	if (unlikely(rej))
		return ev_reject(s, o->id, rej, o->side, o->user, o->qty);
	if (unlikely(qty > b->max_qty))
		return ev_reject(s, o->id, ME_REJ_MAX_QTY, o->side, o->user, o->qty);

	const int side = o->side;
	if (li == o->level && qty <= o->qty) {
		/* Reduce in place (or nothing): the order keeps its priority. */
		b->lv[li].total -= (uint64_t)(o->qty - qty);
		o->qty = qty;
		ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
		return 1;
	}
	const bool cross = crosses(b, side, li);
	if (unlikely(o->tif == ME_POST && cross))
		return ev_reject(s, o->id, ME_REJ_POST_CROSS, (unsigned)side, o->user, o->qty);

	ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
	lv_unlink(b, o);
	struct me__aggr a = { .id = o->id, .qty = qty, .owner = o->owner, .user = o->user,
			      .nev = 1 };
	if (cross) {
		bool stp = side == ME_BUY ? match(b, ME_BUY, li, &a, s)
					  : match(b, ME_SELL, li, &a, s);
		if (a.qty == 0 || stp) {
			if (stp) {
				ev_out(s, a.id, ME_OUT_STP, (unsigned)side, a.qty, a.user);
				a.nev++;
			}
			ix_del(b, a.id); /* re-probe: matching may have moved entries */
			pool_put(b, oi, o);
			return a.nev;
		}
	}
	o->qty = a.qty;
	lv_append(b, oi, o, li);
	return a.nev;
}

uint32_t me_book_apply(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	switch (c->type) {
	case ME_CMD_NEW:
		return me_new(b, c, s);
	case ME_CMD_CANCEL:
		return me_cancel(b, c, s);
	case ME_CMD_MODIFY:
		return me_modify(b, c, s);
	default:
		return ev_reject(s, c->id, ME_REJ_INVALID, c->side, c->user, 0);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Off the hot path                                                                    */

int me_book_seed(struct me_book *b, int64_t id, int side, int64_t price, int64_t qty,
		 uint64_t owner, uint64_t user, int at_head)
{
	uint32_t li, oi;

	if ((side != ME_BUY && side != ME_SELL) || price <= 0 || qty <= 0 || qty > b->max_qty ||
	    px_index(b, price, &li) != 0)
		return -EINVAL;
	uint64_t hp = ix_probe(b, id, &oi);
	if (oi != 0)
		return -EEXIST;
	if (b->free_head == 0)
		return -ENOSPC;
	if (crosses(b, side, li))
		return -EDOM;
	oi = pool_get(b);
	struct me_order *o = &b->ord[oi];
	o->id = id;
	o->qty = qty;
	o->owner = owner;
	o->user = user;
	o->side = (uint8_t)side;
	o->tif = ME_GTC;
	if (at_head)
		lv_prepend(b, oi, o, li);
	else
		lv_append(b, oi, o, li);
	ix_put(b, hp, id, oi);
	return 0;
}

static bool side_valid(int side, int32_t li)
{
	return side == ME_BUY ? li != ME__NO_BID : li != ME__NO_ASK;
}

uint32_t me_book_cancel_where(struct me_book *b, uint64_t owner, int side, uint64_t id_mask,
			      uint64_t id_value, struct me_sink *s)
{
	uint32_t n = 0;

	if (side != -1 && side != ME_BUY && side != ME_SELL)
		return 0;
	for (int sd = ME_BUY; sd <= ME_SELL; sd++) {
		if (side != -1 && side != sd)
			continue;
		for (int32_t li = b->best[sd]; side_valid(sd, li); li = lv_next(b, sd, li)) {
			uint32_t oi = b->lv[li].head;
			while (oi) {
				struct me_order *o = &b->ord[oi];
				uint32_t nx = o->next;
				if ((owner == 0 || o->owner == owner) &&
				    ((uint64_t)o->id & id_mask) == id_value) {
					ev_out(s, o->id, ME_OUT_MASS, o->side, o->qty, o->user);
					lv_unlink(b, o);
					ix_del(b, o->id);
					pool_put(b, oi, o);
					n++;
				}
				oi = nx;
			}
		}
	}
	return n;
}

uint32_t me_book_mass_cancel(struct me_book *b, uint64_t owner, int side, struct me_sink *s)
{
	return me_book_cancel_where(b, owner, side, 0, 0, s);
}

static int64_t sat64(me__u128 v)
{
	return v > (me__u128)INT64_MAX ? INT64_MAX : (int64_t)v;
}

int me_book_best(const struct me_book *b, int side, int64_t *price, int64_t *qty)
{
	if (side != ME_BUY && side != ME_SELL)
		return -ENOENT;
	int32_t li = b->best[side];
	if (!side_valid(side, li))
		return -ENOENT;
	if (price)
		*price = lv_price(b, (uint32_t)li);
	if (qty)
		*qty = sat64(b->lv[li].total);
	return 0;
}

uint32_t me_book_depth(const struct me_book *b, int side, int64_t *price, int64_t *qty,
		       uint32_t n)
{
	uint32_t k = 0;

	if (side != ME_BUY && side != ME_SELL)
		return 0;
	for (int32_t li = b->best[side]; k < n && side_valid(side, li);
	     li = lv_next(b, side, li), k++) {
		if (price)
			price[k] = lv_price(b, (uint32_t)li);
		if (qty)
			qty[k] = sat64(b->lv[li].total);
	}
	return k;
}

static void view(const struct me_book *b, const struct me_order *o, struct me_order_view *v)
{
	v->id = o->id;
	v->price = lv_price(b, o->level);
	v->qty = o->qty;
	v->owner = o->owner;
	v->user = o->user;
	v->side = o->side;
	v->tif = o->tif;
}

int me_book_walk(const struct me_book *b, me_walk_cb cb, void *arg)
{
	struct me_order_view v;

	for (int sd = ME_BUY; sd <= ME_SELL; sd++)
		for (int32_t li = b->best[sd]; side_valid(sd, li); li = lv_next(b, sd, li))
			for (uint32_t oi = b->lv[li].head; oi; oi = b->ord[oi].next) {
				view(b, &b->ord[oi], &v);
				int rc = cb(arg, &v);
				if (rc)
					return rc;
			}
	return 0;
}

int me_book_find(const struct me_book *b, int64_t id, struct me_order_view *o)
{
	uint32_t oi;

	ix_probe(b, id, &oi);
	if (oi == 0)
		return -ENOENT;
	if (o)
		view(b, &b->ord[oi], o);
	return 0;
}

uint32_t me_book_count(const struct me_book *b)
{
	return b->live;
}

/* ---------------------------------------------------------------------------------- */
/* Invariant check (tests)                                                              */

#define CHECK(cond, msg)              \
	do {                          \
		if (!(cond)) {        \
			*what = (msg); \
			return -EFAULT; \
		}                     \
	} while (0)

static int check_bitmaps(const struct me_book *b, const char **what)
{
	for (int sd = 0; sd < 2; sd++) {
		/* Layer 0 against the levels. */
		for (uint32_t li = 0; li < b->nlevels; li++) {
			const struct me_level *l = &b->lv[li];
			bool set = (b->bm[sd][0][li >> 6] >> (li & 63)) & 1;
			bool want = l->head != 0 && b->ord[l->head].side == sd;
			CHECK(set == want, "inv 4: level bitmap bit disagrees with the level");
		}
		for (uint64_t i = b->nlevels; i < (uint64_t)b->bm_words[0] * 64; i++)
			CHECK(!((b->bm[sd][0][i >> 6] >> (i & 63)) & 1),
			      "inv 4: bitmap bit set past the last level");
		/* Each layer summarises the one below, with nothing past its end. */
		for (uint32_t k = 0; k + 1 < b->nlayers; k++) {
			for (uint64_t w = 0; w < (uint64_t)b->bm_words[k + 1] * 64; w++) {
				bool set = (b->bm[sd][k + 1][w >> 6] >> (w & 63)) & 1;
				bool want = w < b->bm_words[k] && b->bm[sd][k][w] != 0;
				CHECK(set == want, "inv 4: summary bit disagrees with its word");
			}
		}
		CHECK(b->bm_words[b->nlayers - 1] == 1, "inv 4: top bitmap layer is not one word");
	}
	return 0;
}

int me_book_check(const struct me_book *b, const char **what)
{
	static const char *dummy;
	uint64_t nfree = 0, nlive = 0;
	int rc;

	if (what == NULL)
		what = &dummy;
	/* 1: the pool and the free list. */
	CHECK(b->ord[0].level == ME__FREE, "inv 1: slot 0 is in use");
	for (uint32_t oi = b->free_head; oi; oi = b->ord[oi].next) {
		CHECK(oi <= b->max_orders, "inv 1: free list index out of range");
		CHECK(b->ord[oi].level == ME__FREE, "inv 1: live slot on the free list");
		CHECK(++nfree <= b->max_orders, "inv 1: free list has a cycle");
	}
	for (uint32_t oi = 1; oi <= b->max_orders; oi++)
		if (b->ord[oi].level != ME__FREE)
			nlive++;
	CHECK(nlive == b->live, "inv 1: live count disagrees with the pool");
	CHECK(nlive + nfree == b->max_orders, "inv 1: live + free != max_orders");

	/* 2, 3, 4 (sides of a level): the level lists. */
	uint64_t nlisted = 0;
	for (uint32_t li = 0; li < b->nlevels; li++) {
		const struct me_level *l = &b->lv[li];
		if (l->head == 0) {
			CHECK(l->tail == 0 && l->count == 0 && l->total == 0,
			      "inv 2: empty level with a tail, count or total");
			continue;
		}
		uint32_t prev = 0, n = 0;
		me__u128 total = 0;
		int side = b->ord[l->head].side;
		for (uint32_t oi = l->head; oi; oi = b->ord[oi].next) {
			const struct me_order *o = &b->ord[oi];
			CHECK(oi <= b->max_orders, "inv 2: link out of range");
			CHECK(o->level == li, "inv 2: order's level field names another level");
			CHECK(o->prev == prev, "inv 2: prev link broken");
			CHECK(o->side == side, "inv 4: level holds both sides");
			CHECK(o->qty > 0 && o->qty <= b->max_qty, "inv 3: order qty out of range");
			CHECK(o->tif == ME_GTC || o->tif == ME_POST, "inv 3: resting order not GTC/POST");
			CHECK(++n <= b->max_orders, "inv 2: level list has a cycle");
			total += (uint64_t)o->qty;
			prev = oi;
		}
		CHECK(l->tail == prev, "inv 2: tail is not the last order");
		CHECK(l->count == n, "inv 2: level count wrong");
		CHECK(l->total == total, "inv 2: level total wrong");
		nlisted += n;
	}
	CHECK(nlisted == nlive, "inv 2: live orders missing from the level lists");

	rc = check_bitmaps(b, what);
	if (rc)
		return rc;

	/* 5, 6: best levels and no crossing. */
	int32_t bb = ME__NO_BID, ba = ME__NO_ASK;
	for (uint32_t li = 0; li < b->nlevels; li++) {
		const struct me_level *l = &b->lv[li];
		if (l->head == 0)
			continue;
		if (b->ord[l->head].side == ME_BUY)
			bb = (int32_t)li;
		else if (ba == ME__NO_ASK)
			ba = (int32_t)li;
	}
	CHECK(b->best[ME_BUY] == bb, "inv 5: best bid is not the highest bid level");
	CHECK(b->best[ME_SELL] == ba, "inv 5: best ask is not the lowest ask level");
	CHECK(bb < ba, "inv 6: book crossed");

	/* 7: the id index. */
	uint64_t nix = 0;
	for (uint64_t i = 0; i < b->ix_cap; i++) {
		const struct me_hent *h = &b->ix[i];
		if (h->oi == 0)
			continue;
		nix++;
		CHECK(h->oi <= b->max_orders, "inv 7: index entry out of range");
		CHECK(b->ord[h->oi].level != ME__FREE, "inv 7: index entry names a free slot");
		int64_t id = b->ord[h->oi].id;
		CHECK(h->fp == (uint32_t)(ix_hash(id) >> 32),
		      "inv 7: index entry fingerprint is not its order's id hash");
		uint32_t oi;
		uint64_t at = ix_probe(b, id, &oi);
		CHECK(at == i && oi == h->oi, "inv 7: index entry unreachable from its home");
	}
	CHECK(nix == nlive, "inv 7: index and pool disagree on the number of live orders");
	for (uint32_t oi = 1; oi <= b->max_orders; oi++) {
		if (b->ord[oi].level == ME__FREE)
			continue;
		uint32_t found;
		ix_probe(b, b->ord[oi].id, &found);
		CHECK(found == oi, "inv 7: live order not in the index");
	}
	CHECK(nix <= b->ix_cap / 2, "inv 7: index load above 1/2");
	return 0;
}
