/*
 * td_ctl.c - tokexd's control plane: the control rings to the matching cores, and the
 * control thread's lifecycle, scheduler and tokexctl socket.
 *
 * Role: two sides, one file, so the message discipline is in one place.
 *  - Matching path (td_ctl_poll): called by the matching loop (td_rx.c in
 *    run-to-completion mode, td_match.c in pipeline mode) every TD_CTL_EVERY passes;
 *    takes at most TD_CTL_BURST dp_ctl from its ring, applies each with mc_control()
 *    and puts the dp_ctl_reply on the reply ring. Never blocks: a reply that finds the
 *    ring full is dropped and counted (the control thread then times out).
 *  - Control thread (td_ctl_start/run/stop, from td_control() in td_main.c): the
 *    lifecycle (cp_life) reaches a core only by enqueuing one dp_ctl and waiting for the
 *    reply with its seq (1 s at most); it never touches a book. The scheduler (when
 *    control.scheduler is 1) runs on the calendar's clock (cp_clock.h: the wall clock, or
 *    a simulated one from --clock/--clock-rate or the journal); tokexctl's commands arrive
 *    on the Unix socket control.socket, bound first of all (td_ctl_bind, before EAL): a
 *    tokexd that could not be operated does not start. With a journal, every change of
 *    the lifecycle is journaled (td_cpstate.c) before the next command reaches a core and
 *    before the operator's answer, and a restart resumes from the journal's state instead
 *    of the configuration (td_ctl_start: "Resuming").
 * Rings: per matching core, ctl_in (control -> core, dp_ctl) and ctl_out (core ->
 * control, dp_ctl_reply), single producer / single consumer, TD_CTL_RING entries.
 * A standby (td_repl.c) runs no lifecycle and no scheduler: tokexctl answers only what
 * changes nothing (cp_cmd_ctx.read_only), replication and digest included.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_errno.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "cp_clock.h"
#include "cp_cmd.h"
#include "cp_server.h"
#include "cp_state.h"
#include "td_app.h"
#include "td_repl.h"
#include "tkx_log.h"
#include <tokex/version.h>

#define TD_CTL_RING 64
#define TD_CTL_BURST 4
/* How long the control thread waits for a matching core's answer: a bound for a dead core,
 * not a speed - a command that times out may still be applied, so the bound is generous
 * (a loaded machine keeps a core off its CPU for seconds), and with a journal beyond the
 * journal's own bound (journal.stall_ms: the command is durable before it is applied). */
#define TD_CTL_TIMEOUT_NS 10000000000ull

#define TD_CTL_CLOCK_NS 1000000000ull /* a simulated clock is journaled once a second */

struct td_ctl {
	struct cp_life L;
	struct cp_sched S;
	struct cp_cmd_ctx X;
	struct cp_server srv;
	int have_srv;
	struct cp_clock clock; /* the calendar's: set before the thread starts */
	int restored;          /* the lifecycle resumed from the journal */
	int started;           /* td_ctl_start() succeeded: the lifecycle is the run's */
	uint64_t next_clock;   /* mono ns: the next clock-only change (simulated clock) */
	int keep_held;         /* the journal's calendar was held by the operator: it stays */
	char jn_err[256];      /* the last journaling failure, logged once */
};

/* ---- matching path ------------------------------------------------------------------- */

void td_ctl_poll(struct td_match *m, struct mc_out *out)
{
	/* Run-to-completion with a journal: this is the RX core, which journals the control
	 * plane's changes too (td_cpstate.c). */
	if (m->app->cps && !m->app->jn_pipe)
		td_cps_poll(m->app);
	struct dp_ctl c[TD_CTL_BURST];
	unsigned n = rte_ring_sc_dequeue_burst_elem(m->ctl_in, c, sizeof(c[0]), TD_CTL_BURST,
						    NULL);
	for (unsigned i = 0; i < n; i++) {
		struct dp_ctl_reply r;
		/* Journal (run-to-completion only, where this runs on the RX core, the journal's
		 * single producer): durable before it is applied, else answered, not applied. */
		int jrc = m->app->jn ? td_jn_ctl(m->app, &c[i]) : 0;
		if (jrc != 0) {
			memset(&r, 0, sizeof(r));
			r.seq = c[i].seq;
			r.rc = jrc;
			r.contract_id = c[i].contract_id;
		} else {
			mc_control(m->mc, &c[i], out, &r);
		}
		if (rte_ring_sp_enqueue_elem(m->ctl_out, &r, sizeof(r)) != 0)
			m->ctl_lost++;
	}
}

