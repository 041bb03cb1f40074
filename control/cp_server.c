/*
 * cp_server.c - the control socket's poll/accept loop and its client; see cp_server.h.
 *
 * Role: tokexd's control thread (server) and tokexctl (client). Blocking only in poll()
 * with the caller's timeout; answers are small and written with a send timeout so a
 * client that stops reading cannot stall the control thread for long. The rules for
 * connections, lines and the socket path are in cp_server.h.
 */
#define _GNU_SOURCE /* accept4 */
#include "cp_server.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "tkx_log.h"

static const char *cp_file_kind(mode_t m)
{
	if (S_ISREG(m))
		return "a regular file";
	if (S_ISDIR(m))
		return "a directory";
	if (S_ISLNK(m))
		return "a symbolic link";
	if (S_ISFIFO(m))
		return "a FIFO";
	return "not a socket";
}

static void cp_conn_free(struct cp_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->n = 0;
}

/* mkdir -p of path's directory. */
static int cp_mkdirs(const char *path)
{
	char dir[108];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cp_server_open(struct cp_server *s, const char *path, struct cp_cmd_ctx *x, char *err,
		   size_t len)
{
	memset(s, 0, sizeof(*s));
	s->lfd = -1;
	s->x = x;
	for (int i = 0; i < CP_SERVER_CONNS; i++)
		s->conn[i].fd = -1;
	if (!path)
		return 0;
	if (!path[0]) {
		snprintf(err, len, "control.socket: empty: tokexd needs its operator socket; give "
			 "a path");
		return -EINVAL;
	}
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, len, "control.socket: '%s' is longer than %zu characters", path,
			 sizeof(a.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int rc = cp_mkdirs(path);
	if (rc < 0) {
		snprintf(err, len, "control.socket: cannot create the directory of %s: %s", path,
			 strerror(-rc));
		return rc;
	}
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, len, "control.socket: socket: %s", strerror(-rc));
		return rc;
	}
	/* Only a socket file is ever replaced: the path may name an operator's file by
	 * mistake, and deleting it (then again at stop) would lose it. */
	struct stat st;
	if (lstat(path, &st) == 0 && !S_ISSOCK(st.st_mode)) {
		close(fd);
		snprintf(err, len, "control.socket: %s exists and is %s, not a socket: refusing to "
			 "replace it; remove it or choose another path", path,
			 cp_file_kind(st.st_mode));
		return -ENOTSOCK;
	}
	/* A socket file left by a previous run is replaced, unless something listens on it.
	 * The probe never blocks: a listener whose queue is full (a hung tokexd that no
	 * longer accepts) would hold a blocking connect(), and this start, for ever; a full
	 * queue (EAGAIN) is a listener too. */
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int perr = probe < 0 ? errno : connect(probe, (struct sockaddr *)&a, sizeof(a)) == 0 ? 0 : errno;
	if (probe >= 0)
		close(probe);
	if (perr == 0 || perr == EAGAIN || perr == EINPROGRESS) {
		close(fd);
		snprintf(err, len, "control.socket: %s: another tokexd is listening there%s", path,
			 perr ? " (its queue is full: it does not accept)" : "");
		return -EADDRINUSE;
	}
	unlink(path);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0 ||
	    lstat(path, &st) < 0) {
		rc = -errno;
		close(fd);
		snprintf(err, len, "control.socket: %s: %s", path, strerror(-rc));
		return rc;
	}
	chmod(path, 0660);
	s->lfd = fd;
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	snprintf(s->path, sizeof(s->path), "%s", path);
	return 0;
}

static int cp_write_all(int fd, const char *p, size_t n);

