/*
 * me_book.h - the matching engine: one price-time order book per contract.
 *
 * Role in the data path: a matching core owns many books outright (nothing is shared
 * between cores). For each command it pops from its input ring it calls me_book_apply(),
 * which matches and writes events (accept, trade, leave, reject, modify) into a sink the
 * core owns; the core turns those into wire replies and market data. No malloc, free,
 * lock, syscall or printf happens inside this module after me_book_init().
 *
 * Semantics (exact; tokex-replay prints them and the tests check them):
 *  - Price-time priority; a trade happens at the resting order's price.
 *  - TIF: GTC and DAY rest (DAY until me_book_end_of_day()); IOC's remainder leaves
 *    (ME_OUT_IOC); FOK fills completely at once or not at all (ME_OUT_FOK); POST is
 *    rejected (ME_REJ_POST_CROSS) if it would cross.
 *  - Self-trade prevention: when the next resting order to match has the same non-zero
 *    owner as the aggressor, the aggressor's remaining quantity leaves (ME_OUT_STP) and
 *    matching stops. An FOK is fillable only if it fills completely before reaching
 *    such an order.
 *  - Modify to (price, qty), qty being the new remaining quantity: same price and
 *    qty <= remaining reduces in place and keeps priority; otherwise the order leaves
 *    the book and re-enters at the back of its new level, matching first if it crosses
 *    (a POST order that would cross is rejected and stays unchanged).
 *  - Icebergs, stop orders and the end of the day: see "Order types" below.
 *  - Call auction and price guard: see the section at the end of this header.
 *  - Rejects: invalid price, qty, side or tif (INVALID); an id equal to a live order's
 *    (DUP); cancel/modify of an order that is not live (UNKNOWN); post-only crossing
 *    (POST_CROSS); and from the contract's parameters: price off the tick grid (TICK),
 *    outside the daily band (BAND), qty above the maximum (MAX_QTY), order pool full
 *    (FULL). Checks run in that order: INVALID, TICK, BAND, MAX_QTY, DUP, FULL,
 *    POST_CROSS.
 *
 * Memory: the caller asks me_book_memsize() for the bytes a book with given parameters
 * needs, provides them (rte_zmalloc_socket on the matching core's NUMA node, or
 * aligned_alloc in tests), and me_book_init() lays the book out inside them.
 */
#ifndef TOKEX_ME_BOOK_H
#define TOKEX_ME_BOOK_H

#include <stddef.h>
#include <stdint.h>

enum me_side { ME_BUY = 0, ME_SELL = 1 };
enum me_tif { ME_GTC = 0, ME_IOC = 1, ME_FOK = 2, ME_POST = 3, ME_DAY = 4 };
enum me_cmd_type { ME_CMD_NEW = 1, ME_CMD_CANCEL = 2, ME_CMD_MODIFY = 3 };

enum me_ev_type {
	ME_EV_ACCEPT = 1, /* NEW passed validation (before any trade it causes) */
	ME_EV_TRADE = 2,  /* id aggressed rid at price for qty */
	ME_EV_OUT = 3,    /* id left the book without trading its qty; reason me_out */
	ME_EV_REJECT = 4, /* command on id refused, book unchanged; reason me_rej */
	ME_EV_MODIFY = 5, /* MODIFY accepted: id now (price, qty) (before any trade) */
	ME_EV_GUARD = 6,  /* the price guard stopped id's matching; the book is now in
			   * auction mode (see "Call auction and price guard" below) */
	ME_EV_ELECT = 7,  /* held stop order id was elected; its processing follows */
};

enum me_out {
	ME_OUT_CANCEL = 1, /* cancelled by request */
	ME_OUT_IOC = 2,    /* IOC remainder expired */
	ME_OUT_FOK = 3,    /* FOK could not fill completely */
	ME_OUT_STP = 4,    /* self-trade prevention cancelled the aggressor's remainder */
	ME_OUT_MASS = 5,   /* mass cancel (by owner, side, or all) */
	ME_OUT_EXPIRE = 6, /* a DAY order at the end of the trading day */
};

