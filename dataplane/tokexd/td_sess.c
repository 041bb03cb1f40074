/*
 * td_sess.c - the operator's view of the order-entry sessions: tokexctl's `sessions` and
 * `drop SESSION`, from the control thread to the thread that owns the session table.
 *
 * Role: two sides, one file, as td_ctl.c does for the matching cores. The session table,
 * which holds the sessions of both transports (ss_session.h invariant 12), has one owner,
 * the RX core, and nobody else reads or writes it, not even the control thread. The
 * owner has a channel: a request ring (control -> owner, struct td_sess_req) and a reply
 * ring (owner -> control, struct td_sess_rep), single producer / single consumer,
 * TD_SESS_RING entries each.
 *  - Owner (td_sess_serve): every few passes, at a point where its session output is
 *    empty, takes at most one request, and only when the reply ring has room for a
 *    whole answer (never blocks, never drops one). LIST copies the sessions of at most
 *    TD_SESS_SCAN slots, TD_SESS_PAGE at most, one reply each, then a last reply saying
 *    where to go on; DROP calls ss_drop() (whose Terminate and SESSION_GONE records go
 *    out with the owner's burst: journaled and routed like a session's own) and answers
 *    with the session as it was.
 *  - Control thread (td_sess_text, td_sess_drop_text, the cp_cmd_ctx hooks): one request
 *    at a time, then its replies, 10 s at most (a bound for a hung owner,
 *    not a speed: a loaded machine may keep the owner off its CPU a while); replies to a
 *    request that timed out earlier are skipped by their seq.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>

#include <rte_errno.h>
#include <rte_ring.h>

#include "td_app.h"
#include "tkx_log.h"

#define TD_SESS_RING 64
#define TD_SESS_PAGE 16   /* sessions per LIST reply batch */
#define TD_SESS_SCAN 1024 /* slots one LIST request looks at, at most */
#define TD_SESS_TIMEOUT_NS 10000000000ull

enum td_sess_op { TD_SESS_LIST = 1, TD_SESS_DROP = 2 };

struct td_sess_req {
	uint64_t seq;
	uint64_t session_id; /* DROP */
	uint32_t op;         /* enum td_sess_op */
	uint32_t from;       /* LIST: the first slot to look at */
};

struct td_sess_rep {
	uint64_t seq;
	int32_t rc;    /* DROP: ss_drop()'s; LIST: 0 */
	uint32_t last; /* 1: the request's last reply */
	uint32_t next; /* LIST, last reply: the slot to go on from, UINT32_MAX at the end */
	uint32_t pad;
	struct ss_info info; /* LIST: a session (not in the last reply); DROP: as it was */
};

struct td_sess_chan {
	struct rte_ring *req;
	struct rte_ring *rep;
	uint32_t slots;  /* the table's */
	uint64_t seq;    /* control thread: last request */
	uint64_t served; /* owner: requests answered */
};

/* ---- owner ------------------------------------------------------------------------- */

static void td_sess_put(struct td_sess_chan *ch, const struct td_sess_rep *r)
{
	/* Room for a whole answer was counted before the request was taken. */
	rte_ring_sp_enqueue_elem(ch->rep, (void *)(uintptr_t)r, sizeof(*r));
}

void td_sess_serve(struct td_sess_chan *ch, struct ss_table *t, struct ss_out *out,
		   uint64_t now)
{
	struct td_sess_req q;
	struct td_sess_rep r;

	if (ch == NULL || rte_ring_count(ch->req) == 0 ||
	    rte_ring_free_count(ch->rep) < TD_SESS_PAGE + 1 ||
	    rte_ring_sc_dequeue_elem(ch->req, &q, sizeof(q)) != 0)
		return;
	memset(&r, 0, sizeof(r));
	r.seq = q.seq;
	ch->served++;
	if (q.op == TD_SESS_DROP) {
		/* The caller emptied out: ss_drop() finds its room (1 buffer, 2 orders). */
		r.rc = ss_drop(t, q.session_id, now, out, &r.info);
		r.last = 1;
		td_sess_put(ch, &r);
		return;
	}
	if (q.op != TD_SESS_LIST) {
		r.rc = -EINVAL;
		r.last = 1;
		td_sess_put(ch, &r);
		return;
	}
	uint32_t slot = q.from, end = q.from + TD_SESS_SCAN, n = 0;
	for (; slot < ch->slots && slot < end && n < TD_SESS_PAGE; slot++) {
		if (ss_session_info(t, slot, &r.info) != 0 || r.info.state == SS_FREE)
			continue;
		td_sess_put(ch, &r);
		n++;
	}
	memset(&r.info, 0, sizeof(r.info));
	r.last = 1;
	r.next = slot < ch->slots ? slot : UINT32_MAX;
	td_sess_put(ch, &r);
}

/* ---- set-up ------------------------------------------------------------------------- */

