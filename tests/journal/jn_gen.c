/*
 * jn_gen.c - writes the small, fixed journal that test_journal_tool.sh checks tokex-journal
 * against: a session, orders that trade on contract 1 (audit.yaml), a modify, a cancel,
 * a mass cancel, a control command, a snapshot marker and an opaque mark. Fixed times.
 * With --hold it then keeps the journal open (its lock held) until killed, at most 120 s.
 *
 * jn_gen DIR --cp [good|crc|version]: a journal of the control plane's state records
 * (cp_state.h): a contract and an account listed (one change), the contract settled (a
 * second), then a third change cut short (part of an item: a stop before it was
 * acknowledged). crc: a data byte of the second change's contract item changed (its
 * record's own CRC is right); version: the second change's first record of version 2.
 * jn_gen DIR --types: the order types on contract 1: a DAY iceberg, a held stop order, a
 * DAY bid, an IOC that meets the iceberg twice (a refill) and elects the stop, then the
 * close (PHASE CLOSED, END_OF_DAY) that expires the DAY orders.
 * jn_gen DIR --patch-cp version: in an existing journal (tokexd's), the first control
 * plane record made version 2, its record CRC recomputed; prints its seq last.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_state.h"
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

static void order_fill(struct dp_order *op, uint8_t type, uint8_t side, uint16_t session,
		       uint32_t firm, uint32_t account, uint64_t cl, uint64_t oid, int64_t price,
		       uint32_t qty)
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
	*op = o;
}

static void order(uint8_t type, uint8_t side, uint16_t session, uint32_t firm, uint32_t account,
		  uint64_t cl, uint64_t oid, int64_t price, uint32_t qty)
{
	struct dp_order o;
	order_fill(&o, type, side, session, firm, account, cl, oid, price, qty);
	put(JN_T_ORDER, &o, sizeof(o));
}

static void ctl(uint8_t type, uint64_t seq, uint64_t arg)
{
	struct dp_ctl k;
	memset(&k, 0, sizeof(k));
	k.type = type;
	k.contract_id = 1;
	k.seq = seq;
	k.arg = arg;
	k.now = t;
	put(JN_T_CTL, &k, sizeof(k));
}

/*
 * --types. Firm 1 (session 1) sells a DAY iceberg 2.5000 x 30 showing 10; firm 2 (session
 * 2) holds a buy stop 2.5000 limit 2.5100 x 2 (GTC) and bids DAY 2.4000 x 3, then buys
 * IOC 2.5000 x 12: 10 from the iceberg, a refill, 2 more (18 left, 8 shown). The trades
 * at 2.5000 elect the stop, which buys 2 of the 8 (16 left, 6 shown). The close: PHASE
 * CLOSED, END_OF_DAY: the iceberg (16) and the DAY bid (3) expire.
 */
static int gen_types(void)
{
	struct jn_session_ev s = { JN_SS_ESTABLISHED, 0, 1, 1, 1001, 1, 1, 0 };
	put(JN_T_SESSION, &s, sizeof(s));
	s = (struct jn_session_ev){ JN_SS_ESTABLISHED, 0, 2, 2, 2002, 1, 1, 0 };
	put(JN_T_SESSION, &s, sizeof(s));
	struct dp_order o;
	order_fill(&o, DP_ORD_NEW, TKX_SIDE_SELL, 1, 1, 11, 1, 0, 25000, 30);
	o.tif = TKX_TIF_DAY;
	dp_order_set_type(&o, 10, 0);
	put(JN_T_ORDER, &o, sizeof(o));
	order_fill(&o, DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 1, 0, 25100, 2);
	dp_order_set_type(&o, 0, 25000);
	put(JN_T_ORDER, &o, sizeof(o));
	order_fill(&o, DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 2, 0, 24000, 3);
	o.tif = TKX_TIF_DAY;
	put(JN_T_ORDER, &o, sizeof(o));
	order_fill(&o, DP_ORD_NEW, TKX_SIDE_BUY, 2, 2, 22, 3, 0, 25000, 12);
	o.tif = TKX_TIF_IOC;
	put(JN_T_ORDER, &o, sizeof(o));
	ctl(DP_CTL_PHASE, 78, TKX_PHASE_CLOSED);
	ctl(DP_CTL_END_OF_DAY, 79, 0);
	return jn_close(j) == 0 ? 0 : 1;
}

/* --cp: the lifecycle's commands all succeed (no matching core here). */
static int cp_ok(void *arg, uint32_t core, const struct dp_ctl *c, struct dp_ctl_reply *r)
{
	(void)arg;
	(void)core;
	memset(r, 0, sizeof(*r));
	r->seq = c->seq;
	return 0;
}

/* One change's items as records; bad: 1 a data byte of the contract item's second part
 * changed, 2 its first record of version 2; cut: only the first two records. */
static void cp_put(const struct cp_state_item *items, uint32_t n, int bad, int cut)
{
	uint32_t put_n = 0;
	for (uint32_t i = 0; i < n; i++) {
		struct cp_state_rec rec[CP_STATE_MAX_PARTS];
		uint32_t parts = cp_state_rec_split(&items[i], rec);
		if (items[i].kind == CP_ST_CONTRACT && bad == 1)
			rec[1].data[3] ^= 0x01;
		if (i == 0 && bad == 2)
			rec[0].version = 2;
		for (uint32_t p = 0; p < parts; p++) {
			if (cut && put_n == 2)
				return;
			put(JN_T_CP, &rec[p], sizeof(rec[p]));
			put_n++;
		}
	}
}

