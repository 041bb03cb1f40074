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

#include "cp_cal.h"

#define CP_MAX_FIRMS 64
#define CP_MAX_CONTRACTS 64
#define CP_MAX_CORES 16
#define CP_MAX_SECRET 64
#define CP_MAX_EAL_ARGS 32
#define CP_STR 128
#define CP_MAX_ACCOUNTS 64
#define CP_MAX_ETCD 7 /* replication.etcd endpoints (cp_etcd.h CP_ETCD_MAX_ENDPOINTS) */

enum cp_mode { CP_MODE_RTC = 0, CP_MODE_PIPELINE = 1 };
/* journal.durability beyond jn_durability's three: sync, and nothing leaves the primary for
 * a record before a following standby acknowledged it durable too (docs/STANDBY.md). */
#define CP_DURABILITY_SYNC_REPLICATED 3u
/* replication.role (docs/STANDBY.md): none (no replication: no link, today's single node),
 * primary (serves standbys on replication.listen), standby (follows replication.primary,
 * order entry and market data muted). */
enum cp_role { CP_ROLE_NONE = 0, CP_ROLE_PRIMARY = 1, CP_ROLE_STANDBY = 2 };
/* An ADDR:PORT of the replication link (IPv4, host byte order). */
struct cp_hostport {
	uint32_t ip;
	uint16_t port;
	uint16_t set;
};
/* offload.target; the values are enum tkx_off_target's. */
enum cp_offload { CP_OFF_NONE = 0, CP_OFF_SW = 1, CP_OFF_SIM = 2, CP_OFF_FPGA = 3, CP_OFF_SHADOW = 4 };

struct cp_firm {
	uint32_t id;
	uint8_t secret[CP_MAX_SECRET];
	uint32_t secret_len;
	char name[32];
	uint32_t max_sessions; /* sessions it may hold (both transports); 0 = sessions.per_firm */
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

/* Per-account risk limits (accounts[] in the file), enforced by the matching cores. */
struct cp_account_limit {
	uint32_t firm;
	uint32_t account;
	int64_t max_qty;       /* largest order */
	int64_t max_pos;       /* largest net position per contract */
	int64_t max_pos_spot;  /* in the spot month (0 = max_pos) */
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
	/* DPDK's --file-prefix: the directory of its runtime files, the telemetry socket
	 * among them (RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2); "" = tokexd-PID */
	char eal_prefix[64];

	/* the Prometheus endpoint (td_metrics.c): "ADDR:PORT", "" = none */
	char metrics_listen[32];
	/* the log (tkx_log.h): the lowest level written, and the format */
	char log_level[16];  /* err, warn, notice, info, debug */
	char log_format[16]; /* auto, text, journal, bare */

	/* top-of-book offload target (include/tokex/offload.h); enum cp_offload */
	uint32_t offload_target;
	uint32_t offload_levels;      /* N: price levels per side the target keeps */
	char offload_vfio_group[32];  /* fpga: the board's IOMMU group, "" = none */

	/* TCP gateway (io_uring) */
	uint32_t tcp_ip;   /* host order; 0 = disabled */
	uint32_t tcp_port;
	uint32_t tcp_max_conns;        /* connection table; 0 = sessions.max */
	uint32_t tcp_max_conns_per_ip; /* connections from one source address */
	uint32_t tcp_negotiate_ms;     /* to show credentials after connecting */

	/* market data */
	uint32_t md_group; /* multicast group, host order */
	uint32_t md_port;
	uint32_t md_req_port;
	char md_session[16];
	uint32_t md_snapshot_ms;
	uint32_t md_retain;   /* packets kept for gap re-requests */
	uint32_t md_heartbeat_ms; /* heartbeat packet after this much silence */
	/* gap re-requests (dataplane/md/md_lim.h); bytes are reply UDP payload */
	uint32_t md_req_max_msgs;    /* messages per answer */
	uint32_t md_req_max_bytes;   /* bytes per answer, all its packets */
	uint32_t md_req_rate;        /* bytes per second per source address */
	uint32_t md_req_burst;       /* per-source bucket depth, bytes */
	uint32_t md_req_global_rate; /* bytes per second, all sources (depth: 100 ms of it) */
	uint32_t md_req_sources;     /* source table entries, power of two */
	uint32_t md_depth;           /* Depth levels per side; 0 = no Depth messages */
	uint32_t md_orders;          /* 1: OrderBook messages (market by order) */
	uint32_t md_book_orders;     /* resting orders the order-by-order feed follows */

