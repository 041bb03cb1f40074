/*
 * test_journal.c - the journal (dataplane/journal/jn_journal.c): append/replay round trip
 * under each durability policy, recovery of torn tails, refusal of middle corruption and
 * sequence gaps, injected disk faults (ENOSPC, EIO, short writes), ring full, snapshots
 * and pruning, the directory's writer lock (a second writer refused, naming the first),
 * writer runs (records of two writers interleaved are refused), a segment that cannot be
 * allocated refused at open. Each test works in its own mkdtemp directory under /tmp.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "jn_journal.h"

#define SEG_RECS 1000 /* small segments: the round trip rolls through many */

struct tdir {
	char path[64];
	char log[4096];
};

static void tlog(void *arg, const char *line)
{
	struct tdir *d = arg;
	size_t n = strlen(d->log);
	snprintf(d->log + n, sizeof(d->log) - n, "%s\n", line);
}

static void tdir_make(struct tdir *d)
{
	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/tkx-jn-XXXXXX");
	assert_non_null(mkdtemp(d->path));
}

static void tdir_rm(struct tdir *d)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->path);
	assert_int_equal(system(cmd), 0);
}

static struct jn_config tcfg(struct tdir *d, uint32_t durability)
{
	struct jn_config c;
	memset(&c, 0, sizeof(c));
	c.dir = d->path;
	c.durability = durability;
	c.ring_size = 4096;
	c.max_batch = 512;
	c.segment_bytes = (uint64_t)SEG_RECS * JN_REC_SIZE;
	c.idle_ns = 20000;
	c.log = tlog;
	c.log_arg = d;
	return c;
}

static struct jn *topen(struct tdir *d, uint32_t durability)
{
	struct jn_config c = tcfg(d, durability);
	char err[1024];
	struct jn *j = jn_open(&c, err, sizeof(err));
	if (j == NULL)
		fail_msg("jn_open: %s", err);
	return j;
}

/* Payload derived from the seq so that replay can check every byte. */
static void payload(uint64_t seq, uint8_t *p, uint32_t *len)
{
	*len = (uint32_t)(seq % (JN_MAX_PAYLOAD + 1));
	for (uint32_t i = 0; i < *len; i++)
		p[i] = (uint8_t)(seq * 131 + i);
}

/* Appends until accepted (the ring may be full: the producer would reject BUSY; here we
 * retry) and returns the seq. */
static uint64_t append_one(struct jn *j, uint64_t expect)
{
	uint8_t p[JN_MAX_PAYLOAD];
	uint32_t len;
	payload(expect, p, &len);
	for (;;) {
		int64_t s = jn_append(j, JN_T_MARK, p, len, 1000000000ull * expect);
		if (s > 0) {
			assert_int_equal(s, expect);
			return (uint64_t)s;
		}
		assert_int_equal(s, 0);
		usleep(50);
	}
}

struct check {
	uint64_t next;
	uint64_t n;
};

static int check_cb(const struct jn_rec *r, void *arg)
{
	struct check *c = arg;
	uint8_t p[JN_MAX_PAYLOAD];
	uint32_t len;
	if (r->seq != c->next)
		return -1000;
	payload(r->seq, p, &len);
	if (r->len != len || memcmp(r->payload, p, len) || r->type != JN_T_MARK ||
	    r->time_ns != 1000000000ull * r->seq)
		return -1001;
	c->next++;
	c->n++;
	return 0;
}

static void expect_replay(const char *dir, uint64_t from, uint64_t last)
{
	struct check c = { from, 0 };
	int64_t n = jn_replay(dir, from, check_cb, &c);
	assert_int_equal(n, last >= from ? last - from + 1 : 0);
	assert_int_equal(c.next, last + 1);
}

/* ---- round trip -------------------------------------------------------------------- */

#define N_ROUND 100000u

