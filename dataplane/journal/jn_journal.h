/*
 * jn_journal.h - the sequenced input journal: nothing acknowledged is ever lost.
 *
 * Role in the data path: the RX/session core (single producer) calls jn_append() for every
 * request it is about to hand to a matching core, and for control commands and session
 * events; the record is copied into an SPSC ring and numbered. A journal thread (a
 * pthread, not an lcore) drains the ring in batches to segment files with io_uring and
 * publishes the highest durable sequence; the producer reads it with jn_durable() and
 * releases the replies that depend on it. Recovery (jn_open() on an existing directory,
 * then jn_snapshot_latest() + jn_replay()) rebuilds the books by replaying the inputs.
 *
 * On-disk layout (DIR):
 *   jn-<first seq, 20 digits>.log   segments, preallocated (fallocate) to segment_bytes,
 *                                   an array of fixed 128-byte records, zero after the end
 *   snap-<seq, 20 digits>.snap      snapshots (jn_snapshot_write), the state after <seq>
 *   jn.lock                         the writer's lock (rule 8): one text line naming the
 *                                   holder (pid, program, since when, command line)
 * Record (format 2, 128 bytes, little-endian): magic u32, crc u32, seq u64, time_ns u64,
 * type u16, len u16, writer u32, epoch u32, pad u32, payload[64], reserved[24]. crc =
 * CRC-32 (zlib's polynomial, not CRC-32C) over bytes [0,4) and [8,128): header, the whole
 * payload area and the reserved bytes, unused bytes zero. writer (rule 9): bits 0-30 the
 * tag of the writer run that appended the record, bit 31 (JN_WRITER_FIRST) set on the
 * run's first record. epoch (rule 10): the primary's epoch the record was written under.
 *
 * Format version (rule 11): the magic is "TKJ" and a version byte: "TKJ2" is format 2,
 * the only one read. Format 1 ("TKJR": 96-byte records without an epoch, tokexd before
 * issue 14) and any newer format are refused by recovery, replay and tokex-journal with
 * a message naming the file and the version, never read as a torn tail. The format
 * changes only here (JN_FORMAT, JN_REC_MAGIC, struct jn_rec).
 *
 * Durability policies (jn_durable() is the highest seq that is):
 *   JN_SYNC  written AND covered by a successful fdatasync (group commit: one write and one
 *            IORING_OP_FSYNC/DATASYNC per batch). Survives power loss.
 *   JN_ASYNC written to the file (page cache), not synced. Survives a process crash, not
 *            power loss (after a power loss the tail may have holes: see rule 7).
 *   JN_NONE  appended to the ring: published at jn_append() time. Records still go to the
 *            files (no fsync) so a clean jn_close() can be replayed; no guarantee at all.
 * O_DIRECT is not used: records are 96 bytes and batches are not block-multiples; buffered
 * writes + fdatasync give the same durability. The segment is preallocated, so fdatasync
 * does not have to persist a size change on each batch (only unwritten-extent conversion).
 *
 * Invariants:
 *  1. Sequence numbers start at 1 for a new journal and increase by one per appended record
 *     across segments, restarts and ring wrap: no gaps, no duplicates.
 *  2. durable <= appended; durable only increases; in JN_SYNC durable <= the last seq
 *     covered by a successful fdatasync (stats.synced_seq).
 *  3. Once failed (write/fsync/fallocate error, EIO or ENOSPC), the error is sticky: durable
 *     never advances again, jn_append() returns the error, and the appliance must stop
 *     accepting requests (reject with TKX_REJ_STORAGE). Records written but not published
 *     durable may still be on disk and be replayed after a restart (they were never
 *     acknowledged; the client learns their fate from the replayed state).
 *  4. A segment is named after the seq of its first record; the next segment starts at the
 *     seq after the previous one's last. The journal thread fdatasyncs a full segment and
 *     the directory before writing into the next (every policy but NONE).
 *  5. Records are written at 96-byte aligned offsets only; a zero slot ends the data.
 *  6. Recovery: the first slot that is not a valid record (bad magic, CRC, length, all
 *     zero) ends the data. If no valid record follows it anywhere, it is a torn tail: zeroed
 *     (logged "journal: truncated torn tail at segment X offset Y: N bytes") and appends
 *     continue there. If a valid record follows, or a valid record has an unexpected seq
 *     (a gap), the journal is corrupt in the middle and jn_open() refuses to start.
 *  7. Segments wholly below a snapshot are removed only by jn_prune(), never automatically.
 *  8. One writer per directory: jn_open() takes an exclusive lock (an OFD lock on DIR/jn.lock,
 *     jn_lock()) before recovery reads anything, and jn_close() releases it (the kernel does
 *     when the process dies: no stale lock). A second jn_open() on the directory, from any
 *     process or this one, and jn_truncate() are refused with EBUSY and a message naming
 *     the holder. Two writers would both append from the same seq, overwriting each other's
 *     records: acknowledged requests lost with the sequence still continuous.
 *  9. Writer runs: each jn_open() draws a random 31-bit tag (never 0, never the tag of the
 *     last record on disk); every record it appends carries it, the first one with
 *     JN_WRITER_FIRST. Reading, a record whose tag differs from the record before it is
 *     valid only as the FIRST record of a new run (or tag 0: a writer older than tags);
 *     anything else is records of two writers interleaved, corrupt in the middle (rule 6),
 *     reported at that record's offset. Pruned journals start mid-run: the first record
 *     read sets the run.
 * 10. Epochs (docs/STANDBY.md: fencing): every record carries the epoch of the primary
 *     that wrote it, >= 1 (1 for a journal made without replication). Along the journal
 *     epochs never decrease: a record of a lower epoch than one before it is a deposed
 *     primary's, and reading refuses it as corrupt in the middle (rule 6) naming both
 *     epochs. jn_open() writes under max(cfg->epoch, the last record's epoch); a higher
 *     epoch later only through jn_set_epoch() (promotion).
 * 11. One format: a record of another format version (rule in the header) stops reading
 *     with -EPROTONOSUPPORT and a message naming the file and the version.
 *
 * States (jn_open .. jn_close):
 *     [closed] --jn_open()--> RUNNING --write/fsync error--> FAILED (sticky, rule 3)
 *     RUNNING/FAILED --jn_close()--> [closed] (drains the ring first when RUNNING)
 *
 * Threads: jn_append*(), jn_next_seq() from one producer thread only; jn_durable(),
 * jn_failed(), jn_stats() from any thread; jn_open()/jn_close() from the owner.
 * The append path makes no system call, takes no lock and does not allocate.
 */
