/*
 * td_gw.c - the TCP order-entry gateway thread: io_uring accept/recv/send, SOFH framing,
 * the session table, and the rings to and from the matching cores (design in td_gw.h).
 */
#define _GNU_SOURCE
#include <assert.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <liburing.h>
#include <rte_ring.h>

#include <tokex/codec.h>
#include <tokex/venue.h>

#include "td_clock.h"
#include "td_gw.h"

#define GW_BURST 32           /* dp_events per dequeue */
#define GW_EV_BURSTS 8        /* dequeues per matching core per loop pass, at most */
#define GW_STOP_GONE_NS (100 * 1000000ull)  /* stop: time for SESSION_GONE to get out */
#define GW_STOP_SQE_NS (1000 * 1000000ull)  /* stop: time for in-flight SQEs to finish */
#define GW_JN_STAGE 32        /* journal records made by one burst's session calls */
#define GW_JQ_MIN 4096u       /* journal records that may wait for ring 0, at least */
#define GW_PENDING 64         /* accepted connections waiting for an evicted one's slot */
#define GW_NONE UINT32_MAX    /* end of the eviction list */

/* ---- Connections ------------------------------------------------------------------------ */

enum conn_state { CONN_FREE = 0, CONN_OPEN = 1, CONN_DRAIN = 2, CONN_DEAD = 3 };

/* One TCP connection. The fields the loop reads per completion fit in one cache line;
 * rx and tx point into the gateway's single allocation. 64 bytes. */
struct conn {
	int fd;
	uint16_t gen;         /* upper half of ss_peer.conn (invariant 1) */
	uint8_t state;        /* enum conn_state */
	uint8_t recv_busy;    /* a recv SQE is in flight (invariant 2) */
	uint8_t send_busy;    /* a send SQE is in flight */
	uint8_t disconnected; /* DEAD: ss_disconnect() done */
	uint8_t on_kick;      /* in gw->kick */
	uint8_t fin_sent;     /* DRAIN: shutdown(SHUT_WR) done */
	uint32_t rx_len;      /* bytes of an incomplete frame at rx[0, rx_len) */
	uint32_t tx_head;     /* send queue: free-running byte counters, [tail, head) queued */
	uint32_t tx_tail;
	uint64_t deadline;    /* monotonic ns: OPEN, idle_ms after the last recv; DRAIN,
				 drain_ms after the Terminate */
	struct ss_peer peer;
	uint8_t *rx;          /* TD_GW_RX_CAP bytes */
	uint8_t *tx;          /* conf.tx_queue bytes */
};
_Static_assert(sizeof(struct conn) == 64, "conn is one cache line");

/* What admission keeps per slot beside struct conn (read on accept, authentication and
 * close only, so it stays out of conn's cache line). */
struct conn_adm {
	uint32_t prev, next;  /* eviction list: unauthenticated OPEN connections, oldest first */
	uint8_t authed;       /* a NegotiationResponse went out on it */
	uint8_t listed;       /* on the eviction list */
	uint16_t pad;
};

/* Connections per source address (the per-address cap): open addressing, linear probing,
 * an entry is empty when n is 0. */
struct ip_count {
	uint32_t ip; /* network order, as in ss_peer */
	uint32_t n;  /* connections holding a slot or waiting for one */
};

/* An accepted connection waiting for the slot of the one evicted for it. */
struct pending {
	int fd;
	uint32_t ip;
	uint16_t port;
};

/* io_uring user_data: op | slot << 8 | gen << 24. */
enum gw_op { OP_ACCEPT = 1, OP_RECV = 2, OP_SEND = 3, OP_CANCEL = 4 };

static inline uint64_t ud_make(unsigned op, uint32_t slot, uint16_t gen)
{
	return (uint64_t)op | (uint64_t)slot << 8 | (uint64_t)gen << 24;
}

/* ---- The gateway ------------------------------------------------------------------------- */

struct td_gw {
	/* read-only after td_gw_start() */
	struct td_gw_conf conf;
	const struct td_route *route;
	uint32_t n_match;
	uint32_t tx_mask;
	uint32_t gq_mask;       /* pending SESSION_GONE fifo size - 1 */
	uint32_t max_sessions;
	uint64_t tick_ns;
	uint64_t drain_ns;
	uint64_t idle_ns;
	uint64_t negotiate_ns;
	uint8_t neg_taken;      /* ss_rx() just took a Negotiate (jn_on_negotiated) */
	uint64_t stop_ns;
	int lfd;
	uint16_t port;
	pthread_t thread;
	struct ss_table *ss;
	struct conn *conns;
	uint16_t *free_stack;   /* FREE slots */
	struct conn_adm *adm;   /* [max_conns] */
	struct ip_count *ipt;   /* connections per address */
	uint32_t ipt_mask;
	unsigned ipt_shift;     /* 64 - log2(entries): the hash keeps the product's top bits */
	uint16_t *kick;         /* connections with new bytes in their send queue */
	uint16_t *dead;         /* DEAD connections waiting for conn_reap() */
	uint32_t *parked;       /* conn ids whose frames wait for journal room (rx_frames) */
	struct dp_order *gone;  /* [max_sessions]: the latest SESSION_GONE of each session */
	uint16_t *gq[TD_MAX_MATCH];   /* per core: sessions whose SESSION_GONE waits, FIFO */
	uint8_t *gpend;         /* [n_match][max_sessions]: in gq[m] */
	int jn;                 /* conf.journal: SESSION_UP and LOCAL records (td_gw.h) */
	uint32_t jq_mask;       /* journal record FIFO size - 1 */
	struct dp_order *jq;    /* journal records waiting for room on ring 0 (invariant 8) */
	int launched;           /* td_gw_launch() started the thread */
	void *mem;

	/* the loop's state: the gateway thread only */
	struct io_uring ring;
	int ring_ok;
	int accept_armed;
	uint32_t n_free;
	uint32_t n_kick;
	uint32_t n_dead;
	uint32_t n_drain;
	uint32_t inflight;      /* SQEs whose last CQE has not been seen */
	uint32_t gq_head[TD_MAX_MATCH];
	uint32_t gq_tail[TD_MAX_MATCH];
	uint32_t n_gone;        /* sum over cores of pending SESSION_GONE */
	uint32_t jq_head;       /* jq: free-running indices, [tail, head) waiting */
	uint32_t jq_tail;
	int in_route;           /* route() runs: a journal record is emitted at once */
	uint32_t n_jn;          /* journal records made by session calls since the last flush */
	uint32_t n_parked;
	uint32_t un_head;       /* eviction list (struct conn_adm), GW_NONE when empty */
	uint32_t un_tail;
	uint32_t pend_head;     /* pend: free-running indices, [tail, head) waiting */
	uint32_t pend_tail;
	struct pending pend[GW_PENDING];
	int input_off;          /* td_gw_quiesce() seen: no more input (td_gw.h "Stop") */
	uint64_t now;           /* ns since the epoch, once per pass: the session layer's */
	uint64_t mono;          /* monotonic ns, once per pass: the gateway's own timers */
	uint64_t next_tick;
	uint64_t next_scan;     /* deadlines of DRAIN and idle connections */
	uint32_t n_stage[TD_MAX_MATCH];
	uint32_t room[TD_MAX_MATCH];  /* free ring entries, UINT32_MAX = not read yet */
	struct dp_event evbuf[GW_BURST];
	/* Journal records in the order they were made: jn_rec[i] goes before the ss_out's
	 * order jn_pos[i] (it was made when out held jn_pos[i] orders). */
	uint16_t jn_pos[GW_JN_STAGE];
	struct dp_order jn_rec[GW_JN_STAGE];
	/* the orders of the ss_out being flushed, journal records merged in */
	struct dp_order orders[SS_OUT_ORDERS + GW_JN_STAGE];
	/* one bulk enqueue per core; a core gets at most one entry per order routed */
	struct dp_order stage[TD_MAX_MATCH][SS_OUT_ORDERS + GW_JN_STAGE];
	struct ss_out out;

	int stop;               /* set by td_gw_stop(), read by the loop (atomics) */
	int quiesce;            /* set by td_gw_quiesce(), read by the loop (atomics) */
	int quiet;              /* set by the loop once quiesced and flushed, td_gw_quiet() */
	_Alignas(64) struct td_gw_stats stats;
};

/* One writer (the gateway thread); relaxed stores so that td_gw_stats() may read them
 * from another thread without a data race. */
#define STAT_ADD(g, f, v) __atomic_store_n(&(g)->stats.f, (g)->stats.f + (v), __ATOMIC_RELAXED)
#define STAT(g, f) STAT_ADD(g, f, 1)

static inline uint32_t conn_id(const struct td_gw *gw, const struct conn *c)
{
	return (uint32_t)c->gen << 16 | (uint32_t)(c - gw->conns);
}

