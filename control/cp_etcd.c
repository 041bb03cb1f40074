/*
 * cp_etcd.c - etcd v3 through its JSON gateway: leases and the leader key (cp_etcd.h).
 * Off every data path: tokexd's lease thread and tests. One libcurl easy handle per
 * client, kept between calls so that its connection to the endpoint is reused.
 */
#include "cp_etcd.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#define CP_ETCD_URL 256
#define CP_ETCD_BODY_MAX (64 * 1024) /* an answer larger than this is not one of ours */

struct cp_etcd {
	CURL *curl;
	unsigned n, cur;
	unsigned timeout_ms;
	char ep[CP_ETCD_MAX_ENDPOINTS][CP_ETCD_URL];
	char *body;
	size_t body_len;
	int body_over;
};

/* ---- base64 ------------------------------------------------------------------------------ */

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t cp_b64_encode(const void *in, size_t n, char *out)
{
	const uint8_t *p = in;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		out[o++] = b64[v >> 18 & 63];
		out[o++] = b64[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

static int b64_val(char c)
{
	const char *s = c ? strchr(b64, c) : NULL;
	return s ? (int)(s - b64) : -1;
}

long cp_b64_decode(const char *in, size_t n, void *out, size_t cap)
{
	uint8_t *o = out;
	size_t len = 0;
	if (n % 4)
		return -1;
	for (size_t i = 0; i < n; i += 4) {
		int v[4], pad = 0;
		for (int k = 0; k < 4; k++) {
			if (in[i + k] == '=' && i + 4 == n && k >= 2) {
				v[k] = 0;
				pad++;
			} else if (pad || (v[k] = b64_val(in[i + k])) < 0) {
				return -1;
			}
		}
		uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 |
			     (uint32_t)v[3];
		for (int k = 0; k < 3 - pad; k++) {
			if (len == cap)
				return -1;
			o[len++] = (uint8_t)(w >> (16 - 8 * k));
		}
	}
	return (long)len;
}

/* ---- HTTP ------------------------------------------------------------------------------- */

static size_t cp_etcd_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct cp_etcd *e = arg;
	size_t n = size * nmemb;
	if (e->body_len + n > CP_ETCD_BODY_MAX) {
		e->body_over = 1;
		return 0; /* aborts the transfer */
	}
	memcpy(e->body + e->body_len, ptr, n);
	e->body_len += n;
	e->body[e->body_len] = 0;
	return n;
}

struct cp_etcd *cp_etcd_open(const char *const *endpoints, unsigned n, unsigned timeout_ms,
			     char *err, size_t len)
{
	if (n == 0 || n > CP_ETCD_MAX_ENDPOINTS || timeout_ms == 0) {
		snprintf(err, len, "etcd: %u endpoint(s) (1 to %d), timeout %u ms", n,
			 CP_ETCD_MAX_ENDPOINTS, timeout_ms);
		errno = EINVAL;
		return NULL;
	}
	struct cp_etcd *e = calloc(1, sizeof(*e));
	if (e)
		e->body = malloc(CP_ETCD_BODY_MAX + 1);
	if (e == NULL || e->body == NULL || curl_global_init(CURL_GLOBAL_DEFAULT) != 0 ||
	    (e->curl = curl_easy_init()) == NULL) {
		if (e)
			free(e->body);
		free(e);
		snprintf(err, len, "etcd: cannot set up libcurl");
		errno = ENOMEM;
		return NULL;
	}
	for (unsigned i = 0; i < n; i++) {
		size_t l = strlen(endpoints[i]);
		while (l && endpoints[i][l - 1] == '/')
			l--;
		if (l == 0 || l >= CP_ETCD_URL - 32) {
			snprintf(err, len, "etcd: endpoint '%s': empty or too long", endpoints[i]);
			cp_etcd_close(e);
			errno = EINVAL;
			return NULL;
		}
		memcpy(e->ep[i], endpoints[i], l);
		e->ep[i][l] = 0;
	}
	e->n = n;
	e->timeout_ms = timeout_ms;
	return e;
}

void cp_etcd_close(struct cp_etcd *e)
{
	if (e == NULL)
		return;
	if (e->curl)
		curl_easy_cleanup(e->curl);
	free(e->body);
	free(e);
}

const char *cp_etcd_endpoint(const struct cp_etcd *e)
{
	return e->ep[e->cur];
}

/* POSTs req (consumed) to path; *ans the answer's JSON object (the caller decrefs). Tries
 * the endpoints from the last good one on, each once. */
static int cp_etcd_call(struct cp_etcd *e, const char *path, json_t *req, json_t **ans,
			char *err, size_t len)
{
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	*ans = NULL;
	if (body == NULL) {
		snprintf(err, len, "etcd: out of memory");
		return -ENOMEM;
	}
	struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
	int rc = -EHOSTUNREACH;
	char why[1024] = "";
	for (unsigned k = 0; k < e->n && rc == -EHOSTUNREACH; k++) {
		unsigned i = (e->cur + k) % e->n;
		char url[CP_ETCD_URL + 64];
		char cerr[CURL_ERROR_SIZE] = "";
		snprintf(url, sizeof(url), "%s%s", e->ep[i], path);
		CURL *c = e->curl;
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, url);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, cp_etcd_write);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, e);
		curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)e->timeout_ms);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L); /* a thread of a larger process */
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
		e->body_len = 0;
		e->body_over = 0;
		e->body[0] = 0;
		CURLcode cc = curl_easy_perform(c);
		long status = 0;
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		if (cc != CURLE_OK) {
			snprintf(why, sizeof(why), "%s: %s", e->ep[i], cerr[0] ? cerr :
				 curl_easy_strerror(cc));
			if (cc == CURLE_OPERATION_TIMEDOUT && k + 1 == e->n)
				rc = -ETIMEDOUT;
			continue;
		}
		json_error_t je;
		json_t *j = json_loadb(e->body, e->body_len, 0, &je);
		if (j == NULL || !json_is_object(j)) {
			json_decref(j);
			snprintf(why, sizeof(why), "%s: HTTP %ld, not a JSON object: %.100s", e->ep[i],
				 status, e->body);
			continue; /* not an etcd member's gateway: another may be */
		}
		json_t *msg = json_object_get(j, "error");
		if (status != 200 || msg) {
			json_t *m = json_object_get(j, "message");
			const char *s = json_is_string(m) ? json_string_value(m) :
					json_is_string(msg) ? json_string_value(msg) : e->body;
			snprintf(why, sizeof(why), "%s: HTTP %ld: %.200s", e->ep[i], status, s);
			json_decref(j);
			/* A member without a leader (no quorum) or shutting down: another may have
			 * one. Anything else is an answer. */
			if (status >= 500 || strstr(why, "no leader") || strstr(why, "timed out") ||
			    strstr(why, "stopped"))
				continue;
			rc = -EIO;
			break;
		}
		e->cur = i;
		*ans = j;
		rc = 0;
	}
	curl_slist_free_all(hdr);
	free(body);
	if (rc == -EHOSTUNREACH && strstr(why, "not a JSON object"))
		rc = -EPROTO;
	if (rc < 0)
		snprintf(err, len, "etcd: %s", why[0] ? why : "no endpoint");
	return rc;
}

