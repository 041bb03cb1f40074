/*
 * test_gw.c - the TCP order-entry gateway (dataplane/tokexd/td_gw.h) end to end: a real
 * TCP client on 127.0.0.1 speaks SOFH-framed tokex to the gateway thread; an owner thread
 * of the test plays tokexd's RX core - it takes the gateway's frames and connection ends
 * into a session table of its own and gives it back the replies' chunks (td_gw.h "The
 * session owner's side"), routing the requests onto rte_rings on which the test plays the
 * matching cores (EAL without hugepages or PCI). Every wait is bounded.
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
#include "dataplane/tokexd/td_route.h"

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

/* ---- Fixture: a started gateway, its owner, two matching cores' rings ----------------------- */

/* The owner thread: tokexd's RX core in small - the session table (both transports: here
 * only TCP peers come), the gateway's queues, requests routed by contract onto req[m]
 * (contract 0: both cores), replies taken from ev[m]. */
struct owner {
	struct fx *f;
	pthread_t th;
	int run;              /* atomics: cleared by owner_stop() */
	struct ss_params p;
	void *mem;
	struct ss_table *ss;
	struct ss_out *out;
	uint64_t next_tick;
	uint64_t events;      /* dp_events taken (atomics) */
	uint64_t held_frames; /* passes that left a frame at the head (-EAGAIN; atomics) */
};

struct fx {
	struct td_gw_conf conf;
	struct td_gw *gw;
	struct rte_ring *req[2];
	struct rte_ring *ev[2];
	unsigned req_sz;
	struct owner own;
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
	f->req_sz = req_sz;
	td_gw_conf_default(&f->conf);
	f->conf.port = 0;
	f->conf.max_conns = 8;
	f->conf.cpu = g_gw_cpu;
	f->conf.stop_ms = 300; /* the tests' clients answer a FIN only once td_gw_stop() returns */
	ss_params_default(&f->own.p);
	f->own.p.max_sessions = 16;
	f->own.p.core = TD_SRC_RX;
	f->own.p.firms = &firm;
	f->own.p.n_firms = 1;
	f->own.p.retrans_depth = 64;
	f->own.p.retrans_max = 64;
	f->own.p.log_depth = 64;
}

/* The owner's chunks onto the gateway's out queue, published (a full queue is waited for:
 * the gateway takes it every pass). */
static void own_send(struct owner *o)
{
	struct fx *f = o->f;
	struct ss_out *out = o->out;

	for (uint32_t i = 0; i < out->n_bufs; i++) {
		const struct ss_buf *b = &out->bufs[i];
		uint8_t *p;

		assert_true(b->peer.conn != 0); /* only TCP peers here */
		while ((p = td_gw_out_alloc(f->gw, b->peer.conn, b->len)) == NULL) {
			td_gw_out_publish(f->gw);
			usleep(50);
		}
		memcpy(p, b->bytes, b->len);
	}
	if (out->n_bufs)
		td_gw_out_publish(f->gw);
	out->n_bufs = 0;
}

/* The owner's burst end: requests onto their cores' rings (a full ring is waited for: the
 * test drains them; a contract no core has is answered UNKNOWN_CONTRACT), then the
 * chunks. */
static void own_flush(struct owner *o)
{
	struct fx *f = o->f;
	struct ss_out *out = o->out;
	uint32_t n = out->n_orders;

	out->n_orders = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct dp_order r = out->orders[i];
		int core = r.contract_id == C0 ? 0 : r.contract_id == C1 ? 1 : -1;

		if (r.contract_id == 0) {
			r.parts = 2;
			for (unsigned m = 0; m < 2; m++)
				while (rte_ring_sp_enqueue_elem(f->req[m], &r, sizeof(r)) != 0)
					usleep(50);
			continue;
		}
		r.parts = 1;
		if (core < 0) {
			while (ss_reject_order(o->ss, &r, TKX_REJ_UNKNOWN_CONTRACT, now_ns(), out) ==
			       -ENOBUFS)
				own_send(o);
			continue;
		}
		while (rte_ring_sp_enqueue_elem(f->req[core], &r, sizeof(r)) != 0)
			usleep(50);
	}
	own_send(o);
}

