/*
 * test_dp_net.c - unit tests of the packet layer (dp_net, dp_port) on synthetic frames.
 *
 * EAL runs without hugepages, PCI or shared config; frames are built by hand in mbufs of a
 * test mempool (cache 0, so rte_mempool_avail_count() proves invariant 1: every mbuf given
 * to dp_net_rx comes back). One loopback port, net_ring0 (its TX ring is its RX ring),
 * carries the port bring-up, burst TX and the TX-full path.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_udp.h>

#include <tokex/proto.h>

#include "dp_net.h"
#include "dp_port.h"

#define POOL_SIZE 4095
#define PEER_PORT 40000

static struct rte_mempool *g_pool;
static const struct rte_ether_addr US_MAC = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x02 } };
static const struct rte_ether_addr PEER_MAC = { { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 } };
static uint32_t US_IP, PEER_IP; /* network order: 198.18.0.2 and 198.18.0.1 */

static uint32_t ip4(uint8_t a, uint8_t b, uint8_t c, uint8_t d)
{
	return rte_cpu_to_be_32((uint32_t)a << 24 | (uint32_t)b << 16 | (uint32_t)c << 8 | d);
}

/* ---- frame builders ---------------------------------------------------------------- */

struct frame {
	struct rte_ether_hdr *eth;
	struct rte_ipv4_hdr *ip;
	struct rte_udp_hdr *udp;
	uint8_t *payload;
};

static struct rte_mbuf *alloc_mbuf(void)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(g_pool);

	assert_non_null(m);
	return m;
}

/* rte_pktmbuf_append behind a call GCC does not inline: at -O3, GCC 12 follows the pointer
 * back into the freshly allocated mbuf and reports a bogus -Warray-bounds on the memset. */
static __attribute__((noinline)) void *append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

static void fix_ip_csum(struct rte_ipv4_hdr *ip)
{
	ip->hdr_checksum = 0;
	ip->hdr_checksum = rte_ipv4_cksum(ip);
}

static void fix_udp_csum(struct rte_ipv4_hdr *ip, struct rte_udp_hdr *udp)
{
	udp->dgram_cksum = 0;
	udp->dgram_cksum = rte_ipv4_udptcp_cksum(ip, udp);
}

/* A valid frame PEER -> US, IPv4 with `opt` bytes of options (multiple of 4), carrying
 * proto with an l4_len-byte L4 part, padded to at least pad_to bytes. Returns the parts. */
static struct frame put_ipv4(struct rte_mbuf *m, uint8_t proto, uint16_t l4_len, uint16_t opt,
			     uint16_t pad_to)
{
	uint16_t ihl = (uint16_t)(sizeof(struct rte_ipv4_hdr) + opt);
	uint16_t frame_len = (uint16_t)(sizeof(struct rte_ether_hdr) + ihl + l4_len);
	struct frame f;
	uint8_t *p;

	if (frame_len < pad_to)
		frame_len = pad_to;
	p = append(m, frame_len);
	assert_non_null(p);
	memset(p, 0, frame_len);
	f.eth = (struct rte_ether_hdr *)p;
	f.eth->dst_addr = US_MAC;
	f.eth->src_addr = PEER_MAC;
	f.eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	f.ip = (struct rte_ipv4_hdr *)(f.eth + 1);
	f.ip->version_ihl = (uint8_t)(0x40 | (ihl / 4));
	f.ip->total_length = rte_cpu_to_be_16((uint16_t)(ihl + l4_len));
	f.ip->packet_id = RTE_BE16(0x1234);
	f.ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
	f.ip->time_to_live = 64;
	f.ip->next_proto_id = proto;
	f.ip->src_addr = PEER_IP;
	f.ip->dst_addr = US_IP;
	if (opt != 0)
		memset(f.ip + 1, 1, opt); /* NOP options */
	fix_ip_csum(f.ip);
	f.udp = (struct rte_udp_hdr *)((uint8_t *)f.ip + ihl);
	f.payload = (uint8_t *)(f.udp + 1);
	return f;
}

static struct frame put_udp(struct rte_mbuf *m, uint16_t dport, uint16_t len, uint16_t pad_to)
{
	struct frame f = put_ipv4(m, IPPROTO_UDP, (uint16_t)(8 + len), 0, pad_to);
	uint16_t i;

	f.udp->src_port = rte_cpu_to_be_16(PEER_PORT);
	f.udp->dst_port = rte_cpu_to_be_16(dport);
	f.udp->dgram_len = rte_cpu_to_be_16((uint16_t)(8 + len));
	for (i = 0; i < len; i++)
		f.payload[i] = (uint8_t)(i * 13 + 5);
	fix_udp_csum(f.ip, f.udp);
	return f;
}

static struct rte_mbuf *mk_udp(uint16_t dport, uint16_t len)
{
	struct rte_mbuf *m = alloc_mbuf();

	put_udp(m, dport, len, 0);
	return m;
}

static struct frame frame_of(struct rte_mbuf *m)
{
	struct frame f;

	f.eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	f.ip = (struct rte_ipv4_hdr *)(f.eth + 1);
	f.udp = (struct rte_udp_hdr *)((uint8_t *)f.ip + rte_ipv4_hdr_len(f.ip));
	f.payload = (uint8_t *)(f.udp + 1);
	return f;
}

