/*
 * year_trader.c - the two firms of the simulated year (test_tokexd_year.sh): a coprocess
 * that reads one command a line on stdin, trades through tokexd's TCP gateway with
 * libtokex-client, and answers one line on stdout ("ok ..." or "err ...").
 *
 * Commands:
 *   trade ID PRICE QTY       firm 1 sells QTY at PRICE (GTC), acknowledged, then firm 2
 *                            buys QTY at PRICE: both filled whole at PRICE, so the day's
 *                            VWAP moves by exactly that trade
 *   rest ID buy|sell PRICE QTY
 *                            a resting order (buy: firm 2, sell: firm 1), acknowledged;
 *                            at the close it leaves the book limit-locked when PRICE is a
 *                            limit and nothing is on the other side
 *   quit
 * Before each command, a firm whose session is not ESTABLISHED (tokexd was killed and
 * restarted: the TCP connection is gone) logs on again with a new session. Sessions do
 * not cancel on disconnect (a kill must not change the book the test's model expects).
 * An answer that does not come within WAIT_MS is "err" (a hang bound, not a speed).
 *
 * usage: year_trader --tcp IP:PORT
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokex/client.h"

#define WAIT_MS 60000

static const char *const secret[2] = {"tokex-demo-secret-firm-1", "tokex-demo-secret-firm-2"};
static struct tkx_client *cl[2];
static struct sockaddr_in tcp;
static uint64_t next_cl_ord[2] = {1, 1};

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Firm f+1's session, established (a new one when the old one is gone): 0 or -errno. */
static int session(int f, char *why, size_t len)
{
	if (cl[f]) {
		/* What came since the last command (Cancelled of a mass cancel, the end of the
		 * connection when tokexd was killed) is read: the state is then current. */
		struct tkx_client_event ev[32];
		while (tkx_client_poll(cl[f], 0, ev, 32) > 0)
			;
		if (tkx_client_state(cl[f]) == TKX_CLIENT_ESTABLISHED)
			return 0;
	}
	if (cl[f]) {
		tkx_client_close(cl[f]);
		cl[f] = NULL;
	}
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	cfg.transport = TKX_CLIENT_TCP;
	cfg.exchange = tcp;
	cfg.firm_id = (uint32_t)f + 1;
	cfg.secret = (const uint8_t *)secret[f];
	cfg.secret_len = strlen(secret[f]);
	cfg.cancel_on_disconnect = 0;
	cfg.keepalive_ms = 5000;
	cfg.connect_timeout_ms = 10000;
	cfg.first_cl_ord_id = next_cl_ord[f];
	int rc = tkx_client_open(&cl[f], &cfg);
	if (rc < 0) {
		snprintf(why, len, "firm %d: open: %s", f + 1, strerror(-rc));
		cl[f] = NULL;
		return rc;
	}
	rc = tkx_client_establish(cl[f], WAIT_MS);
	if (rc < 0) {
		char e[128] = "";
		tkx_client_errstr(cl[f], e, sizeof(e));
		snprintf(why, len, "firm %d: establish: %s %s", f + 1, strerror(-rc), e);
		tkx_client_close(cl[f]);
		cl[f] = NULL;
		return rc;
	}
	return 0;
}

/* Waits for the event that settles order cl_ord_id of firm f: want_fill 0: its ExecAck;
 * else until it has filled want_fill. 0, or -errno with the reason. */
