/*
 * test_cmd_sessions.c - the operator's session commands of the command language
 * (cp_cmd.h): `sessions` and `drop SESSION` reach tokexd's hooks with checked words;
 * `calendar` is the trading calendar (what `sessions` showed before).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cp_cmd.h"

static uint64_t dropped;
static int calls;

static int fake_sessions(void *arg, char *out, size_t len)
{
	assert_ptr_equal(arg, &calls);
	calls++;
	snprintf(out, len, "session firm state\n1001 7 TERMINATED\n");
	return 0;
}

static int fake_drop(void *arg, uint64_t id, char *out, size_t len)
{
	assert_ptr_equal(arg, &calls);
	calls++;
	if (id == 404) {
		snprintf(out, len, "no session 404");
		return -ENOENT;
	}
	dropped = id;
	snprintf(out, len, "dropped session %llu\n", (unsigned long long)id);
	return 0;
}

static void test_without_hooks(void **state)
{
	(void)state;
	struct cp_cmd_ctx x;
	char out[16384];
	memset(&x, 0, sizeof(x));
	assert_int_equal(cp_cmd_exec(&x, "sessions", out, sizeof(out)), -ENOTSUP);
	assert_non_null(strstr(out, "sessions: no session tables here"));
	assert_int_equal(cp_cmd_exec(&x, "drop 5", out, sizeof(out)), -ENOTSUP);
	assert_int_equal(cp_cmd_exec(&x, "help", out, sizeof(out)), 0);
	assert_non_null(strstr(out, "\ncalendar\n"));
	assert_non_null(strstr(out, "\nsessions\n"));
	assert_non_null(strstr(out, "\ndrop SESSION\n"));
}

static void test_hooks(void **state)
{
	(void)state;
	struct cp_cmd_ctx x;
	char out[512];
	memset(&x, 0, sizeof(x));
	x.sessions = fake_sessions;
	x.drop = fake_drop;
	x.sessions_arg = &calls;
	calls = 0;
	assert_int_equal(cp_cmd_exec(&x, "sessions", out, sizeof(out)), 0);
	assert_string_equal(out, "session firm state\n1001 7 TERMINATED\n");
	assert_int_equal(cp_cmd_exec(&x, "drop 1001", out, sizeof(out)), 0);
	assert_int_equal(dropped, 1001);
	assert_string_equal(out, "dropped session 1001\n");
	assert_int_equal(cp_cmd_exec(&x, "drop 18446744073709551615", out, sizeof(out)), 0);
	assert_true(dropped == UINT64_MAX);
	assert_int_equal(cp_cmd_exec(&x, "drop 404", out, sizeof(out)), -ENOENT);
	assert_string_equal(out, "no session 404");
	assert_int_equal(calls, 4);
	/* Words checked before the hook is called. */
	static const char *const bad[] = {"drop 0", "drop -1", "drop 12x", "drop x",
					  "drop 18446744073709551616", "drop", "drop 1 2",
					  "sessions all"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(cp_cmd_exec(&x, bad[i], out, sizeof(out)), -EINVAL);
		assert_non_null(strstr(out, "usage:"));
	}
	assert_int_equal(calls, 4);
	/* An answer larger than the buffer is cut, never overrun. */
	char small[8];
	assert_int_equal(cp_cmd_exec(&x, "sessions", small, sizeof(small)), 0);
	assert_int_equal(strlen(small), 7);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_without_hooks),
		cmocka_unit_test(test_hooks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
