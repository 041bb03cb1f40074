/*
 * ho_offload.c - the host side of the offload target: rings, doorbell, polling, shadow
 * comparison, the level diff a matching core sends after each burst, and the log.
 *
 * Role: runs on the matching core that owns the struct tkx_off (tkx_off_update once per
 * burst per changed book); tkx_off_log_drain and tkx_off_stats_read on the control
 * thread. Channel 0 is the target (or, in shadow mode, the software model); channel 1
 * is shadow mode's target. Both channels get the same commands in the same order, so
 * their events pair up by seq.
 *
 * Invariants:
 *  1. For every channel: ev_head <= dev_ev_tail <= dev_cmd_head <= cmd_tail and
 *     cmd_tail - ev_head <= size (rule 3 of offload.h): tkx_off_post() never overfills.
 *  2. All channels of one tkx_off have the same cmd_tail.
 *  3. After tkx_off_update(o, b, w) returns, mirror[b] == w: the host's belief of what
 *     the target holds for book b, the base of the next diff. A target that is found to
 *     disagree is rebuilt from w (CLEAR + REFILL), so the belief holds again.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ho_internal.h"

#define HO_MAX_CHAN 2
#define HO_SPIN_LIMIT 1000000u /* polls without progress before a device counts as gone */

struct tkx_off {
	uint32_t target;    /* as configured */
	uint32_t inner;     /* SHADOW: the target beside the software model */
	uint32_t n_levels;
	uint32_t n_books;
	uint32_t n_chan;
	uint32_t fault_nth; /* inject into the target's nth event from now; 0 = none */
	uint32_t mismatch_in_update;
	struct ho_chan ch[HO_MAX_CHAN];
	struct tkx_off_stats st;

	/* the log: producer the owning core, consumer the control thread */
	_Atomic uint32_t log_head;
	_Atomic uint32_t log_tail;
	struct tkx_off_log log[TKX_OFF_LOG_SIZE];

	struct tkx_off_levels mirror[]; /* n_books */
};

static void ho_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void ho_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

int tkx_off_target_parse(const char *s, uint32_t *t)
{
	static const char *const names[] = {"none", "sw", "sim", "fpga", "shadow"};
	for (uint32_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(s, names[i]) == 0) {
			*t = i;
			return 0;
		}
	return -EINVAL;
}

const char *tkx_off_target_name(uint32_t t)
{
	static const char *const names[] = {"none", "sw", "sim", "fpga", "shadow"};
	return t < sizeof(names) / sizeof(names[0]) ? names[t] : "?";
}

int tkx_off_have_sim(void)
{
#ifdef TKX_OFF_HAVE_SIM
	return 1;
#else
	return 0;
#endif
}

/* ---- the emulated device (sw, sim) -------------------------------------------------- */

void ho_emu_kick(struct ho_chan *ch)
{
	/* acquire: the command records written before the host's store-release of cmd_tail
	 * are visible once we see the new tail. */
	uint32_t tail = __atomic_load_n(&ch->regs->cmd_tail, __ATOMIC_ACQUIRE);
	uint32_t ev_free = __atomic_load_n(&ch->regs->ev_head, __ATOMIC_ACQUIRE);
	while (ch->dev_cmd_head != tail && ch->dev_ev_tail - ev_free < ch->size) {
		const struct tkx_off_cmd *c = &ch->cmd[ch->dev_cmd_head & ch->mask];
		struct tkx_off_ev e;
		memset(&e, 0, sizeof(e));
		e.seq = ch->dev_cmd_head;
		e.op = c->op;
		e.side = c->side;
		e.book = c->book;
		if (c->seq != ch->dev_cmd_head)
			e.flags = TKX_OFF_EV_ERR | TKX_OFF_EV_BADSEQ;
		else
			ch->exec(ch->dev, c, &e);
		uint32_t slot = ch->dev_ev_tail & ch->mask;
		e.phase = (ch->dev_ev_tail & ch->size) ? 0 : 1;
		struct tkx_off_ev *dst = &ch->ev[slot];
		uint8_t phase = e.phase;
		e.phase = dst->phase; /* the slot still reads as old until the last store */
		memcpy(dst, &e, sizeof(e));
		/* release: the record's other bytes are visible before its phase flips. */
		__atomic_store_n(&dst->phase, phase, __ATOMIC_RELEASE);
		ch->dev_cmd_head++;
		ch->dev_ev_tail++;
	}
}

