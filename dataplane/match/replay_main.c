/*
 * replay_main.c - tokex-replay: runs a text command file through one matching-engine book
 * and prints the events and the final book. An offline tool (tests, demos, differential
 * checks against other engines), not part of the data path.
 *
 * Input (stdin), one command per line, comma separated, no spaces; lines starting with
 * '#' and empty lines are skipped:
 *   N,id,side,price,qty,tif,owner[,show=D][,stop=T]
 *                          side B|S, tif GTC|IOC|FOK|POST|DAY, owner 0 = none; show: an
 *                          iceberg's display quantity, stop: a stop order's trigger price
 *   C,id
 *   M,id,price,qty
 *   E                      the end of the trading day (DAY orders expire)
 * id, price, qty, show and stop are decimal int64 (an optional '-' then digits), owner a
 * decimal uint64 (digits only); the semantics are me_book.h's. A value that parses but
 * is invalid (price or qty <= 0, side not B/S, tif unknown, show or stop <= 0, and the
 * other rules of me_book.h) is the engine's business: R,id,INVALID; so is an optional
 * field with an unknown key, a repeated key or a value that is not a decimal int64. A
 * line that does not parse otherwise (unknown command, wrong field count, a number that
 * is not one or out of range, a NUL byte) is a usage error: a message naming the line on
 * stderr and exit status 2, and nothing runs (one bad line stops the run).
 *
 * Output (stdout), one event per line in the order the engine emits them (ACCEPT and
 * MODIFY are not printed):
 *   T,aggressor_id,resting_id,price,qty
 *   X,id,qty,reason       CANCEL|IOC|FOK|STP|EXPIRE (the order left without trading qty)
 *   R,id,reason           INVALID|DUP|UNKNOWN|POST_CROSS
 *   S,id                  held stop order id is elected; its processing follows
 * then the book: O,side,price,id,remaining for every resting order, bids best price
 * first, then asks best price first, each level in time priority, with ,visible
 * appended for an iceberg; then P,side,stop,price,id,qty for every held stop order in
 * arrival order. On a stream without DAY, show, stop or E the output is exactly that
 * of the tool before they existed.
 *
 * Prices: the engine indexes levels by price, and replay prices are any positive int64.
 * So the tool reads all input first, sorts the distinct positive prices of N and M
 * commands (stop prices included) and replaces each by its rank 1..K; the book runs
 * with price_lo = 1,
 * price_hi = K, tick 1, max_qty INT64_MAX and max_orders = the number of N commands (so
 * TICK, BAND, MAX_QTY and FULL cannot happen). Prices <= 0 go through unchanged and are
 * rejected INVALID. The mapping is exact because the replay semantics only ever compare
 * prices, a stop price with trade prices included (and trade at a resting order's price,
 * mapped back on output).
 *
 * Exit status: 0 done, 1 resource or output error, 2 usage error.
 */
#include "me_book.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokex/version.h>

#define RP_MAX_FIELDS 10
#define RP_SINK_CAP 256

struct rp_ctx {
	const int64_t *prices; /* rank - 1 -> price */
	FILE *out;
};

/* Not an engine command: tokex-replay's E (end of day) in its command array. */
#define RP_CMD_EOD 0xe0

static void *xrealloc(void *p, size_t n);

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tokex-replay < commands > events\n"
		"  commands: N,id,side,price,qty,tif,owner[,show=D][,stop=T] | C,id |\n"
		"            M,id,price,qty | E (end of day)\n"
		"  events:   T,aggr,rest,price,qty | X,id,qty,reason | R,id,reason | S,id\n"
		"            then O,side,price,id,remaining[,visible] per resting order\n"
		"            and P,side,stop,price,id,qty per held stop order\n"
		"  --version: print tokex-replay's version and exit\n");
}

static _Noreturn void die_line(unsigned long line, const char *msg, const char *field)
{
	if (field)
		fprintf(stderr, "tokex-replay: line %lu: %s: '%s'\n", line, msg, field);
	else
		fprintf(stderr, "tokex-replay: line %lu: %s\n", line, msg);
	exit(2);
}

