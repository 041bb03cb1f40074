/* test_etcd.c - cp_etcd (the hot standby's arbiter client) against a real etcd that the
 * test starts on 127.0.0.1 (a client and a peer port among 19590-19599, its own data
 * directory; stopped and removed at the end). Skipped (77) without /usr/bin/etcd.
 *   - base64 both ways (the gateway's keys and values);
 *   - a lease granted (etcd's minimum TTL respected: the granted TTL is reported);
 *   - the leader key taken only while free: a second acquire sees the holder's value; the
 *     epoch key moved under a reader's feet refuses the transaction;
 *   - keepalive renews; a lease left to expire is gone (-ENOENT) and so is its key, which
 *     can be taken again; revoke deletes the key at once;
 *   - endpoints: a dead one first is skipped; all dead is -EHOSTUNREACH, within the
 *     timeouts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include "cp_etcd.h"

static pid_t g_etcd = -1;
static char g_dir[64];
static char g_url[64];
static char g_dead[64];

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int port_free(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
	if (fd >= 0)
		close(fd);
	return ok;
}

static void stop_etcd(void)
{
	if (g_etcd > 0) {
		kill(g_etcd, SIGKILL);
		waitpid(g_etcd, NULL, 0);
		g_etcd = -1;
	}
	if (g_dir[0]) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
		if (system(cmd) != 0)
			fprintf(stderr, "test_etcd: could not remove %s\n", g_dir);
		g_dir[0] = 0;
	}
}

static int start_etcd(void)
{
	if (access("/usr/bin/etcd", X_OK) != 0)
		return 77;
	snprintf(g_dir, sizeof(g_dir), "/tmp/tkx-etcd-test.XXXXXX");
	if (mkdtemp(g_dir) == NULL)
		return 1;
	int port = 0;
	for (int p = 19590; p < 19600 && !port; p += 2)
		if (port_free(p) && port_free(p + 1))
			port = p;
	if (!port) {
		fprintf(stderr, "test_etcd: no free port pair in 19590-19599\n");
		return 1;
	}
	snprintf(g_url, sizeof(g_url), "http://127.0.0.1:%d", port);
	/* a member that is down: nothing listens on port 9 (discard) here */
	snprintf(g_dead, sizeof(g_dead), "http://127.0.0.1:9");
	char peer[64], cluster[96], data[96], log[96];
	snprintf(peer, sizeof(peer), "http://127.0.0.1:%d", port + 1);
	snprintf(cluster, sizeof(cluster), "t=%s", peer);
	snprintf(data, sizeof(data), "%s/data", g_dir);
	snprintf(log, sizeof(log), "%s/etcd.log", g_dir);
	g_etcd = fork();
	if (g_etcd == 0) {
		FILE *f = freopen(log, "w", stderr);
		(void)f;
		if (!freopen(log, "a", stdout))
			_exit(126);
		execl("/usr/bin/etcd", "etcd", "--name", "t", "--data-dir", data,
		      "--listen-client-urls", g_url, "--advertise-client-urls", g_url,
		      "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		      "--initial-cluster", cluster, (char *)NULL);
		_exit(127);
	}
	/* Ready when it answers (a bound for a hang: a loaded machine starts it slowly). */
	const char *ep[] = {g_url};
	char err[512];
	struct cp_etcd *e = cp_etcd_open(ep, 1, 2000, err, sizeof(err));
	if (e == NULL)
		return 1;
	struct cp_etcd_kv kv;
	uint64_t end = mono_ms() + 120000;
	int rc;
	while ((rc = cp_etcd_get(e, "/ready", &kv, err, sizeof(err))) < 0 && mono_ms() < end) {
		if (waitpid(g_etcd, NULL, WNOHANG) == g_etcd) {
			g_etcd = -1;
			break;
		}
		usleep(100000);
	}
	cp_etcd_close(e);
	if (rc < 0)
		fprintf(stderr, "test_etcd: etcd did not answer: %s (log %s)\n", err, log);
	return rc < 0 ? 1 : 0;
}