/* An SQE; when the SQ ring is full, submit what is there first. NULL only if the kernel
 * refuses the submission, which the callers count as the op's error. */
static struct io_uring_sqe *get_sqe(struct td_gw *gw)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&gw->ring);

	if (sqe)
		return sqe;
	STAT(gw, sq_full);
	io_uring_submit(&gw->ring);
	return io_uring_get_sqe(&gw->ring);
}

/* ---- Admission: the eviction list and the per-address counts ---------------------------- */

static void un_push(struct td_gw *gw, uint32_t slot)
{
	struct conn_adm *a = &gw->adm[slot];

	a->listed = 1;
	a->next = GW_NONE;
	a->prev = gw->un_tail;
	if (gw->un_tail != GW_NONE)
		gw->adm[gw->un_tail].next = slot;
	else
		gw->un_head = slot;
	gw->un_tail = slot;
}

static void un_unlink(struct td_gw *gw, uint32_t slot)
{
	struct conn_adm *a = &gw->adm[slot];

	if (!a->listed)
		return;
	if (a->prev != GW_NONE)
		gw->adm[a->prev].next = a->next;
	else
		gw->un_head = a->next;
	if (a->next != GW_NONE)
		gw->adm[a->next].prev = a->prev;
	else
		gw->un_tail = a->prev;
	a->listed = 0;
	a->prev = a->next = GW_NONE;
}

static inline uint32_t ipt_home(const struct td_gw *gw, uint32_t ip)
{
	/* Fibonacci hashing: the addresses of one subnet differ in a few bits, which the
	 * multiplication spreads over the top bits kept. */
	return (uint32_t)(((uint64_t)ip * 0x9E3779B97F4A7C15ull) >> gw->ipt_shift);
}

/* The entry of ip, or the empty one where it goes. Never full: it has twice as many
 * entries as connections can be counted (max_conns + GW_PENDING). */
static uint32_t ipt_find(const struct td_gw *gw, uint32_t ip)
{
	uint32_t i = ipt_home(gw, ip);

	while (gw->ipt[i].n && gw->ipt[i].ip != ip)
		i = (i + 1) & gw->ipt_mask;
	return i;
}

/* One connection from ip less. The last one empties its entry, and the entries after it
 * that probed past it move back (backward shift: no tombstones, probes stay short). */
static void ipt_drop(struct td_gw *gw, uint32_t ip)
{
	uint32_t i = ipt_find(gw, ip), j = i;

	if (gw->ipt[i].n == 0 || --gw->ipt[i].n)
		return;
	for (;;) {
		j = (j + 1) & gw->ipt_mask;
		if (!gw->ipt[j].n)
			break;
		/* j's entry may fill the hole at i unless its home lies in (i, j] */
		if (((j - ipt_home(gw, gw->ipt[j].ip)) & gw->ipt_mask) >= ((j - i) & gw->ipt_mask)) {
			gw->ipt[i] = gw->ipt[j];
			gw->ipt[j].n = 0;
			i = j;
		}
	}
}

/* ---- Closing ----------------------------------------------------------------------------- */

/* Asks the kernel to cancel the op named by ud (its CQE then comes with -ECANCELED, or
 * has come already: then this cancel's own CQE says -ENOENT, and is ignored). By
 * user_data, not by fd: the fd may be closed and its number reused by the time the
 * cancel is submitted, and ud carries the connection's generation. */
static void cancel_op(struct td_gw *gw, uint64_t ud)
{
	struct io_uring_sqe *sqe = get_sqe(gw);

	if (!sqe)
		return; /* shutdown() alone completes it */
	io_uring_prep_cancel64(sqe, ud, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
}

/*
 * OPEN or DRAIN -> DEAD. Makes no session-layer call (it may run while an ss_out is being
 * walked): conn_reap() does ss_disconnect() and the close. shutdown() completes the recv
 * and send in flight; the cancels are for an op the shutdown would not wake.
 */
static void conn_kill(struct td_gw *gw, struct conn *c)
{
	uint32_t slot = (uint32_t)(c - gw->conns);

	if (c->state != CONN_OPEN && c->state != CONN_DRAIN)
		return;
	if (c->state == CONN_DRAIN)
		gw->n_drain--;
	c->state = CONN_DEAD;
	c->disconnected = 0;
	un_unlink(gw, slot);
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_busy)
		cancel_op(gw, ud_make(OP_RECV, slot, c->gen));
	if (c->send_busy)
		cancel_op(gw, ud_make(OP_SEND, slot, c->gen));
	gw->dead[gw->n_dead++] = (uint16_t)slot;
}

static void gw_flush(struct td_gw *gw);
static void admit(struct td_gw *gw, int fd, uint32_t ip, uint16_t port);

/* Connections waiting for a slot (evictions) take the slots that are free, oldest first. */
static void admit_pending(struct td_gw *gw)
{
	while (gw->n_free && gw->pend_tail != gw->pend_head) {
		const struct pending *p = &gw->pend[gw->pend_tail++ % GW_PENDING];

		admit(gw, p->fd, p->ip, p->port);
	}
}

/* Stopping: the connections waiting for a slot never get one. */
static void pend_close(struct td_gw *gw)
{
	while (gw->pend_tail != gw->pend_head) {
		const struct pending *p = &gw->pend[gw->pend_tail++ % GW_PENDING];

		close(p->fd);
		ipt_drop(gw, p->ip);
		STAT(gw, conns_refused);
	}
}

/* DEAD -> FREE for every DEAD connection that can go: the session layer is told (its
 * SESSION_GONE goes out with the next flush), and the fd is closed once no SQE of the
 * connection is in flight (invariant 2). */
static void conn_reap(struct td_gw *gw)
{
	uint32_t i = 0;

	while (i < gw->n_dead) {
		struct conn *c = &gw->conns[gw->dead[i]];

		if (!c->disconnected) {
			while (ss_disconnect(gw->ss, &c->peer, gw->now, &gw->out) == -ENOBUFS) {
				STAT(gw, out_full);
				gw_flush(gw); /* may append to dead[]: the loop re-reads n_dead */
			}
			c->disconnected = 1;
		}
		if (c->recv_busy || c->send_busy) {
			i++;
			continue;
		}
		close(c->fd);
		c->fd = -1;
		c->state = CONN_FREE;
		ipt_drop(gw, c->peer.ip);
		gw->free_stack[gw->n_free++] = gw->dead[i];
		gw->dead[i] = gw->dead[--gw->n_dead];
		STAT(gw, conns_closed);
	}
	admit_pending(gw);
}

/* ---- Sending ----------------------------------------------------------------------------- */

/* One send SQE for the contiguous head of the queue (invariant 2). */
static void submit_send(struct td_gw *gw, struct conn *c)
{
	uint32_t cap = gw->tx_mask + 1, off = c->tx_tail & gw->tx_mask;
	uint32_t len = c->tx_head - c->tx_tail;
	struct io_uring_sqe *sqe;

	if (c->send_busy || c->state == CONN_DEAD || c->state == CONN_FREE)
		return;
	if (len == 0) {
		/* A drained DRAIN connection: FIN after the last byte; recv waits for the
		 * client's EOF so that close() does not reset unread bytes. */
		if (c->state == CONN_DRAIN && !c->fin_sent) {
			shutdown(c->fd, SHUT_WR);
			c->fin_sent = 1;
		}
		return;
	}
	if (len > cap - off)
		len = cap - off;
	sqe = get_sqe(gw);
	if (!sqe) {
		STAT(gw, send_errors);
		conn_kill(gw, c);
		return;
	}
	/* MSG_NOSIGNAL: a client that went away is an EPIPE completion, not a SIGPIPE. */
	io_uring_prep_send(sqe, c->fd, c->tx + off, len, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud_make(OP_SEND, (uint32_t)(c - gw->conns), c->gen));
	c->send_busy = 1;
	gw->inflight++;
}

static void kick_sends(struct td_gw *gw)
{
	for (uint32_t i = 0; i < gw->n_kick; i++) {
		struct conn *c = &gw->conns[gw->kick[i]];

		c->on_kick = 0;
		submit_send(gw, c);
	}
	gw->n_kick = 0;
}

enum { CH_TERMINATE = 1, CH_NEG_RESPONSE = 2 };

/* What a stream chunk (SOFH frames, whole) carries that changes its connection: a
 * Terminate (the exchange closes the connection after it, protocol 4.9), a
 * NegotiationResponse (the credentials were good: the connection is authenticated). */
static unsigned chunk_scan(const uint8_t *p, uint32_t len)
{
	uint32_t off = 0;
	unsigned k = 0;

	while (len - off >= TKX_SOFH_LEN + TKX_HDR_LEN) {
		uint32_t flen = (uint32_t)p[off] << 24 | (uint32_t)p[off + 1] << 16 |
				(uint32_t)p[off + 2] << 8 | p[off + 3];
		unsigned tid = (unsigned)p[off + TKX_SOFH_LEN + 2] |
			       (unsigned)p[off + TKX_SOFH_LEN + 3] << 8;

		if (tid == TKX_TERMINATE)
			k |= CH_TERMINATE;
		else if (tid == TKX_NEGOTIATION_RESPONSE)
			k |= CH_NEG_RESPONSE;
		if (flen < TKX_SOFH_LEN + TKX_HDR_LEN || flen > len - off)
			break;
		off += flen;
	}
	return k;
}