static struct rte_mbuf *mk_icmp(uint8_t type, uint16_t data_len, uint16_t pad_to)
{
	struct rte_mbuf *m = alloc_mbuf();
	struct frame f = put_ipv4(m, IPPROTO_ICMP, (uint16_t)(8 + data_len), 0, pad_to);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)f.udp;
	uint8_t *d = (uint8_t *)(icmp + 1);
	uint16_t i;

	icmp->icmp_type = type;
	icmp->icmp_ident = RTE_BE16(0x4242);
	icmp->icmp_seq_nb = RTE_BE16(7);
	for (i = 0; i < data_len; i++)
		d[i] = (uint8_t)i;
	icmp->icmp_cksum = (uint16_t)~rte_raw_cksum(icmp, 8u + data_len);
	return m;
}

static struct rte_mbuf *mk_arp(uint16_t op, uint32_t tip, uint16_t pad_to)
{
	struct rte_mbuf *m = alloc_mbuf();
	uint16_t len = (uint16_t)(sizeof(struct rte_ether_hdr) + sizeof(struct rte_arp_hdr));
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;

	if (len < pad_to)
		len = pad_to;
	eth = append(m, len);
	assert_non_null(eth);
	memset(eth, 0, len);
	memset(&eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	eth->src_addr = PEER_MAC;
	eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = 6;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(op);
	arp->arp_data.arp_sha = PEER_MAC;
	arp->arp_data.arp_sip = PEER_IP;
	arp->arp_data.arp_tip = tip;
	return m;
}

/* ---- fixtures ---------------------------------------------------------------------- */

struct ctx {
	struct dp_net net;
	unsigned pool_avail;
};

static void init_net(struct dp_net *net, uint64_t tx_offloads)
{
	struct dp_net_conf c;

	memset(&c, 0, sizeof(c));
	c.ip = US_IP;
	c.mac = US_MAC;
	c.udp_ports[0] = TKX_PORT_ORDER_UDP;
	c.udp_ports[1] = TKX_PORT_MD_REQ;
	c.n_udp_ports = 2;
	c.tx_offloads = tx_offloads;
	assert_int_equal(dp_net_init(net, &c), 0);
}

static int setup(void **state)
{
	struct ctx *c = rte_zmalloc("test_ctx", sizeof(*c), RTE_CACHE_LINE_SIZE);

	if (c == NULL)
		return -1;
	init_net(&c->net, 0);
	c->pool_avail = rte_mempool_avail_count(g_pool);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct ctx *c = *state;
	unsigned before = c->pool_avail, avail = rte_mempool_avail_count(g_pool);

	rte_free(c);
	/* Invariant 1 and 4: nothing leaked by the code under test (or by the test). */
	if (avail != before) {
		fprintf(stderr, "mbuf leak: %u before, %u after\n", before, avail);
		return -1;
	}
	return 0;
}

static uint64_t drops_total(const struct dp_net_stats *s)
{
	uint64_t t = 0;
	int i;

	for (i = 0; i < DP_DROP__COUNT; i++)
		t += s->drop[i];
	return t;
}

/* Runs one frame through dp_net_rx; expects it dropped for `reason`, nothing else. */
static void expect_drop(struct dp_net *net, struct rte_mbuf *m, enum dp_drop reason)
{
	struct dp_dgram out[1];
	struct rte_mbuf *tx[1];
	unsigned n_tx = 0;
	uint64_t before = net->stats.drop[reason], total = drops_total(&net->stats);

	assert_int_equal(dp_net_rx(net, &m, 1, 0, out, tx, &n_tx), 0);
	assert_int_equal(n_tx, 0);
	if (net->stats.drop[reason] != before + 1)
		fail_msg("expected drop reason %s", dp_drop_name(reason));
	assert_int_equal(drops_total(&net->stats), total + 1);
}

/* ---- drop reasons ------------------------------------------------------------------ */

static void test_drop_runt(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m = alloc_mbuf();

	assert_non_null(rte_pktmbuf_append(m, 10));
	expect_drop(&c->net, m, DP_DROP_RUNT);
	/* An IPv4 ethertype with only 10 bytes of IP header */
	m = mk_udp(TKX_PORT_ORDER_UDP, 0);
	rte_pktmbuf_trim(m, (uint16_t)(m->pkt_len - 24));
	expect_drop(&c->net, m, DP_DROP_RUNT);
	/* IHL says 60 bytes of header, the frame holds fewer */
	m = mk_udp(TKX_PORT_ORDER_UDP, 0);
	frame_of(m).ip->version_ihl = 0x4f;
	expect_drop(&c->net, m, DP_DROP_RUNT);
	/* ARP cut short */
	m = mk_arp(RTE_ARP_OP_REQUEST, US_IP, 0);
	rte_pktmbuf_trim(m, 4);
	expect_drop(&c->net, m, DP_DROP_RUNT);
}

static void test_drop_chained(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m = mk_udp(TKX_PORT_ORDER_UDP, 16), *tail = alloc_mbuf();

	assert_non_null(rte_pktmbuf_append(tail, 16));
	assert_int_equal(rte_pktmbuf_chain(m, tail), 0);
	expect_drop(&c->net, m, DP_DROP_CHAINED); /* frees both segments */
}

static void test_drop_l2(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m;

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).eth->dst_addr.addr_bytes[5] = 0x99;
	expect_drop(&c->net, m, DP_DROP_NOT_OUR_MAC);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).eth->src_addr.addr_bytes[0] |= 0x01;
	expect_drop(&c->net, m, DP_DROP_BAD_SRC);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV6);
	expect_drop(&c->net, m, DP_DROP_ETHERTYPE);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).eth->ether_type = RTE_BE16(RTE_ETHER_TYPE_VLAN);
	expect_drop(&c->net, m, DP_DROP_ETHERTYPE);
}