static void *owner_main(void *arg)
{
	struct owner *o = arg;
	struct fx *f = o->f;
	struct dp_event ev[32];

	while (__atomic_load_n(&o->run, __ATOMIC_ACQUIRE)) {
		const struct td_gw_in *g;
		uint64_t now = now_ns();
		unsigned n = 0, busy = 0;

		while ((g = td_gw_in_peek(f->gw)) != NULL) {
			int rc = 0;

			if (g->kind == TD_GW_FRAME) {
				while ((rc = ss_rx(o->ss, &g->peer, g->msg, g->len, now, o->out)) ==
				       -ENOBUFS)
					own_flush(o);
			} else {
				assert_int_equal(g->kind, TD_GW_CLOSED);
				while (ss_disconnect(o->ss, &g->peer, now, o->out) == -ENOBUFS)
					own_flush(o);
			}
			if (rc == -EAGAIN) {
				/* Its session's replies first: it stays at the head (tokexd's
				 * RX core does the same, td_rx.c td_gw_rx). */
				__atomic_store_n(&o->held_frames, o->held_frames + 1,
						 __ATOMIC_RELAXED);
				break;
			}
			td_gw_in_next(f->gw);
			n++;
		}
		if (n)
			td_gw_in_done(f->gw);
		busy += n;
		for (unsigned m = 0; m < 2; m++) {
			unsigned k = rte_ring_sc_dequeue_burst_elem(f->ev[m], ev, sizeof(ev[0]), 32,
								    NULL), done = 0;

			busy += k;
			while (done < k) {
				done += ss_event(o->ss, ev + done, k - done, now, o->out);
				if (done < k)
					own_flush(o);
			}
			__atomic_store_n(&o->events, o->events + k, __ATOMIC_RELEASE);
		}
		while (ss_release(o->ss, now, o->out) == -ENOBUFS)
			own_flush(o);
		if (now >= o->next_tick) {
			while (ss_tick(o->ss, now, o->out) == -ENOBUFS)
				own_flush(o);
			o->next_tick = now + 1000000;
		}
		own_flush(o);
		if (!busy)
			usleep(50);
	}
	return NULL;
}

static void owner_start(struct fx *f)
{
	struct owner *o = &f->own;
	size_t len = ss_table_memsize(&o->p);

	assert_true(len > 0);
	o->f = f;
	o->mem = aligned_alloc(64, (len + 63) & ~(size_t)63);
	o->out = calloc(1, sizeof(*o->out));
	assert_non_null(o->mem);
	assert_non_null(o->out);
	o->ss = ss_table_init(o->mem, len, &o->p);
	assert_non_null(o->ss);
	o->run = 1;
	assert_int_equal(pthread_create(&o->th, NULL, owner_main, o), 0);
}

/* The owner makes no more chunks after this (td_gw_stop() may run). */
static void owner_stop(struct fx *f)
{
	struct owner *o = &f->own;

	if (!o->ss)
		return;
	__atomic_store_n(&o->run, 0, __ATOMIC_RELEASE);
	pthread_join(o->th, NULL);
	free(o->out);
	free(o->mem);
	o->ss = NULL;
}

/* Waits until the owner has taken n dp_events in all. */
static void owner_took(struct fx *f, uint64_t n)
{
	uint64_t t0 = mono_ms();

	while (__atomic_load_n(&f->own.events, __ATOMIC_ACQUIRE) < n && mono_ms() - t0 < WAIT_MS)
		usleep(200);
	assert_true(__atomic_load_n(&f->own.events, __ATOMIC_ACQUIRE) >= n);
}

static void fx_start(struct fx *f)
{
	char err[256] = "";
	int rc;

	for (unsigned m = 0; m < 2; m++) {
		f->req[m] = mk_ring("req", sizeof(struct dp_order), f->req_sz);
		f->ev[m] = mk_ring("ev", sizeof(struct dp_event), 1024);
	}
	rc = td_gw_start(&f->gw, &f->conf, err, sizeof(err));
	if (rc)
		fail_msg("td_gw_start: %d %s", rc, err);
	assert_true(td_gw_port(f->gw) != 0);
	owner_start(f);
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
	f->own.p.throttle_rate = 0;
	fx_start(f);
	*state = f;
	return 0;
}

/* The smallest in queue (64 KiB: about 900 NewOrders), big request rings, no throttle, a
 * session may have 64 requests unanswered (a quarter of its retransmit depth, at least
 * 64: ss_session.h invariant 15). */
static int setup_small_in(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	fx_conf(f, 4096);
	f->conf.in_bytes = 1u << 16;
	f->own.p.throttle_rate = 0;
	f->own.p.retrans_depth = 256;
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

	owner_stop(f);
	td_gw_stop(f->gw);
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

	ss_stats_read(f->own.ss, &s);
	return s;
}

