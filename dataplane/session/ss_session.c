/*
 * ss_session.c - the FIXP-style session layer: negotiate, establish, sequence, throttle,
 * retransmit and terminate order-entry sessions; see ss_session.h for the design.
 *
 * Runs on the core that owns the table (tokexd's RX/session core: the sessions of both
 * transports, each message framed and numbered as its peer's transport wants). Consumes
 * inbound messages (decoded by tokex/codec.h), dp_events from matching cores and time;
 * produces dp_orders and outbound buffers in the caller's struct ss_out. Nothing here
 * allocates, locks, logs to a stream or makes a system call after ss_table_init();
 * tkx_verify_msg() and tkx_auth_derive() (OpenSSL HMAC) run for Negotiate and Establish
 * only; the datagram MAC (SipHash-2-4) once per UDP datagram in and out.
 */
#include "ss_session.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/codec.h>
#include <tokex/venue.h>

#include "dataplane/dp_hash.h"

#define NS_PER_MS 1000000ull
#define NS_PER_S 1000000000ull
#define NO_BUF 0xFFFFu
#define HOLD_NONE UINT32_MAX
#define SS_UNANSWERED_MIN 64u /* ss_table.unans_max at least: > requests of a datagram */
#define SEQ_MSG_LEN (TKX_HDR_LEN + (int)sizeof(struct tkx_sequence))

/* ss_buf.kind: which messages may be coalesced into a buffer. */
enum {
	KIND_SES = 1,    /* UDP: unnumbered session-level messages */
	KIND_APP = 2,    /* UDP: Sequence(n) + application messages n, n+1, ... */
	KIND_RETX = 3,   /* UDP: Retransmission or Sequence + resent messages */
	KIND_STREAM = 4, /* TCP: every message of a connection, SOFH-framed, in order */
	KIND_SEALED = 5, /* UDP: ends with its DatagramAuth: takes nothing more (ss_seal) */
};

/* Session flags. */
enum {
	SF_EVER_ESTABLISHED = 1, /* its first establishment was reported (on_established) */
	SF_MAY_HAVE_ORDERS = 2,  /* forwarded a NewOrder since its last SESSION_GONE */
	SF_IN_FIFO = 4,          /* on the reclaim list (TERMINATED, no resting orders) */
	SF_IN_DIRTY = 8,         /* on the detach list (TERMINATED, may have orders) */
	SF_IN_FIRM = 16,         /* on its firm's list of TERMINATED sessions */
	SF_DETACHING = 32,       /* FREE, forgotten: waiting for the cores' DP_EV_DETACHED */
};

/* Sessions of one firm (invariant 13). */
struct ss_fstate {
	uint32_t limit;     /* slots it may hold; 0 = none */
	uint32_t held;      /* slots holding one of its sessions */
	uint32_t detaching; /* its sessions being forgotten (slots FREE, detaching) */
	uint16_t head;      /* its TERMINATED sessions, oldest first */
	uint16_t tail;
};

/* A list of slots through their fifo links: the reclaim and the detach list. */
struct ss_list {
	uint16_t head;
	uint16_t tail;
};

/* Sessions forgotten by a detach at once, at most, for the table's need (invariant 9). */
#define SS_DETACH_MAX 8
/* TERMINATED sessions of a firm looked at, at most, for one Negotiate (invariant 13). */
#define SS_FIRM_WALK 16

/* One slot. The first cache line is what every packet touches; the third is the
 * control plane's and the reclaim lists'. 192 bytes. */
struct ss_sess {
	uint8_t state;       /* enum ss_state */
	uint8_t cod;         /* cancel_on_disconnect from the last Establish */
	uint8_t flags;       /* SF_* */
	uint8_t mass_left;   /* MassCancelAck parts still to merge (broadcast mass cancel) */
	uint16_t hint_ses;   /* index in the current ss_out of its open session/stream buffer */
	uint16_t hint_app;   /* ... of its open numbered (UDP) buffer */
	uint32_t keepalive_ms;
	uint32_t firm_id;
	uint64_t session_id;
	uint64_t next_in;    /* next inbound sequence to apply (invariant 4) */
	uint64_t next_out;   /* number of the next outbound application message (3) */
	uint64_t last_cl_ord_id;
	uint64_t last_rx;    /* ns of the last inbound message */
	uint64_t tat;        /* throttle: GCRA theoretical arrival time */
	/* second line: outbound timer, set-up, termination and reclaim */
	struct ss_peer peer;
	uint64_t last_tx;    /* ns of the last outbound message */
	uint64_t thr_win;    /* start of the current one-second throttle window */
	uint64_t term_time;
	uint32_t thr_count;  /* throttled messages in that window */
	uint16_t firm_idx;
	uint16_t live_idx;   /* position in t->live while NEGOTIATED or ESTABLISHED */
	uint16_t fifo_prev;  /* reclaim list links (SS_NO_SLOT terminated) */
	uint16_t fifo_next;
	uint32_t mass_count; /* orders cancelled by the parts merged so far */
	uint64_t mass_cl;    /* cl_ord_id of the mass cancel being merged */
	/* third line: state time, firm list, detach */
	uint64_t since;      /* ns: when it entered its state */
	uint16_t firm_prev;  /* its firm's TERMINATED list (SS_NO_SLOT terminated) */
	uint16_t firm_next;
	uint8_t det_left;    /* DP_EV_DETACHED still to come (0: none yet; then parts) */
	uint8_t pad3[51];
};
_Static_assert(sizeof(struct ss_sess) == 192, "ss_sess is three cache lines");

/* Per-slot state that no packet of an established session reads: kept beside struct
 * ss_sess (t->aux[slot]) so that its two hot lines stay two. Reset whenever the slot
 * takes a new session_id. 64 bytes. */
struct ss_aux {
	uint64_t logon_ts;   /* newest timestamp of an accepted Negotiate or Establish */
	uint64_t hold_since; /* when its hold queue last became non-empty (backstop) */
	uint32_t inflight;   /* requests forwarded whose DP_EV_DONE has not come back */
	uint32_t held;       /* entries in its hold queue (invariant 15) */
	uint32_t hold_head;  /* pool index of the oldest, HOLD_NONE when empty */
	uint32_t hold_tail;
	uint8_t closing;     /* its end waits behind its queue: input is dropped */
	uint8_t on_ready;    /* on t->ready: the queue's head may go, room permitting */
	uint8_t gone;        /* closing after a disconnect: nothing is sent to its peer */
	uint8_t close_term;  /* closing: a Terminate is sent first, close_term_reason */
	uint8_t close_code;  /* closing: its log code (enum ss_log_code) ... */
	uint8_t pad0;
	uint16_t close_reason; /* ... and reason */
	uint16_t close_term_reason;
	uint8_t pad[22];
};
_Static_assert(sizeof(struct ss_aux) == 64, "ss_aux is one cache line");

/* A slot's datagram authentication (invariant 16), beside struct ss_sess so that the
 * packet path reads one more line only when authentication is on. Survives TERMINATED
 * (a re-Negotiate with the same timestamp keeps it, so the counters go on); replaced
 * whole by the next Negotiate that derives keys, and so when the slot takes a new
 * session_id. Not in snapshots or the journal: a restarted exchange has no keys, and
 * every session negotiates again. 64 bytes. */
struct ss_auth {
	struct tkx_auth_keys keys;
	uint64_t key_ts; /* timestamp of the Negotiate the keys came from */
	uint64_t rx_ctr; /* highest client counter accepted under these keys */
	uint64_t tx_ctr; /* exchange counter of the last datagram sealed under them */
	uint8_t keyed;   /* keys holds this session's keys */
	uint8_t pad[7];
};
_Static_assert(sizeof(struct ss_auth) == 64, "ss_auth is one cache line");

struct ss_table {
	/* configuration, read-only after init */
	uint32_t max_sessions;
	uint32_t n_firms;
	uint32_t ht_mask;       /* hash table size - 1 */
	uint64_t hash_seed;     /* keys both indexes' hash (ss_params.hash_seed) */
	uint32_t ring_mask;     /* retrans_depth - 1 */
	uint32_t ring_shift;    /* log2(retrans_depth) */
	uint32_t retrans_max;
	uint32_t retrans_bufs;  /* out buffers one retransmission may need */
	uint32_t log_mask;
	uint32_t keepalive_min_ms;
	uint32_t keepalive_max_ms;
	uint32_t throttle_grace;
	uint8_t core;
	uint64_t thr_interval;  /* ns between messages at the throttle rate; 0 = off */
	uint64_t thr_tau;       /* burst tolerance: (burst - 1) * interval */
	uint64_t ts_tol_ns;
	uint64_t linger_ns;
	uint64_t logon_floor;    /* ss_params.logon_floor_ns */

	struct ss_firm *firms;  /* sorted by firm_id */
	struct ss_fstate *fs;   /* per firm, same order */
	struct ss_sess *sess;
	struct ss_auth *auth;   /* per slot; NULL unless SS_AUTH_REQUIRED */
	struct ss_aux *aux;
	uint8_t (*ring)[SS_MSG_MAX]; /* slot s, sequence q: ring[(s << shift) | (q & mask)] */
	uint16_t *peer_ht;      /* live slots by peer */
	uint16_t *id_ht;        /* non-FREE slots by session_id */
	uint16_t *free_stack;
	uint16_t *live;         /* NEGOTIATED and ESTABLISHED slots, for ss_tick() */
	struct ss_log *log;
	struct dp_order *hold;  /* the hold pool (invariant 15): hold_n entries */
	uint32_t *hold_next;    /* next entry of the same session's queue */
	uint32_t *hold_free;    /* free pool entries, a stack */
	uint16_t *ready;        /* sessions whose held entries may go when room allows */
	uint32_t hold_n;
	uint32_t n_hold_free;
	uint32_t n_ready;
	uint32_t unans_max;     /* requests a session may have unanswered (invariant 15) */
	uint64_t hold_max_ns;   /* a queue waiting this long is let go (backstop) */
	uint32_t n_free;
	uint32_t n_live;
	uint32_t n_detaching;   /* slots FREE, detaching */
	struct ss_list fifo;    /* TERMINATED slots without resting orders, oldest first */
	struct ss_list dirty;   /* TERMINATED slots that may have resting orders, oldest first */
	void (*on_established)(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			       uint64_t next_in);
	void (*on_local_reply)(void *arg, uint16_t slot, uint16_t template_id, const void *body,
			       uint16_t blen);
	void (*on_negotiated)(void *arg, uint16_t slot, uint64_t session_id, uint32_t firm_id,
			      uint64_t timestamp);
	void *hook_arg;
	uint8_t no_retx; /* ss_halt_retransmission(): RetransmitRequests are refused */
	uint8_t auth_strip;  /* SS_AUTH_OFF: a UDP datagram's trailing DatagramAuth is dropped */

	/* log ring: producer index on its own line, consumer index on another */
	_Alignas(64) uint32_t log_head;
	_Alignas(64) uint32_t log_tail;
	_Alignas(64) struct ss_stats stats;
};

/* ---- Small helpers -------------------------------------------------------------------- */

/* Counters have one writer (the owner); the relaxed store lets a control thread read them
 * with atomic loads without a data race. */
#define STAT_ADD(t, f, v) __atomic_store_n(&(t)->stats.f, (t)->stats.f + (v), __ATOMIC_RELAXED)
#define STAT(t, f) STAT_ADD(t, f, 1)

static inline int peer_eq(const struct ss_peer *a, const struct ss_peer *b)
{
	return memcmp(a, b, sizeof(*a)) == 0;
}

/* The peer's transport (invariant 12): a TCP connection's conn is never 0, a UDP
 * address's always is. */
static inline int peer_tcp(const struct ss_peer *p)
{
	return p->conn != 0;
}

/*
 * The indexes' hashes face attackers: a client chooses its session ids and, within its
 * addresses, its peers. With a public hash it could compute offline a set of keys that
 * share one probe run and make every lookup of that run walk it. So both are the keyed
 * hash of dp_hash.h (seed: ss_params.hash_seed, random in tokexd), well mixed over every
 * bit of the key, and an insert needs a firm's signature besides.
 */
static inline uint32_t peer_hash(const struct ss_table *t, const struct ss_peer *p)
{
	uint64_t a, b;

	memcpy(&a, p, 8);
	memcpy(&b, (const uint8_t *)p + 8, 8);
	return (uint32_t)dp_hash64_keyed(a ^ dp_hash64_keyed(b, t->hash_seed), t->hash_seed);
}

static inline uint32_t id_hash(const struct ss_table *t, uint64_t id)
{
	return (uint32_t)dp_hash64_keyed(id, t->hash_seed);
}

static inline int room(const struct ss_out *out, unsigned bufs, unsigned orders)
{
	return SS_OUT_BUFS - out->n_bufs >= bufs && SS_OUT_ORDERS - out->n_orders >= orders;
}

static inline uint64_t absdiff(uint64_t a, uint64_t b)
{
	return a > b ? a - b : b - a;
}

/* now - then, or 0 when the clock went backwards. */
static inline uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/* Header + block into dst (>= 8 + blen bytes). */
static inline uint16_t enc(void *dst, uint16_t tid, const void *body, uint16_t blen)
{
	struct tkx_hdr h = {
		.block_length = blen,
		.template_id = tid,
		.schema_id = TKX_SCHEMA_ID,
		.version = TKX_SCHEMA_VERSION,
	};

	memcpy(dst, &h, sizeof(h));
	memcpy((uint8_t *)dst + TKX_HDR_LEN, body, blen);
	return (uint16_t)(TKX_HDR_LEN + blen);
}

#define ENC(dst, tid, body) enc(dst, tid, &(body), (uint16_t)sizeof(body))

/* Block length of an exchange->client application template a matching core may send. */
static inline uint16_t event_blen(uint16_t tid)
{
	switch (tid) {
	case TKX_EXEC_ACK: return sizeof(struct tkx_exec_ack);
	case TKX_EXEC_REJECT: return sizeof(struct tkx_exec_reject);
	case TKX_FILL: return sizeof(struct tkx_fill);
	case TKX_CANCELLED: return sizeof(struct tkx_cancelled);
	case TKX_MODIFY_ACK: return sizeof(struct tkx_modify_ack);
	case TKX_MASS_CANCEL_ACK: return sizeof(struct tkx_mass_cancel_ack);
	case TKX_STOP_ELECTED: return sizeof(struct tkx_stop_elected);
	default: return 0;
	}
}

