/*
 * cp_config.c - built-in defaults and the YAML configuration file (libyaml).
 *
 * Role: control plane, start-up only. The file is loaded into a libyaml document so every
 * node keeps its line; one declarative table per mapping says which keys exist, their
 * type, bounds and where they land in struct cp_config. Lists in the file replace the
 * built-in lists as a whole; firms must be listed (the demo firms are for running with no
 * file at all). A key given twice in a mapping is refused: YAML would keep the last one
 * and hide the first.
 */
#include "cp_config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yaml.h>

#include <tokex/proto.h>
#include <tokex/venue.h>

#include "tkx_log.h"

enum cp_type { CT_U32, CT_I64, CT_STR, CT_IP, CT_MODE, CT_ROLE, CT_HOSTPORT, CT_HEX, CT_HHMM, CT_DATE, CT_WINDOW, CT_OFFLOAD,
	       CT_DURABILITY, CT_U32_OFF, CT_UDP_AUTH };

struct cp_key {
	const char *key;
	enum cp_type type;
	size_t off;
	size_t size; /* CT_STR / CT_HEX capacity */
	int64_t min;
	int64_t max;
};

#define U32(k, f, lo, hi) {k, CT_U32, offsetof(struct cp_config, f), 0, lo, hi}
/* 0 (off), or a value in [lo, hi]. */
#define U32_OFF(k, f, lo, hi) {k, CT_U32_OFF, offsetof(struct cp_config, f), 0, lo, hi}
#define STR(k, f) {k, CT_STR, offsetof(struct cp_config, f), sizeof(((struct cp_config *)0)->f), 0, 0}
#define IP(k, f) {k, CT_IP, offsetof(struct cp_config, f), 0, 0, 0}
#define I64(k, f, lo, hi) {k, CT_I64, offsetof(struct cp_config, f), 0, lo, hi}
#define HHMM(k, f) {k, CT_HHMM, offsetof(struct cp_config, f), 0, 0, 0}

/* The smallest answer to a gap re-request that can carry any message: a packet of the
 * largest one (a Snapshot) and the 20-byte end marker (md_pub.h MD_REQ_MIN_BYTES). */
_Static_assert(TKX_VENUE_MD_REQUEST_MAX_BYTES == TKX_MAX_DGRAM + TKX_MD_HDR_LEN,
	       "the default answer is one full packet and the end marker");
#define CP_MD_REQ_MIN_BYTES \
	(2 * TKX_MD_HDR_LEN + 2 + TKX_HDR_LEN + (int)sizeof(struct tkx_md_snapshot))

/* Scalars of the top-level mapping, by dotted path. */
static const struct cp_key cp_keys[] = {
	{"mode", CT_MODE, offsetof(struct cp_config, mode), 0, 0, 1},
	STR("port.vdev", port_vdev),
	IP("port.ip", ip),
	U32("port.udp_port", udp_port, 1, 65535),
	U32("cores.rx", rx_lcore, 0, 1023),
	U32("ring_size", ring_size, 64, 1 << 20),
	STR("telemetry.file_prefix", eal_prefix),
	STR("metrics.listen", metrics_listen),
	STR("log.level", log_level),
	STR("log.format", log_format),
	{"offload.target", CT_OFFLOAD, offsetof(struct cp_config, offload_target), 0, 0, 4},
	U32("offload.levels", offload_levels, 1, 64),
	STR("offload.vfio_group", offload_vfio_group),
	IP("tcp.ip", tcp_ip),
	U32("tcp.port", tcp_port, 1, 65535),
	/* Connection table (0 = sessions.max), the share one source address may hold, and
	 * how long a connection has to show valid credentials (td_gw.h "Admission"). */
	U32("tcp.max_conns", tcp_max_conns, 0, 65536),
	U32("tcp.max_conns_per_ip", tcp_max_conns_per_ip, 1, 65536),
	U32("tcp.negotiate_deadline_ms", tcp_negotiate_ms, 100, 600000),
	IP("md.group", md_group),
	U32("md.port", md_port, 1, 65535),
	U32("md.request_port", md_req_port, 1, 65535),
	STR("md.session", md_session),
	U32("md.snapshot_ms", md_snapshot_ms, 10, 3600000),
	U32("md.retain", md_retain, 64, 1 << 20),
	U32("md.heartbeat_ms", md_heartbeat_ms, 10, 3600000),
	U32("md.request_max_msgs", md_req_max_msgs, 1, 65535),
	U32("md.request_max_bytes", md_req_max_bytes, CP_MD_REQ_MIN_BYTES, 1 << 20),
	U32("md.request_rate", md_req_rate, 1000, 1000000000),
	U32("md.request_burst", md_req_burst, CP_MD_REQ_MIN_BYTES, 1 << 30),
	U32("md.request_global_rate", md_req_global_rate, 1000, 4000000000u),
	U32("md.request_sources", md_req_sources, 8, 1 << 20),
	U32("md.depth", md_depth, 0, 32),
	U32("md.orders", md_orders, 0, 1),
	U32("md.book_orders", md_book_orders, 1, 1 << 24),
	U32("sessions.max", max_sessions, 1, 65535),
	U32("sessions.keepalive_min_ms", keepalive_min_ms, 10, 600000),
	U32("sessions.keepalive_max_ms", keepalive_max_ms, 10, 600000),
	U32("sessions.throttle_rate", throttle_rate, 1, 100000000),
	U32("sessions.throttle_burst", throttle_burst, 1, 100000000),
	U32("sessions.throttle_grace", throttle_grace, 0, 100000000),
	U32("sessions.retransmit_depth", retransmit_depth, 16, 1 << 20),
	U32("sessions.retransmit_max", retransmit_max, 1, 1 << 20),
	U32("sessions.timestamp_tolerance_ms", ts_tolerance_ms, 1000, 3600000),
	U32("sessions.linger_ms", linger_ms, 0, 86400000),
	U32("sessions.per_firm", firm_sessions, 0, 65535),
	/* required: every datagram of a UDP session carries a MAC (docs/protocol.md 4.13);
	 * off: for measuring what that costs, never on a venue open to members. */
	{"sessions.udp_auth", CT_UDP_AUTH, offsetof(struct cp_config, udp_auth), 0, 0, 1},
	STR("control.socket", ctl_socket),
	STR("control.startup", ctl_startup),
	U32("control.scheduler", scheduler, 0, 1),
	I64("trading.utc_offset_min", utc_offset_min, -840, 840),
	HHMM("trading.auction_entry", auction_entry),
	HHMM("trading.auction_match", auction_match),
	U32("limits.band_bp", band_bp, 1, 9999),
	U32("limits.first_day_bp", first_day_bp, 1, 9999),
	U32("limits.locked_bp", locked_bp, 1, 9999),
	U32("limits.vol_guard_bp", vol_guard_bp, 0, 9999),
	U32("limits.vol_halt_s", vol_halt_s, 1, 86400),
	STR("settlement.index_file", index_file),
	STR("journal.dir", journal_dir),
	{"journal.durability", CT_DURABILITY, offsetof(struct cp_config, journal_durability), 0, 0, 3},
	/* Testing only (fault injection): the Nth write of the journal fails with EIO. */
	U32("journal.fault_write_after", journal_fault_write, 0, UINT32_MAX),
	/* A snapshot of the state every N journal records (0 = none); below 100 the RX core
	 * would spend its time serializing. */
	U32_OFF("journal.snapshot_every", journal_snapshot_every, 100, UINT32_MAX),
	/* How long output may wait for durability with no progress before the disk is taken
	 * as failed and the appliance halts (td_journal.c invariant 2). */
	U32("journal.stall_ms", journal_stall_ms, 100, 3600000),
	/* A journal segment's size (KiB; default 64 MiB): snapshots prune whole segments only. */
	U32_OFF("journal.segment_kb", journal_segment_kb, 64, 4u << 20),
	{"replication.role", CT_ROLE, offsetof(struct cp_config, repl_role), 0, 0, 2},
	{"replication.listen", CT_HOSTPORT, offsetof(struct cp_config, repl_listen), 0, 0, 0},
	{"replication.primary", CT_HOSTPORT, offsetof(struct cp_config, repl_primary), 0, 0, 0},
	U32("replication.send_buffer_kb", repl_send_buffer_kb, 16, 4u << 20),
	/* Testing only (fault injection): the Nth record the primary sends is damaged. */
	U32("replication.fault_corrupt_after", repl_fault_corrupt, 0, UINT32_MAX),
	/* The lease in etcd (replication.etcd, a list, is read beside eal). */
	STR("replication.etcd_key", repl_etcd_key),
	U32("replication.lease_s", repl_lease_s, 2, 600),
	U32("replication.lease_margin_ms", repl_lease_margin_ms, 100, 300000),
};

