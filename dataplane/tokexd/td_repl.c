/*
 * td_repl.c - tokexd's replication link (issue 14, docs/STANDBY.md): a primary sends the
 * journal records it made durable to its standbys; a standby checks them, appends them to
 * its own journal and applies them the way recovery does.
 *
 * Role and threads:
 *  - The link thread (a pthread off the data path, pinned like the journal thread; never
 *    the RX lcore) drives TCP sockets on the kernel's stack with io_uring (accept, connect,
 *    recv, send). Primary: listens on replication.listen, up to TDR_MAX_PEERS standbys.
 *    Standby: connects to replication.primary, reconnects after a loss.
 *  - The primary's data path does not know the link exists: the link thread reads the
 *    journal's segment files (jn_reader) up to what the journal thread made durable (and
 *    wrote: jn_durable, jn_written) after each group commit, and sends those records as
 *    they are on disk, CRCs included. A slow standby never slows the primary: it only lags.
 *  - Standby: the link thread checks every record (jn_follow_check: CRC, sequence, epoch)
 *    and hands it to the RX lcore over an SPSC ring (TDR_RING records); the RX lcore runs
 *    td_repl_follow() instead of the order-entry loop: it appends each record to its own
 *    journal as it is (jn_append_rec) and applies it through td_replay_rec, recovery's
 *    code (td_jn_follow). Order entry and market data are muted: UDP packets are counted
 *    and dropped (refused_udp), no TCP gateway listens, the publisher sends nothing, and
 *    the control plane refuses commands that change state ("standby: read-only").
 *
 * Link protocol (jn_link.h): the standby says HELLO with the last seq and epoch it holds;
 * the primary answers START from the next seq - from its journal files while it keeps
 * them; when the standby is further behind than that, a SNAPSHOT (its newest snapshot file)
 * and the journal after it. A running standby cannot load a snapshot over its state: it
 * takes one only at start (td_repl_bootstrap, before recovery); one that falls that far
 * behind while running stops following and says to restart it.
 *
 * Invariants:
 *  1. A standby appends and applies records in seq order with no gap: a gap restarts the
 *     connection with HELLO from the first missing seq; a duplicate is skipped.
 *  2. A record that fails its CRC, is of another journal format or of an epoch below one
 *     seen is never appended: the standby stops following, logs the seq and the reason,
 *     shows it in `tokexctl replication`, and is not promotable from then on.
 *  3. A following standby whose last ACKed (applied) seq is further behind the primary's
 *     durable seq than replication.send_buffer_kb of records is disconnected with the
 *     reason (BYE TOO_SLOW), also while a send to it is stuck; it reconnects and catches
 *     up from the journal (the bound applies again once it has caught up: a catch-up is
 *     not bounded). The primary's RX core never waits on a standby.
 *  4. A primary refuses a standby that holds a newer epoch (BYE FENCED) or records it does
 *     not have (BYE AHEAD).
 *  5. ... and one whose last record is not this journal's record at that seq: another
 *     epoch there (BYE AHEAD, "diverged") - a deposed primary's records that no standby
 *     received, rejoining as a standby. One writer per epoch makes the epoch enough.
 *
 * Promotion (td_repl_promote, asked by the lease thread, td_lease.c, once this standby holds
 * the lease): the link thread hands on what it received and closes the link (link_quiet);
 * the RX lcore applies the rest and ends following (tdr_promote_rx: td_jn_follow_end,
 * jn_set_epoch, a new market-data session) and td_repl_follow returns TD_REPL_PROMOTED;
 * the link thread then serves standbys on replication.listen (tdr_listen). With durability
 * sync-replicated the primary's link thread publishes what a following standby ACKed as
 * durable (tdr_sync_gate; td_app.repl_durable), which the journal gate waits for.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include "cp_config.h"
#include "jn_journal.h"
#include "jn_link.h"
#include "td_app.h"
#include "td_lease.h"
#include "td_repl.h"
#include "tkx_log.h"

#define TDR_MAX_PEERS 4
#define TDR_PEER_RBUF 4096
#define TDR_RBUF (JN_LINK_HDR + JN_LINK_MAX_PAYLOAD)
#define TDR_FRAME_RECS 2048u         /* records per RECORDS frame: 256 KiB */
#define TDR_RING 16384u              /* records, link thread -> RX lcore */
#define TDR_TICK_NS 200000ull        /* the link thread's wait when nothing happens: it polls the
				       * journal's durable seq (and a standby its applied seq)
				       * this often */
#define TDR_BEAT_NS 100000000ull     /* a BEAT every 100 ms while idle */
#define TDR_ACK_NS 200000ull         /* a standby's ACK at most every 200 us */
#define TDR_RETRY_NS 200000000ull    /* reconnecting */

enum { U_ACCEPT = 1, U_RECV = 2, U_SEND = 3 };
#define TDR_UD(i, op) (((uint64_t)(i) << 8) | (uint64_t)(op))

enum tdr_pstate { P_FREE = 0, P_HELLO, P_STREAM, P_CLOSING };

struct tdr_peer {
	int fd;
	int state;
	int recv_busy, send_busy;
	char addr[48];
	char name[32];
	uint8_t rbuf[TDR_PEER_RBUF];
	size_t rlen;
	uint8_t *sbuf; /* one RECORDS frame (or START) */
	uint8_t *big;  /* a SNAPSHOT frame (malloc), sent after sbuf */
	size_t big_len;
	const uint8_t *cur;
	size_t cur_len, cur_off;
	struct jn_reader rd;
	int rd_open;
	uint64_t next_seq; /* the next record to send */
	uint64_t sent, acked, ack_durable;
	int caught_up;       /* it applied what was durable when it had all been sent */
	uint64_t catch_seq;  /* that seq (0: not all sent yet) */
	int bootstrap;       /* a standby's start-up question: START (and a snapshot) only */
	uint64_t last_send_ns;
	uint64_t lag_seq, lag_ns; /* a RECORDS frame's last seq and when it left: lag_us */
	uint64_t lag_us;
};

struct td_repl {
	struct td_app *a;
	uint32_t role;
	pthread_t th;
	int th_ok;
	int cpu;
	atomic_int stop;
	struct io_uring ring;
	int ring_ok;
	pthread_mutex_t mu; /* the text fields below (the link thread writes, tokexctl reads) */
	char state[32];
	char reason[320];
	char peer[64];
	/* primary */
	int lfd;
	int accept_busy;
	struct sockaddr_in acc_addr;
	socklen_t acc_len;
	struct tdr_peer peers[TDR_MAX_PEERS];
	uint64_t fault_left; /* records to send before the one damaged (testing) */
	/* standby */
	int fd;
	int recv_busy, send_busy, closing, hello_sent;
	uint8_t *rbuf;
	size_t rlen, roff;
	uint32_t recs_left;
	struct jn_follow fol;
	uint8_t abuf[JN_LINK_HDR + sizeof(struct jn_link_hello)];
	size_t alen, aoff;
	uint64_t next_ack_ns, retry_ns, acked_applied, acked_durable;
	struct rte_ring *q;
	/* shared */
	_Atomic uint64_t applied, applied_ns, received, primary_durable, sent, acked, lag_us;
	_Atomic uint64_t connects, disconnects, too_slow, gaps, snapshots_sent, records;
	atomic_int peers_n, stopped, apply_err;
	/* promotion (td_repl_promote): the epoch asked for (0 none); the link thread says it
	 * took its last record (link_quiet); followed: a START came in this run */
	_Atomic uint32_t promote_epoch;
	atomic_int link_quiet, followed, promoted;
	uint64_t refused_udp; /* RX lcore */
	uint64_t snapshots_taken;
};

static struct td_repl td_repl_g;

int td_repl_standby(const struct td_app *a)
{
	/* acquire: a promotion (the RX lcore's store, tdr_promote_rx) is seen whole */
	return __atomic_load_n(&a->cfg.repl_role, __ATOMIC_ACQUIRE) == CP_ROLE_STANDBY;
}