/* A reply the session layer makes by itself is kept in a ring entry. */
_Static_assert(TKX_HDR_LEN + sizeof(struct tkx_exec_reject) <= SS_MSG_MAX &&
	       TKX_HDR_LEN + sizeof(struct tkx_business_reject) <= SS_MSG_MAX,
	       "and a retransmit ring entry");

static inline uint8_t *ring_entry(const struct ss_table *t, uint16_t slot, uint64_t seq)
{
	return t->ring[((size_t)slot << t->ring_shift) | (seq & t->ring_mask)];
}

static inline uint16_t entry_len(const uint8_t *e)
{
	struct tkx_hdr h;

	memcpy(&h, e, sizeof(h));
	return (uint16_t)(TKX_HDR_LEN + h.block_length);
}

/* Out buffers one ss_rx() of len bytes may need. Every inbound message of m bytes yields
 * at most 2m bytes of reply (SOFH included; the worst is a 16-byte Sequence answered by
 * a 24-byte NotApplied, or a 24-byte message by a 38-byte framed BusinessReject), plus
 * one throttle Terminate; replies go to at most three streams (unnumbered to a peer
 * without a session, then its new session's session and numbered streams), each buffer
 * filled to at least SS_BUF_CAP - 128 before another is opened (SS_BUF_FILL less the
 * largest framed message); plus one retransmission. */
static inline unsigned rx_need_bufs(const struct ss_table *t, size_t len)
{
	return (unsigned)((2 * len + 64) / (SS_BUF_CAP - 128)) + 4 + t->retrans_bufs;
}

/* Requests in one datagram: the smallest is 32 bytes (CancelOrder, MassCancel); plus one
 * SESSION_GONE. */
static inline unsigned rx_need_orders(size_t len)
{
	return (unsigned)(len / (TKX_HDR_LEN + 24)) + 1;
}

/* ---- Log ring (single producer: owner; single consumer: control thread) ------------- */

static void log_put(struct ss_table *t, uint64_t now, uint16_t code, uint16_t reason,
		    uint64_t session_id, uint32_t firm_id, uint16_t slot,
		    const struct ss_peer *peer)
{
	uint32_t head = t->log_head;
	/* Acquire: the consumer's reads of the entry we are about to reuse are done. */
	uint32_t tail = __atomic_load_n(&t->log_tail, __ATOMIC_ACQUIRE);
	struct ss_log *l;

	if (head - tail > t->log_mask) {
		STAT(t, log_dropped);
		return;
	}
	l = &t->log[head & t->log_mask];
	memset(l, 0, sizeof(*l));
	l->time_ns = now;
	l->session_id = session_id;
	l->firm_id = firm_id;
	l->code = code;
	l->reason = reason;
	l->slot = slot;
	if (peer)
		l->peer = *peer;
	/* Release: the entry is written before the consumer can see it. */
	__atomic_store_n(&t->log_head, head + 1, __ATOMIC_RELEASE);
}

static void log_sess(struct ss_table *t, uint64_t now, uint16_t code, uint16_t reason,
		     uint16_t slot)
{
	const struct ss_sess *s = &t->sess[slot];

	log_put(t, now, code, reason, s->session_id, s->firm_id, slot, &s->peer);
}

/* ---- Indexes: open addressing, linear probing, backward-shift deletion --------------- */

typedef uint32_t (*home_fn)(const struct ss_table *t, uint16_t slot);

static uint32_t home_peer(const struct ss_table *t, uint16_t slot)
{
	return peer_hash(t, &t->sess[slot].peer) & t->ht_mask;
}

static uint32_t home_id(const struct ss_table *t, uint16_t slot)
{
	return id_hash(t, t->sess[slot].session_id) & t->ht_mask;
}

static void ht_insert(struct ss_table *t, uint16_t *ht, uint32_t i, uint16_t slot)
{
	while (ht[i] != SS_NO_SLOT)
		i = (i + 1) & t->ht_mask;
	ht[i] = slot;
}

static void ht_erase(struct ss_table *t, uint16_t *ht, home_fn home, uint16_t slot)
{
	uint32_t i = home(t, slot), j;

	while (ht[i] != slot) {
		assert(ht[i] != SS_NO_SLOT);
		i = (i + 1) & t->ht_mask;
	}
	/* Shift back every later entry of the run whose home is not in (i, j]: probing
	 * never meets a hole before its key, and no tombstones accumulate. */
	for (j = i;;) {
		uint16_t s;
		uint32_t k;

		j = (j + 1) & t->ht_mask;
		s = ht[j];
		if (s == SS_NO_SLOT)
			break;
		k = home(t, s);
		if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		ht[i] = s;
		i = j;
	}
	ht[i] = SS_NO_SLOT;
}

static uint16_t peer_find(const struct ss_table *t, const struct ss_peer *p)
{
	uint32_t i = peer_hash(t, p) & t->ht_mask;

	for (;;) {
		uint16_t s = t->peer_ht[i];

		if (s == SS_NO_SLOT || peer_eq(&t->sess[s].peer, p))
			return s;
		i = (i + 1) & t->ht_mask;
	}
}

static uint16_t id_find(const struct ss_table *t, uint64_t id)
{
	uint32_t i = id_hash(t, id) & t->ht_mask;

	for (;;) {
		uint16_t s = t->id_ht[i];

		if (s == SS_NO_SLOT || t->sess[s].session_id == id)
			return s;
		i = (i + 1) & t->ht_mask;
	}
}

static const struct ss_firm *firm_find(const struct ss_table *t, uint32_t firm_id)
{
	uint32_t lo = 0, hi = t->n_firms;

	while (lo < hi) {
		uint32_t mid = lo + (hi - lo) / 2;

		if (t->firms[mid].firm_id < firm_id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < t->n_firms && t->firms[lo].firm_id == firm_id ? &t->firms[lo] : NULL;
}

/* ---- Slot lists ------------------------------------------------------------------------ */

static void live_add(struct ss_table *t, uint16_t slot)
{
	t->sess[slot].live_idx = (uint16_t)t->n_live;
	t->live[t->n_live++] = slot;
}

static void live_remove(struct ss_table *t, uint16_t slot)
{
	uint16_t i = t->sess[slot].live_idx, last = t->live[--t->n_live];

	t->live[i] = last;
	t->sess[last].live_idx = i;
}

/* The reclaim list (fifo) and the detach list (dirty) link through fifo_prev/fifo_next: a
 * TERMINATED slot is on one of them, by whether it may have resting orders. */
static void list_push(struct ss_table *t, struct ss_list *l, uint8_t flag, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];

	s->flags |= flag;
	s->fifo_next = SS_NO_SLOT;
	s->fifo_prev = l->tail;
	if (l->tail != SS_NO_SLOT)
		t->sess[l->tail].fifo_next = slot;
	else
		l->head = slot;
	l->tail = slot;
}

static void list_unlink(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];
	struct ss_list *l = s->flags & SF_IN_FIFO ? &t->fifo : s->flags & SF_IN_DIRTY ? &t->dirty
										     : NULL;

	if (l == NULL)
		return;
	if (s->fifo_prev != SS_NO_SLOT)
		t->sess[s->fifo_prev].fifo_next = s->fifo_next;
	else
		l->head = s->fifo_next;
	if (s->fifo_next != SS_NO_SLOT)
		t->sess[s->fifo_next].fifo_prev = s->fifo_prev;
	else
		l->tail = s->fifo_prev;
	s->flags &= (uint8_t)~(SF_IN_FIFO | SF_IN_DIRTY);
	s->fifo_prev = s->fifo_next = SS_NO_SLOT;
}

static void fifo_push(struct ss_table *t, uint16_t slot)
{
	list_push(t, &t->fifo, SF_IN_FIFO, slot);
}

/* Its firm's list of TERMINATED sessions (invariant 13), oldest first. */
static void firm_push(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];
	struct ss_fstate *f = &t->fs[s->firm_idx];

	s->flags |= SF_IN_FIRM;
	s->firm_next = SS_NO_SLOT;
	s->firm_prev = f->tail;
	if (f->tail != SS_NO_SLOT)
		t->sess[f->tail].firm_next = slot;
	else
		f->head = slot;
	f->tail = slot;
}

static void firm_unlink(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];
	struct ss_fstate *f = &t->fs[s->firm_idx];

	if (!(s->flags & SF_IN_FIRM))
		return;
	if (s->firm_prev != SS_NO_SLOT)
		t->sess[s->firm_prev].firm_next = s->firm_next;
	else
		f->head = s->firm_next;
	if (s->firm_next != SS_NO_SLOT)
		t->sess[s->firm_next].firm_prev = s->firm_prev;
	else
		f->tail = s->firm_prev;
	s->flags &= (uint8_t)~SF_IN_FIRM;
	s->firm_prev = s->firm_next = SS_NO_SLOT;
}

/* A session became (or was restored) TERMINATED: onto its firm's list and the reclaim or
 * the detach list. */
static void term_add(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];

	if (s->flags & SF_MAY_HAVE_ORDERS)
		list_push(t, &t->dirty, SF_IN_DIRTY, slot);
	else
		fifo_push(t, slot);
	firm_push(t, slot);
}

static void term_del(struct ss_table *t, uint16_t slot)
{
	list_unlink(t, slot);
	firm_unlink(t, slot);
}

/* The slot's session may have resting orders now, or cannot any more (a TERMINATED one
 * moves between the lists, keeping its place on its firm's). */
static void set_may_have_orders(struct ss_table *t, uint16_t slot, int may)
{
	struct ss_sess *s = &t->sess[slot];

	if (!!(s->flags & SF_MAY_HAVE_ORDERS) == !!may)
		return;
	list_unlink(t, slot);
	if (may)
		s->flags |= SF_MAY_HAVE_ORDERS;
	else
		s->flags &= (uint8_t)~SF_MAY_HAVE_ORDERS;
	if (s->state == SS_TERMINATED)
		list_push(t, may ? &t->dirty : &t->fifo, may ? SF_IN_DIRTY : SF_IN_FIFO, slot);
}

static int lingered(const struct ss_table *t, uint16_t slot, uint64_t now)
{
	/* ...and every logon it had is stale (its timestamp may be ahead of the clock by up
	 * to the tolerance), or from before the owner's start (logon_floor_ns refuses those):
	 * none played back can pass the staleness check (invariant 14), nor bring back the
	 * keys it derived (16). */
	return since(now, t->sess[slot].term_time) >= t->linger_ns &&
	       (now > t->aux[slot].logon_ts + t->ts_tol_ns ||
		t->aux[slot].logon_ts <= t->logon_floor);
}

static int firm_at_limit(const struct ss_table *t, unsigned fi)
{
	return t->fs[fi].limit && t->fs[fi].held >= t->fs[fi].limit;
}

/* A TERMINATED session without resting orders that lingered, given to a new session_id
 * (invariant 9): out of the lists, the id index and its firm's count. */
static void reclaim(struct ss_table *t, uint16_t slot, uint64_t now)
{
	term_del(t, slot);
	log_sess(t, now, SS_LOG_RECLAIMED, 0, slot);
	ht_erase(t, t->id_ht, home_id, slot);
	t->fs[t->sess[slot].firm_idx].held--;
	STAT(t, reclaimed);
}

/* Forgets the TERMINATED session in slot by a detach (invariant 9): its slot becomes FREE
 * (detaching) and the SESSION_GONE DP_GONE_DETACH that asks the cores for it goes to out
 * (the caller checked room), or, with out NULL (replay of that record), nowhere. */
static void forget(struct ss_table *t, uint16_t slot, uint16_t why, uint64_t now,
		   struct ss_out *out)
{
	struct ss_sess *s = &t->sess[slot];
	struct ss_fstate *f = &t->fs[s->firm_idx];

	assert(s->state == SS_TERMINATED);
	log_sess(t, now, SS_LOG_FORGOTTEN, why, slot);
	term_del(t, slot);
	ht_erase(t, t->id_ht, home_id, slot);
	f->held--;
	f->detaching++;
	t->n_detaching++;
	s->state = SS_FREE;
	s->flags = SF_DETACHING;
	s->det_left = 0;
	s->mass_left = 0;
	s->since = now;
	STAT(t, forgotten);
	if (out) {
		struct dp_order *o = &out->orders[out->n_orders++];

		memset(o, 0, sizeof(*o));
		o->type = DP_ORD_SESSION_GONE;
		o->scope = DP_GONE_DETACH;
		o->src = t->core;
		o->session = slot;
		o->firm_id = s->firm_id;
		o->order_id = s->session_id;
		o->in_seq = why; /* for the journal and its replay */
		o->contract_id = 0; /* every matching core */
		o->rx_time = now;
	}
}

/* DP_EV_DETACHED from a matching core: when every core the SESSION_GONE went to has
 * answered, the slot is FREE for good. */
static void detached(struct ss_table *t, const struct dp_event *e)
{
	struct ss_sess *s = &t->sess[e->session];
	uint64_t id;

	memcpy(&id, e->u.raw, sizeof(id));
	if (!(s->flags & SF_DETACHING) || s->session_id != id) {
		STAT(t, ev_dropped);
		return;
	}
	if (s->det_left == 0)
		s->det_left = e->parts ? e->parts : 1;
	if (--s->det_left)
		return;
	s->flags = 0;
	t->fs[s->firm_idx].detaching--;
	t->n_detaching--;
	t->free_stack[t->n_free++] = e->session;
	STAT(t, detach_done);
}

/* A slot for a new session_id of firm fi (invariants 9, 13), or SS_NO_SLOT with *why
 * the NegotiationReject reason. A firm at its limit gets its own oldest lingered session
 * without resting orders; another firm a FREE slot, else the oldest lingered session
 * without resting orders. When that fails and one that may have them lingered, it is
 * forgotten (a detach, into out) for the next try. */
static uint16_t slot_alloc(struct ss_table *t, unsigned fi, uint64_t now, struct ss_out *out,
			   uint16_t *why)
{
	uint16_t h, dirty = SS_NO_SLOT;

	if (firm_at_limit(t, fi)) {
		unsigned n = 0;

		for (h = t->fs[fi].head; h != SS_NO_SLOT && n < SS_FIRM_WALK && lingered(t, h, now);
		     h = t->sess[h].firm_next, n++) {
			if (!(t->sess[h].flags & SF_MAY_HAVE_ORDERS)) {
				reclaim(t, h, now);
				return h;
			}
			if (dirty == SS_NO_SLOT)
				dirty = h;
		}
		if (dirty != SS_NO_SLOT && t->fs[fi].detaching == 0 && room(out, 0, 1))
			forget(t, dirty, SS_FORGET_FIRM, now, out);
		*why = TKX_SREJ_SESSION_LIMIT;
		STAT(t, neg_firm_limit);
		return SS_NO_SLOT;
	}
	if (t->n_free)
		return t->free_stack[--t->n_free];
	h = t->fifo.head;
	if (h != SS_NO_SLOT && lingered(t, h, now)) {
		reclaim(t, h, now);
		return h;
	}
	h = t->dirty.head;
	if (h != SS_NO_SLOT && lingered(t, h, now) && t->n_detaching < SS_DETACH_MAX &&
	    room(out, 0, 1))
		forget(t, h, SS_FORGET_TABLE, now, out);
	*why = TKX_SREJ_UNSPECIFIED;
	STAT(t, neg_table_full);
	return SS_NO_SLOT;
}

