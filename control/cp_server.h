/*
 * cp_server.h - the control socket: tokexctl's commands reach the lifecycle here.
 *
 * Role: tokexd's control thread calls cp_server_poll() every pass (it waits at most its
 * timeout); the server accepts connections on a Unix stream socket, reads lines, runs
 * each through the command language (cp_cmd.h) and answers. Never on a data-path core.
 *
 * Protocol, one request line -> one answer:
 *   request:  a command line, '\n'-terminated (at most 511 characters); a line holding a
 *             control byte (NUL included; tab and CR are blanks) is refused whole
 *   answer:   zero or more output lines, each prefixed with two spaces, then one final
 *             line: "OK" or "ERR <errno> <text>"
 * The prefix keeps output from ever looking like the final line.
 *
 * Audit: every command that changes state (cp_cmd_changes) is logged (tkx_log, notice,
 * subsystem "control") with who sent it - the peer's uid and pid from SO_PEERCRED - and
 * its outcome: "operator uid 0 pid 4242: halt 202701: OK". The line's time (or journald's)
 * says when. Commands that only read are not logged: monitoring polls them.
 *
 * Connections: CP_SERVER_CONNS at a time. A new one is always admitted: when all are in
 * use, the one that has been quiet longest is told so ("ERR 103 ...") and closed, so idle
 * connections can never lock the operator out.
 *
 * The socket path: a socket file left by an earlier run is replaced; anything else there
 * (a regular file, a directory, a link) is refused, never deleted; a path another tokexd
 * answers on is refused. At close the file is removed only if it is still the socket this
 * server bound.
 */
#ifndef TOKEX_CP_SERVER_H
#define TOKEX_CP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "cp_cmd.h"

#define CP_SERVER_CONNS 8
#define CP_SERVER_LINE 512

struct cp_conn {
	int fd; /* -1 = free */
	size_t n;
	uint64_t active; /* cp_server.activity when it was accepted or last sent something */
	int has_cred;    /* uid and pid known (SO_PEERCRED) */
	uid_t uid;
	pid_t pid;
	char in[CP_SERVER_LINE];
};

struct cp_server {
	int lfd; /* -1 = no listening socket (socketpair tests) */
	char path[108];
	dev_t dev; /* the bound socket file, so that close removes only it */
	ino_t ino;
	struct cp_cmd_ctx *x;
	struct cp_conn conn[CP_SERVER_CONNS];
	unsigned long accepted;
	unsigned long requests;
	unsigned long evicted; /* closed to admit a newer connection */
	uint64_t activity;     /* counts accepts and reads: orders the connections by use */
};

/* Listens on path (its directory is created, a stale socket replaced; path NULL: no
 * listener, use cp_server_adopt()). 0 or a negative errno with text: -EINVAL (empty),
 * -ENAMETOOLONG, -ENOTSOCK (something not a socket is there), -EADDRINUSE (another
 * server answers there), or what mkdir/bind/listen said. */
int cp_server_open(struct cp_server *s, const char *path, struct cp_cmd_ctx *x, char *err,
		   size_t len);
/* Serves an already-connected stream socket (one end of a socketpair); with every slot in
 * use, the connection quiet longest is closed to make room. */
void cp_server_adopt(struct cp_server *s, int fd);
/* Accepts, reads and answers for up to timeout_ms. Returns requests answered. */
int cp_server_poll(struct cp_server *s, int timeout_ms);
void cp_server_close(struct cp_server *s);

/* Client side (tokexctl, tests): connect to path. fd or a negative errno with text. */
int cp_client_connect(const char *path, char *err, size_t len);
/* Sends one command, writes the answer's output lines (prefix removed) to out (may be
 * NULL). Returns 0 (OK), the negative errno of ERR with its text in err, or -EPROTO/-EIO. */
int cp_client_call(int fd, const char *line, FILE *out, char *err, size_t len);

#endif /* TOKEX_CP_SERVER_H */