enum me_rej {
	ME_REJ_INVALID = 1,
	ME_REJ_DUP = 2,
	ME_REJ_UNKNOWN = 3,
	ME_REJ_POST_CROSS = 4,
	ME_REJ_TICK = 5,
	ME_REJ_BAND = 6,
	ME_REJ_MAX_QTY = 7,
	ME_REJ_FULL = 8,
	ME_REJ_PHASE = 9, /* IOC/FOK during a call auction */
};

/* Book parameters, from the contract's configuration. Prices are integers in the
 * contract's price unit (the wire's int64 price). */
struct me_params {
	int64_t price_lo;    /* lowest price the level array covers (inclusive) */
	int64_t price_hi;    /* highest price the level array covers (inclusive) */
	int64_t tick;        /* price grid: (price - price_lo) % tick == 0; >= 1 */
	int64_t max_qty;     /* largest accepted order quantity; >= 1 */
	uint32_t max_orders; /* resting orders the pool holds; >= 1 */
};

/* One command: 64 bytes. For CANCEL only id is read; for MODIFY id, price and qty. */
struct me_cmd {
	uint8_t type; /* enum me_cmd_type */
	uint8_t side; /* enum me_side */
	uint8_t tif;  /* enum me_tif */
	uint8_t pad[5];
	int64_t id;     /* order id (the exchange order id in the appliance) */
	int64_t price;  /* NEW: the limit price (a stop order's, once elected) */
	int64_t qty;    /* NEW: quantity; MODIFY: new remaining quantity */
	uint64_t owner; /* self-trade prevention group (account); 0 = none */
	uint64_t user;  /* opaque to the engine, echoed in events (session, clOrdId...) */
	int64_t show;   /* NEW: an iceberg's display quantity; 0 = not an iceberg */
	int64_t stop;   /* NEW: a stop order's trigger price; 0 = not a stop order */
};
_Static_assert(sizeof(struct me_cmd) == 64, "a command is one cache line");

/* One event: 72 bytes. Fields not listed for a type are zero. */
struct me_event {
	uint8_t type;   /* enum me_ev_type */
	uint8_t reason; /* me_out for OUT, me_rej for REJECT */
	uint8_t side;   /* side of id */
	uint8_t pad[5];
	int64_t id;      /* the order (the aggressor for TRADE) */
	int64_t price;   /* ACCEPT/MODIFY: order price; TRADE: trade price */
	int64_t qty;     /* ACCEPT/MODIFY: order qty; TRADE: traded; OUT: qty that left */
	int64_t leaves;  /* id's remaining quantity after this event */
	uint64_t user;   /* id's user word */
	int64_t rid;     /* TRADE: the resting order */
	int64_t rleaves; /* TRADE: the resting order's remaining quantity after it */
	uint64_t ruser;  /* TRADE: the resting order's user word */
};

/* Where me_book_apply() writes events. When ev is full (n == cap) the engine calls
 * flush(), which must consume ev[0..n) and set n = 0. cap >= 1. */
struct me_sink {
	struct me_event *ev;
	uint32_t n;
	uint32_t cap;
	void (*flush)(struct me_sink *s);
	void *arg; /* the flush callback's */
};

struct me_book;

/* Bytes a book with these parameters needs; 0 with errno = EINVAL if they are invalid
 * or the level array would exceed ME_MAX_LEVELS. */
#define ME_MAX_LEVELS (1u << 26)
size_t me_book_memsize(const struct me_params *p);

/* Lays a book out in mem (len >= me_book_memsize(p), 64-byte aligned). Returns the
 * book, or NULL with errno set (EINVAL). */
struct me_book *me_book_init(void *mem, size_t len, const struct me_params *p);

/* Applies one command; returns the number of events written to s (counting flushed
 * ones). The hot path. */
