/*
 * test_client.c - libtokex-client (tokex/client.h) against a scripted fake exchange in
 * this process, on 127.0.0.1 only.
 *
 * Most tests run in lock step on one thread: the client sends (its calls never block on
 * the exchange), the fake reads the bytes with the codec (tkx_dgram_next /
 * tkx_decode_frame), checks them (credentials with tkx_verify_msg, Sequence numbers,
 * cl_ord_id order, SOFH framing) and answers with encoded messages; then the client is
 * polled and its events checked. The blocking calls (tkx_client_establish/terminate) and
 * tokex-mm (argv[1], spawned) run against the same fake on a thread that answers by
 * itself ("auto" mode) and records any protocol violation it sees. Every wait is bounded.
 * On UDP the fake seals and checks DatagramAuth as the exchange does (protocol 4.13): a
 * Negotiate that verifies opens the keys, every client datagram but logons must carry a
 * valid one, and every datagram the fake sends after it is sealed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokex/client.h>
#include <tokex/codec.h>

extern char **environ;

static const char *mm_path; /* tokex-mm, from argv[1] */

static const char secret1[] = "tokex-demo-secret-firm-1";
static const char secret2[] = "tokex-demo-secret-firm-2";
#define SESSION 4242u
#define STORE 512u

/* A bound for a hang, never a measure of speed: a wait for something that must come (a
 * datagram already sent, an event the client owes) ends on the event; on a loaded machine
 * it may take seconds. Also the keepalive intervals of tests that are not about keepalives,
 * so that no heartbeat or silence timer fires while a descheduled test process catches up. */
#define HANG_MS 60000

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- The fake exchange: sockets, framing, numbering -------------------------------- */

struct fx {
	int tcp;
	int fd;  /* UDP socket, or TCP listener */
	int cfd; /* TCP: the accepted connection */
	struct sockaddr_in addr; /* where the client connects */
	struct sockaddr_in peer; /* UDP: the client's address, from its datagrams */
	uint8_t sofh[TKX_SOFH_LEN]; /* TCP: the last frame's SOFH, as received */
	uint8_t ibuf[16384];
	size_t ilen;
	int n_last; /* messages in the last datagram received */
	uint64_t out_next; /* our next outbound number */
	uint8_t store[STORE][TKX_MAX_MSG_LEN];
	uint16_t store_len[STORE];
	/* UDP datagram authentication: the keys of the last Negotiate that verified */
	int keyed;
	struct tkx_auth_keys keys;
	uint64_t auth_rx, auth_tx;
};

static const char *demo_secret(uint32_t firm);

static int fx_open(struct fx *x, int tcp)
{
	socklen_t sl = sizeof(x->addr);
	int one = 1;

	memset(x, 0, sizeof(*x));
	x->tcp = tcp;
	x->cfd = -1;
	x->out_next = 1;
	x->fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (x->fd < 0)
		return -errno;
	setsockopt(x->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	x->addr.sin_family = AF_INET;
	x->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(x->fd, (struct sockaddr *)&x->addr, sizeof(x->addr)) < 0 ||
	    getsockname(x->fd, (struct sockaddr *)&x->addr, &sl) < 0 ||
	    (tcp && listen(x->fd, 4) < 0))
		return -errno;
	return 0;
}

static int fx_accept(struct fx *x, int timeout_ms)
{
	struct pollfd p = { .fd = x->fd, .events = POLLIN };

	if (poll(&p, 1, timeout_ms) <= 0)
		return -ETIMEDOUT;
	x->cfd = accept4(x->fd, NULL, NULL, SOCK_CLOEXEC);
	return x->cfd < 0 ? -errno : 0;
}

static void fx_close(struct fx *x)
{
	if (x->cfd >= 0)
		close(x->cfd);
	if (x->fd >= 0)
		close(x->fd);
	x->cfd = x->fd = -1;
}

/* TCP: decode the complete frames in ibuf. Count, or an error that breaks the stream. */
static int fx_frames(struct fx *x, struct tkx_msg *m, int max)
{
	size_t off = 0;
	int n = 0;

	while (n < max && off < x->ilen) {
		int r = tkx_decode_frame(x->ibuf + off, x->ilen - off, &m[n]);

		if (r == 0)
			break;
		if (r < 0)
			return r;
		memcpy(x->sofh, x->ibuf + off, TKX_SOFH_LEN);
		off += (size_t)r;
		n++;
	}
	memmove(x->ibuf, x->ibuf + off, x->ilen - off);
	x->ilen -= off;
	return n;
}

/* Whether every message of b[0, n) is a Negotiate or an Establish (headers only). */
static int logons_only(const uint8_t *b, size_t n)
{
	size_t off = 0;

	while (off < n) {
		struct tkx_hdr h;

		if (n - off < TKX_HDR_LEN)
			return 0;
		memcpy(&h, b + off, sizeof(h));
		if (h.template_id != TKX_NEGOTIATE && h.template_id != TKX_ESTABLISH)
			return 0;
		off += TKX_HDR_LEN + h.block_length;
	}
	return off == n;
}

/* A client datagram as the exchange takes it (protocol 4.13): the length of its messages
 * with the DatagramAuth checked and stripped, or -EACCES (a MAC or counter that does not
 * verify) or -EPERM (unsealed though keys are open, and not a logon). */
static ssize_t fx_open_dgram(struct fx *x, const uint8_t *b, size_t n)
{
	uint64_t ctr;
	int o;

	if (x->keyed && (o = tkx_auth_open(x->keys.c2e, b, n, &ctr)) >= 0) {
		if (ctr <= x->auth_rx)
			return -EACCES;
		x->auth_rx = ctr;
		return o;
	}
	if (tkx_auth_find(b, n) >= 0)
		return -EACCES;
	if (x->keyed && !logons_only(b, n))
		return -EPERM;
	return (ssize_t)n;
}

/* A Negotiate that verifies opens new keys, both counters from zero. */
static void fx_negotiated(struct fx *x, const struct tkx_msg *m)
{
	const struct tkx_negotiate *ng = &m->negotiate;
	const char *key;

	if (x->tcp || m->template_id != TKX_NEGOTIATE)
		return;
	key = demo_secret(ng->firm_id);
	if (!key || tkx_verify_msg((const uint8_t *)key, strlen(key), m) != 0)
		return;
	assert_int_equal(tkx_auth_derive((const uint8_t *)key, strlen(key), ng->session_id,
					 ng->firm_id, ng->timestamp, &x->keys), 0);
	x->keyed = 1;
	x->auth_rx = x->auth_tx = 0;
}

/*
 * One datagram (UDP), or the frames that have arrived (TCP, at least one), decoded.
 * Count; 0 on timeout; -ECONNRESET when the TCP peer closed; a codec error otherwise
 * (a datagram with a message that does not decode is an error: the client must never
 * send one).
 */
static int fx_recv(struct fx *x, struct tkx_msg *m, int max, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		struct pollfd p = { .fd = x->tcp ? x->cfd : x->fd, .events = POLLIN };
		uint64_t now = mono_ms();
		int r;

		if (x->tcp) {
			r = fx_frames(x, m, max);
			if (r != 0)
				return r;
		}
		if (poll(&p, 1, now >= deadline ? 0 : (int)(deadline - now)) <= 0)
			return 0;
		if (x->tcp) {
			ssize_t n = recv(x->cfd, x->ibuf + x->ilen, sizeof(x->ibuf) - x->ilen, 0);

			if (n <= 0)
				return -ECONNRESET;
			x->ilen += (size_t)n;
		} else {
			uint8_t b[TKX_MAX_DGRAM + 1];
			socklen_t sl = sizeof(x->peer);
			ssize_t n = recvfrom(x->fd, b, sizeof(b), 0, (struct sockaddr *)&x->peer,
					     &sl);
			int err = 0;

			if (n <= 0 || n > TKX_MAX_DGRAM)
				return -EMSGSIZE;
			n = fx_open_dgram(x, b, (size_t)n);
			if (n < 0)
				return (int)n;
			r = tkx_decode_dgram(b, (size_t)n, m, (unsigned)max, &err, NULL);
			x->n_last = r;
			for (int i = 0; i < r; i++)
				fx_negotiated(x, &m[i]);
			return err ? err : r;
		}
	}
}

/* A reply being built: one datagram (UDP) or a run of SOFH frames (TCP). */
struct pk {
	int tcp;
	size_t len;
	uint8_t b[8192];
};

static void pk_init(struct pk *p, const struct fx *x)
{
	p->tcp = x->tcp;
	p->len = 0;
}

static void pk_bytes(struct pk *p, const uint8_t *msg, size_t len)
{
	if (p->tcp) {
		tkx_sofh_encode(p->b + p->len, sizeof(p->b) - p->len, len);
		p->len += TKX_SOFH_LEN;
	}
	memcpy(p->b + p->len, msg, len);
	p->len += len;
}

static size_t enc(uint8_t *b, size_t cap, uint16_t tid, const void *body)
{
	struct tkx_msg m = { .template_id = tid };
	int n;

	memcpy(m.raw, body, (size_t)tkx_block_length(tid));
	n = tkx_encode(b, cap, &m);
	return n > 0 ? (size_t)n : 0;
}

static void pk_msg(struct pk *p, uint16_t tid, const void *body)
{
	uint8_t b[TKX_MAX_MSG_LEN];

	pk_bytes(p, b, enc(b, sizeof(b), tid, body));
}

static void pk_seq(struct pk *p, uint64_t next)
{
	struct tkx_sequence s = { .next_seq_no = next };

	pk_msg(p, TKX_SEQUENCE, &s);
}

/* A numbered exchange message: kept for retransmission, added to p (NULL: "lost"). */
static uint64_t fx_app(struct fx *x, struct pk *p, uint16_t tid, const void *body)
{
	uint64_t seq = x->out_next++;
	uint32_t i = (uint32_t)(seq % STORE);

	x->store_len[i] = (uint16_t)enc(x->store[i], TKX_MAX_MSG_LEN, tid, body);
	if (p)
		pk_bytes(p, x->store[i], x->store_len[i]);
	return seq;
}

static void pk_stored(struct pk *p, const struct fx *x, uint64_t seq)
{
	pk_bytes(p, x->store[seq % STORE], x->store_len[seq % STORE]);
}

static int fx_send_bytes(struct fx *x, const uint8_t *b, size_t len)
{
	uint8_t sealed[TKX_MAX_DGRAM];
	ssize_t n;

	if (!x->tcp && x->keyed) {
		int r;

		assert_true(len <= sizeof(sealed) - TKX_AUTH_LEN);
		memcpy(sealed, b, len);
		r = tkx_auth_seal(x->keys.e2c, ++x->auth_tx, sealed, len, sizeof(sealed));
		assert_true(r > 0);
		b = sealed;
		len = (size_t)r;
	}
	if (x->tcp)
		n = send(x->cfd, b, len, MSG_NOSIGNAL);
	else
		n = sendto(x->fd, b, len, 0, (struct sockaddr *)&x->peer, sizeof(x->peer));
	return n == (ssize_t)(len) ? 0 : -EIO;
}

static int fx_send(struct fx *x, const struct pk *p)
{
	return p->len ? fx_send_bytes(x, p->b, p->len) : 0;
}

/* ---- Client-side helpers ----------------------------------------------------------- */

static void cfg_for(struct tkx_client_cfg *cfg, const struct fx *x)
{
	tkx_client_cfg_default(cfg);
	cfg->transport = x->tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg->exchange = x->addr;
	cfg->firm_id = 1;
	cfg->secret = (const uint8_t *)secret1;
	cfg->secret_len = strlen(secret1);
	cfg->session_id = SESSION;
	cfg->keepalive_ms = HANG_MS; /* no heartbeat of ours unless the test asks for one */
}

static struct tkx_client *open_client(struct fx *x, const struct tkx_client_cfg *cfg)
{
	struct tkx_client *c = NULL;

	assert_int_equal(tkx_client_open(&c, cfg), 0);
	assert_non_null(c);
	if (x->tcp)
		assert_int_equal(fx_accept(x, HANG_MS), 0);
	return c;
}

/* Poll until `want` events (or timeout_ms). The count, or the poll's error if none. */
static int wait_ev(struct tkx_client *c, struct tkx_client_event *ev, int want, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	int n = 0;

	while (n < want) {
		uint64_t now = mono_ms();
		int r = tkx_client_poll(c, now >= deadline ? 0 : (int)(deadline - now), ev + n,
					(unsigned)(want - n));

		if (r < 0)
			return n ? n : r;
		n += r;
		if (r == 0 && mono_ms() >= deadline)
			break;
	}
	return n;
}

static int recv1(struct fx *x, struct tkx_msg *m, int max)
{
	int n = fx_recv(x, m, max, HANG_MS);

	assert_true(n > 0);
	return n;
}

