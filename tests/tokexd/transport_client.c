/*
 * transport_client.c - one session on two transports, end to end (test_tokexd_transport.sh;
 * protocol 4.2: a session is established on one transport at a time and resumes on either).
 *
 * Modes:
 *   first  --udp IP:PORT --tcp IP:PORT --contract ID --dir DIR
 *          Session S of firm 1 on UDP (libtokex-client): two resting bids, both acked
 *          (exchange messages 1, 2). While it is live a hand-built TCP client negotiates S:
 *          NegotiationReject SESSION_IN_USE. S logs off on UDP and resumes on TCP, by
 *          hand: the EstablishmentAck numbers on (next 3, expected 3); the second bid sent
 *          again with its cl_ord_id is ExecReject CLORDID_REUSED (exchange message 3), not
 *          executed again; RetransmitRequest 1..2 gets the two UDP acks; a MassCancel of
 *          scope SESSION cancels both UDP bids (Cancelled 4, 5, MassCancelAck 6, count
 *          2). S logs off; DIR/state gets its id and cl_ord_ids.
 *   resume --udp IP:PORT --contract ID --dir DIR
 *          S resumes on UDP through the library (its next number 5, last seen 6): the
 *          EstablishmentAck says next 7, a new bid's ack is message 7, nothing missing;
 *          the book has no bid of S but that one.
 * Prints "TRANSPORT ..." lines, "TRANSPORT FAIL: ..." for each check that fails (the run
 * goes on where it can, so that every broken rule shows); exit 0 pass, 1 fail, 2 usage.
 * Every wait is bounded (10 s per answer: a hang bound on a loaded machine).
 */
#define _GNU_SOURCE
#include <errno.h>
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

#define WAIT_MS 10000
#define FIRM 1
#define SECRET "tokex-demo-secret-firm-1"
#define BID1 24000
#define BID2 24010
#define BID3 24020

static struct {
	struct sockaddr_in udp, tcp;
	const char *dir;
	uint32_t contract;
} g;

static int failures;

#define CHECK(cond, ...)                                                                    \
	do {                                                                                \
		if (!(cond)) {                                                              \
			printf("TRANSPORT FAIL: " __VA_ARGS__);                             \
			printf("\n");                                                       \
			failures++;                                                         \
		}                                                                           \
	} while (0)

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- The library's UDP client ---------------------------------------------------------- */

static struct tkx_client *udp_open(uint64_t sid, uint64_t next_seq, uint64_t last_in,
				   uint64_t first_cl)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	int r;

	tkx_client_cfg_default(&cfg);
	cfg.transport = TKX_CLIENT_UDP;
	cfg.exchange = g.udp;
	cfg.firm_id = FIRM;
	cfg.secret = (const uint8_t *)SECRET;
	cfg.secret_len = strlen(SECRET);
	cfg.session_id = sid;
	cfg.cancel_on_disconnect = 0; /* its bids outlive its logoff: the TCP side cancels them */
	cfg.keepalive_ms = 1000;
	if (next_seq) {
		cfg.next_seq_no = next_seq;
		cfg.last_in_seq = last_in;
		cfg.first_cl_ord_id = first_cl;
	}
	r = tkx_client_open(&c, &cfg);
	if (r < 0) {
		printf("TRANSPORT FAIL: udp open: %s\n", strerror(-r));
		return NULL;
	}
	r = tkx_client_establish(c, WAIT_MS);
	if (r < 0) {
		char e[256];

		tkx_client_errstr(c, e, sizeof(e));
		printf("TRANSPORT FAIL: udp establish: %s\n", e);
		tkx_client_close(c);
		return NULL;
	}
	return c;
}

/* A resting bid; its ExecAck (the event), or kind 0 when none came. */
static struct tkx_client_event udp_bid(struct tkx_client *c, int64_t price, uint64_t *cl)
{
	struct tkx_new_order o = { .price = price, .qty = 1, .contract_id = g.contract,
				   .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
	struct tkx_client_event ev[16], none;
	uint64_t t0 = mono_ms();

