// hw_sim.cpp - the C API of hw_sim.h over the Verilated hw_book models (N = 4, 8).
//
// Role: simulation support for the offload backends and tests; drives the model's clock
// and converts between the C engine's int64 prices/quantities and the RTL's 32-bit
// ticks and quantities. Compiled as C++ only because Verilator's output is.
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <new>

#include "Vhw4.h"
#include "Vhw8.h"
#include "hw_sim.h"
#include "verilated.h"

namespace {

// What the shim needs from a model, whatever its N.
struct hw__model {
	virtual ~hw__model() {}
	virtual void set_in(bool valid, unsigned op, unsigned side, uint32_t price,
			    uint32_t qty) = 0;
	virtual void set_rst(bool rst) = 0;
	virtual void tick() = 0;
	virtual bool out_valid() const = 0;
	virtual void result(hw_sim_result *r) const = 0;
	virtual unsigned level(int side, unsigned i, uint32_t *price, uint32_t *qty) const = 0;
};

template <class V, unsigned N> struct hw__vmodel final : hw__model {
	VerilatedContext ctx;
	V *m;
	hw__vmodel() : m(new V(&ctx)) {}
	~hw__vmodel() override
	{
		m->final();
		delete m;
	}
	void set_in(bool valid, unsigned op, unsigned side, uint32_t price,
		    uint32_t qty) override
	{
		m->in_valid = valid;
		m->in_op = op;
		m->in_side = side;
		m->in_price = price;
		m->in_qty = qty;
	}
	void set_rst(bool rst) override { m->rst = rst; }
	void tick() override
	{
		m->clk = 0;
		m->eval();
		m->clk = 1;
		m->eval();
	}
	bool out_valid() const override { return m->out_valid; }
	void result(hw_sim_result *r) const override
	{
		r->code = m->out_code;
		r->flags = m->out_flags;
		r->side = m->out_side;
		r->crossed = m->crossed;
		r->holes[0] = m->bid_holes;
		r->holes[1] = m->ask_holes;
	}
	// Level i of a side: 1 and the raw values if valid, else 0. PW = QW = 32, so level
	// i is word i of the flattened ports.
	unsigned level(int side, unsigned i, uint32_t *price, uint32_t *qty) const override
	{
		unsigned valid = side ? m->ask_valid : m->bid_valid;
		if (i >= N || !((valid >> i) & 1u))
			return 0;
		*price = side ? m->ask_price[i] : m->bid_price[i];
		*qty = side ? m->ask_qty[i] : m->bid_qty[i];
		return 1;
	}
};

} // namespace

struct hw_sim {
	hw__model *m;
	unsigned n;
	int64_t base, tick;
	uint64_t cycles;
};

static void hw__tick(hw_sim *s)
{
	s->m->tick();
	s->cycles++;
}

// Price/qty to the RTL's fields; 0 or -ERANGE.
static int hw__encode(const hw_sim *s, const hw_sim_cmd *o, uint32_t *tp, uint32_t *tq)
{
	if (o->op > HW_OP_CLEAR || o->side > 1)
		return -EINVAL;
	if (o->op == HW_OP_NOP || o->op == HW_OP_CLEAR) {
		*tp = 0;
		*tq = 0;
		return 0;
	}
	if (o->qty < 0 || o->qty > HW_SIM_QTY_MAX || o->price < s->base)
		return -ERANGE;
	// price - base can overflow int64 only if base is very negative; use unsigned.
	uint64_t d = (uint64_t)o->price - (uint64_t)s->base;
	if (d % (uint64_t)s->tick != 0 || d / (uint64_t)s->tick > (uint64_t)HW_SIM_TICKS_MAX)
		return -ERANGE;
	*tp = (uint32_t)(d / (uint64_t)s->tick);
	*tq = (uint32_t)o->qty;
	return 0;
}

static int64_t hw__price(const hw_sim *s, uint32_t t)
{
	return (int64_t)((uint64_t)s->base + (uint64_t)t * (uint64_t)s->tick);
}

