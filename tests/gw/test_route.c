/* test_route.c - the contract-to-core map: lookups, and months listed at run time. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "td_route.h"

static void test_route_lookup_and_add(void **state)
{
	(void)state;
	struct td_route r;
	memset(&r, 0, sizeof(r));
	r.n_match = 2;
	r.contract[0] = 202611;
	r.core[0] = 0;
	r.contract[1] = 202612;
	r.core[1] = 1;
	r.n = 2;
	assert_int_equal(td_route_core(&r, 202612), 1);
	assert_int_equal(td_route_core(&r, 202711), -1);
	/* A month listed at run time becomes routable; listing it again changes nothing. */
	assert_int_equal(td_route_add(&r, 202711, 1), 0);
	assert_int_equal(td_route_core(&r, 202711), 1);
	assert_int_equal(td_route_add(&r, 202711, 0), 0);
	assert_int_equal(r.n, 3);
	assert_int_equal(td_route_core(&r, 202711), 1);
	/* The table is fixed-size: the 65th contract is refused, the others unharmed. */
	for (uint32_t i = r.n; i < TD_MAX_CONTRACTS; i++)
		assert_int_equal(td_route_add(&r, 300000 + i, 0), 0);
	assert_int_equal(td_route_add(&r, 400000, 0), -ENOSPC);
	assert_int_equal(td_route_core(&r, 400000), -1);
	assert_int_equal(td_route_core(&r, 202611), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_lookup_and_add),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