#ifndef TOKEX_JN_JOURNAL_H
#define TOKEX_JN_JOURNAL_H

#include <stddef.h>
#include <stdint.h>

#define JN_REC_SIZE 128
#define JN_MAX_PAYLOAD 64
#define JN_FORMAT 2                /* the record format this code reads and writes */
#define JN_REC_MAGIC 0x324a4b54u   /* "TKJ2": "TKJ" + the format's digit */
#define JN_MAGIC_BASE 0x004a4b54u  /* "TKJ": the low three bytes of every format's magic */
#define JN_REC_MAGIC_V1 0x524a4b54u /* "TKJR": format 1 (96 bytes, no epoch) */

/* Record types. Payloads: ORDER a struct dp_order, CTL a struct dp_ctl (dp_msg.h; its pad
 * is the matching core it went to), SESSION a struct jn_session_ev, SNAPSHOT a struct
 * jn_snapshot_mark, DRAIN a struct jn_drain, REJECT a struct dp_order, CP a struct
 * cp_state_rec (control/cp_state.h: one part of an item of the control plane's state,
 * versioned and CRC-checked on its own); MARK is opaque. */
enum jn_type {
	JN_T_ORDER = 1,
	JN_T_CTL = 2,
	JN_T_SESSION = 3,
	JN_T_SNAPSHOT = 4,
	JN_T_MARK = 5,
	JN_T_DRAIN = 6,  /* struct jn_drain: the RX core took n replies of a core (pipeline) */
	JN_T_REJECT = 7, /* a struct dp_order answered by the RX core, parts = the reason */
	JN_T_CP = 8,     /* the control plane's state: what a change of it made (td_cpstate.c) */
};

enum jn_durability { JN_SYNC = 0, JN_ASYNC = 1, JN_NONE = 2 };

struct jn_rec {
	uint32_t magic;
	uint32_t crc;
	uint64_t seq;
	uint64_t time_ns; /* the producer's clock, ns since the Unix epoch */
	uint16_t type;    /* jn_type */
	uint16_t len;     /* payload bytes used, <= JN_MAX_PAYLOAD */
	uint32_t writer;  /* rule 9: the writer run's tag | JN_WRITER_FIRST on its first */
	uint32_t epoch;   /* rule 10: the primary's epoch it was written under, >= 1 */
	uint32_t pad;     /* zero */
	uint8_t payload[JN_MAX_PAYLOAD];
	uint8_t reserved[24]; /* zero (covered by the CRC) */
};
_Static_assert(sizeof(struct jn_rec) == JN_REC_SIZE, "journal record is 128 bytes");
#define JN_WRITER_FIRST 0x80000000u
#define JN_WRITER_TAG(w) ((uint32_t)(w) & 0x7fffffffu)

