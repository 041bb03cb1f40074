/*
 * mac_bench.c - tokex-macbench: what a per-datagram MAC costs on this machine, for each
 * candidate construction of the UDP datagram authenticator (docs/protocol.md 4.13).
 *
 * Role: a benchmark program beside the tests, run by scripts/bench-mac pinned to one
 * CPU; docs/BENCHMARKS.md records what it measured and which construction it chose.
 * Not a test: it asserts nothing about time. Candidates, each keyed once before any
 * clock starts (what a session does at Negotiate) and then computing one tag per call
 * over a buffer of the datagram's length, as the exchange does per datagram:
 *   siphash24-64     libsodium crypto_shorthash (SipHash-2-4, 64-bit tag): the one
 *                    tokex uses (tkx_auth_seal/open)
 *   siphash24-128    libsodium crypto_shorthash_siphashx24 (SipHash-2-4, 128-bit tag)
 *   ossl-siphash     OpenSSL 3 EVP_MAC "SIPHASH" (size 8), re-initialised per call
 *   ossl-siphash13   the same with c-rounds 1, d-rounds 3 (SipHash-1-3: weaker margin)
 *   gmac-aes256      libsodium AES-256-GCM, no plaintext, the datagram as associated
 *                    data, key schedule precomputed: GMAC, whose nonce must never repeat
 *                    under a key (a reference point, not a candidate for clients)
 *   ossl-hmac256     OpenSSL 3 EVP_MAC "HMAC" SHA-256, keyed once (the ipad/opad state
 *                    is kept: EVP_MAC_init() with no key reuses it), tag truncated
 *   hmac256-oneshot  OpenSSL HMAC() as tkx_credential() calls it (key schedule per call)
 * and tokex's own calls around the chosen one, as the RX core makes them per datagram:
 *   tkx_auth_seal    a DatagramAuth appended and MACed (the exchange's replies)
 *   tkx_auth_open    a sealed datagram's DatagramAuth found and checked (its requests)
 * Each is timed as --iters calls between two clock reads, --runs times, every
 * (construction, size) once per round so that load from elsewhere falls on all alike; the
 * median and the minimum of the per-call cost are printed, per datagram size (--sizes).
 * Many short runs: on a shared machine the minimum is the run the scheduler left alone. A verify is
 * one tag computation plus a constant-time compare of the tag.
 * --short: a tiny run (CTest macbench_short checks that it runs).
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>
#include <sodium.h>

#include "tokex/codec.h"
#include "tokex/version.h"

#define MB_MAX_RUNS 1001
#define MB_MAX_SIZES 8
#define MB_BUF 1472
#define MB_MIN_SIZE 16   /* a DatagramAuth's header and counter: every MAC covers them */
#define MB_MAX_SIZE 1464 /* TKX_MAX_DGRAM less the 8-byte MAC */

static uint64_t mb_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The tags are folded into a sink the compiler cannot see through, so no call is
 * optimised away. */
static volatile uint64_t mb_sink;

struct mb_ctx {
	uint8_t key[32];
	uint8_t buf[MB_BUF];
	EVP_MAC_CTX *sip;
	EVP_MAC_CTX *hmac;
	EVP_MAC_CTX *sip13;
	crypto_aead_aes256gcm_state gcm;
	uint8_t sealed[MB_MAX_SIZES][MB_BUF]; /* for tkx_auth_open: a datagram per size */
	size_t sealed_for[MB_MAX_SIZES];      /* the bytes its MAC covers */
	unsigned n_sealed;
};

typedef int (*mb_fn)(struct mb_ctx *c, size_t len, uint8_t tag[16]);

static int mb_siphash64(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	return crypto_shorthash(tag, c->buf, len, c->key);
}

static int mb_siphash128(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	return crypto_shorthash_siphashx24(tag, c->buf, len, c->key);
}

static int mb_ossl_siphash(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	size_t out = 0;
	if (!EVP_MAC_init(c->sip, c->key, 16, NULL) || !EVP_MAC_update(c->sip, c->buf, len) ||
	    !EVP_MAC_final(c->sip, tag, &out, 16))
		return -1;
	return 0;
}

