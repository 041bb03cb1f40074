// hw_synth_top.v - a pin-limited wrapper around hw_book for place-and-route reports.
//
// Role: synthesis only (scripts/hw-synth). hw_book's ports (an operation in, 2N levels
// out) exceed a small FPGA's pins, so this wrapper loads the operation through a
// registered 8-bit shift bus and reads results back through a registered, addressed
// 8-bit mux. Every hw_book input and output is registered here, so the timing that
// nextpnr reports is hw_book's own register-to-register paths (the wrapper adds none
// longer). It is not the integration interface (that is a DMA/stream front end).
`default_nettype none

module hw_synth_top #(
	parameter N = 4,
	parameter PW = 32,
	parameter QW = 32
) (
	input wire clk,
	input wire rst,
	input wire [7:0] din,   // shifted into the staged operation each clock
	input wire go,          // issue the staged operation at the next edge
	input wire [7:0] raddr, // which result byte to show on dout
	output reg [7:0] dout
);
	localparam W = 4 + PW + QW; // op, side, price, qty
	localparam RW = 1 + 2 + 4 + 1 + 16 + 2 * N * (1 + PW + QW) + 1;

	reg [W-1:0] stage;
	reg in_valid;
	reg [2:0] in_op;
	reg in_side;
	reg [PW-1:0] in_price;
	reg [QW-1:0] in_qty;
	always @(posedge clk) begin
		stage <= {stage[W-9:0], din};
		in_valid <= go;
		{in_op, in_side, in_price, in_qty} <= stage;
	end

	wire out_valid, out_side, crossed;
	wire [1:0] out_code;
	wire [3:0] out_flags;
	wire [N-1:0] bv, av;
	wire [N*PW-1:0] bp, ap;
	wire [N*QW-1:0] bq, aq;
	wire [7:0] bh, ah;
	hw_book #(.N(N), .PW(PW), .QW(QW)) u_book (
		.clk(clk), .rst(rst), .in_valid(in_valid), .in_op(in_op), .in_side(in_side),
		.in_price(in_price), .in_qty(in_qty), .out_valid(out_valid),
		.out_side(out_side), .out_code(out_code), .out_flags(out_flags),
		.bid_valid(bv), .bid_price(bp), .bid_qty(bq), .ask_valid(av), .ask_price(ap),
		.ask_qty(aq), .bid_holes(bh), .ask_holes(ah), .crossed(crossed));

	reg [RW-1:0] res;
	always @(posedge clk) begin
		res <= {out_valid, out_code, out_flags, out_side, bh, ah, bv, bp, bq, av, ap, aq,
			crossed};
		dout <= res[raddr * 8 +: 8];
	end
endmodule

`default_nettype wire