static struct cp_etcd *client(void)
{
	const char *ep[] = {g_dead, g_url}; /* the dead one first: skipped */
	char err[512];
	struct cp_etcd *e = cp_etcd_open(ep, 2, 2000, err, sizeof(err));
	if (e == NULL)
		fail_msg("%s", err);
	return e;
}

static void test_b64(void **state)
{
	(void)state;
	const char *s[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar", "/tokex/leader"};
	const char *w[] = {"", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy",
			   "L3Rva2V4L2xlYWRlcg=="};
	for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
		char out[64], back[64];
		assert_int_equal(cp_b64_encode(s[i], strlen(s[i]), out), strlen(w[i]));
		assert_string_equal(out, w[i]);
		long n = cp_b64_decode(out, strlen(out), back, sizeof(back));
		assert_int_equal(n, (long)strlen(s[i]));
		assert_memory_equal(back, s[i], (size_t)n);
	}
	char b[8];
	assert_int_equal(cp_b64_decode("Zm9", 3, b, sizeof(b)), -1);
	assert_int_equal(cp_b64_decode("Zm=v", 4, b, sizeof(b)), -1);
	assert_int_equal(cp_b64_decode("Zm9vYmFy", 8, b, 5), -1);
}

static void test_leader(void **state)
{
	(void)state;
	struct cp_etcd *e = client();
	char err[512];
	int64_t id1, id2, ttl;
	struct cp_etcd_kv kv, held;

	/* etcd raises a TTL below its minimum (2 s here): the grant says what it is */
	assert_int_equal(cp_etcd_grant(e, 1, &id1, &ttl, err, sizeof(err)), 0);
	assert_true(ttl >= 2);
	assert_int_equal(cp_etcd_grant(e, 30, &id2, &ttl, err, sizeof(err)), 0);
	assert_int_equal(ttl, 30);
	assert_string_equal(cp_etcd_endpoint(e), g_url);

	assert_int_equal(cp_etcd_get(e, "/t/leader/epoch", &kv, err, sizeof(err)), 0);
	assert_false(kv.found);
	/* free: taken, with the epoch */
	assert_int_equal(cp_etcd_acquire(e, "/t/leader", "epoch=1 name=a", id2, "/t/leader/epoch",
					 0, "1", &held, err, sizeof(err)), 1);
	assert_int_equal(cp_etcd_get(e, "/t/leader", &kv, err, sizeof(err)), 0);
	assert_true(kv.found);
	assert_string_equal(kv.value, "epoch=1 name=a");
	assert_int_equal(kv.lease, id2);
	struct cp_etcd_kv ep;
	assert_int_equal(cp_etcd_get(e, "/t/leader/epoch", &ep, err, sizeof(err)), 0);
	assert_true(ep.found);
	assert_string_equal(ep.value, "1");
	/* held: not taken, and the holder is named */
	assert_int_equal(cp_etcd_acquire(e, "/t/leader", "epoch=2 name=b", id1, "/t/leader/epoch",
					 ep.mod_rev, "2", &held, err, sizeof(err)), 0);
	assert_true(held.found);
	assert_string_equal(held.value, "epoch=1 name=a");
	/* revoked: the key is gone at once; the epoch key stays */
	assert_int_equal(cp_etcd_revoke(e, id2, err, sizeof(err)), 0);
	assert_int_equal(cp_etcd_get(e, "/t/leader", &kv, err, sizeof(err)), 0);
	assert_false(kv.found);
	assert_int_equal(cp_etcd_keepalive(e, id2, &ttl, err, sizeof(err)), -ENOENT);
	/* the epoch key moved since it was read (a stale reader): refused, nothing put */
	assert_int_equal(cp_etcd_put(e, "/t/leader/epoch", "5", 0, err, sizeof(err)), 0);
	assert_int_equal(cp_etcd_acquire(e, "/t/leader", "epoch=2 name=b", id1, "/t/leader/epoch",
					 ep.mod_rev, "2", &held, err, sizeof(err)), 0);
	assert_false(held.found);
	assert_int_equal(cp_etcd_get(e, "/t/leader", &kv, err, sizeof(err)), 0);
	assert_false(kv.found);
	assert_int_equal(cp_etcd_get(e, "/t/leader/epoch", &ep, err, sizeof(err)), 0);
	assert_string_equal(ep.value, "5");

	/* a short lease: renewed while kept alive; left alone, it expires with its key */
	assert_int_equal(cp_etcd_grant(e, 2, &id1, &ttl, err, sizeof(err)), 0);
	assert_int_equal(cp_etcd_acquire(e, "/t/leader", "epoch=6 name=b", id1, "/t/leader/epoch",
					 ep.mod_rev, "6", &held, err, sizeof(err)), 1);
	for (int i = 0; i < 4; i++) { /* 2 s of renewals every 0.5 s: still held */
		usleep(500000);
		int rc = cp_etcd_keepalive(e, id1, &ttl, err, sizeof(err));
		if (rc != 0)
			fail_msg("keepalive %d: %s", i, err);
		assert_int_equal(ttl, 2);
	}
	assert_int_equal(cp_etcd_get(e, "/t/leader", &kv, err, sizeof(err)), 0);
	assert_true(kv.found);
	/* etcd checks expiry every 500 ms: the key goes within TTL + a little (bounded for a
	 * hang, not timed) */
	uint64_t end = mono_ms() + 60000;
	do {
		usleep(100000);
		assert_int_equal(cp_etcd_get(e, "/t/leader", &kv, err, sizeof(err)), 0);
	} while (kv.found && mono_ms() < end);
	assert_false(kv.found);
	assert_int_equal(cp_etcd_keepalive(e, id1, &ttl, err, sizeof(err)), -ENOENT);
	cp_etcd_close(e);
}