uint32_t me_book_apply(struct me_book *b, const struct me_cmd *c, struct me_sink *s);

/* Inserts resting volume without matching and without events: for seeding from a
 * snapshot or from market data. at_head puts it in front of its level's queue.
 * Returns 0, or -EINVAL (bad price/qty/side), -EEXIST (id live), -ENOSPC (pool full),
 * -EDOM (would cross the opposite side). */
int me_book_seed(struct me_book *b, int64_t id, int side, int64_t price, int64_t qty,
		 uint64_t owner, uint64_t user, int at_head);

/* Cancels every live order matching owner (0 = any) and side (-1 = both), emitting
 * OUT/ME_OUT_MASS for each. Returns how many left. O(live orders). */
uint32_t me_book_mass_cancel(struct me_book *b, uint64_t owner, int side,
			     struct me_sink *s);

/* Like me_book_mass_cancel(), restricted to the orders whose id satisfies
 * (id & id_mask) == id_value: the appliance encodes the owning session in an order id's
 * low bits, so a session's orders (cancel-on-disconnect, a session-scoped mass cancel)
 * are one call. */
uint32_t me_book_cancel_where(struct me_book *b, uint64_t owner, int side, uint64_t id_mask,
			      uint64_t id_value, struct me_sink *s);

/* Best price and total quantity on a side: 0, or -ENOENT when the side is empty. */
int me_book_best(const struct me_book *b, int side, int64_t *price, int64_t *qty);

/* Up to n best levels of a side, best first, into price[]/qty[]; returns how many. */
uint32_t me_book_depth(const struct me_book *b, int side, int64_t *price, int64_t *qty,
		       uint32_t n);

/* A resting order as me_book_walk() shows it, or a held stop order (stop != 0) as
 * me_book_walk_held() and me_book_find() show it. */
struct me_order_view {
	int64_t id;
	int64_t price; /* held stop: its limit price */
	int64_t qty;   /* remaining (an iceberg's hidden part included) */
	uint64_t owner;
	uint64_t user;
	uint8_t side;
	uint8_t tif;
	uint8_t pad[6];
	int64_t show;    /* iceberg: display quantity; else 0 */
	int64_t visible; /* iceberg: the part shown and tradeable now; else qty */
	int64_t stop;    /* held stop order: trigger price; a resting order: 0 */
};

/* Calls cb for every resting order: bids best price first, then asks best price first,
 * each level in time priority. Stops early and returns cb's value if it is non-zero. */
typedef int (*me_walk_cb)(void *arg, const struct me_order_view *o);
int me_book_walk(const struct me_book *b, me_walk_cb cb, void *arg);

/* Calls cb for every held stop order in arrival order (stop != 0 in each view); stops
 * early and returns cb's value if it is non-zero. */
int me_book_walk_held(const struct me_book *b, me_walk_cb cb, void *arg);

/* Looks up a live order, resting or held: 0 and *o filled, or -ENOENT. */
int me_book_find(const struct me_book *b, int64_t id, struct me_order_view *o);

/* Live orders: resting ones and held stop orders (the pool slots in use). */
uint32_t me_book_count(const struct me_book *b);
/* Held stop orders alone. */
uint32_t me_book_held(const struct me_book *b);

/* The price of the last trade (matching or uncross), or 0 before the first. */
int64_t me_book_last_price(const struct me_book *b);

/* End of the trading day: every resting DAY order leaves (ME_EV_OUT, ME_OUT_EXPIRE, qty =
 * its remaining quantity) in me_book_walk() order, then every held DAY stop order in
 * arrival order. Returns the number of events. O(live orders): a control call. */
uint32_t me_book_end_of_day(struct me_book *b, struct me_sink *s);

/* Restores one order exactly as a snapshot holds it (me_snap.c): a resting order (v->stop
 * == 0) at the back of its level, iceberg show and visible part included, without
 * matching (it may cross: the caller checks the book afterwards); or a held stop order
 * (v->stop > 0) at the back of the held list. No event. 0, or -EINVAL (a field no live
 * order can have), -EEXIST (id live), -ENOSPC (pool full). */
