/*
 * ss_session.h - the FIXP-style order-entry session layer: one table of client sessions.
 *
 * Role in the data path: runs on the RX/session core, which owns the table and is its only
 * writer; the one table holds the sessions of both transports (invariant 12). It consumes
 * inbound datagrams (UDP, from DPDK) and SOFH-stripped frames' messages (TCP, handed over
 * by the io_uring gateway thread) with ss_rx(), replies from the matching
 * cores with ss_event(), and time with ss_tick(); it produces validated requests
 * (struct dp_order) for the caller to route to the matching core owning the contract,
 * and outbound datagrams / stream chunks (struct ss_buf) for the caller to send. Decoding
 * and validation are tokex/codec.h's; sequencing, credentials, keepalive, throttling,
 * cl_ord_id discipline and retransmission are here. Pure module: no DPDK, no sockets, no
 * clock (every call takes now_ns), and no malloc, lock, syscall or printf after
 * ss_table_init(); the caller provides the memory (ss_table_memsize()).
 *
 * Session states of one slot, and the function that makes each transition:
 *
 *          ss_rx(Negotiate ok)          ss_rx(Establish ok)
 *   FREE -----------------------> NEGOTIATED -----------------------> ESTABLISHED
 *    ^                             |   ^   (Establish again: re-acked)      |
 *    |                 ss_tick:    |   |                                    |
 *    |                 silent,     |   | ss_rx(Negotiate ok, same          | ss_rx(Terminate),
 *    |                 ss_rx(Term- |   |  session_id and firm)             | ss_rx(throttle grace
 *    |                 inate),     |   |                                    | exceeded), ss_tick
 *    | negotiate of a  ss_discon-  |   |                                    | (keepalive timeout),
 *    | new id reclaims nect(),     |   |                                    | ss_disconnect(),
 *    | it (see 9)      ss_drop()   v   |                                    | ss_drop()
 *    +------------------------- TERMINATED <--------------------------------+
 *    |                            |
 *    | ss_event(DP_EV_DETACHED    | forgotten (see 9, 13): ss_rx(Negotiate of a new id),
 *    |  from every core)          | ss_tick(), ss_drop(): SESSION_GONE DP_GONE_DETACH
 *    +------ FREE (detaching) <---+ (a slot being detached is FREE for everything else
 *                                   but is not given to a session)
 *
 * Invariants:
 *  1. A slot is FREE, or it holds exactly one session_id; a session_id is in at most one
 *     slot (the id index maps every non-FREE slot). A peer (struct ss_peer) has at most
 *     one live (NEGOTIATED or ESTABLISHED) session; the peer index maps exactly the live
 *     slots. Both indexes are open-addressed hashes: O(1) per packet, no scan.
 *  2. Only an ESTABLISHED session's requests become dp_orders; only an ESTABLISHED
 *     session is sent application messages. Everything else gets a reply or is counted.
 *  3. Outbound application messages (templates 200-206) of a session are numbered 1, 2, 3,
 *     ... without gaps for the life of its session_id, across re-establishment; each is
 *     stored in the session's retransmit ring (the last retrans_depth of them) at the
 *     moment it is numbered, whether or not the session is established to send it.
 *     Session-level messages (1-12) are never numbered.
 *  4. The inbound expected sequence (next_in) starts at 1 and never decreases; only
 *     client->exchange application templates (100-199) take inbound numbers. An Establish
 *     whose next_seq_no n is above next_in is acked with expected_seq_no n, then answered
 *     NotApplied(next_in, n - next_in), and next_in = n (the first Establish too). A jump
 *     above UINT32_MAX (NotApplied's count) refuses the Establish (UNSPECIFIED) or
 *     terminates the session (PROTOCOL_ERROR, a Sequence). On UDP a Sequence(n)
 *     numbers the application messages after it in its datagram; n > next_in is answered
 *     NotApplied(next_in, n - next_in) and next_in = n. An application message numbered
 *     below next_in (a duplicated or late datagram) is never applied: a request whose
 *     cl_ord_id the session already forwarded is answered ExecReject CLORDID_REUSED, any
 *     other is dropped and counted (rx_late) - its number was reported NotApplied.
 *     Application messages in a datagram without a Sequence are numbered from next_in.
 *     On TCP numbering is implicit (each application message takes next_in++); a
 *     Sequence above next_in is a gap as on UDP, one below terminates the session
 *     (SEQ_BELOW_EXPECTED), one equal is a heartbeat.
 *  5. A session's cl_ord_id strictly increases over the requests it forwards (NewOrder,
 *     CancelOrder, ModifyOrder, MassCancel), across re-establishment: a request whose
 *     cl_ord_id is not above the last forwarded one is answered ExecReject CLORDID_REUSED
 *     and never forwarded. A request rejected here (throttled, invalid) does not use up
 *     its cl_ord_id; one forwarded and later answered by ss_reject_order() does.
 *  6. Checks on an application request, in order: ESTABLISHED (else BusinessReject
 *     NOT_ESTABLISHED, unnumbered), throttle (ExecReject THROTTLED; more than
 *     throttle_grace of those within one second terminate the session with
 *     TKX_TERM_THROTTLE), tkx_validate() (ExecReject with its reason, or BusinessReject
 *     INVALID_FIELD), cl_ord_id (5). Then it is forwarded as a dp_order (or held
 *     behind the session's held entries, 14).
 *  7. Every termination of an ESTABLISHED session whose Establish asked for
 *     cancel_on_disconnect emits one DP_ORD_SESSION_GONE (contract_id 0: every matching
 *     core), and only those do.
 *  8. Any well-formed inbound message refreshes the session's inbound timer; ss_tick()
 *     terminates an ESTABLISHED session silent for 3 keepalive intervals, and sends a
 *     Sequence heartbeat to one that was sent nothing for one interval.
 *  9. A TERMINATED slot keeps its session's numbering, ring and last cl_ord_id, so its
 *     session_id can negotiate and establish again (from any peer) and ask for
 *     retransmission, until the session is forgotten. A session is forgotten only once
 *     it has been TERMINATED for linger_ms (or by ss_drop()), oldest first: when a new
 *     session_id needs a slot and none is FREE, or its firm holds its limit (13). One
 *     that cannot have resting orders (it never forwarded a NewOrder, or a SESSION_GONE
 *     followed its last one) is reclaimed at once for the new id. One that may have
 *     them is detached first: matching cores name a session by its slot, so its slot
 *     goes through FREE (detaching) - a SESSION_GONE with DP_GONE_DETACH (dp_msg.h)
 *     asks every matching core to detach the slot's orders (they keep trading and report
 *     to no session) - and is given away only when every core answered DP_EV_DETACHED,
 *     which it sends after every reply it made for the slot: no reply for an order of a
 *     forgotten session ever reaches the slot's next one. ss_tick() starts that ahead of
 *     need (one slot when the table is full, the oldest session of a firm at its limit)
 *     so that a Negotiate seldom waits for it (it is refused meanwhile: UNSPECIFIED, or
 *     SESSION_LIMIT at the firm's limit). ss_drop() forgets a session always by a
 *     detach (ever established) so that the journal holds it.
 * 10. Nothing is read outside [payload, payload + len); a message that fails to decode
 *     stops its datagram: the messages before it were processed, the rest are dropped and
 *     counted by reason.
 * 11. A MassCancelAck event with parts > 1 (a mass cancel of every contract sent to each
 *     matching core) is merged: the client gets one, with the total count, after the
 *     last part.
 * 12. One table, both transports. The transport is the peer's, not the table's: a peer
 *     whose conn is not 0 is a TCP connection (every message SOFH-framed in one stream,
 *     one message per ss_rx() call, implicit inbound numbering, SEQ_BELOW_EXPECTED, no
 *     datagram authentication), one whose conn is 0 a UDP address (datagrams, numbered by
 *     their Sequence, invariant 16). A session_id is one session whichever transport
 *     carries it: live on one (NEGOTIATED or ESTABLISHED), a Negotiate for it from any
 *     other peer - the other transport included - is SESSION_IN_USE; TERMINATED, it
 *     negotiates and establishes again from either, in the same slot, with its numbering
 *     both ways, retransmit ring, last cl_ord_id, newest logon timestamp, keys and its
 *     firm's count as they were. Its requests name it by (core, slot) whichever transport
 *     carried them, so the matching cores see one session: cancel, MassCancel SESSION and
 *     cancel-on-disconnect reach every order it entered on either.
 * 13. Per-firm limit: a firm holds at most its limit (ss_firm.max_sessions, else
 *     ss_params.firm_sessions; 0 = none) of the table's slots with a session (NEGOTIATED,
 *     ESTABLISHED, TERMINATED; a slot being detached is no longer its). A Negotiate of a
 *     new session_id from a firm at its limit takes the firm's own oldest TERMINATED
 *     session that lingered and cannot have resting orders, or starts forgetting its
 *     oldest lingered one, and is refused SESSION_LIMIT meanwhile; it never takes another
 *     firm's slot. So no firm can hold more of the table than its limit.
 * 14. A session's newest logon timestamp (the highest of its accepted Negotiates and
 *     Establishes) only grows: a Negotiate or Establish not newer is refused
 *     STALE_TIMESTAMP (a replay of captured bytes), whatever the tolerance. It is kept as
 *     long as the slot holds the session id - TERMINATED keeps it, even for a session
 *     never established, and a slot is reclaimed (or forgotten) only once every logon it
 *     had is stale: ts_tolerance_ms after its session ended and after its newest logon's
 *     timestamp - and it survives a restart: on_negotiated reports each accepted
 *     Negotiate before its NegotiationResponse is appended, replay gives it back
 *     (ss_restore_logon), snapshots keep it. A Negotiate at or before
 *     ss_params.logon_floor_ns (the owner's start) is refused STALE_TIMESTAMP on every
 *     table, so a session rebuilt by a restart, whose logons all predate it, needs no
 *     wait: it counts as lingered (a restart never locks new logons out).
 * 15. A session's replies are numbered in the order its requests were taken. Each
 *     forwarded request is in flight until a dp_event marked DP_EV_DONE (its last reply,
 *     dp_msg.h) or its ss_reject_order() answer. While a request is in flight
 *     the session's own replies (4-6) wait in its hold queue, and so does every request
 *     taken after a held entry (forwarded when its turn comes) and the session's end
 *     (Terminate THROTTLE or FINISHED, keepalive timeout, disconnect: its Terminate and
 *     SESSION_GONE come after the replies to everything taken before; its input is
 *     dropped meanwhile). An own reply goes when nothing taken before it is in flight,
 *     a held request at once when it reaches the head, an end when nothing is
 *     unanswered. A session has at most unans_max = max(retrans_depth / 4, 64) requests
 *     unanswered (in flight or held): ss_rx() refuses a message or
 *     datagram that could exceed it with -EAGAIN, having done nothing. Replies to requests
 *     on different matching cores may interleave with each other. Backstop: a queue that
 *     waited 3 x keepalive_max_ms for replies that do not come goes anyway (counted).
 * 16. UDP datagram authentication (ss_params.udp_auth SS_AUTH_REQUIRED; docs/protocol.md
 *     4.13). Each accepted Negotiate whose timestamp is above that of the one the
 *     session's keys came from derives new keys (tkx_auth_derive()) and restarts both
 *     counters; one not newer is refused STALE_TIMESTAMP (14), and so is one at or
 *     before ss_params.logon_floor_ns (14). A session_id's keys are
 *     never forgotten while the Negotiate they came from could still pass the staleness
 *     check: a TERMINATED slot is reclaimed (9) only once now is past that Negotiate's
 *     timestamp plus the tolerance, so a played-back Negotiate never brings keys back.
 *     A datagram is processed only when (a) it ends with a DatagramAuth
 *     that verifies under the client key of the live session of its source address,
 *     with a counter above every one accepted under that key (the DatagramAuth is then
 *     stripped), or (b) it has no DatagramAuth and its source address has no live
 *     session, or every message in it is a Negotiate or an Establish (each signed by
 *     itself). Anything else is dropped whole, unanswered, and counted (auth_*): a
 *     forged or replayed datagram never reaches a session. ss_seal() ends every buffer
 *     of a session with a DatagramAuth under the exchange key; buffers to an address
 *     without a live session are sent as they are. With SS_AUTH_OFF a trailing
 *     DatagramAuth is stripped unchecked and nothing is sealed. TCP peers are left out of
 *     this (invariant 12): the connection binds the session, and ss_seal() leaves their
 *     chunks as they are.
 *
 * Output contract (struct ss_out, owned by the caller, one per table):
 *  - Calls append to out; the caller seals the buffers (ss_seal()), sends bufs[0,
 *    n_bufs) in index order (a TCP buf is a chunk of the stream of the connection named
 *    by its peer), routes orders[0, n_orders) and then calls ss_out_reset(). Do that at
 *    the end of every burst (and whenever a call says -ENOBUFS): replies
 *    to one session made during the burst are coalesced into as few buffers as possible.
 *  - ss_rx(), ss_reject_order() and ss_disconnect() are all-or-nothing: when out has less
 *    room than the call's worst case they return -ENOBUFS having done nothing; flush and
 *    call again. ss_rx() returns -EAGAIN, having done nothing, when the peer's session
 *    has as many requests unanswered as it may (invariant 15): call again once replies
 *    came (tokexd's RX core routes and takes replies; a datagram it then drops - UDP may
 *    lose, the client's next Sequence shows the gap -, a TCP frame waits at the head of
 *    the gateway's queue, which TCP's own backpressure holds up behind it). ss_event() and ss_tick() make partial progress:
 *    ss_event() returns how many events it consumed (fewer than n only when out is
 *    full); ss_tick() returns -ENOBUFS when it stopped for room, and calling it again
 *    after the flush resumes (what it already did moved the sessions' timers).
 *  - ss_tick() and ss_release() may append dp_orders too: requests held behind replies
 *    and let go (invariant 15), SESSION_GONE of an end that waited. Route them like
 *    ss_rx()'s. ss_event() only notes what its events
 *    let go: the owner calls ss_release() after each batch of them.
 *  - UDP datagrams are of three shapes: unnumbered session messages only; a Sequence(n)
 *    then application messages numbered n, n+1, ... (or the Sequence alone: heartbeat);
 *    a Retransmission(from, count) then resent messages numbered from, from+1, ..., whose
 *    continuation datagrams start with a Sequence. Replies to a peer that has no
 *    ESTABLISHED session (NegotiationReject, BusinessReject NOT_ESTABLISHED ...) are
 *    unnumbered. On TCP every message is SOFH-framed, in order, in one stream.
 *
 * Decisions beyond the protocol text: at most one RetransmitRequest is served per ss_rx()
 * call (the next ones in the same datagram get RetransmitReject UNSPECIFIED), so the
 * worst case of one call is bounded; retransmission is served only to an ESTABLISHED
 * session; a Negotiate from a peer that holds another live session, or for a session_id
 * that is ESTABLISHED anywhere or NEGOTIATED from another peer or held by another firm,
 * is SESSION_IN_USE (a repeated Negotiate from the same peer while NEGOTIATED is answered
 * again, as is a repeated Establish while ESTABLISHED); Establish timestamps get the same
 * staleness check as Negotiate's; a full table answers NegotiationReject UNSPECIFIED, a
 * firm at its limit SESSION_LIMIT (invariant 13).
 * A NEGOTIATED session silent for 3 x keepalive_max_ms is sent Terminate
 * KEEPALIVE_TIMEOUT and becomes TERMINATED (invariant 14: its slot keeps its logon).
 * The transport (UDP or TCP) is per peer (invariant 12): one table holds both.
 *
 * Threads: one owner thread calls everything, except ss_log_drain() and ss_stats_read(),
 * which one control thread may call concurrently (a single-producer single-consumer log
 * ring; counters written by the owner only, read with relaxed atomic loads).
 */
