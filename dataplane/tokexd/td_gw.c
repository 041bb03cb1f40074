/*
 * td_gw.c - the TCP order-entry gateway thread: io_uring accept/recv/send, SOFH framing,
 * and the two queues to and from the owner of the session table (design in td_gw.h).
 */
#define _GNU_SOURCE
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
#include <sys/random.h>
#include <sys/socket.h>

#include <liburing.h>

#include <tokex/codec.h>
#include <tokex/venue.h>

#include "dataplane/dp_hash.h"
#include "td_bq.h"
#include "td_clock.h"
#include "td_gw.h"

#define GW_STOP_SQE_NS (1000 * 1000000ull)  /* stop: time for in-flight SQEs to finish */
#define GW_PENDING 64         /* accepted connections waiting for an evicted one's slot */
#define GW_NONE UINT32_MAX    /* end of the eviction list */
#define GW_IN_MIN (1u << 16)  /* the queues' bounds (td_gw_conf) */
#define GW_OUT_MIN (1u << 18)
#define GW_Q_MAX (1u << 30)

/* An out queue record: a chunk for one connection, then its bytes. 8 bytes. */
struct td_gw_out {
	uint32_t conn;
	uint32_t len;
};

/* The largest in queue record (a frame of the largest message): parked connections go on
 * once the queue has room for two (td_bq_alloc's worst case adds a wrap). */
#define GW_IN_REC (sizeof(struct td_gw_in) + TKX_MAX_MSG_LEN)

/* ---- Connections ------------------------------------------------------------------------ */

enum conn_state { CONN_FREE = 0, CONN_OPEN = 1, CONN_DRAIN = 2, CONN_DEAD = 3 };

/* One TCP connection. The fields the loop reads per completion fit in one cache line;
 * rx and tx point into the gateway's single allocation. 64 bytes. */
struct conn {
	int fd;
	uint16_t gen;         /* upper half of ss_peer.conn, never 0 (invariant 1) */
	uint8_t state;        /* enum conn_state */
	uint8_t recv_busy;    /* a recv SQE is in flight (invariant 2) */
	uint8_t send_busy;    /* a send SQE is in flight */
	uint8_t notified;     /* DEAD: its TD_GW_CLOSED notice is on the in queue */
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
	/* the queues first: each side's fields on lines of their own (td_bq.h) */
	struct td_bq in;        /* gateway -> owner: frames, notices */
	struct td_bq out;       /* owner -> gateway: chunks */
	/* read-only after td_gw_start() */
	struct td_gw_conf conf;
	uint32_t tx_mask;
	uint64_t drain_ns;
	uint64_t idle_ns;
	uint64_t negotiate_ns;
	uint64_t stop_ns;
	int lfd;
	uint16_t port;
	pthread_t thread;
	struct conn *conns;
	uint16_t *free_stack;   /* FREE slots */
	struct conn_adm *adm;   /* [max_conns] */
	struct ip_count *ipt;   /* connections per address */
	uint32_t ipt_mask;
	unsigned ipt_shift;     /* 64 - log2(entries): the hash's top bits are the home */
	uint64_t ipt_seed;      /* keys the hash: random at td_gw_create() */
	uint16_t *kick;         /* connections with new bytes in their send queue */
	uint16_t *dead;         /* DEAD connections waiting for conn_reap() */
	uint32_t *parked;       /* conn ids whose frames wait for room on the in queue */
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
	uint32_t n_parked;
	uint32_t un_head;       /* eviction list (struct conn_adm), GW_NONE when empty */
	uint32_t un_tail;
	uint32_t pend_head;     /* pend: free-running indices, [tail, head) waiting */
	uint32_t pend_tail;
	struct pending pend[GW_PENDING];
	int input_off;          /* td_gw_quiesce() seen: no more input (td_gw.h "Stop") */
	int owner_gone;         /* stopping: the owner reads the in queue no more */
	uint64_t mono;          /* monotonic ns, once per pass: the gateway's timers */
	uint64_t next_scan;     /* deadlines of DRAIN and idle connections */

