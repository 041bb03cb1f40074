/*
 * types_client.c - the two firms of test_tokexd_types.sh: a coprocess that reads one
 * command a line on stdin, trades through tokexd's TCP gateway with libtokex-client
 * (DAY orders, icebergs, stop orders), watches market data, and answers one line on
 * stdout ("ok ..." or "err ...").
 *
 * Commands (NAME: the test's name of an order; FIRM 1 or 2; prices in 0.0001 units):
 *   new NAME FIRM buy|sell PRICE QTY gtc|ioc|fok|post|day [show=N] [stop=P]
 *        a NewOrder; waits for its ExecAck ("ok NAME oid=...") or ExecReject ("err")
 *   wait FIRM ack|fill|cancelled|elected NAME [qty=N] [leaves=N] [reason=N] [price=P]
 *        waits for the first event of FIRM's session not taken yet by an earlier wait
 *        that is of that kind, for that order, with those fields; takes it
 *   none FIRM fill|cancelled|elected NAME
 *        ok when FIRM's session got no event of that kind for that order so far
 *   tob BID_PX BID_QTY ASK_PX ASK_QTY
 *        waits until the contract's latest TopOfBook shows exactly that (- for a side
 *        with nothing: price and quantity both -)
 *   quit
 * Before each command, a firm whose session is not ESTABLISHED (tokexd was killed and
 * restarted: the TCP connection is gone) resumes the same session (its session id, the
 * next numbers: protocol 4.5), so that what the exchange says about its orders after the
 * restart (a stop elected, a DAY order expired) reaches it; a gap is retransmitted.
 * Market data is joined again then (the restarted tokexd's TAP is a new interface).
 * Between commands both sessions and market data are read (heartbeats go out: a firm
 * that has no command for a while keeps its session).
 * Sessions do not cancel on disconnect. A wait that is not met within WAIT_MS is "err" (a
 * hang bound, not a speed), saying what the session got.
 *
 * usage: types_client --tcp IP:PORT --md GROUP:PORT --iface ADDR --md-req IP:PORT
 *        --contract ID --session-base N
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

#include "tokex/client.h"

#define WAIT_MS 60000
#define MAX_EV 8192
#define MAX_NAMES 4096

static const char *const secret[2] = {"tokex-demo-secret-firm-1", "tokex-demo-secret-firm-2"};

struct firm {
	struct tkx_client *c;
	uint64_t session_id;
	struct tkx_client_stats st; /* as of the last poll: what a resume starts from */
	int opened;
	struct tkx_client_event ev[MAX_EV];
	uint8_t taken[MAX_EV];
	uint32_t n_ev;
};

static struct firm F[2];
static struct sockaddr_in tcp, md_group, md_req;
static struct in_addr md_iface;
static uint32_t contract;
static struct tkx_md_sub *md;
static struct tkx_msg tob; /* the contract's latest TopOfBook (template_id 0: none yet) */

static struct {
	char name[32];
	int firm;
	uint64_t cl;
} names[MAX_NAMES];
static unsigned n_names;

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Everything that came, kept (a wait takes from it); the stats for a resume. */
static void drain(struct firm *f, int timeout_ms)
{
	struct tkx_client_event ev[64];
	if (!f->c)
		return;
	int n = tkx_client_poll(f->c, timeout_ms, ev, 64);
	for (int i = 0; i < n; i++) {
		if (ev[i].kind >= 1000)
			continue; /* LOST, CLOSED: the state says it */
		if (f->n_ev < MAX_EV)
			f->ev[f->n_ev++] = ev[i];
	}
	tkx_client_stats_get(f->c, &f->st);
}

/* The market-data subscriber: (re)joined on the TAP, which a restarted tokexd creates
 * anew (the old one's group membership went with it). */
static int md_open(void)
{
	struct tkx_md_sub_cfg mc;
	if (md)
		tkx_md_sub_close(md);
	md = NULL;
	tkx_md_sub_cfg_default(&mc);
	mc.group = md_group;
	mc.iface = md_iface;
	mc.rerequest = md_req;
	return tkx_md_sub_open(&md, &mc);
}