int me_book_restore(struct me_book *b, const struct me_order_view *v);
/* Sets the last trade price (me_snap.c, after a restore): 0 or -EINVAL (< 0). */
int me_book_set_last_price(struct me_book *b, int64_t price);

/* Checks every structural invariant (levels, links, totals, index, best prices); for
 * tests. Returns 0 or -EFAULT with *what set to a static description. */
int me_book_check(const struct me_book *b, const char **what);

/* The id index's health: the sum over live orders of how far each sits from its home
 * slot (the extra probes a lookup of each costs), and the largest such distance in *max.
 * Sequential ids give 0; a well-mixed hash keeps both small for any structured ids. For
 * tests and diagnostics: O(index size). */
uint64_t me_book_ix_displacement(const struct me_book *b, uint64_t *max);

/*
 * Precisions, added with the implementation (me_book.c); none changes the API above.
 *
 * Parameters: me_book_memsize()/me_book_init() also refuse (EINVAL) max_orders above
 * ME_MAX_ORDERS and price_hi < price_lo. price_lo may be any int64 (prices <= 0 are
 * INVALID anyway) and price_hi need not lie on the grid: the levels are price_lo +
 * k * tick for k = 0 .. (price_hi - price_lo) / tick. BAND means price < price_lo or
 * price > price_hi (or outside the band me_book_set_band() set, which always lies in
 * that range); a price that is both off the grid and outside the band is TICK.
 * An unknown command type is rejected INVALID.
 *
 * FULL is decided up front, from the book as it is before the command: a NEW GTC or POST
 * is rejected with ME_REJ_FULL whenever no pool slot is free, even if it would have
 * traded completely and never rested. IOC and FOK never rest, need no slot and never get
 * FULL. A MODIFY that re-enters keeps its own slot and never gets FULL. (FULL comes after
 * DUP and before POST_CROSS, as listed above.)
 *
 * MODIFY, once the order is live and the new values pass INVALID/TICK/BAND/MAX_QTY:
 * same price and qty == remaining is a no-op that still emits ME_EV_MODIFY; same price
 * and qty < remaining reduces in place; anything else takes the order out of its queue
 * and re-enters it as its own tif (resting orders are GTC or POST): ME_EV_MODIFY, then
 * any trades (the order is the aggressor, STP applies), then ME_EV_OUT/ME_OUT_STP if
 * self-trade prevention stopped it, else the remainder rests at the back of the new
 * level. A POST whose new price would cross is rejected (ME_REJ_POST_CROSS), unchanged.
 * A rejected MODIFY or CANCEL never changes the order.
 *
 * Event fields, by type (every other field, pad included, is zero):
 *   ACCEPT  id, side, price, qty, leaves = qty, user (the command's)
 *   MODIFY  id, side, price and qty (the new ones), leaves = qty, user (the order's)
 *   TRADE   id, side (the aggressor's), price (the resting order's), qty, leaves (the
 *           aggressor's remainder after it), user, rid, rleaves, ruser
 *           (in me_book_uncross(): id/side/user/leaves the buy order's, rid/ruser/
 *           rleaves the sell order's, price the uncross price)
 *   OUT     id, side, reason, qty (what left), leaves = 0, user
 *   GUARD   id, side, price (of the trade not done), qty = leaves (remaining), user
 *   REJECT  id, reason; of a NEW (or an unknown command type): side and user from the
 *           command, leaves = 0; of a CANCEL/MODIFY of a live order: the order's side
 *           and user, leaves = its unchanged remaining qty; UNKNOWN: side, user, leaves 0.
 *
 * me_book_seed() returns -EINVAL also for a price off the grid or outside the band and a
 * qty above max_qty; it seeds GTC orders. me_book_mass_cancel() with a side other than
 * -1, ME_BUY or ME_SELL cancels nothing.
 *
 * me_book_mass_cancel() emits its OUT events in me_book_walk() order. me_book_best()
 * and me_book_depth() report level totals saturated at INT64_MAX (the engine keeps them
 * in 128 bits, so they never wrap).
 */
