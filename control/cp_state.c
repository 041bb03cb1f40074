/*
 * cp_state.c - the control plane's state as items: encoding, changes, the image and its
 * journal records and snapshot section; the format is in cp_state.h.
 *
 * Role: control plane (tokexd's control thread encodes, its RX core stages and saves,
 * recovery and tokex-journal decode). Little-endian byte by byte, so the layout is the
 * same on every machine and independent of the structs' padding.
 */
#include "cp_state.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <zlib.h>

#include "cp_clock.h"

/* Version 1 layouts. The contract's day statistics (volume, notional, high, low, last)
 * come last and are not compared by cp_state_diff (CMP: the bytes before them), nor is
 * GLOBAL's clock time unless the clock is held (then its time moves only by the
 * operator's 'clock to': state, like the rest). GLOBAL's clock byte: bit 0 simulated,
 * bit 1 held (a version 1 reader of before the held clock refuses a held one). */
#define CP_ST_CONTRACT_LEN 201
#define CP_ST_CONTRACT_CMP 161
#define CP_ST_ACCOUNT_LEN 33
#define CP_ST_GLOBAL_LEN 33
#define CP_ST_GLOBAL_CMP 17

/* Adding a field to these structs changes what a restart must restore: give it a place in
 * the encoding below (and a new CP_STATE_VERSION when the layout changes), then update
 * the size here. */
_Static_assert(sizeof(struct cp_life_contract) == 216,
	       "cp_state.c encodes every field of struct cp_life_contract: add the new one");
_Static_assert(sizeof(struct cp_account) == 40,
	       "cp_state.c encodes every field of struct cp_account: add the new one");
_Static_assert(CP_ST_CONTRACT_LEN <= CP_STATE_DATA_MAX, "a contract fits an item");

/* ---- bytes ------------------------------------------------------------------------- */

struct cp_w {
	uint8_t *p;
	size_t n;
};

static void cp_w8(struct cp_w *w, uint8_t v)
{
	w->p[w->n++] = v;
}

static void cp_w32(struct cp_w *w, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void cp_w64(struct cp_w *w, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		w->p[w->n++] = (uint8_t)(v >> (8 * i));
}

static void cp_wbytes(struct cp_w *w, const void *p, size_t n)
{
	memcpy(w->p + w->n, p, n);
	w->n += n;
}

struct cp_r {
	const uint8_t *p;
	size_t n;
};

static uint8_t cp_r8(struct cp_r *r)
{
	return r->p[r->n++];
}

static uint32_t cp_r32(struct cp_r *r)
{
	uint32_t v = 0;
	for (int i = 0; i < 4; i++)
		v |= (uint32_t)r->p[r->n++] << (8 * i);
	return v;
}

static uint64_t cp_r64(struct cp_r *r)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)r->p[r->n++] << (8 * i);
	return v;
}

static void cp_rbytes(struct cp_r *r, void *p, size_t n)
{
	memcpy(p, r->p + r->n, n);
	r->n += n;
}

static uint32_t cp_state_crc(const struct cp_state_item *it)
{
	uLong c = crc32(0L, Z_NULL, 0);
	c = crc32(c, (const Bytef *)it, 8);
	c = crc32(c, it->data, it->len <= CP_STATE_DATA_MAX ? it->len : CP_STATE_DATA_MAX);
	return (uint32_t)c;
}

static void cp_state_seal(struct cp_state_item *it, uint8_t kind, uint16_t index, size_t len)
{
	it->version = CP_STATE_VERSION;
	it->kind = kind;
	it->index = index;
	it->len = (uint16_t)len;
	it->pad = 0;
	memset(it->data + len, 0, CP_STATE_DATA_MAX - len);
	it->crc = cp_state_crc(it);
}

static const char *cp_state_kind_name(unsigned k)
{
	return k == CP_ST_CONTRACT ? "contract" : k == CP_ST_ACCOUNT ? "account" :
	       k == CP_ST_GLOBAL ? "global" : "?";
}

/* ---- items ------------------------------------------------------------------------- */

