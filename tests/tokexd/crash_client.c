/*
 * crash_client.c - the journal's end-to-end client (test_tokexd_journal.sh): two UDP
 * sessions of two firms trade with each other against tokexd, and every numbered
 * exchange message they receive is kept in a state directory, so that after tokexd is
 * killed (kill -9) and restarted on the same journal a new run can check what recovery
 * rebuilt.
 *
 * Sessions: A = firm 1, session id 0x7e57a001, only buys; B = firm 2, 0x7e57b002, only
 * sells (so every trade is A against B, and no self-trade prevention gets in the way).
 * Both on UDP, or with --tcp IP:PORT B on TCP through tokexd's gateway (the journal's
 * "gateway" test: its sessions are rebuilt like the UDP ones). Each run re-establishes
 * both with last_in_seq 0: the exchange's EstablishmentAck says its next number, the
 * library asks for retransmission of everything before it.
 *
 * Modes:
 *   run     recover and check (below), probe the book, then send up to --orders requests
 *           (random GTC buys/sells that cross, some cancels; in batches, some of each
 *           throttled), stopping early when the file --stop appears (the script killed
 *           tokexd); else wait until each session has every reply its requests caused
 *           (barrier requests, answered after them); save the state. --ready FILE is
 *           created when the trading starts (the script kills tokexd after it).
 *   verify  recover, check, probe; nothing else.
 *   storage send NewOrders one by one: the answers are ExecAck until the first ExecReject
 *           STORAGE, then only STORAGE (one request, the one in flight at the failure,
 *           may stay unanswered: tokexd applied it but its reply was not durable, so that
 *           reply is never sent and its number is skipped: the one LOST message allowed,
 *           and a RetransmitReject for it); prints "CRASH storage acks N storage M".
 *   fill    (test_tokexd_journal_relogon; sessions.max 2) fills the TCP session table:
 *           X1 (firm 1, 0x7e57c001) logs on and off; X2 (firm 2, 0x7e57c002) logs on,
 *           leaves a GTC sell resting (far above the market) and logs off.
 *   relogon after a restart, which rebuilt both TERMINATED: a new session (--sid) must
 *           get in at once (X1's slot, which can have no resting orders, counts as having
 *           lingered); while it is on, another new one (--sid2) must be refused (the only
 *           other slot is X2's, whose order may rest); X2 resumes (retransmission checked
 *           as above) and places --orders more resting sells, one at a time.
 * Checks after recovery: (1) every message received earlier is retransmitted with
 * identical bytes at the same number (--strict: and nothing new: the replay of a clean
 * stop regenerates exactly the live stream); (2) numbering 1..N without gaps, nothing
 * LOST; (3) every trade id is filled once in A and once in B with the same price and
 * quantity (no fill lost or duplicated); (4) the book: A's resting buys and B's resting
 * sells computed from the streams are exactly what an IOC from the other side fills.
 * Each run prints "CRASH local A <n> B <m>": the replies in each stream that the session
 * layer made by itself (ExecReject THROTTLED, CLORDID_REUSED, invalid; BusinessReject).
 * Every wait is bounded; exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "tokex/client.h"

#define MAXMSG 200000
/* The longest wait for one thing (an establishment, a recovery's retransmission, an
 * answer): a bound for a hang, generous enough for a loaded machine, never a speed. */
#define WAIT_MS 60000
#define MAXORD 65536

struct sess {
	const char *name;
	uint32_t firm;
	uint64_t sid;
	uint8_t side;
	struct tkx_client *c;
	uint32_t n;      /* messages kept: msg[i] is number i + 1 */
	uint32_t n_old;  /* of them, received by earlier runs */
	struct tkx_msg *msg;
	uint64_t next_seq_no, next_cl;
	uint64_t ack_next; /* EstablishmentAck.next_seq_no of this run */
	uint64_t got;      /* highest number delivered in this run */
};

static struct {
	struct sockaddr_in udp, tcp; /* tcp.sin_port 0: B on UDP too */
	const char *state, *stop, *ready;
	uint32_t orders, contract;
	unsigned seed;
	int strict;
	int recovering; /* in sess_open: what arrives is the retransmission */
	int count_lost; /* storage: LOST messages are counted (g.lost), not a failure */
	uint64_t lost;
} g;

static int failed;
#define FAIL(...)                                        \
	do {                                             \
		fprintf(stdout, "CRASH FAIL: " __VA_ARGS__); \
		fputc('\n', stdout);                     \
		failed = 1;                              \
	} while (0)

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int enc(const struct tkx_msg *m, uint8_t *b)
{
	return tkx_encode(b, 128, m);
}

static int same(const struct tkx_msg *a, const struct tkx_msg *b)
{
	uint8_t x[128], y[128];
	int la = enc(a, x), lb = enc(b, y);
	return la > 0 && la == lb && memcmp(x, y, (size_t)la) == 0;
}

