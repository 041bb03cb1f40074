/*
 * hw_sim.h - a cycle-accurate simulation of the top-N price-level engine (hw/rtl), as a
 * C library (tokex_hwsim) for the offload-target backends and the tests.
 *
 * Role: off the hot path; the stand-in for the FPGA until there is a board. Verilator
 * turns hw/rtl/hw_book.v into C++ (one model per N, fixed at build time: N = 4 and 8);
 * hw_sim.cpp drives its clock and exposes this C API. One hw_sim is one book's engine
 * (both sides); it is not thread-safe (one owner, like a matching core's book).
 *
 * Mapping (docs/HW.md): the RTL holds 32-bit unsigned price ticks and 32-bit unsigned
 * quantities. price = base + ticks * tick (hw_sim_set_map; default base 0, tick 1), so a
 * price must lie on the grid within [base, base + (2^32 - 1) * tick]; quantities are
 * 0 .. HW_SIM_QTY_MAX (0 reaches the hardware, which rejects it). A level's quantity
 * saturates at HW_SIM_QTY_MAX (flag HW_F_SAT): software must then treat it as unknown.
 *
 * The engine mirrors software's book: software keeps the full book, sends each level
 * change (ADD/SUB), and after a result with HW_F_DEL sends a REFILL of the level that
 * is now its Nth (holes[] counts the empty slots per side). See hw/rtl/hw_side.v for
 * the exact semantics of each operation.
 *
 * Errors: int functions return 0 (or a count) or a negative errno; hw_sim_open()
 * returns NULL with errno set.
 */
#ifndef TOKEX_HW_SIM_H
#define TOKEX_HW_SIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum hw_op {
	HW_OP_NOP = 0,
	HW_OP_ADD = 1,    /* add qty at price (insert the level if it belongs in the top N) */
	HW_OP_SUB = 2,    /* remove qty at price (delete the level at or below zero) */
	HW_OP_REFILL = 3, /* insert a level at the bottom (from software's book) */
	HW_OP_CLEAR = 4,  /* empty both sides (side is ignored) */
};

enum hw_code {
	HW_OK = 0,
	HW_MISS = 1,   /* ADD worse than a full table's Nth level, or SUB of an absent price */
	HW_REJECT = 2, /* qty 0; REFILL not into a free bottom slot below every level */
};

/* Result flags. */
#define HW_F_EVICT 0x1u /* ADD inserted into a full table: its Nth level fell out */
#define HW_F_SAT 0x2u   /* ADD saturated the level at HW_SIM_QTY_MAX */
#define HW_F_UNDER 0x4u /* SUB larger than the level (deleted it anyway) */
#define HW_F_DEL 0x8u   /* SUB deleted the level: a hole to REFILL */

#define HW_SIM_MAX_LEVELS 8
#define HW_SIM_LATENCY 2 /* clock cycles from an operation's input to its result */
#define HW_SIM_QTY_MAX 0xffffffffLL
#define HW_SIM_TICKS_MAX 0xffffffffLL

/* One operation for hw_sim_ops(). side: 0 bid (ME_BUY), 1 ask (ME_SELL). */
struct hw_sim_cmd {
	uint8_t op; /* enum hw_op */
	uint8_t side;
	uint8_t pad[6];
	int64_t price;
	int64_t qty;
};

/* One operation's result, with the best of book right after it. */
struct hw_sim_result {
	uint8_t code;    /* enum hw_code */
	uint8_t flags;   /* HW_F_* */
	uint8_t side;    /* the operation's (0 for CLEAR) */
	uint8_t crossed; /* best bid >= best ask, both sides non-empty */
	uint8_t holes[2];  /* empty slots, bid and ask */
	uint8_t pad[2];
	int64_t best_price[2]; /* bid, ask; 0 when the side is empty */
	int64_t best_qty[2];   /* 0 when the side is empty */
	uint64_t cycle;        /* the clock cycle the result appeared in */
};

/* Both sides' levels, best first, as they are right after an operation. */
struct hw_sim_book {
	uint32_t n[2]; /* valid levels, bid and ask */
	int64_t price[2][HW_SIM_MAX_LEVELS];
	int64_t qty[2][HW_SIM_MAX_LEVELS];
};

/* A reset engine with n_levels levels per side (4 or 8); NULL with errno EINVAL for
 * another N, ENOMEM. */
struct hw_sim *hw_sim_open(unsigned n_levels);
void hw_sim_close(struct hw_sim *s);

/* The price grid: price = base + ticks * tick. 0, or -EINVAL if tick < 1. */
int hw_sim_set_map(struct hw_sim *s, int64_t base, int64_t tick);

/* Levels per side (N). */
unsigned hw_sim_n_levels(const struct hw_sim *s);

/* One operation, clocked until its result is out (HW_SIM_LATENCY cycles). 0, or
 * -EINVAL (op or side out of range), -ERANGE (price off the grid or out of range, qty
 * outside 0 .. HW_SIM_QTY_MAX); then nothing reaches the engine. r may be NULL. */
int hw_sim_op(struct hw_sim *s, int op, int side, int64_t price, int64_t qty,
	      struct hw_sim_result *r);

/* A burst: one operation per clock, back to back (n + HW_SIM_LATENCY - 1 cycles), the
 * way the hardware runs. r[i] (and lv[i] if lv is not NULL) receive operation i's
 * result and the levels right after it. Returns how many operations ran: all n, or
 * those before the first invalid one; a negative errno if ops[0] is invalid. */
int hw_sim_ops(struct hw_sim *s, const struct hw_sim_cmd *ops, unsigned n,
	       struct hw_sim_result *r, struct hw_sim_book *lv);

/* Up to n levels of a side, best first; returns how many (0 .. N), -EINVAL for a bad
 * side. */
int hw_sim_top(const struct hw_sim *s, int side, int64_t *price, int64_t *qty, unsigned n);

/* Clock cycles since hw_sim_open() (the reset cycle included). */
uint64_t hw_sim_cycles(const struct hw_sim *s);

#ifdef __cplusplus
}
#endif

#endif /* TOKEX_HW_SIM_H */
