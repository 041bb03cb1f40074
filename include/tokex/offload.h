/*
 * offload.h - the top-of-book offload target: one host interface, three backends.
 *
 * Role in the data path: a matching core owns one struct tkx_off (single producer, single
 * consumer; nothing here is shared between cores). After a burst, for every book whose
 * top of book changed, the core hands the book's best N levels per side (me_book_depth)
 * to tkx_off_update(); the library turns the change into level commands (ADD, SUB,
 * REFILL, CLEAR) on a command ring, rings the doorbell once per batch, and reads the
 * target's events (the top of book after every command) from an event ring. The target
 * keeps a top-N price-level table per side per book - what an FPGA would keep next to
 * the wire to publish top of book without the CPU.
 *
 * Backends (enum tkx_off_target):
 *   sw      a C model of the level table (exactly what the RTL implements), run as the
 *           "device" on the host: the doorbell calls it.
 *   sim     the RTL itself through its Verilator model (hw/sim/hw_sim.h, one hw_sim per
 *           book); only when tokex was built with verilator (TKX_OFF_HAVE_SIM).
 *   fpga    the board through VFIO: /dev/vfio/vfio, the configured IOMMU group, BAR0
 *           holds the doorbell registers, the rings live in IOMMU-mapped host memory.
 *   shadow  software and a target side by side (sw model + sim, or + fpga): both get the
 *           same commands, every event pair is compared; a difference is counted, logged
 *           (tkx_off_log_drain) and the software's answer is the one used. The target's
 *           table is then rebuilt from the software book (CLEAR + REFILL).
 *
 * Ring protocol (the same structs an FPGA reads and writes over DMA):
 *  1. Command ring: size a power of two, records of 32 bytes. The host writes record
 *     seq at slot seq & mask with cmd.seq = seq (a free-running uint32), and after a
 *     batch stores cmd_tail = next seq into the doorbell register with one store-release
 *     (the doorbell). The device consumes records [cmd_head, cmd_tail) in order and
 *     checks every cmd.seq == cmd_head; a gap is answered with TKX_OFF_EV_BADSEQ.
 *  2. Event ring: same size, records of 64 bytes, exactly one event per command, in
 *     command order, ev.seq = the command's seq. The device writes the record, phase
 *     byte last (store-release; one 64-byte DMA write on the board). Slot i of lap L
 *     holds phase (L & 1) ^ 1, so the zeroed ring reads as empty and the host, which
 *     knows its own head, polls the phase byte in host memory: no device read.
 *  3. Flow control without device reads: a command is done when its event has been
 *     read, so commands in flight = cmd_tail - (last event seq + 1) <= size, and the
 *     device never has more events to write than the host has room for. The host
 *     returns event slots by storing ev_head in the second doorbell register (once per
 *     poll batch); a device whose event ring is full stops consuming commands until then.
 *  4. Misses: the target holds only the best N levels of a side. When it had to drop a
 *     level (a better one pushed it out, or an ADD beyond its worst) the side is
 *     "truncated"; a SUB that then removes a level leaves a hole the target cannot fill
 *     by itself: the event carries TKX_OFF_EV_MISS and the host answers with REFILL
 *     commands holding the next levels from the software book - never a guess. A REFILL
 *     with qty 0 says "nothing beyond": the side is complete again.
 *
 * Level-table semantics (sw model and RTL alike; "better" = higher bid, lower ask):
 *   ADD(p, q)    q > 0 added to level p; a new level is inserted in order; if the table
 *                is full the worst level leaves (side truncated), and an ADD worse than
 *                the worst level of a full table is ignored (side truncated).
 *   SUB(p, q)    q > 0 removed from level p; at zero the level leaves; a level that
 *                leaves a truncated side raises MISS. A SUB of an unknown level beyond
 *                a truncated table is ignored; any other unknown level, or q above the
 *                level's quantity, is TKX_OFF_EV_ERR (table unchanged).
 *   REFILL(p, q) q > 0 appends level p, which must be worse than the worst held, to a
 *                table that is not full (else ERR); q == 0 clears the truncated flag.
 *   CLEAR        empties both sides of the book and clears their truncated flags.
 * The RTL (hw/rtl/hw_side.v) reports the same tables with its own result codes (MISS
 * for an ADD beyond a full table, EVICT, DEL, holes); the sim backend maps them: REJECT,
 * or MISS of a SUB, is TKX_OFF_EV_ERR. Shadow mode compares what both must agree on:
 * seq, book, side, op, the ERR flag, the level counts and the top of book; MISS and the
 * truncated bits are each backend's own hint to the host.
 *
 * Conventions: constructors return NULL with errno and write the reason into the
 * caller's err buffer; int functions return 0 or a negative errno; burst functions a
 * count. Nothing allocates, locks, prints or makes a system call after tkx_off_open()
 * except the fpga backend's doorbell (an MMIO store, not a system call).
 */
