/*
 * jn_journal.c - the journal: SPSC ring (producer side), the journal thread (io_uring
 * group commit to preallocated segments), recovery scan, replay, snapshots, pruning, the
 * directory's writer lock. The design and its invariants are in jn_journal.h.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <liburing.h>
#include <zlib.h>

#include "jn_journal.h"

#define JN_DEF_RING 16384u
#define JN_DEF_BATCH 2048u
#define JN_DEF_IDLE_NS 20000u
#define JN_DEF_SEGMENT (64ull << 20)
#define JN_SPIN 2000 /* empty polls before the journal thread sleeps */
#define JN_SEG_FMT "jn-%020" PRIu64 ".log"
#define JN_SNAP_FMT "snap-%020" PRIu64 ".snap"
#define JN_SNAP_MAGIC 0x534a4b54u /* "TKJS" */
#define JN_SCAN_CHUNK (JN_REC_SIZE * 8192u)
#define JN_LOCK_FILE "jn.lock"

/* The directory's lock (rule 8): an OFD lock on DIR/jn.lock, held by this open file
 * description; dev/ino identify DIR (jn_open() checks a lock it is given is for its DIR). */
struct jn_lock {
	int fd;
	dev_t dev;
	ino_t ino;
};

struct jn {
	/* Producer's line: written by the producer only. */
	struct {
		uint64_t head;      /* next slot to fill (free-running) */
		uint64_t cons_seen; /* last consumer index read: avoids reading j->cons each time */
		uint64_t next_seq;
		uint64_t ring_full;
		uint32_t writer; /* the next record's writer field (rule 9) */
		uint32_t epoch;  /* the next record's epoch (rule 10) */
	} p __attribute__((aligned(64)));

	/* Shared indices, each on its own line (no false sharing). */
	_Atomic uint64_t prod __attribute__((aligned(64))); /* producer -> thread */
	_Atomic uint64_t cons __attribute__((aligned(64))); /* thread -> producer */
	_Atomic uint64_t durable __attribute__((aligned(64)));
	_Atomic uint64_t written; /* last seq written to the file (thread) */
	_Atomic int failed;
	_Atomic int stop;

	/* Read-only after open. */
	struct jn_rec *slots __attribute__((aligned(64)));
	uint64_t mask;
	uint32_t durability;
	uint32_t max_batch;
	uint32_t idle_ns;
	uint64_t seg_bytes;
	int dirfd;
	char *dir;
	struct jn_lock *lock;
	uint32_t tag; /* this writer run's (rule 9) */
	pthread_t thread;
	int thread_started;

	/* The journal thread's own state. */
	struct io_uring uring;
	int uring_ok;
	int fd;            /* current segment */
	uint64_t seg_off;  /* bytes of records in it */
	uint64_t seg_cap;  /* its capacity in bytes (multiple of JN_REC_SIZE) */
	struct iovec iov[2];

	/* Statistics (thread writes, anyone reads: relaxed). */
	_Atomic uint64_t st_synced, st_writes, st_fsyncs, st_batches, st_bytes, st_segments;

	/* Fault injection (tests). */
	_Atomic uint64_t f_write_nth, f_fsync_nth, f_short_nth, f_falloc_nth;
	_Atomic int f_write_err, f_fsync_err, f_falloc_err;
	uint64_t n_falloc;
};

/* ---- Records ---------------------------------------------------------------------- */

uint32_t jn_rec_crc(const struct jn_rec *r)
{
	const unsigned char *b = (const unsigned char *)r;
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, b, 4);
	c = crc32(c, b + 8, JN_REC_SIZE - 8);
	return (uint32_t)c;
}

static int jn__valid(const struct jn_rec *r)
{
	return r->magic == JN_REC_MAGIC && r->len <= JN_MAX_PAYLOAD && r->seq != 0 &&
	       r->epoch != 0 && r->crc == jn_rec_crc(r);
}

/* Rule 11: the format version of a slot that holds a record of another format, else 0.
 * Format 1's magic ends in 'R'; later ones in their digit. */
static uint32_t jn__other_format(const struct jn_rec *r)
{
	if ((r->magic & 0x00ffffffu) != JN_MAGIC_BASE || r->magic == JN_REC_MAGIC)
		return 0;
	if (r->magic == JN_REC_MAGIC_V1)
		return 1;
	uint32_t d = r->magic >> 24;
	return d >= '0' && d <= '9' ? d - '0' : d;
}

int jn_rec_check(const struct jn_rec *r, uint32_t *format)
{
	uint32_t f = jn__other_format(r);
	if (format)
		*format = f ? f : JN_FORMAT;
	if (f)
		return -EPROTONOSUPPORT;
	return jn__valid(r) ? 0 : -EBADMSG;
}

static int jn__is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;
	for (size_t i = 0; i < n; i++)
		if (b[i])
			return 0;
	return 1;
}

