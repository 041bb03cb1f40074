/* test_config.c - cp_config: defaults, a full file, and every kind of bad value. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_config.h"

static char tmp_path[64];

static const char *write_file(const char *text)
{
	snprintf(tmp_path, sizeof(tmp_path), "/tmp/tokex-cfg-XXXXXX");
	int fd = mkstemp(tmp_path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return tmp_path;
}

/* Loads text as it is over the defaults; returns rc and leaves the message in err. */
static int load_raw(const char *text, struct cp_config *cfg, char *err, size_t len)
{
	cp_config_defaults(cfg);
	int rc = cp_config_load(cfg, write_file(text), err, len);
	unlink(tmp_path);
	return rc;
}

/* A file must name its firms: text without a firms: list gets two after its own lines
 * (so that the line numbers the cases expect stay those of text). */
static int load(const char *text, struct cp_config *cfg, char *err, size_t len)
{
	static char buf[4096];
	if (strstr(text, "firms:"))
		return load_raw(text, cfg, err, len);
	snprintf(buf, sizeof(buf), "%s\nfirms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"
		 "  - id: 2\n    secret: 00112233445566778899aabbccddeeff\n", text);
	return load_raw(buf, cfg, err, len);
}

static void test_defaults(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	cp_config_defaults(&cfg);
	assert_int_equal(cp_config_check(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_contracts, 12);
	assert_int_equal(cfg.n_firms, 2);
	assert_int_equal(cfg.mode, CP_MODE_RTC);
	assert_int_equal(cfg.tcp_max_conns, 0); /* as many as sessions.max */
	assert_int_equal(cfg.tcp_max_conns_per_ip, 32);
	assert_int_equal(cfg.tcp_negotiate_ms, 2000);
	/* consecutive months */
	for (uint32_t i = 1; i < 12; i++) {
		uint32_t a = cfg.contracts[i - 1].id, b = cfg.contracts[i].id;
		assert_true(b == a + 1 || (a % 100 == 12 && b == (a / 100 + 1) * 100 + 1));
	}
	int64_t lo, hi;
	cp_contract_band(&cfg.contracts[0], &lo, &hi);
	assert_int_equal(lo, 23000); /* 2.5000 - 8% */
	assert_int_equal(hi, 27000);
	assert_non_null(cp_config_firm(&cfg, 2));
	assert_null(cp_config_firm(&cfg, 3));
	assert_int_equal(cfg.demo_firms, 1);
}

/* The demo firms' secrets are public: a file that does not name its own firms is refused
 * (it used to keep the demo firms silently), and a file's firms replace them. */
static void test_firms_required(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[512];
	assert_int_equal(load_raw("", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ": firms: missing: a configuration file names its firms"));
	assert_int_equal(cfg.demo_firms, 1); /* unchanged */
	assert_int_equal(load_raw("mode: rtc\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "firms: missing"));
	assert_int_equal(load_raw("mode: rtc\nfirms: []\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: firms: an empty list: name at least one firm"));
	assert_int_equal(load_raw("firms:\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":1: firms: expected a list"));
	assert_int_equal(load_raw("firms:\n  - id: 5\n    secret: 00112233445566778899aabbccddeeff\n",
				  &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.demo_firms, 0);
	assert_int_equal(cfg.n_firms, 1);
	assert_null(cp_config_firm(&cfg, 1));
	assert_null(cp_config_firm(&cfg, 2));
	assert_non_null(cp_config_firm(&cfg, 5));
	/* Accounts name firms that exist. */
	assert_int_equal(load("accounts:\n  - firm: 3\n    account: 7\n    max_qty: 5\n"
			      "    max_position: 10\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "accounts[0].firm: 3 is not one of the firms"));
}

/* A key given twice in one mapping is refused with the line of each (YAML would keep the
 * last and hide the first: "durability: sync" then "durability: none" ran with none). */
static void test_duplicate_keys(void **state)
{
	(void)state;
	static const struct bad_case {
		const char *text;
		const char *expect;
	} cases[] = {
		{"journal:\n  durability: sync\n  durability: none\n",
		 ":3: journal.durability: given twice (first on line 2): remove one"},
		{"mode: rtc\nmode: pipeline\n", ":2: mode: given twice (first on line 1)"},
		{"journal:\n  dir: /tmp/a\nmode: rtc\njournal:\n  durability: none\n",
		 ":4: journal: given twice (first on line 1)"},
		{"cores:\n  match: [1]\n  match: [2]\n", ":3: cores.match: given twice"},
		{"firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n    id: 2\n",
		 ":4: firms[0].id: given twice (first on line 2)"},
		{"firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"
		 "firms:\n  - id: 2\n    secret: 00112233445566778899aabbccddeeff\n",
		 ":4: firms: given twice (first on line 1)"},
		{"contracts:\n  - {id: 1, tick: 10, ref_price: 1000, tick: 5}\n",
		 ":2: contracts[0].tick: given twice"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cp_config cfg;
		char err[512] = "";
		int rc = load(cases[i].text, &cfg, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, cases[i].expect)) {
			print_error("case %zu: rc %d, message '%s', expected '%s'\n", i, rc, err,
				    cases[i].expect);
			fail();
		}
		assert_int_equal(cfg.journal_durability, 0); /* nothing taken from the file */
	}
}

static void test_full_file(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256] = "";
	int rc = load("mode: pipeline\n"
		      "port:\n  vdev: net_memif0,role=server\n  ip: 198.18.1.9\n  udp_port: 9000\n"
		      "cores:\n  rx: 1\n  match: [2, 3]\n"
		      "eal: [\"--log-level=7\"]\n"
		      "md:\n  group: 239.1.2.3\n  session: ABCDEFGHIJ\n"
		      "tcp:\n  max_conns: 512\n  max_conns_per_ip: 4\n  negotiate_deadline_ms: 750\n"
		      "firms:\n  - id: 7\n    secret: 00112233445566778899aabbccddeeff\n    name: gamma\n"
		      "contracts:\n  - id: 42\n    tick: 5\n    ref_price: 1000\n    core: 1\n"
		      "    band_bp: 1000\n",
		      &cfg, err, sizeof(err));
	assert_int_equal(rc, 0);
	assert_int_equal(cfg.mode, CP_MODE_PIPELINE);
	assert_string_equal(cfg.port_vdev, "net_memif0,role=server");
	assert_int_equal(cfg.ip, 0xC6120109);
	assert_int_equal(cfg.udp_port, 9000);
	assert_int_equal(cfg.rx_lcore, 1);
	assert_int_equal(cfg.n_match_lcores, 2);
	assert_int_equal(cfg.match_lcores[1], 3);
	assert_int_equal(cfg.n_eal_extra, 1);
	assert_string_equal(cfg.eal_extra[0], "--log-level=7");
	assert_int_equal(cfg.md_group, 0xEF010203);
	assert_int_equal(cfg.tcp_max_conns, 512);
	assert_int_equal(cfg.tcp_max_conns_per_ip, 4);
	assert_int_equal(cfg.tcp_negotiate_ms, 750);
	assert_int_equal(cfg.n_firms, 1);
	assert_int_equal(cfg.firms[0].id, 7);
	assert_int_equal(cfg.firms[0].secret_len, 16);
	assert_int_equal(cfg.firms[0].secret[15], 0xff);
	assert_int_equal(cfg.n_contracts, 1);
	assert_int_equal(cfg.contracts[0].max_orders, 65536); /* optional keys defaulted */
	int64_t lo, hi;
	cp_contract_band(&cfg.contracts[0], &lo, &hi);
	assert_int_equal(lo, 900);
	assert_int_equal(hi, 1100);
}

struct bad_case {
	const char *text;
	const char *expect; /* substring of the message after the temp path */
};

static void test_bad_values(void **state)
{
	(void)state;
	static const struct bad_case cases[] = {
		{"port:\n  udp_port: 70000\n", ":2: port.udp_port: 70000 is outside [1, 65535]"},
		{"port:\n  udp_port: 12x\n", ":2: port.udp_port: '12x' is not an integer"},
		{"port:\n  ip: 300.1.1.1\n", ":2: port.ip: '300.1.1.1' is not an IPv4 address"},
		{"mode: fast\n", ":1: mode: 'fast' is not one of: rtc, pipeline"},
		{"tcp:\n  max_conns_per_ip: 0\n", ":2: tcp.max_conns_per_ip: 0 is outside [1, 65536]"},
		{"tcp:\n  negotiate_deadline_ms: 50\n",
		 ":2: tcp.negotiate_deadline_ms: 50 is outside [100, 600000]"},
		{"nonsense: 1\n", ":1: nonsense: unknown key"},
		{"port:\n  colour: red\n", ":2: port.colour: unknown key"},
		{"firms:\n  - id: 1\n    secret: zz00112233445566778899aabbccddee\n",
		 ":3: firms[0].secret: 'zz00112233445566778899aabbccddee' is not hex"},
		{"firms:\n  - id: 1\n    secret: 0011\n", ":3: firms[0].secret: expected 16 to 64 bytes"},
		{"firms:\n  - secret: 00112233445566778899aabbccddeeff\n",
		 ":2: firms[0]: missing required key 'id'"},
		{"contracts:\n  - id: 1\n    tick: 10\n    ref_price: 1000\n  - id: 2\n    tick: 0\n"
		 "    ref_price: 1000\n",
		 ":6: contracts[1].tick: 0 is outside [1, 1000000000]"},
		{"contracts:\n  - id: 1\n    tick: 10\n    ref_price: 1000\n    speed: 3\n",
		 ":5: contracts[0].speed: unknown key"},
		{"cores:\n  match: [1, x]\n", ":2: cores.match[1]: 'x' is not an integer"},
		{"port: [1, 2]\n", ":1: port: expected a mapping"},
		{"port:\n  vdev: [a]\n", ":2: port.vdev: expected a single value"},
		/* a syntax error (the comment keeps load() from adding firms after it) */
		{"# firms: none\nport:\n  udp_port: 1\n  ip: {\n", ":5: did not find expected node content"},
		{"ring_size: 1000\n", "ring_size: 1000 is not a power of two"},
		{"contracts:\n  - id: 1\n    tick: 10\n    ref_price: 1005\n",
		 "contracts[0].ref_price: 1005 is not a multiple of tick 10"},
		{"contracts:\n  - id: 1\n    tick: 10\n    ref_price: 1000\n    core: 3\n",
		 "contracts[0].core: 3 but only 1 matching cores"},
		{"firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"
		 "  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n",
		 "firms[1].id: 1 used twice"},
		{"md:\n  group: 10.0.0.1\n", "md.group: not a multicast address"},
		{"md:\n  session: ELEVENCHARS\n", "md.session: 'ELEVENCHARS' must be 1 to 10 characters"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cp_config cfg, before;
		char err[256] = "";
		cp_config_defaults(&before);
		int rc = load(cases[i].text, &cfg, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, cases[i].expect) || strncmp(err, "/tmp/", 5) != 0) {
			print_error("case %zu: rc %d, message '%s', expected '%s'\n", i, rc, err,
				    cases[i].expect);
			fail();
		}
		/* A failed load changes nothing (the source name too). */
		assert_string_equal(cfg.source, "built-in");
		assert_int_equal(cfg.udp_port, before.udp_port);
		assert_int_equal(cfg.n_contracts, before.n_contracts);
	}
}

static void test_missing_file(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	cp_config_defaults(&cfg);
	assert_int_equal(cp_config_load(&cfg, "/nonexistent/tokex.yaml", err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "/nonexistent/tokex.yaml: cannot open"));
}

static void test_empty_file(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	/* Nothing but firms: everything else keeps its default. */
	assert_int_equal(load("", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_contracts, 12);
}

/* The venue parameters' keys (docs/protocol.md section 11), read back by name. */
static void test_venue_keys(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256], v[64];
	assert_int_equal(load("sessions:\n  retransmit_max: 64\n  timestamp_tolerance_ms: 5000\n"
			      "  linger_ms: 0\nmd:\n  heartbeat_ms: 200\n  request_max_msgs: 10\n",
			      &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.retransmit_max, 64);
	assert_int_equal(cfg.ts_tolerance_ms, 5000);
	assert_int_equal(cfg.linger_ms, 0);
	assert_int_equal(cfg.md_heartbeat_ms, 200);
	assert_int_equal(cfg.md_req_max_msgs, 10);
	assert_int_equal(cp_config_get(&cfg, "sessions.retransmit_max", v, sizeof(v)), 0);
	assert_string_equal(v, "64");
	assert_int_equal(cp_config_get(&cfg, "md.group", v, sizeof(v)), 0);
	assert_string_equal(v, "239.198.0.1");
	assert_int_equal(cp_config_get(&cfg, "mode", v, sizeof(v)), 0);
	assert_string_equal(v, "rtc");
	assert_int_equal(cp_config_get(&cfg, "journal.durability", v, sizeof(v)), 0);
	assert_string_equal(v, "sync");
	assert_int_equal(cp_config_get(&cfg, "trading.auction_entry", v, sizeof(v)), 0);
	assert_string_equal(v, "08:55");
	assert_int_equal(cp_config_get(&cfg, "firms", v, sizeof(v)), -ENOENT);
	size_t n = 0;
	while (cp_config_key(n))
		n++;
	assert_true(n > 40);
	assert_int_equal(load("sessions:\n  retransmit_depth: 64\n  retransmit_max: 65\n", &cfg,
			      err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "sessions.retransmit_max: 65 is above sessions.retransmit_depth 64"));
	assert_int_equal(load("sessions:\n  timestamp_tolerance_ms: 10\n", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: sessions.timestamp_tolerance_ms: 10 is outside [1000, 3600000]"));
}

/* offload.* (issue 7): the target, its levels, the VFIO group the fpga needs. */
static void test_offload_keys(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.offload_target, CP_OFF_NONE);
	assert_int_equal(cfg.offload_levels, 8);
	assert_int_equal(load("offload:\n  target: shadow\n  levels: 16\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.offload_target, CP_OFF_SHADOW);
	assert_int_equal(cfg.offload_levels, 16);
	assert_int_equal(load("offload:\n  target: fpga\n  vfio_group: \"42\"\n", &cfg, err,
			      sizeof(err)), 0);
	assert_int_equal(cfg.offload_target, CP_OFF_FPGA);
	assert_string_equal(cfg.offload_vfio_group, "42");
	assert_int_equal(load("offload:\n  target: sw\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.offload_target, CP_OFF_SW);
	assert_int_equal(load("offload:\n  target: sim\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.offload_target, CP_OFF_SIM);

	assert_int_equal(load("offload:\n  target: gpu\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: offload.target: 'gpu' is not one of: none, sw, sim, fpga, shadow"));
	assert_int_equal(load("offload:\n  levels: 0\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: offload.levels: 0 is outside [1, 64]"));
	assert_int_equal(load("offload:\n  levels: 65\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offload.levels: 65 is outside [1, 64]"));
	assert_int_equal(load("offload:\n  target: fpga\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offload.vfio_group: required when offload.target is fpga"));
	assert_int_equal(load("offload:\n  vfio_group: [1]\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offload.vfio_group: expected a single value"));
	assert_int_equal(load("offload:\n  colour: red\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offload.colour: unknown key"));
	assert_int_equal(load("offload: sw\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "offload: expected a mapping"));
	/* a failed load leaves the configuration as it was */
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.offload_target, CP_OFF_NONE);
}

/* trading.*, limits.*, settlement.*, accounts, control.* (issue 5): the calendar, limits
 * and account limits of the contract lifecycle. */
static void test_lifecycle_keys(void **state)
{
	(void)state;
	struct cp_config cfg;
	struct cp_cal cal;
	char err[256];
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.utc_offset_min, 480);
	assert_int_equal(cfg.auction_entry, 8 * 60 + 55);
	assert_int_equal(cfg.auction_match, 8 * 60 + 59);
	assert_int_equal(cfg.n_sessions, 3);
	assert_int_equal(cfg.sessions[2].start, 13 * 60 + 30);
	assert_int_equal(cfg.sessions[2].end, 15 * 60);
	assert_int_equal(cfg.band_bp, 800);
	assert_int_equal(cfg.first_day_bp, 1600);
	assert_int_equal(cfg.locked_bp, 1200);
	assert_int_equal(cfg.scheduler, 0);
	assert_int_equal(cfg.n_accounts, 0);
	assert_int_equal(load("trading:\n  utc_offset_min: 0\n  auction_entry: \"09:25\"\n"
			      "  auction_match: \"09:29\"\n"
			      "  sessions: [\"09:30-11:30\", \"13:00-15:00\"]\n"
			      "  holidays: [2026-10-01, 2026-10-02]\n"
			      "limits:\n  band_bp: 500\n  first_day_bp: 1000\n  locked_bp: 700\n"
			      "  vol_guard_bp: 200\n  vol_halt_s: 300\n"
			      "settlement:\n  index_file: /var/lib/tokex/index.csv\n"
			      "control:\n  scheduler: 1\n  startup: /etc/tokex/start.cmd\n"
			      "accounts:\n  - firm: 1\n    account: 7\n    max_qty: 50\n"
			      "    max_position: 100\n    max_position_spot: 60\n"
			      "  - firm: 2\n    account: 1\n    max_qty: 10\n    max_position: 20\n",
			      &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.utc_offset_min, 0);
	assert_int_equal(cfg.auction_entry, 9 * 60 + 25);
	assert_int_equal(cfg.n_sessions, 2);
	assert_int_equal(cfg.sessions[1].end, 15 * 60);
	assert_int_equal(cfg.n_holidays, 2);
	assert_int_equal(cfg.holidays[0], cp_days_from_civil(2026, 10, 1));
	assert_int_equal(cfg.band_bp, 500);
	assert_int_equal(cfg.vol_guard_bp, 200);
	assert_int_equal(cfg.vol_halt_s, 300);
	assert_string_equal(cfg.index_file, "/var/lib/tokex/index.csv");
	assert_string_equal(cfg.ctl_startup, "/etc/tokex/start.cmd");
	assert_int_equal(cfg.scheduler, 1);
	assert_int_equal(cfg.n_accounts, 2);
	assert_int_equal(cfg.accounts[0].max_pos_spot, 60);
	assert_int_equal(cfg.accounts[1].max_pos_spot, 0);
	cp_config_cal(&cfg, &cal);
	assert_int_equal(cal.n_holidays, 2);
	assert_false(cp_cal_is_business_day(&cal, cp_days_from_civil(2026, 10, 2)));
	assert_int_equal(cp_cal_check(&cal, err, sizeof(err)), 0);

	static const struct bad_case cases[] = {
		{"trading:\n  auction_entry: \"8:55\"\n",
		 ":2: trading.auction_entry: '8:55' is not a time HH:MM"},
		{"trading:\n  sessions: [\"09:00-10:15\", \"10:30-10:00\"]\n",
		 ":2: trading.sessions[1]: '10:30-10:00' is not a session HH:MM-HH:MM"},
		{"trading:\n  sessions:\n    - \"09:00-10:15\"\n    - \"10:00-11:00\"\n",
		 ":4: trading.sessions[1]: starts before the previous session ends"},
		{"trading:\n  holidays: [2026-02-30]\n",
		 ":2: trading.holidays[0]: '2026-02-30' is not a date YYYY-MM-DD"},
		{"trading:\n  holidays: 2026-10-01\n", ":2: trading.holidays: expected a list"},
		{"trading:\n  utc_offset_min: 900\n",
		 ":2: trading.utc_offset_min: 900 is outside [-840, 840]"},
		{"trading:\n  auction_match: \"09:05\"\n",
		 "trading.auction_match: after the first session starts"},
		{"trading:\n  auction_entry: \"09:00\"\n  auction_match: \"08:59\"\n",
		 "trading.auction_entry: must be before trading.auction_match"},
		{"limits:\n  band_bp: 0\n", ":2: limits.band_bp: 0 is outside [1, 9999]"},
		{"limits:\n  locked_bp: 500\n", "limits: first_day_bp and locked_bp must be at least"},
		{"control:\n  scheduler: 2\n", ":2: control.scheduler: 2 is outside [0, 1]"},
		{"accounts:\n  - firm: 1\n    account: 7\n    max_qty: 5\n",
		 ":2: accounts[0]: missing required key 'max_position'"},
		{"accounts:\n  - firm: 1\n    account: 7\n    max_qty: 5\n    max_position: 10\n"
		 "    max_position_spot: 11\n",
		 "accounts[0].max_position_spot: above max_position"},
		{"accounts:\n  - firm: 1\n    account: 7\n    max_qty: 5\n    max_position: 10\n"
		 "    colour: red\n", ":6: accounts[0].colour: unknown key"},
		{"accounts:\n  - firm: 1\n    account: 7\n    max_qty: 5\n    max_position: 10\n"
		 "  - firm: 1\n    account: 7\n    max_qty: 5\n    max_position: 10\n",
		 "accounts[1]: firm 1 account 7 listed twice"},
		{"settlement: x\n", ":1: settlement: expected a mapping"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char e[256] = "";
		int rc = load(cases[i].text, &cfg, e, sizeof(e));
		if (rc != -EINVAL || !strstr(e, cases[i].expect) || strncmp(e, "/tmp/", 5) != 0) {
			print_error("case %zu: rc %d, message '%s', expected '%s'\n", i, rc, e,
				    cases[i].expect);
			fail();
		}
		assert_int_equal(cfg.n_sessions, 3); /* unchanged */
	}
}

/* journal.* (issue 6): directory, durability, snapshots, the testing-only fault key. */
static void test_journal_keys(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	cp_config_defaults(&cfg);
	assert_string_equal(cfg.journal_dir, "/var/lib/tokex/journal");
	assert_int_equal(cfg.journal_durability, 0); /* sync */
	assert_int_equal(cfg.journal_fault_write, 0);
	assert_int_equal(load("journal:\n  dir: /tmp/j\n  durability: async\n", &cfg, err,
			      sizeof(err)), 0);
	assert_string_equal(cfg.journal_dir, "/tmp/j");
	assert_int_equal(cfg.journal_durability, 1);
	assert_int_equal(load("journal:\n  durability: none\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_durability, 2);
	assert_int_equal(load("journal:\n  durability: sync\n  fault_write_after: 3\n", &cfg,
			      err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_durability, 0);
	assert_int_equal(cfg.journal_fault_write, 3);
	assert_int_equal(load("journal:\n  dir: \"\"\n", &cfg, err, sizeof(err)), 0);
	assert_string_equal(cfg.journal_dir, "");
	/* pipeline with a journal is refused by tokexd at start, not by the file */
	assert_int_equal(load("mode: pipeline\n", &cfg, err, sizeof(err)), 0);

	assert_int_equal(load("journal:\n  durability: fast\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: journal.durability: 'fast' is not one of: none, async, sync"));
	assert_int_equal(load("journal:\n  fault_write_after: -1\n", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "journal.fault_write_after: -1 is outside"));
	assert_int_equal(load("journal:\n  dir: [a]\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "journal.dir: expected a single value"));
	assert_int_equal(load("journal:\n  colour: red\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: journal.colour: unknown key"));
	/* journal.snapshot_every: records between snapshots, 0 = none, else at least 100. */
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.journal_snapshot_every, 1000000);
	assert_int_equal(load("journal:\n  snapshot_every: 500\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_snapshot_every, 500);
	assert_int_equal(load("journal:\n  snapshot_every: 0\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_snapshot_every, 0);
	assert_int_equal(load("journal:\n  dir: /tmp/j\n  snapshot_every: 10\n", &cfg, err,
			      sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":3: journal.snapshot_every: 10 is below 100 (0 turns it off)"));
	assert_int_equal(load("journal:\n  snapshot_every: -5\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: journal.snapshot_every: -5 is outside [100, 4294967295]"));
	assert_int_equal(load("journal:\n  snapshot_every: lots\n", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":2: journal.snapshot_every: 'lots' is not an integer"));
	/* journal.stall_ms: no durability progress this long halts; 100 ms to an hour. */
	assert_int_equal(load("journal:\n  dir: /tmp/j\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_stall_ms, 10000);
	assert_int_equal(load("journal:\n  stall_ms: 600000\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.journal_stall_ms, 600000);
	assert_int_equal(load("journal:\n  stall_ms: 50\n", &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, ":2: journal.stall_ms: 50 is outside [100, 3600000]"));
}

/* md.request_*: the re-request limits (dataplane/md/md_lim.h), their defaults and checks. */
static void test_md_request_keys(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.md_req_max_msgs, 1024);
	assert_int_equal(cfg.md_req_max_bytes, 1492);
	assert_int_equal(cfg.md_req_rate, 1000000);
	assert_int_equal(cfg.md_req_burst, 65536);
	assert_int_equal(cfg.md_req_global_rate, 25000000);
	assert_int_equal(cfg.md_req_sources, 8192);
	assert_int_equal(load("md:\n  request_max_msgs: 100\n  request_max_bytes: 3000\n"
			      "  request_rate: 50000\n  request_burst: 6000\n"
			      "  request_global_rate: 1000000\n  request_sources: 64\n",
			      &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.md_req_max_msgs, 100);
	assert_int_equal(cfg.md_req_max_bytes, 3000);
	assert_int_equal(cfg.md_req_rate, 50000);
	assert_int_equal(cfg.md_req_burst, 6000);
	assert_int_equal(cfg.md_req_global_rate, 1000000);
	assert_int_equal(cfg.md_req_sources, 64);

	static const struct bad_case cases[] = {
		{"md:\n  request_max_bytes: 121\n", ":2: md.request_max_bytes: 121 is outside [122, "},
		{"md:\n  request_max_msgs: 0\n", ":2: md.request_max_msgs: 0 is outside [1, 65535]"},
		{"md:\n  request_rate: 0\n", ":2: md.request_rate: 0 is outside [1000, "},
		{"md:\n  request_sources: 1000\n", "md.request_sources: 1000 is not a power of two"},
		{"md:\n  request_sources: 4\n", ":2: md.request_sources: 4 is outside [8, "},
		{"md:\n  request_burst: 1000\n",
		 "md.request_burst: 1000 is below md.request_max_bytes (1492)"},
		{"md:\n  request_global_rate: 10000\n",
		 "md.request_global_rate: 10000 bytes/s holds less than md.request_max_bytes (1492)"},
		{"md:\n  retain: 1000\n", "md.retain: 1000 is not a power of two"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = load(cases[i].text, &cfg, err, sizeof(err));
		if (rc != -EINVAL || !strstr(err, cases[i].expect)) {
			print_error("case %zu: rc %d, message '%s', expected '%s'\n", i, rc, err,
				    cases[i].expect);
			fail();
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_firms_required),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_venue_keys),
		cmocka_unit_test(test_offload_keys),
		cmocka_unit_test(test_lifecycle_keys),
		cmocka_unit_test(test_journal_keys),
		cmocka_unit_test(test_md_request_keys),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
