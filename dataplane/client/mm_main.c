/*
 * mm_main.c - tokex-mm: a market-maker simulator on libtokex-client (tokex/client.h).
 *
 * Role: a client-side program, run against the appliance (or anything speaking the
 * protocol). It establishes one order-entry session, quotes --levels bids and asks
 * around a reference price that random-walks by one tick per --interval, moves its quotes
 * with ModifyOrder (a new order when one is gone), sends a crossing IOC every
 * --take-every cycles to make trades, and prints one line per event. The order types:
 * --tif day quotes DAY orders (the close expires them), --show N makes the quotes icebergs
 * showing N lots, --stop-every K sends a stop order every K cycles (an IOC of one lot,
 * stopped one tick out on a random side) and counts the StopElected it gets. On the bound
 * (--orders or --seconds) or a signal it mass-cancels its quotes, terminates, and prints a
 * summary, including the order->reply latency it measured (CLOCK_MONOTONIC, client side:
 * informative only). Its last line says how it ended: "tokex-mm: result: PASS ..." or
 * "tokex-mm: result: FAIL: <what went wrong>". Exit 0 on a clean run, 1 when the session
 * fails or is lost, 2 on a usage error.
 *
 * Keepalive: the exchange heartbeats at the interval this client asks for in Establish
 * and each side gives the other up after 3 silent intervals. A simulator shares its host
 * with the exchange and other load, where a stall of a few seconds is ordinary: the
 * default (5000 ms: 15 s of silence) rides it out; --keepalive 1000 is for a quiet host.
 * Establishing waits as long (3 intervals, at least 5 s).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "tokex/client.h"
#include "tokex/version.h"

#define MAX_LEVELS 32
#define LAT_RING 8192u       /* outstanding requests by cl_ord_id, for latency */
#define LAT_SAMPLES 100000u  /* latency samples kept for the percentiles */
#define EV_BURST 64

struct opts {
	int tcp;
	struct sockaddr_in ex;
	uint32_t firm;
	const char *secret;
	uint64_t session_id;
	uint32_t contract;
	int64_t ref;
	int64_t tick;
	unsigned levels;
	uint32_t qty;
	uint64_t orders;     /* bound on requests sent; 0 none */
	double seconds;      /* bound on run time; 0 none */
	unsigned take_every; /* cycles between crossing IOCs; 0 never */
	uint32_t account;
	uint64_t seed;
	int md;
	struct sockaddr_in md_group;
	struct in_addr md_iface;
	struct sockaddr_in md_req;
	int md_req_set;
	unsigned interval_ms;
	uint32_t keepalive_ms;
	int quiet;
	int no_udp_auth; /* the venue runs sessions.udp_auth off */
	uint8_t tif;         /* the quotes': TKX_TIF_GTC or TKX_TIF_DAY */
	uint32_t show;       /* the quotes are icebergs showing this much; 0: plain */
	unsigned stop_every; /* cycles between stop orders; 0 never */
};

struct quote {
	uint64_t cl; /* our order at this level, 0 when none */
};

struct lat_slot {
	uint64_t cl;
	uint64_t sent_ns;
};

