/*
 * dp_net.c - the L2-L4 stage of an RX/session core: classify a burst (deliver tokex UDP,
 * answer ARP and ping in place, drop and count the rest), and frame UDP for TX.
 * Design and invariants: dp_net.h.
 */
#include "dp_net.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_branch_prediction.h>
#include <rte_byteorder.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_prefetch.h>
#include <rte_udp.h>

#define PREFETCH_AHEAD 3 /* l3fwd's distance: the header of i+3 arrives while i is parsed */
#define DEFAULT_TTL 64
#define DEFAULT_MCAST_TTL 1

/* dp_net_rx verdicts other than a drop reason (which are >= 0). */
enum { ACT_DELIVER = -1, ACT_REPLY = -2 };

/* mbuf flags that describe the buffer, not the packet: they must survive when an RX mbuf
 * is turned into a reply, or the mbuf would be freed the wrong way. */
#define OL_BUFFER_FLAGS (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT)

static const char *const drop_names[DP_DROP__COUNT] = {
	[DP_DROP_RUNT] = "runt",
	[DP_DROP_CHAINED] = "chained",
	[DP_DROP_NOT_OUR_MAC] = "not_our_mac",
	[DP_DROP_BAD_SRC] = "bad_src",
	[DP_DROP_ETHERTYPE] = "ethertype",
	[DP_DROP_ARP] = "arp",
	[DP_DROP_IP_HDR] = "ip_hdr",
	[DP_DROP_IP_CSUM] = "ip_csum",
	[DP_DROP_IP_LEN] = "ip_len",
	[DP_DROP_IP_FRAG] = "ip_frag",
	[DP_DROP_NOT_OUR_IP] = "not_our_ip",
	[DP_DROP_IP_PROTO] = "ip_proto",
	[DP_DROP_ICMP] = "icmp",
	[DP_DROP_ICMP_CSUM] = "icmp_csum",
	[DP_DROP_UDP_LEN] = "udp_len",
	[DP_DROP_UDP_PORT] = "udp_port",
	[DP_DROP_UDP_CSUM] = "udp_csum",
};

const char *dp_drop_name(enum dp_drop reason)
{
	if ((unsigned)reason >= DP_DROP__COUNT)
		return "?";
	return drop_names[reason];
}

int dp_net_init(struct dp_net *net, const struct dp_net_conf *c)
{
	unsigned i;

	if (c->ip == 0 || c->n_udp_ports == 0 || c->n_udp_ports > DP_NET_MAX_UDP_PORTS ||
	    !rte_is_valid_assigned_ether_addr(&c->mac))
		return -EINVAL;
	for (i = 0; i < c->n_udp_ports; i++)
		if (c->udp_ports[i] == 0)
			return -EINVAL;
	memset(net, 0, sizeof(*net));
	net->ip = c->ip;
	net->mac = c->mac;
	net->ttl = c->ttl ? c->ttl : DEFAULT_TTL;
	net->mcast_ttl = c->mcast_ttl ? c->mcast_ttl : DEFAULT_MCAST_TTL;
	net->n_udp_ports = (uint16_t)c->n_udp_ports;
	for (i = 0; i < c->n_udp_ports; i++)
		net->udp_ports[i] = c->udp_ports[i];
	if (c->tx_offloads & (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM))
		net->tx_ol_flags |= RTE_MBUF_F_TX_IPV4;
	if (c->tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)
		net->tx_ol_flags |= RTE_MBUF_F_TX_IP_CKSUM;
	if (c->tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
		net->tx_ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
	return 0;
}

/* ---- RX ---------------------------------------------------------------------------- */

/* A source we must never answer: 0.0.0.0, 224/4 multicast, 240/4 and broadcast. Answering
 * those would let one forged packet make us flood a group or the LAN. */
static inline int bad_src_ip(uint32_t ip_be)
{
	uint8_t first = (uint8_t)(rte_be_to_cpu_32(ip_be) >> 24);

	return ip_be == 0 || first >= 224;
}

/* Sum of the UDP pseudo-header and the datagram: 0xffff when the checksum is right. */
static inline uint16_t udp_sum(const struct rte_ipv4_hdr *ip, const struct rte_udp_hdr *udp,
			       uint16_t udp_len)
{
	uint32_t sum;

	sum = (ip->src_addr & 0xffff) + (ip->src_addr >> 16) + (ip->dst_addr & 0xffff) +
	      (ip->dst_addr >> 16) + rte_cpu_to_be_16(IPPROTO_UDP) + rte_cpu_to_be_16(udp_len);
	sum += rte_raw_cksum(udp, udp_len);
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

/* The buffer is now a reply we send: drop what the PMD said about it on RX. */
static inline void as_tx_frame(struct rte_mbuf *m, uint32_t frame_len)
{
	m->ol_flags &= OL_BUFFER_FLAGS;
	m->data_len = (uint16_t)frame_len;
	m->pkt_len = frame_len;
}

static inline int rx_arp(struct dp_net *net, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			 uint32_t len)
{
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	struct rte_arp_ipv4 *a = &arp->arp_data;
	uint32_t sip;

	if (unlikely(len < sizeof(*eth) + sizeof(*arp)))
		return DP_DROP_RUNT;
	if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4 ||
	    arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST))
		return DP_DROP_ARP;
	if (a->arp_tip != net->ip)
		return DP_DROP_NOT_OUR_IP;

	/* Reply in place, to the Ethernet source (invariant 3). A probe (sender IP 0, RFC
	 * 5227) is answered too: that is how we defend our address. */
	sip = a->arp_sip;
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&net->mac, &eth->src_addr);
	arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
	rte_ether_addr_copy(&a->arp_sha, &a->arp_tha);
	a->arp_tip = sip;
	rte_ether_addr_copy(&net->mac, &a->arp_sha);
	a->arp_sip = net->ip;
	as_tx_frame(m, (uint32_t)(sizeof(*eth) + sizeof(*arp)));
	net->stats.arp_replies++;
	return ACT_REPLY;
}