/* Decimal int64: optional '-', then digits only, the whole field, in range. */
static int parse_i64(const char *f, int64_t *v)
{
	const char *d = f[0] == '-' ? f + 1 : f;
	char *end;

	if (*d < '0' || *d > '9')
		return -EINVAL;
	errno = 0;
	long long x = strtoll(f, &end, 10);
	if (errno != 0)
		return -errno;
	if (*end != '\0')
		return -EINVAL;
	*v = (int64_t)x;
	return 0;
}

/* Decimal uint64: digits only (strtoull would accept and negate a '-'). */
static int parse_u64(const char *f, uint64_t *v)
{
	char *end;

	if (*f < '0' || *f > '9')
		return -EINVAL;
	errno = 0;
	unsigned long long x = strtoull(f, &end, 10);
	if (errno != 0)
		return -errno;
	if (*end != '\0')
		return -EINVAL;
	*v = (uint64_t)x;
	return 0;
}

static int64_t field_i64(unsigned long line, const char *name, const char *f)
{
	int64_t v = 0;

	if (parse_i64(f, &v) < 0) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%s is not a decimal int64", name);
		die_line(line, msg, f);
	}
	return v;
}

static uint8_t parse_side(const char *f)
{
	if (strcmp(f, "B") == 0)
		return ME_BUY;
	if (strcmp(f, "S") == 0)
		return ME_SELL;
	return 0xff; /* the engine rejects it INVALID */
}

static uint8_t parse_tif(const char *f)
{
	static const char *const names[] = {
		[ME_GTC] = "GTC", [ME_IOC] = "IOC", [ME_FOK] = "FOK", [ME_POST] = "POST",
		[ME_DAY] = "DAY"
	};

	for (uint8_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(f, names[i]) == 0)
			return i;
	return 0xff;
}

/* Splits line at commas in place; returns the field count (RP_MAX_FIELDS + 1 when there
 * are more than RP_MAX_FIELDS). */
static unsigned split(char *line, char *f[RP_MAX_FIELDS])
{
	unsigned n = 0;
	char *p = line;

	for (;;) {
		if (n == RP_MAX_FIELDS)
			return RP_MAX_FIELDS + 1;
		f[n++] = p;
		p = strchr(p, ',');
		if (p == NULL)
			return n;
		*p++ = '\0';
	}
}

static void parse_line(char *line, unsigned long ln, struct me_cmd *c)
{
	char *f[RP_MAX_FIELDS] = { 0 };
	unsigned n = split(line, f);

	memset(c, 0, sizeof(*c));
	if (strcmp(f[0], "N") == 0) {
		if (n < 7 || n > 9)
			die_line(ln, "N takes 7 to 9 fields: N,id,side,price,qty,tif,owner"
				 "[,show=D][,stop=T]", NULL);
		c->type = ME_CMD_NEW;
		c->id = field_i64(ln, "id", f[1]);
		c->side = parse_side(f[2]);
		c->price = field_i64(ln, "price", f[3]);
		c->qty = field_i64(ln, "qty", f[4]);
		c->tif = parse_tif(f[5]);
		if (parse_u64(f[6], &c->owner) < 0)
			die_line(ln, "owner is not a decimal uint64", f[6]);
		bool bad = false, has_show = false, has_stop = false;
		for (unsigned i = 7; i < n; i++) {
			int64_t v = 0;
			if (strncmp(f[i], "show=", 5) == 0 && !has_show) {
				has_show = true;
				bad |= parse_i64(f[i] + 5, &v) < 0 || v <= 0;
				c->show = v;
			} else if (strncmp(f[i], "stop=", 5) == 0 && !has_stop) {
				has_stop = true;
				bad |= parse_i64(f[i] + 5, &v) < 0 || v <= 0;
				c->stop = v;
			} else {
				bad = true; /* an unknown or repeated key */
			}
		}
		/* The engine reads 0 as "absent" and rejects what is left INVALID: make it so
		 * for every optional field it could not take. */
		if (bad)
			c->tif = 0xff;
	} else if (strcmp(f[0], "E") == 0) {
		if (n != 1)
			die_line(ln, "E takes no fields", NULL);
		c->type = RP_CMD_EOD;
	} else if (strcmp(f[0], "C") == 0) {
		if (n != 2)
			die_line(ln, "C takes 2 fields: C,id", NULL);
		c->type = ME_CMD_CANCEL;
		c->id = field_i64(ln, "id", f[1]);
	} else if (strcmp(f[0], "M") == 0) {
		if (n != 4)
			die_line(ln, "M takes 4 fields: M,id,price,qty", NULL);
		c->type = ME_CMD_MODIFY;
		c->id = field_i64(ln, "id", f[1]);
		c->price = field_i64(ln, "price", f[2]);
		c->qty = field_i64(ln, "qty", f[3]);
	} else {
		die_line(ln, "unknown command (want N, C, M or E)", f[0]);
	}
}