static void jn__msg(char *buf, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void jn__msg(char *buf, size_t len, const char *fmt, ...)
{
	if (buf == NULL || len == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- Producer ----------------------------------------------------------------------- */

static inline uint64_t jn__room(struct jn *j, uint64_t want)
{
	uint64_t size = j->mask + 1;
	uint64_t room = size - (j->p.head - j->p.cons_seen);
	if (room < want) {
		/* acquire: the thread has finished reading the slots it released */
		j->p.cons_seen = atomic_load_explicit(&j->cons, memory_order_acquire);
		room = size - (j->p.head - j->p.cons_seen);
	}
	return room;
}

static inline void jn__fill(struct jn *j, uint16_t type, const void *payload, uint32_t len,
			    uint64_t time_ns)
{
	struct jn_rec *r = &j->slots[j->p.head & j->mask];
	r->magic = JN_REC_MAGIC;
	r->crc = 0; /* the journal thread computes it: keeps CRC work off the data path */
	r->seq = j->p.next_seq++;
	r->time_ns = time_ns;
	r->type = type;
	r->len = (uint16_t)len;
	r->writer = j->p.writer;
	r->epoch = j->p.epoch;
	r->pad = 0;
	memcpy(r->payload, payload, len);
	if (len < JN_MAX_PAYLOAD)
		memset(r->payload + len, 0, JN_MAX_PAYLOAD - len);
	memset(r->reserved, 0, sizeof(r->reserved));
	j->p.writer = j->tag; /* JN_WRITER_FIRST on the run's first record only */
	j->p.head++;
}

static inline void jn__publish(struct jn *j)
{
	/* release: the slot contents are visible before the thread sees the new index */
	atomic_store_explicit(&j->prod, j->p.head, memory_order_release);
	if (j->durability == JN_NONE)
		atomic_store_explicit(&j->durable, j->p.next_seq - 1, memory_order_release);
}

int64_t jn_append(struct jn *j, uint16_t type, const void *payload, uint32_t len,
		  uint64_t time_ns)
{
	int f = atomic_load_explicit(&j->failed, memory_order_relaxed);
	if (f)
		return f;
	if (len > JN_MAX_PAYLOAD)
		return -EINVAL;
	if (jn__room(j, 1) == 0) {
		j->p.ring_full++;
		return 0; /* nothing appended: the caller rejects BUSY and goes on */
	}
	uint64_t seq = j->p.next_seq;
	jn__fill(j, type, payload, len, time_ns);
	jn__publish(j);
	return (int64_t)seq;
}

int jn_append_burst(struct jn *j, const struct jn_entry *e, uint32_t n, uint64_t *first_seq)
{
	int f = atomic_load_explicit(&j->failed, memory_order_relaxed);
	if (f)
		return f;
	for (uint32_t i = 0; i < n; i++)
		if (e[i].len > JN_MAX_PAYLOAD)
			return -EINVAL;
	uint64_t room = jn__room(j, n);
	uint32_t k = room < n ? (uint32_t)room : n;
	if (k < n)
		j->p.ring_full++;
	if (first_seq)
		*first_seq = j->p.next_seq;
	for (uint32_t i = 0; i < k; i++)
		jn__fill(j, e[i].type, e[i].payload, e[i].len, e[i].time_ns);
	if (k)
		jn__publish(j);
	return (int)k;
}

int jn_append_rec(struct jn *j, const struct jn_rec *r)
{
	int f = atomic_load_explicit(&j->failed, memory_order_relaxed);
	if (f)
		return f;
	if (r->len > JN_MAX_PAYLOAD)
		return -EINVAL;
	if (r->seq != j->p.next_seq)
		return -ERANGE;
	if (r->epoch < j->p.epoch || r->epoch == 0)
		return -ESTALE;
	if (jn__room(j, 1) == 0) {
		j->p.ring_full++;
		return 0;
	}
	struct jn_rec *d = &j->slots[j->p.head & j->mask];
	*d = *r;
	d->crc = 0; /* recomputed by the thread: the same value, the bytes are the same */
	j->p.next_seq++;
	j->p.epoch = r->epoch;
	/* Another writer's record: this journal's own next append starts a run (rule 9). */
	j->p.writer = j->tag | JN_WRITER_FIRST;
	j->p.head++;
	jn__publish(j);
	return 1;
}

int jn_set_epoch(struct jn *j, uint32_t e)
{
	if (e < j->p.epoch || e == 0)
		return -ESTALE;
	j->p.epoch = e;
	return 0;
}

uint32_t jn_epoch(const struct jn *j)
{
	return j->p.epoch;
}

uint64_t jn_next_seq(const struct jn *j)
{
	return j->p.next_seq;
}

uint64_t jn_written(const struct jn *j)
{
	return atomic_load_explicit(&j->written, memory_order_acquire);
}

uint64_t jn_durable(const struct jn *j)
{
	return atomic_load_explicit(&j->durable, memory_order_acquire);
}

int jn_failed(const struct jn *j)
{
	return atomic_load_explicit(&j->failed, memory_order_acquire);
}

void jn_stats(const struct jn *j, struct jn_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->appended = j->p.next_seq - 1; /* racy read from another thread: a statistic */
	s->durable = jn_durable(j);
	s->synced_seq = atomic_load_explicit(&j->st_synced, memory_order_acquire);
	s->writes = atomic_load_explicit(&j->st_writes, memory_order_relaxed);
	s->fsyncs = atomic_load_explicit(&j->st_fsyncs, memory_order_relaxed);
	s->batches = atomic_load_explicit(&j->st_batches, memory_order_relaxed);
	s->bytes = atomic_load_explicit(&j->st_bytes, memory_order_relaxed);
	s->segments = atomic_load_explicit(&j->st_segments, memory_order_relaxed);
	s->ring_full = j->p.ring_full;
	s->writer = j->tag;
	s->epoch = j->p.epoch;
	s->written = jn_written(j);
}

void jn_fault_set(struct jn *j, const struct jn_fault *f)
{
	struct jn_fault z;
	if (f == NULL) {
		memset(&z, 0, sizeof(z));
		f = &z;
	}
	atomic_store(&j->f_write_err, f->write_err);
	atomic_store(&j->f_fsync_err, f->fsync_err);
	atomic_store(&j->f_falloc_err, f->falloc_err);
	atomic_store(&j->f_write_nth, f->write_nth);
	atomic_store(&j->f_fsync_nth, f->fsync_nth);
	atomic_store(&j->f_short_nth, f->short_nth);
	atomic_store(&j->f_falloc_nth, f->falloc_nth);
}

int jn_wait_durable(const struct jn *j, uint64_t seq, uint32_t timeout_ms)
{
	struct timespec ts = { 0, 100000 };
	for (uint64_t waited = 0;; waited += 100) {
		if (jn_durable(j) >= seq)
			return 0;
		int f = jn_failed(j);
		if (f)
			return f;
		if (waited >= (uint64_t)timeout_ms * 1000)
			return -ETIMEDOUT;
		nanosleep(&ts, NULL);
	}
}

/* ---- Journal thread: I/O ------------------------------------------------------------ */

static int jn__uring_wait(struct jn *j)
{
	struct io_uring_cqe *cqe;
	int rc;
	/* -EINTR is a signal (or task work) interrupting the wait, not an I/O error: it made
	 * the journal fail for good under load (found by test_tokexd_journal_crash). The
	 * kernel returns it only when nothing was submitted (else the count), so submitting
	 * again is safe; a completion waited for is still to come. */
	do
		rc = io_uring_submit_and_wait(&j->uring, 1);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	do
		rc = io_uring_wait_cqe(&j->uring, &cqe);
	while (rc == -EINTR);
	if (rc < 0)
		return rc;
	int res = cqe->res;
	io_uring_cqe_seen(&j->uring, cqe);
	return res;
}

/* Writes iov (total bytes) at off, finishing short writes. 0 or a negative errno. */
static int jn__write(struct jn *j, struct iovec *iov, int niov, uint64_t off)
{
	while (niov > 0) {
		uint64_t nth = atomic_fetch_add(&j->st_writes, 1) + 1;
		if (nth == atomic_load(&j->f_write_nth))
			return -atomic_load(&j->f_write_err);
		struct iovec save = iov[niov - 1];
		int shortened = 0;
		if (nth == atomic_load(&j->f_short_nth)) {
			/* injected short write: only the first half of the first iovec */
			size_t half = iov[0].iov_len / 2 ? iov[0].iov_len / 2 : 1;
			save = iov[0];
			iov[0].iov_len = half;
			shortened = 1;
		}
		int res;
		struct io_uring_sqe *sqe = io_uring_get_sqe(&j->uring);
		if (sqe == NULL)
			return -EBUSY;
		io_uring_prep_writev(sqe, j->fd, iov, shortened ? 1 : (unsigned)niov, off);
		res = jn__uring_wait(j);
		if (shortened)
			iov[0] = save;
		if (res < 0)
			return res;
		if (res == 0)
			return -EIO;
		size_t done = (size_t)res;
		off += done;
		atomic_fetch_add_explicit(&j->st_bytes, done, memory_order_relaxed);
		while (niov > 0 && done >= iov[0].iov_len) {
			done -= iov[0].iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov[0].iov_base = (char *)iov[0].iov_base + done;
			iov[0].iov_len -= done;
		}
	}
	return 0;
}

static int jn__datasync(struct jn *j, int fd)
{
	uint64_t nth = atomic_fetch_add(&j->st_fsyncs, 1) + 1;
	if (nth == atomic_load(&j->f_fsync_nth))
		return -atomic_load(&j->f_fsync_err);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&j->uring);
	if (sqe == NULL)
		return -EBUSY;
	io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC);
	return jn__uring_wait(j);
}

static int jn__fsync_dir(int dirfd)
{
	return fsync(dirfd) < 0 ? -errno : 0;
}

static int jn__prealloc(struct jn *j, int fd, uint64_t bytes)
{
	j->n_falloc++;
	if (j->n_falloc == atomic_load(&j->f_falloc_nth))
		return -atomic_load(&j->f_falloc_err);
	if (fallocate(fd, 0, 0, (off_t)bytes) < 0)
		return -errno;
	return 0;
}

/* Rule 4: sync the full segment, create and preallocate the next, sync the directory. */
static int jn__roll(struct jn *j, uint64_t first_seq)
{
	int rc;
	if (j->fd >= 0) {
		if (j->durability != JN_NONE && (rc = jn__datasync(j, j->fd)) < 0)
			return rc;
		close(j->fd);
		j->fd = -1;
	}
	char name[64];
	snprintf(name, sizeof(name), JN_SEG_FMT, first_seq);
	int fd = openat(j->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	if ((rc = jn__prealloc(j, fd, j->seg_bytes)) < 0) {
		close(fd);
		unlinkat(j->dirfd, name, 0); /* an empty segment: nothing lost */
		return rc;
	}
	if (j->durability != JN_NONE && (rc = jn__fsync_dir(j->dirfd)) < 0) {
		close(fd);
		return rc;
	}
	j->fd = fd;
	j->seg_off = 0;
	j->seg_cap = j->seg_bytes;
	atomic_fetch_add_explicit(&j->st_segments, 1, memory_order_relaxed);
	return 0;
}

static void jn__fail(struct jn *j, int err)
{
	int zero = 0;
	atomic_compare_exchange_strong(&j->failed, &zero, err);
}

/* One group commit: up to max_batch records from cons, within the segment. */
static int jn__commit(struct jn *j, uint64_t cons, uint64_t avail)
{
	int rc;
	if (j->seg_off >= j->seg_cap) {
		if ((rc = jn__roll(j, j->slots[cons & j->mask].seq)) < 0)
			return rc;
	}
	uint64_t n = avail;
	if (n > j->max_batch)
		n = j->max_batch;
	uint64_t seg_left = (j->seg_cap - j->seg_off) / JN_REC_SIZE;
	if (n > seg_left)
		n = seg_left;
	for (uint64_t i = 0; i < n; i++) {
		struct jn_rec *r = &j->slots[(cons + i) & j->mask];
		r->crc = jn_rec_crc(r);
	}
	uint64_t size = j->mask + 1;
	uint64_t first = cons & j->mask;
	uint64_t n1 = size - first < n ? size - first : n;
	j->iov[0].iov_base = &j->slots[first];
	j->iov[0].iov_len = n1 * JN_REC_SIZE;
	int niov = 1;
	if (n1 < n) {
		j->iov[1].iov_base = &j->slots[0];
		j->iov[1].iov_len = (n - n1) * JN_REC_SIZE;
		niov = 2;
	}
	uint64_t last = j->slots[(cons + n - 1) & j->mask].seq;
	if ((rc = jn__write(j, j->iov, niov, j->seg_off)) < 0)
		return rc;
	/* release: a reader of the file (jn_reader) may read up to last now */
	atomic_store_explicit(&j->written, last, memory_order_release);
	if (j->durability == JN_SYNC) {
		if ((rc = jn__datasync(j, j->fd)) < 0)
			return rc;
		atomic_store_explicit(&j->st_synced, last, memory_order_release);
	}
	j->seg_off += n * JN_REC_SIZE;
	atomic_fetch_add_explicit(&j->st_batches, 1, memory_order_relaxed);
	/* release: we are done reading these slots; the producer may reuse them */
	atomic_store_explicit(&j->cons, cons + n, memory_order_release);
	if (j->durability != JN_NONE)
		/* release: one publication per batch (invariant 2) */
		atomic_store_explicit(&j->durable, last, memory_order_release);
	return (int)n;
}

static void *jn__thread(void *arg)
{
	struct jn *j = arg;
	uint64_t cons = atomic_load_explicit(&j->cons, memory_order_relaxed);
	unsigned idle = 0;
	for (;;) {
		if (atomic_load_explicit(&j->failed, memory_order_relaxed)) {
			/* FAILED: stop consuming (the ring fills, appends get the error) */
			if (atomic_load_explicit(&j->stop, memory_order_acquire))
				break;
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		/* acquire: pairs with jn__publish(): slot contents are complete */
		uint64_t prod = atomic_load_explicit(&j->prod, memory_order_acquire);
		if (prod == cons) {
			if (atomic_load_explicit(&j->stop, memory_order_acquire) &&
			    atomic_load_explicit(&j->prod, memory_order_acquire) == cons)
				break;
			if (++idle < JN_SPIN)
				continue;
			struct timespec ts = { 0, j->idle_ns };
			nanosleep(&ts, NULL);
			continue;
		}
		idle = 0;
		int n = jn__commit(j, cons, prod - cons);
		if (n < 0) {
			jn__fail(j, n);
			continue;
		}
		cons += (uint64_t)n;
	}
	if (!atomic_load(&j->failed) && j->fd >= 0 && j->durability != JN_SYNC) {
		int rc = jn__datasync(j, j->fd);
		if (rc < 0)
			jn__fail(j, rc);
	}
	return NULL;
}

/* ---- Segments: listing and scanning ------------------------------------------------- */

struct jn_seglist {
	uint64_t *first;
	char (*name)[64];
	uint32_t n;
};

static void jn__segfree(struct jn_seglist *l)
{
	free(l->first);
	free(l->name);
	memset(l, 0, sizeof(*l));
}

static int jn__cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Lists DIR's files "<prefix><20 digits><suffix>" sorted by number. 0 or -errno. */
static int jn__list(const char *dir, const char *prefix, const char *suffix, const char *fmt,
		    struct jn_seglist *l)
{
	memset(l, 0, sizeof(*l));
	DIR *d = opendir(dir);
	if (d == NULL)
		return -errno;
	uint32_t cap = 0;
	struct dirent *e;
	size_t pl = strlen(prefix), sl = strlen(suffix);
	while ((e = readdir(d)) != NULL) {
		size_t len = strlen(e->d_name);
		if (len != pl + 20 + sl || strncmp(e->d_name, prefix, pl) ||
		    strcmp(e->d_name + pl + 20, suffix))
			continue;
		uint64_t v = 0;
		int ok = 1;
		for (size_t i = pl; i < pl + 20; i++) {
			if (e->d_name[i] < '0' || e->d_name[i] > '9')
				ok = 0;
			else
				v = v * 10 + (uint64_t)(e->d_name[i] - '0');
		}
		if (!ok)
			continue;
		if (l->n == cap) {
			cap = cap ? cap * 2 : 16;
			uint64_t *nf = realloc(l->first, cap * sizeof(*nf));
			if (nf == NULL) {
				closedir(d);
				jn__segfree(l);
				return -ENOMEM;
			}
			l->first = nf;
		}
		l->first[l->n++] = v;
	}
	closedir(d);
	if (l->n == 0)
		return 0;
	qsort(l->first, l->n, sizeof(uint64_t), jn__cmp_u64);
	l->name = calloc(l->n, sizeof(*l->name));
	if (l->name == NULL) {
		jn__segfree(l);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < l->n; i++)
		snprintf(l->name[i], sizeof(l->name[i]), fmt, l->first[i]);
	return 0;
}

/* The result of one pass over every segment (rule 6). */
struct jn_scan {
	struct jn_verify v;
	uint32_t end_idx;      /* where the valid data ends: segment index ... */
	uint64_t end_off;      /* ... and offset (the first slot that is not valid) */
	uint64_t end_size;     /* that segment's file size */
	int tail_nonzero;      /* a non-zero byte somewhere after the end: a torn tail */
	uint64_t next_seq;     /* seq after the last valid record */
	uint32_t last_writer;  /* the last valid record's writer field */
	uint32_t last_epoch;   /* the last valid record's epoch (rule 10) */
	uint32_t format;       /* rule 11: the other format found (v.status -EPROTONOSUPPORT) */
	char why[240];
};

/* Rule 9 for the next in-sequence record r: 0, or -EBADMSG with the reason in why when r
 * continues another writer's run. *run: the writer field of the record before (known:
 * a record was read). */
static int jn__writer_check(const struct jn_rec *r, uint32_t *run, int *known,
			    uint32_t *runs, char *why, size_t whylen)
{
	uint32_t tag = JN_WRITER_TAG(r->writer), prev = JN_WRITER_TAG(*run);
	if (*known && tag != prev && tag != 0 && !(r->writer & JN_WRITER_FIRST)) {
		snprintf(why, whylen, "records of two writers interleaved: seq %" PRIu64 " was "
			 "written by writer %08x, which did not start there, seq %" PRIu64 " before "
			 "it by writer %08x: two processes appended to this journal at once",
			 r->seq, tag, r->seq - 1, prev);
		return -EBADMSG;
	}
	if (!*known || tag != prev || (r->writer & JN_WRITER_FIRST))
		(*runs)++;
	*run = r->writer;
	*known = 1;
	return 0;
}

/* Scans; calls cb (when not NULL) for valid records with seq >= from before any bad slot.
 * Returns records passed to cb, a cb's non-zero (as is), or -errno; s->v.status tells. */
static int64_t jn__scan(const char *dir, const struct jn_seglist *l, uint64_t from,
			jn_iter_fn cb, void *arg, struct jn_scan *s)
{
	memset(s, 0, sizeof(*s));
	unsigned char *buf = malloc(JN_SCAN_CHUNK);
	if (buf == NULL)
		return -ENOMEM;
	int64_t count = 0;
	uint64_t expected = l->n ? l->first[0] : 1;
	s->v.segments = l->n;
	int bad = 0; /* 0 in valid data, 1 past its end, 2 corrupt in the middle */
	uint32_t run = 0;
	int run_known = 0;
	char path[4096];
	for (uint32_t i = 0; i < l->n && bad != 2; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, l->name[i]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			free(buf);
			return -errno;
		}
		struct stat st;
		if (fstat(fd, &st) < 0) {
			int e = -errno;
			close(fd);
			free(buf);
			return e;
		}
		uint64_t size = (uint64_t)st.st_size;
		if (!bad) {
			s->end_idx = i;
			s->end_off = size;
			s->end_size = size;
		}
		if (!bad && l->first[i] != expected) {
			/* The segment's name says where it starts: a mismatch is a gap. */
			bad = 2;
			s->end_idx = i;
			s->end_off = 0;
			snprintf(s->why, sizeof(s->why),
				 "sequence gap: segment starts at seq %" PRIu64 ", expected %" PRIu64,
				 l->first[i], expected);
		}
		for (uint64_t off = 0; off < size && bad != 2;) {
			ssize_t got = pread(fd, buf, JN_SCAN_CHUNK, (off_t)off);
			if (got < 0) {
				int e = -errno;
				close(fd);
				free(buf);
				return e;
			}
			if (got == 0)
				break;
			for (ssize_t k = 0; k < got && bad != 2; k += JN_REC_SIZE) {
				uint64_t at = off + (uint64_t)k;
				const struct jn_rec *r = (const struct jn_rec *)(buf + k);
				size_t have = (size_t)(got - k) < JN_REC_SIZE ? (size_t)(got - k)
									       : JN_REC_SIZE;
				int ok = have == JN_REC_SIZE && jn__valid(r);
				uint32_t fmt = have >= 4 ? jn__other_format(r) : 0;
				if (fmt) {
					/* Rule 11: another format is never a torn tail. */
					s->format = fmt;
					s->end_idx = i;
					s->end_off = at;
					bad = 2;
					snprintf(s->why, sizeof(s->why), "a record of journal format %u "
						 "(%s); this program reads format %d only", fmt,
						 fmt == 1 ? "96-byte records without epochs, written "
						 "before replication existed" : fmt > JN_FORMAT ?
						 "written by a newer tokex" : "an unknown format",
						 JN_FORMAT);
					break;
				}
				if (!bad && ok && r->seq == expected && s->v.last_epoch &&
				    r->epoch < s->v.last_epoch) {
					/* Rule 10: a deposed primary's record. */
					s->end_idx = i;
					s->end_off = at;
					bad = 2;
					snprintf(s->why, sizeof(s->why), "epoch went back: seq %" PRIu64
						 " was written under epoch %u after epoch %u: a record "
						 "of a deposed primary (fenced)", r->seq, r->epoch,
						 s->v.last_epoch);
					break;
				}
				if (!bad && ok && r->seq == expected &&
				    jn__writer_check(r, &run, &run_known, &s->v.writer_runs, s->why,
						     sizeof(s->why)) < 0) {
					s->end_off = at;
					bad = 2;
					break;
				}
				if (bad == 1) {
					if (ok) {
						/* A valid record after the end: middle corruption. */
						bad = 2;
						snprintf(s->why + strlen(s->why),
							 sizeof(s->why) - strlen(s->why),
							 "; a valid record (seq %" PRIu64 ") follows at "
							 "%s offset %" PRIu64, r->seq, l->name[i], at);
					} else if (!jn__is_zero(r, have)) {
						s->tail_nonzero = 1;
					}
					continue;
				}
				if (ok && r->seq == expected) {
					expected++;
					s->v.records++;
					if (!s->v.first_epoch)
						s->v.first_epoch = r->epoch;
					else if (r->epoch > s->v.last_epoch)
						s->v.epoch_changes++;
					s->v.last_epoch = r->epoch;
					if (!s->v.first_seq)
						s->v.first_seq = r->seq;
					s->v.last_seq = r->seq;
					if (cb && r->seq >= from) {
						struct jn_pos pos = { l->name[i], at };
						int c = cb(r, &pos, arg);
						if (c) {
							close(fd);
							free(buf);
							return c;
						}
						count++;
					}
					continue;
				}
				s->end_off = at;
				if (ok) { /* a valid record out of sequence: a gap */
					bad = 2;
					snprintf(s->why, sizeof(s->why),
						 "sequence gap: found seq %" PRIu64 ", expected %" PRIu64,
						 r->seq, expected);
					break;
				}
				bad = 1;
				s->tail_nonzero = !jn__is_zero(r, have);
				snprintf(s->why, sizeof(s->why), "%s",
					 have < JN_REC_SIZE ? "partial record" :
					 !s->tail_nonzero ? "zero-filled slot" :
					 r->magic != JN_REC_MAGIC ? "bad magic" :
					 r->len > JN_MAX_PAYLOAD ? "bad length" : "bad CRC");
			}
			off += (uint64_t)got;
		}
		close(fd);
	}
	s->next_seq = expected;
	s->last_writer = run;
	s->last_epoch = s->v.last_epoch;
	s->v.format = s->format;
	s->v.status = s->format ? -EPROTONOSUPPORT : bad == 2 ? -EBADMSG : s->tail_nonzero ? 1 : 0;
	if (s->v.status) {
		snprintf(s->v.bad_segment, sizeof(s->v.bad_segment), "%s", l->name[s->end_idx]);
		s->v.bad_offset = s->end_off;
		s->v.bad_seq = expected;
		s->v.tail_bytes = s->end_size > s->end_off ? s->end_size - s->end_off : 0;
	}
	free(buf);
	return count;
}

static void jn__corrupt_msg(const char *dir, const struct jn_scan *s, char *err, size_t errlen)
{
	if (s->format) {
		jn__msg(err, errlen,
			"journal: %s/%s offset %" PRIu64 ": %s. Refusing to read it: recover it "
			"with the tokexd that wrote it, or move %s aside to start a new journal",
			dir, s->v.bad_segment, s->v.bad_offset, s->why, dir);
		return;
	}
	jn__msg(err, errlen,
		"journal: corrupt in the middle: %s/%s offset %" PRIu64 " (seq %" PRIu64
		" expected): %s. Refusing to start. Run tokex-journal verify %s; restore from the "
		"standby, or, if you accept losing everything from seq %" PRIu64 " on, "
		"tokex-journal truncate %s --segment %s --at %" PRIu64,
		dir, s->v.bad_segment, s->v.bad_offset, s->v.bad_seq, s->why, dir, s->v.bad_seq,
		dir, s->v.bad_segment, s->v.bad_offset);
}

int64_t jn_iter(const char *dir, uint64_t from_seq, jn_iter_fn cb, void *arg, char *err,
		size_t errlen)
{
	struct jn_seglist l;
	int rc = jn__list(dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0)
		return rc;
	if (l.n == 0) {
		jn__msg(err, errlen, "journal: no segment in %s", dir);
		return -ENOENT;
	}
	struct jn_scan s;
	int64_t n = jn__scan(dir, &l, from_seq, cb, arg, &s);
	if (n >= 0 && s.v.status < 0) {
		jn__corrupt_msg(dir, &s, err, errlen);
		n = s.v.status;
	}
	jn__segfree(&l);
	return n;
}

struct jn_replay_arg {
	jn_replay_fn cb;
	void *arg;
};

static int jn__replay_cb(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	(void)pos;
	struct jn_replay_arg *a = arg;
	return a->cb(r, a->arg);
}

int64_t jn_replay(const char *dir, uint64_t from_seq, jn_replay_fn cb, void *arg)
{
	struct jn_replay_arg a = { cb, arg };
	return jn_iter(dir, from_seq, jn__replay_cb, &a, NULL, 0);
}

int jn_verify(const char *dir, struct jn_verify *v, char *msg, size_t msglen)
{
	struct jn_seglist l;
	memset(v, 0, sizeof(*v));
	int rc = jn__list(dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0) {
		jn__msg(msg, msglen, "journal: cannot read %s: %s", dir, strerror(-rc));
		return rc;
	}
	struct jn_scan s;
	int64_t n = jn__scan(dir, &l, 0, NULL, NULL, &s);
	jn__segfree(&l);
	if (n < 0) {
		jn__msg(msg, msglen, "journal: reading %s: %s", dir, strerror((int)-n));
		return (int)n;
	}
	*v = s.v;
	if (s.v.status < 0)
		jn__corrupt_msg(dir, &s, msg, msglen);
	else if (s.v.status == 1)
		jn__msg(msg, msglen,
			"journal: torn tail at %s offset %" PRIu64 ": %s (%" PRIu64
			" bytes; cut on the next open)", s.v.bad_segment, s.v.bad_offset, s.why,
			s.v.tail_bytes);
	else
		jn__msg(msg, msglen, "journal: ok: %" PRIu64 " records, seq %" PRIu64 "..%" PRIu64
			", %u segments, %u writer runs, epochs %u..%u", s.v.records, s.v.first_seq,
			s.v.last_seq, s.v.segments, s.v.writer_runs, s.v.first_epoch,
			s.v.last_epoch);
	return 0;
}

/* ---- Reading while a writer appends (jn_reader) ----------------------------------------- */

int64_t jn_first_seq(const char *dir)
{
	struct jn_seglist l;
	int rc = jn__list(dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0)
		return rc;
	int64_t first = l.n ? (int64_t)l.first[0] : 0;
	jn__segfree(&l);
	return first;
}

/* Opens the segment that holds seq (the newest whose first is <= seq). */
static int jn__reader_seek(struct jn_reader *rd, uint64_t seq)
{
	struct jn_seglist l;
	int rc = jn__list(rd->dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0)
		return rc;
	int64_t k = -1;
	for (uint32_t i = 0; i < l.n; i++)
		if (l.first[i] <= seq)
			k = i;
	if (k < 0) {
		jn__segfree(&l);
		return -ENOENT; /* pruned (or no journal) */
	}
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", rd->dir, l.name[k]);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		jn__segfree(&l);
		return rc == -ENOENT ? -ENOENT : rc; /* pruned meanwhile */
	}
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = fd;
	rd->seg_first = l.first[k];
	jn__segfree(&l);
	return 0;
}

int jn_reader_open(struct jn_reader *rd, const char *dir, uint64_t from_seq)
{
	memset(rd, 0, sizeof(*rd));
	rd->fd = -1;
	snprintf(rd->dir, sizeof(rd->dir), "%s", dir);
	rd->next_seq = from_seq ? from_seq : 1;
	return jn__reader_seek(rd, rd->next_seq);
}

void jn_reader_close(struct jn_reader *rd)
{
	if (rd->fd >= 0)
		close(rd->fd);
	rd->fd = -1;
}

int jn_reader_read(struct jn_reader *rd, struct jn_rec *out, uint32_t max, uint64_t upto,
		   char *err, size_t errlen)
{
	uint32_t n = 0;
	int switched = 0;
	while (n < max && rd->next_seq <= upto) {
		if (rd->fd < 0)
			return -EBADF;
		uint32_t want = max - n;
		if ((uint64_t)want > upto - rd->next_seq + 1)
			want = (uint32_t)(upto - rd->next_seq + 1);
		off_t off = (off_t)((rd->next_seq - rd->seg_first) * JN_REC_SIZE);
		ssize_t got = pread(rd->fd, out + n, (size_t)want * JN_REC_SIZE, off);
		if (got < 0)
			return -errno;
		uint32_t k = (uint32_t)(got / JN_REC_SIZE), ok = 0;
		for (; ok < k; ok++) {
			const struct jn_rec *r = &out[n + ok];
			if (r->magic == 0 && r->seq == 0)
				break; /* the end of this segment's data: the next segment */
			uint32_t fmt;
			int c = jn_rec_check(r, &fmt);
			if (c == 0 && r->seq != rd->next_seq)
				c = -EBADMSG;
			if (c < 0 && n + ok > 0)
				return (int)(n + ok); /* the good ones first; the next call errs */
			if (c < 0) {
				jn__msg(err, errlen, "journal %s: segment jn-%020" PRIu64 ".log offset %"
					PRIu64 ": %s (seq %" PRIu64 " expected)", rd->dir, rd->seg_first,
					(uint64_t)off + (uint64_t)ok * JN_REC_SIZE,
					c == -EPROTONOSUPPORT ? "a record of another journal format" :
					r->seq != rd->next_seq && jn__valid(r) ? "sequence gap" :
					"not a valid record", rd->next_seq);
				return c;
			}
			rd->next_seq++;
			switched = 0;
		}
		n += ok;
		if (ok == want)
			continue;
		/* The segment ends before upto: the next one starts at next_seq. */
		if (switched) {
			jn__msg(err, errlen, "journal %s: seq %" PRIu64 " is written but in no "
				"segment", rd->dir, rd->next_seq);
			return -EBADMSG;
		}
		int rc = jn__reader_seek(rd, rd->next_seq);
		if (rc < 0)
			return rc;
		if (rd->seg_first != rd->next_seq) {
			jn__msg(err, errlen, "journal %s: seq %" PRIu64 " is written but its segment "
				"is not there", rd->dir, rd->next_seq);
			return -EBADMSG;
		}
		switched = 1;
	}
	return (int)n;
}

static struct jn_lock *jn__lock(const char *dir, int create, char *err, size_t errlen);

int jn_truncate(const char *dir, const char *segment, uint64_t offset, char *err,
		size_t errlen)
{
	if (offset % JN_REC_SIZE)
		return -EINVAL;
	/* A writer's appends would land past the cut, or its recovery would read half a cut. */
	struct jn_lock *lk = jn__lock(dir, 0, err, errlen);
	if (lk == NULL)
		return -errno;
	struct jn_seglist l;
	int rc = jn__list(dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0) {
		jn_unlock(lk);
		return rc;
	}
	uint32_t i;
	for (i = 0; i < l.n; i++)
		if (strcmp(l.name[i], segment) == 0)
			break;
	if (i == l.n) {
		jn__segfree(&l);
		jn_unlock(lk);
		return -ENOENT;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, segment);
	struct stat st;
	rc = 0;
	if (stat(path, &st) < 0)
		rc = -errno;
	else if (offset > (uint64_t)st.st_size)
		rc = -ERANGE; /* truncate(2) would extend the file */
	else if (truncate(path, (off_t)offset) < 0)
		rc = -errno;
	for (uint32_t k = i + 1; rc == 0 && k < l.n; k++) {
		snprintf(path, sizeof(path), "%s/%s", dir, l.name[k]);
		if (unlink(path) < 0)
			rc = -errno;
	}
	jn__segfree(&l);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (rc == 0)
			rc = jn__fsync_dir(dfd);
		close(dfd);
	}
	jn_unlock(lk);
	return rc;
}

