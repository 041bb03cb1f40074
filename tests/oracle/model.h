/*
 * model.h - the reference model of the matching engine, for differential testing.
 *
 * Role: test-only. It implements the semantics stated in dataplane/match/me_book.h a
 * second time, as plainly as possible and with different data structures, so that
 * tests/oracle/test_diff.c can feed the same random commands to both and compare every
 * event and the whole book. Nothing here is fast on purpose: resting orders sit in one
 * flat unordered array, each carrying an arrival sequence number, and every question
 * ("what is the best ask?", "who is next in the queue?") is answered by a linear scan
 * or by sorting a copy.
 *
 * Order types, from me_book.h's "Order types" text: an iceberg is a resting order with
 * show > 0 and a visible part; each trade against it takes at most the visible part,
 * and a refill gives it the next tail seq (the back of its level). Held stop orders sit
 * in a second array in arrival order. Every order runs through one literal matching
 * loop (find the best crossing order by a scan, trade, refill); FOK is decided by a dry
 * run of that loop on a copy of the book; elected stops wait in a third array.
 *
 * Invariants (checked by mdl_check()):
 *  1. ord[0..n) are the live resting orders; every one has qty >= 1, a tick-aligned
 *     in-band price, side 0/1, tif GTC, POST or DAY, and a unique id and seq; an iceberg
 *     has 0 < vis <= min(show, qty).
 *  2. n + nheld <= max_orders; held ids are unique and not resting.
 *  3. The book is not crossed: best bid < best ask whenever both exist.
 * Priority is (price, seq): the better price first, then the lower seq. Orders seeded
 * at the head of a level take seqs counting down from 0; everything else counts up
 * from 1, so "at the head" and "at the back" both fall out of the same ordering.
 */
#ifndef TOKEX_TEST_MODEL_H
#define TOKEX_TEST_MODEL_H

#include <stdint.h>

#include "me_book.h"

struct mdl_ord {
	int64_t id;
	int64_t price;
	int64_t qty; /* remaining; 0 marks a dead slot until mdl__compact() */
	int64_t seq;
	uint64_t owner;
	uint64_t user;
	uint8_t side;
	uint8_t tif;
	int64_t show; /* iceberg display quantity, 0 = plain */
	int64_t vis;  /* iceberg: visible part now */
	int64_t stop; /* held stop order: trigger price (price is its limit) */
};

/* How often the model took each interesting path; test_diff asserts every one is
 * reached so that the differential test cannot pass while skipping a rule. */
struct mdl_paths {
	uint64_t fok_filled;       /* an FOK that filled completely */
	uint64_t fok_stp_blocked;  /* an FOK refused because a same-owner order came first */
	uint64_t stp_after_trade;  /* STP stopped an aggressor that had already traded */
	uint64_t gtc_partial_rest; /* a GTC that traded and then rested its remainder */
	uint64_t mod_in_place;     /* MODIFY that reduced in place */
	uint64_t mod_reenter;      /* MODIFY that left and re-entered */
	uint64_t mod_cross;        /* MODIFY whose re-entry traded */
	uint64_t mod_stp;          /* MODIFY whose re-entry hit STP */
	uint64_t multi_level;      /* an aggressor that traded at two or more prices */
	uint64_t seed_ok;
	uint64_t seed_head;        /* seeded at the head of a non-empty level */
	uint64_t seed_einval;
	uint64_t seed_eexist;
	uint64_t seed_enospc;
	uint64_t seed_edom;
	uint64_t ice_refill;       /* an iceberg refilled (and requeued) */
	uint64_t ice_refill_mid;   /* ... by an aggressor that then traded on */
	uint64_t ice_rested;       /* an iceberg came to rest */
	uint64_t fok_ice_filled;   /* an FOK that filled only thanks to refills */
	uint64_t stop_held;        /* a stop order was held */
	uint64_t stop_now;         /* a stop order was elected on arrival */
	uint64_t stop_elected;     /* a held stop order was elected by a trade */
	uint64_t stop_cascade;     /* an elected stop's trades elected another */
	uint64_t stop_modified;    /* MODIFY of a held stop */
	uint64_t day_expired;      /* a DAY order or stop expired at the end of the day */
};

struct mdl {
	struct me_params p;
	struct mdl_ord *ord; /* live resting orders, unordered; capacity p.max_orders */
	uint32_t n;
	struct mdl_ord *held; /* held stop orders in arrival order; capacity p.max_orders */
	uint32_t nheld;
	struct mdl_ord *queue; /* elected stops waiting their turn (one command) */
	uint32_t nq;
	struct mdl_ord *save; /* FOK dry runs: a copy of ord */
	uint32_t *scratch; /* indexes into ord, for sorting; capacity p.max_orders */
	int64_t seq_tail;  /* next seq for the back of a level */
	int64_t seq_head;  /* next seq for the head of a level */
	int64_t last_px;   /* last trade price, 0 before the first */
	struct me_event *ev; /* the last call's events (grows as needed) */
	uint32_t nev, evcap;
	int dry;             /* a FOK dry run: no events, no counters */
	struct mdl_paths paths;
};

/* 0, or -ENOMEM / -EINVAL (params the engine would refuse too). */
int mdl_init(struct mdl *m, const struct me_params *p);
void mdl_fini(struct mdl *m);

/* Applies one command; returns how many events it produced, which are in m->ev until
 * the next call. Same contract as me_book_apply(). */
uint32_t mdl_apply(struct mdl *m, const struct me_cmd *c);

/* Same contract as me_book_end_of_day(); events in m->ev. */
uint32_t mdl_end_of_day(struct mdl *m);

/* Same contract as me_book_seed(). */
int mdl_seed(struct mdl *m, int64_t id, int side, int64_t price, int64_t qty,
	     uint64_t owner, uint64_t user, int at_head);

/* Same contract as me_book_mass_cancel(); events (in m->ev) in book order (bids best
 * first, then asks, time priority within a level), then held stops in arrival order. */
uint32_t mdl_mass_cancel(struct mdl *m, uint64_t owner, int side);

/* Every resting order in me_book_walk() order, into v (capacity p.max_orders); returns
 * how many. */
uint32_t mdl_walk(struct mdl *m, struct me_order_view *v);
/* Every held stop order in arrival order (me_book_walk_held()); returns how many. */
uint32_t mdl_walk_held(const struct mdl *m, struct me_order_view *v);

/* Same contracts as me_book_best()/me_book_depth()/me_book_find()/me_book_count(). */
int mdl_best(const struct mdl *m, int side, int64_t *price, int64_t *qty);
uint32_t mdl_depth(struct mdl *m, int side, int64_t *price, int64_t *qty, uint32_t n);
int mdl_find(const struct mdl *m, int64_t id, struct me_order_view *o);
uint32_t mdl_count(const struct mdl *m);

/* Checks the invariants above: 0, or -EFAULT with *what set. */
int mdl_check(const struct mdl *m, const char **what);

#endif /* TOKEX_TEST_MODEL_H */
