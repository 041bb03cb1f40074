/*
 * md_pub.h - the market-data publisher: sequences market-data records into MoldUDP64-style
 * packets, keeps the last ones for gap re-requests, and answers those re-requests.
 *
 * Role in the data path: runs on the TX core (or inside the run-to-completion loop); one
 * thread owns a publisher and calls everything. It consumes the matching cores' market-data
 * records (struct dp_event, templates 300-302 and 305-307) with md_pub_add(), re-request datagrams from
 * port 7414 with md_pub_request(), and time with md_pub_tick(); it produces packets for the
 * multicast group (md_pub_next_tx()) and reply packets for the requester
 * (md_pub_next_reply()). The caller owns the sockets/ports and the requester's address.
 * Encoding and framing are tokex/codec.h's (tkx_md_pkt_*, tkx_enc_md_*). Pure module: no
 * DPDK, no sockets, no clock (every call takes now: ns since the Unix epoch, the
 * Snapshots' transact_time; timers use differences only, and a clock step backwards just
 * delays them), and no malloc, lock, syscall or printf after md_pub_init(); the caller
 * provides the memory (md_pub_memsize()).
 *
 * The stream (docs/protocol.md section 6): messages are numbered 1, 2, 3 ... in the
 * session; a packet's header holds the sequence of its first message and its count.
 *
 * Packets, and the function that moves each through its life:
 *
 *    a message and no OPEN packet         packet full: md_pub_add(); md_pub_flush(),
 *    (md_pub_add(), md_pub_tick())        md_pub_tick(), md_pub_end()
 *   -------------------------------> OPEN ------------------------------------> PENDING
 *                                 (slot head)                                 [tx, head)
 *                                                                                 |
 *                                                                  md_pub_next_tx()|
 *                                                                                 v
 *   slot reused <------------------------------------------------------------ RETAINED
 *   (when a new OPEN packet needs it: oldest first, never a PENDING one)     [tail, tx)
 *                                                              answers re-requests
 *
 * Heartbeats (count 0) and the end-of-session packet (count 0xFFFF) take no slot: one
 * control packet, handed out by md_pub_next_tx() after every PENDING packet.
 *
 * Invariants:
 *  1. Sequence numbers are consecutive, from 1, over every message the publisher emits
 *     (records and Snapshots), in emission order; a message is numbered when it is
 *     appended to the OPEN packet, never reused, and a record that cannot be appended is
 *     not numbered (md_pub_add() stops before it).
 *  2. Ring indices are free-running: tail <= tx <= head, head - tail <= retain. Slots
 *     [tail, head) are closed packets in sequence order, each with at least one message,
 *     each starting where the previous ended; the OPEN packet, if any, is slot head and
 *     starts where slot head - 1 ended.
 *  3. A PENDING packet is never overwritten: when all retain slots are PENDING, no packet
 *     can be opened and md_pub_add()/md_pub_tick() stop (counted in ring_full) until the
 *     caller takes packets with md_pub_next_tx().
 *  4. md_pub_next_tx() hands out packets in sequence order, each exactly once, then the
 *     control packet; a heartbeat's (or end's) sequence is the first sequence not yet in a
 *     handed-out packet, so a receiver never sees a heartbeat ahead of data it will get.
 *  5. A heartbeat is queued by md_pub_tick() only when no packet was closed or heartbeat
 *     queued for heartbeat_ns; a packet closed before the heartbeat is handed out cancels
 *     it; at most one control packet is queued; the end packet replaces a queued heartbeat
 *     and nothing is numbered after it.
 *  6. Per-contract state (phase, best bid/ask and quantities, last price, volume) is updated
 *     from each record when its message is numbered, so a Snapshot's state is exactly that
 *     of the messages up to its as_of_seq = (its own sequence - 1).
 *  7. Re-requests are answered only from handed-out packets ([tail, tx)): a reply message
 *     is a byte copy of the original, with its original sequence number.
 *  8. Every loop is bounded: md_pub_add() by n, md_pub_tick() by MD_SNAP_BURST snapshots,
 *     md_pub_request() by a binary search over the ring and one set of the source table,
 *     md_pub_next_reply() by one reply packet (and the source packets it draws from).
 *
 * Contracts: the Snapshot list starts as md_params.contracts and follows the matching
 * cores' ContractStatus records, the one way listing reaches the publisher (no lock, no
 * call from the control plane): a ContractStatus of a contract not in the list, in any
 * phase but DELISTED, adds it (a month listed at run time, state empty but its phase),
 * when the list has room (max_contracts; else counted in contracts_full and published
 * without state, as any unknown contract's records); a ContractStatus DELISTED removes
 * its contract after it is published (no Snapshot of it follows). The others keep their
 * order, so a Snapshot round under way still covers each of them once.
 *
 * Books (version 3, docs/protocol.md 6.4-6.6): besides top of book, the publisher keeps
 * per contract its InstrumentDefinition (assembled from the matching core's two parts,
 * dp_msg.h struct dp_md_def, with the phase of ContractStatus: one published after each
 * part and each ContractStatus of a defined contract), its Depth levels (as the records
 * carry them) and its resting orders (the order-by-order book: struct dp_md_order records
 * in, OrderBook messages out; the visible part of an iceberg and every priority are
 * decided here, from the engine's rules, me_book.h). An order record of an order the book
 * does not hold (a held stop order's leave) is dropped (orders_unknown). Priorities count
 * from 1 per publisher: an ADD, and an iceberg's refill, take the next one.
 * A Snapshot round sends, per contract, one frame of consecutive messages: Snapshot, its
 * InstrumentDefinition (when defined), every Depth level of both sides that holds
 * something (flag SNAPSHOT; a Snapshot clears the contract's levels and orders, so empty
 * ones are not sent) and every resting order (OrderBook SNAPSHOT), all at the
 * Snapshot's as_of_seq; a frame starts only when the ring has room for all of it (else
 * md_pub_tick() returns -ENOBUFS and the round goes on at the next call), and a frame
 * too large for the whole ring goes without its orders (snap_cut).
 *
 * Re-requests (docs/protocol.md 6.3), in the order of the checks:
 *  - a datagram that is not exactly 20 bytes, or has count 0 or sequence 0 (sequences start
 *    at 1), is malformed: ignored, counted (req_bad), -EBADMSG;
 *  - then the limits (md_lim.h): the answer may take at most budget = min(req_max_bytes,
 *    the source's tokens, the global tokens) bytes of UDP payload, all its packets
 *    together. A budget too small for the answer's smallest useful form (a GapReject, 46
 *    bytes; one packet of the largest message and the end marker, MD_REQ_MIN_BYTES) gets
 *    nothing: ignored, counted (req_throttled; req_throttled_global when the global bucket
 *    was the short one), -EAGAIN. Every request that is not ignored costs the bytes it is
 *    answered with and never less than its own 20;
 *  - session not the current one: GapReject with first_available_seq 0 (the protocol's
 *    "0 if none of that session"), counted in gap_rejects and req_wrong_session;
 *  - sequence below the oldest retained message: GapReject with first_available_seq = the
 *    oldest retained sequence, requested_seq = the request's sequence. A GapReject packet
 *    has header sequence 0 and count 1;
 *  - sequence at or past the last handed-out message: nothing is sent (req_empty);
 *  - else messages [sequence, sequence + min(count, what exists)), in ordinary packets of
 *    at most max_payload bytes re-packed from the originals so the first starts exactly at
 *    `sequence`, each header carrying its first message's original sequence (req_served,
 *    req_msgs, req_pkts), as many as req_max messages and budget - 20 bytes allow. When
 *    that is fewer than asked for and existing, the answer ends with the end marker: a
 *    20-byte packet with count 0 (a heartbeat's form) whose sequence is the first message
 *    not sent, so the receiver asks again from there (req_capped).
 *  Bound: the packets of one answer add up to at most req_max_bytes of UDP payload (the
 *  data packets at most budget - 20, the marker 20), so a 20-byte request is amplified at
 *  most req_max_bytes / 20 times, and a source gets at most req_burst + req_rate x t bytes
 *  in any t seconds (all sources together: the global bucket's depth + its rate x t).
 *  Decisions beyond the protocol text: the packing of a reply is not that of the original
 *  packets (MoldUDP64 retransmits messages, not datagrams); a request for messages still
 *  PENDING (closed but not yet handed out) or in the OPEN packet gets only what was handed
 *  out, as "not yet published"; an ignored request gets no answer at all (an answer to a
 *  source over its limit would be traffic to an address that may be forged).
 *
 * Output contract:
 *  - The pointer from md_pub_next_tx() is valid until the next call to md_pub_add(),
 *    md_pub_flush(), md_pub_tick(), md_pub_end() or md_pub_init(): send (copy) the packet
 *    before that. Call md_pub_flush() then drain md_pub_next_tx() at the end of every burst.
 *  - md_pub_request() only decides the answer; md_pub_next_reply() then builds it one
 *    packet per call into one buffer (valid until the next md_pub_next_reply() or
 *    md_pub_request()); send each to the requester. A new md_pub_request() drops what is
 *    left of the previous answer (req_cut); so does the eviction of the next message to
 *    resend.
 *  - md_pub_add() returns how many records it consumed: fewer than n only when the ring
 *    is full of PENDING packets; drain md_pub_next_tx() and call again with the rest.
 *
 * Threads: the owner thread calls everything except md_pub_stats_read(), which another
 * thread may call at any time (counters are written by the owner with relaxed atomic
 * stores, read with relaxed atomic loads).
 */
