/*
 * cp_state.h - the control plane's state as versioned, checksummed items: journaled at
 * every change, whole in snapshots, and turned back into a struct cp_life at a restart.
 *
 * Role: control plane and tokexd's journal, never on a hot path (the RX core only copies
 * items). The contract lifecycle is state - phases, settlement prices (each daily
 * settlement is a journaled change, so the journal holds their history), limits and
 * limit-locked days, listings and delistings, the spot month, accounts and their kill
 * switches - and so is the calendar's clock (cp_clock.h). tokexd journals every change
 * before it is acknowledged and puts the whole state in its snapshots, so a restart, or
 * a standby following the journal, resumes exactly where the control plane was.
 * (Positions and resting orders are the matching cores' state, rebuilt by their own
 * replay; the day's volume and prices are the cores' too: restored as last journaled,
 * then read again from the cores.)
 *
 * Items. The state is a set of items, each one thing in a fixed little-endian layout,
 * keyed by (kind, index):
 *   CONTRACT i  slot i of cp_life.c[]: every field of struct cp_life_contract
 *   ACCOUNT i   slot i of cp_life.acct[]: limits and kill switch
 *   GLOBAL 0    how many contracts and accounts; the clock: simulated or wall, held or
 *               running, its rate, the calendar time and the wall time when the item was
 *               made
 * Item: version u16, kind u8, flags u8, index u16, len u16, crc u32, pad u32, then len
 * bytes of data. crc = CRC-32 (zlib's) over the first 8 bytes and the data.
 *
 * Changes. cp_state_diff() encodes the state and returns the items that differ from the
 * image last journaled, then GLOBAL with flag CP_ST_END: a change is the items up to
 * and including an END, and applies whole or not at all (cp_state_img_stage holds its
 * items until the END). The clock's time and the day's statistics do not make a change
 * by themselves (they move all the time; a held clock's time does: it moves only when the
 * operator moves it); they ride along with the next one, and tokexd
 * adds a clock-only change (GLOBAL alone) once a second while the clock is simulated.
 *
 * Journal records (JN_T_CP, 64 bytes each): an item split into parts of 48 bytes:
 *   version u16, kind u8, flags u8, index u16, len u16, crc u32  (the item's header)
 *   part u8, nparts u8, pad u16, data[48]
 * The parts of an item are consecutive among the journal's CP records (records of other
 * types may lie between them).
 *
 * Snapshot section (dp_snap.h; magic "TKCS"): header, then the image's committed items
 * and those of a change not yet ended, each its 16-byte header and its data padded to 8.
 *
 * Errors: a record or item of another version is refused (-EPROTO) naming both versions;
 * a bad CRC, length, kind, index, value or part order is refused (-EBADMSG) saying what;
 * either way nothing is applied. A change cut short at the end of a journal (a crash
 * before it was acknowledged) is not an error: it never happened.
 *
 * Invariants:
 *  1. An image holds, per (kind, index), the last item of a committed change; restoring
 *     it gives the struct cp_life that made it, field for field.
 *  2. Items of a change are applied together at its END, never some of them.
 *  3. cp_state_diff() after cp_state_img_stage() of its own output finds nothing.
 */
#ifndef TOKEX_CP_STATE_H
#define TOKEX_CP_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "cp_life.h"
#include "dataplane/dp_snap.h"

#define CP_STATE_VERSION 1
#define CP_STATE_DATA_MAX 240 /* an item's data, bytes */
#define CP_STATE_PART 48      /* data bytes per journal record */
#define CP_STATE_MAX_PARTS ((CP_STATE_DATA_MAX + CP_STATE_PART - 1) / CP_STATE_PART)
/* The largest change: every contract, every account and GLOBAL. */
#define CP_STATE_MAX_ITEMS (CP_LIFE_MAX + CP_LIFE_MAX_ACCOUNTS + 1)
#define CP_STATE_SNAP_MAGIC 0x53434b54u /* "TKCS" */
#define CP_STATE_SNAP_VERSION 1

enum cp_state_kind { CP_ST_CONTRACT = 1, CP_ST_ACCOUNT = 2, CP_ST_GLOBAL = 3 };
#define CP_ST_END 0x01 /* flags: the last item of a change */

struct cp_state_item {
	uint16_t version;
	uint8_t kind;   /* enum cp_state_kind */
	uint8_t flags;  /* CP_ST_END */
	uint16_t index; /* slot */
	uint16_t len;   /* bytes of data; 0 in an image: no such item */
	uint32_t crc;
	uint32_t pad;
	uint8_t data[CP_STATE_DATA_MAX];
};
_Static_assert(sizeof(struct cp_state_item) == 256, "an item is 256 bytes");

/* JN_T_CP payload: one part of an item. */
struct cp_state_rec {
	uint16_t version;
	uint8_t kind;
	uint8_t flags;
	uint16_t index;
	uint16_t len;
	uint32_t crc;
	uint8_t part;
	uint8_t nparts;
	uint16_t pad;
	uint8_t data[CP_STATE_PART];
};
_Static_assert(sizeof(struct cp_state_rec) == 64, "a CP record fills a journal payload");

