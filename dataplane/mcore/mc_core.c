/*
 * mc_core.c - a matching core's request handling around its books.
 *
 * Role: see mc_core.h. Per request: find the contract (a 64-entry open-addressed map),
 * check phase and ownership, build one me_cmd, apply it, and translate the engine's events
 * as they come (the engine's sink flushes straight into the translator, so a sweep of any
 * size needs no large buffer). No allocation, lock or syscall after mc_core_init().
 */
#include "mc_core.h"

#include <errno.h>
#include <string.h>

#define MC_MAP_SIZE 128 /* power of two, > 2 * MC_MAX_CONTRACTS */
#define MC_EVBUF 64

struct mc_contract {
	uint32_t id;
	uint8_t phase;
	uint8_t dirty; /* top of book may have changed in this burst */
	struct me_book *book;
	uint64_t trade_seq;
	uint64_t volume;
	int64_t last_price;
	/* last published top of book */
	int64_t pub_bid, pub_ask;
	int64_t pub_bid_qty, pub_ask_qty;
};

struct mc_core {
	/* the request being applied, for translating its events */
	const struct dp_order *cur;
	struct mc_contract *cur_c;
	struct mc_out *out;
	uint64_t now;
	uint8_t mass_reason; /* tkx_cancel_reason for ME_OUT_MASS events */

	uint64_t order_seq;
	uint32_t n;
	uint32_t n_dirty;
	struct mc_stats st;
	struct me_sink sink;
	uint8_t map[MC_MAP_SIZE]; /* contract id -> index + 1 */
	uint16_t dirty[MC_MAX_CONTRACTS];
	struct mc_contract c[MC_MAX_CONTRACTS];
	struct me_event evbuf[MC_EVBUF];
};

