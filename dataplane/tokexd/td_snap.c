/*
 * td_snap.c - tokexd's periodic snapshots and recovery from the newest one (issue 6:
 * "periodic snapshots bound recovery time").
 *
 * Role: in run-to-completion mode one thread - the RX lcore - owns everything replay
 * rebuilds (pipeline mode: see below): the matching core (contracts, books, ids, accounts,
 * positions), the session table of both transports (numbering, retransmit rings,
 * cl_ord_id history) and the market-data publisher (contract states, top of book, numbering). At the end of a loop pass, when
 * every journal record up to a->jn_last has been applied, td_snap_maybe() checks whether
 * journal.snapshot_every records went by since the last snapshot; if so it serializes the
 * modules (mc_snap.h, ss_snap.h, md_snap.h) into one preallocated buffer - memory
 * copies only: no allocation, lock, system call or print - and hands the buffer to the
 * snapshot writer, a pthread pinned off the data path like the journal thread. The
 * writer waits until the journal reports that seq durable (the state must never be ahead
 * of what a restart can replay), writes the blob with jn_snapshot_write() (temporary
 * file, fsync, rename, directory fsync; the jn header's CRC-32 covers the blob), then
 * prunes. While the writer holds the buffer the RX core never waits: a snapshot that falls
 * due then is skipped and counted, and the next one is due journal.snapshot_every records
 * later. A snapshot that cannot be written (a full disk) is counted with its seq and errno;
 * the control thread prints it when it happens (td_snap_report: at most every 10 s while
 * they keep failing, and once when one is written again), never the writer or the RX core.
 *
 * Handshake (one buffer, one flag, SPSC): `busy` 0 = the RX core may fill the buffer;
 * the RX core fills it, writes job_seq/job_len, then stores busy = 1 (release); the
 * writer loads busy (acquire), writes the file, stores busy = 0 (release); the RX core
 * loads busy (acquire) before touching the buffer again. The writer polls every
 * millisecond (a condition variable would put a futex call on the RX core).
 *
 * Blob: struct td_snap_hdr (magic "TKSN", version, length, the journal seq the state
 * follows, when, a fingerprint of the configuration) then the sections: each matching
 * core's, the session table's, the publisher's, and with a journal the control plane's state
 * (cp_state.h) (each with its own magic, version and length: dp_snap.h).
 *
 * Retention (the writer, after snapshot k at seq S_k is durable on disk): the journal
 * segments all of whose records are <= S_(k-1) are deleted (jn_prune), and so are the
 * snapshots older than S_(k-1). So the directory always holds the two newest snapshots
 * and every record after the older one: if the newest turns out unreadable, the one
 * before it plus the journal after it still recover everything (one snapshot's worth of
 * journal is kept for that). A standby following the journal (docs/STANDBY.md) must keep
 * up within that window.
 *
 * Recovery (td_snap_recover, from td_journal_open before replay; start time, control
 * thread): the newest snapshot whose jn CRC checks (jn_snapshot_latest; a corrupt newer one
 * is renamed *.corrupt and logged, and the one before it is taken), not ahead of the
 * journal (else renamed *.ahead: its records never became durable), of this
 * configuration (fingerprint of the freshly initialized modules: contract slots and
 * books, accounts, sessions and retransmit depth, the publisher's contracts, mode) and
 * whose sections all pass their checks; all three are checked before any is loaded. Then
 * replay starts at its seq + 1. A snapshot of another configuration or format is not
 * used: the whole journal is replayed when it still starts at seq 1, and tokexd refuses to
 * start when it does not (pruned), saying what to do. Loaded sessions are TERMINATED, as
 * after a full replay.
 *
 * The session section holds the sessions of both transports: the RX core owns the one
 * table (ss_session.h invariant 12), so it serializes it like its other state. Format 2:
 * format 1 had a second session section, the TCP gateway's table of its own.
 *
 * Pipeline mode: the books live on several matching lcores. When a snapshot is due
 * (td_snap_due) the RX core stops sending, waits until every core has applied all it was
 * sent (their `done` counters, release/acquire) while draining and journaling their
 * replies (td_rx.c td_pipe_quiesce), then serializes: one section per core, in core order,
 * before the others. The cores idle on empty rings meanwhile and touch nothing. The pause
 * is the cores' backlog plus the serialization; a barrier that takes longer than 100 ms
 * is given up (no snapshot this time).
 */