#ifndef TOKEX_SS_SESSION_H
#define TOKEX_SS_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <tokex/proto.h>

#include "dataplane/dp_msg.h"

#define SS_MAX_SESSIONS 65535u /* dp_order.session is 16 bits; 0xFFFF means "none" */
#define SS_NO_SLOT 0xFFFFu
#define SS_KEY_MAX 64          /* firm secret: up to one HMAC-SHA256 block */
#define SS_MSG_MAX 64          /* largest outbound application message (Fill) = ring entry */
#define SS_OUT_BUFS 64         /* outbound datagrams / stream chunks per ss_out */
#define SS_OUT_ORDERS 64       /* > requests in one TKX_MAX_DGRAM datagram (45) + SESSION_GONE */
#define SS_BUF_CAP TKX_MAX_DGRAM
#define SS_BUF_FILL (SS_BUF_CAP - TKX_AUTH_LEN) /* what messages may fill: room to seal */

enum ss_transport { SS_UDP = 0, SS_TCP = 1 };

/* ss_params.udp_auth: is every datagram of a UDP session authenticated (invariant 16)? */
enum ss_udp_auth { SS_AUTH_OFF = 0, SS_AUTH_REQUIRED = 1 };

enum ss_state { SS_FREE = 0, SS_NEGOTIATED = 1, SS_ESTABLISHED = 2, SS_TERMINATED = 3 };

