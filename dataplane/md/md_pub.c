/*
 * md_pub.c - the market-data publisher: records to sequenced MoldUDP64-style packets, the
 * retention ring, heartbeats, Snapshots, end of session and gap re-requests; see md_pub.h
 * for the design and its invariants.
 *
 * Runs on the core that owns the publisher (TX core, or the run-to-completion loop).
 * Consumes dp_events 300-302, re-request datagrams and time; produces packets into its own
 * ring and reply buffer. Nothing here allocates, locks, logs or makes a system call.
 */
#include "md_pub.h"
#include "md_lim.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <tokex/codec.h>
#include <tokex/venue.h>

#include "dataplane/dp_hash.h"

#define NS_PER_S 1000000000ull
#define ALIGN64(x) (((x) + 63) & ~(size_t)63)
#define SLOT_BYTES TKX_MAX_DGRAM /* fixed ring slot; 1472 = 23 x 64, so slots stay aligned */

#define STAT_ADD(p, f, v) __atomic_store_n(&(p)->stats.f, (p)->stats.f + (v), __ATOMIC_RELAXED)
#define STAT(p, f) STAT_ADD(p, f, 1)

enum { CTL_NONE = 0, CTL_HEARTBEAT = 1, CTL_END = 2 };
enum { REP_NONE = 0, REP_GAP = 1, REP_DATA = 2, REP_MARK = 3 };
enum { DEF_BOOK = 1, DEF_STATIC = 2, DEF_ALL = 3 };

/* A resting order of the order-by-order book. 64 bytes. */
struct md_ord {
	uint64_t id;     /* 0: free */
	int64_t price;
	uint64_t prio;
	int64_t rem;     /* whole remaining quantity */
	int64_t vis;     /* visible part */
	int64_t show;    /* iceberg display quantity; 0: not an iceberg */
	uint32_t cid;    /* its contract */
	uint32_t prev, next; /* the contract's list (index + 1); next links the free list */
	uint8_t side;    /* tkx_side */
	uint8_t pad[3];
};

/* Bytes one message takes in a packet: its length prefix and the message. */
#define MSG_BYTES(block) (2 + TKX_HDR_LEN + (size_t)(block))

/* A GapReject answer: one packet, one message. */
#define GAP_REPLY_LEN (TKX_MD_HDR_LEN + 2 + TKX_HDR_LEN + (int)sizeof(struct tkx_md_gap_reject))

/* Ring slot metadata, apart from the bytes so the re-request search touches 16 B/slot. */
struct md_slot {
	uint64_t first; /* sequence of the packet's first message */
	uint16_t len;   /* datagram bytes */
	uint16_t count; /* messages, >= 1 */
	uint32_t pad;
};

/* One contract's Snapshot state. */
struct md_cstate {
	struct tkx_md_instrument def; /* valid when def_parts == DEF_ALL */
	uint32_t ord_head;  /* its resting orders: a list through md_ord, index + 1 */
	uint32_t n_orders;
	uint8_t def_parts;  /* DEF_* received */
	uint8_t pad1[7];
	int64_t bid_price;
	int64_t ask_price;
	uint64_t bid_qty;
	uint64_t ask_qty;
	int64_t last_price;
	uint64_t volume;
	uint32_t id;
	uint8_t phase;
	uint8_t pad[3];
};

struct md_pub {
	/* Publishing: every md_pub_add() touches these. */
	uint64_t mask;      /* retain - 1 */
	uint64_t head;      /* slot of the OPEN packet / the next one (free-running) */
	uint64_t tx;        /* next slot md_pub_next_tx() hands out */
	uint64_t tail;      /* oldest retained slot */
	uint64_t next_seq;  /* the number the next message takes */
	uint64_t head_seq;  /* first sequence not in a closed packet (slot head's first) */
	struct tkx_md_pkt cur; /* the OPEN packet, valid when open */
	uint32_t max_payload;
	uint8_t open;
	uint8_t ended;
	uint8_t ctl;           /* CTL_*: the control packet queued */
	uint8_t clock_started;
	char session[TKX_MD_SESSION_LEN];
	uint8_t snap_active;   /* a Snapshot round is under way */
	uint8_t pad0;
	uint32_t snap_cursor;  /* next contract of the round */
	uint64_t last_pkt_ns;  /* last packet closed or heartbeat queued */
	uint64_t snapshot_ns;
	uint64_t heartbeat_ns;
	uint64_t next_snap_ns;

	uint32_t n_contracts;
	uint32_t max_contracts; /* room of cs[] (the hash holds twice as many) */
	uint64_t start_fp;     /* fingerprint of the start list and the room (md_snap_config) */
	uint32_t hash_mask;    /* contract index: open addressing, entries are index + 1 */
	struct md_cstate *cs;
	uint32_t *hash;
	/* Books (md_pub.h "Books"). */
	uint32_t depth;        /* Depth levels per side kept */
	uint32_t max_orders;
	int64_t *dep;          /* [contract][side 0 buy, 1 sell][level][price, qty] */
	struct md_ord *ord;    /* the pool */
	uint32_t *ohash;       /* order id -> index + 1, open addressing, backward shift */
	uint32_t omask;
	uint32_t ord_fresh;    /* pool entries [0, ord_fresh) were used at least once */
	uint32_t ord_free;     /* the free list (index + 1) */
	uint64_t prio_seq;     /* the last priority given */
	struct md_slot *meta;
	uint8_t *slots;

	/* Re-requests. */
	uint32_t req_max;
	uint32_t req_max_bytes;
	struct md_lim *lim;    /* the per-source and global budgets */
	struct md_lim_grant rep_grant; /* the answer's source, to charge what it is sent */
	uint8_t rep_kind;      /* REP_*: the answer md_pub_next_reply() is building */
	uint64_t rep_next;     /* REP_DATA: next sequence to resend; REP_MARK: the marker's */
	uint64_t rep_end;      /* REP_DATA: one past the last the limits allow */
	uint64_t rep_want;     /* REP_DATA: one past the last asked for that exists */
	uint64_t rep_budget;   /* REP_DATA: bytes left for data packets (marker excluded) */
	uint64_t rep_first;    /* REP_GAP: first_available_seq */
	uint64_t rep_requested;

	struct md_stats stats;
	uint8_t ctl_buf[TKX_MD_HDR_LEN];
	uint8_t reply_buf[TKX_MAX_DGRAM];
} __attribute__((aligned(64)));

struct layout {
	size_t cs, hash, dep, ord, ohash, meta, slots, lim, total;
	uint32_t hash_size, ohash_size;
};

/* ---- Layout and set-up ---------------------------------------------------------------- */

void md_pub_params_default(struct md_params *p)
{
	memset(p, 0, sizeof(*p));
	p->session = "TOKEXMD001";
	/* The venue's published values (tokex/venue.h), as tokexd's configuration. */
	p->retain = TKX_VENUE_MD_RETAIN;
	p->max_payload = TKX_MAX_DGRAM;
	p->snapshot_ns = (uint64_t)TKX_VENUE_MD_SNAPSHOT_MS * 1000000u;
	p->heartbeat_ns = (uint64_t)TKX_VENUE_MD_HEARTBEAT_MS * 1000000u;
	p->req_max = TKX_VENUE_MD_REQUEST_MAX_MSGS;
	p->req_max_bytes = TKX_VENUE_MD_REQUEST_MAX_BYTES;
	p->req_sources = TKX_VENUE_MD_REQUEST_SOURCES;
	p->req_rate = TKX_VENUE_MD_REQUEST_RATE;
	p->req_burst = TKX_VENUE_MD_REQUEST_BURST;
	p->req_global_rate = TKX_VENUE_MD_REQUEST_GLOBAL_RATE;
	p->req_global_burst = TKX_VENUE_MD_REQUEST_GLOBAL_RATE / 10; /* 100 ms of it */
}

