/*
 * td_metrics.c - tokexd's Prometheus endpoint: GET /metrics on metrics.listen.
 *
 * Role: a thread of its own, off the data path (on a CPU no lcore polls, as the control
 * thread). It only reads what the cores write: the counters of /tokex/stats
 * (td_counters_each, the same list as DPDK telemetry), the journal's position, and the
 * latency histograms the RX core fills (td_metrics.h), summed into cumulative buckets
 * here. One connection at a time, each answered and closed (Prometheus scrapes every few
 * seconds; a client that sends nothing is dropped after TD_MET_IO_S). The socket is bound
 * before EAL (an address in use stops the start, as the control socket's does), served
 * from ready until the stop.
 *
 * Exposition: text format 0.0.4 (promtool check metrics clean): each telemetry counter K
 * as tokex_K_total, tokex_rejects_total{reason} (and the engine's own reasons:
 * tokex_engine_rejects_total{reason}), tokex_journal_lag_records,
 * tokex_build_info{version}, and the histograms tokex_request_reply_seconds and
 * tokex_journal_durable_seconds.
 */
#define _GNU_SOURCE /* accept4, pthread_attr_setaffinity_np */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <tokex/codec.h>
#include <tokex/version.h>

#include "td_app.h"
#include "td_metrics.h"
#include "tkx_log.h"

#define TD_MET_BUF (256u * 1024u) /* the exposition: ~40 KiB today */
#define TD_MET_IO_S 2             /* a client's request and our answer, at most */
#define TD_MET_POLL_MS 200        /* how soon the thread sees the stop */

struct td_metrics {
	struct td_app *a;
	int fd;
	int started;
	atomic_int stop;
	pthread_t th;
	char listen[32];
	char *buf; /* TD_MET_BUF: rendered here, the HTTP header before it */
};

/* ---- rendering ---------------------------------------------------------------------- */

struct td_out {
	char *p;
	size_t len, cap;
	int full;
};

static void td_put(struct td_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void td_put(struct td_out *o, const char *fmt, ...)
{
	if (o->full)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len)
		o->full = 1;
	else
		o->len += (size_t)n;
}

/* Telemetry names are [a-z0-9_] today; anything else becomes '_' in a metric name. */
static void td_metric_name(char *dst, size_t len, const char *group, const char *name)
{
	snprintf(dst, len, "tokex_%s%s_total", group, name);
	for (char *c = dst; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || *c == '_'))
			*c = '_';
}

static void td_counter(void *arg, const char *group, const char *name, uint64_t v)
{
	struct td_out *o = arg;
	char m[128];
	td_metric_name(m, sizeof(m), group, name);
	td_put(o, "# HELP %s tokexd counter %s%s (DPDK telemetry /tokex/stats).\n"
		  "# TYPE %s counter\n%s %" PRIu64 "\n", m, group, name, m, m, v);
}

