/*
 * td_lease.h - tokexd's lease in etcd (docs/STANDBY.md "Lease and fencing"): a primary
 * holds the leader key while it serves; a standby takes it, and is promoted, only once the
 * primary's lease expired. Off the data path: a thread of its own (etcd calls block for
 * up to their timeouts); the RX lcore only reads two deadlines (td_app.lease_stop_ns,
 * lease_end_ns) and fences itself by them.
 *
 * Wiring (td_main.c):
 *   td_lease_start()  after td_journal_open(), before td_repl_start(): a primary takes the
 *                     leader key (waits while an earlier run of this tokexd still holds it;
 *                     refuses to start while another holds it), raises its journal's epoch
 *                     and renews from then on; a standby watches the key and, once it is
 *                     free, takes it and asks for promotion (td_repl_promote)
 *   td_lease_stop()   after the RX loop and the gateway stopped: revokes a lease still
 *                     held (a standby can take over at once)
 *   td_lease_text()   tokexctl replication's lease line
 * Without replication.etcd all three do nothing: no lease, no promotion, no fencing.
 */
#ifndef TOKEX_TD_LEASE_H
#define TOKEX_TD_LEASE_H

#include <stddef.h>
#include <stdint.h>

struct td_app;

int td_lease_start(struct td_app *a, int cpu, char *err, size_t len);
void td_lease_stop(struct td_app *a);
/* Appends the lease's lines to out (tokexctl replication); how many bytes. */
size_t td_lease_text(const struct td_app *a, char *out, size_t len);

struct td_lease_stats {
	uint32_t on;        /* a lease is configured */
	uint32_t held;      /* this node holds it now (by its own clock) */
	uint32_t epoch;     /* the epoch it took the key with (0: never) */
	int64_t left_ms;    /* until this node stops accepting (held), else 0 */
	uint64_t renewals, failures, acquisitions;
};
void td_lease_stats(const struct td_app *a, struct td_lease_stats *s);

#endif /* TOKEX_TD_LEASE_H */
