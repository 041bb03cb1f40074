/*
 * tokex/client.h - libtokex-client: the market participant's side of the tokex protocol
 * (docs/protocol.md) over kernel sockets: an order-entry session (UDP or TCP) and a
 * market-data subscriber.
 *
 * Role: runs in the client's process, on one thread per struct tkx_client / tkx_md_sub
 * (neither is thread-safe; use one per thread). It produces Negotiate, Establish,
 * Sequence, RetransmitRequest, Terminate and the four requests, and consumes the
 * exchange's replies into tagged events delivered in the exchange's sequence order.
 * Every byte goes through tokex/codec.h; this library never encodes or decodes by hand.
 *
 * Conventions:
 *  - Every function returns 0, a count, or a negative errno. Operator-facing text is
 *    written into a buffer the caller provides (tkx_client_errstr()).
 *  - Memory: tkx_client_open() and tkx_md_sub_open() each make one allocation (the
 *    object with all its fixed-size tables); nothing else allocates, per order or per
 *    message. close() frees it.
 *  - Time: timers use CLOCK_MONOTONIC; Negotiate/Establish/RetransmitRequest carry
 *    CLOCK_REALTIME (the exchange checks it against its clock).
 *  - Nothing blocks except tkx_client_open() (TCP connect), tkx_client_establish() and
 *    tkx_client_terminate() (bounded by their timeout) and the *_poll() functions (bounded
 *    by theirs).
 *  - UDP: every datagram after the Negotiate ends with a DatagramAuth (a MAC under keys
 *    derived from the firm's secret and the Negotiate, protocol 4.13), and the exchange's
 *    datagrams are dropped unless theirs verifies; cfg.no_udp_auth turns this off for a
 *    venue that does (sessions.udp_auth off). TCP needs none: the connection binds it. Timers (heartbeats, retransmission and re-request timeouts, the exchange's
 *    keepalive) are serviced inside *_poll(): call it at least every keepalive interval.
 *
 * Order entry, in brief:
 *     struct tkx_client_cfg cfg;
 *     tkx_client_cfg_default(&cfg);
 *     tkx_client_parse_addr("127.0.0.1:7411", TKX_PORT_ORDER_UDP, &cfg.exchange);
 *     cfg.firm_id = 1; cfg.secret = key; cfg.secret_len = key_len;
 *     tkx_client_open(&c, &cfg);
 *     tkx_client_establish(c, 5000);                      // Negotiate + Establish
 *     struct tkx_new_order o = { .price = 25010, .qty = 10, .contract_id = 202601,
 *                                .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
 *     tkx_client_new_order(c, &o);                         // o.cl_ord_id is assigned
 *     n = tkx_client_poll(c, 100, ev, 32);                 // ExecAck, Fill, ...
 *     tkx_client_terminate(c, 1000); tkx_client_close(c);
 *
 * API version: TKX_CLIENT_API_VERSION. The cfg structs carry a `version` field that the
 * *_cfg_default() functions set; open() refuses a version it does not know (-ENOTSUP), so
 * a struct that grows later is never misread.
 */
#ifndef TOKEX_CLIENT_H
#define TOKEX_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>

#include "tokex/codec.h"
#include "tokex/price.h"
#include "tokex/proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TKX_CLIENT_API_VERSION 2 /* 2: struct tkx_new_order grew to 48 bytes (stop_price,
				   * show_qty; schema version 3): a caller built for 1 is refused */

/* Fixed capacities (the one allocation is sized from these). */
#define TKX_CLIENT_MAX_ORDERS 4096 /* local order table: live and pending orders */
#define TKX_CLIENT_WINDOW 1024     /* reorder window: numbered messages held past a gap */
#define TKX_CLIENT_MAX_SECRET 64   /* firm secrets are 1 to 64 bytes (protocol 4.1) */

/* ---- Order entry: configuration ---------------------------------------------------- */

enum tkx_client_transport {
	TKX_CLIENT_UDP = 1, /* datagrams, each starting with Sequence when it carries requests */
	TKX_CLIENT_TCP = 2, /* one SOFH frame per message */
};