static int mb_ossl_siphash13(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	size_t out = 0;
	if (!EVP_MAC_init(c->sip13, c->key, 16, NULL) || !EVP_MAC_update(c->sip13, c->buf, len) ||
	    !EVP_MAC_final(c->sip13, tag, &out, 16))
		return -1;
	return 0;
}

/* GMAC: AES-256-GCM with no plaintext and the datagram as associated data; the nonce
 * must never repeat under a key (here: a counter), which is why it is only a reference. */
static int mb_gmac(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	uint8_t nonce[crypto_aead_aes256gcm_NPUBBYTES] = {0};
	unsigned long long tl = 0;
	uint8_t none[1] = {0};
	memcpy(nonce, c->buf, 4);
	return crypto_aead_aes256gcm_encrypt_detached_afternm(none, tag, &tl, none, 0, c->buf,
							       len, NULL, nonce, &c->gcm);
}

/* tokex's own calls, as the RX core makes them: tkx_auth_seal() on a datagram whose MAC
 * covers len bytes (its messages are len - 16), and tkx_auth_open() on one sealed so. The
 * tag is what they put or found at the end. */
static int mb_tkx_seal(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	size_t n = len - 16;
	int r = tkx_auth_seal(c->key, 1, c->buf, n, sizeof(c->buf));

	if (r < 0)
		return -1;
	memcpy(tag, c->buf + n + TKX_AUTH_LEN - TKX_AUTH_MAC_LEN, TKX_AUTH_MAC_LEN);
	return 0;
}

static int mb_tkx_open(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	uint64_t ctr;
	unsigned i = 0;

	while (i < c->n_sealed && c->sealed_for[i] != len)
		i++;
	if (i == c->n_sealed || tkx_auth_open(c->key, c->sealed[i], len + 8, &ctr) < 0)
		return -1;
	memset(tag, 0, 8);
	return 0;
}

static int mb_ossl_hmac(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	uint8_t full[32];
	size_t out = 0;
	if (!EVP_MAC_init(c->hmac, NULL, 0, NULL) || !EVP_MAC_update(c->hmac, c->buf, len) ||
	    !EVP_MAC_final(c->hmac, full, &out, sizeof(full)))
		return -1;
	memcpy(tag, full, 16);
	return 0;
}

static int mb_hmac_oneshot(struct mb_ctx *c, size_t len, uint8_t tag[16])
{
	uint8_t full[32];
	unsigned out = 0;
	if (!HMAC(EVP_sha256(), c->key, 32, c->buf, len, full, &out))
		return -1;
	memcpy(tag, full, 16);
	return 0;
}

static const struct {
	const char *name;
	mb_fn fn;
	unsigned tag_len;
} mb_cand[] = {
	{"siphash24-64", mb_siphash64, 8},
	{"siphash24-128", mb_siphash128, 16},
	{"ossl-siphash", mb_ossl_siphash, 8},
	{"ossl-siphash13", mb_ossl_siphash13, 8},
	{"gmac-aes256", mb_gmac, 16},
	{"ossl-hmac256", mb_ossl_hmac, 8},
	{"tkx_auth_seal", mb_tkx_seal, 8},
	{"tkx_auth_open", mb_tkx_open, 8},
	{"hmac256-oneshot", mb_hmac_oneshot, 8},
};
#define MB_NCAND (sizeof(mb_cand) / sizeof(mb_cand[0]))
#define MB_NCAND_MAX 10
_Static_assert(MB_NCAND <= MB_NCAND_MAX, "MB_NCAND_MAX");

static int mb_cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* One timed run: ns per verify (tag + constant-time compare) over iters calls. */
static double mb_run(struct mb_ctx *c, unsigned k, size_t len, unsigned iters,
		     const uint8_t *expect)
{
	uint8_t tag[16];
	uint64_t acc = 0, t0 = mb_ns();

	for (unsigned i = 0; i < iters; i++) {
		c->buf[0] = (uint8_t)i; /* a different datagram each call */
		if (mb_cand[k].fn(c, len, tag) != 0)
			return -1;
		acc += (uint64_t)sodium_memcmp(tag, expect, mb_cand[k].tag_len);
	}
	mb_sink += acc;
	return (double)(mb_ns() - t0) / iters;
}

