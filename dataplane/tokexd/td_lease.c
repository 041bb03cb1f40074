/*
 * td_lease.c - tokexd's lease in etcd (td_lease.h, docs/STANDBY.md "Lease and fencing").
 *
 * Role: a thread off the data path (etcd through its JSON gateway, control/cp_etcd.h). It
 * publishes two deadlines the RX lcore reads every loop pass (td_app.lease_stop_ns and
 * lease_end_ns, CLOCK_MONOTONIC): from lease_stop_ns on the RX lcore accepts nothing and
 * tells every session Terminate SHUTDOWN; from lease_end_ns on it sends nothing at all.
 *
 * The leader key (replication.etcd_key) holds "epoch=E name=N link=ADDR:PORT" and is
 * attached to the holder's lease; <key>/epoch holds the last epoch any primary took. Both
 * are written in one transaction (cp_etcd_acquire) that succeeds only if the key does not
 * exist and the epoch key did not move since it was read.
 *
 * Invariants:
 *  1. A node serves as primary only while it holds the key: a primary takes it before its
 *     RX loop starts; a standby takes it before td_repl_promote(). The key exists only
 *     while its lease lives, so a standby takes it only after the old primary's lease
 *     expired (or was revoked by a clean stop).
 *  2. Each new holder's epoch is E + 1, where E is the larger of <key>/epoch and its own
 *     journal's epoch: epochs only grow, across crashes and restarts of either node.
 *  3. The holder's deadlines: a renewal sent at t0 (this node's monotonic clock, read
 *     before the request) that etcd answers with TTL T keeps the lease alive at etcd until
 *     at least t0 + T by etcd's clock (etcd counts T from when it received the request,
 *     after t0). lease_end_ns = t0 + T - T/100 (clocks may run 1 % apart), lease_stop_ns =
 *     lease_end_ns - replication.lease_margin_ms. They only move forward on a renewal and
 *     are set to now when etcd says the lease is gone.
 *  4. Renewals go every T/3; a failed one is retried every 100 ms. Each etcd call is bounded
 *     (T/4 per endpoint): a renewal that is late only brings the fence nearer, never past.
 *
 * States:  primary: TAKING --taken--> HOLDING --gone or expired by our clock--> LOST
 *          standby: WATCHING --key free, promotable, taken--> HOLDING (promoted) ...
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "cp_etcd.h"
#include "jn_journal.h"
#include "td_app.h"
#include "td_lease.h"
#include "td_repl.h"
#include "tkx_log.h"

#define TDL_RETRY_NS 100000000ull  /* a failed renewal again after 100 ms */
#define TDL_NAP_NS 20000000ull     /* the thread's longest sleep: it notices stop */
#define TDL_START_WAIT_S 30        /* a primary's start: etcd unreachable this long */

enum { L_TAKING = 0, L_WATCHING, L_HOLDING, L_LOST };
static const char *const tdl_state_name[] = {"taking", "watching", "holding", "lost"};

struct td_lease {
	struct td_app *a;
	struct cp_etcd *e;
	pthread_t th;
	int th_ok;
	atomic_int stop;
	atomic_int state;
	int64_t id;     /* the lease held, 0 none */
	int64_t ttl_s;  /* as granted */
	_Atomic uint32_t epoch;
	char name[224];
	char epoch_key[CP_STR + 8];
	uint64_t next_renew;
	uint64_t poll_ns;
	_Atomic uint64_t renewals, failures, acquisitions;
	uint64_t max_call_ns;  /* the slowest renewal (sent to answered) */
	uint64_t last_ok_ns;   /* when the last renewal was answered (monotonic) */
	uint64_t last_try_ns;  /* when the last one was sent */
	int fail_said;
	pthread_mutex_t mu; /* the text below (the thread writes, tokexctl reads) */
	char holder[CP_ETCD_VALUE_MAX];
	char last[320];
};

static struct td_lease td_lease_g;

