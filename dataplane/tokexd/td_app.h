/*
 * td_app.h - tokexd's state: everything allocated before the cores start.
 *
 * Role: the appliance process. The control thread (main) builds a td_app from the
 * configuration, starts the data-path lcores and the TCP gateway thread, then only reads
 * counters, drains logs and waits for a signal or its time limit. Lcore roles:
 *
 *   run-to-completion (mode rtc): one lcore runs td_rx_loop(), which receives, runs the
 *     sessions, matches (mc_process called directly), publishes market data and sends.
 *   pipeline: the RX/session lcore runs td_rx_loop() and hands requests to one or more
 *     matching lcores (td_match_loop()) over SP/SC rings (td_route.h); replies and market
 *     data come back on rings and leave from the RX lcore's TX queue.
 *
 * The TCP gateway (td_gw.c) is the TCP transport only, a thread on the kernel's stack: it
 * hands the frames it reads to the RX lcore, whose one session table holds the sessions
 * of both transports, and sends the chunks the RX lcore gives it back (td_gw.h).
 */
#ifndef TOKEX_TD_APP_H
#define TOKEX_TD_APP_H

#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "cp_config.h"
#include "dp_flow.h"
#include "dp_net.h"
#include "dp_port.h"
#include "mc_core.h"
#include "md_pub.h"
#include "ss_session.h"
#include "td_clock.h"
#include "td_metrics.h"
#include "td_route.h"

#define TD_JN_PEND 256
#define TD_JN_T_CAP 4096 /* append times kept for the durability histogram; power of two */

struct td_gw;
struct td_gw_conf;
struct td_ctl;
struct td_sess_chan;
struct td_off;
struct rte_tel_data;
struct jn;
struct jn_rec;
struct ss_params;
struct td_cps;
struct cp_clock;
struct cp_life;
struct cp_state_img;
struct dp_snap_w;
struct td_repl;

/* --clock and --clock-rate (td_main.c): the calendar's clock asked for at start. */
struct td_clock_opt {
	uint64_t start_ns; /* --clock START: the calendar's time now (UTC ns) */
	uint64_t rate;     /* --clock-rate R, millionths of real time (cp_clock.h) */
	uint8_t start_set;
	uint8_t rate_set;
	uint8_t wall;      /* --clock now: the wall clock */
};

/* Per matching core: its engine state and counters (written by that core only). */
struct td_match {
	struct mc_core *mc;
	struct td_app *app;
	unsigned idx;
	unsigned lcore;
	uint64_t ring_full_spins; /* output ring full: waited for the consumer */
	struct td_off *off;        /* top-of-book offload target, NULL = none */
	struct rte_ring *ctl_in;   /* control plane -> this core, dp_ctl (td_ctl.c) */
	struct rte_ring *ctl_out;  /* this core -> control plane, dp_ctl_reply */
	struct rte_ring *ctl_fwd;  /* pipeline with a journal: RX core -> this core, the
				      journaled commands (struct td_ctl_fwd), each announced by
				      a DP_ORD_CTL marker on its request ring */
	uint64_t ctl_lost;         /* control replies dropped: reply ring full */
	uint64_t done;             /* pipeline with a journal: requests and markers taken
				      off its ring and applied, outputs on their rings
				      (release; the RX core's snapshot barrier reads it) */
	uint64_t sent;             /* the RX core's count of what it enqueued (RX only) */
} __attribute__((aligned(64)));

/* The RX/session core's counters beyond dp_net's and ss_session's. */
struct td_rx_stats {
	uint64_t loops;
	uint64_t orders_routed;
	uint64_t busy_rejects;      /* matching ring full: Reject(BUSY) */
	uint64_t unknown_contract;  /* no core owns the contract */
	uint64_t md_requests;
	uint64_t tx_nombuf;         /* replies that found the pool empty (retried) */
	uint64_t gw_ring_spins;     /* the gateway's out queue was full: waited */
	uint64_t gw_lost;           /* TCP chunks dropped: the gateway took nothing for
				       10 s (stuck) */
	uint64_t tcp_after_end;     /* TCP frames of a connection ended by our Terminate */
	/* journal (td_journal.c) */
	uint64_t jn_busy;           /* journal ring full: Reject(BUSY), not applied */
	uint64_t storage_rejects;   /* journal failed: Reject(STORAGE), not applied */
	uint64_t jn_waits;          /* times the loop waited for durability (control
				       commands, a full hold, the end) */
	uint64_t jn_wait_timeouts;
	uint64_t hold_full_waits;   /* a hold of not-yet-durable output was full: waited */
	uint64_t held_dropped;      /* journal failed: held output discarded, never sent */
} __attribute__((aligned(64)));

