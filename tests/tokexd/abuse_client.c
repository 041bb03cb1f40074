/*
 * abuse_client.c - the well-behaved members and three of the attackers of the abuse test
 * (test_tokexd_abuse.sh): one tokexd, attacked from every side at once, must keep
 * answering the members who follow the protocol, correctly and in time. The script runs
 * the other attackers (flood_client, park_client, logon_replay, e2e_client mdreq) beside
 * these, and checks tokexd's counters afterwards.
 *
 * Modes (every wait bounded; exit 0 pass, 1 fail, 2 usage):
 *   good      firm 1 on UDP and firm 2 on TCP (from --tcp-src, so that no attacker's
 *             address shares its per-address allowance), through libtokex-client, trade
 *             with each other on --contract, which nobody else touches, in rounds: a GTC
 *             order of 5 from one, an IOC of 3 against it from the other, then the rest
 *             cancelled. Every request's answers are checked field by field (ExecAck,
 *             both Fills with one trade id, Cancelled), the numbering of each session
 *             without a gap or a repeat, and nothing else may arrive; each answer must
 *             come within --deadline-ms of its request (a lock-out or a starved session
 *             fails it; the latencies are reported: max, p99, p50). Between rounds it
 *             forges datagrams with the UDP session's own source address through a raw
 *             socket (a NewOrder with cl_ord_id 2^64 - 1 and a Terminate, both unsealed,
 *             and a NewOrder under a made-up MAC): the session must trade on as if they
 *             had never been sent. When DIR/go appears (the script: the parker is at its
 *             limit, idle connections fill the gateway's table) the UDP session logs off
 *             and firm 1 logs on a new one, and the TCP session logs off and resumes on a
 *             new connection (its numbering carried over), each within the deadline.
 *             When DIR/stop appears (the attacks are over) and --min-rounds are done, it
 *             listens for anything unexpected, logs off and prints its figures.
 *             Touches DIR/good.up once both sessions trade, DIR/good.relogged after go.
 *   idle      TCP connections to the gateway that never send a byte, in waves: the first
 *             --burst from the --one address (far beyond the per-address cap), --cap from
 *             each of the --few addresses (together beyond the table); the waves repeat
 *             every --wave-ms, refilling what the gateway closed, until DIR/stop or
 *             --max connections. Counts what the gateway closed at once and what it
 *             closed later (the credentials deadline, or an eviction); touches DIR/idle.up
 *             after the first wave.
 *   udpflood  a session of firm 1 on UDP (no cancel-on-disconnect) that sends --orders
 *             NewOrders at once (buys and sells crossing at one price), batched, while
 *             it reads: the answers must come in request order (cl_ord_ids increasing,
 *             fills after their order's answer), THROTTLED among them, then a Terminate
 *             THROTTLE with nothing numbered after it.
 * Each prints one line per failed check ("ABUSE FAIL: ...") and its figures on lines
 * starting with its mode in capitals, for the script.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tokex/client.h"
#include "tokex/codec.h"
#include "e2e_udp_raw.h"

typedef unsigned long long ull;

/* Keepalive of every session here: a client kept off its CPU for a few seconds on a
 * loaded machine is not timed out. */
#define KA_MS 10000
/* A round of the good sessions starts at most every PACE_MS: each session then sends at
 * most 2 requests per round, well within the test's throttle (its rate and depth), which
 * the flooders exceed by far. */
#define PACE_MS 40
#define MAX_ROUNDS 20000
#define SPOOF_EVERY 5 /* rounds between forged datagrams */
#define SPOOF_MAX 90
#define QCAP 256
#define MAX_IDLE 1024

#define BUY TKX_SIDE_BUY
#define SELL TKX_SIDE_SELL

static struct {
	struct sockaddr_in udp, tcp, tcp_src;
	struct in_addr one, few[8];
	unsigned n_few;
	uint32_t contract, deadline_ms, wait_s, min_rounds, orders, burst, cap, wave_ms, max;
	uint64_t sid;
	const char *dir;
} g;

#define FAIL(...)                                        \
	do {                                             \
		printf("ABUSE FAIL: " __VA_ARGS__);      \
		printf("\n");                            \
		return -1;                               \
	} while (0)
#define TRY(expr)                  \
	do {                       \
		if ((expr) < 0)    \
			return -1; \
	} while (0)

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

static const char *secret(uint32_t firm)
{
	return firm == 1 ? "tokex-demo-secret-firm-1" : "tokex-demo-secret-firm-2";
}

/* Whether DIR/name exists; DIR/name created. */
static int flag(const char *name)
{
	char p[512];

	snprintf(p, sizeof(p), "%s/%s", g.dir, name);
	return access(p, F_OK) == 0;
}

static void touch(const char *name)
{
	char p[512];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", g.dir, name);
	f = fopen(p, "w");
	if (f)
		fclose(f);
}