static uint64_t tdl_ttl_ns(const struct td_lease *L)
{
	return (uint64_t)L->ttl_s * 1000000000ull;
}

static void tdl_say(struct td_lease *L, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tdl_say(struct td_lease *L, const char *fmt, ...)
{
	char line[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&L->mu);
	snprintf(L->last, sizeof(L->last), "%s", line);
	pthread_mutex_unlock(&L->mu);
	tkx_log(TKX_LOG_NOTICE, "lease", "%s", line);
	fflush(stdout);
}

/* Invariant 3: the deadlines after a renewal (or the grant) sent at t0. */
static void tdl_publish(struct td_lease *L, uint64_t t0)
{
	struct td_app *a = L->a;
	uint64_t ttl = tdl_ttl_ns(L);
	uint64_t end = t0 + ttl - ttl / 100;
	uint64_t stop = end - (uint64_t)a->cfg.repl_lease_margin_ms * 1000000ull;
	if (end > atomic_load(&a->lease_end_ns))
		atomic_store_explicit(&a->lease_end_ns, end, memory_order_release);
	if (stop > atomic_load(&a->lease_stop_ns))
		atomic_store_explicit(&a->lease_stop_ns, stop, memory_order_release);
}

/* One try at the leader key. 1 taken (L->id, L->epoch set; the deadlines from t0 in *t0);
 * 0 held by another (its value in L->holder); a negative errno (etcd) with err. */
static int tdl_try(struct td_lease *L, uint64_t *t0, char *err, size_t len)
{
	struct td_app *a = L->a;
	const struct cp_config *cfg = &a->cfg;
	int64_t id = 0, ttl = 0;
	*t0 = td_mono_ns();
	int rc = cp_etcd_grant(L->e, cfg->repl_lease_s, &id, &ttl, err, len);
	if (rc < 0)
		return rc;
	struct cp_etcd_kv ek, held;
	rc = cp_etcd_get(L->e, L->epoch_key, &ek, err, len);
	uint32_t e_seen = 0;
	if (rc == 0 && ek.found) {
		char *end;
		unsigned long v = strtoul(ek.value, &end, 10);
		if (end == ek.value || *end || v >= UINT32_MAX) {
			snprintf(err, len, "etcd: %s holds '%s', not an epoch", L->epoch_key, ek.value);
			rc = -EPROTO;
		}
		e_seen = (uint32_t)v;
	}
	uint32_t mine = a->jn ? jn_epoch(a->jn) : 1;
	uint32_t epoch = (e_seen > mine ? e_seen : mine) + 1; /* invariant 2 */
	char value[CP_ETCD_VALUE_MAX], ev[16];
	char link[32] = "-";
	if (cfg->repl_listen.set) {
		struct in_addr ia = {htonl(cfg->repl_listen.ip)};
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &ia, ip, sizeof(ip));
		snprintf(link, sizeof(link), "%s:%u", ip, cfg->repl_listen.port);
	}
	snprintf(value, sizeof(value), "epoch=%u name=%s link=%s", epoch, L->name, link);
	snprintf(ev, sizeof(ev), "%u", epoch);
	if (rc == 0)
		rc = cp_etcd_acquire(L->e, cfg->repl_etcd_key, value, id, L->epoch_key,
				     ek.found ? ek.mod_rev : 0, ev, &held, err, len);
	if (rc != 1) {
		char e2[128];
		(void)cp_etcd_revoke(L->e, id, e2, sizeof(e2)); /* not ours to keep */
		if (rc == 0) {
			pthread_mutex_lock(&L->mu);
			snprintf(L->holder, sizeof(L->holder), "%s", held.found ? held.value : "");
			pthread_mutex_unlock(&L->mu);
		}
		return rc;
	}
	L->id = id;
	L->ttl_s = ttl;
	atomic_store(&L->epoch, epoch);
	atomic_fetch_add(&L->acquisitions, 1);
	pthread_mutex_lock(&L->mu);
	snprintf(L->holder, sizeof(L->holder), "%s", value);
	pthread_mutex_unlock(&L->mu);
	return 1;
}

