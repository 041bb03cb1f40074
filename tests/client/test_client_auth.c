/*
 * test_client_auth.c - libtokex-client's side of UDP datagram authentication (protocol
 * 4.13): what an off-path spoofer who forges the exchange's address can still make a
 * client do (nothing), and what the client seals.
 *
 * A fake exchange on a UDP socket on 127.0.0.1 plays the protocol in lock step: it
 * derives the session's keys from the client's Negotiate as the exchange does, checks
 * every client datagram's DatagramAuth, and sends sealed, forged, tampered and replayed
 * datagrams from the exchange's own address (an off-path spoofer's best case: the client
 * cannot tell its datagrams from the exchange's by address). Every wait is bounded.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokex/client.h>
#include <tokex/codec.h>

static const char secret[] = "tokex-demo-secret-firm-1";
#define SESSION 4343u

struct fake {
	int fd;
	struct sockaddr_in addr, peer;
	struct tkx_auth_keys k;
	uint64_t tx, rx; /* our counter; the client's last */
	uint64_t out_next;
};

static void fake_open(struct fake *x)
{
	socklen_t sl = sizeof(x->addr);

	memset(x, 0, sizeof(*x));
	x->out_next = 1;
	x->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(x->fd >= 0);
	x->addr.sin_family = AF_INET;
	x->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(x->fd, (struct sockaddr *)&x->addr, sizeof(x->addr)), 0);
	assert_int_equal(getsockname(x->fd, (struct sockaddr *)&x->addr, &sl), 0);
}

/* One client datagram: its messages (DatagramAuth checked and stripped) into m; the
 * count. *sealed says whether it carried one. Heartbeats (a lone Sequence: the client's
 * keepalive may fall due on a slow machine) are checked and skipped. */
static int fake_recv_any(struct fake *x, struct tkx_msg *m, int max, int *sealed)
{
	uint8_t b[TKX_MAX_DGRAM + 1];
	struct pollfd p = { .fd = x->fd, .events = POLLIN };
	socklen_t sl = sizeof(x->peer);
	ssize_t n;
	int err = 0, r;
	uint64_t ctr;

	assert_int_equal(poll(&p, 1, 2000), 1);
	n = recvfrom(x->fd, b, sizeof(b), 0, (struct sockaddr *)&x->peer, &sl);
	assert_true(n > 0 && n <= TKX_MAX_DGRAM);
	*sealed = tkx_auth_find(b, (size_t)n) >= 0;
	if (*sealed) {
		r = tkx_auth_open(x->k.c2e, b, (size_t)n, &ctr);
		assert_true(r >= 0);
		assert_true(ctr > x->rx);
		x->rx = ctr;
		n = r;
	}
	r = tkx_decode_dgram(b, (size_t)n, m, (unsigned)max, &err, NULL);
	assert_int_equal(err, 0);
	return r;
}

static int fake_recv(struct fake *x, struct tkx_msg *m, int max, int *sealed)
{
	for (;;) {
		int n = fake_recv_any(x, m, max, sealed);

		if (n != 1 || m[0].template_id != TKX_SEQUENCE)
			return n;
		assert_int_equal(*sealed, 1);
	}
}

/* Bytes to the client from the exchange's address; sealed with the exchange key when
 * seal, with counter ctr (0: the next one). */
static void fake_send(struct fake *x, const uint8_t *b, size_t len, int seal, uint64_t ctr)
{
	uint8_t d[TKX_MAX_DGRAM];

	memcpy(d, b, len);
	if (seal) {
		int n = tkx_auth_seal(x->k.e2c, ctr ? ctr : ++x->tx, d, len, sizeof(d));

		assert_true(n > 0);
		len = (size_t)n;
	}
	assert_int_equal(sendto(x->fd, d, len, 0, (struct sockaddr *)&x->peer, sizeof(x->peer)),
			 (ssize_t)len);
}

static size_t enc(uint8_t *b, uint16_t tid, const void *body)
{
	struct tkx_msg m = { .template_id = tid };
	int n;

	memcpy(m.raw, body, (size_t)tkx_block_length(tid));
	n = tkx_encode(b, TKX_MAX_MSG_LEN, &m);
	assert_true(n > 0);
	return (size_t)n;
}

/* Poll the client until it has n events or 1 s passed; the count. */
static int events(struct tkx_client *c, struct tkx_client_event *ev, int n)
{
	int got = 0;

	for (int i = 0; i < 50 && got < n; i++) {
		int r = tkx_client_poll(c, 20, ev + got, (unsigned)(n - got));

		assert_true(r >= 0);
		got += r;
	}
	return got;
}

