/*
 * dp_flow.c - rte_flow steering rules (dp_flow.h): start-up only, main thread.
 */
#include "dp_flow.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_byteorder.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_flow.h>
#include <rte_ip.h>

/* One rule's description, kept until created. */
struct dp_flow_spec {
	struct rte_flow_attr attr;
	struct rte_flow_item pattern[4];
	struct rte_flow_action action[2];
	struct rte_flow_action_queue queue;
	struct rte_flow_item_eth eth, eth_mask;
	struct rte_flow_item_ipv4 ip, ip_mask;
	struct rte_flow_item_udp udp, udp_mask;
	const char *what;
};

static void dp_flow_end(struct dp_flow_spec *s, unsigned np, int drop, uint16_t queue)
{
	s->attr.ingress = 1;
	s->pattern[np].type = RTE_FLOW_ITEM_TYPE_END;
	if (drop) {
		s->action[0].type = RTE_FLOW_ACTION_TYPE_DROP;
	} else {
		s->queue.index = queue;
		s->action[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
		s->action[0].conf = &s->queue;
	}
	s->action[1].type = RTE_FLOW_ACTION_TYPE_END;
}

static void dp_flow_arp(struct dp_flow_spec *s, uint16_t queue)
{
	memset(s, 0, sizeof(*s));
	s->what = "ARP";
	s->eth.hdr.ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	s->eth_mask.hdr.ether_type = RTE_BE16(0xffff);
	s->pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	s->pattern[0].spec = &s->eth;
	s->pattern[0].mask = &s->eth_mask;
	dp_flow_end(s, 1, 0, queue);
}

/* ETH / IPV4 dst=ip [proto] [/ UDP dst=port] -> queue */
static void dp_flow_ip(struct dp_flow_spec *s, uint32_t ip, uint8_t proto, uint16_t udp_port,
		       uint16_t queue, const char *what)
{
	memset(s, 0, sizeof(*s));
	s->what = what;
	s->pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	s->ip.hdr.dst_addr = ip;
	s->ip_mask.hdr.dst_addr = RTE_BE32(0xffffffff);
	s->ip.hdr.next_proto_id = proto;
	s->ip_mask.hdr.next_proto_id = 0xff;
	s->pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV4;
	s->pattern[1].spec = &s->ip;
	s->pattern[1].mask = &s->ip_mask;
	unsigned np = 2;
	if (proto == IPPROTO_UDP) {
		s->udp.hdr.dst_port = rte_cpu_to_be_16(udp_port);
		s->udp_mask.hdr.dst_port = RTE_BE16(0xffff);
		s->pattern[2].type = RTE_FLOW_ITEM_TYPE_UDP;
		s->pattern[2].spec = &s->udp;
		s->pattern[2].mask = &s->udp_mask;
		np = 3;
	}
	dp_flow_end(s, np, 0, queue);
}

static void dp_flow_drop_rest(struct dp_flow_spec *s)
{
	memset(s, 0, sizeof(*s));
	s->what = "drop non-tokex";
	s->pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
	dp_flow_end(s, 1, 1, 0);
	s->attr.priority = 1; /* below every accept rule */
}

static void dp_flow_fallback(struct dp_flow *f, char *err, size_t errlen, const char *what,
			     int rc, const struct rte_flow_error *fe)
{
	snprintf(f->status, sizeof(f->status),
		 "off: the port refused rte_flow rule '%s' (%s%s%s): classifying on the RX core",
		 what, strerror(-rc), fe && fe->message ? ": " : "",
		 fe && fe->message ? fe->message : "");
	if (err && errlen)
		snprintf(err, errlen, "%s", f->status);
}

int dp_flow_setup(struct dp_flow *f, uint16_t port_id, const struct dp_flow_conf *c,
		  char *err, size_t errlen)
{
	static struct dp_flow_spec spec[DP_FLOW_MAX_RULES]; /* start-up only: not on a stack */
	unsigned n = 0;
	memset(f, 0, sizeof(*f));
	f->port_id = port_id;
	if (c->n_udp == 0 || c->n_udp > DP_FLOW_MAX_UDP || c->ip == 0) {
		dp_flow_fallback(f, err, errlen, "configuration", -EINVAL, NULL);
		return -EINVAL;
	}
	dp_flow_arp(&spec[n++], c->ctl_queue);
	dp_flow_ip(&spec[n++], c->ip, IPPROTO_ICMP, 0, c->ctl_queue, "ICMP to our address");
	for (unsigned i = 0; i < c->n_udp; i++)
		dp_flow_ip(&spec[n++], c->ip, IPPROTO_UDP, c->udp[i].port, c->udp[i].queue,
			   "UDP to a tokex port");
	if (c->drop_other)
		dp_flow_drop_rest(&spec[n++]);

	/* All validated before any is created: a half-steered port would be worse than
	 * none. */
	for (unsigned i = 0; i < n; i++) {
		struct rte_flow_error fe;
		memset(&fe, 0, sizeof(fe));
		int rc = rte_flow_validate(port_id, &spec[i].attr, spec[i].pattern, spec[i].action,
					   &fe);
		if (rc != 0) {
			dp_flow_fallback(f, err, errlen, spec[i].what, rc < 0 ? rc : -EINVAL, &fe);
			return rc < 0 ? rc : -EINVAL;
		}
	}
	for (unsigned i = 0; i < n; i++) {
		struct rte_flow_error fe;
		memset(&fe, 0, sizeof(fe));
		f->rule[i] = rte_flow_create(port_id, &spec[i].attr, spec[i].pattern,
					     spec[i].action, &fe);
		if (f->rule[i] == NULL) {
			int rc = -(int)(rte_errno ? rte_errno : EIO);
			f->n = i;
			dp_flow_teardown(f);
			dp_flow_fallback(f, err, errlen, spec[i].what, rc, &fe);
			return rc;
		}
	}
	f->n = n;
	f->active = true;
	snprintf(f->status, sizeof(f->status),
		 "on: %u rte_flow rules (%u UDP services to their queues%s)", n, c->n_udp,
		 c->drop_other ? ", the rest dropped in the NIC" : "");
	return 0;
}

void dp_flow_teardown(struct dp_flow *f)
{
	for (unsigned i = 0; i < f->n; i++) {
		struct rte_flow_error fe;
		if (f->rule[i])
			rte_flow_destroy(f->port_id, f->rule[i], &fe);
		f->rule[i] = NULL;
	}
	f->n = 0;
	f->active = false;
}