static void hw__collect(const hw_sim *s, hw_sim_result *r, hw_sim_book *lv)
{
	s->m->result(r);
	r->pad[0] = r->pad[1] = 0;
	r->cycle = s->cycles;
	for (int side = 0; side < 2; side++) {
		uint32_t p, q;
		if (s->m->level(side, 0, &p, &q)) {
			r->best_price[side] = hw__price(s, p);
			r->best_qty[side] = q;
		} else {
			r->best_price[side] = 0;
			r->best_qty[side] = 0;
		}
		if (!lv)
			continue;
		unsigned k = 0;
		for (unsigned i = 0; i < s->n && s->m->level(side, i, &p, &q); i++, k++) {
			lv->price[side][i] = hw__price(s, p);
			lv->qty[side][i] = q;
		}
		lv->n[side] = k;
		for (unsigned i = k; i < HW_SIM_MAX_LEVELS; i++)
			lv->price[side][i] = lv->qty[side][i] = 0;
	}
}

extern "C" {

struct hw_sim *hw_sim_open(unsigned n_levels)
{
	hw__model *m = nullptr;
	try {
		if (n_levels == 4)
			m = new hw__vmodel<Vhw4, 4>();
		else if (n_levels == 8)
			m = new hw__vmodel<Vhw8, 8>();
		else {
			errno = EINVAL;
			return nullptr;
		}
	} catch (const std::bad_alloc &) {
		errno = ENOMEM;
		return nullptr;
	}
	hw_sim *s = (hw_sim *)calloc(1, sizeof(*s));
	if (!s) {
		delete m;
		errno = ENOMEM;
		return nullptr;
	}
	s->m = m;
	s->n = n_levels;
	s->base = 0;
	s->tick = 1;
	m->set_in(false, 0, 0, 0, 0);
	m->set_rst(true);
	hw__tick(s);
	m->set_rst(false);
	return s;
}

void hw_sim_close(struct hw_sim *s)
{
	if (!s)
		return;
	delete s->m;
	free(s);
}

int hw_sim_set_map(struct hw_sim *s, int64_t base, int64_t tick)
{
	if (tick < 1)
		return -EINVAL;
	s->base = base;
	s->tick = tick;
	return 0;
}

unsigned hw_sim_n_levels(const struct hw_sim *s)
{
	return s->n;
}

int hw_sim_op(struct hw_sim *s, int op, int side, int64_t price, int64_t qty,
	      struct hw_sim_result *r)
{
	if (op < 0 || op > HW_OP_CLEAR || side < 0 || side > 1)
		return -EINVAL;
	hw_sim_cmd o = {};
	o.op = (uint8_t)op;
	o.side = (uint8_t)side;
	o.price = price;
	o.qty = qty;
	hw_sim_result tmp;
	int rc = hw_sim_ops(s, &o, 1, r ? r : &tmp, nullptr);
	return rc < 0 ? rc : 0;
}

int hw_sim_ops(struct hw_sim *s, const struct hw_sim_cmd *ops, unsigned n,
	       struct hw_sim_result *r, struct hw_sim_book *lv)
{
	unsigned ok = 0;
	int err = 0;
	for (; ok < n; ok++) {
		uint32_t tp, tq;
		err = hw__encode(s, &ops[ok], &tp, &tq);
		if (err)
			break;
	}
	if (ok == 0)
		return n == 0 ? 0 : err;
	// One operation per clock; operation i's result is out after the clock that
	// presents operation i + 1 (HW_SIM_LATENCY = 2 edges after its own input).
	unsigned got = 0;
	for (unsigned t = 0; t <= ok; t++) {
		if (t < ok) {
			uint32_t tp = 0, tq = 0;
			hw__encode(s, &ops[t], &tp, &tq);
			s->m->set_in(true, ops[t].op, ops[t].side, tp, tq);
		} else {
			s->m->set_in(false, 0, 0, 0, 0);
		}
		hw__tick(s);
		if (t >= 1 && s->m->out_valid()) {
			hw__collect(s, &r[got], lv ? &lv[got] : nullptr);
			got++;
		}
	}
	return (int)got;
}

int hw_sim_top(const struct hw_sim *s, int side, int64_t *price, int64_t *qty, unsigned n)
{
	if (side < 0 || side > 1)
		return -EINVAL;
	unsigned k = 0;
	uint32_t p, q;
	while (k < n && k < s->n && s->m->level(side, k, &p, &q)) {
		price[k] = hw__price(s, p);
		qty[k] = q;
		k++;
	}
	return (int)k;
}

uint64_t hw_sim_cycles(const struct hw_sim *s)
{
	return s->cycles;
}

} // extern "C"