static const char *out_name(unsigned r)
{
	switch (r) {
	case ME_OUT_CANCEL: return "CANCEL";
	case ME_OUT_IOC: return "IOC";
	case ME_OUT_FOK: return "FOK";
	case ME_OUT_STP: return "STP";
	case ME_OUT_MASS: return "MASS";
	case ME_OUT_EXPIRE: return "EXPIRE";
	default: return "?";
	}
}

static const char *rej_name(unsigned r)
{
	switch (r) {
	case ME_REJ_INVALID: return "INVALID";
	case ME_REJ_DUP: return "DUP";
	case ME_REJ_UNKNOWN: return "UNKNOWN";
	case ME_REJ_POST_CROSS: return "POST_CROSS";
	case ME_REJ_TICK: return "TICK";
	case ME_REJ_BAND: return "BAND";
	case ME_REJ_MAX_QTY: return "MAX_QTY";
	case ME_REJ_FULL: return "FULL";
	case ME_REJ_PHASE: return "PHASE";
	default: return "?";
	}
}

static void print_events(struct me_sink *s)
{
	const struct rp_ctx *x = s->arg;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct me_event *e = &s->ev[i];
		switch (e->type) {
		case ME_EV_TRADE:
			fprintf(x->out, "T,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n",
				e->id, e->rid, x->prices[e->price - 1], e->qty);
			break;
		case ME_EV_OUT:
			fprintf(x->out, "X,%" PRId64 ",%" PRId64 ",%s\n", e->id, e->qty,
				out_name(e->reason));
			break;
		case ME_EV_REJECT:
			fprintf(x->out, "R,%" PRId64 ",%s\n", e->id, rej_name(e->reason));
			break;
		case ME_EV_ELECT:
			fprintf(x->out, "S,%" PRId64 "\n", e->id);
			break;
		default: /* ACCEPT, MODIFY: not printed */
			break;
		}
	}
	s->n = 0;
}

static int print_order(void *arg, const struct me_order_view *o)
{
	const struct rp_ctx *x = arg;

	fprintf(x->out, "O,%c,%" PRId64 ",%" PRId64 ",%" PRId64, o->side == ME_BUY ? 'B' : 'S',
		x->prices[o->price - 1], o->id, o->qty);
	if (o->show > 0)
		fprintf(x->out, ",%" PRId64, o->visible);
	fputc('\n', x->out);
	return 0;
}

static int print_held(void *arg, const struct me_order_view *o)
{
	const struct rp_ctx *x = arg;

	fprintf(x->out, "P,%c,%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64 "\n",
		o->side == ME_BUY ? 'B' : 'S', x->prices[o->stop - 1], x->prices[o->price - 1],
		o->id, o->qty);
	return 0;
}