/* Where a session's packets come from and its replies go; filled by the caller (zero
 * what the transport does not use: the struct has no padding and is compared whole).
 * UDP: mac/ip/port of the client, ip and port in network byte order as in the packet
 * (ss_log_format() prints them so), conn 0; TCP: conn names the connection and is never
 * 0 (that is what makes the peer a TCP one, invariant 12), ip and port the client's
 * address for the logs, mac zero. 16 bytes. */
struct ss_peer {
	uint8_t mac[6];
	uint16_t port;
	uint32_t ip;
	uint32_t conn;
};
_Static_assert(sizeof(struct ss_peer) == 16, "ss_peer has no padding");

/* One firm's credentials and limit; ss_table_init() copies the table. */
struct ss_firm {
	uint32_t firm_id;
	uint16_t key_len; /* 1..SS_KEY_MAX */
	uint8_t key[SS_KEY_MAX];
	uint32_t max_sessions; /* slots it may hold (invariant 13); 0 = firm_sessions */
};

/* Tunables. ss_params_default() fills everything but firms/n_firms. The hold queues of
 * invariant 14 take a pool of min(16 x unans_max, 65536) dp_order entries per table. */
struct ss_params {
	uint32_t max_sessions;      /* 1..SS_MAX_SESSIONS                      default 256 */
	uint8_t core;               /* dp_order.src: index of this session core     0 */
	const struct ss_firm *firms;
	uint32_t n_firms;           /* firm ids unique */
	uint32_t keepalive_min_ms;  /* accepted Establish.keepalive_ms range       100 */
	uint32_t keepalive_max_ms;  /*                                           30000 */
	uint32_t throttle_rate;     /* app messages per second; 0 = unlimited     1000 */
	uint32_t throttle_burst;    /* token bucket depth, >= 1                     100 */
	uint32_t throttle_grace;    /* throttled messages per second before Terminate 100 */
	uint32_t retrans_depth;     /* ring entries per session, power of two     1024 */
	uint32_t retrans_max;       /* messages per RetransmitRequest, <= depth   256 */
	uint32_t ts_tolerance_ms;   /* |now - Negotiate/Establish timestamp|     30000 */
	uint32_t linger_ms;         /* a TERMINATED slot is kept at least this, and at
				       least ts_tolerance_ms (invariant 14)       10000 */
	uint32_t firm_sessions;     /* slots a firm may hold (13); 0 = no limit       0 */
	uint32_t log_depth;         /* log ring entries, power of two              1024 */
	/* Journal hook (issue 6), NULL = none: called by ss_rx() on the owner thread when a
	 * session_id is established for the first time in its slot, before the
	 * EstablishmentAck is appended to out; next_in is the adopted inbound number. */
	void (*on_established)(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			       uint64_t next_in);
	/* Journal hook, NULL = none: a numbered reply the session layer makes by itself while
	 * processing ss_rx() (ExecReject THROTTLED / CLORDID_REUSED / invalid, numbered
	 * BusinessReject), called as it takes its number; replies to dp_events and
	 * ss_reject_order() are not reported. ss_restore_reply() numbers it again. At most
	 * one call per inbound message. */
	void (*on_local_reply)(void *arg, uint16_t slot, uint16_t template_id, const void *body,
			       uint16_t blen);
	/* Journal hook, NULL = none: a Negotiate was accepted (its timestamp is now the
	 * newest of the session's logons, invariant 14); called by ss_rx() before the
	 * NegotiationResponse is appended to out, so that the owner records it first
	 * (ss_restore_logon() on replay). */
	void (*on_negotiated)(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			      uint64_t timestamp);
	void *hook_arg;
	/* enum ss_udp_auth, for the UDP peers (invariant 16; TCP peers: 12). SS_AUTH_REQUIRED */
	uint8_t udp_auth;
	/* A Negotiate timestamped at or before this (ns since the epoch) is refused
	 * STALE_TIMESTAMP (invariant 14). The owner's start time: no logon captured before a
	 * restart can start a session again, so the sessions the restart rebuilt need not
	 * keep their slots to refuse them, and the keys UDP sessions had before it (which it
	 * forgets) can never be derived again (16).                                       0 */
	uint64_t logon_floor_ns;
	/* Keys the hash of the table's indexes (peers, session ids): a value no client can
	 * know (tokexd: random at start), so that none can aim its keys at one probe run.
	 * The indexes live in memory only; any value works.                                0 */
	uint64_t hash_seed;
};