static void lim_params(const struct md_params *p, struct md_lim_params *l)
{
	memset(l, 0, sizeof(*l));
	l->sources = p->req_sources;
	l->rate = p->req_rate;
	l->burst = p->req_burst;
	l->global_rate = p->req_global_rate;
	l->global_burst = p->req_global_burst;
	l->seed = p->req_seed;
}

static int layout(const struct md_params *p, struct layout *l)
{
	char name[TKX_MD_SESSION_LEN];
	struct md_lim_params lp;
	size_t off, lim_len;
	uint32_t i;

	if (!p || !p->session || !p->session[0] || tkx_md_session(name, p->session))
		return -EINVAL;
	if (p->retain < 2 || p->retain > MD_MAX_RETAIN || (p->retain & (p->retain - 1)))
		return -EINVAL;
	if (p->max_payload < MD_MIN_PAYLOAD || p->max_payload > TKX_MAX_DGRAM)
		return -EINVAL;
	if (p->n_contracts > MD_MAX_CONTRACTS || (p->n_contracts && !p->contracts))
		return -EINVAL;
	if (p->max_contracts && (p->max_contracts < p->n_contracts ||
				 p->max_contracts > MD_MAX_CONTRACTS))
		return -EINVAL;
	for (i = 0; i < p->n_contracts; i++)
		if (p->contracts[i].id == 0 || p->contracts[i].phase > TKX_PHASE_DELISTED)
			return -EINVAL;
	if (p->depth > MD_DEPTH_MAX || p->max_orders > MD_MAX_ORDERS)
		return -EINVAL;
	if (p->req_max < 1 || p->req_max > UINT16_MAX || p->req_max_bytes < MD_REQ_MIN_BYTES ||
	    p->req_max_bytes > MD_REQ_MAX_BYTES)
		return -EINVAL;
	/* A bucket shallower than one full answer would cut every answer short. */
	if ((p->req_rate && p->req_burst < p->req_max_bytes) ||
	    (p->req_global_rate && p->req_global_burst < p->req_max_bytes))
		return -EINVAL;
	lim_params(p, &lp);
	lim_len = md_lim_memsize(&lp);
	if (lim_len == 0)
		return -EINVAL;

	uint32_t room = p->max_contracts ? p->max_contracts : p->n_contracts;
	l->hash_size = 2;
	while (l->hash_size < 2 * room)
		l->hash_size <<= 1;
	off = ALIGN64(sizeof(struct md_pub));
	l->cs = off;
	off += ALIGN64((size_t)room * sizeof(struct md_cstate));
	l->hash = off;
	off += ALIGN64((size_t)l->hash_size * sizeof(uint32_t));
	l->ohash_size = 0;
	if (p->max_orders) {
		l->ohash_size = 2;
		while (l->ohash_size < 2 * p->max_orders)
			l->ohash_size <<= 1;
	}
	l->dep = off;
	off += ALIGN64((size_t)room * 4 * p->depth * sizeof(int64_t));
	l->ord = off;
	off += ALIGN64((size_t)p->max_orders * sizeof(struct md_ord));
	l->ohash = off;
	off += ALIGN64((size_t)l->ohash_size * sizeof(uint32_t));
	l->meta = off;
	off += ALIGN64((size_t)p->retain * sizeof(struct md_slot));
	l->slots = off;
	off += ALIGN64((size_t)p->retain * SLOT_BYTES);
	l->lim = off;
	off += lim_len;
	l->total = off;
	return 0;
}

size_t md_pub_memsize(const struct md_params *p)
{
	struct layout l;

	if (layout(p, &l)) {
		errno = EINVAL;
		return 0;
	}
	return l.total;
}

static inline uint32_t hash_slot(const struct md_pub *p, uint32_t id)
{
	return (uint32_t)dp_hash64(id) & p->hash_mask; /* the exchange's ids: unkeyed */
}

/* Index of contract id in p->cs, or -1. At most hash_size probes: the table is never
 * more than half full, so an empty entry ends the walk long before that. */
static int contract_find(const struct md_pub *p, uint32_t id)
{
	uint32_t h = hash_slot(p, id), n;

	for (n = 0; n <= p->hash_mask; n++, h = (h + 1) & p->hash_mask) {
		uint32_t e = p->hash[h];

		if (e == 0)
			return -1;
		if (p->cs[e - 1].id == id)
			return (int)(e - 1);
	}
	return -1;
}

struct md_pub *md_pub_init(void *mem, size_t len, const struct md_params *prm)
{
	struct md_pub *p = mem;
	uint8_t *base = mem;
	struct md_lim_params lp;
	struct layout l;
	uint32_t i;

	if (!mem || ((uintptr_t)mem & 63) || layout(prm, &l) || len < l.total) {
		errno = EINVAL;
		return NULL;
	}
	/* The slots are not cleared: only [0, meta.len) of a closed slot is ever read. */
	memset(mem, 0, l.slots);
	tkx_md_session(p->session, prm->session);
	p->mask = prm->retain - 1;
	p->next_seq = 1;
	p->head_seq = 1;
	p->max_payload = prm->max_payload;
	p->snapshot_ns = prm->snapshot_ns;
	p->heartbeat_ns = prm->heartbeat_ns;
	p->n_contracts = prm->n_contracts;
	p->max_contracts = prm->max_contracts ? prm->max_contracts : prm->n_contracts;
	p->hash_mask = l.hash_size - 1;
	p->cs = (struct md_cstate *)(void *)(base + l.cs);
	p->hash = (uint32_t *)(void *)(base + l.hash);
	p->depth = prm->depth;
	p->max_orders = prm->max_orders;
	p->dep = (int64_t *)(void *)(base + l.dep);
	p->ord = (struct md_ord *)(void *)(base + l.ord);
	p->ohash = (uint32_t *)(void *)(base + l.ohash);
	p->omask = l.ohash_size ? l.ohash_size - 1 : 0;
	p->meta = (struct md_slot *)(void *)(base + l.meta);
	p->slots = base + l.slots;
	p->req_max = prm->req_max;
	p->req_max_bytes = prm->req_max_bytes;
	lim_params(prm, &lp);
	p->lim = md_lim_init(base + l.lim, l.total - l.lim, &lp);
	if (p->lim == NULL)
		return NULL; /* cannot happen: layout() checked lp (errno EINVAL) */