struct mm {
	struct opts o;
	struct tkx_client *c;
	struct tkx_md_sub *md;
	uint64_t start_ns;
	uint64_t rng;
	int64_t ref;
	unsigned cycle;
	struct quote bid[MAX_LEVELS], ask[MAX_LEVELS];
	int64_t md_bid, md_ask; /* from TopOfBook, TKX_NULL_PRICE when unknown */
	/* counters */
	uint64_t sent, n_new, n_modify, n_cancel, n_ioc, n_mass, n_stop, elected;
	uint64_t acks, modacks, fills, fill_lots, cancels, rejects, breject, mass_acks;
	uint64_t pending; /* requests with no reply yet */
	int mass_acked;
	int lost_session;
	/* latency */
	uint64_t batch_cl[4 * MAX_LEVELS + 4];
	unsigned n_batch;
	struct lat_slot lat[LAT_RING];
	uint32_t *samples; /* ns, LAT_SAMPLES of them */
	unsigned n_samples;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible with --seed. */
static uint64_t rnd(struct mm *m)
{
	m->rng ^= m->rng >> 12;
	m->rng ^= m->rng << 25;
	m->rng ^= m->rng >> 27;
	return m->rng * 0x2545F4914F6CDD1Dull;
}

static const char *px(int64_t p, char *buf, size_t len)
{
	if (p == TKX_NULL_PRICE)
		snprintf(buf, len, "-");
	else
		tkx_price_format(p, buf, len);
	return buf;
}

/* ---- Options ----------------------------------------------------------------------- */

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options]\n"
		"Market-maker simulator: quotes both sides of one contract on tokex, requotes as\n"
		"a reference price random-walks, takes now and then, and prints each event.\n"
		"\n"
		"  --udp HOST:PORT        order entry over UDP (default 127.0.0.1:7411)\n"
		"  --tcp HOST:PORT        order entry over TCP (SOFH framing; port 7412)\n"
		"  --firm ID              firm id (default 1)\n"
		"  --secret STRING        firm secret (default: the demo secret of firm 1 or 2)\n"
		"  --session-id N         session id (default: from the clock)\n"
		"  --contract ID          contract id (default: this month, YYYYMM)\n"
		"  --ref PRICE            reference price in 0.0001 units (default 25000)\n"
		"  --tick N               tick in 0.0001 units (default 10)\n"
		"  --levels N             quotes per side, 1-%d (default 3)\n"
		"  --qty N                lots per quote (default 10)\n"
		"  --orders N             stop after N requests (default: no bound)\n"
		"  --seconds S            stop after S seconds (default 10; 0: no bound)\n"
		"  --take-every K         send a crossing IOC every K requote cycles (default 0)\n"
		"  --interval MS          requote cycle (default 100)\n"
		"  --account N            account for orders (default 0)\n"
		"  --tif gtc|day          time in force of the quotes (default gtc); DAY quotes\n"
		"                         expire at the contract's close\n"
		"  --show N               quotes are icebergs showing N lots (0 < N < --qty,\n"
		"                         qty at most 1000 x N; default 0: plain)\n"
		"  --stop-every K         every K requote cycles, a stop order: IOC, 1 lot, stop\n"
		"                         one tick beyond the reference on a random side, limit\n"
		"                         past the last level (default 0: none)\n"
		"  --seed N               random seed (default: from the clock)\n"
		"  --keepalive MS         heartbeat interval asked in Establish; the session is\n"
		"                         given up after 3 silent intervals (default 5000)\n"
		"  --md GROUP:PORT        subscribe to market data (a unicast address works too)\n"
		"  --md-iface ADDR        interface address for the multicast join\n"
		"  --md-req HOST:PORT     gap re-request address (default: exchange host, 7414)\n"
		"  --quiet                print only the summary\n"
		"  --no-udp-auth          for a venue with sessions.udp_auth off: UDP datagrams\n"
		"                         without a MAC (never against a venue open to members)\n"
		"  --help                 this text\n"
		"  --version              print tokex-mm's version and exit\n",
		prog, MAX_LEVELS);
}

static int parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option lo[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "firm", required_argument, NULL, 'f' },
		{ "secret", required_argument, NULL, 'S' },
		{ "session-id", required_argument, NULL, 'i' },
		{ "contract", required_argument, NULL, 'c' },
		{ "ref", required_argument, NULL, 'r' },
		{ "tick", required_argument, NULL, 'k' },
		{ "levels", required_argument, NULL, 'l' },
		{ "qty", required_argument, NULL, 'q' },
		{ "orders", required_argument, NULL, 'n' },
		{ "seconds", required_argument, NULL, 's' },
		{ "take-every", required_argument, NULL, 'T' },
		{ "interval", required_argument, NULL, 'I' },
		{ "account", required_argument, NULL, 'a' },
		{ "seed", required_argument, NULL, 'e' },
		{ "keepalive", required_argument, NULL, 'K' },
		{ "md", required_argument, NULL, 'm' },
		{ "md-iface", required_argument, NULL, 'F' },
		{ "md-req", required_argument, NULL, 'R' },
		{ "quiet", no_argument, NULL, 'Q' },
		{ "no-udp-auth", no_argument, NULL, 'N' },
		{ "tif", required_argument, NULL, 'Y' },
		{ "show", required_argument, NULL, 'W' },
		{ "stop-every", required_argument, NULL, 'P' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	time_t now = time(NULL);
	struct tm tm;
	uint64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	gmtime_r(&now, &tm);
	o->contract = (uint32_t)((tm.tm_year + 1900) * 100 + tm.tm_mon + 1);
	o->firm = 1;
	o->ref = 25000;
	o->tick = 10;
	o->levels = 3;
	o->qty = 10;
	o->seconds = 10;
	o->interval_ms = 100;
	o->keepalive_ms = 5000; /* tolerates a loaded host: see the file's header */
	o->tif = TKX_TIF_GTC;
	o->seed = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32);
	tkx_client_parse_addr("127.0.0.1", TKX_PORT_ORDER_UDP, &o->ex);

