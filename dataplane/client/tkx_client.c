/*
 * tkx_client.c - libtokex-client (tokex/client.h): a market participant's order-entry
 * session over kernel UDP or TCP sockets, and a market-data subscriber.
 *
 * Role: runs on the client's thread, outside the appliance. It consumes the exchange's
 * datagrams / SOFH stream / market-data packets (decoded only through tokex/codec.h) and
 * produces tagged events in the exchange's sequence order; it produces the session layer
 * (Negotiate, Establish, Sequence heartbeats, RetransmitRequest, Terminate) and the four
 * requests with client-managed cl_ord_ids.
 *
 * Session states (struct tkx_client.state) and what moves each:
 *
 *   OPEN --tkx_client_start(): Negotiate--> NEGOTIATING --on_msg(NegotiationResponse):
 *   Establish--> ESTABLISHING --on_msg(EstablishmentAck)--> ESTABLISHED
 *   ESTABLISHED --tkx_client_terminate(): Terminate--> TERMINATING --on_msg(Terminate),
 *   TCP EOF--> TERMINATED
 *   NEGOTIATING / ESTABLISHING --on_msg(*Reject), establish() timeout: fail()--> FAILED
 *   ESTABLISHED --on_msg(Terminate)--> TERMINATED; --lose(): TCP EOF, bad SOFH, 3 silent
 *   exchange keepalives--> CLOSED
 *
 * Invariants:
 *  1. Outbound: every application message takes out_next++ exactly once, in send order;
 *     on UDP each datagram holding application messages starts with Sequence(number of
 *     its first one), so the exchange can number them (a datagram lost by send() shows as
 *     a gap the exchange reports with NotApplied). cl_ord_id is next_cl++, taken only once
 *     tkx_validate() and the buffer room have accepted the request.
 *  2. Inbound numbering: every exchange application message received while established
 *     gets its outbound number (UDP: from the datagram's leading Sequence or
 *     Retransmission; TCP: implicit, live_next or the Retransmission's range). Numbers
 *     below in_next are duplicates and dropped; others wait in the reorder window until
 *     every number before them was delivered or reported LOST. So events carry numbers
 *     in_next, in_next + 1, ... exactly once each; an unnumbered message (a Terminate, a
 *     NotApplied) comes after every numbered one that arrived before it, unless that one
 *     waits behind a gap (or the application left its queue nearly full).
 *  3. At most one RetransmitRequest is outstanding ([req_from, req_end), req_end 0 when
 *     none); it ends when in_next reaches req_end, on RetransmitReject, or after its
 *     retries (then the range is LOST via skip_to). The market-data re-request follows
 *     the same rule with GapReject for RetransmitReject.
 *  4. The local order table holds exactly the orders whose NewOrder was sent and that are
 *     not known done; it changes only when an event is delivered (in sequence order) or
 *     on NotApplied, so it always reflects a prefix of the exchange's outbound flow.
 *  5. Nothing allocates after open(); the event queue is only filled when it has room,
 *     and sockets are read only when a whole datagram's events fit (back-pressure is the
 *     kernel's socket buffer).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tokex/client.h"
#include "tokex/codec.h"

#define Q_SIZE 256u       /* event queue, power of two */
#define SENT_SIZE 1024u   /* our recent requests by number, for NotApplied */
#define IDX_BITS 13       /* order indexes: 2 x TKX_CLIENT_MAX_ORDERS slots */
#define IDX_SIZE (1u << IDX_BITS)
#define OBUF_CAP 16384u   /* UDP: one datagram is used; TCP: the stream's send buffer */
#define IBUF_CAP 4096u    /* TCP receive buffer: partial frames wait here */
#define RX_BURST 32       /* datagrams / reads per pass */
#define RX_NEED (TKX_DGRAM_MAX_MSGS + 2u) /* queue room needed to read one datagram */
#define MD_PKT_CAP 2048u
#define NS_PER_MS 1000000ull
#define NEG_KEYS 16u      /* keys of the Negotiates sent and not yet answered, newest kept */

_Static_assert((TKX_CLIENT_WINDOW & (TKX_CLIENT_WINDOW - 1)) == 0, "window: power of two");
_Static_assert(IDX_SIZE >= 2 * TKX_CLIENT_MAX_ORDERS, "order index load factor <= 1/2");
_Static_assert(sizeof(struct tkx_client_order) <= 64, "order entry: within a cache line");
_Static_assert(Q_SIZE > RX_NEED, "queue holds a datagram's events");

/* ---- Time and text ----------------------------------------------------------------- */

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Milliseconds from now to t (a monotonic deadline), rounded up; 0 if past. */
static int ms_until(uint64_t t, uint64_t now)
{
	uint64_t d;

	if (t <= now)
		return 0;
	d = (t - now + NS_PER_MS - 1) / NS_PER_MS;
	return d > INT32_MAX ? INT32_MAX : (int)d;
}

/* Time from t to now; 0 when t is later (stamped after `now` was read). */
static uint64_t since(uint64_t now, uint64_t t)
{
	return now > t ? now - t : 0;
}

/* The smaller of two poll waits where -1 means "forever". */
static int min_wait(int a, int b)
{
	if (a < 0)
		return b;
	if (b < 0)
		return a;
	return a < b ? a : b;
}

static void addr_text(const struct sockaddr_in *a, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];

	if (!inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip)))
		snprintf(ip, sizeof(ip), "?");
	snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
}

void tkx_client_cfg_default(struct tkx_client_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->version = TKX_CLIENT_API_VERSION;
	cfg->transport = TKX_CLIENT_UDP;
	cfg->cancel_on_disconnect = 1;
	cfg->exchange.sin_family = AF_INET;
	cfg->local.sin_family = AF_INET;
	cfg->next_seq_no = 1;
	cfg->first_cl_ord_id = 1;
	cfg->keepalive_ms = 1000;
	cfg->connect_timeout_ms = 3000;
	cfg->retry_ms = 250;
	cfg->retrans_timeout_ms = 500;
	cfg->retrans_retries = 2;
	cfg->retrans_max = 256;
}

int tkx_client_parse_addr(const char *s, uint16_t default_port, struct sockaddr_in *out)
{
	char host[256];
	const char *colon;
	unsigned long port = default_port;
	size_t hlen;

	if (!s || !out)
		return -EINVAL;
	colon = strrchr(s, ':');
	hlen = colon ? (size_t)(colon - s) : strlen(s);
	if (hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (colon) {
		char *end;

		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || port == 0 || port > 65535)
			return -EINVAL;
	}
	memset(out, 0, sizeof(*out));
	out->sin_family = AF_INET;
	out->sin_port = htons((uint16_t)port);
	if (hlen == 0) {
		out->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return 0;
	}
	if (inet_pton(AF_INET, host, &out->sin_addr) == 1)
		return 0;
	{
		struct addrinfo hints = { .ai_family = AF_INET }, *res = NULL;

		if (getaddrinfo(host, NULL, &hints, &res) != 0 || !res)
			return -ENOENT;
		out->sin_addr = ((const struct sockaddr_in *)(const void *)res->ai_addr)->sin_addr;
		freeaddrinfo(res);
	}
	return 0;
}

/* ---- The order-entry client -------------------------------------------------------- */

struct sent_req {
	uint64_t seq;            /* our outbound number; 0 = empty */
	uint64_t cl_ord_id;
	uint64_t orig_cl_ord_id; /* cancel/modify: the target order's own id */
	uint16_t template_id;
};

struct tkx_client {
	struct tkx_client_cfg cfg; /* cfg.secret is not kept: see secret[] */
	uint8_t secret[TKX_CLIENT_MAX_SECRET];
	int fd;
	int tcp;
	int state;
	int err;       /* negative errno of FAILED/CLOSED */
	int sock_err;  /* last asynchronous socket error (ICMP unreachable) */
	char errtxt[160];
	uint64_t session_id;
	/* UDP datagram authentication (protocol 4.13). The exchange's keys for the session
	 * are those of the last of our Negotiates it accepted: while we repeat Negotiate
	 * (each repeat has a new timestamp, so new keys) the answers may come under any of
	 * them. neg[] keeps the keys of each Negotiate sent since start(), newest last; auth
	 * is the newest an answer verified under, and only newer ones replace it. */
	int auth_on;        /* UDP and not cfg.no_udp_auth */
	int keyed;          /* auth holds the keys the exchange answered under */
	struct tkx_auth_keys auth;
	uint64_t auth_ts;   /* timestamp of the Negotiate auth came from */
	uint64_t auth_tx;   /* counter of the last datagram we sealed */
	uint64_t auth_rx;   /* highest exchange counter accepted */
	uint32_t n_neg;     /* Negotiates sent since start(); neg[n % NEG_KEYS] */
	uint64_t neg_ts[NEG_KEYS];
	struct tkx_auth_keys neg[NEG_KEYS];
	uint64_t last_neg_ts; /* our latest Negotiate's timestamp */
	size_t dgram_max;   /* what messages may fill of a datagram: room for the MAC */
	/* timers, CLOCK_MONOTONIC ns */
	uint64_t last_tx, last_rx, attempt_at;
	uint32_t ex_keepalive_ms;
	/* outbound (invariant 1) */
	uint64_t out_next;
	uint64_t next_cl;
	size_t olen;
	/* inbound (invariants 2, 3) */
	uint64_t in_next;   /* next number to deliver */
	uint64_t in_high;   /* one above the highest number known to exist */
	uint64_t skip_to;   /* numbers below this that are still missing are LOST */
	uint64_t live_next; /* TCP: number of the next live message */
	uint64_t retx_next; /* TCP: number of the next resent message ... */
	uint32_t retx_left; /* ... while this many follow a Retransmission */
	uint32_t req_tries;
	uint64_t req_from, req_end, req_at;
	uint64_t gap_mark;  /* end of the last gap counted: a gap asked for in parts counts once */
	size_t ilen;
	/* event queue: free-running indexes, masked */
	uint32_t q_head, q_tail;
	uint32_t n_free;
	struct tkx_client_stats st;
	uint64_t win_seq[TKX_CLIENT_WINDOW]; /* number held in win[i], 0 = empty */
	struct tkx_client_event win[TKX_CLIENT_WINDOW];
	struct tkx_client_event q[Q_SIZE];
	struct sent_req sent[SENT_SIZE];
	struct tkx_client_order ord[TKX_CLIENT_MAX_ORDERS];
	uint32_t free_list[TKX_CLIENT_MAX_ORDERS];
	uint32_t idx_cl[IDX_SIZE];  /* cl_ord_id -> ord index + 1 (0 empty); linear probing */
	uint32_t idx_oid[IDX_SIZE]; /* order_id -> ord index + 1, for acked orders */
	uint8_t obuf[OBUF_CAP];
	uint8_t ibuf[IBUF_CAP];
};

