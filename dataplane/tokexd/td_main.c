/*
 * td_main.c - tokexd: the appliance's process. Configuration, EAL, port, allocation of
 * every table and ring before launch, the lcores, the TCP gateway, and an orderly stop.
 *
 * Role: the control thread. After launch it never touches the data path: it drains the
 * session logs, answers rte_telemetry (another EAL thread), enforces --seconds, and on
 * SIGINT/SIGTERM clears `running`, which every loop polls.
 *
 * Under systemd (Type=notify; scripts/systemd/tokexd.service) it tells the service manager
 * through sd_notify: STATUS= as the start goes on, READY=1 once order entry is open (the
 * control thread started: contracts, control.startup, the operator's socket), a STATUS=
 * line of counters every TD_STATUS_NS, WATCHDOG=1 while the RX core's loop goes round
 * (WatchdogSec=), STOPPING=1 at a clean stop. Without NOTIFY_SOCKET these do nothing.
 *
 * Every line tokexd writes goes through tkx_log (dataplane/log/tkx_log.h: level,
 * subsystem, time or journald's priority), set up from log.format and log.level once the
 * configuration is read; DPDK's own messages too, from before EAL starts (a stream given
 * to rte_openlog_stream, at the level rte_log gives each line).
 */
#define _GNU_SOURCE /* sched_getaffinity, pthread_attr_setaffinity_np */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <systemd/sd-daemon.h>

#include <tokex/version.h>

#include "cp_clock.h"
#include "cp_config_doc.h"
#include "cp_life.h"
#include "td_app.h"
#include "td_gw.h"
#include "td_lease.h"
#include "td_repl.h"
#include "tkx_log.h"

static struct td_app g_app; /* the signal handler's only way in */

#define TD_STATUS_NS 10000000000ull /* a STATUS= line of counters this often */

/* The service manager's watchdog (WatchdogSec=): pinged from the control thread at half
 * the interval, and only while the RX core's loop goes round, so that a wedged data path
 * is what the watchdog sees. */
struct td_notify {
	uint64_t wd_ns;      /* WATCHDOG_USEC, ns; 0 = no watchdog */
	uint64_t next_wd;    /* monotonic */
	uint64_t last_loops; /* rx.loops at the last ping */
	uint64_t next_status;
};

static void td_notify_tick(struct td_app *a, struct td_notify *n)
{
	uint64_t now = td_mono_ns();
	if (n->wd_ns && now >= n->next_wd) {
		uint64_t loops = __atomic_load_n(&a->rx.loops, __ATOMIC_RELAXED);
		if (loops != n->last_loops) {
			sd_notify(0, "WATCHDOG=1");
			n->last_loops = loops;
		}
		n->next_wd = now + n->wd_ns / 2;
	}
	if (now >= n->next_status) {
		struct mc_stats tot;
		struct ss_stats ss;
		td_match_stats(a, &tot);
		ss_stats_read(a->ss, &ss);
		sd_notifyf(0, "STATUS=running: requests %" PRIu64 ", trades %" PRIu64 ", rejects %"
			   PRIu64 ", sessions established %" PRIu64 ", journal lag %" PRIu64,
			   tot.orders, tot.trades, tot.rejects, ss.est_ok,
			   a->jn && a->jn_last > a->jn_durable ? a->jn_last - a->jn_durable : 0);
		n->next_status = now + TD_STATUS_NS;
	}
}

/* The level of the DPDK message being written: rte_log's 1 (EMERG) .. 8 (DEBUG) are
 * syslog's 0 .. 7 plus one. */
static int td_rte_level(void)
{
	return rte_log_cur_msg_loglevel() - 1;
}

static void td_on_signal(int sig)
{
	(void)sig;
	atomic_store(&g_app.running, 0);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tokexd [options] [-- EAL options]\n"
		"  -c, --config FILE       YAML configuration (default: built-in)\n"
		"      --vdev DEVARGS      DPDK virtual device for the port (e.g. net_tap0,iface=tkx0,\n"
		"                          net_memif0,role=server,socket=/run/tokex.sock); \"\" = first probed port\n"
		"      --ip ADDR           the appliance's IPv4 address (default 198.18.0.2)\n"
		"      --mode rtc|pipeline run-to-completion on one core, or RX and matching cores\n"
		"      --rx-lcore N        lcore of the RX/session loop\n"
		"      --match-lcores L    comma-separated lcores of the matching cores (pipeline)\n"
		"      --tcp ADDR:PORT     TCP order entry address (default 127.0.0.1:7412)\n"
		"      --no-tcp            no TCP gateway\n"
		"      --seconds N         stop by itself after N seconds\n"
		"      --print-config      print the effective configuration and exit\n"
		"      --print-config-example  print the annotated example configuration (every\n"
		"                          key: meaning, range, default) and exit\n"
		"      --journal DIR       input journal directory (journal.dir); \"\" = no journal\n"
		"      --clock START       the trading calendar's time now, ISO-8601 with an offset\n"
		"                          (e.g. 2026-12-30T08:50:00+08:00): a simulated calendar for\n"
		"                          the scheduler, phases, settlement, expiry and listing;\n"
		"                          \"now\" = the wall clock. Without it, a journal's simulated\n"
		"                          calendar continues where it stopped\n"
		"      --clock-rate R      the simulated calendar runs R times real time (default 1,\n"
		"                          or the journal's; up to 1000000)\n"
		"  -v, --verbose           print session events as they happen\n"
		"  -h, --help\n"
		"      --version           print tokexd's version and exit\n");
}

