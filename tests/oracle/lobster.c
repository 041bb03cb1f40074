/*
 * lobster.c - load a LOBSTER day and replay it through the matching engine (see
 * lobster.h for the mapping and the resynchronisation rules). Test/bench support code:
 * it allocates, prints nothing, and reports problems through counters and err buffers.
 */
#include "lobster.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOB_EMPTY_ASK 9999999999LL
#define LOB_MARGIN 100000 /* $10 either side of the day's prices */
#define ANON_ID_FIRST (-1000)
#define AGGR_ID_FIRST (1LL << 40) /* above any LOBSTER order id */

/* ---- loading -------------------------------------------------------------------- */

int lob_have_xz(void)
{
	const char *path = getenv("PATH");
	char buf[4096];

	if (!path)
		return 0;
	while (*path) {
		size_t n = strcspn(path, ":");
		if (n > 0 && n + 4 < sizeof(buf)) {
			memcpy(buf, path, n);
			memcpy(buf + n, "/xz", 4);
			if (access(buf, X_OK) == 0)
				return 1;
		}
		path += n;
		if (*path == ':')
			path++;
	}
	return 0;
}

/* Finds "<dir>/<prefix>_message_10.csv.xz"; fills msg and book paths. */
static int find_files(const char *dir, char *msg, char *book, size_t len)
{
	static const char suffix[] = "_message_10.csv.xz";
	DIR *dh = opendir(dir);
	struct dirent *de;
	int rc = -ENOENT;

	if (!dh)
		return -ENOENT;
	while ((de = readdir(dh)) != NULL) {
		size_t n = strlen(de->d_name), sn = sizeof(suffix) - 1;
		if (n <= sn || strcmp(de->d_name + n - sn, suffix) != 0)
			continue;
		int w1 = snprintf(msg, len, "%s/%s", dir, de->d_name);
		int w2 = snprintf(book, len, "%s/%.*s_orderbook_10.csv.xz", dir, (int)(n - sn),
				  de->d_name);
		if (w1 > 0 && (size_t)w1 < len && w2 > 0 && (size_t)w2 < len &&
		    access(book, R_OK) == 0)
			rc = 0;
		break;
	}
	closedir(dh);
	return rc;
}

static FILE *xz_open(const char *path, char *err, size_t errlen)
{
	char cmd[4200];

	if (strchr(path, '\'')) {
		snprintf(err, errlen, "path with a quote: %s", path);
		return NULL;
	}
	snprintf(cmd, sizeof(cmd), "xz -dc '%s'", path);
	FILE *f = popen(cmd, "r");
	if (!f)
		snprintf(err, errlen, "popen(%s): %s", cmd, strerror(errno));
	return f;
}

/* Parses a decimal int64 at *p up to the next ',' or end of line; advances past ','. */
static int parse_i64(const char **p, int64_t *v)
{
	const char *s = *p;
	char *end;

	errno = 0;
	long long x = strtoll(s, &end, 10);
	if (errno || end == s || (*end != ',' && *end != '\n' && *end != '\r' && *end != 0))
		return -1;
	*v = x;
	*p = *end == ',' ? end + 1 : end;
	return 0;
}

/* "34200.015105074" -> ns; fewer than 9 decimals are padded. */
static int parse_time(const char **p, int64_t *ns)
{
	const char *s = *p;
	int64_t sec = 0, frac = 0;
	int digits = 0;

	if (*s < '0' || *s > '9')
		return -1;
	while (*s >= '0' && *s <= '9')
		sec = sec * 10 + (*s++ - '0');
	if (*s == '.') {
		s++;
		while (*s >= '0' && *s <= '9') {
			if (digits < 9) {
				frac = frac * 10 + (*s - '0');
				digits++;
			}
			s++;
		}
	}
	while (digits++ < 9)
		frac *= 10;
	if (*s != ',')
		return -1;
	*ns = sec * 1000000000LL + frac;
	*p = s + 1;
	return 0;
}

static int grow(void **a, size_t *cap, size_t need, size_t elem)
{
	if (need <= *cap)
		return 0;
	size_t nc = *cap ? *cap : 1024;
	while (nc < need)
		nc *= 2;
	void *n = realloc(*a, nc * elem);
	if (!n)
		return -ENOMEM;
	*a = n;
	*cap = nc;
	return 0;
}