	for (i = 0; i < prm->n_contracts; i++) {
		struct md_cstate *c = &p->cs[i];
		uint32_t h;

		if (contract_find(p, prm->contracts[i].id) >= 0) {
			errno = EINVAL; /* the same id twice */
			return NULL;
		}
		c->id = prm->contracts[i].id;
		c->phase = prm->contracts[i].phase;
		c->bid_price = TKX_NULL_PRICE;
		c->ask_price = TKX_NULL_PRICE;
		c->last_price = TKX_NULL_PRICE;
		for (h = hash_slot(p, c->id); p->hash[h]; h = (h + 1) & p->hash_mask)
			;
		p->hash[h] = i + 1;
	}
	/* FNV-1a of the room and the start list, each word little-endian: what a snapshot
	 * must have been saved by. */
	uint64_t fp = DP_FNV_INIT;
	uint32_t words[2] = { p->max_contracts, p->n_contracts };
	for (i = 0; i < 2 + 2 * p->n_contracts; i++) {
		uint32_t w = i < 2 ? words[i] : (i & 1) ? p->cs[(i - 2) / 2].phase
							  : p->cs[(i - 2) / 2].id;
		const uint8_t le[4] = { (uint8_t)w, (uint8_t)(w >> 8), (uint8_t)(w >> 16),
					(uint8_t)(w >> 24) };
		fp = dp_fnv1a64(fp, le, sizeof(le));
	}
	p->start_fp = fp;
	return p;
}

static inline int64_t *dep_of(const struct md_pub *p, uint32_t ci)
{
	return p->dep + (size_t)ci * 4 * p->depth;
}

/* Puts cs[i] in the hash (it is not there). */
static void contract_hash_put(struct md_pub *p, uint32_t i)
{
	uint32_t h;

	for (h = hash_slot(p, p->cs[i].id); p->hash[h]; h = (h + 1) & p->hash_mask)
		;
	p->hash[h] = i + 1;
}

/* A contract listed at run time: at the end of the list, state empty, in its phase. */
static int contract_add(struct md_pub *p, uint32_t id, uint8_t phase)
{
	if (p->n_contracts == p->max_contracts) {
		STAT(p, contracts_full);
		return -1;
	}
	uint32_t i = p->n_contracts++;
	struct md_cstate *c = &p->cs[i];
	memset(c, 0, sizeof(*c));
	if (p->depth)
		memset(dep_of(p, i), 0, 4 * p->depth * sizeof(int64_t));
	c->id = id;
	c->phase = phase;
	c->bid_price = TKX_NULL_PRICE;
	c->ask_price = TKX_NULL_PRICE;
	c->last_price = TKX_NULL_PRICE;
	contract_hash_put(p, i);
	STAT(p, contracts_added);
	return (int)i;
}

/* A delisted contract leaves the list; the others keep their order (and the Snapshot
 * round under way its place). O(contracts): once a listing, never per record. */
static void ord_release_all(struct md_pub *p, struct md_cstate *c);

static void contract_remove(struct md_pub *p, uint32_t i)
{
	ord_release_all(p, &p->cs[i]);
	memmove(&p->cs[i], &p->cs[i + 1], (size_t)(p->n_contracts - i - 1) * sizeof(p->cs[0]));
	if (p->depth)
		memmove(dep_of(p, i), dep_of(p, i + 1),
			(size_t)(p->n_contracts - i - 1) * 4 * p->depth * sizeof(int64_t));
	p->n_contracts--;
	if (p->snap_cursor > i)
		p->snap_cursor--;
	memset(p->hash, 0, (size_t)(p->hash_mask + 1) * sizeof(p->hash[0]));
	for (uint32_t j = 0; j < p->n_contracts; j++)
		contract_hash_put(p, j);
	STAT(p, contracts_removed);
}

/* ---- Publishing --------------------------------------------------------------------- */

static inline uint64_t elapsed(uint64_t now, uint64_t since)
{
	return now > since ? now - since : 0;
}

/* Timers count from the first call that tells the time, not from md_pub_init(). */
static inline void clock_start(struct md_pub *p, uint64_t now)
{
	if (p->clock_started)
		return;
	p->clock_started = 1;
	p->last_pkt_ns = now;
	p->next_snap_ns = now + p->snapshot_ns;
}

static inline uint8_t *slot_buf(const struct md_pub *p, uint64_t i)
{
	return p->slots + (size_t)(i & p->mask) * SLOT_BYTES;
}

/* OPEN -> PENDING (invariant 2). */
static void close_pkt(struct md_pub *p, uint64_t now)
{
	struct md_slot *m;

	if (!p->open)
		return;
	assert(p->cur.count >= 1);
	m = &p->meta[p->head & p->mask];
	m->first = p->head_seq;
	m->len = (uint16_t)p->cur.len;
	m->count = p->cur.count;
	p->head++;
	p->head_seq = p->next_seq;
	p->open = 0;
	p->last_pkt_ns = now;
	if (p->ctl == CTL_HEARTBEAT)
		p->ctl = CTL_NONE; /* data goes out instead: no longer idle (invariant 5) */
	STAT(p, packets);
}

/* A new OPEN packet in slot head, evicting the oldest RETAINED one if the ring is full;
 * -ENOBUFS when every slot is PENDING (invariant 3). */
static int open_pkt(struct md_pub *p)
{
	if (p->head - p->tail > p->mask) {
		if (p->tail == p->tx) {
			STAT(p, ring_full);
			return -ENOBUFS;
		}
		p->tail++;
	}
	/* max_payload >= MD_MIN_PAYLOAD > 20: init cannot fail (checked for the compiler). */
	if (tkx_md_pkt_init(&p->cur, slot_buf(p, p->head), p->max_payload, p->session,
			    p->next_seq) != 0)
		return -EINVAL;
	p->open = 1;
	return 0;
}

/* Number one encoded message and append it to the OPEN packet (invariant 1). */
static int emit(struct md_pub *p, const void *msg, size_t n, uint64_t now)
{
	if (!p->open || tkx_md_pkt_append(&p->cur, msg, n) != 0) {
		close_pkt(p, now);
		if (open_pkt(p))
			return -ENOBUFS;
		/* An empty packet of >= MD_MIN_PAYLOAD bytes holds any market-data message. */
		if (tkx_md_pkt_append(&p->cur, msg, n) != 0) {
			assert(0);
			return -EMSGSIZE;
		}
	}
	p->next_seq++;
	STAT(p, messages);
	return 0;
}

/* Packets that messages of `bytes` (MSG_BYTES each) need at most: each packet is counted
 * as wasting the room of the largest message. */
static uint64_t packets_for(const struct md_pub *p, size_t bytes)
{
	size_t per = p->max_payload - TKX_MD_HDR_LEN - (MSG_BYTES(TKX_MAX_BLOCK_LEN) - 1);
	return bytes / per + 1;
}

/* Could messages of `bytes` (MSG_BYTES each) be numbered now, without a PENDING packet in
 * the way (invariant 3)? Conservative: a packet is counted as wasting the largest message. */
static int room_for(const struct md_pub *p, size_t bytes)
{
	if (p->open && p->cur.cap - p->cur.len >= bytes &&
	    p->cur.count + bytes / MSG_BYTES(8) < TKX_MD_MAX_COUNT)
		return 1;
	return packets_for(p, bytes) + (p->open ? 1 : 0) <= p->mask + 1 - (p->head - p->tx);
}

/* ---- The order-by-order book ------------------------------------------------------------ */

static inline uint32_t ord_home(const struct md_pub *p, uint64_t id)
{
	return (uint32_t)dp_hash64(id) & p->omask; /* the exchange's ids: unkeyed */
}