static void test_drop_arp(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m;

	expect_drop(&c->net, mk_arp(RTE_ARP_OP_REPLY, US_IP, 0), DP_DROP_ARP);
	m = mk_arp(RTE_ARP_OP_REQUEST, US_IP, 0);
	rte_pktmbuf_mtod_offset(m, struct rte_arp_hdr *, 14)->arp_plen = 16;
	expect_drop(&c->net, m, DP_DROP_ARP);
	expect_drop(&c->net, mk_arp(RTE_ARP_OP_REQUEST, ip4(198, 18, 0, 77), 0),
		    DP_DROP_NOT_OUR_IP);
}

static void test_drop_ip(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m;
	struct frame f;

	/* version 6 inside an IPv4 ethertype; IHL 4 */
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->version_ihl = 0x65;
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_HDR);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).ip->version_ihl = 0x44;
	expect_drop(&c->net, m, DP_DROP_IP_HDR);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	frame_of(m).ip->hdr_checksum ^= RTE_BE16(0x0100);
	expect_drop(&c->net, m, DP_DROP_IP_CSUM);
	/* The PMD's verdict wins when it has one */
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	m->ol_flags |= RTE_MBUF_F_RX_IP_CKSUM_BAD;
	expect_drop(&c->net, m, DP_DROP_IP_CSUM);

	/* total length beyond the frame, and below the header */
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->total_length = rte_cpu_to_be_16(rte_be_to_cpu_16(f.ip->total_length) + 1);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_LEN);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->total_length = RTE_BE16(19);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_LEN);

	/* first fragment (MF), later fragment (offset) */
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_MF_FLAG);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_FRAG);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->fragment_offset = RTE_BE16(185);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_FRAG);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->dst_addr = ip4(198, 18, 0, 99);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_NOT_OUR_IP);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8); /* broadcast MAC, broadcast IP */
	f = frame_of(m);
	memset(&f.eth->dst_addr, 0xff, RTE_ETHER_ADDR_LEN);
	f.ip->dst_addr = ip4(255, 255, 255, 255);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_NOT_OUR_IP);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->src_addr = ip4(224, 0, 0, 1);
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_BAD_SRC);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->src_addr = 0;
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_BAD_SRC);

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.ip->next_proto_id = IPPROTO_TCP;
	fix_ip_csum(f.ip);
	expect_drop(&c->net, m, DP_DROP_IP_PROTO);
}

static void test_drop_icmp(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m;

	expect_drop(&c->net, mk_icmp(RTE_IP_ICMP_ECHO_REPLY, 8, 0), DP_DROP_ICMP);
	expect_drop(&c->net, mk_icmp(13 /* timestamp */, 12, 0), DP_DROP_ICMP);
	/* 4 bytes of ICMP: shorter than its header */
	m = alloc_mbuf();
	put_ipv4(m, IPPROTO_ICMP, 4, 0, 0);
	expect_drop(&c->net, m, DP_DROP_ICMP);
	m = mk_icmp(RTE_IP_ICMP_ECHO_REQUEST, 16, 0);
	rte_pktmbuf_mtod_offset(m, uint8_t *, 14 + 20 + 8)[3] ^= 0x40;
	expect_drop(&c->net, m, DP_DROP_ICMP_CSUM);
}

static void test_drop_udp(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m;
	struct frame f;

	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.udp->dgram_len = RTE_BE16(7);
	expect_drop(&c->net, m, DP_DROP_UDP_LEN);
	m = mk_udp(TKX_PORT_ORDER_UDP, 8);
	f = frame_of(m);
	f.udp->dgram_len = RTE_BE16(17); /* IP payload is 16 */
	expect_drop(&c->net, m, DP_DROP_UDP_LEN);
	/* IP payload of 4 bytes: no room for a UDP header */
	m = alloc_mbuf();
	put_ipv4(m, IPPROTO_UDP, 4, 0, 0);
	expect_drop(&c->net, m, DP_DROP_UDP_LEN);

	expect_drop(&c->net, mk_udp(9999, 8), DP_DROP_UDP_PORT);
	expect_drop(&c->net, mk_udp(TKX_PORT_ORDER_TCP, 8), DP_DROP_UDP_PORT);

	m = mk_udp(TKX_PORT_ORDER_UDP, 32);
	frame_of(m).payload[5] ^= 0x01; /* payload changed after the checksum */
	expect_drop(&c->net, m, DP_DROP_UDP_CSUM);
	m = mk_udp(TKX_PORT_ORDER_UDP, 32);
	m->ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_BAD; /* the PMD's verdict */
	expect_drop(&c->net, m, DP_DROP_UDP_CSUM);
}

/* Every reason is reachable: the tests above hit each at least once. */
static void test_drop_every_reason_hit(void **state)
{
	static void (*const all[])(void **) = {
		test_drop_runt, test_drop_chained, test_drop_l2, test_drop_arp,
		test_drop_ip, test_drop_icmp, test_drop_udp,
	};
	struct ctx *c = *state;
	size_t i;
	int r;

	for (i = 0; i < RTE_DIM(all); i++)
		all[i](state);
	for (r = 0; r < DP_DROP__COUNT; r++)
		if (c->net.stats.drop[r] == 0)
			fail_msg("drop reason %s never hit", dp_drop_name((enum dp_drop)r));
	assert_int_equal(c->net.stats.rx_pkts, drops_total(&c->net.stats));
	assert_int_equal(c->net.stats.udp_delivered, 0);
}

/* ---- ARP and ICMP replies ---------------------------------------------------------- */