static void tdr_set(struct td_repl *R, const char *state, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tdr_set(struct td_repl *R, const char *state, const char *fmt, ...)
{
	pthread_mutex_lock(&R->mu);
	if (state)
		snprintf(R->state, sizeof(R->state), "%s", state);
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(R->reason, sizeof(R->reason), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&R->mu);
}

static void tdr_addr(const struct cp_hostport *hp, struct sockaddr_in *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	sa->sin_addr.s_addr = htonl(hp->ip);
	sa->sin_port = htons(hp->port);
}

static void tdr_fmt_hp(const struct cp_hostport *hp, char *out, size_t len)
{
	struct in_addr ia = {htonl(hp->ip)};
	char ip[INET_ADDRSTRLEN];
	inet_ntop(AF_INET, &ia, ip, sizeof(ip));
	snprintf(out, len, "%s:%u", ip, hp->port);
}

/* ---- start-up: a standby's catch-up from a snapshot (blocking: before recovery) ------- */

static int tdr_read_all(int fd, void *buf, size_t n)
{
	uint8_t *b = buf;
	while (n) {
		ssize_t r = recv(fd, b, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r == 0 ? -ECONNRESET : -errno;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int tdr_write_all(int fd, const void *buf, size_t n)
{
	const uint8_t *b = buf;
	while (n) {
		ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -errno;
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Removes the journal's segments and snapshots (the directory's lock is held). */
static int tdr_wipe(const char *dir)
{
	DIR *d = opendir(dir);
	if (d == NULL)
		return errno == ENOENT ? 0 : -errno;
	struct dirent *e;
	int rc = 0;
	while ((e = readdir(d)) != NULL) {
		size_t n = strlen(e->d_name);
		int seg = strncmp(e->d_name, "jn-", 3) == 0 && n > 4 &&
			  strcmp(e->d_name + n - 4, ".log") == 0;
		int snap = strncmp(e->d_name, "snap-", 5) == 0;
		if (!seg && !snap)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) < 0)
			rc = -errno;
	}
	closedir(d);
	return rc;
}

int td_repl_bootstrap(struct td_app *a, char *err, size_t len)
{
	const struct cp_config *cfg = &a->cfg;
	if (cfg->repl_role != CP_ROLE_STANDBY)
		return 0;
	char where[64];
	tdr_fmt_hp(&cfg->repl_primary, where, sizeof(where));
	struct jn_verify v;
	char msg[1024];
	memset(&v, 0, sizeof(v));
	if (jn_verify(cfg->journal_dir, &v, msg, sizeof(msg)) == 0 && v.status < 0) {
		snprintf(err, len, "%s", msg); /* recovery would refuse it too */
		return -EBADMSG;
	}
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, len, "replication: socket: %s", strerror(errno));
		return -errno;
	}
	struct timeval tv = {10, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	struct sockaddr_in sa;
	tdr_addr(&cfg->repl_primary, &sa);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		tkx_log(TKX_LOG_WARN, "replication",
			"standby: the primary %s is not reachable (%s): starting "
			"from this journal (last seq %" PRIu64 "); the link keeps trying", where,
			strerror(errno), v.last_seq);
		close(fd);
		return 0;
	}
	uint8_t hb[JN_LINK_HDR + sizeof(struct jn_link_hello)];
	struct jn_link_hello h;
	memset(&h, 0, sizeof(h));
	h.last_seq = v.last_seq;
	h.epoch = v.last_epoch;
	h.flags = JN_HELLO_BOOTSTRAP;
	snprintf(h.name, sizeof(h.name), "%s", "bootstrap");
	jn_link_hdr(hb, JN_LINK_HELLO, sizeof(h));
	memcpy(hb + JN_LINK_HDR, &h, sizeof(h));
	int rc = tdr_write_all(fd, hb, sizeof(hb));
	struct jn_link_hdr fh;
	uint8_t hdr[JN_LINK_HDR];
	char why[256];
	struct jn_link_start st;
	memset(&st, 0, sizeof(st));
	/* START, or a BYE saying why not. */
	if (rc == 0)
		rc = tdr_read_all(fd, hdr, sizeof(hdr));
	if (rc == 0 && jn_link_parse(hdr, sizeof(hdr), &fh, why, sizeof(why)) <= 0) {
		snprintf(err, len, "replication: the primary %s: %s", where, why);
		close(fd);
		return -EPROTO;
	}
	if (rc == 0 && fh.type == JN_LINK_BYE) {
		struct jn_link_bye b;
		memset(&b, 0, sizeof(b));
		if (fh.len <= sizeof(b))
			rc = tdr_read_all(fd, &b, fh.len);
		b.reason[sizeof(b.reason) - 1] = 0;
		snprintf(err, len, "replication: the primary %s refused this standby: %s", where,
			 b.reason);
		close(fd);
		return -EPROTO;
	}
	if (rc == 0 && (fh.type != JN_LINK_START || fh.len != sizeof(st))) {
		snprintf(err, len, "replication: the primary %s answered frame type %u, not START",
			 where, fh.type);
		close(fd);
		return -EPROTO;
	}
	if (rc == 0)
		rc = tdr_read_all(fd, &st, sizeof(st));
	if (rc == 0 && st.mode == JN_START_SNAPSHOT) {
		struct jn_link_snap sn;
		rc = tdr_read_all(fd, hdr, sizeof(hdr));
		if (rc == 0 && (jn_link_parse(hdr, sizeof(hdr), &fh, why, sizeof(why)) <= 0 ||
				fh.type != JN_LINK_SNAPSHOT || fh.len < sizeof(sn)))
			rc = -EPROTO;
		if (rc == 0)
			rc = tdr_read_all(fd, &sn, sizeof(sn));
		if (rc == 0 && sn.len != fh.len - sizeof(sn))
			rc = -EPROTO;
		uint8_t *blob = rc == 0 ? malloc(sn.len ? sn.len : 1) : NULL;
		if (rc == 0 && blob == NULL)
			rc = -ENOMEM;
		if (rc == 0)
			rc = tdr_read_all(fd, blob, sn.len);
		if (rc == 0)
			rc = tdr_wipe(cfg->journal_dir);
		if (rc == 0)
			rc = jn_snapshot_write(cfg->journal_dir, sn.seq, blob, sn.len);
		free(blob);
		if (rc == 0) {
			a->repl_first_seq = sn.seq + 1;
			td_repl_g.snapshots_taken++;
			tkx_log(TKX_LOG_INFO, "replication",
				"standby: further behind (last seq %" PRIu64 ") than "
				"the primary %s keeps: caught up from its snapshot of seq %" PRIu64
				" (%" PRIu64 " bytes); this journal starts again at seq %" PRIu64,
				v.last_seq, where, sn.seq, sn.len, sn.seq + 1);
		}
	} else if (rc == 0) {
		tkx_log(TKX_LOG_INFO, "replication",
			"standby: the primary %s has this journal's next record "
			"(seq %" PRIu64 "): following from there", where, st.from_seq);
	}
	close(fd);
	if (rc < 0) {
		snprintf(err, len, "replication: catching up from the primary %s: %s", where,
			 strerror(-rc));
		return rc;
	}
	return 0;
}

/* ---- the link thread: io_uring ---------------------------------------------------------- */

static void tdr_recv(struct td_repl *R, int fd, void *buf, size_t n, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&R->ring);
	if (sqe == NULL) {
		io_uring_submit(&R->ring);
		sqe = io_uring_get_sqe(&R->ring);
	}
	io_uring_prep_recv(sqe, fd, buf, n, 0);
	io_uring_sqe_set_data64(sqe, ud);
}

static void tdr_send(struct td_repl *R, int fd, const void *buf, size_t n, uint64_t ud)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&R->ring);
	if (sqe == NULL) {
		io_uring_submit(&R->ring);
		sqe = io_uring_get_sqe(&R->ring);
	}
	io_uring_prep_send(sqe, fd, buf, n, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, ud);
}

/* Submits and waits up to TDR_TICK_NS for a completion; calls cb for each. */
static void tdr_wait(struct td_repl *R, void (*cb)(struct td_repl *, uint64_t, int))
{
	struct __kernel_timespec ts = {0, (long long)TDR_TICK_NS};
	struct io_uring_cqe *cqe;
	io_uring_submit_and_wait_timeout(&R->ring, &cqe, 1, &ts, NULL);
	unsigned head, n = 0;
	io_uring_for_each_cqe(&R->ring, head, cqe)
	{
		cb(R, cqe->user_data, cqe->res);
		n++;
	}
	io_uring_cq_advance(&R->ring, n);
}

/* ---- primary ---------------------------------------------------------------------------- */