/* ---- state files: <dir>/<name>.msgs (binary tkx_msg array), <name>.resume ------------ */

static void path(char *out, size_t len, const struct sess *s, const char *ext)
{
	snprintf(out, len, "%s/%s.%s", g.state, s->name, ext);
}

static void state_load(struct sess *s)
{
	char p[512];
	path(p, sizeof(p), s, "msgs");
	FILE *f = fopen(p, "rb");
	if (f) {
		s->n = (uint32_t)fread(s->msg, sizeof(s->msg[0]), MAXMSG, f);
		fclose(f);
	}
	s->n_old = s->n;
	s->next_seq_no = 1;
	s->next_cl = 1;
	path(p, sizeof(p), s, "resume");
	f = fopen(p, "r");
	if (f) {
		if (fscanf(f, "%" SCNu64 " %" SCNu64, &s->next_seq_no, &s->next_cl) != 2)
			FAIL("%s: bad resume file", s->name);
		fclose(f);
	}
}

static void state_save(struct sess *s)
{
	char p[512];
	struct tkx_client_stats st;
	path(p, sizeof(p), s, "msgs");
	FILE *f = fopen(p, "wb");
	if (!f || fwrite(s->msg, sizeof(s->msg[0]), s->n, f) != s->n)
		FAIL("%s: cannot write %s", s->name, p);
	if (f)
		fclose(f);
	if (s->c && tkx_client_stats_get(s->c, &st) == 0) {
		s->next_seq_no = st.next_seq_no;
		s->next_cl = st.next_cl_ord_id;
	}
	path(p, sizeof(p), s, "resume");
	f = fopen(p, "w");
	if (f) {
		fprintf(f, "%" PRIu64 " %" PRIu64 "\n", s->next_seq_no, s->next_cl);
		fclose(f);
	}
}

/* ---- events --------------------------------------------------------------------------- */

/* A numbered message: checked against what an earlier run kept, or kept. */
static void keep(struct sess *s, const struct tkx_client_event *e)
{
	if (e->seq == 0 || e->seq > MAXMSG)
		return;
	uint32_t i = (uint32_t)(e->seq - 1);
	if (e->seq > s->got)
		s->got = e->seq;
	if (i < s->n) {
		if (!same(&s->msg[i], &e->msg))
			FAIL("%s: message %" PRIu64 " differs from the one received before the "
			     "restart (template %u, now %u)", s->name, e->seq, s->msg[i].template_id,
			     e->msg.template_id);
		return;
	}
	if (i != s->n) {
		FAIL("%s: message %" PRIu64 " after %u: a gap", s->name, e->seq, s->n);
		return;
	}
	if (g.strict && g.recovering && i >= s->n_old && s->n_old)
		FAIL("%s: message %" PRIu64 " is new after a clean stop", s->name, e->seq);
	s->msg[s->n++] = e->msg;
}

/* Polls s; returns how many events. */
static int pump(struct sess *s, int timeout_ms)
{
	struct tkx_client_event ev[64];
	int n = tkx_client_poll(s->c, timeout_ms, ev, 64);
	for (int i = 0; i < n; i++) {
		if (ev[i].kind == TKX_CLIENT_EV_LOST && g.count_lost) {
			fprintf(stdout, "CRASH %s: messages %" PRIu64 "+%" PRIu64 " never sent\n",
				s->name, ev[i].seq, ev[i].count);
			g.lost += ev[i].count;
		} else if (ev[i].kind == TKX_CLIENT_EV_LOST)
			FAIL("%s: messages %" PRIu64 "+%" PRIu64 " LOST", s->name, ev[i].seq,
			     ev[i].count);
		else if (ev[i].kind == TKX_ESTABLISHMENT_ACK)
			s->ack_next = ev[i].msg.establishment_ack.next_seq_no;
		else if (ev[i].kind == TKX_CLIENT_EV_CLOSED)
			return -1;
		else if (ev[i].kind == TKX_RETRANSMIT_REJECT)
			fprintf(stdout, "CRASH %s: RetransmitReject reason %u\n", s->name,
				ev[i].msg.retransmit_reject.reason);
		else if (ev[i].kind == TKX_RETRANSMISSION)
			fprintf(stdout, "CRASH %s: Retransmission %" PRIu64 "+%u\n", s->name,
				ev[i].msg.retransmission.next_seq_no, ev[i].msg.retransmission.count);
		keep(s, &ev[i]);
	}
	return n;
}

static const char *secret(uint32_t firm)
{
	return firm == 1 ? "tokex-demo-secret-firm-1" : "tokex-demo-secret-firm-2";
}

/* Establish with the kept numbering; wait until everything before the exchange's next
 * number is in (retransmitted). */