static int parse_u32(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

static int parse_ip(const char *s, uint32_t *host)
{
	struct in_addr a;
	if (inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*host = ntohl(a.s_addr);
	return 0;
}

enum { O_VDEV = 256, O_IP, O_MODE, O_RX, O_MATCH, O_TCP, O_NOTCP, O_SECONDS, O_PRINT,
       O_JOURNAL, O_CLOCK, O_CLOCK_RATE, O_VERSION, O_EXAMPLE };

/* Options override the file, which overrides the built-in defaults. Returns the index of
 * the first EAL argument after "--", or -1 to exit(2), -2 to exit(0). */
static int td_options(struct td_app *a, int argc, char **argv, int *print_only)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"vdev", required_argument, NULL, O_VDEV},
		{"ip", required_argument, NULL, O_IP},     {"mode", required_argument, NULL, O_MODE},
		{"rx-lcore", required_argument, NULL, O_RX},
		{"match-lcores", required_argument, NULL, O_MATCH},
		{"tcp", required_argument, NULL, O_TCP},   {"no-tcp", no_argument, NULL, O_NOTCP},
		{"seconds", required_argument, NULL, O_SECONDS},
		{"print-config", no_argument, NULL, O_PRINT},
		{"journal", required_argument, NULL, O_JOURNAL},
		{"clock", required_argument, NULL, O_CLOCK},
		{"clock-rate", required_argument, NULL, O_CLOCK_RATE},
		{"verbose", no_argument, NULL, 'v'},       {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, O_VERSION},
		{"print-config-example", no_argument, NULL, O_EXAMPLE},
		{NULL, 0, NULL, 0}};
	struct cp_config *cfg = &a->cfg;
	char err[512];
	int c;

	/* The file first, wherever -c stands, so the other options override it. */
	for (int i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		const char *path = NULL;
		if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
			path = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			path = argv[i] + 9;
		if (path && cp_config_load(cfg, path, err, sizeof(err)) < 0) {
			tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "%s", err);
			return -1;
		}
	}
	while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
		uint32_t v;
		switch (c) {
		case 'c':
			break;
		case O_VDEV:
			if (strlen(optarg) >= sizeof(cfg->port_vdev)) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--vdev: too long");
				return -1;
			}
			snprintf(cfg->port_vdev, sizeof(cfg->port_vdev), "%s", optarg);
			break;
		case O_IP:
			if (parse_ip(optarg, &cfg->ip) < 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--ip: '%s' is not an IPv4 address", optarg);
				return -1;
			}
			break;
		case O_MODE:
			if (strcmp(optarg, "rtc") == 0)
				cfg->mode = CP_MODE_RTC;
			else if (strcmp(optarg, "pipeline") == 0)
				cfg->mode = CP_MODE_PIPELINE;
			else {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--mode: '%s' is not rtc or pipeline", optarg);
				return -1;
			}
			break;
		case O_RX:
			if (parse_u32(optarg, RTE_MAX_LCORE - 1, &cfg->rx_lcore) < 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--rx-lcore: '%s' is not an lcore number", optarg);
				return -1;
			}
			break;
		case O_MATCH: {
			char buf[128];
			snprintf(buf, sizeof(buf), "%s", optarg);
			cfg->n_match_lcores = 0;
			for (char *save, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				if (cfg->n_match_lcores == CP_MAX_CORES ||
				    parse_u32(t, RTE_MAX_LCORE - 1, &v) < 0) {
					tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--match-lcores: bad list '%s'", optarg);
					return -1;
				}
				cfg->match_lcores[cfg->n_match_lcores++] = v;
			}
			break;
		}
		case O_TCP: {
			char buf[64];
			snprintf(buf, sizeof(buf), "%s", optarg);
			char *colon = strrchr(buf, ':');
			if (!colon || (*colon = 0, parse_ip(buf, &cfg->tcp_ip) < 0) ||
			    parse_u32(colon + 1, 65535, &cfg->tcp_port) < 0 || cfg->tcp_port == 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--tcp: '%s' is not ADDR:PORT", optarg);
				return -1;
			}
			break;
		}
		case O_NOTCP:
			cfg->tcp_ip = 0;
			break;
		case O_SECONDS:
			if (parse_u32(optarg, 86400 * 365, &v) < 0 || v == 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--seconds: '%s' is not a positive number", optarg);
				return -1;
			}
			a->deadline_ns = (uint64_t)v * 1000000000ull;
			break;
		case O_PRINT:
			*print_only = 1;
			break;
		case O_JOURNAL:
			if (strlen(optarg) >= sizeof(cfg->journal_dir)) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--journal: too long");
				return -1;
			}
			snprintf(cfg->journal_dir, sizeof(cfg->journal_dir), "%s", optarg);
			break;
		case O_CLOCK:
			a->clk.wall = strcmp(optarg, "now") == 0;
			a->clk.start_set = !a->clk.wall;
			if (!a->clk.wall &&
			    cp_clock_parse_time(optarg, &a->clk.start_ns, err, sizeof(err)) < 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--clock %s", err);
				return -1;
			}
			break;
		case O_CLOCK_RATE:
			if (cp_clock_parse_rate(optarg, &a->clk.rate, err, sizeof(err)) < 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--clock-rate %s", err);
				return -1;
			}
			a->clk.rate_set = 1;
			break;
		case 'v':
			a->verbose = 1;
			break;
		case 'h':
			usage(stdout);
			return -2;
		case O_VERSION:
			printf("tokexd %s\n", tkx_version());
			return -2;
		case O_EXAMPLE:
			if (cp_config_example(stdout, tkx_version()) < 0 || fflush(stdout) != 0) {
				tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "--print-config-example: cannot write");
				return -1;
			}
			return -2;
		default:
			usage(stderr);
			return -1;
		}
	}
	if (cp_config_check(cfg, err, sizeof(err)) < 0) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "%s", err);
		return -1;
	}
	return optind;
}

