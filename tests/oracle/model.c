/*
 * model.c - the reference model of the matching engine (see model.h): a flat array of
 * live orders, linear scans and sorted copies. Written from me_book.h's text, not from
 * me_book.c, so that a misreading in one shows up as a difference against the other.
 */
#include "model.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* ---- small helpers -------------------------------------------------------------- */

static int side_ok(int side)
{
	return side == ME_BUY || side == ME_SELL;
}

/* Does an order of side `side` with limit `limit` cross a resting price `rp`? */
static int crosses(int side, int64_t limit, int64_t rp)
{
	return side == ME_BUY ? rp <= limit : rp >= limit;
}

/* Is resting order a ahead of resting order b (same side) in priority? */
static int ahead(const struct mdl_ord *a, const struct mdl_ord *b)
{
	if (a->price != b->price)
		return a->side == ME_BUY ? a->price > b->price : a->price < b->price;
	return a->seq < b->seq;
}

/* Book order: bids first, then asks; priority within a side. */
static int book_before(const struct mdl_ord *a, const struct mdl_ord *b)
{
	if (a->side != b->side)
		return a->side < b->side;
	return ahead(a, b);
}

/* The sorts below are insertion sorts: the model's arrays are small and this keeps the
 * code free of a qsort comparator that needs the array through a global. */
static void sort_idx(const struct mdl *m, uint32_t *ix, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		uint32_t v = ix[i], j = i;
		while (j > 0 && book_before(&m->ord[v], &m->ord[ix[j - 1]])) {
			ix[j] = ix[j - 1];
			j--;
		}
		ix[j] = v;
	}
}

static int64_t find_idx(const struct mdl *m, int64_t id)
{
	for (uint32_t i = 0; i < m->n; i++)
		if (m->ord[i].qty > 0 && m->ord[i].id == id)
			return i;
	return -1;
}

/* Drops the dead slots (qty 0) left by matching. */
static void compact(struct mdl *m)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < m->n; i++)
		if (m->ord[i].qty > 0)
			m->ord[k++] = m->ord[i];
	m->n = k;
}

/* Live orders of `side` that an order with limit `limit` on the other side crosses,
 * in the order it would meet them; into m->scratch, returns how many. */
static uint32_t crossing(struct mdl *m, int aggr_side, int64_t limit)
{
	uint32_t k = 0;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->qty > 0 && o->side != aggr_side && crosses(aggr_side, limit, o->price))
			m->scratch[k++] = i;
	}
	sort_idx(m, m->scratch, k);
	return k;
}

/* ---- events: every field convention of me_event lives here ---------------------- */

static struct me_event *ev_new(struct me_event *ev, uint32_t *k, uint8_t type,
			       uint8_t reason, int side, int64_t id, uint64_t user)
{
	struct me_event *e = &ev[(*k)++];
	memset(e, 0, sizeof(*e));
	e->type = type;
	e->reason = reason;
	e->side = (uint8_t)side;
	e->id = id;
	e->user = user;
	return e;
}

/* A refused command, with the fields me_book.h assigns a REJECT: a NEW (or an unknown
 * command type) echoes the command's side and user; an UNKNOWN names only the id. */
static void ev_reject(struct me_event *ev, uint32_t *k, const struct me_cmd *c, int why)
{
	if (why == ME_REJ_UNKNOWN)
		ev_new(ev, k, ME_EV_REJECT, (uint8_t)why, 0, c->id, 0);
	else
		ev_new(ev, k, ME_EV_REJECT, (uint8_t)why, c->side, c->id, c->user);
}

/* A refused MODIFY of a live order: the order's side and user, and its unchanged
 * remaining quantity as leaves. */
static void ev_reject_live(struct me_event *ev, uint32_t *k, const struct mdl_ord *o, int why)
{
	struct me_event *e = ev_new(ev, k, ME_EV_REJECT, (uint8_t)why, o->side, o->id, o->user);
	e->leaves = o->qty;
}

static void ev_out(struct me_event *ev, uint32_t *k, const struct mdl_ord *o, int64_t qty,
		   int why)
{
	struct me_event *e = ev_new(ev, k, ME_EV_OUT, (uint8_t)why, o->side, o->id, o->user);
	e->qty = qty;
	e->leaves = 0;
}

/* ---- matching ------------------------------------------------------------------- */

/* Matches aggressor a (not in the book) against the opposite side. a->qty is its
 * remaining quantity on entry and on return; returns 1 if it was stopped by STP (its
 * remainder already reported as OUT/STP and zeroed). */
