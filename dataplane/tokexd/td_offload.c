/*
 * td_offload.c - tokexd's hardware offloads: NIC flow steering (dp_flow) and the
 * top-of-book offload target (<tokex/offload.h>), chosen by configuration.
 *
 * Role: set-up on the main thread before launch (td_flow_setup, td_offload_setup);
 * td_offload_tob() on each matching core, from its output flush, for the top-of-book
 * records mc_core emits once per burst for the books whose top changed: it reads the
 * book's best N levels (me_book_depth) and brings the target up to date (tkx_off_update:
 * level commands, one doorbell, events, refills, and in shadow mode the comparison).
 * The published top of book stays the engine's: a target that disagrees is counted,
 * logged and rebuilt; the control thread prints its log (td_offload_print_logs).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_debug.h>
#include <rte_telemetry.h>

#include <tokex/offload.h>
#include "td_app.h"
#include "tkx_log.h"

/* A matching core's target and which of its contracts is which book. */
struct td_off {
	struct tkx_off *t;
	uint32_t n;
	uint32_t contract[TKX_OFF_MAX_BOOKS];
	struct tkx_off_levels w; /* scratch: too big for the loop's stack frame habits */
};

void td_flow_setup(struct td_app *a)
{
	const struct cp_config *cfg = &a->cfg;
	struct dp_flow_conf fc;
	char err[256];
	memset(&fc, 0, sizeof(fc));
	fc.ip = a->net.ip;
	/* One RX queue today: every contract group's order port and the re-request port
	 * go to queue 0, the RX/session core's (dp_flow.h, "Design"). */
	fc.udp[0].port = (uint16_t)cfg->udp_port;
	fc.udp[1].port = (uint16_t)cfg->md_req_port;
	fc.n_udp = 2;
	fc.ctl_queue = 0;
	fc.drop_other = true;
	/* A refusal is not fatal: dp_net_rx classifies and drops on the RX core anyway. */
	dp_flow_setup(&a->flow, a->port.port_id, &fc, err, sizeof(err));
	tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN, "flow steering %s", a->flow.status);
}

void td_offload_setup(struct td_app *a)
{
	const struct cp_config *cfg = &a->cfg;
	if (cfg->offload_target == CP_OFF_NONE)
		return;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		struct td_off *o = calloc(1, sizeof(*o));
		char err[512];
		if (o == NULL)
			rte_exit(EXIT_FAILURE, "tokexd: offload: out of memory\n");
		for (uint32_t i = 0; i < a->route.n; i++)
			if (a->route.core[i] == m && o->n < TKX_OFF_MAX_BOOKS)
				o->contract[o->n++] = a->route.contract[i];
		struct tkx_off_conf c;
		memset(&c, 0, sizeof(c));
		c.target = cfg->offload_target; /* enum cp_offload == enum tkx_off_target */
		c.shadow_of = cfg->offload_vfio_group[0] ? TKX_OFF_FPGA : 0;
		c.n_levels = cfg->offload_levels;
		c.n_books = o->n;
		c.vfio_group = cfg->offload_vfio_group;
		o->t = tkx_off_open(&c, err, sizeof(err));
		if (o->t == NULL)
			rte_exit(EXIT_FAILURE, "tokexd: offload.target %s: %s\n",
				 tkx_off_target_name(cfg->offload_target), err);
		uint32_t inner;
		tkx_off_target_of(o->t, &inner);
		tkx_log(TKX_LOG_INFO, "offload",
			"matching core %u: target %s%s%s, %u levels, %u book(s)", m,
			tkx_off_target_name(cfg->offload_target),
			cfg->offload_target == CP_OFF_SHADOW ? " of " : "",
			cfg->offload_target == CP_OFF_SHADOW ? tkx_off_target_name(inner) : "",
			c.n_levels, o->n);
		a->match[m].off = o;
	}
}

void td_offload_tob(struct td_match *m, const struct dp_event *ev, unsigned n)
{
	struct td_off *o = m->off;
	uint32_t levels = m->app->cfg.offload_levels;
	for (unsigned i = 0; i < n; i++) {
		if (ev[i].template_id != TKX_MD_TOP_OF_BOOK)
			continue;
		uint32_t id = ev[i].u.tob.contract_id, b = 0;
		while (b < o->n && o->contract[b] != id)
			b++;
		const struct me_book *bk = b < o->n ? mc_book(m->mc, id) : NULL;
		if (bk == NULL)
			continue;
		for (int s = 0; s < 2; s++)
			o->w.n[s] = me_book_depth(bk, s, o->w.price[s], o->w.qty[s], levels);
		/* The engine's answer is what mc_core already published; a disagreeing
		 * target is counted, logged and rebuilt inside. */
		tkx_off_update(o->t, b, &o->w, NULL);
	}
}

void td_offload_print_logs(struct td_app *a)
{
	struct tkx_off_log log[16];
	char line[512];
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		struct td_off *o = a->match[m].off;
		unsigned k;
		while (o && (k = tkx_off_log_drain(o->t, log, 16)) > 0)
			for (unsigned i = 0; i < k; i++) {
				tkx_off_log_format(&log[i], line, sizeof(line));
				tkx_log(TKX_LOG_INFO, "offload", "core %u: %s", m, line);
			}
	}
}

const char *td_offload_target_name(const struct td_app *a)
{
	return tkx_off_target_name(a->cfg.offload_target);
}

void td_offload_counters(struct td_app *a, td_counter_fn fn, void *arg)
{
	struct tkx_off_stats t, s;
	memset(&t, 0, sizeof(t));
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		if (a->match[m].off == NULL)
			continue;
		tkx_off_stats_read(a->match[m].off->t, &s);
		const uint64_t *sv = (const uint64_t *)&s;
		uint64_t *tv = (uint64_t *)&t;
		for (size_t i = 0; i < sizeof(s) / sizeof(uint64_t); i++)
			tv[i] += sv[i];
	}
	fn(arg, "offload_", "updates", t.updates);
	fn(arg, "offload_", "cmds", t.cmds);
	fn(arg, "offload_", "doorbells", t.doorbells);
	fn(arg, "offload_", "misses", t.misses);
	fn(arg, "offload_", "refills", t.refills);
	fn(arg, "offload_", "shadow_mismatch", t.shadow_mismatch);
	fn(arg, "offload_", "engine_mismatch", t.engine_mismatch);
	fn(arg, "offload_", "resyncs", t.resyncs);
}

void td_offload_close(struct td_app *a)
{
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		struct td_off *o = a->match[m].off;
		if (o == NULL)
			continue;
		struct tkx_off_stats s;
		tkx_off_stats_read(o->t, &s);
		tkx_log(TKX_LOG_INFO, "offload",
			"core %u: %" PRIu64 " updates, %" PRIu64 " commands, %" PRIu64
			" misses, %" PRIu64 " shadow mismatches, %" PRIu64 " engine mismatches", m,
			s.updates, s.cmds, s.misses, s.shadow_mismatch, s.engine_mismatch);
		tkx_off_close(o->t);
		free(o);
		a->match[m].off = NULL;
	}
	dp_flow_teardown(&a->flow);
}