static size_t mc_align(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

size_t mc_core_memsize(const struct mc_contract_params *c, uint32_t n)
{
	if (n == 0 || n > MC_MAX_CONTRACTS) {
		errno = EINVAL;
		return 0;
	}
	size_t total = mc_align(sizeof(struct mc_core));
	for (uint32_t i = 0; i < n; i++) {
		size_t b = me_book_memsize(&c[i].book);
		if (b == 0)
			return 0;
		total += mc_align(b);
	}
	return total;
}

static uint32_t mc_hash(uint32_t id)
{
	return (id * 2654435761u) >> 25; /* top 7 bits: MC_MAP_SIZE = 128 */
}

static struct mc_contract *mc_find(struct mc_core *mc, uint32_t id)
{
	for (uint32_t h = mc_hash(id);; h = (h + 1) & (MC_MAP_SIZE - 1)) {
		uint8_t v = mc->map[h];
		if (v == 0)
			return NULL;
		if (mc->c[v - 1].id == id)
			return &mc->c[v - 1];
	}
}

static const struct mc_contract *mc_cfind(const struct mc_core *mc, uint32_t id)
{
	return mc_find((struct mc_core *)(uintptr_t)mc, id);
}

static void mc_translate(struct me_sink *s);

struct mc_core *mc_core_init(void *mem, size_t len, const struct mc_contract_params *c, uint32_t n)
{
	size_t need = mc_core_memsize(c, n);
	if (need == 0 || len < need || ((uintptr_t)mem & 63)) {
		errno = EINVAL;
		return NULL;
	}
	struct mc_core *mc = mem;
	memset(mc, 0, sizeof(*mc));
	char *p = (char *)mem + mc_align(sizeof(*mc));
	for (uint32_t i = 0; i < n; i++) {
		if (c[i].id == 0 || mc_find(mc, c[i].id)) {
			errno = EINVAL;
			return NULL;
		}
		size_t b = me_book_memsize(&c[i].book);
		struct mc_contract *k = &mc->c[i];
		k->id = c[i].id;
		k->phase = c[i].phase;
		k->book = me_book_init(p, b, &c[i].book);
		if (!k->book)
			return NULL;
		k->pub_bid = k->pub_ask = TKX_NULL_PRICE;
		k->last_price = TKX_NULL_PRICE;
		p += mc_align(b);
		uint32_t h = mc_hash(k->id);
		while (mc->map[h])
			h = (h + 1) & (MC_MAP_SIZE - 1);
		mc->map[h] = (uint8_t)(i + 1);
		mc->n++;
	}
	mc->sink.ev = mc->evbuf;
	mc->sink.cap = MC_EVBUF;
	mc->sink.flush = mc_translate;
	mc->sink.arg = mc;
	return mc;
}

/* ---- output ------------------------------------------------------------------------- */

static struct dp_event *mc_emit(struct mc_core *mc, uint16_t template_id, uint64_t order_id)
{
	struct mc_out *o = mc->out;
	if (o->n == o->cap)
		o->flush(o);
	struct dp_event *e = &o->ev[o->n++];
	memset(e, 0, sizeof(*e));
	e->template_id = template_id;
	e->src = (uint8_t)(order_id >> 16);
	e->session = (uint16_t)order_id;
	if (template_id >= TKX_MD_TOP_OF_BOOK)
		mc->st.md++;
	else
		mc->st.events++;
	return e;
}

/* A reply to the session that sent the current request. */
static struct dp_event *mc_reply(struct mc_core *mc, uint16_t template_id)
{
	return mc_emit(mc, template_id, (uint64_t)mc->cur->src << 16 | mc->cur->session);
}

/* A cancel or modify sent by another session of the order's firm: the owning session
 * gets the reply (its order changed) and so does the requester (its request was done). */
static void mc_copy_to_requester(struct mc_core *mc, const struct dp_event *e, uint64_t order_id)
{
	uint64_t requester = (uint64_t)mc->cur->src << 16 | mc->cur->session;
	if ((order_id & ((1u << MC_SESSION_BITS) - 1)) == requester)
		return;
	struct dp_event copy = *e; /* mc_reply may flush the buffer e points into */
	struct dp_event *c = mc_reply(mc, copy.template_id);
	c->u = copy.u;
}

static uint16_t mc_request_template(uint8_t type)
{
	switch (type) {
	case DP_ORD_NEW:
		return TKX_NEW_ORDER;
	case DP_ORD_CANCEL:
		return TKX_CANCEL_ORDER;
	case DP_ORD_MODIFY:
		return TKX_MODIFY_ORDER;
	default:
		return TKX_MASS_CANCEL;
	}
}

static void mc_reject(struct mc_core *mc, uint16_t reason)
{
	const struct dp_order *r = mc->cur;
	struct dp_event *e = mc_reply(mc, TKX_EXEC_REJECT);
	e->u.reject.cl_ord_id = r->cl_ord_id;
	e->u.reject.transact_time = mc->now;
	e->u.reject.order_id = r->order_id;
	e->u.reject.contract_id = r->contract_id;
	e->u.reject.reason = reason;
	e->u.reject.ref_template_id = mc_request_template(r->type);
	mc->st.rejects++;
}

static uint8_t mc_wire_side(uint8_t me_side)
{
	return me_side == ME_BUY ? TKX_SIDE_BUY : TKX_SIDE_SELL;
}

static uint16_t mc_reject_reason(const struct dp_order *r, uint8_t me_reason)
{
	switch (me_reason) {
	case ME_REJ_INVALID:
		if (r->price <= 0)
			return TKX_REJ_INVALID_PRICE;
		if (r->qty == 0)
			return TKX_REJ_INVALID_QTY;
		if (r->side != TKX_SIDE_BUY && r->side != TKX_SIDE_SELL)
			return TKX_REJ_INVALID_SIDE;
		return TKX_REJ_INVALID_TIF;
	case ME_REJ_DUP:
		return TKX_REJ_DUP_ORDER;
	case ME_REJ_UNKNOWN:
		return TKX_REJ_UNKNOWN_ORDER;
	case ME_REJ_POST_CROSS:
		return TKX_REJ_POST_CROSS;
	case ME_REJ_TICK:
		return TKX_REJ_TICK;
	case ME_REJ_BAND:
		return TKX_REJ_PRICE_BAND;
	case ME_REJ_MAX_QTY:
		return TKX_REJ_MAX_QTY;
	default:
		return TKX_REJ_BOOK_FULL;
	}
}

static uint8_t mc_cancel_reason(const struct mc_core *mc, uint8_t me_reason)
{
	switch (me_reason) {
	case ME_OUT_CANCEL:
		return TKX_CXL_CLIENT;
	case ME_OUT_IOC:
		return TKX_CXL_IOC;
	case ME_OUT_FOK:
		return TKX_CXL_FOK;
	case ME_OUT_STP:
		return TKX_CXL_STP;
	default:
		return mc->mass_reason;
	}
}

static void mc_fill(struct mc_core *mc, uint64_t order_id, uint64_t cl_ord_id, uint64_t trade_id,
		    const struct me_event *ev, int64_t leaves, uint8_t side, uint8_t aggressor)
{
	struct dp_event *e = mc_emit(mc, TKX_FILL, order_id);
	e->u.fill.cl_ord_id = cl_ord_id;
	e->u.fill.order_id = order_id;
	e->u.fill.trade_id = trade_id;
	e->u.fill.price = ev->price;
	e->u.fill.transact_time = mc->now;
	e->u.fill.qty = (uint32_t)ev->qty;
	e->u.fill.leaves_qty = (uint32_t)leaves;
	e->u.fill.contract_id = mc->cur_c->id;
	e->u.fill.side = side;
	e->u.fill.aggressor = aggressor;
}

/* The engine's sink: turn its events into replies and market data as they come. */
static void mc_translate(struct me_sink *s)
{
	struct mc_core *mc = s->arg;
	const struct dp_order *r = mc->cur;
	struct mc_contract *k = mc->cur_c;

	for (uint32_t i = 0; i < s->n; i++) {
		const struct me_event *ev = &s->ev[i];
		uint64_t id = (uint64_t)ev->id;
		struct dp_event *e;

		switch (ev->type) {
		case ME_EV_ACCEPT:
			e = mc_emit(mc, TKX_EXEC_ACK, id);
			e->u.ack.cl_ord_id = ev->user;
			e->u.ack.order_id = id;
			e->u.ack.price = ev->price;
			e->u.ack.transact_time = mc->now;
			e->u.ack.qty = (uint32_t)ev->qty;
			e->u.ack.contract_id = k->id;
			e->u.ack.side = mc_wire_side(ev->side);
			e->u.ack.tif = r->tif;
			break;
		case ME_EV_MODIFY:
			e = mc_emit(mc, TKX_MODIFY_ACK, id);
			e->u.modify_ack.cl_ord_id = r->cl_ord_id;
			e->u.modify_ack.order_id = id;
			e->u.modify_ack.price = ev->price;
			e->u.modify_ack.transact_time = mc->now;
			e->u.modify_ack.qty = (uint32_t)ev->qty;
			e->u.modify_ack.contract_id = k->id;
			e->u.modify_ack.side = mc_wire_side(ev->side);
			mc_copy_to_requester(mc, e, id);
			break;
		case ME_EV_TRADE: {
			uint64_t tid = ++k->trade_seq;
			uint8_t aside = mc_wire_side(ev->side);
			uint8_t rside = aside == TKX_SIDE_BUY ? TKX_SIDE_SELL : TKX_SIDE_BUY;
			mc_fill(mc, id, ev->user, tid, ev, ev->leaves, aside, 1);
			mc_fill(mc, (uint64_t)ev->rid, ev->ruser, tid, ev, ev->rleaves, rside, 0);
			e = mc_emit(mc, TKX_MD_TRADE, 0);
			e->u.trade.transact_time = mc->now;
			e->u.trade.trade_id = tid;
			e->u.trade.price = ev->price;
			e->u.trade.qty = (uint32_t)ev->qty;
			e->u.trade.contract_id = k->id;
			e->u.trade.aggressor_side = aside;
			k->volume += (uint64_t)ev->qty;
			k->last_price = ev->price;
			mc->st.trades++;
			break;
		}
		case ME_EV_OUT:
			e = mc_emit(mc, TKX_CANCELLED, id);
			e->u.cancelled.cl_ord_id =
				ev->reason == ME_OUT_CANCEL ? r->cl_ord_id : ev->user;
			e->u.cancelled.order_id = id;
			e->u.cancelled.transact_time = mc->now;
			e->u.cancelled.orig_cl_ord_id = ev->user;
			e->u.cancelled.qty = (uint32_t)ev->qty;
			e->u.cancelled.contract_id = k->id;
			e->u.cancelled.reason = mc_cancel_reason(mc, ev->reason);
			e->u.cancelled.side = mc_wire_side(ev->side);
			if (ev->reason == ME_OUT_CANCEL)
				mc_copy_to_requester(mc, e, id);
			break;
		case ME_EV_REJECT:
			mc_reject(mc, mc_reject_reason(r, ev->reason));
			break;
		}
	}
	s->n = 0;
}

static void mc_touch(struct mc_core *mc, struct mc_contract *k)
{
	if (!k->dirty) {
		k->dirty = 1;
		mc->dirty[mc->n_dirty++] = (uint16_t)(k - mc->c);
	}
}

/* Publishes top of book for every contract the burst touched, if it changed. */
static void mc_publish_tops(struct mc_core *mc)
{
	for (uint32_t i = 0; i < mc->n_dirty; i++) {
		struct mc_contract *k = &mc->c[mc->dirty[i]];
		int64_t bp = TKX_NULL_PRICE, bq = 0, ap = TKX_NULL_PRICE, aq = 0;
		k->dirty = 0;
		me_book_best(k->book, ME_BUY, &bp, &bq);
		me_book_best(k->book, ME_SELL, &ap, &aq);
		if (bp == k->pub_bid && bq == k->pub_bid_qty && ap == k->pub_ask &&
		    aq == k->pub_ask_qty)
			continue;
		k->pub_bid = bp;
		k->pub_bid_qty = bq;
		k->pub_ask = ap;
		k->pub_ask_qty = aq;
		struct dp_event *e = mc_emit(mc, TKX_MD_TOP_OF_BOOK, 0);
		e->u.tob.transact_time = mc->now;
		e->u.tob.bid_price = bp;
		e->u.tob.ask_price = ap;
		e->u.tob.bid_qty = (uint64_t)bq;
		e->u.tob.ask_qty = (uint64_t)aq;
		e->u.tob.contract_id = k->id;
	}
	mc->n_dirty = 0;
}

/* Mass cancel of the orders selected by owner/side/id-mask on one contract. */
static uint32_t mc_cancel_where(struct mc_core *mc, struct mc_contract *k, uint64_t owner, int side,
				uint64_t mask, uint64_t value)
{
	mc->cur_c = k;
	uint32_t n = me_book_cancel_where(k->book, owner, side, mask, value, &mc->sink);
	mc_translate(&mc->sink);
	if (n)
		mc_touch(mc, k);
	return n;
}

static void mc_mass(struct mc_core *mc, const struct dp_order *r)
{
	uint64_t owner = 0, mask = 0, value = 0;
	int side = r->side == TKX_SIDE_BUY ? ME_BUY : r->side == TKX_SIDE_SELL ? ME_SELL : -1;
	uint32_t count = 0;

	if (r->type == DP_ORD_SESSION_GONE || r->scope == TKX_SCOPE_SESSION) {
		mask = (1u << MC_SESSION_BITS) - 1;
		value = (uint64_t)r->src << 16 | r->session;
	} else {
		/* ACCOUNT scope: the firm's own account only (owner encodes the firm). */
		owner = (uint64_t)r->firm_id << 32 | r->account;
	}
	mc->mass_reason = r->type == DP_ORD_SESSION_GONE ? TKX_CXL_DISCONNECT : TKX_CXL_MASS;
	for (uint32_t i = 0; i < mc->n; i++) {
		struct mc_contract *k = &mc->c[i];
		if (r->contract_id && k->id != r->contract_id)
			continue;
		count += mc_cancel_where(mc, k, owner, side, mask, value);
	}
	if (r->type == DP_ORD_SESSION_GONE)
		return;
	struct dp_event *e = mc_reply(mc, TKX_MASS_CANCEL_ACK);
	e->parts = r->parts ? r->parts : 1;
	e->u.mass_ack.cl_ord_id = r->cl_ord_id;
	e->u.mass_ack.transact_time = mc->now;
	e->u.mass_ack.count = count;
	e->u.mass_ack.contract_id = r->contract_id;
	e->u.mass_ack.account = r->account;
	e->u.mass_ack.scope = r->scope;
	e->u.mass_ack.side = r->side;
}

static int mc_accepts_orders(uint8_t phase)
{
	return phase == TKX_PHASE_CONTINUOUS;
}

static int mc_accepts_cancels(uint8_t phase)
{
	return phase >= TKX_PHASE_PRE_OPEN && phase <= TKX_PHASE_CLOSED;
}

static void mc_one(struct mc_core *mc, const struct dp_order *r)
{
	mc->cur = r;
	if (r->type == DP_ORD_MASS_CANCEL || r->type == DP_ORD_SESSION_GONE) {
		mc_mass(mc, r);
		return;
	}
	struct mc_contract *k = mc_find(mc, r->contract_id);
	if (!k) {
		mc->st.unknown_contract++;
		mc_reject(mc, TKX_REJ_UNKNOWN_CONTRACT);
		return;
	}
	mc->cur_c = k;
	int is_new = r->type == DP_ORD_NEW;
	if (is_new || r->type == DP_ORD_MODIFY) {
		if (!mc_accepts_orders(k->phase)) {
			mc_reject(mc, k->phase == TKX_PHASE_HALTED ? TKX_REJ_HALTED : TKX_REJ_PHASE);
			return;
		}
	} else if (r->type == DP_ORD_CANCEL) {
		if (!mc_accepts_cancels(k->phase)) {
			mc_reject(mc, TKX_REJ_PHASE);
			return;
		}
	} else {
		mc_reject(mc, TKX_REJ_INVALID_SCOPE);
		return;
	}

	struct me_cmd cmd;
	memset(&cmd, 0, sizeof(cmd));
	if (is_new) {
		cmd.type = ME_CMD_NEW;
		/* Out-of-range side/tif map to values the engine rejects as INVALID. */
		cmd.side = r->side == TKX_SIDE_BUY ? ME_BUY : r->side == TKX_SIDE_SELL ? ME_SELL : 0xff;
		cmd.tif = r->tif >= TKX_TIF_GTC && r->tif <= TKX_TIF_POST ? (uint8_t)(r->tif - 1) : 0xff;
		cmd.id = (int64_t)(++mc->order_seq << MC_SESSION_BITS | (uint64_t)r->src << 16 |
				   r->session);
		cmd.price = r->price;
		cmd.qty = r->qty;
		cmd.owner = r->account ? (uint64_t)r->firm_id << 32 | r->account : 0;
		cmd.user = r->cl_ord_id;
	} else {
		/* Cancel/modify: the order must be live and belong to the requesting firm. */
		struct me_order_view o;
		if (me_book_find(k->book, (int64_t)r->order_id, &o) < 0) {
			mc_reject(mc, TKX_REJ_UNKNOWN_ORDER);
			return;
		}
		/* An order with an account belongs to its firm (any of the firm's sessions may
		 * cancel it); one without an account belongs to its session alone. */
		uint64_t mine = (uint64_t)r->src << 16 | r->session;
		int allowed = o.owner ? (uint32_t)(o.owner >> 32) == r->firm_id
				      : (r->order_id & ((1u << MC_SESSION_BITS) - 1)) == mine;
		if (!allowed) {
			mc_reject(mc, TKX_REJ_NOT_OWNER);
			return;
		}
		/* Modify to quantity zero is a cancel (docs/protocol.md). */
		cmd.type = r->type == DP_ORD_CANCEL || r->qty == 0 ? ME_CMD_CANCEL : ME_CMD_MODIFY;
		cmd.id = (int64_t)r->order_id;
		cmd.price = r->price;
		cmd.qty = r->qty;
	}
	me_book_apply(k->book, &cmd, &mc->sink);
	mc_translate(&mc->sink);
	mc_touch(mc, k);
}

uint32_t mc_process(struct mc_core *mc, const struct dp_order *in, uint32_t n, uint64_t now_ns,
		    struct mc_out *out)
{
	mc->out = out;
	mc->now = now_ns;
	for (uint32_t i = 0; i < n; i++) {
		if (i + 1 < n)
			__builtin_prefetch(&in[i + 1]);
		mc_one(mc, &in[i]);
	}
	mc->st.orders += n;
	mc_publish_tops(mc);
	if (out->n)
		out->flush(out);
	return n;
}

int mc_set_phase(struct mc_core *mc, uint32_t contract_id, uint8_t phase, uint64_t now_ns,
		 struct mc_out *out)
{
	struct mc_contract *k = mc_find(mc, contract_id);
	if (!k)
		return -ENOENT;
	k->phase = phase;
	mc->out = out;
	struct dp_event *e = mc_emit(mc, TKX_MD_CONTRACT_STATUS, 0);
	e->u.status.transact_time = now_ns;
	e->u.status.contract_id = contract_id;
	e->u.status.phase = phase;
	e->u.status.price = TKX_NULL_PRICE;
	out->flush(out);
	return 0;
}

int mc_owns(const struct mc_core *mc, uint32_t contract_id)
{
	return mc_cfind(mc, contract_id) != NULL;
}

const struct me_book *mc_book(const struct mc_core *mc, uint32_t contract_id)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	return k ? k->book : NULL;
}

int mc_phase(const struct mc_core *mc, uint32_t contract_id)
{
	const struct mc_contract *k = mc_cfind(mc, contract_id);
	return k ? k->phase : -ENOENT;
}

void mc_stats(const struct mc_core *mc, struct mc_stats *s)
{
	*s = mc->st;
}