static void test_arp_reply_bytes(void **state)
{
	static const uint8_t want[42] = {
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* to the requester's MAC */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* from ours */
		0x08, 0x06,                         /* ARP */
		0x00, 0x01, 0x08, 0x00, 0x06, 0x04, /* Ethernet, IPv4, 6, 4 */
		0x00, 0x02,                         /* reply */
		0x02, 0x00, 0x00, 0x00, 0x00, 0x02, /* sender: us */
		198,  18,   0,    2,
		0x02, 0x00, 0x00, 0x00, 0x00, 0x01, /* target: the requester */
		198,  18,   0,    1,
	};
	struct ctx *c = *state;
	struct rte_mbuf *m = mk_arp(RTE_ARP_OP_REQUEST, US_IP, 60), *tx[2];
	struct dp_dgram out[1];
	unsigned n_tx = 1;

	tx[0] = NULL; /* a reply already queued: dp_net_rx appends after it */
	m->ol_flags = RTE_MBUF_F_RX_IP_CKSUM_GOOD | RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_int_equal(dp_net_rx(&c->net, &m, 1, 0, out, tx, &n_tx), 0);
	assert_int_equal(n_tx, 2);
	assert_ptr_equal(tx[1], m);
	assert_int_equal(m->pkt_len, 42); /* padding trimmed: the NIC pads */
	assert_int_equal(m->data_len, 42);
	assert_memory_equal(rte_pktmbuf_mtod(m, uint8_t *), want, sizeof(want));
	assert_int_equal(m->ol_flags, 0); /* RX verdicts are not TX requests */
	assert_int_equal(c->net.stats.arp_replies, 1);
	rte_pktmbuf_free(m);
}

static void test_icmp_echo_reply(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m = mk_icmp(RTE_IP_ICMP_ECHO_REQUEST, 56, 0), *tx[1];
	struct dp_dgram out[1];
	unsigned n_tx = 0, i;
	struct frame f;
	struct rte_icmp_hdr *icmp;
	uint8_t *d;

	assert_int_equal(dp_net_rx(&c->net, &m, 1, 0, out, tx, &n_tx), 0);
	assert_int_equal(n_tx, 1);
	assert_ptr_equal(tx[0], m);
	f = frame_of(m);
	assert_memory_equal(&f.eth->dst_addr, &PEER_MAC, 6);
	assert_memory_equal(&f.eth->src_addr, &US_MAC, 6);
	assert_int_equal(f.ip->src_addr, US_IP);
	assert_int_equal(f.ip->dst_addr, PEER_IP);
	assert_int_equal(rte_raw_cksum(f.ip, 20), 0xffff); /* valid IPv4 header checksum */
	assert_int_equal(m->pkt_len, 14 + 20 + 8 + 56);
	icmp = (struct rte_icmp_hdr *)f.udp;
	assert_int_equal(icmp->icmp_type, RTE_IP_ICMP_ECHO_REPLY);
	assert_int_equal(icmp->icmp_code, 0);
	assert_int_equal(icmp->icmp_ident, RTE_BE16(0x4242));
	assert_int_equal(icmp->icmp_seq_nb, RTE_BE16(7));
	assert_int_equal(rte_raw_cksum(icmp, 8 + 56), 0xffff); /* valid ICMP checksum */
	d = (uint8_t *)(icmp + 1);
	for (i = 0; i < 56; i++)
		assert_int_equal(d[i], (uint8_t)i);
	assert_int_equal(c->net.stats.icmp_replies, 1);
	rte_pktmbuf_free(m);

	/* A minimal frame padded to 60 bytes: the reply carries no padding */
	m = mk_icmp(RTE_IP_ICMP_ECHO_REQUEST, 0, 60);
	n_tx = 0;
	assert_int_equal(dp_net_rx(&c->net, &m, 1, 0, out, tx, &n_tx), 0);
	assert_int_equal(n_tx, 1);
	assert_int_equal(m->pkt_len, 14 + 20 + 8);
	rte_pktmbuf_free(m);
}

/* ---- UDP delivery ------------------------------------------------------------------ */

static void check_dgram(const struct dp_dgram *d, struct rte_mbuf *m, uint16_t dport,
			uint16_t len, uint64_t t)
{
	uint16_t i;

	assert_ptr_equal(d->m, m);
	assert_int_equal(d->len, len);
	assert_int_equal(d->dst_port, dport);
	assert_int_equal(d->rx_time, t);
	assert_memory_equal(&d->peer.mac, &PEER_MAC, 6);
	assert_int_equal(d->peer.ip, PEER_IP);
	assert_int_equal(d->peer.port, PEER_PORT);
	for (i = 0; i < len; i++)
		assert_int_equal(d->data[i], (uint8_t)(i * 13 + 5));
}

