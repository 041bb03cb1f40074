/*
 * td_rx.c - the RX/session lcore: packets in, sessions, routing, replies and market data out.
 *
 * Role in the data path: one pinned lcore. Each pass of its loop:
 *   1. receive a burst (32) and run it through dp_net (ARP and ICMP answered there);
 *   2. order-entry datagrams, and the TCP frames the gateway thread hands over (td_gw.h),
 *      go through the one session table (ss_rx: the sessions of both transports), which
 *      yields requests; market-data re-requests go to the publisher;
 *   3. requests are routed: run-to-completion calls the matching core here and now;
 *      pipeline enqueues one burst per matching core on its ring, and a full ring turns
 *      each request it refused into Reject(BUSY) — never a silent drop;
 *   4. replies (from the local matching core, or drained from the reply rings) are
 *      numbered by the session layer; market data is packed by the publisher;
 *   5. every millisecond, session timers and market-data heartbeats/snapshots;
 *   6. everything to send is framed as UDP and sent in bursts, or put on the gateway's out
 *      queue for its TCP connections; with a journal, held first until the requests before
 *      it are durable (the journal gate below; td_journal.c).
 * Nothing here allocates, locks, prints or makes a system call (clock_gettime is vDSO).
 */
#include <errno.h>
#include <string.h>
#include <time.h>

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "jn_journal.h"
#include "td_app.h"
#include "td_gw.h"

#define TD_TX_MAX 64
#define TD_TICK_NS 1000000ull
#define TD_GONE_MAX 64 /* SESSION_GONE records waiting for a full ring, per core */
#define TD_QUIESCE_NS 100000000ull /* a snapshot barrier waits this long at most */
#define TD_STAGE_MAX 64      /* pipeline + journal: staged requests per core, per pass */
#define TD_HOLD_CAP 2048u    /* packets held for durability; power of two */
#define TD_HOLD_T_CAP 4096u  /* TCP chunks held for durability: marks; power of two */
#define TD_STOP_WAIT_NS 10000000000ull /* stop: the gateway's last input, its last replies */
#define TD_GW_IN_MAX 256     /* gateway records taken per pass, at most */

struct td_rx {
	struct td_app *app;
	struct ss_out *out;
	uint64_t now;
	unsigned n_tx;
	struct rte_mbuf *tx[TD_TX_MAX];
	/* run-to-completion: the matching core's output */
	struct mc_out mout;
	struct dp_event mbuf[64];
	/* requests taken out of ss_out, by destination core */
	struct dp_order pend[SS_OUT_ORDERS];
	unsigned n_pend;
	/* a SESSION_GONE that a full ring refused: retried every pass (must be delivered) */
	struct dp_order gone[TD_MAX_MATCH][TD_GONE_MAX];
	unsigned n_gone[TD_MAX_MATCH];
	/* Journal gate (with a journal): what is to leave, tagged with the last journal seq
	 * appended when it was made; released in order once that seq is durable. FIFOs with
	 * free-running indices; tags never decrease along a FIFO. */
	struct rte_mbuf *hold_m[TD_HOLD_CAP];
	uint64_t hold_m_seq[TD_HOLD_CAP];
	uint32_t hm_head, hm_tail;
	/* TCP chunks wait on the gateway's out queue itself, reserved and not published
	 * (td_gw.h): a mark per batch says up to where (position) which seq must be durable. */
	uint32_t hold_t_pos[TD_HOLD_T_CAP];
	uint64_t hold_t_seq[TD_HOLD_T_CAP];
	uint32_t ht_head, ht_tail;
	/* TCP connections the exchange ended with its Terminate (ss_buf.end): by gateway
	 * slot, the generation (never 0) of the connection whose frames are dropped unread
	 * from then on (protocol 4.9); cleared by its TD_GW_CLOSED notice, which comes before
	 * anything of the slot's next connection (td_gw.h invariant 2). */
	uint16_t gw_end[TD_GW_MAX_CONNS];
	int halt_seen; /* the journal failure was handled (td_hold_halt) */
	/* pipeline with a journal (td_route_pipeline_jn): requests staged per core, each
	 * journaled, with room on its ring counted before; SESSION_GONE records waiting for
	 * room on every core (journaled when they go) */
	struct dp_order stage[TD_MAX_MATCH][TD_STAGE_MAX];
	unsigned n_stage[TD_MAX_MATCH];
	struct dp_order jgone[TD_GONE_MAX];
	unsigned n_jgone;
};

/* The lease (td_lease.c): whether this node may still send. A primary holding a lease
 * sends nothing once it could have expired (lease_end_ns, by this node's monotonic clock;
 * checked right before each burst leaves, so that a process stopped and resumed past it
 * - SIGSTOP, a long pause - sends nothing of what it had made before). No lease: 0. */
static inline int td_fenced_now(const struct td_app *a)
{
	uint64_t end = atomic_load_explicit(&a->lease_end_ns, memory_order_relaxed);
	return end != 0 && td_mono_ns() >= end;
}

static void td_tx_flush(struct td_rx *r)
{
	if (r->n_tx) {
		if (td_fenced_now(r->app))
			rte_pktmbuf_free_bulk(r->tx, r->n_tx);
		else
			dp_net_tx_burst(&r->app->net, r->app->port.port_id, 0, r->tx, r->n_tx);
		r->n_tx = 0;
	}
}

static void td_tx_queue(struct td_rx *r, struct rte_mbuf *m)
{
	r->tx[r->n_tx++] = m;
	if (r->n_tx == TD_TX_MAX)
		td_tx_flush(r);
}

/* ---- The journal gate ------------------------------------------------------------------
 * With a journal, a request is applied as soon as it is appended (so the loop never waits
 * for the disk), and everything that leaves because of it - UDP replies, market data, the
 * chunks for the gateway's TCP connections - is held, tagged with the last seq appended
 * when it was made, until the journal reports that seq durable. Tags are conservative (a
 * reply waits for every record appended before it, its cause among them) and never
 * decrease, so each FIFO is released from its head (the TCP chunks' FIFO is the gateway's
 * out queue itself, published up to the last durable mark). One fdatasync thus covers whatever arrived while the previous
 * one ran (group commit), and RX goes on meanwhile. When the journal fails, what is not
 * durable is discarded, never sent (td_hold_halt). */

/* Journal failure, seen once by this core: releases what became durable, frees the rest
 * (counted), and stops retransmission (the session layer numbered messages that never
 * left). From here on nothing is held: nothing more is applied, and the STORAGE rejects
 * and session messages that follow go out at once. */
