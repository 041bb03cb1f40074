/*
 * ss_snap.h - the session table's recoverable state as one snapshot section, and back
 * (issue 6: recovery replays the journal from the newest snapshot).
 *
 * Role: tokexd's snapshot code (td_snap.c) calls ss_snap_save() on the RX core, the
 * table's owner, between loop passes (no allocation, no system call; O(slots + kept
 * messages)); ss_snap_check()/ss_snap_load() at start into the table ss_table_init()
 * just made, before any record is replayed.
 *
 * What is captured: what replay rebuilds (ss_restore_session, ss_restore_logon,
 * ss_restore_order, ss_event, ss_restore_reply), for every slot that holds a session
 * (NEGOTIATED, ESTABLISHED or TERMINATED: a journaled logon names even one never
 * established): its slot, session id, firm, inbound number (next_in), outbound numbering
 * (next_out), retransmit ring (the last min(next_out - 1, retrans_depth) messages, byte
 * for byte), last cl_ord_id, the timestamp of its newest accepted logon (a replay of an
 * older one stays refused), whether it may have resting orders (invariant 9), a
 * MassCancelAck being merged, and the order of the reclaim list. Not captured, as replay
 * does not rebuild them either: peers, timers, throttle state, counters, the log.
 *
 * Loading gives each captured session the state recovery gives it: TERMINATED in its
 * old slot (terminated at the load's now_ns, for the reclaim linger), its client
 * re-Negotiates, re-Establishes with the same session id and asks for retransmission.
 * The order in which FREE slots and reclaimable TERMINATED ones are given to new
 * session ids (both visible: a slot names its orders) is saved too: the FREE stack as
 * it is; the reclaim list as it is, then the sessions live at the save that cannot have
 * resting orders, in slot order. A table rebuilt by recovery has no live session, so its
 * snapshot loads into exactly the same table; for a live one that addition is the only
 * place where the order may differ from what a full replay would give (which orders
 * them by the journal).
 *
 * Layout (fixed records in host order, dp_snap.h):
 *   struct ss_snap_hdr
 *   n_slots x (struct ss_snap_slot, then n_ring x SS_MSG_MAX bytes: messages
 *              next_out - n_ring .. next_out - 1)
 *   n_fifo x uint16_t slots of the reclaim list, oldest first
 *   n_free x uint16_t slots of the FREE stack, bottom first; padded to 8 bytes
 * Errors (negative errno, reason in err): -EBADMSG not a session section, truncated or
 * inconsistent; -EPROTO another format version; -EINVAL saved by a table of another
 * shape (max sessions, retransmit depth, core) or for a firm this table does
 * not know; -EBUSY the target table is not fresh (a slot not FREE).
 */
#ifndef TOKEX_SS_SNAP_H
#define TOKEX_SS_SNAP_H

#include <stddef.h>
#include <stdint.h>

#include "dataplane/dp_snap.h"
#include "ss_session.h"

#define SS_SNAP_MAGIC 0x4b535354u /* "TSSK" */
#define SS_SNAP_VERSION 3 /* 2: logon_ts; sessions never established are kept;
				   3: one table for both transports (no transport) */

struct ss_snap_hdr {
	struct dp_snap_sect s;
	uint32_t max_sessions;
	uint32_t depth;   /* retransmit ring entries per session */
	uint32_t n_slots; /* sessions that follow */
	uint32_t n_fifo;  /* reclaim list entries after the sessions */
	uint32_t n_free;  /* FREE stack entries after those */
	uint8_t core;
	uint8_t pad[3]; /* pad[0] was the table's transport (up to version 2) */
};
_Static_assert(sizeof(struct ss_snap_hdr) == 40, "ss_snap_hdr layout");

