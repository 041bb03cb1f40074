/*
 * td_journal.c - tokexd's input journal: write-ahead of every request and control command,
 * the durability gate, storage failure, and recovery at start (issue 6: "nothing
 * acknowledged is ever lost").
 *
 * Role: the RX/session lcore (run-to-completion mode) is the journal's single producer.
 * Before it applies anything - a session's request, whichever transport brought it
 * (td_route_rtc; the RX core owns the one session table, ss_session.h invariant 12), a
 * control command (td_ctl_poll) - it appends the record (jn_append: no system call), then
 * applies it at once. Everything the request causes and that would leave the appliance -
 * UDP replies, market-data packets, TCP chunks for the gateway - is held by td_rx.c's
 * journal gate, tagged with the last seq
 * appended when it was made, and released in order once td_jn_poll() sees that seq
 * durable under journal.durability. So no ack, fill, cancel or market-data record leaves
 * before the request that caused it is on stable storage (sync), while the loop keeps
 * receiving and matching: one fdatasync covers everything that arrived while the previous
 * one ran (group commit; ~200-600 us each on this host). Control commands are the
 * exception: td_jn_ctl appends and waits (rare, and the operator's answer must not
 * precede durability), except DAY_STATS, which changes nothing and is not journaled; so
 * do the control plane's own state records (JN_T_CP, td_cpstate.c), each change of the
 * lifecycle durable before the next command of a transition and the operator's answer.
 * A session's first establishment is journaled (SESSION) before its EstablishmentAck,
 * which the gate holds like any reply; every accepted Negotiate too (SESSION, kind LOGON:
 * the session's newest logon timestamp, so that a replay of the captured bytes stays
 * refused after a restart) before its NegotiationResponse.
 *
 * Invariants:
 *  1. Nothing leaves that is not durable, and nothing is applied that is not journaled:
 *     a request whose append fails is answered ExecReject BUSY (journal ring full) or
 *     STORAGE (journal failed) and never reaches the matching core.
 *  2. Once the journal has failed (jn_failed(), or durability made no progress for
 *     journal.stall_ms while output waited) the appliance is HALTED for good: the held
 *     output that is not durable is discarded (counted held_dropped; the requests were
 *     applied in memory but their replies never leave, so a client sees a skipped number
 *     and its RetransmitRequest is refused OUT_OF_RANGE: ss_halt_retransmission), every
 *     later request is answered STORAGE, every control command gets -EIO; the control
 *     thread prints the reason once. After a restart the journal decides: a record that
 *     reached the disk is replayed and its reply is retransmitted, one that did not never
 *     happened.
 *  3. Replay applies the records in journal order through the same code the live path
 *     used (mc_process with the record's time, mc_control, the RTC unknown-contract check),
 *     so the matching core regenerates the same replies, exchange order ids and trade ids;
 *     the replies of the sessions go through ss_event(), which renumbers them exactly as
 *     live, into sessions rebuilt from SESSION records (TERMINATED: clients re-Negotiate,
 *     re-Establish - on either transport - and ask for retransmission).
 *  4. One session table, whichever transport carried a session: its SESSION, ORDER,
 *     MARK and REJECT records name it by its slot of that table (src TD_SRC_RX), so replay
 *     rebuilds one state per session_id, with everything it did on UDP and on TCP in
 *     journal order. A journal written when the TCP gateway kept a table of its own has
 *     records of src 1 (its SESSION, LOCAL and LOGON records): its two tables cannot be
 *     merged into one (their slots and session ids may collide), so recovery refuses it,
 *     naming the first such record.
 *
 * After recovery (td_journal_open, before the cores, the control thread and the gateway
 * start): the books, exchange order ids and trade ids are as before the stop; so is the
 * control plane's state (JN_T_CP records and the snapshot's section, td_cpstate.c), which
 * the control thread resumes from instead of the configuration (td_ctl_start); each
 * session that was ever established, on either transport, is TERMINATED in its old slot
 * with its outbound numbering, retransmit ring (the last sessions.retransmit_depth
 * messages), inbound number and last cl_ord_id; its client re-Negotiates and
 * re-Establishes with the same session id, on either transport, and asks for
 * retransmission of what it missed (a reply made durable but not yet sent at
 * the crash is among them). Market data: the regenerated records go through the
 * publisher, so its contract states and top of book (its snapshots) are right, but their
 * packets are not sent again; the publisher starts its sequence from 1 under the
 * configured md.session, so subscribers must treat a restart as a new market-data session
 * (take the snapshot); give md.session a per-start name where that matters.
 *
 * One process per journal: main() takes the directory's lock (td_journal_lock, jn_lock)
 * before EAL, so a second tokexd on the same journal.dir exits at once naming the first
 * (pid, program, since when, command line); the journal keeps the lock from jn_open to
 * jn_close. jn_open also allocates the segment appends go to: a disk that cannot hold one
 * stops the start with the reason, instead of an appliance that says ready and answers
 * every request STORAGE.
 *
 * Durability policies (journal.durability): sync (default) waits for fdatasync, async for
 * the write (a process crash loses nothing, a power loss may), none for nothing (testing).
 * The cost is measured in docs/BENCHMARKS.md "Journal". Snapshots (td_snap.c,
 * journal.snapshot_every, run-to-completion mode): every N records the RX core serializes
 * the matching core, the UDP sessions and the publisher into a preallocated buffer and a
 * writer thread stores it once its seq is durable, then prunes what the snapshot before it
 * made useless; recovery loads the newest usable snapshot (a corrupt one falls back to the
 * one before it, one of another configuration to the whole journal when it still starts at
 * seq 1) and replays only the records after it, through the same td_replay_rec.
 *
 * The replies the session layer makes by itself (ExecReject THROTTLED / CLORDID_REUSED
 * / invalid fields, numbered BusinessReject) are journaled as MARK records (td_jn_local)
 * and numbered again by replay. One that
 * waited behind its session's requests in flight (ss_session.h invariant 15) is numbered
 * and journaled by ss_release() after the batch of replies that let it go, so its record
 * follows those replies' records as its number follows theirs. A matching core's mark of
 * a request's end on an event of its own (template 0, dp_msg.h DP_EV_DONE) depends on its
 * output buffer, so it numbers nothing, DRAIN records do not count it and replay drops it. Not
 * journaled (so not reproduced by replay, and after such a reply the restarted session's
 * numbering differs from what its client saw): the BUSY and STORAGE rejects this core
 * makes when the journal cannot take a request. A restart without the gateway (--no-tcp)
 * rebuilds the sessions last seen on TCP all the same: they may resume on UDP.
 *
 * Pipeline mode (a->jn_pipe; td_rx.c "Pipeline mode with a journal"): the RX core stays the
 * only producer because everything passes it - it owns every session, and control
 * commands are forwarded as DP_ORD_CTL markers, the CTL record's pad naming the core. Each request is journaled once room on its core's ring is
 * counted, so a ring never refuses what the journal holds; a ring-full BUSY is journaled
 * as JN_T_REJECT. Cores apply requests at their record's time (rx_time). Replies come back
 * from several cores in a timing-dependent order: each burst the RX core dequeues is
 * journaled (JN_T_DRAIN: core, session core 0, count) before it is numbered, and replay
 * keeps each core's regenerated replies in a FIFO until their DRAIN record, so sessions
 * are numbered exactly as live; what no DRAIN took (undrained at a crash, never sent) is
 * numbered at the end of replay.
 *
 * A standby (td_repl.c, issue 14) keeps replaying after its recovery: each record its
 * primary sends is appended as it is (jn_append_rec: the primary's seq, epoch and writer
 * tag) and applied through the same td_replay_rec (td_jn_follow), with the replay's
 * pipeline FIFOs alive between records; it appends nothing of its own (no JN_DRAIN_START,
 * no control-plane records) until promotion (td_jn_follow_end).
 */