static int load_msgs(struct lob_day *d, const char *path, char *err, size_t errlen)
{
	FILE *f = xz_open(path, err, errlen);
	char line[256];
	size_t cap = 0;
	int rc = 0;

	if (!f)
		return -EIO;
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;
		struct lob_msg m;
		int64_t type, dir;
		memset(&m, 0, sizeof(m));
		if (parse_time(&p, &m.t_ns) || parse_i64(&p, &type) || parse_i64(&p, &m.id) ||
		    parse_i64(&p, &m.size) || parse_i64(&p, &m.price) || parse_i64(&p, &dir) ||
		    type < 1 || type > 7 || (dir != 1 && dir != -1)) {
			snprintf(err, errlen, "%s: row %zu malformed: %s", path, d->n + 1, line);
			rc = -EBADMSG;
			break;
		}
		m.type = (int8_t)type;
		m.dir = (int8_t)dir;
		if (grow((void **)&d->msg, &cap, d->n + 1, sizeof(*d->msg))) {
			rc = -ENOMEM;
			break;
		}
		d->msg[d->n++] = m;
		d->count[m.type]++;
	}
	int st = pclose(f);
	if (rc == 0 && st != 0) {
		snprintf(err, errlen, "xz -dc %s failed (status %d)", path, st);
		rc = -EIO;
	}
	return rc;
}

static int load_rows(struct lob_day *d, const char *path, char *err, size_t errlen)
{
	FILE *f = xz_open(path, err, errlen);
	char line[1024];
	size_t n = 0;
	int rc = 0;

	if (!f)
		return -EIO;
	d->row = calloc(d->n ? d->n : 1, sizeof(*d->row));
	if (!d->row) {
		pclose(f);
		return -ENOMEM;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *p = line;
		struct lob_row *r = &d->row[n];
		if (n >= d->n) {
			snprintf(err, errlen, "%s: more rows than the message file", path);
			rc = -EBADMSG;
			break;
		}
		for (int k = 0; k < LOB_LEVELS && rc == 0; k++) {
			int64_t v[4];
			for (int j = 0; j < 4; j++)
				if (parse_i64(&p, &v[j]))
					rc = -EBADMSG;
			if (rc)
				break;
			/* empty levels: price +-9999999999, size 0 -> 0, 0 */
			int ae = v[0] == LOB_EMPTY_ASK || v[1] == 0;
			int be = v[2] == -LOB_EMPTY_ASK || v[3] == 0;
			if ((!ae && (v[0] <= 0 || v[0] > INT32_MAX || v[1] < 0 || v[1] > INT32_MAX)) ||
			    (!be && (v[2] <= 0 || v[2] > INT32_MAX || v[3] < 0 || v[3] > INT32_MAX))) {
				rc = -EBADMSG;
				break;
			}
			r->ap[k] = ae ? 0 : (int32_t)v[0];
			r->aq[k] = ae ? 0 : (int32_t)v[1];
			r->bp[k] = be ? 0 : (int32_t)v[2];
			r->bq[k] = be ? 0 : (int32_t)v[3];
		}
		if (rc) {
			snprintf(err, errlen, "%s: row %zu malformed", path, n + 1);
			break;
		}
		n++;
	}
	int st = pclose(f);
	if (rc == 0 && st != 0) {
		snprintf(err, errlen, "xz -dc %s failed (status %d)", path, st);
		rc = -EIO;
	}
	if (rc == 0 && n != d->n) {
		snprintf(err, errlen, "%s: %zu rows, the message file has %zu", path, n, d->n);
		rc = -EBADMSG;
	}
	return rc;
}

static void scan_prices(struct lob_day *d)
{
	int aligned = 1;

	d->px_min = INT64_MAX;
	d->px_max = 0;
	for (size_t i = 0; i < d->n; i++) {
		const struct lob_msg *m = &d->msg[i];
		if (m->type < LOB_ADD || m->type > LOB_EXEC)
			continue; /* hidden executions never touch the visible book */
		if (m->price < d->px_min)
			d->px_min = m->price;
		if (m->price > d->px_max)
			d->px_max = m->price;
		aligned &= m->price % 100 == 0;
	}
	for (size_t i = 0; d->row && i < d->n; i++)
		for (int k = 0; k < LOB_LEVELS; k++) {
			int32_t px[2] = { d->row[i].ap[k], d->row[i].bp[k] };
			for (int j = 0; j < 2; j++) {
				if (px[j] == 0)
					continue;
				if (px[j] < d->px_min)
					d->px_min = px[j];
				if (px[j] > d->px_max)
					d->px_max = px[j];
				aligned &= px[j] % 100 == 0;
			}
		}
	d->tick = aligned ? 100 : 1;
}

