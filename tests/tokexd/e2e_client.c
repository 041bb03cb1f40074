/*
 * e2e_client.c - the kernel-side peer of tokexd's integration and fault tests.
 *
 * Role: runs outside the appliance, as the firms' clients: on the kernel side of tokexd's
 * TAP port (UDP order entry, market data) and on 127.0.0.1 (TCP order entry). It drives
 * libtokex-client sessions for the scripted trading session, hand-built datagrams on
 * plain and raw sockets for the faults, and reads what tokexd counted through DPDK
 * telemetry (its UNIX socket, /tokex/stats). Every reply and every market-data message is
 * checked against an exact expectation; every wait is bounded (WAIT_MS, QUIET_MS).
 * Prints one line per failed check, one per scenario, "E2E key value" lines for the
 * script to compare with tokexd's own final stats, and "N passed, M failed"; exits 1 on
 * any failure, 2 on a usage error.
 *
 * Modes (test_tokexd.sh starts one tokexd per mode with its configuration):
 *   scenario  firm 1 over UDP and over TCP, firm 2 over TCP trade one contract through
 *             quotes, crosses, partial fills, IOC, FOK, POST, STP, modifies, cancels by
 *             another session, price/tick/quantity/contract rejects and mass cancels.
 *   faults    malformed and truncated datagrams, bad headers, bad contents, a wrong UDP
 *             checksum, session rejects (credentials, firm, timestamp, keepalive),
 *             inbound gaps (NotApplied), outbound gaps (RetransmitRequest answered with
 *             the same bytes), clients that vanish (UDP keepalive, TCP close) with and
 *             without cancel-on-disconnect, TCP frames of the wrong length and bad SOFHs.
 *   throttle  a flood beyond a low throttle: THROTTLED, then Terminate THROTTLE; the
 *             other session untouched, the flooder's stored answers retransmitted.
 *   busy      pipeline with a tiny ring: a burst queued while tokexd is paused
 *             (SIGSTOP, --pid); every request answered once, Ack or BUSY, BUSY counted.
 *   spoof     datagrams with an established session's source address forged through a
 *             raw socket (a NewOrder with cl_ord_id 2^64 - 1, a Terminate), one sealed
 *             with a made-up MAC, and a replay of the session's own sealed datagram:
 *             none executed, each counted; the session trades on. With --auth-off (a
 *             tokexd with sessions.udp_auth off) the control: the forged order IS
 *             executed and uses up the session's cl_ord_ids, so the injection reaches
 *             the session and only authentication stops it.
 *   mdreq     market-data re-request limits (mdreq.yaml): a flood of re-requests from
 *             one address (--flood-src) gets no more than its bucket allows, each answer
 *             within the per-request cap, all counted; meanwhile a subscriber that joined
 *             late recovers the stream from 1 (--md-recover N: the last N messages) in
 *             many capped answers, nothing lost.
 *   telemetry prints tokexd's /tokex/stats (a debugging aid).
 *
 * Each mode expects a tokexd of its own, fresh (its contracts untraded).
 *
 * The book of each mode's contract is tracked by hand in the steps: the expected
 * TopOfBook after each step is written out literally, so a wrong engine cannot agree
 * with a wrong model.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tokex/client.h"
#include "tokex/codec.h"
#include "e2e_udp_raw.h"

/* Longest wait for one expected message: a bound for a hang, never a measure of speed - on
 * a loaded machine (scripts/test-loaded) tokexd and this client share starved CPUs, and one
 * answer has taken over 30 s. --wait-s sets it (the e2e scripts pass their E2E_WAIT_S, the
 * bound they give tokexd's start; the whole run is bounded by their E2E_CLIENT_S). */
static int g_wait_ms = 300000;
#define WAIT_MS g_wait_ms
/* Keepalive of the sessions whose test is not the keepalive: long enough that a client kept
 * off its CPU for a few seconds is not timed out (the keepalive tests set their own). */
#define KA_MS 10000
#define RETRY_S 30 /* seconds a gap is asked for again before it counts as lost */
#define QUIET_MS 150   /* "nothing comes": how long to listen */
#define PQ 1024        /* events held per session */
#define MQ 4096        /* market-data events held */
#define RQ 1024        /* messages held per raw session */
#define RSTORE 1024    /* raw session: received messages kept by number */
#define MAX_PEERS 16
#define MAX_RAW 8
#define MAX_MODEL 64
#define TEL_CAP 65536

#define BUY TKX_SIDE_BUY
#define SELL TKX_SIDE_SELL
#define GTC TKX_TIF_GTC
#define IOC TKX_TIF_IOC
#define FOK TKX_TIF_FOK
#define POST TKX_TIF_POST
#define NUL TKX_NULL_PRICE
#define NO_CONTRACT 999999u

typedef unsigned long long ull;

/* ---- Options ------------------------------------------------------------------------- */

static struct {
	const char *mode;
	struct sockaddr_in udp, tcp, md, md_req;
	struct in_addr iface;
	uint32_t contract, contract2;
	const char *tel_path;
	pid_t pid; /* tokexd, for the busy mode's pause; 0 = none */
	int auth_off; /* spoof: tokexd runs sessions.udp_auth off (the control run) */
	struct in_addr flood_src; /* mdreq: a second kernel-side address, the flooder's */
	uint32_t md_recover; /* mdreq: the subscriber recovers the last this many (0: all) */
	int verbose;
} g_opt;

/* ---- Checks -------------------------------------------------------------------------- */

static unsigned g_pass, g_fail;
static char g_step[128];

__attribute__((format(printf, 4, 5))) static int check_(int ok, const char *file, int line,
							 const char *fmt, ...)
{
	va_list ap;

	(void)file;
	if (ok) {
		g_pass++;
		return 1;
	}
	g_fail++;
	printf("FAIL [%s] line %d: ", g_step, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	return 0;
}

#define CHECK(cond, ...) check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)
#define REQUIRE(cond, ...)                            \
	do {                                          \
		if (!CHECK(cond, __VA_ARGS__))        \
			return -1;                    \
	} while (0)
#define TRY(expr)                     \
	do {                          \
		if ((expr) < 0)       \
			return -1;    \
	} while (0)

static void step(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g_step, sizeof(g_step), fmt, ap);
	va_end(ap);
	if (g_opt.verbose)
		printf("  step: %s\n", g_step);
}

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

static const char *firm_secret(uint32_t firm)
{
	return firm == 1 ? "tokex-demo-secret-firm-1" : "tokex-demo-secret-firm-2";
}

static uint64_t g_sid_base;

/* A fresh session id: distinct per run (clock) and per session (k). */
static uint64_t new_sid(unsigned k)
{
	return g_sid_base + k;
}

/* ---- Message text, for failure messages ---------------------------------------------- */

static const char *px_text(int64_t px, char *b, size_t n)
{
	if (px == NUL)
		snprintf(b, n, "null");
	else
		snprintf(b, n, "%" PRId64, px);
	return b;
}

static void msg_text(const struct tkx_msg *m, char *b, size_t n)
{
	char p1[24], p2[24];

	switch (m->template_id) {
	case TKX_EXEC_ACK: {
		const struct tkx_exec_ack *a = &m->exec_ack;
		snprintf(b, n, "ExecAck(cl %llu oid %#llx %s %u @ %" PRId64 " %s c %u)",
			 (ull)a->cl_ord_id, (ull)a->order_id, tkx_side_name(a->side), a->qty, a->price,
			 tkx_tif_name(a->tif), a->contract_id);
		break;
	}
	case TKX_EXEC_REJECT: {
		const struct tkx_exec_reject *r = &m->exec_reject;
		snprintf(b, n, "ExecReject(cl %llu oid %#llx c %u %s ref %u)", (ull)r->cl_ord_id,
			 (ull)r->order_id, r->contract_id, tkx_reject_reason_name(r->reason),
			 r->ref_template_id);
		break;
	}
	case TKX_FILL: {
		const struct tkx_fill *f = &m->fill;
		snprintf(b, n, "Fill(cl %llu oid %#llx trade %llu %s %u @ %" PRId64
			 " leaves %u aggr %u c %u)",
			 (ull)f->cl_ord_id, (ull)f->order_id, (ull)f->trade_id, tkx_side_name(f->side),
			 f->qty, f->price, f->leaves_qty, f->aggressor, f->contract_id);
		break;
	}
	case TKX_CANCELLED: {
		const struct tkx_cancelled *x = &m->cancelled;
		snprintf(b, n, "Cancelled(cl %llu oid %#llx orig %llu %s %u %s c %u)",
			 (ull)x->cl_ord_id, (ull)x->order_id, (ull)x->orig_cl_ord_id,
			 tkx_side_name(x->side), x->qty, tkx_cancel_reason_name(x->reason),
			 x->contract_id);
		break;
	}
	case TKX_MODIFY_ACK: {
		const struct tkx_modify_ack *a = &m->modify_ack;
		snprintf(b, n, "ModifyAck(cl %llu oid %#llx %s %u @ %" PRId64 " c %u)",
			 (ull)a->cl_ord_id, (ull)a->order_id, tkx_side_name(a->side), a->qty, a->price,
			 a->contract_id);
		break;
	}
	case TKX_MASS_CANCEL_ACK: {
		const struct tkx_mass_cancel_ack *a = &m->mass_cancel_ack;
		snprintf(b, n, "MassCancelAck(cl %llu count %u c %u acct %u scope %u side %u)",
			 (ull)a->cl_ord_id, a->count, a->contract_id, a->account, a->scope, a->side);
		break;
	}
	case TKX_BUSINESS_REJECT: {
		const struct tkx_business_reject *r = &m->business_reject;
		snprintf(b, n, "BusinessReject(ref_seq %llu ref %u %s)", (ull)r->ref_seq_no,
			 r->ref_template_id, tkx_breject_reason_name(r->reason));
		break;
	}
	case TKX_NOT_APPLIED:
		snprintf(b, n, "NotApplied(from %llu count %u)", (ull)m->not_applied.from_seq_no,
			 m->not_applied.count);
		break;
	case TKX_TERMINATE:
		snprintf(b, n, "Terminate(%s)", tkx_terminate_reason_name(m->terminate.reason));
		break;
	case TKX_NEGOTIATION_REJECT:
		snprintf(b, n, "NegotiationReject(%s)",
			 tkx_session_reject_name(m->negotiation_reject.reason));
		break;
	case TKX_ESTABLISHMENT_REJECT:
		snprintf(b, n, "EstablishmentReject(%s)",
			 tkx_session_reject_name(m->establishment_reject.reason));
		break;
	case TKX_RETRANSMIT_REJECT:
		snprintf(b, n, "RetransmitReject(%s)",
			 tkx_session_reject_name(m->retransmit_reject.reason));
		break;
	case TKX_RETRANSMISSION:
		snprintf(b, n, "Retransmission(from %llu count %u)",
			 (ull)m->retransmission.next_seq_no, m->retransmission.count);
		break;
	case TKX_MD_TOP_OF_BOOK: {
		const struct tkx_md_top_of_book *t = &m->md_top_of_book;
		snprintf(b, n, "TopOfBook(c %u bid %llu @ %s ask %llu @ %s)", t->contract_id,
			 (ull)t->bid_qty, px_text(t->bid_price, p1, sizeof(p1)), (ull)t->ask_qty,
			 px_text(t->ask_price, p2, sizeof(p2)));
		break;
	}
	case TKX_MD_TRADE: {
		const struct tkx_md_trade *t = &m->md_trade;
		snprintf(b, n, "Trade(c %u id %llu %u @ %" PRId64 " aggr %s)", t->contract_id,
			 (ull)t->trade_id, t->qty, t->price, tkx_side_name(t->aggressor_side));
		break;
	}
	default:
		snprintf(b, n, "%s", tkx_template_name(m->template_id));
		break;
	}
}

/* ---- Telemetry: tokexd's counters over DPDK's UNIX socket ------------------------------ */

/* One command to the telemetry socket; the JSON reply in out. 0 or -errno. */
static int tel_query(const char *path, const char *cmd, char *out, size_t cap)
{
	struct sockaddr_un sun;
	struct pollfd p;
	ssize_t n;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (connect(fd, (const struct sockaddr *)&sun, sizeof(sun)) < 0)
		goto fail;
	/* The server greets with its info line first. */
	p = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&p, 1, WAIT_MS) != 1 || recv(fd, out, cap - 1, 0) <= 0)
		goto fail;
	if (send(fd, cmd, strlen(cmd), 0) < 0)
		goto fail;
	if (poll(&p, 1, WAIT_MS) != 1)
		goto fail;
	n = recv(fd, out, cap - 1, 0);
	if (n <= 0)
		goto fail;
	out[n] = 0;
	close(fd);
	return 0;
fail:
	n = errno ? -errno : -EIO;
	close(fd);
	return (int)n;
}

struct tel {
	char json[TEL_CAP];
	int ok;
};

static int tel_snap(struct tel *t)
{
	int r = tel_query(g_opt.tel_path, "/tokex/stats", t->json, sizeof(t->json));

	t->ok = r == 0 && strstr(t->json, "\"/tokex/stats\"") != NULL;
	return CHECK(t->ok, "telemetry %s: /tokex/stats: %s", g_opt.tel_path,
		     r < 0 ? strerror(-r) : "no stats in the reply") ? 0 : -1;
}

/* A counter of the /tokex/stats dictionary; UINT64_MAX when absent. */
static uint64_t tel_get(const struct tel *t, const char *key)
{
	char pat[128];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(t->json, pat);
	if (!p)
		return UINT64_MAX;
	return strtoull(p + strlen(pat), NULL, 10);
}

/* after[key] - before[key] == d. A counter below that is read again (into *b) until it
 * gets there or WAIT_MS passes: tokexd may not have taken what was sent when b was read (a
 * dropped datagram has no answer to wait for), and on a loaded machine it can be late. */
static int tel_delta_(const struct tel *a, struct tel *b, const char *key, uint64_t d,
		      int line)
{
	uint64_t x = tel_get(a, key), y = tel_get(b, key), end = mono_ms() + WAIT_MS;

	while (x != UINT64_MAX && y != UINT64_MAX && y - x < d && mono_ms() < end) {
		struct timespec ts = { 0, 10 * 1000000 };

		nanosleep(&ts, NULL);
		if (tel_snap(b) < 0)
			return -1;
		y = tel_get(b, key);
	}
	if (!check_(x != UINT64_MAX && y != UINT64_MAX, __FILE__, line,
		    "telemetry counter %s missing", key))
		return -1;
	return check_(y - x == d, __FILE__, line, "telemetry %s went %llu -> %llu, expected +%llu",
		      key, (ull)x, (ull)y, (ull)d) ? 0 : -1;
}
#define TEL_DELTA(a, b, key, d) tel_delta_((a), (b), (key), (d), __LINE__)

/* ---- Order-entry sessions on libtokex-client ------------------------------------------ */

struct peer {
	const char *name;
	struct tkx_client *c;
	int frozen; /* not polled: a client that vanished */
	int over;   /* tkx_client_poll said -ENOTCONN */
	uint64_t last_seq;
	unsigned head, tail;
	struct tkx_client_event q[PQ];
};

/* ---- Hand-built UDP sessions -------------------------------------------------------- */

struct rmsg {
	struct tkx_msg m;
	uint64_t seq; /* exchange number, 0 if unnumbered */
	uint16_t len;
	uint8_t bytes[TKX_MAX_MSG_LEN];
};

struct raw {
	const char *name;
	int fd;
	int tcp;                  /* SOFH-framed stream; replies are not numbered here */
	int eof;                  /* TCP: the exchange closed the connection */
	struct sockaddr_in local; /* where the exchange answers */
	uint64_t sid;
	uint32_t firm;
	uint32_t keepalive_ms;
	int established;
	int heartbeat;            /* send Sequence when idle (like a client library) */
	int dropping;             /* pretend datagrams with application messages are lost */
	uint64_t out_next;        /* number of our next application message */
	uint64_t cl;              /* last cl_ord_id used */
	uint64_t in_next;         /* next exchange number expected */
	uint64_t last_tx_ms;
	/* UDP datagram authentication (protocol 4.13): the keys of the last Negotiate sent
	 * wait in pend until a datagram sealed under them arrives (the NegotiationResponse);
	 * a refused Negotiate never replaces the keys in use. */
	int keyed, pend_set;
	struct tkx_auth_keys keys, pend;
	uint64_t auth_tx, auth_rx;
	uint8_t last_sealed[TKX_MAX_DGRAM]; /* the last datagram sealed, for replays */
	size_t last_sealed_len;
	unsigned head, tail;
	struct rmsg q[RQ];
	uint64_t store_seq[RSTORE]; /* every numbered message received or dropped, by number */
	uint16_t store_len[RSTORE];
	uint8_t store[RSTORE][TKX_MAX_MSG_LEN];
	size_t ilen;
	uint8_t ibuf[8192];
};

/* ---- Market data --------------------------------------------------------------------- */

struct model {
	uint32_t id;
	int tob_known, vol_known;
	int64_t bp, ap, last;
	uint64_t bq, aq, vol;
	/* The version-3 feeds (protocol 6.5, 6.6), rebuilt from the stream: the book by order
	 * and the depth levels, checked against each TopOfBook (md_book_check). */
	int book_synced;      /* from sequence 1, or since a Snapshot frame */
	unsigned n_orders;
	uint8_t depth;
	int64_t dpx[2][32];   /* 0: empty */
	uint64_t dq[2][32];
	unsigned book_checks;
	unsigned defs;        /* InstrumentDefinitions heard */
};

/* The book by order of every contract: one open-addressed table keyed by order id. */
#define BOOK_ORDERS (1u << 17)
struct book_order {
	uint64_t id; /* 0: free */
	int64_t price;
	uint32_t qty, contract;
	uint8_t side;
};
static struct book_order g_book[BOOK_ORDERS];

struct mdc {
	struct tkx_md_sub *s;
	uint64_t last_seq;
	unsigned head, tail;
	struct tkx_md_sub_event q[MQ];
	struct model m[MAX_MODEL];
	unsigned n_model;
	unsigned snapshots, recovered;
	int from_start; /* heard from sequence 1: every book was empty before it */
	/* the last Snapshot seen, per watched contract */
	uint32_t snap_contract;
	struct tkx_md_snapshot last_snap;
	int have_snap;
};

static struct peer *g_peers[MAX_PEERS];
static unsigned g_np;
static struct raw *g_raws[MAX_RAW];
static unsigned g_nr;
static struct mdc *g_md;

static struct model *md_model(struct mdc *d, uint32_t id)
{
	for (unsigned i = 0; i < d->n_model; i++)
		if (d->m[i].id == id)
			return &d->m[i];
	if (d->n_model == MAX_MODEL)
		return NULL;
	memset(&d->m[d->n_model], 0, sizeof(d->m[0]));
	d->m[d->n_model].id = id;
	d->m[d->n_model].book_synced = d->from_start;
	return &d->m[d->n_model++];
}

static struct book_order *book_slot(uint64_t id, int add)
{
	for (uint32_t h = (uint32_t)(id * 0x9E3779B97F4A7C15ull >> 47), n = 0; n < BOOK_ORDERS;
	     n++, h = (h + 1) & (BOOK_ORDERS - 1)) {
		if (g_book[h].id == id)
			return &g_book[h];
		if (g_book[h].id == 0)
			return add ? &g_book[h] : NULL;
	}
	return NULL;
}

/* Removal keeps every probe chain whole: the entries after it are put back. */
static void book_del(struct book_order *o)
{
	uint32_t h = (uint32_t)(o - g_book);
	o->id = 0;
	for (h = (h + 1) & (BOOK_ORDERS - 1); g_book[h].id; h = (h + 1) & (BOOK_ORDERS - 1)) {
		struct book_order e = g_book[h];
		g_book[h].id = 0;
		*book_slot(e.id, 1) = e;
	}
}

static void book_clear(struct model *k)
{
	for (uint32_t i = 0; i < BOOK_ORDERS; i++)
		if (g_book[i].id && g_book[i].contract == k->id) {
			book_del(&g_book[i]);
			i--; /* an entry may have moved into i */
		}
	k->n_orders = 0;
	memset(k->dpx, 0, sizeof(k->dpx));
	memset(k->dq, 0, sizeof(k->dq));
}

/* OrderBook and Depth into the contract's rebuilt book. */
static void book_apply(struct model *k, const struct tkx_msg *m)
{
	if (m->template_id == TKX_MD_DEPTH) {
		const struct tkx_md_depth *d = &m->md_depth;
		if (!CHECK(d->level >= 1 && d->level <= 32, "Depth level %u", d->level))
			return;
		k->depth = d->depth;
		k->dpx[d->side - 1][d->level - 1] = d->price == TKX_NULL_PRICE ? 0 : d->price;
		k->dq[d->side - 1][d->level - 1] = d->qty;
		return;
	}
	const struct tkx_md_order *o = &m->md_order;
	struct book_order *b = book_slot(o->order_id, 0);
	switch (o->action) {
	case TKX_ACT_ADD:
	case TKX_ACT_SNAPSHOT:
		if (!CHECK(b == NULL, "OrderBook ADD of order %llu, which rests", (ull)o->order_id))
			return;
		b = book_slot(o->order_id, 1);
		if (!CHECK(b != NULL, "the test's order table is full"))
			return;
		*b = (struct book_order){ .id = o->order_id, .price = o->price, .qty = o->qty,
					  .contract = o->contract_id, .side = o->side };
		k->n_orders++;
		return;
	default:
		if (!CHECK(b != NULL && b->price == o->price && b->side == o->side,
			   "OrderBook action %u of order %llu, which does not rest so", o->action,
			   (ull)o->order_id))
			return;
		if (o->action == TKX_ACT_DELETE || o->qty == 0) {
			book_del(b);
			k->n_orders--;
		} else {
			b->qty = o->qty;
		}
	}
}