static void test_udp_deliver(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m[5], *tx[5];
	struct dp_dgram out[5];
	struct frame f;
	unsigned n_tx = 0, i;

	m[0] = mk_udp(TKX_PORT_ORDER_UDP, 100);
	m[1] = alloc_mbuf(); /* 4-byte payload padded to the Ethernet minimum */
	put_udp(m[1], TKX_PORT_MD_REQ, 4, 60);
	m[2] = mk_udp(TKX_PORT_ORDER_UDP, 32); /* checksum 0: none */
	frame_of(m[2]).udp->dgram_cksum = 0;
	m[3] = alloc_mbuf(); /* IPv4 options (IHL 6) */
	f = put_ipv4(m[3], IPPROTO_UDP, 8 + 20, 4, 0);
	f.udp->src_port = rte_cpu_to_be_16(PEER_PORT);
	f.udp->dst_port = rte_cpu_to_be_16(TKX_PORT_ORDER_UDP);
	f.udp->dgram_len = RTE_BE16(28);
	for (i = 0; i < 20; i++)
		f.payload[i] = (uint8_t)(i * 13 + 5);
	fix_udp_csum(f.ip, f.udp);
	m[4] = mk_udp(TKX_PORT_ORDER_UDP, TKX_MAX_DGRAM); /* the largest */

	assert_int_equal(dp_net_rx(&c->net, m, 5, 12345, out, tx, &n_tx), 5);
	assert_int_equal(n_tx, 0);
	check_dgram(&out[0], m[0], TKX_PORT_ORDER_UDP, 100, 12345);
	check_dgram(&out[1], m[1], TKX_PORT_MD_REQ, 4, 12345);
	check_dgram(&out[2], m[2], TKX_PORT_ORDER_UDP, 32, 12345);
	check_dgram(&out[3], m[3], TKX_PORT_ORDER_UDP, 20, 12345);
	check_dgram(&out[4], m[4], TKX_PORT_ORDER_UDP, TKX_MAX_DGRAM, 12345);
	assert_int_equal(c->net.stats.udp_delivered, 5);
	assert_int_equal(c->net.stats.rx_pkts, 5);
	assert_int_equal(drops_total(&c->net.stats), 0);
	for (i = 0; i < 5; i++)
		rte_pktmbuf_free(out[i].m);

	/* A PMD that vouches for the checksum is trusted (GOOD), as is NONE */
	m[0] = mk_udp(TKX_PORT_ORDER_UDP, 16);
	frame_of(m[0]).udp->dgram_cksum ^= 0x1111;
	m[0]->ol_flags = RTE_MBUF_F_RX_L4_CKSUM_GOOD;
	assert_int_equal(dp_net_rx(&c->net, m, 1, 0, out, tx, &n_tx), 1);
	rte_pktmbuf_free(out[0].m);
}

/* A full mixed burst: order of deliveries kept, every frame accounted for. */
static void test_burst_mixed(void **state)
{
	struct ctx *c = *state;
	struct rte_mbuf *m[DP_NET_BURST], *tx[DP_NET_BURST];
	struct dp_dgram out[DP_NET_BURST];
	unsigned i, n_tx = 0, nd, n_udp = 0;

	for (i = 0; i < DP_NET_BURST; i++) {
		switch (i % 4) {
		case 0:
			m[i] = mk_udp(TKX_PORT_ORDER_UDP, (uint16_t)(8 + i));
			n_udp++;
			break;
		case 1:
			m[i] = mk_arp(RTE_ARP_OP_REQUEST, US_IP, 60);
			break;
		case 2:
			m[i] = mk_icmp(RTE_IP_ICMP_ECHO_REQUEST, 8, 0);
			break;
		default:
			m[i] = mk_udp(7, 8);
			break;
		}
	}
	nd = dp_net_rx(&c->net, m, DP_NET_BURST, 1, out, tx, &n_tx);
	assert_int_equal(nd, n_udp);
	assert_int_equal(n_tx, DP_NET_BURST / 2);
	for (i = 0; i < nd; i++)
		assert_int_equal(out[i].len, 8 + 4 * i);
	assert_int_equal(c->net.stats.drop[DP_DROP_UDP_PORT], DP_NET_BURST / 4);
	assert_int_equal(c->net.stats.rx_pkts, c->net.stats.udp_delivered +
			 c->net.stats.arp_replies + c->net.stats.icmp_replies +
			 drops_total(&c->net.stats));
	for (i = 0; i < nd; i++)
		rte_pktmbuf_free(out[i].m);
	rte_pktmbuf_free_bulk(tx, n_tx);
}

/* ---- TX framing -------------------------------------------------------------------- */

