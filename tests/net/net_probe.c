/*
 * net_probe.c - the kernel-side peer for the packet-layer integration test: run inside the
 * test's network namespace, it sends to tokexd (net_echo) through ordinary sockets and
 * checks what comes back. Plain sockets, no DPDK.
 *
 *   net_probe udp ADDR PORT [--count N] [--size N] [--timeout-ms N]
 *       N datagrams of patterned payload; each must come back byte for byte.
 *   net_probe send ADDR PORT [--count N] [--size N]
 *       N datagrams, no answer expected (e.g. to a closed port).
 *   net_probe bad-csum ADDR PORT [--size N]
 *       one datagram with a wrong, non-zero UDP checksum (raw socket, root).
 *   net_probe ping ADDR [--count N] [--timeout-ms N]
 *       ICMP echo requests (raw socket, root); each must be answered. For machines
 *       without iputils-ping.
 *
 * Exit: 0 all good, 1 a check failed (reason on stderr), 2 usage, 77 no permission for a
 * raw socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_SIZE 1472
#define MAX_COUNT 1000

struct probe_opts {
	unsigned long count;
	unsigned long size;
	unsigned long timeout_ms;
};

static void usage(void)
{
	fprintf(stderr, "usage: net_probe udp|send|bad-csum ADDR PORT [--count N] [--size N] "
			"[--timeout-ms N]\n"
			"       net_probe ping ADDR [--count N] [--timeout-ms N]\n");
}

static int parse_ulong(const char *s, unsigned long lo, unsigned long hi, unsigned long *out)
{
	char *end;
	unsigned long v;

	if (s[0] == '-' || s[0] == '\0')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -ERANGE;
	*out = v;
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Internet checksum (RFC 1071) over buf, folded and complemented. */
static uint16_t inet_csum(const void *buf, size_t len, uint32_t sum)
{
	const uint8_t *p = buf;
	size_t i;

	for (i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void fill(uint8_t *p, size_t len, unsigned seq)
{
	size_t i;

	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(seq * 31u + i * 7u + 1u);
}

/* Waits for fd to be readable until deadline (ms, CLOCK_MONOTONIC). 1 ready, 0 timeout. */
static int wait_readable(int fd, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	uint64_t t = now_ms();
	int rc;

	if (t >= deadline)
		return 0;
	do {
		rc = poll(&pfd, 1, (int)(deadline - t));
	} while (rc < 0 && errno == EINTR);
	return rc > 0;
}

static int do_udp(const struct sockaddr_in *to, const struct probe_opts *o, int expect)
{
	static uint8_t out[MAX_SIZE], in[MAX_SIZE + 1];
	unsigned long i;
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
		perror("net_probe: udp socket");
		return 1;
	}
	for (i = 0; i < o->count; i++) {
		uint64_t deadline;
		ssize_t n;

		fill(out, o->size, (unsigned)i);
		if (send(fd, out, o->size, 0) != (ssize_t)o->size) {
			perror("net_probe: send");
			close(fd);
			return 1;
		}
		if (!expect)
			continue;
		deadline = now_ms() + o->timeout_ms;
		if (!wait_readable(fd, deadline)) {
			fprintf(stderr, "net_probe: datagram %lu: no echo in %lu ms\n", i,
				o->timeout_ms);
			close(fd);
			return 1;
		}
		n = recv(fd, in, sizeof(in), 0);
		if (n != (ssize_t)o->size || memcmp(in, out, o->size) != 0) {
			fprintf(stderr, "net_probe: datagram %lu: echo differs (%zd bytes, sent %lu)\n",
				i, n, o->size);
			close(fd);
			return 1;
		}
	}
	close(fd);
	printf("net_probe: %s %lu datagram(s) of %lu bytes%s\n", expect ? "echoed" : "sent",
	       o->count, o->size, expect ? ", identical" : "");
	return 0;
}

static int do_bad_csum(const struct sockaddr_in *to, const struct probe_opts *o)
{
	static uint8_t pkt[8 + MAX_SIZE];
	struct sockaddr_in src;
	socklen_t sl = sizeof(src);
	uint8_t pseudo[12];
	uint16_t len = (uint16_t)(8 + o->size), good, bad;
	uint32_t sum = 0;
	size_t i;
	int fd;

	/* The source address the kernel will use toward `to`: for the pseudo-header, so the
	 * checksum we send is known to be wrong rather than accidentally right. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&src, &sl) != 0) {
		perror("net_probe: route lookup");
		return 1;
	}
	close(fd);

	memset(pkt, 0, sizeof(pkt));
	pkt[0] = 0x9c; /* source port 40000 */
	pkt[1] = 0x40;
	memcpy(&pkt[2], &to->sin_port, 2);
	pkt[4] = (uint8_t)(len >> 8);
	pkt[5] = (uint8_t)len;
	fill(pkt + 8, o->size, 99);
	memcpy(pseudo, &src.sin_addr, 4);
	memcpy(pseudo + 4, &to->sin_addr, 4);
	pseudo[8] = 0;
	pseudo[9] = IPPROTO_UDP;
	pseudo[10] = (uint8_t)(len >> 8);
	pseudo[11] = (uint8_t)len;
	for (i = 0; i < sizeof(pseudo); i += 2)
		sum += (uint32_t)(pseudo[i] << 8 | pseudo[i + 1]);
	good = inet_csum(pkt, len, sum);
	bad = (uint16_t)(good ^ 0x5a5a);
	pkt[6] = (uint8_t)(bad >> 8);
	pkt[7] = (uint8_t)bad;

	fd = socket(AF_INET, SOCK_RAW, IPPROTO_UDP);
	if (fd < 0) {
		perror("net_probe: raw socket (needs root)");
		return errno == EPERM ? 77 : 1;
	}
	if (sendto(fd, pkt, len, 0, (const struct sockaddr *)to, sizeof(*to)) != len) {
		perror("net_probe: sendto");
		close(fd);
		return 1;
	}
	close(fd);
	printf("net_probe: sent 1 datagram with UDP checksum 0x%04x (right one 0x%04x)\n", bad,
	       good);
	return 0;
}

static int do_ping(const struct sockaddr_in *to, const struct probe_opts *o)
{
	uint8_t req[64], rep[1500];
	uint16_t id = (uint16_t)getpid();
	unsigned long i, ok = 0;
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_ICMP);

	if (fd < 0) {
		perror("net_probe: raw ICMP socket (needs root)");
		return errno == EPERM ? 77 : 1;
	}
	for (i = 0; i < o->count; i++) {
		uint64_t deadline = now_ms() + o->timeout_ms;
		uint16_t c;
		int got = 0;

		memset(req, 0, sizeof(req));
		req[0] = 8; /* echo request */
		req[4] = (uint8_t)(id >> 8);
		req[5] = (uint8_t)id;
		req[6] = (uint8_t)(i >> 8);
		req[7] = (uint8_t)i;
		fill(req + 8, sizeof(req) - 8, (unsigned)i);
		c = inet_csum(req, sizeof(req), 0);
		req[2] = (uint8_t)(c >> 8);
		req[3] = (uint8_t)c;
		if (sendto(fd, req, sizeof(req), 0, (const struct sockaddr *)to, sizeof(*to)) !=
		    (ssize_t)sizeof(req)) {
			perror("net_probe: sendto");
			break;
		}
		/* A raw ICMP socket sees every ICMP packet of the namespace: skip the others. */
		while (!got && wait_readable(fd, deadline)) {
			ssize_t n = recv(fd, rep, sizeof(rep), 0);
			size_t ihl;

			if (n < 20)
				continue;
			ihl = (size_t)(rep[0] & 0x0f) * 4;
			if ((size_t)n < ihl + sizeof(req) || rep[ihl] != 0 ||
			    memcmp(&rep[ihl + 4], &req[4], sizeof(req) - 4) != 0)
				continue;
			if (inet_csum(&rep[ihl], (size_t)n - ihl, 0) != 0) {
				fprintf(stderr, "net_probe: echo reply %lu: bad ICMP checksum\n", i);
				continue;
			}
			got = 1;
		}
		if (got) {
			ok++;
			printf("net_probe: echo reply seq=%lu\n", i);
		} else {
			fprintf(stderr, "net_probe: no echo reply for seq=%lu in %lu ms\n", i,
				o->timeout_ms);
		}
	}
	close(fd);
	printf("net_probe: %lu/%lu echo replies\n", ok, o->count);
	return ok == o->count ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "size", required_argument, NULL, 's' },
		{ "timeout-ms", required_argument, NULL, 't' },
		{ NULL, 0, NULL, 0 },
	};
	struct probe_opts o = { .count = 1, .size = 64, .timeout_ms = 1000 };
	struct sockaddr_in to;
	const char *mode;
	unsigned long port = 0;
	int c, is_ping;

	if (argc < 3) {
		usage();
		return 2;
	}
	mode = argv[1];
	is_ping = strcmp(mode, "ping") == 0;
	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	if (inet_pton(AF_INET, argv[2], &to.sin_addr) != 1) {
		fprintf(stderr, "net_probe: not an IPv4 address: %s\n", argv[2]);
		return 2;
	}
	if (!is_ping) {
		if (argc < 4 || parse_ulong(argv[3], 1, 65535, &port) != 0) {
			usage();
			return 2;
		}
		to.sin_port = htons((uint16_t)port);
	}
	optind = is_ping ? 3 : 4;
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		int rc = -EINVAL;

		if (c == 'c')
			rc = parse_ulong(optarg, 1, MAX_COUNT, &o.count);
		else if (c == 's')
			rc = parse_ulong(optarg, 0, MAX_SIZE, &o.size);
		else if (c == 't')
			rc = parse_ulong(optarg, 1, 10000, &o.timeout_ms);
		if (rc != 0) {
			usage();
			return 2;
		}
	}
	if (strcmp(mode, "udp") == 0)
		return do_udp(&to, &o, 1);
	if (strcmp(mode, "send") == 0)
		return do_udp(&to, &o, 0);
	if (strcmp(mode, "bad-csum") == 0)
		return do_bad_csum(&to, &o);
	if (is_ping)
		return do_ping(&to, &o);
	usage();
	return 2;
}
