/*
 * logon_replay.c - the logon replay attack, end to end (test_tokexd_logon.sh): a victim
 * logs on with the client library, trades and logs off while its Negotiate and Establish
 * are captured off the wire; the captured bytes are then sent again, byte for byte, from
 * another address. tokexd must refuse them (protocol 4.4, 4.5: a logon not newer than
 * the session's newest is STALE_TIMESTAMP), after a kill -9 and restart too.
 *
 * Modes:
 *   capture --udp IP:PORT --tcp IP:PORT --iface IF --contract ID --dir DIR
 *           Victim U (firm 1, session 0x10610001) on UDP and victim T (firm 2, session
 *           0x10610002) on TCP each Negotiate, Establish, send one NewOrder (answered),
 *           and Terminate, through libtokex-client. Packet sockets on IF (the UDP path)
 *           and on lo (the TCP path) see their datagrams and segments; the Negotiate and
 *           Establish of each are written to DIR/{udp,tcp}.{neg,est}, exactly as sent (a
 *           TCP frame with its SOFH).
 *   replay  --udp IP:PORT --tcp IP:PORT --dir DIR
 *           Sends each capture from a new socket: the Negotiate must be answered
 *           NegotiationReject STALE_TIMESTAMP and the Establish EstablishmentReject
 *           NOT_NEGOTIATED. Prints "REPLAY <transport> refused age <s>" (how old the
 *           captured timestamp is, well within the exchange's 30 s tolerance: only the
 *           replay rule refuses it - the script also finds tokexd's LOGON_REPLAYED log).
 * Every wait is bounded (5 s per answer); exit 0 pass, 1 fail, 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include "tokex/client.h"

#define SID_UDP 0x10610001ull
#define SID_TCP 0x10610002ull
#define WAIT_MS 60000 /* for an answer that must come: a hang bound (a loaded machine is slow) */

static struct {
	struct sockaddr_in udp, tcp;
	const char *iface, *dir;
	uint32_t contract;
} g;

static uint64_t real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static const char *secret(uint32_t firm)
{
	return firm == 1 ? "tokex-demo-secret-firm-1" : "tokex-demo-secret-firm-2";
}

/* ---- capture ------------------------------------------------------------------------ */

/* The victim's whole session through the library. */
static int victim(int tcp, uint32_t firm, uint64_t sid)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c;
	struct tkx_client_event ev[32];
	struct tkx_new_order o = { .price = 24000, .qty = 1, .contract_id = g.contract,
				   .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
	int answered = 0, r;

	tkx_client_cfg_default(&cfg);
	cfg.transport = tcp ? TKX_CLIENT_TCP : TKX_CLIENT_UDP;
	cfg.exchange = tcp ? g.tcp : g.udp;
	cfg.firm_id = firm;
	cfg.secret = (const uint8_t *)secret(firm);
	cfg.secret_len = strlen(secret(firm));
	cfg.session_id = sid;
	cfg.cancel_on_disconnect = 1;
	r = tkx_client_open(&c, &cfg);
	if (r < 0) {
		printf("REPLAY FAIL: victim %s open: %s\n", tcp ? "tcp" : "udp", strerror(-r));
		return -1;
	}
	r = tkx_client_establish(c, WAIT_MS);
	if (r == 0)
		r = tkx_client_new_order(c, &o);
	for (int i = 0; r == 0 && !answered && i < 50; i++) {
		int n = tkx_client_poll(c, 100, ev, 32);

		for (int k = 0; k < n; k++)
			if (ev[k].kind == TKX_EXEC_ACK || ev[k].kind == TKX_EXEC_REJECT)
				answered = 1;
	}
	if (r == 0 && answered)
		r = tkx_client_terminate(c, WAIT_MS);
	if (r != 0 || !answered) {
		char e[256];

		tkx_client_errstr(c, e, sizeof(e));
		printf("REPLAY FAIL: victim %s: %s%s\n", tcp ? "tcp" : "udp",
		       answered ? "" : "its order was never answered; ", e);
		tkx_client_close(c);
		return -1;
	}
	tkx_client_close(c);
	printf("REPLAY victim %s session %#" PRIx64 ": logged on, traded, logged off\n",
	       tcp ? "tcp" : "udp", sid);
	return 0;
}

/* A packet socket that sees the packets of one interface, both directions: ETH_P_ALL, as
 * a socket for one protocol only sees what the interface receives, not what it sends. */
