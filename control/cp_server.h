/*
 * cp_server.h - the control socket: tokexctl's commands reach the lifecycle here.
 *
 * Role: tokexd's control thread calls cp_server_poll() every pass (it waits at most its
 * timeout); the server accepts connections on a Unix stream socket, reads lines, runs
 * each through the command language (cp_cmd.h) and answers. Never on a data-path core.
 *
 * Protocol, one request line -> one answer:
 *   request:  a command line, '\n'-terminated (at most 511 characters)
 *   answer:   zero or more output lines, each prefixed with two spaces, then one final
 *             line: "OK" or "ERR <errno> <text>"
 * The prefix keeps output from ever looking like the final line.
 */
#ifndef TOKEX_CP_SERVER_H
#define TOKEX_CP_SERVER_H

#include <stddef.h>
#include <stdio.h>

#include "cp_cmd.h"

#define CP_SERVER_CONNS 8
#define CP_SERVER_LINE 512

struct cp_conn {
	int fd; /* -1 = free */
	size_t n;
	char in[CP_SERVER_LINE];
};

struct cp_server {
	int lfd; /* -1 = no listening socket (socketpair tests) */
	char path[108];
	struct cp_cmd_ctx *x;
	struct cp_conn conn[CP_SERVER_CONNS];
	unsigned long accepted;
	unsigned long requests;
};

/* Listens on path (its directory is created, a stale socket replaced; path NULL: no
 * listener, use cp_server_adopt()). 0 or a negative errno with text. */
int cp_server_open(struct cp_server *s, const char *path, struct cp_cmd_ctx *x, char *err,
		   size_t len);
/* Serves an already-connected stream socket (one end of a socketpair). 0 or -ENOSPC. */
int cp_server_adopt(struct cp_server *s, int fd);
/* Accepts, reads and answers for up to timeout_ms. Returns requests answered. */
int cp_server_poll(struct cp_server *s, int timeout_ms);
void cp_server_close(struct cp_server *s);

/* Client side (tokexctl, tests): connect to path. fd or a negative errno with text. */
int cp_client_connect(const char *path, char *err, size_t len);
/* Sends one command, writes the answer's output lines (prefix removed) to out (may be
 * NULL). Returns 0 (OK), the negative errno of ERR with its text in err, or -EPROTO/-EIO. */
int cp_client_call(int fd, const char *line, FILE *out, char *err, size_t len);

#endif /* TOKEX_CP_SERVER_H */