/* Lists of scalars: trading.sessions ("HH:MM-HH:MM") and trading.holidays (dates). */
static const struct cp_key cp_session_key = {"", CT_WINDOW, 0, 0, 0, 0};
static const struct cp_key cp_holiday_key = {"", CT_DATE, 0, 0, 0, 0};

#define ACC_U32(k, f, lo, hi) {k, CT_U32, offsetof(struct cp_account_limit, f), 0, lo, hi}
#define ACC_I64(k, f, lo, hi) {k, CT_I64, offsetof(struct cp_account_limit, f), 0, lo, hi}
static const struct cp_key cp_account_keys[] = {
	ACC_U32("firm", firm, 1, UINT32_MAX),
	ACC_U32("account", account, 0, UINT32_MAX),
	ACC_I64("max_qty", max_qty, 1, UINT32_MAX),
	ACC_I64("max_position", max_pos, 1, INT64_C(1) << 40),
	ACC_I64("max_position_spot", max_pos_spot, 0, INT64_C(1) << 40),
};

#define FIRM_U32(k, f, lo, hi) {k, CT_U32, offsetof(struct cp_firm, f), 0, lo, hi}
static const struct cp_key cp_firm_keys[] = {
	FIRM_U32("id", id, 1, UINT32_MAX),
	{"secret", CT_HEX, offsetof(struct cp_firm, secret), CP_MAX_SECRET, 16, CP_MAX_SECRET},
	{"name", CT_STR, offsetof(struct cp_firm, name), sizeof(((struct cp_firm *)0)->name), 0, 0},
	FIRM_U32("max_sessions", max_sessions, 0, 65535),
};

#define CON_U32(k, f, lo, hi) {k, CT_U32, offsetof(struct cp_contract, f), 0, lo, hi}
#define CON_I64(k, f, lo, hi) {k, CT_I64, offsetof(struct cp_contract, f), 0, lo, hi}
static const struct cp_key cp_contract_keys[] = {
	CON_U32("id", id, 1, UINT32_MAX),
	{"symbol", CT_STR, offsetof(struct cp_contract, symbol),
	 sizeof(((struct cp_contract *)0)->symbol), 0, 0},
	CON_U32("core", core, 0, CP_MAX_CORES - 1),
	CON_I64("tick", tick, 1, 1000000000),
	CON_I64("ref_price", ref_price, 1, INT64_C(1) << 50),
	CON_U32("band_bp", band_bp, 1, 9999),
	CON_I64("max_qty", max_qty, 1, UINT32_MAX),
	CON_U32("max_orders", max_orders, 1, 1 << 24),
};

#define NKEYS(t) (sizeof(t) / sizeof((t)[0]))