/* The exchange accepted credentials on c: off the eviction list, and from now on closed
 * only by idle_ms of silence. */
static void conn_authed(struct td_gw *gw, struct conn *c)
{
	uint32_t slot = (uint32_t)(c - gw->conns);

	gw->adm[slot].authed = 1;
	un_unlink(gw, slot);
	c->deadline = gw->mono + gw->idle_ns;
}

/* Appends out's chunks to their connections' send queues, in index order. A chunk for a
 * connection that is gone is dropped (invariant 1); one that does not fit closes its
 * connection (invariant 6). */
static void send_bufs(struct td_gw *gw)
{
	struct ss_out *out = &gw->out;
	uint32_t cap = gw->tx_mask + 1;

	for (uint32_t i = 0; i < out->n_bufs; i++) {
		const struct ss_buf *b = &out->bufs[i];
		uint32_t slot = b->peer.conn & 0xffffu, off, first;
		struct conn *c;

		if (slot >= gw->conf.max_conns) {
			STAT(gw, tx_stale);
			continue;
		}
		c = &gw->conns[slot];
		if (c->gen != (uint16_t)(b->peer.conn >> 16) ||
		    (c->state != CONN_OPEN && c->state != CONN_DRAIN)) {
			STAT(gw, tx_stale);
			continue;
		}
		if (b->len > cap - (c->tx_head - c->tx_tail)) {
			STAT(gw, tx_overflows);
			conn_kill(gw, c);
			continue;
		}
		off = c->tx_head & gw->tx_mask;
		first = cap - off < b->len ? cap - off : b->len;
		memcpy(c->tx + off, b->bytes, first);
		memcpy(c->tx, b->bytes + first, b->len - first);
		c->tx_head += b->len;
		if (c->state == CONN_OPEN) {
			unsigned k = chunk_scan(b->bytes, b->len);

			if ((k & CH_NEG_RESPONSE) && !gw->adm[slot].authed)
				conn_authed(gw, c);
			if (k & CH_TERMINATE) {
				un_unlink(gw, slot);
				c->state = CONN_DRAIN;
				c->deadline = gw->mono + gw->drain_ns;
				gw->n_drain++;
			}
		}
		if (!c->on_kick) {
			c->on_kick = 1;
			gw->kick[gw->n_kick++] = (uint16_t)slot;
		}
	}
}

/* ---- Routing ------------------------------------------------------------------------------ */

static inline uint32_t ring_room(struct td_gw *gw, unsigned m)
{
	/* This thread is the only producer: the free count can only grow behind our back,
	 * so what is read here is safe to fill in one bulk enqueue. */
	if (gw->room[m] == UINT32_MAX)
		gw->room[m] = rte_ring_free_count(gw->route->req[TD_SRC_GW][m]);
	return gw->room[m];
}

static inline int core_blocked(const struct td_gw *gw, unsigned m)
{
	/* invariants 4 and 8 */
	return gw->gq_head[m] != gw->gq_tail[m] || (m == 0 && gw->jq_head != gw->jq_tail);
}

static inline void stage(struct td_gw *gw, unsigned m, const struct dp_order *o)
{
	gw->stage[m][gw->n_stage[m]++] = *o;
	gw->room[m]--;
}

/* Keeps a SESSION_GONE for core m until its ring has room. A session has at most one
 * waiting per core: while one waits, the session's requests for m are answered BUSY, so
 * a second SESSION_GONE would cancel nothing the first does not. A detach (DP_GONE_KEEP)
 * after a cancel-on-disconnect still waiting keeps the cancel: it leaves nothing to
 * detach, and the answer the detach asks for still comes. */
static void gone_push(struct td_gw *gw, unsigned m, const struct dp_order *o)
{
	uint8_t *pend = &gw->gpend[(size_t)m * gw->max_sessions + o->session];
	struct dp_order merged = *o;

	for (unsigned k = 0; k < gw->n_match; k++)
		if (gw->gpend[(size_t)k * gw->max_sessions + o->session] &&
		    !(gw->gone[o->session].scope & DP_GONE_KEEP))
			merged.scope &= (uint8_t)~DP_GONE_KEEP;
	gw->gone[o->session] = merged;
	if (*pend)
		return;
	*pend = 1;
	gw->gq[m][gw->gq_head[m]++ & gw->gq_mask] = o->session;
	gw->n_gone++;
}

/* Moves waiting SESSION_GONE records onto their rings, oldest first. */
static void gone_retry(struct td_gw *gw)
{
	struct dp_order tmp[GW_BURST];

	for (unsigned m = 0; m < gw->n_match && gw->n_gone; m++) {
		uint32_t k, n = 0, done;

		while (n < GW_BURST && gw->gq_tail[m] + n != gw->gq_head[m]) {
			tmp[n] = gw->gone[gw->gq[m][(gw->gq_tail[m] + n) & gw->gq_mask]];
			n++;
		}
		if (!n)
			continue;
		done = rte_ring_sp_enqueue_burst_elem(gw->route->req[TD_SRC_GW][m], tmp,
						      sizeof(struct dp_order), n, NULL);
		for (k = 0; k < done; k++) {
			uint16_t s = gw->gq[m][gw->gq_tail[m]++ & gw->gq_mask];

			gw->gpend[(size_t)m * gw->max_sessions + s] = 0;
		}
		gw->n_gone -= done;
		STAT_ADD(gw, orders_routed, done);
		if (core_blocked(gw, m))
			STAT(gw, ring_full_retries);
	}
}

static void reject(struct td_gw *gw, const struct dp_order *o, uint16_t reason)
{
	int r;

	while ((r = ss_reject_order(gw->ss, o, reason, gw->now, &gw->out)) == -ENOBUFS) {
		/* ss_reject_order() makes buffers only: send them, nothing to route. */
		STAT(gw, out_full);
		send_bufs(gw);
		ss_out_reset(&gw->out);
	}
	if (r == 0 && reason == TKX_REJ_BUSY)
		STAT(gw, busy_rejects);
	else if (r == 0)
		STAT(gw, unknown_contract);
	else
		STAT(gw, reject_failed);
}

/* ---- Journal records (conf.journal; td_gw.h "Journal") ----------------------------------- */

/* Moves waiting journal records onto ring 0, oldest first. */
static void jq_retry(struct td_gw *gw)
{
	uint32_t n = gw->jq_head - gw->jq_tail, done = 0;

	while (n) {
		struct dp_order tmp[GW_BURST];
		uint32_t k, b = n < GW_BURST ? n : GW_BURST;

		for (k = 0; k < b; k++)
			tmp[k] = gw->jq[(gw->jq_tail + k) & gw->jq_mask];
		k = rte_ring_sp_enqueue_burst_elem(gw->route->req[TD_SRC_GW][0], tmp,
						   sizeof(struct dp_order), b, NULL);
		gw->jq_tail += k;
		done += k;
		n -= k;
		if (k < b)
			break;
	}
	STAT_ADD(gw, orders_routed, done);
}

static inline uint32_t jq_free(const struct td_gw *gw)
{
	return gw->jq_mask + 1 - (gw->jq_head - gw->jq_tail);
}

/* Keeps a journal record until ring 0 has room. Never full: rx_frames() stops taking
 * frames while fewer than GW_JQ_RESERVE entries are free (invariant 8). */
static void jq_push(struct td_gw *gw, const struct dp_order *o)
{
	assert(jq_free(gw) > 0);
	if (jq_free(gw) == 0) {
		STAT(gw, jn_lost); /* unreachable */
		return;
	}
	gw->jq[gw->jq_head++ & gw->jq_mask] = *o;
	STAT(gw, jn_pending);
}

/* Enqueues what route() staged for core m so far (room was counted: it cannot fail). */
static void stage_flush(struct td_gw *gw, unsigned m)
{
	uint32_t n = gw->n_stage[m], done;

	if (!n)
		return;
	done = rte_ring_sp_enqueue_bulk_elem(gw->route->req[TD_SRC_GW][m], gw->stage[m],
					     sizeof(struct dp_order), n, NULL);
	gw->n_stage[m] = 0;
	gw->room[m] = UINT32_MAX;
	if (done != n) {
		/* Unreachable (single producer): keep or answer rather than lose them. */
		for (uint32_t k = 0; k < n; k++) {
			const struct dp_order *o = &gw->stage[m][k];

			if (o->type == DP_ORD_SESSION_GONE)
				gone_push(gw, m, o);
			else if (o->type == DP_ORD_SESSION_UP || o->type == DP_ORD_LOCAL ||
				 o->type == DP_ORD_LOGON)
				jq_push(gw, o);
			else if (o->type != DP_ORD_MASS_CANCEL || o->contract_id != 0)
				reject(gw, o, TKX_REJ_BUSY); /* its LOCAL: the next flush */
		}
		return;
	}
	STAT_ADD(gw, orders_routed, done);
}