static int sess_open(struct sess *s, struct sess *other)
{
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	int tcp = s->side == TKX_SIDE_SELL && g.tcp.sin_port != 0; /* B */
	cfg.transport = tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = tcp ? g.tcp : g.udp;
	cfg.firm_id = s->firm;
	cfg.secret = (const uint8_t *)secret(s->firm);
	cfg.secret_len = strlen(secret(s->firm));
	cfg.session_id = s->sid;
	cfg.cancel_on_disconnect = 0; /* a kill must not cancel: the book is checked */
	/* Generous: under a parallel test run busy-polling tokexd processes share the two
	 * CPUs with this client and with each other; either side can be off its CPU for
	 * seconds, and a keepalive timeout (3 intervals of silence, seen from either side)
	 * would end the session in the middle of a check. */
	cfg.keepalive_ms = 20000;
	cfg.next_seq_no = s->next_seq_no;
	cfg.first_cl_ord_id = s->next_cl;
	cfg.last_in_seq = 0; /* everything again: the check */
	/* A gap is asked for again each second for a minute before it counts as LOST: on a
	 * loaded machine a retransmission can take seconds. */
	cfg.retrans_timeout_ms = 1000;
	cfg.retrans_retries = WAIT_MS / 1000;
	cfg.retrans_max = 128; /* tokexd serves at most 128 per request */
	cfg.batch = 1;         /* trade(): a batch goes in one datagram / one write */
	int r = tkx_client_open(&s->c, &cfg);
	if (r < 0) {
		FAIL("%s: open: %s", s->name, strerror(-r));
		return -1;
	}
	r = tkx_client_establish(s->c, WAIT_MS);
	if (r < 0) {
		char e[160];
		tkx_client_errstr(s->c, e, sizeof(e));
		FAIL("%s: establish: %s (%s)", s->name, strerror(-r), e);
		return -1;
	}
	uint64_t end = mono_ms() + WAIT_MS;
	g.recovering = 1;
	while ((s->ack_next == 0 || s->got + 1 < s->ack_next) && mono_ms() < end) {
		if (pump(s, 20) < 0)
			break;
		if (other && other->c)
			pump(other, 0); /* its keepalive */
	}
	g.recovering = 0;
	if (s->ack_next == 0 || s->got + 1 < s->ack_next) {
		FAIL("%s: retransmission incomplete: have %u, exchange next %" PRIu64, s->name, s->n,
		     s->ack_next);
		return -1;
	}
	if (s->n_old + 1 > s->ack_next)
		FAIL("%s: the exchange's next number %" PRIu64 " is below what was received (%u)",
		     s->name, s->ack_next, s->n_old);
	printf("CRASH %s: recovered %u message(s) (%u received before), next %" PRIu64 " (%s)\n",
	       s->name, s->n, s->n_old, s->ack_next, tcp ? "tcp" : "udp");
	return 0;
}

/* ---- stream checks ---------------------------------------------------------------------- */

struct ord {
	uint64_t order_id;
	int64_t price;
	int64_t open;
};

static struct ord ords[2][MAXORD];
static uint32_t n_ords[2];

static struct ord *ord_find(int k, uint64_t id)
{
	for (uint32_t i = n_ords[k]; i-- > 0;)
		if (ords[k][i].order_id == id)
			return &ords[k][i];
	return NULL;
}