#ifndef TOKEX_MD_PUB_H
#define TOKEX_MD_PUB_H

#include <stddef.h>
#include <stdint.h>

#include <tokex/proto.h>

#include "dataplane/dp_msg.h"

#define MD_MAX_CONTRACTS 65536u
#define MD_DEPTH_MAX 32u         /* Depth levels per side (mc_core.h MC_DEPTH_MAX) */
#define MD_MAX_ORDERS (1u << 26) /* resting orders the order-by-order book holds at most */
#define MD_MAX_RETAIN (1u << 20)
/* A packet must hold the largest message (Snapshot, InstrumentDefinition: 80 bytes) with its
 * length prefix. */
#define MD_MIN_PAYLOAD (TKX_MD_HDR_LEN + 2 + TKX_HDR_LEN + (int)sizeof(struct tkx_md_snapshot))
#define MD_SNAP_BURST 256u /* Snapshots one md_pub_tick() emits at most */
/* The smallest per-request byte cap: one packet of the largest message and the end marker. */
#define MD_REQ_MIN_BYTES (MD_MIN_PAYLOAD + TKX_MD_HDR_LEN)
#define MD_REQ_MAX_BYTES (1u << 20)

/* A contract the publisher keeps Snapshot state for, and its phase at start. */
struct md_contract {
	uint32_t id;   /* non-zero, unique in the list */
	uint8_t phase; /* enum tkx_phase */
};