void cp_state_encode_contract(const struct cp_life_contract *k, uint16_t slot,
			      struct cp_state_item *it)
{
	struct cp_w w = {it->data, 0};
	it->flags = 0;
	cp_w32(&w, k->id);
	cp_wbytes(&w, k->symbol, sizeof(k->symbol));
	cp_w32(&w, k->core);
	cp_w8(&w, k->phase);
	cp_w8(&w, k->halt_reason);
	cp_w8(&w, k->first_day);
	cp_w8(&w, k->limits_set);
	cp_w8(&w, k->spot);
	cp_w64(&w, (uint64_t)k->tick);
	cp_w64(&w, (uint64_t)k->max_qty);
	cp_w32(&w, k->max_orders);
	cp_w64(&w, (uint64_t)k->prev_settle);
	cp_w64(&w, (uint64_t)k->settle);
	cp_w64(&w, (uint64_t)k->final_settle);
	cp_w32(&w, k->band_bp);
	cp_w64(&w, (uint64_t)k->lo);
	cp_w64(&w, (uint64_t)k->hi);
	cp_w64(&w, (uint64_t)k->arr_lo);
	cp_w64(&w, (uint64_t)k->arr_hi);
	cp_w32(&w, k->locked_flags);
	cp_w32(&w, (uint32_t)k->last_trading_day);
	cp_w32(&w, (uint32_t)k->trade_day);
	cp_w32(&w, (uint32_t)k->settled_day);
	cp_w32(&w, k->days_traded);
	cp_w64(&w, k->halted_at);
	cp_w64(&w, (uint64_t)k->uncross_price);
	cp_w64(&w, k->uncross_qty);
	/* CP_ST_CONTRACT_CMP: the day's statistics, the cores' (cp_life_sync reads them
	 * every second while trading: not a change of the control plane's). */
	cp_w64(&w, k->volume);
	cp_w64(&w, k->notional);
	cp_w64(&w, (uint64_t)k->high);
	cp_w64(&w, (uint64_t)k->low);
	cp_w64(&w, (uint64_t)k->last);
	cp_state_seal(it, CP_ST_CONTRACT, slot, w.n);
}

void cp_state_encode_account(const struct cp_account *a, uint16_t slot, struct cp_state_item *it)
{
	struct cp_w w = {it->data, 0};
	it->flags = 0;
	cp_w32(&w, a->firm);
	cp_w32(&w, a->account);
	cp_w64(&w, (uint64_t)a->max_qty);
	cp_w64(&w, (uint64_t)a->max_pos);
	cp_w64(&w, (uint64_t)a->max_pos_spot);
	cp_w8(&w, a->killed);
	cp_state_seal(it, CP_ST_ACCOUNT, slot, w.n);
}

void cp_state_encode_global(const struct cp_state_global *g, struct cp_state_item *it)
{
	struct cp_w w = {it->data, 0};
	it->flags = 0;
	cp_w32(&w, g->n_contracts);
	cp_w32(&w, g->n_accounts);
	cp_w8(&w, (uint8_t)(g->clock_sim | (g->clock_held ? 2 : 0)));
	cp_w64(&w, g->clock_rate);
	/* CP_ST_GLOBAL_CMP */
	cp_w64(&w, g->cal_ns);
	cp_w64(&w, g->wall_ns);
	cp_state_seal(it, CP_ST_GLOBAL, 0, w.n);
}

int cp_state_item_check(const struct cp_state_item *it, char *err, size_t len)
{
	if (it->version != CP_STATE_VERSION) {
		snprintf(err, len, "control-plane state format version %u; this build reads "
			 "version %u", (unsigned)it->version, (unsigned)CP_STATE_VERSION);
		return -EPROTO;
	}
	size_t want = it->kind == CP_ST_CONTRACT ? CP_ST_CONTRACT_LEN :
		      it->kind == CP_ST_ACCOUNT ? CP_ST_ACCOUNT_LEN :
		      it->kind == CP_ST_GLOBAL ? CP_ST_GLOBAL_LEN : 0;
	if (want == 0) {
		snprintf(err, len, "control-plane item of unknown kind %u", (unsigned)it->kind);
		return -EBADMSG;
	}
	uint32_t max = it->kind == CP_ST_CONTRACT ? CP_LIFE_MAX :
		       it->kind == CP_ST_ACCOUNT ? CP_LIFE_MAX_ACCOUNTS : 1;
	if (it->index >= max) {
		snprintf(err, len, "control-plane %s item for slot %u (at most %u)",
			 cp_state_kind_name(it->kind), (unsigned)it->index, (unsigned)max - 1);
		return -EBADMSG;
	}
	if (it->len != want) {
		snprintf(err, len, "control-plane %s item of %u bytes (%zu in version %u)",
			 cp_state_kind_name(it->kind), (unsigned)it->len, want,
			 (unsigned)CP_STATE_VERSION);
		return -EBADMSG;
	}
	uint32_t crc = cp_state_crc(it);
	if (crc != it->crc) {
		snprintf(err, len, "control-plane %s item, slot %u: CRC 0x%08x, stored 0x%08x: "
			 "corrupt", cp_state_kind_name(it->kind), (unsigned)it->index, (unsigned)crc,
			 (unsigned)it->crc);
		return -EBADMSG;
	}
	return 0;
}