/* The owner's session log (this thread is its one reader). */
static unsigned log_drain(struct fx *f, struct ss_log *dst, unsigned max)
{
	return ss_log_drain(f->own.ss, dst, max);
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
		.src = TD_SRC_RX,
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
	c.in_bytes = (1u << 16) + 8;
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "in_bytes"));
	c = f->conf;
	c.out_bytes = 1u << 16; /* below a few full ss_outs */
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out_bytes"));
	c = f->conf;
	c.keepalive_max_ms = 0; /* and idle_ms 0: no idle deadline to derive */
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EINVAL);
	/* The running gateway's port is taken. */
	c = f->conf;
	c.port = td_gw_port(f->gw);
	assert_int_equal(td_gw_start(&gw, &c, err, sizeof(err)), -EADDRINUSE);
	assert_null(gw);
	for (unsigned i = 0; i < TD_GW_STAT_COUNT; i++)
		assert_non_null(td_gw_stat_name(i));
	assert_null(td_gw_stat_name(TD_GW_STAT_COUNT));
	td_gw_stop(NULL);
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
	assert_int_equal(o0.src, TD_SRC_RX);
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
	assert_int_equal(gstats(f).bad_frames, 0);
	assert_true(gstats(f).chunks >= 5); /* the owner's replies, a chunk or more a burst */
	assert_int_equal(sstats(f).est_ok, 1);
	n = log_drain(f, lg, 8);
	assert_int_equal(n, 2);
	assert_int_equal(lg[0].code, SS_LOG_NEGOTIATED);
	assert_int_equal(lg[1].code, SS_LOG_ESTABLISHED);
	assert_int_equal(lg[1].session_id, 1001);
	assert_int_equal(lg[1].peer.ip, htonl(INADDR_LOOPBACK));
	assert_int_equal(lg[1].peer.conn & 0xffff, 0); /* the first slot */

	cl_close(c);
	WAIT_STAT(f, conns_closed, 1);
	WAIT_STAT(f, closed_notices, 1); /* the owner heard of it: the session ended */
	expect_ring_empty(f, 0); /* no cancel_on_disconnect: no SESSION_GONE */
	expect_ring_empty(f, 1);
	assert_int_equal(sstats(f).term_disconnect, 1);

	/* A chunk for the connection that is gone is dropped, never sent on the slot's next
	 * connection (td_gw.h invariant 1): this thread is the owner now. */
	owner_stop(f);
	{
		uint8_t frame[64];
		struct tkx_sequence sq = { .next_seq_no = 3 };
		uint8_t msg[TKX_MAX_MSG_LEN];
		int ml = tkx_enc_sequence(msg, sizeof(msg), &sq);
		uint8_t *p;

		assert_int_equal(tkx_sofh_encode(frame, sizeof(frame), (size_t)ml), TKX_SOFH_LEN);
		memcpy(frame + TKX_SOFH_LEN, msg, (size_t)ml);
		p = td_gw_out_alloc(f->gw, lg[1].peer.conn, TKX_SOFH_LEN + (uint32_t)ml);
		assert_non_null(p);
		memcpy(p, frame, TKX_SOFH_LEN + (size_t)ml);
		td_gw_out_publish(f->gw);
	}
	WAIT_STAT(f, tx_stale, 1);
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
		assert_int_equal(g.src, TD_SRC_RX);
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
	owner_took(f, 1);

	c = cl_open(f, 0);
	m = logon(c, 1212, 1000, 0);
	assert_int_equal(m.establishment_ack.next_seq_no, 2);
	assert_int_equal(m.establishment_ack.expected_seq_no, 2);
	FB_ADD(&b, retransmit_request, .session_id = 1212, .timestamp = now_ns(),
	       .from_seq_no = 1, .count = 1);
	fb_send(c, &b);
	cl_expect(c, TKX_RETRANSMISSION);
	assert_int_equal(cl_expect(c, TKX_EXEC_ACK).exec_ack.order_id, 77);

	n = log_drain(f, lg, 16);
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

/* Stopping the gateway closes every connection, after what the owner published; the
 * sessions end with the owner (tokexd stops): nothing more is handed over. */
static void test_stop_closes(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0), *c2 = cl_open(f, 0);

	logon(c, 1414, 1000, 1);
	logon(c2, 1415, 1000, 1);
	owner_stop(f);
	td_gw_stop(f->gw);
	f->gw = NULL;
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
	assert_int_equal(gstats(f).rx_frames, 2 + N);
	cl_close(c);
}

/* ---- Stopping (td_gw.h "Stop") ------------------------------------------------------------ */

static void *stop_thread(void *arg)
{
	struct fx *f = arg;

	td_gw_stop(f->gw);
	return NULL;
}