/* The hash slot holding id, or -1. */
static int64_t ord_slot(const struct md_pub *p, uint64_t id)
{
	if (!p->max_orders)
		return -1;
	for (uint32_t h = ord_home(p, id), n = 0; n <= p->omask; n++, h = (h + 1) & p->omask) {
		uint32_t e = p->ohash[h];
		if (e == 0)
			return -1;
		if (p->ord[e - 1].id == id)
			return h;
	}
	return -1;
}

static struct md_ord *ord_get(const struct md_pub *p, uint64_t id)
{
	int64_t h = ord_slot(p, id);
	return h < 0 ? NULL : &p->ord[p->ohash[h] - 1];
}

/* A new entry for id on contract c (not there yet), at the end of c's list; NULL when the
 * pool is full. */
static struct md_ord *ord_new(struct md_pub *p, struct md_cstate *c, uint64_t id)
{
	uint32_t i;

	if (p->ord_free) {
		i = p->ord_free - 1;
		p->ord_free = p->ord[i].next;
	} else if (p->ord_fresh < p->max_orders) {
		i = p->ord_fresh++;
	} else {
		return NULL;
	}
	struct md_ord *o = &p->ord[i];
	memset(o, 0, sizeof(*o));
	o->id = id;
	o->cid = c->id;
	o->next = c->ord_head;
	if (c->ord_head)
		p->ord[c->ord_head - 1].prev = i + 1;
	c->ord_head = i + 1;
	c->n_orders++;
	uint32_t h = ord_home(p, id);
	while (p->ohash[h])
		h = (h + 1) & p->omask;
	p->ohash[h] = i + 1;
	return o;
}

/* Removes o from the hash (backward-shift deletion), its contract's list, into the free
 * list. */
static void ord_release(struct md_pub *p, struct md_cstate *c, struct md_ord *o)
{
	uint32_t i = (uint32_t)(o - p->ord);
	int64_t hs = ord_slot(p, o->id);
	if (hs >= 0) {
		uint32_t h = (uint32_t)hs, j = h;
		for (;;) {
			j = (j + 1) & p->omask;
			uint32_t e = p->ohash[j];
			if (e == 0)
				break;
			uint32_t home = ord_home(p, p->ord[e - 1].id);
			/* e may move to h when its home is not in (h, j] (cyclically). */
			if (((j - home) & p->omask) >= ((j - h) & p->omask)) {
				p->ohash[h] = e;
				h = j;
			}
		}
		p->ohash[h] = 0;
	}
	if (o->prev)
		p->ord[o->prev - 1].next = o->next;
	else
		c->ord_head = o->next;
	if (o->next)
		p->ord[o->next - 1].prev = o->prev;
	c->n_orders--;
	o->id = 0;
	o->next = p->ord_free;
	p->ord_free = i + 1;
}

static void ord_release_all(struct md_pub *p, struct md_cstate *c)
{
	while (c->ord_head)
		ord_release(p, c, &p->ord[c->ord_head - 1]);
}

static void ord_wire(const struct md_ord *o, uint8_t action, uint64_t now,
		     struct tkx_md_order *w)
{
	*w = (struct tkx_md_order){
		.transact_time = now,
		.order_id = o->id,
		.price = o->price,
		.priority = o->prio,
		.qty = (uint32_t)o->vis,
		.contract_id = o->cid,
		.action = action,
		.side = o->side,
	};
}

/* One dp_md_order record: the OrderBook message it makes (if any), then the book's
 * change (invariant 6). 0 (done or dropped), or -ENOBUFS (nothing done). */
static int book_order(struct md_pub *p, const struct dp_md_order *r, uint64_t now)
{
	uint8_t msg[TKX_MAX_MSG_LEN];
	struct tkx_md_order w;
	int ci = contract_find(p, r->contract_id);
	struct md_ord *o;
	int len;

	if (ci < 0 || !p->max_orders) {
		STAT(p, records_unknown);
		return 0;
	}
	struct md_cstate *c = &p->cs[ci];
	if (r->action == TKX_ACT_ADD) {
		if (ord_get(p, r->order_id) || r->qty <= 0 || r->visible <= 0 ||
		    r->qty > UINT32_MAX) {
			STAT(p, records_bad);
			return 0;
		}
		if (p->ord_free == 0 && p->ord_fresh == p->max_orders) {
			STAT(p, orders_full);
			return 0;
		}
		struct md_ord tmp = { .id = r->order_id, .price = r->price, .prio = p->prio_seq + 1,
				      .rem = r->qty, .vis = r->visible, .show = (int64_t)r->aux,
				      .cid = r->contract_id, .side = r->side };
		ord_wire(&tmp, TKX_ACT_ADD, now, &w);
		len = tkx_enc_md_order(msg, sizeof(msg), &w);
		if (emit(p, msg, (size_t)len, now))
			return -ENOBUFS;
		o = ord_new(p, c, r->order_id);
		uint32_t keep_prev = o->prev, keep_next = o->next;
		*o = tmp;
		o->prev = keep_prev;
		o->next = keep_next;
		p->prio_seq++;
		return 0;
	}
	o = ord_get(p, r->order_id);
	if (o == NULL) {
		STAT(p, orders_unknown);
		return 0;
	}
	struct md_ord after = *o;
	uint8_t action = r->action;
	switch (r->action) {
	case TKX_ACT_MODIFY: /* in place: the visible part shrinks to the new quantity */
		after.rem = r->qty;
		after.vis = o->show ? (o->vis < r->qty ? o->vis : r->qty) : r->qty;
		break;
	case TKX_ACT_DELETE:
		after.rem = 0;
		after.vis = 0;
		break;
	case TKX_ACT_EXECUTE:
		after.rem = r->visible; /* the whole remaining quantity after the trade */
		after.vis = o->show ? o->vis - r->qty : r->visible;
		if (after.vis < 0)
			after.vis = 0; /* cannot happen: an iceberg trades at most its part */
		if (o->show && after.vis == 0 && after.rem > 0) {
			/* refilled, to the back of its level (me_book.h "Iceberg") */
			after.vis = after.rem < o->show ? after.rem : o->show;
			after.prio = p->prio_seq + 1;
		}
		break;
	default:
		STAT(p, records_bad);
		return 0;
	}
	ord_wire(&after, action, now, &w);
	if (action == TKX_ACT_EXECUTE) {
		w.exec_qty = (uint32_t)r->qty;
		w.trade_id = r->aux;
	}
	len = tkx_enc_md_order(msg, sizeof(msg), &w);
	if (emit(p, msg, (size_t)len, now))
		return -ENOBUFS;
	if (after.prio != o->prio)
		p->prio_seq++;
	if (after.rem == 0) {
		ord_release(p, c, o);
	} else {
		o->rem = after.rem;
		o->vis = after.vis;
		o->prio = after.prio;
	}
	return 0;
}

/* The contract's InstrumentDefinition, its phase the contract's now. */
static int def_msg(const struct md_cstate *c, uint8_t *msg, size_t cap)
{
	struct tkx_md_instrument d = c->def;
	d.phase = c->phase;
	memset(d.reserved, 0, sizeof(d.reserved));
	return tkx_enc_md_instrument(msg, cap, &d);
}

static int def_emit(struct md_pub *p, struct md_cstate *c, uint64_t now)
{
	uint8_t msg[TKX_MAX_MSG_LEN];
	int len = def_msg(c, msg, sizeof(msg));
	if (emit(p, msg, (size_t)len, now))
		return -ENOBUFS;
	STAT(p, definitions);
	return 0;
}