/* Resting quantity per side from the streams; trade ids matched across A and B. */
static int64_t check_streams(struct sess *S, int64_t rest[2])
{
	struct sess *A = &S[0], *B = &S[1];
	for (int k = 0; k < 2; k++) {
		n_ords[k] = 0;
		rest[k] = 0;
		for (uint32_t i = 0; i < S[k].n; i++) {
			const struct tkx_msg *m = &S[k].msg[i];
			struct ord *o;
			switch (m->template_id) {
			case TKX_EXEC_ACK:
				if (m->exec_ack.contract_id != g.contract || n_ords[k] == MAXORD)
					break;
				o = &ords[k][n_ords[k]++];
				o->order_id = m->exec_ack.order_id;
				o->price = m->exec_ack.price;
				o->open = m->exec_ack.qty;
				break;
			case TKX_FILL:
				o = ord_find(k, m->fill.order_id);
				if (o) {
					o->open -= m->fill.qty;
					if (o->open != m->fill.leaves_qty)
						FAIL("%s: order %" PRIu64 " leaves %u, expected %" PRId64,
						     S[k].name, o->order_id, m->fill.leaves_qty, o->open);
				}
				break;
			case TKX_CANCELLED:
				o = ord_find(k, m->cancelled.order_id);
				if (o)
					o->open -= m->cancelled.qty;
				break;
			case TKX_MODIFY_ACK:
				o = ord_find(k, m->modify_ack.order_id);
				if (o) {
					o->open = m->modify_ack.qty;
					o->price = m->modify_ack.price;
				}
				break;
			default:
				break;
			}
		}
		for (uint32_t i = 0; i < n_ords[k]; i++) {
			if (ords[k][i].open < 0)
				FAIL("%s: order %" PRIu64 " over-filled (%" PRId64 ")", S[k].name,
				     ords[k][i].order_id, ords[k][i].open);
			rest[k] += ords[k][i].open > 0 ? ords[k][i].open : 0;
		}
	}
	/* Trades: each trade id once on each side, same price and quantity. */
	uint64_t trades = 0;
	for (uint32_t i = 0; i < A->n; i++) {
		const struct tkx_msg *a = &A->msg[i];
		if (a->template_id != TKX_FILL)
			continue;
		trades++;
		int in_a = 0, in_b = 0;
		for (uint32_t j = 0; j < A->n; j++)
			in_a += A->msg[j].template_id == TKX_FILL &&
				A->msg[j].fill.trade_id == a->fill.trade_id &&
				A->msg[j].fill.contract_id == a->fill.contract_id;
		for (uint32_t j = 0; j < B->n; j++) {
			const struct tkx_msg *b = &B->msg[j];
			if (b->template_id == TKX_FILL && b->fill.trade_id == a->fill.trade_id &&
			    b->fill.contract_id == a->fill.contract_id) {
				in_b++;
				if (b->fill.price != a->fill.price || b->fill.qty != a->fill.qty)
					FAIL("trade %" PRIu64 ": A %u@%" PRId64 " B %u@%" PRId64,
					     a->fill.trade_id, a->fill.qty, a->fill.price, b->fill.qty,
					     b->fill.price);
			}
		}
		if (in_a != 1 || in_b != 1)
			FAIL("trade %" PRIu64 ": %d fill(s) in A, %d in B (want 1 and 1)",
			     a->fill.trade_id, in_a, in_b);
	}
	uint64_t b_fills = 0;
	for (uint32_t j = 0; j < B->n; j++)
		b_fills += B->msg[j].template_id == TKX_FILL;
	if (b_fills != trades)
		FAIL("%" PRIu64 " fills in B, %" PRIu64 " in A", b_fills, trades);
	uint64_t thr = 0;
	for (int k = 0; k < 2; k++)
		for (uint32_t j = 0; j < S[k].n; j++)
			thr += S[k].msg[j].template_id == TKX_EXEC_REJECT &&
			       S[k].msg[j].exec_reject.reason == TKX_REJ_THROTTLED;
	printf("CRASH streams: A %u B %u messages, %" PRIu64 " trades, %" PRIu64 " throttled, "
	       "resting buy %" PRId64 " sell %" PRId64 "\n", A->n, B->n, trades, thr, rest[0],
	       rest[1]);
	return (int64_t)trades;
}

/* Replies the exchange's session layer made by itself: never from a matching core. */
static int is_local(const struct tkx_msg *m)
{
	if (m->template_id == TKX_BUSINESS_REJECT)
		return 1;
	if (m->template_id != TKX_EXEC_REJECT)
		return 0;
	switch (m->exec_reject.reason) {
	case TKX_REJ_THROTTLED:
	case TKX_REJ_CLORDID_REUSED:
	case TKX_REJ_INVALID_PRICE:
	case TKX_REJ_INVALID_QTY:
	case TKX_REJ_INVALID_SIDE:
	case TKX_REJ_INVALID_TIF:
		return 1;
	default:
		return 0;
	}
}

static void print_local(const struct sess *S)
{
	uint32_t n[2] = {0, 0};
	for (int k = 0; k < 2; k++)
		for (uint32_t i = 0; i < S[k].n; i++)
			n[k] += (uint32_t)is_local(&S[k].msg[i]);
	printf("CRASH local A %u B %u\n", n[0], n[1]);
}

/* An IOC from side k at the far price for rest + 1: fills exactly what rests opposite. */
static void probe(struct sess *S, int k, int64_t opposite)
{
	struct sess *s = &S[k];
	struct tkx_new_order o;
	memset(&o, 0, sizeof(o));
	o.contract_id = g.contract;
	o.side = s->side;
	o.tif = TKX_TIF_IOC;
	o.qty = (uint32_t)opposite + 1;
	o.price = s->side == TKX_SIDE_BUY ? 25300 : 24700;
	int r = tkx_client_new_order(s->c, &o);
	if (r < 0) {
		FAIL("%s: probe: %s", s->name, strerror(-r));
		return;
	}
	uint64_t end = mono_ms() + WAIT_MS, filled = 0;
	int done = 0;
	uint32_t from = s->n;
	while (!done && mono_ms() < end) {
		if (pump(s, 20) < 0)
			break;
		pump(&S[1 - k], 0); /* the other session's keepalive */
		for (uint32_t i = from; i < s->n; i++) {
			const struct tkx_msg *m = &s->msg[i];
			if (m->template_id == TKX_FILL && m->fill.cl_ord_id == o.cl_ord_id)
				filled += m->fill.qty;
			if ((m->template_id == TKX_CANCELLED && m->cancelled.orig_cl_ord_id ==
			     o.cl_ord_id) || (m->template_id == TKX_FILL && m->fill.cl_ord_id ==
			     o.cl_ord_id && m->fill.leaves_qty == 0) ||
			    (m->template_id == TKX_EXEC_REJECT && m->exec_reject.cl_ord_id == o.cl_ord_id))
				done = 1;
		}
		from = s->n;
	}
	if (!done) {
		struct tkx_client_stats st;
		char e[160] = "";
		tkx_client_stats_get(s->c, &st);
		tkx_client_errstr(s->c, e, sizeof(e));
		FAIL("%s: probe IOC (cl_ord_id %" PRIu64 ") not finished: state %d '%s' tx_app %"
		     PRIu64 " rx_app %" PRIu64 " not_applied %" PRIu64 " next_seq_no %" PRIu64
		     " last_in %" PRIu64 " lost %" PRIu64, s->name, o.cl_ord_id,
		     tkx_client_state(s->c), e, st.tx_app, st.rx_app, st.not_applied,
		     st.next_seq_no, st.last_in_seq, st.lost);
	}
	else if ((int64_t)filled != opposite)
		FAIL("%s: probe IOC filled %" PRIu64 ", the streams say %" PRId64 " rest opposite",
		     s->name, filled, opposite);
	else
		printf("CRASH probe %s: IOC filled %" PRIu64 " = resting opposite\n", s->name, filled);
}