/* At a TopOfBook the burst's messages are all out: the book by order must give the same
 * best prices and quantities, and the same levels as the depth messages. */
static void book_check(struct model *k, const struct tkx_md_top_of_book *t, uint64_t seq)
{
	int64_t px[2][33];
	uint64_t q[2][33];
	unsigned n[2] = { 0, 0 }, want = k->depth ? k->depth : 1;
	for (uint32_t i = 0; i < BOOK_ORDERS; i++) {
		const struct book_order *o = &g_book[i];
		if (!o->id || o->contract != k->id)
			continue;
		int s = o->side - 1;
		/* Insert into the side's best levels (best first: bids high, asks low). */
		unsigned j = 0;
		while (j < n[s] && px[s][j] != o->price &&
		       (s == 0 ? px[s][j] > o->price : px[s][j] < o->price))
			j++;
		if (j < n[s] && px[s][j] == o->price) {
			q[s][j] += o->qty;
			continue;
		}
		if (j >= want)
			continue;
		memmove(&px[s][j + 1], &px[s][j], (n[s] - j) * sizeof(px[s][0]));
		memmove(&q[s][j + 1], &q[s][j], (n[s] - j) * sizeof(q[s][0]));
		px[s][j] = o->price;
		q[s][j] = o->qty;
		if (n[s] < want)
			n[s]++;
	}
	k->book_checks++;
	CHECK((n[0] ? px[0][0] : TKX_NULL_PRICE) == t->bid_price && (n[0] ? q[0][0] : 0) == t->bid_qty &&
		      (n[1] ? px[1][0] : TKX_NULL_PRICE) == t->ask_price &&
		      (n[1] ? q[1][0] : 0) == t->ask_qty,
	      "contract %u at %llu: TopOfBook %" PRId64 " x %llu / %" PRId64 " x %llu, the book by "
	      "order %" PRId64 " x %llu / %" PRId64 " x %llu", k->id, (ull)seq, t->bid_price,
	      (ull)t->bid_qty, t->ask_price, (ull)t->ask_qty, n[0] ? px[0][0] : 0,
	      (ull)(n[0] ? q[0][0] : 0), n[1] ? px[1][0] : 0, (ull)(n[1] ? q[1][0] : 0));
	for (int s = 0; s < 2 && k->depth; s++)
		for (unsigned j = 0; j < k->depth; j++)
			CHECK(k->dpx[s][j] == (j < n[s] ? px[s][j] : 0) &&
				      k->dq[s][j] == (j < n[s] ? q[s][j] : 0),
			      "contract %u at %llu: Depth %s level %u %" PRId64 " x %llu, the book by "
			      "order %" PRId64 " x %llu", k->id, (ull)seq, s ? "ask" : "bid", j + 1,
			      k->dpx[s][j], (ull)k->dq[s][j], j < n[s] ? px[s][j] : 0,
			      (ull)(j < n[s] ? q[s][j] : 0));
}

/* Every market-data event in stream order, as it arrives: numbering, the book model, and
 * each Snapshot against the model built from the messages before it. */
static void md_arrive(struct mdc *d, const struct tkx_md_sub_event *ev)
{
	const struct tkx_msg *m = &ev->msg;
	struct model *k;
	char t[256];

	switch (ev->kind) {
	case TKX_MD_SUB_EV_LOST:
		CHECK(0, "market data: messages [%llu, %llu) lost", (ull)ev->seq,
		      (ull)(ev->seq + ev->count));
		d->last_seq = ev->seq + ev->count - 1;
		return;
	case TKX_MD_SUB_EV_SESSION:
		d->last_seq = ev->seq - 1;
		return;
	case TKX_MD_SUB_EV_END:
		return;
	case TKX_MD_GAP_REJECT:
		CHECK(0, "market data: unexpected GapReject");
		return;
	default:
		break;
	}
	if (ev->flags & TKX_MD_SUB_EVF_RECOVERED)
		d->recovered++;
	if (ev->seq == 1)
		d->from_start = 1;
	CHECK(d->last_seq == 0 || ev->seq == d->last_seq + 1,
	      "market data: sequence %llu after %llu", (ull)ev->seq, (ull)d->last_seq);
	d->last_seq = ev->seq;
	switch (ev->kind) {
	case TKX_MD_INSTRUMENT: {
		const struct tkx_md_instrument *x = &m->md_instrument;
		k = md_model(d, x->contract_id);
		/* What tokexd's configurations give every contract: TKN symbols, CNY, limits
		 * around the reference on the tick grid. */
		CHECK(memcmp(x->symbol, "TKN", 3) == 0 && memcmp(x->currency, "CNY", 3) == 0 &&
			      x->tick > 0 && x->unit > 0 && x->max_qty > 0 &&
			      x->limit_lo > 0 && x->limit_lo <= x->limit_hi &&
			      x->limit_lo % x->tick == 0 && x->limit_hi % x->tick == 0,
		      "InstrumentDefinition of %u: symbol %.12s, tick %" PRId64 ", limits [%" PRId64
		      ", %" PRId64 "]", x->contract_id, x->symbol, x->tick, x->limit_lo, x->limit_hi);
		if (k)
			k->defs++;
		break;
	}
	case TKX_MD_ORDER:
	case TKX_MD_DEPTH:
		k = md_model(d, ev->kind == TKX_MD_ORDER ? m->md_order.contract_id
							  : m->md_depth.contract_id);
		if (k && k->book_synced)
			book_apply(k, m);
		break;
	case TKX_MD_TOP_OF_BOOK:
		k = md_model(d, m->md_top_of_book.contract_id);
		if (k && k->book_synced)
			book_check(k, &m->md_top_of_book, ev->seq);
		if (k) {
			k->tob_known = 1;
			k->bp = m->md_top_of_book.bid_price;
			k->ap = m->md_top_of_book.ask_price;
			k->bq = m->md_top_of_book.bid_qty;
			k->aq = m->md_top_of_book.ask_qty;
		}
		break;
	case TKX_MD_TRADE:
		k = md_model(d, m->md_trade.contract_id);
		if (k) {
			k->last = m->md_trade.price;
			k->vol += m->md_trade.qty;
		}
		break;
	case TKX_MD_SNAPSHOT: {
		const struct tkx_md_snapshot *s = &m->md_snapshot;

		d->snapshots++;
		/* A frame follows: the contract's book is what it says. */
		k = md_model(d, s->contract_id);
		if (k) {
			book_clear(k);
			k->book_synced = 1;
		}
		CHECK(s->as_of_seq == ev->seq - 1, "Snapshot %llu: as_of_seq %llu", (ull)ev->seq,
		      (ull)s->as_of_seq);
		CHECK(s->phase == TKX_PHASE_CONTINUOUS, "Snapshot of %u: phase %s", s->contract_id,
		      tkx_phase_name(s->phase));
		k = md_model(d, s->contract_id);
		if (k && k->tob_known)
			CHECK(s->bid_price == k->bp && s->bid_qty == k->bq && s->ask_price == k->ap &&
				      s->ask_qty == k->aq,
			      "Snapshot of %u (seq %llu) disagrees with the TopOfBook before it",
			      s->contract_id, (ull)ev->seq);
		if (k && k->vol_known)
			CHECK(s->volume == k->vol && s->last_price == k->last,
			      "Snapshot of %u: volume %llu last %" PRId64 ", trades said %llu / %" PRId64,
			      s->contract_id, (ull)s->volume, s->last_price, (ull)k->vol, k->last);
		if (k) {
			k->tob_known = k->vol_known = 1;
			k->bp = s->bid_price;
			k->ap = s->ask_price;
			k->bq = s->bid_qty;
			k->aq = s->ask_qty;
			k->vol = s->volume;
			k->last = s->last_price;
		}
		if (s->contract_id == d->snap_contract) {
			d->last_snap = *s;
			d->have_snap = 1;
		}
		return; /* Snapshots are checked here, not queued */
	}
	default:
		break;
	}
	if (g_opt.verbose > 1) {
		msg_text(m, t, sizeof(t));
		printf("    md %llu %s\n", (ull)ev->seq, t);
	}
	if (d->tail - d->head < MQ)
		d->q[d->tail++ % MQ] = *ev;
	else
		CHECK(0, "market data: test queue overflow");
}

/* ---- Pumping every client: heartbeats, reads, queues ----------------------------------- */

static void raw_rx_all(struct raw *r);
static void raw_heartbeat(struct raw *r);

static void pump_all(int sleep_when_idle)
{
	struct tkx_client_event ev[32];
	int got = 0;

	for (unsigned i = 0; i < g_np; i++) {
		struct peer *p = g_peers[i];

		while (p->c && !p->frozen && !p->over && PQ - (p->tail - p->head) >= 32) {
			int n = tkx_client_poll(p->c, 0, ev, 32);

			if (n == -ENOTCONN) {
				p->over = 1;
				break;
			}
			if (n <= 0)
				break;
			for (int j = 0; j < n; j++)
				p->q[p->tail++ % PQ] = ev[j];
			got = 1;
		}
	}
	for (unsigned i = 0; i < g_nr; i++) {
		unsigned before = g_raws[i]->tail;

		raw_heartbeat(g_raws[i]);
		raw_rx_all(g_raws[i]);
		got |= g_raws[i]->tail != before;
	}
	if (g_md) {
		struct tkx_md_sub_event me[32];
		int n;

		while ((n = tkx_md_sub_poll(g_md->s, 0, me, 32)) > 0) {
			for (int j = 0; j < n; j++)
				md_arrive(g_md, &me[j]);
			got = 1;
		}
	}
	if (!got && sleep_when_idle) {
		struct timespec d = { 0, 300000 };

		nanosleep(&d, NULL);
	}
}

/* Keep every session alive for ms (a pause in the script). */
static void idle_ms(unsigned ms)
{
	uint64_t end = mono_ms() + ms;

	while (mono_ms() < end)
		pump_all(1);
}

/* ---- libtokex-client sessions -------------------------------------------------------------- */

static int peer_next(struct peer *p, struct tkx_client_event *ev, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (p->head != p->tail) {
			*ev = p->q[p->head++ % PQ];
			if (ev->kind == TKX_CLIENT_EV_LOST)
				CHECK(0, "%s: exchange messages [%llu, %llu) LOST", p->name, (ull)ev->seq,
				      (ull)(ev->seq + ev->count));
			if (ev->seq) {
				CHECK(ev->seq == p->last_seq + 1,
				      "%s: exchange message number %llu after %llu", p->name,
				      (ull)ev->seq, (ull)p->last_seq);
				p->last_seq = ev->seq;
			}
			if (g_opt.verbose > 1 && ev->kind < 1000) {
				char t[256];

				msg_text(&ev->msg, t, sizeof(t));
				printf("    %s <- #%llu %s\n", p->name, (ull)ev->seq, t);
			}
			return 0;
		}
		if (mono_ms() >= end)
			return -ETIMEDOUT;
		pump_all(1);
	}
}

/* The next event must be template tid; *out gets it. */
static int peer_expect_(struct peer *p, uint16_t tid, struct tkx_client_event *out, int line)
{
	char t[256];

	if (peer_next(p, out, WAIT_MS) < 0) {
		check_(0, __FILE__, line, "%s: no %s within %d ms", p->name, tkx_template_name(tid),
		       WAIT_MS);
		return -1;
	}
	if (out->kind >= 1000)
		snprintf(t, sizeof(t), "library event %u (err %d)", out->kind, out->err);
	else
		msg_text(&out->msg, t, sizeof(t));
	return check_(out->kind == tid, __FILE__, line, "%s: expected %s, got %s", p->name,
		      tkx_template_name(tid), t) ? 0 : -1;
}
#define PEER_EXPECT(p, tid, ev) peer_expect_((p), (tid), (ev), __LINE__)

/* Nothing from p for QUIET_MS. */
static int peer_quiet(struct peer *p)
{
	struct tkx_client_event ev;
	char t[256];

	if (peer_next(p, &ev, QUIET_MS) < 0)
		return 0;
	msg_text(&ev.msg, t, sizeof(t));
	CHECK(0, "%s: unexpected %s", p->name, ev.kind < 1000 ? t : "library event");
	return -1;
}

static void peer_register(struct peer *p)
{
	for (unsigned i = 0; i < g_np; i++)
		if (g_peers[i] == p)
			return;
	if (g_np < MAX_PEERS)
		g_peers[g_np++] = p;
}

static void peer_unregister(struct peer *p)
{
	for (unsigned i = 0; i < g_np; i++)
		if (g_peers[i] == p) {
			g_peers[i] = g_peers[--g_np];
			return;
		}
}

struct peer_args {
	int tcp;
	uint32_t firm;
	uint32_t keepalive_ms;
	int cod;
	uint64_t sid;
	/* resume an earlier session: its numbers (tkx_client_stats) */
	const struct tkx_client_stats *resume;
};

/* Open, Negotiate, Establish, and check the two answers. */
static int peer_open(struct peer *p, const char *name, const struct peer_args *a)
{
	struct tkx_client_cfg cfg;
	struct tkx_client_event ev;
	const char *key = firm_secret(a->firm);
	char err[160];
	int r;

	memset(p, 0, sizeof(*p));
	p->name = name;
	tkx_client_cfg_default(&cfg);
	cfg.transport = a->tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = a->tcp ? g_opt.tcp : g_opt.udp;
	cfg.firm_id = a->firm;
	cfg.secret = (const uint8_t *)key;
	cfg.secret_len = strlen(key);
	cfg.session_id = a->sid;
	cfg.keepalive_ms = a->keepalive_ms ? a->keepalive_ms : KA_MS;
	cfg.cancel_on_disconnect = (uint8_t)a->cod;
	/* A gap is asked for again for RETRY_S before it counts as LOST: a retransmission
	 * slowed by a loaded machine is not a lost one. */
	cfg.retrans_timeout_ms = 1000;
	cfg.retrans_retries = RETRY_S;
	if (a->resume) {
		cfg.next_seq_no = a->resume->next_seq_no;
		cfg.last_in_seq = a->resume->last_in_seq;
		cfg.first_cl_ord_id = a->resume->next_cl_ord_id;
		p->last_seq = a->resume->last_in_seq;
	}
	r = tkx_client_open(&p->c, &cfg);
	REQUIRE(r == 0, "%s: tkx_client_open: %s", name, strerror(-r));
	r = tkx_client_establish(p->c, WAIT_MS);
	if (r < 0) {
		tkx_client_errstr(p->c, err, sizeof(err));
		CHECK(0, "%s: establish: %s (%s)", name, strerror(-r), err);
		tkx_client_close(p->c);
		p->c = NULL;
		return -1;
	}
	peer_register(p);
	TRY(PEER_EXPECT(p, TKX_NEGOTIATION_RESPONSE, &ev));
	CHECK(ev.msg.negotiation_response.session_id == a->sid &&
		      ev.msg.negotiation_response.firm_id == a->firm,
	      "%s: NegotiationResponse session %llu firm %u", name,
	      (ull)ev.msg.negotiation_response.session_id, ev.msg.negotiation_response.firm_id);
	TRY(PEER_EXPECT(p, TKX_ESTABLISHMENT_ACK, &ev));
	CHECK(ev.msg.establishment_ack.session_id == a->sid &&
		      ev.msg.establishment_ack.keepalive_ms == cfg.keepalive_ms &&
		      (a->resume || (ev.msg.establishment_ack.next_seq_no == 1 &&
				     ev.msg.establishment_ack.expected_seq_no == 1)),
	      "%s: EstablishmentAck session %llu next %llu expected %llu keepalive %u", name,
	      (ull)ev.msg.establishment_ack.session_id, (ull)ev.msg.establishment_ack.next_seq_no,
	      (ull)ev.msg.establishment_ack.expected_seq_no, ev.msg.establishment_ack.keepalive_ms);
	return 0;
}

/* Log off: Terminate FINISHED answered, nothing else pending. */
static int peer_terminate(struct peer *p)
{
	struct tkx_client_event ev;
	int r;

	TRY(peer_quiet(p));
	r = tkx_client_terminate(p->c, WAIT_MS);
	REQUIRE(r == 0, "%s: terminate: %s", p->name, strerror(-r));
	TRY(PEER_EXPECT(p, TKX_TERMINATE, &ev));
	CHECK(ev.msg.terminate.reason == TKX_TERM_FINISHED, "%s: Terminate reason %s", p->name,
	      tkx_terminate_reason_name(ev.msg.terminate.reason));
	return 0;
}

static void peer_close(struct peer *p)
{
	peer_unregister(p);
	tkx_client_close(p->c);
	p->c = NULL;
}

static uint64_t p_new(struct peer *p, uint32_t k, int side, int64_t px, uint32_t qty, int tif,
		      uint32_t acct)
{
	struct tkx_new_order o = {
		.price = px, .qty = qty, .contract_id = k, .account = acct,
		.side = (uint8_t)side, .tif = (uint8_t)tif,
	};
	int r = tkx_client_new_order(p->c, &o);

	if (!CHECK(r == 0, "%s: tkx_client_new_order: %s", p->name, strerror(-r)))
		return 0;
	return o.cl_ord_id;
}

static uint64_t p_cancel(struct peer *p, uint64_t oid, uint32_t k)
{
	struct tkx_cancel_order m = { .order_id = oid, .contract_id = k };
	int r = tkx_client_cancel_order(p->c, &m);

	if (!CHECK(r == 0, "%s: tkx_client_cancel_order: %s", p->name, strerror(-r)))
		return 0;
	return m.cl_ord_id;
}

static uint64_t p_modify(struct peer *p, uint64_t oid, uint32_t k, int64_t px, uint32_t qty)
{
	struct tkx_modify_order m = { .order_id = oid, .price = px, .qty = qty, .contract_id = k };
	int r = tkx_client_modify_order(p->c, &m);

	if (!CHECK(r == 0, "%s: tkx_client_modify_order: %s", p->name, strerror(-r)))
		return 0;
	return m.cl_ord_id;
}

static uint64_t p_mass(struct peer *p, uint32_t k, uint32_t acct, int scope, int side)
{
	struct tkx_mass_cancel m = {
		.contract_id = k, .account = acct, .scope = (uint8_t)scope, .side = (uint8_t)side,
	};
	int r = tkx_client_mass_cancel(p->c, &m);

	if (!CHECK(r == 0, "%s: tkx_client_mass_cancel: %s", p->name, strerror(-r)))
		return 0;
	return m.cl_ord_id;
}

/* ---- Exact expectations on one message ---------------------------------------------- */

static int is_ack(const struct tkx_msg *m, uint64_t cl, uint32_t k, int side, int64_t px,
		  uint32_t qty, int tif)
{
	const struct tkx_exec_ack *a = &m->exec_ack;

	return m->template_id == TKX_EXEC_ACK && a->cl_ord_id == cl && a->order_id != 0 &&
	       a->price == px && a->qty == qty && a->contract_id == k && a->side == side &&
	       a->tif == tif && a->transact_time != 0 && !a->reserved1 && !a->reserved2;
}

static int is_fill(const struct tkx_msg *m, uint64_t cl, uint64_t oid, uint32_t k, int side,
		   int64_t px, uint32_t qty, uint32_t leaves, int aggr)
{
	const struct tkx_fill *f = &m->fill;

	return m->template_id == TKX_FILL && f->cl_ord_id == cl && f->order_id == oid &&
	       f->trade_id != 0 && f->price == px && f->qty == qty && f->leaves_qty == leaves &&
	       f->contract_id == k && f->side == side && f->aggressor == aggr &&
	       f->transact_time != 0 && !f->reserved;
}

static int is_cancelled(const struct tkx_msg *m, uint64_t cl, uint64_t oid, uint64_t orig,
			uint32_t k, int side, uint32_t qty, int reason)
{
	const struct tkx_cancelled *x = &m->cancelled;

	return m->template_id == TKX_CANCELLED && x->cl_ord_id == cl && x->order_id == oid &&
	       x->orig_cl_ord_id == orig && x->contract_id == k && x->side == side &&
	       x->qty == qty && x->reason == reason && x->transact_time != 0;
}

static int is_reject(const struct tkx_msg *m, uint64_t cl, uint64_t oid, uint32_t k, int reason,
		     int ref)
{
	const struct tkx_exec_reject *r = &m->exec_reject;

	return m->template_id == TKX_EXEC_REJECT && r->cl_ord_id == cl && r->order_id == oid &&
	       r->contract_id == k && r->reason == reason && r->ref_template_id == ref &&
	       r->transact_time != 0;
}

/* Renders the expectation and the message for a failure line. */
#define EXPECT_MSG(ok, got, ...)                                                          \
	do {                                                                              \
		char t_[256];                                                             \
		msg_text((got), t_, sizeof(t_));                                          \
		if (!CHECK(ok, "%s: expected " __VA_ARGS__))                              \
			printf("    got %s\n", t_);                                       \
		if (!(ok))                                                                \
			return -1;                                                        \
	} while (0)

static int exp_ack(struct peer *p, uint64_t cl, uint32_t k, int side, int64_t px, uint32_t qty,
		   int tif, uint64_t *oid)
{
	struct tkx_client_event ev;

	TRY(PEER_EXPECT(p, TKX_EXEC_ACK, &ev));
	EXPECT_MSG(is_ack(&ev.msg, cl, k, side, px, qty, tif), &ev.msg,
		   "ExecAck(cl %llu %s %u @ %" PRId64 " %s)", p->name, (ull)cl,
		   tkx_side_name((unsigned)side), qty, px, tkx_tif_name((unsigned)tif));
	if (oid)
		*oid = ev.msg.exec_ack.order_id;
	return 0;
}