/* Outbound datagram (UDP) or stream chunk (TCP) for one peer. */
struct ss_buf {
	struct ss_peer peer;
	uint16_t len;       /* bytes[0, len) is what to send */
	uint16_t slot;      /* session slot, SS_NO_SLOT for a peer without a session */
	uint8_t kind;       /* internal: coalescing class */
	uint8_t end;        /* TCP: 1 when the chunk carries the exchange's Terminate; the
			       connection ends with it (protocol 4.9), so the owner takes
			       nothing more it read from that connection, and closes it */
	uint8_t pad[2];
	uint64_t next_seq;  /* internal: number the next application message appended takes */
	uint8_t bytes[SS_BUF_CAP];
};

/* Everything one burst produces; see "Output contract" above. ~100 KiB: one per table. */
struct ss_out {
	uint32_t n_bufs;
	uint32_t n_orders;
	struct dp_order orders[SS_OUT_ORDERS];
	struct ss_buf bufs[SS_OUT_BUFS];
};

/* Counters: one uint64 each, per table; the control plane sums tables. */
#define SS_STATS(X)                                                                        \
	X(rx_dgrams)           /* ss_rx() calls that were processed: UDP datagrams ... */ \
	X(rx_frames)           /* ... and TCP frames (invariant 12) */                     \
	X(rx_msgs)             /* messages decoded */                                       \
	X(rx_oversize)         /* payload above TKX_MAX_DGRAM: dropped whole */             \
	X(rx_truncated)        /* datagram tails dropped by decode error, by reason */      \
	X(rx_bad_schema)                                                                    \
	X(rx_unknown_template)                                                              \
	X(rx_bad_block_length)                                                              \
	X(rx_after_terminate)  /* datagram tails dropped because the session ended */       \
	X(rx_no_session)       /* Sequence/Terminate without a matching live session */     \
	X(rx_late)             /* app messages below the expected number: not applied */    \
	X(neg_ok)                                                                           \
	X(neg_unknown_firm)                                                                 \
	X(neg_bad_credentials)                                                              \
	X(neg_stale)                                                                        \
	X(neg_in_use)                                                                       \
	X(neg_table_full)                                                                   \
	X(neg_firm_limit)      /* NegotiationReject SESSION_LIMIT (invariant 13) */         \
	X(est_ok)                                                                           \
	X(est_not_negotiated)                                                               \
	X(est_bad_credentials)                                                              \
	X(est_stale)                                                                        \
	X(est_bad_keepalive)                                                                \
	X(invalid_field)       /* BusinessReject INVALID_FIELD */                           \
	X(not_established)     /* BusinessReject NOT_ESTABLISHED */                         \
	X(wrong_direction)     /* BusinessReject WRONG_DIRECTION */                         \
	X(app_forwarded)       /* dp_orders from client requests */                         \
	X(app_invalid)         /* ExecReject from tkx_validate() */                         \
	X(clordid_reused)                                                                   \
	X(throttled)                                                                        \
	X(gaps)                /* NotApplied sent */                                        \
	X(gap_msgs)            /* sequence numbers they covered */                          \
	X(retrans_ok)                                                                       \
	X(retrans_msgs)                                                                     \
	X(retrans_out_of_range)                                                             \
	X(retrans_too_many)                                                                 \
	X(retrans_not_established)                                                          \
	X(retrans_extra)       /* a second request in one datagram */                       \
	X(tx_app)              /* application messages numbered (sent or kept) */           \
	X(tx_session)          /* session-level messages sent, heartbeats excluded */       \
	X(tx_heartbeats)                                                                    \
	X(term_client)                                                                      \
	X(term_keepalive)                                                                   \
	X(term_throttle)                                                                    \
	X(term_disconnect)                                                                  \
	X(neg_expired)         /* NEGOTIATED, never established in time */                  \
	X(reclaimed)           /* TERMINATED slots given to a new session_id */             \
	X(forgotten)           /* sessions forgotten by a detach (invariant 9) ... */       \
	X(detach_done)         /* ... whose slot every core has answered for: FREE */       \
	X(dropped)             /* ss_drop() */                                              \
	X(ev_forgotten)        /* dp_events for a session being forgotten: dropped */       \
	X(session_gone)        /* DP_ORD_SESSION_GONE emitted */                            \
	X(ev_dropped)          /* dp_events for no session or a bad template */             \
	X(order_rejects)       /* ss_reject_order() */                                      \
	X(log_dropped)         /* log records lost to a full ring */                        \
	X(neg_bad_session_id)  /* Negotiate for session_id 0 */                            \
	X(seq_jump)            /* next_seq_no too far ahead for one NotApplied */          \
	X(neg_replayed)        /* Negotiate not newer than the session's last logon */     \
	X(est_replayed)        /* Establish not newer than the session's last logon */     \
	X(held)                /* requests, own replies and ends held behind others (15) */\
	X(rx_backpressure)     /* ss_rx() -EAGAIN: the session's unanswered bound (15) */  \
	X(hold_timeouts)       /* held queues let go by the backstop (15) */          \
	X(auth_missing)        /* no DatagramAuth, from a live session's address: dropped */\
	X(auth_no_session)     /* a DatagramAuth from an address without a live session */ \
	X(auth_bad_mac)        /* DatagramAuth that does not verify: dropped */            \
	X(auth_replay)         /* counter not above the last accepted: dropped */          \
	X(auth_misplaced)      /* DatagramAuth not last, or on TCP: BusinessReject */      \
	X(auth_rekeys)         /* session keys derived (accepted Negotiates) */