/* An application message in one line, for failure messages. */
static const char *msg_text(const struct tkx_client_event *e, char *b, size_t n)
{
	const struct tkx_msg *m = &e->msg;

	switch (e->kind) {
	case TKX_EXEC_ACK:
		snprintf(b, n, "ExecAck(cl %llu oid %#llx %s %u @ %" PRId64 " %s c %u)",
			 (ull)m->exec_ack.cl_ord_id, (ull)m->exec_ack.order_id,
			 tkx_side_name(m->exec_ack.side), m->exec_ack.qty, m->exec_ack.price,
			 tkx_tif_name(m->exec_ack.tif), m->exec_ack.contract_id);
		break;
	case TKX_EXEC_REJECT:
		snprintf(b, n, "ExecReject(cl %llu %s ref %u)", (ull)m->exec_reject.cl_ord_id,
			 tkx_reject_reason_name(m->exec_reject.reason),
			 m->exec_reject.ref_template_id);
		break;
	case TKX_FILL:
		snprintf(b, n, "Fill(cl %llu oid %#llx %s %u @ %" PRId64 " leaves %u aggr %u c %u)",
			 (ull)m->fill.cl_ord_id, (ull)m->fill.order_id, tkx_side_name(m->fill.side),
			 m->fill.qty, m->fill.price, m->fill.leaves_qty, m->fill.aggressor,
			 m->fill.contract_id);
		break;
	case TKX_CANCELLED:
		snprintf(b, n, "Cancelled(cl %llu oid %#llx orig %llu %s %u %s c %u)",
			 (ull)m->cancelled.cl_ord_id, (ull)m->cancelled.order_id,
			 (ull)m->cancelled.orig_cl_ord_id, tkx_side_name(m->cancelled.side),
			 m->cancelled.qty, tkx_cancel_reason_name(m->cancelled.reason),
			 m->cancelled.contract_id);
		break;
	default:
		snprintf(b, n, "%s", e->kind < 1000 ? tkx_template_name(e->kind) : "library event");
	}
	return b;
}

/* ==== good: the well-behaved sessions ==================================================== */

struct sess {
	const char *name; /* "udp" or "tcp" */
	int tcp;
	uint32_t firm;
	struct tkx_client *c;
	uint64_t sid;
	uint64_t last_seq; /* the last numbered message delivered (this session) */
	uint64_t numbered; /* numbered messages delivered (this session) */
	uint64_t requests, total; /* requests sent, numbered messages (all its sessions) */
	int ending;        /* our Terminate is out: the exchange's may come, then the end */
	struct tkx_establishment_ack est;
	int have_est;
	unsigned head, n;
	struct tkx_client_event q[QCAP];
};

static struct sess g_s[2]; /* [0] firm 1 on UDP, [1] firm 2 on TCP */
static uint64_t g_lat[3 * MAX_ROUNDS]; /* ns from each request to its first answer */
static unsigned g_nlat;
static unsigned g_spoof_unsealed, g_spoof_badmac;

/* One event of s, as tkx_client_poll() gives it. A good session sees only its own
 * answers, numbered one after the other; what a good session must never see fails. */
static int take(struct sess *s, const struct tkx_client_event *e)
{
	char t[256];

	if (e->seq) {
		if (e->seq != s->last_seq + 1)
			FAIL("%s session %#llx: message %llu after %llu (a gap or a repeat)", s->name,
			     (ull)s->sid, (ull)e->seq, (ull)s->last_seq);
		s->last_seq = e->seq;
		s->numbered++;
		s->total++;
	}
	switch (e->kind) {
	case TKX_NEGOTIATION_RESPONSE:
	case TKX_RETRANSMISSION:
		return 0;
	case TKX_ESTABLISHMENT_ACK:
		s->est = e->msg.establishment_ack;
		s->have_est = 1;
		return 0;
	case TKX_TERMINATE:
		if (s->ending)
			return 0;
		FAIL("%s session %#llx: the exchange terminated it: %s", s->name, (ull)s->sid,
		     tkx_terminate_reason_name(e->msg.terminate.reason));
	case TKX_NOT_APPLIED:
		FAIL("%s session %#llx: NotApplied from %llu count %u: a request of ours was not "
		     "applied", s->name, (ull)s->sid, (ull)e->msg.not_applied.from_seq_no,
		     e->msg.not_applied.count);
	case TKX_CLIENT_EV_LOST:
		FAIL("%s session %#llx: messages %llu..%llu lost", s->name, (ull)s->sid,
		     (ull)e->seq, (ull)(e->seq + e->count - 1));
	case TKX_CLIENT_EV_CLOSED:
		if (s->ending)
			return 0;
		FAIL("%s session %#llx: closed (%s)", s->name, (ull)s->sid, strerror(-e->err));
	default:
		if (e->kind < TKX_EXEC_ACK || e->kind > TKX_BUSINESS_REJECT)
			FAIL("%s session %#llx: unexpected %s", s->name, (ull)s->sid,
			     msg_text(e, t, sizeof(t)));
		if (s->n == QCAP)
			FAIL("%s session %#llx: %u answers nobody asked for", s->name, (ull)s->sid,
			     QCAP);
		s->q[(s->head + s->n++) % QCAP] = *e;
		return 0;
	}
}

static int drain(struct sess *s)
{
	struct tkx_client_event ev[64];
	int n;

	do {
		n = tkx_client_poll(s->c, 0, ev, 64);
		for (int i = 0; i < n; i++)
			TRY(take(s, &ev[i]));
	} while (n == 64);
	if (n < 0 && !(n == -ENOTCONN && s->ending)) {
		char e[200];

		tkx_client_errstr(s->c, e, sizeof(e));
		FAIL("%s session %#llx: over: %s (%s)", s->name, (ull)s->sid, strerror(-n), e);
	}
	return 0;
}

