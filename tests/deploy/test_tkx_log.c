/*
 * test_tkx_log.c - tokexd's log lines (dataplane/log/tkx_log.h): the text, journal and
 * bare formats, levels and the threshold, the stream each level goes to, a message of
 * several lines, the environment's override, and the stream DPDK's messages go through
 * (lines in pieces, rte_exit's "Cause:", the level of each line).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tkx_log.h"

/* Standard output and error captured into files while fn runs; their texts after. */
struct cap {
	char out[8192], err[8192];
};

static void read_all(int fd, char *buf, size_t len)
{
	lseek(fd, 0, SEEK_SET);
	ssize_t n = read(fd, buf, len - 1);
	buf[n > 0 ? n : 0] = '\0';
}

static void capture(struct cap *c, void (*fn)(void))
{
	char po[] = "/tmp/tkxlog-out-XXXXXX", pe[] = "/tmp/tkxlog-err-XXXXXX";
	int fo = mkstemp(po), fe = mkstemp(pe);
	assert_true(fo >= 0 && fe >= 0);
	unlink(po);
	unlink(pe);
	fflush(stdout);
	fflush(stderr);
	int so = dup(STDOUT_FILENO), se = dup(STDERR_FILENO);
	dup2(fo, STDOUT_FILENO);
	dup2(fe, STDERR_FILENO);
	fn();
	fflush(stdout);
	fflush(stderr);
	dup2(so, STDOUT_FILENO);
	dup2(se, STDERR_FILENO);
	close(so);
	close(se);
	read_all(fo, c->out, sizeof(c->out));
	read_all(fe, c->err, sizeof(c->err));
	close(fo);
	close(fe);
}

static int matches(const char *re, const char *text)
{
	regex_t r;
	assert_int_equal(regcomp(&r, re, REG_EXTENDED | REG_NEWLINE | REG_NOSUB), 0);
	int m = regexec(&r, text, 0, NULL, 0) == 0;
	regfree(&r);
	return m;
}

static int count_lines(const char *s)
{
	int n = 0;
	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static void emit_levels(void)
{
	tkx_log(TKX_LOG_ERR, "journal", "FAILED (%s)", "Input/output error");
	tkx_log(TKX_LOG_WARN, TKX_LOG_MAIN, "WARNING: firm %u", 1u);
	tkx_log(TKX_LOG_NOTICE, "control", "operator uid %u: halt 1: OK", 0u);
	tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN, "ready: port x\n"); /* a printf's newline: one line */
	tkx_log(TKX_LOG_DEBUG, "net", "not written at info");
}

static void test_text(void **state)
{
	(void)state;
	struct cap c;
	tkx_log_init("tokexd", TKX_LOG_TEXT, TKX_LOG_INFO);
	assert_int_equal(tkx_log_format(), TKX_LOG_TEXT);
	capture(&c, emit_levels);
	const char *ts = "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6}Z ";
	char re[256];
	/* err on standard error; warnings and the rest on standard output. */
	snprintf(re, sizeof(re), "%serr    tokexd: journal: FAILED \\(Input/output error\\)$", ts);
	assert_true(matches(re, c.err));
	assert_int_equal(count_lines(c.err), 1);
	snprintf(re, sizeof(re), "%swarn   tokexd: WARNING: firm 1$", ts);
	assert_true(matches(re, c.out));
	snprintf(re, sizeof(re), "%snotice tokexd: control: operator uid 0: halt 1: OK$", ts);
	assert_true(matches(re, c.out));
	snprintf(re, sizeof(re), "%sinfo   tokexd: ready: port x$", ts);
	assert_true(matches(re, c.out));
	assert_null(strstr(c.out, "not written"));
	assert_int_equal(count_lines(c.out), 3);
}

static void test_journal(void **state)
{
	(void)state;
	struct cap c;
	tkx_log_init(NULL, TKX_LOG_JOURNAL, TKX_LOG_DEBUG);
	capture(&c, emit_levels);
	assert_string_equal(c.err, "<3>tokexd: journal: FAILED (Input/output error)\n");
	assert_string_equal(c.out, "<4>tokexd: WARNING: firm 1\n"
				   "<5>tokexd: control: operator uid 0: halt 1: OK\n"
				   "<6>tokexd: ready: port x\n"
				   "<7>tokexd: net: not written at info\n");
}

static void emit_lines(void)
{
	tkx_log(TKX_LOG_INFO, TKX_LOG_MAIN, "net.rx_pkts 5\nnet.tx_pkts 6\n");
}

static void test_bare_and_lines(void **state)
{
	(void)state;
	struct cap c;
	tkx_log_init(NULL, TKX_LOG_BARE, TKX_LOG_INFO);
	capture(&c, emit_lines);
	assert_string_equal(c.out, "tokexd: net.rx_pkts 5\ntokexd: net.tx_pkts 6\n");
	tkx_log_init(NULL, TKX_LOG_JOURNAL, TKX_LOG_INFO);
	capture(&c, emit_lines);
	assert_string_equal(c.out, "<6>tokexd: net.rx_pkts 5\n<6>tokexd: net.tx_pkts 6\n");
}

