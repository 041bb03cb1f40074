/*
 * td_gw.h - the TCP order-entry gateway: one thread, one io_uring, the kernel's TCP stack.
 *
 * Role in the data path: session core TD_SRC_GW. It accepts TCP connections on the order
 * entry port, cuts each byte stream into SOFH frames, feeds every frame's message to its
 * own session table (ss_session.h, transport SS_TCP), routes the table's dp_orders onto
 * the rings req[TD_SRC_GW][m] of the matching core that owns each contract (td_route.h),
 * turns the dp_event replies it dequeues from ev[m][TD_SRC_GW] back into SOFH frames and
 * queues them on each connection's send queue. Kernel events (accept, recv, send
 * completions) and ring polling share one loop: the loop waits for completions at most
 * poll_us, so the rings are polled every few tens of microseconds even when the sockets
 * are idle; ss_tick() runs every tick_us.
 *
 * Rings carry the records by value: they are created with rte_ring_create_elem(...,
 * sizeof(struct dp_order) or sizeof(struct dp_event), ..., RING_F_SP_ENQ | RING_F_SC_DEQ);
 * this thread is the only producer of req[TD_SRC_GW][*] and the only consumer of
 * ev[*][TD_SRC_GW].
 *
 * Connection slot states, and the function that makes each transition (td_gw.c):
 *
 *           admit()                 send_bufs(): a chunk carrying a Terminate;
 *   FREE ---------------> OPEN -----------------------------------------------> DRAIN
 *    ^                     |        gw_stop_drain(): the appliance stops         |
 *    |                     |                                                     |
 *    |                     | conn_kill(): EOF, recv/send error, bad SOFH,        | conn_kill():
 *    |                     | send queue overflow, idle_ms silence, no            | queue sent,
 *    |                     | credentials by negotiate_ms, evicted, stop          | FIN sent and
 *    |                     v                                                     | client's EOF,
 *    +---------------- DEAD <----------------------------------------------------+ or its deadline
 *     conn_reap(): ss_disconnect() done, no recv/send in flight; close(fd)
 *
 * Admission (on_accept(), admit()): a connection from an address that already holds
 * max_conns_per_ip connections is closed at once (per_ip_refused). When the table is full,
 * the new one waits in a short queue for the slot of a connection that is closing
 * (conn_reap() frees it, admit_pending() takes it); when every closing one is spoken for,
 * the oldest unauthenticated connection is closed to make one (evicted); with none to
 * evict the new connection is closed (conns_refused). A connection is unauthenticated until
 * the exchange answers a Negotiate on it with NegotiationResponse (valid credentials:
 * send_bufs() sees the response go out); until then its deadline is negotiate_ms after its
 * accept, which bytes do not move (a trickle cannot keep it), and then idle_ms after each
 * recv.
 *
 * Stop, in two steps. td_gw_quiesce() (the appliance's RX core, when it is told to stop):
 * the gateway takes no more input - no new connection, inbound bytes dropped unread, so a
 * request is either taken whole or never seen (the client learns which from the numbers
 * on re-establishment) - and once everything its sessions made is on the rings it says so
 * (td_gw_quiet()); the RX core then applies and journals the last of it. td_gw_stop(),
 * once nothing produces replies any more (the RX and matching cores have stopped):
 * gw_stop_drain() takes every reply left on the rings, then every connection drains as
 * after a Terminate - its send queue goes out, then a FIN, then the client's EOF is
 * awaited - within stop_ms; gw_shutdown() closes what is left.
 *
 * Invariants:
 *  1. A connection is named to the session layer by ss_peer.conn = gen << 16 | slot, with
 *     ip and port the client's address (network order, for the logs). gen changes on
 *     every reuse of a slot, so a stream chunk made for a connection that has since gone
 *     is never sent on its slot's next connection (it is dropped and counted).
 *  2. At most one recv and one send SQE are in flight per connection; a slot is reused
 *     only when neither is, so a completion always finds the buffers it was given.
 *  3. Only bad framing closes a connection from the inbound side (a SOFH with the wrong
 *     encoding type or an impossible length: the stream cannot be resynchronised); a
 *     frame whose length is not that of the one message its header announces is dropped
 *     here (bad_length); any other frame whose message does not decode is the session
 *     layer's to drop and count.
 *  4. Every dp_order the session layer produces is either enqueued on its matching
 *     core's ring or answered with ss_reject_order() (UNKNOWN_CONTRACT, BUSY), except
 *     DP_ORD_SESSION_GONE, which is kept pending per core until its ring takes it. While
 *     a SESSION_GONE waits for core m, requests for core m are answered BUSY, so a core
 *     never sees a session's requests out of order with its SESSION_GONE.
 *  5. A request with contract_id 0 (MassCancel of every contract, SESSION_GONE) goes to
 *     every matching core. A MassCancel is all-or-nothing: if one core's ring has no room
 *     it is answered BUSY and no core gets it.
 *  6. A send queue never drops bytes silently: a chunk that does not fit closes the
 *     connection (counted); the client re-establishes and asks for retransmission.
 *  7. No malloc after td_gw_create(); the loop makes no printf and never exits; its only
 *     system calls besides io_uring_enter are per connection (accept set-up, shutdown,
 *     close).
 *  8. Journal (conf.journal): every SESSION_UP and LOCAL record reaches ring 0 in the
 *     order it was made relative to the requests routed there, and none is lost while
 *     the appliance runs. A record that finds ring 0 full (or records already waiting)
 *     waits in a FIFO, which blocks core 0 like a waiting SESSION_GONE (its requests are
 *     answered BUSY - LOCAL records too, behind it); the FIFO keeps room for two flushes'
 *     worth, and below that rx_frames() parks the connection (its bytes stay in the
 *     kernel: TCP's own backpressure) until the RX core has taken some.
 *  9. A connection whose session has as many requests unanswered as it may (ss_rx()
 *     -EAGAIN, ss_session.h invariant 15) is parked the same way: its frame and the
 *     rest wait in TCP, retried every loop pass, until the matching cores' replies come.
 *     At stop no more replies are taken (ss_forget_replies): sessions end at once.
 *
 * Journal (issue 6; conf.journal, set by tokexd when journal.dir is): ring 0 leads to the
 * RX core, the journal's single producer, which journals what it dequeues and applies the
 * requests. The session table's numbering must then follow the journal's order, which
 * only the RX core sees, so the table defers (ss_params.defer_local) and its hooks turn
 * what would have been numbered here into records sent on ring 0 among the requests:
 *   on_established  -> DP_ORD_SESSION_UP (slot, session_id, firm, first inbound number):
 *                      journaled as a SESSION record, rebuilding the slot on replay;
 *   on_negotiated   -> DP_ORD_LOGON (slot, session_id, firm, the Negotiate's timestamp):
 *                      journaled as a SESSION record (the session's newest logon, which
 *                      refuses a replay after a restart too) and echoed back on ev[0] as
 *                      a DP_EV_LOGON dp_event, held until durable: the NegotiationResponse
 *                      is sent when it comes (ss_event());
 *   on_local_reply  -> DP_ORD_LOCAL (the reply's template and body, dp_msg.h): journaled
 *                      as it is, and echoed back on ev[0] as a DP_EV_LOCAL dp_event that
 *                      ss_event() numbers like any reply - the session layer's own
 *                      ExecRejects and BusinessRejects, and the gateway's UNKNOWN_CONTRACT
 *                      and BUSY answers (ss_reject_order() defers too).
 * Other session-level messages (EstablishmentAck, heartbeats, Terminate, Retransmission)
 * are not numbered and still go out at once. Recovery rebuilds the
 * sessions in the table between td_gw_create() and td_gw_launch() (td_gw_table()).
 * Without a journal none of this happens: the gateway numbers its own replies.
 *
 * Threads: td_gw_create()/td_gw_launch()/td_gw_start()/td_gw_stop() from the control
 * thread (td_gw_table() on it between create and launch); td_gw_stats(),
 * td_gw_ss_stats() and td_gw_log_drain() from one control thread while the gateway runs;
 * td_gw_quiesce() and td_gw_quiet() from any thread (tokexd: the RX core).
 */
