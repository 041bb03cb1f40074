/* test_venue_doc.c - docs/protocol.md section 11 ("Venue parameters") against the software:
 * the defaults members are told must be those tokexd runs with. Reads the section's table
 * (argv[1], the document), and for each row that names a configuration key compares the
 * first word of its Default column with cp_config_get() on cp_config_defaults(); every
 * session and market-data key, and the order-entry addresses, must have a row. The
 * session layer's and the market-data publisher's own defaults must be the same values
 * (one set: tokex/venue.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/venue.h>

#include "cp_config.h"
#include "md_pub.h"
#include "ss_session.h"

#define MAX_ROWS 64

struct row {
	unsigned line;
	char param[160];
	char def[160];
	char key[64]; /* "" = no key ("-") */
};

static const char *doc_path;
static struct row rows[MAX_ROWS];
static unsigned n_rows;

static void trim(char *s)
{
	size_t n = strlen(s), i = 0;
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\n'))
		s[--n] = '\0';
	while (s[i] == ' ')
		i++;
	memmove(s, s + i, n - i + 1);
}

/* The table of section 11: rows after the header and its |---| line, up to the next
 * section. */
static int read_rows(void **state)
{
	(void)state;
	FILE *f = fopen(doc_path, "r");
	if (!f) {
		print_error("cannot open %s\n", doc_path);
		return -1;
	}
	char line[1024];
	unsigned ln = 0;
	int in11 = 0, body = 0;
	while (fgets(line, sizeof(line), f)) {
		ln++;
		if (strncmp(line, "## ", 3) == 0) {
			in11 = strncmp(line, "## 11. Venue parameters", 23) == 0;
			continue;
		}
		if (!in11 || line[0] != '|')
			continue;
		if (strncmp(line, "|---", 4) == 0) {
			body = 1;
			continue;
		}
		if (!body)
			continue;
		char *cell[5];
		int nc = 0;
		for (char *save = NULL, *t = strtok_r(line + 1, "|", &save); t && nc < 5;
		     t = strtok_r(NULL, "|", &save))
			cell[nc++] = t;
		if (nc < 4 || n_rows == MAX_ROWS) {
			print_error("%s:%u: a row of section 11 without 4 columns\n", doc_path, ln);
			fclose(f);
			return -1;
		}
		struct row *r = &rows[n_rows++];
		r->line = ln;
		for (int i = 0; i < 3; i++)
			trim(cell[i]);
		snprintf(r->param, sizeof(r->param), "%s", cell[0]);
		snprintf(r->def, sizeof(r->def), "%s", cell[1]);
		char *bt = strchr(cell[2], '`');
		char *end = bt ? strchr(bt + 1, '`') : NULL;
		if (bt && end)
			snprintf(r->key, sizeof(r->key), "%.*s", (int)(end - bt - 1), bt + 1);
		else if (strcmp(cell[2], "-") != 0) {
			print_error("%s:%u: configuration key '%s': give it in backticks, or '-'\n",
				    doc_path, ln, cell[2]);
			fclose(f);
			return -1;
		}
	}
	fclose(f);
	if (n_rows < 10) {
		print_error("%s: section 11 has %u table rows: not found?\n", doc_path, n_rows);
		return -1;
	}
	return 0;
}

static const struct row *find_row(const char *key)
{
	for (unsigned i = 0; i < n_rows; i++)
		if (strcmp(rows[i].key, key) == 0)
			return &rows[i];
	return NULL;
}

static const struct row *find_param(const char *prefix)
{
	for (unsigned i = 0; i < n_rows; i++)
		if (strncmp(rows[i].param, prefix, strlen(prefix)) == 0)
			return &rows[i];
	return NULL;
}