static void check_built(struct rte_mbuf *m, const struct dp_peer *to, uint16_t sport,
			const uint8_t *payload, uint16_t len, uint8_t ttl)
{
	struct frame f = frame_of(m);

	assert_int_equal(m->pkt_len, DP_NET_HDR_LEN + len);
	assert_memory_equal(&f.eth->dst_addr, &to->mac, 6);
	assert_memory_equal(&f.eth->src_addr, &US_MAC, 6);
	assert_int_equal(f.eth->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
	assert_int_equal(f.ip->version_ihl, 0x45);
	assert_int_equal(rte_be_to_cpu_16(f.ip->total_length), 20 + 8 + len);
	assert_int_equal(f.ip->fragment_offset, RTE_BE16(RTE_IPV4_HDR_DF_FLAG));
	assert_int_equal(f.ip->time_to_live, ttl);
	assert_int_equal(f.ip->next_proto_id, IPPROTO_UDP);
	assert_int_equal(f.ip->src_addr, US_IP);
	assert_int_equal(f.ip->dst_addr, to->ip);
	assert_int_equal(rte_be_to_cpu_16(f.udp->src_port), sport);
	assert_int_equal(rte_be_to_cpu_16(f.udp->dst_port), to->port);
	assert_int_equal(rte_be_to_cpu_16(f.udp->dgram_len), 8 + len);
	assert_memory_equal(f.payload, payload, len);
}

static void test_tx_build_sw(void **state)
{
	struct ctx *c = *state;
	static uint8_t payload[TKX_MAX_DGRAM];
	struct dp_peer to = { .mac = PEER_MAC, .port = PEER_PORT, .ip = PEER_IP };
	struct dp_net peer_net;
	struct dp_dgram out[1];
	struct rte_mbuf *m, *tx[1];
	struct frame f;
	unsigned i, n_tx = 0;
	const uint16_t sizes[] = { 0, 1, 7, 64, 333, TKX_MAX_DGRAM };

	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 13 + 5);
	for (i = 0; i < RTE_DIM(sizes); i++) {
		m = dp_net_udp_alloc(&c->net, g_pool, &to, TKX_PORT_ORDER_UDP, payload, sizes[i]);
		assert_non_null(m);
		check_built(m, &to, TKX_PORT_ORDER_UDP, payload, sizes[i], 64);
		f = frame_of(m);
		assert_int_equal(m->ol_flags, 0);
		assert_int_equal(rte_raw_cksum(f.ip, 20), 0xffff); /* valid IPv4 checksum */
		assert_int_not_equal(f.udp->dgram_cksum, 0);
		assert_int_equal(rte_ipv4_udptcp_cksum(f.ip, f.udp), 0xffff); /* sums to -0 */
		rte_pktmbuf_free(m);
	}

	/* Round trip: what we build, a peer's dp_net accepts byte for byte. */
	memset(&peer_net, 0, sizeof(peer_net));
	{
		struct dp_net_conf pc;

		memset(&pc, 0, sizeof(pc));
		pc.ip = PEER_IP;
		pc.mac = PEER_MAC;
		pc.udp_ports[0] = PEER_PORT;
		pc.n_udp_ports = 1;
		assert_int_equal(dp_net_init(&peer_net, &pc), 0);
	}
	m = dp_net_udp_alloc(&c->net, g_pool, &to, TKX_PORT_ORDER_UDP, payload, 200);
	assert_non_null(m);
	assert_int_equal(dp_net_rx(&peer_net, &m, 1, 9, out, tx, &n_tx), 1);
	assert_int_equal(out[0].len, 200);
	assert_memory_equal(out[0].data, payload, 200);
	assert_memory_equal(&out[0].peer.mac, &US_MAC, 6);
	assert_int_equal(out[0].peer.ip, US_IP);
	assert_int_equal(out[0].peer.port, TKX_PORT_ORDER_UDP);
	rte_pktmbuf_free(out[0].m);

	/* Zero-copy: reserve, write, seal */
	m = alloc_mbuf();
	{
		uint8_t *p = dp_net_udp_reserve(m, 48);

		assert_non_null(p);
		memcpy(p, payload, 48);
	}
	dp_net_udp_seal(&c->net, m, &to, TKX_PORT_MD_REQ);
	check_built(m, &to, TKX_PORT_MD_REQ, payload, 48, 64);
	f = frame_of(m);
	assert_int_equal(rte_ipv4_udptcp_cksum(f.ip, f.udp), 0xffff);
	rte_pktmbuf_free(m);
}

