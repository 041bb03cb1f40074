/*
 * test_gw.c - the TCP order-entry gateway (dataplane/tokexd/td_gw.h) end to end: a real
 * TCP client on 127.0.0.1 speaks SOFH-framed tokex to the gateway thread, and the test
 * plays the matching cores on the other side of the rte_rings (EAL without hugepages or
 * PCI). Every wait is bounded.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <rte_errno.h>
#include <rte_ring.h>

#include <tokex/codec.h>

#include "dataplane/net/dp_port.h"
#include "dataplane/tokexd/td_gw.h"

/* The longest any single expected thing may take: a bound for a hang, generous enough for a
 * loaded machine (scripts/test-loaded), never a measure of speed. */
#define WAIT_MS 10000
#define RING_SZ 16   /* capacity 15: small enough to fill */
#define C0 42        /* contract on matching core 0 */
#define C1 43        /* contract on matching core 1 */

static const struct ss_firm firm = { .firm_id = 7, .key_len = 8, .key = "secret-7" };
static int g_gw_cpu = -1;
static unsigned g_ring_seq;

static uint64_t now_ns(void)
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

/* ---- Fixture: two matching cores' rings and a started gateway ----------------------------- */

struct fx {
	struct td_route route;
	struct td_gw_conf conf;
	struct td_gw *gw;
	struct rte_ring *req[2];
	struct rte_ring *ev[2];
	struct cl *cls[16]; /* open clients, closed by teardown when a test fails */
};

static struct rte_ring *mk_ring(const char *what, unsigned esize, unsigned count)
{
	char name[RTE_RING_NAMESIZE];
	struct rte_ring *r;

	snprintf(name, sizeof(name), "gw_%s%u", what, g_ring_seq++);
	r = rte_ring_create_elem(name, esize, count, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (!r)
		fail_msg("rte_ring_create_elem %s: %s", name, rte_strerror(rte_errno));
	return r;
}

static void fx_conf(struct fx *f, unsigned req_sz)
{
	memset(f, 0, sizeof(*f));
	for (unsigned m = 0; m < 2; m++) {
		f->req[m] = mk_ring("req", sizeof(struct dp_order), req_sz);
		f->ev[m] = mk_ring("ev", sizeof(struct dp_event), 1024);
		f->route.req[TD_SRC_GW][m] = f->req[m];
		f->route.ev[m][TD_SRC_GW] = f->ev[m];
	}
	f->route.n_match = 2;
	f->route.n = 2;
	f->route.contract[0] = C0;
	f->route.core[0] = 0;
	f->route.contract[1] = C1;
	f->route.core[1] = 1;

	td_gw_conf_default(&f->conf);
	f->conf.port = 0;
	f->conf.route = &f->route;
	f->conf.max_conns = 8;
	f->conf.cpu = g_gw_cpu;
	f->conf.ss.max_sessions = 16;
	f->conf.ss.firms = &firm;
	f->conf.ss.n_firms = 1;
	f->conf.ss.retrans_depth = 64;
	f->conf.ss.retrans_max = 64;
	f->conf.ss.log_depth = 64;
	f->conf.stop_ms = 300; /* the tests' clients answer a FIN only once td_gw_stop() returns */
}

static void fx_start(struct fx *f)
{
	char err[256] = "";
	int rc = td_gw_start(&f->gw, &f->conf, err, sizeof(err));

	if (rc)
		fail_msg("td_gw_start: %d %s", rc, err);
	assert_true(td_gw_port(f->gw) != 0);
}

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	fx_start(f);
	*state = f;
	return 0;
}

/* A slow client's world: tiny send queue and socket buffer, so a backlog overflows. */
static int setup_small_tx(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->conf.tx_queue = 4096;
	f->conf.sndbuf = 4096;
	fx_start(f);
	*state = f;
	return 0;
}

/* A logged-on connection that says nothing is closed after 2 s (its logon's two round
 * trips each have that long, even on a loaded machine). */
static int setup_idle(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->conf.idle_ms = 2000;
	fx_start(f);
	*state = f;
	return 0;
}

/* Room for a burst: big request rings, no throttle. */
static int setup_burst(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, 1024);
	f->conf.ss.throttle_rate = 0;
	fx_start(f);
	*state = f;
	return 0;
}

/* The gateway of a journaling appliance (conf.journal, td_gw.h "Journal"): one matching
 * core, which is then the RX core (ring 0 carries requests, SESSION_UP and LOCAL records),
 * contract C0 only; no throttle, so every request reaches routing. */
static int setup_journal(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->route.n_match = 1;
	f->route.n = 1;
	f->conf.journal = 1;
	f->conf.ss.throttle_rate = 0;
	/* A session may have retrans_depth / 4 requests unanswered (ss_session.h invariant
	 * 14): 4096 here, so that the journal FIFO's backpressure is what parks one. */
	f->conf.ss.retrans_depth = 16384;
	fx_start(f);
	*state = f;
	return 0;
}

/* A client that reads slowly: the gateway's socket buffer is small, so at a stop most of
 * a backlog is still in the gateway's own send queue. */
static int setup_slow_reader(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->conf.sndbuf = 4096;
	f->conf.stop_ms = 60000; /* a bound for a hang: the reader takes all, then closes */
	fx_start(f);
	*state = f;
	return 0;
}

/* Admission: a table of 4, 2 connections per address; credentials may take long. */
static int setup_admission(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->conf.max_conns = 4;
	f->conf.max_conns_per_ip = 2;
	f->conf.negotiate_ms = 60000;
	fx_start(f);
	*state = f;
	return 0;
}

/* A second to show credentials (a client logging on at once does, even on a busy machine). */
static int setup_negotiate(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, RING_SZ);
	f->conf.negotiate_ms = 1000;
	fx_start(f);
	*state = f;
	return 0;
}

static void cls_close_all(struct fx *f);

static int teardown(void **state)
{
	struct fx *f = *state;

	assert_int_equal(td_gw_stop(f->gw), 0); /* no SESSION_GONE left behind */
	cls_close_all(f); /* a failed test's clients */
	for (unsigned m = 0; m < 2; m++) {
		rte_ring_free(f->req[m]);
		rte_ring_free(f->ev[m]);
	}
	free(f);
	return 0;
}

static struct td_gw_stats gstats(const struct fx *f)
{
	struct td_gw_stats s;

	td_gw_stats(f->gw, &s);
	return s;
}

static struct ss_stats sstats(const struct fx *f)
{
	struct ss_stats s;

	td_gw_ss_stats(f->gw, &s);
	return s;
}

/* Waits until the counter expression reaches want (another thread updates it). */
#define WAIT_STAT(f, field, want)                                                           \
	do {                                                                               \
		uint64_t t0_ = mono_ms();                                                  \
		while (gstats(f).field < (uint64_t)(want) && mono_ms() - t0_ < WAIT_MS)    \
			usleep(200);                                                       \
		assert_int_equal(gstats(f).field, (want));                                 \
	} while (0)

/* ---- The matching cores' side ---------------------------------------------------------- */

/* One dp_order from core m's ring within WAIT_MS: 1, or 0 on timeout. */
static int deq_order_wait(struct fx *f, unsigned m, struct dp_order *o, unsigned ms)
{
	uint64_t t0 = mono_ms();

	do {
		if (rte_ring_sc_dequeue_elem(f->req[m], o, sizeof(*o)) == 0)
			return 1;
		usleep(100);
	} while (mono_ms() - t0 < ms);
	return 0;
}

static struct dp_order deq_order(struct fx *f, unsigned m)
{
	struct dp_order o;

	if (!deq_order_wait(f, m, &o, WAIT_MS))
		fail_msg("no dp_order on core %u's ring", m);
	return o;
}

static void expect_ring_empty(struct fx *f, unsigned m)
{
	struct dp_order o;

	assert_int_equal(deq_order_wait(f, m, &o, 50), 0);
}

static void enq_ack(struct fx *f, unsigned m, const struct dp_order *o, uint64_t order_id)
{
	struct dp_event e = {
		.template_id = TKX_EXEC_ACK,
		.session = o->session,
		.src = TD_SRC_GW,
		.pad = { 0, DP_EV_DONE }, /* the request's last reply (dp_msg.h) */
	};

	e.u.ack = (struct tkx_exec_ack){
		.cl_ord_id = o->cl_ord_id,
		.order_id = order_id,
		.price = o->price,
		.transact_time = now_ns(),
		.qty = o->qty,
		.contract_id = o->contract_id,
		.side = o->side,
		.tif = o->tif,
	};
	assert_int_equal(rte_ring_sp_enqueue_elem(f->ev[m], &e, sizeof(e)), 0);
}