/* A session rebuilt by a restart (its termination time 0, what recovery passes): it counts
 * as lingered when a Negotiate needs its slot, but is never forgotten ahead of need, so
 * that its client can resume after the restart while nobody needs the room. */
static int rebuilt(const struct ss_table *t, uint16_t slot)
{
	return t->sess[slot].term_time == 0;
}

/* ss_tick(): forgetting started before a Negotiate needs it (invariant 9) - one slot
 * when the table is full, the oldest session of a firm at its limit - so that one seldom
 * waits. Returns how many it forgot, or -ENOBUFS. */
static int forget_ahead(struct ss_table *t, uint64_t now, struct ss_out *out)
{
	int acted = 0;
	uint16_t h;

	if (t->n_free == 0 && t->n_detaching == 0 &&
	    !(t->fifo.head != SS_NO_SLOT && lingered(t, t->fifo.head, now))) {
		h = t->dirty.head;
		if (h != SS_NO_SLOT && lingered(t, h, now) && !rebuilt(t, h)) {
			if (!room(out, 0, 1))
				return -ENOBUFS;
			forget(t, h, SS_FORGET_TABLE, now, out);
			acted++;
		}
	}
	for (uint32_t fi = 0; fi < t->n_firms; fi++) {
		if (!firm_at_limit(t, fi) || t->fs[fi].detaching)
			continue;
		h = t->fs[fi].head;
		if (h == SS_NO_SLOT || !lingered(t, h, now) || rebuilt(t, h) ||
		    !(t->sess[h].flags & SF_MAY_HAVE_ORDERS))
			continue; /* nothing lingered, or the oldest is reclaimable as it is */
		if (!room(out, 0, 1))
			return -ENOBUFS;
		forget(t, h, SS_FORGET_FIRM, now, out);
		acted++;
	}
	return acted;
}

/* ---- Output ----------------------------------------------------------------------------- */

/*
 * The buffer the next message of `kind` for (peer, slot) goes to: the one *hint names if
 * it is still that session's open buffer of that kind with `need` bytes free (and, for a
 * numbered buffer, expects `seq` next), else a new one (a numbered one starts with
 * Sequence(seq)). The callers checked room() first.
 */
static struct ss_buf *buf_get(struct ss_out *out, const struct ss_peer *peer, uint16_t slot,
			      uint8_t kind, uint16_t *hint, size_t need, uint64_t seq)
{
	struct ss_buf *b;

	if (*hint < out->n_bufs && *hint < SS_OUT_BUFS) {
		b = &out->bufs[*hint];
		if (b->slot == slot && b->kind == kind && (size_t)(SS_BUF_FILL - b->len) >= need &&
		    (kind != KIND_APP || b->next_seq == seq) && peer_eq(&b->peer, peer))
			return b;
	}
	assert(out->n_bufs < SS_OUT_BUFS);
	*hint = (uint16_t)out->n_bufs;
	b = &out->bufs[out->n_bufs++];
	b->peer = *peer;
	b->len = 0;
	b->slot = slot;
	b->kind = kind;
	b->end = 0;
	memset(b->pad, 0, sizeof(b->pad));
	b->next_seq = seq;
	if (kind == KIND_APP) {
		struct tkx_sequence sq = { .next_seq_no = seq };

		b->len = ENC(b->bytes, TKX_SEQUENCE, sq);
	}
	return b;
}

static void buf_put(struct ss_buf *b, const void *msg, uint16_t len, int tcp)
{
	if (tcp) {
		tkx_sofh_encode(b->bytes + b->len, (size_t)(SS_BUF_CAP - b->len), len);
		b->len += TKX_SOFH_LEN;
	}
	memcpy(b->bytes + b->len, msg, len);
	b->len += len;
}

/* Where replies go: a session's buffers, or those of a peer without one. */
struct dest {
	const struct ss_peer *peer;
	uint16_t slot;
	uint16_t *hint_ses;
	uint16_t *hint_app;
};

static struct dest sess_dest(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];
	struct dest d = { &s->peer, slot, &s->hint_ses, &s->hint_app };

	return d;
}

/* An unnumbered (session-level) message. */
static struct ss_buf *tx_session(struct ss_table *t, const struct dest *d, const void *msg,
				 uint16_t len, struct ss_out *out)
{
	int tcp = peer_tcp(d->peer);
	uint8_t kind = tcp ? KIND_STREAM : KIND_SES;
	size_t need = len + (tcp ? TKX_SOFH_LEN : 0);
	struct ss_buf *b = buf_get(out, d->peer, d->slot, kind, d->hint_ses, need, 0);

	buf_put(b, msg, len, tcp);
	STAT(t, tx_session);
	return b;
}

/* The session's next application message (invariant 3): numbered, kept in the ring,
 * and sent if the session is established. */
static void tx_app(struct ss_table *t, uint16_t slot, uint16_t tid, const void *body,
		   uint16_t blen, uint64_t now, struct ss_out *out)
{
	struct ss_sess *s = &t->sess[slot];
	uint64_t seq;
	uint8_t *e;
	uint16_t len;
	struct ss_buf *b;

	seq = s->next_out++;
	e = ring_entry(t, slot, seq);
	len = enc(e, tid, body, blen);
	STAT(t, tx_app);
	if (s->state != SS_ESTABLISHED || t->aux[slot].gone)
		return; /* kept for retransmission only */
	if (peer_tcp(&s->peer)) {
		b = buf_get(out, &s->peer, slot, KIND_STREAM, &s->hint_ses, len + TKX_SOFH_LEN, 0);
		buf_put(b, e, len, 1);
	} else {
		b = buf_get(out, &s->peer, slot, KIND_APP, &s->hint_app, len, seq);
		b->next_seq = seq + 1;
		buf_put(b, e, len, 0);
	}
	s->last_tx = now;
}

/* A reply the session layer makes by itself, at its turn (invariant 15): numbered now
 * and, when report, reported to on_local_reply (the journal's record of it: the replies
 * to ss_rx()'s messages; not ss_reject_order()'s, which replay makes again by itself). */
static void tx_local(struct ss_table *t, uint16_t slot, uint16_t tid, const void *body,
		     uint16_t blen, uint64_t now, struct ss_out *out, int report)
{
	tx_app(t, slot, tid, body, blen, now, out);
	if (report && t->on_local_reply)
		t->on_local_reply(t->hook_arg, slot, tid, body, blen);
}

static void send_heartbeat(struct ss_table *t, uint16_t slot, uint64_t now, struct ss_out *out)
{
	struct ss_sess *s = &t->sess[slot];

	if (peer_tcp(&s->peer)) {
		struct tkx_sequence sq = { .next_seq_no = s->next_out };
		uint8_t m[SEQ_MSG_LEN];

		buf_put(buf_get(out, &s->peer, slot, KIND_STREAM, &s->hint_ses,
				SEQ_MSG_LEN + TKX_SOFH_LEN, 0),
			m, ENC(m, TKX_SEQUENCE, sq), 1);
	} else {
		/* A pending numbered datagram of this session already starts with the
		 * Sequence a heartbeat would carry; otherwise this opens one. */
		buf_get(out, &s->peer, slot, KIND_APP, &s->hint_app, 0, s->next_out);
	}
	s->last_tx = now;
	STAT(t, tx_heartbeats);
}

static void send_terminate(struct ss_table *t, uint16_t slot, uint16_t reason,
			   struct ss_out *out)
{
	struct dest d = sess_dest(t, slot);
	struct tkx_terminate tm = { .session_id = t->sess[slot].session_id, .reason = reason };
	uint8_t m[TKX_HDR_LEN + sizeof(tm)];
	struct ss_buf *b = tx_session(t, &d, m, ENC(m, TKX_TERMINATE, tm), out);

	/* TCP: the connection ends with it (protocol 4.9): the owner takes nothing more of
	 * it, not even what it already read (ss_buf.end). */
	if (peer_tcp(d.peer))
		b->end = 1;
}

/* Ends a live session (invariants 7, 9): SESSION_GONE if asked, out of the peer index,
 * then TERMINATED. The caller sent any Terminate. */
static void close_session(struct ss_table *t, uint16_t slot, uint16_t code, uint16_t reason,
			  uint64_t now, struct ss_out *out)
{
	struct ss_sess *s = &t->sess[slot];

	assert(s->state == SS_NEGOTIATED || s->state == SS_ESTABLISHED);
	if (s->state == SS_ESTABLISHED && s->cod) {
		struct dp_order *o = &out->orders[out->n_orders++];

		memset(o, 0, sizeof(*o));
		o->type = DP_ORD_SESSION_GONE;
		o->src = t->core;
		o->session = slot;
		o->firm_id = s->firm_id;
		o->contract_id = 0; /* every matching core */
		o->rx_time = now;
		s->flags &= (uint8_t)~SF_MAY_HAVE_ORDERS;
		STAT(t, session_gone);
	}
	log_sess(t, now, code, reason, slot);
	ht_erase(t, t->peer_ht, home_peer, slot);
	live_remove(t, slot);
	s->since = now;
	/* Kept even if never established: its newest logon timestamp refuses a replay of
	 * its Negotiate until the slot is reclaimed (invariant 14). */
	s->state = SS_TERMINATED;
	s->term_time = now;
	term_add(t, slot);
}

/* ---- Reply order: requests in flight and the hold queue (invariant 15) -------------------- */

/* Per-slot state for a new session_id (logon_ts: what ss_restore_session() keeps). */
static void aux_reset(struct ss_table *t, uint16_t slot, uint64_t logon_ts)
{
	struct ss_aux *x = &t->aux[slot];

	assert(x->held == 0 || x->hold_head == HOLD_NONE);
	memset(x, 0, sizeof(*x));
	x->logon_ts = logon_ts;
	x->hold_head = x->hold_tail = HOLD_NONE;
}

/* A session's requests not answered yet: in flight to the matching cores, and everything
 * held. */
static inline uint32_t unanswered(const struct ss_aux *x)
{
	return x->inflight + x->held;
}

/* Appends o (a request, or a DP_ORD_LOCAL reply) to slot's queue. ss_rx() made sure the
 * pool has room. */
static void hold_push(struct ss_table *t, uint16_t slot, const struct dp_order *o, uint64_t now)
{
	struct ss_aux *x = &t->aux[slot];
	uint32_t i;

	assert(t->n_hold_free > 0);
	i = t->hold_free[--t->n_hold_free];
	t->hold[i] = *o;
	t->hold_next[i] = HOLD_NONE;
	if (x->hold_tail != HOLD_NONE) {
		t->hold_next[x->hold_tail] = i;
	} else {
		x->hold_head = i;
		x->hold_since = now;
	}
	x->hold_tail = i;
	x->held++;
	STAT(t, held);
}

static void hold_pop(struct ss_table *t, struct ss_aux *x)
{
	uint32_t i = x->hold_head;

	x->hold_head = t->hold_next[i];
	if (x->hold_head == HOLD_NONE)
		x->hold_tail = HOLD_NONE;
	x->held--;
	t->hold_free[t->n_hold_free++] = i;
}

static void ready_add(struct ss_table *t, uint16_t slot)
{
	struct ss_aux *x = &t->aux[slot];

	if (x->on_ready)
		return;
	x->on_ready = 1;
	t->ready[t->n_ready++] = slot;
}

/* The end of a session, now: its Terminate (if term) and close_session(). */
static void finish_close(struct ss_table *t, uint16_t slot, int term, uint16_t term_reason,
			 uint16_t code, uint16_t reason, uint64_t now, struct ss_out *out)
{
	if (term)
		send_terminate(t, slot, term_reason, out);
	close_session(t, slot, code, reason, now, out);
}

/* Ends a live session (a Terminate either way, a keepalive timeout, a disconnect): at
 * once when nothing of it is unanswered, else after everything taken before (invariant
 * 14) - its end waits behind its queue and its input is dropped meanwhile. The caller
 * checked room for finish_close(). Returns 1 when it ended now, 0 when it waits. */
static int end_session(struct ss_table *t, uint16_t slot, int term, uint16_t term_reason,
		       uint16_t code, uint16_t reason, uint64_t now, struct ss_out *out)
{
	struct ss_aux *x = &t->aux[slot];

	if (unanswered(x) == 0) {
		finish_close(t, slot, term, term_reason, code, reason, now, out);
		return 1;
	}
	x->closing = 1;
	x->close_term = (uint8_t)(term != 0);
	x->close_term_reason = term_reason;
	x->close_code = (uint8_t)code;
	x->close_reason = reason;
	x->gone = !term && code == SS_LOG_DISCONNECTED;
	if (!x->held)
		x->hold_since = now; /* the backstop's clock */
	if (!x->inflight)
		ready_add(t, slot); /* only held entries before it: they go at the next call */
	return 0;
}

/*
 * Lets the head of slot's queue go, for as long as its turn has come: a held request is
 * forwarded (the replies to it follow everything numbered before), a held reply is
 * numbered once no request taken before it is in flight; then a waiting end, once
 * nothing at all is unanswered. 0 when nothing can go now; -ENOBUFS when out has no room
 * for what can (the session stays as it is: call again after a flush).
 */
static int hold_release(struct ss_table *t, uint16_t slot, uint64_t now, struct ss_out *out)
{
	struct ss_aux *x = &t->aux[slot];

	while (x->held) {
		const struct dp_order *o = &t->hold[x->hold_head];

		if (o->type == DP_ORD_LOCAL) {
			struct dp_order_local l;

			if (x->inflight)
				return 0;
			if (!room(out, 1, 1))
				return -ENOBUFS;
			memcpy(&l, o, sizeof(l));
			tx_local(t, slot, l.template_id, l.body, l.blen, now, out, 1);
		} else {
			if (!room(out, 0, 1))
				return -ENOBUFS;
			out->orders[out->n_orders++] = *o;
			x->inflight++;
			STAT(t, app_forwarded);
		}
		hold_pop(t, x);
	}
	if (x->closing && !x->inflight) {
		if (!room(out, 1, 1))
			return -ENOBUFS;
		x->closing = 0;
		x->gone = 0;
		finish_close(t, slot, x->close_term, x->close_term_reason, x->close_code,
			     x->close_reason, now, out);
	}
	return 0;
}

