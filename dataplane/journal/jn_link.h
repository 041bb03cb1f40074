/*
 * jn_link.h - the replication link's wire format and the standby's checks of what it
 * receives (issue 14, docs/STANDBY.md). Pure functions: no I/O, no allocation; the
 * sockets and threads are tokexd's (dataplane/tokexd/td_repl.c).
 *
 * Role: a primary tokexd sends the journal records it made durable to its standbys over
 * TCP; a standby checks each one (jn_follow_check) before it appends it to its own journal
 * and applies it. Frames, both ways, little-endian:
 *
 *   header (16 bytes): magic u32 "TKRL", version u16 (JN_LINK_VERSION), type u16,
 *                      len u32 (payload bytes after the header), hdr_crc u32 (CRC-32 of
 *                      the 12 bytes before it)
 *   payload (len bytes, at most JN_LINK_MAX_PAYLOAD; a SNAPSHOT's may be larger, up to
 *            JN_LINK_MAX_SNAPSHOT):
 *     HELLO     standby -> primary: struct jn_link_hello (the last seq and epoch it holds)
 *     START     primary -> standby: struct jn_link_start (records follow from from_seq;
 *               a SNAPSHOT first when the standby is further behind than the journal kept)
 *     SNAPSHOT  primary -> standby: struct jn_link_snap + the blob (jn_snapshot_write's)
 *     RECORDS   primary -> standby: n journal records as on disk (n * JN_REC_SIZE), each
 *               with its own CRC: the frame adds none, so a record damaged on the way is
 *               caught by the record's CRC
 *     ACK       standby -> primary: struct jn_link_ack (received, durable, applied)
 *     BEAT      primary -> standby: struct jn_link_beat (its durable seq, when), while idle
 *     BYE       either: struct jn_link_bye (a code and the reason, for the other's log)
 *
 * Versions: a frame of another version is refused (-EPROTONOSUPPORT) and the connection
 * closed with the versions named; the next stage adds types, never changes these.
 *
 * The standby's checks (struct jn_follow), per record in order:
 *  1. format and CRC (jn_rec_check): a bad one stops following (corrupt; never appended);
 *  2. seq: below next_seq is a duplicate (skipped), above it a gap (ask again from
 *     next_seq: the connection is restarted with HELLO last_seq = next_seq - 1);
 *  3. epoch: never below the highest epoch seen (a deposed primary's record: fenced,
 *     stops following).
 */
#ifndef TOKEX_JN_LINK_H
#define TOKEX_JN_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "jn_journal.h"

#define JN_LINK_MAGIC 0x4c524b54u /* "TKRL" */
#define JN_LINK_VERSION 1
#define JN_LINK_HDR 16
#define JN_LINK_MAX_PAYLOAD (1u << 20)       /* every frame but a SNAPSHOT */
#define JN_LINK_MAX_SNAPSHOT (1024u << 20)   /* a snapshot blob and its header */
#define JN_LINK_MAX_RECS (JN_LINK_MAX_PAYLOAD / JN_REC_SIZE)

enum jn_link_type {
	JN_LINK_HELLO = 1,
	JN_LINK_START = 2,
	JN_LINK_SNAPSHOT = 3,
	JN_LINK_RECORDS = 4,
	JN_LINK_ACK = 5,
	JN_LINK_BEAT = 6,
	JN_LINK_BYE = 7,
};

struct jn_link_hdr {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint32_t len;
	uint32_t hdr_crc;
};
_Static_assert(sizeof(struct jn_link_hdr) == JN_LINK_HDR, "link header is 16 bytes");

#define JN_HELLO_BOOTSTRAP 1u /* a standby's start-up question: START (and a SNAPSHOT), no
				* records; it closes */
struct jn_link_hello {
	uint64_t last_seq; /* the last record the standby holds (0: none) */
	uint32_t epoch;    /* the epoch of that record (0: none) */
	uint32_t flags;    /* JN_HELLO_* */
	char name[32];     /* the standby's name for the primary's log (its control socket) */
};

enum jn_link_start_mode { JN_START_JOURNAL = 0, JN_START_SNAPSHOT = 1 };
struct jn_link_start {
	uint64_t from_seq; /* the first record that follows */
	uint64_t durable;  /* the primary's durable seq now */
	uint32_t epoch;    /* the primary's epoch */
	uint32_t mode;     /* jn_link_start_mode */
};

struct jn_link_snap {
	uint64_t seq; /* the state after this record */
	uint64_t len; /* blob bytes that follow */
};

struct jn_link_ack {
	uint64_t received; /* checked and handed to the journal */
	uint64_t durable;  /* durable in the standby's own journal */
	uint64_t applied;  /* applied through its matching cores */
	uint64_t time_ns;  /* the standby's wall clock */
};

struct jn_link_beat {
	uint64_t durable;
	uint64_t time_ns;
};

enum jn_link_bye_code {
	JN_BYE_TOO_SLOW = 1,   /* a following standby fell further behind than the bound */
	JN_BYE_VERSION = 2,    /* another link version */
	JN_BYE_CORRUPT = 3,    /* the primary's journal could not be read there */
	JN_BYE_FENCED = 4,     /* the standby holds a newer epoch than this primary */
	JN_BYE_AHEAD = 5,      /* the standby holds records the primary does not */
	JN_BYE_STOP = 6,       /* the primary stops */
	JN_BYE_BUSY = 7,       /* no room for another standby */
	JN_BYE_NO_SNAPSHOT = 8 /* too far behind, and no snapshot to catch up from */
};
struct jn_link_bye {
	int32_t code;
	uint32_t pad;
	char reason[240];
};

/* Writes a header for a payload of len bytes into out (JN_LINK_HDR bytes). */
void jn_link_hdr(void *out, uint16_t type, uint32_t len);

/* Parses the header at the start of buf (n bytes available): 0 need more bytes, else the
 * whole frame's length (header + payload, > 0) with *h filled, or a negative errno with
 * the reason in why: -EBADMSG (not a link frame, or its header's CRC), -EPROTONOSUPPORT
 * (another version: *h holds it), -EMSGSIZE (longer than allowed for its type). */
int64_t jn_link_parse(const void *buf, size_t n, struct jn_link_hdr *h, char *why,
		      size_t whylen);

/* The standby's position in the primary's journal. */
struct jn_follow {
	uint64_t next_seq; /* the record it needs next */
	uint32_t epoch;    /* the highest epoch seen (0: none yet) */
	uint32_t pad;
};

enum jn_follow_rc {
	JN_FOLLOW_OK = 0,   /* in order: append and apply it (next_seq and epoch advanced) */
	JN_FOLLOW_DUP = 1,  /* already held: skip it */
	JN_FOLLOW_GAP = 2,  /* a later record: ask again from next_seq */
};
/* Checks r (as received) against f: JN_FOLLOW_OK, _DUP, _GAP, or stop following with
 * the reason (seq, what) in why: -EBADMSG (CRC, magic or length: corrupt),
 * -EPROTONOSUPPORT (another journal format), -ESTALE (an epoch below one seen). */
int jn_follow_check(struct jn_follow *f, const struct jn_rec *r, char *why, size_t whylen);

#endif /* TOKEX_JN_LINK_H */