static int cp_state_want(const struct cp_state_item *it, uint8_t kind, char *err, size_t len)
{
	int rc = cp_state_item_check(it, err, len);
	if (rc == 0 && it->kind != kind) {
		snprintf(err, len, "a control-plane %s item where a %s was expected",
			 cp_state_kind_name(it->kind), cp_state_kind_name(kind));
		rc = -EBADMSG;
	}
	return rc;
}

int cp_state_decode_contract(const struct cp_state_item *it, struct cp_life_contract *k,
			     char *err, size_t len)
{
	int rc = cp_state_want(it, CP_ST_CONTRACT, err, len);
	if (rc < 0)
		return rc;
	struct cp_life_contract c;
	memset(&c, 0, sizeof(c));
	struct cp_r r = {it->data, 0};
	c.id = cp_r32(&r);
	cp_rbytes(&r, c.symbol, sizeof(c.symbol));
	c.core = cp_r32(&r);
	c.phase = cp_r8(&r);
	c.halt_reason = cp_r8(&r);
	c.first_day = cp_r8(&r);
	c.limits_set = cp_r8(&r);
	c.spot = cp_r8(&r);
	c.tick = (int64_t)cp_r64(&r);
	c.max_qty = (int64_t)cp_r64(&r);
	c.max_orders = cp_r32(&r);
	c.prev_settle = (int64_t)cp_r64(&r);
	c.settle = (int64_t)cp_r64(&r);
	c.final_settle = (int64_t)cp_r64(&r);
	c.band_bp = cp_r32(&r);
	c.lo = (int64_t)cp_r64(&r);
	c.hi = (int64_t)cp_r64(&r);
	c.arr_lo = (int64_t)cp_r64(&r);
	c.arr_hi = (int64_t)cp_r64(&r);
	c.locked_flags = cp_r32(&r);
	c.last_trading_day = (int32_t)cp_r32(&r);
	c.trade_day = (int32_t)cp_r32(&r);
	c.settled_day = (int32_t)cp_r32(&r);
	c.days_traded = cp_r32(&r);
	c.halted_at = cp_r64(&r);
	c.uncross_price = (int64_t)cp_r64(&r);
	c.uncross_qty = cp_r64(&r);
	c.volume = cp_r64(&r);
	c.notional = cp_r64(&r);
	c.high = (int64_t)cp_r64(&r);
	c.low = (int64_t)cp_r64(&r);
	c.last = (int64_t)cp_r64(&r);
	const char *bad = NULL;
	if (c.id == 0)
		bad = "contract id 0";
	else if (memchr(c.symbol, '\0', sizeof(c.symbol)) == NULL)
		bad = "a symbol without its end";
	else if (c.phase > TKX_PHASE_DELISTED)
		bad = "no such phase";
	else if (c.halt_reason > CP_HALT_VOLATILITY)
		bad = "no such halt reason";
	else if (c.first_day > 1 || c.limits_set > 1 || c.spot > 1)
		bad = "a flag that is neither 0 nor 1";
	else if (c.tick <= 0 || c.max_qty <= 0 || c.max_orders == 0)
		bad = "a tick, order size or order pool that is not positive";
	if (bad) {
		snprintf(err, len, "control-plane contract item, slot %u (contract %u): %s",
			 (unsigned)it->index, c.id, bad);
		return -EBADMSG;
	}
	*k = c;
	return 0;
}