/* Reads both sessions (waiting up to ms for something to read), services their timers. */
static int pump(int ms)
{
	struct pollfd p[2];

	for (int i = 0; i < 2; i++)
		p[i] = (struct pollfd){ .fd = tkx_client_fd(g_s[i].c), .events = POLLIN };
	if (ms > 0)
		poll(p, 2, ms);
	for (int i = 0; i < 2; i++)
		TRY(drain(&g_s[i]));
	return 0;
}

/* The next answer of s, which must come by due (CLOCK_MONOTONIC ns); what for the message. */
static int next_ev(struct sess *s, uint64_t due, const char *what, struct tkx_client_event *out)
{
	while (!s->n) {
		uint64_t now = mono_ns();

		if (now >= due)
			FAIL("%s session %#llx: %s not answered within %u ms (a lock-out or a "
			     "starved session)", s->name, (ull)s->sid, what, g.deadline_ms);
		uint64_t ms = (due - now) / 1000000 + 1;

		TRY(pump(ms > 20 ? 20 : (int)ms));
	}
	*out = s->q[s->head];
	s->head = (s->head + 1) % QCAP;
	s->n--;
	return 0;
}

static void lat(uint64_t sent, const struct tkx_client_event *e)
{
	if (g_nlat < sizeof(g_lat) / sizeof(g_lat[0]))
		g_lat[g_nlat++] = e->rx_ns > sent ? e->rx_ns - sent : 0;
}

#define EXPECT(s, ok, e, ...)                                                          \
	do {                                                                           \
		if (!(ok)) {                                                           \
			char t_[256];                                                  \
			printf("ABUSE FAIL: %s session %#llx: expected ", (s)->name,  \
			       (ull)(s)->sid);                                         \
			printf(__VA_ARGS__);                                           \
			printf(", got %s\n", msg_text((e), t_, sizeof(t_)));           \
			return -1;                                                     \
		}                                                                      \
	} while (0)

static int exp_ack(struct sess *s, uint64_t sent, const struct tkx_new_order *o, uint64_t *oid)
{
	struct tkx_client_event e;
	const struct tkx_exec_ack *a = &e.msg.exec_ack;

	TRY(next_ev(s, sent + (uint64_t)g.deadline_ms * 1000000, "a NewOrder", &e));
	EXPECT(s, e.kind == TKX_EXEC_ACK && a->cl_ord_id == o->cl_ord_id && a->order_id &&
			  a->price == o->price && a->qty == o->qty &&
			  a->contract_id == o->contract_id && a->side == o->side &&
			  a->tif == o->tif && a->transact_time,
	       &e, "ExecAck(cl %llu %s %u @ %" PRId64 " %s c %u)", (ull)o->cl_ord_id,
	       tkx_side_name(o->side), o->qty, o->price, tkx_tif_name(o->tif), o->contract_id);
	lat(sent, &e);
	*oid = a->order_id;
	return 0;
}

static int exp_fill(struct sess *s, uint64_t sent, uint64_t cl, uint64_t oid, int side,
		    int64_t px, uint32_t qty, uint32_t leaves, int aggr, uint64_t *trade)
{
	struct tkx_client_event e;
	const struct tkx_fill *f = &e.msg.fill;

	TRY(next_ev(s, sent + (uint64_t)g.deadline_ms * 1000000, "a crossing order", &e));
	EXPECT(s, e.kind == TKX_FILL && f->cl_ord_id == cl && f->order_id == oid &&
			  f->price == px && f->qty == qty && f->leaves_qty == leaves &&
			  f->contract_id == g.contract && f->side == side && f->aggressor == aggr &&
			  f->trade_id && (!*trade || f->trade_id == *trade),
	       &e, "Fill(cl %llu oid %#llx %s %u @ %" PRId64 " leaves %u aggr %d c %u%s)",
	       (ull)cl, (ull)oid, tkx_side_name((unsigned)side), qty, px, leaves, aggr,
	       g.contract, *trade ? ", the other side's trade id" : "");
	*trade = f->trade_id;
	return 0;
}

static int exp_cancelled(struct sess *s, uint64_t sent, uint64_t cl, uint64_t oid,
			 uint64_t orig, int side, uint32_t qty)
{
	struct tkx_client_event e;
	const struct tkx_cancelled *x = &e.msg.cancelled;

	TRY(next_ev(s, sent + (uint64_t)g.deadline_ms * 1000000, "a CancelOrder", &e));
	EXPECT(s, e.kind == TKX_CANCELLED && x->cl_ord_id == cl && x->order_id == oid &&
			  x->orig_cl_ord_id == orig && x->contract_id == g.contract &&
			  x->side == side && x->qty == qty && x->reason == TKX_CXL_CLIENT,
	       &e, "Cancelled(cl %llu oid %#llx orig %llu %s %u Client c %u)", (ull)cl, (ull)oid,
	       (ull)orig, tkx_side_name((unsigned)side), qty, g.contract);
	lat(sent, &e);
	return 0;
}