static uint64_t td_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void td_hist_render(struct td_out *o, const char *name, const char *help,
			   const struct td_hist *h)
{
	uint64_t cum = 0;
	td_put(o, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (unsigned i = 0; i < TD_HIST_N - 1; i++) {
		cum += td_load(&h->b[i]);
		td_put(o, "%s_bucket{le=\"%.9g\"} %" PRIu64 "\n", name,
		       (double)td_hist_bound(i) / 1e9, cum);
	}
	cum += td_load(&h->b[TD_HIST_N - 1]);
	td_put(o, "%s_bucket{le=\"+Inf\"} %" PRIu64 "\n%s_sum %.9f\n%s_count %" PRIu64 "\n", name,
	       cum, name, (double)td_load(&h->sum_ns) / 1e9, name, cum);
}

size_t td_metrics_render(struct td_app *a, char *buf, size_t len)
{
	struct td_out o = {buf, 0, len, 0};
	td_put(&o, "# HELP tokex_build_info tokexd's version (label version); always 1.\n"
		   "# TYPE tokex_build_info gauge\ntokex_build_info{version=\"%s\"} 1\n",
	       tkx_version());
	td_counters_each(a, td_counter, &o);

	/* Requests refused, by who refused them (the matching engine's own reasons are in
	 * its replies, counted as one here). */
	struct mc_stats ms;
	struct ss_stats ss;
	td_match_stats(a, &ms);
	ss_stats_read(a->ss, &ss);
	const struct {
		const char *reason;
		uint64_t v;
	} rej[] = {
		{"match", ms.rejects},
		{"busy", td_load(&a->rx.busy_rejects)},
		{"storage", td_load(&a->rx.storage_rejects)},
		{"unknown_contract", td_load(&a->rx.unknown_contract)},
		{"throttled", ss.throttled},
		{"clordid_reused", ss.clordid_reused},
	};
	td_put(&o, "# HELP tokex_rejects_total Requests refused, by reason: match (the matching "
		   "engine: price, quantity, risk, phase), busy (a matching core's ring full), "
		   "storage (the journal failed), unknown_contract, throttled (session rate), "
		   "clordid_reused.\n# TYPE tokex_rejects_total counter\n");
	for (size_t i = 0; i < sizeof(rej) / sizeof(rej[0]); i++)
		td_put(&o, "tokex_rejects_total{reason=\"%s\"} %" PRIu64 "\n", rej[i].reason,
		       rej[i].v);

	/* The matching engine's own reasons (the "match" above, by the ExecReject's reason:
	 * include/tokex/proto.h), summed over the cores; counted since this start. */
	uint64_t er[MC_REJ_REASONS] = {0};
	for (uint32_t m = 0; m < a->route.n_match; m++) {
		uint64_t c[MC_REJ_REASONS];
		mc_reject_counts(a->match[m].mc, c);
		for (unsigned i = 0; i < MC_REJ_REASONS; i++)
			er[i] += c[i];
	}
	td_put(&o, "# HELP tokex_engine_rejects_total ExecRejects of the matching engine by their "
		   "reason (the wire's names), since this start.\n"
		   "# TYPE tokex_engine_rejects_total counter\n");
	for (unsigned i = 1; i < MC_REJ_REASONS; i++) {
		const char *name = tkx_reject_reason_name(i);
		if (strcmp(name, "Unknown") != 0)
			td_put(&o, "tokex_engine_rejects_total{reason=\"%s\"} %" PRIu64 "\n", name,
			       er[i]);
	}
	td_put(&o, "tokex_engine_rejects_total{reason=\"other\"} %" PRIu64 "\n", er[0]);

	/* The same counters again as labelled families, for sums and per-reason graphs
	 * (Prometheus 2 cannot rate several metric names in one expression). */
	td_put(&o, "# HELP tokex_net_drops_total Packets the packet layer dropped, by reason "
		   "(the tokex_net_drop_*_total counters).\n# TYPE tokex_net_drops_total counter\n");
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		td_put(&o, "tokex_net_drops_total{reason=\"%s\"} %" PRIu64 "\n",
		       dp_drop_name((enum dp_drop)i), td_load(&a->net.stats.drop[i]));
	const struct {
		const char *how;
		uint64_t v;
	} ends[] = {
		{"client", ss.term_client},       {"keepalive", ss.term_keepalive},
		{"throttle", ss.term_throttle},   {"disconnect", ss.term_disconnect},
		{"never_established", ss.neg_expired}, {"dropped", ss.dropped},
	};
	td_put(&o, "# HELP tokex_session_ends_total Sessions ended, by how (the "
		   "tokex_session_term_*, neg_expired and dropped counters).\n"
		   "# TYPE tokex_session_ends_total counter\n");
	for (size_t i = 0; i < sizeof(ends) / sizeof(ends[0]); i++)
		td_put(&o, "tokex_session_ends_total{how=\"%s\"} %" PRIu64 "\n", ends[i].how,
		       ends[i].v);

	uint64_t last = td_load(&a->jn_last), durable = td_load(&a->jn_durable);
	td_put(&o, "# HELP tokex_journal_lag_records Journal records appended and not yet "
		   "durable (0 without a journal).\n# TYPE tokex_journal_lag_records gauge\n"
		   "tokex_journal_lag_records %" PRIu64 "\n"
		   "# HELP tokex_journal_last_seq The last journal record appended.\n"
		   "# TYPE tokex_journal_last_seq gauge\ntokex_journal_last_seq %" PRIu64 "\n",
	       a->jn && last > durable ? last - durable : 0, last);

	td_hist_render(&o, "tokex_request_reply_seconds",
		       "A request's arrival (its packet's receive burst, or the TCP frame's hand-over) "
		       "to its last reply made by the RX core, before the journal gate; in pipeline "
		       "mode without a journal, from the matching core's apply time.",
		       &a->h_reply);
	td_hist_render(&o, "tokex_journal_durable_seconds",
		       "A journal record's append to the RX core seeing it durable (group commit, "
		       "fdatasync with journal.durability sync).",
		       &a->h_journal);
	return o.full ? 0 : o.len;
}

/* ---- serving ------------------------------------------------------------------------ */

static void td_send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the scraper went away or timed out: nothing to tell it */
		p += w;
		n -= (size_t)w;
	}
}

