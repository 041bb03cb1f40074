/* test_config_udp_auth.c - cp_config's sessions.udp_auth: required (the default) or off,
 * anything else refused with file:line. */
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

/* Loads text over the defaults (with the firm every configuration file names); rc, the
 * message in err. */
static int load(const char *text, struct cp_config *cfg, char *err, size_t len)
{
	char path[] = "/tmp/tokex-cfg-auth-XXXXXX";
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

static void test_udp_auth(void **state)
{
	struct cp_config cfg;
	char err[256] = "";

	(void)state;
	cp_config_defaults(&cfg);
	assert_int_equal(cfg.udp_auth, 1); /* required unless the file says otherwise */
	assert_int_equal(load("sessions:\n  udp_auth: off\n", &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.udp_auth, 0);
	assert_int_equal(load("sessions:\n  max: 8\n  udp_auth: required\n", &cfg, err,
			      sizeof(err)), 0);
	assert_int_equal(cfg.udp_auth, 1);
	assert_int_equal(load("sessions:\n  max: 8\n  udp_auth: maybe\n", &cfg, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, ":3: sessions.udp_auth: 'maybe' is not one of: required, off"));
	assert_int_equal(cfg.udp_auth, 1); /* unchanged on error */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_udp_auth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