/* JN_T_SESSION payload. JN_SS_LOGON: an accepted Negotiate, journaled before its
 * NegotiationResponse leaves; logon_ts is its timestamp, the session's newest (a replay
 * of older logon bytes is refused after a restart too); next_*_seq unused. */
enum jn_session_kind { JN_SS_ESTABLISHED = 1, JN_SS_TERMINATED = 2, JN_SS_LOGON = 3 };
struct jn_session_ev {
	uint8_t kind; /* jn_session_kind */
	uint8_t src;
	uint16_t session;
	uint32_t firm_id;
	uint64_t session_id;
	uint64_t next_in_seq;
	uint64_t next_out_seq;
	uint64_t logon_ts;
};

/* JN_T_DRAIN payload: in pipeline mode replies reach the RX core from several matching
 * cores in an order that depends on timing; the session layer numbers them in that order.
 * The RX core journals each burst it dequeues (core, session core src, count) so that
 * replay numbers them in the same order. */
struct jn_drain {
	uint8_t core; /* JN_DRAIN_START: a new run of the appliance begins (see below) */
	uint8_t src;
	uint16_t pad;
	uint32_t n;
};
/* jn_drain.core of the first record a restarted appliance writes (pipeline mode): the
 * replies the previous run's matching cores made but its RX core never took (a crash) were
 * numbered at the end of that recovery, so replay numbers them there, not later. */
#define JN_DRAIN_START 0xff

/* JN_T_SNAPSHOT payload: a snapshot of the state after `seq` was taken. */
struct jn_snapshot_mark {
	uint64_t seq;
};

/* Fault injection (tests; SQLite style). Counts are 1-based over the journal's life
 * (see jn_stats: writes, fsyncs); 0 = off. The failing operation is not performed. */
struct jn_fault {
	uint64_t write_nth; /* the Nth write fails with write_err */
	int write_err;      /* positive errno, e.g. ENOSPC, EIO */
	int fsync_err;
	uint64_t fsync_nth; /* the Nth fdatasync fails with fsync_err */
	uint64_t short_nth; /* the Nth write transfers only half its bytes (the rest follows) */
	uint64_t falloc_nth; /* the Nth segment preallocation fails with falloc_err */
	int falloc_err;
	int pad;
};

struct jn_config {
	const char *dir;         /* created if missing */
	uint32_t durability;     /* jn_durability */
	uint32_t ring_size;      /* records, power of two; 0 = 16384 */
	uint32_t max_batch;      /* records per write; 0 = 2048 (192 KiB) */
	uint32_t idle_ns;        /* journal thread's sleep when the ring is empty; 0 = 20 us */
	uint64_t segment_bytes;  /* 0 = 64 MiB; rounded down to a multiple of JN_REC_SIZE */
	/* Operator messages from jn_open() (torn tail repaired...); NULL = stderr. */
	void (*log)(void *arg, const char *line);
	void *log_arg;
	/* The directory's lock, taken earlier by the caller with jn_lock() (to refuse a second
	 * process before anything else starts); jn_open() owns it from then on, also when it
	 * fails. NULL: jn_open() takes it itself. */
	struct jn_lock *lock;
	/* Rule 10: the epoch appends are written under; 0 = the last record's, 1 for a new
	 * journal. Lower than the last record's: refused (EINVAL, "fenced"). */
	uint32_t epoch;
	uint32_t pad;
	/* The seq of a new (empty) journal's first record; 0 = 1. A standby caught up from a
	 * primary's snapshot at seq S starts its journal at S + 1. Ignored when the
	 * directory holds segments. */
	uint64_t first_seq;
};

/* appended and ring_full are the producer's own counters: exact when read on the producer
 * thread, approximate elsewhere. */
struct jn_stats {
	uint64_t appended;   /* last seq appended (producer) */
	uint64_t durable;
	uint64_t synced_seq; /* last seq covered by a successful fdatasync */
	uint64_t writes;     /* write operations issued (short-write continuations count) */
	uint64_t fsyncs;
	uint64_t batches;
	uint64_t bytes;
	uint64_t segments;   /* segments created by this instance */
	uint64_t ring_full;  /* appends refused: ring full */
	uint32_t writer;     /* this run's tag (rule 9) */
	uint32_t epoch;      /* the epoch appends are written under (rule 10) */
	uint64_t written;    /* last seq written to the segment file (any policy) */
};

struct jn;