static void td_hold_halt(struct td_rx *r)
{
	struct td_app *a = r->app;
	uint64_t d = jn_durable(a->jn);
	/* sync-replicated with a standby following: only what it acknowledged (the released
	 * watermark, td_jn_poll's) may go */
	if (atomic_load_explicit(&a->repl_gate, memory_order_acquire) && a->jn_durable < d)
		d = a->jn_durable;
	r->halt_seen = 1;
	while (r->hm_head != r->hm_tail) {
		uint32_t i = r->hm_head++ & (TD_HOLD_CAP - 1);
		if (r->hold_m_seq[i] <= d) {
			td_tx_queue(r, r->hold_m[i]);
		} else {
			rte_pktmbuf_free(r->hold_m[i]);
			a->rx.held_dropped++;
		}
	}
	while (r->ht_head != r->ht_tail) {
		uint32_t i = r->ht_head++ & (TD_HOLD_T_CAP - 1);
		if (r->hold_t_seq[i] <= d)
			td_gw_out_publish_to(a->gw, r->hold_t_pos[i]);
		else
			a->rx.held_dropped++;
	}
	if (a->gw)
		td_gw_out_discard(a->gw); /* the chunks after the last durable mark */
	ss_halt_retransmission(a->ss);
}

/* Moves what is durable from the holds to the TX burst and the gateway's out queue. */
static void td_hold_release(struct td_rx *r)
{
	struct td_app *a = r->app;
	if (a->jn == NULL || r->halt_seen)
		return;
	if (td_jn_halted(a)) {
		td_hold_halt(r);
		return;
	}
	if (r->hm_head == r->hm_tail && r->ht_head == r->ht_tail) {
		a->jn_stall = 0;
		if (a->jn_last > a->jn_durable)
			td_jn_poll(a, 0, r->now); /* nothing held: durability seen for its histogram */
		return;
	}
	uint64_t d = td_jn_poll(a, 1, r->now);
	if (td_jn_halted(a)) {
		td_hold_halt(r);
		return;
	}
	while (r->hm_head != r->hm_tail) {
		uint32_t i = r->hm_head & (TD_HOLD_CAP - 1);
		if (r->hold_m_seq[i] > d)
			break;
		r->hm_head++;
		td_tx_queue(r, r->hold_m[i]);
	}
	uint32_t pos = 0;
	int any = 0;
	while (r->ht_head != r->ht_tail) {
		uint32_t i = r->ht_head & (TD_HOLD_T_CAP - 1);
		if (r->hold_t_seq[i] > d)
			break; /* not durable yet: next pass */
		pos = r->hold_t_pos[i];
		any = 1;
		r->ht_head++;
	}
	if (any)
		td_gw_out_publish_to(a->gw, pos); /* one store-release for them all */
}

/* Stopping, after td_jn_wait(): what is held goes - all of it durable now, or dropped by
 * td_hold_halt() if the journal failed. */
static void td_hold_flush(struct td_rx *r)
{
	uint64_t end = td_mono_ns() + TD_STOP_WAIT_NS;
	for (;;) {
		td_hold_release(r);
		td_tx_flush(r);
		if ((r->ht_head == r->ht_tail && r->hm_head == r->hm_tail) || r->halt_seen ||
		    td_mono_ns() >= end)
			return;
		rte_pause();
	}
}

/* A hold is full (the disk is slower than the flow): wait for the journal, release. */
static void td_hold_drain(struct td_rx *r)
{
	r->app->rx.hold_full_waits++;
	td_jn_wait(r->app);
	td_hold_release(r);
	td_tx_flush(r);
}

/* Whether what is made now must wait for the journal. */
static inline int td_holding(const struct td_rx *r)
{
	return r->app->jn != NULL && !r->halt_seen;
}

static void td_tx_out(struct td_rx *r, struct rte_mbuf *m)
{
	if (td_holding(r) && td_jn_halted(r->app))
		td_hold_release(r); /* the failure first: keeps the order of what leaves */
	if (!td_holding(r)) {
		td_tx_queue(r, m);
		return;
	}
	if (r->hm_tail - r->hm_head == TD_HOLD_CAP)
		td_hold_drain(r);
	if (!td_holding(r)) { /* the wait found the journal failed */
		td_tx_queue(r, m);
		return;
	}
	/* Durable up to jn_last now: the drain released every packet, so there is room. */
	uint32_t i = r->hm_tail++ & (TD_HOLD_CAP - 1);
	r->hold_m[i] = m;
	r->hold_m_seq[i] = r->app->jn_last;
}

static void td_tx_one(struct td_rx *r, const struct dp_peer *to, uint16_t src_port,
		      const void *bytes, uint16_t len)
{
	struct td_app *a = r->app;
	struct rte_mbuf *m = dp_net_udp_alloc(&a->net, a->port.pool, to, src_port, bytes, len);
	if (m == NULL) {
		/* Pool empty: send what is queued (it frees mbufs) and try once more; with
		 * a journal, held packets may be what fills the pool: wait for durability.
		 * The session layer keeps numbered replies for retransmission either way. */
		if (td_holding(r) && r->hm_tail != r->hm_head)
			td_hold_drain(r);
		td_tx_flush(r);
		m = dp_net_udp_alloc(&a->net, a->port.pool, to, src_port, bytes, len);
		if (m == NULL) {
			a->rx.tx_nombuf++;
			return;
		}
	}
	td_tx_out(r, m);
}

/* A chunk for a TCP connection, reserved on the gateway's out queue (held there, not
 * published, while td_holding()); a full queue is waited for - the gateway takes what is
 * published every pass, and with a journal what waits for durability is released first.
 * A gateway that takes nothing for TD_STOP_WAIT_NS (stuck) loses the chunk (counted). */
static void td_tcp_one(struct td_rx *r, const struct ss_buf *b)
{
	struct td_app *a = r->app;
	uint8_t *p = td_gw_out_alloc(a->gw, b->peer.conn, b->len);
	uint64_t end = 0;
	while (p == NULL) {
		if (td_holding(r) && r->ht_head != r->ht_tail)
			td_hold_drain(r);
		else if (!td_holding(r))
			td_gw_out_publish(a->gw);
		if (end == 0) {
			end = td_mono_ns() + TD_STOP_WAIT_NS;
		} else if (td_mono_ns() >= end) {
			a->rx.gw_lost++;
			return;
		}
		a->rx.gw_ring_spins++;
		rte_pause();
		p = td_gw_out_alloc(a->gw, b->peer.conn, b->len);
	}
	memcpy(p, b->bytes, b->len);
}