/* One round: M rests 5, T takes 3 with an IOC, M cancels the 2 left. The book of the
 * contract is empty before and after. */
static int round_(unsigned r)
{
	struct sess *M = &g_s[r & 1], *T = &g_s[!(r & 1)];
	int ms = (r >> 1) & 1 ? SELL : BUY, ts = ms == BUY ? SELL : BUY;
	int64_t px = 24950 + 10 * (int64_t)(r % 10);
	struct tkx_new_order o = { .price = px, .qty = 5, .contract_id = g.contract,
				   .side = (uint8_t)ms, .tif = TKX_TIF_GTC };
	struct tkx_new_order x = { .price = px, .qty = 3, .contract_id = g.contract,
				   .side = (uint8_t)ts, .tif = TKX_TIF_IOC };
	uint64_t t, oid_m, oid_t, trade = 0, ccl;
	int rc;

	t = mono_ns();
	rc = tkx_client_new_order(M->c, &o);
	if (rc < 0)
		FAIL("%s session: NewOrder: %s", M->name, strerror(-rc));
	M->requests++;
	TRY(exp_ack(M, t, &o, &oid_m));

	t = mono_ns();
	rc = tkx_client_new_order(T->c, &x);
	if (rc < 0)
		FAIL("%s session: NewOrder: %s", T->name, strerror(-rc));
	T->requests++;
	TRY(exp_ack(T, t, &x, &oid_t));
	TRY(exp_fill(T, t, x.cl_ord_id, oid_t, ts, px, 3, 0, 1, &trade));
	TRY(exp_fill(M, t, o.cl_ord_id, oid_m, ms, px, 3, 2, 0, &trade));

	t = mono_ns();
	rc = tkx_client_cancel(M->c, o.cl_ord_id, &ccl);
	if (rc < 0)
		FAIL("%s session: CancelOrder: %s", M->name, strerror(-rc));
	M->requests++;
	return exp_cancelled(M, t, ccl, oid_m, o.cl_ord_id, ms, 2);
}

/* Negotiate + Establish of s as session sid (resume: the numbers to carry on from), within
 * timeout_ms; *took_ms how long it took. */
static int sess_open(struct sess *s, uint64_t sid, const struct tkx_client_stats *resume,
		     int timeout_ms, uint64_t *took_ms)
{
	struct tkx_client_cfg cfg;
	uint64_t t0, end, want_next = resume ? resume->last_in_seq + 1 : 1;
	int r;

	tkx_client_cfg_default(&cfg);
	cfg.transport = s->tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = s->tcp ? g.tcp : g.udp;
	if (s->tcp)
		cfg.local = g.tcp_src;
	cfg.firm_id = s->firm;
	cfg.secret = (const uint8_t *)secret(s->firm);
	cfg.secret_len = strlen(secret(s->firm));
	cfg.session_id = sid;
	cfg.cancel_on_disconnect = 1;
	cfg.keepalive_ms = KA_MS;
	cfg.connect_timeout_ms = (uint32_t)timeout_ms;
	/* Gaps (a datagram the loaded TAP dropped) asked for again for a long while. */
	cfg.retrans_timeout_ms = 1000;
	cfg.retrans_retries = 30;
	if (resume) {
		cfg.next_seq_no = resume->next_seq_no;
		cfg.last_in_seq = resume->last_in_seq;
		cfg.first_cl_ord_id = resume->next_cl_ord_id;
	}
	s->sid = sid;
	s->have_est = 0;
	s->ending = 0;
	t0 = mono_ns();
	r = tkx_client_open(&s->c, &cfg);
	if (r < 0)
		FAIL("%s session %#llx: open: %s", s->name, (ull)sid, strerror(-r));
	r = tkx_client_establish(s->c, timeout_ms);
	*took_ms = (mono_ns() - t0) / 1000000;
	if (r < 0) {
		char e[200];

		tkx_client_errstr(s->c, e, sizeof(e));
		FAIL("%s session %#llx of firm %u: no logon within %d ms: %s (%s)", s->name,
		     (ull)sid, s->firm, timeout_ms, strerror(-r), e);
	}
	/* establish() left the EstablishmentAck queued. */
	end = mono_ns() + (uint64_t)timeout_ms * 1000000;
	while (!s->have_est && mono_ns() < end)
		TRY(drain(s));
	if (!s->have_est)
		FAIL("%s session %#llx: no EstablishmentAck event", s->name, (ull)sid);
	if (s->est.next_seq_no != want_next ||
	    s->est.expected_seq_no != (resume ? resume->next_seq_no : 1))
		FAIL("%s session %#llx: EstablishmentAck next %llu expected %llu, not %llu and %llu",
		     s->name, (ull)sid, (ull)s->est.next_seq_no, (ull)s->est.expected_seq_no,
		     (ull)want_next, (ull)(resume ? resume->next_seq_no : 1));
	if (!resume)
		s->last_seq = s->numbered = 0;
	return 0;
}