int lob_load(struct lob_day *d, const char *dir, int want_rows, char *err, size_t errlen)
{
	char mpath[4096], bpath[4096];
	int rc;

	memset(d, 0, sizeof(*d));
	if (find_files(dir, mpath, bpath, sizeof(mpath)) != 0) {
		snprintf(err, errlen, "no *_message_10.csv.xz with its orderbook file in %s", dir);
		return -ENOENT;
	}
	rc = load_msgs(d, mpath, err, errlen);
	if (rc == 0 && want_rows)
		rc = load_rows(d, bpath, err, errlen);
	if (rc == 0 && d->n == 0) {
		snprintf(err, errlen, "%s: empty", mpath);
		rc = -EBADMSG;
	}
	if (rc) {
		lob_free(d);
		return rc;
	}
	scan_prices(d);
	return 0;
}

void lob_free(struct lob_day *d)
{
	free(d->msg);
	free(d->row);
	memset(d, 0, sizeof(*d));
}

void lob_params(const struct lob_day *d, struct me_params *p)
{
	int64_t t = d->tick;

	memset(p, 0, sizeof(*p));
	p->tick = t;
	p->price_lo = (d->px_min - LOB_MARGIN) / t * t;
	if (p->price_lo < t)
		p->price_lo = t;
	p->price_hi = (d->px_max + LOB_MARGIN + t - 1) / t * t;
	p->max_qty = INT32_MAX;
	/* Every add can be resting at once (cancels outside the window are never seen),
	 * plus the anonymous orders seeding and resynchronisation add. */
	p->max_orders = (uint32_t)(d->count[LOB_ADD] + d->n / 4 + 1024);
}

/* ---- the log -------------------------------------------------------------------- */

void lob_log_free(struct lob_log *l)
{
	free(l->cmd);
	free(l->seed);
	memset(l, 0, sizeof(*l));
}

int lob_log_seed_initial(const struct lob_log *l, struct me_book *b)
{
	for (size_t i = 0; i < l->nseed && l->seed[i].at == 0; i++) {
		const struct lob_seed *s = &l->seed[i];
		int rc = me_book_seed(b, s->id, s->side, s->price, s->qty, 0, 0, s->at_head);
		if (rc)
			return rc;
	}
	return 0;
}

/* ---- the replay driver ---------------------------------------------------------- */

/* A known order: one LOBSTER added during the replay. rem is LOBSTER's view of its
 * remaining size, which the engine's must equal (repairs restore it when not). */
struct kord {
	int64_t id;
	int64_t rem;
	int64_t price;
	uint64_t seq;    /* arrival order, for rebuilding a level */
	uint32_t next;   /* level list, slot + 1; 0 = none */
	uint32_t prev;
	uint8_t side;
	uint8_t live;
	uint8_t used;
};

/* Per level and side: the known orders in arrival order, and the anonymous ids. */
struct dlevel {
	uint32_t khead, ktail;
	uint32_t nanon, capanon;
	int64_t *anon;
};

struct lob_replay {
	const struct lob_day *d;
	struct me_book *b;
	struct me_params p;
	struct lob_log *log;
	size_t next; /* next message row */

	struct kord *k; /* open addressing on id, never deleted (ids are not reused) */
	uint64_t kmask;
	uint64_t kseq;
	struct dlevel *lv[2];
	uint32_t nlevels;

	int64_t next_anon, next_aggr;

	struct me_sink sink;
	struct me_event sinkbuf[64];
	struct me_event *ev; /* the current command's events */
	size_t nev, capev;

	struct lob_fill *want, *got;
	size_t capwant, capgot;

	int64_t *dpx, *dq; /* me_book_depth scratch */
	uint32_t capdepth;

	struct lob_stats st;
	char last_mm[256];
};

static int side_of(int dir)
{
	return dir == 1 ? ME_BUY : ME_SELL;
}

static struct dlevel *level(struct lob_replay *r, int side, int64_t price)
{
	int64_t li = (price - r->p.price_lo) / r->p.tick;
	if (li < 0 || li >= r->nlevels || (price - r->p.price_lo) % r->p.tick)
		return NULL;
	return &r->lv[side][li];
}

static uint64_t khash(int64_t id)
{
	return (uint64_t)id * 0x9e3779b97f4a7c15ULL;
}

/* The slot of id, or of the empty slot where it would go. */
static struct kord *kslot(struct lob_replay *r, int64_t id)
{
	uint64_t i = (khash(id) >> 20) & r->kmask;
	while (r->k[i].used && r->k[i].id != id)
		i = (i + 1) & r->kmask;
	return &r->k[i];
}