static void ho_kick(struct ho_chan *ch)
{
	if (ch->exec)
		ho_emu_kick(ch);
	/* fpga: the register stores were the doorbell. */
}

/* ---- open / close ------------------------------------------------------------------- */

static void ho_chan_close(struct ho_chan *ch)
{
	if (ch->dev_close && ch->dev)
		ch->dev_close(ch->dev);
	ch->dev = NULL;
	if (ch->cmd)
		munmap(ch->cmd, (size_t)ch->size * sizeof(*ch->cmd));
	if (ch->ev)
		munmap(ch->ev, (size_t)ch->size * sizeof(*ch->ev));
	ch->cmd = NULL;
	ch->ev = NULL;
}

static int ho_chan_open(struct ho_chan *ch, uint32_t target, const struct tkx_off_conf *c,
			uint32_t size, char *err, size_t errlen)
{
	memset(ch, 0, sizeof(*ch));
	ch->size = size;
	ch->mask = size - 1;
	ch->target = target;
	ch->regs = &ch->local_regs;
	/* Page-aligned, zeroed (every phase byte 0: the ring reads empty), and mappable
	 * through the IOMMU for the board. */
	ch->cmd = mmap(NULL, (size_t)size * sizeof(*ch->cmd), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ch->ev = mmap(NULL, (size_t)size * sizeof(*ch->ev), PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (ch->cmd == MAP_FAILED || ch->ev == MAP_FAILED) {
		if (ch->cmd == MAP_FAILED)
			ch->cmd = NULL;
		if (ch->ev == MAP_FAILED)
			ch->ev = NULL;
		ho_chan_close(ch);
		ho_err(err, errlen, "offload: cannot map %u ring entries", size);
		return -ENOMEM;
	}
	switch (target) {
	case TKX_OFF_SW:
		ch->dev = ho_sw_open(c->n_levels, c->n_books);
		if (ch->dev == NULL) {
			int e = errno;
			ho_chan_close(ch);
			ho_err(err, errlen, "offload: sw model: %s", strerror(e));
			return -e;
		}
		ch->exec = ho_sw_exec;
		ch->dev_close = ho_sw_close;
		return 0;
	case TKX_OFF_SIM: {
		int rc = ho_sim_open(ch, c->n_levels, c->n_books, err, errlen);
		if (rc < 0)
			ho_chan_close(ch);
		return rc;
	}
	case TKX_OFF_FPGA: {
		int rc = ho_fpga_open(ch, c->vfio_group, c->n_levels, c->n_books, err, errlen);
		if (rc < 0)
			ho_chan_close(ch);
		return rc;
	}
	}
	ho_chan_close(ch);
	ho_err(err, errlen, "offload: target %u has no backend", target);
	return -EINVAL;
}

struct tkx_off *tkx_off_open(const struct tkx_off_conf *c, char *err, size_t errlen)
{
	uint32_t size = c->ring_size ? c->ring_size : TKX_OFF_RING_DEFAULT;
	int rc;
	if (c->target == TKX_OFF_NONE || c->target > TKX_OFF_SHADOW) {
		ho_err(err, errlen, "offload: target must be sw, sim, fpga or shadow");
		errno = EINVAL;
		return NULL;
	}
	if (c->n_levels < 1 || c->n_levels > TKX_OFF_MAX_LEVELS || c->n_books < 1 ||
	    c->n_books > TKX_OFF_MAX_BOOKS || size < TKX_OFF_RING_MIN ||
	    size > TKX_OFF_RING_MAX || (size & (size - 1))) {
		ho_err(err, errlen, "offload: levels %u (1..%u), books %u (1..%u), ring %u "
		       "(power of two, %u..%u)", c->n_levels, TKX_OFF_MAX_LEVELS, c->n_books,
		       TKX_OFF_MAX_BOOKS, size, TKX_OFF_RING_MIN, TKX_OFF_RING_MAX);
		errno = EINVAL;
		return NULL;
	}
	struct tkx_off *o = calloc(1, sizeof(*o) + (size_t)c->n_books * sizeof(o->mirror[0]));
	if (o == NULL) {
		ho_err(err, errlen, "offload: out of memory");
		return NULL;
	}
	o->target = c->target;
	o->n_levels = c->n_levels;
	o->n_books = c->n_books;
	if (c->target == TKX_OFF_SHADOW) {
		o->inner = c->shadow_of ? c->shadow_of :
			   tkx_off_have_sim() ? TKX_OFF_SIM : TKX_OFF_SW;
		if (o->inner != TKX_OFF_SW && o->inner != TKX_OFF_SIM && o->inner != TKX_OFF_FPGA) {
			free(o);
			ho_err(err, errlen, "offload: shadow needs a target: sw, sim or fpga");
			errno = EINVAL;
			return NULL;
		}
		rc = ho_chan_open(&o->ch[0], TKX_OFF_SW, c, size, err, errlen);
		if (rc == 0) {
			rc = ho_chan_open(&o->ch[1], o->inner, c, size, err, errlen);
			if (rc < 0)
				ho_chan_close(&o->ch[0]);
		}
		o->n_chan = 2;
	} else {
		o->inner = c->target;
		rc = ho_chan_open(&o->ch[0], c->target, c, size, err, errlen);
		o->n_chan = 1;
	}
	if (rc < 0) {
		free(o);
		errno = -rc;
		return NULL;
	}
	return o;
}

void tkx_off_close(struct tkx_off *o)
{
	if (o == NULL)
		return;
	for (uint32_t i = 0; i < o->n_chan; i++)
		ho_chan_close(&o->ch[i]);
	free(o);
}

uint32_t tkx_off_target_of(const struct tkx_off *o, uint32_t *inner)
{
	if (inner)
		*inner = o->inner;
	return o->target;
}

void tkx_off_inject_event_fault(struct tkx_off *o, uint32_t nth)
{
	o->fault_nth = nth;
}

void tkx_off_stats_read(const struct tkx_off *o, struct tkx_off_stats *s)
{
	*s = o->st;
}

/* ---- log ---------------------------------------------------------------------------- */

static void ho_log(struct tkx_off *o, uint32_t kind, uint32_t book, const struct tkx_off_ev *want,
		   const struct tkx_off_ev *got)
{
	uint32_t head = atomic_load_explicit(&o->log_head, memory_order_relaxed);
	uint32_t tail = atomic_load_explicit(&o->log_tail, memory_order_acquire);
	if (head - tail >= TKX_OFF_LOG_SIZE) {
		o->st.log_dropped++;
		return;
	}
	struct tkx_off_log *l = &o->log[head % TKX_OFF_LOG_SIZE];
	l->kind = kind;
	l->book = book;
	l->want = *want;
	l->got = *got;
	/* release: the record is complete before the consumer sees the new head. */
	atomic_store_explicit(&o->log_head, head + 1, memory_order_release);
}

unsigned tkx_off_log_drain(struct tkx_off *o, struct tkx_off_log *out, unsigned n)
{
	uint32_t tail = atomic_load_explicit(&o->log_tail, memory_order_relaxed);
	uint32_t head = atomic_load_explicit(&o->log_head, memory_order_acquire);
	unsigned k = 0;
	while (k < n && tail != head)
		out[k++] = o->log[tail++ % TKX_OFF_LOG_SIZE];
	/* release: our copies are done before the producer may reuse the slots. */
	atomic_store_explicit(&o->log_tail, tail, memory_order_release);
	return k;
}

size_t tkx_off_log_format(const struct tkx_off_log *l, char *buf, size_t len)
{
	static const char *const kinds[] = {"?", "shadow mismatch", "target != engine",
					    "target refused a command"};
	const char *k = l->kind < 4 ? kinds[l->kind] : "?";
	int n = snprintf(buf, len,
			 "%s: book %u seq %u op %u side %u: want bid %" PRId64 "x%" PRId64
			 " ask %" PRId64 "x%" PRId64 " (%u/%u levels, flags %#x), got bid %" PRId64
			 "x%" PRId64 " ask %" PRId64 "x%" PRId64 " (%u/%u levels, flags %#x)",
			 k, l->book, l->got.seq, l->got.op, l->got.side, l->want.bid_price,
			 l->want.bid_qty, l->want.ask_price, l->want.ask_qty, l->want.n_bid,
			 l->want.n_ask, l->want.flags, l->got.bid_price, l->got.bid_qty,
			 l->got.ask_price, l->got.ask_qty, l->got.n_bid, l->got.n_ask, l->got.flags);
	return n < 0 ? 0 : (size_t)n;
}

/* ---- rings -------------------------------------------------------------------------- */

uint32_t tkx_off_in_flight(const struct tkx_off *o)
{
	uint32_t m = 0;
	for (uint32_t i = 0; i < o->n_chan; i++) {
		uint32_t f = o->ch[i].cmd_tail - o->ch[i].ev_head;
		if (f > m)
			m = f;
	}
	return m;
}

unsigned tkx_off_post(struct tkx_off *o, const struct tkx_off_cmd *cmds, unsigned n)
{
	uint32_t room = o->ch[0].size - tkx_off_in_flight(o);
	if (n > room)
		n = room;
	for (uint32_t c = 0; c < o->n_chan; c++) {
		struct ho_chan *ch = &o->ch[c];
		for (unsigned i = 0; i < n; i++) {
			struct tkx_off_cmd *d = &ch->cmd[ch->cmd_tail & ch->mask];
			*d = cmds[i];
			d->seq = ch->cmd_tail++;
		}
	}
	o->st.cmds += n;
	return n;
}

void tkx_off_doorbell(struct tkx_off *o)
{
	for (uint32_t c = 0; c < o->n_chan; c++) {
		struct ho_chan *ch = &o->ch[c];
		/* release: every command record written before is visible to the device once
		 * it reads the new tail (over PCIe: posted writes stay ordered). One store per
		 * batch, never per command. */
		__atomic_store_n(&ch->regs->cmd_tail, ch->cmd_tail, __ATOMIC_RELEASE);
		ho_kick(ch);
	}
	o->st.doorbells++;
}

/* Events of one channel that have arrived, up to n, from its head. */
static unsigned ho_ready(const struct ho_chan *ch, unsigned n)
{
	unsigned k = 0;
	while (k < n) {
		uint32_t i = ch->ev_head + k;
		if (i == ch->cmd_tail)
			break;
		uint8_t want = (i & ch->size) ? 0 : 1;
		/* acquire: the record's bytes are read only after its phase says it is new. */
		if (__atomic_load_n(&ch->ev[i & ch->mask].phase, __ATOMIC_ACQUIRE) != want)
			break;
		k++;
	}
	return k;
}

static void ho_release(struct ho_chan *ch, unsigned k)
{
	ch->ev_head += k;
	/* The slots are free again; the device reads ev_head only to know it has room. */
	__atomic_store_n(&ch->regs->ev_head, ch->ev_head, __ATOMIC_RELEASE);
	ho_kick(ch); /* a register write: a device stalled on a full event ring resumes */
}

static int ho_ev_equal(const struct tkx_off_ev *a, const struct tkx_off_ev *b)
{
	/* MISS and trunc are hints whose rules differ between the C model and the RTL
	 * (offload.h): the tables, the top of book and a refusal must agree. */
	return a->seq == b->seq && ((a->flags ^ b->flags) & TKX_OFF_EV_ERR) == 0 &&
	       a->side == b->side && a->book == b->book && a->n_bid == b->n_bid &&
	       a->n_ask == b->n_ask && a->op == b->op && a->bid_price == b->bid_price &&
	       a->bid_qty == b->bid_qty && a->ask_price == b->ask_price && a->ask_qty == b->ask_qty;
}

/* Fault injection: corrupt the target's event as the host reads it. */
static void ho_maybe_fault(struct tkx_off *o, struct tkx_off_ev *e)
{
	if (o->fault_nth == 0 || --o->fault_nth != 0)
		return;
	if (e->n_bid)
		e->bid_qty += 1;
	else
		e->bid_price += 1;
}

unsigned tkx_off_poll(struct tkx_off *o, struct tkx_off_ev *ev, unsigned n)
{
	unsigned k = ho_ready(&o->ch[0], n);
	if (o->n_chan == 2) {
		unsigned k1 = ho_ready(&o->ch[1], k);
		k = k1 < k ? k1 : k; /* pairs only: an async target may lag */
	}
	if (k == 0)
		return 0;
	const struct ho_chan *c0 = &o->ch[0];
	for (unsigned i = 0; i < k; i++) {
		ev[i] = c0->ev[(c0->ev_head + i) & c0->mask];
		if (o->n_chan == 1) {
			ho_maybe_fault(o, &ev[i]);
		} else {
			const struct ho_chan *c1 = &o->ch[1];
			struct tkx_off_ev t = c1->ev[(c1->ev_head + i) & c1->mask];
			ho_maybe_fault(o, &t);
			if (!ho_ev_equal(&ev[i], &t)) {
				/* software wins: ev[i] stays the model's */
				o->st.shadow_mismatch++;
				o->mismatch_in_update = 1;
				ho_log(o, TKX_OFF_LOG_SHADOW, t.book, &ev[i], &t);
			}
		}
		if (ev[i].flags & TKX_OFF_EV_MISS)
			o->st.misses++;
		if (ev[i].flags & TKX_OFF_EV_ERR) {
			o->st.errors++;
			ho_log(o, TKX_OFF_LOG_ERR, ev[i].book, &ev[i], &ev[i]);
		}
	}
	for (uint32_t c = 0; c < o->n_chan; c++)
		ho_release(&o->ch[c], k);
	o->st.events += k;
	return k;
}

/* ---- the matching core's call ------------------------------------------------------- */

struct ho_batch {
	struct tkx_off_ev last; /* the latest event of this update */
	uint32_t have_last;
	uint32_t err;
};

/* Drains every event in flight into b. 0 or -ETIMEDOUT. */
static int ho_drain(struct tkx_off *o, struct ho_batch *b)
{
	struct tkx_off_ev ev[32];
	uint32_t idle = 0;
	while (tkx_off_in_flight(o)) {
		unsigned k = tkx_off_poll(o, ev, 32);
		if (k == 0) {
			if (++idle > HO_SPIN_LIMIT)
				return -ETIMEDOUT;
			continue;
		}
		idle = 0;
		for (unsigned i = 0; i < k; i++)
			if (ev[i].flags & TKX_OFF_EV_ERR)
				b->err = 1;
		b->last = ev[k - 1];
		b->have_last = 1;
	}
	return 0;
}

/* Posts one command; on a full ring rings the doorbell and drains first. */
static int ho_push(struct tkx_off *o, struct ho_batch *b, uint8_t op, uint8_t side,
		   uint32_t book, int64_t price, int64_t qty)
{
	struct tkx_off_cmd c = {0, op, side, (uint16_t)book, price, qty, 0};
	if (tkx_off_post(o, &c, 1) == 1)
		return 0;
	o->st.ring_full++;
	tkx_off_doorbell(o);
	int rc = ho_drain(o, b);
	if (rc < 0)
		return rc;
	return tkx_off_post(o, &c, 1) == 1 ? 0 : -EIO;
}

static int ho_better(int side, int64_t a, int64_t b)
{
	return side == TKX_OFF_BID ? a > b : a < b;
}

static int64_t ho_qty_at(const struct tkx_off_levels *l, int side, int64_t p)
{
	for (uint32_t i = 0; i < l->n[side]; i++)
		if (l->price[side][i] == p)
			return l->qty[side][i];
	return -1;
}

/* Rebuilds the target's table of book from w. */
static int ho_resync(struct tkx_off *o, struct ho_batch *b, uint32_t book,
		     const struct tkx_off_levels *w)
{
	int rc = 0;
	o->st.resyncs++;
	rc = ho_push(o, b, TKX_OFF_CLEAR, TKX_OFF_BID, book, 0, 0); /* both sides */
	for (int s = 0; s < 2 && rc == 0; s++) {
		for (uint32_t i = 0; i < w->n[s] && rc == 0; i++, o->st.refills++)
			rc = ho_push(o, b, TKX_OFF_REFILL, (uint8_t)s, book, w->price[s][i],
				     w->qty[s][i]);
	}
	/* A side with fewer than N levels is complete; CLEAR left trunc at 0 anyway. */
	if (rc == 0) {
		tkx_off_doorbell(o);
		rc = ho_drain(o, b);
	}
	return rc;
}

static void ho_tob_of(const struct tkx_off_levels *w, struct tkx_off_tob *t)
{
	memset(t, 0, sizeof(*t));
	if (w->n[0]) {
		t->bid_price = w->price[0][0];
		t->bid_qty = w->qty[0][0];
	}
	if (w->n[1]) {
		t->ask_price = w->price[1][0];
		t->ask_qty = w->qty[1][0];
	}
}

int tkx_off_update(struct tkx_off *o, uint32_t book, const struct tkx_off_levels *w,
		   struct tkx_off_tob *tob)
{
	if (book >= o->n_books || w->n[0] > o->n_levels || w->n[1] > o->n_levels)
		return -EINVAL;
	struct tkx_off_levels *m = &o->mirror[book];
	struct ho_batch b;
	int rc = 0;
	memset(&b, 0, sizeof(b));
	o->st.updates++;
	o->mismatch_in_update = 0;

	/* ADDs first: a level that an ADD pushes out, or an ADD the table ignores, marks
	 * the side truncated before any SUB opens a hole (offload.h rule 4). */
	for (int s = 0; s < 2 && rc == 0; s++)
		for (uint32_t i = 0; i < w->n[s] && rc == 0; i++) {
			int64_t p = w->price[s][i], q = w->qty[s][i], was = ho_qty_at(m, s, p);
			if (was < 0)
				rc = ho_push(o, &b, TKX_OFF_ADD, (uint8_t)s, book, p, q);
			else if (q > was)
				rc = ho_push(o, &b, TKX_OFF_ADD, (uint8_t)s, book, p, q - was);
		}
	for (int s = 0; s < 2 && rc == 0; s++)
		for (uint32_t i = 0; i < m->n[s] && rc == 0; i++) {
			int64_t p = m->price[s][i], was = m->qty[s][i], q = ho_qty_at(w, s, p);
			if (q < 0) {
				/* Gone from the top N: pushed out by better levels (the target
				 * evicts it itself), or gone from the book. */
				if (w->n[s] == o->n_levels && ho_better(s, w->price[s][w->n[s] - 1], p))
					continue;
				rc = ho_push(o, &b, TKX_OFF_SUB, (uint8_t)s, book, p, was);
			} else if (q < was) {
				rc = ho_push(o, &b, TKX_OFF_SUB, (uint8_t)s, book, p, was - q);
			}
		}
	if (rc == 0 && tkx_off_in_flight(o)) {
		tkx_off_doorbell(o);
		rc = ho_drain(o, &b);
	}

	/* Misses: the target holds a prefix of w; the rest comes from the software book. */
	if (rc == 0 && b.have_last) {
		uint32_t held[2] = {b.last.n_bid, b.last.n_ask};
		int sent = 0;
		for (int s = 0; s < 2 && rc == 0; s++) {
			for (uint32_t i = held[s]; i < w->n[s] && rc == 0; i++, sent++) {
				rc = ho_push(o, &b, TKX_OFF_REFILL, (uint8_t)s, book, w->price[s][i],
					     w->qty[s][i]);
				o->st.refills++;
			}
			if (rc == 0 && (b.last.trunc >> s & 1) && w->n[s] < o->n_levels) {
				rc = ho_push(o, &b, TKX_OFF_REFILL, (uint8_t)s, book, 0, 0);
				o->st.refills++;
				sent++;
			}
		}
		if (rc == 0 && sent) {
			tkx_off_doorbell(o);
			rc = ho_drain(o, &b);
		}
	}
	if (rc < 0)
		return rc;

	/* The engine's answer, checked against the target's last word on this book. */
	struct tkx_off_tob want;
	ho_tob_of(w, &want);
	int bad = o->mismatch_in_update || b.err;
	if (b.have_last) {
		const struct tkx_off_ev *e = &b.last;
		if (e->n_bid != w->n[0] || e->n_ask != w->n[1] || e->bid_price != want.bid_price ||
		    e->bid_qty != want.bid_qty || e->ask_price != want.ask_price ||
		    e->ask_qty != want.ask_qty) {
			struct tkx_off_ev we = *e;
			we.n_bid = (uint8_t)w->n[0];
			we.n_ask = (uint8_t)w->n[1];
			we.bid_price = want.bid_price;
			we.bid_qty = want.bid_qty;
			we.ask_price = want.ask_price;
			we.ask_qty = want.ask_qty;
			o->st.engine_mismatch++;
			ho_log(o, TKX_OFF_LOG_ENGINE, book, &we, e);
			bad = 1;
		}
	}
	if (bad) {
		memset(&b, 0, sizeof(b));
		rc = ho_resync(o, &b, book, w);
		if (rc < 0)
			return rc;
	}
	*m = *w;
	if (tob)
		*tob = want;
	return bad ? -ERANGE : 0;
}
