/*
 * td_app.h - tokexd's state: everything allocated before the cores start.
 *
 * Role: the appliance process. The control thread (main) builds a td_app from the
 * configuration, starts the data-path lcores and the TCP gateway thread, then only reads
 * counters, drains logs and waits for a signal or its time limit. Lcore roles:
 *
 *   run-to-completion (mode rtc): one lcore runs td_rx_loop(), which receives, runs the
 *     sessions, matches (mc_process called directly), publishes market data and sends.
 *   pipeline: the RX/session lcore runs td_rx_loop() and hands requests to one or more
 *     matching lcores (td_match_loop()) over SP/SC rings (td_route.h); replies and market
 *     data come back on rings and leave from the RX lcore's TX queue.
 *
 * The TCP gateway (td_gw.c) is a session core of its own (src 1) on the kernel's stack;
 * its requests reach the same matching cores through the same kind of rings.
 */
#ifndef TOKEX_TD_APP_H
#define TOKEX_TD_APP_H

#include <stdatomic.h>
#include <stdint.h>

#include "cp_config.h"
#include "dp_flow.h"
#include "dp_net.h"
#include "dp_port.h"
#include "mc_core.h"
#include "md_pub.h"
#include "ss_session.h"
#include "td_clock.h"
#include "td_route.h"

struct td_gw;
struct td_ctl;
struct td_off;
struct rte_tel_data;
struct jn;
struct ss_params;

/* Per matching core: its engine state and counters (written by that core only). */
struct td_match {
	struct mc_core *mc;
	struct td_app *app;
	unsigned idx;
	unsigned lcore;
	uint64_t ring_full_spins; /* output ring full: waited for the consumer */
	struct td_off *off;        /* top-of-book offload target, NULL = none */
	struct rte_ring *ctl_in;   /* control plane -> this core, dp_ctl (td_ctl.c) */
	struct rte_ring *ctl_out;  /* this core -> control plane, dp_ctl_reply */
	struct rte_ring *ctl_fwd;  /* pipeline with a journal: RX core -> this core, the
				      journaled commands (struct td_ctl_fwd), each announced by
				      a DP_ORD_CTL marker on its request ring */
	uint64_t ctl_lost;         /* control replies dropped: reply ring full */
} __attribute__((aligned(64)));

/* The RX/session core's counters beyond dp_net's and ss_session's. */
struct td_rx_stats {
	uint64_t loops;
	uint64_t orders_routed;
	uint64_t busy_rejects;      /* matching ring full: Reject(BUSY) */
	uint64_t unknown_contract;  /* no core owns the contract */
	uint64_t md_requests;
	uint64_t tx_nombuf;         /* replies that found the pool empty (retried) */
	uint64_t gw_ring_spins;     /* RTC: the gateway's reply ring was full */
	/* journal (td_journal.c) */
	uint64_t jn_busy;           /* journal ring full: Reject(BUSY), not applied */
	uint64_t storage_rejects;   /* journal failed: Reject(STORAGE), not applied */
	uint64_t jn_waits;          /* times the loop waited for durability (control
				       commands, a full hold, the end) */
	uint64_t jn_wait_timeouts;
	uint64_t hold_full_waits;   /* a hold of not-yet-durable output was full: waited */
	uint64_t held_dropped;      /* journal failed: held output discarded, never sent */
} __attribute__((aligned(64)));

struct td_app {
	struct cp_config cfg;
	uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = run until a signal */
	int verbose;
	atomic_int running;