static void round_trip(uint32_t durability)
{
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, durability);
	assert_int_equal(jn_next_seq(j), 1);
	uint64_t prev_durable = 0;
	for (uint64_t s = 1; s <= N_ROUND; s++) {
		append_one(j, s);
		if (s % 997 == 0) {
			struct jn_stats st;
			uint64_t dur = jn_durable(j);
			jn_stats(j, &st); /* read after durable: synced is published first */
			assert_true(dur >= prev_durable); /* monotonic */
			assert_true(dur <= s);
			if (durability == JN_SYNC)
				assert_true(dur <= st.synced_seq);
			if (durability == JN_NONE)
				assert_int_equal(dur, s);
			prev_durable = dur;
		}
	}
	assert_int_equal(jn_wait_durable(j, N_ROUND, 60000), 0);
	struct jn_stats st;
	jn_stats(j, &st);
	assert_int_equal(st.durable, N_ROUND);
	if (durability != JN_NONE) { /* NONE publishes before the disk has seen anything */
		assert_true(st.segments >= N_ROUND / SEG_RECS);
		assert_true(st.batches < N_ROUND); /* group commit: batches of many */
	}
	assert_int_equal(jn_close(j), 0);
	expect_replay(d.path, 1, N_ROUND);
	expect_replay(d.path, 54321, N_ROUND);

	/* Reopen: the last segment is exactly full; appends continue in a new one. */
	j = topen(&d, durability);
	assert_int_equal(jn_next_seq(j), N_ROUND + 1);
	assert_int_equal(jn_durable(j), N_ROUND);
	for (uint64_t s = N_ROUND + 1; s <= N_ROUND + 10; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	expect_replay(d.path, 1, N_ROUND + 10);
	assert_string_equal(d.log, ""); /* nothing to repair */
	struct jn_verify v;
	char msg[1024];
	assert_int_equal(jn_verify(d.path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, 0);
	assert_int_equal(v.records, N_ROUND + 10);
	tdir_rm(&d);
}

static void test_round_trip_sync(void **state)
{
	(void)state;
	round_trip(JN_SYNC);
}

static void test_round_trip_async(void **state)
{
	(void)state;
	round_trip(JN_ASYNC);
}

static void test_round_trip_none(void **state)
{
	(void)state;
	round_trip(JN_NONE);
}

static void test_burst_and_bad_args(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, JN_ASYNC);
	uint8_t big[JN_MAX_PAYLOAD + 1] = {0};
	assert_int_equal(jn_append(j, JN_T_MARK, big, sizeof(big), 1), -EINVAL);
	struct jn_entry e[8];
	uint8_t p[8][JN_MAX_PAYLOAD];
	for (uint32_t i = 0; i < 8; i++) {
		uint32_t len;
		payload(i + 1, p[i], &len);
		e[i] = (struct jn_entry){ JN_T_MARK, (uint16_t)len, 0, p[i], 1000000000ull * (i + 1) };
	}
	uint64_t first = 0;
	assert_int_equal(jn_append_burst(j, e, 8, &first), 8);
	assert_int_equal(first, 1);
	assert_int_equal(jn_next_seq(j), 9);
	assert_int_equal(jn_close(j), 0);
	expect_replay(d.path, 1, 8);
	struct jn_config bad = tcfg(&d, JN_SYNC);
	bad.ring_size = 1000; /* not a power of two */
	char err[256];
	assert_null(jn_open(&bad, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	tdir_rm(&d);
}

/* ---- recovery ---------------------------------------------------------------------- */

#define SEG1 "jn-00000000000000000001.log"

static void fill(struct tdir *d, uint32_t durability, uint64_t n)
{
	struct jn *j = topen(d, durability);
	for (uint64_t s = 1; s <= n; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
}

static void seg_path(const struct tdir *d, const char *seg, char *out, size_t len)
{
	snprintf(out, len, "%s/%s", d->path, seg);
}

static void patch(const struct tdir *d, const char *seg, uint64_t off, const void *b, size_t n)
{
	char p[128];
	seg_path(d, seg, p, sizeof(p));
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, b, n, (off_t)off), (ssize_t)n);
	close(fd);
}

static void read_rec(const struct tdir *d, const char *seg, uint64_t idx, struct jn_rec *r)
{
	char p[128];
	seg_path(d, seg, p, sizeof(p));
	int fd = open(p, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, r, sizeof(*r), (off_t)(idx * JN_REC_SIZE)), sizeof(*r));
	close(fd);
}

/* After a repair the journal reopens at `next` and takes appends. */
static void reopen_append(struct tdir *d, uint64_t next)
{
	struct jn *j = topen(d, JN_SYNC);
	assert_int_equal(jn_next_seq(j), next);
	for (uint64_t s = next; s < next + 5; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	expect_replay(d->path, 1, next + 4);
}

static void test_torn_tail_mid_record(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, 600);
	char p[128];
	seg_path(&d, SEG1, p, sizeof(p));
	assert_int_equal(truncate(p, 500 * JN_REC_SIZE + 40), 0); /* record 501 half there */
	reopen_append(&d, 501);
	assert_non_null(strstr(d.log, "journal: truncated torn tail at segment " SEG1
				      " offset 64000: 40 bytes"));
	tdir_rm(&d);
}

static void test_torn_tail_garbage(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_ASYNC, 600);
	uint8_t junk[3 * JN_REC_SIZE + 7];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (uint8_t)(i * 7 + 1);
	patch(&d, SEG1, 598 * JN_REC_SIZE, junk, sizeof(junk)); /* over the last 2 and beyond */
	struct jn_verify v;
	char msg[1024];
	assert_int_equal(jn_verify(d.path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, 1);
	assert_int_equal(v.bad_offset, 598 * JN_REC_SIZE);
	reopen_append(&d, 599);
	char want[160];
	snprintf(want, sizeof(want), "journal: truncated torn tail at segment %s offset %d: %d bytes",
		 SEG1, 598 * JN_REC_SIZE, (SEG_RECS - 598) * JN_REC_SIZE);
	assert_non_null(strstr(d.log, want));
	tdir_rm(&d);
}

