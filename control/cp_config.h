/*
 * cp_config.h - tokexd's configuration: built-in defaults, overridden by a YAML file.
 *
 * Role: read once by the control plane before any core starts; everything the data path
 * sizes (session tables, books, rings, pools) is derived from this struct. Nothing here
 * runs on a hot path.
 *
 * Every scalar tunable is one row of a declarative table in cp_config.c (key, type,
 * bounds, default); lists (firms, contracts) have one table per item. A bad file is
 * reported as "FILE:LINE: KEY: what is wrong", one error at a time, and leaves the
 * defaults untouched: cp_config_load() fills a copy and commits it only on success.
 */
#ifndef TOKEX_CP_CONFIG_H
#define TOKEX_CP_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CP_MAX_FIRMS 64
#define CP_MAX_CONTRACTS 64
#define CP_MAX_CORES 16
#define CP_MAX_SECRET 64
#define CP_MAX_EAL_ARGS 32
#define CP_STR 128

enum cp_mode { CP_MODE_RTC = 0, CP_MODE_PIPELINE = 1 };

struct cp_firm {
	uint32_t id;
	uint8_t secret[CP_MAX_SECRET];
	uint32_t secret_len;
	char name[32];
};

struct cp_contract {
	uint32_t id;
	char symbol[24];
	uint32_t core;       /* index into cp_config.match_lcores */
	int64_t tick;        /* price units (0.0001) per tick */
	int64_t ref_price;   /* previous settlement: the centre of the daily band */
	uint32_t band_bp;    /* daily limit, basis points of ref_price (800 = 8%) */
	int64_t max_qty;
	uint32_t max_orders; /* order pool of the book */
};

struct cp_config {
	char source[CP_STR]; /* "built-in" or the file's path */
	uint32_t mode;       /* enum cp_mode */

	/* EAL and port */
	char port_vdev[CP_STR]; /* e.g. "net_tap0,iface=tkx0"; "" = first probed port */
	char eal_extra[CP_MAX_EAL_ARGS][CP_STR];
	uint32_t n_eal_extra;
	uint32_t ip;       /* the appliance's IPv4 address, host order */
	uint32_t udp_port; /* order entry */
	uint32_t rx_lcore; /* RX/session core (and everything in rtc mode) */
	uint32_t match_lcores[CP_MAX_CORES];
	uint32_t n_match_lcores;
	uint32_t ring_size; /* entries per inter-core ring, power of two */

	/* TCP gateway (io_uring) */
	uint32_t tcp_ip;   /* host order; 0 = disabled */
	uint32_t tcp_port;

	/* market data */
	uint32_t md_group; /* multicast group, host order */
	uint32_t md_port;
	uint32_t md_req_port;
	char md_session[16];
	uint32_t md_snapshot_ms;
	uint32_t md_retain;   /* packets kept for gap re-requests */

	/* sessions */
	uint32_t max_sessions;
	uint32_t keepalive_min_ms;
	uint32_t keepalive_max_ms;
	uint32_t throttle_rate;  /* messages per second per session */
	uint32_t throttle_burst;
	uint32_t throttle_grace; /* throttled messages per second before Terminate */
	uint32_t retransmit_depth;

	/* control */
	char ctl_socket[CP_STR];

	struct cp_firm firms[CP_MAX_FIRMS];
	uint32_t n_firms;
	struct cp_contract contracts[CP_MAX_CONTRACTS];
	uint32_t n_contracts;
};

/* Fills cfg with the built-in defaults: run-to-completion on one core, a TAP port, two
 * demo firms, twelve monthly AI-token contracts. */
void cp_config_defaults(struct cp_config *cfg);

/* Overrides cfg with the YAML file at path. Returns 0, or a negative errno with a
 * "path:line: key: reason" message in err; cfg is unchanged on error. */
int cp_config_load(struct cp_config *cfg, const char *path, char *err, size_t errlen);

/* Checks cross-field rules (contract ids unique, cores in range, band inside limits...).
 * Returns 0 or -EINVAL with a message in err. cp_config_load() calls it. */
int cp_config_check(const struct cp_config *cfg, char *err, size_t errlen);

/* Lowest and highest price of a contract's band, tick-aligned. */
void cp_contract_band(const struct cp_contract *c, int64_t *lo, int64_t *hi);

const struct cp_firm *cp_config_firm(const struct cp_config *cfg, uint32_t firm_id);

#endif /* TOKEX_CP_CONFIG_H */