/* One of slot's unanswered counters goes down (a request's DP_EV_DONE, a local reply's
 * echo): what waited for it goes at the owner's next ss_release() (or ss_tick()), not
 * now. The owner calls that after the batch of replies this one came in: a released own
 * reply is then numbered after all of them, where its journal record (made as it is
 * numbered, after the batch's records) puts it on replay too. */
static void answered(struct ss_table *t, uint16_t slot, uint32_t *ctr)
{
	struct ss_aux *x = &t->aux[slot];

	if (*ctr)
		(*ctr)--; /* recovery numbers replies of requests it never counted */
	if (x->held || x->closing)
		ready_add(t, slot);
}

/* The sessions whose queue heads could not go for lack of room, or were let go by
 * ss_reject_order() / the backstop: 0, or -ENOBUFS (some wait for room still). */
static int release_ready(struct ss_table *t, uint64_t now, struct ss_out *out)
{
	while (t->n_ready) {
		uint16_t slot = t->ready[t->n_ready - 1];

		if (hold_release(t, slot, now, out) == -ENOBUFS)
			return -ENOBUFS;
		t->aux[slot].on_ready = 0;
		t->n_ready--;
	}
	return 0;
}

/* ---- Inbound ---------------------------------------------------------------------------- */

struct rx_ctx {
	struct ss_table *t;
	struct ss_out *out;
	const struct ss_peer *peer;
	uint64_t now;
	uint64_t cur;          /* UDP: number of the next application message */
	uint16_t slot;         /* the peer's live session, SS_NO_SLOT if none */
	uint16_t hint_ses;     /* buffers for a peer without a session */
	uint16_t hint_app;
	uint8_t numbered;      /* cur is set (a Sequence was seen, or implied) */
	uint8_t retrans_done;  /* one retransmission per call */
	uint8_t stop;          /* the session ended: drop the rest */
	uint8_t late;          /* the message just numbered is below the expected number */
};

static struct dest ctx_dest(struct rx_ctx *c)
{
	struct dest d = { c->peer, SS_NO_SLOT, &c->hint_ses, &c->hint_app };

	if (c->slot != SS_NO_SLOT)
		return sess_dest(c->t, c->slot);
	return d;
}

static struct ss_sess *ctx_sess(const struct rx_ctx *c)
{
	return c->slot == SS_NO_SLOT ? NULL : &c->t->sess[c->slot];
}

static int ctx_established(const struct rx_ctx *c)
{
	return c->slot != SS_NO_SLOT && c->t->sess[c->slot].state == SS_ESTABLISHED;
}

static void reply(struct rx_ctx *c, uint16_t tid, const void *body, uint16_t blen)
{
	struct dest d = ctx_dest(c);
	uint8_t m[TKX_MAX_MSG_LEN];

	tx_session(c->t, &d, m, enc(m, tid, body, blen), c->out);
}

/* A numbered reply of the session layer's own to the message just taken: at once when
 * nothing the session took before is unanswered, else held behind it (invariant 15). */
static void local_reply(struct rx_ctx *c, uint16_t tid, const void *body, uint16_t blen)
{
	struct ss_aux *x = &c->t->aux[c->slot];

	if (x->held || x->inflight) {
		struct dp_order o;
		int rc = dp_order_local_pack(&o, c->t->core, c->slot, tid, body, blen, c->now);

		assert(rc == 0); /* every local reply fits (dp_msg.h) */
		(void)rc;
		hold_push(c->t, c->slot, &o, c->now);
		return;
	}
	tx_local(c->t, c->slot, tid, body, blen, c->now, c->out, 1);
}

/* BusinessReject: numbered when the peer's session is established, else unnumbered. */
static void business_reject(struct rx_ctx *c, uint64_t ref_seq, uint16_t ref_tid,
			    uint16_t reason)
{
	struct tkx_business_reject br = {
		.ref_seq_no = ref_seq,
		.transact_time = c->now,
		.ref_template_id = ref_tid,
		.reason = reason,
	};

	if (ctx_established(c))
		local_reply(c, TKX_BUSINESS_REJECT, &br, sizeof(br));
	else
		reply(c, TKX_BUSINESS_REJECT, &br, sizeof(br));
}

/* The exchange ends the session (after the replies to everything it took, invariant 15);
 * the rest of the datagram is dropped. */
static void exchange_terminate(struct rx_ctx *c, uint16_t reason)
{
	end_session(c->t, c->slot, 1, reason, SS_LOG_TERMINATED, reason, c->now, c->out);
	c->slot = SS_NO_SLOT;
	c->stop = 1;
}

static void negotiate_reject_log(struct rx_ctx *c, const struct tkx_negotiate *n, uint16_t why,
				 uint16_t code)
{
	struct tkx_negotiation_reject r = {
		.session_id = n->session_id,
		.request_timestamp = n->timestamp,
		.reason = why,
	};

	reply(c, TKX_NEGOTIATION_REJECT, &r, sizeof(r));
	log_put(c->t, c->now, code, why, n->session_id, n->firm_id, c->slot, c->peer);
}

static void negotiate_reject(struct rx_ctx *c, const struct tkx_negotiate *n, uint16_t why)
{
	negotiate_reject_log(c, n, why, SS_LOG_NEGOTIATE_REJECT);
}

/* How many inbound numbers a client's next_seq_no x skips (0 when x is not above the
 * expected number). */
static inline uint64_t inbound_jump(const struct ss_sess *s, uint64_t x)
{
	return x > s->next_in ? x - s->next_in : 0;
}

/* NotApplied(from, count): count fits (the callers refused larger jumps). */
static void not_applied(struct rx_ctx *c, uint64_t from, uint64_t count)
{
	struct tkx_not_applied na = { .from_seq_no = from, .count = (uint32_t)count };

	assert(count && count <= UINT32_MAX);
	reply(c, TKX_NOT_APPLIED, &na, sizeof(na));
	STAT(c->t, gaps);
	STAT_ADD(c->t, gap_msgs, count);
}

/* ---- Datagram authentication (invariant 16) ----------------------------------------- */

/*
 * A Negotiate that passed the other checks, for the session in slot (SS_NO_SLOT: a new
 * session): 0, with *fresh set when new keys were derived into *k (auth_install() them
 * once the Negotiate is accepted), or the NegotiationReject reason. Keys derived from an
 * older Negotiate than the session's would bring its old counters back: refused.
 */
static uint16_t auth_negotiate(struct ss_table *t, uint16_t slot, const struct ss_firm *f,
			       const struct tkx_negotiate *n, struct tkx_auth_keys *k, int *fresh)
{
	const struct ss_auth *a;

	*fresh = 0;
	if (!t->auth)
		return 0;
	a = slot == SS_NO_SLOT ? NULL : &t->auth[slot];
	if (a && a->keyed) {
		if (n->timestamp < a->key_ts) {
			STAT(t, neg_stale);
			return TKX_SREJ_STALE_TIMESTAMP;
		}
		if (n->timestamp == a->key_ts)
			return 0; /* the same Negotiate again: same keys, counters go on */
	}
	if (tkx_auth_derive(f->key, f->key_len, n->session_id, n->firm_id, n->timestamp, k) != 0)
		return TKX_SREJ_UNSPECIFIED;
	*fresh = 1;
	return 0;
}

static void auth_install(struct ss_table *t, uint16_t slot, const struct tkx_auth_keys *k,
			 uint64_t ts)
{
	struct ss_auth *a = &t->auth[slot];

	memset(a, 0, sizeof(*a));
	a->keys = *k;
	a->key_ts = ts;
	a->keyed = 1;
	STAT(t, auth_rekeys);
}

/* Whether every message of p[0, len) is a Negotiate or an Establish (headers only). */
static int auth_logons_only(const uint8_t *p, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct tkx_hdr h;

		if (len - off < TKX_HDR_LEN)
			return 0;
		memcpy(&h, p + off, sizeof(h));
		if (h.template_id != TKX_NEGOTIATE && h.template_id != TKX_ESTABLISH)
			return 0;
		off += TKX_HDR_LEN + (size_t)h.block_length;
	}
	return off == len;
}

/*
 * Invariant 13 for one datagram from the address whose live session is slot (SS_NO_SLOT:
 * none): how many of its bytes to process (a DatagramAuth stripped), or -1 to drop it
 * whole, counted and unanswered.
 */
static long auth_rx(struct ss_table *t, uint16_t slot, const uint8_t *p, size_t len)
{
	struct ss_auth *a;
	uint64_t ctr;
	int off;

	if (!t->auth) {
		off = t->auth_strip ? tkx_auth_find(p, len) : -ENOENT;
		return off >= 0 ? off : (long)len;
	}
	a = slot == SS_NO_SLOT ? NULL : &t->auth[slot];
	if (!a || !a->keyed) {
		if (tkx_auth_find(p, len) < 0)
			return (long)len; /* before a session: Negotiate, or answered as such */
		STAT(t, auth_no_session);
		return -1;
	}
	off = tkx_auth_open(a->keys.c2e, p, len, &ctr);
	if (off >= 0) {
		if (ctr <= a->rx_ctr) {
			STAT(t, auth_replay);
			return -1;
		}
		a->rx_ctr = ctr;
		return off;
	}
	if (off == -EACCES) {
		STAT(t, auth_bad_mac);
		return -1;
	}
	if (auth_logons_only(p, len))
		return (long)len; /* signed one by one: a client that lost its keys logs on */
	STAT(t, auth_missing);
	return -1;
}

void ss_seal(struct ss_table *t, struct ss_out *out)
{
	uint32_t i;

	if (!t->auth)
		return;
	for (i = 0; i < out->n_bufs; i++) {
		struct ss_buf *b = &out->bufs[i];
		struct ss_auth *a;
		int n;

		if (b->kind == KIND_SEALED || b->slot == SS_NO_SLOT || peer_tcp(&b->peer))
			continue; /* sealed, to an address without a session, a TCP chunk */
		a = &t->auth[b->slot];
		if (!a->keyed)
			continue;
		n = tkx_auth_seal(a->keys.e2c, ++a->tx_ctr, b->bytes, b->len, SS_BUF_CAP);
		assert(n > 0); /* buffers are filled to SS_BUF_FILL at most */
		b->len = (uint16_t)n;
		b->kind = KIND_SEALED;
	}
}

static void on_negotiate(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_table *t = c->t;
	const struct tkx_negotiate *n = &m->negotiate;
	const struct ss_firm *f = firm_find(t, n->firm_id);
	struct tkx_negotiation_response resp;
	struct tkx_auth_keys keys;
	struct ss_sess *s;
	uint16_t slot, why;
	int fresh_keys;

	if (n->session_id == 0) {
		/* A session is named by a non-zero id (protocol 4.2). */
		STAT(t, neg_bad_session_id);
		negotiate_reject(c, n, TKX_SREJ_UNSPECIFIED);
		return;
	}
	if (!f) {
		STAT(t, neg_unknown_firm);
		negotiate_reject(c, n, TKX_SREJ_UNKNOWN_FIRM);
		return;
	}
	if (tkx_verify_msg(f->key, f->key_len, m) != 0) {
		STAT(t, neg_bad_credentials);
		negotiate_reject(c, n, TKX_SREJ_BAD_CREDENTIALS);
		return;
	}
	if (absdiff(c->now, n->timestamp) > t->ts_tol_ns) {
		STAT(t, neg_stale);
		negotiate_reject(c, n, TKX_SREJ_STALE_TIMESTAMP);
		return;
	}
	slot = id_find(t, n->session_id);
	s = slot == SS_NO_SLOT ? NULL : &t->sess[slot];
	if ((c->slot != SS_NO_SLOT && c->slot != slot) ||
	    (s && (s->firm_id != n->firm_id || s->state == SS_ESTABLISHED ||
		   (s->state == SS_NEGOTIATED && !peer_eq(&s->peer, c->peer))))) {
		STAT(t, neg_in_use);
		negotiate_reject(c, n, TKX_SREJ_SESSION_IN_USE);
		return;
	}
	if (s && n->timestamp <= t->aux[slot].logon_ts) {
		/* Not newer than a logon this session already accepted: a replay. */
		STAT(t, neg_replayed);
		negotiate_reject_log(c, n, TKX_SREJ_STALE_TIMESTAMP, SS_LOG_LOGON_REPLAYED);
		return;
	}
	if (n->timestamp <= t->logon_floor) {
		/* From before the owner started (invariant 14): its session may be gone. */
		STAT(t, neg_stale);
		negotiate_reject(c, n, TKX_SREJ_STALE_TIMESTAMP);
		return;
	}
	/* Keys for UDP datagrams only (invariant 12): a session that resumes on UDP after
	 * TCP negotiates there again, and gets them then. */
	fresh_keys = 0;
	why = peer_tcp(c->peer) ? 0 : auth_negotiate(t, s ? slot : SS_NO_SLOT, f, n, &keys,
						      &fresh_keys);
	if (why) {
		negotiate_reject(c, n, why);
		return;
	}
	if (!s) {
		why = 0;
		slot = slot_alloc(t, (unsigned)(f - t->firms), c->now, c->out, &why);
		if (slot == SS_NO_SLOT) {
			negotiate_reject(c, n, why);
			return;
		}
		s = &t->sess[slot];
		memset(s, 0, sizeof(*s));
		s->state = SS_TERMINATED; /* brought to NEGOTIATED below */
		s->session_id = n->session_id;
		s->firm_id = n->firm_id;
		s->firm_idx = (uint16_t)(f - t->firms);
		s->next_in = 1;
		s->next_out = 1;
		s->hint_ses = s->hint_app = NO_BUF;
		s->fifo_prev = s->fifo_next = SS_NO_SLOT;
		s->firm_prev = s->firm_next = SS_NO_SLOT;
		t->fs[s->firm_idx].held++;
		aux_reset(t, slot, 0);
		ht_insert(t, t->id_ht, home_id(t, slot), slot);
	}
	if (s->state == SS_TERMINATED) {
		term_del(t, slot);
		s->since = c->now;
		s->peer = *c->peer;
		ht_insert(t, t->peer_ht, home_peer(t, slot), slot);
		live_add(t, slot);
		s->state = SS_NEGOTIATED;
		c->slot = slot;
	}
	if (fresh_keys)
		auth_install(t, slot, &keys, n->timestamp);
	s->last_rx = c->now;
	t->aux[slot].logon_ts = n->timestamp;
	if (t->on_negotiated) /* recorded before the response can leave */
		t->on_negotiated(t->hook_arg, slot, s->session_id, s->firm_id, n->timestamp);
	resp = (struct tkx_negotiation_response){
		.session_id = n->session_id,
		.request_timestamp = n->timestamp,
		.firm_id = n->firm_id,
	};
	reply(c, TKX_NEGOTIATION_RESPONSE, &resp, sizeof(resp));
	STAT(t, neg_ok);
	log_sess(t, c->now, SS_LOG_NEGOTIATED, 0, slot);
}

