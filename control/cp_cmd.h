/*
 * cp_cmd.h - the operator's command language: one line, one command, the same for
 * tokexctl over the control socket and for tokexd's start-up file (control.startup).
 *
 * Role: control plane (tokexd's control thread). Parses a line and calls the lifecycle
 * (cp_life) or the scheduler; prices are decimals of at most four places ("2.5000" is
 * 25000 units of 0.0001 CNY per 1 M tokens). Words are separated by blanks; '#' starts a
 * comment. A line holding a control byte (other than tab and CR) is refused whole, never
 * run in part. FIRM is one of the configuration's firms (0 in cancel: every firm).
 * Commands:
 *
 *   help [COMMAND]                          what each command does (tokexctl answers it
 *                                           itself: cp_cmd_help)
 *   ping                                    "pong" and who answers (tokexd's version, pid)
 *   contracts                               contracts, phases, limits, settlements, spot
 *   show ID                                 one contract in full: the day's volume and
 *                                           VWAP, the uncross, the indicative auction
 *   spot                                    the spot month
 *   calendar                                the calendar: trading sessions, holidays, today
 *   sessions                                order-entry sessions (one table: udp and tcp)
 *   drop SESSION                            forget an order-entry session (its orders stay)
 *   counters                                lifecycle, scheduler and core counters
 *   list [YYYYMM]                           list the month after the strip's last (only
 *                                           that one, or a never-traded month back)
 *   preopen|uncross|open|break|close ID     drive a phase by hand (no scheduler)
 *   halt ID|all    resume ID|all            operator halt and resume
 *   limits ID LO HI                         today's price limits
 *   settle ID|all                           daily settlement of closed contracts
 *   expire ID                               expire on/after the last trading day
 *   final ID [INDEX-FILE]                   final settlement from the index file
 *   delist ID confirm                       drop a final-settled (or unused) contract
 *   account FIRM ACCT MAXQTY MAXPOS [SPOT]  per-account limits
 *   kill FIRM ACCT on|off                   kill switch (on also cancels its orders)
 *   cancel FIRM ACCT [ID]                   mass cancel (0 0 = every account); how many
 *   tick                                    run the scheduler now
 *   clock [hold|run|rate R|to TIME]         the calendar's time and rate (simulated or
 *                                           wall clock); steers a simulated one: hold,
 *                                           run, rate, forward to TIME and held there
 *   replication                             role, epoch, peer, sequences, lag (issue 14)
 *   digest                                  a digest of the books, the control plane's
 *                                           state and the sessions' numbering at one seq
 *                                           (a standby's equals its primary's)
 *
 * Read-only (a standby: cp_cmd_ctx.read_only): only the commands that change nothing run
 * (help ping contracts show spot calendar sessions counters clock replication digest); any
 * other is refused with read_only's text, before it is parsed further.
 */
#ifndef TOKEX_CP_CMD_H
#define TOKEX_CP_CMD_H

#include <stddef.h>
#include <stdint.h>

#include "cp_clock.h"
#include "cp_config.h"
#include "cp_life.h"
#include "cp_sched.h"

struct cp_cmd_ctx {
	struct cp_life *L;
	struct cp_sched *S; /* NULL: no scheduler */
	/* The firms kill, account and cancel may name (cp_config_firm()); NULL: any. */
	const struct cp_config *cfg;
	/* Optional: appends the matching cores' counters to out (tokexd). */
	void (*counters)(void *arg, char *out, size_t len);
	void *counters_arg;
	/* Optional (tokexd): the order-entry sessions as text; forgetting one. 0 or a negative
	 * errno, the operator's text in out either way. NULL: the commands say so. */
	int (*sessions)(void *arg, char *out, size_t len);
	int (*drop)(void *arg, uint64_t session_id, char *out, size_t len);
	void *sessions_arg;
	/* Optional (tokexd): the calendar's clock. Each command reads the lifecycle's time
	 * from it (L->now); 'clock' shows it and steers a simulated one. NULL: L->now as
	 * the caller set it. */
	struct cp_clock *clock;
	/* Optional (tokexd): called after every command, before its answer, to make the
	 * control plane's change durable (the journal). 0, or a negative errno with the
	 * operator's text in out: the command's answer is then that error. */
	int (*commit)(void *arg, char *out, size_t len);
	void *commit_arg;
	/* Optional (tokexd standby): set, every command that would change state is refused
	 * with this text ("standby: read-only ..."). */
	const char *read_only;
	/* Optional (tokexd): the replication link's state, and the state's digest, as text.
	 * 0 or a negative errno, the operator's text in out either way. NULL: not available. */
	int (*replication)(void *arg, char *out, size_t len);
	int (*digest)(void *arg, char *out, size_t len);
	void *repl_arg;
	/* Optional: who answers 'ping' ("tokexd 0.1.0 (git ...)"); NULL: "pong" alone. */
	const char *ident;
	unsigned long commands;
	unsigned long errors;
};

/* Runs one line. Returns 0 with the output in out, or a negative errno with the
 * operator's text in out. A blank or comment line is 0 with empty output. */
int cp_cmd_exec(struct cp_cmd_ctx *x, const char *line, char *out, size_t len);

/* Whether the n bytes at line may be a command line: no control byte but tab, CR and a
 * final newline (a NUL would cut the line short, and the rest would be lost unseen). 0, or
 * -EINVAL with the operator's text in out. cp_cmd_exec() checks its line with it; a
 * caller that reads bytes (the socket, a file) checks all of them first. */
int cp_cmd_check_line(const char *line, size_t n, char *out, size_t len);

/* The help text: every command with what it does (name NULL), or one command's. 0, or
 * -ENOSYS (no such command) with the operator's text. Needs no lifecycle: tokexctl
 * answers 'help' and -h with it, without tokexd. */
int cp_cmd_help(const char *name, char *out, size_t len);
/* Whether line is a command that may change state (not one of the read-only ones a
 * standby runs, nor blank, a comment or unknown): what the control socket logs with who
 * sent it. */
int cp_cmd_changes(const char *line);
/* The command names, blank-separated. */
void cp_cmd_names(char *out, size_t len);

/* Runs every line of a file, stopping at the first error: "path:line: text". */
int cp_cmd_file(struct cp_cmd_ctx *x, const char *path, char *err, size_t len);

#endif /* TOKEX_CP_CMD_H */
