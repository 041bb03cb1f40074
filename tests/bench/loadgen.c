/*
 * loadgen.c - tokex-loadgen: an open-loop UDP order-entry load generator for tokexd,
 * measuring wire-to-ack and wire-to-fill latency over a DPDK port (net_memif client).
 *
 * Role: a benchmark client, one pinned lcore (the main thread) that both sends and
 * receives. Before any clock starts it builds the whole request stream of a workload
 * (quoting, multi, lobster) in memory, allocates every per-request slot, and resolves
 * tokexd's MAC by ARP. For each offered rate it then negotiates and establishes a fresh
 * session (HMAC with the firm secret from the configuration), and sends request i at its
 * scheduled TSC time t0 + i / rate, whatever happened before: latency is measured from the
 * scheduled time, not from the moment the request actually left, so a stall of the
 * generator or of tokexd is counted against every request it delays (no coordinated
 * omission). Requests due at the same pass share a datagram (Sequence first). Each reply
 * is matched to its request by cl_ord_id (= index + 1 in the session). With the
 * configuration's sessions.udp_auth required (the default) every datagram after the
 * Negotiate is sealed with a DatagramAuth and the replies' are verified, as a member's
 * client does: the cost is in the figures; with off, neither side MACs.
 *
 * Measured per rate: NewOrder -> ExecAck ("ack"), NewOrder -> first aggressor Fill
 * ("fill"), Cancel/Modify -> Cancelled/ModifyAck ("cxl"), each in a fixed log-linear
 * histogram (32 sub-buckets per power of two: at most 3.1% wide; no allocation in the
 * loop). Unanswered requests after a drain period are "lost"; ExecRejects are counted by
 * reason. One CSV row per rate on stdout; optionally the ack histogram of one rate.
 *
 * Invariants: after a run starts, nothing allocates, prints or locks until the run's end;
 * cl_ord_id i + 1 belongs to request i of the current session; order_id[i] is non-zero
 * once request i (a NewOrder) was acked.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <rte_arp.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_ether.h>
#include <rte_mbuf.h>

#include "cp_config.h"
#include "dp_net.h"
#include "dp_port.h"
#include "lobster.h"
#include "tokex/codec.h"
#include "tokex/proto.h"
#include "tokex/version.h"

#define LG_MAX_RATES 32
#define LG_BATCH 25        /* requests per datagram at most: 16 + 25 * 56 + 24 = 1440 bytes */
#define LG_DGRAMS 8        /* datagrams per send pass at most */
/* A datagram of LG_BATCH of the largest request (NewOrder), its Sequence and DatagramAuth. */
_Static_assert(TKX_HDR_LEN + sizeof(struct tkx_sequence) +
		       LG_BATCH * (TKX_HDR_LEN + sizeof(struct tkx_new_order)) + TKX_AUTH_LEN <=
	       TKX_MAX_DGRAM, "LG_BATCH requests fit a datagram");
#define LG_H_BUCKETS 1280  /* log-linear: covers up to 2^40 ns */
#define LG_CLIENT_PORT 40000

enum { RQ_NEW = 1, RQ_CANCEL, RQ_MODIFY };

/* One precomputed request. 32 bytes. */
struct lg_req {
	uint8_t type;
	uint8_t side;
	uint8_t tif;
	uint8_t pad;
	uint32_t contract;
	int64_t price;
	uint32_t qty;
	uint32_t target; /* cancel/modify: index of the NewOrder it acts on */
	uint64_t pad2;
};

struct lg_hist {
	uint64_t n, max_ns;
	uint64_t b[LG_H_BUCKETS];
};

/* Per-request state of the current run. */
#define ST_ANSWERED 1
#define ST_FILLED 2

struct lg {
	struct cp_config cfg;
	const struct cp_firm *firm;
	struct dp_port port;
	struct dp_net net;
	struct dp_peer server;
	uint32_t my_ip, srv_ip; /* network order */
	uint16_t srv_port;
	uint64_t hz;
	uint64_t ns_per_tick_q32;
	/* the stream */
	struct lg_req *req;
	size_t n_req;
	uint64_t *order_id;
	uint8_t *st;
	/* the run */
	uint64_t session_id;
	int keyed;                 /* auth holds this session's keys (sessions.udp_auth) */
	struct tkx_auth_keys auth;
	uint64_t auth_tx, auth_rx; /* DatagramAuth counters: ours sent, theirs accepted */
	uint64_t auth_dropped;     /* replies whose DatagramAuth did not verify */
	uint64_t t0, q32_ticks_per_req; /* schedule: t0 + (i * q32) >> 32 */
	size_t n_run, next, answered;
	uint64_t last_answer_tsc, max_send_lag;
	uint64_t rejects, rej_reason[32], unresolved, fills, not_applied, brejects, terminated;
	struct lg_hist h_ack, h_fill, h_cxl;
};

static uint64_t lg_wall_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- histogram ---------------------------------------------------------------------- */

static inline unsigned h_idx(uint64_t v)
{
	if (v < 64)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v) - 5u; /* v >> e in [32, 63] */
	unsigned i = e * 32u + (unsigned)(v >> e);
	return i < LG_H_BUCKETS ? i : LG_H_BUCKETS - 1;
}

static uint64_t h_lower(unsigned i)
{
	if (i < 64)
		return i;
	unsigned e = i / 32u - 1u;
	return (uint64_t)(i - e * 32u) << e;
}

static uint64_t h_upper(unsigned i)
{
	return i + 1 < LG_H_BUCKETS ? h_lower(i + 1) - 1 : UINT64_MAX;
}