/* Takes what arrives until both sessions were quiet for ms, at most 10 s longer: only for
 * a tokexd that was killed, where nothing more is owed. */
static void settle(struct sess *S, int ms)
{
	uint64_t now = mono_ms(), quiet = now + (uint64_t)ms, end = quiet + 10000;
	uint32_t seen = S[0].n + S[1].n;
	while ((now = mono_ms()) < quiet && now < end) {
		pump(&S[0], 5);
		pump(&S[1], 5);
		if (S[0].n + S[1].n != seen) {
			seen = S[0].n + S[1].n;
			quiet = mono_ms() + (uint64_t)ms;
		}
	}
}

/* Waits until session k has every message the exchange numbered for it before it took a
 * new request from k: a cancel of an order that does not exist, whose answer (ExecReject
 * UNKNOWN_ORDER, or THROTTLED) is numbered after all of those, and which the library
 * delivers only after them (it asks for any gap first). The other session is read too
 * (its keepalive). A request or answer lost on UDP is made good by asking again every 5 s
 * (any answer will do); WAIT_MS in all. Event-driven: no quiet period is assumed. */
static int killed(void)
{
	return access(g.stop, F_OK) == 0;
}

/* (Returns early, failing nothing, once the script has killed tokexd: --stop.) */
static void barrier(struct sess *S, int k)
{
	struct sess *s = &S[k];
	uint64_t end = mono_ms() + WAIT_MS, again = 0, first = 0;
	uint32_t from = s->n;
	while (mono_ms() < end && !killed()) {
		if (mono_ms() >= again) {
			struct tkx_cancel_order c;
			memset(&c, 0, sizeof(c));
			c.order_id = UINT64_MAX; /* never an order */
			c.contract_id = g.contract;
			int r = tkx_client_cancel_order(s->c, &c);
			if (r < 0 && r != -ENOBUFS && !killed()) {
				FAIL("%s: barrier: %s", s->name, strerror(-r));
				return;
			}
			if (r == 0 && first == 0)
				first = c.cl_ord_id;
			tkx_client_flush(s->c);
			again = mono_ms() + 5000;
		}
		if (pump(s, 20) < 0)
			break;
		if (S[1 - k].c)
			pump(&S[1 - k], 0);
		for (uint32_t i = from; i < s->n; i++)
			if (first && s->msg[i].template_id == TKX_EXEC_REJECT &&
			    s->msg[i].exec_reject.cl_ord_id >= first)
				return;
		from = s->n;
	}
	if (!killed())
		FAIL("%s: no answer to the barrier request (first cl_ord_id %" PRIu64 ") in %u ms",
		     s->name, first, WAIT_MS);
}

static void recover_and_check(struct sess *S)
{
	int64_t rest[2];
	for (int k = 0; k < 2; k++)
		if (sess_open(&S[k], &S[1 - k]) < 0)
			return;
	check_streams(S, rest);
	if (failed)
		return;
	/* The book: B's sells against an IOC buy, then A's buys against an IOC sell; each
	 * time the other side's fills are in once its barrier is answered. */
	probe(S, 0, rest[1]);
	barrier(S, 1);
	check_streams(S, rest);
	probe(S, 1, rest[0]);
	barrier(S, 0);
	check_streams(S, rest);
	if (rest[0] || rest[1])
		FAIL("the book is not empty after the probes: buy %" PRId64 " sell %" PRId64, rest[0],
		     rest[1]);
}

/* Requests go in batches of TRADE_BATCH to one session, each batch in one datagram (UDP)
 * or one write (TCP), so the exchange takes the batch at one instant: with a throttle
 * bucket shallower than the batch (the scripts' 10 deep), some of every batch are answered
 * THROTTLED by the session layer itself however slow the machine is. */