/* The exchange's numbered application messages: 200 up to the last of them. */
static int is_app(uint16_t tid)
{
	return tid >= TKX_EXEC_ACK && tid <= TKX_STOP_ELECTED;
}

static int established(const struct tkx_client *c)
{
	return c->state == TKX_CLIENT_ESTABLISHED || c->state == TKX_CLIENT_TERMINATING;
}

static int over(const struct tkx_client *c)
{
	return c->state == TKX_CLIENT_TERMINATED || c->state == TKX_CLIENT_FAILED ||
	       c->state == TKX_CLIENT_CLOSED;
}

__attribute__((format(printf, 4, 5))) static void fail(struct tkx_client *c, int state,
							int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errtxt, sizeof(c->errtxt), fmt, ap);
	va_end(ap);
	c->state = state;
	c->err = err;
}

/* ---- Local order table (invariant 4) ----------------------------------------------- */

static uint32_t hslot(uint64_t key)
{
	return (uint32_t)((key * 0x9E3779B97F4A7C15ull) >> (64 - IDX_BITS));
}

static uint64_t okey(const struct tkx_client *c, uint32_t oi, int by_oid)
{
	return by_oid ? c->ord[oi].order_id : c->ord[oi].cl_ord_id;
}

static int idx_find(const struct tkx_client *c, int by_oid, uint64_t key)
{
	const uint32_t *idx = by_oid ? c->idx_oid : c->idx_cl;
	uint32_t i;

	if (!key)
		return -1;
	for (i = hslot(key);; i = (i + 1) & (IDX_SIZE - 1)) {
		if (!idx[i])
			return -1;
		if (okey(c, idx[i] - 1, by_oid) == key)
			return (int)(idx[i] - 1);
	}
}

static void idx_add(struct tkx_client *c, int by_oid, uint32_t oi)
{
	uint32_t *idx = by_oid ? c->idx_oid : c->idx_cl;
	uint32_t i = hslot(okey(c, oi, by_oid));

	while (idx[i])
		i = (i + 1) & (IDX_SIZE - 1);
	idx[i] = oi + 1;
}

/* Linear-probing delete by backward shift: no tombstones, so probes stay short. */
static void idx_del(struct tkx_client *c, int by_oid, uint32_t oi)
{
	uint32_t *idx = by_oid ? c->idx_oid : c->idx_cl;
	uint32_t i = hslot(okey(c, oi, by_oid)), j, k;

	while (idx[i] != oi + 1) {
		if (!idx[i])
			return;
		i = (i + 1) & (IDX_SIZE - 1);
	}
	for (j = i;;) {
		j = (j + 1) & (IDX_SIZE - 1);
		if (!idx[j])
			break;
		k = hslot(okey(c, idx[j] - 1, by_oid));
		/* The entry at j may stay if its home k lies cyclically in (i, j]. */
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		idx[i] = idx[j];
		i = j;
	}
	idx[i] = 0;
}

static void ord_remove(struct tkx_client *c, uint32_t oi)
{
	idx_del(c, 0, oi);
	if (c->ord[oi].order_id)
		idx_del(c, 1, oi);
	memset(&c->ord[oi], 0, sizeof(c->ord[oi]));
	c->free_list[c->n_free++] = oi;
}

/* The order an exchange message is about: by order_id, else by the order's cl_ord_id.
 * An order found only by cl_ord_id adopts the order_id (its ExecAck was LOST). */
static int ord_lookup(struct tkx_client *c, uint64_t order_id, uint64_t cl_ord_id)
{
	int oi = idx_find(c, 1, order_id);

	if (oi >= 0)
		return oi;
	oi = idx_find(c, 0, cl_ord_id);
	if (oi >= 0 && !c->ord[oi].order_id && order_id) {
		c->ord[oi].order_id = order_id;
		c->ord[oi].state = TKX_CLIENT_ORD_LIVE;
		idx_add(c, 1, (uint32_t)oi);
	}
	return oi;
}

static void ord_done(struct tkx_client *c, int oi, struct tkx_client_event *ev)
{
	ord_remove(c, (uint32_t)oi);
	ev->flags |= TKX_CLIENT_EVF_ORDER_DONE;
}

static void ord_clear_pending(struct tkx_client *c, int oi, uint64_t cl_ord_id)
{
	if (c->ord[oi].pend_cl_ord_id == cl_ord_id) {
		c->ord[oi].pend_cl_ord_id = 0;
		c->ord[oi].pend_template = 0;
	}
}

/* Apply a delivered exchange message to the order table. */
static void ord_apply(struct tkx_client *c, struct tkx_client_event *ev)
{
	const struct tkx_msg *m = &ev->msg;
	int oi;

	switch (ev->kind) {
	case TKX_EXEC_ACK:
		oi = idx_find(c, 0, m->exec_ack.cl_ord_id);
		if (oi < 0 || c->ord[oi].order_id)
			break;
		c->ord[oi].order_id = m->exec_ack.order_id;
		c->ord[oi].state = TKX_CLIENT_ORD_LIVE;
		c->ord[oi].price = m->exec_ack.price;
		c->ord[oi].leaves = m->exec_ack.qty - c->ord[oi].cum_qty;
		if (m->exec_ack.order_id)
			idx_add(c, 1, (uint32_t)oi);
		break;
	case TKX_EXEC_REJECT:
		if (m->exec_reject.ref_template_id == TKX_NEW_ORDER) {
			oi = idx_find(c, 0, m->exec_reject.cl_ord_id);
			if (oi >= 0 && c->ord[oi].state == TKX_CLIENT_ORD_PENDING_NEW)
				ord_done(c, oi, ev);
		} else if (m->exec_reject.ref_template_id == TKX_CANCEL_ORDER ||
			   m->exec_reject.ref_template_id == TKX_MODIFY_ORDER) {
			oi = idx_find(c, 1, m->exec_reject.order_id);
			if (oi < 0)
				break;
			ord_clear_pending(c, oi, m->exec_reject.cl_ord_id);
			if (m->exec_reject.reason == TKX_REJ_UNKNOWN_ORDER)
				ord_done(c, oi, ev); /* not live at the exchange: it is done */
		}
		break;
	case TKX_FILL:
		oi = ord_lookup(c, m->fill.order_id, m->fill.cl_ord_id);
		if (oi < 0)
			break;
		c->ord[oi].cum_qty += m->fill.qty;
		c->ord[oi].leaves = m->fill.leaves_qty;
		if (!m->fill.leaves_qty)
			ord_done(c, oi, ev);
		break;
	case TKX_CANCELLED:
		oi = ord_lookup(c, m->cancelled.order_id, m->cancelled.orig_cl_ord_id);
		if (oi >= 0)
			ord_done(c, oi, ev);
		break;
	case TKX_MODIFY_ACK:
		oi = idx_find(c, 1, m->modify_ack.order_id);
		if (oi < 0)
			break;
		c->ord[oi].price = m->modify_ack.price;
		c->ord[oi].leaves = m->modify_ack.qty;
		ord_clear_pending(c, oi, m->modify_ack.cl_ord_id);
		break;
	default:
		break;
	}
}

/* NotApplied: our requests numbered [from, from + count) were never applied. */
static void ord_not_applied(struct tkx_client *c, uint64_t from, uint64_t count)
{
	uint64_t s = count > SENT_SIZE ? from + count - SENT_SIZE : from;

	for (; s < from + count; s++) {
		const struct sent_req *r = &c->sent[s & (SENT_SIZE - 1)];
		int oi;

		if (r->seq != s)
			continue;
		if (r->template_id == TKX_NEW_ORDER) {
			oi = idx_find(c, 0, r->cl_ord_id);
			if (oi >= 0 && c->ord[oi].state == TKX_CLIENT_ORD_PENDING_NEW)
				ord_remove(c, (uint32_t)oi);
		} else if (r->orig_cl_ord_id) {
			oi = idx_find(c, 0, r->orig_cl_ord_id);
			if (oi >= 0)
				ord_clear_pending(c, oi, r->cl_ord_id);
		}
	}
}

/* ---- Event queue and reorder window (invariant 2) ---------------------------------- */

static uint32_t q_room(const struct tkx_client *c)
{
	return Q_SIZE - (c->q_tail - c->q_head);
}

/* Into the queue, applying it to the order table on the way. The caller checked room. */
static void deliver(struct tkx_client *c, const struct tkx_client_event *ev)
{
	struct tkx_client_event *q = &c->q[c->q_tail++ & (Q_SIZE - 1)];

	*q = *ev;
	ord_apply(c, q);
}

static void push_simple(struct tkx_client *c, uint16_t kind, int err, uint64_t seq,
			uint64_t count)
{
	struct tkx_client_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.err = err;
	ev.seq = seq;
	ev.count = count;
	ev.rx_ns = mono_ns();
	deliver(c, &ev);
}