#define ME_MAX_ORDERS (1u << 30)

/*
 * Order types: day orders, icebergs, stop orders (tokex-replay prints them; tests/oracle's
 * model states them a second time).
 *
 * A NEW's optional fields: show (an iceberg's display quantity) and stop (a stop order's
 * trigger price), 0 when absent. INVALID, besides the above: show < 0 or stop < 0; show
 * with tif other than GTC, DAY or POST, or not show < qty, or together with stop; stop
 * with tif POST. An id that is resting or held is DUP. A stop order needs a pool slot
 * while it is held: a NEW stop is FULL when no slot is free, unless it is elected at
 * once (then its tif decides, as for any NEW).
 *
 * DAY: rests like GTC. me_book_end_of_day() expires every resting DAY order and every
 * held DAY stop (ME_OUT_EXPIRE); GTC orders stay.
 *
 * Iceberg: rests with visible = min(show, remaining). A resting iceberg trades at most its
 * visible part per encounter. When its visible part reaches 0 and quantity remains, it
 * is refilled to min(show, remaining) and moves to the back of its level's queue; the
 * aggressor goes on matching, so it meets the other orders of the level first and may
 * meet the refilled part again (one TRADE per encounter). An incoming iceberg uses its
 * whole quantity as an aggressor, then rests as above. TRADE's rleaves is the iceberg's
 * whole remaining quantity. Level totals count whole quantities (an auction's volume
 * includes hidden parts); me_book_best() and me_book_depth() report displayed quantity
 * (an iceberg's visible part). In an uncross an iceberg trades its visible part per
 * pairing and is refilled and requeued the same way.
 *
 * An iceberg costs one TRADE per encounter, so an aggressor against an iceberg of show
 * 1 writes as many events as it trades lots (the sink flushes as usual): the appliance
 * must bound qty / show at its door (a minimum show) before icebergs reach the wire.
 *
 * FOK: executes only if matching, refills included, would fill it completely before it
 * runs out of crossing quantity or meets an order of its own owner; otherwise OUT/FOK and
 * no trade.
 *
 * Stop order: held outside the book (not in me_book_walk(), in me_book_walk_held()), in
 * arrival order. A buy stop is elected by a trade at a price >= its stop, a sell stop by
 * a trade at a price <= its stop. NEW: ACCEPT, then, if the last trade price already
 * satisfies that, ME_EV_ELECT and it is processed at once as a plain limit order; else
 * it is held. After each order finishes processing (a NEW, a MODIFY that re-enters, an
 * elected stop order, an uncross), the held stops its trades elect (buy: stop <= the
 * highest price it traded at; sell: stop >= the lowest) join a queue in their arrival
 * order; each in turn gets ME_EV_ELECT (id, side, price = its limit, qty = leaves = its
 * quantity, user) and is processed as a plain limit order with its price, tif and owner
 * (no new ACCEPT), and the stops its own trades elect join the back of the queue. The
 * queue is empty again when me_book_apply() returns. An elected stop keeps its pool slot
 * (never FULL); in auction mode an elected IOC/FOK is rejected PHASE, and a limit outside
 * a band moved since it was held is rejected BAND (both after ELECT; the order is gone).
 * CANCEL of a held stop: OUT/CANCEL with its quantity. MODIFY of a held stop: the usual
 * checks on the new (price, qty) (INVALID, TICK, BAND, MAX_QTY), then its limit price and
 * quantity change, ME_EV_MODIFY, and it keeps its place in arrival order.
 *
 * MODIFY of an iceberg: same price and qty <= remaining keeps the queue place and the
 * visible part becomes min(visible, qty); anything else re-enters as an aggressor with
 * its whole quantity and rests as an iceberg with the same show.
 *
 * Mass cancels (me_book_mass_cancel(), _cancel_where(), _cancel_owner()) take held stop
 * orders too, after the resting ones, in arrival order; me_book_adopt_where() too.
 */

