/*
 * park_client.c - the session-parking end-to-end client (test_tokexd_park.sh): firms log
 * on with sessions of their own choosing against tokexd, leave orders resting and go,
 * and say what the exchange answered, one line each for the script to check.
 *
 *   park FIRM FIRST COUNT PRICE QTY  sessions FIRST, FIRST+1, ... (cancel-on-disconnect
 *                                 off): each Negotiate, Establish, a GTC buy of QTY at PRICE
 *                                 (account 0), its ExecAck, Terminate. Stops at the first
 *                                 refused logon. "PARK parked N" then, when one was
 *                                 refused, "PARK refused SID <why>" (the library's text,
 *                                 e.g. "NegotiationReject: SessionLimit (11)").
 *   logon FIRM SID                "LOGON SID ok next N" (N: the EstablishmentAck's next
 *                                 number: the session's messages so far + 1) or "LOGON
 *                                 SID refused <why>"; then Terminate.
 *   cross FIRM SID PRICE QTY      an IOC sell: "CROSS fills N qty Q"; every Fill must be
 *                                 for its own order.
 *   masscancel FIRM SID ACCOUNT   MassCancel ACCOUNT scope, every contract:
 *                                 "MASSCANCEL next N count C" (N as for logon).
 * Options: --udp IP:PORT (order entry), --tcp IP:PORT (use TCP instead), --contract ID.
 * Firms 1 and 2 are tokexd's built-in demo firms. Every wait is bounded; exit 0 when the
 * exchange answered (a refused logon included), 1 on a failure of the exchange or of this
 * client, 2 on bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokex/client.h"

static struct sockaddr_in g_udp, g_tcp;
static uint32_t g_contract;

static uint64_t mono_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000 + (uint64_t)t.tv_nsec / 1000000;
}

static const char *secret(uint32_t firm)
{
	return firm == 1 ? "tokex-demo-secret-firm-1" : "tokex-demo-secret-firm-2";
}

/* Negotiate + Establish: 0 and *c, 1 when refused (the reason printed with what), -1 on
 * another failure. *next gets the EstablishmentAck's next number. */
static int open_session(uint32_t firm, uint64_t sid, const char *what, struct tkx_client **c,
			uint64_t *next)
{
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	int tcp = g_tcp.sin_port != 0;
	cfg.transport = tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = tcp ? g_tcp : g_udp;
	cfg.firm_id = firm;
	cfg.secret = (const uint8_t *)secret(firm);
	cfg.secret_len = strlen(secret(firm));
	cfg.session_id = sid;
	cfg.cancel_on_disconnect = 0;
	cfg.keepalive_ms = 5000; /* a loaded test machine can stall this process for a while */
	int r = tkx_client_open(c, &cfg);
	if (r < 0) {
		fprintf(stderr, "park_client: open: %s\n", strerror(-r));
		return -1;
	}
	r = tkx_client_establish(*c, 30000);
	if (r < 0) {
		char e[160];
		tkx_client_errstr(*c, e, sizeof(e));
		tkx_client_close(*c);
		*c = NULL;
		if (r == -ECONNREFUSED && strstr(e, "Reject")) {
			printf("%s %" PRIu64 " refused %s\n", what, sid, e);
			return 1;
		}
		fprintf(stderr, "park_client: session %" PRIu64 ": establish: %s (%s)\n", sid,
			strerror(-r), e);
		return -1;
	}
	/* The EstablishmentAck is the first event establish() left queued. */
	*next = 0;
	struct tkx_client_event ev[16];
	uint64_t end = mono_ms() + 30000; /* a hang bound, not a speed */
	while (*next == 0 && mono_ms() < end) {
		int n = tkx_client_poll(*c, 50, ev, 16);
		for (int i = 0; i < n; i++)
			if (ev[i].kind == TKX_ESTABLISHMENT_ACK)
				*next = ev[i].msg.establishment_ack.next_seq_no;
		if (n < 0)
			break;
	}
	if (*next == 0) {
		fprintf(stderr, "park_client: session %" PRIu64 ": no EstablishmentAck event\n", sid);
		return -1;
	}
	return 0;
}

static int close_session(struct tkx_client *c)
{
	int r = tkx_client_terminate(c, 5000);
	tkx_client_close(c);
	return r == 0 || r == -ETIMEDOUT ? 0 : -1;
}

/* Polls until the event of kind `kind` (an ExecAck: for order_cl; TKX_FILL: until the
 * order order_cl is done) or 5 s; fills go to *fills and *qty when not NULL, *foreign set by
 * one for another order. The event found, or kind 0. */
static struct tkx_client_event wait_for(struct tkx_client *c, uint16_t kind, uint64_t order_cl,
					unsigned *fills, uint64_t *qty, int *foreign)
{
	struct tkx_client_event ev[32], none;
	memset(&none, 0, sizeof(none));
	uint64_t end = mono_ms() + 30000; /* a hang bound, not a speed */
	while (mono_ms() < end) {
		int n = tkx_client_poll(c, 50, ev, 32);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++) {
			if (ev[i].kind == TKX_FILL && fills) {
				(*fills)++;
				*qty += ev[i].msg.fill.qty;
				if (ev[i].msg.fill.cl_ord_id != order_cl)
					*foreign = 1;
			}
			if (ev[i].kind == TKX_EXEC_REJECT) {
				fprintf(stderr, "park_client: ExecReject reason %u\n",
					ev[i].msg.exec_reject.reason);
				return none;
			}
			/* TKX_FILL: until the order is done (its last Fill, or the Cancelled of
			 * an IOC's rest). */
			if (kind == TKX_FILL) {
				if (ev[i].flags & TKX_CLIENT_EVF_ORDER_DONE)
					return ev[i];
				continue;
			}
			if (ev[i].kind == kind &&
			    (kind != TKX_EXEC_ACK || ev[i].msg.exec_ack.cl_ord_id == order_cl))
				return ev[i];
		}
	}
	return none;
}

