/*
 * dp_flow.h - NIC flow steering for tokexd: rte_flow rules that send each contract
 * group's order traffic to the RX queue of the core that owns it and drop what is not
 * tokex, so that neither a foreign flood nor another group's burst costs an RX core.
 *
 * Role in the data path: none at run time. The main thread calls dp_flow_setup() once,
 * after dp_port_setup() (the port is started) and before the lcores launch. If the PMD
 * refuses any rule, no rule is left behind and tokexd falls back to classifying on the
 * RX core (dp_net_rx already drops everything that is not ours, counted per reason);
 * it says so in its log and in telemetry (/tokex/stats "flow_steering").
 *
 * Design: tokex's UDP order port is one per service, so a contract group is told apart
 * by its destination UDP port: contract group g (the contracts of matching core g) is
 * served on udp_port + g when the operator gives each group its own port, and every
 * group shares udp_port otherwise (then all go to one queue, as today with one RX core).
 * The rules are exactly what dp_net_rx accepts, nothing wider:
 *
 *   prio 0  ETH type ARP                                  -> QUEUE ctl_queue
 *   prio 0  ETH / IPV4 dst=our ip, proto ICMP             -> QUEUE ctl_queue
 *   prio 0  ETH / IPV4 dst=our ip / UDP dst=port[i]       -> QUEUE queue[i]   (per entry)
 *   prio 1  ETH (anything else)                           -> DROP   (drop_other)
 *
 * (dp_net also checks the destination MAC, checksums and fragments; those stay in
 * software: a NIC rule for each would cost more rules than it saves cycles.)
 *
 * Every rule is checked with rte_flow_validate() before any is created; creation is
 * all-or-nothing. Conventions as dp_port.h: 0 or a negative errno, reason in err.
 */
#ifndef TOKEX_DP_FLOW_H
#define TOKEX_DP_FLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DP_FLOW_MAX_UDP 16
#define DP_FLOW_MAX_RULES (DP_FLOW_MAX_UDP + 3)

struct rte_flow;

/* One tokex UDP service and the RX queue its datagrams go to. */
struct dp_flow_udp {
	uint16_t port;  /* destination UDP port, host order */
	uint16_t queue;
};

struct dp_flow_conf {
	uint32_t ip;            /* our IPv4 address, network order (as dp_net_conf.ip) */
	struct dp_flow_udp udp[DP_FLOW_MAX_UDP];
	unsigned n_udp;
	uint16_t ctl_queue;     /* ARP and ICMP: the queue whose core runs dp_net's replies */
	bool drop_other;        /* a lowest-priority rule drops everything else */
};

/* The rules in force on a port. */
struct dp_flow {
	uint16_t port_id;
	bool active;            /* steering in the NIC; false: classifying on the RX core */
	unsigned n;
	struct rte_flow *rule[DP_FLOW_MAX_RULES];
	char status[192];       /* one line for the log and telemetry */
};

/* Validates then creates the rules on port_id. 0: steering active. Negative errno (e.g.
 * -ENOTSUP, -ENOSYS, -EINVAL from the PMD): nothing installed, f->active false,
 * f->status says why and that the RX core classifies; the same line in err. */
int dp_flow_setup(struct dp_flow *f, uint16_t port_id, const struct dp_flow_conf *c,
		  char *err, size_t errlen);

/* Destroys the rules (before dp_port_close). Safe when none were installed. */
void dp_flow_teardown(struct dp_flow *f);

#endif /* TOKEX_DP_FLOW_H */