/* Pipeline with a journal, RX core: every core's commands, journaled (the CTL record's
 * pad names the core, for replay), then forwarded in order with the requests. */
void td_ctl_poll_journal(struct td_app *a, int (*forward)(void *arg, unsigned m,
							  const struct dp_order *o), void *arg)
{
	td_cps_poll(a); /* the control plane's changes (td_cpstate.c) */
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		struct td_match *mt = &a->match[m];
		struct td_ctl_fwd f;
		if (rte_ring_count(mt->ctl_fwd) >= TD_CTL_RING - 1)
			continue; /* the core has not taken the earlier ones yet */
		if (rte_ring_sc_dequeue_elem(mt->ctl_in, &f.c, sizeof(f.c)) != 0)
			continue;
		f.c.pad = (uint16_t)m;
		f.rc = td_jn_ctl(a, &f.c);
		f.pad = 0;
		/* Room: counted above, and this core is the ring's only producer. */
		rte_ring_sp_enqueue_elem(mt->ctl_fwd, &f, sizeof(f));
		struct dp_order o;
		memset(&o, 0, sizeof(o));
		o.type = DP_ORD_CTL;
		o.src = TD_SRC_RX;
		o.parts = 1;
		o.rx_time = f.c.now;
		forward(arg, m, &o);
	}
}

/* Pipeline with a journal, matching core: the command a DP_ORD_CTL marker announces. */
void td_ctl_apply_fwd(struct td_match *m, struct mc_out *out)
{
	struct td_ctl_fwd f;
	struct dp_ctl_reply r;
	if (rte_ring_sc_dequeue_elem(m->ctl_fwd, &f, sizeof(f)) != 0)
		return; /* cannot happen: the command is enqueued before its marker */
	if (f.rc != 0) {
		memset(&r, 0, sizeof(r));
		r.seq = f.c.seq;
		r.rc = f.rc;
		r.contract_id = f.c.contract_id;
	} else {
		mc_control(m->mc, &f.c, out, &r);
	}
	if (rte_ring_sp_enqueue_elem(m->ctl_out, &r, sizeof(r)) != 0)
		m->ctl_lost++;
}

/* ---- control thread ------------------------------------------------------------------ */

/* The scheduler's clock (cp_sched takes a callback so that tests can inject one): the
 * calendar's. */
static uint64_t td_ctl_clock(void *arg)
{
	struct td_ctl *t = arg;
	return cp_clock_read(&t->clock);
}

/* Journals what changed in the lifecycle (td_cpstate.c): 0, or a negative errno, logged
 * once per new reason. force: a change even when nothing but the clock moved. */
static int td_ctl_flush(struct td_app *a, int force)
{
	struct td_ctl *t = a->ctl;
	char err[256];
	int rc = td_cps_flush(a, &t->L, &t->clock, force, err, sizeof(err));
	if (rc < 0 && strcmp(err, t->jn_err) != 0) {
		snprintf(t->jn_err, sizeof(t->jn_err), "%s", err);
		tkx_log(TKX_LOG_ERR, "control", "%s", err);
	} else if (rc == 0) {
		t->jn_err[0] = '\0';
	}
	return rc;
}

/* cp_cmd_ctx.commit: the command's change is durable before its answer. */
static int td_ctl_commit(void *arg, char *out, size_t len)
{
	struct td_app *a = arg;
	char err[256];
	int rc = td_cps_flush(a, &a->ctl->L, &a->ctl->clock, 0, err, sizeof(err));
	if (rc < 0 && len)
		snprintf(out, len, "%s\n", err);
	return rc;
}

/* cp_life_ops.send: one command on the core's ring, then its reply. What the lifecycle
 * changed before it is journaled first (invariant 1 of td_cpstate.c). */
