/*
 * flood_client.c - a TCP order flood and the order of what comes back (test_tokexd_flood.sh;
 * protocol 4.8, 4.11): one session sends --orders NewOrders (cl_ord_id 1, 2, ...; buys and
 * sells at one price, no account, so every sell trades with the buy before it: acks and
 * fills) as fast as the socket takes them, while it reads everything the exchange sends,
 * until the exchange's Terminate or until every request is answered (then it logs off
 * itself). Checked:
 *   - the application messages are numbered 1, 2, ... without a gap (implicit on TCP);
 *   - requests are answered (ExecAck or ExecReject) in the order they were sent: cl_ord_ids
 *     of the answers increase by one, so no THROTTLED reject overtakes the ack of an
 *     earlier order, and each fill comes after its order's ack;
 *   - with --throttled: a Terminate THROTTLE comes, after the answer to every request taken
 *     before it (the last answer's cl_ord_id is the last request taken) and nothing after
 *     it; THROTTLED rejects were among the answers;
 *   - a new connection re-establishes the session: its EstablishmentAck says that nothing
 *     was numbered after the last message received (next_seq_no = that + 1), and a
 *     RetransmitRequest of the last messages (up to 256) returns them byte for byte.
 * Prints "FLOOD requests R answered A acks K throttled T fills F messages N terminate X".
 * Every wait is bounded (10 s of silence); exit 0 pass, 1 fail, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include "tokex/client.h"

#define MAXMSG 200000
#define WAIT_MS 60000 /* for an answer that must come: a hang bound (a loaded machine is slow) */
#define KEY "tokex-demo-secret-firm-1"

static struct {
	struct sockaddr_in tcp;
	uint32_t contract, orders;
	uint64_t sid;
	int throttled;
} g;

/* What the exchange numbered, as received: msg[i] is number i + 1. */
static uint8_t (*raw)[TKX_MAX_MSG_LEN];
static uint16_t *raw_len;
static uint32_t n_msg;

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#define FAIL(...)                                        \
	do {                                             \
		printf("FLOOD FAIL: " __VA_ARGS__);      \
		printf("\n");                            \
		return -1;                               \
	} while (0)

struct conn {
	int fd;
	uint8_t in[65536];
	size_t n_in;
	int eof;
};

static int conn_open(struct conn *c)
{
	int one = 1;

	memset(c, 0, sizeof(*c));
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)&g.tcp, sizeof(g.tcp)) != 0)
		FAIL("connect: %s", strerror(errno));
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* The next frame's message within ms (raw bytes and length too): 1, 0 on EOF, -1. */
static int conn_read(struct conn *c, struct tkx_msg *m, uint8_t *bytes, uint16_t *len, int ms)
{
	for (;;) {
		int r = tkx_decode_frame(c->in, c->n_in, m);

		if (r < 0)
			FAIL("a bad frame from the exchange (%d)", r);
		if (r > 0) {
			if (bytes) {
				memcpy(bytes, c->in + TKX_SOFH_LEN, (size_t)r - TKX_SOFH_LEN);
				*len = (uint16_t)(r - TKX_SOFH_LEN);
			}
			memmove(c->in, c->in + r, c->n_in - (size_t)r);
			c->n_in -= (size_t)r;
			return 1;
		}
		if (c->eof)
			return 0;
		struct pollfd p = { .fd = c->fd, .events = POLLIN };

		if (poll(&p, 1, ms) <= 0)
			FAIL("nothing from the exchange within %d ms", ms);
		ssize_t k = recv(c->fd, c->in + c->n_in, sizeof(c->in) - c->n_in, 0);

		if (k <= 0)
			c->eof = 1;
		else
			c->n_in += (size_t)k;
	}
}

static int send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);

		if (k <= 0)
			FAIL("send: %s", strerror(errno));
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* SOFH + one encoded (and, for Negotiate/Establish, signed) message. */
static size_t frame(uint8_t *f, const uint8_t *msg, int len)
{
	tkx_sofh_encode(f, TKX_SOFH_LEN, (size_t)len);
	memcpy(f + TKX_SOFH_LEN, msg, (size_t)len);
	return TKX_SOFH_LEN + (size_t)len;
}

/* Negotiate + Establish (no cancel-on-disconnect: nothing is numbered after an end);
 * returns the EstablishmentAck's next_seq_no, 0 on failure. */