static void md_drain(int timeout_ms)
{
	struct tkx_md_sub_event ev[64];
	int n = tkx_md_sub_poll(md, timeout_ms, ev, 64);
	for (int i = 0; i < n; i++)
		if (ev[i].kind == TKX_MD_TOP_OF_BOOK &&
		    ev[i].msg.md_top_of_book.contract_id == contract)
			tob = ev[i].msg;
}

/* Firm k's session, established: the same session resumed when it was lost. */
static int session(int k, char *why, size_t len)
{
	struct firm *f = &F[k];
	drain(f, 0);
	if (f->c && tkx_client_state(f->c) == TKX_CLIENT_ESTABLISHED)
		return 0;
	if (f->c) {
		tkx_client_close(f->c);
		f->c = NULL;
	}
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	cfg.transport = TKX_CLIENT_TCP;
	cfg.exchange = tcp;
	cfg.firm_id = (uint32_t)k + 1;
	cfg.secret = (const uint8_t *)secret[k];
	cfg.secret_len = strlen(secret[k]);
	cfg.session_id = f->session_id;
	cfg.cancel_on_disconnect = 0;
	cfg.keepalive_ms = 5000;
	cfg.connect_timeout_ms = 10000;
	if (f->opened) {
		cfg.next_seq_no = f->st.next_seq_no;
		cfg.last_in_seq = f->st.last_in_seq;
		cfg.first_cl_ord_id = f->st.next_cl_ord_id;
	}
	int rc = tkx_client_open(&f->c, &cfg);
	if (rc < 0) {
		snprintf(why, len, "firm %d: open: %s", k + 1, strerror(-rc));
		f->c = NULL;
		return rc;
	}
	rc = tkx_client_establish(f->c, WAIT_MS);
	if (rc < 0) {
		char e[128] = "";
		tkx_client_errstr(f->c, e, sizeof(e));
		snprintf(why, len, "firm %d: establish: %s %s", k + 1, strerror(-rc), e);
		tkx_client_close(f->c);
		f->c = NULL;
		return rc;
	}
	if (f->opened) {
		/* A resume: tokexd was restarted, on a new TAP. */
		rc = md_open();
		if (rc < 0) {
			snprintf(why, len, "market data: %s", strerror(-rc));
			return rc;
		}
	}
	f->opened = 1;
	return 0;
}

static int name_find(const char *n)
{
	for (unsigned i = 0; i < n_names; i++)
		if (!strcmp(names[i].name, n))
			return (int)i;
	return -1;
}

enum kind { K_ACK, K_FILL, K_CANCELLED, K_ELECTED, K_BAD };

static enum kind kind_of(const char *s)
{
	return !strcmp(s, "ack") ? K_ACK : !strcmp(s, "fill") ? K_FILL :
	       !strcmp(s, "cancelled") ? K_CANCELLED : !strcmp(s, "elected") ? K_ELECTED : K_BAD;
}

struct want {
	enum kind k;
	uint64_t cl;
	int64_t qty, leaves, reason, price; /* -1: any */
};

/* Whether ev is what w asks for. */
static int match(const struct tkx_client_event *ev, const struct want *w)
{
	const struct tkx_msg *m = &ev->msg;
	int64_t qty = -1, leaves = -1, reason = -1, price = -1;
	switch (w->k) {
	case K_ACK:
		if (ev->kind != TKX_EXEC_ACK || m->exec_ack.cl_ord_id != w->cl)
			return 0;
		qty = m->exec_ack.qty;
		price = m->exec_ack.price;
		break;
	case K_FILL:
		if (ev->kind != TKX_FILL || m->fill.cl_ord_id != w->cl)
			return 0;
		qty = m->fill.qty;
		leaves = m->fill.leaves_qty;
		price = m->fill.price;
		break;
	case K_CANCELLED:
		if (ev->kind != TKX_CANCELLED || m->cancelled.orig_cl_ord_id != w->cl)
			return 0;
		qty = m->cancelled.qty;
		reason = m->cancelled.reason;
		break;
	case K_ELECTED:
		if (ev->kind != TKX_STOP_ELECTED || m->stop_elected.cl_ord_id != w->cl)
			return 0;
		qty = m->stop_elected.qty;
		price = m->stop_elected.price;
		break;
	default:
		return 0;
	}
	return (w->qty < 0 || w->qty == qty) && (w->leaves < 0 || w->leaves == leaves) &&
	       (w->reason < 0 || w->reason == reason) && (w->price < 0 || w->price == price);
}

