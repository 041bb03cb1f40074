/*
 * bench_journal.c - journal throughput: records/s and MB/s for each durability policy.
 * One producer thread appends N 64-byte-payload records as fast as the ring takes them
 * (retrying when full, as a load test would, rather than rejecting), and the clock stops
 * when jn_durable() reaches N. Not a test: run from build/release (docs/BENCHMARKS.md).
 *
 * With -l N it measures instead the latency of a lone record: append one, spin until it is
 * durable, N times (p50/p99/max): the commit latency a quiet appliance sees.
 *
 *   bench_journal [-n RECORDS] [-l N] [-d DIR] [-r RING] [-b BATCH] [-p sync|async|none]
 */
#define _GNU_SOURCE
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jn_journal.h"

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void lone(struct jn *j, const char *name, uint64_t n)
{
	uint64_t *lat = calloc(n, sizeof(*lat));
	uint8_t p[JN_MAX_PAYLOAD] = {0};
	if (lat == NULL)
		return;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t a = now_ns();
		int64_t s = jn_append(j, JN_T_ORDER, p, sizeof(p), a);
		if (s <= 0)
			break;
		while (jn_durable(j) < (uint64_t)s && !jn_failed(j))
			;
		lat[i] = now_ns() - a;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	printf("%-5s lone-record commit latency over %" PRIu64 ": p50=%.1fus p99=%.1fus max=%.1fus\n",
	       name, n, lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n - 1] / 1e3);
	free(lat);
}

static int run(const char *base, uint32_t pol, uint64_t n, uint32_t ring, uint32_t batch,
	       uint64_t lone_n)
{
	static const char *const names[] = {"sync", "async", "none"};
	char dir[256];
	snprintf(dir, sizeof(dir), "%s/tkx-jn-bench-XXXXXX", base);
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	struct jn_config c;
	memset(&c, 0, sizeof(c));
	c.dir = dir;
	c.durability = pol;
	c.ring_size = ring;
	c.max_batch = batch;
	char err[512];
	struct jn *j = jn_open(&c, err, sizeof(err));
	if (j == NULL) {
		fprintf(stderr, "bench_journal: %s\n", err);
		return 1;
	}
	if (lone_n) {
		lone(j, names[pol], lone_n);
		jn_close(j);
		char rm[300];
		snprintf(rm, sizeof(rm), "rm -rf '%s'", dir);
		return system(rm) == 0 ? 0 : 1;
	}
	uint8_t p[JN_MAX_PAYLOAD];
	memset(p, 0xab, sizeof(p));
	uint64_t full = 0, t0 = now_ns(), app_ns = 0;
	for (uint64_t i = 1; i <= n;) {
		uint64_t a = now_ns();
		int64_t s = jn_append(j, JN_T_ORDER, p, sizeof(p), a);
		app_ns += now_ns() - a;
		if (s > 0) {
			i++;
		} else if (s == 0) {
			full++;
		} else {
			fprintf(stderr, "bench_journal: append: %s\n", strerror((int)-s));
			return 1;
		}
	}
	int rc = jn_wait_durable(j, n, 600000);
	uint64_t t1 = now_ns();
	struct jn_stats st;
	jn_stats(j, &st);
	jn_close(j);
	if (rc < 0) {
		fprintf(stderr, "bench_journal: %s\n", strerror(-rc));
		return 1;
	}
	double s = (double)(t1 - t0) / 1e9;
	printf("%-5s records=%" PRIu64 " time=%.3fs rate=%.0f rec/s %.1f MB/s  batches=%" PRIu64
	       " avg_batch=%.0f fsyncs=%" PRIu64 " ring_full_retries=%" PRIu64
	       " append_ns_avg=%.0f\n",
	       names[pol], n, s, (double)n / s, (double)n * JN_REC_SIZE / s / 1e6, st.batches,
	       st.batches ? (double)n / (double)st.batches : 0.0, st.fsyncs, full,
	       (double)app_ns / (double)(n + full));
	char cmd[300];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
	uint64_t n = 1000000, lone_n = 0;
	uint32_t ring = 16384, batch = 2048;
	const char *dir = "/tmp";
	int only = -1, c;
	while ((c = getopt(argc, argv, "n:l:d:r:b:p:")) != -1) {
		switch (c) {
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'l': lone_n = strtoull(optarg, NULL, 10); break;
		case 'd': dir = optarg; break;
		case 'r': ring = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'b': batch = (uint32_t)strtoul(optarg, NULL, 10); break;
		case 'p':
			only = !strcmp(optarg, "sync") ? JN_SYNC : !strcmp(optarg, "async") ? JN_ASYNC
			       : !strcmp(optarg, "none") ? JN_NONE : -2;
			if (only == -2) {
				fprintf(stderr, "bench_journal: -p sync|async|none\n");
				return 2;
			}
			break;
		default:
			fprintf(stderr, "usage: bench_journal [-n RECORDS] [-l N] [-d DIR] [-r RING] "
				"[-b BATCH] [-p sync|async|none]\n");
			return 2;
		}
	}
	if (n == 0)
		return 2;
	for (uint32_t pol = JN_SYNC; pol <= JN_NONE; pol++)
		if (only < 0 || (uint32_t)only == pol)
			if (run(dir, pol, n, ring, batch, lone_n))
				return 1;
	return 0;
}