struct tkx_client_cfg {
	uint32_t version;            /* TKX_CLIENT_API_VERSION */
	uint8_t transport;           /* enum tkx_client_transport */
	uint8_t cancel_on_disconnect; /* Establish.cancel_on_disconnect */
	uint8_t batch;               /* 1: hold requests until tkx_client_flush() (or poll, or
				      * a full datagram); 0: send each request at once */
	uint8_t no_udp_auth;         /* 0: UDP datagrams authenticated (protocol 4.13); 1: the
				      * venue runs without (sessions.udp_auth off) */
	struct sockaddr_in exchange; /* order-entry address of the exchange */
	struct sockaddr_in local;    /* address to bind; INADDR_ANY:0 = ephemeral */
	uint32_t firm_id;
	const uint8_t *secret;       /* the firm's key, copied by open() */
	size_t secret_len;           /* 1 to TKX_CLIENT_MAX_SECRET */
	uint64_t session_id;         /* 0: derived from CLOCK_REALTIME at open() */
	uint64_t next_seq_no;        /* number of our next application message (1 = new) */
	uint64_t last_in_seq;        /* last exchange message already processed (0 = new) */
	uint64_t first_cl_ord_id;    /* first cl_ord_id to use (resume: above the last) */
	uint32_t keepalive_ms;       /* Establish.keepalive_ms: our heartbeat interval */
	uint32_t connect_timeout_ms; /* TCP connect in open() */
	uint32_t retry_ms;           /* UDP: resend Negotiate/Establish after this silence */
	uint32_t retrans_timeout_ms; /* re-send a RetransmitRequest after this */
	uint32_t retrans_retries;    /* ... this many times, then report the range LOST */
	uint32_t retrans_max;        /* messages per RetransmitRequest (venue limit) */
};

/* Defaults: UDP, version set, keepalive 1000 ms, connect 3000 ms, retry 250 ms,
 * retransmission timeout 500 ms with 2 retries, 256 per request, numbers from 1,
 * cancel_on_disconnect 1. The caller sets exchange, firm_id and secret. */
void tkx_client_cfg_default(struct tkx_client_cfg *cfg);

/* "HOST:PORT", "HOST" (default_port) or ":PORT" (127.0.0.1); HOST a dotted quad or a
 * name resolved to IPv4. 0, -EINVAL (malformed, port out of range) or -ENOENT. */
int tkx_client_parse_addr(const char *s, uint16_t default_port, struct sockaddr_in *out);

/* ---- Order entry: life cycle ------------------------------------------------------- */

/*
 * Session states (tkx_client_state()), and the call or message that moves each:
 *
 *   OPEN --start()--> NEGOTIATING --NegotiationResponse--> ESTABLISHING --EstablishmentAck-->
 *     ESTABLISHED --terminate()--> TERMINATING --Terminate--> TERMINATED
 *   NEGOTIATING/ESTABLISHING --NegotiationReject, EstablishmentReject, Terminate,
 *     establish() timeout--> FAILED
 *   ESTABLISHED --exchange Terminate--> TERMINATED;  --TCP EOF, 3 silent keepalives--> CLOSED
 */
enum tkx_client_state {
	TKX_CLIENT_OPEN = 1,
	TKX_CLIENT_NEGOTIATING = 2,
	TKX_CLIENT_ESTABLISHING = 3,
	TKX_CLIENT_ESTABLISHED = 4,
	TKX_CLIENT_TERMINATING = 5,
	TKX_CLIENT_TERMINATED = 6, /* Terminate exchanged (either side) */
	TKX_CLIENT_FAILED = 7,     /* rejected or timed out: tkx_client_errstr() says why */
	TKX_CLIENT_CLOSED = 8,     /* transport lost: TCP closed, keepalive timeout */
};

struct tkx_client;

/* Allocate, create the socket, bind, connect (TCP: with connect_timeout_ms). 0 and *out,
 * or -EINVAL (cfg), -ENOTSUP (version), -ENOMEM, or the socket call's error. */
int tkx_client_open(struct tkx_client **out, const struct tkx_client_cfg *cfg);