#define _GNU_SOURCE /* pthread_setaffinity_np */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_pause.h>
#include <rte_ring.h>

#include "jn_journal.h"
#include "td_app.h"
#include "td_repl.h"
#include "tkx_log.h"

/* No durability progress for journal.stall_ms while output waits: the disk is taken as
 * failed and the appliance halts. Default 10 s: halting is for a failed disk, not a slow
 * one; a shared disk under load can stall fdatasync for seconds (the tests, which share
 * a loaded machine, set minutes). */
uint64_t td_jn_stall_ns(const struct td_app *a)
{
	return (uint64_t)(a->cfg.journal_stall_ms ? a->cfg.journal_stall_ms : 10000) * 1000000ull;
}

static void td_jn_halt(struct td_app *a, int err)
{
	if (atomic_load_explicit(&a->jn_halt, memory_order_relaxed) == 0)
		atomic_store_explicit(&a->jn_halt, err ? err : -EIO, memory_order_release);
}

int td_jn_halted(const struct td_app *a)
{
	return atomic_load_explicit(&a->jn_halt, memory_order_relaxed);
}

/* Appends the BUSY answers that waited for room (td_jn_reject), oldest first. 0 when
 * none is left, -EAGAIN when the ring is still full. */
static int td_jn_pend_flush(struct td_app *a)
{
	unsigned i = 0;
	int rc = 0;
	while (i < a->jn_pend_n) {
		int64_t s = jn_append(a->jn, JN_T_REJECT, &a->jn_pend[i], sizeof(a->jn_pend[i]),
				      a->jn_pend_t[i]);
		if (s == 0) {
			rc = -EAGAIN;
			break;
		}
		if (s < 0) {
			td_jn_halt(a, (int)s);
			i = a->jn_pend_n; /* halted: nothing is journaled any more */
			break;
		}
		a->jn_last = (uint64_t)s;
		a->jn_t[a->jn_last & (TD_JN_T_CAP - 1)] = a->jn_pend_t[i];
		i++;
	}
	memmove(a->jn_pend, a->jn_pend + i, (a->jn_pend_n - i) * sizeof(a->jn_pend[0]));
	memmove(a->jn_pend_t, a->jn_pend_t + i, (a->jn_pend_n - i) * sizeof(a->jn_pend_t[0]));
	a->jn_pend_n -= i;
	return rc;
}