static int win_has(const struct tkx_client *c, uint64_t seq)
{
	return c->win_seq[seq & (TKX_CLIENT_WINDOW - 1)] == seq;
}

/* Move what is next in order into the queue, leaving keep places free; report LOST runs
 * below skip_to. */
static void release_to(struct tkx_client *c, unsigned keep)
{
	while (q_room(c) > keep) {
		uint32_t i = (uint32_t)(c->in_next & (TKX_CLIENT_WINDOW - 1));

		if (c->win_seq[i] == c->in_next) {
			c->win_seq[i] = 0;
			deliver(c, &c->win[i]);
			c->in_next++;
			continue;
		}
		if (c->in_next < c->skip_to) {
			uint64_t n = 1;

			while (c->in_next + n < c->skip_to && !win_has(c, c->in_next + n))
				n++;
			push_simple(c, TKX_CLIENT_EV_LOST, 0, c->in_next, n);
			c->st.lost += n;
			c->in_next += n;
			continue;
		}
		break;
	}
	if (c->in_high < c->in_next)
		c->in_high = c->in_next;
	if (c->req_end && c->in_next >= c->req_end)
		c->req_end = 0; /* the request is answered (invariant 3) */
}

static void release(struct tkx_client *c)
{
	release_to(c, 0);
}

static void store_numbered(struct tkx_client *c, struct tkx_client_event *ev)
{
	uint64_t seq = ev->seq;

	if (seq < c->in_next) {
		c->st.duplicates++;
		return;
	}
	if (seq >= c->in_next + TKX_CLIENT_WINDOW) {
		/* Too far ahead to hold: give up on the oldest missing numbers. */
		if (c->skip_to < seq - TKX_CLIENT_WINDOW + 1)
			c->skip_to = seq - TKX_CLIENT_WINDOW + 1;
		release(c);
		if (seq >= c->in_next + TKX_CLIENT_WINDOW)
			return; /* the queue is full: it comes back as a gap */
	}
	if (win_has(c, seq)) {
		c->st.duplicates++;
		return;
	}
	if (c->req_end && seq >= c->req_from && seq < c->req_end) {
		ev->flags |= TKX_CLIENT_EVF_RETRANSMITTED;
		c->st.retransmitted++;
	}
	c->win[seq & (TKX_CLIENT_WINDOW - 1)] = *ev;
	c->win_seq[seq & (TKX_CLIENT_WINDOW - 1)] = seq;
	if (c->in_high < seq + 1)
		c->in_high = seq + 1;
}

static void reset_inbound(struct tkx_client *c, uint64_t next)
{
	memset(c->win_seq, 0, sizeof(c->win_seq));
	c->in_next = c->in_high = next;
	c->skip_to = 0;
	c->req_end = 0;
	c->gap_mark = 0;
}

/* ---- Output ------------------------------------------------------------------------ */

/* Whether every message of a datagram is one of two templates (headers only). */
static int dgram_only(const uint8_t *p, size_t len, uint16_t t1, uint16_t t2)
{
	size_t off = 0;

	while (off < len) {
		struct tkx_hdr h;

		if (len - off < TKX_HDR_LEN)
			return 0;
		memcpy(&h, p + off, sizeof(h));
		if (h.template_id != t1 && h.template_id != t2)
			return 0;
		off += TKX_HDR_LEN + (size_t)h.block_length;
	}
	return off == len;
}

static int send_raw(struct tkx_client *c, const void *buf, size_t len)
{
	uint8_t sealed[TKX_MAX_DGRAM];
	ssize_t n;

	/* Negotiate and Establish are signed by themselves and go as they are: the exchange
	 * may not have our keys (a Negotiate it never got). Everything else is sealed. */
	if (!c->tcp && c->keyed && !dgram_only(buf, len, TKX_NEGOTIATE, TKX_ESTABLISH)) {
		int r;

		if (len > sizeof(sealed) - TKX_AUTH_LEN)
			return -EMSGSIZE;
		memcpy(sealed, buf, len);
		r = tkx_auth_seal(c->auth.c2e, ++c->auth_tx, sealed, len, sizeof(sealed));
		if (r < 0)
			return r;
		buf = sealed;
		len = (size_t)r;
	}
	n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (n < 0) {
		int e = errno;

		c->st.tx_errors++;
		if (e == ECONNREFUSED)
			c->sock_err = e;
		return -e;
	}
	c->st.tx_dgrams++;
	c->last_tx = mono_ns();
	return (int)n;
}

static void lose(struct tkx_client *c, int err, const char *why);

/* TCP: write what the stream buffer holds; keep the rest for POLLOUT. */
static int flush_tcp(struct tkx_client *c)
{
	size_t off = 0;
	int r = 0;

	while (off < c->olen) {
		ssize_t n = send(c->fd, c->obuf + off, c->olen - off, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				r = -errno;
				c->st.tx_errors++;
				lose(c, -ECONNRESET, "TCP send failed");
			}
			break;
		}
		off += (size_t)n;
		c->st.tx_dgrams++;
		c->last_tx = mono_ns();
	}
	if (off) {
		memmove(c->obuf, c->obuf + off, c->olen - off);
		c->olen -= off;
	}
	return r;
}

static int flush_out(struct tkx_client *c)
{
	int r;

	if (!c->olen)
		return 0;
	if (c->tcp)
		return flush_tcp(c);
	r = send_raw(c, c->obuf, c->olen);
	c->olen = 0; /* sent or not, its numbers are used: NotApplied reports a loss */
	return r < 0 ? r : 0;
}

/* Room for one more message of len bytes without flushing (TCP: SOFH included). */
static int out_room(struct tkx_client *c, size_t len)
{
	if (!c->tcp)
		return 1;
	if (OBUF_CAP - c->olen >= len + TKX_SOFH_LEN)
		return 1;
	flush_tcp(c);
	return OBUF_CAP - c->olen >= len + TKX_SOFH_LEN;
}

/* Append one encoded message. UDP application messages go into the pending datagram after
 * its Sequence; UDP session messages go alone, after what is pending. */
static int out_msg(struct tkx_client *c, const uint8_t *msg, int len, int app)
{
	c->st.tx_msgs++;
	if (c->tcp) {
		if (!out_room(c, (size_t)len))
			return -ENOBUFS;
		tkx_sofh_encode(c->obuf + c->olen, OBUF_CAP - c->olen, (size_t)len);
		memcpy(c->obuf + c->olen + TKX_SOFH_LEN, msg, (size_t)len);
		c->olen += TKX_SOFH_LEN + (size_t)len;
		if (app)
			c->out_next++;
		return 0;
	}
	if (!app) {
		int r = flush_out(c);

		if (r < 0)
			return r;
		r = send_raw(c, msg, (size_t)len);
		return r < 0 ? r : 0;
	}
	if (c->olen && c->olen + (size_t)len > c->dgram_max)
		flush_out(c);
	if (!c->olen) {
		struct tkx_sequence sq = { .next_seq_no = c->out_next };

		c->olen = (size_t)tkx_enc_sequence(c->obuf, TKX_MAX_DGRAM, &sq);
		c->st.tx_msgs++;
	}
	memcpy(c->obuf + c->olen, msg, (size_t)len);
	c->olen += (size_t)len;
	c->out_next++;
	return 0;
}

/* A session-layer message, sent now. */
static int send_session(struct tkx_client *c, const uint8_t *msg, int len)
{
	int r = out_msg(c, msg, len, 0);

	if (r == 0 && c->tcp)
		r = flush_tcp(c);
	return r;
}

static int send_negotiate(struct tkx_client *c)
{
	struct tkx_negotiate n = {
		.session_id = c->session_id,
		.timestamp = real_ns(),
		.firm_id = c->cfg.firm_id,
	};
	uint8_t b[TKX_MAX_MSG_LEN];
	int len = tkx_enc_negotiate(b, sizeof(b), &n), r;

	r = tkx_sign(c->secret, c->cfg.secret_len, b, (size_t)len);
	if (r < 0)
		return r;
	if (c->auth_on) {
		/* New keys; the exchange adopts them if and when it accepts this Negotiate. */
		uint32_t i = c->n_neg % NEG_KEYS;

		r = tkx_auth_derive(c->secret, c->cfg.secret_len, n.session_id, n.firm_id,
				    n.timestamp, &c->neg[i]);
		if (r < 0)
			return r;
		c->neg_ts[i] = n.timestamp;
		c->n_neg++;
	}
	c->last_neg_ts = n.timestamp;
	c->attempt_at = mono_ns();
	return send_session(c, b, len);
}

static int send_establish(struct tkx_client *c)
{
	struct tkx_establish e = {
		.session_id = c->session_id,
		.timestamp = real_ns(),
		.next_seq_no = c->out_next,
		.keepalive_ms = c->cfg.keepalive_ms,
		.cancel_on_disconnect = c->cfg.cancel_on_disconnect ? 1 : 0,
	};
	uint8_t b[TKX_MAX_MSG_LEN];
	int len = tkx_enc_establish(b, sizeof(b), &e), r;

	r = tkx_sign(c->secret, c->cfg.secret_len, b, (size_t)len);
	if (r < 0)
		return r;
	c->attempt_at = mono_ns();
	return send_session(c, b, len);
}

static void send_retransmit_request(struct tkx_client *c, uint64_t from, uint64_t count)
{
	struct tkx_retransmit_request rr = {
		.session_id = c->session_id,
		.timestamp = real_ns(),
		.from_seq_no = from,
		.count = (uint32_t)count,
	};
	uint8_t b[TKX_MAX_MSG_LEN];
	int len = tkx_enc_retransmit_request(b, sizeof(b), &rr);

	c->st.retrans_requests++;
	c->req_at = mono_ns();
	send_session(c, b, len);
}

