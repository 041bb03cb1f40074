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

/* Loads text over the defaults; returns rc and leaves the message in err. */
static int load(const char *text, struct cp_config *cfg, char *err, size_t len)
{
	cp_config_defaults(cfg);
	int rc = cp_config_load(cfg, write_file(text), err, len);
	unlink(tmp_path);
	return rc;
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
		{"port:\n  udp_port: 1\n  ip: {\n", ":4: did not find expected node content"}, /* syntax */
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
	assert_int_equal(load("", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_contracts, 12);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_empty_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