#define NUM(name, lo_, hi_, dst)                                                       \
	do {                                                                           \
		if (parse_u64(optarg, (lo_), (hi_), &v) < 0) {                         \
			fprintf(stderr, "%s: --%s: expected a number in [%llu, %llu], got '%s'\n", \
				argv[0], name, (unsigned long long)(lo_),               \
				(unsigned long long)(hi_), optarg);                     \
			return -1;                                                     \
		}                                                                      \
		dst = v;                                                               \
	} while (0)

	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (ch) {
		case 'u':
		case 't':
			o->tcp = ch == 't';
			if (tkx_client_parse_addr(optarg, o->tcp ? TKX_PORT_ORDER_TCP :
								    TKX_PORT_ORDER_UDP,
						  &o->ex) < 0) {
				fprintf(stderr, "%s: --%s: bad address '%s' (HOST:PORT)\n", argv[0],
					o->tcp ? "tcp" : "udp", optarg);
				return -1;
			}
			break;
		case 'f': NUM("firm", 1, UINT32_MAX, o->firm); break;
		case 'S':
			if (!*optarg || strlen(optarg) > TKX_CLIENT_MAX_SECRET) {
				fprintf(stderr, "%s: --secret: 1 to %d bytes\n", argv[0],
					TKX_CLIENT_MAX_SECRET);
				return -1;
			}
			o->secret = optarg;
			break;
		case 'i': NUM("session-id", 1, UINT64_MAX, o->session_id); break;
		case 'c': NUM("contract", 1, UINT32_MAX, o->contract); break;
		case 'r': NUM("ref", 1, INT64_MAX / 4, o->ref); break;
		case 'k': NUM("tick", 1, 1000000000, o->tick); break;
		case 'l': NUM("levels", 1, MAX_LEVELS, o->levels); break;
		case 'q': NUM("qty", 1, UINT32_MAX, o->qty); break;
		case 'n': NUM("orders", 0, UINT64_MAX, o->orders); break;
		case 's': NUM("seconds", 0, 86400 * 365, o->seconds); break;
		case 'T': NUM("take-every", 0, 1000000, o->take_every); break;
		case 'I': NUM("interval", 1, 60000, o->interval_ms); break;
		case 'a': NUM("account", 0, UINT32_MAX, o->account); break;
		case 'e': NUM("seed", 0, UINT64_MAX, o->seed); break;
		case 'K': NUM("keepalive", 1, 600000, o->keepalive_ms); break;
		case 'm':
			if (tkx_client_parse_addr(optarg, TKX_PORT_MD, &o->md_group) < 0) {
				fprintf(stderr, "%s: --md: bad address '%s' (GROUP:PORT)\n",
					argv[0], optarg);
				return -1;
			}
			o->md = 1;
			break;
		case 'F':
			if (inet_pton(AF_INET, optarg, &o->md_iface) != 1) {
				fprintf(stderr, "%s: --md-iface: bad IPv4 address '%s'\n", argv[0],
					optarg);
				return -1;
			}
			break;
		case 'R':
			if (tkx_client_parse_addr(optarg, TKX_PORT_MD_REQ, &o->md_req) < 0) {
				fprintf(stderr, "%s: --md-req: bad address '%s'\n", argv[0],
					optarg);
				return -1;
			}
			o->md_req_set = 1;
			break;
		case 'Y':
			if (!strcasecmp(optarg, "gtc"))
				o->tif = TKX_TIF_GTC;
			else if (!strcasecmp(optarg, "day"))
				o->tif = TKX_TIF_DAY;
			else {
				fprintf(stderr, "%s: --tif: gtc or day, got '%s'\n", argv[0], optarg);
				return -1;
			}
			break;
		case 'W': NUM("show", 0, UINT32_MAX, o->show); break;
		case 'P': NUM("stop-every", 0, 1000000, o->stop_every); break;
		case 'Q': o->quiet = 1; break;
		case 'N': o->no_udp_auth = 1; break;
		case 'h': usage(stdout, argv[0]); exit(0);
		case 'V': printf("tokex-mm %s\n", tkx_version()); exit(0);
		default: usage(stderr, argv[0]); return -1;
		}
	}
#undef NUM
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\n", argv[0], argv[optind]);
		usage(stderr, argv[0]);
		return -1;
	}
	if (!o->secret) {
		if (o->firm == 1)
			o->secret = "tokex-demo-secret-firm-1";
		else if (o->firm == 2)
			o->secret = "tokex-demo-secret-firm-2";
		else {
			fprintf(stderr, "%s: firm %u has no demo secret: give --secret\n", argv[0],
				o->firm);
			return -1;
		}
	}
	if (o->show && (o->show >= o->qty || o->qty > (uint64_t)o->show * TKX_ICE_MAX_SLICES)) {
		fprintf(stderr, "%s: --show: below --qty (%u) and at least --qty / %u\n", argv[0],
			o->qty, TKX_ICE_MAX_SLICES);
		return -1;
	}
	if (o->ref <= (int64_t)(o->levels + 1) * o->tick) {
		fprintf(stderr, "%s: --ref must be above (levels + 1) x tick\n", argv[0]);
		return -1;
	}
	if (!o->md_req_set) {
		o->md_req = o->ex;
		o->md_req.sin_port = htons(TKX_PORT_MD_REQ);
	}
	return 0;
}