static inline void h_add(struct lg_hist *h, uint64_t ns)
{
	h->b[h_idx(ns)]++;
	h->n++;
	if (ns > h->max_ns)
		h->max_ns = ns;
}

/* The q-quantile, reported as the upper edge of its bucket (never below the truth). */
static uint64_t h_quantile(const struct lg_hist *h, double q)
{
	if (h->n == 0)
		return 0;
	uint64_t want = (uint64_t)(q * (double)h->n);
	if (want >= h->n)
		want = h->n - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < LG_H_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > want) {
			uint64_t u = h_upper(i);
			return u < h->max_ns ? u : h->max_ns;
		}
	}
	return h->max_ns;
}

/* ---- workloads (built before any clock starts; allocate freely) --------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint32_t rnd(uint32_t n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (uint32_t)((rng_state >> 11) % n);
}

#define Q_LIVE_CAP 4096u /* power of two */
struct q_contract {
	uint32_t id;
	int64_t ref, tick;
	uint32_t live[Q_LIVE_CAP];
	uint32_t head, tail; /* free-running */
};

/* The quoting mix around each contract's reference: 40% passive GTC 1-32 ticks from the
 * reference, 12% IOC 2 ticks through it (crossing resting orders), 33% cancels and 15%
 * modifies of the oldest live passive order (which may have traded meanwhile: a late
 * cancel, answered UNKNOWN_ORDER). Below 500 live orders a contract only adds. */
static int gen_quoting(struct lg *g, size_t n, const uint32_t *ids, unsigned n_ids)
{
	struct q_contract *qc = calloc(n_ids, sizeof(*qc));
	if (!qc)
		return -ENOMEM;
	for (unsigned c = 0; c < n_ids; c++) {
		const struct cp_contract *k = NULL;
		for (uint32_t i = 0; i < g->cfg.n_contracts; i++)
			if (g->cfg.contracts[i].id == ids[c])
				k = &g->cfg.contracts[i];
		if (!k) {
			fprintf(stderr, "loadgen: contract %u is not in the configuration\n", ids[c]);
			free(qc);
			return -EINVAL;
		}
		qc[c].id = k->id;
		qc[c].ref = k->ref_price;
		qc[c].tick = k->tick;
	}
	for (size_t i = 0; i < n; i++) {
		struct q_contract *q = &qc[rnd(n_ids)];
		struct lg_req *r = &g->req[i];
		uint32_t live = q->tail - q->head, p = rnd(100);
		memset(r, 0, sizeof(*r));
		r->contract = q->id;
		if (live < 500 || live >= Q_LIVE_CAP - 1 || p < 40) {
			if (live >= Q_LIVE_CAP - 1) {
				p = 60; /* full: cancel instead */
				goto cancel;
			}
			r->type = RQ_NEW;
			r->side = (uint8_t)(1 + rnd(2));
			r->tif = TKX_TIF_GTC;
			int64_t k = 1 + rnd(32);
			r->price = r->side == TKX_SIDE_BUY ? q->ref - k * q->tick : q->ref + k * q->tick;
			r->qty = 1 + rnd(10);
			q->live[q->tail++ & (Q_LIVE_CAP - 1)] = (uint32_t)i;
			continue;
		}
		if (p < 52) {
			r->type = RQ_NEW;
			r->side = (uint8_t)(1 + rnd(2));
			r->tif = TKX_TIF_IOC;
			r->price = r->side == TKX_SIDE_BUY ? q->ref + 2 * q->tick : q->ref - 2 * q->tick;
			r->qty = 1 + rnd(10);
			continue;
		}
cancel:
		r->target = q->live[q->head++ & (Q_LIVE_CAP - 1)];
		if (p < 85) {
			r->type = RQ_CANCEL;
			continue;
		}
		r->type = RQ_MODIFY;
		r->side = g->req[r->target].side;
		int64_t k = 1 + rnd(32);
		r->price = r->side == TKX_SIDE_BUY ? q->ref - k * q->tick : q->ref + k * q->tick;
		r->qty = 1 + rnd(10);
		q->live[q->tail++ & (Q_LIVE_CAP - 1)] = r->target;
	}
	free(qc);
	return 0;
}

/* The LOBSTER day as wire requests, in file order: adds are GTC NewOrders; partial
 * cancels are Modify (same price, smaller remaining) or Cancel; deletions Cancel;
 * each visible execution row an IOC from the other side at its price; hidden executions,
 * crosses and halts nothing. Orders added before the file starts are unknown and their
 * cancels and executions-as-resting are skipped (the book is not seeded). */
struct lob_ent {
	int64_t id;
	uint32_t idx;
	uint32_t left;
};