int cp_state_decode_account(const struct cp_state_item *it, struct cp_account *a, char *err,
			    size_t len)
{
	int rc = cp_state_want(it, CP_ST_ACCOUNT, err, len);
	if (rc < 0)
		return rc;
	struct cp_account x;
	memset(&x, 0, sizeof(x));
	struct cp_r r = {it->data, 0};
	x.firm = cp_r32(&r);
	x.account = cp_r32(&r);
	x.max_qty = (int64_t)cp_r64(&r);
	x.max_pos = (int64_t)cp_r64(&r);
	x.max_pos_spot = (int64_t)cp_r64(&r);
	x.killed = cp_r8(&r);
	if (x.firm == 0 || x.account == 0 || x.killed > 1) {
		snprintf(err, len, "control-plane account item, slot %u (%u/%u): %s",
			 (unsigned)it->index, x.firm, x.account,
			 x.killed > 1 ? "a kill switch neither on nor off" : "firm or account 0");
		return -EBADMSG;
	}
	*a = x;
	return 0;
}

int cp_state_decode_global(const struct cp_state_item *it, struct cp_state_global *g, char *err,
			   size_t len)
{
	int rc = cp_state_want(it, CP_ST_GLOBAL, err, len);
	if (rc < 0)
		return rc;
	struct cp_state_global x;
	memset(&x, 0, sizeof(x));
	struct cp_r r = {it->data, 0};
	x.n_contracts = cp_r32(&r);
	x.n_accounts = cp_r32(&r);
	uint8_t ck = cp_r8(&r);
	x.clock_sim = ck & 1;
	x.clock_held = (ck >> 1) & 1;
	x.clock_rate = cp_r64(&r);
	x.cal_ns = cp_r64(&r);
	x.wall_ns = cp_r64(&r);
	const char *bad = NULL;
	if (x.n_contracts > CP_LIFE_MAX || x.n_accounts > CP_LIFE_MAX_ACCOUNTS)
		bad = "more contracts or accounts than a control plane holds";
	else if (ck > 3 || ck == 2 || x.clock_rate == 0 || x.clock_rate > CP_CLOCK_RATE_MAX)
		bad = "no such clock";
	if (bad) {
		snprintf(err, len, "control-plane global item: %s", bad);
		return -EBADMSG;
	}
	*g = x;
	return 0;
}

/* ---- changes and the image --------------------------------------------------------- */

void cp_state_img_init(struct cp_state_img *img)
{
	memset(img, 0, sizeof(*img));
}

int cp_state_img_has(const struct cp_state_img *img)
{
	return img->g.len != 0;
}

static int cp_state_differs(const struct cp_state_item *old, const struct cp_state_item *now,
			    size_t cmp)
{
	return old->len != now->len || old->kind != now->kind ||
	       memcmp(old->data, now->data, cmp) != 0;
}

uint32_t cp_state_diff(const struct cp_life *L, struct cp_state_global *g,
		       const struct cp_state_img *last, int force, struct cp_state_item *out)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < L->n && i < CP_LIFE_MAX; i++) {
		cp_state_encode_contract(&L->c[i], (uint16_t)i, &out[n]);
		if (cp_state_differs(&last->c[i], &out[n], CP_ST_CONTRACT_CMP))
			n++;
	}
	for (uint32_t i = 0; i < L->n_accounts && i < CP_LIFE_MAX_ACCOUNTS; i++) {
		cp_state_encode_account(&L->acct[i], (uint16_t)i, &out[n]);
		if (cp_state_differs(&last->a[i], &out[n], CP_ST_ACCOUNT_LEN))
			n++;
	}
	g->n_contracts = L->n;
	g->n_accounts = L->n_accounts;
	struct cp_state_item *e = &out[n];
	cp_state_encode_global(g, e);
	if (n == 0 && !force &&
	    !cp_state_differs(&last->g, e, g->clock_held ? CP_ST_GLOBAL_CMP + 8 : CP_ST_GLOBAL_CMP))
		return 0;
	e->flags = CP_ST_END;
	e->crc = cp_state_crc(e);
	return n + 1;
}

