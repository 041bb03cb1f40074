/*
 * hw_match_sim.h - C API over the Verilated order-level matching core (hw/rtl/hw_match.v).
 *
 * Role: simulation support for the differential test (tests/hw/test_hw_match.c) and, later,
 * the offload's sim backend. One model configuration is built: HW_MATCH_LEVELS price
 * levels, HW_MATCH_CAP resting orders, ids of HW_MATCH_IDW bits, quantities up to
 * HW_MATCH_MAXQ. Commands and events are in the core's own units: prices as signed ticks
 * from the window's base, events' prices as level indexes; the caller maps them.
 */
#ifndef TOKEX_HW_MATCH_SIM_H
#define TOKEX_HW_MATCH_SIM_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HW_MATCH_LEVELS 16u
#define HW_MATCH_CAP 31u
#define HW_MATCH_IDW 10u
#define HW_MATCH_MAXQ 1000

struct hw_match_cmd {
	uint8_t type; /* 1 NEW, 2 CANCEL (me_cmd_type; others are rejected INVALID) */
	uint8_t side; /* 0..3 */
	uint8_t tif;  /* 0..7 */
	uint8_t pad;
	uint32_t id;    /* < 2^HW_MATCH_IDW */
	int32_t price;  /* ticks from the window's base */
	int32_t qty;
};

struct hw_match_ev {
	uint8_t type; /* me_ev_type */
	uint8_t reason;
	uint8_t side;
	uint8_t pad;
	uint32_t id;
	uint32_t level; /* ACCEPT, TRADE, MODIFY: price level index */
	uint32_t qty;
	uint32_t leaves;
	uint32_t rid;
	uint32_t rleaves;
};

struct hw_match_sim;

/* NULL with errno (ENOMEM) on failure. The core is reset and empty. */
struct hw_match_sim *hw_match_open(void);
void hw_match_close(struct hw_match_sim *s);

/* Runs one command to completion: presents it, clocks until the core is ready again, and
 * writes its events (at most cap; -ENOSPC if more came) to ev. Returns the number of
 * events, or negative errno (-EINVAL: id out of range). *cycles (if non-NULL) gets the
 * clock cycles from the command's acceptance to the core's next ready cycle. */
int hw_match_apply(struct hw_match_sim *s, const struct hw_match_cmd *c, struct hw_match_ev *ev,
		   unsigned cap, unsigned *cycles);

/* Total clock cycles since open. */
uint64_t hw_match_cycles(const struct hw_match_sim *s);

#ifdef __cplusplus
}
#endif
#endif /* TOKEX_HW_MATCH_SIM_H */