struct td_app {
	struct cp_config cfg;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = run until a signal */
	int verbose;
	atomic_int running;
	atomic_int match_stop; /* pipeline: set by the RX core once it took the cores' last
				  replies at the end (the matching lcores run until then) */

	struct dp_port port;
	struct dp_net net; /* the RX core's */
	struct dp_flow flow; /* NIC steering rules, or the fallback's reason */
	struct td_route route;
	int jn_pipe; /* pipeline mode with a journal: the control commands pass the RX core */
	struct ss_table *ss;   /* the sessions, UDP and TCP (src 0, ss_session.h invariant 12) */
	struct ss_out *ss_out; /* its output, ~100 KiB */
	struct md_pub *md;
	struct td_gw *gw;      /* the TCP transport, NULL = none */
	struct td_ctl *ctl; /* the control thread's lifecycle and socket (td_ctl.c) */
	struct td_clock_opt clk;
	/* The control plane's state in the journal (td_cpstate.c), NULL without a journal. */
	struct td_cps *cps;
	/* The control thread's way to the session table (td_sess.c). */
	struct td_sess_chan *sess;
	struct td_match match[TD_MAX_MATCH];
	struct td_rx_stats rx;
	/* The input journal (td_journal.c), NULL = off. Written by the RX core only, but
	 * jn_halt, which the control thread reads to report once. */
	struct jn *jn;
	struct jn_lock *jn_lock; /* the journal directory's, from start until td_journal_open */
	uint64_t jn_last;    /* last seq appended */
	uint64_t jn_durable; /* last durable seq seen */
	uint64_t jn_stall;   /* td_jn_poll: since when output waits with no progress, 0 none */
	atomic_int jn_halt;  /* 0, or the negative errno that stopped the appliance */
	int jn_reported;     /* control thread: the halt was printed */
	/* BUSY answers made while the journal's ring was full, journaled (JN_T_REJECT, in
	 * this order) before any later record, so that replay numbers them where they were
	 * numbered (td_jn_reject). RX core only. */
	struct dp_order jn_pend[TD_JN_PEND];
	uint64_t jn_pend_t[TD_JN_PEND];
	unsigned jn_pend_n;

	/* Latency histograms (td_metrics.h), the RX core their one writer: a request's
	 * arrival to its last reply made (before the journal gate), and a journal record's
	 * append to durable (jn_t: each seq's append time, by seq & (TD_JN_T_CAP - 1)). */
	struct td_hist h_reply;
	struct td_hist h_journal;
	uint64_t jn_t[TD_JN_T_CAP];
	struct td_metrics *metrics; /* the Prometheus endpoint, NULL = none */
	/* Replication (td_repl.c, issue 14), NULL without a replication section. */
	struct td_repl *repl;
	uint64_t repl_first_seq;
	/* The lease (td_lease.c), NULL without replication.etcd. Its thread publishes the
	 * deadlines (CLOCK_MONOTONIC; 0 = none: no lease, or a standby not promoted); the RX
	 * lcore reads them each pass (td_rx.c td_fence): from lease_stop_ns on it accepts
	 * nothing and ends the sessions (Terminate SHUTDOWN), from lease_end_ns on it sends
	 * nothing. fenced: 1 the RX lcore fenced itself (the process stops). promoted: set by
	 * the RX lcore once a standby's promotion is done (the control thread then starts the
	 * lifecycle). */
	struct td_lease *lease;
	_Atomic uint64_t lease_stop_ns;
	_Atomic uint64_t lease_end_ns;
	atomic_int fenced;
	_Atomic uint64_t fenced_ns; /* CLOCK_MONOTONIC when the RX lcore fenced itself */
	atomic_int promoted;
	/* journal.durability sync-replicated (td_repl.c, primary's link thread): repl_gate 1
	 * while a standby follows (caught up); repl_durable the newest seq it acknowledged as
	 * durable on its disk. The journal gate releases output only up to it then
	 * (td_journal.c td_jn_released). */
	atomic_int repl_gate;
	_Atomic uint64_t repl_durable; /* a standby's journal starts here (caught up from a snapshot) */
};