static struct cp_state_item *cp_state_slot(struct cp_state_img *img, uint8_t kind,
					   uint16_t index)
{
	switch (kind) {
	case CP_ST_CONTRACT:
		return &img->c[index];
	case CP_ST_ACCOUNT:
		return &img->a[index];
	default:
		return &img->g;
	}
}

int cp_state_img_stage(struct cp_state_img *img, const struct cp_state_item *it, char *err,
		       size_t len)
{
	int rc = cp_state_item_check(it, err, len);
	if (rc < 0)
		return rc;
	/* The change's last item for a slot wins (a change repeated after a failed journal
	 * write comes again whole): at most one pending item per slot. */
	uint32_t i = 0;
	while (i < img->n_pend && (img->pend[i].kind != it->kind || img->pend[i].index != it->index))
		i++;
	if (i == img->n_pend)
		img->n_pend++; /* < CP_STATE_MAX_ITEMS: one per slot */
	img->pend[i] = *it;
	if (!(it->flags & CP_ST_END))
		return 0;
	for (uint32_t k = 0; k < img->n_pend; k++)
		*cp_state_slot(img, img->pend[k].kind, img->pend[k].index) = img->pend[k];
	img->n_pend = 0;
	img->changes++;
	return 1;
}

int cp_state_restore(const struct cp_state_img *img, struct cp_life *L,
		     struct cp_state_global *g, char *err, size_t len)
{
	static struct cp_life_contract c[CP_LIFE_MAX]; /* start-up only: one caller at a time */
	static struct cp_account a[CP_LIFE_MAX_ACCOUNTS];
	struct cp_state_global x;
	if (!cp_state_img_has(img)) {
		snprintf(err, len, "no control-plane state recorded");
		return -ENOENT;
	}
	int rc = cp_state_decode_global(&img->g, &x, err, len);
	if (rc < 0)
		return rc;
	for (uint32_t i = 0; i < x.n_contracts; i++) {
		if (img->c[i].len == 0) {
			snprintf(err, len, "control-plane state: %u contracts but none in slot %u",
				 x.n_contracts, i);
			return -EBADMSG;
		}
		if ((rc = cp_state_decode_contract(&img->c[i], &c[i], err, len)) < 0)
			return rc;
		if (c[i].core >= L->n_cores) {
			snprintf(err, len, "control-plane state: contract %u on matching core %u, "
				 "this configuration has %u", c[i].id, c[i].core, L->n_cores);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++)
			if (c[j].id == c[i].id) {
				snprintf(err, len, "control-plane state: contract %u in slots %u and "
					 "%u", c[i].id, j, i);
				return -EBADMSG;
			}
	}
	for (uint32_t i = 0; i < x.n_accounts; i++) {
		if (img->a[i].len == 0) {
			snprintf(err, len, "control-plane state: %u accounts but none in slot %u",
				 x.n_accounts, i);
			return -EBADMSG;
		}
		if ((rc = cp_state_decode_account(&img->a[i], &a[i], err, len)) < 0)
			return rc;
	}
	memcpy(L->c, c, sizeof(c[0]) * x.n_contracts);
	L->n = x.n_contracts;
	memcpy(L->acct, a, sizeof(a[0]) * x.n_accounts);
	L->n_accounts = x.n_accounts;
	*g = x;
	return 0;
}

/* ---- journal records --------------------------------------------------------------- */

static uint32_t cp_state_nparts(uint16_t len)
{
	return len == 0 ? 1 : (len + CP_STATE_PART - 1u) / CP_STATE_PART;
}

uint32_t cp_state_rec_split(const struct cp_state_item *it, struct cp_state_rec *out)
{
	uint32_t n = cp_state_nparts(it->len);
	for (uint32_t p = 0; p < n; p++) {
		struct cp_state_rec *r = &out[p];
		memset(r, 0, sizeof(*r));
		r->version = it->version;
		r->kind = it->kind;
		r->flags = it->flags;
		r->index = it->index;
		r->len = it->len;
		r->crc = it->crc;
		r->part = (uint8_t)p;
		r->nparts = (uint8_t)n;
		size_t at = (size_t)p * CP_STATE_PART;
		size_t k = it->len > at ? it->len - at : 0;
		memcpy(r->data, it->data + at, k < CP_STATE_PART ? k : CP_STATE_PART);
	}
	return n;
}