static int await(int f, uint64_t id, uint32_t want_fill, int64_t price, char *why, size_t len)
{
	uint64_t end = mono_ms() + WAIT_MS;
	uint32_t filled = 0;
	int acked = 0;
	struct tkx_client_event ev[32];
	while (mono_ms() < end) {
		int n = tkx_client_poll(cl[f], 100, ev, 32);
		if (n < 0) {
			snprintf(why, len, "firm %d: session over: %s", f + 1, strerror(-n));
			return n;
		}
		for (int i = 0; i < n; i++) {
			const struct tkx_msg *m = &ev[i].msg;
			switch (ev[i].kind) {
			case TKX_EXEC_ACK:
				if (m->exec_ack.cl_ord_id == id)
					acked = 1;
				break;
			case TKX_EXEC_REJECT:
				if (m->exec_reject.cl_ord_id == id) {
					snprintf(why, len, "firm %d: order %" PRIu64 " rejected, reason %u",
						 f + 1, id, (unsigned)m->exec_reject.reason);
					return -EPERM;
				}
				break;
			case TKX_FILL:
				if (m->fill.cl_ord_id == id) {
					if (m->fill.price != price) {
						snprintf(why, len, "firm %d: filled at %" PRId64
							 ", not %" PRId64, f + 1, m->fill.price, price);
						return -EPROTO;
					}
					filled += m->fill.qty;
				}
				break;
			case TKX_CLIENT_EV_CLOSED:
				snprintf(why, len, "firm %d: connection closed", f + 1);
				return -ECONNRESET;
			default:
				break;
			}
		}
		if (want_fill ? filled >= want_fill : acked)
			return 0;
	}
	snprintf(why, len, "firm %d: order %" PRIu64 ": no %s in %d ms", f + 1, id,
		 want_fill ? "fill" : "ExecAck", WAIT_MS);
	return -ETIMEDOUT;
}

static int order(int f, uint32_t id, int side, int64_t price, uint32_t qty, uint64_t *cl_ord,
		 char *why, size_t len)
{
	struct tkx_new_order o = {.price = price, .qty = qty, .contract_id = id,
				  .side = (uint8_t)side, .tif = TKX_TIF_GTC};
	int rc = tkx_client_new_order(cl[f], &o);
	if (rc < 0) {
		snprintf(why, len, "firm %d: new order: %s", f + 1, strerror(-rc));
		return rc;
	}
	next_cl_ord[f] = o.cl_ord_id + 1;
	*cl_ord = o.cl_ord_id;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 3 || strcmp(argv[1], "--tcp") != 0 ||
	    tkx_client_parse_addr(argv[2], 0, &tcp) < 0) {
		fprintf(stderr, "usage: year_trader --tcp IP:PORT\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char line[256];
	while (fgets(line, sizeof(line), stdin)) {
		char cmd[16] = "", sd[8] = "", why[256] = "";
		unsigned id = 0, qty = 0;
		long long price = 0;
		int rc = 0;
		if (sscanf(line, "%15s", cmd) != 1)
			continue;
		if (strcmp(cmd, "quit") == 0)
			break;
		for (int f = 0; f < 2 && rc == 0; f++)
			rc = session(f, why, sizeof(why));
		uint64_t a, b;
		if (rc < 0) {
			/* said */
		} else if (strcmp(cmd, "trade") == 0 &&
			   sscanf(line, "%*s %u %lld %u", &id, &price, &qty) == 3) {
			rc = order(0, id, TKX_SIDE_SELL, price, qty, &a, why, sizeof(why));
			if (rc == 0)
				rc = await(0, a, 0, price, why, sizeof(why));
			if (rc == 0)
				rc = order(1, id, TKX_SIDE_BUY, price, qty, &b, why, sizeof(why));
			if (rc == 0)
				rc = await(1, b, qty, price, why, sizeof(why));
			if (rc == 0)
				rc = await(0, a, qty, price, why, sizeof(why));
		} else if (strcmp(cmd, "rest") == 0 &&
			   sscanf(line, "%*s %u %7s %lld %u", &id, sd, &price, &qty) == 4 &&
			   (strcmp(sd, "buy") == 0 || strcmp(sd, "sell") == 0)) {
			int f = sd[0] == 'b' ? 1 : 0;
			rc = order(f, id, f ? TKX_SIDE_BUY : TKX_SIDE_SELL, price, qty, &a, why,
				   sizeof(why));
			if (rc == 0)
				rc = await(f, a, 0, price, why, sizeof(why));
		} else {
			snprintf(why, sizeof(why), "unknown command: %s", cmd);
			rc = -EINVAL;
		}
		size_t n = strlen(line);
		while (n && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (rc == 0)
			printf("ok %s\n", line);
		else
			printf("err %s: %s\n", line, why);
	}
	for (int f = 0; f < 2; f++)
		if (cl[f]) {
			tkx_client_terminate(cl[f], 5000);
			tkx_client_close(cl[f]);
		}
	return 0;
}
