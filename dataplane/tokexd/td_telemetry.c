/*
 * td_telemetry.c - tokexd's counters and state through DPDK telemetry.
 *
 * Role: control plane. Runs on EAL's telemetry thread when a client asks (e.g.
 * `dpdk-telemetry.py -f tokexd-<pid>` then `/tokex/stats`). It only reads: counters are
 * 64-bit words written by one core each, read here without locks (a value may be a few
 * microseconds old, never torn on x86-64). The same counters go to Prometheus
 * (td_metrics.c) through td_counters_each().
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_telemetry.h>

#include <tokex/codec.h>
#include "td_app.h"
#include "td_lease.h"
#include "td_repl.h"
#include "td_gw.h"
#include "td_metrics.h"

static struct td_app *td_tel_app;

/* Every counter, by group and name: /tokex/stats and the Prometheus endpoint
 * (td_metrics.c) list the same ones. */
void td_counters_each(struct td_app *a, td_counter_fn fn, void *arg)
{
	const struct dp_net_stats *n = &a->net.stats;
	fn(arg, "net_", "rx_pkts", n->rx_pkts);
	fn(arg, "net_", "udp_delivered", n->udp_delivered);
	fn(arg, "net_", "arp_replies", n->arp_replies);
	fn(arg, "net_", "icmp_replies", n->icmp_replies);
	fn(arg, "net_", "tx_pkts", n->tx_pkts);
	fn(arg, "net_", "tx_full", n->tx_full);
	fn(arg, "net_", "tx_nombuf", n->tx_nombuf);
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		fn(arg, "net_drop_", dp_drop_name((enum dp_drop)i), n->drop[i]);

	fn(arg, "rx_", "loops", a->rx.loops);
	fn(arg, "rx_", "orders_routed", a->rx.orders_routed);
	fn(arg, "rx_", "busy_rejects", a->rx.busy_rejects);
	fn(arg, "rx_", "unknown_contract", a->rx.unknown_contract);
	fn(arg, "rx_", "md_requests", a->rx.md_requests);
	fn(arg, "rx_", "tx_nombuf", a->rx.tx_nombuf);
	fn(arg, "rx_", "storage_rejects", a->rx.storage_rejects);
	fn(arg, "rx_", "journal_busy", a->rx.jn_busy);
	fn(arg, "rx_", "journal_waits", a->rx.jn_waits);
	fn(arg, "rx_", "journal_wait_timeouts", a->rx.jn_wait_timeouts);
	fn(arg, "rx_", "journal_hold_full_waits", a->rx.hold_full_waits);
	fn(arg, "rx_", "journal_held_dropped", a->rx.held_dropped);
	fn(arg, "rx_", "tcp_queue_waits", a->rx.gw_ring_spins);
	fn(arg, "rx_", "tcp_chunks_lost", a->rx.gw_lost);
	fn(arg, "rx_", "tcp_after_terminate", a->rx.tcp_after_end);

	struct ss_stats ss;
	ss_stats_read(a->ss, &ss);
	const uint64_t *sv = (const uint64_t *)&ss;
	for (unsigned i = 0; i < SS_STAT_COUNT; i++)
		fn(arg, "session_", ss_stat_name(i), sv[i]); /* both transports' */

	struct mc_stats tot;
	uint64_t spins = td_match_stats(a, &tot);
	fn(arg, "match_", "requests", tot.orders);
	fn(arg, "match_", "replies", tot.events);
	fn(arg, "match_", "md_records", tot.md);
	fn(arg, "match_", "trades", tot.trades);
	fn(arg, "match_", "rejects", tot.rejects);
	fn(arg, "match_", "ring_full_spins", spins);

	struct md_stats mds;
	md_pub_stats_read(a->md, &mds);
	const uint64_t *mv = (const uint64_t *)&mds;
	for (unsigned i = 0; i < MD_STAT_COUNT; i++)
		fn(arg, "md_", md_pub_stat_name(i), mv[i]);

	if (a->gw) {
		struct td_gw_stats gws;
		td_gw_stats(a->gw, &gws);
		const uint64_t *gwv = (const uint64_t *)&gws;
		for (unsigned i = 0; i < TD_GW_STAT_COUNT; i++)
			fn(arg, "tcp_gw_", td_gw_stat_name(i), gwv[i]);
	}
	td_offload_counters(a, fn, arg);
}

static void td_tel_u64(void *arg, const char *group, const char *name, uint64_t v)
{
	char key[96];
	snprintf(key, sizeof(key), "%s%s", group, name);
	rte_tel_data_add_dict_u64(arg, key, v);
}

/* Telemetry's strings hold RTE_TEL_MAX_STRING_LEN - 1 characters: a longer text (the
 * flow steering status) goes as an array of pieces, cut at spaces, to be joined with
 * nothing between them. */
static void td_tel_long_string(struct rte_tel_data *d, const char *key, const char *s)
{
	struct rte_tel_data *arr = rte_tel_data_alloc();
	if (arr == NULL)
		return;
	rte_tel_data_start_array(arr, RTE_TEL_STRING_VAL);
	char piece[RTE_TEL_MAX_STRING_LEN];
	size_t len = strlen(s);
	while (len) {
		size_t n = len < sizeof(piece) - 1 ? len : sizeof(piece) - 1;
		if (n < len)
			while (n > 1 && s[n - 1] != ' ')
				n--; /* ends with its space: joining restores the text */
		memcpy(piece, s, n);
		piece[n] = 0;
		rte_tel_data_add_array_string(arr, piece);
		s += n;
		len -= n;
	}
	if (rte_tel_data_add_dict_container(d, key, arr, 0) != 0)
		rte_tel_data_free(arr);
}