/* An int64 that the gateway writes as a string (or a number); absent = 0. */
static int64_t cp_j64(const json_t *o, const char *name)
{
	const json_t *v = json_object_get(o, name);
	if (json_is_integer(v))
		return (int64_t)json_integer_value(v);
	if (json_is_string(v))
		return strtoll(json_string_value(v), NULL, 10);
	return 0;
}

static json_t *cp_jstr64(int64_t v)
{
	char s[32];
	snprintf(s, sizeof(s), "%" PRId64, v);
	return json_string(s);
}

static json_t *cp_jb64(const char *s)
{
	size_t n = strlen(s);
	char *b = malloc(4 * ((n + 2) / 3) + 1);
	if (b == NULL)
		return NULL;
	cp_b64_encode(s, n, b);
	json_t *j = json_string(b);
	free(b);
	return j;
}

int cp_etcd_grant(struct cp_etcd *e, int64_t ttl_s, int64_t *id, int64_t *granted_s, char *err,
		  size_t len)
{
	json_t *ans, *req = json_pack("{s:o}", "TTL", cp_jstr64(ttl_s));
	int rc = cp_etcd_call(e, "/v3/lease/grant", req, &ans, err, len);
	if (rc < 0)
		return rc;
	*id = cp_j64(ans, "ID");
	*granted_s = cp_j64(ans, "TTL");
	json_decref(ans);
	if (*id == 0 || *granted_s <= 0) {
		snprintf(err, len, "etcd: lease grant: no ID or TTL in the answer");
		return -EPROTO;
	}
	return 0;
}

int cp_etcd_keepalive(struct cp_etcd *e, int64_t id, int64_t *ttl_s, char *err, size_t len)
{
	json_t *ans, *req = json_pack("{s:o}", "ID", cp_jstr64(id));
	int rc = cp_etcd_call(e, "/v3/lease/keepalive", req, &ans, err, len);
	if (rc < 0)
		return rc;
	/* The gateway streams {"result": {...}}; an expired lease answers without a TTL. */
	json_t *res = json_object_get(ans, "result");
	*ttl_s = res ? cp_j64(res, "TTL") : 0;
	json_decref(ans);
	if (res == NULL) {
		snprintf(err, len, "etcd: lease keepalive: no result in the answer");
		return -EPROTO;
	}
	if (*ttl_s <= 0) {
		snprintf(err, len, "etcd: lease %" PRIx64 " is gone (expired or revoked)",
			 (uint64_t)id);
		return -ENOENT;
	}
	return 0;
}