/* ---- The client's side ------------------------------------------------------------------ */

struct cl {
	struct cl **owner; /* its place in fx.cls */
	int fd;
	size_t len;
	uint8_t buf[1 << 16];
};

/* A client connected from the loopback address src (host order; 0: the kernel's choice,
 * 127.0.0.1), with a receive buffer of rcvbuf bytes (0: the kernel's). */
static struct cl *cl_open_from(struct fx *f, int rcvbuf, uint32_t src)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct cl *c = calloc(1, sizeof(*c));
	int one = 1;

	assert_non_null(c);
	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(c->fd >= 0);
	if (rcvbuf) /* before connect, so that the window is small from the start */
		assert_int_equal(setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
					    sizeof(rcvbuf)), 0);
	if (src) {
		struct sockaddr_in la = { .sin_family = AF_INET };

		la.sin_addr.s_addr = htonl(src);
		assert_int_equal(bind(c->fd, (struct sockaddr *)&la, sizeof(la)), 0);
	}
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons(td_gw_port(f->gw));
	assert_int_equal(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	for (unsigned i = 0; i < 16 && !c->owner; i++)
		if (!f->cls[i]) {
			f->cls[i] = c;
			c->owner = &f->cls[i];
		}
	assert_non_null(c->owner);
	return c;
}

static struct cl *cl_open(struct fx *f, int rcvbuf)
{
	return cl_open_from(f, rcvbuf, 0);
}

static void cls_close_all(struct fx *f)
{
	for (unsigned i = 0; i < 16; i++)
		if (f->cls[i]) {
			close(f->cls[i]->fd);
			free(f->cls[i]);
			f->cls[i] = NULL;
		}
}

static void cl_close(struct cl *c)
{
	*c->owner = NULL;
	close(c->fd);
	free(c);
}

static void cl_send(struct cl *c, const void *p, size_t n)
{
	const uint8_t *b = p;

	while (n) {
		ssize_t k = send(c->fd, b, n, MSG_NOSIGNAL);

		if (k < 0)
			fail_msg("send: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
}

/* Sends what the socket takes now, never waiting: the bytes sent, 0 when it is full. */
static size_t cl_send_nb(struct cl *c, const void *p, size_t n)
{
	ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);

	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (k < 0)
		fail_msg("send: %s", strerror(errno));
	return (size_t)k;
}

/* The next message from the gateway: 1, 0 on EOF or reset, -ETIMEDOUT. */
static int cl_read(struct cl *c, struct tkx_msg *m, unsigned ms)
{
	uint64_t t0 = mono_ms();

	for (;;) {
		int r = tkx_decode_frame(c->buf, c->len, m);
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		uint64_t el = mono_ms() - t0;
		ssize_t k;

		if (r > 0) {
			memmove(c->buf, c->buf + r, c->len - (size_t)r);
			c->len -= (size_t)r;
			return 1;
		}
		assert_int_equal(r, 0); /* the gateway sends only good frames */
		if (el >= ms || poll(&pfd, 1, (int)(ms - el)) == 0)
			return -ETIMEDOUT;
		k = recv(c->fd, c->buf + c->len, sizeof(c->buf) - c->len, 0);
		if (k == 0 || (k < 0 && errno == ECONNRESET))
			return 0;
		if (k < 0)
			fail_msg("recv: %s", strerror(errno));
		c->len += (size_t)k;
	}
}

/* The next message that is not a heartbeat; it must be template tid. */
static struct tkx_msg cl_expect(struct cl *c, uint16_t tid)
{
	struct tkx_msg m;
	int r;

	do {
		r = cl_read(c, &m, WAIT_MS);
		if (r != 1)
			fail_msg("expected %s, got %s", tkx_template_name(tid),
				 r == 0 ? "EOF" : "nothing");
	} while (m.template_id == TKX_SEQUENCE && tid != TKX_SEQUENCE);
	if (m.template_id != tid)
		fail_msg("expected %s, got %s", tkx_template_name(tid),
			 tkx_template_name(m.template_id));
	return m;
}

/* The gateway closed the connection (EOF or reset) within WAIT_MS, maybe after more
 * messages, which are skipped. */
static void cl_expect_closed(struct cl *c)
{
	struct tkx_msg m;
	uint64_t t0 = mono_ms();
	int r;

	do {
		r = cl_read(c, &m, WAIT_MS);
	} while (r == 1 && mono_ms() - t0 < WAIT_MS);
	assert_int_equal(r, 0);
}

/* Message builders: each writes one SOFH frame at b->p + b->n. */
struct fb {
	uint8_t p[8192];
	size_t n;
};

static void fb_msg(struct fb *b, const void *msg, int mlen)
{
	assert_true(mlen > 0);
	assert_int_equal(tkx_sofh_encode(b->p + b->n, sizeof(b->p) - b->n, (size_t)mlen),
			 TKX_SOFH_LEN);
	memcpy(b->p + b->n + TKX_SOFH_LEN, msg, (size_t)mlen);
	b->n += TKX_SOFH_LEN + (size_t)mlen;
}

#define FB_ADD(b, name, ...)                                                                \
	do {                                                                               \
		struct tkx_##name m_ = { __VA_ARGS__ };                                    \
		uint8_t e_[TKX_MAX_MSG_LEN];                                               \
		fb_msg(b, e_, tkx_enc_##name(e_, sizeof(e_), &m_));                        \
	} while (0)

static void fb_negotiate(struct fb *b, uint64_t sid)
{
	struct tkx_negotiate n = { .session_id = sid, .timestamp = now_ns(), .firm_id = 7 };
	uint8_t e[TKX_MAX_MSG_LEN];
	int len = tkx_enc_negotiate(e, sizeof(e), &n);

	assert_int_equal(tkx_sign(firm.key, firm.key_len, e, (size_t)len), 0);
	fb_msg(b, e, len);
}

static void fb_establish(struct fb *b, uint64_t sid, uint32_t ka_ms, uint8_t cod)
{
	struct tkx_establish es = {
		.session_id = sid,
		.timestamp = now_ns(),
		.next_seq_no = 1,
		.keepalive_ms = ka_ms,
		.cancel_on_disconnect = cod,
	};
	uint8_t e[TKX_MAX_MSG_LEN];
	int len = tkx_enc_establish(e, sizeof(e), &es);

	assert_int_equal(tkx_sign(firm.key, firm.key_len, e, (size_t)len), 0);
	fb_msg(b, e, len);
}

static void fb_order(struct fb *b, uint64_t cl, uint32_t contract)
{
	FB_ADD(b, new_order, .cl_ord_id = cl, .price = 1000 + (int64_t)cl, .qty = 5,
	       .contract_id = contract, .account = 3, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC);
}

static void fb_send(struct cl *c, struct fb *b)
{
	cl_send(c, b->p, b->n);
	b->n = 0;
}

/* Negotiate and Establish session sid on c; returns the EstablishmentAck. */
static struct tkx_msg logon(struct cl *c, uint64_t sid, uint32_t ka_ms, uint8_t cod)
{
	struct fb b = { .n = 0 };
	struct tkx_msg m;

	fb_negotiate(&b, sid);
	fb_send(c, &b);
	m = cl_expect(c, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(m.negotiation_response.session_id, sid);
	fb_establish(&b, sid, ka_ms, cod);
	fb_send(c, &b);
	m = cl_expect(c, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(m.establishment_ack.session_id, sid);
	return m;
}

/* ---- Tests --------------------------------------------------------------------------------- */

static void test_conf_errors(void **state)
{
	struct fx *f = *state;
	struct td_gw_conf c = f->conf;
	struct td_route r = f->route;
	struct td_gw *gw = (struct td_gw *)&c; /* must come back NULL */
	char err[256];

	c.tx_queue = 5000;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	assert_null(gw);
	assert_non_null(strstr(err, "tx_queue"));
	c = f->conf;
	c.poll_us = TD_GW_POLL_MAX_US + 1;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	c = f->conf;
	c.max_conns = 0;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	c = f->conf;
	c.route = &r;
	r.ev[1][TD_SRC_GW] = NULL;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "core 1"));
	r = f->route;
	r.core[1] = 2;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	c = f->conf;
	c.ss.retrans_depth = 1000; /* not a power of two: the session layer refuses it */
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	/* The running gateway's port is taken. */
	c = f->conf;
	c.port = td_gw_port(f->gw);
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EADDRINUSE);
	assert_null(gw);
	for (unsigned i = 0; i < TD_GW_STAT_COUNT; i++)
		assert_non_null(td_gw_stat_name(i));
	assert_null(td_gw_stat_name(TD_GW_STAT_COUNT));
	assert_int_equal(td_gw_stop(NULL), 0);
}

/* Negotiate, Establish, NewOrder onto the ring, ExecAck back, numbered 1, 2 (checked by
 * retransmission); both matching cores; the session log. */
static void test_order_roundtrip(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o0, o1;
	struct tkx_msg m;
	struct ss_log lg[8];
	unsigned n;

	m = logon(c, 1001, 1000, 0);
	assert_int_equal(m.establishment_ack.next_seq_no, 1);
	assert_int_equal(m.establishment_ack.expected_seq_no, 1);

	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o0 = deq_order(f, 0);
	assert_int_equal(o0.type, DP_ORD_NEW);
	assert_int_equal(o0.src, TD_SRC_GW);
	assert_int_equal(o0.contract_id, C0);
	assert_int_equal(o0.cl_ord_id, 1);
	assert_int_equal(o0.firm_id, 7);
	assert_int_equal(o0.qty, 5);
	assert_int_equal(o0.price, 1001);
	assert_int_equal(o0.in_seq, 1);
	expect_ring_empty(f, 1);
	enq_ack(f, 0, &o0, 5001);
	m = cl_expect(c, TKX_EXEC_ACK);
	assert_int_equal(m.exec_ack.cl_ord_id, 1);
	assert_int_equal(m.exec_ack.order_id, 5001);

	fb_order(&b, 2, C1);
	fb_send(c, &b);
	o1 = deq_order(f, 1);
	assert_int_equal(o1.cl_ord_id, 2);
	assert_int_equal(o1.session, o0.session);
	assert_int_equal(o1.in_seq, 2);
	expect_ring_empty(f, 0);
	enq_ack(f, 1, &o1, 5002);
	m = cl_expect(c, TKX_EXEC_ACK);
	assert_int_equal(m.exec_ack.order_id, 5002);

	/* The two acks were application messages 1 and 2 of the session. */
	FB_ADD(&b, retransmit_request, .session_id = 1001, .timestamp = now_ns(),
	       .from_seq_no = 1, .count = 2);
	fb_send(c, &b);
	m = cl_expect(c, TKX_RETRANSMISSION);
	assert_int_equal(m.retransmission.next_seq_no, 1);
	assert_int_equal(m.retransmission.count, 2);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 5001);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 5002);

	assert_int_equal(gstats(f).conns_accepted, 1);
	assert_int_equal(gstats(f).rx_frames, 5);
	assert_int_equal(gstats(f).orders_routed, 2);
	assert_int_equal(gstats(f).events, 2);
	assert_int_equal(gstats(f).bad_frames, 0);
	assert_int_equal(sstats(f).est_ok, 1);
	n = td_gw_log_drain(f->gw, lg, 8);
	assert_int_equal(n, 2);
	assert_int_equal(lg[0].code, SS_LOG_NEGOTIATED);
	assert_int_equal(lg[1].code, SS_LOG_ESTABLISHED);
	assert_int_equal(lg[1].session_id, 1001);
	assert_int_equal(lg[1].peer.ip, htonl(INADDR_LOOPBACK));
	assert_int_equal(lg[1].peer.conn & 0xffff, 0); /* the first slot */

	cl_close(c);
	WAIT_STAT(f, conns_closed, 1);
	expect_ring_empty(f, 0); /* no cancel_on_disconnect: no SESSION_GONE */
	expect_ring_empty(f, 1);
}