	/* sessions */
	uint32_t max_sessions;
	uint32_t keepalive_min_ms;
	uint32_t keepalive_max_ms;
	uint32_t throttle_rate;  /* messages per second per session */
	uint32_t throttle_burst;
	uint32_t throttle_grace; /* throttled messages per second before Terminate */
	uint32_t retransmit_depth;
	uint32_t retransmit_max;  /* messages per RetransmitRequest */
	uint32_t ts_tolerance_ms; /* Negotiate/Establish timestamp against the clock */
	uint32_t linger_ms;       /* a terminated session is kept at least this long */
	uint32_t firm_sessions;   /* sessions a firm may hold, both transports (firms[].max_sessions
				     overrides); 0 = sessions.max / number of firms, at least 1 */
	uint32_t udp_auth; /* 1 required (default): every UDP session datagram MACed; 0 off */

	/* control */
	char ctl_socket[CP_STR];
	char ctl_startup[CP_STR]; /* command file run at start ("" = none) */
	uint32_t scheduler;       /* 1: the calendar drives contract phases; 0: operator only */

	/* trading calendar (cp_cal.h): local time = UTC + utc_offset_min */
	int64_t utc_offset_min;
	uint32_t auction_entry; /* minutes after midnight */
	uint32_t auction_match;
	struct cp_window sessions[CP_MAX_SESSIONS];
	uint32_t n_sessions;
	int32_t holidays[CP_MAX_HOLIDAYS]; /* day numbers (days since 1970-01-01) */
	uint32_t n_holidays;

	/* daily limits and volatility guard (cp_settle.h rule 4) */
	uint32_t band_bp;       /* a normal day's limits, basis points of the reference */
	uint32_t first_day_bp;  /* a contract's first trading day */
	uint32_t locked_bp;     /* the day after a limit-locked close */
	uint32_t vol_guard_bp;  /* volatility interruption threshold (0 = off) */
	uint32_t vol_halt_s;    /* how long a volatility interruption lasts */

	/* settlement */
	char index_file[CP_STR]; /* the operator's index fixings, YYYY-MM-DD,price */

	/* input journal (dataplane/journal/jn_journal.h, dataplane/tokexd/td_journal.c;
	 * issue 6). journal.dir: where (created if missing; "" = no journal: nothing survives
	 * a restart; rtc and pipeline mode both journal). journal.durability: sync |
	 * async | none. journal.fault_write_after: TESTING ONLY, the Nth write fails EIO.
	 * journal.snapshot_every: a snapshot of the state every N records (td_snap.c; 0 = none,
	 * else >= 100), so that recovery replays only what follows the newest one. */
	char journal_dir[CP_STR];      /* default /var/lib/tokex/journal */
	uint32_t journal_durability;   /* jn_durability: 0 sync (default), 1 async, 2 none;
					  3 sync-replicated (CP_DURABILITY_SYNC_REPLICATED) */
	uint32_t journal_fault_write;  /* 0 = off */
	uint32_t journal_stall_ms;     /* no durability progress this long: halt; default 10 000 */
	uint32_t journal_snapshot_every; /* records; default 1 000 000; 0 = off */
	uint32_t journal_segment_kb;   /* journal.segment_kb: a segment's size; 0 = 64 MiB */

	/* replication (issue 14, docs/STANDBY.md, dataplane/tokexd/td_repl.c): no
	 * `replication:` section = role none, a single node as before. role primary needs
	 * listen; role standby needs primary (and a journal). send_buffer_kb: how far (in
	 * record bytes) a following standby may fall behind before the primary disconnects it
	 * (it reconnects and catches up from the journal). fault_corrupt_after: TESTING ONLY,
	 * the primary damages one byte of the Nth record it sends (0 = off). */
	uint32_t repl_role;            /* enum cp_role */
	struct cp_hostport repl_listen;
	struct cp_hostport repl_primary;
	uint32_t repl_send_buffer_kb;  /* default 16384 (16 MiB: ~130 000 records) */
	uint32_t repl_fault_corrupt;   /* 0 = off */
	/* The lease (docs/STANDBY.md "Lease and fencing", dataplane/tokexd/td_lease.c): etcd's
	 * client URLs (none: no lease, no promotion - the first stage's behaviour); the leader
	 * key (its epoch beside it, <key>/epoch); the lease's TTL in seconds (etcd's unit);
	 * the margin before the lease could have expired by this node's clock at which a
	 * primary stops accepting orders (Terminate SHUTDOWN) and after which it sends nothing. */
	char repl_etcd[CP_MAX_ETCD][CP_STR];
	uint32_t n_repl_etcd;
	char repl_etcd_key[CP_STR];    /* default /tokex/leader */
	uint32_t repl_lease_s;         /* default 5 */
	uint32_t repl_lease_margin_ms; /* default 1000 */