/* One dp_md_def part: kept; the definition published when both parts are there. */
static int book_def(struct md_pub *p, const struct dp_event *e, uint64_t now)
{
	const struct dp_md_def *r = &e->u.def;
	int ci = contract_find(p, r->contract_id);

	if (ci < 0) {
		STAT(p, records_unknown);
		return 0;
	}
	struct md_cstate *c = &p->cs[ci];
	struct tkx_md_instrument d = c->def;
	uint8_t parts = c->def_parts;
	if (e->pad[0] == DP_DEF_BOOK) {
		d.tick = r->u.book.tick;
		d.limit_lo = r->u.book.limit_lo > 0 ? r->u.book.limit_lo : TKX_NULL_PRICE;
		d.limit_hi = r->u.book.limit_hi > 0 ? r->u.book.limit_hi : TKX_NULL_PRICE;
		d.prev_settle = r->u.book.prev_settle > 0 ? r->u.book.prev_settle : TKX_NULL_PRICE;
		d.max_qty = r->u.book.max_qty > UINT32_MAX ? UINT32_MAX : (uint32_t)r->u.book.max_qty;
		parts |= DEF_BOOK;
	} else if (e->pad[0] == DP_DEF_STATIC) {
		memcpy(d.symbol, r->u.st.symbol, TKX_SYMBOL_LEN);
		d.first_day = r->u.st.first_day;
		d.last_day = r->u.st.last_day;
		d.unit = r->u.st.unit;
		memcpy(d.currency, r->u.st.currency, TKX_CURRENCY_LEN);
		d.settle_method = r->u.st.settle_method;
		parts |= DEF_STATIC;
	} else {
		STAT(p, records_bad);
		return 0;
	}
	d.contract_id = c->id;
	struct tkx_md_instrument old = c->def;
	uint8_t old_parts = c->def_parts;
	c->def = d;
	c->def_parts = parts;
	if (parts == DEF_ALL && def_emit(p, c, now)) {
		c->def = old; /* not numbered: as if not seen (invariant 1) */
		c->def_parts = old_parts;
		return -ENOBUFS;
	}
	return 0;
}

/* A Depth record: published as it is; the level kept for Snapshots. */
static int book_depth(struct md_pub *p, const struct tkx_md_depth *r, uint64_t now)
{
	uint8_t msg[TKX_MAX_MSG_LEN];
	struct tkx_md_depth d = *r;
	int ci = contract_find(p, d.contract_id);

	d.reserved = 0;
	d.flags = 0;
	int len = tkx_enc_md_depth(msg, sizeof(msg), &d);
	if (emit(p, msg, (size_t)len, now))
		return -ENOBUFS;
	if (ci < 0) {
		STAT(p, records_unknown);
		return 0;
	}
	if (d.level >= 1 && d.level <= p->depth && (d.side == TKX_SIDE_BUY || d.side == TKX_SIDE_SELL)) {
		int64_t *l = dep_of(p, (uint32_t)ci) +
			     ((size_t)(d.side - 1) * p->depth + d.level - 1) * 2;
		l[0] = d.price == TKX_NULL_PRICE ? 0 : d.price;
		l[1] = (int64_t)d.qty;
	}
	return 0;
}

unsigned md_pub_add(struct md_pub *p, const struct dp_event *ev, unsigned n, uint64_t now)
{
	uint8_t msg[TKX_MAX_MSG_LEN];
	unsigned i;

	clock_start(p, now);
	for (i = 0; i < n; i++) {
		const struct dp_event *e = &ev[i];
		union {
			struct tkx_md_top_of_book tob;
			struct tkx_md_trade trade;
			struct tkx_md_contract_status status;
		} b;
		int len, ci;

		if (p->ended) {
			STAT(p, records_after_end);
			continue;
		}
		if (e->template_id == TKX_MD_ORDER) {
			if (book_order(p, &e->u.order, now))
				break;
			continue;
		}
		if (e->template_id == TKX_MD_INSTRUMENT) {
			if (book_def(p, e, now))
				break;
			continue;
		}
		if (e->template_id == TKX_MD_DEPTH) {
			if (book_depth(p, &e->u.depth, now))
				break;
			continue;
		}
		/* A defined contract's ContractStatus is followed by its definition (the phase
		 * changed): both numbered, or neither. */
		if (e->template_id == TKX_MD_CONTRACT_STATUS &&
		    e->u.status.phase != TKX_PHASE_DELISTED) {
			int dc = contract_find(p, e->u.status.contract_id);
			if (dc >= 0 && p->cs[dc].def_parts == DEF_ALL &&
			    !room_for(p, MSG_BYTES(sizeof(struct tkx_md_contract_status)) +
						 MSG_BYTES(sizeof(struct tkx_md_instrument)))) {
				STAT(p, ring_full);
				break;
			}
		}
		/* Copies with the reserved fields zeroed: the wire never carries stray bytes. */
		switch (e->template_id) {
		case TKX_MD_TOP_OF_BOOK:
			b.tob = e->u.tob;
			b.tob.reserved = 0;
			len = tkx_enc_md_top_of_book(msg, sizeof(msg), &b.tob);
			break;
		case TKX_MD_TRADE:
			b.trade = e->u.trade;
			memset(b.trade.reserved1, 0, sizeof(b.trade.reserved1));
			b.trade.reserved2 = 0;
			len = tkx_enc_md_trade(msg, sizeof(msg), &b.trade);
			break;
		case TKX_MD_CONTRACT_STATUS:
			b.status = e->u.status;
			b.status.reserved1 = 0;
			b.status.reserved2 = 0;
			len = tkx_enc_md_contract_status(msg, sizeof(msg), &b.status);
			break;
		default:
			STAT(p, records_bad);
			continue;
		}
		if (emit(p, msg, (size_t)len, now))
			break;

		/* Invariant 6: state follows the messages as they are numbered. */
		switch (e->template_id) {
		case TKX_MD_TOP_OF_BOOK:
			ci = contract_find(p, b.tob.contract_id);
			if (ci >= 0) {
				p->cs[ci].bid_price = b.tob.bid_price;
				p->cs[ci].ask_price = b.tob.ask_price;
				p->cs[ci].bid_qty = b.tob.bid_qty;
				p->cs[ci].ask_qty = b.tob.ask_qty;
			}
			break;
		case TKX_MD_TRADE:
			ci = contract_find(p, b.trade.contract_id);
			if (ci >= 0) {
				p->cs[ci].last_price = b.trade.price;
				p->cs[ci].volume += b.trade.qty;
			}
			break;
		default:
			ci = contract_find(p, b.status.contract_id);
			if (ci < 0 && b.status.phase != TKX_PHASE_DELISTED && b.status.contract_id)
				ci = contract_add(p, b.status.contract_id, b.status.phase);
			if (ci >= 0 && b.status.phase == TKX_PHASE_DELISTED) {
				contract_remove(p, (uint32_t)ci);
				continue;
			}
			if (ci >= 0) {
				p->cs[ci].phase = b.status.phase;
				if (p->cs[ci].def_parts == DEF_ALL && def_emit(p, &p->cs[ci], now))
					assert(0); /* room_for() said both fit */
			}
			break;
		}
		if (ci < 0)
			STAT(p, records_unknown);
	}
	return i;
}