/* What the session got, for an error line. */
static void describe(const struct firm *f, char *out, size_t len)
{
	size_t at = 0;
	out[0] = '\0';
	for (uint32_t i = f->n_ev > 12 ? f->n_ev - 12 : 0; i < f->n_ev && at < len; i++) {
		const struct tkx_client_event *e = &f->ev[i];
		const struct tkx_msg *m = &e->msg;
		int n = 0;
		switch (e->kind) {
		case TKX_FILL:
			n = snprintf(out + at, len - at, " fill(cl %" PRIu64 " %u left %u)",
				     m->fill.cl_ord_id, m->fill.qty, m->fill.leaves_qty);
			break;
		case TKX_CANCELLED:
			n = snprintf(out + at, len - at, " cancelled(cl %" PRIu64 " %u reason %u)",
				     m->cancelled.orig_cl_ord_id, m->cancelled.qty,
				     m->cancelled.reason);
			break;
		default:
			n = snprintf(out + at, len - at, " %s", tkx_template_name(e->kind));
			break;
		}
		if (n < 0)
			break;
		at += (size_t)n;
	}
}

static int parse_fields(char **tok, int n, struct want *w)
{
	w->qty = w->leaves = w->reason = w->price = -1;
	for (int i = 0; i < n; i++) {
		char *eq = strchr(tok[i], '=');
		if (!eq)
			return -1;
		*eq++ = '\0';
		char *end;
		long long v = strtoll(eq, &end, 10);
		if (*end || v < 0)
			return -1;
		if (!strcmp(tok[i], "qty"))
			w->qty = v;
		else if (!strcmp(tok[i], "leaves"))
			w->leaves = v;
		else if (!strcmp(tok[i], "reason"))
			w->reason = v;
		else if (!strcmp(tok[i], "price"))
			w->price = v;
		else
			return -1;
	}
	return 0;
}

static void cmd_new(char **t, int n, char *out, size_t len)
{
	if (n < 7 || n_names >= MAX_NAMES || name_find(t[1]) >= 0 || strlen(t[1]) >= 32) {
		snprintf(out, len, "err usage: new NAME FIRM buy|sell PRICE QTY TIF [show=N] [stop=P]"
				   " (a new NAME)");
		return;
	}
	int k = atoi(t[2]) - 1;
	static const char *const tifs[] = {"", "gtc", "ioc", "fok", "post", "day"};
	struct tkx_new_order o = {.price = strtoll(t[4], NULL, 10),
				  .qty = (uint32_t)strtoul(t[5], NULL, 10),
				  .contract_id = contract,
				  .side = !strcmp(t[3], "buy") ? TKX_SIDE_BUY : TKX_SIDE_SELL};
	for (uint8_t i = 1; i < 6; i++)
		if (!strcmp(t[6], tifs[i]))
			o.tif = i;
	for (int i = 7; i < n; i++) {
		if (!strncmp(t[i], "show=", 5))
			o.show_qty = (uint32_t)strtoul(t[i] + 5, NULL, 10);
		else if (!strncmp(t[i], "stop=", 5))
			o.stop_price = strtoll(t[i] + 5, NULL, 10);
	}
	if (k < 0 || k > 1 || !o.tif) {
		snprintf(out, len, "err new: bad firm or tif");
		return;
	}
	if (session(k, out + 4, len - 4) < 0) {
		memcpy(out, "err ", 4);
		return;
	}
	int rc = tkx_client_new_order(F[k].c, &o);
	if (rc < 0) {
		snprintf(out, len, "err new %s: %s", t[1], strerror(-rc));
		return;
	}
	snprintf(names[n_names].name, sizeof(names[n_names].name), "%s", t[1]);
	names[n_names].firm = k;
	names[n_names++].cl = o.cl_ord_id;
	uint64_t end = mono_ms() + WAIT_MS;
	struct firm *f = &F[k];
	while (mono_ms() < end) {
		for (uint32_t i = 0; i < f->n_ev; i++) {
			const struct tkx_client_event *e = &f->ev[i];
			if (e->kind == TKX_EXEC_ACK && e->msg.exec_ack.cl_ord_id == o.cl_ord_id) {
				snprintf(out, len, "ok %s oid=%" PRIu64, t[1], e->msg.exec_ack.order_id);
				f->taken[i] = 1;
				return;
			}
			if (e->kind == TKX_EXEC_REJECT &&
			    e->msg.exec_reject.cl_ord_id == o.cl_ord_id) {
				snprintf(out, len, "err new %s: ExecReject %s", t[1],
					 tkx_reject_reason_name(e->msg.exec_reject.reason));
				f->taken[i] = 1;
				return;
			}
		}
		drain(f, 50);
	}
	char e[128] = "";
	tkx_client_errstr(f->c, e, sizeof(e));
	snprintf(out, len, "err new %s: no ExecAck in %d ms (session state %d %s)", t[1], WAIT_MS,
		 tkx_client_state(f->c), e);
}