#ifndef TOKEX_TD_GW_H
#define TOKEX_TD_GW_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/session/ss_session.h"
#include "td_route.h"

#define TD_GW_MAX_CONNS 65536u /* slot is the low 16 bits of ss_peer.conn */
#define TD_GW_RX_CAP 4096u     /* per-connection receive buffer; > one frame (134) */
#define TD_GW_POLL_MAX_US 100u /* the loop never waits longer for kernel events */

struct td_gw;

/* Tunables. td_gw_conf_default() fills everything but ss.firms/n_firms and route. */
struct td_gw_conf {
	uint32_t ip;            /* listen address, host order          default 127.0.0.1 */
	uint16_t port;          /* 0 = ephemeral: td_gw_port() tells   TKX_PORT_ORDER_TCP */
	struct ss_params ss;    /* transport SS_TCP and core TD_SRC_GW are forced */
	const struct td_route *route; /* contracts -> core; rings req[TD_SRC_GW][m], ev[m][..] */
	uint32_t max_conns;     /* 1..TD_GW_MAX_CONNS, fixed table                     256 */
	uint32_t max_conns_per_ip; /* connections from one source address, 1..max  32 */
	uint32_t negotiate_ms;  /* an unauthenticated connection is closed this long after
				   its accept (Admission above), 1..600000           2000 */
	uint32_t stop_ms;       /* td_gw_stop(): how long the connections get to take their
				   last bytes and answer the FIN, 0..600000          2000 */
	uint32_t tx_queue;      /* send queue bytes per connection, power of two, 4096..2^30:
				   room for a full retransmission (retrans_max x 70)  65536 */
	uint32_t poll_us;       /* longest wait for kernel events, 0..100; 0 = busy poll  20 */
	uint32_t tick_us;       /* ss_tick() period, 100..100000                      1000 */
	uint32_t drain_ms;      /* DRAIN (after a Terminate) closes after at most this  1000 */
	uint32_t idle_ms;       /* an authenticated connection that sends nothing this long
				   is closed (a live session sends at least every
				   keepalive_max_ms; before, negotiate_ms applies);
				   0 = 3 x ss.keepalive_max_ms                           0 */
	uint32_t sq_entries;    /* io_uring submission queue, power of two, 64..32768  1024 */
	int sndbuf;             /* SO_SNDBUF of accepted sockets, 0 = the kernel's        0 */
	int cpu;                /* pin the thread to this CPU, -1 = no pinning          -1 */
	uint8_t journal;        /* the appliance journals: core 0 is the RX core, which
				   journals what it gets ("Journal" above); the session
				   hooks and defer_local of ss are the gateway's then    0 */
	/* The control thread's way to the session table (tokexctl sessions, drop), NULL =
	 * none: called on the gateway thread every tick, with the table and its output
	 * just flushed; what it leaves in out is sent and routed like any burst's. */
	void (*ctl_poll)(void *arg, struct ss_table *ss, struct ss_out *out, uint64_t now_ns);
	void *ctl_arg;                                                                  /* NULL */
};