/* With a journal, the TCP chunks reserved so far wait for everything appended before
 * them: one mark (jn_last, the queue's position) for the batch. */
static void td_tcp_hold(struct td_rx *r)
{
	struct td_app *a = r->app;
	uint32_t pos = td_gw_out_pos(a->gw);
	if (r->ht_head != r->ht_tail &&
	    r->hold_t_seq[(r->ht_tail - 1) & (TD_HOLD_T_CAP - 1)] == a->jn_last) {
		r->hold_t_pos[(r->ht_tail - 1) & (TD_HOLD_T_CAP - 1)] = pos;
		return;
	}
	if (r->ht_tail - r->ht_head == TD_HOLD_T_CAP)
		td_hold_drain(r);
	if (!td_holding(r)) { /* the wait found the journal failed: it kept what is durable */
		td_gw_out_publish(a->gw);
		return;
	}
	uint32_t i = r->ht_tail++ & (TD_HOLD_T_CAP - 1);
	r->hold_t_pos[i] = pos;
	r->hold_t_seq[i] = a->jn_last;
}

/* Frames and queues every buffer the session layer produced, then empties them: UDP
 * datagrams to the TX burst, TCP chunks (a peer with a connection, ss_session.h invariant
 * 12) to the gateway's out queue. */
static void td_send_bufs(struct td_rx *r)
{
	struct ss_out *o = r->out;
	unsigned tcp = 0;
	/* The journal's failure first (as td_tx_out does for the packets): what it finds
	 * held and not durable is discarded, and what is made from here on goes out at once. */
	if (td_holding(r) && td_jn_halted(r->app))
		td_hold_release(r);
	/* Each UDP session's datagrams end with their DatagramAuth (sessions.udp_auth). */
	ss_seal(r->app->ss, o);
	/* Journal gate: the packets are held until what was appended before them (a SESSION
	 * record before its EstablishmentAck, the requests before their replies) is durable. */
	for (uint32_t i = 0; i < o->n_bufs; i++) {
		const struct ss_buf *b = &o->bufs[i];
		if (b->peer.conn != 0) {
			if (r->app->gw != NULL) {
				td_tcp_one(r, b);
				tcp++;
			}
			if (b->end)
				r->gw_end[b->peer.conn & 0xffffu] = (uint16_t)(b->peer.conn >> 16);
			continue;
		}
		struct dp_peer to;
		memcpy(&to.mac, b->peer.mac, sizeof(to.mac));
		to.port = rte_be_to_cpu_16(b->peer.port); /* ss_peer keeps network order */
		to.ip = b->peer.ip;
		td_tx_one(r, &to, (uint16_t)r->app->cfg.udp_port, b->bytes, b->len);
	}
	o->n_bufs = 0;
	if (tcp) {
		if (td_holding(r))
			td_tcp_hold(r);
		else
			td_gw_out_publish(r->app->gw);
	}
}

/* The request-to-reply histogram (td_metrics.h): a request's last reply (DP_EV_DONE)
 * carries the time the request was applied, which is its arrival in rtc mode and with a
 * journal (the burst's time). One clock read per batch that holds one, an increment each. */
static void td_reply_latency(struct td_app *a, const struct dp_event *ev, unsigned n)
{
	uint64_t now = 0;
	for (unsigned i = 0; i < n; i++) {
		uint64_t t;
		if (!(ev[i].pad[1] & DP_EV_DONE))
			continue;
		switch (ev[i].template_id) {
		case TKX_EXEC_ACK: t = ev[i].u.ack.transact_time; break;
		case TKX_EXEC_REJECT: t = ev[i].u.reject.transact_time; break;
		case TKX_FILL: t = ev[i].u.fill.transact_time; break;
		case TKX_CANCELLED: t = ev[i].u.cancelled.transact_time; break;
		case TKX_MODIFY_ACK: t = ev[i].u.modify_ack.transact_time; break;
		case TKX_MASS_CANCEL_ACK: t = ev[i].u.mass_ack.transact_time; break;
		case TKX_STOP_ELECTED: t = ev[i].u.elected.transact_time; break;
		default: continue; /* an empty DONE marker: no time */
		}
		if (now == 0)
			now = td_now_ns();
		td_hist_add(&a->h_reply, (int64_t)(now - t));
	}
}

/* Replies for the sessions: numbered by the session layer, sent when its output fills. */
static void td_replies(struct td_rx *r, const struct dp_event *ev, unsigned n)
{
	td_reply_latency(r->app, ev, n);
	while (n) {
		unsigned done = ss_event(r->app->ss, ev, n, r->now, r->out);
		ev += done;
		n -= done;
		if (n)
			td_send_bufs(r);
	}
}

static void td_md_send(struct td_rx *r);

/* Market data records from a matching core: when the publisher's ring of packets is full,
 * send what it holds and go on (a record is never dropped). */
static void td_md_records(struct td_rx *r, const struct dp_event *ev, unsigned n)
{
	while (n) {
		unsigned k = md_pub_add(r->app->md, ev, n, r->now);
		ev += k;
		n -= k;
		if (n) {
			md_pub_flush(r->app->md, r->now);
			td_md_send(r);
		}
	}
}

/* Run-to-completion: the matching core's output callback. */
static void td_mout_flush(struct mc_out *o)
{
	struct td_rx *r = o->arg;
	struct td_app *a = r->app;
	unsigned i = 0;
	if (a->match[0].off)
		td_offload_tob(&a->match[0], o->ev, o->n);
	while (i < o->n) {
		/* Runs of one kind, so each goes out in one call. */
		unsigned j = i + 1;
		const struct dp_event *e = &o->ev[i];
		int md = e->template_id >= TKX_MD_TOP_OF_BOOK;
		uint8_t src = e->src;
		while (j < o->n && (o->ev[j].template_id >= TKX_MD_TOP_OF_BOOK) == md &&
		       (md || o->ev[j].src == src))
			j++;
		if (md) {
			td_md_records(r, e, j - i);
		} else if (src == TD_SRC_RX) {
			td_replies(r, e, j - i);
		} else {
			/* For no session (a detached order's, mc_core.h identity 4): dropped. */
		}
		i = j;
	}
	o->n = 0;
}