static int send_terminate(struct tkx_client *c, uint16_t reason)
{
	struct tkx_terminate t = { .session_id = c->session_id, .reason = reason };
	uint8_t b[TKX_MAX_MSG_LEN];
	int len = tkx_enc_terminate(b, sizeof(b), &t);

	flush_out(c);
	return send_session(c, b, len);
}

static void send_heartbeat(struct tkx_client *c)
{
	struct tkx_sequence sq = { .next_seq_no = c->out_next };
	uint8_t b[TKX_MAX_MSG_LEN];
	int len;

	c->st.tx_heartbeats++;
	if (!c->tcp && c->olen) {
		flush_out(c); /* the pending datagram starts with the same Sequence */
		return;
	}
	len = tkx_enc_sequence(b, sizeof(b), &sq);
	send_session(c, b, len);
}

/* ---- Inbound ----------------------------------------------------------------------- */

static void lose(struct tkx_client *c, int err, const char *why)
{
	int was = c->state;

	if (over(c))
		return;
	if (was == TKX_CLIENT_TERMINATING && err == -ECONNRESET) {
		c->state = TKX_CLIENT_TERMINATED; /* the exchange closes after its Terminate */
		return;
	}
	fail(c, was == TKX_CLIENT_NEGOTIATING || was == TKX_CLIENT_ESTABLISHING ?
			TKX_CLIENT_FAILED : TKX_CLIENT_CLOSED,
	     err, "%s", why);
	if (q_room(c))
		push_simple(c, TKX_CLIENT_EV_CLOSED, err, 0, 0);
}

/* The request window is satisfied, refused or expired: continue with the next gap. */
static void check_gap(struct tkx_client *c)
{
	uint64_t n = 1, max = c->cfg.retrans_max;

	if (c->state != TKX_CLIENT_ESTABLISHED || c->req_end)
		return;
	if (c->in_next >= c->in_high || win_has(c, c->in_next) || c->in_next < c->skip_to)
		return;
	while (c->in_next + n < c->in_high && !win_has(c, c->in_next + n) &&
	       n < TKX_CLIENT_WINDOW)
		n++;
	if (c->in_next >= c->gap_mark)
		c->st.gaps++;
	/* A run longer than the window is taken as one gap up to everything known. */
	c->gap_mark = n < TKX_CLIENT_WINDOW ? c->in_next + n : c->in_high;
	if (max > TKX_CLIENT_WINDOW)
		max = TKX_CLIENT_WINDOW;
	if (n > max)
		n = max; /* the venue's limit per request: the rest is asked for next */
	c->req_from = c->in_next;
	c->req_end = c->in_next + n;
	c->req_tries = 0;
	send_retransmit_request(c, c->in_next, n);
}

static void seen_next(struct tkx_client *c, uint64_t next)
{
	if (c->in_high < next)
		c->in_high = next;
}

/* One decoded message with its outbound number (0: unnumbered). */
static void on_msg(struct tkx_client *c, const struct tkx_msg *m, uint64_t seq, uint64_t now)
{
	struct tkx_client_event ev;
	uint16_t tid = m->template_id;

	memset(&ev, 0, sizeof(ev));
	ev.kind = tid;
	ev.seq = seq;
	ev.rx_ns = now;
	ev.msg = *m;
	c->last_rx = now;
	/* What came before an unnumbered message and is next in order goes first: a reply
	 * read in the same pass is never overtaken by the Terminate after it (invariant 2),
	 * as far as the queue has room beyond what this datagram may need (invariant 5). */
	if (!seq)
		release_to(c, RX_NEED);

	switch (tid) {
	case TKX_NEGOTIATION_RESPONSE:
		if (c->state != TKX_CLIENT_NEGOTIATING ||
		    m->negotiation_response.session_id != c->session_id)
			return; /* an answer to a repeated Negotiate: already past it */
		c->state = TKX_CLIENT_ESTABLISHING;
		send_establish(c);
		break;
	case TKX_NEGOTIATION_REJECT:
		/* A repeated Negotiate's refusal (an older one arriving late is refused
		 * STALE_TIMESTAMP) ends nothing while the latest is still unanswered. */
		if (c->state != TKX_CLIENT_NEGOTIATING ||
		    m->negotiation_reject.session_id != c->session_id ||
		    m->negotiation_reject.request_timestamp != c->last_neg_ts)
			return;
		fail(c, TKX_CLIENT_FAILED, -ECONNREFUSED, "NegotiationReject: %s (%u)",
		     tkx_session_reject_name(m->negotiation_reject.reason),
		     (unsigned)m->negotiation_reject.reason);
		break;
	case TKX_ESTABLISHMENT_ACK: {
		const struct tkx_establishment_ack *a = &m->establishment_ack;

		if (c->state != TKX_CLIENT_ESTABLISHING || a->session_id != c->session_id)
			return;
		c->state = TKX_CLIENT_ESTABLISHED;
		c->out_next = a->expected_seq_no; /* protocol 4.5: continue from it */
		c->ex_keepalive_ms = a->keepalive_ms;
		if (a->next_seq_no < c->in_next)
			reset_inbound(c, a->next_seq_no); /* the exchange forgot the session */
		seen_next(c, a->next_seq_no);
		c->live_next = a->next_seq_no;
		c->retx_left = 0;
		c->last_tx = now; /* the keepalive contract starts now */
		break;
	}
	case TKX_ESTABLISHMENT_REJECT:
		if (c->state != TKX_CLIENT_ESTABLISHING ||
		    m->establishment_reject.session_id != c->session_id)
			return;
		fail(c, TKX_CLIENT_FAILED, -ECONNREFUSED, "EstablishmentReject: %s (%u)",
		     tkx_session_reject_name(m->establishment_reject.reason),
		     (unsigned)m->establishment_reject.reason);
		break;
	case TKX_NOT_APPLIED:
		c->st.not_applied += m->not_applied.count;
		ord_not_applied(c, m->not_applied.from_seq_no, m->not_applied.count);
		/* The exchange now expects from + count. Our numbering is already there (the
		 * range ends at a number we sent, or at our Establish's next_seq_no, which the
		 * ack's expected_seq_no carries); an exchange that acked with the number before
		 * the range (tokex before protocol 4.5 said so) is followed here too. */
		if (c->out_next < m->not_applied.from_seq_no + m->not_applied.count)
			c->out_next = m->not_applied.from_seq_no + m->not_applied.count;
		break;
	case TKX_RETRANSMISSION:
		break;
	case TKX_RETRANSMIT_REJECT:
		if (c->req_end) {
			if (c->skip_to < c->req_end)
				c->skip_to = c->req_end;
			c->req_end = 0;
		}
		break;
	case TKX_TERMINATE:
		if (m->terminate.session_id != c->session_id || c->state == TKX_CLIENT_OPEN ||
		    over(c))
			return;
		if (c->state == TKX_CLIENT_TERMINATING)
			c->state = TKX_CLIENT_TERMINATED;
		else
			fail(c, established(c) ? TKX_CLIENT_TERMINATED : TKX_CLIENT_FAILED,
			     -ECONNRESET, "Terminate: %s (%u)",
			     tkx_terminate_reason_name(m->terminate.reason),
			     (unsigned)m->terminate.reason);
		break;
	default:
		if (!is_app(tid)) {
			c->st.rx_malformed++; /* not a template the exchange sends */
			return;
		}
		c->st.rx_app++;
		if (seq) {
			store_numbered(c, &ev);
			return;
		}
		break;
	}
	if (q_room(c))
		deliver(c, &ev);
}

/*
 * An exchange datagram's DatagramAuth: the length of its messages, or -ENOENT (none) or
 * -EACCES (it does not verify, or replays). Under the keys in use; else under the keys of
 * a later Negotiate of ours, which the exchange has since accepted: those become the keys
 * in use, with their counters from the start.
 */
static int open_dgram(struct tkx_client *c, const uint8_t *buf, size_t len)
{
	uint64_t ctr;
	int r = -EACCES;
	uint32_t k;

	if (c->keyed) {
		r = tkx_auth_open(c->auth.e2c, buf, len, &ctr);
		if (r >= 0) {
			if (ctr <= c->auth_rx)
				return -EACCES;
			c->auth_rx = ctr;
			return r;
		}
		if (r == -ENOENT)
			return r;
	}
	for (k = c->n_neg > NEG_KEYS ? c->n_neg - NEG_KEYS : 0; k < c->n_neg; k++) {
		uint32_t i = k % NEG_KEYS;

		if (c->keyed && c->neg_ts[i] <= c->auth_ts)
			continue;
		r = tkx_auth_open(c->neg[i].e2c, buf, len, &ctr);
		if (r == -ENOENT)
			return r;
		if (r >= 0) {
			c->auth = c->neg[i];
			c->auth_ts = c->neg_ts[i];
			c->keyed = 1;
			c->auth_tx = 0;
			c->auth_rx = ctr;
			return r;
		}
	}
	return -EACCES;
}

