/*
 * jn_gen.c - writes the small, fixed journal that test_journal_tool.sh checks tokex-journal
 * against: a session, orders that trade on contract 1 (audit.yaml), a modify, a cancel,
 * a mass cancel, a control command, a snapshot marker and an opaque mark. Fixed times.
 * With --hold it then keeps the journal open (its lock held) until killed, at most 120 s.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dataplane/dp_msg.h"
#include "jn_journal.h"

#define T0 1767323045000000001ull /* 2026-01-02T03:04:05.000000001Z */
#define OID(seq, session) ((uint64_t)(seq) << 24 | (uint64_t)(session))

static struct jn *j;
static uint64_t t = T0;

static void put(uint16_t type, const void *p, uint32_t len)
{
	t += 1500000; /* 1.5 ms apart */
	if (jn_append(j, type, p, len, t) <= 0) {
		fprintf(stderr, "jn_gen: append failed\n");
		exit(1);
	}
}

static void order(uint8_t type, uint8_t side, uint16_t session, uint32_t firm, uint32_t account,
		  uint64_t cl, uint64_t oid, int64_t price, uint32_t qty)
{
	struct dp_order o;
	memset(&o, 0, sizeof(o));
	o.type = type;
	o.side = side;
	o.tif = TKX_TIF_GTC;
	o.parts = 1;
	o.session = session;
	o.contract_id = 1;
	o.firm_id = firm;
	o.account = account;
	o.cl_ord_id = cl;
	o.order_id = oid;
	o.price = price;
	o.qty = qty;
	o.rx_time = t;
	o.in_seq = cl;
	put(JN_T_ORDER, &o, sizeof(o));
}

int main(int argc, char **argv)
{
	int hold = argc == 3 && strcmp(argv[2], "--hold") == 0;
	if (argc != 2 && !hold) {
		fprintf(stderr, "usage: jn_gen DIR [--hold]\n");
		return 2;
	}
	struct jn_config c;
	memset(&c, 0, sizeof(c));
	c.dir = argv[1];
	c.durability = JN_SYNC;
	c.segment_bytes = 64 * JN_REC_SIZE;
	char err[512];
	j = jn_open(&c, err, sizeof(err));
	if (j == NULL) {
		fprintf(stderr, "jn_gen: %s\n", err);
		return 1;
	}
	struct jn_session_ev s = { JN_SS_ESTABLISHED, 0, 1, 1, 1001, 1, 1, 0 };
	put(JN_T_SESSION, &s, sizeof(s));
	s = (struct jn_session_ev){ JN_SS_ESTABLISHED, 0, 2, 2, 2002, 1, 1, 0 };
	put(JN_T_SESSION, &s, sizeof(s));
	/* firm 1 account 11 (session 1) sells; firm 2 account 22 (session 2) buys */
	order(DP_ORD_NEW, TKX_SIDE_SELL, 1, 1, 11, 1, 0, 25000, 10);      /* order 1 */
	order(DP_ORD_NEW, TKX_SIDE_SELL, 1, 1, 11, 2, 0, 25100, 5);       /* order 2 */
	order(DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 1, 0, 25010, 4);        /* trades 4 @ 2.5000 */
	order(DP_ORD_MODIFY, TKX_SIDE_SELL, 1, 1, 11, 3, OID(1, 1), 25050, 3);
	order(DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 2, 0, 25100, 7);        /* sweeps 3 + 4 */
	order(DP_ORD_CANCEL, TKX_SIDE_SELL, 1, 1, 11, 4, OID(2, 1), 0, 0); /* already filled */
	order(DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 3, 0, 24000, 2);
	struct dp_ctl k;
	memset(&k, 0, sizeof(k));
	k.type = DP_CTL_KILL;
	k.contract_id = 1;
	k.firm_id = 2;
	k.account = 22;
	k.seq = 77;
	k.arg = 1;
	k.now = t;
	put(JN_T_CTL, &k, sizeof(k));
	struct jn_snapshot_mark m = { 9 };
	put(JN_T_SNAPSHOT, &m, sizeof(m));
	put(JN_T_MARK, "hello", 5);
	s = (struct jn_session_ev){ JN_SS_TERMINATED, 0, 2, 2, 2002, 4, 9, 0 };
	put(JN_T_SESSION, &s, sizeof(s));
	if (hold) {
		if (jn_wait_durable(j, jn_next_seq(j) - 1, 10000) != 0)
			return 1;
		printf("holding\n");
		fflush(stdout);
		alarm(120); /* never outlives a failed test */
		for (;;)
			pause();
	}
	return jn_close(j) == 0 ? 0 : 1;
}