static int exp_fill(struct peer *p, uint64_t cl, uint64_t oid, uint32_t k, int side, int64_t px,
		    uint32_t qty, uint32_t leaves, int aggr, struct tkx_fill *out)
{
	struct tkx_client_event ev;

	TRY(PEER_EXPECT(p, TKX_FILL, &ev));
	EXPECT_MSG(is_fill(&ev.msg, cl, oid, k, side, px, qty, leaves, aggr), &ev.msg,
		   "Fill(cl %llu oid %#llx %s %u @ %" PRId64 " leaves %u aggr %d)", p->name,
		   (ull)cl, (ull)oid, tkx_side_name((unsigned)side), qty, px, leaves, aggr);
	if (out)
		*out = ev.msg.fill;
	return 0;
}

static int exp_cancelled(struct peer *p, uint64_t cl, uint64_t oid, uint64_t orig, uint32_t k,
			 int side, uint32_t qty, int reason)
{
	struct tkx_client_event ev;

	TRY(PEER_EXPECT(p, TKX_CANCELLED, &ev));
	EXPECT_MSG(is_cancelled(&ev.msg, cl, oid, orig, k, side, qty, reason), &ev.msg,
		   "Cancelled(cl %llu oid %#llx orig %llu %s %u %s)", p->name, (ull)cl, (ull)oid,
		   (ull)orig, tkx_side_name((unsigned)side), qty,
		   tkx_cancel_reason_name((unsigned)reason));
	return 0;
}

static int exp_reject(struct peer *p, uint64_t cl, uint64_t oid, uint32_t k, int reason, int ref)
{
	struct tkx_client_event ev;

	TRY(PEER_EXPECT(p, TKX_EXEC_REJECT, &ev));
	EXPECT_MSG(is_reject(&ev.msg, cl, oid, k, reason, ref), &ev.msg,
		   "ExecReject(cl %llu oid %#llx c %u %s ref %d)", p->name, (ull)cl, (ull)oid, k,
		   tkx_reject_reason_name((unsigned)reason), ref);
	return 0;
}

static int exp_modify_ack(struct peer *p, uint64_t cl, uint64_t oid, uint32_t k, int side,
			  int64_t px, uint32_t qty)
{
	struct tkx_client_event ev;
	const struct tkx_modify_ack *a = &ev.msg.modify_ack;

	TRY(PEER_EXPECT(p, TKX_MODIFY_ACK, &ev));
	EXPECT_MSG(a->cl_ord_id == cl && a->order_id == oid && a->contract_id == k &&
			   a->side == side && a->price == px && a->qty == qty &&
			   a->transact_time != 0,
		   &ev.msg, "ModifyAck(cl %llu oid %#llx %u @ %" PRId64 ")", p->name, (ull)cl,
		   (ull)oid, qty, px);
	return 0;
}

static int exp_mass_ack(struct peer *p, uint64_t cl, uint32_t count, uint32_t k, uint32_t acct,
			int scope, int side)
{
	struct tkx_client_event ev;
	const struct tkx_mass_cancel_ack *a = &ev.msg.mass_cancel_ack;

	TRY(PEER_EXPECT(p, TKX_MASS_CANCEL_ACK, &ev));
	EXPECT_MSG(a->cl_ord_id == cl && a->count == count && a->contract_id == k &&
			   a->account == acct && a->scope == scope && a->side == side &&
			   a->transact_time != 0,
		   &ev.msg, "MassCancelAck(cl %llu count %u c %u acct %u scope %d side %d)",
		   p->name, (ull)cl, count, k, acct, scope, side);
	return 0;
}

/* n Cancelled messages in any order (a mass cancel walks the book in its own order). */
struct want_cxl {
	uint64_t cl, oid, orig;
	int side;
	uint32_t qty;
	int reason;
	int seen;
};

static int exp_cancelled_set(struct peer *p, uint32_t k, struct want_cxl *w, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		struct tkx_client_event ev;
		unsigned j;
		char t[256];

		TRY(PEER_EXPECT(p, TKX_CANCELLED, &ev));
		for (j = 0; j < n; j++)
			if (!w[j].seen && is_cancelled(&ev.msg, w[j].cl, w[j].oid, w[j].orig, k,
						       w[j].side, w[j].qty, w[j].reason))
				break;
		msg_text(&ev.msg, t, sizeof(t));
		REQUIRE(j < n, "%s: unexpected %s", p->name, t);
		w[j].seen = 1;
	}
	return 0;
}

/* ---- Market-data expectations -------------------------------------------------------- */

static int md_next(struct tkx_md_sub_event *ev, uint32_t k, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		while (g_md->head != g_md->tail) {
			*ev = g_md->q[g_md->head++ % MQ];
			if ((ev->kind == TKX_MD_TOP_OF_BOOK && ev->msg.md_top_of_book.contract_id == k) ||
			    (ev->kind == TKX_MD_TRADE && ev->msg.md_trade.contract_id == k) ||
			    (ev->kind == TKX_MD_CONTRACT_STATUS &&
			     ev->msg.md_contract_status.contract_id == k))
				return 0;
		}
		if (mono_ms() >= end)
			return -ETIMEDOUT;
		pump_all(1);
	}
}

static int md_tob_(uint32_t k, int64_t bp, uint64_t bq, int64_t ap, uint64_t aq, int line)
{
	struct tkx_md_sub_event ev;
	const struct tkx_md_top_of_book *t = &ev.msg.md_top_of_book;
	char g[256], b1[24], b2[24];

	if (md_next(&ev, k, WAIT_MS) < 0)
		return check_(0, __FILE__, line, "market data: no TopOfBook(bid %llu @ %s ask %llu @ %s)",
			      (ull)bq, px_text(bp, b1, sizeof(b1)), (ull)aq,
			      px_text(ap, b2, sizeof(b2))) ? 0 : -1;
	msg_text(&ev.msg, g, sizeof(g));
	return check_(ev.kind == TKX_MD_TOP_OF_BOOK && t->bid_price == bp && t->bid_qty == bq &&
			      t->ask_price == ap && t->ask_qty == aq && t->transact_time != 0,
		      __FILE__, line, "market data: expected TopOfBook(bid %llu @ %s ask %llu @ %s), got %s",
		      (ull)bq, px_text(bp, b1, sizeof(b1)), (ull)aq, px_text(ap, b2, sizeof(b2)), g)
		       ? 0 : -1;
}
#define MD_TOB(k, bp, bq, ap, aq) TRY(md_tob_((k), (bp), (bq), (ap), (aq), __LINE__))

/* The Trade of the two fills f1 (aggressor) and f2 (resting). */
static int md_trade_(uint32_t k, const struct tkx_fill *fa, const struct tkx_fill *fr, int line)
{
	struct tkx_md_sub_event ev;
	const struct tkx_md_trade *t = &ev.msg.md_trade;
	char g[256];

	if (!check_(fa->trade_id == fr->trade_id && fa->transact_time == fr->transact_time &&
			    fa->price == fr->price && fa->qty == fr->qty && fa->side != fr->side,
		    __FILE__, line, "the two fills disagree: trade %llu/%llu qty %u/%u",
		    (ull)fa->trade_id, (ull)fr->trade_id, fa->qty, fr->qty))
		return -1;
	if (md_next(&ev, k, WAIT_MS) < 0)
		return check_(0, __FILE__, line, "market data: no Trade %llu", (ull)fa->trade_id) ? 0 : -1;
	msg_text(&ev.msg, g, sizeof(g));
	return check_(ev.kind == TKX_MD_TRADE && t->trade_id == fa->trade_id &&
			      t->price == fa->price && t->qty == fa->qty &&
			      t->aggressor_side == fa->side && t->transact_time == fa->transact_time &&
			      t->contract_id == k,
		      __FILE__, line, "market data: expected Trade(id %llu %u @ %" PRId64 " aggr %s), got %s",
		      (ull)fa->trade_id, fa->qty, fa->price, tkx_side_name(fa->side), g) ? 0 : -1;
}
#define MD_TRADE(k, fa, fr) TRY(md_trade_((k), (fa), (fr), __LINE__))

/* No TopOfBook/Trade of contract k for ms. */
static int md_quiet_(uint32_t k, int ms, int line)
{
	struct tkx_md_sub_event ev;
	char g[256];

	if (md_next(&ev, k, ms) < 0)
		return 0;
	msg_text(&ev.msg, g, sizeof(g));
	check_(0, __FILE__, line, "market data: unexpected %s", g);
	return -1;
}
#define MD_QUIET(k, ms) TRY(md_quiet_((k), (ms), __LINE__))

static int md_open(struct mdc *d, uint32_t snap_contract)
{
	struct tkx_md_sub_cfg cfg;
	int r;

	memset(d, 0, sizeof(*d));
	tkx_md_sub_cfg_default(&cfg);
	cfg.group = g_opt.md;
	cfg.iface = g_opt.iface;
	cfg.rerequest = g_opt.md_req;
	cfg.rerequest_timeout_ms = 1000; /* as the sessions' retransmissions (peer_open) */
	cfg.rerequest_retries = RETRY_S;
	r = tkx_md_sub_open(&d->s, &cfg);
	REQUIRE(r == 0, "market data: tkx_md_sub_open: %s", strerror(-r));
	d->snap_contract = snap_contract;
	g_md = d;
	return 0;
}

static void md_close(struct mdc *d)
{
	struct tkx_md_sub_stats st;

	if (!d->s)
		return;
	tkx_md_sub_stats_get(d->s, &st);
	unsigned checks = 0, defs = 0;
	for (unsigned i = 0; i < d->n_model; i++) {
		checks += d->m[i].book_checks;
		defs += d->m[i].defs;
	}
	printf("  market data: %llu packets, %llu messages, %u snapshots checked, %llu gaps, "
	       "%llu recovered, %llu lost; %u TopOfBooks checked against the books by order "
	       "and depth, %u definitions\n",
	       (ull)st.packets, (ull)st.messages, d->snapshots, (ull)st.gaps, (ull)st.recovered,
	       (ull)st.lost, checks, defs);
	tkx_md_sub_close(d->s);
	d->s = NULL;
	g_md = NULL;
}

/* ---- Hand-built UDP sessions ----------------------------------------------------------- */

struct dg {
	uint8_t b[TKX_MAX_DGRAM + 256];
	size_t n;
};

static void dg_put(struct dg *d, const void *msg, int len)
{
	if (len > 0 && d->n + (size_t)len <= sizeof(d->b)) {
		memcpy(d->b + d->n, msg, (size_t)len);
		d->n += (size_t)len;
	}
}

static void dg_seq(struct dg *d, uint64_t n)
{
	struct tkx_sequence s = { .next_seq_no = n };
	uint8_t b[TKX_MAX_MSG_LEN];

	dg_put(d, b, tkx_enc_sequence(b, sizeof(b), &s));
}