#define _GNU_SOURCE /* pthread_attr_setaffinity_np */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cp_state.h"
#include "jn_journal.h"
#include "mc_snap.h"
#include "md_snap.h"
#include "ss_snap.h"
#include "td_app.h"
#include "tkx_log.h"

#define TD_SNAP_MAGIC 0x4e534b54u /* "TKSN" */
/* 3: one session section for both transports, and the control plane's state. Older
 * snapshots are not read: recovery replays the whole journal instead. */
#define TD_SNAP_VERSION 3
#define TD_SNAP_MAX_SECT (TD_MAX_MATCH + 3) /* cores, sessions, publisher, control plane */

struct td_snap_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t hdr_len;
	uint64_t len;     /* the whole blob */
	uint64_t seq;     /* the state after journal record seq */
	uint64_t time_ns; /* wall clock when it was taken */
	uint64_t config;  /* td_snap_config() of the appliance that took it */
	uint32_t n_sect;
	uint32_t pad;
};
_Static_assert(sizeof(struct td_snap_hdr) == 48, "td_snap_hdr layout");

/* One per process (tokexd runs one appliance). */
struct td_snap {
	struct td_app *a;
	uint64_t config; /* of the fresh modules: computed before anything is applied */
	int config_set;
	uint8_t *buf;    /* cap bytes, prefaulted */
	size_t cap;
	/* RX core */
	uint64_t every;
	uint64_t next_due;
	/* the handshake */
	atomic_int busy;
	uint64_t job_seq;
	size_t job_len;
	/* the writer */
	pthread_t th;
	int th_ok;
	atomic_int stop;
	uint64_t last_seq; /* the newest snapshot written, or recovered from */
	struct td_snap_stats st;
	/* the control thread's reports (td_snap_report) */
	uint64_t rep_failed, rep_too_big, rep_next_ns;
	int rep_failing;
};

static struct td_snap td_snap_g;

#define TD_SNAP_STAT(s, f, v) __atomic_store_n(&(s)->st.f, (v), __ATOMIC_RELAXED)
#define TD_SNAP_INC(s, f) TD_SNAP_STAT(s, f, (s)->st.f + 1)

const struct td_snap_stats *td_snap_stats(const struct td_app *a)
{
	(void)a;
	return &td_snap_g.st;
}

/* The configuration the modules were built from, as a fingerprint of them fresh. */
static uint64_t td_snap_config(const struct td_app *a)
{
	uint64_t h = DP_FNV_INIT;
	uint64_t part[4] = { ss_snap_config(a->ss), md_snap_config(a->md), a->cfg.mode,
			     a->route.n_match };
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		uint64_t c = mc_snap_config(a->match[m].mc);
		h = dp_fnv1a64(h, &c, sizeof(c));
	}
	return dp_fnv1a64(h, part, sizeof(part));
}

static void td_snap_config_once(struct td_snap *s, struct td_app *a)
{
	if (s->config_set)
		return;
	s->a = a;
	s->config = td_snap_config(a);
	s->config_set = 1;
}

/* Sections: the matching cores', the sessions' (both transports), the publisher's, and
 * with a journal the control plane's state (the RX core's copy: td_cpstate.c). */
static uint32_t td_snap_sections(const struct td_app *a)
{
	return a->route.n_match + 2 + (a->cps != NULL);
}

static size_t td_snap_bound(const struct td_app *a)
{
	size_t n = sizeof(struct td_snap_hdr) + ss_snap_bound(a->ss) + md_snap_bound(a->md) +
		   td_cps_snap_bound(a);
	for (uint32_t m = 0; m < a->route.n_match; m++)
		n += mc_snap_bound(a->match[m].mc);
	return n;
}

/* ---- taking one (RX core) ------------------------------------------------------------- */

static int64_t td_snap_serialize(struct td_snap *s, struct td_app *a, uint64_t seq, uint64_t now)
{
	struct dp_snap_w w;
	dp_snap_w_init(&w, s->buf, s->cap);
	struct td_snap_hdr *h = dp_snap_w_take(&w, sizeof(*h));
	if (h == NULL)
		return -ENOBUFS;
	memset(h, 0, sizeof(*h));
	h->magic = TD_SNAP_MAGIC;
	h->version = TD_SNAP_VERSION;
	h->hdr_len = sizeof(*h);
	h->seq = seq;
	h->time_ns = now;
	h->config = s->config;
	h->n_sect = td_snap_sections(a);
	for (uint32_t m = 0; m < a->route.n_match; m++)
		mc_snap_save(a->match[m].mc, &w);
	ss_snap_save(a->ss, &w);
	md_snap_save(a->md, &w);
	td_cps_snap_save(a, &w);
	if (w.err)
		return w.err;
	h->len = w.len;
	return (int64_t)w.len;
}