/* Terminate, with nothing left unanswered; the client closed. */
static int sess_close(struct sess *s)
{
	int r;

	TRY(drain(s));
	if (s->n) {
		char t[256];

		FAIL("%s session %#llx: %s came unasked", s->name, (ull)s->sid,
		     msg_text(&s->q[s->head], t, sizeof(t)));
	}
	s->ending = 1;
	r = tkx_client_terminate(s->c, (int)g.deadline_ms);
	if (r < 0)
		FAIL("%s session %#llx: Terminate: %s", s->name, (ull)s->sid, strerror(-r));
	TRY(drain(s));
	if (s->n)
		FAIL("%s session %#llx: an answer after the end", s->name, (ull)s->sid);
	if (s->numbered != s->last_seq)
		FAIL("%s session %#llx: %llu messages delivered, numbered up to %llu", s->name,
		     (ull)s->sid, (ull)s->numbered, (ull)s->last_seq);
	tkx_client_close(s->c);
	s->c = NULL;
	return 0;
}

/* A datagram with the UDP session's own source address, from a raw socket: kind 0 a
 * NewOrder with cl_ord_id 2^64 - 1 (unsealed), 1 a Terminate (unsealed), 2 that NewOrder
 * under a made-up MAC. The exchange must drop each unread. */
static int spoof(unsigned kind)
{
	struct sess *s = &g_s[0];
	struct sockaddr_in me;
	socklen_t sl = sizeof(me);
	struct tkx_client_stats st;
	uint8_t d[TKX_MAX_DGRAM], *p = d;
	int r;

	if (getsockname(tkx_client_fd(s->c), (struct sockaddr *)&me, &sl) < 0)
		FAIL("getsockname: %s", strerror(errno));
	tkx_client_stats_get(s->c, &st);
	if (kind == 1) {
		struct tkx_terminate tm = { .session_id = s->sid, .reason = TKX_TERM_FINISHED };

		p += tkx_enc_terminate(p, TKX_MAX_MSG_LEN, &tm);
	} else {
		struct tkx_sequence sq = { .next_seq_no = st.next_seq_no };
		struct tkx_new_order o = { .cl_ord_id = UINT64_MAX, .price = 25000, .qty = 1,
					   .contract_id = g.contract, .side = BUY,
					   .tif = TKX_TIF_GTC };

		p += tkx_enc_sequence(p, TKX_MAX_MSG_LEN, &sq);
		p += tkx_enc_new_order(p, TKX_MAX_MSG_LEN, &o);
		if (kind == 2) {
			struct tkx_datagram_auth au = { .counter = (1ull << 40) + g_spoof_badmac,
							.mac = { 1, 2, 3, 4, 5, 6, 7, 8 } };

			p += tkx_enc_datagram_auth(p, TKX_MAX_MSG_LEN, &au);
		}
	}
	r = e2e_udp_raw_send(&me, &g.udp, d, (size_t)(p - d), 0);
	if (r < 0)
		FAIL("a forged datagram: %s", strerror(-r));
	if (kind == 2)
		g_spoof_badmac++;
	else
		g_spoof_unsealed++;
	return 0;
}

/* During the attack: firm 1 logs a new UDP session on (its firm's allowance is its own,
 * whatever the parker holds); the TCP session resumes on a new connection (admitted past
 * the idle ones). */