static void test_torn_tail_zeroed(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, 600);
	uint8_t z[5 * JN_REC_SIZE] = {0};
	patch(&d, SEG1, 595 * JN_REC_SIZE, z, sizeof(z)); /* never reached the disk */
	reopen_append(&d, 596);
	assert_string_equal(d.log, ""); /* zero preallocation is the normal end: no repair */
	tdir_rm(&d);
}

static void test_empty_segment_after_full(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, SEG_RECS); /* exactly one full segment */
	/* A crash right after a roll: the next segment exists, preallocated, empty. */
	char p[128];
	snprintf(p, sizeof(p), "%s/jn-%020d.log", d.path, SEG_RECS + 1);
	int fd = open(p, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SEG_RECS * JN_REC_SIZE), 0);
	close(fd);
	reopen_append(&d, SEG_RECS + 1);
	tdir_rm(&d);
}

static void expect_refusal(struct tdir *d, const char *want1, const char *want2)
{
	struct jn_config c = tcfg(d, JN_SYNC);
	char err[1024];
	errno = 0;
	assert_null(jn_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EBADMSG);
	if (!strstr(err, want1) || (want2 && !strstr(err, want2)))
		fail_msg("message: %s", err);
	assert_non_null(strstr(err, "tokex-journal verify"));
	assert_non_null(strstr(err, "tokex-journal truncate"));
	struct check ck = { 1, 0 };
	assert_int_equal(jn_replay(d->path, 1, check_cb, &ck), -EBADMSG);
	struct jn_verify v;
	assert_int_equal(jn_verify(d->path, &v, err, sizeof(err)), 0);
	assert_int_equal(v.status, -EBADMSG);
}

static void test_corrupt_middle(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, 300);
	struct jn_rec r;
	read_rec(&d, SEG1, 10, &r);
	uint8_t b = r.payload[3] ^ 0x40;
	patch(&d, SEG1, 10 * JN_REC_SIZE + offsetof(struct jn_rec, payload) + 3, &b, 1);
	expect_refusal(&d, SEG1 " offset 1280 (seq 11 expected): bad CRC",
		       "--segment " SEG1 " --at 1280");
	/* The operator accepts the loss: truncate there and start. */
	assert_int_equal(jn_truncate(d.path, SEG1, 1280, NULL, 0), 0);
	reopen_append(&d, 11);
	tdir_rm(&d);
}

static void test_seq_gap(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, 300);
	struct jn_rec r;
	read_rec(&d, SEG1, 19, &r); /* seq 20 */
	r.seq = 25;
	r.crc = jn_rec_crc(&r);
	patch(&d, SEG1, 19 * JN_REC_SIZE, &r, sizeof(r));
	expect_refusal(&d, "offset 2432 (seq 20 expected): sequence gap: found seq 25", NULL);
	tdir_rm(&d);
}

static void test_missing_segment(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_ASYNC, 3 * SEG_RECS + 10);
	char p[128];
	snprintf(p, sizeof(p), "%s/jn-%020d.log", d.path, SEG_RECS + 1);
	assert_int_equal(unlink(p), 0);
	expect_refusal(&d, "sequence gap: segment starts at seq 2001, expected 1001", NULL);
	tdir_rm(&d);
}

/* ---- writers: the lock (rule 8) and writer runs (rule 9) ------------------------------ */

static void expect_busy(struct tdir *d, long holder)
{
	struct jn_config c = tcfg(d, JN_SYNC);
	char err[1024], want[64];
	errno = 0;
	assert_null(jn_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EBUSY);
	snprintf(want, sizeof(want), "is in use by pid %ld (", holder);
	if (!strstr(err, want) || !strstr(err, "a journal has one writer") ||
	    !strstr(err, "test_journal"))
		fail_msg("message: %s", err);
	/* tokex-journal truncate writes too: refused the same way. */
	err[0] = 0;
	assert_int_equal(jn_truncate(d->path, SEG1, 0, err, sizeof(err)), -EBUSY);
	if (!strstr(err, want))
		fail_msg("truncate's message: %s", err);
}

static void test_lock_same_process(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, JN_SYNC);
	append_one(j, 1);
	expect_busy(&d, (long)getpid()); /* an OFD lock: a second open here conflicts too */
	assert_int_equal(jn_close(j), 0);
	/* Released: the journal opens again and goes on. */
	reopen_append(&d, 2);
	/* A lock taken first and handed to jn_open (tokexd takes it before anything else). */
	char err[1024];
	struct jn_lock *lk = jn_lock(d.path, err, sizeof(err));
	assert_non_null(lk);
	assert_null(jn_lock(d.path, err, sizeof(err)));
	assert_int_equal(errno, EBUSY);
	struct jn_config c = tcfg(&d, JN_SYNC);
	c.lock = lk;
	j = jn_open(&c, err, sizeof(err));
	if (j == NULL)
		fail_msg("jn_open with a lock: %s", err);
	assert_int_equal(jn_next_seq(j), 7);
	assert_int_equal(jn_close(j), 0);
	/* A lock of another directory is refused (and released). */
	struct tdir o;
	tdir_make(&o);
	c.lock = jn_lock(o.path, err, sizeof(err));
	assert_non_null(c.lock);
	assert_null(jn_open(&c, err, sizeof(err)));
	assert_int_equal(errno, EINVAL);
	lk = jn_lock(o.path, err, sizeof(err));
	assert_non_null(lk);
	jn_unlock(lk);
	tdir_rm(&o);
	tdir_rm(&d);
}