static int td_ctl_send(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	struct td_app *a = arg;
	if (core >= a->route.n_match)
		return -ENODEV;
	if (a->cps && td_ctl_flush(a, 0) < 0)
		return -EIO;
	struct td_match *m = &a->match[core];
	struct dp_ctl copy = *c; /* rte_ring's enqueue takes a non-const pointer */
	/* The wire's transact times and the journal's record times are the wall clock's; the
	 * calendar's time (c->now) is the lifecycle's own. */
	copy.now = td_now_ns();
	if (rte_ring_sp_enqueue_elem(m->ctl_in, &copy, sizeof(copy)) != 0)
		return -EAGAIN;
	uint64_t end = td_mono_ns() + TD_CTL_TIMEOUT_NS + (a->jn ? td_jn_stall_ns(a) : 0);
	for (;;) {
		/* Replies to commands that timed out earlier are dropped on the way. */
		while (rte_ring_sc_dequeue_elem(m->ctl_out, r, sizeof(*r)) == 0)
			if (r->seq == c->seq) {
				if (c->type == DP_CTL_LIST && r->rc == 0)
					td_route_add(&a->route, c->contract_id, (uint8_t)core);
				return 0;
			}
		if (!atomic_load(&a->running) || td_mono_ns() >= end)
			return -ETIMEDOUT;
		struct timespec d = {0, 20000};
		nanosleep(&d, NULL);
	}
}

/* cp_cmd_ctx.digest: the state's digest (td_snap.c), from the RX lcore. */
static int td_ctl_digest(void *arg, char *out, size_t len)
{
	return td_snap_digest(arg, out, len);
}

static void td_ctl_log(void *arg, uint64_t now, const char *line)
{
	(void)arg;
	(void)now;
	tkx_log(TKX_LOG_NOTICE, "control", "%s", line);
}

static void td_ctl_counters(void *arg, char *out, size_t len)
{
	struct td_app *a = arg;
	size_t n = 0;
	/* Per-core counters, read while the cores run (each word written by one core). */
	for (uint32_t m = 0; m < a->route.n_match && n < len; m++) {
		struct mc_stats s;
		mc_stats(a->match[m].mc, &s);
		n += (size_t)snprintf(out + n, len - n, "core %u: requests %" PRIu64 " replies %"
				      PRIu64 " trades %" PRIu64 " rejects %" PRIu64 " md %" PRIu64
				      " ctl_lost %" PRIu64 " detached %" PRIu64 "\n", m, s.orders,
				      s.events, s.trades, s.rejects, s.md, a->match[m].ctl_lost,
				      s.detached);
	}
	if (n < len)
		snprintf(out + n, len - n, "rx: loops %" PRIu64 " routed %" PRIu64 " busy %" PRIu64
			 " unknown_contract %" PRIu64 "\n", a->rx.loops, a->rx.orders_routed,
			 a->rx.busy_rejects, a->rx.unknown_contract);
}

/* Start-up failures after the bind leave through exit() (rte_exit): the socket file
 * goes with them instead of staying behind. */
static struct td_app *td_ctl_bound;

static void td_ctl_atexit(void)
{
	if (td_ctl_bound)
		td_ctl_stop(td_ctl_bound);
}

int td_ctl_bind(struct td_app *a, char *err, size_t len)
{
	a->ctl = calloc(1, sizeof(*a->ctl));
	if (a->ctl == NULL) {
		snprintf(err, len, "control plane: out of memory");
		return -ENOMEM;
	}
	int rc = cp_server_open(&a->ctl->srv, a->cfg.ctl_socket, &a->ctl->X, err, len);
	if (rc < 0)
		return rc;
	a->ctl->have_srv = 1;
	td_ctl_bound = a;
	atexit(td_ctl_atexit);
	return 0;
}

