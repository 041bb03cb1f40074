/*
 * td_bq.h - a single-producer single-consumer queue of variable-length records in one
 * byte ring: the TCP gateway thread and the RX core hand each other TCP frames and reply
 * chunks through two of them (td_gw.h "The session owner's side").
 *
 * Role in the data path: the hot path of both threads, so everything is inline, nothing
 * allocates, locks or makes a system call; the memory is the caller's, laid out before
 * the threads start (td_bq_init). liburing's discipline: free-running 32-bit positions
 * masked by a power-of-two size, one store-release per batch on each side, one
 * load-acquire of the other side's position when the cached one says there is no room
 * (no record).
 *
 * Records: a 4-byte length, then the payload, padded to 8 bytes; a record never wraps.
 * When one does not fit before the end of the ring, a pad record (length TD_BQ_PAD)
 * fills the rest and the record starts at offset 0. A payload is at most a quarter of
 * the ring, so a record always fits once the ring is empty enough.
 *
 * Producer: td_bq_alloc() reserves a record and returns where its payload goes (NULL: no
 * room now); records reserved are private until td_bq_publish() (all of them) or
 * td_bq_publish_to() (up to a position td_bq_pos() returned earlier) makes them visible,
 * in order; td_bq_discard() drops what was reserved and not published (the RX core's
 * journal gate: replies that must never leave). Consumer: td_bq_peek() the oldest
 * published record, td_bq_next() past it, td_bq_done() hands the space back (once per
 * batch). A record peeked stays valid until td_bq_done().
 *
 * Invariants: tail <= cons <= head <= prod <= tail + size (free-running, modulo 2^32);
 * bytes in [tail, prod) are the producer's to read never again and the consumer's to
 * read only below head.
 */
#ifndef TOKEX_TD_BQ_H
#define TOKEX_TD_BQ_H

#include <errno.h>
#include <stdint.h>
#include <string.h>

#define TD_BQ_PAD UINT32_MAX /* a pad record's length: the rest of the ring is empty */
#define TD_BQ_MIN 4096u      /* smallest ring */

struct td_bq {
	/* the producer's line */
	_Alignas(64) uint32_t prod;      /* next byte to reserve */
	uint32_t tail_seen;              /* the consumer's tail as last read */
	/* published by the producer (release), read by the consumer (acquire) */
	_Alignas(64) uint32_t head;
	/* the consumer's line */
	_Alignas(64) uint32_t cons;      /* next record to peek */
	uint32_t head_seen;              /* head as last read */
	/* published by the consumer (release), read by the producer (acquire) */
	_Alignas(64) uint32_t tail;
	/* read-only after td_bq_init() */
	_Alignas(64) uint32_t mask;      /* size - 1 */
	uint32_t max_rec;                /* largest payload: size / 4 - 8 */
	uint8_t *buf;
};

static inline uint32_t td_bq_rec_len(uint32_t payload)
{
	return (4 + payload + 7) & ~7u;
}

/* size: a power of two, at least TD_BQ_MIN; mem: size bytes, 8-byte aligned. 0 or
 * -EINVAL. */
static inline int td_bq_init(struct td_bq *q, void *mem, uint32_t size)
{
	if (mem == NULL || size < TD_BQ_MIN || (size & (size - 1)) || ((uintptr_t)mem & 7))
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->mask = size - 1;
	q->max_rec = size / 4 - 8;
	q->buf = mem;
	return 0;
}

/* ---- producer ------------------------------------------------------------------------- */

/* Bytes the producer may still reserve (a record takes td_bq_rec_len() of them, and a
 * wrap the rest of the ring). Reads the consumer's tail. */
static inline uint32_t td_bq_room(struct td_bq *q)
{
	q->tail_seen = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
	return q->mask + 1 - (q->prod - q->tail_seen);
}

/* A record of len payload bytes, reserved: where its payload goes, or NULL when the ring
 * has no room now (or len is above max_rec). Not visible to the consumer until published. */
static inline void *td_bq_alloc(struct td_bq *q, uint32_t len)
{
	uint32_t size = q->mask + 1, need = td_bq_rec_len(len), off, total;
	uint8_t *p;

	if (len > q->max_rec)
		return NULL;
	off = q->prod & q->mask;
	total = size - off < need ? size - off + need : need; /* a wrap pads the rest */
	if (size - (q->prod - q->tail_seen) < total) {
		/* Acquire: the consumer is done with the bytes before its tail. */
		q->tail_seen = __atomic_load_n(&q->tail, __ATOMIC_ACQUIRE);
		if (size - (q->prod - q->tail_seen) < total)
			return NULL;
	}
	if (total != need) {
		uint32_t pad = TD_BQ_PAD;

		memcpy(q->buf + off, &pad, 4);
		q->prod += size - off;
		off = 0;
	}
	p = q->buf + off;
	memcpy(p, &len, 4);
	q->prod += need;
	return p + 4;
}

/* Where the next record will be reserved: a mark for td_bq_publish_to(). */
static inline uint32_t td_bq_pos(const struct td_bq *q)
{
	return q->prod;
}

/* Makes the records reserved before pos (a td_bq_pos() value) visible, in order. */
static inline void td_bq_publish_to(struct td_bq *q, uint32_t pos)
{
	/* Release: the records' bytes are written before the consumer can see them. */
	__atomic_store_n(&q->head, pos, __ATOMIC_RELEASE);
}

static inline void td_bq_publish(struct td_bq *q)
{
	td_bq_publish_to(q, q->prod);
}

/* Bytes reserved and not published yet. */
static inline uint32_t td_bq_unpublished(const struct td_bq *q)
{
	return q->prod - __atomic_load_n(&q->head, __ATOMIC_RELAXED);
}

/* Drops the records reserved and not published: the consumer never sees them. */
static inline void td_bq_discard(struct td_bq *q)
{
	q->prod = __atomic_load_n(&q->head, __ATOMIC_RELAXED);
}

/* ---- consumer ------------------------------------------------------------------------- */

/* The oldest published record not yet passed: its payload and *len, or NULL. */
static inline const void *td_bq_peek(struct td_bq *q, uint32_t *len)
{
	uint32_t n;

	for (;;) {
		if (q->cons == q->head_seen) {
			/* Acquire: the records' bytes are visible once head says they exist. */
			q->head_seen = __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
			if (q->cons == q->head_seen)
				return NULL;
		}
		memcpy(&n, q->buf + (q->cons & q->mask), 4);
		if (n != TD_BQ_PAD)
			break;
		q->cons += q->mask + 1 - (q->cons & q->mask);
	}
	*len = n;
	return q->buf + (q->cons & q->mask) + 4;
}

/* Past the record td_bq_peek() returned. */
static inline void td_bq_next(struct td_bq *q)
{
	uint32_t n;

	memcpy(&n, q->buf + (q->cons & q->mask), 4);
	q->cons += td_bq_rec_len(n);
}

/* Hands the space of the records passed back to the producer. */
static inline void td_bq_done(struct td_bq *q)
{
	/* Release: our reads of those bytes are done before the producer reuses them. */
	__atomic_store_n(&q->tail, q->cons, __ATOMIC_RELEASE);
}

/* Whether the consumer has passed every record published (it may still hold space). */
static inline int td_bq_empty(struct td_bq *q)
{
	return q->cons == __atomic_load_n(&q->head, __ATOMIC_ACQUIRE);
}

#endif /* TOKEX_TD_BQ_H */
