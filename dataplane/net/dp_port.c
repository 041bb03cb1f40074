/*
 * dp_port.c - EAL start-up and ethdev bring-up: runs once on the main thread before the
 * lcores launch; turns a device (NIC or vdev) into a started port with queues, a mempool
 * on its socket and the checksum offloads it has (struct dp_port).
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_* */
#include "dp_port.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#define DP_DEFAULT_MEM_MB 512
#define DP_DEFAULT_DESC 1024
#define DP_DEFAULT_CACHE 256
#define DP_DEFAULT_LINK_MS 3000
#define DP_POOL_MIN 8191
#define DP_BURST 32
#define DP_LINK_POLL_US 10000

/* The checksum offloads dp_net knows how to use; anything else stays off. */
#define DP_TX_CSUM (RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM)
#define DP_RX_CSUM (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM)

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- EAL arguments ----------------------------------------------------------------- */

int dp_eal_args_add(struct dp_eal_args *a, const char *arg)
{
	size_t len = strlen(arg) + 1;

	/* One slot stays for the NULL that ends argv, as main()'s argv has. */
	if (a->argc + 1 >= DP_EAL_MAX_ARGS || len > sizeof(a->buf) - a->used)
		return -E2BIG;
	memcpy(a->buf + a->used, arg, len);
	a->argv[a->argc++] = a->buf + a->used;
	a->argv[a->argc] = NULL;
	a->used += len;
	return 0;
}

int dp_eal_args_addf(struct dp_eal_args *a, const char *fmt, ...)
{
	char tmp[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -E2BIG;
	return dp_eal_args_add(a, tmp);
}

/* The first CPU this thread may run on: -l 0 fails where CPU 0 is not ours (cgroups,
 * taskset), and a shared CI box often hands out other CPUs. */
static int first_allowed_cpu(void)
{
	cpu_set_t set;
	int cpu;

	CPU_ZERO(&set);
	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return 0;
	for (cpu = 0; cpu < CPU_SETSIZE; cpu++)
		if (CPU_ISSET(cpu, &set))
			return cpu;
	return 0;
}

int dp_eal_args_default(struct dp_eal_args *a, const char *prog, const char *lcores,
			const char *const *vdevs, unsigned n_vdevs, unsigned mem_mb,
			char *err, size_t errlen)
{
	int rc = 0;
	unsigned i;

	memset(a, 0, sizeof(*a));
	rc |= dp_eal_args_add(a, prog != NULL ? prog : "tokexd");
	rc |= dp_eal_args_add(a, "-l");
	if (lcores != NULL)
		rc |= dp_eal_args_add(a, lcores);
	else
		rc |= dp_eal_args_addf(a, "%d", first_allowed_cpu());
	rc |= dp_eal_args_add(a, "--no-huge");
	rc |= dp_eal_args_add(a, "--no-pci");
	rc |= dp_eal_args_add(a, "-m");
	rc |= dp_eal_args_addf(a, "%u", mem_mb != 0 ? mem_mb : DP_DEFAULT_MEM_MB);
	rc |= dp_eal_args_add(a, "--file-prefix");
	rc |= dp_eal_args_addf(a, "tokex-%ld", (long)getpid());
	/* The telemetry socket is a thread and a file in the runtime dir: not wanted on a
	 * core-pinned appliance; the control plane reads counters itself. */
	rc |= dp_eal_args_add(a, "--no-telemetry");
	for (i = 0; i < n_vdevs; i++) {
		rc |= dp_eal_args_add(a, "--vdev");
		rc |= dp_eal_args_add(a, vdevs[i]);
	}
	if (rc != 0) {
		set_err(err, errlen, "EAL arguments do not fit (%d slots, %d bytes)",
			DP_EAL_MAX_ARGS, DP_EAL_ARGBUF);
		return -E2BIG;
	}
	return 0;
}

int dp_eal_init(struct dp_eal_args *a, char *err, size_t errlen)
{
	int rc = rte_eal_init(a->argc, a->argv);

	if (rc < 0) {
		int e = rte_errno != 0 ? rte_errno : EINVAL;

		set_err(err, errlen, "rte_eal_init failed: %s%s", rte_strerror(e),
			e == EALREADY ? " (EAL already started in this process)" :
			e == EACCES ? " (run as root, or give the process CAP_SYS_ADMIN)" :
			e == ENOMEM ? " (raise -m or free memory)" : "");
		return -e;
	}
	return 0;
}

/* Empties and removes EAL's runtime directory (/var/run/dpdk/<prefix>): EAL leaves its
 * config and fbarray files there (megabytes on a tmpfs) for secondary processes, and with a
 * prefix per pid they would pile up run after run. Only plain entries of a directory under
 * a "dpdk" folder are unlinked; nothing recursive. A secondary still attached keeps its
 * mappings (unlinked files stay mapped). */
static void remove_runtime_dir(const char *dir)
{
	struct dirent *e;
	DIR *d;

	if (dir[0] != '/' || strstr(dir, "/dpdk/") == NULL)
		return;
	d = opendir(dir);
	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_type != DT_DIR)
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	rmdir(dir);
}