void cp_state_asm_init(struct cp_state_asm *a)
{
	memset(a, 0, sizeof(*a));
}

int cp_state_asm_feed(struct cp_state_asm *a, const void *payload, size_t len, char *err,
		      size_t errlen)
{
	struct cp_state_rec r;
	if (len != sizeof(r)) {
		snprintf(err, errlen, "a control-plane record of %zu bytes (%zu expected)", len,
			 sizeof(r));
		return -EBADMSG;
	}
	memcpy(&r, payload, sizeof(r));
	if (r.version != CP_STATE_VERSION) {
		snprintf(err, errlen, "control-plane record format version %u; this build reads "
			 "version %u", (unsigned)r.version, (unsigned)CP_STATE_VERSION);
		return -EPROTO;
	}
	if (r.len > CP_STATE_DATA_MAX || r.nparts != cp_state_nparts(r.len) || r.part >= r.nparts) {
		snprintf(err, errlen, "control-plane record: part %u of %u for %u bytes: corrupt",
			 (unsigned)r.part, (unsigned)r.nparts, (unsigned)r.len);
		return -EBADMSG;
	}
	struct cp_state_item *it = &a->it;
	if (a->next == 0) {
		if (r.part != 0) {
			snprintf(err, errlen, "control-plane record: part %u of a %s item whose "
				 "part 0 is missing", (unsigned)r.part, cp_state_kind_name(r.kind));
			return -EBADMSG;
		}
		memset(it, 0, sizeof(*it));
		it->version = r.version;
		it->kind = r.kind;
		it->flags = r.flags;
		it->index = r.index;
		it->len = r.len;
		it->crc = r.crc;
		a->nparts = r.nparts;
	} else if (r.part != a->next || r.kind != it->kind || r.index != it->index ||
		   r.len != it->len || r.crc != it->crc || r.flags != it->flags) {
		snprintf(err, errlen, "control-plane record: part %u of a %s item (slot %u) where "
			 "part %u of a %s item (slot %u) was expected: parts missing",
			 (unsigned)r.part, cp_state_kind_name(r.kind), (unsigned)r.index,
			 (unsigned)a->next, cp_state_kind_name(it->kind), (unsigned)it->index);
		return -EBADMSG;
	}
	size_t at = (size_t)r.part * CP_STATE_PART;
	size_t k = r.len > at ? r.len - at : 0;
	memcpy(it->data + at, r.data, k < CP_STATE_PART ? k : CP_STATE_PART);
	a->next = (uint8_t)(r.part + 1);
	if (a->next < a->nparts)
		return 0;
	a->next = 0;
	int rc = cp_state_item_check(it, err, errlen);
	return rc < 0 ? rc : 1;
}

int cp_state_feed(struct cp_state_img *img, struct cp_state_asm *as, const void *payload,
		  size_t len, char *err, size_t errlen)
{
	int rc = cp_state_asm_feed(as, payload, len, err, errlen);
	return rc == 1 ? cp_state_img_stage(img, &as->it, err, errlen) : rc;
}

uint32_t cp_state_drop_unended(struct cp_state_img *img, struct cp_state_asm *as)
{
	uint32_t n = img->n_pend + (as->next != 0);
	img->n_pend = 0;
	cp_state_asm_init(as);
	return n;
}

/* ---- snapshot section -------------------------------------------------------------- */

struct cp_state_snap_hdr {
	struct dp_snap_sect s;
	uint32_t n_items; /* committed */
	uint32_t n_pend;
	uint64_t changes;
};
_Static_assert(sizeof(struct cp_state_snap_hdr) == 32, "cp_state_snap_hdr layout");

#define CP_ST_HDR 16 /* an item's header in the section */

static size_t cp_state_snap_item_len(uint16_t len)
{
	return CP_ST_HDR + (((size_t)len + 7) & ~(size_t)7);
}

size_t cp_state_snap_bound(void)
{
	return sizeof(struct cp_state_snap_hdr) +
	       (CP_LIFE_MAX + CP_LIFE_MAX_ACCOUNTS + 1 + CP_STATE_MAX_ITEMS) *
	       cp_state_snap_item_len(CP_STATE_DATA_MAX);
}

