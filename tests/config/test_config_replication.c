/* test_config_replication.c - cp_config's replication section (issue 14): no section is
 * role none (a single node, as before); role primary needs listen, standby needs primary,
 * either needs a journal; bad roles, addresses and ports are refused with file:line. */
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

static int load(const char *text, struct cp_config *cfg, char *err, size_t len)
{
	char path[] = "/tmp/tokex-cfg-repl-XXXXXX";
	int fd = mkstemp(path), rc;
	FILE *f;

	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fputs("firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	cp_config_defaults(cfg);
	rc = cp_config_load(cfg, path, err, len);
	unlink(path);
	return rc;
}

static void expect_err(const char *text, const char *want)
{
	struct cp_config cfg;
	char err[512] = "";
	assert_int_equal(load(text, &cfg, err, sizeof(err)), -EINVAL);
	if (!strstr(err, want))
		fail_msg("message: %s (wanted: %s)", err, want);
}

static void test_replication(void **state)
{
	struct cp_config cfg;
	char err[512] = "";

	(void)state;
	assert_int_equal(load("mode: rtc\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.repl_role, CP_ROLE_NONE);
	assert_int_equal(cfg.repl_listen.set, 0);
	assert_int_equal(load("replication:\n  role: primary\n  listen: 127.0.0.1:19300\n", &cfg,
			      err, sizeof(err)), 0);
	assert_int_equal(cfg.repl_role, CP_ROLE_PRIMARY);
	assert_int_equal(cfg.repl_listen.ip, 0x7f000001);
	assert_int_equal(cfg.repl_listen.port, 19300);
	assert_int_equal(cfg.repl_send_buffer_kb, 16384);
	assert_int_equal(load("replication:\n  role: standby\n  primary: 10.1.2.3:7000\n"
			      "  send_buffer_kb: 128\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.repl_role, CP_ROLE_STANDBY);
	assert_int_equal(cfg.repl_primary.ip, 0x0a010203);
	assert_int_equal(cfg.repl_primary.port, 7000);
	assert_int_equal(cfg.repl_send_buffer_kb, 128);

	expect_err("replication:\n  role: leader\n",
		   ":2: replication.role: 'leader' is not one of: primary, standby, none");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1\n",
		   ":3: replication.listen: '127.0.0.1' is not ADDR:PORT");
	expect_err("replication:\n  role: primary\n  listen: host.example:80\n",
		   ":3: replication.listen: 'host.example' is not an IPv4 address");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:70000\n",
		   ":3: replication.listen: '70000' is not a port 1-65535");
	expect_err("replication:\n  role: primary\n", "replication.listen: required for role primary");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  send_buffer_kb: 8\n",
		   ":4: replication.send_buffer_kb: 8 is outside [16, 4194304]");
	expect_err("replication:\n  role: standby\n  listen: 127.0.0.1:19301\n",
		   "replication.primary: required for role standby");
	expect_err("replication:\n  primary: 127.0.0.1:19301\n",
		   "listen or primary given without a role");
	expect_err("journal:\n  dir: \"\"\nreplication:\n  role: standby\n  primary: 127.0.0.1:1\n",
		   "replication: needs a journal");
	expect_err("replication:\n  role: standby\n  primary: 127.0.0.1:1\n  colour: red\n",
		   "replication.colour: unknown key");
}

/* The lease in etcd: the endpoints' list, the key, the TTL and the margin. */
static void test_lease(void **state)
{
	struct cp_config cfg;
	char err[512] = "";

	(void)state;
	assert_int_equal(load("replication:\n  role: primary\n  listen: 127.0.0.1:1\n", &cfg, err,
			      sizeof(err)), 0);
	assert_int_equal(cfg.n_repl_etcd, 0); /* no lease: the first stage's behaviour */
	assert_string_equal(cfg.repl_etcd_key, "/tokex/leader");
	assert_int_equal(cfg.repl_lease_s, 5);
	assert_int_equal(cfg.repl_lease_margin_ms, 1000);
	assert_int_equal(load("replication:\n  role: standby\n  primary: 127.0.0.1:1\n"
			      "  etcd: [\"http://127.0.0.1:19550\", \"http://10.0.0.2:2379/\"]\n"
			      "  etcd_key: /venue/pair-a\n  lease_s: 2\n  lease_margin_ms: 500\n",
			      &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.n_repl_etcd, 2);
	assert_string_equal(cfg.repl_etcd[0], "http://127.0.0.1:19550");
	assert_string_equal(cfg.repl_etcd[1], "http://10.0.0.2:2379/");
	assert_string_equal(cfg.repl_etcd_key, "/venue/pair-a");
	assert_int_equal(cfg.repl_lease_s, 2);
	assert_int_equal(cfg.repl_lease_margin_ms, 500);

	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  etcd: 127.0.0.1:2379\n",
		   ":4: replication.etcd: expected a list of URLs");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  etcd: [127.0.0.1:2379]\n",
		   "replication.etcd[0]: '127.0.0.1:2379' is not an http:// or https:// URL");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  etcd: [http://a, "
		   "http://b, http://c, http://d, http://e, http://f, http://g, http://h]\n",
		   "replication.etcd[7]: more than 7 endpoints");
	expect_err("replication:\n  etcd: [http://a]\n",
		   "replication.etcd: a lease needs a role");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  etcd: [http://a]\n"
		   "  etcd_key: leader\n", "replication.etcd_key: 'leader' must start with /");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  lease_s: 1\n",
		   ":4: replication.lease_s: 1 is outside [2, 600]");
	expect_err("replication:\n  role: primary\n  listen: 127.0.0.1:1\n  lease_s: 2\n"
		   "  lease_margin_ms: 1500\n",
		   "replication.lease_margin_ms (1500) must be at most half of lease_s (2 s)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replication),
		cmocka_unit_test(test_lease),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