#ifndef TOKEX_OFFLOAD_H
#define TOKEX_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
#include <atomic>
typedef std::atomic<uint32_t> tkx_off_atomic_u32; /* same size and layout as uint32_t */
#else
#include <stdatomic.h>
typedef _Atomic uint32_t tkx_off_atomic_u32;
#endif

/* C and C++ alike (the headers are compiled as C++ in the tests): the layout checks as
 * static_assert in C++, and the declarations with C linkage. */
#ifndef TKX_STATIC_ASSERT
#ifdef __cplusplus
#define TKX_STATIC_ASSERT static_assert
#else
#define TKX_STATIC_ASSERT _Static_assert
#endif
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define TKX_OFF_MAX_LEVELS 64   /* N, per side */
#define TKX_OFF_MAX_BOOKS 64    /* books one target holds (a matching core's contracts) */
#define TKX_OFF_RING_MIN 16
#define TKX_OFF_RING_MAX 65536
#define TKX_OFF_RING_DEFAULT 1024
#define TKX_OFF_LOG_SIZE 64     /* log records kept for the control plane */

enum tkx_off_target {
	TKX_OFF_NONE = 0,
	TKX_OFF_SW = 1,
	TKX_OFF_SIM = 2,
	TKX_OFF_FPGA = 3,
	TKX_OFF_SHADOW = 4,
};

enum tkx_off_op {
	TKX_OFF_ADD = 1,
	TKX_OFF_SUB = 2,
	TKX_OFF_REFILL = 3,
	TKX_OFF_CLEAR = 4,
};

enum tkx_off_side { TKX_OFF_BID = 0, TKX_OFF_ASK = 1 }; /* = me_side */

/* Event flags. */
#define TKX_OFF_EV_MISS 0x01   /* a level left a truncated side: REFILL expected */
#define TKX_OFF_EV_ERR 0x02    /* the command was refused; the table is unchanged */
#define TKX_OFF_EV_BADSEQ 0x04 /* cmd.seq was not the next one (with ERR) */

/* One command, host -> target. 32 bytes, little-endian, fixed layout. */
struct tkx_off_cmd {
	uint32_t seq;   /* free-running command number, protocol rule 1 */
	uint8_t op;     /* enum tkx_off_op */
	uint8_t side;   /* enum tkx_off_side */
	uint16_t book;  /* < n_books */
	int64_t price;
	int64_t qty;
	uint64_t rsvd;  /* zero */
};

/* One event, target -> host: the book's top of book after the command. 64 bytes (one
 * cache line, one DMA write). An empty side reads price 0, qty 0. */
struct tkx_off_ev {
	uint32_t seq;      /* the command's seq */
	uint8_t flags;     /* TKX_OFF_EV_* */
	uint8_t side;      /* the command's side */
	uint16_t book;
	uint8_t n_bid;     /* levels held after the command */
	uint8_t n_ask;
	uint8_t trunc;     /* bit 0: bid side truncated, bit 1: ask side */
	uint8_t op;        /* the command's op */
	uint8_t pad[3];
	uint8_t phase;     /* written last: protocol rule 2 */
	int64_t bid_price;
	int64_t bid_qty;
	int64_t ask_price;
	int64_t ask_qty;
	uint64_t rsvd[2];
};

TKX_STATIC_ASSERT(sizeof(struct tkx_off_cmd) == 32, "tkx_off_cmd is 32 bytes");
TKX_STATIC_ASSERT(offsetof(struct tkx_off_cmd, price) == 8, "tkx_off_cmd.price at 8");
TKX_STATIC_ASSERT(offsetof(struct tkx_off_cmd, qty) == 16, "tkx_off_cmd.qty at 16");
TKX_STATIC_ASSERT(sizeof(struct tkx_off_ev) == 64, "tkx_off_ev is 64 bytes");
TKX_STATIC_ASSERT(offsetof(struct tkx_off_ev, phase) == 15, "tkx_off_ev.phase at 15");
TKX_STATIC_ASSERT(offsetof(struct tkx_off_ev, bid_price) == 16, "tkx_off_ev.bid_price at 16");
TKX_STATIC_ASSERT(offsetof(struct tkx_off_ev, ask_qty) == 40, "tkx_off_ev.ask_qty at 40");

/* The doorbell registers (BAR0 offsets 0 and 4 on the board). The host is their only
 * writer. */
struct tkx_off_regs {
	tkx_off_atomic_u32 cmd_tail; /* commands before it are posted */
	tkx_off_atomic_u32 ev_head;  /* event slots before it are free again */
};

/* What tkx_off_open() needs. */
struct tkx_off_conf {
	uint32_t target;      /* enum tkx_off_target, not NONE */
	uint32_t shadow_of;   /* SHADOW only: SW, SIM or FPGA; 0 = SIM if built, else SW */
	uint32_t n_levels;    /* N, 1..TKX_OFF_MAX_LEVELS */
	uint32_t n_books;     /* 1..TKX_OFF_MAX_BOOKS */
	uint32_t ring_size;   /* power of two in [TKX_OFF_RING_MIN, MAX]; 0 = default */
	const char *vfio_group; /* fpga: IOMMU group number or /dev/vfio/N path */
};