static int tap_open(const char *ifname)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));

	sa.sll_ifindex = (int)if_nametoindex(ifname);
	if (fd < 0 || sa.sll_ifindex == 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		printf("REPLAY FAIL: packet socket on %s: %s\n", ifname, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

struct catch {
	uint8_t neg[TKX_MAX_DGRAM], est[TKX_MAX_DGRAM];
	size_t n_neg, n_est;
};

/* A message (SBE header at m) of the victim's session: its template, else 0. */
static unsigned victim_msg(const uint8_t *m, size_t len, uint64_t sid)
{
	struct tkx_msg x;

	if (tkx_decode(m, len, &x) <= 0)
		return 0;
	if (x.template_id == TKX_NEGOTIATE && x.negotiate.session_id == sid)
		return TKX_NEGOTIATE;
	if (x.template_id == TKX_ESTABLISH && x.establish.session_id == sid)
		return TKX_ESTABLISH;
	return 0;
}

static void keep(struct catch *k, unsigned tid, const uint8_t *p, size_t n)
{
	if (tid == TKX_NEGOTIATE && !k->n_neg) {
		memcpy(k->neg, p, n);
		k->n_neg = n;
	} else if (tid == TKX_ESTABLISH && !k->n_est) {
		memcpy(k->est, p, n);
		k->n_est = n;
	}
}

/* Everything the packet socket holds: datagrams to the UDP port, segments to the TCP one.
 * Returns how many IPv4 packets it saw. */
static unsigned sniff(int fd, struct catch *u, struct catch *t)
{
	uint8_t b[65536];
	ssize_t n;
	unsigned seen = 0;

	while ((n = recv(fd, b, sizeof(b), 0)) > 0) {
		seen++;

		const struct iphdr *ip = (const struct iphdr *)b;
		size_t ihl = (size_t)ip->ihl * 4, tot;

		if ((size_t)n < sizeof(*ip) || ip->version != 4 || (size_t)n < ihl)
			continue;
		tot = ntohs(ip->tot_len) < (size_t)n ? ntohs(ip->tot_len) : (size_t)n;
		if (ip->protocol == IPPROTO_UDP && tot >= ihl + sizeof(struct udphdr)) {
			const struct udphdr *uh = (const struct udphdr *)(b + ihl);
			const uint8_t *p = b + ihl + sizeof(*uh);
			size_t len = tot - ihl - sizeof(*uh);

			if (uh->dest == g.udp.sin_port && ip->daddr == g.udp.sin_addr.s_addr)
				keep(u, victim_msg(p, len, SID_UDP), p, len);
		} else if (ip->protocol == IPPROTO_TCP && tot >= ihl + sizeof(struct tcphdr)) {
			const struct tcphdr *th = (const struct tcphdr *)(b + ihl);
			size_t off = ihl + (size_t)th->doff * 4;

			if (th->dest != g.tcp.sin_port || off > tot)
				continue;
			/* One or more whole SOFH frames (the library flushes each session
			 * message by itself, TCP_NODELAY). */
			while (tot - off >= TKX_SOFH_LEN + TKX_HDR_LEN) {
				int f = tkx_sofh_next(b + off, tot - off);

				if (f <= 0)
					break;
				keep(t, victim_msg(b + off + TKX_SOFH_LEN, (size_t)f - TKX_SOFH_LEN,
						   SID_TCP),
				     b + off, (size_t)f);
				off += (size_t)f;
			}
		}
	}
	return seen;
}

static int save(const char *name, const uint8_t *p, size_t n)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", g.dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		printf("REPLAY FAIL: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

static int capture(void)
{
	static struct catch u, t;
	int fu = tap_open(g.iface), ft = tap_open("lo");

	if (fu < 0 || ft < 0)
		return 1;
	if (victim(0, 1, SID_UDP) || victim(1, 2, SID_TCP))
		return 1;
	unsigned su = sniff(fu, &u, &t), st = sniff(ft, &u, &t);
	close(fu);
	close(ft);
	if (!u.n_neg || !u.n_est || !t.n_neg || !t.n_est) {
		printf("REPLAY FAIL: captured udp negotiate %zu establish %zu, tcp negotiate %zu "
		       "establish %zu bytes (something missing; %u packets seen on %s, %u on lo)\n",
		       u.n_neg, u.n_est, t.n_neg, t.n_est, su, g.iface, st);
		return 1;
	}
	if (save("udp.neg", u.neg, u.n_neg) || save("udp.est", u.est, u.n_est) ||
	    save("tcp.neg", t.neg, t.n_neg) || save("tcp.est", t.est, t.n_est))
		return 1;
	printf("REPLAY captured udp %zu + %zu bytes, tcp %zu + %zu bytes\n", u.n_neg, u.n_est,
	       t.n_neg, t.n_est);
	return 0;
}

/* ---- replay ------------------------------------------------------------------------- */

static size_t load(const char *name, uint8_t *p, size_t cap)
{
	char path[512];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", g.dir, name);
	f = fopen(path, "rb");
	if (!f)
		return 0;
	n = fread(p, 1, cap, f);
	fclose(f);
	return n;
}

/* The first message the exchange answers on fd within WAIT_MS (TCP: one frame, read
 * whole). 0 or -1 (nothing, or not decodable). */
static int answer(int fd, int tcp, struct tkx_msg *m)
{
	uint8_t b[TKX_MAX_DGRAM];
	size_t have = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (;;) {
		ssize_t n;

		if (poll(&p, 1, WAIT_MS) <= 0)
			return -1;
		n = recv(fd, b + have, sizeof(b) - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
		if (!tcp)
			return tkx_decode(b, have, m) > 0 ? 0 : -1;
		int r = tkx_decode_frame(b, have, m);

		if (r > 0)
			return 0;
		if (r < 0)
			return -1;
	}
}

static int replay_one(int tcp)
{
	const char *tr = tcp ? "tcp" : "udp";
	uint8_t neg[TKX_MAX_DGRAM], est[TKX_MAX_DGRAM];
	size_t n_neg = load(tcp ? "tcp.neg" : "udp.neg", neg, sizeof(neg));
	size_t n_est = load(tcp ? "tcp.est" : "udp.est", est, sizeof(est));
	const struct sockaddr_in *to = tcp ? &g.tcp : &g.udp;
	struct tkx_msg cap, m;
	int fd, ok = 1;

	if (!n_neg || !n_est ||
	    tkx_decode(neg + (tcp ? TKX_SOFH_LEN : 0), n_neg - (tcp ? TKX_SOFH_LEN : 0), &cap) <= 0) {
		printf("REPLAY FAIL: %s: no capture in %s\n", tr, g.dir);
		return 1;
	}
	fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)) != 0) {
		printf("REPLAY FAIL: %s: connect: %s\n", tr, strerror(errno));
		return 1;
	}
	if (send(fd, neg, n_neg, MSG_NOSIGNAL) != (ssize_t)n_neg || answer(fd, tcp, &m) != 0) {
		printf("REPLAY FAIL: %s: the replayed Negotiate got no answer\n", tr);
		close(fd);
		return 1;
	}
	if (m.template_id != TKX_NEGOTIATION_REJECT ||
	    m.negotiation_reject.reason != TKX_SREJ_STALE_TIMESTAMP) {
		printf("REPLAY FAIL: %s: the replayed Negotiate was answered %s (%s), not "
		       "NegotiationReject STALE_TIMESTAMP\n", tr, tkx_template_name(m.template_id),
		       m.template_id == TKX_NEGOTIATION_REJECT
			       ? tkx_session_reject_name(m.negotiation_reject.reason)
			       : "the replay was accepted");
		ok = 0;
	}
	if (send(fd, est, n_est, MSG_NOSIGNAL) != (ssize_t)n_est || answer(fd, tcp, &m) != 0) {
		printf("REPLAY FAIL: %s: the replayed Establish got no answer\n", tr);
		close(fd);
		return 1;
	}
	if (m.template_id != TKX_ESTABLISHMENT_REJECT) {
		printf("REPLAY FAIL: %s: the replayed Establish was answered %s: the replayer "
		       "holds the victim's session\n", tr, tkx_template_name(m.template_id));
		ok = 0;
	}
	close(fd);
	if (ok)
		printf("REPLAY %s refused age %.1f s\n", tr,
		       (double)(real_ns() - cap.negotiate.timestamp) / 1e9);
	return ok ? 0 : 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: logon_replay capture --udp IP:PORT --tcp IP:PORT --iface IF "
			"--contract ID --dir DIR\n"
			"       logon_replay replay --udp IP:PORT --tcp IP:PORT --dir DIR\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "udp", required_argument, NULL, 'u' },
		{ "tcp", required_argument, NULL, 't' },
		{ "iface", required_argument, NULL, 'i' },
		{ "contract", required_argument, NULL, 'c' },
		{ "dir", required_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	const char *mode;
	int o;

	if (argc < 2)
		usage();
	mode = argv[1];
	optind = 2;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;

		switch (o) {
		case 'u':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_UDP, &g.udp) != 0)
				usage();
			break;
		case 't':
			if (tkx_client_parse_addr(optarg, TKX_PORT_ORDER_TCP, &g.tcp) != 0)
				usage();
			break;
		case 'i':
			g.iface = optarg;
			break;
		case 'c':
			errno = 0;
			g.contract = (uint32_t)strtoul(optarg, &end, 10);
			if (errno || *end || !g.contract)
				usage();
			break;
		case 'd':
			g.dir = optarg;
			break;
		default:
			usage();
		}
	}
	if (!g.udp.sin_port || !g.tcp.sin_port || !g.dir)
		usage();
	if (strcmp(mode, "capture") == 0) {
		if (!g.iface || !g.contract)
			usage();
		return capture();
	}
	if (strcmp(mode, "replay") == 0)
		return replay_one(0) | replay_one(1);
	usage();
	return 2;
}
