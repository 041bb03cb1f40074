/*
 * td_match.c - a pipeline-mode matching lcore.
 *
 * Role in the data path: pinned, owns the books of its contracts (mc_core). Each pass it
 * takes a burst of requests from the session core's ring (the DPDK RX core, which owns the
 * sessions of both transports), matches them, and puts replies on the ring back to it and
 * market-data records on the publisher's ring. An output ring that is
 * full is waited on (its consumer always drains it): replies are never dropped.
 */
#include <rte_pause.h>
#include <rte_ring.h>

#include "td_app.h"

struct td_mout {
	struct mc_out o;
	struct td_match *m;
	struct dp_event buf[64];
};

static void td_put(struct td_match *m, struct rte_ring *ring, const struct dp_event *ev,
		   unsigned n)
{
	while (n) {
		unsigned put = rte_ring_sp_enqueue_burst_elem(ring, ev, sizeof(*ev), n, NULL);
		ev += put;
		n -= put;
		if (n) {
			m->ring_full_spins++;
			rte_pause();
		}
	}
}

/* Sends runs of records to their rings: replies by session core, market data. */
static void td_match_flush(struct mc_out *o)
{
	struct td_mout *mo = o->arg;
	struct td_match *m = mo->m;
	const struct td_route *rt = &m->app->route;
	unsigned i = 0;
	if (m->off)
		td_offload_tob(m, o->ev, o->n);
	while (i < o->n) {
		const struct dp_event *e = &o->ev[i];
		int md = e->template_id >= TKX_MD_TOP_OF_BOOK;
		unsigned j = i + 1;
		while (j < o->n && (o->ev[j].template_id >= TKX_MD_TOP_OF_BOOK) == md &&
		       (md || o->ev[j].src == e->src))
			j++;
		struct rte_ring *ring = md ? rt->md[m->idx] :
				       e->src < TD_N_SRC ? rt->ev[m->idx][e->src] : NULL;
		if (ring)
			td_put(m, ring, e, j - i);
		i = j;
	}
	o->n = 0;
}

/* Pipeline with a journal: the requests come on the RX core's ring in journal order, and
 * are applied at the time the journal recorded (rx_time, set by the RX core), in runs, so
 * that replay reproduces every event. A DP_ORD_CTL marker applies the next journaled
 * control command at that point. */
static void td_match_journaled(struct td_match *m, struct td_mout *mo, struct dp_order *in,
			       unsigned n)
{
	unsigned i = 0;
	while (i < n) {
		if (in[i].type == DP_ORD_CTL) {
			td_ctl_apply_fwd(m, &mo->o);
			i++;
			continue;
		}
		unsigned j = i + 1;
		while (j < n && in[j].type != DP_ORD_CTL && in[j].rx_time == in[i].rx_time)
			j++;
		mc_process(m->mc, in + i, j - i, in[i].rx_time, &mo->o);
		i = j;
	}
	if (mo->o.n)
		td_match_flush(&mo->o);
}

int td_match_loop(void *arg)
{
	struct td_match *m = arg;
	struct td_app *a = m->app;
	static __thread struct td_mout mo;
	struct dp_order in[32];

	mo.m = m;
	mo.o.ev = mo.buf;
	mo.o.cap = 64;
	mo.o.n = 0;
	mo.o.flush = td_match_flush;
	mo.o.arg = &mo;

	uint64_t pass = 0;
	/* Until the RX core has taken the last replies (match_stop), not merely until the
	 * signal: what was sent to this core before the stop is applied and answered. */
	while (!atomic_load_explicit(&a->match_stop, memory_order_acquire)) {
		uint64_t now = 0;
		if (a->jn_pipe) {
			unsigned n = rte_ring_sc_dequeue_burst_elem(a->route.req[TD_SRC_RX][m->idx],
								    in, sizeof(in[0]), 32, NULL);
			if (n) {
				td_match_journaled(m, &mo, in, n);
				__atomic_store_n(&m->done, m->done + n, __ATOMIC_RELEASE);
			} else {
				rte_pause();
			}
			continue;
		}
		if ((++pass & (TD_CTL_EVERY - 1)) == 0) /* the control plane's ring */
			td_ctl_poll(m, &mo.o);
		for (unsigned src = 0; src < TD_N_SRC; src++) {
			struct rte_ring *ring = a->route.req[src][m->idx];
			if (ring == NULL)
				continue;
			unsigned n = rte_ring_sc_dequeue_burst_elem(ring, in, sizeof(in[0]), 32, NULL);
			if (n == 0)
				continue;
			if (now == 0)
				now = td_now_ns();
			mc_process(m->mc, in, n, now, &mo.o);
		}
		if (now == 0)
			rte_pause();
	}
	return 0;
}
