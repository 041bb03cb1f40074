// hw_side.v - one side of the top-N price-level engine (tokex hardware offload).
//
// Role: holds the N best price levels of one side of one book, sorted best first (bids
// descending, asks ascending), and applies one level operation per clock. hw_book.v
// instantiates two of these and routes each operation to its side. Software (the C
// engine's full book) is the reference; this table mirrors its top N levels.
//
// Operations (i_op): 0 NOP, 1 ADD, 2 SUB, 3 REFILL, 4 CLEAR; 5..7 are rejected.
//   ADD    price present: qty += q, saturating at 2^QW-1 (flag SAT). Absent and better
//          than the Nth level, or the table has a free slot: inserted in order; when the
//          table was full the Nth level falls out (flag EVICT). Otherwise MISS, no change.
//   SUB    price present: qty -= q; at or below zero the level is deleted (flag DEL; if q
//          exceeded the level, flag UNDER too), the levels below move up and the last
//          slot becomes a hole that software must REFILL. Absent: MISS, no change.
//   REFILL inserts at the bottom: accepted only into a free slot, at a price worse than
//          every valid level and not present; otherwise REJECT, no change.
//   CLEAR  empties the side.
//   q == 0 on ADD/SUB/REFILL is REJECT, no change (a level never holds 0).
//
// Pipeline (one operation per clock, result two clocks after the inputs are sampled):
//   S1 (combinational from the inputs, registered into s2_*): compares the price with
//      every slot and with the operation now in S2, and the quantity with every slot's
//      (does a SUB delete it?). Because the S2 operation changes the table at the same
//      edge, its per-slot move selects (sel_new/prev/next, and the in-place update) are
//      applied to the compare bits too (forwarding), so s2_bt/s2_eq/s2_le always
//      describe the table as it is when the operation reaches S2: back-to-back
//      operations need no bubble.
//   S2 (registered into the table and r_*): per-slot quantity arithmetic straight from
//      the slot registers, then the shift/insert/delete, whose selects depend only on
//      registered bits (the quantity compare's carry chain stays in S1).
//   Planted bugs for checking the tests: HW_BUG_NOFWD (no forwarding), HW_BUG_NODEL
//   (a level at zero is not deleted).
//
// Invariants (proved by hw/tb/hw_formal.v with yosys sat -tempinduct):
//   1. packed: v[i+1] implies v[i];
//   2. sorted: v[i+1] implies p[i] strictly better than p[i+1];
//   3. no empty level: v[i] implies q[i] != 0;
//   4. no overflow: an ADD never lowers a level's quantity (it saturates instead).
`default_nettype none

module hw_side #(
	parameter N = 4,
	parameter PW = 32,
	parameter QW = 32,
	parameter BID = 1
) (
	input wire clk,
	input wire rst,
	input wire i_valid,
	input wire [2:0] i_op,
	input wire [PW-1:0] i_price,
	input wire [QW-1:0] i_qty,
	output wire [N-1:0] lv_valid,
	output wire [N*PW-1:0] lv_price,
	output wire [N*QW-1:0] lv_qty,
	output reg r_valid,
	output reg [1:0] r_code,
	output wire [3:0] r_flags
);
	localparam [2:0] OP_NOP = 3'd0, OP_ADD = 3'd1, OP_SUB = 3'd2, OP_REFILL = 3'd3,
		OP_CLEAR = 3'd4;
	localparam [1:0] C_OK = 2'd0, C_MISS = 2'd1, C_REJECT = 2'd2;

	// The table.
	reg [N-1:0] v;
	reg [PW-1:0] p [0:N-1];
	reg [QW-1:0] q [0:N-1];

	// Stage-2 registers.
	reg s2_valid;
	reg [2:0] s2_op;
	reg [PW-1:0] s2_price;
	reg [QW-1:0] s2_qty;
	reg s2_qz;
	reg [N-1:0] s2_bt; // the S2 price is strictly better than slot i's
	reg [N-1:0] s2_eq; // ... equal to slot i's
	reg [N-1:0] s2_le; // slot i's quantity <= the S2 quantity (a SUB deletes it)
	reg signed [QW:0] s2_sq; // +qty for an ADD, -qty otherwise (S2 add/sub, S1 forwarding)

	// ---- S2: decode against the current table ----
	wire op_add = s2_valid && s2_op == OP_ADD && !s2_qz;
	wire op_sub = s2_valid && s2_op == OP_SUB && !s2_qz;
	wire op_ref = s2_valid && s2_op == OP_REFILL && !s2_qz;
	wire op_clr = s2_valid && s2_op == OP_CLEAR;
	wire op_bad = s2_valid && (s2_op > OP_CLEAR ||
		(s2_qz && s2_op != OP_NOP && s2_op != OP_CLEAR));

	wire [N-1:0] hit = v & s2_eq;
	wire any_hit = |hit;
	wire [N-1:0] ge = ~v | s2_bt; // belongs at or above slot i (a thermometer code)
	wire ins_add = op_add && !any_hit && ge[N-1];
	wire miss_add = op_add && !any_hit && !ge[N-1];
	wire ref_ok = op_ref && !any_hit && !v[N-1] && !(|(v & s2_bt));
	wire ins = ins_add || ref_ok;

	wire [N-1:0] under;  // SUB: q[i] < s2_qty
	wire [N-1:0] satv;   // ADD: q[i] + s2_qty overflows
	wire [N-1:0] pre;    // a hit at slot i or above
	wire [QW-1:0] newq [0:N-1]; // the slot's quantity after an in-place ADD or SUB
	genvar i;
	generate
		for (i = 0; i < N; i = i + 1) begin : g_arith
			// One chain per slot for both: q + sq, sq = +qty (ADD) or -qty (SUB), in
			// QW+2 signed bits: bit QW set by an ADD is overflow, the sign a SUB's
			// underflow. (A SUB at or below zero deletes the slot; s2_le decides that.)
			wire [QW+1:0] r = {2'b00, q[i]} + {s2_sq[QW], s2_sq};
			assign satv[i] = r[QW];
			assign under[i] = r[QW+1];
			assign newq[i] = r[QW-1:0] | {QW{r[QW] && !r[QW+1]}};
			assign pre[i] = |hit[i:0];
		end
	endgenerate
	wire le_hit = |(hit & s2_le);
	wire del = op_sub && any_hit && le_hit;
	wire miss_sub = op_sub && !any_hit;

	// Per-slot move selects, shared by the table update and the S1 forwarding.
	wire [N-1:0] sel_new, sel_prev, sel_next;
	generate
		for (i = 0; i < N; i = i + 1) begin : g_sel
			if (i == 0) begin : g_s0
				assign sel_new[i] = ins && ge[i];
				assign sel_prev[i] = 1'b0;
			end else begin : g_sn
				assign sel_new[i] = ins && ge[i] && !ge[i-1];
				assign sel_prev[i] = ins && ge[i-1];
			end
`ifdef HW_BUG_NODEL
			assign sel_next[i] = 1'b0; // planted bug: a deleted level stays
