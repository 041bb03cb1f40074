/*
 * test_offload_sim.c - the sim backend (the RTL through Verilator) against the sw model
 * (shadow mode: every event compared) and against the engine, over random streams.
 * Exits 77 when tokex was configured without tokex_hwsim (no verilator, or hw/sim not
 * there yet).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <tokex/offload.h>

#include "offload_stream.h"

int main(void)
{
	if (!tkx_off_have_sim()) {
		printf("SKIP: the sim backend was not built (tokex_hwsim absent: hw/sim needs "
		       "verilator)\n");
		return 77;
	}
	static const uint32_t levels[] = {4, 8}; /* the N the Verilated models are built for */
	int failed = 0;
	for (unsigned li = 0; li < sizeof(levels) / sizeof(levels[0]); li++) {
		struct tkx_off_conf c = {TKX_OFF_SHADOW, TKX_OFF_SIM, levels[li], 2, 256, NULL};
		char err[256] = "";
		struct tkx_off *o = tkx_off_open(&c, err, sizeof(err));
		if (o == NULL) {
			printf("FAIL: open shadow(sim) N=%u: %s\n", levels[li], err);
			return 1;
		}
		struct os_result r;
		struct tkx_off_stats st;
		os_run(o, levels[li], 11 + li, 3000, &r);
		tkx_off_stats_read(o, &st);
		printf("# sim N=%u: %u orders, %u updates, %" PRIu64 " events compared, %" PRIu64
		       " mismatches, %" PRIu64 " misses, %" PRIu64 " refills, engine agreed %u/%u\n",
		       levels[li], r.orders, r.updates, st.events, st.shadow_mismatch, st.misses,
		       st.refills, r.tob_equal, r.updates);
		struct tkx_off_log log[4];
		char line[512];
		unsigned k = tkx_off_log_drain(o, log, 4);
		for (unsigned i = 0; i < k; i++) {
			tkx_off_log_format(&log[i], line, sizeof(line));
			printf("#   %s\n", line);
		}
		if (st.shadow_mismatch || r.bad_rc || r.tob_equal != r.updates)
			failed = 1;
		tkx_off_close(o);
	}
	printf(failed ? "FAIL: the RTL and the sw model disagree\n" : "PASS\n");
	return failed;
}