static struct td_sess_chan *td_sess_chan_new(const char *who, uint32_t slots)
{
	char name[RTE_RING_NAMESIZE];
	struct td_sess_chan *ch = calloc(1, sizeof(*ch));
	if (ch == NULL)
		rte_exit(EXIT_FAILURE, "tokexd: session control: out of memory\n");
	ch->slots = slots;
	snprintf(name, sizeof(name), "tkx_sq_%s", who);
	ch->req = rte_ring_create_elem(name, sizeof(struct td_sess_req), TD_SESS_RING,
				       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "tkx_sr_%s", who);
	ch->rep = rte_ring_create_elem(name, sizeof(struct td_sess_rep), TD_SESS_RING,
				       SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (ch->req == NULL || ch->rep == NULL)
		rte_exit(EXIT_FAILURE, "tokexd: cannot create the session control rings of the %s "
			 "table: %s\n", who, rte_strerror(rte_errno));
	return ch;
}

void td_sess_setup(struct td_app *a)
{
	a->sess = td_sess_chan_new("rx", a->cfg.max_sessions);
}

/* ---- control thread ------------------------------------------------------------------ */

/* Sends q, then gives each reply to it to each() (may be NULL) until the last: that one's
 * rc, -EAGAIN (request ring full), -ETIMEDOUT (no answer within 1 s: the owner is stuck
 * or stopping). *last (may be NULL) gets the last reply. */
static int td_sess_call(struct td_app *a, struct td_sess_chan *ch, struct td_sess_req *q,
			void (*each)(void *arg, const struct td_sess_rep *r), void *arg,
			struct td_sess_rep *last)
{
	struct td_sess_rep r;
	q->seq = ++ch->seq;
	if (rte_ring_sp_enqueue_elem(ch->req, q, sizeof(*q)) != 0)
		return -EAGAIN;
	uint64_t end = td_mono_ns() + TD_SESS_TIMEOUT_NS;
	for (;;) {
		while (rte_ring_sc_dequeue_elem(ch->rep, &r, sizeof(r)) == 0) {
			if (r.seq != q->seq)
				continue; /* an answer to a request that timed out */
			if (!r.last) {
				if (each)
					each(arg, &r);
				continue;
			}
			if (last)
				*last = r;
			return r.rc;
		}
		if (!atomic_load(&a->running) || td_mono_ns() >= end)
			return -ETIMEDOUT;
		struct timespec d = {0, 20000};
		nanosleep(&d, NULL);
	}
}

struct td_sess_text {
	char *out;
	size_t len, n;
	unsigned shown, hidden, count;
	unsigned n_tr[2]; /* by enum ss_transport, of the sessions with a peer */
};

static void td_sess_put_text(struct td_sess_text *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void td_sess_put_text(struct td_sess_text *x, const char *fmt, ...)
{
	if (x->n >= x->len)
		return;
	va_list ap;
	va_start(ap, fmt);
	int w = vsnprintf(x->out + x->n, x->len - x->n, fmt, ap);
	va_end(ap);
	if (w > 0)
		x->n += (size_t)w < x->len - x->n ? (size_t)w : x->len - x->n - 1;
}

static void td_sess_time(uint64_t ns, char *buf, size_t len)
{
	time_t s = (time_t)(ns / 1000000000ull);
	struct tm tm;
	if (ns == 0 || gmtime_r(&s, &tm) == NULL) {
		snprintf(buf, len, "-");
		return;
	}
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(ns % 1000000000ull / 1000000ull));
}

/* Whether the session has (had) a peer: a session rebuilt by recovery has none. */
static int td_sess_has_peer(const struct ss_info *in)
{
	return in->peer.ip != 0 || in->peer.port != 0 || in->peer.conn != 0;
}

static void td_sess_peer(const struct ss_info *in, char *buf, size_t len)
{
	char ip[INET_ADDRSTRLEN];
	/* A TERMINATED session shows the peer it last had (none when rebuilt by recovery). */
	if (!td_sess_has_peer(in)) {
		snprintf(buf, len, "-");
		return;
	}
	inet_ntop(AF_INET, &in->peer.ip, ip, sizeof(ip));
	if (in->transport == SS_TCP)
		snprintf(buf, len, "%s:%u/conn%u", ip, (unsigned)ntohs(in->peer.port),
			 (unsigned)in->peer.conn);
	else
		snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(in->peer.port));
}

#define TD_SESS_LINE 200 /* the longest line below */