	int stop;               /* set by td_gw_stop(), read by the loop (atomics) */
	int quiesce;            /* set by td_gw_quiesce(), read by the loop (atomics) */
	int quiet;              /* set by the loop once quiesced and published, td_gw_quiet() */
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
	/* dp_hash.h's keyed hash: the addresses of one subnet differ in a few bits, which it
	 * spreads over the top bits kept; clients choose their addresses, and without the
	 * seed none can pick the ones that share a probe run. */
	return (uint32_t)(dp_hash64_keyed(ip, gw->ipt_seed) >> gw->ipt_shift);
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
 * OPEN or DRAIN -> DEAD. shutdown() completes the recv and send in flight; the cancels are
 * for an op the shutdown would not wake. conn_reap() tells the owner and closes.
 */
static void conn_kill(struct td_gw *gw, struct conn *c)
{
	uint32_t slot = (uint32_t)(c - gw->conns);

	if (c->state != CONN_OPEN && c->state != CONN_DRAIN)
		return;
	if (c->state == CONN_DRAIN)
		gw->n_drain--;
	c->state = CONN_DEAD;
	c->notified = 0;
	un_unlink(gw, slot);
	shutdown(c->fd, SHUT_RDWR);
	if (c->recv_busy)
		cancel_op(gw, ud_make(OP_RECV, slot, c->gen));
	if (c->send_busy)
		cancel_op(gw, ud_make(OP_SEND, slot, c->gen));
	gw->dead[gw->n_dead++] = (uint16_t)slot;
}

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

/* A record for the owner (td_gw.h "The session owner's side"): 0, or -ENOBUFS when the in
 * queue has no room now. */
static int in_put(struct td_gw *gw, const struct conn *c, uint16_t kind, const void *msg,
		  uint16_t len)
{
	struct td_gw_in *r = td_bq_alloc(&gw->in, (uint32_t)(sizeof(*r) + len));

	if (!r)
		return -ENOBUFS;
	r->peer = c->peer;
	r->kind = kind;
	r->len = len;
	r->pad = 0;
	if (len)
		memcpy(r->msg, msg, len);
	return 0;
}

/* DEAD -> FREE for every DEAD connection that can go: its TD_GW_CLOSED notice goes on the
 * in queue (one that finds no room is tried again at the next pass; once the owner has
 * stopped there is no one to tell), and the fd is closed once no SQE of the connection is
 * in flight (invariant 2). */
static void conn_reap(struct td_gw *gw)
{
	uint32_t i = 0;

	while (i < gw->n_dead) {
		struct conn *c = &gw->conns[gw->dead[i]];

		if (!c->notified && !gw->owner_gone) {
			if (in_put(gw, c, TD_GW_CLOSED, NULL, 0) != 0) {
				i++;
				continue;
			}
			STAT(gw, closed_notices);
		}
		c->notified = 1;
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

/* One chunk from the owner onto its connection's send queue. A chunk for a connection
 * that is gone is dropped (invariant 1); one that does not fit closes its connection
 * (invariant 5). */
static void chunk_put(struct td_gw *gw, uint32_t id, const uint8_t *bytes, uint32_t len)
{
	uint32_t cap = gw->tx_mask + 1, slot = id & 0xffffu, off, first;
	struct conn *c;

	STAT(gw, chunks);
	if (slot >= gw->conf.max_conns) {
		STAT(gw, tx_stale);
		return;
	}
	c = &gw->conns[slot];
	if (c->gen != (uint16_t)(id >> 16) || (c->state != CONN_OPEN && c->state != CONN_DRAIN)) {
		STAT(gw, tx_stale);
		return;
	}
	if (len > cap - (c->tx_head - c->tx_tail)) {
		STAT(gw, tx_overflows);
		conn_kill(gw, c);
		return;
	}
	off = c->tx_head & gw->tx_mask;
	first = cap - off < len ? cap - off : len;
	memcpy(c->tx + off, bytes, first);
	memcpy(c->tx, bytes + first, len - first);
	c->tx_head += len;
	if (c->state == CONN_OPEN) {
		unsigned k = chunk_scan(bytes, len);

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

/* Every chunk the owner published, onto the send queues, in order; then the sends. Returns
 * how many were taken. */
static unsigned take_out(struct td_gw *gw)
{
	const uint8_t *p;
	uint32_t len;
	unsigned n = 0;

	while ((p = td_bq_peek(&gw->out, &len)) != NULL) {
		struct td_gw_out h;

		memcpy(&h, p, sizeof(h));
		if (sizeof(h) + h.len <= len)
			chunk_put(gw, h.conn, p + sizeof(h), h.len);
		td_bq_next(&gw->out);
		n++;
	}
	if (n)
		td_bq_done(&gw->out);
	kick_sends(gw);
	return n;
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

/* New bytes at rx[rx_len - got, rx_len): every complete frame's message onto the in queue,
 * the incomplete tail kept at the front (at most one frame, < TD_GW_RX_CAP). Returns 1
 * when the connection was parked (the in queue is full: resume_parked() goes on later and
 * then arms its recv), else 0. */
static int rx_frames(struct td_gw *gw, struct conn *c)
{
	uint32_t off = 0;
	int parked = 0;

	while (c->state == CONN_OPEN) {
		int f = tkx_sofh_next(c->rx + off, c->rx_len - off);

		if (f == 0)
			break;
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
		if (in_put(gw, c, TD_GW_FRAME, c->rx + off + TKX_SOFH_LEN,
			   (uint16_t)(f - TKX_SOFH_LEN)) != 0) {
			/* Invariant 4: the owner is behind; what it has not seen yet is made
			 * visible, and TCP holds the rest of this connection's bytes. */
			td_bq_publish(&gw->in);
			STAT(gw, in_parked);
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

/* Parked connections whose frames may go on, once the in queue has room for a frame again
 * (rx_frames parks them again if it fills). A connection that was closed (or whose slot
 * was reused) meanwhile is skipped. */
static void resume_parked(struct td_gw *gw)
{
	uint32_t n = gw->n_parked;

	if (!n || td_bq_room(&gw->in) < 2 * GW_IN_REC + 16)
		return;
	gw->n_parked = 0; /* rx_frames() may park some again */
	for (uint32_t i = 0; i < n; i++) {
		uint32_t id = gw->parked[i];
		struct conn *c = &gw->conns[id & 0xffffu];

		if (c->gen != (uint16_t)(id >> 16) || c->recv_busy)
			continue;
		if (c->state == CONN_OPEN && rx_frames(gw, c)) {
			/* parked again: the rest of the list waits with it */
			for (uint32_t k = i + 1; k < n; k++)
				gw->parked[gw->n_parked++] = gw->parked[k];
			return;
		}
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
	/* Never 0: a TCP peer's conn is never 0 (invariant 1). */
	if (++c->gen == 0)
		c->gen = 1;
	c->state = CONN_OPEN;
	c->recv_busy = c->send_busy = 0;
	c->notified = c->on_kick = c->fin_sent = 0;
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

/* Deadlines of OPEN and DRAIN connections (a scan of the table: every 10 ms while one
 * drains, else every 100), and the accept re-armed when it ended. */
static void tick(struct td_gw *gw)
{
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
 * handed over: dropped too, and their recv armed again so that an EOF is seen. */
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

/* One pass's end: what the owner may read now is published (one store-release for the
 * pass); quiesced, that is everything, and the loop says so - the release pairs with
 * td_gw_quiet()'s acquire, so that whoever sees it sees those records too. */
static void publish(struct td_gw *gw)
{
	td_bq_publish(&gw->in);
	if (gw->input_off && !__atomic_load_n(&gw->quiet, __ATOMIC_RELAXED))
		__atomic_store_n(&gw->quiet, 1, __ATOMIC_RELEASE);
}

/* td_gw_stop(), first step (td_gw.h "Stop"): the owner makes no more chunks, so what is
 * on the out queue is all there will be; it is taken and queued, then every connection
 * drains as after a Terminate (queue sent, FIN, the client's EOF), all within stop_ms. */
static void gw_stop_drain(struct td_gw *gw)
{
	int drained = 0;
	uint64_t end;

	if (!gw->input_off)
		input_stop(gw);
	gw->owner_gone = 1;
	gw->mono = td_mono_ns();
	end = gw->mono + gw->stop_ns;
	for (;;) {
		gw->mono = td_mono_ns();
		reap_cqes(gw);
		if (!drained && take_out(gw) == 0) {
			drained = 1;
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
		kick_sends(gw);
		conn_reap(gw);
		if ((drained && !gw->n_drain) || gw->mono >= end)
			break;
		wait_kernel(gw, drained ? TD_GW_POLL_MAX_US : 0);
	}
}

/* Stop, last step: what is left is closed; in-flight SQEs get GW_STOP_SQE_NS to
 * complete. */
static void gw_shutdown(struct td_gw *gw)
{
	struct io_uring_sqe *sqe;
	uint64_t t0 = td_mono_ns();

	for (uint32_t i = 0; i < gw->conf.max_conns; i++)
		conn_kill(gw, &gw->conns[i]);
	if (gw->accept_armed && (sqe = get_sqe(gw)) != NULL) {
		io_uring_prep_cancel64(sqe, ud_make(OP_ACCEPT, 0, 0), 0);
		io_uring_sqe_set_data64(sqe, ud_make(OP_CANCEL, 0, 0));
	}
	for (;;) {
		gw->mono = td_mono_ns();
		reap_cqes(gw);
		conn_reap(gw);
		if (!gw->inflight || td_mono_ns() - t0 > GW_STOP_SQE_NS)
			break;
		wait_kernel(gw, TD_GW_POLL_MAX_US);
	}
}

static void *gw_main(void *arg)
{
	struct td_gw *gw = arg;

	gw->mono = td_mono_ns();
	gw->next_scan = gw->mono;
	while (!__atomic_load_n(&gw->stop, __ATOMIC_ACQUIRE)) {
		wait_kernel(gw, gw->conf.poll_us);
		gw->mono = td_mono_ns();
		if (!gw->input_off && __atomic_load_n(&gw->quiesce, __ATOMIC_ACQUIRE))
			input_stop(gw);
		reap_cqes(gw);
		/* The chunks after the completions: a Negotiate's response authenticates its
		 * connection (chunk_put()) before the deadlines are looked at. */
		take_out(gw);
		resume_parked(gw);
		conn_reap(gw);
		tick(gw);
		publish(gw);
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
	c->max_conns = TKX_VENUE_MAX_SESSIONS;
	c->max_conns_per_ip = TKX_VENUE_TCP_MAX_CONNS_PER_IP;
	c->negotiate_ms = TKX_VENUE_TCP_NEGOTIATE_MS;
	c->stop_ms = 2000;
	c->tx_queue = 65536;
	c->in_bytes = 1u << 20;
	c->out_bytes = 4u << 20;
	c->poll_us = 20;
	c->drain_ms = 1000;
	c->idle_ms = 0;
	c->keepalive_max_ms = TKX_VENUE_KEEPALIVE_MAX_MS;
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

#define FAIL(rc, ...)                                                                      \
	do {                                                                               \
		if (err && errlen)                                                         \
			snprintf(err, errlen, __VA_ARGS__);                                \
		return (rc);                                                               \
	} while (0)

static int check_conf(const struct td_gw_conf *c, char *err, size_t errlen)
{
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
	if (!is_pow2(c->in_bytes) || c->in_bytes < GW_IN_MIN || c->in_bytes > GW_Q_MAX)
		FAIL(-EINVAL, "gateway: in_bytes %u is not a power of two in 2^16..2^30",
		     c->in_bytes);
	if (!is_pow2(c->out_bytes) || c->out_bytes < GW_OUT_MIN || c->out_bytes > GW_Q_MAX)
		FAIL(-EINVAL, "gateway: out_bytes %u is not a power of two in 2^18..2^30",
		     c->out_bytes);
	if (c->poll_us > TD_GW_POLL_MAX_US)
		FAIL(-EINVAL, "gateway: poll_us %u above %u", c->poll_us, TD_GW_POLL_MAX_US);
	if (!is_pow2(c->sq_entries) || c->sq_entries < 64 || c->sq_entries > 32768)
		FAIL(-EINVAL, "gateway: sq_entries %u is not a power of two in 64..32768",
		     c->sq_entries);
	if (c->idle_ms == 0 && c->keepalive_max_ms == 0)
		FAIL(-EINVAL, "gateway: idle_ms and keepalive_max_ms both 0");
	if (c->sndbuf < 0)
		FAIL(-EINVAL, "gateway: sndbuf %d is negative", c->sndbuf);
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
	size_t off, o_gw, o_conns, o_stk, o_adm, o_ipt, o_kick, o_dead, o_park, o_in, o_out,
		o_rx, o_tx;
	uint32_t ipt_cap;
	struct td_gw *gw;
	uint8_t *mem;
	void *p;
	int rc;

	*out_gw = NULL;
	rc = check_conf(&c, err, errlen);
	if (rc)
		return rc;
	ipt_cap = pow2_at_least(2 * (c.max_conns + GW_PENDING));

	/* One allocation, laid out here; nothing is allocated after this. */
	off = 0;
	o_gw = off;
	off = align64(off + sizeof(struct td_gw));
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
	o_in = off;
	off = align64(off + c.in_bytes);
	o_out = off;
	off = align64(off + c.out_bytes);
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
	gw->tx_mask = c.tx_queue - 1;
	gw->drain_ns = (uint64_t)c.drain_ms * 1000000;
	gw->idle_ns = (uint64_t)(c.idle_ms ? c.idle_ms : 3ull * c.keepalive_max_ms) * 1000000;
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
	if (getrandom(&gw->ipt_seed, sizeof(gw->ipt_seed), 0) != (ssize_t)sizeof(gw->ipt_seed))
		gw->ipt_seed = (uint64_t)time(NULL) ^ (uint64_t)getpid() << 32;
	gw->un_head = gw->un_tail = GW_NONE;
	gw->kick = (uint16_t *)(mem + o_kick);
	gw->dead = (uint16_t *)(mem + o_dead);
	gw->parked = (uint32_t *)(mem + o_park);
	if (td_bq_init(&gw->in, mem + o_in, c.in_bytes) != 0 ||
	    td_bq_init(&gw->out, mem + o_out, c.out_bytes) != 0) {
		free(p);
		FAIL(-EINVAL, "gateway: queue set-up failed");
	}
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
	*out_gw = gw;
	return 0;
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

void td_gw_stop(struct td_gw *gw)
{
	if (!gw)
		return;
	if (gw->launched) {
		__atomic_store_n(&gw->stop, 1, __ATOMIC_RELEASE);
		pthread_join(gw->thread, NULL);
	}
	gw_free(gw);
}

void td_gw_stats(const struct td_gw *gw, struct td_gw_stats *s)
{
#define TD_GW__STAT_COPY(name) s->name = __atomic_load_n(&gw->stats.name, __ATOMIC_RELAXED);
	TD_GW_STATS(TD_GW__STAT_COPY)
#undef TD_GW__STAT_COPY
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

/* ---- The session owner's side ----------------------------------------------------------------- */

const struct td_gw_in *td_gw_in_peek(struct td_gw *gw)
{
	uint32_t len; /* the header's and the message's: in_put() wrote them whole */

	return td_bq_peek(&gw->in, &len);
}

void td_gw_in_next(struct td_gw *gw)
{
	td_bq_next(&gw->in);
}

void td_gw_in_done(struct td_gw *gw)
{
	td_bq_done(&gw->in);
}

int td_gw_in_empty(struct td_gw *gw)
{
	return td_bq_empty(&gw->in);
}

void *td_gw_out_alloc(struct td_gw *gw, uint32_t conn, uint32_t len)
{
	struct td_gw_out h = { conn, len };
	uint8_t *p = td_bq_alloc(&gw->out, (uint32_t)sizeof(h) + len);

	if (!p)
		return NULL;
	memcpy(p, &h, sizeof(h));
	return p + sizeof(h);
}

uint32_t td_gw_out_pos(const struct td_gw *gw)
{
	return td_bq_pos(&gw->out);
}

void td_gw_out_publish(struct td_gw *gw)
{
	td_bq_publish(&gw->out);
}

void td_gw_out_publish_to(struct td_gw *gw, uint32_t pos)
{
	td_bq_publish_to(&gw->out, pos);
}

void td_gw_out_discard(struct td_gw *gw)
{
	td_bq_discard(&gw->out);
}

uint32_t td_gw_out_held(const struct td_gw *gw)
{
	return td_bq_unpublished(&gw->out);
}
