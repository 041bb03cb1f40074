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
 *    control.scheduler is 1) runs on the wall clock; tokexctl's commands arrive on the
 *    Unix socket control.socket, bound first of all (td_ctl_bind, before EAL): a tokexd
 *    that could not be operated does not start.
 * Rings: per matching core, ctl_in (control -> core, dp_ctl) and ctl_out (core ->
 * control, dp_ctl_reply), single producer / single consumer, TD_CTL_RING entries.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <rte_errno.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "cp_cmd.h"
#include "cp_server.h"
#include "td_app.h"

#define TD_CTL_RING 64
#define TD_CTL_BURST 4
/* How long the control thread waits for a matching core's answer: a bound for a dead core,
 * not a speed - a command that times out may still be applied, so the bound is generous
 * (a loaded machine keeps a core off its CPU for seconds). */
#define TD_CTL_TIMEOUT_NS 10000000000ull

struct td_ctl {
	struct cp_life L;
	struct cp_sched S;
	struct cp_cmd_ctx X;
	struct cp_server srv;
	int have_srv;
};

/* ---- matching path ------------------------------------------------------------------- */

void td_ctl_poll(struct td_match *m, struct mc_out *out)
{
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

/* The scheduler's clock (cp_sched takes a callback so that tests can inject one). */
static uint64_t td_ctl_clock(void *arg)
{
	(void)arg;
	return td_now_ns();
}

/* cp_life_ops.send: one command on the core's ring, then its reply. */
static int td_ctl_send(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	struct td_app *a = arg;
	if (core >= a->route.n_match)
		return -ENODEV;
	struct td_match *m = &a->match[core];
	struct dp_ctl copy = *c; /* rte_ring's enqueue takes a non-const pointer */
	if (rte_ring_sp_enqueue_elem(m->ctl_in, &copy, sizeof(copy)) != 0)
		return -EAGAIN;
	uint64_t end = td_mono_ns() + TD_CTL_TIMEOUT_NS;
	for (;;) {
		/* Replies to commands that timed out earlier are dropped on the way. */
		while (rte_ring_sc_dequeue_elem(m->ctl_out, r, sizeof(*r)) == 0)
			if (r->seq == c->seq) {
				if (c->type == DP_CTL_LIST && r->rc == 0) {
					td_route_add(&a->route, c->contract_id, (uint8_t)core);
					if (a->gw_rt == &a->gw_route) /* the gateway's view */
						td_route_add(&a->gw_route, c->contract_id, 0);
				}
				return 0;
			}
		if (!atomic_load(&a->running) || td_mono_ns() >= end)
			return -ETIMEDOUT;
		struct timespec d = {0, 20000};
		nanosleep(&d, NULL);
	}
}

static void td_ctl_log(void *arg, uint64_t now, const char *line)
{
	(void)arg;
	(void)now;
	printf("tokexd: control: %s\n", line);
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

int td_ctl_start(struct td_app *a)
{
	struct td_ctl *t = a->ctl;
	const struct cp_config *cfg = &a->cfg;
	char err[512];

	struct cp_life_ops ops = {td_ctl_send, td_ctl_log, a};
	cp_life_init(&t->L, &ops, a->route.n_match);
	cp_config_cal(cfg, &t->L.cal);
	t->L.band = (struct cp_band_rule){cfg->band_bp, cfg->first_day_bp, cfg->locked_bp};
	t->L.vol_guard_bp = cfg->vol_guard_bp;
	snprintf(t->L.index_file, sizeof(t->L.index_file), "%s", cfg->index_file);
	cp_sched_init(&t->S, &t->L, td_ctl_clock, NULL);
	t->S.vol_halt_ns = (uint64_t)cfg->vol_halt_s * 1000000000ull;
	t->L.now = td_ctl_clock(NULL);

	/* The matching path polls its control ring only once the lcores run. */
	for (int i = 0; i < 400 && a->rx.loops == 0 && atomic_load(&a->running); i++) {
		struct timespec d = {0, 5000000};
		nanosleep(&d, NULL);
	}
	int32_t today;
	uint32_t minute;
	cp_cal_local(&t->L.cal, t->L.now, &today, &minute);
	for (uint32_t i = 0; i < cfg->n_contracts; i++) {
		const struct cp_contract *k = &cfg->contracts[i];
		struct cp_life_params p = {
			.id = k->id, .symbol = k->symbol,
			.core = cfg->mode == CP_MODE_RTC ? 0 : k->core,
			.tick = k->tick, .ref_price = k->ref_price, .max_qty = k->max_qty,
			.max_orders = k->max_orders,
		};
		int rc = cp_life_define(&t->L, &p, err, sizeof(err));
		/* The cores built these books at start: the scheduler takes them from LISTED;
		 * without it they keep trading as they are (CONTINUOUS). */
		if (rc == 0)
			rc = cfg->scheduler ? cp_life_list(&t->L, k->id, err, sizeof(err))
					    : cp_life_adopt(&t->L, k->id, TKX_PHASE_CONTINUOUS, today,
							    err, sizeof(err));
		if (rc < 0)
			printf("tokexd: control: contract %u: %s\n", k->id, err);
	}
	for (uint32_t i = 0; i < cfg->n_accounts; i++) {
		const struct cp_account_limit *l = &cfg->accounts[i];
		struct cp_account ac = {.firm = l->firm, .account = l->account,
					.max_qty = l->max_qty, .max_pos = l->max_pos,
					.max_pos_spot = l->max_pos_spot};
		if (cp_life_account(&t->L, &ac, err, sizeof(err)) < 0)
			printf("tokexd: control: accounts[%u]: %s\n", i, err);
	}
	t->X.L = &t->L;
	t->X.S = cfg->scheduler ? &t->S : NULL;
	t->X.cfg = cfg; /* kill, account and cancel name its firms only */
	t->X.counters = td_ctl_counters;
	t->X.counters_arg = a;
	t->X.sessions = td_sess_text;
	t->X.drop = td_sess_drop_text;
	t->X.sessions_arg = a;
	if (cfg->ctl_startup[0] && cp_cmd_file(&t->X, cfg->ctl_startup, err, sizeof(err)) < 0) {
		printf("tokexd: control.startup: %s: fix the file or the command, then restart\n",
		       err);
		return -EINVAL;
	}
	printf("tokexd: control: %u contract(s), scheduler %s, tokexctl on %s\n", t->L.n,
	       cfg->scheduler ? "on (calendar drives phases)" : "off (operator drives phases)",
	       cfg->ctl_socket);
	return 0;
}

void td_ctl_run(struct td_app *a, int timeout_ms)
{
	struct td_ctl *t = a->ctl;
	t->L.now = td_ctl_clock(NULL);
	if (t->have_srv) {
		cp_server_poll(&t->srv, timeout_ms);
	} else {
		struct timespec d = {0, (long)timeout_ms * 1000000L};
		nanosleep(&d, NULL);
	}
	if (t->X.S)
		cp_sched_tick(&t->S);
}

void td_ctl_stop(struct td_app *a)
{
	if (a->ctl && a->ctl->have_srv) {
		a->ctl->have_srv = 0;
		cp_server_close(&a->ctl->srv);
	}
}
