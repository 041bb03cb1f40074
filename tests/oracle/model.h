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
 * Invariants (checked by mdl_check()):
 *  1. ord[0..n) are the live orders; every one has qty >= 1, a tick-aligned in-band
 *     price, side 0/1, tif GTC or POST, and a unique id and seq.
 *  2. n <= max_orders.
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
};

struct mdl {
	struct me_params p;
	struct mdl_ord *ord; /* live orders, unordered; capacity p.max_orders */
	uint32_t n;
	uint32_t *scratch; /* indexes into ord, for sorting; capacity p.max_orders */
	int64_t seq_tail;  /* next seq for the back of a level */
	int64_t seq_head;  /* next seq for the head of a level */
	struct mdl_paths paths;
};

/* Most events one command can produce: ACCEPT or MODIFY, one TRADE per resting order,
 * one OUT. Size event buffers given to mdl_apply()/mdl_mass_cancel() with this. */
#define MDL_MAX_EVENTS(max_orders) ((uint32_t)(max_orders) + 4u)

/* 0, or -ENOMEM / -EINVAL (params the engine would refuse too). */
int mdl_init(struct mdl *m, const struct me_params *p);
void mdl_fini(struct mdl *m);

/* Applies one command, writing its events to ev (capacity MDL_MAX_EVENTS); returns how
 * many. Same contract as me_book_apply(). */
uint32_t mdl_apply(struct mdl *m, const struct me_cmd *c, struct me_event *ev);

/* Same contract as me_book_seed(). */
int mdl_seed(struct mdl *m, int64_t id, int side, int64_t price, int64_t qty,
	     uint64_t owner, uint64_t user, int at_head);

/* Same contract as me_book_mass_cancel(); events in book order (bids best first, then
 * asks, time priority within a level). */
uint32_t mdl_mass_cancel(struct mdl *m, uint64_t owner, int side, struct me_event *ev);

/* Every live order in me_book_walk() order, into v (capacity p.max_orders); returns n. */
uint32_t mdl_walk(struct mdl *m, struct me_order_view *v);

/* Same contracts as me_book_best()/me_book_depth()/me_book_find()/me_book_count(). */
int mdl_best(const struct mdl *m, int side, int64_t *price, int64_t *qty);
uint32_t mdl_depth(struct mdl *m, int side, int64_t *price, int64_t *qty, uint32_t n);
int mdl_find(const struct mdl *m, int64_t id, struct me_order_view *o);
uint32_t mdl_count(const struct mdl *m);

/* Checks the invariants above: 0, or -EFAULT with *what set. */
int mdl_check(const struct mdl *m, const char **what);

#endif /* TOKEX_TEST_MODEL_H */