/* A line of the configuration: printed to f (--print-config), or logged (f NULL). */
static void td_cfgf(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void td_cfgf(FILE *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (f) {
		fputs("tokexd: ", f);
		vfprintf(f, fmt, ap);
		fputc('\n', f);
	} else {
		tkx_vlog(TKX_LOG_INFO, TKX_LOG_MAIN, fmt, ap);
	}
	va_end(ap);
}

/* The effective configuration: on f (--print-config), or logged (f NULL). */
static void td_print_config(const struct cp_config *c, FILE *f)
{
	char ip[16], tip[16], grp[16];
	uint32_t n;
	n = htonl(c->ip);
	inet_ntop(AF_INET, &n, ip, sizeof(ip));
	n = htonl(c->tcp_ip);
	inet_ntop(AF_INET, &n, tip, sizeof(tip));
	n = htonl(c->md_group);
	inet_ntop(AF_INET, &n, grp, sizeof(grp));
	td_cfgf(f, "config %s: mode %s, port '%s' ip %s udp %u, rx lcore %u, %u matching core(s)",
		c->source, c->mode == CP_MODE_RTC ? "rtc" : "pipeline", c->port_vdev, ip,
		c->udp_port, c->rx_lcore, c->mode == CP_MODE_RTC ? 1 : c->n_match_lcores);
	if (!c->udp_auth)
		td_cfgf(f, "sessions.udp_auth off: UDP datagrams are not authenticated");
	if (c->tcp_ip)
		td_cfgf(f, "tcp order entry %s:%u, %u connection(s), %u per address, "
			"credentials within %u ms", tip, c->tcp_port,
			c->tcp_max_conns ? c->tcp_max_conns : c->max_sessions,
			c->tcp_max_conns_per_ip, c->tcp_negotiate_ms);
	if (c->journal_dir[0])
		td_cfgf(f, "journal %s durability %s", c->journal_dir,
			c->journal_durability == 0 ? "sync" :
			c->journal_durability == 1 ? "async" :
			c->journal_durability == 2 ? "none" : "sync-replicated");
	else
		td_cfgf(f, "journal off: nothing survives a restart");
	if (c->repl_role != CP_ROLE_NONE) {
		const struct cp_hostport *hp = c->repl_role == CP_ROLE_PRIMARY ? &c->repl_listen
									       : &c->repl_primary;
		struct in_addr ia = {htonl(hp->ip)};
		char hs[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ia, hs, sizeof(hs));
		td_cfgf(f, "replication %s, %s %s:%u",
			c->repl_role == CP_ROLE_PRIMARY ? "primary" : "standby",
			c->repl_role == CP_ROLE_PRIMARY ? "listening on" : "following", hs, hp->port);
	}
	td_cfgf(f, "market data %s:%u session %s, re-requests on udp %u", grp, c->md_port,
		c->md_session, c->md_req_port);
	for (uint32_t i = 0; i < c->n_firms; i++)
		td_cfgf(f, "firm %u %s: at most %u session(s)", c->firms[i].id,
			c->firms[i].name, cp_config_firm_sessions(c, i));
	td_cfgf(f, "sessions: %u, udp and tcp in one table, kept %u ms after they end",
		c->max_sessions, c->linger_ms);
	for (uint32_t i = 0; i < c->n_contracts; i++) {
		const struct cp_contract *k = &c->contracts[i];
		int64_t lo, hi;
		char why[128];
		/* The limits in force: with the scheduler the control plane lists the month and
		 * its first trading day has the first-day band (cp_settle.h rule 4); without it
		 * the contract trades at once on its own band. */
		if (c->scheduler) {
			cp_settle_limits(k->ref_price, c->first_day_bp, k->tick, &lo, &hi);
			snprintf(why, sizeof(why), "first trading day: %u bp of %" PRId64 "; then %u bp, "
				 "%u bp after a limit-locked day", c->first_day_bp, k->ref_price,
				 c->band_bp, c->locked_bp);
		} else {
			cp_contract_band(k, &lo, &hi);
			snprintf(why, sizeof(why), "%u bp of %" PRId64 ", no scheduler", k->band_bp,
				 k->ref_price);
		}
		td_cfgf(f, "contract %u %s core %u tick %" PRId64 " limits [%" PRId64 ", %"
			   PRId64 "] (%s) max qty %" PRId64 " orders %u",
			k->id, k->symbol, c->mode == CP_MODE_RTC ? 0 : k->core, k->tick, lo, hi, why,
			k->max_qty, k->max_orders);
	}
}

/* A CPU the process may use that no data-path lcore polls (lcore ids are CPU ids with
 * -l), or -1 when every allowed CPU polls: then threads off the data path share one. */
static int td_spare_cpu(const struct td_app *a, const cpu_set_t *allowed)
{
	const struct cp_config *c = &a->cfg;
	for (int cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, allowed) || (uint32_t)cpu == c->rx_lcore)
			continue;
		int used = 0;
		for (uint32_t m = 0; c->mode == CP_MODE_PIPELINE && m < c->n_match_lcores; m++)
			used |= c->match_lcores[m] == (uint32_t)cpu;
		if (!used)
			return cpu;
	}
	return -1;
}

static void *td_zalloc(const char *what, size_t len, int socket)
{
	void *p = rte_zmalloc_socket(what, len, 64, socket);
	if (p == NULL)
		rte_exit(EXIT_FAILURE, "tokexd: cannot allocate %zu bytes for %s on socket %d: "
			 "give EAL more memory (-m)\n", len, what, socket);
	return p;
}

static struct rte_ring *td_ring(const char *kind, unsigned a, unsigned b, unsigned size,
				size_t elem, int socket)
{
	char name[RTE_RING_NAMESIZE];
	snprintf(name, sizeof(name), "tkx_%s_%u_%u", kind, a, b);
	struct rte_ring *r = rte_ring_create_elem(name, (unsigned)elem, size, socket,
						  RING_F_SP_ENQ | RING_F_SC_DEQ);
	if (r == NULL)
		rte_exit(EXIT_FAILURE, "tokexd: cannot create ring %s: %s\n", name,
			 rte_strerror(rte_errno));
	return r;
}