void td_jn_reject(struct td_app *a, const struct dp_order *o, uint16_t reason, uint64_t now)
{
	struct dp_order j = *o;
	j.parts = (uint8_t)reason;
	int64_t s = td_jn_append(a, JN_T_REJECT, &j, sizeof(j), now);
	if (s != 0)
		return; /* journaled, or halted (nothing after matters) */
	if (a->jn_pend_n == TD_JN_PEND) {
		/* A long stall of the disk: let the journal thread drain its ring. */
		td_jn_wait(a);
		if (td_jn_pend_flush(a) != 0 && a->jn_pend_n == TD_JN_PEND) {
			td_jn_halt(a, -ENOBUFS);
			return;
		}
	}
	a->jn_pend[a->jn_pend_n] = j;
	a->jn_pend_t[a->jn_pend_n++] = now;
}

int64_t td_jn_append(struct td_app *a, uint16_t type, const void *p, uint32_t len, uint64_t now)
{
	if (td_jn_halted(a))
		return td_jn_halted(a);
	if (a->jn_pend_n && td_jn_pend_flush(a) != 0) {
		a->rx.jn_busy++; /* the answers that wait go first */
		return td_jn_halted(a);
	}
	int64_t s = jn_append(a->jn, type, p, len, now);
	if (s > 0) {
		a->jn_last = (uint64_t)s;
		a->jn_t[a->jn_last & (TD_JN_T_CAP - 1)] = now;
	} else if (s == 0) {
		a->rx.jn_busy++;
	} else {
		td_jn_halt(a, (int)s);
	}
	return s;
}

/* The append-to-durable histogram (td_metrics.h): each record that became durable since
 * the last look, timed from its append (jn_t; the last TD_JN_T_CAP of a larger jump). */
static void td_jn_durable_to(struct td_app *a, uint64_t d, uint64_t now)
{
	uint64_t from = a->jn_durable + 1;
	if (d > a->jn_last)
		d = a->jn_last;
	if (d >= from + TD_JN_T_CAP)
		from = d - TD_JN_T_CAP + 1;
	for (uint64_t s = from; s <= d; s++)
		td_hist_add(&a->h_journal, (int64_t)(now - a->jn_t[s & (TD_JN_T_CAP - 1)]));
}

/* The seq output may leave for: what the journal made durable; with sync-replicated and a
 * following standby, no further than what that standby acknowledged as durable on its own
 * disk (td_repl.c publishes repl_durable; no standby following: local durability only). */
static inline uint64_t td_jn_released(const struct td_app *a)
{
	uint64_t d = jn_durable(a->jn);
	if (atomic_load_explicit(&a->repl_gate, memory_order_acquire)) {
		uint64_t r = atomic_load_explicit(&a->repl_durable, memory_order_acquire);
		if (r < d)
			d = r;
	}
	return d;
}

int td_jn_wait(struct td_app *a)
{
	if (a->jn == NULL || a->jn_last <= a->jn_durable || td_jn_halted(a))
		return td_jn_halted(a); /* halted: never wait again (a stalled disk) */
	uint64_t end = 0, seen = a->jn_durable;
	for (;;) {
		uint64_t d = td_jn_released(a);
		if (d >= a->jn_last) {
			td_jn_durable_to(a, d, td_now_ns());
			a->jn_durable = d;
			return 0;
		}
		if (d > seen) { /* progress: the bound counts from here (a slow disk, not a dead one) */
			seen = d;
			end = 0;
		}
		int f = jn_failed(a->jn);
		if (f) {
			td_jn_halt(a, f);
			return f;
		}
		uint64_t now = td_mono_ns();
		/* The lease's stop point (td_lease.c): the RX lcore must fence itself now, not
		 * after a wait for durability (with sync-replicated, for a slow standby) - no
		 * halt: the caller's command fails and the loop's next pass fences. */
		uint64_t stop = atomic_load_explicit(&a->lease_stop_ns, memory_order_relaxed);
		if (stop && now >= stop)
			return -ETIMEDOUT;
		if (end == 0) {
			if (seen == a->jn_durable)
				a->rx.jn_waits++;
			end = now + td_jn_stall_ns(a);
		} else if (now >= end) {
			a->rx.jn_wait_timeouts++;
			td_jn_halt(a, -ETIMEDOUT);
			return -ETIMEDOUT;
		}
		rte_pause();
	}
}

uint64_t td_jn_poll(struct td_app *a, int held, uint64_t now)
{
	uint64_t d = td_jn_released(a);
	if (d > a->jn_durable || !held) {
		if (d > a->jn_durable)
			td_jn_durable_to(a, d, now);
		a->jn_durable = d;
		a->jn_stall = 0;
		return d;
	}
	int f = jn_failed(a->jn);
	if (f) {
		td_jn_halt(a, f);
	} else if (a->jn_stall == 0) {
		a->jn_stall = now;
	} else if (now - a->jn_stall >= td_jn_stall_ns(a)) {
		a->rx.jn_wait_timeouts++;
		td_jn_halt(a, -ETIMEDOUT);
	}
	return d;
}

int td_jn_ctl(struct td_app *a, const struct dp_ctl *c)
{
	/* DAY_STATS only reads (the scheduler polls it every second per trading contract, a
	 * restart once per contract): nothing for replay to redo, no durability to wait for. */
	if (c->type == DP_CTL_DAY_STATS)
		return 0;
	int64_t s = td_jn_append(a, JN_T_CTL, c, sizeof(*c), c->now);
	if (s == 0)
		return -EAGAIN;
	if (s < 0)
		return -EIO;
	return td_jn_wait(a) ? -EIO : 0;
}

