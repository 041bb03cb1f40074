/*
 * net_echo.c - a test appliance for the packet layer: EAL + one port + dp_net on one core,
 * answering ARP and ping and echoing every tokex UDP datagram back to its sender (standing
 * in for the session layer: a fresh frame built by dp_net_udp_alloc, not the RX buffer).
 *
 * Bounded: stops after --seconds, --max-pkts received frames, or SIGINT/SIGTERM. Prints a
 * "ready ..." line once the port is up, then at exit one "<name> <value>" line per counter
 * (net.* from dp_net, port.* from the ethdev) and "exit <reason>", all on stdout.
 *
 *   net_echo [--vdev SPEC]... [--port NAME|ID] [--ip A.B.C.D] [--udp-port N]...
 *            [--seconds N] [--max-pkts N] [--link-timeout-ms N] [--sw-csum]
 *            [--lcores LIST] [--idle-us N] [-- EAL options...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <tokex/proto.h>

#include "dp_net.h"
#include "dp_port.h"

#define MAX_VDEVS 4
#define STATS_BUF 4096

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	g_stop = sig;
}

struct opts {
	const char *vdevs[MAX_VDEVS];
	unsigned n_vdevs;
	const char *port;
	const char *lcores;
	uint32_t ip;
	uint16_t udp_ports[DP_NET_MAX_UDP_PORTS];
	unsigned n_udp_ports;
	unsigned long seconds;
	unsigned long max_pkts;
	unsigned long link_timeout_ms;
	unsigned long idle_us;
	int sw_csum;
};

static void usage(FILE *f, const char *prog)
{
	fprintf(f,
		"usage: %s [options] [-- EAL options]\n"
		"  --vdev SPEC          DPDK virtual device, repeatable (default "
		"net_tap0,iface=tkx0)\n"
		"  --port NAME|ID       ethdev to serve (default: the first)\n"
		"  --ip A.B.C.D         our IPv4 address (default 198.18.0.2)\n"
		"  --udp-port N         UDP port to echo on, repeatable (default %d)\n"
		"  --seconds N          stop after N seconds, 1..3600 (default 10)\n"
		"  --max-pkts N         stop after N received frames (default 1000000)\n"
		"  --link-timeout-ms N  wait for link up at start, 0..60000 (default 3000)\n"
		"  --sw-csum            software checksums, no NIC offloads\n"
		"  --lcores LIST        EAL -l list (default: first allowed CPU)\n"
		"  --idle-us N          sleep N us after an empty poll, 0 = busy poll (default 100)\n",
		prog, TKX_PORT_ORDER_UDP);
}

/* strtoul with the whole string consumed and bounds checked. */
static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] == '-' || s[0] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o, int *eal_first)
{
	enum { O_VDEV = 256, O_PORT, O_IP, O_UDP, O_SEC, O_MAX, O_LINK, O_SW, O_LCORES, O_IDLE };
	static const struct option longopts[] = {
		{ "vdev", required_argument, NULL, O_VDEV },
		{ "port", required_argument, NULL, O_PORT },
		{ "ip", required_argument, NULL, O_IP },
		{ "udp-port", required_argument, NULL, O_UDP },
		{ "seconds", required_argument, NULL, O_SEC },
		{ "max-pkts", required_argument, NULL, O_MAX },
		{ "link-timeout-ms", required_argument, NULL, O_LINK },
		{ "sw-csum", no_argument, NULL, O_SW },
		{ "lcores", required_argument, NULL, O_LCORES },
		{ "idle-us", required_argument, NULL, O_IDLE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct in_addr a;
	unsigned long v;
	int c;

	memset(o, 0, sizeof(*o));
	inet_pton(AF_INET, "198.18.0.2", &a);
	o->ip = a.s_addr;
	o->seconds = 10;
	o->max_pkts = 1000000;
	o->link_timeout_ms = 3000;
	o->idle_us = 100;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case O_VDEV:
			if (o->n_vdevs == MAX_VDEVS) {
				fprintf(stderr, "at most %d --vdev\n", MAX_VDEVS);
				return -EINVAL;
			}
			o->vdevs[o->n_vdevs++] = optarg;
			break;
		case O_PORT:
			o->port = optarg;
			break;
		case O_IP:
			if (inet_pton(AF_INET, optarg, &a) != 1 || a.s_addr == 0) {
				fprintf(stderr, "--ip: not an IPv4 address: %s\n", optarg);
				return -EINVAL;
			}
			o->ip = a.s_addr;
			break;
		case O_UDP:
			if (parse_ulong(optarg, 1, 65535, &v) != 0 ||
			    o->n_udp_ports == DP_NET_MAX_UDP_PORTS) {
				fprintf(stderr, "--udp-port: 1..65535, at most %d: %s\n",
					DP_NET_MAX_UDP_PORTS, optarg);
				return -EINVAL;
			}
			o->udp_ports[o->n_udp_ports++] = (uint16_t)v;
			break;
		case O_SEC:
			if (parse_ulong(optarg, 1, 3600, &o->seconds) != 0) {
				fprintf(stderr, "--seconds: 1..3600: %s\n", optarg);
				return -EINVAL;
			}
			break;
		case O_MAX:
			if (parse_ulong(optarg, 1, ULONG_MAX, &o->max_pkts) != 0) {
				fprintf(stderr, "--max-pkts: a positive count: %s\n", optarg);
				return -EINVAL;
			}
			break;
		case O_LINK:
			if (parse_ulong(optarg, 0, 60000, &o->link_timeout_ms) != 0) {
				fprintf(stderr, "--link-timeout-ms: 0..60000: %s\n", optarg);
				return -EINVAL;
			}
			break;
		case O_SW:
			o->sw_csum = 1;
			break;
		case O_LCORES:
			o->lcores = optarg;
			break;
		case O_IDLE:
			if (parse_ulong(optarg, 0, 100000, &o->idle_us) != 0) {
				fprintf(stderr, "--idle-us: 0..100000: %s\n", optarg);
				return -EINVAL;
			}
			break;
		case 'h':
			usage(stdout, argv[0]);
			exit(0);
		default:
			usage(stderr, argv[0]);
			return -EINVAL;
		}
	}
	if (o->n_vdevs == 0)
		o->vdevs[o->n_vdevs++] = "net_tap0,iface=tkx0";
	if (o->n_udp_ports == 0)
		o->udp_ports[o->n_udp_ports++] = TKX_PORT_ORDER_UDP;
	*eal_first = optind; /* getopt_long stops after "--": the rest go to EAL */
	return 0;
}

