/*
 * cp_config_doc.c - what each configuration key means, and the annotated example file
 * written from the parser's own table (`tokexd --print-config-example`, installed as
 * /etc/tokex/tokexd.yaml).
 *
 * Role: control plane, off line (a build step, an operator's command). The keys, their
 * ranges and their defaults come from cp_config.c (cp_config_key_info, cp_config_get on
 * cp_config_defaults); this file adds one line of meaning per key. tests/config/
 * test_config_example.c checks that every key of the table has its line here and every
 * line here a key, and that the example parses to the defaults (bar the few values the
 * packaged file sets on purpose: cp_example_sets).
 */
#include "cp_config_doc.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include "cp_config.h"

struct cp_doc {
	const char *key; /* a scalar key, a list ("firms"), or a list's item key ("firms[].id") */
	const char *doc;
};

static const struct cp_doc cp_docs[] = {
	{"mode", "rtc: one core receives, runs the sessions and matches; pipeline: an RX/session "
		 "core and matching cores (cores.match) joined by rings"},
	{"port.vdev", "DPDK virtual device of the port (net_tap0,iface=tkx0; "
		      "net_memif0,role=server,socket=...); \"\" = the first NIC bound to a DPDK "
		      "driver (vfio-pci; give EAL its address in eal: [\"-a\", \"0000:3b:00.0\"])"},
	{"port.ip", "the appliance's IPv4 address on the port (it answers ARP and ping for it)"},
	{"port.udp_port", "UDP order entry port"},
	{"cores.rx", "lcore (CPU) of the RX/session loop, and of everything in rtc mode: an "
		     "isolated CPU (isolcpus, nohz_full)"},
	{"cores.match", "pipeline mode: lcores of the matching cores, one per entry (contracts[]"
			".core indexes this list); ignored in rtc mode"},
	{"ring_size", "entries of each ring between the RX core and a matching core (power of "
		      "two); a full ring answers Reject(BUSY)"},
	{"telemetry.file_prefix", "DPDK's --file-prefix: its runtime directory, with the "
				  "telemetry socket RUNDIR/dpdk/PREFIX/dpdk_telemetry.v2 (RUNDIR: "
				  "$RUNTIME_DIRECTORY under systemd, else /var/run); \"\" = tokexd-PID, "
				  "a new path at each start"},
	{"metrics.listen", "ADDR:PORT of the Prometheus text endpoint (GET /metrics), served by "
			   "a thread off the data path; \"\" = none"},
	{"log.level", "the lowest level of tokexd's log lines written: err, warn, notice, info "
		      "or debug (DPDK's own: EAL's --log-level in eal:)"},
	{"log.format", "text: UTC time and level before each line; journal: sd-daemon <N> "
		       "priority prefixes for journald; bare: neither (a collector that stamps "
		       "lines); auto: journal under systemd (JOURNAL_STREAM, NOTIFY_SOCKET), else "
		       "text. The environment's TOKEX_LOG_FORMAT overrides it"},
	{"offload.target", "top-of-book offload target: none, sw (software model), sim (the "
			   "Verilated RTL), fpga (a board through VFIO), shadow (sw beside the "
			   "engine, compared)"},
	{"offload.levels", "price levels per side the offload target keeps"},
	{"offload.vfio_group", "fpga: the board's IOMMU group (/dev/vfio/N); required with fpga"},
	{"tcp.ip", "TCP order entry address (the kernel's stack, io_uring gateway); 0.0.0.0 = "
		   "every address"},
	{"tcp.port", "TCP order entry port"},
	{"tcp.max_conns", "TCP connections at once; 0 = sessions.max"},
	{"tcp.max_conns_per_ip", "TCP connections one source address may hold"},
	{"tcp.negotiate_deadline_ms", "a TCP connection must show valid credentials within this"},
	{"md.group", "market data multicast group"},
	{"md.port", "market data UDP port"},
	{"md.request_port", "UDP port of market-data gap re-requests"},
	{"md.session", "market data session name, 1 to 10 characters"},
	{"md.snapshot_ms", "a Snapshot of every book this often"},
	{"md.retain", "market data packets kept for gap re-requests (power of two)"},
	{"md.heartbeat_ms", "a heartbeat packet after this much silence"},
	{"md.request_max_msgs", "messages in one answer to a gap re-request"},
	{"md.request_max_bytes", "bytes of one answer to a gap re-request, all its packets"},
	{"md.request_rate", "re-request answers, bytes per second per source address"},
	{"md.request_burst", "re-request answers, per-source bucket depth in bytes"},
	{"md.request_global_rate", "re-request answers, bytes per second from all sources "
				   "(bucket: 100 ms of it)"},
	{"md.request_sources", "source addresses the re-request limiter tracks (power of two)"},
	{"md.depth", "Depth (market by price) levels per side, 0 = no Depth messages (at most 32)"},
	{"md.orders", "1: OrderBook messages (market by order, every visible order change); 0: none"},
	{"md.book_orders", "resting orders, all contracts, that the order-by-order feed follows (each 64 bytes)"},
	{"sessions.max", "sessions at once, UDP and TCP in one table"},
	{"sessions.keepalive_min_ms", "shortest keepalive interval a client may ask for"},
	{"sessions.keepalive_max_ms", "longest keepalive interval a client may ask for"},
	{"sessions.throttle_rate", "messages per second per session"},
	{"sessions.throttle_burst", "messages a session may send at once above the rate"},
	{"sessions.throttle_grace", "throttled messages per second before the session is "
				    "terminated"},
	{"sessions.retransmit_depth", "messages kept per session for retransmission (power "
				      "of two)"},
	{"sessions.retransmit_max", "messages in one RetransmitRequest's answer (at most "
				    "retransmit_depth)"},
	{"sessions.timestamp_tolerance_ms", "Negotiate and Establish timestamps against the "
					    "clock"},
	{"sessions.linger_ms", "a terminated session is kept this long (its resting orders "
			       "and numbering)"},
	{"sessions.per_firm", "sessions one firm may hold (firms[].max_sessions overrides); 0 = "
			      "sessions.max / number of firms"},
	{"sessions.udp_auth", "required: every UDP session datagram carries a MAC; off only to "
			      "measure its cost, never on a venue open to members"},
	{"control.socket", "tokexctl's Unix socket"},
	{"control.startup", "a file of tokexctl commands run at start; \"\" = none"},
	{"control.scheduler", "1: the trading calendar drives the contracts' phases, "
			      "settlement, expiry and listing; 0: the operator does (tokexctl)"},
	{"trading.utc_offset_min", "the exchange's local time: minutes east of UTC"},
	{"trading.auction_entry", "opening auction: order entry starts"},
	{"trading.auction_match", "opening auction: the uncross"},
	{"trading.sessions", "continuous trading sessions of a day, local time, in order"},
	{"trading.holidays", "days without trading"},
	{"limits.band_bp", "a normal day's price limits, basis points of the reference price"},
	{"limits.first_day_bp", "price limits on a contract's first trading day"},
	{"limits.locked_bp", "price limits the day after a limit-locked close"},
	{"limits.vol_guard_bp", "a move this large in a short window interrupts trading; 0 = "
				"off"},
	{"limits.vol_halt_s", "how long a volatility interruption lasts"},
	{"settlement.index_file", "the operator's index fixings (YYYY-MM-DD,price lines) for "
				  "final settlement; \"\" = none"},
	{"journal.dir", "input journal directory (created if missing); \"\" = no journal: "
			"nothing survives a restart"},
	{"journal.durability", "sync: a reply leaves once its request is on disk (fdatasync); "
			       "async: written, not synced; none: not waited for; "
			       "sync-replicated: sync, and on the following standby's disk too "
			       "(while one follows)"},
	{"journal.fault_write_after", "TESTING ONLY: the Nth journal write fails (EIO); 0 = off"},
	{"journal.snapshot_every", "a snapshot of the state every N journal records, so that "
				   "recovery replays only what follows it"},
	{"journal.segment_kb", "a journal segment file's size (KiB); snapshots prune whole "
			       "segments only"},
	{"replication.role", "primary or standby (docs/STANDBY.md); without it, no "
			     "replication"},
	{"replication.listen", "the primary's replication link address, ADDR:PORT"},
	{"replication.primary", "a standby's primary to follow, ADDR:PORT"},
	{"replication.send_buffer_kb", "records (KiB) a standby may be behind before the "
				       "primary drops it as too slow (it catches up again)"},
	{"replication.fault_corrupt_after", "TESTING ONLY: the Nth record the primary sends "
					    "is damaged; 0 = off"},
	{"replication.etcd", "the lease's arbiter: etcd members' client URLs (three in "
			     "production); none = no lease and no promotion (docs/STANDBY.md)"},
	{"replication.etcd_key", "the leader key in etcd (its epoch in <key>/epoch); one per "
				 "primary/standby pair"},
	{"replication.lease_s", "the primary's lease in etcd, seconds: a standby takes over "
				"this long after the primary stopped renewing it"},
	{"replication.lease_margin_ms", "a primary that cannot renew stops accepting orders "
					"(Terminate SHUTDOWN) this long before its lease could have "
					"expired, by its own clock"},
	{"journal.stall_ms", "durability making no progress this long (ms) while replies wait "
			     "means a failed disk: the appliance halts (answers STORAGE)"},
	{"eal", "extra DPDK EAL arguments, one per entry (e.g. \"-a\", \"0000:3b:00.0\", "
		"\"--in-memory\")"},
	{"firms", "the member firms (required: a file names its firms)"},
	{"firms[].id", "firm id, as clients give it in Negotiate"},
	{"firms[].secret", "the firm's credential key, hex (generate: openssl rand -hex 32)"},
	{"firms[].name", "a name for logs and tokexctl"},
	{"firms[].max_sessions", "sessions it may hold; 0 = sessions.per_firm"},
	{"contracts", "the listed contracts; without this list, twelve monthly contracts from "
		      "the current month (id YYYYMM, tick 10, reference 25000)"},
	{"contracts[].id", "contract id (YYYYMM for the monthly contracts)"},
	{"contracts[].symbol", "symbol; default C<id>"},
	{"contracts[].core", "pipeline: the matching core (index into cores.match) that owns it"},
	{"contracts[].tick", "tick size, price units (0.0001)"},
	{"contracts[].ref_price", "reference price (previous settlement), a multiple of tick"},
	{"contracts[].band_bp", "daily price limits, basis points of ref_price; default 800"},
	{"contracts[].max_qty", "largest order, lots; default 10000"},
	{"contracts[].max_orders", "resting orders its book holds; default 65536"},
	{"accounts", "per-account risk limits the matching cores enforce; none by default"},
	{"accounts[].firm", "the account's firm"},
	{"accounts[].account", "account number within the firm"},
	{"accounts[].max_qty", "largest order, lots"},
	{"accounts[].max_position", "largest net position per contract, lots"},
	{"accounts[].max_position_spot", "in the spot month; 0 = max_position"},
};