static void dg_new(struct dg *d, uint64_t cl, uint32_t k, int side, int64_t px, uint32_t qty,
		   int tif, uint32_t acct)
{
	struct tkx_new_order o = {
		.cl_ord_id = cl, .price = px, .qty = qty, .contract_id = k, .account = acct,
		.side = (uint8_t)side, .tif = (uint8_t)tif,
	};
	uint8_t b[TKX_MAX_MSG_LEN];

	dg_put(d, b, tkx_enc_new_order(b, sizeof(b), &o));
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

/* Before a UDP datagram of r leaves: a Negotiate in it opens pending keys (under its own
 * firm's secret); anything but logons is sealed when r has keys. The datagram to send
 * (b itself, or r->last_sealed) and its length in *n. */
static const uint8_t *raw_seal(struct raw *r, const uint8_t *b, size_t *n)
{
	struct tkx_hdr h = { 0 };
	int len;

	if (r->tcp)
		return b;
	memcpy(&h, b, *n < sizeof(h) ? *n : sizeof(h));
	if (*n >= TKX_HDR_LEN + sizeof(struct tkx_negotiate) && h.template_id == TKX_NEGOTIATE) {
		struct tkx_negotiate ng;

		memcpy(&ng, b + TKX_HDR_LEN, sizeof(ng));
		r->pend_set = tkx_auth_derive((const uint8_t *)firm_secret(ng.firm_id),
					      strlen(firm_secret(ng.firm_id)), ng.session_id,
					      ng.firm_id, ng.timestamp, &r->pend) == 0;
	}
	if (!r->keyed || logons_only(b, *n) || *n > sizeof(r->last_sealed) - TKX_AUTH_LEN)
		return b;
	memcpy(r->last_sealed, b, *n);
	len = tkx_auth_seal(r->keys.c2e, ++r->auth_tx, r->last_sealed, *n,
			    sizeof(r->last_sealed));
	r->last_sealed_len = (size_t)len;
	*n = (size_t)len;
	return r->last_sealed;
}

static int raw_send(struct raw *r, const void *b, size_t n)
{
	ssize_t s;

	b = raw_seal(r, b, &n);
	s = send(r->fd, b, n, MSG_NOSIGNAL);

	r->last_tx_ms = mono_ms();
	return CHECK(s == (ssize_t)n, "%s: send %zu bytes: %s", r->name, n,
		     s < 0 ? strerror(errno) : "short") ? 0 : -1;
}

/* One message: as it is on UDP, behind its SOFH on TCP. */
static int raw_send_msg(struct raw *r, const void *m, size_t n)
{
	uint8_t b[TKX_SOFH_LEN + TKX_MAX_MSG_LEN];

	if (!r->tcp)
		return raw_send(r, m, n);
	REQUIRE(tkx_sofh_encode(b, sizeof(b), n) == TKX_SOFH_LEN, "SOFH for %zu bytes", n);
	memcpy(b + TKX_SOFH_LEN, m, n);
	return raw_send(r, b, TKX_SOFH_LEN + n);
}

/* A hand-built TCP session: connected to the gateway, non-blocking. */
static int raw_open_tcp(struct raw *r, const char *name, uint32_t firm, uint64_t sid)
{
	int one = 1;

	memset(r, 0, sizeof(*r));
	r->name = name;
	r->firm = firm;
	r->sid = sid;
	r->out_next = 1;
	r->in_next = 1;
	r->keepalive_ms = KA_MS;
	r->tcp = 1;
	r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	REQUIRE(r->fd >= 0, "%s: socket: %s", name, strerror(errno));
	setsockopt(r->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(r->fd, (const struct sockaddr *)&g_opt.tcp, sizeof(g_opt.tcp)) < 0) {
		CHECK(0, "%s: connect: %s", name, strerror(errno));
		close(r->fd);
		r->fd = -1;
		return -1;
	}
	fcntl(r->fd, F_SETFL, fcntl(r->fd, F_GETFL) | O_NONBLOCK);
	if (g_nr < MAX_RAW)
		g_raws[g_nr++] = r;
	return 0;
}

static int raw_open(struct raw *r, const char *name, uint32_t firm, uint64_t sid)
{
	socklen_t sl = sizeof(r->local);
	int rcv = 1 << 20;

	memset(r, 0, sizeof(*r));
	r->name = name;
	r->firm = firm;
	r->sid = sid;
	r->out_next = 1;
	r->in_next = 1;
	r->keepalive_ms = KA_MS;
	r->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	REQUIRE(r->fd >= 0, "%s: socket: %s", name, strerror(errno));
	setsockopt(r->fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	REQUIRE(connect(r->fd, (const struct sockaddr *)&g_opt.udp, sizeof(g_opt.udp)) == 0,
		"%s: connect: %s", name, strerror(errno));
	REQUIRE(getsockname(r->fd, (struct sockaddr *)&r->local, &sl) == 0, "%s: getsockname",
		name);
	if (g_nr < MAX_RAW)
		g_raws[g_nr++] = r;
	return 0;
}

static void raw_close(struct raw *r)
{
	for (unsigned i = 0; i < g_nr; i++)
		if (g_raws[i] == r) {
			g_raws[i] = g_raws[--g_nr];
			break;
		}
	if (r->fd >= 0)
		close(r->fd);
	r->fd = -1;
}

static void raw_store(struct raw *r, uint64_t seq, const uint8_t *b, uint16_t len)
{
	unsigned i = (unsigned)(seq % RSTORE);

	r->store_seq[i] = seq;
	r->store_len[i] = len;
	memcpy(r->store[i], b, len);
}

/* One datagram from the exchange: messages queued with their numbers (protocol 3.1). */
static void raw_dgram(struct raw *r, const uint8_t *buf, size_t len)
{
	struct tkx_dgram_iter it;
	struct tkx_msg m;
	uint64_t cur = 0, ctr;
	int numbered = 0, rc, has_app = 0;
	size_t off;

	/* A sealed datagram must verify under the keys in use, or open the pending ones;
	 * unsealed ones are what the exchange sends to an address without a session. */
	if (tkx_auth_find(buf, len) >= 0) {
		int o = r->keyed ? tkx_auth_open(r->keys.e2c, buf, len, &ctr) : -EACCES;

		if (o < 0 && r->pend_set && (o = tkx_auth_open(r->pend.e2c, buf, len, &ctr)) >= 0) {
			r->keys = r->pend;
			r->keyed = 1;
			r->pend_set = 0;
			r->auth_tx = r->auth_rx = 0;
		}
		if (!CHECK(o >= 0, "%s: a datagram from the exchange fails its DatagramAuth",
			   r->name) ||
		    !CHECK(ctr > r->auth_rx, "%s: exchange counter %llu after %llu", r->name,
			   (ull)ctr, (ull)r->auth_rx))
			return;
		r->auth_rx = ctr;
		len = (size_t)o;
	}

	/* A pretend-lost datagram: its numbered messages are kept aside, not delivered. */
	tkx_dgram_init(&it, buf, len);
	while (tkx_dgram_next(&it, &m) > 0)
		if (m.template_id >= TKX_EXEC_ACK && m.template_id <= TKX_BUSINESS_REJECT)
			has_app = 1;
	tkx_dgram_init(&it, buf, len);
	for (off = 0; (rc = tkx_dgram_next(&it, &m)) > 0; off = it.off) {
		struct rmsg *q;
		uint64_t seq = 0;

		if (m.template_id == TKX_SEQUENCE) {
			cur = m.sequence.next_seq_no;
			numbered = 1;
			continue; /* a heartbeat, or the numbering of what follows */
		}
		if (m.template_id == TKX_RETRANSMISSION) {
			cur = m.retransmission.next_seq_no;
			numbered = 1;
		}
		if (m.template_id >= TKX_EXEC_ACK && m.template_id <= TKX_BUSINESS_REJECT &&
		    numbered)
			seq = cur++;
		if (seq)
			raw_store(r, seq, buf + off, (uint16_t)(it.off - off));
		if (r->dropping && has_app)
			continue;
		if (r->tail - r->head >= RQ) {
			CHECK(0, "%s: test queue overflow", r->name);
			return;
		}
		q = &r->q[r->tail++ % RQ];
		q->m = m;
		q->seq = seq;
		q->len = (uint16_t)(it.off - off);
		memcpy(q->bytes, buf + off, q->len);
	}
	CHECK(rc == 0, "%s: a datagram from the exchange does not decode: %s", r->name,
	      tkx_strerror(rc));
}

/* TCP: every complete frame's message, unnumbered (the checks here are of contents). */
static void raw_stream(struct raw *r)
{
	size_t off = 0;
	int f;

	while ((f = tkx_sofh_next(r->ibuf + off, r->ilen - off)) > 0) {
		struct tkx_msg m;
		struct rmsg *q;
		int n = tkx_decode(r->ibuf + off + TKX_SOFH_LEN, (size_t)f - TKX_SOFH_LEN, &m);

		if (!CHECK(n == f - TKX_SOFH_LEN, "%s: a frame from the exchange does not decode",
			   r->name))
			break;
		off += (size_t)f;
		if (m.template_id == TKX_SEQUENCE)
			continue;
		if (r->tail - r->head >= RQ) {
			CHECK(0, "%s: test queue overflow", r->name);
			break;
		}
		q = &r->q[r->tail++ % RQ];
		q->m = m;
		q->seq = 0;
		q->len = (uint16_t)n;
		memcpy(q->bytes, r->ibuf + off - (size_t)n, (size_t)n);
	}
	CHECK(f >= 0, "%s: bad SOFH from the exchange", r->name);
	memmove(r->ibuf, r->ibuf + off, r->ilen - off);
	r->ilen -= off;
}

static void raw_rx_all(struct raw *r)
{
	uint8_t buf[2048];

	while (r->tcp && r->fd >= 0 && !r->eof && r->ilen < sizeof(r->ibuf)) {
		ssize_t n = recv(r->fd, r->ibuf + r->ilen, sizeof(r->ibuf) - r->ilen, MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
			r->eof = 1;
		if (n <= 0)
			break;
		r->ilen += (size_t)n;
		raw_stream(r);
	}
	for (int i = 0; i < 64 && r->fd >= 0 && !r->tcp; i++) {
		ssize_t n = recv(r->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n <= 0)
			return;
		raw_dgram(r, buf, (size_t)n);
	}
}

static void raw_heartbeat(struct raw *r)
{
	if (r->fd >= 0 && r->established && r->heartbeat && !r->eof &&
	    mono_ms() - r->last_tx_ms >= r->keepalive_ms / 3) {
		struct dg d = { .n = 0 };

		dg_seq(&d, r->out_next);
		raw_send_msg(r, d.b, d.n);
	}
}

static int raw_next(struct raw *r, struct rmsg *out, int timeout_ms)
{
	uint64_t end = mono_ms() + (uint64_t)timeout_ms;

	for (;;) {
		if (r->head != r->tail) {
			*out = r->q[r->head++ % RQ];
			if (out->seq) {
				CHECK(out->seq == r->in_next, "%s: exchange message number %llu, expected %llu",
				      r->name, (ull)out->seq, (ull)r->in_next);
				if (out->seq >= r->in_next)
					r->in_next = out->seq + 1;
			}
			if (g_opt.verbose > 1) {
				char t[256];

				msg_text(&out->m, t, sizeof(t));
				printf("    %s <- #%llu %s\n", r->name, (ull)out->seq, t);
			}
			return 0;
		}
		if (mono_ms() >= end)
			return -ETIMEDOUT;
		pump_all(1);
	}
}

static int raw_expect_(struct raw *r, uint16_t tid, struct rmsg *out, int line)
{
	char t[256];

	if (raw_next(r, out, WAIT_MS) < 0) {
		check_(0, __FILE__, line, "%s: no %s within %d ms", r->name, tkx_template_name(tid),
		       WAIT_MS);
		return -1;
	}
	msg_text(&out->m, t, sizeof(t));
	return check_(out->m.template_id == tid, __FILE__, line, "%s: expected %s, got %s", r->name,
		      tkx_template_name(tid), t) ? 0 : -1;
}
#define RAW_EXPECT(r, tid, out) TRY(raw_expect_((r), (tid), (out), __LINE__))

static int raw_quiet_(struct raw *r, int line)
{
	struct rmsg m;
	char t[256];

	if (raw_next(r, &m, QUIET_MS) < 0)
		return 0;
	msg_text(&m.m, t, sizeof(t));
	check_(0, __FILE__, line, "%s: unexpected %s", r->name, t);
	return -1;
}
#define RAW_QUIET(r) TRY(raw_quiet_((r), __LINE__))

static int raw_negotiate_msg(struct raw *r, uint32_t firm, const char *key, uint64_t ts,
			     uint8_t *b)
{
	struct tkx_negotiate n = { .session_id = r->sid, .timestamp = ts, .firm_id = firm };
	int len = tkx_enc_negotiate(b, TKX_MAX_MSG_LEN, &n);

	tkx_sign((const uint8_t *)key, strlen(key), b, (size_t)len);
	return len;
}

static int raw_establish_msg(struct raw *r, const char *key, uint64_t ts, uint32_t keepalive,
			     int cod, uint8_t *b)
{
	struct tkx_establish e = {
		.session_id = r->sid, .timestamp = ts, .next_seq_no = r->out_next,
		.keepalive_ms = keepalive, .cancel_on_disconnect = (uint8_t)cod,
	};
	int len = tkx_enc_establish(b, TKX_MAX_MSG_LEN, &e);

	tkx_sign((const uint8_t *)key, strlen(key), b, (size_t)len);
	return len;
}

/* Negotiate and Establish with the firm's real secret; check both answers. */
static int raw_login(struct raw *r, uint32_t keepalive, int cod, uint64_t want_next_out)
{
	uint8_t b[TKX_MAX_MSG_LEN];
	uint64_t ts = real_ns();
	struct rmsg m;
	int len;

	len = raw_negotiate_msg(r, r->firm, firm_secret(r->firm), ts, b);
	TRY(raw_send_msg(r, b, (size_t)len));
	RAW_EXPECT(r, TKX_NEGOTIATION_RESPONSE, &m);
	REQUIRE(m.m.negotiation_response.session_id == r->sid &&
			m.m.negotiation_response.request_timestamp == ts &&
			m.m.negotiation_response.firm_id == r->firm,
		"%s: NegotiationResponse fields", r->name);
	ts = real_ns();
	len = raw_establish_msg(r, firm_secret(r->firm), ts, keepalive, cod, b);
	TRY(raw_send_msg(r, b, (size_t)len));
	RAW_EXPECT(r, TKX_ESTABLISHMENT_ACK, &m);
	REQUIRE(m.m.establishment_ack.session_id == r->sid &&
			m.m.establishment_ack.request_timestamp == ts &&
			m.m.establishment_ack.next_seq_no == want_next_out &&
			m.m.establishment_ack.expected_seq_no == r->out_next &&
			m.m.establishment_ack.keepalive_ms == keepalive,
		"%s: EstablishmentAck next %llu (want %llu) expected %llu (want %llu) keepalive %u",
		r->name, (ull)m.m.establishment_ack.next_seq_no, (ull)want_next_out,
		(ull)m.m.establishment_ack.expected_seq_no, (ull)r->out_next,
		m.m.establishment_ack.keepalive_ms);
	r->keepalive_ms = keepalive;
	r->established = 1;
	r->heartbeat = 1;
	return 0;
}

static int raw_logout(struct raw *r)
{
	struct tkx_terminate t = { .session_id = r->sid, .reason = TKX_TERM_FINISHED };
	uint8_t b[TKX_MAX_MSG_LEN];
	struct rmsg m;

	RAW_QUIET(r);
	TRY(raw_send_msg(r, b, (size_t)tkx_enc_terminate(b, sizeof(b), &t)));
	RAW_EXPECT(r, TKX_TERMINATE, &m);
	REQUIRE(m.m.terminate.session_id == r->sid && m.m.terminate.reason == TKX_TERM_FINISHED,
		"%s: Terminate answer %s", r->name, tkx_terminate_reason_name(m.m.terminate.reason));
	r->established = 0;
	return 0;
}

/* Sequence(out_next) + one NewOrder with the next cl_ord_id; returns that cl_ord_id. */
static uint64_t raw_order(struct raw *r, uint32_t k, int side, int64_t px, uint32_t qty, int tif,
			  uint32_t acct)
{
	struct dg d = { .n = 0 };

	if (!r->tcp) /* TCP numbers implicitly */
		dg_seq(&d, r->out_next);
	r->out_next++;
	dg_new(&d, ++r->cl, k, side, px, qty, tif, acct);
	if (raw_send_msg(r, d.b, d.n) < 0)
		return 0;
	return r->cl;
}

static int raw_exp_ack(struct raw *r, uint64_t cl, uint32_t k, int side, int64_t px, uint32_t qty,
		       int tif, uint64_t *oid)
{
	struct rmsg m;

	RAW_EXPECT(r, TKX_EXEC_ACK, &m);
	EXPECT_MSG(is_ack(&m.m, cl, k, side, px, qty, tif), &m.m, "ExecAck(cl %llu %u @ %" PRId64 ")",
		   r->name, (ull)cl, qty, px);
	if (oid)
		*oid = m.m.exec_ack.order_id;
	return 0;
}

static int raw_exp_reject(struct raw *r, uint64_t cl, uint64_t oid, uint32_t k, int reason,
			  int ref)
{
	struct rmsg m;

	RAW_EXPECT(r, TKX_EXEC_REJECT, &m);
	EXPECT_MSG(is_reject(&m.m, cl, oid, k, reason, ref), &m.m, "ExecReject(cl %llu %s)", r->name,
		   (ull)cl, tkx_reject_reason_name((unsigned)reason));
	return 0;
}

static int raw_exp_breject(struct raw *r, uint64_t ref_seq, int ref_tid, int reason, int numbered)
{
	struct rmsg m;
	const struct tkx_business_reject *b = &m.m.business_reject;

	RAW_EXPECT(r, TKX_BUSINESS_REJECT, &m);
	EXPECT_MSG(b->ref_seq_no == ref_seq && b->ref_template_id == ref_tid && b->reason == reason &&
			   (numbered ? m.seq != 0 : m.seq == 0),
		   &m.m, "BusinessReject(ref_seq %llu ref %d %s, %snumbered)", r->name, (ull)ref_seq,
		   ref_tid, tkx_breject_reason_name((unsigned)reason), numbered ? "" : "un");
	return 0;
}

static int raw_exp_not_applied(struct raw *r, uint64_t from, uint32_t count)
{
	struct rmsg m;

	RAW_EXPECT(r, TKX_NOT_APPLIED, &m);
	EXPECT_MSG(m.m.not_applied.from_seq_no == from && m.m.not_applied.count == count &&
			   m.seq == 0,
		   &m.m, "NotApplied(from %llu count %u)", r->name, (ull)from, count);
	return 0;
}

/* ---- UDP with a chosen checksum, through a raw IP socket ------------------------------ */

/* payload from src to dst as one UDP datagram whose checksum is right, or (bad) wrong. */
static int send_udp_csum(const struct sockaddr_in *src, const struct sockaddr_in *dst,
			 const void *payload, size_t len, int bad)
{
	int r = e2e_udp_raw_send(src, dst, payload, len, bad);

	return CHECK(r == 0, "raw IP send: %s", strerror(-r)) ? 0 : -1;
}

/* ==== scenario: two firms, one contract ================================================== */

static int scenario_trading(void)
{
	const uint32_t C = g_opt.contract;
	static struct peer A, B, A2; /* firm 1 UDP, firm 2 TCP, firm 1 TCP */
	struct peer_args pa;
	struct tkx_fill fa, fr;
	uint64_t cl, a1, a2o, b1, b2, b3, b4, b5, b6, a4, a5, a6, a7, a8, b7, oid;
	uint64_t c_a1, c_a2o, c_a4, c_a5, c_a6, c_a7, c_a8, c_b1, c_b5, c_b6, c_b7;
	int rc = -1;

	step("log on");
	pa = (struct peer_args){ .tcp = 0, .firm = 1, .cod = 1, .sid = new_sid(1) };
	if (peer_open(&A, "firm1/udp", &pa) < 0)
		goto out;
	pa = (struct peer_args){ .tcp = 1, .firm = 2, .cod = 1, .sid = new_sid(2) };
	if (peer_open(&B, "firm2/tcp", &pa) < 0)
		goto out;
	pa = (struct peer_args){ .tcp = 1, .firm = 1, .cod = 1, .sid = new_sid(3) };
	if (peer_open(&A2, "firm1/tcp", &pa) < 0)
		goto out;

#define S(x)                      \
	do {                      \
		if ((x) < 0)      \
			goto out; \
	} while (0)
#define MDS(...) S(md_tob_(C, __VA_ARGS__, __LINE__))

	step("quote: firm 1 bids 10 @ 24990");
	c_a1 = p_new(&A, C, BUY, 24990, 10, GTC, 11);
	S(exp_ack(&A, c_a1, C, BUY, 24990, 10, GTC, &a1));
	MDS(24990, 10, NUL, 0);

	step("quote: firm 2 offers 5 @ 25010");
	c_b1 = p_new(&B, C, SELL, 25010, 5, GTC, 21);
	S(exp_ack(&B, c_b1, C, SELL, 25010, 5, GTC, &b1));
	MDS(24990, 10, 25010, 5);

	step("cross: firm 2 sells 4 @ 24990 into the bid");
	cl = p_new(&B, C, SELL, 24990, 4, GTC, 21);
	S(exp_ack(&B, cl, C, SELL, 24990, 4, GTC, &b2));
	S(exp_fill(&B, cl, b2, C, SELL, 24990, 4, 0, 1, &fa));
	S(exp_fill(&A, c_a1, a1, C, BUY, 24990, 4, 6, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(24990, 6, 25010, 5);

	step("partial fill: firm 1 buys 8 @ 25010, 5 trade, 3 rest");
	c_a2o = p_new(&A, C, BUY, 25010, 8, GTC, 11);
	S(exp_ack(&A, c_a2o, C, BUY, 25010, 8, GTC, &a2o));
	S(exp_fill(&A, c_a2o, a2o, C, BUY, 25010, 5, 3, 1, &fa));
	S(exp_fill(&B, c_b1, b1, C, SELL, 25010, 5, 0, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(25010, 3, NUL, 0);

	step("IOC: firm 2 sells 5 @ 25010 IOC, 3 trade, 2 cancelled");
	cl = p_new(&B, C, SELL, 25010, 5, IOC, 21);
	S(exp_ack(&B, cl, C, SELL, 25010, 5, IOC, &b3));
	S(exp_fill(&B, cl, b3, C, SELL, 25010, 3, 2, 1, &fa));
	S(exp_cancelled(&B, cl, b3, cl, C, SELL, 2, TKX_CXL_IOC));
	S(exp_fill(&A, c_a2o, a2o, C, BUY, 25010, 3, 0, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(24990, 6, NUL, 0);

	step("FOK kill: firm 2 sells 10 @ 24990 FOK, only 6 there");
	cl = p_new(&B, C, SELL, 24990, 10, FOK, 21);
	S(exp_ack(&B, cl, C, SELL, 24990, 10, FOK, &b4));
	S(exp_cancelled(&B, cl, b4, cl, C, SELL, 10, TKX_CXL_FOK));

	step("FOK fill: firm 2 sells 2 @ 24990 FOK");
	cl = p_new(&B, C, SELL, 24990, 2, FOK, 21);
	S(exp_ack(&B, cl, C, SELL, 24990, 2, FOK, &oid));
	S(exp_fill(&B, cl, oid, C, SELL, 24990, 2, 0, 1, &fa));
	S(exp_fill(&A, c_a1, a1, C, BUY, 24990, 2, 4, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(24990, 4, NUL, 0);

	step("POST that would cross: rejected");
	cl = p_new(&B, C, SELL, 24990, 1, POST, 21);
	S(exp_reject(&B, cl, 0, C, TKX_REJ_POST_CROSS, TKX_NEW_ORDER));

	step("POST that rests: firm 2 offers 2 @ 25050");
	c_b5 = p_new(&B, C, SELL, 25050, 2, POST, 21);
	S(exp_ack(&B, c_b5, C, SELL, 25050, 2, POST, &b5));
	MDS(24990, 4, 25050, 2);
	step("POST modified to cross: rejected, the order unchanged");
	cl = p_modify(&B, b5, C, 24990, 2);
	S(exp_reject(&B, cl, b5, C, TKX_REJ_POST_CROSS, TKX_MODIFY_ORDER));

	step("STP: firm 1 sells 2 @ 24990 on its own account 11");
	cl = p_new(&A, C, SELL, 24990, 2, GTC, 11);
	S(exp_ack(&A, cl, C, SELL, 24990, 2, GTC, &oid));
	S(exp_cancelled(&A, cl, oid, cl, C, SELL, 2, TKX_CXL_STP));

	step("modify keeping priority: firm 2 joins the bid, firm 1 reduces 4 -> 3");
	c_b6 = p_new(&B, C, BUY, 24990, 3, GTC, 21);
	S(exp_ack(&B, c_b6, C, BUY, 24990, 3, GTC, &b6));
	MDS(24990, 7, 25050, 2);
	cl = p_modify(&A, a1, C, 24990, 3);
	S(exp_modify_ack(&A, cl, a1, C, BUY, 24990, 3));
	MDS(24990, 6, 25050, 2);
	step("modify keeping priority: firm 1 (account 12) sells 3, firm 1's order first");
	cl = p_new(&A2, C, SELL, 24990, 3, GTC, 12);
	S(exp_ack(&A2, cl, C, SELL, 24990, 3, GTC, &oid));
	S(exp_fill(&A2, cl, oid, C, SELL, 24990, 3, 0, 1, &fa));
	S(exp_fill(&A, c_a1, a1, C, BUY, 24990, 3, 0, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(24990, 3, 25050, 2);

	step("modify losing priority: firm 1 bids 2 behind, firm 2 raises 3 -> 4");
	c_a4 = p_new(&A, C, BUY, 24990, 2, GTC, 11);
	S(exp_ack(&A, c_a4, C, BUY, 24990, 2, GTC, &a4));
	MDS(24990, 5, 25050, 2);
	cl = p_modify(&B, b6, C, 24990, 4);
	S(exp_modify_ack(&B, cl, b6, C, BUY, 24990, 4));
	MDS(24990, 6, 25050, 2);
	step("modify losing priority: a sell of 2 now fills firm 1's order first");
	cl = p_new(&A2, C, SELL, 24990, 2, GTC, 12);
	S(exp_ack(&A2, cl, C, SELL, 24990, 2, GTC, &oid));
	S(exp_fill(&A2, cl, oid, C, SELL, 24990, 2, 0, 1, &fa));
	S(exp_fill(&A, c_a4, a4, C, BUY, 24990, 2, 0, 0, &fr));
	S(md_trade_(C, &fa, &fr, __LINE__));
	MDS(24990, 4, 25050, 2);
	step("modify the price: firm 2's bid to 24980");
	cl = p_modify(&B, b6, C, 24980, 4);
	S(exp_modify_ack(&B, cl, b6, C, BUY, 24980, 4));
	MDS(24980, 4, 25050, 2);

	step("cancel by the firm's other session; NOT_OWNER for the other firm");
	c_a5 = p_new(&A, C, BUY, 24970, 1, GTC, 11);
	S(exp_ack(&A, c_a5, C, BUY, 24970, 1, GTC, &a5));
	cl = p_cancel(&B, a5, C);
	S(exp_reject(&B, cl, a5, C, TKX_REJ_NOT_OWNER, TKX_CANCEL_ORDER));
	cl = p_cancel(&A2, a5, C);
	S(exp_cancelled(&A2, cl, a5, c_a5, C, BUY, 1, TKX_CXL_CLIENT));
	S(exp_cancelled(&A, cl, a5, c_a5, C, BUY, 1, TKX_CXL_CLIENT));
	step("an account-0 order belongs to its session alone");
	c_a6 = p_new(&A, C, BUY, 24960, 1, GTC, 0);
	S(exp_ack(&A, c_a6, C, BUY, 24960, 1, GTC, &a6));
	cl = p_cancel(&A2, a6, C);
	S(exp_reject(&A2, cl, a6, C, TKX_REJ_NOT_OWNER, TKX_CANCEL_ORDER));
	cl = p_cancel(&A, a6, C);
	S(exp_cancelled(&A, cl, a6, c_a6, C, BUY, 1, TKX_CXL_CLIENT));
	step("cancel of a filled order: UNKNOWN_ORDER; modify to zero cancels");
	cl = p_cancel(&B, b2, C);
	S(exp_reject(&B, cl, b2, C, TKX_REJ_UNKNOWN_ORDER, TKX_CANCEL_ORDER));
	cl = p_modify(&B, b5, C, 25050, 0);
	S(exp_cancelled(&B, cl, b5, c_b5, C, SELL, 2, TKX_CXL_CLIENT));
	MDS(24980, 4, NUL, 0);

	step("price band: 22990 and 27010 rejected, 27000 and 23000 accepted");
	cl = p_new(&A, C, BUY, 22990, 1, GTC, 11);
	S(exp_reject(&A, cl, 0, C, TKX_REJ_PRICE_BAND, TKX_NEW_ORDER));
	cl = p_new(&A, C, SELL, 27010, 1, GTC, 11);
	S(exp_reject(&A, cl, 0, C, TKX_REJ_PRICE_BAND, TKX_NEW_ORDER));
	c_a7 = p_new(&A, C, SELL, 27000, 1, GTC, 11);
	S(exp_ack(&A, c_a7, C, SELL, 27000, 1, GTC, &a7));
	MDS(24980, 4, 27000, 1);
	c_a8 = p_new(&A, C, BUY, 23000, 1, GTC, 11);
	S(exp_ack(&A, c_a8, C, BUY, 23000, 1, GTC, &a8));
	step("tick, maximum quantity, unknown contract");
	cl = p_new(&A, C, BUY, 24995, 1, GTC, 11);
	S(exp_reject(&A, cl, 0, C, TKX_REJ_TICK, TKX_NEW_ORDER));
	cl = p_new(&A, C, BUY, 24000, 10001, GTC, 11);
	S(exp_reject(&A, cl, 0, C, TKX_REJ_MAX_QTY, TKX_NEW_ORDER));
	cl = p_new(&A, NO_CONTRACT, BUY, 24000, 1, GTC, 11);
	S(exp_reject(&A, cl, 0, NO_CONTRACT, TKX_REJ_UNKNOWN_CONTRACT, TKX_NEW_ORDER));
	cl = p_new(&B, NO_CONTRACT, SELL, 25000, 1, GTC, 21);
	S(exp_reject(&B, cl, 0, NO_CONTRACT, TKX_REJ_UNKNOWN_CONTRACT, TKX_NEW_ORDER));
	cl = p_modify(&B, b6, C, 24985, 4);
	S(exp_reject(&B, cl, b6, C, TKX_REJ_TICK, TKX_MODIFY_ORDER));
	cl = p_cancel(&B, b6, NO_CONTRACT);
	S(exp_reject(&B, cl, b6, NO_CONTRACT, TKX_REJ_UNKNOWN_CONTRACT, TKX_CANCEL_ORDER));

	step("mass cancel: firm 2's session on the contract");
	c_b7 = p_new(&B, C, SELL, 25100, 3, GTC, 21);
	S(exp_ack(&B, c_b7, C, SELL, 25100, 3, GTC, &b7));
	MDS(24980, 4, 25100, 3);
	cl = p_mass(&B, C, 0, TKX_SCOPE_SESSION, 0);
	{
		struct want_cxl w[2] = {
			{ cl, b6, c_b6, BUY, 4, TKX_CXL_MASS, 0 },
			{ cl, b7, c_b7, SELL, 3, TKX_CXL_MASS, 0 },
		};
		S(exp_cancelled_set(&B, C, w, 2));
	}
	S(exp_mass_ack(&B, cl, 2, C, 0, TKX_SCOPE_SESSION, 0));
	MDS(23000, 1, 27000, 1);
	step("mass cancel: firm 1's account 11, every contract, sells only");
	cl = p_mass(&A2, 0, 11, TKX_SCOPE_ACCOUNT, SELL);
	S(exp_cancelled(&A, cl, a7, c_a7, C, SELL, 1, TKX_CXL_MASS));
	S(exp_mass_ack(&A2, cl, 1, 0, 11, TKX_SCOPE_ACCOUNT, SELL));
	MDS(23000, 1, NUL, 0);
	step("mass cancel: firm 1's session, both sides");
	cl = p_mass(&A, C, 0, TKX_SCOPE_SESSION, 0);
	S(exp_cancelled(&A, cl, a8, c_a8, C, BUY, 1, TKX_CXL_MASS));
	S(exp_mass_ack(&A, cl, 1, C, 0, TKX_SCOPE_SESSION, 0));
	MDS(NUL, 0, NUL, 0);
	step("mass cancel with nothing to cancel");
	cl = p_mass(&B, 0, 0, TKX_SCOPE_SESSION, 0);
	S(exp_mass_ack(&B, cl, 0, 0, 0, TKX_SCOPE_SESSION, 0));

	step("log off");
	S(peer_terminate(&A));
	S(peer_terminate(&B));
	S(peer_terminate(&A2));
	step("market data: nothing more, and a Snapshot of the day");
	S(md_quiet_(C, QUIET_MS, __LINE__));
	{
		uint64_t end = mono_ms() + 2500;

		g_md->have_snap = 0;
		while (!g_md->have_snap && mono_ms() < end)
			pump_all(1);
		/* 4 + 5 + 3 + 2 + 3 + 2 lots traded; the last at 24990. */
		S(CHECK(g_md->have_snap, "no Snapshot of %u within 2.5 s", C) ? 0 : -1);
		S(CHECK(g_md->last_snap.bid_price == NUL && g_md->last_snap.ask_price == NUL &&
				g_md->last_snap.bid_qty == 0 && g_md->last_snap.ask_qty == 0 &&
				g_md->last_snap.volume == 19 && g_md->last_snap.last_price == 24990,
			"Snapshot of %u: volume %llu last %" PRId64 ", expected 19 @ 24990", C,
			(ull)g_md->last_snap.volume, g_md->last_snap.last_price) ? 0 : -1);
	}
	rc = 0;
out:
#undef S
#undef MDS
	if (A.c)
		peer_close(&A);
	if (B.c)
		peer_close(&B);
	if (A2.c)
		peer_close(&A2);
	return rc;
}

/* ==== faults ============================================================================== */

/* Shared by the fault scenarios: R is firm 1's hand-built UDP session on contract2, with a
 * resting bid of 1 @ 23500 that stays the best bid throughout (every other bid of R is
 * lower), and B is firm 2 over TCP. */
static struct raw R;
static struct peer FB;

static int faults_setup(void)
{
	const uint32_t K = g_opt.contract2;
	struct peer_args pa = { .tcp = 1, .firm = 2, .cod = 1, .sid = new_sid(21) };
	uint64_t cl;

	step("faults: log on");
	TRY(raw_open(&R, "firm1/raw", 1, new_sid(20)));
	TRY(raw_login(&R, KA_MS, 1, 1));
	TRY(peer_open(&FB, "firm2/tcp", &pa));
	cl = raw_order(&R, K, BUY, 23500, 1, GTC, 0);
	TRY(raw_exp_ack(&R, cl, K, BUY, 23500, 1, GTC, NULL));
	MD_TOB(K, 23500, 1, NUL, 0);
	return 0;
}

/* A crafted datagram from R's address: no answer, this counter + 1, nothing forwarded. */
static int send_dropped(const void *b, size_t n, const char *what, const char *counter)
{
	static struct tel t0, t1;

	step("malformed: %s", what);
	TRY(tel_snap(&t0));
	TRY(raw_send(&R, b, n));
	RAW_QUIET(&R);
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, counter, 1));
	TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 0));
	return 0;
}

static int faults_malformed(void)
{
	const uint32_t K = g_opt.contract2;
	struct tkx_new_order no = {
		.price = 23400, .qty = 1, .contract_id = K, .side = BUY, .tif = GTC,
	};
	uint8_t m[TKX_MAX_MSG_LEN];
	static struct tel t0, t1;
	struct dg d;
	uint64_t n;

	TRY(send_dropped("", 0, "an empty datagram", "session_rx_truncated"));
	TRY(send_dropped("\x08\x00\x07\x00\xf3", 5, "5 bytes: less than a header",
			 "session_rx_truncated"));

	/* A NewOrder cut short: the client counts it sent (#n), the exchange never saw it.
	 * No heartbeat until the next order: its Sequence would show the gap first. */
	R.heartbeat = 0;
	n = R.out_next++;
	d.n = 0;
	dg_seq(&d, n);
	no.cl_ord_id = ++R.cl;
	TRY(tkx_enc_new_order(m, sizeof(m), &no));
	dg_put(&d, m, TKX_HDR_LEN + 20);
	TRY(send_dropped(d.b, d.n, "a NewOrder cut to 20 of its 32 block bytes",
			 "session_rx_truncated"));
	step("malformed: the next datagram reports the cut order NotApplied");
	TRY(tel_snap(&t0));
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, R.cl, K, BUY, 23400, 1, GTC, 0); /* its cl_ord_id was never used */
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_not_applied(&R, n, 1));
	TRY(raw_exp_ack(&R, R.cl, K, BUY, 23400, 1, GTC, NULL));
	R.heartbeat = 1;
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_gaps", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_gap_msgs", 1));
	return 0;
}

static int faults_headers(void)
{
	const uint32_t K = g_opt.contract2;
	struct tkx_new_order no = {
		.cl_ord_id = R.cl + 1, .price = 23400, .qty = 1, .contract_id = K, .side = BUY,
		.tif = GTC,
	};
	uint8_t m[TKX_MAX_MSG_LEN + 8];
	struct tkx_hdr h;
	struct dg d;
	int len;

	/* Each takes no number: the next good datagram continues at R.out_next, no gap. */
	len = tkx_enc_new_order(m, sizeof(m), &no);
	memcpy(&h, m, sizeof(h));

	h.block_length = 33;
	memcpy(m, &h, sizeof(h));
	m[len] = 0;
	d.n = 0;
	dg_seq(&d, R.out_next);
	dg_put(&d, m, len + 1);
	TRY(send_dropped(d.b, d.n, "blockLength 33 for a NewOrder (32)",
			 "session_rx_bad_block_length"));

	h.block_length = 32;
	h.schema_id = TKX_SCHEMA_ID + 1;
	memcpy(m, &h, sizeof(h));
	d.n = 0;
	dg_seq(&d, R.out_next);
	dg_put(&d, m, len);
	TRY(send_dropped(d.b, d.n, "schemaId 7412", "session_rx_bad_schema"));

	h.schema_id = TKX_SCHEMA_ID;
	h.version = TKX_SCHEMA_VERSION + 1;
	memcpy(m, &h, sizeof(h));
	d.n = 0;
	dg_seq(&d, R.out_next);
	dg_put(&d, m, len);
	TRY(send_dropped(d.b, d.n, "a version from the future", "session_rx_bad_schema"));

	h.version = TKX_SCHEMA_VERSION;
	h.template_id = 150;
	memcpy(m, &h, sizeof(h));
	d.n = 0;
	dg_seq(&d, R.out_next);
	dg_put(&d, m, len);
	TRY(send_dropped(d.b, d.n, "templateId 150", "session_rx_unknown_template"));

	step("malformed: a good NewOrder then 3 stray bytes: the order stands");
	{
		static struct tel t0, t1;

		TRY(tel_snap(&t0));
		d.n = 0;
		dg_seq(&d, R.out_next++);
		dg_new(&d, ++R.cl, K, BUY, 23400, 1, GTC, 0);
		dg_put(&d, "\x01\x02\x03", 3);
		TRY(raw_send(&R, d.b, d.n));
		TRY(raw_exp_ack(&R, R.cl, K, BUY, 23400, 1, GTC, NULL));
		RAW_QUIET(&R);
		TRY(tel_snap(&t1));
		TRY(TEL_DELTA(&t0, &t1, "session_rx_truncated", 1));
		TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 1));
	}
	return 0;
}

/* Well-formed messages with bad contents: each gets its documented answer. */
static int faults_validation(void)
{
	const uint32_t K = g_opt.contract2;
	uint8_t m[TKX_MAX_MSG_LEN];
	struct dg d;
	uint64_t cl;
	static struct tel t0, t1;

	TRY(tel_snap(&t0));
	step("validation: an ExecAck sent by a client: WRONG_DIRECTION");
	{
		struct tkx_exec_ack a = { .cl_ord_id = 1, .order_id = 1, .price = 1, .qty = 1,
					  .contract_id = K, .side = BUY, .tif = GTC };

		d.n = 0;
		dg_seq(&d, R.out_next);
		dg_put(&d, m, tkx_enc_exec_ack(m, sizeof(m), &a));
		TRY(raw_send(&R, d.b, d.n));
		/* No inbound number: only templates 100-199 take one (protocol 4.6). */
		TRY(raw_exp_breject(&R, 0, TKX_EXEC_ACK, TKX_BREJ_WRONG_DIRECTION, 1));
	}
	step("validation: a reserved field set: INVALID_FIELD, cl_ord_id not used up");
	{
		struct tkx_new_order o = { .cl_ord_id = R.cl + 1, .price = 23400, .qty = 1,
					   .contract_id = K, .side = BUY, .tif = GTC,
					   .reserved = 1 };

		d.n = 0;
		dg_seq(&d, R.out_next);
		dg_put(&d, m, tkx_enc_new_order(m, sizeof(m), &o));
		TRY(raw_send(&R, d.b, d.n));
		TRY(raw_exp_breject(&R, R.out_next, TKX_NEW_ORDER, TKX_BREJ_INVALID_FIELD, 1));
		R.out_next++;
	}
	step("validation: quantity 0: INVALID_QTY, then the same cl_ord_id is accepted");
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, R.cl + 1, K, BUY, 23400, 0, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_reject(&R, R.cl + 1, 0, K, TKX_REJ_INVALID_QTY, TKX_NEW_ORDER));
	cl = raw_order(&R, K, BUY, 23400, 1, GTC, 0);
	TRY(raw_exp_ack(&R, cl, K, BUY, 23400, 1, GTC, NULL));
	step("validation: the same cl_ord_id again: CLORDID_REUSED");
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, cl, K, BUY, 23400, 1, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_reject(&R, cl, 0, K, TKX_REJ_CLORDID_REUSED, TKX_NEW_ORDER));
	step("validation: MassCancel scope 3: INVALID_SCOPE");
	{
		struct tkx_mass_cancel mc = { .cl_ord_id = R.cl + 1, .contract_id = K, .scope = 3 };

		d.n = 0;
		dg_seq(&d, R.out_next++);
		dg_put(&d, m, tkx_enc_mass_cancel(m, sizeof(m), &mc));
		TRY(raw_send(&R, d.b, d.n));
		TRY(raw_exp_reject(&R, R.cl + 1, 0, K, TKX_REJ_INVALID_SCOPE, TKX_MASS_CANCEL));
	}
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_wrong_direction", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_invalid_field", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_app_invalid", 2));
	TRY(TEL_DELTA(&t0, &t1, "session_clordid_reused", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 1));

	step("validation: from an address without a session");
	{
		static struct raw X;
		struct tkx_retransmit_request rr = { .session_id = 77, .timestamp = real_ns(),
						     .from_seq_no = 1, .count = 1 };
		struct rmsg rm;

		TRY(tel_snap(&t0));
		TRY(raw_open(&X, "nosession/raw", 1, 77));
		d.n = 0;
		dg_seq(&d, 1);
		dg_new(&d, 1, K, BUY, 23400, 1, GTC, 0);
		TRY(raw_send(&X, d.b, d.n));
		TRY(raw_exp_breject(&X, 0, TKX_NEW_ORDER, TKX_BREJ_NOT_ESTABLISHED, 0));
		TRY(raw_send(&X, m, (size_t)tkx_enc_retransmit_request(m, sizeof(m), &rr)));
		RAW_EXPECT(&X, TKX_RETRANSMIT_REJECT, &rm);
		CHECK(rm.m.retransmit_reject.reason == TKX_SREJ_NOT_ESTABLISHED &&
			      rm.m.retransmit_reject.session_id == 77 &&
			      rm.m.retransmit_reject.request_timestamp == rr.timestamp,
		      "RetransmitReject reason %s",
		      tkx_session_reject_name(rm.m.retransmit_reject.reason));
		d.n = 0;
		dg_seq(&d, 5);
		TRY(raw_send(&X, d.b, d.n));
		RAW_QUIET(&X);
		raw_close(&X);
		TRY(tel_snap(&t1));
		TRY(TEL_DELTA(&t0, &t1, "session_not_established", 1));
		TRY(TEL_DELTA(&t0, &t1, "session_retrans_not_established", 1));
		/* the stray Sequence (the first message of the NewOrder datagram is one too) */
		TRY(TEL_DELTA(&t0, &t1, "session_rx_no_session", 2));
	}
	step("validation: the session still works");
	cl = raw_order(&R, K, BUY, 23400, 1, GTC, 0);
	TRY(raw_exp_ack(&R, cl, K, BUY, 23400, 1, GTC, NULL));
	return 0;
}

/* A wrong UDP checksum: dropped by the packet layer before the session sees it. */
static int faults_checksum(void)
{
	const uint32_t K = g_opt.contract2;
	const uint8_t *p;
	struct dg d;
	static struct tel t0, t1;
	uint64_t n;

	step("checksum: a right checksum through the raw socket is answered");
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, ++R.cl, K, BUY, 23300, 1, GTC, 0);
	p = raw_seal(&R, d.b, &d.n); /* R's own datagram, sent another way */
	TRY(send_udp_csum(&R.local, &g_opt.udp, p, d.n, 0));
	TRY(raw_exp_ack(&R, R.cl, K, BUY, 23300, 1, GTC, NULL));
	step("checksum: a wrong one is dropped and counted");
	TRY(tel_snap(&t0));
	R.heartbeat = 0; /* until the next order: a heartbeat would show the gap first */
	n = R.out_next++;
	d.n = 0;
	dg_seq(&d, n);
	dg_new(&d, ++R.cl, K, BUY, 23300, 1, GTC, 0);
	p = raw_seal(&R, d.b, &d.n);
	TRY(send_udp_csum(&R.local, &g_opt.udp, p, d.n, 1));
	RAW_QUIET(&R);
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "net_drop_udp_csum", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_rx_dgrams", 0));
	step("checksum: the next datagram reports it NotApplied");
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, R.cl, K, BUY, 23300, 1, GTC, 0); /* never used: the same cl_ord_id */
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_not_applied(&R, n, 1));
	TRY(raw_exp_ack(&R, R.cl, K, BUY, 23300, 1, GTC, NULL));
	R.heartbeat = 1;
	return 0;
}