static int gen_lobster(struct lg *g, const char *dir, uint32_t contract, size_t *n_out)
{
	struct lob_day d;
	char err[256];
	int rc = lob_load(&d, dir, 0, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "loadgen: lobster: %s\n", err);
		return rc;
	}
	size_t cap = 1;
	while (cap < 2 * d.n)
		cap <<= 1;
	struct lob_ent *ht = calloc(cap, sizeof(*ht));
	if (!ht) {
		lob_free(&d);
		return -ENOMEM;
	}
	size_t n = 0;
	for (size_t i = 1; i < d.n && n < g->n_req; i++) {
		const struct lob_msg *m = &d.msg[i];
		struct lg_req *r = &g->req[n];
		size_t h = ((uint64_t)m->id * 0x9e3779b97f4a7c15ull) >> 20 & (cap - 1);
		while (ht[h].id && ht[h].id != m->id)
			h = (h + 1) & (cap - 1);
		memset(r, 0, sizeof(*r));
		r->contract = contract;
		switch (m->type) {
		case LOB_ADD:
			r->type = RQ_NEW;
			r->side = m->dir == 1 ? TKX_SIDE_BUY : TKX_SIDE_SELL;
			r->tif = TKX_TIF_GTC;
			r->price = m->price;
			r->qty = (uint32_t)m->size;
			ht[h].id = m->id;
			ht[h].idx = (uint32_t)n;
			ht[h].left = (uint32_t)m->size;
			n++;
			break;
		case LOB_CANCEL:
		case LOB_DELETE:
			if (ht[h].id == 0 || ht[h].left == 0)
				break;
			r->target = ht[h].idx;
			if (m->type == LOB_CANCEL && ht[h].left > m->size) {
				ht[h].left -= (uint32_t)m->size;
				r->type = RQ_MODIFY;
				r->price = g->req[r->target].price;
				r->qty = ht[h].left;
			} else {
				ht[h].left = 0;
				r->type = RQ_CANCEL;
			}
			n++;
			break;
		case LOB_EXEC:
			if (ht[h].id && ht[h].left)
				ht[h].left -= ht[h].left > m->size ? (uint32_t)m->size : ht[h].left;
			r->type = RQ_NEW;
			r->side = m->dir == 1 ? TKX_SIDE_SELL : TKX_SIDE_BUY;
			r->tif = TKX_TIF_IOC;
			r->price = m->price;
			r->qty = (uint32_t)m->size;
			n++;
			break;
		default:
			break;
		}
	}
	fprintf(stderr, "loadgen: lobster day: %zu rows, prices [%" PRId64 ", %" PRId64
		"], tick %" PRId64 ": %zu requests\n", d.n, d.px_min, d.px_max, d.tick, n);
	free(ht);
	lob_free(&d);
	*n_out = n;
	return 0;
}

/* ---- packets ------------------------------------------------------------------------- */

/* Seals p[0, len) (capacity TKX_MAX_DGRAM) with the session's next DatagramAuth; the new
 * length. Logon datagrams go as they are (signed by themselves). */
static inline int lg_seal(struct lg *g, uint8_t *p, int len)
{
	if (!g->keyed)
		return len;
	return tkx_auth_seal(g->auth.c2e, ++g->auth_tx, p, (size_t)len, TKX_MAX_DGRAM);
}

static void lg_send_payload(struct lg *g, const void *p, uint16_t len)
{
	struct rte_mbuf *m = dp_net_udp_alloc(&g->net, g->port.pool, &g->server, LG_CLIENT_PORT,
					      p, len);
	if (m)
		dp_net_tx_burst(&g->net, g->port.port_id, 0, &m, 1);
}

/* ARP for the server's MAC: dp_net answers requests but drops replies, so the raw frames
 * are looked at here, before dp_net sees them. */
static int lg_arp(struct lg *g)
{
	for (int attempt = 0; attempt < 50; attempt++) {
		struct rte_mbuf *m = rte_pktmbuf_alloc(g->port.pool);
		if (!m)
			return -ENOMEM;
		struct rte_ether_hdr *eh = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
		struct rte_arp_hdr *ah = (struct rte_arp_hdr *)(eh + 1);
		memset(&eh->dst_addr, 0xff, sizeof(eh->dst_addr));
		eh->src_addr = g->port.mac;
		eh->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
		ah->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
		ah->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
		ah->arp_hlen = RTE_ETHER_ADDR_LEN;
		ah->arp_plen = 4;
		ah->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
		ah->arp_data.arp_sha = g->port.mac;
		ah->arp_data.arp_sip = g->my_ip;
		memset(&ah->arp_data.arp_tha, 0, sizeof(ah->arp_data.arp_tha));
		ah->arp_data.arp_tip = g->srv_ip;
		m->data_len = m->pkt_len = sizeof(*eh) + sizeof(*ah);
		if (rte_eth_tx_burst(g->port.port_id, 0, &m, 1) != 1)
			rte_pktmbuf_free(m);
		uint64_t end = rte_rdtsc() + g->hz / 10;
		while (rte_rdtsc() < end) {
			struct rte_mbuf *pk[DP_NET_BURST];
			uint16_t n = rte_eth_rx_burst(g->port.port_id, 0, pk, DP_NET_BURST);
			int found = 0;
			for (uint16_t i = 0; i < n; i++) {
				const struct rte_ether_hdr *e = rte_pktmbuf_mtod(pk[i], const struct rte_ether_hdr *);
				const struct rte_arp_hdr *a = (const struct rte_arp_hdr *)(e + 1);
				if (!found && pk[i]->data_len >= sizeof(*e) + sizeof(*a) &&
				    e->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP) &&
				    a->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REPLY) &&
				    a->arp_data.arp_sip == g->srv_ip) {
					g->server.mac = a->arp_data.arp_sha;
					found = 1;
				}
				rte_pktmbuf_free(pk[i]);
			}
			if (found)
				return 0;
		}
	}
	return -ETIMEDOUT;
}

static void lg_on_msg(struct lg *g, const struct tkx_msg *m, uint64_t now);