static void print_counters(const struct dp_net *net, uint16_t port_id)
{
	static char buf[STATS_BUF];
	struct rte_eth_stats es;

	dp_net_stats_format(&net->stats, "net.", buf, sizeof(buf));
	fputs(buf, stdout);
	memset(&es, 0, sizeof(es));
	if (rte_eth_stats_get(port_id, &es) == 0)
		printf("port.ipackets %" PRIu64 "\nport.opackets %" PRIu64 "\n"
		       "port.imissed %" PRIu64 "\nport.ierrors %" PRIu64 "\n"
		       "port.oerrors %" PRIu64 "\nport.rx_nombuf %" PRIu64 "\n",
		       es.ipackets, es.opackets, es.imissed, es.ierrors, es.oerrors,
		       es.rx_nombuf);
}

int main(int argc, char **argv)
{
	static struct dp_eal_args eal;
	static struct dp_net net;
	struct dp_port port;
	struct dp_port_conf pc;
	struct dp_net_conf nc;
	struct opts o;
	struct sigaction sa;
	char err[256], mac[RTE_ETHER_ADDR_FMT_SIZE], ip[INET_ADDRSTRLEN];
	uint16_t port_id = 0;
	uint64_t hz, deadline;
	const char *why = "time";
	int eal_first, rc, i;

	if (parse_args(argc, argv, &o, &eal_first) != 0)
		return 2;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	rc = dp_eal_args_default(&eal, argv[0], o.lcores, o.vdevs, o.n_vdevs, 0, err,
				 sizeof(err));
	for (i = eal_first; rc == 0 && i < argc; i++)
		rc = dp_eal_args_add(&eal, argv[i]);
	if (rc != 0) {
		fprintf(stderr, "net_echo: EAL arguments: %s\n", rte_strerror(-rc));
		return 1;
	}
	rc = dp_eal_init(&eal, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "net_echo: %s\n", err);
		return 1;
	}

	if (o.port != NULL && dp_port_lookup(o.port, &port_id) != 0) {
		fprintf(stderr, "net_echo: no port %s\n", o.port);
		dp_eal_fini();
		return 1;
	}
	if (o.port == NULL && rte_eth_dev_count_avail() == 0) {
		fprintf(stderr, "net_echo: no port: give a --vdev or a NIC\n");
		dp_eal_fini();
		return 1;
	}
	if (o.port == NULL)
		port_id = rte_eth_find_next(0);

	memset(&pc, 0, sizeof(pc));
	pc.link_timeout_ms = (uint32_t)o.link_timeout_ms;
	pc.sw_csum = o.sw_csum != 0;
	pc.n_rxd = 512;
	pc.n_txd = 512;
	rc = dp_port_setup(&port, port_id, &pc, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "net_echo: %s\n", err);
		dp_eal_fini();
		return 1;
	}

	memset(&nc, 0, sizeof(nc));
	nc.ip = o.ip;
	nc.mac = port.mac;
	memcpy(nc.udp_ports, o.udp_ports, sizeof(nc.udp_ports));
	nc.n_udp_ports = o.n_udp_ports;
	nc.tx_offloads = port.tx_offloads;
	rc = dp_net_init(&net, &nc);
	if (rc != 0) {
		fprintf(stderr, "net_echo: dp_net_init: %s\n", strerror(-rc));
		dp_port_close(&port);
		dp_eal_fini();
		return 1;
	}

	rte_ether_format_addr(mac, sizeof(mac), &port.mac);
	inet_ntop(AF_INET, &o.ip, ip, sizeof(ip));
	printf("ready port=%u name=%s mac=%s ip=%s link=%s socket=%d tx_offloads=0x%" PRIx64
	       " rx_offloads=0x%" PRIx64 "\n",
	       port.port_id, port.name, mac, ip, port.link_up ? "up" : "down", port.socket,
	       port.tx_offloads, port.rx_offloads);
	fflush(stdout);

	hz = rte_get_tsc_hz();
	deadline = rte_rdtsc() + (uint64_t)o.seconds * hz;
	for (;;) {
		struct rte_mbuf *pkts[DP_NET_BURST], *tx[DP_NET_BURST];
		struct dp_dgram dg[DP_NET_BURST];
		uint64_t now = rte_rdtsc();
		unsigned n_tx = 0, nd, k;
		uint16_t nb;

		if (g_stop) {
			why = "signal";
			break;
		}
		if (now >= deadline)
			break;
		if (net.stats.rx_pkts >= o.max_pkts) {
			why = "count";
			break;
		}
		nb = rte_eth_rx_burst(port.port_id, 0, pkts, DP_NET_BURST);
		if (nb == 0) {
			if (o.idle_us != 0)
				rte_delay_us_sleep((unsigned)o.idle_us);
			continue;
		}
		nd = dp_net_rx(&net, pkts, nb, now, dg, tx, &n_tx);
		/* The session layer's part: a reply per datagram, in a frame of its own. */
		for (k = 0; k < nd; k++) {
			struct rte_mbuf *m = dp_net_udp_alloc(&net, port.pool, &dg[k].peer,
							      dg[k].dst_port, dg[k].data,
							      dg[k].len);

			if (m != NULL)
				tx[n_tx++] = m;
			rte_pktmbuf_free(dg[k].m);
		}
		if (n_tx != 0)
			dp_net_tx_burst(&net, port.port_id, 0, tx, n_tx);
	}

	print_counters(&net, port.port_id);
	printf("exit %s\n", why);
	fflush(stdout);
	dp_port_close(&port);
	dp_eal_fini();
	return 0;
}