void dp_eal_fini(void)
{
	char dir[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	remove_runtime_dir(dir);
}

/* ---- Ports ------------------------------------------------------------------------- */

int dp_port_lookup(const char *name, uint16_t *port_id)
{
	char *end;
	unsigned long v;

	if (rte_eth_dev_get_port_by_name(name, port_id) == 0)
		return 0;
	errno = 0;
	v = strtoul(name, &end, 10);
	if (errno == 0 && end != name && *end == '\0' && v < RTE_MAX_ETHPORTS &&
	    rte_eth_dev_is_valid_port((uint16_t)v)) {
		*port_id = (uint16_t)v;
		return 0;
	}
	return -ENODEV;
}

uint32_t dp_port_pool_size(const struct dp_port_conf *c)
{
	uint32_t rxq = c->n_rxq ? c->n_rxq : 1, txq = c->n_txq ? c->n_txq : 1;
	uint32_t rxd = c->n_rxd ? c->n_rxd : DP_DEFAULT_DESC;
	uint32_t txd = c->n_txd ? c->n_txd : DP_DEFAULT_DESC;
	uint32_t cache = c->mbuf_cache ? c->mbuf_cache : DP_DEFAULT_CACHE;
	uint32_t lcores = c->n_lcores ? c->n_lcores : 1;
	uint32_t n;

	n = rxq * rxd + txq * txd + (rxq + txq) * DP_BURST + lcores * (cache + 2 * DP_BURST);
	return n < DP_POOL_MIN ? DP_POOL_MIN : n;
}

static struct rte_mempool *socket_pool(int socket, const struct dp_port_conf *c,
				       char *err, size_t errlen)
{
	char name[RTE_MEMPOOL_NAMESIZE];
	struct rte_mempool *mp;
	uint32_t n = c->n_mbufs ? c->n_mbufs : dp_port_pool_size(c);
	unsigned cache = c->mbuf_cache ? c->mbuf_cache : DP_DEFAULT_CACHE;

	snprintf(name, sizeof(name), "tkx_pool_s%d", socket);
	mp = rte_mempool_lookup(name);
	if (mp != NULL)
		return mp;
	/* The mempool caps the per-lcore cache at RTE_MEMPOOL_CACHE_MAX_SIZE and at n/1.5. */
	if (cache > RTE_MEMPOOL_CACHE_MAX_SIZE)
		cache = RTE_MEMPOOL_CACHE_MAX_SIZE;
	if (cache * 3 / 2 > n)
		cache = n * 2 / 3;
	mp = rte_pktmbuf_pool_create(name, n, cache, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
	if (mp == NULL)
		set_err(err, errlen, "mempool %s (%u mbufs, socket %d): %s; raise EAL -m", name,
			n, socket, rte_strerror(rte_errno));
	return mp;
}

int dp_port_wait_link(struct dp_port *p, uint32_t timeout_ms)
{
	struct rte_eth_link link;
	uint32_t waited_us = 0;

	for (;;) {
		memset(&link, 0, sizeof(link));
		if (rte_eth_link_get_nowait(p->port_id, &link) == 0 &&
		    link.link_status == RTE_ETH_LINK_UP) {
			p->link_up = true;
			p->link_speed = link.link_speed;
			return 0;
		}
		if (waited_us >= timeout_ms * 1000u)
			break;
		rte_delay_us_sleep(DP_LINK_POLL_US);
		waited_us += DP_LINK_POLL_US;
	}
	p->link_up = false;
	p->link_speed = 0;
	return -ETIMEDOUT;
}

int dp_port_setup(struct dp_port *p, uint16_t port_id, const struct dp_port_conf *c,
		  char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	struct rte_eth_conf conf;
	struct rte_eth_rxconf rxconf;
	struct rte_eth_txconf txconf;
	uint16_t q;
	int rc, socket;

	memset(p, 0, sizeof(*p));
	p->port_id = port_id;
	p->n_rxq = c->n_rxq ? c->n_rxq : 1;
	p->n_txq = c->n_txq ? c->n_txq : 1;
	p->n_rxd = c->n_rxd ? c->n_rxd : DP_DEFAULT_DESC;
	p->n_txd = c->n_txd ? c->n_txd : DP_DEFAULT_DESC;

	if (!rte_eth_dev_is_valid_port(port_id)) {
		set_err(err, errlen, "port %u: no such port (check the --vdev/-a EAL options)",
			port_id);
		return -ENODEV;
	}
	if (rte_eth_dev_get_name_by_port(port_id, p->name) != 0)
		snprintf(p->name, sizeof(p->name), "port%u", port_id);
	rc = rte_eth_dev_info_get(port_id, &info);
	if (rc != 0) {
		set_err(err, errlen, "%s: dev_info: %s", p->name, rte_strerror(-rc));
		return rc;
	}
	if (p->n_rxq > info.max_rx_queues || p->n_txq > info.max_tx_queues ||
	    p->n_rxq > DP_PORT_MAX_QUEUES || p->n_txq > DP_PORT_MAX_QUEUES) {
		set_err(err, errlen, "%s: %u rx / %u tx queues asked, device has %u / %u (max %d)",
			p->name, p->n_rxq, p->n_txq, info.max_rx_queues, info.max_tx_queues,
			DP_PORT_MAX_QUEUES);
		return -EINVAL;
	}

	/* A vdev has no NUMA node (-1): its memory goes where the caller runs. */
	socket = rte_eth_dev_socket_id(port_id);
	p->socket = socket >= 0 ? socket : (int)rte_socket_id();
	if (p->socket == SOCKET_ID_ANY)
		p->socket = 0;

	memset(&conf, 0, sizeof(conf));
	if (!c->sw_csum) {
		p->tx_offloads = info.tx_offload_capa & DP_TX_CSUM;
		p->rx_offloads = info.rx_offload_capa & DP_RX_CSUM;
	}
	conf.txmode.offloads = p->tx_offloads;
	conf.rxmode.offloads = p->rx_offloads;
	if (p->n_rxq > 1) {
		/* Spread peers over the RX cores by their addresses and ports. */
		conf.rx_adv_conf.rss_conf.rss_hf =
			(RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP) & info.flow_type_rss_offloads;
		if (conf.rx_adv_conf.rss_conf.rss_hf == 0) {
			set_err(err, errlen, "%s: %u rx queues need RSS on IP/UDP, which the "
				"device lacks; use one rx queue", p->name, p->n_rxq);
			return -ENOTSUP;
		}
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
	}
	rc = rte_eth_dev_configure(port_id, p->n_rxq, p->n_txq, &conf);
	if (rc != 0) {
		set_err(err, errlen, "%s: configure %u/%u queues: %s", p->name, p->n_rxq, p->n_txq,
			rte_strerror(-rc));
		return rc;
	}
	rc = rte_eth_dev_adjust_nb_rx_tx_desc(port_id, &p->n_rxd, &p->n_txd);
	if (rc != 0) {
		set_err(err, errlen, "%s: descriptors: %s", p->name, rte_strerror(-rc));
		return rc;
	}

	if (c->pool != NULL) {
		p->pool = c->pool;
	} else {
		struct dp_port_conf sized = *c;

		sized.n_rxd = p->n_rxd;
		sized.n_txd = p->n_txd;
		p->pool = socket_pool(p->socket, &sized, err, errlen);
		if (p->pool == NULL)
			return -ENOMEM;
	}

	rxconf = info.default_rxconf;
	rxconf.offloads = conf.rxmode.offloads;
	for (q = 0; q < p->n_rxq; q++) {
		rc = rte_eth_rx_queue_setup(port_id, q, p->n_rxd, (unsigned)p->socket, &rxconf,
					    p->pool);
		if (rc != 0) {
			set_err(err, errlen, "%s: rx queue %u: %s", p->name, q, rte_strerror(-rc));
			return rc;
		}
	}
	txconf = info.default_txconf;
	txconf.offloads = conf.txmode.offloads;
	for (q = 0; q < p->n_txq; q++) {
		rc = rte_eth_tx_queue_setup(port_id, q, p->n_txd, (unsigned)p->socket, &txconf);
		if (rc != 0) {
			set_err(err, errlen, "%s: tx queue %u: %s", p->name, q, rte_strerror(-rc));
			return rc;
		}
	}

	/* Promiscuous off: the NIC filters frames for other MACs, not our RX cores. Some vdevs
	 * cannot toggle it (-ENOTSUP); dp_net checks the destination MAC anyway. */
	rc = rte_eth_promiscuous_disable(port_id);
	if (rc != 0 && rc != -ENOTSUP) {
		set_err(err, errlen, "%s: promiscuous off: %s", p->name, rte_strerror(-rc));
		return rc;
	}

	rc = rte_eth_dev_start(port_id);
	if (rc != 0) {
		set_err(err, errlen, "%s: start: %s", p->name, rte_strerror(-rc));
		return rc;
	}
	p->started = true;

	rc = rte_eth_macaddr_get(port_id, &p->mac);
	if (rc != 0) {
		set_err(err, errlen, "%s: MAC address: %s", p->name, rte_strerror(-rc));
		dp_port_close(p);
		return rc;
	}

	rc = dp_port_wait_link(p, c->link_timeout_ms ? c->link_timeout_ms : DP_DEFAULT_LINK_MS);
	if (rc != 0 && c->require_link) {
		set_err(err, errlen, "%s: link still down after %u ms (cable, peer, or the "
			"kernel side of a vdev down?)", p->name,
			c->link_timeout_ms ? c->link_timeout_ms : DP_DEFAULT_LINK_MS);
		dp_port_close(p);
		return -ENETDOWN;
	}
	return 0;
}

void dp_port_close(struct dp_port *p)
{
	if (!p->started)
		return;
	rte_eth_dev_stop(p->port_id);
	rte_eth_dev_close(p->port_id);
	p->started = false;
}