/* A frame cut into single bytes, two frames in one send, frames straddling sends. */
static void test_split_frames(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o;
	size_t i, cut;

	fb_negotiate(&b, 2002);
	for (i = 0; i < b.n; i++) {
		cl_send(c, b.p + i, 1);
		usleep(300); /* separate segments, mostly */
	}
	b.n = 0;
	cl_expect(c, TKX_NEGOTIATION_RESPONSE);

	fb_establish(&b, 2002, 1000, 0);
	fb_order(&b, 10, C0); /* two frames in one send */
	fb_send(c, &b);
	cl_expect(c, TKX_ESTABLISHMENT_ACK);
	o = deq_order(f, 0);
	assert_int_equal(o.cl_ord_id, 10);

	/* three orders in one buffer, sent in two pieces cut inside the second frame */
	fb_order(&b, 11, C0);
	fb_order(&b, 12, C0);
	fb_order(&b, 13, C0);
	cut = b.n / 2;
	cl_send(c, b.p, cut);
	usleep(2000);
	cl_send(c, b.p + cut, b.n - cut);
	b.n = 0;
	for (uint64_t k = 11; k <= 13; k++)
		assert_int_equal(deq_order(f, 0).cl_ord_id, k);
	/* one more order, a byte at a time: the SOFH alone then the message */
	fb_order(&b, 14, C0);
	for (i = 0; i < b.n; i++) {
		cl_send(c, b.p + i, 1);
		if (i < 8)
			usleep(300);
	}
	b.n = 0;
	assert_int_equal(deq_order(f, 0).cl_ord_id, 14);
	assert_int_equal(gstats(f).rx_frames, 7);
	assert_int_equal(gstats(f).bad_frames, 0);
	cl_close(c);
}

static void test_unknown_contract(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct tkx_msg m;

	logon(c, 3003, 1000, 0);
	fb_order(&b, 1, 999);
	fb_send(c, &b);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_UNKNOWN_CONTRACT);
	assert_int_equal(m.exec_reject.cl_ord_id, 1);
	assert_int_equal(m.exec_reject.contract_id, 999);
	assert_int_equal(m.exec_reject.ref_template_id, TKX_NEW_ORDER);
	expect_ring_empty(f, 0);
	expect_ring_empty(f, 1);
	assert_int_equal(gstats(f).unknown_contract, 1);
	/* its cl_ord_id is used up (it reached the exchange's routing) */
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	assert_int_equal(cl_expect(c, TKX_EXEC_REJECT).exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	cl_close(c);
}

/* A full ring is answered ExecReject BUSY, never a silent drop. */
static void test_ring_full_busy(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct tkx_msg m;
	unsigned cap = rte_ring_get_capacity(f->req[0]);

	logon(c, 4004, 1000, 0);
	for (unsigned i = 1; i <= cap + 1; i++)
		fb_order(&b, i, C0);
	fb_send(c, &b);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_BUSY);
	assert_int_equal(m.exec_reject.cl_ord_id, cap + 1);
	assert_int_equal(gstats(f).busy_rejects, 1);
	for (unsigned i = 1; i <= cap; i++)
		assert_int_equal(deq_order(f, 0).cl_ord_id, i);
	expect_ring_empty(f, 0);
	/* room again: the next one goes through */
	fb_order(&b, cap + 2, C0);
	fb_send(c, &b);
	assert_int_equal(deq_order(f, 0).cl_ord_id, cap + 2);
	cl_close(c);
}

/* The client goes away: cancel-on-disconnect reaches every matching core. */
static void test_cancel_on_disconnect(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o, g;

	logon(c, 5005, 1000, 1);
	fb_order(&b, 1, C1);
	fb_send(c, &b);
	o = deq_order(f, 1);
	cl_close(c);
	WAIT_STAT(f, conns_closed, 1);
	expect_ring_empty(f, 0); /* the end waits for the reply to the order in flight */
	enq_ack(f, 1, &o, 55);
	for (unsigned m = 0; m < 2; m++) {
		g = deq_order(f, m);
		assert_int_equal(g.type, DP_ORD_SESSION_GONE);
		assert_int_equal(g.src, TD_SRC_GW);
		assert_int_equal(g.session, o.session);
		assert_int_equal(g.contract_id, 0);
		assert_int_equal(g.firm_id, 7);
	}
	WAIT_STAT(f, conns_closed, 1);
	assert_int_equal(sstats(f).term_disconnect, 1);
	assert_int_equal(sstats(f).session_gone, 1);
	expect_ring_empty(f, 0);
	expect_ring_empty(f, 1);
}

/* A SESSION_GONE that meets a full ring waits for it (and holds that core's later
 * requests back as BUSY); it is delivered once the core makes room. */