/* The data-path loops (lcore entry points take the td_app). */
int td_rx_loop(void *app);
int td_match_loop(void *match); /* struct td_match * */

/* Hardware offloads (td_offload.c): NIC flow steering and the top-of-book target. */
void td_flow_setup(struct td_app *a);
void td_offload_setup(struct td_app *a);
void td_offload_tob(struct td_match *m, const struct dp_event *ev, unsigned n);
void td_offload_print_logs(struct td_app *a);
void td_offload_counters(struct td_app *a, td_counter_fn fn, void *arg);
const char *td_offload_target_name(const struct td_app *a);
void td_offload_close(struct td_app *a);

/* The control plane (td_ctl.c): a control ring per matching core, polled by the
 * matching path every TD_CTL_EVERY passes; the control thread's lifecycle, scheduler and
 * tokexctl socket. */
#define TD_CTL_EVERY 64 /* power of two */
int td_ctl_bind(struct td_app *a, char *err, size_t len);  /* first: control.socket */
void td_ctl_setup(struct td_app *a);                       /* before launch */
void td_ctl_poll(struct td_match *m, struct mc_out *out);  /* matching path */
/* Pipeline with a journal: the RX core takes the commands off every core's control ring,
 * journals each (durable before it goes on) and forwards it, in order with the requests,
 * as a DP_ORD_CTL marker plus a td_ctl_fwd; the matching core applies it at the marker. */
struct td_ctl_fwd {
	struct dp_ctl c;
	int32_t rc; /* not 0: not journaled; the core answers rc without applying */
	uint32_t pad;
};
#define DP_ORD_CTL 16 /* dp_order.type of the marker (never reaches mc_process) */
void td_ctl_poll_journal(struct td_app *a, int (*forward)(void *arg, unsigned m,
							  const struct dp_order *o), void *arg);
void td_ctl_apply_fwd(struct td_match *m, struct mc_out *out);
/* The calendar's clock from --clock/--clock-rate and what the journal recorded; after
 * recovery, before launch. 0, or -EINVAL with the reason in err (not starting). */
int td_ctl_clock_setup(struct td_app *a, char *err, size_t len);
int td_ctl_start(struct td_app *a);                        /* control thread */
/* A standby promoted (td_app.promoted): the control plane stops being read-only and its
 * lifecycle and scheduler start from the journal's state, as td_ctl_start's resume. */
int td_ctl_promote(struct td_app *a);                      /* control thread */
void td_ctl_run(struct td_app *a, int timeout_ms);
void td_ctl_stop(struct td_app *a);

/* The input journal (td_journal.c; issue 6). RX core (the single producer): append
 * returns the seq, 0 ring full, a negative errno (halted: STORAGE); wait busy-polls until
 * everything appended is durable (0) or halts (negative errno); ctl appends and waits. */
/* The termination time recovery gives the sessions it rebuilds (ss_restore_session(),
 * ss_snap_load()): long ago, so that they count as having lingered already (ss_session.h
 * invariant 9). A table full of recovered sessions that are not live then never keeps a
 * new logon out after a restart; one that may have resting orders is forgotten only when
 * a Negotiate needs its slot, never ahead of need (ss_session.c rebuilt()), and while
 * there is a FREE slot none is reclaimed. */
#define TD_RESTORED_TERM_NS 0ull
/* Before launch; the journal thread runs on cpu (-1: inherit the caller's affinity). */
int td_journal_open(struct td_app *a, int cpu, char *err, size_t errlen);
void td_jn_ss_params(struct td_app *a, struct ss_params *p);
int64_t td_jn_append(struct td_app *a, uint16_t type, const void *p, uint32_t len, uint64_t now);
int td_jn_wait(struct td_app *a);
/* journal.stall_ms in ns: how long durability may make no progress before the halt. */
uint64_t td_jn_stall_ns(const struct td_app *a);
/* RX core, each pass while output is held (held != 0): the durable seq, without waiting;
 * halts the appliance when the journal failed or made no progress for journal.stall_ms. */
uint64_t td_jn_poll(struct td_app *a, int held, uint64_t now);
int td_jn_ctl(struct td_app *a, const struct dp_ctl *c);
int td_jn_halted(const struct td_app *a);
/* RX core: o is answered ExecReject reason by the caller; journal that (JN_T_REJECT), now
 * or, the ring being full, before the next record. */
void td_jn_reject(struct td_app *a, const struct dp_order *o, uint16_t reason, uint64_t now);