static struct tkx_client *open_client_retry(struct fake *x, uint32_t retry_ms)
{
	struct tkx_client_cfg cfg;
	struct tkx_client *c = NULL;

	tkx_client_cfg_default(&cfg);
	cfg.retry_ms = retry_ms;
	cfg.exchange = x->addr;
	cfg.firm_id = 1;
	cfg.secret = (const uint8_t *)secret;
	cfg.secret_len = strlen(secret);
	cfg.session_id = SESSION;
	assert_int_equal(tkx_client_open(&c, &cfg), 0);
	return c;
}

static struct tkx_client *open_client(struct fake *x)
{
	return open_client_retry(x, 250);
}

/* Negotiate and Establish: both unsealed from the client, both answers sealed. */
static struct tkx_client *logon(struct fake *x)
{
	struct tkx_client *c = open_client(x);
	struct tkx_client_event ev[4];
	struct tkx_msg m[4];
	uint8_t b[TKX_MAX_MSG_LEN];
	int sealed;

	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(fake_recv(x, m, 4, &sealed), 1);
	assert_int_equal(sealed, 0);
	assert_int_equal(m[0].template_id, TKX_NEGOTIATE);
	assert_int_equal(tkx_auth_derive((const uint8_t *)secret, strlen(secret), SESSION, 1,
					 m[0].negotiate.timestamp, &x->k), 0);
	fake_send(x, b,
		  enc(b, TKX_NEGOTIATION_RESPONSE,
		      &(struct tkx_negotiation_response){
			      .session_id = SESSION,
			      .request_timestamp = m[0].negotiate.timestamp, .firm_id = 1 }),
		  1, 0);
	events(c, ev, 1);
	assert_int_equal(fake_recv(x, m, 4, &sealed), 1);
	assert_int_equal(sealed, 0);
	assert_int_equal(m[0].template_id, TKX_ESTABLISH);
	fake_send(x, b,
		  enc(b, TKX_ESTABLISHMENT_ACK,
		      &(struct tkx_establishment_ack){
			      .session_id = SESSION, .request_timestamp = m[0].establish.timestamp,
			      .next_seq_no = 1, .expected_seq_no = 1, .keepalive_ms = 1000 }),
		  1, 0);
	events(c, ev, 1);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);
	return c;
}

/* Sequence(n) + ExecAck(cl) as the exchange numbers it. */
static size_t ack_dgram(uint8_t *b, uint64_t n, uint64_t cl)
{
	size_t len = enc(b, TKX_SEQUENCE, &(struct tkx_sequence){ .next_seq_no = n });

	return len + enc(b + len, TKX_EXEC_ACK,
			 &(struct tkx_exec_ack){ .cl_ord_id = cl, .order_id = 77 + cl,
						 .price = 25000, .qty = 1, .contract_id = 7,
						 .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC });
}

static uint64_t auth_dropped(const struct tkx_client *c)
{
	struct tkx_client_stats st;

	assert_int_equal(tkx_client_stats_get(c, &st), 0);
	return st.rx_auth_dropped;
}