int jn_prune(const char *dir, uint64_t upto_seq)
{
	struct jn_seglist l;
	int rc = jn__list(dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0)
		return rc;
	int n = 0;
	char path[4096];
	/* segment i holds [first[i], first[i+1]); the last one is never deleted */
	for (uint32_t i = 0; i + 1 < l.n; i++) {
		if (l.first[i + 1] > upto_seq + 1)
			break;
		snprintf(path, sizeof(path), "%s/%s", dir, l.name[i]);
		if (unlink(path) < 0) {
			rc = -errno;
			break;
		}
		n++;
	}
	jn__segfree(&l);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		if (n && rc == 0)
			rc = jn__fsync_dir(dfd);
		close(dfd);
	}
	return rc < 0 ? rc : n;
}

/* ---- Snapshots ------------------------------------------------------------------------ */

struct jn_snap_hdr {
	uint32_t magic;
	uint32_t blob_crc;
	uint64_t seq;
	uint64_t len;
	uint32_t hdr_crc; /* over the 24 bytes above */
	uint32_t pad;
};

static uint32_t jn__crc(const void *p, size_t n)
{
	uLong c = crc32(0L, Z_NULL, 0);
	const unsigned char *b = p;
	while (n) {
		uInt k = n > (1u << 30) ? (1u << 30) : (uInt)n;
		c = crc32(c, b, k);
		b += k;
		n -= k;
	}
	return (uint32_t)c;
}