/* The ExecReject a session core's request gets from the RX core (BUSY, STORAGE) as the
 * matching core would have made it: the same bytes live and on replay. */
static inline void td_reject_event(const struct dp_order *o, uint16_t reason, uint64_t now,
				   struct dp_event *e)
{
	static const uint16_t tid[] = {0, TKX_NEW_ORDER, TKX_CANCEL_ORDER, TKX_MODIFY_ORDER,
				       TKX_MASS_CANCEL};
	memset(e, 0, sizeof(*e));
	e->template_id = TKX_EXEC_REJECT;
	e->session = o->session;
	e->src = o->src;
	e->parts = 1;
	e->pad[1] = DP_EV_DONE; /* the request's only reply */
	e->u.reject.cl_ord_id = o->cl_ord_id;
	e->u.reject.transact_time = now;
	e->u.reject.order_id = o->type == DP_ORD_NEW ? 0 : o->order_id; /* NEW: its type's */
	e->u.reject.contract_id = o->contract_id;
	e->u.reject.reason = reason;
	e->u.reject.ref_template_id = o->type < 5 ? tid[o->type] : 0;
}
void td_jn_halt_now(struct td_app *a, int err); /* RX core: the journal cannot go on */
/* Standby (td_repl.c), RX core: appends a record its primary sent (as it is, jn_append_rec)
 * and applies it through the replay code recovery uses (td_replay_rec: the cores, the
 * sessions, the publisher, the control plane's state). 0, or a negative errno with the
 * reason in why (not appended, or appended but not applied: stop following). */
int td_jn_follow(struct td_app *a, const struct jn_rec *r, char *why, size_t whylen);
/* The end of following (promotion, or the stop): what no DRAIN took is numbered, as at the
 * end of recovery. */
void td_jn_follow_end(struct td_app *a);
/* First thing at start, before EAL: the journal directory's lock (one writer per journal;
 * a second tokexd stops here with the first one named in err). 0 or a negative errno. */
int td_journal_lock(struct td_app *a, char *err, size_t errlen);
/* Control thread: a halt (once) and snapshot failures, as they happen. */
void td_journal_report(struct td_app *a);
void td_journal_close(struct td_app *a);

/* The control plane's state in the journal (td_cpstate.c; control/cp_state.h). With a
 * journal only (a->cps NULL without one: nothing recorded).
 *   td_cps_create()       before recovery
 *   td_cps_replay()       recovery: each replayed record (after td_snap_recover() loaded
 *                         the snapshot's section: td_cps_snap_load); nonzero stops replay,
 *                         td_cps_replay_error() says why
 *   td_cps_recovered()    after replay: drops a change cut short, prints what was found
 *   td_cps_state()        the recovered state, NULL when the journal holds none
 *   td_cps_flush()        control thread: journals what changed (durable on return)
 *   td_cps_poll()         RX core: journals what the control thread sent
 *   td_cps_final()        the RX lcore's thread after the control thread and the RX loop
 *                         ended: a simulated calendar's last time, and any change left
 *   td_cps_snap_*()       td_snap.c: the section of the RX core's copy */
int td_cps_create(struct td_app *a, char *err, size_t len);
int td_cps_replay(struct td_app *a, const struct jn_rec *r);
const char *td_cps_replay_error(const struct td_app *a);
void td_cps_recovered(struct td_app *a);
const struct cp_state_img *td_cps_state(const struct td_app *a);
int td_cps_flush(struct td_app *a, const struct cp_life *L, const struct cp_clock *clk, int force,
		 char *err, size_t len);
void td_cps_poll(struct td_app *a);
int td_cps_final(struct td_app *a, const struct cp_life *L, const struct cp_clock *clk);
size_t td_cps_snap_bound(const struct td_app *a);
void td_cps_snap_save(const struct td_app *a, struct dp_snap_w *w);
int td_cps_snap_load(struct td_app *a, const void *buf, size_t len, size_t *used, char *err,
		     size_t errlen);
/* td_ctl.c: the lifecycle and clock the control thread ran (td_cps_final). */
void td_ctl_final(struct td_app *a);

/* The operator's view of the session table (td_sess.c): a request ring to its owner, the
 * RX core. Set-up before launch; td_sess_serve() by the owner, with its output empty,
 * every few passes; the rest on the control thread (cp_cmd_ctx's sessions and drop
 * hooks: arg is the td_app). */
