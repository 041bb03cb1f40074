/*
 * offload_stream.h - a random order stream through the engine (me_book, two books),
 * with the offload target brought up to date after every burst of 1-8 orders, as a
 * matching core does it. Shared by test_offload and test_offload_sim.
 */
#ifndef TOKEX_TEST_OFFLOAD_STREAM_H
#define TOKEX_TEST_OFFLOAD_STREAM_H

#include <inttypes.h>
#include <stdint.h>

#include <tokex/offload.h>

struct os_result {
	uint32_t orders;
	uint32_t updates;
	uint32_t tob_equal; /* updates whose answer equalled me_book_best */
	uint32_t bad_rc;    /* updates that did not return 0 */
};

/* Runs n orders with the given seed against the target o (levels N, >= 2 books). */
void os_run(struct tkx_off *o, uint32_t levels, uint32_t seed, uint32_t n, struct os_result *r);

#endif