struct ss_stats {
#define SS__STAT_FIELD(name) uint64_t name;
	SS_STATS(SS__STAT_FIELD)
#undef SS__STAT_FIELD
};
#define SS_STAT_COUNT (sizeof(struct ss_stats) / sizeof(uint64_t))

/* Log record codes; ss_log.reason holds the tkx_* reason named here. */
enum ss_log_code {
	SS_LOG_NEGOTIATED = 1,        /* reason 0 */
	SS_LOG_NEGOTIATE_REJECT = 2,  /* tkx_session_reject */
	SS_LOG_ESTABLISHED = 3,       /* reason 0 */
	SS_LOG_ESTABLISH_REJECT = 4,  /* tkx_session_reject */
	SS_LOG_TERMINATED = 5,        /* by the exchange: tkx_terminate_reason */
	SS_LOG_CLIENT_TERMINATED = 6, /* by the client: its tkx_terminate_reason */
	SS_LOG_DISCONNECTED = 7,      /* transport gone (ss_disconnect) */
	SS_LOG_EXPIRED = 8,           /* NEGOTIATED, never established, silent */
	SS_LOG_RECLAIMED = 9,         /* slot of this TERMINATED session given away */
	SS_LOG_FORGOTTEN = 10,        /* forgotten, its orders detached: enum ss_forget_why */
	SS_LOG_DROPPED = 11,          /* ss_drop(), before it is forgotten (reason: its state) */
	SS_LOG_LOGON_REPLAYED = 12,   /* Negotiate/Establish not newer than the session's
				       * newest logon: refused (tkx_session_reject) */
};