static void test_unreachable(void **state)
{
	(void)state;
	/* down, and not an etcd member (its peer port answers HTTP, not the gateway) */
	char peer[64];
	snprintf(peer, sizeof(peer), "%.*s%d", (int)(strrchr(g_url, ':') - g_url + 1), g_url,
		 atoi(strrchr(g_url, ':') + 1) + 1);
	const char *ep[] = {g_dead, "http://127.0.0.1:1"};
	char err[512];
	struct cp_etcd *e = cp_etcd_open(ep, 2, 500, err, sizeof(err));
	assert_non_null(e);
	int64_t id, ttl;
	uint64_t t0 = mono_ms();
	assert_int_equal(cp_etcd_grant(e, 5, &id, &ttl, err, sizeof(err)), -EHOSTUNREACH);
	assert_true(mono_ms() - t0 < 60000); /* a bound for a hang */
	assert_non_null(strstr(err, "etcd: "));
	cp_etcd_close(e);
	const char *ep2[] = {g_dead, peer};
	e = cp_etcd_open(ep2, 2, 500, err, sizeof(err));
	assert_non_null(e);
	assert_int_equal(cp_etcd_grant(e, 5, &id, &ttl, err, sizeof(err)), -EPROTO);
	cp_etcd_close(e);
	assert_null(cp_etcd_open(ep, 0, 500, err, sizeof(err)));
}

int main(void)
{
	int rc = start_etcd();
	if (rc == 77) {
		printf("SKIP: /usr/bin/etcd missing (Debian etcd-server; scripts/setup)\n");
		return 77;
	}
	if (rc != 0) {
		stop_etcd();
		return 1;
	}
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64),
		cmocka_unit_test(test_leader),
		cmocka_unit_test(test_unreachable),
	};
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	stop_etcd();
	return rc;
}