static int match(struct mdl *m, struct mdl_ord *a, struct me_event *ev, uint32_t *k,
		 int *traded_levels)
{
	uint32_t nx = crossing(m, a->side, a->price);
	int64_t last_price = 0;
	int started = 0;

	*traded_levels = 0;
	for (uint32_t i = 0; i < nx && a->qty > 0; i++) {
		struct mdl_ord *r = &m->ord[m->scratch[i]];
		if (a->owner != 0 && r->owner == a->owner) {
			if (started)
				m->paths.stp_after_trade++;
			ev_out(ev, k, a, a->qty, ME_OUT_STP);
			a->qty = 0;
			return 1;
		}
		int64_t t = a->qty < r->qty ? a->qty : r->qty;
		a->qty -= t;
		r->qty -= t;
		struct me_event *e = ev_new(ev, k, ME_EV_TRADE, 0, a->side, a->id, a->user);
		e->price = r->price;
		e->qty = t;
		e->leaves = a->qty;
		e->rid = r->id;
		e->rleaves = r->qty;
		e->ruser = r->user;
		if (!started || r->price != last_price)
			(*traded_levels)++;
		started = 1;
		last_price = r->price;
	}
	return 0;
}

/* Can FOK aggressor a fill completely before meeting a same-owner order? */
static int fok_fillable(struct mdl *m, const struct mdl_ord *a)
{
	uint32_t nx = crossing(m, a->side, a->price);
	int64_t cum = 0;

	for (uint32_t i = 0; i < nx; i++) {
		const struct mdl_ord *r = &m->ord[m->scratch[i]];
		if (a->owner != 0 && r->owner == a->owner) {
			m->paths.fok_stp_blocked++; /* cum < a->qty here */
			return 0;
		}
		cum += r->qty;
		if (cum >= a->qty)
			return 1;
	}
	return 0;
}

static int would_cross(const struct mdl *m, int side, int64_t price)
{
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->qty > 0 && o->side != side && crosses(side, price, o->price))
			return 1;
	}
	return 0;
}

/* Contract checks shared by NEW and MODIFY: 0 or the me_rej reason. */
static int contract_check(const struct mdl *m, int64_t price, int64_t qty)
{
	if ((price - m->p.price_lo) % m->p.tick != 0)
		return ME_REJ_TICK;
	if (price < m->p.price_lo || price > m->p.price_hi)
		return ME_REJ_BAND;
	if (qty > m->p.max_qty)
		return ME_REJ_MAX_QTY;
	return 0;
}

static void rest(struct mdl *m, const struct mdl_ord *a)
{
	struct mdl_ord *o = &m->ord[m->n++];
	*o = *a;
	o->seq = m->seq_tail++;
}

static uint32_t do_new(struct mdl *m, const struct me_cmd *c, struct me_event *ev)
{
	uint32_t k = 0;
	int why;

	if (!side_ok(c->side) || c->tif > ME_POST || c->price <= 0 || c->qty <= 0) {
		ev_reject(ev, &k, c, ME_REJ_INVALID);
		return k;
	}
	why = contract_check(m, c->price, c->qty);
	if (why == 0 && find_idx(m, c->id) >= 0)
		why = ME_REJ_DUP;
	if (why == 0 && (c->tif == ME_GTC || c->tif == ME_POST) && m->n >= m->p.max_orders)
		why = ME_REJ_FULL;
	if (why == 0 && c->tif == ME_POST && would_cross(m, c->side, c->price))
		why = ME_REJ_POST_CROSS;
	if (why) {
		ev_reject(ev, &k, c, why);
		return k;
	}

	struct mdl_ord a = {
		.id = c->id, .price = c->price, .qty = c->qty, .owner = c->owner,
		.user = c->user, .side = c->side, .tif = c->tif,
	};
	struct me_event *e = ev_new(ev, &k, ME_EV_ACCEPT, 0, a.side, a.id, a.user);
	e->price = a.price;
	e->qty = a.qty;
	e->leaves = a.qty;

	if (a.tif == ME_FOK) {
		if (!fok_fillable(m, &a)) {
			ev_out(ev, &k, &a, a.qty, ME_OUT_FOK);
			return k;
		}
		m->paths.fok_filled++;
	}
	int levels;
	int64_t q0 = a.qty;
	int stopped = match(m, &a, ev, &k, &levels);
	if (levels >= 2)
		m->paths.multi_level++;
	compact(m);
	if (stopped || a.qty == 0)
		return k;
	if (a.tif == ME_IOC) {
		ev_out(ev, &k, &a, a.qty, ME_OUT_IOC);
		return k;
	}
	/* GTC or POST (a POST got here only because it crossed nothing). */
	if (a.qty < q0)
		m->paths.gtc_partial_rest++;
	rest(m, &a);
	return k;
}

