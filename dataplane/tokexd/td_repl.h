/*
 * td_repl.h - tokexd's replication: the link to standbys (primary) or to the primary
 * (standby), and the standby's follow loop (issue 14, docs/STANDBY.md). The wire format and
 * the record checks are the journal library's (dataplane/journal/jn_link.h).
 *
 * Wiring (td_main.c), in start-up order:
 *   td_repl_bootstrap()  standby, before td_journal_open(): asks the primary where to start;
 *                        when it is further behind than the primary's journal keeps, takes
 *                        the primary's newest snapshot, replaces its own journal with it
 *                        and makes recovery start there (a->repl_first_seq)
 *   td_repl_start()      after td_journal_open(): the link thread (primary: listens;
 *                        standby: follows)
 *   td_repl_follow()     standby: the RX lcore's loop instead of td_rx_loop's body
 *   td_repl_stop()       after the lcores stopped, before td_journal_close()
 *   td_repl_text()       control thread: `tokexctl replication`
 */
#ifndef TOKEX_TD_REPL_H
#define TOKEX_TD_REPL_H

#include <stddef.h>
#include <stdint.h>

struct td_app;

/* Whether this tokexd is a standby (its order entry and market data muted); a promoted
 * standby is a primary from then on. */
int td_repl_standby(const struct td_app *a);

int td_repl_bootstrap(struct td_app *a, char *err, size_t len);
/* cpu: the link thread's (-1: any but the RX lcore's). */
int td_repl_start(struct td_app *a, int cpu, char *err, size_t len);
/* 0 at the stop; TD_REPL_PROMOTED once promoted (td_repl_promote): the caller starts the
 * gateway and the matching lcores and runs td_rx_loop(). */
#define TD_REPL_PROMOTED 1
int td_repl_follow(struct td_app *a);
/* The lease thread (td_lease.c): whether this standby may take over - it follows (no bad
 * record), and it has heard from a primary in this run (a standby that never connected
 * knows nothing of what the primary did) - with the reason when not. */
int td_repl_promotable(const struct td_app *a, char *why, size_t len);
/* The lease thread, once this standby holds the lease with epoch: the link stops following
 * (its connection closed; nothing more is taken from the old primary), the RX lcore
 * applies what it received, ends following (td_jn_follow_end), writes under epoch from
 * then on (jn_set_epoch), starts a new market-data session and returns TD_REPL_PROMOTED
 * from td_repl_follow(); the link thread then serves standbys on replication.listen (when
 * set) as a primary. */
void td_repl_promote(struct td_app *a, uint32_t epoch);
void td_repl_stop(struct td_app *a);
int td_repl_text(void *app, char *out, size_t len);

/* Counters for telemetry and tokexctl (a snapshot of relaxed loads). */
struct td_repl_stats {
	uint32_t role;      /* cp_role */
	uint32_t epoch;
	uint32_t peers;     /* primary: standbys connected; standby: 1 when connected */
	uint32_t promotable;/* standby: 0 once it stopped following on a bad record */
	uint64_t last_seq;  /* primary: durable; standby: received */
	uint64_t sent;      /* primary: the last seq sent (newest peer) */
	uint64_t acked;     /* primary: the last seq acknowledged as applied */
	uint64_t applied;   /* standby: applied through its cores */
	uint64_t lag_records;
	uint64_t lag_us;
	uint64_t connects, disconnects, too_slow, gaps, snapshots_sent, snapshots_taken;
	uint64_t records;   /* records sent (primary) or applied (standby) */
	uint64_t refused_udp; /* standby: order-entry and market-data requests dropped */
};
void td_repl_stats(const struct td_app *a, struct td_repl_stats *s);

#endif /* TOKEX_TD_REPL_H */