void td_ctl_setup(struct td_app *a)
{
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		int socket = (int)rte_lcore_to_socket_id(a->match[m].lcore);
		char name[RTE_RING_NAMESIZE];
		snprintf(name, sizeof(name), "tkx_ctl_%u", m);
		a->match[m].ctl_in = rte_ring_create_elem(name, sizeof(struct dp_ctl), TD_CTL_RING,
							  socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
		snprintf(name, sizeof(name), "tkx_ctlr_%u", m);
		a->match[m].ctl_out = rte_ring_create_elem(name, sizeof(struct dp_ctl_reply),
							   TD_CTL_RING, socket,
							   RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (a->jn_pipe) {
			snprintf(name, sizeof(name), "tkx_ctlf_%u", m);
			a->match[m].ctl_fwd = rte_ring_create_elem(name, sizeof(struct td_ctl_fwd),
								   TD_CTL_RING, socket,
								   RING_F_SP_ENQ | RING_F_SC_DEQ);
			if (!a->match[m].ctl_fwd)
				rte_exit(EXIT_FAILURE, "tokexd: cannot create the control forward "
					 "ring of matching core %u: %s\n", m,
					 rte_strerror(rte_errno));
		}
		if (!a->match[m].ctl_in || !a->match[m].ctl_out)
			rte_exit(EXIT_FAILURE, "tokexd: cannot create the control rings of matching "
				 "core %u: %s\n", m, rte_strerror(rte_errno));
	}
}

int td_ctl_clock_setup(struct td_app *a, char *err, size_t len)
{
	struct td_ctl *t = a->ctl;
	const struct td_clock_opt *o = &a->clk;
	const struct cp_state_img *img = td_cps_state(a);
	struct cp_state_global g;
	int have = img && cp_state_decode_global(&img->g, &g, err, len) == 0;
	uint64_t mono = td_mono_ns(), wall = td_now_ns();
	int32_t off = (int32_t)a->cfg.utc_offset_min;
	char t1[40], t2[40], r[24];
	if (have)
		cp_clock_format_time(g.cal_ns, off, t2, sizeof(t2));
	/* The lifecycle is state on the calendar: a day it already traded cannot come again. */
	if (have && ((o->start_set && o->start_ns < g.cal_ns) || (o->wall && wall < g.cal_ns))) {
		cp_clock_format_time(o->start_set ? o->start_ns : wall, off, t1, sizeof(t1));
		snprintf(err, len, "--clock %s: the journal's calendar already reached %s, and the "
			 "calendar does not run backwards: leave --clock out to continue from there, "
			 "or start with a new journal.dir", o->start_set ? t1 : "now", t2);
		return -EINVAL;
	}
	uint64_t rate = o->rate_set ? o->rate : have && g.clock_sim ? g.clock_rate
								: CP_CLOCK_RATE_ONE;
	const char *how;
	if (o->start_set) {
		cp_clock_sim(&t->clock, o->start_ns, rate, mono);
		how = "simulated, from --clock";
	} else if (o->wall && !o->rate_set) {
		cp_clock_wall(&t->clock);
		how = "the wall clock (--clock now)";
	} else if (have && g.clock_sim && !o->wall) {
		cp_clock_sim(&t->clock, g.cal_ns, rate, mono);
		how = g.clock_held ? "simulated, continuing where the journal's calendar stopped "
				     "(held by the operator: 'tokexctl clock run' runs it)"
				   : "simulated, continuing where the journal's calendar stopped";
		t->keep_held = g.clock_held;
	} else if (o->rate_set) {
		cp_clock_sim(&t->clock, have && g.cal_ns > wall ? g.cal_ns : wall, rate, mono);
		how = "simulated, from the wall clock's time";
	} else {
		cp_clock_wall(&t->clock);
		how = "the wall clock";
		if (have && wall < g.cal_ns)
			tkx_log(TKX_LOG_WARN, "control",
				"WARNING: the wall clock is behind the calendar time "
				"the journal reached (%s)", t2);
	}
	/* The calendar stands still until the control plane is ready (td_ctl_start): a
	 * restart goes on from where the journal's calendar stopped, however long the
	 * start takes. */
	cp_clock_hold(&t->clock, mono);
	cp_clock_format_time(cp_clock_now(&t->clock, mono, wall), off, t1, sizeof(t1));
	cp_clock_format_rate(t->clock.rate, r, sizeof(r));
	tkx_log(TKX_LOG_INFO, "control", "calendar %s, rate %s: %s%s%s", t1, r, how,
		have ? "; the journal's reached " : "", have ? t2 : "");
	if (t->clock.sim && strcmp(a->cfg.source, "built-in") == 0)
		tkx_log(TKX_LOG_WARN, "control",
			"WARNING: the built-in contracts are the wall clock's twelve "
			"months, not the simulated calendar's: name the months (contracts:) in a "
			"configuration file");
	return 0;
}

/* Asks contract k's core for its phase and day (DAY_STATS): 0 with the reply (its rc
 * -ENOENT: the core has no such book), or the transport's negative errno. */
static int td_ctl_ask(struct td_ctl *t, const struct cp_life_contract *k, struct dp_ctl_reply *r)
{
	struct dp_ctl c;
	memset(&c, 0, sizeof(c));
	c.type = DP_CTL_DAY_STATS;
	c.contract_id = k->id;
	c.seq = ++t->L.seq;
	c.now = t->L.now;
	memset(r, 0, sizeof(*r));
	int rc = t->L.ops.send(t->L.ops.arg, k->core, &c, r);
	return rc < 0 ? rc : r->seq == c.seq ? 0 : -EPROTO;
}

/* Resuming: the cores' books were rebuilt by their own replay, the lifecycle from the
 * control plane's records. They agree, except for a transition the stop cut short after
 * a core had applied a command of it but before its change was journaled (the change is
 * journaled before the next command, so at most one command of one transition). Those
 * whose repetition the core would refuse are completed here: a listing (LIST reached the
 * core, or not), an uncross (UNCROSS is refused out of PRE_OPEN), a delisting (DELIST
 * removed the book). Any other is repeated by the scheduler or the operator: the core
 * takes PHASE, BAND, NEW_DAY, VOL_GUARD and DAY_STATS again. The day's statistics are
 * read again from the cores. */
static void td_ctl_reconcile(struct td_app *a)
{
	struct td_ctl *t = a->ctl;
	struct cp_life *L = &t->L;
	char err[256];
	for (uint32_t i = 0; i < L->n; i++) {
		struct cp_life_contract *k = &L->c[i];
		struct dp_ctl_reply r;
		if (k->phase == TKX_PHASE_DELISTED)
			continue;
		int rc = td_ctl_ask(t, k, &r);
		if (rc < 0) {
			tkx_log(TKX_LOG_WARN, "control",
				"contract %u: matching core %u did not answer: %s",
				k->id, k->core, strerror(-rc));
			continue;
		}
		if (k->phase == TKX_PHASE_DEFINED) {
			/* Defined and not yet listed when the process stopped: list it now (a core
			 * that built the book already answers EEXIST, which adopts it). */
			rc = cp_life_list(L, k->id, err, sizeof(err));
			tkx_log(TKX_LOG_INFO, "control",
				"contract %u: its listing was cut short by the stop: "
				"%s%s", k->id, rc == 0 ? "listed" : "not listed: ", rc == 0 ? "" : err);
			continue;
		}
		if (r.rc == -ENOENT) {
			if (k->phase == TKX_PHASE_FINAL_SETTLED || k->phase == TKX_PHASE_LISTED) {
				tkx_log(TKX_LOG_INFO, "control",
					"contract %u: %s -> DELISTED (its core had "
					"delisted it when the process stopped)", k->id,
					cp_life_phase_name(k->phase));
				k->phase = TKX_PHASE_DELISTED;
				L->st.delisted++;
			} else {
				tkx_log(TKX_LOG_WARN, "control",
					"contract %u is %s, but no matching core has "
					"its book", k->id, cp_life_phase_name(k->phase));
			}
			continue;
		}
		if (r.rc < 0)
			continue;
		k->volume = r.qty;
		k->notional = r.notional;
		k->high = r.high;
		k->low = r.low;
		k->last = r.price;
		if (r.phase == k->phase)
			continue;
		if (k->phase == TKX_PHASE_PRE_OPEN &&
		    (r.phase == TKX_PHASE_AUCTION || r.phase == TKX_PHASE_CONTINUOUS ||
		     r.phase == TKX_PHASE_BREAK)) {
			tkx_log(TKX_LOG_INFO, "control",
				"contract %u: PRE_OPEN -> %s (its core had uncrossed "
				"when the process stopped)", k->id, cp_life_phase_name(r.phase));
			k->phase = r.phase;
			k->halt_reason = CP_HALT_NONE;
			L->st.transitions++;
			continue;
		}
		tkx_log(TKX_LOG_INFO, "control",
			"contract %u: its core is %s, the control plane %s (a "
			"transition cut short by the stop): %s repeats it", k->id,
			cp_life_phase_name(r.phase), cp_life_phase_name(k->phase),
			t->X.S ? "the scheduler" : "the operator");
	}
}

/* Resuming: the configuration's contracts and accounts the journal's state does not know
 * (added to the file since): defined, listed and sent as at a first start. A contract of
 * the file whose book no core has any more was delisted (its slot in the lifecycle taken
 * by a later month): not listed again. An account the journal knows keeps the journal's
 * limits (tokexctl account may have changed them); its limits go to the cores again,
 * which changes nothing there unless its change was cut short. */
static void td_ctl_resume_config(struct td_app *a, int32_t today)
{
	struct td_ctl *t = a->ctl;
	const struct cp_config *cfg = &a->cfg;
	char err[512];
	for (uint32_t i = 0; i < cfg->n_contracts; i++) {
		const struct cp_contract *k = &cfg->contracts[i];
		if (cp_life_find(&t->L, k->id))
			continue;
		struct cp_life_contract probe = {.id = k->id,
						 .core = cfg->mode == CP_MODE_RTC ? 0 : k->core};
		struct dp_ctl_reply r;
		if (td_ctl_ask(t, &probe, &r) == 0 && r.rc == -ENOENT) {
			tkx_log(TKX_LOG_INFO, "control",
				"contract %u of the configuration was delisted (the "
				"journal says): not listed again", k->id);
			continue;
		}
		struct cp_life_params p = {
			.id = k->id, .symbol = k->symbol, .core = probe.core, .tick = k->tick,
			.ref_price = k->ref_price, .max_qty = k->max_qty, .max_orders = k->max_orders,
		};
		int rc = cp_life_define(&t->L, &p, err, sizeof(err));
		if (rc == 0)
			rc = cfg->scheduler ? cp_life_list(&t->L, k->id, err, sizeof(err))
					    : cp_life_adopt(&t->L, k->id, TKX_PHASE_CONTINUOUS, today,
							    err, sizeof(err));
		tkx_log(TKX_LOG_INFO, "control",
			"contract %u: new in the configuration: %s%s", k->id,
			rc == 0 ? "listed" : "", rc == 0 ? "" : err);
	}
	for (uint32_t i = 0; i < t->L.n_accounts; i++) {
		struct cp_account ac = t->L.acct[i];
		for (uint32_t j = 0; j < cfg->n_accounts; j++) {
			const struct cp_account_limit *l = &cfg->accounts[j];
			if (l->firm == ac.firm && l->account == ac.account &&
			    (l->max_qty != ac.max_qty || l->max_pos != ac.max_pos ||
			     l->max_pos_spot != ac.max_pos_spot))
				tkx_log(TKX_LOG_INFO, "control",
					"account %u/%u: the journal's limits are kept "
					"(the configuration's accounts[%u] differs)", ac.firm,
					ac.account, j);
		}
		if (cp_life_account(&t->L, &ac, err, sizeof(err)) < 0)
			tkx_log(TKX_LOG_INFO, "control", "account %u/%u: %s", ac.firm, ac.account, err);
	}
	for (uint32_t i = 0; i < cfg->n_accounts; i++) {
		const struct cp_account_limit *l = &cfg->accounts[i];
		int known = 0;
		for (uint32_t j = 0; j < t->L.n_accounts; j++)
			known |= t->L.acct[j].firm == l->firm && t->L.acct[j].account == l->account;
		if (known)
			continue;
		struct cp_account ac = {.firm = l->firm, .account = l->account,
					.max_qty = l->max_qty, .max_pos = l->max_pos,
					.max_pos_spot = l->max_pos_spot};
		if (cp_life_account(&t->L, &ac, err, sizeof(err)) < 0)
			tkx_log(TKX_LOG_INFO, "control", "accounts[%u]: %s", i, err);
	}
}

static int td_ctl_lifecycle(struct td_app *a, int32_t today);

int td_ctl_start(struct td_app *a)
{
	struct td_ctl *t = a->ctl;
	const struct cp_config *cfg = &a->cfg;

	struct cp_life_ops ops = {td_ctl_send, td_ctl_log, a};
	cp_life_init(&t->L, &ops, a->route.n_match);
	cp_config_cal(cfg, &t->L.cal);
	t->L.band = (struct cp_band_rule){cfg->band_bp, cfg->first_day_bp, cfg->locked_bp};
	t->L.vol_guard_bp = cfg->vol_guard_bp;
	snprintf(t->L.index_file, sizeof(t->L.index_file), "%s", cfg->index_file);
	cp_sched_init(&t->S, &t->L, td_ctl_clock, t);
	t->S.vol_halt_ns = (uint64_t)cfg->vol_halt_s * 1000000000ull;
	t->L.now = td_ctl_clock(t);

	/* The matching path polls its control ring only once the lcores run. */
	for (int i = 0; i < 400 && a->rx.loops == 0 && atomic_load(&a->running); i++) {
		struct timespec d = {0, 5000000};
		nanosleep(&d, NULL);
	}
	int32_t today;
	uint32_t minute;
	cp_cal_local(&t->L.cal, t->L.now, &today, &minute);
	t->X.L = &t->L;
	t->X.S = cfg->scheduler ? &t->S : NULL;
	t->X.cfg = cfg; /* kill, account and cancel name its firms only */
	t->X.counters = td_ctl_counters;
	t->X.counters_arg = a;
	t->X.sessions = td_sess_text;
	t->X.drop = td_sess_drop_text;
	t->X.sessions_arg = a;
	t->X.clock = &t->clock;
	static char ident[128]; /* ping's answer: who this is */
	snprintf(ident, sizeof(ident), "tokexd %s pid %ld", tkx_version(), (long)getpid());
	t->X.ident = ident;
	t->X.replication = td_repl_text;
	t->X.digest = td_ctl_digest;
	t->X.repl_arg = a;
	if (td_repl_standby(a)) {
		/* A standby (td_repl.c): its state is its primary's, applied record by record;
		 * the lifecycle and the scheduler start at promotion (the seam: td_ctl_start's
		 * resume from the journal's state below). Until then it answers what changes
		 * nothing: replication, digest, sessions, help. */
		t->X.read_only = "standby: read-only (this tokexd follows its primary; run the "
				 "command on the primary)";
		t->X.S = NULL;
		tkx_log(TKX_LOG_INFO, "control", "standby: read-only, tokexctl on %s", cfg->ctl_socket);
		return 0;
	}
	return td_ctl_lifecycle(a, today);
}

int td_ctl_promote(struct td_app *a)
{
	struct td_ctl *t = a->ctl;
	const struct cp_config *cfg = &a->cfg;
	int32_t today;
	uint32_t minute;
	t->L.now = td_ctl_clock(t);
	cp_cal_local(&t->L.cal, t->L.now, &today, &minute);
	t->X.read_only = NULL;
	t->X.S = cfg->scheduler ? &t->S : NULL;
	tkx_log(TKX_LOG_NOTICE, "control", "promoted: the control plane is this node's now");
	return td_ctl_lifecycle(a, today);
}

/* The lifecycle, the scheduler and the control plane's journaled state: from the journal
 * (resuming, or a standby promoted) or from the configuration. */
static int td_ctl_lifecycle(struct td_app *a, int32_t today)
{
	struct td_ctl *t = a->ctl;
	const struct cp_config *cfg = &a->cfg;
	char err[512];
	if (a->cps) {
		t->X.commit = td_ctl_commit;
		t->X.commit_arg = a;
	}
	const struct cp_state_img *img = td_cps_state(a);
	if (img) {
		/* Resuming: the journal's state, not the configuration's, is the lifecycle. */
		struct cp_state_global g;
		if (cp_state_restore(img, &t->L, &g, err, sizeof(err)) < 0) {
			tkx_log(TKX_LOG_ERR, "control",
				"the journal's control-plane state cannot be used: %s; "
				"not starting (run with the configuration that wrote the journal, or "
				"a new journal.dir)", err);
			return -EINVAL;
		}
		t->restored = 1;
		tkx_log(TKX_LOG_INFO, "control",
			"resumed from the journal: %u contract(s), %u account(s)%s",
			t->L.n, t->L.n_accounts, cfg->ctl_startup[0] ? "; control.startup is not run "
			"again (its commands are in the journal's state)" : "");
		td_ctl_reconcile(a);
		td_ctl_resume_config(a, today);
	} else {
		for (uint32_t i = 0; i < cfg->n_contracts; i++) {
			const struct cp_contract *k = &cfg->contracts[i];
			struct cp_life_params p = {
				.id = k->id, .symbol = k->symbol,
				.core = cfg->mode == CP_MODE_RTC ? 0 : k->core,
				.tick = k->tick, .ref_price = k->ref_price, .max_qty = k->max_qty,
				.max_orders = k->max_orders,
			};
			int rc = cp_life_define(&t->L, &p, err, sizeof(err));
			/* The cores built these books at start: the scheduler takes them from
			 * LISTED; without it they keep trading as they are (CONTINUOUS). */
			if (rc == 0)
				rc = cfg->scheduler ? cp_life_list(&t->L, k->id, err, sizeof(err))
						    : cp_life_adopt(&t->L, k->id, TKX_PHASE_CONTINUOUS,
								    today, err, sizeof(err));
			if (rc < 0)
				tkx_log(TKX_LOG_INFO, "control", "contract %u: %s", k->id, err);
		}
		for (uint32_t i = 0; i < cfg->n_accounts; i++) {
			const struct cp_account_limit *l = &cfg->accounts[i];
			struct cp_account ac = {.firm = l->firm, .account = l->account,
						.max_qty = l->max_qty, .max_pos = l->max_pos,
						.max_pos_spot = l->max_pos_spot};
			if (cp_life_account(&t->L, &ac, err, sizeof(err)) < 0)
				tkx_log(TKX_LOG_INFO, "control", "accounts[%u]: %s", i, err);
		}
		if (cfg->ctl_startup[0] && cp_cmd_file(&t->X, cfg->ctl_startup, err, sizeof(err)) < 0) {
			tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN,
				"control.startup: %s: fix the file or the command, then "
				"restart", err);
			return -EINVAL;
		}
	}
	/* The calendar runs from now, unless the operator held it (then it stays held). */
	if (!t->keep_held)
		cp_clock_resume(&t->clock, td_mono_ns());
	/* The state this run starts from, with its clock, before anything else happens. */
	if (a->cps && td_ctl_flush(a, 1) < 0) {
		tkx_log(TKX_LOG_ERR, "control",
			"the control plane's state cannot be journaled: not "
			"starting");
		return -EIO;
	}
	t->next_clock = td_mono_ns() + TD_CTL_CLOCK_NS;
	t->started = 1;
	tkx_log(TKX_LOG_INFO, "control", "%u contract(s), scheduler %s, tokexctl on %s", t->L.n,
		cfg->scheduler ? "on (calendar drives phases)" : "off (operator drives phases)",
		cfg->ctl_socket);
	return 0;
}

