/*
 * hw_mirror.h - software's side of the top-N level engine protocol, for the hw tests:
 * turns a book's level changes into level operations for hw_sim, predicts each
 * operation's result from a shadow of the book, and checks the engine against it.
 *
 * Role: test support (tests/hw/test_hw_diff.c, test_hw_lobster.c); allocates freely.
 *
 * Protocol (docs/HW.md): software keeps the full book; the engine holds its top N
 * levels. The shadow is the book's top K levels (K >= N, a window: a level that leaves
 * it is treated as deleted, one that enters it as added, which keeps the shadow equal
 * to the book's top K). hwm_sync() diffs a side's new top K against the shadow and
 * queues SUB (decreases, first) then ADD (increases) operations; after a SUB that
 * deletes a level the engine holds, it queues a REFILL of the shadow's new Nth level.
 * Each queued operation carries its predicted result (code, flags) and the levels the
 * engine must hold right after it (the shadow's top N). Operations run in bursts of
 * HWM_BURST, back to back (hw_sim_ops), and every result is checked.
 */
#ifndef TOKEX_TEST_HW_MIRROR_H
#define TOKEX_TEST_HW_MIRROR_H

#include <stdint.h>

#include "hw_sim.h"

#define HWM_BURST 64

struct hwm_exp {
	uint8_t code, flags;
	struct hw_sim_book lv;
};

struct hwm {
	struct hw_sim *hw;
	unsigned n;  /* engine levels per side */
	uint32_t k;  /* shadow window */
	int64_t *px[2], *qx[2];
	uint32_t cnt[2];
	struct hw_sim_cmd ops[HWM_BURST];
	struct hwm_exp exp[HWM_BURST];
	struct hw_sim_result res[HWM_BURST];
	struct hw_sim_book lv[HWM_BURST];
	uint32_t pending;
	uint64_t passed, failed;
	uint64_t by_op[5], by_code[3], refills, dels, evicts;
	unsigned printed;
};

/* 0, or a negative errno (hw_sim_open's, -ENOMEM). */
int hwm_init(struct hwm *m, unsigned n, uint32_t k, int64_t base, int64_t tick);
void hwm_free(struct hwm *m);

/* Side's new top levels (best first, cnt <= k): queue the operations that bring the
 * shadow (and the engine) there. */
void hwm_sync(struct hwm *m, int side, const int64_t *price, const int64_t *qty,
	      uint32_t cnt);

/* Runs the queued operations and checks them. */
void hwm_flush(struct hwm *m);

/* Compares the engine's top N with the given book tops (after hwm_flush); counts one
 * check passed or failed. */
void hwm_check_book(struct hwm *m, const int64_t *bp, const int64_t *bq, uint32_t nb,
		    const int64_t *ap, const int64_t *aq, uint32_t na, const char *where);

#endif /* TOKEX_TEST_HW_MIRROR_H */