static int faults_session_rejects(void)
{
	static struct raw X;
	static struct tel t0, t1;
	uint8_t b[TKX_MAX_MSG_LEN];
	struct rmsg m;
	uint64_t ts;
	int len;

	TRY(tel_snap(&t0));
	TRY(raw_open(&X, "login/raw", 1, new_sid(30)));
	step("session: Negotiate with a wrong secret: BAD_CREDENTIALS");
	ts = real_ns();
	len = raw_negotiate_msg(&X, 1, "not-the-secret", ts, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_NEGOTIATION_REJECT, &m);
	CHECK(m.m.negotiation_reject.reason == TKX_SREJ_BAD_CREDENTIALS &&
		      m.m.negotiation_reject.session_id == X.sid &&
		      m.m.negotiation_reject.request_timestamp == ts,
	      "NegotiationReject %s", tkx_session_reject_name(m.m.negotiation_reject.reason));
	step("session: Negotiate for firm 99: UNKNOWN_FIRM");
	ts = real_ns();
	len = raw_negotiate_msg(&X, 99, firm_secret(1), ts, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_NEGOTIATION_REJECT, &m);
	CHECK(m.m.negotiation_reject.reason == TKX_SREJ_UNKNOWN_FIRM,
	      "NegotiationReject %s", tkx_session_reject_name(m.m.negotiation_reject.reason));
	step("session: Negotiate 60 s old: STALE_TIMESTAMP");
	ts = real_ns() - 60000000000ull;
	len = raw_negotiate_msg(&X, 1, firm_secret(1), ts, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_NEGOTIATION_REJECT, &m);
	CHECK(m.m.negotiation_reject.reason == TKX_SREJ_STALE_TIMESTAMP,
	      "NegotiationReject %s", tkx_session_reject_name(m.m.negotiation_reject.reason));
	step("session: Establish before Negotiate: NOT_NEGOTIATED");
	len = raw_establish_msg(&X, firm_secret(1), real_ns(), 1000, 1, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_ESTABLISHMENT_REJECT, &m);
	CHECK(m.m.establishment_reject.reason == TKX_SREJ_NOT_NEGOTIATED,
	      "EstablishmentReject %s", tkx_session_reject_name(m.m.establishment_reject.reason));
	step("session: Negotiate, then Establish with a wrong secret and a bad keepalive");
	ts = real_ns();
	len = raw_negotiate_msg(&X, 1, firm_secret(1), ts, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_NEGOTIATION_RESPONSE, &m);
	len = raw_establish_msg(&X, "not-the-secret", real_ns(), 1000, 1, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_ESTABLISHMENT_REJECT, &m);
	CHECK(m.m.establishment_reject.reason == TKX_SREJ_BAD_CREDENTIALS,
	      "EstablishmentReject %s", tkx_session_reject_name(m.m.establishment_reject.reason));
	len = raw_establish_msg(&X, firm_secret(1), real_ns(), 50, 1, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_ESTABLISHMENT_REJECT, &m);
	CHECK(m.m.establishment_reject.reason == TKX_SREJ_BAD_KEEPALIVE,
	      "EstablishmentReject %s", tkx_session_reject_name(m.m.establishment_reject.reason));
	step("session: still NEGOTIATED: a good Establish is acked, Terminate answered");
	ts = real_ns();
	len = raw_establish_msg(&X, firm_secret(1), ts, 1000, 1, b);
	TRY(raw_send(&X, b, (size_t)len));
	RAW_EXPECT(&X, TKX_ESTABLISHMENT_ACK, &m);
	CHECK(m.m.establishment_ack.request_timestamp == ts &&
		      m.m.establishment_ack.next_seq_no == 1 &&
		      m.m.establishment_ack.expected_seq_no == 1,
	      "EstablishmentAck fields");
	X.established = 1;
	TRY(raw_logout(&X));
	raw_close(&X);
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_neg_bad_credentials", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_neg_unknown_firm", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_neg_stale", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_est_not_negotiated", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_est_bad_credentials", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_est_bad_keepalive", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_neg_ok", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_est_ok", 1));
	return 0;
}