/* Opens (creating if needed) the journal in cfg->dir under its lock (rule 8), recovers it
 * (rule 6), allocates the segment appends go to (a new journal's first, or the next when
 * the last is full: a disk that cannot hold one is refused now, not at the first request)
 * and starts the journal thread. NULL + errno on failure with an operator message in err:
 * EBUSY another writer holds the directory, EBADMSG corrupt in the middle, EINVAL bad
 * config, or the system call's errno (ENOSPC: no room for a segment). */
struct jn *jn_open(const struct jn_config *cfg, char *err, size_t errlen);

/* Drains the ring (RUNNING), fdatasyncs, stops the thread and frees. Returns 0 or the
 * sticky error. */
int jn_close(struct jn *j);

/* Producer: appends one record stamped time_ns. Returns its seq (> 0); 0 when the ring
 * is full (nothing appended: reject that request BUSY and go on); a negative errno when
 * it cannot be kept: the sticky error once failed (stop accepting: STORAGE), -EINVAL
 * when len > JN_MAX_PAYLOAD. Never blocks, no system call, no lock, no allocation. */
int64_t jn_append(struct jn *j, uint16_t type, const void *payload, uint32_t len,
		  uint64_t time_ns);

/* Producer, burst form: appends up to n records with one publication; returns how many
 * (their seqs are *first_seq, *first_seq + 1, ...; fewer than n when the ring fills),
 * 0 when the ring is full, or a negative errno as above (nothing appended). */
struct jn_entry {
	uint16_t type;
	uint16_t len;
	uint32_t pad;
	const void *payload;
	uint64_t time_ns;
};
int jn_append_burst(struct jn *j, const struct jn_entry *e, uint32_t n, uint64_t *first_seq);

/* Producer: appends a record made elsewhere as it is (a standby appending what its
 * primary sent: seq, time, type, payload, writer and epoch kept; the CRC comes out
 * identical). r->seq must be jn_next_seq() (-ERANGE), its epoch not below the journal's
 * (-ESTALE; rule 10; the journal's epoch becomes the record's), len <= JN_MAX_PAYLOAD
 * (-EINVAL). 1 appended, 0 ring full, else as jn_append. The next jn_append starts a new
 * writer run of this journal's own tag. */
int jn_append_rec(struct jn *j, const struct jn_rec *r);

/* Producer: appends from now on under epoch e (promotion: the lease's new epoch). 0, or
 * -ESTALE when e is below the current one. */
int jn_set_epoch(struct jn *j, uint32_t e);
uint32_t jn_epoch(const struct jn *j); /* producer (or a statistic elsewhere) */

/* The seq the next append gets (after recovery: the last recovered + 1). Producer. */
uint64_t jn_next_seq(const struct jn *j);

/* The highest seq written to the segment files, whatever the policy (acquire load; a
 * reader of the files may read every record up to it). Any thread. */
uint64_t jn_written(const struct jn *j);

/* Highest seq durable under the policy (acquire load). Any thread. */
uint64_t jn_durable(const struct jn *j);

/* 0, or the sticky negative errno (rule 3). Any thread. */
int jn_failed(const struct jn *j);

/* Waits (not for the data path: sleeps) until durable >= seq: 0, the sticky error, or
 * -ETIMEDOUT. */
int jn_wait_durable(const struct jn *j, uint64_t seq, uint32_t timeout_ms);

void jn_stats(const struct jn *j, struct jn_stats *s);

/* Arms fault injection (tests); f NULL disarms. Any thread. */
void jn_fault_set(struct jn *j, const struct jn_fault *f);

/* ---- Reading (recovery, tools); not for the data path ------------------------------- */

/* Where a record lies: segment file name (no directory) and byte offset. */
struct jn_pos {
	const char *segment;
	uint64_t offset;
};

/* Calls cb for every record with seq >= from_seq, in order, up to the end of the valid
 * data. cb returns 0 to go on, anything else to stop (returned). Returns the number of
 * records passed to cb, or a negative errno: -EBADMSG corrupt in the middle (message in
 * err when err != NULL), -ENOENT no journal. pos may be ignored. */
typedef int (*jn_iter_fn)(const struct jn_rec *r, const struct jn_pos *pos, void *arg);
int64_t jn_iter(const char *dir, uint64_t from_seq, jn_iter_fn cb, void *arg, char *err,
		size_t errlen);

/* Recovery: replays the records with seq >= from_seq (snapshot seq + 1). As jn_iter. */
typedef int (*jn_replay_fn)(const struct jn_rec *r, void *arg);
int64_t jn_replay(const char *dir, uint64_t from_seq, jn_replay_fn cb, void *arg);