/* Tunables. md_pub_params_default() fills everything but contracts/n_contracts. */
struct md_params {
	const char *session;             /* 1-10 printable ASCII characters       "TOKEXMD001" */
	uint32_t retain;                 /* packets kept, power of two, 2..MD_MAX_RETAIN  4096 */
	uint32_t max_payload;            /* UDP payload per packet, MD_MIN_PAYLOAD..TKX_MAX_DGRAM */
	uint64_t snapshot_ns;            /* Snapshot interval; 0 = no Snapshots             1 s */
	uint64_t heartbeat_ns;           /* heartbeat after this long idle; 0 = never       1 s */
	const struct md_contract *contracts;
	uint32_t n_contracts;            /* 0..MD_MAX_CONTRACTS                                */
	uint32_t max_contracts;          /* the list's room, n_contracts..MD_MAX_CONTRACTS;
					    0 = n_contracts (see "Contracts" above)         0 */
	/* Re-requests (md_lim.h): bytes are UDP payload, every packet of an answer counted. */
	uint32_t req_max;                /* messages per answer, 1..65535                 1024 */
	uint32_t req_max_bytes;          /* bytes per answer, MD_REQ_MIN_BYTES..MD_REQ_MAX_BYTES
					    1492 (one full packet and the end marker) */
	uint32_t req_sources;            /* source table entries, power of two, 8..2^20  8192 */
	uint32_t req_rate;               /* bytes per second per source; 0 = no limit 1000000 */
	uint32_t req_burst;              /* its depth, >= req_max_bytes when rate > 0   65536 */
	uint32_t req_global_rate;        /* bytes per second, all sources; 0 = none 25000000 */
	uint32_t req_global_burst;       /* its depth, >= req_max_bytes when rate > 0 2500000 */
	uint64_t req_seed;               /* keys the source table's hash                    0 */
	/* Version 3 feeds ("Books" below). */
	uint32_t depth;                  /* Depth levels per side kept for Snapshots,
					    0..MD_DEPTH_MAX; 0 = no Depth state            0 */
	uint32_t max_orders;             /* resting orders of the order-by-order book, all
					    contracts; 0 = no order-by-order feed          0 */
};