	struct cp_account_limit accounts[CP_MAX_ACCOUNTS];
	uint32_t n_accounts;

	struct cp_firm firms[CP_MAX_FIRMS];
	uint32_t n_firms;
	uint32_t demo_firms; /* 1: the built-in demo firms (public secrets), no file loaded */
	struct cp_contract contracts[CP_MAX_CONTRACTS];
	uint32_t n_contracts;
};

/* Fills cfg with the built-in defaults: run-to-completion on one core, a TAP port, two
 * demo firms, twelve monthly AI-token contracts; the venue parameters of tokex/venue.h. */
void cp_config_defaults(struct cp_config *cfg);
/* The built-in twelve months (cp_config_defaults) from the month the exchange's calendar
 * (utc_offset_min) is in at unix_s: a simulated clock gives its own time. */
void cp_config_default_months(struct cp_config *cfg, int64_t unix_s);

/* Overrides cfg with the YAML file at path. Returns 0, or a negative errno with a
 * "path:line: key: reason" message in err; cfg is unchanged on error. A key given twice
 * in one mapping is an error. A file must name its firms (a non-empty firms: list): the
 * demo firms' secrets are public, so they exist only when no file is loaded. */
int cp_config_load(struct cp_config *cfg, const char *path, char *err, size_t errlen);

/* Checks cross-field rules (contract ids unique, cores in range, band inside limits...).
 * Returns 0 or -EINVAL with a message in err. cp_config_load() calls it. */
int cp_config_check(const struct cp_config *cfg, char *err, size_t errlen);

/* Lowest and highest price of a contract's band, tick-aligned. */
void cp_contract_band(const struct cp_contract *c, int64_t *lo, int64_t *hi);

/* The trading calendar the configuration describes. */
void cp_config_cal(const struct cp_config *cfg, struct cp_cal *cal);

const struct cp_firm *cp_config_firm(const struct cp_config *cfg, uint32_t firm_id);

/* The value of a scalar key of the file ("sessions.max", "md.group") as the file would
 * write it ("256", "239.198.0.1"). 0, or -ENOENT for a key that is not a scalar key. */
int cp_config_get(const struct cp_config *cfg, const char *key, char *out, size_t len);
/* The i-th scalar key of the file, NULL past the last: for tools and tests that list them. */
const char *cp_config_key(size_t i);
/* The sessions firm i may hold in one session table: firms[i].max_sessions, else
 * sessions.per_firm, else sessions.max / number of firms (at least 1). */
uint32_t cp_config_firm_sessions(const struct cp_config *cfg, uint32_t i);

/* What the parser's table says of a key: the annotated example (cp_config_doc.c) is
 * written from it, and its test checks the two agree. */
struct cp_key_info {
	const char *key;   /* "sessions.max"; of a list's item, its own key ("id") */
	const char *range; /* the values it takes, in words: "integer", "rtc | pipeline"... */
	int64_t min, max;  /* integers (is_int): the bounds; a CT_U32_OFF also takes 0 */
	size_t size;       /* text: its capacity, with the terminating NUL */
	int is_int;        /* 1 integer, 2 integer or 0 (off), 0 other */
};
/* The i-th key of list ("firms", "contracts", "accounts"; NULL: the scalar keys of the
 * file, as cp_config_key). 0, or -ENOENT past the last or for an unknown list. */
int cp_config_key_info(const char *list, size_t i, struct cp_key_info *out);
/* "ADDR:PORT" (IPv4) of metrics.listen: 0 with host-order address and port, or -EINVAL. */
int cp_config_parse_listen(const char *s, uint32_t *ip, uint16_t *port);

#endif /* TOKEX_CP_CONFIG_H */