static inline int rx_icmp(struct dp_net *net, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			  struct rte_ipv4_hdr *ip, uint32_t ihl, uint32_t ip_len)
{
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((uint8_t *)ip + ihl);
	uint32_t icmp_len = ip_len - ihl;
	uint32_t addr;

	if (unlikely(icmp_len < sizeof(*icmp)))
		return DP_DROP_ICMP;
	if (icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST || icmp->icmp_code != 0)
		return DP_DROP_ICMP;
	if (rte_raw_cksum(icmp, icmp_len) != 0xffff)
		return DP_DROP_ICMP_CSUM;

	/* Echo reply in place: swap addresses, fresh TTL, new checksums. Pings are rare:
	 * full recomputation is clearer than an incremental update and costs nothing. */
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&net->mac, &eth->src_addr);
	addr = ip->src_addr;
	ip->src_addr = net->ip;
	ip->dst_addr = addr;
	ip->time_to_live = net->ttl;
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, icmp_len);
	as_tx_frame(m, (uint32_t)sizeof(*eth) + ip_len); /* Ethernet padding trimmed */
	net->stats.icmp_replies++;
	return ACT_REPLY;
}

static inline int rx_udp(const struct dp_net *net, struct rte_mbuf *m,
			 struct rte_ether_hdr *eth, struct rte_ipv4_hdr *ip, uint32_t ihl,
			 uint32_t ip_len, struct dp_dgram *d)
{
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)((uint8_t *)ip + ihl);
	uint16_t udp_len, dport;
	unsigned i;

	if (unlikely(ip_len - ihl < sizeof(*udp)))
		return DP_DROP_UDP_LEN;
	udp_len = rte_be_to_cpu_16(udp->dgram_len);
	if (unlikely(udp_len < sizeof(*udp) || udp_len > ip_len - ihl))
		return DP_DROP_UDP_LEN;
	/* The port before the checksum: a flood to a closed port costs no payload sum. */
	dport = rte_be_to_cpu_16(udp->dst_port);
	for (i = 0; i < net->n_udp_ports; i++)
		if (net->udp_ports[i] == dport)
			break;
	if (i == net->n_udp_ports)
		return DP_DROP_UDP_PORT;
	if (udp->dgram_cksum != 0) {
		uint64_t l4 = m->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK;

		if (l4 == RTE_MBUF_F_RX_L4_CKSUM_BAD)
			return DP_DROP_UDP_CSUM;
		/* GOOD and NONE (integrity verified, e.g. virtio): trust the PMD. */
		if (l4 == RTE_MBUF_F_RX_L4_CKSUM_UNKNOWN && udp_sum(ip, udp, udp_len) != 0xffff)
			return DP_DROP_UDP_CSUM;
	}
	d->m = m;
	d->data = (const uint8_t *)(udp + 1);
	d->len = (uint16_t)(udp_len - sizeof(*udp));
	d->dst_port = dport;
	rte_ether_addr_copy(&eth->src_addr, &d->peer.mac);
	d->peer.ip = ip->src_addr;
	d->peer.port = rte_be_to_cpu_16(udp->src_port);
	return ACT_DELIVER;
}