/* ss_params.on_established: the session's slot, id and firm, before its EstablishmentAck
 * (which td_send_bufs holds until durable). */
static void td_jn_session(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			  uint64_t next_in)
{
	struct td_app *a = arg;
	struct jn_session_ev e;
	memset(&e, 0, sizeof(e));
	e.kind = JN_SS_ESTABLISHED;
	e.src = TD_SRC_RX;
	e.session = slot;
	e.firm_id = firm_id;
	e.session_id = session_id;
	e.next_in_seq = next_in;
	e.next_out_seq = 1;
	/* A full ring here would lose the session's slot on replay: treat it as a failure. */
	if (td_jn_append(a, JN_T_SESSION, &e, sizeof(e), td_now_ns()) == 0)
		td_jn_halt(a, -ENOBUFS);
}

/* ss_params.on_negotiated: an accepted Negotiate's timestamp, the session's newest, before
 * its NegotiationResponse (held until durable like the EstablishmentAck): after a restart
 * a replay of the same captured bytes is refused as before it. */
static void td_jn_logon(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			uint64_t timestamp)
{
	struct td_app *a = arg;
	struct jn_session_ev e;
	memset(&e, 0, sizeof(e));
	e.kind = JN_SS_LOGON;
	e.src = TD_SRC_RX;
	e.session = slot;
	e.firm_id = firm_id;
	e.session_id = session_id;
	e.logon_ts = timestamp;
	if (td_jn_append(a, JN_T_SESSION, &e, sizeof(e), td_now_ns()) == 0)
		td_jn_halt(a, -ENOBUFS); /* as for SESSION: the mark would be lost on replay */
}

/* A numbered reply the session layer made by itself (ExecReject THROTTLED, CLORDID_REUSED,
 * invalid field; numbered BusinessReject): journaled as a MARK so that replay numbers it
 * again and the session's numbering after a restart is the one its client saw. */
struct td_jn_local {
	uint16_t slot;
	uint16_t template_id;
	uint16_t blen;
	uint16_t pad;
	uint8_t body[56];
};
_Static_assert(sizeof(struct td_jn_local) <= JN_MAX_PAYLOAD, "a local reply fits a record");

static void td_jn_local_reply(void *arg, uint16_t slot, uint16_t tid, const void *body,
			      uint16_t blen)
{
	struct td_app *a = arg;
	struct td_jn_local l;
	memset(&l, 0, sizeof(l));
	l.slot = slot;
	l.template_id = tid;
	l.blen = blen <= sizeof(l.body) ? blen : (uint16_t)sizeof(l.body);
	memcpy(l.body, body, l.blen);
	if (td_jn_append(a, JN_T_MARK, &l, sizeof(l), td_now_ns()) == 0)
		td_jn_halt(a, -ENOBUFS); /* as for SESSION: numbering would diverge */
}

void td_jn_halt_now(struct td_app *a, int err)
{
	td_jn_halt(a, err);
}

void td_jn_ss_params(struct td_app *a, struct ss_params *p)
{
	if (a->cfg.journal_dir[0]) {
		p->on_established = td_jn_session;
		p->on_local_reply = td_jn_local_reply;
		p->on_negotiated = td_jn_logon;
		p->hook_arg = a;
	}
}

/* ---- recovery ------------------------------------------------------------------------- */

/* One matching core's output during replay. */
struct td_replay_out {
	struct mc_out o;
	struct td_replay *rp;
	unsigned core;
	struct dp_event ev[64];
};

/* Pipeline mode: a core's replies to one session core, waiting for the JN_T_DRAIN record
 * that says when the RX core took them (a FIFO, free-running indices). */
struct td_replay_fifo {
	struct dp_event *ev;
	uint32_t cap, head, tail; /* cap a power of two */
};

struct td_replay {
	struct td_app *a;
	int pipe; /* a->jn_pipe */
	struct td_replay_out out[TD_MAX_MATCH];
	struct td_replay_fifo fifo[TD_MAX_MATCH][TD_N_SRC];
	uint64_t now;
	uint64_t orders, ctls, sessions, replies, local, md, skipped, drains, late;
	uint64_t logons; /* JN_SS_LOGON records: newest logon timestamps restored */
	uint64_t foreign_seq; /* the first record of a second session table (invariant 4) */
	uint64_t cps; /* the control plane's state records */
};

/* A record of a session core other than the RX core: a journal of the time the TCP
 * gateway kept a session table of its own (invariant 4). Replay stops there. */
static int td_replay_foreign(struct td_replay *rp, const struct jn_rec *r)
{
	rp->foreign_seq = r->seq;
	return -EPROTO;
}

/* One regenerated event, as the live RX core would have handled it. */
static void td_replay_event(struct td_replay *rp, const struct dp_event *e)
{
	struct td_app *a = rp->a;
	if (e->template_id >= TKX_MD_TOP_OF_BOOK) {
		/* The publisher's contract state and top of book come back; its packets
		 * are not sent (a restart is a new market-data session). */
		const uint8_t *buf;
		size_t len;
		while (md_pub_add(a->md, e, 1, rp->now) == 0) {
			md_pub_flush(a->md, rp->now);
			while (md_pub_next_tx(a->md, &buf, &len) > 0)
				;
		}
		rp->md++;
	} else if (e->src == TD_SRC_RX) {
		/* Sessions are TERMINATED: numbered and kept, nothing goes to a buffer. */
		while (ss_event(a->ss, e, 1, rp->now, a->ss_out) == 0)
			ss_out_reset(a->ss_out);
		rp->replies++;
	} else {
		rp->skipped++; /* a core's answer for no session: live drops it too */
	}
	ss_out_reset(a->ss_out);
}