/* ---- the state's digest (issue 14: a standby's state equals its primary's) ------------- */

static atomic_int td_dg_req, td_dg_done;
static uint64_t td_dg_seq, td_dg_books, td_dg_cp, td_dg_sessions;
static uint32_t td_dg_n_sessions;

void td_snap_digest_poll(struct td_app *a)
{
	struct td_snap *s = &td_snap_g;
	if (!atomic_load_explicit(&td_dg_req, memory_order_acquire) || s->cap == 0 ||
	    atomic_load_explicit(&s->busy, memory_order_acquire))
		return; /* none asked, or the writer holds the buffer: a later pass */
	/* The matching cores (books, ids, accounts, positions; not their counters) and the
	 * control plane's state,
	 * serialized as a snapshot would hold them. Not the publisher (its heartbeats and
	 * snapshots number packets by time) and not the sessions' sections (live on a primary,
	 * TERMINATED on a standby): of the sessions, their numbering. */
	struct dp_snap_w w;
	dp_snap_w_init(&w, s->buf, s->cap);
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		size_t at = w.len;
		mc_snap_save(a->match[m].mc, &w);
		/* Not the core's counters: how many market-data records it made depends on how
		 * requests were batched (live bursts, one by one in replay), not on the state. */
		if (!w.err && w.len >= at + sizeof(struct mc_snap_hdr))
			memset(s->buf + at + offsetof(struct mc_snap_hdr, st), 0,
			       sizeof(struct mc_stats));
	}
	size_t books = w.len;
	td_cps_snap_save(a, &w);
	td_dg_books = w.err ? 0 : dp_fnv1a64(DP_FNV_INIT, s->buf, books);
	td_dg_cp = w.err ? 0 : dp_fnv1a64(DP_FNV_INIT, s->buf + books, w.len - books);
	uint64_t h = DP_FNV_INIT;
	uint32_t n = 0;
	for (unsigned slot = 0; slot < a->cfg.max_sessions; slot++) {
		struct ss_info in;
		if (ss_session_info(a->ss, slot, &in) != 0 || in.state == SS_FREE)
			continue;
		uint64_t part[5] = {slot, in.session_id, in.firm_id, in.next_out, in.last_cl_ord_id};
		h = dp_fnv1a64(h, part, sizeof(part));
		n++;
	}
	td_dg_sessions = h;
	td_dg_n_sessions = n;
	td_dg_seq = a->jn_last;
	atomic_store_explicit(&td_dg_req, 0, memory_order_relaxed);
	atomic_store_explicit(&td_dg_done, 1, memory_order_release);
}

int td_snap_digest(struct td_app *a, char *out, size_t len)
{
	struct td_snap *s = &td_snap_g;
	if (a->jn == NULL || s->cap == 0) {
		snprintf(out, len, "digest: needs a journal with journal.snapshot_every (it uses the "
			 "snapshot's buffer)\n");
		return -ENOTSUP;
	}
	atomic_store_explicit(&td_dg_done, 0, memory_order_relaxed);
	atomic_store_explicit(&td_dg_req, 1, memory_order_release);
	uint64_t end = td_mono_ns() + 10000000000ull;
	while (!atomic_load_explicit(&td_dg_done, memory_order_acquire)) {
		if (td_mono_ns() >= end || !atomic_load(&a->running)) {
			atomic_store(&td_dg_req, 0);
			snprintf(out, len, "digest: the RX lcore did not reach a quiet point in 10 s\n");
			return -ETIMEDOUT;
		}
		struct timespec d = {0, 1000000};
		nanosleep(&d, NULL);
	}
	snprintf(out, len, "digest seq=%" PRIu64 " books=%016" PRIx64 " cp=%016" PRIx64
		 " sessions=%016" PRIx64 " (%u sessions)\n", td_dg_seq, td_dg_books, td_dg_cp,
		 td_dg_sessions, td_dg_n_sessions);
	return 0;
}