/* A clean stop delivers every reply: the chunks still on the out queue and those still in
 * the gateway's send queue (its socket buffer is small and the client has read nothing yet)
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
	unsigned got = 0;
	int r;

	logon(c, 2020, 1000, 0);
	fb_order(&b, 1, C0);
	fb_send(c, &b);
	o = deq_order(f, 0);
	for (unsigned i = 0; i < N; i++)
		enq_ack(f, i % 2, &o, 7000 + i);
	/* The owner has made every reply and stops making chunks: the gateway may stop. */
	owner_took(f, N);
	owner_stop(f);
	assert_int_equal(pthread_create(&th, NULL, stop_thread, f), 0);
	while ((r = cl_read(c, &m, WAIT_MS)) == 1)
		got += m.template_id == TKX_EXEC_ACK;
	cl_close(c); /* the client's EOF: the gateway closes and td_gw_stop() returns */
	assert_int_equal(pthread_join(th, NULL), 0);
	f->gw = NULL;
	assert_int_equal(r, 0); /* EOF: the FIN after the last byte */
	assert_int_equal(got, N);
}

/* td_gw_quiesce(): no more input - a request sent after it is never taken, a new
 * connection is closed - while replies still go out; td_gw_quiet() says so once all that
 * was read is on the in queue. */
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

/* The owner leaves a frame at the head of the in queue while its session has as many
 * requests unanswered as it may (ss_session.h invariant 15: 64 here, as tokexd's RX core
 * does): the queue (64 KiB) fills, and the gateway parks the connection - the rest waits
 * in TCP (td_gw.h invariant 4). As the matching core answers, every request is taken, in
 * order, and answered in order: nothing read is lost. */
static void test_in_queue_full_parks(void **state)
{
	struct fx *f = *state;
	struct cl *c = cl_open(f, 0);
	struct fb b = { .n = 0 };
	enum { N = 2000, U = 64 };
	static uint8_t big[N * 64];
	size_t len = 0, off = 0;
	unsigned answered = 0, acked = 0;
	struct dp_order o;
	struct tkx_msg m;
	uint64_t t0;

	logon(c, 1717, 10000, 0);
	for (unsigned i = 1; i <= N; i++) {
		fb_order(&b, i, C1);
		memcpy(big + len, b.p, b.n);
		len += b.n;
		b.n = 0;
	}
	t0 = mono_ms();
	while (gstats(f).in_parked == 0) {
		if (off < len)
			off += cl_send_nb(c, big + off, len - off);
		else
			usleep(200);
		if (mono_ms() - t0 > WAIT_MS)
			fail_msg("the gateway never parked the connection");
	}
	/* U requests forwarded; nothing more taken while none is answered. */
	t0 = mono_ms();
	while (rte_ring_count(f->req[1]) < U && mono_ms() - t0 < WAIT_MS)
		usleep(200);
	usleep(20000);
	assert_int_equal(rte_ring_count(f->req[1]), U);
	assert_true(__atomic_load_n(&f->own.held_frames, __ATOMIC_RELAXED) >= 1);
	assert_true(gstats(f).rx_frames < 2 + N);
	/* The core answers as they come: every request is taken in the end. */
	t0 = mono_ms();
	while (answered < N || acked < N) {
		if (off < len)
			off += cl_send_nb(c, big + off, len - off);
		if (answered < N && deq_order_wait(f, 1, &o, 1) == 1) {
			assert_int_equal(o.cl_ord_id, answered + 1);
			enq_ack(f, 1, &o, 100 + answered);
			answered++;
		}
		while (acked < answered && cl_read(c, &m, 1) == 1) {
			if (m.template_id == TKX_SEQUENCE)
				continue;
			assert_int_equal(m.template_id, TKX_EXEC_ACK);
			assert_int_equal(m.exec_ack.order_id, 100 + acked);
			acked++;
		}
		if (mono_ms() - t0 > 5 * WAIT_MS)
			fail_msg("%u of %u answered, %u acks read", answered, N, acked);
	}
	assert_int_equal(gstats(f).rx_frames, 2 + N);
	assert_int_equal(gstats(f).bad_frames, 0);
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
		cmocka_unit_test_setup_teardown(test_cancel_on_disconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_sofh, setup, teardown),
		cmocka_unit_test_setup_teardown(test_terminate_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_heartbeat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reconnect, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slow_client, setup_small_tx, teardown),
		cmocka_unit_test_setup_teardown(test_stop_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_timeout, setup_idle, teardown),
		cmocka_unit_test_setup_teardown(test_burst, setup_burst, teardown),
		cmocka_unit_test_setup_teardown(test_stop_delivers, setup_slow_reader, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce, setup, teardown),
		cmocka_unit_test_setup_teardown(test_negotiate_deadline, setup_negotiate, teardown),
		cmocka_unit_test_setup_teardown(test_full_table_evicts, setup_admission, teardown),
		cmocka_unit_test_setup_teardown(test_per_ip_cap, setup_admission, teardown),
		cmocka_unit_test_setup_teardown(test_in_queue_full_parks, setup_small_in, teardown),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dp_eal_fini();
	return rc;
}