static void test_session_gone_waits(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0), *c2;
	struct fb b = { .n = 0 };
	unsigned cap = rte_ring_get_capacity(f->req[1]);
	struct dp_order g;
	struct tkx_msg m;

	logon(c, 6006, 1000, 1);
	for (unsigned i = 1; i <= cap; i++)
		fb_order(&b, i, C1);
	fb_send(c, &b);
	WAIT_STAT(f, orders_routed, cap);
	cl_close(c);
	/* The end waits for the replies to the requests in flight (ss_session.h invariant
	 * 14): core 1 answers them (each request's end on an event of its own), but its
	 * request ring stays full. */
	WAIT_STAT(f, conns_closed, 1);
	expect_ring_empty(f, 0);
	{
		struct ss_log lg[16];
		unsigned n = td_gw_log_drain(f->gw, lg, 16), slot = 0xffff;
		struct dp_event done = { .src = TD_SRC_GW, .pad = { 0, DP_EV_DONE } };

		for (unsigned i = 0; i < n; i++)
			if (lg[i].code == SS_LOG_ESTABLISHED && lg[i].session_id == 6006)
				slot = lg[i].slot;
		assert_int_not_equal(slot, 0xffff);
		done.session = (uint16_t)slot;
		for (unsigned i = 0; i < cap; i++)
			assert_int_equal(rte_ring_sp_enqueue_elem(f->ev[1], &done, sizeof(done)), 0);
	}
	g = deq_order(f, 0);
	assert_int_equal(g.type, DP_ORD_SESSION_GONE);
	WAIT_STAT(f, conns_closed, 1);
	assert_true(gstats(f).ring_full_retries >= 1);

	/* Another session's request for core 1 is BUSY while the SESSION_GONE waits. */
	c2 = cl_open(f, 0);
	logon(c2, 6007, 1000, 0);
	fb_order(&b, 1, C1);
	fb_send(c2, &b);
	m = cl_expect(c2, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_BUSY);

	for (unsigned i = 1; i <= cap; i++)
		assert_int_equal(deq_order(f, 1).type, DP_ORD_NEW);
	g = deq_order(f, 1);
	assert_int_equal(g.type, DP_ORD_SESSION_GONE);
	assert_int_equal(g.firm_id, 7);
	expect_ring_empty(f, 1);
	/* and core 1 takes requests again */
	fb_order(&b, 2, C1);
	fb_send(c2, &b);
	assert_int_equal(deq_order(f, 1).cl_ord_id, 2);
	cl_close(c2);
}

/* Bad SOFH closes the connection (counted); a bad message inside a good frame does not. */
static void test_bad_sofh(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o;

	logon(c, 7007, 1000, 1);
	fb_order(&b, 1, C0);
	b.p[5] ^= 1; /* encoding type 0xEB51 */
	fb_send(c, &b);
	cl_expect_closed(c);
	cl_close(c);
	WAIT_STAT(f, bad_frames, 1);
	WAIT_STAT(f, conns_closed, 1);
	/* it was a disconnect: cancel-on-disconnect ran, and the order never went out */
	for (unsigned m = 0; m < 2; m++) {
		o = deq_order(f, m);
		assert_int_equal(o.type, DP_ORD_SESSION_GONE);
	}
	expect_ring_empty(f, 0);

	/* a frame length out of range (below 14) */
	c = cl_open(f, 0);
	cl_send(c, "\x00\x00\x00\x08\xeb\x50\x00\x00", 8);
	cl_expect_closed(c);
	cl_close(c);
	WAIT_STAT(f, bad_frames, 2);

	/* a good SOFH around a message whose blockLength is wrong: dropped, still open */
	c = cl_open(f, 0);
	{
		struct tkx_hdr h = { .block_length = 10, .template_id = TKX_NEW_ORDER,
				     .schema_id = TKX_SCHEMA_ID, .version = TKX_SCHEMA_VERSION };
		uint8_t msg[TKX_HDR_LEN + 10] = { 0 };

		memcpy(msg, &h, sizeof(h));
		fb_msg(&b, msg, sizeof(msg));
		fb_send(c, &b);
	}
	logon(c, 7008, 1000, 0);
	assert_int_equal(gstats(f).bad_frames, 2);
	assert_true(sstats(f).rx_bad_block_length >= 1);

	/* a frame longer than its message (a NewOrder and one more byte, or two NewOrders):
	 * dropped whole, nothing routed, the connection stays (protocol 3.2, 7.1) */
	{
		struct tkx_new_order no = { .cl_ord_id = 1, .price = 1001, .qty = 5,
					    .contract_id = C0, .account = 3, .side = TKX_SIDE_BUY,
					    .tif = TKX_TIF_GTC };
		uint8_t msg[2 * TKX_MAX_MSG_LEN] = { 0 };
		int len = tkx_enc_new_order(msg, sizeof(msg), &no);

		fb_msg(&b, msg, len + 1);
		memcpy(msg + len, msg, (size_t)len);
		fb_msg(&b, msg, 2 * len);
		fb_send(c, &b);
		WAIT_STAT(f, bad_length, 2);
		fb_order(&b, 2, C0); /* cl_ord_id 1 was never used: 2 is the first forwarded */
		fb_send(c, &b);
		o = deq_order(f, 0);
		assert_int_equal(o.type, DP_ORD_NEW);
		assert_int_equal(o.cl_ord_id, 2);
		expect_ring_empty(f, 0);
	}
	cl_close(c);
}

/* MassCancel of every contract goes to every core; of one contract, to its core; all or
 * nothing when a ring is full. */
static void test_mass_cancel_fanout(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	unsigned cap = rte_ring_get_capacity(f->req[0]);
	struct dp_order o;
	struct tkx_msg m;

	logon(c, 8008, 1000, 0);
	FB_ADD(&b, mass_cancel, .cl_ord_id = 1, .contract_id = 0, .scope = TKX_SCOPE_SESSION);
	fb_send(c, &b);
	for (unsigned k = 0; k < 2; k++) {
		o = deq_order(f, k);
		assert_int_equal(o.type, DP_ORD_MASS_CANCEL);
		assert_int_equal(o.contract_id, 0);
		assert_int_equal(o.cl_ord_id, 1);
		assert_int_equal(o.scope, TKX_SCOPE_SESSION);
	}
	FB_ADD(&b, mass_cancel, .cl_ord_id = 2, .contract_id = C1, .scope = TKX_SCOPE_SESSION);
	fb_send(c, &b);
	o = deq_order(f, 1);
	assert_int_equal(o.cl_ord_id, 2);
	assert_int_equal(o.contract_id, C1);
	expect_ring_empty(f, 0);
	assert_int_equal(gstats(f).orders_routed, 3);

	/* core 0's ring full: the broadcast is BUSY and core 1 gets nothing */
	for (unsigned i = 0; i < cap; i++)
		fb_order(&b, 10 + i, C0);
	fb_send(c, &b);
	WAIT_STAT(f, orders_routed, 3 + cap);
	FB_ADD(&b, mass_cancel, .cl_ord_id = 100, .contract_id = 0, .scope = TKX_SCOPE_SESSION);
	fb_send(c, &b);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_BUSY);
	assert_int_equal(m.exec_reject.ref_template_id, TKX_MASS_CANCEL);
	expect_ring_empty(f, 1);
	cl_close(c);
}

/* The client's Terminate is answered, then the gateway closes the connection. */
static void test_terminate_closes(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct tkx_msg m;

	logon(c, 9009, 1000, 0);
	FB_ADD(&b, terminate, .session_id = 9009, .reason = TKX_TERM_FINISHED);
	fb_send(c, &b);
	m = cl_expect(c, TKX_TERMINATE);
	assert_int_equal(m.terminate.reason, TKX_TERM_FINISHED);
	cl_expect_closed(c);
	cl_close(c);
	WAIT_STAT(f, conns_closed, 1);
	assert_int_equal(gstats(f).drain_timeouts, 0);
	assert_int_equal(sstats(f).term_client, 1);
}

/* ss_tick runs: a heartbeat after one keepalive interval of silence from the exchange. */
static void test_heartbeat(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct tkx_msg m;
	uint64_t t0;

	logon(c, 1111, 100, 0);
	t0 = mono_ms();
	m = cl_expect(c, TKX_SEQUENCE);
	assert_int_equal(m.sequence.next_seq_no, 1);
	assert_true(mono_ms() - t0 >= 50);
	assert_true(sstats(f).tx_heartbeats >= 1);
	cl_close(c);
}

/* A reused connection slot has a new generation: the session re-established there gets
 * its replies, numbered on from where it was. */