/* ---- Output ------------------------------------------------------------------------ */

__attribute__((format(printf, 2, 3))) static void say(const struct mm *m, const char *fmt, ...)
{
	va_list ap;

	if (m->o.quiet)
		return;
	printf("%10.3f ", (double)(mono_ns() - m->start_ns) / 1e6);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* ---- Latency ----------------------------------------------------------------------- */

static void lat_sent(struct mm *m, uint64_t cl)
{
	if (m->n_batch < sizeof(m->batch_cl) / sizeof(m->batch_cl[0]))
		m->batch_cl[m->n_batch++] = cl;
	m->sent++;
	m->pending++;
}

/* Stamp the batch as it goes on the wire. */
static void lat_stamp(struct mm *m)
{
	uint64_t now = mono_ns();
	unsigned i;

	for (i = 0; i < m->n_batch; i++) {
		struct lat_slot *s = &m->lat[m->batch_cl[i] & (LAT_RING - 1)];

		s->cl = m->batch_cl[i];
		s->sent_ns = now;
	}
	m->n_batch = 0;
}

/* The first reply to request cl: one sample. */
static void lat_reply(struct mm *m, uint64_t cl, uint64_t rx_ns)
{
	struct lat_slot *s = &m->lat[cl & (LAT_RING - 1)];

	if (s->cl != cl || !s->sent_ns)
		return;
	if (m->n_samples < LAT_SAMPLES && rx_ns >= s->sent_ns) {
		uint64_t d = rx_ns - s->sent_ns;

		m->samples[m->n_samples++] = d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
	}
	s->sent_ns = 0;
	if (m->pending)
		m->pending--;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* ---- Events ------------------------------------------------------------------------ */

static void on_event(struct mm *m, const struct tkx_client_event *ev)
{
	const struct tkx_msg *g = &ev->msg;
	char p1[32], t[160];

	switch (ev->kind) {
	case TKX_EXEC_ACK:
		m->acks++;
		lat_reply(m, g->exec_ack.cl_ord_id, ev->rx_ns);
		say(m, "ACK    cl=%" PRIu64 " oid=%" PRIu64 " %s %u @ %s %s", g->exec_ack.cl_ord_id,
		    g->exec_ack.order_id, tkx_side_name(g->exec_ack.side), g->exec_ack.qty,
		    px(g->exec_ack.price, p1, sizeof(p1)), tkx_tif_name(g->exec_ack.tif));
		break;
	case TKX_EXEC_REJECT:
		m->rejects++;
		lat_reply(m, g->exec_reject.cl_ord_id, ev->rx_ns);
		say(m, "REJ    %s cl=%" PRIu64 " %s oid=%" PRIu64,
		    tkx_reject_reason_name(g->exec_reject.reason), g->exec_reject.cl_ord_id,
		    tkx_template_name(g->exec_reject.ref_template_id), g->exec_reject.order_id);
		break;
	case TKX_FILL:
		m->fills++;
		m->fill_lots += g->fill.qty;
		say(m, "FILL   cl=%" PRIu64 " oid=%" PRIu64 " %s %u @ %s leaves %u trade %" PRIu64
		    "%s",
		    g->fill.cl_ord_id, g->fill.order_id, tkx_side_name(g->fill.side), g->fill.qty,
		    px(g->fill.price, p1, sizeof(p1)), g->fill.leaves_qty, g->fill.trade_id,
		    g->fill.aggressor ? " aggressor" : "");
		break;
	case TKX_CANCELLED:
		m->cancels++;
		lat_reply(m, g->cancelled.cl_ord_id, ev->rx_ns);
		say(m, "CXL    cl=%" PRIu64 " orig=%" PRIu64 " oid=%" PRIu64 " %s %u %s",
		    g->cancelled.cl_ord_id, g->cancelled.orig_cl_ord_id, g->cancelled.order_id,
		    tkx_side_name(g->cancelled.side), g->cancelled.qty,
		    tkx_cancel_reason_name(g->cancelled.reason));
		break;
	case TKX_STOP_ELECTED:
		m->elected++;
		say(m, "ELECT  cl=%" PRIu64 " oid=%" PRIu64 " %s %u @ %s", g->stop_elected.cl_ord_id,
		    g->stop_elected.order_id, tkx_side_name(g->stop_elected.side),
		    g->stop_elected.qty, px(g->stop_elected.price, p1, sizeof(p1)));
		break;
	case TKX_MODIFY_ACK:
		m->modacks++;
		lat_reply(m, g->modify_ack.cl_ord_id, ev->rx_ns);
		say(m, "MOD    cl=%" PRIu64 " oid=%" PRIu64 " %s %u @ %s", g->modify_ack.cl_ord_id,
		    g->modify_ack.order_id, tkx_side_name(g->modify_ack.side), g->modify_ack.qty,
		    px(g->modify_ack.price, p1, sizeof(p1)));
		break;
	case TKX_MASS_CANCEL_ACK:
		m->mass_acks++;
		m->mass_acked = 1;
		lat_reply(m, g->mass_cancel_ack.cl_ord_id, ev->rx_ns);
		say(m, "MCXL   cl=%" PRIu64 " cancelled %u", g->mass_cancel_ack.cl_ord_id,
		    g->mass_cancel_ack.count);
		break;
	case TKX_BUSINESS_REJECT:
		m->breject++;
		say(m, "BREJ   %s ref %s #%" PRIu64,
		    tkx_breject_reason_name(g->business_reject.reason),
		    tkx_template_name(g->business_reject.ref_template_id),
		    g->business_reject.ref_seq_no);
		break;
	case TKX_NOT_APPLIED:
		say(m, "NOTAPPLIED from %" PRIu64 " count %u", g->not_applied.from_seq_no,
		    g->not_applied.count);
		break;
	case TKX_RETRANSMISSION:
		say(m, "RETX   from %" PRIu64 " count %u", g->retransmission.next_seq_no,
		    g->retransmission.count);
		break;
	case TKX_RETRANSMIT_REJECT:
		say(m, "RETXREJ %s", tkx_session_reject_name(g->retransmit_reject.reason));
		break;
	case TKX_TERMINATE:
		say(m, "TERM   %s", tkx_terminate_reason_name(g->terminate.reason));
		break;
	case TKX_CLIENT_EV_LOST:
		say(m, "LOST   from %" PRIu64 " count %" PRIu64, ev->seq, ev->count);
		break;
	case TKX_CLIENT_EV_CLOSED:
		tkx_client_errstr(m->c, t, sizeof(t));
		say(m, "CLOSED %s", t);
		break;
	default:
		break;
	}
}

static void on_md_event(struct mm *m, const struct tkx_md_sub_event *ev)
{
	const struct tkx_msg *g = &ev->msg;
	char p1[32], p2[32], name[TKX_MD_SESSION_LEN + 1];

	switch (ev->kind) {
	case TKX_MD_TOP_OF_BOOK:
		if (g->md_top_of_book.contract_id == m->o.contract) {
			m->md_bid = g->md_top_of_book.bid_price;
			m->md_ask = g->md_top_of_book.ask_price;
		}
		say(m, "TOB    c=%u %" PRIu64 " @ %s x %s @ %" PRIu64 "  #%" PRIu64,
		    g->md_top_of_book.contract_id, g->md_top_of_book.bid_qty,
		    px(g->md_top_of_book.bid_price, p1, sizeof(p1)),
		    px(g->md_top_of_book.ask_price, p2, sizeof(p2)), g->md_top_of_book.ask_qty,
		    ev->seq);
		break;
	case TKX_MD_TRADE:
		say(m, "TRADE  c=%u %u @ %s %s trade %" PRIu64 "  #%" PRIu64,
		    g->md_trade.contract_id, g->md_trade.qty, px(g->md_trade.price, p1, sizeof(p1)),
		    tkx_side_name(g->md_trade.aggressor_side), g->md_trade.trade_id, ev->seq);
		break;
	case TKX_MD_CONTRACT_STATUS:
		say(m, "STATUS c=%u %s  #%" PRIu64, g->md_contract_status.contract_id,
		    tkx_phase_name(g->md_contract_status.phase), ev->seq);
		break;
	case TKX_MD_SNAPSHOT:
		say(m, "SNAP   c=%u %s x %s last %s vol %" PRIu64 " %s  #%" PRIu64,
		    g->md_snapshot.contract_id, px(g->md_snapshot.bid_price, p1, sizeof(p1)),
		    px(g->md_snapshot.ask_price, p2, sizeof(p2)),
		    px(g->md_snapshot.last_price, p1, sizeof(p1)), g->md_snapshot.volume,
		    tkx_phase_name(g->md_snapshot.phase), ev->seq);
		break;
	case TKX_MD_GAP_REJECT:
		say(m, "GAPREJ first available %" PRIu64 " requested %" PRIu64,
		    g->md_gap_reject.first_available_seq, g->md_gap_reject.requested_seq);
		break;
	case TKX_MD_SUB_EV_LOST:
		say(m, "MDLOST from %" PRIu64 " count %" PRIu64, ev->seq, ev->count);
		break;
	case TKX_MD_SUB_EV_END:
		say(m, "MDEND  at %" PRIu64, ev->seq);
		break;
	case TKX_MD_SUB_EV_SESSION:
		tkx_md_sub_session(m->md, name);
		say(m, "MDSESSION %s from %" PRIu64, name, ev->seq);
		break;
	default:
		break;
	}
}

/* Poll the session (and market data) for up to wait_ms; < 0 when the session is over. */
static int pump(struct mm *m, int wait_ms)
{
	struct tkx_client_event ev[EV_BURST];
	int n, i;

	if (m->md) {
		struct tkx_md_sub_event mev[EV_BURST];
		struct pollfd p[3];
		int fds[2];

		tkx_md_sub_fds(m->md, fds);
		p[0] = (struct pollfd){ .fd = tkx_client_fd(m->c), .events = POLLIN };
		p[1] = (struct pollfd){ .fd = fds[0], .events = POLLIN };
		p[2] = (struct pollfd){ .fd = fds[1], .events = POLLIN };
		if (wait_ms)
			poll(p, fds[1] >= 0 ? 3 : 2, wait_ms < 5 ? wait_ms : 5);
		while ((n = tkx_md_sub_poll(m->md, 0, mev, EV_BURST)) > 0)
			for (i = 0; i < n; i++)
				on_md_event(m, &mev[i]);
		wait_ms = 0;
	}
	n = tkx_client_poll(m->c, wait_ms, ev, EV_BURST);
	for (i = 0; i < n; i++)
		on_event(m, &ev[i]);
	return n < 0 ? n : 0;
}

/* ---- Quoting ----------------------------------------------------------------------- */

static int budget(const struct mm *m)
{
	return !m->o.orders || m->sent < m->o.orders;
}

static void quote_level(struct mm *m, struct quote *q, uint8_t side, int64_t price)
{
	struct tkx_client_order o;
	uint64_t cl;

	if (q->cl && tkx_client_order_get(m->c, q->cl, &o) < 0)
		q->cl = 0; /* filled or cancelled: quote again */
	if (!budget(m))
		return;
	if (!q->cl) {
		struct tkx_new_order n = {
			.price = price,
			.qty = m->o.qty,
			.contract_id = m->o.contract,
			.account = m->o.account,
			.side = side,
			.tif = m->o.tif,
			.show_qty = m->o.show,
		};

		if (tkx_client_new_order(m->c, &n) == 0) {
			q->cl = n.cl_ord_id;
			m->n_new++;
			lat_sent(m, n.cl_ord_id);
		}
		return;
	}
	if (o.state != TKX_CLIENT_ORD_LIVE || o.pend_cl_ord_id || o.price == price)
		return;
	/* Move the quote and restore its size: one ModifyOrder, no cancel/new round trip. */
	if (tkx_client_modify(m->c, q->cl, price, m->o.qty, &cl) == 0) {
		m->n_modify++;
		lat_sent(m, cl);
	}
}

static void requote(struct mm *m)
{
	int64_t floor_px = (int64_t)(m->o.levels + 1) * m->o.tick;
	unsigned i;

	m->cycle++;
	m->ref += ((int64_t)(rnd(m) % 3) - 1) * m->o.tick;
	if (m->ref <= floor_px)
		m->ref = floor_px + m->o.tick;
	for (i = 0; i < m->o.levels; i++) {
		quote_level(m, &m->bid[i], TKX_SIDE_BUY, m->ref - (int64_t)(i + 1) * m->o.tick);
		quote_level(m, &m->ask[i], TKX_SIDE_SELL, m->ref + (int64_t)(i + 1) * m->o.tick);
	}
	if (m->o.take_every && m->cycle % m->o.take_every == 0 && budget(m)) {
		uint8_t side = rnd(m) & 1 ? TKX_SIDE_BUY : TKX_SIDE_SELL;
		/* Cross the best opposite price: market data's when known, else our own. */
		int64_t p = side == TKX_SIDE_BUY ?
				    (m->md_ask != TKX_NULL_PRICE ? m->md_ask : m->ref + m->o.tick) :
				    (m->md_bid != TKX_NULL_PRICE ? m->md_bid : m->ref - m->o.tick);
		struct tkx_new_order n = {
			.price = p,
			.qty = m->o.qty,
			.contract_id = m->o.contract,
			.account = m->o.account,
			.side = side,
			.tif = TKX_TIF_IOC,
		};

		if (p > 0 && tkx_client_new_order(m->c, &n) == 0) {
			m->n_ioc++;
			lat_sent(m, n.cl_ord_id);
		}
	}
	if (m->o.stop_every && m->cycle % m->o.stop_every == 0 && budget(m)) {
		/* A buy stop one tick above the reference is elected by a trade at the first
		 * ask level or higher (a sell stop mirrors it); its limit reaches past the last
		 * level, and IOC: it never rests. */
		int buy = (int)(rnd(m) & 1);
		int64_t far = (int64_t)(m->o.levels + 1) * m->o.tick;
		struct tkx_new_order n = {
			.price = buy ? m->ref + far : m->ref - far,
			.stop_price = buy ? m->ref + m->o.tick : m->ref - m->o.tick,
			.qty = 1,
			.contract_id = m->o.contract,
			.account = m->o.account,
			.side = buy ? TKX_SIDE_BUY : TKX_SIDE_SELL,
			.tif = TKX_TIF_IOC,
		};

		if (n.price > 0 && tkx_client_new_order(m->c, &n) == 0) {
			m->n_stop++;
			lat_sent(m, n.cl_ord_id);
		}
	}
	/* Stamp before the send: on loopback the reply can beat sendto()'s return. */
	lat_stamp(m);
	tkx_client_flush(m->c);
}

/* ---- Main -------------------------------------------------------------------------- */

/* The last line, always: how the run ended, for a person or a script to read. */
static void result(const struct mm *m, const char *why)
{
	if (why)
		printf("tokex-mm: result: FAIL: %s\n", why);
	else
		printf("tokex-mm: result: PASS: %" PRIu64 " requests sent, %" PRIu64 " fills\n",
		       m->sent, m->fills);
	fflush(stdout);
}

static int run(struct mm *m)
{
	const struct opts *o = &m->o;
	uint64_t deadline =
		o->seconds > 0 ? m->start_ns + (uint64_t)(o->seconds * 1e9) : UINT64_MAX;
	uint64_t next = mono_ns(), drain_until = 0;
	int r;

	while (!stop_flag) {
		uint64_t now = mono_ns();
		int wait;

		if (now >= deadline)
			break;
		if (!budget(m)) {
			/* The bound is reached: wait (briefly) for the last replies. */
			if (!drain_until)
				drain_until = now + 1000000000ull;
			if (!m->pending || now >= drain_until)
				break;
		} else if (now >= next) {
			requote(m);
			next += (uint64_t)o->interval_ms * 1000000ull;
			if (next < now)
				next = now; /* fell behind: don't burst to catch up */
		}
		wait = next > now ? (int)((next - now + 999999) / 1000000) : 0;
		if (wait > (int)o->interval_ms)
			wait = (int)o->interval_ms;
		if (deadline != UINT64_MAX && (uint64_t)wait * 1000000ull > deadline - now)
			wait = (int)((deadline - now + 999999) / 1000000);
		if (drain_until && wait > 10)
			wait = 10;
		r = pump(m, wait);
		if (r < 0)
			return r;
	}
	return 0;
}

static void shutdown_session(struct mm *m)
{
	struct tkx_mass_cancel mc = {
		.contract_id = m->o.contract,
		.scope = TKX_SCOPE_SESSION,
	};
	uint64_t until;

	if (tkx_client_state(m->c) != TKX_CLIENT_ESTABLISHED)
		return;
	if (tkx_client_mass_cancel(m->c, &mc) == 0) {
		m->n_mass++;
		lat_sent(m, mc.cl_ord_id);
		lat_stamp(m);
		tkx_client_flush(m->c);
		until = mono_ns() + 1000000000ull;
		while (!m->mass_acked && mono_ns() < until)
			if (pump(m, 50) < 0)
				return;
	}
	if (tkx_client_terminate(m->c, 1000) < 0 && !m->o.quiet)
		fprintf(stderr, "tokex-mm: no Terminate from the exchange (closing anyway)\n");
	{
		struct tkx_client_event ev[EV_BURST];
		int n, i;

		while ((n = tkx_client_poll(m->c, 0, ev, EV_BURST)) > 0)
			for (i = 0; i < n; i++)
				on_event(m, &ev[i]);
	}
}

static void summary(struct mm *m)
{
	struct tkx_client_stats st;
	double p50 = 0, p99 = 0;

	tkx_client_stats_get(m->c, &st);
	if (m->n_samples) {
		qsort(m->samples, m->n_samples, sizeof(m->samples[0]), cmp_u32);
		p50 = m->samples[(m->n_samples - 1) * 50 / 100] / 1e3;
		p99 = m->samples[(m->n_samples - 1) * 99 / 100] / 1e3;
	}
	printf("summary: session %" PRIu64 ": sent %" PRIu64 " (new %" PRIu64 ", modify %" PRIu64
	       ", ioc %" PRIu64 ", mass cancel %" PRIu64 "); acks %" PRIu64 ", modify acks %" PRIu64
	       ", fills %" PRIu64 " (%" PRIu64 " lots), cancels %" PRIu64 ", rejects %" PRIu64
	       ", business rejects %" PRIu64 "\n",
	       tkx_client_session_id(m->c), m->sent, m->n_new, m->n_modify, m->n_ioc, m->n_mass,
	       m->acks, m->modacks, m->fills, m->fill_lots, m->cancels, m->rejects, m->breject);
	printf("summary: latency request->reply p50 %.1f us, p99 %.1f us (%u samples, client "
	       "side); gaps %" PRIu64 ", retransmitted %" PRIu64 ", duplicates %" PRIu64
	       ", lost %" PRIu64 ", not applied %" PRIu64 ", heartbeats sent %" PRIu64 "\n",
	       p50, p99, m->n_samples, st.gaps, st.retransmitted, st.duplicates, st.lost,
	       st.not_applied, st.tx_heartbeats);
	if (m->o.stop_every || m->elected)
		printf("summary: stop orders %" PRIu64 ", elected %" PRIu64 "\n", m->n_stop,
		       m->elected);
	if (m->md) {
		struct tkx_md_sub_stats ms;

		tkx_md_sub_stats_get(m->md, &ms);
		printf("summary: market data: packets %" PRIu64 ", messages %" PRIu64
		       ", gaps %" PRIu64 ", recovered %" PRIu64 ", lost %" PRIu64
		       ", duplicates %" PRIu64 "\n",
		       ms.packets, ms.messages, ms.gaps, ms.recovered, ms.lost, ms.duplicates);
	}
}

int main(int argc, char **argv)
{
	static struct mm mm; /* 140 KiB: not on the stack */
	struct mm *m = &mm;
	struct tkx_client_cfg cfg;
	char ex[64], err[160], ip[INET_ADDRSTRLEN];
	int r, rc = 0;

	if (parse_opts(argc, argv, &m->o) < 0)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	m->rng = m->o.seed ? m->o.seed : 0x9E3779B97F4A7C15ull;
	m->ref = m->o.ref;
	m->md_bid = m->md_ask = TKX_NULL_PRICE;
	m->samples = calloc(LAT_SAMPLES, sizeof(*m->samples));
	if (!m->samples) {
		fprintf(stderr, "tokex-mm: out of memory\n");
		return 1;
	}
	inet_ntop(AF_INET, &m->o.ex.sin_addr, ip, sizeof(ip));
	snprintf(ex, sizeof(ex), "%s %s:%u", m->o.tcp ? "tcp" : "udp", ip,
		 (unsigned)ntohs(m->o.ex.sin_port));

	tkx_client_cfg_default(&cfg);
	cfg.transport = m->o.tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = m->o.ex;
	cfg.firm_id = m->o.firm;
	cfg.secret = (const uint8_t *)m->o.secret;
	cfg.secret_len = strlen(m->o.secret);
	cfg.session_id = m->o.session_id;
	cfg.keepalive_ms = m->o.keepalive_ms;
	cfg.batch = 1; /* one datagram per requote cycle */
	cfg.no_udp_auth = (uint8_t)m->o.no_udp_auth;
	char why[320] = "";
	r = tkx_client_open(&m->c, &cfg);
	if (r < 0) {
		snprintf(why, sizeof(why), "cannot open a session socket to %s: %s", ex,
			 strerror(-r));
		fprintf(stderr, "tokex-mm: %s\n", why);
		result(m, why);
		return 1;
	}
	m->start_ns = mono_ns();
	/* As patient for the first answer as for any later one: 3 keepalive intervals (at
	 * least 5 s), so that a loaded host does not fail the start either. */
	uint32_t est_ms = 3 * m->o.keepalive_ms < 5000 ? 5000 : 3 * m->o.keepalive_ms;
	r = tkx_client_establish(m->c, (int)est_ms);
	if (r < 0) {
		tkx_client_errstr(m->c, err, sizeof(err));
		snprintf(why, sizeof(why), "cannot establish a session with %s as firm %u: %s", ex,
			 m->o.firm, err[0] ? err : strerror(-r));
		fprintf(stderr, "tokex-mm: %s\n", why);
		result(m, why);
		tkx_client_close(m->c);
		free(m->samples);
		return 1;
	}
	say(m, "ESTABLISHED session %" PRIu64 " firm %u over %s, contract %u",
	    tkx_client_session_id(m->c), m->o.firm, ex, m->o.contract);
	if (m->o.md) {
		struct tkx_md_sub_cfg mc;

		tkx_md_sub_cfg_default(&mc);
		mc.group = m->o.md_group;
		mc.iface = m->o.md_iface;
		mc.rerequest = m->o.md_req;
		r = tkx_md_sub_open(&m->md, &mc);
		if (r < 0) {
			snprintf(why, sizeof(why), "cannot subscribe to market data: %s",
				 strerror(-r));
			fprintf(stderr, "tokex-mm: %s\n", why);
			rc = 1;
			goto out;
		}
	}

	r = run(m);
	if (r < 0) {
		tkx_client_errstr(m->c, err, sizeof(err));
		snprintf(why, sizeof(why), "session lost: %s", err[0] ? err : strerror(-r));
		fprintf(stderr, "tokex-mm: %s\n", why);
		rc = 1;
	} else {
		shutdown_session(m);
	}
	summary(m);
out:
	result(m, rc ? why : NULL);
	tkx_md_sub_close(m->md);
	tkx_client_close(m->c);
	free(m->samples);
	return rc;
}