/* Every (construction, size) once per round, runs rounds: a burst of load from elsewhere
 * hits all of them alike, and each one's minimum is its cost when nothing interrupted it. */
static int mb_measure(struct mb_ctx *c, const size_t *sizes, unsigned n_sizes, unsigned runs,
		      unsigned iters, const int *skip, double *median, double *min)
{
	static double per[MB_NCAND_MAX][MB_MAX_SIZES][MB_MAX_RUNS];
	uint8_t expect[MB_NCAND_MAX][MB_MAX_SIZES][16];

	for (unsigned k = 0; k < MB_NCAND; k++)
		for (unsigned s = 0; s < n_sizes; s++)
			if (!skip[k] && mb_cand[k].fn(c, sizes[s], expect[k][s]) != 0)
				return -EIO;
	for (unsigned r = 0; r < runs; r++)
		for (unsigned k = 0; k < MB_NCAND; k++)
			for (unsigned s = 0; s < n_sizes && !skip[k]; s++) {
				per[k][s][r] = mb_run(c, k, sizes[s], iters, expect[k][s]);
				if (per[k][s][r] < 0)
					return -EIO;
			}
	for (unsigned k = 0; k < MB_NCAND; k++)
		for (unsigned s = 0; s < n_sizes && !skip[k]; s++) {
			qsort(per[k][s], runs, sizeof(double), mb_cmp_double);
			median[k * MB_MAX_SIZES + s] = per[k][s][runs / 2];
			min[k * MB_MAX_SIZES + s] = per[k][s][0];
		}
	return 0;
}