void cp_server_adopt(struct cp_server *s, int fd)
{
	struct cp_conn *c = NULL;
	for (int i = 0; i < CP_SERVER_CONNS && !c; i++)
		if (s->conn[i].fd < 0)
			c = &s->conn[i];
	if (!c) {
		/* Every slot in use: the quietest connection makes room, so that connections
		 * left open can never lock the operator out. */
		c = &s->conn[0];
		for (int i = 1; i < CP_SERVER_CONNS; i++)
			if (s->conn[i].active < c->active)
				c = &s->conn[i];
		static const char msg[] = "ERR 103 closed: every control connection was in use and "
					  "this one was the quietest\n";
		cp_write_all(c->fd, msg, sizeof(msg) - 1);
		cp_conn_free(c);
		s->evicted++;
	}
	c->fd = fd;
	c->n = 0;
	c->active = ++s->activity;
	/* Who is on the other end, for the audit lines (cp_server.h "Audit"). */
	struct ucred cr;
	socklen_t crl = sizeof(cr);
	c->has_cred = getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &crl) == 0;
	c->uid = c->has_cred ? cr.uid : (uid_t)-1;
	c->pid = c->has_cred ? cr.pid : 0;
	struct timeval tv = {1, 0};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	s->accepted++;
}

static int cp_write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Runs one request line and writes the framed answer. */
static int cp_answer(struct cp_server *s, struct cp_conn *c, const char *line)
{
	static char out[16384], frame[17408]; /* the control thread is the only caller */
	int rc = cp_cmd_exec(s->x, line, out, sizeof(out));
	size_t n = 0;
	s->requests++;
	if (rc == 0) {
		/* Each output line, prefixed with two spaces. */
		for (char *p = out, *nl; *p && n + 4 < sizeof(frame) - 64; p = nl + 1) {
			nl = strchr(p, '\n');
			size_t l = nl ? (size_t)(nl - p) : strlen(p);
			if (n + l + 4 >= sizeof(frame) - 64)
				l = sizeof(frame) - 64 - n - 4;
			frame[n++] = ' ';
			frame[n++] = ' ';
			memcpy(frame + n, p, l);
			n += l;
			frame[n++] = '\n';
			if (!nl)
				break;
		}
		n += (size_t)snprintf(frame + n, sizeof(frame) - n, "OK\n");
	} else {
		for (char *p = out; *p; p++)
			if (*p == '\n')
				*p = ' ';
		size_t l = strlen(out);
		while (l && out[l - 1] == ' ')
			out[--l] = '\0';
		n = (size_t)snprintf(frame, sizeof(frame), "ERR %d %s\n", -rc, out);
		if (n >= sizeof(frame))
			n = sizeof(frame) - 1;
	}
	if (cp_cmd_changes(line)) {
		char who[64];
		if (c->has_cred)
			snprintf(who, sizeof(who), "uid %u pid %ld", (unsigned)c->uid, (long)c->pid);
		else
			snprintf(who, sizeof(who), "uid unknown");
		if (rc == 0)
			tkx_log(TKX_LOG_NOTICE, "control", "operator %s: %s: OK", who, line);
		else
			tkx_log(TKX_LOG_NOTICE, "control", "operator %s: %s: %.*s", who, line,
				(int)(n ? n - 1 : 0), frame);
	}
	return cp_write_all(c->fd, frame, n);
}

static void cp_conn_read(struct cp_server *s, struct cp_conn *c, int *answered)
{
	ssize_t r = recv(c->fd, c->in + c->n, sizeof(c->in) - 1 - c->n, MSG_DONTWAIT);
	if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
		cp_conn_free(c);
		return;
	}
	if (r < 0)
		return;
	c->active = ++s->activity;
	c->n += (size_t)r;
	c->in[c->n] = '\0';
	char *nl;
	while (c->fd >= 0 && (nl = memchr(c->in, '\n', c->n)) != NULL) {
		*nl = '\0';
		/* A NUL would end the line early for the parser and run only its first part:
		 * a line with any control byte is refused whole. */
		char why[160];
		int wr = cp_cmd_check_line(c->in, (size_t)(nl - c->in), why, sizeof(why));
		if (wr < 0) {
			char frame[200];
			int fl = snprintf(frame, sizeof(frame), "ERR %d %s\n", -wr, why);
			s->requests++;
			wr = cp_write_all(c->fd, frame, (size_t)fl);
		} else {
			wr = cp_answer(s, c, c->in);
		}
		if (wr < 0) {
			cp_conn_free(c);
			return;
		}
		(*answered)++;
		size_t used = (size_t)(nl + 1 - c->in);
		memmove(c->in, nl + 1, c->n - used);
		c->n -= used;
		c->in[c->n] = '\0';
	}
	if (c->n == sizeof(c->in) - 1) {
		/* A line too long to be a command: answer once and drop the connection. */
		static const char msg[] = "ERR 7 command line too long\n";
		cp_write_all(c->fd, msg, sizeof(msg) - 1);
		cp_conn_free(c);
	}
}