static void test_tx_build_offload(void **state)
{
	struct ctx *c = *state;
	struct dp_net off;
	struct dp_peer to = { .mac = PEER_MAC, .port = PEER_PORT, .ip = PEER_IP };
	uint8_t payload[77];
	struct rte_mbuf *m;
	struct frame f;
	uint16_t ip_ck, udp_ck;
	unsigned i;

	(void)c;
	for (i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)i;
	init_net(&off, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM);
	m = dp_net_udp_alloc(&off, g_pool, &to, TKX_PORT_ORDER_UDP, payload, sizeof(payload));
	assert_non_null(m);
	check_built(m, &to, TKX_PORT_ORDER_UDP, payload, sizeof(payload), 64);
	f = frame_of(m);
	assert_int_equal(m->ol_flags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM |
			 RTE_MBUF_F_TX_UDP_CKSUM);
	assert_int_equal(m->l2_len, 14);
	assert_int_equal(m->l3_len, 20);
	assert_int_equal(f.ip->hdr_checksum, 0); /* the NIC fills it */
	assert_int_equal(f.udp->dgram_cksum, rte_ipv4_phdr_cksum(f.ip, m->ol_flags));
	/* Do what the NIC does; the result must be the software frame's checksums. */
	ip_ck = rte_ipv4_cksum(f.ip);
	udp_ck = (uint16_t)~rte_raw_cksum(f.udp, 8 + sizeof(payload));
	f.ip->hdr_checksum = ip_ck;
	f.udp->dgram_cksum = udp_ck;
	assert_int_equal(rte_raw_cksum(f.ip, 20), 0xffff);
	assert_int_equal(rte_ipv4_udptcp_cksum(f.ip, f.udp), 0xffff);
	rte_pktmbuf_free(m);

	/* IPv4 offload only: UDP in software */
	init_net(&off, RTE_ETH_TX_OFFLOAD_IPV4_CKSUM);
	m = dp_net_udp_alloc(&off, g_pool, &to, TKX_PORT_ORDER_UDP, payload, sizeof(payload));
	assert_non_null(m);
	f = frame_of(m);
	assert_int_equal(m->ol_flags, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
	assert_int_equal(f.ip->hdr_checksum, 0);
	f.ip->hdr_checksum = rte_ipv4_cksum(f.ip);
	assert_int_equal(rte_ipv4_udptcp_cksum(f.ip, f.udp), 0xffff);
	rte_pktmbuf_free(m);
}

static void test_tx_mcast(void **state)
{
	struct ctx *c = *state;
	struct dp_peer g;
	uint8_t payload[20] = { 0 };
	struct rte_mbuf *m;
	static const struct rte_ether_addr want = { { 0x01, 0x00, 0x5e, 0x01, 0x02, 0x03 } };

	dp_peer_mcast(&g, ip4(239, 1, 2, 3), TKX_PORT_MD);
	assert_memory_equal(&g.mac, &want, 6);
	assert_int_equal(g.ip, ip4(239, 1, 2, 3));
	assert_int_equal(g.port, TKX_PORT_MD);
	dp_peer_mcast(&g, ip4(239, 129, 2, 3), TKX_PORT_MD); /* bit 24 is not mapped */
	assert_memory_equal(&g.mac, &want, 6);

	m = dp_net_udp_alloc(&c->net, g_pool, &g, TKX_PORT_MD, payload, sizeof(payload));
	assert_non_null(m);
	check_built(m, &g, TKX_PORT_MD, payload, sizeof(payload), 1); /* multicast TTL */
	rte_pktmbuf_free(m);
}

static void test_tx_faults(void **state)
{
	struct ctx *c = *state;
	static uint8_t payload[TKX_MAX_DGRAM + 1];
	struct dp_peer to = { .mac = PEER_MAC, .port = PEER_PORT, .ip = PEER_IP };
	struct rte_mempool *tiny;
	struct rte_mbuf *m, *held[4];
	unsigned n = 0;

	/* Over the MTU */
	assert_null(dp_net_udp_alloc(&c->net, g_pool, &to, 1, payload, TKX_MAX_DGRAM + 1));
	assert_int_equal(c->net.stats.tx_too_big, 1);
	m = alloc_mbuf();
	assert_int_equal(dp_net_udp_build(&c->net, m, &to, 1, payload, TKX_MAX_DGRAM + 1),
			 -EMSGSIZE);
	assert_int_equal(m->pkt_len, 0); /* untouched */
	rte_pktmbuf_free(m);

	/* Pool empty */
	tiny = rte_pktmbuf_pool_create("test_tiny", 2, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
				       (int)rte_socket_id());
	assert_non_null(tiny);
	while (n < RTE_DIM(held) && (held[n] = rte_pktmbuf_alloc(tiny)) != NULL)
		n++;
	assert_null(dp_net_udp_alloc(&c->net, tiny, &to, 1, payload, 10));
	assert_int_equal(c->net.stats.tx_nombuf, 1);
	rte_pktmbuf_free_bulk(held, n);
	rte_mempool_free(tiny);
}

/* ---- ports: EAL args, bring-up, burst TX over the net_ring0 loopback ---------------- */

static void test_eal_args(void **state)
{
	struct dp_eal_args a;
	const char *vdevs[] = { "net_null0", "net_ring0" };
	char err[128];
	int i, found = 0;

	(void)state;
	assert_int_equal(dp_eal_args_default(&a, "x", "3", vdevs, 2, 64, err, sizeof(err)), 0);
	for (i = 0; i < a.argc; i++)
		if (strcmp(a.argv[i], "--vdev") == 0)
			found++;
	assert_int_equal(found, 2);
	assert_string_equal(a.argv[1], "-l");
	assert_string_equal(a.argv[2], "3");
	assert_null(a.argv[a.argc]);
	/* Full: -E2BIG, never a write past the end */
	while (dp_eal_args_add(&a, "--log-level=lib.eal:debug") == 0)
		;
	assert_int_equal(dp_eal_args_add(&a, "y"), -E2BIG);
	assert_true(a.argc < DP_EAL_MAX_ARGS);
	assert_null(a.argv[a.argc]);

	/* EAL is already up in this process */
	assert_int_equal(dp_eal_init(&a, err, sizeof(err)), -EALREADY);
	assert_non_null(strstr(err, "already"));
}

static void test_port_ring(void **state)
{
	struct ctx *c = *state;
	struct dp_port p;
	struct dp_port_conf pc;
	struct dp_peer to = { .mac = US_MAC, .port = TKX_PORT_ORDER_UDP, .ip = US_IP };
	struct rte_mbuf *pkts[DP_NET_BURST], *tx[DP_NET_BURST];
	struct dp_dgram out[DP_NET_BURST];
	uint8_t payload[64];
	char err[256];
	uint16_t id;
	unsigned i, avail, sent, got = 0, n_tx = 0, tries;

	assert_int_equal(dp_port_lookup("net_ring0", &id), 0);
	assert_int_equal(dp_port_lookup("no_such_port", &id), -ENODEV);
	memset(&pc, 0, sizeof(pc));
	pc.link_timeout_ms = 1000;
	pc.require_link = true;
	assert_int_equal(dp_port_setup(&p, (uint16_t)(RTE_MAX_ETHPORTS - 1), &pc, err, sizeof(err)),
			 -ENODEV);
	assert_non_null(strstr(err, "no such port"));
	assert_int_equal(dp_port_setup(&p, id, &pc, err, sizeof(err)), 0);
	assert_true(p.started);
	assert_true(p.link_up);
	assert_non_null(p.pool); /* the socket's shared pool */
	assert_string_equal(p.pool->name, "tkx_pool_s0");
	assert_true(p.pool->size >= dp_port_pool_size(&pc));
	assert_string_equal(p.name, "net_ring0");
	assert_int_equal(p.tx_offloads, 0); /* the ring offers none: software checksums */

	/* Frames built into the port's pool go out and come back through the ring. */
	memset(payload, 0xab, sizeof(payload));
	avail = rte_mempool_avail_count(p.pool);
	for (i = 0; i < 8; i++) {
		tx[i] = dp_net_udp_alloc(&c->net, p.pool, &to, PEER_PORT, payload, sizeof(payload));
		assert_non_null(tx[i]);
	}
	assert_int_equal(dp_net_tx_burst(&c->net, p.port_id, 0, tx, 8), 8);
	assert_int_equal(c->net.stats.tx_pkts, 8);
	assert_int_equal(c->net.stats.tx_bytes, 8 * (DP_NET_HDR_LEN + sizeof(payload)));
	for (tries = 0; got < 8 && tries < 100; tries++) {
		uint16_t nb = rte_eth_rx_burst(p.port_id, 0, pkts, DP_NET_BURST);
		unsigned nd = dp_net_rx(&c->net, pkts, nb, 0, out, tx, &n_tx);

		for (i = 0; i < nd; i++) {
			assert_int_equal(out[i].len, sizeof(payload));
			assert_memory_equal(out[i].data, payload, sizeof(payload));
			rte_pktmbuf_free(out[i].m);
		}
		got += nd;
	}
	assert_int_equal(got, 8);
	assert_int_equal(n_tx, 0);

	/* TX full: the ring holds 1023 frames; the rest are freed and counted, not lost. */
	sent = 0;
	for (i = 0; i < 40; i++) {
		unsigned k;

		for (k = 0; k < DP_NET_BURST; k++) {
			tx[k] = dp_net_udp_alloc(&c->net, p.pool, &to, PEER_PORT, payload, 16);
			assert_non_null(tx[k]);
		}
		sent += dp_net_tx_burst(&c->net, p.port_id, 0, tx, DP_NET_BURST);
	}
	assert_true(sent < 40 * DP_NET_BURST);
	assert_int_equal(c->net.stats.tx_full, 40 * DP_NET_BURST - sent);
	assert_true(c->net.stats.tx_retries >= DP_NET_TX_RETRIES);
	for (tries = 0; tries < 1000; tries++) { /* drain */
		uint16_t nb = rte_eth_rx_burst(p.port_id, 0, pkts, DP_NET_BURST);

		if (nb == 0)
			break;
		rte_pktmbuf_free_bulk(pkts, nb);
	}
	assert_int_equal(rte_mempool_avail_count(p.pool), avail);
	dp_port_close(&p);
	assert_false(p.started);
}

static void test_stats_format(void **state)
{
	struct ctx *c = *state;
	struct dp_net_stats sum;
	char buf[2048], small[16];
	size_t need;

	c->net.stats.rx_pkts = 5;
	c->net.stats.drop[DP_DROP_UDP_CSUM] = 3;
	memset(&sum, 0, sizeof(sum));
	dp_net_stats_sum(&sum, &c->net.stats);
	dp_net_stats_sum(&sum, &c->net.stats);
	assert_int_equal(sum.rx_pkts, 10);
	assert_int_equal(sum.drop[DP_DROP_UDP_CSUM], 6);
	need = dp_net_stats_format(&sum, "net.", buf, sizeof(buf));
	assert_true(need < sizeof(buf));
	assert_int_equal(strlen(buf), need);
	assert_non_null(strstr(buf, "net.rx_pkts 10\n"));
	assert_non_null(strstr(buf, "net.drop.udp_csum 6\n"));
	assert_non_null(strstr(buf, "net.drop.runt 0\n"));
	assert_int_equal(dp_net_stats_format(&sum, "net.", small, sizeof(small)), need);
	assert_int_equal(strlen(small), sizeof(small) - 1); /* cut, terminated */
	assert_string_equal(dp_drop_name(DP_DROP__COUNT), "?");
}

static void test_net_init_checks(void **state)
{
	struct dp_net n;
	struct dp_net_conf nc;

	(void)state;
	memset(&nc, 0, sizeof(nc));
	nc.mac = US_MAC;
	nc.udp_ports[0] = 1;
	nc.n_udp_ports = 1;
	assert_int_equal(dp_net_init(&n, &nc), -EINVAL); /* no IP */
	nc.ip = US_IP;
	nc.n_udp_ports = DP_NET_MAX_UDP_PORTS + 1;
	assert_int_equal(dp_net_init(&n, &nc), -EINVAL);
	nc.n_udp_ports = 2; /* port 0 in the list */
	assert_int_equal(dp_net_init(&n, &nc), -EINVAL);
	nc.n_udp_ports = 1;
	memset(&nc.mac, 0xff, 6);
	assert_int_equal(dp_net_init(&n, &nc), -EINVAL);
	nc.mac = US_MAC;
	assert_int_equal(dp_net_init(&n, &nc), 0);
	assert_int_equal(n.ttl, 64);
	assert_int_equal(n.mcast_ttl, 1);
	assert_int_equal((uintptr_t)&n.stats % RTE_CACHE_LINE_SIZE, 0);
}

int main(void)
{
	static struct dp_eal_args eal;
	const char *vdevs[] = { "net_ring0" };
	char err[256];
	int rc;

	US_IP = ip4(198, 18, 0, 2);
	PEER_IP = ip4(198, 18, 0, 1);
	rc = dp_eal_args_default(&eal, "test_dp_net", NULL, vdevs, 1, 128, err, sizeof(err));
	rc |= dp_eal_args_add(&eal, "--no-shconf");
	rc |= dp_eal_args_add(&eal, "--log-level=*:warning");
	if (rc != 0) {
		fprintf(stderr, "EAL args: %s\n", err);
		return 1;
	}
	rc = dp_eal_init(&eal, err, sizeof(err));
	if (rc == -EACCES || rc == -EPERM) {
		printf("SKIP: EAL cannot start here: %s\n", err);
		return 77;
	}
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	/* cache 0: avail_count is exact at every step (the leak check in teardown) */
	g_pool = rte_pktmbuf_pool_create("test_pool", POOL_SIZE, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					 (int)rte_socket_id());
	if (g_pool == NULL) {
		fprintf(stderr, "test pool: %s\n", rte_strerror(rte_errno));
		return 1;
	}

	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_net_init_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_runt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_chained, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_l2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_arp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_ip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_icmp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_udp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drop_every_reason_hit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_arp_reply_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_icmp_echo_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_udp_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_burst_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_build_sw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_build_offload, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_mcast, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tx_faults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stats_format, setup, teardown),
		cmocka_unit_test(test_eal_args),
		cmocka_unit_test_setup_teardown(test_port_ring, setup, teardown),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	rte_mempool_free(g_pool);
	dp_eal_fini();
	return rc;
}