static int td_tel_stats(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct td_app *a = td_tel_app;
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	td_counters_each(a, td_tel_u64, d);
	td_tel_long_string(d, "flow_steering",
			   a->flow.status[0] ? a->flow.status : "off: not set up");
	rte_tel_data_add_dict_string(d, "offload_target", td_offload_target_name(a));
	return 0;
}

/* The flow steering status whole, as one string (up to RTE_TEL_MAX_SINGLE_STRING_LEN). */
static int td_tel_flow(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct td_app *a = td_tel_app;
	(void)cmd;
	(void)params;
	return rte_tel_data_string(d, a->flow.status[0] ? a->flow.status : "off: not set up");
}

/* One object per contract: {"id": N, "core": N, "phase": "..."}, by symbol. */
static int td_tel_contracts(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct td_app *a = td_tel_app;
	(void)cmd;
	(void)params;
	rte_tel_data_start_dict(d);
	for (uint32_t i = 0; i < a->cfg.n_contracts; i++) {
		const struct cp_contract *k = &a->cfg.contracts[i];
		int m = td_route_core(&a->route, k->id);
		int phase = m < 0 ? -1 : mc_phase(a->match[m].mc, k->id);
		struct rte_tel_data *c = rte_tel_data_alloc();
		if (c == NULL)
			return -ENOMEM;
		rte_tel_data_start_dict(c);
		rte_tel_data_add_dict_u64(c, "id", k->id);
		rte_tel_data_add_dict_int(c, "core", m);
		rte_tel_data_add_dict_string(c, "phase",
					     phase < 0 ? "none" : tkx_phase_name((uint8_t)phase));
		if (rte_tel_data_add_dict_container(d, k->symbol, c, 0) != 0)
			rte_tel_data_free(c);
	}
	return 0;
}

/* /tokex/replication: the link's counters (td_repl.c), the same as tokexctl replication. */
static int td_tel_repl(const char *cmd, const char *params, struct rte_tel_data *d)
{
	struct td_app *a = td_tel_app;
	struct td_repl_stats s;
	(void)cmd;
	(void)params;
	td_repl_stats(a, &s);
	rte_tel_data_start_dict(d);
	static const char *const roles[] = {"none", "primary", "standby"};
	rte_tel_data_add_dict_string(d, "role", roles[s.role % 3]);
	const uint64_t v[] = {s.epoch, s.peers, s.promotable, s.last_seq, s.sent, s.acked,
			      s.applied, s.lag_records, s.lag_us, s.connects, s.disconnects,
			      s.too_slow, s.gaps, s.snapshots_sent, s.snapshots_taken, s.records,
			      s.refused_udp};
	static const char *const names[] = {"epoch", "peers", "promotable", "last_seq", "sent",
					    "acked", "applied", "lag_records", "lag_us", "connects",
					    "disconnects", "too_slow", "gaps", "snapshots_sent",
					    "snapshots_taken", "records", "refused_udp"};
	for (unsigned i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		rte_tel_data_add_dict_u64(d, names[i], v[i]);
	/* the lease (td_lease.c): held by this node now, ms until it stops accepting */
	struct td_lease_stats ls;
	td_lease_stats(a, &ls);
	const uint64_t lv[] = {ls.on, ls.held, ls.epoch, (uint64_t)(ls.left_ms > 0 ? ls.left_ms : 0),
			       ls.renewals, ls.failures, ls.acquisitions};
	static const char *const lnames[] = {"lease_on", "lease_held", "lease_epoch",
					     "lease_left_ms", "lease_renewals", "lease_failures",
					     "lease_acquisitions"};
	for (unsigned i = 0; i < sizeof(lv) / sizeof(lv[0]); i++)
		rte_tel_data_add_dict_u64(d, lnames[i], lv[i]);
	return 0;
}

uint64_t td_match_stats(const struct td_app *a, struct mc_stats *tot)
{
	struct mc_stats ms;
	uint64_t spins = 0;
	memset(tot, 0, sizeof(*tot));
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		mc_stats(a->match[m].mc, &ms);
		tot->orders += ms.orders;
		tot->events += ms.events;
		tot->md += ms.md;
		tot->trades += ms.trades;
		tot->rejects += ms.rejects;
		tot->unknown_contract += ms.unknown_contract;
		spins += a->match[m].ring_full_spins;
	}
	return spins;
}

void td_telemetry_register(struct td_app *app)
{
	td_tel_app = app;
	rte_telemetry_register_cmd("/tokex/stats", td_tel_stats,
				   "tokexd counters: packet layer, sessions, matching, market data");
	rte_telemetry_register_cmd("/tokex/contracts", td_tel_contracts,
				   "contracts by symbol: {id, core (owning matching core), phase}");
	rte_telemetry_register_cmd("/tokex/flow_steering", td_tel_flow,
				   "NIC flow steering: the rules in place, or why none");
	rte_telemetry_register_cmd("/tokex/replication", td_tel_repl,
				   "replication: role, epoch, sequences sent/acked/applied, lag");
}