/* One receive pass: every datagram's messages to lg_on_msg (or to `want` handling). */
static unsigned lg_rx(struct lg *g, uint64_t now)
{
	struct rte_mbuf *pk[DP_NET_BURST], *rep[DP_NET_BURST];
	struct dp_dgram dg[DP_NET_BURST];
	unsigned n_rep = 0;
	uint16_t n = rte_eth_rx_burst(g->port.port_id, 0, pk, DP_NET_BURST);
	if (n == 0)
		return 0;
	unsigned nd = dp_net_rx(&g->net, pk, n, now, dg, rep, &n_rep);
	if (n_rep)
		dp_net_tx_burst(&g->net, g->port.port_id, 0, rep, n_rep);
	for (unsigned i = 0; i < nd; i++) {
		struct tkx_dgram_iter it;
		struct tkx_msg msg;
		size_t len = dg[i].len;
		if (g->keyed) {
			uint64_t ctr;
			int off = tkx_auth_open(g->auth.e2c, dg[i].data, len, &ctr);
			if (off >= 0 && ctr > g->auth_rx) {
				g->auth_rx = ctr;
				len = (size_t)off;
			} else if (off != -ENOENT) {
				g->auth_dropped++;
				goto next;
			} /* unsealed: a refused logon, which the exchange cannot seal */
		}
		tkx_dgram_init(&it, dg[i].data, len);
		while (tkx_dgram_next(&it, &msg) > 0)
			lg_on_msg(g, &msg, now);
	next:
		rte_pktmbuf_free(dg[i].m);
	}
	return n;
}

static inline uint64_t lg_ns(const struct lg *g, uint64_t ticks)
{
	return (uint64_t)(((unsigned __int128)ticks * g->ns_per_tick_q32) >> 32);
}

static inline uint64_t lg_sched(const struct lg *g, size_t i)
{
	return g->t0 + (uint64_t)(((unsigned __int128)i * g->q32_ticks_per_req) >> 32);
}

/* Session-layer answers seen while setting up / tearing down. */
static int g_seen_template;
static uint16_t g_seen_reason;

static void lg_on_msg(struct lg *g, const struct tkx_msg *m, uint64_t now)
{
	size_t i;
	switch (m->template_id) {
	case TKX_EXEC_ACK:
		i = m->exec_ack.cl_ord_id - 1;
		if (i >= g->n_run)
			return;
		g->order_id[i] = m->exec_ack.order_id;
		if (!(g->st[i] & ST_ANSWERED)) {
			g->st[i] |= ST_ANSWERED;
			g->answered++;
			g->last_answer_tsc = now;
			h_add(&g->h_ack, lg_ns(g, now - lg_sched(g, i)));
		}
		return;
	case TKX_EXEC_REJECT:
		i = m->exec_reject.cl_ord_id - 1;
		g->rejects++;
		g->rej_reason[m->exec_reject.reason & 31]++;
		if (i < g->n_run && !(g->st[i] & ST_ANSWERED)) {
			g->st[i] |= ST_ANSWERED;
			g->answered++;
			g->last_answer_tsc = now;
		}
		return;
	case TKX_FILL:
		g->fills++;
		i = m->fill.cl_ord_id - 1;
		if (m->fill.aggressor && i < g->n_run && !(g->st[i] & ST_FILLED)) {
			g->st[i] |= ST_FILLED;
			h_add(&g->h_fill, lg_ns(g, now - lg_sched(g, i)));
		}
		return;
	case TKX_CANCELLED:
		i = m->cancelled.cl_ord_id - 1;
		if (i < g->n_run && g->req[i].type != RQ_NEW && !(g->st[i] & ST_ANSWERED)) {
			g->st[i] |= ST_ANSWERED;
			g->answered++;
			g->last_answer_tsc = now;
			h_add(&g->h_cxl, lg_ns(g, now - lg_sched(g, i)));
		}
		return;
	case TKX_MODIFY_ACK:
		i = m->modify_ack.cl_ord_id - 1;
		if (i < g->n_run && !(g->st[i] & ST_ANSWERED)) {
			g->st[i] |= ST_ANSWERED;
			g->answered++;
			g->last_answer_tsc = now;
			h_add(&g->h_cxl, lg_ns(g, now - lg_sched(g, i)));
		}
		return;
	case TKX_NOT_APPLIED:
		g->not_applied += m->not_applied.count;
		return;
	case TKX_BUSINESS_REJECT:
		g->brejects++;
		return;
	case TKX_TERMINATE:
		g->terminated++;
		g_seen_template = m->template_id;
		g_seen_reason = m->terminate.reason;
		return;
	case TKX_NEGOTIATION_REJECT:
		g_seen_reason = m->negotiation_reject.reason;
		g_seen_template = m->template_id;
		return;
	case TKX_ESTABLISHMENT_REJECT:
		g_seen_reason = m->establishment_reject.reason;
		g_seen_template = m->template_id;
		return;
	case TKX_NEGOTIATION_RESPONSE:
	case TKX_ESTABLISHMENT_ACK:
		g_seen_template = m->template_id;
		return;
	default:
		return;
	}
}

/* A logon message, built again for each attempt: a repeat carries a new timestamp (and,
 * for a Negotiate, keys of its own), since the exchange refuses one not newer than what it
 * accepted (protocol 4.1). Returns the length in buf, or a negative errno. */
typedef int (*lg_build_fn)(struct lg *g, uint8_t *buf, size_t cap);