static struct kord *kfind(struct lob_replay *r, int64_t id)
{
	struct kord *o = kslot(r, id);
	return o->used && o->live ? o : NULL;
}

static uint32_t kref(const struct lob_replay *r, const struct kord *o)
{
	return (uint32_t)(o - r->k) + 1;
}

static struct kord *kat(struct lob_replay *r, uint32_t ref)
{
	return ref ? &r->k[ref - 1] : NULL;
}

static void klink(struct lob_replay *r, struct kord *o)
{
	struct dlevel *l = level(r, o->side, o->price);
	o->next = 0;
	o->prev = l->ktail;
	if (l->ktail)
		kat(r, l->ktail)->next = kref(r, o);
	else
		l->khead = kref(r, o);
	l->ktail = kref(r, o);
}

static void kunlink(struct lob_replay *r, struct kord *o)
{
	struct dlevel *l = level(r, o->side, o->price);
	if (o->prev)
		kat(r, o->prev)->next = o->next;
	else
		l->khead = o->next;
	if (o->next)
		kat(r, o->next)->prev = o->prev;
	else
		l->ktail = o->prev;
	o->next = o->prev = 0;
	o->live = 0;
}

static void collect_flush(struct me_sink *s)
{
	struct lob_replay *r = s->arg;
	if (grow((void **)&r->ev, &r->capev, r->nev + s->n, sizeof(*r->ev)) == 0) {
		memcpy(r->ev + r->nev, s->ev, s->n * sizeof(*s->ev));
		r->nev += s->n;
	} else {
		r->st.unexpected++;
	}
	s->n = 0;
}

/* Applies (and records) one command; its events are in r->ev[0..r->nev). */
static void cmd(struct lob_replay *r, const struct me_cmd *c)
{
	if (r->log) {
		struct lob_log *l = r->log;
		if (grow((void **)&l->cmd, &l->capcmd, l->ncmd + 1, sizeof(*l->cmd)) == 0)
			l->cmd[l->ncmd++] = *c;
	}
	r->nev = 0;
	uint32_t n = me_book_apply(r->b, c, &r->sink);
	collect_flush(&r->sink);
	r->st.cmds++;
	r->st.events += n;
	for (size_t i = 0; i < r->nev; i++)
		if (r->ev[i].type == ME_EV_REJECT)
			r->st.unexpected++;
}

static void cmd_cancel(struct lob_replay *r, int64_t id)
{
	struct me_cmd c = { .type = ME_CMD_CANCEL, .id = id };
	cmd(r, &c);
}

static void cmd_reduce(struct lob_replay *r, int64_t id, int64_t price, int64_t qty)
{
	struct me_cmd c = { .type = ME_CMD_MODIFY, .id = id, .price = price, .qty = qty };
	cmd(r, &c);
}

static int seed(struct lob_replay *r, int64_t id, int side, int64_t price, int64_t qty,
		int at_head)
{
	if (r->log) {
		struct lob_log *l = r->log;
		if (grow((void **)&l->seed, &l->capseed, l->nseed + 1, sizeof(*l->seed)) == 0)
			l->seed[l->nseed++] = (struct lob_seed){ .at = l->ncmd, .id = id,
								 .price = price, .qty = qty,
								 .side = side, .at_head = at_head };
	}
	int rc = me_book_seed(r->b, id, side, price, qty, 0, 0, at_head);
	r->st.seeds++;
	if (rc)
		r->st.unexpected++;
	return rc;
}

static void anon_add(struct lob_replay *r, int side, int64_t price, int64_t qty, int at_head)
{
	struct dlevel *l = level(r, side, price);
	int64_t id = r->next_anon--;

	if (!l || seed(r, id, side, price, qty, at_head) != 0)
		return;
	size_t cap = l->capanon;
	if (grow((void **)&l->anon, &cap, l->nanon + 1, sizeof(*l->anon)) != 0) {
		r->st.unexpected++;
		return;
	}
	l->capanon = (uint32_t)cap;
	l->anon[l->nanon++] = id;
}

static int64_t engine_qty(struct lob_replay *r, int64_t id)
{
	struct me_order_view v;
	return me_book_find(r->b, id, &v) == 0 ? v.qty : 0;
}