/* Send Negotiate; *_poll() then drives Establish. 0, or -EALREADY when not OPEN. */
int tkx_client_start(struct tkx_client *c);

/* start() and poll until ESTABLISHED: 0; or -ECONNREFUSED (NegotiationReject or
 * EstablishmentReject, or ICMP unreachable and no answer), -ETIMEDOUT, -ECONNRESET (TCP
 * closed). Messages that arrive meanwhile stay queued for tkx_client_poll(). */
int tkx_client_establish(struct tkx_client *c, int timeout_ms);

/* Send Terminate FINISHED and wait for the exchange's Terminate (or TCP EOF): 0, or
 * -ETIMEDOUT (TERMINATED anyway), -ENOTCONN when not established. */
int tkx_client_terminate(struct tkx_client *c, int timeout_ms);

/* Terminate (without waiting) when ESTABLISHED, close the socket, free. NULL is a no-op. */
void tkx_client_close(struct tkx_client *c);

int tkx_client_state(const struct tkx_client *c);
uint64_t tkx_client_session_id(const struct tkx_client *c);
int tkx_client_fd(const struct tkx_client *c); /* for the caller's own poll/epoll */

/* Why the session failed or closed, e.g. "NegotiationReject: UnknownFirm (1)"; "" if it
 * did not. Returns the length written (truncated to len - 1). */
int tkx_client_errstr(const struct tkx_client *c, char *buf, size_t len);

/* ---- Order entry: requests --------------------------------------------------------- */

/*
 * Each assigns the next cl_ord_id (strictly increasing for the life of the client), checks
 * the request with tkx_validate() and queues or sends it. 0, or:
 *   -ENOTCONN not ESTABLISHED;  -EINVAL/-EBADMSG tkx_validate() refused it (nothing sent,
 *   no cl_ord_id used);  -ENOSPC order table full;  -ENOENT no such own order;  -EAGAIN
 *   the order has no ExecAck yet;  -ENOBUFS TCP send buffer full (poll, then retry);
 *   a send error (the messages count as sent: NotApplied will report them).
 */
int tkx_client_new_order(struct tkx_client *c, struct tkx_new_order *o); /* sets cl_ord_id */
/* Cancel / modify an order of this client by its own cl_ord_id; *cl_ord_id (may be NULL)
 * gets the request's. Modify's qty is the new remaining quantity (0 cancels). */
int tkx_client_cancel(struct tkx_client *c, uint64_t orig_cl_ord_id, uint64_t *cl_ord_id);
int tkx_client_modify(struct tkx_client *c, uint64_t orig_cl_ord_id, int64_t price,
		      uint32_t qty, uint64_t *cl_ord_id);
/* By exchange order id (e.g. orders of the firm's other sessions). Set cl_ord_id. */
int tkx_client_cancel_order(struct tkx_client *c, struct tkx_cancel_order *m);
int tkx_client_modify_order(struct tkx_client *c, struct tkx_modify_order *m);
int tkx_client_mass_cancel(struct tkx_client *c, struct tkx_mass_cancel *m);

/* Send what batching holds (one datagram per 1472 bytes, each led by its Sequence; TCP:
 * write the stream buffer; what the socket does not take waits for poll). 0, or the send
 * error (UDP: the datagram's numbers are used anyway; the exchange reports NotApplied). */
int tkx_client_flush(struct tkx_client *c);

/* ---- Order entry: events ----------------------------------------------------------- */

/* Kinds: 1-299 are the exchange message of that template id (msg holds it); these are the
 * library's own. */
enum tkx_client_ev_kind {
	TKX_CLIENT_EV_LOST = 1000, /* exchange messages [seq, seq + count) are not coming:
				    * RetransmitReject, retries spent, or window overflow */
	TKX_CLIENT_EV_CLOSED = 1001, /* transport lost; err: -ECONNRESET (TCP EOF), -ETIMEDOUT
				      * (3 silent exchange keepalives), -EPROTO (bad SOFH) */
};

#define TKX_CLIENT_EVF_RETRANSMITTED 0x01 /* filled a gap (answer to a RetransmitRequest) */
#define TKX_CLIENT_EVF_ORDER_DONE 0x02    /* the order left the local table with this event */

