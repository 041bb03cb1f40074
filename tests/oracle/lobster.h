/*
 * lobster.h - a LOBSTER trading day (message + orderbook files) and its replay through
 * the matching engine, shared by tests/oracle/test_lobster.c and tests/bench/bench_book.c.
 *
 * Role: test and benchmark support, off any hot path; allocates freely.
 *
 * Loading (lob_load) parses the two .xz CSV files of one day through `xz -dc`: message
 * rows (time, type, order id, size, price, direction) and, if asked, the orderbook rows
 * (10 levels a side after each message). ../shared/data/lobster/README.md describes the
 * format and how a replay must treat the data.
 *
 * Replay (lob_replay_*) turns the day into engine commands, step by step, against a live
 * book, exactly as the README prescribes:
 *   - the book starts from orderbook row 0 as anonymous volume (negative ids, owner 0)
 *     seeded at the head of each level; replay starts at message row 1;
 *   - type 1 (add) is a NEW GTC of the LOBSTER id;
 *   - type 2 (partial cancel) is a MODIFY to the same price and a smaller qty, or a
 *     CANCEL when nothing would remain; type 3 (delete) is a CANCEL;
 *   - a run of type-4 rows (visible executions) with one timestamp and one resting side,
 *     not interrupted by any other row, is ONE IOC of the summed size at the run's worst
 *     price, from the other side, with a fresh synthetic id;
 *   - type 5 (hidden executions) never touches the visible book: no command;
 *   - orders LOBSTER names but that we never saw added (added before 09:30, or, now
 *     and then, the new id of an order NASDAQ replaced without a row in the file) are
 *     anonymous volume: cancels and deletions of such ids reduce the anonymous orders
 *     of their level (MODIFY down or CANCEL); when the level holds too little of it,
 *     what the level is made of is unknown and it becomes anonymous (all its orders
 *     leave and its remaining total is seeded back as one anonymous order).
 * After each step the top levels (me_book_depth) are compared with the orderbook row
 * after the step's last message. A difference at a price that was visible in the row
 * before the step is a mismatch. A difference at a price that was not visible (a level
 * entering the 10-level window) is resynchronised to the file: missing volume (added
 * while the level was out of the window) is seeded as anonymous volume at the head;
 * excess volume (cancelled out of the window, where the file does not say which order
 * went) makes the level anonymous at the file's total. Mismatched levels are
 * resynchronised too, so one error does not cascade, but they are counted.
 * An aggressive run is "checked" when LOBSTER names only orders we saw added and no
 * anonymous order rests at a price it can reach: then the engine's fills (resting id,
 * qty and price, in order) must equal the rows'. When the engine's per-order state
 * departs from LOBSTER's after a run (an exception, or an unchecked run that took
 * anonymous volume instead), the affected levels are rebuilt in LOBSTER's arrival order
 * ("repairs"), keeping each level's total, or made anonymous if LOBSTER's view cannot
 * fit in that total.
 *
 * Optionally every command and seed the replay issues is recorded (struct lob_log), so a
 * benchmark can replay the identical stream later without the driver.
 */
#ifndef TOKEX_TEST_LOBSTER_H
#define TOKEX_TEST_LOBSTER_H

#include <stddef.h>
#include <stdint.h>

#include "me_book.h"

#define LOB_LEVELS 10

enum lob_type {
	LOB_ADD = 1,
	LOB_CANCEL = 2, /* partial */
	LOB_DELETE = 3,
	LOB_EXEC = 4,   /* visible */
	LOB_HIDDEN = 5,
	LOB_CROSS = 6,
	LOB_HALT = 7,
};

struct lob_msg {
	int64_t t_ns; /* nanoseconds after midnight */
	int64_t id;
	int64_t size;
	int64_t price; /* dollars * 10000 */
	int8_t type;   /* enum lob_type */
	int8_t dir;    /* 1 buy, -1 sell (resting side for types 4 and 5) */
};