static uint64_t logon(struct conn *c)
{
	uint8_t m[TKX_MAX_MSG_LEN], f[TKX_MAX_MSG_LEN + TKX_SOFH_LEN];
	struct tkx_negotiate n = { .session_id = g.sid, .timestamp = real_ns(), .firm_id = 1 };
	struct tkx_msg r;
	int len = tkx_enc_negotiate(m, sizeof(m), &n);

	tkx_sign((const uint8_t *)KEY, strlen(KEY), m, (size_t)len);
	if (send_all(c->fd, f, frame(f, m, len)) || conn_read(c, &r, NULL, NULL, WAIT_MS) != 1 ||
	    r.template_id != TKX_NEGOTIATION_RESPONSE) {
		printf("FLOOD FAIL: Negotiate not answered NegotiationResponse\n");
		return 0;
	}
	struct tkx_establish e = { .session_id = g.sid, .timestamp = real_ns(), .next_seq_no = 1,
				   .keepalive_ms = 5000, .cancel_on_disconnect = 0 };

	len = tkx_enc_establish(m, sizeof(m), &e);
	tkx_sign((const uint8_t *)KEY, strlen(KEY), m, (size_t)len);
	if (send_all(c->fd, f, frame(f, m, len)) || conn_read(c, &r, NULL, NULL, WAIT_MS) != 1 ||
	    r.template_id != TKX_ESTABLISHMENT_ACK) {
		printf("FLOOD FAIL: Establish not answered EstablishmentAck\n");
		return 0;
	}
	return r.establishment_ack.next_seq_no;
}

static int flood(void)
{
	static uint8_t out[1 << 22];
	size_t n_out = 0, sent = 0;
	uint8_t m[TKX_MAX_MSG_LEN];
	uint64_t next_answer = 1, acks = 0, throttled = 0, fills = 0, answered = 0;
	int term = -1;
	struct conn c;

	if (conn_open(&c) || logon(&c) != 1)
		FAIL("logon");
	for (uint32_t i = 1; i <= g.orders; i++) {
		struct tkx_new_order o = { .cl_ord_id = i, .price = 25000, .qty = 1,
					   .contract_id = g.contract,
					   .side = i % 2 ? TKX_SIDE_BUY : TKX_SIDE_SELL,
					   .tif = TKX_TIF_GTC };
		int len = tkx_enc_new_order(m, sizeof(m), &o);

		n_out += frame(out + n_out, m, len);
	}
	fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
	/* Send and read at once: the exchange stops reading while too much is unanswered. */
	for (;;) {
		struct pollfd p = { .fd = c.fd,
				    .events = (short)(POLLIN | (sent < n_out ? POLLOUT : 0)) };
		struct tkx_msg r;

		if (poll(&p, 1, WAIT_MS) <= 0)
			FAIL("stalled: %zu of %zu bytes sent, %" PRIu64 " answered", sent, n_out,
			     answered);
		if ((p.revents & POLLOUT) && sent < n_out) {
			ssize_t k = send(c.fd, out + sent, n_out - sent, MSG_NOSIGNAL);

			if (k > 0)
				sent += (size_t)k;
			else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EPIPE &&
				 errno != ECONNRESET)
				FAIL("send: %s", strerror(errno));
		}
		if (!(p.revents & (POLLIN | POLLHUP | POLLERR)))
			continue;
		ssize_t k = recv(c.fd, c.in + c.n_in, sizeof(c.in) - c.n_in, 0);

		if (k == 0 || (k < 0 && errno == ECONNRESET))
			c.eof = 1;
		else if (k > 0)
			c.n_in += (size_t)k;
		while (c.n_in) {
			uint16_t len;
			int rr = tkx_decode_frame(c.in, c.n_in, &r);

			if (rr <= 0) {
				if (rr < 0)
					FAIL("a bad frame from the exchange");
				break;
			}
			len = (uint16_t)(rr - TKX_SOFH_LEN);
			if (r.template_id >= TKX_EXEC_ACK && r.template_id <= TKX_BUSINESS_REJECT) {
				if (term >= 0)
					FAIL("message %u after the Terminate", n_msg + 1);
				if (n_msg == MAXMSG)
					FAIL("too many messages");
				memcpy(raw[n_msg], c.in + TKX_SOFH_LEN, len);
				raw_len[n_msg++] = len;
			}
			memmove(c.in, c.in + rr, c.n_in - (size_t)rr);
			c.n_in -= (size_t)rr;
			switch (r.template_id) {
			case TKX_EXEC_ACK:
			case TKX_EXEC_REJECT: {
				uint64_t cl = r.template_id == TKX_EXEC_ACK ? r.exec_ack.cl_ord_id
									     : r.exec_reject.cl_ord_id;

				if (cl != next_answer)
					FAIL("message %u answers request %" PRIu64 ", expected %" PRIu64
					     " (replies out of request order)", n_msg, cl, next_answer);
				next_answer++;
				answered++;
				if (r.template_id == TKX_EXEC_ACK)
					acks++;
				else if (r.exec_reject.reason == TKX_REJ_THROTTLED)
					throttled++;
				else
					FAIL("request %" PRIu64 " rejected %s", cl,
					     tkx_reject_reason_name(r.exec_reject.reason));
				break;
			}
			case TKX_FILL:
				/* the sell's own fill, and the resting buy's: never before the
				 * answer to its request */
				if (r.fill.cl_ord_id >= next_answer)
					FAIL("a fill of request %" PRIu64 " before its answer (the last "
					     "answered is %" PRIu64 ")", r.fill.cl_ord_id, next_answer - 1);
				fills++;
				break;
			case TKX_TERMINATE:
				term = r.terminate.reason;
				break;
			case TKX_SEQUENCE:
				break;
			default:
				FAIL("unexpected %s", tkx_template_name(r.template_id));
			}
		}
		if (term >= 0 && c.eof)
			break;
		if (term < 0 && answered == g.orders)
			break;
		if (c.eof)
			FAIL("the connection closed without a Terminate (%" PRIu64 " answered)",
			     answered);
	}
	if (term < 0) {
		struct tkx_terminate t = { .session_id = g.sid, .reason = TKX_TERM_FINISHED };
		struct tkx_msg r;
		uint8_t f[64];
		int len = tkx_enc_terminate(m, sizeof(m), &t);

		fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) & ~O_NONBLOCK);
		if (send_all(c.fd, f, frame(f, m, len)))
			return -1;
		do {
			if (conn_read(&c, &r, NULL, NULL, WAIT_MS) != 1)
				FAIL("no Terminate answering ours");
		} while (r.template_id == TKX_SEQUENCE);
		if (r.template_id != TKX_TERMINATE)
			FAIL("%s after every answer, before our Terminate's answer",
			     tkx_template_name(r.template_id));
	}
	close(c.fd);
	printf("FLOOD requests %u answered %" PRIu64 " acks %" PRIu64 " throttled %" PRIu64
	       " fills %" PRIu64 " messages %u terminate %s\n", g.orders, answered, acks,
	       throttled, fills, n_msg, term < 0 ? "ours" : tkx_terminate_reason_name((uint16_t)term));
	if (g.throttled && (term != TKX_TERM_THROTTLE || throttled == 0))
		FAIL("expected THROTTLED rejects and a Terminate THROTTLE");
	return 0;
}

