// hw_book.v - top-N price-level engine for one book: two hw_side tables (bid, ask),
// best-of-book outputs, crossing detection (crossed) and per-operation results.
//
// Role: the hardware offload's book-top mirror. Software owns the full book (the C
// engine, dataplane/match/me_book.h) and sends one level operation per clock; this
// engine keeps the N best levels per side and reports, for each operation, OK / MISS /
// REJECT with flags, and how many holes each side has for software to REFILL. See
// hw_side.v for the operation semantics and docs/HW.md for the integration contract.
//
// Interface: the inputs are sampled at a rising edge (a valid/ready-free, fixed-latency
// pipeline: one operation per clock, always accepted). The operation's result appears
// on out_* two edges later (out_valid high for one clock), and the table outputs show
// the state after that operation in the same clock. The instantiator registers the
// inputs (they feed the S1 comparators directly).
//   in_side: 0 bid, 1 ask (ME_BUY, ME_SELL); CLEAR clears both sides.
//   prices: PW-bit unsigned ticks from a base (software maps price = base + ticks*tick);
//   quantities: QW-bit unsigned, saturating (flag SAT) at 2^QW-1.
//   out_code: 0 OK, 1 MISS, 2 REJECT; out_flags: [0] EVICT [1] SAT [2] UNDER [3] DEL.
`default_nettype none

module hw_book #(
	parameter N = 4,
	parameter PW = 32,
	parameter QW = 32
) (
	input wire clk,
	input wire rst,
	input wire in_valid,
	input wire [2:0] in_op,
	input wire in_side,
	input wire [PW-1:0] in_price,
	input wire [QW-1:0] in_qty,
	output wire out_valid,
	output wire out_side,
	output wire [1:0] out_code,
	output wire [3:0] out_flags,
	output wire [N-1:0] bid_valid,
	output wire [N*PW-1:0] bid_price,
	output wire [N*QW-1:0] bid_qty,
	output wire [N-1:0] ask_valid,
	output wire [N*PW-1:0] ask_price,
	output wire [N*QW-1:0] ask_qty,
	output wire [7:0] bid_holes,
	output wire [7:0] ask_holes,
	output wire crossed
);
	localparam [2:0] OP_CLEAR = 3'd4;

	wire is_clr = in_op == OP_CLEAR;
	wire bv = in_valid && (in_side == 1'b0 || is_clr);
	wire av = in_valid && (in_side == 1'b1 || is_clr);

	wire b_rv, a_rv;
	wire [1:0] b_code, a_code;
	wire [3:0] b_flags, a_flags;

	hw_side #(.N(N), .PW(PW), .QW(QW), .BID(1)) u_bid (
		.clk(clk), .rst(rst), .i_valid(bv), .i_op(in_op), .i_price(in_price),
		.i_qty(in_qty), .lv_valid(bid_valid), .lv_price(bid_price), .lv_qty(bid_qty),
		.r_valid(b_rv), .r_code(b_code), .r_flags(b_flags));
	hw_side #(.N(N), .PW(PW), .QW(QW), .BID(0)) u_ask (
		.clk(clk), .rst(rst), .i_valid(av), .i_op(in_op), .i_price(in_price),
		.i_qty(in_qty), .lv_valid(ask_valid), .lv_price(ask_price), .lv_qty(ask_qty),
		.r_valid(a_rv), .r_code(a_code), .r_flags(a_flags));

	// The side travels beside the operation (a CLEAR reports as the bid side's).
	reg s2_side, r_side;
	always @(posedge clk) begin
		s2_side <= in_side && !is_clr;
		r_side <= s2_side;
	end

	assign out_valid = b_rv || a_rv;
	assign out_side = r_side;
	assign out_code = r_side ? a_code : b_code;
	assign out_flags = r_side ? a_flags : b_flags;

	function [7:0] holes;
		input [N-1:0] vv;
		integer k;
		begin
			holes = 8'd0;
			for (k = 0; k < N; k = k + 1)
				holes = holes + {7'd0, ~vv[k]};
		end
	endfunction
	assign bid_holes = holes(bid_valid);
	assign ask_holes = holes(ask_valid);

	assign crossed = bid_valid[0] && ask_valid[0] && bid_price[PW-1:0] >= ask_price[PW-1:0];
endmodule

`default_nettype wire
