/*
 * td_metrics.h - tokexd's latency histograms (written by the data path) and its Prometheus
 * endpoint (a thread off the data path, td_metrics.c).
 *
 * Histograms: fixed buckets, two per octave of nanoseconds from TD_HIST_LO_NS up
 * (bucket i < TD_HIST_N - 1 holds values below td_hist_bound(i); the last one the rest).
 * Each has one writer (the RX core: request to reply, journal append to durable) and
 * td_hist_add() is its whole cost on the hot path: a count-leading-zeros, two increments,
 * one add, no atomic read-modify-write and no fence. The metrics thread reads the words
 * with relaxed loads (a value may be a pass old, never torn on x86-64: 64-bit aligned
 * stores) and sums them into cumulative buckets as Prometheus wants; a scrape may see a
 * count one ahead of its bucket, never a bucket count above the total it reports (it
 * derives _count from the buckets).
 */
#ifndef TOKEX_TD_METRICS_H
#define TOKEX_TD_METRICS_H

#include <stddef.h>
#include <stdint.h>

#define TD_HIST_LO_SHIFT 7 /* the first bucket: below 2^7 = 128 ns */
#define TD_HIST_OCTAVES 28 /* up to 2^35 ns = 34 s, then +Inf */
#define TD_HIST_N (2 * TD_HIST_OCTAVES + 2)

struct td_hist {
	uint64_t b[TD_HIST_N]; /* per bucket, not cumulative */
	uint64_t sum_ns;
} __attribute__((aligned(64)));

/* Bucket of a value: 0 below 2^LO; then for 2^k <= ns < 2^(k+1), 2(k-LO)+1 for the lower
 * half of the octave, 2(k-LO)+2 for the upper; the last bucket everything above. */
static inline unsigned td_hist_bucket(uint64_t ns)
{
	if (ns < (1ull << TD_HIST_LO_SHIFT))
		return 0;
	unsigned k = 63u - (unsigned)__builtin_clzll(ns);
	unsigned i = 2u * (k - TD_HIST_LO_SHIFT) + 1u + (unsigned)((ns >> (k - 1)) & 1u);
	return i < TD_HIST_N - 1 ? i : TD_HIST_N - 1;
}

/* The exclusive upper bound of bucket i < TD_HIST_N - 1, ns. */
static inline uint64_t td_hist_bound(unsigned i)
{
	if (i == 0)
		return 1ull << TD_HIST_LO_SHIFT;
	unsigned k = (i - 1) / 2 + TD_HIST_LO_SHIFT;
	return (i & 1) ? (3ull << (k - 1)) : (2ull << k);
}

/* Single writer: plain increments (see the header). A negative interval (the wall clock
 * stepped back) counts as 0. */
static inline void td_hist_add(struct td_hist *h, int64_t ns)
{
	uint64_t v = ns > 0 ? (uint64_t)ns : 0;
	h->b[td_hist_bucket(v)]++;
	h->sum_ns += v;
}

struct td_app;

/* Before EAL (as the control socket): binds metrics.listen, so that an address in use
 * stops the start with the reason. 0 when none is configured or it is bound, else a
 * negative errno with the reason in err. */
int td_metrics_bind(struct td_app *a, char *err, size_t len);
/* Once the appliance is ready: the serving thread on cpu (-1: inherit). 0 or -errno. */
int td_metrics_start(struct td_app *a, int cpu, char *err, size_t len);
/* At the stop: the thread ends, the socket closes. */
void td_metrics_stop(struct td_app *a);
/* The exposition text (Prometheus text format 0.0.4) into buf; its length, or 0 when it
 * does not fit. Any thread; reads only. */
size_t td_metrics_render(struct td_app *a, char *buf, size_t len);

/* Counters (td_telemetry.c): every counter /tokex/stats shows, by its telemetry name. */
typedef void (*td_counter_fn)(void *arg, const char *group, const char *name, uint64_t v);
void td_counters_each(struct td_app *a, td_counter_fn fn, void *arg);

#endif /* TOKEX_TD_METRICS_H */