static void on_establish(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_table *t = c->t;
	const struct tkx_establish *e = &m->establish;
	struct ss_sess *s = ctx_sess(c);
	uint64_t nx = e->next_seq_no ? e->next_seq_no : 1, gap, from;
	uint16_t why = 0;
	int replayed = 0;

	if (!s || s->session_id != e->session_id) {
		why = TKX_SREJ_NOT_NEGOTIATED;
		STAT(t, est_not_negotiated);
	} else if (tkx_verify_msg(t->firms[s->firm_idx].key, t->firms[s->firm_idx].key_len,
				  m) != 0) {
		why = TKX_SREJ_BAD_CREDENTIALS;
		STAT(t, est_bad_credentials);
	} else if (absdiff(c->now, e->timestamp) > t->ts_tol_ns) {
		why = TKX_SREJ_STALE_TIMESTAMP;
		STAT(t, est_stale);
	} else if (e->timestamp <= t->aux[c->slot].logon_ts) {
		/* Not newer than this session's last accepted Negotiate or Establish. */
		why = TKX_SREJ_STALE_TIMESTAMP;
		replayed = 1;
		STAT(t, est_replayed);
	} else if (e->keepalive_ms < t->keepalive_min_ms || e->keepalive_ms > t->keepalive_max_ms) {
		why = TKX_SREJ_BAD_KEEPALIVE;
		STAT(t, est_bad_keepalive);
	} else if (inbound_jump(s, nx) > UINT32_MAX) {
		/* One NotApplied could not report the numbers it skips (4.5, 4.7). */
		why = TKX_SREJ_UNSPECIFIED;
		STAT(t, seq_jump);
	}
	if (why) {
		struct tkx_establishment_reject r = {
			.session_id = e->session_id,
			.request_timestamp = e->timestamp,
			.reason = why,
		};

		reply(c, TKX_ESTABLISHMENT_REJECT, &r, sizeof(r));
		log_put(t, c->now, replayed ? SS_LOG_LOGON_REPLAYED : SS_LOG_ESTABLISH_REJECT, why,
			e->session_id, s ? s->firm_id : 0, c->slot, c->peer);
		return;
	}
	/* The inbound numbering starts at 1 and never moves back; a next_seq_no above it
	 * skips numbers, reported by a NotApplied after the ack, whose expected_seq_no is
	 * already the number after them (invariant 4, protocol 4.5). */
	gap = inbound_jump(s, nx);
	from = s->next_in;
	if (gap)
		s->next_in = nx;
	if (!(s->flags & SF_EVER_ESTABLISHED) && t->on_established)
		/* the journal's SESSION record */
		t->on_established(t->hook_arg, c->slot, s->session_id, s->firm_id, s->next_in);
	s->flags |= SF_EVER_ESTABLISHED;
	if (s->state != SS_ESTABLISHED)
		s->since = c->now;
	s->state = SS_ESTABLISHED;
	t->aux[c->slot].logon_ts = e->timestamp;
	s->cod = e->cancel_on_disconnect;
	s->keepalive_ms = e->keepalive_ms;
	s->last_rx = s->last_tx = c->now;
	{
		struct tkx_establishment_ack a = {
			.session_id = s->session_id,
			.request_timestamp = e->timestamp,
			.next_seq_no = s->next_out,
			.expected_seq_no = s->next_in,
			.keepalive_ms = e->keepalive_ms,
		};

		reply(c, TKX_ESTABLISHMENT_ACK, &a, sizeof(a));
	}
	if (gap)
		not_applied(c, from, gap);
	STAT(t, est_ok);
	log_sess(t, c->now, SS_LOG_ESTABLISHED, 0, c->slot);
}

static void on_sequence(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_sess *s = ctx_sess(c);
	uint64_t x = m->sequence.next_seq_no;

	if (!s) {
		STAT(c->t, rx_no_session);
		return;
	}
	if (s->state != SS_ESTABLISHED)
		return; /* a heartbeat: the timer was refreshed */
	if (peer_tcp(c->peer) && x < s->next_in) {
		/* TCP loses nothing: a number going back is a broken client. */
		exchange_terminate(c, TKX_TERM_SEQ_BELOW_EXPECTED);
		return;
	}
	if (inbound_jump(s, x) > UINT32_MAX) {
		/* One NotApplied could not report the numbers it skips. */
		STAT(c->t, seq_jump);
		exchange_terminate(c, TKX_TERM_PROTOCOL_ERROR);
		return;
	}
	if (x > s->next_in) {
		not_applied(c, s->next_in, x - s->next_in);
		s->next_in = x;
	}
	if (peer_tcp(c->peer))
		return; /* numbering on TCP stays implicit */
	c->cur = x;
	c->numbered = 1;
}

static void on_terminate(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_sess *s = ctx_sess(c);

	if (!s || s->session_id != m->terminate.session_id) {
		STAT(c->t, rx_no_session);
		return;
	}
	/* Answered Terminate FINISHED after the replies to what it sent before. */
	end_session(c->t, c->slot, 1, TKX_TERM_FINISHED, SS_LOG_CLIENT_TERMINATED,
		    m->terminate.reason, c->now, c->out);
	STAT(c->t, term_client);
	c->slot = SS_NO_SLOT;
	c->stop = 1;
}

static void retransmit(struct rx_ctx *c, const struct tkx_retransmit_request *r)
{
	struct ss_table *t = c->t;
	uint16_t slot = c->slot, h = NO_BUF;
	struct ss_sess *s = &t->sess[slot];
	struct tkx_retransmission rt = {
		.session_id = s->session_id,
		.request_timestamp = r->timestamp,
		.next_seq_no = r->from_seq_no,
		.count = r->count,
	};
	uint8_t m[TKX_HDR_LEN + sizeof(rt)];
	uint16_t mlen = ENC(m, TKX_RETRANSMISSION, rt);
	struct ss_buf *b;
	uint64_t q;

	if (peer_tcp(&s->peer)) {
		struct dest d = sess_dest(t, slot);

		tx_session(t, &d, m, mlen, c->out);
		for (q = r->from_seq_no; q < r->from_seq_no + r->count; q++) {
			const uint8_t *e = ring_entry(t, slot, q);
			uint16_t len = entry_len(e);

			b = buf_get(c->out, &s->peer, slot, KIND_STREAM, &s->hint_ses,
				    len + TKX_SOFH_LEN, 0);
			buf_put(b, e, len, 1);
		}
	} else {
		b = buf_get(c->out, &s->peer, slot, KIND_RETX, &h, SS_BUF_FILL, 0);
		buf_put(b, m, mlen, 0);
		STAT(t, tx_session);
		for (q = r->from_seq_no; q < r->from_seq_no + r->count; q++) {
			const uint8_t *e = ring_entry(t, slot, q);
			uint16_t len = entry_len(e);

			if (SS_BUF_FILL - b->len < len) {
				/* A continuation datagram numbers its messages itself. */
				struct tkx_sequence sq = { .next_seq_no = q };
				uint8_t sm[SEQ_MSG_LEN];

				h = NO_BUF;
				b = buf_get(c->out, &s->peer, slot, KIND_RETX, &h, SS_BUF_FILL, 0);
				buf_put(b, sm, ENC(sm, TKX_SEQUENCE, sq), 0);
			}
			buf_put(b, e, len, 0);
		}
	}
	s->last_tx = c->now;
	c->retrans_done = 1;
	STAT(t, retrans_ok);
	STAT_ADD(t, retrans_msgs, r->count);
}

static void on_retransmit_request(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_table *t = c->t;
	const struct tkx_retransmit_request *r = &m->retransmit_request;
	struct ss_sess *s = ctx_sess(c);
	uint16_t why = 0;

	if (!s || s->state != SS_ESTABLISHED || s->session_id != r->session_id) {
		why = TKX_SREJ_NOT_ESTABLISHED;
		STAT(t, retrans_not_established);
	} else if (t->no_retx) {
		/* The owner could not keep what it numbered last (a journal failure): those
		 * messages were never sent and must not be now. */
		why = TKX_SREJ_OUT_OF_RANGE;
		STAT(t, retrans_out_of_range);
	} else if (c->retrans_done) {
		why = TKX_SREJ_UNSPECIFIED;
		STAT(t, retrans_extra);
	} else if (r->count > t->retrans_max) {
		why = TKX_SREJ_TOO_MANY;
		STAT(t, retrans_too_many);
	} else {
		uint64_t depth = (uint64_t)t->ring_mask + 1;
		uint64_t lo = s->next_out > depth ? s->next_out - depth : 1;

		if (r->count == 0 || r->from_seq_no < lo || r->from_seq_no >= s->next_out ||
		    r->count > s->next_out - r->from_seq_no) {
			why = TKX_SREJ_OUT_OF_RANGE;
			STAT(t, retrans_out_of_range);
		}
	}
	if (why) {
		struct tkx_retransmit_reject rj = {
			.session_id = r->session_id,
			.request_timestamp = r->timestamp,
			.reason = why,
		};

		reply(c, TKX_RETRANSMIT_REJECT, &rj, sizeof(rj));
		return;
	}
	retransmit(c, r);
}

/* The inbound number of the next application message (invariant 4). */
static uint64_t next_inbound(struct rx_ctx *c, struct ss_sess *s)
{
	uint64_t seq;

	c->late = 0;
	if (peer_tcp(c->peer))
		return s->next_in++;
	if (!c->numbered) {
		c->cur = s->next_in;
		c->numbered = 1;
	}
	seq = c->cur++;
	c->late = seq < s->next_in;
	if (!c->late)
		s->next_in = seq + 1;
	return seq;
}

static uint64_t req_cl_ord_id(const struct tkx_msg *m)
{
	switch (m->template_id) {
	case TKX_NEW_ORDER: return m->new_order.cl_ord_id;
	case TKX_CANCEL_ORDER: return m->cancel_order.cl_ord_id;
	case TKX_MODIFY_ORDER: return m->modify_order.cl_ord_id;
	default: return m->mass_cancel.cl_ord_id;
	}
}

static void exec_reject(struct rx_ctx *c, const struct tkx_msg *m, uint16_t reason)
{
	struct tkx_exec_reject r = {
		.cl_ord_id = req_cl_ord_id(m),
		.transact_time = c->now,
		.reason = reason,
		.ref_template_id = m->template_id,
	};

	switch (m->template_id) {
	case TKX_NEW_ORDER:
		r.contract_id = m->new_order.contract_id;
		break;
	case TKX_CANCEL_ORDER:
		r.order_id = m->cancel_order.order_id;
		r.contract_id = m->cancel_order.contract_id;
		break;
	case TKX_MODIFY_ORDER:
		r.order_id = m->modify_order.order_id;
		r.contract_id = m->modify_order.contract_id;
		break;
	default:
		r.contract_id = m->mass_cancel.contract_id;
		break;
	}
	local_reply(c, TKX_EXEC_REJECT, &r, sizeof(r));
}

/* The dp_order of an accepted request (invariant 6's last step). */
static void fill_order(struct rx_ctx *c, struct ss_sess *s, const struct tkx_msg *m,
		       uint64_t seq, struct dp_order *o)
{
	memset(o, 0, sizeof(*o));
	o->src = c->t->core;
	o->session = c->slot;
	o->firm_id = s->firm_id;
	o->rx_time = c->now;
	o->in_seq = seq;
	switch (m->template_id) {
	case TKX_NEW_ORDER: {
		const struct tkx_new_order *n = &m->new_order;

		o->type = DP_ORD_NEW;
		o->side = n->side;
		o->tif = n->tif;
		o->contract_id = n->contract_id;
		o->account = n->account;
		o->qty = n->qty;
		o->cl_ord_id = n->cl_ord_id;
		o->price = n->price;
		dp_order_set_type(o, n->show_qty, n->stop_price);
		s->flags |= SF_MAY_HAVE_ORDERS;
		break;
	}
	case TKX_CANCEL_ORDER:
		o->type = DP_ORD_CANCEL;
		o->contract_id = m->cancel_order.contract_id;
		o->cl_ord_id = m->cancel_order.cl_ord_id;
		o->order_id = m->cancel_order.order_id;
		break;
	case TKX_MODIFY_ORDER:
		o->type = DP_ORD_MODIFY;
		o->contract_id = m->modify_order.contract_id;
		o->qty = m->modify_order.qty;
		o->cl_ord_id = m->modify_order.cl_ord_id;
		o->order_id = m->modify_order.order_id;
		o->price = m->modify_order.price;
		break;
	default:
		o->type = DP_ORD_MASS_CANCEL;
		o->side = m->mass_cancel.side;
		o->scope = m->mass_cancel.scope;
		o->contract_id = m->mass_cancel.contract_id;
		o->account = m->mass_cancel.account;
		o->cl_ord_id = m->mass_cancel.cl_ord_id;
		break;
	}
}

/* Forwards the accepted request, or holds it behind the session's held replies so that
 * its replies cannot overtake them (invariant 15). */
static void forward(struct rx_ctx *c, struct ss_sess *s, const struct tkx_msg *m, uint64_t seq)
{
	struct ss_aux *x = &c->t->aux[c->slot];
	struct dp_order o;

	fill_order(c, s, m, seq, &o);
	if (x->held) {
		hold_push(c->t, c->slot, &o, c->now);
		return;
	}
	c->out->orders[c->out->n_orders++] = o;
	x->inflight++;
	STAT(c->t, app_forwarded);
}

/* Throttle, GCRA form of a token bucket: a message conforms when the theoretical arrival
 * time is at most tau ahead of now; each conforming message pushes it by one interval. */
static int throttled(const struct ss_table *t, struct ss_sess *s, uint64_t now)
{
	uint64_t tat;

	if (!t->thr_interval)
		return 0;
	tat = s->tat > now ? s->tat : now;
	if (tat - now > t->thr_tau)
		return 1;
	s->tat = tat + t->thr_interval;
	return 0;
}