static void cmd_wait(char **t, int n, int none, char *out, size_t len)
{
	struct want w;
	int k = n >= 4 ? atoi(t[1]) - 1 : -1;
	int ni = n >= 4 ? name_find(t[3]) : -1;
	if (k < 0 || k > 1 || ni < 0 || (w.k = kind_of(t[2])) == K_BAD ||
	    parse_fields(t + 4, n - 4, &w) < 0) {
		snprintf(out, len, "err usage: %s FIRM KIND NAME [field=value...] (a known NAME)",
			 none ? "none" : "wait");
		return;
	}
	w.cl = names[ni].cl;
	struct firm *f = &F[k];
	if (session(k, out + 4, len - 4) < 0) {
		memcpy(out, "err ", 4);
		return;
	}
	if (none) {
		drain(f, 0);
		for (uint32_t i = 0; i < f->n_ev; i++)
			if (match(&f->ev[i], &w)) {
				snprintf(out, len, "err none: firm %d got %s for %s", k + 1, t[2],
					 t[3]);
				return;
			}
		snprintf(out, len, "ok none %s %s", t[2], t[3]);
		return;
	}
	uint64_t end = mono_ms() + WAIT_MS;
	while (mono_ms() < end) {
		for (uint32_t i = 0; i < f->n_ev; i++)
			if (!f->taken[i] && match(&f->ev[i], &w)) {
				f->taken[i] = 1;
				snprintf(out, len, "ok %s %s seq=%" PRIu64, t[2], t[3], f->ev[i].seq);
				return;
			}
		if (tkx_client_state(f->c) != TKX_CLIENT_ESTABLISHED &&
		    session(k, out + 4, len - 4) < 0) {
			memcpy(out, "err ", 4);
			return;
		}
		drain(f, 50);
	}
	char got[1024];
	describe(f, got, sizeof(got));
	snprintf(out, len, "err wait %s %s: not in %d ms; the session's last events:%s", t[2],
		 t[3], WAIT_MS, got);
}

static int64_t side_arg(const char *s)
{
	return !strcmp(s, "-") ? -1 : strtoll(s, NULL, 10);
}

static void cmd_tob(char **t, int n, char *out, size_t len)
{
	if (n != 5) {
		snprintf(out, len, "err usage: tob BID_PX BID_QTY ASK_PX ASK_QTY");
		return;
	}
	int64_t bp = side_arg(t[1]), bq = side_arg(t[2]), ap = side_arg(t[3]), aq = side_arg(t[4]);
	uint64_t end = mono_ms() + WAIT_MS;
	const struct tkx_md_top_of_book *b = &tob.md_top_of_book;
	while (mono_ms() < end) {
		/* Keep the sessions read while market data is waited for. */
		drain(&F[0], 0);
		drain(&F[1], 0);
		if (tob.template_id &&
		    (bp < 0 ? b->bid_price == TKX_NULL_PRICE : b->bid_price == bp) &&
		    (bq < 0 ? b->bid_qty == 0 : (int64_t)b->bid_qty == bq) &&
		    (ap < 0 ? b->ask_price == TKX_NULL_PRICE : b->ask_price == ap) &&
		    (aq < 0 ? b->ask_qty == 0 : (int64_t)b->ask_qty == aq)) {
			snprintf(out, len, "ok tob");
			return;
		}
		md_drain(50);
	}
	struct tkx_md_sub_stats ms;
	memset(&ms, 0, sizeof(ms));
	tkx_md_sub_stats_get(md, &ms);
	if (!tob.template_id)
		snprintf(out, len, "err tob: no TopOfBook of %u in %d ms", contract, WAIT_MS);
	else
		snprintf(out, len, "err tob: the latest is %" PRId64 " x %" PRIu64 " / %" PRId64
				   " x %" PRIu64 " (market data: %" PRIu64 " packets, %" PRIu64
				   " messages, %" PRIu64 " gaps, %" PRIu64 " lost, %" PRIu64
				   " duplicates)",
			 b->bid_price, b->bid_qty, b->ask_price, b->ask_qty, ms.packets,
			 ms.messages, ms.gaps, ms.lost, ms.duplicates);
}