	struct dp_port port;
	struct dp_net net; /* the RX core's */
	struct dp_flow flow; /* NIC steering rules, or the fallback's reason */
	struct td_route route;
	/* The TCP gateway's view of the routes: &route, or (pipeline with a journal) gw_route,
	 * one "core", the RX core, which journals the gateway's requests and forwards them
	 * (req[TD_SRC_GW][0] gateway -> RX, ev[0][TD_SRC_GW] RX -> gateway). */
	struct td_route gw_route;
	struct td_route *gw_rt;
	int jn_pipe; /* pipeline mode with a journal: everything passes the RX core */
	struct ss_table *ss;   /* the UDP sessions (src 0) */
	struct ss_out *ss_out; /* its output, ~100 KiB */
	struct md_pub *md;
	struct td_gw *gw;
	struct td_ctl *ctl; /* the control thread's lifecycle and socket (td_ctl.c) */
	struct td_match match[TD_MAX_MATCH];
	struct td_rx_stats rx;
	/* The input journal (td_journal.c), NULL = off. Written by the RX core only, but
	 * jn_halt, which the control thread reads to report once. */
	struct jn *jn;
	uint64_t jn_last;    /* last seq appended */
	uint64_t jn_durable; /* last durable seq seen */
	uint64_t jn_stall;   /* td_jn_poll: since when output waits with no progress, 0 none */
	atomic_int jn_halt;  /* 0, or the negative errno that stopped the appliance */
	int jn_reported;     /* control thread: the halt was printed */
};


/* The data-path loops (lcore entry points take the td_app). */
int td_rx_loop(void *app);
int td_match_loop(void *match); /* struct td_match * */

/* Hardware offloads (td_offload.c): NIC flow steering and the top-of-book target. */
void td_flow_setup(struct td_app *a);
void td_offload_setup(struct td_app *a);
void td_offload_tob(struct td_match *m, const struct dp_event *ev, unsigned n);
void td_offload_print_logs(struct td_app *a);
void td_offload_telemetry(struct td_app *a, struct rte_tel_data *d);
void td_offload_close(struct td_app *a);

/* The control plane (td_ctl.c): a control ring per matching core, polled by the
 * matching path every TD_CTL_EVERY passes; the control thread's lifecycle, scheduler and
 * tokexctl socket. */
#define TD_CTL_EVERY 64 /* power of two */
void td_ctl_setup(struct td_app *a);                       /* before launch */
void td_ctl_poll(struct td_match *m, struct mc_out *out);  /* matching path */
/* Pipeline with a journal: the RX core takes the commands off every core's control ring,
 * journals each (durable before it goes on) and forwards it, in order with the requests,
 * as a DP_ORD_CTL marker plus a td_ctl_fwd; the matching core applies it at the marker. */
struct td_ctl_fwd {
	struct dp_ctl c;
	int32_t rc; /* not 0: not journaled; the core answers rc without applying */
	uint32_t pad;
};
#define DP_ORD_CTL 16 /* dp_order.type of the marker (never reaches mc_process) */
void td_ctl_poll_journal(struct td_app *a, int (*forward)(void *arg, unsigned m,
							  const struct dp_order *o), void *arg);
void td_ctl_apply_fwd(struct td_match *m, struct mc_out *out);
int td_ctl_start(struct td_app *a);                        /* control thread */
void td_ctl_run(struct td_app *a, int timeout_ms);
void td_ctl_stop(struct td_app *a);

/* The input journal (td_journal.c; issue 6). RX core (the single producer): append
 * returns the seq, 0 ring full, a negative errno (halted: STORAGE); wait busy-polls until
 * everything appended is durable (0) or halts (negative errno); ctl appends and waits. */
/* Before launch; the journal thread runs on cpu (-1: inherit the caller's affinity). */
int td_journal_open(struct td_app *a, int cpu, char *err, size_t errlen);
void td_jn_ss_params(struct td_app *a, struct ss_params *p);
int64_t td_jn_append(struct td_app *a, uint16_t type, const void *p, uint32_t len, uint64_t now);
int td_jn_wait(struct td_app *a);
/* RX core, each pass while output is held (held != 0): the durable seq, without waiting;
 * halts the appliance when the journal failed or made no progress for TD_JN_WAIT_NS. */
uint64_t td_jn_poll(struct td_app *a, int held, uint64_t now);
int td_jn_ctl(struct td_app *a, const struct dp_ctl *c);
int td_jn_halted(const struct td_app *a);
void td_jn_halt_now(struct td_app *a, int err); /* RX core: the journal cannot go on */
void td_journal_report(struct td_app *a); /* control thread */
void td_journal_close(struct td_app *a);

/* The matching cores' counters summed (control thread); returns the output-ring waits. */
uint64_t td_match_stats(const struct td_app *a, struct mc_stats *tot);

/* rte_telemetry commands (/tokex/...). */
void td_telemetry_register(struct td_app *app);

#endif /* TOKEX_TD_APP_H */