static void test_reconnect(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o;
	struct tkx_msg m;
	struct ss_log lg[16];
	uint32_t conns[2];
	unsigned n, k = 0;

	logon(c, 1212, 1000, 0);
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	cl_close(c);
	WAIT_STAT(f, conns_closed, 1);
	enq_ack(f, 0, &o, 77); /* numbered 1 and kept, nobody to send it to */
	WAIT_STAT(f, events, 1);

	c = cl_open(f, 0);
	m = logon(c, 1212, 1000, 0);
	assert_int_equal(m.establishment_ack.next_seq_no, 2);
	assert_int_equal(m.establishment_ack.expected_seq_no, 2);
	FB_ADD(&b, retransmit_request, .session_id = 1212, .timestamp = now_ns(),
	       .from_seq_no = 1, .count = 1);
	fb_send(c, &b);
	cl_expect(c, TKX_RETRANSMISSION);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 77);

	n = td_gw_log_drain(f->gw, lg, 16);
	for (unsigned i = 0; i < n; i++)
		if (lg[i].code == SS_LOG_ESTABLISHED && k < 2)
			conns[k++] = lg[i].peer.conn;
	assert_int_equal(k, 2);
	assert_int_equal(conns[0] & 0xffff, conns[1] & 0xffff); /* same slot */
	assert_int_not_equal(conns[0] >> 16, conns[1] >> 16);   /* another generation */
	assert_int_equal(gstats(f).tx_stale, 0);
	cl_close(c);
}

/* A client that does not read: its send queue overflows, the gateway counts it and
 * closes that connection only. */
static void test_slow_client(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 4096);
	struct cl *other = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o;
	uint64_t t0 = mono_ms();
	unsigned sent = 0;

	logon(c, 1313, 1000, 0);
	logon(other, 1314, 1000, 0);
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	while (gstats(f).tx_overflows == 0 && mono_ms() - t0 < 5000) {
		if (rte_ring_free_count(f->ev[0]) > 0) {
			enq_ack(f, 0, &o, ++sent);
		} else {
			usleep(100);
		}
	}
	assert_int_equal(gstats(f).tx_overflows, 1);
	WAIT_STAT(f, conns_closed, 1);
	assert_int_equal(sstats(f).term_disconnect, 1);
	cl_expect_closed(c);
	/* the other connection is untouched */
	fb_order(&b, 1, C0);
	fb_send(other, &b);
	o = deq_order(f, 0);
	assert_int_equal(o.cl_ord_id, 1);
	enq_ack(f, 0, &o, 1);
	assert_int_equal(cl_expect(other, TKX_EXEC_ACK).exec_ack.order_id, 1);
	cl_close(other);
	cl_close(c);
}

/* Stopping the gateway is a disconnect for every client: cancel-on-disconnect runs; a
 * SESSION_GONE that no ring would take is reported by td_gw_stop(). */
static void test_stop_disconnects(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0), *c2 = cl_open(f, 0);
	struct fb b = { .n = 0 };
	unsigned cap = rte_ring_get_capacity(f->req[1]);
	struct dp_order g;

	logon(c, 1414, 1000, 1);
	logon(c2, 1415, 1000, 1);
	for (unsigned i = 1; i <= cap; i++)
		fb_order(&b, i, C1);
	fb_send(c2, &b);
	WAIT_STAT(f, orders_routed, cap);
	/* core 1 never drains: both sessions' SESSION_GONE stay pending there */
	assert_int_equal(td_gw_stop(f->gw), 2);
	f->gw = NULL;
	for (unsigned k = 0; k < 2; k++) {
		g = deq_order(f, 0);
		assert_int_equal(g.type, DP_ORD_SESSION_GONE);
	}
	for (unsigned i = 1; i <= cap; i++)
		assert_int_equal(deq_order(f, 1).type, DP_ORD_NEW);
	expect_ring_empty(f, 1);
	cl_expect_closed(c);
	cl_expect_closed(c2);
	cl_close(c);
	cl_close(c2);
}

/* A logged-on connection that goes silent does not hold its slot for ever (one that never
 * shows credentials: test_negotiate_deadline). */
static void test_idle_timeout(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	uint64_t t0;

	t0 = mono_ms(); /* before the last bytes it sends: the deadline is later */
	logon(c, 1616, 10000, 0);
	cl_expect_closed(c);
	assert_true(mono_ms() - t0 >= 1950);
	cl_close(c);
	WAIT_STAT(f, idle_timeouts, 1);
	WAIT_STAT(f, conns_closed, 1);
	assert_int_equal(gstats(f).negotiate_timeouts, 0);
}

/* Hundreds of frames in one send: several recvs, ss_out filled and flushed mid-burst,
 * every request in order; the replies come back in order too. */
static void test_burst(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	static struct fb b; /* 300 frames: 13.8 KB */
	enum { N = 300 };
	struct dp_order o;

	logon(c, 1515, 1000, 0);
	b.n = 0;
	for (unsigned i = 1; i <= N; i++) {
		if (sizeof(b.p) - b.n < 64)
			fb_send(c, &b);
		fb_order(&b, i, i % 2 ? C1 : C0);
	}
	fb_send(c, &b);
	for (unsigned i = 1; i <= N; i++) {
		o = deq_order(f, i % 2 ? 1 : 0);
		assert_int_equal(o.cl_ord_id, i);
		assert_int_equal(o.in_seq, i);
		enq_ack(f, i % 2 ? 1 : 0, &o, 1000 + i);
	}
	for (unsigned i = 1, last[2] = { 1000, 1000 }; i <= N; i++) {
		struct tkx_msg m = cl_expect(c, TKX_EXEC_ACK);
		unsigned id = (unsigned)m.exec_ack.order_id, k = id % 2;

		/* each core's replies keep their order; the two cores interleave */
		assert_true(id > last[k] && id <= 1000 + N);
		last[k] = id;
	}
	assert_true(gstats(f).out_full >= 1); /* 300 orders > SS_OUT_ORDERS */
	assert_int_equal(gstats(f).orders_routed, N);
	assert_int_equal(gstats(f).busy_rejects, 0);
	cl_close(c);
}


/* ---- Stopping (td_gw.h "Stop") ------------------------------------------------------------ */

static void *stop_thread(void *arg)
{
	struct fx *f = arg;

	return (void *)(uintptr_t)td_gw_stop(f->gw);
}

/* A clean stop delivers every reply: those still on the rings and those still in the
 * gateway's send queue (its socket buffer is small and the client has read nothing yet)
 * reach the client, then a FIN; td_gw_stop() returns once the client has closed. */
static void test_stop_delivers(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 4096);
	struct fb b = { .n = 0 };
	enum { N = 600 }; /* ~40 KB of ExecAcks: far more than the socket buffers hold */
	struct dp_order o;
	struct tkx_msg m;
	pthread_t th;
	void *lost;
	unsigned got = 0;
	int r;

	logon(c, 2020, 1000, 0);
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	for (unsigned i = 0; i < N; i++)
		enq_ack(f, i % 2, &o, 7000 + i);
	/* The matching cores have stopped: the gateway may stop now. */
	assert_int_equal(pthread_create(&th, NULL, stop_thread, f), 0);
	while ((r = cl_read(c, &m, WAIT_MS)) == 1)
		got += m.template_id == TKX_EXEC_ACK;
	cl_close(c); /* the client's EOF: the gateway closes and td_gw_stop() returns */
	assert_int_equal(pthread_join(th, &lost), 0);
	f->gw = NULL;
	assert_int_equal(r, 0); /* EOF: the FIN after the last byte */
	assert_int_equal(got, N);
	assert_int_equal((uintptr_t)lost, 0);
}

/* td_gw_quiesce(): no more input - a request sent after it is never taken, a new
 * connection is closed - while replies still go out; td_gw_quiet() says so once all that
 * was taken is on the rings. */
static void test_quiesce(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order o;
	struct cl *late;
	uint64_t t0;

	logon(c, 2121, 1000, 0);
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	assert_int_equal(td_gw_quiet(f->gw), 0);
	td_gw_quiesce(f->gw);
	t0 = mono_ms();
	while (!td_gw_quiet(f->gw) && mono_ms() - t0 < WAIT_MS)
		usleep(200);
	assert_int_equal(td_gw_quiet(f->gw), 1);
	fb_order(&b, 2, C0);
	fb_send(c, &b);
	expect_ring_empty(f, 0);
	enq_ack(f, 0, &o, 42);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 42);
	expect_ring_empty(f, 0); /* the order sent after the quiesce was dropped unread */
	assert_int_equal(gstats(f).rx_frames, 3); /* Negotiate, Establish, the first order */
	late = cl_open(f, 0);
	cl_expect_closed(late);
	cl_close(late);
	WAIT_STAT(f, conns_refused, 1);
	cl_close(c);
}

/* ---- Admission (td_gw.h "Admission") ------------------------------------------------------ */