static int jn__write_all(int fd, const void *p, size_t n)
{
	const char *b = p;
	while (n) {
		ssize_t w = write(fd, b, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		b += w;
		n -= (size_t)w;
	}
	return 0;
}

int jn_snapshot_write(const char *dir, uint64_t seq, const void *blob, size_t len)
{
	char tmp[4096], fin[4096];
	snprintf(tmp, sizeof(tmp), "%s/snap-%020" PRIu64 ".tmp", dir, seq);
	snprintf(fin, sizeof(fin), "%s/" JN_SNAP_FMT, dir, seq);
	struct jn_snap_hdr h = { JN_SNAP_MAGIC, jn__crc(blob, len), seq, len, 0, 0 };
	h.hdr_crc = jn__crc(&h, 24);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	int rc = jn__write_all(fd, &h, sizeof(h));
	if (rc == 0)
		rc = jn__write_all(fd, blob, len);
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	close(fd);
	if (rc == 0 && rename(tmp, fin) < 0)
		rc = -errno;
	if (rc < 0) {
		unlink(tmp);
		return rc;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	rc = jn__fsync_dir(dfd);
	close(dfd);
	return rc;
}

int jn_snapshot_latest(const char *dir, uint64_t *seq, void *buf, size_t cap, size_t *len)
{
	struct jn_seglist l;
	int rc = jn__list(dir, "snap-", ".snap", JN_SNAP_FMT, &l);
	if (rc < 0)
		return rc;
	rc = -ENOENT;
	char path[4096];
	for (uint32_t k = l.n; k-- > 0;) {
		snprintf(path, sizeof(path), "%s/%s", dir, l.name[k]);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		struct jn_snap_hdr h;
		struct stat st;
		if (pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h) || fstat(fd, &st) < 0 ||
		    h.magic != JN_SNAP_MAGIC || h.hdr_crc != jn__crc(&h, 24) ||
		    h.seq != l.first[k] || (uint64_t)st.st_size != sizeof(h) + h.len) {
			close(fd);
			continue; /* corrupt or foreign: fall back to an older one */
		}
		if (h.len > cap) {
			close(fd);
			*seq = h.seq;
			*len = (size_t)h.len;
			rc = -ENOBUFS;
			break;
		}
		ssize_t got = pread(fd, buf, (size_t)h.len, sizeof(h));
		close(fd);
		if (got != (ssize_t)h.len || jn__crc(buf, (size_t)h.len) != h.blob_crc)
			continue;
		*seq = h.seq;
		*len = (size_t)h.len;
		rc = 0;
		break;
	}
	jn__segfree(&l);
	return rc;
}

/* ---- The directory's lock (rule 8) ------------------------------------------------------ */

/* One line naming this process, read by a refused one: pid, program, since when, and the
 * command line last (it may be cut). Informational: the OFD lock is what excludes. */
static void jn__lock_name(int fd)
{
	char cmd[320] = "", since[40], line[512];
	int c = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	if (c >= 0) {
		ssize_t n = read(c, cmd, sizeof(cmd) - 1);
		close(c);
		for (ssize_t i = 0; i < n; i++)
			if ((unsigned char)cmd[i] < ' ')
				cmd[i] = ' '; /* NUL between arguments; no control characters */
		cmd[n > 0 ? n : 0] = 0;
		for (size_t k = strlen(cmd); k > 0 && cmd[k - 1] == ' '; k--)
			cmd[k - 1] = 0;
	}
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
	int n = snprintf(line, sizeof(line), "pid=%ld program=%s since=%s cmdline=%s\n",
			 (long)getpid(), program_invocation_short_name, since, cmd);
	if (n > (int)sizeof(line) - 1)
		n = (int)sizeof(line) - 1;
	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) < 0) {
		/* the name is for the operator only; the lock is held regardless */
	}
}

