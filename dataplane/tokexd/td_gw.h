/*
 * td_gw.h - the TCP order-entry gateway: one thread, one io_uring, the kernel's TCP stack.
 *
 * Role in the data path: the TCP transport of the order-entry sessions, and nothing more.
 * It accepts TCP connections on the order entry port, cuts each byte stream into SOFH
 * frames and hands every frame's message, with the connection that carried it, to the
 * owner of the session table (tokexd: the RX core, whose one table holds the sessions of
 * both transports, ss_session.h invariant 12); it takes the stream chunks the owner made
 * for its connections and queues them on each connection's send queue. Kernel events
 * (accept, recv, send completions) and the owner's chunks share one loop: the loop waits
 * for completions at most poll_us, so the chunks are taken every few tens of microseconds
 * even when the sockets are idle.
 *
 * The session owner's side: two single-producer single-consumer record queues (td_bq.h)
 * in the gateway's allocation, read and written through the td_gw_in_* and td_gw_out_*
 * calls below, from the owner's thread only.
 *   in   gateway -> owner: struct td_gw_in records - a frame's message (TD_GW_FRAME) from
 *        a connection, or the notice that a connection is gone (TD_GW_CLOSED: the owner
 *        calls ss_disconnect()). A connection's records are in the order its bytes came,
 *        its notice last.
 *   out  owner -> gateway: struct td_gw_out records - a chunk of whole SOFH frames for one
 *        connection (ss_buf's bytes), in the order they are to be sent. The owner may hold
 *        chunks back before publishing them (tokexd's journal gate) and may discard what it
 *        never published.
 *        A chunk that carries the exchange's Terminate ends its connection (DRAIN: what
 *        the client sends after it is dropped unread); the owner drops the frames of that
 *        connection it had not taken yet (ss_buf.end; tokexd: td_rx.c td_gw_rx).
 *
 * Connection slot states, and the function that makes each transition (td_gw.c):
 *
 *           admit()                 take_out(): a chunk carrying a Terminate;
 *   FREE ---------------> OPEN -----------------------------------------------> DRAIN
 *    ^                     |        gw_stop_drain(): the appliance stops         |
 *    |                     |                                                     |
 *    |                     | conn_kill(): EOF, recv/send error, bad SOFH,        | conn_kill():
 *    |                     | send queue overflow, idle_ms silence, no            | queue sent,
 *    |                     | credentials by negotiate_ms, evicted, stop          | FIN sent and
 *    |                     v                                                     | client's EOF,
 *    +---------------- DEAD <----------------------------------------------------+ or its deadline
 *     conn_reap(): its TD_GW_CLOSED notice queued, no recv/send in flight; close(fd)
 *
 * Admission (on_accept(), admit()): a connection from an address that already holds
 * max_conns_per_ip connections is closed at once (per_ip_refused). When the table is full,
 * the new one waits in a short queue for the slot of a connection that is closing
 * (conn_reap() frees it, admit_pending() takes it); when every closing one is spoken for,
 * the oldest unauthenticated connection is closed to make one (evicted); with none to
 * evict the new connection is closed (conns_refused). A connection is unauthenticated until
 * the exchange answers a Negotiate on it with NegotiationResponse (valid credentials:
 * take_out() sees the response go by); until then its deadline is negotiate_ms after its
 * accept, which bytes do not move (a trickle cannot keep it), and then idle_ms after each
 * recv.
 *
 * Stop, in two steps. td_gw_quiesce() (the owner, when it is told to stop): the gateway
 * takes no more input - no new connection, inbound bytes dropped unread, so a request is
 * either handed over whole or never seen (the client learns which from the numbers on
 * re-establishment) - and once everything it read is on the in queue it says so
 * (td_gw_quiet()); the owner then takes the last of it. td_gw_stop(), once the owner makes
 * no more chunks: gw_stop_drain() takes every chunk published, then every connection
 * drains as after a Terminate - its send queue goes out, then a FIN, then the client's EOF
 * is awaited - within stop_ms; gw_shutdown() closes what is left (its notices go to no
 * one: the owner has stopped, and the sessions end with the process).
 *
 * Invariants:
 *  1. A connection is named to the session layer by ss_peer.conn = gen << 16 | slot, with
 *     ip and port the client's address (network order, for the logs). gen is never 0, so
 *     a TCP peer's conn is never 0 (a UDP peer's is: ss_session.h invariant 12), and it
 *     changes on every reuse of a slot, so a chunk made for a connection that has since
 *     gone is never sent on its slot's next connection (it is dropped and counted).
 *  2. At most one recv and one send SQE are in flight per connection; a slot is reused
 *     only when neither is and its TD_GW_CLOSED notice is on the in queue, so a
 *     completion always finds the buffers it was given and the owner always hears of a
 *     connection's end before the slot's next connection.
 *  3. Only bad framing closes a connection from the inbound side (a SOFH with the wrong
 *     encoding type or an impossible length: the stream cannot be resynchronised); a
 *     frame whose length is not that of the one message its header announces is dropped
 *     here (bad_length); any other frame whose message does not decode is the session
 *     layer's to drop and count.
 *  4. Nothing read is lost: a frame that finds the in queue full stays in its
 *     connection's receive buffer, and the connection is parked - its recv is not armed,
 *     so its bytes wait in the kernel (TCP's own backpressure) - until the owner has taken
 *     some (resume_parked). The owner, for its part, may leave a frame on the queue (the
 *     session has as many requests unanswered as it may, ss_session.h invariant 15):
 *     everything behind it then waits too.
 *  5. A send queue never drops bytes silently: a chunk that does not fit closes the
 *     connection (counted); the client re-establishes and asks for retransmission.
 *  6. No malloc after td_gw_create(); the loop makes no printf and never exits; its only
 *     system calls besides io_uring_enter are per connection (accept set-up, shutdown,
 *     close).
 *
 * Threads: td_gw_create()/td_gw_launch()/td_gw_start()/td_gw_stop() from the control
 * thread; td_gw_stats() from any thread while the gateway runs; the td_gw_in_* and
 * td_gw_out_* calls from the session owner's thread only; td_gw_quiesce() and
 * td_gw_quiet() from any thread (tokexd: the RX core).
 */