/* One orderbook row; an empty level has price 0 and qty 0. */
struct lob_row {
	int32_t ap[LOB_LEVELS], aq[LOB_LEVELS];
	int32_t bp[LOB_LEVELS], bq[LOB_LEVELS];
};

struct lob_day {
	struct lob_msg *msg;
	struct lob_row *row; /* NULL unless loaded; row[k] is the book after msg[k] */
	size_t n;            /* rows in each file */
	int64_t px_min, px_max; /* over visible messages (types 1-4) and the orderbook */
	int64_t tick;           /* 100 if every visible price is a multiple of 100, else 1 */
	uint64_t count[8];      /* message rows by type */
};

/* Is `xz` on PATH? */
int lob_have_xz(void);

/* Loads the day in dir (the *_message_10.csv.xz file and, if want_rows, the
 * *_orderbook_10.csv.xz beside it). 0, or a negative errno with a reason in err:
 * -ENOENT no such files, -EBADMSG a malformed row, -EIO xz failed, -ENOMEM. */
int lob_load(struct lob_day *d, const char *dir, int want_rows, char *err, size_t errlen);
void lob_free(struct lob_day *d);

/* Engine parameters that hold the whole day: the price range with a $10 margin, the
 * tick found by lob_load, a pool big enough for every order the replay can rest. */
void lob_params(const struct lob_day *d, struct me_params *p);

/* ---- the recorded stream ---- */

struct lob_seed {
	size_t at; /* applies before cmd[at] */
	int64_t id, price, qty;
	int side, at_head;
};

struct lob_log {
	struct me_cmd *cmd;
	size_t ncmd, capcmd;
	struct lob_seed *seed;
	size_t nseed, capseed;
};

void lob_log_free(struct lob_log *l);

/* ---- replay ---- */

struct lob_fill {
	int64_t id, qty, price;
};

struct lob_stats {
	uint64_t steps, msgs;
	uint64_t adds, partial_cancels, deletes, hidden;
	uint64_t runs, runs_checked, runs_matched, exceptions;
	uint64_t resyncs, resync_up, resync_down;
	uint64_t anonymized; /* levels whose composition was given up (see above) */
	uint64_t mismatches; /* levels that differed although visible before the step */
	uint64_t repairs;    /* levels rebuilt after fills departed from LOBSTER's */
	uint64_t unknown_ids; /* cancels/deletes/executions of anonymous orders */
	uint64_t anon_short;  /* ... with too little anonymous volume at the level */
	uint64_t size_mismatch; /* deletes/cancels whose size differs from the engine's */
	uint64_t unexpected;  /* adds that traded, IOC remainders, failed seeds, ... */
	uint64_t cmds, events, seeds;
};

/* What lob_replay_step() did; pointers are valid until the next step. */
struct lob_step {
	size_t first, last; /* message rows [first, last] */
	int type;           /* of msg[first] */
	int checked, matched; /* type-4 runs */
	const struct lob_fill *want, *got;
	uint32_t nwant, ngot;
	uint32_t mismatches; /* in this step */
	uint32_t resyncs;
};

struct lob_replay; /* opaque: the driver's order tracking */

/* A replay of d (which must have its rows) on book b, initialised from d's params;
 * seeds it from row 0. log, if not NULL, receives every command and seed. NULL with
 * errno on failure. */
struct lob_replay *lob_replay_new(const struct lob_day *d, struct me_book *b,
				  struct lob_log *log);
/* 1 and *st filled after one step, 0 at the end of the day. */
int lob_replay_step(struct lob_replay *r, struct lob_step *st);
const struct lob_stats *lob_replay_stats(const struct lob_replay *r);
/* Describes the last mismatched level (for printing); empty if none. */
const char *lob_replay_last_mismatch(const struct lob_replay *r);
void lob_replay_free(struct lob_replay *r);

/* Applies the log's seeds that come before cmd[0] (the seeding from row 0) to b, a book
 * freshly initialised with lob_params(); 0 or the first failing me_book_seed() code. */
int lob_log_seed_initial(const struct lob_log *l, struct me_book *b);

#endif /* TOKEX_TEST_LOBSTER_H */
