/*
 * dataplane/client/example.c - tokex-client-example: the smallest complete member program
 * on libtokex-client (tokex/client.h). It logs on over TCP, sends one limit order, reports
 * its acknowledgement and each fill, and logs off cleanly once the order is filled.
 *
 *   tokex-client-example HOST:PORT FIRM SECRET_HEX CONTRACT buy|sell PRICE QTY [WAIT_S]
 *
 * PRICE is decimal text ("2.5010", tokex/price.h). The order is GTC: it rests until
 * somebody trades with it, for up to WAIT_S seconds (default 30), then the program
 * cancels it and logs off. Exit status: 0 filled, 1 rejected, cancelled, timed out or
 * the session failed, 2 bad arguments.
 *
 * Role: documentation that compiles (the tests build and run it against tokexd), and the
 * program to copy when writing a client: every call's result is checked.
 * Build it against the installed library:
 *   cc example.c $(pkg-config --cflags --libs tokex-client) -o tokex-client-example
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime under -std=c11 */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokex/client.h"

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* "746f6b..." -> bytes; the byte count, or -1. */
static int unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n % 2 || n / 2 > max)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)s[i]))
			return -1;
	for (size_t i = 0; i < n / 2; i++) {
		unsigned v;
		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)(n / 2);
}

/* A whole decimal number, or 0 (which every argument here refuses) when s is not one. */
static unsigned long number(const char *s)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || *end != '\0' || errno != 0 || v > 1000000000000ul)
		return 0;
	return v;
}

static int usage(void)
{
	fprintf(stderr, "usage: tokex-client-example HOST:PORT FIRM SECRET_HEX CONTRACT "
			"buy|sell PRICE QTY [WAIT_S]\n");
	return 2;
}

/* Says why the session is not usable and closes it. */
static int give_up(struct tkx_client *c, const char *what)
{
	char why[256];
	tkx_client_errstr(c, why, sizeof(why));
	fprintf(stderr, "example: %s: %s\n", what, why);
	tkx_client_close(c);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 8 || argc > 9)
		return usage();
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	cfg.transport = TKX_CLIENT_TCP;
	/* Our heartbeat interval, which the exchange holds us to: a session silent for longer
	 * than that (give or take) is ended KeepaliveTimeout. 5 s tolerates a busy host; the
	 * library sends the heartbeats from tkx_client_poll(). */
	cfg.keepalive_ms = 5000;
	uint8_t key[TKX_CLIENT_MAX_SECRET];
	int key_len = unhex(argv[3], key, sizeof(key));
	unsigned long firm = number(argv[2]);
	unsigned long contract = number(argv[4]);
	unsigned long qty = number(argv[7]);
	long wait_s = argc == 9 ? (long)number(argv[8]) : 30;
	int64_t price;
	int side = strcmp(argv[5], "buy") == 0 ? TKX_SIDE_BUY :
		   strcmp(argv[5], "sell") == 0 ? TKX_SIDE_SELL : 0;
	if (tkx_client_parse_addr(argv[1], TKX_PORT_ORDER_TCP, &cfg.exchange) < 0 ||
	    key_len < 0 || firm == 0 || firm > UINT32_MAX || contract == 0 ||
	    contract > UINT32_MAX || qty == 0 || qty > UINT32_MAX || side == 0 ||
	    tkx_price_parse(argv[6], &price) < 0 || wait_s <= 0)
		return usage();
	cfg.firm_id = (uint32_t)firm;
	cfg.secret = key;
	cfg.secret_len = (size_t)key_len;

	/* Logon: Negotiate, then Establish (the library signs both with the firm's key). */
	struct tkx_client *c;
	int rc = tkx_client_open(&c, &cfg);
	if (rc < 0) {
		fprintf(stderr, "example: cannot connect to %s: %s\n", argv[1], strerror(-rc));
		return 1;
	}
	if (tkx_client_establish(c, 10000) < 0)
		return give_up(c, "logon refused");
	printf("logged on: session %" PRIu64 "\n", tkx_client_session_id(c));

	struct tkx_new_order o = {
		.price = price, .qty = (uint32_t)qty, .contract_id = (uint32_t)contract,
		.side = (uint8_t)side, .tif = TKX_TIF_GTC,
	};
	if (tkx_client_new_order(c, &o) < 0)
		return give_up(c, "NewOrder not sent");

	/* Events until the order is done: filled, or refused, or cancelled at the deadline. */
	int status = 1, cancel_sent = 0;
	uint64_t deadline = now_ms() + (uint64_t)wait_s * 1000u;
	char px[TKX_PRICE_TEXT_MAX];
	for (int done = 0; !done;) {
		struct tkx_client_event ev[16];
		int n = tkx_client_poll(c, 100, ev, 16);
		if (n < 0)
			return give_up(c, "session lost");
		for (int i = 0; i < n; i++) {
			const struct tkx_msg *m = &ev[i].msg;
			switch (ev[i].kind) {
			case TKX_EXEC_ACK:
				tkx_price_format(m->exec_ack.price, px, sizeof(px));
				printf("acked: order %" PRIu64 ", %s %" PRIu32 " at %s\n",
				       m->exec_ack.order_id, tkx_side_name(m->exec_ack.side),
				       m->exec_ack.qty, px);
				fflush(stdout);
				break;
			case TKX_FILL:
				tkx_price_format(m->fill.price, px, sizeof(px));
				printf("fill: %" PRIu32 " at %s (trade %" PRIu64 "), %" PRIu32
				       " left\n", m->fill.qty, px, m->fill.trade_id,
				       m->fill.leaves_qty);
				if (m->fill.leaves_qty == 0) {
					status = 0;
					done = 1;
				}
				break;
			case TKX_EXEC_REJECT:
				printf("rejected: %s\n",
				       tkx_reject_reason_name(m->exec_reject.reason));
				done = 1;
				break;
			case TKX_CANCELLED:
				printf("cancelled: %" PRIu32 " not traded\n", m->cancelled.qty);
				done = 1;
				break;
			case TKX_CLIENT_EV_CLOSED:
				return give_up(c, "connection closed");
			default: /* heartbeats and the rest: nothing to do here */
				break;
			}
		}
		if (!done && !cancel_sent && now_ms() >= deadline) {
			uint64_t id;
			printf("no fill in %ld s: cancelling\n", wait_s);
			if (tkx_client_cancel(c, o.cl_ord_id, &id) < 0)
				return give_up(c, "OrderCancel not sent");
			cancel_sent = 1;
		}
	}
	printf("%s\n", status == 0 ? "filled" : "not filled");

	/* Logoff: Terminate, answered by the exchange's Terminate. */
	if (tkx_client_terminate(c, 5000) < 0)
		return give_up(c, "logoff");
	printf("logged off\n");
	tkx_client_close(c);
	return status;
}