void td_sess_setup(struct td_app *a);
void td_sess_serve(struct td_sess_chan *ch, struct ss_table *t, struct ss_out *out,
		   uint64_t now);
int td_sess_text(void *arg, char *out, size_t len);
int td_sess_drop_text(void *arg, uint64_t session_id, char *out, size_t len);

/* The matching cores' counters summed (control thread); returns the output-ring waits. */
uint64_t td_match_stats(const struct td_app *a, struct mc_stats *tot);

/* rte_telemetry commands (/tokex/...). */
void td_telemetry_register(struct td_app *app);

/* ---- Snapshots (td_snap.c; issue 6: recovery from the newest snapshot) ----------------
 * Run-to-completion mode with a journal: every journal.snapshot_every records the RX core
 * serializes the matching core, the sessions, the market-data publisher (and the control
 * plane's state: td_snap.c's sections) into a
 * preallocated buffer (no system call, no allocation) and a writer thread makes it a
 * snapshot file; recovery loads the newest usable one and replays only what follows it.
 * Wiring (td_journal.c, td_rx.c):
 *   td_snap_open()    after jn_open() in td_journal_open(), with the journal thread's
 *                     cpu; before or after recovery (it fingerprints the configuration
 *                     from the modules before anything is applied to them either way)
 *   td_snap_recover() in td_journal_open()'s recovery branch: the seq to replay from
 *   td_snap_maybe()   RX core, end of each loop pass (every record <= a->jn_last applied)
 *   td_snap_close()   in td_journal_close(), before jn_close(); prints the counters */
struct td_snap_stats {
	uint64_t taken;             /* serialized on the RX core and handed to the writer */
	uint64_t written;           /* made durable snapshot files */
	uint64_t skipped_busy;      /* due while the writer still held the buffer */
	uint64_t failed;            /* writer: not written (journal failed, disk error);
				       stored with release after last_error, last_failed_seq */
	uint64_t too_big;           /* RX core: did not fit the buffer (a bug if not 0) */
	uint64_t last_error;        /* errno of the last failure */
	uint64_t last_failed_seq;   /* journal seq of the last snapshot that failed */
	uint64_t last_seq;          /* journal seq of the last snapshot written */
	uint64_t last_serialize_ns; /* RX core time of the last serialization */
	uint64_t max_serialize_ns;
	uint64_t last_bytes;        /* size of the last blob */
	uint64_t last_write_ns;     /* writer: durability wait + file write, fsync, rename */
	uint64_t max_write_ns;
	uint64_t pruned_segments;   /* journal segments deleted after snapshots */
	uint64_t deleted_snapshots; /* older snapshot files deleted */
};
int td_snap_open(struct td_app *a, int cpu, char *err, size_t errlen);
/* The seq to replay from (1: no usable snapshot, the whole journal), or a negative errno
 * with the reason in err (not starting). last_seq: the journal's last record. */
int64_t td_snap_recover(struct td_app *a, uint64_t last_seq, char *err, size_t errlen);
void td_snap_maybe(struct td_app *a, uint64_t now);
/* Pipeline mode: whether td_snap_maybe() would take one now (the RX core then stops the
 * matching cores at a quiet point first: td_rx.c td_pipe_quiesce). */
int td_snap_due(const struct td_app *a);
void td_snap_close(struct td_app *a);
/* Control thread (td_journal_report): prints a snapshot failure when the writer counts it
 * (then at most every 10 s while they go on), and when snapshots are written again. */
void td_snap_report(struct td_app *a);
/* Counters: written by the RX core and the writer (relaxed), read by anyone. */
const struct td_snap_stats *td_snap_stats(const struct td_app *a);
/* A digest of the state (issue 14: a standby's state equals its primary's): the matching
 * cores' sections and the control plane's, and each session's numbering, at one journal
 * seq. td_snap_digest() on the control thread asks the RX lcore and waits (10 s at most):
 * 0 with the text in out, or a negative errno with the reason. td_snap_digest_poll() on
 * the RX lcore computes one asked for when every record up to jn_last is applied (rtc:
 * from td_snap_maybe; pipeline: td_snap_due() asks for the quiet point first; standby:
 * its follow loop). Needs journal.snapshot_every (its buffer). */
int td_snap_digest(struct td_app *a, char *out, size_t len);
void td_snap_digest_poll(struct td_app *a);

#endif /* TOKEX_TD_APP_H */
