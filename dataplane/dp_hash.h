/*
 * dp_hash.h - the one hash of tokex's private tables, and the one checksum of its
 * fingerprints. Header-only C11 with no DPDK: the session layer, the matching cores, the
 * market-data publisher, the journal tool and the control plane do not link DPDK (their
 * unit tests run without EAL), so DPDK's rte_jhash/rte_hash_crc cannot serve them all.
 *
 * dp_hash64(x): a bijection on 64 bits in which every input bit moves every output bit
 * (splitmix64's finaliser, Stafford's "Mix13", a retuning of murmur3's fmix64). A table
 * takes its slot from the low bits (& mask) or the high ones (>> shift) alike, and keys
 * that differ in a few bits (one subnet's addresses, consecutive ids) spread over all of
 * them. Where the keys are the exchange's own (contract ids, accounts, order ids) that is
 * all a table needs.
 *
 * dp_hash64_keyed(x, seed): the same over x ^ seed, for a table whose keys an outsider
 * chooses (the session table's peers and session ids, the market-data limiter's source
 * addresses, the gateway's client addresses). Unkeyed, the function is public: anyone can
 * compute offline which keys share a slot and fill one probe run. With a seed drawn at
 * start (getrandom) that map is unknown. It is not a cryptographic PRF (SipHash would be):
 * enough for tables of a few thousand slots whose inserts cost the attacker a connection
 * or a firm's signature, and whose probe runs end at an empty slot (none is ever full).
 * (A CRC such as rte_hash_crc is no substitute: it is linear, so which keys collide does
 * not depend on its seed.)
 *
 * dp_fnv1a64(h, p, n): FNV-1a, 64 bits, over bytes, from DP_FNV_INIT: configuration
 * fingerprints saved in snapshots (dp_snap.h) - their values are part of the format, so
 * this function never changes. Not a table hash, not an integrity check.
 */
#ifndef TOKEX_DP_HASH_H
#define TOKEX_DP_HASH_H

#include <stddef.h>
#include <stdint.h>

static inline uint64_t dp_hash64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

static inline uint64_t dp_hash64_keyed(uint64_t x, uint64_t seed)
{
	return dp_hash64(x ^ seed);
}

#define DP_FNV_INIT 0xcbf29ce484222325ull

static inline uint64_t dp_fnv1a64(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

#endif /* TOKEX_DP_HASH_H */