/* UDP: one datagram (protocol 3.1). */
static void rx_dgram(struct tkx_client *c, const uint8_t *buf, size_t len, uint64_t now)
{
	struct tkx_dgram_iter it;
	struct tkx_msg m;
	uint64_t cur = 0;
	int numbered = 0, r;

	if (c->auth_on && c->n_neg) {
		r = open_dgram(c, buf, len);
		if (r >= 0) {
			len = (size_t)r;
		} else if (r != -ENOENT || c->state == TKX_CLIENT_ESTABLISHED ||
			   !dgram_only(buf, len, TKX_NEGOTIATION_REJECT, TKX_ESTABLISHMENT_REJECT)) {
			/* Forged, replayed, or not for our keys. Only the refusal of a logon
			 * comes unsealed: the exchange has no keys for an address it refused. */
			c->st.rx_auth_dropped++;
			return;
		}
	}
	c->st.rx_dgrams++;
	tkx_dgram_init(&it, buf, len);
	while ((r = tkx_dgram_next(&it, &m)) > 0) {
		c->st.rx_msgs++;
		if (m.template_id == TKX_SEQUENCE) {
			cur = m.sequence.next_seq_no;
			numbered = 1;
			c->last_rx = now;
			seen_next(c, cur);
			if (it.off == len && it.count == 1)
				c->st.rx_heartbeats++;
			continue;
		}
		if (m.template_id == TKX_RETRANSMISSION &&
		    m.retransmission.session_id == c->session_id) {
			cur = m.retransmission.next_seq_no;
			numbered = 1;
		}
		on_msg(c, &m, is_app(m.template_id) && numbered && established(c) ? cur++ : 0,
		       now);
	}
	if (r < 0)
		c->st.rx_malformed++; /* the rest of the datagram is dropped (protocol 7.1) */
}

/* TCP: complete frames in ibuf; numbering is implicit (protocol 3.2). */
static void rx_stream(struct tkx_client *c, uint64_t now)
{
	size_t off = 0;

	while (off < c->ilen && q_room(c) >= 2 && !over(c)) {
		struct tkx_msg m;
		int r = tkx_decode_frame(c->ibuf + off, c->ilen - off, &m);
		uint64_t seq = 0;

		if (r == 0)
			break;
		if (r < 0) {
			int flen = tkx_sofh_next(c->ibuf + off, c->ilen - off);

			if (flen <= 0) {
				lose(c, -EPROTO, "bad SOFH from the exchange: stream lost");
				break;
			}
			c->st.rx_malformed++; /* a bad message in a good frame: skip it */
			off += (size_t)flen;
			continue;
		}
		off += (size_t)r;
		c->st.rx_msgs++;
		c->st.rx_dgrams++;
		switch (m.template_id) {
		case TKX_SEQUENCE:
			c->st.rx_heartbeats++;
			c->last_rx = now;
			seen_next(c, m.sequence.next_seq_no);
			if (c->live_next < m.sequence.next_seq_no)
				c->live_next = m.sequence.next_seq_no;
			continue;
		case TKX_RETRANSMISSION:
			if (m.retransmission.session_id == c->session_id) {
				c->retx_next = m.retransmission.next_seq_no;
				c->retx_left = m.retransmission.count;
			}
			break;
		default:
			if (is_app(m.template_id) && established(c)) {
				if (c->retx_left) {
					seq = c->retx_next++;
					c->retx_left--;
				} else {
					seq = c->live_next++;
				}
			}
			break;
		}
		on_msg(c, &m, seq, now);
	}
	if (off) {
		memmove(c->ibuf, c->ibuf + off, c->ilen - off);
		c->ilen -= off;
	}
}

static void rx_burst(struct tkx_client *c, uint64_t now)
{
	uint8_t buf[TKX_MAX_DGRAM + 64];
	int i;

	if (c->state == TKX_CLIENT_OPEN || over(c))
		return;
	for (i = 0; i < RX_BURST && q_room(c) >= RX_NEED && !over(c); i++) {
		ssize_t n;

		if (c->tcp) {
			if (c->ilen == IBUF_CAP)
				break; /* whole frames wait for queue room */
			n = recv(c->fd, c->ibuf + c->ilen, IBUF_CAP - c->ilen, MSG_DONTWAIT);
			if (n == 0) {
				rx_stream(c, now);
				lose(c, -ECONNRESET, "the exchange closed the TCP connection");
				return;
			}
		} else {
			n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED) { /* ICMP unreachable for an earlier send */
				c->sock_err = ECONNREFUSED;
				continue;
			}
			if (errno != EAGAIN && errno != EWOULDBLOCK && c->tcp)
				lose(c, -ECONNRESET, "TCP receive failed");
			return;
		}
		if (c->tcp) {
			c->ilen += (size_t)n;
			rx_stream(c, now);
		} else if (n == 0 || (size_t)n > TKX_MAX_DGRAM) {
			c->st.rx_malformed++; /* empty or oversized: dropped whole */
		} else {
			rx_dgram(c, buf, (size_t)n, now);
		}
	}
	if (c->tcp && c->ilen)
		rx_stream(c, now); /* frames left when the queue was full */
}

/* ---- Timers ------------------------------------------------------------------------ */

static uint32_t ex_keepalive(const struct tkx_client *c)
{
	return c->ex_keepalive_ms ? c->ex_keepalive_ms : c->cfg.keepalive_ms;
}

static void timers(struct tkx_client *c, uint64_t now)
{
	switch (c->state) {
	case TKX_CLIENT_NEGOTIATING:
	case TKX_CLIENT_ESTABLISHING:
		/* UDP may lose either; a repeat carries a fresh timestamp and credential. */
		if (!c->tcp && since(now, c->attempt_at) >= c->cfg.retry_ms * NS_PER_MS) {
			if (c->state == TKX_CLIENT_NEGOTIATING)
				send_negotiate(c);
			else
				send_establish(c);
		}
		break;
	case TKX_CLIENT_ESTABLISHED:
		if (since(now, c->last_rx) > 3ull * ex_keepalive(c) * NS_PER_MS) {
			char t[128];

			snprintf(t, sizeof(t),
				 "nothing from the exchange for 3 keepalive intervals (%u ms)",
				 ex_keepalive(c));
			lose(c, -ETIMEDOUT, t);
			return;
		}
		if (c->req_end && since(now, c->req_at) >= c->cfg.retrans_timeout_ms * NS_PER_MS) {
			if (c->req_tries < c->cfg.retrans_retries) {
				c->req_tries++;
				send_retransmit_request(c, c->in_next, c->req_end - c->in_next);
			} else {
				if (c->skip_to < c->req_end)
					c->skip_to = c->req_end;
				c->req_end = 0;
				release(c);
			}
		}
		check_gap(c);
		if (since(now, c->last_tx) >= c->cfg.keepalive_ms * NS_PER_MS)
			send_heartbeat(c);
		break;
	default:
		break;
	}
}

/* How long poll() may sleep before a timer is due; -1 when none is armed. */
static int timer_wait(const struct tkx_client *c, uint64_t now)
{
	int w = -1;

	switch (c->state) {
	case TKX_CLIENT_NEGOTIATING:
	case TKX_CLIENT_ESTABLISHING:
		if (!c->tcp)
			w = ms_until(c->attempt_at + c->cfg.retry_ms * NS_PER_MS, now);
		break;
	case TKX_CLIENT_ESTABLISHED:
		w = ms_until(c->last_tx + c->cfg.keepalive_ms * NS_PER_MS, now);
		w = min_wait(w, ms_until(c->last_rx + (3ull * ex_keepalive(c) + 1) * NS_PER_MS,
					 now));
		if (c->req_end)
			w = min_wait(w, ms_until(c->req_at + c->cfg.retrans_timeout_ms * NS_PER_MS,
						 now));
		break;
	default:
		break;
	}
	return w;
}

/* Wait up to wait_ms for input (less if a timer is due), then read, run timers, release. */
static void pump(struct tkx_client *c, int wait_ms)
{
	uint64_t now = mono_ns();

	wait_ms = min_wait(wait_ms, timer_wait(c, now));
	if (wait_ms != 0) {
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		if (c->tcp && c->olen)
			p.events |= POLLOUT;
		if (q_room(c) < RX_NEED || over(c))
			p.events = 0; /* nothing to read into: just sleep */
		poll(&p, 1, wait_ms);
		now = mono_ns();
	}
	if (c->tcp && c->olen)
		flush_tcp(c);
	rx_burst(c, now);
	timers(c, now);
	release(c);
}

/* ---- Life cycle -------------------------------------------------------------------- */

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
}

static int tcp_connect(struct tkx_client *c)
{
	struct pollfd p = { .fd = c->fd, .events = POLLOUT };
	int one = 1, soerr = 0, r;
	socklen_t sl = sizeof(soerr);

	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)(const void *)&c->cfg.exchange,
		    sizeof(c->cfg.exchange)) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return -errno;
	r = poll(&p, 1, (int)c->cfg.connect_timeout_ms);
	if (r == 0)
		return -ETIMEDOUT;
	if (r < 0)
		return -errno;
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		return -errno;
	return -soerr;
}

