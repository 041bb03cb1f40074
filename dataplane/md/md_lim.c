/*
 * md_lim.c - per-source and global token buckets for the market-data re-request port; see
 * md_lim.h for the table's design and its invariants.
 *
 * Runs on the core that owns the publisher, once per re-request. Nothing here allocates,
 * locks, logs or makes a system call.
 */
#include "md_lim.h"

#include <errno.h>
#include <string.h>

#include "dataplane/dp_hash.h"

#define NS_PER_S 1000000000ull
#define ALIGN64(x) (((x) + 63) & ~(size_t)63)

/* One source's bucket. 24 bytes. */
struct md_lim_entry {
	uint64_t tok;     /* byte-nanoseconds, <= cap */
	uint64_t last_ns; /* when tok was last brought up to date */
	uint32_t addr;
	uint32_t used; /* 1: addr is a source's; 0: never used yet */
};

struct md_bucket {
	uint64_t tok;
	uint64_t cap;     /* depth x 10^9 */
	uint64_t last_ns;
	uint32_t rate;    /* bytes per second; 0 = no limit */
};

struct md_lim {
	struct md_bucket global;
	uint64_t src_cap;
	uint64_t seed;
	uint32_t src_rate;
	uint32_t set_mask; /* sets - 1 */
	struct md_lim_entry *e;
} __attribute__((aligned(64)));

static int check(const struct md_lim_params *p)
{
	if (!p)
		return -EINVAL;
	if (p->rate && (p->sources < MD_LIM_WAYS || p->sources > MD_LIM_MAX_SOURCES ||
			(p->sources & (p->sources - 1)) || p->burst < 1 ||
			p->burst > MD_LIM_MAX_BURST))
		return -EINVAL;
	if (p->global_rate && (p->global_burst < 1 || p->global_burst > MD_LIM_MAX_BURST))
		return -EINVAL;
	return 0;
}

size_t md_lim_memsize(const struct md_lim_params *p)
{
	if (check(p)) {
		errno = EINVAL;
		return 0;
	}
	return ALIGN64(sizeof(struct md_lim)) +
	       (p->rate ? (size_t)p->sources * sizeof(struct md_lim_entry) : 0);
}

struct md_lim *md_lim_init(void *mem, size_t len, const struct md_lim_params *p)
{
	struct md_lim *l = mem;
	size_t need = md_lim_memsize(p);
	uint32_t i, n;

	if (!mem || ((uintptr_t)mem & 63) || need == 0 || len < need) {
		errno = EINVAL;
		return NULL;
	}
	memset(l, 0, sizeof(*l));
	l->global.rate = p->global_rate;
	l->global.cap = (uint64_t)p->global_burst * NS_PER_S;
	l->global.tok = l->global.cap;
	l->src_rate = p->rate;
	l->src_cap = (uint64_t)p->burst * NS_PER_S;
	l->seed = p->seed;
	if (!p->rate)
		return l;
	l->set_mask = p->sources / MD_LIM_WAYS - 1;
	l->e = (struct md_lim_entry *)(void *)((uint8_t *)mem + ALIGN64(sizeof(struct md_lim)));
	/* Every entry starts idle (a full bucket): free for the first source that needs it. */
	for (i = 0, n = p->sources; i < n; i++)
		l->e[i] = (struct md_lim_entry){ .tok = l->src_cap };
	return l;
}

/* Tokens a bucket of (tok, last, cap, rate) holds at now; no overflow: dt x rate is only
 * computed when it is below cap - tok. */
static inline uint64_t level(uint64_t tok, uint64_t last, uint64_t cap, uint32_t rate,
			     uint64_t now)
{
	uint64_t dt = now > last ? now - last : 0, room = cap - tok;

	if (dt >= room / rate)
		return cap;
	return tok + dt * rate;
}

static inline uint64_t bucket_now(struct md_bucket *b, uint64_t now)
{
	if (!b->rate)
		return UINT64_MAX;
	b->tok = level(b->tok, b->last_ns, b->cap, b->rate, now);
	if (now > b->last_ns)
		b->last_ns = now;
	return b->tok / NS_PER_S;
}

/* The keyed hash of the address (dp_hash.h): every address bit moves the set, and no
 * sender knows which addresses share one. */
static inline uint32_t set_of(const struct md_lim *l, uint32_t addr)
{
	return (uint32_t)dp_hash64_keyed(addr, l->seed) & l->set_mask;
}

void md_lim_check(struct md_lim *l, uint32_t addr, uint64_t now, struct md_lim_grant *g)
{
	struct md_lim_entry *set, *e = NULL;
	uint64_t best = 0;
	uint32_t w;

	g->global = bucket_now(&l->global, now);
	g->entry = 0;
	g->how = MD_LIM_NEW;
	g->src = UINT64_MAX;
	if (!l->src_rate)
		return;

	set = &l->e[(size_t)set_of(l, addr) * MD_LIM_WAYS];
	for (w = 0; w < MD_LIM_WAYS; w++)
		if (set[w].addr == addr && set[w].used) {
			e = &set[w];
			g->how = MD_LIM_FOUND;
			break;
		}
	if (!e) {
		/* An idle entry if there is one, else the fullest (oldest on a tie). */
		for (w = 0; w < MD_LIM_WAYS; w++) {
			uint64_t t = level(set[w].tok, set[w].last_ns, l->src_cap, l->src_rate, now);

			if (!e || t > best || (t == best && set[w].last_ns < e->last_ns)) {
				e = &set[w];
				best = t;
			}
		}
		if (best < l->src_cap)
			g->how = MD_LIM_EVICTED;
		*e = (struct md_lim_entry){ .tok = l->src_cap, .last_ns = now, .addr = addr,
					    .used = 1 };
	}
	e->tok = level(e->tok, e->last_ns, l->src_cap, l->src_rate, now);
	if (now > e->last_ns)
		e->last_ns = now;
	g->entry = (uint32_t)(e - l->e);
	g->src = e->tok / NS_PER_S;
}

void md_lim_spend(struct md_lim *l, const struct md_lim_grant *g, uint64_t bytes)
{
	uint64_t t = bytes * NS_PER_S;

	if (l->global.rate)
		l->global.tok = t < l->global.tok ? l->global.tok - t : 0;
	if (l->src_rate) {
		struct md_lim_entry *e = &l->e[g->entry];

		e->tok = t < e->tok ? e->tok - t : 0;
	}
}