/* Sends a session message and waits up to 1 s for one of two answers; up to 3 tries. */
static int lg_session_step(struct lg *g, lg_build_fn build, int ok_tpl, int bad_tpl)
{
	uint8_t buf[128];

	for (int attempt = 0; attempt < 3; attempt++) {
		int len = build(g, buf, sizeof(buf));

		if (len < 0)
			return len;
		g_seen_template = 0;
		lg_send_payload(g, buf, (uint16_t)len);
		uint64_t end = rte_rdtsc() + g->hz;
		while (rte_rdtsc() < end) {
			lg_rx(g, rte_rdtsc());
			if (g_seen_template == ok_tpl)
				return 0;
			if (g_seen_template == bad_tpl) {
				fprintf(stderr, "loadgen: %s, reason %s\n", tkx_template_name((uint16_t)bad_tpl),
					tkx_session_reject_name(g_seen_reason));
				return -EACCES;
			}
		}
	}
	fprintf(stderr, "loadgen: no answer to %s\n", ok_tpl == TKX_NEGOTIATION_RESPONSE ?
		"Negotiate" : "Establish");
	return -ETIMEDOUT;
}

/* A Negotiate, now; the session's keys are this one's (an answer sealed under an earlier
 * attempt's does not verify and is dropped: the exchange keeps the newest's). */
static int lg_build_negotiate(struct lg *g, uint8_t *buf, size_t cap)
{
	struct tkx_negotiate ng = {
		.session_id = g->session_id, .timestamp = lg_wall_ns(), .firm_id = g->firm->id};
	int len = tkx_enc_negotiate(buf, cap, &ng);
	if (len < 0 || tkx_sign(g->firm->secret, g->firm->secret_len, buf, (size_t)len) < 0)
		return -EINVAL;
	g->keyed = 0;
	g->auth_tx = g->auth_rx = 0;
	if (g->cfg.udp_auth) {
		if (tkx_auth_derive(g->firm->secret, g->firm->secret_len, ng.session_id, ng.firm_id,
				    ng.timestamp, &g->auth) < 0)
			return -EINVAL;
		g->keyed = 1;
	}
	return len;
}

static int lg_build_establish(struct lg *g, uint8_t *buf, size_t cap)
{
	struct tkx_establish es = {.session_id = g->session_id, .timestamp = lg_wall_ns(),
				   .next_seq_no = 1, .keepalive_ms = 30000,
				   .cancel_on_disconnect = 1};
	int len = tkx_enc_establish(buf, cap, &es);
	if (len < 0 || tkx_sign(g->firm->secret, g->firm->secret_len, buf, (size_t)len) < 0)
		return -EINVAL;
	return len;
}

static int lg_connect(struct lg *g)
{
	int rc = lg_session_step(g, lg_build_negotiate, TKX_NEGOTIATION_RESPONSE,
				 TKX_NEGOTIATION_REJECT);
	if (rc < 0)
		return rc;
	return lg_session_step(g, lg_build_establish, TKX_ESTABLISHMENT_ACK,
			       TKX_ESTABLISHMENT_REJECT);
}

static void lg_terminate(struct lg *g)
{
	uint8_t buf[TKX_MAX_DGRAM];
	struct tkx_terminate t = {.session_id = g->session_id, .reason = TKX_TERM_FINISHED};
	int len = lg_seal(g, buf, tkx_enc_terminate(buf, sizeof(buf), &t));
	g_seen_template = 0;
	lg_send_payload(g, buf, (uint16_t)len);
	/* Drain the cancel-on-disconnect Cancelleds and the Terminate answer. */
	uint64_t end = rte_rdtsc() + g->hz / 5;
	while (rte_rdtsc() < end)
		lg_rx(g, rte_rdtsc());
}

/* Encodes request i into p; returns its length. */
static inline int lg_encode(struct lg *g, size_t i, uint8_t *p, size_t cap)
{
	const struct lg_req *r = &g->req[i];
	switch (r->type) {
	case RQ_NEW: {
		struct tkx_new_order o = {.cl_ord_id = i + 1, .price = r->price, .qty = r->qty,
					  .contract_id = r->contract, .side = r->side, .tif = r->tif};
		return tkx_enc_new_order(p, cap, &o);
	}
	case RQ_CANCEL: {
		uint64_t oid = g->order_id[r->target];
		if (oid == 0)
			g->unresolved++;
		struct tkx_cancel_order o = {.cl_ord_id = i + 1, .order_id = oid,
					     .contract_id = r->contract};
		return tkx_enc_cancel_order(p, cap, &o);
	}
	default: {
		uint64_t oid = g->order_id[r->target];
		if (oid == 0)
			g->unresolved++;
		struct tkx_modify_order o = {.cl_ord_id = i + 1, .order_id = oid, .price = r->price,
					     .qty = r->qty, .contract_id = r->contract};
		return tkx_enc_modify_order(p, cap, &o);
	}
	}
}