/* Negotiate and Establish, the exchange side checked field by field. */
static void handshake(struct fx *x, struct tkx_client *c, uint64_t expect_next_seq,
		      uint32_t ex_keepalive)
{
	struct tkx_msg m[8];
	struct tkx_client_event ev[4];
	struct pk p;
	uint64_t now = real_ns();

	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_NEGOTIATING);
	assert_int_equal(recv1(x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_NEGOTIATE);
	assert_int_equal(tkx_verify_msg((const uint8_t *)secret1, strlen(secret1), &m[0]), 0);
	assert_int_equal(m[0].negotiate.session_id, SESSION);
	assert_int_equal(m[0].negotiate.firm_id, 1);
	assert_true(m[0].negotiate.timestamp > now - 5000000000ull &&
		    m[0].negotiate.timestamp < now + 5000000000ull);
	pk_init(&p, x);
	pk_msg(&p, TKX_NEGOTIATION_RESPONSE,
	       &(struct tkx_negotiation_response){ .session_id = SESSION,
						   .request_timestamp = m[0].negotiate.timestamp,
						   .firm_id = 1 });
	assert_int_equal(fx_send(x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_NEGOTIATION_RESPONSE);

	assert_int_equal(recv1(x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_ESTABLISH);
	assert_int_equal(tkx_verify_msg((const uint8_t *)secret1, strlen(secret1), &m[0]), 0);
	assert_int_equal(m[0].establish.session_id, SESSION);
	assert_int_equal(m[0].establish.next_seq_no, expect_next_seq);
	assert_int_equal(m[0].establish.cancel_on_disconnect, 1);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHING);
	pk_init(&p, x);
	pk_msg(&p, TKX_ESTABLISHMENT_ACK,
	       &(struct tkx_establishment_ack){ .session_id = SESSION,
						.request_timestamp = m[0].establish.timestamp,
						.next_seq_no = x->out_next,
						.expected_seq_no = expect_next_seq,
						.keepalive_ms = ex_keepalive });
	assert_int_equal(fx_send(x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);
}

static struct tkx_exec_ack ack_of(uint64_t cl, uint64_t oid, int64_t price, uint32_t qty,
				  uint8_t side)
{
	struct tkx_exec_ack a = { .cl_ord_id = cl, .order_id = oid, .price = price, .qty = qty,
				  .contract_id = 7, .side = side, .tif = TKX_TIF_GTC,
				  .transact_time = real_ns() };
	return a;
}

static struct tkx_new_order order(uint8_t side, int64_t price, uint32_t qty)
{
	struct tkx_new_order o = { .price = price, .qty = qty, .contract_id = 7, .side = side,
				   .tif = TKX_TIF_GTC };
	return o;
}

/* ---- Configuration and argument checks --------------------------------------------- */

static void test_cfg_and_args(void **state)
{
	struct tkx_client_cfg cfg;
	struct sockaddr_in a;
	struct tkx_client *c = NULL;
	struct tkx_client_event ev[2];
	struct tkx_new_order o = order(TKX_SIDE_BUY, 100, 1);
	struct fx x;
	(void)state;

	assert_int_equal(tkx_client_parse_addr("127.0.0.1:7411", 1, &a), 0);
	assert_int_equal(ntohs(a.sin_port), 7411);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(tkx_client_parse_addr("127.0.0.1", 7412, &a), 0);
	assert_int_equal(ntohs(a.sin_port), 7412);
	assert_int_equal(tkx_client_parse_addr(":99", 1, &a), 0);
	assert_int_equal(ntohl(a.sin_addr.s_addr), INADDR_LOOPBACK);
	assert_int_equal(tkx_client_parse_addr("localhost:7411", 1, &a), 0);
	assert_int_equal(tkx_client_parse_addr("1.2.3.4:0", 1, &a), -EINVAL);
	assert_int_equal(tkx_client_parse_addr("1.2.3.4:65536", 1, &a), -EINVAL);
	assert_int_equal(tkx_client_parse_addr("1.2.3.4:7x", 1, &a), -EINVAL);

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.version = 99;
	assert_int_equal(tkx_client_open(&c, &cfg), -ENOTSUP);
	cfg_for(&cfg, &x);
	cfg.secret_len = 0;
	assert_int_equal(tkx_client_open(&c, &cfg), -EINVAL);
	cfg_for(&cfg, &x);
	cfg.secret_len = TKX_CLIENT_MAX_SECRET + 1;
	assert_int_equal(tkx_client_open(&c, &cfg), -EINVAL);
	cfg_for(&cfg, &x);
	cfg.transport = 3;
	assert_int_equal(tkx_client_open(&c, &cfg), -EINVAL);
	assert_null(c);

	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_OPEN);
	assert_int_equal(tkx_client_session_id(c), SESSION);
	assert_true(tkx_client_fd(c) >= 0);
	assert_int_equal(tkx_client_new_order(c, &o), -ENOTCONN);
	assert_int_equal(tkx_client_poll(c, 0, ev, 0), -EINVAL);
	assert_int_equal(tkx_client_poll(c, 0, ev, 2), 0);
	assert_int_equal(tkx_client_terminate(c, 10), -ENOTCONN);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(tkx_client_start(c), -EALREADY);
	tkx_client_close(c);
	tkx_client_close(NULL);
	fx_close(&x);
}

/* ---- UDP: handshake, batched requests, replies, order table ------------------------ */

static void test_udp_session(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[16];
	struct tkx_client_order o;
	struct tkx_client_stats st;
	struct tkx_new_order no[3] = { order(TKX_SIDE_BUY, 24990, 10),
				       order(TKX_SIDE_SELL, 25010, 10),
				       order(TKX_SIDE_BUY, 24980, 10) };
	struct tkx_new_order bad = order(TKX_SIDE_BUY, 0, 10);
	struct tkx_mass_cancel mc = { .contract_id = 7, .scope = TKX_SCOPE_SESSION };
	struct tkx_msg m[16];
	struct fx x;
	struct pk p;
	uint64_t cl;
	int i;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.batch = 1;
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);

	/* Three orders in one datagram, led by Sequence(1); cl_ord_ids 1, 2, 3. */
	for (i = 0; i < 3; i++) {
		assert_int_equal(tkx_client_new_order(c, &no[i]), 0);
		assert_int_equal(no[i].cl_ord_id, (uint64_t)i + 1);
	}
	/* Refused locally: no cl_ord_id used, nothing sent. */
	assert_int_equal(tkx_client_new_order(c, &bad), -EINVAL);
	assert_int_equal(tkx_client_order_get(c, 1, &o), 0);
	assert_int_equal(o.state, TKX_CLIENT_ORD_PENDING_NEW);
	assert_int_equal(tkx_client_cancel(c, 1, NULL), -EAGAIN); /* no ExecAck yet */
	assert_int_equal(fx_recv(&x, m, 16, 50), 0); /* batched: nothing on the wire yet */
	assert_int_equal(tkx_client_flush(c), 0);
	assert_int_equal(recv1(&x, m, 16), 4);
	assert_int_equal(m[0].template_id, TKX_SEQUENCE);
	assert_int_equal(m[0].sequence.next_seq_no, 1);
	for (i = 0; i < 3; i++) {
		assert_int_equal(m[i + 1].template_id, TKX_NEW_ORDER);
		assert_int_equal(m[i + 1].new_order.cl_ord_id, (uint64_t)i + 1);
		assert_int_equal(m[i + 1].new_order.price, no[i].price);
		assert_int_equal(tkx_validate(&m[i + 1], NULL), 0);
	}

	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	for (i = 0; i < 3; i++) {
		struct tkx_exec_ack a = ack_of((uint64_t)i + 1, 1001 + (uint64_t)i, no[i].price, 10,
					       no[i].side);

		fx_app(&x, &p, TKX_EXEC_ACK, &a);
	}
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 3, HANG_MS), 3);
	for (i = 0; i < 3; i++) {
		assert_int_equal(ev[i].kind, TKX_EXEC_ACK);
		assert_int_equal(ev[i].seq, (uint64_t)i + 1);
		assert_int_equal(ev[i].msg.exec_ack.cl_ord_id, (uint64_t)i + 1);
		assert_true(ev[i].rx_ns > 0);
	}
	assert_int_equal(tkx_client_order_get(c, 2, &o), 0);
	assert_int_equal(o.state, TKX_CLIENT_ORD_LIVE);
	assert_int_equal(o.order_id, 1002);
	assert_int_equal(o.leaves, 10);

	/* Modify and cancel by our own ids: one datagram, Sequence(4). */
	assert_int_equal(tkx_client_modify(c, 1, 25000, 5, &cl), 0);
	assert_int_equal(cl, 4); /* the refused order used no cl_ord_id */
	assert_int_equal(tkx_client_cancel(c, 2, &cl), 0);
	assert_int_equal(tkx_client_order_get(c, 2, &o), 0);
	assert_int_equal(o.pend_cl_ord_id, cl);
	assert_int_equal(o.pend_template, TKX_CANCEL_ORDER);
	assert_int_equal(tkx_client_poll(c, 0, ev, 16), 0); /* poll sends the batch */
	assert_int_equal(recv1(&x, m, 16), 3);
	assert_int_equal(m[0].template_id, TKX_SEQUENCE);
	assert_int_equal(m[0].sequence.next_seq_no, 4);
	assert_int_equal(m[1].template_id, TKX_MODIFY_ORDER);
	assert_int_equal(m[1].modify_order.order_id, 1001);
	assert_int_equal(m[1].modify_order.qty, 5);
	assert_int_equal(m[2].template_id, TKX_CANCEL_ORDER);
	assert_int_equal(m[2].cancel_order.order_id, 1002);
	assert_true(m[2].cancel_order.cl_ord_id > m[1].modify_order.cl_ord_id);

	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_MODIFY_ACK,
	       &(struct tkx_modify_ack){ .cl_ord_id = m[1].modify_order.cl_ord_id,
					 .order_id = 1001, .price = 25000, .qty = 5,
					 .contract_id = 7, .side = TKX_SIDE_BUY });
	fx_app(&x, &p, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = m[2].cancel_order.cl_ord_id, .order_id = 1002,
					.orig_cl_ord_id = 2, .qty = 10, .contract_id = 7,
					.reason = TKX_CXL_CLIENT, .side = TKX_SIDE_SELL });
	fx_app(&x, &p, TKX_FILL,
	       &(struct tkx_fill){ .cl_ord_id = 3, .order_id = 1003, .trade_id = 1, .price = 24980,
				   .qty = 4, .leaves_qty = 6, .contract_id = 7,
				   .side = TKX_SIDE_BUY });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].kind, TKX_MODIFY_ACK);
	assert_int_equal(ev[0].flags & TKX_CLIENT_EVF_ORDER_DONE, 0);
	assert_int_equal(ev[1].kind, TKX_CANCELLED);
	assert_int_equal(ev[1].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(ev[2].kind, TKX_FILL);
	assert_int_equal(ev[2].seq, 6);
	assert_int_equal(tkx_client_order_get(c, 1, &o), 0);
	assert_int_equal(o.price, 25000);
	assert_int_equal(o.leaves, 5);
	assert_int_equal(o.pend_cl_ord_id, 0);
	assert_int_equal(tkx_client_order_get(c, 2, &o), -ENOENT);
	assert_int_equal(tkx_client_order_get(c, 3, &o), 0);
	assert_int_equal(o.leaves, 6);
	assert_int_equal(o.cum_qty, 4);

	/* The rest of order 3 trades; mass cancel takes order 1. */
	assert_int_equal(tkx_client_mass_cancel(c, &mc), 0);
	assert_int_equal(tkx_client_flush(c), 0);
	assert_int_equal(recv1(&x, m, 16), 2);
	assert_int_equal(m[0].sequence.next_seq_no, 6);
	assert_int_equal(m[1].template_id, TKX_MASS_CANCEL);
	assert_int_equal(m[1].mass_cancel.cl_ord_id, mc.cl_ord_id);
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_FILL,
	       &(struct tkx_fill){ .cl_ord_id = 3, .order_id = 1003, .trade_id = 2, .price = 24980,
				   .qty = 6, .leaves_qty = 0, .contract_id = 7,
				   .side = TKX_SIDE_BUY });
	fx_app(&x, &p, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = mc.cl_ord_id, .order_id = 1001,
					.orig_cl_ord_id = 1, .qty = 5, .contract_id = 7,
					.reason = TKX_CXL_MASS, .side = TKX_SIDE_BUY });
	fx_app(&x, &p, TKX_MASS_CANCEL_ACK,
	       &(struct tkx_mass_cancel_ack){ .cl_ord_id = mc.cl_ord_id, .count = 1,
					      .contract_id = 7, .scope = TKX_SCOPE_SESSION });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(ev[1].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(ev[2].kind, TKX_MASS_CANCEL_ACK);
	assert_int_equal(tkx_client_orders(c, NULL, 0), 0);
	assert_int_equal(tkx_client_cancel(c, 1, NULL), -ENOENT);

	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.tx_app, 6);
	assert_int_equal(st.rx_app, 9);
	assert_int_equal(st.next_seq_no, 7);
	assert_int_equal(st.last_in_seq, 9);
	assert_int_equal(st.next_cl_ord_id, 7);
	assert_int_equal(st.gaps + st.duplicates + st.lost + st.rx_malformed, 0);
	tkx_client_close(c);
	/* close() terminates an established session. */
	assert_int_equal(recv1(&x, m, 16), 1);
	assert_int_equal(m[0].template_id, TKX_TERMINATE);
	assert_int_equal(m[0].terminate.reason, TKX_TERM_FINISHED);
	fx_close(&x);
}