static void cp_state_snap_put(struct dp_snap_w *w, const struct cp_state_item *it)
{
	uint8_t *p = dp_snap_w_take(w, cp_state_snap_item_len(it->len));
	if (p == NULL)
		return;
	memcpy(p, it, CP_ST_HDR);
	memcpy(p + CP_ST_HDR, it->data, it->len);
	memset(p + CP_ST_HDR + it->len, 0, cp_state_snap_item_len(it->len) - CP_ST_HDR - it->len);
}

void cp_state_snap_save(const struct cp_state_img *img, struct dp_snap_w *w)
{
	size_t at = w->len;
	struct cp_state_snap_hdr *h = (struct cp_state_snap_hdr *)dp_snap_sect_begin(
		w, sizeof(*h), CP_STATE_SNAP_MAGIC, CP_STATE_SNAP_VERSION);
	if (h == NULL)
		return;
	uint32_t n = 0;
	if (img->g.len) {
		cp_state_snap_put(w, &img->g);
		n++;
	}
	for (uint32_t i = 0; i < CP_LIFE_MAX; i++)
		if (img->c[i].len) {
			cp_state_snap_put(w, &img->c[i]);
			n++;
		}
	for (uint32_t i = 0; i < CP_LIFE_MAX_ACCOUNTS; i++)
		if (img->a[i].len) {
			cp_state_snap_put(w, &img->a[i]);
			n++;
		}
	for (uint32_t i = 0; i < img->n_pend; i++)
		cp_state_snap_put(w, &img->pend[i]);
	if (w->err)
		return;
	h->n_items = n;
	h->n_pend = img->n_pend;
	h->changes = img->changes;
	dp_snap_sect_end(w, &h->s, at);
}

/* Checks the section and, with img, loads it: 0 or a negative errno with the reason. */
static int cp_state_snap_read(struct cp_state_img *img, const void *buf, size_t len,
			      size_t *used, char *err, size_t errlen)
{
	struct cp_state_snap_hdr h;
	int rc = dp_snap_sect_check(buf, len, CP_STATE_SNAP_MAGIC, CP_STATE_SNAP_VERSION,
				    sizeof(h), "control-plane", &h.s, err, errlen);
	if (rc < 0)
		return rc;
	memcpy(&h, buf, sizeof(h));
	if (h.n_items > CP_LIFE_MAX + CP_LIFE_MAX_ACCOUNTS + 1 || h.n_pend > CP_STATE_MAX_ITEMS) {
		snprintf(err, errlen, "control-plane snapshot: %u items and %u pending: corrupt",
			 h.n_items, h.n_pend);
		return -EBADMSG;
	}
	if (img) {
		cp_state_img_init(img);
		img->changes = h.changes;
	}
	struct dp_snap_r r;
	dp_snap_r_init(&r, buf, (size_t)h.s.len);
	dp_snap_r_skip(&r, sizeof(h));
	for (uint32_t i = 0; i < h.n_items + h.n_pend; i++) {
		struct cp_state_item it;
		memset(&it, 0, sizeof(it));
		if (dp_snap_r_get(&r, &it, CP_ST_HDR) < 0 || it.len > CP_STATE_DATA_MAX ||
		    dp_snap_r_get(&r, it.data, it.len) < 0 ||
		    !dp_snap_r_skip(&r, cp_state_snap_item_len(it.len) - CP_ST_HDR - it.len)) {
			snprintf(err, errlen, "control-plane snapshot: item %u runs past the "
				 "section: corrupt", i);
			return -EBADMSG;
		}
		if ((rc = cp_state_item_check(&it, err, errlen)) < 0)
			return rc;
		if (!img)
			continue;
		if (i < h.n_items)
			*cp_state_slot(img, it.kind, it.index) = it;
		else
			img->pend[img->n_pend++] = it;
	}
	if (r.off != r.len) {
		snprintf(err, errlen, "control-plane snapshot: %zu bytes after its items: corrupt",
			 r.len - r.off);
		return -EBADMSG;
	}
	*used = (size_t)h.s.len;
	return 0;
}

int cp_state_snap_check(const void *buf, size_t len, size_t *used, char *err, size_t errlen)
{
	return cp_state_snap_read(NULL, buf, len, used, err, errlen);
}