/* A connection that shows no credentials is closed negotiate_ms after its accept, however
 * it trickles bytes; one that logged on stays. */
static void test_negotiate_deadline(void **state)
{
	struct fx *f = *state;
	struct cl *good = cl_open(f, 0), *quiet, *trickle;
	struct fb b = { .n = 0 };
	uint8_t frame[256];
	struct tkx_msg m;
	uint64_t t0, tg = mono_ms();
	size_t k = 0, n;
	int r = -ETIMEDOUT;

	logon(good, 3030, 1000, 0);
	t0 = mono_ms();
	quiet = cl_open(f, 0);
	trickle = cl_open(f, 0);
	/* A Negotiate cut into single bytes, one every 50 ms (over 4 s): never whole in time. */
	fb_negotiate(&b, 3031);
	n = b.n;
	assert_true(n <= sizeof(frame));
	memcpy(frame, b.p, n);
	b.n = 0;
	while (k < n && mono_ms() - t0 < WAIT_MS) {
		if (cl_send_nb(trickle, frame + k, 1) == 1)
			k++;
		r = cl_read(trickle, &m, 50);
		if (r != -ETIMEDOUT)
			break;
	}
	assert_int_equal(r, 0); /* closed before the frame was whole */
	assert_true(k < n);
	assert_true(mono_ms() - t0 >= 950);
	cl_expect_closed(quiet);
	WAIT_STAT(f, negotiate_timeouts, 2);
	assert_int_equal(gstats(f).idle_timeouts, 0);
	/* The logged-on session is untouched, well past its own deadline. */
	while (mono_ms() - tg < 1500)
		usleep(1000);
	fb_order(&b, 1, C0);
	fb_send(good, &b);
	assert_int_equal(deq_order(f, 0).cl_ord_id, 1);
	assert_int_equal(gstats(f).negotiate_timeouts, 2);
	cl_close(quiet);
	cl_close(trickle);
	cl_close(good);
}

/* A full table makes room by closing its oldest unauthenticated connection; with none
 * left to close a new connection is refused. */
static void test_full_table_evicts(void **state)
{
	struct fx *f = *state;
	struct cl *idle[4], *c, *d, *x;
	struct fb b = { .n = 0 };

	for (unsigned i = 0; i < 4; i++) {
		idle[i] = cl_open_from(f, 0, 0x7f000010 + i);
		WAIT_STAT(f, conns_accepted, i + 1);
	}
	/* The table is full of connections that have said nothing: a member still gets in,
	 * in place of the oldest. */
	c = cl_open_from(f, 0, 0x7f000020);
	logon(c, 4040, 1000, 0);
	cl_expect_closed(idle[0]);
	assert_int_equal(gstats(f).conns_evicted, 1);
	d = cl_open_from(f, 0, 0x7f000021);
	logon(d, 4041, 1000, 0);
	cl_expect_closed(idle[1]);
	WAIT_STAT(f, conns_evicted, 2);
	/* idle[2] and idle[3] are next; then only logged-on connections: refused. */
	cl_close(idle[0]);
	cl_close(idle[1]);
	for (unsigned i = 2; i < 4; i++) {
		struct cl *e = cl_open_from(f, 0, 0x7f000030 + i);

		logon(e, 4040 + i, 1000, 0);
		cl_expect_closed(idle[i]);
		cl_close(idle[i]);
		idle[i] = e;
	}
	WAIT_STAT(f, conns_evicted, 4);
	x = cl_open_from(f, 0, 0x7f000040); /* the table holds 4 logged-on connections */
	cl_expect_closed(x);
	cl_close(x);
	WAIT_STAT(f, conns_refused, 1);
	/* Everyone logged on is still served. */
	fb_order(&b, 1, C0);
	fb_send(d, &b);
	assert_int_equal(deq_order(f, 0).cl_ord_id, 1);
	cl_close(c);
	cl_close(d);
	cl_close(idle[2]);
	cl_close(idle[3]);
}

/* At most max_conns_per_ip connections from one address; other addresses are not
 * affected, and a closed connection gives its address's place back. */
static void test_per_ip_cap(void **state)
{
	struct fx *f = *state;
	struct cl *a1 = cl_open_from(f, 0, 0x7f000005), *a2, *a3, *b1;

	logon(a1, 5050, 1000, 0);
	a2 = cl_open_from(f, 0, 0x7f000005);
	logon(a2, 5051, 1000, 0);
	a3 = cl_open_from(f, 0, 0x7f000005);
	cl_expect_closed(a3);
	cl_close(a3);
	assert_int_equal(gstats(f).per_ip_refused, 1);
	b1 = cl_open_from(f, 0, 0x7f000006);
	logon(b1, 5052, 1000, 0);
	cl_close(a1);
	WAIT_STAT(f, conns_closed, 1);
	a3 = cl_open_from(f, 0, 0x7f000005);
	logon(a3, 5053, 1000, 0);
	assert_int_equal(gstats(f).per_ip_refused, 1);
	assert_int_equal(gstats(f).conns_refused, 0);
	cl_close(a2);
	cl_close(a3);
	cl_close(b1);
}

/* A session has as many requests unanswered as it may (ss_session.h invariant 15: 64 here,
 * a quarter of retrans_depth at least 64): the gateway stops reading its connection, the
 * rest waits in TCP, and goes on as the matching core answers. */
static void test_unanswered_bound(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	static struct fb b;
	enum { N = 150, U = 64 };
	unsigned answered = 0, sent = 0;
	struct dp_order o;
	size_t off = 0;
	uint64_t t0;

	logon(c, 1616, 1000, 0);
	b.n = 0;
	for (unsigned i = 1; i <= N; i++)
		fb_order(&b, i, C1); /* core 1's ring is big: only the bound stops them */
	t0 = mono_ms();
	while (sstats(f).rx_backpressure == 0) {
		if (off < b.n)
			off += cl_send_nb(c, b.p + off, b.n - off);
		else
			usleep(200);
		if (mono_ms() - t0 > WAIT_MS)
			fail_msg("the gateway never held the session back");
	}
	/* U requests forwarded; nothing more taken while none is answered. */
	WAIT_STAT(f, orders_routed, U);
	usleep(20000);
	assert_int_equal(gstats(f).orders_routed, U);
	assert_int_equal(gstats(f).rx_frames, 2 + U);
	/* The core answers as they come: every request is taken in the end. */
	t0 = mono_ms();
	while (answered < N) {
		if (off < b.n)
			off += cl_send_nb(c, b.p + off, b.n - off);
		if (deq_order_wait(f, 1, &o, 10) == 1) {
			assert_int_equal(o.cl_ord_id, answered + 1);
			enq_ack(f, 1, &o, 100 + answered);
			answered++;
		}
		if (mono_ms() - t0 > 5 * WAIT_MS)
			fail_msg("%u of %u answered", answered, N);
	}
	for (unsigned i = 0; i < N; i++)
		assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 100 + i);
	assert_int_equal(gstats(f).rx_frames, 2 + N);
	(void)sent;
	cl_close(c);
}

/* ---- Journal mode (conf.journal): the RX core's side of ring 0 ---------------------------- */

/* The RX core echoes a DP_ORD_LOCAL on ev[0] once journaled: only then does the gateway
 * number the reply and send it (td_gw.h "Journal"). */
static void echo_local(struct fx *f, const struct dp_order *o)
{
	struct dp_event e;

	assert_int_equal(dp_order_local_event(o, &e), 0);
	assert_int_equal(rte_ring_sp_enqueue_elem(f->ev[0], &e, sizeof(e)), 0);
}

/* logon() under a journal: the accepted Negotiate goes to the RX core as a DP_ORD_LOGON
 * (journaled there, the session's newest logon timestamp) and the NegotiationResponse
 * leaves only when its echo comes back (td_gw.h "Journal"). Returns the EstablishmentAck. */
static struct tkx_msg logon_jn(struct fx *f, struct cl *c, uint64_t sid, uint32_t ka_ms,
			       uint8_t cod)
{
	struct fb b = { .n = 0 };
	struct dp_order lo;
	struct dp_event e;
	struct tkx_msg m;

	fb_negotiate(&b, sid);
	fb_send(c, &b);
	lo = deq_order(f, 0);
	assert_int_equal(lo.type, DP_ORD_LOGON);
	assert_int_equal(lo.src, TD_SRC_GW);
	assert_int_equal(lo.cl_ord_id, sid);
	assert_int_equal(lo.firm_id, 7);
	assert_true(lo.order_id != 0); /* the Negotiate's timestamp */
	assert_int_equal(cl_read(c, &m, 50), -ETIMEDOUT); /* not before it is journaled */
	assert_int_equal(dp_order_logon_event(&lo, &e), 0);
	assert_int_equal(rte_ring_sp_enqueue_elem(f->ev[0], &e, sizeof(e)), 0);
	m = cl_expect(c, TKX_NEGOTIATION_RESPONSE);
	assert_int_equal(m.negotiation_response.session_id, sid);
	assert_int_equal(m.negotiation_response.request_timestamp, lo.order_id);
	fb_establish(&b, sid, ka_ms, cod);
	fb_send(c, &b);
	m = cl_expect(c, TKX_ESTABLISHMENT_ACK);
	assert_int_equal(m.establishment_ack.session_id, sid);
	return m;
}

