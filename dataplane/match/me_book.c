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
 *                     tick divisor, index mask and mode flag, line 2 the bitmap layer
 *                     pointers, then what only control calls and special modes read.
 *   lv[nlevels][2]    struct me_level, 32 bytes: per price a bid level and an ask level
 *                     side by side (one cache line; each side has its own so that a
 *                     crossed auction book can hold both sides at one price), indexed by
 *                     (price - price_lo) / tick: head/tail of the level's FIFO, order
 *                     count, total quantity.
 *   ord[1+max_orders] struct me_order, 48 bytes; slot 0 is never used so that index 0
 *                     means "none" in links, in the free list and in the id index.
 *   ox[1+max_orders]  struct me_oext, 16 bytes, beside each slot: an iceberg's show and
 *                     visible part, a held stop order's limit and trigger price. Read
 *                     only for orders whose flags say so, never on the plain path.
 *   ix[hcap]          struct me_hent, 8 bytes: (fingerprint, pool index), the id index:
 *                     open addressing with linear probing, a mixing hash (ix_hash), hcap
 *                     a power of two >= 2 * max_orders, pool index 0 marks an empty slot (so every
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
 *   3. Every resting order has 0 < qty <= max_qty and tif GTC, POST or DAY (IOC/FOK
 *      never rest). flags is 0 or ME__O_ICE; an iceberg has 0 < visible <= min(show,
 *      qty), and nice counts the resting icebergs.
 *   4. The orders of a side's levels are on that side. Bit li of bm[side] layer 0 is
 *      set iff that side's level li is non-empty; bit j of layer k+1 is set
 *      iff word j of layer k is non-zero; bits past the end are zero.
 *   5. best[ME_BUY] is the highest non-empty bid level or -1; best[ME_SELL] the lowest
 *      non-empty ask level or ME__NO_ASK.
 *   6. Outside auction mode the book is never crossed: best[ME_BUY] < best[ME_SELL].
 *      (A tripped price guard switches to auction mode before a remainder rests.)
 *   7. The id index holds exactly the live orders: one entry (id, oi) per live order with
 *      ord[oi].id == id, reachable from its home slot without crossing an empty slot.
 *   8. A rejected command changes nothing; a NEW emits ACCEPT before any trade, a
 *      MODIFY emits MODIFY before any trade.
 *   9. base <= band_lo <= band_hi <= top: every accepted price has a level.
 *  10. mode & ME__MODE_GUARD iff the guard excludes some level (g_lo > 0 or g_hi < last);
 *      mode is 0 exactly when NEW and MODIFY may take the ordinary path.
 *  11. Held stop orders are live slots with level == ME__HELD and flags == ME__O_HELD,
 *      linked by next/prev in arrival order from held_head to held_tail, nheld of them,
 *      in the id index like resting orders; 0 < qty <= max_qty, tif GTC, IOC, FOK or DAY,
 *      stop > 0, limit price in the level array. Between commands the election queue
 *      (q_head) is empty and epend is 0.
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
 *     LIVE (DAY) --me_book_end_of_day--> OUT EXPIRE, gone
 *
 *     NEW stop --me_new_ext, last price does not elect it--> HELD (held_append)
 *     NEW stop --me_new_ext, last price elects it--> ELECT, enter() as a plain order
 *     HELD --a trade elects it (elect_note, elect_scan)--> queued --me_cascade: ELECT,
 *          enter()--> LIVE or gone
 *     HELD --me_cancel_ext--> OUT CANCEL; --me_modify_ext--> HELD (new limit, qty)
 *
 *     iceberg (resting) --match/ice_step: visible part traded, quantity left--> refilled,
 *          at the back of its level (ice_requeue)
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
	uint8_t flags; /* ME__O_*: 0 for a plain resting order (the ordinary path's test) */
	uint8_t pad;
};
_Static_assert(sizeof(struct me_order) == 48, "order budget is 48 bytes");

#define ME__O_ICE 1u  /* a resting iceberg: ox[] holds show and visible */
#define ME__O_HELD 2u /* a held stop order: ox[] holds limit and stop price */
#define ME__HELD (UINT32_MAX - 1) /* me_order.level of a held stop order */

/* Beside each pool slot; see the layout above. */
struct me_oext {
	int64_t a; /* ICE: show; HELD: limit price */
	int64_t b; /* ICE: visible; HELD: stop (trigger) price */
};
_Static_assert(sizeof(struct me_oext) == 16, "order extension budget is 16 bytes");

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
	int64_t band_lo;    /* accepted prices [band_lo, band_hi], within the level array */
	int64_t band_hi;
	int64_t max_qty;
	struct me_level *lv; /* lv[2 * li + side]: see lvl() */
	struct me_order *ord;
	struct me_hent *ix;

	/* Cache line 1: price -> level and id -> slot arithmetic, and the mode flag. */
	uint64_t ix_mask;   /* hcap - 1 */
	int64_t tick;
	union {
		uint64_t tick_mask;  /* POW2: tick - 1 */
		uint64_t tick_magic; /* MAGIC: ceil(2^magic_shift / tick) */
	};
	int64_t base;       /* price of level 0 (me_params.price_lo) */
	int64_t lo_mod;     /* base mod tick, in [0, tick): the grid test outside the band */
	uint32_t nlevels;
	uint8_t ix_shift;   /* 64 - log2(hcap): Fibonacci hashing keeps the top bits */
	uint8_t tick_kind;
	uint8_t tick_shift; /* POW2: log2(tick) */
	uint8_t magic_shift;
	uint8_t nlayers;
	uint8_t mode;       /* ME__MODE_*: 0 on the ordinary path (one test per NEW/MODIFY) */
	uint16_t pad1;
	uint32_t nheld;     /* held stop orders: 0 on the ordinary path (one test per command) */
	int64_t last_px;    /* price of the last trade, 0 before the first */

	/* Cache line 2 on: the bitmaps, touched when a level fills or empties; then what
	 * only the special modes and the control calls read. */
	uint64_t *bm[2][ME__BM_LAYERS];
	uint32_t bm_words[ME__BM_LAYERS];
	uint32_t max_orders;
	uint64_t ix_cap;
	size_t memsize;
	int64_t top;        /* price of the last level: the band never leaves [base, top] */
	int32_t g_lo, g_hi; /* price guard as level indices: trades only at [g_lo, g_hi] */
	int64_t guard_lo, guard_hi; /* ... as given to me_book_set_guard() */

	/* Order types (off the ordinary path). */
	struct me_oext *ox;
	uint32_t nice;                 /* resting icebergs */
	uint32_t held_head, held_tail; /* held stop orders, arrival order */
	uint32_t q_head, q_tail;       /* elected stops waiting their turn (one command) */
	uint32_t epend;                /* trades since the last election scan (e_hi, e_lo) */
	int64_t e_hi, e_lo;
} __attribute__((aligned(64)));

_Static_assert(offsetof(struct me_book, ix) + sizeof(void *) <= 64,
	       "the per-command fields fit in the first cache line");
_Static_assert(offsetof(struct me_book, ix_mask) == 64, "line 1 starts with the index mask");
_Static_assert(offsetof(struct me_book, mode) < 128, "the mode flag is in line 1");
_Static_assert(offsetof(struct me_book, last_px) + sizeof(int64_t) <= 128,
	       "the held count and the last price are in line 1");

/* me_book.mode bits. Any bit set sends NEW and re-entering MODIFY to the special path. */
#define ME__MODE_AUCTION 1u /* call auction: nothing matches, the book may be crossed */
#define ME__MODE_GUARD 2u   /* price guard narrower than the level array */

/* ---------------------------------------------------------------------------------- */
/* Layout                                                                             */