/* Removes qty of anonymous volume at a level; returns what could not be removed. */
static int64_t anon_reduce(struct lob_replay *r, int side, int64_t price, int64_t qty)
{
	struct dlevel *l = level(r, side, price);

	while (l && qty > 0 && l->nanon > 0) {
		int64_t id = l->anon[l->nanon - 1];
		int64_t q = engine_qty(r, id);
		if (q > qty) {
			cmd_reduce(r, id, price, q - qty);
			return 0;
		}
		if (q > 0)
			cmd_cancel(r, id);
		qty -= q;
		l->nanon--;
	}
	return qty;
}

/* Does any anonymous order rest on side at a price an aggressor limited to worst can
 * reach? Drops anonymous ids that have left the book on the way. */
static int anon_ahead(struct lob_replay *r, int side, int64_t worst)
{
	uint32_t n = me_book_depth(r->b, side, r->dpx, r->dq, r->capdepth);

	for (uint32_t i = 0; i < n; i++) {
		if (side == ME_BUY ? r->dpx[i] < worst : r->dpx[i] > worst)
			break;
		struct dlevel *l = level(r, side, r->dpx[i]);
		for (uint32_t j = 0; l && j < l->nanon;) {
			if (engine_qty(r, l->anon[j]) > 0)
				return 1;
			l->anon[j] = l->anon[--l->nanon];
		}
	}
	return 0;
}

struct walk_level {
	int side;
	int64_t price;
	struct lob_fill *o;
	size_t n, cap;
	int oom;
};

static int walk_level_cb(void *arg, const struct me_order_view *v)
{
	struct walk_level *w = arg;
	if (v->side != w->side || v->price != w->price)
		return 0;
	if (grow((void **)&w->o, &w->cap, w->n + 1, sizeof(*w->o)) != 0) {
		w->oom = 1;
		return 1;
	}
	w->o[w->n++] = (struct lob_fill){ v->id, v->qty, v->price };
	return 0;
}

/* The engine's total at (side, price). */
static int64_t level_total(struct lob_replay *r, int side, int64_t price)
{
	struct walk_level w = { .side = side, .price = price };
	int64_t t = 0;

	me_book_walk(r->b, walk_level_cb, &w);
	if (w.oom)
		r->st.unexpected++;
	for (size_t i = 0; i < w.n; i++)
		t += w.o[i].qty;
	free(w.o);
	return t;
}

static void anonymize(struct lob_replay *r, int side, int64_t price, int64_t total);

/* Rebuilds a level in LOBSTER's order: anonymous volume first, then the known orders in
 * arrival order at LOBSTER's sizes; the anonymous part absorbs the difference so that
 * the level keeps its total. */
static void rebuild(struct lob_replay *r, int side, int64_t price)
{
	struct walk_level w = { .side = side, .price = price };
	struct dlevel *l = level(r, side, price);
	int64_t total = 0, known = 0;

	me_book_walk(r->b, walk_level_cb, &w);
	if (w.oom || !l) {
		r->st.unexpected++;
		free(w.o);
		return;
	}
	for (size_t i = 0; i < w.n; i++)
		total += w.o[i].qty;
	for (struct kord *o = kat(r, l->khead); o; o = kat(r, o->next))
		known += o->rem;
	if (known > total) {
		/* The engine filled known orders where LOBSTER filled ones we never saw:
		 * LOBSTER's view of this level cannot be right either. */
		free(w.o);
		anonymize(r, side, price, total);
		return;
	}
	for (size_t i = 0; i < w.n; i++)
		cmd_cancel(r, w.o[i].id);
	free(w.o);
	l->nanon = 0;
	if (total > known)
		anon_add(r, side, price, total - known, 0);
	for (struct kord *o = kat(r, l->khead); o; o = kat(r, o->next))
		seed(r, o->id, side, price, o->rem, 0);
	r->st.repairs++;
}

/* Forgets what the level is made of: every order at (side, price) leaves, the known
 * ones are no longer tracked, and `total` comes back as one anonymous order. Used when
 * the level's composition is provably unknown (see resync() and the callers). */
static void anonymize(struct lob_replay *r, int side, int64_t price, int64_t total)
{
	struct walk_level w = { .side = side, .price = price };
	struct dlevel *l = level(r, side, price);

	me_book_walk(r->b, walk_level_cb, &w);
	if (w.oom || !l) {
		r->st.unexpected++;
		free(w.o);
		return;
	}
	for (size_t i = 0; i < w.n; i++)
		cmd_cancel(r, w.o[i].id);
	free(w.o);
	while (l->khead)
		kunlink(r, kat(r, l->khead));
	l->nanon = 0;
	if (total > 0)
		anon_add(r, side, price, total, 1);
	r->st.anonymized++;
}