/* A broadcast request (cancel-on-disconnect, mass cancel of every contract) goes to
 * every matching core; `parts` tells the session layer how many acks to merge. */
static int td_is_broadcast(const struct dp_order *o)
{
	return o->type == DP_ORD_SESSION_GONE ||
	       (o->type == DP_ORD_MASS_CANCEL && o->contract_id == 0);
}

static void td_reject(struct td_rx *r, const struct dp_order *o, uint16_t reason)
{
	while (ss_reject_order(r->app->ss, o, reason, r->now, r->out) == -ENOBUFS)
		td_send_bufs(r);
}

static void td_retry_gone(struct td_rx *r);

/* Pipeline: enqueues what is staged for each matching core in one burst; what a full ring
 * refuses is answered Reject(BUSY), except SESSION_GONE, which is kept and retried (it
 * must be delivered). */
static void td_stage_flush(struct td_rx *r, struct dp_order (*per)[SS_OUT_ORDERS], unsigned *n_per)
{
	struct td_app *a = r->app;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		if (n_per[m] == 0)
			continue;
		struct rte_ring *ring = a->route.req[TD_SRC_RX][m];
		/* A SESSION_GONE still owed to this core goes first: nothing of a session may
		 * overtake it. While one waits, the core's new requests are refused BUSY. */
		unsigned put = r->n_gone[m] ? 0 :
			rte_ring_sp_enqueue_burst_elem(ring, per[m], sizeof(struct dp_order), n_per[m], NULL);
		a->rx.orders_routed += put;
		for (unsigned i = put; i < n_per[m]; i++) {
			const struct dp_order *o = &per[m][i];
			if (o->type == DP_ORD_SESSION_GONE) {
				if (r->n_gone[m] < TD_GONE_MAX) {
					r->gone[m][r->n_gone[m]++] = *o;
					continue;
				}
				/* The waiting list is full (a wave of disconnects): wait for the
				 * core, which always drains its ring. Never lose one. */
				struct dp_order g = *o;
				td_retry_gone(r);
				while (rte_ring_sp_enqueue_elem(ring, &g, sizeof(g)) != 0)
					rte_pause();
				continue;
			}
			a->rx.busy_rejects++;
			td_reject(r, o, TKX_REJ_BUSY);
		}
		n_per[m] = 0;
	}
}

/* Retries the SESSION_GONE records full rings refused earlier. */
static void td_retry_gone(struct td_rx *r)
{
	struct td_app *a = r->app;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		unsigned g = r->n_gone[m];
		if (g == 0)
			continue;
		unsigned put = rte_ring_sp_enqueue_burst_elem(a->route.req[TD_SRC_RX][m], r->gone[m],
							      sizeof(struct dp_order), g, NULL);
		memmove(r->gone[m], r->gone[m] + put, (g - put) * sizeof(struct dp_order));
		r->n_gone[m] = g - put;
	}
}

/* Pipeline: routes the pending requests, one burst per matching core. */
static void td_route_pipeline(struct td_rx *r)
{
	struct td_app *a = r->app;
	static __thread struct dp_order per[TD_MAX_MATCH][SS_OUT_ORDERS];
	unsigned n_per[TD_MAX_MATCH] = {0};
	uint32_t n_match = a->route.n_match;

	td_retry_gone(r);
	for (unsigned i = 0; i < r->n_pend; i++) {
		struct dp_order *o = &r->pend[i];
		if (td_is_broadcast(o)) {
			/* Keep order with what was staged before it, then all cores or none. */
			td_stage_flush(r, per, n_per);
			o->parts = (uint8_t)n_match;
			int room = 1;
			for (uint32_t m = 0; m < n_match; m++)
				if (r->n_gone[m] || rte_ring_free_count(a->route.req[TD_SRC_RX][m]) == 0)
					room = 0;
			if (!room && o->type == DP_ORD_MASS_CANCEL) {
				a->rx.busy_rejects++;
				td_reject(r, o, TKX_REJ_BUSY);
				continue;
			}
			for (uint32_t m = 0; m < n_match; m++)
				per[m][n_per[m]++] = *o;
			td_stage_flush(r, per, n_per);
			continue;
		}
		int m = td_route_core(&a->route, o->contract_id);
		if (m < 0) {
			a->rx.unknown_contract++;
			td_reject(r, o, TKX_REJ_UNKNOWN_CONTRACT);
			continue;
		}
		o->parts = 1;
		per[m][n_per[m]++] = *o;
	}
	td_stage_flush(r, per, n_per);
	r->n_pend = 0;
}

/* Journal (td_journal.c): appends one request before it is applied. Returns 0 when it
 * is journaled, else the ExecReject reason the caller answers it with (BUSY: the journal's
 * ring is full, and that answer is journaled too; STORAGE: the journal failed), or
 * TD_JN_DROP for a SESSION_GONE that cannot be kept (the appliance is halted then and
 * applies nothing more). */
#define TD_JN_DROP 0xffff
static uint16_t td_jn_request(struct td_rx *r, const struct dp_order *o)
{
	struct td_app *a = r->app;
	int64_t s = td_jn_append(a, JN_T_ORDER, o, sizeof(*o), r->now);
	if (s == 0 && o->type == DP_ORD_SESSION_GONE) {
		/* Must be delivered: let the journal thread drain the ring, then once more. */
		td_jn_wait(a);
		s = td_jn_append(a, JN_T_ORDER, o, sizeof(*o), r->now);
		if (s == 0)
			td_jn_halt_now(a, -ENOBUFS); /* still full after a drain: give up */
	}
	if (s > 0)
		return 0;
	if (o->type == DP_ORD_SESSION_GONE)
		return TD_JN_DROP;
	if (s == 0) {
		a->rx.busy_rejects++;
		td_jn_reject(a, o, TKX_REJ_BUSY, r->now);
		return TKX_REJ_BUSY;
	}
	a->rx.storage_rejects++;
	return TKX_REJ_STORAGE;
}

/* Run-to-completion: applies the requests kept so far, pend[0, *k). */
static void td_rtc_apply(struct td_rx *r, unsigned *k)
{
	if (*k == 0)
		return;
	r->app->rx.orders_routed += *k;
	mc_process(r->app->match[0].mc, r->pend, *k, r->now, &r->mout);
	*k = 0;
}

/* Run-to-completion: every contract is on the one matching core, called right here. With
 * a journal every request is appended first (the unknown-contract check too, so that
 * replay answers it the same way). A request this core answers itself is answered after
 * the ones before it are applied, so its reply takes its number after theirs, as on
 * replay, which applies the records one by one. */
