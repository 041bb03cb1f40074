/*
 * td_rx.c - the RX/session lcore: packets in, sessions, routing, replies and market data out.
 *
 * Role in the data path: one pinned lcore. Each pass of its loop:
 *   1. receive a burst (32) and run it through dp_net (ARP and ICMP answered there);
 *   2. order-entry datagrams go through the session layer (ss_rx), which yields requests;
 *      market-data re-requests go to the publisher;
 *   3. requests are routed: run-to-completion calls the matching core here and now;
 *      pipeline enqueues one burst per matching core on its ring, and a full ring turns
 *      each request it refused into Reject(BUSY) — never a silent drop;
 *   4. replies (from the local matching core, or drained from the reply rings) are
 *      numbered by the session layer; market data is packed by the publisher;
 *   5. every millisecond, session timers and market-data heartbeats/snapshots;
 *   6. everything to send is framed as UDP and sent in bursts; with a journal, held first
 *      until the requests before it are durable (the journal gate below; td_journal.c).
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
#define TD_HOLD_EV_CAP 4096u /* gateway replies held for durability; power of two */
#define TD_STOP_WAIT_NS 10000000000ull /* stop: the gateway's last input, its last replies */

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
	struct dp_event hold_ev[TD_HOLD_EV_CAP]; /* for the TCP gateway's sessions */
	uint64_t hold_ev_seq[TD_HOLD_EV_CAP];
	uint32_t he_head, he_tail;
	int halt_seen; /* the journal failure was handled (td_hold_halt) */
	/* pipeline with a journal (td_route_pipeline_jn): requests staged per core, each
	 * journaled, with room on its ring counted before; SESSION_GONE records waiting for
	 * room on every core (journaled when they go) */
	struct dp_order stage[TD_MAX_MATCH][TD_STAGE_MAX];
	unsigned n_stage[TD_MAX_MATCH];
	struct dp_order jgone[TD_GONE_MAX];
	unsigned n_jgone;
};

