// hw_match_sim.cpp - the C API of hw_match_sim.h over the Verilated hw_match model.
//
// Role: simulation support (differential test, later the sim backend): drives the
// model's clock, presents one command and collects the events it writes. Compiled as
// C++ only because Verilator's output is.
#include <cerrno>
#include <cstdint>
#include <new>

#include "Vhwm.h"
#include "hw_match_sim.h"
#include "verilated.h"

struct hw_match_sim {
	VerilatedContext ctx;
	Vhwm *m;
	uint64_t cycles;
	hw_match_sim() : m(new Vhwm(&ctx)), cycles(0) {}
	~hw_match_sim()
	{
		m->final();
		delete m;
	}
	void tick()
	{
		m->clk = 0;
		m->eval();
		m->clk = 1;
		m->eval();
		cycles++;
	}
};

extern "C" struct hw_match_sim *hw_match_open(void)
{
	hw_match_sim *s = new (std::nothrow) hw_match_sim();
	if (!s) {
		errno = ENOMEM;
		return nullptr;
	}
	s->m->rst = 1;
	s->m->in_valid = 0;
	s->tick();
	s->tick();
	s->m->rst = 0;
	s->tick();
	s->cycles = 0;
	return s;
}

extern "C" void hw_match_close(struct hw_match_sim *s)
{
	delete s;
}

extern "C" uint64_t hw_match_cycles(const struct hw_match_sim *s)
{
	return s->cycles;
}

extern "C" int hw_match_apply(struct hw_match_sim *s, const struct hw_match_cmd *c,
			      struct hw_match_ev *ev, unsigned cap, unsigned *cycles)
{
	if (c->id >= (1u << HW_MATCH_IDW))
		return -EINVAL;
	Vhwm *m = s->m;
	m->clk = 0;
	m->eval();
	if (!m->in_ready)
		return -EBUSY; // never: apply() returns only when the core is ready
	m->in_valid = 1;
	m->in_type = c->type & 7;
	m->in_side = c->side & 3;
	m->in_tif = c->tif & 7;
	m->in_id = c->id;
	m->in_price = (uint32_t)c->price;
	m->in_qty = (uint32_t)c->qty;
	s->tick(); // the command is taken at this edge
	m->in_valid = 0;
	unsigned n = 0, cyc = 1;
	int rc = 0;
	// Clock until the core is ready for the next command; events appear after edges.
	for (;;) {
		if (m->ev_valid) {
			if (n < cap) {
				hw_match_ev *e = &ev[n];
				e->type = m->ev_type;
				e->reason = m->ev_reason;
				e->side = m->ev_side;
				e->pad = 0;
				e->id = m->ev_id;
				e->level = m->ev_price;
				e->qty = m->ev_qty;
				e->leaves = m->ev_leaves;
				e->rid = m->ev_rid;
				e->rleaves = m->ev_rleaves;
			} else {
				rc = -ENOSPC;
			}
			n++;
		}
		m->clk = 0;
		m->eval();
		if (m->in_ready)
			break;
		s->tick();
		cyc++;
		if (cyc > 100000)
			return -ETIMEDOUT; // a hung core; bounded far above any command
	}
	if (cycles)
		*cycles = cyc;
	return rc ? rc : (int)n;
}
