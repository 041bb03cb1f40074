/*
 * cp_etcd.h - a small etcd v3 client: leases and one leader key, through etcd's JSON
 * gateway (HTTP POST /v3/..., libcurl and jansson). The arbiter of tokexd's hot standby
 * (docs/STANDBY.md "Lease and fencing"): never on a data path, only on tokexd's lease
 * thread (dataplane/tokexd/td_lease.c) and in tests.
 *
 * Endpoints: a list of the cluster's client URLs ("http://10.0.0.1:2379"). A call goes to
 * the endpoint that answered last; when that one cannot be reached or times out (a member
 * down, or without quorum), the call is tried on the next ones, each once. Each try is
 * bounded by the timeout given at open, so one call takes at most n * timeout.
 *
 * What the gateway carries: keys and values base64, 64-bit integers as JSON strings;
 * fields left at their default (0, false) are omitted from answers.
 *
 * The leader key (cp_etcd_acquire): one transaction that puts the key, attached to a lease,
 * only if it does not exist (compare CREATE revision == 0), and in the same transaction
 * the epoch key's new value only if the epoch key is unchanged since it was read (compare
 * MOD revision == what was read; 0 for a key that does not exist). etcd deletes the key when
 * its lease expires or is revoked: a holder that stops renewing loses it only then.
 *
 * Errors: 0 or a negative errno, the reason in err: -EHOSTUNREACH (no endpoint answered),
 * -ETIMEDOUT, -EPROTO (an answer that is not what etcd sends), -ENOENT (keepalive: the
 * lease is gone), -EIO (etcd answered an error: its message in err).
 * Not thread-safe: one struct cp_etcd per thread.
 */
#ifndef TOKEX_CP_ETCD_H
#define TOKEX_CP_ETCD_H

#include <stddef.h>
#include <stdint.h>

#define CP_ETCD_MAX_ENDPOINTS 7
#define CP_ETCD_VALUE_MAX 384

struct cp_etcd;

/* Opens a client of n endpoints (copied); timeout_ms bounds each try on one endpoint.
 * NULL and errno (EINVAL, ENOMEM) with the reason in err. Calls curl_global_init(): call
 * it before other threads use libcurl. */
struct cp_etcd *cp_etcd_open(const char *const *endpoints, unsigned n, unsigned timeout_ms,
			     char *err, size_t len);
void cp_etcd_close(struct cp_etcd *e);
/* The endpoint that answered last (for messages). */
const char *cp_etcd_endpoint(const struct cp_etcd *e);

/* A lease of ttl_s seconds: its id, and the TTL etcd granted (etcd raises a TTL below its
 * minimum, 2 s with the default election timeout: use what it granted). */
int cp_etcd_grant(struct cp_etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s, char *err,
		  size_t len);
/* Renews lease id for its whole TTL again (*ttl_s); -ENOENT when etcd no longer has it
 * (expired or revoked: its keys are deleted). */
int cp_etcd_keepalive(struct cp_etcd *e, int64_t id, int64_t *ttl_s, char *err, size_t len);
/* Revokes lease id (its keys are deleted at once); a lease that is gone already is 0. */
int cp_etcd_revoke(struct cp_etcd *e, int64_t id, char *err, size_t len);

struct cp_etcd_kv {
	int found;
	int64_t create_rev, mod_rev, lease;
	size_t len;
	char value[CP_ETCD_VALUE_MAX]; /* NUL-terminated (a longer value is cut) */
};
/* Reads key (linearizable: through the cluster's leader). */
int cp_etcd_get(struct cp_etcd *e, const char *key, struct cp_etcd_kv *kv, char *err, size_t len);
/* Puts key = value with lease (0: none) unconditionally. */
int cp_etcd_put(struct cp_etcd *e, const char *key, const char *value, int64_t lease, char *err,
		size_t len);

/* The leader key, in one transaction: if key does not exist and epoch_key's mod revision
 * is epoch_mod (0: it does not exist either), puts key = value attached to lease and
 * epoch_key = epoch_value. 1: taken; 0: not (the key exists: *held is it, or the epoch key
 * moved: held->found 0, read it again); a negative errno. */
int cp_etcd_acquire(struct cp_etcd *e, const char *key, const char *value, int64_t lease,
		    const char *epoch_key, int64_t epoch_mod, const char *epoch_value,
		    struct cp_etcd_kv *held, char *err, size_t len);

/* Base64 (RFC 4648, padded) of n bytes into out (room for 4 * ((n + 2) / 3) + 1): its
 * length. Decoding: the length, or -1 (not base64, or out too small). */
size_t cp_b64_encode(const void *in, size_t n, char *out);
long cp_b64_decode(const char *in, size_t n, void *out, size_t cap);

#endif /* TOKEX_CP_ETCD_H */