static void mb_usage(FILE *f)
{
	fprintf(f, "usage: tokex-macbench [--runs N] [--iters N] [--sizes 32,72,152,1448] "
		   "[--short]\n"
		   "  per-datagram MAC cost of each candidate construction, ns per verify\n"
		   "  (sizes: bytes MACed; a heartbeat is 32, one NewOrder 72, three 152)\n"
		   "  --version: print tokex-macbench's version and exit\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"runs", required_argument, NULL, 'r'},
		{"iters", required_argument, NULL, 'i'},
		{"sizes", required_argument, NULL, 's'},
		{"short", no_argument, NULL, 'S'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	unsigned runs = 101, iters = 2000, n_sizes = 4;
	size_t sizes[MB_MAX_SIZES] = {32, 72, 152, 1448};
	struct mb_ctx c;
	int o;

	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		char *end;
		unsigned long v;
		switch (o) {
		case 'r':
		case 'i':
			errno = 0;
			v = strtoul(optarg, &end, 10);
			if (errno || *end || v == 0 || (o == 'r' && v > MB_MAX_RUNS) ||
			    v > 100000000ul) {
				fprintf(stderr, "tokex-macbench: --%s: '%s' is not 1..%u\n",
					o == 'r' ? "runs" : "iters", optarg,
					o == 'r' ? MB_MAX_RUNS : 100000000u);
				return 2;
			}
			if (o == 'r')
				runs = (unsigned)v;
			else
				iters = (unsigned)v;
			break;
		case 's': {
			const char *p = optarg;
			n_sizes = 0;
			while (*p) {
				errno = 0;
				v = strtoul(p, &end, 10);
				if (errno || end == p || v < MB_MIN_SIZE || v > MB_MAX_SIZE ||
				    n_sizes == MB_MAX_SIZES || (*end && *end != ',')) {
					fprintf(stderr, "tokex-macbench: --sizes: '%s': up to %d "
						"sizes of %d..%d bytes, comma separated\n",
						optarg, MB_MAX_SIZES, MB_MIN_SIZE, MB_MAX_SIZE);
					return 2;
				}
				sizes[n_sizes++] = v;
				p = *end ? end + 1 : end;
			}
			break;
		}
		case 'S':
			runs = 3;
			iters = 1000;
			break;
		case 'h':
			mb_usage(stdout);
			return 0;
		case 'V':
			printf("tokex-macbench %s\n", tkx_version());
			return 0;
		default:
			mb_usage(stderr);
			return 2;
		}
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "tokex-macbench: sodium_init failed\n");
		return 1;
	}
	memset(&c, 0, sizeof(c));
	for (unsigned i = 0; i < sizeof(c.key); i++)
		c.key[i] = (uint8_t)i;
	for (unsigned i = 0; i < sizeof(c.buf); i++)
		c.buf[i] = (uint8_t)(i * 7);

	EVP_MAC *sip = EVP_MAC_fetch(NULL, "SIPHASH", NULL);
	EVP_MAC *hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!sip || !hmac) {
		fprintf(stderr, "tokex-macbench: OpenSSL has no SIPHASH or HMAC MAC\n");
		return 1;
	}
	c.sip = EVP_MAC_CTX_new(sip);
	size_t sip_size = 8;
	c.hmac = EVP_MAC_CTX_new(hmac);
	c.sip13 = EVP_MAC_CTX_new(sip);
	unsigned cr = 1, dr = 3;
	OSSL_PARAM sp13[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &sip_size),
			     OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_C_ROUNDS, &cr),
			     OSSL_PARAM_construct_uint(OSSL_MAC_PARAM_D_ROUNDS, &dr),
			     OSSL_PARAM_construct_end()};
	if (crypto_aead_aes256gcm_is_available())
		crypto_aead_aes256gcm_beforenm(&c.gcm, c.key);
	OSSL_PARAM sp[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &sip_size),
			   OSSL_PARAM_construct_end()};
	OSSL_PARAM hp[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							    (char *)(uintptr_t)"SHA256", 0),
			   OSSL_PARAM_construct_end()};
	if (!c.sip || !c.hmac || !c.sip13 || !EVP_MAC_CTX_set_params(c.sip, sp) ||
	    !EVP_MAC_CTX_set_params(c.sip13, sp13) ||
	    !EVP_MAC_init(c.hmac, c.key, 32, hp)) {
		fprintf(stderr, "tokex-macbench: OpenSSL MAC set-up failed\n");
		return 1;
	}

	for (unsigned i = 0; i < n_sizes; i++) {
		memcpy(c.sealed[i], c.buf, sizes[i] - 16);
		if (tkx_auth_seal(c.key, 1, c.sealed[i], sizes[i] - 16, MB_BUF) < 0) {
			fprintf(stderr, "tokex-macbench: tkx_auth_seal failed\n");
			return 1;
		}
		c.sealed_for[i] = sizes[i];
	}
	c.n_sealed = n_sizes;
	int skip[MB_NCAND_MAX] = {0};
	static double med[MB_NCAND_MAX * MB_MAX_SIZES], min[MB_NCAND_MAX * MB_MAX_SIZES];

	for (unsigned k = 0; k < MB_NCAND; k++)
		skip[k] = mb_cand[k].fn == mb_gmac && !crypto_aead_aes256gcm_is_available();
	if (mb_measure(&c, sizes, n_sizes, runs, iters, skip, med, min) != 0) {
		fprintf(stderr, "tokex-macbench: a construction failed\n");
		return 1;
	}
	printf("%-16s %6s %12s %12s\n", "construction", "bytes", "median_ns", "min_ns");
	for (unsigned k = 0; k < MB_NCAND; k++) {
		if (skip[k]) {
			printf("%-16s  (no AES-NI/PCLMUL: not measured)\n", mb_cand[k].name);
			continue;
		}
		for (unsigned s = 0; s < n_sizes; s++)
			printf("%-16s %6zu %12.1f %12.1f\n", mb_cand[k].name, sizes[s],
			       med[k * MB_MAX_SIZES + s], min[k * MB_MAX_SIZES + s]);
	}
	EVP_MAC_CTX_free(c.sip);
	EVP_MAC_CTX_free(c.hmac);
	EVP_MAC_CTX_free(c.sip13);
	EVP_MAC_free(sip);
	EVP_MAC_free(hmac);
	return 0;
}