/* A journal record for the RX core, on ring 0 in order with everything routed there: at
 * once when nothing waits before it and the ring has room, else in the FIFO (which then
 * blocks core 0, invariant 8). route()'s loop only. */
static void jn_emit(struct td_gw *gw, const struct dp_order *o)
{
	if (!core_blocked(gw, 0) && ring_room(gw, 0) > 0)
		stage(gw, 0, o);
	else
		jq_push(gw, o);
}

/* The session layer's hooks (ss_params, set when conf.journal): a record per call, in
 * the order of the calls. From ss_rx() (one message per call: at most one record, and
 * rx_frames() flushes before jn_rec can fill) it is kept with its place among the ss_out's
 * orders and merged by gw_flush(); from ss_reject_order(), which only route() calls, it
 * is emitted at once. */
static void jn_put(struct td_gw *gw, const struct dp_order *o)
{
	STAT(gw, jn_records);
	if (gw->in_route) {
		jn_emit(gw, o);
		return;
	}
	assert(gw->n_jn < GW_JN_STAGE);
	if (gw->n_jn == GW_JN_STAGE) {
		STAT(gw, jn_lost); /* unreachable: rx_frames() flushes first */
		return;
	}
	gw->jn_pos[gw->n_jn] = (uint16_t)gw->out.n_orders;
	gw->jn_rec[gw->n_jn++] = *o;
}

static void jn_on_established(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			      uint64_t next_in)
{
	struct td_gw *gw = arg;
	struct dp_order o;

	dp_order_session_up(&o, TD_SRC_GW, slot, session_id, firm_id, next_in, gw->now);
	jn_put(gw, &o);
}

static void jn_on_negotiated(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			     uint64_t timestamp)
{
	struct td_gw *gw = arg;
	struct dp_order o;

	dp_order_logon(&o, TD_SRC_GW, slot, session_id, firm_id, timestamp, gw->now);
	jn_put(gw, &o);
	gw->neg_taken = 1; /* rx_frames(): its connection showed good credentials */
}

static void jn_on_local_reply(void *arg, uint16_t slot, uint16_t template_id, const void *body,
			      uint16_t blen)
{
	struct td_gw *gw = arg;
	struct dp_order o;

	/* Every local reply fits (dp_msg.h's static asserts). */
	if (dp_order_local_pack(&o, TD_SRC_GW, slot, template_id, body, blen, gw->now) != 0) {
		STAT(gw, jn_lost);
		return;
	}
	jn_put(gw, &o);
}

/* Every order goes to its ring(s) or is answered (invariants 4, 5, 8); one bulk enqueue
 * per core, in the orders' order. */
static void route(struct td_gw *gw, const struct dp_order *orders, uint32_t n)
{
	const struct td_route *rt = gw->route;
	unsigned m;

	if (gw->jq_head != gw->jq_tail)
		jq_retry(gw); /* before SESSION_GONE: a session's SESSION_UP may wait there */
	if (gw->n_gone)
		gone_retry(gw);
	if (!n)
		return;
	for (m = 0; m < gw->n_match; m++) {
		gw->n_stage[m] = 0;
		gw->room[m] = UINT32_MAX;
	}
	gw->in_route = 1;
	for (uint32_t i = 0; i < n; i++) {
		const struct dp_order *o = &orders[i];
		int core;

		if (o->type == DP_ORD_SESSION_UP || o->type == DP_ORD_LOCAL ||
		    o->type == DP_ORD_LOGON) {
			jn_emit(gw, o); /* core 0: with a journal, the RX core */
			continue;
		}
		if (o->type == DP_ORD_SESSION_GONE) {
			/* Every core answers a detach: the session layer counts parts. */
			struct dp_order part = *o;
			part.parts = (uint8_t)gw->n_match;
			for (m = 0; m < gw->n_match; m++) {
				if (!core_blocked(gw, m) && ring_room(gw, m) > 0) {
					stage(gw, m, &part);
				} else {
					gone_push(gw, m, &part);
					STAT(gw, ring_full_retries);
				}
			}
			continue;
		}
		if (o->type == DP_ORD_MASS_CANCEL && o->contract_id == 0) {
			for (m = 0; m < gw->n_match; m++)
				if (core_blocked(gw, m) || ring_room(gw, m) == 0)
					break;
			if (m < gw->n_match) {
				reject(gw, o, TKX_REJ_BUSY);
				continue;
			}
			/* Each core acks its part; the session layer merges them into one. */
			struct dp_order part = *o;
			part.parts = (uint8_t)gw->n_match;
			for (m = 0; m < gw->n_match; m++)
				stage(gw, m, &part);
			continue;
		}
		core = td_route_core(rt, o->contract_id);
		if (core < 0 || (unsigned)core >= gw->n_match) {
			reject(gw, o, TKX_REJ_UNKNOWN_CONTRACT);
			continue;
		}
		if (core_blocked(gw, (unsigned)core) || ring_room(gw, (unsigned)core) == 0) {
			reject(gw, o, TKX_REJ_BUSY);
			continue;
		}
		stage(gw, (unsigned)core, o);
	}
	gw->in_route = 0;
	/* Room was read from each ring and only this thread fills it: each bulk enqueue
	 * cannot fail, and is one store-release for the burst. */
	for (m = 0; m < gw->n_match; m++)
		stage_flush(gw, m);
}

/*
 * The end of a burst (ss_session.h's output contract): send the chunks, route the orders,
 * reset; the rejects routing made are sent too. Also called mid-burst when a session
 * call returns -ENOBUFS, and to retry waiting SESSION_GONE records.
 */
static void gw_flush(struct td_gw *gw)
{
	struct ss_out *out = &gw->out;
	uint32_t n = 0, j = 0;

	/* The orders, with the journal records the same session calls made merged in where
	 * they were made (jn_pos): the ring's order is the order things happened. */
	for (uint32_t i = 0; i < out->n_orders; i++) {
		while (j < gw->n_jn && gw->jn_pos[j] <= i)
			gw->orders[n++] = gw->jn_rec[j++];
		if (out->orders[i].type == DP_ORD_LOCAL)
			STAT(gw, jn_records); /* a reply the session layer held, let go */
		gw->orders[n++] = out->orders[i];
	}
	while (j < gw->n_jn)
		gw->orders[n++] = gw->jn_rec[j++];
	gw->n_jn = 0;
	send_bufs(gw);
	ss_out_reset(out);
	route(gw, gw->orders, n);
	send_bufs(gw);
	ss_out_reset(out);
	kick_sends(gw);
}

/* ---- Receiving -------------------------------------------------------------------------- */

static void submit_recv(struct td_gw *gw, struct conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(gw);

	if (!sqe) {
		STAT(gw, recv_errors);
		conn_kill(gw, c);
		return;
	}
	io_uring_prep_recv(sqe, c->fd, c->rx + c->rx_len, TD_GW_RX_CAP - c->rx_len, 0);
	io_uring_sqe_set_data64(sqe, ud_make(OP_RECV, (uint32_t)(c - gw->conns), c->gen));
	c->recv_busy = 1;
	gw->inflight++;
}

/* With a journal: may ss_rx() take another frame? Each frame makes at most one record
 * (ss_params: one hook call per message; the gateway gives one message per call) or one
 * order, whose reject may make one; the FIFO of waiting records keeps room for two
 * flushes of those (invariant 8). */
#define GW_JQ_RESERVE (2 * (SS_OUT_ORDERS + GW_JN_STAGE))

/* New bytes at rx[rx_len - got, rx_len): every complete frame's message to ss_rx(), the
 * incomplete tail kept at the front (at most one frame, < TD_GW_RX_CAP). Returns 1 when
 * the connection was parked (journal records wait for the RX core: resume_parked() goes
 * on later and then arms its recv), else 0. */