/* Counters: one uint64 each; the control plane reads them with md_pub_stats_read(). */
#define MD_STATS(X)                                                                        \
	X(packets)           /* data packets closed (each handed out once by next_tx) */   \
	X(messages)          /* messages numbered, Snapshots included */                  \
	X(heartbeats)        /* heartbeat packets handed out */                          \
	X(snapshots)         /* Snapshot messages numbered */                            \
	X(end_of_session)    /* end packets handed out (0 or 1) */                        \
	X(records_bad)       /* dp_events that are not 300-302, 305-307: dropped */        \
	X(records_unknown)   /* records of a contract not in the list: published, no state */ \
	X(contracts_added)   /* contracts listed at run time: into the Snapshot list */    \
	X(contracts_removed) /* contracts delisted: out of the Snapshot list */            \
	X(contracts_full)    /* listings with the list full (max_contracts): no Snapshots */ \
	X(records_after_end) /* records after md_pub_end(): dropped */                    \
	X(ring_full)         /* add/tick stopped: every slot PENDING */                    \
	X(req_served)        /* re-requests answered with messages */                     \
	X(req_msgs)          /* messages re-sent */                                        \
	X(req_pkts)          /* reply packets built, GapRejects included */              \
	X(req_empty)         /* re-requests past the last handed-out message: no answer */ \
	X(gap_rejects)       /* GapReject answers */                                       \
	X(req_wrong_session) /* ... of them, for another session */                       \
	X(req_bad)           /* malformed re-requests: ignored */                          \
	X(req_throttled)     /* re-requests ignored by the rate limits: no answer */       \
	X(req_throttled_global) /* ... of them, for want of the global budget */          \
	X(req_capped)        /* answers cut by a limit: ended with the "ask again" marker */ \
	X(req_bytes)         /* UDP payload bytes of all answers (markers included) */     \
	X(req_sources_new)   /* sources given an idle entry of the source table */         \
	X(req_sources_evicted) /* ... a busy one: the table under pressure (md_lim.h) */   \
	X(req_cut)           /* answers left unfinished (new request, or eviction) */ \
	X(definitions)       /* InstrumentDefinition messages numbered */                \
	X(orders_unknown)    /* order records of an order not in the book: dropped */     \
	X(orders_full)       /* ADDs with the order book full (max_orders): dropped */    \
	X(snap_cut)          /* Snapshot frames sent without their orders: the frame
				would not fit in the ring (retain too small) */

struct md_stats {
#define MD__STAT_FIELD(name) uint64_t name;
	MD_STATS(MD__STAT_FIELD)
#undef MD__STAT_FIELD
};
#define MD_STAT_COUNT (sizeof(struct md_stats) / sizeof(uint64_t))

/* Where the stream stands (owner thread; for the control plane and tests). */
struct md_info {
	uint64_t next_seq;        /* the number the next message will take */
	uint64_t first_retained;  /* oldest retained sequence; next_seq when none */
	uint64_t last_sent;       /* last sequence handed out by next_tx; 0 when none */
	uint32_t pending;         /* closed packets not yet handed out */
	uint32_t retained;        /* closed packets in the ring (PENDING included) */
	uint8_t open;             /* 1 if a packet is OPEN (has messages not yet closed) */
	uint8_t ended;            /* 1 after md_pub_end() */
};

struct md_pub;

/* ---- Set-up (control thread, before the core runs) --------------------------------- */

void md_pub_params_default(struct md_params *p);

/* Bytes md_pub_init() needs for p; 0 and errno EINVAL when p is invalid (a bound out of
 * range, retain not a power of two, a bad session name, a contract id 0, a phase out of
 * range). Duplicate contract ids are found by md_pub_init(). */
size_t md_pub_memsize(const struct md_params *p);

/* Lays the publisher out in mem (64-byte aligned, len >= md_pub_memsize(p)): sequence 1
 * next, nothing retained, every contract's state empty (null prices, 0 quantities and
 * volume) in its start phase. Calling it again on the same memory starts a new session.
 * NULL and errno EINVAL on bad arguments or duplicate contract ids. */
struct md_pub *md_pub_init(void *mem, size_t len, const struct md_params *p);