static inline int rx_ipv4(struct dp_net *net, struct rte_mbuf *m, struct rte_ether_hdr *eth,
			  uint32_t len, struct dp_dgram *d)
{
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	uint32_t ihl, ip_len;
	uint64_t l3;

	if (unlikely(len < sizeof(*eth) + sizeof(*ip)))
		return DP_DROP_RUNT;
	ihl = (uint32_t)(ip->version_ihl & RTE_IPV4_HDR_IHL_MASK) * RTE_IPV4_IHL_MULTIPLIER;
	if (unlikely((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip)))
		return DP_DROP_IP_HDR;
	if (unlikely(len < sizeof(*eth) + ihl))
		return DP_DROP_RUNT;
	l3 = m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK;
	if (l3 == RTE_MBUF_F_RX_IP_CKSUM_BAD ||
	    (l3 == RTE_MBUF_F_RX_IP_CKSUM_UNKNOWN && rte_raw_cksum(ip, ihl) != 0xffff))
		return DP_DROP_IP_CSUM;
	ip_len = rte_be_to_cpu_16(ip->total_length);
	if (unlikely(ip_len < ihl || ip_len > len - sizeof(*eth)))
		return DP_DROP_IP_LEN;
	if (unlikely(ip->fragment_offset &
		     RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)))
		return DP_DROP_IP_FRAG;
	if (ip->dst_addr != net->ip)
		return DP_DROP_NOT_OUR_IP;
	if (unlikely(bad_src_ip(ip->src_addr)))
		return DP_DROP_BAD_SRC;
	if (likely(ip->next_proto_id == IPPROTO_UDP))
		return rx_udp(net, m, eth, ip, ihl, ip_len, d);
	if (ip->next_proto_id == IPPROTO_ICMP)
		return rx_icmp(net, m, eth, ip, ihl, ip_len);
	return DP_DROP_IP_PROTO;
}

static inline int rx_one(struct dp_net *net, struct rte_mbuf *m, struct dp_dgram *d)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	uint32_t len = rte_pktmbuf_data_len(m);

	/* Everything below reads one segment; MTU 1500 in 2 KB buffers never chains. */
	if (unlikely(m->pkt_len != len))
		return DP_DROP_CHAINED;
	if (unlikely(len < sizeof(*eth)))
		return DP_DROP_RUNT;
	if (unlikely(!rte_is_same_ether_addr(&eth->dst_addr, &net->mac) &&
		     rte_is_unicast_ether_addr(&eth->dst_addr)))
		return DP_DROP_NOT_OUR_MAC;
	if (unlikely(rte_is_multicast_ether_addr(&eth->src_addr)))
		return DP_DROP_BAD_SRC;
	if (likely(eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_IPV4)))
		return rx_ipv4(net, m, eth, len, d);
	if (eth->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP))
		return rx_arp(net, m, eth, len);
	return DP_DROP_ETHERTYPE;
}

unsigned dp_net_rx(struct dp_net *net, struct rte_mbuf **pkts, unsigned n, uint64_t rx_time,
		   struct dp_dgram *out, struct rte_mbuf **tx, unsigned *n_tx)
{
	struct rte_mbuf *drop[DP_NET_BURST];
	unsigned i, n_out = 0, n_drop = 0, nt = *n_tx;
	uint64_t bytes = 0;