void cp_config_defaults(struct cp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->source, sizeof(cfg->source), "built-in");
	cfg->mode = CP_MODE_RTC;
	snprintf(cfg->port_vdev, sizeof(cfg->port_vdev), "net_tap0,iface=tkx0");
	cfg->ip = 0xC6120002;       /* 198.18.0.2: the benchmarking range, never routed */
	cfg->udp_port = TKX_PORT_ORDER_UDP;
	cfg->rx_lcore = 0;
	cfg->match_lcores[0] = 0;   /* run-to-completion: one core does everything */
	cfg->n_match_lcores = 1;
	cfg->ring_size = 4096;
	cfg->offload_target = CP_OFF_NONE;
	cfg->offload_levels = 8;
	cfg->tcp_ip = 0x7F000001;   /* 127.0.0.1 */
	cfg->tcp_port = TKX_PORT_ORDER_TCP;
	cfg->tcp_max_conns = TKX_VENUE_TCP_MAX_CONNS;
	cfg->tcp_max_conns_per_ip = TKX_VENUE_TCP_MAX_CONNS_PER_IP;
	cfg->tcp_negotiate_ms = TKX_VENUE_TCP_NEGOTIATE_MS;
	cfg->md_group = 0xEFC60001; /* 239.198.0.1 */
	cfg->md_port = TKX_PORT_MD;
	cfg->md_req_port = TKX_PORT_MD_REQ;
	snprintf(cfg->md_session, sizeof(cfg->md_session), "TOKEXMD001");
	/* What members are told (docs/protocol.md section 11): tokex/venue.h. */
	cfg->md_snapshot_ms = TKX_VENUE_MD_SNAPSHOT_MS;
	cfg->md_retain = TKX_VENUE_MD_RETAIN;
	cfg->md_heartbeat_ms = TKX_VENUE_MD_HEARTBEAT_MS;
	cfg->md_req_max_msgs = TKX_VENUE_MD_REQUEST_MAX_MSGS;
	cfg->md_req_max_bytes = TKX_VENUE_MD_REQUEST_MAX_BYTES;
	cfg->md_req_rate = TKX_VENUE_MD_REQUEST_RATE;
	cfg->md_req_burst = TKX_VENUE_MD_REQUEST_BURST;
	cfg->md_req_global_rate = TKX_VENUE_MD_REQUEST_GLOBAL_RATE;
	cfg->md_req_sources = TKX_VENUE_MD_REQUEST_SOURCES;
	cfg->md_depth = TKX_VENUE_MD_DEPTH;
	cfg->md_orders = TKX_VENUE_MD_ORDERS;
	cfg->md_book_orders = TKX_VENUE_MD_BOOK_ORDERS;
	cfg->max_sessions = TKX_VENUE_MAX_SESSIONS;
	cfg->keepalive_min_ms = TKX_VENUE_KEEPALIVE_MIN_MS;
	cfg->keepalive_max_ms = TKX_VENUE_KEEPALIVE_MAX_MS;
	cfg->throttle_rate = TKX_VENUE_THROTTLE_RATE;
	cfg->throttle_burst = TKX_VENUE_THROTTLE_BURST;
	cfg->throttle_grace = TKX_VENUE_THROTTLE_GRACE;
	cfg->retransmit_depth = TKX_VENUE_RETRANSMIT_DEPTH;
	cfg->retransmit_max = TKX_VENUE_RETRANSMIT_MAX;
	cfg->ts_tolerance_ms = TKX_VENUE_TS_TOLERANCE_MS;
	cfg->linger_ms = TKX_VENUE_LINGER_MS;
	cfg->firm_sessions = 0; /* an equal share of sessions.max */
	cfg->udp_auth = 1; /* required */
	snprintf(cfg->ctl_socket, sizeof(cfg->ctl_socket), "/run/tokex/tokexd.sock");
	snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
	snprintf(cfg->log_format, sizeof(cfg->log_format), "auto");
	cfg->scheduler = 0; /* the demo trades at any hour; production sets 1 */
	snprintf(cfg->journal_dir, sizeof(cfg->journal_dir), "/var/lib/tokex/journal");
	cfg->journal_durability = 0; /* sync: survives power loss */
	cfg->journal_snapshot_every = 1000000; /* ~0.1-1 s of replay at most after it */
	cfg->journal_stall_ms = 10000; /* a failed disk, not a slow one */
	cfg->repl_send_buffer_kb = 16384;
	snprintf(cfg->repl_etcd_key, sizeof(cfg->repl_etcd_key), "/tokex/leader");
	cfg->repl_lease_s = 5;
	cfg->repl_lease_margin_ms = 1000;

	/* The product calendar and limits (cp_cal.h, cp_settle.h). */
	struct cp_cal cal;
	cp_cal_default(&cal);
	cfg->utc_offset_min = cal.utc_offset_min;
	cfg->auction_entry = cal.auction_entry;
	cfg->auction_match = cal.auction_match;
	memcpy(cfg->sessions, cal.sess, sizeof(cal.sess[0]) * cal.n_sess);
	cfg->n_sessions = cal.n_sess;
	cfg->band_bp = 800;
	cfg->first_day_bp = 1600;
	cfg->locked_bp = 1200;
	cfg->vol_guard_bp = 500;
	cfg->vol_halt_s = 120;

	/* Two demo firms. Their secrets are public: a real deployment's file replaces them. */
	static const char *const names[] = {"alpha-mm", "beta-trading"};
	for (uint32_t i = 0; i < 2; i++) {
		struct cp_firm *f = &cfg->firms[i];
		f->id = i + 1;
		f->secret_len = (uint32_t)snprintf((char *)f->secret, sizeof(f->secret),
						   "tokex-demo-secret-firm-%u", i + 1);
		snprintf(f->name, sizeof(f->name), "%s", names[i]);
	}
	cfg->n_firms = 2;
	cfg->demo_firms = 1;

	cp_config_default_months(cfg, (int64_t)time(NULL));
}

void cp_config_default_months(struct cp_config *cfg, int64_t unix_s)
{
	/* Twelve consecutive monthly contracts from the current month of the exchange's
	 * calendar (its local time: 00:00-08:00 Beijing time on the 1st is already the new
	 * month, while UTC still has the old one), id YYYYMM. Prices in 0.0001 CNY per 1M
	 * tokens; tick 0.001; reference 2.5000; limits +/-8%. */
	int64_t local = unix_s + (int64_t)cfg->utc_offset_min * 60;
	int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
	int y, m, d;
	cp_civil_from_days((int32_t)days, &y, &m, &d);
	for (uint32_t i = 0; i < CP_CAL_STRIP; i++) {
		struct cp_contract *c = &cfg->contracts[i];
		c->id = (uint32_t)(y * 100 + m);
		snprintf(c->symbol, sizeof(c->symbol), "TKN%02d%02d", y % 100, m);
		c->core = 0;
		c->tick = 10;
		c->ref_price = 25000;
		c->band_bp = 800;
		c->max_qty = 10000;
		c->max_orders = 65536;
		if (++m > 12) {
			m = 1;
			y++;
		}
	}
	cfg->n_contracts = CP_CAL_STRIP;
}

void cp_contract_band(const struct cp_contract *c, int64_t *lo, int64_t *hi)
{
	int64_t d = c->ref_price * (int64_t)c->band_bp / 10000;
	int64_t l = c->ref_price - d, h = c->ref_price + d;
	/* Round inwards to the tick grid anchored at zero. */
	l = (l + c->tick - 1) / c->tick * c->tick;
	h = h / c->tick * c->tick;
	if (l < c->tick)
		l = c->tick;
	*lo = l;
	*hi = h;
}

void cp_config_cal(const struct cp_config *cfg, struct cp_cal *cal)
{
	memset(cal, 0, sizeof(*cal));
	cal->utc_offset_min = (int32_t)cfg->utc_offset_min;
	cal->auction_entry = cfg->auction_entry;
	cal->auction_match = cfg->auction_match;
	memcpy(cal->sess, cfg->sessions, sizeof(cal->sess[0]) * cfg->n_sessions);
	cal->n_sess = cfg->n_sessions;
	for (uint32_t i = 0; i < cfg->n_holidays; i++)
		cp_cal_add_holiday(cal, cfg->holidays[i]);
}

uint32_t cp_config_firm_sessions(const struct cp_config *cfg, uint32_t i)
{
	if (i < cfg->n_firms && cfg->firms[i].max_sessions)
		return cfg->firms[i].max_sessions;
	if (cfg->firm_sessions)
		return cfg->firm_sessions;
	uint32_t share = cfg->n_firms ? cfg->max_sessions / cfg->n_firms : cfg->max_sessions;
	return share ? share : 1;
}

const struct cp_firm *cp_config_firm(const struct cp_config *cfg, uint32_t firm_id)
{
	for (uint32_t i = 0; i < cfg->n_firms; i++)
		if (cfg->firms[i].id == firm_id)
			return &cfg->firms[i];
	return NULL;
}

