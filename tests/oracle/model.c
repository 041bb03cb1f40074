/*
 * model.c - the reference model of the matching engine (see model.h): a flat array of
 * live orders, linear scans and sorted copies. Written from me_book.h's text, not from
 * me_book.c, so that a misreading in one shows up as a difference against the other.
 * Where me_book.c computes (an FOK's fillable quantity, an iceberg's place in its queue,
 * which stops a sweep elects), the model simulates: it runs the matching loop itself, on
 * a copy of the book for an FOK, and compares every held stop with every trade price.
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

static int rests(int tif)
{
	return tif == ME_GTC || tif == ME_POST || tif == ME_DAY;
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

static int64_t find_held(const struct mdl *m, int64_t id)
{
	for (uint32_t i = 0; i < m->nheld; i++)
		if (m->held[i].id == id)
			return i;
	return -1;
}

static void held_remove(struct mdl *m, uint32_t i)
{
	memmove(&m->held[i], &m->held[i + 1], (m->nheld - i - 1) * sizeof(m->held[0]));
	m->nheld--;
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

/* What the book shows of a resting order. */
static int64_t shown(const struct mdl_ord *o)
{
	return o->show > 0 ? o->vis : o->qty;
}

/* The resting order an aggressor (side, limit) meets next: the best crossing one on the
 * other side, or -1. */
static int64_t next_crossing(const struct mdl *m, int aggr_side, int64_t limit)
{
	int64_t best = -1;
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->qty > 0 && o->side != aggr_side && crosses(aggr_side, limit, o->price) &&
		    (best < 0 || ahead(o, &m->ord[best])))
			best = i;
	}
	return best;
}

/* ---- events: every field convention of me_event lives here ---------------------- */