static int rx_frames(struct td_gw *gw, struct conn *c)
{
	uint32_t off = 0;
	int parked = 0;

	while (c->state == CONN_OPEN) {
		int f = tkx_sofh_next(c->rx + off, c->rx_len - off);

		if (f == 0)
			break;
		if (gw->jn && jq_free(gw) < GW_JQ_RESERVE) {
			/* Backpressure: the RX core is far behind; TCP holds the rest. */
			STAT(gw, jn_parked);
			gw->parked[gw->n_parked++] = conn_id(gw, c);
			parked = 1;
			break;
		}
		if (gw->jn && gw->n_jn == GW_JN_STAGE) {
			gw_flush(gw); /* jn_rec is full: route it first */
			continue;
		}
		if (f < 0) {
			STAT(gw, bad_frames); /* invariant 3 */
			conn_kill(gw, c);
			return 0;
		}
		/* One frame, one message (protocol 3.2): a frame longer or shorter than the
		 * message its SBE header announces is dropped whole (7.1), never applied in
		 * part; other messages that do not decode are the session layer's to count. */
		int ml = tkx_decode(c->rx + off + TKX_SOFH_LEN, (size_t)f - TKX_SOFH_LEN, NULL);
		if (ml == -ENODATA || (ml > 0 && ml != f - TKX_SOFH_LEN)) {
			STAT(gw, bad_length);
			off += (uint32_t)f;
			continue;
		}
		gw->neg_taken = 0;
		int rc = ss_rx(gw->ss, &c->peer, c->rx + off + TKX_SOFH_LEN,
			       (size_t)f - TKX_SOFH_LEN, gw->now, &gw->out);
		/* A Negotiate taken (its response waits for the journal): the credentials were
		 * good, so the connection's credentials deadline no longer applies, however
		 * long the record takes to become durable. */
		if (gw->neg_taken && !gw->adm[c - gw->conns].authed)
			conn_authed(gw, c);
		if (rc == -ENOBUFS) {
			/* Nothing was done: flush and give the frame again, unless the
			 * flush ended the connection (a Terminate, an overflow). */
			STAT(gw, out_full);
			gw_flush(gw);
			continue;
		}
		if (rc == -EAGAIN) {
			/* Its session has as many requests unanswered as it may (ss_session.h
			 * invariant 15): the frame waits, and TCP holds the rest, until
			 * replies come (resume_parked). */
			gw->parked[gw->n_parked++] = conn_id(gw, c);
			parked = 1;
			break;
		}
		STAT(gw, rx_frames);
		off += (uint32_t)f;
	}
	if (c->state != CONN_OPEN) {
		c->rx_len = 0; /* after our Terminate the rest is ignored */
		return 0;
	}
	if (off) {
		memmove(c->rx, c->rx + off, c->rx_len - off);
		c->rx_len -= off;
	}
	return parked;
}

/* Parked connections whose frames may go on: the FIFO of journal records has room again,
 * or their session's replies came (rx_frames parks them again if not). A connection that
 * was closed (or whose slot was reused) meanwhile is skipped. */
static void resume_parked(struct td_gw *gw)
{
	uint32_t n = gw->n_parked;

	if (!n || (gw->jn && jq_free(gw) < GW_JQ_RESERVE))
		return;
	gw->n_parked = 0; /* rx_frames() may park some again */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = gw->parked[i];
		struct conn *c = &gw->conns[id & 0xffffu];

		if (c->gen != (uint16_t)(id >> 16) || c->recv_busy)
			continue;
		if (c->state == CONN_OPEN && rx_frames(gw, c))
			continue; /* parked again */
		if (c->state == CONN_OPEN || c->state == CONN_DRAIN)
			submit_recv(gw, c);
	}
}

static void on_recv(struct td_gw *gw, struct conn *c, int res)
{
	c->recv_busy = 0;
	if (c->state != CONN_OPEN && c->state != CONN_DRAIN)
		return;
	if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
		submit_recv(gw, c);
		return;
	}
	if (res <= 0) {
		if (res < 0)
			STAT(gw, recv_errors);
		conn_kill(gw, c); /* EOF: the client closed */
		return;
	}
	STAT_ADD(gw, rx_bytes, (uint64_t)res);
	if (c->state == CONN_DRAIN || gw->input_off) {
		c->rx_len = 0; /* after our Terminate, or stopping: dropped unread */
	} else {
		/* Bytes keep an authenticated connection, never one still to show its
		 * credentials (its negotiate_ms deadline stays). */
		if (gw->adm[c - gw->conns].authed)
			c->deadline = gw->mono + gw->idle_ns;
		c->rx_len += (uint32_t)res;
		if (rx_frames(gw, c))
			return; /* parked: resume_parked() arms the recv */
	}
	if (c->state == CONN_OPEN || c->state == CONN_DRAIN)
		submit_recv(gw, c);
}

static void on_send(struct td_gw *gw, struct conn *c, int res)
{
	c->send_busy = 0;
	if (c->state != CONN_OPEN && c->state != CONN_DRAIN)
		return;
	if (res == -EINTR || res == -EAGAIN) {
		submit_send(gw, c);
		return;
	}
	if (res <= 0) {
		STAT(gw, send_errors);
		conn_kill(gw, c);
		return;
	}
	STAT_ADD(gw, tx_bytes, (uint64_t)res);
	c->tx_tail += (uint32_t)res;
	submit_send(gw, c); /* the rest, a partial send's tail, or the DRAIN FIN */
}

/* ---- Accepting ---------------------------------------------------------------------------- */

static void arm_accept(struct td_gw *gw)
{
	struct io_uring_sqe *sqe = get_sqe(gw);

	if (!sqe)
		return; /* tried again next tick */
	io_uring_prep_multishot_accept(sqe, gw->lfd, NULL, NULL, SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, ud_make(OP_ACCEPT, 0, 0));
	gw->accept_armed = 1;
	gw->inflight++;
}

/* Gives the connection fd from ip:port (network order) a FREE slot (n_free > 0; it is
 * counted against its address already) and arms its first recv. */
static void admit(struct td_gw *gw, int fd, uint32_t ip, uint16_t port)
{
	uint16_t slot = gw->free_stack[--gw->n_free];
	struct conn *c = &gw->conns[slot];
	int one = 1;

	c->fd = fd;
	c->gen++;
	c->state = CONN_OPEN;
	c->recv_busy = c->send_busy = 0;
	c->disconnected = c->on_kick = c->fin_sent = 0;
	c->rx_len = 0;
	c->tx_head = c->tx_tail = 0;
	c->deadline = gw->mono + gw->negotiate_ns;
	memset(&c->peer, 0, sizeof(c->peer));
	c->peer.ip = ip; /* network order, as ss_log_format() wants */
	c->peer.port = port;
	c->peer.conn = conn_id(gw, c);
	gw->adm[slot].authed = 0;
	un_push(gw, slot);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (gw->conf.sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &gw->conf.sndbuf, sizeof(gw->conf.sndbuf));
	STAT(gw, conns_accepted);
	submit_recv(gw, c);
}

/* A new connection: refused, admitted, or (table full) admitted in place of the oldest
 * unauthenticated one (td_gw.h "Admission"). */
static void on_accept(struct td_gw *gw, int res, unsigned flags)
{
	struct sockaddr_in sa;
	socklen_t salen = sizeof(sa);
	uint32_t ip = 0, i;
	uint16_t port = 0;

	if (!(flags & IORING_CQE_F_MORE)) {
		gw->accept_armed = 0; /* re-armed at the next tick */
		gw->inflight--;
	}
	if (res < 0) {
		if (res != -ECANCELED)
			STAT(gw, accept_errors);
		return;
	}
	if (gw->input_off || __atomic_load_n(&gw->stop, __ATOMIC_RELAXED)) {
		STAT(gw, conns_refused);
		close(res);
		return;
	}
	/* The peer's address comes from getpeername(): one sockaddr shared by every
	 * completion of a multishot accept would be overwritten before it is read. */
	if (getpeername(res, (struct sockaddr *)&sa, &salen) == 0 && sa.sin_family == AF_INET) {
		ip = sa.sin_addr.s_addr;
		port = sa.sin_port;
	}
	i = ipt_find(gw, ip);
	if (gw->ipt[i].n >= gw->conf.max_conns_per_ip) {
		STAT(gw, per_ip_refused);
		close(res);
		return;
	}
	if (!gw->n_free) {
		/* Full. A connection closing now frees its slot once its ops are done
		 * (conn_reap()): this one waits for it; with every closing one spoken for,
		 * the oldest connection still to show credentials makes room. */
		uint32_t waiting = gw->pend_head - gw->pend_tail;

		if (waiting == GW_PENDING || (waiting >= gw->n_dead && gw->un_head == GW_NONE)) {
			STAT(gw, conns_refused);
			close(res);
			return;
		}
		if (waiting >= gw->n_dead) {
			STAT(gw, conns_evicted);
			conn_kill(gw, &gw->conns[gw->un_head]);
		}
		gw->ipt[i].ip = ip;
		gw->ipt[i].n++;
		gw->pend[gw->pend_head++ % GW_PENDING] = (struct pending){ res, ip, port };
		return;
	}
	gw->ipt[i].ip = ip;
	gw->ipt[i].n++;
	admit(gw, res, ip, port);
}

/* ---- The loop ------------------------------------------------------------------------------ */