unsigned md_pub_flush(struct md_pub *p, uint64_t now)
{
	clock_start(p, now);
	close_pkt(p, now);
	return (unsigned)(p->head - p->tx);
}

static void snapshot_of(const struct md_pub *p, const struct md_cstate *c, uint64_t now,
			struct tkx_md_snapshot *s)
{
	*s = (struct tkx_md_snapshot){
		.transact_time = now,
		.as_of_seq = p->next_seq - 1,
		.bid_price = c->bid_price,
		.ask_price = c->ask_price,
		.bid_qty = c->bid_qty,
		.ask_qty = c->ask_qty,
		.last_price = c->last_price,
		.volume = c->volume,
		.contract_id = c->id,
		.phase = c->phase,
	};
}

/* One contract's Snapshot frame (md_pub.h "Books"): all of it, or nothing (-ENOBUFS). */
static int snapshot_frame(struct md_pub *p, uint32_t ci, uint64_t now)
{
	uint8_t msg[TKX_MAX_MSG_LEN];
	struct md_cstate *c = &p->cs[ci];
	struct tkx_md_snapshot s;
	int with_def = c->def_parts == DEF_ALL;
	uint32_t levels = 0; /* the frame carries the levels that hold something */
	for (uint32_t j = 0; j < 2 * p->depth; j++)
		levels += dep_of(p, ci)[2 * j] != 0;
	size_t head = MSG_BYTES(sizeof(struct tkx_md_snapshot)) +
		      (with_def ? MSG_BYTES(sizeof(struct tkx_md_instrument)) : 0) +
		      levels * MSG_BYTES(sizeof(struct tkx_md_depth));
	size_t all = head + (size_t)c->n_orders * MSG_BYTES(sizeof(struct tkx_md_order));
	int with_orders = 1;
	int len;

	if (packets_for(p, all) + 1 > p->mask) {
		with_orders = 0; /* never fits: the frame goes without its orders */
		all = head;
	}
	if (!room_for(p, all)) {
		STAT(p, ring_full);
		return -ENOBUFS;
	}
	if (!with_orders && c->n_orders)
		STAT(p, snap_cut);
	snapshot_of(p, c, now, &s);
	len = tkx_enc_md_snapshot(msg, sizeof(msg), &s);
	if (emit(p, msg, (size_t)len, now))
		return -ENOBUFS; /* cannot happen after room_for() */
	STAT(p, snapshots);
	if (with_def && def_emit(p, c, now))
		return -ENOBUFS;
	for (uint32_t side = 0; side < 2; side++)
		for (uint32_t lv = 0; lv < p->depth; lv++) {
			const int64_t *l = dep_of(p, ci) + ((size_t)side * p->depth + lv) * 2;
			if (l[0] == 0)
				continue; /* empty: the Snapshot cleared it */
			struct tkx_md_depth d = {
				.transact_time = now,
				.price = l[0] ? l[0] : TKX_NULL_PRICE,
				.qty = l[0] ? (uint64_t)l[1] : 0,
				.contract_id = c->id,
				.level = (uint8_t)(lv + 1),
				.side = (uint8_t)(side + 1),
				.flags = TKX_DEPTH_FLAG_SNAPSHOT,
				.depth = (uint8_t)p->depth,
			};
			len = tkx_enc_md_depth(msg, sizeof(msg), &d);
			if (emit(p, msg, (size_t)len, now))
				return -ENOBUFS;
		}
	for (uint32_t i = with_orders ? c->ord_head : 0; i; i = p->ord[i - 1].next) {
		struct tkx_md_order w;
		ord_wire(&p->ord[i - 1], TKX_ACT_SNAPSHOT, now, &w);
		len = tkx_enc_md_order(msg, sizeof(msg), &w);
		if (emit(p, msg, (size_t)len, now))
			return -ENOBUFS;
	}
	return 0;
}

/* Up to MD_SNAP_BURST Snapshot frames of the round under way. */
static int snapshot_round(struct md_pub *p, uint64_t now)
{
	unsigned budget = MD_SNAP_BURST;

	while (p->snap_cursor < p->n_contracts && budget--) {
		if (snapshot_frame(p, p->snap_cursor, now))
			return -ENOBUFS;
		p->snap_cursor++;
	}
	if (p->snap_cursor == p->n_contracts)
		p->snap_active = 0;
	return 0;
}

int md_pub_tick(struct md_pub *p, uint64_t now)
{
	int rc = 0;

	clock_start(p, now);
	if (p->ended)
		return -ESHUTDOWN;
	if (p->snapshot_ns && !p->snap_active && now >= p->next_snap_ns && p->n_contracts) {
		p->snap_active = 1;
		p->snap_cursor = 0;
		p->next_snap_ns = now + p->snapshot_ns;
	}
	if (p->snap_active)
		rc = snapshot_round(p, now);
	close_pkt(p, now);
	if (p->heartbeat_ns && p->ctl == CTL_NONE &&
	    elapsed(now, p->last_pkt_ns) >= p->heartbeat_ns) {
		p->ctl = CTL_HEARTBEAT;
		p->last_pkt_ns = now;
	}
	return rc;
}

int md_pub_new_session(struct md_pub *p, const char *session, uint64_t now)
{
	char name[TKX_MD_SESSION_LEN];
	if (session == NULL || !session[0] || tkx_md_session(name, session))
		return -EINVAL;
	close_pkt(p, now);
	memcpy(p->session, name, sizeof(name));
	p->tx = p->tail = p->head; /* nothing of the old session is sent or resent */
	p->next_seq = 1;
	p->head_seq = 1;
	p->ended = 0;
	p->ctl = CTL_NONE;
	p->snap_active = 0;
	p->clock_started = 1;
	p->last_pkt_ns = now;
	p->next_snap_ns = now; /* subscribers learn every contract's state at once */
	return 0;
}

int md_pub_end(struct md_pub *p, uint64_t now)
{
	clock_start(p, now);
	if (p->ended)
		return -EALREADY;
	close_pkt(p, now);
	p->ended = 1;
	p->snap_active = 0;
	p->ctl = CTL_END;
	return 0;
}

int md_pub_next_tx(struct md_pub *p, const uint8_t **buf, size_t *len)
{
	if (p->tx != p->head) {
		*buf = slot_buf(p, p->tx);
		*len = p->meta[p->tx & p->mask].len;
		p->tx++;
		return 1;
	}
	if (p->ctl != CTL_NONE) {
		struct tkx_md_hdr h;

		memcpy(h.session, p->session, TKX_MD_SESSION_LEN);
		h.sequence = p->head_seq; /* invariant 4: every closed packet is out by now */
		if (p->ctl == CTL_END) {
			h.count = TKX_MD_END_OF_SESSION;
			STAT(p, end_of_session);
		} else {
			h.count = TKX_MD_HEARTBEAT;
			STAT(p, heartbeats);
		}
		p->ctl = CTL_NONE;
		tkx_md_hdr_encode(p->ctl_buf, sizeof(p->ctl_buf), &h);
		*buf = p->ctl_buf;
		*len = TKX_MD_HDR_LEN;
		return 1;
	}
	return 0;
}

/* ---- Re-requests ---------------------------------------------------------------------- */

