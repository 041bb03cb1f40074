/*
 * tkx_log.c - tokexd's log lines: level, subsystem, time or journald priority; see
 * tkx_log.h. Start-up and control threads only; one write(2) per line.
 */
#define _GNU_SOURCE /* fopencookie */
#include "tkx_log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#define TKX_LOG_LINE 1024 /* a longer message is cut, marked with "..." */

static struct {
	char prog[32];
	enum tkx_log_format fmt; /* resolved: never AUTO once set */
	int level;
	int init;
} g_log = {"tokexd", TKX_LOG_TEXT, TKX_LOG_INFO, 0};

static const char *const tkx_levels[8] = {"emerg", "alert", "crit", "err",
					  "warn",  "notice", "info", "debug"};
/* sd-daemon.h's prefixes, by level. */
static const char *const tkx_sd[8] = {SD_EMERG, SD_ALERT,  SD_CRIT, SD_ERR,
				      SD_WARNING, SD_NOTICE, SD_INFO, SD_DEBUG};

/* Whether fd is the stream JOURNAL_STREAM ("DEV:INO") names. */
static int tkx_is_journal_fd(int fd, const char *js)
{
	unsigned long long dev, ino;
	struct stat st;
	if (!js || sscanf(js, "%llu:%llu", &dev, &ino) != 2 || fstat(fd, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

static enum tkx_log_format tkx_detect(void)
{
	const char *js = getenv("JOURNAL_STREAM");
	if (tkx_is_journal_fd(STDOUT_FILENO, js) || tkx_is_journal_fd(STDERR_FILENO, js))
		return TKX_LOG_JOURNAL;
	const char *ns = getenv("NOTIFY_SOCKET");
	if (ns && ns[0] && !isatty(STDOUT_FILENO))
		return TKX_LOG_JOURNAL;
	return TKX_LOG_TEXT;
}

void tkx_log_init(const char *prog, enum tkx_log_format fmt, int level)
{
	const char *env = getenv("TOKEX_LOG_FORMAT");
	int ef = env && env[0] ? tkx_log_format_parse(env) : -1;
	if (ef >= 0)
		fmt = (enum tkx_log_format)ef;
	if (prog)
		snprintf(g_log.prog, sizeof(g_log.prog), "%s", prog);
	g_log.fmt = fmt == TKX_LOG_AUTO ? tkx_detect() : fmt;
	if (level >= TKX_LOG_CRIT && level <= TKX_LOG_DEBUG)
		g_log.level = level;
	g_log.init = 1;
}

enum tkx_log_format tkx_log_format(void)
{
	if (!g_log.init)
		tkx_log_init(NULL, TKX_LOG_AUTO, g_log.level);
	return g_log.fmt;
}

int tkx_log_level(void)
{
	return g_log.level;
}

const char *tkx_log_level_name(int level)
{
	return level >= 0 && level < 8 ? tkx_levels[level] : NULL;
}

int tkx_log_level_parse(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} alias[] = {{"error", TKX_LOG_ERR}, {"warning", TKX_LOG_WARN}};
	for (int i = TKX_LOG_CRIT; i <= TKX_LOG_DEBUG; i++)
		if (strcmp(name, tkx_levels[i]) == 0)
			return i;
	for (size_t i = 0; i < sizeof(alias) / sizeof(alias[0]); i++)
		if (strcmp(name, alias[i].name) == 0)
			return alias[i].level;
	return -EINVAL;
}

int tkx_log_format_parse(const char *name)
{
	if (strcmp(name, "auto") == 0)
		return TKX_LOG_AUTO;
	if (strcmp(name, "text") == 0)
		return TKX_LOG_TEXT;
	if (strcmp(name, "journal") == 0)
		return TKX_LOG_JOURNAL;
	if (strcmp(name, "bare") == 0)
		return TKX_LOG_BARE;
	return -EINVAL;
}

static int tkx_clamp(int level)
{
	return level < 0 ? 0 : level > 7 ? 7 : level;
}

/* The prefix and "prog: [subsys: ]" of one line. */
static int tkx_prefix(char *buf, size_t len, int level, const char *subsys, long long sec,
		      long usec)
{
	level = tkx_clamp(level);
	const char *sep = subsys && subsys[0] ? ": " : "";
	if (!subsys)
		subsys = "";
	if (g_log.fmt == TKX_LOG_JOURNAL)
		return snprintf(buf, len, "%s%s: %s%s", tkx_sd[level], g_log.prog, subsys, sep);
	if (g_log.fmt == TKX_LOG_BARE)
		return snprintf(buf, len, "%s: %s%s", g_log.prog, subsys, sep);
	struct tm tm;
	time_t t = (time_t)sec;
	gmtime_r(&t, &tm);
	return snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ %-6s %s: %s%s",
			tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			tm.tm_sec, usec, tkx_levels[level], g_log.prog, subsys, sep);
}

int tkx_log_format_line(char *buf, size_t len, int level, const char *subsys, const char *msg,
			long long sec, long usec)
{
	if (!g_log.init)
		tkx_log_init(NULL, TKX_LOG_AUTO, g_log.level);
	int n = tkx_prefix(buf, len, level, subsys, sec, usec);
	if (n < 0)
		return n;
	size_t at = (size_t)n < len ? (size_t)n : len;
	return n + snprintf(buf + at, len - at, "%s", msg);
}

static void tkx_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* nowhere to report a log that cannot be written */
		p += w;
		n -= (size_t)w;
	}
}