static void td_route_rtc(struct td_rx *r)
{
	struct td_app *a = r->app;
	unsigned k = 0;
	for (unsigned i = 0; i < r->n_pend; i++) {
		struct dp_order *o = &r->pend[i];
		o->parts = 1;
		uint16_t why = a->jn ? td_jn_request(r, o) : 0;
		if (why == 0 && !td_is_broadcast(o) && !mc_owns(a->match[0].mc, o->contract_id)) {
			a->rx.unknown_contract++;
			why = TKX_REJ_UNKNOWN_CONTRACT;
		}
		if (why != 0) {
			td_rtc_apply(r, &k);
			if (why != TD_JN_DROP)
				td_reject(r, o, why);
			continue;
		}
		r->pend[k++] = *o;
	}
	/* Applied now; what it causes is held until durable (the journal gate above). */
	td_rtc_apply(r, &k);
	r->n_pend = 0;
}

static void td_route_pipeline_jn(struct td_rx *r);

/* Takes the requests out of the session output and routes them, until there are none.
 * First, and after each batch, what the replies numbered so far let go (ss_session.h
 * invariant 15: held requests, own replies, ends): here, after the batch whose records
 * were journaled, so that a released own reply's record (td_jn_local_reply) comes where
 * replay numbers it. In run-to-completion routing a batch numbers its replies at once. */
static void td_route(struct td_rx *r)
{
	struct ss_out *o = r->out;
	for (;;) {
		int rc = ss_release(r->app->ss, r->now, o);
		if (o->n_orders == 0) {
			if (rc == 0)
				break;
			td_send_bufs(r); /* stopped for buffer room */
			continue;
		}
		memcpy(r->pend, o->orders, o->n_orders * sizeof(struct dp_order));
		r->n_pend = o->n_orders;
		o->n_orders = 0;
		if (r->app->cfg.mode == CP_MODE_RTC)
			td_route_rtc(r);
		else if (r->app->jn_pipe)
			td_route_pipeline_jn(r);
		else
			td_route_pipeline(r);
	}
}

static void td_drain_rings(struct td_rx *r);
static void td_drain_rings_jn(struct td_rx *r);

/* A datagram's session has as many requests unanswered as it may (ss_session.h invariant
 * 14): route what waits and take the replies that came, so that it can go on. Run to
 * completion answers them here and now; in pipeline mode the cores may not have yet. */
static void td_session_catch_up(struct td_rx *r)
{
	td_route(r);
	if (r->app->cfg.mode != CP_MODE_RTC) {
		if (r->app->jn_pipe)
			td_drain_rings_jn(r);
		else
			td_drain_rings(r);
		td_route(r);
	}
	td_send_bufs(r);
}

static void td_session_rx(struct td_rx *r, const struct dp_dgram *d)
{
	struct ss_peer peer;
	int rc, tries = 0;
	memset(&peer, 0, sizeof(peer));
	memcpy(peer.mac, &d->peer.mac, sizeof(peer.mac));
	peer.port = rte_cpu_to_be_16(d->peer.port);
	peer.ip = d->peer.ip;
	while ((rc = ss_rx(r->app->ss, &peer, d->data, d->len, r->now, r->out)) < 0) {
		if (rc == -EAGAIN && ++tries > 4)
			break; /* not taken: the client's next Sequence shows the gap (NotApplied) */
		if (rc == -EAGAIN)
			td_session_catch_up(r);
		else {
			td_route(r);
			td_send_bufs(r);
		}
	}
}

/* The TCP gateway's records (td_gw.h "The session owner's side"): each frame's message
 * to the session table, from its connection's peer (conn not 0: a TCP peer, ss_session.h
 * invariant 12), each connection's end as ss_disconnect(). A frame of a connection the
 * exchange ended with its Terminate is dropped (protocol 4.9: the gateway closes it, and
 * drops what it reads after the Terminate; this is what it had read before). A frame whose session has as
 * many requests unanswered as it may (-EAGAIN) after a catch-up stays at the head of the
 * queue for the next pass, and everything behind it waits (td_gw.h invariant 4): TCP
 * loses nothing, and the gateway parks its connections when the queue fills. At most
 * TD_GW_IN_MAX records a pass, so that the UDP side is served too. */
static void td_gw_rx(struct td_rx *r)
{
	struct td_app *a = r->app;
	const struct td_gw_in *g;
	unsigned n = 0;
	if (a->gw == NULL)
		return;
	while (n < TD_GW_IN_MAX && (g = td_gw_in_peek(a->gw)) != NULL) {
		int rc, tries = 0;
		uint16_t *end = &r->gw_end[g->peer.conn & 0xffffu];
		if (g->kind == TD_GW_FRAME && *end == (uint16_t)(g->peer.conn >> 16)) {
			a->rx.tcp_after_end++; /* read before our Terminate reached the gateway */
		} else if (g->kind == TD_GW_FRAME) {
			while ((rc = ss_rx(a->ss, &g->peer, g->msg, g->len, r->now, r->out)) < 0) {
				if (rc == -EAGAIN && ++tries > 1)
					break;
				if (rc == -EAGAIN) {
					td_session_catch_up(r);
				} else {
					td_route(r);
					td_send_bufs(r);
				}
			}
			if (rc == -EAGAIN)
				break; /* next pass, once replies came */
		} else if (g->kind == TD_GW_CLOSED) {
			if (*end == (uint16_t)(g->peer.conn >> 16))
				*end = 0;
			while (ss_disconnect(a->ss, &g->peer, r->now, r->out) == -ENOBUFS) {
				td_route(r);
				td_send_bufs(r);
			}
		}
		td_gw_in_next(a->gw);
		n++;
	}
	if (n)
		td_gw_in_done(a->gw);
}

static void td_md_request(struct td_rx *r, const struct dp_dgram *d)
{
	struct td_app *a = r->app;
	a->rx.md_requests++;
	/* The source address names the requester for the per-source limit (md_lim.h): the
	 * answer goes there, so that is the address whose traffic must be bounded. */
	md_pub_request(a->md, d->peer.ip, d->data, d->len, r->now);
	const uint8_t *buf;
	size_t len;
	while (md_pub_next_reply(a->md, &buf, &len) > 0)
		td_tx_one(r, &d->peer, (uint16_t)a->cfg.md_req_port, buf, (uint16_t)len);
}