/* Counters of one gateway; td_gw_stats() copies them with relaxed atomic loads. */
#define TD_GW_STATS(X)                                                                   \
	X(conns_accepted)                                                                \
	X(conns_closed)                                                                  \
	X(conns_refused)     /* accepted with the table full, none to evict, or while
				stopping: closed at once */                              \
	X(conns_evicted)     /* unauthenticated, closed to admit a new connection */    \
	X(per_ip_refused)    /* max_conns_per_ip from that address: closed at once */   \
	X(negotiate_timeouts) /* no credentials within negotiate_ms: closed */          \
	X(accept_errors)                                                                 \
	X(rx_bytes)                                                                      \
	X(rx_frames)         /* complete SOFH frames given to ss_rx() */                 \
	X(bad_frames)        /* bad SOFH: connection closed */                           \
	X(bad_length)        /* frame length not its message's: dropped (invariant 3) */ \
	X(recv_errors)       /* recv completions with an error other than EOF */         \
	X(tx_bytes)                                                                      \
	X(send_errors)                                                                   \
	X(tx_overflows)      /* a send queue could not take a chunk: connection closed */\
	X(tx_stale)          /* chunks for a connection that was gone: dropped */        \
	X(drain_timeouts)    /* DRAIN connections closed by drain_ms */                  \
	X(idle_timeouts)     /* connections silent for idle_ms: closed */                \
	X(orders_routed)     /* dp_orders enqueued (each copy of a broadcast counts) */  \
	X(unknown_contract)  /* answered ExecReject UNKNOWN_CONTRACT */                  \
	X(busy_rejects)      /* answered ExecReject BUSY */                              \
	X(reject_failed)     /* ss_reject_order() found no session: nothing sent */     \
	X(ring_full_retries) /* SESSION_GONE kept pending, then retried */               \
	X(events)            /* dp_events given to ss_event() */                         \
	X(out_full)          /* ss_out was full: flushed and retried */                  \
	X(sq_full)           /* SQ ring full: submitted early */                         \
	X(loops)             /* loop passes */                                           \
	X(jn_records)        /* journal records made: SESSION_UP, LOCAL */               \
	X(jn_pending)        /* of them, kept waiting for room on ring 0, then retried */\
	X(jn_parked)         /* connections whose frames waited for that FIFO (8) */     \
	X(jn_lost)           /* journal records dropped (unreachable; a bug if not 0) */