/* The holder's name in a key's value ("... name=N link=..."): whether it is ours. */
static int tdl_is_mine(const struct td_lease *L, const char *value)
{
	const char *n = strstr(value, " name=");
	if (n == NULL)
		return 0;
	n += 6;
	size_t k = strcspn(n, " ");
	return k == strlen(L->name) && strncmp(n, L->name, k) == 0;
}

/* ---- the thread ---------------------------------------------------------------------- */

static void tdl_hold(struct td_lease *L)
{
	struct td_app *a = L->a;
	char err[512];
	uint64_t now = td_mono_ns();
	if (now < L->next_renew)
		return;
	uint64_t t0 = now;
	int64_t ttl = 0;
	L->last_try_ns = t0;
	int rc = cp_etcd_keepalive(L->e, L->id, &ttl, err, sizeof(err));
	uint64_t took = td_mono_ns() - t0;
	if (took > L->max_call_ns)
		L->max_call_ns = took;
	if (took > tdl_ttl_ns(L) / 4)
		tdl_say(L, "a renewal took %" PRIu64 " ms (%s)", took / 1000000,
			rc == 0 ? "answered" : err);
	if (rc == 0) {
		L->last_ok_ns = td_mono_ns();
		L->ttl_s = ttl;
		tdl_publish(L, t0);
		atomic_fetch_add(&L->renewals, 1);
		L->next_renew = t0 + tdl_ttl_ns(L) / 3;
		if (L->fail_said) {
			tdl_say(L, "renewed again through %s", cp_etcd_endpoint(L->e));
			L->fail_said = 0;
		}
		return;
	}
	atomic_fetch_add(&L->failures, 1);
	if (rc == -ENOENT) {
		/* Gone at etcd: whatever our clock says, another may hold the key now. */
		atomic_store_explicit(&a->lease_end_ns, t0, memory_order_release);
		atomic_store_explicit(&a->lease_stop_ns, t0, memory_order_release);
		atomic_store(&L->state, L_LOST);
		L->id = 0;
		tdl_say(L, "LOST: %s; this node accepts and sends nothing more", err);
		return;
	}
	L->next_renew = now + TDL_RETRY_NS;
	uint64_t stop = atomic_load(&a->lease_stop_ns);
	if (!L->fail_said) {
		tdl_say(L, "cannot renew (%s); retrying; orders stop in %" PRId64 " ms unless a "
			"renewal gets through", err, (int64_t)(stop - now) / 1000000);
		L->fail_said = 1;
	}
	if (now >= atomic_load(&a->lease_end_ns)) {
		atomic_store(&L->state, L_LOST);
		tdl_say(L, "LOST: not renewed before it could have expired (%s)", err);
	}
}

