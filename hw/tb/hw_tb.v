// hw_tb.v - Icarus Verilog smoke test of hw_book (N = 4): twenty operations issued back
// to back (one per clock, so every hazard goes through the S1 forwarding), each result
// and the best of book after it checked against a hand-worked table.
// Prints "N passed, N failed"; tests/hw/hw_icarus.sh runs it.
`default_nettype none

module hw_tb;
	localparam N = 4, PW = 32, QW = 32, NOPS = 20;
	reg clk = 1'b0, rst = 1'b1;
	reg in_valid = 1'b0;
	reg [2:0] in_op = 3'd0;
	reg in_side = 1'b0;
	reg [PW-1:0] in_price = 0;
	reg [QW-1:0] in_qty = 0;
	wire out_valid, out_side, crossed;
	wire [1:0] out_code;
	wire [3:0] out_flags;
	wire [N-1:0] bv, av;
	wire [N*PW-1:0] bp, ap;
	wire [N*QW-1:0] bq, aq;
	wire [7:0] bh, ah;

	hw_book #(.N(N), .PW(PW), .QW(QW)) dut (
		.clk(clk), .rst(rst), .in_valid(in_valid), .in_op(in_op), .in_side(in_side),
		.in_price(in_price), .in_qty(in_qty), .out_valid(out_valid),
		.out_side(out_side), .out_code(out_code), .out_flags(out_flags),
		.bid_valid(bv), .bid_price(bp), .bid_qty(bq), .ask_valid(av), .ask_price(ap),
		.ask_qty(aq), .bid_holes(bh), .ask_holes(ah), .crossed(crossed));

	always #5 clk = ~clk;

	// Operations: op, side, price, qty.
	reg [2:0] t_op [0:NOPS-1];
	reg t_side [0:NOPS-1];
	reg [31:0] t_price [0:NOPS-1], t_qty [0:NOPS-1];
	// Expected: code, flags, best bid price/qty, best ask price/qty (0 = empty), bid
	// holes, crossed.
	reg [1:0] e_code [0:NOPS-1];
	reg [3:0] e_flags [0:NOPS-1];
	reg [31:0] e_bp [0:NOPS-1], e_bq [0:NOPS-1], e_ap [0:NOPS-1], e_aq [0:NOPS-1];
	reg [7:0] e_bh [0:NOPS-1];
	reg e_x [0:NOPS-1];

	task row;
		input integer i;
		input [2:0] op;
		input side;
		input [31:0] price, qty;
		input [1:0] code;
		input [3:0] flags;
		input [31:0] bpx, bqx, apx, aqx;
		input [7:0] bhx;
		input x;
		begin
			t_op[i] = op; t_side[i] = side; t_price[i] = price; t_qty[i] = qty;
			e_code[i] = code; e_flags[i] = flags; e_bp[i] = bpx; e_bq[i] = bqx;
			e_ap[i] = apx; e_aq[i] = aqx; e_bh[i] = bhx; e_x[i] = x;
		end
	endtask

	localparam ADD = 3'd1, SUB = 3'd2, REF = 3'd3, CLR = 3'd4, B = 1'b0, A = 1'b1;
	initial begin
		//      op   sd price qty  code flags bid     ask     holes cross
		row( 0, ADD, B, 100,  5,   0, 4'h0, 100, 5,   0, 0,   3, 0);
		row( 1, ADD, B, 102,  3,   0, 4'h0, 102, 3,   0, 0,   2, 0);
		row( 2, ADD, B, 101,  4,   0, 4'h0, 102, 3,   0, 0,   1, 0);
		row( 3, ADD, B, 102,  2,   0, 4'h0, 102, 5,   0, 0,   1, 0);
		row( 4, ADD, B,  99,  1,   0, 4'h0, 102, 5,   0, 0,   0, 0);
		row( 5, ADD, B,  98,  1,   1, 4'h0, 102, 5,   0, 0,   0, 0); // MISS
		row( 6, ADD, B, 103,  7,   0, 4'h1, 103, 7,   0, 0,   0, 0); // EVICT 99
		row( 7, SUB, B, 103,  7,   0, 4'h8, 102, 5,   0, 0,   1, 0); // DEL
		row( 8, REF, B,  99,  1,   0, 4'h0, 102, 5,   0, 0,   0, 0);
		row( 9, SUB, B,  99,  2,   0, 4'hc, 102, 5,   0, 0,   1, 0); // DEL UNDER
		row(10, REF, B, 101,  1,   2, 4'h0, 102, 5,   0, 0,   1, 0); // present
		row(11, ADD, A, 105, 10,   0, 4'h0, 102, 5, 105, 10,  1, 0);
		row(12, ADD, A, 104,  1,   0, 4'h0, 102, 5, 104, 1,   1, 0);
		row(13, SUB, A, 104,  1,   0, 4'h8, 102, 5, 105, 10,  1, 0);
		row(14, ADD, B, 105,  1,   0, 4'h0, 105, 1, 105, 10,  0, 1); // crossed
		row(15, SUB, B, 105,  1,   0, 4'h8, 102, 5, 105, 10,  1, 0);
		row(16, ADD, B,  50,  0,   2, 4'h0, 102, 5, 105, 10,  1, 0); // qty 0
		row(17, CLR, B,   0,  0,   0, 4'h0,   0, 0,   0, 0,   4, 0);
		row(18, ADD, A,   7,  1,   0, 4'h0,   0, 0,   7, 1,   4, 0);
		row(19, SUB, A,   7,  1,   0, 4'h8,   0, 0,   0, 0,   4, 0);
	end

	integer issued = 0, seen = 0, passed = 0, failed = 0;
	wire [31:0] g_bp = bv[0] ? bp[31:0] : 32'd0, g_bq = bv[0] ? bq[31:0] : 32'd0;
	wire [31:0] g_ap = av[0] ? ap[31:0] : 32'd0, g_aq = av[0] ? aq[31:0] : 32'd0;

	// Checked mid-cycle, when the result and the table have settled.
	always @(negedge clk) begin
		if (out_valid) begin
			if (out_code === e_code[seen] && out_flags === e_flags[seen] &&
			    g_bp === e_bp[seen] && g_bq === e_bq[seen] && g_ap === e_ap[seen] &&
			    g_aq === e_aq[seen] && bh === e_bh[seen] && crossed === e_x[seen]) begin
				passed = passed + 1;
			end else begin
				failed = failed + 1;
				$display("op %0d: code %0d flags %h bid %0d x %0d ask %0d x %0d holes %0d cross %0d; want %0d %h %0d x %0d %0d x %0d %0d %0d",
					seen, out_code, out_flags, g_bp, g_bq, g_ap, g_aq, bh, crossed,
					e_code[seen], e_flags[seen], e_bp[seen], e_bq[seen], e_ap[seen],
					e_aq[seen], e_bh[seen], e_x[seen]);
			end
			seen = seen + 1;
		end
	end

	initial begin
		@(negedge clk);
		@(negedge clk);
		rst = 1'b0;
		for (issued = 0; issued < NOPS; issued = issued + 1) begin
			in_valid = 1'b1;
			in_op = t_op[issued];
			in_side = t_side[issued];
			in_price = t_price[issued];
			in_qty = t_qty[issued];
			@(negedge clk);
		end
		in_valid = 1'b0;
		repeat (4) @(negedge clk);
		if (seen != NOPS)
			failed = failed + (NOPS - seen);
		$display("hw_tb: %0d passed, %0d failed", passed, failed);
		$finish;
	end
endmodule

`default_nettype wire
