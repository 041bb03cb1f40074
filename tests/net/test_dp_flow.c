/*
 * test_dp_flow.c - NIC flow steering (dp_flow): the rules are validated before use and,
 * when the PMD refuses them, nothing is installed and the decision is the fallback
 * ("classifying on the RX core") with the PMD's reason. net_null0 has no rte_flow at
 * all; net_tap (as root, with /dev/net/tun) refuses on kernels without the multiq
 * qdisc ("Disabling rte flow support") and accepts elsewhere: either way the outcome
 * must be all rules or none, with a status line that says which.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <rte_byteorder.h>
#include <rte_ethdev.h>

#include "dp_flow.h"
#include "dp_port.h"

static int g_have_tap;
static char g_tap_vdev[64];

static void conf(struct dp_flow_conf *c)
{
	memset(c, 0, sizeof(*c));
	c->ip = RTE_BE32(0xC6120002); /* 198.18.0.2 */
	c->udp[0].port = 7411;        /* contract group 0 */
	c->udp[0].queue = 0;
	c->udp[1].port = 7414;        /* market data re-requests */
	c->udp[1].queue = 0;
	c->n_udp = 2;
	c->ctl_queue = 0;
	c->drop_other = true;
}

static void test_flow_conf_checks(void **state)
{
	(void)state;
	struct dp_flow f;
	struct dp_flow_conf c;
	char err[256];
	conf(&c);
	c.n_udp = 0;
	assert_int_equal(dp_flow_setup(&f, 0, &c, err, sizeof(err)), -EINVAL);
	assert_false(f.active);
	assert_non_null(strstr(f.status, "classifying on the RX core"));
}

static void test_flow_null_falls_back(void **state)
{
	(void)state;
	struct dp_port p;
	struct dp_port_conf pc;
	struct dp_flow f;
	struct dp_flow_conf c;
	char err[256];
	uint16_t id;
	assert_int_equal(dp_port_lookup("net_null0", &id), 0);
	memset(&pc, 0, sizeof(pc));
	pc.link_timeout_ms = 10;
	assert_int_equal(dp_port_setup(&p, id, &pc, err, sizeof(err)), 0);
	conf(&c);
	int rc = dp_flow_setup(&f, id, &c, err, sizeof(err));
	printf("# net_null0: rc %d: flow steering %s\n", rc, f.status);
	assert_true(rc < 0);
	assert_false(f.active);
	assert_int_equal(f.n, 0);
	assert_non_null(strstr(f.status, "off: the port refused rte_flow rule 'ARP'"));
	assert_non_null(strstr(f.status, "classifying on the RX core"));
	assert_string_equal(err, f.status);
	dp_flow_teardown(&f); /* nothing to undo: harmless */
	dp_port_close(&p);
}

static void test_flow_tap(void **state)
{
	(void)state;
	if (!g_have_tap) {
		printf("# net_tap: skipped (needs root and /dev/net/tun)\n");
		skip();
	}
	struct dp_port p;
	struct dp_port_conf pc;
	struct dp_flow f;
	struct dp_flow_conf c;
	char err[256];
	uint16_t id;
	assert_int_equal(dp_port_lookup("net_tap0", &id), 0);
	memset(&pc, 0, sizeof(pc));
	pc.link_timeout_ms = 10;
	assert_int_equal(dp_port_setup(&p, id, &pc, err, sizeof(err)), 0);
	conf(&c);
	int rc = dp_flow_setup(&f, id, &c, err, sizeof(err));
	printf("# net_tap: rc %d: flow steering %s\n", rc, f.status);
	if (rc < 0) {
		/* This kernel: no multiq qdisc, the TAP PMD disabled rte_flow. */
		assert_false(f.active);
		assert_int_equal(f.n, 0);
		assert_non_null(strstr(f.status, "classifying on the RX core"));
	} else {
		assert_true(f.active);
		assert_int_equal(f.n, 5);
		assert_non_null(strstr(f.status, "on: 5 rte_flow rules"));
		dp_flow_teardown(&f);
		assert_int_equal(f.n, 0);
	}
	dp_port_close(&p);
}

int main(void)
{
	static struct dp_eal_args eal;
	const char *vdevs[2] = {"net_null0", NULL};
	unsigned nv = 1;
	char err[256];
	int rc;

	if (geteuid() == 0 && access("/dev/net/tun", R_OK | W_OK) == 0) {
		snprintf(g_tap_vdev, sizeof(g_tap_vdev), "net_tap0,iface=tkxf%d", (int)(getpid() % 100000));
		vdevs[nv++] = g_tap_vdev;
		g_have_tap = 1;
	}
	rc = dp_eal_args_default(&eal, "test_dp_flow", NULL, vdevs, nv, 128, err, sizeof(err));
	rc |= dp_eal_args_add(&eal, "--no-shconf");
	rc |= dp_eal_args_add(&eal, "--log-level=*:warning");
	if (rc != 0) {
		fprintf(stderr, "EAL args: %s\n", err);
		return 1;
	}
	rc = dp_eal_init(&eal, err, sizeof(err));
	if (rc == -EACCES || rc == -EPERM) {
		printf("SKIP: EAL cannot start here: %s\n", err);
		return 77;
	}
	if (rc != 0 && g_have_tap) {
		/* the TAP vdev could not be created (no tun in this container): null only */
		fprintf(stderr, "note: EAL with %s failed (%s)\n", g_tap_vdev, err);
		return 1;
	}
	if (rc != 0) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_conf_checks),
		cmocka_unit_test(test_flow_null_falls_back),
		cmocka_unit_test(test_flow_tap),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	dp_eal_fini();
	return rc;
}