int cp_etcd_revoke(struct cp_etcd *e, int64_t id, char *err, size_t len)
{
	json_t *ans, *req = json_pack("{s:o}", "ID", cp_jstr64(id));
	int rc = cp_etcd_call(e, "/v3/lease/revoke", req, &ans, err, len);
	if (rc == -EIO && strstr(err, "not found"))
		return 0;
	json_decref(ans);
	return rc;
}

static int cp_etcd_kv_parse(const json_t *kvs, struct cp_etcd_kv *kv)
{
	memset(kv, 0, sizeof(*kv));
	const json_t *k = json_is_array(kvs) ? json_array_get(kvs, 0) : NULL;
	if (k == NULL)
		return 0;
	kv->found = 1;
	kv->create_rev = cp_j64(k, "create_revision");
	kv->mod_rev = cp_j64(k, "mod_revision");
	kv->lease = cp_j64(k, "lease");
	const json_t *v = json_object_get(k, "value");
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char buf[4 * CP_ETCD_VALUE_MAX];
		long n = cp_b64_decode(s, strlen(s), buf, sizeof(buf));
		if (n < 0)
			return -EPROTO;
		size_t m = (size_t)n < sizeof(kv->value) - 1 ? (size_t)n : sizeof(kv->value) - 1;
		memcpy(kv->value, buf, m);
		kv->value[m] = 0;
		kv->len = m;
	}
	return 0;
}

int cp_etcd_get(struct cp_etcd *e, const char *key, struct cp_etcd_kv *kv, char *err, size_t len)
{
	json_t *ans, *req = json_pack("{s:o}", "key", cp_jb64(key));
	int rc = cp_etcd_call(e, "/v3/kv/range", req, &ans, err, len);
	if (rc < 0)
		return rc;
	rc = cp_etcd_kv_parse(json_object_get(ans, "kvs"), kv);
	json_decref(ans);
	if (rc < 0)
		snprintf(err, len, "etcd: range %s: a value that is not base64", key);
	return rc;
}

int cp_etcd_put(struct cp_etcd *e, const char *key, const char *value, int64_t lease, char *err,
		size_t len)
{
	json_t *ans, *req = json_pack("{s:o,s:o}", "key", cp_jb64(key), "value", cp_jb64(value));
	if (req && lease)
		json_object_set_new(req, "lease", cp_jstr64(lease));
	int rc = cp_etcd_call(e, "/v3/kv/put", req, &ans, err, len);
	json_decref(ans);
	return rc;
}

int cp_etcd_acquire(struct cp_etcd *e, const char *key, const char *value, int64_t lease,
		    const char *epoch_key, int64_t epoch_mod, const char *epoch_value,
		    struct cp_etcd_kv *held, char *err, size_t len)
{
	json_t *req = json_pack(
		"{s:[{s:s,s:s,s:o,s:o},{s:s,s:s,s:o,s:o}],"
		"s:[{s:{s:o,s:o,s:o}},{s:{s:o,s:o}}],"
		"s:[{s:{s:o}}]}",
		"compare",
		"result", "EQUAL", "target", "CREATE", "key", cp_jb64(key), "create_revision",
		cp_jstr64(0),
		"result", "EQUAL", "target", "MOD", "key", cp_jb64(epoch_key), "mod_revision",
		cp_jstr64(epoch_mod),
		"success",
		"request_put", "key", cp_jb64(key), "value", cp_jb64(value), "lease", cp_jstr64(lease),
		"request_put", "key", cp_jb64(epoch_key), "value", cp_jb64(epoch_value),
		"failure",
		"request_range", "key", cp_jb64(key));
	if (req == NULL) {
		snprintf(err, len, "etcd: out of memory");
		return -ENOMEM;
	}
	json_t *ans;
	int rc = cp_etcd_call(e, "/v3/kv/txn", req, &ans, err, len);
	if (rc < 0)
		return rc;
	memset(held, 0, sizeof(*held));
	if (json_is_true(json_object_get(ans, "succeeded"))) {
		json_decref(ans);
		return 1;
	}
	const json_t *r0 = json_array_get(json_object_get(ans, "responses"), 0);
	const json_t *rr = json_object_get(r0, "response_range");
	rc = cp_etcd_kv_parse(json_object_get(rr, "kvs"), held);
	json_decref(ans);
	if (rc < 0) {
		snprintf(err, len, "etcd: txn on %s: a value that is not base64", key);
		return rc;
	}
	return 0;
}
