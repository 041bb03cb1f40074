/*
 * dp_net.h - tokexd's L2-L4 stage: classify an RX burst, answer ARP and ping, deliver UDP
 * datagrams for tokex ports; frame UDP replies and market data and burst them to the NIC.
 *
 * Role in the data path: every RX/session core owns one struct dp_net (per-core state and
 * counters, cache aligned) and runs, per loop pass:
 *
 *   rte_eth_rx_burst --mbufs--> dp_net_rx --dp_dgram[]--> session layer (caller)
 *                                  |  \--ARP/ICMP replies (rewritten in place)--> tx[]
 *                                  \--everything else: freed, counted per reason
 *   session layer --payload--> dp_net_udp_alloc / _build / _seal --mbuf--> dp_net_tx_burst
 *
 * Nothing here allocates memory other than mbufs, locks, prints or makes a system call.
 * The control plane reads counters by summing each core's struct dp_net_stats
 * (dp_net_stats_sum); a reader on another core sees each 64-bit counter whole (aligned
 * stores on x86-64) but possibly a few packets stale.
 *
 * Invariants:
 *  1. Every mbuf handed to dp_net_rx() leaves it exactly once: in out[] (the caller now
 *     owns it and frees it after using the payload), in tx[] (the caller sends it), or
 *     freed here with exactly one drop counter incremented.
 *     rx_pkts == udp_delivered + arp_replies + icmp_replies + sum(drop[]).
 *  2. A datagram is delivered only if: Ethernet to our MAC (or group), IPv4 with version 4,
 *     IHL >= 5, a valid header checksum, total length within the frame, not a fragment,
 *     to our IP, from a unicast source, UDP with 8 <= length <= IP payload, checksum zero
 *     or valid, to one of the configured ports. Its payload lies contiguous in one segment.
 *  3. Replies go to the MAC the request came from: no ARP table. Multicast destinations
 *     map to 01:00:5e + the group's low 23 bits (dp_peer_mcast).
 *  4. Every mbuf given to dp_net_tx_burst() is either taken by the NIC or freed and counted
 *     in tx_full; none is silently lost and none stays with the caller.
 *
 * Addresses: IPv4 addresses are kept in network byte order (as on the wire); UDP ports in
 * host order.
 */
#ifndef TOKEX_DP_NET_H
#define TOKEX_DP_NET_H

#include <stddef.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#define DP_NET_BURST 32          /* the RX/TX burst size the cores use */
#define DP_NET_MAX_UDP_PORTS 8   /* tokex services one dp_net delivers */
#define DP_NET_TX_RETRIES 4      /* extra rte_eth_tx_burst calls before giving up */
#define DP_NET_HDR_LEN 42        /* Ethernet 14 + IPv4 20 (no options) + UDP 8 */
#define DP_NET_MAX_PAYLOAD 1472  /* 1500-byte MTU less IPv4 and UDP headers */

/* Why a frame was dropped. Order is the order of the checks. */
enum dp_drop {
	DP_DROP_RUNT = 0,      /* frame shorter than the headers it must carry */
	DP_DROP_CHAINED,       /* multi-segment mbuf: headers/payload not contiguous */
	DP_DROP_NOT_OUR_MAC,   /* unicast to another MAC (promiscuous NIC, TAP) */
	DP_DROP_BAD_SRC,       /* group source MAC, or source IP 0/multicast/broadcast */
	DP_DROP_ETHERTYPE,     /* neither IPv4 nor ARP (IPv6, VLAN, LLDP...) */
	DP_DROP_ARP,           /* ARP that is not an Ethernet/IPv4 request */
	DP_DROP_IP_HDR,        /* IP version not 4, or IHL < 5 */
	DP_DROP_IP_CSUM,       /* IPv4 header checksum wrong */
	DP_DROP_IP_LEN,        /* total length below the header or beyond the frame */
	DP_DROP_IP_FRAG,       /* a fragment (MF or an offset): tokex never fragments */
	DP_DROP_NOT_OUR_IP,    /* IPv4 destination or ARP target is not our address */
	DP_DROP_IP_PROTO,      /* neither UDP nor ICMP */
	DP_DROP_ICMP,          /* ICMP other than echo request, or truncated */
	DP_DROP_ICMP_CSUM,     /* ICMP checksum wrong */
	DP_DROP_UDP_LEN,       /* UDP length < 8 or beyond the IP payload */
	DP_DROP_UDP_PORT,      /* no tokex service on that port */
	DP_DROP_UDP_CSUM,      /* UDP checksum non-zero and wrong */
	DP_DROP__COUNT
};

/* Per-core counters: written only by the owning core. 11 + DP_DROP__COUNT counters,
 * 224 bytes (4 cache lines). */
struct dp_net_stats {
	uint64_t rx_pkts;       /* frames given to dp_net_rx */
	uint64_t rx_bytes;
	uint64_t udp_delivered;
	uint64_t arp_replies;
	uint64_t icmp_replies;
	uint64_t tx_pkts;       /* frames the NIC took (dp_net_tx_burst) */
	uint64_t tx_bytes;
	uint64_t tx_full;       /* frames the NIC would not take after retries: freed */
	uint64_t tx_retries;    /* extra rte_eth_tx_burst calls */
	uint64_t tx_nombuf;     /* dp_net_udp_alloc: pool empty */
	uint64_t tx_too_big;    /* dp_net_udp_alloc/_build: payload over the limit */
	uint64_t drop[DP_DROP__COUNT];
};

/* Where a datagram came from, i.e. where its reply goes. 12 bytes. */
struct dp_peer {
	struct rte_ether_addr mac;
	uint16_t port;  /* UDP port, host order */
	uint32_t ip;    /* network order */
};