static void td_replay_flush(struct mc_out *o)
{
	struct td_replay_out *ro = o->arg;
	struct td_replay *rp = ro->rp;
	for (uint32_t i = 0; i < o->n; i++) {
		const struct dp_event *e = &o->ev[i];
		if (e->template_id == 0 && e->pad[0] != DP_EV_DETACHED)
			continue; /* a request's end on an event of its own: numbers nothing, and
				   * live DRAIN records do not count it (td_drain_rings_jn) */
		if (e->template_id < TKX_MD_TOP_OF_BOOK && e->src >= TD_N_SRC)
			continue; /* for no session (a detached order's): live drops it too */
		if (!rp->pipe || e->template_id >= TKX_MD_TOP_OF_BOOK) {
			td_replay_event(rp, e);
			continue;
		}
		struct td_replay_fifo *f = &rp->fifo[ro->core][e->src];
		if (f->tail - f->head == f->cap) {
			rp->late++; /* cannot wait for its DRAIN: numbered now */
			td_replay_event(rp, e);
			continue;
		}
		f->ev[f->tail++ & (f->cap - 1)] = *e; /* numbered at its JN_T_DRAIN */
	}
	o->n = 0;
}

static void td_replay_leftovers(struct td_replay *rp);

/* JN_T_DRAIN: the replies the live RX core took in that burst, numbered now. */
static void td_replay_drain(struct td_replay *rp, const struct jn_drain *d)
{
	if (d->core == JN_DRAIN_START) {
		/* A restart: what the run before left undrained was numbered at its end. */
		td_replay_leftovers(rp);
		return;
	}
	if (d->core >= TD_MAX_MATCH || d->src >= TD_N_SRC) {
		rp->skipped++;
		return;
	}
	struct td_replay_fifo *f = &rp->fifo[d->core][d->src];
	for (uint32_t i = 0; i < d->n; i++) {
		if (f->head == f->tail) {
			rp->skipped++; /* fewer than the live run had: journal and code disagree */
			break;
		}
		td_replay_event(rp, &f->ev[f->head++ & (f->cap - 1)]);
	}
	rp->drains++;
}

/* The cores' outputs (one per core) and, in pipeline mode, the FIFOs: twice a ring's size
 * per core and session core (what a crash can leave undrained is at most a ring). */
static int td_replay_init(struct td_replay *rp, struct td_app *a)
{
	memset(rp, 0, sizeof(*rp));
	rp->a = a;
	rp->pipe = a->jn_pipe;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		struct td_replay_out *ro = &rp->out[m];
		ro->rp = rp;
		ro->core = m;
		ro->o.ev = ro->ev;
		ro->o.cap = 64;
		ro->o.flush = td_replay_flush;
		ro->o.arg = ro;
		for (unsigned src = 0; rp->pipe && src < TD_N_SRC; src++) {
			struct td_replay_fifo *f = &rp->fifo[m][src];
			f->cap = 1;
			while (f->cap < 2 * a->cfg.ring_size + 64)
				f->cap <<= 1;
			f->ev = calloc(f->cap, sizeof(*f->ev));
			if (f->ev == NULL)
				return -ENOMEM;
		}
	}
	return 0;
}

/* What no DRAIN took (the live RX core had not dequeued it when the process stopped) is
 * numbered core by core, as at the end of recovery; it was never sent. */
static void td_replay_leftovers(struct td_replay *rp)
{
	for (uint32_t m = 0; m < TD_MAX_MATCH; m++)
		for (unsigned src = 0; src < TD_N_SRC; src++) {
			struct td_replay_fifo *f = &rp->fifo[m][src];
			while (f->ev && f->head != f->tail)
				td_replay_event(rp, &f->ev[f->head++ & (f->cap - 1)]);
		}
}

/* The end of replay: the leftovers, then the FIFOs are freed. */
static void td_replay_fini(struct td_replay *rp)
{
	td_replay_leftovers(rp);
	for (uint32_t m = 0; m < TD_MAX_MATCH; m++)
		for (unsigned src = 0; src < TD_N_SRC; src++) {
			free(rp->fifo[m][src].ev);
			rp->fifo[m][src].ev = NULL;
		}
}

/* The core that owned a request: every core for a broadcast (-1), the route table's core
 * otherwise; core 0 for a contract no core owns (it answers UNKNOWN_CONTRACT). */
static int td_replay_core(const struct td_app *a, const struct dp_order *o)
{
	if (o->type == DP_ORD_SESSION_GONE || (o->type == DP_ORD_MASS_CANCEL && o->contract_id == 0))
		return -1;
	int m = td_route_core(&a->route, o->contract_id);
	return m < 0 ? 0 : m;
}