#define TRADE_BATCH 12

static void trade(struct sess *S)
{
	uint64_t cl[2][256];
	unsigned ncl[2] = {0, 0};
	uint32_t sent = 0;
	if (g.ready) { /* tell the script that trading starts: it may kill tokexd now */
		FILE *f = fopen(g.ready, "w");
		if (f)
			fclose(f);
	}
	while (sent < g.orders && !killed()) {
		int k = (int)(rand() % 2);
		struct sess *s = &S[k];
		for (unsigned b = 0; b < TRADE_BATCH && sent < g.orders; b++, sent++) {
			if (ncl[k] && rand() % 8 == 0) {
				unsigned i = (unsigned)rand() % ncl[k];
				tkx_client_cancel(s->c, cl[k][i], NULL); /* may be gone: fine */
				cl[k][i] = cl[k][--ncl[k]];
				continue;
			}
			struct tkx_new_order o;
			memset(&o, 0, sizeof(o));
			o.contract_id = g.contract;
			o.side = s->side;
			o.tif = TKX_TIF_GTC;
			o.qty = 1 + (uint32_t)rand() % 5;
			/* buys 24900..25100, sells 24950..25150: they cross often */
			o.price = (s->side == TKX_SIDE_BUY ? 24900 : 24950) + 10 * (rand() % 21);
			if (tkx_client_new_order(s->c, &o) == 0 && ncl[k] < 256)
				cl[k][ncl[k]++] = o.cl_ord_id;
		}
		tkx_client_flush(s->c);
		pump(&S[0], 0);
		pump(&S[1], 0);
		usleep(500 * TRADE_BATCH); /* pacing: about 2000 requests a second at most */
	}
	if (!killed()) {
		/* Everything the exchange made for either session: B's requests all applied
		 * (and A's fills from them numbered), then A's (and B's fills from them), then
		 * B's stream up to there. Then a clean stop leaves nothing unsent. A kill in
		 * the meantime ends the barriers. */
		barrier(S, 1);
		barrier(S, 0);
		barrier(S, 1);
	}
	int stopped = killed();
	if (stopped)
		settle(S, 300); /* tokexd was killed: take what arrived */
	printf("CRASH sent %u request(s)%s\n", sent, stopped ? " (stopped)" : "");
}

/* storage: the answers among s's messages [*seen, n) to requests cl0, cl0 + 1, ... (the
 * library gives each request the cl_ord_id one above the last), whatever request they
 * answer: ans[i] 1 ExecAck, 2 ExecReject STORAGE. */
static void take_answers(const struct sess *s, uint32_t *seen, uint64_t cl0, uint8_t *ans)
{
	for (; *seen < s->n; (*seen)++) {
		const struct tkx_msg *m = &s->msg[*seen];
		uint64_t c = m->template_id == TKX_EXEC_ACK ? m->exec_ack.cl_ord_id :
			     m->template_id == TKX_EXEC_REJECT ? m->exec_reject.cl_ord_id : 0;
		if (!cl0 || c < cl0 || c - cl0 >= g.orders)
			continue;
		if (m->template_id == TKX_EXEC_ACK)
			ans[c - cl0] = 1;
		else if (m->exec_reject.reason == TKX_REJ_STORAGE)
			ans[c - cl0] = 2;
		else
			FAIL("storage: ExecReject reason %u", m->exec_reject.reason);
	}
}