static struct me_event *ev_new(struct mdl *m, uint8_t type, uint8_t reason, int side,
			       int64_t id, uint64_t user)
{
	static struct me_event sink; /* dry runs write here */
	struct me_event *e = &sink;
	if (!m->dry) {
		if (m->nev == m->evcap) {
			uint32_t cap = m->evcap ? 2 * m->evcap : 64;
			struct me_event *ev = realloc(m->ev, cap * sizeof(*ev));
			if (ev == NULL)
				abort(); /* a test's model: out of memory ends the test */
			m->ev = ev;
			m->evcap = cap;
		}
		e = &m->ev[m->nev++];
	}
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
static void ev_reject(struct mdl *m, const struct me_cmd *c, int why)
{
	if (why == ME_REJ_UNKNOWN)
		ev_new(m, ME_EV_REJECT, (uint8_t)why, 0, c->id, 0);
	else
		ev_new(m, ME_EV_REJECT, (uint8_t)why, c->side, c->id, c->user);
}

/* A refused MODIFY of a live order: the order's side and user, and its unchanged
 * remaining quantity as leaves. */
static void ev_reject_live(struct mdl *m, const struct mdl_ord *o, int why)
{
	struct me_event *e = ev_new(m, ME_EV_REJECT, (uint8_t)why, o->side, o->id, o->user);
	e->leaves = o->qty;
}

static void ev_out(struct mdl *m, const struct mdl_ord *o, int64_t qty, int why)
{
	struct me_event *e = ev_new(m, ME_EV_OUT, (uint8_t)why, o->side, o->id, o->user);
	e->qty = qty;
	e->leaves = 0;
}

/* ACCEPT, MODIFY and ELECT: price and qty, leaves = qty. */
static void ev_entry(struct mdl *m, uint8_t type, const struct mdl_ord *o)
{
	struct me_event *e = ev_new(m, type, 0, o->side, o->id, o->user);
	e->price = o->price;
	e->qty = o->qty;
	e->leaves = o->qty;
}

/* ---- matching ------------------------------------------------------------------- */

/* What one order's processing traded: for the stop elections after it. */
struct traded {
	int any;
	int64_t hi, lo;
};

static void count(struct mdl *m, uint64_t *c)
{
	if (!m->dry)
		(*c)++;
}

/* Matches aggressor a (not in the book) against the opposite side, one meeting at a
 * time: the best crossing order, at most its visible part if it is an iceberg, which is
 * then refilled and sent to the back of its level when that part is used up. a->qty is
 * its remaining quantity on entry and on return; returns 1 if self-trade prevention
 * stopped it (a->qty > 0 then, nothing reported yet). */
static int match(struct mdl *m, struct mdl_ord *a, struct traded *t, int *levels)
{
	int started = 0;
	int64_t last_price = 0;

	*levels = 0;
	while (a->qty > 0) {
		int64_t i = next_crossing(m, a->side, a->price);
		if (i < 0)
			break;
		struct mdl_ord *r = &m->ord[i];
		if (a->owner != 0 && r->owner == a->owner) {
			if (started)
				count(m, &m->paths.stp_after_trade);
			return 1;
		}
		int64_t q = a->qty < shown(r) ? a->qty : shown(r);
		a->qty -= q;
		r->qty -= q;
		struct me_event *e = ev_new(m, ME_EV_TRADE, 0, a->side, a->id, a->user);
		e->price = r->price;
		e->qty = q;
		e->leaves = a->qty;
		e->rid = r->id;
		e->rleaves = r->qty;
		e->ruser = r->user;
		if (r->show > 0) {
			r->vis -= q;
			if (r->vis == 0 && r->qty > 0) {
				r->vis = r->show < r->qty ? r->show : r->qty;
				r->seq = m->seq_tail++;
				count(m, &m->paths.ice_refill);
				if (a->qty > 0)
					count(m, &m->paths.ice_refill_mid);
			}
		}
		if (!started || r->price != last_price)
			(*levels)++;
		started = 1;
		last_price = r->price;
		if (!t->any || r->price > t->hi)
			t->hi = r->price;
		if (!t->any || r->price < t->lo)
			t->lo = r->price;
		t->any = 1;
		if (!m->dry)
			m->last_px = r->price;
	}
	return 0;
}

/* Would FOK aggressor a fill completely? Run the matching itself on a copy of the book
 * and see; then put the book back. */
static int fok_fillable(struct mdl *m, const struct mdl_ord *a)
{
	struct mdl_ord d = *a;
	struct traded t = { 0 };
	int levels, refilled;
	uint32_t n = m->n;
	int64_t seq = m->seq_tail;
	uint64_t refills = m->paths.ice_refill;

	memcpy(m->save, m->ord, n * sizeof(m->ord[0]));
	m->dry = 1;
	int stopped = match(m, &d, &t, &levels);
	m->dry = 0;
	refilled = seq != m->seq_tail;
	memcpy(m->ord, m->save, n * sizeof(m->ord[0]));
	m->n = n;
	m->seq_tail = seq;
	m->paths.ice_refill = refills;
	if (stopped && d.qty > 0)
		count(m, &m->paths.fok_stp_blocked);
	if (d.qty == 0 && refilled)
		count(m, &m->paths.fok_ice_filled);
	return d.qty == 0;
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
	o->stop = 0;
	if (o->show > 0) {
		o->vis = o->show < o->qty ? o->show : o->qty;
		count(m, &m->paths.ice_rested);
	}
}

/* Processes aggressor a (its ACCEPT, MODIFY or ELECT already reported) as its tif says:
 * FOK, matching, then the remainder rests or leaves. Adds its trades to t. */
static void process(struct mdl *m, struct mdl_ord *a, struct traded *t, int *stp_out)
{
	int levels = 0;
	int64_t q0 = a->qty;

	*stp_out = 0;
	if (a->tif == ME_FOK) {
		if (!fok_fillable(m, a)) {
			ev_out(m, a, a->qty, ME_OUT_FOK);
			return;
		}
		count(m, &m->paths.fok_filled);
	}
	int stopped = match(m, a, t, &levels);
	if (levels >= 2)
		count(m, &m->paths.multi_level);
	compact(m);
	if (stopped) {
		ev_out(m, a, a->qty, ME_OUT_STP);
		*stp_out = 1;
		return;
	}
	if (a->qty == 0)
		return;
	if (!rests(a->tif)) {
		ev_out(m, a, a->qty, ME_OUT_IOC);
		return;
	}
	if (a->qty < q0)
		count(m, &m->paths.gtc_partial_rest);
	rest(m, a);
}

/* Is held stop h elected by a trade in [lo, hi]? */
static int elected(const struct mdl_ord *h, const struct traded *t)
{
	return t->any && (h->side == ME_BUY ? h->stop <= t->hi : h->stop >= t->lo);
}

/* The held stops t elects join the back of the queue, in arrival order. */
static void elect(struct mdl *m, const struct traded *t)
{
	uint32_t i = 0;
	while (i < m->nheld) {
		if (elected(&m->held[i], t)) {
			m->queue[m->nq++] = m->held[i];
			held_remove(m, i);
		} else {
			i++;
		}
	}
}

/* After an order finished: elect, then run the queue dry, first in first out. */
static void cascade(struct mdl *m, const struct traded *first)
{
	elect(m, first);
	while (m->nq > 0) {
		struct mdl_ord a = m->queue[0];
		memmove(&m->queue[0], &m->queue[1], (m->nq - 1) * sizeof(m->queue[0]));
		m->nq--;
		count(m, &m->paths.stop_elected);
		ev_entry(m, ME_EV_ELECT, &a);
		a.stop = 0;
		struct traded t = { 0 };
		int stp;
		uint32_t before = m->nq;
		process(m, &a, &t, &stp);
		elect(m, &t);
		if (m->nq > before)
			count(m, &m->paths.stop_cascade);
	}
}

static uint32_t do_new(struct mdl *m, const struct me_cmd *c)
{
	int why;

	int bad = !side_ok(c->side) || c->tif > ME_DAY || c->price <= 0 || c->qty <= 0 ||
		  c->show < 0 || c->stop < 0;
	if (c->show > 0 && (!(c->tif == ME_GTC || c->tif == ME_DAY || c->tif == ME_POST) ||
			    c->show >= c->qty || c->stop != 0))
		bad = 1;
	if (c->stop > 0 && c->tif == ME_POST)
		bad = 1;
	if (bad) {
		ev_reject(m, c, ME_REJ_INVALID);
		return m->nev;
	}
	int now = c->stop > 0 && m->last_px > 0 &&
		  (c->side == ME_BUY ? m->last_px >= c->stop : m->last_px <= c->stop);
	int held = c->stop > 0 && !now;
	why = contract_check(m, c->price, c->qty);
	if (why == 0 && (find_idx(m, c->id) >= 0 || find_held(m, c->id) >= 0))
		why = ME_REJ_DUP;
	if (why == 0 && (rests(c->tif) || held) && m->n + m->nheld >= m->p.max_orders)
		why = ME_REJ_FULL;
	if (why == 0 && c->tif == ME_POST && would_cross(m, c->side, c->price))
		why = ME_REJ_POST_CROSS;
	if (why) {
		ev_reject(m, c, why);
		return m->nev;
	}

	struct mdl_ord a = {
		.id = c->id, .price = c->price, .qty = c->qty, .owner = c->owner,
		.user = c->user, .side = c->side, .tif = c->tif, .show = c->show,
		.stop = c->stop,
	};
	ev_entry(m, ME_EV_ACCEPT, &a);
	if (held) {
		m->held[m->nheld++] = a;
		count(m, &m->paths.stop_held);
		return m->nev;
	}
	if (now) {
		count(m, &m->paths.stop_now);
		ev_entry(m, ME_EV_ELECT, &a);
		a.stop = 0;
	}
	struct traded t = { 0 };
	int stp;
	process(m, &a, &t, &stp);
	cascade(m, &t);
	return m->nev;
}

static uint32_t do_cancel(struct mdl *m, const struct me_cmd *c)
{
	int64_t i = find_idx(m, c->id);

	if (i < 0) {
		int64_t h = find_held(m, c->id);
		if (h < 0) {
			ev_reject(m, c, ME_REJ_UNKNOWN);
			return m->nev;
		}
		ev_out(m, &m->held[h], m->held[h].qty, ME_OUT_CANCEL);
		held_remove(m, (uint32_t)h);
		return m->nev;
	}
	ev_out(m, &m->ord[i], m->ord[i].qty, ME_OUT_CANCEL);
	m->ord[i].qty = 0;
	compact(m);
	return m->nev;
}

static uint32_t do_modify(struct mdl *m, const struct me_cmd *c)
{
	int64_t i = find_idx(m, c->id);
	int64_t h = i < 0 ? find_held(m, c->id) : -1;
	int why;

	if (i < 0 && h < 0) {
		ev_reject(m, c, ME_REJ_UNKNOWN);
		return m->nev;
	}
	struct mdl_ord *o = i >= 0 ? &m->ord[i] : &m->held[h];
	if (c->price <= 0 || c->qty <= 0) {
		ev_reject_live(m, o, ME_REJ_INVALID);
		return m->nev;
	}
	why = contract_check(m, c->price, c->qty);
	if (why) {
		ev_reject_live(m, o, why);
		return m->nev;
	}
	if (h >= 0) { /* a held stop: new limit and quantity, same place */
		o->price = c->price;
		o->qty = c->qty;
		ev_entry(m, ME_EV_MODIFY, o);
		count(m, &m->paths.stop_modified);
		return m->nev;
	}
	if (c->price == o->price && c->qty <= o->qty) {
		o->qty = c->qty;
		if (o->show > 0 && o->vis > o->qty)
			o->vis = o->qty;
		ev_entry(m, ME_EV_MODIFY, o);
		count(m, &m->paths.mod_in_place);
		return m->nev;
	}
	if (o->tif == ME_POST && would_cross(m, o->side, c->price)) {
		ev_reject_live(m, o, ME_REJ_POST_CROSS);
		return m->nev;
	}

	struct mdl_ord a = *o;
	o->qty = 0; /* leaves the book */
	a.price = c->price;
	a.qty = c->qty;
	ev_entry(m, ME_EV_MODIFY, &a);
	count(m, &m->paths.mod_reenter);

	uint32_t k0 = m->nev;
	struct traded t = { 0 };
	int stp;
	process(m, &a, &t, &stp);
	if (t.any)
		count(m, &m->paths.mod_cross);
	if (stp)
		count(m, &m->paths.mod_stp);
	(void)k0;
	cascade(m, &t);
	return m->nev;
}

/* ---- public --------------------------------------------------------------------- */

int mdl_init(struct mdl *m, const struct me_params *p)
{
	memset(m, 0, sizeof(*m));
	if (p->tick < 1 || p->max_qty < 1 || p->max_orders < 1 || p->price_hi < p->price_lo)
		return -EINVAL;
	m->p = *p;
	m->ord = calloc(p->max_orders, sizeof(*m->ord));
	m->held = calloc(p->max_orders, sizeof(*m->held));
	m->queue = calloc(p->max_orders, sizeof(*m->queue));
	m->save = calloc(p->max_orders, sizeof(*m->save));
	m->scratch = calloc(p->max_orders, sizeof(*m->scratch));
	if (!m->ord || !m->held || !m->queue || !m->save || !m->scratch) {
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
	free(m->held);
	free(m->queue);
	free(m->save);
	free(m->scratch);
	free(m->ev);
	m->ord = m->held = m->queue = m->save = NULL;
	m->scratch = NULL;
	m->ev = NULL;
	m->n = m->nheld = m->nq = m->nev = m->evcap = 0;
}

uint32_t mdl_apply(struct mdl *m, const struct me_cmd *c)
{
	m->nev = 0;
	switch (c->type) {
	case ME_CMD_NEW:
		return do_new(m, c);
	case ME_CMD_CANCEL:
		return do_cancel(m, c);
	case ME_CMD_MODIFY:
		return do_modify(m, c);
	default:
		ev_reject(m, c, ME_REJ_INVALID);
		return m->nev;
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
	if (find_idx(m, id) >= 0 || find_held(m, id) >= 0) {
		m->paths.seed_eexist++;
		return -EEXIST;
	}
	if (m->n + m->nheld >= m->p.max_orders) {
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

/* Resting orders in book order (into m->scratch); returns how many. */
static uint32_t book_order(struct mdl *m)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < m->n; i++)
		m->scratch[n++] = i;
	sort_idx(m, m->scratch, n);
	return n;
}

uint32_t mdl_mass_cancel(struct mdl *m, uint64_t owner, int side)
{
	m->nev = 0;
	uint32_t n = book_order(m);
	for (uint32_t j = 0; j < n; j++) {
		struct mdl_ord *o = &m->ord[m->scratch[j]];
		if ((owner == 0 || o->owner == owner) && (side < 0 || o->side == side)) {
			ev_out(m, o, o->qty, ME_OUT_MASS);
			o->qty = 0;
		}
	}
	compact(m);
	uint32_t i = 0;
	while (i < m->nheld) {
		struct mdl_ord *o = &m->held[i];
		if ((owner == 0 || o->owner == owner) && (side < 0 || o->side == side)) {
			ev_out(m, o, o->qty, ME_OUT_MASS);
			held_remove(m, i);
		} else {
			i++;
		}
	}
	return m->nev;
}

uint32_t mdl_end_of_day(struct mdl *m)
{
	m->nev = 0;
	uint32_t n = book_order(m);
	for (uint32_t j = 0; j < n; j++) {
		struct mdl_ord *o = &m->ord[m->scratch[j]];
		if (o->tif == ME_DAY) {
			ev_out(m, o, o->qty, ME_OUT_EXPIRE);
			o->qty = 0;
			m->paths.day_expired++;
		}
	}
	compact(m);
	uint32_t i = 0;
	while (i < m->nheld) {
		if (m->held[i].tif == ME_DAY) {
			ev_out(m, &m->held[i], m->held[i].qty, ME_OUT_EXPIRE);
			held_remove(m, i);
			m->paths.day_expired++;
		} else {
			i++;
		}
	}
	return m->nev;
}

static void to_view(const struct mdl_ord *o, struct me_order_view *v)
{
	memset(v, 0, sizeof(*v));
	v->id = o->id;
	v->price = o->price;
	v->qty = o->qty;
	v->owner = o->owner;
	v->user = o->user;
	v->side = o->side;
	v->tif = o->tif;
	v->show = o->show;
	v->visible = o->show > 0 ? o->vis : o->qty;
	v->stop = o->stop;
}

uint32_t mdl_walk(struct mdl *m, struct me_order_view *v)
{
	uint32_t n = book_order(m);
	for (uint32_t j = 0; j < n; j++)
		to_view(&m->ord[m->scratch[j]], &v[j]);
	return n;
}

uint32_t mdl_walk_held(const struct mdl *m, struct me_order_view *v)
{
	for (uint32_t i = 0; i < m->nheld; i++)
		to_view(&m->held[i], &v[i]);
	return m->nheld;
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
			bq += shown(o);
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
			qty[got - 1] += shown(o);
			continue;
		}
		if (got == n)
			break;
		price[got] = o->price;
		qty[got] = shown(o);
		got++;
	}
	return got;
}

int mdl_find(const struct mdl *m, int64_t id, struct me_order_view *v)
{
	int64_t i = find_idx(m, id);

	if (i >= 0) {
		to_view(&m->ord[i], v);
		return 0;
	}
	i = find_held(m, id);
	if (i < 0)
		return -ENOENT;
	to_view(&m->held[i], v);
	return 0;
}

uint32_t mdl_count(const struct mdl *m)
{
	return m->n + m->nheld;
}

int mdl_check(const struct mdl *m, const char **what)
{
	int64_t bid, ask, q;

	if (m->n + m->nheld > m->p.max_orders) {
		*what = "more live orders than max_orders";
		return -EFAULT;
	}
	for (uint32_t i = 0; i < m->n; i++) {
		const struct mdl_ord *o = &m->ord[i];
		if (o->qty < 1 || !side_ok(o->side) || !rests(o->tif) ||
		    contract_check(m, o->price, 1) != 0 || o->stop != 0 ||
		    (o->show > 0 && (o->vis < 1 || o->vis > o->show || o->vis > o->qty))) {
			*what = "live order with a bad field";
			return -EFAULT;
		}
		for (uint32_t j = i + 1; j < m->n; j++)
			if (m->ord[j].id == o->id || m->ord[j].seq == o->seq) {
				*what = "duplicate id or seq";
				return -EFAULT;
			}
		if (find_held(m, o->id) >= 0) {
			*what = "an id both resting and held";
			return -EFAULT;
		}
	}
	for (uint32_t i = 0; i < m->nheld; i++)
		for (uint32_t j = i + 1; j < m->nheld; j++)
			if (m->held[i].id == m->held[j].id) {
				*what = "duplicate held id";
				return -EFAULT;
			}
	if (m->nq != 0) {
		*what = "election queue not empty between commands";
		return -EFAULT;
	}
	if (mdl_best(m, ME_BUY, &bid, &q) == 0 && mdl_best(m, ME_SELL, &ask, &q) == 0 &&
	    bid >= ask) {
		*what = "crossed book";
		return -EFAULT;
	}
	return 0;
}