/* Order types (schema version 3): a DAY iceberg and a stop order carry their fields on
 * the wire; a combination the exchange refuses is refused locally; StopElected is a
 * numbered application message (no gap, nothing malformed), and the Cancelled reasons
 * DAY_END and ELECTED_REFUSED end an order like any other. */
static void test_order_types(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[16];
	struct tkx_client_order o;
	struct tkx_client_stats st;
	struct tkx_new_order ice = order(TKX_SIDE_SELL, 25100, 100);
	struct tkx_new_order stop = order(TKX_SIDE_BUY, 25200, 3);
	struct tkx_new_order stop2 = order(TKX_SIDE_BUY, 25300, 2);
	struct tkx_new_order bad = order(TKX_SIDE_BUY, 25000, 10);
	struct tkx_msg m[16];
	struct fx x;
	struct pk p;
	(void)state;

	ice.tif = TKX_TIF_DAY;
	ice.show_qty = 10;
	stop.stop_price = 25150;
	stop2.stop_price = 25250;
	stop2.tif = TKX_TIF_IOC;
	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.batch = 1;
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);

	bad.show_qty = 10; /* not below qty */
	assert_int_equal(tkx_client_new_order(c, &bad), -EINVAL);
	bad.show_qty = 0;
	bad.tif = TKX_TIF_POST;
	bad.stop_price = 25000;
	assert_int_equal(tkx_client_new_order(c, &bad), -EINVAL);
	assert_int_equal(tkx_client_new_order(c, &ice), 0);
	assert_int_equal(tkx_client_new_order(c, &stop), 0);
	assert_int_equal(tkx_client_new_order(c, &stop2), 0);
	assert_int_equal(ice.cl_ord_id, 1); /* the refused ones used no cl_ord_id */
	assert_int_equal(tkx_client_flush(c), 0);
	assert_int_equal(recv1(&x, m, 16), 4);
	assert_int_equal(m[1].template_id, TKX_NEW_ORDER);
	assert_int_equal(m[1].new_order.tif, TKX_TIF_DAY);
	assert_int_equal(m[1].new_order.show_qty, 10);
	assert_int_equal(m[1].new_order.stop_price, 0);
	assert_int_equal(m[2].new_order.stop_price, 25150);
	assert_int_equal(m[2].new_order.show_qty, 0);
	assert_int_equal(m[3].new_order.tif, TKX_TIF_IOC);

	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	struct tkx_exec_ack a = ack_of(1, 2001, 25100, 100, TKX_SIDE_SELL);
	a.tif = TKX_TIF_DAY;
	fx_app(&x, &p, TKX_EXEC_ACK, &a);
	a = ack_of(2, 2002, 25200, 3, TKX_SIDE_BUY);
	fx_app(&x, &p, TKX_EXEC_ACK, &a);
	a = ack_of(3, 2003, 25300, 2, TKX_SIDE_BUY);
	a.tif = TKX_TIF_IOC;
	fx_app(&x, &p, TKX_EXEC_ACK, &a);
	fx_app(&x, &p, TKX_STOP_ELECTED,
	       &(struct tkx_stop_elected){ .cl_ord_id = 2, .order_id = 2002, .price = 25200,
					   .qty = 3, .contract_id = 7, .side = TKX_SIDE_BUY });
	fx_app(&x, &p, TKX_FILL,
	       &(struct tkx_fill){ .cl_ord_id = 2, .order_id = 2002, .trade_id = 1, .price = 25100,
				   .qty = 3, .leaves_qty = 0, .contract_id = 7,
				   .side = TKX_SIDE_BUY, .aggressor = 1 });
	fx_app(&x, &p, TKX_FILL,
	       &(struct tkx_fill){ .cl_ord_id = 1, .order_id = 2001, .trade_id = 1, .price = 25100,
				   .qty = 3, .leaves_qty = 97, .contract_id = 7,
				   .side = TKX_SIDE_SELL });
	fx_app(&x, &p, TKX_STOP_ELECTED,
	       &(struct tkx_stop_elected){ .cl_ord_id = 3, .order_id = 2003, .price = 25300,
					   .qty = 2, .contract_id = 7, .side = TKX_SIDE_BUY });
	fx_app(&x, &p, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = 3, .order_id = 2003, .orig_cl_ord_id = 3,
					.qty = 2, .contract_id = 7,
					.reason = TKX_CXL_ELECTED_REFUSED, .side = TKX_SIDE_BUY });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 8, HANG_MS), 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(ev[i].seq, (uint64_t)i + 1);
	assert_int_equal(ev[3].kind, TKX_STOP_ELECTED);
	assert_int_equal(ev[3].msg.stop_elected.order_id, 2002);
	assert_int_equal(ev[3].msg.stop_elected.qty, 3);
	assert_int_equal(ev[3].flags & TKX_CLIENT_EVF_ORDER_DONE, 0);
	assert_int_equal(ev[4].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(ev[7].kind, TKX_CANCELLED);
	assert_int_equal(ev[7].msg.cancelled.reason, TKX_CXL_ELECTED_REFUSED);
	assert_int_equal(ev[7].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(tkx_client_order_get(c, 2, &o), -ENOENT);
	assert_int_equal(tkx_client_order_get(c, 3, &o), -ENOENT);
	assert_int_equal(tkx_client_order_get(c, 1, &o), 0);
	assert_int_equal(o.tif, TKX_TIF_DAY);
	assert_int_equal(o.leaves, 97); /* the iceberg's whole remaining quantity */

	/* The close: the DAY iceberg expires. */
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = 1, .order_id = 2001, .orig_cl_ord_id = 1,
					.qty = 97, .contract_id = 7, .reason = TKX_CXL_DAY_END,
					.side = TKX_SIDE_SELL });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].seq, 9);
	assert_int_equal(ev[0].msg.cancelled.reason, TKX_CXL_DAY_END);
	assert_int_equal(ev[0].flags & TKX_CLIENT_EVF_ORDER_DONE, TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(tkx_client_orders(c, NULL, 0), 0);
	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.rx_app, 9);
	assert_int_equal(st.last_in_seq, 9);
	assert_int_equal(st.gaps + st.duplicates + st.lost + st.rx_malformed, 0);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- UDP: outbound gaps, retransmission, duplicates, RetransmitReject, timeouts ---- */

static void test_udp_gap_retransmit(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[16];
	struct tkx_client_stats st;
	struct tkx_msg m[8];
	struct fx x;
	struct pk p;
	uint64_t t0;
	int i;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	/* No retry while the test answers, however slowly it runs: the timeout is tested
	 * below, with its own client. */
	cfg.retrans_timeout_ms = HANG_MS;
	cfg.retrans_retries = 1;
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);

	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 1, .order_id = 11 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].seq, 1);

	/* #2 and #3 are lost; #4 and #5 arrive and wait. */
	fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 2, .order_id = 12 });
	fx_app(&x, NULL, TKX_FILL, &(struct tkx_fill){ .cl_ord_id = 2, .order_id = 12, .qty = 1 });
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 3, .order_id = 13 });
	fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 4, .order_id = 14 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(tkx_client_poll(c, 50, ev, 16), 0);
	assert_int_equal(recv1(&x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_RETRANSMIT_REQUEST);
	assert_int_equal(m[0].retransmit_request.session_id, SESSION);
	assert_int_equal(m[0].retransmit_request.from_seq_no, 2);
	assert_int_equal(m[0].retransmit_request.count, 2);

	pk_init(&p, &x);
	pk_msg(&p, TKX_RETRANSMISSION,
	       &(struct tkx_retransmission){ .session_id = SESSION,
					     .request_timestamp = m[0].retransmit_request.timestamp,
					     .next_seq_no = 2, .count = 2 });
	pk_stored(&p, &x, 2);
	pk_stored(&p, &x, 3);
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 5, HANG_MS), 5);
	assert_int_equal(ev[0].kind, TKX_RETRANSMISSION);
	for (i = 1; i < 5; i++)
		assert_int_equal(ev[i].seq, (uint64_t)i + 1); /* 2, 3, 4, 5 in order */
	assert_int_equal(ev[1].kind, TKX_EXEC_ACK);
	assert_int_equal(ev[2].kind, TKX_FILL);
	assert_true(ev[1].flags & TKX_CLIENT_EVF_RETRANSMITTED);
	assert_true(ev[2].flags & TKX_CLIENT_EVF_RETRANSMITTED);
	assert_false(ev[3].flags & TKX_CLIENT_EVF_RETRANSMITTED);

	/* A duplicated datagram: #4 again, then #6 new. */
	pk_init(&p, &x);
	pk_seq(&p, 4);
	pk_stored(&p, &x, 4);
	assert_int_equal(fx_send(&x, &p), 0);
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_BUSINESS_REJECT,
	       &(struct tkx_business_reject){ .ref_seq_no = 9, .ref_template_id = TKX_NEW_ORDER,
					      .reason = TKX_BREJ_INVALID_FIELD });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].seq, 6);
	assert_int_equal(ev[0].kind, TKX_BUSINESS_REJECT);
	assert_int_equal(tkx_client_poll(c, 30, ev, 16), 0);

	/* A heartbeat shows #7 and #8 missed; the exchange refuses the range. */
	fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 5 });
	fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 6 });
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(tkx_client_poll(c, 30, ev, 16), 0);
	assert_int_equal(recv1(&x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_RETRANSMIT_REQUEST);
	assert_int_equal(m[0].retransmit_request.from_seq_no, 7);
	assert_int_equal(m[0].retransmit_request.count, 2);
	pk_init(&p, &x);
	pk_msg(&p, TKX_RETRANSMIT_REJECT,
	       &(struct tkx_retransmit_reject){
		       .session_id = SESSION,
		       .request_timestamp = m[0].retransmit_request.timestamp,
		       .reason = TKX_SREJ_OUT_OF_RANGE });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_RETRANSMIT_REJECT);
	assert_int_equal(ev[1].kind, TKX_CLIENT_EV_LOST);
	assert_int_equal(ev[1].seq, 7);
	assert_int_equal(ev[1].count, 2);
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 7 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].seq, 9);
	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.retrans_requests, 2);
	assert_int_equal(st.retransmitted, 2);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.lost, 2);
	assert_int_equal(st.last_in_seq, 9);
	tkx_client_close(c);
	fx_close(&x);

	/* No answer at all: one retry after retrans_timeout_ms, then LOST. A client of its
	 * own: a short timeout, and nothing else asked of it while the timer runs. */
	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.retrans_timeout_ms = 100;
	cfg.retrans_retries = 1;
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 8 });
	fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 9 });
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	assert_int_equal(fx_send(&x, &p), 0);
	t0 = mono_ms();
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_true(mono_ms() - t0 >= 150);
	assert_int_equal(ev[0].kind, TKX_CLIENT_EV_LOST);
	assert_int_equal(ev[0].seq, 1);
	assert_int_equal(ev[0].count, 2);
	for (i = 0; i < 2; i++) {
		assert_int_equal(recv1(&x, m, 8), 1);
		assert_int_equal(m[0].template_id, TKX_RETRANSMIT_REQUEST);
		assert_int_equal(m[0].retransmit_request.from_seq_no, 1);
	}
	assert_int_equal(fx_recv(&x, m, 8, 0), 0); /* no third request */

	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.retrans_requests, 2);
	assert_int_equal(st.retransmitted, 0);
	assert_int_equal(st.lost, 2);
	assert_int_equal(st.last_in_seq, 2);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- NotApplied: the order whose NewOrder was lost leaves the table ---------------- */

static void test_not_applied(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_client_order o;
	struct tkx_client_stats st;
	struct tkx_new_order no = order(TKX_SIDE_SELL, 25010, 3);
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	assert_int_equal(tkx_client_new_order(c, &no), 0); /* unbatched: sent now */
	assert_int_equal(recv1(&x, m, 4), 2);
	assert_int_equal(m[1].new_order.cl_ord_id, no.cl_ord_id);
	assert_int_equal(tkx_client_order_get(c, no.cl_ord_id, &o), 0);
	pk_init(&p, &x);
	pk_msg(&p, TKX_NOT_APPLIED, &(struct tkx_not_applied){ .from_seq_no = 1, .count = 1 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_NOT_APPLIED);
	assert_int_equal(ev[0].seq, 0);
	assert_int_equal(tkx_client_order_get(c, no.cl_ord_id, &o), -ENOENT);
	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.not_applied, 1);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- Rejected establishment -------------------------------------------------------- */

static void test_negotiation_reject(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_new_order no = order(TKX_SIDE_BUY, 10, 1);
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	char err[128];
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.firm_id = 99;
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].negotiate.firm_id, 99);
	pk_init(&p, &x);
	pk_msg(&p, TKX_NEGOTIATION_REJECT,
	       &(struct tkx_negotiation_reject){ .session_id = SESSION,
						 .request_timestamp = m[0].negotiate.timestamp,
						 .reason = TKX_SREJ_UNKNOWN_FIRM });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_NEGOTIATION_REJECT);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_FAILED);
	assert_true(tkx_client_errstr(c, err, sizeof(err)) > 0);
	assert_string_equal(err, "NegotiationReject: UnknownFirm (1)");
	assert_int_equal(tkx_client_poll(c, 10, ev, 4), -ENOTCONN);
	assert_int_equal(tkx_client_new_order(c, &no), -ENOTCONN);
	assert_int_equal(tkx_client_establish(c, 10), -ECONNREFUSED);
	tkx_client_close(c);
	fx_close(&x);
}

