/*
 * td_route.h - which matching core owns which contract, and the rings between cores.
 *
 * Role: read by the session core (the DPDK RX core, which owns the sessions of both
 * transports) for every request, to pick the ring it goes on. Built once from the
 * configuration before the cores start; only appended to later (td_route_add).
 *
 * Rings (rte_ring, single producer / single consumer, fixed size from configuration):
 *   req[src][m]  session core src -> matching core m   (struct dp_order)
 *   ev[m][src]   matching core m -> session core src    (struct dp_event replies)
 *   md[m]        matching core m -> market-data publisher (struct dp_event, 300-302)
 * src 0 is the DPDK RX/session core, the only session core (the TCP gateway thread is a
 * transport that hands its frames to it, td_gw.h). In run-to-completion mode the RX core
 * calls its matching core directly, so req[0][*], ev[*][0] and md[*] are unused.
 */
#ifndef TOKEX_TD_ROUTE_H
#define TOKEX_TD_ROUTE_H

#include <errno.h>
#include <stdint.h>

#define TD_MAX_MATCH 16
#define TD_MAX_CONTRACTS 64
#define TD_SRC_RX 0
#define TD_N_SRC 1

struct rte_ring;

struct td_route {
	uint32_t n;
	uint32_t n_match;
	uint32_t contract[TD_MAX_CONTRACTS];
	uint8_t core[TD_MAX_CONTRACTS];
	struct rte_ring *req[TD_N_SRC][TD_MAX_MATCH];
	struct rte_ring *ev[TD_MAX_MATCH][TD_N_SRC];
	struct rte_ring *md[TD_MAX_MATCH];
};

/* The matching core that owns contract_id, or -1. A linear scan of at most 64 ids in
 * one or two cache lines beats a hash at this size. Entries are only ever appended (a
 * month listed at run time): the count is published after its entry is written, so a
 * reader sees whole entries without a lock. */
static inline int td_route_core(const struct td_route *r, uint32_t contract_id)
{
	uint32_t n = __atomic_load_n(&r->n, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++)
		if (r->contract[i] == contract_id)
			return r->core[i];
	return -1;
}

/* Control thread only: routes a contract listed at run time to its matching core. A
 * contract already routed (listed again after a delisting) keeps its entry. 0, or -ENOSPC. */
static inline int td_route_add(struct td_route *r, uint32_t contract_id, uint8_t core)
{
	if (td_route_core(r, contract_id) >= 0)
		return 0;
	if (r->n >= TD_MAX_CONTRACTS)
		return -ENOSPC;
	r->contract[r->n] = contract_id;
	r->core[r->n] = core;
	__atomic_store_n(&r->n, r->n + 1, __ATOMIC_RELEASE);
	return 0;
}

#endif /* TOKEX_TD_ROUTE_H */