static void reap_cqes(struct td_gw *gw)
{
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;

	io_uring_for_each_cqe(&gw->ring, head, cqe) {
		uint64_t ud = io_uring_cqe_get_data64(cqe);
		unsigned op = (unsigned)(ud & 0xff);
		uint32_t slot = (uint32_t)(ud >> 8) & 0xffff;
		struct conn *c = slot < gw->conf.max_conns ? &gw->conns[slot] : NULL;

		seen++;
		switch (op) {
		case OP_ACCEPT:
			on_accept(gw, cqe->res, cqe->flags);
			break;
		case OP_RECV:
			gw->inflight--;
			if (c)
				on_recv(gw, c, cqe->res);
			break;
		case OP_SEND:
			gw->inflight--;
			if (c)
				on_send(gw, c, cqe->res);
			break;
		default: /* OP_CANCEL: its own result does not matter */
			break;
		}
	}
	io_uring_cq_advance(&gw->ring, seen);
}

/* Replies from the matching cores' rings to the session layer; how many were taken. */
static unsigned poll_events(struct td_gw *gw)
{
	unsigned total = 0;

	for (unsigned m = 0; m < gw->n_match; m++) {
		struct rte_ring *r = gw->route->ev[m][TD_SRC_GW];

		for (unsigned b = 0; b < GW_EV_BURSTS; b++) {
			unsigned n = rte_ring_sc_dequeue_burst_elem(r, gw->evbuf,
								    sizeof(struct dp_event),
								    GW_BURST, NULL);
			unsigned done = 0;

			if (!n)
				break;
			total += n;
			STAT_ADD(gw, events, n);
			for (;;) {
				done += ss_event(gw->ss, gw->evbuf + done, n - done, gw->now,
						 &gw->out);
				if (done == n)
					break;
				STAT(gw, out_full);
				gw_flush(gw);
			}
			if (n < GW_BURST)
				break;
		}
	}
	return total;
}

static void tick(struct td_gw *gw)
{
	while (ss_tick(gw->ss, gw->now, &gw->out) == -ENOBUFS) {
		STAT(gw, out_full);
		gw_flush(gw);
	}
	if (gw->conf.ctl_poll) {
		gw_flush(gw); /* the hook gets an empty output */
		gw->conf.ctl_poll(gw->conf.ctl_arg, gw->ss, &gw->out, gw->now);
	}
	/* A scan of the table: every 10 ms while a connection drains, else every 100. */
	if (gw->mono >= gw->next_scan) {
		for (uint32_t i = 0; i < gw->conf.max_conns; i++) {
			struct conn *c = &gw->conns[i];

			if ((c->state != CONN_OPEN && c->state != CONN_DRAIN) ||
			    gw->mono < c->deadline)
				continue;
			if (c->state == CONN_DRAIN)
				STAT(gw, drain_timeouts);
			else if (!gw->adm[i].authed)
				STAT(gw, negotiate_timeouts);
			else
				STAT(gw, idle_timeouts);
			conn_kill(gw, c);
		}
		gw->next_scan = gw->mono + (gw->n_drain ? 10 : 100) * 1000000ull;
	} else if (gw->n_drain && gw->next_scan > gw->mono + 10 * 1000000ull) {
		gw->next_scan = gw->mono + 10 * 1000000ull;
	}
	if (!gw->accept_armed && !gw->input_off && !__atomic_load_n(&gw->stop, __ATOMIC_RELAXED))
		arm_accept(gw);
}

/* Flush until nothing is left: closing connections makes SESSION_GONE records, sending
 * may close connections. Each round closes at least one connection or ends. */
static void settle(struct td_gw *gw)
{
	do {
		gw_flush(gw);
		conn_reap(gw);
	} while (gw->out.n_bufs || gw->out.n_orders || gw->n_jn);
}

/* Submit what is queued and wait for a completion at most poll_us (0: do not wait). */
static void wait_kernel(struct td_gw *gw, uint32_t us)
{
	if (us) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = (long long)us * 1000 };
		struct io_uring_cqe *cqe;

		io_uring_submit_and_wait_timeout(&gw->ring, &cqe, 1, &ts, NULL);
	} else {
		io_uring_submit(&gw->ring);
	}
}

/* td_gw_quiesce() seen (td_gw.h "Stop"): no new connection, and from here on inbound
 * bytes are dropped unread (on_recv()). The frames parked connections hold were never
 * given to the session layer: dropped too, and their recv armed again so that an EOF is
 * seen. */
static void input_stop(struct td_gw *gw)
{
	gw->input_off = 1;
	pend_close(gw);
	for (uint32_t i = 0; i < gw->n_parked; i++) {
		uint32_t id = gw->parked[i];
		struct conn *c = &gw->conns[id & 0xffffu];

		if (c->gen != (uint16_t)(id >> 16) || c->recv_busy ||
		    (c->state != CONN_OPEN && c->state != CONN_DRAIN))
			continue;
		c->rx_len = 0;
		submit_recv(gw, c);
	}
	gw->n_parked = 0;
}

/* Quiesced: once everything the sessions made is on the rings (a journal record or a
 * SESSION_GONE may wait for room on its ring), say so; the release pairs with
 * td_gw_quiet()'s acquire, so that whoever sees it sees those ring entries too. */
static void quiet_check(struct td_gw *gw)
{
	if (__atomic_load_n(&gw->quiet, __ATOMIC_RELAXED) || gw->n_gone ||
	    gw->jq_head != gw->jq_tail || gw->n_jn || gw->out.n_orders)
		return;
	__atomic_store_n(&gw->quiet, 1, __ATOMIC_RELEASE);
}

/* td_gw_stop(), first step (td_gw.h "Stop"): nothing produces replies any more, so what
 * is on the rings is all there will be; it is taken and queued, then every connection
 * drains as after a Terminate (queue sent, FIN, the client's EOF), all within stop_ms. */
static void gw_stop_drain(struct td_gw *gw)
{
	int rings_empty = 0;
	uint64_t end;

	if (!gw->input_off)
		input_stop(gw);
	gw->mono = td_mono_ns();
	end = gw->mono + gw->stop_ns;
	for (;;) {
		gw->now = td_now_ns();
		gw->mono = td_mono_ns();
		reap_cqes(gw);
		if (!rings_empty && poll_events(gw) == 0 && !ss_held(gw->ss)) {
			rings_empty = 1;
			settle(gw);
			for (uint32_t i = 0; i < gw->conf.max_conns; i++) {
				struct conn *c = &gw->conns[i];

				if (c->state != CONN_OPEN)
					continue;
				un_unlink(gw, i);
				c->state = CONN_DRAIN;
				c->deadline = end;
				gw->n_drain++;
				submit_send(gw, c); /* the queue's rest, or the FIN at once */
			}
		}
		/* What the replies just taken let go (ss_session.h invariant 15). */
		while (ss_release(gw->ss, gw->now, &gw->out) == -ENOBUFS) {
			STAT(gw, out_full);
			gw_flush(gw);
		}
		settle(gw);
		if ((rings_empty && !gw->n_drain) || gw->mono >= end)
			break;
		wait_kernel(gw, rings_empty ? TD_GW_POLL_MAX_US : 0);
	}
}

/* Stop, last step: what is left is closed as a disconnect; SESSION_GONE records get
 * GW_STOP_GONE_NS to reach their rings, in-flight SQEs GW_STOP_SQE_NS to complete. */
static void gw_shutdown(struct td_gw *gw)
{
	struct io_uring_sqe *sqe;
	uint64_t t0 = td_mono_ns();

	/* No more replies are taken: the sessions end now, not after them (their
	 * SESSION_GONE must reach the cores within GW_STOP_GONE_NS). */
	ss_forget_replies(gw->ss);
	for (uint32_t i = 0; i < gw->conf.max_conns; i++)
		conn_kill(gw, &gw->conns[i]);
	if (gw->accept_armed && (sqe = get_sqe(gw)) != NULL) {
		io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, 0), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	}
	for (;;) {
		uint64_t el = td_mono_ns() - t0;

		gw->now = td_now_ns();
		gw->mono = td_mono_ns();
		reap_cqes(gw);
		conn_reap(gw); /* the disconnects first: their ends go out below */
		while (ss_release(gw->ss, gw->now, &gw->out) == -ENOBUFS)
			gw_flush(gw);
		settle(gw);
		if (!gw->inflight && ((!gw->n_gone && gw->jq_head == gw->jq_tail) ||
				      el > GW_STOP_GONE_NS))
			break;
		if (el > GW_STOP_SQE_NS)
			break;
		wait_kernel(gw, TD_GW_POLL_MAX_US);
	}
}