`else
			assign sel_next[i] = del && pre[i];
`endif
		end
	endgenerate

	// ---- S1: compare the incoming operation, forwarded through S2's moves ----
	wire [N-1:0] bt1, eq1;
	wire btB, nleB;
	hw_lt #(.W(PW)) u_btB (.a(BID ? s2_price : i_price), .b(BID ? i_price : s2_price),
		.lt(btB));
	wire eqB = i_price == s2_price;
	wire [N-1:0] fbt, feq, fle;
	// Quantity compares (i_qty >= a level's quantity: a SUB would delete it), moved the
	// same way. A level that the S2 operation updates in place (ADD or SUB hit) gets
	// its new quantity only at the edge, so for every slot S1 also decides
	// q + sq <= i_qty in full precision with one carry chain after a carry-save layer:
	// y = q + sq + ~i_qty = q + sq - i_qty - 1 < 0. (An ADD that saturates leaves
	// 2^QW-1, which is <= i_qty only when i_qty is all ones; then every level is, hence
	// the all-ones term.) Per slot rather than muxing the hit slot's quantity first: the
	// mux in front of the chain was the critical path.
	localparam XW = QW + 2;
	localparam XL = XW / 2;
	wire [N-1:0] le1, leU;
	hw_lt #(.W(QW)) u_leB (.a(i_qty), .b(s2_qty), .lt(nleB));
	wire leB = !nleB;
	wire [XW-1:0] xb = {s2_sq[QW], s2_sq};
	wire [XW-1:0] xc = ~{2'b00, i_qty};
	wire q_all1 = &i_qty;
	generate
		for (i = 0; i < N; i = i + 1) begin : g_leu
			wire [XW-1:0] xa = {2'b00, q[i]};
			wire [XW-1:0] xs = xa ^ xb ^ xc;
			wire [XW-1:0] xy = {(xa[XW-2:0] & xb[XW-2:0]) | (xa[XW-2:0] & xc[XW-2:0]) |
				(xb[XW-2:0] & xc[XW-2:0]), 1'b0};
			// Carry-select on the sign: the two halves' chains run side by side.
			wire [XL:0] lo = {1'b0, xs[XL-1:0]} + {1'b0, xy[XL-1:0]};
			wire [XW-XL-1:0] hi0 = xs[XW-1:XL] + xy[XW-1:XL];
			// hi + 1 as one chain: a 1 in both operands' extra low bit carries in.
			/* verilator lint_off UNUSEDSIGNAL */ // hi1w[0] is the carry-in's trace
			wire [XW-XL:0] hi1w = {xs[XW-1:XL], 1'b1} + {xy[XW-1:XL], 1'b1};
			/* verilator lint_on UNUSEDSIGNAL */
			wire [XW-XL-1:0] hi1 = hi1w[XW-XL:1];
			assign leU[i] = (lo[XL] ? hi1[XW-XL-1] : hi0[XW-XL-1]) || q_all1;
		end
	endgenerate
	wire [N-1:0] upd = (op_add || op_sub) ? hit : {N{1'b0}};
	generate
		for (i = 0; i < N; i = i + 1) begin : g_cmp
			wire nle;
			hw_lt #(.W(PW)) u_bt (.a(BID ? p[i] : i_price), .b(BID ? i_price : p[i]),
				.lt(bt1[i]));
			hw_lt #(.W(QW)) u_le (.a(i_qty), .b(q[i]), .lt(nle));
			assign eq1[i] = i_price == p[i];
			assign le1[i] = !nle;
`ifdef HW_BUG_NOFWD
			assign fbt[i] = bt1[i]; // planted bug: compares go stale
			assign feq[i] = eq1[i];
			assign fle[i] = le1[i];
`else
			if (N == 1) begin : g_f1
				assign fbt[i] = sel_next[i] ? 1'b0 : sel_new[i] ? btB : bt1[i];
				assign feq[i] = sel_next[i] ? 1'b0 : sel_new[i] ? eqB : eq1[i];
				assign fle[i] = sel_next[i] ? 1'b0 : sel_new[i] ? leB :
					upd[i] ? leU[i] : le1[i];
			end else if (i == N - 1) begin : g_fl
				assign fbt[i] = sel_next[i] ? 1'b0 : sel_new[i] ? btB :
					sel_prev[i] ? bt1[i-1] : bt1[i];
				assign feq[i] = sel_next[i] ? 1'b0 : sel_new[i] ? eqB :
					sel_prev[i] ? eq1[i-1] : eq1[i];
				assign fle[i] = sel_next[i] ? 1'b0 : sel_new[i] ? leB :
					sel_prev[i] ? le1[i-1] : upd[i] ? leU[i] : le1[i];
			end else if (i == 0) begin : g_f0
				assign fbt[i] = sel_next[i] ? bt1[i+1] : sel_new[i] ? btB : bt1[i];
				assign feq[i] = sel_next[i] ? eq1[i+1] : sel_new[i] ? eqB : eq1[i];
				assign fle[i] = sel_next[i] ? le1[i+1] : sel_new[i] ? leB :
					upd[i] ? leU[i] : le1[i];
			end else begin : g_fm
				assign fbt[i] = sel_next[i] ? bt1[i+1] : sel_new[i] ? btB :
					sel_prev[i] ? bt1[i-1] : bt1[i];
				assign feq[i] = sel_next[i] ? eq1[i+1] : sel_new[i] ? eqB :
					sel_prev[i] ? eq1[i-1] : eq1[i];
				assign fle[i] = sel_next[i] ? le1[i+1] : sel_new[i] ? leB :
					sel_prev[i] ? le1[i-1] : upd[i] ? leU[i] : le1[i];
			end
`endif
		end
	endgenerate

	always @(posedge clk) begin
		if (rst) begin
			s2_valid <= 1'b0;
		end else begin
			s2_valid <= i_valid;
		end
		s2_op <= i_op;
		s2_price <= i_price;
		s2_qty <= i_qty;
		s2_qz <= i_qty == {QW{1'b0}};
		s2_bt <= fbt;
		s2_eq <= feq;
		s2_le <= fle;
		s2_sq <= (i_op == OP_ADD) ? {1'b0, i_qty} : -{1'b0, i_qty};
	end

	// ---- the table update ----
	generate
		for (i = 0; i < N; i = i + 1) begin : g_slot
			// Neighbours (a slot's own value at the ends, where no move reads them).
			localparam UP = (i == 0) ? 0 : i - 1;
			localparam DN = (i == N - 1) ? i : i + 1;
			wire [PW-1:0] p_up = p[UP];
			wire [QW-1:0] q_up = q[UP];
			wire v_up = v[UP];
			wire [PW-1:0] p_dn = p[DN];
			wire [QW-1:0] q_dn = q[DN];
			wire v_dn = (i == N - 1) ? 1'b0 : v[DN];
			// Everything but the delete, which waits on the quantity compare.
			wire [PW-1:0] p_o = sel_prev[i] ? p_up : sel_new[i] ? s2_price : p[i];
			wire [QW-1:0] q_o = sel_prev[i] ? q_up : sel_new[i] ? s2_qty :
				upd[i] ? newq[i] : q[i];
			wire v_o = sel_prev[i] ? v_up : sel_new[i] ? 1'b1 : v[i];
			always @(posedge clk) begin
				if (rst || op_clr) begin
					v[i] <= 1'b0;
				end else begin
					v[i] <= sel_next[i] ? v_dn : v_o;
				end
				p[i] <= sel_next[i] ? p_dn : p_o;
				q[i] <= sel_next[i] ? q_dn : q_o;
			end
			assign lv_valid[i] = v[i];
			assign lv_price[i*PW +: PW] = p[i];
			assign lv_qty[i*QW +: QW] = q[i];
		end
	endgenerate

	// ---- the result ----
	reg r_del, r_evict;
	reg [N-1:0] r_under, r_sat;
	always @(posedge clk) begin
		if (rst) begin
			r_valid <= 1'b0;
		end else begin
			r_valid <= s2_valid;
		end
		r_code <= (op_bad || (op_ref && !ref_ok)) ? C_REJECT :
			(miss_add || miss_sub) ? C_MISS : C_OK;
		r_del <= del;
		r_evict <= ins_add && v[N-1];
		// Per slot, one LUT after the quantity chains; OR-ed after the register.
		r_under <= (op_sub ? hit : {N{1'b0}}) & under;
		r_sat <= (op_add ? hit : {N{1'b0}}) & satv;
	end
	// flags: [0] EVICT [1] SAT [2] UNDER [3] DEL
	assign r_flags = {r_del, |r_under, |r_sat, r_evict};

`ifdef FORMAL
	// The invariants of the header, checked on every reachable state.
	integer k;
	always @* begin
		for (k = 0; k + 1 < N; k = k + 1) begin
			if (v[k+1]) begin
				assert(v[k]);
				assert(BID ? (p[k] > p[k+1]) : (p[k] < p[k+1]));
			end
		end
		for (k = 0; k < N; k = k + 1) begin
			if (v[k])
				assert(q[k] != {QW{1'b0}});
			if (op_add && hit[k])
				assert(newq[k] >= q[k] && newq[k] >= s2_qty);
		end
	end
`endif
endmodule

`default_nettype wire