static void tdl_watch(struct td_lease *L)
{
	struct td_app *a = L->a;
	char err[512], why[320];
	if (td_mono_ns() < L->next_renew)
		return;
	L->next_renew = td_mono_ns() + L->poll_ns;
	if (!td_repl_promotable(a, why, sizeof(why))) {
		pthread_mutex_lock(&L->mu);
		snprintf(L->last, sizeof(L->last), "not promotable: %.280s", why);
		pthread_mutex_unlock(&L->mu);
		return;
	}
	struct cp_etcd_kv kv;
	int rc = cp_etcd_get(L->e, a->cfg.repl_etcd_key, &kv, err, sizeof(err));
	if (rc < 0) {
		atomic_fetch_add(&L->failures, 1);
		if (!L->fail_said)
			tdl_say(L, "standby: cannot read the leader key (%s): no promotion while etcd "
				"cannot be reached", err);
		L->fail_said = 1;
		return;
	}
	if (L->fail_said)
		tdl_say(L, "standby: etcd reached again through %s", cp_etcd_endpoint(L->e));
	L->fail_said = 0;
	if (kv.found) {
		pthread_mutex_lock(&L->mu);
		snprintf(L->holder, sizeof(L->holder), "%s", kv.value);
		snprintf(L->last, sizeof(L->last), "standby: promotable; the key is held");
		pthread_mutex_unlock(&L->mu);
		return;
	}
	/* Free: the primary's lease expired (or it stopped cleanly). */
	uint64_t t0;
	rc = tdl_try(L, &t0, err, sizeof(err));
	if (rc == 1) {
		tdl_publish(L, t0);
		L->next_renew = t0 + tdl_ttl_ns(L) / 3;
		atomic_store(&L->state, L_HOLDING);
		tdl_say(L, "TAKEN by this standby: epoch %u, lease %" PRIx64 " of %" PRId64 " s "
			"through %s; promoting; unix_ns=%" PRIu64, atomic_load(&L->epoch),
			(uint64_t)L->id, L->ttl_s, cp_etcd_endpoint(L->e), td_now_ns());
		td_repl_promote(a, atomic_load(&L->epoch));
	} else if (rc < 0) {
		atomic_fetch_add(&L->failures, 1);
		tdl_say(L, "standby: the key is free but taking it failed: %s", err);
	}
}

static void *tdl_thread(void *arg)
{
	struct td_lease *L = arg;
	while (!atomic_load(&L->stop)) {
		int st = atomic_load(&L->state);
		if (st == L_HOLDING)
			tdl_hold(L);
		else if (st == L_WATCHING)
			tdl_watch(L);
		struct timespec d = {0, (long)TDL_NAP_NS};
		nanosleep(&d, NULL);
	}
	return NULL;
}

/* ---- start, stop ------------------------------------------------------------------------ */