struct me__layout {
	uint32_t nlevels;
	uint32_t nlayers;
	uint32_t bm_words[ME__BM_LAYERS];
	uint64_t ix_cap;
	size_t off_lv, off_ord, off_ox, off_ix, off_bm[2][ME__BM_LAYERS];
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
	L->off_lv = off; /* a bid and an ask level per price */
	off += align64((size_t)L->nlevels * 2 * sizeof(struct me_level));
	L->off_ord = off;
	off += align64(((size_t)p->max_orders + 1) * sizeof(struct me_order));
	L->off_ox = off;
	off += align64(((size_t)p->max_orders + 1) * sizeof(struct me_oext));
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
	unsigned n = bitlen64((uint64_t)b->top - (uint64_t)b->base);
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
	b->base = p->price_lo;
	b->band_lo = p->price_lo;
	b->band_hi = p->price_hi;
	b->max_qty = p->max_qty;
	b->tick = p->tick;
	b->max_orders = p->max_orders;
	b->nlevels = L.nlevels;
	b->nlayers = (uint8_t)L.nlayers;
	b->memsize = L.total;
	b->lv = (struct me_level *)(base + L.off_lv);
	b->top = (int64_t)((uint64_t)p->price_lo + (uint64_t)(L.nlevels - 1) * (uint64_t)p->tick);
	/* Prices in (top, price_hi] are off the grid: TICK whether or not the band holds
	 * them, so the band may end at top and px_index()'s offsets stay below top - base,
	 * which the tick divisor is built for. */
	b->band_hi = b->top;
	b->g_lo = 0;
	b->g_hi = (int32_t)L.nlevels - 1;
	b->guard_lo = 0;
	b->guard_hi = INT64_MAX;
	b->ord = (struct me_order *)(base + L.off_ord);
	b->ox = (struct me_oext *)(base + L.off_ox);
	b->ix = (struct me_hent *)(base + L.off_ix);
	b->ix_cap = L.ix_cap;
	b->ix_mask = L.ix_cap - 1;
	b->ix_shift = (uint8_t)(64u - (unsigned)__builtin_ctzll(L.ix_cap));
	for (int s = 0; s < 2; s++)
		for (uint32_t i = 0; i < L.nlayers; i++)
			b->bm[s][i] = (uint64_t *)(base + L.off_bm[s][i]);
	for (uint32_t i = 0; i < L.nlayers; i++)
		b->bm_words[i] = L.bm_words[i];
	b->lo_mod = p->price_lo % p->tick;
	if (b->lo_mod < 0)
		b->lo_mod += p->tick;
	tick_setup(b); /* reads base and top */

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
	if (likely(price >= b->band_lo && price <= b->band_hi)) {
		uint64_t d = (uint64_t)price - (uint64_t)b->base;
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
	/* Out of the band: on the grid iff price = base (mod tick); price > 0 here. */
	return price % b->tick != b->lo_mod ? ME_REJ_TICK : ME_REJ_BAND;
}

ME__INLINE int64_t lv_price(const struct me_book *b, uint32_t li)
{
	return (int64_t)((uint64_t)b->base + (uint64_t)li * (uint64_t)b->tick);
}

/* Level li of a side. The two sides of a price sit side by side: an index, no load and
 * no select (two separate arrays cost ~5% on the quoting mix through the select). */
ME__INLINE struct me_level *lvl(const struct me_book *b, int side, uint32_t li)
{
	return b->lv + ((size_t)li << 1 | (unsigned)side);
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

/* Does an order of this tif rest? */
ME__INLINE bool tif_rests(unsigned tif)
{
	return tif == ME_GTC || tif == ME_POST || tif == ME_DAY;
}

/* tif_rests() for a tif known to be at most ME_DAY: one compare (IOC and FOK are the
 * two that do not rest). */
ME__INLINE bool tif_rests_ok(unsigned tif)
{
	_Static_assert(ME_FOK == ME_IOC + 1 && ME_DAY == ME_POST + 1, "tif values");
	return tif - ME_IOC > ME_FOK - ME_IOC;
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
	struct me_level *l = lvl(b, o->side, li);

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
	struct me_level *l = lvl(b, o->side, li);

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
	struct me_level *l = lvl(b, o->side, o->level);

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
 * The hash: h = (id ^ (id >> 32)) * 2^64/phi, a bijection on 64 bits (the fold keeps the
 * top half and adds it into the bottom half; the multiplier is odd). The home slot is h's
 * top log2(hcap) bits and the entry keeps h's top 32 bits as a fingerprint. The fold
 * makes every bit of the id reach the top of the product: with the product alone (plain
 * Fibonacci hashing), ids that differ only in their high bits in a pattern matching the
 * multiplier's inverse land in a handful of home slots, and 100,000 such ids took 11 s of
 * linear probing where sequential ids take 30 ms (test_book's test_id_index_mixing).
 * Sequential ids stay one per slot, as with plain Fibonacci hashing. hcap <= 2^31, so
 * the fingerprint holds the home slot (backward shift needs it and never reads an
 * order), and a probe reads an order only when fingerprints match: the order it wants
 * on a hit, almost never on a miss (a 2^-32 chance per entry passed). (Keeping runs of
 * consecutive ids in one line was measured too: it pays only when the index is much
 * larger than the cache, and costs ~12% at ordinary sizes through longer clusters; the
 * prefetch in me_new() recovers most of what it gains.)
 */
ME__INLINE uint64_t ix_hash(int64_t id)
{
	const uint64_t x = (uint64_t)id;
	return (x ^ (x >> 32)) * 0x9e3779b97f4a7c15ull;
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

static void elect_note(struct me_book *b, int side, int64_t first, int64_t last);

/* Moves iceberg o (slot oi, at the head of level l) to the back of l: it was refilled. */
static void ice_requeue(struct me_book *b, struct me_level *l, struct me_order *o, uint32_t oi)
{
	if (o->next == 0)
		return; /* alone in its level: the back is where it is */
	l->head = o->next;
	b->ord[o->next].prev = 0;
	o->next = 0;
	o->prev = l->tail;
	b->ord[l->tail].next = oi;
	l->tail = oi;
}

/* An iceberg's visible part reached 0: refill it from what remains. */
ME__INLINE void ice_refill(const struct me_book *b, const struct me_order *o, uint32_t oi)
{
	struct me_oext *x = &b->ox[oi];
	x->b = x->a < o->qty ? x->a : o->qty;
}

/*
 * The aggressor meets iceberg o (slot oi) at the head of level li of side opp: one trade
 * of at most its visible part. Returns 0 when the aggressor is done (the level is
 * settled: emptied and cleared from the bitmaps if need be), 1 when matching goes on at
 * the level's (new) head, 2 when the level is empty and the aggressor is not done.
 */
static __attribute__((noinline)) int ice_step(struct me_book *b, int side, uint32_t li,
					      struct me_order *o, uint32_t oi, int64_t px,
					      int64_t *qty, const struct me__aggr *a,
					      struct me_sink *s)
{
	const int opp = side ^ 1;
	struct me_level *l = lvl(b, opp, li);
	struct me_oext *x = &b->ox[oi];
	int64_t tq = *qty < x->b ? *qty : x->b;

	*qty -= tq;
	o->qty -= tq;
	x->b -= tq;
	l->total -= (uint64_t)tq;
	*ev_next(s) = (struct me_event){
		.type = ME_EV_TRADE,
		.side = (uint8_t)side,
		.id = a->id,
		.price = px,
		.qty = tq,
		.leaves = *qty,
		.user = a->user,
		.rid = o->id,
		.rleaves = o->qty,
		.ruser = o->user,
	};
	if (o->qty == 0) {
		uint32_t nx = o->next;
		l->head = nx;
		l->count--;
		if (nx)
			b->ord[nx].prev = 0;
		else
			l->tail = 0;
		b->nice--;
		o->flags = 0;
		ix_del(b, o->id);
		pool_put(b, oi, o);
		if (nx == 0) {
			if (*qty == 0) {
				lv_emptied(b, opp, li);
				return 0;
			}
			return 2;
		}
		return *qty == 0 ? 0 : 1;
	}
	if (x->b > 0)
		return 0; /* the aggressor is done; the iceberg keeps its place */
	ice_refill(b, o, oi);
	ice_requeue(b, l, o, oi);
	return *qty == 0 ? 0 : 1;
}

/*
 * Trades a (on side, limit level lim) against the other side while it crosses, best
 * level first, each level oldest first. Returns true when self-trade prevention stopped
 * it (a->qty > 0 then). side is a constant at each call site, so each side gets its own
 * straight-line copy. A resting order with flags set is an iceberg (ice_step); the
 * ordinary path pays one test of a byte of the order it reads anyway.
 */
ME__INLINE bool match(struct me_book *b, const int side, uint32_t lim, struct me__aggr *a,
		      struct me_sink *s)
{
	const int opp = side ^ 1;
	const int32_t first = b->best[opp];
	int64_t qty = a->qty, last = 0;
	uint32_t nev = 0;
	bool stp = false;

	while (side == ME_BUY ? b->best[ME_SELL] <= (int32_t)lim
			      : b->best[ME_BUY] >= (int32_t)lim) {
		const uint32_t li = (uint32_t)b->best[opp];
		struct me_level *l = lvl(b, opp, li);
		const int64_t px = lv_price(b, li);
		uint32_t oi = l->head;

		do {
			struct me_order *o = &b->ord[oi];
			if (unlikely(o->owner == a->owner && a->owner != 0)) {
				stp = true;
				goto out;
			}
			if (unlikely(o->flags)) {
				int r = ice_step(b, side, li, o, oi, px, &qty, a, s);
				nev++;
				last = px;
				if (r == 0)
					goto out;
				oi = r == 1 ? l->head : 0;
				continue;
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
			last = px;
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
	if (nev) {
		b->last_px = last;
		if (unlikely(b->nheld))
			elect_note(b, side, lv_price(b, (uint32_t)first), last);
	}
	return stp;
}

/* Can a FOK of qty on side, limit lim, owner fill completely, stopping (as match()
 * would) at the first resting order of the same non-zero owner? Icebergs: within a
 * level the aggressor meets every order once at its visible part, then the refilled
 * parts cycle at the back; so before a same-owner order it gets the visible parts (and
 * whole quantities) of the orders ahead of it, and a level without such an order gives
 * its whole total, hidden parts included. */
static bool fok_fillable(const struct me_book *b, int side, uint32_t lim, int64_t qty,
			 uint64_t owner)
{
	const int opp = side ^ 1;
	int32_t li = b->best[opp];

	while (side == ME_BUY ? li <= (int32_t)lim : li >= (int32_t)lim) {
		const struct me_level *l = lvl(b, opp, (uint32_t)li);
		if (owner == 0) {
			if (l->total >= (uint64_t)qty)
				return true;
			qty -= (int64_t)l->total;
		} else {
			int64_t hidden = 0;
			for (uint32_t oi = l->head; oi; oi = b->ord[oi].next) {
				const struct me_order *o = &b->ord[oi];
				if (o->owner == owner)
					return false;
				int64_t t = o->flags ? b->ox[oi].b : o->qty;
				if (t >= qty)
					return true;
				qty -= t;
				hidden += o->qty - t;
			}
			if (hidden >= qty)
				return true;
			qty -= hidden;
		}
		li = lv_next(b, opp, li);
	}
	return false;
}

/* ---------------------------------------------------------------------------------- */
/* The special modes: call auction and price guard (off the ordinary path)             */

/* Files a new order (or its remainder) at level li; hp is the index slot from a probe
 * made after the last change to the index. */
static void rest_new(struct me_book *b, uint64_t hp, const struct me__aggr *a, unsigned side,
		     unsigned tif, uint32_t li)
{
	uint32_t oi = pool_get(b);
	struct me_order *o = &b->ord[oi];

	o->id = a->id;
	o->qty = a->qty;
	o->owner = a->owner;
	o->user = a->user;
	o->side = (uint8_t)side;
	o->tif = (uint8_t)tif;
	o->flags = 0;
	lv_append(b, oi, o, li);
	ix_put(b, hp, a->id, oi);
}

/* Within the price guard, the limit level an aggressor on side with limit li may trade
 * to: false when not even the first trade (at the opposite best) lies inside the guard
 * or the aggressor does not cross at all. Trades walk away from the spread, so the
 * allowed ones are a prefix: for a buy, the asks in [best ask, min(li, g_hi)] when the
 * best ask is >= g_lo. */
static bool guard_lim(const struct me_book *b, int side, uint32_t li, uint32_t *lim)
{
	if (side == ME_BUY) {
		int32_t l = (int32_t)li < b->g_hi ? (int32_t)li : b->g_hi;
		if (b->best[ME_SELL] < b->g_lo || b->best[ME_SELL] > l)
			return false;
		*lim = (uint32_t)l;
	} else {
		int32_t l = (int32_t)li > b->g_lo ? (int32_t)li : b->g_lo;
		if (b->best[ME_BUY] > b->g_hi || b->best[ME_BUY] < l)
			return false;
		*lim = (uint32_t)l;
	}
	return true;
}

/* Guarded matching of a (side, limit li, crossing): the trades inside the guard; then,
 * if the aggressor still crosses and self-trade prevention did not stop it, the GUARD
 * event and the switch to auction mode (so that a GTC remainder may rest crossed).
 * Returns true when STP stopped it. */
static bool match_guarded(struct me_book *b, int side, uint32_t li, struct me__aggr *a,
			  struct me_sink *s)
{
	uint32_t glim;
	bool stp = false;

	if (guard_lim(b, side, li, &glim))
		stp = side == ME_BUY ? match(b, ME_BUY, glim, a, s) : match(b, ME_SELL, glim, a, s);
	if (a->qty > 0 && !stp && crosses(b, side, li)) {
		*ev_next(s) = (struct me_event){
			.type = ME_EV_GUARD,
			.side = (uint8_t)side,
			.id = a->id,
			.price = lv_price(b, (uint32_t)b->best[side ^ 1]),
			.qty = a->qty,
			.leaves = a->qty,
			.user = a->user,
		};
		a->nev++;
		b->mode |= ME__MODE_AUCTION;
	}
	return stp;
}

static uint32_t me_cascade(struct me_book *b, struct me_sink *s);

/* After an order that traded finished: while stops are held, elect and run them. The
 * one test the ordinary path pays for stop orders, and only when it traded. */
ME__INLINE uint32_t after_trades(struct me_book *b, struct me_sink *s, uint32_t n)
{
	if (unlikely(b->nheld))
		n += me_cascade(b, s);
	return n;
}

/* me_new() past DUP when b->mode != 0. Checks go on in the documented order: PHASE,
 * FULL, POST_CROSS. */
static __attribute__((noinline)) uint32_t me_new_special(struct me_book *b,
							 const struct me_cmd *c,
							 struct me_sink *s, uint32_t li,
							 uint64_t hp)
{
	const unsigned side = c->side, tif = c->tif;
	const bool rests = tif_rests(tif);
	struct me__aggr a = { .id = c->id, .qty = c->qty, .owner = c->owner, .user = c->user,
			      .nev = 1 };

	if (b->mode & ME__MODE_AUCTION) {
		if (!rests)
			return ev_reject(s, c->id, ME_REJ_PHASE, side, c->user, 0);
		if (b->free_head == 0)
			return ev_reject(s, c->id, ME_REJ_FULL, side, c->user, 0);
		ev_entry(s, ME_EV_ACCEPT, c->id, side, c->price, c->qty, c->user);
		rest_new(b, hp, &a, side, tif, li);
		return 1;
	}
	/* Guard only. */
	if (rests && b->free_head == 0)
		return ev_reject(s, c->id, ME_REJ_FULL, side, c->user, 0);
	const bool cross = crosses(b, (int)side, li);
	if (tif == ME_POST && cross)
		return ev_reject(s, c->id, ME_REJ_POST_CROSS, side, c->user, 0);
	ev_entry(s, ME_EV_ACCEPT, c->id, side, c->price, c->qty, c->user);
	if (tif == ME_FOK) {
		/* Fillable inside the guard or not at all; an FOK never trips the guard (it
		 * trades nothing unless it fills, so it moves no price). */
		uint32_t glim;
		if (cross && guard_lim(b, (int)side, li, &glim) &&
		    fok_fillable(b, (int)side, glim, a.qty, a.owner)) {
			if (side == ME_BUY)
				match(b, ME_BUY, glim, &a, s);
			else
				match(b, ME_SELL, glim, &a, s);
			return after_trades(b, s, a.nev);
		}
		ev_out(s, a.id, ME_OUT_FOK, side, a.qty, a.user);
		return 2;
	}
	bool stp = false;
	if (cross) {
		stp = match_guarded(b, (int)side, li, &a, s);
		if (a.qty == 0)
			return after_trades(b, s, a.nev);
	}
	if (stp || !rests) {
		ev_out(s, a.id, stp ? ME_OUT_STP : ME_OUT_IOC, side, a.qty, a.user);
		return after_trades(b, s, a.nev + 1);
	}
	uint32_t oi;
	if (cross)
		hp = ix_probe(b, a.id, &oi); /* matching may have moved index entries */
	rest_new(b, hp, &a, side, tif, li);
	return after_trades(b, s, a.nev);
}

/* me_modify() of live order o (slot oi) that re-enters at level li, when b->mode != 0.
 * In an auction it never matches and a POST is never refused for crossing. */
static __attribute__((noinline)) uint32_t me_modify_special(struct me_book *b,
							    struct me_order *o, uint32_t oi,
							    uint32_t li, int64_t price,
							    int64_t qty, struct me_sink *s)
{
	const int side = o->side;

	if (b->mode & ME__MODE_AUCTION) {
		ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
		lv_unlink(b, o);
		o->qty = qty;
		lv_append(b, oi, o, li);
		return 1;
	}
	const bool cross = crosses(b, side, li);
	if (o->tif == ME_POST && cross)
		return ev_reject(s, o->id, ME_REJ_POST_CROSS, (unsigned)side, o->user, o->qty);
	ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
	lv_unlink(b, o);
	struct me__aggr a = { .id = o->id, .qty = qty, .owner = o->owner, .user = o->user,
			      .nev = 1 };
	if (cross) {
		bool stp = match_guarded(b, side, li, &a, s);
		if (a.qty == 0 || stp) {
			if (stp) {
				ev_out(s, a.id, ME_OUT_STP, (unsigned)side, a.qty, a.user);
				a.nev++;
			}
			ix_del(b, a.id);
			pool_put(b, oi, o);
			return a.nev;
		}
	}
	o->qty = a.qty;
	lv_append(b, oi, o, li);
	return a.nev;
}

/* ---------------------------------------------------------------------------------- */
/* Order types: icebergs, stop orders (off the ordinary path)                          */

/* Takes a resting order out of the book and frees its slot (no event). */
static void drop_resting(struct me_book *b, struct me_order *o, uint32_t oi)
{
	lv_unlink(b, o);
	if (o->flags & ME__O_ICE)
		b->nice--;
	o->flags = 0;
	ix_del(b, o->id);
	pool_put(b, oi, o);
}

static void held_append(struct me_book *b, struct me_order *o, uint32_t oi)
{
	o->level = ME__HELD;
	o->flags = ME__O_HELD;
	o->next = 0;
	o->prev = b->held_tail;
	if (b->held_tail)
		b->ord[b->held_tail].next = oi;
	else
		b->held_head = oi;
	b->held_tail = oi;
	b->nheld++;
}

static void held_unlink(struct me_book *b, struct me_order *o)
{
	if (o->prev)
		b->ord[o->prev].next = o->next;
	else
		b->held_head = o->next;
	if (o->next)
		b->ord[o->next].prev = o->prev;
	else
		b->held_tail = o->prev;
	b->nheld--;
	o->flags = 0;
}

/* Takes a held stop order out and frees its slot (no event). */
static void drop_held(struct me_book *b, struct me_order *o, uint32_t oi)
{
	held_unlink(b, o);
	ix_del(b, o->id);
	pool_put(b, oi, o);
}

/* An aggressor on side traded from price first to price last (called by match() while
 * stops are held): widen the range the next election scan looks at. */
static void elect_note(struct me_book *b, int side, int64_t first, int64_t last)
{
	(void)side;
	int64_t hi = first > last ? first : last, lo = first < last ? first : last;
	if (!b->epend) {
		b->epend = 1;
		b->e_hi = hi;
		b->e_lo = lo;
		return;
	}
	if (hi > b->e_hi)
		b->e_hi = hi;
	if (lo < b->e_lo)
		b->e_lo = lo;
}

/* Moves every held stop that the noted trades elect to the back of the election queue,
 * in arrival order. */
static void elect_scan(struct me_book *b)
{
	const int64_t hi = b->e_hi, lo = b->e_lo;
	uint32_t oi = b->held_head;

	b->epend = 0;
	while (oi) {
		struct me_order *o = &b->ord[oi];
		uint32_t nx = o->next;
		int64_t stop = b->ox[oi].b;
		if (o->side == ME_BUY ? stop <= hi : stop >= lo) {
			held_unlink(b, o);
			o->next = 0;
			if (b->q_tail)
				b->ord[b->q_tail].next = oi;
			else
				b->q_head = oi;
			b->q_tail = oi;
		}
		oi = nx;
	}
}

/* Frees the slot of an order that leaves the book for good without resting. */
static void slot_free(struct me_book *b, uint32_t oi)
{
	struct me_order *o = &b->ord[oi];
	o->flags = 0;
	ix_del(b, o->id);
	pool_put(b, oi, o);
}

/*
 * Processes aggressor a (side, tif, limit level li; show > 0 for an iceberg), which has
 * passed every check and had its ACCEPT, MODIFY or ELECT event: matches as the mode
 * allows, then rests or leaves. oi is its pool slot when it has one (a modify, an
 * elected stop: kept if it rests, freed if not; not in any list), else 0 (it takes a free
 * slot if it rests: the caller made sure there is one). a->nev counts its events.
 */
static void enter(struct me_book *b, struct me__aggr *a, unsigned side, unsigned tif,
		  uint32_t li, int64_t show, uint32_t oi, struct me_sink *s)
{
	const bool rests = tif_rests(tif);
	bool stp = false;

	if (!(b->mode & ME__MODE_AUCTION)) {
		const bool cross = crosses(b, (int)side, li);
		if (tif == ME_FOK) {
			uint32_t lim = li;
			bool ok = cross &&
				  (!(b->mode & ME__MODE_GUARD) || guard_lim(b, (int)side, li, &lim)) &&
				  fok_fillable(b, (int)side, lim, a->qty, a->owner);
			if (!ok) {
				ev_out(s, a->id, ME_OUT_FOK, side, a->qty, a->user);
				a->nev++;
			} else if (side == ME_BUY) {
				match(b, ME_BUY, lim, a, s);
			} else {
				match(b, ME_SELL, lim, a, s);
			}
			goto gone;
		}
		if (cross) {
			if (b->mode & ME__MODE_GUARD)
				stp = match_guarded(b, (int)side, li, a, s);
			else
				stp = side == ME_BUY ? match(b, ME_BUY, li, a, s)
						     : match(b, ME_SELL, li, a, s);
			if (a->qty == 0)
				goto gone;
		}
		if (stp || !rests) {
			ev_out(s, a->id, stp ? ME_OUT_STP : ME_OUT_IOC, side, a->qty, a->user);
			a->nev++;
			goto gone;
		}
	}
	if (oi == 0) {
		uint32_t none;
		uint64_t hp = ix_probe(b, a->id, &none); /* matching may have moved entries */
		oi = pool_get(b);
		ix_put(b, hp, a->id, oi);
	}
	struct me_order *o = &b->ord[oi];
	o->id = a->id;
	o->qty = a->qty;
	o->owner = a->owner;
	o->user = a->user;
	o->side = (uint8_t)side;
	o->tif = (uint8_t)tif;
	o->flags = 0;
	if (show > 0) {
		o->flags = ME__O_ICE;
		b->ox[oi].a = show;
		b->ox[oi].b = show < a->qty ? show : a->qty;
		b->nice++;
	}
	lv_append(b, oi, o, li);
	return;
gone:
	if (oi)
		slot_free(b, oi);
}

/* A NEW with show or stop: every check in the documented order, then ACCEPT and either
 * held, or (ELECT and) enter(). */
static __attribute__((noinline)) uint32_t me_new_ext(struct me_book *b, const struct me_cmd *c,
						     struct me_sink *s)
{
	const unsigned side = c->side, tif = c->tif;
	const int64_t show = c->show, stop = c->stop;
	uint32_t li, oi;
	int rej;

	if ((side > ME_SELL) | (tif > ME_DAY) | (c->price <= 0) | (c->qty <= 0) | (show < 0) |
	    (stop < 0) ||
	    (show > 0 && ((tif != ME_GTC && tif != ME_DAY && tif != ME_POST) || show >= c->qty ||
			  stop != 0)) ||
	    (stop > 0 && tif == ME_POST))
		return ev_reject(s, c->id, ME_REJ_INVALID, side, c->user, 0);
	rej = px_index(b, c->price, &li);
	if (rej)
		return ev_reject(s, c->id, rej, side, c->user, 0);
	if (c->qty > b->max_qty)
		return ev_reject(s, c->id, ME_REJ_MAX_QTY, side, c->user, 0);
	uint64_t hp = ix_probe(b, c->id, &oi);
	if (oi != 0)
		return ev_reject(s, c->id, ME_REJ_DUP, side, c->user, 0);
	const bool rests = tif_rests(tif);
	const bool now = stop > 0 && b->last_px > 0 &&
			 (side == ME_BUY ? b->last_px >= stop : b->last_px <= stop);
	const bool held = stop > 0 && !now;
	const bool auction = (b->mode & ME__MODE_AUCTION) != 0;
	if (auction && !rests)
		return ev_reject(s, c->id, ME_REJ_PHASE, side, c->user, 0);
	if ((rests || held) && b->free_head == 0)
		return ev_reject(s, c->id, ME_REJ_FULL, side, c->user, 0);
	if (!auction && tif == ME_POST && crosses(b, (int)side, li))
		return ev_reject(s, c->id, ME_REJ_POST_CROSS, side, c->user, 0);
	ev_entry(s, ME_EV_ACCEPT, c->id, side, c->price, c->qty, c->user);
	if (held) {
		oi = pool_get(b);
		struct me_order *o = &b->ord[oi];
		o->id = c->id;
		o->qty = c->qty;
		o->owner = c->owner;
		o->user = c->user;
		o->side = (uint8_t)side;
		o->tif = (uint8_t)tif;
		b->ox[oi].a = c->price;
		b->ox[oi].b = stop;
		held_append(b, o, oi);
		ix_put(b, hp, c->id, oi);
		return 1;
	}
	struct me__aggr a = { .id = c->id, .qty = c->qty, .owner = c->owner, .user = c->user,
			      .nev = 1 };
	if (now) {
		ev_entry(s, ME_EV_ELECT, c->id, side, c->price, c->qty, c->user);
		a.nev++;
	}
	enter(b, &a, side, tif, li, show, 0, s);
	return after_trades(b, s, a.nev);
}

/* CANCEL of an iceberg or a held stop order (slot oi, index slot hp). */
static __attribute__((noinline)) uint32_t me_cancel_ext(struct me_book *b, struct me_order *o,
							uint32_t oi, uint64_t hp,
							struct me_sink *s)
{
	ev_out(s, o->id, ME_OUT_CANCEL, o->side, o->qty, o->user);
	if (o->flags & ME__O_HELD) {
		held_unlink(b, o);
	} else {
		lv_unlink(b, o);
		b->nice--;
		o->flags = 0;
	}
	ix_del_at(b, hp);
	pool_put(b, oi, o);
	return 1;
}

/* MODIFY of an iceberg or a held stop order, past the checks of the new values. */
static __attribute__((noinline)) uint32_t me_modify_ext(struct me_book *b, struct me_order *o,
							uint32_t oi, uint32_t li, int64_t price,
							int64_t qty, struct me_sink *s)
{
	const int side = o->side;

	if (o->flags & ME__O_HELD) {
		b->ox[oi].a = price;
		o->qty = qty;
		ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
		return 1;
	}
	struct me_oext *x = &b->ox[oi];
	if (li == o->level && qty <= o->qty) {
		lvl(b, side, li)->total -= (uint64_t)(o->qty - qty);
		o->qty = qty;
		if (x->b > qty)
			x->b = qty;
		ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
		return 1;
	}
	if (!(b->mode & ME__MODE_AUCTION) && o->tif == ME_POST && crosses(b, side, li))
		return ev_reject(s, o->id, ME_REJ_POST_CROSS, (unsigned)side, o->user, o->qty);
	ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
	const int64_t show = x->a;
	lv_unlink(b, o);
	o->flags = 0;
	b->nice--;
	struct me__aggr a = { .id = o->id, .qty = qty, .owner = o->owner, .user = o->user,
			      .nev = 1 };
	enter(b, &a, (unsigned)side, o->tif, li, show, oi, s);
	return a.nev;
}

/* One elected stop order (slot oi, off every list): ELECT, then processed as a plain
 * limit order. */
static uint32_t run_elected(struct me_book *b, uint32_t oi, struct me_sink *s)
{
	struct me_order *o = &b->ord[oi];
	const int64_t price = b->ox[oi].a;
	const unsigned side = o->side, tif = o->tif;
	uint32_t li;

	ev_entry(s, ME_EV_ELECT, o->id, side, price, o->qty, o->user);
	int rej = px_index(b, price, &li);
	if (!rej && (b->mode & ME__MODE_AUCTION) && !tif_rests(tif))
		rej = ME_REJ_PHASE;
	if (rej) {
		ev_reject(s, o->id, rej, side, o->user, 0);
		slot_free(b, oi);
		return 2;
	}
	struct me__aggr a = { .id = o->id, .qty = o->qty, .owner = o->owner, .user = o->user,
			      .nev = 1 };
	enter(b, &a, side, tif, li, 0, oi, s);
	return a.nev;
}

/* After an order, while stops are held: elect, and run the election queue dry. */
static __attribute__((noinline)) uint32_t me_cascade(struct me_book *b, struct me_sink *s)
{
	uint32_t n = 0;

	for (;;) {
		if (b->epend)
			elect_scan(b);
		uint32_t oi = b->q_head;
		if (oi == 0)
			return n;
		b->q_head = b->ord[oi].next;
		if (b->q_head == 0)
			b->q_tail = 0;
		n += run_elected(b, oi, s);
	}
}

/* ---------------------------------------------------------------------------------- */
/* Commands                                                                            */

static uint32_t me_new(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	const int64_t price = c->price;
	const unsigned side = c->side, tif = c->tif;
	uint32_t li, oi;
	int rej;

	/* Icebergs and stop orders share the INVALID test's branch. */
	if (unlikely((side > ME_SELL) | (tif > ME_DAY) | (price <= 0) | (c->qty <= 0) |
		     ((c->show | c->stop) != 0))) {
		if ((c->show | c->stop) != 0)
			return me_new_ext(b, c, s);
		return ev_reject(s, c->id, ME_REJ_INVALID, side, c->user, 0);
	}
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
	/* Auction or price guard: the one test the ordinary path pays for them. */
	if (unlikely(b->mode))
		return me_new_special(b, c, s, li, hp);
	const bool rests = tif_rests_ok(tif);
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
			return after_trades(b, s, a.nev);
	}
	if (unlikely(stp || !rests)) {
		ev_out(s, a.id, stp ? ME_OUT_STP : ME_OUT_IOC, side, a.qty, a.user);
		return cross ? after_trades(b, s, a.nev + 1) : a.nev + 1;
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
	return cross ? after_trades(b, s, a.nev) : a.nev;
}

static uint32_t me_cancel(struct me_book *b, const struct me_cmd *c, struct me_sink *s)
{
	uint32_t oi;
	uint64_t hp = ix_probe(b, c->id, &oi);

	if (unlikely(oi == 0))
		return ev_reject(s, c->id, ME_REJ_UNKNOWN, 0, 0, 0);
	struct me_order *o = &b->ord[oi];
	if (unlikely(o->flags))
		return me_cancel_ext(b, o, oi, hp, s);
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
	if (unlikely(o->flags))
		return me_modify_ext(b, o, oi, li, price, qty, s);

	const int side = o->side;
	if (li == o->level && qty <= o->qty) {
		/* Reduce in place (or nothing): the order keeps its priority. */
		lvl(b, side, li)->total -= (uint64_t)(o->qty - qty);
		o->qty = qty;
		ev_entry(s, ME_EV_MODIFY, o->id, (unsigned)side, price, qty, o->user);
		return 1;
	}
	if (unlikely(b->mode))
		return me_modify_special(b, o, oi, li, price, qty, s);
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
	uint32_t n;

	/* Held stop orders: a NEW runs them itself when it traded (after_trades()); after a
	 * MODIFY, one test here; a CANCEL trades nothing. */
	switch (c->type) {
	case ME_CMD_NEW:
		return me_new(b, c, s);
	case ME_CMD_CANCEL:
		return me_cancel(b, c, s);
	case ME_CMD_MODIFY:
		n = me_modify(b, c, s);
		return after_trades(b, s, n);
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

static uint32_t cancel_sel(struct me_book *b, uint64_t owner, uint64_t owner_mask, int side,
			   uint64_t id_mask, uint64_t id_value, uint64_t id_from,
			   struct me_sink *s)
{
	uint32_t n = 0;

	if (side != -1 && side != ME_BUY && side != ME_SELL)
		return 0;
	for (int sd = ME_BUY; sd <= ME_SELL; sd++) {
		if (side != -1 && side != sd)
			continue;
		for (int32_t li = b->best[sd]; side_valid(sd, li); li = lv_next(b, sd, li)) {
			uint32_t oi = lvl(b, sd, (uint32_t)li)->head;
			while (oi) {
				struct me_order *o = &b->ord[oi];
				uint32_t nx = o->next;
				if ((o->owner & owner_mask) == owner &&
				    ((uint64_t)o->id & id_mask) == id_value &&
				    (uint64_t)o->id >= id_from) {
					ev_out(s, o->id, ME_OUT_MASS, o->side, o->qty, o->user);
					drop_resting(b, o, oi);
					n++;
				}
				oi = nx;
			}
		}
	}
	for (uint32_t oi = b->held_head; oi;) {
		struct me_order *o = &b->ord[oi];
		uint32_t nx = o->next;
		if ((side == -1 || side == o->side) && (o->owner & owner_mask) == owner &&
		    ((uint64_t)o->id & id_mask) == id_value && (uint64_t)o->id >= id_from) {
			ev_out(s, o->id, ME_OUT_MASS, o->side, o->qty, o->user);
			drop_held(b, o, oi);
			n++;
		}
		oi = nx;
	}
	return n;
}

uint32_t me_book_end_of_day(struct me_book *b, struct me_sink *s)
{
	uint32_t n = 0;

	for (int sd = ME_BUY; sd <= ME_SELL; sd++) {
		int32_t li = b->best[sd];
		while (side_valid(sd, li)) {
			/* The next level first: expiring the last order empties this one. */
			int32_t nli = lv_next(b, sd, li);
			uint32_t oi = lvl(b, sd, (uint32_t)li)->head;
			while (oi) {
				struct me_order *o = &b->ord[oi];
				uint32_t nx = o->next;
				if (o->tif == ME_DAY) {
					ev_out(s, o->id, ME_OUT_EXPIRE, o->side, o->qty, o->user);
					drop_resting(b, o, oi);
					n++;
				}
				oi = nx;
			}
			li = nli;
		}
	}
	for (uint32_t oi = b->held_head; oi;) {
		struct me_order *o = &b->ord[oi];
		uint32_t nx = o->next;
		if (o->tif == ME_DAY) {
			ev_out(s, o->id, ME_OUT_EXPIRE, o->side, o->qty, o->user);
			drop_held(b, o, oi);
			n++;
		}
		oi = nx;
	}
	return n;
}

uint32_t me_book_cancel_where(struct me_book *b, uint64_t owner, int side, uint64_t id_mask,
			      uint64_t id_value, struct me_sink *s)
{
	return cancel_sel(b, owner, owner ? ~0ull : 0, side, id_mask, id_value, 0, s);
}

uint32_t me_book_cancel_where_from(struct me_book *b, uint64_t owner, int side,
				   uint64_t id_mask, uint64_t id_value, uint64_t id_from,
				   struct me_sink *s)
{
	return cancel_sel(b, owner, owner ? ~0ull : 0, side, id_mask, id_value, id_from, s);
}

uint32_t me_book_adopt_where(struct me_book *b, uint64_t id_mask, uint64_t id_value,
			     uint64_t owner)
{
	uint32_t n = 0;

	if (owner == 0)
		return 0;
	for (int sd = ME_BUY; sd <= ME_SELL; sd++)
		for (int32_t li = b->best[sd]; side_valid(sd, li); li = lv_next(b, sd, li))
			for (uint32_t oi = lvl(b, sd, (uint32_t)li)->head; oi; oi = b->ord[oi].next) {
				struct me_order *o = &b->ord[oi];

				if (o->owner == 0 && ((uint64_t)o->id & id_mask) == id_value) {
					o->owner = owner;
					n++;
				}
			}
	for (uint32_t oi = b->held_head; oi; oi = b->ord[oi].next) {
		struct me_order *o = &b->ord[oi];
		if (o->owner == 0 && ((uint64_t)o->id & id_mask) == id_value) {
			o->owner = owner;
			n++;
		}
	}
	return n;
}

uint32_t me_book_mass_cancel(struct me_book *b, uint64_t owner, int side, struct me_sink *s)
{
	return me_book_cancel_where(b, owner, side, 0, 0, s);
}

uint32_t me_book_cancel_owner(struct me_book *b, uint64_t owner, uint64_t owner_mask, int side,
			      struct me_sink *s)
{
	return cancel_sel(b, owner & owner_mask, owner_mask, side, 0, 0, 0, s);
}

/* ---------------------------------------------------------------------------------- */
/* Call auction, band and price guard (control calls, between commands)                 */

int me_book_set_auction(struct me_book *b, int on)
{
	if (on) {
		b->mode |= ME__MODE_AUCTION;
		return 0;
	}
	if (b->best[ME_BUY] >= b->best[ME_SELL])
		return -EBUSY; /* crossed (NO_BID = -1, NO_ASK = INT32_MAX make this exact) */
	b->mode &= (uint8_t)~ME__MODE_AUCTION;
	return 0;
}

int me_book_auction(const struct me_book *b)
{
	return (b->mode & ME__MODE_AUCTION) != 0;
}

static me__u128 u128_min(me__u128 x, me__u128 y)
{
	return x < y ? x : y;
}

static me__u128 u128_absdiff(me__u128 x, me__u128 y)
{
	return x > y ? x - y : y - x;
}

/* The uncross search's best candidate so far. */
struct me__ux {
	int32_t li; /* -1: none yet */
	me__u128 vol, imb, dem, sup;
	uint64_t dist;
};

/* Candidates: the grid levels [lo, hi] over which demand dem (bids at or above) and
 * supply sup (asks at or below) are constant; the best of them for ref is the level
 * closest to ref (the lower of two equally close). Kept when it beats u by volume, then
 * imbalance, then distance to ref; levels come in ascending order, so an exact tie keeps
 * the lower price. */
static void ux_consider(const struct me_book *b, struct me__ux *u, uint32_t lo, uint32_t hi,
			me__u128 dem, me__u128 sup, int64_t ref)
{
	uint32_t k;

	if (ref <= lv_price(b, lo)) {
		k = lo;
	} else if (ref >= lv_price(b, hi)) {
		k = hi;
	} else {
		k = (uint32_t)(((uint64_t)ref - (uint64_t)b->base) / (uint64_t)b->tick);
		/* lo <= k < hi; ref lies in [price(k), price(k + 1)). */
		uint64_t dl = (uint64_t)ref - (uint64_t)lv_price(b, k);
		uint64_t dh = (uint64_t)lv_price(b, k + 1) - (uint64_t)ref;
		if (dh < dl)
			k++;
	}
	int64_t px = lv_price(b, k);
	uint64_t dist = px > ref ? (uint64_t)px - (uint64_t)ref : (uint64_t)ref - (uint64_t)px;
	me__u128 vol = u128_min(dem, sup), imb = u128_absdiff(dem, sup);
	if (u->li >= 0 &&
	    (vol < u->vol || (vol == u->vol && (imb > u->imb || (imb == u->imb &&
							       dist >= u->dist)))))
		return;
	*u = (struct me__ux){ .li = (int32_t)k, .vol = vol, .imb = imb, .dem = dem, .sup = sup,
			      .dist = dist };
}

/*
 * The uncross price. Only levels in [best ask, best bid] can trade (below the best ask
 * nothing is supplied, above the best bid nothing demanded). Demand D(p) = bids at or
 * above p and supply S(p) = asks at or below p change only at levels where orders rest,
 * so the walk visits those levels in ascending order (the union of both sides' bitmaps)
 * and, between two of them, the open interval of empty levels as one candidate: there
 * D is the demand of the next occupied level and S the supply of the previous one.
 * O(occupied levels in the crossed range).
 */
static bool ux_find(const struct me_book *b, int64_t ref, struct me__ux *u)
{
	const int32_t A = b->best[ME_SELL], B = b->best[ME_BUY];

	u->li = -1;
	if (B < A) /* includes an empty side */
		return false;
	me__u128 dem = 0, sup = 0;
	for (int32_t li = B; li != ME__NO_BID && li >= A; li = lv_next(b, ME_BUY, li))
		dem += lvl(b, ME_BUY, (uint32_t)li)->total;
	int32_t e = A;
	while (e <= B) {
		sup += lvl(b, ME_SELL, (uint32_t)e)->total; /* zero when the level is empty */
		ux_consider(b, u, (uint32_t)e, (uint32_t)e, dem, sup, ref);
		dem -= lvl(b, ME_BUY, (uint32_t)e)->total;
		int32_t nb = bm_up(b, ME_BUY, (uint64_t)e + 1), na = bm_up(b, ME_SELL, (uint64_t)e + 1);
		int32_t n = nb < na ? nb : na;
		if (n > B)
			n = B + 1;
		if (n > e + 1)
			ux_consider(b, u, (uint32_t)e + 1, (uint32_t)n - 1, dem, sup, ref);
		e = n;
	}
	return true;
}

static int64_t sat64u(me__u128 v)
{
	return v > (me__u128)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static void ux_result(const struct me_book *b, const struct me__ux *u, struct me_uncross *r)
{
	memset(r, 0, sizeof(*r));
	if (u->li < 0) {
		r->price = INT64_MIN;
		return;
	}
	r->price = lv_price(b, (uint32_t)u->li);
	r->volume = sat64u(u128_min(u->dem, u->sup));
	r->imbalance = u->dem >= u->sup ? sat64u(u->dem - u->sup) : -sat64u(u->sup - u->dem);
}

int me_book_uncross_price(const struct me_book *b, int64_t ref_price, struct me_uncross *r)
{
	struct me__ux u;

	ux_find(b, ref_price, &u);
	ux_result(b, &u, r);
	return u.li < 0 ? -ENOENT : 0;
}

static void remove_order(struct me_book *b, struct me_order *o)
{
	drop_resting(b, o, (uint32_t)(o - b->ord));
}

/* What an uncross may trade of o at this pairing: an iceberg's visible part. */
static int64_t ux_avail(const struct me_book *b, const struct me_order *o)
{
	return o->flags ? b->ox[o - b->ord].b : o->qty;
}

/* o traded q in an uncross: an iceberg's visible part goes down, and when it is used up
 * with quantity left, it is refilled and requeued at the back of its level. */
static void ux_after(struct me_book *b, struct me_order *o, int64_t q)
{
	uint32_t oi = (uint32_t)(o - b->ord);
	if (o->qty == 0) {
		remove_order(b, o);
		return;
	}
	if (!o->flags)
		return;
	b->ox[oi].b -= q;
	if (b->ox[oi].b == 0) {
		ice_refill(b, o, oi);
		ice_requeue(b, lvl(b, o->side, o->level), o, oi);
	}
}

int me_book_uncross(struct me_book *b, int64_t ref_price, struct me_sink *s,
		    struct me_uncross *r)
{
	struct me__ux u;

	if (!ux_find(b, ref_price, &u)) {
		ux_result(b, &u, r);
		b->mode &= (uint8_t)~ME__MODE_AUCTION;
		return 0;
	}
	ux_result(b, &u, r);
	const int64_t px = r->price;
	me__u128 left = u128_min(u.dem, u.sup);
	/* The eligible bids are exactly the best D(p) of the bid side and the eligible asks
	 * the best S(p) of the ask side, so pairing the heads of the two best levels until
	 * the volume is done fills in price-time priority on both sides. */
	while (left > 0 && b->best[ME_BUY] != ME__NO_BID && b->best[ME_SELL] != ME__NO_ASK) {
		struct me_order *bo = &b->ord[lvl(b, ME_BUY, (uint32_t)b->best[ME_BUY])->head];
		struct me_order *ao = &b->ord[lvl(b, ME_SELL, (uint32_t)b->best[ME_SELL])->head];
		int64_t qb = ux_avail(b, bo), qa = ux_avail(b, ao);
		int64_t q = qb < qa ? qb : qa;
		if ((me__u128)q > left)
			q = (int64_t)left;
		bo->qty -= q;
		ao->qty -= q;
		lvl(b, ME_BUY, bo->level)->total -= (uint64_t)q;
		lvl(b, ME_SELL, ao->level)->total -= (uint64_t)q;
		left -= (uint64_t)q;
		*ev_next(s) = (struct me_event){
			.type = ME_EV_TRADE,
			.side = ME_BUY,
			.id = bo->id,
			.price = px,
			.qty = q,
			.leaves = bo->qty,
			.user = bo->user,
			.rid = ao->id,
			.rleaves = ao->qty,
			.ruser = ao->user,
		};
		r->trades++;
		ux_after(b, bo, q);
		ux_after(b, ao, q);
	}
	b->mode &= (uint8_t)~ME__MODE_AUCTION;
	if (r->trades) {
		b->last_px = px;
		if (b->nheld) {
			elect_note(b, ME_BUY, px, px);
			me_cascade(b, s);
		}
	}
	return 0;
}

int me_book_set_band(struct me_book *b, int64_t lo, int64_t hi)
{
	if (lo <= 0 || lo > hi)
		return -EINVAL;
	if (lo < b->base || hi > b->top)
		return -ERANGE;
	b->band_lo = lo;
	b->band_hi = hi;
	return 0;
}

void me_book_band(const struct me_book *b, int64_t *lo, int64_t *hi)
{
	if (lo)
		*lo = b->band_lo;
	if (hi)
		*hi = b->band_hi;
}

void me_book_range(const struct me_book *b, int64_t *lo, int64_t *hi)
{
	if (lo)
		*lo = b->base;
	if (hi)
		*hi = b->top;
}

int me_book_extent(const struct me_book *b, int64_t *lo, int64_t *hi)
{
	if (b->live == b->nheld)
		return -ENOENT; /* nothing rests (held stop orders have no level) */
	/* Bids run from the lowest bid level up to best[ME_BUY], asks from best[ME_SELL] up
	 * to the highest ask level; in an auction the two may overlap. */
	int32_t l = b->best[ME_SELL], h = b->best[ME_BUY];
	int32_t low_bid = bm_up(b, ME_BUY, 0);
	int32_t high_ask = bm_down(b, ME_SELL, (int64_t)b->nlevels - 1);
	if (low_bid != ME__NO_ASK && low_bid < l)
		l = low_bid;
	if (high_ask != ME__NO_BID && high_ask > h)
		h = high_ask;
	*lo = lv_price(b, (uint32_t)l);
	*hi = lv_price(b, (uint32_t)h);
	return 0;
}

int me_book_shift(struct me_book *b, int64_t new_lo)
{
	const __int128 diff = (__int128)new_lo - b->base;
	if (diff % b->tick != 0)
		return -EINVAL;
	const __int128 span = (__int128)(b->nlevels - 1) * b->tick;
	if ((__int128)new_lo + span > INT64_MAX)
		return -EINVAL;
	const int64_t new_top = (int64_t)((__int128)new_lo + span);
	int64_t olo, ohi;
	if (me_book_extent(b, &olo, &ohi) == 0 && (olo < new_lo || ohi > new_top))
		return -ERANGE;
	const __int128 d = diff / b->tick; /* level li becomes li - d */
	if (d == 0)
		return 0;
	const size_t n = b->nlevels, pair = 2 * sizeof(struct me_level);
	/* Only empty levels fall off an end: every order's level is inside (checked). */
	if (d >= (__int128)n || -d >= (__int128)n) {
		memset(b->lv, 0, n * pair);
	} else if (d > 0) {
		size_t k = (size_t)d;
		memmove(b->lv, b->lv + 2 * k, (n - k) * pair);
		memset(b->lv + 2 * (n - k), 0, k * pair);
	} else {
		size_t k = (size_t)-d;
		memmove(b->lv + 2 * k, b->lv, (n - k) * pair);
		memset(b->lv, 0, k * pair);
	}
	/* The orders' level fields, the bitmaps and the best levels, from the moved levels. */
	for (int sd = 0; sd < 2; sd++)
		for (uint32_t k = 0; k < b->nlayers; k++)
			memset(b->bm[sd][k], 0, (size_t)b->bm_words[k] * sizeof(uint64_t));
	b->best[ME_BUY] = ME__NO_BID;
	b->best[ME_SELL] = ME__NO_ASK;
	for (uint32_t li = 0; li < n; li++)
		for (int sd = 0; sd < 2; sd++) {
			const struct me_level *l = lvl(b, sd, li);
			if (l->head == 0)
				continue;
			for (uint32_t oi = l->head; oi; oi = b->ord[oi].next)
				b->ord[oi].level = li;
			lv_filled(b, sd, li);
		}
	b->base = new_lo;
	b->top = new_top; /* same span: the tick divisor holds as it is */
	int64_t blo = b->band_lo > new_lo ? b->band_lo : new_lo;
	int64_t bhi = b->band_hi < new_top ? b->band_hi : new_top;
	if (blo > bhi) {
		blo = new_lo;
		bhi = new_top;
	}
	b->band_lo = blo;
	b->band_hi = bhi;
	me_book_set_guard(b, b->guard_lo, b->guard_hi);
	return 0;
}

int me_book_set_guard(struct me_book *b, int64_t lo, int64_t hi)
{
	const int32_t last = (int32_t)b->nlevels - 1;
	int32_t glo, ghi;

	if (lo > hi)
		return -EINVAL;
	if (lo <= b->base) {
		glo = 0;
	} else {
		uint64_t d = (uint64_t)lo - (uint64_t)b->base;
		uint64_t q = d / (uint64_t)b->tick + (d % (uint64_t)b->tick != 0);
		glo = q > (uint64_t)b->nlevels ? (int32_t)b->nlevels : (int32_t)q;
	}
	if (hi < b->base) {
		ghi = -1;
	} else {
		uint64_t q = ((uint64_t)hi - (uint64_t)b->base) / (uint64_t)b->tick;
		ghi = q > (uint64_t)last ? last : (int32_t)q;
	}
	b->g_lo = glo;
	b->g_hi = ghi;
	b->guard_lo = lo;
	b->guard_hi = hi;
	if (glo > 0 || ghi < last)
		b->mode |= ME__MODE_GUARD;
	else
		b->mode &= (uint8_t)~ME__MODE_GUARD;
	return 0;
}

void me_book_guard(const struct me_book *b, int64_t *lo, int64_t *hi)
{
	if (lo)
		*lo = b->guard_lo;
	if (hi)
		*hi = b->guard_hi;
}

static int64_t sat64(me__u128 v)
{
	return v > (me__u128)INT64_MAX ? INT64_MAX : (int64_t)v;
}

/* The quantity a level shows: its total, less the hidden parts of its icebergs. */
static me__u128 lv_shown(const struct me_book *b, int side, uint32_t li)
{
	const struct me_level *l = lvl(b, side, li);
	if (b->nice == 0)
		return l->total;
	me__u128 t = 0;
	for (uint32_t oi = l->head; oi; oi = b->ord[oi].next)
		t += (uint64_t)(b->ord[oi].flags ? b->ox[oi].b : b->ord[oi].qty);
	return t;
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
		*qty = sat64(lv_shown(b, side, (uint32_t)li));
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
			qty[k] = sat64(lv_shown(b, side, (uint32_t)li));
	}
	return k;
}

static void view(const struct me_book *b, const struct me_order *o, struct me_order_view *v)
{
	const struct me_oext *x = &b->ox[o - b->ord];

	memset(v, 0, sizeof(*v));
	v->id = o->id;
	v->qty = o->qty;
	v->owner = o->owner;
	v->user = o->user;
	v->side = o->side;
	v->tif = o->tif;
	v->visible = o->qty;
	if (o->flags & ME__O_HELD) {
		v->price = x->a;
		v->stop = x->b;
		return;
	}
	v->price = lv_price(b, o->level);
	if (o->flags & ME__O_ICE) {
		v->show = x->a;
		v->visible = x->b;
	}
}

int me_book_walk(const struct me_book *b, me_walk_cb cb, void *arg)
{
	struct me_order_view v;

	for (int sd = ME_BUY; sd <= ME_SELL; sd++)
		for (int32_t li = b->best[sd]; side_valid(sd, li); li = lv_next(b, sd, li))
			for (uint32_t oi = lvl(b, sd, (uint32_t)li)->head; oi;
			     oi = b->ord[oi].next) {
				view(b, &b->ord[oi], &v);
				int rc = cb(arg, &v);
				if (rc)
					return rc;
			}
	return 0;
}

int me_book_walk_held(const struct me_book *b, me_walk_cb cb, void *arg)
{
	struct me_order_view v;

	for (uint32_t oi = b->held_head; oi; oi = b->ord[oi].next) {
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

uint32_t me_book_held(const struct me_book *b)
{
	return b->nheld;
}

int64_t me_book_last_price(const struct me_book *b)
{
	return b->last_px;
}

int me_book_set_last_price(struct me_book *b, int64_t price)
{
	if (price < 0)
		return -EINVAL;
	b->last_px = price;
	return 0;
}

/* Level index of a price anywhere in the level array (not only the band), or -1. */
static int64_t arr_index(const struct me_book *b, int64_t price)
{
	if (price < b->base || price > b->top)
		return -1;
	uint64_t d = (uint64_t)price - (uint64_t)b->base;
	if (d % (uint64_t)b->tick != 0)
		return -1;
	return (int64_t)(d / (uint64_t)b->tick);
}

int me_book_restore(struct me_book *b, const struct me_order_view *v)
{
	uint32_t oi;

	if ((v->side != ME_BUY && v->side != ME_SELL) || v->qty <= 0 || v->qty > b->max_qty ||
	    v->price <= 0 || v->show < 0 || v->stop < 0)
		return -EINVAL;
	int64_t li = arr_index(b, v->price);
	if (li < 0)
		return -EINVAL;
	if (v->stop > 0) {
		if (v->show != 0 || v->tif == ME_POST || v->tif > ME_DAY)
			return -EINVAL;
	} else if (!tif_rests(v->tif) ||
		   (v->show > 0 ? (v->visible <= 0 || v->visible > v->show ||
				   v->visible > v->qty)
				: v->visible != v->qty)) {
		return -EINVAL;
	}
	uint64_t hp = ix_probe(b, v->id, &oi);
	if (oi != 0)
		return -EEXIST;
	if (b->free_head == 0)
		return -ENOSPC;
	oi = pool_get(b);
	struct me_order *o = &b->ord[oi];
	o->id = v->id;
	o->qty = v->qty;
	o->owner = v->owner;
	o->user = v->user;
	o->side = v->side;
	o->tif = v->tif;
	o->flags = 0;
	ix_put(b, hp, v->id, oi);
	if (v->stop > 0) {
		b->ox[oi].a = v->price;
		b->ox[oi].b = v->stop;
		held_append(b, o, oi);
		return 0;
	}
	if (v->show > 0) {
		o->flags = ME__O_ICE;
		b->ox[oi].a = v->show;
		b->ox[oi].b = v->visible;
		b->nice++;
	}
	lv_append(b, oi, o, (uint32_t)li);
	return 0;
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
			const struct me_level *l = lvl(b, sd, li);
			bool set = (b->bm[sd][0][li >> 6] >> (li & 63)) & 1;
			bool want = l->head != 0;
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
	for (uint32_t oi = 1; oi <= b->max_orders; oi++) {
		if (b->ord[oi].level != ME__FREE)
			nlive++;
		else
			CHECK(b->ord[oi].flags == 0, "inv 3: free slot with flags");
	}
	CHECK(nlive == b->live, "inv 1: live count disagrees with the pool");
	CHECK(nlive + nfree == b->max_orders, "inv 1: live + free != max_orders");

	/* 2, 3, 4 (sides of a level): the level lists. */
	uint64_t nlisted = 0, nice = 0;
	for (uint32_t lix = 0; lix < 2 * b->nlevels; lix++) {
		const int lside = lix < b->nlevels ? ME_BUY : ME_SELL;
		const uint32_t li = lix < b->nlevels ? lix : lix - b->nlevels;
		const struct me_level *l = lvl(b, lside, li);
		if (l->head == 0) {
			CHECK(l->tail == 0 && l->count == 0 && l->total == 0,
			      "inv 2: empty level with a tail, count or total");
			continue;
		}
		uint32_t prev = 0, n = 0;
		me__u128 total = 0;
		for (uint32_t oi = l->head; oi; oi = b->ord[oi].next) {
			const struct me_order *o = &b->ord[oi];
			CHECK(oi <= b->max_orders, "inv 2: link out of range");
			CHECK(o->level == li, "inv 2: order's level field names another level");
			CHECK(o->prev == prev, "inv 2: prev link broken");
			CHECK(o->side == lside, "inv 4: order in the other side's level array");
			CHECK(o->qty > 0 && o->qty <= b->max_qty, "inv 3: order qty out of range");
			CHECK(tif_rests(o->tif), "inv 3: resting order not GTC/POST/DAY");
			CHECK(o->flags == 0 || o->flags == ME__O_ICE, "inv 3: resting order's flags");
			if (o->flags) {
				const struct me_oext *x = &b->ox[oi];
				CHECK(x->b > 0 && x->b <= x->a && x->b <= o->qty,
				      "inv 3: iceberg's visible part out of range");
				nice++;
			}
			CHECK(++n <= b->max_orders, "inv 2: level list has a cycle");
			total += (uint64_t)o->qty;
			prev = oi;
		}
		CHECK(l->tail == prev, "inv 2: tail is not the last order");
		CHECK(l->count == n, "inv 2: level count wrong");
		CHECK(l->total == total, "inv 2: level total wrong");
		nlisted += n;
	}
	CHECK(nice == b->nice, "inv 3: iceberg count wrong");

	/* 11: the held stop orders. */
	uint64_t nheld = 0;
	uint32_t hprev = 0;
	for (uint32_t oi = b->held_head; oi; oi = b->ord[oi].next) {
		const struct me_order *o = &b->ord[oi];
		CHECK(oi <= b->max_orders, "inv 11: held link out of range");
		CHECK(o->level == ME__HELD && o->flags == ME__O_HELD, "inv 11: held order's marks");
		CHECK(o->prev == hprev, "inv 11: held prev link broken");
		CHECK(o->qty > 0 && o->qty <= b->max_qty, "inv 11: held order qty out of range");
		CHECK(o->side <= ME_SELL && o->tif <= ME_DAY && o->tif != ME_POST,
		      "inv 11: held order's side or tif");
		CHECK(b->ox[oi].b > 0 && b->ox[oi].a > 0, "inv 11: held order's prices");
		CHECK(++nheld <= b->max_orders, "inv 11: held list has a cycle");
		hprev = oi;
	}
	CHECK(b->held_tail == hprev, "inv 11: held tail is not the last");
	CHECK(nheld == b->nheld, "inv 11: held count wrong");
	CHECK(b->q_head == 0 && b->q_tail == 0 && b->epend == 0,
	      "inv 11: election queue not empty between commands");
	CHECK(nlisted + nheld == nlive, "inv 2: live orders missing from the level lists");

	rc = check_bitmaps(b, what);
	if (rc)
		return rc;

	/* 5, 6: best levels and no crossing. */
	int32_t bb = ME__NO_BID, ba = ME__NO_ASK;
	for (uint32_t li = 0; li < b->nlevels; li++) {
		if (lvl(b, ME_BUY, li)->head != 0)
			bb = (int32_t)li;
		if (lvl(b, ME_SELL, li)->head != 0 && ba == ME__NO_ASK)
			ba = (int32_t)li;
	}
	CHECK(b->best[ME_BUY] == bb, "inv 5: best bid is not the highest bid level");
	CHECK(b->best[ME_SELL] == ba, "inv 5: best ask is not the lowest ask level");
	CHECK(bb < ba || (b->mode & ME__MODE_AUCTION), "inv 6: book crossed outside an auction");
	CHECK(b->band_lo >= b->base && b->band_hi <= b->top && b->band_lo <= b->band_hi,
	      "inv 9: band outside the level array");
	CHECK(((b->mode & ME__MODE_GUARD) != 0) ==
		      (b->g_lo > 0 || b->g_hi < (int32_t)b->nlevels - 1),
	      "inv 10: guard mode bit disagrees with the guard");

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

uint64_t me_book_ix_displacement(const struct me_book *b, uint64_t *max)
{
	uint64_t sum = 0, mx = 0;

	for (uint64_t i = 0; i < b->ix_cap; i++) {
		if (b->ix[i].oi == 0)
			continue;
		uint64_t d = (i - ix_home_fp(b, b->ix[i].fp)) & b->ix_mask;
		sum += d;
		if (d > mx)
			mx = d;
	}
	if (max)
		*max = mx;
	return sum;
}

/* ---------------------------------------------------------------------------------- */
/* Snapshots: the parameters a book was laid out with, so that me_snap.c can record     */
/* them and check that a snapshot is loaded into a book of the same shape.             */

#include "me_snap.h"

int me_book_params(const struct me_book *b, struct me_params *p)
{
	if (b == NULL || p == NULL)
		return -EINVAL;
	memset(p, 0, sizeof(*p));
	p->price_lo = b->base;
	p->price_hi = b->top; /* the last level: me_book_init() gives the same layout */
	p->tick = b->tick;
	p->max_qty = b->max_qty;
	p->max_orders = b->max_orders;
	return 0;
}