/* Values the installed example sets on purpose, where a service wants other than the
 * built-in default (which stays what a bare tokexd, and the tests, run with). */
static const struct {
	const char *key, *value, *why;
} cp_example_sets[] = {
	{"telemetry.file_prefix", "tokexd", "a telemetry socket at a path that stays"},
	{"metrics.listen", "127.0.0.1:7420", "for Prometheus"},
};

/* The list keys, each placed in its section's mapping (or the top level). */
static const char *const cp_list_keys[] = {"cores.match", "trading.sessions", "trading.holidays",
					   "replication.etcd", "eal", "firms", "contracts",
					   "accounts"};

#define N(t) (sizeof(t) / sizeof((t)[0]))

const char *cp_config_doc(const char *key)
{
	for (size_t i = 0; i < N(cp_docs); i++)
		if (strcmp(cp_docs[i].key, key) == 0)
			return cp_docs[i].doc;
	return NULL;
}

const char *cp_config_doc_key(size_t i)
{
	return i < N(cp_docs) ? cp_docs[i].key : NULL;
}

const char *cp_config_example_value(const char *key)
{
	for (size_t i = 0; i < N(cp_example_sets); i++)
		if (strcmp(cp_example_sets[i].key, key) == 0)
			return cp_example_sets[i].value;
	return NULL;
}