/* ---- loading ------------------------------------------------------------------------ */

struct cp_load {
	const char *path;
	yaml_document_t *doc;
	char *err;
	size_t errlen;
	int firms_seen; /* the file has a firms: list */
};

static int cp_fail(struct cp_load *l, const yaml_node_t *n, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int cp_fail(struct cp_load *l, const yaml_node_t *n, const char *key, const char *fmt, ...)
{
	char why[160];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(l->err, l->errlen, "%s:%zu: %s: %s", l->path,
		 n ? n->start_mark.line + 1 : (size_t)0, key, why);
	return -EINVAL;
}

static const char *cp_scalar(const yaml_node_t *n)
{
	return (const char *)n->data.scalar.value;
}

static int cp_parse_int(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 0);
	if (errno || end == s || *end != '\0')
		return -EINVAL;
	*out = v;
	return 0;
}

static int cp_hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int cp_set(struct cp_load *l, const struct cp_key *k, void *base, const yaml_node_t *n,
		  const char *path)
{
	if (n->type != YAML_SCALAR_NODE)
		return cp_fail(l, n, path, "expected a single value");
	const char *s = cp_scalar(n);
	char *dst = (char *)base + k->off;
	int64_t v;

	switch (k->type) {
	case CT_U32:
	case CT_I64:
	case CT_U32_OFF:
		if (cp_parse_int(s, &v) < 0)
			return cp_fail(l, n, path, "'%s' is not an integer", s);
		if (k->type == CT_U32_OFF && v > 0 && v < k->min)
			return cp_fail(l, n, path, "%" PRId64 " is below %" PRId64 " (0 turns it off)",
				       v, k->min);
		if (k->type == CT_U32_OFF && v == 0) {
			uint32_t u = 0;
			memcpy(dst, &u, sizeof(u));
			return 0;
		}
		if (v < k->min || v > k->max)
			return cp_fail(l, n, path, "%" PRId64 " is outside [%" PRId64 ", %" PRId64 "]",
				       v, k->min, k->max);
		if (k->type != CT_I64) {
			uint32_t u = (uint32_t)v;
			memcpy(dst, &u, sizeof(u));
		} else {
			memcpy(dst, &v, sizeof(v));
		}
		return 0;
	case CT_STR:
		if (strlen(s) >= k->size)
			return cp_fail(l, n, path, "longer than %zu characters", k->size - 1);
		memcpy(dst, s, strlen(s) + 1);
		return 0;
	case CT_IP: {
		struct in_addr a;
		if (inet_pton(AF_INET, s, &a) != 1)
			return cp_fail(l, n, path, "'%s' is not an IPv4 address", s);
		uint32_t h = ntohl(a.s_addr);
		memcpy(dst, &h, sizeof(h));
		return 0;
	}
	case CT_OFFLOAD: {
		static const char *const names[] = {"none", "sw", "sim", "fpga", "shadow"};
		uint32_t t = 0;
		while (t < 5 && strcmp(s, names[t]) != 0)
			t++;
		if (t == 5)
			return cp_fail(l, n, path, "'%s' is not one of: none, sw, sim, fpga, shadow", s);
		memcpy(dst, &t, sizeof(t));
		return 0;
	}
	case CT_DURABILITY: {
		/* The order of jn_durability (JN_SYNC 0, JN_ASYNC 1, JN_NONE 2), then
		 * CP_DURABILITY_SYNC_REPLICATED (the journal syncs as JN_SYNC). */
		static const char *const names[] = {"sync", "async", "none", "sync-replicated"};
		uint32_t d = 0;
		while (d < 4 && strcmp(s, names[d]) != 0)
			d++;
		if (d == 4)
			return cp_fail(l, n, path, "'%s' is not one of: none, async, sync, "
				       "sync-replicated", s);
		memcpy(dst, &d, sizeof(d));
		return 0;
	}
	case CT_UDP_AUTH: {
		uint32_t on;
		if (strcmp(s, "required") == 0)
			on = 1;
		else if (strcmp(s, "off") == 0)
			on = 0;
		else
			return cp_fail(l, n, path, "'%s' is not one of: required, off", s);
		memcpy(dst, &on, sizeof(on));
		return 0;
	}
	case CT_ROLE: {
		static const char *const names[] = {"none", "primary", "standby"};
		uint32_t r = 0;
		while (r < 3 && strcmp(s, names[r]) != 0)
			r++;
		if (r == 3)
			return cp_fail(l, n, path, "'%s' is not one of: primary, standby, none", s);
		memcpy(dst, &r, sizeof(r));
		return 0;
	}
	case CT_HOSTPORT: {
		/* ADDR:PORT, an IPv4 address and a port 1-65535; empty: none. */
		char host[64];
		if (s[0] == '\0') {
			struct cp_hostport none = {0, 0, 0};
			memcpy(dst, &none, sizeof(none));
			return 0;
		}
		const char *colon = strrchr(s, ':');
		int64_t port;
		struct in_addr a;
		if (colon == NULL || (size_t)(colon - s) >= sizeof(host) || colon == s)
			return cp_fail(l, n, path, "'%s' is not ADDR:PORT (e.g. 127.0.0.1:19300)", s);
		memcpy(host, s, (size_t)(colon - s));
		host[colon - s] = '\0';
		if (inet_pton(AF_INET, host, &a) != 1)
			return cp_fail(l, n, path, "'%s' is not an IPv4 address (in '%s')", host, s);
		if (cp_parse_int(colon + 1, &port) < 0 || port < 1 || port > 65535)
			return cp_fail(l, n, path, "'%s' is not a port 1-65535 (in '%s')", colon + 1, s);
		struct cp_hostport hp = {ntohl(a.s_addr), (uint16_t)port, 1};
		memcpy(dst, &hp, sizeof(hp));
		return 0;
	}
	case CT_MODE: {
		uint32_t m;
		if (strcmp(s, "rtc") == 0)
			m = CP_MODE_RTC;
		else if (strcmp(s, "pipeline") == 0)
			m = CP_MODE_PIPELINE;
		else
			return cp_fail(l, n, path, "'%s' is not one of: rtc, pipeline", s);
		memcpy(dst, &m, sizeof(m));
		return 0;
	}
	case CT_HEX: {
		size_t len = strlen(s);
		if (len % 2 || len / 2 < (size_t)k->min || len / 2 > (size_t)k->max)
			return cp_fail(l, n, path, "expected %" PRId64 " to %" PRId64
				       " bytes as hex digits", k->min, k->max);
		for (size_t i = 0; i < len / 2; i++) {
			int hi = cp_hexval(s[2 * i]), lo = cp_hexval(s[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return cp_fail(l, n, path, "'%s' is not hex", s);
			dst[i] = (char)(hi << 4 | lo);
		}
		/* CT_HEX is only used for firm secrets: record the length beside them. */
		uint32_t n32 = (uint32_t)(len / 2);
		memcpy((char *)base + offsetof(struct cp_firm, secret_len), &n32, sizeof(n32));
		return 0;
	}
	case CT_HHMM: {
		uint32_t m;
		if (cp_parse_hhmm(s, &m) < 0)
			return cp_fail(l, n, path, "'%s' is not a time HH:MM", s);
		memcpy(dst, &m, sizeof(m));
		return 0;
	}
	case CT_DATE: {
		int32_t d;
		if (cp_parse_date(s, &d) < 0)
			return cp_fail(l, n, path, "'%s' is not a date YYYY-MM-DD", s);
		memcpy(dst, &d, sizeof(d));
		return 0;
	}
	case CT_WINDOW: {
		struct cp_window w;
		if (cp_parse_window(s, &w) < 0)
			return cp_fail(l, n, path, "'%s' is not a session HH:MM-HH:MM (start before "
				       "end)", s);
		memcpy(dst, &w, sizeof(w));
		return 0;
	}
	}
	return cp_fail(l, n, path, "internal: unknown type");
}

static const struct cp_key *cp_find(const struct cp_key *t, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(t[i].key, key) == 0)
			return &t[i];
	return NULL;
}

/* A key given twice in one mapping: libyaml keeps both and the last would silently win,
 * so the second is refused, naming the line of the first. */
static int cp_dup_key(struct cp_load *l, const yaml_node_t *map, const yaml_node_pair_t *p,
		      const char *path)
{
	const yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
	if (kn->type != YAML_SCALAR_NODE)
		return 0;
	for (const yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
		const yaml_node_t *qn = yaml_document_get_node(l->doc, q->key);
		if (qn->type == YAML_SCALAR_NODE && strcmp(cp_scalar(qn), cp_scalar(kn)) == 0)
			return cp_fail(l, kn, path, "given twice (first on line %zu): remove one",
				       qn->start_mark.line + 1);
	}
	return 0;
}

/* A list of mappings (firms, contracts): each item is read with its own key table. */
static int cp_list(struct cp_load *l, const yaml_node_t *seq, const char *name,
		   const struct cp_key *keys, size_t nkeys, void *items, size_t item_size,
		   uint32_t max, uint32_t *count, const char *const *required, size_t nreq)
{
	if (seq->type != YAML_SEQUENCE_NODE)
		return cp_fail(l, seq, name, "expected a list");
	uint32_t n = 0;
	for (yaml_node_item_t *it = seq->data.sequence.items.start;
	     it < seq->data.sequence.items.top; it++, n++) {
		yaml_node_t *item = yaml_document_get_node(l->doc, *it);
		char path[96];
		snprintf(path, sizeof(path), "%s[%u]", name, n);
		if (n >= max)
			return cp_fail(l, item, path, "more than %u entries", max);
		if (item->type != YAML_MAPPING_NODE)
			return cp_fail(l, item, path, "expected a mapping");
		char *base = (char *)items + (size_t)n * item_size;
		memset(base, 0, item_size);
		for (size_t r = 0; r < nreq; r++) {
			int seen = 0;
			for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
			     p < item->data.mapping.pairs.top; p++) {
				yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
				if (kn->type == YAML_SCALAR_NODE && strcmp(cp_scalar(kn), required[r]) == 0)
					seen = 1;
			}
			if (!seen)
				return cp_fail(l, item, path, "missing required key '%s'", required[r]);
		}
		for (yaml_node_pair_t *p = item->data.mapping.pairs.start;
		     p < item->data.mapping.pairs.top; p++) {
			yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
			yaml_node_t *vn = yaml_document_get_node(l->doc, p->value);
			char kpath[160];
			const char *ks = kn->type == YAML_SCALAR_NODE ? cp_scalar(kn) : "?";
			snprintf(kpath, sizeof(kpath), "%s.%s", path, ks);
			const struct cp_key *k = cp_find(keys, nkeys, ks);
			if (!k)
				return cp_fail(l, kn, kpath, "unknown key");
			int rc = cp_dup_key(l, item, p, kpath);
			if (rc == 0)
				rc = cp_set(l, k, base, vn, kpath);
			if (rc < 0)
				return rc;
		}
	}
	*count = n;
	return 0;
}