int cp_state_snap_load(struct cp_state_img *img, const void *buf, size_t len, size_t *used,
		       char *err, size_t errlen)
{
	int rc = cp_state_snap_read(NULL, buf, len, used, err, errlen);
	return rc < 0 ? rc : cp_state_snap_read(img, buf, len, used, err, errlen);
}

/* ---- text -------------------------------------------------------------------------- */

static const char *cp_state_price(int64_t p, char *buf, size_t len)
{
	if (p == TKX_NULL_PRICE)
		snprintf(buf, len, "-");
	else if (p < 0)
		snprintf(buf, len, "%" PRId64, p);
	else
		cp_format_price(p, buf, len);
	return buf;
}

static const char *cp_state_day(int32_t day, char *buf, size_t len)
{
	if (day < 0 || day == INT32_MAX)
		snprintf(buf, len, "-");
	else
		cp_format_date(day, buf, len);
	return buf;
}

void cp_state_describe(const struct cp_state_item *it, char *buf, size_t len)
{
	char e[160], p[8][24], d[3][16];
	struct cp_life_contract k;
	struct cp_account a;
	struct cp_state_global g;
	int rc;
	switch (it->kind) {
	case CP_ST_CONTRACT:
		if ((rc = cp_state_decode_contract(it, &k, e, sizeof(e))) < 0)
			break;
		snprintf(buf, len, "contract slot=%u id=%u symbol=%s phase=%s core=%u ref=%s "
			 "settle=%s final=%s limits=[%s,%s] array=[%s,%s] bp=%u first_day=%u "
			 "operator_limits=%u "
			 "spot=%u locked=%u last_day=%s traded=%s settled=%s days=%u halt=%u "
			 "uncross=%s/%" PRIu64, (unsigned)it->index, k.id, k.symbol,
			 cp_life_phase_name(k.phase), k.core,
			 cp_state_price(k.prev_settle, p[0], sizeof(p[0])),
			 cp_state_price(k.settle, p[1], sizeof(p[1])),
			 cp_state_price(k.final_settle, p[2], sizeof(p[2])),
			 cp_state_price(k.lo, p[3], sizeof(p[3])),
			 cp_state_price(k.hi, p[4], sizeof(p[4])),
			 cp_state_price(k.arr_lo, p[6], sizeof(p[6])),
			 cp_state_price(k.arr_hi, p[7], sizeof(p[7])), k.band_bp, k.first_day,
			 k.limits_set, k.spot, k.locked_flags,
			 cp_state_day(k.last_trading_day, d[0], sizeof(d[0])),
			 cp_state_day(k.trade_day, d[1], sizeof(d[1])),
			 cp_state_day(k.settled_day, d[2], sizeof(d[2])), k.days_traded,
			 k.halt_reason, cp_state_price(k.uncross_price, p[5], sizeof(p[5])),
			 k.uncross_qty);
		return;
	case CP_ST_ACCOUNT:
		if ((rc = cp_state_decode_account(it, &a, e, sizeof(e))) < 0)
			break;
		snprintf(buf, len, "account slot=%u firm=%u account=%u max_qty=%" PRId64
			 " max_pos=%" PRId64 " max_pos_spot=%" PRId64 " kill=%s", (unsigned)it->index,
			 a.firm, a.account, a.max_qty, a.max_pos, a.max_pos_spot,
			 a.killed ? "on" : "off");
		return;
	case CP_ST_GLOBAL: {
		if ((rc = cp_state_decode_global(it, &g, e, sizeof(e))) < 0)
			break;
		char t[40], r[24];
		cp_clock_format_time(g.cal_ns, 0, t, sizeof(t));
		cp_clock_format_rate(g.clock_rate, r, sizeof(r));
		snprintf(buf, len, "global contracts=%u accounts=%u clock=%s rate=%s calendar=%s%s",
			 g.n_contracts, g.n_accounts,
			 g.clock_held ? "simulated,held" : g.clock_sim ? "simulated" : "wall", r, t,
			 it->flags & CP_ST_END ? " end" : "");
		return;
	}
	default:
		rc = cp_state_item_check(it, e, sizeof(e));
		break;
	}
	snprintf(buf, len, "undecodable: %s", e);
}
