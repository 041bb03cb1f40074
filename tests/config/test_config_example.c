/* test_config_example.c - the annotated example configuration (cp_config_doc.c) and the
 * parser's table (cp_config.c) agree: every key of the table is described and shown with
 * its range and default, nothing is described that the parser does not read, the example
 * parses, and it parses to the built-in defaults but for the values it sets on purpose;
 * metrics.listen and telemetry.file_prefix are checked as they are read. */
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
#include "cp_config_doc.h"

static const char *const lists[] = {"cores.match", "trading.sessions", "trading.holidays", "eal",
				    "replication.etcd",
				    "firms", "contracts", "accounts"};
static const char *const item_lists[] = {"firms", "contracts", "accounts"};
#define N(t) (sizeof(t) / sizeof((t)[0]))

static char *example_text(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	assert_non_null(f);
	assert_int_equal(cp_config_example(f, "test"), 0);
	fclose(f);
	return buf;
}

/* Every key of the table has a meaning; every meaning names a key of the table. */
static void test_docs_match_table(void **state)
{
	(void)state;
	struct cp_key_info k;
	char path[96];
	for (size_t i = 0; cp_config_key_info(NULL, i, &k) == 0; i++)
		if (!cp_config_doc(k.key))
			fail_msg("key %s has no line of meaning in cp_config_doc.c", k.key);
	for (size_t l = 0; l < N(lists); l++)
		if (!cp_config_doc(lists[l]))
			fail_msg("list %s has no line of meaning", lists[l]);
	for (size_t l = 0; l < N(item_lists); l++)
		for (size_t i = 0; cp_config_key_info(item_lists[l], i, &k) == 0; i++) {
			snprintf(path, sizeof(path), "%s[].%s", item_lists[l], k.key);
			if (!cp_config_doc(path))
				fail_msg("item key %s has no line of meaning", path);
		}
	/* The other way: nothing described that the parser does not read. */
	for (size_t d = 0; cp_config_doc_key(d); d++) {
		const char *key = cp_config_doc_key(d);
		int found = 0;
		for (size_t i = 0; !found && cp_config_key_info(NULL, i, &k) == 0; i++)
			found = strcmp(k.key, key) == 0;
		for (size_t l = 0; !found && l < N(lists); l++)
			found = strcmp(lists[l], key) == 0;
		for (size_t l = 0; !found && l < N(item_lists); l++)
			for (size_t i = 0; !found && cp_config_key_info(item_lists[l], i, &k) == 0; i++) {
				snprintf(path, sizeof(path), "%s[].%s", item_lists[l], k.key);
				found = strcmp(path, key) == 0;
			}
		if (!found)
			fail_msg("cp_config_doc.c describes '%s', which the parser does not read", key);
	}
}

/* Each scalar key stands in the example with its default in its comment, and its value. */
static void test_example_shows_defaults(void **state)
{
	(void)state;
	static struct cp_config def;
	struct cp_key_info k;
	char dv[160], want[512];
	char *text = example_text();
	cp_config_defaults(&def);
	for (size_t i = 0; cp_config_key_info(NULL, i, &k) == 0; i++) {
		assert_int_equal(cp_config_get(&def, k.key, dv, sizeof(dv)), 0);
		const char *leaf = strrchr(k.key, '.') ? strrchr(k.key, '.') + 1 : k.key;
		const char *ind = strchr(k.key, '.') ? "  " : "";
		const char *q = k.is_int ? "" : "\"";
		const char *set = cp_config_example_value(k.key);
		if (set)
			snprintf(want, sizeof(want), "; default: %s%s%s\n", q, dv, q);
		else
			snprintf(want, sizeof(want), "; default: %s%s%s\n%s%s: %s%s%s\n", q, dv, q, ind,
				 leaf, q, dv, q);
		if (!strstr(text, want))
			fail_msg("the example does not show %s with its default:\n%s", k.key, want);
		if (set) {
			snprintf(want, sizeof(want), "\n%s%s: %s%s%s\n", ind, leaf, q, set, q);
			if (!strstr(text, want))
				fail_msg("the example does not set %s to %s", k.key, set);
		}
	}
	free(text);
}

/* The example parses, to the defaults but for what it sets on purpose. */
static void test_example_parses(void **state)
{
	(void)state;
	static struct cp_config def, cfg;
	struct cp_key_info k;
	char path[] = "/tmp/tokex-cfg-example-XXXXXX", err[512] = "", a[160], b[160];
	char *text = example_text();
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	free(text);
	cp_config_defaults(&def);
	cp_config_defaults(&cfg);
	int rc = cp_config_load(&cfg, path, err, sizeof(err));
	unlink(path);
	if (rc != 0)
		fail_msg("the example does not parse: %s", err);
	for (size_t i = 0; cp_config_key_info(NULL, i, &k) == 0; i++) {
		assert_int_equal(cp_config_get(&cfg, k.key, a, sizeof(a)), 0);
		assert_int_equal(cp_config_get(&def, k.key, b, sizeof(b)), 0);
		const char *set = cp_config_example_value(k.key);
		if (strcmp(a, set ? set : b) != 0)
			fail_msg("%s: the example gives '%s', expected '%s'", k.key, a, set ? set : b);
	}
	assert_int_equal(cfg.n_sessions, def.n_sessions);
	assert_memory_equal(cfg.sessions, def.sessions, sizeof(def.sessions[0]) * def.n_sessions);
	assert_int_equal(cfg.n_contracts, def.n_contracts); /* the built-in months stay */
	assert_int_equal(cfg.n_firms, 1);
	assert_int_equal(cfg.n_accounts, 0);
}

static int load(const char *text, char *err, size_t len)
{
	static struct cp_config cfg;
	char path[] = "/tmp/tokex-cfg-metrics-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fputs("firms:\n  - id: 1\n    secret: 00112233445566778899aabbccddeeff\n", f);
	fclose(f);
	cp_config_defaults(&cfg);
	int rc = cp_config_load(&cfg, path, err, len);
	unlink(path);
	return rc;
}

static void test_metrics_listen(void **state)
{
	(void)state;
	char err[512];
	uint32_t ip;
	uint16_t port;
	assert_int_equal(load("metrics: {listen: \"127.0.0.1:19400\"}\n", err, sizeof(err)), 0);
	assert_int_equal(load("metrics: {listen: \"\"}\n", err, sizeof(err)), 0);
	assert_int_equal(load("metrics: {listen: \"127.0.0.1\"}\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "metrics.listen: '127.0.0.1' is not ADDR:PORT"));
	assert_int_equal(load("metrics: {listen: \"localhost:80\"}\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(load("metrics: {listen: \"1.2.3.4:0\"}\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(load("metrics: {listen: \"1.2.3.4:65536\"}\n", err, sizeof(err)), -EINVAL);
	assert_int_equal(cp_config_parse_listen("10.1.2.3:7420", &ip, &port), 0);
	assert_int_equal(ip, 0x0A010203u);
	assert_int_equal(port, 7420);
	assert_int_equal(load("telemetry: {file_prefix: tokexd-a_1.b}\n", err, sizeof(err)), 0);
	assert_int_equal(load("telemetry: {file_prefix: \"../x\"}\n", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "telemetry.file_prefix"));
	assert_int_equal(load("telemetry: {file_prefix: \"a/b\"}\n", err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_docs_match_table),
		cmocka_unit_test(test_example_shows_defaults),
		cmocka_unit_test(test_example_parses),
		cmocka_unit_test(test_metrics_listen),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
