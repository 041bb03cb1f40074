/*
 * td_cpstate.c - the control plane's state in tokexd's journal: every change journaled
 * before it is acknowledged, the whole state in snapshots, recovered at start.
 *
 * Role: three sides of one record kind (JN_T_CP, control/cp_state.h), so that what is
 * written, what snapshots hold and what recovery reads are decided in one place.
 *  - Control thread (td_cps_flush): after each operator command (cp_cmd_ctx.commit),
 *    after each scheduler tick, and before each command to a matching core (td_ctl_send),
 *    cp_state_diff() gives the items of the lifecycle that changed since the last flush;
 *    they go whole (one bulk enqueue) on an SPSC ring to the RX core, and the control
 *    thread waits until the RX core has journaled them durable. So a change is on disk
 *    before the operator's answer and before the next command of a transition reaches a
 *    core; a clock-only change is added once a second while the clock is simulated.
 *  - RX core, the journal's single producer (td_cps_poll, from td_ctl_poll in
 *    run-to-completion mode and td_ctl_poll_journal in pipeline mode): splits each item
 *    into JN_T_CP records, appends them, waits for durability (as control commands do:
 *    td_jn_ctl), stages the items in its copy of the state (rx, what the journal holds
 *    up to a->jn_last, which snapshots save) and answers by advancing `done`.
 *  - Recovery (td_cps_replay, td_journal.c's replay; td_cps_recovered after it): the
 *    snapshot's section and the records after it rebuild rx; the control thread restores
 *    the lifecycle from it (td_ctl_start). A change whose END never reached the journal
 *    (the process stopped before it was acknowledged) is dropped: at the end of
 *    recovery, and in any later replay at the first record of the next writer run
 *    (JN_WRITER_FIRST), where that run's recovery dropped it.
 * Without a journal there is no td_cps: nothing is recorded, as before.
 *
 * Invariants:
 *  1. JN_T_CP records of a change follow the CTL records of the core commands that made
 *     it, and precede the next command and the operator's answer.
 *  2. rx equals what replay of the journal up to a->jn_last rebuilds (the RX core stages
 *     exactly what it appended, and drops what recovery dropped).
 *  3. The control thread's `last` is rx as of its last acknowledged flush.
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

#include "cp_clock.h"
#include "cp_state.h"
#include "jn_journal.h"
#include "td_app.h"
#include "tkx_log.h"

/* Items on the ring: twice the largest change, so that a change always fits whole. */
#define TD_CPS_RING 512
_Static_assert(TD_CPS_RING >= 2 * CP_STATE_MAX_ITEMS, "a whole change fits the ring");
/* The control thread's wait for the RX core: 5 s beyond the journal's own bound
 * (journal.stall_ms, after which the RX core halts the appliance and answers). A bound for
 * a hang, not a speed. */
#define TD_CPS_WAIT_MARGIN_NS 5000000000ull
#define TD_CPS_BURST 32

struct td_cps {
	struct rte_ring *ring;  /* control thread -> RX core: struct cp_state_item */
	_Atomic uint64_t done;  /* items the RX core has answered (release) */
	_Atomic int rc;         /* the answer to the last batch: 0 or a negative errno */
	/* RX core (recovery before launch): what the journal holds */
	struct cp_state_img rx;
	struct cp_state_item buf[TD_CPS_BURST];
	/* recovery */
	struct cp_state_asm as;
	uint64_t replay_items, replay_dropped; /* records; items of changes left unended */
	char replay_err[256];
	/* control thread */
	uint64_t sent;
	struct cp_state_img last;
	struct cp_state_item out[CP_STATE_MAX_ITEMS];
};