static void test_client_seals(void **state)
{
	struct fake x;
	struct tkx_client *c;
	struct tkx_msg m[4];
	struct tkx_new_order o = { .price = 25000, .qty = 1, .contract_id = 7,
				   .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
	int sealed;

	(void)state;
	fake_open(&x);
	c = logon(&x);
	assert_int_equal(tkx_client_new_order(c, &o), 0);
	assert_int_equal(fake_recv(&x, m, 4, &sealed), 2);
	assert_int_equal(sealed, 1);
	assert_int_equal(m[1].template_id, TKX_NEW_ORDER);
	assert_int_equal(x.rx, 1);
	assert_int_equal(tkx_client_new_order(c, &o), 0);
	assert_int_equal(fake_recv(&x, m, 4, &sealed), 2);
	assert_int_equal(sealed, 1);
	assert_int_equal(x.rx, 2);
	tkx_client_close(c); /* its Terminate is sealed too */
	assert_int_equal(fake_recv(&x, m, 4, &sealed), 1);
	assert_int_equal(m[0].template_id, TKX_TERMINATE);
	assert_int_equal(sealed, 1);
	close(x.fd);
}

/* From the exchange's own address: a forged fill, a forged Terminate, a tampered and a
 * replayed datagram change nothing and are counted; the real one is delivered once. */
static void test_forged_replies_dropped(void **state)
{
	struct fake x;
	struct tkx_client *c;
	struct tkx_client_event ev[8];
	struct tkx_msg m[4];
	struct tkx_new_order o = { .price = 25000, .qty = 1, .contract_id = 7,
				   .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };
	uint8_t b[TKX_MAX_DGRAM], t[TKX_MAX_DGRAM];
	size_t len;
	int sealed, n;

	(void)state;
	fake_open(&x);
	c = logon(&x);
	assert_int_equal(tkx_client_new_order(c, &o), 0);
	assert_int_equal(fake_recv(&x, m, 4, &sealed), 2);

	len = ack_dgram(b, 1, o.cl_ord_id);
	fake_send(&x, b, len, 0, 0); /* unsealed */
	len = enc(t, TKX_TERMINATE, &(struct tkx_terminate){ .session_id = SESSION });
	fake_send(&x, t, len, 0, 0);
	len = ack_dgram(b, 1, o.cl_ord_id);
	memcpy(t, b, len);
	assert_int_equal(tkx_auth_seal(x.k.e2c, 50, t, len, sizeof(t)), (int)(len + TKX_AUTH_LEN));
	t[20] ^= 1; /* tampered after sealing */
	assert_int_equal(sendto(x.fd, t, len + TKX_AUTH_LEN, 0, (struct sockaddr *)&x.peer,
				sizeof(x.peer)), (ssize_t)(len + TKX_AUTH_LEN));
	n = events(c, ev, 1);
	assert_int_equal(n, 0);
	assert_int_equal(auth_dropped(c), 3);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);

	fake_send(&x, b, len, 1, 0); /* the real one */
	assert_int_equal(events(c, ev, 1), 1);
	assert_int_equal(ev[0].kind, TKX_EXEC_ACK);
	assert_int_equal(ev[0].seq, 1);
	/* Replayed: the counter of the real one again, or below it. */
	fake_send(&x, b, len, 1, x.tx);
	fake_send(&x, b, len, 1, x.tx - 1);
	assert_int_equal(events(c, ev, 1), 0);
	assert_int_equal(auth_dropped(c), 5);
	tkx_client_close(c);
	close(x.fd);
}

/* Refusing a logon, the exchange has no keys for the address: that answer comes unsealed
 * and is taken while logging on (and only then). */
static void test_unsealed_refusal_taken(void **state)
{
	struct fake x;
	struct tkx_client *c;
	struct tkx_client_event ev[4];
	struct tkx_msg m[4];
	uint8_t b[TKX_MAX_MSG_LEN];
	char why[160];
	int sealed;

	(void)state;
	fake_open(&x);
	c = open_client(&x);
	assert_int_equal(tkx_client_start(c), 0);
	assert_int_equal(fake_recv(&x, m, 4, &sealed), 1);
	fake_send(&x, b,
		  enc(b, TKX_NEGOTIATION_REJECT,
		      &(struct tkx_negotiation_reject){
			      .session_id = SESSION, .request_timestamp = m[0].negotiate.timestamp,
			      .reason = TKX_SREJ_BAD_CREDENTIALS }),
		  0, 0);
	events(c, ev, 1);
	assert_int_equal(tkx_client_state(c), TKX_CLIENT_FAILED);
	tkx_client_errstr(c, why, sizeof(why));
	assert_non_null(strstr(why, "NegotiationReject"));
	tkx_client_close(c);
	close(x.fd);
}

/* Keys of one of the client's Negotiates, as the exchange derives them. */
static void keys_of(const struct tkx_msg *ng, struct tkx_auth_keys *k)
{
	assert_int_equal(ng->template_id, TKX_NEGOTIATE);
	assert_int_equal(tkx_auth_derive((const uint8_t *)secret, strlen(secret), SESSION, 1,
					 ng->negotiate.timestamp, k), 0);
}

/* An exchange slower than the client's Negotiate retry: the client has sent a second
 * Negotiate (new keys) before the answer to the first comes. The exchange takes both in
 * turn, answering each under its own keys and going on under the second's; a late first
 * Negotiate refused STALE_TIMESTAMP after the second does not end the logon either. */