static int td_replay_rec(const struct jn_rec *r, void *arg)
{
	struct td_replay *rp = arg;
	struct td_app *a = rp->a;
	struct mc_core *mc = a->match[0].mc;
	rp->now = r->time_ns;
	/* The control plane's state (td_cpstate.c); a bad record stops the replay. */
	int cps = td_cps_replay(a, r);
	if (cps != 0)
		return cps;
	if (r->type == JN_T_CP) {
		rp->cps++;
		return 0;
	}
	if (r->type == JN_T_DRAIN && r->len == sizeof(struct jn_drain)) {
		struct jn_drain d;
		memcpy(&d, r->payload, sizeof(d));
		td_replay_drain(rp, &d);
		return 0;
	}
	if (r->type == JN_T_REJECT && r->len == sizeof(struct dp_order)) {
		/* A request the RX core answered itself (a full ring): numbered again. */
		struct dp_order o;
		memcpy(&o, r->payload, sizeof(o));
		if (o.src != TD_SRC_RX)
			return td_replay_foreign(rp, r);
		ss_restore_order(a->ss, &o);
		while (ss_reject_order(a->ss, &o, o.parts, rp->now, a->ss_out) == -ENOBUFS)
			ss_out_reset(a->ss_out);
		ss_out_reset(a->ss_out);
		rp->local++;
		return 0;
	}
	switch (r->type) {
	case JN_T_SESSION: {
		struct jn_session_ev e;
		memset(&e, 0, sizeof(e)); /* records written before logon_ts are shorter */
		memcpy(&e, r->payload, r->len < sizeof(e) ? r->len : sizeof(e));
		if (e.src != TD_SRC_RX)
			return td_replay_foreign(rp, r);
		struct ss_table *st = a->ss;
		if (e.kind == JN_SS_LOGON) {
			if (ss_restore_logon(st, e.session, e.session_id, e.firm_id, e.logon_ts,
					     td_now_ns()) != 0)
				rp->skipped++;
			else
				rp->logons++;
			break;
		}
		if (e.kind != JN_SS_ESTABLISHED ||
		    ss_restore_session(st, e.session, e.session_id, e.firm_id, e.next_in_seq,
				       TD_RESTORED_TERM_NS) != 0) {
			rp->skipped++;
			break;
		}
		rp->sessions++;
		break;
	}
	case JN_T_ORDER: {
		struct dp_order o;
		memcpy(&o, r->payload, sizeof(o));
		rp->orders++;
		if (o.src == TD_SRC_RX) {
			ss_restore_order(a->ss, &o);
			/* td_route_rtc's (td_route_pipeline_jn's) check, answered as live. */
			if (o.type != DP_ORD_SESSION_GONE &&
			    !(o.type == DP_ORD_MASS_CANCEL && o.contract_id == 0) &&
			    (rp->pipe ? td_route_core(&a->route, o.contract_id) < 0
				      : !mc_owns(mc, o.contract_id))) {
				while (ss_reject_order(a->ss, &o, TKX_REJ_UNKNOWN_CONTRACT, rp->now,
						       a->ss_out) == -ENOBUFS)
					ss_out_reset(a->ss_out);
				ss_out_reset(a->ss_out);
				break;
			}
		} else {
			return td_replay_foreign(rp, r);
		}
		int core = rp->pipe ? td_replay_core(a, &o) : 0;
		for (uint32_t m = 0; m < a->route.n_match; m++)
			if (core < 0 || (uint32_t)core == m)
				mc_process(a->match[m].mc, &o, 1, rp->now, &rp->out[m].o);
		break;
	}
	case JN_T_MARK: {
		struct td_jn_local l;
		if (r->len != sizeof(l)) {
			rp->skipped++;
			break;
		}
		memcpy(&l, r->payload, sizeof(l));
		if (ss_restore_reply(a->ss, l.slot, l.template_id, l.body, l.blen, rp->now) != 0)
			rp->skipped++;
		else
			rp->local++;
		break;
	}
	case JN_T_CTL: {
		struct dp_ctl c;
		struct dp_ctl_reply rep;
		memcpy(&c, r->payload, sizeof(c));
		unsigned core = rp->pipe && c.pad < a->route.n_match ? c.pad : 0;
		mc_control(a->match[core].mc, &c, &rp->out[core].o, &rep);
		if (c.type == DP_CTL_LIST && rep.rc == 0) {
			/* Listed at run time: routable again, as td_ctl_send made it live. */
			td_route_add(&a->route, c.contract_id, (uint8_t)core);
		}
		rp->ctls++;
		break;
	}
	default:
		rp->skipped++;
		break;
	}
	return 0;
}

/* The replay context of recovery; a standby's lives on while it follows (td_jn_follow). */
static struct td_replay td_rp; /* ~70 KiB of events, FIFOs apart */
static int td_rp_live;