/* err: who holds DIR's lock, from its lock file. The holder writes its name just after
 * taking the lock: a refusal that reads an empty or old file waits a little for it. */
static void jn__lock_holder(int fd, const char *dir, char *err, size_t errlen)
{
	char line[512], prog[64] = "?", since[40] = "?", cmd[320] = "";
	long pid = 0;
	for (int tries = 0; tries < 40; tries++) { /* up to 2 s */
		ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
		if (n > 0) {
			line[n] = 0;
			cmd[0] = 0;
			if (sscanf(line, "pid=%ld program=%63s since=%39s cmdline=%319[^\n]", &pid,
				   prog, since, cmd) >= 3 &&
			    pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM))
				break;
		}
		pid = 0;
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	}
	if (pid > 0)
		jn__msg(err, errlen, "journal: %s is in use by pid %ld (%s, holding it since %s): a "
			"journal has one writer; stop that process, or use another directory. Its "
			"command line: %s", dir, pid, prog, since, cmd[0] ? cmd : "?");
	else
		jn__msg(err, errlen, "journal: %s is in use by another process (its lock file %s/"
			JN_LOCK_FILE " names no running process: one in another PID namespace?): a "
			"journal has one writer", dir, dir);
}

static struct jn_lock *jn__lock(const char *dir, int create, char *err, size_t errlen)
{
	int e;
	if (create && mkdir(dir, 0755) < 0 && errno != EEXIST) {
		e = errno;
		jn__msg(err, errlen, "journal: cannot create %s: %s", dir, strerror(e));
		errno = e;
		return NULL;
	}
	struct jn_lock *l = calloc(1, sizeof(*l));
	if (l == NULL) {
		jn__msg(err, errlen, "journal: out of memory");
		errno = ENOMEM;
		return NULL;
	}
	char path[4096];
	snprintf(path, sizeof(path), "%s/" JN_LOCK_FILE, dir);
	struct stat st;
	l->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (l->fd < 0 || stat(dir, &st) < 0) {
		e = errno;
		jn__msg(err, errlen, "journal: cannot open %s: %s", path, strerror(e));
		goto fail;
	}
	l->dev = st.st_dev;
	l->ino = st.st_ino;
	/* OFD, not POSIX, locks: owned by this open file description, so a second open in
	 * this process conflicts too, and closing another descriptor of the file (a tool, a
	 * library) does not drop it. l_pid must be 0. */
	struct flock fl;
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_WRLCK;
	fl.l_whence = SEEK_SET;
	if (fcntl(l->fd, F_OFD_SETLK, &fl) < 0) {
		e = errno;
		if (e == EAGAIN || e == EACCES) {
			jn__lock_holder(l->fd, dir, err, errlen);
			e = EBUSY;
		} else {
			jn__msg(err, errlen, "journal: cannot lock %s: %s", path, strerror(e));
		}
		goto fail;
	}
	jn__lock_name(l->fd);
	return l;
fail:
	if (l->fd >= 0)
		close(l->fd);
	free(l);
	errno = e;
	return NULL;
}