/* Pipeline mode: the matching lcores (at start, or at a standby's promotion). */
static void td_launch_match(struct td_app *a)
{
	if (a->cfg.mode != CP_MODE_PIPELINE)
		return;
	for (uint32_t m = 0; m < a->route.n_match; m++)
		if (rte_eal_remote_launch(td_match_loop, &a->match[m], a->match[m].lcore) != 0)
			rte_exit(1, "tokexd: cannot launch matching lcore %u\n", a->match[m].lcore);
}

/* The TCP gateway's memory (td_gw_create): at start, or at a standby's promotion. */
static void td_gw_setup(struct td_app *a, const cpu_set_t *allowed)
{
	const struct cp_config *cfg = &a->cfg;
	struct td_gw_conf gc;
	char err[512];
	td_gw_conf_default(&gc);
	gc.ip = cfg->tcp_ip;
	gc.port = (uint16_t)cfg->tcp_port;
	gc.max_conns = cfg->tcp_max_conns ? cfg->tcp_max_conns : cfg->max_sessions;
	gc.max_conns_per_ip = cfg->tcp_max_conns_per_ip;
	gc.negotiate_ms = cfg->tcp_negotiate_ms;
	gc.keepalive_max_ms = cfg->keepalive_max_ms;
	gc.cpu = td_spare_cpu(a, allowed);
	if (td_gw_create(&a->gw, &gc, err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: tcp gateway: %s\n", err);
}

/* mc_out for commands applied before launch: they publish nothing worth keeping. */
static void td_discard(struct mc_out *o)
{
	o->n = 0;
}

/* The matching cores: their contracts' books, in memory of the core's NUMA socket. */
static void td_setup_match(struct td_app *a)
{
	const struct cp_config *cfg = &a->cfg;
	uint32_t n_match = cfg->mode == CP_MODE_RTC ? 1 : cfg->n_match_lcores;
	a->route.n_match = n_match;
	for (uint32_t m = 0; m < n_match; m++) {
		struct mc_contract_params p[MC_MAX_CONTRACTS];
		int64_t band[MC_MAX_CONTRACTS][2];
		size_t slot = 0;
		uint32_t n = 0;
		unsigned lcore = cfg->mode == CP_MODE_RTC ? cfg->rx_lcore : cfg->match_lcores[m];
		for (uint32_t i = 0; i < cfg->n_contracts; i++) {
			const struct cp_contract *k = &cfg->contracts[i];
			if (cfg->mode != CP_MODE_RTC && k->core != m)
				continue;
			memset(&p[n], 0, sizeof(p[n]));
			p[n].id = k->id;
			/* The level array spans +-50 % of the reference, so every later daily band
			 * fits (me_book.h); today's band is set after init, below. */
			cp_contract_band(k, &band[n][0], &band[n][1]);
			cp_settle_limits(k->ref_price, CP_LIFE_ARRAY_BP, k->tick, &p[n].book.price_lo,
					 &p[n].book.price_hi);
			p[n].book.tick = k->tick;
			p[n].book.max_qty = k->max_qty;
			p[n].book.max_orders = k->max_orders;
			/* Trading opens at start until the control plane's calendar drives phases. */
			p[n].phase = TKX_PHASE_CONTINUOUS;
			a->route.contract[a->route.n] = k->id;
			a->route.core[a->route.n++] = (uint8_t)m;
			if (me_book_memsize(&p[n].book) > slot)
				slot = me_book_memsize(&p[n].book);
			n++;
		}
		if (n == 0)
			rte_exit(EXIT_FAILURE, "tokexd: matching core %u (lcore %u) owns no contract: "
				 "give it one (contracts[].core) or remove it\n", m, lcore);
		/* Spare slots for the months the control plane lists later (twice the largest
		 * book: a new month's reference may have moved). */
		/* The detach table: every slot of the session table (mc_core.h identity 4). */
		struct mc_core_cfg cc = {.capacity = n + 4 < MC_MAX_CONTRACTS ? n + 4 : MC_MAX_CONTRACTS,
					 .accounts = MC_DEFAULT_ACCOUNTS, .slot_bytes = 2 * slot,
					 .det_srcs = TD_N_SRC, .det_sessions = cfg->max_sessions};
		size_t len = mc_core_memsize_cfg(p, n, &cc);
		if (len == 0)
			rte_exit(EXIT_FAILURE, "tokexd: matching core %u: contract parameters refused\n", m);
		int socket = (int)rte_lcore_to_socket_id(lcore);
		void *mem = td_zalloc("mc_core", len, socket);
		a->match[m].mc = mc_core_init_cfg(mem, len, p, n, &cc);
		if (a->match[m].mc == NULL)
			rte_exit(EXIT_FAILURE, "tokexd: matching core %u: init failed (%s)\n", m,
				 strerror(errno));
		/* Exchange order ids unique across the cores (mc_core.h, identity 1). */
		mc_core_id_space(a->match[m].mc, m, n_match);
		/* Market by order and by price (md.orders, md.depth). */
		if (mc_core_md(a->match[m].mc, cfg->md_depth, cfg->md_orders ? 1 : 0) < 0)
			rte_exit(EXIT_FAILURE, "tokexd: md.depth %u refused\n", cfg->md_depth);
		for (uint32_t i = 0; i < n; i++) {
			struct dp_event ev[4];
			struct mc_out o = {ev, 0, 4, td_discard, NULL};
			struct dp_ctl c = {.type = DP_CTL_BAND, .contract_id = p[i].id,
					   .price = band[i][0], .price2 = band[i][1]};
			struct dp_ctl_reply r;
			if (mc_control(a->match[m].mc, &c, &o, &r) < 0)
				rte_exit(EXIT_FAILURE, "tokexd: contract %u: band refused\n", p[i].id);
		}
		a->match[m].app = a;
		a->match[m].idx = m;
		a->match[m].lcore = lcore;
	}
}

static void td_setup_rings(struct td_app *a)
{
	const struct cp_config *cfg = &a->cfg;
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		int socket = (int)rte_lcore_to_socket_id(a->match[m].lcore);
		if (cfg->mode == CP_MODE_PIPELINE) {
			a->route.req[TD_SRC_RX][m] = td_ring("req", TD_SRC_RX, m, cfg->ring_size,
							     sizeof(struct dp_order), socket);
			a->route.ev[m][TD_SRC_RX] = td_ring("ev", m, TD_SRC_RX, cfg->ring_size,
							    sizeof(struct dp_event), socket);
			a->route.md[m] = td_ring("md", m, 0, cfg->ring_size, sizeof(struct dp_event),
						 socket);
		}
	}
}

/* Every venue parameter members are told of (docs/protocol.md section 11) comes from the
 * configuration, none from the library's defaults. */
static void td_ss_params(const struct cp_config *cfg, struct ss_params *p, struct ss_firm *firms)
{
	ss_params_default(p);
	for (uint32_t i = 0; i < cfg->n_firms; i++) {
		firms[i].firm_id = cfg->firms[i].id;
		firms[i].key_len = (uint16_t)cfg->firms[i].secret_len;
		memcpy(firms[i].key, cfg->firms[i].secret, cfg->firms[i].secret_len);
		/* One firm never holds the whole table (ss_session.h invariant 13). */
		firms[i].max_sessions = cp_config_firm_sessions(cfg, i);
	}
	p->firms = firms;
	p->n_firms = cfg->n_firms;
	p->max_sessions = cfg->max_sessions;
	p->keepalive_min_ms = cfg->keepalive_min_ms;
	p->keepalive_max_ms = cfg->keepalive_max_ms;
	p->throttle_rate = cfg->throttle_rate;
	p->throttle_burst = cfg->throttle_burst;
	p->throttle_grace = cfg->throttle_grace;
	p->retrans_depth = cfg->retransmit_depth;
	p->retrans_max = cfg->retransmit_max; /* <= depth: cp_config_check() */
	p->ts_tolerance_ms = cfg->ts_tolerance_ms;
	p->linger_ms = cfg->linger_ms;
	p->udp_auth = cfg->udp_auth ? SS_AUTH_REQUIRED : SS_AUTH_OFF;
	p->logon_floor_ns = td_now_ns(); /* no logon of before this start: ss_session.h 14, 16 */
	/* A seed no client can know, so that none can aim its session ids or addresses at
	 * one probe run of the table's indexes (ss_session.c). */
	if (getrandom(&p->hash_seed, sizeof(p->hash_seed), 0) != (ssize_t)sizeof(p->hash_seed))
		p->hash_seed = td_mono_ns() ^ (uint64_t)getpid() << 32;
}

static void td_print_logs(struct td_app *a)
{
	struct ss_log logs[64];
	char line[256];
	unsigned n;
	/* One table for both transports: each record says which by its peer (a TCP peer has
	 * a connection, ss_session.h invariant 12). */
	while ((n = ss_log_drain(a->ss, logs, 64)) > 0)
		for (unsigned i = 0; i < n; i++) {
			ss_log_format(&logs[i], line, sizeof(line));
			tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN, "%s session: %s", logs[i].peer.conn ? "tcp" : "udp", line);
		}
	td_offload_print_logs(a);
	fflush(stdout);
}