static void test_establishment_reject(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	char err[128];
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.keepalive_ms = 99999;
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(recv1(&x, m, 4), 1);
	pk_init(&p, &x);
	pk_msg(&p, TKX_NEGOTIATION_RESPONSE,
	       &(struct tkx_negotiation_response){ .session_id = SESSION, .firm_id = 1 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].template_id, TKX_ESTABLISH);
	assert_int_equal(m[0].establish.keepalive_ms, 99999);
	/* A stale answer to a repeated Negotiate is ignored while establishing. */
	pk_init(&p, &x);
	pk_msg(&p, TKX_NEGOTIATION_REJECT,
	       &(struct tkx_negotiation_reject){ .session_id = SESSION,
						 .reason = TKX_SREJ_SESSION_IN_USE });
	pk_msg(&p, TKX_ESTABLISHMENT_REJECT,
	       &(struct tkx_establishment_reject){ .session_id = SESSION,
						   .request_timestamp = m[0].establish.timestamp,
						   .reason = TKX_SREJ_BAD_KEEPALIVE });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_ESTABLISHMENT_REJECT);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_FAILED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_string_equal(err, "EstablishmentReject: BadKeepalive (6)");
	tkx_client_close(c);
	fx_close(&x);
}

/* A Terminate instead of an answer fails the handshake with its reason. */
static void test_terminate_while_negotiating(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	char err[128];
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(recv1(&x, m, 4), 1);
	pk_init(&p, &x);
	/* Not ours, then ours. */
	pk_msg(&p, TKX_TERMINATE, &(struct tkx_terminate){ .session_id = SESSION + 1 });
	pk_msg(&p, TKX_TERMINATE,
	       &(struct tkx_terminate){ .session_id = SESSION, .reason = TKX_TERM_UNSPECIFIED });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 2, 300), 1);
	assert_int_equal(ev[0].kind, TKX_TERMINATE);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_FAILED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_string_equal(err, "Terminate: Unspecified (1)");
	tkx_client_close(c);
	fx_close(&x);
}

/* No answer: Negotiate is repeated with fresh credentials, then a clear timeout; and a
 * closed port is reported as such. */
static void test_establish_timeout(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_msg m[4];
	struct fx x;
	uint64_t ts[16], t0;
	int n = 0, i;
	char err[160];
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.retry_ms = 100;
	c = open_client(&x, &cfg);
	/* Three Negotiates, counted as they come (however slowly), then the timeout. */
	assert_int_equal(tkx_client_start(c), 0);
	t0 = mono_ms();
	while (n < 3 && mono_ms() - t0 < HANG_MS) {
		struct tkx_client_event ev[4];

		assert_true(tkx_client_poll(c, 20, ev, 4) >= 0);
		while (n < 16 && fx_recv(&x, m, 4, 0) == 1) {
			assert_int_equal(m[0].template_id, TKX_NEGOTIATE);
			assert_int_equal(tkx_verify_msg((const uint8_t *)secret1,
							strlen(secret1), &m[0]), 0);
			ts[n++] = m[0].negotiate.timestamp;
		}
	}
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_NEGOTIATING);
	assert_int_equal(tkx_client_establish(c, 450), -ETIMEDOUT);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_FAILED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_non_null(strstr(err, "no answer"));
	assert_non_null(strstr(err, "Negotiate"));
	while (n < 16 && fx_recv(&x, m, 4, 0) == 1) {
		assert_int_equal(m[0].template_id, TKX_NEGOTIATE);
		assert_int_equal(tkx_verify_msg((const uint8_t *)secret1, strlen(secret1), &m[0]),
				 0);
		ts[n++] = m[0].negotiate.timestamp;
	}
	assert_true(n >= 3);
	for (i = 1; i < n; i++)
		assert_true(ts[i] > ts[i - 1]);
	tkx_client_close(c);
	fx_close(&x);

	/* Nobody listens on the port: ICMP unreachable makes the error precise. */
	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.retry_ms = 50;
	fx_close(&x);
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_establish(c, 300), -ECONNREFUSED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_non_null(strstr(err, "unreachable"));
	tkx_client_close(c);
}

/* ---- Heartbeats and the exchange's keepalive --------------------------------------- */

static void test_heartbeat_keepalive(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_client_stats st;
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	uint64_t t0, t_open;
	int hb = 0, n;
	char err[160];
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.keepalive_ms = 100;
	c = open_client(&x, &cfg);
	t_open = mono_ms(); /* before any timer of the client starts */
	handshake(&x, c, 1, 100);

	/* Idle while the exchange heartbeats: the client sends Sequence(1), every 100 ms -
	 * counted until 2 came (bounded by HANG_MS), and never more than the time allows.
	 * The exchange heartbeats before each poll, so that however late a poll runs on a
	 * loaded machine, it reads one before it looks at the exchange's silence. */
	t0 = mono_ms();
	while (hb < 2 && mono_ms() - t0 < HANG_MS) {
		pk_init(&p, &x);
		pk_seq(&p, x.out_next);
		assert_int_equal(fx_send(&x, &p), 0);
		assert_int_equal(tkx_client_poll(c, 20, ev, 4), 0);
		while ((n = fx_recv(&x, m, 4, 0)) > 0) {
			assert_int_equal(n, 1);
			assert_int_equal(m[0].template_id, TKX_SEQUENCE);
			assert_int_equal(m[0].sequence.next_seq_no, 1);
			hb++;
		}
	}
	assert_true(hb >= 2 && (uint64_t)hb <= (mono_ms() - t_open) / 100);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);
	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_true(st.tx_heartbeats >= 2);
	assert_true(st.rx_heartbeats >= 3);

	/* The exchange falls silent: after 3 of its intervals the session is closed. */
	t0 = mono_ms();
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_true(mono_ms() - t0 >= 200);
	assert_int_equal(ev[0].kind, TKX_CLIENT_EV_CLOSED);
	assert_int_equal(ev[0].err, -ETIMEDOUT);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_CLOSED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_non_null(strstr(err, "3 keepalive"));
	assert_int_equal(tkx_client_poll(c, 0, ev, 4), -ENOTCONN);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- Terminate --------------------------------------------------------------------- */

static void test_terminate_by_exchange(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[8];
	struct tkx_new_order no = order(TKX_SIDE_BUY, 10, 1);
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	char err[160];
	int i;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	/* A gap the exchange never fills, then its Terminate: the gap is reported LOST. */
	for (i = 0; i < 4; i++)
		fx_app(&x, NULL, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 1 });
	pk_init(&p, &x);
	pk_seq(&p, x.out_next);
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(tkx_client_poll(c, 30, ev, 8), 0);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].template_id, TKX_RETRANSMIT_REQUEST);
	pk_init(&p, &x);
	pk_msg(&p, TKX_TERMINATE,
	       &(struct tkx_terminate){ .session_id = SESSION, .reason = TKX_TERM_SHUTDOWN });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_TERMINATE);
	assert_int_equal(ev[1].kind, TKX_CLIENT_EV_LOST);
	assert_int_equal(ev[1].seq, 1);
	assert_int_equal(ev[1].count, 4);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_TERMINATED);
	tkx_client_errstr(c, err, sizeof(err));
	assert_string_equal(err, "Terminate: Shutdown (5)");
	assert_int_equal(tkx_client_poll(c, 10, ev, 8), -ENOTCONN);
	assert_int_equal(tkx_client_new_order(c, &no), -ENOTCONN);
	tkx_client_close(c);
	assert_int_equal(fx_recv(&x, m, 4, 30), 0); /* no Terminate answers a Terminate */
	fx_close(&x);
}

/* Replies, then the exchange's Terminate, all read in one pass: the events come in the
 * order the bytes came (a client must see every reply before the end, protocol 4.11), on
 * both transports. */
static void test_terminate_after_replies(void **state)
{
	(void)state;
	for (int tcp = 0; tcp < 2; tcp++) {
		struct tkx_client_cfg cfg;
		struct tkx_client *c;
		struct tkx_client_event ev[8];
		struct fx x;
		struct pk p;

		assert_int_equal(fx_open(&x, tcp), 0);
		cfg_for(&cfg, &x);
		c = open_client(&x, &cfg);
		handshake(&x, c, 1, HANG_MS);
		pk_init(&p, &x);
		if (!tcp)
			pk_seq(&p, x.out_next);
		fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 1 });
		fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 2 });
		assert_int_equal(fx_send(&x, &p), 0);
		pk_init(&p, &x);
		pk_msg(&p, TKX_TERMINATE,
		       &(struct tkx_terminate){ .session_id = SESSION,
						.reason = TKX_TERM_THROTTLE });
		/* Loopback: both are on the client's socket when fx_send() returns. */
		assert_int_equal(fx_send(&x, &p), 0);
		assert_int_equal(wait_ev(c, ev, 3, HANG_MS), 3);
		assert_int_equal(ev[0].kind, TKX_EXEC_ACK);
		assert_int_equal(ev[0].seq, 1);
		assert_int_equal(ev[1].kind, TKX_EXEC_ACK);
		assert_int_equal(ev[1].seq, 2);
		assert_int_equal(ev[2].kind, TKX_TERMINATE);
		assert_int_equal(tkx_client_poll(c, 10, ev, 8), -ENOTCONN);
		tkx_client_close(c);
		fx_close(&x);
	}
}

static void test_terminate_timeout(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_msg m[4];
	struct fx x;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	assert_int_equal(tkx_client_terminate(c, 100), -ETIMEDOUT);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_TERMINATED);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].template_id, TKX_TERMINATE);
	assert_int_equal(m[0].terminate.session_id, SESSION);
	assert_int_equal(m[0].terminate.reason, TKX_TERM_FINISHED);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- TCP: SOFH framing, partial reads, implicit numbering, recovery after Establish --- */

static void test_tcp_session(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[8];
	struct tkx_client_order o;
	struct tkx_client_stats st;
	struct tkx_new_order no = order(TKX_SIDE_BUY, 24990, 10);
	struct tkx_msg m[8];
	struct fx x;
	struct pk p;
	uint64_t t0;
	int n, hb = 0;
	(void)state;

	assert_int_equal(fx_open(&x, 1), 0);
	cfg_for(&cfg, &x);
	cfg.keepalive_ms = 100;
	c = open_client(&x, &cfg);
	/* Two messages were produced before this establishment: the ack says next is #3. */
	fx_app(&x, NULL, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = 7, .order_id = 70, .orig_cl_ord_id = 7,
					.reason = TKX_CXL_DISCONNECT });
	fx_app(&x, NULL, TKX_CANCELLED,
	       &(struct tkx_cancelled){ .cl_ord_id = 8, .order_id = 80, .orig_cl_ord_id = 8,
					.reason = TKX_CXL_DISCONNECT });
	handshake(&x, c, 1, HANG_MS);
	assert_int_equal(x.sofh[4], 0xEB);
	assert_int_equal(x.sofh[5], 0x50);
	assert_int_equal(x.sofh[3], TKX_SOFH_LEN + TKX_HDR_LEN + 64); /* Establish frame */

	assert_int_equal(recv1(&x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_RETRANSMIT_REQUEST);
	assert_int_equal(m[0].retransmit_request.from_seq_no, 1);
	assert_int_equal(m[0].retransmit_request.count, 2);

	/* Retransmission, the two resent messages and a live one, delivered in pieces. */
	pk_init(&p, &x);
	pk_msg(&p, TKX_RETRANSMISSION,
	       &(struct tkx_retransmission){ .session_id = SESSION, .next_seq_no = 1,
					     .count = 2 });
	pk_stored(&p, &x, 1);
	pk_stored(&p, &x, 2);
	fx_app(&x, &p, TKX_BUSINESS_REJECT,
	       &(struct tkx_business_reject){ .ref_template_id = TKX_NEW_ORDER,
					      .reason = TKX_BREJ_INVALID_FIELD });
	assert_int_equal(fx_send_bytes(&x, p.b, 3), 0);
	assert_int_equal(tkx_client_poll(c, 20, ev, 8), 0);
	assert_int_equal(fx_send_bytes(&x, p.b + 3, 47), 0); /* Retransmission + 4 bytes */
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_RETRANSMISSION);
	assert_int_equal(fx_send_bytes(&x, p.b + 50, p.len - 50), 0);
	assert_int_equal(wait_ev(c, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].kind, TKX_CANCELLED);
	assert_int_equal(ev[0].seq, 1);
	assert_true(ev[0].flags & TKX_CLIENT_EVF_RETRANSMITTED);
	assert_int_equal(ev[1].seq, 2);
	assert_int_equal(ev[2].kind, TKX_BUSINESS_REJECT);
	assert_int_equal(ev[2].seq, 3);
	assert_false(ev[2].flags & TKX_CLIENT_EVF_RETRANSMITTED);

	/* A request is one SOFH frame: no Sequence on TCP. */
	assert_int_equal(tkx_client_new_order(c, &no), 0);
	assert_int_equal(recv1(&x, m, 8), 1);
	assert_int_equal(m[0].template_id, TKX_NEW_ORDER);
	assert_int_equal(m[0].new_order.cl_ord_id, 1);
	assert_int_equal(x.sofh[0] | x.sofh[1] | x.sofh[2], 0);
	assert_int_equal(x.sofh[3], 62); /* 6 + 8 + 48, big-endian */
	assert_int_equal(x.sofh[4], 0xEB);
	assert_int_equal(x.sofh[5], 0x50);
	pk_init(&p, &x);
	fx_app(&x, &p, TKX_EXEC_ACK, &(struct tkx_exec_ack){ .cl_ord_id = 1, .order_id = 99,
							      .price = 24990, .qty = 10,
							      .contract_id = 7, .side = 1,
							      .tif = 1 });
	pk_seq(&p, x.out_next); /* an exchange heartbeat between frames */
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_EXEC_ACK);
	assert_int_equal(ev[0].seq, 4);
	assert_int_equal(tkx_client_order_get(c, 1, &o), 0);
	assert_int_equal(o.order_id, 99);

	/* Idle: heartbeats as SOFH frames, Sequence(2) - until the first (bounded). */
	t0 = mono_ms();
	while (hb < 1 && mono_ms() - t0 < HANG_MS) {
		assert_int_equal(tkx_client_poll(c, 20, ev, 8), 0);
		while ((n = fx_recv(&x, m, 8, 0)) > 0) {
			assert_int_equal(m[0].template_id, TKX_SEQUENCE);
			assert_int_equal(m[0].sequence.next_seq_no, 2);
			hb += n;
		}
	}
	assert_true(hb >= 1);

	/* The exchange closes the connection. */
	close(x.cfd);
	x.cfd = -1;
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_CLIENT_EV_CLOSED);
	assert_int_equal(ev[0].err, -ECONNRESET);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_CLOSED);
	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	assert_int_equal(st.gaps, 1);
	assert_int_equal(st.retransmitted, 2);
	assert_int_equal(st.rx_malformed, 0);
	tkx_client_close(c);
	fx_close(&x);
}

