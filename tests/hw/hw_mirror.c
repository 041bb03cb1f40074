/*
 * hw_mirror.c - the hw tests' software mirror of the top-N engine protocol (see
 * hw_mirror.h).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hw_mirror.h"

#define PRINT_MAX 10

/* Is a strictly better than b on side? */
static int better(int side, int64_t a, int64_t b)
{
	return side == 0 ? a > b : a < b;
}

int hwm_init(struct hwm *m, unsigned n, uint32_t k, int64_t base, int64_t tick)
{
	memset(m, 0, sizeof(*m));
	m->hw = hw_sim_open(n);
	if (m->hw == NULL)
		return -errno;
	if (hw_sim_set_map(m->hw, base, tick) != 0) {
		hw_sim_close(m->hw);
		return -EINVAL;
	}
	m->n = n;
	m->k = k;
	for (int s = 0; s < 2; s++) {
		/* The window plus room for the adds of one sync. */
		m->px[s] = calloc(2 * (size_t)k + 2, sizeof(int64_t));
		m->qx[s] = calloc(2 * (size_t)k + 2, sizeof(int64_t));
		if (m->px[s] == NULL || m->qx[s] == NULL) {
			hwm_free(m);
			return -ENOMEM;
		}
	}
	return 0;
}

void hwm_free(struct hwm *m)
{
	for (int s = 0; s < 2; s++) {
		free(m->px[s]);
		free(m->qx[s]);
	}
	hw_sim_close(m->hw);
	memset(m, 0, sizeof(*m));
}