#ifndef TOKEX_TD_GW_H
#define TOKEX_TD_GW_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/session/ss_session.h"

#define TD_GW_MAX_CONNS 65536u /* slot is the low 16 bits of ss_peer.conn */
#define TD_GW_RX_CAP 4096u     /* per-connection receive buffer; > one frame (134) */
#define TD_GW_POLL_MAX_US 100u /* the loop never waits longer for kernel events */

struct td_gw;

/* Tunables. td_gw_conf_default() fills them all. */
struct td_gw_conf {
	uint32_t ip;            /* listen address, host order          default 127.0.0.1 */
	uint16_t port;          /* 0 = ephemeral: td_gw_port() tells   TKX_PORT_ORDER_TCP */
	uint32_t max_conns;     /* 1..TD_GW_MAX_CONNS, fixed table                     256 */
	uint32_t max_conns_per_ip; /* connections from one source address, 1..max  32 */
	uint32_t negotiate_ms;  /* an unauthenticated connection is closed this long after
				   its accept (Admission above), 1..600000           2000 */
	uint32_t stop_ms;       /* td_gw_stop(): how long the connections get to take their
				   last bytes and answer the FIN, 0..600000          2000 */
	uint32_t tx_queue;      /* send queue bytes per connection, power of two, 4096..2^30:
				   room for a full retransmission (retrans_max x 70)  65536 */
	uint32_t in_bytes;      /* the in queue (frames to the owner), power of two,
				   2^16..2^30                                     1 MiB */
	uint32_t out_bytes;     /* the out queue (chunks from the owner), power of two,
				   2^18..2^30: several full ss_outs               4 MiB */
	uint32_t poll_us;       /* longest wait for kernel events, 0..100; 0 = busy poll  20 */
	uint32_t drain_ms;      /* DRAIN (after a Terminate) closes after at most this  1000 */
	uint32_t idle_ms;       /* an authenticated connection that sends nothing this long
				   is closed (a live session sends at least every
				   keepalive_max_ms; before, negotiate_ms applies);
				   0 = 3 x keepalive_max_ms                              0 */
	uint32_t keepalive_max_ms; /* the sessions' highest keepalive, for idle_ms 0  30000 */
	uint32_t sq_entries;    /* io_uring submission queue, power of two, 64..32768  1024 */
	int sndbuf;             /* SO_SNDBUF of accepted sockets, 0 = the kernel's        0 */
	int cpu;                /* pin the thread to this CPU, -1 = no pinning          -1 */
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
	X(rx_frames)         /* complete SOFH frames handed to the session owner */      \
	X(bad_frames)        /* bad SOFH: connection closed */                           \
	X(bad_length)        /* frame length not its message's: dropped (invariant 3) */ \
	X(recv_errors)       /* recv completions with an error other than EOF */         \
	X(in_parked)         /* connections parked: the in queue was full (invariant 4) */\
	X(closed_notices)    /* TD_GW_CLOSED notices queued for the owner */             \
	X(chunks)            /* chunks taken from the owner */                           \
	X(tx_bytes)                                                                      \
	X(send_errors)                                                                   \
	X(tx_overflows)      /* a send queue could not take a chunk: connection closed */\
	X(tx_stale)          /* chunks for a connection that was gone: dropped */        \
	X(drain_timeouts)    /* DRAIN connections closed by drain_ms */                  \
	X(idle_timeouts)     /* connections silent for idle_ms: closed */                \
	X(sq_full)           /* SQ ring full: submitted early */                         \
	X(loops)             /* loop passes */

struct td_gw_stats {
#define TD_GW__STAT_FIELD(name) uint64_t name;
	TD_GW_STATS(TD_GW__STAT_FIELD)
#undef TD_GW__STAT_FIELD
};
#define TD_GW_STAT_COUNT (sizeof(struct td_gw_stats) / sizeof(uint64_t))

/* The defaults listed in struct td_gw_conf. */
void td_gw_conf_default(struct td_gw_conf *c);

/*
 * Checks c, allocates everything the gateway will ever use (connection table,
 * per-connection buffers, the two queues), sets up the io_uring, binds and listens, then
 * starts the gateway thread: td_gw_create() then td_gw_launch(). 0 and *gw, or -errno with
 * one line of operator text in err (EINVAL: a tunable out of range; ENOMEM; EADDRINUSE
 * ...).
 */
int td_gw_start(struct td_gw **gw, const struct td_gw_conf *c, char *err, size_t errlen);

/* The first half: checks c and allocates everything; no thread, no socket. 0 and *gw, or
 * -errno and err. td_gw_stop() frees it. */
int td_gw_create(struct td_gw **gw, const struct td_gw_conf *c, char *err, size_t errlen);

/* The second half: io_uring, bind and listen, the thread. 0, or -errno and err (the
 * gateway stays created: td_gw_stop() frees it). */
int td_gw_launch(struct td_gw *gw, char *err, size_t errlen);

/* The bound port (the ephemeral one when conf.port was 0). */
uint16_t td_gw_port(const struct td_gw *gw);

/* Any thread: the gateway stops taking input (no new connection; inbound bytes dropped
 * unread) and puts on the in queue everything it read (td_gw.h "Stop"). Once. */
void td_gw_quiesce(struct td_gw *gw);

/* Any thread: 1 once, after td_gw_quiesce(), every record the gateway made is published
 * on the in queue (acquire: whoever then reads the queue sees them all); else 0. */
int td_gw_quiet(const struct td_gw *gw);

/*
 * Stops the thread (if launched). Call it once the owner makes no more chunks: every chunk
 * published is taken and sent, every connection is drained as after a Terminate (its send
 * queue, a FIN, the client's EOF) within conf.stop_ms, then whatever is left is closed;
 * in-flight SQEs completed, the thread joined, everything freed. Once per gateway; NULL
 * is a no-op.
 */
void td_gw_stop(struct td_gw *gw);

/* Any thread: a consistent-per-counter copy of the gateway's counters. */
void td_gw_stats(const struct td_gw *gw, struct td_gw_stats *s);

/* Name of counter i (field order of struct td_gw_stats), NULL past the end. */
const char *td_gw_stat_name(unsigned i);

/* ---- The session owner's side (its thread only) --------------------------------------- */

enum td_gw_in_kind {
	TD_GW_FRAME = 1,  /* msg[0, len): one frame's message, SOFH stripped */
	TD_GW_CLOSED = 2, /* the connection peer.conn is gone (len 0) */
};

/* An in queue record. 24 bytes, then len message bytes. */
struct td_gw_in {
	struct ss_peer peer; /* conn: the connection; ip, port: the client's (network order) */
	uint16_t kind;       /* enum td_gw_in_kind */
	uint16_t len;
	uint32_t pad;
	uint8_t msg[];
};

/* The oldest record the gateway published that the owner has not passed, or NULL. */
const struct td_gw_in *td_gw_in_peek(struct td_gw *gw);

/* Past the record td_gw_in_peek() returned; td_gw_in_done() once per batch hands their
 * space back to the gateway (parked connections go on). */
void td_gw_in_next(struct td_gw *gw);
void td_gw_in_done(struct td_gw *gw);

/* Whether the owner has passed every record published. */
int td_gw_in_empty(struct td_gw *gw);

/* Reserves a chunk of len bytes (whole SOFH frames) for connection conn: where its bytes
 * go, or NULL when the out queue has no room now (the gateway takes chunks every loop
 * pass: try again). Private until published. */
void *td_gw_out_alloc(struct td_gw *gw, uint32_t conn, uint32_t len);

/* Publishes the chunks reserved so far, or those before pos (td_gw_out_pos()), in order;
 * drops the chunks reserved and not published. */
uint32_t td_gw_out_pos(const struct td_gw *gw);
void td_gw_out_publish(struct td_gw *gw);
void td_gw_out_publish_to(struct td_gw *gw, uint32_t pos);
void td_gw_out_discard(struct td_gw *gw);

/* Bytes reserved and not published yet. */
uint32_t td_gw_out_held(const struct td_gw *gw);

#endif /* TOKEX_TD_GW_H */