static void *gw_main(void *arg)
{
	struct td_gw *gw = arg;

	gw->mono = td_mono_ns();
	gw->next_tick = gw->mono;
	gw->next_scan = gw->mono;
	while (!__atomic_load_n(&gw->stop, __ATOMIC_ACQUIRE)) {
		wait_kernel(gw, gw->conf.poll_us);
		gw->now = td_now_ns();
		gw->mono = td_mono_ns();
		if (!gw->input_off && __atomic_load_n(&gw->quiesce, __ATOMIC_ACQUIRE))
			input_stop(gw);
		reap_cqes(gw);
		poll_events(gw);
		/* What the replies just taken let go (ss_session.h invariant 15). */
		while (ss_release(gw->ss, gw->now, &gw->out) == -ENOBUFS) {
			STAT(gw, out_full);
			gw_flush(gw);
		}
		resume_parked(gw);
		settle(gw);
		/* After the flush: a Negotiate taken in this pass has authenticated its
		 * connection (send_bufs()) before the deadlines are looked at. */
		if (gw->mono >= gw->next_tick) {
			tick(gw);
			gw->next_tick = gw->mono + gw->tick_ns;
			settle(gw);
		}
		if (gw->input_off)
			quiet_check(gw);
		STAT(gw, loops);
	}
	gw_stop_drain(gw);
	gw_shutdown(gw);
	return NULL;
}

/* ---- Set-up ---------------------------------------------------------------------------------- */

void td_gw_conf_default(struct td_gw_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->ip = INADDR_LOOPBACK;
	c->port = TKX_PORT_ORDER_TCP;
	ss_params_default(&c->ss);
	c->max_conns = TKX_VENUE_MAX_SESSIONS;
	c->max_conns_per_ip = TKX_VENUE_TCP_MAX_CONNS_PER_IP;
	c->negotiate_ms = TKX_VENUE_TCP_NEGOTIATE_MS;
	c->stop_ms = 2000;
	c->tx_queue = 65536;
	c->poll_us = 20;
	c->tick_us = 1000;
	c->drain_ms = 1000;
	c->idle_ms = 0;
	c->sq_entries = 1024;
	c->sndbuf = 0;
	c->cpu = -1;
}

static int is_pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

static uint32_t pow2_at_least(uint32_t x)
{
	uint32_t p = 1;

	while (p < x)
		p <<= 1;
	return p;
}

#define FAIL(rc, ...)                                                                      \
	do {                                                                               \
		if (err && errlen)                                                         \
			snprintf(err, errlen, __VA_ARGS__);                                \
		return (rc);                                                               \
	} while (0)