static void fail(struct hwm *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct hwm *m, const char *fmt, ...)
{
	m->failed++;
	if (m->printed++ >= PRINT_MAX)
		return;
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static uint32_t find(const struct hwm *m, int side, int64_t price, int *found)
{
	uint32_t i = 0;
	while (i < m->cnt[side] && better(side, m->px[side][i], price))
		i++;
	*found = i < m->cnt[side] && m->px[side][i] == price;
	return i;
}

/* Queues an operation; the engine must then hold the shadow's top N, except that after
 * a deleting SUB it holds one level fewer on that side until the REFILL. */
static void queue(struct hwm *m, int op, int side, int64_t price, int64_t qty, uint8_t code,
		  uint8_t flags)
{
	if (m->pending == HWM_BURST)
		hwm_flush(m);
	struct hw_sim_cmd *o = &m->ops[m->pending];
	struct hwm_exp *e = &m->exp[m->pending];
	memset(o, 0, sizeof(*o));
	o->op = (uint8_t)op;
	o->side = (uint8_t)side;
	o->price = price;
	o->qty = qty;
	memset(e, 0, sizeof(*e));
	e->code = code;
	e->flags = flags;
	for (int s = 0; s < 2; s++) {
		uint32_t top = s == side && (flags & HW_F_DEL) ? m->n - 1 : m->n;
		uint32_t c = m->cnt[s] < top ? m->cnt[s] : top;
		e->lv.n[s] = c;
		memcpy(e->lv.price[s], m->px[s], c * sizeof(int64_t));
		memcpy(e->lv.qty[s], m->qx[s], c * sizeof(int64_t));
	}
	m->pending++;
	m->by_op[op]++;
	m->by_code[code]++;
}

/* One level change on the shadow, queued with its predicted result. */
static void level_op(struct hwm *m, int side, int64_t price, int64_t delta)
{
	int found;
	uint32_t i = find(m, side, price, &found);
	int64_t *px = m->px[side], *qx = m->qx[side];
	uint32_t *cnt = &m->cnt[side];
	if (delta > 0) {
		uint8_t code = HW_OK, flags = 0;
		if (found) {
			code = i < m->n ? HW_OK : HW_MISS;
			qx[i] += delta;
			if (qx[i] > HW_SIM_QTY_MAX)
				fail(m, "level %" PRId64 " beyond the RTL's quantity range", price);
		} else {
			if (i >= m->n)
				code = HW_MISS;
			else if (*cnt >= m->n)
				flags = HW_F_EVICT;
			memmove(&px[i + 1], &px[i], (*cnt - i) * sizeof(int64_t));
			memmove(&qx[i + 1], &qx[i], (*cnt - i) * sizeof(int64_t));
			px[i] = price;
			qx[i] = delta;
			(*cnt)++;
		}
		if (code == HW_OK && flags == HW_F_EVICT)
			m->evicts++;
		queue(m, HW_OP_ADD, side, price, delta, code, flags);
		return;
	}
	int64_t d = -delta;
	if (!found) {
		fail(m, "sync: SUB of %" PRId64 " absent from the shadow", price);
		return;
	}
	uint8_t code = i < m->n ? HW_OK : HW_MISS, flags = 0;
	if (qx[i] <= d) {
		if (code == HW_OK)
			flags = HW_F_DEL | (qx[i] < d ? HW_F_UNDER : 0);
		memmove(&px[i], &px[i + 1], (*cnt - i - 1) * sizeof(int64_t));
		memmove(&qx[i], &qx[i + 1], (*cnt - i - 1) * sizeof(int64_t));
		(*cnt)--;
	} else {
		qx[i] -= d;
	}
	queue(m, HW_OP_SUB, side, price, d, code, flags);
	if ((flags & HW_F_DEL) && *cnt >= m->n) {
		m->dels++;
		m->refills++;
		queue(m, HW_OP_REFILL, side, px[m->n - 1], qx[m->n - 1], HW_OK, 0);
	} else if (flags & HW_F_DEL) {
		m->dels++;
	}
}

void hwm_sync(struct hwm *m, int side, const int64_t *price, const int64_t *qty,
	      uint32_t cnt)
{
	/* Decreases first (merge walk over the old shadow and the new tops), then
	 * increases; both walks read a copy of the old shadow since level_op edits it. */
	uint32_t oc = m->cnt[side];
	int64_t *op = malloc((oc + 1) * sizeof(int64_t)), *oq = malloc((oc + 1) * sizeof(int64_t));
	if (op == NULL || oq == NULL) {
		fail(m, "out of memory");
		free(op);
		free(oq);
		return;
	}
	memcpy(op, m->px[side], oc * sizeof(int64_t));
	memcpy(oq, m->qx[side], oc * sizeof(int64_t));
	for (int pass = 0; pass < 2; pass++) {
		uint32_t a = 0, b = 0;
		while (a < oc || b < cnt) {
			int64_t p, dq;
			if (b == cnt || (a < oc && better(side, op[a], price[b]))) {
				p = op[a];
				dq = -oq[a];
				a++;
			} else if (a == oc || better(side, price[b], op[a])) {
				p = price[b];
				dq = qty[b];
				b++;
			} else {
				p = op[a];
				dq = qty[b] - oq[a];
				a++;
				b++;
			}
			if ((pass == 0 && dq < 0) || (pass == 1 && dq > 0))
				level_op(m, side, p, dq);
		}
	}
	free(op);
	free(oq);
}

static int lv_equal(const struct hw_sim_book *a, const struct hw_sim_book *b, int *side)
{
	for (int s = 0; s < 2; s++) {
		*side = s;
		if (a->n[s] != b->n[s])
			return 0;
		for (uint32_t i = 0; i < a->n[s]; i++)
			if (a->price[s][i] != b->price[s][i] || a->qty[s][i] != b->qty[s][i])
				return 0;
	}
	return 1;
}

void hwm_flush(struct hwm *m)
{
	if (m->pending == 0)
		return;
	int got = hw_sim_ops(m->hw, m->ops, m->pending, m->res, m->lv);
	if (got != (int)m->pending) {
		fail(m, "hw_sim_ops ran %d of %u", got, m->pending);
		m->pending = 0;
		return;
	}
	for (uint32_t i = 0; i < m->pending; i++) {
		const struct hw_sim_result *r = &m->res[i];
		const struct hwm_exp *e = &m->exp[i];
		const struct hw_sim_cmd *o = &m->ops[i];
		int side;
		int want_cross = e->lv.n[0] && e->lv.n[1] && e->lv.price[0][0] >= e->lv.price[1][0];
		if (r->code != e->code || r->flags != e->flags) {
			fail(m, "op %d side %d price %" PRId64 " qty %" PRId64
				": code %u flags %#x, want %u %#x",
			     o->op, o->side, o->price, o->qty, r->code, r->flags, e->code, e->flags);
		} else if (!lv_equal(&m->lv[i], &e->lv, &side)) {
			fail(m, "op %d side %d price %" PRId64 " qty %" PRId64
				": side %d levels differ (%u levels, want %u; best %" PRId64 "x%" PRId64
				", want %" PRId64 "x%" PRId64 ")",
			     o->op, o->side, o->price, o->qty, side, m->lv[i].n[side], e->lv.n[side],
			     m->lv[i].price[side][0], m->lv[i].qty[side][0], e->lv.price[side][0],
			     e->lv.qty[side][0]);
		} else if (r->crossed != want_cross || r->holes[0] != m->n - e->lv.n[0] ||
			   r->holes[1] != m->n - e->lv.n[1]) {
			fail(m, "op %d: crossed %u holes %u/%u, want %d %u/%u", o->op, r->crossed,
			     r->holes[0], r->holes[1], want_cross, m->n - e->lv.n[0],
			     m->n - e->lv.n[1]);
		} else {
			m->passed++;
		}
	}
	m->pending = 0;
}

void hwm_check_book(struct hwm *m, const int64_t *bp, const int64_t *bq, uint32_t nb,
		    const int64_t *ap, const int64_t *aq, uint32_t na, const char *where)
{
	int64_t p[HW_SIM_MAX_LEVELS], q[HW_SIM_MAX_LEVELS];
	const int64_t *wp[2] = { bp, ap }, *wq[2] = { bq, aq };
	uint32_t wn[2] = { nb, na };
	for (int s = 0; s < 2; s++) {
		uint32_t want = wn[s] < m->n ? wn[s] : m->n;
		int got = hw_sim_top(m->hw, s, p, q, m->n);
		int ok = got == (int)want;
		for (uint32_t i = 0; ok && i < want; i++)
			ok = p[i] == wp[s][i] && q[i] == wq[s][i];
		if (!ok) {
			fail(m, "%s: side %d top %d levels differ from the C engine's %u", where, s,
			     got, want);
			return;
		}
	}
	m->passed++;
}