int td_jn_follow(struct td_app *a, const struct jn_rec *r, char *why, size_t whylen)
{
	if (!td_rp_live) {
		if (td_replay_init(&td_rp, a) != 0) {
			snprintf(why, whylen, "replay: out of memory");
			return -ENOMEM;
		}
		td_rp_live = 1;
	}
	int64_t s;
	uint64_t spins = 0;
	while ((s = jn_append_rec(a->jn, r)) == 0) {
		if (++spins > 10000000ull) { /* the journal thread took nothing for seconds */
			snprintf(why, whylen, "seq %" PRIu64 ": the journal's ring stayed full", r->seq);
			return -ENOBUFS;
		}
		rte_pause();
	}
	if (s < 0) {
		snprintf(why, whylen, "seq %" PRIu64 ": cannot append to the journal: %s", r->seq,
			 strerror((int)-s));
		td_jn_halt(a, (int)s);
		return (int)s;
	}
	a->jn_last = r->seq;
	int rc = td_replay_rec(r, &td_rp);
	if (rc != 0) {
		const char *cw = td_cps_replay_error(a);
		snprintf(why, whylen, "seq %" PRIu64 ": cannot apply it: %s", r->seq,
			 cw ? cw : td_rp.foreign_seq ? "a TCP session of a separate table" :
			 strerror(rc < 0 ? -rc : EINVAL));
		return rc < 0 ? rc : -EINVAL;
	}
	return 0;
}

void td_jn_follow_end(struct td_app *a)
{
	(void)a;
	if (td_rp_live)
		td_replay_fini(&td_rp);
	td_rp_live = 0;
}

int td_journal_lock(struct td_app *a, char *err, size_t errlen)
{
	if (a->cfg.journal_dir[0] == 0 || a->jn_lock != NULL)
		return 0;
	a->jn_lock = jn_lock(a->cfg.journal_dir, err, errlen);
	return a->jn_lock ? 0 : -errno;
}

/* jn_config.log: what recovery repaired ("journal: truncated torn tail ..."). */
static void td_jn_log(void *arg, const char *line)
{
	(void)arg;
	if (strncmp(line, "journal: ", 9) == 0)
		line += 9;
	tkx_log(TKX_LOG_WARN, "journal", "%s", line);
}