struct tkx_client_event {
	uint16_t kind;  /* template id, or enum tkx_client_ev_kind */
	uint8_t flags;  /* TKX_CLIENT_EVF_* */
	uint8_t reserved;
	int32_t err;    /* CLOSED: negative errno */
	uint64_t seq;   /* exchange outbound number of a numbered message, else 0; LOST: first */
	uint64_t count; /* LOST: how many */
	uint64_t rx_ns; /* CLOCK_MONOTONIC when its bytes arrived */
	struct tkx_msg msg; /* the decoded message (kind < 1000) */
};

/*
 * Send anything batched, read, service timers (heartbeat, retransmission, keepalive), and
 * return up to max events, in order: numbered exchange messages in their sequence order
 * without gaps or duplicates (a gap is requested and held until filled, or reported
 * LOST); an unnumbered one (the exchange's Terminate) after the numbered ones that
 * arrived before it, unless they wait behind a gap. Waits up to timeout_ms (0: don't wait, -1: until an event) for the first event.
 * Returns the count (0 on timeout), -EINVAL, or -ENOTCONN once the session is over
 * (TERMINATED, FAILED, CLOSED) and every event was taken.
 */
int tkx_client_poll(struct tkx_client *c, int timeout_ms, struct tkx_client_event *ev,
		    unsigned max);

/* ---- Order entry: local order table ------------------------------------------------ */

enum tkx_client_order_state {
	TKX_CLIENT_ORD_PENDING_NEW = 1, /* NewOrder sent, no ExecAck yet */
	TKX_CLIENT_ORD_LIVE = 2,        /* acked and working */
};

/* One own order, from NewOrder until it is done (filled, cancelled, rejected, or its
 * NewOrder reported NotApplied). 56 bytes. */
struct tkx_client_order {
	uint64_t cl_ord_id;      /* the NewOrder's: the key */
	uint64_t order_id;       /* from the ExecAck; 0 while PENDING_NEW */
	uint64_t pend_cl_ord_id; /* a cancel/modify in flight, else 0 */
	int64_t price;           /* current (after ModifyAck) */
	uint32_t qty;            /* as entered */
	uint32_t leaves;         /* still working */
	uint32_t cum_qty;        /* filled so far */
	uint32_t contract_id;
	uint32_t account;
	uint8_t side;
	uint8_t tif;
	uint8_t state;           /* enum tkx_client_order_state; 0 = free slot */
	uint8_t pend_template;   /* TKX_CANCEL_ORDER / TKX_MODIFY_ORDER of the pending request */
};

/* The order entered with cl_ord_id: 0, or -ENOENT (unknown or done). */
int tkx_client_order_get(const struct tkx_client *c, uint64_t cl_ord_id,
		     struct tkx_client_order *out);
/* Up to max orders of the table (unordered). Returns how many. */
int tkx_client_orders(const struct tkx_client *c, struct tkx_client_order *out, unsigned max);

/* ---- Order entry: counters --------------------------------------------------------- */

struct tkx_client_stats {
	/* *_dgrams: UDP datagrams; on TCP, send() calls and received frames. */
	uint64_t tx_msgs, tx_dgrams, tx_app, tx_heartbeats, tx_errors;
	uint64_t rx_msgs, rx_dgrams, rx_app, rx_heartbeats, rx_malformed;
	uint64_t gaps;             /* gaps found in the exchange's numbering */
	uint64_t retrans_requests; /* RetransmitRequests sent (retries included) */
	uint64_t retransmitted;    /* messages that filled a gap */
	uint64_t duplicates;       /* numbered messages seen before, dropped */
	uint64_t lost;             /* messages reported LOST */
	uint64_t not_applied;      /* our requests the exchange reported NotApplied */
	/* To resume the session in a new client: cfg.next_seq_no, last_in_seq, first_cl_ord_id. */
	uint64_t next_seq_no;      /* number of our next application message */
	uint64_t last_in_seq;      /* last exchange message delivered (or reported LOST) */
	uint64_t next_cl_ord_id;
	/* UDP datagrams dropped unread: no valid DatagramAuth under the session's key, or a
	 * counter not above the last one accepted (a forgery or a replay; protocol 4.13). */
	uint64_t rx_auth_dropped;
};