static void td_tx_flush(struct td_rx *r)
{
	if (r->n_tx) {
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
 * gateway's replies - is held, tagged with the last seq appended when it was made, until
 * the journal reports that seq durable. Tags are conservative (a reply waits for every
 * record appended before it, its cause among them) and never decrease, so each FIFO is
 * released from its head. One fdatasync thus covers whatever arrived while the previous
 * one ran (group commit), and RX goes on meanwhile. When the journal fails, what is not
 * durable is discarded, never sent (td_hold_halt). */

static void td_gw_put(struct td_rx *r, const struct dp_event *ev, unsigned n);

/* Journal failure, seen once by this core: releases what became durable, frees the rest
 * (counted), and stops retransmission (the session layer numbered messages that never
 * left). From here on nothing is held: nothing more is applied, and the STORAGE rejects
 * and session messages that follow go out at once. */
static void td_hold_halt(struct td_rx *r)
{
	struct td_app *a = r->app;
	uint64_t d = jn_durable(a->jn);
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
	struct rte_ring *ring = a->gw_rt->ev[0][TD_SRC_GW];
	while (r->he_head != r->he_tail) {
		uint32_t i = r->he_head++ & (TD_HOLD_EV_CAP - 1);
		if (r->hold_ev_seq[i] <= d && ring)
			td_gw_put(r, &r->hold_ev[i], 1);
		else
			a->rx.held_dropped++;
	}
	ss_halt_retransmission(a->ss);
}

/* Moves what is durable from the holds to the TX burst and the gateway's ring. */
static void td_hold_release(struct td_rx *r)
{
	struct td_app *a = r->app;
	if (a->jn == NULL || r->halt_seen)
		return;
	if (td_jn_halted(a)) {
		td_hold_halt(r);
		return;
	}
	if (r->hm_head == r->hm_tail && r->he_head == r->he_tail) {
		a->jn_stall = 0;
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
	struct rte_ring *ring = a->gw_rt->ev[0][TD_SRC_GW];
	while (ring && r->he_head != r->he_tail) {
		uint32_t i = r->he_head & (TD_HOLD_EV_CAP - 1);
		if (r->hold_ev_seq[i] > d ||
		    rte_ring_sp_enqueue_elem(ring, &r->hold_ev[i], sizeof(r->hold_ev[i])) != 0)
			break; /* not durable yet, or the gateway's ring is full: next pass */
		r->he_head++;
	}
}

/* Stopping, after td_jn_wait(): what is held goes - all of it durable now, or dropped by
 * td_hold_halt() if the journal failed. The gateway's replies wait for room on its ring,
 * which the gateway drains until td_gw_stop(); bounded for a gateway that is stuck. */
static void td_hold_flush(struct td_rx *r)
{
	uint64_t end = td_mono_ns() + TD_STOP_WAIT_NS;
	for (;;) {
		td_hold_release(r);
		td_tx_flush(r);
		if ((r->he_head == r->he_tail && r->hm_head == r->hm_tail) || r->halt_seen ||
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

/* Replies for the TCP gateway's sessions: onto its ring, waiting for room (a reply is
 * never dropped); with a journal, held until durable like the packets. */
static void td_gw_put(struct td_rx *r, const struct dp_event *ev, unsigned n)
{
	struct td_app *a = r->app;
	struct rte_ring *ring = a->gw_rt->ev[0][TD_SRC_GW];
	if (ring == NULL)
		return;
	if (td_holding(r) && td_jn_halted(a))
		td_hold_release(r);
	if (td_holding(r)) {
		for (unsigned k = 0; k < n; k++) {
			if (r->he_tail - r->he_head == TD_HOLD_EV_CAP) {
				td_hold_drain(r);
				while (td_holding(r) && r->he_tail - r->he_head == TD_HOLD_EV_CAP) {
					/* durable, but the gateway's ring is full: let it drain */
					a->rx.gw_ring_spins++;
					rte_pause();
					td_hold_release(r);
				}
				if (!td_holding(r)) {
					td_gw_put(r, ev + k, n - k);
					return;
				}
			}
			uint32_t i = r->he_tail++ & (TD_HOLD_EV_CAP - 1);
			r->hold_ev[i] = ev[k];
			r->hold_ev_seq[i] = a->jn_last;
		}
		return;
	}
	unsigned k = 0;
	/* rte_ring of 64-byte records: enqueue by element copy. */
	while (k < n) {
		k += rte_ring_sp_enqueue_burst_elem(ring, ev + k, sizeof(struct dp_event), n - k, NULL);
		if (k < n) {
			a->rx.gw_ring_spins++;
			rte_pause();
		}
	}
}

/* Frames and queues every buffer the session layer produced, then empties them. */
static void td_send_bufs(struct td_rx *r)
{
	struct ss_out *o = r->out;
	/* Each session's datagrams end with their DatagramAuth (sessions.udp_auth). */
	ss_seal(r->app->ss, o);
	/* Journal gate: the packets are held until what was appended before them (a SESSION
	 * record before its EstablishmentAck, the requests before their replies) is durable. */
	for (uint32_t i = 0; i < o->n_bufs; i++) {
		const struct ss_buf *b = &o->bufs[i];
		struct dp_peer to;
		memcpy(&to.mac, b->peer.mac, sizeof(to.mac));
		to.port = rte_be_to_cpu_16(b->peer.port); /* ss_peer keeps network order */
		to.ip = b->peer.ip;
		td_tx_one(r, &to, (uint16_t)r->app->cfg.udp_port, b->bytes, b->len);
	}
	o->n_bufs = 0;
}

/* Replies for the UDP sessions: numbered by the session layer, sent when its output fills. */
static void td_replies(struct td_rx *r, const struct dp_event *ev, unsigned n)
{
	while (n) {
		unsigned done = ss_event(r->app->ss, ev, n, r->now, r->out);
		ev += done;
		n -= done;
		if (n)
			td_send_bufs(r);
	}
}

static void td_md_send(struct td_rx *r);
static void td_shadow_event(struct td_app *a, const struct dp_event *e, unsigned n,
			    uint64_t now);

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

/* Run-to-completion: the matching core's output callback. Replies for the gateway's
 * sessions go onto its ring (waiting for room: a reply is never dropped). */
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
		} else if (src >= TD_N_SRC) {
			/* For no session (a detached order's, mc_core.h identity 4): dropped. */
		} else {
			td_shadow_event(a, e, j - i, r->now); /* replay numbers these here */
			td_gw_put(r, e, j - i);
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

/* ---- The gateway's shadow table (snapshots; a->gw_shadow) -----------------------------
 * The calls replay makes on the gateway's session table (td_journal.c td_replay_rec), made
 * here on a->gw_shadow as each record is journaled or each reply made, so that a snapshot
 * holds what replay would rebuild. No-ops without it. */
static void td_shadow_event(struct td_app *a, const struct dp_event *e, unsigned n,
			    uint64_t now)
{
	if (a->gw_shadow == NULL)
		return;
	for (unsigned i = 0; i < n; i++) {
		while (ss_event(a->gw_shadow, &e[i], 1, now, a->gw_shadow_out) == 0)
			ss_out_reset(a->gw_shadow_out);
		ss_out_reset(a->gw_shadow_out);
	}
}

static void td_shadow_order(struct td_app *a, const struct dp_order *o)
{
	if (a->gw_shadow)
		ss_restore_order(a->gw_shadow, o);
}

/* A gateway journal record that must not be lost (the gateway makes it once): when the
 * journal's ring is full, wait for it to drain and try once more, then halt (its
 * sessions' numbering would diverge on replay). The seq, or <= 0: not journaled. */
static int64_t td_jn_gw_must(struct td_rx *r, uint16_t type, const void *p, uint32_t len)
{
	struct td_app *a = r->app;
	int64_t s = td_jn_append(a, type, p, len, r->now);
	if (s == 0) {
		td_jn_wait(a);
		s = td_jn_append(a, type, p, len, r->now);
		if (s == 0)
			td_jn_halt_now(a, -ENOBUFS);
	}
	return s;
}

/* DP_ORD_SESSION_UP (dp_msg.h): a gateway session established for the first time, as the
 * SESSION record replay rebuilds it from (td_jn_session's, for the gateway's table). */
static void td_jn_gw_session(struct td_rx *r, const struct dp_order *o)
{
	struct jn_session_ev e;
	memset(&e, 0, sizeof(e));
	e.kind = JN_SS_ESTABLISHED;
	e.src = TD_SRC_GW;
	e.session = o->session;
	e.firm_id = o->firm_id;
	e.session_id = o->cl_ord_id;
	e.next_in_seq = o->in_seq;
	e.next_out_seq = 1;
	if (td_jn_gw_must(r, JN_T_SESSION, &e, sizeof(e)) > 0 && r->app->gw_shadow)
		ss_restore_session(r->app->gw_shadow, e.session, e.session_id, e.firm_id,
				   e.next_in_seq, r->now);
}

/* DP_ORD_LOGON (dp_msg.h): a Negotiate the gateway accepted. Journaled as a SESSION record
 * (the session's newest logon timestamp, restored on replay), then echoed back to the
 * gateway, held until durable like every reply: the gateway sends the NegotiationResponse
 * when the echo comes, so no client is told it negotiated before the record is safe. */
static void td_jn_gw_logon(struct td_rx *r, const struct dp_order *o)
{
	struct jn_session_ev e;
	struct dp_event ev;
	memset(&e, 0, sizeof(e));
	e.kind = JN_SS_LOGON;
	e.src = TD_SRC_GW;
	e.session = o->session;
	e.firm_id = o->firm_id;
	e.session_id = o->cl_ord_id;
	e.logon_ts = o->order_id;
	if (td_jn_gw_must(r, JN_T_SESSION, &e, sizeof(e)) > 0 && r->app->gw_shadow)
		ss_restore_logon(r->app->gw_shadow, e.session, e.session_id, e.firm_id, e.logon_ts,
				 r->now);
	if (dp_order_logon_event(o, &ev) == 0)
		td_gw_put(r, &ev, 1);
}

/* Run-to-completion: applies in[0, k), the requests kept so far, now rather than after the
 * burst, so that their replies reach the gateway before the echo of a LOCAL journaled
 * after them (the gateway numbers in arrival order, replay in journal order). Pipeline:
 * the replies come back through the matching cores' rings, numbered on replay at their
 * JN_T_DRAIN records, so in[0, k) stays for the caller. Returns what is left in in[]. */
static unsigned td_jn_gw_apply(struct td_rx *r, struct dp_order *in, unsigned k)
{
	if (k == 0 || r->app->cfg.mode != CP_MODE_RTC)
		return k;
	mc_process(r->app->match[0].mc, in, k, r->now, &r->mout);
	return 0;
}

/* DP_ORD_LOCAL: a reply the gateway's session layer made by itself. Journaled as it is,
 * in order, then echoed back to the gateway (held until durable like every reply), which
 * numbers it on arrival. After a journal failure it is still answered (like the STORAGE
 * rejects), not journaled. */
static void td_jn_gw_local(struct td_rx *r, const struct dp_order *o)
{
	struct dp_event e;
	if (dp_order_local_event(o, &e) != 0)
		return; /* not one the gateway makes */
	if (td_jn_gw_must(r, JN_T_ORDER, o, sizeof(*o)) > 0)
		td_shadow_event(r->app, &e, 1, r->now);
	td_gw_put(r, &e, 1);
}

/* Journal: the gateway's requests, appended by this core (the single producer). What
 * cannot be kept is answered ExecReject BUSY/STORAGE on the gateway's reply ring (a
 * SESSION_GONE is not answered). The gateway's journal records (SESSION_UP, LOGON, LOCAL) are
 * journaled here and never applied. Returns how many of in[] are still to apply
 * (compacted; in rtc mode those before a reject or LOCAL were applied already). */
static unsigned td_jn_gateway(struct td_rx *r, struct dp_order *in, unsigned n)
{
	unsigned k = 0;
	for (unsigned i = 0; i < n; i++) {
		if (in[i].type == DP_ORD_SESSION_UP) {
			td_jn_gw_session(r, &in[i]);
			continue;
		}
		if (in[i].type == DP_ORD_LOGON) {
			td_jn_gw_logon(r, &in[i]);
			continue;
		}
		if (in[i].type == DP_ORD_LOCAL) {
			k = td_jn_gw_apply(r, in, k);
			td_jn_gw_local(r, &in[i]);
			continue;
		}
		in[i].src = TD_SRC_GW;
		uint16_t why = td_jn_request(r, &in[i]);
		if (why == 0) {
			td_shadow_order(r->app, &in[i]);
			in[k++] = in[i];
			continue;
		}
		if (why == TD_JN_DROP)
			continue;
		/* Answered here: after the replies of the requests before it (rtc), as on
		 * replay; the BUSY one is journaled (td_jn_request). */
		struct dp_event e;
		k = td_jn_gw_apply(r, in, k);
		td_reject_event(&in[i], why, r->now, &e);
		if (why == TKX_REJ_BUSY) { /* journaled (JN_T_REJECT): replay makes the same */
			td_shadow_order(r->app, &in[i]);
			td_shadow_event(r->app, &e, 1, r->now);
		}
		td_gw_put(r, &e, 1); /* in order with the replies held before it */
	}
	return k;
}

/* Run-to-completion: requests the TCP gateway put on the matching core's ring. */
static void td_drain_gateway(struct td_rx *r)
{
	struct rte_ring *ring = r->app->route.req[TD_SRC_GW][0];
	struct dp_order in[32];
	unsigned n;
	if (ring == NULL)
		return;
	while ((n = rte_ring_sc_dequeue_burst_elem(ring, in, sizeof(in[0]), 32, NULL)) > 0) {
		if (r->app->jn) {
			n = td_jn_gateway(r, in, n);
			if (n == 0)
				continue;
		}
		mc_process(r->app->match[0].mc, in, n, r->now, &r->mout);
	}
}

/* ---- Pipeline mode with a journal ---------------------------------------------------
 * The RX core is the journal's only producer, so everything that reaches a matching core
 * passes it, in journal order: its UDP sessions' requests, the TCP gateway's (the gateway
 * sees the RX core as its only core: a->gw_route) and the control commands (DP_ORD_CTL
 * markers, td_ctl_poll_journal). Each core's ring is req[TD_SRC_RX][m]; the RX core is its
 * only producer, so room counted before a request is journaled is still there when it is
 * enqueued, and nothing journaled is ever refused by a ring. The record's time is the
 * request's rx_time, at which the core applies it (td_match.c), so replay is exact. The
 * replies come back on ev[m][src] in an order that depends on timing; each burst dequeued
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

/* The gateway's requests (it sees this core as its only core): only as many as every
 * core has room for, so that each is journaled and then enqueued, never refused. */
static void td_drain_gateway_jn(struct td_rx *r)
{
	struct td_app *a = r->app;
	struct rte_ring *ring = a->gw_rt->req[TD_SRC_GW][0];
	struct dp_order in[32];
	if (ring == NULL || r->n_jgone)
		return;
	for (;;) {
		unsigned room = 32;
		for (uint32_t m = 0; m < a->route.n_match; m++) {
			unsigned f = td_room(r, m), s = TD_STAGE_MAX - r->n_stage[m];
			room = f < room ? f : room;
			room = s < room ? s : room;
		}
		if (room == 0)
			return;
		unsigned n = rte_ring_sc_dequeue_burst_elem(ring, in, sizeof(in[0]), room, NULL);
		if (n == 0)
			return;
		for (unsigned i = 0; i < n; i++) {
			in[i].rx_time = r->now;
			if (td_is_broadcast(&in[i]))
				in[i].parts = (uint8_t)a->route.n_match;
		}
		n = td_jn_gateway(r, in, n);
		for (unsigned i = 0; i < n; i++) {
			int core = td_is_broadcast(&in[i]) ? -1 :
				   td_route_core(&a->route, in[i].contract_id);
			/* Not routed (cannot be: the gateway's view has the same contracts):
			 * core 0 answers it UNKNOWN_CONTRACT, and replay does the same. */
			td_stage_jn(r, &in[i], td_is_broadcast(&in[i]) ? -1 : core < 0 ? 0 : core);
		}
		td_stage_jn_flush(r);
	}
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
			if (ring == NULL)
				continue;
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
					if (src == TD_SRC_RX)
						td_replies(r, ev, n);
					else
						td_gw_put(r, ev, n);
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
				if (src == TD_SRC_RX) {
					td_replies(r, ev, n);
				} else {
					td_shadow_event(a, ev, n, r->now); /* replay: at DRAIN */
					td_gw_put(r, ev, n);
				}
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
 * call asks the gateway to take no more; it says once all it made is on its rings, and
 * where this core is their consumer (run-to-completion, pipeline with a journal) the loop
 * goes on until they are empty too, so that every request the gateway took is applied and
 * journaled and its replies made. Bounded (*end): a stuck gateway does not hold the stop
 * up (td_main reports it). */
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
	if (!td_gw_quiet(a->gw)) /* acquire: its ring entries are visible after this */
		return 0;
	struct rte_ring *ring = a->cfg.mode == CP_MODE_RTC || a->jn_pipe ?
				a->gw_rt->req[TD_SRC_GW][0] : NULL;
	return ring == NULL || rte_ring_empty(ring);
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
		r.now = td_now_ns();
		uint16_t n = rte_eth_rx_burst(a->port.port_id, 0, pkts, DP_NET_BURST);
		if (n) {
			unsigned n_rep = 0;
			unsigned nd = dp_net_rx(&a->net, pkts, n, r.now, dg, replies, &n_rep);
			if (n_rep)
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
		if (rtc) {
			td_drain_gateway(&r);
			if ((a->rx.loops & (TD_CTL_EVERY - 1)) == 0) /* the control plane's ring */
				td_ctl_poll(&a->match[0], &r.mout);
		} else if (a->jn_pipe) {
			td_route_pipeline_jn(&r); /* the SESSION_GONE records that wait */
			td_drain_gateway_jn(&r);
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
		if ((a->rx.loops & (TD_CTL_EVERY - 1)) == 0 && a->sess[TD_SRC_RX]) {
			/* tokexctl sessions / drop (td_sess.c), with the session output empty: a
			 * drop's Terminate and SESSION_GONE records go as any burst's. */
			td_route(&r);
			td_sess_serve(a->sess[TD_SRC_RX], a->ss, r.out, r.now);
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
	/* Orderly end: the UDP sessions' input stopped with the loop, the gateway's is in.
	 * Pipeline: the matching cores still run; what they were sent is applied and its
	 * replies taken (with a journal: every core idle, the drains journaled; else the rings
	 * drained for a moment), then they may stop. Market data subscribers hear the session
	 * is over; what is held goes once durable (td_jn_wait gives up, halting, after
	 * TD_JN_WAIT_NS), the gateway's replies onto its ring (td_gw_stop() sends them). */
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