/* The ExecReject a DP_ORD_LOCAL carries. */
static struct tkx_exec_reject local_reject(const struct dp_order *o)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e)); /* cmocka's assert hides the return path from -O3 */
	assert_int_equal(o->type, DP_ORD_LOCAL);
	assert_int_equal(dp_order_local_event(o, &e), 0);
	assert_int_equal(e.template_id, TKX_EXEC_REJECT);
	return e.u.reject;
}

/* What ring 0 carried for one session whose requests are NewOrders numbered 1, 2, ...:
 * its SESSION_UP, then for each request either the request or its LOCAL BUSY answer. */
struct jn_seen {
	unsigned ups, news, busy;
	uint64_t last; /* cl_ord_id of the latest request seen */
};

/* One record from ring 0 within ms, checked against what came before: the SESSION_UP
 * first, then every request exactly once and in the order sent (none lost, none
 * reordered behind a waiting record). 1, or 0 on timeout. */
/* The RX core's answer to a record it took: a request's end (on an event of its own, no
 * reply to send), a LOCAL's echo; the gateway's session may then take more (ss_session.h
 * invariant 15). */
static void jn_answer(struct fx *f, const struct dp_order *o)
{
	struct dp_event e;

	memset(&e, 0, sizeof(e));
	if (o->type == DP_ORD_LOCAL) {
		assert_int_equal(dp_order_local_event(o, &e), 0);
	} else if (o->type == DP_ORD_NEW) {
		e.src = o->src;
		e.session = o->session;
		e.pad[1] = DP_EV_DONE;
	} else {
		return;
	}
	while (rte_ring_sp_enqueue_elem(f->ev[0], &e, sizeof(e)) != 0)
		usleep(100);
}

/* Reads and drops what the gateway sent, never waiting (keeps its send queue moving). */
static void cl_discard(struct cl *c)
{
	static uint8_t tmp[65536];

	while (recv(c->fd, tmp, sizeof(tmp), MSG_DONTWAIT) > 0)
		;
}

static int jn_take(struct fx *f, struct jn_seen *s, struct dp_order *o, unsigned ms)
{
	uint64_t cl;

	if (!deq_order_wait(f, 0, o, ms))
		return 0;
	if (o->type == DP_ORD_SESSION_UP) {
		assert_int_equal(s->ups + s->news + s->busy, 0);
		s->ups++;
		return 1;
	}
	if (o->type == DP_ORD_NEW) {
		cl = o->cl_ord_id;
		s->news++;
	} else {
		struct tkx_exec_reject r = local_reject(o);

		assert_int_equal(r.reason, TKX_REJ_BUSY);
		cl = r.cl_ord_id;
		s->busy++;
	}
	if (cl != s->last + 1)
		fail_msg("ring 0: request %llu after %llu (%s): lost or out of order",
			 (unsigned long long)cl, (unsigned long long)s->last,
			 o->type == DP_ORD_NEW ? "NEW" : "its LOCAL BUSY");
	s->last = cl;
	return 1;
}

/* NewOrders sent+1 .. n on C0, framed 100 at a time into b, sent as far as the socket
 * takes them now (b->p[0, *off) is sent). The bytes sent; 0 when nothing went. */
static size_t send_orders_nb(struct cl *c, struct fb *b, size_t *off, unsigned *sent,
			     unsigned n)
{
	size_t k;

	if (*off == b->n) {
		if (*sent == n)
			return 0;
		b->n = 0;
		*off = 0;
		for (unsigned i = 0; i < 100 && *sent < n; i++)
			fb_order(b, ++*sent, C0);
	}
	k = cl_send_nb(c, b->p + *off, b->n - *off);
	*off += k;
	return k;
}

/* Journal: the SESSION_UP, then each request and each local reply (the session layer's
 * CLORDID_REUSED, the gateway's UNKNOWN_CONTRACT) on ring 0 in the order they were made.
 * A local reply reaches the client only when echoed back, numbered in the echoes' order
 * (the RX core's), as retransmission shows. */
static void test_journal_records(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	struct dp_order up, o, reused, unknown;
	struct tkx_exec_reject r;
	struct tkx_msg m;

	logon_jn(f, c, 2001, 1000, 0);
	up = deq_order(f, 0);
	assert_int_equal(up.type, DP_ORD_SESSION_UP);
	assert_int_equal(up.src, TD_SRC_GW);
	assert_int_equal(up.cl_ord_id, 2001); /* the session id */
	assert_int_equal(up.firm_id, 7);
	assert_int_equal(up.in_seq, 1);       /* Establish's next_seq_no */
	expect_ring_empty(f, 0);

	fb_order(&b, 5, C0);
	fb_order(&b, 5, C0); /* cl_ord_id reused: the session layer answers */
	fb_order(&b, 6, 99); /* no such contract: the gateway answers */
	fb_send(c, &b);
	o = deq_order(f, 0);
	assert_int_equal(o.type, DP_ORD_NEW);
	assert_int_equal(o.cl_ord_id, 5);
	assert_int_equal(o.session, up.session);
	/* The reject and order 6 wait behind order 5, in flight (ss_session.h invariant
	 * 14); nothing numbered by the gateway itself: the client has heard nothing yet. */
	expect_ring_empty(f, 0);
	{
		int rr = cl_read(c, &m, 50);

		if (rr != -ETIMEDOUT)
			fail_msg("heard %s", rr == 1 ? tkx_template_name(m.template_id) : "EOF");
	}
	/* Order 5 answered: the ack goes out, then the reject's record and order 6, whose
	 * UNKNOWN_CONTRACT the gateway makes, in that order on ring 0. */
	enq_ack(f, 0, &o, 777);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 777);
	reused = deq_order(f, 0);
	r = local_reject(&reused);
	assert_int_equal(reused.session, up.session);
	assert_int_equal(r.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(r.cl_ord_id, 5);
	unknown = deq_order(f, 0);
	r = local_reject(&unknown);
	assert_int_equal(unknown.session, up.session);
	assert_int_equal(r.reason, TKX_REJ_UNKNOWN_CONTRACT);
	assert_int_equal(r.cl_ord_id, 6);
	assert_int_equal(r.contract_id, 99);
	expect_ring_empty(f, 0);
	assert_int_equal(gstats(f).jn_records, 4); /* LOGON, SESSION_UP, two LOCAL */
	assert_int_equal(gstats(f).jn_pending, 0);
	assert_int_equal(gstats(f).unknown_contract, 1);

	/* Numbered in the RX core's order: CLORDID_REUSED, UNKNOWN_CONTRACT. */
	echo_local(f, &reused);
	echo_local(f, &unknown);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	assert_int_equal(m.exec_reject.cl_ord_id, 5);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_UNKNOWN_CONTRACT);
	assert_int_equal(m.exec_reject.cl_ord_id, 6);

	/* They are application messages 1, 2, 3, in that order. */
	FB_ADD(&b, retransmit_request, .session_id = 2001, .timestamp = now_ns(),
	       .from_seq_no = 1, .count = 3);
	fb_send(c, &b);
	m = cl_expect(c, TKX_RETRANSMISSION);
	assert_int_equal(m.retransmission.next_seq_no, 1);
	assert_int_equal(m.retransmission.count, 3);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 777);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_CLORDID_REUSED);
	m = cl_expect(c, TKX_EXEC_REJECT);
	assert_int_equal(m.exec_reject.reason, TKX_REJ_UNKNOWN_CONTRACT);
	expect_ring_empty(f, 0); /* retransmission is the session's own: no record */
	assert_int_equal(gstats(f).jn_records, 4);
	assert_int_equal(gstats(f).jn_lost, 0);
	cl_close(c);
}

/* Journal, ring 0 full: the requests that do not fit are answered BUSY, and those answers
 * (LOCAL records) wait in the gateway's FIFO, core 0 blocked behind them, until the RX
 * core makes room. None is lost, all come in the order the requests were sent, the client
 * gets them when echoed, and core 0 takes requests again once the FIFO is empty. */