static int relogon(void)
{
	struct sess *u = &g_s[0], *t = &g_s[1];
	struct tkx_client_stats st;
	uint64_t old = u->sid, ums, tms;

	TRY(sess_close(u));
	TRY(sess_open(u, old + 2, NULL, (int)g.deadline_ms, &ums));
	tkx_client_stats_get(t->c, &st);
	TRY(sess_close(t));
	TRY(sess_open(t, t->sid, &st, (int)g.deadline_ms, &tms));
	printf("GOOD relogon: udp session %#llx off, new session %#llx of firm 1 on in %llu ms; "
	       "tcp session %#llx resumed on a new connection in %llu ms, next %llu\n",
	       (ull)old, (ull)u->sid, (ull)ums, (ull)t->sid, (ull)tms, (ull)t->est.next_seq_no);
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int good(void)
{
	uint64_t base = real_ns() & ~0xffffull, took, start = mono_ns(), next = 0;
	uint64_t bound = start + (uint64_t)g.wait_s * 1000000000ull;
	unsigned r, relogged = 0;
	int wait_ms = (int)g.wait_s * 1000;

	g_s[0] = (struct sess){ .name = "udp", .tcp = 0, .firm = 1 };
	g_s[1] = (struct sess){ .name = "tcp", .tcp = 1, .firm = 2 };
	/* The first logons: tokexd has just started, nothing attacks yet. */
	TRY(sess_open(&g_s[0], base + 1, NULL, wait_ms, &took));
	TRY(sess_open(&g_s[1], base + 2, NULL, wait_ms, &took));
	printf("GOOD up: udp session %#llx of firm 1, tcp session %#llx of firm 2 from %s\n",
	       (ull)g_s[0].sid, (ull)g_s[1].sid, inet_ntoa(g.tcp_src.sin_addr));
	for (r = 0; r < MAX_ROUNDS; r++) {
		if (r == 2)
			touch("good.up");
		if (!relogged && flag("go")) {
			TRY(relogon());
			relogged = 1;
			touch("good.relogged");
		}
		if (relogged && r >= g.min_rounds && flag("stop"))
			break;
		if (mono_ns() > bound)
			FAIL("no %s from the script in %u s", relogged ? "stop" : "go", g.wait_s);
		/* The pace: a round every PACE_MS at most, the sessions read meanwhile. */
		while (mono_ns() < next)
			TRY(pump((int)((next - mono_ns()) / 1000000) + 1));
		next = mono_ns() + PACE_MS * 1000000ull;
		TRY(round_(r));
		if (r % SPOOF_EVERY == SPOOF_EVERY - 1 && g_spoof_unsealed + g_spoof_badmac < SPOOF_MAX)
			TRY(spoof((r / SPOOF_EVERY) % 3));
	}
	if (r == MAX_ROUNDS)
		FAIL("no stop from the script after %u rounds", r);
	/* Anything still coming is something nobody asked for: a forged order executed, a
	 * duplicate. */
	for (uint64_t end = mono_ns() + 500000000ull; mono_ns() < end;)
		TRY(pump(50));
	uint64_t reqs = g_s[0].requests + g_s[1].requests, tcp_last = g_s[1].last_seq;
	TRY(sess_close(&g_s[0]));
	TRY(sess_close(&g_s[1]));

	qsort(g_lat, g_nlat, sizeof(g_lat[0]), cmp_u64);
	if (g_nlat != reqs)
		FAIL("%u answers timed for %llu requests", g_nlat, (ull)reqs);
	printf("GOOD spoofed unsealed %u badmac %u\n", g_spoof_unsealed, g_spoof_badmac);
	printf("GOOD rounds %u requests %llu (udp %llu tcp %llu) all answered; messages udp %llu "
	       "tcp %llu (each session numbered from 1 without a gap or a repeat, tcp up to %llu "
	       "across its resumption); latency ms max %.1f p99 %.1f p50 %.1f (deadline %u); "
	       "%.1f s\n",
	       r, (ull)reqs, (ull)g_s[0].requests, (ull)g_s[1].requests, (ull)g_s[0].total,
	       (ull)g_s[1].total, (ull)tcp_last, g_lat[g_nlat - 1] / 1e6,
	       g_lat[(g_nlat * 99 + 99) / 100 - 1] / 1e6, g_lat[(g_nlat + 1) / 2 - 1] / 1e6,
	       g.deadline_ms, (mono_ns() - start) / 1e9);
	if (!relogged)
		FAIL("the sessions never logged on again during the attack");
	return 0;
}

/* ==== idle: connections that never send a byte ========================================== */

struct idle {
	int fd;
	uint8_t addr; /* 0: --one, 1..: --few */
	uint8_t up;   /* connected */
	uint64_t t0;
};

static struct idle g_ic[MAX_IDLE];
static unsigned g_nic;

static int idle_open(unsigned a)
{
	struct sockaddr_in src = { .sin_family = AF_INET, .sin_addr = a ? g.few[a - 1] : g.one };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (const struct sockaddr *)&src, sizeof(src)) < 0)
		FAIL("idle: socket from %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
	if (connect(fd, (const struct sockaddr *)&g.tcp, sizeof(g.tcp)) < 0 &&
	    errno != EINPROGRESS)
		FAIL("idle: connect from %s: %s", inet_ntoa(src.sin_addr), strerror(errno));
	g_ic[g_nic++] = (struct idle){ .fd = fd, .addr = (uint8_t)a, .t0 = mono_ns() };
	return 0;
}

static int idle(void)
{
	static struct pollfd p[MAX_IDLE];
	uint64_t start = mono_ns(), next_wave = start, end = start + g.wait_s * 1000000000ull;
	uint64_t attempts = 0, connected = 0, conn_err = 0, fast = 0, late = 0, longest = 0;
	unsigned wave = 0, held[9];

	while (!flag("stop") && mono_ns() < end) {
		if (mono_ns() >= next_wave && attempts < g.max) {
			/* Refill: each address up to its share (the first wave: --burst from
			 * --one), as far as --max allows. */
			memset(held, 0, sizeof(held));
			for (unsigned i = 0; i < g_nic; i++)
				held[g_ic[i].addr]++;
			for (unsigned a = 0; a <= g.n_few; a++) {
				unsigned want = a ? g.cap : wave == 0 ? g.burst : g.cap + 10;

				while (held[a] < want && attempts < g.max && g_nic < MAX_IDLE) {
					TRY(idle_open(a));
					held[a]++;
					attempts++;
				}
			}
			wave++;
			next_wave = mono_ns() + g.wave_ms * 1000000ull;
			printf("IDLE wave %u: %llu connections opened so far\n", wave, (ull)attempts);
			if (wave == 1)
				touch("idle.up");
		}
		for (unsigned i = 0; i < g_nic; i++)
			p[i] = (struct pollfd){ .fd = g_ic[i].fd,
						.events = g_ic[i].up ? POLLIN | POLLRDHUP : POLLOUT };
		if (poll(p, g_nic, 20) <= 0)
			continue;
		for (unsigned i = g_nic; i-- > 0;) {
			struct idle *c = &g_ic[i];
			int gone = 0, err = 0;
			socklen_t el = sizeof(err);
			char b;

			if (!p[i].revents)
				continue;
			if (!c->up) {
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
				if (err) {
					conn_err++;
					gone = 1;
				} else {
					c->up = 1;
					connected++;
				}
			} else {
				ssize_t n = recv(c->fd, &b, 1, MSG_DONTWAIT);

				if (n > 0)
					FAIL("idle: the exchange wrote to a connection that sent nothing");
				if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
					uint64_t life = mono_ns() - c->t0;

					gone = 1;
					if (life < 1000000000ull)
						fast++;
					else
						late++;
					if (life > longest)
						longest = life;
				}
			}
			if (gone) {
				close(c->fd);
				*c = g_ic[--g_nic];
			}
		}
	}
	for (unsigned i = 0; i < g_nic; i++)
		close(g_ic[i].fd);
	printf("IDLE attempts %llu connected %llu closed_by_exchange %llu (within 1 s %llu, later "
	       "%llu, the longest after %llu ms) connect_errors %llu held_at_end %u waves %u\n",
	       (ull)attempts, (ull)connected, (ull)(fast + late), (ull)fast, (ull)late,
	       (ull)longest / 1000000, (ull)conn_err, g_nic, wave);
	if (!fast && !late)
		FAIL("idle: the gateway closed none of %llu connections", (ull)attempts);
	return 0;
}