static void td_sess_line(void *arg, const struct td_sess_rep *r)
{
	struct td_sess_text *x = arg;
	const struct ss_info *in = &r->info;
	char since[32], peer[64];
	x->count++;
	if (td_sess_has_peer(in))
		x->n_tr[in->transport == SS_TCP]++;
	if (x->len - x->n < TD_SESS_LINE + 64) {
		x->hidden++;
		return;
	}
	td_sess_time(in->since_ns, since, sizeof(since));
	td_sess_peer(in, peer, sizeof(peer));
	td_sess_put_text(x, "%-20" PRIu64 " %-10u %-11s %-3s %5u %-24s %8" PRIu64 " %8" PRIu64
			 " %12" PRIu64 " %-3s %-6s %s\n", in->session_id, (unsigned)in->firm_id,
			 ss_state_name(in->state),
			 !td_sess_has_peer(in) ? "-" : in->transport == SS_TCP ? "tcp" : "udp",
			 (unsigned)in->slot, since, in->next_in,
			 in->next_out, in->last_cl_ord_id, in->cancel_on_disconnect ? "yes" : "no",
			 in->may_have_orders ? "maybe" : "none", peer);
	x->shown++;
}

int td_sess_text(void *arg, char *out, size_t len)
{
	struct td_app *a = arg;
	struct td_sess_text x = {out, len, 0, 0, 0, 0, {0, 0}};
	int rc = 0;
	if (len)
		out[0] = '\0';
	/* "tr": the transport the session is (or was last) on; one table holds both. */
	td_sess_put_text(&x, "%-20s %-10s %-11s %-3s %5s %-24s %8s %8s %12s %-3s %-6s %s\n",
			 "session", "firm", "state", "tr", "slot", "since", "next_in", "next_out",
			 "last_cl_ord", "cod", "orders", "peer");
	for (uint32_t from = 0; from != UINT32_MAX;) {
		struct td_sess_req q = {.op = TD_SESS_LIST, .from = from};
		struct td_sess_rep last;
		int r = td_sess_call(a, a->sess, &q, td_sess_line, &x, &last);
		if (r < 0) {
			td_sess_put_text(&x, "no answer from the table's owner (%s): the list is "
					 "incomplete\n", strerror(-r));
			rc = r;
			break;
		}
		from = last.next;
	}
	if (x.hidden)
		td_sess_put_text(&x, "... %u more not shown (the answer is full)\n", x.hidden);
	td_sess_put_text(&x, "%u session(s) of %u slots (%u on udp, %u on tcp, %u rebuilt at "
			 "start)\n", x.count, a->cfg.max_sessions, x.n_tr[SS_UDP], x.n_tr[SS_TCP],
			 x.count - x.n_tr[SS_UDP] - x.n_tr[SS_TCP]);
	return rc;
}

int td_sess_drop_text(void *arg, uint64_t session_id, char *out, size_t len)
{
	struct td_app *a = arg;
	struct td_sess_text x = {out, len, 0, 0, 0, 0, {0, 0}};
	struct td_sess_req q = {.op = TD_SESS_DROP, .session_id = session_id};
	struct td_sess_rep r;
	char since[32];
	if (len)
		out[0] = '\0';
	int e = td_sess_call(a, a->sess, &q, NULL, NULL, &r);
	if (e == -ENOENT) {
		td_sess_put_text(&x, "no session %" PRIu64 " (see 'sessions')", session_id);
		return -ENOENT;
	}
	if (e < 0) {
		td_sess_put_text(&x, "no answer from the table's owner (%s)\n", strerror(-e));
		return e;
	}
	const struct ss_info *in = &r.info;
	const char *tr = !td_sess_has_peer(in) ? "rebuilt at start"
			 : in->transport == SS_TCP ? "tcp" : "udp";
	td_sess_time(in->since_ns, since, sizeof(since));
	td_sess_put_text(&x, "dropped session %" PRIu64 " (%s, firm %u, slot %u, %s since %s)"
			 ": ", session_id, tr, (unsigned)in->firm_id, (unsigned)in->slot,
			 ss_state_name(in->state), since);
	if (in->state == SS_ESTABLISHED || in->state == SS_NEGOTIATED)
		td_sess_put_text(&x, "terminated (Terminate UNSPECIFIED%s), ",
				 in->cancel_on_disconnect ? ", its orders cancelled" : "");
	if (e == 1) /* never established */
		td_sess_put_text(&x, "forgotten; its slot is free\n");
	else
		td_sess_put_text(&x, "forgotten; %s; its slot is free once every matching "
				 "core has detached it\n", in->may_have_orders &&
				 !(in->state == SS_ESTABLISHED && in->cancel_on_disconnect)
				 ? "its resting orders stay in the book, keep trading and "
				   "report to no session (MassCancel ACCOUNT of its firm, or "
				   "tokexctl cancel, removes them)"
				 : "it had no resting orders");
	tkx_log(TKX_LOG_NOTICE, "control",
		"operator dropped session %" PRIu64 " (%s, firm %u, slot "
		"%u, was %s)", session_id, tr, (unsigned)in->firm_id, (unsigned)in->slot,
		ss_state_name(in->state));
	return 0;
}