static void on_app(struct rx_ctx *c, const struct tkx_msg *m)
{
	struct ss_table *t = c->t;
	struct ss_sess *s = ctx_sess(c);
	uint64_t seq, cl;
	uint16_t reason = 0;
	int rc;

	if (!s || s->state != SS_ESTABLISHED) {
		STAT(t, not_established);
		business_reject(c, 0, m->template_id, TKX_BREJ_NOT_ESTABLISHED);
		return;
	}
	seq = next_inbound(c, s);
	if (c->late) {
		/* Below the expected number: a duplicated datagram, or a late one whose
		 * numbers were already reported NotApplied. Never applied (invariant 4); a
		 * request the session already forwarded is answered, so a client resending
		 * is told it was done before, and anything else is dropped and counted. */
		if (req_cl_ord_id(m) <= s->last_cl_ord_id) {
			STAT(t, clordid_reused);
			exec_reject(c, m, TKX_REJ_CLORDID_REUSED);
		} else {
			STAT(t, rx_late);
		}
		return;
	}
	if (throttled(t, s, c->now)) {
		STAT(t, throttled);
		if (since(c->now, s->thr_win) >= NS_PER_S || c->now < s->thr_win) {
			s->thr_win = c->now;
			s->thr_count = 0;
		}
		if (++s->thr_count > t->throttle_grace) {
			STAT(t, term_throttle);
			exchange_terminate(c, TKX_TERM_THROTTLE);
			return;
		}
		exec_reject(c, m, TKX_REJ_THROTTLED);
		return;
	}
	rc = tkx_validate(m, &reason);
	if (rc == -EINVAL) {
		STAT(t, app_invalid);
		exec_reject(c, m, reason);
		return;
	}
	if (rc != 0) {
		STAT(t, invalid_field);
		business_reject(c, seq, m->template_id, TKX_BREJ_INVALID_FIELD);
		return;
	}
	cl = req_cl_ord_id(m);
	if (cl <= s->last_cl_ord_id) {
		STAT(t, clordid_reused);
		exec_reject(c, m, TKX_REJ_CLORDID_REUSED);
		return;
	}
	s->last_cl_ord_id = cl;
	forward(c, s, m, seq);
}

static void dispatch(struct rx_ctx *c, const struct tkx_msg *m)
{
	uint16_t tid = m->template_id;
	int dir = tkx_template_dir(tid);

	if (dir < 0 || !(dir & TKX_DIR_C2E)) {
		/* No inbound number: the client numbers its templates 100-199 only
		 * (protocol 4.6), so this one must not shift the numbers after it. */
		STAT(c->t, wrong_direction);
		business_reject(c, 0, tid, TKX_BREJ_WRONG_DIRECTION);
		return;
	}
	if (tid >= TKX_NEW_ORDER) {
		on_app(c, m); /* validated after the state and throttle checks (invariant 6) */
		return;
	}
	if (tkx_validate(m, NULL) != 0) {
		STAT(c->t, invalid_field);
		business_reject(c, 0, tid, TKX_BREJ_INVALID_FIELD);
		return;
	}
	switch (tid) {
	case TKX_NEGOTIATE:
		on_negotiate(c, m);
		break;
	case TKX_ESTABLISH:
		on_establish(c, m);
		break;
	case TKX_SEQUENCE:
		on_sequence(c, m);
		break;
	case TKX_RETRANSMIT_REQUEST:
		on_retransmit_request(c, m);
		break;
	case TKX_TERMINATE:
		on_terminate(c, m);
		break;
	case TKX_DATAGRAM_AUTH:
		/* Only the last message of a UDP datagram, consumed before dispatch. */
		STAT(c->t, auth_misplaced);
		business_reject(c, 0, tid, TKX_BREJ_UNSUPPORTED);
		break;
	default:
		assert(0 && "client->exchange template without a handler");
		break;
	}
}

int ss_rx(struct ss_table *t, const struct ss_peer *peer, const void *payload, size_t len,
	  uint64_t now_ns, struct ss_out *out)
{
	struct rx_ctx c = {
		.t = t,
		.out = out,
		.peer = peer,
		.now = now_ns,
		.hint_ses = NO_BUF,
		.hint_app = NO_BUF,
	};
	struct tkx_dgram_iter it;
	struct tkx_msg m;
	int rc, n = 0;
	long alen;

	if (len > TKX_MAX_DGRAM) {
		STAT(t, rx_oversize);
		return 0;
	}
	if (!room(out, rx_need_bufs(t, len), rx_need_orders(len)))
		return -ENOBUFS;
	c.slot = peer_find(t, peer);
	if (c.slot != SS_NO_SLOT) {
		const struct ss_aux *x = &t->aux[c.slot];
		/* Requests the payload may hold (the smallest is 32 bytes). */
		uint32_t need = peer_tcp(peer) ? 1 : (uint32_t)(len / (TKX_HDR_LEN + 24));

		if (x->closing) {
			/* Its end waits for replies (invariant 15): nothing more is taken. */
			STAT(t, rx_after_terminate);
			return 0;
		}
		if (t->sess[c.slot].state == SS_ESTABLISHED &&
		    (unanswered(x) + need > t->unans_max || t->n_hold_free < need)) {
			STAT(t, rx_backpressure);
			return -EAGAIN;
		}
	}
	if (!peer_tcp(peer)) {
		alen = auth_rx(t, c.slot, payload, len); /* invariant 16 */
		if (alen < 0)
			return 0;
		len = (size_t)alen;
	}
	if (peer_tcp(peer))
		STAT(t, rx_frames);
	else
		STAT(t, rx_dgrams);
	tkx_dgram_init(&it, payload, len);
	while ((rc = tkx_dgram_next(&it, &m)) > 0) {
		n++;
		STAT(t, rx_msgs);
		if (c.slot != SS_NO_SLOT)
			t->sess[c.slot].last_rx = now_ns; /* invariant 8 */
		dispatch(&c, &m);
		if (c.stop) {
			if (it.off < len)
				STAT(t, rx_after_terminate);
			return n;
		}
	}
	switch (rc) {
	case 0:
		break;
	case -ENODATA:
		STAT(t, rx_truncated);
		break;
	case -EPROTO:
		STAT(t, rx_bad_schema);
		break;
	case -ENOMSG:
		STAT(t, rx_unknown_template);
		break;
	default:
		STAT(t, rx_bad_block_length);
		break;
	}
	return n;
}

/* ---- From matching cores, and timers ------------------------------------------------- */

unsigned ss_event(struct ss_table *t, const struct dp_event *ev, unsigned n, uint64_t now_ns,
		  struct ss_out *out)
{
	unsigned i;

	for (i = 0; i < n; i++) {
		const struct dp_event *e = &ev[i];
		uint16_t blen = event_blen(e->template_id);
		int done = (e->pad[1] & DP_EV_DONE) != 0;
		struct ss_aux *x;

		if (e->pad[0] == DP_EV_DETACHED && e->src == t->core &&
		    e->session < t->max_sessions) {
			detached(t, e); /* invariant 9 */
			continue;
		}
		if (e->template_id == 0 && done && e->src == t->core &&
		    e->session < t->max_sessions && t->sess[e->session].state != SS_FREE) {
			/* A request's end, on an event of its own (dp_msg.h DP_EV_DONE). */
			answered(t, e->session, &t->aux[e->session].inflight);
			continue;
		}
		if (!blen || e->src != t->core || e->session >= t->max_sessions ||
		    t->sess[e->session].state == SS_FREE) {
			if (e->session < t->max_sessions && e->src == t->core &&
			    (t->sess[e->session].flags & SF_DETACHING))
				STAT(t, ev_forgotten); /* sent before its core detached it */
			else
				STAT(t, ev_dropped);
			continue;
		}
		if (t->sess[e->session].state == SS_ESTABLISHED && !room(out, 1, 0))
			break;
		x = &t->aux[e->session];
		if (e->template_id == TKX_MASS_CANCEL_ACK && e->parts > 1) {
			/* A mass cancel of every contract went to each matching core: the client
			 * gets one MassCancelAck, with the total, when the last part is in; the
			 * request is answered then. */
			struct ss_sess *s = &t->sess[e->session];
			struct tkx_mass_cancel_ack ack = e->u.mass_ack;
			if (s->mass_left == 0 || s->mass_cl != ack.cl_ord_id) {
				s->mass_cl = ack.cl_ord_id;
				s->mass_left = e->parts;
				s->mass_count = 0;
			}
			s->mass_count += ack.count;
			if (--s->mass_left)
				continue;
			ack.count = s->mass_count;
			tx_app(t, e->session, e->template_id, &ack, blen, now_ns, out);
			if (done)
				answered(t, e->session, &x->inflight);
			continue;
		}
		tx_app(t, e->session, e->template_id, e->u.raw, blen, now_ns, out);
		if (done)
			answered(t, e->session, &x->inflight);
	}
	return i;
}

static uint16_t order_template(uint8_t type)
{
	switch (type) {
	case DP_ORD_NEW: return TKX_NEW_ORDER;
	case DP_ORD_CANCEL: return TKX_CANCEL_ORDER;
	case DP_ORD_MODIFY: return TKX_MODIFY_ORDER;
	case DP_ORD_MASS_CANCEL: return TKX_MASS_CANCEL;
	default: return 0;
	}
}

int ss_reject_order(struct ss_table *t, const struct dp_order *o, uint16_t reason,
		    uint64_t now_ns, struct ss_out *out)
{
	uint16_t tid = order_template(o->type);
	struct tkx_exec_reject r;

	if (!tid)
		return -EINVAL;
	if (o->src != t->core || o->session >= t->max_sessions ||
	    t->sess[o->session].state == SS_FREE)
		return -ENOENT;
	if (!room(out, 1, 0))
		return -ENOBUFS;
	r = (struct tkx_exec_reject){
		.cl_ord_id = o->cl_ord_id,
		.transact_time = now_ns,
		.order_id = o->type == DP_ORD_NEW ? 0 : o->order_id, /* NEW: its type's value */
		.contract_id = o->contract_id,
		.reason = reason,
		.ref_template_id = tid,
	};
	/* Replay makes it again by itself, so it is not reported. It answers a forwarded request: what
	 * the session holds behind it may go (at the next ss_event() or ss_tick(): out is
	 * the caller's routing in progress). */
	tx_local(t, o->session, TKX_EXEC_REJECT, &r, sizeof(r), now_ns, out, 0);
	if (t->aux[o->session].inflight)
		t->aux[o->session].inflight--;
	if (t->aux[o->session].held || t->aux[o->session].closing)
		ready_add(t, o->session);
	STAT(t, order_rejects);
	return 0;
}

int ss_tick(struct ss_table *t, uint64_t now_ns, struct ss_out *out)
{
	uint32_t i = 0;
	int acted = 0;

	if (release_ready(t, now_ns, out) == -ENOBUFS)
		return -ENOBUFS;
	while (i < t->n_live) {
		uint16_t slot = t->live[i];
		struct ss_sess *s = &t->sess[slot];
		struct ss_aux *x = &t->aux[slot];

		if ((x->held || x->closing) && x->inflight &&
		    since(now_ns, x->hold_since) > t->hold_max_ns) {
			/* Backstop: what its queue waits for is not coming (a journal that
			 * failed discards replies): it goes now (invariant 15). */
			x->inflight = 0;
			STAT(t, hold_timeouts);
			acted++;
			if (hold_release(t, slot, now_ns, out) == -ENOBUFS) {
				ready_add(t, slot);
				return -ENOBUFS;
			}
			if (i >= t->n_live || t->live[i] != slot)
				continue; /* it ended: live[i] is now another slot */
		}
		if (x->closing) {
			i++; /* its end waits at the tail of its queue */
			continue;
		}
		if (s->state == SS_ESTABLISHED) {
			uint64_t ka = (uint64_t)s->keepalive_ms * NS_PER_MS;

			if (since(now_ns, s->last_rx) > 3 * ka) {
				if (!room(out, 1, 1))
					return -ENOBUFS;
				STAT(t, term_keepalive);
				acted++;
				if (end_session(t, slot, 1, TKX_TERM_KEEPALIVE_TIMEOUT,
						SS_LOG_TERMINATED, TKX_TERM_KEEPALIVE_TIMEOUT, now_ns,
						out))
					continue; /* live[i] is now another slot */
				i++;
				continue;
			}
			if (since(now_ns, s->last_tx) >= ka) {
				if (!room(out, 1, 0))
					return -ENOBUFS;
				send_heartbeat(t, slot, now_ns, out);
				acted++;
			}
		} else if (since(now_ns, s->last_rx) > 3 * (uint64_t)t->keepalive_max_ms * NS_PER_MS) {
			if (!room(out, 1, 1))
				return -ENOBUFS;
			send_terminate(t, slot, TKX_TERM_KEEPALIVE_TIMEOUT, out);
			close_session(t, slot, SS_LOG_EXPIRED, TKX_TERM_KEEPALIVE_TIMEOUT, now_ns,
				      out);
			STAT(t, neg_expired);
			acted++;
			continue;
		}
		i++;
	}
	int f = forget_ahead(t, now_ns, out);
	if (f < 0)
		return f;
	return acted + f;
}

int ss_disconnect(struct ss_table *t, const struct ss_peer *peer, uint64_t now_ns,
		  struct ss_out *out)
{
	uint16_t slot = peer_find(t, peer);

	if (slot == SS_NO_SLOT)
		return -ENOENT;
	if (t->aux[slot].closing)
		return 0; /* ending already, after its replies */
	if (!room(out, 0, 1))
		return -ENOBUFS;
	end_session(t, slot, 0, 0, SS_LOG_DISCONNECTED, 0, now_ns, out);
	STAT(t, term_disconnect);
	return 0;
}

int ss_drop(struct ss_table *t, uint64_t session_id, uint64_t now_ns, struct ss_out *out,
	    struct ss_info *was)
{
	uint16_t slot = id_find(t, session_id);
	struct ss_sess *s;