/* Each row with a scalar key: its default is the configuration's. */
static void test_defaults_match(void **state)
{
	(void)state;
	struct cp_config cfg;
	cp_config_defaults(&cfg);
	int bad = 0;
	for (unsigned i = 0; i < n_rows; i++) {
		const struct row *r = &rows[i];
		if (!r->key[0])
			continue;
		char v[CP_STR];
		if (cp_config_get(&cfg, r->key, v, sizeof(v)) < 0) {
			/* The lists: described, not a single value. */
			if (strcmp(r->key, "contracts") == 0 || strcmp(r->key, "firms") == 0)
				continue;
			print_error("%s:%u: '%s' is not a configuration key\n", doc_path, r->line,
				    r->key);
			bad++;
			continue;
		}
		char first[64];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(r->def, " "), r->def);
		if (strcmp(first, v) != 0) {
			print_error("%s:%u: %s: the document says %s, the software's default is %s\n",
				    doc_path, r->line, r->key, first, v);
			bad++;
		}
	}
	/* The fixed rule of 4.6 (no key): the session layer's constant. */
	const struct row *r = find_param("Missed keepalive intervals");
	assert_non_null(r);
	if (atoi(r->def) != TKX_VENUE_KEEPALIVE_MISSED) {
		print_error("%s:%u: missed keepalive intervals: %s, the software's %d\n", doc_path,
			    r->line, r->def, TKX_VENUE_KEEPALIVE_MISSED);
		bad++;
	}
	assert_int_equal(bad, 0);
}

/* Every parameter a client writer needs has a row: all of sessions.*, md.* and tcp.*, and
 * the UDP order-entry address. */
static void test_every_key_published(void **state)
{
	(void)state;
	static const char *const also[] = {"port.ip", "port.udp_port"};
	int bad = 0;
	for (size_t i = 0; cp_config_key(i); i++) {
		const char *k = cp_config_key(i);
		int venue = strncmp(k, "sessions.", 9) == 0 || strncmp(k, "md.", 3) == 0 ||
			    strncmp(k, "tcp.", 4) == 0;
		for (size_t j = 0; j < sizeof(also) / sizeof(also[0]); j++)
			venue |= strcmp(k, also[j]) == 0;
		if (venue && !find_row(k)) {
			print_error("%s: section 11 has no row for the configuration key %s\n",
				    doc_path, k);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* One set of defaults: what the libraries start from is what tokexd's configuration
 * (and so the document) says. */
static void test_libraries_agree(void **state)
{
	(void)state;
	struct cp_config cfg;
	struct ss_params sp;
	struct md_params mp;
	cp_config_defaults(&cfg);
	ss_params_default(&sp);
	md_pub_params_default(&mp);
	assert_int_equal(sp.max_sessions, cfg.max_sessions);
	assert_int_equal(sp.keepalive_min_ms, cfg.keepalive_min_ms);
	assert_int_equal(sp.keepalive_max_ms, cfg.keepalive_max_ms);
	assert_int_equal(sp.throttle_rate, cfg.throttle_rate);
	assert_int_equal(sp.throttle_burst, cfg.throttle_burst);
	assert_int_equal(sp.throttle_grace, cfg.throttle_grace);
	assert_int_equal(sp.retrans_depth, cfg.retransmit_depth);
	assert_int_equal(sp.retrans_max, cfg.retransmit_max);
	assert_int_equal(sp.ts_tolerance_ms, cfg.ts_tolerance_ms);
	assert_int_equal(sp.linger_ms, cfg.linger_ms);
	assert_int_equal(mp.retain, cfg.md_retain);
	assert_int_equal(mp.snapshot_ns, (uint64_t)cfg.md_snapshot_ms * 1000000u);
	assert_int_equal(mp.heartbeat_ns, (uint64_t)cfg.md_heartbeat_ms * 1000000u);
	assert_int_equal(mp.req_max, cfg.md_req_max_msgs);
	assert_int_equal(mp.req_max_bytes, cfg.md_req_max_bytes);
	assert_int_equal(mp.req_rate, cfg.md_req_rate);
	assert_int_equal(mp.req_burst, cfg.md_req_burst);
	assert_int_equal(mp.req_global_rate, cfg.md_req_global_rate);
	assert_int_equal(mp.req_sources, cfg.md_req_sources);
	assert_string_equal(mp.session, cfg.md_session);
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: test_venue_doc docs/protocol.md\n");
		return 2;
	}
	doc_path = argv[1];
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_match),
		cmocka_unit_test(test_every_key_published),
		cmocka_unit_test(test_libraries_agree),
	};
	return cmocka_run_group_tests(tests, read_rows, NULL);
}
