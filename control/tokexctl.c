/*
 * tokexctl.c - the operator's command-line tool: sends commands to tokexd's control socket.
 *
 * Role: a separate process on the appliance's host; no data-path state. The commands are
 * the control plane's command language (cp_cmd.h, 'tokexctl help'); with no command on
 * the command line, one command per line is read from standard input (batch mode). 'help'
 * is answered here from the same command table, so it works without tokexd. A line that
 * holds a control byte (a NUL, say) or is too long is not sent at all: never a part of it.
 *
 * Output: each command's answer on standard output, each failure on standard error, in
 * the order the commands ran (standard output is flushed before anything is written to
 * standard error, and after every answer: the two may share one file or pipe). With
 * --json, one JSON object per command on standard output and nothing on standard error:
 *   {"command": LINE, "ok": true, "output": [LINE, ...]}
 *   {"command": LINE, "ok": false, "errno": N, "error": TEXT}
 * 'ping' adds "rtt_us" (the round trip to tokexd's control thread, microseconds).
 *
 * Exit status (also in --help): TKX_EXIT_*.
 */
#define _GNU_SOURCE /* open_memstream */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_cmd.h"
#include <tokex/version.h>

#include "cp_config.h"
#include "cp_server.h"

enum {
	TKX_EXIT_OK = 0,      /* every command succeeded */
	TKX_EXIT_FAILED = 1,  /* a command failed: tokexd refused it, or the line was refused */
	TKX_EXIT_USAGE = 2,   /* bad usage, an unreadable configuration, or no tokexd there */
	TKX_EXIT_LOST = 3,    /* the connection was lost or garbled: later commands not sent */
};

static int g_json;  /* --json */
static int g_batch; /* commands from standard input: failures name their line */

static void usage(FILE *f)
{
	char names[1024];
	cp_cmd_names(names, sizeof(names));
	fprintf(f, "usage: tokexctl [-j] [-s SOCKET] [-c CONFIG] [COMMAND [ARGS...]]\n"
		   "  -s, --socket PATH   tokexd's control socket (default: control.socket of the\n"
		   "                      configuration, /run/tokex/tokexd.sock built in)\n"
		   "  -c, --config FILE   read control.socket from tokexd's configuration file\n"
		   "  -j, --json          each command's answer as one JSON object on a line:\n"
		   "                      {\"command\", \"ok\", \"output\": [lines]} or {\"command\",\n"
		   "                      \"ok\": false, \"errno\", \"error\"}; ping adds \"rtt_us\"\n"
		   "  -h, --help          this text\n"
		   "      --version       print tokexctl's version and exit\n"
		   "With no COMMAND, commands are read from standard input, one per line; answers\n"
		   "and errors come out in the order of the commands.\n"
		   "Commands: %s\n"
		   "'tokexctl help' says what each does, 'tokexctl help COMMAND' one in full (no\n"
		   "tokexd needed). 'tokexctl ping' checks that tokexd answers.\n"
		   "Exit status:\n"
		   "  %d  every command succeeded\n"
		   "  %d  a command failed (tokexd answered an error, or the line was refused)\n"
		   "  %d  bad usage, an unreadable configuration, or no tokexd on the socket\n"
		   "  %d  the connection was lost or garbled; the commands after it were not sent\n",
		names, TKX_EXIT_OK, TKX_EXIT_FAILED, TKX_EXIT_USAGE, TKX_EXIT_LOST);
}

/* A failure on standard error, after what standard output holds (the order of batch mode). */
static void say_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say_err(const char *fmt, ...)
{
	va_list ap;
	fflush(stdout);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fflush(stderr);
}

/* One JSON object on a line of standard output. */
static void json_emit(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
	if (s) {
		puts(s);
		free(s);
	}
	json_decref(o);
	fflush(stdout);
}

/* The answer's output text as an array of its lines. */
static json_t *json_lines(const char *text, size_t n)
{
	json_t *a = json_array();
	while (n) {
		const char *nl = memchr(text, '\n', n);
		size_t l = nl ? (size_t)(nl - text) : n;
		json_array_append_new(a, json_stringn(text, l));
		if (!nl)
			break;
		n -= l + 1;
		text = nl + 1;
	}
	return a;
}

static void json_result(const char *line, int rc, const char *text, size_t n, const char *err,
			double rtt_us)
{
	json_t *o = json_object();
	json_object_set_new(o, "command", json_string(line));
	json_object_set_new(o, "ok", json_boolean(rc == 0));
	if (rc == 0) {
		json_object_set_new(o, "output", json_lines(text, n));
		if (rtt_us >= 0)
			json_object_set_new(o, "rtt_us", json_real(rtt_us));
	} else {
		json_object_set_new(o, "errno", json_integer(-rc));
		json_object_set_new(o, "error", json_string(err));
	}
	json_emit(o);
}

/* A failure before or beside a command (no connection, a refused line): text or JSON. */
static void fail_line(const char *line, int rc, const char *text)
{
	if (g_json)
		json_result(line ? line : "", rc, NULL, 0, text, -1);
	else if (line)
		say_err("tokexctl: %s: %s\n", line, text);
	else
		say_err("tokexctl: %s\n", text);
}

/* 'help [COMMAND]' is answered here, from the same table tokexd uses: it needs no
 * daemon. 1 when line was a help command (answered, *rc set), else 0. */