/* Oldest retained sequence (PENDING packets included); head_seq when nothing is. */
static inline uint64_t first_retained(const struct md_pub *p)
{
	return p->tail != p->head ? p->meta[p->tail & p->mask].first : p->head_seq;
}

/* One past the last sequence handed out and still retained; first_retained() when none. */
static inline uint64_t end_sent(const struct md_pub *p)
{
	const struct md_slot *m;

	if (p->tx == p->tail)
		return first_retained(p);
	m = &p->meta[(p->tx - 1) & p->mask];
	return m->first + m->count;
}

static inline uint64_t min64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* Charges the answer's source (and the global budget) for bytes sent. */
static inline void charge(struct md_pub *p, uint64_t bytes)
{
	md_lim_spend(p->lim, &p->rep_grant, bytes);
	STAT_ADD(p, req_bytes, bytes);
}

int md_pub_request(struct md_pub *p, uint32_t src, const void *req, size_t len, uint64_t now)
{
	struct tkx_md_hdr h;
	uint64_t first, end, budget, need;
	int other;

	clock_start(p, now);
	if (len != TKX_MD_HDR_LEN || tkx_md_hdr_decode(req, len, &h) < 0 || h.count == 0 ||
	    h.sequence == 0) {
		STAT(p, req_bad);
		return -EBADMSG;
	}
	if (p->rep_kind != REP_NONE) {
		STAT(p, req_cut);
		p->rep_kind = REP_NONE;
	}
	md_lim_check(p->lim, src, now, &p->rep_grant);
	if (p->rep_grant.how == MD_LIM_NEW && p->rep_grant.src != UINT64_MAX)
		STAT(p, req_sources_new);
	else if (p->rep_grant.how == MD_LIM_EVICTED)
		STAT(p, req_sources_evicted);
	budget = min64(p->req_max_bytes, min64(p->rep_grant.src, p->rep_grant.global));

	/* The answer's kind, then whether the budget holds its smallest useful form. */
	first = first_retained(p);
	end = end_sent(p);
	other = memcmp(h.session, p->session, TKX_MD_SESSION_LEN) != 0;
	if (other || h.sequence < first)
		need = GAP_REPLY_LEN;
	else if (h.sequence >= end)
		need = TKX_MD_HDR_LEN; /* nothing to send, but a request costs its own size */
	else
		need = MD_REQ_MIN_BYTES;
	if (budget < need) {
		STAT(p, req_throttled);
		if (p->rep_grant.global < need && p->rep_grant.src >= need)
			STAT(p, req_throttled_global);
		return -EAGAIN;
	}

	if (other || h.sequence < first) {
		p->rep_kind = REP_GAP;
		p->rep_first = other ? 0 : first;
		p->rep_requested = h.sequence;
		STAT(p, gap_rejects);
		if (other)
			STAT(p, req_wrong_session);
		return 0;
	}
	if (h.sequence >= end) {
		charge(p, TKX_MD_HDR_LEN);
		STAT(p, req_empty);
		return 0;
	}
	p->rep_kind = REP_DATA;
	p->rep_next = h.sequence;
	p->rep_want = h.sequence + min64(h.count, end - h.sequence);
	p->rep_end = min64(p->rep_want, h.sequence + p->req_max);
	p->rep_budget = budget - TKX_MD_HDR_LEN; /* the end marker's room, kept */
	STAT(p, req_served);
	return 0;
}

/* The RETAINED slot holding sequence seq (first_retained() <= seq < end_sent()). */
static uint64_t slot_of(const struct md_pub *p, uint64_t seq)
{
	uint64_t lo = p->tail, hi = p->tx - 1; /* meta[lo].first <= seq; answer in [lo, hi] */

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo + 1) / 2;

		if (p->meta[mid & p->mask].first <= seq)
			lo = mid;
		else
			hi = mid - 1;
	}
	return lo;
}

/* The end marker: a count-0 packet whose sequence is the first message not sent. */
static int reply_marker(struct md_pub *p, const uint8_t **buf, size_t *len)
{
	struct tkx_md_hdr h;

	memcpy(h.session, p->session, TKX_MD_SESSION_LEN);
	h.sequence = p->rep_next;
	h.count = TKX_MD_HEARTBEAT;
	tkx_md_hdr_encode(p->reply_buf, sizeof(p->reply_buf), &h);
	p->rep_kind = REP_NONE;
	charge(p, TKX_MD_HDR_LEN);
	STAT(p, req_capped);
	STAT(p, req_pkts);
	*buf = p->reply_buf;
	*len = TKX_MD_HDR_LEN;
	return 1;
}

int md_pub_next_reply(struct md_pub *p, const uint8_t **buf, size_t *len)
{
	struct tkx_md_pkt r;
	uint64_t i;

	if (p->rep_kind == REP_GAP) {
		struct tkx_md_gap_reject g = {
			.first_available_seq = p->rep_first,
			.requested_seq = p->rep_requested,
		};
		uint8_t msg[TKX_HDR_LEN + sizeof(g)];
		int n = tkx_enc_md_gap_reject(msg, sizeof(msg), &g);

		p->rep_kind = REP_NONE;
		if (tkx_md_pkt_init(&r, p->reply_buf, p->max_payload, p->session, 0) != 0 ||
		    tkx_md_pkt_append(&r, msg, (size_t)n) != 0)
			return 0; /* cannot happen: max_payload >= MD_MIN_PAYLOAD */
		charge(p, r.len);
		STAT(p, req_pkts);
		*buf = r.buf;
		*len = r.len;
		return 1;
	}
	if (p->rep_kind == REP_MARK)
		return reply_marker(p, buf, len);
	if (p->rep_kind != REP_DATA)
		return 0;
	if (p->rep_next >= p->rep_end) {
		p->rep_kind = REP_NONE;
		return 0;
	}
	if (p->rep_next < first_retained(p) || p->rep_next >= end_sent(p)) {
		STAT(p, req_cut); /* evicted since the request */
		p->rep_kind = REP_NONE;
		return 0;
	}

	/* Re-pack: the first message is exactly rep_next; stop when the packet is full or the
	 * budget is. Each source packet gives at least one message, so the walk is bounded by
	 * what one reply packet holds. */
	if (tkx_md_pkt_init(&r, p->reply_buf, min64(p->max_payload, p->rep_budget), p->session,
			    p->rep_next) != 0)
		return reply_marker(p, buf, len); /* less than a header left */
	for (i = slot_of(p, p->rep_next); i != p->tx && p->rep_next < p->rep_end; i++) {
		struct tkx_md_iter it;
		const void *msg;
		size_t mlen;
		uint64_t seq;

		tkx_md_iter_init(&it, slot_buf(p, i), p->meta[i & p->mask].len);
		while (p->rep_next < p->rep_end && tkx_md_iter_next(&it, &msg, &mlen, &seq) == 1) {
			if (seq < p->rep_next)
				continue;
			if (tkx_md_pkt_append(&r, msg, mlen) != 0)
				goto full;
			p->rep_next++;
		}
	}
full:
	if (r.count == 0) /* the budget does not hold the next message (never the first) */
		return reply_marker(p, buf, len);
	p->rep_budget -= r.len;
	if (p->rep_next >= p->rep_end)
		p->rep_kind = p->rep_next < p->rep_want ? REP_MARK : REP_NONE;
	charge(p, r.len);
	STAT(p, req_pkts);
	STAT_ADD(p, req_msgs, r.count);
	*buf = r.buf;
	*len = r.len;
	return 1;
}