void td_ctl_run(struct td_app *a, int timeout_ms)
{
	struct td_ctl *t = a->ctl;
	t->L.now = td_ctl_clock(t);
	if (t->have_srv) {
		cp_server_poll(&t->srv, timeout_ms);
	} else {
		struct timespec d = {0, (long)timeout_ms * 1000000L};
		nanosleep(&d, NULL);
	}
	if (t->X.S)
		cp_sched_tick(&t->S);
	if (a->cps && t->started) {
		/* The tick's last changes; and a running simulated calendar's time once a
		 * second, so a restart continues about where it stopped (a held one's time is
		 * journaled when the operator moves it). */
		uint64_t now = td_mono_ns();
		int due = t->clock.sim && !t->clock.held && now >= t->next_clock;
		if (due)
			t->next_clock = now + TD_CTL_CLOCK_NS;
		td_ctl_flush(a, due);
	}
}

void td_ctl_final(struct td_app *a)
{
	/* Only a lifecycle that started: one that failed to would journal an empty state. */
	if (a->ctl && a->cps && a->ctl->started)
		td_cps_final(a, &a->ctl->L, &a->ctl->clock);
}

void td_ctl_stop(struct td_app *a)
{
	if (a->ctl && a->ctl->have_srv) {
		a->ctl->have_srv = 0;
		cp_server_close(&a->ctl->srv);
	}
}