int td_snap_due(const struct td_app *a)
{
	const struct td_snap *s = &td_snap_g;
	if (atomic_load_explicit(&td_dg_req, memory_order_relaxed) && s->cap &&
	    !atomic_load_explicit(&s->busy, memory_order_acquire))
		return 1; /* a digest asked for: the quiet point first (pipeline) */
	return s->every && a->jn_last >= s->next_due && !td_jn_halted(a) &&
	       !atomic_load_explicit(&s->busy, memory_order_acquire);
}

void td_snap_maybe(struct td_app *a, uint64_t now)
{
	struct td_snap *s = &td_snap_g;
	td_snap_digest_poll(a);
	if (s->every == 0 || a->jn_last < s->next_due)
		return;
	s->next_due = a->jn_last + s->every;
	if (td_jn_halted(a))
		return; /* the state holds records that will never be durable */
	if (atomic_load_explicit(&s->busy, memory_order_acquire)) {
		TD_SNAP_INC(s, skipped_busy); /* the writer is behind: never wait for it */
		return;
	}
	uint64_t t0 = td_mono_ns();
	int64_t n = td_snap_serialize(s, a, a->jn_last, now);
	uint64_t ns = td_mono_ns() - t0;
	if (n < 0) {
		TD_SNAP_INC(s, too_big); /* cannot happen: the buffer is the modules' bound */
		return;
	}
	TD_SNAP_STAT(s, last_serialize_ns, ns);
	if (ns > s->st.max_serialize_ns)
		TD_SNAP_STAT(s, max_serialize_ns, ns);
	TD_SNAP_STAT(s, last_bytes, (uint64_t)n);
	TD_SNAP_INC(s, taken);
	s->job_seq = a->jn_last;
	s->job_len = (size_t)n;
	/* Release: the buffer and the job are written before the writer may read them. */
	atomic_store_explicit(&s->busy, 1, memory_order_release);
}

/* ---- the writer thread ---------------------------------------------------------------- */

#define TD_SNAP_NAME "snap-%020" PRIu64 ".snap" /* jn_journal.h's on-disk layout */

/* Deletes the snapshot files older than seq (the writer: retention). */
static unsigned td_snap_delete_before(const char *dir, uint64_t seq)
{
	DIR *d = opendir(dir);
	unsigned n = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t q;
		char tail[8];
		if (sscanf(e->d_name, "snap-%20" SCNu64 ".%7s", &q, tail) != 2 ||
		    strcmp(tail, "snap") != 0 || q >= seq)
			continue;
		char path[4096];
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (unlink(path) == 0)
			n++;
	}
	closedir(d);
	return n;
}

static void td_snap_write_one(struct td_snap *s)
{
	struct td_app *a = s->a;
	uint64_t seq = s->job_seq;
	uint64_t t0 = td_mono_ns();
	/* The state includes every record up to seq; it must not reach the disk before they
	 * do (a crash would leave a snapshot ahead of the journal). */
	int rc;
	do {
		rc = jn_wait_durable(a->jn, seq, 50);
	} while (rc == -ETIMEDOUT && !atomic_load_explicit(&s->stop, memory_order_relaxed));
	if (rc == 0)
		rc = jn_snapshot_write(a->cfg.journal_dir, seq, s->buf, s->job_len);
	if (rc < 0) {
		TD_SNAP_STAT(s, last_error, (uint64_t)-rc);
		TD_SNAP_STAT(s, last_failed_seq, seq);
		/* Release: the control thread that sees the count sees its error and seq. */
		__atomic_store_n(&s->st.failed, s->st.failed + 1, __ATOMIC_RELEASE);
		return;
	}
	uint64_t ns = td_mono_ns() - t0;
	TD_SNAP_STAT(s, last_write_ns, ns);
	if (ns > s->st.max_write_ns)
		TD_SNAP_STAT(s, max_write_ns, ns);
	TD_SNAP_INC(s, written);
	TD_SNAP_STAT(s, last_seq, seq);
	/* Retention: keep the snapshot before this one and the journal after it. */
	uint64_t before = s->last_seq;
	s->last_seq = seq;
	if (before == 0)
		return;
	int p = jn_prune(a->cfg.journal_dir, before);
	if (p > 0)
		TD_SNAP_STAT(s, pruned_segments, s->st.pruned_segments + (uint64_t)p);
	unsigned d = td_snap_delete_before(a->cfg.journal_dir, before);
	TD_SNAP_STAT(s, deleted_snapshots, s->st.deleted_snapshots + d);
}