/* One timed run at `rate` over the first n requests. */
static int lg_run(struct lg *g, double rate, size_t n, double drain_s)
{
	memset(g->order_id, 0, n * sizeof(g->order_id[0]));
	memset(g->st, 0, n);
	memset(&g->h_ack, 0, sizeof(g->h_ack));
	memset(&g->h_fill, 0, sizeof(g->h_fill));
	memset(&g->h_cxl, 0, sizeof(g->h_cxl));
	g->n_run = n;
	g->next = g->answered = 0;
	g->max_send_lag = 0;
	g->rejects = g->unresolved = g->fills = g->not_applied = g->brejects = g->terminated = 0;
	memset(g->rej_reason, 0, sizeof(g->rej_reason));
	g->session_id = lg_wall_ns();
	int rc = lg_connect(g);
	if (rc < 0)
		return rc;

	g->q32_ticks_per_req = (uint64_t)((double)g->hz / rate * 4294967296.0);
	g->t0 = rte_rdtsc() + g->hz / 1000;
	g->last_answer_tsc = g->t0;
	uint64_t drain = (uint64_t)(drain_s * (double)g->hz), last_sched = lg_sched(g, n - 1);
	uint8_t pay[LG_DGRAMS][TKX_MAX_DGRAM];
	struct rte_mbuf *tx[LG_DGRAMS];

	for (;;) {
		uint64_t now = rte_rdtsc();
		unsigned nt = 0;
		while (g->next < n && nt < LG_DGRAMS && lg_sched(g, g->next) <= now) {
			uint8_t *p = pay[nt];
			struct tkx_sequence sq = {.next_seq_no = g->next + 1};
			int len = tkx_enc_sequence(p, TKX_MAX_DGRAM, &sq);
			uint64_t lag = now - lg_sched(g, g->next);
			if (lag > g->max_send_lag)
				g->max_send_lag = lag;
			for (unsigned k = 0; k < LG_BATCH && g->next < n && lg_sched(g, g->next) <= now; k++)
				len += lg_encode(g, g->next++, p + len, (size_t)(TKX_MAX_DGRAM - len));
			len = lg_seal(g, p, len);
			tx[nt] = dp_net_udp_alloc(&g->net, g->port.pool, &g->server, LG_CLIENT_PORT, p,
						  (uint16_t)len);
			if (tx[nt])
				nt++;
		}
		if (nt)
			dp_net_tx_burst(&g->net, g->port.port_id, 0, tx, nt);
		lg_rx(g, rte_rdtsc());
		if (g->next == n && (g->answered == n || now > last_sched + drain))
			break;
	}
	lg_terminate(g);
	return 0;
}

static void lg_dump_hist(const struct lg_hist *h, FILE *f)
{
	fprintf(f, "# lower_ns upper_ns count\n");
	for (unsigned i = 0; i < LG_H_BUCKETS; i++)
		if (h->b[i])
			fprintf(f, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", h_lower(i), h_upper(i),
				h->b[i]);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tokex-loadgen [options]\n"
		"  -c, --config FILE    tokexd's YAML (contracts, firm secrets); default built-in\n"
		"      --vdev DEVARGS   the port (default net_memif0,role=client,socket=/run/tokex-bench.sock)\n"
		"      --lcore N        the loadgen's lcore (default 0)\n"
		"      --ip A --server B  own and tokexd's IPv4 (default 198.18.0.1, 198.18.0.2)\n"
		"      --firm N         firm id (default 1)\n"
		"      --workload W     quoting | multi | lobster (default quoting)\n"
		"      --contract N     contract of quoting/lobster (default 1 / 99); multi: 1-12\n"
		"      --lobster DIR    LOBSTER day directory\n"
		"      --rates LIST     comma-separated offered rates, requests/s (default 100000)\n"
		"      --seconds S      length of each rate's run (default 2)\n"
		"      --max-requests N cap per run (default 20000000)\n"
		"      --hist-rate R --hist-out FILE   ack histogram of the run at rate R\n"
		"      --label L        first CSV column (default: the workload)\n"
		"      --no-header      no CSV header line\n"
		"      --port NAME      with --vdev \"\": a NIC's port by name (its PCI address,\n"
		"                       e.g. 0000:3b:00.0); give EAL what it needs after --, e.g.\n"
		"                       -- -a 0000:3b:00.0 (hugepages are then used; --no-huge\n"
		"                       and --no-pci are only added for a --vdev port)\n"
		"      --version        print tokex-loadgen's version and exit\n");
}