/* TCP: a stream with a broken SOFH cannot be resynchronised: the session is lost. */
static void test_tcp_bad_sofh(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct fx x;
	static const uint8_t junk[8] = { 0, 0, 0, 20, 0x12, 0x34, 0, 0 };
	(void)state;

	assert_int_equal(fx_open(&x, 1), 0);
	cfg_for(&cfg, &x);
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	assert_int_equal(fx_send_bytes(&x, junk, sizeof(junk)), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_CLIENT_EV_CLOSED);
	assert_int_equal(ev[0].err, -EPROTO);
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- Order table limits ------------------------------------------------------------ */

static void test_order_table_full(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	static struct tkx_client_order all[TKX_CLIENT_MAX_ORDERS];
	struct tkx_new_order no;
	struct fx x;
	int i;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.batch = 1;
	c = open_client(&x, &cfg);
	handshake(&x, c, 1, HANG_MS);
	for (i = 0; i < TKX_CLIENT_MAX_ORDERS; i++) {
		no = order(TKX_SIDE_BUY, 100 + i, 1);
		assert_int_equal(tkx_client_new_order(c, &no), 0);
		assert_int_equal(no.cl_ord_id, (uint64_t)i + 1);
	}
	no = order(TKX_SIDE_BUY, 100, 1);
	assert_int_equal(tkx_client_new_order(c, &no), -ENOSPC);
	assert_int_equal(tkx_client_orders(c, all, TKX_CLIENT_MAX_ORDERS), TKX_CLIENT_MAX_ORDERS);
	for (i = 0; i < TKX_CLIENT_MAX_ORDERS; i += 97) {
		struct tkx_client_order o;

		assert_int_equal(tkx_client_order_get(c, (uint64_t)i + 1, &o), 0);
		assert_int_equal(o.price, 100 + i);
	}
	tkx_client_close(c);
	fx_close(&x);
}

/* ---- The auto fake exchange (thread) ----------------------------------------------- */

struct rest {
	uint64_t oid, cl;
	int64_t price;
	uint32_t leaves;
	uint8_t side;
};

struct autofx {
	struct fx x;
	pthread_t th;
	volatile int stop;
	int done;      /* Terminate exchanged */
	char err[256]; /* the first protocol violation seen */
	uint64_t in_expect, last_cl, next_oid, next_trade;
	unsigned requests, heartbeats, negotiates;
	unsigned n_day, n_ice, n_stop; /* NewOrders with tif DAY, show_qty, stop_price */
	struct rest book[512];
	int n_book;
	/* Market data (when md): a TopOfBook after each reply, #3 "lost" on the stream and
	 * served to re-requests. */
	int md;
	int md_fd, md_rfd;
	struct sockaddr_in md_to, md_raddr;
	char md_session[TKX_MD_SESSION_LEN];
	uint64_t md_seq;
	uint8_t md_store[256][TKX_MAX_MSG_LEN];
	uint16_t md_len[256];
	unsigned md_rerequests;
};

__attribute__((format(printf, 2, 3))) static void violation(struct autofx *a, const char *fmt,
							     ...)
{
	va_list ap;

	if (a->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(a->err, sizeof(a->err), fmt, ap);
	va_end(ap);
}

static const char *demo_secret(uint32_t firm)
{
	return firm == 1 ? secret1 : firm == 2 ? secret2 : NULL;
}

/* The app reply under construction: on UDP it opens with Sequence(next number). */
static void app_out(struct autofx *a, struct pk *p, uint16_t tid, const void *body)
{
	if (!p->len && !p->tcp)
		pk_seq(p, a->x.out_next);
	fx_app(&a->x, p, tid, body);
	if (p->len > 1200) {
		fx_send(&a->x, p);
		p->len = 0;
	}
}

static void auto_fill(struct autofx *a, struct pk *p, const struct tkx_new_order *o,
		      uint64_t oid)
{
	uint32_t left = o->qty;
	int i, best = -1;

	for (i = 0; i < a->n_book; i++) {
		const struct rest *r = &a->book[i];

		if (r->side == o->side || (o->side == TKX_SIDE_BUY ? r->price > o->price :
								    r->price < o->price))
			continue;
		if (best < 0 || (o->side == TKX_SIDE_BUY ? r->price < a->book[best].price :
							    r->price > a->book[best].price))
			best = i;
	}
	if (best >= 0) {
		struct rest *r = &a->book[best];
		uint32_t q = left < r->leaves ? left : r->leaves;
		uint64_t tid = ++a->next_trade;

		r->leaves -= q;
		left -= q;
		app_out(a, p, TKX_FILL,
			&(struct tkx_fill){ .cl_ord_id = r->cl, .order_id = r->oid, .trade_id = tid,
					    .price = r->price, .qty = q, .leaves_qty = r->leaves,
					    .contract_id = o->contract_id, .side = r->side });
		app_out(a, p, TKX_FILL,
			&(struct tkx_fill){ .cl_ord_id = o->cl_ord_id, .order_id = oid,
					    .trade_id = tid, .price = r->price, .qty = q,
					    .leaves_qty = left, .contract_id = o->contract_id,
					    .side = o->side, .aggressor = 1 });
		if (!r->leaves)
			a->book[best] = a->book[--a->n_book];
	}
	if (left)
		app_out(a, p, TKX_CANCELLED,
			&(struct tkx_cancelled){ .cl_ord_id = o->cl_ord_id, .order_id = oid,
						 .orig_cl_ord_id = o->cl_ord_id, .qty = left,
						 .contract_id = o->contract_id,
						 .reason = TKX_CXL_IOC, .side = o->side });
}

static int find_rest(const struct autofx *a, uint64_t oid)
{
	int i;

	for (i = 0; i < a->n_book; i++)
		if (a->book[i].oid == oid)
			return i;
	return -1;
}

static void auto_request(struct autofx *a, struct pk *p, const struct tkx_msg *m)
{
	uint64_t cl;
	int i;

	memcpy(&cl, m->raw, sizeof(cl));
	a->requests++;
	if (tkx_validate(m, NULL) != 0)
		violation(a, "request %s does not validate", tkx_template_name(m->template_id));
	if (cl <= a->last_cl)
		violation(a, "cl_ord_id %llu after %llu", (unsigned long long)cl,
			  (unsigned long long)a->last_cl);
	a->last_cl = cl;
	switch (m->template_id) {
	case TKX_NEW_ORDER: {
		const struct tkx_new_order *o = &m->new_order;
		uint64_t oid = ++a->next_oid;

		app_out(a, p, TKX_EXEC_ACK,
			&(struct tkx_exec_ack){ .cl_ord_id = cl, .order_id = oid, .price = o->price,
						.qty = o->qty, .contract_id = o->contract_id,
						.side = o->side, .tif = o->tif });
		a->n_day += o->tif == TKX_TIF_DAY;
		a->n_ice += o->show_qty != 0;
		if (o->stop_price) {
			/* Elected at once: the fake keeps no last price. */
			a->n_stop++;
			app_out(a, p, TKX_STOP_ELECTED,
				&(struct tkx_stop_elected){ .cl_ord_id = cl, .order_id = oid,
							    .price = o->price, .qty = o->qty,
							    .contract_id = o->contract_id,
							    .side = o->side });
		}
		if (o->tif == TKX_TIF_IOC)
			auto_fill(a, p, o, oid);
		else if (a->n_book < 512)
			a->book[a->n_book++] = (struct rest){ .oid = oid, .cl = cl,
							      .price = o->price, .leaves = o->qty,
							      .side = o->side };
		break;
	}
	case TKX_MODIFY_ORDER:
	case TKX_CANCEL_ORDER: {
		uint64_t oid = m->template_id == TKX_CANCEL_ORDER ? m->cancel_order.order_id :
								   m->modify_order.order_id;

		i = find_rest(a, oid);
		if (i < 0) {
			app_out(a, p, TKX_EXEC_REJECT,
				&(struct tkx_exec_reject){ .cl_ord_id = cl, .order_id = oid,
							   .reason = TKX_REJ_UNKNOWN_ORDER,
							   .ref_template_id = m->template_id });
		} else if (m->template_id == TKX_CANCEL_ORDER || !m->modify_order.qty) {
			app_out(a, p, TKX_CANCELLED,
				&(struct tkx_cancelled){ .cl_ord_id = cl, .order_id = oid,
							 .orig_cl_ord_id = a->book[i].cl,
							 .qty = a->book[i].leaves,
							 .reason = TKX_CXL_CLIENT,
							 .side = a->book[i].side });
			a->book[i] = a->book[--a->n_book];
		} else {
			a->book[i].price = m->modify_order.price;
			a->book[i].leaves = m->modify_order.qty;
			struct tkx_modify_ack ma = { .cl_ord_id = cl, .order_id = oid,
						     .price = a->book[i].price,
						     .qty = a->book[i].leaves,
						     .contract_id = m->modify_order.contract_id,
						     .side = a->book[i].side };

			app_out(a, p, TKX_MODIFY_ACK, &ma);
		}
		break;
	}
	case TKX_MASS_CANCEL: {
		uint32_t n = 0;

		for (i = a->n_book - 1; i >= 0; i--) {
			struct tkx_cancelled cx = { .cl_ord_id = cl, .order_id = a->book[i].oid,
						    .orig_cl_ord_id = a->book[i].cl,
						    .qty = a->book[i].leaves,
						    .reason = TKX_CXL_MASS,
						    .side = a->book[i].side };

			app_out(a, p, TKX_CANCELLED, &cx);
			n++;
		}
		a->n_book = 0;
		app_out(a, p, TKX_MASS_CANCEL_ACK,
			&(struct tkx_mass_cancel_ack){ .cl_ord_id = cl, .count = n,
						       .contract_id = m->mass_cancel.contract_id,
						       .scope = m->mass_cancel.scope });
		break;
	}
	default:
		break;
	}
}

static void auto_md_send(struct autofx *a, uint64_t from, uint64_t count,
			 const struct sockaddr_in *to)
{
	struct tkx_md_pkt p;
	uint8_t b[TKX_MAX_DGRAM];
	uint64_t q;

	tkx_md_pkt_init(&p, b, sizeof(b), a->md_session, from);
	for (q = from; q < from + count && q < a->md_seq && q < 256; q++)
		tkx_md_pkt_append(&p, a->md_store[q], a->md_len[q]);
	sendto(to == &a->md_to ? a->md_fd : a->md_rfd, b, p.len, 0,
	       (const struct sockaddr *)to, sizeof(*to));
}

/* The book's top after a reply, as the next stream message (#3 is not sent). */
static void auto_publish(struct autofx *a)
{
	struct tkx_md_top_of_book t = { .bid_price = TKX_NULL_PRICE, .ask_price = TKX_NULL_PRICE };
	uint64_t q = a->md_seq++;
	int i;

	if (q >= 256)
		return;
	for (i = 0; i < a->n_book; i++) {
		const struct rest *r = &a->book[i];

		int64_t *best = r->side == TKX_SIDE_BUY ? &t.bid_price : &t.ask_price;

		if (*best == TKX_NULL_PRICE ||
		    (r->side == TKX_SIDE_BUY ? r->price > *best : r->price < *best))
			*best = r->price;
	}
	for (i = 0; i < a->n_book; i++) {
		if (a->book[i].price == t.bid_price && a->book[i].side == TKX_SIDE_BUY)
			t.bid_qty += a->book[i].leaves;
		if (a->book[i].price == t.ask_price && a->book[i].side == TKX_SIDE_SELL)
			t.ask_qty += a->book[i].leaves;
	}
	t.contract_id = 7;
	a->md_len[q] = (uint16_t)enc(a->md_store[q], TKX_MAX_MSG_LEN, TKX_MD_TOP_OF_BOOK, &t);
	if (q != 3)
		auto_md_send(a, q, 1, &a->md_to);
}

static void auto_md_requests(struct autofx *a)
{
	uint8_t b[64];
	struct sockaddr_in from;
	socklen_t sl = sizeof(from);
	struct tkx_md_hdr h;
	ssize_t n;

	while ((n = recvfrom(a->md_rfd, b, sizeof(b), MSG_DONTWAIT, (struct sockaddr *)&from,
			     &sl)) > 0) {
		if (n != TKX_MD_HDR_LEN || tkx_md_hdr_decode(b, (size_t)n, &h) < 0 ||
		    memcmp(h.session, a->md_session, TKX_MD_SESSION_LEN)) {
			violation(a, "bad market-data re-request");
			continue;
		}
		a->md_rerequests++;
		auto_md_send(a, h.sequence, h.count, &from);
	}
}

/* One datagram / run of frames from the client. */
static void auto_input(struct autofx *a, const struct tkx_msg *m, int n)
{
	struct pk sess, app;
	int i, numbered = 0;
	uint64_t cur = 0;

	pk_init(&sess, &a->x);
	pk_init(&app, &a->x);
	for (i = 0; i < n; i++) {
		const char *key;

		switch (m[i].template_id) {
		case TKX_NEGOTIATE:
			a->negotiates++;
			key = demo_secret(m[i].negotiate.firm_id);
			if (!key || tkx_verify_msg((const uint8_t *)key, strlen(key), &m[i]) != 0)
				pk_msg(&sess, TKX_NEGOTIATION_REJECT,
				       &(struct tkx_negotiation_reject){
					       .session_id = m[i].negotiate.session_id,
					       .request_timestamp = m[i].negotiate.timestamp,
					       .reason = key ? TKX_SREJ_BAD_CREDENTIALS :
							       TKX_SREJ_UNKNOWN_FIRM });
			else
				pk_msg(&sess, TKX_NEGOTIATION_RESPONSE,
				       &(struct tkx_negotiation_response){
					       .session_id = m[i].negotiate.session_id,
					       .request_timestamp = m[i].negotiate.timestamp,
					       .firm_id = m[i].negotiate.firm_id });
			break;
		case TKX_ESTABLISH:
			if (tkx_verify_msg((const uint8_t *)secret1, strlen(secret1), &m[i]) != 0 &&
			    tkx_verify_msg((const uint8_t *)secret2, strlen(secret2), &m[i]) != 0)
				violation(a, "Establish credentials do not verify");
			if (m[i].establish.next_seq_no != a->in_expect)
				violation(a, "Establish next_seq_no %llu",
					  (unsigned long long)m[i].establish.next_seq_no);
			pk_msg(&sess, TKX_ESTABLISHMENT_ACK,
			       &(struct tkx_establishment_ack){
				       .session_id = m[i].establish.session_id,
				       .request_timestamp = m[i].establish.timestamp,
				       .next_seq_no = a->x.out_next,
				       .expected_seq_no = a->in_expect,
				       .keepalive_ms = HANG_MS });
			break;
		case TKX_SEQUENCE:
			if (n == 1)
				a->heartbeats++;
			if (!a->x.tcp) {
				cur = m[i].sequence.next_seq_no;
				numbered = 1;
				if (cur != a->in_expect)
					violation(a, "Sequence %llu, expected %llu",
						  (unsigned long long)cur,
						  (unsigned long long)a->in_expect);
			}
			break;
		case TKX_TERMINATE:
			pk_msg(&sess, TKX_TERMINATE,
			       &(struct tkx_terminate){ .session_id = m[i].terminate.session_id });
			a->done = 1;
			break;
		case TKX_NEW_ORDER:
		case TKX_CANCEL_ORDER:
		case TKX_MODIFY_ORDER:
		case TKX_MASS_CANCEL:
			if (!a->x.tcp) {
				if (!numbered)
					violation(a, "requests without a leading Sequence");
				if (cur++ != a->in_expect)
					violation(a, "request numbered %llu, expected %llu",
						  (unsigned long long)cur - 1,
						  (unsigned long long)a->in_expect);
			}
			a->in_expect++;
			auto_request(a, &app, &m[i]);
			break;
		default:
			violation(a, "unexpected %s from the client",
				  tkx_template_name(m[i].template_id));
			break;
		}
	}
	fx_send(&a->x, &sess);
	if (app.len && a->md)
		auto_publish(a);
	fx_send(&a->x, &app);
}

static void *auto_main(void *arg)
{
	struct autofx *a = arg;
	static __thread struct tkx_msg m[TKX_DGRAM_MAX_MSGS];
	uint64_t deadline = mono_ms() + 2 * HANG_MS;

	if (a->x.tcp && fx_accept(&a->x, HANG_MS) < 0) {
		violation(a, "no TCP connection");
		return NULL;
	}
	while (!a->stop && mono_ms() < deadline) {
		int n = fx_recv(&a->x, m, TKX_DGRAM_MAX_MSGS, 20);

		if (n == -ECONNRESET)
			break;
		if (n < 0) {
			violation(a, "client bytes do not decode: %s", tkx_strerror(n));
			break;
		}
		if (n > 0)
			auto_input(a, m, n);
		if (a->md)
			auto_md_requests(a);
		if (a->done && a->x.tcp)
			break; /* the exchange closes after its Terminate */
	}
	if (a->x.tcp && a->x.cfd >= 0) {
		close(a->x.cfd);
		a->x.cfd = -1;
	}
	return NULL;
}

/* A free UDP port on 127.0.0.1 for the subscriber (bound then released). */
static uint16_t free_udp_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

static void auto_md_open(struct autofx *a)
{
	socklen_t sl = sizeof(a->md_raddr);

	a->md = 1;
	a->md_seq = 1;
	assert_int_equal(tkx_md_session(a->md_session, "MMTEST"), 0);
	a->md_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	a->md_rfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(a->md_fd >= 0 && a->md_rfd >= 0);
	a->md_raddr = (struct sockaddr_in){ .sin_family = AF_INET,
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	assert_int_equal(bind(a->md_rfd, (struct sockaddr *)&a->md_raddr, sizeof(a->md_raddr)), 0);
	assert_int_equal(getsockname(a->md_rfd, (struct sockaddr *)&a->md_raddr, &sl), 0);
	a->md_to = (struct sockaddr_in){ .sin_family = AF_INET,
					 .sin_port = htons(free_udp_port()),
					 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
}

static void auto_start_md(struct autofx *a, int tcp, int md)
{
	memset(a, 0, sizeof(*a));
	assert_int_equal(fx_open(&a->x, tcp), 0);
	if (md)
		auto_md_open(a);
	a->in_expect = 1;
	a->next_oid = 5000;
	assert_int_equal(pthread_create(&a->th, NULL, auto_main, a), 0);
}

static void auto_start(struct autofx *a, int tcp)
{
	auto_start_md(a, tcp, 0);
}

static void auto_stop(struct autofx *a)
{
	a->stop = 1;
	pthread_join(a->th, NULL);
	fx_close(&a->x);
	if (a->md) {
		close(a->md_fd);
		close(a->md_rfd);
	}
}

/* The blocking calls, against the auto exchange, on both transports. */
static void blocking_session(int tcp)
{
	static struct autofx a;
	struct tkx_client_cfg cfg;
	struct tkx_client *c = NULL;
	struct tkx_client_event ev[8];
	struct tkx_new_order no = order(TKX_SIDE_SELL, 25010, 2);
	uint64_t cl = 0;

	auto_start(&a, tcp);
	cfg_for(&cfg, &a.x);
	assert_int_equal(tkx_client_open(&c, &cfg), 0);
	assert_int_equal(tkx_client_establish(c, HANG_MS), 0);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);
	assert_int_equal(tkx_client_establish(c, HANG_MS), 0); /* already: a no-op */
	/* Handshake events stay queued for the caller. */
	assert_int_equal(wait_ev(c, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(ev[1].kind, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(tkx_client_new_order(c, &no), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_EXEC_ACK);
	assert_int_equal(tkx_client_modify(c, no.cl_ord_id, 25020, 2, &cl), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_MODIFY_ACK);
	assert_int_equal(ev[0].msg.modify_ack.cl_ord_id, cl);
	assert_int_equal(tkx_client_cancel(c, no.cl_ord_id, &cl), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_CANCELLED);
	assert_true(ev[0].flags & TKX_CLIENT_EVF_ORDER_DONE);
	assert_int_equal(tkx_client_terminate(c, HANG_MS), 0);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_TERMINATED);
	tkx_client_close(c);
	auto_stop(&a);
	assert_string_equal(a.err, "");
	assert_int_equal(a.done, 1);
	assert_int_equal(a.requests, 3);
}

static void test_blocking_udp(void **state)
{
	(void)state;
	blocking_session(0);
}

static void test_blocking_tcp(void **state)
{
	(void)state;
	blocking_session(1);
}

/* ---- Market data ------------------------------------------------------------------- */

struct mdx {
	int dfd;                 /* sends the stream */
	int rfd;                 /* the re-request server */
	struct sockaddr_in sub;  /* the subscriber's stream address */
	struct sockaddr_in raddr;
	struct sockaddr_in last_req_from;
	char session[TKX_MD_SESSION_LEN];
};

static void mdx_open(struct mdx *e, const char *session)
{
	socklen_t sl = sizeof(e->raddr);

	e->dfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	e->rfd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(e->dfd >= 0 && e->rfd >= 0);
	memset(&e->raddr, 0, sizeof(e->raddr));
	e->raddr.sin_family = AF_INET;
	e->raddr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(e->rfd, (struct sockaddr *)&e->raddr, sizeof(e->raddr)), 0);
	assert_int_equal(getsockname(e->rfd, (struct sockaddr *)&e->raddr, &sl), 0);
	assert_int_equal(tkx_md_session(e->session, session), 0);
}

struct mdp {
	struct tkx_md_pkt p;
	uint8_t b[TKX_MAX_DGRAM];
};

static void mdp_init(struct mdp *p, const struct mdx *e, uint64_t seq)
{
	assert_int_equal(tkx_md_pkt_init(&p->p, p->b, sizeof(p->b), e->session, seq), 0);
}

static void mdp_add(struct mdp *p, uint16_t tid, const void *body)
{
	uint8_t b[TKX_MAX_MSG_LEN];
	size_t n = enc(b, sizeof(b), tid, body);

	assert_int_equal(tkx_md_pkt_append(&p->p, b, n), 0);
}

static void mdp_tob(struct mdp *p, int64_t bid, int64_t ask)
{
	mdp_add(p, TKX_MD_TOP_OF_BOOK,
		&(struct tkx_md_top_of_book){ .bid_price = bid, .ask_price = ask, .bid_qty = 10,
					      .ask_qty = 20, .contract_id = 7 });
}

static void mdp_trade(struct mdp *p, uint64_t trade_id)
{
	mdp_add(p, TKX_MD_TRADE,
		&(struct tkx_md_trade){ .trade_id = trade_id, .price = 25000, .qty = 3,
					.contract_id = 7, .aggressor_side = TKX_SIDE_SELL });
}

/* To the subscriber's stream address (data) or as an answer to its last request. */
static void mdp_send(struct mdx *e, const void *b, size_t len, int answer)
{
	if (answer)
		assert_int_equal(sendto(e->rfd, b, len, 0, (struct sockaddr *)&e->last_req_from,
					sizeof(e->last_req_from)),
				 (ssize_t)len);
	else
		assert_int_equal(sendto(e->dfd, b, len, 0, (struct sockaddr *)&e->sub,
					sizeof(e->sub)),
				 (ssize_t)len);
}

static void mdp_flush(struct mdx *e, struct mdp *p, int answer)
{
	mdp_send(e, p->b, p->p.len, answer);
}

/* The next re-request: checked to be a bare 20-byte header. */
static void mdx_request(struct mdx *e, uint64_t *seq, uint16_t *count)
{
	struct pollfd pf = { .fd = e->rfd, .events = POLLIN };
	uint8_t b[64];
	struct tkx_md_hdr h;
	socklen_t sl = sizeof(e->last_req_from);
	ssize_t n;

	assert_int_equal(poll(&pf, 1, HANG_MS), 1);
	n = recvfrom(e->rfd, b, sizeof(b), 0, (struct sockaddr *)&e->last_req_from, &sl);
	assert_int_equal(n, TKX_MD_HDR_LEN);
	assert_int_equal(tkx_md_hdr_decode(b, (size_t)n, &h), TKX_MD_HDR_LEN);
	assert_memory_equal(h.session, e->session, TKX_MD_SESSION_LEN);
	*seq = h.sequence;
	*count = h.count;
}

static int wait_md(struct tkx_md_sub *s, struct tkx_md_sub_event *ev, int want, int timeout_ms)
{
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	int n = 0;

	while (n < want) {
		uint64_t now = mono_ms();
		int r = tkx_md_sub_poll(s, now >= deadline ? 0 : (int)(deadline - now), ev + n,
					(unsigned)(want - n));

		assert_true(r >= 0);
		n += r;
		if (r == 0 && mono_ms() >= deadline)
			break;
	}
	return n;
}

static void test_md_gaps(void **state)
{
	struct mdx e;
	struct mdp p;
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s = NULL;
	struct tkx_md_sub_event ev[16];
	struct tkx_md_sub_stats st;
	struct tkx_md_hdr h;
	char name[TKX_MD_SESSION_LEN + 1];
	uint8_t b[TKX_MD_HDR_LEN];
	uint64_t seq;
	uint16_t count;
	int fds[2];
	(void)state;

	mdx_open(&e, "20260101A");
	tkx_md_sub_cfg_default(&cfg);
	assert_int_equal(tkx_client_parse_addr("127.0.0.1:0", 0, &cfg.group), -EINVAL);
	cfg.group.sin_family = AF_INET;
	cfg.group.sin_addr.s_addr = htonl(INADDR_LOOPBACK); /* unicast, ephemeral port */
	cfg.rerequest = e.raddr;
	cfg.rerequest_timeout_ms = 300;
	assert_int_equal(tkx_md_sub_open(&s, &cfg), 0);
	assert_int_equal(tkx_md_sub_addr(s, &e.sub), 0);
	assert_true(e.sub.sin_port != 0);
	assert_int_equal(tkx_md_sub_fds(s, fds), 2);
	assert_true(fds[0] >= 0 && fds[1] >= 0);

	/* 1, 2: delivered, after the session is announced. */
	mdp_init(&p, &e, 1);
	mdp_tob(&p, 24990, 25010);
	mdp_trade(&p, 1);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].kind, TKX_MD_SUB_EV_SESSION);
	assert_int_equal(tkx_md_sub_session(s, name), 9);
	assert_string_equal(name, "20260101A");
	assert_int_equal(ev[1].kind, TKX_MD_TOP_OF_BOOK);
	assert_int_equal(ev[1].seq, 1);
	assert_int_equal(ev[1].msg.md_top_of_book.bid_price, 24990);
	assert_int_equal(ev[2].kind, TKX_MD_TRADE);
	assert_int_equal(ev[2].seq, 2);

	/* 5 arrives, 3 and 4 did not: re-requested, then all three in order. */
	mdp_init(&p, &e, 5);
	mdp_tob(&p, 24980, 25010);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 1, 50), 0);
	mdx_request(&e, &seq, &count);
	assert_int_equal(seq, 3);
	assert_int_equal(count, 2);
	mdp_init(&p, &e, 3);
	mdp_trade(&p, 2);
	mdp_add(&p, TKX_MD_CONTRACT_STATUS,
		&(struct tkx_md_contract_status){ .contract_id = 7, .phase = TKX_PHASE_HALTED,
						  .price = TKX_NULL_PRICE });
	mdp_flush(&e, &p, 1);
	assert_int_equal(wait_md(s, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].seq, 3);
	assert_int_equal(ev[0].kind, TKX_MD_TRADE);
	assert_true(ev[0].flags & TKX_MD_SUB_EVF_RECOVERED);
	assert_int_equal(ev[1].seq, 4);
	assert_int_equal(ev[1].kind, TKX_MD_CONTRACT_STATUS);
	assert_int_equal(ev[2].seq, 5);
	assert_false(ev[2].flags & TKX_MD_SUB_EVF_RECOVERED);

	/* The first packet again: duplicates, dropped. */
	mdp_init(&p, &e, 1);
	mdp_tob(&p, 24990, 25010);
	mdp_trade(&p, 1);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 1, 50), 0);

	/* A heartbeat says the next is 8: 6 and 7 are missing. The exchange no longer has 6. */
	h = (struct tkx_md_hdr){ .sequence = 8, .count = TKX_MD_HEARTBEAT };
	memcpy(h.session, e.session, TKX_MD_SESSION_LEN);
	tkx_md_hdr_encode(b, sizeof(b), &h);
	mdp_send(&e, b, sizeof(b), 0);
	assert_int_equal(wait_md(s, ev, 1, 50), 0);
	mdx_request(&e, &seq, &count);
	assert_int_equal(seq, 6);
	assert_int_equal(count, 2);
	mdp_init(&p, &e, 0);
	mdp_add(&p, TKX_MD_GAP_REJECT,
		&(struct tkx_md_gap_reject){ .first_available_seq = 7, .requested_seq = 6 });
	mdp_flush(&e, &p, 1);
	assert_int_equal(wait_md(s, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_MD_GAP_REJECT);
	assert_int_equal(ev[0].msg.md_gap_reject.first_available_seq, 7);
	assert_int_equal(ev[1].kind, TKX_MD_SUB_EV_LOST);
	assert_int_equal(ev[1].seq, 6);
	assert_int_equal(ev[1].count, 1);
	/* ... and asks again from 7. */
	mdx_request(&e, &seq, &count);
	assert_int_equal(seq, 7);
	assert_int_equal(count, 1);
	mdp_init(&p, &e, 7);
	mdp_add(&p, TKX_MD_SNAPSHOT,
		&(struct tkx_md_snapshot){ .as_of_seq = 6, .bid_price = 24980, .ask_price = 25010,
					   .last_price = 25000, .volume = 6, .contract_id = 7,
					   .phase = TKX_PHASE_HALTED });
	mdp_flush(&e, &p, 1);
	assert_int_equal(wait_md(s, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_MD_SNAPSHOT);
	assert_int_equal(ev[0].seq, 7);

	/* Noise: a runt packet, and an answer about another session. */
	mdp_send(&e, b, 10, 0);
	{
		struct mdx other = e;

		assert_int_equal(tkx_md_session(other.session, "20251231A"), 0);
		mdp_init(&p, &other, 8);
		mdp_tob(&p, 1, 2);
		mdp_flush(&e, &p, 1);
	}
	assert_int_equal(wait_md(s, ev, 1, 50), 0);

	/* End of session at 8, then a new session from 1. */
	h = (struct tkx_md_hdr){ .sequence = 8, .count = TKX_MD_END_OF_SESSION };
	memcpy(h.session, e.session, TKX_MD_SESSION_LEN);
	tkx_md_hdr_encode(b, sizeof(b), &h);
	mdp_send(&e, b, sizeof(b), 0);
	assert_int_equal(wait_md(s, ev, 1, HANG_MS), 1);
	assert_int_equal(ev[0].kind, TKX_MD_SUB_EV_END);
	assert_int_equal(ev[0].seq, 8);
	assert_int_equal(tkx_md_session(e.session, "20260102A"), 0);
	mdp_init(&p, &e, 1);
	mdp_tob(&p, 25000, 25020);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_MD_SUB_EV_SESSION);
	assert_int_equal(ev[1].kind, TKX_MD_TOP_OF_BOOK);
	assert_int_equal(ev[1].seq, 1);
	tkx_md_sub_session(s, name);
	assert_string_equal(name, "20260102A");

	assert_int_equal(tkx_md_sub_stats_get(s, &st), 0);
	assert_int_equal(st.gaps, 2);
	assert_int_equal(st.rerequests, 3);
	assert_int_equal(st.recovered, 3);
	assert_int_equal(st.duplicates, 2);
	assert_int_equal(st.lost, 1);
	assert_int_equal(st.gap_rejects, 1);
	assert_int_equal(st.heartbeats, 1);
	assert_int_equal(st.malformed, 1);
	assert_int_equal(st.stale, 1);
	assert_int_equal(st.next_seq, 2);
	tkx_md_sub_close(s);
	close(e.dfd);
	close(e.rfd);
}