/* Another process holds the journal: refused, naming its pid; once it is killed (no clean
 * close: the kernel drops the lock) the journal opens. */
static void test_lock_other_process(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	int p[2];
	assert_int_equal(pipe(p), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		close(p[0]);
		struct jn_config c = tcfg(&d, JN_SYNC);
		char err[1024];
		struct jn *j = jn_open(&c, err, sizeof(err));
		char ok = j != NULL ? 'y' : 'n';
		if (write(p[1], &ok, 1) != 1 || j == NULL)
			_exit(1);
		for (;;)
			pause(); /* killed by the parent */
	}
	close(p[1]);
	char ok = 0;
	assert_int_equal(read(p[0], &ok, 1), 1);
	close(p[0]);
	assert_int_equal(ok, 'y');
	expect_busy(&d, (long)pid);
	kill(pid, SIGKILL);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	reopen_append(&d, 1);
	tdir_rm(&d);
}

static void copy_dir(const struct tdir *from, const struct tdir *to)
{
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "cp -a '%s/.' '%s/'", from->path, to->path);
	assert_int_equal(system(cmd), 0);
}

/* Slots [from, to) of `src` copied over the same slots of `dst` (SEG1). */
static void take_slots(const struct tdir *dst, const struct tdir *src, uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++) {
		struct jn_rec r;
		read_rec(src, SEG1, i, &r);
		patch(dst, SEG1, i * JN_REC_SIZE, &r, sizeof(r));
	}
}