/* ==== udpflood: a member's own session floods ============================================ */

static struct tkx_client *g_flood; /* closed by main(), whatever the outcome */

static int udpflood(void)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[64];
	struct tkx_client_stats st;
	uint64_t last = 0, acks = 0, thr = 0, fills = 0, na = 0, sent = 0;
	uint64_t end = mono_ns() + g.wait_s * 1000000000ull, quiet_end = 0;
	int term = -1, r, n = 0;

	tkx_client_cfg_default(&cfg);
	cfg.exchange = g.udp;
	cfg.firm_id = 1;
	cfg.secret = (const uint8_t *)secret(1);
	cfg.secret_len = strlen(secret(1));
	cfg.session_id = g.sid;
	cfg.cancel_on_disconnect = 0; /* nothing numbered after the Terminate */
	cfg.keepalive_ms = KA_MS;
	cfg.batch = 1;
	r = tkx_client_open(&c, &cfg);
	if (r < 0)
		FAIL("udpflood: open: %s", strerror(-r));
	g_flood = c;
	r = tkx_client_establish(c, (int)g.wait_s * 1000);
	if (r < 0)
		FAIL("udpflood: establish: %s", strerror(-r));
	for (;;) {
		/* Sixteen more orders (alternately buys and sells at one price, so that they
		 * trade), then whatever came back. */
		for (unsigned k = 0; k < 16 && sent < g.orders && term < 0; k++) {
			struct tkx_new_order o = { .price = 25000, .qty = 1, .contract_id = g.contract,
						   .side = sent % 2 ? SELL : BUY,
						   .tif = TKX_TIF_GTC };

			r = tkx_client_new_order(c, &o);
			if (r == -ENOTCONN)
				break;
			if (r < 0)
				FAIL("udpflood: NewOrder: %s", strerror(-r));
			sent++;
		}
		tkx_client_flush(c);
		n = tkx_client_poll(c, sent < g.orders && term < 0 ? 0 : 100, ev, 64);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			const struct tkx_msg *m = &ev[i].msg;
			uint64_t cl;

			if (term >= 0 && ev[i].kind >= TKX_EXEC_ACK && ev[i].kind <= TKX_BUSINESS_REJECT)
				FAIL("udpflood: %s (message %llu) after the Terminate",
				     tkx_template_name(ev[i].kind), (ull)ev[i].seq);
			switch (ev[i].kind) {
			case TKX_EXEC_ACK:
			case TKX_EXEC_REJECT:
				cl = ev[i].kind == TKX_EXEC_ACK ? m->exec_ack.cl_ord_id
								: m->exec_reject.cl_ord_id;
				if (cl <= last)
					FAIL("udpflood: request %llu answered after %llu (replies out of "
					     "request order)", (ull)cl, (ull)last);
				last = cl;
				if (ev[i].kind == TKX_EXEC_ACK)
					acks++;
				else if (m->exec_reject.reason == TKX_REJ_THROTTLED)
					thr++;
				else
					FAIL("udpflood: request %llu rejected %s", (ull)cl,
					     tkx_reject_reason_name(m->exec_reject.reason));
				break;
			case TKX_FILL:
				if (m->fill.cl_ord_id > last)
					FAIL("udpflood: a fill of request %llu before its answer",
					     (ull)m->fill.cl_ord_id);
				fills++;
				break;
			case TKX_NOT_APPLIED:
				na += m->not_applied.count;
				break;
			case TKX_TERMINATE:
				term = m->terminate.reason;
				break;
			case TKX_CLIENT_EV_LOST:
				FAIL("udpflood: messages %llu..%llu lost", (ull)ev[i].seq,
				     (ull)(ev[i].seq + ev[i].count - 1));
			case TKX_CLIENT_EV_CLOSED:
				if (term < 0)
					FAIL("udpflood: closed without a Terminate");
				break;
			case TKX_NEGOTIATION_RESPONSE:
			case TKX_ESTABLISHMENT_ACK:
			case TKX_RETRANSMISSION:
				break;
			default:
				FAIL("udpflood: unexpected %s", tkx_template_name(ev[i].kind));
			}
		}
		if (term < 0 && sent == g.orders && acks + thr + na >= sent && !quiet_end)
			quiet_end = mono_ns() + 10000000000ull; /* all answered: the end is due */
		if (mono_ns() > end || (quiet_end && mono_ns() > quiet_end))
			FAIL("udpflood: no Terminate (%llu sent, %llu answered, %llu not applied)",
			     (ull)sent, (ull)(acks + thr), (ull)na);
	}
	tkx_client_stats_get(c, &st);
	printf("UDPFLOOD requests %u sent %llu answered %llu acks %llu throttled %llu fills %llu "
	       "not_applied %llu lost %llu terminate %s\n",
	       g.orders, (ull)sent, (ull)(acks + thr), (ull)acks, (ull)thr, (ull)fills, (ull)na,
	       (ull)st.lost, term < 0 ? "none" : tkx_terminate_reason_name((unsigned)term));
	if (term != TKX_TERM_THROTTLE || !thr)
		FAIL("udpflood: expected THROTTLED rejects and a Terminate THROTTLE");
	return 0;
}