static void td_serve_one(struct td_metrics *m, int fd)
{
	char req[2048];
	size_t n = 0;
	struct timeval tv = {TD_MET_IO_S, 0};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	while (n < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + n, sizeof(req) - 1 - n, 0);
		if (r <= 0)
			break;
		n += (size_t)r;
		req[n] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[n] = 0;
	const char *status = "200 OK", *type = "text/plain; version=0.0.4; charset=utf-8";
	const char *body;
	size_t blen;
	char *out = m->buf + 256; /* room for the header before the body */
	if (strncmp(req, "GET /metrics ", 13) == 0 || strncmp(req, "GET /metrics?", 13) == 0) {
		blen = td_metrics_render(m->a, out, TD_MET_BUF - 256);
		body = out;
		if (blen == 0) {
			status = "500 Internal Server Error";
			body = "tokexd: the metrics do not fit the buffer\n";
			blen = strlen(body);
		}
	} else if (strncmp(req, "GET / ", 6) == 0) {
		type = "text/plain; charset=utf-8";
		body = "tokexd: Prometheus metrics at /metrics\n";
		blen = strlen(body);
	} else {
		status = "404 Not Found";
		type = "text/plain; charset=utf-8";
		body = "tokexd: only GET /metrics here\n";
		blen = strlen(body);
	}
	char hdr[256];
	int h = snprintf(hdr, sizeof(hdr), "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: "
			 "%zu\r\nConnection: close\r\n\r\n", status, type, blen);
	td_send_all(fd, hdr, (size_t)h);
	td_send_all(fd, body, blen);
}

static void *td_metrics_main(void *arg)
{
	struct td_metrics *m = arg;
	struct pollfd p = {.fd = m->fd, .events = POLLIN};
	while (!atomic_load(&m->stop)) {
		int r = poll(&p, 1, TD_MET_POLL_MS);
		if (r <= 0)
			continue;
		int c = accept4(m->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		td_serve_one(m, c);
		close(c);
	}
	return NULL;
}

int td_metrics_bind(struct td_app *a, char *err, size_t len)
{
	const char *l = a->cfg.metrics_listen;
	uint32_t ip;
	uint16_t port;
	if (l[0] == 0)
		return 0;
	if (cp_config_parse_listen(l, &ip, &port) < 0) {
		snprintf(err, len, "metrics.listen '%s': not ADDR:PORT", l);
		return -EINVAL;
	}
	struct td_metrics *m = calloc(1, sizeof(*m));
	char *buf = malloc(TD_MET_BUF);
	if (m == NULL || buf == NULL) {
		free(m);
		free(buf);
		snprintf(err, len, "metrics: out of memory");
		return -ENOMEM;
	}
	m->a = a;
	m->buf = buf;
	snprintf(m->listen, sizeof(m->listen), "%s", l);
	m->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int one = 1, e = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port),
				 .sin_addr.s_addr = htonl(ip)};
	if (m->fd < 0 || setsockopt(m->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(m->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(m->fd, 16) < 0)
		e = errno;
	if (e) {
		snprintf(err, len, "metrics.listen %s: %s%s", l, strerror(e),
			 e == EADDRINUSE ? " (another tokexd or exporter has it: choose another port)"
					 : "");
		if (m->fd >= 0)
			close(m->fd);
		free(buf);
		free(m);
		return -e;
	}
	a->metrics = m;
	return 0;
}

int td_metrics_start(struct td_app *a, int cpu, char *err, size_t len)
{
	struct td_metrics *m = a->metrics;
	if (m == NULL)
		return 0;
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	if (cpu >= 0) {
		cpu_set_t one;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		pthread_attr_setaffinity_np(&attr, sizeof(one), &one);
	}
	int rc = pthread_create(&m->th, &attr, td_metrics_main, m);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		snprintf(err, len, "metrics: cannot start its thread: %s", strerror(rc));
		return -rc;
	}
	pthread_setname_np(m->th, "tokexd-metrics");
	m->started = 1;
	tkx_log(TKX_LOG_INFO, "metrics", "Prometheus endpoint http://%s/metrics", m->listen);
	return 0;
}

void td_metrics_stop(struct td_app *a)
{
	struct td_metrics *m = a->metrics;
	if (m == NULL)
		return;
	atomic_store(&m->stop, 1);
	if (m->started)
		pthread_join(m->th, NULL);
	close(m->fd);
	free(m->buf);
	free(m);
	a->metrics = NULL;
}