	memset(&none, 0, sizeof(none));
	if (tkx_client_new_order(c, &o) != 0)
		return none;
	*cl = o.cl_ord_id;
	while (mono_ms() - t0 < WAIT_MS) {
		int n = tkx_client_poll(c, 100, ev, 16);

		for (int k = 0; k < n; k++)
			if ((ev[k].kind == TKX_EXEC_ACK && ev[k].msg.exec_ack.cl_ord_id == *cl) ||
			    (ev[k].kind == TKX_EXEC_REJECT &&
			     ev[k].msg.exec_reject.cl_ord_id == *cl))
				return ev[k];
		if (n < 0)
			break;
	}
	return none;
}

/* ---- A hand-built TCP client ------------------------------------------------------------ */

struct tcp {
	int fd;
	size_t len;
	uint8_t buf[1 << 16];
};

static int tcp_open(struct tcp *t)
{
	int one = 1;

	memset(t, 0, sizeof(*t));
	t->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (t->fd < 0 || connect(t->fd, (const struct sockaddr *)&g.tcp, sizeof(g.tcp)) != 0) {
		printf("TRANSPORT FAIL: tcp connect: %s\n", strerror(errno));
		return -1;
	}
	setsockopt(t->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

static void tcp_close(struct tcp *t)
{
	if (t->fd >= 0)
		close(t->fd);
	t->fd = -1;
}

static int tcp_send(struct tcp *t, const uint8_t *msg, int mlen)
{
	uint8_t f[TKX_SOFH_LEN + TKX_MAX_MSG_LEN];

	if (mlen <= 0 || tkx_sofh_encode(f, sizeof(f), (size_t)mlen) != TKX_SOFH_LEN)
		return -1;
	memcpy(f + TKX_SOFH_LEN, msg, (size_t)mlen);
	return send(t->fd, f, TKX_SOFH_LEN + (size_t)mlen, MSG_NOSIGNAL) ==
			       (ssize_t)(TKX_SOFH_LEN + (size_t)mlen) ? 0 : -1;
}

/* The next message that is not a heartbeat: 1, 0 EOF, -ETIMEDOUT. */
static int tcp_read(struct tcp *t, struct tkx_msg *m)
{
	uint64_t t0 = mono_ms();

	for (;;) {
		int r = tkx_decode_frame(t->buf, t->len, m);

		if (r > 0) {
			memmove(t->buf, t->buf + r, t->len - (size_t)r);
			t->len -= (size_t)r;
			if (m->template_id == TKX_SEQUENCE)
				continue;
			return 1;
		}
		if (r < 0)
			return 0; /* not a frame: treat as the end */
		struct pollfd p = { .fd = t->fd, .events = POLLIN };
		uint64_t el = mono_ms() - t0;

		if (el >= WAIT_MS || poll(&p, 1, (int)(WAIT_MS - el)) <= 0)
			return -ETIMEDOUT;
		ssize_t k = recv(t->fd, t->buf + t->len, sizeof(t->buf) - t->len, 0);

		if (k <= 0)
			return 0;
		t->len += (size_t)k;
	}
}

/* The next message; template tid expected (else a FAIL naming what came). 1 when it is. */
static int tcp_expect(struct tcp *t, uint16_t tid, struct tkx_msg *m, const char *what)
{
	int r = tcp_read(t, m);

	if (r != 1) {
		printf("TRANSPORT FAIL: %s: expected %s, got %s\n", what, tkx_template_name(tid),
		       r == 0 ? "EOF" : "nothing");
		failures++;
		return 0;
	}
	if (m->template_id != tid) {
		printf("TRANSPORT FAIL: %s: expected %s, got %s", what, tkx_template_name(tid),
		       tkx_template_name(m->template_id));
		if (m->template_id == TKX_NEGOTIATION_REJECT)
			printf(" (reason %u)", m->negotiation_reject.reason);
		if (m->template_id == TKX_RETRANSMIT_REJECT)
			printf(" (reason %u)", m->retransmit_reject.reason);
		if (m->template_id == TKX_EXEC_ACK)
			printf(" (cl_ord_id %" PRIu64 ": executed)", m->exec_ack.cl_ord_id);
		printf("\n");
		failures++;
		return 0;
	}
	return 1;
}

static int tcp_negotiate(struct tcp *t, uint64_t sid, uint64_t ts)
{
	struct tkx_negotiate n = { .session_id = sid, .timestamp = ts, .firm_id = FIRM };
	uint8_t e[TKX_MAX_MSG_LEN];
	int len = tkx_enc_negotiate(e, sizeof(e), &n);

	if (len <= 0 || tkx_sign((const uint8_t *)SECRET, strlen(SECRET), e, (size_t)len) != 0)
		return -1;
	return tcp_send(t, e, len);
}

static int tcp_establish(struct tcp *t, uint64_t sid, uint64_t ts, uint64_t next_seq)
{
	struct tkx_establish es = { .session_id = sid, .timestamp = ts, .next_seq_no = next_seq,
				    .keepalive_ms = 1000, .cancel_on_disconnect = 0 };
	uint8_t e[TKX_MAX_MSG_LEN];
	int len = tkx_enc_establish(e, sizeof(e), &es);

	if (len <= 0 || tkx_sign((const uint8_t *)SECRET, strlen(SECRET), e, (size_t)len) != 0)
		return -1;
	return tcp_send(t, e, len);
}

#define TCP_SEND(t, name, ...)                                                              \
	({                                                                                  \
		struct tkx_##name m_ = { __VA_ARGS__ };                                     \
		uint8_t e_[TKX_MAX_MSG_LEN];                                                \
		tcp_send((t), e_, tkx_enc_##name(e_, sizeof(e_), &m_));                     \
	})

/* ---- first ------------------------------------------------------------------------------ */

static int first(void)
{
	uint64_t sid = real_ns() ^ 0x7a7a000000000000ull, x1 = 0, x2 = 0;
	struct tkx_client *c;
	struct tkx_client_event e;
	struct tcp t;
	struct tkx_msg m;
	char path[512];
	FILE *fs;

	/* On UDP: two resting bids, messages 1 and 2. */
	c = udp_open(sid, 0, 0, 0);
	if (!c)
		return 1;
	e = udp_bid(c, BID1, &x1);
	CHECK(e.kind == TKX_EXEC_ACK && e.seq == 1, "udp bid 1: expected ExecAck #1, got %u #%" PRIu64,
	      e.kind, e.seq);
	e = udp_bid(c, BID2, &x2);
	CHECK(e.kind == TKX_EXEC_ACK && e.seq == 2, "udp bid 2: expected ExecAck #2, got %u #%" PRIu64,
	      e.kind, e.seq);
	if (failures) {
		tkx_client_close(c);
		return 1;
	}
	printf("TRANSPORT session %#" PRIx64 " on udp: bids cl_ord_id %" PRIu64 " and %" PRIu64
	       " acked (1, 2)\n", sid, x1, x2);

	/* Live on UDP: the same id from TCP is SESSION_IN_USE. */
	if (tcp_open(&t) != 0)
		return 1;
	if (tcp_negotiate(&t, sid, real_ns()) != 0)
		return 1;
	if (tcp_read(&t, &m) == 1 && m.template_id == TKX_NEGOTIATION_REJECT &&
	    m.negotiation_reject.reason == TKX_SREJ_SESSION_IN_USE)
		printf("TRANSPORT live on udp: tcp Negotiate refused SESSION_IN_USE\n");
	else
		CHECK(0, "live on udp: tcp Negotiate answered %s (reason %u), not SESSION_IN_USE",
		      tkx_template_name(m.template_id),
		      m.template_id == TKX_NEGOTIATION_REJECT ? m.negotiation_reject.reason : 0);
	tcp_close(&t);

	if (tkx_client_terminate(c, WAIT_MS) != 0) {
		printf("TRANSPORT FAIL: udp terminate\n");
		tkx_client_close(c);
		return 1;
	}
	tkx_client_close(c);
	printf("TRANSPORT logged off udp\n");

	/* On TCP: the same session, numbering on. */
	if (tcp_open(&t) != 0)
		return 1;
	uint64_t ts = real_ns();
	if (tcp_negotiate(&t, sid, ts) != 0 ||
	    !tcp_expect(&t, TKX_NEGOTIATION_RESPONSE, &m, "tcp Negotiate"))
		return 1;
	if (tcp_establish(&t, sid, ts + 1, 3) != 0 ||
	    !tcp_expect(&t, TKX_ESTABLISHMENT_ACK, &m, "tcp Establish"))
		return 1;
	CHECK(m.establishment_ack.next_seq_no == 3 && m.establishment_ack.expected_seq_no == 3,
	      "tcp EstablishmentAck: next_seq_no %" PRIu64 " expected_seq_no %" PRIu64
	      ", not 3 and 3 (a new session?)", m.establishment_ack.next_seq_no,
	      m.establishment_ack.expected_seq_no);

	/* The second bid again, its cl_ord_id too: refused, not executed twice. */
	TCP_SEND(&t, new_order, .cl_ord_id = x2, .price = BID2, .qty = 1,
		 .contract_id = g.contract, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
	if (tcp_expect(&t, TKX_EXEC_REJECT, &m, "tcp resent cl_ord_id"))
		CHECK(m.exec_reject.reason == TKX_REJ_CLORDID_REUSED &&
		      m.exec_reject.cl_ord_id == x2,
		      "resent cl_ord_id: ExecReject reason %u cl_ord_id %" PRIu64,
		      m.exec_reject.reason, m.exec_reject.cl_ord_id);

	/* What was sent over UDP, retransmitted over TCP. */
	TCP_SEND(&t, retransmit_request, .session_id = sid, .timestamp = real_ns(),
		 .from_seq_no = 1, .count = 2);
	if (tcp_expect(&t, TKX_RETRANSMISSION, &m, "tcp RetransmitRequest 1..2")) {
		CHECK(m.retransmission.next_seq_no == 1 && m.retransmission.count == 2,
		      "Retransmission %" PRIu64 " x %u", m.retransmission.next_seq_no,
		      m.retransmission.count);
		if (tcp_expect(&t, TKX_EXEC_ACK, &m, "retransmitted #1"))
			CHECK(m.exec_ack.cl_ord_id == x1, "retransmitted #1: cl_ord_id %" PRIu64,
			      m.exec_ack.cl_ord_id);
		if (tcp_expect(&t, TKX_EXEC_ACK, &m, "retransmitted #2"))
			CHECK(m.exec_ack.cl_ord_id == x2, "retransmitted #2: cl_ord_id %" PRIu64,
			      m.exec_ack.cl_ord_id);
	}

	/* A MassCancel of the session's orders reaches those entered over UDP. */
	TCP_SEND(&t, mass_cancel, .cl_ord_id = x2 + 1, .contract_id = 0,
		 .scope = TKX_SCOPE_SESSION);
	{
		unsigned cancelled = 0, acks = 0;
		uint32_t count = 0;

		while (acks == 0 && tcp_read(&t, &m) == 1) {
			if (m.template_id == TKX_CANCELLED && m.cancelled.cl_ord_id == x2 + 1 &&
			    (m.cancelled.orig_cl_ord_id == x1 || m.cancelled.orig_cl_ord_id == x2))
				cancelled++;
			else if (m.template_id == TKX_MASS_CANCEL_ACK) {
				acks++;
				count = m.mass_cancel_ack.count;
			} else
				CHECK(0, "mass cancel: unexpected %s", tkx_template_name(m.template_id));
		}
		CHECK(cancelled == 2 && acks == 1 && count == 2,
		      "MassCancel SESSION: %u of the 2 udp bids cancelled, ack count %u", cancelled,
		      count);
	}
	TCP_SEND(&t, terminate, .session_id = sid, .reason = TKX_TERM_FINISHED);
	tcp_expect(&t, TKX_TERMINATE, &m, "tcp Terminate");
	tcp_close(&t);
	if (failures)
		return 1;
	printf("TRANSPORT resumed on tcp: numbering on (3), resent cl_ord_id refused, udp acks "
	       "retransmitted, MassCancel SESSION cancelled the udp bids; logged off\n");

	snprintf(path, sizeof(path), "%s/state", g.dir);
	fs = fopen(path, "w");
	if (!fs || fprintf(fs, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", sid, x1, x2) < 0 ||
	    fclose(fs) != 0) {
		printf("TRANSPORT FAIL: cannot write %s\n", path);
		return 1;
	}
	return 0;
}

/* ---- resume ------------------------------------------------------------------------------ */

static int resume(void)
{
	uint64_t sid, x1, x2, x3 = 0;
	struct tkx_client *c;
	struct tkx_client_event e;
	struct tkx_client_stats st;
	char path[512];
	FILE *fs;

	snprintf(path, sizeof(path), "%s/state", g.dir);
	fs = fopen(path, "r");
	if (!fs || fscanf(fs, "%" SCNu64 " %" SCNu64 " %" SCNu64, &sid, &x1, &x2) != 3) {
		printf("TRANSPORT FAIL: cannot read %s\n", path);
		return 1;
	}
	fclose(fs);
	/* Ours: 1, 2 on UDP, 3, 4 on TCP; the exchange's: 1..6. */
	c = udp_open(sid, 5, 6, x2 + 2);
	if (!c)
		return 1;
	e = udp_bid(c, BID3, &x3);
	CHECK(e.kind == TKX_EXEC_ACK && e.seq == 7, "resumed on udp: expected ExecAck #7, got %u #%"
	      PRIu64, e.kind, e.seq);
	tkx_client_stats_get(c, &st);
	CHECK(st.gaps == 0 && st.lost == 0 && st.not_applied == 0,
	      "resumed on udp: %" PRIu64 " gaps, %" PRIu64 " lost, %" PRIu64 " not applied",
	      st.gaps, st.lost, st.not_applied);
	if (tkx_client_terminate(c, WAIT_MS) != 0)
		CHECK(0, "udp terminate after the resume");
	tkx_client_close(c);
	if (failures)
		return 1;
	printf("TRANSPORT resumed on udp: bid cl_ord_id %" PRIu64 " acked #7, nothing missing\n", x3);
	return 0;
}

/* ---- main --------------------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr, "usage: transport_client first|resume --udp IP:PORT [--tcp IP:PORT] "
			"--contract ID --dir DIR\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "contract", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode = argc > 1 ? argv[1] : "";
	int o, have_tcp = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			if (tkx_client_parse_addr(optarg, 7411, &g.udp) != 0) {
				usage();
				return 2;
			}
			break;
		case 't':
			if (tkx_client_parse_addr(optarg, 7412, &g.tcp) != 0) {
				usage();
				return 2;
			}
			have_tcp = 1;
			break;
		case 'c':
			g.contract = (uint32_t)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			g.dir = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!g.dir || !g.contract || !g.udp.sin_port) {
		usage();
		return 2;
	}
	if (strcmp(mode, "first") == 0 && have_tcp)
		return first();
	if (strcmp(mode, "resume") == 0)
		return resume();
	usage();
	return 2;
}
