/*
 * tokexctl.c - the operator's command-line tool: sends commands to tokexd's control socket.
 *
 * Role: a separate process on the appliance's host; no data-path state. The commands are
 * the control plane's command language (cp_cmd.h, 'tokexctl help'); with no command on
 * the command line, one command per line is read from standard input. 'help' is
 * answered here from the same command table, so it works without tokexd. A line that holds
 * a control byte (a NUL, say) or is too long is not sent at all: never a part of it.
 *
 * Exit status: 0 every command succeeded, 1 one failed, 2 no connection or bad usage.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_cmd.h"
#include <tokex/version.h>

#include "cp_config.h"
#include "cp_server.h"

static void usage(FILE *f)
{
	char names[1024];
	cp_cmd_names(names, sizeof(names));
	fprintf(f, "usage: tokexctl [-s SOCKET] [-c CONFIG] [COMMAND [ARGS...]]\n"
		   "  -s, --socket PATH   tokexd's control socket (default: control.socket of the\n"
		   "                      configuration, /run/tokex/tokexd.sock built in)\n"
		   "  -c, --config FILE   read control.socket from tokexd's configuration file\n"
		   "  -h, --help          this text\n"
		   "      --version       print tokexctl's version and exit\n"
		   "With no COMMAND, commands are read from standard input, one per line.\n"
		   "Commands: %s\n"
		   "'tokexctl help' says what each does, 'tokexctl help COMMAND' one in full (no\n"
		   "tokexd needed).\n", names);
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
		fprintf(stderr, "tokexctl: usage: help [COMMAND]\n");
		*rc = -EINVAL;
		return 1;
	}
	static char out[16384];
	*rc = cp_cmd_help(name, out, sizeof(out));
	fputs(out, *rc < 0 ? stderr : stdout);
	if (*rc < 0)
		fputc('\n', stderr);
	return 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"socket", required_argument, NULL, 's'},
		{"config", required_argument, NULL, 'c'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static struct cp_config cfg;
	const char *sock = NULL;
	char err[512];
	int o;

	cp_config_defaults(&cfg);
	while ((o = getopt_long(argc, argv, "+s:c:h", opts, NULL)) != -1) {
		switch (o) {
		case 's':
			sock = optarg;
			break;
		case 'c':
			if (cp_config_load(&cfg, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "tokexctl: %s\n", err);
				return 2;
			}
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("tokexctl %s\n", tkx_version());
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!sock)
		sock = cfg.ctl_socket;
	int status = 0, fd = -1;
	if (optind < argc) {
		char line[CP_SERVER_LINE];
		size_t n = 0;
		line[0] = '\0';
		for (int i = optind; i < argc; i++) {
			int w = snprintf(line + n, sizeof(line) - n, "%s%s", i > optind ? " " : "",
					 argv[i]);
			if (w < 0 || (size_t)w >= sizeof(line) - n) {
				fprintf(stderr, "tokexctl: command too long\n");
				return 2;
			}
			n += (size_t)w;
		}
		int hrc;
		if (local_help(line, &hrc))
			return hrc < 0 ? 1 : 0;
		fd = cp_client_connect(sock, err, sizeof(err));
		if (fd < 0) {
			fprintf(stderr, "tokexctl: %s\n", err);
			return 2;
		}
		if (cp_client_call(fd, line, stdout, err, sizeof(err)) < 0) {
			fprintf(stderr, "tokexctl: %s\n", err);
			status = 1;
		}
	} else {
		/* Whole lines (getline): a fixed buffer would split a long line into two
		 * commands, and a NUL would cut it short with the rest silently dropped. */
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
				fprintf(stderr, "tokexctl: line %u: %s\n", ln, err);
				status = 1;
				continue;
			}
			int rc;
			if (local_help(line, &rc)) {
				if (rc < 0)
					status = 1;
				fflush(stdout);
				continue;
			}
			if (fd < 0) { /* connected at the first line that needs tokexd */
				fd = cp_client_connect(sock, err, sizeof(err));
				if (fd < 0) {
					fprintf(stderr, "tokexctl: %s\n", err);
					free(line);
					return 2;
				}
			}
			rc = cp_client_call(fd, line, stdout, err, sizeof(err));
			if (rc < 0) {
				fprintf(stderr, "tokexctl: %s: %s\n", line, err);
				status = 1;
				if (rc == -EIO || rc == -EPROTO)
					break;
			}
			/* Each answer as it comes: a program may drive tokexctl through a pipe,
			 * a command at a time. */
			fflush(stdout);
		}
		free(line);
	}
	if (fd >= 0)
		close(fd);
	return status;
}