static void storage(struct sess *S)
{
	struct sess *s = &S[0];
	uint32_t acks = 0, stor = 0, silent = 0, after = 0;
	static uint8_t ans[MAXORD]; /* per request: 0 no answer, 1 ExecAck, 2 STORAGE */
	uint64_t cl0 = 0;
	uint32_t seen = 0;
	if (sess_open(s, NULL) < 0)
		return;
	if (g.orders > MAXORD) {
		FAIL("storage: --orders above %u", MAXORD);
		return;
	}
	g.count_lost = 1;
	seen = s->n;
	const uint32_t base = s->n;
	for (uint32_t i = 0; i < g.orders; i++) {
		struct tkx_new_order o;
		memset(&o, 0, sizeof(o));
		o.contract_id = g.contract;
		o.side = TKX_SIDE_BUY;
		o.tif = TKX_TIF_GTC;
		o.qty = 1;
		o.price = 24000;
		int sr = tkx_client_new_order(s->c, &o);
		if (sr < 0) {
			FAIL("storage: request %u: send failed: %s", i, strerror(-sr));
			return;
		}
		if (i == 0)
			cl0 = o.cl_ord_id;
		else if (o.cl_ord_id != cl0 + i)
			FAIL("storage: request %u has cl_ord_id %" PRIu64 ", not %" PRIu64, i,
			     o.cl_ord_id, cl0 + i);
		/* One at a time, so that the failure falls between two requests; a request
		 * whose answer is slow (or never comes) is not held against it here. */
		uint64_t end = mono_ms() + 3000;
		while (!ans[i] && mono_ms() < end) {
			pump(s, 20);
			take_answers(s, &seen, cl0, ans);
		}
	}
	/* Every answer that will come is in once the barrier's is: then count. */
	barrier(S, 0);
	take_answers(s, &seen, cl0, ans);
	for (uint32_t i = 0; i < g.orders; i++) {
		if (ans[i] == 1) {
			acks++;
			after += stor > 0;
		} else if (ans[i] == 2) {
			stor++;
		} else {
			silent++;
		}
	}
	/* tokexd counts every STORAGE it sends: the barrier's answers too. */
	uint32_t stor_all = 0;
	for (uint32_t j = base; j < s->n; j++)
		stor_all += s->msg[j].template_id == TKX_EXEC_REJECT &&
			    s->msg[j].exec_reject.reason == TKX_REJ_STORAGE;
	printf("CRASH storage acks %u storage %u unanswered %u (STORAGE answers to the "
	       "requests: %u)\n", acks, stor_all, silent, stor);
	if (stor == 0)
		FAIL("storage: no ExecReject STORAGE after the journal failed");
	if (after)
		FAIL("storage: %u ExecAck(s) after the first STORAGE", after);
	if (silent > 1)
		FAIL("storage: %u requests unanswered (at most the one in flight at the failure)",
		     silent);
	/* A reply that was never sent leaves a hole in the numbering: only the unanswered
	 * request's (one message: its ExecAck). */
	if (g.lost > silent)
		FAIL("storage: %" PRIu64 " message(s) never sent for %u unanswered request(s)",
		     g.lost, silent);
}

/* ---- The session table after a restart (fill, relogon) ---------------------------------- */

/* A TCP logon of a new session sid for firm 1: 0 and *out established, or the error (the
 * reason in err). */
static int try_logon(uint64_t sid, struct tkx_client **out, char *err, size_t errlen)
{
	struct tkx_client_cfg cfg;
	tkx_client_cfg_default(&cfg);
	cfg.transport = TKX_CLIENT_TCP;
	cfg.exchange = g.tcp;
	cfg.firm_id = 1;
	cfg.secret = (const uint8_t *)secret(1);
	cfg.secret_len = strlen(secret(1));
	cfg.session_id = sid;
	cfg.keepalive_ms = 20000; /* as sess_open's */
	*out = NULL;
	snprintf(err, errlen, "open failed");
	int r = tkx_client_open(out, &cfg);
	if (r < 0)
		return r;
	r = tkx_client_establish(*out, WAIT_MS);
	if (r < 0) {
		tkx_client_errstr(*out, err, errlen);
		tkx_client_close(*out);
		*out = NULL;
	}
	return r;
}

/* X2 places a GTC sell far above the market (it rests) and waits for its ExecAck. */
static void rest_one(struct sess *x2)
{
	struct tkx_new_order o;
	memset(&o, 0, sizeof(o));
	o.contract_id = g.contract;
	o.side = TKX_SIDE_SELL;
	o.tif = TKX_TIF_GTC;
	o.qty = 1;
	o.price = 26000;
	int r = tkx_client_new_order(x2->c, &o);
	if (r < 0) {
		FAIL("X2: order: %s", strerror(-r));
		return;
	}
	uint64_t end = mono_ms() + WAIT_MS;
	uint32_t from = x2->n;
	while (mono_ms() < end) {
		if (pump(x2, 20) < 0)
			break;
		for (uint32_t i = from; i < x2->n; i++) {
			const struct tkx_msg *m = &x2->msg[i];
			if (m->template_id == TKX_EXEC_ACK && m->exec_ack.cl_ord_id == o.cl_ord_id)
				return;
			if (m->template_id == TKX_EXEC_REJECT && m->exec_reject.cl_ord_id == o.cl_ord_id) {
				FAIL("X2: order %" PRIu64 " rejected, reason %u", o.cl_ord_id,
				     m->exec_reject.reason);
				return;
			}
		}
		from = x2->n;
	}
	FAIL("X2: no answer to order %" PRIu64, o.cl_ord_id);
}

static void table_fill(struct sess *x1, struct sess *x2)
{
	if (sess_open(x1, NULL) < 0 || sess_open(x2, NULL) < 0)
		return;
	rest_one(x2);
	printf("CRASH fill: X1 and X2 logged on, X2 has an order resting\n");
}