/* The control thread: tokexctl and the contract lifecycle (td_ctl.c, through the control
 * rings only), logs, the time limit. Never touches the data path. */
static void *td_control(void *arg)
{
	struct td_app *a = arg;
	uint64_t end = a->deadline_ns ? td_mono_ns() + a->deadline_ns : 0;
	struct td_notify nt = {0};
	uint64_t wd_us = 0;
	if (sd_watchdog_enabled(0, &wd_us) > 0)
		nt.wd_ns = wd_us * 1000ull;
	if (td_ctl_start(a) < 0) { /* contracts, accounts, control.startup, tokexctl socket */
		atomic_store(&a->running, 0);
	} else {
		/* Order entry is open: the port and its loop, the gateway, the control plane. */
		sd_notifyf(0, "READY=1\nSTATUS=ready: order entry open on %s, %u contract(s) on %u "
			   "matching core(s)", a->port.name, a->route.n, a->route.n_match);
		nt.next_status = td_mono_ns() + TD_STATUS_NS;
	}
	int promoted = 0;
	while (atomic_load(&a->running)) {
		if (!promoted && atomic_load_explicit(&a->promoted, memory_order_acquire)) {
			promoted = 1; /* a standby promoted: the lifecycle from the journal's state */
			if (td_ctl_promote(a) < 0)
				atomic_store(&a->running, 0);
		}
		td_notify_tick(a, &nt);
		td_ctl_run(a, 50); /* tokexctl commands and the scheduler; waits up to 50 ms */
		td_print_logs(a);
		td_journal_report(a);
		if (end && td_mono_ns() >= end) {
			tkx_log(TKX_LOG_NOTICE, TKX_LOG_MAIN, "--seconds reached, stopping");
			atomic_store(&a->running, 0);
		}
	}
	sd_notify(0, "STOPPING=1\nSTATUS=stopping: the last replies, the journal, a final state");
	td_ctl_stop(a);
	return NULL;
}