int tkx_client_open(struct tkx_client **out, const struct tkx_client_cfg *cfg)
{
	struct tkx_client *c;
	int r, type;
	uint32_t i;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	if (cfg->version != TKX_CLIENT_API_VERSION)
		return -ENOTSUP;
	if ((cfg->transport != TKX_CLIENT_UDP && cfg->transport != TKX_CLIENT_TCP) ||
	    !cfg->secret || cfg->secret_len == 0 || cfg->secret_len > TKX_CLIENT_MAX_SECRET ||
	    cfg->exchange.sin_family != AF_INET || cfg->exchange.sin_port == 0 ||
	    cfg->keepalive_ms == 0 || cfg->retrans_max == 0 || cfg->next_seq_no == 0 ||
	    cfg->first_cl_ord_id == 0)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cfg = *cfg;
	memcpy(c->secret, cfg->secret, cfg->secret_len);
	c->cfg.secret = NULL;
	c->tcp = cfg->transport == TKX_CLIENT_TCP;
	c->auth_on = !c->tcp && !cfg->no_udp_auth;
	c->dgram_max = TKX_MAX_DGRAM - (c->auth_on ? TKX_AUTH_LEN : 0);
	c->state = TKX_CLIENT_OPEN;
	c->session_id = cfg->session_id ? cfg->session_id : real_ns();
	c->out_next = cfg->next_seq_no;
	c->next_cl = cfg->first_cl_ord_id;
	reset_inbound(c, cfg->last_in_seq + 1);
	for (i = 0; i < TKX_CLIENT_MAX_ORDERS; i++)
		c->free_list[i] = TKX_CLIENT_MAX_ORDERS - 1 - i;
	c->n_free = TKX_CLIENT_MAX_ORDERS;

	type = (c->tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC;
	c->fd = socket(AF_INET, type, 0);
	if (c->fd < 0) {
		r = -errno;
		free(c);
		return r;
	}
	{
		struct sockaddr_in local = cfg->local;

		local.sin_family = AF_INET;
		if (bind(c->fd, (const struct sockaddr *)(const void *)&local, sizeof(local)) < 0) {
			r = -errno;
			goto err;
		}
	}
	r = set_nonblock(c->fd);
	if (r < 0)
		goto err;
	if (c->tcp)
		r = tcp_connect(c);
	else if (connect(c->fd, (const struct sockaddr *)(const void *)&cfg->exchange,
			 sizeof(cfg->exchange)) < 0)
		r = -errno;
	if (r < 0)
		goto err;
	c->last_tx = c->last_rx = mono_ns();
	*out = c;
	return 0;
err:
	close(c->fd);
	free(c);
	return r;
}

int tkx_client_start(struct tkx_client *c)
{
	if (!c)
		return -EINVAL;
	if (c->state != TKX_CLIENT_OPEN)
		return -EALREADY;
	c->state = TKX_CLIENT_NEGOTIATING;
	c->sock_err = 0;
	return send_negotiate(c);
}

int tkx_client_establish(struct tkx_client *c, int timeout_ms)
{
	uint64_t deadline;
	int r;

	if (!c)
		return -EINVAL;
	if (c->state == TKX_CLIENT_ESTABLISHED)
		return 0;
	if (c->state == TKX_CLIENT_OPEN) {
		r = tkx_client_start(c);
		if (r < 0 && r != -ECONNREFUSED)
			return r;
	}
	deadline = mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NS_PER_MS;
	while (c->state == TKX_CLIENT_NEGOTIATING || c->state == TKX_CLIENT_ESTABLISHING) {
		uint64_t now = mono_ns();

		if (now >= deadline) {
			char a[32];

			addr_text(&c->cfg.exchange, a, sizeof(a));
			const char *what =
				c->state == TKX_CLIENT_NEGOTIATING ? "Negotiate" : "Establish";

			if (c->sock_err == ECONNREFUSED)
				fail(c, TKX_CLIENT_FAILED, -ECONNREFUSED,
				     "no answer from %s to %s: port unreachable (is the exchange "
				     "running?)", a, what);
			else
				fail(c, TKX_CLIENT_FAILED, -ETIMEDOUT,
				     "no answer from %s to %s within %d ms", a, what, timeout_ms);
			break;
		}
		pump(c, ms_until(deadline, now));
	}
	return c->state == TKX_CLIENT_ESTABLISHED ? 0 : (c->err ? c->err : -ECONNREFUSED);
}

int tkx_client_terminate(struct tkx_client *c, int timeout_ms)
{
	uint64_t deadline;

	if (!c)
		return -EINVAL;
	if (c->state != TKX_CLIENT_ESTABLISHED)
		return -ENOTCONN;
	send_terminate(c, TKX_TERM_FINISHED);
	c->state = TKX_CLIENT_TERMINATING;
	deadline = mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NS_PER_MS;
	while (c->state == TKX_CLIENT_TERMINATING) {
		uint64_t now = mono_ns();

		if (now >= deadline) {
			fail(c, TKX_CLIENT_TERMINATED, -ETIMEDOUT,
			     "no Terminate from the exchange within %d ms", timeout_ms);
			return -ETIMEDOUT;
		}
		pump(c, ms_until(deadline, now));
	}
	return c->state == TKX_CLIENT_TERMINATED && c->err != -ETIMEDOUT ? 0 : c->err;
}

void tkx_client_close(struct tkx_client *c)
{
	if (!c)
		return;
	if (c->state == TKX_CLIENT_ESTABLISHED)
		send_terminate(c, TKX_TERM_FINISHED);
	close(c->fd);
	free(c);
}

int tkx_client_state(const struct tkx_client *c)
{
	return c ? c->state : -EINVAL;
}

uint64_t tkx_client_session_id(const struct tkx_client *c)
{
	return c ? c->session_id : 0;
}

int tkx_client_fd(const struct tkx_client *c)
{
	return c ? c->fd : -EINVAL;
}

int tkx_client_errstr(const struct tkx_client *c, char *buf, size_t len)
{
	int n;

	if (!c || !buf || !len)
		return -EINVAL;
	n = snprintf(buf, len, "%s", c->errtxt);
	return n < 0 ? 0 : (size_t)n >= len ? (int)len - 1 : n;
}

/* ---- Requests ---------------------------------------------------------------------- */

/* Number, validate, encode and queue one request (invariant 1); m's cl_ord_id is set.
 * *queued says whether it took its numbers: a later send error does not undo that. */
static int send_request(struct tkx_client *c, struct tkx_msg *m, uint64_t orig_cl_ord_id,
			int *queued)
{
	uint8_t b[TKX_MAX_MSG_LEN];
	struct sent_req *sr;
	uint64_t cl = c->next_cl;
	int len, r;

	*queued = 0;
	if (c->state != TKX_CLIENT_ESTABLISHED)
		return -ENOTCONN;
	/* cl_ord_id is the first field of all four requests (proto.h). */
	memcpy(m->raw, &cl, sizeof(cl));
	r = tkx_validate(m, NULL);
	if (r < 0)
		return r;
	len = tkx_encode(b, sizeof(b), m);
	if (len < 0)
		return len;
	if (!out_room(c, (size_t)len))
		return -ENOBUFS;
	sr = &c->sent[c->out_next & (SENT_SIZE - 1)];
	sr->seq = c->out_next;
	sr->cl_ord_id = cl;
	sr->orig_cl_ord_id = orig_cl_ord_id;
	sr->template_id = m->template_id;
	r = out_msg(c, b, len, 1);
	if (r < 0)
		return r;
	*queued = 1;
	c->next_cl++;
	c->st.tx_app++;
	if (!c->cfg.batch)
		return flush_out(c);
	return 0;
}

int tkx_client_new_order(struct tkx_client *c, struct tkx_new_order *o)
{
	struct tkx_msg m = { .template_id = TKX_NEW_ORDER };
	struct tkx_client_order *e;
	uint32_t oi;
	int r, queued;

	if (!c || !o)
		return -EINVAL;
	if (c->state == TKX_CLIENT_ESTABLISHED && !c->n_free)
		return -ENOSPC;
	m.new_order = *o;
	r = send_request(c, &m, 0, &queued);
	if (!queued)
		return r;
	o->cl_ord_id = m.new_order.cl_ord_id;
	oi = c->free_list[--c->n_free];
	e = &c->ord[oi];
	memset(e, 0, sizeof(*e));
	e->cl_ord_id = o->cl_ord_id;
	e->price = o->price;
	e->qty = e->leaves = o->qty;
	e->contract_id = o->contract_id;
	e->account = o->account;
	e->side = o->side;
	e->tif = o->tif;
	e->state = TKX_CLIENT_ORD_PENDING_NEW;
	idx_add(c, 0, oi);
	return r;
}

/* Cancel and modify share their first field (cl_ord_id); both mark the order pending. */
static int cancel_or_modify(struct tkx_client *c, int oi, struct tkx_msg *m, uint64_t *cl_ord_id)
{
	uint64_t orig = oi >= 0 ? c->ord[oi].cl_ord_id : 0;
	int queued, r = send_request(c, m, orig, &queued);

	if (!queued)
		return r;
	if (cl_ord_id)
		*cl_ord_id = m->cancel_order.cl_ord_id;
	if (oi >= 0) {
		c->ord[oi].pend_cl_ord_id = m->cancel_order.cl_ord_id;
		c->ord[oi].pend_template = (uint8_t)m->template_id;
	}
	return r;
}

int tkx_client_cancel(struct tkx_client *c, uint64_t orig_cl_ord_id, uint64_t *cl_ord_id)
{
	struct tkx_msg m = { .template_id = TKX_CANCEL_ORDER };
	int oi;

	if (!c)
		return -EINVAL;
	oi = idx_find(c, 0, orig_cl_ord_id);
	if (oi < 0)
		return -ENOENT;
	if (!c->ord[oi].order_id)
		return -EAGAIN;
	m.cancel_order.order_id = c->ord[oi].order_id;
	m.cancel_order.contract_id = c->ord[oi].contract_id;
	return cancel_or_modify(c, oi, &m, cl_ord_id);
}

int tkx_client_modify(struct tkx_client *c, uint64_t orig_cl_ord_id, int64_t price,
		      uint32_t qty, uint64_t *cl_ord_id)
{
	struct tkx_msg m = { .template_id = TKX_MODIFY_ORDER };
	int oi;

	if (!c)
		return -EINVAL;
	oi = idx_find(c, 0, orig_cl_ord_id);
	if (oi < 0)
		return -ENOENT;
	if (!c->ord[oi].order_id)
		return -EAGAIN;
	m.modify_order.order_id = c->ord[oi].order_id;
	m.modify_order.contract_id = c->ord[oi].contract_id;
	m.modify_order.price = price;
	m.modify_order.qty = qty;
	return cancel_or_modify(c, oi, &m, cl_ord_id);
}

int tkx_client_cancel_order(struct tkx_client *c, struct tkx_cancel_order *mc)
{
	struct tkx_msg m = { .template_id = TKX_CANCEL_ORDER };

	if (!c || !mc)
		return -EINVAL;
	m.cancel_order = *mc;
	return cancel_or_modify(c, idx_find(c, 1, mc->order_id), &m, &mc->cl_ord_id);
}

int tkx_client_modify_order(struct tkx_client *c, struct tkx_modify_order *mm)
{
	struct tkx_msg m = { .template_id = TKX_MODIFY_ORDER };

	if (!c || !mm)
		return -EINVAL;
	m.modify_order = *mm;
	return cancel_or_modify(c, idx_find(c, 1, mm->order_id), &m, &mm->cl_ord_id);
}

int tkx_client_mass_cancel(struct tkx_client *c, struct tkx_mass_cancel *mc)
{
	struct tkx_msg m = { .template_id = TKX_MASS_CANCEL };
	int queued, r;

	if (!c || !mc)
		return -EINVAL;
	m.mass_cancel = *mc;
	r = send_request(c, &m, 0, &queued);
	if (queued)
		mc->cl_ord_id = m.mass_cancel.cl_ord_id;
	return r;
}

int tkx_client_flush(struct tkx_client *c)
{
	if (!c)
		return -EINVAL;
	return flush_out(c);
}

/* ---- Events ------------------------------------------------------------------------ */

static unsigned q_pop(struct tkx_client *c, struct tkx_client_event *ev, unsigned max)
{
	unsigned n = 0;

	while (n < max && c->q_head != c->q_tail)
		ev[n++] = c->q[c->q_head++ & (Q_SIZE - 1)];
	return n;
}

int tkx_client_poll(struct tkx_client *c, int timeout_ms, struct tkx_client_event *ev,
		    unsigned max)
{
	uint64_t deadline;
	int wait = 0;

	if (!c || !ev || !max)
		return -EINVAL;
	deadline = mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NS_PER_MS;
	if (c->olen && !over(c))
		flush_out(c);
	for (;;) {
		unsigned n;
		uint64_t now;

		pump(c, wait);
		n = q_pop(c, ev, max);
		if (n) {
			release(c);
			return (int)n;
		}
		if (over(c)) {
			/* The session is over: nothing fills a gap any more. */
			if (c->in_next < c->in_high && c->skip_to < c->in_high) {
				c->skip_to = c->in_high;
				release(c);
				wait = 0;
				continue;
			}
			return -ENOTCONN;
		}
		now = mono_ns();
		if (timeout_ms >= 0 && now >= deadline)
			return 0;
		wait = timeout_ms < 0 ? -1 : ms_until(deadline, now);
	}
}

/* ---- Order table and counters ------------------------------------------------------ */

int tkx_client_order_get(const struct tkx_client *c, uint64_t cl_ord_id,
		     struct tkx_client_order *out)
{
	int oi;

	if (!c || !out)
		return -EINVAL;
	oi = idx_find(c, 0, cl_ord_id);
	if (oi < 0)
		return -ENOENT;
	*out = c->ord[oi];
	return 0;
}

int tkx_client_orders(const struct tkx_client *c, struct tkx_client_order *out, unsigned max)
{
	unsigned i, n = 0;

	if (!c || (!out && max))
		return -EINVAL;
	for (i = 0; i < TKX_CLIENT_MAX_ORDERS && n < max; i++)
		if (c->ord[i].state)
			out[n++] = c->ord[i];
	return (int)n;
}

int tkx_client_stats_get(const struct tkx_client *c, struct tkx_client_stats *out)
{
	if (!c || !out)
		return -EINVAL;
	*out = c->st;
	out->next_seq_no = c->out_next;
	out->last_in_seq = c->in_next - 1;
	out->next_cl_ord_id = c->next_cl;
	return 0;
}

/* ==== Market data subscriber ================================================================ */

struct tkx_md_sub {
	struct tkx_md_sub_cfg cfg;
	int fd;  /* the stream (multicast, or unicast in tests) */
	int rfd; /* re-requests, connect()ed to the exchange's re-request address; -1 none */
	int have_session;
	int eos_pending;
	char session[TKX_MD_SESSION_LEN];
	uint64_t in_next, in_high, skip_to, eos_seq;
	uint64_t req_from, req_end, req_at;
	uint64_t gap_mark; /* as in struct tkx_client */
	uint32_t req_tries;
	uint32_t q_head, q_tail;
	struct tkx_md_sub_stats st;
	uint64_t win_seq[TKX_CLIENT_WINDOW];
	struct tkx_md_sub_event win[TKX_CLIENT_WINDOW];
	struct tkx_md_sub_event q[Q_SIZE];
};

#define MD_RX_NEED 4u /* unnumbered events per packet: GapReject, SESSION, END, LOST */

void tkx_md_sub_cfg_default(struct tkx_md_sub_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->version = TKX_CLIENT_API_VERSION;
	cfg->group.sin_family = AF_INET;
	cfg->rerequest.sin_family = AF_INET;
	cfg->iface.s_addr = htonl(INADDR_ANY);
	cfg->rerequest_max = 256;
	cfg->rerequest_timeout_ms = 250;
	cfg->rerequest_retries = 2;
}

static uint32_t md_room(const struct tkx_md_sub *s)
{
	return Q_SIZE - (s->q_tail - s->q_head);
}

/* md_release() leaves one slot for the unnumbered event a packet may bring (SESSION or
 * GapReject); packets are read only when MD_RX_NEED slots are free. */
static void md_push(struct tkx_md_sub *s, const struct tkx_md_sub_event *ev)
{
	if (md_room(s))
		s->q[s->q_tail++ & (Q_SIZE - 1)] = *ev;
}

static void md_push_simple(struct tkx_md_sub *s, uint16_t kind, uint64_t seq, uint64_t count,
			   uint64_t now)
{
	struct tkx_md_sub_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.seq = seq;
	ev.count = count;
	ev.rx_ns = now;
	md_push(s, &ev);
}

static int md_has(const struct tkx_md_sub *s, uint64_t seq)
{
	return s->win_seq[seq & (TKX_CLIENT_WINDOW - 1)] == seq;
}

static void md_release(struct tkx_md_sub *s, uint64_t now)
{
	while (md_room(s) > 1) {
		uint32_t i = (uint32_t)(s->in_next & (TKX_CLIENT_WINDOW - 1));

		if (s->win_seq[i] == s->in_next) {
			s->win_seq[i] = 0;
			md_push(s, &s->win[i]);
			s->in_next++;
			continue;
		}
		if (s->in_next < s->skip_to) {
			uint64_t n = 1;

			while (s->in_next + n < s->skip_to && !md_has(s, s->in_next + n))
				n++;
			md_push_simple(s, TKX_MD_SUB_EV_LOST, s->in_next, n, now);
			s->st.lost += n;
			s->in_next += n;
			continue;
		}
		break;
	}
	if (s->in_high < s->in_next)
		s->in_high = s->in_next;
	if (s->req_end && s->in_next >= s->req_end)
		s->req_end = 0;
	if (s->eos_pending && s->in_next >= s->eos_seq && md_room(s) > 0) {
		md_push_simple(s, TKX_MD_SUB_EV_END, s->eos_seq, 0, now);
		s->eos_pending = 0;
	}
}

static void md_send_request(struct tkx_md_sub *s, uint64_t from, uint64_t count)
{
	struct tkx_md_hdr h;
	uint8_t b[TKX_MD_HDR_LEN];

	s->req_at = mono_ns();
	if (s->rfd < 0)
		return; /* no re-request port: the timer only waits for reordered packets */
	memcpy(h.session, s->session, TKX_MD_SESSION_LEN);
	h.sequence = from;
	h.count = (uint16_t)count;
	tkx_md_hdr_encode(b, sizeof(b), &h);
	if (send(s->rfd, b, sizeof(b), MSG_DONTWAIT | MSG_NOSIGNAL) == (ssize_t)sizeof(b))
		s->st.rerequests++;
}

static void md_check_gap(struct tkx_md_sub *s)
{
	uint64_t n = 1, max = s->cfg.rerequest_max;

	if (!s->have_session || s->req_end)
		return;
	if (s->in_next >= s->in_high || md_has(s, s->in_next) || s->in_next < s->skip_to)
		return;
	while (s->in_next + n < s->in_high && !md_has(s, s->in_next + n) &&
	       n < TKX_CLIENT_WINDOW)
		n++;
	if (s->in_next >= s->gap_mark)
		s->st.gaps++;
	/* A run longer than the window is taken as one gap up to everything known. */
	s->gap_mark = n < TKX_CLIENT_WINDOW ? s->in_next + n : s->in_high;
	if (max > TKX_CLIENT_WINDOW)
		max = TKX_CLIENT_WINDOW;
	if (n > max)
		n = max;
	s->req_from = s->in_next;
	s->req_end = s->in_next + n;
	s->req_tries = 0;
	md_send_request(s, s->in_next, n);
}

/* The end marker of an answer (a count-0 packet on the re-request socket): the exchange
 * stopped at one of its limits before `next` (docs/protocol.md 6.3). Ask for the rest of
 * the outstanding range now rather than at the timeout; only on progress, so a marker
 * that repeats cannot make a loop. */
static void md_more(struct tkx_md_sub *s, uint64_t next)
{
	if (!s->req_end || next <= s->req_from || next >= s->req_end)
		return;
	s->req_from = next;
	s->req_tries = 0;
	md_send_request(s, next, s->req_end - next);
}

static void md_seen(struct tkx_md_sub *s, uint64_t next)
{
	if (s->in_high < next)
		s->in_high = next;
}

static void md_new_session(struct tkx_md_sub *s, const char name[TKX_MD_SESSION_LEN],
			   uint64_t first, uint64_t now)
{
	memcpy(s->session, name, TKX_MD_SESSION_LEN);
	s->have_session = 1;
	memset(s->win_seq, 0, sizeof(s->win_seq));
	s->in_next = s->in_high = first;
	s->skip_to = 0;
	s->req_end = 0;
	s->gap_mark = 0;
	s->eos_pending = 0;
	md_push_simple(s, TKX_MD_SUB_EV_SESSION, first, 0, now);
}

static void md_gap_reject(struct tkx_md_sub *s, const struct tkx_msg *m, uint64_t now)
{
	struct tkx_md_sub_event ev;
	uint64_t fa = m->md_gap_reject.first_available_seq;

	memset(&ev, 0, sizeof(ev));
	ev.kind = TKX_MD_GAP_REJECT;
	ev.rx_ns = now;
	ev.msg = *m;
	md_push(s, &ev);
	s->st.gap_rejects++;
	/* Below first_available nothing is retained; with 0, nothing of what is missing. */
	if (!fa)
		fa = s->in_high;
	if (s->skip_to < fa)
		s->skip_to = fa;
	s->req_end = 0;
}

static void md_rx(struct tkx_md_sub *s, const uint8_t *buf, size_t len, int recovered,
		  uint64_t now)
{
	struct tkx_md_iter it;
	struct tkx_msg m;
	uint64_t seq;
	int r;

	s->st.packets++;
	if (tkx_md_iter_init(&it, buf, len) < 0) {
		s->st.malformed++;
		return;
	}
	if (!s->have_session || memcmp(it.hdr.session, s->session, TKX_MD_SESSION_LEN)) {
		if (recovered) {
			s->st.stale++; /* an answer about another session */
			return;
		}
		if (s->have_session) {
			/* A new trading day: what is missing of the old one is not coming. */
			s->skip_to = s->in_high;
			md_release(s, now);
			md_new_session(s, it.hdr.session, 1, now);
		} else {
			md_new_session(s, it.hdr.session,
				       s->cfg.first_seq ? s->cfg.first_seq : it.hdr.sequence, now);
		}
	}
	if (it.hdr.count == TKX_MD_END_OF_SESSION) {
		s->eos_seq = it.hdr.sequence;
		s->eos_pending = 1;
		md_seen(s, it.hdr.sequence);
		return;
	}
	if (it.hdr.count == TKX_MD_HEARTBEAT) {
		if (recovered) {
			md_more(s, it.hdr.sequence);
			return;
		}
		s->st.heartbeats++;
		md_seen(s, it.hdr.sequence);
		return;
	}
	while ((r = tkx_md_iter_decode(&it, &m, &seq)) > 0) {
		struct tkx_md_sub_event *e;

		s->st.messages++;
		if (m.template_id == TKX_MD_GAP_REJECT && it.hdr.sequence == 0) {
			md_gap_reject(s, &m, now);
			continue;
		}
		if (seq < s->in_next || md_has(s, seq)) {
			s->st.duplicates++;
			continue;
		}
		if (seq >= s->in_next + TKX_CLIENT_WINDOW) {
			if (s->skip_to < seq - TKX_CLIENT_WINDOW + 1)
				s->skip_to = seq - TKX_CLIENT_WINDOW + 1;
			md_release(s, now);
			if (seq >= s->in_next + TKX_CLIENT_WINDOW)
				continue;
		}
		e = &s->win[seq & (TKX_CLIENT_WINDOW - 1)];
		memset(e, 0, sizeof(*e));
		e->kind = m.template_id;
		e->seq = seq;
		e->rx_ns = now;
		e->msg = m;
		if (recovered) {
			e->flags = TKX_MD_SUB_EVF_RECOVERED;
			s->st.recovered++;
		}
		s->win_seq[seq & (TKX_CLIENT_WINDOW - 1)] = seq;
		md_seen(s, seq + 1);
	}
	if (r < 0)
		s->st.malformed++; /* the rest is missing: the next packet shows the gap */
}

static void md_rx_fd(struct tkx_md_sub *s, int fd, int recovered, uint64_t now)
{
	uint8_t buf[MD_PKT_CAP];
	int i;

	if (fd < 0)
		return;
	for (i = 0; i < RX_BURST && md_room(s) >= MD_RX_NEED; i++) {
		ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == ECONNREFUSED)
				continue; /* the re-request port is closed: the timer gives up */
			return;
		}
		if ((size_t)n > TKX_MAX_DGRAM) {
			s->st.packets++;
			s->st.malformed++;
			continue;
		}
		md_rx(s, buf, (size_t)n, recovered, now);
		md_release(s, now);
	}
}