/* ---- Inspection ---------------------------------------------------------------------- */

void md_pub_info(const struct md_pub *p, struct md_info *info)
{
	uint64_t end = end_sent(p);

	memset(info, 0, sizeof(*info));
	info->next_seq = p->next_seq;
	info->first_retained = first_retained(p);
	info->last_sent = end - 1; /* end_sent() is 1 before anything was handed out */
	info->pending = (uint32_t)(p->head - p->tx);
	info->retained = (uint32_t)(p->head - p->tail);
	info->open = p->open;
	info->ended = p->ended;
}

int md_pub_contract(const struct md_pub *p, uint32_t contract_id, struct tkx_md_snapshot *s)
{
	int ci = contract_find(p, contract_id);

	if (ci < 0)
		return -ENOENT;
	snapshot_of(p, &p->cs[ci], 0, s);
	return 0;
}

int md_pub_orders(const struct md_pub *p, uint32_t contract_id,
		  int (*cb)(void *arg, const struct tkx_md_order *o), void *arg)
{
	int ci = contract_find(p, contract_id);

	if (ci < 0)
		return -ENOENT;
	for (uint32_t i = p->cs[ci].ord_head; i; i = p->ord[i - 1].next) {
		struct tkx_md_order w;
		ord_wire(&p->ord[i - 1], TKX_ACT_SNAPSHOT, 0, &w);
		int rc = cb(arg, &w);
		if (rc)
			return rc;
	}
	return 0;
}

int md_pub_definition(const struct md_pub *p, uint32_t contract_id, struct tkx_md_instrument *d)
{
	int ci = contract_find(p, contract_id);

	if (ci < 0 || p->cs[ci].def_parts != DEF_ALL)
		return -ENOENT;
	*d = p->cs[ci].def;
	d->phase = p->cs[ci].phase;
	return 0;
}

void md_pub_stats_read(const struct md_pub *p, struct md_stats *dst)
{
	const uint64_t *src = (const uint64_t *)&p->stats;
	uint64_t *d = (uint64_t *)dst;
	unsigned i;

	for (i = 0; i < MD_STAT_COUNT; i++)
		d[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static const char *const stat_names[] = {
#define MD__STAT_NAME(name) #name,
	MD_STATS(MD__STAT_NAME)
#undef MD__STAT_NAME
};

const char *md_pub_stat_name(unsigned i)
{
	return i < MD_STAT_COUNT ? stat_names[i] : NULL;
}

/* ---- Snapshots (issue 6): md_snap.c's access to the private state ----------------------
 * md_snap.c owns the format and the checks; these copy fields out of and into the
 * structs above (md_snap.h's internal section names them). */

#include "md_snap.h"

void md__snap_info(const struct md_pub *p, uint64_t *next_seq, uint32_t *n_contracts,
		   int *fresh)
{
	*next_seq = p->next_seq;
	*n_contracts = p->n_contracts;
	*fresh = p->head == 0 && p->tail == 0 && !p->open && !p->ended && p->next_seq == 1;
}

void md__snap_contract(const struct md_pub *p, uint32_t i, struct md_snap_contract *c)
{
	const struct md_cstate *s = &p->cs[i];

	memset(c, 0, sizeof(*c));
	c->id = s->id;
	c->phase = s->phase;
	c->bid_price = s->bid_price;
	c->ask_price = s->ask_price;
	c->bid_qty = s->bid_qty;
	c->ask_qty = s->ask_qty;
	c->last_price = s->last_price;
	c->volume = s->volume;
}

void md__snap_room(const struct md_pub *p, uint32_t *room, uint64_t *start_fp)
{
	*room = p->max_contracts;
	*start_fp = p->start_fp;
}

void md__snap_set_count(struct md_pub *p, uint32_t n)
{
	p->n_contracts = n;
	p->snap_cursor = 0;
	p->snap_active = 0;
	memset(p->hash, 0, (size_t)(p->hash_mask + 1) * sizeof(p->hash[0]));
	for (uint32_t j = 0; j < n; j++)
		contract_hash_put(p, j);
}

void md__snap_set_contract(struct md_pub *p, uint32_t i, const struct md_snap_contract *c)
{
	struct md_cstate *s = &p->cs[i];

	s->id = c->id;
	s->phase = c->phase;
	s->bid_price = c->bid_price;
	s->ask_price = c->ask_price;
	s->bid_qty = c->bid_qty;
	s->ask_qty = c->ask_qty;
	s->last_price = c->last_price;
	s->volume = c->volume;
}

void md__snap_books(const struct md_pub *p, uint32_t *depth, uint32_t *max_orders,
		    uint32_t *n_orders, uint64_t *prio_seq)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < p->n_contracts; i++)
		n += p->cs[i].n_orders;
	*depth = p->depth;
	*max_orders = p->max_orders;
	*n_orders = n;
	*prio_seq = p->prio_seq;
}

void md__snap_book(const struct md_pub *p, uint32_t i, struct md_snap_book *b, int64_t *lv)
{
	memset(b, 0, sizeof(*b));
	b->def = p->cs[i].def;
	b->def_parts = p->cs[i].def_parts;
	if (p->depth)
		memcpy(lv, dep_of(p, i), 4 * p->depth * sizeof(int64_t));
}

void md__snap_set_book(struct md_pub *p, uint32_t i, const struct md_snap_book *b,
		       const int64_t *lv, uint64_t prio_seq)
{
	p->cs[i].def = b->def;
	p->cs[i].def_parts = b->def_parts;
	p->cs[i].ord_head = 0;
	p->cs[i].n_orders = 0;
	if (p->depth)
		memcpy(dep_of(p, i), lv, 4 * p->depth * sizeof(int64_t));
	p->prio_seq = prio_seq;
}

int md__snap_orders(const struct md_pub *p, int (*cb)(void *, const struct md_snap_order *),
		    void *arg)
{
	for (uint32_t c = 0; c < p->n_contracts; c++)
		for (uint32_t i = p->cs[c].ord_head; i; i = p->ord[i - 1].next) {
			const struct md_ord *o = &p->ord[i - 1];
			struct md_snap_order s = { .id = o->id, .price = o->price, .prio = o->prio,
						   .rem = o->rem, .vis = o->vis, .show = o->show,
						   .contract_id = o->cid, .side = o->side };
			int rc = cb(arg, &s);
			if (rc)
				return rc;
		}
	return 0;
}

int md__snap_put_order(struct md_pub *p, const struct md_snap_order *s)
{
	int ci = contract_find(p, s->contract_id);
	if (ci < 0)
		return -ENOENT;
	if (ord_get(p, s->id))
		return -EEXIST;
	struct md_ord *o = ord_new(p, &p->cs[ci], s->id);
	if (o == NULL)
		return -ENOSPC;
	o->price = s->price;
	o->prio = s->prio;
	o->rem = s->rem;
	o->vis = s->vis;
	o->show = s->show;
	o->side = s->side;
	return 0;
}

/* On a fresh publisher (nothing retained, no OPEN packet): the stream goes on from
 * next_seq (invariant 1 holds: nothing was numbered in this instance yet). */
void md__snap_set_seq(struct md_pub *p, uint64_t next_seq)
{
	p->next_seq = next_seq;
	p->head_seq = next_seq;
}