/* A new session named session (a standby promoted to primary: its subscribers must see
 * the numbering start again): the OPEN packet closed, everything retained or not yet
 * handed out forgotten, sequence 1 next, a Snapshot round of every contract due now; the
 * contracts' state (prices, quantities, phases) kept. Owner thread, before it publishes
 * under the new name. 0, or -EINVAL (a bad name: nothing changed). */
int md_pub_new_session(struct md_pub *p, const char *session, uint64_t now);

/* ---- Data path (owner thread) ------------------------------------------------------ */

/*
 * Publish records ev[0, n) (template TKX_MD_TOP_OF_BOOK, TKX_MD_TRADE,
 * TKX_MD_CONTRACT_STATUS, TKX_MD_DEPTH; body in u.tob / u.trade / u.status / u.depth; and
 * TKX_MD_ORDER, TKX_MD_INSTRUMENT: u.order / u.def, see "Books") as the next messages, in
 * order, reserved fields written as zero; full packets are closed. Other templates are
 * dropped and counted; so is everything after md_pub_end(). Returns how many records were
 * consumed (invariant 3 for fewer than n).
 */
unsigned md_pub_add(struct md_pub *p, const struct dp_event *ev, unsigned n, uint64_t now);

/* Closes the OPEN packet, if any. Returns the number of packets waiting for next_tx. */
unsigned md_pub_flush(struct md_pub *p, uint64_t now);

/*
 * Timers; call every few milliseconds or more often. Emits the Snapshots due (one per
 * contract every snapshot_ns, at most MD_SNAP_BURST per call: a round that does not fit
 * goes on at the next call), closes the OPEN packet, and queues a heartbeat when no packet
 * was closed or queued for heartbeat_ns. 0, or -ENOBUFS when Snapshots waited for ring
 * room (drain next_tx), or -ESHUTDOWN after md_pub_end().
 */
int md_pub_tick(struct md_pub *p, uint64_t now);

/* End of session: closes the OPEN packet and queues the end packet (count 0xFFFF). 0, or
 * -EALREADY when called twice. */
int md_pub_end(struct md_pub *p, uint64_t now);

/* The next packet for the multicast group, in order: 1 with *buf and *len set (see the output
 * contract for how long *buf lives), or 0 when there is none. */
int md_pub_next_tx(struct md_pub *p, const uint8_t **buf, size_t *len);

/*
 * One re-request datagram (its UDP payload) from port 7414, sent from address src (the
 * IPv4 source address; any byte order, the same for every call: it only names the source
 * for the rate limit); decides the answer (see "Re-requests" above). 0 when the request is
 * answered (md_pub_next_reply() yields the packets; maybe none), -EBADMSG (malformed) or
 * -EAGAIN (rate limits): ignored, counted.
 */
int md_pub_request(struct md_pub *p, uint32_t src, const void *req, size_t len, uint64_t now);

/* The next reply packet to the last request's source address: 1 with *buf and *len set, or
 * 0 when the answer is complete. */
int md_pub_next_reply(struct md_pub *p, const uint8_t **buf, size_t *len);

/* ---- Inspection ---------------------------------------------------------------------- */

void md_pub_info(const struct md_pub *p, struct md_info *info);

/* State of one contract as a Snapshot would carry it now (transact_time 0, as_of_seq =
 * next_seq - 1). 0, or -ENOENT for a contract not in the list. Owner thread. */
int md_pub_contract(const struct md_pub *p, uint32_t contract_id, struct tkx_md_snapshot *s);

/* The order-by-order book as the stream says it now (owner thread; for tests): calls cb
 * for every resting order of the contract, in no particular order, with the OrderBook
 * message a Snapshot frame would carry. 0, -ENOENT (no such contract), or cb's non-zero
 * value. */
int md_pub_orders(const struct md_pub *p, uint32_t contract_id,
		  int (*cb)(void *arg, const struct tkx_md_order *o), void *arg);

/* The contract's InstrumentDefinition as published last: 0, -ENOENT (none yet). */
int md_pub_definition(const struct md_pub *p, uint32_t contract_id, struct tkx_md_instrument *d);

/* Any thread: a consistent-per-counter copy of the counters. */
void md_pub_stats_read(const struct md_pub *p, struct md_stats *dst);

/* Name of counter i (field order of struct md_stats), NULL past the end. */
const char *md_pub_stat_name(unsigned i);

#endif /* TOKEX_MD_PUB_H */