struct ss_snap_slot {
	uint16_t slot;
	uint8_t may_have_orders;
	uint8_t mass_left;   /* MassCancelAck parts still to merge */
	uint32_t firm_id;
	uint64_t session_id;
	uint64_t next_in;
	uint64_t next_out;
	uint64_t last_cl_ord_id;
	uint64_t mass_cl;
	uint32_t mass_count;
	uint32_t n_ring;     /* ring entries that follow */
	uint64_t logon_ts;   /* newest accepted Negotiate/Establish timestamp */
};
_Static_assert(sizeof(struct ss_snap_slot) == 64, "ss_snap_slot layout");

/* Bytes a section of t may need at most (every slot a session with a full ring). */
size_t ss_snap_bound(const struct ss_table *t);

/* Appends t's section to w: bytes written, or -ENOBUFS. Owner thread. */
int64_t ss_snap_save(const struct ss_table *t, struct dp_snap_w *w);

/* Checks the section at buf[0, len) (len may run past it) against t without changing
 * anything: 0 or a negative errno. *used (may be NULL) = the section's length. */
int ss_snap_check(const struct ss_table *t, const void *buf, size_t len, size_t *used,
		  char *err, size_t errlen);

/* ss_snap_check(), then puts the sessions into t (fresh from ss_table_init()) as
 * TERMINATED at now_ns. 0 or a negative errno (an error after the check passed, which only
 * a corrupt section the check cannot see causes - a session id twice - leaves t
 * part-loaded: re-initialise it). */
int ss_snap_load(struct ss_table *t, const void *buf, size_t len, uint64_t now_ns,
		 size_t *used, char *err, size_t errlen);

/* Fingerprint of the table's shape (max sessions, depth, core); firms are
 * not in it (a firm added to the configuration does not invalidate a snapshot; a
 * session of a firm removed from it fails the load with -EINVAL). */
uint64_t ss_snap_config(const struct ss_table *t);

/* ---- Internal: ss_session.c's private state, for ss_snap.c only ---------------------- */

struct ss_snap_table {
	uint32_t max_sessions;
	uint32_t depth;
	uint32_t n_free;
	uint16_t fifo_head; /* SS_NO_SLOT when empty */
	uint8_t core;
};

struct ss_snap_view {
	uint8_t state;           /* enum ss_state */
	uint8_t ever_established;
	uint8_t may_have_orders;
	uint8_t in_fifo;
	uint8_t detaching;       /* FREE, being forgotten (ss_session.h invariant 9) */
	uint8_t mass_left;
	uint16_t fifo_next;      /* next on the reclaim list, SS_NO_SLOT */
	uint32_t firm_id;
	uint32_t mass_count;
	uint64_t session_id, next_in, next_out, last_cl_ord_id, mass_cl;
	uint64_t logon_ts;       /* newest accepted Negotiate/Establish timestamp */
};

void ss__snap_table(const struct ss_table *t, struct ss_snap_table *d);
void ss__snap_slot(const struct ss_table *t, unsigned slot, struct ss_snap_view *v);
/* The ring entry (SS_MSG_MAX bytes) of slot's message seq. */
const uint8_t *ss__snap_ring(const struct ss_table *t, unsigned slot, uint64_t seq);
int ss__snap_firm_known(const struct ss_table *t, uint32_t firm_id);
/* Puts a TERMINATED session in FREE slot with the view's numbering and n_ring ring
 * entries (messages next_out - n_ring ..): 0, -EBUSY slot not FREE, -EEXIST session id
 * held elsewhere, -ENOENT unknown firm. Not on the reclaim list: ss__snap_fifo_push. */
int ss__snap_put(struct ss_table *t, unsigned slot, const struct ss_snap_view *v,
		 const void *ring, uint32_t n_ring, uint64_t now_ns);
void ss__snap_fifo_push(struct ss_table *t, unsigned slot);
/* The FREE stack: entry i (0 = the bottom; slots are taken from the top, n_free - 1). */
uint16_t ss__snap_free_at(const struct ss_table *t, uint32_t i);
/* Replaces the FREE stack (the caller made sure it names exactly the FREE slots). */
void ss__snap_set_free(struct ss_table *t, const uint16_t *stack, uint32_t n);

#endif /* TOKEX_SS_SNAP_H */
