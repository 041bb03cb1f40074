// hw_formal.v - formal harness for hw_book: every input free (reset included), small
// parameters (N = 3, 8-bit prices and quantities: quantities saturate and prices
// collide within a few steps; 8 bits is the least width at which hw_lt.v splits its
// compares, so the split is what gets proved). The properties are the `ifdef FORMAL
// assertions in hw_side.v (levels packed, strictly sorted, none empty, ADD never wraps)
// and two here; tests/hw/hw_formal.sh proves them for every reachable state with yosys
// sat -tempinduct (base case from the all-zero state, which is the reset state).
`default_nettype none

module hw_formal (
	input wire clk,
	input wire rst,
	input wire in_valid,
	input wire [2:0] in_op,
	input wire in_side,
	input wire [7:0] in_price,
	input wire [7:0] in_qty
);
	localparam N = 3;
	wire out_valid, out_side, crossed;
	wire [1:0] out_code;
	wire [3:0] out_flags;
	wire [N-1:0] bv, av;
	wire [N*8-1:0] bp, ap, bq, aq;
	wire [7:0] bh, ah;
	hw_book #(.N(N), .PW(8), .QW(8)) dut (
		.clk(clk), .rst(rst), .in_valid(in_valid), .in_op(in_op), .in_side(in_side),
		.in_price(in_price), .in_qty(in_qty), .out_valid(out_valid),
		.out_side(out_side), .out_code(out_code), .out_flags(out_flags),
		.bid_valid(bv), .bid_price(bp), .bid_qty(bq), .ask_valid(av), .ask_price(ap),
		.ask_qty(aq), .bid_holes(bh), .ask_holes(ah), .crossed(crossed));

	// The outputs software reads agree with the table.
	always @* begin
		assert(crossed == (bv[0] && av[0] && bp[7:0] >= ap[7:0]));
		assert(bh <= N && ah <= N);
	end
endmodule

`default_nettype wire
