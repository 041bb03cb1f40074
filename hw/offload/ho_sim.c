/*
 * ho_sim.c - the sim backend: the RTL's Verilator model (hw/sim/hw_sim.h) as the
 * emulated device's level table, one hw_sim per book. Built only when the tokex_hwsim
 * library exists (verilator installed): TKX_OFF_HAVE_SIM. Otherwise opening it fails
 * with ENOTSUP and says why.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ho_internal.h"

#ifndef TKX_OFF_HAVE_SIM

int ho_sim_open(struct ho_chan *ch, uint32_t n_levels, uint32_t n_books, char *err,
		size_t errlen)
{
	(void)ch;
	(void)n_levels;
	(void)n_books;
	if (err && errlen)
		snprintf(err, errlen, "offload sim: not built: tokex_hwsim (hw/sim, needs "
			 "verilator) was absent when tokex was configured");
	return -ENOTSUP;
}

#else

#include "hw_sim.h"

struct ho_sim {
	uint32_t n_books;
	uint32_t n_levels;
	struct hw_sim *b[];
};

static void ho_sim_close(void *dev)
{
	struct ho_sim *s = dev;
	for (uint32_t i = 0; i < s->n_books; i++)
		if (s->b[i])
			hw_sim_close(s->b[i]);
	free(s);
}

/* The RTL's result codes (hw_book.v out_code). */
#define HO_RTL_OK 0
#define HO_RTL_MISS 1
#define HO_RTL_REJECT 2

static void ho_sim_exec(void *dev, const struct tkx_off_cmd *c, struct tkx_off_ev *e)
{
	struct ho_sim *s = dev;
	struct hw_sim_result r;
	int64_t px[TKX_OFF_MAX_LEVELS], qty[TKX_OFF_MAX_LEVELS];
	if (c->book >= s->n_books || c->side > TKX_OFF_ASK) {
		e->flags = TKX_OFF_EV_ERR;
		return;
	}
	struct hw_sim *h = s->b[c->book];
	memset(&r, 0, sizeof(r));
	/* REFILL of quantity 0 is the protocol's "nothing more to refill" marker (it clears
	 * the C model's truncated flag); the RTL holds no such flag and would REJECT a zero
	 * quantity, so the marker never reaches it. */
	int rc = c->op == TKX_OFF_REFILL && c->qty == 0 ? 0 :
		 hw_sim_op(h, c->op, c->side, c->price, c->qty, &r);
	/* REJECT, or a SUB of a level the table lacks, is a refused command; a MISS of an
	 * ADD (beyond a full table) is the C model's "truncated", not an error. */
	if (rc < 0 || r.code == HO_RTL_REJECT || (r.code == HO_RTL_MISS && c->op == TKX_OFF_SUB))
		e->flags = TKX_OFF_EV_ERR;
	else if (r.code == HO_RTL_MISS)
		e->trunc = (uint8_t)(1u << c->side);
	int nb = hw_sim_top(h, TKX_OFF_BID, px, qty, s->n_levels);
	if (nb > 0) {
		e->bid_price = px[0];
		e->bid_qty = qty[0];
	}
	int na = hw_sim_top(h, TKX_OFF_ASK, px, qty, s->n_levels);
	if (na > 0) {
		e->ask_price = px[0];
		e->ask_qty = qty[0];
	}
	e->n_bid = (uint8_t)(nb > 0 ? nb : 0);
	e->n_ask = (uint8_t)(na > 0 ? na : 0);
}

int ho_sim_open(struct ho_chan *ch, uint32_t n_levels, uint32_t n_books, char *err,
		size_t errlen)
{
	struct ho_sim *s = calloc(1, sizeof(*s) + n_books * sizeof(s->b[0]));
	if (s == NULL)
		return -ENOMEM;
	s->n_books = n_books;
	s->n_levels = n_levels;
	for (uint32_t i = 0; i < n_books; i++) {
		s->b[i] = hw_sim_open(n_levels);
		if (s->b[i] == NULL) {
			int e = errno ? errno : EIO;
			ho_sim_close(s);
			if (err && errlen)
				snprintf(err, errlen, "offload sim: hw_sim_open(%u): %s", n_levels,
					 strerror(e));
			return -e;
		}
	}
	ch->dev = s;
	ch->exec = ho_sim_exec;
	ch->dev_close = ho_sim_close;
	return 0;
}

#endif