int td_lease_start(struct td_app *a, int cpu, char *err, size_t len)
{
	const struct cp_config *cfg = &a->cfg;
	struct td_lease *L = &td_lease_g;
	if (cfg->n_repl_etcd == 0 || cfg->repl_role == CP_ROLE_NONE || a->jn == NULL)
		return 0;
	L->a = a;
	pthread_mutex_init(&L->mu, NULL);
	char host[64] = "?";
	_Static_assert(sizeof(L->name) >= sizeof(host) + CP_STR, "host:socket fits");
	gethostname(host, sizeof(host) - 1);
	snprintf(L->name, sizeof(L->name), "%s:%s", host, cfg->ctl_socket);
	for (char *p = L->name; *p; p++)
		if (*p == ' ')
			*p = '_';
	snprintf(L->epoch_key, sizeof(L->epoch_key), "%s/epoch", cfg->repl_etcd_key);
	const char *ep[CP_MAX_ETCD];
	for (uint32_t i = 0; i < cfg->n_repl_etcd; i++)
		ep[i] = cfg->repl_etcd[i];
	/* invariant 4: a try on one endpoint is bounded by a quarter of the lease */
	unsigned timeout_ms = cfg->repl_lease_s * 250u;
	L->e = cp_etcd_open(ep, cfg->n_repl_etcd, timeout_ms, err, len);
	if (L->e == NULL)
		return -errno;
	L->ttl_s = cfg->repl_lease_s;
	L->poll_ns = (uint64_t)cfg->repl_lease_s * 1000000000ull / 50; /* 2 % of the lease */
	if (L->poll_ns < 50000000ull)
		L->poll_ns = 50000000ull;
	if (cfg->repl_role == CP_ROLE_PRIMARY) {
		/* Invariant 1: the key before order entry opens. An earlier run of this tokexd
		 * (killed) may hold it still: wait for its lease to run out. */
		/* A bound for a hang: etcd unreachable, or our earlier run's lease (2 TTLs). */
		uint64_t t0, give_up = td_mono_ns() + (TDL_START_WAIT_S + 2ull * cfg->repl_lease_s) *
							  1000000000ull;
		int said = 0, rc;
		while ((rc = tdl_try(L, &t0, err, len)) != 1) {
			if (rc == 0 && !tdl_is_mine(L, L->holder)) {
				snprintf(err, len, "lease: another primary holds %s (%s): not starting a "
					 "second one; start this tokexd as a standby (replication.role "
					 "standby)", cfg->repl_etcd_key, L->holder);
				return -EBUSY;
			}
			if (td_mono_ns() >= give_up) {
				if (rc == 0)
					snprintf(err, len, "lease: %s is still held by this node's "
						 "earlier run (%s)", cfg->repl_etcd_key, L->holder);
				return rc < 0 ? rc : -EBUSY;
			}
			if (!said)
				tkx_log(TKX_LOG_NOTICE, "lease", "waiting for %s: %s", cfg->repl_etcd_key,
				       rc == 0 ? "held by an earlier run of this tokexd, until its "
				       "lease expires" : err);
			said = 1;
			struct timespec d = {0, 200000000};
			nanosleep(&d, NULL);
		}
		tdl_publish(L, t0);
		L->next_renew = t0 + tdl_ttl_ns(L) / 3;
		/* Invariant 2: this primary's records carry the new epoch (the main thread is
		 * the RX lcore's: the journal's producer). */
		int e = jn_set_epoch(a->jn, atomic_load(&L->epoch));
		if (e < 0) {
			snprintf(err, len, "lease: the journal refused epoch %u: %s",
				 atomic_load(&L->epoch), strerror(-e));
			return e;
		}
		atomic_store(&L->state, L_HOLDING);
		tdl_say(L, "primary: holds %s, epoch %u, lease %" PRIx64 " of %" PRId64 " s through "
			"%s (renewed every %" PRId64 " ms; orders stop %u ms before it could expire)",
			cfg->repl_etcd_key, atomic_load(&L->epoch), (uint64_t)L->id, L->ttl_s,
			cp_etcd_endpoint(L->e), L->ttl_s * 1000 / 3, cfg->repl_lease_margin_ms);
	} else {
		atomic_store(&L->state, L_WATCHING);
		tkx_log(TKX_LOG_NOTICE, "lease", "standby: watching %s every %" PRIu64 " ms; promoted once it "
		       "is free", cfg->repl_etcd_key, L->poll_ns / 1000000);
	}
	a->lease = L;
	pthread_attr_t at;
	pthread_attr_init(&at);
	if (cpu >= 0) {
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(cpu, &set);
		pthread_attr_setaffinity_np(&at, sizeof(set), &set);
	} else {
		cpu_set_t set;
		CPU_ZERO(&set);
		long n = sysconf(_SC_NPROCESSORS_ONLN);
		for (long c = 0; c < n && c < CPU_SETSIZE; c++)
			if ((uint32_t)c != cfg->rx_lcore)
				CPU_SET(c, &set);
		if (CPU_COUNT(&set))
			pthread_attr_setaffinity_np(&at, sizeof(set), &set);
	}
	/* Real-time priority (SCHED_RR 1) where allowed: the thread sleeps between renewals
	 * and must wake on time even on a CPU a busy-polling lcore shares (no spare CPU): a
	 * renewal starved past the margin fences a healthy primary. Without the privilege,
	 * the normal policy. */
	struct sched_param sp = {.sched_priority = 1};
	int rc = -1;
	if (pthread_attr_setinheritsched(&at, PTHREAD_EXPLICIT_SCHED) == 0 &&
	    pthread_attr_setschedpolicy(&at, SCHED_RR) == 0 &&
	    pthread_attr_setschedparam(&at, &sp) == 0)
		rc = pthread_create(&L->th, &at, tdl_thread, L);
	if (rc != 0) {
		pthread_attr_setinheritsched(&at, PTHREAD_INHERIT_SCHED);
		rc = pthread_create(&L->th, &at, tdl_thread, L);
	}
	pthread_attr_destroy(&at);
	if (rc != 0) {
		snprintf(err, len, "lease: cannot start its thread: %s", strerror(rc));
		return -rc;
	}
	L->th_ok = 1;
	return 0;
}