struct jn_lock *jn_lock(const char *dir, char *err, size_t errlen)
{
	return jn__lock(dir, 1, err, errlen);
}

void jn_unlock(struct jn_lock *l)
{
	if (l == NULL)
		return;
	close(l->fd); /* releases the OFD lock; the file stays, naming the last holder */
	free(l);
}

/* A tag for a new writer run (rule 9): random, 31 bits, not 0, not the last one's. */
static uint32_t jn__draw_tag(uint32_t last)
{
	uint32_t t = 0;
	for (uint32_t k = 0; t == 0 || t == last; k++) {
		if (getrandom(&t, sizeof(t), GRND_NONBLOCK) != (ssize_t)sizeof(t)) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			t = (uint32_t)ts.tv_nsec * 2654435761u ^ (uint32_t)getpid() ^ k;
		}
		t = JN_WRITER_TAG(t);
	}
	return t;
}

/* ---- Open / close ----------------------------------------------------------------------- */

static void jn__log(const struct jn_config *cfg, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void jn__log(const struct jn_config *cfg, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (cfg->log)
		cfg->log(cfg->log_arg, line);
	else
		fprintf(stderr, "%s\n", line);
}

static void jn__free(struct jn *j)
{
	if (j->uring_ok)
		io_uring_queue_exit(&j->uring);
	if (j->fd >= 0)
		close(j->fd);
	if (j->dirfd >= 0)
		close(j->dirfd);
	jn_unlock(j->lock);
	free(j->slots);
	free(j->dir);
	free(j);
}

/* Recovery (rule 6): repairs a torn tail, positions the writer. 0 or -errno. */
static int jn__recover(struct jn *j, const struct jn_config *cfg, char *err, size_t errlen)
{
	struct jn_seglist l;
	int rc = jn__list(j->dir, "jn-", ".log", JN_SEG_FMT, &l);
	if (rc < 0) {
		jn__msg(err, errlen, "journal: cannot list %s: %s", j->dir, strerror(-rc));
		return rc;
	}
	if (l.n == 0) {
		j->p.next_seq = cfg->first_seq ? cfg->first_seq : 1;
		j->seg_off = j->seg_cap = 0; /* the first commit rolls to jn-<first>.log */
		jn__segfree(&l);
		return 0;
	}
	struct jn_scan s;
	int64_t n = jn__scan(j->dir, &l, 0, NULL, NULL, &s);
	if (n < 0) {
		jn__msg(err, errlen, "journal: reading %s: %s", j->dir, strerror((int)-n));
		jn__segfree(&l);
		return (int)n;
	}
	if (s.v.status < 0) {
		jn__corrupt_msg(j->dir, &s, err, errlen);
		jn__segfree(&l);
		return s.v.status;
	}
	char path[4096];
	/* Segments after the end of the valid data hold no valid record (else status < 0):
	 * a crash between a roll and its first write, or garbage. They go. */
	for (uint32_t k = l.n - 1; k > s.end_idx; k--) {
		snprintf(path, sizeof(path), "%s/%s", j->dir, l.name[k]);
		if (unlink(path) < 0) {
			rc = -errno;
			jn__msg(err, errlen, "journal: cannot remove %s: %s", path, strerror(-rc));
			jn__segfree(&l);
			return rc;
		}
		jn__log(cfg, "journal: removed segment %s: no valid record after the end of the "
			"data at segment %s offset %" PRIu64, l.name[k], l.name[s.end_idx],
			s.end_off);
	}
	uint32_t last = s.end_idx;
	uint64_t end = s.end_off; /* where appends continue */
	snprintf(path, sizeof(path), "%s/%s", j->dir, l.name[last]);
	int fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		rc = -errno;
		jn__msg(err, errlen, "journal: cannot open %s: %s", path, strerror(-rc));
		jn__segfree(&l);
		return rc;
	}
	uint64_t size = s.end_size;
	if (s.v.status == 1) {
		/* Zero-filled preallocation is the normal end and is left alone; anything
		 * else after the last valid record is a torn write: cut (the preallocation
		 * is restored below) and logged. */
		if (ftruncate(fd, (off_t)end) < 0 || fdatasync(fd) < 0) {
			rc = -errno;
			jn__msg(err, errlen, "journal: cannot truncate %s: %s", path, strerror(-rc));
			close(fd);
			jn__segfree(&l);
			return rc;
		}
		jn__log(cfg, "journal: truncated torn tail at segment %s offset %" PRIu64
			": %" PRIu64 " bytes (%s)", l.name[last], end, size - end, s.why);
		size = end;
	}
	uint64_t cap = size / JN_REC_SIZE * JN_REC_SIZE;
	if (cap < j->seg_bytes) {
		if (fallocate(fd, 0, 0, (off_t)j->seg_bytes) < 0) {
			rc = -errno;
			jn__msg(err, errlen, "journal: cannot preallocate %s: %s", path,
				strerror(-rc));
			close(fd);
			jn__segfree(&l);
			return rc;
		}
		cap = j->seg_bytes;
	}
	if (fdatasync(fd) < 0 || jn__fsync_dir(j->dirfd) < 0) {
		rc = -errno;
		close(fd);
		jn__segfree(&l);
		return rc;
	}
	j->fd = fd;
	j->seg_off = end;
	j->seg_cap = cap;
	j->p.next_seq = s.next_seq;
	j->tag = s.last_writer; /* jn_open() draws another */
	j->p.epoch = s.last_epoch;
	jn__segfree(&l);
	return 0;
}