int tkx_client_stats_get(const struct tkx_client *c, struct tkx_client_stats *out);

/* ---- Market data subscriber -------------------------------------------------------- */

struct tkx_md_sub_cfg {
	uint32_t version;             /* TKX_CLIENT_API_VERSION */
	struct sockaddr_in group;     /* multicast group and port to join; a unicast address
				       * (e.g. 127.0.0.1, port 0 = ephemeral) is bound as is */
	struct in_addr iface;         /* interface address for IP_ADD_MEMBERSHIP (ANY: default) */
	struct sockaddr_in rerequest; /* gap re-request address; port 0: no re-requests */
	uint64_t first_seq;           /* 0: start at the first packet seen; n: expect n first */
	uint32_t rerequest_max;       /* messages per re-request */
	uint32_t rerequest_timeout_ms; /* re-send a re-request after this (also: how long a gap
					* waits for reordered packets when no re-request port) */
	uint32_t rerequest_retries;   /* ... this many times, then report the range LOST */
};

/* Defaults: version set, re-request 256 messages, 250 ms, 2 retries, first_seq 0. */
void tkx_md_sub_cfg_default(struct tkx_md_sub_cfg *cfg);

/* Kinds: 300-304 are the market-data message of that template id; these the library's. */
enum tkx_md_sub_ev_kind {
	TKX_MD_SUB_EV_LOST = 1000,    /* stream messages [seq, seq + count) are not coming */
	TKX_MD_SUB_EV_END = 1001,     /* end of session; seq = the number after the last */
	TKX_MD_SUB_EV_SESSION = 1002, /* a new session name (tkx_md_sub_session()); the
				       * numbering restarts */
};

#define TKX_MD_SUB_EVF_RECOVERED 0x01 /* arrived in answer to a re-request */

struct tkx_md_sub_event {
	uint16_t kind;  /* template id, or enum tkx_md_sub_ev_kind */
	uint8_t flags;  /* TKX_MD_SUB_EVF_* */
	uint8_t reserved[5];
	uint64_t seq;   /* stream sequence number; GapReject: 0 */
	uint64_t count; /* LOST: how many */
	uint64_t rx_ns; /* CLOCK_MONOTONIC */
	struct tkx_msg msg;
};

struct tkx_md_sub_stats {
	uint64_t packets, messages, heartbeats, malformed, stale;
	uint64_t gaps, rerequests, recovered, duplicates, lost, gap_rejects;
	uint64_t next_seq; /* the next stream number to deliver */
};

struct tkx_md_sub;

/* Allocate, bind (SO_REUSEADDR), join the group when it is multicast, open the re-request
 * socket. 0 and *out, or -EINVAL, -ENOTSUP, -ENOMEM, or the socket call's error. */
int tkx_md_sub_open(struct tkx_md_sub **out, const struct tkx_md_sub_cfg *cfg);
/* Read, re-request gaps, and return up to max events in stream order (LOST marks what
 * could not be recovered). Waits up to timeout_ms (0 no, -1 forever). Count or -EINVAL. */
int tkx_md_sub_poll(struct tkx_md_sub *s, int timeout_ms, struct tkx_md_sub_event *ev,
		    unsigned max);
/* The bound data address (e.g. the ephemeral port). 0 or -errno. */
int tkx_md_sub_addr(const struct tkx_md_sub *s, struct sockaddr_in *out);
/* The current session name, NUL-terminated, trailing spaces removed. Its length. */
int tkx_md_sub_session(const struct tkx_md_sub *s, char out[TKX_MD_SESSION_LEN + 1]);
/* fds[0] data, fds[1] re-request (-1 if none): for the caller's own poll. Returns 2. */
int tkx_md_sub_fds(const struct tkx_md_sub *s, int fds[2]);
int tkx_md_sub_stats_get(const struct tkx_md_sub *s, struct tkx_md_sub_stats *out);
void tkx_md_sub_close(struct tkx_md_sub *s);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_CLIENT_H */