static int do_park(uint32_t firm, uint64_t first, unsigned count, int64_t price, uint32_t qty)
{
	unsigned parked = 0;
	for (unsigned i = 0; i < count; i++) {
		struct tkx_client *c;
		uint64_t next;
		int r = open_session(firm, first + i, "PARK", &c, &next);
		if (r > 0)
			break;
		if (r < 0)
			return 1;
		struct tkx_new_order o = {.price = price, .qty = qty, .contract_id = g_contract,
					  .account = 0, .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC};
		if (tkx_client_new_order(c, &o) < 0 ||
		    wait_for(c, TKX_EXEC_ACK, o.cl_ord_id, NULL, NULL, NULL).kind != TKX_EXEC_ACK) {
			fprintf(stderr, "park_client: session %" PRIu64 ": no ExecAck\n", first + i);
			tkx_client_close(c);
			return 1;
		}
		if (close_session(c) < 0)
			return 1;
		parked++;
	}
	printf("PARK parked %u\n", parked);
	return 0;
}

static int do_logon(uint32_t firm, uint64_t sid)
{
	struct tkx_client *c;
	uint64_t next;
	int r = open_session(firm, sid, "LOGON", &c, &next);
	if (r != 0)
		return r > 0 ? 0 : 1;
	printf("LOGON %" PRIu64 " ok next %" PRIu64 "\n", sid, next);
	return close_session(c) < 0;
}

static int do_cross(uint32_t firm, uint64_t sid, int64_t price, uint32_t qty)
{
	struct tkx_client *c;
	uint64_t next, q = 0;
	unsigned fills = 0;
	int foreign = 0;
	int r = open_session(firm, sid, "CROSS", &c, &next);
	if (r != 0)
		return 1;
	struct tkx_new_order o = {.price = price, .qty = qty, .contract_id = g_contract,
				  .side = TKX_SIDE_SELL, .tif = TKX_TIF_IOC};
	if (tkx_client_new_order(c, &o) < 0)
		return 1;
	struct tkx_client_event e = wait_for(c, TKX_FILL, o.cl_ord_id, &fills, &q, &foreign);
	if (e.kind == 0 && fills == 0)
		fprintf(stderr, "park_client: the IOC got no fill and no end\n");
	printf("CROSS fills %u qty %" PRIu64 "\n", fills, q);
	if (foreign)
		fprintf(stderr, "park_client: a Fill for an order that is not this session's\n");
	return close_session(c) < 0 || foreign;
}

static int do_masscancel(uint32_t firm, uint64_t sid, uint32_t account)
{
	struct tkx_client *c;
	uint64_t next;
	int r = open_session(firm, sid, "MASSCANCEL", &c, &next);
	if (r != 0)
		return 1;
	struct tkx_mass_cancel m = {.cl_ord_id = 0, .contract_id = 0, .account = account,
				    .scope = TKX_SCOPE_ACCOUNT, .side = 0};
	if (tkx_client_mass_cancel(c, &m) < 0)
		return 1;
	struct tkx_client_event e = wait_for(c, TKX_MASS_CANCEL_ACK, 0, NULL, NULL, NULL);
	if (e.kind != TKX_MASS_CANCEL_ACK) {
		fprintf(stderr, "park_client: no MassCancelAck\n");
		tkx_client_close(c);
		return 1;
	}
	printf("MASSCANCEL next %" PRIu64 " count %u\n", next, e.msg.mass_cancel_ack.count);
	return close_session(c) < 0;
}

static int num(const char *s, uint64_t *v)
{
	char *end;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno || *end || !*s)
		return -1;
	*v = x;
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"udp", required_argument, NULL, 'u'},
		{"tcp", required_argument, NULL, 't'},
		{"contract", required_argument, NULL, 'c'},
		{NULL, 0, NULL, 0},
	};
	int o;
	uint64_t v[5] = {0};
	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'u':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_UDP, &g_udp) < 0)
				return 2;
			break;
		case 't':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &g_tcp) < 0)
				return 2;
			break;
		case 'c':
			if (num(optarg, &v[0]) < 0)
				return 2;
			g_contract = (uint32_t)v[0];
			break;
		default:
			return 2;
		}
	}
	int na = argc - optind - 1;
	const char *cmd = optind < argc ? argv[optind] : "";
	for (int i = 0; i < na && i < 5; i++)
		if (num(argv[optind + 1 + i], &v[i]) < 0)
			return 2;
	if (g_contract == 0 || (g_udp.sin_port == 0 && g_tcp.sin_port == 0)) {
		fprintf(stderr, "usage: park_client --udp IP:PORT [--tcp IP:PORT] --contract ID "
				"park|logon|cross|masscancel ARGS\n");
		return 2;
	}
	if (strcmp(cmd, "park") == 0 && na == 5)
		return do_park((uint32_t)v[0], v[1], (unsigned)v[2], (int64_t)v[3], (uint32_t)v[4]);
	if (strcmp(cmd, "logon") == 0 && na == 2)
		return do_logon((uint32_t)v[0], v[1]);
	if (strcmp(cmd, "cross") == 0 && na == 4)
		return do_cross((uint32_t)v[0], v[1], (int64_t)v[2], (uint32_t)v[3]);
	if (strcmp(cmd, "masscancel") == 0 && na == 3)
		return do_masscancel((uint32_t)v[0], v[1], (uint32_t)v[2]);
	fprintf(stderr, "park_client: bad command\n");
	return 2;
}