/* Why a session was forgotten (ss_log.reason of SS_LOG_FORGOTTEN). */
enum ss_forget_why {
	SS_FORGET_TABLE = 1,    /* the table is full */
	SS_FORGET_FIRM = 2,     /* its firm holds its limit */
	SS_FORGET_OPERATOR = 3, /* ss_drop() */
};

/* 48 bytes. */
struct ss_log {
	uint64_t time_ns;
	uint64_t session_id;
	uint32_t firm_id;
	uint16_t code;   /* enum ss_log_code */
	uint16_t reason;
	uint16_t slot;   /* SS_NO_SLOT if none */
	uint16_t pad[3];
	struct ss_peer peer;
};

/* Read-only view of one slot, for the control plane and tests. */
struct ss_info {
	uint8_t state;                /* enum ss_state */
	uint8_t cancel_on_disconnect;
	uint8_t transport;            /* enum ss_transport: its peer's (the last one's) */
	uint8_t may_have_orders;      /* invariant 9 */
	uint8_t detaching;            /* FREE, being detached (invariant 9) */
	uint16_t slot;
	uint32_t firm_id;
	uint32_t keepalive_ms;
	uint64_t session_id;
	uint64_t next_in;             /* next inbound sequence it will apply */
	uint64_t next_out;            /* number of its next outbound application message */
	uint64_t last_cl_ord_id;
	uint64_t since_ns;            /* when it entered its state (TERMINATED: terminated) */
	struct ss_peer peer;
	uint32_t inflight;            /* requests forwarded, not answered yet (invariant 15) */
	uint32_t held;                /* entries held behind them */
	uint8_t closing;              /* its end waits for them */
};

struct ss_table;

/* ---- Set-up (control thread, before the core runs) --------------------------------- */

/* Fills the defaults listed in struct ss_params (no firms). */
void ss_params_default(struct ss_params *p);