/* Nothing numbered after what we received; the last ones retransmitted byte for byte. */
static int check_after(void)
{
	struct conn c;
	uint64_t next, count = n_msg < 256 ? n_msg : 256, from = n_msg - count + 1;
	uint8_t m[TKX_MAX_MSG_LEN], f[TKX_MAX_MSG_LEN + TKX_SOFH_LEN], b[TKX_MAX_MSG_LEN];
	struct tkx_msg r;
	uint16_t len;

	if (conn_open(&c))
		return -1;
	next = logon(&c);
	if (next != n_msg + 1)
		FAIL("re-established: the exchange's next number is %" PRIu64 ", %u were received: "
		     "%" PRIu64 " numbered after them were never sent", next, n_msg,
		     next - n_msg - 1);
	struct tkx_retransmit_request q = { .session_id = g.sid, .timestamp = real_ns(),
					    .from_seq_no = from, .count = (uint32_t)count };
	int l = tkx_enc_retransmit_request(m, sizeof(m), &q);

	if (send_all(c.fd, f, frame(f, m, l)))
		return -1;
	do {
		if (conn_read(&c, &r, NULL, NULL, WAIT_MS) != 1)
			FAIL("no Retransmission");
	} while (r.template_id == TKX_SEQUENCE);
	if (r.template_id != TKX_RETRANSMISSION || r.retransmission.count != count)
		FAIL("RetransmitRequest(%" PRIu64 ", %" PRIu64 ") answered %s", from, count,
		     tkx_template_name(r.template_id));
	for (uint64_t i = 0; i < count; i++) {
		if (conn_read(&c, &r, b, &len, WAIT_MS) != 1)
			FAIL("retransmission cut short at %" PRIu64, from + i);
		if (len != raw_len[from - 1 + i] || memcmp(b, raw[from - 1 + i], len) != 0)
			FAIL("message %" PRIu64 " retransmitted differs from the one received",
			     from + i);
	}
	close(c.fd);
	printf("FLOOD re-established: next %" PRIu64 ", the last %" PRIu64 " retransmitted "
	       "identical\n", next, count);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "tcp", required_argument, NULL, 't' },
		{ "contract", required_argument, NULL, 'c' },
		{ "orders", required_argument, NULL, 'o' },
		{ "sid", required_argument, NULL, 's' },
		{ "throttled", no_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 't':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &g.tcp) != 0)
				return 2;
			break;
		case 'c':
			g.contract = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'o':
			g.orders = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 's':
			g.sid = strtoull(optarg, NULL, 0);
			break;
		case 'T':
			g.throttled = 1;
			break;
		default:
			return 2;
		}
	}
	if (!g.tcp.sin_port || !g.contract || !g.orders || g.orders > 60000 || !g.sid) {
		fprintf(stderr, "usage: flood_client --tcp IP:PORT --contract ID --orders N "
				"--sid ID [--throttled]\n");
		return 2;
	}
	raw = calloc(MAXMSG, sizeof(*raw));
	raw_len = calloc(MAXMSG, sizeof(*raw_len));
	if (!raw || !raw_len)
		return 1;
	return flood() || check_after() ? 1 : 0;
}
