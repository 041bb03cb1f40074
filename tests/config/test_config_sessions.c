/*
 * test_config_sessions.c - cp_config: who may hold the session tables (sessions.per_firm,
 * sessions.linger_ms, firms[].max_sessions) and the limit each firm gets.
 */
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
	char path[64];
	snprintf(path, sizeof(path), "/tmp/tokex-cfg-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	cp_config_defaults(cfg);
	int rc = cp_config_load(cfg, path, err, len);
	unlink(path);
	return rc;
}

#define ONE_FIRM "firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"
#define FIRMS                                                                              \
	"firms:\n"                                                                         \
	"  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"                        \
	"  - id: 2\n    secret: 00112233445566778899aabbccddeeff\n    max_sessions: 5\n"    \
	"  - id: 3\n    secret: 00112233445566778899aabbccddeeff\n"

static void test_defaults(void **state)
{
	(void)state;
	struct cp_config cfg;
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.linger_ms, 10000);
	assert_int_equal(cfg.firm_sessions, 0);
	/* An equal share of the table: 256 sessions, 2 demo firms. */
	assert_int_equal(cp_config_firm_sessions(&cfg, 0), 128);
	assert_int_equal(cp_config_firm_sessions(&cfg, 1), 128);
}

static void test_limits(void **state)
{
	(void)state;
	struct cp_config cfg;
	char err[256];
	assert_int_equal(load("sessions:\n  max: 16\n  linger_ms: 250\n" FIRMS, &cfg, err,
			      sizeof(err)), 0);
	assert_int_equal(cfg.linger_ms, 250);
	assert_int_equal(cfg.firms[1].max_sessions, 5);
	assert_int_equal(cp_config_firm_sessions(&cfg, 0), 5); /* 16 / 3 */
	assert_int_equal(cp_config_firm_sessions(&cfg, 1), 5);
	assert_int_equal(cp_config_firm_sessions(&cfg, 2), 5);
	assert_int_equal(load("sessions:\n  max: 16\n  per_firm: 4\n" FIRMS, &cfg, err,
			      sizeof(err)), 0);
	assert_int_equal(cp_config_firm_sessions(&cfg, 0), 4);
	assert_int_equal(cp_config_firm_sessions(&cfg, 1), 5); /* its own wins */
	/* More firms than sessions: one each at least. */
	assert_int_equal(load("sessions:\n  max: 2\n" FIRMS, &cfg, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "firms[1].max_sessions: 5 is above sessions.max (2)"));
	assert_int_equal(load("sessions:\n  max: 1\n" ONE_FIRM, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cp_config_firm_sessions(&cfg, 0), 1);
}

static void test_bad(void **state)
{
	(void)state;
	static const struct {
		const char *text, *expect;
	} cases[] = {
		{"sessions:\n  max: 8\n  per_firm: 9\n" ONE_FIRM,
		 "sessions.per_firm: 9 is above sessions.max (8)"},
		{"sessions:\n  per_firm: 70000\n" ONE_FIRM, ":2: sessions.per_firm: 70000 is outside [0, 65535]"},
		{"sessions:\n  linger_ms: -1\n" ONE_FIRM, ":2: sessions.linger_ms:"},
		{"firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n"
		 "    max_sessions: 65536\n",
		 ":4: firms[0].max_sessions: 65536 is outside [0, 65535]"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cp_config cfg;
		char err[256] = "";
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
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_bad),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
