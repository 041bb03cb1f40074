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
#include "td_route.h"

struct td_gw;
struct td_ctl;
struct td_off;
struct rte_tel_data;

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
	struct ss_table *ss;   /* the UDP sessions (src 0) */
	struct ss_out *ss_out; /* its output, ~100 KiB */
	struct md_pub *md;
	struct td_gw *gw;
	struct td_ctl *ctl; /* the control thread's lifecycle and socket (td_ctl.c) */
	struct td_match match[TD_MAX_MATCH];
	struct td_rx_stats rx;
};

uint64_t td_now_ns(void);

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
int td_ctl_start(struct td_app *a);                        /* control thread */
void td_ctl_run(struct td_app *a, int timeout_ms);
void td_ctl_stop(struct td_app *a);

/* rte_telemetry commands (/tokex/...). */
void td_telemetry_register(struct td_app *app);

#endif /* TOKEX_TD_APP_H */