void td_lease_stop(struct td_app *a)
{
	struct td_lease *L = a->lease;
	if (L == NULL)
		return;
	if (L->th_ok) {
		atomic_store(&L->stop, 1);
		pthread_join(L->th, NULL);
		L->th_ok = 0;
	}
	char err[512];
	if (L->id && atomic_load(&L->state) == L_HOLDING && !atomic_load(&a->fenced)) {
		/* A clean stop: nothing more is sent (the RX loop and the gateway ended), so
		 * a standby may take over now rather than after the TTL. */
		if (cp_etcd_revoke(L->e, L->id, err, sizeof(err)) == 0)
			tkx_log(TKX_LOG_NOTICE, "lease", "revoked at the stop: a standby may take over");
		else
			tkx_log(TKX_LOG_WARN, "lease", "could not revoke at the stop (%s): it expires by "
			       "itself", err);
	}
	uint64_t now = td_mono_ns();
	tkx_log(TKX_LOG_NOTICE, "lease",
		"epoch %u, renewals %" PRIu64 " failures %" PRIu64 " acquisitions %"
	       PRIu64 ", the slowest renewal %" PRIu64 " ms, the last answered %" PRId64 " ms ago, "
	       "the last sent %" PRId64 " ms ago", atomic_load(&L->epoch),
	       atomic_load(&L->renewals), atomic_load(&L->failures), atomic_load(&L->acquisitions),
	       L->max_call_ns / 1000000,
	       L->last_ok_ns ? (int64_t)(now - L->last_ok_ns) / 1000000 : -1,
	       L->last_try_ns ? (int64_t)(now - L->last_try_ns) / 1000000 : -1);
	cp_etcd_close(L->e);
	L->e = NULL;
	a->lease = NULL;
}

void td_lease_stats(const struct td_app *a, struct td_lease_stats *s)
{
	struct td_lease *L = a->lease;
	memset(s, 0, sizeof(*s));
	if (L == NULL)
		return;
	s->on = 1;
	uint64_t now = td_mono_ns(), stop = atomic_load(&a->lease_stop_ns);
	s->held = atomic_load(&L->state) == L_HOLDING && stop > now;
	s->left_ms = s->held ? (int64_t)((stop - now) / 1000000) : 0;
	s->epoch = atomic_load(&L->epoch);
	s->renewals = atomic_load(&L->renewals);
	s->failures = atomic_load(&L->failures);
	s->acquisitions = atomic_load(&L->acquisitions);
}

size_t td_lease_text(const struct td_app *a, char *out, size_t len)
{
	struct td_lease *L = a->lease;
	if (L == NULL || len == 0)
		return 0;
	struct td_lease_stats s;
	td_lease_stats(a, &s);
	char holder[CP_ETCD_VALUE_MAX], last[320];
	pthread_mutex_lock(&L->mu);
	snprintf(holder, sizeof(holder), "%s", L->holder);
	snprintf(last, sizeof(last), "%s", L->last);
	pthread_mutex_unlock(&L->mu);
	int n = snprintf(out, len, "lease=%s key=%s held=%s left_ms=%" PRId64 " lease_s=%" PRId64
			 " renewals=%" PRIu64 " failures=%" PRIu64 " holder=\"%s\"\nlease_last: %s\n",
			 tdl_state_name[atomic_load(&L->state)], a->cfg.repl_etcd_key,
			 s.held ? "yes" : "no", s.left_ms, L->ttl_s, s.renewals, s.failures, holder,
			 last[0] ? last : "-");
	return n < 0 ? 0 : (size_t)n < len ? (size_t)n : len - 1;
}
