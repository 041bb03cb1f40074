// hw_lt.v - unsigned a < b for the level engine's compare stage, as three half-width
// carry chains side by side instead of one full-width chain.
//
// Role: timing. On an iCE40 a 33-bit compare is one carry chain of ~5 ns plus its
// column crossings; the S1 compares of hw_side.v sit on the critical path, so this
// splits them: a < b  =  hi(a) < hi(b)  or  (not hi(b) < hi(a) and lo(a) < lo(b)).
`default_nettype none

module hw_lt #(
	parameter W = 32
) (
	input wire [W-1:0] a,
	input wire [W-1:0] b,
	output wire lt
);
	localparam L = W / 2;
	generate
		if (W < 8) begin : g_small
			assign lt = a < b;
		end else begin : g_split
			wire lt_hi = a[W-1:L] < b[W-1:L];
			wire gt_hi = b[W-1:L] < a[W-1:L];
			wire lt_lo = a[L-1:0] < b[L-1:0];
			assign lt = lt_hi || (!gt_hi && lt_lo);
		end
	endgenerate
endmodule

`default_nettype wire