/* Without a re-request port a gap waits for reordered packets, then is LOST. */
static void test_md_no_rerequest(void **state)
{
	struct mdx e;
	struct mdp p;
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s = NULL;
	struct tkx_md_sub_event ev[8];
	int fds[2];
	(void)state;

	mdx_open(&e, "S1");
	tkx_md_sub_cfg_default(&cfg);
	cfg.group.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.first_seq = 1; /* expect the stream from its start */
	cfg.rerequest_timeout_ms = 100;
	assert_int_equal(tkx_md_sub_open(&s, &cfg), 0);
	assert_int_equal(tkx_md_sub_fds(s, fds), 2);
	assert_int_equal(fds[1], -1);
	assert_int_equal(tkx_md_sub_addr(s, &e.sub), 0);
	/* The first packet seen starts at 3: 1 and 2 are missing from the start. */
	mdp_init(&p, &e, 3);
	mdp_tob(&p, 1, 2);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 3, HANG_MS), 3);
	assert_int_equal(ev[0].kind, TKX_MD_SUB_EV_SESSION);
	assert_int_equal(ev[1].kind, TKX_MD_SUB_EV_LOST);
	assert_int_equal(ev[1].seq, 1);
	assert_int_equal(ev[1].count, 2);
	assert_int_equal(ev[2].seq, 3);
	tkx_md_sub_close(s);
	close(e.dfd);
	close(e.rfd);
}