/* Inbound gaps: NotApplied with the exact range; late and duplicated datagrams. */
static int faults_inbound_gap(void)
{
	const uint32_t K = g_opt.contract2;
	static struct tel t0, t1;
	struct dg d;
	uint64_t n = R.out_next, last_cl;

	TRY(tel_snap(&t0));
	step("inbound gap: Sequence skips 3 numbers: NotApplied(n, 3), the order applied");
	d.n = 0;
	dg_seq(&d, n + 3);
	dg_new(&d, ++R.cl, K, BUY, 23200, 1, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_not_applied(&R, n, 3));
	TRY(raw_exp_ack(&R, R.cl, K, BUY, 23200, 1, GTC, NULL));
	R.out_next = n + 4;
	last_cl = R.cl;
	step("inbound gap: a late datagram for a reported number: never applied");
	d.n = 0;
	dg_seq(&d, n);
	dg_new(&d, ++R.cl, K, BUY, 23200, 1, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	RAW_QUIET(&R);
	step("inbound gap: a duplicate of an applied request: CLORDID_REUSED");
	d.n = 0;
	dg_seq(&d, n + 1);
	dg_new(&d, last_cl, K, BUY, 23200, 1, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_reject(&R, last_cl, 0, K, TKX_REJ_CLORDID_REUSED, TKX_NEW_ORDER));
	step("inbound gap: numbering goes on at n + 4");
	d.n = 0;
	dg_seq(&d, R.out_next++);
	dg_new(&d, ++R.cl, K, BUY, 23200, 1, GTC, 0);
	TRY(raw_send(&R, d.b, d.n));
	TRY(raw_exp_ack(&R, R.cl, K, BUY, 23200, 1, GTC, NULL));
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_gaps", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_gap_msgs", 3));
	TRY(TEL_DELTA(&t0, &t1, "session_rx_late", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_clordid_reused", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 2));
	return 0;
}

static int retransmit_request(struct raw *r, uint64_t from, uint32_t count, uint64_t *ts)
{
	struct tkx_retransmit_request rr = { .session_id = r->sid, .timestamp = real_ns(),
					     .from_seq_no = from, .count = count };
	uint8_t b[TKX_MAX_MSG_LEN];

	*ts = rr.timestamp;
	return raw_send(r, b, (size_t)tkx_enc_retransmit_request(b, sizeof(b), &rr));
}

static int exp_retransmit_reject(struct raw *r, uint64_t ts, int reason)
{
	struct rmsg m;

	RAW_EXPECT(r, TKX_RETRANSMIT_REJECT, &m);
	EXPECT_MSG(m.m.retransmit_reject.reason == reason &&
			   m.m.retransmit_reject.session_id == r->sid &&
			   m.m.retransmit_reject.request_timestamp == ts,
		   &m.m, "RetransmitReject(%s)", r->name, tkx_session_reject_name((unsigned)reason));
	return 0;
}

/* Outbound gap: replies the client never got, resent byte for byte on request. */
static int faults_outbound_gap(void)
{
	const uint32_t K = g_opt.contract2;
	static struct tel t0, t1;
	struct dg d;
	struct rmsg m;
	uint64_t first = R.in_next, cl0, ts;

	step("outbound gap: three acks in a datagram the client loses");
	d.n = 0;
	dg_seq(&d, R.out_next);
	R.out_next += 3;
	cl0 = R.cl + 1;
	for (int i = 0; i < 3; i++)
		dg_new(&d, ++R.cl, K, BUY, 23100 - 10 * i, 1, GTC, 0);
	R.dropping = 1;
	TRY(raw_send(&R, d.b, d.n));
	idle_ms(200);
	R.dropping = 0;
	REQUIRE(R.head == R.tail, "%s: the dropped answers were delivered", R.name);
	for (uint64_t s = first; s < first + 3; s++)
		REQUIRE(R.store_seq[s % RSTORE] == s, "no ExecAck #%llu came at all", (ull)s);
	step("outbound gap: the next answer shows it");
	{
		uint64_t cl = raw_order(&R, K, BUY, 23050, 1, GTC, 0);

		R.in_next = first + 3; /* what the client believes it missed, skipped */
		RAW_EXPECT(&R, TKX_EXEC_ACK, &m);
		REQUIRE(m.seq == first + 3 && m.m.exec_ack.cl_ord_id == cl,
			"ExecAck #%llu for cl %llu, expected #%llu", (ull)m.seq,
			(ull)m.m.exec_ack.cl_ord_id, (ull)(first + 3));
		R.in_next = first; /* rewind: the resent ones come next */
	}
	step("outbound gap: RetransmitRequest(%llu, 3) is answered with the same bytes",
	     (ull)first);
	TRY(tel_snap(&t0));
	{
		uint8_t orig[3][TKX_MAX_MSG_LEN];
		uint16_t olen[3];

		for (int i = 0; i < 3; i++) {
			olen[i] = R.store_len[(first + (uint64_t)i) % RSTORE];
			memcpy(orig[i], R.store[(first + (uint64_t)i) % RSTORE], olen[i]);
		}
		TRY(retransmit_request(&R, first, 3, &ts));
		RAW_EXPECT(&R, TKX_RETRANSMISSION, &m);
		REQUIRE(m.m.retransmission.session_id == R.sid &&
				m.m.retransmission.request_timestamp == ts &&
				m.m.retransmission.next_seq_no == first && m.m.retransmission.count == 3,
			"Retransmission(session %llu from %llu count %u)",
			(ull)m.m.retransmission.session_id, (ull)m.m.retransmission.next_seq_no,
			m.m.retransmission.count);
		for (int i = 0; i < 3; i++) {
			RAW_EXPECT(&R, TKX_EXEC_ACK, &m);
			CHECK(m.seq == first + (uint64_t)i && m.len == olen[i] &&
				      memcmp(m.bytes, orig[i], olen[i]) == 0,
			      "resent #%llu differs from the original", (ull)m.seq);
			CHECK(is_ack(&m.m, cl0 + (uint64_t)i, K, BUY, 23100 - 10 * i, 1, GTC),
			      "resent ExecAck #%llu fields", (ull)m.seq);
		}
		R.in_next = first + 4;
	}
	step("outbound gap: requests the exchange refuses");
	TRY(retransmit_request(&R, R.in_next, 1, &ts));
	TRY(exp_retransmit_reject(&R, ts, TKX_SREJ_OUT_OF_RANGE));
	TRY(retransmit_request(&R, first, 0, &ts));
	TRY(exp_retransmit_reject(&R, ts, TKX_SREJ_OUT_OF_RANGE));
	TRY(retransmit_request(&R, 1, 257, &ts));
	TRY(exp_retransmit_reject(&R, ts, TKX_SREJ_TOO_MANY));
	step("outbound gap: two requests in one datagram: the second UNSPECIFIED");
	{
		struct tkx_retransmit_request r1 = { .session_id = R.sid, .timestamp = real_ns(),
						     .from_seq_no = first, .count = 1 };
		struct tkx_retransmit_request r2 = r1;
		uint8_t b[TKX_MAX_MSG_LEN];
		int saw_rt = 0, saw_rj = 0, saw_ack = 0;

		r2.timestamp++;
		d.n = 0;
		dg_put(&d, b, tkx_enc_retransmit_request(b, sizeof(b), &r1));
		dg_put(&d, b, tkx_enc_retransmit_request(b, sizeof(b), &r2));
		TRY(raw_send(&R, d.b, d.n));
		R.in_next = first; /* the resent one is numbered `first` again */
		for (int i = 0; i < 3; i++) {
			if (raw_next(&R, &m, WAIT_MS) < 0)
				break;
			if (m.m.template_id == TKX_RETRANSMISSION)
				saw_rt = m.m.retransmission.request_timestamp == r1.timestamp;
			else if (m.m.template_id == TKX_RETRANSMIT_REJECT)
				saw_rj = m.m.retransmit_reject.reason == TKX_SREJ_UNSPECIFIED &&
					 m.m.retransmit_reject.request_timestamp == r2.timestamp;
			else if (m.m.template_id == TKX_EXEC_ACK)
				saw_ack = m.seq == first;
		}
		CHECK(saw_rt && saw_rj && saw_ack,
		      "expected Retransmission + ExecAck #%llu and RetransmitReject UNSPECIFIED "
		      "(saw %d %d %d)", (ull)first, saw_rt, saw_ack, saw_rj);
		R.in_next = first + 4;
	}
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_retrans_ok", 2));
	TRY(TEL_DELTA(&t0, &t1, "session_retrans_msgs", 4));
	TRY(TEL_DELTA(&t0, &t1, "session_retrans_out_of_range", 2));
	TRY(TEL_DELTA(&t0, &t1, "session_retrans_too_many", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_retrans_extra", 1));
	step("outbound gap: the session goes on");
	{
		uint64_t cl = raw_order(&R, K, BUY, 23040, 1, GTC, 0);

		TRY(raw_exp_ack(&R, cl, K, BUY, 23040, 1, GTC, NULL));
	}
	return 0;
}

/* A UDP client that stops sending: keepalive timeout, cancel-on-disconnect, and what it
 * finds when it comes back. */
static int faults_vanish_udp(void)
{
	const uint32_t K = g_opt.contract2;
	static struct peer V, V2;
	static struct tel t0, t1;
	struct tkx_client_stats st;
	struct tkx_client_event ev;
	struct peer_args pa = { .tcp = 0, .firm = 1, .keepalive_ms = 200, .cod = 1,
				.sid = new_sid(40) };
	uint64_t c1, c2, o1, o2, oid, cl, t_freeze, t_gone;
	int rc = -1;

	step("vanish/udp: a client with keepalive 200 ms rests a bid and an offer");
	if (peer_open(&V, "vanish/udp", &pa) < 0)
		goto out;
	c1 = p_new(&V, K, BUY, 24500, 2, GTC, 0);
	if (exp_ack(&V, c1, K, BUY, 24500, 2, GTC, &o1) < 0 ||
	    md_tob_(K, 24500, 2, NUL, 0, __LINE__) < 0)
		goto out;
	c2 = p_new(&V, K, SELL, 25500, 3, GTC, 0);
	if (exp_ack(&V, c2, K, SELL, 25500, 3, GTC, &o2) < 0 ||
	    md_tob_(K, 24500, 2, 25500, 3, __LINE__) < 0)
		goto out;
	step("vanish/udp: it stops; the exchange times it out and its orders leave");
	if (tel_snap(&t0) < 0)
		goto out;
	/* It goes silent right after a heartbeat, whose time is known from below: t_freeze
	 * is read before the poll that sends it. The exchange times it out 3 x 200 ms after
	 * receiving its last message, so not before t_freeze + 600 ms, however slowly this
	 * process runs on a loaded machine (pump_all skips V meanwhile). */
	V.frozen = 1;
	{
		struct tkx_client_stats s0, s1;
		struct tkx_client_event evs[32];
		uint64_t end = mono_ms() + (uint64_t)WAIT_MS;

		tkx_client_stats_get(V.c, &s0);
		for (;;) {
			t_freeze = mono_ms();
			int n = tkx_client_poll(V.c, 0, evs, 32);

			for (int j = 0; j < n && PQ - (V.tail - V.head) > 0; j++)
				V.q[V.tail++ % PQ] = evs[j];
			tkx_client_stats_get(V.c, &s1);
			if (s1.tx_heartbeats > s0.tx_heartbeats)
				break;
			if (!CHECK(n >= 0 && mono_ms() < end, "vanish/udp: no heartbeat from the "
				   "client in %d ms (poll %d)", WAIT_MS, n))
				goto out;
			pump_all(1);
		}
	}
	if (md_tob_(K, 23500, 1, NUL, 0, __LINE__) < 0)
		goto out;
	t_gone = mono_ms();
	/* 5 ms for the clocks' millisecond rounding and the exchange reading its time just
	 * before the datagram's burst. */
	CHECK(t_gone - t_freeze >= 595 && t_gone - t_freeze <= (uint64_t)WAIT_MS,
	      "orders left %llu ms after the client's last heartbeat (at least 600 ms expected: "
	      "3 x its keepalive of 200 ms)", (ull)(t_gone - t_freeze));
	if (tel_snap(&t1) < 0 || TEL_DELTA(&t0, &t1, "session_term_keepalive", 1) < 0 ||
	    TEL_DELTA(&t0, &t1, "session_session_gone", 1) < 0)
		goto out;
	step("vanish/udp: the other firm cannot trade against them");
	cl = p_new(&FB, K, SELL, 24500, 2, IOC, 21);
	if (exp_ack(&FB, cl, K, SELL, 24500, 2, IOC, &oid) < 0 ||
	    exp_cancelled(&FB, cl, oid, cl, K, SELL, 2, TKX_CXL_IOC) < 0)
		goto out;
	cl = p_new(&FB, K, BUY, 25500, 3, IOC, 21);
	if (exp_ack(&FB, cl, K, BUY, 25500, 3, IOC, &oid) < 0 ||
	    exp_cancelled(&FB, cl, oid, cl, K, BUY, 3, TKX_CXL_IOC) < 0)
		goto out;
	step("vanish/udp: back, it reads Terminate KEEPALIVE_TIMEOUT");
	V.frozen = 0;
	if (PEER_EXPECT(&V, TKX_TERMINATE, &ev) < 0)
		goto out;
	CHECK(ev.msg.terminate.reason == TKX_TERM_KEEPALIVE_TIMEOUT, "Terminate reason %s",
	      tkx_terminate_reason_name(ev.msg.terminate.reason));
	tkx_client_stats_get(V.c, &st);
	peer_close(&V);
	step("vanish/udp: it resumes the session and recovers the two Cancelled DISCONNECT");
	pa.resume = &st;
	if (peer_open(&V2, "vanish/udp again", &pa) < 0)
		goto out;
	if (PEER_EXPECT(&V2, TKX_RETRANSMISSION, &ev) < 0)
		goto out;
	for (int i = 0; i < 2; i++) {
		if (PEER_EXPECT(&V2, TKX_CANCELLED, &ev) < 0)
			goto out;
		CHECK((ev.flags & TKX_CLIENT_EVF_RETRANSMITTED) &&
			      ev.msg.cancelled.reason == TKX_CXL_DISCONNECT &&
			      ev.msg.cancelled.contract_id == K &&
			      ((ev.msg.cancelled.orig_cl_ord_id == c1 && ev.msg.cancelled.cl_ord_id == c1 &&
				ev.msg.cancelled.qty == 2 && ev.msg.cancelled.side == BUY) ||
			       (ev.msg.cancelled.orig_cl_ord_id == c2 && ev.msg.cancelled.cl_ord_id == c2 &&
				ev.msg.cancelled.qty == 3 && ev.msg.cancelled.side == SELL)),
		      "resent Cancelled DISCONNECT: got cl %llu orig %llu qty %u reason %s flags %#x",
		      (ull)ev.msg.cancelled.cl_ord_id, (ull)ev.msg.cancelled.orig_cl_ord_id,
		      ev.msg.cancelled.qty, tkx_cancel_reason_name(ev.msg.cancelled.reason),
		      ev.flags);
	}
	if (peer_terminate(&V2) < 0)
		goto out;
	rc = 0;
out:
	if (V.c)
		peer_close(&V);
	if (V2.c)
		peer_close(&V2);
	return rc;
}

/* TCP clients that close without Terminate: with cancel-on-disconnect their orders leave;
 * without it they stay and trade, and the fill waits for the session's return. */
static int faults_vanish_tcp(void)
{
	const uint32_t K = g_opt.contract2;
	static struct peer V, W, W2;
	static struct tel t0, t1;
	struct tkx_client_event ev;
	struct tkx_client_stats st;
	struct peer_args pa = { .tcp = 1, .firm = 2, .cod = 1, .sid = new_sid(50) };
	struct tkx_fill fa, fr;
	uint64_t c1, o1, cl, oid;
	int rc = -1;

	step("vanish/tcp: a TCP client with cancel-on-disconnect offers 1 @ 25400");
	if (peer_open(&V, "vanish/tcp", &pa) < 0)
		goto out;
	c1 = p_new(&V, K, SELL, 25400, 1, GTC, 21);
	if (exp_ack(&V, c1, K, SELL, 25400, 1, GTC, &o1) < 0 ||
	    md_tob_(K, 23500, 1, 25400, 1, __LINE__) < 0)
		goto out;
	step("vanish/tcp: it closes the connection; its offer leaves the book");
	if (tel_snap(&t0) < 0)
		goto out;
	shutdown(tkx_client_fd(V.c), SHUT_RDWR);
	if (peer_next(&V, &ev, WAIT_MS) < 0 ||
	    !CHECK(ev.kind == TKX_CLIENT_EV_CLOSED, "vanish/tcp: expected CLOSED, got %u", ev.kind))
		goto out;
	if (md_tob_(K, 23500, 1, NUL, 0, __LINE__) < 0)
		goto out;
	if (tel_snap(&t1) < 0 || TEL_DELTA(&t0, &t1, "session_term_disconnect", 1) < 0 ||
	    TEL_DELTA(&t0, &t1, "session_session_gone", 1) < 0)
		goto out;
	step("vanish/tcp: firm 1 cannot lift it");
	cl = raw_order(&R, K, BUY, 25400, 1, IOC, 0);
	if (raw_exp_ack(&R, cl, K, BUY, 25400, 1, IOC, &oid) < 0)
		goto out;
	{
		struct rmsg m;

		if (raw_expect_(&R, TKX_CANCELLED, &m, __LINE__) < 0)
			goto out;
		CHECK(is_cancelled(&m.m, cl, oid, cl, K, BUY, 1, TKX_CXL_IOC), "IOC not cancelled whole");
	}
	peer_close(&V);

	step("no cancel-on-disconnect: a TCP client offers 2 @ 25300 and closes");
	pa = (struct peer_args){ .tcp = 1, .firm = 2, .cod = 0, .sid = new_sid(51) };
	if (peer_open(&W, "keep/tcp", &pa) < 0)
		goto out;
	c1 = p_new(&W, K, SELL, 25300, 2, GTC, 22);
	if (exp_ack(&W, c1, K, SELL, 25300, 2, GTC, &o1) < 0 ||
	    md_tob_(K, 23500, 1, 25300, 2, __LINE__) < 0)
		goto out;
	tkx_client_stats_get(W.c, &st);
	shutdown(tkx_client_fd(W.c), SHUT_RDWR);
	if (peer_next(&W, &ev, WAIT_MS) < 0 ||
	    !CHECK(ev.kind == TKX_CLIENT_EV_CLOSED, "keep/tcp: expected CLOSED, got %u", ev.kind))
		goto out;
	peer_close(&W);
	step("no cancel-on-disconnect: the offer stays and trades");
	if (md_quiet_(K, 300, __LINE__) < 0)
		goto out;
	cl = raw_order(&R, K, BUY, 25300, 2, GTC, 0);
	if (raw_exp_ack(&R, cl, K, BUY, 25300, 2, GTC, &oid) < 0)
		goto out;
	{
		struct rmsg m;

		if (raw_expect_(&R, TKX_FILL, &m, __LINE__) < 0)
			goto out;
		if (!CHECK(is_fill(&m.m, cl, oid, K, BUY, 25300, 2, 0, 1), "aggressor Fill fields"))
			goto out;
		fa = m.m.fill;
	}
	step("no cancel-on-disconnect: back, the session recovers its Fill");
	pa.resume = &st;
	if (peer_open(&W2, "keep/tcp again", &pa) < 0)
		goto out;
	if (PEER_EXPECT(&W2, TKX_RETRANSMISSION, &ev) < 0)
		goto out;
	if (PEER_EXPECT(&W2, TKX_FILL, &ev) < 0)
		goto out;
	fr = ev.msg.fill;
	CHECK((ev.flags & TKX_CLIENT_EVF_RETRANSMITTED) &&
		      is_fill(&ev.msg, c1, o1, K, SELL, 25300, 2, 0, 0),
	      "recovered Fill: cl %llu qty %u leaves %u aggr %u", (ull)fr.cl_ord_id, fr.qty,
	      fr.leaves_qty, fr.aggressor);
	if (md_trade_(K, &fa, &fr, __LINE__) < 0 || md_tob_(K, 23500, 1, NUL, 0, __LINE__) < 0)
		goto out;
	if (peer_terminate(&W2) < 0)
		goto out;
	rc = 0;
out:
	if (V.c)
		peer_close(&V);
	if (W.c)
		peer_close(&W);
	if (W2.c)
		peer_close(&W2);
	return rc;
}

/* Bytes on the TCP stream as they are: frames built by hand. */
static void frame(struct dg *d, uint32_t flen, uint16_t enc, const void *msg, size_t n)
{
	uint8_t h[TKX_SOFH_LEN] = {
		(uint8_t)(flen >> 24), (uint8_t)(flen >> 16), (uint8_t)(flen >> 8), (uint8_t)flen,
		(uint8_t)(enc >> 8), (uint8_t)enc,
	};

	dg_put(d, h, TKX_SOFH_LEN);
	dg_put(d, msg, (int)n);
}

/* TCP framing (protocol 3.2, 7.1): a frame whose message does not decode, or whose length
 * is not its message's, is dropped and counted; a bad SOFH cannot be skipped: the
 * exchange closes the connection, and cancel-on-disconnect applies. */
static int faults_tcp_framing(void)
{
	const uint32_t K = g_opt.contract2;
	static struct raw T, U;
	static struct tel t0, t1;
	struct tkx_new_order no = { .price = 25200, .qty = 1, .contract_id = K, .side = SELL,
				    .tif = GTC };
	uint8_t m[2 * TKX_MAX_MSG_LEN];
	struct tkx_hdr h;
	struct dg d;
	uint64_t cl;
	int len, rc = -1;

#define S(x)                      \
	do {                      \
		if ((x) < 0)      \
			goto out; \
	} while (0)
	step("tcp framing: a hand-built TCP session offers 1 @ 25200");
	S(raw_open_tcp(&T, "firm2/rawtcp", 2, new_sid(80)));
	S(raw_login(&T, KA_MS, 1, 1));
	cl = raw_order(&T, K, SELL, 25200, 1, GTC, 0);
	S(raw_exp_ack(&T, cl, K, SELL, 25200, 1, GTC, NULL));
	S(md_tob_(K, 23500, 1, 25200, 1, __LINE__));
	S(tel_snap(&t0));

	step("tcp framing: a frame with an unknown template: dropped");
	no.cl_ord_id = ++T.cl;
	len = tkx_enc_new_order(m, sizeof(m), &no);
	memcpy(&h, m, sizeof(h));
	h.template_id = 150;
	memcpy(m, &h, sizeof(h));
	d.n = 0;
	frame(&d, (uint32_t)(TKX_SOFH_LEN + len), TKX_SOFH_ENCODING, m, (size_t)len);
	S(raw_send(&T, d.b, d.n));
	S(raw_quiet_(&T, __LINE__));

	step("tcp framing: a NewOrder frame one byte longer than its message: dropped");
	h.template_id = TKX_NEW_ORDER;
	memcpy(m, &h, sizeof(h));
	m[len] = 0;
	d.n = 0;
	frame(&d, (uint32_t)(TKX_SOFH_LEN + len + 1), TKX_SOFH_ENCODING, m, (size_t)len + 1);
	S(raw_send(&T, d.b, d.n));
	S(raw_quiet_(&T, __LINE__));

	step("tcp framing: two NewOrders in one frame: dropped");
	memcpy(m + len, m, (size_t)len);
	d.n = 0;
	frame(&d, (uint32_t)(TKX_SOFH_LEN + 2 * len), TKX_SOFH_ENCODING, m, 2 * (size_t)len);
	S(raw_send(&T, d.b, d.n));
	S(raw_quiet_(&T, __LINE__));

	step("tcp framing: a frame shorter than its NewOrder: dropped");
	d.n = 0;
	frame(&d, (uint32_t)(TKX_SOFH_LEN + len - 10), TKX_SOFH_ENCODING, m, (size_t)len - 10);
	S(raw_send(&T, d.b, d.n));
	S(raw_quiet_(&T, __LINE__));
	S(md_quiet_(K, 10, __LINE__));
	S(tel_snap(&t1));
	S(TEL_DELTA(&t0, &t1, "session_app_forwarded", 0));
	S(TEL_DELTA(&t0, &t1, "session_rx_unknown_template", 1));

	step("tcp framing: the session still works; that cl_ord_id was never used");
	T.out_next++;
	d.n = 0;
	dg_new(&d, T.cl, K, SELL, 25200, 1, GTC, 0);
	S(raw_send_msg(&T, d.b, d.n));
	S(raw_exp_ack(&T, T.cl, K, SELL, 25200, 1, GTC, NULL));
	S(md_tob_(K, 23500, 1, 25200, 2, __LINE__));

	step("tcp framing: encoding type 0xEB51: the exchange closes, the offers leave");
	S(tel_snap(&t0));
	d.n = 0;
	frame(&d, (uint32_t)(TKX_SOFH_LEN + 16), 0xEB51, m, 16);
	S(raw_send(&T, d.b, d.n));
	{
		uint64_t end = mono_ms() + WAIT_MS;

		while (!T.eof && mono_ms() < end)
			pump_all(1);
		S(CHECK(T.eof, "the connection stayed open after a bad SOFH") ? 0 : -1);
	}
	S(md_tob_(K, 23500, 1, NUL, 0, __LINE__));
	S(tel_snap(&t1));
	S(TEL_DELTA(&t0, &t1, "session_term_disconnect", 1));
	S(TEL_DELTA(&t0, &t1, "session_session_gone", 1));

	step("tcp framing: frame lengths 10 and 135 close the connection too");
	for (int i = 0; i < 2; i++) {
		uint64_t end = mono_ms() + WAIT_MS;

		S(raw_open_tcp(&U, "rawtcp/badlen", 2, new_sid(81 + (unsigned)i)));
		d.n = 0;
		frame(&d, i == 0 ? 10 : 135, TKX_SOFH_ENCODING, m, 16);
		S(raw_send(&U, d.b, d.n));
		while (!U.eof && mono_ms() < end)
			pump_all(1);
		S(CHECK(U.eof, "frame length %d: the connection stayed open", i == 0 ? 10 : 135) ? 0 : -1);
		S(CHECK(U.head == U.tail, "frame length %d: answered", i == 0 ? 10 : 135) ? 0 : -1);
		raw_close(&U);
	}
	rc = 0;
out:
#undef S
	raw_close(&T);
	raw_close(&U);
	return rc;
}

static int faults_end(void)
{
	const uint32_t K = g_opt.contract2;

	step("faults: log off; R's cancel-on-disconnect empties the book");
	TRY(raw_logout(&R));
	MD_TOB(K, NUL, 0, NUL, 0);
	TRY(peer_terminate(&FB));
	MD_QUIET(K, QUIET_MS);
	return 0;
}

/* ==== throttle ============================================================================ */

static int scenario_throttle(void)
{
	const uint32_t K = g_opt.contract;
	static struct peer O;
	static struct raw F;
	static struct tel t0, t1;
	struct peer_args pa = { .tcp = 1, .firm = 2, .cod = 1, .sid = new_sid(60) };
	struct dg d;
	struct rmsg m;
	uint64_t co, oo, cl, ts;
	int rc = -1;

#define S(x)                      \
	do {                      \
		if ((x) < 0)      \
			goto out; \
	} while (0)
	step("throttle: another session rests an offer");
	S(peer_open(&O, "other/tcp", &pa));
	co = p_new(&O, K, SELL, 25500, 1, GTC, 21);
	S(exp_ack(&O, co, K, SELL, 25500, 1, GTC, &oo));
	S(md_tob_(K, NUL, 0, 25500, 1, __LINE__));
	step("throttle: 23 orders in one datagram at 50/s, burst 10, grace 10");
	S(raw_open(&F, "flood/raw", 1, new_sid(61)));
	S(raw_login(&F, KA_MS, 1, 1));
	S(tel_snap(&t0));
	d.n = 0;
	dg_seq(&d, 1);
	for (unsigned i = 0; i < 23; i++) /* 56 bytes each: 23 fit a datagram */
		dg_new(&d, i + 1, K, BUY, 23000 + 10 * (int64_t)i, 1, GTC, 0);
	S(raw_send(&F, d.b, d.n));
	step("throttle: the 10 acks, then the 11th to 20th THROTTLED, then the Terminate (the "
	     "21st ended the session): replies in request order, all before the Terminate");
	for (unsigned i = 0; i < 10; i++)
		S(raw_exp_ack(&F, i + 1, K, BUY, 23000 + 10 * (int64_t)i, 1, GTC, NULL));
	for (unsigned i = 10; i < 20; i++) {
		S(raw_exp_reject(&F, i + 1, 0, K, TKX_REJ_THROTTLED, TKX_NEW_ORDER));
	}
	S(raw_expect_(&F, TKX_TERMINATE, &m, __LINE__));
	S(CHECK(m.m.terminate.reason == TKX_TERM_THROTTLE && m.m.terminate.session_id == F.sid,
		"Terminate reason %s", tkx_terminate_reason_name(m.m.terminate.reason)) ? 0 : -1);
	F.established = 0;
	S(raw_quiet_(&F, __LINE__));
	S(tel_snap(&t1));
	/* 11 over the rate: 10 answered THROTTLED, the 11th with the Terminate */
	S(TEL_DELTA(&t0, &t1, "session_throttled", 11));
	S(TEL_DELTA(&t0, &t1, "session_term_throttle", 1));
	S(TEL_DELTA(&t0, &t1, "session_rx_after_terminate", 1));
	S(TEL_DELTA(&t0, &t1, "session_app_forwarded", 10));
	S(TEL_DELTA(&t0, &t1, "session_session_gone", 1));
	step("throttle: the 10 accepted orders rested, then their cancel-on-disconnect ran (after "
	     "their replies and the Terminate)");
	S(md_tob_(K, 23090, 1, 25500, 1, __LINE__));
	S(md_tob_(K, NUL, 0, 25500, 1, __LINE__));
	S(md_quiet_(K, QUIET_MS, __LINE__));
	step("throttle: the other session is untouched");
	cl = p_cancel(&O, oo, K);
	S(exp_cancelled(&O, cl, oo, co, K, SELL, 1, TKX_CXL_CLIENT));
	S(md_tob_(K, NUL, 0, NUL, 0, __LINE__));
	co = p_new(&O, K, SELL, 25600, 1, GTC, 21);
	S(exp_ack(&O, co, K, SELL, 25600, 1, GTC, &oo));
	S(md_tob_(K, NUL, 0, 25600, 1, __LINE__));
	step("throttle: the flooder logs on again; 21 numbers were used, 30 answers kept (the "
	     "cancels of cancel-on-disconnect came after the Terminate)");
	F.out_next = 22;
	F.in_next = 21; /* it saw #1-#20 */
	S(raw_login(&F, KA_MS, 1, 31));
	S(retransmit_request(&F, 21, 10, &ts));
	S(raw_expect_(&F, TKX_RETRANSMISSION, &m, __LINE__));
	S(CHECK(m.m.retransmission.next_seq_no == 21 && m.m.retransmission.count == 10,
		"Retransmission from %llu count %u", (ull)m.m.retransmission.next_seq_no,
		m.m.retransmission.count) ? 0 : -1);
	{
		int seen[10] = { 0 };

		for (unsigned i = 0; i < 10; i++) {
			S(raw_expect_(&F, TKX_CANCELLED, &m, __LINE__));
			uint64_t o = m.m.cancelled.orig_cl_ord_id;
			S(CHECK(o >= 1 && o <= 10 && !seen[o - 1] && m.m.cancelled.cl_ord_id == o &&
					m.m.cancelled.reason == TKX_CXL_DISCONNECT &&
					m.m.cancelled.qty == 1 && m.m.cancelled.side == BUY &&
					m.m.cancelled.contract_id == K,
				"resent Cancelled: cl %llu orig %llu %s", (ull)m.m.cancelled.cl_ord_id,
				(ull)o, tkx_cancel_reason_name(m.m.cancelled.reason)) ? 0 : -1);
			seen[o - 1] = 1;
		}
	}
	step("throttle: a THROTTLED cl_ord_id was not used up: 11 is accepted now");
	d.n = 0;
	dg_seq(&d, F.out_next++);
	dg_new(&d, 11, K, BUY, 23000, 1, GTC, 0);
	S(raw_send(&F, d.b, d.n));
	S(raw_exp_ack(&F, 11, K, BUY, 23000, 1, GTC, NULL));
	S(md_tob_(K, 23000, 1, 25600, 1, __LINE__));
	step("throttle: log off");
	S(raw_logout(&F));
	S(md_tob_(K, NUL, 0, 25600, 1, __LINE__));
	S(peer_terminate(&O));
	S(md_tob_(K, NUL, 0, NUL, 0, __LINE__));
	rc = 0;
out:
#undef S
	raw_close(&F);
	if (O.c)
		peer_close(&O);
	return rc;
}

/* ==== busy: pipeline with a tiny ring ====================================================== */

#define BUSY_DGRAMS 14
#define BUSY_PER 25 /* 16 + 25 x 56 + a 24-byte DatagramAuth: within 1472 */

/* Every thread of pid is in the stopped state ('T' or 't' in /proc/PID/task/TID/stat). */
static int all_stopped(pid_t pid)
{
	char path[64];
	DIR *d;
	struct dirent *e;
	int n = 0, stopped = 0;

	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	d = opendir(path);
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		char sp[96], buf[512];
		const char *rp;
		FILE *f;
		size_t len;

		if (e->d_name[0] == '.')
			continue;
		snprintf(sp, sizeof(sp), "/proc/%d/task/%.16s/stat", (int)pid, e->d_name);
		f = fopen(sp, "r");
		if (!f)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[len] = 0;
		rp = strrchr(buf, ')'); /* the name may hold spaces: the state follows ") " */
		n++;
		if (rp && (rp[2] == 'T' || rp[2] == 't'))
			stopped++;
	}
	closedir(d);
	return n > 0 && stopped == n;
}

/* Pauses the appliance (SIGSTOP, every thread stopped) so that a burst queues whole in
 * its TAP and reaches the RX core in one rx burst: more requests than the pipeline can
 * hold (request ring 63 + the matching core's burst 32 and output buffer 64 + reply ring
 * 63) arrive before any reply ring is drained, whatever the number of CPUs. */
static int appliance_pause(pid_t pid)
{
	uint64_t end = mono_ms() + WAIT_MS;

	REQUIRE(kill(pid, SIGSTOP) == 0, "SIGSTOP %d: %s", (int)pid, strerror(errno));
	while (!all_stopped(pid)) {
		if (mono_ms() >= end) {
			kill(pid, SIGCONT);
			REQUIRE(0, "tokexd (%d) not stopped within %d ms", (int)pid, WAIT_MS);
		}
		pump_all(1);
	}
	return 0;
}

/* ==== spoof: forged source addresses into an established UDP session ======================== */

static int scenario_spoof(void)
{
	const uint32_t K = g_opt.contract;
	static struct raw A;
	static struct tel t0, t1;
	uint8_t m[TKX_MAX_MSG_LEN];
	struct dg d;
	uint64_t cl;
	unsigned refused = 0;

	step("spoof: a member's UDP session");
	TRY(raw_open(&A, "firm1/raw", 1, new_sid(40)));
	TRY(raw_login(&A, 1000, 1, 1));
	REQUIRE(A.keyed == !g_opt.auth_off, "%s: the exchange's answers %s sealed", A.name,
		A.keyed ? "are" : "are not");
	cl = raw_order(&A, K, BUY, 24000, 1, GTC, 0);
	TRY(raw_exp_ack(&A, cl, K, BUY, 24000, 1, GTC, NULL));

	step("spoof: a NewOrder with cl_ord_id 2^64-1 from the session's address (raw socket)");
	TRY(tel_snap(&t0));
	d.n = 0;
	dg_seq(&d, A.out_next);
	dg_new(&d, UINT64_MAX, K, BUY, 24000, 1, GTC, 0);
	TRY(send_udp_csum(&A.local, &g_opt.udp, d.b, d.n, 0));
	if (g_opt.auth_off) {
		/* The control: executed, and the session can place nothing any more. */
		TRY(raw_exp_ack(&A, UINT64_MAX, K, BUY, 24000, 1, GTC, NULL));
		A.out_next++;
		d.n = 0;
		dg_seq(&d, A.out_next++);
		dg_new(&d, ++A.cl, K, BUY, 24000, 1, GTC, 0);
		TRY(raw_send(&A, d.b, d.n));
		TRY(raw_exp_reject(&A, A.cl, 0, K, TKX_REJ_CLORDID_REUSED, TKX_NEW_ORDER));
		TRY(tel_snap(&t1));
		TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 1));
		printf("E2E spoof executed 1\n");
		return 0;
	}
	RAW_QUIET(&A);
	refused++;

	step("spoof: a Terminate from the session's address");
	{
		struct tkx_terminate tm = { .session_id = A.sid, .reason = TKX_TERM_FINISHED };

		d.n = 0;
		dg_put(&d, m, tkx_enc_terminate(m, sizeof(m), &tm));
		TRY(send_udp_csum(&A.local, &g_opt.udp, d.b, d.n, 0));
		RAW_QUIET(&A);
		refused++;
	}
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_auth_missing", 2));

	step("spoof: a NewOrder sealed with a made-up MAC");
	TRY(tel_snap(&t0));
	d.n = 0;
	dg_seq(&d, A.out_next);
	dg_new(&d, A.cl + 1, K, BUY, 24000, 1, GTC, 0);
	{
		struct tkx_datagram_auth au = { .counter = A.auth_tx + 1000,
						.mac = { 1, 2, 3, 4, 5, 6, 7, 8 } };

		dg_put(&d, m, tkx_enc_datagram_auth(m, sizeof(m), &au));
	}
	TRY(send_udp_csum(&A.local, &g_opt.udp, d.b, d.n, 0));
	RAW_QUIET(&A);
	refused++;
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_auth_bad_mac", 1));

	step("spoof: the session's own sealed datagram, played again");
	cl = raw_order(&A, K, BUY, 24010, 1, GTC, 0);
	TRY(raw_exp_ack(&A, cl, K, BUY, 24010, 1, GTC, NULL));
	TRY(tel_snap(&t0));
	TRY(send_udp_csum(&A.local, &g_opt.udp, A.last_sealed, A.last_sealed_len, 0));
	RAW_QUIET(&A);
	refused++;
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "session_auth_replay", 1));
	TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", 0));
	TRY(TEL_DELTA(&t0, &t1, "session_clordid_reused", 0));

	step("spoof: the session is untouched: numbering and cl_ord_ids go on");
	cl = raw_order(&A, K, BUY, 24020, 1, GTC, 0);
	TRY(raw_exp_ack(&A, cl, K, BUY, 24020, 1, GTC, NULL));
	TRY(raw_logout(&A));
	raw_close(&A);
	printf("E2E spoof refused %u\n", refused);
	return 0;
}