static void tdr_peer_close(struct td_repl *R, struct tdr_peer *p, int code, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void tdr_peer_close(struct td_repl *R, struct tdr_peer *p, int code, const char *fmt, ...)
{
	if (p->state == P_FREE || p->state == P_CLOSING)
		return;
	char why[240];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (code) {
		/* A best-effort BYE with the reason (the socket may be gone already). */
		uint8_t b[JN_LINK_HDR + sizeof(struct jn_link_bye)];
		struct jn_link_bye bye;
		memset(&bye, 0, sizeof(bye));
		bye.code = code;
		snprintf(bye.reason, sizeof(bye.reason), "%s", why);
		jn_link_hdr(b, JN_LINK_BYE, sizeof(bye));
		memcpy(b + JN_LINK_HDR, &bye, sizeof(bye));
		if (!p->send_busy)
			(void)!send(p->fd, b, sizeof(b), MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	tkx_log(TKX_LOG_WARN, "replication", "standby %s (%s) disconnected: %s", p->addr, p->name, why);
	fflush(stdout);
	tdr_set(R, NULL, "standby %s: %s", p->addr, why);
	atomic_fetch_add(&R->disconnects, 1);
	shutdown(p->fd, SHUT_RDWR);
	p->state = P_CLOSING;
}

static void tdr_peer_reap(struct td_repl *R, struct tdr_peer *p)
{
	if (p->state != P_CLOSING || p->recv_busy || p->send_busy)
		return;
	close(p->fd);
	if (p->rd_open)
		jn_reader_close(&p->rd);
	free(p->big);
	uint8_t *sbuf = p->sbuf;
	memset(p, 0, sizeof(*p));
	p->sbuf = sbuf;
	p->fd = -1;
	atomic_fetch_sub(&R->peers_n, 1);
}

static void tdr_queue(struct tdr_peer *p, const uint8_t *buf, size_t len)
{
	p->cur = buf;
	p->cur_len = len;
	p->cur_off = 0;
}

/* HELLO: where the standby is; START from its next record (a snapshot first when the
 * journal no longer holds it). */
static void tdr_hello(struct td_repl *R, struct tdr_peer *p, const struct jn_link_hello *h)
{
	struct td_app *a = R->a;
	snprintf(p->name, sizeof(p->name), "%.*s", (int)sizeof(h->name), h->name);
	uint64_t durable = jn_durable(a->jn);
	uint32_t epoch = jn_epoch(a->jn);
	if (h->epoch > epoch) {
		tdr_peer_close(R, p, JN_BYE_FENCED, "it holds epoch %u, newer than this primary's %u: "
			       "this primary is deposed", h->epoch, epoch);
		return;
	}
	if (h->last_seq > durable) {
		tdr_peer_close(R, p, JN_BYE_AHEAD, "it holds records up to seq %" PRIu64 ", this "
			       "primary only up to %" PRIu64 ": it followed another primary; start "
			       "it with an empty journal.dir", h->last_seq, durable);
		return;
	}
	int64_t first = jn_first_seq(a->cfg.journal_dir);
	/* Invariant 5: its last record must be ours. One writer per epoch: the same epoch at
	 * the same seq is the same record; another epoch there means it holds records of a
	 * deposed primary that this journal does not (written after the promotion's seq). */
	if (h->last_seq && first > 0 && h->last_seq >= (uint64_t)first) {
		struct jn_reader rd;
		struct jn_rec rec;
		char e[256];
		int n = jn_reader_open(&rd, a->cfg.journal_dir, h->last_seq);
		if (n == 0) {
			n = jn_reader_read(&rd, &rec, 1, h->last_seq, e, sizeof(e));
			jn_reader_close(&rd);
		}
		if (n == 1 && rec.epoch != h->epoch) {
			tdr_peer_close(R, p, JN_BYE_AHEAD, "diverged: its record seq %" PRIu64 " is of "
				       "epoch %u, this journal's of epoch %u: it holds records of a "
				       "deposed primary that were never replicated; they are refused "
				       "(start it with an empty journal.dir to follow)", h->last_seq,
				       h->epoch, rec.epoch);
			return;
		}
	}
	struct jn_link_start st = {h->last_seq + 1, durable, epoch, JN_START_JOURNAL};
	int rc = first > 0 && st.from_seq >= (uint64_t)first
			 ? jn_reader_open(&p->rd, a->cfg.journal_dir, st.from_seq) : -ENOENT;
	if (rc == -ENOENT) {
		/* Further behind than the journal keeps: the newest snapshot, then its tail. */
		uint64_t seq = 0;
		size_t len = 0;
		int s = jn_snapshot_latest(a->cfg.journal_dir, &seq, NULL, 0, &len);
		size_t off = JN_LINK_HDR + sizeof(struct jn_link_snap);
		uint8_t *big = s == -ENOBUFS ? malloc(off + len) : NULL;
		if (big)
			s = jn_snapshot_latest(a->cfg.journal_dir, &seq, big + off, len, &len);
		if (big == NULL || s < 0 || jn_reader_open(&p->rd, a->cfg.journal_dir, seq + 1) < 0) {
			free(big);
			tdr_peer_close(R, p, JN_BYE_NO_SNAPSHOT, "it needs seq %" PRIu64 ", which this "
				       "primary's journal no longer holds, and no snapshot to catch up "
				       "from (%s)", st.from_seq, s < 0 ? strerror(-s) : "its journal "
				       "after it is gone");
			return;
		}
		struct jn_link_snap sn = {seq, len};
		jn_link_hdr(big, JN_LINK_SNAPSHOT, (uint32_t)(sizeof(sn) + len));
		memcpy(big + JN_LINK_HDR, &sn, sizeof(sn));
		p->big = big;
		p->big_len = off + len;
		st.from_seq = seq + 1;
		st.mode = JN_START_SNAPSHOT;
		atomic_fetch_add(&R->snapshots_sent, 1);
		tkx_log(TKX_LOG_INFO, "replication",
			"standby %s (%s) needs seq %" PRIu64 ", before this "
			"journal's first (%" PRId64 "): sending the snapshot of seq %" PRIu64
			" (%zu bytes) and the journal after it", p->addr, p->name, h->last_seq + 1,
			first, seq, len);
	} else if (rc < 0) {
		tdr_peer_close(R, p, JN_BYE_CORRUPT, "cannot read this journal at seq %" PRIu64 ": %s",
			       st.from_seq, strerror(-rc));
		return;
	} else {
		tkx_log(TKX_LOG_INFO, "replication",
			"standby %s (%s) follows from seq %" PRIu64 " (durable "
			"here: %" PRIu64 ", epoch %u)", p->addr, p->name, st.from_seq, durable, epoch);
	}
	fflush(stdout);
	p->rd_open = 1;
	p->next_seq = st.from_seq;
	p->sent = st.from_seq - 1;
	p->acked = h->last_seq;
	p->caught_up = 0;
	p->catch_seq = 0;
	p->bootstrap = (h->flags & JN_HELLO_BOOTSTRAP) != 0;
	jn_link_hdr(p->sbuf, JN_LINK_START, sizeof(st));
	memcpy(p->sbuf + JN_LINK_HDR, &st, sizeof(st));
	tdr_queue(p, p->sbuf, JN_LINK_HDR + sizeof(st));
	p->state = P_STREAM;
	tdr_set(R, NULL, "standby %s (%s) connected", p->addr, p->name);
}

static void tdr_peer_input(struct td_repl *R, struct tdr_peer *p)
{
	size_t off = 0;
	while (p->state == P_HELLO || p->state == P_STREAM) {
		struct jn_link_hdr h;
		char why[256];
		int64_t n = jn_link_parse(p->rbuf + off, p->rlen - off, &h, why, sizeof(why));
		if (n < 0) {
			tdr_peer_close(R, p, n == -EPROTONOSUPPORT ? JN_BYE_VERSION : JN_BYE_CORRUPT,
				       "%s", why);
			return;
		}
		if (n == 0 || (size_t)n > p->rlen - off) {
			if (n > (int64_t)sizeof(p->rbuf))
				tdr_peer_close(R, p, JN_BYE_CORRUPT, "a frame of %" PRId64 " bytes from a "
					       "standby", n);
			break;
		}
		const uint8_t *pl = p->rbuf + off + JN_LINK_HDR;
		if (h.type == JN_LINK_HELLO && p->state == P_HELLO &&
		    h.len == sizeof(struct jn_link_hello)) {
			struct jn_link_hello hello;
			memcpy(&hello, pl, sizeof(hello));
			tdr_hello(R, p, &hello);
		} else if (h.type == JN_LINK_ACK && h.len == sizeof(struct jn_link_ack)) {
			struct jn_link_ack ack;
			memcpy(&ack, pl, sizeof(ack));
			p->acked = ack.applied;
			p->ack_durable = ack.durable;
			if (p->catch_seq && ack.applied >= p->catch_seq)
				p->caught_up = 1; /* invariant 3 applies from now on */
			if (p->lag_seq && ack.applied >= p->lag_seq) {
				p->lag_us = (td_mono_ns() - p->lag_ns) / 1000;
				atomic_store(&R->lag_us, p->lag_us);
				p->lag_seq = 0;
			}
			atomic_store(&R->acked, ack.applied);
		} else if (h.type == JN_LINK_BYE) {
			struct jn_link_bye b;
			memset(&b, 0, sizeof(b));
			memcpy(&b, pl, h.len < sizeof(b) ? h.len : sizeof(b));
			b.reason[sizeof(b.reason) - 1] = 0;
			tdr_peer_close(R, p, 0, "it said: %s", b.reason);
			return;
		} else {
			tdr_peer_close(R, p, JN_BYE_CORRUPT, "unexpected frame type %u", h.type);
			return;
		}
		off += (size_t)n;
	}
	memmove(p->rbuf, p->rbuf + off, p->rlen - off);
	p->rlen -= off;
}

/* Fills the next RECORDS frame (or a BEAT) when nothing is in flight. */
static void tdr_pump(struct td_repl *R, struct tdr_peer *p, uint64_t now)
{
	struct td_app *a = R->a;
	if (p->state != P_STREAM)
		return;
	uint64_t durable = jn_durable(a->jn), written = jn_written(a->jn);
	uint64_t upto = durable < written ? durable : written;
	/* Invariant 3: how far behind what it applied, also while a send is stuck (a standby
	 * that stopped reading). */
	uint64_t bound = (uint64_t)a->cfg.repl_send_buffer_kb * 1024 / JN_REC_SIZE;
	uint64_t behind = upto > p->acked ? upto - p->acked : 0;
	if (p->caught_up && behind > bound) {
		atomic_fetch_add(&R->too_slow, 1);
		tdr_peer_close(R, p, JN_BYE_TOO_SLOW, "too slow: %" PRIu64 " records behind, more than "
			       "replication.send_buffer_kb (%u KiB, %" PRIu64 " records); it "
			       "reconnects and catches up from the journal", behind,
			       a->cfg.repl_send_buffer_kb, bound);
		return;
	}
	if (p->cur || p->send_busy)
		return;
	if (p->big) { /* START went; the snapshot follows */
		tdr_queue(p, p->big, p->big_len);
		return;
	}
	if (p->bootstrap)
		return; /* it asked where to start, and closes */
	if (p->next_seq > upto) {
		if (!p->catch_seq)
			p->catch_seq = upto ? upto : 1;
		if (now - p->last_send_ns >= TDR_BEAT_NS) {
			struct jn_link_beat b = {durable, td_now_ns()};
			jn_link_hdr(p->sbuf, JN_LINK_BEAT, sizeof(b));
			memcpy(p->sbuf + JN_LINK_HDR, &b, sizeof(b));
			tdr_queue(p, p->sbuf, JN_LINK_HDR + sizeof(b));
		}
		return;
	}
	char err[512];
	uint64_t left = upto - p->next_seq + 1;
	uint32_t want = left < TDR_FRAME_RECS ? (uint32_t)left : TDR_FRAME_RECS;
	int n = jn_reader_read(&p->rd, (struct jn_rec *)(p->sbuf + JN_LINK_HDR), want, upto, err,
			       sizeof(err));
	if (n < 0) {
		tdr_peer_close(R, p, JN_BYE_CORRUPT, "reading this journal: %s", n == -ENOENT ?
			       "its segment was pruned meanwhile" : err);
		return;
	}
	if (n == 0)
		return;
	struct jn_rec *recs = (struct jn_rec *)(p->sbuf + JN_LINK_HDR);
	if (R->fault_left) {
		/* Testing (replication.fault_corrupt_after): one byte of one record damaged on the
		 * way, not on disk. */
		if (R->fault_left <= (uint64_t)n) {
			recs[R->fault_left - 1].payload[5] ^= 0x20;
			tkx_log(TKX_LOG_WARN, "replication",
				"TESTING: seq %" PRIu64 " damaged on the link",
				recs[R->fault_left - 1].seq);
			R->fault_left = 0;
		} else {
			R->fault_left -= (uint64_t)n;
		}
	}
	jn_link_hdr(p->sbuf, JN_LINK_RECORDS, (uint32_t)n * JN_REC_SIZE);
	tdr_queue(p, p->sbuf, JN_LINK_HDR + (size_t)n * JN_REC_SIZE);
	p->next_seq += (uint64_t)n;
	p->sent = p->next_seq - 1;
	atomic_store(&R->sent, p->sent);
	atomic_fetch_add(&R->records, (uint64_t)n);
	if (!p->lag_seq) {
		p->lag_seq = p->sent;
		p->lag_ns = now;
	}
}

static void tdr_primary_cqe(struct td_repl *R, uint64_t ud, int res)
{
	unsigned op = ud & 0xff, i = (unsigned)(ud >> 8);
	if (op == U_ACCEPT) {
		R->accept_busy = 0;
		if (res < 0)
			return;
		struct tdr_peer *p = NULL;
		for (unsigned k = 0; k < TDR_MAX_PEERS && !p; k++)
			if (R->peers[k].state == P_FREE)
				p = &R->peers[k];
		char addr[48];
		char ip[INET_ADDRSTRLEN] = "?";
		inet_ntop(AF_INET, &R->acc_addr.sin_addr, ip, sizeof(ip));
		snprintf(addr, sizeof(addr), "%s:%u", ip, ntohs(R->acc_addr.sin_port));
		if (p == NULL) {
			tkx_log(TKX_LOG_WARN, "replication",
				"refused %s: already %d standbys", addr,
				TDR_MAX_PEERS);
			close(res);
			return;
		}
		int one = 1;
		setsockopt(res, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p->fd = res;
		p->state = P_HELLO;
		p->rlen = 0;
		p->last_send_ns = td_mono_ns();
		snprintf(p->addr, sizeof(p->addr), "%s", addr);
		atomic_fetch_add(&R->peers_n, 1);
		atomic_fetch_add(&R->connects, 1);
		pthread_mutex_lock(&R->mu);
		snprintf(R->peer, sizeof(R->peer), "%s", addr);
		pthread_mutex_unlock(&R->mu);
		return;
	}
	if (i >= TDR_MAX_PEERS)
		return;
	struct tdr_peer *p = &R->peers[i];
	if (op == U_RECV) {
		p->recv_busy = 0;
		if (p->state == P_CLOSING)
			return;
		if (res <= 0) {
			tdr_peer_close(R, p, 0, "%s", res == 0 ? "it closed the link" : strerror(-res));
			return;
		}
		p->rlen += (size_t)res;
		tdr_peer_input(R, p);
	} else if (op == U_SEND) {
		p->send_busy = 0;
		if (p->state == P_CLOSING)
			return;
		if (res <= 0) {
			tdr_peer_close(R, p, 0, "send: %s", res == 0 ? "nothing sent" : strerror(-res));
			return;
		}
		p->cur_off += (size_t)res;
		p->last_send_ns = td_mono_ns();
		if (p->cur_off == p->cur_len) {
			if (p->cur == p->big) {
				free(p->big);
				p->big = NULL;
			}
			p->cur = NULL;
		}
	}
}

/* journal.durability sync-replicated: the journal gate (td_jn_released) releases output
 * only up to what a following standby acknowledged as durable on its disk - while one
 * follows (caught up); with none, local durability only (the gate off). */
static void tdr_sync_gate(struct td_repl *R)
{
	struct td_app *a = R->a;
	if (a->cfg.journal_durability != CP_DURABILITY_SYNC_REPLICATED)
		return;
	int on = 0;
	uint64_t best = 0;
	for (unsigned i = 0; i < TDR_MAX_PEERS; i++) {
		const struct tdr_peer *p = &R->peers[i];
		if (p->state == P_STREAM && p->caught_up && !p->bootstrap) {
			on = 1;
			if (p->ack_durable > best)
				best = p->ack_durable;
		}
	}
	/* release: the seq before the switch that makes the RX lcore read it */
	atomic_store_explicit(&a->repl_durable, best, memory_order_release);
	atomic_store_explicit(&a->repl_gate, on, memory_order_release);
}

static void tdr_primary_loop(struct td_repl *R)
{
	while (!atomic_load_explicit(&R->stop, memory_order_relaxed)) {
		uint64_t now = td_mono_ns();
		if (!R->accept_busy) {
			struct io_uring_sqe *sqe = io_uring_get_sqe(&R->ring);
			R->acc_len = sizeof(R->acc_addr);
			io_uring_prep_accept(sqe, R->lfd, (struct sockaddr *)&R->acc_addr, &R->acc_len,
					     SOCK_CLOEXEC);
			io_uring_sqe_set_data64(sqe, TDR_UD(0, U_ACCEPT));
			R->accept_busy = 1;
		}
		for (unsigned i = 0; i < TDR_MAX_PEERS; i++) {
			struct tdr_peer *p = &R->peers[i];
			if (p->state == P_FREE)
				continue;
			tdr_peer_reap(R, p);
			if (p->state == P_FREE || p->state == P_CLOSING)
				continue;
			tdr_pump(R, p, now);
			if (p->state == P_CLOSING)
				continue;
			if (!p->recv_busy && p->rlen < sizeof(p->rbuf)) {
				tdr_recv(R, p->fd, p->rbuf + p->rlen, sizeof(p->rbuf) - p->rlen,
					 TDR_UD(i, U_RECV));
				p->recv_busy = 1;
			}
			if (p->cur && !p->send_busy) {
				tdr_send(R, p->fd, p->cur + p->cur_off, p->cur_len - p->cur_off,
					 TDR_UD(i, U_SEND));
				p->send_busy = 1;
			}
		}
		atomic_store(&R->primary_durable, jn_durable(R->a->jn));
		tdr_sync_gate(R);
		tdr_wait(R, tdr_primary_cqe);
		tdr_sync_gate(R); /* an ACK that came in: output waits for it */
	}
}

/* ---- standby ------------------------------------------------------------------------------ */

static void tdr_stop_following(struct td_repl *R, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void tdr_stop_following(struct td_repl *R, const char *fmt, ...)
{
	char why[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	tdr_set(R, "stopped", "%s", why);
	tkx_log(TKX_LOG_ERR, "replication",
		"standby: STOPPED following: %s; not promotable (fix the cause "
		"and restart this standby with an empty journal.dir: it catches up from the "
		"primary)", why);
	fflush(stdout);
	atomic_store_explicit(&R->stopped, 1, memory_order_release);
	if (R->fd >= 0) {
		shutdown(R->fd, SHUT_RDWR);
		R->closing = 1;
	}
}

static void tdr_disconnect(struct td_repl *R, uint64_t retry_ns, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void tdr_disconnect(struct td_repl *R, uint64_t retry_ns, const char *fmt, ...)
{
	if (R->fd < 0 || R->closing)
		return;
	char why[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	tkx_log(TKX_LOG_WARN, "replication", "standby: disconnected from the primary: %s", why);
	fflush(stdout);
	tdr_set(R, "connecting", "%s", why);
	atomic_fetch_add(&R->disconnects, 1);
	shutdown(R->fd, SHUT_RDWR);
	R->closing = 1;
	R->retry_ns = td_mono_ns() + retry_ns;
}

static int tdr_connect(struct td_repl *R)
{
	struct td_app *a = R->a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	struct sockaddr_in sa;
	tdr_addr(&a->cfg.repl_primary, &sa);
	/* connect through the ring, bounded by a linked timeout (an unreachable host) */
	struct io_uring_sqe *sqe = io_uring_get_sqe(&R->ring);
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&sa, sizeof(sa));
	io_uring_sqe_set_data64(sqe, 0x1000);
	sqe->flags |= IOSQE_IO_LINK;
	struct __kernel_timespec ts = {2, 0};
	sqe = io_uring_get_sqe(&R->ring);
	io_uring_prep_link_timeout(sqe, &ts, 0);
	io_uring_sqe_set_data64(sqe, 0x1001);
	io_uring_submit(&R->ring);
	int res = -EINPROGRESS, seen = 0;
	while (seen < 2) {
		struct io_uring_cqe *cqe;
		if (io_uring_wait_cqe(&R->ring, &cqe) < 0)
			break;
		if (cqe->user_data == 0x1000)
			res = cqe->res;
		if (cqe->user_data == 0x1000 || cqe->user_data == 0x1001)
			seen++;
		io_uring_cqe_seen(&R->ring, cqe);
	}
	if (res < 0) {
		close(fd);
		return res == -ECANCELED ? -ETIMEDOUT : res;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* Records of the RECORDS frame in rbuf, checked, onto the ring to the RX lcore. */
static void tdr_standby_input(struct td_repl *R)
{
	char why[320];
	while (!R->closing && !atomic_load(&R->stopped)) {
		size_t have = R->rlen - R->roff;
		if (R->recs_left) {
			if (have < JN_REC_SIZE)
				break;
			struct jn_rec r;
			memcpy(&r, R->rbuf + R->roff, sizeof(r));
			int c = jn_follow_check(&R->fol, &r, why, sizeof(why));
			if (c == JN_FOLLOW_OK) {
				if (rte_ring_sp_enqueue_elem(R->q, &r, sizeof(r)) != 0) {
					R->fol.next_seq--; /* the RX lcore is behind: again later */
					break;
				}
				atomic_store(&R->received, r.seq);
			} else if (c == JN_FOLLOW_GAP) {
				atomic_fetch_add(&R->gaps, 1);
				tdr_disconnect(R, 0, "%s: asking again from seq %" PRIu64, why,
					       R->fol.next_seq);
				return;
			} else if (c < 0) {
				tdr_stop_following(R, "%s", why);
				return;
			}
			R->roff += JN_REC_SIZE;
			R->recs_left--;
			continue;
		}
		struct jn_link_hdr h;
		int64_t n = jn_link_parse(R->rbuf + R->roff, have, &h, why, sizeof(why));
		if (n < 0) {
			if (n == -EPROTONOSUPPORT)
				tdr_stop_following(R, "the primary: %s", why);
			else
				tdr_disconnect(R, TDR_RETRY_NS, "the primary sent %s", why);
			return;
		}
		if (n == 0)
			break;
		if (h.type == JN_LINK_RECORDS) {
			R->roff += JN_LINK_HDR;
			R->recs_left = h.len / JN_REC_SIZE;
			continue;
		}
		if ((size_t)n > have)
			break; /* a whole frame first */
		const uint8_t *pl = R->rbuf + R->roff + JN_LINK_HDR;
		if (h.type == JN_LINK_START && h.len == sizeof(struct jn_link_start)) {
			struct jn_link_start st;
			memcpy(&st, pl, sizeof(st));
			atomic_store(&R->primary_durable, st.durable);
			if (st.mode == JN_START_SNAPSHOT) {
				tdr_stop_following(R, "this standby needs seq %" PRIu64 ", which the "
						   "primary's journal no longer holds: restart it to "
						   "catch up from the primary's snapshot",
						   R->fol.next_seq);
				return;
			}
			tdr_set(R, "following", "following from seq %" PRIu64, st.from_seq);
			atomic_store(&R->followed, 1);
		} else if (h.type == JN_LINK_BEAT && h.len == sizeof(struct jn_link_beat)) {
			struct jn_link_beat b;
			memcpy(&b, pl, sizeof(b));
			atomic_store(&R->primary_durable, b.durable);
		} else if (h.type == JN_LINK_BYE) {
			struct jn_link_bye b;
			memset(&b, 0, sizeof(b));
			memcpy(&b, pl, h.len < sizeof(b) ? h.len : sizeof(b));
			b.reason[sizeof(b.reason) - 1] = 0;
			if (b.code == JN_BYE_FENCED || b.code == JN_BYE_AHEAD ||
			    b.code == JN_BYE_NO_SNAPSHOT || b.code == JN_BYE_VERSION)
				tdr_stop_following(R, "the primary refused this standby: %s", b.reason);
			else
				tdr_disconnect(R, b.code == JN_BYE_TOO_SLOW ? 0 : TDR_RETRY_NS,
					       "the primary said: %s", b.reason);
			return;
		} else {
			tdr_disconnect(R, TDR_RETRY_NS, "unexpected frame type %u", h.type);
			return;
		}
		R->roff += (size_t)n;
	}
	if (R->roff) {
		memmove(R->rbuf, R->rbuf + R->roff, R->rlen - R->roff);
		R->rlen -= R->roff;
		R->roff = 0;
	}
}

static void tdr_standby_cqe(struct td_repl *R, uint64_t ud, int res)
{
	unsigned op = ud & 0xff;
	if (op == U_RECV) {
		R->recv_busy = 0;
		if (R->closing)
			return;
		if (res <= 0) {
			tdr_disconnect(R, TDR_RETRY_NS, "%s", res == 0 ? "the primary closed the link"
								       : strerror(-res));
			return;
		}
		R->rlen += (size_t)res;
	} else if (op == U_SEND) {
		R->send_busy = 0;
		if (R->closing)
			return;
		if (res <= 0) {
			tdr_disconnect(R, TDR_RETRY_NS, "send: %s", strerror(res ? -res : EPIPE));
			return;
		}
		R->aoff += (size_t)res;
	}
}

static void tdr_standby_loop(struct td_repl *R)
{
	struct td_app *a = R->a;
	char where[64];
	tdr_fmt_hp(&a->cfg.repl_primary, where, sizeof(where));
	while (!atomic_load_explicit(&R->stop, memory_order_relaxed)) {
		uint64_t now = td_mono_ns();
		if (atomic_load(&R->promote_epoch)) {
			/* Promoted: what arrived is checked and handed on, then nothing more is
			 * taken from the old primary (its lease expired: it sends nothing more). */
			if (R->fd >= 0 && !R->closing) {
				tdr_standby_input(R);
				shutdown(R->fd, SHUT_RDWR);
				R->closing = 1;
			}
			if (R->fd >= 0 && (R->recv_busy || R->send_busy)) {
				tdr_wait(R, tdr_standby_cqe);
				continue;
			}
			if (R->fd >= 0)
				close(R->fd);
			R->fd = -1;
			atomic_store(&R->peers_n, 0);
			return;
		}
		if (R->fd >= 0 && R->closing && !R->recv_busy && !R->send_busy) {
			close(R->fd);
			R->fd = -1;
			R->closing = 0;
		}
		if (atomic_load_explicit(&R->apply_err, memory_order_acquire) &&
		    !atomic_load(&R->stopped)) {
			/* the RX lcore could not append or apply a record: its reason is set */
			atomic_store(&R->stopped, 1);
			if (R->fd >= 0 && !R->closing) {
				shutdown(R->fd, SHUT_RDWR);
				R->closing = 1;
			}
		}
		if (atomic_load(&R->stopped)) {
			if (R->fd >= 0)
				tdr_wait(R, tdr_standby_cqe); /* the last completions */
			else {
				struct timespec d = {0, 10000000};
				nanosleep(&d, NULL);
			}
			continue;
		}
		if (R->fd < 0) {
			if (now < R->retry_ns) {
				struct timespec d = {0, 1000000};
				nanosleep(&d, NULL);
				continue;
			}
			int fd = tdr_connect(R);
			if (fd < 0) {
				tdr_set(R, "connecting", "connecting to %s: %s", where, strerror(-fd));
				R->retry_ns = now + TDR_RETRY_NS;
				continue;
			}
			R->fd = fd;
			R->rlen = R->roff = 0;
			R->recs_left = 0;
			atomic_fetch_add(&R->connects, 1);
			/* HELLO: the last record handed on (invariant 1: the first missing one next) */
			struct jn_link_hello h;
			memset(&h, 0, sizeof(h));
			h.last_seq = R->fol.next_seq - 1;
			h.epoch = R->fol.epoch;
			snprintf(h.name, sizeof(h.name), "%.31s", a->cfg.ctl_socket);
			jn_link_hdr(R->abuf, JN_LINK_HELLO, sizeof(h));
			memcpy(R->abuf + JN_LINK_HDR, &h, sizeof(h));
			R->alen = JN_LINK_HDR + sizeof(h);
			R->aoff = 0;
			tdr_set(R, "connected", "connected to %s, from seq %" PRIu64, where,
				R->fol.next_seq);
			pthread_mutex_lock(&R->mu);
			snprintf(R->peer, sizeof(R->peer), "%s", where);
			pthread_mutex_unlock(&R->mu);
			atomic_store(&R->peers_n, 1);
		}
		if (R->closing) {
			atomic_store(&R->peers_n, 0);
			tdr_wait(R, tdr_standby_cqe);
			continue;
		}
		tdr_standby_input(R); /* what the ring could not take before */
		if (R->fd >= 0 && !R->closing && !R->recv_busy && R->rlen < TDR_RBUF) {
			tdr_recv(R, R->fd, R->rbuf + R->rlen, TDR_RBUF - R->rlen, TDR_UD(0, U_RECV));
			R->recv_busy = 1;
		}
		/* An ACK when something moved (at most every TDR_ACK_NS), or the HELLO. */
		uint64_t applied = atomic_load(&R->applied), durable = jn_durable(a->jn);
		if (!R->send_busy && R->aoff >= R->alen && now >= R->next_ack_ns &&
		    (applied != R->acked_applied || durable != R->acked_durable ||
		     now >= R->next_ack_ns + TDR_BEAT_NS)) {
			/* durable moving alone is news too: sync-replicated waits for it */
			R->acked_durable = durable;
			struct jn_link_ack ack = {atomic_load(&R->received), durable, applied,
						  td_now_ns()};
			jn_link_hdr(R->abuf, JN_LINK_ACK, sizeof(ack));
			memcpy(R->abuf + JN_LINK_HDR, &ack, sizeof(ack));
			R->alen = JN_LINK_HDR + sizeof(ack);
			R->aoff = 0;
			R->acked_applied = applied;
			R->next_ack_ns = now + TDR_ACK_NS;
		}
		if (!R->send_busy && R->aoff < R->alen) {
			tdr_send(R, R->fd, R->abuf + R->aoff, R->alen - R->aoff, TDR_UD(0, U_SEND));
			R->send_busy = 1;
		}
		tdr_wait(R, tdr_standby_cqe);
		if (!R->closing)
			tdr_standby_input(R);
	}
}

/* A primary's listening socket and per-standby buffers (at start, or after promotion). */
static int tdr_listen(struct td_repl *R, char *err, size_t len)
{
	const struct cp_config *cfg = &R->a->cfg;
	char where[64];
	tdr_fmt_hp(&cfg->repl_listen, where, sizeof(where));
	R->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1, rc;
	struct sockaddr_in sa;
	tdr_addr(&cfg->repl_listen, &sa);
	if (R->lfd < 0 || setsockopt(R->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(R->lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(R->lfd, 8) < 0) {
		rc = -errno;
		snprintf(err, len, "replication.listen %s: %s (another process on it?)", where,
			 strerror(-rc));
		if (R->lfd >= 0)
			close(R->lfd);
		R->lfd = -1;
		return rc;
	}
	for (unsigned i = 0; i < TDR_MAX_PEERS; i++) {
		R->peers[i].fd = -1;
		R->peers[i].sbuf = malloc(JN_LINK_HDR + TDR_FRAME_RECS * JN_REC_SIZE);
		if (R->peers[i].sbuf == NULL) {
			snprintf(err, len, "replication: out of memory");
			return -ENOMEM;
		}
	}
	return 0;
}

static void *tdr_thread(void *arg)
{
	struct td_repl *R = arg;
	if (R->role == CP_ROLE_PRIMARY) {
		tdr_primary_loop(R);
		return NULL;
	}
	tdr_standby_loop(R);
	if (!atomic_load(&R->promote_epoch))
		return NULL;
	/* Promoted: the RX lcore applies what was handed on, then ends following. */
	atomic_store(&R->link_quiet, 1);
	while (!atomic_load(&R->promoted) && !atomic_load(&R->stop)) {
		struct timespec d = {0, 1000000};
		nanosleep(&d, NULL);
	}
	if (atomic_load(&R->stop) || !R->a->cfg.repl_listen.set) {
		tdr_set(R, "primary", "promoted; no replication.listen: no standby can follow");
		return NULL;
	}
	char err[320];
	if (tdr_listen(R, err, sizeof(err)) < 0) {
		tdr_set(R, "primary", "promoted, but standbys cannot follow: %s", err);
		tkx_log(TKX_LOG_WARN, "replication", "promoted, but standbys cannot follow: %s", err);
		fflush(stdout);
		return NULL;
	}
	char where[64];
	tdr_fmt_hp(&R->a->cfg.repl_listen, where, sizeof(where));
	tdr_set(R, "listening", "promoted: standbys connect to %s", where);
	tkx_log(TKX_LOG_NOTICE, "replication", "primary (promoted), epoch %u, standbys connect to %s",
	       atomic_load(&R->promote_epoch), where);
	fflush(stdout);
	tdr_primary_loop(R);
	return NULL;
}

/* ---- start, stop --------------------------------------------------------------------------- */

int td_repl_start(struct td_app *a, int cpu, char *err, size_t len)
{
	const struct cp_config *cfg = &a->cfg;
	struct td_repl *R = &td_repl_g;
	if (cfg->repl_role == CP_ROLE_NONE || a->jn == NULL)
		return 0;
	R->a = a;
	R->role = cfg->repl_role;
	R->lfd = R->fd = -1;
	pthread_mutex_init(&R->mu, NULL);
	snprintf(R->state, sizeof(R->state), "%s", R->role == CP_ROLE_PRIMARY ? "listening" :
		 "connecting");
	int rc = io_uring_queue_init(64, &R->ring, 0);
	if (rc < 0) {
		snprintf(err, len, "replication: io_uring_queue_init: %s", strerror(-rc));
		return rc;
	}
	R->ring_ok = 1;
	char where[64];
	if (R->role == CP_ROLE_PRIMARY) {
		tdr_fmt_hp(&cfg->repl_listen, where, sizeof(where));
		rc = tdr_listen(R, err, len);
		if (rc < 0)
			return rc;
		R->fault_left = cfg->repl_fault_corrupt;
		tkx_log(TKX_LOG_NOTICE, "replication",
			"primary, epoch %u, standbys connect to %s (a following "
			"standby may fall %u KiB of records behind)", jn_epoch(a->jn), where,
			cfg->repl_send_buffer_kb);
	} else {
		tdr_fmt_hp(&cfg->repl_primary, where, sizeof(where));
		R->rbuf = malloc(TDR_RBUF);
		char name[32];
		snprintf(name, sizeof(name), "tdr_q_%d", (int)getpid() % 100000);
		R->q = rte_ring_create_elem(name, sizeof(struct jn_rec), TDR_RING, (int)rte_socket_id(),
					    RING_F_SP_ENQ | RING_F_SC_DEQ);
		if (R->rbuf == NULL || R->q == NULL) {
			snprintf(err, len, "replication: out of memory for the standby's buffers");
			return -ENOMEM;
		}
		R->fol.next_seq = jn_next_seq(a->jn);
		R->fol.epoch = jn_next_seq(a->jn) > 1 ? jn_epoch(a->jn) : 0;
		atomic_store(&R->applied, R->fol.next_seq - 1);
		atomic_store(&R->received, R->fol.next_seq - 1);
		tkx_log(TKX_LOG_NOTICE, "replication",
			"STANDBY of %s from seq %" PRIu64 ": order entry and market "
			"data muted, the control plane read-only", where, R->fol.next_seq);
	}
	fflush(stdout);
	a->repl = R;
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 1 << 20);
	/* Off the data path: the caller's thread is pinned to the RX lcore by EAL, and a link
	 * thread inheriting that would get the CPU only when the RX loop is preempted. A spare
	 * CPU when there is one, else any but the RX lcore's. */
	cpu_set_t set;
	CPU_ZERO(&set);
	if (cpu >= 0) {
		CPU_SET(cpu, &set);
	} else {
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		for (long c = 0; c < n && c < CPU_SETSIZE; c++)
			if ((uint32_t)c != cfg->rx_lcore)
				CPU_SET(c, &set);
	}
	if (CPU_COUNT(&set))
		pthread_attr_setaffinity_np(&at, sizeof(set), &set);
	rc = pthread_create(&R->th, &at, tdr_thread, R);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		snprintf(err, len, "replication: cannot start its thread: %s", strerror(rc));
		return -rc;
	}
	R->th_ok = 1;
	return 0;
}

void td_repl_stop(struct td_app *a)
{
	struct td_repl *R = a->repl;
	if (R == NULL)
		return;
	if (R->th_ok) {
		atomic_store(&R->stop, 1);
		pthread_join(R->th, NULL);
		R->th_ok = 0;
	}
	if (R->ring_ok)
		io_uring_queue_exit(&R->ring); /* cancels what is in flight */
	R->ring_ok = 0;
	for (unsigned i = 0; i < TDR_MAX_PEERS; i++) {
		struct tdr_peer *p = &R->peers[i];
		if (p->state != P_FREE && p->fd >= 0)
			close(p->fd);
		if (p->rd_open)
			jn_reader_close(&p->rd);
		free(p->big);
		free(p->sbuf);
		p->big = p->sbuf = NULL;
	}
	if (R->lfd >= 0)
		close(R->lfd);
	if (R->fd >= 0)
		close(R->fd);
	R->lfd = R->fd = -1;
	struct td_repl_stats s;
	td_repl_stats(a, &s);
	tkx_log(TKX_LOG_INFO, "replication",
		"%s: connects %" PRIu64 " disconnects %" PRIu64 " too_slow %"
		PRIu64 " gaps %" PRIu64 " snapshots sent %" PRIu64 " records %" PRIu64
		" refused_udp %" PRIu64, R->role == CP_ROLE_PRIMARY ? "primary" : "standby",
		s.connects, s.disconnects, s.too_slow, s.gaps, s.snapshots_sent, s.records,
		s.refused_udp);
	if (R->role == CP_ROLE_STANDBY)
		td_jn_follow_end(a);
	free(R->rbuf);
	R->rbuf = NULL;
	if (R->q)
		rte_ring_free(R->q);
	R->q = NULL;
	a->repl = NULL;
}

/* ---- the standby's RX lcore ------------------------------------------------------------------ */

/* Promotion on the RX lcore (the journal's producer), after the last record was applied:
 * the end of following, as the end of recovery (td_jn_follow_end; in pipeline mode the
 * JN_DRAIN_START record recovery appends), the new epoch, a new market-data session. */
static int tdr_promote_rx(struct td_app *a, struct td_repl *R)
{
	uint32_t epoch = atomic_load(&R->promote_epoch);
	uint64_t t0 = td_mono_ns();
	if (atomic_load(&R->apply_err) || atomic_load(&R->stopped)) {
		tkx_log(TKX_LOG_WARN, "replication", "NOT promoted: this standby stopped following; stopping "
		       "(the lease is revoked at the stop)");
		fflush(stdout);
		atomic_store(&a->running, 0);
		return 0;
	}
	uint64_t last = a->jn_last; /* the last record followed: the new epoch starts after it */
	td_jn_follow_end(a);
	td_cps_recovered(a); /* the control thread's copy of the journal's state */
	int rc = jn_set_epoch(a->jn, epoch);
	if (rc == 0 && a->jn_pipe) {
		struct jn_drain d = {JN_DRAIN_START, 0, 0, 0};
		if (td_jn_append(a, JN_T_DRAIN, &d, sizeof(d), td_now_ns()) <= 0)
			rc = -EIO;
	}
	if (rc == 0)
		rc = td_jn_wait(a);
	if (rc < 0) {
		tkx_log(TKX_LOG_WARN, "replication", "NOT promoted: the journal refused epoch %u (%s); "
		       "stopping", epoch, strerror(-rc));
		fflush(stdout);
		atomic_store(&a->running, 0);
		return 0;
	}
	/* A new market-data session: the md.session's first characters and the epoch. */
	char name[16], num[12];
	int k = snprintf(num, sizeof(num), ".%u", epoch);
	snprintf(name, sizeof(name), "%.*s%s", 10 - k, a->cfg.md_session, num);
	md_pub_new_session(a->md, name, td_now_ns());
	R->role = CP_ROLE_PRIMARY;
	__atomic_store_n(&a->cfg.repl_role, CP_ROLE_PRIMARY, __ATOMIC_RELEASE);
	atomic_store(&R->promoted, 1);
	tdr_set(R, "primary", "promoted at seq %" PRIu64 ", epoch %u", last, epoch);
	tkx_log(TKX_LOG_NOTICE, "replication",
		"PROMOTED: primary of epoch %u from seq %" PRIu64 " (%" PRIu64
	       " records applied while following), market data session %s; %.1f ms; unix_ns=%"
	       PRIu64, epoch, last + 1, atomic_load(&R->records), name,
	       (double)(td_mono_ns() - t0) / 1e6, td_now_ns());
	fflush(stdout);
	return TD_REPL_PROMOTED;
}

int td_repl_promotable(const struct td_app *a, char *why, size_t len)
{
	const struct td_repl *R = a->repl;
	if (R == NULL || R->role != CP_ROLE_STANDBY) {
		snprintf(why, len, "not a standby");
		return 0;
	}
	if (atomic_load(&R->stopped) || atomic_load(&R->apply_err)) {
		snprintf(why, len, "it stopped following (tokexctl replication says why)");
		return 0;
	}
	if (!atomic_load(&R->followed)) {
		snprintf(why, len, "it has not reached a primary since it started: what it holds "
			 "may be far behind");
		return 0;
	}
	return 1;
}

void td_repl_promote(struct td_app *a, uint32_t epoch)
{
	if (a->repl)
		atomic_store(&a->repl->promote_epoch, epoch);
}

int td_repl_follow(struct td_app *a)
{
	struct td_repl *R = a->repl;
	struct jn_rec recs[64];
	struct rte_mbuf *pkts[32];
	char why[320];
	int rtc = a->cfg.mode == CP_MODE_RTC;
	unsigned idle = 0;
	while (atomic_load_explicit(&a->running, memory_order_relaxed)) {
		a->rx.loops++;
		unsigned n = 0;
		if (!atomic_load_explicit(&R->apply_err, memory_order_relaxed))
			n = rte_ring_sc_dequeue_burst_elem(R->q, recs, sizeof(recs[0]), 64, NULL);
		/* Promoted, and the link took its last record: everything received applied. */
		if (n == 0 && atomic_load_explicit(&R->link_quiet, memory_order_acquire) &&
		    rte_ring_count(R->q) == 0)
			return tdr_promote_rx(a, R);
		for (unsigned i = 0; i < n; i++) {
			int rc = td_jn_follow(a, &recs[i], why, sizeof(why));
			if (rc < 0) {
				tdr_set(R, "stopped", "%s", why);
				tkx_log(TKX_LOG_ERR, "replication",
					"standby: STOPPED following: %s; not "
					"promotable", why);
				fflush(stdout);
				atomic_store_explicit(&R->apply_err, rc, memory_order_release);
				break;
			}
			atomic_store_explicit(&R->applied, recs[i].seq, memory_order_release);
			atomic_store_explicit(&R->applied_ns, recs[i].time_ns, memory_order_relaxed);
			atomic_fetch_add_explicit(&R->records, 1, memory_order_relaxed);
		}
		/* Muted: order entry and market-data requests are dropped, counted. */
		uint16_t m = rte_eth_rx_burst(a->port.port_id, 0, pkts, 32);
		if (m) {
			rte_pktmbuf_free_bulk(pkts, m);
			__atomic_store_n(&R->refused_udp, R->refused_udp + m, __ATOMIC_RELAXED);
		}
		uint64_t now = td_now_ns();
		if ((a->rx.loops & 63) == 0 && a->sess) {
			/* tokexctl sessions (td_sess.c); whatever it would send goes nowhere */
			td_sess_serve(a->sess, a->ss, a->ss_out, now);
			ss_out_reset(a->ss_out);
		}
		td_snap_digest_poll(a);
		if (rtc && n)
			td_snap_maybe(a, now); /* a standby keeps its own snapshots (rtc) */
		/* Idle, a standby yields its CPU: nothing of it is on an order's path (its input
		 * comes over the link in batches), and the primary's journal and link threads may
		 * share the machine. */
		if (n) {
			idle = 0;
		} else if (++idle < 1000) {
			rte_pause();
		} else {
			struct timespec d = {0, 50000};
			nanosleep(&d, NULL);
		}
	}
	td_jn_wait(a);
	return 0;
}

/* ---- operators --------------------------------------------------------------------------------- */

void td_repl_stats(const struct td_app *a, struct td_repl_stats *s)
{
	const struct td_repl *R = a->repl;
	memset(s, 0, sizeof(*s));
	s->role = __atomic_load_n(&a->cfg.repl_role, __ATOMIC_ACQUIRE);
	if (R == NULL)
		return;
	s->epoch = a->jn ? jn_epoch(a->jn) : 0;
	s->peers = (uint32_t)atomic_load(&R->peers_n);
	s->promotable = R->role == CP_ROLE_STANDBY && !atomic_load(&R->stopped) &&
			!atomic_load(&R->apply_err);
	s->sent = atomic_load(&R->sent);
	s->acked = atomic_load(&R->acked);
	s->applied = atomic_load(&R->applied);
	s->connects = atomic_load(&R->connects);
	s->disconnects = atomic_load(&R->disconnects);
	s->too_slow = atomic_load(&R->too_slow);
	s->gaps = atomic_load(&R->gaps);
	s->snapshots_sent = atomic_load(&R->snapshots_sent);
	s->snapshots_taken = R->snapshots_taken;
	s->records = atomic_load(&R->records);
	s->refused_udp = __atomic_load_n(&R->refused_udp, __ATOMIC_RELAXED);
	uint64_t pd = atomic_load(&R->primary_durable);
	if (R->role == CP_ROLE_PRIMARY) {
		s->last_seq = a->jn ? jn_durable(a->jn) : 0;
		s->lag_records = s->peers && s->last_seq > s->acked ? s->last_seq - s->acked : 0;
		s->lag_us = atomic_load(&R->lag_us);
	} else {
		s->last_seq = atomic_load(&R->received);
		s->lag_records = pd > s->applied ? pd - s->applied : 0;
		/* the age of the last record applied, while behind; 0 caught up */
		uint64_t t = atomic_load(&R->applied_ns), now = td_now_ns();
		s->lag_us = s->lag_records && now > t ? (now - t) / 1000 : 0;
	}
}

int td_repl_text(void *app, char *out, size_t len)
{
	struct td_app *a = app;
	struct td_repl *R = a->repl;
	if (R == NULL) {
		snprintf(out, len, "role=none (no replication section: a single node)\n");
		return 0;
	}
	struct td_repl_stats s;
	td_repl_stats(a, &s);
	char state[32], reason[320], peer[64];
	pthread_mutex_lock(&R->mu);
	snprintf(state, sizeof(state), "%s", R->state);
	snprintf(reason, sizeof(reason), "%s", R->reason);
	snprintf(peer, sizeof(peer), "%s", R->peer);
	pthread_mutex_unlock(&R->mu);
	size_t n = 0;
	if (R->role == CP_ROLE_PRIMARY) {
		char where[64];
		tdr_fmt_hp(&a->cfg.repl_listen, where, sizeof(where));
		n += (size_t)snprintf(out + n, len - n, "role=primary epoch=%u listen=%s standbys=%u "
				      "durable=%" PRIu64 "\n", s.epoch, where, s.peers, s.last_seq);
		for (unsigned i = 0; i < TDR_MAX_PEERS && n < len; i++) {
			const struct tdr_peer *p = &R->peers[i];
			if (p->state != P_STREAM && p->state != P_HELLO)
				continue; /* racy reads of the link thread's fields: a view */
			n += (size_t)snprintf(out + n, len - n, "standby=%s name=%s sent=%" PRIu64
					      " acked=%" PRIu64 " durable=%" PRIu64 " lag_records=%"
					      PRIu64 " lag_us=%" PRIu64 " %s\n", p->addr, p->name,
					      p->sent, p->acked, p->ack_durable,
					      s.last_seq > p->acked ? s.last_seq - p->acked : 0,
					      p->lag_us, p->caught_up ? "following" : "catching-up");
		}
	} else {
		n += (size_t)snprintf(out + n, len - n, "role=standby epoch=%u primary=%s state=%s "
				      "promotable=%s\n", s.epoch, peer[0] ? peer : "?", state,
				      s.promotable ? "yes" : "no");
		if (n < len)
			n += (size_t)snprintf(out + n, len - n, "received=%" PRIu64 " applied=%" PRIu64
					      " durable=%" PRIu64 " primary_durable=%" PRIu64
					      " lag_records=%" PRIu64 " lag_us=%" PRIu64 "\n",
					      s.last_seq, s.applied, a->jn ? jn_durable(a->jn) : 0,
					      atomic_load(&R->primary_durable), s.lag_records, s.lag_us);
	}
	if (n < len && reason[0])
		n += (size_t)snprintf(out + n, len - n, "last: %s\n", reason);
	if (n < len)
		n += td_lease_text(a, out + n, len - n);
	if (n < len)
		snprintf(out + n, len - n, "counters: connects=%" PRIu64 " disconnects=%" PRIu64
			 " too_slow=%" PRIu64 " gaps=%" PRIu64 " snapshots_sent=%" PRIu64
			 " snapshots_taken=%" PRIu64 " records=%" PRIu64 " refused_udp=%" PRIu64 "\n",
			 s.connects, s.disconnects, s.too_slow, s.gaps, s.snapshots_sent,
			 s.snapshots_taken, s.records, s.refused_udp);
	return 0;
}