	for (i = 0; i < n && i < PREFETCH_AHEAD; i++)
		rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void *));
	for (i = 0; i < n; i++) {
		struct rte_mbuf *m = pkts[i];
		int v;

		if (i + PREFETCH_AHEAD < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + PREFETCH_AHEAD], void *));
		bytes += m->pkt_len;
		v = rx_one(net, m, &out[n_out]);
		if (likely(v == ACT_DELIVER)) {
			out[n_out++].rx_time = rx_time;
		} else if (v == ACT_REPLY) {
			tx[nt++] = m;
		} else {
			net->stats.drop[v]++;
			/* Freed in bulk: one mempool put for the burst's drops. */
			drop[n_drop++] = m;
			if (n_drop == DP_NET_BURST) {
				rte_pktmbuf_free_bulk(drop, n_drop);
				n_drop = 0;
			}
		}
	}
	if (n_drop != 0)
		rte_pktmbuf_free_bulk(drop, n_drop);
	net->stats.rx_pkts += n;
	net->stats.rx_bytes += bytes;
	net->stats.udp_delivered += n_out;
	*n_tx = nt;
	return n_out;
}

/* ---- TX ---------------------------------------------------------------------------- */

void dp_peer_mcast(struct dp_peer *p, uint32_t group, uint16_t port)
{
	uint32_t g = rte_be_to_cpu_32(group);

	/* RFC 1112 6.4: 01:00:5e, then the group's low 23 bits. */
	p->mac.addr_bytes[0] = 0x01;
	p->mac.addr_bytes[1] = 0x00;
	p->mac.addr_bytes[2] = 0x5e;
	p->mac.addr_bytes[3] = (uint8_t)((g >> 16) & 0x7f);
	p->mac.addr_bytes[4] = (uint8_t)(g >> 8);
	p->mac.addr_bytes[5] = (uint8_t)g;
	p->ip = group;
	p->port = port;
}

uint8_t *dp_net_udp_reserve(struct rte_mbuf *m, uint16_t len)
{
	char *p;

	if (unlikely(len > DP_NET_MAX_PAYLOAD))
		return NULL;
	p = rte_pktmbuf_append(m, (uint16_t)(DP_NET_HDR_LEN + len));
	if (unlikely(p == NULL))
		return NULL;
	return (uint8_t *)p + DP_NET_HDR_LEN;
}

void dp_net_udp_seal(const struct dp_net *net, struct rte_mbuf *m, const struct dp_peer *to,
		     uint16_t src_port)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	struct rte_udp_hdr *udp = (struct rte_udp_hdr *)(ip + 1);
	uint16_t udp_len = (uint16_t)(rte_pktmbuf_data_len(m) - sizeof(*eth) - sizeof(*ip));
	uint8_t first = (uint8_t)(rte_be_to_cpu_32(to->ip) >> 24);

	rte_ether_addr_copy(&to->mac, &eth->dst_addr);
	rte_ether_addr_copy(&net->mac, &eth->src_addr);
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);

	ip->version_ihl = RTE_IPV4_VHL_DEF;
	ip->type_of_service = 0;
	ip->total_length = rte_cpu_to_be_16((uint16_t)(udp_len + sizeof(*ip)));
	/* DF and id 0: an atomic datagram (RFC 6864), never fragmented, so the id is unused
	 * and the core keeps no counter. */
	ip->packet_id = 0;
	ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	ip->time_to_live = (first >= 224 && first < 240) ? net->mcast_ttl : net->ttl;
	ip->next_proto_id = IPPROTO_UDP;
	ip->hdr_checksum = 0;
	ip->src_addr = net->ip;
	ip->dst_addr = to->ip;

	udp->src_port = rte_cpu_to_be_16(src_port);
	udp->dst_port = rte_cpu_to_be_16(to->port);
	udp->dgram_len = rte_cpu_to_be_16(udp_len);
	udp->dgram_cksum = 0;

	m->ol_flags = (m->ol_flags & OL_BUFFER_FLAGS) | net->tx_ol_flags;
	m->l2_len = sizeof(*eth);
	m->l3_len = sizeof(*ip);
	/* The NIC fills the UDP checksum from the pseudo-header sum we leave in the field;
	 * the IPv4 one from a zero field. Without the offload we compute each here. */
	if (net->tx_ol_flags & RTE_MBUF_F_TX_UDP_CKSUM)
		udp->dgram_cksum = rte_ipv4_phdr_cksum(ip, m->ol_flags);
	else
		udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
	if (!(net->tx_ol_flags & RTE_MBUF_F_TX_IP_CKSUM))
		ip->hdr_checksum = rte_ipv4_cksum(ip);
}