/* One delivered datagram. 40 bytes. */
struct dp_dgram {
	struct rte_mbuf *m;     /* holds the payload; the caller frees it when done */
	const uint8_t *data;    /* the UDP payload, inside m */
	uint64_t rx_time;       /* the caller's timestamp for the burst (dp_net_rx) */
	struct dp_peer peer;    /* sender: Ethernet source, IP source, UDP source port */
	uint16_t len;           /* payload bytes */
	uint16_t dst_port;      /* host order: which tokex service it was sent to */
};

/* What dp_net_init() needs. */
struct dp_net_conf {
	uint32_t ip;                 /* our IPv4 address, network order */
	struct rte_ether_addr mac;   /* our MAC (struct dp_port.mac) */
	uint16_t udp_ports[DP_NET_MAX_UDP_PORTS]; /* host order, e.g. TKX_PORT_ORDER_UDP */
	unsigned n_udp_ports;
	uint64_t tx_offloads;        /* struct dp_port.tx_offloads: checksum offloads to use */
	uint8_t ttl;                 /* unicast TTL, 0: 64 */
	uint8_t mcast_ttl;           /* multicast TTL, 0: 1 (stays on the LAN) */
};

/* One core's packet-layer state. Fields the RX loop reads first, then the counters the
 * core writes, each group starting on its own cache line. */
struct dp_net {
	uint32_t ip;
	struct rte_ether_addr mac;
	uint8_t ttl;
	uint8_t mcast_ttl;
	uint16_t n_udp_ports;
	uint16_t udp_ports[DP_NET_MAX_UDP_PORTS];
	uint64_t tx_ol_flags;        /* RTE_MBUF_F_TX_* set on every frame dp_net builds */
	struct dp_net_stats stats __rte_cache_aligned;
} __rte_cache_aligned;

/* Fills net from c, counters zero. 0, or -EINVAL (no address, zero/too many ports). */
int dp_net_init(struct dp_net *net, const struct dp_net_conf *c);

/*
 * Classifies n frames (n <= DP_NET_BURST is the intended use; any n works), prefetching a
 * few ahead. Datagrams for us go to out[] with rx_time; ARP requests for our IP and ICMP
 * echo requests to it are rewritten in place into replies and appended to tx[n_tx...];
 * the rest are freed and counted. out[] must have room for n entries and tx[] for
 * *n_tx + n; *n_tx is advanced by the replies added. Returns the entries written to out[].
 */
unsigned dp_net_rx(struct dp_net *net, struct rte_mbuf **pkts, unsigned n, uint64_t rx_time,
		   struct dp_dgram *out, struct rte_mbuf **tx, unsigned *n_tx);

/* ---- TX framing -------------------------------------------------------------------- */

/* Sets p to a multicast group: MAC 01:00:5e + the low 23 bits of group (network order). */
void dp_peer_mcast(struct dp_peer *p, uint32_t group, uint16_t port);

/* Zero-copy build, step 1: makes the empty mbuf m a frame of DP_NET_HDR_LEN + len bytes and
 * returns where the len payload bytes go; NULL when len > DP_NET_MAX_PAYLOAD or m lacks the
 * room. Step 2, once the payload is written: dp_net_udp_seal(). */
uint8_t *dp_net_udp_reserve(struct rte_mbuf *m, uint16_t len);

/* Writes the Ethernet, IPv4 (DF, no options) and UDP headers of a frame made by
 * dp_net_udp_reserve(), from our MAC/IP and src_port to peer `to`. Checksums: the IPv4
 * header's and the UDP one are left to the NIC when net's offloads say so (pseudo-header
 * sum in the UDP field, ol_flags, l2_len, l3_len), else computed here. */
void dp_net_udp_seal(const struct dp_net *net, struct rte_mbuf *m, const struct dp_peer *to,
		     uint16_t src_port);

/* reserve + copy payload + seal. 0, or -EMSGSIZE (payload too big for m or the MTU). */
int dp_net_udp_build(const struct dp_net *net, struct rte_mbuf *m, const struct dp_peer *to,
		     uint16_t src_port, const void *payload, uint16_t len);

/* Allocates an mbuf from mp and builds the frame in it. NULL when the pool is empty
 * (counted in tx_nombuf) or the payload too big (tx_too_big). */
struct rte_mbuf *dp_net_udp_alloc(struct dp_net *net, struct rte_mempool *mp,
				  const struct dp_peer *to, uint16_t src_port,
				  const void *payload, uint16_t len);

/* Sends n frames on (port_id, queue), calling rte_eth_tx_burst up to 1 + DP_NET_TX_RETRIES
 * times for what it does not take; frames still refused are freed and counted in tx_full.
 * The caller no longer owns any of pkts[]. Returns the number the NIC took. */
unsigned dp_net_tx_burst(struct dp_net *net, uint16_t port_id, uint16_t queue,
			 struct rte_mbuf **pkts, unsigned n);

/* ---- Counters (control plane) ------------------------------------------------------ */

/* The short name of a drop reason ("ip_csum"), or "?" when out of range. */
const char *dp_drop_name(enum dp_drop reason);

/* sum += s, counter by counter: the control plane's view across cores. */
void dp_net_stats_sum(struct dp_net_stats *sum, const struct dp_net_stats *s);

/* Writes one "<prefix><name> <value>\n" line per counter into buf (NUL-terminated, cut at
 * len). Names: rx_pkts ... tx_too_big, then drop.<reason>. Returns the length it needed. */
size_t dp_net_stats_format(const struct dp_net_stats *s, const char *prefix, char *buf,
			   size_t len);

#endif /* TOKEX_DP_NET_H */