/* Bytes ss_table_init() needs for p; 0 and errno EINVAL when p is invalid (a bound out
 * of range, depth not a power of two, retrans_max above depth or too big for one ss_out,
 * a firm id twice, a key length 0 or above SS_KEY_MAX). */
size_t ss_table_memsize(const struct ss_params *p);

/* Lays the table out in mem (64-byte aligned, len >= ss_table_memsize(p)), all slots
 * FREE; copies the firm table. NULL and errno EINVAL on bad arguments. */
struct ss_table *ss_table_init(void *mem, size_t len, const struct ss_params *p);

/* ---- Data path (owner thread) ------------------------------------------------------ */

/*
 * UDP with SS_AUTH_REQUIRED: ends every buffer of out that belongs to a session with a
 * DatagramAuth (the session's next exchange counter, MAC under its exchange key), once;
 * a sealed buffer takes nothing more. Call it just before sending the buffers (then
 * ss_out_reset()). A no-op for TCP tables and with SS_AUTH_OFF. Owner thread.
 */
void ss_seal(struct ss_table *t, struct ss_out *out);

/* Empties out after the caller sent its buffers and routed its orders. */
static inline void ss_out_reset(struct ss_out *out)
{
	out->n_bufs = 0;
	out->n_orders = 0;
}

/*
 * One inbound UDP datagram (messages back to back) from a UDP peer or, from a TCP peer
 * (conn not 0, invariant 12), one frame's message (SOFH stripped), received at now_ns (ns since the Unix epoch: it is compared
 * with the clients' timestamps). Replies and dp_orders go to out. Returns the number of
 * messages processed (the rest of a malformed datagram is dropped and counted), or
 * -ENOBUFS (nothing done: flush out and call again).
 */
int ss_rx(struct ss_table *t, const struct ss_peer *peer, const void *payload, size_t len,
	  uint64_t now_ns, struct ss_out *out);

/*
 * Replies from matching cores: each ev (template TKX_EXEC_ACK .. TKX_MASS_CANCEL_ACK,
 * for session ev->session of this core) becomes its session's next outbound application
 * message: numbered, kept for retransmission and, if ESTABLISHED, appended to out.
 * An event with pad[0] = DP_EV_DETACHED is a core's answer to a detach (invariant 9):
 * nothing is sent. Events for another core, a FREE slot (ev_forgotten when it is being
 * detached) or another template are dropped and counted. Returns how many of ev[0, n)
 * were consumed: fewer than n only when out is full.
 */
unsigned ss_event(struct ss_table *t, const struct dp_event *ev, unsigned n, uint64_t now_ns,
		  struct ss_out *out);

/*
 * Answers a dp_order of this table that the caller could not deliver (reason
 * TKX_REJ_UNKNOWN_CONTRACT when no core owns the contract, TKX_REJ_BUSY when its ring is
 * full) with an ExecReject numbered like any reply. The request is answered by it
 * (invariant 15): what its session held behind it goes at the next ss_release(),
 * ss_event() or ss_tick(). 0, -ENOBUFS, -ENOENT (no such
 * session here), or -EINVAL for a DP_ORD_SESSION_GONE, which must be delivered (retry).
 */
int ss_reject_order(struct ss_table *t, const struct dp_order *o, uint16_t reason,
		    uint64_t now_ns, struct ss_out *out);

/*
 * Timers: heartbeats to ESTABLISHED sessions sent nothing for their keepalive interval;
 * Terminate KEEPALIVE_TIMEOUT (and SESSION_GONE if asked) to those silent for three;
 * expiry of NEGOTIATED sessions never established; sessions forgotten ahead of need
 * (invariant 9: SESSION_GONE DP_GONE_DETACH). Call every few milliseconds. Returns
 * how many sessions it acted on, or -ENOBUFS (flush out and call again to go on).
 */
int ss_tick(struct ss_table *t, uint64_t now_ns, struct ss_out *out);

/*
 * The transport to peer is gone (TCP connection closed): its live session, if any, is
 * TERMINATED without a Terminate message (SESSION_GONE if asked) - after the replies to
 * its requests in flight, which are numbered and kept but not sent (invariant 15). 0,
 * -ENOENT (no live session at peer) or -ENOBUFS.
 */
int ss_disconnect(struct ss_table *t, const struct ss_peer *peer, uint64_t now_ns,
		  struct ss_out *out);

/*
 * Operator: forgets session_id (invariant 9). A live session is ended first: Terminate
 * UNSPECIFIED to its peer, SESSION_GONE if its Establish asked for cancel-on-disconnect;
 * one never established is then FREE; any other is forgotten with a SESSION_GONE
 * DP_GONE_DETACH (its resting orders stay and report to no session; the slot is reused
 * once every core answered). *was (may be NULL) gets the session as it was. 0 (forgotten
 * by a detach), 1 (never established: its slot FREE at once), -ENOENT (no such session,
 * or being forgotten already), -ENOBUFS (room: 1 buffer, 2 orders).
 */
int ss_drop(struct ss_table *t, uint64_t session_id, uint64_t now_ns, struct ss_out *out,
	    struct ss_info *was);