static int local_help(const char *line, int *rc)
{
	char buf[CP_SERVER_LINE], *save = NULL;
	snprintf(buf, sizeof(buf), "%s", line);
	char *w = strtok_r(buf, " \t\r\n", &save);
	if (!w || strcmp(w, "help") != 0)
		return 0;
	char *name = strtok_r(NULL, " \t\r\n", &save);
	if (name && strtok_r(NULL, " \t\r\n", &save)) {
		*rc = -EINVAL;
		fail_line(g_json ? line : NULL, *rc, "usage: help [COMMAND]");
		return 1;
	}
	static char out[16384];
	*rc = cp_cmd_help(name, out, sizeof(out));
	if (g_json)
		json_result(line, *rc, out, strlen(out), out, -1);
	else if (*rc < 0)
		say_err("%s\n", out);
	else
		fputs(out, stdout);
	fflush(stdout);
	return 1;
}

static double mono_us(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

/* Whether line is the ping command (its round trip is measured). */
static int is_ping(const char *line)
{
	char w[8];
	return sscanf(line, " %7s", w) == 1 && strcmp(w, "ping") == 0;
}

/* Sends one command and writes its answer (text or JSON). 0, or the negative errno of
 * tokexd's ERR, or -EIO/-EPROTO when the connection is lost or garbled. */
static int call(int fd, const char *line)
{
	char err[512];
	char *text = NULL;
	size_t n = 0;
	int ping = is_ping(line);
	FILE *out = stdout;
	if (g_json || ping) {
		out = open_memstream(&text, &n);
		if (!out) {
			fail_line(line, -ENOMEM, "out of memory");
			return -ENOMEM;
		}
	}
	double t0 = mono_us();
	int rc = cp_client_call(fd, line, out, err, sizeof(err));
	double rtt = mono_us() - t0;
	if (out != stdout)
		fclose(out);
	if (g_json)
		json_result(line, rc, text, n, err, ping ? rtt : -1);
	else if (rc < 0)
		fail_line(g_batch ? line : NULL, rc, err);
	else if (ping)
		printf("%.*s%s(round trip %.0f us)\n", n && text[n - 1] == '\n' ? (int)n - 1 : (int)n,
		       text, n ? " " : "", rtt);
	free(text);
	/* Each answer as it comes: a program may drive tokexctl through a pipe, a command at a
	 * time. */
	fflush(stdout);
	return rc;
}

static int connect_or_say(const char *sock, const char *line)
{
	char err[512];
	int fd = cp_client_connect(sock, err, sizeof(err));
	if (fd < 0)
		fail_line(g_json ? line : NULL, fd, err);
	return fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct cp_config cfg;
	const char *sock = NULL;
	char err[512];
	int o;

	cp_config_defaults(&cfg);
	while ((o = getopt_long(argc, argv, "+s:c:jh", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			if (cp_config_load(&cfg, optarg, err, sizeof(err)) < 0) {
				say_err("tokexctl: %s\n", err);
				return TKX_EXIT_USAGE;
			}
			break;
		case 'j':
			g_json = 1;
			break;
		case 'h':
			usage(stdout);
			return TKX_EXIT_OK;
		case 'V':
			printf("tokexctl %s\n", tkx_version());
			return TKX_EXIT_OK;
		default:
			usage(stderr);
			return TKX_EXIT_USAGE;
		}
	}
	if (!sock)
		sock = cfg.ctl_socket;
	int status = TKX_EXIT_OK, fd = -1;
	if (optind < argc) {
		char line[CP_SERVER_LINE];
		size_t n = 0;
		line[0] = '\0';
		for (int i = optind; i < argc; i++) {
			int w = snprintf(line + n, sizeof(line) - n, "%s%s", i > optind ? " " : "",
					 argv[i]);
			if (w < 0 || (size_t)w >= sizeof(line) - n) {
				fail_line(NULL, -E2BIG, "command too long");
				return TKX_EXIT_USAGE;
			}
			n += (size_t)w;
		}
		int hrc;
		if (local_help(line, &hrc))
			return hrc < 0 ? TKX_EXIT_FAILED : TKX_EXIT_OK;
		fd = connect_or_say(sock, line);
		if (fd < 0)
			return TKX_EXIT_USAGE;
		int rc = call(fd, line);
		if (rc == -EIO || rc == -EPROTO)
			status = TKX_EXIT_LOST;
		else if (rc < 0)
			status = TKX_EXIT_FAILED;
	} else {
		/* Whole lines (getline): a fixed buffer would split a long line into two
		 * commands, and a NUL would cut it short with the rest silently dropped. */
		g_batch = 1;
		char *line = NULL;
		size_t cap = 0;
		ssize_t got;
		unsigned ln = 0;
		while ((got = getline(&line, &cap, stdin)) >= 0) {
			ln++;
			if (got > 0 && line[got - 1] == '\n')
				line[--got] = '\0';
			if (got > 0 && line[got - 1] == '\r')
				line[--got] = '\0';
			if (cp_cmd_check_line(line, (size_t)got, err, sizeof(err)) < 0) {
				if (g_json)
					json_result("", -EINVAL, NULL, 0, err, -1);
				else
					say_err("tokexctl: line %u: %s\n", ln, err);
				status = TKX_EXIT_FAILED;
				continue;
			}
			int rc;
			if (local_help(line, &rc)) {
				if (rc < 0)
					status = TKX_EXIT_FAILED;
				continue;
			}
			if (fd < 0) { /* connected at the first line that needs tokexd */
				fd = connect_or_say(sock, line);
				if (fd < 0) {
					free(line);
					return TKX_EXIT_USAGE;
				}
			}
			rc = call(fd, line);
			if (rc == -EIO || rc == -EPROTO) {
				status = TKX_EXIT_LOST;
				break;
			}
			if (rc < 0)
				status = TKX_EXIT_FAILED;
		}
		free(line);
	}
	if (fd >= 0)
		close(fd);
	return status;
}
