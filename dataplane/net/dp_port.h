/*
 * dp_port.h - EAL start-up and ethdev bring-up for tokexd's packet layer.
 *
 * Role in the data path: none at run time. The main thread calls these once, before any
 * lcore is launched: build the EAL argument vector, start EAL, then configure and start
 * each port (real NIC or virtual device) with its queues, descriptors, a mempool on the
 * port's NUMA socket, and the checksum offloads the device has. After that the RX/TX
 * cores use only the port id, queue ids, mempool and offload flags kept in struct dp_port.
 *
 * Conventions: int functions return 0 or a negative errno and, on failure, write one line
 * of operator-facing text into the caller's err buffer (which may be NULL). Nothing here
 * exits or prints.
 *
 * Virtual devices that work without a NIC or hugepages (DPDK 22.11):
 *   --no-huge --no-pci -m 512 --file-prefix tokex-<pid> --vdev net_tap0,iface=tkx0
 *   --vdev net_af_packet0,iface=<veth>   --vdev net_memif0,role=server,socket=<path>
 *   --vdev net_ring0   --vdev net_null0
 * Each DPDK process on the machine needs its own --file-prefix.
 */
#ifndef TOKEX_DP_PORT_H
#define TOKEX_DP_PORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <rte_ether.h>
#include <rte_mempool.h>

#define DP_EAL_MAX_ARGS 32    /* argv slots, terminating NULL included */
#define DP_EAL_ARGBUF 2048    /* bytes for the argument strings */
#define DP_PORT_MAX_QUEUES 16

/* An EAL argument vector and the storage for its strings; the caller owns it (it may live
 * on the stack) and it must outlive rte_eal_init(), which keeps pointers into argv. */
struct dp_eal_args {
	int argc;
	char *argv[DP_EAL_MAX_ARGS];
	size_t used;              /* bytes of buf in use */
	char buf[DP_EAL_ARGBUF];
};

/* Appends one argument. -E2BIG when argv or the string storage is full. */
int dp_eal_args_add(struct dp_eal_args *a, const char *arg);

/* Appends one argument built printf-style. -E2BIG as above. */
int dp_eal_args_addf(struct dp_eal_args *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Starts a vector with tokexd's defaults for a machine without NIC or hugepages:
 *   <prog> -l <lcores> --no-huge --no-pci -m <mem_mb> --file-prefix tokex-<pid>
 *          --no-telemetry [--vdev <vdev>]...
 * lcores NULL: the first CPU this thread may run on (sched_getaffinity). mem_mb 0: 512.
 * The caller appends more with dp_eal_args_add() (e.g. --log-level, a real NIC's -a).
 */
int dp_eal_args_default(struct dp_eal_args *a, const char *prog, const char *lcores,
			const char *const *vdevs, unsigned n_vdevs, unsigned mem_mb,
			char *err, size_t errlen);

/* rte_eal_init() on the vector. 0 or -errno (rte_errno) with the reason in err. EAL can be
 * started once per process; a second call fails with -EALREADY. */
int dp_eal_init(struct dp_eal_args *a, char *err, size_t errlen);

/* rte_eal_cleanup(), then removes EAL's runtime directory for the --file-prefix (its config
 * and fbarray files would otherwise stay in /var/run/dpdk). Call once at exit, after every
 * port is closed. */
void dp_eal_fini(void);

/* What the caller asks of a port. Zero fields take the defaults named. */
struct dp_port_conf {
	uint16_t n_rxq;            /* 0: 1 */
	uint16_t n_txq;            /* 0: 1 */
	uint16_t n_rxd;            /* 0: 1024, then adjusted to the device's limits */
	uint16_t n_txd;            /* 0: 1024, likewise */
	uint32_t n_mbufs;          /* 0: formula in dp_port_pool_size() */
	uint16_t mbuf_cache;       /* per-lcore mempool cache, 0: 256 */
	uint16_t n_lcores;         /* lcores that will use the pool (cache sizing), 0: 1 */
	uint32_t link_timeout_ms;  /* wait for link up at most this long, 0: 3000 */
	bool sw_csum;              /* ignore checksum offloads: software checksums only */
	bool require_link;         /* link still down after the wait: fail with -ENETDOWN */
	struct rte_mempool *pool;  /* use this pool instead of the socket's shared one */
};

/* A started port: what the data path needs to use it; the fields the cores read (up to
 * mac) fit in the first 64 bytes. */
struct dp_port {
	uint16_t port_id;
	uint16_t n_rxq;
	uint16_t n_txq;
	uint16_t n_rxd;
	uint16_t n_txd;
	int socket;                /* NUMA socket of the device (of the caller if unknown) */
	struct rte_mempool *pool;  /* RX buffers, and TX frames built by the cores */
	uint64_t tx_offloads;      /* RTE_ETH_TX_OFFLOAD_* enabled (checksums) */
	uint64_t rx_offloads;      /* RTE_ETH_RX_OFFLOAD_* enabled (checksums) */
	struct rte_ether_addr mac;
	bool link_up;              /* at the end of dp_port_setup() */
	bool started;
	uint32_t link_speed;       /* Mb/s, RTE_ETH_SPEED_NUM_* */
	char name[64];             /* device name, e.g. net_tap0 */
};

/* Finds a port by device name (e.g. "net_tap0") or decimal port id. 0 or -ENODEV. */
int dp_port_lookup(const char *name, uint16_t *port_id);

/* Mbufs a port needs: every RX and TX descriptor filled, a burst in flight per queue, each
 * lcore's cache full, and headroom for frames the cores hold (builds in progress): the
 * l2fwd formula, at least 8191 (2^n - 1, the mempool's sweet spot). */
uint32_t dp_port_pool_size(const struct dp_port_conf *c);

/*
 * Configures and starts port_id: n_rxq/n_txq queues, descriptors clamped to the device's
 * limits, a mempool on the device's socket (one per socket, shared by the ports there,
 * named "tkx_pool_s<socket>"; created by the first port with its formula size), RX/TX IPv4
 * and UDP checksum offloads when the device has them and sw_csum is off, promiscuous off,
 * start, then waits up to link_timeout_ms for link up and reads the MAC. On failure the
 * port is left stopped; 0 or -errno with the reason in err.
 */
int dp_port_setup(struct dp_port *p, uint16_t port_id, const struct dp_port_conf *c,
		  char *err, size_t errlen);

/* Waits (polling every 10 ms, bounded by timeout_ms) for the link to come up; updates
 * p->link_up/link_speed. 0 when up, -ETIMEDOUT otherwise. */
int dp_port_wait_link(struct dp_port *p, uint32_t timeout_ms);

/* Stops and closes a port started by dp_port_setup(); the shared pool stays (EAL cleanup
 * releases it). Safe on a port that never started. */
void dp_port_close(struct dp_port *p);

#endif /* TOKEX_DP_PORT_H */