static int scenario_busy(void)
{
	const uint32_t K = g_opt.contract;
	const unsigned N = BUSY_DGRAMS * BUSY_PER;
	static struct raw Q;
	static struct tel t0, t1;
	static uint8_t answered[BUSY_DGRAMS * BUSY_PER + 1];
	static uint8_t acked[BUSY_DGRAMS * BUSY_PER + 1];
	static struct dg d[BUSY_DGRAMS];
	unsigned n_ack = 0, n_busy = 0, got = 0;
	int64_t best = 0;
	uint64_t best_qty = 0;
	struct rmsg m;
	uint64_t cl;

	step("busy: log on");
	TRY(raw_open(&Q, "burst/raw", 1, new_sid(70)));
	TRY(raw_login(&Q, KA_MS, 1, 1));
	TRY(tel_snap(&t0));
	step("busy: %u orders in %u back-to-back datagrams", N, BUSY_DGRAMS);
	for (unsigned j = 0; j < BUSY_DGRAMS; j++) {
		d[j].n = 0;
		dg_seq(&d[j], Q.out_next);
		for (unsigned i = 0; i < BUSY_PER; i++) {
			unsigned x = j * BUSY_PER + i;

			dg_new(&d[j], ++Q.cl, K, BUY, 23000 + 10 * (int64_t)(x % 100), 1, GTC, 0);
			Q.out_next++;
		}
		const uint8_t *p = raw_seal(&Q, d[j].b, &d[j].n);

		memmove(d[j].b, p, d[j].n);
	}
	{
		struct mmsghdr mm[BUSY_DGRAMS];
		struct iovec iov[BUSY_DGRAMS];
		int s;

		memset(mm, 0, sizeof(mm));
		for (unsigned j = 0; j < BUSY_DGRAMS; j++) {
			iov[j].iov_base = d[j].b;
			iov[j].iov_len = d[j].n;
			mm[j].msg_hdr.msg_iov = &iov[j];
			mm[j].msg_hdr.msg_iovlen = 1;
		}
		if (g_opt.pid)
			TRY(appliance_pause(g_opt.pid));
		s = sendmmsg(Q.fd, mm, BUSY_DGRAMS, 0);
		if (g_opt.pid)
			kill(g_opt.pid, SIGCONT);
		REQUIRE(s == BUSY_DGRAMS, "sendmmsg: %d (%s)", s, s < 0 ? strerror(errno) : "short");
		Q.last_tx_ms = mono_ms();
	}
	step("busy: every request answered exactly once, ExecAck or ExecReject BUSY");
	while (got < N) {
		if (raw_next(&Q, &m, 5000) < 0)
			break;
		if (m.m.template_id == TKX_EXEC_ACK) {
			cl = m.m.exec_ack.cl_ord_id;
			REQUIRE(cl >= 1 && cl <= N && !answered[cl], "ExecAck for cl %llu twice or unknown",
				(ull)cl);
			CHECK(is_ack(&m.m, cl, K, BUY, 23000 + 10 * (int64_t)((cl - 1) % 100), 1, GTC),
			      "ExecAck cl %llu fields", (ull)cl);
			answered[cl] = acked[cl] = 1;
			n_ack++;
		} else if (m.m.template_id == TKX_EXEC_REJECT) {
			cl = m.m.exec_reject.cl_ord_id;
			REQUIRE(cl >= 1 && cl <= N && !answered[cl], "ExecReject for cl %llu twice or unknown",
				(ull)cl);
			CHECK(is_reject(&m.m, cl, 0, K, TKX_REJ_BUSY, TKX_NEW_ORDER),
			      "ExecReject cl %llu: %s", (ull)cl,
			      tkx_reject_reason_name(m.m.exec_reject.reason));
			answered[cl] = 1;
			n_busy++;
		} else {
			char t[256];

			msg_text(&m.m, t, sizeof(t));
			REQUIRE(0, "unexpected %s", t);
		}
		got++;
	}
	printf("  busy: %u orders: %u acked, %u BUSY\n", N, n_ack, n_busy);
	printf("E2E busy %u\n", n_busy);
	REQUIRE(got == N, "%u of %u requests answered", got, N);
	RAW_QUIET(&Q);
	CHECK(n_busy > 0, "the ring never filled: no BUSY");
	CHECK(n_ack > 0, "nothing was accepted");
	TRY(tel_snap(&t1));
	TRY(TEL_DELTA(&t0, &t1, "rx_busy_rejects", n_busy));
	TRY(TEL_DELTA(&t0, &t1, "rx_orders_routed", n_ack));
	TRY(TEL_DELTA(&t0, &t1, "session_app_forwarded", N));
	TRY(TEL_DELTA(&t0, &t1, "match_requests", n_ack));
	step("busy: market data ends at the best accepted bid");
	for (unsigned x = 1; x <= N; x++)
		if (acked[x]) {
			int64_t px = 23000 + 10 * (int64_t)((x - 1) % 100);

			if (px > best) {
				best = px;
				best_qty = 0;
			}
			if (px == best)
				best_qty++;
		}
	{
		struct tkx_md_sub_event ev;
		uint64_t end = mono_ms() + WAIT_MS;
		int done = 0;

		while (!done && md_next(&ev, K, (int)(end > mono_ms() ? end - mono_ms() : 0)) == 0) {
			REQUIRE(ev.kind == TKX_MD_TOP_OF_BOOK, "unexpected market data %u", ev.kind);
			done = ev.msg.md_top_of_book.bid_price == best &&
			       ev.msg.md_top_of_book.bid_qty == best_qty &&
			       ev.msg.md_top_of_book.ask_price == NUL;
		}
		REQUIRE(done, "no TopOfBook(bid %llu @ %" PRId64 ")", (ull)best_qty, best);
		MD_QUIET(K, QUIET_MS);
	}
	step("busy: mass cancel takes every accepted order, one Cancelled each");
	{
		struct tkx_mass_cancel mc = { .cl_ord_id = ++Q.cl, .contract_id = K,
					      .scope = TKX_SCOPE_SESSION };
		uint8_t b[TKX_MAX_MSG_LEN];
		struct dg x = { .n = 0 };

		dg_seq(&x, Q.out_next++);
		dg_put(&x, b, tkx_enc_mass_cancel(b, sizeof(b), &mc));
		TRY(raw_send(&Q, x.b, x.n));
		for (unsigned i = 0; i < n_ack; i++) {
			RAW_EXPECT(&Q, TKX_CANCELLED, &m);
			uint64_t o = m.m.cancelled.orig_cl_ord_id;
			REQUIRE(o >= 1 && o <= N && acked[o] == 1 && m.m.cancelled.reason == TKX_CXL_MASS &&
					m.m.cancelled.cl_ord_id == mc.cl_ord_id,
				"Cancelled orig %llu reason %s", (ull)o,
				tkx_cancel_reason_name(m.m.cancelled.reason));
			acked[o] = 2;
		}
		RAW_EXPECT(&Q, TKX_MASS_CANCEL_ACK, &m);
		CHECK(m.m.mass_cancel_ack.count == n_ack && m.m.mass_cancel_ack.cl_ord_id == mc.cl_ord_id,
		      "MassCancelAck count %u, expected %u", m.m.mass_cancel_ack.count, n_ack);
		MD_TOB(K, NUL, 0, NUL, 0);
	}
	step("busy: the session goes on");
	cl = raw_order(&Q, K, SELL, 26000, 1, GTC, 0);
	TRY(raw_exp_ack(&Q, cl, K, SELL, 26000, 1, GTC, NULL));
	MD_TOB(K, NUL, 0, 26000, 1);
	TRY(raw_logout(&Q));
	MD_TOB(K, NUL, 0, NUL, 0);
	raw_close(&Q);
	return 0;
}

/* ==== main ============================================================================== */

/* ---- Market-data re-request limits ------------------------------------------------- */

/* mdreq.yaml's md.request_* (bytes of UDP payload). */
#define MDREQ_MAX_BYTES 1492
#define MDREQ_RATE 100000
#define MDREQ_BURST 65536
#define FLOOD_N 2000    /* re-requests the flooder sends */
#define FLOOD_BURST 10  /* ... this many every 10 ms: 1000 a second, some 15 times what
			 * its bucket answers, and not so many that a loaded host drops
			 * the subscriber's requests with them */

struct flood {
	int fd;
	uint64_t sent, bytes, pkts, answers, cur, max_answer;
	uint64_t t_first, t_last; /* CLOCK_MONOTONIC ns: first request sent, last reply read */
};

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Reads every reply waiting. Answers are told apart by their end markers (20 bytes): the
 * flooder asks for far more than one answer may carry, so every answer has one. */