	if (slot == SS_NO_SLOT)
		return -ENOENT;
	if (!room(out, 1, 2))
		return -ENOBUFS;
	s = &t->sess[slot];
	if (was)
		ss_session_info(t, slot, was);
	log_sess(t, now_ns, SS_LOG_DROPPED, s->state, slot);
	STAT(t, dropped);
	if (s->state == SS_NEGOTIATED || s->state == SS_ESTABLISHED) {
		send_terminate(t, slot, TKX_TERM_UNSPECIFIED, out);
		close_session(t, slot, SS_LOG_TERMINATED, TKX_TERM_UNSPECIFIED, now_ns, out);
		if (!(s->flags & SF_EVER_ESTABLISHED)) {
			/* Never established: no orders to detach, the slot is FREE at once (the
			 * operator's choice over keeping its logon's timestamp, invariant 14). */
			reclaim(t, slot, now_ns);
			s->state = SS_FREE;
			t->free_stack[t->n_free++] = slot;
			return 1;
		}
	}
	forget(t, slot, SS_FORGET_OPERATOR, now_ns, out);
	return 0;
}

int ss_fence(struct ss_table *t, unsigned *cursor, struct ss_out *out)
{
	while (*cursor < t->n_live) {
		if (!room(out, 1, 0))
			return -ENOBUFS;
		uint16_t slot = t->live[(*cursor)++];
		if (t->sess[slot].state == SS_NEGOTIATED || t->sess[slot].state == SS_ESTABLISHED)
			send_terminate(t, slot, TKX_TERM_SHUTDOWN, out);
	}
	return 0;
}

/* ---- Set-up ------------------------------------------------------------------------------ */

void ss_params_default(struct ss_params *p)
{
	/* The venue's published values (tokex/venue.h), as tokexd's configuration. */
	memset(p, 0, sizeof(*p));
	p->max_sessions = TKX_VENUE_MAX_SESSIONS;
	p->keepalive_min_ms = TKX_VENUE_KEEPALIVE_MIN_MS;
	p->keepalive_max_ms = TKX_VENUE_KEEPALIVE_MAX_MS;
	p->throttle_rate = TKX_VENUE_THROTTLE_RATE;
	p->throttle_burst = TKX_VENUE_THROTTLE_BURST;
	p->throttle_grace = TKX_VENUE_THROTTLE_GRACE;
	p->retrans_depth = TKX_VENUE_RETRANSMIT_DEPTH;
	p->retrans_max = TKX_VENUE_RETRANSMIT_MAX;
	p->ts_tolerance_ms = TKX_VENUE_TS_TOLERANCE_MS;
	p->linger_ms = TKX_VENUE_LINGER_MS;
	p->log_depth = 1024;
	p->udp_auth = SS_AUTH_REQUIRED;
}

static int is_pow2(uint32_t x)
{
	return x && !(x & (x - 1));
}

static uint32_t retrans_bufs(uint32_t retrans_max)
{
	/* Retransmission + count framed messages, every buffer but the last filled to at
	 * least SS_BUF_CAP - 128 (see rx_need_bufs()). */
	return (uint32_t)((64 + (uint64_t)retrans_max * (SS_MSG_MAX + TKX_SOFH_LEN)) /
			  (SS_BUF_CAP - 128)) + 1;
}

struct layout {
	size_t firms, fs, sess, aux, auth, ring, peer_ht, id_ht, free_stack, live, log, hold,
		hold_next, hold_free, ready, total;
	uint32_t ht_size;
	uint32_t unans_max, hold_n;
};

/* Invariant 14's bounds: the requests a session may have unanswered, a quarter of its
 * retransmit ring (at least a datagram's worth), and a pool of held entries shared by the
 * table, sixteen sessions' worth at most 65536. */
static void hold_bounds(const struct ss_params *p, uint32_t *unans_max, uint32_t *hold_n)
{
	uint32_t u = p->retrans_depth / 4, k = p->max_sessions < 16 ? p->max_sessions : 16;

	if (u < SS_UNANSWERED_MIN)
		u = SS_UNANSWERED_MIN;
	if (u > 16384)
		u = 16384;
	*unans_max = u;
	*hold_n = (uint64_t)u * k + 1 > 65536 ? 65536 : u * k + 1;
}

static size_t align64(size_t x)
{
	return (x + 63) & ~(size_t)63;
}

static int check_params(const struct ss_params *p)
{
	uint32_t i, j;

	if (!p || p->max_sessions == 0 || p->max_sessions > SS_MAX_SESSIONS ||
	    (p->n_firms && !p->firms) ||
	    p->keepalive_min_ms == 0 || p->keepalive_min_ms > p->keepalive_max_ms ||
	    (p->throttle_rate && (p->throttle_burst == 0 || p->throttle_rate > NS_PER_S)) ||
	    !is_pow2(p->retrans_depth) || p->retrans_depth > (1u << 20) ||
	    p->retrans_max == 0 || p->retrans_max > p->retrans_depth ||
	    !is_pow2(p->log_depth) || p->log_depth > (1u << 24) || p->ts_tolerance_ms == 0 ||
	    p->udp_auth > SS_AUTH_REQUIRED)
		return -EINVAL;
	/* One ss_rx() of the largest datagram must fit an empty ss_out. */
	if ((2 * TKX_MAX_DGRAM + 64) / (SS_BUF_CAP - 128) + 4 + retrans_bufs(p->retrans_max) >
	    SS_OUT_BUFS)
		return -EINVAL;
	for (i = 0; i < p->n_firms; i++) {
		if (p->firms[i].key_len == 0 || p->firms[i].key_len > SS_KEY_MAX)
			return -EINVAL;
		for (j = 0; j < i; j++)
			if (p->firms[j].firm_id == p->firms[i].firm_id)
				return -EINVAL;
	}
	return 0;
}

static int layout(const struct ss_params *p, struct layout *l)
{
	size_t off = align64(sizeof(struct ss_table)), ring;

	if (check_params(p))
		return -EINVAL;
	l->ht_size = 2;
	while (l->ht_size < 2 * p->max_sessions)
		l->ht_size <<= 1;
	if (__builtin_mul_overflow((size_t)p->max_sessions * SS_MSG_MAX,
				   (size_t)p->retrans_depth, &ring))
		return -EINVAL;
#define PLACE(field, bytes)                     \
	do {                                    \
		l->field = off;                 \
		off = align64(off + (bytes));   \
	} while (0)
	PLACE(firms, (size_t)p->n_firms * sizeof(struct ss_firm));
	PLACE(fs, (size_t)p->n_firms * sizeof(struct ss_fstate));
	PLACE(sess, (size_t)p->max_sessions * sizeof(struct ss_sess));
	PLACE(aux, (size_t)p->max_sessions * sizeof(struct ss_aux));
	PLACE(auth, p->udp_auth == SS_AUTH_REQUIRED
			    ? (size_t)p->max_sessions * sizeof(struct ss_auth) : 0);
	PLACE(ring, ring);
	PLACE(peer_ht, (size_t)l->ht_size * sizeof(uint16_t));
	PLACE(id_ht, (size_t)l->ht_size * sizeof(uint16_t));
	PLACE(free_stack, (size_t)p->max_sessions * sizeof(uint16_t));
	PLACE(live, (size_t)p->max_sessions * sizeof(uint16_t));
	PLACE(log, (size_t)p->log_depth * sizeof(struct ss_log));
	hold_bounds(p, &l->unans_max, &l->hold_n);
	PLACE(hold, (size_t)l->hold_n * sizeof(struct dp_order));
	PLACE(hold_next, (size_t)l->hold_n * sizeof(uint32_t));
	PLACE(hold_free, (size_t)l->hold_n * sizeof(uint32_t));
	PLACE(ready, (size_t)p->max_sessions * sizeof(uint16_t));
#undef PLACE
	l->total = off;
	return 0;
}

size_t ss_table_memsize(const struct ss_params *p)
{
	struct layout l;

	if (layout(p, &l)) {
		errno = EINVAL;
		return 0;
	}
	return l.total;
}

static int firm_cmp(const void *a, const void *b)
{
	uint32_t x = ((const struct ss_firm *)a)->firm_id, y = ((const struct ss_firm *)b)->firm_id;

	return (x > y) - (x < y);
}

struct ss_table *ss_table_init(void *mem, size_t len, const struct ss_params *p)
{
	struct ss_table *t = mem;
	uint8_t *base = mem;
	struct layout l;
	uint32_t i;

	if (!mem || ((uintptr_t)mem & 63) || layout(p, &l) || len < l.total) {
		errno = EINVAL;
		return NULL;
	}
	memset(mem, 0, l.total);
	t->max_sessions = p->max_sessions;
	t->n_firms = p->n_firms;
	t->ht_mask = l.ht_size - 1;
	t->hash_seed = p->hash_seed;
	t->ring_mask = p->retrans_depth - 1;
	t->ring_shift = (uint32_t)__builtin_ctz(p->retrans_depth);
	t->retrans_max = p->retrans_max;
	t->retrans_bufs = retrans_bufs(p->retrans_max);
	t->log_mask = p->log_depth - 1;
	t->keepalive_min_ms = p->keepalive_min_ms;
	t->keepalive_max_ms = p->keepalive_max_ms;
	t->throttle_grace = p->throttle_grace;
	t->core = p->core;
	if (p->throttle_rate) {
		t->thr_interval = NS_PER_S / p->throttle_rate;
		t->thr_tau = (uint64_t)(p->throttle_burst - 1) * t->thr_interval;
	}
	t->ts_tol_ns = (uint64_t)p->ts_tolerance_ms * NS_PER_MS;
	/* A slot is forgotten no sooner than the timestamp tolerance after its session
	 * ended: by then every Negotiate it accepted is stale anyway, so forgetting its
	 * newest timestamp (ss_aux.logon_ts) cannot let a captured one be replayed. */
	t->linger_ns = (uint64_t)(p->linger_ms > p->ts_tolerance_ms ? p->linger_ms
								      : p->ts_tolerance_ms) *
		       NS_PER_MS;
	t->on_established = p->on_established;
	t->on_local_reply = p->on_local_reply;
	t->on_negotiated = p->on_negotiated;
	t->hook_arg = p->hook_arg;

	t->firms = (struct ss_firm *)(base + l.firms);
	t->fs = (struct ss_fstate *)(base + l.fs);
	t->sess = (struct ss_sess *)(base + l.sess);
	t->aux = (struct ss_aux *)(base + l.aux);
	if (p->udp_auth == SS_AUTH_REQUIRED)
		t->auth = (struct ss_auth *)(base + l.auth);
	t->auth_strip = p->udp_auth == SS_AUTH_OFF;
	t->logon_floor = p->logon_floor_ns;
	t->ring = (uint8_t(*)[SS_MSG_MAX])(base + l.ring);
	t->peer_ht = (uint16_t *)(base + l.peer_ht);
	t->id_ht = (uint16_t *)(base + l.id_ht);
	t->free_stack = (uint16_t *)(base + l.free_stack);
	t->live = (uint16_t *)(base + l.live);
	t->log = (struct ss_log *)(base + l.log);
	t->hold = (struct dp_order *)(base + l.hold);
	t->hold_next = (uint32_t *)(base + l.hold_next);
	t->hold_free = (uint32_t *)(base + l.hold_free);
	t->ready = (uint16_t *)(base + l.ready);
	t->hold_n = l.hold_n;
	t->unans_max = l.unans_max;
	t->hold_max_ns = 3 * (uint64_t)p->keepalive_max_ms * NS_PER_MS;
	for (i = 0; i < l.hold_n; i++)
		t->hold_free[i] = l.hold_n - 1 - i;
	t->n_hold_free = l.hold_n;

	if (p->n_firms) {
		memcpy(t->firms, p->firms, (size_t)p->n_firms * sizeof(struct ss_firm));
		qsort(t->firms, p->n_firms, sizeof(struct ss_firm), firm_cmp);
	}
	for (i = 0; i < p->n_firms; i++) {
		t->fs[i].limit = t->firms[i].max_sessions ? t->firms[i].max_sessions
							  : p->firm_sessions;
		t->fs[i].head = t->fs[i].tail = SS_NO_SLOT;
	}
	for (i = 0; i < l.ht_size; i++)
		t->peer_ht[i] = t->id_ht[i] = SS_NO_SLOT;
	/* Pushed in reverse so that slot 0 is used first. */
	for (i = 0; i < p->max_sessions; i++) {
		struct ss_sess *s = &t->sess[i];

		s->hint_ses = s->hint_app = NO_BUF;
		s->fifo_prev = s->fifo_next = SS_NO_SLOT;
		s->firm_prev = s->firm_next = SS_NO_SLOT;
		aux_reset(t, (uint16_t)i, 0);
		t->free_stack[i] = (uint16_t)(p->max_sessions - 1 - i);
	}
	t->n_free = p->max_sessions;
	t->fifo.head = t->fifo.tail = SS_NO_SLOT;
	t->dirty.head = t->dirty.tail = SS_NO_SLOT;
	return t;
}

/* ---- Recovery ---------------------------------------------------------------------------- */

/* Takes slot out of whatever holds it (FREE stack, detaching, the lists, the id index,
 * its firm's count). */
static int restore_vacate(struct ss_table *t, uint16_t slot)
{
	struct ss_sess *s = &t->sess[slot];

	if (s->state == SS_NEGOTIATED || s->state == SS_ESTABLISHED)
		return -EBUSY;
	if (s->state == SS_FREE) {
		if (s->flags & SF_DETACHING) {
			s->flags = 0;
			t->fs[s->firm_idx].detaching--;
			t->n_detaching--;
			return 0;
		}
		for (uint32_t i = 0; i < t->n_free; i++)
			if (t->free_stack[i] == slot) {
				memmove(&t->free_stack[i], &t->free_stack[i + 1],
					(t->n_free - i - 1) * sizeof(t->free_stack[0]));
				t->n_free--;
				break;
			}
		return 0;
	}
	term_del(t, slot);
	ht_erase(t, t->id_ht, home_id, slot);
	t->fs[s->firm_idx].held--;
	return 0;
}