/* Adds a price to the list the ranks are made of. */
static void price_add(int64_t **prices, size_t *n, size_t *cap, int64_t px)
{
	if (*n == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		*prices = xrealloc(*prices, *cap * sizeof(**prices));
	}
	(*prices)[(*n)++] = px;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	if (q == NULL) {
		fprintf(stderr, "tokex-replay: out of memory\n");
		exit(1);
	}
	return q;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (opt == 'h') {
			usage(stdout);
			return 0;
		}
		if (opt == 'V') {
			printf("tokex-replay %s\n", tkx_version());
			return 0;
		}
		usage(stderr);
		return 2;
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}

	/* Read and parse everything: the price map needs every price first. */
	struct me_cmd *cmds = NULL;
	int64_t *prices = NULL;
	size_t ncmd = 0, capcmd = 0, nprice = 0, capprice = 0;
	uint32_t nnew = 0;
	char *line = NULL;
	size_t linecap = 0;
	unsigned long ln = 0;
	ssize_t len;

	while ((len = getline(&line, &linecap, stdin)) >= 0) {
		ln++;
		if (memchr(line, '\0', (size_t)len) != NULL)
			die_line(ln, "the line holds a NUL byte", NULL);
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (ncmd == capcmd) {
			capcmd = capcmd ? 2 * capcmd : 1024;
			cmds = xrealloc(cmds, capcmd * sizeof(*cmds));
		}
		struct me_cmd *c = &cmds[ncmd++];
		parse_line(line, ln, c);
		if (c->type == ME_CMD_NEW) {
			if (nnew == ME_MAX_ORDERS) {
				fprintf(stderr, "tokex-replay: more than %u N commands\n",
					ME_MAX_ORDERS);
				return 1;
			}
			nnew++;
		}
		if ((c->type == ME_CMD_NEW || c->type == ME_CMD_MODIFY) && c->price > 0)
			price_add(&prices, &nprice, &capprice, c->price);
		if (c->type == ME_CMD_NEW && c->stop > 0)
			price_add(&prices, &nprice, &capprice, c->stop);
	}
	free(line);
	if (ferror(stdin)) {
		perror("tokex-replay: reading stdin");
		free(cmds);
		free(prices);
		return 1;
	}

	/* Distinct prices, ascending; each command's price becomes its rank. */
	size_t k = 0;
	if (nprice > 0) {
		qsort(prices, nprice, sizeof(*prices), cmp_i64);
		for (size_t i = 0; i < nprice; i++)
			if (k == 0 || prices[i] != prices[k - 1])
				prices[k++] = prices[i];
	}
	if (k > ME_MAX_LEVELS) {
		fprintf(stderr, "tokex-replay: %zu distinct prices, at most %u supported\n", k,
			ME_MAX_LEVELS);
		return 1;
	}
	for (size_t i = 0; i < ncmd; i++) {
		struct me_cmd *c = &cmds[i];
		if (c->type == ME_CMD_NEW && c->stop > 0) {
			const int64_t *r = bsearch(&c->stop, prices, k, sizeof(*prices), cmp_i64);
			c->stop = (int64_t)(r - prices) + 1;
		}
		if ((c->type != ME_CMD_NEW && c->type != ME_CMD_MODIFY) || c->price <= 0)
			continue;
		const int64_t *r = bsearch(&c->price, prices, k, sizeof(*prices), cmp_i64);
		c->price = (int64_t)(r - prices) + 1;
	}

	struct me_params p = {
		.price_lo = 1,
		.price_hi = k > 0 ? (int64_t)k : 1,
		.tick = 1,
		.max_qty = INT64_MAX,
		.max_orders = nnew > 0 ? nnew : 1,
	};
	size_t msz = me_book_memsize(&p);
	void *mem = msz ? aligned_alloc(64, (msz + 63) & ~(size_t)63) : NULL;
	struct me_book *b = mem ? me_book_init(mem, msz, &p) : NULL;
	if (b == NULL) {
		fprintf(stderr, "tokex-replay: cannot set up a book of %zu bytes\n", msz);
		return 1;
	}

	static char obuf[1 << 20];
	setvbuf(stdout, obuf, _IOFBF, sizeof(obuf));
	static struct me_event evbuf[RP_SINK_CAP];
	struct rp_ctx x = { .prices = prices, .out = stdout };
	struct me_sink s = {
		.ev = evbuf, .n = 0, .cap = RP_SINK_CAP, .flush = print_events, .arg = &x
	};
	for (size_t i = 0; i < ncmd; i++) {
		if (cmds[i].type == RP_CMD_EOD)
			me_book_end_of_day(b, &s);
		else
			me_book_apply(b, &cmds[i], &s);
		print_events(&s);
	}
	me_book_walk(b, print_order, &x);
	me_book_walk_held(b, print_held, &x);

	free(mem);
	free(cmds);
	free(prices);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("tokex-replay: writing stdout");
		return 1;
	}
	return 0;
}