/* Is path a section (a mapping that holds keys) rather than a key? */
static int cp_is_section(const char *path)
{
	size_t n = strlen(path);
	for (size_t i = 0; i < NKEYS(cp_keys); i++)
		if (strncmp(cp_keys[i].key, path, n) == 0 && cp_keys[i].key[n] == '.')
			return 1;
	return 0;
}

static int cp_walk(struct cp_load *l, struct cp_config *cfg, const yaml_node_t *map,
		   const char *prefix)
{
	if (map->type != YAML_MAPPING_NODE)
		return cp_fail(l, map, prefix[0] ? prefix : "(top)", "expected a mapping");
	for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
		yaml_node_t *vn = yaml_document_get_node(l->doc, p->value);
		if (kn->type != YAML_SCALAR_NODE)
			return cp_fail(l, kn, prefix, "a key must be a plain name");
		char path[128];
		snprintf(path, sizeof(path), "%s%s%s", prefix, prefix[0] ? "." : "", cp_scalar(kn));
		int rc = cp_dup_key(l, map, p, path);
		if (rc < 0)
			return rc;

		if (strcmp(path, "firms") == 0) {
			static const char *const req[] = {"id", "secret"};
			rc = cp_list(l, vn, path, cp_firm_keys, NKEYS(cp_firm_keys), cfg->firms,
				     sizeof(cfg->firms[0]), CP_MAX_FIRMS, &cfg->n_firms, req, 2);
			if (rc == 0 && cfg->n_firms == 0)
				return cp_fail(l, vn, path, "an empty list: name at least one firm");
			l->firms_seen = 1;
		} else if (strcmp(path, "contracts") == 0) {
			static const char *const req[] = {"id", "tick", "ref_price"};
			uint32_t n = 0;
			rc = cp_list(l, vn, path, cp_contract_keys, NKEYS(cp_contract_keys),
				     cfg->contracts, sizeof(cfg->contracts[0]), CP_MAX_CONTRACTS, &n,
				     req, 3);
			/* Unset optional fields take the product defaults. */
			for (uint32_t i = 0; rc == 0 && i < n; i++) {
				struct cp_contract *c = &cfg->contracts[i];
				if (!c->band_bp)
					c->band_bp = 800;
				if (!c->max_qty)
					c->max_qty = 10000;
				if (!c->max_orders)
					c->max_orders = 65536;
				if (!c->symbol[0])
					snprintf(c->symbol, sizeof(c->symbol), "C%u", c->id);
			}
			cfg->n_contracts = n;
		} else if (strcmp(path, "accounts") == 0) {
			static const char *const req[] = {"firm", "account", "max_qty", "max_position"};
			rc = cp_list(l, vn, path, cp_account_keys, NKEYS(cp_account_keys),
				     cfg->accounts, sizeof(cfg->accounts[0]), CP_MAX_ACCOUNTS,
				     &cfg->n_accounts, req, 4);
		} else if (strcmp(path, "trading.sessions") == 0 ||
			   strcmp(path, "trading.holidays") == 0) {
			int is_sess = path[8] == 's';
			uint32_t max = is_sess ? CP_MAX_SESSIONS : CP_MAX_HOLIDAYS;
			if (vn->type != YAML_SEQUENCE_NODE)
				return cp_fail(l, vn, path, "expected a list");
			uint32_t n = 0;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			     it < vn->data.sequence.items.top; it++, n++) {
				yaml_node_t *e = yaml_document_get_node(l->doc, *it);
				char ipath[160];
				snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
				if (n >= max)
					return cp_fail(l, e, ipath, "more than %u entries", max);
				rc = cp_set(l, is_sess ? &cp_session_key : &cp_holiday_key,
					    is_sess ? (void *)&cfg->sessions[n] : (void *)&cfg->holidays[n],
					    e, ipath);
				if (rc < 0)
					return rc;
				if (is_sess && n > 0 && cfg->sessions[n].start < cfg->sessions[n - 1].end)
					return cp_fail(l, e, ipath, "starts before the previous session "
						       "ends");
			}
			if (is_sess)
				cfg->n_sessions = n;
			else
				cfg->n_holidays = n;
			rc = 0;
		} else if (strcmp(path, "replication.etcd") == 0) {
			if (vn->type != YAML_SEQUENCE_NODE)
				return cp_fail(l, vn, path, "expected a list of URLs");
			uint32_t n = 0;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			     it < vn->data.sequence.items.top; it++, n++) {
				yaml_node_t *e = yaml_document_get_node(l->doc, *it);
				char ipath[160];
				snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
				if (n >= CP_MAX_ETCD)
					return cp_fail(l, e, ipath, "more than %d endpoints", CP_MAX_ETCD);
				static const struct cp_key uk = {"", CT_STR, 0, CP_STR, 0, 0};
				rc = cp_set(l, &uk, cfg->repl_etcd[n], e, ipath);
				if (rc < 0)
					return rc;
				if (strncmp(cfg->repl_etcd[n], "http://", 7) != 0 &&
				    strncmp(cfg->repl_etcd[n], "https://", 8) != 0)
					return cp_fail(l, e, ipath, "'%s' is not an http:// or https:// URL "
						       "(an etcd member's client URL)", cfg->repl_etcd[n]);
			}
			cfg->n_repl_etcd = n;
			rc = 0;
		} else if (strcmp(path, "eal") == 0 || strcmp(path, "cores.match") == 0) {
			int is_eal = path[0] == 'e';
			if (vn->type != YAML_SEQUENCE_NODE)
				return cp_fail(l, vn, path, "expected a list");
			uint32_t n = 0;
			for (yaml_node_item_t *it = vn->data.sequence.items.start;
			     it < vn->data.sequence.items.top; it++, n++) {
				yaml_node_t *e = yaml_document_get_node(l->doc, *it);
				char ipath[160];
				snprintf(ipath, sizeof(ipath), "%s[%u]", path, n);
				if (n >= (is_eal ? CP_MAX_EAL_ARGS : CP_MAX_CORES))
					return cp_fail(l, e, ipath, "too many entries");
				static const struct cp_key ek = {"", CT_STR, 0, CP_STR, 0, 0};
				static const struct cp_key ck = {"", CT_U32, 0, 0, 0, 1023};
				rc = cp_set(l, is_eal ? &ek : &ck,
					    is_eal ? (void *)cfg->eal_extra[n] : (void *)&cfg->match_lcores[n],
					    e, ipath);
				if (rc < 0)
					return rc;
			}
			if (is_eal)
				cfg->n_eal_extra = n;
			else
				cfg->n_match_lcores = n;
			rc = 0;
		} else if (vn->type == YAML_MAPPING_NODE) {
			rc = cp_walk(l, cfg, vn, path);
		} else {
			const struct cp_key *k = cp_find(cp_keys, NKEYS(cp_keys), path);
			if (!k && cp_is_section(path))
				return cp_fail(l, vn, path, "expected a mapping");
			if (!k)
				return cp_fail(l, kn, path, "unknown key");
			rc = cp_set(l, k, cfg, vn, path);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

int cp_config_check(const struct cp_config *cfg, char *err, size_t errlen)
{
#define CHECK(cond, ...)                                   \
	do {                                               \
		if (!(cond)) {                             \
			snprintf(err, errlen, __VA_ARGS__); \
			return -EINVAL;                    \
		}                                          \
	} while (0)
	const char *src = cfg->source;
	CHECK(cfg->n_match_lcores >= 1, "%s: cores.match: at least one matching core", src);
	CHECK(cfg->repl_role != CP_ROLE_PRIMARY || cfg->repl_listen.set,
	      "%s: replication.listen: required for role primary (the ADDR:PORT standbys connect "
	      "to)", src);
	CHECK(cfg->repl_role != CP_ROLE_STANDBY || cfg->repl_primary.set,
	      "%s: replication.primary: required for role standby (the primary's ADDR:PORT)", src);
	CHECK(cfg->repl_role == CP_ROLE_NONE || cfg->journal_dir[0],
	      "%s: replication: needs a journal (journal.dir): the link carries its records", src);
	CHECK(cfg->journal_durability != CP_DURABILITY_SYNC_REPLICATED ||
	      cfg->repl_role != CP_ROLE_NONE,
	      "%s: journal.durability sync-replicated needs replication (role primary or standby)",
	      src);
	CHECK(cfg->repl_role != CP_ROLE_NONE || cfg->n_repl_etcd == 0,
	      "%s: replication.etcd: a lease needs a role (primary or standby)", src);
	CHECK(cfg->n_repl_etcd == 0 || cfg->repl_etcd_key[0] == '/',
	      "%s: replication.etcd_key: '%s' must start with /", src, cfg->repl_etcd_key);
	CHECK(cfg->repl_lease_margin_ms * 2ull <= cfg->repl_lease_s * 1000ull,
	      "%s: replication.lease_margin_ms (%u) must be at most half of lease_s (%u s): the "
	      "primary renews every third of it", src, cfg->repl_lease_margin_ms, cfg->repl_lease_s);
	CHECK(cfg->repl_role != CP_ROLE_NONE ||
	      (!cfg->repl_listen.set && !cfg->repl_primary.set),
	      "%s: replication: listen or primary given without a role (role: primary or standby)",
	      src);
	CHECK(cfg->offload_target != CP_OFF_FPGA || cfg->offload_vfio_group[0],
	      "%s: offload.vfio_group: required when offload.target is fpga", src);
	CHECK(!cfg->metrics_listen[0] ||
	      cp_config_parse_listen(cfg->metrics_listen, &(uint32_t){0}, &(uint16_t){0}) == 0,
	      "%s: metrics.listen: '%s' is not ADDR:PORT (an IPv4 address and a port 1-65535)",
	      src, cfg->metrics_listen);
	CHECK(tkx_log_level_parse(cfg->log_level) >= TKX_LOG_ERR,
	      "%s: log.level: '%s' is not err, warn, notice, info or debug", src, cfg->log_level);
	CHECK(tkx_log_format_parse(cfg->log_format) >= 0,
	      "%s: log.format: '%s' is not auto, text, journal or bare", src, cfg->log_format);
	CHECK(strspn(cfg->eal_prefix, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		     "0123456789_.-") == strlen(cfg->eal_prefix) && cfg->eal_prefix[0] != '.',
	      "%s: telemetry.file_prefix: '%s': use letters, digits, '_', '-' and '.' (a "
	      "directory name)", src, cfg->eal_prefix);
	CHECK((cfg->ring_size & (cfg->ring_size - 1)) == 0, "%s: ring_size: %u is not a power of two",
	      src, cfg->ring_size);
	CHECK((cfg->retransmit_depth & (cfg->retransmit_depth - 1)) == 0,
	      "%s: sessions.retransmit_depth: %u is not a power of two", src, cfg->retransmit_depth);
	CHECK(cfg->keepalive_min_ms <= cfg->keepalive_max_ms,
	      "%s: sessions.keepalive_min_ms: above keepalive_max_ms", src);
	CHECK(cfg->n_firms >= 1, "%s: firms: at least one firm", src);
	CHECK(cfg->n_contracts >= 1, "%s: contracts: at least one contract", src);
	CHECK((cfg->md_group >> 28) == 0xE, "%s: md.group: not a multicast address", src);
	CHECK(cfg->md_session[0] && strlen(cfg->md_session) <= TKX_MD_SESSION_LEN,
	      "%s: md.session: '%s' must be 1 to 10 characters", src, cfg->md_session);
	CHECK((cfg->md_retain & (cfg->md_retain - 1)) == 0, "%s: md.retain: %u is not a power of two",
	      src, cfg->md_retain);
	CHECK((cfg->md_req_sources & (cfg->md_req_sources - 1)) == 0,
	      "%s: md.request_sources: %u is not a power of two", src, cfg->md_req_sources);
	CHECK(cfg->md_req_burst >= cfg->md_req_max_bytes,
	      "%s: md.request_burst: %u is below md.request_max_bytes (%u): no answer could be whole",
	      src, cfg->md_req_burst, cfg->md_req_max_bytes);
	CHECK(cfg->md_req_global_rate / 10 >= cfg->md_req_max_bytes,
	      "%s: md.request_global_rate: %u bytes/s holds less than md.request_max_bytes (%u) in "
	      "its 100 ms bucket", src, cfg->md_req_global_rate, cfg->md_req_max_bytes);
	for (uint32_t i = 0; i < cfg->n_firms; i++)
		for (uint32_t j = 0; j < i; j++)
			CHECK(cfg->firms[i].id != cfg->firms[j].id, "%s: firms[%u].id: %u used twice",
			      src, i, cfg->firms[i].id);
	/* A limit as large as the table lets one firm fill it for every other. */
	CHECK(cfg->firm_sessions <= cfg->max_sessions,
	      "%s: sessions.per_firm: %u is above sessions.max (%u)", src, cfg->firm_sessions,
	      cfg->max_sessions);
	for (uint32_t i = 0; i < cfg->n_firms; i++)
		CHECK(cfg->firms[i].max_sessions <= cfg->max_sessions,
		      "%s: firms[%u].max_sessions: %u is above sessions.max (%u)", src, i,
		      cfg->firms[i].max_sessions, cfg->max_sessions);
	for (uint32_t i = 0; i < cfg->n_contracts; i++) {
		const struct cp_contract *c = &cfg->contracts[i];
		for (uint32_t j = 0; j < i; j++)
			CHECK(c->id != cfg->contracts[j].id, "%s: contracts[%u].id: %u used twice", src,
			      i, c->id);
		CHECK(c->core < cfg->n_match_lcores,
		      "%s: contracts[%u].core: %u but only %u matching cores", src, i, c->core,
		      cfg->n_match_lcores);
		CHECK(c->ref_price % c->tick == 0,
		      "%s: contracts[%u].ref_price: %" PRId64 " is not a multiple of tick %" PRId64,
		      src, i, c->ref_price, c->tick);
		int64_t lo, hi;
		cp_contract_band(c, &lo, &hi);
		CHECK(lo <= hi, "%s: contracts[%u]: the price band holds no tick", src, i);
	}
	CHECK(cfg->n_sessions >= 1, "%s: trading.sessions: at least one session", src);
	CHECK(cfg->auction_entry < cfg->auction_match,
	      "%s: trading.auction_entry: must be before trading.auction_match", src);
	CHECK(cfg->auction_match <= cfg->sessions[0].start,
	      "%s: trading.auction_match: after the first session starts", src);
	CHECK(cfg->first_day_bp >= cfg->band_bp && cfg->locked_bp >= cfg->band_bp,
	      "%s: limits: first_day_bp and locked_bp must be at least band_bp", src);
	CHECK(cfg->retransmit_max <= cfg->retransmit_depth,
	      "%s: sessions.retransmit_max: %u is above sessions.retransmit_depth %u", src,
	      cfg->retransmit_max, cfg->retransmit_depth);
	for (uint32_t i = 0; i < cfg->n_accounts; i++) {
		const struct cp_account_limit *a = &cfg->accounts[i];
		CHECK(cp_config_firm(cfg, a->firm) != NULL,
		      "%s: accounts[%u].firm: %u is not one of the firms", src, i, a->firm);
		CHECK(a->max_pos_spot <= a->max_pos,
		      "%s: accounts[%u].max_position_spot: above max_position", src, i);
		for (uint32_t j = 0; j < i; j++)
			CHECK(a->firm != cfg->accounts[j].firm || a->account != cfg->accounts[j].account,
			      "%s: accounts[%u]: firm %u account %u listed twice", src, i, a->firm,
			      a->account);
	}
	return 0;
#undef CHECK
}

int cp_config_load(struct cp_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot open: %s", path, strerror(e));
		return -e;
	}
	yaml_parser_t parser;
	yaml_document_t doc;
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	int rc = 0;
	if (!yaml_parser_load(&parser, &doc)) {
		snprintf(err, errlen, "%s:%zu: %s %s", path, parser.problem_mark.line + 1,
			 parser.problem ? parser.problem : "syntax error",
			 parser.context ? parser.context : "");
		yaml_parser_delete(&parser);
		fclose(f);
		return -EINVAL;
	}
	/* Work on a copy: a file that fails half way leaves cfg as it was. */
	struct cp_config *tmp = malloc(sizeof(*tmp));
	if (!tmp) {
		rc = -ENOMEM;
		snprintf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	*tmp = *cfg;
	snprintf(tmp->source, sizeof(tmp->source), "%s", path);
	struct cp_load l = {path, &doc, err, errlen, 0};
	yaml_node_t *root = yaml_document_get_root_node(&doc);
	if (root)
		rc = cp_walk(&l, tmp, root, "");
	if (rc == 0 && !l.firms_seen) {
		snprintf(err, errlen, "%s: firms: missing: a configuration file names its firms "
			 "(the built-in demo firms, whose secrets are public, exist only when no "
			 "file is given)", path);
		rc = -EINVAL;
	}
	tmp->demo_firms = 0;
	if (rc == 0)
		rc = cp_config_check(tmp, err, errlen);
	if (rc == 0)
		*cfg = *tmp;
	free(tmp);
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

/* ---- reading keys back ------------------------------------------------------------- */

int cp_config_parse_listen(const char *s, uint32_t *ip, uint16_t *port)
{
	char buf[32];
	struct in_addr a;
	int64_t p;
	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, s, strlen(s) + 1);
	char *colon = strrchr(buf, ':');
	if (!colon)
		return -EINVAL;
	*colon = 0;
	if (inet_pton(AF_INET, buf, &a) != 1 || cp_parse_int(colon + 1, &p) < 0 || p < 1 ||
	    p > 65535)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	*port = (uint16_t)p;
	return 0;
}

int cp_config_key_info(const char *list, size_t i, struct cp_key_info *out)
{
	const struct cp_key *t;
	size_t n;
	if (list == NULL) {
		t = cp_keys;
		n = NKEYS(cp_keys);
	} else if (strcmp(list, "firms") == 0) {
		t = cp_firm_keys;
		n = NKEYS(cp_firm_keys);
	} else if (strcmp(list, "contracts") == 0) {
		t = cp_contract_keys;
		n = NKEYS(cp_contract_keys);
	} else if (strcmp(list, "accounts") == 0) {
		t = cp_account_keys;
		n = NKEYS(cp_account_keys);
	} else {
		return -ENOENT;
	}
	if (i >= n)
		return -ENOENT;
	static const char *const range[] = {
		[CT_U32] = "integer", [CT_I64] = "integer", [CT_STR] = "text",
		[CT_IP] = "IPv4 address", [CT_MODE] = "rtc | pipeline",
		[CT_HEX] = "hex digits", [CT_HHMM] = "HH:MM (local time)",
		[CT_DATE] = "YYYY-MM-DD", [CT_WINDOW] = "HH:MM-HH:MM",
		[CT_OFFLOAD] = "none | sw | sim | fpga | shadow",
		[CT_DURABILITY] = "sync | async | none | sync-replicated", [CT_U32_OFF] = "integer, or 0 (off)",
		[CT_UDP_AUTH] = "required | off", [CT_ROLE] = "primary | standby | none",
		[CT_HOSTPORT] = "ADDR:PORT (IPv4), or empty (none)"};
	memset(out, 0, sizeof(*out));
	out->key = t[i].key;
	out->range = range[t[i].type];
	out->min = t[i].min;
	out->max = t[i].max;
	out->size = t[i].size;
	out->is_int = t[i].type == CT_U32 || t[i].type == CT_I64 ? 1 : t[i].type == CT_U32_OFF ? 2 : 0;
	return 0;
}

const char *cp_config_key(size_t i)
{
	return i < NKEYS(cp_keys) ? cp_keys[i].key : NULL;
}

int cp_config_get(const struct cp_config *cfg, const char *key, char *out, size_t len)
{
	const struct cp_key *k = cp_find(cp_keys, NKEYS(cp_keys), key);
	if (!k)
		return -ENOENT;
	const char *src = (const char *)cfg + k->off;
	uint32_t u;
	int64_t v;
	switch (k->type) {
	case CT_U32:
	case CT_U32_OFF:
		memcpy(&u, src, sizeof(u));
		snprintf(out, len, "%" PRIu32, u);
		return 0;
	case CT_I64:
		memcpy(&v, src, sizeof(v));
		snprintf(out, len, "%" PRId64, v);
		return 0;
	case CT_STR:
		snprintf(out, len, "%s", src);
		return 0;
	case CT_IP: {
		memcpy(&u, src, sizeof(u));
		struct in_addr a = {htonl(u)};
		if (!inet_ntop(AF_INET, &a, out, (socklen_t)len))
			return -ENOSPC;
		return 0;
	}
	case CT_HHMM:
		memcpy(&u, src, sizeof(u));
		snprintf(out, len, "%02" PRIu32 ":%02" PRIu32, u / 60, u % 60);
		return 0;
	case CT_MODE:
	case CT_OFFLOAD:
	case CT_DURABILITY: {
		static const char *const mode[] = {"rtc", "pipeline"};
		static const char *const off[] = {"none", "sw", "sim", "fpga", "shadow"};
		static const char *const dur[] = {"sync", "async", "none", "sync-replicated"};
		memcpy(&u, src, sizeof(u));
		const char *const *names = k->type == CT_MODE ? mode : k->type == CT_OFFLOAD ? off : dur;
		snprintf(out, len, "%s", u <= (uint32_t)k->max ? names[u] : "?");
		return 0;
	}
	case CT_UDP_AUTH:
		memcpy(&u, src, sizeof(u));
		snprintf(out, len, "%s", u ? "required" : "off");
		return 0;
	case CT_ROLE: {
		static const char *const role[] = {"none", "primary", "standby"};
		memcpy(&u, src, sizeof(u));
		snprintf(out, len, "%s", u < 3 ? role[u] : "?");
		return 0;
	}
	case CT_HOSTPORT: {
		struct cp_hostport hp;
		memcpy(&hp, src, sizeof(hp));
		if (!hp.set) {
			snprintf(out, len, "%s", "");
			return 0;
		}
		struct in_addr a = {htonl(hp.ip)};
		char ip[INET_ADDRSTRLEN];
		if (!inet_ntop(AF_INET, &a, ip, sizeof(ip)))
			return -ENOSPC;
		snprintf(out, len, "%s:%u", ip, (unsigned)hp.port);
		return 0;
	}
	default:
		return -ENOENT;
	}
}