static void test_repeated_negotiate(void **state)
{
	for (int reordered = 0; reordered <= 1; reordered++) {
		struct fake x;
		struct tkx_client *c;
		struct tkx_client_event ev[4];
		struct tkx_msg n1[4], n2[4], m[4];
		struct tkx_auth_keys k1, k2;
		uint8_t b[TKX_MAX_MSG_LEN];
		size_t len;
		int sealed;

		(void)state;
		fake_open(&x);
		c = open_client_retry(&x, 30);
		assert_int_equal(tkx_client_start(c), 0);
		assert_int_equal(fake_recv(&x, n1, 4, &sealed), 1);
		/* Unanswered, the client repeats its Negotiate after 30 ms. */
		assert_int_equal(tkx_client_poll(c, 60, ev, 4), 0);
		do
			assert_int_equal(fake_recv(&x, n2, 4, &sealed), 1);
		while (n2[0].negotiate.timestamp == n1[0].negotiate.timestamp);
		assert_int_equal(sealed, 0);
		keys_of(&n1[0], &k1);
		keys_of(&n2[0], &k2);
		if (!reordered) {
			/* In order: the first answered under its keys, then the second. */
			x.k = k1;
			x.tx = 0;
			len = enc(b, TKX_NEGOTIATION_RESPONSE,
				  &(struct tkx_negotiation_response){
					  .session_id = SESSION,
					  .request_timestamp = n1[0].negotiate.timestamp,
					  .firm_id = 1 });
			fake_send(&x, b, len, 1, 0);
			assert_int_equal(events(c, ev, 1), 1);
			assert_int_equal(ev[0].kind, TKX_NEGOTIATION_RESPONSE);
		} else {
			/* The second first; then the first, now older than the keys: STALE. */
			x.k = k2;
			x.tx = 0;
			len = enc(b, TKX_NEGOTIATION_REJECT,
				  &(struct tkx_negotiation_reject){
					  .session_id = SESSION,
					  .request_timestamp = n1[0].negotiate.timestamp,
					  .reason = TKX_SREJ_STALE_TIMESTAMP });
			fake_send(&x, b, len, 1, 0);
			assert_int_equal(tkx_client_poll(c, 60, ev, 4), 0); /* taken, ignored */
			assert_int_equal(tkx_client_state(c), TKX_CLIENT_NEGOTIATING);
		}
		x.k = k2;
		x.tx = reordered;
		len = enc(b, TKX_NEGOTIATION_RESPONSE,
			  &(struct tkx_negotiation_response){
				  .session_id = SESSION,
				  .request_timestamp = n2[0].negotiate.timestamp, .firm_id = 1 });
		fake_send(&x, b, len, 1, 0);
		tkx_client_poll(c, 60, ev, 4); /* the answer in: the client sends Establish */
		/* The Establish (repeats of the Negotiate may still be on their way). */
		do
			assert_int_equal(fake_recv(&x, m, 4, &sealed), 1);
		while (m[0].template_id == TKX_NEGOTIATE);
		assert_int_equal(m[0].template_id, TKX_ESTABLISH);
		len = enc(b, TKX_ESTABLISHMENT_ACK,
			  &(struct tkx_establishment_ack){
				  .session_id = SESSION,
				  .request_timestamp = m[0].establish.timestamp,
				  .next_seq_no = 1, .expected_seq_no = 1, .keepalive_ms = 1000 });
		fake_send(&x, b, len, 1, 0);
		for (int i = 0; i < 50 && tkx_client_state(c) != TKX_CLIENT_ESTABLISHED; i++)
			tkx_client_poll(c, 20, ev, 4);
		assert_int_equal(tkx_client_state(c), TKX_CLIENT_ESTABLISHED);
		assert_int_equal(auth_dropped(c), 0);
		/* It seals under the keys the exchange went on with. */
		{
			struct tkx_new_order o = { .price = 25000, .qty = 1, .contract_id = 7,
						   .side = TKX_SIDE_BUY, .tif = TKX_TIF_GTC };

			int n;

			x.rx = 0;
			assert_int_equal(tkx_client_new_order(c, &o), 0);
			do /* past the repeated logons still queued */
				n = fake_recv(&x, m, 4, &sealed);
			while (m[0].template_id == TKX_NEGOTIATE || m[0].template_id == TKX_ESTABLISH);
			assert_int_equal(n, 2);
			assert_int_equal(m[1].template_id, TKX_NEW_ORDER);
			assert_int_equal(sealed, 1);
		}
		tkx_client_close(c);
		close(x.fd);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_seals),
		cmocka_unit_test(test_forged_replies_dropped),
		cmocka_unit_test(test_unsealed_refusal_taken),
		cmocka_unit_test(test_repeated_negotiate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