struct jn *jn_open(const struct jn_config *cfg, char *err, size_t errlen)
{
	uint32_t ring = cfg->ring_size ? cfg->ring_size : JN_DEF_RING;
	uint64_t seg = cfg->segment_bytes ? cfg->segment_bytes : JN_DEF_SEGMENT;
	seg = seg / JN_REC_SIZE * JN_REC_SIZE;
	if (cfg->dir == NULL || (ring & (ring - 1)) || ring < 2 || cfg->durability > JN_NONE ||
	    seg == 0) {
		jn__msg(err, errlen, "journal: bad configuration (dir, ring_size a power of two "
			">= 2, durability, segment_bytes >= %d)", JN_REC_SIZE);
		jn_unlock(cfg->lock);
		errno = EINVAL;
		return NULL;
	}
	struct jn *j = aligned_alloc(64, sizeof(*j));
	if (j == NULL) {
		jn_unlock(cfg->lock);
		errno = ENOMEM;
		return NULL;
	}
	memset(j, 0, sizeof(*j));
	j->fd = -1;
	j->dirfd = -1;
	j->lock = cfg->lock;
	j->mask = ring - 1;
	j->durability = cfg->durability;
	j->max_batch = cfg->max_batch ? cfg->max_batch : JN_DEF_BATCH;
	j->idle_ns = cfg->idle_ns ? cfg->idle_ns : JN_DEF_IDLE_NS;
	j->seg_bytes = seg;
	j->dir = strdup(cfg->dir);
	size_t ring_bytes = ((size_t)ring * JN_REC_SIZE + 4095) & ~(size_t)4095;
	j->slots = aligned_alloc(4096, ring_bytes);
	int rc;
	if (j->dir == NULL || j->slots == NULL) {
		jn__free(j);
		errno = ENOMEM;
		return NULL;
	}
	memset(j->slots, 0, ring_bytes);
	/* The lock before anything in the directory is read or written (rule 8); it creates
	 * the directory when missing. */
	if (j->lock == NULL && (j->lock = jn_lock(cfg->dir, err, errlen)) == NULL) {
		rc = errno;
		jn__free(j);
		errno = rc;
		return NULL;
	}
	j->dirfd = open(cfg->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0) {
		rc = errno;
		jn__msg(err, errlen, "journal: cannot open %s: %s", cfg->dir, strerror(rc));
		jn__free(j);
		errno = rc;
		return NULL;
	}
	struct stat st;
	if (fstat(j->dirfd, &st) < 0 || st.st_dev != j->lock->dev || st.st_ino != j->lock->ino) {
		jn__msg(err, errlen, "journal: the lock given for %s is another directory's",
			cfg->dir);
		jn__free(j);
		errno = EINVAL;
		return NULL;
	}
	if ((rc = jn__recover(j, cfg, err, errlen)) < 0) {
		jn__free(j);
		errno = -rc;
		return NULL;
	}
	/* Rule 10: under the configured epoch, never below the last record's. */
	if (cfg->epoch && cfg->epoch < j->p.epoch) {
		jn__msg(err, errlen, "journal: %s: asked to write under epoch %u, but its last "
			"record is of epoch %u: this writer is fenced (a newer primary wrote here)",
			cfg->dir, cfg->epoch, j->p.epoch);
		jn__free(j);
		errno = ESTALE;
		return NULL;
	}
	if (cfg->epoch > j->p.epoch)
		j->p.epoch = cfg->epoch;
	if (j->p.epoch == 0)
		j->p.epoch = 1;
	j->tag = jn__draw_tag(JN_WRITER_TAG(j->tag));
	j->p.writer = j->tag | JN_WRITER_FIRST;
	atomic_store(&j->durable, j->p.next_seq - 1); /* what is on disk is durable */
	atomic_store(&j->st_synced, j->p.next_seq - 1);
	atomic_store(&j->written, j->p.next_seq - 1);
	if ((rc = io_uring_queue_init(8, &j->uring, 0)) < 0) {
		jn__msg(err, errlen, "journal: io_uring_queue_init: %s (is io_uring disabled? "
			"see /proc/sys/kernel/io_uring_disabled)", strerror(-rc));
		jn__free(j);
		errno = -rc;
		return NULL;
	}
	j->uring_ok = 1;
	/* The segment the first append goes to, now: a disk without room for one is refused
	 * at start, not discovered at the first request (which would then be rejected, and
	 * every one after it). */
	if (j->seg_off >= j->seg_cap && (rc = jn__roll(j, j->p.next_seq)) < 0) {
		char name[64];
		snprintf(name, sizeof(name), JN_SEG_FMT, j->p.next_seq);
		jn__msg(err, errlen, "journal: cannot allocate its segment %s/%s (%" PRIu64
			" bytes): %s; nothing was written: free space there or use another "
			"directory", cfg->dir, name, j->seg_bytes, strerror(-rc));
		jn__free(j);
		errno = -rc;
		return NULL;
	}
	if ((rc = pthread_create(&j->thread, NULL, jn__thread, j)) != 0) {
		jn__msg(err, errlen, "journal: cannot start its thread: %s", strerror(rc));
		jn__free(j);
		errno = rc;
		return NULL;
	}
	j->thread_started = 1;
	return j;
}

int jn_close(struct jn *j)
{
	if (j == NULL)
		return 0;
	if (j->thread_started) {
		atomic_store_explicit(&j->stop, 1, memory_order_release);
		pthread_join(j->thread, NULL);
	}
	int rc = atomic_load(&j->failed);
	jn__free(j);
	return rc;
}