static int gen_cp(int bad)
{
	static struct cp_life L;
	static struct cp_state_img last;
	static struct cp_state_item items[CP_STATE_MAX_ITEMS];
	struct cp_life_ops ops = {cp_ok, NULL, NULL};
	char err[256];
	cp_life_init(&L, &ops, 1);
	L.now = T0;
	struct cp_life_params p = {.id = 202612, .tick = 10, .ref_price = 25000, .max_qty = 1000,
				   .max_orders = 64};
	struct cp_account a = {.firm = 1, .account = 7, .max_qty = 10, .max_pos = 100,
			       .max_pos_spot = 50};
	if (cp_life_define(&L, &p, err, sizeof(err)) < 0 ||
	    cp_life_list(&L, p.id, err, sizeof(err)) < 0 ||
	    cp_life_account(&L, &a, err, sizeof(err)) < 0) {
		fprintf(stderr, "jn_gen: %s\n", err);
		return 1;
	}
	struct cp_state_global g = {.clock_sim = 1, .clock_rate = 3600ull * 1000000ull,
				    .cal_ns = 1798591800000000000ull, .wall_ns = T0};
	cp_state_img_init(&last);
	uint32_t n = cp_state_diff(&L, &g, &last, 0, items);
	cp_put(items, n, 0, 0);
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&last, &items[i], err, sizeof(err));
	/* The day settled: a new settlement, the next day's limits. */
	L.c[0].phase = TKX_PHASE_SETTLED;
	L.c[0].settle = L.c[0].prev_settle = 25020;
	L.c[0].settled_day = L.c[0].trade_day = 20816; /* 2026-12-29 */
	L.c[0].days_traded = 1;
	g.cal_ns += 7ull * 3600 * 1000000000ull;
	n = cp_state_diff(&L, &g, &last, 0, items);
	cp_put(items, n, bad, 0);
	for (uint32_t i = 0; i < n; i++)
		cp_state_img_stage(&last, &items[i], err, sizeof(err));
	L.c[0].phase = TKX_PHASE_PRE_OPEN;
	n = cp_state_diff(&L, &g, &last, 0, items);
	cp_put(items, n, 0, 1);
	return jn_close(j) == 0 ? 0 : 1;
}

/* --patch-cp version: the first CP record found. */
struct patch {
	char segment[256];
	uint64_t offset, seq;
};

static int patch_find(const struct jn_rec *r, const struct jn_pos *pos, void *arg)
{
	struct patch *pt = arg;
	if (r->type != JN_T_CP)
		return 0;
	snprintf(pt->segment, sizeof(pt->segment), "%s", pos->segment);
	pt->offset = pos->offset;
	pt->seq = r->seq;
	return 1;
}

static int patch_cp(const char *dir)
{
	struct patch pt;
	char err[512], path[4096];
	memset(&pt, 0, sizeof(pt));
	if (jn_iter(dir, 0, patch_find, &pt, err, sizeof(err)) < 0 || pt.seq == 0) {
		fprintf(stderr, "jn_gen: no control-plane record in %s\n", dir);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/%s", dir, pt.segment);
	int fd = open(path, O_RDWR);
	struct jn_rec r;
	if (fd < 0 || pread(fd, &r, sizeof(r), (off_t)pt.offset) != (ssize_t)sizeof(r)) {
		perror(path);
		return 1;
	}
	uint16_t v = 2;
	memcpy(r.payload, &v, sizeof(v)); /* cp_state_rec.version */
	r.crc = jn_rec_crc(&r);
	if (pwrite(fd, &r, sizeof(r), (off_t)pt.offset) != (ssize_t)sizeof(r) || close(fd) < 0) {
		perror(path);
		return 1;
	}
	printf("patched %s offset %" PRIu64 ": version 2 at seq %" PRIu64 "\n", path, pt.offset,
	       pt.seq);
	return 0;
}

int main(int argc, char **argv)
{
	int hold = argc == 3 && strcmp(argv[2], "--hold") == 0;
	if (argc == 4 && strcmp(argv[2], "--patch-cp") == 0 && strcmp(argv[3], "version") == 0)
		return patch_cp(argv[1]);
	int cp = (argc == 3 || argc == 4) && strcmp(argv[2], "--cp") == 0;
	int types = argc == 3 && strcmp(argv[2], "--types") == 0;
	int bad = 0;
	if (cp && argc == 4)
		bad = strcmp(argv[3], "crc") == 0 ? 1 : strcmp(argv[3], "version") == 0 ? 2
			: strcmp(argv[3], "good") == 0 ? 0 : -1;
	if ((argc != 2 && !hold && !cp && !types) || bad < 0) {
		fprintf(stderr, "usage: jn_gen DIR [--hold | --types | --cp [good|crc|version] | "
			"--patch-cp version]\n");
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
	if (cp)
		return gen_cp(bad);
	if (types)
		return gen_types();
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