static uint32_t do_cancel(struct mdl *m, const struct me_cmd *c, struct me_event *ev)
{
	uint32_t k = 0;
	int64_t i = find_idx(m, c->id);

	if (i < 0) {
		ev_reject(ev, &k, c, ME_REJ_UNKNOWN);
		return k;
	}
	ev_out(ev, &k, &m->ord[i], m->ord[i].qty, ME_OUT_CANCEL);
	m->ord[i].qty = 0;
	compact(m);
	return k;
}

static uint32_t do_modify(struct mdl *m, const struct me_cmd *c, struct me_event *ev)
{
	uint32_t k = 0;
	int64_t i = find_idx(m, c->id);
	int why;

	if (i < 0) {
		ev_reject(ev, &k, c, ME_REJ_UNKNOWN);
		return k;
	}
	struct mdl_ord *o = &m->ord[i];
	if (c->price <= 0 || c->qty <= 0) {
		ev_reject_live(ev, &k, o, ME_REJ_INVALID);
		return k;
	}
	why = contract_check(m, c->price, c->qty);
	if (why) {
		ev_reject_live(ev, &k, o, why);
		return k;
	}
	if (c->price == o->price && c->qty <= o->qty) {
		o->qty = c->qty;
		struct me_event *e = ev_new(ev, &k, ME_EV_MODIFY, 0, o->side, o->id, o->user);
		e->price = o->price;
		e->qty = o->qty;
		e->leaves = o->qty;
		m->paths.mod_in_place++;
		return k;
	}
	if (o->tif == ME_POST && would_cross(m, o->side, c->price)) {
		ev_reject_live(ev, &k, o, ME_REJ_POST_CROSS);
		return k;
	}

	struct mdl_ord a = *o;
	o->qty = 0; /* leaves the book */
	a.price = c->price;
	a.qty = c->qty;
	struct me_event *e = ev_new(ev, &k, ME_EV_MODIFY, 0, a.side, a.id, a.user);
	e->price = a.price;
	e->qty = a.qty;
	e->leaves = a.qty;
	m->paths.mod_reenter++;

	int levels;
	uint32_t k0 = k;
	int stopped = match(m, &a, ev, &k, &levels);
	if (k > k0 + (uint32_t)stopped)
		m->paths.mod_cross++;
	if (stopped)
		m->paths.mod_stp++;
	compact(m);
	if (!stopped && a.qty > 0)
		rest(m, &a);
	return k;
}

/* ---- public --------------------------------------------------------------------- */

int mdl_init(struct mdl *m, const struct me_params *p)
{
	memset(m, 0, sizeof(*m));
	if (p->tick < 1 || p->max_qty < 1 || p->max_orders < 1 || p->price_hi < p->price_lo)
		return -EINVAL;
	m->p = *p;
	m->ord = calloc(p->max_orders, sizeof(*m->ord));
	m->scratch = calloc(p->max_orders, sizeof(*m->scratch));
	if (!m->ord || !m->scratch) {
		mdl_fini(m);
		return -ENOMEM;
	}
	m->seq_tail = 1;
	m->seq_head = 0;
	return 0;
}

void mdl_fini(struct mdl *m)
{
	free(m->ord);
	free(m->scratch);
	m->ord = NULL;
	m->scratch = NULL;
	m->n = 0;
}

uint32_t mdl_apply(struct mdl *m, const struct me_cmd *c, struct me_event *ev)
{
	switch (c->type) {
	case ME_CMD_NEW:
		return do_new(m, c, ev);
	case ME_CMD_CANCEL:
		return do_cancel(m, c, ev);
	case ME_CMD_MODIFY:
		return do_modify(m, c, ev);
	default: {
		uint32_t k = 0;
		ev_reject(ev, &k, c, ME_REJ_INVALID);
		return k;
	}
	}
}

int mdl_seed(struct mdl *m, int64_t id, int side, int64_t price, int64_t qty,
	     uint64_t owner, uint64_t user, int at_head)
{
	if (!side_ok(side) || price <= 0 || qty <= 0 || qty > m->p.max_qty ||
	    (price - m->p.price_lo) % m->p.tick != 0 || price < m->p.price_lo ||
	    price > m->p.price_hi) {
		m->paths.seed_einval++;
		return -EINVAL;
	}
	if (find_idx(m, id) >= 0) {
		m->paths.seed_eexist++;
		return -EEXIST;
	}
	if (m->n >= m->p.max_orders) {
		m->paths.seed_enospc++;
		return -ENOSPC;
	}
	if (would_cross(m, side, price)) {
		m->paths.seed_edom++;
		return -EDOM;
	}
	struct mdl_ord *o = &m->ord[m->n];
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->side = (uint8_t)side;
	o->price = price;
	o->qty = qty;
	o->owner = owner;
	o->user = user;
	o->tif = ME_GTC;
	if (at_head) {
		for (uint32_t i = 0; i < m->n; i++)
			if (m->ord[i].side == side && m->ord[i].price == price) {
				m->paths.seed_head++;
				break;
			}
		o->seq = m->seq_head--;
	} else {
		o->seq = m->seq_tail++;
	}
	m->n++;
	m->paths.seed_ok++;
	return 0;
}