/* An answer cut short by the exchange's limits ends with a count-0 packet whose sequence
 * is the first message not sent (docs/protocol.md 6.3): the subscriber asks for the rest
 * at once, not at its timeout, and recovers a gap larger than one answer in several. */
static void test_md_capped_answer(void **state)
{
	struct mdx e;
	struct mdp p;
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s = NULL;
	struct tkx_md_sub_event ev[32];
	struct tkx_md_sub_stats st;
	struct tkx_md_hdr h;
	uint8_t b[TKX_MD_HDR_LEN];
	uint64_t seq, i;
	uint16_t count;
	int n;
	(void)state;

	mdx_open(&e, "20260101A");
	tkx_md_sub_cfg_default(&cfg);
	cfg.group.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cfg.rerequest = e.raddr;
	cfg.rerequest_timeout_ms = 10 * HANG_MS; /* only the marker can make it ask again */
	cfg.rerequest_retries = 0;
	assert_int_equal(tkx_md_sub_open(&s, &cfg), 0);
	assert_int_equal(tkx_md_sub_addr(s, &e.sub), 0);

	mdp_init(&p, &e, 1);
	mdp_tob(&p, 1, 2);
	mdp_flush(&e, &p, 0);
	assert_int_equal(wait_md(s, ev, 2, HANG_MS), 2);
	/* 2..10 missing. Each answer carries 3 messages and the marker. */
	mdp_init(&p, &e, 11);
	mdp_tob(&p, 1, 2);
	mdp_flush(&e, &p, 0);
	n = 0;
	for (i = 0; i < 3; i++) {
		/* The subscriber reads, and asks: polled until its request is there (it asks
		 * only from inside tkx_md_sub_poll), bounded by HANG_MS, far below its
		 * timeout. */
		uint64_t until = mono_ms() + HANG_MS;
		struct pollfd pf = { .fd = e.rfd, .events = POLLIN };

		do
			n += wait_md(s, ev + n, 32 - n, 10);
		while (poll(&pf, 1, 0) == 0 && mono_ms() < until);
		mdx_request(&e, &seq, &count);
		assert_true(seq == 2 + 3 * i);
		assert_true(count == 9 - 3 * i);
		mdp_init(&p, &e, seq);
		mdp_tob(&p, 1, 2);
		mdp_tob(&p, 1, 2);
		mdp_tob(&p, 1, 2);
		mdp_flush(&e, &p, 1);
		if (i == 2)
			break; /* the last answer is whole: no marker */
		h = (struct tkx_md_hdr){ .sequence = seq + 3, .count = TKX_MD_HEARTBEAT };
		memcpy(h.session, e.session, TKX_MD_SESSION_LEN);
		tkx_md_hdr_encode(b, sizeof(b), &h);
		mdp_send(&e, b, sizeof(b), 1);
	}
	n += wait_md(s, ev + n, 10 - n, HANG_MS);
	assert_int_equal(n, 10);
	for (i = 0; i < 10; i++)
		assert_true(ev[i].seq == 2 + i && ev[i].kind == TKX_MD_TOP_OF_BOOK);
	/* A marker that repeats (no progress) asks nothing more. */
	mdp_send(&e, b, sizeof(b), 1);
	assert_int_equal(wait_md(s, ev, 1, 50), 0);
	{
		struct pollfd pf = { .fd = e.rfd, .events = POLLIN };

		assert_int_equal(poll(&pf, 1, 50), 0);
	}
	assert_int_equal(tkx_md_sub_stats_get(s, &st), 0);
	assert_int_equal(st.rerequests, 3);
	assert_int_equal(st.recovered, 9);
	assert_int_equal(st.lost, 0);
	assert_int_equal(st.heartbeats, 0); /* markers are not the stream's heartbeats */
	tkx_md_sub_close(s);
	close(e.dfd);
	close(e.rfd);
}