/* Sets the engine's level (side, price) from qe to the file's qf. Missing volume was
 * added while the level was outside the window: it is seeded as anonymous volume at the
 * head. Excess volume was cancelled (or replaced) outside the window, and nothing says
 * which orders went: the level becomes anonymous. */
static void resync(struct lob_replay *r, int side, int64_t price, int64_t qe, int64_t qf)
{
	r->st.resyncs++;
	if (qf > qe) {
		r->st.resync_up++;
		anon_add(r, side, price, qf - qe, 1);
	} else {
		r->st.resync_down++;
		anonymize(r, side, price, qf);
	}
}

static int in_row(const int32_t *px, const int32_t *q, int64_t price)
{
	for (int k = 0; k < LOB_LEVELS; k++)
		if (q[k] > 0 && px[k] == price)
			return 1;
	return 0;
}

/* Compares the engine with the file after the step ending at row `last`. */
static uint32_t compare(struct lob_replay *r, size_t first, size_t last, uint32_t *resyncs)
{
	const struct lob_row *row = &r->d->row[last], *prev = &r->d->row[first - 1];
	uint32_t mism = 0;

	for (int side = 0; side < 2; side++) {
		const int32_t *fp = side == ME_BUY ? row->bp : row->ap;
		const int32_t *fq = side == ME_BUY ? row->bq : row->aq;
		const int32_t *pp = side == ME_BUY ? prev->bp : prev->ap;
		const int32_t *pq = side == ME_BUY ? prev->bq : prev->aq;
		int nf = 0;
		while (nf < LOB_LEVELS && fq[nf] > 0)
			nf++;
		/* The window: down to the file's 10th level, or everything if it shows fewer. */
		int full = nf == LOB_LEVELS;
		int64_t edge = full ? fp[LOB_LEVELS - 1] : 0;
		uint32_t want = 16, ne;
		for (;;) {
			if (want > r->capdepth) {
				int64_t *a = realloc(r->dpx, want * sizeof(*a));
				int64_t *b2 = a ? realloc(r->dq, want * sizeof(*b2)) : NULL;
				if (a)
					r->dpx = a;
				if (!b2) {
					r->st.unexpected++;
					return mism;
				}
				r->dq = b2;
				r->capdepth = want;
			}
			ne = me_book_depth(r->b, side, r->dpx, r->dq, want);
			if (ne < want ||
			    (full && (side == ME_BUY ? r->dpx[ne - 1] < edge : r->dpx[ne - 1] > edge)))
				break;
			want *= 2;
		}
		/* Merge the two sorted lists, best price first. */
		uint32_t i = 0;
		int j = 0;
		while (i < ne || j < nf) {
			int64_t pe = i < ne ? r->dpx[i] : 0, pf = j < nf ? fp[j] : 0;
			int take_e, take_f;
			if (i < ne && full && (side == ME_BUY ? pe < edge : pe > edge)) {
				i = ne; /* past the window */
				continue;
			}
			if (i < ne && j < nf) {
				take_e = side == ME_BUY ? pe >= pf : pe <= pf;
				take_f = pe == pf || !take_e;
			} else {
				take_e = i < ne;
				take_f = !take_e;
			}
			int64_t price = take_e ? pe : pf;
			int64_t qe = take_e ? r->dq[i] : 0, qf = take_f ? fq[j] : 0;
			i += (uint32_t)take_e;
			j += take_f;
			if (qe == qf)
				continue;
			if (in_row(pp, pq, price)) {
				mism++;
				r->st.mismatches++;
				snprintf(r->last_mm, sizeof(r->last_mm),
					 "row %zu t=%" PRId64 "ns %s %" PRId64 ": file %" PRId64
					 ", engine %" PRId64 " (visible before)",
					 last, r->d->msg[last].t_ns, side == ME_BUY ? "bid" : "ask",
					 price, qf, qe);
			} else {
				(*resyncs)++;
			}
			resync(r, side, price, qe, qf);
		}
	}
	return mism;
}

static void add(struct lob_replay *r, const struct lob_msg *m)
{
	int side = side_of(m->dir);
	struct kord *o = kslot(r, m->id);

	r->st.adds++;
	if ((o->used && o->live) || !level(r, side, m->price)) {
		r->st.unexpected++;
		return;
	}
	struct me_cmd c = { .type = ME_CMD_NEW, .side = (uint8_t)side, .tif = ME_GTC,
			    .id = m->id, .price = m->price, .qty = m->size };
	cmd(r, &c);
	if (r->nev != 1 || r->ev[0].type != ME_EV_ACCEPT)
		r->st.unexpected++; /* the README: adds never cross */
	if (engine_qty(r, m->id) == 0)
		return;
	memset(o, 0, sizeof(*o));
	o->used = 1;
	o->live = 1;
	o->id = m->id;
	o->rem = m->size;
	o->price = m->price;
	o->side = (uint8_t)side;
	o->seq = r->kseq++;
	klink(r, o);
}