static void *td_snap_writer(void *arg)
{
	struct td_snap *s = arg;
	for (;;) {
		if (atomic_load_explicit(&s->busy, memory_order_acquire)) {
			td_snap_write_one(s);
			atomic_store_explicit(&s->busy, 0, memory_order_release);
			continue;
		}
		if (atomic_load_explicit(&s->stop, memory_order_relaxed))
			break;
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
	return NULL;
}

int td_snap_open(struct td_app *a, int cpu, char *err, size_t errlen)
{
	struct td_snap *s = &td_snap_g;
	td_snap_config_once(s, a);
	s->every = a->cfg.journal_snapshot_every;
	if (a->jn == NULL || s->every == 0)
		return 0;
	size_t cap = td_snap_bound(a);
	if (s->cap < cap) {
		free(s->buf);
		s->buf = aligned_alloc(64, (cap + 63) & ~(size_t)63);
		if (s->buf == NULL) {
			snprintf(err, errlen, "journal.snapshot_every: cannot allocate the %zu-byte "
				 "snapshot buffer", cap);
			s->cap = 0;
			return -ENOMEM;
		}
		s->cap = cap;
	}
	memset(s->buf, 0, cap); /* prefault: no page fault on the RX core */
	s->next_due = (s->last_seq ? s->last_seq : 0) + s->every;
	if (s->next_due <= a->jn_last)
		s->next_due = a->jn_last + 1; /* overdue: the first pass takes one */
	atomic_store(&s->stop, 0);
	atomic_store(&s->busy, 0);
	pthread_attr_t at;
	pthread_attr_init(&at);
	if (cpu >= 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_attr_setaffinity_np(&at, sizeof(one), &one);
	}
	int rc = pthread_create(&s->th, &at, td_snap_writer, s);
	pthread_attr_destroy(&at);
	if (rc != 0) {
		snprintf(err, errlen, "journal: cannot start the snapshot writer: %s", strerror(rc));
		return -rc;
	}
	s->th_ok = 1;
	tkx_log(TKX_LOG_INFO, "journal",
		"a snapshot every %" PRIu64 " records (buffer %zu bytes), next "
		"at seq %" PRIu64, s->every, cap, s->next_due);
	return 0;
}

#define TD_SNAP_REPORT_NS 10000000000ull /* a failing disk: one line per 10 s */

void td_snap_report(struct td_app *a)
{
	struct td_snap *s = &td_snap_g;
	(void)a;
	uint64_t failed = __atomic_load_n(&s->st.failed, __ATOMIC_ACQUIRE);
	uint64_t now = td_mono_ns();
	if (failed != s->rep_failed && (!s->rep_failing || now >= s->rep_next_ns)) {
		uint64_t e = __atomic_load_n(&s->st.last_error, __ATOMIC_RELAXED);
		uint64_t good = __atomic_load_n(&s->st.last_seq, __ATOMIC_RELAXED);
		char since[64] = "its start (no snapshot written yet)";
		if (good)
			snprintf(since, sizeof(since), "the last snapshot written (seq %" PRIu64 ")",
				 good);
		tkx_log(TKX_LOG_WARN, "journal", "snapshot of seq %" PRIu64 " failed: %s (%" PRIu64
			" snapshot(s) failed since start, %" PRIu64 " since the last report); the "
			"journal keeps every record since %s, so nothing is lost but a restart "
			"replays more; check %s",
			__atomic_load_n(&s->st.last_failed_seq, __ATOMIC_RELAXED), strerror((int)e),
			failed, failed - s->rep_failed, since, a->cfg.journal_dir);
		s->rep_failed = failed;
		s->rep_failing = 1;
		s->rep_next_ns = now + TD_SNAP_REPORT_NS;
	} else if (s->rep_failing && failed == s->rep_failed &&
		   __atomic_load_n(&s->st.last_seq, __ATOMIC_RELAXED) >
		   __atomic_load_n(&s->st.last_failed_seq, __ATOMIC_RELAXED)) {
		tkx_log(TKX_LOG_INFO, "journal",
			"snapshot of seq %" PRIu64 " written: snapshots work again",
			__atomic_load_n(&s->st.last_seq, __ATOMIC_RELAXED));
		s->rep_failing = 0;
	}
	uint64_t big = __atomic_load_n(&s->st.too_big, __ATOMIC_RELAXED);
	if (big != s->rep_too_big) {
		tkx_log(TKX_LOG_ERR, "journal",
			"BUG: a snapshot did not fit its buffer (%" PRIu64 " so far); "
			"none was taken", big);
		s->rep_too_big = big;
	}
}

void td_snap_close(struct td_app *a)
{
	struct td_snap *s = &td_snap_g;
	(void)a;
	if (s->th_ok) {
		atomic_store(&s->stop, 1);
		pthread_join(s->th, NULL);
		s->th_ok = 0;
	}
	if (s->every && s->cap) {
		const struct td_snap_stats *t = &s->st;
		tkx_log(TKX_LOG_INFO, "journal", "snapshots taken %" PRIu64 " written %" PRIu64
			" skipped_busy %" PRIu64 " failed %" PRIu64 " too_big %" PRIu64
			" last_seq %" PRIu64
			" last_bytes %" PRIu64 " last_serialize_us %.1f max_serialize_us %.1f"
			" max_write_ms %.1f pruned_segments %" PRIu64 " deleted_snapshots %" PRIu64
			"%s%s",
			t->taken, t->written, t->skipped_busy, t->failed, t->too_big, t->last_seq,
			t->last_bytes,
			(double)t->last_serialize_ns / 1e3, (double)t->max_serialize_ns / 1e3,
			(double)t->max_write_ns / 1e6,
			t->pruned_segments, t->deleted_snapshots, t->last_error ? " last_error " : "",
			t->last_error ? strerror((int)t->last_error) : "");
	}
	free(s->buf);
	s->buf = NULL;
	s->cap = 0;
}

/* ---- recovery (start, control thread) --------------------------------------------------- */

static int td_snap_first_cb(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	(void)pos;
	*(uint64_t *)arg = r->seq;
	return 1;
}

/* The seq of the journal's first record, 0 when empty. */
static uint64_t td_snap_first_seq(const char *dir)
{
	uint64_t first = 0;
	jn_iter(dir, 0, td_snap_first_cb, &first, NULL, 0);
	return first;
}

/* Renames snap-<seq>.snap to snap-<seq>.snap.<why> (kept for the operator; no longer
 * seen by jn_snapshot_latest): 0 or a negative errno. */
static int td_snap_set_aside(const char *dir, uint64_t seq, const char *why)
{
	char from[4096], to[4200];
	snprintf(from, sizeof(from), "%s/" TD_SNAP_NAME, dir, seq);
	snprintf(to, sizeof(to), "%s.%s", from, why);
	if (rename(from, to) < 0)
		return -errno;
	tkx_log(TKX_LOG_INFO, "journal", "%s renamed %s", from, to);
	return 0;
}

/* The seqs of the snapshot files, newest first (the max newest). */
static unsigned td_snap_list(const char *dir, uint64_t *seq, unsigned max)
{
	DIR *d = opendir(dir);
	unsigned n = 0;
	if (d == NULL)
		return 0;
	struct dirent *e;
	while ((e = readdir(d)) != NULL) {
		uint64_t q;
		char tail[8];
		if (sscanf(e->d_name, "snap-%20" SCNu64 ".%7s", &q, tail) != 2 ||
		    strcmp(tail, "snap") != 0)
			continue;
		unsigned i;
		if (n < max)
			i = n++;
		else if (q > seq[max - 1])
			i = max - 1;
		else
			continue;
		seq[i] = q;
		for (; i > 0 && seq[i - 1] < seq[i]; i--) {
			uint64_t t = seq[i];
			seq[i] = seq[i - 1];
			seq[i - 1] = t;
		}
	}
	closedir(d);
	return n;
}

/* Header and every section checked against this appliance, nothing changed: 0, or a
 * negative errno with the reason in why. */
static int td_snap_check(struct td_snap *s, struct td_app *a, const uint8_t *b, size_t len,
			 uint64_t seq, size_t off[TD_SNAP_MAX_SECT], char *why, size_t whylen)
{
	struct td_snap_hdr h;
	if (len < sizeof(h)) {
		snprintf(why, whylen, "%zu bytes: not a tokexd snapshot", len);
		return -EBADMSG;
	}
	memcpy(&h, b, sizeof(h));
	if (h.magic != TD_SNAP_MAGIC || h.hdr_len != sizeof(h) || h.len != len || h.seq != seq) {
		snprintf(why, whylen, "not a tokexd snapshot of seq %" PRIu64 " (magic 0x%08x, "
			 "length %" PRIu64 " of %zu)", seq, (unsigned)h.magic, h.len, len);
		return -EBADMSG;
	}
	if (h.version != TD_SNAP_VERSION) {
		snprintf(why, whylen, "format version %u, this tokexd reads %u", (unsigned)h.version,
			 (unsigned)TD_SNAP_VERSION);
		return -EPROTO;
	}
	if (h.config != s->config || h.n_sect != td_snap_sections(a)) {
		snprintf(why, whylen, "taken with another configuration (contracts, accounts, "
			 "sessions, retransmit depth, market-data contracts, mode or the TCP "
			 "gateway differ: "
			 "fingerprint %016" PRIx64 ", this one %016" PRIx64 ")", h.config, s->config);
		return -EINVAL;
	}
	size_t at = sizeof(h), used = 0;
	int rc;
	uint32_t nm = a->route.n_match;
	for (uint32_t m = 0; m < nm; m++) {
		off[m] = at;
		if ((rc = mc_snap_check(a->match[m].mc, b + at, len - at, &used, why, whylen)) < 0)
			return rc;
		at += used;
	}
	off[nm] = at;
	if ((rc = ss_snap_check(a->ss, b + at, len - at, &used, why, whylen)) < 0)
		return rc;
	at += used;
	off[nm + 1] = at;
	if ((rc = md_snap_check(a->md, b + at, len - at, &used, why, whylen)) < 0)
		return rc;
	off[nm + 2] = 0;
	if (a->cps) {
		at += used;
		off[nm + 2] = at;
		if ((rc = cp_state_snap_check(b + at, len - at, &used, why, whylen)) < 0)
			return rc;
	}
	if (at + used != len) {
		snprintf(why, whylen, "%zu bytes after its sections: corrupt", len - at - used);
		return -EBADMSG;
	}
	return 0;
}

int64_t td_snap_recover(struct td_app *a, uint64_t last_seq, char *err, size_t errlen)
{
	struct td_snap *s = &td_snap_g;
	const char *dir = a->cfg.journal_dir;
	td_snap_config_once(s, a); /* the modules are fresh here */
	uint64_t first = td_snap_first_seq(dir);
	uint64_t files[8];
	unsigned n_files = td_snap_list(dir, files, 8);
	char why[384];
	if (n_files == 0) {
		if (first > 1)
			goto pruned;
		return 1;
	}
	size_t cap = td_snap_bound(a);
	uint8_t *buf = NULL;
	for (;;) {
		uint64_t seq = 0;
		size_t len = 0;
		if (buf == NULL && (buf = malloc(cap)) == NULL) {
			snprintf(err, errlen, "journal %s: no memory for a %zu-byte snapshot", dir, cap);
			return -ENOMEM;
		}
		int rc = jn_snapshot_latest(dir, &seq, buf, cap, &len);
		if (rc == -ENOBUFS) { /* bigger than this configuration makes: read it to say why */
			free(buf);
			buf = NULL;
			cap = len;
			continue;
		}
		if (rc == -ENOENT) {
			tkx_log(TKX_LOG_INFO, "journal", "no valid snapshot left: replaying the whole journal");
			break;
		}
		if (rc < 0) {
			snprintf(err, errlen, "journal %s: cannot read its snapshots: %s", dir,
				 strerror(-rc));
			free(buf);
			return rc;
		}
		/* Newer files that jn_snapshot_latest skipped fail its CRC or length check. */
		n_files = td_snap_list(dir, files, 8);
		for (unsigned i = 0; i < n_files && files[i] > seq; i++) {
			tkx_log(TKX_LOG_WARN, "journal",
				"snapshot seq %" PRIu64 " is corrupt (CRC or length): "
				"skipped", files[i]);
			td_snap_set_aside(dir, files[i], "corrupt");
		}
		if (seq > last_seq) {
			tkx_log(TKX_LOG_WARN, "journal",
				"snapshot seq %" PRIu64 " is ahead of the journal (last "
				"record %" PRIu64 "): its records never became durable; skipped", seq,
				last_seq);
			if ((rc = td_snap_set_aside(dir, seq, "ahead")) < 0) {
				/* Else jn_snapshot_latest() would return it again. */
				snprintf(err, errlen, "journal %s: cannot move the snapshot of seq %"
					 PRIu64 ", ahead of the journal, aside: %s", dir, seq,
					 strerror(-rc));
				free(buf);
				return rc;
			}
			continue;
		}
		size_t off[TD_SNAP_MAX_SECT];
		uint32_t nm = a->route.n_match;
		rc = td_snap_check(s, a, buf, len, seq, off, why, sizeof(why));
		if (rc == 0 && first > seq + 1) {
			snprintf(why, sizeof(why), "the journal starts at seq %" PRIu64 ", after it",
				 first);
			rc = -ENODATA;
		}
		if (rc < 0) {
			if (first > 1) {
				snprintf(err, errlen, "journal %s: snapshot seq %" PRIu64 " cannot be "
					 "used: %s; and the journal starts at seq %" PRIu64 " (pruned), "
					 "so it cannot be replayed from the start either: start with the "
					 "configuration that took the snapshot", dir, seq, why, first);
				free(buf);
				return rc;
			}
			tkx_log(TKX_LOG_WARN, "journal",
				"snapshot seq %" PRIu64 " not used: %s; replaying the "
				"whole journal", seq, why);
			break;
		}
		uint64_t t0 = td_mono_ns(), now = td_now_ns();
		size_t cp_used = 0;
		rc = 0;
		for (uint32_t m = 0; m < nm && rc >= 0; m++)
			rc = mc_snap_load(a->match[m].mc, buf + off[m], len - off[m], NULL, why,
					  sizeof(why));
		if (rc < 0 ||
		    (rc = ss_snap_load(a->ss, buf + off[nm], len - off[nm], TD_RESTORED_TERM_NS,
				       NULL, why, sizeof(why))) < 0 ||
		    (rc = md_snap_load(a->md, buf + off[nm + 1], len - off[nm + 1], NULL, why,
				       sizeof(why))) < 0 ||
		    (off[nm + 2] && (rc = td_cps_snap_load(a, buf + off[nm + 2],
							   len - off[nm + 2], &cp_used, why,
							   sizeof(why))) < 0)) {
			snprintf(err, errlen, "journal %s: snapshot seq %" PRIu64 " passed its checks "
				 "but failed to load (%s): the state is part restored, not starting; "
				 "move %s/" TD_SNAP_NAME " aside and restart", dir, seq, why, dir, seq);
			free(buf);
			return rc;
		}
		/* Contracts listed at run time are routable again, as replay of their LIST
		 * makes them. */
		uint32_t ids[MC_MAX_CONTRACTS];
		uint32_t n_ids = 0, orders = 0, sessions = 0;
		for (uint32_t m = 0; m < nm; m++) {
			uint32_t k = mc_snap_contracts(a->match[m].mc, ids, MC_MAX_CONTRACTS);
			for (uint32_t i = 0; i < k; i++) {
				const struct me_book *b = mc_book(a->match[m].mc, ids[i]);
				td_route_add(&a->route, ids[i], (uint8_t)m);
				orders += b ? me_book_count(b) : 0;
			}
			n_ids += k;
		}
		struct td_snap_hdr h;
		memcpy(&h, buf, sizeof(h));
		for (unsigned slot = 0; slot < a->cfg.max_sessions; slot++) {
			struct ss_info in;
			sessions += ss_session_info(a->ss, slot, &in) == 0 && in.state != SS_FREE;
		}
		tkx_log(TKX_LOG_INFO, "journal",
			"snapshot seq %" PRIu64 " (" TD_SNAP_NAME ", %zu bytes, "
			"taken %.1f s before this start) loaded in %.1f ms: %u contract(s), %u "
			"resting order(s), %u session(s); replaying from seq %" PRIu64, seq, seq,
			len, now > h.time_ns ? (double)(now - h.time_ns) / 1e9 : 0.0,
			(double)(td_mono_ns() - t0) / 1e6, n_ids, orders, sessions, seq + 1);
		s->last_seq = seq; /* the first new snapshot prunes up to it */
		free(buf);
		return (int64_t)seq + 1;
	}
	free(buf);
	if (first > 1)
		goto pruned;
	return 1;
pruned:
	snprintf(err, errlen, "journal %s: it starts at seq %" PRIu64 " (segments before it were "
		 "pruned after snapshots) and no usable snapshot is left: cannot recover; put "
		 "back the snapshot files (snap-*.snap, or those renamed *.corrupt / *.ahead) or "
		 "the pruned segments", dir, first);
	return -ENODATA;
}