static void relogon(struct sess *x2, uint64_t sid, uint64_t sid2)
{
	struct tkx_client *n1 = NULL, *n2 = NULL;
	char err[160];
	int r = try_logon(sid, &n1, err, sizeof(err));
	if (r < 0) {
		FAIL("new session %#" PRIx64 " refused after the restart: %s (recovered sessions "
		     "that are not live keep new ones out)", sid, err);
		return;
	}
	printf("CRASH relogon: new session %#" PRIx64 " established\n", sid);
	/* X2's session, whose order may rest, was not given away: it resumes. */
	if (sess_open(x2, NULL) == 0) { /* its slot and numbering survived: retransmission */
		if (x2->n == 0)
			FAIL("X2: nothing retransmitted");
		for (uint32_t i = 0; i < g.orders && !failed; i++)
			rest_one(x2);
	}
	/* Both slots hold live sessions now: no room, and nothing live is forgotten. */
	r = try_logon(sid2, &n2, err, sizeof(err));
	if (r == 0)
		FAIL("new session %#" PRIx64 " got a slot, with the table full of live sessions",
		     sid2);
	else
		printf("CRASH relogon: new session %#" PRIx64 " refused (%s)\n", sid2, err);
	tkx_client_close(n2);
	tkx_client_close(n1);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"udp", required_argument, NULL, 'u'},    {"state", required_argument, NULL, 's'},
		{"stop", required_argument, NULL, 'x'},   {"orders", required_argument, NULL, 'n'},
		{"seed", required_argument, NULL, 'r'},   {"contract", required_argument, NULL, 'c'},
		{"strict", no_argument, NULL, 'S'},       {"ready", required_argument, NULL, 'R'},
		{"tcp", required_argument, NULL, 't'},    {"sid", required_argument, NULL, 'i'},
		{"sid2", required_argument, NULL, 'j'},
		{NULL, 0, NULL, 0}};
	uint64_t sid = 0, sid2 = 0;
	int c;
	g.stop = "/nonexistent";
	g.contract = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			if (tkx_client_parse_addr(optarg, 7411, &g.udp) < 0)
				return 2;
			break;
		case 's': g.state = optarg; break;
		case 'x': g.stop = optarg; break;
		case 'n': g.orders = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'r': g.seed = (unsigned)strtoul(optarg, NULL, 10); break;
		case 'c': g.contract = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'S': g.strict = 1; break;
		case 'R': g.ready = optarg; break;
		case 't':
			if (tkx_client_parse_addr(optarg, 7412, &g.tcp) < 0)
				return 2;
			break;
		case 'i': sid = strtoull(optarg, NULL, 0); break;
		case 'j': sid2 = strtoull(optarg, NULL, 0); break;
		default: return 2;
		}
	}
	if (optind >= argc || !g.state || !g.udp.sin_port || !g.contract) {
		fprintf(stderr, "usage: crash_client run|verify|storage --udp IP:PORT --state DIR "
				"--contract ID [--tcp IP:PORT] [--orders N] [--seed S] [--stop FILE] "
				"[--ready FILE] [--strict]\n"
				"       crash_client fill|relogon ... --tcp IP:PORT [--sid ID --sid2 ID]\n");
		return 2;
	}
	const char *mode = argv[optind];
	setvbuf(stdout, NULL, _IOLBF, 0);
	srand(g.seed);
	static struct sess S[2] = {
		{.name = "A", .firm = 1, .sid = 0x7e57a001, .side = TKX_SIDE_BUY},
		{.name = "B", .firm = 2, .sid = 0x7e57b002, .side = TKX_SIDE_SELL},
	};
	for (int k = 0; k < 2; k++) {
		S[k].msg = calloc(MAXMSG, sizeof(struct tkx_msg));
		if (!S[k].msg)
			return 2;
		state_load(&S[k]);
	}
	static struct sess X[2] = {
		{.name = "X1", .firm = 1, .sid = 0x7e57c001, .side = TKX_SIDE_SELL},
		{.name = "X2", .firm = 2, .sid = 0x7e57c002, .side = TKX_SIDE_SELL},
	};
	int table = strcmp(mode, "fill") == 0 || strcmp(mode, "relogon") == 0;
	if (table) {
		if (!g.tcp.sin_port || (strcmp(mode, "relogon") == 0 && (!sid || !sid2))) {
			fprintf(stderr, "crash_client %s: needs --tcp (relogon: --sid, --sid2)\n", mode);
			return 2;
		}
		for (int k = 0; k < 2; k++) {
			X[k].msg = calloc(MAXMSG, sizeof(struct tkx_msg));
			if (!X[k].msg)
				return 2;
			state_load(&X[k]);
		}
		if (strcmp(mode, "fill") == 0)
			table_fill(&X[0], &X[1]);
		else
			relogon(&X[1], sid, sid2);
		for (int k = 0; k < 2; k++) {
			state_save(&X[k]);
			tkx_client_close(X[k].c);
			free(X[k].msg);
		}
	} else if (strcmp(mode, "storage") == 0) {
		storage(S);
	} else {
		recover_and_check(S);
		if (!failed && strcmp(mode, "run") == 0)
			trade(S);
		print_local(S);
		for (int k = 0; k < 2; k++)
			state_save(&S[k]);
	}
	for (int k = 0; k < 2; k++) {
		tkx_client_close(S[k].c);
		free(S[k].msg);
	}
	printf("CRASH %s %s\n", mode, failed ? "FAIL" : "PASS");
	return failed ? 1 : 0;
}