static int check_conf(const struct td_gw_conf *c, char *err, size_t errlen)
{
	const struct td_route *r = c->route;

	if (c->max_conns < 1 || c->max_conns > TD_GW_MAX_CONNS)
		FAIL(-EINVAL, "gateway: max_conns %u not in 1..%u", c->max_conns, TD_GW_MAX_CONNS);
	if (c->max_conns_per_ip < 1 || c->max_conns_per_ip > TD_GW_MAX_CONNS)
		FAIL(-EINVAL, "gateway: max_conns_per_ip %u not in 1..%u", c->max_conns_per_ip,
		     TD_GW_MAX_CONNS);
	if (c->negotiate_ms < 1 || c->negotiate_ms > 600000)
		FAIL(-EINVAL, "gateway: negotiate_ms %u not in 1..600000", c->negotiate_ms);
	if (c->stop_ms > 600000)
		FAIL(-EINVAL, "gateway: stop_ms %u above 600000", c->stop_ms);
	if (!is_pow2(c->tx_queue) || c->tx_queue < 4096 || c->tx_queue > (1u << 30))
		FAIL(-EINVAL, "gateway: tx_queue %u is not a power of two in 4096..2^30",
		     c->tx_queue);
	if (c->poll_us > TD_GW_POLL_MAX_US)
		FAIL(-EINVAL, "gateway: poll_us %u above %u", c->poll_us, TD_GW_POLL_MAX_US);
	if (c->tick_us < 100 || c->tick_us > 100000)
		FAIL(-EINVAL, "gateway: tick_us %u not in 100..100000", c->tick_us);
	if (!is_pow2(c->sq_entries) || c->sq_entries < 64 || c->sq_entries > 32768)
		FAIL(-EINVAL, "gateway: sq_entries %u is not a power of two in 64..32768",
		     c->sq_entries);
	if (c->sndbuf < 0)
		FAIL(-EINVAL, "gateway: sndbuf %d is negative", c->sndbuf);
	if (!r)
		FAIL(-EINVAL, "gateway: no route table");
	if (r->n_match < 1 || r->n_match > TD_MAX_MATCH || r->n > TD_MAX_CONTRACTS)
		FAIL(-EINVAL, "gateway: route has %u matching cores (1..%u) and %u contracts",
		     r->n_match, TD_MAX_MATCH, r->n);
	for (uint32_t m = 0; m < r->n_match; m++)
		if (!r->req[TD_SRC_GW][m] || !r->ev[m][TD_SRC_GW])
			FAIL(-EINVAL, "gateway: no ring between the gateway and matching core %u",
			     m);
	for (uint32_t i = 0; i < r->n; i++)
		if (r->core[i] >= r->n_match)
			FAIL(-EINVAL, "gateway: contract %u routed to core %u of %u",
			     r->contract[i], r->core[i], r->n_match);
	if (c->cpu >= CPU_SETSIZE)
		FAIL(-EINVAL, "gateway: cpu %d out of range", c->cpu);
	return 0;
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static int listen_socket(struct td_gw *gw, char *err, size_t errlen)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int one = 1, e;

	gw->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (gw->lfd < 0) {
		e = errno;
		FAIL(-e, "gateway: socket: %s", strerror(e));
	}
	sa.sin_addr.s_addr = htonl(gw->conf.ip);
	sa.sin_port = htons(gw->conf.port);
	if (setsockopt(gw->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(gw->lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    listen(gw->lfd, SOMAXCONN) != 0 ||
	    getsockname(gw->lfd, (struct sockaddr *)&sa, &salen) != 0) {
		e = errno;
		FAIL(-e, "gateway: listen on %u.%u.%u.%u:%u: %s", gw->conf.ip >> 24,
		     (gw->conf.ip >> 16) & 0xff, (gw->conf.ip >> 8) & 0xff, gw->conf.ip & 0xff,
		     gw->conf.port, strerror(e));
	}
	gw->port = ntohs(sa.sin_port);
	return 0;
}

static void gw_free(struct td_gw *gw)
{
	if (gw->ring_ok)
		io_uring_queue_exit(&gw->ring);
	for (uint32_t i = 0; gw->conns && i < gw->conf.max_conns; i++)
		if (gw->conns[i].fd >= 0)
			close(gw->conns[i].fd);
	if (gw->lfd >= 0)
		close(gw->lfd);
	free(gw->mem);
}

int td_gw_create(struct td_gw **out_gw, const struct td_gw_conf *conf, char *err,
		 size_t errlen)
{
	struct td_gw_conf c = *conf;
	size_t ss_size, off, o_gw, o_ss, o_conns, o_stk, o_adm, o_ipt, o_kick, o_dead, o_park,
		o_gone, o_gq, o_gpend, o_jq, o_rx, o_tx;
	uint32_t gq_cap, jq_cap, ipt_cap;
	struct td_gw *gw;
	uint8_t *mem;
	void *p;
	int rc;

	*out_gw = NULL;
	rc = check_conf(&c, err, errlen);
	if (rc)
		return rc;
	c.ss.transport = SS_TCP;
	c.ss.core = TD_SRC_GW;
	if (c.journal) {
		/* td_gw.h "Journal": the table numbers nothing by itself. */
		c.ss.defer_local = 1;
		c.ss.on_established = jn_on_established;
		c.ss.on_local_reply = jn_on_local_reply;
		c.ss.on_negotiated = jn_on_negotiated;
	}
	ss_size = ss_table_memsize(&c.ss);
	if (!ss_size)
		FAIL(-EINVAL, "gateway: session parameters invalid");
	gq_cap = pow2_at_least(c.ss.max_sessions);
	jq_cap = c.journal ? pow2_at_least(c.ss.max_sessions > GW_JQ_MIN ? c.ss.max_sessions
									 : GW_JQ_MIN) : 0;
	ipt_cap = pow2_at_least(2 * (c.max_conns + GW_PENDING));

	/* One allocation, laid out here; nothing is allocated after this. */
	off = 0;
	o_gw = off;
	off = align64(off + sizeof(struct td_gw));
	o_ss = off;
	off = align64(off + ss_size);
	o_conns = off;
	off = align64(off + (size_t)c.max_conns * sizeof(struct conn));
	o_stk = off;
	off = align64(off + (size_t)c.max_conns * sizeof(uint16_t));
	o_adm = off;
	off = align64(off + (size_t)c.max_conns * sizeof(struct conn_adm));
	o_ipt = off;
	off = align64(off + (size_t)ipt_cap * sizeof(struct ip_count));
	o_kick = off;
	off = align64(off + (size_t)c.max_conns * sizeof(uint16_t));
	o_dead = off;
	off = align64(off + (size_t)c.max_conns * sizeof(uint16_t));
	o_park = off;
	off = align64(off + (size_t)c.max_conns * sizeof(uint32_t));
	o_gone = off;
	off = align64(off + (size_t)c.ss.max_sessions * sizeof(struct dp_order));
	o_gq = off;
	off = align64(off + (size_t)c.route->n_match * gq_cap * sizeof(uint16_t));
	o_gpend = off;
	off = align64(off + (size_t)c.route->n_match * c.ss.max_sessions);
	o_jq = off;
	off = align64(off + (size_t)jq_cap * sizeof(struct dp_order));
	o_rx = off;
	off = align64(off + (size_t)c.max_conns * TD_GW_RX_CAP);
	o_tx = off;
	off += (size_t)c.max_conns * c.tx_queue;
	if (posix_memalign(&p, 64, off) != 0)
		FAIL(-ENOMEM, "gateway: cannot allocate %zu bytes", off);
	mem = p;
	gw = (struct td_gw *)(mem + o_gw);
	memset(gw, 0, sizeof(*gw));
	gw->mem = p;
	gw->lfd = -1;
	gw->conf = c;
	gw->route = c.route;
	gw->n_match = c.route->n_match;
	gw->tx_mask = c.tx_queue - 1;
	gw->gq_mask = gq_cap - 1;
	gw->max_sessions = c.ss.max_sessions;
	gw->tick_ns = (uint64_t)c.tick_us * 1000;
	gw->drain_ns = (uint64_t)c.drain_ms * 1000000;
	gw->idle_ns = (uint64_t)(c.idle_ms ? c.idle_ms : 3ull * c.ss.keepalive_max_ms) * 1000000;
	gw->negotiate_ns = (uint64_t)c.negotiate_ms * 1000000;
	gw->stop_ns = (uint64_t)c.stop_ms * 1000000;
	gw->conns = (struct conn *)(mem + o_conns);
	gw->free_stack = (uint16_t *)(mem + o_stk);
	gw->adm = (struct conn_adm *)(mem + o_adm);
	gw->ipt = (struct ip_count *)(mem + o_ipt);
	memset(gw->ipt, 0, (size_t)ipt_cap * sizeof(struct ip_count));
	gw->ipt_mask = ipt_cap - 1;
	gw->ipt_shift = 64;
	for (uint32_t k = ipt_cap; k > 1; k >>= 1)
		gw->ipt_shift--;
	gw->un_head = gw->un_tail = GW_NONE;
	gw->kick = (uint16_t *)(mem + o_kick);
	gw->dead = (uint16_t *)(mem + o_dead);
	gw->parked = (uint32_t *)(mem + o_park);
	gw->gone = (struct dp_order *)(mem + o_gone);
	gw->gpend = mem + o_gpend;
	memset(gw->gpend, 0, (size_t)gw->n_match * c.ss.max_sessions);
	for (uint32_t m = 0; m < gw->n_match; m++)
		gw->gq[m] = (uint16_t *)(mem + o_gq) + (size_t)m * gq_cap;
	gw->jn = c.journal != 0;
	gw->jq = jq_cap ? (struct dp_order *)(mem + o_jq) : NULL;
	gw->jq_mask = jq_cap ? jq_cap - 1 : 0;
	for (uint32_t i = 0; i < c.max_conns; i++) {
		struct conn *cn = &gw->conns[i];

		memset(cn, 0, sizeof(*cn));
		cn->fd = -1;
		gw->adm[i] = (struct conn_adm){ .prev = GW_NONE, .next = GW_NONE };
		cn->rx = mem + o_rx + (size_t)i * TD_GW_RX_CAP;
		cn->tx = mem + o_tx + (size_t)i * c.tx_queue;
		/* lowest slots on top: connections fill the table from 0 */
		gw->free_stack[c.max_conns - 1 - i] = (uint16_t)i;
	}
	gw->n_free = c.max_conns;

	if (c.journal)
		c.ss.hook_arg = gw;
	gw->ss = ss_table_init(mem + o_ss, ss_size, &c.ss);
	if (!gw->ss) {
		gw_free(gw);
		FAIL(-EINVAL, "gateway: session table init failed");
	}
	*out_gw = gw;
	return 0;
}

struct ss_table *td_gw_shadow_create(const struct td_gw *gw)
{
	struct ss_params p = gw->conf.ss;
	p.transport = SS_TCP;
	p.core = TD_SRC_GW;
	p.defer_local = 1;
	p.on_established = NULL; /* fed by the RX core's calls only, never by ss_rx() */
	p.on_local_reply = NULL;
	p.on_negotiated = NULL;
	p.hook_arg = NULL;
	size_t len = ss_table_memsize(&p);
	if (len == 0)
		return NULL;
	len = (len + 63) & ~(size_t)63;
	void *mem = aligned_alloc(64, len);
	if (mem == NULL)
		return NULL;
	memset(mem, 0, len);
	struct ss_table *t = ss_table_init(mem, len, &p);
	if (t == NULL)
		free(mem);
	return t;
}

struct ss_table *td_gw_table(struct td_gw *gw)
{
	return gw->launched ? NULL : gw->ss;
}

int td_gw_launch(struct td_gw *gw, char *err, size_t errlen)
{
	const struct td_gw_conf *c = &gw->conf;
	struct io_uring_params up;
	pthread_attr_t attr;
	int rc;

	if (gw->launched || gw->ring_ok)
		FAIL(-EALREADY, "gateway: launched already");
	/* The CQ holds every op that can be in flight at once (a recv and a send per
	 * connection, the accept, cancels), so completions never overflow into the
	 * kernel's backlog. */
	memset(&up, 0, sizeof(up));
	up.flags = IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
	up.cq_entries = pow2_at_least(2 * c->max_conns + c->sq_entries);
	rc = io_uring_queue_init_params(c->sq_entries, &gw->ring, &up);
	if (rc < 0)
		FAIL(rc, "gateway: io_uring_queue_init: %s", strerror(-rc));
	gw->ring_ok = 1;

	rc = listen_socket(gw, err, errlen);
	if (rc)
		return rc;

	pthread_attr_init(&attr);
	if (c->cpu >= 0) {
		cpu_set_t set;

		CPU_ZERO(&set);
		CPU_SET(c->cpu, &set);
		pthread_attr_setaffinity_np(&attr, sizeof(set), &set);
	}
	rc = pthread_create(&gw->thread, &attr, gw_main, gw);
	pthread_attr_destroy(&attr);
	if (rc)
		FAIL(-rc, "gateway: thread%s: %s", c->cpu >= 0 ? " (check the cpu)" : "",
		     strerror(rc));
	pthread_setname_np(gw->thread, "tkx-gw");
	gw->launched = 1;
	return 0;
}

int td_gw_start(struct td_gw **out_gw, const struct td_gw_conf *conf, char *err,
		size_t errlen)
{
	int rc = td_gw_create(out_gw, conf, err, errlen);

	if (rc)
		return rc;
	rc = td_gw_launch(*out_gw, err, errlen);
	if (rc) {
		gw_free(*out_gw);
		*out_gw = NULL;
	}
	return rc;
}

uint16_t td_gw_port(const struct td_gw *gw)
{
	return gw->port;
}

void td_gw_quiesce(struct td_gw *gw)
{
	__atomic_store_n(&gw->quiesce, 1, __ATOMIC_RELEASE);
}

int td_gw_quiet(const struct td_gw *gw)
{
	/* Not launched: no thread, nothing made. */
	return !gw->launched || __atomic_load_n(&gw->quiet, __ATOMIC_ACQUIRE);
}

unsigned td_gw_stop(struct td_gw *gw)
{
	unsigned lost;

	if (!gw)
		return 0;
	if (gw->launched) {
		__atomic_store_n(&gw->stop, 1, __ATOMIC_RELEASE);
		pthread_join(gw->thread, NULL);
	}
	lost = gw->n_gone; /* the thread is joined: its writes are visible */
	gw_free(gw);
	return lost;
}

void td_gw_stats(const struct td_gw *gw, struct td_gw_stats *s)
{
#define TD_GW__STAT_COPY(name) s->name = __atomic_load_n(&gw->stats.name, __ATOMIC_RELAXED);
	TD_GW_STATS(TD_GW__STAT_COPY)
#undef TD_GW__STAT_COPY
}

void td_gw_ss_stats(const struct td_gw *gw, struct ss_stats *s)
{
	ss_stats_read(gw->ss, s);
}

const char *td_gw_stat_name(unsigned i)
{
	static const char *const names[] = {
#define TD_GW__STAT_NAME(name) #name,
		TD_GW_STATS(TD_GW__STAT_NAME)
#undef TD_GW__STAT_NAME
	};

	return i < TD_GW_STAT_COUNT ? names[i] : NULL;
}

unsigned td_gw_log_drain(struct td_gw *gw, struct ss_log *dst, unsigned max)
{
	return ss_log_drain(gw->ss, dst, max);
}