static void md_timers(struct tkx_md_sub *s, uint64_t now)
{
	if (s->req_end && since(now, s->req_at) >= s->cfg.rerequest_timeout_ms * NS_PER_MS) {
		if (s->rfd >= 0 && s->req_tries < s->cfg.rerequest_retries) {
			s->req_tries++;
			md_send_request(s, s->in_next, s->req_end - s->in_next);
		} else {
			if (s->skip_to < s->req_end)
				s->skip_to = s->req_end;
			s->req_end = 0;
		}
	}
	md_release(s, now);
	md_check_gap(s);
}

int tkx_md_sub_open(struct tkx_md_sub **out, const struct tkx_md_sub_cfg *cfg)
{
	struct tkx_md_sub *s;
	int one = 1, rcvbuf = 4 << 20, r;

	if (!out || !cfg)
		return -EINVAL;
	*out = NULL;
	if (cfg->version != TKX_CLIENT_API_VERSION)
		return -ENOTSUP;
	if (cfg->group.sin_family != AF_INET || cfg->rerequest_max == 0 ||
	    cfg->rerequest_max > TKX_MD_MAX_COUNT)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	s->rfd = -1;
	s->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (s->fd < 0) {
		r = -errno;
		free(s);
		return r;
	}
	/* Several subscribers on one host share the group's port. */
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (bind(s->fd, (const struct sockaddr *)(const void *)&cfg->group, sizeof(cfg->group)) <
	    0) {
		r = -errno;
		goto err;
	}
	if (IN_MULTICAST(ntohl(cfg->group.sin_addr.s_addr))) {
		struct ip_mreq mr = { .imr_multiaddr = cfg->group.sin_addr,
				      .imr_interface = cfg->iface };

		if (setsockopt(s->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mr, sizeof(mr)) < 0) {
			r = -errno;
			goto err;
		}
	}
	if (cfg->rerequest.sin_port) {
		s->rfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s->rfd < 0 ||
		    connect(s->rfd, (const struct sockaddr *)(const void *)&cfg->rerequest,
			    sizeof(cfg->rerequest)) < 0) {
			r = -errno;
			goto err;
		}
	}
	*out = s;
	return 0;