uint32_t mdl_mass_cancel(struct mdl *m, uint64_t owner, int side, struct me_event *ev)
{
	uint32_t n = 0, k = 0;

	for (uint32_t i = 0; i < m->n; i++)
		m->scratch[n++] = i;
	sort_idx(m, m->scratch, n);
	for (uint32_t j = 0; j < n; j++) {
		struct mdl_ord *o = &m->ord[m->scratch[j]];
		if ((owner == 0 || o->owner == owner) && (side < 0 || o->side == side)) {
			ev_out(ev, &k, o, o->qty, ME_OUT_MASS);
			o->qty = 0;
		}
	}
	compact(m);
	return k;
}

uint32_t mdl_walk(struct mdl *m, struct me_order_view *v)
{
	uint32_t n = 0;

	for (uint32_t i = 0; i < m->n; i++)
		m->scratch[n++] = i;
	sort_idx(m, m->scratch, n);
	for (uint32_t j = 0; j < n; j++) {
		const struct mdl_ord *o = &m->ord[m->scratch[j]];
		memset(&v[j], 0, sizeof(v[j]));
		v[j].id = o->id;
		v[j].price = o->price;
		v[j].qty = o->qty;
		v[j].owner = o->owner;
		v[j].user = o->user;
		v[j].side = o->side;
		v[j].tif = o->tif;
	}
	return n;
}

int mdl_best(const struct mdl *m, int side, int64_t *price, int64_t *qty)
{
	int found = 0;
	int64_t bp = 0, bq = 0;

	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->side != side)
			continue;
		if (!found || (side == ME_BUY ? o->price > bp : o->price < bp)) {
			bp = o->price;
			bq = 0;
			found = 1;
		}
		if (o->price == bp)
			bq += o->qty;
	}
	if (!found)
		return -ENOENT;
	*price = bp;
	*qty = bq;
	return 0;
}

uint32_t mdl_depth(struct mdl *m, int side, int64_t *price, int64_t *qty, uint32_t n)
{
	uint32_t k = 0, got = 0;

	for (uint32_t i = 0; i < m->n; i++)
		if (m->ord[i].side == side)
			m->scratch[k++] = i;
	sort_idx(m, m->scratch, k);
	for (uint32_t j = 0; j < k; j++) {
		const struct mdl_ord *o = &m->ord[m->scratch[j]];
		if (got > 0 && price[got - 1] == o->price) {
			qty[got - 1] += o->qty;
			continue;
		}
		if (got == n)
			break;
		price[got] = o->price;
		qty[got] = o->qty;
		got++;
	}
	return got;
}

int mdl_find(const struct mdl *m, int64_t id, struct me_order_view *v)
{
	int64_t i = find_idx(m, id);

	if (i < 0)
		return -ENOENT;
	const struct mdl_ord *o = &m->ord[i];
	memset(v, 0, sizeof(*v));
	v->id = o->id;
	v->price = o->price;
	v->qty = o->qty;
	v->owner = o->owner;
	v->user = o->user;
	v->side = o->side;
	v->tif = o->tif;
	return 0;
}

uint32_t mdl_count(const struct mdl *m)
{
	return m->n;
}

int mdl_check(const struct mdl *m, const char **what)
{
	int64_t bid, ask, q;

	if (m->n > m->p.max_orders) {
		*what = "more live orders than max_orders";
		return -EFAULT;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->qty < 1 || !side_ok(o->side) ||
		    (o->tif != ME_GTC && o->tif != ME_POST) ||
		    contract_check(m, o->price, 1) != 0) {
			*what = "live order with a bad field";
			return -EFAULT;
		}
		for (uint32_t j = i + 1; j < m->n; j++)
			if (m->ord[j].id == o->id || m->ord[j].seq == o->seq) {
				*what = "duplicate id or seq";
				return -EFAULT;
			}
	}
	if (mdl_best(m, ME_BUY, &bid, &q) == 0 && mdl_best(m, ME_SELL, &ask, &q) == 0 &&
	    bid >= ask) {
		*what = "crossed book";
		return -EFAULT;
	}
	return 0;
}
