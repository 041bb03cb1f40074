/*
 * tkx_log.h - tokexd's log: every line with its level, its subsystem and (outside systemd)
 * its time; under systemd, journald's priority prefix instead of the time.
 *
 * Role: control plane and start-up only (the control thread, the journal, replication and
 * metrics threads, main before launch). A line costs a clock read, a vsnprintf and one
 * write(2): never call it from a data-path loop (td_rx.c, td_match.c); those count, and the
 * control thread reports counts.
 *
 * A line, as written (one write(2) per line, so threads never interleave within one):
 *   text:    2026-12-07T22:29:01.123456Z notice tokexd: journal: recovered 12 record(s) ...
 *   journal: <5>tokexd: journal: recovered 12 record(s) ...
 *   bare:    tokexd: journal: recovered 12 record(s) ...
 * The time is UTC, microseconds. "tokexd:" is the program; the subsystem follows it
 * ("journal:", "control:", "replication:", "metrics:", "dpdk:", ...), except for the
 * daemon's own lines (subsystem TKX_LOG_MAIN: its start, configuration, readiness, stats
 * and stop), whose first word says what they are. <N> is sd-daemon.h's SD_ERR... prefix:
 * journald takes it as the line's priority and strips it. A message holding newlines is
 * written as one line each, each with the prefix.
 *
 * Streams: err and worse on standard error, the rest (warnings included) on standard
 * output; under systemd both reach the journal, each line with its priority.
 *
 * Format (tkx_log_init): TKX_LOG_TEXT, TKX_LOG_JOURNAL, TKX_LOG_BARE (neither time nor
 * level: for a collector that stamps lines itself; the test suites' scripts parse it), or
 * TKX_LOG_AUTO: journal when standard output or error is the journal's stream
 * (JOURNAL_STREAM names its device and inode: systemd.exec(5)) or when started by a
 * Type=notify service manager (NOTIFY_SOCKET set, standard output not a terminal), else
 * text. The environment's TOKEX_LOG_FORMAT (auto, text, journal, bare), when set,
 * overrides the format asked for.
 *
 * DPDK's messages (tkx_log_stream): a stdio stream for rte_openlog_stream() whose lines are
 * logged under subsystem "dpdk", at the level the caller's function gives for the line
 * being written (rte_log_cur_msg_loglevel()).
 */
#ifndef TOKEX_TKX_LOG_H
#define TOKEX_TKX_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

/* syslog(3)'s numbers, which journald's prefixes use. */
enum tkx_log_level {
	TKX_LOG_CRIT = 2, /* a fatal exit */
	TKX_LOG_ERR = 3,
	TKX_LOG_WARN = 4,
	TKX_LOG_NOTICE = 5, /* what an operator reads: start, ready, stop, operator actions */
	TKX_LOG_INFO = 6,
	TKX_LOG_DEBUG = 7,
};

enum tkx_log_format { TKX_LOG_AUTO = 0, TKX_LOG_TEXT, TKX_LOG_JOURNAL, TKX_LOG_BARE };

#define TKX_LOG_MAIN NULL /* the daemon's own lines: "tokexd: ready: ..." */

/* The program's name ("tokexd"), the format and the lowest level written (lines of a
 * level above it, less severe, are dropped). Call again to change them (after the
 * configuration is read); before the first call: "tokexd", auto, info. */
void tkx_log_init(const char *prog, enum tkx_log_format fmt, int level);
/* The format in force (TKX_LOG_TEXT or TKX_LOG_JOURNAL, auto resolved). */
enum tkx_log_format tkx_log_format(void);
int tkx_log_level(void);

void tkx_log(int level, const char *subsys, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void tkx_vlog(int level, const char *subsys, const char *fmt, va_list ap)
	__attribute__((format(printf, 3, 0)));

/* "err", "warn", ...: the level's name, or NULL. tkx_log_level_parse: the level of a name
 * (also "error", "warning", "crit"), or -EINVAL. */
const char *tkx_log_level_name(int level);
int tkx_log_level_parse(const char *name);
/* "auto", "text", "journal", "bare": the format, or -EINVAL. */
int tkx_log_format_parse(const char *name);

/* A write-only stream whose complete lines are logged under subsys, each at the level
 * cur_level() gives while it is written (a syslog number; NULL: info). Lines are joined
 * per thread, so a line written in pieces stays one. NULL and errno on failure. */
FILE *tkx_log_stream(const char *subsys, int (*cur_level)(void));

/* Writes the line as this process would (the format in force) into buf without the
 * trailing newline: for tests. Returns its length, or the length it would have. */
int tkx_log_format_line(char *buf, size_t len, int level, const char *subsys,
			const char *msg, long long sec, long usec);

#endif /* TOKEX_TKX_LOG_H */