static void td_md_send(struct td_rx *r)
{
	struct td_app *a = r->app;
	struct dp_peer group;
	const uint8_t *buf;
	size_t len;
	dp_peer_mcast(&group, rte_cpu_to_be_32(a->cfg.md_group), (uint16_t)a->cfg.md_port);
	while (md_pub_next_tx(a->md, &buf, &len) > 0)
		td_tx_one(r, &group, (uint16_t)a->cfg.md_port, buf, (uint16_t)len);
}

/* Pipeline: replies and market data from the matching cores' rings. */
static void td_drain_rings(struct td_rx *r)
{
	struct td_app *a = r->app;
	struct dp_event ev[32];
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst_elem(a->route.ev[m][TD_SRC_RX], ev,
							   sizeof(ev[0]), 32, NULL)) > 0)
			td_replies(r, ev, n);
		while ((n = rte_ring_sc_dequeue_burst_elem(a->route.md[m], ev, sizeof(ev[0]), 32,
							   NULL)) > 0)
			td_md_records(r, ev, n);
	}
}

/* ---- Pipeline mode with a journal ---------------------------------------------------
 * The RX core is the journal's only producer, so everything that reaches a matching core
 * passes it, in journal order: its sessions' requests (both transports: it owns the one
 * session table) and the control commands (DP_ORD_CTL markers, td_ctl_poll_journal). Each core's ring is req[TD_SRC_RX][m]; the RX core is its
 * only producer, so room counted before a request is journaled is still there when it is
 * enqueued, and nothing journaled is ever refused by a ring. The record's time is the
 * request's rx_time, at which the core applies it (td_match.c), so replay is exact. The
 * replies come back on ev[m][TD_SRC_RX] in an order that depends on timing; each burst dequeued
 * is journaled (JN_T_DRAIN) before the session layer numbers it, and replay numbers them
 * in that order. What a full ring refuses is answered BUSY and journaled (JN_T_REJECT) so
 * the session's numbering replays too. */

static unsigned td_room(const struct td_rx *r, unsigned m)
{
	unsigned f = rte_ring_free_count(r->app->route.req[TD_SRC_RX][m]);
	unsigned used = r->n_stage[m];
	return f > used ? f - used : 0;
}

static int td_room_all(const struct td_rx *r)
{
	for (uint32_t m = 0; m < r->app->route.n_match; m++)
		if (td_room(r, m) == 0 || r->n_stage[m] == TD_STAGE_MAX)
			return 0;
	return 1;
}

static void td_stage_jn_flush(struct td_rx *r)
{
	struct td_app *a = r->app;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		unsigned n = r->n_stage[m], k = 0;
		/* Room was counted; the loop only guards against a logic error. */
		while (k < n) {
			k += rte_ring_sp_enqueue_burst_elem(a->route.req[TD_SRC_RX][m], r->stage[m] + k,
							    sizeof(struct dp_order), n - k, NULL);
			if (k < n)
				rte_pause();
		}
		a->rx.orders_routed += n;
		a->match[m].sent += n;
		r->n_stage[m] = 0;
	}
}

/* Stages a journaled request on its core(s): all cores for a broadcast. */
static void td_stage_jn(struct td_rx *r, const struct dp_order *o, int core)
{
	struct td_app *a = r->app;
	if (core < 0) {
		for (uint32_t m = 0; m < a->route.n_match; m++)
			r->stage[m][r->n_stage[m]++] = *o;
	} else {
		r->stage[core][r->n_stage[core]++] = *o;
	}
}

/* A BUSY answer the journal knows about (replay numbers it again). */
static void td_busy_jn(struct td_rx *r, const struct dp_order *o)
{
	struct td_app *a = r->app;
	a->rx.busy_rejects++;
	td_jn_reject(a, o, TKX_REJ_BUSY, r->now);
	td_reject(r, o, TKX_REJ_BUSY);
}

/* SESSION_GONE records that waited: journaled and staged once every core has room. */
static void td_retry_jgone(struct td_rx *r)
{
	struct td_app *a = r->app;
	unsigned i = 0;
	while (i < r->n_jgone && td_room_all(r)) {
		struct dp_order *o = &r->jgone[i];
		o->rx_time = r->now;
		int64_t s = td_jn_append(a, JN_T_ORDER, o, sizeof(*o), r->now);
		if (s == 0)
			break; /* the journal's ring is full: next pass */
		if (s > 0)
			td_stage_jn(r, o, -1);
		i++; /* halted (s < 0): nothing is applied any more */
	}
	memmove(r->jgone, r->jgone + i, (r->n_jgone - i) * sizeof(r->jgone[0]));
	r->n_jgone -= i;
}

static void td_route_pipeline_jn(struct td_rx *r)
{
	struct td_app *a = r->app;
	uint32_t n_match = a->route.n_match;
	td_retry_jgone(r);
	for (unsigned i = 0; i < r->n_pend; i++) {
		struct dp_order *o = &r->pend[i];
		int core = -1, room;
		o->rx_time = r->now;
		if (td_is_broadcast(o)) {
			o->parts = (uint8_t)n_match;
			room = td_room_all(r);
		} else {
			o->parts = 1;
			core = td_route_core(&a->route, o->contract_id);
			if (core < 0) {
				/* Journaled, so that replay answers it the same way. */
				uint16_t why = td_jn_request(r, o);
				if (why == 0) {
					a->rx.unknown_contract++;
					why = TKX_REJ_UNKNOWN_CONTRACT;
				}
				td_reject(r, o, why);
				continue;
			}
			room = td_room(r, (unsigned)core) > 0 && r->n_stage[core] < TD_STAGE_MAX;
		}
		if (o->type == DP_ORD_SESSION_GONE && (!room || r->n_jgone)) {
			if (r->n_jgone < TD_GONE_MAX) {
				r->jgone[r->n_jgone++] = *o;
				continue;
			}
			/* A wave of disconnects: let the cores drain, never lose one. */
			while (r->n_jgone == TD_GONE_MAX) {
				td_stage_jn_flush(r);
				rte_pause();
				td_retry_jgone(r);
			}
			r->jgone[r->n_jgone++] = *o;
			continue;
		}
		if (!room || r->n_jgone) {
			/* Full ring, or a SESSION_GONE still owed: nothing may overtake it. */
			td_busy_jn(r, o);
			continue;
		}
		uint16_t why = td_jn_request(r, o);
		if (why == 0)
			td_stage_jn(r, o, core);
		else if (why != TD_JN_DROP)
			td_reject(r, o, why);
	}
	td_stage_jn_flush(r);
	r->n_pend = 0;
}