int td_cps_create(struct td_app *a, char *err, size_t len)
{
	if (a->cfg.journal_dir[0] == 0)
		return 0;
	struct td_cps *s = aligned_alloc(64, (sizeof(*s) + 63) & ~(size_t)63);
	if (s == NULL) {
		snprintf(err, len, "journal: no memory for the control plane's state");
		return -ENOMEM;
	}
	memset(s, 0, sizeof(*s));
	s->ring = rte_ring_create_elem("tkx_cps", sizeof(struct cp_state_item), TD_CPS_RING,
				       (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (s->ring == NULL) {
		snprintf(err, len, "journal: cannot create the control plane's state ring: %s",
			 rte_strerror(rte_errno));
		free(s);
		return -ENOMEM;
	}
	cp_state_img_init(&s->rx);
	cp_state_img_init(&s->last);
	cp_state_asm_init(&s->as);
	a->cps = s;
	return 0;
}

/* ---- the RX core ----------------------------------------------------------------------- */

/* Appends one item's records (the producer thread): 0, or a negative errno. */
static int td_cps_append(struct td_app *a, const struct cp_state_item *it)
{
	struct cp_state_rec rec[CP_STATE_MAX_PARTS];
	uint32_t n = cp_state_rec_split(it, rec);
	for (uint32_t p = 0; p < n; p++) {
		int64_t s = td_jn_append(a, JN_T_CP, &rec[p], sizeof(rec[p]), td_now_ns());
		if (s == 0) {
			/* The journal's ring is full: its thread empties it while we wait for
			 * durability; then there is room, unless the journal failed. */
			if (td_jn_wait(a) == 0)
				s = td_jn_append(a, JN_T_CP, &rec[p], sizeof(rec[p]), td_now_ns());
			if (s == 0) /* no part of an item may be followed by another item's */
				td_jn_halt_now(a, -ENOBUFS);
		}
		if (s <= 0)
			return -EIO;
	}
	return 0;
}

/* Journals and stages items on the producer thread; 0, or -EIO: the journal failed and
 * the appliance is halted (nothing is journaled after a failure, not even the rest of an
 * item: recovery drops the unended change). */
static int td_cps_journal(struct td_app *a, const struct cp_state_item *it, uint32_t n)
{
	struct td_cps *s = a->cps;
	char e[128];
	for (uint32_t i = 0; i < n; i++) {
		int rc = td_cps_append(a, &it[i]);
		if (rc < 0)
			return rc;
		cp_state_img_stage(&s->rx, &it[i], e, sizeof(e)); /* our own item: checks */
	}
	return 0;
}

void td_cps_poll(struct td_app *a)
{
	struct td_cps *s = a->cps;
	if (s == NULL)
		return;
	uint64_t n_all = 0;
	int rc = 0;
	unsigned n;
	while ((n = rte_ring_sc_dequeue_burst_elem(s->ring, s->buf, sizeof(s->buf[0]),
						   TD_CPS_BURST, NULL)) > 0) {
		if (rc == 0)
			rc = td_cps_journal(a, s->buf, n);
		n_all += n;
	}
	if (n_all == 0)
		return;
	if (rc == 0)
		rc = td_jn_wait(a) ? -EIO : 0; /* durable before the control thread goes on */
	atomic_store_explicit(&s->rc, rc, memory_order_relaxed);
	/* Release: rc is written before the control thread can see the count. */
	atomic_fetch_add_explicit(&s->done, n_all, memory_order_release);
}

/* ---- the control thread ---------------------------------------------------------------- */

int td_cps_flush(struct td_app *a, const struct cp_life *L, const struct cp_clock *clk, int force,
		 char *err, size_t len)
{
	struct td_cps *s = a->cps;
	if (s == NULL)
		return 0;
	struct cp_state_global g = {
		.clock_sim = (uint8_t)clk->sim,
		.clock_held = (uint8_t)(clk->sim && clk->held),
		.clock_rate = clk->rate,
		.wall_ns = td_now_ns(),
	};
	g.cal_ns = cp_clock_now(clk, td_mono_ns(), g.wall_ns);
	uint32_t n = cp_state_diff(L, &g, &s->last, force, s->out);
	if (n == 0)
		return 0;
	if (rte_ring_sp_enqueue_bulk_elem(s->ring, s->out, sizeof(s->out[0]), n, NULL) != n) {
		/* Cannot happen: every earlier batch was answered, so the ring is empty. */
		snprintf(err, len, "journal: the control plane's state ring is full");
		return -EAGAIN;
	}
	s->sent += n;
	uint64_t wait_ns = td_jn_stall_ns(a) + TD_CPS_WAIT_MARGIN_NS;
	uint64_t end = td_mono_ns() + wait_ns;
	while (atomic_load_explicit(&s->done, memory_order_acquire) < s->sent) {
		if (!atomic_load(&a->running) || td_mono_ns() >= end) {
			/* The RX core may still journal the change, or never (stopping): what the
			 * journal holds is unknown, so the next flush sends the whole state. */
			cp_state_img_init(&s->last);
			char why[64];
			snprintf(why, sizeof(why), "no answer from the RX core in %" PRIu64 " s",
				 (uint64_t)(wait_ns / 1000000000u));
			snprintf(err, len, "journal: the control plane's change was not journaled "
				 "(%s): it is not durable",
				 atomic_load(&a->running) ? why : "stopping");
			return -ETIMEDOUT;
		}
		struct timespec d = {0, 20000};
		nanosleep(&d, NULL);
	}
	int rc = atomic_load_explicit(&s->rc, memory_order_relaxed);
	if (rc < 0) {
		cp_state_img_init(&s->last);
		snprintf(err, len, "journal: the control plane's change could not be journaled "
			 "(the journal failed: see tokexd's log): it is not durable");
		return rc;
	}
	char e[128];
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&s->last, &s->out[i], e, sizeof(e));
	return 0;
}

const struct cp_state_img *td_cps_state(const struct td_app *a)
{
	return a->cps && cp_state_img_has(&a->cps->last) ? &a->cps->last : NULL;
}

int td_cps_final(struct td_app *a, const struct cp_life *L, const struct cp_clock *clk)
{
	struct td_cps *s = a->cps;
	if (s == NULL || a->jn == NULL || td_jn_halted(a))
		return 0;
	/* The control thread has stopped and so has the RX loop: this thread, the RX lcore's,
	 * is the journal's producer; what is left on the ring was never acknowledged. */
	while (rte_ring_sc_dequeue_burst_elem(s->ring, s->buf, sizeof(s->buf[0]), TD_CPS_BURST,
					      NULL) > 0)
		;
	struct cp_state_global g = {.clock_sim = (uint8_t)clk->sim,
				    .clock_held = (uint8_t)(clk->sim && clk->held),
				    .clock_rate = clk->rate,
				    .wall_ns = td_now_ns()};
	g.cal_ns = cp_clock_now(clk, td_mono_ns(), g.wall_ns);
	/* A simulated calendar's time is state (the next start continues from it); the wall
	 * clock's is not: then only a change the control thread could not journal goes. */
	uint32_t n = cp_state_diff(L, &g, &s->rx, clk->sim, s->out);
	if (n == 0)
		return 0;
	int rc = td_cps_journal(a, s->out, n);
	if (rc == 0)
		rc = td_jn_wait(a) ? -EIO : 0;
	if (rc == 0) {
		char t[40];
		cp_clock_format_time(g.cal_ns, L->cal.utc_offset_min, t, sizeof(t));
		tkx_log(TKX_LOG_INFO, "journal",
			"the control plane's state journaled at the stop (calendar "
			"%s)", t);
	}
	return rc;
}

/* ---- snapshots and recovery ------------------------------------------------------------ */

size_t td_cps_snap_bound(const struct td_app *a)
{
	return a->cps ? cp_state_snap_bound() : 0;
}

void td_cps_snap_save(const struct td_app *a, struct dp_snap_w *w)
{
	if (a->cps)
		cp_state_snap_save(&a->cps->rx, w);
}

int td_cps_snap_load(struct td_app *a, const void *buf, size_t len, size_t *used, char *err,
		     size_t errlen)
{
	if (a->cps == NULL)
		return cp_state_snap_check(buf, len, used, err, errlen);
	return cp_state_snap_load(&a->cps->rx, buf, len, used, err, errlen);
}

int td_cps_replay(struct td_app *a, const struct jn_rec *r)
{
	struct td_cps *s = a->cps;
	if (s == NULL)
		return 0;
	char e[200];
	/* A new writer run: its recovery dropped what the run before left unended. */
	if (r->writer & JN_WRITER_FIRST)
		s->replay_dropped += cp_state_drop_unended(&s->rx, &s->as);
	if (r->type != JN_T_CP)
		return 0;
	int rc = cp_state_feed(&s->rx, &s->as, r->payload, r->len, e, sizeof(e));
	if (rc < 0) {
		snprintf(s->replay_err, sizeof(s->replay_err), "seq %" PRIu64 ": %s", r->seq, e);
		return rc;
	}
	s->replay_items++;
	return 0;
}

const char *td_cps_replay_error(const struct td_app *a)
{
	return a->cps && a->cps->replay_err[0] ? a->cps->replay_err : NULL;
}

void td_cps_recovered(struct td_app *a)
{
	struct td_cps *s = a->cps;
	if (s == NULL)
		return;
	uint32_t n = cp_state_drop_unended(&s->rx, &s->as);
	if (n)
		tkx_log(TKX_LOG_INFO, "journal",
			"the control plane's last change (%u item(s)) was cut short "
			"by the stop, before it was acknowledged: dropped", n);
	s->last = s->rx;
	struct cp_state_global g;
	char e[200];
	if (cp_state_img_has(&s->rx) && cp_state_decode_global(&s->rx.g, &g, e, sizeof(e)) == 0) {
		char t[40];
		cp_clock_format_time(g.cal_ns, a->cfg.utc_offset_min, t, sizeof(t));
		tkx_log(TKX_LOG_INFO, "journal",
			"control plane: %" PRIu64 " change(s) recorded, the last at "
			"calendar %s (%s clock): %u contract(s), %u account(s)", s->rx.changes, t,
			g.clock_sim ? "simulated" : "wall", g.n_contracts, g.n_accounts);
	}
}