int dp_net_udp_build(const struct dp_net *net, struct rte_mbuf *m, const struct dp_peer *to,
		     uint16_t src_port, const void *payload, uint16_t len)
{
	uint8_t *p = dp_net_udp_reserve(m, len);

	if (unlikely(p == NULL))
		return -EMSGSIZE;
	memcpy(p, payload, len);
	dp_net_udp_seal(net, m, to, src_port);
	return 0;
}

struct rte_mbuf *dp_net_udp_alloc(struct dp_net *net, struct rte_mempool *mp,
				  const struct dp_peer *to, uint16_t src_port,
				  const void *payload, uint16_t len)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(mp);

	if (unlikely(m == NULL)) {
		net->stats.tx_nombuf++;
		return NULL;
	}
	if (unlikely(dp_net_udp_build(net, m, to, src_port, payload, len) != 0)) {
		rte_pktmbuf_free(m);
		net->stats.tx_too_big++;
		return NULL;
	}
	return m;
}

unsigned dp_net_tx_burst(struct dp_net *net, uint16_t port_id, uint16_t queue,
			 struct rte_mbuf **pkts, unsigned n)
{
	uint64_t bytes = 0;
	unsigned i, sent = 0, tries = 0;

	/* Count bytes first: once a PMD takes an mbuf it may free it at once (vdevs do). */
	for (i = 0; i < n; i++)
		bytes += pkts[i]->pkt_len;
	while (sent < n) {
		uint16_t want = (uint16_t)RTE_MIN(n - sent, (unsigned)UINT16_MAX);

		sent += rte_eth_tx_burst(port_id, queue, pkts + sent, want);
		if (sent == n || tries == DP_NET_TX_RETRIES)
			break;
		tries++;
		net->stats.tx_retries++;
	}
	if (unlikely(sent < n)) {
		for (i = sent; i < n; i++)
			bytes -= pkts[i]->pkt_len;
		rte_pktmbuf_free_bulk(pkts + sent, n - sent);
		net->stats.tx_full += n - sent;
	}
	net->stats.tx_pkts += sent;
	net->stats.tx_bytes += bytes;
	return sent;
}

/* ---- Counters ---------------------------------------------------------------------- */

void dp_net_stats_sum(struct dp_net_stats *sum, const struct dp_net_stats *s)
{
	const uint64_t *src = (const uint64_t *)s;
	uint64_t *dst = (uint64_t *)sum;
	size_t i;

	_Static_assert(sizeof(struct dp_net_stats) == (11 + DP_DROP__COUNT) * sizeof(uint64_t),
		       "dp_net_stats is all uint64_t (update stats_format when adding one)");
	for (i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
		dst[i] += src[i];
}

size_t dp_net_stats_format(const struct dp_net_stats *s, const char *prefix, char *buf,
			   size_t len)
{
	static const struct {
		const char *name;
		size_t off;
	} fields[] = {
#define F(x) { #x, offsetof(struct dp_net_stats, x) }
		F(rx_pkts), F(rx_bytes), F(udp_delivered), F(arp_replies), F(icmp_replies),
		F(tx_pkts), F(tx_bytes), F(tx_full), F(tx_retries), F(tx_nombuf), F(tx_too_big),
#undef F
	};
	size_t used = 0, i;
	int k;

	_Static_assert(RTE_DIM(fields) + DP_DROP__COUNT ==
		       sizeof(struct dp_net_stats) / sizeof(uint64_t),
		       "every counter of dp_net_stats has a name");
	if (len != 0)
		buf[0] = '\0';
	for (i = 0; i < RTE_DIM(fields) + DP_DROP__COUNT; i++) {
		uint64_t v;

		if (i < RTE_DIM(fields)) {
			memcpy(&v, (const uint8_t *)s + fields[i].off, sizeof(v));
			k = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
				     "%s%s %" PRIu64 "\n", prefix, fields[i].name, v);
		} else {
			size_t r = i - RTE_DIM(fields);

			k = snprintf(used < len ? buf + used : NULL, used < len ? len - used : 0,
				     "%sdrop.%s %" PRIu64 "\n", prefix, drop_names[r],
				     s->drop[r]);
		}
		if (k > 0)
			used += (size_t)k;
	}
	return used;
}