/* Checks every record (CRC, sequence continuity, one writer at a time: rule 9) without
 * changing anything. */
struct jn_verify {
	uint64_t first_seq, last_seq; /* 0, 0 when empty */
	uint64_t records;
	uint32_t segments;
	int status;                   /* 0 clean, 1 torn tail (repairable), -EBADMSG middle */
	char bad_segment[64];         /* status != 0: the first bad slot */
	uint64_t bad_offset;
	uint64_t bad_seq;             /* the seq expected there */
	uint64_t tail_bytes;          /* status 1: bytes from the bad slot to the segment end */
	uint32_t writer_runs;         /* writer runs seen (rule 9; a pruned first one counts) */
	uint32_t first_epoch, last_epoch; /* rule 10; 0, 0 when empty */
	uint32_t epoch_changes;       /* records whose epoch is above the one before */
	uint32_t format;              /* status -EPROTONOSUPPORT: the format version found */
};
int jn_verify(const char *dir, struct jn_verify *v, char *msg, size_t msglen);

/* Reading the segment files from a seq on, incrementally, while a writer appends (the
 * replication link's sender, td_repl.c): records are read as they are on disk, CRC,
 * magic and sequence checked. Not for the data path (system calls). */
struct jn_reader {
	char dir[256];
	int fd;             /* the segment holding next_seq, -1 none open */
	uint64_t seg_first; /* its first seq */
	uint64_t next_seq;  /* the next record to read */
};
/* Positions rd at from_seq: 0, -ENOENT when no segment holds it any more (pruned: the
 * reader is further behind than the journal keeps) or no journal, -errno. */
int jn_reader_open(struct jn_reader *rd, const char *dir, uint64_t from_seq);
/* Reads up to max records with seq <= upto into out: how many (0: none yet), or
 * -EBADMSG (a record there is not valid: corrupt, err says where) or -errno. */
int jn_reader_read(struct jn_reader *rd, struct jn_rec *out, uint32_t max, uint64_t upto,
		   char *err, size_t errlen);
void jn_reader_close(struct jn_reader *rd);
/* The first seq the journal in dir still holds (its oldest segment's), 0 none, -errno. */
int64_t jn_first_seq(const char *dir);

/* Checks one record as read from a file or a link: magic (format, rule 11), length,
 * CRC. 0, -EPROTONOSUPPORT (another format: *format says which), -EBADMSG. */
int jn_rec_check(const struct jn_rec *r, uint32_t *format);

/* Cuts the journal at (segment, offset): that slot and everything after it in the
 * segment are removed (the file is truncated there), later segments deleted. offset
 * must be a multiple of JN_REC_SIZE (-EINVAL) and inside the file (-ERANGE). 0 or a
 * negative errno, with a message in err (when not NULL) for -EBUSY: the journal is open,
 * here or in another process (it takes the lock, rule 8, for the cut). */
int jn_truncate(const char *dir, const char *segment, uint64_t offset, char *err,
		size_t errlen);

/* Deletes the segments all of whose records have seq <= upto_seq (typically the newest
 * snapshot's seq); never the last segment. Returns how many were deleted, or a negative
 * errno. For the writer that holds the journal open (no lock of its own: its thread only
 * holds the last segment). */
int jn_prune(const char *dir, uint64_t upto_seq);

/* The directory's lock (rule 8): creates DIR if missing, takes an exclusive OFD lock on
 * DIR/jn.lock and writes the holder there (pid, program, since when, command line). NULL +
 * errno on failure with an operator message in err: EBUSY another holder (named: its pid,
 * program, since when and command line, from the file), or the system call's errno.
 * Released by jn_unlock(), by jn_close() of the journal opened with it, or when the
 * process ends. Not for the data path. */
struct jn_lock;
struct jn_lock *jn_lock(const char *dir, char *err, size_t errlen);
void jn_unlock(struct jn_lock *l);

/* Snapshots: an opaque blob of state after `seq`. Written to a temporary file, fsynced,
 * renamed, directory fsynced: 0 or a negative errno. For the writer (rule 8). */
int jn_snapshot_write(const char *dir, uint64_t seq, const void *blob, size_t len);

/* The newest valid snapshot (a corrupt one is skipped): 0, -ENOENT none, -ENOBUFS cap too
 * small (*len says how much is needed), or an errno. */
int jn_snapshot_latest(const char *dir, uint64_t *seq, void *buf, size_t cap, size_t *len);

/* CRC of a record as stored (for tools and tests). */
uint32_t jn_rec_crc(const struct jn_rec *r);

#endif /* TOKEX_JN_JOURNAL_H */
