/*
 * jitter.c - tokex-jitter: how long this machine takes a busy-polling CPU away.
 *
 * Role: the floor under every wire-to-ack figure of scripts/bench. A data-path lcore
 * never sleeps; whatever the kernel, the hypervisor or another process does on its CPU
 * shows up as a gap between two consecutive reads of the clock. This program pins one
 * thread per CPU given (the CPUs tokexd and the loadgen poll), spins reading the TSC
 * for --seconds, and counts the gaps: how many exceed 1, 5, 10, 100 us and 1 ms, the
 * longest, and the share of the time spent in gaps. Requests arriving at a steady rate
 * into a gap of G us wait up to G: the share of the run during which an arrival would
 * wait more than 10 us is the sum of (G - 10 us) over the gaps (late_10us_pct). When that
 * exceeds 1% on the CPU that polls them, no data path on this machine can hold a p99 of
 * 10 us at any rate, whatever it does (see docs/BENCHMARKS.md).
 *
 * Not on a hot path: a measurement tool; it prints once at the end.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <x86intrin.h>

#include <tokex/version.h>

#define JT_MAX_CPUS 64
#define JT_LIMITS 5

static const double jt_limit_us[JT_LIMITS] = {1, 5, 10, 100, 1000};

struct jt_cpu {
	int cpu;
	double seconds;
	double tsc_hz;
	int err;
	uint64_t gaps[JT_LIMITS];   /* gaps longer than jt_limit_us[i] */
	uint64_t in_gaps[JT_LIMITS]; /* TSC ticks spent in those gaps */
	uint64_t late10;             /* TSC ticks a request arriving in a gap would have
				        waited beyond 10 us: sum of (gap - 10 us) */
	uint64_t max_gap;            /* TSC ticks */
	uint64_t total;              /* TSC ticks of the run */
};

static uint64_t jt_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_RAW, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* TSC frequency from the monotonic clock over 100 ms. */
static double jt_tsc_hz(void)
{
	uint64_t n0 = jt_ns(), t0 = __rdtsc();
	struct timespec d = {0, 100000000};
	nanosleep(&d, NULL);
	uint64_t n1 = jt_ns(), t1 = __rdtsc();
	return (double)(t1 - t0) * 1e9 / (double)(n1 - n0);
}

static void *jt_spin(void *arg)
{
	struct jt_cpu *c = arg;
	cpu_set_t one;
	CPU_ZERO(&one);
	CPU_SET(c->cpu, &one);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(one), &one);
	if (rc != 0) {
		c->err = rc;
		return NULL;
	}
	uint64_t lim[JT_LIMITS];
	for (int i = 0; i < JT_LIMITS; i++)
		lim[i] = (uint64_t)(jt_limit_us[i] * c->tsc_hz / 1e6);
	uint64_t start = __rdtsc(), end = start + (uint64_t)(c->seconds * c->tsc_hz);
	uint64_t prev = start, now;
	while ((now = __rdtsc()) < end) {
		uint64_t g = now - prev;
		prev = now;
		if (g < lim[0])
			continue;
		if (g > c->max_gap)
			c->max_gap = g;
		for (int i = 0; i < JT_LIMITS && g >= lim[i]; i++) {
			c->gaps[i]++;
			c->in_gaps[i] += g;
		}
		if (g > lim[2])
			c->late10 += g - lim[2];
	}
	c->total = prev - start;
	return NULL;
}

static void jt_usage(FILE *f)
{
	fprintf(f, "usage: tokex-jitter [--cpus LIST] [--seconds S]\n"
		   "  --cpus LIST   comma-separated CPUs to spin on at once (default: every CPU\n"
		   "                this process may use)\n"
		   "  --seconds S   length of the run, 0.1..600 (default 10)\n"
		   "  --version     print tokex-jitter's version and exit\n");
}

int main(int argc, char **argv)
{
	static struct jt_cpu cpus[JT_MAX_CPUS];
	pthread_t th[JT_MAX_CPUS];
	int n = 0;
	double seconds = 10;
	const char *list = NULL;
	static const struct option opts[] = {{"cpus", required_argument, NULL, 'c'},
					     {"seconds", required_argument, NULL, 's'},
					     {"help", no_argument, NULL, 'h'},
					     {"version", no_argument, NULL, 'V'},
					     {NULL, 0, NULL, 0}};
	int o;
	while ((o = getopt_long(argc, argv, "c:s:h", opts, NULL)) != -1) {
		char *end = NULL;
		switch (o) {
		case 'c': list = optarg; break;
		case 's':
			seconds = strtod(optarg, &end);
			if (*end || seconds < 0.1 || seconds > 600) {
				fprintf(stderr, "tokex-jitter: --seconds: 0.1..600, not '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': jt_usage(stdout); return 0;
		case 'V': printf("tokex-jitter %s\n", tkx_version()); return 0;
		default: jt_usage(stderr); return 2;
		}
	}
	if (list) {
		const char *p = list;
		while (*p && n < JT_MAX_CPUS) {
			char *end;
			long v = strtol(p, &end, 10);
			if (end == p || v < 0 || v >= CPU_SETSIZE || (*end && *end != ',')) {
				fprintf(stderr, "tokex-jitter: --cpus: bad list '%s'\n", list);
				return 2;
			}
			cpus[n++].cpu = (int)v;
			p = *end ? end + 1 : end;
		}
	} else {
		cpu_set_t s;
		sched_getaffinity(0, sizeof(s), &s);
		for (int c = 0; c < CPU_SETSIZE && n < JT_MAX_CPUS; c++)
			if (CPU_ISSET(c, &s))
				cpus[n++].cpu = c;
	}
	double hz = jt_tsc_hz();
	for (int i = 0; i < n; i++) {
		cpus[i].seconds = seconds;
		cpus[i].tsc_hz = hz;
		if (pthread_create(&th[i], NULL, jt_spin, &cpus[i]) != 0) {
			fprintf(stderr, "tokex-jitter: cannot start a thread: %s\n", strerror(errno));
			return 1;
		}
	}
	for (int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("# tokex-jitter: %d CPU(s) spinning %.1f s at once, TSC %.1f MHz\n", n, seconds,
	       hz / 1e6);
	printf("cpu,gaps_1us,gaps_5us,gaps_10us,gaps_100us,gaps_1ms,max_us,"
	       "share_in_gaps_over_10us_pct,share_in_gaps_over_100us_pct,late_10us_pct\n");
	int bad = 0;
	for (int i = 0; i < n; i++) {
		const struct jt_cpu *c = &cpus[i];
		if (c->err) {
			fprintf(stderr, "tokex-jitter: cpu %d: %s\n", c->cpu, strerror(c->err));
			bad = 1;
			continue;
		}
		double tot = c->total ? (double)c->total : 1;
		printf("%d,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
		       ",%.1f,%.3f,%.3f,%.3f\n",
		       c->cpu, c->gaps[0], c->gaps[1], c->gaps[2], c->gaps[3], c->gaps[4],
		       (double)c->max_gap * 1e6 / hz, 100.0 * (double)c->in_gaps[2] / tot,
		       100.0 * (double)c->in_gaps[3] / tot, 100.0 * (double)c->late10 / tot);
	}
	return bad;
}