/* The next command line from stdin (without its newline), NULL at its end; until one
 * comes, the sessions and market data are read every 100 ms. */
static char *next_line(void)
{
	static char buf[4096];
	static size_t have, used;
	for (;;) {
		if (used) {
			memmove(buf, buf + used, have - used);
			have -= used;
			used = 0;
		}
		char *nl = memchr(buf, '\n', have);
		if (nl) {
			*nl = '\0';
			used = (size_t)(nl - buf) + 1;
			return buf;
		}
		if (have == sizeof(buf) - 1)
			have = 0; /* a line too long: dropped */
		struct pollfd p = {.fd = 0, .events = POLLIN};
		if (poll(&p, 1, 100) == 0) {
			drain(&F[0], 0);
			drain(&F[1], 0);
			md_drain(0);
			continue;
		}
		ssize_t n = read(0, buf + have, sizeof(buf) - 1 - have);
		if (n <= 0)
			return NULL;
		have += (size_t)n;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: types_client --tcp IP:PORT --md GROUP:PORT --iface ADDR "
			"--md-req IP:PORT --contract ID --session-base N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{"tcp", required_argument, NULL, 't'},    {"md", required_argument, NULL, 'm'},
		{"iface", required_argument, NULL, 'i'},  {"md-req", required_argument, NULL, 'r'},
		{"contract", required_argument, NULL, 'c'},
		{"session-base", required_argument, NULL, 's'}, {NULL, 0, NULL, 0},
	};
	uint64_t base = 0;
	int ch;
	while ((ch = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (ch) {
		case 't':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &tcp) < 0)
				usage();
			break;
		case 'm':
			if (tkx_client_parse_addr(optarg, TKX_PORT_MD, &md_group) < 0)
				usage();
			break;
		case 'i':
			if (inet_pton(AF_INET, optarg, &md_iface) != 1)
				usage();
			break;
		case 'r':
			if (tkx_client_parse_addr(optarg, TKX_PORT_MD_REQ, &md_req) < 0)
				usage();
			break;
		case 'c': contract = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 's': base = strtoull(optarg, NULL, 10); break;
		default: usage();
		}
	}
	if (!tcp.sin_port || !md_group.sin_port || !contract || !base)
		usage();
	F[0].session_id = base;
	F[1].session_id = base + 1;
	int rc = md_open();
	if (rc < 0) {
		fprintf(stderr, "types_client: market data: %s\n", strerror(-rc));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	char out[2048];
	char *line;
	while ((line = next_line()) != NULL) {
		char *t[16];
		int n = 0;
		for (char *s = strtok(line, " \t\r\n"); s && n < 16; s = strtok(NULL, " \t\r\n"))
			t[n++] = s;
		if (n == 0)
			continue;
		if (!strcmp(t[0], "quit"))
			break;
		if (!strcmp(t[0], "new"))
			cmd_new(t, n, out, sizeof(out));
		else if (!strcmp(t[0], "wait"))
			cmd_wait(t, n, 0, out, sizeof(out));
		else if (!strcmp(t[0], "none"))
			cmd_wait(t, n, 1, out, sizeof(out));
		else if (!strcmp(t[0], "tob"))
			cmd_tob(t, n, out, sizeof(out));
		else
			snprintf(out, sizeof(out), "err unknown command '%s'", t[0]);
		md_drain(0);
		printf("%s\n", out);
	}
	for (int k = 0; k < 2; k++)
		if (F[k].c) {
			tkx_client_terminate(F[k].c, 1000);
			tkx_client_close(F[k].c);
		}
	tkx_md_sub_close(md);
	return 0;
}