/* GLOBAL, decoded. */
struct cp_state_global {
	uint32_t n_contracts;
	uint32_t n_accounts;
	uint8_t clock_sim;   /* 1: simulated (cp_clock.h) */
	uint8_t clock_held;  /* 1: a simulated clock held (rule 5): its time is state */
	uint64_t clock_rate; /* millionths of real time */
	uint64_t cal_ns;     /* the calendar's time when the item was made */
	uint64_t wall_ns;    /* the wall clock's then */
};

/* What was last journaled (tokexd's control thread), or what the journal holds (the RX
 * core's copy, recovery). ~65 KiB. */
struct cp_state_img {
	struct cp_state_item c[CP_LIFE_MAX];
	struct cp_state_item a[CP_LIFE_MAX_ACCOUNTS];
	struct cp_state_item g;
	struct cp_state_item pend[CP_STATE_MAX_ITEMS]; /* a change before its END */
	uint32_t n_pend;
	uint32_t pad;
	uint64_t changes; /* committed */
};

void cp_state_img_init(struct cp_state_img *img);
/* Whether the image holds a state (a change was committed). */
int cp_state_img_has(const struct cp_state_img *img);

/* One item, sealed (crc). */
void cp_state_encode_contract(const struct cp_life_contract *k, uint16_t slot,
			      struct cp_state_item *it);
void cp_state_encode_account(const struct cp_account *a, uint16_t slot,
			     struct cp_state_item *it);
void cp_state_encode_global(const struct cp_state_global *g, struct cp_state_item *it);
/* The item's header, CRC and length for its version and kind: 0, -EPROTO, -EBADMSG, with
 * the reason in err. */
int cp_state_item_check(const struct cp_state_item *it, char *err, size_t len);
/* Decodes a checked item (values checked too). 0 or -EBADMSG/-EPROTO with the reason. */
int cp_state_decode_contract(const struct cp_state_item *it, struct cp_life_contract *k,
			     char *err, size_t len);
int cp_state_decode_account(const struct cp_state_item *it, struct cp_account *a, char *err,
			    size_t len);
int cp_state_decode_global(const struct cp_state_item *it, struct cp_state_global *g,
			   char *err, size_t len);

/* The items of L (and g's counts set from L) that differ from last, then GLOBAL with
 * CP_ST_END; nothing (0) when none differs and force is 0. out holds CP_STATE_MAX_ITEMS. */
uint32_t cp_state_diff(const struct cp_life *L, struct cp_state_global *g,
		       const struct cp_state_img *last, int force, struct cp_state_item *out);

/* Applies an item: held until its change's END, then the change is committed. 1 when
 * it committed a change, 0 held, or a negative errno (item refused: nothing changed). */
int cp_state_img_stage(struct cp_state_img *img, const struct cp_state_item *it, char *err,
		       size_t len);

/* The image's state into L (its contracts and accounts; the rest of L untouched) and g.
 * -ENOENT when the image holds none; -EBADMSG/-EPROTO/-EINVAL (a contract's core not
 * below L->n_cores) with the reason; L unchanged on error. */
int cp_state_restore(const struct cp_state_img *img, struct cp_life *L,
		     struct cp_state_global *g, char *err, size_t len);

/* Journal records: the parts of an item (out holds CP_STATE_MAX_PARTS). Returns n. */
uint32_t cp_state_rec_split(const struct cp_state_item *it, struct cp_state_rec *out);

/* Reassembles items from JN_T_CP payloads in journal order. */
struct cp_state_asm {
	struct cp_state_item it; /* being assembled; whole when feed returned 1 */
	uint8_t next;            /* the part expected next; 0: none under way */
	uint8_t nparts;
};
void cp_state_asm_init(struct cp_state_asm *a);
/* 1: a->it is whole (checked), 0: more parts to come, or a negative errno with the
 * reason (a part out of order, another version, a bad CRC). */
int cp_state_asm_feed(struct cp_state_asm *a, const void *payload, size_t len, char *err,
		      size_t errlen);

/* Replay: one JN_T_CP payload reassembled and staged into img. 1 when it committed a
 * change, 0, or a negative errno with the reason. */
int cp_state_feed(struct cp_state_img *img, struct cp_state_asm *as, const void *payload,
		  size_t len, char *err, size_t errlen);
/* Drops what is under way (a change without its END, an item without its last part):
 * at the end of a journal, and where a new writer run begins (JN_WRITER_FIRST: its
 * recovery dropped it). Returns how many items and part-items were dropped. */
uint32_t cp_state_drop_unended(struct cp_state_img *img, struct cp_state_asm *as);

/* Snapshot section: the bound of its size, save, check and load (check first: load
 * changes nothing when it fails). *used: the section's length. */
size_t cp_state_snap_bound(void);
void cp_state_snap_save(const struct cp_state_img *img, struct dp_snap_w *w);
int cp_state_snap_check(const void *buf, size_t len, size_t *used, char *err, size_t errlen);
int cp_state_snap_load(struct cp_state_img *img, const void *buf, size_t len, size_t *used,
		       char *err, size_t errlen);

/* One line describing an item's content (tokex-journal dump): "contract slot=2 id=202612
 * phase=SETTLED ...". */
void cp_state_describe(const struct cp_state_item *it, char *buf, size_t len);

#endif /* TOKEX_CP_STATE_H */