int td_journal_open(struct td_app *a, int cpu, char *err, size_t errlen)
{
	struct jn_config jc;
	if (a->cfg.journal_dir[0] == 0)
		return 0;
	memset(&jc, 0, sizeof(jc));
	jc.dir = a->cfg.journal_dir;
	/* sync-replicated: the journal itself syncs; the gate also waits for the standby */
	jc.durability = a->cfg.journal_durability == CP_DURABILITY_SYNC_REPLICATED
				? 0 : a->cfg.journal_durability;
	jc.lock = a->jn_lock; /* held since start (td_journal_lock); the journal owns it now */
	jc.first_seq = a->repl_first_seq; /* a standby caught up from a snapshot (td_repl.c) */
	jc.segment_bytes = (uint64_t)a->cfg.journal_segment_kb * 1024;
	jc.log = td_jn_log;
	a->jn_lock = NULL;
	/* The journal thread inherits this thread's affinity, which EAL pinned to the RX
	 * lcore: it would then get the CPU only when the RX loop, busy-polling jn_durable(),
	 * is preempted. Create it on a CPU the data path does not poll. */
	cpu_set_t saved, one;
	int pinned = 0;
	if (cpu >= 0 && pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0) {
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pinned = pthread_setaffinity_np(pthread_self(), sizeof(one), &one) == 0;
	}
	a->jn = jn_open(&jc, err, errlen);
	int open_errno = errno;
	if (pinned)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (a->jn == NULL)
		return -open_errno;
	if (cpu < 0)
		tkx_log(TKX_LOG_WARN, "journal",
			"WARNING: no CPU free of the data path: the journal thread "
			"shares the RX lcore and every durability wait takes a scheduler slice");
	uint64_t next = jn_next_seq(a->jn);
	a->jn_last = a->jn_durable = next - 1;
	int cps_rc = td_cps_create(a, err, errlen);
	if (cps_rc < 0) {
		jn_close(a->jn);
		a->jn = NULL;
		return cps_rc;
	}
	if (next > 1) {
		/* Recovery: the newest usable snapshot (td_snap.c), then the records after it
		 * (every record from the first when there is none). */
		int64_t from = td_snap_recover(a, next - 1, err, errlen);
		if (from < 0) {
			jn_close(a->jn);
			a->jn = NULL;
			return (int)from;
		}
		struct td_replay *rp = &td_rp;
		if (td_replay_init(rp, a) != 0) {
			snprintf(err, errlen, "journal %s: replay: out of memory", a->cfg.journal_dir);
			td_replay_fini(rp);
			jn_close(a->jn);
			a->jn = NULL;
			return -ENOMEM;
		}
		uint64_t t0 = td_mono_ns();
		int64_t n = jn_replay(a->cfg.journal_dir, (uint64_t)from, td_replay_rec, rp);
		/* A standby goes on replaying what its primary sends (td_jn_follow): the replies
		 * its journal's end leaves for a later DRAIN wait for it there. */
		if (td_repl_standby(a) && n >= 0)
			td_rp_live = 1;
		else
			td_replay_fini(rp);
		if (n < 0 && rp->foreign_seq) {
			snprintf(err, errlen, "journal %s: record seq %" PRIu64 " is of a TCP session of "
				 "a tokexd that kept its TCP sessions in a table of their own: this "
				 "tokexd keeps one table for both transports and cannot rebuild "
				 "those sessions; recover the journal with the tokexd that wrote it, "
				 "or move it aside to start a new one", a->cfg.journal_dir,
				 rp->foreign_seq);
			jn_close(a->jn);
			a->jn = NULL;
			return -EPROTO;
		}
		if (n < 0) {
			const char *why = td_cps_replay_error(a);
			if (why)
				snprintf(err, errlen, "journal %s: replay failed: the control plane's "
					 "record at %s: not starting (tokex-journal verify %s shows the "
					 "journal's state)", a->cfg.journal_dir, why, a->cfg.journal_dir);
			else
				snprintf(err, errlen, "journal %s: replay failed: %s",
					 a->cfg.journal_dir, strerror((int)-n));
			jn_close(a->jn);
			a->jn = NULL;
			return (int)n;
		}
		td_cps_recovered(a);
		tkx_log(TKX_LOG_INFO, "journal",
			"recovered %" PRId64 " record(s) from seq %" PRIu64 "%s to "
			"seq %" PRIu64 " in %.1f ms: %" PRIu64 " request(s), %" PRIu64
			" control command(s), %"
			PRIu64 " session(s), %" PRIu64 " replies renumbered (%" PRIu64
			" session-layer rejects), %" PRIu64
			" market-data records (not re-sent), %" PRIu64 " skipped, %" PRIu64
			" reply drains (pipeline), %" PRIu64 " replies numbered out of order, %"
			PRIu64 " logon(s), %" PRIu64 " control-plane state records",
			n, (uint64_t)from, from > 1 ? " (after the snapshot)" : "", next - 1,
			(double)(td_mono_ns() - t0) / 1e6, rp->orders, rp->ctls,
			rp->sessions, rp->replies + rp->local, rp->local, rp->md,
			rp->skipped, rp->drains, rp->late, rp->logons, rp->cps);
		/* The rebuilt sessions (the first few), for the operator and the tests. */
		unsigned shown = 0;
		for (unsigned slot = 0; slot < a->cfg.max_sessions && shown < 16; slot++) {
			struct ss_info in;
			if (ss_session_info(a->ss, slot, &in) != 0 || in.state == SS_FREE)
				continue;
			shown++;
			tkx_log(TKX_LOG_INFO, "journal",
				"session %" PRIu64 " firm %u slot %u: next in %" PRIu64
				" next out %" PRIu64 " last cl_ord_id %" PRIu64, in.session_id,
				in.firm_id, slot, in.next_in, in.next_out, in.last_cl_ord_id);
		}
	}
	if (a->jn_pipe && next > 1 && !td_repl_standby(a)) {
		/* This run's first record: replay numbers the previous run's undrained replies
		 * here, where this recovery just did (JN_DRAIN_START). */
		struct jn_drain d = {JN_DRAIN_START, 0, 0, 0};
		if (td_jn_append(a, JN_T_DRAIN, &d, sizeof(d), td_now_ns()) <= 0) {
			snprintf(err, errlen, "journal %s: cannot append the start record",
				 a->cfg.journal_dir);
			jn_close(a->jn);
			a->jn = NULL;
			return -EIO;
		}
	}
	int snap_rc = td_snap_open(a, cpu, err, errlen);
	if (snap_rc < 0) {
		jn_close(a->jn);
		a->jn = NULL;
		return snap_rc;
	}
	if (a->cfg.journal_fault_write) {
		/* Testing only (journal.fault_write_after): a disk that fails. */
		struct jn_fault f;
		memset(&f, 0, sizeof(f));
		f.write_nth = a->cfg.journal_fault_write;
		f.write_err = EIO;
		jn_fault_set(a->jn, &f);
		tkx_log(TKX_LOG_WARN, "journal",
			"TESTING: write %u of the journal will fail with EIO",
			a->cfg.journal_fault_write);
	}
	static const char *const names[] = {"sync", "async", "none", "sync-replicated"};
	struct jn_stats js;
	jn_stats(a->jn, &js);
	tkx_log(TKX_LOG_INFO, "journal",
		"%s, durability %s, next seq %" PRIu64 ", writer %08x (pid %ld)",
		a->cfg.journal_dir, names[a->cfg.journal_durability & 3], next, js.writer,
		(long)getpid());
	return 0;
}

void td_journal_report(struct td_app *a)
{
	if (a->jn)
		td_snap_report(a);
	int h = td_jn_halted(a);
	if (h == 0 || a->jn_reported)
		return;
	a->jn_reported = 1;
	tkx_log(TKX_LOG_ERR, "journal",
		"FAILED (%s): requests are no longer accepted, each is answered "
		"ExecReject STORAGE and nothing more is applied; fix the journal's disk (%s) and "
		"restart: the journal will be recovered",
		h == -ETIMEDOUT ? "no durability within 10 s" : strerror(-h), a->cfg.journal_dir);
	fflush(stdout);
}

void td_journal_close(struct td_app *a)
{
	if (a->jn == NULL)
		return;
	td_snap_close(a);
	struct jn_stats s;
	jn_stats(a->jn, &s);
	int rc = jn_close(a->jn);
	a->jn = NULL;
	tkx_log(TKX_LOG_INFO, "journal", "appended %" PRIu64 " durable %" PRIu64 " fsyncs %" PRIu64
		" batches %" PRIu64 " busy %" PRIu64 " storage_rejects %" PRIu64 " waits %" PRIu64
		" close %s", s.appended, s.durable, s.fsyncs, s.batches, s.ring_full,
		a->rx.storage_rejects, a->rx.jn_waits, rc ? strerror(-rc) : "ok");
}