/*
 * Fencing (a primary whose lease is running out, docs/STANDBY.md): a Terminate SHUTDOWN to
 * every live session, from *cursor on (start at 0), and nothing else: no state changes, no
 * SESSION_GONE, nothing to journal - the table is not used for input again (the appliance
 * stops serving; a standby takes over with the journal's sessions). 0 when every live
 * session was told, -ENOBUFS when the output is full: flush it and call again (the cursor
 * says where to go on).
 */
int ss_fence(struct ss_table *t, unsigned *cursor, struct ss_out *out);

/* ---- Recovery (owner thread, before the core runs; issue 6) --------------------------- */

/* Puts session_id of firm_id in slot, TERMINATED with empty numbering (next_in, next_out
 * 1), as if it had been established there and terminated at now_ns: what a journaled
 * SESSION record rebuilds. A session already in the slot, or session_id in another slot,
 * is removed first; the newest logon timestamp of session_id (ss_restore_logon) stays. Replies then fed through ss_event() rebuild its outbound numbering
 * and retransmit ring. 0, -EINVAL (slot out of range, session_id 0), -ENOENT unknown
 * firm, -EBUSY a live session holds the slot. */
int ss_restore_session(struct ss_table *t, unsigned slot, uint64_t session_id, uint32_t firm_id,
		       uint64_t next_in, uint64_t now_ns);

/* A journaled logon (on_negotiated) of session_id in slot: its timestamp becomes the
 * session's newest if it is newer. A slot that does not hold session_id gets it first,
 * as ss_restore_session() puts it (a Negotiate that was never followed by an
 * establishment is recorded too: its replay must stay refused). 0 or as
 * ss_restore_session(). */
int ss_restore_logon(struct ss_table *t, unsigned slot, uint64_t session_id, uint32_t firm_id,
		     uint64_t timestamp, uint64_t now_ns);

/* A journaled request of this table's session o->session: its inbound number, cl_ord_id
 * (invariant 5) and whether it may have resting orders (invariant 9) come back; a
 * SESSION_GONE with DP_GONE_ACK forgets the session it names (o->order_id) as live, its
 * slot FREE (detaching) until the cores' answers come back through ss_event(). 0 or
 * -ENOENT (no such session). */
int ss_restore_order(struct ss_table *t, const struct dp_order *o);

/* Recovery: numbers body as slot's next application message and keeps it for
 * retransmission, as on_local_reply reported it. 0, -ENOENT (slot FREE or out of range),
 * -EBUSY (the session is ESTABLISHED: recovery only), -EINVAL (blen above SS_MSG_MAX less
 * the header). */
int ss_restore_reply(struct ss_table *t, unsigned slot, uint16_t template_id, const void *body,
		     uint16_t blen, uint64_t now_ns);

/* Owner thread: from now on every RetransmitRequest is answered RetransmitReject
 * OUT_OF_RANGE. For an owner that numbered messages it then could not send (tokexd after
 * a journal failure holds back replies that are not durable and discards them): they must
 * never leave, not even as a retransmission. There is no way back; restart instead. */
void ss_halt_retransmission(struct ss_table *t);

/* Owner thread: the replies still owed to this table's requests will not come (the owner
 * stops, or discards them): nothing waits for them any more (invariant 15); what was held
 * behind them goes at the next ss_release(), ss_event() or ss_tick(). */
void ss_forget_replies(struct ss_table *t);

/* Owner thread: lets go what the table held and may go now (invariant 15): what the
 * replies given to ss_event() since the last call, or ss_reject_order() answers, let go.
 * Call it after each batch of replies (after the requests whose replies they are were
 * journaled, for a journaling owner: an own reply let go is reported to on_local_reply
 * as it is numbered). Appends to out; 0, or -ENOBUFS (flush out and call again). Cheap
 * when nothing waits. */
int ss_release(struct ss_table *t, uint64_t now_ns, struct ss_out *out);

/* ---- Inspection ---------------------------------------------------------------------- */

/* Entries held in the table's queues (invariant 15): requests not forwarded yet, own
 * replies not numbered yet, ends not done yet. 0 when nothing waits. Owner thread. */
unsigned ss_held(const struct ss_table *t);

/* Slot of session_id (any state but FREE), or -ENOENT. Owner thread. */
int ss_lookup(const struct ss_table *t, uint64_t session_id);

/* Copies slot's state into info. 0, or -ENOENT for a slot out of range. Owner thread. */
int ss_session_info(const struct ss_table *t, unsigned slot, struct ss_info *info);

/* Any thread: a consistent-per-counter copy of the counters. */
void ss_stats_read(const struct ss_table *t, struct ss_stats *dst);

/* Name of counter i (field order of struct ss_stats), NULL past the end. */
const char *ss_stat_name(unsigned i);

/* Control thread: moves up to max log records into dst, oldest first; returns how many. */
unsigned ss_log_drain(struct ss_table *t, struct ss_log *dst, unsigned max);

/* One line of operator text for a record (no newline), snprintf-style return. */
int ss_log_format(const struct ss_log *l, char *buf, size_t len);

/* "NEGOTIATED", "TERMINATED" ..., "UNKNOWN". */
const char *ss_log_code_name(unsigned code);
const char *ss_state_name(unsigned state);

#endif /* TOKEX_SS_SESSION_H */