err:
	if (s->rfd >= 0)
		close(s->rfd);
	close(s->fd);
	free(s);
	return r;
}

static unsigned md_pop(struct tkx_md_sub *s, struct tkx_md_sub_event *ev, unsigned max)
{
	unsigned n = 0;

	while (n < max && s->q_head != s->q_tail)
		ev[n++] = s->q[s->q_head++ & (Q_SIZE - 1)];
	return n;
}

int tkx_md_sub_poll(struct tkx_md_sub *s, int timeout_ms, struct tkx_md_sub_event *ev,
		    unsigned max)
{
	uint64_t deadline;
	int wait = 0;

	if (!s || !ev || !max)
		return -EINVAL;
	deadline = mono_ns() + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms) * NS_PER_MS;
	for (;;) {
		uint64_t now;
		unsigned n;

		if (wait) {
			struct pollfd p[2] = { { .fd = s->fd, .events = POLLIN },
					       { .fd = s->rfd, .events = POLLIN } };
			uint64_t due = s->req_at + s->cfg.rerequest_timeout_ms * NS_PER_MS;

			if (s->req_end)
				wait = min_wait(wait, ms_until(due, mono_ns()));
			if (md_room(s) < MD_RX_NEED)
				p[0].events = p[1].events = 0;
			poll(p, s->rfd >= 0 ? 2 : 1, wait);
		}
		now = mono_ns();
		md_rx_fd(s, s->rfd, 1, now); /* answers first: they fill the oldest gap */
		md_rx_fd(s, s->fd, 0, now);
		md_timers(s, now);
		n = md_pop(s, ev, max);
		if (n) {
			md_release(s, now);
			return (int)n;
		}
		now = mono_ns();
		if (timeout_ms >= 0 && now >= deadline)
			return 0;
		wait = timeout_ms < 0 ? -1 : ms_until(deadline, now);
	}
}

int tkx_md_sub_addr(const struct tkx_md_sub *s, struct sockaddr_in *out)
{
	socklen_t sl = sizeof(*out);

	if (!s || !out)
		return -EINVAL;
	if (getsockname(s->fd, (struct sockaddr *)(void *)out, &sl) < 0)
		return -errno;
	return 0;
}

int tkx_md_sub_session(const struct tkx_md_sub *s, char out[TKX_MD_SESSION_LEN + 1])
{
	int n = TKX_MD_SESSION_LEN;

	if (!s || !out)
		return -EINVAL;
	memcpy(out, s->session, TKX_MD_SESSION_LEN);
	if (!s->have_session)
		n = 0;
	while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == '\0'))
		n--;
	out[n] = '\0';
	return n;
}

int tkx_md_sub_fds(const struct tkx_md_sub *s, int fds[2])
{
	if (!s || !fds)
		return -EINVAL;
	fds[0] = s->fd;
	fds[1] = s->rfd;
	return 2;
}

int tkx_md_sub_stats_get(const struct tkx_md_sub *s, struct tkx_md_sub_stats *out)
{
	if (!s || !out)
		return -EINVAL;
	*out = s->st;
	out->next_seq = s->in_next;
	return 0;
}

void tkx_md_sub_close(struct tkx_md_sub *s)
{
	if (!s)
		return;
	if (s->rfd >= 0)
		close(s->rfd);
	close(s->fd);
	free(s);
}