static void td_print_stats(struct td_app *a)
{
	char buf[4096];
	struct mc_stats tot;
	struct ss_stats ss;
	td_match_stats(a, &tot);
	ss_stats_read(a->ss, &ss);
	tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN,
		"stats: requests %" PRIu64 " replies %" PRIu64 " trades %" PRIu64
		" rejects %" PRIu64 " md %" PRIu64 " busy %" PRIu64 " unknown_contract %" PRIu64,
		tot.orders, tot.events, tot.trades, tot.rejects, tot.md, a->rx.busy_rejects,
		a->rx.unknown_contract);
	if (a->cfg.journal_dir[0])
		tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN,
			"stats: journal: storage_rejects %" PRIu64 " journal_busy %" PRIu64
			" durability_waits %" PRIu64 " wait_timeouts %" PRIu64 " hold_full_waits %"
			PRIu64 " held_dropped %" PRIu64,
			a->rx.storage_rejects, a->rx.jn_busy, a->rx.jn_waits, a->rx.jn_wait_timeouts,
			a->rx.hold_full_waits, a->rx.held_dropped);
	tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN,
		"stats: sessions: negotiated %" PRIu64 " established %" PRIu64
		" bad_credentials %" PRIu64 " unknown_firm %" PRIu64 " forwarded %" PRIu64
		" throttled %" PRIu64 " gaps %" PRIu64 " late %" PRIu64 " clordid_reused %" PRIu64
		" auth_refused %" PRIu64,
		ss.neg_ok, ss.est_ok, ss.neg_bad_credentials + ss.est_bad_credentials,
		ss.neg_unknown_firm, ss.app_forwarded, ss.throttled, ss.gaps, ss.rx_late,
		ss.clordid_reused,
		ss.auth_missing + ss.auth_no_session + ss.auth_bad_mac + ss.auth_replay);
	if (a->verbose) {
		dp_net_stats_format(&a->net.stats, "net.", buf, sizeof(buf));
		tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN, "%s", buf); /* a line each */
	}
}