/*
 * Call auction and price guard (control calls: the matching core makes them between
 * commands, never from inside a sink's flush).
 *
 * Levels: each price has a bid level and an ask level (so that a crossed auction book
 * can hold bids and asks at one price; me_book_memsize() counts 64 bytes a price). The
 * level array spans
 * me_params [price_lo, price_hi]; the accepted band starts as the whole array and
 * me_book_set_band() moves it inside the array (never reallocating): size the array for
 * many days of the widest band (the appliance uses +-50% of the reference), and move it
 * with the market (me_book_shift(), or me_book_init() again on an empty book).
 *
 * Auction mode (me_book_set_auction(b, 1), or a tripped guard):
 *  - NEW GTC/POST pass the usual checks and rest without matching, even when they cross
 *    (no POST_CROSS, no self-trade prevention): ACCEPT and nothing else. NEW IOC/FOK are
 *    rejected ME_REJ_PHASE (after DUP, before FULL: the order is INVALID, TICK, BAND,
 *    MAX_QTY, DUP, PHASE, FULL, POST_CROSS).
 *  - CANCEL works as always; MODIFY works as always except that it never matches: an
 *    order that re-enters goes to the back of its new level, crossing or not.
 *  - The book may be crossed (invariant 6 holds only outside auction mode).
 *  - me_book_set_auction(b, 0) refuses (-EBUSY) while the book is crossed.
 *
 * Uncross (me_book_uncross): the price p maximises the executed volume min(D(p), S(p)),
 * D(p) the bid quantity at prices >= p, S(p) the ask quantity at prices <= p; among
 * those, it minimises the imbalance |D(p) - S(p)|; among those, it is the grid price
 * closest to ref_price; of two equally close, the lower. Every grid price in [best ask,
 * best bid] is a candidate, not only the prices where orders rest (so with a wide tie
 * the reference itself, rounded to the grid, wins). Pass ref_price 0 when there is no
 * reference: the lowest tied price wins. Then min(D, S) executes at p: the bids from the
 * highest price down and the asks from the lowest up, each level in time order, pairing
 * the two current heads: one TRADE per pair with id/side/user/leaves = the buy order,
 * rid/ruser/rleaves = the sell order, price = p (there is no aggressor; self-trade
 * prevention does not apply in an uncross). Fully filled orders leave the book. The
 * book is then uncrossed (a volume-maximising price leaves no crossing pair) and
 * auction mode is off. A book that does not cross gives price INT64_MIN, volume 0, and
 * also leaves auction mode.
 *
 * Price guard (me_book_set_guard(b, lo, hi); lo <= base and hi >= the top of the array,
 * e.g. 0 and INT64_MAX, turn it off): a NEW or re-entering MODIFY matches as usual but
 * stops before the first trade whose price would lie outside [lo, hi]. If the order
 * then still crosses (and self-trade prevention did not stop it), the engine writes
 * ME_EV_GUARD (id, side, user; price = the price of the trade it stopped before; qty =
 * leaves = the order's remaining quantity) after the trades it did, and switches the
 * book to auction mode; then a GTC/POST remainder rests (crossed, possibly), an IOC
 * remainder leaves ME_OUT_IOC. An FOK is fillable only inside the guard and never trips
 * it: if it cannot fill inside the guard it leaves ME_OUT_FOK (nothing traded, so no
 * price moved). The guard is not consulted by me_book_uncross().
 *
 * The ordinary path pays one test of a mode byte per NEW and per re-entering MODIFY.
 */
int me_book_set_auction(struct me_book *b, int on);
int me_book_auction(const struct me_book *b); /* 1 in auction mode, else 0 */