/* A real multicast join on the loopback interface, where the host allows it. */
static void test_md_multicast_join(void **state)
{
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s = NULL;
	int r;
	(void)state;

	tkx_md_sub_cfg_default(&cfg);
	assert_int_equal(tkx_client_parse_addr("239.255.74.11:0", 0, &cfg.group), -EINVAL);
	assert_int_equal(tkx_client_parse_addr("239.255.74.11:17413", 0, &cfg.group), 0);
	cfg.group.sin_port = 0; /* ephemeral: no clash with anything else on the host */
	cfg.iface.s_addr = htonl(INADDR_LOOPBACK);
	r = tkx_md_sub_open(&s, &cfg);
	if (r == -ENODEV || r == -EADDRNOTAVAIL || r == -EPERM || r == -ENOBUFS) {
		fprintf(stderr, "skip: IP_ADD_MEMBERSHIP on lo refused here (%s)\n", strerror(-r));
		skip();
	}
	assert_int_equal(r, 0);
	tkx_md_sub_close(s);
	cfg.version = 0;
	assert_int_equal(tkx_md_sub_open(&s, &cfg), -ENOTSUP);
}

/* ---- tokex-mm end to end ----------------------------------------------------------- */

/* Run tokex-mm with args; its stdout+stderr into out. The exit status, -1 if killed. */
static int run_mm(const char *const *args, char *out, size_t outlen, int timeout_ms)
{
	char path[] = "/tmp/test_client_mm_XXXXXX";
	char *argv[32];
	posix_spawn_file_actions_t fa;
	uint64_t deadline = mono_ms() + (uint64_t)timeout_ms;
	int fd = mkstemp(path), st = 0, i;
	ssize_t n;
	pid_t pid;

	assert_true(fd >= 0);
	argv[0] = (char *)(uintptr_t)mm_path;
	for (i = 0; args[i] && i < 30; i++)
		argv[i + 1] = (char *)(uintptr_t)args[i];
	argv[i + 1] = NULL;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fd, 1);
	posix_spawn_file_actions_adddup2(&fa, fd, 2);
	assert_int_equal(posix_spawn(&pid, mm_path, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	while (waitpid(pid, &st, WNOHANG) == 0) {
		if (mono_ms() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &st, 0);
			break;
		}
		usleep(10000);
	}
	n = pread(fd, out, outlen - 1, 0);
	out[n > 0 ? n : 0] = '\0';
	close(fd);
	unlink(path);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void mm_against_auto(int tcp, int md, const char *bound, const char *bound_val)
{
	static struct autofx a;
	static char out[1 << 20];
	char addr[64], md_addr[64], md_req[64];
	const char *args[] = { tcp ? "--tcp" : "--udp", addr, "--levels", "2", "--interval", "20",
			       "--take-every", "2", "--seed", "7", "--session-id", "777",
			       "--contract", "7", "--seconds", "0", bound, bound_val,
			       md ? "--md" : NULL, md_addr, "--md-req", md_req, NULL };
	int rc;

	if (!mm_path)
		skip();
	auto_start_md(&a, tcp, md);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(a.x.addr.sin_port));
	snprintf(md_addr, sizeof(md_addr), "127.0.0.1:%u", (unsigned)ntohs(a.md_to.sin_port));
	snprintf(md_req, sizeof(md_req), "127.0.0.1:%u", (unsigned)ntohs(a.md_raddr.sin_port));
	rc = run_mm(args, out, sizeof(out), 2 * HANG_MS);
	auto_stop(&a);
	if (rc != 0 || a.err[0] || getenv("TKX_TEST_VERBOSE"))
		fprintf(stderr, "tokex-mm (rc %d, exchange: '%s'):\n%s\n", rc, a.err, out);
	assert_int_equal(rc, 0);
	assert_string_equal(a.err, "");
	assert_int_equal(a.done, 1);
	assert_non_null(strstr(out, "ESTABLISHED session 777"));
	assert_non_null(strstr(out, "ACK "));
	assert_non_null(strstr(out, "MOD "));
	assert_non_null(strstr(out, "FILL "));
	assert_non_null(strstr(out, "MCXL "));
	assert_non_null(strstr(out, "TERM "));
	assert_non_null(strstr(out, "summary: session 777"));
	assert_non_null(strstr(out, "latency request->reply p50"));
	assert_true(a.requests >= 10);
	if (md) {
		/* #3 was never on the stream: mm asked for it and got it back. */
		assert_non_null(strstr(out, "TOB    c=7"));
		assert_non_null(strstr(out, "#3"));
		assert_true(a.md_rerequests >= 1);
		assert_non_null(strstr(out, "summary: market data"));
		assert_non_null(strstr(out, "recovered 1, lost 0"));
	}
}

static void test_mm_udp(void **state)
{
	(void)state;
	mm_against_auto(0, 1, "--orders", "40");
}

static void test_mm_tcp(void **state)
{
	(void)state;
	mm_against_auto(1, 0, "--orders", "40");
}

/* The order types from tokex-mm's options: DAY iceberg quotes, stop orders whose
 * StopElected it prints and counts; the options checked. */
static void test_mm_order_types(void **state)
{
	static struct autofx a;
	static char out[1 << 20];
	char addr[64];
	const char *args[] = { "--udp", addr, "--levels", "2", "--interval", "20", "--qty", "10",
			       "--take-every", "3", "--seed", "7", "--session-id", "778",
			       "--contract", "7", "--seconds", "0", "--orders", "40", "--tif",
			       "day", "--show", "3", "--stop-every", "2", NULL };
	const char *bad_show[] = { "--qty", "10", "--show", "10", NULL };
	const char *bad_slices[] = { "--qty", "5000", "--show", "4", NULL };
	const char *bad_tif[] = { "--tif", "ioc", NULL };
	(void)state;

	if (!mm_path)
		skip();
	auto_start(&a, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(a.x.addr.sin_port));
	int rc = run_mm(args, out, sizeof(out), 2 * HANG_MS);
	auto_stop(&a);
	if (rc != 0 || a.err[0] || getenv("TKX_TEST_VERBOSE"))
		fprintf(stderr, "tokex-mm (rc %d, exchange: '%s'):\n%s\n", rc, a.err, out);
	assert_int_equal(rc, 0);
	assert_string_equal(a.err, ""); /* every request validated (schema version 3) */
	assert_true(a.n_day >= 4);       /* the first quotes of both sides, at least */
	assert_int_equal(a.n_ice, a.n_day);
	assert_true(a.n_stop >= 1);
	assert_non_null(strstr(out, "ACK "));
	assert_non_null(strstr(out, " Day"));
	assert_non_null(strstr(out, "ELECT  cl="));
	char want[64];
	snprintf(want, sizeof(want), "summary: stop orders %u, elected %u", a.n_stop, a.n_stop);
	assert_non_null(strstr(out, want));
	assert_int_equal(run_mm(bad_show, out, sizeof(out), HANG_MS), 2);
	assert_non_null(strstr(out, "--show"));
	assert_int_equal(run_mm(bad_slices, out, sizeof(out), HANG_MS), 2);
	assert_int_equal(run_mm(bad_tif, out, sizeof(out), HANG_MS), 2);
	assert_non_null(strstr(out, "--tif"));
}

static void test_mm_failures(void **state)
{
	static struct autofx a;
	static char out[1 << 16];
	char addr[64];
	const char *bad_secret[] = { "--udp", addr, "--firm", "2", "--secret", "wrong", NULL };
	const char *usage_err[] = { "--levels", "0", NULL };
	const char *help[] = { "--help", NULL };
	(void)state;

	if (!mm_path)
		skip();
	auto_start(&a, 0);
	snprintf(addr, sizeof(addr), "127.0.0.1:%u", (unsigned)ntohs(a.x.addr.sin_port));
	assert_int_equal(run_mm(bad_secret, out, sizeof(out), HANG_MS), 1);
	auto_stop(&a);
	assert_non_null(strstr(out, "cannot establish"));
	assert_non_null(strstr(out, "NegotiationReject: BadCredentials (2)"));
	assert_int_equal(run_mm(usage_err, out, sizeof(out), HANG_MS), 2);
	assert_non_null(strstr(out, "--levels"));
	assert_int_equal(run_mm(help, out, sizeof(out), HANG_MS), 0);
	assert_non_null(strstr(out, "usage:"));
	assert_non_null(strstr(out, "--take-every"));
}

/* Regression (found by test_tokexd_journal_crash): a re-Establish whose next_seq_no is
 * above what the exchange has (requests lost in a crash) is answered EstablishmentAck, then
 * NotApplied for the gap. tokex now acks with the number after the gap (protocol 4.5); an
 * exchange that acks with the number before it, as tokex used to and as this mock does,
 * must not pull the client back: it goes on after the gap (the exchange would drop the
 * numbers in the gap as late). */
static void test_reestablish_gap_not_applied(void **state)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_new_order no = order(TKX_SIDE_BUY, 25000, 1);
	struct tkx_msg m[4];
	struct fx x;
	struct pk p;
	(void)state;

	assert_int_equal(fx_open(&x, 0), 0);
	cfg_for(&cfg, &x);
	cfg.next_seq_no = 9;
	c = open_client(&x, &cfg);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].template_id, TKX_NEGOTIATE);
	pk_init(&p, &x);
	pk_msg(&p, TKX_NEGOTIATION_RESPONSE,
	       &(struct tkx_negotiation_response){ .session_id = SESSION,
						   .request_timestamp = m[0].negotiate.timestamp,
						   .firm_id = 1 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 1, HANG_MS), 1);
	assert_int_equal(recv1(&x, m, 4), 1);
	assert_int_equal(m[0].template_id, TKX_ESTABLISH);
	assert_int_equal(m[0].establish.next_seq_no, 9);
	pk_init(&p, &x);
	pk_msg(&p, TKX_ESTABLISHMENT_ACK,
	       &(struct tkx_establishment_ack){ .session_id = SESSION,
						.request_timestamp = m[0].establish.timestamp,
						.next_seq_no = 1, .expected_seq_no = 4,
						.keepalive_ms = HANG_MS });
	pk_msg(&p, TKX_NOT_APPLIED, &(struct tkx_not_applied){ .from_seq_no = 4, .count = 5 });
	assert_int_equal(fx_send(&x, &p), 0);
	assert_int_equal(wait_ev(c, ev, 2, HANG_MS), 2);
	assert_int_equal(ev[0].kind, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(ev[1].kind, TKX_NOT_APPLIED);
	assert_int_equal(tkx_client_new_order(c, &no), 0);
	assert_int_equal(recv1(&x, m, 4), 2);
	assert_int_equal(m[0].template_id, TKX_SEQUENCE);
	assert_int_equal(m[0].sequence.next_seq_no, 9); /* not 4 */
	tkx_client_close(c);
	fx_close(&x);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_and_args),
		cmocka_unit_test(test_udp_session),
		cmocka_unit_test(test_order_types),
		cmocka_unit_test(test_udp_gap_retransmit),
		cmocka_unit_test(test_not_applied),
		cmocka_unit_test(test_negotiation_reject),
		cmocka_unit_test(test_establishment_reject),
		cmocka_unit_test(test_terminate_while_negotiating),
		cmocka_unit_test(test_establish_timeout),
		cmocka_unit_test(test_heartbeat_keepalive),
		cmocka_unit_test(test_terminate_by_exchange),
		cmocka_unit_test(test_terminate_after_replies),
		cmocka_unit_test(test_terminate_timeout),
		cmocka_unit_test(test_tcp_session),
		cmocka_unit_test(test_tcp_bad_sofh),
		cmocka_unit_test(test_order_table_full),
		cmocka_unit_test(test_blocking_udp),
		cmocka_unit_test(test_blocking_tcp),
		cmocka_unit_test(test_md_gaps),
		cmocka_unit_test(test_md_no_rerequest),
		cmocka_unit_test(test_md_capped_answer),
		cmocka_unit_test(test_md_multicast_join),
		cmocka_unit_test(test_mm_udp),
		cmocka_unit_test(test_mm_tcp),
		cmocka_unit_test(test_mm_failures),
		cmocka_unit_test(test_mm_order_types),
		cmocka_unit_test(test_reestablish_gap_not_applied),
	};

	signal(SIGPIPE, SIG_IGN);
	if (argc > 1)
		mm_path = argv[1];
	return cmocka_run_group_tests(tests, NULL, NULL);
}