int cp_server_poll(struct cp_server *s, int timeout_ms)
{
	struct pollfd p[CP_SERVER_CONNS + 1];
	int idx[CP_SERVER_CONNS + 1];
	int n = 0, answered = 0;
	if (s->lfd >= 0) {
		p[n].fd = s->lfd;
		p[n].events = POLLIN;
		idx[n++] = -1;
	}
	for (int i = 0; i < CP_SERVER_CONNS; i++)
		if (s->conn[i].fd >= 0) {
			p[n].fd = s->conn[i].fd;
			p[n].events = POLLIN;
			idx[n++] = i;
		}
	/* Nothing to watch still waits the timeout: the caller's loop relies on it. */
	int r = poll(p, (nfds_t)n, timeout_ms);
	if (r <= 0)
		return 0;
	for (int j = 0; j < n; j++) {
		if (!p[j].revents)
			continue;
		if (idx[j] < 0) {
			int fd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				cp_server_adopt(s, fd);
			continue;
		}
		cp_conn_read(s, &s->conn[idx[j]], &answered);
	}
	return answered;
}

void cp_server_close(struct cp_server *s)
{
	for (int i = 0; i < CP_SERVER_CONNS; i++)
		cp_conn_free(&s->conn[i]);
	if (s->lfd >= 0) {
		close(s->lfd);
		/* Only the socket this server bound: whatever replaced it is not ours. */
		struct stat st;
		if (lstat(s->path, &st) == 0 && S_ISSOCK(st.st_mode) && st.st_dev == s->dev &&
		    st.st_ino == s->ino)
			unlink(s->path);
		s->lfd = -1;
	}
}

int cp_client_connect(const char *path, char *err, size_t len)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a.sun_path)) {
		snprintf(err, len, "%s: socket path too long", path);
		return -ENAMETOOLONG;
	}
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		int e = errno;
		snprintf(err, len, "socket: %s", strerror(e));
		return -e;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		close(fd);
		snprintf(err, len, "%s: %s (is tokexd running? see control.socket)", path,
			 strerror(e));
		return -e;
	}
	return fd;
}

int cp_client_call(int fd, const char *line, FILE *out, char *err, size_t len)
{
	char req[CP_SERVER_LINE + 1];
	int n = snprintf(req, sizeof(req), "%s\n", line);
	if (n < 0 || (size_t)n >= sizeof(req) || strchr(line, '\n')) {
		snprintf(err, len, "command too long or has a newline");
		return -EINVAL;
	}
	int rc = cp_write_all(fd, req, (size_t)n);
	if (rc < 0) {
		snprintf(err, len, "send: %s", strerror(-rc));
		return -EIO;
	}
	/* Read the answer a byte at a time up to each newline: answers are small. */
	char buf[4096];
	size_t k = 0;
	for (;;) {
		char ch;
		ssize_t r = recv(fd, &ch, 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			snprintf(err, len, "tokexd closed the connection");
			return -EIO;
		}
		if (ch != '\n') {
			if (k < sizeof(buf) - 1)
				buf[k++] = ch;
			continue;
		}
		buf[k] = '\0';
		k = 0;
		if (buf[0] == ' ' && buf[1] == ' ') {
			if (out)
				fprintf(out, "%s\n", buf + 2);
			continue;
		}
		if (strcmp(buf, "OK") == 0)
			return 0;
		if (strncmp(buf, "ERR ", 4) == 0) {
			char *end;
			long e = strtol(buf + 4, &end, 10);
			snprintf(err, len, "%s", *end == ' ' ? end + 1 : end);
			return e > 0 ? (int)-e : -EPROTO;
		}
		snprintf(err, len, "unexpected answer line '%s'", buf);
		return -EPROTO;
	}
}
