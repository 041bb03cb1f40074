/*
 * ho_internal.h - inside tokex_offload: one channel (a pair of rings and the device
 * behind them), and the backends' entry points. Not installed; tkx_off users include
 * <tokex/offload.h> only.
 *
 * A channel is the host end of rule 1-3 of offload.h plus, for the sw and sim backends,
 * the device end run on the host ("emulated device"): ho_emu_kick() is what the
 * silicon does when a doorbell register is written - consume posted commands while the
 * event ring has room, apply each to the level table (exec), write the event, phase
 * byte last. The fpga backend has no exec: its kick is nothing, the register stores are
 * the doorbell.
 */
#ifndef TOKEX_HO_INTERNAL_H
#define TOKEX_HO_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <tokex/offload.h>

struct ho_chan;

/* Applies one valid-sequence command to the device's tables and fills the event's
 * flags, counts, trunc bits and top of book (the caller fills seq, op, side, book). */
typedef void (*ho_exec_fn)(void *dev, const struct tkx_off_cmd *c, struct tkx_off_ev *e);

struct ho_chan {
	/* host end */
	struct tkx_off_cmd *cmd;    /* ring_size records (mmap: page aligned, DMA-mappable) */
	struct tkx_off_ev *ev;
	uint32_t size;
	uint32_t mask;
	uint32_t cmd_tail;          /* next seq to post */
	uint32_t ev_head;           /* next event to read; == seq of the oldest in flight */
	struct tkx_off_regs *regs;  /* &local_regs, or BAR0 */
	struct tkx_off_regs local_regs;

	/* the device */
	uint32_t target;            /* TKX_OFF_SW, SIM or FPGA */
	void *dev;
	ho_exec_fn exec;            /* NULL: a real device (fpga) */
	void (*dev_close)(void *dev);
	uint32_t dev_cmd_head;      /* emulated device's state */
	uint32_t dev_ev_tail;
};

/* The emulated device's doorbell handler. */
void ho_emu_kick(struct ho_chan *ch);

/* sw: the C model of the level table. */
void *ho_sw_open(uint32_t n_levels, uint32_t n_books);
void ho_sw_close(void *dev);
void ho_sw_exec(void *dev, const struct tkx_off_cmd *c, struct tkx_off_ev *e);

/* sim: the RTL's Verilator model (ENOTSUP when not built). 0 or -errno, message in err. */
int ho_sim_open(struct ho_chan *ch, uint32_t n_levels, uint32_t n_books, char *err,
		size_t errlen);

/* fpga: VFIO. 0 or -errno, message in err. */
int ho_fpga_open(struct ho_chan *ch, const char *group, uint32_t n_levels, uint32_t n_books,
		 char *err, size_t errlen);

#endif /* TOKEX_HO_INTERNAL_H */