/* One line each for the lines of msg, each whole in one write. */
static void tkx_emit(int level, const char *subsys, const char *msg)
{
	char line[TKX_LOG_LINE + 128];
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	int fd = level <= TKX_LOG_ERR ? STDERR_FILENO : STDOUT_FILENO;
	/* What stdio holds for this fd goes first, so the log and printf's lines (the
	 * usage, --print-config) keep their order. */
	fflush(fd == STDERR_FILENO ? stderr : stdout);
	do {
		size_t l = strcspn(msg, "\n");
		int n = tkx_prefix(line, sizeof(line), level, subsys, (long long)ts.tv_sec,
				   ts.tv_nsec / 1000);
		size_t at = n < 0 ? 0 : (size_t)n;
		if (at > sizeof(line) - 8)
			at = sizeof(line) - 8;
		size_t room = sizeof(line) - at - 1;
		if (l > room) {
			memcpy(line + at, msg, room - 3);
			memcpy(line + at + room - 3, "...", 3);
			at += room;
		} else {
			memcpy(line + at, msg, l);
			at += l;
		}
		line[at++] = '\n';
		tkx_write_all(fd, line, at);
		msg += l;
		if (*msg == '\n')
			msg++;
	} while (*msg);
}

void tkx_vlog(int level, const char *subsys, const char *fmt, va_list ap)
{
	if (!g_log.init)
		tkx_log_init(NULL, TKX_LOG_AUTO, g_log.level);
	if (level > g_log.level)
		return;
	char msg[TKX_LOG_LINE];
	int w = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (w >= (int)sizeof(msg)) /* cut: say so */
		memcpy(msg + sizeof(msg) - 4, "...", 4);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n') /* a converted printf's own newline */
		msg[--n] = '\0';
	tkx_emit(level, subsys, msg);
}

void tkx_log(int level, const char *subsys, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	tkx_vlog(level, subsys, fmt, ap);
	va_end(ap);
}

/* ---- the stream for DPDK ------------------------------------------------------------- */

struct tkx_stream {
	char subsys[16];
	int (*cur_level)(void);
};

/* A line in pieces (DPDK writes "Cause: " then the cause), per thread. */
static _Thread_local char tkx_part[TKX_LOG_LINE];
static _Thread_local size_t tkx_part_n;

/* One of DPDK's lines. rte_exit() writes "Error - exiting with code: N", then
 * "  Cause: " and the caller's text: tokexd's own ("tokexd: port: ..."), logged as the
 * daemon's line rather than DPDK's. */
static void tkx_stream_line(const struct tkx_stream *s, int level, const char *line)
{
	size_t pl = strlen(g_log.prog);
	if (strncmp(line, "  Cause: ", 9) == 0)
		line += 9;
	if (strncmp(line, g_log.prog, pl) == 0 && strncmp(line + pl, ": ", 2) == 0) {
		tkx_log(level, TKX_LOG_MAIN, "%s", line + pl + 2);
		return;
	}
	tkx_log(level, s->subsys, "%s", line);
}

static ssize_t tkx_stream_write(void *cookie, const char *buf, size_t size)
{
	struct tkx_stream *s = cookie;
	int level = s->cur_level ? s->cur_level() : TKX_LOG_INFO;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] != '\n' && tkx_part_n < sizeof(tkx_part) - 1) {
			tkx_part[tkx_part_n++] = buf[i];
			continue;
		}
		tkx_part[tkx_part_n] = '\0';
		if (tkx_part_n)
			tkx_stream_line(s, level, tkx_part);
		tkx_part_n = 0;
		if (buf[i] != '\n') /* full: this byte starts the next piece */
			tkx_part[tkx_part_n++] = buf[i];
	}
	return (ssize_t)size;
}

/* The streams' state: static, so that one still open at an exit is no leak (DPDK's
 * cleanup forgets its stream without closing it). Start-up only: not thread-safe. */
#define TKX_LOG_STREAMS 4
static struct tkx_stream tkx_streams[TKX_LOG_STREAMS];
static int tkx_nstreams;

FILE *tkx_log_stream(const char *subsys, int (*cur_level)(void))
{
	if (tkx_nstreams == TKX_LOG_STREAMS) {
		errno = ENOSPC;
		return NULL;
	}
	struct tkx_stream *s = &tkx_streams[tkx_nstreams];
	snprintf(s->subsys, sizeof(s->subsys), "%s", subsys ? subsys : "");
	s->cur_level = cur_level;
	cookie_io_functions_t io = {.write = tkx_stream_write};
	FILE *f = fopencookie(s, "w", io);
	if (f)
		tkx_nstreams++;
	return f;
}