/* The software's levels of one book at the end of a burst: best first, n <= N each. */
struct tkx_off_levels {
	uint32_t n[2];
	int64_t price[2][TKX_OFF_MAX_LEVELS];
	int64_t qty[2][TKX_OFF_MAX_LEVELS];
};

struct tkx_off_tob {
	int64_t bid_price, bid_qty, ask_price, ask_qty; /* 0, 0 for an empty side */
};

/* Counters, written by the owning core only. */
struct tkx_off_stats {
	uint64_t updates;          /* tkx_off_update() calls */
	uint64_t cmds;             /* commands posted (per target channel 0) */
	uint64_t doorbells;
	uint64_t events;
	uint64_t misses;           /* MISS events */
	uint64_t refills;          /* REFILL commands sent */
	uint64_t errors;           /* ERR events from the target */
	uint64_t ring_full;        /* a post found the command ring full and drained first */
	uint64_t shadow_mismatch;  /* shadow: target event != software event */
	uint64_t engine_mismatch;  /* target's top of book != the engine's after a sync */
	uint64_t resyncs;          /* target tables rebuilt from the software book */
	uint64_t log_dropped;      /* log records lost: the log was full */
};

/* A discrepancy, for the control plane's log. */
enum tkx_off_log_kind { TKX_OFF_LOG_SHADOW = 1, TKX_OFF_LOG_ENGINE = 2, TKX_OFF_LOG_ERR = 3 };
struct tkx_off_log {
	uint32_t kind;          /* enum tkx_off_log_kind */
	uint32_t book;
	struct tkx_off_ev want; /* software's event (ENGINE: the engine's top of book) */
	struct tkx_off_ev got;  /* the target's */
};

struct tkx_off;

/* Parses "sw", "sim", "fpga", "shadow", "none": 0 and *t, or -EINVAL. */
int tkx_off_target_parse(const char *s, uint32_t *t);
const char *tkx_off_target_name(uint32_t t);

/* Was the sim backend built (tokex_hwsim found)? */
int tkx_off_have_sim(void);

/* Opens a target: allocates its rings and tables (the only allocation), opens the
 * device. NULL with errno (EINVAL bad conf, ENOTSUP sim not built, ENOENT/ENODEV/EACCES
 * no device...) and one line in err saying what to do. */
struct tkx_off *tkx_off_open(const struct tkx_off_conf *c, char *err, size_t errlen);
void tkx_off_close(struct tkx_off *o);

/* ---- the rings, for tests and for callers that drive commands themselves ---------- */

/* Queues up to n commands (their seq fields are set here) without ringing the doorbell.
 * Returns how many fit: in flight never exceeds the ring size (rule 3). */
unsigned tkx_off_post(struct tkx_off *o, const struct tkx_off_cmd *cmds, unsigned n);

/* One doorbell for everything posted since the last: cmd_tail and ev_head stores. */
void tkx_off_doorbell(struct tkx_off *o);

/* Up to n events that have arrived (phase bit), oldest first; returns the slots to the
 * device. In shadow mode these are software's events, each compared with the
 * target's. Returns how many. */
unsigned tkx_off_poll(struct tkx_off *o, struct tkx_off_ev *ev, unsigned n);

/* Commands posted whose events have not been polled. */
uint32_t tkx_off_in_flight(const struct tkx_off *o);

/* ---- the matching core's call ----------------------------------------------------- */

/* Brings book `book` of the target to the software's levels w: level commands for the
 * change since the last update, one doorbell, the events, REFILLs for every MISS, then
 * compares the target's top of book with w's best. *tob (may be NULL) gets the answer
 * that wins: the engine's. Returns 0, -ERANGE when the target disagreed (counted,
 * logged, and the target rebuilt), -EINVAL for a bad book, -ETIMEDOUT when a device
 * stopped answering. */
int tkx_off_update(struct tkx_off *o, uint32_t book, const struct tkx_off_levels *w,
		   struct tkx_off_tob *tob);

void tkx_off_stats_read(const struct tkx_off *o, struct tkx_off_stats *s);

/* Called by the control plane on another thread: drains up to n log records (SP/SC). */
unsigned tkx_off_log_drain(struct tkx_off *o, struct tkx_off_log *out, unsigned n);
size_t tkx_off_log_format(const struct tkx_off_log *l, char *buf, size_t len);

/* Fault injection for tests: the target's nth event from now (1 = the next one) has
 * its bid quantity changed by +1 (or bid_price, when the bid side is empty). */
void tkx_off_inject_event_fault(struct tkx_off *o, uint32_t nth);

/* The backend actually running (SHADOW reports SHADOW); shadow's target in *inner. */
uint32_t tkx_off_target_of(const struct tkx_off *o, uint32_t *inner);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_OFFLOAD_H */