struct me_uncross {
	int64_t price;     /* the uncross price; INT64_MIN when the book does not cross */
	int64_t volume;    /* quantity executed (or executable), saturated at INT64_MAX */
	int64_t imbalance; /* D(p) - S(p): > 0 unfilled demand at p, < 0 unfilled supply */
	uint32_t trades;   /* TRADE events written (me_book_uncross only) */
	uint32_t pad;
};

/* Runs the uncross as above, writing TRADE events to s; fills *r. Returns 0. */
int me_book_uncross(struct me_book *b, int64_t ref_price, struct me_sink *s,
		    struct me_uncross *r);

/* The indicative uncross (same price rules, nothing executed): 0, or -ENOENT (and
 * price INT64_MIN) when the book does not cross. */
int me_book_uncross_price(const struct me_book *b, int64_t ref_price, struct me_uncross *r);

/* Accepted band [lo, hi]: 0; -EINVAL (lo <= 0 or lo > hi); -ERANGE (outside the level
 * array, see me_book_range). Resting orders outside a new band stay and can trade; new
 * prices outside it are rejected BAND. */
int me_book_set_band(struct me_book *b, int64_t lo, int64_t hi);
void me_book_band(const struct me_book *b, int64_t *lo, int64_t *hi);
/* The prices the level array covers: [price_lo, last grid level <= price_hi]. */
void me_book_range(const struct me_book *b, int64_t *lo, int64_t *hi);

/* The lowest and the highest price where an order rests, either side: 0, or -ENOENT
 * (prices untouched) when the book is empty. */
int me_book_extent(const struct me_book *b, int64_t *lo, int64_t *hi);

/*
 * Moves the level array along the price grid, keeping its number of levels: the levels
 * become new_lo + k * tick. Every resting order keeps its price, its place in its queue
 * and its id; the band is cut to the new array (the whole array when nothing of it is
 * left), the price guard is re-applied to it. So a market that drifts far from where
 * its book was laid out keeps a book around its prices without touching its orders.
 * 0; -EINVAL (new_lo off the grid, or the new top beyond INT64_MAX); -ERANGE (an order
 * rests outside the new array: nothing changed). O(levels + resting orders): a control
 * call, never on the order path.
 */
int me_book_shift(struct me_book *b, int64_t new_lo);

/* Price guard [lo, hi]: 0, or -EINVAL when lo > hi. */
int me_book_set_guard(struct me_book *b, int64_t lo, int64_t hi);
void me_book_guard(const struct me_book *b, int64_t *lo, int64_t *hi);

/* Cancels every live order with (owner & owner_mask) == (owner & owner_mask) and side
 * (-1 = both), OUT/ME_OUT_MASS each, in me_book_walk() order: e.g. a whole firm's
 * orders with owner = firm << 32, owner_mask = 0xffffffff00000000. */
uint32_t me_book_cancel_owner(struct me_book *b, uint64_t owner, uint64_t owner_mask, int side,
			      struct me_sink *s);

/* me_book_cancel_where() restricted further to ids >= id_from (as unsigned): the appliance
 * numbers a core's orders upwards in an id's high bits, so the orders a session slot
 * entered after a point are one call (those before it were detached from the slot). */
uint32_t me_book_cancel_where_from(struct me_book *b, uint64_t owner, int side,
				   uint64_t id_mask, uint64_t id_value, uint64_t id_from,
				   struct me_sink *s);

/* Gives owner (non-zero) to every live order without one (owner 0) whose id satisfies
 * (id & id_mask) == id_value; no event, no change of priority. Returns how many. An
 * order's owner is its self-trade prevention group and who may cancel it: the appliance
 * hands a forgotten session's account-0 orders to their firm this way. O(live orders). */
uint32_t me_book_adopt_where(struct me_book *b, uint64_t id_mask, uint64_t id_value,
			     uint64_t owner);

#endif /* TOKEX_ME_BOOK_H */