static void expect_interleaved(struct tdir *d, uint64_t seq)
{
	struct jn_verify v;
	char msg[1024], want[96];
	assert_int_equal(jn_verify(d->path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, -EBADMSG);
	assert_int_equal(v.bad_seq, seq);
	assert_int_equal(v.bad_offset, (seq - 1) * JN_REC_SIZE);
	snprintf(want, sizeof(want), "records of two writers interleaved: seq %" PRIu64, seq);
	if (!strstr(msg, want))
		fail_msg("verify said: %s", msg);
	snprintf(want, sizeof(want), "offset %" PRIu64, (seq - 1) * JN_REC_SIZE);
	expect_refusal(d, want, "records of two writers interleaved");
}

/* What two tokexd on one journal made: both recovered to seq 100 and appended from 101 at
 * the same offsets, each over the other's records. The sequence stays continuous and every
 * CRC checks; only the writer tags tell. */
static void test_interleaved_writers(void **state)
{
	(void)state;
	struct tdir base, a, b, m;
	tdir_make(&base);
	tdir_make(&a);
	tdir_make(&b);
	fill(&base, JN_SYNC, 100);
	copy_dir(&base, &a);
	copy_dir(&base, &b);
	struct jn *j = topen(&a, JN_SYNC);
	for (uint64_t s = 101; s <= 130; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	j = topen(&b, JN_SYNC);
	for (uint64_t s = 101; s <= 120; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	/* Each alone is clean: two runs, the second starting with JN_WRITER_FIRST. */
	struct jn_verify v;
	char msg[1024];
	assert_int_equal(jn_verify(a.path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, 0);
	assert_int_equal(v.writer_runs, 2);
	assert_non_null(strstr(msg, "130 records, seq 1..130, 1 segments, 2 writer runs"));
	struct jn_rec ra, rb, r100;
	read_rec(&a, SEG1, 100, &ra);
	read_rec(&b, SEG1, 100, &rb);
	read_rec(&a, SEG1, 99, &r100);
	assert_true(ra.writer & JN_WRITER_FIRST);
	assert_true(rb.writer & JN_WRITER_FIRST);
	assert_int_not_equal(JN_WRITER_TAG(ra.writer), JN_WRITER_TAG(rb.writer));
	assert_int_not_equal(JN_WRITER_TAG(ra.writer), JN_WRITER_TAG(r100.writer));
	assert_int_not_equal(JN_WRITER_TAG(ra.writer), 0);

	/* One of B's records among A's. */
	tdir_make(&m);
	copy_dir(&a, &m);
	take_slots(&m, &b, 101, 102); /* seq 102 */
	expect_interleaved(&m, 102);
	tdir_rm(&m);
	/* B's first ten (its run's start overwrote A's), then A's. */
	tdir_make(&m);
	copy_dir(&a, &m);
	take_slots(&m, &b, 100, 110);
	expect_interleaved(&m, 111);
	tdir_rm(&m);
	/* B's all, then the tail only A wrote. */
	tdir_make(&m);
	copy_dir(&b, &m);
	take_slots(&m, &a, 120, 130);
	expect_interleaved(&m, 121);
	/* The operator accepts the loss: cut there, and the journal goes on. */
	assert_int_equal(jn_truncate(m.path, SEG1, 120 * JN_REC_SIZE, NULL, 0), 0);
	j = topen(&m, JN_SYNC);
	assert_int_equal(jn_next_seq(j), 121);
	assert_int_equal(jn_close(j), 0);
	tdir_rm(&m);
	tdir_rm(&a);
	tdir_rm(&b);
	tdir_rm(&base);
}

/* A journal written before writer tags (the field was reserved, 0) reads as before, and a
 * writer of today continues it. */
static void test_writer_untagged(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_SYNC, 50);
	for (uint64_t i = 0; i < 50; i++) {
		struct jn_rec r;
		read_rec(&d, SEG1, i, &r);
		r.writer = 0;
		r.crc = jn_rec_crc(&r);
		patch(&d, SEG1, i * JN_REC_SIZE, &r, sizeof(r));
	}
	struct jn_verify v;
	char msg[1024];
	assert_int_equal(jn_verify(d.path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, 0);
	assert_int_equal(v.writer_runs, 1);
	reopen_append(&d, 51);
	assert_int_equal(jn_verify(d.path, &v, msg, sizeof(msg)), 0);
	assert_int_equal(v.status, 0);
	assert_int_equal(v.writer_runs, 2);
	tdir_rm(&d);
}

/* A segment the disk cannot hold: jn_open refuses (the appliance then does not start)
 * instead of failing at the first append. */
static void test_segment_alloc_refused(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn_config c = tcfg(&d, JN_SYNC);
	c.segment_bytes = 1ull << 52; /* 4 PiB: no file system here holds it */
	char err[1024];
	errno = 0;
	struct jn *j = jn_open(&c, err, sizeof(err));
	if (j != NULL) {
		jn_close(j);
		fail_msg("jn_open allocated a 4 PiB segment");
	}
	assert_true(errno == ENOSPC || errno == EFBIG);
	char want[128];
	snprintf(want, sizeof(want), "/" SEG1 " (%" PRIu64 " bytes): %s", c.segment_bytes /
		 JN_REC_SIZE * JN_REC_SIZE, strerror(errno));
	if (!strstr(err, "journal: cannot allocate its segment ") || !strstr(err, want))
		fail_msg("message: %s", err);
	char p[128];
	seg_path(&d, SEG1, p, sizeof(p));
	assert_int_equal(access(p, F_OK), -1); /* nothing left behind */
	reopen_append(&d, 1); /* with a segment that fits */
	tdir_rm(&d);
}

/* ---- faults ------------------------------------------------------------------------ */

static void fault_case(uint32_t durability, int which, int err)
{
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, durability);
	for (uint64_t s = 1; s <= 100; s++)
		append_one(j, s);
	assert_int_equal(jn_wait_durable(j, 100, 10000), 0);
	struct jn_stats st;
	jn_stats(j, &st);
	struct jn_fault f;
	memset(&f, 0, sizeof(f));
	if (which == 0) {
		f.write_nth = st.writes + 1;
		f.write_err = err;
	} else {
		f.fsync_nth = st.fsyncs + 1;
		f.fsync_err = err;
	}
	jn_fault_set(j, &f);
	/* The failure may come back while these are appended: then appends get the error. */
	uint64_t last = 100;
	for (uint64_t s = 101; s <= 110; s++) {
		uint8_t p[8] = {0};
		int64_t r;
		while ((r = jn_append(j, JN_T_MARK, p, sizeof(p), s)) == 0)
			usleep(50);
		if (r < 0) {
			assert_int_equal(r, -err);
			break;
		}
		assert_int_equal(r, s);
		last = s;
	}
	assert_true(last > 100);
	assert_int_equal(jn_wait_durable(j, last, 10000), -err);
	assert_int_equal(jn_failed(j), -err);
	uint64_t dur = jn_durable(j);
	assert_int_equal(dur, 100); /* the failed batch is not published */
	jn_stats(j, &st);
	assert_true(st.synced_seq <= 100);
	/* Sticky: appends refused, durable never moves again. */
	uint8_t z[8] = {0};
	assert_int_equal(jn_append(j, JN_T_MARK, z, sizeof(z), 1), -err);
	usleep(30000);
	assert_int_equal(jn_durable(j), 100);
	assert_int_equal(jn_close(j), -err);
	tdir_rm(&d);
}

static void test_write_enospc(void **state)
{
	(void)state;
	fault_case(JN_SYNC, 0, ENOSPC);
	fault_case(JN_ASYNC, 0, ENOSPC);
}

static void test_write_eio(void **state)
{
	(void)state;
	fault_case(JN_SYNC, 0, EIO);
}

/* In sync mode a failed fdatasync must not advance durable, although the write went. */
static void test_fsync_eio(void **state)
{
	(void)state;
	fault_case(JN_SYNC, 1, EIO);
}

static void test_prealloc_enospc(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, JN_SYNC);
	struct jn_fault f;
	memset(&f, 0, sizeof(f));
	f.falloc_nth = 2; /* the first segment is fine, the roll to the second fails */
	f.falloc_err = ENOSPC;
	jn_fault_set(j, &f);
	for (uint64_t s = 1; s <= SEG_RECS + 10; s++)
		append_one(j, s);
	assert_int_equal(jn_wait_durable(j, SEG_RECS + 10, 10000), -ENOSPC);
	assert_int_equal(jn_durable(j), SEG_RECS);
	assert_int_equal(jn_close(j), -ENOSPC);
	/* What was durable is all there; the journal reopens after the disk is freed. */
	expect_replay(d.path, 1, SEG_RECS);
	reopen_append(&d, SEG_RECS + 1);
	tdir_rm(&d);
}

static void test_short_write(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen(&d, JN_SYNC);
	struct jn_fault f;
	memset(&f, 0, sizeof(f));
	f.short_nth = 3;
	jn_fault_set(j, &f);
	for (uint64_t s = 1; s <= 2000; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	expect_replay(d.path, 1, 2000);
	tdir_rm(&d);
}

/* ---- ring full --------------------------------------------------------------------- */

static void test_ring_full(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn_config c = tcfg(&d, JN_SYNC);
	c.ring_size = 16;
	char err[256];
	struct jn *j = jn_open(&c, err, sizeof(err));
	assert_non_null(j);
	uint64_t accepted = 0, refused = 0;
	for (int i = 0; i < 20000 && accepted < 3000; i++) {
		uint8_t p[JN_MAX_PAYLOAD];
		uint32_t len;
		payload(accepted + 1, p, &len);
		int64_t s = jn_append(j, JN_T_MARK, p, len, 1000000000ull * (accepted + 1));
		if (s == 0) {
			refused++; /* the appliance rejects BUSY; nothing was appended */
			continue;
		}
		assert_int_equal(s, accepted + 1);
		accepted++;
	}
	struct jn_stats st;
	jn_stats(j, &st);
	assert_true(refused > 0);
	assert_int_equal(st.ring_full, refused);
	assert_int_equal(jn_close(j), 0);
	expect_replay(d.path, 1, accepted); /* nothing lost, nothing duplicated */
	tdir_rm(&d);
}

/* ---- snapshots and pruning --------------------------------------------------------- */

static void test_snapshot(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	uint64_t seq;
	size_t len;
	char buf[64];
	assert_int_equal(jn_snapshot_latest(d.path, &seq, buf, sizeof(buf), &len), -ENOENT);
	assert_int_equal(jn_snapshot_write(d.path, 10, "state at ten", 12), 0);
	assert_int_equal(jn_snapshot_write(d.path, 20, "state at twenty", 15), 0);
	assert_int_equal(jn_snapshot_latest(d.path, &seq, buf, sizeof(buf), &len), 0);
	assert_int_equal(seq, 20);
	assert_int_equal(len, 15);
	assert_memory_equal(buf, "state at twenty", 15);
	assert_int_equal(jn_snapshot_latest(d.path, &seq, buf, 4, &len), -ENOBUFS);
	assert_int_equal(len, 15);
	/* A corrupt newest snapshot is skipped: the older one is used. */
	char p[128];
	snprintf(p, sizeof(p), "%s/snap-%020d.snap", d.path, 20);
	int fd = open(p, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "X", 1, 40), 1);
	close(fd);
	assert_int_equal(jn_snapshot_latest(d.path, &seq, buf, sizeof(buf), &len), 0);
	assert_int_equal(seq, 10);
	assert_memory_equal(buf, "state at ten", 12);
	tdir_rm(&d);
}

static void test_recovery_with_snapshot_and_prune(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	fill(&d, JN_ASYNC, 3 * SEG_RECS + 500); /* segments at 1, 1001, 2001, 3001 */
	assert_int_equal(jn_snapshot_write(d.path, 2500, "s", 1), 0);
	uint64_t seq;
	size_t len;
	char buf[8];
	assert_int_equal(jn_snapshot_latest(d.path, &seq, buf, sizeof(buf), &len), 0);
	assert_int_equal(jn_prune(d.path, seq), 2); /* [1,1000] and [1001,2000] */
	assert_int_equal(jn_prune(d.path, seq), 0);
	/* Recovery = snapshot + replay from seq + 1. */
	expect_replay(d.path, seq + 1, 3 * SEG_RECS + 500);
	struct jn *j = topen(&d, JN_SYNC);
	assert_int_equal(jn_next_seq(j), 3 * SEG_RECS + 501);
	assert_int_equal(jn_close(j), 0);
	assert_int_equal(jn_prune(d.path, UINT64_MAX - 1), 1); /* never the last segment */
	expect_replay(d.path, 3001, 3 * SEG_RECS + 500);
	tdir_rm(&d);
}

/* ---- epochs, formats, records appended as they are, reading while written (issue 14) --- */

static struct jn *topen_epoch(struct tdir *d, uint32_t epoch, uint64_t first_seq)
{
	struct jn_config c = tcfg(d, JN_SYNC);
	c.epoch = epoch;
	c.first_seq = first_seq;
	char err[1024];
	struct jn *j = jn_open(&c, err, sizeof(err));
	if (j == NULL)
		fail_msg("jn_open: %s", err);
	return j;
}

static void test_epochs(void **state)
{
	(void)state;
	struct tdir d;
	tdir_make(&d);
	struct jn *j = topen_epoch(&d, 0, 0); /* no replication: epoch 1 */
	assert_int_equal(jn_epoch(j), 1);
	for (uint64_t s = 1; s <= 10; s++)
		append_one(j, s);
	assert_int_equal(jn_close(j), 0);
	j = topen_epoch(&d, 3, 0); /* a promotion's epoch */
	assert_int_equal(jn_epoch(j), 3);
	for (uint64_t s = 11; s <= 20; s++)
		append_one(j, s);
	assert_int_equal(jn_set_epoch(j, 2), -ESTALE);
	assert_int_equal(jn_close(j), 0);
	struct jn_rec r;
	read_rec(&d, SEG1, 9, &r);
	assert_int_equal(r.epoch, 1);
	read_rec(&d, SEG1, 10, &r);
	assert_int_equal(r.epoch, 3);
	struct jn_verify v;
	char err[1024];
	assert_int_equal(jn_verify(d.path, &v, err, sizeof(err)), 0);
	assert_int_equal(v.status, 0);
	assert_int_equal(v.first_epoch, 1);
	assert_int_equal(v.last_epoch, 3);
	assert_int_equal(v.epoch_changes, 1);
	assert_non_null(strstr(err, "epochs 1..3"));
	/* Reopened without an epoch: the last record's. Under a lower one: fenced. */
	j = topen_epoch(&d, 0, 0);
	assert_int_equal(jn_epoch(j), 3);
	assert_int_equal(jn_close(j), 0);
	struct jn_config c = tcfg(&d, JN_SYNC);
	c.epoch = 2;
	errno = 0;
	assert_null(jn_open(&c, err, sizeof(err)));
	assert_int_equal(errno, ESTALE);
	assert_non_null(strstr(err, "fenced"));
	/* A record of an older epoch after a newer one: refused by recovery and verify. */
	read_rec(&d, SEG1, 15, &r); /* seq 16, epoch 3 */
	r.epoch = 2;
	r.crc = jn_rec_crc(&r);
	patch(&d, SEG1, 15 * JN_REC_SIZE, &r, sizeof(r));
	expect_refusal(&d, "epoch went back: seq 16 was written under epoch 2 after epoch 3", NULL);
	tdir_rm(&d);
}

static void test_other_format_refused(void **state)
{
	(void)state;
	static const struct { uint32_t magic; const char *want; } cases[] = {
		{JN_REC_MAGIC_V1, "format 1 (96-byte records without epochs"},
		{0x334a4b54u, "format 3 (written by a newer tokex)"},
	};
	for (unsigned k = 0; k < 2; k++) {
		struct tdir d;
		tdir_make(&d);
		fill(&d, JN_SYNC, 20);
		struct jn_rec r;
		read_rec(&d, SEG1, 0, &r);
		r.magic = cases[k].magic;
		r.crc = jn_rec_crc(&r);
		patch(&d, SEG1, 0, &r, sizeof(r));
		struct jn_config c = tcfg(&d, JN_SYNC);
		char err[1024];
		errno = 0;
		assert_null(jn_open(&c, err, sizeof(err)));
		assert_int_equal(errno, EPROTONOSUPPORT);
		if (!strstr(err, cases[k].want) || !strstr(err, SEG1 " offset 0") ||
		    !strstr(err, "reads format 2 only"))
			fail_msg("message: %s", err);
		struct jn_verify v;
		assert_int_equal(jn_verify(d.path, &v, err, sizeof(err)), 0);
		assert_int_equal(v.status, -EPROTONOSUPPORT);
		assert_int_equal(v.format, k ? 3 : 1);
		struct check ck = { 1, 0 };
		assert_int_equal(jn_replay(d.path, 1, check_cb, &ck), -EPROTONOSUPPORT);
		uint32_t f = 0;
		assert_int_equal(jn_rec_check(&r, &f), -EPROTONOSUPPORT);
		assert_int_equal(f, k ? 3 : 1);
		tdir_rm(&d);
	}
}

static int files_equal(const char *a, const char *b)
{
	char cmd[512];
	snprintf(cmd, sizeof(cmd), "cmp -s '%s' '%s'", a, b);
	return system(cmd) == 0;
}

/* A standby's copy: what a reader reads from the primary's files while it appends,
 * appended as it is, gives byte-identical segments. */
static void test_reader_and_append_rec(void **state)
{
	(void)state;
	struct tdir p, q;
	tdir_make(&p);
	tdir_make(&q);
	struct jn *jp = topen_epoch(&p, 2, 0);
	struct jn *jq = topen_epoch(&q, 0, 0);
	struct jn_reader rd;
	assert_int_equal(jn_reader_open(&rd, p.path, 1), 0);
	static struct jn_rec buf[300];
	uint64_t n_total = 3 * SEG_RECS + 17, got_total = 0;
	char err[512];
	for (uint64_t s = 1; s <= n_total || got_total < n_total;) {
		if (s <= n_total)
			append_one(jp, s++);
		int n = jn_reader_read(&rd, buf, 300, jn_written(jp), err, sizeof(err));
		if (n < 0)
			fail_msg("read: %d %s", n, err);
		for (int i = 0; i < n; i++) {
			int rc;
			while ((rc = jn_append_rec(jq, &buf[i])) == 0)
				usleep(50);
			assert_int_equal(rc, 1);
		}
		got_total += (uint64_t)n;
	}
	assert_int_equal(jn_epoch(jq), 2);
	struct jn_rec r = buf[0];
	r.seq = jn_next_seq(jq) + 1;
	assert_int_equal(jn_append_rec(jq, &r), -ERANGE);
	r.seq = jn_next_seq(jq);
	r.epoch = 1;
	assert_int_equal(jn_append_rec(jq, &r), -ESTALE);
	jn_reader_close(&rd);
	assert_int_equal(jn_close(jp), 0);
	assert_int_equal(jn_close(jq), 0);
	for (uint64_t first = 1; first <= n_total; first += SEG_RECS) {
		char a[128], b[128];
		snprintf(a, sizeof(a), "%s/jn-%020" PRIu64 ".log", p.path, first);
		snprintf(b, sizeof(b), "%s/jn-%020" PRIu64 ".log", q.path, first);
		assert_true(files_equal(a, b));
	}
	/* A reader further behind than the journal keeps: ENOENT. */
	assert_int_equal(jn_prune(p.path, 2 * SEG_RECS), 2);
	assert_int_equal(jn_first_seq(p.path), 2 * SEG_RECS + 1);
	assert_int_equal(jn_reader_open(&rd, p.path, 5), -ENOENT);
	assert_int_equal(jn_reader_open(&rd, p.path, 2 * SEG_RECS + 7), 0);
	assert_int_equal(jn_reader_read(&rd, buf, 3, UINT64_MAX, err, sizeof(err)), 3);
	assert_int_equal(buf[0].seq, 2 * SEG_RECS + 7);
	jn_reader_close(&rd);
	/* A corrupt record is named, never passed on. */
	char seg[64];
	snprintf(seg, sizeof(seg), "jn-%020" PRIu64 ".log", (uint64_t)3 * SEG_RECS + 1);
	uint8_t x = 0x5a;
	patch(&p, seg, 4 * JN_REC_SIZE + 40, &x, 1);
	assert_int_equal(jn_reader_open(&rd, p.path, 3 * SEG_RECS + 1), 0);
	assert_int_equal(jn_reader_read(&rd, buf, 300, UINT64_MAX, err, sizeof(err)), 4);
	assert_int_equal(jn_reader_read(&rd, buf, 300, UINT64_MAX, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "seq 3005 expected"));
	jn_reader_close(&rd);
	tdir_rm(&p);
	tdir_rm(&q);
	/* A new journal that starts after a snapshot (a standby caught up from one). */
	tdir_make(&q);
	jq = topen_epoch(&q, 0, 5001);
	assert_int_equal(jn_next_seq(jq), 5001);
	append_one(jq, 5001);
	assert_int_equal(jn_close(jq), 0);
	assert_int_equal(jn_first_seq(q.path), 5001);
	jq = topen_epoch(&q, 0, 0);
	assert_int_equal(jn_next_seq(jq), 5002);
	assert_int_equal(jn_close(jq), 0);
	tdir_rm(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_sync),
		cmocka_unit_test(test_round_trip_async),
		cmocka_unit_test(test_round_trip_none),
		cmocka_unit_test(test_burst_and_bad_args),
		cmocka_unit_test(test_torn_tail_mid_record),
		cmocka_unit_test(test_torn_tail_garbage),
		cmocka_unit_test(test_torn_tail_zeroed),
		cmocka_unit_test(test_empty_segment_after_full),
		cmocka_unit_test(test_corrupt_middle),
		cmocka_unit_test(test_seq_gap),
		cmocka_unit_test(test_missing_segment),
		cmocka_unit_test(test_lock_same_process),
		cmocka_unit_test(test_lock_other_process),
		cmocka_unit_test(test_interleaved_writers),
		cmocka_unit_test(test_writer_untagged),
		cmocka_unit_test(test_segment_alloc_refused),
		cmocka_unit_test(test_write_enospc),
		cmocka_unit_test(test_write_eio),
		cmocka_unit_test(test_fsync_eio),
		cmocka_unit_test(test_prealloc_enospc),
		cmocka_unit_test(test_short_write),
		cmocka_unit_test(test_ring_full),
		cmocka_unit_test(test_snapshot),
		cmocka_unit_test(test_recovery_with_snapshot_and_prune),
		cmocka_unit_test(test_epochs),
		cmocka_unit_test(test_other_format_refused),
		cmocka_unit_test(test_reader_and_append_rec),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
