/*
 * ho_sw.c - the sw backend: a C model of the target's top-N price-level table, the
 * reference the RTL is checked against (offload.h, "Level-table semantics").
 *
 * Role: the emulated device's exec for the sw backend and the software half of shadow
 * mode; runs on the matching core inside tkx_off_doorbell(). Allocated once at open.
 *
 * Invariants (per book, per side):
 *  1. px[0..n) strictly ordered best first (bids descending, asks ascending), n <= N.
 *  2. qty[i] > 0 for i < n.
 *  3. trunc == 0 means the table holds every level of the side the host has told it of.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ho_internal.h"

struct ho_side {
	int64_t px[TKX_OFF_MAX_LEVELS];
	int64_t qty[TKX_OFF_MAX_LEVELS];
	uint32_t n;
	uint32_t trunc;
};

struct ho_sw {
	uint32_t n_levels;
	uint32_t n_books;
	struct ho_side t[][2];
};

void *ho_sw_open(uint32_t n_levels, uint32_t n_books)
{
	if (n_levels == 0 || n_levels > TKX_OFF_MAX_LEVELS || n_books == 0 ||
	    n_books > TKX_OFF_MAX_BOOKS) {
		errno = EINVAL;
		return NULL;
	}
	struct ho_sw *s = calloc(1, sizeof(*s) + (size_t)n_books * sizeof(s->t[0]));
	if (s == NULL)
		return NULL;
	s->n_levels = n_levels;
	s->n_books = n_books;
	return s;
}

void ho_sw_close(void *dev)
{
	free(dev);
}

/* Is a strictly better than b on this side? */
static int ho_better(int side, int64_t a, int64_t b)
{
	return side == TKX_OFF_BID ? a > b : a < b;
}

static void ho_remove(struct ho_side *s, uint32_t i)
{
	memmove(&s->px[i], &s->px[i + 1], (s->n - i - 1) * sizeof(s->px[0]));
	memmove(&s->qty[i], &s->qty[i + 1], (s->n - i - 1) * sizeof(s->qty[0]));
	s->n--;
}

/* Returns the index of p, or -1 with *ins the index it would be inserted at. */
static int ho_find(const struct ho_side *s, int side, int64_t p, uint32_t *ins)
{
	uint32_t i = 0;
	while (i < s->n && ho_better(side, s->px[i], p))
		i++;
	*ins = i;
	return i < s->n && s->px[i] == p ? (int)i : -1;
}

static uint8_t ho_add(struct ho_side *s, int side, uint32_t cap, int64_t p, int64_t q)
{
	uint32_t i;
	int at = ho_find(s, side, p, &i);
	if (at >= 0) {
		s->qty[at] += q;
		return 0;
	}
	if (i >= cap) { /* worse than the worst of a full table: beyond our N */
		s->trunc = 1;
		return 0;
	}
	if (s->n == cap) { /* the worst level leaves to make room */
		s->n--;
		s->trunc = 1;
	}
	memmove(&s->px[i + 1], &s->px[i], (s->n - i) * sizeof(s->px[0]));
	memmove(&s->qty[i + 1], &s->qty[i], (s->n - i) * sizeof(s->qty[0]));
	s->px[i] = p;
	s->qty[i] = q;
	s->n++;
	return 0;
}

static uint8_t ho_sub(struct ho_side *s, int side, int64_t p, int64_t q)
{
	uint32_t i;
	int at = ho_find(s, side, p, &i);
	if (at < 0)
		/* Beyond a truncated table: a level we do not hold. Anything else is unknown. */
		return s->trunc && i == s->n ? 0 : TKX_OFF_EV_ERR;
	if (q > s->qty[at])
		return TKX_OFF_EV_ERR;
	s->qty[at] -= q;
	if (s->qty[at] > 0)
		return 0;
	ho_remove(s, (uint32_t)at);
	return s->trunc ? TKX_OFF_EV_MISS : 0;
}

static uint8_t ho_refill(struct ho_side *s, int side, uint32_t cap, int64_t p, int64_t q)
{
	if (q == 0) {
		s->trunc = 0;
		return 0;
	}
	if (s->n == cap || (s->n > 0 && !ho_better(side, s->px[s->n - 1], p)))
		return TKX_OFF_EV_ERR;
	s->px[s->n] = p;
	s->qty[s->n] = q;
	s->n++;
	return 0;
}

void ho_sw_exec(void *dev, const struct tkx_off_cmd *c, struct tkx_off_ev *e)
{
	struct ho_sw *m = dev;
	if (c->book >= m->n_books || c->side > TKX_OFF_ASK || c->qty < 0 ||
	    ((c->op == TKX_OFF_ADD || c->op == TKX_OFF_SUB) && c->qty == 0)) {
		e->flags = TKX_OFF_EV_ERR;
		return;
	}
	struct ho_side *t = m->t[c->book];
	struct ho_side *s = &t[c->side];
	switch (c->op) {
	case TKX_OFF_ADD:
		e->flags = ho_add(s, c->side, m->n_levels, c->price, c->qty);
		break;
	case TKX_OFF_SUB:
		e->flags = ho_sub(s, c->side, c->price, c->qty);
		break;
	case TKX_OFF_REFILL:
		e->flags = ho_refill(s, c->side, m->n_levels, c->price, c->qty);
		break;
	case TKX_OFF_CLEAR: /* both sides, as the RTL's hw_book does */
		memset(t, 0, 2 * sizeof(*t));
		e->flags = 0;
		break;
	default:
		e->flags = TKX_OFF_EV_ERR;
		return;
	}
	e->n_bid = (uint8_t)t[0].n;
	e->n_ask = (uint8_t)t[1].n;
	e->trunc = (uint8_t)(t[0].trunc | t[1].trunc << 1);
	if (t[0].n) {
		e->bid_price = t[0].px[0];
		e->bid_qty = t[0].qty[0];
	}
	if (t[1].n) {
		e->ask_price = t[1].px[0];
		e->ask_qty = t[1].qty[0];
	}
}