/* RX core's control-command forwarder (td_ctl_poll_journal): the marker goes on the
 * core's request ring, waiting for room (the core always drains it; commands are rare). */
static int td_fwd_ctl(void *arg, unsigned m, const struct dp_order *o)
{
	struct td_rx *r = arg;
	struct td_app *a = r->app;
	td_stage_jn_flush(r);
	while (rte_ring_sp_enqueue_elem(a->route.req[TD_SRC_RX][m], (void *)(uintptr_t)o,
					sizeof(*o)) != 0)
		rte_pause();
	a->match[m].sent++;
	return 0;
}

/* Replies from the matching cores, each burst journaled (JN_T_DRAIN) before it is numbered;
 * market data is not (a restart is a new market-data session). After a journal failure
 * what comes back is dropped: it answers requests that may not be durable. */
static void td_drain_rings_jn(struct td_rx *r)
{
	struct td_app *a = r->app;
	struct dp_event ev[32];
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		for (unsigned src = 0; src < TD_N_SRC; src++) {
			struct rte_ring *ring = a->route.ev[m][src];
			unsigned n;
			while ((n = rte_ring_sc_dequeue_burst_elem(ring, ev, sizeof(ev[0]), 32,
								   NULL)) > 0) {
				/* A request's end on an event of its own (template 0, dp_msg.h
				 * DP_EV_DONE) numbers nothing, and whether one is made depends on
				 * the core's output buffer: not counted, and replay drops them. A
				 * core's DP_EV_DETACHED answer (template 0 too) is always made and
				 * frees a slot after the replies before it: counted. */
				unsigned real = 0;
				for (unsigned k = 0; k < n; k++)
					real += ev[k].template_id != 0 || ev[k].pad[0] == DP_EV_DETACHED;
				if (real == 0) {
					td_replies(r, ev, n);
					continue;
				}
				struct jn_drain d = {(uint8_t)m, (uint8_t)src, 0, real};
				int64_t s = td_jn_append(a, JN_T_DRAIN, &d, sizeof(d), r->now);
				if (s == 0) { /* the journal's ring is full: drain it, once more */
					td_jn_wait(a);
					s = td_jn_append(a, JN_T_DRAIN, &d, sizeof(d), r->now);
					if (s == 0)
						td_jn_halt_now(a, -ENOBUFS);
				}
				if (s <= 0) {
					a->rx.held_dropped += n;
					continue;
				}
				td_replies(r, ev, n);
			}
		}
		unsigned n;
		while ((n = rte_ring_sc_dequeue_burst_elem(a->route.md[m], ev, sizeof(ev[0]), 32,
							   NULL)) > 0) {
			if (td_jn_halted(a))
				continue; /* may describe what is not durable */
			td_md_records(r, ev, n);
		}
	}
}

/* Pipeline with a journal, before a snapshot: every matching core has applied all the RX
 * core sent it and every reply and market-data record has been taken (and its DRAIN
 * journaled), so the cores' books, the sessions and the publisher are all the state after
 * a->jn_last, and replay's FIFOs would be empty there. The cores idle on empty rings
 * meanwhile and change nothing until the RX core sends again, so it may read their state
 * (the acquire of `done` pairs with the core's release). A pause of the RX loop as long as
 * the cores' backlog plus the serialization; bounded by bound_ns (a snapshot: TD_QUIESCE_NS,
 * then none is taken; the stop: TD_STOP_WAIT_NS, so that every journaled request is applied
 * and answered before the cores stop, however loaded the machine). */
static int td_pipe_quiesce(struct td_rx *r, uint64_t bound_ns)
{
	struct td_app *a = r->app;
	uint64_t end = td_mono_ns() + bound_ns;
	for (;;) {
		int idle = 1;
		for (uint32_t m = 0; m < a->route.n_match; m++)
			if (__atomic_load_n(&a->match[m].done, __ATOMIC_ACQUIRE) != a->match[m].sent)
				idle = 0;
		td_drain_rings_jn(r); /* a core may wait for room on its output ring */
		if (idle)
			return 0;
		if (td_mono_ns() >= end || td_jn_halted(a))
			return -ETIMEDOUT;
		rte_pause();
	}
}

static void td_tick(struct td_rx *r)
{
	while (ss_tick(r->app->ss, r->now, r->out) == -ENOBUFS) {
		td_route(r);
		td_send_bufs(r);
	}
	td_route(r); /* SESSION_GONE from timeouts */
	md_pub_tick(r->app->md, r->now);
}

/* Stopping: has this core taken the TCP gateway's last input (td_gw.h "Stop")? The first
 * call asks the gateway to take no more; it says once all it read is on its in queue, and
 * the loop goes on until that is empty too, so that every frame the gateway read is taken,
 * applied and journaled and its replies made. Bounded (*end): a stuck gateway does not
 * hold the stop up (td_main reports it). */
static int td_gw_input_done(struct td_rx *r, uint64_t *end)
{
	struct td_app *a = r->app;
	if (a->gw == NULL)
		return 1;
	if (*end == 0) {
		td_gw_quiesce(a->gw);
		*end = td_mono_ns() + TD_STOP_WAIT_NS;
		return 0;
	}
	if (td_mono_ns() >= *end)
		return 1;
	if (!td_gw_quiet(a->gw)) /* acquire: its records are visible after this */
		return 0;
	return td_gw_in_empty(a->gw);
}

/* Fencing: what is held and not yet released is never sent (a standby takes over with
 * what it has: with sync-replicated, held output is exactly what it may not have), and
 * nothing is held from here on. */
static void td_hold_drop(struct td_rx *r)
{
	struct td_app *a = r->app;
	while (r->hm_head != r->hm_tail) {
		rte_pktmbuf_free(r->hold_m[r->hm_head++ & (TD_HOLD_CAP - 1)]);
		a->rx.held_dropped++;
	}
	r->ht_head = r->ht_tail;
	if (a->gw)
		td_gw_out_discard(a->gw); /* the chunks after the last released mark */
	r->halt_seen = 1;
}

/* The lease's stop point passed (td_app.lease_stop_ns): accept nothing more. While the
 * lease is still ours, what was released goes, what is held is dropped, and every live
 * session hears Terminate SHUTDOWN at once (it depends on no record); then the loop ends
 * and the process stops, sending nothing more - a standby takes over once the lease
 * expired. Returns 1 when fenced. */