static void cancel(struct lob_replay *r, const struct lob_msg *m)
{
	struct kord *o = kfind(r, m->id);

	if (m->type == LOB_CANCEL)
		r->st.partial_cancels++;
	else
		r->st.deletes++;
	if (!o) {
		/* An order from before the replay, or the new id of an order that NASDAQ
		 * replaced without LOBSTER reporting it (the old id then stays in our book).
		 * Anonymous volume covers the first case; when there is not enough of it the
		 * level's composition is unknown, and it becomes anonymous. */
		r->st.unknown_ids++;
		int side = side_of(m->dir);
		int64_t left = anon_reduce(r, side, m->price, m->size);
		if (left > 0) {
			r->st.anon_short++;
			int64_t tot = level_total(r, side, m->price);
			anonymize(r, side, m->price, tot > left ? tot - left : 0);
		}
		return;
	}
	int64_t q = engine_qty(r, o->id);
	if (m->type == LOB_DELETE ? q != m->size : q < m->size)
		r->st.size_mismatch++;
	if (m->type == LOB_CANCEL && q > m->size) {
		cmd_reduce(r, o->id, o->price, q - m->size);
		o->rem -= m->size;
		return;
	}
	if (q > 0)
		cmd_cancel(r, o->id);
	kunlink(r, o);
}

/* One aggressive run: rows [i, j]. */
static void run(struct lob_replay *r, size_t i, size_t j, struct lob_step *st)
{
	const struct lob_msg *m = r->d->msg;
	int rest = side_of(m[i].dir);
	int64_t worst = m[i].price, qty = 0;
	size_t n = j - i + 1;

	if (grow((void **)&r->want, &r->capwant, n, sizeof(*r->want))) {
		r->st.unexpected++;
		return;
	}
	for (size_t k = i; k <= j; k++) {
		qty += m[k].size;
		if (rest == ME_BUY ? m[k].price < worst : m[k].price > worst)
			worst = m[k].price;
		r->want[k - i] = (struct lob_fill){ m[k].id, m[k].size, m[k].price };
	}
	r->st.runs++;
	/* Checkable: LOBSTER names only orders we saw added, and no anonymous order
	 * rests where the aggressor can reach. */
	st->checked = 1;
	for (size_t k = i; k <= j; k++)
		if (!kfind(r, m[k].id))
			st->checked = 0;
	if (st->checked)
		st->checked = !anon_ahead(r, rest, worst);

	struct me_cmd c = { .type = ME_CMD_NEW, .side = (uint8_t)(rest ^ 1), .tif = ME_IOC,
			    .id = r->next_aggr++, .price = worst, .qty = qty };
	cmd(r, &c);
	size_t ng = 0;
	if (grow((void **)&r->got, &r->capgot, r->nev, sizeof(*r->got))) {
		r->st.unexpected++;
		return;
	}
	for (size_t k = 0; k < r->nev; k++) {
		const struct me_event *e = &r->ev[k];
		if (e->type == ME_EV_TRADE)
			r->got[ng++] = (struct lob_fill){ e->rid, e->qty, e->price };
		else if (e->type == ME_EV_OUT)
			r->st.unexpected++; /* the book lacked volume the file had */
	}
	st->want = r->want;
	st->got = r->got;
	st->nwant = (uint32_t)n;
	st->ngot = (uint32_t)ng;
	st->matched = ng == n;
	for (size_t k = 0; st->matched && k < n; k++)
		st->matched = r->want[k].id == r->got[k].id && r->want[k].qty == r->got[k].qty &&
			      r->want[k].price == r->got[k].price;
	if (st->checked) {
		r->st.runs_checked++;
		if (st->matched)
			r->st.runs_matched++;
		else
			r->st.exceptions++;
	}

	/* LOBSTER's view of the orders it names. */
	for (size_t k = i; k <= j; k++) {
		struct kord *o = kfind(r, m[k].id);
		if (!o) {
			r->st.unknown_ids++;
			continue;
		}
		o->rem -= m[k].size;
		if (o->rem < 0)
			r->st.size_mismatch++;
		if (o->rem <= 0)
			kunlink(r, o);
	}
	if (st->matched)
		return;
	/* Where the engine's orders now differ from LOBSTER's, rebuild those levels. */
	for (size_t pass = 0; pass < 2; pass++) {
		const struct lob_fill *f = pass ? r->got : r->want;
		size_t nf = pass ? ng : n;
		for (size_t k = 0; k < nf; k++) {
			struct kord *o = kslot(r, f[k].id);
			if (!o->used)
				continue; /* anonymous: only the level totals matter */
			int64_t lob = o->live ? o->rem : 0;
			if (engine_qty(r, o->id) != lob)
				rebuild(r, rest, o->price);
		}
	}
}