struct td_gw_stats {
#define TD_GW__STAT_FIELD(name) uint64_t name;
	TD_GW_STATS(TD_GW__STAT_FIELD)
#undef TD_GW__STAT_FIELD
};
#define TD_GW_STAT_COUNT (sizeof(struct td_gw_stats) / sizeof(uint64_t))

/* The defaults listed in struct td_gw_conf; ss gets ss_params_default(). */
void td_gw_conf_default(struct td_gw_conf *c);

/*
 * Checks c, allocates everything the gateway will ever use (session table, connection
 * table, per-connection buffers, pending SESSION_GONE queues), sets up the io_uring,
 * binds and listens, then starts the gateway thread: td_gw_create() then td_gw_launch().
 * 0 and *gw, or -errno with one line of operator text in err (EINVAL: a tunable out of
 * range, route without rings for a core; ENOMEM; EADDRINUSE ...). c->route and
 * c->ss.firms must outlive the gateway.
 */
int td_gw_start(struct td_gw **gw, const struct td_gw_conf *c, char *err, size_t errlen);

/* The first half: checks c and allocates everything; the session table is ready, no
 * thread, no socket. 0 and *gw, or -errno and err. td_gw_stop() frees it. */
int td_gw_create(struct td_gw **gw, const struct td_gw_conf *c, char *err, size_t errlen);

/* Between td_gw_create() and td_gw_launch() only, on the creating thread: the session
 * table, for recovery to rebuild the sessions in (ss_restore_session() and the rest,
 * td_journal.c); NULL once launched, when the gateway thread owns it. */
struct ss_table *td_gw_table(struct td_gw *gw);

/* The second half: io_uring, bind and listen, the thread. 0, or -errno and err (the
 * gateway stays created: td_gw_stop() frees it). */
int td_gw_launch(struct td_gw *gw, char *err, size_t errlen);

/* The bound port (the ephemeral one when conf.port was 0). */
uint16_t td_gw_port(const struct td_gw *gw);

/* Any thread: the gateway stops taking input (no new connection; inbound bytes dropped
 * unread) and puts on its rings everything its sessions made (td_gw.h "Stop"). Once. */
void td_gw_quiesce(struct td_gw *gw);

/* Any thread: 1 once, after td_gw_quiesce(), every request and journal record the gateway
 * made is on its rings (acquire: whoever then reads those rings sees them all); else 0. */
int td_gw_quiet(const struct td_gw *gw);

/*
 * Stops the thread (if launched). Call it once nothing produces replies for the gateway's
 * sessions any more (the matching cores and the RX core have stopped): every reply left on
 * the rings is taken and sent, every connection is drained as after a Terminate (its send
 * queue, a FIN, the client's EOF) within conf.stop_ms, then whatever is left is closed as
 * a disconnect (its SESSION_GONE, if asked, is given up to 100 ms to reach the rings);
 * in-flight SQEs completed, the thread joined, everything freed. Returns how many
 * SESSION_GONE records never reached a ring (their matching core was not draining it):
 * the operator should know that those sessions' orders may still rest. Once per gateway;
 * NULL is a no-op.
 */
unsigned td_gw_stop(struct td_gw *gw);

/* Any thread: a consistent-per-counter copy of the gateway's counters. */
void td_gw_stats(const struct td_gw *gw, struct td_gw_stats *s);

/* Any thread: the session table's counters (ss_stats_read). */
void td_gw_ss_stats(const struct td_gw *gw, struct ss_stats *s);

/* Name of counter i (field order of struct td_gw_stats), NULL past the end. */
const char *td_gw_stat_name(unsigned i);

/* One control thread: moves up to max session log records into dst (ss_log_drain). */
unsigned td_gw_log_drain(struct td_gw *gw, struct ss_log *dst, unsigned max);

/* A second session table with the gateway's parameters, for tokexd's snapshots: the RX core
 * feeds it the calls replay makes on the gateway's table (td_rx.c, td_jn_gw_*), so that it
 * always holds what replay would rebuild at the last journal record; td_snap.c saves it as
 * the gateway's section. Allocated (malloc) at start; NULL on failure. Freed never (one per
 * process). */
struct ss_table *td_gw_shadow_create(const struct td_gw *gw);

#endif /* TOKEX_TD_GW_H */