static void test_journal_ring_full(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	enum { N = 40 };
	unsigned cap = rte_ring_get_capacity(f->req[0]), nbusy = 0;
	struct dp_order o, busy[N];
	struct jn_seen s = { 0 };

	logon_jn(f, c, 2002, 1000, 0);
	for (unsigned i = 1; i <= N; i++)
		fb_order(&b, i, C0);
	fb_send(c, &b);
	/* The SESSION_UP and cap - 1 requests fill ring 0; each later request's BUSY waits. */
	WAIT_STAT(f, jn_records, 2 + N - (cap - 1)); /* and the LOGON, taken already */
	WAIT_STAT(f, busy_rejects, N - (cap - 1)); /* counted after its record was made */
	WAIT_STAT(f, orders_routed, 1 + cap);      /* counted after the enqueue; LOGON too */
	assert_int_equal(gstats(f).jn_pending, N - (cap - 1));
	assert_int_equal(rte_ring_count(f->req[0]), cap);

	/* The RX core drains ring 0; the FIFO follows onto it. */
	for (unsigned i = 0; i < 1 + N; i++) {
		if (!jn_take(f, &s, &o, WAIT_MS))
			fail_msg("ring 0: %u requests of %u, then nothing", s.news + s.busy, N);
		if (o.type == DP_ORD_LOCAL)
			busy[nbusy++] = o;
	}
	expect_ring_empty(f, 0);
	assert_int_equal(s.ups, 1);
	assert_int_equal(s.news, cap - 1);
	assert_int_equal(s.busy, N - (cap - 1));
	WAIT_STAT(f, orders_routed, 2 + N); /* LOGON, SESSION_UP, the requests */
	assert_int_equal(gstats(f).jn_lost, 0);

	/* The FIFO is empty: core 0 is no longer blocked. */
	fb_order(&b, N + 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	assert_int_equal(o.type, DP_ORD_NEW);
	assert_int_equal(o.cl_ord_id, N + 1);

	/* The echoed BUSY answers reach the client, in order. */
	for (unsigned k = 0; k < nbusy; k++)
		echo_local(f, &busy[k]);
	for (unsigned k = 0; k < nbusy; k++) {
		struct tkx_msg m = cl_expect(c, TKX_EXEC_REJECT);

		assert_int_equal(m.exec_reject.reason, TKX_REJ_BUSY);
		assert_int_equal(m.exec_reject.cl_ord_id, cap + k);
	}
	cl_close(c);
}

/* Journal, the RX core far behind: when the FIFO of waiting records is down to its
 * reserve, the gateway stops taking frames - the connection is parked, its bytes wait in
 * TCP - rather than lose a record; when the RX core drains ring 0 it goes on. 5000
 * requests, more than the FIFO holds (GW_JQ_MIN, 4096, here), every one on ring 0 exactly
 * once, in order. */
static void test_journal_park(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	static struct fb b;
	enum { N = 5000 };
	unsigned cap = rte_ring_get_capacity(f->req[0]), sent = 0;
	struct jn_seen s = { 0 };
	struct td_gw_stats g;
	struct dp_order o;
	size_t off = 0;
	uint64_t t0;

	logon_jn(f, c, 2003, 1000, 0);
	b.n = 0;
	/* The RX core takes nothing; the client sends what TCP takes until the gateway
	 * parks the connection. */
	t0 = mono_ms();
	while (gstats(f).jn_parked == 0) {
		if (!send_orders_nb(c, &b, &off, &sent, N))
			usleep(100);
		if (mono_ms() - t0 > 2 * WAIT_MS)
			fail_msg("not parked: %u of %u requests sent", sent, N);
	}
	/* Parked: once the frames taken so far are routed (the loop pass that parked may
	 * still be at it), each is accounted for - a NEW on the full ring or a BUSY waiting
	 * in the FIFO - and the rest stays in TCP. 2 frames: the logon. */
	t0 = mono_ms();
	for (;;) {
		g = gstats(f);
		if (g.rx_frames - 2 == (cap - 1) + g.busy_rejects || mono_ms() - t0 > WAIT_MS)
			break;
		usleep(200);
	}
	assert_int_equal(g.rx_frames - 2, (cap - 1) + g.busy_rejects);
	assert_true(g.rx_frames - 2 < N);
	assert_int_equal(g.jn_pending, g.busy_rejects);
	assert_int_equal(g.jn_records, 2 + g.busy_rejects); /* LOGON, SESSION_UP, BUSYs */
	assert_int_equal(g.jn_lost, 0);
	usleep(20000);
	assert_int_equal(gstats(f).rx_frames, g.rx_frames);

	/* The RX core drains ring 0 and answers; the client sends the rest as TCP takes it.
	 * Bounded by WAIT_MS without progress (a hang), not by the time the whole takes. */
	t0 = mono_ms();
	while (s.news + s.busy < N) {
		send_orders_nb(c, &b, &off, &sent, N);
		if (jn_take(f, &s, &o, 1)) {
			t0 = mono_ms();
			jn_answer(f, &o);
		}
		cl_discard(c);
		if (mono_ms() - t0 > WAIT_MS)
			fail_msg("ring 0: %u requests of %u (%u sent), none for %u ms",
				 s.news + s.busy, N, sent, WAIT_MS);
	}
	expect_ring_empty(f, 0);
	assert_int_equal(s.ups, 1);
	WAIT_STAT(f, orders_routed, 2 + N); /* LOGON, SESSION_UP, the requests */
	g = gstats(f);
	assert_int_equal(g.rx_frames, 2 + N);
	assert_int_equal(g.busy_rejects, s.busy);
	assert_int_equal(g.jn_records, 2 + s.busy); /* LOGON, SESSION_UP, BUSYs */
	assert_int_equal(g.jn_lost, 0);
	cl_close(c);
}

/* ---- EAL and main ------------------------------------------------------------------------- */

int main(void)
{
	static struct dp_eal_args eal;
	cpu_set_t set;
	int cpus[2] = { -1, -1 }, n = 0, rc;
	char err[256];

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0) {
		perror("sched_getaffinity");
		return 1;
	}
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &set))
			cpus[n++] = i;
	/* EAL pins this thread to its lcore; the gateway gets another CPU when there is
	 * one, so the two do not take turns on one. */
	g_gw_cpu = cpus[1];

	rc = dp_eal_args_add(&eal, "test_gw");
	rc |= dp_eal_args_add(&eal, "-l");
	rc |= dp_eal_args_addf(&eal, "%d", cpus[0]);
	rc |= dp_eal_args_add(&eal, "--no-huge");
	rc |= dp_eal_args_add(&eal, "--no-pci");
	rc |= dp_eal_args_add(&eal, "--no-shconf");
	rc |= dp_eal_args_add(&eal, "-m");
	rc |= dp_eal_args_add(&eal, "64");
	rc |= dp_eal_args_add(&eal, "--file-prefix");
	rc |= dp_eal_args_addf(&eal, "gwtest-%ld", (long)getpid());
	rc |= dp_eal_args_add(&eal, "--no-telemetry");
	rc |= dp_eal_args_add(&eal, "--log-level=*:warning");
	if (rc != 0) {
		fprintf(stderr, "EAL args do not fit\n");
		return 1;
	}
	rc = dp_eal_init(&eal, err, sizeof(err));
	if (rc == -EACCES || rc == -EPERM) {
		printf("SKIP: EAL cannot start here: %s\n", err);
		return 77;
	}
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_conf_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_order_roundtrip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_split_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_contract, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_full_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_on_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_session_gone_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sofh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mass_cancel_fanout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup_small_tx, teardown),
		cmocka_unit_test_setup_teardown(test_stop_disconnects, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup_idle, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup_burst, teardown),
		cmocka_unit_test_setup_teardown(test_stop_delivers, setup_slow_reader, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiate_deadline, setup_negotiate, teardown),
		cmocka_unit_test_setup_teardown(test_full_table_evicts, setup_admission, teardown),
		cmocka_unit_test_setup_teardown(test_per_ip_cap, setup_admission, teardown),
		cmocka_unit_test_setup_teardown(test_unanswered_bound, setup_burst, teardown),
		cmocka_unit_test_setup_teardown(test_journal_records, setup_journal, teardown),
		cmocka_unit_test_setup_teardown(test_journal_ring_full, setup_journal, teardown),
		cmocka_unit_test_setup_teardown(test_journal_park, setup_journal, teardown),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dp_eal_fini();
	return rc;
}