static void test_parse_and_env(void **state)
{
	(void)state;
	assert_int_equal(tkx_log_level_parse("err"), TKX_LOG_ERR);
	assert_int_equal(tkx_log_level_parse("warning"), TKX_LOG_WARN);
	assert_int_equal(tkx_log_level_parse("debug"), TKX_LOG_DEBUG);
	assert_int_equal(tkx_log_level_parse("loud"), -EINVAL);
	assert_int_equal(tkx_log_format_parse("journal"), TKX_LOG_JOURNAL);
	assert_int_equal(tkx_log_format_parse("syslog"), -EINVAL);
	assert_string_equal(tkx_log_level_name(TKX_LOG_NOTICE), "notice");
	/* The environment overrides what is asked for. */
	setenv("TOKEX_LOG_FORMAT", "bare", 1);
	tkx_log_init(NULL, TKX_LOG_TEXT, TKX_LOG_INFO);
	assert_int_equal(tkx_log_format(), TKX_LOG_BARE);
	unsetenv("TOKEX_LOG_FORMAT");
	/* auto: NOTIFY_SOCKET with output to a file (not a terminal) is a service. */
	int so = dup(STDOUT_FILENO), fd = open("/dev/null", O_WRONLY);
	dup2(fd, STDOUT_FILENO);
	setenv("NOTIFY_SOCKET", "/run/systemd/notify", 1);
	tkx_log_init(NULL, TKX_LOG_AUTO, TKX_LOG_INFO);
	enum tkx_log_format with = tkx_log_format();
	unsetenv("NOTIFY_SOCKET");
	unsetenv("JOURNAL_STREAM");
	tkx_log_init(NULL, TKX_LOG_AUTO, TKX_LOG_INFO);
	enum tkx_log_format without = tkx_log_format();
	/* JOURNAL_STREAM naming standard output's device and inode (systemd.exec(5)). */
	struct stat st;
	fstat(STDOUT_FILENO, &st);
	char js[64];
	snprintf(js, sizeof(js), "%llu:%llu", (unsigned long long)st.st_dev,
		 (unsigned long long)st.st_ino);
	setenv("JOURNAL_STREAM", js, 1);
	tkx_log_init(NULL, TKX_LOG_AUTO, TKX_LOG_INFO);
	enum tkx_log_format js_match = tkx_log_format();
	setenv("JOURNAL_STREAM", "1:2", 1);
	tkx_log_init(NULL, TKX_LOG_AUTO, TKX_LOG_INFO);
	enum tkx_log_format js_other = tkx_log_format();
	unsetenv("JOURNAL_STREAM");
	dup2(so, STDOUT_FILENO);
	close(so);
	close(fd);
	assert_int_equal(with, TKX_LOG_JOURNAL);
	assert_int_equal(without, TKX_LOG_TEXT);
	assert_int_equal(js_match, TKX_LOG_JOURNAL);
	assert_int_equal(js_other, TKX_LOG_TEXT);
}

static int g_rte_level;
static int cur_level(void)
{
	return g_rte_level;
}

/* What rte_vlog and rte_exit write: a line in two pieces, then rte_exit's lines. */
static void emit_dpdk(void)
{
	FILE *f = tkx_log_stream("dpdk", cur_level);
	assert_non_null(f);
	g_rte_level = TKX_LOG_INFO;
	fputs("EAL: Detected ", f);
	fflush(f);
	fputs("2 lcore(s)\n", f);
	fflush(f);
	g_rte_level = TKX_LOG_CRIT;
	fputs("EAL: Error - exiting with code: 1\n  Cause: ", f);
	fflush(f);
	fputs("tokexd: port: no such device\n", f);
	fflush(f);
	fclose(f);
}

static void test_dpdk_stream(void **state)
{
	(void)state;
	struct cap c;
	tkx_log_init(NULL, TKX_LOG_JOURNAL, TKX_LOG_INFO);
	capture(&c, emit_dpdk);
	assert_string_equal(c.out, "<6>tokexd: dpdk: EAL: Detected 2 lcore(s)\n");
	assert_string_equal(c.err, "<2>tokexd: dpdk: EAL: Error - exiting with code: 1\n"
				   "<2>tokexd: port: no such device\n");
}

static void emit_long(void)
{
	char big[3000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tkx_log(TKX_LOG_INFO, "control", "%s", big);
}

static void test_long_line(void **state)
{
	(void)state;
	struct cap c;
	tkx_log_init(NULL, TKX_LOG_BARE, TKX_LOG_INFO);
	capture(&c, emit_long);
	/* Cut, marked, and still one line. */
	assert_int_equal(count_lines(c.out), 1);
	assert_non_null(strstr(c.out, "xxx...\n"));
	assert_true(strncmp(c.out, "tokexd: control: xxx", 20) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text),        cmocka_unit_test(test_journal),
		cmocka_unit_test(test_bare_and_lines), cmocka_unit_test(test_parse_and_env),
		cmocka_unit_test(test_dpdk_stream), cmocka_unit_test(test_long_line),
	};
	unsetenv("TOKEX_LOG_FORMAT");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