int ss_restore_session(struct ss_table *t, unsigned slot, uint64_t session_id, uint32_t firm_id,
		       uint64_t next_in, uint64_t now_ns)
{
	const struct ss_firm *f;
	uint16_t old;
	struct ss_sess *s;
	uint64_t logon_ts;
	int rc;

	if (slot >= t->max_sessions || session_id == 0)
		return -EINVAL;
	f = firm_find(t, firm_id);
	if (!f)
		return -ENOENT;
	old = id_find(t, session_id);
	logon_ts = old != SS_NO_SLOT ? t->aux[old].logon_ts : 0;
	if (old != SS_NO_SLOT && old != slot) {
		/* The id moved (its old slot was reclaimed or expired): free the old one. */
		rc = restore_vacate(t, old);
		if (rc)
			return rc;
		t->sess[old].state = SS_FREE;
		t->sess[old].flags = 0;
		t->free_stack[t->n_free++] = old;
	}
	rc = restore_vacate(t, (uint16_t)slot);
	if (rc)
		return rc;
	s = &t->sess[slot];
	memset(s, 0, sizeof(*s));
	s->state = SS_TERMINATED;
	s->flags = SF_EVER_ESTABLISHED;
	s->session_id = session_id;
	s->firm_id = firm_id;
	s->firm_idx = (uint16_t)(f - t->firms);
	s->next_in = next_in ? next_in : 1;
	s->next_out = 1;
	s->term_time = s->since = now_ns;
	s->hint_ses = s->hint_app = NO_BUF;
	s->fifo_prev = s->fifo_next = SS_NO_SLOT;
	s->firm_prev = s->firm_next = SS_NO_SLOT;
	aux_reset(t, (uint16_t)slot, logon_ts);
	ht_insert(t, t->id_ht, home_id(t, (uint16_t)slot), (uint16_t)slot);
	t->fs[s->firm_idx].held++;
	term_add(t, (uint16_t)slot);
	return 0;
}

int ss_restore_logon(struct ss_table *t, unsigned slot, uint64_t session_id, uint32_t firm_id,
		     uint64_t timestamp, uint64_t now_ns)
{
	struct ss_aux *x;

	if (slot >= t->max_sessions || session_id == 0)
		return -EINVAL;
	if (t->sess[slot].state == SS_FREE || t->sess[slot].session_id != session_id) {
		int rc = ss_restore_session(t, slot, session_id, firm_id, 1, now_ns);

		if (rc)
			return rc;
	}
	x = &t->aux[slot];
	if (timestamp > x->logon_ts)
		x->logon_ts = timestamp;
	return 0;
}

int ss_restore_order(struct ss_table *t, const struct dp_order *o)
{
	struct ss_sess *s;

	if (o->src != t->core || o->session >= t->max_sessions ||
	    t->sess[o->session].state == SS_FREE)
		return -ENOENT;
	s = &t->sess[o->session];
	if (o->type == DP_ORD_SESSION_GONE) {
		if (!(o->scope & DP_GONE_KEEP))
			set_may_have_orders(t, o->session, 0);
		/* A session forgotten (ss_drop(), or for room): as live, its slot detaching
		 * until the cores' answers, which replay makes too. */
		if ((o->scope & DP_GONE_ACK) && s->session_id == o->order_id &&
		    s->state == SS_TERMINATED)
			forget(t, o->session, o->in_seq ? (uint16_t)o->in_seq : SS_FORGET_OPERATOR,
			       o->rx_time, NULL);
		return 0;
	}
	if (o->in_seq >= s->next_in)
		s->next_in = o->in_seq + 1;
	if (o->cl_ord_id > s->last_cl_ord_id)
		s->last_cl_ord_id = o->cl_ord_id;
	if (o->type == DP_ORD_NEW)
		set_may_have_orders(t, o->session, 1);
	return 0;
}

void ss_forget_replies(struct ss_table *t)
{
	for (uint32_t slot = 0; slot < t->max_sessions; slot++) {
		struct ss_aux *x = &t->aux[slot];

		x->inflight = 0;
		if (x->held || x->closing)
			ready_add(t, (uint16_t)slot);
	}
}

int ss_release(struct ss_table *t, uint64_t now_ns, struct ss_out *out)
{
	return release_ready(t, now_ns, out);
}

void ss_halt_retransmission(struct ss_table *t)
{
	t->no_retx = 1;
	/* The replies still owed will never come (the owner discards them). */
	ss_forget_replies(t);
}

int ss_restore_reply(struct ss_table *t, unsigned slot, uint16_t template_id, const void *body,
		     uint16_t blen, uint64_t now_ns)
{
	if (slot >= t->max_sessions || t->sess[slot].state == SS_FREE)
		return -ENOENT;
	if (t->sess[slot].state == SS_ESTABLISHED)
		return -EBUSY;
	if (blen > SS_MSG_MAX - TKX_HDR_LEN)
		return -EINVAL;
	/* Not ESTABLISHED: tx_app() numbers and keeps it without touching an output. */
	tx_app(t, (uint16_t)slot, template_id, body, blen, now_ns, NULL);
	return 0;
}

/* ---- Inspection ------------------------------------------------------------------------ */

int ss_lookup(const struct ss_table *t, uint64_t session_id)
{
	uint16_t slot = id_find(t, session_id);

	return slot == SS_NO_SLOT ? -ENOENT : slot;
}

int ss_session_info(const struct ss_table *t, unsigned slot, struct ss_info *info)
{
	const struct ss_sess *s;

	if (slot >= t->max_sessions)
		return -ENOENT;
	s = &t->sess[slot];
	memset(info, 0, sizeof(*info));
	info->state = s->state;
	info->slot = (uint16_t)slot;
	info->transport = peer_tcp(&s->peer) ? SS_TCP : SS_UDP;
	info->detaching = (s->flags & SF_DETACHING) != 0;
	if (s->state == SS_FREE)
		return 0;
	info->cancel_on_disconnect = s->cod;
	info->may_have_orders = (s->flags & SF_MAY_HAVE_ORDERS) != 0;
	info->since_ns = s->since;
	info->firm_id = s->firm_id;
	info->keepalive_ms = s->keepalive_ms;
	info->session_id = s->session_id;
	info->next_in = s->next_in;
	info->next_out = s->next_out;
	info->last_cl_ord_id = s->last_cl_ord_id;
	info->peer = s->peer;
	info->inflight = t->aux[slot].inflight;
	info->held = t->aux[slot].held;
	info->closing = t->aux[slot].closing;
	return 0;
}

unsigned ss_held(const struct ss_table *t)
{
	return t->hold_n - t->n_hold_free;
}

_Static_assert(sizeof(struct ss_stats) == SS_STAT_COUNT * sizeof(uint64_t), "ss_stats");

void ss_stats_read(const struct ss_table *t, struct ss_stats *dst)
{
	const uint64_t *src = (const uint64_t *)&t->stats;
	uint64_t *d = (uint64_t *)dst;
	size_t i;

	for (i = 0; i < SS_STAT_COUNT; i++)
		d[i] = __atomic_load_n(&src[i], __ATOMIC_RELAXED);
}

static const char *const stat_names[] = {
#define SS__STAT_NAME(name) #name,
	SS_STATS(SS__STAT_NAME)
#undef SS__STAT_NAME
};

const char *ss_stat_name(unsigned i)
{
	return i < SS_STAT_COUNT ? stat_names[i] : NULL;
}

unsigned ss_log_drain(struct ss_table *t, struct ss_log *dst, unsigned max)
{
	uint32_t tail = t->log_tail;
	/* Acquire: the entries up to head are completely written. */
	uint32_t head = __atomic_load_n(&t->log_head, __ATOMIC_ACQUIRE);
	unsigned n = head - tail < max ? head - tail : max, i;

	for (i = 0; i < n; i++)
		dst[i] = t->log[(tail + i) & t->log_mask];
	/* Release: our reads are done before the producer may reuse the entries. */
	__atomic_store_n(&t->log_tail, tail + n, __ATOMIC_RELEASE);
	return n;
}

const char *ss_log_code_name(unsigned code)
{
	static const char *const names[] = {
		[SS_LOG_NEGOTIATED] = "NEGOTIATED",
		[SS_LOG_NEGOTIATE_REJECT] = "NEGOTIATE_REJECT",
		[SS_LOG_ESTABLISHED] = "ESTABLISHED",
		[SS_LOG_ESTABLISH_REJECT] = "ESTABLISH_REJECT",
		[SS_LOG_TERMINATED] = "TERMINATED",
		[SS_LOG_CLIENT_TERMINATED] = "CLIENT_TERMINATED",
		[SS_LOG_DISCONNECTED] = "DISCONNECTED",
		[SS_LOG_EXPIRED] = "EXPIRED",
		[SS_LOG_RECLAIMED] = "RECLAIMED",
		[SS_LOG_FORGOTTEN] = "FORGOTTEN",
		[SS_LOG_DROPPED] = "DROPPED",
		[SS_LOG_LOGON_REPLAYED] = "LOGON_REPLAYED",
	};

	return code < sizeof(names) / sizeof(names[0]) && names[code] ? names[code] : "UNKNOWN";
}

const char *ss_state_name(unsigned state)
{
	static const char *const names[] = { "FREE", "NEGOTIATED", "ESTABLISHED", "TERMINATED" };

	return state < 4 ? names[state] : "UNKNOWN";
}

int ss_log_format(const struct ss_log *l, char *buf, size_t len)
{
	const uint8_t *ip = (const uint8_t *)&l->peer.ip;
	unsigned port = (unsigned)((l->peer.port & 0xff) << 8 | l->peer.port >> 8);
	const char *why = "";

	switch (l->code) {
	case SS_LOG_NEGOTIATE_REJECT:
	case SS_LOG_ESTABLISH_REJECT:
	case SS_LOG_LOGON_REPLAYED:
		why = tkx_session_reject_name(l->reason);
		break;
	case SS_LOG_TERMINATED:
	case SS_LOG_CLIENT_TERMINATED:
	case SS_LOG_EXPIRED:
		why = tkx_terminate_reason_name(l->reason);
		break;
	case SS_LOG_FORGOTTEN:
		why = l->reason == SS_FORGET_TABLE  ? "table-full (orders detached)"
		      : l->reason == SS_FORGET_FIRM ? "firm-limit (orders detached)"
						    : "operator (orders detached)";
		break;
	case SS_LOG_DROPPED:
		why = ss_state_name(l->reason); /* the state it was in */
		break;
	default:
		break;
	}
	return snprintf(buf, len,
			"session %s%s%s session_id=%llu firm=%u slot=%u peer=%u.%u.%u.%u:%u conn=%u "
			"t=%llu",
			ss_log_code_name(l->code), *why ? " " : "", why,
			(unsigned long long)l->session_id, (unsigned)l->firm_id, (unsigned)l->slot,
			ip[0], ip[1], ip[2], ip[3], port, (unsigned)l->peer.conn,
			(unsigned long long)l->time_ns);
}

/* ---- Snapshots (issue 6): ss_snap.c's access to the private state ----------------------
 * ss_snap.c owns the format and the checks; these copy fields out of and into the
 * structs above (ss_snap.h's internal section names them). */

#include "ss_snap.h"

void ss__snap_table(const struct ss_table *t, struct ss_snap_table *d)
{
	memset(d, 0, sizeof(*d));
	d->max_sessions = t->max_sessions;
	d->depth = t->ring_mask + 1;
	d->n_free = t->n_free;
	d->fifo_head = t->fifo.head;
	d->core = t->core;
}

void ss__snap_slot(const struct ss_table *t, unsigned slot, struct ss_snap_view *v)
{
	const struct ss_sess *s = &t->sess[slot];

	memset(v, 0, sizeof(*v));
	v->state = s->state;
	v->ever_established = (s->flags & SF_EVER_ESTABLISHED) != 0;
	v->may_have_orders = (s->flags & SF_MAY_HAVE_ORDERS) != 0;
	v->in_fifo = (s->flags & SF_IN_FIFO) != 0;
	v->detaching = (s->flags & SF_DETACHING) != 0;
	v->mass_left = s->mass_left;
	v->fifo_next = s->fifo_next;
	v->firm_id = s->firm_id;
	v->mass_count = s->mass_count;
	v->session_id = s->session_id;
	v->next_in = s->next_in;
	v->next_out = s->next_out;
	v->last_cl_ord_id = s->last_cl_ord_id;
	v->mass_cl = s->mass_cl;
	v->logon_ts = t->aux[slot].logon_ts;
}

const uint8_t *ss__snap_ring(const struct ss_table *t, unsigned slot, uint64_t seq)
{
	return ring_entry(t, (uint16_t)slot, seq);
}

int ss__snap_firm_known(const struct ss_table *t, uint32_t firm_id)
{
	return firm_find(t, firm_id) != NULL;
}

int ss__snap_put(struct ss_table *t, unsigned slot, const struct ss_snap_view *v,
		 const void *ring, uint32_t n_ring, uint64_t now_ns)
{
	const struct ss_firm *f = firm_find(t, v->firm_id);
	struct ss_sess *s = &t->sess[slot];

	if (s->state != SS_FREE)
		return -EBUSY;
	if (!f)
		return -ENOENT;
	if (id_find(t, v->session_id) != SS_NO_SLOT)
		return -EEXIST;
	restore_vacate(t, (uint16_t)slot); /* off the FREE stack */
	memset(s, 0, sizeof(*s));
	s->state = SS_TERMINATED;
	s->flags = SF_EVER_ESTABLISHED | (v->may_have_orders ? SF_MAY_HAVE_ORDERS : 0);
	s->mass_left = v->mass_left;
	s->firm_id = v->firm_id;
	s->firm_idx = (uint16_t)(f - t->firms);
	s->session_id = v->session_id;
	s->next_in = v->next_in;
	s->next_out = v->next_out;
	s->last_cl_ord_id = v->last_cl_ord_id;
	s->mass_count = v->mass_count;
	s->mass_cl = v->mass_cl;
	s->term_time = s->since = now_ns;
	aux_reset(t, (uint16_t)slot, v->logon_ts);
	s->hint_ses = s->hint_app = NO_BUF;
	s->fifo_prev = s->fifo_next = SS_NO_SLOT;
	s->firm_prev = s->firm_next = SS_NO_SLOT;
	for (uint32_t i = 0; i < n_ring; i++)
		memcpy(ring_entry(t, (uint16_t)slot, v->next_out - n_ring + i),
		       (const uint8_t *)ring + (size_t)i * SS_MSG_MAX, SS_MSG_MAX);
	ht_insert(t, t->id_ht, home_id(t, (uint16_t)slot), (uint16_t)slot);
	t->fs[s->firm_idx].held++;
	/* Its firm's list now; the reclaim list from the saved order (ss__snap_fifo_push),
	 * the detach list here. */
	firm_push(t, (uint16_t)slot);
	if (v->may_have_orders)
		list_push(t, &t->dirty, SF_IN_DIRTY, (uint16_t)slot);
	return 0;
}

void ss__snap_fifo_push(struct ss_table *t, unsigned slot)
{
	fifo_push(t, (uint16_t)slot);
}

uint16_t ss__snap_free_at(const struct ss_table *t, uint32_t i)
{
	return t->free_stack[i];
}

void ss__snap_set_free(struct ss_table *t, const uint16_t *stack, uint32_t n)
{
	memcpy(t->free_stack, stack, (size_t)n * sizeof(*stack));
	t->n_free = n;
}