/* ==== options ============================================================================ */

static int u32(const char *s, uint32_t *out)
{
	char *e;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &e, 0);
	if (errno || e == s || *e || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

static int addrs(char *s)
{
	for (char *tok = strtok(s, ","); tok; tok = strtok(NULL, ",")) {
		if (g.n_few == sizeof(g.few) / sizeof(g.few[0]) ||
		    inet_pton(AF_INET, tok, &g.few[g.n_few]) != 1)
			return -1;
		g.n_few++;
	}
	return g.n_few ? 0 : -1;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: abuse_client good --udp IP:PORT --tcp IP:PORT --tcp-src IP --contract ID\n"
		"                         --dir DIR --deadline-ms MS --wait-s S --min-rounds N\n"
		"       abuse_client idle --tcp IP:PORT --one IP --few IP,IP,... --burst N --cap N\n"
		"                         --wave-ms MS --max N --dir DIR --wait-s S\n"
		"       abuse_client udpflood --udp IP:PORT --contract ID --orders N --sid ID\n"
		"                         --wait-s S\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "udp", required_argument, NULL, 'u' },      { "tcp", required_argument, NULL, 't' },
		{ "tcp-src", required_argument, NULL, 'S' },  { "contract", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },      { "deadline-ms", required_argument, NULL, 'D' },
		{ "wait-s", required_argument, NULL, 'w' },   { "min-rounds", required_argument, NULL, 'm' },
		{ "one", required_argument, NULL, '1' },      { "few", required_argument, NULL, 'f' },
		{ "burst", required_argument, NULL, 'b' },    { "cap", required_argument, NULL, 'C' },
		{ "wave-ms", required_argument, NULL, 'W' },  { "max", required_argument, NULL, 'M' },
		{ "orders", required_argument, NULL, 'o' },   { "sid", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode;
	int o, bad;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	g.wait_s = 300;
	while ((o = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		uint32_t v = 0;

		switch (o) {
		case 'u':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_ORDER_UDP, &g.udp) < 0;
			break;
		case 't':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &g.tcp) < 0;
			break;
		case 'S':
			g.tcp_src.sin_family = AF_INET;
			bad = inet_pton(AF_INET, optarg, &g.tcp_src.sin_addr) != 1;
			break;
		case '1':
			bad = inet_pton(AF_INET, optarg, &g.one) != 1;
			break;
		case 'f':
			bad = addrs(optarg) < 0;
			break;
		case 'd':
			g.dir = optarg;
			bad = 0;
			break;
		case 's':
			errno = 0;
			g.sid = strtoull(optarg, NULL, 0);
			bad = errno || !g.sid;
			break;
		default:
			if (!strchr("cDwmbCWMo", o))
				usage();
			bad = u32(optarg, &v) < 0;
			*(o == 'c' ? &g.contract : o == 'D' ? &g.deadline_ms : o == 'w' ? &g.wait_s :
			  o == 'm' ? &g.min_rounds : o == 'b' ? &g.burst : o == 'C' ? &g.cap :
			  o == 'W' ? &g.wave_ms : o == 'M' ? &g.max : &g.orders) = v;
		}
		if (bad) {
			fprintf(stderr, "abuse_client: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (strcmp(mode, "good") == 0) {
		if (!g.udp.sin_port || !g.tcp.sin_port || !g.tcp_src.sin_family || !g.contract ||
		    !g.dir || !g.deadline_ms || !g.wait_s)
			usage();
		int rc = good() < 0 ? 1 : 0;

		for (int i = 0; i < 2; i++)
			tkx_client_close(g_s[i].c);
		return rc;
	}
	if (strcmp(mode, "idle") == 0) {
		if (!g.tcp.sin_port || !g.one.s_addr || !g.n_few || !g.burst || !g.cap ||
		    !g.wave_ms || !g.max || !g.dir)
			usage();
		return idle() < 0 ? 1 : 0;
	}
	if (strcmp(mode, "udpflood") == 0) {
		if (!g.udp.sin_port || !g.contract || !g.orders || !g.sid)
			usage();
		int rc = udpflood() < 0 ? 1 : 0;

		tkx_client_close(g_flood);
		return rc;
	}
	usage();
	return 2;
}