static int td_fence(struct td_rx *r)
{
	struct td_app *a = r->app;
	uint64_t stop = atomic_load_explicit(&a->lease_stop_ns, memory_order_acquire);
	if (stop == 0 || td_mono_ns() < stop)
		return 0;
	if (!td_fenced_now(a)) {
		r->now = td_now_ns(); /* td_jn_poll's stall clock: never behind an earlier call */
		td_hold_release(r);
		td_tx_flush(r);
		td_hold_drop(r);
		unsigned cur = 0;
		int more;
		do {
			more = ss_fence(a->ss, &cur, r->out) < 0;
			td_send_bufs(r);
			td_tx_flush(r);
		} while (more && !td_fenced_now(a));
	}
	for (unsigned i = 0; i < r->n_tx; i++)
		rte_pktmbuf_free(r->tx[i]);
	r->n_tx = 0;
	atomic_store(&a->fenced_ns, td_mono_ns());
	atomic_store(&a->fenced, 1);
	atomic_store(&a->running, 0);
	return 1;
}

int td_rx_loop(void *arg)
{
	struct td_app *a = arg;
	/* ~460 KiB (the journal gate's holds, the pipeline staging): not on the stack, and
	 * not thread-local either (every thread of the process would get a copy); there is
	 * one RX lcore. */
	static struct td_rx r;
	struct rte_mbuf *pkts[DP_NET_BURST], *replies[DP_NET_BURST];
	struct dp_dgram dg[DP_NET_BURST];
	uint64_t next_tick = 0, gw_end = 0;
	int rtc = a->cfg.mode == CP_MODE_RTC;

	memset(&r, 0, sizeof(r));
	r.app = a;
	r.out = a->ss_out;
	r.mout.ev = r.mbuf;
	r.mout.cap = 64;
	r.mout.flush = td_mout_flush;
	r.mout.arg = &r;

	/* Until told to stop, then until the gateway's last input is in. */
	while (atomic_load_explicit(&a->running, memory_order_relaxed) ||
	       !td_gw_input_done(&r, &gw_end)) {
		a->rx.loops++;
		if (td_fence(&r))
			break;
		r.now = td_now_ns();
		uint16_t n = rte_eth_rx_burst(a->port.port_id, 0, pkts, DP_NET_BURST);
		if (n) {
			unsigned n_rep = 0;
			unsigned nd = dp_net_rx(&a->net, pkts, n, r.now, dg, replies, &n_rep);
			if (n_rep && td_fenced_now(a))
				rte_pktmbuf_free_bulk(replies, n_rep);
			else if (n_rep)
				dp_net_tx_burst(&a->net, a->port.port_id, 0, replies, n_rep);
			for (unsigned i = 0; i < nd; i++) {
				if (dg[i].dst_port == a->cfg.udp_port)
					td_session_rx(&r, &dg[i]);
				else
					td_md_request(&r, &dg[i]);
			}
			for (unsigned i = 0; i < nd; i++)
				rte_pktmbuf_free(dg[i].m);
			td_route(&r);
		}
		td_gw_rx(&r);
		td_route(&r);
		if (rtc) {
			if ((a->rx.loops & (TD_CTL_EVERY - 1)) == 0) /* the control plane's ring */
				td_ctl_poll(&a->match[0], &r.mout);
		} else if (a->jn_pipe) {
			td_route_pipeline_jn(&r); /* the SESSION_GONE records that wait */
			if ((a->rx.loops & (TD_CTL_EVERY - 1)) == 0)
				td_ctl_poll_journal(a, td_fwd_ctl, &r);
			td_drain_rings_jn(&r);
			td_route(&r); /* requests the replies let go (ss_session.h invariant 15) */
		} else {
			td_retry_gone(&r);
			td_drain_rings(&r);
			td_route(&r);
		}
		if (r.now >= next_tick) {
			next_tick = r.now + TD_TICK_NS;
			td_tick(&r);
		}
		md_pub_flush(a->md, r.now);
		td_md_send(&r);
		td_send_bufs(&r);
		if ((a->rx.loops & (TD_CTL_EVERY - 1)) == 0 && a->sess) {
			/* tokexctl sessions / drop (td_sess.c), with the session output empty: a
			 * drop's Terminate and SESSION_GONE records go as any burst's. */
			td_route(&r);
			td_sess_serve(a->sess, a->ss, r.out, r.now);
			td_route(&r);
			td_send_bufs(&r);
		}
		td_hold_release(&r);
		td_tx_flush(&r);
		/* Not while the session layer holds requests back: they were taken (numbered,
		 * their cl_ord_ids used) but not journaled yet. */
		if (rtc && a->jn && ss_held(a->ss) == 0) /* every record <= jn_last is applied */
			td_snap_maybe(a, r.now);
		else if (a->jn_pipe && td_snap_due(a) && r.n_jgone == 0 &&
			 td_pipe_quiesce(&r, TD_QUIESCE_NS) == 0 && ss_held(a->ss) == 0 &&
			 r.out->n_orders == 0)
			td_snap_maybe(a, r.now);
	}
	if (atomic_load(&a->fenced)) {
		/* Fenced: nothing more leaves; the matching lcores may stop. */
		atomic_store_explicit(&a->match_stop, 1, memory_order_release);
		return 0;
	}
	/* Orderly end: the UDP sessions' input stopped with the loop, the TCP ones' is in.
	 * Pipeline: the matching cores still run; what they were sent is applied and its
	 * replies taken (with a journal: every core idle, the drains journaled; else the rings
	 * drained for a moment), then they may stop. Market data subscribers hear the session
	 * is over; what is held goes once durable (td_jn_wait gives up, halting, after
	 * journal.stall_ms), the TCP chunks onto the gateway's out queue (td_gw_stop() sends
	 * them). */
	if (!rtc) {
		r.now = td_now_ns();
		if (a->jn_pipe) {
			td_pipe_quiesce(&r, TD_STOP_WAIT_NS);
		} else {
			uint64_t end = td_mono_ns() + 20000000ull; /* 20 ms */
			while (td_mono_ns() < end)
				td_drain_rings(&r);
		}
		atomic_store_explicit(&a->match_stop, 1, memory_order_release);
		td_send_bufs(&r);
	}
	md_pub_end(a->md, td_now_ns());
	td_md_send(&r);
	if (a->jn)
		td_jn_wait(a);
	td_hold_flush(&r);
	return 0;
}