int main(int argc, char **argv)
{
	struct td_app *a = &g_app;
	struct dp_eal_args eal;
	char err[512];
	int print_only = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	tkx_log_init("tokexd", TKX_LOG_AUTO, TKX_LOG_INFO);
	cp_config_defaults(&a->cfg);
	int first_eal = td_options(a, argc, argv, &print_only);
	if (first_eal == -2)
		return 0;
	if (first_eal < 0)
		return 2;
	struct cp_config *cfg = &a->cfg;
	/* The log as configured (both keys checked by cp_config_check). */
	tkx_log_init(NULL, (enum tkx_log_format)tkx_log_format_parse(cfg->log_format),
		     tkx_log_level_parse(cfg->log_level));
	/* DPDK's messages through the same log (subsystem "dpdk"), rte_exit's included. */
	FILE *dpdk_log = tkx_log_stream("dpdk", td_rte_level);
	if (dpdk_log)
		rte_openlog_stream(dpdk_log);
	if (cfg->mode == CP_MODE_RTC) {
		cfg->n_match_lcores = 1;
		cfg->match_lcores[0] = cfg->rx_lcore;
	}
	td_print_config(cfg, print_only ? stdout : NULL);
	if (cfg->demo_firms)
		tkx_log(TKX_LOG_WARN, TKX_LOG_MAIN,
			"WARNING: no configuration file: the built-in demo firms 1 and 2 can "
			"trade, and their secrets are public (anyone who reaches the port can trade "
			"as them). Outside a demo, run tokexd -c FILE with your own firms.");
	for (uint32_t i = 0; i < cfg->n_firms; i++) {
		uint8_t any = 0;
		for (uint32_t j = 0; j < cfg->firms[i].secret_len; j++)
			any |= cfg->firms[i].secret[j];
		if (!any)
			tkx_log(TKX_LOG_WARN, TKX_LOG_MAIN,
				"WARNING: firm %u's secret is all zeros (the example "
				"configuration's placeholder): anyone who reaches the port can trade as "
				"it. Set firms[].secret (openssl rand -hex 32).", cfg->firms[i].id);
	}
	if (print_only)
		return 0;
	/* The journal's lock first: a second tokexd on the same journal stops here, naming
	 * the first, before it takes CPUs, memory or a port. */
	if (td_journal_lock(a, err, sizeof(err)) < 0) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "%s", err);
		return 1;
	}
	/* Then the operator's socket, before EAL: a tokexd nobody could halt or inspect
	 * (its path taken by another tokexd, too long, not a socket) must not start. */
	if (td_ctl_bind(a, err, sizeof(err)) < 0) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "%s; not starting without the operator's socket", err);
		return 1;
	}
	/* And the metrics endpoint's address (metrics.listen), for the same reason. */
	if (td_metrics_bind(a, err, sizeof(err)) < 0) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "%s; not starting", err);
		return 1;
	}
	sd_notify(0, "STATUS=starting: EAL, the port, the tables, journal recovery");

	/* EAL: the lcores of the configuration, the RX lcore as main. */
	memset(&eal, 0, sizeof(eal));
	int rc = dp_eal_args_add(&eal, argv[0]);
	char lcores[256];
	int off = snprintf(lcores, sizeof(lcores), "%u", cfg->rx_lcore);
	for (uint32_t m = 0; cfg->mode == CP_MODE_PIPELINE && m < cfg->n_match_lcores; m++) {
		if (cfg->match_lcores[m] == cfg->rx_lcore)
			rte_exit(2, "tokexd: pipeline mode: matching lcore %u is the RX lcore\n",
				 cfg->rx_lcore);
		off += snprintf(lcores + off, sizeof(lcores) - (size_t)off, ",%u", cfg->match_lcores[m]);
	}
	/* An EAL --lcores after -- maps the lcores onto CPUs itself (several lcores on one CPU
	 * for a functional test on a small machine: --lcores 0@0,1@1,2@1): no -l then. */
	int own_map = 0;
	for (int i = first_eal; i < argc; i++)
		own_map |= strncmp(argv[i], "--lcores", 8) == 0;
	for (uint32_t i = 0; i < cfg->n_eal_extra; i++)
		own_map |= strncmp(cfg->eal_extra[i], "--lcores", 8) == 0;
	if (!own_map) {
		rc |= dp_eal_args_add(&eal, "-l");
		rc |= dp_eal_args_add(&eal, lcores);
	}
	rc |= dp_eal_args_addf(&eal, "--main-lcore=%u", cfg->rx_lcore);
	/* telemetry.file_prefix: the runtime directory, and the telemetry socket in it, at a
	 * path that stays; without it one per process (tests run several at once). */
	if (cfg->eal_prefix[0])
		rc |= dp_eal_args_addf(&eal, "--file-prefix=%s", cfg->eal_prefix);
	else
		rc |= dp_eal_args_addf(&eal, "--file-prefix=tokexd-%ld", (long)getpid());
	if (cfg->port_vdev[0]) {
		/* A virtual port: no NIC, no hugepages needed. */
		rc |= dp_eal_args_add(&eal, "--no-huge");
		rc |= dp_eal_args_add(&eal, "--no-pci");
		rc |= dp_eal_args_add(&eal, "-m");
		rc |= dp_eal_args_add(&eal, "512");
		rc |= dp_eal_args_add(&eal, "--vdev");
		rc |= dp_eal_args_add(&eal, cfg->port_vdev);
	}
	for (uint32_t i = 0; i < cfg->n_eal_extra; i++)
		rc |= dp_eal_args_add(&eal, cfg->eal_extra[i]);
	for (int i = first_eal; i < argc; i++)
		rc |= dp_eal_args_add(&eal, argv[i]);
	if (rc) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "too many EAL arguments");
		return 2;
	}
	/* The CPUs the process may use, before EAL pins this thread to the RX lcore: the
	 * TCP gateway and the control thread go on one the data path does not poll. */
	cpu_set_t allowed;
	CPU_ZERO(&allowed);
	sched_getaffinity(0, sizeof(allowed), &allowed);
	if (dp_eal_init(&eal, err, sizeof(err)) < 0) {
		tkx_log(TKX_LOG_ERR, TKX_LOG_MAIN, "EAL: %s", err);
		return 1;
	}

	/* The port. */
	uint16_t port_id = 0;
	if (cfg->port_vdev[0]) {
		char name[sizeof(cfg->port_vdev)];
		memcpy(name, cfg->port_vdev, sizeof(name));
		name[strcspn(name, ",")] = 0;
		if (dp_port_lookup(name, &port_id) < 0)
			rte_exit(1, "tokexd: port %s not found after EAL init\n", name);
	} else if (rte_eth_dev_count_avail() == 0) {
		rte_exit(1, "tokexd: no DPDK port: set port.vdev or bind a NIC to a DPDK driver\n");
	}
	struct dp_port_conf pc;
	memset(&pc, 0, sizeof(pc));
	pc.n_lcores = (uint16_t)(1 + a->cfg.n_match_lcores);
	pc.require_link = false;
	if (dp_port_setup(&a->port, port_id, &pc, err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: port: %s\n", err);

	struct dp_net_conf nc;
	memset(&nc, 0, sizeof(nc));
	nc.ip = htonl(cfg->ip);
	nc.mac = a->port.mac;
	nc.udp_ports[0] = (uint16_t)cfg->udp_port;
	nc.udp_ports[1] = (uint16_t)cfg->md_req_port;
	nc.n_udp_ports = 2;
	nc.tx_offloads = a->port.tx_offloads;
	if (dp_net_init(&a->net, &nc) < 0)
		rte_exit(1, "tokexd: packet layer: bad address or ports\n");
	td_flow_setup(a);

	/* The sessions, both transports in one table (src 0, ss_session.h invariant 12). */
	static struct ss_firm firms[CP_MAX_FIRMS];
	struct ss_params sp;
	td_ss_params(cfg, &sp, firms);
	td_jn_ss_params(a, &sp); /* SESSION and MARK records */
	sp.core = TD_SRC_RX;
	size_t len = ss_table_memsize(&sp);
	if (len == 0)
		rte_exit(1, "tokexd: session parameters refused (sessions.*)\n");
	a->ss = ss_table_init(td_zalloc("ss_table", len, a->port.socket), len, &sp);
	a->ss_out = td_zalloc("ss_out", sizeof(struct ss_out), a->port.socket);
	if (a->ss == NULL)
		rte_exit(1, "tokexd: session table init failed\n");

	td_setup_match(a);
	td_offload_setup(a);

	/* Market data publisher. */
	static struct md_contract mdc[CP_MAX_CONTRACTS];
	struct md_params mp;
	md_pub_params_default(&mp);
	mp.session = cfg->md_session;
	mp.retain = cfg->md_retain;
	mp.snapshot_ns = (uint64_t)cfg->md_snapshot_ms * 1000000ull;
	mp.heartbeat_ns = (uint64_t)cfg->md_heartbeat_ms * 1000000ull;
	mp.req_max = cfg->md_req_max_msgs;
	mp.req_max_bytes = cfg->md_req_max_bytes;
	mp.req_rate = cfg->md_req_rate;
	mp.req_burst = cfg->md_req_burst;
	mp.req_global_rate = cfg->md_req_global_rate;
	mp.req_global_burst = cfg->md_req_global_rate / 10; /* 100 ms of it */
	mp.req_sources = cfg->md_req_sources;
	mp.depth = cfg->md_depth;
	mp.max_orders = cfg->md_orders ? cfg->md_book_orders : 0;
	/* A seed no sender can know, so that none can aim its addresses at one set of the
	 * source table (md_lim.h). */
	if (getrandom(&mp.req_seed, sizeof(mp.req_seed), 0) != (ssize_t)sizeof(mp.req_seed))
		mp.req_seed = td_mono_ns() ^ (uint64_t)getpid() << 32;
	for (uint32_t i = 0; i < cfg->n_contracts; i++) {
		mdc[i].id = cfg->contracts[i].id;
		mdc[i].phase = TKX_PHASE_CONTINUOUS;
	}
	mp.contracts = mdc;
	mp.n_contracts = cfg->n_contracts;
	/* Room for the months the control plane lists at run time: the publisher learns of
	 * them from their ContractStatus (md_pub.h "Contracts"), as many as it can track. */
	mp.max_contracts = cfg->n_contracts > CP_LIFE_MAX ? cfg->n_contracts : CP_LIFE_MAX;
	len = md_pub_memsize(&mp);
	if (len == 0)
		rte_exit(1, "tokexd: market data parameters refused (md.*)\n");
	a->md = md_pub_init(td_zalloc("md_pub", len, a->port.socket), len, &mp);
	if (a->md == NULL)
		rte_exit(1, "tokexd: market data publisher init failed\n");

	/* A standby's order entry is muted: no TCP gateway (connections are refused) until
	 * promotion (td_repl.c). */
	int with_gw = cfg->tcp_ip != 0 && !td_repl_standby(a);
	a->jn_pipe = cfg->mode == CP_MODE_PIPELINE && cfg->journal_dir[0] != 0;
	td_setup_rings(a);
	td_ctl_setup(a);
	td_sess_setup(a);

	/* The TCP gateway: the TCP transport of the RX core's sessions (td_gw.h); its memory
	 * now, its thread and socket once recovery is done. */
	if (with_gw)
		td_gw_setup(a, &allowed);

	/* The journal: recovery (replay into the books and sessions) before any traffic,
	 * the control thread or the gateway. A corrupt journal stops the start here. */
	/* A standby first asks its primary where to start: one further behind than the primary's
	 * journal keeps takes the primary's snapshot, and recovery starts there. */
	if (td_repl_bootstrap(a, err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: %s\n", err);
	if (td_journal_open(a, td_spare_cpu(a, &allowed), err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: %s\n", err);
	/* The lease (etcd): a primary takes the leader key and writes under a new epoch from
	 * here on; a standby watches it. Before the link, so that standbys see the epoch. */
	if (td_lease_start(a, td_spare_cpu(a, &allowed), err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: %s\n", err);
	/* The replication link (primary: standbys may connect from now on; standby: follows). */
	if (td_repl_start(a, td_spare_cpu(a, &allowed), err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: %s\n", err);
	/* The calendar's clock: what --clock asks for, against what the journal recorded. */
	if (td_ctl_clock_setup(a, err, sizeof(err)) < 0)
		rte_exit(2, "tokexd: %s\n", err);

	atomic_store(&a->running, 1);
	signal(SIGINT, td_on_signal);
	signal(SIGTERM, td_on_signal);

	if (with_gw && td_gw_launch(a->gw, err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: tcp gateway: %s\n", err);
	td_telemetry_register(a);

	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	rte_ether_format_addr(mac, sizeof(mac), &a->port.mac);
	tkx_log(TKX_LOG_NOTICE, TKX_LOG_MAIN,
		"ready: port %s mac %s link %s, %u contract(s) on %u matching core(s)",
		a->port.name, mac, a->port.link_up ? "up" : "down", a->route.n, a->route.n_match);

	pthread_t ctl;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	int spare = td_spare_cpu(a, &allowed);
	if (td_metrics_start(a, spare, err, sizeof(err)) < 0)
		rte_exit(1, "tokexd: %s\n", err);
	if (spare >= 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(spare, &one);
		pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	}
	if (pthread_create(&ctl, &attr, td_control, a) != 0)
		rte_exit(1, "tokexd: cannot start the control thread\n");
	pthread_attr_destroy(&attr);
	/* A standby applies its primary's records on the RX lcore, the way recovery does: the
	 * matching lcores wait for promotion. */
	int standby = td_repl_standby(a);
	if (!standby)
		td_launch_match(a);
	if (standby && td_repl_follow(a) == TD_REPL_PROMOTED) {
		/* Promoted (td_lease.c took the lease, td_repl_follow ended following): order
		 * entry opens - the gateway, the matching lcores, the control plane's lifecycle
		 * (the control thread, told by `promoted`) - and this lcore runs the RX loop. */
		if (cfg->tcp_ip) {
			td_gw_setup(a, &allowed);
			if (td_gw_launch(a->gw, err, sizeof(err)) < 0)
				rte_exit(1, "tokexd: tcp gateway: %s\n", err);
		}
		td_launch_match(a);
		atomic_store_explicit(&a->promoted, 1, memory_order_release);
		tkx_log(TKX_LOG_NOTICE, TKX_LOG_MAIN, "ready: promoted to primary: order entry open");
		fflush(stdout);
		standby = 0;
	}
	if (!standby)
		td_rx_loop(a); /* on the main lcore, until a signal or --seconds */
	if (a->gw && !td_gw_quiet(a->gw))
		tkx_log(TKX_LOG_WARN, TKX_LOG_MAIN,
			"tcp gateway: its last input did not settle in time; requests it "
			"took at the end may be unanswered");

	rte_eal_mp_wait_lcore();
	atomic_store(&a->running, 0);
	pthread_join(ctl, NULL);
	td_metrics_stop(a);
	td_print_logs(a);
	int fenced = atomic_load(&a->fenced);
	if (fenced) {
		/* How far before the lease could have expired (by this node's clock) the RX lcore
		 * stopped: negative when it woke after it (stopped, paused). */
		int64_t ahead = (int64_t)(atomic_load(&a->lease_end_ns) - atomic_load(&a->fenced_ns));
		tkx_log(TKX_LOG_WARN, TKX_LOG_MAIN,
			"FENCED: the lease could have run out (replication.lease_s %u, margin %u "
			"ms): this node accepted nothing more and sends nothing more; a standby "
			"takes over. Restart it as a standby. fenced_before_end_ms=%" PRId64,
			cfg->repl_lease_s, cfg->repl_lease_margin_ms, ahead / 1000000);
	}
	if (a->gw) {
		if (fenced)
			td_gw_out_discard(a->gw);
		td_gw_stop(a->gw);
		a->gw = NULL;
	}
	td_lease_stop(a);
	td_repl_stop(a);
	td_journal_report(a);
	if (!fenced)
		td_ctl_final(a); /* the control plane's state and the calendar's time at the stop */
	td_journal_close(a);
	td_print_stats(a);
	td_offload_close(a);
	dp_port_close(&a->port);
	dp_eal_fini();
	tkx_log(TKX_LOG_NOTICE, TKX_LOG_MAIN, "stopped");
	return fenced ? 3 : 0;
}