int main(int argc, char **argv)
{
	static struct lg g;
	const char *vdev = "net_memif0,role=client,socket=/run/tokex-bench.sock";
	const char *workload = "quoting", *lob_dir = NULL, *hist_out = NULL, *label = NULL;
	unsigned lcore = 0, firm = 1, header = 1;
	uint32_t contract = 0;
	double rates[LG_MAX_RATES] = {100000}, seconds = 2, hist_rate = -1;
	unsigned n_rates = 1;
	size_t max_req = 20000000;
	char err[512];
	const char *my_ip = "198.18.0.1", *srv_ip = "198.18.0.2";
	const char *port_name = NULL;

	enum { O_VDEV = 256, O_LCORE, O_IP, O_SRV, O_FIRM, O_WL, O_CON, O_LOB, O_RATES, O_SECS,
	       O_MAXR, O_HR, O_HO, O_LABEL, O_NOH, O_PORT, O_VERSION };
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"vdev", required_argument, NULL, O_VDEV},
		{"lcore", required_argument, NULL, O_LCORE}, {"ip", required_argument, NULL, O_IP},
		{"server", required_argument, NULL, O_SRV}, {"firm", required_argument, NULL, O_FIRM},
		{"workload", required_argument, NULL, O_WL},
		{"contract", required_argument, NULL, O_CON},
		{"lobster", required_argument, NULL, O_LOB},
		{"rates", required_argument, NULL, O_RATES},
		{"seconds", required_argument, NULL, O_SECS},
		{"max-requests", required_argument, NULL, O_MAXR},
		{"hist-rate", required_argument, NULL, O_HR},
		{"hist-out", required_argument, NULL, O_HO},
		{"label", required_argument, NULL, O_LABEL},
		{"no-header", no_argument, NULL, O_NOH}, {"help", no_argument, NULL, 'h'},
		{"port", required_argument, NULL, O_PORT},
		{"version", no_argument, NULL, O_VERSION},
		{NULL, 0, NULL, 0}};

	cp_config_defaults(&g.cfg);
	int c;
	char *end;
	while ((c = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
		errno = 0;
		end = NULL;
		switch (c) {
		case 'c':
			if (cp_config_load(&g.cfg, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "loadgen: %s\n", err);
				return 2;
			}
			break;
		case O_VDEV: vdev = optarg; break;
		case O_LCORE: lcore = (unsigned)strtoul(optarg, &end, 10); break;
		case O_IP: my_ip = optarg; break;
		case O_SRV: srv_ip = optarg; break;
		case O_FIRM: firm = (unsigned)strtoul(optarg, &end, 10); break;
		case O_WL: workload = optarg; break;
		case O_CON: contract = (uint32_t)strtoul(optarg, &end, 10); break;
		case O_LOB: lob_dir = optarg; break;
		case O_RATES: {
			n_rates = 0;
			char *s = optarg;
			while (*s && n_rates < LG_MAX_RATES) {
				rates[n_rates] = strtod(s, &end);
				if (end == s || rates[n_rates] < 1) {
					fprintf(stderr, "loadgen: --rates: bad list '%s'\n", optarg);
					return 2;
				}
				n_rates++;
				s = *end == ',' ? end + 1 : end;
				if (*end && *end != ',')
					break;
			}
			end = s;
			break;
		}
		case O_SECS: seconds = strtod(optarg, &end); break;
		case O_MAXR: max_req = strtoull(optarg, &end, 10); break;
		case O_HR: hist_rate = strtod(optarg, &end); break;
		case O_HO: hist_out = optarg; break;
		case O_LABEL: label = optarg; break;
		case O_NOH: header = 0; break;
		case O_PORT: port_name = optarg; break;
		case 'h': usage(stdout); return 0;
		case O_VERSION: printf("tokex-loadgen %s\n", tkx_version()); return 0;
		default: usage(stderr); return 2;
		}
		if (errno || (end && *end)) {
			fprintf(stderr, "loadgen: bad value '%s'\n", optarg);
			return 2;
		}
	}
	if (seconds <= 0 || max_req == 0) {
		fprintf(stderr, "loadgen: --seconds and --max-requests must be positive\n");
		return 2;
	}
	g.firm = cp_config_firm(&g.cfg, firm);
	if (!g.firm) {
		fprintf(stderr, "loadgen: firm %u is not in the configuration\n", firm);
		return 2;
	}
	struct in_addr ia;
	if (inet_pton(AF_INET, my_ip, &ia) != 1)
		return fprintf(stderr, "loadgen: --ip: bad address\n"), 2;
	g.my_ip = ia.s_addr;
	if (inet_pton(AF_INET, srv_ip, &ia) != 1)
		return fprintf(stderr, "loadgen: --server: bad address\n"), 2;
	g.srv_ip = ia.s_addr;
	g.srv_port = (uint16_t)g.cfg.udp_port;
	if (!label)
		label = workload;

	/* The stream, sized for the highest rate. */
	double max_rate = 0;
	for (unsigned i = 0; i < n_rates; i++)
		if (rates[i] > max_rate)
			max_rate = rates[i];
	size_t want = (size_t)(max_rate * seconds);
	if (want > max_req)
		want = max_req;
	if (want < 1)
		want = 1;
	g.req = calloc(want, sizeof(*g.req));
	g.order_id = calloc(want, sizeof(*g.order_id));
	g.st = calloc(want, 1);
	if (!g.req || !g.order_id || !g.st) {
		fprintf(stderr, "loadgen: cannot allocate %zu requests\n", want);
		return 1;
	}
	g.n_req = want;
	int rc;
	if (strcmp(workload, "quoting") == 0) {
		uint32_t id = contract ? contract : 1;
		rc = gen_quoting(&g, want, &id, 1);
	} else if (strcmp(workload, "multi") == 0) {
		uint32_t ids[12];
		for (uint32_t i = 0; i < 12; i++)
			ids[i] = i + 1;
		rc = gen_quoting(&g, want, ids, 12);
	} else if (strcmp(workload, "lobster") == 0) {
		if (!lob_dir) {
			fprintf(stderr, "loadgen: --workload lobster needs --lobster DIR\n");
			return 2;
		}
		rc = gen_lobster(&g, lob_dir, contract ? contract : 99, &g.n_req);
	} else {
		fprintf(stderr, "loadgen: --workload: '%s' is not quoting, multi or lobster\n", workload);
		return 2;
	}
	if (rc < 0)
		return 1;

	/* EAL, the port, the packet layer. */
	struct dp_eal_args eal;
	char lc[16];
	snprintf(lc, sizeof(lc), "%u", lcore);
	const char *vdevs[1] = {vdev};
	if (vdev[0] == 0 && port_name == NULL) {
		fprintf(stderr, "loadgen: --vdev \"\" needs --port NAME (the NIC's port)\n");
		return 2;
	}
	if (vdev[0]) {
		if (dp_eal_args_default(&eal, argv[0], lc, vdevs, 1, 256, err, sizeof(err)) < 0 ||
		    dp_eal_args_add(&eal, "--log-level=lib.eal:error") < 0) {
			fprintf(stderr, "loadgen: EAL args: %s\n", err);
			return 1;
		}
	} else {
		/* A NIC: hugepages and PCI as EAL finds them; the rest comes after --. */
		memset(&eal, 0, sizeof(eal));
		int erc = dp_eal_args_add(&eal, argv[0]);
		erc |= dp_eal_args_add(&eal, "-l");
		erc |= dp_eal_args_add(&eal, lc);
		erc |= dp_eal_args_addf(&eal, "--file-prefix=tokex-loadgen-%ld", (long)getpid());
		erc |= dp_eal_args_add(&eal, "--log-level=lib.eal:error");
		if (erc) {
			fprintf(stderr, "loadgen: EAL args do not fit\n");
			return 1;
		}
	}
	/* What follows -- goes to EAL as is (an allow-list -a, -m, --socket-mem ...). */
	for (int i = optind; i < argc; i++)
		if (dp_eal_args_add(&eal, argv[i]) < 0) {
			fprintf(stderr, "loadgen: too many EAL arguments\n");
			return 1;
		}
	if (dp_eal_init(&eal, err, sizeof(err)) < 0) {
		fprintf(stderr, "loadgen: EAL: %s\n", err);
		return 77;
	}
	char name[64];
	snprintf(name, sizeof(name), "%s", vdev[0] ? vdev : port_name);
	if (vdev[0])
		name[strcspn(name, ",")] = 0;
	uint16_t pid;
	if (dp_port_lookup(name, &pid) < 0) {
		fprintf(stderr, "loadgen: port %s not found\n", name);
		return 1;
	}
	struct dp_port_conf pc;
	memset(&pc, 0, sizeof(pc));
	pc.require_link = true;
	pc.link_timeout_ms = 5000;
	if (dp_port_setup(&g.port, pid, &pc, err, sizeof(err)) < 0) {
		fprintf(stderr, "loadgen: port: %s\n", err);
		dp_eal_fini();
		return 77;
	}
	struct dp_net_conf nc;
	memset(&nc, 0, sizeof(nc));
	nc.ip = g.my_ip;
	nc.mac = g.port.mac;
	nc.udp_ports[0] = LG_CLIENT_PORT;
	nc.n_udp_ports = 1;
	nc.tx_offloads = g.port.tx_offloads;
	if (dp_net_init(&g.net, &nc) < 0) {
		fprintf(stderr, "loadgen: packet layer init failed\n");
		return 1;
	}
	g.hz = rte_get_tsc_hz();
	g.ns_per_tick_q32 = (uint64_t)(1e9 / (double)g.hz * 4294967296.0);
	g.server.ip = g.srv_ip;
	g.server.port = g.srv_port;
	if (lg_arp(&g) < 0) {
		fprintf(stderr, "loadgen: no ARP reply from %s\n", srv_ip);
		dp_port_close(&g.port);
		dp_eal_fini();
		return 1;
	}
	char mac[RTE_ETHER_ADDR_FMT_SIZE];
	rte_ether_format_addr(mac, sizeof(mac), &g.server.mac);
	fprintf(stderr, "loadgen: tokexd at %s is %s; TSC %.1f MHz; %zu requests (%s)\n", srv_ip,
		mac, (double)g.hz / 1e6, g.n_req, workload);

	if (header)
		printf("workload,rate,achieved,p50_ns,p90_ns,p99_ns,p999_ns,max_ns,lost,requests,"
		       "rejects,unresolved,fills,fill_p50_ns,fill_p99_ns,cxl_p50_ns,cxl_p99_ns,"
		       "max_send_lag_ns\n");
	int status = 0;
	for (unsigned r = 0; r < n_rates; r++) {
		size_t n = (size_t)(rates[r] * seconds);
		if (n > g.n_req)
			n = g.n_req;
		if (n < 1)
			n = 1;
		rc = lg_run(&g, rates[r], n, 0.5);
		if (rc < 0) {
			status = 1;
			break;
		}
		double span = (double)(g.last_answer_tsc - g.t0) / (double)g.hz;
		double achieved = span > 0 ? (double)g.answered / span : 0;
		const struct lg_hist *h = &g.h_ack;
		printf("%s,%.0f,%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		       ",%zu,%zu,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		       ",%" PRIu64 ",%" PRIu64 "\n",
		       label, rates[r], achieved, h_quantile(h, 0.5), h_quantile(h, 0.9),
		       h_quantile(h, 0.99), h_quantile(h, 0.999), h->max_ns, n - g.answered, n,
		       g.rejects, g.unresolved, g.fills, h_quantile(&g.h_fill, 0.5),
		       h_quantile(&g.h_fill, 0.99), h_quantile(&g.h_cxl, 0.5),
		       h_quantile(&g.h_cxl, 0.99), lg_ns(&g, g.max_send_lag));
		fflush(stdout);
		fprintf(stderr, "loadgen: %s %.0f/s: acks %" PRIu64 " fills %" PRIu64 " rejects %" PRIu64,
			label, rates[r], g.h_ack.n, g.fills, g.rejects);
		for (unsigned k = 0; k < 32; k++)
			if (g.rej_reason[k])
				fprintf(stderr, " %s=%" PRIu64, tkx_reject_reason_name(k), g.rej_reason[k]);
		fprintf(stderr, "; not_applied %" PRIu64 " business_rejects %" PRIu64
			" terminates %" PRIu64 "; udp_auth %s, replies dropped %" PRIu64 "\n",
			g.not_applied, g.brejects, g.terminated, g.cfg.udp_auth ? "on" : "off",
			g.auth_dropped);
		if (hist_out && hist_rate > 0 && (uint64_t)hist_rate == (uint64_t)rates[r]) {
			FILE *f = fopen(hist_out, "w");
			if (f) {
				lg_dump_hist(&g.h_ack, f);
				fclose(f);
			}
		}
	}
	dp_port_close(&g.port);
	dp_eal_fini();
	free(g.req);
	free(g.order_id);
	free(g.st);
	return status;
}