/* A YAML double-quoted scalar. */
static void cp_quote(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void cp_value(FILE *f, const struct cp_key_info *k, const char *v)
{
	if (k->is_int)
		fputs(v, f);
	else
		cp_quote(f, v);
}

static void cp_range(FILE *f, const struct cp_key_info *k)
{
	if (k->is_int == 2)
		fprintf(f, "0 (off) or %" PRId64 "..%" PRId64, k->min, k->max);
	else if (k->is_int)
		fprintf(f, "%" PRId64 "..%" PRId64, k->min, k->max);
	else if (strcmp(k->range, "text") == 0)
		fprintf(f, "text, up to %zu characters", k->size - 1);
	else if (strcmp(k->range, "hex digits") == 0)
		fprintf(f, "%" PRId64 " to %" PRId64 " bytes as hex digits", k->min, k->max);
	else
		fputs(k->range, f);
}

/* The last dotted component of a key: what stands in its section's mapping. */
static const char *cp_leaf(const char *key)
{
	const char *dot = strrchr(key, '.');
	return dot ? dot + 1 : key;
}

/* Whether key lies in section sec ("" = the top level). */
static int cp_in(const char *key, const char *sec)
{
	size_t n = strlen(sec);
	if (n == 0)
		return strchr(key, '.') == NULL;
	return strncmp(key, sec, n) == 0 && key[n] == '.';
}

static void cp_comment(FILE *f, const char *ind, const char *text)
{
	/* One comment line per ~88 columns, broken at spaces. */
	size_t width = 88 - strlen(ind) - 2, len = strlen(text);
	while (len) {
		size_t n = len;
		if (n > width) {
			n = width;
			while (n > 0 && text[n] != ' ')
				n--;
			if (n == 0)
				n = width;
		}
		fprintf(f, "%s# %.*s\n", ind, (int)n, text);
		text += n;
		len -= n;
		while (*text == ' ') {
			text++;
			len--;
		}
	}
}

static void cp_scalar_entry(FILE *f, const struct cp_config *def, const struct cp_key_info *k,
			    const char *ind)
{
	char dv[160];
	const char *doc = cp_config_doc(k->key);
	cp_config_get(def, k->key, dv, sizeof(dv));
	cp_comment(f, ind, doc ? doc : "(undocumented)");
	fprintf(f, "%s# ", ind);
	cp_range(f, k);
	fputs("; default: ", f);
	cp_value(f, k, dv);
	fputc('\n', f);
	const char *set = cp_config_example_value(k->key);
	for (size_t i = 0; set && i < N(cp_example_sets); i++)
		if (strcmp(cp_example_sets[i].key, k->key) == 0)
			fprintf(f, "%s# this file: %s\n", ind, cp_example_sets[i].why);
	fprintf(f, "%s%s: ", ind, cp_leaf(k->key));
	cp_value(f, k, set ? set : dv);
	fputc('\n', f);
}

static void cp_items_doc(FILE *f, const char *list, const char *ind)
{
	struct cp_key_info k;
	char path[64];
	for (size_t i = 0; cp_config_key_info(list, i, &k) == 0; i++) {
		snprintf(path, sizeof(path), "%s[].%s", list, k.key);
		const char *doc = cp_config_doc(path);
		fprintf(f, "%s#   %s: %s (", ind, k.key, doc ? doc : "(undocumented)");
		cp_range(f, &k);
		fputs(")\n", f);
	}
}

static void cp_list_entry(FILE *f, const struct cp_config *def, const char *key, const char *ind)
{
	const char *leaf = cp_leaf(key);
	const char *doc = cp_config_doc(key);
	cp_comment(f, ind, doc ? doc : "(undocumented)");
	if (strcmp(key, "cores.match") == 0) {
		fprintf(f, "%s# lcore numbers 0..1023; default: [0]\n%s%s: [", ind, ind, leaf);
		for (uint32_t i = 0; i < def->n_match_lcores; i++)
			fprintf(f, "%s%u", i ? ", " : "", def->match_lcores[i]);
		fputs("]\n", f);
	} else if (strcmp(key, "trading.sessions") == 0) {
		fprintf(f, "%s# HH:MM-HH:MM, up to %d; default: as written\n%s%s: [", ind, CP_MAX_SESSIONS, ind, leaf);
		for (uint32_t i = 0; i < def->n_sessions; i++)
			fprintf(f, "%s\"%02u:%02u-%02u:%02u\"", i ? ", " : "",
				def->sessions[i].start / 60, def->sessions[i].start % 60,
				def->sessions[i].end / 60, def->sessions[i].end % 60);
		fputs("]\n", f);
	} else if (strcmp(key, "trading.holidays") == 0) {
		fprintf(f, "%s# YYYY-MM-DD, up to %d; default: none\n%s%s: [", ind, CP_MAX_HOLIDAYS,
			ind, leaf);
		for (uint32_t i = 0; i < def->n_holidays; i++) {
			char d[16];
			cp_format_date(def->holidays[i], d, sizeof(d));
			fprintf(f, "%s\"%s\"", i ? ", " : "", d);
		}
		fputs("]\n", f);
	} else if (strcmp(key, "replication.etcd") == 0) {
		fprintf(f, "%s# URLs, up to %d; default: none (e.g. [\"http://10.0.0.1:2379\", "
			"\"http://10.0.0.2:2379\", \"http://10.0.0.3:2379\"])\n%s%s: []\n", ind,
			CP_MAX_ETCD, ind, leaf);
	} else if (strcmp(key, "eal") == 0) {
		fprintf(f, "# text, up to %d entries; default: none\neal: []\n", CP_MAX_EAL_ARGS);
	} else if (strcmp(key, "firms") == 0) {
		fprintf(f, "# up to %d; each:\n", CP_MAX_FIRMS);
		cp_items_doc(f, "firms", "");
		fputs("# REPLACE the secret below (all zeros, a placeholder tokexd warns about):\n"
		      "# openssl rand -hex 32\n"
		      "firms:\n"
		      "  - id: 1\n"
		      "    name: \"firm-1\"\n"
		      "    secret: \"", f);
		for (int i = 0; i < 32; i++)
			fputs("00", f);
		fputs("\"\n    max_sessions: 0\n", f);
	} else if (strcmp(key, "contracts") == 0) {
		fprintf(f, "# up to %d; each (id, tick and ref_price required):\n", CP_MAX_CONTRACTS);
		cp_items_doc(f, "contracts", "");
		fputs("# contracts:\n"
		      "#   - id: 202701\n"
		      "#     symbol: \"TKN2701\"\n"
		      "#     core: 0\n"
		      "#     tick: 10\n"
		      "#     ref_price: 25000\n"
		      "#     band_bp: 800\n"
		      "#     max_qty: 10000\n"
		      "#     max_orders: 65536\n", f);
	} else if (strcmp(key, "accounts") == 0) {
		fprintf(f, "# up to %d; each (firm, account, max_qty, max_position required):\n",
			CP_MAX_ACCOUNTS);
		cp_items_doc(f, "accounts", "");
		fputs("accounts: []\n", f);
	}
}

int cp_config_example(FILE *f, const char *version)
{
	static struct cp_config def; /* ~40 KiB */
	struct cp_key_info k;
	const char *secs[32];
	size_t n_secs = 0;

	cp_config_defaults(&def);
	fprintf(f, "# tokexd.yaml: tokexd's configuration (tokexd -c FILE).\n"
		   "# tokex %s. Written by `tokexd --print-config-example` from the table\n"
		   "# tokexd's parser reads: every key, with its meaning, its range and its built-in\n"
		   "# default.\n"
		   "# A key left out keeps its default; a list given replaces the built-in list.\n"
		   "# Check a change with `tokexd -c FILE --print-config`.\n",
		   version);
	/* Sections in the table's order; the top level ("") first. */
	secs[n_secs++] = "";
	for (size_t i = 0; cp_config_key_info(NULL, i, &k) == 0; i++) {
		const char *dot = strchr(k.key, '.');
		if (!dot)
			continue;
		size_t len = (size_t)(dot - k.key), j;
		for (j = 1; j < n_secs; j++)
			if (strcspn(secs[j], ".") == len && strncmp(secs[j], k.key, len) == 0)
				break;
		if (j == n_secs) {
			if (n_secs == N(secs))
				return -ENOSPC;
			secs[n_secs++] = k.key; /* its section: up to the first dot */
		}
	}
	for (size_t s = 0; s < n_secs; s++) {
		char sec[32];
		const char *dot = strchr(secs[s], '.');
		size_t len = s == 0 ? 0 : (size_t)(dot - secs[s]);
		snprintf(sec, sizeof(sec), "%.*s", (int)len, secs[s]);
		const char *ind = len ? "  " : "";
		fputc('\n', f);
		if (len)
			fprintf(f, "%s:\n", sec);
		int first = 1;
		for (size_t i = 0; cp_config_key_info(NULL, i, &k) == 0; i++) {
			if (!cp_in(k.key, sec))
				continue;
			if (!first)
				fputc('\n', f);
			first = 0;
			cp_scalar_entry(f, &def, &k, ind);
		}
		for (size_t i = 0; len && i < N(cp_list_keys); i++)
			if (cp_in(cp_list_keys[i], sec)) {
				fputc('\n', f);
				cp_list_entry(f, &def, cp_list_keys[i], ind);
			}
	}
	for (size_t i = 0; i < N(cp_list_keys); i++)
		if (strchr(cp_list_keys[i], '.') == NULL) {
			fputc('\n', f);
			cp_list_entry(f, &def, cp_list_keys[i], "");
		}
	return ferror(f) ? -EIO : 0;
}