struct lob_replay *lob_replay_new(const struct lob_day *d, struct me_book *b,
				  struct lob_log *log)
{
	struct lob_replay *r = calloc(1, sizeof(*r));
	uint64_t kcap = 1024;

	if (!r || !d->row) {
		free(r);
		errno = EINVAL;
		return NULL;
	}
	r->d = d;
	r->b = b;
	r->log = log;
	lob_params(d, &r->p);
	r->nlevels = (uint32_t)((r->p.price_hi - r->p.price_lo) / r->p.tick + 1);
	while (kcap < 2 * (d->count[LOB_ADD] + 1))
		kcap *= 2;
	r->k = calloc(kcap, sizeof(*r->k));
	r->kmask = kcap - 1;
	r->lv[0] = calloc(r->nlevels, sizeof(*r->lv[0]));
	r->lv[1] = calloc(r->nlevels, sizeof(*r->lv[1]));
	r->capdepth = 64;
	r->dpx = calloc(r->capdepth, sizeof(*r->dpx));
	r->dq = calloc(r->capdepth, sizeof(*r->dq));
	if (!r->k || !r->lv[0] || !r->lv[1] || !r->dpx || !r->dq) {
		lob_replay_free(r);
		errno = ENOMEM;
		return NULL;
	}
	r->sink = (struct me_sink){ .ev = r->sinkbuf, .cap = 64, .flush = collect_flush,
				    .arg = r };
	r->next_anon = ANON_ID_FIRST;
	r->next_aggr = AGGR_ID_FIRST;

	/* Row 0 (the book after message 0) as anonymous volume; replay from message 1. */
	const struct lob_row *row = &d->row[0];
	for (int k = 0; k < LOB_LEVELS; k++) {
		if (row->bq[k] > 0)
			anon_add(r, ME_BUY, row->bp[k], row->bq[k], 1);
		if (row->aq[k] > 0)
			anon_add(r, ME_SELL, row->ap[k], row->aq[k], 1);
	}
	r->next = 1;
	return r;
}

int lob_replay_step(struct lob_replay *r, struct lob_step *st)
{
	const struct lob_msg *m = r->d->msg;
	size_t i = r->next, j = i;

	memset(st, 0, sizeof(*st));
	if (i >= r->d->n)
		return 0;
	switch (m[i].type) {
	case LOB_ADD:
		add(r, &m[i]);
		break;
	case LOB_CANCEL:
	case LOB_DELETE:
		cancel(r, &m[i]);
		break;
	case LOB_EXEC:
		while (j + 1 < r->d->n && m[j + 1].type == LOB_EXEC && m[j + 1].t_ns == m[i].t_ns &&
		       m[j + 1].dir == m[i].dir)
			j++;
		run(r, i, j, st);
		break;
	case LOB_HIDDEN:
		r->st.hidden++;
		break;
	default:
		r->st.unexpected++; /* crosses and halts: none on the sample day */
		break;
	}
	st->first = i;
	st->last = j;
	st->type = m[i].type;
	st->mismatches = compare(r, i, j, &st->resyncs);
	r->st.steps++;
	r->st.msgs += j - i + 1;
	r->next = j + 1;
	return 1;
}

const struct lob_stats *lob_replay_stats(const struct lob_replay *r)
{
	return &r->st;
}

const char *lob_replay_last_mismatch(const struct lob_replay *r)
{
	return r->last_mm;
}

void lob_replay_free(struct lob_replay *r)
{
	if (!r)
		return;
	for (int s = 0; s < 2; s++) {
		for (uint32_t i = 0; r->lv[s] && i < r->nlevels; i++)
			free(r->lv[s][i].anon);
		free(r->lv[s]);
	}
	free(r->k);
	free(r->ev);
	free(r->want);
	free(r->got);
	free(r->dpx);
	free(r->dq);
	free(r);
}