static void flood_rx(struct flood *f)
{
	uint8_t b[2048];
	ssize_t n;

	while ((n = recv(f->fd, b, sizeof(b), MSG_DONTWAIT)) > 0) {
		f->t_last = mono_ns();
		f->bytes += (uint64_t)n;
		f->pkts++;
		f->cur += (uint64_t)n;
		if (n == TKX_MD_HDR_LEN) {
			f->answers++;
			if (f->cur > f->max_answer)
				f->max_answer = f->cur;
			f->cur = 0;
		}
	}
}

static int scenario_mdreq(void)
{
	static struct tel t0, t1;
	static struct tkx_md_sub_event ev[64];
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s = NULL;
	struct tkx_md_sub_stats st;
	struct sockaddr_in fa;
	struct tkx_md_hdr h;
	struct flood f = { .fd = -1 };
	uint8_t req[TKX_MD_HDR_LEN];
	uint64_t first = 1, live = 0, lost = 0, deadline, fl_rx, thr, served, all, bound, next;
	uint64_t t_begin, t_end; /* CLOCK_MONOTONIC ns around the two telemetry readings */
	int have_session = 0, rc = -1, rcvbuf = 4 << 20, r;

	/* Only the subscribers of this scenario ask for anything from our address. */
	if (g_md)
		md_close(g_md);
	/* ~1.3 s at 240 a second; a host so loaded that tokexd runs a tenth of the time
	 * takes ten times as long (the bound is for a hang). */
	step("market data: the stream reaches 300 messages");
	deadline = mono_ms() + (uint64_t)WAIT_MS;
	for (;;) {
		t_begin = mono_ns();
		TRY(tel_snap(&t0));
		if (tel_get(&t0, "md_messages") != UINT64_MAX && tel_get(&t0, "md_messages") >= 300)
			break;
		REQUIRE(mono_ms() < deadline, "md_messages still %llu after %d ms",
			(ull)tel_get(&t0, "md_messages"), WAIT_MS);
		idle_ms(100);
	}

	/* With --md-recover, a tokexd that published more than the subscriber's reorder
	 * window before the scenario: the subscriber joins as if it had missed the last
	 * md_recover messages. */
	if (g_opt.md_recover && tel_get(&t0, "md_messages") > g_opt.md_recover)
		first = tel_get(&t0, "md_messages") - g_opt.md_recover + 1;
	next = first;
	step("market data: a subscriber that expects the stream from %llu", (ull)first);
	tkx_md_sub_cfg_default(&cfg);
	cfg.group = g_opt.md;
	cfg.iface = g_opt.iface;
	cfg.rerequest = g_opt.md_req;
	cfg.first_seq = first;
	/* A loaded host may drop datagrams (the TAP's queue while tokexd waits for a CPU):
	 * re-sent at the timeout, more times than the library's default. */
	cfg.rerequest_retries = 20;
	r = tkx_md_sub_open(&s, &cfg);
	REQUIRE(r == 0, "tkx_md_sub_open: %s", strerror(-r));

	step("market data: the flooder's socket on %s", inet_ntoa(g_opt.flood_src));
	f.fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	memset(&fa, 0, sizeof(fa));
	fa.sin_family = AF_INET;
	fa.sin_addr = g_opt.flood_src;
	setsockopt(f.fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (!CHECK(f.fd >= 0 && bind(f.fd, (struct sockaddr *)&fa, sizeof(fa)) == 0 &&
			   connect(f.fd, (struct sockaddr *)&g_opt.md_req, sizeof(g_opt.md_req)) == 0,
		   "flood socket: %s", strerror(errno)))
		goto out;

	/* Flood and recovery at once, until both are done (bounded by WAIT_MS, a hang bound:
	 * on a loaded host recovery has taken longer than the 20 s this once allowed). */
	step("market data: %u re-requests from one address while the subscriber recovers",
	     FLOOD_N);
	deadline = mono_ms() + (uint64_t)WAIT_MS;
	while (mono_ms() < deadline && (f.sent < FLOOD_N || !live || next < live + 50)) {
		int i, n;

		if (have_session && f.sent < FLOOD_N) {
			/* The most an attacker can ask: everything from 1. */
			h.sequence = 1;
			h.count = TKX_MD_MAX_COUNT;
			tkx_md_hdr_encode(req, sizeof(req), &h);
			uint64_t due = f.t_first ? (mono_ns() - f.t_first) / 10000000u * FLOOD_BURST +
							   FLOOD_BURST : FLOOD_BURST;

			for (i = 0; f.sent < due && f.sent < FLOOD_N; i++) {
				if (!f.t_first)
					f.t_first = mono_ns(); /* before tokexd can see it */
				if (send(f.fd, req, sizeof(req), MSG_DONTWAIT) != sizeof(req))
					break;
				f.sent++;
			}
		}
		flood_rx(&f);
		n = tkx_md_sub_poll(s, 10, ev, 64);
		if (!CHECK(n >= 0, "tkx_md_sub_poll: %d", n))
			goto out;
		for (i = 0; i < n; i++) {
			const struct tkx_md_sub_event *e = &ev[i];

			if (e->kind == TKX_MD_SUB_EV_SESSION) {
				char name[TKX_MD_SESSION_LEN + 1];

				have_session = tkx_md_sub_session(s, name) > 0 &&
					       tkx_md_session(h.session, name) == 0;
				continue;
			}
			if (e->kind == TKX_MD_SUB_EV_LOST) {
				lost += e->count;
				next = e->seq + e->count;
				continue;
			}
			/* Every numbered market-data message (version 3's included). */
			if (e->kind < TKX_MD_TOP_OF_BOOK || e->kind > TKX_MD_DEPTH ||
			    e->kind == TKX_MD_GAP_REJECT)
				continue;
			if (!CHECK(e->seq == next, "market data: %llu after %llu", (ull)e->seq,
				   (ull)next - 1))
				goto out;
			if (!live && !(e->flags & TKX_MD_SUB_EVF_RECOVERED))
				live = e->seq; /* the first message heard live: 1..live-1 recovered */
			next++;
		}
	}
	/* Replies still in flight. */
	for (int i = 0; i < 20; i++) {
		struct pollfd pf = { .fd = f.fd, .events = POLLIN };

		if (poll(&pf, 1, 10) == 1)
			flood_rx(&f);
	}
	/* tokexd counts a request received before it decides on it: read until the two
	 * agree (the last requests handled), at most WAIT_MS (a hang bound). */
	deadline = mono_ms() + (uint64_t)WAIT_MS;
	while (mono_ms() < deadline) {
		TRY(tel_snap(&t1));
		if (tel_get(&t1, "rx_md_requests") == tel_get(&t1, "md_req_served") +
		    tel_get(&t1, "md_req_throttled") + tel_get(&t1, "md_req_bad") +
		    tel_get(&t1, "md_req_empty") + tel_get(&t1, "md_gap_rejects"))
			break;
		idle_ms(50);
	}
	t_end = mono_ns();
	tkx_md_sub_stats_get(s, &st);

	step("market data: the subscriber recovered %llu..%llu", (ull)first, (ull)live - 1);
	CHECK(f.sent == FLOOD_N, "the flooder sent %llu of %u", (ull)f.sent, FLOOD_N);
	CHECK(live > first && next >= live + 50, "the subscriber is at %llu, live from %llu",
	      (ull)next, (ull)live);
	CHECK(lost == 0 && st.lost == 0, "%llu messages lost", (ull)st.lost);
	CHECK(st.gap_rejects == 0, "%llu GapRejects", (ull)st.gap_rejects);
	CHECK(st.recovered >= live - first, "recovered %llu < %llu", (ull)st.recovered,
	      (ull)(live - first));
	/* It took several answers: each carries at most MDREQ_MAX_BYTES. */
	CHECK(st.rerequests >= (live - first) * 82 / MDREQ_MAX_BYTES,
	      "%llu re-requests for %llu", (ull)st.rerequests, (ull)(live - first));

	step("market data: the flooder got no more than its bucket");
	/* tokexd saw the flood within [first sent, last reply read]: its bucket gave at most
	 * the depth and the rate over that time (1% for the two clocks' rates: tokexd's is
	 * CLOCK_REALTIME, which NTP may slew). */
	bound = MDREQ_BURST + (f.t_last - f.t_first) * (MDREQ_RATE / 100 * 101) / 1000000000u;
	CHECK(f.bytes <= bound, "the flooder got %llu bytes in %llu ms, bound %llu",
	      (ull)f.bytes, (ull)(f.t_last - f.t_first) / 1000000u, (ull)bound);
	CHECK(f.answers >= 1, "no answer to %llu requests", (ull)f.sent);
	CHECK(f.max_answer <= MDREQ_MAX_BYTES, "an answer of %llu bytes (cap %u)",
	      (ull)f.max_answer, MDREQ_MAX_BYTES);
	/* Counted: every request tokexd received was answered or throttled (none was
	 * malformed, past the end or for a message no longer retained). */
#define DELTA(key) (tel_get(&t1, key) - tel_get(&t0, key))
	CHECK(tel_get(&t1, "md_req_throttled") != UINT64_MAX, "no md_req_throttled counter");
	all = DELTA("rx_md_requests");
	thr = DELTA("md_req_throttled");
	served = DELTA("md_req_served");
	CHECK(all == thr + served, "re-requests received +%llu, throttled +%llu, served +%llu",
	      (ull)all, (ull)thr, (ull)served);
	CHECK(DELTA("md_req_bad") + DELTA("md_req_empty") + DELTA("md_gap_rejects") == 0,
	      "unexpected answers");
	fl_rx = all - st.rerequests;
	/* The flood went beyond the bucket (a loaded host may drop some of it at the TAP:
	 * what counts is that the limit, not the host, held it back), and what the flooder
	 * got was served. */
	CHECK(fl_rx <= f.sent, "tokexd received %llu of %llu", (ull)fl_rx, (ull)f.sent);
	CHECK(thr >= 100, "%llu of %llu flood requests throttled, %llu served", (ull)thr,
	      (ull)fl_rx, (ull)served);
	CHECK(served >= f.answers, "md_req_served +%llu, the flooder got %llu answers",
	      (ull)served, (ull)f.answers);
	/* tokexd's own count of what it sent, whether or not all of it arrived: each of the
	 * two sources at most its depth and its rate over the whole time. */
	CHECK(DELTA("md_req_bytes") <= 2 * MDREQ_BURST + (t_end - t_begin) * 2 *
					   (MDREQ_RATE / 100 * 101) / 1000000000u,
	      "md_req_bytes +%llu in %llu ms", (ull)DELTA("md_req_bytes"),
	      (ull)(t_end - t_begin) / 1000000u);
	CHECK(DELTA("md_req_capped") >= f.answers, "md_req_capped +%llu < %llu answers",
	      (ull)DELTA("md_req_capped"), (ull)f.answers);
	CHECK(DELTA("md_req_bytes") >= f.bytes, "md_req_bytes below what the flooder got");
	CHECK(DELTA("md_req_sources_new") >= 2, "md_req_sources_new: the two sources not counted");
	printf("E2E md_flood requests %llu answers %llu bytes %llu in %llu ms (bound %llu); "
	       "tokexd: requests +%llu served +%llu throttled +%llu capped +%llu bytes +%llu "
	       "tx_full +%llu\n",
	       (ull)f.sent, (ull)f.answers, (ull)f.bytes, (ull)(f.t_last - f.t_first) / 1000000u,
	       (ull)bound, (ull)all, (ull)served, (ull)thr, (ull)DELTA("md_req_capped"),
	       (ull)DELTA("md_req_bytes"), (ull)DELTA("net_tx_full"));
#undef DELTA
	printf("E2E md_amplification max_answer %llu bytes for a %d-byte request (x%.1f); "
	       "overall x%.2f\n",
	       (ull)f.max_answer, TKX_MD_HDR_LEN, (double)f.max_answer / TKX_MD_HDR_LEN,
	       (double)f.bytes / (double)(f.sent * TKX_MD_HDR_LEN));
	printf("E2E md_subscriber live_from %llu recovered %llu rerequests %llu lost %llu\n",
	       (ull)live, (ull)st.recovered, (ull)st.rerequests, (ull)st.lost);
	rc = 0;
out:
	if (f.fd >= 0)
		close(f.fd);
	tkx_md_sub_close(s);
	return rc;
}

static int run_one(const char *name, int (*fn)(void))
{
	unsigned f0 = g_fail;
	uint64_t t0 = mono_ms();
	int r;

	printf("scenario %s\n", name);
	fflush(stdout);
	r = fn();
	if (r < 0 && g_fail == f0)
		CHECK(0, "%s stopped", name);
	printf("scenario %s: %s (%llu ms)\n", name, g_fail == f0 ? "ok" : "FAILED",
	       (ull)(mono_ms() - t0));
	fflush(stdout);
	return g_fail == f0 ? 0 : -1;
}

static int run_faults(void)
{
	int rc = 0;

	if (run_one("faults: setup", faults_setup) < 0)
		return -1;
	rc |= run_one("faults: truncated datagrams", faults_malformed);
	rc |= run_one("faults: bad headers", faults_headers);
	rc |= run_one("faults: validation", faults_validation);
	rc |= run_one("faults: wrong UDP checksum", faults_checksum);
	rc |= run_one("faults: session rejects", faults_session_rejects);
	rc |= run_one("faults: inbound gap", faults_inbound_gap);
	rc |= run_one("faults: outbound gap", faults_outbound_gap);
	rc |= run_one("faults: vanishing UDP client", faults_vanish_udp);
	rc |= run_one("faults: vanishing TCP clients", faults_vanish_tcp);
	rc |= run_one("faults: TCP framing", faults_tcp_framing);
	rc |= run_one("faults: log off", faults_end);
	if (R.fd > 0)
		raw_close(&R);
	if (FB.c)
		peer_close(&FB);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: e2e_client scenario|faults|throttle|busy|spoof|mdreq|telemetry|mdwatch [options]\n"
		"  --udp ADDR:PORT        tokexd's UDP order entry (e.g. 198.18.20.2:7411)\n"
		"  --tcp ADDR:PORT        tokexd's TCP order entry\n"
		"  --md GROUP:PORT        market-data group\n"
		"  --md-req ADDR:PORT     market-data re-request address\n"
		"  --iface ADDR           kernel address of the TAP (multicast join, raw sends)\n"
		"  --contract ID          the contract to trade\n"
		"  --contract2 ID         the contract of the fault scenarios\n"
		"  --telemetry PATH       tokexd's dpdk_telemetry.v2 socket\n"
		"  --pid PID              tokexd's pid: busy pauses it while a burst queues\n"
		"  --wait-s S             longest wait for one expected answer, a hang bound "
		"(default 300)\n"
		"  --auth-off             spoof: tokexd runs sessions.udp_auth off (control run)\n"
		"  --flood-src ADDR       mdreq: a second kernel-side address for the flooder\n"
		"  --md-recover N         mdreq: the late subscriber misses only the last N\n"
		"                         messages (default: all since the start)\n"
		"  -v                     print each step (-vv: each message)\n"
		"mdwatch [SECONDS] (--md, --iface): Snapshot and ContractStatus lines\n");
}

static int parse_u32(const char *s, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v == 0 || v > UINT32_MAX)
		return -1;
	*out = (uint32_t)v;
	return 0;
}

/* mdwatch: every Snapshot and ContractStatus of the stream as a line ("SNAP id phase",
 * "STATUS id phase"), flushed at once, for SECONDS (60 by default); first "READY" when
 * the group is joined. For scripts that follow what the publisher says about contracts. */
static int run_mdwatch(const char *secs)
{
	struct tkx_md_sub_cfg cfg;
	struct tkx_md_sub *s;
	struct tkx_md_sub_event ev[64];
	uint32_t seconds = 60;

	if (secs && parse_u32(secs, &seconds) < 0) {
		fprintf(stderr, "e2e_client: mdwatch: bad SECONDS '%s'\n", secs);
		return 2;
	}
	tkx_md_sub_cfg_default(&cfg);
	cfg.group = g_opt.md;
	cfg.iface = g_opt.iface;
	int r = tkx_md_sub_open(&s, &cfg);
	if (r < 0) {
		fprintf(stderr, "e2e_client: mdwatch: tkx_md_sub_open: %s\n", strerror(-r));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("READY\n");
	uint64_t end = mono_ns() + (uint64_t)seconds * 1000000000ull;
	while (mono_ns() < end) {
		int n = tkx_md_sub_poll(s, 100, ev, 64);
		for (int i = 0; i < n; i++) {
			const struct tkx_msg *m = &ev[i].msg;
			if (ev[i].kind == TKX_MD_SNAPSHOT)
				printf("SNAP %u %u\n", m->md_snapshot.contract_id, m->md_snapshot.phase);
			else if (ev[i].kind == TKX_MD_CONTRACT_STATUS)
				printf("STATUS %u %u\n", m->md_contract_status.contract_id,
				       m->md_contract_status.phase);
		}
	}
	tkx_md_sub_close(s);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "udp", required_argument, NULL, 'u' },     { "tcp", required_argument, NULL, 't' },
		{ "md", required_argument, NULL, 'm' },      { "md-req", required_argument, NULL, 'r' },
		{ "iface", required_argument, NULL, 'i' },   { "contract", required_argument, NULL, 'c' },
		{ "contract2", required_argument, NULL, 'C' },
		{ "telemetry", required_argument, NULL, 'T' }, { "pid", required_argument, NULL, 'p' },
		{ "auth-off", no_argument, NULL, 'A' },
		{ "flood-src", required_argument, NULL, 'F' },
		{ "md-recover", required_argument, NULL, 'R' },
		{ "wait-s", required_argument, NULL, 'W' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct mdc md;
	int o, rc = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	g_opt.mode = argv[1];
	optind = 2;
	while ((o = getopt_long(argc, argv, "vh", lo, NULL)) != -1) {
		int bad = 0;

		switch (o) {
		case 'u':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_ORDER_UDP, &g_opt.udp) < 0;
			break;
		case 't':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &g_opt.tcp) < 0;
			break;
		case 'm':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_MD, &g_opt.md) < 0;
			break;
		case 'r':
			bad = tkx_client_parse_addr(optarg, TKX_PORT_MD_REQ, &g_opt.md_req) < 0;
			break;
		case 'i':
			bad = inet_pton(AF_INET, optarg, &g_opt.iface) != 1;
			break;
		case 'c':
			bad = parse_u32(optarg, &g_opt.contract) < 0;
			break;
		case 'C':
			bad = parse_u32(optarg, &g_opt.contract2) < 0;
			break;
		case 'T':
			g_opt.tel_path = optarg;
			break;
		case 'F':
			bad = inet_pton(AF_INET, optarg, &g_opt.flood_src) != 1;
			break;
		case 'R':
			bad = parse_u32(optarg, &g_opt.md_recover) < 0;
			break;
		case 'W': {
			uint32_t v;

			bad = parse_u32(optarg, &v) < 0 || v == 0 || v > 86400;
			if (!bad)
				g_wait_ms = (int)(v * 1000);
			break;
		}
		case 'p': {
			uint32_t v;

			bad = parse_u32(optarg, &v) < 0;
			g_opt.pid = (pid_t)v;
			break;
		}
		case 'A':
			g_opt.auth_off = 1;
			break;
		case 'v':
			g_opt.verbose++;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "e2e_client: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (strcmp(g_opt.mode, "telemetry") == 0) {
		static char out[TEL_CAP];
		const char *cmd = optind < argc ? argv[optind] : "/tokex/stats";

		if (!g_opt.tel_path || tel_query(g_opt.tel_path, cmd, out, sizeof(out)) < 0) {
			fprintf(stderr, "e2e_client: telemetry query failed\n");
			return 1;
		}
		printf("%s\n", out);
		return 0;
	}
	if (strcmp(g_opt.mode, "mdwatch") == 0) {
		if (!g_opt.md.sin_port || !g_opt.iface.s_addr) {
			fprintf(stderr, "e2e_client: mdwatch needs --md and --iface\n");
			return 2;
		}
		return run_mdwatch(optind < argc ? argv[optind] : NULL);
	}
	if (!g_opt.udp.sin_port || !g_opt.tcp.sin_port || !g_opt.md.sin_port || !g_opt.contract ||
	    !g_opt.tel_path || !g_opt.iface.s_addr) {
		fprintf(stderr, "e2e_client: --udp, --tcp, --md, --iface, --contract and --telemetry "
				"are required\n");
		return 2;
	}
	if (!g_opt.md_req.sin_port) {
		g_opt.md_req = g_opt.udp;
		g_opt.md_req.sin_port = htons(TKX_PORT_MD_REQ);
	}
	g_sid_base = real_ns() & ~0xffffull;
	snprintf(g_step, sizeof(g_step), "start");
	if (md_open(&md, g_opt.contract) < 0)
		return 1;
	if (strcmp(g_opt.mode, "scenario") == 0) {
		rc = run_one("trading session", scenario_trading);
	} else if (strcmp(g_opt.mode, "faults") == 0) {
		if (!g_opt.contract2) {
			fprintf(stderr, "e2e_client: faults needs --contract2\n");
			return 2;
		}
		rc = run_faults();
	} else if (strcmp(g_opt.mode, "throttle") == 0) {
		rc = run_one("throttle", scenario_throttle);
	} else if (strcmp(g_opt.mode, "busy") == 0) {
		rc = run_one("full ring", scenario_busy);
	} else if (strcmp(g_opt.mode, "spoof") == 0) {
		rc = run_one(g_opt.auth_off ? "spoof, authentication off" : "spoof", scenario_spoof);
	} else if (strcmp(g_opt.mode, "mdreq") == 0) {
		if (!g_opt.flood_src.s_addr) {
			fprintf(stderr, "e2e_client: mdreq needs --flood-src\n");
			return 2;
		}
		rc = run_one("re-request limits", scenario_mdreq);
	} else {
		usage(stderr);
		return 2;
	}
	md_close(&md);
	printf("e2e_client %s: %u passed, %u failed\n", g_opt.mode, g_pass, g_fail);
	return rc < 0 || g_fail ? 1 : 0;
}
